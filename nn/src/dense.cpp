#include "xgrad/nn/dense.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "xgrad/autograd/ops.hpp"
#include "xgrad/nn/initializers.hpp"

namespace xgrad::nn {

namespace {
// "(None, 4)" for build({-1, 4}), as Keras prints an input shape.
std::string input_shape_to_string(const std::vector<std::ptrdiff_t>& shape) {
  std::string out = "(";
  for (std::size_t i = 0; i < shape.size(); ++i)
    out += (i ? ", " : "") + (shape[i] < 0 ? std::string("None") : std::to_string(shape[i]));
  return out + (shape.size() == 1 ? ",)" : ")");
}
}  // namespace

template <typename T>
Dense<T>::Dense(DenseOptions options) : Module<T>(options.name()), options_(std::move(options)) {
  if (options_.units() == 0) {
    throw std::invalid_argument(describe() + ": units must be positive, got 0");
  }
}

template <typename T>
std::string Dense<T>::describe() const {
  return "Dense '" + options_.name() + "'";
}

template <typename T>
void Dense<T>::build(const std::vector<std::ptrdiff_t>& input_shape) {
  if (input_shape.size() < 2 || input_shape.back() <= 0) {
    throw std::invalid_argument(describe() +
                                ": build expects an input shape (batch, ..., features) of rank 2 "
                                "or more with features > 0 (the others may be -1), got " +
                                input_shape_to_string(input_shape));
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
  kernel_ = this->register_parameter("kernel", Variable<T>(init::glorot_uniform<T>({features, units})));
  if (options_.use_bias()) bias_ = this->register_parameter("bias", Variable<T>(zeros<T>({units})));
  features_ = features;
}

template <typename T>
void Dense<T>::check_built(const char* what) const {
  if (!built()) {
    throw std::logic_error(describe() + ": " + what +
                           " does not exist before the layer is built; call build({-1, F}) "
                           "or run it on an input first");
  }
}

template <typename T>
Variable<T> Dense<T>::kernel() const {
  check_built("kernel");
  return kernel_;
}

template <typename T>
Variable<T> Dense<T>::bias() const {
  check_built("bias");
  if (!options_.use_bias()) throw std::logic_error(describe() + ": has no bias (use_bias is false)");
  return bias_;
}

template <typename T>
Variable<T> Dense<T>::forward(const Variable<T>& x) {
  if (x.dimension() < 2) {
    throw std::invalid_argument(describe() +
                                ": expected input of rank 2 or more [batch, ..., features], got "
                                "shape " +
                                shape_to_string(x.shape()));
  }
  const std::size_t features = x.shape().back();
  if (!built()) {
    if (features == 0) {
      throw std::invalid_argument(describe() + ": cannot build for input of shape " +
                                  shape_to_string(x.shape()) + ": it has no features");
    }
    build({-1, static_cast<std::ptrdiff_t>(features)});
  }
  if (features != features_) {
    throw std::invalid_argument(describe() + ": built for " + std::to_string(features_) +
                                " features, expected input shape (..., " +
                                std::to_string(features_) + "), got " +
                                shape_to_string(x.shape()));
  }
  // [..., F] · [F, U]: the leading axes are the rows of one GEMM.
  Variable<T> y = matmul(x, kernel_);
  if (options_.use_bias()) y = add(y, bias_);
  return apply_activation(options_.activation(), y);
}

template <typename T>
std::vector<Array<T>> Dense<T>::weights() const {
  check_built("weights");
  std::vector<Array<T>> out{kernel_.value()};
  if (options_.use_bias()) out.push_back(bias_.value());
  return out;
}

template <typename T>
void Dense<T>::set_weights(const std::vector<Array<T>>& weights) {
  const std::size_t expected_count = options_.use_bias() ? 2 : 1;
  if (weights.size() != expected_count) {
    throw std::invalid_argument(describe() + ": set_weights expects " +
                                std::to_string(expected_count) + " array" +
                                (expected_count == 1 ? " (kernel)" : "s (kernel, bias)") +
                                ", got " + std::to_string(weights.size()));
  }
  const std::size_t units = options_.units();
  const std::size_t features =
      built() ? features_ : (weights[0].dimension() == 2 ? weights[0].shape()[0] : 0);
  const std::vector<std::pair<const char*, Shape>> expected{{"kernel", {features, units}},
                                                           {"bias", {units}}};
  for (std::size_t i = 0; i < weights.size(); ++i) {
    const Shape& want = expected[i].second;
    if (features == 0 || !std::equal(want.begin(), want.end(), weights[i].shape().begin(),
                                     weights[i].shape().end())) {
      throw std::invalid_argument(
          describe() + ": set_weights: " + expected[i].first + " expected shape " +
          (features == 0 ? "(features, " + std::to_string(units) + ")" : shape_to_string(want)) +
          ", got " + shape_to_string(weights[i].shape()));
    }
  }
  if (!built()) build({-1, static_cast<std::ptrdiff_t>(features)});
  kernel_.value() = weights[0];
  if (options_.use_bias()) bias_.value() = weights[1];
}

template class Dense<float>;
template class Dense<double>;

}  // namespace xgrad::nn
