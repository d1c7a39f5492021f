#pragma once
// SimpleRNN: Keras' keras.layers.SimpleRNN, with its names, defaults, call
// options and numbers. A recurrent layer (recurrent.hpp) whose cell is
//
//   h_t = activation((x_t ⊙ d_x) · kernel + (h_{t−1} ⊙ d_h) · recurrent_kernel + bias)
//
// Dimension letters: B batch, T timesteps, F input features, U units.
//
//   input   x        [B, T, F]
//   kernel           [F, U]    kernel_initializer (glorot_uniform)
//   recurrent_kernel [U, U]    recurrent_initializer (orthogonal)
//   bias             [U]       bias_initializer (zeros), only with use_bias
//   output  [B, T, U] (h_1 .. h_T) with return_sequences, else [B, U] (h_T)
//   state   h_T [B, U] (forward_with_state)
//
// Calls, masks, dropout, go_backwards, stateful: recurrent.hpp.
//
//   nn::SimpleRNN rnn(nn::SimpleRNNOptions(2).return_sequences(true));
//   Variable<float> y = rnn(x);

#include <cstddef>
#include <optional>

#include "xgrad/nn/recurrent.hpp"

namespace xgrad::nn {

template <typename T>
class SimpleRNN;

// units (required) and every RecurrentOptions option, with Keras' defaults;
// the layer's default name is "simple_rnn".
struct SimpleRNNOptions : RecurrentOptionsFor<SimpleRNNOptions> {
  explicit SimpleRNNOptions(std::size_t units) : RecurrentOptionsFor(units, "simple_rnn") {}
  template <typename T>
  using Layer = SimpleRNN<T>;
};

// SimpleRNN's earlier names for the call and the result.
template <typename T = float>
using SimpleRNNCall = RecurrentCall<T>;
template <typename T = float>
using SimpleRNNOutput = RecurrentOutput<T>;

template <typename T = float>
class SimpleRNN : public RecurrentLayer<T> {
 public:
  // Throws std::invalid_argument naming the layer for units 0 or a dropout
  // rate outside [0, 1).
  explicit SimpleRNN(SimpleRNNOptions options);

  const SimpleRNNOptions& options() const override { return options_; }
  const char* keras_class() const override { return "simple_rnn"; }
  const char* keras_cell_class() const override { return "simple_rnn_cell"; }

  // The kept state h [B, U] of a stateful layer; nullopt before its first
  // call (or reset_state(states)) and for a layer that is not stateful.
  std::optional<Array<T>> state() const {
    return this->states().empty() ? std::nullopt : std::optional<Array<T>>(this->states()[0]);
  }

 private:
  SimpleRNNOptions options_;
};

extern template class SimpleRNN<float>;
extern template class SimpleRNN<double>;

}  // namespace xgrad::nn
