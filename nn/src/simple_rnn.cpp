#include "xgrad/nn/simple_rnn.hpp"

#include <stdexcept>

#include "xgrad/autograd/ops.hpp"
#include "xgrad/nn/initializers.hpp"
#include "xgrad/nn/simple_rnn_sequence.hpp"

namespace xgrad::nn {

template <typename T>
SimpleRNN<T>::SimpleRNN(SimpleRNNOptions options)
    : Module<T>(options.name()), options_(std::move(options)) {
  if (options_.units() == 0) {
    throw std::invalid_argument(describe() + ": units must be positive, got 0");
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
  kernel_ = this->register_parameter("kernel", Variable<T>(init::glorot_uniform<T>({features, units})));
  recurrent_kernel_ =
      this->register_parameter("recurrent_kernel", Variable<T>(init::orthogonal<T>({units, units})));
  if (options_.use_bias()) bias_ = this->register_parameter("bias", Variable<T>(zeros<T>({units})));
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
Variable<T> SimpleRNN<T>::forward(const Variable<T>& x) {
  prepare_input(x);
  return simple_rnn_sequence(x, kernel_, recurrent_kernel_,
                             options_.use_bias() ? std::optional(bias_) : std::nullopt,
                             options_.activation(), options_.return_sequences());
}

template <typename T>
Variable<T> SimpleRNN<T>::forward_composed(const Variable<T>& x) {
  const auto [batch, steps] = prepare_input(x);
  // x_t · kernel (+ bias) for every timestep in one GEMM: [B, T, U].
  Variable<T> projected = matmul(x, kernel_);
  if (options_.use_bias()) projected = add(projected, bias_);

  Variable<T> state(zeros<T>({batch, options_.units()}));
  std::vector<Variable<T>> outputs;
  if (options_.return_sequences()) outputs.reserve(steps);
  for (std::size_t t = 0; t < steps; ++t) {
    Variable<T> pre_activation = select(projected, 1, t);
    if (t > 0) pre_activation = add(pre_activation, matmul(state, recurrent_kernel_));
    state = apply_activation(options_.activation(), pre_activation);
    if (options_.return_sequences()) outputs.push_back(state);
  }
  return options_.return_sequences() ? stack(outputs, 1) : state;
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
