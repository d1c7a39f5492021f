#pragma once
// PyTorch torch.nn.RNN weights into an xgrad SimpleRNN.
//
// PyTorch computes h_t = act(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh), Keras
// and xgrad h_t = act(x_t · kernel + h_{t-1} · recurrent_kernel + bias), so
//
//   kernel           = weight_ih_l0ᵀ          weight_ih_l0 [U, F]
//   recurrent_kernel = weight_hh_l0ᵀ          weight_hh_l0 [U, U]
//   bias             = bias_ih_l0 + bias_hh_l0    each [U]
//
// The file is the state dict of a one-layer, unidirectional nn.RNN saved
// with NumPy, under the state dict's own names:
//
//   np.savez("rnn.npz", **{k: v.numpy() for k, v in rnn.state_dict().items()})
//
// (for an RNN inside a bigger module, take its own rnn.state_dict()). It must
// hold exactly weight_ih_l0, weight_hh_l0 and either both biases or neither
// (nn.RNN(bias=False)); anything else, such as weight_ih_l1 (num_layers > 1)
// or weight_ih_l0_reverse (bidirectional), is refused. The dtype must be the
// layer's (float32 for float, float64 for double), U the layer's units and,
// if the layer is built, F its input features; an unbuilt layer is built for
// the file's F.
//
// The import must reproduce torch's function exactly, so:
//   - a layer with use_bias and a file without biases gets bias = 0, which is
//     what nn.RNN(bias=False) computes;
//   - a layer without use_bias takes a file without biases, or one whose
//     bias_ih_l0 and bias_hh_l0 are both all zeros; other biases throw.
// The file holds only weights, not the nonlinearity: construct the layer
// with torch's (nonlinearity="tanh" is xgrad's default, "relu" is
// SimpleRNNOptions(U).activation("relu")). batch_first does not matter for
// the weights; xgrad's input is [B, T, F] as torch's with batch_first=True.
//
// Every entry is checked before the layer changes; a mismatch throws
// xgrad::IoError naming the file and the entry.

#include <string>

#include "xgrad/nn/simple_rnn.hpp"

namespace xgrad::nn {

template <typename T>
void load_torch_rnn_state_dict(SimpleRNN<T>& layer, const std::string& npz_path);

extern template void load_torch_rnn_state_dict(SimpleRNN<float>&, const std::string&);
extern template void load_torch_rnn_state_dict(SimpleRNN<double>&, const std::string&);

}  // namespace xgrad::nn
