#include "xgrad/nn/simple_rnn.hpp"

#include <algorithm>
#include <stdexcept>

#include "xgrad/autograd/ops.hpp"
#include "xgrad/nn/dropout.hpp"

namespace xgrad::nn {

template <typename T>
SimpleRNN<T>::SimpleRNN(SimpleRNNOptions options)
    : LayerWeights<T>("SimpleRNN", options.name(), options.units(),
                      recurrent_weight_specs(options), "layer", "build({-1, -1, F})"),
      options_(std::move(options)),
      own_generator_(options_.seed().value_or(0)) {
  check_dropout_rates(this->describe(), options_.dropout(), options_.recurrent_dropout());
}

template <typename T>
void SimpleRNN<T>::build(const std::vector<std::ptrdiff_t>& input_shape) {
  if (input_shape.size() != 3 || input_shape.back() <= 0) {
    throw std::invalid_argument(this->describe() +
                                ": build expects an input shape (batch, timesteps, features) "
                                "with features > 0 (batch and timesteps may be -1), got " +
                                input_shape_to_string(input_shape));
  }
  this->build_for(static_cast<std::size_t>(input_shape.back()));
}

template <typename T>
std::pair<std::size_t, std::size_t> SimpleRNN<T>::prepare_input(const Variable<T>& x) {
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
Generator& SimpleRNN<T>::dropout_generator() {
  return options_.seed() ? own_generator_ : generator();
}

template <typename T>
SimpleRNNOutput<T> SimpleRNN<T>::run(const Variable<T>& x, const SimpleRNNCall<T>& call, bool fused,
                                     bool want_state) {
  const auto [batch, steps] = prepare_input(x);
  const std::size_t units = options_.units(), features = this->input_features();
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
    const Shape want{batch, units};
    const auto& got = call.initial_state()->shape();
    if (!shapes_equal(want, got)) {
      throw std::invalid_argument(this->describe() + ": initial_state expected shape (batch, units) " +
                                  shape_to_string(want) + " for input shape " +
                                  shape_to_string(x.shape()) + ", got " + shape_to_string(got));
    }
  }
  if (options_.stateful() && state_ && state_->shape()[0] != batch) {
    throw std::invalid_argument(this->describe() + ": stateful with batch size " +
                                std::to_string(state_->shape()[0]) +
                                " (fixed by its first call or reset_state), got input of batch size " +
                                std::to_string(batch) + ", shape " + shape_to_string(x.shape()));
  }

  SimpleRNNSequenceArgs<T> args;
  args.activation = options_.activation();
  args.return_sequences = options_.return_sequences();
  args.go_backwards = options_.go_backwards();
  args.zero_output_for_mask = options_.zero_output_for_mask();
  const bool penalise_state = options_.return_state() && options_.activity_regularizer();
  args.return_state = want_state || options_.stateful() || penalise_state;
  if (call.initial_state()) {
    args.initial_state = call.initial_state();
  } else if (options_.stateful() && state_) {
    args.initial_state = Variable<T>(*state_);  // a constant: the kept state is detached
  }
  args.mask = call.mask();

  // One mask per sequence for the inputs, then one for the state, as
  // Keras' RNN prepares them before its loop.
  const bool training = this->is_training() && call.training().value_or(true);
  std::optional<Array<T>> input_mask;
  if (training && options_.dropout() > 0.0)
    input_mask = dropout_mask<T>({batch, features}, options_.dropout(), dropout_generator());
  if (training && options_.recurrent_dropout() > 0.0) {
    args.recurrent_dropout_mask =
        dropout_mask<T>({batch, units}, options_.recurrent_dropout(), dropout_generator());
  }

  SimpleRNNOutput<T> result;
  if (fused) {
    // Input dropout as a plain mul before the node: x ⊙ d_x, d_x as [B, 1, F].
    const Variable<T> input =
        input_mask ? mul(x, Variable<T>(reshaped(*input_mask, {batch, 1, features}))) : x;
    result = simple_rnn_sequence(input, this->kernel(), recurrent_kernel(),
                                 options_.use_bias() ? std::optional(this->bias()) : std::nullopt,
                                 args);
  } else {
    result = run_composed(x, args, input_mask);
  }

  if (options_.stateful()) state_ = result.state.value();
  if (options_.activity_regularizer()) {
    std::vector<Variable<T>> activity{options_.activity_regularizer()->penalty(result.output)};
    if (penalise_state) activity.push_back(options_.activity_regularizer()->penalty(result.state));
    this->set_activity_losses(std::move(activity));
  }
  return result;
}

template <typename T>
SimpleRNNOutput<T> SimpleRNN<T>::run_composed(const Variable<T>& x,
                                              const SimpleRNNSequenceArgs<T>& args,
                                              const std::optional<Array<T>>& input_mask) const {
  const std::size_t batch = x.shape()[0], steps = x.shape()[1], units = options_.units();
  const std::size_t features = this->input_features();
  // (x_t ⊙ d_x) · kernel (+ bias) for every timestep in one GEMM: [B, T, U].
  Variable<T> input = x;
  if (input_mask) input = mul(x, Variable<T>(reshaped(*input_mask, {batch, 1, features})));
  Variable<T> projected = matmul(input, this->kernel());
  if (options_.use_bias()) projected = add(projected, this->bias());

  std::optional<Variable<T>> recurrent_mask;
  if (args.recurrent_dropout_mask) recurrent_mask = Variable<T>(*args.recurrent_dropout_mask);
  const bool has_initial = args.initial_state.has_value();
  Variable<T> state = has_initial ? *args.initial_state : Variable<T>(zeros<T>({batch, units}));
  // Keras' masked loop: output_t = where(m_t, candidate, output_{t−1}),
  // state_t = where(m_t, candidate, state_{t−1}), the output starting at
  // zeros; here where(m, a, b) = m · a + (1 − m) · b with m a [B, 1] constant.
  Variable<T> output(zeros<T>({batch, units}));
  std::vector<Variable<T>> outputs;
  if (options_.return_sequences()) outputs.reserve(steps);
  for (std::size_t s = 0; s < steps; ++s) {
    const std::size_t t = args.go_backwards ? steps - 1 - s : s;
    Variable<T> pre_activation = select(projected, 1, t);
    if (s > 0 || has_initial) {
      const Variable<T> previous = recurrent_mask ? mul(state, *recurrent_mask) : state;
      pre_activation = add(pre_activation, matmul(previous, recurrent_kernel()));
    }
    const Variable<T> candidate = apply_activation(options_.activation(), pre_activation);
    if (args.mask) {
      Array<T> kept = Array<T>::from_shape({batch, 1});
      for (std::size_t b = 0; b < batch; ++b) kept(b, 0) = (*args.mask)(b, t) ? T(1) : T(0);
      const Variable<T> m(kept), not_m(Array<T>(T(1) - kept));
      state = add(mul(candidate, m), mul(state, not_m));
      output = args.zero_output_for_mask ? mul(candidate, m)
                                         : add(mul(candidate, m), mul(output, not_m));
    } else {
      state = candidate;
      output = candidate;
    }
    if (options_.return_sequences()) outputs.push_back(output);
  }
  return {options_.return_sequences() ? stack(outputs, 1) : output, state};
}

template <typename T>
Variable<T> SimpleRNN<T>::forward(const Variable<T>& x, const SimpleRNNCall<T>& call) {
  return run(x, call, true, false).output;
}

template <typename T>
SimpleRNNOutput<T> SimpleRNN<T>::forward_with_state(const Variable<T>& x,
                                                    const SimpleRNNCall<T>& call) {
  return run(x, call, true, true);
}

template <typename T>
Variable<T> SimpleRNN<T>::forward_composed(const Variable<T>& x, const SimpleRNNCall<T>& call) {
  return run(x, call, false, false).output;
}

template <typename T>
SimpleRNNOutput<T> SimpleRNN<T>::forward_composed_with_state(const Variable<T>& x,
                                                             const SimpleRNNCall<T>& call) {
  return run(x, call, false, true);
}

template <typename T>
void SimpleRNN<T>::reset_state() {
  if (state_) state_->fill(T(0));
}

template <typename T>
void SimpleRNN<T>::reset_state(const Array<T>& states) {
  if (!options_.stateful()) {
    throw std::logic_error(this->describe() + ": reset_state(states) needs a stateful layer");
  }
  const std::size_t units = options_.units();
  const bool fits = states.dimension() == 2 && states.shape()[1] == units &&
                    (!state_ || states.shape()[0] == state_->shape()[0]);
  if (!fits) {
    throw std::invalid_argument(
        this->describe() + ": reset_state expects states of shape " +
        (state_ ? shape_to_string(state_->shape()) : "(batch, " + std::to_string(units) + ")") +
        ", got " + shape_to_string(states.shape()));
  }
  state_ = states;
}

template class SimpleRNN<float>;
template class SimpleRNN<double>;

}  // namespace xgrad::nn
