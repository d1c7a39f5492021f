#include "xgrad/nn/layer_weights.hpp"

#include <algorithm>
#include <sstream>
#include <stdexcept>
#include <utility>

namespace xgrad::nn {

std::string input_shape_to_string(const std::vector<std::ptrdiff_t>& shape) {
  std::string out = "(";
  for (std::size_t i = 0; i < shape.size(); ++i)
    out += (i ? ", " : "") + (shape[i] < 0 ? std::string("None") : std::to_string(shape[i]));
  return out + (shape.size() == 1 ? ",)" : ")");
}

void check_dropout_rates(const std::string& description, double dropout,
                         double recurrent_dropout) {
  for (const auto& [what, rate] : {std::pair<const char*, double>{"dropout", dropout},
                                   {"recurrent_dropout", recurrent_dropout}}) {
    if (!(rate >= 0.0 && rate < 1.0)) {  // false for NaN too
      std::ostringstream text;
      text << rate;
      throw std::invalid_argument(description + ": " + what + " must be in [0, 1), got " +
                                  text.str());
    }
  }
}

template <typename T>
LayerWeights<T>::LayerWeights(const std::string& kind, const std::string& name, std::size_t units,
                              std::vector<WeightSpec> specs, std::string noun,
                              std::string build_call)
    : Module<T>(name),
      kind_(kind),
      description_(kind + " '" + name + "'"),
      noun_(std::move(noun)),
      build_call_(std::move(build_call)),
      units_(units),
      specs_(std::move(specs)) {
  if (units_ == 0) {
    throw std::invalid_argument(description_ + ": units must be positive, got 0");
  }
}

template <typename T>
Shape LayerWeights<T>::shape_of(const WeightSpec& spec, std::size_t features) const {
  const std::size_t columns = spec.gates * units_;
  switch (spec.rows) {
    case WeightSpec::Rows::features: return {features, columns};
    case WeightSpec::Rows::units: return {units_, columns};
    default: return spec.bias_rows > 1 ? Shape{spec.bias_rows, columns} : Shape{columns};
  }
}

template <typename T>
Array<T> LayerWeights<T>::draw(const WeightSpec& spec, std::size_t features) const {
  if (!spec.ones_block) return spec.initializer.template draw<T>(shape_of(spec, features));
  // initializer(before), ones(U), initializer(after), in Keras' order.
  const std::size_t before = *spec.ones_block * units_;
  const std::size_t after = spec.gates * units_ - before - units_;
  Array<T> value = Array<T>::from_shape({spec.gates * units_});
  if (before) {
    const Array<T> head = spec.initializer.template draw<T>({before});
    std::copy(head.begin(), head.end(), value.begin());
  }
  std::fill_n(value.begin() + before, units_, T(1));
  if (after) {
    const Array<T> tail = spec.initializer.template draw<T>({after});
    std::copy(tail.begin(), tail.end(), value.begin() + before + units_);
  }
  return value;
}

template <typename T>
void LayerWeights<T>::build_for(std::size_t features) {
  if (built()) {
    if (features != features_) {
      throw std::invalid_argument(description_ + ": already built for " +
                                  std::to_string(features_) + " features, cannot build again for " +
                                  std::to_string(features));
    }
    return;
  }
  values_.clear();
  for (const WeightSpec& spec : specs_) {
    values_.push_back(this->register_parameter(spec.name, Variable<T>(draw(spec, features)),
                                               spec.regularizer, spec.constraint));
  }
  features_ = features;
}

template <typename T>
void LayerWeights<T>::check_built(std::string_view what) const {
  if (!built()) detail::throw_not_built(description_, std::string(what), build_call_, noun_);
}

template <typename T>
Variable<T> LayerWeights<T>::weight(std::string_view name) const {
  check_built(name);
  for (std::size_t i = 0; i < specs_.size(); ++i)
    if (specs_[i].name == name) return values_[i];
  throw std::logic_error(description_ + ": has no " + std::string(name));
}

template <typename T>
Variable<T> LayerWeights<T>::bias() const {
  check_built("bias");
  if (specs_.back().name != "bias") {
    throw std::logic_error(description_ + ": has no bias (use_bias is false)");
  }
  return values_.back();
}

template <typename T>
std::vector<Array<T>> LayerWeights<T>::weights() const {
  check_built("weights");
  std::vector<Array<T>> out;
  for (const Variable<T>& value : values_) out.push_back(value.value());
  return out;
}

template <typename T>
void LayerWeights<T>::set_weights(const std::vector<Array<T>>& weights) {
  const std::size_t expected_count = specs_.size();
  if (weights.size() != expected_count) {
    std::string names;
    for (const WeightSpec& spec : specs_) names += (names.empty() ? "" : ", ") + spec.name;
    throw std::invalid_argument(description_ + ": set_weights expects " +
                                std::to_string(expected_count) +
                                (expected_count == 1 ? " array (" : " arrays (") + names +
                                "), got " + std::to_string(weights.size()));
  }
  // Unbuilt: F from the kernel (the first weight), 0 if it is not [F, U].
  const std::size_t features =
      built() ? features_ : (weights[0].dimension() == 2 ? weights[0].shape()[0] : 0);
  for (std::size_t i = 0; i < weights.size(); ++i) {
    const Shape want = shape_of(specs_[i], features);
    const auto& got = weights[i].shape();
    if (features == 0 || !shapes_equal(want, got)) {
      throw std::invalid_argument(
          description_ + ": set_weights: " + specs_[i].name + " expected shape " +
          (features == 0 ? "(features, " + std::to_string(specs_[0].gates * units_) + ")"
                        : shape_to_string(want)) +
          ", got " + shape_to_string(got));
    }
  }
  build_for(features);
  for (std::size_t i = 0; i < weights.size(); ++i) values_[i].value() = weights[i];
}

template class LayerWeights<float>;
template class LayerWeights<double>;

}  // namespace xgrad::nn
