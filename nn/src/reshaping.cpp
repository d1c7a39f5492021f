#include "xgrad/nn/reshaping.hpp"

#include <functional>
#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "xgrad/autograd/ops.hpp"

namespace xgrad::nn {

template <typename T>
RepeatVector<T>::RepeatVector(RepeatVectorOptions options)
    : Module<T>(options.name()), options_(std::move(options)) {
  if (options_.n() == 0) {
    throw std::invalid_argument("RepeatVector '" + options_.name() + "': n must be positive, got 0");
  }
}

template <typename T>
Variable<T> RepeatVector<T>::forward(const Variable<T>& x) {
  const auto scope = this->layer_scope();
  if (x.dimension() != 2) {
    throw std::invalid_argument("RepeatVector '" + options_.name() +
                                "': expected input of rank 2 [batch, features], got shape " +
                                shape_to_string(x.shape()));
  }
  // stack's backward adds each step's gradient into x's: the sum over steps.
  return stack(std::vector<Variable<T>>(options_.n(), x), 1);
}

template <typename T>
Flatten<T>::Flatten(FlattenOptions options) : Module<T>(options.name()), options_(std::move(options)) {}

template <typename T>
Variable<T> Flatten<T>::forward(const Variable<T>& x) {
  const auto scope = this->layer_scope();
  if (x.dimension() == 0) {
    throw std::invalid_argument("Flatten '" + options_.name() +
                                "': expected input of rank 1 or more [batch, ...], got shape ()");
  }
  const std::size_t rest = std::accumulate(x.shape().begin() + 1, x.shape().end(), std::size_t{1},
                                           std::multiplies<std::size_t>());
  return reshape(x, Shape{x.shape()[0], rest});
}

namespace {
// "(batch, 2, -1)": a target shape as given, after the batch axis.
std::string target_to_string(const std::vector<std::ptrdiff_t>& shape) {
  std::string out = "(batch";
  for (const std::ptrdiff_t extent : shape) out += ", " + std::to_string(extent);
  return out + ")";
}
}  // namespace

template <typename T>
Reshape<T>::Reshape(ReshapeOptions options) : Module<T>(options.name()), options_(std::move(options)) {
  std::size_t unknown = 0;
  for (const std::ptrdiff_t extent : options_.target_shape()) {
    if (extent == -1) ++unknown;
    if (extent == 0 || extent < -1 || unknown > 1) {
      throw std::invalid_argument("Reshape '" + options_.name() + "': target_shape " +
                                  target_to_string(options_.target_shape()) +
                                  " must have positive entries and at most one -1");
    }
  }
}

template <typename T>
Variable<T> Reshape<T>::forward(const Variable<T>& x) {
  const auto scope = this->layer_scope();
  const auto mismatch = [&] {
    return std::invalid_argument("Reshape '" + options_.name() + "': cannot reshape input of shape " +
                                 shape_to_string(x.shape()) + " to " + target_to_string(options_.target_shape()));
  };
  if (x.dimension() == 0) throw mismatch();
  const std::size_t sample = std::accumulate(x.shape().begin() + 1, x.shape().end(), std::size_t{1},
                                             std::multiplies<std::size_t>());
  Shape out{x.shape()[0]};
  std::size_t known = 1, unknown_axis = 0;
  for (const std::ptrdiff_t extent : options_.target_shape()) {
    if (extent == -1) unknown_axis = out.size();
    out.push_back(extent == -1 ? 0 : static_cast<std::size_t>(extent));
    if (extent != -1) known *= static_cast<std::size_t>(extent);
  }
  if (unknown_axis) {
    if (sample % known != 0) throw mismatch();
    out[unknown_axis] = sample / known;
  } else if (known != sample) {
    throw mismatch();
  }
  return reshape(x, out);
}

template class RepeatVector<float>;
template class RepeatVector<double>;
template class Flatten<float>;
template class Flatten<double>;
template class Reshape<float>;
template class Reshape<double>;

}  // namespace xgrad::nn
