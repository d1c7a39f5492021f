#include "xgrad/nn/recurrent.hpp"

#include <algorithm>
#include <stdexcept>

#include "xgrad/autograd/math_ops.hpp"
#include "xgrad/autograd/ops.hpp"
#include "xgrad/nn/recurrent_cell.hpp"

namespace xgrad::nn {

template <typename T>
RecurrentLayer<T>::RecurrentLayer(const std::string& kind, const RecurrentOptions& options, CellSpec cell,
                                  std::vector<WeightSpec> specs)
    : LayerWeights<T>(kind, options.name(), options.units(), std::move(specs), "layer", "build({-1, -1, F})"),
      cell_(cell),
      own_generator_(options.seed().value_or(0)) {
  check_dropout_rates(this->describe(), options.dropout(), options.recurrent_dropout());
  if (options.seed()) this->register_generator("seed_generator", own_generator_);
}

template <typename T>
void RecurrentLayer<T>::build(const std::vector<std::ptrdiff_t>& input_shape) {
  if (input_shape.size() != 3 || input_shape.back() <= 0) {
    throw std::invalid_argument(this->describe() +
                                ": build expects an input shape (batch, timesteps, features) "
                                "with features > 0 (batch and timesteps may be -1), got " +
                                input_shape_to_string(input_shape));
  }
  this->build_for(static_cast<std::size_t>(input_shape.back()));
}

template <typename T>
std::pair<std::size_t, std::size_t> RecurrentLayer<T>::prepare_input(const Variable<T>& x) {
  if (x.dimension() != 3) {
    throw std::invalid_argument(this->describe() +
                                ": expected input of rank 3 [batch, timesteps, features], got shape " +
                                shape_to_string(x.shape()));
  }
  const std::size_t batch = x.shape()[0], steps = x.shape()[1], features = x.shape()[2];
  if (!this->built()) build({-1, -1, static_cast<std::ptrdiff_t>(features)});
  if (features != this->input_features()) {
    throw std::invalid_argument(this->describe() + ": expected input shape (batch, timesteps, " +
                                std::to_string(this->input_features()) + "), got " +
                                shape_to_string(x.shape()));
  }
  if (steps == 0) {
    throw std::invalid_argument(this->describe() + ": input of shape " + shape_to_string(x.shape()) +
                                " has no timesteps");
  }
  return {batch, steps};
}

template <typename T>
Generator& RecurrentLayer<T>::dropout_generator() {
  return options().seed() ? own_generator_ : generator();
}

template <typename T>
RecurrentOutput<T> RecurrentLayer<T>::run(const Variable<T>& x, const RecurrentCall<T>& call, bool fused,
                                          bool want_state) {
  const auto scope = this->layer_scope();
  const RecurrentOptions& options = this->options();
  const auto [batch, steps] = prepare_input(x);
  const std::size_t units = options.units(), features = this->input_features();
  const std::size_t state_count = cell_.states();
  if (call.mask()) {
    const Shape want{batch, steps};
    const auto& got = call.mask()->shape();
    if (!shapes_equal(want, got)) {
      throw std::invalid_argument(this->describe() + ": mask expected shape (batch, timesteps) " +
                                  shape_to_string(want) + " for input shape " +
                                  shape_to_string(x.shape()) + ", got " + shape_to_string(got));
    }
  }
  if (call.initial_state()) {
    const auto& given = *call.initial_state();
    const Shape want{batch, units};
    bool fits = given.size() == state_count;
    std::string shapes;
    for (std::size_t i = 0; i < given.size(); ++i) {
      shapes += (i ? ", " : "") + shape_to_string(given[i].shape());
      fits = fits && shapes_equal(want, given[i].shape());
    }
    if (!fits) {
      const std::string expected = state_count == 1 ? "1 state" : std::to_string(state_count) + " states";
      throw std::invalid_argument(this->describe() + ": initial_state expected " + expected +
                                  " of shape (batch, units) " + shape_to_string(want) +
                                  " for input shape " + shape_to_string(x.shape()) + ", got [" + shapes +
                                  "]");
    }
  }
  if (options.stateful() && !states_.empty() && states_[0].shape()[0] != batch) {
    throw std::invalid_argument(this->describe() + ": stateful with batch size " +
                                std::to_string(states_[0].shape()[0]) +
                                " (fixed by its first call or reset_state), got input of batch size " +
                                std::to_string(batch) + ", shape " + shape_to_string(x.shape()));
  }

  RecurrentSequenceArgs<T> args;
  args.cell = cell_;
  args.return_sequences = options.return_sequences();
  args.go_backwards = options.go_backwards();
  args.zero_output_for_mask = options.zero_output_for_mask();
  const bool penalise_state = options.return_state() && options.activity_regularizer();
  args.return_state = want_state || options.stateful() || penalise_state;
  if (call.initial_state()) {
    args.initial_states = *call.initial_state();
  } else if (options.stateful() && !states_.empty()) {
    for (const Array<T>& kept : states_) args.initial_states.push_back(Variable<T>(kept));  // detached
  }
  args.mask = call.mask();

  // The masks for the whole sequence, as Keras' RNN prepares them before its
  // loop: one for the inputs and one for the state, or, for a gated cell
  // with recurrent dropout (Keras' implementation 1), one of each per gate.
  // The call's training, when given, decides (Keras: `training=True` drops
  // whatever mode the layer is in); without it, the layer's mode.
  const bool training = call.training().value_or(this->is_training());
  const bool per_gate = options.recurrent_dropout() > 0.0;
  std::vector<Array<T>> input_masks, recurrent_masks;
  if (training && options.dropout() > 0.0)
    input_masks = draw_dropout_masks<T>(cell_, per_gate, {batch, features}, options.dropout(), dropout_generator());
  if (training && options.recurrent_dropout() > 0.0)
    recurrent_masks =
        draw_dropout_masks<T>(cell_, per_gate, {batch, units}, options.recurrent_dropout(), dropout_generator());

  // The fused node takes one recurrent mask for every gate. (The result is
  // made once: a default RecurrentOutput's placeholder Variables each cost
  // a node.)
  const auto run_fused = [&] {
    // Input dropout as a plain mul before the node: x ⊙ d_x, d_x as [B, 1, F].
    // (The shape is made here, when needed: a Shape is a heap allocation.)
    const Variable<T> input =
        input_masks.empty() ? x : mul(x, Variable<T>(reshaped(input_masks[0], Shape{x.shape()[0], 1, features})));
    if (!recurrent_masks.empty()) args.recurrent_dropout_mask = recurrent_masks[0];
    return recurrent_sequence(input, this->kernel(), recurrent_kernel(),
                              options.use_bias() ? std::optional(this->bias()) : std::nullopt, args);
  };
  const bool row_kernels = has_row_kernels(cell_.activation) && has_row_kernels(cell_.recurrent_activation);
  RecurrentOutput<T> result = fused && row_kernels && input_masks.size() <= 1 && recurrent_masks.size() <= 1
                                  ? run_fused()
                                  : run_composed(x, args, input_masks, recurrent_masks);

  if (options.stateful()) {
    states_.clear();
    for (const Variable<T>& state : result.states) states_.push_back(state.value());
  }
  if (options.activity_regularizer()) {
    std::vector<Variable<T>> activity{options.activity_regularizer()->penalty(result.output)};
    if (penalise_state)
      for (const Variable<T>& state : result.states) activity.push_back(options.activity_regularizer()->penalty(state));
    this->set_activity_losses(std::move(activity));
  }
  return result;
}

template <typename T>
RecurrentOutput<T> RecurrentLayer<T>::run_composed(const Variable<T>& x, const RecurrentSequenceArgs<T>& args,
                                                   const std::vector<Array<T>>& input_masks,
                                                   const std::vector<Array<T>>& recurrent_masks) const {
  const RecurrentOptions& options = this->options();
  const std::size_t batch = x.shape()[0], steps = x.shape()[1], units = options.units();
  const Variable<T> recurrent = recurrent_kernel();
  // (x_t ⊙ d_x) · kernel (+ input bias) for every timestep at once: [B, T, G·U].
  const ComposedProjection<T> in = composed_projection(
      cell_, x, input_masks, this->kernel(), options.use_bias() ? std::optional(this->bias()) : std::nullopt);
  const std::size_t state_count = cell_.states();
  std::vector<Variable<T>> states = args.initial_states;
  for (std::size_t k = states.size(); k < state_count; ++k) states.push_back(Variable<T>(zeros<T>({batch, units})));

  // Keras' masked loop: output_t = where(m_t, candidate, output_{t−1}),
  // state_t = where(m_t, candidate, state_{t−1}), the output starting at
  // zeros; here where(m, a, b) = m · a + (1 − m) · b with m a [B, 1] constant.
  Variable<T> output(zeros<T>({batch, units}));
  std::vector<Variable<T>> outputs;
  if (args.return_sequences) outputs.reserve(steps);
  for (std::size_t s = 0; s < steps; ++s) {
    const std::size_t t = args.go_backwards ? steps - 1 - s : s;
    const std::vector<Variable<T>> next =
        composed_step(cell_, select(in.projected, 1, t), in.recurrent_bias, states, recurrent_masks, recurrent);
    if (args.mask) {
      Array<T> kept = Array<T>::from_shape({batch, 1});
      for (std::size_t b = 0; b < batch; ++b) kept(b, 0) = (*args.mask)(b, t) ? T(1) : T(0);
      const Variable<T> m(kept), not_m(Array<T>(T(1) - kept));
      for (std::size_t k = 0; k < state_count; ++k) states[k] = add(mul(next[k], m), mul(states[k], not_m));
      output = args.zero_output_for_mask ? mul(next[0], m) : add(mul(next[0], m), mul(output, not_m));
    } else {
      states = next;
      output = next[0];
    }
    if (args.return_sequences) outputs.push_back(output);
  }
  RecurrentOutput<T> result;
  result.output = args.return_sequences ? stack(outputs, 1) : output;
  if (args.return_state) {
    result.states = states;
    result.state = states[0];
  }
  return result;
}

template <typename T>
Variable<T> RecurrentLayer<T>::forward(const Variable<T>& x, const RecurrentCall<T>& call) {
  return run(x, call, true, false).output;
}

template <typename T>
RecurrentOutput<T> RecurrentLayer<T>::forward_with_state(const Variable<T>& x, const RecurrentCall<T>& call) {
  return run(x, call, true, true);
}

template <typename T>
Variable<T> RecurrentLayer<T>::forward_composed(const Variable<T>& x, const RecurrentCall<T>& call) {
  return run(x, call, false, false).output;
}

template <typename T>
RecurrentOutput<T> RecurrentLayer<T>::forward_composed_with_state(const Variable<T>& x,
                                                                  const RecurrentCall<T>& call) {
  return run(x, call, false, true);
}

template <typename T>
void RecurrentLayer<T>::reset_state() {
  for (Array<T>& state : states_) state.fill(T(0));
}

template <typename T>
void RecurrentLayer<T>::reset_state(const std::vector<Array<T>>& states) {
  if (!options().stateful()) {
    throw std::logic_error(this->describe() + ": reset_state(states) needs a stateful layer");
  }
  const std::size_t units = options().units(), count = cell_.states();
  bool fits = states.size() == count;
  std::string shapes;
  for (std::size_t i = 0; i < states.size(); ++i) {
    const Array<T>& state = states[i];
    shapes += (i ? ", " : "") + shape_to_string(state.shape());
    fits = fits && state.dimension() == 2 && state.shape()[1] == units &&
           state.shape()[0] == states[0].shape()[0] &&
           (states_.empty() || state.shape()[0] == states_[0].shape()[0]);
  }
  if (!fits) {
    const std::string each =
        states_.empty() ? "(batch, " + std::to_string(units) + ")" : shape_to_string(states_[0].shape());
    throw std::invalid_argument(this->describe() + ": reset_state expects " + std::to_string(count) +
                                (count == 1 ? " state" : " states") + " of shape " + each + ", got [" +
                                shapes + "]");
  }
  states_ = states;
}

template class RecurrentLayer<float>;
template class RecurrentLayer<double>;

}  // namespace xgrad::nn
