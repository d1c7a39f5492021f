#pragma once
// SimpleRNN: Keras' keras.layers.SimpleRNN, with its names, defaults, call
// options and numbers.
//
// Dimension letters: B batch, T timesteps, F input features, U units.
//
//   input   x        [B, T, F]
//   kernel           [F, U]    kernel_initializer (glorot_uniform)
//   recurrent_kernel [U, U]    recurrent_initializer (orthogonal)
//   bias             [U]       bias_initializer (zeros), only with use_bias
//
//   h_0 = initial_state [B, U] (zeros without one; the kept state if stateful)
//   h_t = activation((x_t ⊙ d_x) · kernel + (h_{t−1} ⊙ d_h) · recurrent_kernel + bias)
//
//   output  [B, T, U] (h_1 .. h_T) with return_sequences, else [B, U] (h_T).
//   state   h_T [B, U] (forward_with_state).
//
// d_x [B, F] and d_h [B, U] are inverted-dropout masks (entries 0 or
// 1 / (1 − rate)) drawn once per call and reused at every timestep, as
// Keras' DropoutRNNCell; both are 1 outside training.
//
// Mask (Keras' RNN with zero_output_for_mask false, TensorFlow's and the
// unrolled loop's numbers): mask [B, T] of bools; at a masked step of row b
// the state is kept (h_t = h_{t−1}) and the output repeats the previous
// output, zeros before the first unmasked step. With zero_output_for_mask
// the outputs of masked steps are zeros instead (for return_sequences false
// too: the output is then 0 if the last step is masked). The state is
// always the last kept one. (Keras' jax and numpy backends, when not
// unrolled, output h_0 rather than zeros before the first unmasked step;
// the two agree for the default h_0 = 0.)
//
// go_backwards processes t = T .. 1 and returns the outputs in that
// (reversed) order, as Keras; the mask is read at the timestep processed.
//
// stateful: the final state h_T of sample i is kept (a copy, outside the
// graph: no gradient flows from one call into the previous one) and is h_0
// of sample i in the next call without an initial_state. The batch size is
// fixed by the first call; reset_state() sets the kept state to zeros.
//
// Regularizers and constraints reach training through Module's losses() /
// regularization_loss() and apply_constraints() (module.hpp).
//
// The whole sequence is one graph node with a hand-written backward through
// time (simple_rnn_sequence.hpp); forward_composed builds the same function
// from primitive ops and is its reference in the tests. The layer builds on
// its first call, or explicitly with build({-1, -1, F}) as Keras'
// build(input_shape=(None, None, F)).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <xtensor/xarray.hpp>

#include "xgrad/nn/activation.hpp"
#include "xgrad/nn/constraints.hpp"
#include "xgrad/nn/initializers.hpp"
#include "xgrad/nn/layer_weights.hpp"
#include "xgrad/nn/options.hpp"
#include "xgrad/nn/regularizers.hpp"
#include "xgrad/nn/simple_rnn_sequence.hpp"

namespace xgrad::nn {

struct SimpleRNNOptions {
  explicit SimpleRNNOptions(std::size_t units) : units_(units) {}

  XGRAD_ARG(std::size_t, units);                                        // required, > 0
  XGRAD_ARG(Activation, activation) = Activation::tanh;                 // Keras: "tanh"
  XGRAD_ARG(bool, use_bias) = true;                                     // Keras: True
  // kernel_initializer (Keras: "glorot_uniform"), recurrent_initializer
  // ("orthogonal"), bias_initializer ("zeros"); the *_regularizer and
  // *_constraint of each (Keras: None). By value or by Keras name
  // (initializer_from_name, regularizer_from_name, constraint_from_name):
  // kernel_initializer("he_normal"), kernel_regularizer("l2"),
  // kernel_constraint("max_norm"), ...
  XGRAD_WEIGHT_ARGS(SimpleRNNOptions, kernel, init::glorot_uniform());
  XGRAD_WEIGHT_ARGS(SimpleRNNOptions, recurrent, init::orthogonal());
  XGRAD_WEIGHT_ARGS(SimpleRNNOptions, bias, init::zeros());
  // On the layer's output (and its state with return_state, as Keras
  // penalises every tensor the layer returns), once per call.
  XGRAD_ARG(std::optional<Regularizer>, activity_regularizer);          // Keras: None
  // Rates in [0, 1) (Keras clamps to [0, 1]; a rate of 1 would scale by inf).
  XGRAD_ARG(double, dropout) = 0.0;                                     // Keras: 0.0
  XGRAD_ARG(double, recurrent_dropout) = 0.0;                           // Keras: 0.0
  XGRAD_ARG(bool, return_sequences) = false;                            // Keras: False
  XGRAD_ARG(bool, return_state) = false;                                // Keras: False
  XGRAD_ARG(bool, go_backwards) = false;                                // Keras: False
  XGRAD_ARG(bool, stateful) = false;                                    // Keras: False
  // Accepted for Keras' signature; the numbers are the same either way.
  XGRAD_ARG(bool, unroll) = false;                                      // Keras: False
  // Keras' RNN argument (reaching SimpleRNN through **kwargs); Keras'
  // Bidirectional sets it to return_sequences on its copies.
  XGRAD_ARG(bool, zero_output_for_mask) = false;                        // Keras: False
  // The dropout masks' own generator, seeded once at construction; without
  // a seed they come from xgrad's global generator (manual_seed).
  XGRAD_ARG(std::optional<std::uint64_t>, seed);                        // Keras: None
  XGRAD_ARG(std::string, name) = "simple_rnn";                          // Keras' default layer name

