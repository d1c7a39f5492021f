#pragma once
// The recurrent layer base: what SimpleRNN, LSTM and GRU share, Keras' RNN
// layer around a cell. A layer (simple_rnn.hpp, lstm.hpp, gru.hpp) supplies
// its cell's maths (CellSpec) and weight shapes; the base holds the call
// logic: input, mask and state checks, the dropout masks, stateful state and
// reset_state, activity penalties, and the fused and composed paths.
//
// Dimension letters: B batch, T timesteps, F input features, U units,
// G gates per unit (SimpleRNN 1, LSTM 4, GRU 3), S states (LSTM 2, else 1).
//
//   input   x        [B, T, F]
//   kernel           [F, G·U]  kernel_initializer (glorot_uniform)
//   recurrent_kernel [U, G·U]  recurrent_initializer (orthogonal)
//   bias             [G·U]     bias_initializer (zeros), only with use_bias
//                              (GRU with reset_after: [2, G·U])
//
//   output  [B, T, U] with return_sequences, else [B, U]
//   states  [h] or [h, c], each [B, U] (forward_with_state)
//
// Call options (RecurrentCall): initial_state, the list of S states [B, U]
// in Keras' order (zeros without one, or the kept states if stateful);
// mask [B, T] of bools; training.
//
// Dropout: d_x [B, F] on the inputs and d_h [B, U] on h_{t−1} in the
// recurrent products, inverted-dropout masks (0 or 1 / (1 − rate)) drawn once
// per call and reused at every timestep, as Keras' DropoutRNNCell. LSTM and
// GRU with recurrent_dropout draw one pair of masks per gate, as Keras
// (its implementation 1), and then run the composed path.
//
// Mask (Keras' RNN with zero_output_for_mask false, TensorFlow's numbers):
// at a masked step of row b the states are kept and the output repeats the
// previous output, zeros before the first unmasked step. With
// zero_output_for_mask the outputs of masked steps are zeros instead. The
// states are always the last kept ones.
//
// go_backwards processes t = T .. 1 and returns the outputs in that
// (reversed) order, as Keras; the mask is read at the timestep processed.
//
// stateful: the final states of sample i are kept (copies, outside the
// graph: no gradient flows from one call into the previous one) and are the
// initial states of sample i in the next call without an initial_state. The
// batch size is fixed by the first call; reset_state() sets them to zeros.
//
// unroll is accepted for Keras' signature and changes nothing: the numbers
// are the same either way.
//
// The whole sequence is one graph node with a hand-written backward through
// time (recurrent_sequence.hpp); forward_composed builds the same function
// from primitive ops and is its reference in the tests. A layer builds on
// its first call, or explicitly with build({-1, -1, F}).

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
#include "xgrad/nn/recurrent_sequence.hpp"
#include "xgrad/nn/regularizers.hpp"

namespace xgrad::nn {

// The options every recurrent layer takes, with Keras' defaults. Each
// layer's own options (SimpleRNNOptions, LSTMOptions, GRUOptions) derive from
// RecurrentOptionsFor<Self>, whose setters return the layer's type.
class RecurrentOptions {
 public:
  XGRAD_ARG(std::size_t, units);                                        // required, > 0
  XGRAD_ARG(Activation, activation) = Activation::tanh;                 // Keras: "tanh"
  XGRAD_ARG(bool, use_bias) = true;                                     // Keras: True
  // kernel_initializer (Keras: "glorot_uniform"), recurrent_initializer
  // ("orthogonal"), bias_initializer ("zeros"); the *_regularizer and
  // *_constraint of each (Keras: None). By value or by Keras name.
  XGRAD_WEIGHT_ARGS(RecurrentOptions, kernel, init::glorot_uniform());
  XGRAD_WEIGHT_ARGS(RecurrentOptions, recurrent, init::orthogonal());
  XGRAD_WEIGHT_ARGS(RecurrentOptions, bias, init::zeros());
  // On the layer's output (and its states with return_state, as Keras
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
  // Keras' RNN argument (reaching the layer through **kwargs); Keras'
  // Bidirectional sets it to return_sequences on its copies.
  XGRAD_ARG(bool, zero_output_for_mask) = false;                        // Keras: False
  // The dropout masks' own generator, seeded once at construction; without
  // a seed they come from xgrad's global generator (manual_seed).
  XGRAD_ARG(std::optional<std::uint64_t>, seed);                        // Keras: None
  XGRAD_ARG(std::string, name);  // Keras' default: the layer's class in snake_case

