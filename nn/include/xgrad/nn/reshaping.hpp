#pragma once
// Keras' reshaping layers: keras.layers.RepeatVector, Flatten and Reshape.
//
// Dimension letters: B batch, T timesteps, F features.
//
//   RepeatVector(n)  x [B, F] -> [B, n, F], each sample's vector repeated at
//                    n steps: the bridge of a sequence-to-sequence model from
//                    an encoder's last state to a decoder's input sequence.
//                    Its gradient is the sum over the n steps.
//   Flatten          x [B, d1, d2, ...] -> [B, d1 · d2 · ...] ([B] -> [B, 1]),
//                    Keras' default data_format.
//   Reshape(shape)   x [B, ...] -> [B, shape...], one entry of shape may be
//                    -1 (inferred from the rest, as Keras').
//
// None has weights, nor takes a mask: a Sequential's mask ends there.
// A bad input shape throws std::invalid_argument naming the layer and it.

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

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

struct ReshapeOptions {
  explicit ReshapeOptions(std::vector<std::ptrdiff_t> target_shape) : target_shape_(std::move(target_shape)) {}

  XGRAD_ARG(std::vector<std::ptrdiff_t>, target_shape);  // required: entries > 0, at most one -1
  XGRAD_ARG(std::string, name) = "reshape";              // Keras' default layer name
};

template <typename T = float>
class Reshape : public Module<T> {
 public:
  // Throws std::invalid_argument for an entry that is 0 or below -1, or a
  // second -1.
  explicit Reshape(ReshapeOptions options);

  // x [B, ...] -> [B, target_shape...]; throws std::invalid_argument naming
  // both shapes when the sizes do not match.
  Variable<T> forward(const Variable<T>& x);
  Variable<T> operator()(const Variable<T>& x) { return forward(x); }

  const ReshapeOptions& options() const { return options_; }

 private:
  ReshapeOptions options_;
};

extern template class RepeatVector<float>;
extern template class RepeatVector<double>;
extern template class Flatten<float>;
extern template class Flatten<double>;
extern template class Reshape<float>;
extern template class Reshape<double>;

}  // namespace xgrad::nn
