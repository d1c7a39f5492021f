#pragma once
// SimpleRNN: Keras' tf.keras.layers.SimpleRNN, with its names, defaults and
// numbers.
//
// Dimension letters: B batch, T timesteps, F input features, U units.
//
//   input   x        [B, T, F]
//   kernel           [F, U]    glorot_uniform
//   recurrent_kernel [U, U]    orthogonal
//   bias             [U]       zeros (only with use_bias)
//
//   h_0 = 0,  h_t = activation(x_t · kernel + h_{t-1} · recurrent_kernel + bias)
//
//   output  [B, T, U] (h_1 .. h_T) with return_sequences, else [B, U] (h_T).
//
// The input projection of all timesteps is one GEMM; each step then adds the
// recurrent product. The layer builds on its first call, or explicitly with
// build({-1, -1, F}) as Keras' build(input_shape=(None, None, F)).

#include <cstddef>
#include <string>
#include <vector>

#include "xgrad/nn/activation.hpp"
#include "xgrad/nn/module.hpp"
#include "xgrad/nn/options.hpp"

namespace xgrad::nn {

struct SimpleRNNOptions {
  explicit SimpleRNNOptions(std::size_t units) : units_(units) {}

  XGRAD_ARG(std::size_t, units);                              // required, > 0
  XGRAD_ARG(Activation, activation) = Activation::tanh;       // Keras: "tanh"
  XGRAD_ARG(bool, use_bias) = true;                           // Keras: True
  XGRAD_ARG(bool, return_sequences) = false;                  // Keras: False
  XGRAD_ARG(std::string, name) = "simple_rnn";                // Keras' default layer name

 public:
  // The activation by its Keras name: "tanh", "relu", "sigmoid", "linear".
  SimpleRNNOptions& activation(const std::string& name) {
    return activation(activation_from_name(name));
  }
};

template <typename T = float>
class SimpleRNN : public Module<T> {
 public:
  explicit SimpleRNN(SimpleRNNOptions options);

  // Creates the weights for inputs [B, T, F]: only the last entry (F) is used;
  // B and T may be -1 (None). Throws if F is not positive or the layer was
  // already built for another F.
  void build(const std::vector<std::ptrdiff_t>& input_shape);
  bool built() const { return features_ > 0; }
  // F, once built.
  std::size_t input_features() const { return features_; }

  // x [B, T, F] -> [B, T, U] or [B, U]. Builds the layer on first use.
  // The whole sequence is one graph node with a hand-written backward
  // through time (simple_rnn_sequence.hpp).
  Variable<T> forward(const Variable<T>& x);
  Variable<T> operator()(const Variable<T>& x) { return forward(x); }
  // The same function composed of primitive ops (matmul, add, select, the
  // activation, stack): the reference the fused path is tested against.
  Variable<T> forward_composed(const Variable<T>& x);

  // The parameters as Variables (handles): read their grad() after backward.
  // Each throws std::logic_error before build; bias() also without use_bias.
  Variable<T> kernel() const;
  Variable<T> recurrent_kernel() const;
  Variable<T> bias() const;

  // Copies of the weights in Keras' order: kernel, recurrent_kernel[, bias].
  std::vector<Array<T>> weights() const;
  // Sets them from the same order (building the layer from the kernel's
  // shape if needed). Every shape is checked before anything changes.
  void set_weights(const std::vector<Array<T>>& weights);

  const SimpleRNNOptions& options() const { return options_; }

 private:
  std::string describe() const;
  // Builds on first use and checks x's shape; returns (B, T).
  std::pair<std::size_t, std::size_t> prepare_input(const Variable<T>& x);
  void check_built(const char* what) const;

  SimpleRNNOptions options_;
  std::size_t features_ = 0;
  Variable<T> kernel_, recurrent_kernel_, bias_;
};

extern template class SimpleRNN<float>;
extern template class SimpleRNN<double>;

}  // namespace xgrad::nn
