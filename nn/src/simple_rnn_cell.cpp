#include "xgrad/nn/simple_rnn_cell.hpp"

#include <algorithm>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "xgrad/autograd/ops.hpp"
#include "xgrad/nn/dropout.hpp"

namespace xgrad::nn {

namespace {
std::string rate_to_string(double rate) {
  std::ostringstream text;
  text << rate;
  return text.str();
}

template <typename ShapeA, typename ShapeB>
bool same(const ShapeA& a, const ShapeB& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end());
}
}  // namespace

template <typename T>
SimpleRNNCell<T>::SimpleRNNCell(SimpleRNNCellOptions options)
    : Module<T>(options.name()),
      options_(std::move(options)),
      own_generator_(options_.seed().value_or(0)) {
  if (options_.units() == 0) {
    throw std::invalid_argument(describe() + ": units must be positive, got 0");
  }
  for (const auto& [what, rate] : {std::pair<const char*, double>{"dropout", options_.dropout()},
                                   {"recurrent_dropout", options_.recurrent_dropout()}}) {
    if (!(rate >= 0.0 && rate < 1.0)) {
      throw std::invalid_argument(describe() + ": " + what + " must be in [0, 1), got " +
                                  rate_to_string(rate));
    }
  }
}

template <typename T>
std::string SimpleRNNCell<T>::describe() const {
  return "SimpleRNNCell '" + options_.name() + "'";
}

template <typename T>
void SimpleRNNCell<T>::build(const std::vector<std::ptrdiff_t>& input_shape) {
  if (input_shape.empty() || input_shape.back() <= 0) {
    std::string given = "(";
    for (std::size_t i = 0; i < input_shape.size(); ++i)
      given += (i ? ", " : "") + (input_shape[i] < 0 ? std::string("None")
                                                     : std::to_string(input_shape[i]));
    throw std::invalid_argument(describe() +
                                ": build expects an input shape (batch, features) with "
                                "features > 0 (batch may be -1), got " + given + ")");
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
void SimpleRNNCell<T>::check_built(const char* what) const {
  if (!built()) {
    throw std::logic_error(describe() + ": " + what +
                           " does not exist before the cell is built; call build({-1, F}) "
                           "or run it on an input first");
  }
}

template <typename T>
Variable<T> SimpleRNNCell<T>::kernel() const {
  check_built("kernel");
  return kernel_;
}

template <typename T>
Variable<T> SimpleRNNCell<T>::recurrent_kernel() const {
  check_built("recurrent_kernel");
  return recurrent_kernel_;
}

template <typename T>
Variable<T> SimpleRNNCell<T>::bias() const {
  check_built("bias");
  if (!options_.use_bias()) throw std::logic_error(describe() + ": has no bias (use_bias is false)");
  return bias_;
}

template <typename T>
Variable<T> SimpleRNNCell<T>::get_initial_state(std::size_t batch) const {
  return Variable<T>(zeros<T>({batch, options_.units()}));
}

template <typename T>
const Array<T>& SimpleRNNCell<T>::mask_for(std::optional<Array<T>>& kept, const Shape& shape,
                                           double rate) {
  if (!kept || !same(kept->shape(), shape)) {
    kept = dropout_mask<T>(shape, rate, options_.seed() ? own_generator_ : generator());
  }
  return *kept;
}

template <typename T>
Variable<T> SimpleRNNCell<T>::forward(const Variable<T>& x, const Variable<T>& state,
                                      std::optional<bool> training) {
  if (x.dimension() != 2 || x.shape()[1] == 0) {
    throw std::invalid_argument(describe() + ": expected a step of shape (batch, features), got " +
                                shape_to_string(x.shape()));
  }
  const std::size_t batch = x.shape()[0], units = options_.units();
  if (!built()) build({-1, static_cast<std::ptrdiff_t>(x.shape()[1])});
  if (x.shape()[1] != features_) {
    throw std::invalid_argument(describe() + ": expected a step of shape (batch, " +
                                std::to_string(features_) + "), got " + shape_to_string(x.shape()));
  }
  if (!same(state.shape(), Shape{batch, units})) {
    throw std::invalid_argument(describe() + ": expected a state of shape " +
                                shape_to_string(Shape{batch, units}) + " for a step of shape " +
                                shape_to_string(x.shape()) + ", got " + shape_to_string(state.shape()));
  }
  const bool dropping = this->is_training() && training.value_or(true);
  Variable<T> input = x, previous = state;
  if (dropping && options_.dropout() > 0.0)
    input = mul(x, Variable<T>(mask_for(input_mask_, {batch, features_}, options_.dropout())));
  if (dropping && options_.recurrent_dropout() > 0.0) {
    previous = mul(state, Variable<T>(mask_for(recurrent_mask_, {batch, units},
                                               options_.recurrent_dropout())));
  }
  Variable<T> pre_activation = matmul(input, kernel_);
  if (options_.use_bias()) pre_activation = add(pre_activation, bias_);
  pre_activation = add(pre_activation, matmul(previous, recurrent_kernel_));
  return apply_activation(options_.activation(), pre_activation);
}

template <typename T>
std::vector<Array<T>> SimpleRNNCell<T>::weights() const {
  check_built("weights");
  std::vector<Array<T>> out{kernel_.value(), recurrent_kernel_.value()};
  if (options_.use_bias()) out.push_back(bias_.value());
  return out;
}

template <typename T>
void SimpleRNNCell<T>::set_weights(const std::vector<Array<T>>& weights) {
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
    if (features == 0 || !same(expected[i].second, weights[i].shape())) {
      throw std::invalid_argument(describe() + ": set_weights: " + expected[i].first +
                                  " expected shape " +
                                  (features == 0 ? "(features, " + std::to_string(units) + ")"
                                                 : shape_to_string(expected[i].second)) +
                                  ", got " + shape_to_string(weights[i].shape()));
    }
  }
  if (!built()) build({-1, static_cast<std::ptrdiff_t>(features)});
  kernel_.value() = weights[0];
  recurrent_kernel_.value() = weights[1];
  if (options_.use_bias()) bias_.value() = weights[2];
}

template class SimpleRNNCell<float>;
template class SimpleRNNCell<double>;

}  // namespace xgrad::nn
