#include "xgrad/tensor/activations.hpp"
#include "xgrad/tensor/reductions.hpp"

#include <stdexcept>
#include <string>
#include <type_traits>

#include "activation_kernels.hpp"

namespace xgrad {

namespace kernels {
// Compiled in activations_<arch>.cpp, with that instruction set's flags.
#if XGRAD_X86_KERNELS
XGRAD_EXTERN_ALL_INSTANCES(xsimd::avx512f)
XGRAD_EXTERN_ALL_INSTANCES(xsimd::avx2)
XGRAD_EXTERN_ALL_INSTANCES(xsimd::sse2)
#else
XGRAD_EXTERN_ALL_INSTANCES(xsimd::default_arch)
#endif
}  // namespace kernels

namespace {

using kernels::Kernel;

// On the widest instruction set of this CPU, chosen once per kernel.
// `rows` defaults to one contiguous row.
template <Kernel K, typename T>
void forward(const T* in, T* out, std::size_t n, T alpha = T(1), T scale = T(1),
             const kernels::Rows<T>& rows = {}) {
  static auto dispatched = xsimd::dispatch<kernels::Archs>(kernels::Forward<K>{});
  dispatched(in, out, n, rows, alpha, scale);
}

template <Kernel K, typename T>
void backward(const T* y, T* grad, std::size_t n, T alpha = T(1), T scale = T(1),
              const kernels::Rows<T>& rows = {}) {
  static auto dispatched = xsimd::dispatch<kernels::Archs>(kernels::Backward<K>{});
  dispatched(y, grad, n, rows, alpha, scale);
}

// Calls run(kernel, alpha, scale) with f's kernel (a std::integral_constant
// of it) and constants; false, nothing called, for linear, which has none.
template <typename T, typename Run>
bool with_kernel(Activation f, Run run) {
  const auto call = [&run](auto kernel, T alpha = T(1), T scale = T(1)) {
    run(kernel, alpha, scale);
    return true;
  };
  using K = Kernel;
  switch (f) {
    case Activation::linear: return false;
    case Activation::tanh: return call(std::integral_constant<K, K::tanh>{});
    case Activation::relu: return call(std::integral_constant<K, K::relu>{});
    case Activation::sigmoid: return call(std::integral_constant<K, K::sigmoid>{});
    case Activation::hard_sigmoid: return call(std::integral_constant<K, K::hard_sigmoid>{});
    case Activation::softsign: return call(std::integral_constant<K, K::softsign>{});
    case Activation::elu: return call(std::integral_constant<K, K::scaled_elu>{});
    case Activation::selu: return call(std::integral_constant<K, K::scaled_elu>{}, T(selu_alpha), T(selu_scale));
    case Activation::exponential: return call(std::integral_constant<K, K::exp>{});
    case Activation::softplus: case Activation::relu6: case Activation::leaky_relu: case Activation::silu:
    case Activation::gelu: case Activation::mish: case Activation::softmax: case Activation::log_softmax:
      throw std::invalid_argument("activation " + std::to_string(static_cast<int>(f)) +
                                  " (softplus and after in xgrad::Activation) has no row kernel: "
                                  "apply it as an autograd op");
  }
  return false;
}

template <typename T>
void activate_rows_impl(Activation f, T* values, std::size_t rows, std::size_t n, std::size_t ld,
                        const T* bias) {
  const kernels::Rows<T> layout{rows, ld, ld, bias};
  const bool activated = with_kernel<T>(f, [&](auto kernel, T alpha, T scale) {
    forward<decltype(kernel)::value>(values, values, n, alpha, scale, layout);
  });
  if (!activated && bias) forward<Kernel::identity>(values, values, n, T(1), T(1), layout);
}

template <typename T>
void activation_backward_rows_impl(Activation f, const T* y, std::size_t y_ld, T* grad, std::size_t grad_ld,
                                   std::size_t rows, std::size_t n) {
  const kernels::Rows<T> layout{rows, y_ld, grad_ld, nullptr};
  with_kernel<T>(f, [&](auto kernel, T alpha, T scale) {
    backward<decltype(kernel)::value>(y, grad, n, alpha, scale, layout);
  });
}

template <kernels::BinaryOp Op, typename T>
void binary(const T* a, std::size_t a_ld, const T* b, std::size_t b_ld, T* out, std::size_t out_ld,
            std::size_t rows, std::size_t n) {
  static auto dispatched = xsimd::dispatch<kernels::Archs>(kernels::Binary<Op>{});
  dispatched(a, a_ld, b, b_ld, out, out_ld, rows, n);
}

}  // namespace

bool has_row_kernels(Activation f) { return f <= Activation::exponential; }

void activate_rows(Activation f, float* values, std::size_t rows, std::size_t n, std::size_t ld,
                   const float* bias) {
  activate_rows_impl(f, values, rows, n, ld, bias);
}
void activate_rows(Activation f, double* values, std::size_t rows, std::size_t n, std::size_t ld,
                   const double* bias) {
  activate_rows_impl(f, values, rows, n, ld, bias);
}
void activation_backward_rows(Activation f, const float* y, std::size_t y_ld, float* grad, std::size_t grad_ld,
                              std::size_t rows, std::size_t n) {
  activation_backward_rows_impl(f, y, y_ld, grad, grad_ld, rows, n);
}
void activation_backward_rows(Activation f, const double* y, std::size_t y_ld, double* grad,
                              std::size_t grad_ld, std::size_t rows, std::size_t n) {
  activation_backward_rows_impl(f, y, y_ld, grad, grad_ld, rows, n);
}

void fill_into(float* out, std::size_t n, float value) {
  static auto dispatched = xsimd::dispatch<kernels::Archs>(kernels::Fill{});
  dispatched(out, n, value);
}
void fill_into(double* out, std::size_t n, double value) {
  static auto dispatched = xsimd::dispatch<kernels::Archs>(kernels::Fill{});
  dispatched(out, n, value);
}

void add_rows_into(const float* in, std::size_t in_ld, float* out, std::size_t out_ld, std::size_t rows,
                   std::size_t n) {
  binary<kernels::BinaryOp::add>(out, out_ld, in, in_ld, out, out_ld, rows, n);
}
void add_rows_into(const double* in, std::size_t in_ld, double* out, std::size_t out_ld, std::size_t rows,
                   std::size_t n) {
  binary<kernels::BinaryOp::add>(out, out_ld, in, in_ld, out, out_ld, rows, n);
}

void copy_rows(const float* in, std::size_t in_ld, float* out, std::size_t out_ld, std::size_t rows,
               std::size_t n) {
  static auto dispatched = xsimd::dispatch<kernels::Archs>(kernels::CopyRows{});
  dispatched(in, in_ld, out, out_ld, rows, n);
}
void copy_rows(const double* in, std::size_t in_ld, double* out, std::size_t out_ld, std::size_t rows,
               std::size_t n) {
  static auto dispatched = xsimd::dispatch<kernels::Archs>(kernels::CopyRows{});
  dispatched(in, in_ld, out, out_ld, rows, n);
}

void doubled_product_into(float a, const float* b, float* out, std::size_t n) {
  static auto dispatched = xsimd::dispatch<kernels::Archs>(kernels::ScaledDouble{});
  dispatched(a, b, out, n);
}
void doubled_product_into(double a, const double* b, double* out, std::size_t n) {
  static auto dispatched = xsimd::dispatch<kernels::Archs>(kernels::ScaledDouble{});
  dispatched(a, b, out, n);
}

// reductions.hpp's, here with the other dispatched kernels.
float sum_of(const float* values, std::size_t n) {
  static auto dispatched = xsimd::dispatch<kernels::Archs>(kernels::Sum{});
  return dispatched(values, n);
}
double sum_of(const double* values, std::size_t n) {
  static auto dispatched = xsimd::dispatch<kernels::Archs>(kernels::Sum{});
  return dispatched(values, n);
}

float square_into_summed(const float* x, float* out, std::size_t n) {
  static auto dispatched = xsimd::dispatch<kernels::Archs>(kernels::SquareSum{});
  return dispatched(x, out, n);
}
double square_into_summed(const double* x, double* out, std::size_t n) {
  static auto dispatched = xsimd::dispatch<kernels::Archs>(kernels::SquareSum{});
  return dispatched(x, out, n);
}

void sum_rows_into(const float* a, std::size_t rows, std::size_t n, float* out) {
  static auto dispatched = xsimd::dispatch<kernels::Archs>(kernels::SumRows{});
  dispatched(a, rows, n, out);
}
void sum_rows_into(const double* a, std::size_t rows, std::size_t n, double* out) {
  static auto dispatched = xsimd::dispatch<kernels::Archs>(kernels::SumRows{});
  dispatched(a, rows, n, out);
}

#define XGRAD_DEFINE_LSTM(T)                                                                     \
  void lstm_forward_row(T* gates, const T* bias, const T* c_prev, T* c, T* h, std::size_t units) { \
    static auto dispatched = xsimd::dispatch<kernels::Archs>(kernels::LstmForward{});            \
    dispatched(gates, bias, c_prev, c, h, units);                                                \
  }                                                                                              \
  void lstm_backward_row(const T* gates, const T* c_prev, const T* c, const T* dh, T* dc, T* dz, \
                         std::size_t units) {                                                    \
    static auto dispatched = xsimd::dispatch<kernels::Archs>(kernels::LstmBackward{});           \
    dispatched(gates, c_prev, c, dh, dc, dz, units);                                             \
  }
XGRAD_DEFINE_LSTM(float)
XGRAD_DEFINE_LSTM(double)
#undef XGRAD_DEFINE_LSTM

#define XGRAD_DEFINE_GRU(T)                                                                         \
  void gru_forward_row(T* gates, const T* recurrent, const T* bias, const T* recurrent_bias,        \
                       const T* h_prev, T* recurrent_h, T* h, std::size_t units) {                  \
    static auto dispatched = xsimd::dispatch<kernels::Archs>(kernels::GruForward{});                \
    dispatched(gates, recurrent, bias, recurrent_bias, h_prev, recurrent_h, h, units);              \
  }                                                                                                 \
  void gru_backward_row(const T* gates, const T* recurrent_h, const T* h_prev, const T* dh,         \
                        T* d_candidate, T* dzr, T* dh_prev, std::size_t units) {                    \
    static auto dispatched = xsimd::dispatch<kernels::Archs>(kernels::GruBackward{});               \
    dispatched(gates, recurrent_h, h_prev, dh, d_candidate, dzr, dh_prev, units);                   \
  }
XGRAD_DEFINE_GRU(float)
XGRAD_DEFINE_GRU(double)
#undef XGRAD_DEFINE_GRU

#define XGRAD_DEFINE_BINARY(name, Op)                                                               \
  void name##_into(const float* a, const float* b, float* out, std::size_t n) {                     \
    binary<kernels::BinaryOp::Op>(a, n, b, n, out, n, 1, n);                                        \
  }                                                                                                 \
  void name##_into(const double* a, const double* b, double* out, std::size_t n) {                  \
    binary<kernels::BinaryOp::Op>(a, n, b, n, out, n, 1, n);                                        \
  }                                                                                                 \
  void name##_rows(const float* a, std::size_t a_ld, const float* b, std::size_t b_ld, float* out,  \
                   std::size_t rows, std::size_t n) {                                               \
    binary<kernels::BinaryOp::Op>(a, a_ld, b, b_ld, out, n, rows, n);                               \
  }                                                                                                 \
  void name##_rows(const double* a, std::size_t a_ld, const double* b, std::size_t b_ld, double* out, \
                   std::size_t rows, std::size_t n) {                                               \
    binary<kernels::BinaryOp::Op>(a, a_ld, b, b_ld, out, n, rows, n);                               \
  }
