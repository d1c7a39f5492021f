#include "xgrad/nn/normalization.hpp"

#include <cmath>
#include <stdexcept>
#include <utility>

#include "xgrad/autograd/math_ops.hpp"
#include "xgrad/autograd/ops.hpp"

namespace xgrad::nn {

template <typename T>
LayerNormalization<T>::LayerNormalization(LayerNormalizationOptions options)
    : Module<T>(options.name()), options_(std::move(options)) {
  if (!(options_.epsilon() > 0.0) || !std::isfinite(options_.epsilon())) {
    throw std::invalid_argument(describe() + ": epsilon must be positive and finite, got " +
                                std::to_string(options_.epsilon()));
  }
}

template <typename T>
std::string LayerNormalization<T>::describe() const {
  return "LayerNormalization '" + options_.name() + "'";
}

template <typename T>
void LayerNormalization<T>::build(std::size_t features) {
  if (!detail::build_needed(describe(), features_, features, "features")) return;
  // Keras' build: gamma first, then beta.
  if (options_.scale()) {
    gamma_ = this->register_parameter("gamma", Variable<T>(options_.gamma_initializer().template draw<T>({features})),
                                      options_.gamma_regularizer(), options_.gamma_constraint());
  }
  if (options_.center()) {
    beta_ = this->register_parameter("beta", Variable<T>(options_.beta_initializer().template draw<T>({features})),
                                     options_.beta_regularizer(), options_.beta_constraint());
  }
  features_ = features;
}

template <typename T>
Variable<T> LayerNormalization<T>::forward(const Variable<T>& x) {
  const auto scope = this->layer_scope();
  if (x.dimension() == 0) {
    throw std::invalid_argument(describe() + ": expected input of rank 1 or more [..., features], got shape ()");
  }
  const std::size_t features = x.shape().back();
  if (built() && features != features_) {
    throw std::invalid_argument(describe() + ": expected input shape (..., " + std::to_string(features_) +
                                "), got " + shape_to_string(x.shape()));
  }
  build(features);
  const Variable<T> centered = x - mean(x, -1, true);
  const Variable<T> variance = mean(square(centered), -1, true);
  const Variable<T> inverse_deviation =
      pow(variance + Variable<T>(Array<T>(static_cast<T>(options_.epsilon()))), T(-0.5));
  Variable<T> y = centered * inverse_deviation;
  if (options_.scale()) y = y * gamma_;
  if (options_.center()) y = y + beta_;
  return y;
}

template <typename T>
Variable<T> LayerNormalization<T>::weight(bool present, const char* option, const Variable<T>& value,
                                          const char* name) const {
  if (!present) throw std::logic_error(describe() + ": has no " + name + " (" + option + " is off)");
  if (!built()) detail::throw_not_built(describe(), name, "build(F)");
  return value;
}

template <typename T>
Variable<T> LayerNormalization<T>::gamma() const {
  return weight(options_.scale(), "scale", gamma_, "gamma");
}

template <typename T>
Variable<T> LayerNormalization<T>::beta() const {
  return weight(options_.center(), "center", beta_, "beta");
}

template <typename T>
std::vector<Array<T>> LayerNormalization<T>::weights() const {
  std::vector<Array<T>> out;
  if (options_.scale()) out.push_back(gamma().value());
  if (options_.center()) out.push_back(beta().value());
  return out;
}

template <typename T>
void LayerNormalization<T>::set_weights(const std::vector<Array<T>>& weights) {
  const std::size_t expected = (options_.scale() ? 1 : 0) + (options_.center() ? 1 : 0);
  if (weights.size() != expected) {
    throw std::invalid_argument(describe() + ": set_weights expected " + std::to_string(expected) +
                                " arrays (gamma, beta as scale and center say), got " +
                                std::to_string(weights.size()));
  }
  if (expected == 0) return;
  // Unbuilt, the first array gives F.
  const std::size_t features = built() ? features_ : (weights[0].dimension() == 1 ? weights[0].shape()[0] : 0);
  for (std::size_t i = 0; i < weights.size(); ++i) {
    if (weights[i].dimension() != 1 || weights[i].shape()[0] != features || features == 0) {
      throw std::invalid_argument(describe() + ": set_weights array " + std::to_string(i) + " has shape " +
                                  shape_to_string(weights[i].shape()) + ", expected " +
                                  (features ? "(" + std::to_string(features) + ",)" : "a 1-D (features,) array, features > 0"));
    }
  }
  build(features);
  std::size_t i = 0;
  if (options_.scale()) gamma_.value() = weights[i++];
  if (options_.center()) beta_.value() = weights[i];
}

template class LayerNormalization<float>;
template class LayerNormalization<double>;

}  // namespace xgrad::nn
