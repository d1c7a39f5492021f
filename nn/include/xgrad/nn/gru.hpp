#pragma once
// GRU: Keras' keras.layers.GRU, with its names, defaults, call options and
// numbers. A recurrent layer (recurrent.hpp) with one state, h.
//
// Dimension letters: B batch, T timesteps, F input features, U units.
//
//   input   x        [B, T, F]
//   kernel           [F, 3U]   kernel_initializer (glorot_uniform)
//   recurrent_kernel [U, 3U]   recurrent_initializer (orthogonal)
//   bias             [2, 3U] with reset_after (row 0 the input bias, row 1
//                    the recurrent bias), else [3U]; bias_initializer
//                    (zeros), only with use_bias
//
// Gate blocks in Keras' order z, r, h (σ recurrent_activation, φ activation;
// x̃ = x_t ⊙ d_x, h̃ = h_{t−1} ⊙ d_h):
//
//   z = σ(x̃ · kernel_z + h̃ · recurrent_kernel_z + biases_z)
//   r = σ(x̃ · kernel_r + h̃ · recurrent_kernel_r + biases_r)
//   reset_after:  ĥ = φ(x̃ · kernel_h + bias_in,h + r ⊙ (h̃ · recurrent_kernel_h + bias_rec,h))
//   reset_before: ĥ = φ(x̃ · kernel_h + (r ⊙ h̃) · recurrent_kernel_h + bias_h)
//   h_t = z ⊙ h_{t−1} + (1 − z) ⊙ ĥ
//
//   output  [B, T, U] (h_1 .. h_T) with return_sequences, else [B, U] (h_T)
//   state   h_T [B, U] (forward_with_state)
//
// With recurrent_dropout each gate gets its own masks, as Keras
// (recurrent.hpp).
//
//   nn::GRU<float> gru(nn::GRUOptions(32).return_sequences(true));
//   Variable<float> y = gru(x);

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "xgrad/nn/recurrent.hpp"
#include "xgrad/nn/recurrent_cell.hpp"

namespace xgrad::nn {

template <typename T>
class GRU;

struct GRUOptions : RecurrentOptionsFor<GRUOptions> {
  explicit GRUOptions(std::size_t units) : RecurrentOptionsFor(units, "gru") {}
  template <typename T>
  using Layer = GRU<T>;

  XGRAD_ARG(Activation, recurrent_activation) = Activation::sigmoid;  // Keras: "sigmoid"
  // Whether r scales the recurrent product (true, cuDNN's and PyTorch's
  // form) or h_{t−1} before it.
  XGRAD_ARG(bool, reset_after) = true;                                // Keras: True

 public:
  GRUOptions& recurrent_activation(const std::string& name) {
    return recurrent_activation(activation_from_name(name));
  }
};

template <typename T = float>
class GRU : public RecurrentLayer<T> {
 public:
  // Throws std::invalid_argument naming the layer for units 0 or a dropout
  // rate outside [0, 1).
  explicit GRU(GRUOptions options);

  const GRUOptions& options() const override { return options_; }
  const char* keras_class() const override { return "gru"; }
  const char* keras_cell_class() const override { return "gru_cell"; }

 private:
  GRUOptions options_;
};

extern template class GRU<float>;
extern template class GRU<double>;

// GRUCell: Keras' keras.layers.GRUCell, one step of GRU with the same
// weights, gate order and options (dropout masks as RecurrentCell):
//
//   Variable<float> h = cell.get_initial_state(B);
//   for (t ...) h = cell(select(x, 1, t), h);
struct GRUCellOptions {
  explicit GRUCellOptions(std::size_t units) : units_(units) {}

  XGRAD_ARG(std::size_t, units);                                       // required, > 0
  XGRAD_ARG(Activation, activation) = Activation::tanh;                // Keras: "tanh"
  XGRAD_ARG(Activation, recurrent_activation) = Activation::sigmoid;   // Keras: "sigmoid"
  XGRAD_ARG(bool, use_bias) = true;                                    // Keras: True
  XGRAD_WEIGHT_ARGS(GRUCellOptions, kernel, init::glorot_uniform());
  XGRAD_WEIGHT_ARGS(GRUCellOptions, recurrent, init::orthogonal());
  XGRAD_WEIGHT_ARGS(GRUCellOptions, bias, init::zeros());
  XGRAD_ARG(bool, reset_after) = true;                                 // Keras: True
  XGRAD_ARG(double, dropout) = 0.0;                                    // Keras: 0.0; in [0, 1)
  XGRAD_ARG(double, recurrent_dropout) = 0.0;                          // Keras: 0.0; in [0, 1)
  XGRAD_ARG(std::optional<std::uint64_t>, seed);                       // Keras: None (global generator)
  XGRAD_ARG(std::string, name) = "gru_cell";                           // Keras' default name
};

// forward (x_t, h) -> h' and get_initial_state(B) come from OneStateCell.
template <typename T = float>
class GRUCell : public OneStateCell<T> {
 public:
  explicit GRUCell(GRUCellOptions options);

  const GRUCellOptions& options() const { return options_; }

 private:
  GRUCellOptions options_;
};

extern template class GRUCell<float>;
extern template class GRUCell<double>;

}  // namespace xgrad::nn
