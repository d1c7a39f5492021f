#pragma once
// Elementwise activation kernels over contiguous memory, vectorised with
// xsimd. The ops (tanh, sigmoid, relu, ...) and the fused SimpleRNN both use
// them: glibc's scalar tanhf alone took 70% of a small RNN's forward pass.
//
// The formulas are Keras 3's (keras/src/activations/activations.py):
//   sigmoid(x)       1 / (1 + e^-x)
//   hard_sigmoid(x)  relu6(x + 3) / 6 = min(max(x + 3, 0), 6) / 6
//   softsign(x)      x / (1 + |x|)
//   elu(x)           x for x > 0, alpha · (e^x − 1) otherwise
//   selu(x)          scale · elu(x) with alpha = 1.6732632423543772,
//                    scale = 1.0507009873554805 (Klambauer et al., 2017)
//   exp(x)           e^x (Keras' "exponential")

#include <cmath>
#include <cstddef>
#include <utility>

#include "xgrad/tensor/tensor.hpp"

namespace xgrad {

// SELU's constants, as Keras and TensorFlow define them.
inline constexpr double selu_alpha = 1.6732632423543772848170429916717;
inline constexpr double selu_scale = 1.0507009873554804934193349852946;

// out[i] = a[i] + b[i] (−, ×): the ops' elementwise loops, and a bias added
// right before an activation, at the activation kernels' vector width (a
// narrower store followed by their wider load of the same bytes stalls the
// CPU). out may be a or b.
void add_into(const float* a, const float* b, float* out, std::size_t n);
void add_into(const double* a, const double* b, double* out, std::size_t n);
void subtract_into(const float* a, const float* b, float* out, std::size_t n);
void subtract_into(const double* a, const double* b, double* out, std::size_t n);
void multiply_into(const float* a, const float* b, float* out, std::size_t n);
void multiply_into(const double* a, const double* b, double* out, std::size_t n);
// out[i] = a[i] · 2b[i] (square's backward: g ⊙ 2x).
void doubled_product_into(const float* a, const float* b, float* out, std::size_t n);
void doubled_product_into(const double* a, const double* b, double* out, std::size_t n);
// The same with one value a in place of every a[i]: out[i] = a · (b[i] + b[i]).
void doubled_product_into(float a, const float* b, float* out, std::size_t n);
void doubled_product_into(double a, const double* b, double* out, std::size_t n);
// The same over `rows` rows of n in one call: out[r·n + i] = a[r·a_ld + i] ∘
// b[r·b_ld + i], an ld of 0 repeating one row (a broadcast operand).
void add_rows(const float* a, std::size_t a_ld, const float* b, std::size_t b_ld, float* out, std::size_t rows,
              std::size_t n);
void add_rows(const double* a, std::size_t a_ld, const double* b, std::size_t b_ld, double* out,
              std::size_t rows, std::size_t n);
void subtract_rows(const float* a, std::size_t a_ld, const float* b, std::size_t b_ld, float* out,
                   std::size_t rows, std::size_t n);
void subtract_rows(const double* a, std::size_t a_ld, const double* b, std::size_t b_ld, double* out,
                   std::size_t rows, std::size_t n);
void multiply_rows(const float* a, std::size_t a_ld, const float* b, std::size_t b_ld, float* out,
                   std::size_t rows, std::size_t n);
void multiply_rows(const double* a, std::size_t a_ld, const double* b, std::size_t b_ld, double* out,
                   std::size_t rows, std::size_t n);

// Row r of out (at out + r·out_ld) = row r of in (at in + r·in_ld), n
// elements each, at the kernels' vector width (the next op's loads of the
// same bytes then wait on no narrower stores). in and out must not overlap.
void copy_rows(const float* in, std::size_t in_ld, float* out, std::size_t out_ld, std::size_t rows,
               std::size_t n);
void copy_rows(const double* in, std::size_t in_ld, double* out, std::size_t out_ld, std::size_t rows,
               std::size_t n);
// The same adding: row r of out += row r of in (a slice's gradient into its
// place in the whole). in and out must not overlap.
void add_rows_into(const float* in, std::size_t in_ld, float* out, std::size_t out_ld, std::size_t rows,
                   std::size_t n);
void add_rows_into(const double* in, std::size_t in_ld, double* out, std::size_t out_ld, std::size_t rows,
                   std::size_t n);

// out[i] = value (xtensor's fill of an array of a shape and a value runs one
// element at a time).
void fill_into(float* out, std::size_t n, float value);
void fill_into(double* out, std::size_t n, double value);

// out[i] = Σ_r a[r·n + i] over `rows` contiguous rows of n (a bias's
// gradient), added in row order from zero.
void sum_rows_into(const float* a, std::size_t rows, std::size_t n, float* out);
void sum_rows_into(const double* a, std::size_t rows, std::size_t n, double* out);

void tanh_in_place(float* values, std::size_t n);
void tanh_in_place(double* values, std::size_t n);
// 1 / (1 + e^-x), with no overflow for large |x|.
void sigmoid_in_place(float* values, std::size_t n);
void sigmoid_in_place(double* values, std::size_t n);
void relu_in_place(float* values, std::size_t n);
void relu_in_place(double* values, std::size_t n);
void hard_sigmoid_in_place(float* values, std::size_t n);
void hard_sigmoid_in_place(double* values, std::size_t n);
void softsign_in_place(float* values, std::size_t n);
void softsign_in_place(double* values, std::size_t n);
// e^x − 1 is computed as expm1(x), exact near 0.
void elu_in_place(float* values, std::size_t n, float alpha = 1.0f);
void elu_in_place(double* values, std::size_t n, double alpha = 1.0);
void selu_in_place(float* values, std::size_t n);
void selu_in_place(double* values, std::size_t n);
void exp_in_place(float* values, std::size_t n);
void exp_in_place(double* values, std::size_t n);

// The same, out of place: out[i] = f(x[i]), one pass over both (out may be
// x): an op's forward pass writes its new array directly, rather than
// copying x and then activating the copy.
void tanh_into(const float* x, float* out, std::size_t n);
void tanh_into(const double* x, double* out, std::size_t n);
void sigmoid_into(const float* x, float* out, std::size_t n);
void sigmoid_into(const double* x, double* out, std::size_t n);
void relu_into(const float* x, float* out, std::size_t n);
void relu_into(const double* x, double* out, std::size_t n);
void hard_sigmoid_into(const float* x, float* out, std::size_t n);
void hard_sigmoid_into(const double* x, double* out, std::size_t n);
void softsign_into(const float* x, float* out, std::size_t n);
void softsign_into(const double* x, double* out, std::size_t n);
void elu_into(const float* x, float* out, std::size_t n, float alpha = 1.0f);
void elu_into(const double* x, double* out, std::size_t n, double alpha = 1.0);
void selu_into(const float* x, float* out, std::size_t n);
void selu_into(const double* x, double* out, std::size_t n);
void exp_into(const float* x, float* out, std::size_t n);
void exp_into(const double* x, double* out, std::size_t n);

// sigmoid of one value, 1 / (1 + e^-x) without overflow for either sign
// of x: for the scalar loops of ops and losses whose values or gradients
// need it.
template <typename T>
T stable_sigmoid(T x) {
  if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
  const T e = std::exp(x);
  return e / (T(1) + e);
}

// The activations by Keras name (nn::Activation is this enum; linear is x,
// elu has alpha 1). Those from softplus on have no row kernels below: their
// derivatives need the input (softplus ... mish), or they are not
// elementwise (softmax and log_softmax, along the last axis); the layers
// apply them as autograd ops (xgrad::softplus, ..., xgrad::softmax).
enum class Activation {
  linear, tanh, relu, sigmoid, hard_sigmoid, softsign, elu, selu, exponential,
  softplus, relu6, leaky_relu, silu, gelu, mish, softmax, log_softmax
};

// Whether activate_rows and activation_backward_rows take f (linear up to
// exponential); they throw std::invalid_argument for the others.
bool has_row_kernels(Activation f);

// A recurrent layer's pointwise step over `rows` rows of n elements, row r
// at values + r·ld (a step's rows of a [B, T, W] buffer), in one call:
// values = f(values + bias) (bias null: none). Every element gets the value
// f's _in_place kernel gives it.
void activate_rows(Activation f, float* values, std::size_t rows, std::size_t n, std::size_t ld,
                   const float* bias = nullptr);
void activate_rows(Activation f, double* values, std::size_t rows, std::size_t n, std::size_t ld,
                   const double* bias = nullptr);

// Backward kernels: grad[i] *= f'(x_i), written with the output y_i = f(x_i)
// alone, so that a fused layer can keep outputs and no pre-activations:
//   tanh          1 − y²
//   sigmoid       y · (1 − y)
//   relu          1 where y > 0, else 0
//   hard_sigmoid  1/6 where 0 < y < 1, else 0
//   softsign      (1 − |y|)² = 1 / (1 + |x|)²
//   elu           1 where y > 0, else y + alpha      (alpha · e^x)
//   selu          scale where y > 0, else y + scale · alpha
//   exp           y
void tanh_backward(const float* y, float* grad, std::size_t n);
void tanh_backward(const double* y, double* grad, std::size_t n);
void sigmoid_backward(const float* y, float* grad, std::size_t n);
void sigmoid_backward(const double* y, double* grad, std::size_t n);
void relu_backward(const float* y, float* grad, std::size_t n);
void relu_backward(const double* y, double* grad, std::size_t n);
void hard_sigmoid_backward(const float* y, float* grad, std::size_t n);
void hard_sigmoid_backward(const double* y, double* grad, std::size_t n);
void softsign_backward(const float* y, float* grad, std::size_t n);
void softsign_backward(const double* y, double* grad, std::size_t n);
void elu_backward(const float* y, float* grad, std::size_t n, float alpha = 1.0f);
void elu_backward(const double* y, double* grad, std::size_t n, double alpha = 1.0);
void selu_backward(const float* y, float* grad, std::size_t n);
void selu_backward(const double* y, double* grad, std::size_t n);
void exp_backward(const float* y, float* grad, std::size_t n);
void exp_backward(const double* y, double* grad, std::size_t n);

// The same row by row: grad *= f'(x) from y = f(x), row r of y at
// y + r·y_ld and of grad at grad + r·grad_ld.
void activation_backward_rows(Activation f, const float* y, std::size_t y_ld, float* grad, std::size_t grad_ld,
                              std::size_t rows, std::size_t n);
void activation_backward_rows(Activation f, const double* y, std::size_t y_ld, double* grad,
                              std::size_t grad_ld, std::size_t rows, std::size_t n);

// A new array of f(a): the forward pass of an elementwise op, e.g.
// applied<T>(x, tanh_into).
template <typename T>
Array<T> applied(const Array<T>& a, void (*kernel)(const T*, T*, std::size_t)) {
  Array<T> out = Array<T>::from_shape(a.shape());
  kernel(a.data(), out.data(), out.size());
  return out;
}

// g ⊙ f'(x) from the output y = f(x), computed in g's own storage and
// returned from it: the backward pass of an elementwise op, which may consume
// the gradient it receives, e.g. backward_applied<T>(g, y, tanh_backward).
// LSTM's pointwise step for one row of U units, Keras' default activations
// (tanh, sigmoid) in one pass: z = gates + bias (bias null: none) are the
// pre-activations of blocks i, f, g, o, and `gates` receives σ(z_i),
// σ(z_f), tanh(z_g), σ(z_o); c = f ⊙ c_prev
// + i ⊙ g (c_prev null: zeros), h = o ⊙ tanh(c). The gates are the
// elementwise kernels' (tanh_in_place, sigmoid_in_place) to the bit.
void lstm_forward_row(float* gates, const float* bias, const float* c_prev, float* c, float* h,
                      std::size_t units);
void lstm_forward_row(double* gates, const double* bias, const double* c_prev, double* c, double* h,
                      std::size_t units);
// Its backward, from the gates, c_prev, c, dh = dL/dh and dc = dL/dc (the
// carried part): dz = dL/d(pre-activations) [4U], and dc becomes dL/dc_prev.
void lstm_backward_row(const float* gates, const float* c_prev, const float* c, const float* dh,
                       float* dc, float* dz, std::size_t units);
void lstm_backward_row(const double* gates, const double* c_prev, const double* c, const double* dh,
                       double* dc, double* dz, std::size_t units);

// GRU's pointwise step (reset_after, Keras' default activations) for one
// row: z = gates + bias are the input projections of blocks u, q, h (Keras'
// z, r, h) and r = recurrent + recurrent_bias the recurrent products [3U]
// (a null bias adds nothing); `gates` receives u = σ(z_u + r_u), q = σ(z_q +
// r_q), ĥ = tanh(z_h + q ⊙ r_h), recurrent_h receives r_h, and h = u ⊙
// h_prev + (1 − u) ⊙ ĥ (h_prev null: zeros).
void gru_forward_row(float* gates, const float* recurrent, const float* bias, const float* recurrent_bias,
                     const float* h_prev, float* recurrent_h, float* h, std::size_t units);
void gru_forward_row(double* gates, const double* recurrent, const double* bias,
                     const double* recurrent_bias, const double* h_prev, double* recurrent_h, double* h,
                     std::size_t units);
// Its backward from dh = dL/dh: dzr [3U], the gradients of the recurrent
// products' pre-activations; d_candidate [U], that of the candidate's input
// projection (the projections' update and reset gradients equal dzr's first
// 2U, written there once); and dh_prev += dh ⊙ u (unless null).
void gru_backward_row(const float* gates, const float* recurrent_h, const float* h_prev, const float* dh,
                      float* d_candidate, float* dzr, float* dh_prev, std::size_t units);
void gru_backward_row(const double* gates, const double* recurrent_h, const double* h_prev,
                      const double* dh, double* d_candidate, double* dzr, double* dh_prev, std::size_t units);

// It hands g on as an rvalue reference, not as a new array: moving an
// xtensor array costs tens of nanoseconds, per op.
template <typename T>
Array<T>&& backward_applied(Array<T>& g, const Array<T>& y,
                            void (*kernel)(const T*, T*, std::size_t)) {
  kernel(y.data(), g.data(), g.size());
  return std::move(g);
}

}  // namespace xgrad
