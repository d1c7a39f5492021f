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

}  // namespace xgrad::nn
