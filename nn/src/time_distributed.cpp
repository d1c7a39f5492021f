#include "xgrad/nn/time_distributed.hpp"

#include <stdexcept>

#include "xgrad/autograd/ops.hpp"

namespace xgrad::nn {

template <typename T>
std::string TimeDistributed<T>::describe() const {
  return "TimeDistributed '" + options_.name() + "'";
}

template <typename T>
void TimeDistributed<T>::set_layer(std::shared_ptr<Module<T>> layer) {
  if (!layer) throw std::invalid_argument(describe() + ": the layer is null");
  layer_ = std::move(layer);
  this->register_module("layer", layer_);
}

template <typename T>
Variable<T> TimeDistributed<T>::forward(const Variable<T>& x) {
  const auto scope = this->layer_scope();
  if (x.dimension() < 3) {
    throw std::invalid_argument(describe() + ": expected input of rank 3 or more [batch, timesteps, ...], got shape " +
                                shape_to_string(x.shape()));
  }
  const std::size_t batch = x.shape()[0], steps = x.shape()[1];
  Shape steps_as_batch{batch * steps};
  steps_as_batch.insert(steps_as_batch.end(), x.shape().begin() + 2, x.shape().end());
  const Variable<T> y = forward_(reshape(x, steps_as_batch));
  if (y.dimension() == 0 || y.shape()[0] != batch * steps) {
    throw std::invalid_argument(describe() + ": the layer '" + layer_->name() + "' turned the steps of input " +
                                shape_to_string(x.shape()) + ", as " + shape_to_string(steps_as_batch) + ", into " +
                                shape_to_string(y.shape()) + "; it must keep the " + std::to_string(batch * steps) +
                                " rows");
  }
  Shape out{batch, steps};
  out.insert(out.end(), y.shape().begin() + 1, y.shape().end());
  return reshape(y, out);
}

template class TimeDistributed<float>;
template class TimeDistributed<double>;

}  // namespace xgrad::nn
