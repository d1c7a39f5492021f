#pragma once
// SimpleRNNCell: Keras' keras.layers.SimpleRNNCell, one step of SimpleRNN
// (simple_rnn.hpp), with the same weight names, defaults and options.
//
// Dimension letters: B batch, F input features, U units.
//
//   input   x_t      [B, F]
//   state   h        [B, U]
//   kernel           [F, U]    kernel_initializer (glorot_uniform)
//   recurrent_kernel [U, U]    recurrent_initializer (orthogonal)
//   bias             [U]       bias_initializer (zeros), only with use_bias
//
//   h' = activation((x_t ⊙ d_x) · kernel + (h ⊙ d_h) · recurrent_kernel + bias)   [B, U]
//
// d_x [B, F] and d_h [B, U] are inverted-dropout masks, applied only in
// training. As Keras' DropoutRNNCell, the cell draws each mask once and
// reuses it at every later step until reset_dropout_mask() /
// reset_recurrent_dropout_mask() (call them between sequences); a step
// whose batch size differs from the kept mask's draws a new one.
//
//   nn::SimpleRNNCell<float> cell(nn::SimpleRNNCellOptions(4));
//   Variable<float> h = cell.get_initial_state(B);
//   for (std::size_t t = 0; t < T; ++t) h = cell(select(x, 1, t), h);

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "xgrad/nn/activation.hpp"
#include "xgrad/nn/constraints.hpp"
#include "xgrad/nn/initializers.hpp"
#include "xgrad/nn/layer_weights.hpp"
#include "xgrad/nn/options.hpp"
#include "xgrad/nn/recurrent_cell.hpp"
#include "xgrad/nn/regularizers.hpp"

namespace xgrad::nn {

struct SimpleRNNCellOptions {
  explicit SimpleRNNCellOptions(std::size_t units) : units_(units) {}

  XGRAD_ARG(std::size_t, units);                                        // required, > 0
  XGRAD_ARG(Activation, activation) = Activation::tanh;                 // Keras: "tanh"
  XGRAD_ARG(bool, use_bias) = true;                                     // Keras: True
  // kernel_initializer (Keras: "glorot_uniform"), recurrent_initializer
  // ("orthogonal"), bias_initializer ("zeros"); the *_regularizer and
  // *_constraint of each (Keras: None). By value or by Keras name.
  XGRAD_WEIGHT_ARGS(SimpleRNNCellOptions, kernel, init::glorot_uniform());
  XGRAD_WEIGHT_ARGS(SimpleRNNCellOptions, recurrent, init::orthogonal());
  XGRAD_WEIGHT_ARGS(SimpleRNNCellOptions, bias, init::zeros());
  XGRAD_ARG(double, dropout) = 0.0;                                     // Keras: 0.0; in [0, 1)
  XGRAD_ARG(double, recurrent_dropout) = 0.0;                           // Keras: 0.0; in [0, 1)
  XGRAD_ARG(std::optional<std::uint64_t>, seed);                        // Keras: None (global generator)
  XGRAD_ARG(std::string, name) = "simple_rnn_cell";                     // Keras' default name

 public:
  // By Keras name, as SimpleRNNOptions.
  SimpleRNNCellOptions& activation(const std::string& name) {
    return activation(activation_from_name(name));
  }
};

// The weights, dropout masks and checks come from RecurrentCell, forward
// (x_t, h) -> h' and get_initial_state(B) from OneStateCell
// (recurrent_cell.hpp).
template <typename T = float>
class SimpleRNNCell : public OneStateCell<T> {
 public:
  // Throws std::invalid_argument naming the cell for units 0 or a dropout
  // rate outside [0, 1).
  explicit SimpleRNNCell(SimpleRNNCellOptions options);

  const SimpleRNNCellOptions& options() const { return options_; }

 private:
  SimpleRNNCellOptions options_;
};

extern template class SimpleRNNCell<float>;
extern template class SimpleRNNCell<double>;

}  // namespace xgrad::nn
