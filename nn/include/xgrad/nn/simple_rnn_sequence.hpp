#pragma once
// The fused SimpleRNN: a whole sequence as one graph node, forward and
// backward through time written by hand. SimpleRNN::forward uses it;
// SimpleRNN::forward_composed builds the same function from primitive ops
// and is its reference in the tests.
//
// Letters as in simple_rnn.hpp: x [B, T, F], kernel [F, U],
// recurrent_kernel [U, U], bias [U], h_0 the initial state [B, U] (zeros
// when absent), m[b, t] the mask (1 when absent), d the recurrent dropout
// mask [B, U] (1 when absent). With s = 1..T the processing steps and t(s)
// the timestep step s reads (s, or T + 1 − s with go_backwards):
//
//   c_s = activation(x_t(s) · kernel + (h_{s−1} ⊙ d) · recurrent_kernel + bias)
//   h_s = m[b, t(s)] ? c_s : h_{s−1}                  (row b of each)
//   y_s = o_s ⊙ h_s, o_s = m[b, t(s)] with zero_output_for_mask, else
//         1 once some step ≤ s of row b was unmasked (so a masked step
//         repeats the previous output, zeros before the first kept step)
//
//   output  [B, T, U] = y_1 .. y_T in processing order with return_sequences
//           (reversed time with go_backwards, as Keras), else y_T [B, U]
//   state   h_T [B, U]
//
// Forward: one GEMM projects all timesteps, then one [B, U]·[U, U] GEMM per
// step, written in place into a [B, T, U] buffer; scratch buffers are made
// once per call, none per step. Backward: one GEMM per step for the
// recurrence, then one GEMM each for the input's and the kernel's gradients
// over all timesteps, one per batch row for the recurrent kernel's, and one
// for the initial state's term. Each option costs nothing when it is off.

#include <optional>

#include <xtensor/xarray.hpp>

#include "xgrad/autograd/variable.hpp"
#include "xgrad/nn/activation.hpp"

namespace xgrad::nn {

// A recurrent layer's result when the final state is asked for too.
template <typename T>
struct SimpleRNNOutput {
  Variable<T> output;  // [B, T, U] or [B, U]
  Variable<T> state;   // [B, U]
};

// Everything but the weights. Input dropout is not here: it is a plain
// mul(x, mask) before the node.
template <typename T>
struct SimpleRNNSequenceArgs {
  Activation activation = Activation::tanh;
  bool return_sequences = false;
  // Also return h_T as a Variable (else SimpleRNNOutput::state stays empty).
  bool return_state = false;
  bool go_backwards = false;
  bool zero_output_for_mask = false;
  std::optional<Variable<T>> initial_state;        // [B, U], differentiable
  std::optional<xt::xarray<bool>> mask;            // [B, T], in input time order
  std::optional<Array<T>> recurrent_dropout_mask;  // [B, U], constant
};

// Shapes must already be checked by the caller (SimpleRNN does). Without a
// mask, the state is the output's last step: the output itself (same node)
// for return_sequences false, a select of it otherwise. With a mask and
// return_state, the node holds output and state side by side and each is a
// slice of it.
template <typename T>
SimpleRNNOutput<T> simple_rnn_sequence(const Variable<T>& x, const Variable<T>& kernel,
                                       const Variable<T>& recurrent_kernel,
                                       const std::optional<Variable<T>>& bias,
                                       const SimpleRNNSequenceArgs<T>& args);

// The plain form: h_0 = 0, no mask, no dropout, forward in time.
template <typename T>
Variable<T> simple_rnn_sequence(const Variable<T>& x, const Variable<T>& kernel,
                                const Variable<T>& recurrent_kernel,
                                const std::optional<Variable<T>>& bias, Activation activation,
                                bool return_sequences);

#define XGRAD_DECLARE_SIMPLE_RNN_SEQUENCE(T)                                                    \
  extern template SimpleRNNOutput<T> simple_rnn_sequence(                                      \
      const Variable<T>&, const Variable<T>&, const Variable<T>&,                              \
      const std::optional<Variable<T>>&, const SimpleRNNSequenceArgs<T>&);                      \
  extern template Variable<T> simple_rnn_sequence(const Variable<T>&, const Variable<T>&,      \
                                                  const Variable<T>&,                          \
                                                  const std::optional<Variable<T>>&,           \
                                                  Activation, bool);
XGRAD_DECLARE_SIMPLE_RNN_SEQUENCE(float)
XGRAD_DECLARE_SIMPLE_RNN_SEQUENCE(double)
#undef XGRAD_DECLARE_SIMPLE_RNN_SEQUENCE

}  // namespace xgrad::nn
