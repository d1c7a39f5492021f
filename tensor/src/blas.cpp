#include "xgrad/tensor/blas.hpp"

#include <atomic>
#include <stdexcept>
#include <string>
#include <vector>

#include <cblas.h>

namespace xgrad {

namespace {
CBLAS_TRANSPOSE op(bool transpose) { return transpose ? CblasTrans : CblasNoTrans; }
blasint as_blas(std::size_t n) { return static_cast<blasint>(n); }

// Below either bound a second thread costs more than it brings (blas.hpp).
constexpr std::size_t kThreadedMinDimension = 64;
constexpr std::size_t kThreadedMinMultiplyAdds = std::size_t(1) << 20;

// The most threads a product may use (0: not read from OpenBLAS yet), and
// what OpenBLAS is set to now; changed only when a product needs another
// count, so a run of same-sized products makes no calls into OpenBLAS.
std::atomic<int> max_threads{0};
std::atomic<int> openblas_threads{0};

int current_max_threads() {
  int n = max_threads.load(std::memory_order_relaxed);
  if (n == 0) {
    n = openblas_get_num_threads();
    int expected = 0;
    if (!max_threads.compare_exchange_strong(expected, n)) n = expected;
  }
  return n;
}

// A plain load first: an exchange at every product is a locked instruction
// that waits for the caller's pending stores (10% of a B = 1 GRU step).
void use_threads_for(std::size_t m, std::size_t n, std::size_t k) {
  const int wanted = gemm_threads(m, n, k);
  if (openblas_threads.load(std::memory_order_relaxed) == wanted) return;
  openblas_threads.store(wanted, std::memory_order_relaxed);
  openblas_set_num_threads(wanted);
}

// OpenBLAS 0.3.21 (SkylakeX kernels) computes a small A·B^T 3x slower than
// A·B: [32, 32]·[32, 32]^T took 1.5-2.4 µs, the same with B transposed
// beforehand 0.45 µs. Such a product, with rows enough in A to pay for the
// copy, runs as A·(B^T) with B^T written into a buffer of the thread's own.
constexpr std::size_t kTransposeFirstMinRows = 8;

bool transpose_b_first(bool transpose_a, bool transpose_b, std::size_t m, std::size_t n,
                       std::size_t k) {
  return !transpose_a && transpose_b && m >= kTransposeFirstMinRows &&
         m * n * k < kThreadedMinMultiplyAdds;
}

// B^T of the [n, k] matrix b (leading dimension ldb), as [k, n] rows.
template <typename T>
const T* transposed_into_scratch(const T* b, std::size_t ldb, std::size_t n, std::size_t k) {
  thread_local std::vector<T> scratch;
  scratch.resize(n * k);
  transpose_matrix(b, n, k, ldb, scratch.data(), n);
  return scratch.data();
}
}  // namespace

void transpose_matrix(const float* a, std::size_t rows, std::size_t cols, std::size_t lda,
                      float* out, std::size_t ldo) {
  if (rows == 0 || cols == 0) return;
  cblas_somatcopy(CblasRowMajor, CblasTrans, as_blas(rows), as_blas(cols), 1.0f, a, as_blas(lda),
                  out, as_blas(ldo));
}

void transpose_matrix(const double* a, std::size_t rows, std::size_t cols, std::size_t lda,
                      double* out, std::size_t ldo) {
  if (rows == 0 || cols == 0) return;
  cblas_domatcopy(CblasRowMajor, CblasTrans, as_blas(rows), as_blas(cols), 1.0, a, as_blas(lda),
                  out, as_blas(ldo));
}

int gemm_threads(std::size_t m, std::size_t n, std::size_t k) {
  const bool large = m >= kThreadedMinDimension && n >= kThreadedMinDimension &&
                     m * n * k >= kThreadedMinMultiplyAdds;
  return large ? current_max_threads() : 1;
}

void gemm(bool transpose_a, bool transpose_b, std::size_t m, std::size_t n,
                 std::size_t k, float alpha, const float* a, std::size_t lda, const float* b,
                 std::size_t ldb, float beta, float* c, std::size_t ldc) {
  if (m == 0 || n == 0) return;
  if (transpose_b_first(transpose_a, transpose_b, m, n, k)) {
    b = transposed_into_scratch(b, ldb, n, k);
    transpose_b = false;
    ldb = n;
  }
  use_threads_for(m, n, k);
  cblas_sgemm(CblasRowMajor, op(transpose_a), op(transpose_b), as_blas(m), as_blas(n),
              as_blas(k), alpha, a, as_blas(lda), b, as_blas(ldb), beta, c, as_blas(ldc));
}

void gemm(bool transpose_a, bool transpose_b, std::size_t m, std::size_t n,
                  std::size_t k, double alpha, const double* a, std::size_t lda,
                  const double* b, std::size_t ldb, double beta, double* c, std::size_t ldc) {
  if (m == 0 || n == 0) return;
  if (transpose_b_first(transpose_a, transpose_b, m, n, k)) {
    b = transposed_into_scratch(b, ldb, n, k);
    transpose_b = false;
    ldb = n;
  }
  use_threads_for(m, n, k);
  cblas_dgemm(CblasRowMajor, op(transpose_a), op(transpose_b), as_blas(m), as_blas(n),
              as_blas(k), alpha, a, as_blas(lda), b, as_blas(ldb), beta, c, as_blas(ldc));
}

template <typename T>
Array<T> matmul(const Array<T>& a, const Array<T>& b) {
  if (a.dimension() < 1 || b.dimension() != 2 || a.shape().back() != b.shape()[0]) {
    throw std::invalid_argument(
        "matmul: expected a [..., K] and b [K, N], got " + shape_to_string(a.shape()) +
        " and " + shape_to_string(b.shape()));
  }
  const std::size_t k = b.shape()[0];
  const std::size_t n = b.shape()[1];
  Shape out_shape = to_shape(a.shape());
  out_shape.back() = n;
  const std::size_t m = element_count(out_shape) / (n == 0 ? 1 : n);
  // With k == 0 the product is all zeros; BLAS is not asked for empty sums.
  // Otherwise beta = 0 makes BLAS write every element without reading it.
  if (k == 0) return Array<T>(out_shape, T(0));
  Array<T> out = Array<T>::from_shape(out_shape);
  gemm(false, false, m, n, k, T(1), a.data(), k, b.data(), n, T(0), out.data(), n);
  return out;
}

void set_num_threads(int threads) {
  if (threads < 1) {
    throw std::invalid_argument("set_num_threads: need at least 1 thread, got " +
                                std::to_string(threads));
  }
  max_threads.store(threads, std::memory_order_relaxed);
  openblas_threads.store(threads, std::memory_order_relaxed);
  openblas_set_num_threads(threads);
}

int num_threads() { return current_max_threads(); }

template Array<float> matmul(const Array<float>&, const Array<float>&);
template Array<double> matmul(const Array<double>&, const Array<double>&);

}  // namespace xgrad
