#include "xgrad/nn/simple_rnn.hpp"

namespace xgrad::nn {

template <typename T>
SimpleRNN<T>::SimpleRNN(SimpleRNNOptions options)
    : RecurrentLayer<T>("SimpleRNN", options,
                        CellSpec{CellSpec::Kind::simple_rnn, options.activation()},
                        recurrent_weight_specs(options)),
      options_(std::move(options)) {}

template class SimpleRNN<float>;
template class SimpleRNN<double>;

}  // namespace xgrad::nn
