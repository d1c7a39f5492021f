#pragma once
// The activation kernels, compiled once per x86 instruction set: each
// activations_<arch>.cpp builds them with that set's compiler flags, and
// activations.cpp runs the widest one the CPU has (xsimd::dispatch). A
// default build targets plain x86-64 (SSE2), which left AVX2 and AVX-512
// machines computing tanh 4 floats at a time.
//
// This header only declares; the bodies (activation_kernels_impl.hpp) are
// seen by the per-instruction-set files alone, so that nothing else
// instantiates them with the wrong flags.

#include <cstddef>

#include <xsimd/xsimd.hpp>

namespace xgrad::kernels {

// scaled_elu is scale · (x > 0 ? x : alpha · (e^x − 1)): elu with scale 1,
// and selu with its two constants.
// identity is linear's: with a bias, the bias add alone.
enum class Kernel { identity, tanh, sigmoid, relu, hard_sigmoid, softsign, scaled_elu, exp };

// `count` rows of n elements each: row r of the input (or y) at in + r·in_ld,
// of the output (or grad) at out + r·out_ld; `bias` (null: none) is added to
// every input row before f. One call covers a step's rows of a [B, T, W]
// buffer: a call per 32-float row spent more on the call than on the tanh.
template <typename T>
struct Rows {
  std::size_t count = 1, in_ld = 0, out_ld = 0;
  const T* bias = nullptr;
};

// out[i] = f(in[i] + bias[i]) row by row (out may be in); alpha and scale
// are scaled_elu's (ignored by the others).
template <Kernel K>
struct Forward {
  template <class Arch, typename T>
  void operator()(Arch, const T* in, T* out, std::size_t n, const Rows<T>& rows, T alpha, T scale) const;
};

// grad[i] *= f'(x_i), from the output y[i] = f(x_i) (activations.hpp), row
// by row (y's rows at in_ld, grad's at out_ld; no bias).
template <Kernel K>
struct Backward {
  template <class Arch, typename T>
  void operator()(Arch, const T* y, T* grad, std::size_t n, const Rows<T>& rows, T alpha, T scale) const;
};

// out[i] = a[i] ∘ b[i] for + − ×: the ops' elementwise loops, and a layer's
// bias added right before its activation reads the same memory. At the
// activations' vector width: narrower stores followed by a wider load of the
// same bytes defeat store-to-load forwarding (a scalar/SSE bias add before
// the AVX-512 tanh made workload S's inference 1.6x slower).
// doubled_product is a · 2b (square's backward: g ⊙ 2x).
enum class BinaryOp { add, subtract, multiply, doubled_product };

// Over `rows` rows of n: out[r·out_ld + i] = a[r·a_ld + i] ∘ b[r·b_ld + i]
// (an ld of 0 repeats one row: a broadcast operand).
template <BinaryOp Op>
struct Binary {
  template <class Arch, typename T>
  void operator()(Arch, const T* a, std::size_t a_ld, const T* b, std::size_t b_ld, T* out, std::size_t out_ld,
                  std::size_t rows, std::size_t n) const;
};

// out[i] = value: a gradient broadcast from a scalar (sum's, mean's).
struct Fill {
  template <class Arch, typename T>
  void operator()(Arch, T* out, std::size_t n, T value) const;
};

// out[i] = value · (b[i] + b[i]): square's gradient when the gradient it
// receives is one value everywhere (Binary<doubled_product> with a filled).
struct ScaledDouble {
  template <class Arch, typename T>
  void operator()(Arch, T value, const T* b, T* out, std::size_t n) const;
};

// The sum of values[0 .. n), four vector accumulators side by side
// (reductions.hpp: sum_of).
struct Sum {
  template <class Arch, typename T>
  T operator()(Arch, const T* values, std::size_t n) const;
};

// Row r of out (at out + r·out_ld) = row r of in (at in + r·in_ld), n
// elements each: a slice of a timestep taken out of, or put into, a
// [B, T, ...] array. At the kernels' vector width, as the next op reads it.
struct CopyRows {
  template <class Arch, typename T>
  void operator()(Arch, const T* in, std::size_t in_ld, T* out, std::size_t out_ld, std::size_t rows,
                  std::size_t n) const;
};

// out = x ⊙ x, returning the sum of out as Sum adds it (reductions.hpp:
// square_into_summed).
struct SquareSum {
  template <class Arch, typename T>
  T operator()(Arch, const T* x, T* out, std::size_t n) const;
};

// out[i] = Σ_r a[r·n + i], the rows added in order from zero (a bias's
// gradient), each column accumulated in a register.
struct SumRows {
  template <class Arch, typename T>
  void operator()(Arch, const T* a, std::size_t rows, std::size_t n, T* out) const;
};

// LSTM's pointwise step for one row of U units with Keras' default
// activations (activations.hpp: lstm_forward_row, lstm_backward_row).
struct LstmForward {
  template <class Arch, typename T>
  void operator()(Arch, T* gates, const T* bias, const T* c_prev, T* c, T* h, std::size_t units) const;
};
struct LstmBackward {
  template <class Arch, typename T>
  void operator()(Arch, const T* gates, const T* c_prev, const T* c, const T* dh, T* dc, T* dz,
                  std::size_t units) const;
};
// GRU's (reset_after) pointwise step for one row, Keras' default
// activations (activations.hpp: gru_forward_row, gru_backward_row).
struct GruForward {
  template <class Arch, typename T>
  void operator()(Arch, T* gates, const T* recurrent, const T* bias, const T* recurrent_bias, const T* h_prev,
                  T* recurrent_h, T* h, std::size_t units) const;
};
struct GruBackward {
  template <class Arch, typename T>
  void operator()(Arch, const T* gates, const T* recurrent_h, const T* h_prev, const T* dh, T* d_candidate,
                  T* dzr, T* dh_prev, std::size_t units) const;
};
// The explicit instantiations below take PREFIX: nothing where they are
// compiled (each activations_<arch>.cpp), `extern` for their declarations
// (activations.cpp), so that each signature is written once.
#define XGRAD_SUM_ROWS_INSTANCES(PREFIX, T, Arch)                                                         \
  PREFIX template void Fill::operator()<Arch, T>(Arch, T*, std::size_t, T) const;                          \
  PREFIX template void CopyRows::operator()<Arch, T>(Arch, const T*, std::size_t, T*, std::size_t,         \
                                                     std::size_t, std::size_t) const;                      \
  PREFIX template void ScaledDouble::operator()<Arch, T>(Arch, T, const T*, T*, std::size_t) const;        \
  PREFIX template T Sum::operator()<Arch, T>(Arch, const T*, std::size_t) const;                           \
  PREFIX template T SquareSum::operator()<Arch, T>(Arch, const T*, T*, std::size_t) const;                 \
  PREFIX template void SumRows::operator()<Arch, T>(Arch, const T*, std::size_t, std::size_t, T*) const;
#define XGRAD_GRU_INSTANCES(PREFIX, T, Arch)                                                              \
  PREFIX template void GruForward::operator()<Arch, T>(Arch, T*, const T*, const T*, const T*, const T*, T*, \
                                                       T*, std::size_t) const;                             \
  PREFIX template void GruBackward::operator()<Arch, T>(Arch, const T*, const T*, const T*, const T*, T*, T*, \
                                                        T*, std::size_t) const;
#define XGRAD_LSTM_INSTANCES(PREFIX, T, Arch)                                                             \
  PREFIX template void LstmForward::operator()<Arch, T>(Arch, T*, const T*, const T*, T*, T*, std::size_t)  \
      const;                                                                                              \
  PREFIX template void LstmBackward::operator()<Arch, T>(Arch, const T*, const T*, const T*, const T*, T*,  \
                                                         T*, std::size_t) const;

// The instruction sets compiled, widest first (xsimd::dispatch's order): on
// x86-64 three, each file with its own flags (CMakeLists.txt sets them only
// there); elsewhere (aarch64: NEON) the compiler's own target, once
// (activations_native.cpp).
#if defined(__x86_64__)
#define XGRAD_X86_KERNELS 1
using Archs = xsimd::arch_list<xsimd::avx512f, xsimd::avx2, xsimd::sse2>;
#else
#define XGRAD_X86_KERNELS 0
using Archs = xsimd::arch_list<xsimd::default_arch>;
#endif

// Applies MACRO(PREFIX, K, T, Arch) to every kernel and element type.
#define XGRAD_FOR_EACH_KERNEL_AND_TYPE(MACRO, PREFIX, Arch)                          \
  MACRO(PREFIX, identity, float, Arch) MACRO(PREFIX, identity, double, Arch)         \
  MACRO(PREFIX, tanh, float, Arch) MACRO(PREFIX, tanh, double, Arch)                 \
  MACRO(PREFIX, sigmoid, float, Arch) MACRO(PREFIX, sigmoid, double, Arch)           \
  MACRO(PREFIX, relu, float, Arch) MACRO(PREFIX, relu, double, Arch)                 \
  MACRO(PREFIX, hard_sigmoid, float, Arch) MACRO(PREFIX, hard_sigmoid, double, Arch) \
  MACRO(PREFIX, softsign, float, Arch) MACRO(PREFIX, softsign, double, Arch)         \
  MACRO(PREFIX, scaled_elu, float, Arch) MACRO(PREFIX, scaled_elu, double, Arch)     \
  MACRO(PREFIX, exp, float, Arch) MACRO(PREFIX, exp, double, Arch)

// The binary kernels, for every operation and element type.
#define XGRAD_BINARY_INSTANCES_OF(PREFIX, Op, T, Arch)                                                  \
  PREFIX template void Binary<BinaryOp::Op>::operator()<Arch, T>(Arch, const T*, std::size_t, const T*, \
                                                                 std::size_t, T*, std::size_t, std::size_t, \
                                                                 std::size_t) const;
#define XGRAD_FOR_EACH_BINARY(MACRO, PREFIX, Arch)                                        \
  MACRO(PREFIX, add, float, Arch) MACRO(PREFIX, add, double, Arch)                        \
  MACRO(PREFIX, subtract, float, Arch) MACRO(PREFIX, subtract, double, Arch)              \
  MACRO(PREFIX, multiply, float, Arch) MACRO(PREFIX, multiply, double, Arch)              \
  MACRO(PREFIX, doubled_product, float, Arch) MACRO(PREFIX, doubled_product, double, Arch)

#define XGRAD_KERNEL_INSTANCES(PREFIX, K, T, Arch)                                                      \
  PREFIX template void Forward<Kernel::K>::operator()<Arch, T>(Arch, const T*, T*, std::size_t,        \
                                                               const Rows<T>&, T, T) const;         \
  PREFIX template void Backward<Kernel::K>::operator()<Arch, T>(Arch, const T*, T*, std::size_t,       \
                                                                const Rows<T>&, T, T) const;

// Every kernel of one instruction set, with PREFIX (above).
#define XGRAD_INSTANCES_WITH(PREFIX, Arch)                                                          \
  XGRAD_FOR_EACH_KERNEL_AND_TYPE(XGRAD_KERNEL_INSTANCES, PREFIX, Arch)                              \
  XGRAD_FOR_EACH_BINARY(XGRAD_BINARY_INSTANCES_OF, PREFIX, Arch)                                    \
  XGRAD_SUM_ROWS_INSTANCES(PREFIX, float, Arch) XGRAD_SUM_ROWS_INSTANCES(PREFIX, double, Arch)      \
  XGRAD_LSTM_INSTANCES(PREFIX, float, Arch) XGRAD_LSTM_INSTANCES(PREFIX, double, Arch)              \
  XGRAD_GRU_INSTANCES(PREFIX, float, Arch) XGRAD_GRU_INSTANCES(PREFIX, double, Arch)
// Their explicit instantiations (each activations_<arch>.cpp) and their
// extern declarations (activations.cpp).
#define XGRAD_ALL_INSTANCES(Arch) XGRAD_INSTANCES_WITH(, Arch)
#define XGRAD_EXTERN_ALL_INSTANCES(Arch) XGRAD_INSTANCES_WITH(extern, Arch)

}  // namespace xgrad::kernels
