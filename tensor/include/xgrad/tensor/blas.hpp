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

// a [..., K] times b [K, N] -> [..., N]: the leading dimensions of `a` are
// flattened into the rows of one GEMM. Throws std::invalid_argument naming
// both shapes when they do not fit.
template <typename T>
Array<T> matmul(const Array<T>& a, const Array<T>& b);

// Threads used by OpenBLAS for every later product.
void set_num_threads(int threads);
int num_threads();

extern template Array<float> matmul(const Array<float>&, const Array<float>&);
extern template Array<double> matmul(const Array<double>&, const Array<double>&);

}  // namespace xgrad
