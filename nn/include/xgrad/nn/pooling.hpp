#pragma once
// Keras' pooling over a sequence's timesteps: keras.layers.
// GlobalAveragePooling1D and GlobalMaxPooling1D, the usual head of a
// sequence classifier after a recurrent layer with return_sequences, and
// MaxPooling1D and AveragePooling1D, the windows after a Conv1D.
//
// Dimension letters: B batch, T timesteps, F features.
//
//   input   x  [B, T, F]   ([B, F, T] with data_format "channels_first")
//   output     [B, F]      (keepdims: [B, 1, F], or [B, F, 1] channels_first)
//
// GlobalAveragePooling1D: the mean over the timesteps. With a mask [B, T]
// (forward(x, mask), or from a Masking layer or a mask_zero Embedding in a
// Sequential) it is Keras' masked mean, Σ_t m·x / Σ_t m: a sample whose
// every step is masked gives 0/0 = NaN, as in Keras.
// GlobalMaxPooling1D: the largest value over the timesteps (xgrad::max: the
// gradient goes to the largest, split among ties). It takes no mask, as
// Keras' takes none; a Sequential's mask ends there.
//
// MaxPooling1D and AveragePooling1D (channels_last): windows of pool_size
// steps, strides apart (Keras: strides = pool_size), over x [B, T, F]:
//   "valid"  T' = ⌊(T − pool_size) / strides⌋ + 1 (a shorter input throws)
//   "same"   T' = ⌈T / strides⌉, the windows at the edges running past the
//            steps as TensorFlow's do: the largest of the steps inside, or
//            their mean (padding is not counted).
// They take no mask (Keras' take none).
//
// None has weights. A bad input shape or option throws
// std::invalid_argument naming the layer and the shapes.

#include <cstddef>
#include <optional>
#include <string>
#include <utility>

#include <xtensor/xarray.hpp>

#include "xgrad/nn/module.hpp"
#include "xgrad/nn/options.hpp"

namespace xgrad::nn {

struct GlobalAveragePooling1DOptions {
  XGRAD_ARG(std::string, data_format) = "channels_last";        // Keras: "channels_last"
  XGRAD_ARG(bool, keepdims) = false;                            // Keras: False
  XGRAD_ARG(std::string, name) = "global_average_pooling1d";    // Keras' default layer name
};

struct GlobalMaxPooling1DOptions {
  XGRAD_ARG(std::string, data_format) = "channels_last";        // Keras: "channels_last"
  XGRAD_ARG(bool, keepdims) = false;                            // Keras: False
  XGRAD_ARG(std::string, name) = "global_max_pooling1d";        // Keras' default layer name
};

template <typename T = float>
class GlobalAveragePooling1D : public Module<T> {
 public:
  explicit GlobalAveragePooling1D(GlobalAveragePooling1DOptions options = GlobalAveragePooling1DOptions());

  Variable<T> forward(const Variable<T>& x) { return forward(x, std::nullopt); }
  // With Keras' mask [B, T] (true: the step counts); nullopt for none.
  Variable<T> forward(const Variable<T>& x, const std::optional<xt::xarray<bool>>& mask);
  Variable<T> operator()(const Variable<T>& x) { return forward(x); }

  const GlobalAveragePooling1DOptions& options() const { return options_; }

 private:
  GlobalAveragePooling1DOptions options_;
};

template <typename T = float>
class GlobalMaxPooling1D : public Module<T> {
 public:
  explicit GlobalMaxPooling1D(GlobalMaxPooling1DOptions options = GlobalMaxPooling1DOptions());

  Variable<T> forward(const Variable<T>& x);
  Variable<T> operator()(const Variable<T>& x) { return forward(x); }

  const GlobalMaxPooling1DOptions& options() const { return options_; }

 private:
  GlobalMaxPooling1DOptions options_;
};

struct Pooling1DOptions {
  XGRAD_ARG(std::size_t, pool_size) = 2;              // Keras: 2; > 0
  XGRAD_ARG(std::optional<std::size_t>, strides);     // Keras: None (pool_size); > 0
  XGRAD_ARG(std::string, padding) = "valid";          // Keras: "valid"; or "same"
  XGRAD_ARG(std::string, name);                       // empty: Keras' default, "max_pooling1d" / "average_pooling1d"
};

// The windows of MaxPooling1D and AveragePooling1D, told apart by `reduce`.
template <typename T>
class Pooling1D : public Module<T> {
 public:
  Variable<T> forward(const Variable<T>& x);
  Variable<T> operator()(const Variable<T>& x) { return forward(x); }
  // T' for T input steps, as above.
  std::size_t output_steps(std::size_t steps) const;

  const Pooling1DOptions& options() const { return options_; }

 protected:
  enum class Reduce { max, average };
  // Throws for a size of 0 or an unknown padding.
  Pooling1D(Pooling1DOptions options, Reduce reduce, const std::string& kind, const std::string& default_name);

 private:
  std::size_t stride() const { return options_.strides().value_or(options_.pool_size()); }
  std::string describe() const;

  Pooling1DOptions options_;
  Reduce reduce_;
  std::string kind_;
};

template <typename T = float>
class MaxPooling1D : public Pooling1D<T> {
 public:
  explicit MaxPooling1D(Pooling1DOptions options = Pooling1DOptions())
      : Pooling1D<T>(std::move(options), Pooling1D<T>::Reduce::max, "MaxPooling1D", "max_pooling1d") {}
};

template <typename T = float>
class AveragePooling1D : public Pooling1D<T> {
 public:
  explicit AveragePooling1D(Pooling1DOptions options = Pooling1DOptions())
      : Pooling1D<T>(std::move(options), Pooling1D<T>::Reduce::average, "AveragePooling1D", "average_pooling1d") {}
};

extern template class Pooling1D<float>;
extern template class Pooling1D<double>;
extern template class GlobalAveragePooling1D<float>;
extern template class GlobalAveragePooling1D<double>;
extern template class GlobalMaxPooling1D<float>;
extern template class GlobalMaxPooling1D<double>;

}  // namespace xgrad::nn
