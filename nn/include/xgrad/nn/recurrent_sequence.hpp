#pragma once
// The fused recurrent engine: a whole sequence of SimpleRNN, LSTM or GRU as
// one graph node, forward and backward through time written by hand. The
// recurrent layers (recurrent.hpp) use it; their composed paths build the
// same functions from primitive ops and are its reference in the tests.
//
// Letters: B batch, T timesteps, F input features, U units, G gates per unit
// (SimpleRNN 1, LSTM 4, GRU 3), S states (LSTM 2: h and c; else 1: h).
//
//   x [B, T, F], kernel [F, G·U], recurrent_kernel [U, G·U],
//   bias [G·U] (GRU with reset_after: [2, G·U], input bias then recurrent bias)
//
// With s = 1..T the processing steps, t(s) the timestep step s reads (s, or
// T + 1 − s with go_backwards), z_s = x_t(s) · kernel (+ input bias) and
// r_s = (h_{s−1} ⊙ d) · recurrent_kernel, split into G column blocks of U
// in Keras' gate order (σ: recurrent_activation, φ: activation):
//
//   SimpleRNN  h_s = φ(z_s + r_s)
//   LSTM       i, f, g, o = σ(.), σ(.), φ(.), σ(.) of z_s + r_s (+ bias)
//              c_s = f ⊙ c_{s−1} + i ⊙ g,  h_s = o ⊙ φ(c_s)
//   GRU        u = σ(z_u + r_u), q = σ(z_q + r_q) (Keras' z and r gates)
//              reset_after:  ĥ = φ(z_h + q ⊙ (r_h + recurrent bias_h))
//                            (r_u, r_q also carry the recurrent bias)
//              reset_before: ĥ = φ(z_h + (q ⊙ h_{s−1} ⊙ d) · recurrent_kernel_h)
//              h_s = u ⊙ h_{s−1} + (1 − u) ⊙ ĥ
//
// Masks: at a masked step of row b every state is kept (h_s = h_{s−1},
// c_s = c_{s−1}); the output y_s is h_s once some step ≤ s of row b was
// unmasked and zeros before (with zero_output_for_mask, zeros at every
// masked step). d [B, U] is one recurrent-dropout mask for every gate
// (1 when absent). h_0, c_0 are the initial states (zeros when absent).
//
//   output  [B, T, U] = y_1 .. y_T in processing order with return_sequences
//           (reversed time with go_backwards, as Keras), else y_T [B, U]
//   states  h_T (and c_T) [B, U]
//
// Forward: one GEMM projects all timesteps, then per step the recurrent
// product(s) ([B, U]·[U, G·U]) written in place into a [B, T, G·U] buffer;
// scratch buffers are made once per call. Backward: per step the recurrent
// product(s) with recurrent_kernel^T (formed once); then the input's, the
// kernel's and the recurrent kernel's gradients as single GEMMs over all
// B·T rows of a [B, T, G·U] buffer of pre-activation gradients. The
// per-step products run through a GemmKernel per product site, made once
// per call (tensor/blas.hpp: a LIBXSMM kernel for the small shapes).

#include <cstddef>
#include <optional>
#include <vector>

#include <xtensor/xarray.hpp>

#include "xgrad/autograd/variable.hpp"
#include "xgrad/nn/activation.hpp"

namespace xgrad::nn {

// Which cell, and its maths' options.
struct CellSpec {
  enum class Kind { simple_rnn, lstm, gru };

  Kind kind = Kind::simple_rnn;
  Activation activation = Activation::tanh;             // φ
  Activation recurrent_activation = Activation::sigmoid;  // σ (LSTM, GRU)
  bool reset_after = true;                              // GRU only

  std::size_t gates() const { return kind == Kind::lstm ? 4 : kind == Kind::gru ? 3 : 1; }
  std::size_t states() const { return kind == Kind::lstm ? 2 : 1; }
  // Rows of the bias: 2 for a GRU with reset_after, else 1 (a vector).
  std::size_t bias_rows() const { return kind == Kind::gru && reset_after ? 2 : 1; }
};

// A recurrent layer's result: the output and the final states in Keras'
// order, [h] or [h, c]. `state` is h (states[0]), the name SimpleRNN's users
// know.
template <typename T>
struct RecurrentOutput {
  Variable<T> output;               // [B, T, U] or [B, U]
  std::vector<Variable<T>> states;  // each [B, U]; empty unless asked for
  Variable<T> state;                // h_T [B, U]; the output unless states were asked for
};

// Everything but the weights. Input dropout is not here: it is a plain
// mul(x, mask) before the node.
template <typename T>
struct RecurrentSequenceArgs {
  CellSpec cell;
  bool return_sequences = false;
  // Also return the final states as Variables (else `states` stays empty).
  bool return_state = false;
  bool go_backwards = false;
  bool zero_output_for_mask = false;
  std::vector<Variable<T>> initial_states;         // none (zeros) or S of [B, U], differentiable
  std::optional<xt::xarray<bool>> mask;            // [B, T], in input time order
  std::optional<Array<T>> recurrent_dropout_mask;  // d [B, U], constant
};

// Shapes must already be checked by the caller (the layers do).
template <typename T>
RecurrentOutput<T> recurrent_sequence(const Variable<T>& x, const Variable<T>& kernel,
                                      const Variable<T>& recurrent_kernel,
                                      const std::optional<Variable<T>>& bias,
                                      const RecurrentSequenceArgs<T>& args);

extern template RecurrentOutput<float> recurrent_sequence(
    const Variable<float>&, const Variable<float>&, const Variable<float>&,
    const std::optional<Variable<float>>&, const RecurrentSequenceArgs<float>&);
extern template RecurrentOutput<double> recurrent_sequence(
    const Variable<double>&, const Variable<double>&, const Variable<double>&,
    const std::optional<Variable<double>>&, const RecurrentSequenceArgs<double>&);

}  // namespace xgrad::nn