XGRAD_DEFINE_BINARY(add, add)
XGRAD_DEFINE_BINARY(subtract, subtract)
XGRAD_DEFINE_BINARY(multiply, multiply)
XGRAD_DEFINE_BINARY(doubled_product, doubled_product)
#undef XGRAD_DEFINE_BINARY

#define XGRAD_DEFINE_ACTIVATION(name, K)                                                          \
  void name##_in_place(float* values, std::size_t n) { forward<Kernel::K>(values, values, n); } \
  void name##_in_place(double* values, std::size_t n) { forward<Kernel::K>(values, values, n); } \
  void name##_into(const float* x, float* out, std::size_t n) { forward<Kernel::K>(x, out, n); } \
  void name##_into(const double* x, double* out, std::size_t n) { forward<Kernel::K>(x, out, n); } \
  void name##_backward(const float* y, float* grad, std::size_t n) {                              \
    backward<Kernel::K>(y, grad, n);                                                              \
  }                                                                                               \
  void name##_backward(const double* y, double* grad, std::size_t n) {                            \
    backward<Kernel::K>(y, grad, n);                                                              \
  }
XGRAD_DEFINE_ACTIVATION(tanh, tanh)
XGRAD_DEFINE_ACTIVATION(sigmoid, sigmoid)
XGRAD_DEFINE_ACTIVATION(relu, relu)
XGRAD_DEFINE_ACTIVATION(hard_sigmoid, hard_sigmoid)
XGRAD_DEFINE_ACTIVATION(softsign, softsign)
XGRAD_DEFINE_ACTIVATION(exp, exp)
#undef XGRAD_DEFINE_ACTIVATION