 public:
  RecurrentOptions& activation(const std::string& name) {
    return activation(activation_from_name(name));
  }
  RecurrentOptions& activity_regularizer(const std::string& name) {
    return activity_regularizer(regularizer_from_name(name));
  }

 protected:
  RecurrentOptions(std::size_t units, std::string name) : units_(units), name_(std::move(name)) {}
};

// Re-declares a RecurrentOptions setter to return Self&, keeping the getter.
#define XGRAD_RECURRENT_SETTER(TYPE, NAME)                         \
  using RecurrentOptions::NAME;                                    \
  Self& NAME(const TYPE& value) {                                  \
    RecurrentOptions::NAME(value);                                 \
    return static_cast<Self&>(*this);                              \
  }
#define XGRAD_RECURRENT_WEIGHT_SETTERS(NAME)                                            \
  XGRAD_RECURRENT_SETTER(Initializer, NAME##_initializer)                               \
  XGRAD_RECURRENT_SETTER(std::optional<Regularizer>, NAME##_regularizer)                \
  XGRAD_RECURRENT_SETTER(std::optional<Constraint>, NAME##_constraint)                  \
  Self& NAME##_initializer(const std::string& name) { return NAME##_initializer(initializer_from_name(name)); } \
  Self& NAME##_regularizer(const std::string& name) { return NAME##_regularizer(regularizer_from_name(name)); } \
  Self& NAME##_constraint(const std::string& name) { return NAME##_constraint(constraint_from_name(name)); }

template <class Self>
class RecurrentOptionsFor : public RecurrentOptions {
 public:
  XGRAD_RECURRENT_SETTER(std::size_t, units)
  XGRAD_RECURRENT_SETTER(Activation, activation)
  XGRAD_RECURRENT_SETTER(bool, use_bias)
  XGRAD_RECURRENT_WEIGHT_SETTERS(kernel)
  XGRAD_RECURRENT_WEIGHT_SETTERS(recurrent)
  XGRAD_RECURRENT_WEIGHT_SETTERS(bias)
  XGRAD_RECURRENT_SETTER(std::optional<Regularizer>, activity_regularizer)
  XGRAD_RECURRENT_SETTER(double, dropout)
  XGRAD_RECURRENT_SETTER(double, recurrent_dropout)
  XGRAD_RECURRENT_SETTER(bool, return_sequences)
  XGRAD_RECURRENT_SETTER(bool, return_state)
  XGRAD_RECURRENT_SETTER(bool, go_backwards)
  XGRAD_RECURRENT_SETTER(bool, stateful)
  XGRAD_RECURRENT_SETTER(bool, unroll)
  XGRAD_RECURRENT_SETTER(bool, zero_output_for_mask)
  XGRAD_RECURRENT_SETTER(std::optional<std::uint64_t>, seed)
  XGRAD_RECURRENT_SETTER(std::string, name)
  // By Keras name: activation("relu") ("None" means linear),
  // activity_regularizer("l2").
  Self& activation(const std::string& name) { return activation(activation_from_name(name)); }
  Self& activity_regularizer(const std::string& name) {
    return activity_regularizer(regularizer_from_name(name));
  }

 protected:
  using RecurrentOptions::RecurrentOptions;
};

#undef XGRAD_RECURRENT_WEIGHT_SETTERS
#undef XGRAD_RECURRENT_SETTER

// The options of one call, Keras' call arguments:
//   lstm.forward(x, nn::RecurrentCall<float>().initial_state({h0, c0}).mask(m).training(false));
template <typename T = float>
struct RecurrentCall {
  // The S initial states [B, U] in Keras' order ([h] or [h, c]); gradients
  // reach them. Default: zeros (or, when stateful, the states kept from the
  // last call). One Variable means [h].
  RecurrentCall& initial_state(std::vector<Variable<T>> states) {
    initial_state_ = std::move(states);
    return *this;
  }
  RecurrentCall& initial_state(const Variable<T>& h) { return initial_state(std::vector<Variable<T>>{h}); }
  const std::optional<std::vector<Variable<T>>>& initial_state() const noexcept { return initial_state_; }

  // [B, T]: true where a timestep is used, false where it is skipped.
  XGRAD_ARG(std::optional<xt::xarray<bool>>, mask);
  // Whether dropout applies: given, it decides, as Keras' `training` call
  // argument does; not given, the layer's is_training() does.
  XGRAD_ARG(std::optional<bool>, training);

 private:
  std::optional<std::vector<Variable<T>>> initial_state_;
};

// built(), input_features(), kernel(), bias(), weights() (Keras' order:
// kernel, recurrent_kernel[, bias]) and set_weights() (building from the
// kernel's shape if needed, every shape checked first) come from
// LayerWeights (layer_weights.hpp).
template <typename T = float>
class RecurrentLayer : public LayerWeights<T> {
 public:
  // Creates the weights for inputs [B, T, F]: only the last entry (F) is used;
  // B and T may be -1 (None). Throws if F is not positive or the layer was
  // already built for another F.
  void build(const std::vector<std::ptrdiff_t>& input_shape);

  // x [B, T, F] -> [B, T, U] or [B, U]. Builds the layer on first use.
  // Throws std::invalid_argument naming the layer and the shapes for a mask
  // that is not [B, T], initial states that are not S of [B, U], or, when
  // stateful, a batch size other than the first call's.
  Variable<T> forward(const Variable<T>& x) { return forward(x, RecurrentCall<T>()); }
  Variable<T> forward(const Variable<T>& x, const RecurrentCall<T>& call);
  Variable<T> operator()(const Variable<T>& x) { return forward(x); }
  Variable<T> operator()(const Variable<T>& x, const RecurrentCall<T>& call) { return forward(x, call); }
  // The output and the final states (Keras' return_state=True), whether or
  // not the return_state option is set.
  RecurrentOutput<T> forward_with_state(const Variable<T>& x,
                                        const RecurrentCall<T>& call = RecurrentCall<T>());

  // The same functions composed of primitive ops (matmul, add, mul, slices,
  // the activations, stack): the reference the fused path is tested against.
  Variable<T> forward_composed(const Variable<T>& x, const RecurrentCall<T>& call = RecurrentCall<T>());
  RecurrentOutput<T> forward_composed_with_state(const Variable<T>& x,
                                                 const RecurrentCall<T>& call = RecurrentCall<T>());

  // Stateful layers: back to zeros (keeping the batch size; nothing to do
  // before the first call, as Keras), or to the given states (S of [B, U],
  // or one [B, U] for h alone when S is 1), which also fix the batch size if
  // no call has yet. reset_state(states) throws std::logic_error unless
  // stateful, std::invalid_argument for a wrong count or shape.
  void reset_state();
  void reset_state(const std::vector<Array<T>>& states);
  void reset_state(const Array<T>& state) { reset_state(std::vector<Array<T>>{state}); }
  // The kept states of a stateful layer; empty before its first call (or
  // reset_state(states)) and for a layer that is not stateful.
  const std::vector<Array<T>>& states() const { return states_; }

  // A handle to the parameter, as kernel(); std::logic_error before build.
  Variable<T> recurrent_kernel() const { return this->weight("recurrent_kernel"); }

  // The cell's maths and the number of states S.
  const CellSpec& cell() const { return cell_; }
  // The options every recurrent layer has; each layer returns its own type.
  virtual const RecurrentOptions& options() const = 0;
  // Keras' class name in snake_case ("simple_rnn", "lstm", "gru") and its
  // cell's, the keys of the layer's weights in a Keras weights file.
  virtual const char* keras_class() const = 0;
  virtual const char* keras_cell_class() const = 0;

 protected:
  // `kind` ("LSTM") starts every message, with the layer's name. Throws
  // std::invalid_argument for units 0 or a dropout rate outside [0, 1).
  RecurrentLayer(const std::string& kind, const RecurrentOptions& options, CellSpec cell,
                 std::vector<WeightSpec> specs);

 private:
  // Builds on first use and checks x's shape; returns (B, T).
  std::pair<std::size_t, std::size_t> prepare_input(const Variable<T>& x);
  // Checks the call against x, draws the dropout masks, runs one path,
  // keeps the states and records the activity penalties.
  RecurrentOutput<T> run(const Variable<T>& x, const RecurrentCall<T>& call, bool fused, bool want_state);
  // The composed path; input masks are one [B, F] per gate block (or one
  // for all), recurrent masks likewise [B, U].
  RecurrentOutput<T> run_composed(const Variable<T>& x, const RecurrentSequenceArgs<T>& args,
                                  const std::vector<Array<T>>& input_masks,
                                  const std::vector<Array<T>>& recurrent_masks) const;
  Generator& dropout_generator();

  CellSpec cell_;
  std::vector<Array<T>> states_;  // stateful only
  Generator own_generator_;       // used only with a seed

  // Sequential::build takes the kept states out around its shape-finding call.
  template <typename>
  friend class Sequential;
};

extern template class RecurrentLayer<float>;
extern template class RecurrentLayer<double>;

}  // namespace xgrad::nn
