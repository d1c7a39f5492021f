#pragma once
// summary: Keras' model.summary() table, as text.
//
//   std::cout << nn::summary(model);
//
//   Model: "sequential"
//   _________________________________________________________________
//    Layer (type)                Output Shape              Param #
//   =================================================================
//    simple_rnn (SimpleRNN)      (None, 32)                1,088
//    dense (Dense)               (None, 1)                 33
//   =================================================================
//   Total params: 1,121 (4.38 KB)
//   Trainable params: 1,121 (4.38 KB)
//   Non-trainable params: 0 (0.00 Byte)
//   _________________________________________________________________
//
// One row per child module (a Sequential's layers, under their paths in
// named_parameters()), or one row for the model itself when it has no
// children. The type is Module::class_name(). Output Shape: for a
// Sequential, each layer's output in the model's last call (Sequential::
// output_shapes: build() or a batch), the batch axis and the axes that
// follow one build() was given as None (Sequential::none_axes) written
// None, as Keras writes them; "?" before the first call and for other modules, whose layers'
// outputs are not recorded. Param # counts each row's parameters; the totals
// count every parameter of the model, with their size in bytes (sizeof(T)
// each; 1 KB = 1024 bytes, as Keras). Every parameter trains (requires a
// gradient), so the non-trainable count is 0.

#include <string>

#include "xgrad/nn/module.hpp"

namespace xgrad::nn {

template <typename T>
std::string summary(const Module<T>& model);

extern template std::string summary(const Module<float>&);
extern template std::string summary(const Module<double>&);

}  // namespace xgrad::nn
