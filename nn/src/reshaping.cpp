#include "xgrad/nn/reshaping.hpp"

#include <functional>
#include <numeric>
#include <stdexcept>
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

template class RepeatVector<float>;
template class RepeatVector<double>;
template class Flatten<float>;
template class Flatten<double>;

}  // namespace xgrad::nn
