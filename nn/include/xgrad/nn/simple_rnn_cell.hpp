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

// built(), input_features(), kernel(), bias(), weights() (Keras' order:
// kernel, recurrent_kernel[, bias]) and set_weights() (building from the
// kernel's shape if needed, every shape checked first) come from
// LayerWeights (layer_weights.hpp).
template <typename T = float>
class SimpleRNNCell : public LayerWeights<T> {
 public:
  // Throws std::invalid_argument naming the cell for units 0 or a dropout
  // rate outside [0, 1).
  explicit SimpleRNNCell(SimpleRNNCellOptions options);

  // Creates the weights for steps [B, F]: only F (the last entry) is used; B
  // may be -1. Throws if F is not positive or the cell was built for another F.
  void build(const std::vector<std::ptrdiff_t>& input_shape);

  // (x_t [B, F], h [B, U]) -> h' [B, U], built from primitive ops so every
  // input gets its gradient. Dropout applies when is_training() and
  // `training` is not false. Throws std::invalid_argument naming the cell
  // and the shapes when they do not fit.
  Variable<T> forward(const Variable<T>& x, const Variable<T>& state,
                      std::optional<bool> training = std::nullopt);
  Variable<T> operator()(const Variable<T>& x, const Variable<T>& state,
                         std::optional<bool> training = std::nullopt) {
    return forward(x, state, training);
  }

  // Zeros [B, U], Keras' get_initial_state.
  Variable<T> get_initial_state(std::size_t batch) const;
  // Forget the kept dropout masks: the next training step draws new ones.
  void reset_dropout_mask() { input_mask_.reset(); }
  void reset_recurrent_dropout_mask() { recurrent_mask_.reset(); }

  // A handle to the parameter, as kernel(); std::logic_error before build.
  Variable<T> recurrent_kernel() const { return this->weight("recurrent_kernel"); }

  const SimpleRNNCellOptions& options() const { return options_; }

 private:
  // The kept mask of `shape`, drawn now if there is none of that shape.
  const Array<T>& mask_for(std::optional<Array<T>>& kept, const Shape& shape, double rate);

  SimpleRNNCellOptions options_;
  std::optional<Array<T>> input_mask_, recurrent_mask_;
  Generator own_generator_;  // used only with a seed
};

extern template class SimpleRNNCell<float>;
extern template class SimpleRNNCell<double>;

}  // namespace xgrad::nn
