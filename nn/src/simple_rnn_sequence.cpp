#include "xgrad/nn/simple_rnn_sequence.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "xgrad/tensor/activations.hpp"
#include "xgrad/tensor/blas.hpp"

namespace xgrad::nn {

namespace {

template <typename T>
void activate_in_place(Activation activation, T* values, std::size_t n) {
  switch (activation) {
    case Activation::linear: return;
    case Activation::tanh: return tanh_in_place(values, n);
    case Activation::relu: return relu_in_place(values, n);
    case Activation::sigmoid: return sigmoid_in_place(values, n);
  }
}

// grad[i] *= activation'(pre-activation), written with the output h[i].
template <typename T>
void scale_by_derivative(Activation activation, const T* h, T* grad, std::size_t n) {
  switch (activation) {
    case Activation::linear: return;
    case Activation::tanh:
      for (std::size_t i = 0; i < n; ++i) grad[i] *= T(1) - h[i] * h[i];
      return;
    case Activation::relu:
      for (std::size_t i = 0; i < n; ++i) grad[i] = h[i] > T(0) ? grad[i] : T(0);
      return;
    case Activation::sigmoid:
      for (std::size_t i = 0; i < n; ++i) grad[i] *= h[i] * (T(1) - h[i]);
      return;
  }
}

// Backward through time. `states` is h_1..h_T as [B, T, U]; `grad_states`
// the gradient reaching each h_t from outside the recurrence ([B, T, U], or
// only h_T's as [B, U] when `last_only`).
template <typename T>
void backward_through_time(Activation activation, const Array<T>& states,
                           const Array<T>& grad_states, bool last_only,
                           std::vector<Variable<T>>& in) {
  const Array<T>& x = in[0].value();
  const Array<T>& kernel = in[1].value();
  const Array<T>& recurrent_kernel = in[2].value();
  const std::size_t batch = x.shape()[0], steps = x.shape()[1], features = x.shape()[2];
  const std::size_t units = kernel.shape()[1];
  const std::size_t row = steps * units;  // stride between batch rows of one timestep

  // grad_pre[b, t] = d loss / d (pre-activation of h_t), built from the last
  // step back: dh_t = outside_t + grad_pre_{t+1} · R^T.
  Array<T> grad_pre = Array<T>::from_shape({batch, steps, units});
  for (std::size_t t = steps; t-- > 0;) {
    T* g = grad_pre.data() + t * units;
    for (std::size_t b = 0; b < batch; ++b) {
      T* dst = g + b * row;
      if (last_only) {
        if (t == steps - 1) std::copy_n(grad_states.data() + b * units, units, dst);
        else std::fill_n(dst, units, T(0));
      } else {
        std::copy_n(grad_states.data() + b * row + t * units, units, dst);
      }
    }
    if (t + 1 < steps) {
      gemm(false, true, batch, units, units, T(1), g + units, row, recurrent_kernel.data(), units,
           T(1), g, row);
    }
    for (std::size_t b = 0; b < batch; ++b)
      scale_by_derivative(activation, states.data() + b * row + t * units, g + b * row, units);
  }

  const std::size_t rows = batch * steps;
  if (in[0].requires_grad()) {  // dx = grad_pre · kernel^T, all timesteps at once
    Array<T>& dx = in[0].grad_buffer();
    gemm(false, true, rows, features, units, T(1), grad_pre.data(), units, kernel.data(), units,
         T(1), dx.data(), features);
  }
  if (in[1].requires_grad()) {  // d kernel = x^T · grad_pre over all (b, t)
    Array<T>& dk = in[1].grad_buffer();
    gemm(true, false, features, units, rows, T(1), x.data(), features, grad_pre.data(), units,
         T(1), dk.data(), units);
  }
  if (in[2].requires_grad()) {  // d R = sum_t h_{t-1}^T · grad_pre_t (zero for T = 1)
    Array<T>& dr = in[2].grad_buffer();
    for (std::size_t b = 0; b < batch && steps > 1; ++b) {
      gemm(true, false, units, units, steps - 1, T(1), states.data() + b * row, units,
           grad_pre.data() + b * row + units, units, T(1), dr.data(), units);
    }
  }
  if (in.size() > 3 && in[3].requires_grad()) {  // d bias = sum over (b, t)
    Array<T>& db = in[3].grad_buffer();
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t u = 0; u < units; ++u) db.data()[u] += grad_pre.data()[r * units + u];
  }
}

}  // namespace

template <typename T>
Variable<T> simple_rnn_sequence(const Variable<T>& x, const Variable<T>& kernel,
                                const Variable<T>& recurrent_kernel,
                                const std::optional<Variable<T>>& bias, Activation activation,
                                bool return_sequences) {
  const std::size_t batch = x.shape()[0], steps = x.shape()[1], features = x.shape()[2];
  const std::size_t units = kernel.shape()[1];
  const std::size_t row = steps * units;
  const T* r = recurrent_kernel.value().data();

  // states[b, t] = x[b, t] · kernel (+ bias), then the recurrence in place.
  Array<T> states = Array<T>::from_shape({batch, steps, units});
  gemm(false, false, batch * steps, units, features, T(1), x.value().data(), features,
       kernel.value().data(), units, T(0), states.data(), units);
  if (bias) {
    const T* b = bias->value().data();
    for (std::size_t i = 0; i < batch * steps; ++i)
      for (std::size_t u = 0; u < units; ++u) states.data()[i * units + u] += b[u];
  }
  for (std::size_t t = 0; t < steps; ++t) {
    T* h = states.data() + t * units;
    if (t > 0) gemm(false, false, batch, units, units, T(1), h - units, row, r, units, T(1), h, row);
    for (std::size_t b = 0; b < batch; ++b) activate_in_place(activation, h + b * row, units);
  }

  std::vector<Variable<T>> inputs{x, kernel, recurrent_kernel};
  if (bias) inputs.push_back(*bias);
  if (return_sequences) {
    return Variable<T>::from_op(
        std::move(states), std::move(inputs), "simple_rnn",
        [activation](const Array<T>& g, const Array<T>& output, std::vector<Variable<T>>& in) {
          backward_through_time(activation, output, g, false, in);
        });
  }
  Array<T> last = Array<T>::from_shape({batch, units});
  for (std::size_t b = 0; b < batch; ++b)
    std::copy_n(states.data() + b * row + (steps - 1) * units, units, last.data() + b * units);
  if (!any_requires_grad(inputs)) return Variable<T>(std::move(last));
  return Variable<T>::from_op(
      std::move(last), std::move(inputs), "simple_rnn",
      [activation, states = std::move(states)](const Array<T>& g, const Array<T>&,
                                               std::vector<Variable<T>>& in) {
        backward_through_time(activation, states, g, true, in);
      });
}

template Variable<float> simple_rnn_sequence(const Variable<float>&, const Variable<float>&,
                                             const Variable<float>&,
                                             const std::optional<Variable<float>>&, Activation,
                                             bool);
template Variable<double> simple_rnn_sequence(const Variable<double>&, const Variable<double>&,
                                              const Variable<double>&,
                                              const std::optional<Variable<double>>&, Activation,
                                              bool);

}  // namespace xgrad::nn
