#pragma once
// Reductions over contiguous memory, vectorised with xsimd on the widest
// instruction set the CPU has (defined with the kernels, activations.cpp).

#include <cstddef>

namespace xgrad {

// The sum of values[0 .. n). Several SIMD accumulators run side by side, so
// the order of the additions differs from a left-to-right loop (and its
// rounding error is smaller for long inputs).
float sum_of(const float* values, std::size_t n);
double sum_of(const double* values, std::size_t n);

// out[i] = x[i] · x[i], returning sum_of(out, n): the same float, made in
// the squaring pass.
float square_into_summed(const float* x, float* out, std::size_t n);
double square_into_summed(const double* x, double* out, std::size_t n);

}  // namespace xgrad
