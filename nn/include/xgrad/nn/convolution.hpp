#pragma once
// Conv1D: Keras' keras.layers.Conv1D over the timesteps of a sequence
// (channels_last), the convolution of CNN-RNN sequence models.
//
// Dimension letters: B batch, T timesteps, C input channels (known at the
// first call), F filters, K kernel_size, s strides, d dilation_rate.
//
//   input   x       [B, T, C]
//   kernel          [K, C, F]   kernel_initializer (glorot_uniform)
//   bias            [F]         bias_initializer (zeros), only with use_bias
//
//   y[b, t] = activation(Σ_k x_p[b, t·s + k·d] · kernel[k] + bias)
//
//   output  [B, T', F], x_p the input padded as Keras pads it:
//     "valid"   no padding, T' = ⌊(T − d(K − 1) − 1) / s⌋ + 1 (at least 1:
//               a shorter input throws)
//     "same"    T' = ⌈T / s⌉, zeros split as TensorFlow splits them (the
//               extra one after)
//     "causal"  d(K − 1) zeros before, T' = ⌈T / s⌉: step t sees no later step
//
// Composed of xgrad's ops (a strided slice and a product per kernel tap),
// so every gradient is theirs. strides > 1 together with dilation_rate > 1
// throws, as in Keras. Keras' groups and channels_first are not offered. A
// Sequential's mask ends here.

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "xgrad/nn/activation.hpp"
#include "xgrad/nn/initializers.hpp"
#include "xgrad/nn/layer_weights.hpp"
#include "xgrad/nn/module.hpp"
#include "xgrad/nn/options.hpp"
#include "xgrad/nn/regularizers.hpp"

namespace xgrad::nn {

struct Conv1DOptions {
  Conv1DOptions(std::size_t filters, std::size_t kernel_size) : filters_(filters), kernel_size_(kernel_size) {}

  XGRAD_ARG(std::size_t, filters);                            // required, > 0
  XGRAD_ARG(std::size_t, kernel_size);                        // required, > 0
  XGRAD_ARG(std::size_t, strides) = 1;                        // Keras: 1; > 0
  XGRAD_ARG(std::string, padding) = "valid";                  // Keras: "valid"; or "same", "causal"
  XGRAD_ARG(std::size_t, dilation_rate) = 1;                  // Keras: 1; > 0
  XGRAD_ARG(Activation, activation) = Activation::linear;     // Keras: None
  XGRAD_ARG(bool, use_bias) = true;                           // Keras: True
  XGRAD_WEIGHT_ARGS(Conv1DOptions, kernel, init::glorot_uniform());
  XGRAD_WEIGHT_ARGS(Conv1DOptions, bias, init::zeros());
  XGRAD_ARG(std::optional<Regularizer>, activity_regularizer);  // Keras: None
  XGRAD_ARG(std::string, name) = "conv1d";                    // Keras' default layer name

 public:
  Conv1DOptions& activation(const std::string& name) { return activation(activation_from_name(name)); }
  Conv1DOptions& activity_regularizer(const std::string& name) {
    return activity_regularizer(regularizer_from_name(name));
  }
};

template <typename T = float>
class Conv1D : public Module<T> {
 public:
  // Throws std::invalid_argument for a size that is 0, an unknown padding,
  // or strides and dilation_rate both above 1.
  explicit Conv1D(Conv1DOptions options);

  // Creates kernel [K, C, F] and bias [F] for C input channels; does nothing
  // when built for C, throws for another C or C = 0.
  void build(std::size_t channels);
  bool built() const { return channels_ > 0; }
  std::size_t input_channels() const { return channels_; }

  // x [B, T, C] -> [B, T', F]. Builds the layer on first use. Throws
  // std::invalid_argument naming the layer and the shapes for another rank,
  // another C, or (valid padding) fewer steps than the dilated kernel spans.
  Variable<T> forward(const Variable<T>& x);
  Variable<T> operator()(const Variable<T>& x) { return forward(x); }
  // T' for T input steps, as above.
  std::size_t output_steps(std::size_t steps) const;

  // Handles to the weights; throw std::logic_error before build (bias()
  // also without use_bias).
  Variable<T> kernel() const;
  Variable<T> bias() const;
  // Copies in Keras' order ({kernel, bias}), and back from that order
  // (building from the kernel's shape if needed); every shape is checked
  // before anything changes.
  std::vector<Array<T>> weights() const;
  void set_weights(const std::vector<Array<T>>& weights);

  const Conv1DOptions& options() const { return options_; }

 private:
  std::string describe() const;
  void check_built(const char* what) const;

  Conv1DOptions options_;
  std::size_t channels_ = 0;
  Variable<T> kernel_, bias_;
};

extern template class Conv1D<float>;
extern template class Conv1D<double>;

}  // namespace xgrad::nn
