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

template <typename T>
LSTMCell<T>::LSTMCell(LSTMCellOptions options)
    : RecurrentCell<T>("LSTMCell", options.name(), options.units(),
                       recurrent_weight_specs(options, 4, 1, options.unit_forget_bias()),
                       CellSpec{CellSpec::Kind::lstm, options.activation(), options.recurrent_activation()},
                       options.dropout(), options.recurrent_dropout(), options.seed(), options.use_bias()),
      options_(std::move(options)) {}

template class LSTMCell<float>;
template class LSTMCell<double>;

}  // namespace xgrad::nn
