#pragma once
// Matrix products through OpenBLAS and, for small shapes, LIBXSMM; control
// of OpenBLAS's thread pool; which BLAS kernels run. Every matrix product in
// xgrad goes through gemm() or a GemmKernel here.

#include <cstddef>
#include <string>

#include "xgrad/tensor/tensor.hpp"

namespace xgrad {

// C[m, n] = alpha * op(A) op(B) + beta * C, row-major; op(X) is X or X^T.
// lda, ldb, ldc are the row strides of A, B and C as stored. With k = 0 the
// product is empty: C = beta * C (beta 0: zeros), without calling BLAS.
//
// Each product picks its engine: a LIBXSMM kernel generated for its shape
// when the shape is small (small_matrix_shape below) and xgrad was built with
// LIBXSMM, OpenBLAS otherwise. A product too large for LIBXSMM only by a
// long sum or a tall output runs as pieces LIBXSMM takes (sums of at most
// 512 terms accumulating into C, bands of rows of at most 2^17 elements):
// measured faster than OpenBLAS alone on one core. A generated kernel is kept for the next
// product of the same shape (one cache per thread); a caller making the same
// product many times (a recurrent layer's steps) holds a GemmKernel instead.
void gemm(bool transpose_a, bool transpose_b, std::size_t m, std::size_t n, std::size_t k,
          float alpha, const float* a, std::size_t lda, const float* b, std::size_t ldb,
          float beta, float* c, std::size_t ldc);
void gemm(bool transpose_a, bool transpose_b, std::size_t m, std::size_t n, std::size_t k,
          double alpha, const double* a, std::size_t lda, const double* b, std::size_t ldb,
          double beta, double* c, std::size_t ldc);

// Whether gemm computes a product A·B^T of these sizes (m rows of A, n of
// B, k terms) as A·(B^T), with B^T copied first: then a caller that
// multiplies by one B^T many times may keep the copy and pass it untransposed,
// with the same result to the bit.
bool gemm_transposes_b_first(std::size_t m, std::size_t n, std::size_t k);

// The same product through OpenBLAS alone, never LIBXSMM: for comparisons
// (xgrad_bench's gemm_limit) and tests.
void gemm_openblas(bool transpose_a, bool transpose_b, std::size_t m, std::size_t n, std::size_t k,
                   float alpha, const float* a, std::size_t lda, const float* b, std::size_t ldb,
                   float beta, float* c, std::size_t ldc);
void gemm_openblas(bool transpose_a, bool transpose_b, std::size_t m, std::size_t n, std::size_t k,
                   double alpha, const double* a, std::size_t lda, const double* b,
                   std::size_t ldb, double beta, double* c, std::size_t ldc);

// One product shape, its engine chosen and its kernel generated once: every
// call computes C = alpha * op(A) op(B) + beta * C with the sizes and row
// strides given here, on the pointers given to the call. A shape LIBXSMM
// takes runs its generated kernel with no lookup at all; any other shape
// runs as gemm() would run it. Cheap to copy; usable from any thread.
template <typename T>
class GemmKernel {
 public:
  GemmKernel() = default;  // a 0 x 0 product: does nothing
  GemmKernel(bool transpose_a, bool transpose_b, std::size_t m, std::size_t n, std::size_t k,
             T alpha, std::size_t lda, std::size_t ldb, T beta, std::size_t ldc);

  void operator()(const T* a, const T* b, T* c) const {
    if (small_) small_(b, a, c);  // column-major kernel: C^T = op(B)^T op(A)^T
    else run_general(a, b, c);
  }
  // Whether this shape runs a LIBXSMM kernel.
  bool small_matrix_engine() const { return small_ != nullptr; }

  // LIBXSMM's kernel type (libxsmm_smmfunction / libxsmm_dmmfunction).
  using SmallKernel = void (*)(const T* a, const T* b, T* c, ...);

 private:
  void run_general(const T* a, const T* b, T* c) const;