 public:
  // By Keras name: activation("relu") ("None" means linear),
  // activity_regularizer("l2").
  SimpleRNNOptions& activation(const std::string& name) {
    return activation(activation_from_name(name));
  }
  SimpleRNNOptions& activity_regularizer(const std::string& name) {
    return activity_regularizer(regularizer_from_name(name));
  }
};

// The options of one call, Keras' call arguments:
//   rnn.forward(x, nn::SimpleRNNCall<float>().initial_state(h0).mask(m).training(false));
template <typename T = float>
struct SimpleRNNCall {
  // h_0 [B, U]; gradients reach it. Default: zeros (or, when stateful, the
  // state kept from the last call).
  XGRAD_ARG(std::optional<Variable<T>>, initial_state);
  // [B, T]: true where a timestep is used, false where it is skipped.
  XGRAD_ARG(std::optional<xt::xarray<bool>>, mask);
  // Dropout applies when the layer is_training() and this is not false.
  XGRAD_ARG(std::optional<bool>, training);
};

// built(), input_features(), kernel(), bias(), weights() (Keras' order:
// kernel, recurrent_kernel[, bias]) and set_weights() (building from the
// kernel's shape if needed, every shape checked first) come from
// LayerWeights (layer_weights.hpp).
template <typename T = float>
class SimpleRNN : public LayerWeights<T> {
 public:
  // Throws std::invalid_argument naming the layer for units 0 or a dropout
  // rate outside [0, 1).
  explicit SimpleRNN(SimpleRNNOptions options);

  // Creates the weights for inputs [B, T, F]: only the last entry (F) is used;
  // B and T may be -1 (None). Throws if F is not positive or the layer was
  // already built for another F.
  void build(const std::vector<std::ptrdiff_t>& input_shape);

  // x [B, T, F] -> [B, T, U] or [B, U]. Builds the layer on first use.
  // Throws std::invalid_argument naming the layer and both shapes for a
  // mask that is not [B, T], an initial state that is not [B, U], or, when
  // stateful, a batch size other than the first call's.
  Variable<T> forward(const Variable<T>& x) { return forward(x, SimpleRNNCall<T>()); }
  Variable<T> forward(const Variable<T>& x, const SimpleRNNCall<T>& call);
  Variable<T> operator()(const Variable<T>& x) { return forward(x); }
  Variable<T> operator()(const Variable<T>& x, const SimpleRNNCall<T>& call) {
    return forward(x, call);
  }
  // The output and the final state h_T [B, U] (Keras' return_state=True),
  // whether or not the return_state option is set.
  SimpleRNNOutput<T> forward_with_state(const Variable<T>& x,
                                        const SimpleRNNCall<T>& call = SimpleRNNCall<T>());

  // The same functions composed of primitive ops (matmul, add, mul, select,
  // the activation, stack): the reference the fused path is tested against.
  Variable<T> forward_composed(const Variable<T>& x,
                               const SimpleRNNCall<T>& call = SimpleRNNCall<T>());
  SimpleRNNOutput<T> forward_composed_with_state(const Variable<T>& x,
                                                 const SimpleRNNCall<T>& call = SimpleRNNCall<T>());

  // Stateful layers: back to zeros (keeping the batch size; nothing to do
  // before the first call, as Keras), or to the given states [B, U], which
  // also fix the batch size if no call has yet. reset_state(states) throws
  // std::logic_error unless stateful, std::invalid_argument for a wrong shape.
  void reset_state();
  void reset_state(const Array<T>& states);
  // The kept state [B, U] of a stateful layer; nullopt before its first call
  // (or reset_state(states)) and for a layer that is not stateful.
  const std::optional<Array<T>>& state() const { return state_; }

  // A handle to the parameter, as kernel(); std::logic_error before build.
  Variable<T> recurrent_kernel() const { return this->weight("recurrent_kernel"); }

  const SimpleRNNOptions& options() const { return options_; }

 private:
  // Builds on first use and checks x's shape; returns (B, T).
  std::pair<std::size_t, std::size_t> prepare_input(const Variable<T>& x);
  // Checks the call against x, draws the dropout masks, runs one path,
  // keeps the state and records the activity penalties.
  SimpleRNNOutput<T> run(const Variable<T>& x, const SimpleRNNCall<T>& call, bool fused,
                         bool want_state);
  SimpleRNNOutput<T> run_composed(const Variable<T>& x, const SimpleRNNSequenceArgs<T>& args,
                                  const std::optional<Array<T>>& input_dropout_mask) const;
  Generator& dropout_generator();

  SimpleRNNOptions options_;
  std::optional<Array<T>> state_;  // stateful only
  Generator own_generator_;        // used only with a seed
};

extern template class SimpleRNN<float>;
extern template class SimpleRNN<double>;

}  // namespace xgrad::nn
