#include "xgrad/nn/gru.hpp"

namespace xgrad::nn {

template <typename T>
GRU<T>::GRU(GRUOptions options)
    : RecurrentLayer<T>("GRU", options,
                        CellSpec{CellSpec::Kind::gru, options.activation(), options.recurrent_activation(),
                                 options.reset_after()},
                        recurrent_weight_specs(options, 3, options.reset_after() ? 2 : 1)),
      options_(std::move(options)) {}

template class GRU<float>;
template class GRU<double>;

template <typename T>
GRUCell<T>::GRUCell(GRUCellOptions options)
    : OneStateCell<T>("GRUCell", options.name(), options.units(),
                       recurrent_weight_specs(options, 3, options.reset_after() ? 2 : 1),
                       CellSpec{CellSpec::Kind::gru, options.activation(), options.recurrent_activation(),
                                options.reset_after()},
                       options.dropout(), options.recurrent_dropout(), options.seed(), options.use_bias()),
      options_(std::move(options)) {}

template class GRUCell<float>;
template class GRUCell<double>;

}  // namespace xgrad::nn