  SmallKernel small_ = nullptr;
  bool transpose_a_ = false, transpose_b_ = false;
  std::size_t m_ = 0, n_ = 0, k_ = 0, lda_ = 0, ldb_ = 0, ldc_ = 0;
  T alpha_ = T(1), beta_ = T(0);
};

// The instruction set of LIBXSMM's kernels in this process, which sets how
// large a product LIBXSMM takes: AVX-512, or narrower (AVX2 and older, and
// builds without LIBXSMM).
enum class SmallMatrixKernels { avx512, narrower };
SmallMatrixKernels small_matrix_kernels();

// Whether a product of these sizes is small enough for LIBXSMM (when xgrad
// has it): at most 1024 summed terms (k) and 2^21 output elements, and with
// AVX-512 kernels at most 2^26 multiply-adds on one thread, 2^22 when
// OpenBLAS would give it several threads (gemm_threads); with narrower
// kernels any sum of at most 32 terms, longer ones up to 2^21 multiply-adds
// on one thread and none when OpenBLAS would give them several. Beyond,
// OpenBLAS's packed, blocked kernels win; measured in bench/README.md ("The
// small-matrix engine's threshold", "The small-matrix engine on AVX2").
// LIBXSMM 1.17 also leaves every A·B^T, alpha other than 1 and beta other
// than 0 or 1 to OpenBLAS. The three-argument form applies this process's
// kernels' rule.
bool small_matrix_shape(std::size_t m, std::size_t n, std::size_t k, SmallMatrixKernels kernels);
bool small_matrix_shape(std::size_t m, std::size_t n, std::size_t k);
// "LIBXSMM 1.17.0 (cpx)": the engine of the small products and the
// instruction set its kernels target; "none" when xgrad was built without it.
std::string small_matrix_engine();

// OpenBLAS's name for the kernels it runs on this CPU (its "core":
// "Haswell", "SkylakeX", "Cooperlake", ..., or "Prescott", its generic x86-64
// kernels, for a CPU it does not know). OPENBLAS_CORETYPE overrides it.
std::string blas_core();
// The warning for a generic core on a CPU with AVX2 or AVX-512, naming the
// fix (OPENBLAS_CORETYPE=SkylakeX or Haswell); "" when there is none. xgrad
// prints it on stderr once per process, at its first product; the
// arguments are there to test it on any machine.
std::string blas_core_warning(const std::string& core, bool cpu_has_avx2, bool cpu_has_avx512);

// out = a^T for the [rows, cols] matrix a (row stride lda), written as
// [cols, rows] rows with row stride ldo: OpenBLAS's own transpose
// (omatcopy), 40x faster than evaluating xtensor's transpose view at 32x32.
void transpose_matrix(const float* a, std::size_t rows, std::size_t cols, std::size_t lda,
                      float* out, std::size_t ldo);
void transpose_matrix(const double* a, std::size_t rows, std::size_t cols, std::size_t lda,
                      double* out, std::size_t ldo);

// a [..., K] times b [K, N] -> [..., N]: the leading dimensions of `a` are
// flattened into the rows of one GEMM. Throws std::invalid_argument naming
// both shapes when they do not fit.
template <typename T>
Array<T> matmul(const Array<T>& a, const Array<T>& b);
// The same in two steps, for a caller that has the result's storage: the
// result's shape (checked as above), then the product written into `out`,
// an array of that shape.
template <typename T>
typename Array<T>::shape_type matmul_shape(const Array<T>& a, const Array<T>& b);
template <typename T>
void matmul_into(const Array<T>& a, const Array<T>& b, Array<T>& out);

// Threads: num_threads() is the most an OpenBLAS product may use, OpenBLAS's
// own default (the machine's cores, or OPENBLAS_NUM_THREADS) as read before
// xgrad's first product, until set_num_threads() changes it. Each OpenBLAS
// product runs on gemm_threads(m, n, k) of them, decided per product: one
// for the small and the thin products a recurrent layer makes at every step,
// all of them for the large ones. Measured on a 2-core machine (OpenBLAS
// 0.3.21, sgemm, median µs at 1 vs 2 threads): [32,1600]x[1600,32] 41 vs
// 106, [10000,8]x[8,32] 219 vs 368, but [64,128]x[128,128] 35 vs 26 and
// [64,512]x[512,512] 531 vs 284. A LIBXSMM kernel runs on the calling
// thread.
void set_num_threads(int threads);
int num_threads();
int gemm_threads(std::size_t m, std::size_t n, std::size_t k);

extern template class GemmKernel<float>;
extern template class GemmKernel<double>;
#define XGRAD_EXTERN_MATMUL(T)                                                              \
  extern template Array<T> matmul(const Array<T>&, const Array<T>&);                       \
  extern template typename Array<T>::shape_type matmul_shape(const Array<T>&, const Array<T>&); \
  extern template void matmul_into(const Array<T>&, const Array<T>&, Array<T>&);
XGRAD_EXTERN_MATMUL(float)
XGRAD_EXTERN_MATMUL(double)
#undef XGRAD_EXTERN_MATMUL

}  // namespace xgrad
