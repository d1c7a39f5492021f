#pragma once
// PyTorch torch.nn.RNN, nn.LSTM and nn.GRU weights into xgrad's SimpleRNN,
// LSTM and GRU (Keras' layouts).
//
// Dimension letters: F input features, U units, G gates (RNN 1, LSTM 4,
// GRU 3). torch keeps a layer's weights as rows, weight_ih_l0 [G·U, F],
// weight_hh_l0 [G·U, U], bias_ih_l0 and bias_hh_l0 [G·U]; Keras as columns,
// kernel [F, G·U], recurrent_kernel [U, G·U].
//
//   nn.RNN   h_t = act(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh), so
//              kernel           = weight_ih_l0ᵀ
//              recurrent_kernel = weight_hh_l0ᵀ
//              bias [U]         = bias_ih_l0 + bias_hh_l0
//   nn.LSTM  the same three lines (bias [4U]): torch's gate rows i, f, g, o
//            are Keras' column blocks i, f, c, o, and each gate adds both
//            biases.
//   nn.GRU   torch's gate rows r, z, n are Keras' blocks r, z, h in the
//            order z, r, h, so every block is moved (Keras' z = torch's
//            block 1, r = block 0, h = block 2):
//              kernel           = (weight_ih_l0 rows [z, r, n])ᵀ
//              recurrent_kernel = (weight_hh_l0 rows [z, r, n])ᵀ
//              bias [2, 3U]     = {bias_ih_l0 blocks [z, r, n],     (row 0: input)
//                                  bias_hh_l0 blocks [z, r, n]}     (row 1: recurrent)
//            torch's n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)) is Keras'
//            reset_after=True (its default); a GRU with reset_after false
//            is refused (std::invalid_argument).
//
// The file is the module's state dict saved with NumPy, under its own names:
//
//   np.savez("lstm.npz", **{k: v.numpy() for k, v in lstm.state_dict().items()})
//
// (for a module inside a bigger one, take its own lstm.state_dict()). The
// one-layer functions take exactly weight_ih_l0, weight_hh_l0 and either
// both biases or neither (bias=False); an entry of another layer (_l1) or
// direction (_reverse) is refused, naming load_torch_recurrent_state_dict.
// The dtype must be the layer's (float32 for float, float64 for double), U
// the layer's units and, if the layer is built, F its input features; an
// unbuilt layer is built for the file's F.
//
// The import must reproduce torch's function exactly, so:
//   - a layer with use_bias and a file without biases gets bias = 0, which is
//     what bias=False computes;
//   - a layer without use_bias takes a file without biases, or one whose
//     biases are all zeros; other biases throw;
//   - LSTM and GRU must have Keras' default activations (activation tanh,
//     recurrent_activation sigmoid), which are torch's; std::invalid_argument
//     otherwise. nn.RNN's file does not say its nonlinearity: construct the
//     SimpleRNN with torch's (tanh is the default, "relu" is
//     SimpleRNNOptions(U).activation("relu")).
// batch_first does not matter for the weights; xgrad's input is [B, T, F]
// as torch's with batch_first=True. torch's h_0 (and c_0) [1, B, U] are
// RecurrentCall().initial_state({h0[0], c0[0]}); its h_n[0] (c_n[0]) are
// forward_with_state's states.
//
// Every entry is checked before any layer changes; a mismatch throws
// xgrad::IoError naming the file and the entry (with both shapes for a
// shape, both dtypes for a dtype).

#include <string>

#include "xgrad/nn/gru.hpp"
#include "xgrad/nn/lstm.hpp"
#include "xgrad/nn/sequential.hpp"
#include "xgrad/nn/simple_rnn.hpp"

namespace xgrad::nn {

// One-layer, unidirectional nn.RNN, nn.LSTM, nn.GRU.
template <typename T>
void load_torch_rnn_state_dict(SimpleRNN<T>& layer, const std::string& npz_path);
template <typename T>
void load_torch_lstm_state_dict(LSTM<T>& layer, const std::string& npz_path);
template <typename T>
void load_torch_gru_state_dict(GRU<T>& layer, const std::string& npz_path);

// An nn.RNN, nn.LSTM or nn.GRU with any num_layers, bidirectional or not,
// into a Sequential: torch's layer k (entries _l<k>) goes to the model's
// k-th recurrent layer, a SimpleRNN, LSTM or GRU as the module (a
// Bidirectional of one when torch's is bidirectional: _l<k> to its
// forward_layer(), _l<k>_reverse to its backward_layer()).
//
//   nn.LSTM(3, 8, num_layers=2, bidirectional=True, batch_first=True) is
//   Sequential{Bidirectional(LSTMOptions(8).return_sequences(true)),
//              Bidirectional(LSTMOptions(8).return_sequences(true))}
//   whose output is torch's y, [B, T, 2U]: forward h, then backward h.
//
// Layers before the first recurrent layer (Masking, Embedding) and after
// the last (a Dense head) are left as they are; between two recurrent
// layers only Dropout may stand (torch's dropout option). The model must
// have as many recurrent layers as the file has layers, all of one kind,
// all Bidirectional or none; every one but the last must return_sequences
// and, if Bidirectional, merge by "concat" (torch feeds layer k+1 the
// concatenation). std::invalid_argument names the layer otherwise;
// std::invalid_argument and IoError are thrown before any layer changes.
template <typename T>
void load_torch_recurrent_state_dict(Sequential<T>& model, const std::string& npz_path);

extern template void load_torch_rnn_state_dict(SimpleRNN<float>&, const std::string&);
extern template void load_torch_rnn_state_dict(SimpleRNN<double>&, const std::string&);
extern template void load_torch_lstm_state_dict(LSTM<float>&, const std::string&);
extern template void load_torch_lstm_state_dict(LSTM<double>&, const std::string&);
extern template void load_torch_gru_state_dict(GRU<float>&, const std::string&);
extern template void load_torch_gru_state_dict(GRU<double>&, const std::string&);
extern template void load_torch_recurrent_state_dict(Sequential<float>&, const std::string&);
extern template void load_torch_recurrent_state_dict(Sequential<double>&, const std::string&);

}  // namespace xgrad::nn
