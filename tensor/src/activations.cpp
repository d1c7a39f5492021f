#include "xgrad/tensor/activations.hpp"

#include <algorithm>
#include <cmath>
#include <type_traits>

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

template <typename T>
void hard_sigmoid_impl(T* values, std::size_t n) {
  // relu6(x + 3) / 6, Keras 3's (and TensorFlow's) form; the division (not a
  // product with 1/6) keeps it bit-identical to that formula.
  transform_in_place(
      values, n,
      [](const auto& x) {
        using batch = std::decay_t<decltype(x)>;
        return xsimd::min(xsimd::max(x + batch(T(3)), batch(T(0))), batch(T(6))) / batch(T(6));
      },
      [](T x) { return std::min(std::max(x + T(3), T(0)), T(6)) / T(6); });
}

template <typename T>
void softsign_impl(T* values, std::size_t n) {
  transform_in_place(
      values, n,
      [](const auto& x) {
        using batch = std::decay_t<decltype(x)>;
        return x / (batch(T(1)) + xsimd::abs(x));
      },
      [](T x) { return x / (T(1) + std::abs(x)); });
}

// scale · (x for x > 0, alpha · expm1(x) otherwise): elu with scale 1.
template <typename T>
void scaled_elu_impl(T* values, std::size_t n, T alpha, T scale) {
  transform_in_place(
      values, n,
      [alpha, scale](const auto& x) {
        using batch = std::decay_t<decltype(x)>;
        // expm1 of a large positive x is inf, but that lane is not selected.
        return batch(scale) * xsimd::select(x > batch(T(0)), x, batch(alpha) * xsimd::expm1(x));
      },
      [alpha, scale](T x) { return scale * (x > T(0) ? x : alpha * std::expm1(x)); });
}

template <typename T>
void exp_impl(T* values, std::size_t n) {
  transform_in_place(values, n, [](const auto& x) { return xsimd::exp(x); },
                     [](T x) { return std::exp(x); });
}


// grad[i] = f(y[i], grad[i]) over full SIMD batches, then the tail.
template <typename T, typename VectorF, typename ScalarF>
void backward_in_place(const T* y, T* grad, std::size_t n, VectorF vector_f, ScalarF scalar_f) {
  using batch = xsimd::batch<T>;
  constexpr std::size_t width = batch::size;
  std::size_t i = 0;
  for (; i + width <= n; i += width)
    vector_f(batch::load_unaligned(y + i), batch::load_unaligned(grad + i)).store_unaligned(grad + i);
  for (; i < n; ++i) grad[i] = scalar_f(y[i], grad[i]);
}

template <typename T>
void tanh_backward_impl(const T* y, T* grad, std::size_t n) {
  backward_in_place(y, grad, n,
                    [](const auto& v, const auto& g) { return g * (decltype(v)(T(1)) - v * v); },
                    [](T v, T g) { return g * (T(1) - v * v); });
}

template <typename T>
void sigmoid_backward_impl(const T* y, T* grad, std::size_t n) {
  backward_in_place(y, grad, n,
                    [](const auto& v, const auto& g) { return g * v * (decltype(v)(T(1)) - v); },
                    [](T v, T g) { return g * v * (T(1) - v); });
}

template <typename T>
void relu_backward_impl(const T* y, T* grad, std::size_t n) {
  backward_in_place(
      y, grad, n,
      [](const auto& v, const auto& g) {
        using batch = std::decay_t<decltype(v)>;
        return xsimd::select(v > batch(T(0)), g, batch(T(0)));
      },
      [](T v, T g) { return v > T(0) ? g : T(0); });
}

template <typename T>
void hard_sigmoid_backward_impl(const T* y, T* grad, std::size_t n) {
  backward_in_place(
      y, grad, n,
      [](const auto& v, const auto& g) {
        using batch = std::decay_t<decltype(v)>;
        return xsimd::select(v > batch(T(0)) && v < batch(T(1)), g / batch(T(6)), batch(T(0)));
      },
      [](T v, T g) { return v > T(0) && v < T(1) ? g / T(6) : T(0); });
}

template <typename T>
void softsign_backward_impl(const T* y, T* grad, std::size_t n) {
  backward_in_place(
      y, grad, n,
      [](const auto& v, const auto& g) {
        const auto a = decltype(v)(T(1)) - xsimd::abs(v);
        return g * (a * a);
      },
      [](T v, T g) {
        const T a = T(1) - std::abs(v);
        return g * (a * a);
      });
}

