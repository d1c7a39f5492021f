#include "xgrad/tensor/reductions.hpp"

#include <xsimd/xsimd.hpp>

namespace xgrad {

namespace {

template <typename T>
T sum_impl(const T* values, std::size_t n) {
  using batch = xsimd::batch<T>;
  constexpr std::size_t width = batch::size;
  // Four independent accumulators hide the latency of the vector adds.
  batch a0(T(0)), a1(T(0)), a2(T(0)), a3(T(0));
  std::size_t i = 0;
  for (; i + 4 * width <= n; i += 4 * width) {
    a0 += batch::load_unaligned(values + i);
    a1 += batch::load_unaligned(values + i + width);
    a2 += batch::load_unaligned(values + i + 2 * width);
    a3 += batch::load_unaligned(values + i + 3 * width);
  }
  for (; i + width <= n; i += width) a0 += batch::load_unaligned(values + i);
  T total = xsimd::hadd((a0 + a1) + (a2 + a3));
  for (; i < n; ++i) total += values[i];
  return total;
}

}  // namespace

float sum_of(const float* values, std::size_t n) { return sum_impl(values, n); }
double sum_of(const double* values, std::size_t n) { return sum_impl(values, n); }

}  // namespace xgrad
