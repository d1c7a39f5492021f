#include "xgrad/nn/simple_rnn_cell.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "xgrad/autograd/ops.hpp"
#include "xgrad/nn/dropout.hpp"

namespace xgrad::nn {


template <typename T>
SimpleRNNCell<T>::SimpleRNNCell(SimpleRNNCellOptions options)
    : LayerWeights<T>("SimpleRNNCell", options.name(), options.units(),
                      recurrent_weight_specs(options), "cell", "build({-1, F})"),
      options_(std::move(options)),
      own_generator_(options_.seed().value_or(0)) {
  check_dropout_rates(this->describe(), options_.dropout(), options_.recurrent_dropout());
}

template <typename T>
void SimpleRNNCell<T>::build(const std::vector<std::ptrdiff_t>& input_shape) {
  if (input_shape.empty() || input_shape.back() <= 0) {
    throw std::invalid_argument(this->describe() +
                                ": build expects an input shape (batch, features) with "
                                "features > 0 (batch may be -1), got " +
                                input_shape_to_string(input_shape));
  }
  this->build_for(static_cast<std::size_t>(input_shape.back()));
}

template <typename T>
Variable<T> SimpleRNNCell<T>::get_initial_state(std::size_t batch) const {
  return Variable<T>(zeros<T>({batch, options_.units()}));
}

template <typename T>
const Array<T>& SimpleRNNCell<T>::mask_for(std::optional<Array<T>>& kept, const Shape& shape,
                                           double rate) {
  if (!kept || !shapes_equal(kept->shape(), shape)) {
    kept = dropout_mask<T>(shape, rate, options_.seed() ? own_generator_ : generator());
  }
  return *kept;
}

template <typename T>
Variable<T> SimpleRNNCell<T>::forward(const Variable<T>& x, const Variable<T>& state,
                                      std::optional<bool> training) {
  if (x.dimension() != 2 || x.shape()[1] == 0) {
    throw std::invalid_argument(this->describe() +
                                ": expected a step of shape (batch, features), got " +
                                shape_to_string(x.shape()));
  }
  const std::size_t batch = x.shape()[0], units = options_.units();
  if (!this->built()) build({-1, static_cast<std::ptrdiff_t>(x.shape()[1])});
  const std::size_t features = this->input_features();
  if (x.shape()[1] != features) {
    throw std::invalid_argument(this->describe() + ": expected a step of shape (batch, " +
                                std::to_string(features) + "), got " + shape_to_string(x.shape()));
  }
  if (!shapes_equal(state.shape(), Shape{batch, units})) {
    throw std::invalid_argument(this->describe() + ": expected a state of shape " +
                                shape_to_string(Shape{batch, units}) + " for a step of shape " +
                                shape_to_string(x.shape()) + ", got " + shape_to_string(state.shape()));
  }
  const bool dropping = this->is_training() && training.value_or(true);
  Variable<T> input = x, previous = state;
  if (dropping && options_.dropout() > 0.0)
    input = mul(x, Variable<T>(mask_for(input_mask_, {batch, features}, options_.dropout())));
  if (dropping && options_.recurrent_dropout() > 0.0) {
    previous = mul(state, Variable<T>(mask_for(recurrent_mask_, {batch, units},
                                               options_.recurrent_dropout())));
  }
  Variable<T> pre_activation = matmul(input, this->kernel());
  if (options_.use_bias()) pre_activation = add(pre_activation, this->bias());
  pre_activation = add(pre_activation, matmul(previous, recurrent_kernel()));
  return apply_activation(options_.activation(), pre_activation);
}

template class SimpleRNNCell<float>;
template class SimpleRNNCell<double>;

}  // namespace xgrad::nn
