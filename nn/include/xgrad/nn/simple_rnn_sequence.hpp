#pragma once
// The fused SimpleRNN: a whole sequence as one graph node, forward and
// backward through time written by hand. SimpleRNN::forward uses it;
// SimpleRNN::forward_composed builds the same function from primitive ops
// and is its reference in the tests.
//
// Letters and formula as in simple_rnn.hpp: x [B, T, F], kernel [F, U],
// recurrent_kernel [U, U], bias [U];
// h_t = activation(x_t · kernel + h_{t-1} · recurrent_kernel + bias), h_0 = 0.
//
// Forward: one GEMM projects all timesteps, then one [B, U]·[U, U] GEMM per
// step, written in place into the [B, T, U] output. Backward: one GEMM per
// step for the recurrence, then one GEMM each for the input's and the
// kernel's gradients over all timesteps, and one per batch row for the
// recurrent kernel's.

#include <optional>

#include "xgrad/autograd/variable.hpp"
#include "xgrad/nn/activation.hpp"

namespace xgrad::nn {

// Returns [B, T, U] with return_sequences, else [B, U]. Shapes must already
// be checked by the caller (SimpleRNN does).
template <typename T>
Variable<T> simple_rnn_sequence(const Variable<T>& x, const Variable<T>& kernel,
                                const Variable<T>& recurrent_kernel,
                                const std::optional<Variable<T>>& bias, Activation activation,
                                bool return_sequences);

extern template Variable<float> simple_rnn_sequence(const Variable<float>&, const Variable<float>&,
                                                    const Variable<float>&,
                                                    const std::optional<Variable<float>>&,
                                                    Activation, bool);
extern template Variable<double> simple_rnn_sequence(const Variable<double>&,
                                                     const Variable<double>&,
                                                     const Variable<double>&,
                                                     const std::optional<Variable<double>>&,
                                                     Activation, bool);

}  // namespace xgrad::nn
