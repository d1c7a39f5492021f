#include "xgrad/tensor/activations.hpp"

#include <cmath>

#include <xsimd/xsimd.hpp>

namespace xgrad {

namespace {

// Applies `vector_f` to full SIMD batches and `scalar_f` to the tail.
template <typename T, typename VectorF, typename ScalarF>
void transform_in_place(T* values, std::size_t n, VectorF vector_f, ScalarF scalar_f) {
  using batch = xsimd::batch<T>;
  constexpr std::size_t width = batch::size;
  std::size_t i = 0;
  for (; i + width <= n; i += width) vector_f(batch::load_unaligned(values + i)).store_unaligned(values + i);
  for (; i < n; ++i) values[i] = scalar_f(values[i]);
}

template <typename T>
void tanh_impl(T* values, std::size_t n) {
  transform_in_place(values, n, [](const auto& x) { return xsimd::tanh(x); },
                     [](T x) { return std::tanh(x); });
}

template <typename T>
void sigmoid_impl(T* values, std::size_t n) {
  // e^-|x| never overflows; sigmoid(x) = 1 / (1 + e) for x >= 0, e / (1 + e) below.
  transform_in_place(
      values, n,
      [](const auto& x) {
        const auto e = xsimd::exp(-xsimd::abs(x));
        const auto one = decltype(e)(T(1));
        return xsimd::select(x >= decltype(e)(T(0)), one / (one + e), e / (one + e));
      },
      [](T x) {
        const T e = std::exp(-std::abs(x));
        return x >= T(0) ? T(1) / (T(1) + e) : e / (T(1) + e);
      });
}

template <typename T>
void relu_impl(T* values, std::size_t n) {
  transform_in_place(values, n, [](const auto& x) { return xsimd::max(x, decltype(x)(T(0))); },
                     [](T x) { return x > T(0) ? x : T(0); });
}

}  // namespace

void tanh_in_place(float* values, std::size_t n) { tanh_impl(values, n); }
void tanh_in_place(double* values, std::size_t n) { tanh_impl(values, n); }
void sigmoid_in_place(float* values, std::size_t n) { sigmoid_impl(values, n); }
void sigmoid_in_place(double* values, std::size_t n) { sigmoid_impl(values, n); }
void relu_in_place(float* values, std::size_t n) { relu_impl(values, n); }
void relu_in_place(double* values, std::size_t n) { relu_impl(values, n); }

}  // namespace xgrad
