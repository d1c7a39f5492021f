#include "xgrad/nn/simple_rnn_cell.hpp"

#include <utility>

namespace xgrad::nn {

template <typename T>
SimpleRNNCell<T>::SimpleRNNCell(SimpleRNNCellOptions options)
    : OneStateCell<T>("SimpleRNNCell", options.name(), options.units(), recurrent_weight_specs(options),
                       CellSpec{CellSpec::Kind::simple_rnn, options.activation()}, options.dropout(),
                       options.recurrent_dropout(), options.seed(), options.use_bias()),
      options_(std::move(options)) {}

template class SimpleRNNCell<float>;
template class SimpleRNNCell<double>;

}  // namespace xgrad::nn