// elu and selu: scale where y > 0, y + offset below (offset = scale · alpha).
template <typename T>
void scaled_elu_backward_impl(const T* y, T* grad, std::size_t n, T scale, T offset) {
  backward_in_place(
      y, grad, n,
      [scale, offset](const auto& v, const auto& g) {
        using batch = std::decay_t<decltype(v)>;
        return g * xsimd::select(v > batch(T(0)), batch(scale), v + batch(offset));
      },
      [scale, offset](T v, T g) { return g * (v > T(0) ? scale : v + offset); });
}

template <typename T>
void exp_backward_impl(const T* y, T* grad, std::size_t n) {
  backward_in_place(y, grad, n, [](const auto& v, const auto& g) { return g * v; },
                    [](T v, T g) { return g * v; });
}

}  // namespace

void tanh_in_place(float* values, std::size_t n) { tanh_impl(values, n); }
void tanh_in_place(double* values, std::size_t n) { tanh_impl(values, n); }
void sigmoid_in_place(float* values, std::size_t n) { sigmoid_impl(values, n); }
void sigmoid_in_place(double* values, std::size_t n) { sigmoid_impl(values, n); }
void relu_in_place(float* values, std::size_t n) { relu_impl(values, n); }
void relu_in_place(double* values, std::size_t n) { relu_impl(values, n); }
void hard_sigmoid_in_place(float* values, std::size_t n) { hard_sigmoid_impl(values, n); }
void hard_sigmoid_in_place(double* values, std::size_t n) { hard_sigmoid_impl(values, n); }
void softsign_in_place(float* values, std::size_t n) { softsign_impl(values, n); }
void softsign_in_place(double* values, std::size_t n) { softsign_impl(values, n); }
void elu_in_place(float* values, std::size_t n, float alpha) { scaled_elu_impl(values, n, alpha, 1.0f); }
void elu_in_place(double* values, std::size_t n, double alpha) { scaled_elu_impl(values, n, alpha, 1.0); }
void selu_in_place(float* values, std::size_t n) {
  scaled_elu_impl(values, n, static_cast<float>(selu_alpha), static_cast<float>(selu_scale));
}
void selu_in_place(double* values, std::size_t n) { scaled_elu_impl(values, n, selu_alpha, selu_scale); }
void exp_in_place(float* values, std::size_t n) { exp_impl(values, n); }
void exp_in_place(double* values, std::size_t n) { exp_impl(values, n); }

void tanh_backward(const float* y, float* grad, std::size_t n) { tanh_backward_impl(y, grad, n); }
void tanh_backward(const double* y, double* grad, std::size_t n) { tanh_backward_impl(y, grad, n); }
void sigmoid_backward(const float* y, float* grad, std::size_t n) { sigmoid_backward_impl(y, grad, n); }
void sigmoid_backward(const double* y, double* grad, std::size_t n) { sigmoid_backward_impl(y, grad, n); }
void relu_backward(const float* y, float* grad, std::size_t n) { relu_backward_impl(y, grad, n); }
void relu_backward(const double* y, double* grad, std::size_t n) { relu_backward_impl(y, grad, n); }
void hard_sigmoid_backward(const float* y, float* grad, std::size_t n) {
  hard_sigmoid_backward_impl(y, grad, n);
}
void hard_sigmoid_backward(const double* y, double* grad, std::size_t n) {
  hard_sigmoid_backward_impl(y, grad, n);
}
void softsign_backward(const float* y, float* grad, std::size_t n) { softsign_backward_impl(y, grad, n); }
void softsign_backward(const double* y, double* grad, std::size_t n) { softsign_backward_impl(y, grad, n); }
void elu_backward(const float* y, float* grad, std::size_t n, float alpha) {
  scaled_elu_backward_impl(y, grad, n, 1.0f, alpha);
}
void elu_backward(const double* y, double* grad, std::size_t n, double alpha) {
  scaled_elu_backward_impl(y, grad, n, 1.0, alpha);
}
void selu_backward(const float* y, float* grad, std::size_t n) {
  scaled_elu_backward_impl(y, grad, n, static_cast<float>(selu_scale),
                           static_cast<float>(selu_scale * selu_alpha));
}
void selu_backward(const double* y, double* grad, std::size_t n) {
  scaled_elu_backward_impl(y, grad, n, selu_scale, selu_scale * selu_alpha);
}
void exp_backward(const float* y, float* grad, std::size_t n) { exp_backward_impl(y, grad, n); }
void exp_backward(const double* y, double* grad, std::size_t n) { exp_backward_impl(y, grad, n); }

}  // namespace xgrad