void elu_in_place(float* values, std::size_t n, float alpha) {
  forward<Kernel::scaled_elu>(values, values, n, alpha);
}
void elu_in_place(double* values, std::size_t n, double alpha) {
  forward<Kernel::scaled_elu>(values, values, n, alpha);
}
void elu_into(const float* x, float* out, std::size_t n, float alpha) {
  forward<Kernel::scaled_elu>(x, out, n, alpha);
}
void elu_into(const double* x, double* out, std::size_t n, double alpha) {
  forward<Kernel::scaled_elu>(x, out, n, alpha);
}
void elu_backward(const float* y, float* grad, std::size_t n, float alpha) {
  backward<Kernel::scaled_elu>(y, grad, n, alpha);
}
void elu_backward(const double* y, double* grad, std::size_t n, double alpha) {
  backward<Kernel::scaled_elu>(y, grad, n, alpha);
}
void selu_into(const float* x, float* out, std::size_t n) {
  forward<Kernel::scaled_elu>(x, out, n, static_cast<float>(selu_alpha), static_cast<float>(selu_scale));
}
void selu_into(const double* x, double* out, std::size_t n) {
  forward<Kernel::scaled_elu>(x, out, n, selu_alpha, selu_scale);
}
void selu_in_place(float* values, std::size_t n) { selu_into(values, values, n); }
void selu_in_place(double* values, std::size_t n) { selu_into(values, values, n); }
void selu_backward(const float* y, float* grad, std::size_t n) {
  backward<Kernel::scaled_elu>(y, grad, n, static_cast<float>(selu_alpha),
                               static_cast<float>(selu_scale));
}
void selu_backward(const double* y, double* grad, std::size_t n) {
  backward<Kernel::scaled_elu>(y, grad, n, selu_alpha, selu_scale);
}

}  // namespace xgrad
