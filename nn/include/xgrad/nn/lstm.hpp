#pragma once
// LSTM: Keras' keras.layers.LSTM, with its names, defaults, call options and
// numbers. A recurrent layer (recurrent.hpp) with two states, h and c.
//
// Dimension letters: B batch, T timesteps, F input features, U units.
//
//   input   x        [B, T, F]
//   kernel           [F, 4U]   kernel_initializer (glorot_uniform)
//   recurrent_kernel [U, 4U]   recurrent_initializer (orthogonal)
//   bias             [4U]      bias_initializer (zeros; with unit_forget_bias
//                              the forget block is ones), only with use_bias
//
// Gate blocks in Keras' order i, f, c, o (σ recurrent_activation, φ activation):
//
//   z   = (x_t ⊙ d_x) · kernel + (h_{t−1} ⊙ d_h) · recurrent_kernel + bias
//   i, f, g, o = σ(z_i), σ(z_f), φ(z_c), σ(z_o)
//   c_t = f ⊙ c_{t−1} + i ⊙ g
//   h_t = o ⊙ φ(c_t)
//
//   output  [B, T, U] (h_1 .. h_T) with return_sequences, else [B, U] (h_T)
//   states  [h_T, c_T], each [B, U] (forward_with_state); initial_state
//           takes the list [h_0, c_0]
//
// With recurrent_dropout each gate gets its own masks, as Keras
// (recurrent.hpp).
//
//   nn::LSTM<float> lstm(nn::LSTMOptions(32).return_sequences(true));
//   Variable<float> y = lstm(x);

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "xgrad/nn/recurrent.hpp"
#include "xgrad/nn/recurrent_cell.hpp"

namespace xgrad::nn {

template <typename T>
class LSTM;

struct LSTMOptions : RecurrentOptionsFor<LSTMOptions> {
  explicit LSTMOptions(std::size_t units) : RecurrentOptionsFor(units, "lstm") {}
  template <typename T>
  using Layer = LSTM<T>;

  XGRAD_ARG(Activation, recurrent_activation) = Activation::sigmoid;  // Keras: "sigmoid"
  // The forget gate's bias starts at ones, whatever bias_initializer.
  XGRAD_ARG(bool, unit_forget_bias) = true;                           // Keras: True

 public:
  LSTMOptions& recurrent_activation(const std::string& name) {
    return recurrent_activation(activation_from_name(name));
  }
};

template <typename T = float>
class LSTM : public RecurrentLayer<T> {
 public:
  // Throws std::invalid_argument naming the layer for units 0 or a dropout
  // rate outside [0, 1).
  explicit LSTM(LSTMOptions options);

  const LSTMOptions& options() const override { return options_; }
  const char* keras_class() const override { return "lstm"; }
  const char* keras_cell_class() const override { return "lstm_cell"; }

 private:
  LSTMOptions options_;
};

extern template class LSTM<float>;
extern template class LSTM<double>;

// LSTMCell: Keras' keras.layers.LSTMCell, one step of LSTM with the same
// weights, gate order and options (dropout masks as RecurrentCell):
//
//   auto states = cell.get_initial_state(B);          // {h, c}, zeros [B, U]
//   for (t ...) states = cell(select(x, 1, t), states);  // h = states[0]
struct LSTMCellOptions {
  explicit LSTMCellOptions(std::size_t units) : units_(units) {}

  XGRAD_ARG(std::size_t, units);                                       // required, > 0
  XGRAD_ARG(Activation, activation) = Activation::tanh;                // Keras: "tanh"
  XGRAD_ARG(Activation, recurrent_activation) = Activation::sigmoid;   // Keras: "sigmoid"
  XGRAD_ARG(bool, use_bias) = true;                                    // Keras: True
  XGRAD_WEIGHT_ARGS(LSTMCellOptions, kernel, init::glorot_uniform());
  XGRAD_WEIGHT_ARGS(LSTMCellOptions, recurrent, init::orthogonal());
  XGRAD_WEIGHT_ARGS(LSTMCellOptions, bias, init::zeros());
  XGRAD_ARG(bool, unit_forget_bias) = true;                            // Keras: True
  XGRAD_ARG(double, dropout) = 0.0;                                    // Keras: 0.0; in [0, 1)
  XGRAD_ARG(double, recurrent_dropout) = 0.0;                          // Keras: 0.0; in [0, 1)
  XGRAD_ARG(std::optional<std::uint64_t>, seed);                       // Keras: None (global generator)
  XGRAD_ARG(std::string, name) = "lstm_cell";                          // Keras' default name
};

template <typename T = float>
class LSTMCell : public RecurrentCell<T> {
 public:
  explicit LSTMCell(LSTMCellOptions options);

  // (x_t [B, F], {h, c} [B, U] each) -> {h', c'}. Throws
  // std::invalid_argument naming the cell and the shapes when they do not fit.
  std::vector<Variable<T>> forward(const Variable<T>& x, const std::vector<Variable<T>>& states,
                                   std::optional<bool> training = std::nullopt) {
    return this->step(x, states, training);
  }
  std::vector<Variable<T>> operator()(const Variable<T>& x, const std::vector<Variable<T>>& states,
                                      std::optional<bool> training = std::nullopt) {
    return forward(x, states, training);
  }
  // {zeros [B, U], zeros [B, U]}, Keras' get_initial_state.
  std::vector<Variable<T>> get_initial_state(std::size_t batch) const { return this->initial_states(batch); }

  const LSTMCellOptions& options() const { return options_; }

 private:
  LSTMCellOptions options_;
};

extern template class LSTMCell<float>;
extern template class LSTMCell<double>;

}  // namespace xgrad::nn
