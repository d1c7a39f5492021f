#include "xgrad/nn/pooling.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <utility>
#include <vector>

#include "xgrad/autograd/math_ops.hpp"
#include "xgrad/autograd/ops.hpp"
#include "step_windows.hpp"

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

template <typename T>
Pooling1D<T>::Pooling1D(Pooling1DOptions options, Reduce reduce, const std::string& kind,
                        const std::string& default_name)
    : Module<T>(options.name().empty() ? default_name : options.name()),
      options_(std::move(options)),
      reduce_(reduce),
      kind_(kind) {
  if (options_.name().empty()) options_.name(default_name);
  if (options_.pool_size() == 0 || stride() == 0) {
    throw std::invalid_argument(describe() + ": pool_size and strides must be positive, got " +
                                std::to_string(options_.pool_size()) + " and " + std::to_string(stride()));
  }
  if (options_.padding() != "valid" && options_.padding() != "same") {
    throw std::invalid_argument(describe() + ": padding must be \"valid\" or \"same\", got \"" +
                                options_.padding() + "\"");
  }
}

template <typename T>
std::string Pooling1D<T>::describe() const {
  return kind_ + " '" + options_.name() + "'";
}

template <typename T>
std::size_t Pooling1D<T>::output_steps(std::size_t steps) const {
  return detail::window_count(steps, options_.pool_size(), stride(), options_.padding() == "same");
}

template <typename T>
Variable<T> Pooling1D<T>::forward(const Variable<T>& x) {
  const auto scope = this->layer_scope();
  if (x.dimension() != 3) {
    throw std::invalid_argument(describe() + ": expected input of rank 3 [batch, timesteps, features], got shape " +
                                shape_to_string(x.shape()));
  }
  const std::size_t steps = x.shape()[1];
  const std::size_t pool = options_.pool_size(), s = stride(), out_steps = output_steps(steps);
  if (out_steps == 0) {
    throw std::invalid_argument(describe() + ": input of shape " + shape_to_string(x.shape()) + " has " +
                                std::to_string(steps) + " steps, fewer than pool_size " + std::to_string(pool));
  }
  // "same": the steps the edge windows run past (none for "valid"), padded
  // with what the max never picks (every window holds a real step; the
  // lowest finite value, not -inf, which DetectAnomaly would stop at), or
  // what the sum does not feel (0).
  const detail::StepPadding pad = detail::same_padding(steps, out_steps, pool, s);
  const T fill = reduce_ == Reduce::max ? std::numeric_limits<T>::lowest() : T(0);
  const Variable<T> padded = detail::pad_steps(x, pad, fill);
  std::vector<Variable<T>> windows;
  for (std::size_t j = 0; j < pool; ++j) windows.push_back(detail::window_steps(padded, j, out_steps, s));
  if (reduce_ == Reduce::max) return max(stack(windows, 3), 3);
  Variable<T> total_sum = windows[0];
  for (std::size_t j = 1; j < pool; ++j) total_sum = total_sum + windows[j];
  // Each window's count of real steps (all pool_size but at padded edges).
  Array<T> counts = Array<T>::from_shape({1, out_steps, 1});
  for (std::size_t t = 0; t < out_steps; ++t) {
    const std::size_t first = t * s, last = first + pool;  // in padded steps
    const std::size_t real_first = std::max(first, pad.before), real_last = std::min(last, pad.before + steps);
    counts.data()[t] = static_cast<T>(real_last - real_first);
  }
  return div(total_sum, Variable<T>(std::move(counts)));
}

template class Pooling1D<float>;
template class Pooling1D<double>;
template class GlobalAveragePooling1D<float>;
template class GlobalAveragePooling1D<double>;
template class GlobalMaxPooling1D<float>;
template class GlobalMaxPooling1D<double>;

}  // namespace xgrad::nn
