#pragma once
// Keras' global pooling over a sequence's timesteps:
// keras.layers.GlobalAveragePooling1D and GlobalMaxPooling1D, the usual
// head of a sequence classifier after a recurrent layer with
// return_sequences.
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
// Both have no weights. A bad input shape or data_format throws
// std::invalid_argument naming the layer and the shapes.

#include <optional>
#include <string>

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

extern template class GlobalAveragePooling1D<float>;
extern template class GlobalAveragePooling1D<double>;
extern template class GlobalMaxPooling1D<float>;
extern template class GlobalMaxPooling1D<double>;

}  // namespace xgrad::nn
