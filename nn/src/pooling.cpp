#include "xgrad/nn/pooling.hpp"

#include <stdexcept>
#include <utility>

#include "xgrad/autograd/math_ops.hpp"
#include "xgrad/autograd/ops.hpp"

namespace xgrad::nn {

namespace {
// The index of the steps axis for data_format; throws for another format.
std::size_t steps_axis_of(const std::string& layer, const std::string& data_format) {
  if (data_format == "channels_last") return 1;
  if (data_format == "channels_first") return 2;
  throw std::invalid_argument(layer + ": data_format must be \"channels_last\" or \"channels_first\", got \"" +
                              data_format + "\"");
}

// The steps axis of x, after checking that x is [B, T, F] ([B, F, T]).
template <typename T>
std::size_t steps_axis(const std::string& layer, const std::string& data_format, const Variable<T>& x) {
  const std::size_t axis = steps_axis_of(layer, data_format);
  if (x.dimension() != 3) {
    throw std::invalid_argument(layer + ": expected input of rank 3 " +
                                (axis == 1 ? "[batch, timesteps, features]" : "[batch, features, timesteps]") +
                                ", got shape " + shape_to_string(x.shape()));
  }
  if (x.shape()[axis] == 0) {
    throw std::invalid_argument(layer + ": input of shape " + shape_to_string(x.shape()) + " has no timesteps");
  }
  return axis;
}
}  // namespace

template <typename T>
GlobalAveragePooling1D<T>::GlobalAveragePooling1D(GlobalAveragePooling1DOptions options)
    : Module<T>(options.name()), options_(std::move(options)) {
  steps_axis_of("GlobalAveragePooling1D '" + options_.name() + "'", options_.data_format());
}

template <typename T>
Variable<T> GlobalAveragePooling1D<T>::forward(const Variable<T>& x, const std::optional<xt::xarray<bool>>& mask) {
  const auto scope = this->layer_scope();
  const std::string layer = "GlobalAveragePooling1D '" + options_.name() + "'";
  const std::size_t axis = steps_axis(layer, options_.data_format(), x);
  if (!mask) return mean(x, static_cast<std::ptrdiff_t>(axis), options_.keepdims());
  const std::size_t batch = x.shape()[0], steps = x.shape()[axis];
  if (mask->dimension() != 2 || mask->shape()[0] != batch || mask->shape()[1] != steps) {
    throw std::invalid_argument(layer + ": mask of shape " + shape_to_string(mask->shape()) +
                                " does not fit input of shape " + shape_to_string(x.shape()) + ": expected (" +
                                std::to_string(batch) + ", " + std::to_string(steps) + ")");
  }
  // Keras: x · m summed over the steps, divided by Σ_t m; both constant
  // factors broadcast, so the gradient of x is g · m / Σ_t m.
  Shape weights_shape{batch, steps, 1};
  if (axis == 2) weights_shape = {batch, 1, steps};
  Array<T> weights = Array<T>::from_shape(weights_shape);
  Array<T> counts = Array<T>::from_shape(options_.keepdims() ? Shape{batch, 1, 1} : Shape{batch, 1});
  for (std::size_t b = 0; b < batch; ++b) {
    T kept = 0;
    for (std::size_t t = 0; t < steps; ++t) {
      const T m = (*mask)(b, t) ? T(1) : T(0);
      weights.data()[b * steps + t] = m;
      kept += m;
    }
    counts.data()[b] = kept;
  }
  return div(sum(mul(x, Variable<T>(std::move(weights))), static_cast<std::ptrdiff_t>(axis), options_.keepdims()),
             Variable<T>(std::move(counts)));
}

template <typename T>
GlobalMaxPooling1D<T>::GlobalMaxPooling1D(GlobalMaxPooling1DOptions options)
    : Module<T>(options.name()), options_(std::move(options)) {
  steps_axis_of("GlobalMaxPooling1D '" + options_.name() + "'", options_.data_format());
}

template <typename T>
Variable<T> GlobalMaxPooling1D<T>::forward(const Variable<T>& x) {
  const auto scope = this->layer_scope();
  const std::size_t axis = steps_axis("GlobalMaxPooling1D '" + options_.name() + "'", options_.data_format(), x);
  return max(x, static_cast<std::ptrdiff_t>(axis), options_.keepdims());
}

template class GlobalAveragePooling1D<float>;
template class GlobalAveragePooling1D<double>;
template class GlobalMaxPooling1D<float>;
template class GlobalMaxPooling1D<double>;

}  // namespace xgrad::nn
