#pragma once
// The differentiable ops. Each is a free function that computes its result
// and records, next to it, how the gradient flows back to its inputs. Every
// shape check happens at entry, in every build type, and throws
// std::invalid_argument naming the op and the shapes.
//
// Elementwise binary ops broadcast as NumPy does ([B, U] + [U]); their
// backward sums the gradient back to each input's shape.

#include <cstddef>
#include <utility>
#include <vector>

#include "xgrad/autograd/variable.hpp"

namespace xgrad {

// a [..., K] times b [K, N] -> [..., N], one BLAS GEMM forward and one per
// input in backward.
template <typename T>
Variable<T> matmul(const Variable<T>& a, const Variable<T>& b);

template <typename T>
Variable<T> add(const Variable<T>& a, const Variable<T>& b);
template <typename T>
Variable<T> sub(const Variable<T>& a, const Variable<T>& b);
template <typename T>
Variable<T> mul(const Variable<T>& a, const Variable<T>& b);
// The same given a temporary `a` of the result's shape (b is [U] added to
// [B, U], or a's shape) that no other handle names: the result is computed
// in a's storage when nothing reads a's value again (Variable::
// value_can_be_taken): a plain value, or the result of matmul, add, sub or
// mul. A user's per-step loop (tanh(matmul(x, W) + matmul(h, U) + b))
// allocates no array for its sums, and none for the tanh, in training as
// under NoGradGuard, and its sums' memory is still in cache. mul computes in
// place only a result that records nothing (its backward reads a).
template <typename T>
Variable<T> add(Variable<T>&& a, const Variable<T>& b);
template <typename T>
Variable<T> sub(Variable<T>&& a, const Variable<T>& b);
template <typename T>
Variable<T> mul(Variable<T>&& a, const Variable<T>& b);
template <typename T>
Variable<T> neg(const Variable<T>& a);
// a * factor for a constant factor.
template <typename T>
Variable<T> scale(const Variable<T>& a, typename Variable<T>::value_type factor);

template <typename T>
Variable<T> tanh(const Variable<T>& a);
template <typename T>
Variable<T> relu(const Variable<T>& a);
template <typename T>
Variable<T> sigmoid(const Variable<T>& a);
// The same in a temporary's storage, as add given a temporary.
template <typename T>
Variable<T> tanh(Variable<T>&& a);
template <typename T>
Variable<T> relu(Variable<T>&& a);
template <typename T>
Variable<T> sigmoid(Variable<T>&& a);

// Sum and mean of all elements: a 0-D value. The mean of an empty value
// throws std::invalid_argument naming its shape (NumPy and PyTorch give NaN).
template <typename T>
Variable<T> sum(const Variable<T>& a);
template <typename T>
Variable<T> mean(const Variable<T>& a);

// Same elements in a new shape of the same size.
template <typename T>
Variable<T> reshape(const Variable<T>& a, const Shape& shape);
// 2-D transpose.
template <typename T>
Variable<T> transpose(const Variable<T>& a);

// The slice at `index` along `axis`, with that axis removed: select(x, 1, t)
// is timestep t of a [B, T, F] value, shape [B, F]. Its backward adds into the
// input's gradient in place.
template <typename T>
Variable<T> select(const Variable<T>& a, std::size_t axis, std::size_t index);
// Joins values of equal shape along a new axis: stacking T values [B, U] on
// axis 1 gives [B, T, U].
template <typename T>
Variable<T> stack(const std::vector<Variable<T>>& values, std::size_t axis);

template <typename T>
Variable<T> operator+(const Variable<T>& a, const Variable<T>& b) { return add(a, b); }
template <typename T>
Variable<T> operator-(const Variable<T>& a, const Variable<T>& b) { return sub(a, b); }
template <typename T>
Variable<T> operator*(const Variable<T>& a, const Variable<T>& b) { return mul(a, b); }
template <typename T>
Variable<T> operator+(Variable<T>&& a, const Variable<T>& b) { return add(std::move(a), b); }
template <typename T>
Variable<T> operator-(Variable<T>&& a, const Variable<T>& b) { return sub(std::move(a), b); }
template <typename T>
Variable<T> operator*(Variable<T>&& a, const Variable<T>& b) { return mul(std::move(a), b); }
template <typename T>
Variable<T> operator-(const Variable<T>& a) { return neg(a); }

#define XGRAD_DECLARE_OPS(T)                                                          \
  extern template Variable<T> matmul(const Variable<T>&, const Variable<T>&);         \
  extern template Variable<T> add(const Variable<T>&, const Variable<T>&);            \
  extern template Variable<T> sub(const Variable<T>&, const Variable<T>&);            \
  extern template Variable<T> mul(const Variable<T>&, const Variable<T>&);            \
  extern template Variable<T> add(Variable<T>&&, const Variable<T>&);                 \
  extern template Variable<T> sub(Variable<T>&&, const Variable<T>&);                 \
  extern template Variable<T> mul(Variable<T>&&, const Variable<T>&);                 \
  extern template Variable<T> neg(const Variable<T>&);                                \
  extern template Variable<T> scale(const Variable<T>&, T);                           \
  extern template Variable<T> tanh(const Variable<T>&);                               \
  extern template Variable<T> relu(const Variable<T>&);                               \
  extern template Variable<T> sigmoid(const Variable<T>&);                            \
  extern template Variable<T> tanh(Variable<T>&&);                                    \
  extern template Variable<T> relu(Variable<T>&&);                                    \
  extern template Variable<T> sigmoid(Variable<T>&&);                                 \
  extern template Variable<T> sum(const Variable<T>&);                                \
  extern template Variable<T> mean(const Variable<T>&);                               \
  extern template Variable<T> reshape(const Variable<T>&, const Shape&);              \
  extern template Variable<T> transpose(const Variable<T>&);                          \
  extern template Variable<T> select(const Variable<T>&, std::size_t, std::size_t);   \
  extern template Variable<T> stack(const std::vector<Variable<T>>&, std::size_t);
XGRAD_DECLARE_OPS(float)
XGRAD_DECLARE_OPS(double)
#undef XGRAD_DECLARE_OPS

}  // namespace xgrad
