#pragma once
// Keras' reshaping layers: keras.layers.RepeatVector and Flatten.
//
// Dimension letters: B batch, T timesteps, F features.
//
//   RepeatVector(n)  x [B, F] -> [B, n, F], each sample's vector repeated at
//                    n steps: the bridge of a sequence-to-sequence model from
//                    an encoder's last state to a decoder's input sequence.
//                    Its gradient is the sum over the n steps.
//   Flatten          x [B, d1, d2, ...] -> [B, d1 · d2 · ...] ([B] -> [B, 1]),
//                    Keras' default data_format.
//
// Neither has weights, nor takes a mask: a Sequential's mask ends there.
// A bad input shape throws std::invalid_argument naming the layer and it.

#include <cstddef>
#include <string>

#include "xgrad/nn/module.hpp"
#include "xgrad/nn/options.hpp"

namespace xgrad::nn {

struct RepeatVectorOptions {
  explicit RepeatVectorOptions(std::size_t n) : n_(n) {}

  XGRAD_ARG(std::size_t, n);                            // required, > 0
  XGRAD_ARG(std::string, name) = "repeat_vector";       // Keras' default layer name
};

template <typename T = float>
class RepeatVector : public Module<T> {
 public:
  // Throws std::invalid_argument for n = 0.
  explicit RepeatVector(RepeatVectorOptions options);

  Variable<T> forward(const Variable<T>& x);
  Variable<T> operator()(const Variable<T>& x) { return forward(x); }

  const RepeatVectorOptions& options() const { return options_; }

 private:
  RepeatVectorOptions options_;
};

struct FlattenOptions {
  XGRAD_ARG(std::string, name) = "flatten";  // Keras' default layer name
};

template <typename T = float>
class Flatten : public Module<T> {
 public:
  explicit Flatten(FlattenOptions options = FlattenOptions());

  Variable<T> forward(const Variable<T>& x);
  Variable<T> operator()(const Variable<T>& x) { return forward(x); }

  const FlattenOptions& options() const { return options_; }

 private:
  FlattenOptions options_;
};

extern template class RepeatVector<float>;
extern template class RepeatVector<double>;
extern template class Flatten<float>;
extern template class Flatten<double>;

}  // namespace xgrad::nn
