#include "xgrad/nn/simple_rnn.hpp"

#include <algorithm>
#include <sstream>
#include <stdexcept>

#include "xgrad/autograd/ops.hpp"
#include "xgrad/nn/dropout.hpp"

namespace xgrad::nn {

namespace {
std::string rate_to_string(double rate) {
  std::ostringstream text;
  text << rate;
  return text.str();
}
}  // namespace

template <typename T>
SimpleRNN<T>::SimpleRNN(SimpleRNNOptions options)
    : Module<T>(options.name()),
      options_(std::move(options)),
      own_generator_(options_.seed().value_or(0)) {
  if (options_.units() == 0) {
    throw std::invalid_argument(describe() + ": units must be positive, got 0");
  }
  for (const auto& [what, rate] : {std::pair<const char*, double>{"dropout", options_.dropout()},
                                   {"recurrent_dropout", options_.recurrent_dropout()}}) {
    if (!(rate >= 0.0 && rate < 1.0)) {  // false for NaN too
      throw std::invalid_argument(describe() + ": " + what + " must be in [0, 1), got " +
                                  rate_to_string(rate));
    }
  }
}

template <typename T>
std::string SimpleRNN<T>::describe() const {
  return "SimpleRNN '" + options_.name() + "'";
}

template <typename T>
void SimpleRNN<T>::build(const std::vector<std::ptrdiff_t>& input_shape) {
  if (input_shape.size() != 3 || input_shape.back() <= 0) {
    std::string given = "(";
    for (std::size_t i = 0; i < input_shape.size(); ++i)
      given += (i ? ", " : "") + (input_shape[i] < 0 ? std::string("None")
                                                     : std::to_string(input_shape[i]));
    throw std::invalid_argument(describe() +
                                ": build expects an input shape (batch, timesteps, features) "
                                "with features > 0 (batch and timesteps may be -1), got " +
                                given + ")");
  }
  const auto features = static_cast<std::size_t>(input_shape.back());
  if (built()) {
    if (features != features_) {
      throw std::invalid_argument(describe() + ": already built for " + std::to_string(features_) +
                                  " features, cannot build again for " + std::to_string(features));
    }
    return;
  }
  const std::size_t units = options_.units();
  features_ = features;
  // Drawn in Keras' order: kernel, recurrent_kernel, bias.
  kernel_ = this->register_parameter(
      "kernel", Variable<T>(options_.kernel_initializer().template draw<T>({features, units})),
      options_.kernel_regularizer(), options_.kernel_constraint());
  recurrent_kernel_ = this->register_parameter(
      "recurrent_kernel",
      Variable<T>(options_.recurrent_initializer().template draw<T>({units, units})),
      options_.recurrent_regularizer(), options_.recurrent_constraint());
  if (options_.use_bias()) {
    bias_ = this->register_parameter(
        "bias", Variable<T>(options_.bias_initializer().template draw<T>({units})),
        options_.bias_regularizer(), options_.bias_constraint());
  }
}

template <typename T>
void SimpleRNN<T>::check_built(const char* what) const {
  if (!built()) {
    throw std::logic_error(describe() + ": " + what +
                           " does not exist before the layer is built; call build({-1, -1, F}) "
                           "or run it on an input first");
  }
}

template <typename T>
Variable<T> SimpleRNN<T>::kernel() const {
  check_built("kernel");
  return kernel_;
}

template <typename T>
Variable<T> SimpleRNN<T>::recurrent_kernel() const {
  check_built("recurrent_kernel");
  return recurrent_kernel_;
}

template <typename T>
Variable<T> SimpleRNN<T>::bias() const {
  check_built("bias");
  if (!options_.use_bias()) throw std::logic_error(describe() + ": has no bias (use_bias is false)");
  return bias_;
}

template <typename T>
std::pair<std::size_t, std::size_t> SimpleRNN<T>::prepare_input(const Variable<T>& x) {
  if (x.dimension() != 3) {
    throw std::invalid_argument(describe() +
                                ": expected input of rank 3 [batch, timesteps, features], got shape " +
                                shape_to_string(x.shape()));
  }
  const std::size_t batch = x.shape()[0], steps = x.shape()[1], features = x.shape()[2];
  if (!built()) build({-1, -1, static_cast<std::ptrdiff_t>(features)});
  if (features != features_) {
    throw std::invalid_argument(describe() + ": expected input shape (batch, timesteps, " +
                                std::to_string(features_) + "), got " + shape_to_string(x.shape()));
  }
  if (steps == 0) {
    throw std::invalid_argument(describe() + ": input of shape " + shape_to_string(x.shape()) +
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
  const std::size_t units = options_.units();
  if (call.mask()) {
    const Shape want{batch, steps};
    const auto& got = call.mask()->shape();
    if (!std::equal(want.begin(), want.end(), got.begin(), got.end())) {
      throw std::invalid_argument(describe() + ": mask expected shape (batch, timesteps) " +
                                  shape_to_string(want) + " for input shape " +
                                  shape_to_string(x.shape()) + ", got " + shape_to_string(got));
    }
  }
  if (call.initial_state()) {
    const Shape want{batch, units};
    const auto& got = call.initial_state()->shape();
    if (!std::equal(want.begin(), want.end(), got.begin(), got.end())) {
      throw std::invalid_argument(describe() + ": initial_state expected shape (batch, units) " +
                                  shape_to_string(want) + " for input shape " +
                                  shape_to_string(x.shape()) + ", got " + shape_to_string(got));
    }
  }
  if (options_.stateful() && state_ && state_->shape()[0] != batch) {
    throw std::invalid_argument(describe() + ": stateful with batch size " +
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
    input_mask = dropout_mask<T>({batch, features_}, options_.dropout(), dropout_generator());
  if (training && options_.recurrent_dropout() > 0.0) {
    args.recurrent_dropout_mask =
        dropout_mask<T>({batch, units}, options_.recurrent_dropout(), dropout_generator());
  }

  SimpleRNNOutput<T> result;
  if (fused) {
    // Input dropout as a plain mul before the node: x ⊙ d_x, d_x as [B, 1, F].
    const Variable<T> input =
        input_mask ? mul(x, Variable<T>(reshaped(*input_mask, {batch, 1, features_}))) : x;
    result = simple_rnn_sequence(input, kernel_, recurrent_kernel_,
                                 options_.use_bias() ? std::optional(bias_) : std::nullopt, args);
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
  // (x_t ⊙ d_x) · kernel (+ bias) for every timestep in one GEMM: [B, T, U].
  Variable<T> input = x;
  if (input_mask) input = mul(x, Variable<T>(reshaped(*input_mask, {batch, 1, features_})));
  Variable<T> projected = matmul(input, kernel_);
  if (options_.use_bias()) projected = add(projected, bias_);

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
      pre_activation = add(pre_activation, matmul(previous, recurrent_kernel_));
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
    throw std::logic_error(describe() + ": reset_state(states) needs a stateful layer");
  }
  const std::size_t units = options_.units();
  const bool fits = states.dimension() == 2 && states.shape()[1] == units &&
                    (!state_ || states.shape()[0] == state_->shape()[0]);
  if (!fits) {
    throw std::invalid_argument(
        describe() + ": reset_state expects states of shape " +
        (state_ ? shape_to_string(state_->shape()) : "(batch, " + std::to_string(units) + ")") +
        ", got " + shape_to_string(states.shape()));
  }
  state_ = states;
}

template <typename T>
std::vector<Array<T>> SimpleRNN<T>::weights() const {
  check_built("weights");
  std::vector<Array<T>> out{kernel_.value(), recurrent_kernel_.value()};
  if (options_.use_bias()) out.push_back(bias_.value());
  return out;
}

template <typename T>
void SimpleRNN<T>::set_weights(const std::vector<Array<T>>& weights) {
  const std::size_t expected_count = options_.use_bias() ? 3 : 2;
  if (weights.size() != expected_count) {
    throw std::invalid_argument(describe() + ": set_weights expects " +
                                std::to_string(expected_count) +
                                " arrays (kernel, recurrent_kernel" +
                                (options_.use_bias() ? ", bias" : "") + "), got " +
                                std::to_string(weights.size()));
  }
  const std::size_t units = options_.units();
  const std::size_t features =
      built() ? features_ : (weights[0].dimension() == 2 ? weights[0].shape()[0] : 0);
  const std::vector<std::pair<const char*, Shape>> expected{
      {"kernel", {features, units}}, {"recurrent_kernel", {units, units}}, {"bias", {units}}};
  for (std::size_t i = 0; i < weights.size(); ++i) {
    const Shape& want = expected[i].second;
    if (features == 0 || !std::equal(want.begin(), want.end(), weights[i].shape().begin(),
                                     weights[i].shape().end())) {
      throw std::invalid_argument(describe() + ": set_weights: " + expected[i].first +
                                  " expected shape " +
                                  (features == 0 ? std::string("(features, ") + std::to_string(units) + ")"
                                                 : shape_to_string(want)) +
                                  ", got " + shape_to_string(weights[i].shape()));
    }
  }
  if (!built()) build({-1, -1, static_cast<std::ptrdiff_t>(features)});
  kernel_.value() = weights[0];
  recurrent_kernel_.value() = weights[1];
  if (options_.use_bias()) bias_.value() = weights[2];
}

template class SimpleRNN<float>;
template class SimpleRNN<double>;

}  // namespace xgrad::nn
