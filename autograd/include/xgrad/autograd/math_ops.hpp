#pragma once
// More differentiable ops: elementwise math, reductions and joins along one
// axis, and the softmax family. Same conventions as ops.hpp: free functions,
// shape checks at entry in every build type throwing std::invalid_argument
// naming the op and the shapes, backward next to forward.
//
// Axes are signed and count from the end when negative, as in NumPy: on a
// [B, T, F] value, axis -1 is F and axis -3 is B.

#include <cstddef>
#include <vector>

#include "xgrad/autograd/ops.hpp"
#include "xgrad/autograd/variable.hpp"

namespace xgrad {

// a / b elementwise, broadcasting as NumPy does; division by zero gives
// inf/nan as in IEEE arithmetic, no throw.
template <typename T>
Variable<T> div(const Variable<T>& a, const Variable<T>& b);

template <typename T>
Variable<T> exp(const Variable<T>& a);
// Natural log; of 0 it is -inf and of negative values nan, as NumPy (no throw).
template <typename T>
Variable<T> log(const Variable<T>& a);
// a * a.
template <typename T>
Variable<T> square(const Variable<T>& a);
// |a| elementwise. Its gradient is sign(a), taken as 0 at a = 0 (the
// subgradient TensorFlow, JAX and PyTorch use), so an L1 penalty leaves an
// exact zero weight alone.
template <typename T>
Variable<T> abs(const Variable<T>& a);
// a ** exponent elementwise, for a constant exponent. The exponent's type is
// not deduced, so pow(x, 2) works for Variable<float> and Variable<double>.
template <typename T>
Variable<T> pow(const Variable<T>& a, typename Variable<T>::value_type exponent);

// Keras 3's activations (keras/src/activations), elementwise, through the
// vectorised kernels of xgrad/tensor/activations.hpp. Their gradients:
//   hard_sigmoid  min(max(x + 3, 0), 6) / 6   1/6 where 0 < y < 1, else 0
//   softsign      x / (1 + |x|)               1 / (1 + |x|)²
//   elu           x > 0 ? x : alpha (e^x − 1)  1 for x > 0, else y + alpha
//   selu          scale · elu(x) with SELU's   scale for x > 0, else
//                 alpha and scale              y + scale · alpha
// (Keras' "exponential" is exp above.) At the kinks (x = ±3, x = 0) the
// gradient is the one-sided value the formulas give, as TensorFlow's.
template <typename T>
Variable<T> hard_sigmoid(const Variable<T>& a);
template <typename T>
Variable<T> softsign(const Variable<T>& a);
template <typename T>
Variable<T> elu(const Variable<T>& a, typename Variable<T>::value_type alpha = 1);
template <typename T>
Variable<T> selu(const Variable<T>& a);

// Keras' further elementwise activations (keras/src/activations), with
// Keras' default parameters:
//   softplus    log(1 + e^x), computed without overflow
//   relu6       min(max(x, 0), 6)
//   leaky_relu  x for x >= 0, negative_slope · x below (Keras: 0.2)
//   silu        x · sigmoid(x) (Keras' swish too)
//   gelu        x · Φ(x) = x/2 · (1 + erf(x / √2)) (Keras' approximate=False);
//               with approximate = true, Keras' tanh form
//               x/2 · (1 + tanh(√(2/π) · (x + 0.044715 x³)))
//   mish        x · tanh(softplus(x))
// Their gradients read the input; at a kink (relu6 at 0 and 6, leaky_relu at
// 0) they take the slope of the left side, as TensorFlow's do.
template <typename T>
Variable<T> softplus(const Variable<T>& a);
template <typename T>
Variable<T> relu6(const Variable<T>& a);
template <typename T>
Variable<T> leaky_relu(const Variable<T>& a, typename Variable<T>::value_type negative_slope = T(0.2));
template <typename T>
Variable<T> silu(const Variable<T>& a);
template <typename T>
Variable<T> gelu(const Variable<T>& a, bool approximate = false);
template <typename T>
Variable<T> mish(const Variable<T>& a);

// Sum and mean along one axis; the axis is removed, or kept with extent 1
// when keepdims is true. sum(x [B, T, F], 1) has shape [B, F]. mean throws
// when the axis is empty.
template <typename T>
Variable<T> sum(const Variable<T>& a, std::ptrdiff_t axis, bool keepdims = false);
template <typename T>
Variable<T> mean(const Variable<T>& a, std::ptrdiff_t axis, bool keepdims = false);
// The largest element along one axis (TensorFlow's reduce_max), the axis
// removed or kept as for sum; a lane holding a NaN gives NaN, as NumPy's max.
// The gradient goes to the elements equal to their lane's maximum (the NaNs
// of a NaN lane), split evenly among ties, as TensorFlow's. Throws when the
// axis is empty.
template <typename T>
Variable<T> max(const Variable<T>& a, std::ptrdiff_t axis, bool keepdims = false);

// Joins values along an existing axis; their shapes must agree on every other
// axis: concat of [B, 2] and [B, 3] on axis 1 is [B, 5].
template <typename T>
Variable<T> concat(const std::vector<Variable<T>>& values, std::ptrdiff_t axis);
// Elements start <= i < stop along `axis` (0 <= start <= stop <= extent),
// every other axis whole: slice(x [B, T, F], 1, 2, 5) is [B, 3, F]; with a
// step, every step-th of them from start (NumPy's x[:, start:stop:step]),
// step > 0. Its backward adds into the input's gradient in place.
template <typename T>
Variable<T> slice(const Variable<T>& a, std::ptrdiff_t axis, std::size_t start, std::size_t stop,
                  std::size_t step = 1);

// exp(x) / sum(exp(x)) along `axis`, and its log, computed after subtracting
// the maximum along the axis, so logits of 1e4 give finite results.
template <typename T>
Variable<T> softmax(const Variable<T>& a, std::ptrdiff_t axis = -1);
template <typename T>
Variable<T> log_softmax(const Variable<T>& a, std::ptrdiff_t axis = -1);

template <typename T>
Variable<T> operator/(const Variable<T>& a, const Variable<T>& b) { return div(a, b); }

#define XGRAD_DECLARE_MATH_OPS(T)                                                              \
  extern template Variable<T> div(const Variable<T>&, const Variable<T>&);                    \
  extern template Variable<T> exp(const Variable<T>&);                                        \
  extern template Variable<T> log(const Variable<T>&);                                        \
  extern template Variable<T> square(const Variable<T>&);                                     \
  extern template Variable<T> abs(const Variable<T>&);                                        \
  extern template Variable<T> pow(const Variable<T>&, T);                                     \
  extern template Variable<T> hard_sigmoid(const Variable<T>&);                               \
  extern template Variable<T> softsign(const Variable<T>&);                                   \
  extern template Variable<T> elu(const Variable<T>&, T);                                     \
  extern template Variable<T> selu(const Variable<T>&);                                       \
  extern template Variable<T> softplus(const Variable<T>&);                                   \
  extern template Variable<T> relu6(const Variable<T>&);                                      \
  extern template Variable<T> leaky_relu(const Variable<T>&, T);                              \
  extern template Variable<T> silu(const Variable<T>&);                                       \
  extern template Variable<T> gelu(const Variable<T>&, bool);                                 \
  extern template Variable<T> mish(const Variable<T>&);                                       \
  extern template Variable<T> sum(const Variable<T>&, std::ptrdiff_t, bool);                  \
  extern template Variable<T> mean(const Variable<T>&, std::ptrdiff_t, bool);                 \
  extern template Variable<T> max(const Variable<T>&, std::ptrdiff_t, bool);                  \
  extern template Variable<T> concat(const std::vector<Variable<T>>&, std::ptrdiff_t);        \
  extern template Variable<T> slice(const Variable<T>&, std::ptrdiff_t, std::size_t,          \
                                    std::size_t, std::size_t);                                \
  extern template Variable<T> softmax(const Variable<T>&, std::ptrdiff_t);                    \
  extern template Variable<T> log_softmax(const Variable<T>&, std::ptrdiff_t);
XGRAD_DECLARE_MATH_OPS(float)
XGRAD_DECLARE_MATH_OPS(double)
#undef XGRAD_DECLARE_MATH_OPS

}  // namespace xgrad
