#include "xgrad/nn/lstm.hpp"

namespace xgrad::nn {

template <typename T>
LSTM<T>::LSTM(LSTMOptions options)
    : RecurrentLayer<T>("LSTM", options,
                        CellSpec{CellSpec::Kind::lstm, options.activation(), options.recurrent_activation()},
                        recurrent_weight_specs(options, 4, 1, options.unit_forget_bias())),
      options_(std::move(options)) {}

template class LSTM<float>;
template class LSTM<double>;

}  // namespace xgrad::nn
