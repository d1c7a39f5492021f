#pragma once
// Matrix products through OpenBLAS, and control of its thread pool. Every
// matrix product in xgrad goes through gemm() here.

#include <cstddef>

#include "xgrad/tensor/tensor.hpp"

namespace xgrad {

// C[m, n] = alpha * op(A) op(B) + beta * C, row-major; op(X) is X or X^T.
// lda, ldb, ldc are the row strides of A, B and C as stored.
void gemm(bool transpose_a, bool transpose_b, std::size_t m, std::size_t n, std::size_t k,
          float alpha, const float* a, std::size_t lda, const float* b, std::size_t ldb,
          float beta, float* c, std::size_t ldc);
void gemm(bool transpose_a, bool transpose_b, std::size_t m, std::size_t n, std::size_t k,
          double alpha, const double* a, std::size_t lda, const double* b, std::size_t ldb,
          double beta, double* c, std::size_t ldc);

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

// Threads: num_threads() is the most a product may use, OpenBLAS's own
// default (the machine's cores, or OPENBLAS_NUM_THREADS) until
// set_num_threads() changes it. Each product runs on gemm_threads(m, n, k) of
// them: one for the small and the thin products a recurrent layer makes at
// every step, all of them for the large ones. Measured on a 2-core machine
// (OpenBLAS 0.3.21, sgemm, median µs at 1 vs 2 threads): [32,1600]x[1600,32]
// 41 vs 106, [10000,8]x[8,32] 219 vs 368, but [64,128]x[128,128] 35 vs 26 and
// [64,512]x[512,512] 531 vs 284.
void set_num_threads(int threads);
int num_threads();
int gemm_threads(std::size_t m, std::size_t n, std::size_t k);

extern template Array<float> matmul(const Array<float>&, const Array<float>&);
extern template Array<double> matmul(const Array<double>&, const Array<double>&);

}  // namespace xgrad
