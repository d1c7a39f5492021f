#pragma once
// The bodies of the kernels declared in activation_kernels.hpp, for the
// per-instruction-set files only. Everything here is a template of the
// instruction set (Arch): a function compiled with AVX-512 flags must never
// be shared with, and so picked by the linker for, a plain x86-64 caller.
//
// The tail that does not fill a batch goes through one zero-padded batch, so
// every element of every array gets the same formula: a value does not depend
// on the array's length or on where in it the element sits (the fused
// SimpleRNN activates [U]-long rows, its composed twin whole [B, U] arrays).
//
// The formulas are Keras 3's (activations.hpp lists them).

#include <cmath>
#include <limits>
#include <type_traits>

#include "activation_kernels.hpp"

namespace xgrad::kernels {

// out[i] = f(in[i] + bias[i]) for a batch function f, row by row (Rows);
// out may be in.
//
// Short rows that fit in L1 together (a recurrent step's: [32, 32] at
// workload S) go column block by column block, down the rows: the bias
// batch is loaded once per block, not once per row, and a row's one or two
// batches cost no loop of their own (workload S's forward tanh, 50 steps of
// [32, 32]: 14.4 us row by row, 12.6 us so). Rows of more batches, or more
// rows, go row by row: at workload M ([64, 128] per step, rows 51 KB apart)
// the column order made the train step 4% slower.
constexpr std::size_t kColumnOrderMaxBytes = std::size_t(32) << 10;
constexpr std::size_t kColumnOrderMaxBatches = 2;

template <class Arch, typename T>
bool column_order(std::size_t rows, std::size_t n) {
  return n <= kColumnOrderMaxBatches * xsimd::batch<T, Arch>::size && rows * n * sizeof(T) <= kColumnOrderMaxBytes;
}

template <class Arch, typename T, typename F>
void transform(const T* in, T* out, std::size_t n, const Rows<T>& rows, F f) {
  using batch = xsimd::batch<T, Arch>;
  constexpr std::size_t width = batch::size;
  const T* bias = rows.bias;
  const std::size_t whole = n / width * width;
  const auto input = [bias](const T* x, std::size_t i) {
    const batch v = batch::load_unaligned(x + i);
    return bias ? v + batch::load_unaligned(bias + i) : v;
  };
  if (column_order<Arch, T>(rows.count, n)) {
    for (std::size_t i = 0; i < whole; i += width) {
      const T* x = in + i;
      T* o = out + i;
      if (bias) {
        const batch b = batch::load_unaligned(bias + i);
        for (std::size_t r = 0; r < rows.count; ++r, x += rows.in_ld, o += rows.out_ld)
          f(batch::load_unaligned(x) + b).store_unaligned(o);
      } else {
        for (std::size_t r = 0; r < rows.count; ++r, x += rows.in_ld, o += rows.out_ld)
          f(batch::load_unaligned(x)).store_unaligned(o);
      }
    }
  } else {
    for (std::size_t r = 0; r < rows.count; ++r)
      for (std::size_t i = 0; i < whole; i += width)
        f(input(in + r * rows.in_ld, i)).store_unaligned(out + r * rows.out_ld + i);
  }
  if (whole == n) return;
  for (std::size_t r = 0; r < rows.count; ++r) {
    const T* x = in + r * rows.in_ld;
    T* o = out + r * rows.out_ld;
    alignas(64) T tail[width] = {};  // zeros beyond n: every f is finite at 0
    for (std::size_t j = 0; whole + j < n; ++j) tail[j] = bias ? x[whole + j] + bias[whole + j] : x[whole + j];
    f(batch::load_aligned(tail)).store_aligned(tail);
    for (std::size_t j = 0; whole + j < n; ++j) o[whole + j] = tail[j];
  }
}

// grad[i] = f(y[i], grad[i]), row by row (y's rows at in_ld, grad's at
// out_ld).
template <class Arch, typename T, typename F>
void transform_gradient(const T* y_rows, T* grad_rows, std::size_t n, const Rows<T>& rows, F f) {
  using batch = xsimd::batch<T, Arch>;
  constexpr std::size_t width = batch::size;
  const std::size_t whole = n / width * width;
  const auto apply = [&f](const T* y, T* grad) {
    f(batch::load_unaligned(y), batch::load_unaligned(grad)).store_unaligned(grad);
  };
  if (column_order<Arch, T>(rows.count, n)) {
    for (std::size_t i = 0; i < whole; i += width) {
      const T* y = y_rows + i;
      T* grad = grad_rows + i;
      for (std::size_t r = 0; r < rows.count; ++r, y += rows.in_ld, grad += rows.out_ld) apply(y, grad);
    }
  } else {
    for (std::size_t r = 0; r < rows.count; ++r)
      for (std::size_t i = 0; i < whole; i += width) apply(y_rows + r * rows.in_ld + i, grad_rows + r * rows.out_ld + i);
  }
  if (whole == n) return;
  for (std::size_t r = 0; r < rows.count; ++r) {
    const T* y = y_rows + r * rows.in_ld;
    T* grad = grad_rows + r * rows.out_ld;
    const std::size_t i = whole;
    alignas(64) T y_tail[width] = {}, grad_tail[width] = {};
    for (std::size_t j = 0; i + j < n; ++j) {
      y_tail[j] = y[i + j];
      grad_tail[j] = grad[i + j];
    }
    f(batch::load_aligned(y_tail), batch::load_aligned(grad_tail)).store_aligned(grad_tail);
    for (std::size_t j = 0; i + j < n; ++j) grad[i + j] = grad_tail[j];
  }
}

// tanh for float: x · P(x²) / Q(x²) on [−9, 9], ±1 beyond, where the float
// nearest tanh is 1 − 1 ulp or 1. No exp and no branch: 2.8x faster than
// xsimd's tanh (which computes a polynomial and an exp-based formula for a
// batch that mixes |x| below and above 0.625), the S/M/L RNNs' commonest
// values. TensorFlow's CPU kernel for Keras' float tanh is a rational
// function of the same shape. The coefficients are scripts/fit_tanh.py's:
// a relative error of 1.3e-9 in exact arithmetic. In float with FMA, every
// float up to 12 was within 5 ulp of the correctly rounded tanh when fitted
// (92% exact, 0.03% at 3 ulp or more), 6 ulp without FMA (the SSE2 kernel);
// test_tensor's FloatTanh checks the bound on a sample of the floats, on the
// instruction set the CPU runs.
//
// It works on |x| and puts the sign back (the function is odd, and every
// step is exact under a change of sign: the same floats as on x itself).
// NaN needs no select: min(a, b) returns b when either is NaN on x86 (and
// NaN on Arm), so min(9, |x|) and min(1, y) carry it through, and the
// arithmetic in between keeps its payload. Two bound operations and the
// NaN select fewer: 16 operations per vector instead of 19, on a kernel
// bound by them.
template <class Arch>
xsimd::batch<float, Arch> rational_tanh(const xsimd::batch<float, Arch>& input) {
  using batch = xsimd::batch<float, Arch>;
  const batch limit(9.0f), one(1.0f);
  const batch x = xsimd::min(limit, xsimd::abs(input));
  const batch t = x * x;
  batch p(-1.224645559e-11f);
  p = xsimd::fma(t, p, batch(3.064282339e-08f));
  p = xsimd::fma(t, p, batch(2.803143798e-05f));
  p = xsimd::fma(t, p, batch(3.869514214e-03f));
  p = xsimd::fma(t, p, batch(1.368086189e-01f));
  p = xsimd::fma(t, p, one);
  batch q(1.289043780e-06f);
  q = xsimd::fma(t, q, batch(3.940724418e-04f));
  q = xsimd::fma(t, q, batch(2.725018002e-02f));
  q = xsimd::fma(t, q, batch(4.701419473e-01f));
  q = xsimd::fma(t, q, one);
  return xsimd::min(one, x * p / q) | xsimd::bitofsign(input);
}

// xsimd's exp (inside its tanh too) converts x·log2(e) to an integer:
// undefined behaviour (UBSan's float-cast-overflow) for NaN, ±inf and
// beyond ±2^63. So tanh and sigmoid hand it x clipped where their result
// is already exact (tanh(±20) and e^-800 round to ±1 and 0), NaN as 0, and
// put NaN back after.
template <class Arch, typename T>
xsimd::batch<T, Arch> clip_for_exp(const xsimd::batch<T, Arch>& x, T limit) {
  using batch = xsimd::batch<T, Arch>;
  return xsimd::select(xsimd::isnan(x), batch(T(0)), xsimd::clip(x, batch(-limit), batch(limit)));
}

// e^x of a batch. xsimd's exp saturates early: inf from x ≈ 88.38 (float;
// 709.44 for double) where e^x is finite up to 88.72 (709.78), and 0 where
// e^x is subnormal (below about −87.3 and −708.4). Lanes it gave as inf or 0
// for a finite x are taken from std::exp, as NumPy gives them.
template <class Arch, typename T>
xsimd::batch<T, Arch> exp_of(const xsimd::batch<T, Arch>& x) {
  using batch = xsimd::batch<T, Arch>;
  const batch y = xsimd::exp(x);
  const auto saturated = ((y == batch(T(0))) | (y == batch(std::numeric_limits<T>::infinity()))) & xsimd::isfinite(x);
  if (!xsimd::any(saturated)) return y;
  alignas(64) T xs[batch::size], ys[batch::size];
  x.store_aligned(xs);
  y.store_aligned(ys);
  for (std::size_t i = 0; i < batch::size; ++i)
    if (ys[i] == T(0) || std::isinf(ys[i])) ys[i] = std::exp(xs[i]);
  return batch::load_aligned(ys);
}

// tanh of a batch: the rational function for float, xsimd's for double.
template <class Arch, typename T>
xsimd::batch<T, Arch> tanh_of(const xsimd::batch<T, Arch>& x) {
  if constexpr (std::is_same_v<T, float>) return rational_tanh(x);
  else return xsimd::select(xsimd::isnan(x), x, xsimd::tanh(clip_for_exp(x, T(20))));
}

// sigmoid of a batch. e^-|x| never overflows: 1 / (1 + e) for x >= 0,
// e / (1 + e) below, as one division of the lane's numerator (the two
// divisions selected after were half of sigmoid's time in perf). Inlined
// by force: GCC called it from the gated kernels, three times per batch,
// each call spilling x and loading its ten constants again.
template <class Arch, typename T>
inline __attribute__((always_inline)) xsimd::batch<T, Arch> sigmoid_of(const xsimd::batch<T, Arch>& x) {
  using batch = xsimd::batch<T, Arch>;
  const batch zero(T(0)), one(T(1));
  const batch e = xsimd::exp(-xsimd::abs(clip_for_exp(x, T(800))));
  return xsimd::select(xsimd::isnan(x), x, xsimd::select(x >= zero, one, e) / (one + e));
}

template <Kernel K>
template <class Arch, typename T>
void Forward<K>::operator()(Arch, const T* in, T* out, std::size_t n, const Rows<T>& rows, T alpha,
                            T scale) const {
  using batch = xsimd::batch<T, Arch>;
  const batch zero(T(0)), one(T(1));
  if constexpr (K == Kernel::identity) {
    transform<Arch>(in, out, n, rows, [](const batch& x) { return x; });
  } else if constexpr (K == Kernel::tanh) {
    transform<Arch>(in, out, n, rows, [](const batch& x) { return tanh_of(x); });
  } else if constexpr (K == Kernel::sigmoid) {
    transform<Arch>(in, out, n, rows, [](const batch& x) { return sigmoid_of(x); });
  } else if constexpr (K == Kernel::relu) {
    // max and min return their second operand for NaN: NaN is put back, as
    // PyTorch's and TensorFlow's relu propagate it instead of hiding it.
    transform<Arch>(in, out, n, rows, [&](const batch& x) { return xsimd::select(xsimd::isnan(x), x, xsimd::max(x, zero)); });
  } else if constexpr (K == Kernel::hard_sigmoid) {
    // relu6(x + 3) / 6; the division (not a product with 1/6) keeps it
    // bit-identical to Keras' formula.
    const batch three(T(3)), six(T(6));
    transform<Arch>(in, out, n, rows, [&](const batch& x) {
      return xsimd::select(xsimd::isnan(x), x, xsimd::min(xsimd::max(x + three, zero), six) / six);
    });
  } else if constexpr (K == Kernel::softsign) {
    transform<Arch>(in, out, n, rows, [&](const batch& x) { return x / (one + xsimd::abs(x)); });
  } else if constexpr (K == Kernel::scaled_elu) {
    // expm1 is exact near 0; its inf for a large positive x is not selected.
    const batch a(alpha), s(scale);
    transform<Arch>(in, out, n, rows, [&](const batch& x) {
      return s * xsimd::select(x > zero, x, a * xsimd::expm1(x));
    });
  } else if constexpr (K == Kernel::exp) {
    transform<Arch>(in, out, n, rows, [](const batch& x) { return exp_of(x); });
  }
}

template <Kernel K>
template <class Arch, typename T>
void Backward<K>::operator()(Arch, const T* y, T* grad, std::size_t n, const Rows<T>& rows, T alpha,
                             T scale) const {
  using batch = xsimd::batch<T, Arch>;
  const batch zero(T(0)), one(T(1));
  if constexpr (K == Kernel::identity) {
    // f' = 1: nothing to scale
  } else if constexpr (K == Kernel::tanh) {
    transform_gradient<Arch>(y, grad, n, rows, [&](const batch& v, const batch& g) { return g * (one - v * v); });
  } else if constexpr (K == Kernel::sigmoid) {
    transform_gradient<Arch>(y, grad, n, rows, [&](const batch& v, const batch& g) { return g * v * (one - v); });
  } else if constexpr (K == Kernel::relu) {
    transform_gradient<Arch>(y, grad, n, rows,
                             [&](const batch& v, const batch& g) { return xsimd::select(v > zero, g, zero); });
  } else if constexpr (K == Kernel::hard_sigmoid) {  // 1/6 strictly inside the ramp
    const batch six(T(6));
    transform_gradient<Arch>(y, grad, n, rows, [&](const batch& v, const batch& g) {
      return xsimd::select(v > zero && v < one, g / six, zero);
    });
  } else if constexpr (K == Kernel::softsign) {  // 1 / (1 + |x|)² = (1 − |y|)²
    transform_gradient<Arch>(y, grad, n, rows, [&](const batch& v, const batch& g) {
      const batch a = one - xsimd::abs(v);
      return g * (a * a);
    });
  } else if constexpr (K == Kernel::scaled_elu) {  // scale · alpha · e^x = y + scale · alpha below 0
    const batch s(scale), offset(scale * alpha);
    transform_gradient<Arch>(y, grad, n, rows, [&](const batch& v, const batch& g) {
      return g * xsimd::select(v > zero, s, v + offset);
    });
  } else if constexpr (K == Kernel::exp) {
    transform_gradient<Arch>(y, grad, n, rows, [](const batch& v, const batch& g) { return g * v; });
  }
}

// Runs body(offset, lanes) over [0, units) one batch at a time; the body
// reads and writes the last, partial batch through load_lanes and
// store_lanes (zero-padded copies), so every unit gets the same formula as
// in a full batch.
template <class Arch, typename T, typename Body>
void over_batches(std::size_t units, Body body) {
  constexpr std::size_t width = xsimd::batch<T, Arch>::size;
  std::size_t u = 0;
  for (; u + width <= units; u += width) body(u, width);
  if (u < units) body(u, units - u);
}

// Loads `lanes` values (a full batch, or a zero-padded tail).
template <class Arch, typename T>
xsimd::batch<T, Arch> load_lanes(const T* p, std::size_t lanes) {
  using batch = xsimd::batch<T, Arch>;
  if (lanes == batch::size) return batch::load_unaligned(p);
  alignas(64) T tail[batch::size] = {};
  for (std::size_t j = 0; j < lanes; ++j) tail[j] = p[j];
  return batch::load_aligned(tail);
}

template <class Arch, typename T>
void store_lanes(const xsimd::batch<T, Arch>& v, T* p, std::size_t lanes) {
  using batch = xsimd::batch<T, Arch>;
  if (lanes == batch::size) return v.store_unaligned(p);
  alignas(64) T tail[batch::size];
  v.store_aligned(tail);
  for (std::size_t j = 0; j < lanes; ++j) p[j] = tail[j];
}

template <class Arch, typename T>
void Fill::operator()(Arch, T* out, std::size_t n, T value) const {
  using batch = xsimd::batch<T, Arch>;
  const batch v(value);
  std::size_t i = 0;
  for (; i + batch::size <= n; i += batch::size) v.store_unaligned(out + i);
  for (; i < n; ++i) out[i] = value;
}

// A row shorter than a batch is copied element by element; a longer one
// ends with a batch that overlaps the one before (in and out never overlap).
template <class Arch, typename T>
void CopyRows::operator()(Arch, const T* in, std::size_t in_ld, T* out, std::size_t out_ld, std::size_t rows,
                          std::size_t n) const {
  using batch = xsimd::batch<T, Arch>;
  constexpr std::size_t width = batch::size;
  for (std::size_t r = 0; r < rows; ++r, in += in_ld, out += out_ld) {
    if (n < width) {
      for (std::size_t i = 0; i < n; ++i) out[i] = in[i];
      continue;
    }
    std::size_t i = 0;
    for (; i + width <= n; i += width) batch::load_unaligned(in + i).store_unaligned(out + i);
    if (i < n) batch::load_unaligned(in + n - width).store_unaligned(out + n - width);
  }
}

template <class Arch, typename T>
void ScaledDouble::operator()(Arch, T value, const T* b, T* out, std::size_t n) const {
  using batch = xsimd::batch<T, Arch>;
  const batch v(value);
  std::size_t i = 0;
  for (; i + batch::size <= n; i += batch::size) {
    const batch x = batch::load_unaligned(b + i);
    (v * (x + x)).store_unaligned(out + i);
  }
  for (; i < n; ++i) out[i] = value * (b[i] + b[i]);
}

// The sum of batch_at(i) for i = 0, width, 2·width, ... then of
// scalar_at(i) for the tail: four independent accumulators (hiding the
// latency of the vector adds), their lanes added in order (xsimd's hadd
// for AVX-512 needs AVX-512DQ). Sum and SquareSum add alike, so a sum of
// squares made while squaring is the float a Sum of the squares gives.
template <class Arch, typename T, typename BatchAt, typename ScalarAt>
T sum_in_order(std::size_t n, BatchAt batch_at, ScalarAt scalar_at) {
  using batch = xsimd::batch<T, Arch>;
  constexpr std::size_t width = batch::size;
  batch a0(T(0)), a1(T(0)), a2(T(0)), a3(T(0));
  std::size_t i = 0;
  for (; i + 4 * width <= n; i += 4 * width) {
    a0 += batch_at(i);
    a1 += batch_at(i + width);
    a2 += batch_at(i + 2 * width);
    a3 += batch_at(i + 3 * width);
  }
  for (; i + width <= n; i += width) a0 += batch_at(i);
  alignas(64) T lanes[width];
  ((a0 + a1) + (a2 + a3)).store_aligned(lanes);
  T total(0);
  for (const T lane : lanes) total += lane;
  for (; i < n; ++i) total += scalar_at(i);
  return total;
}

template <class Arch, typename T>
T Sum::operator()(Arch, const T* values, std::size_t n) const {
  using batch = xsimd::batch<T, Arch>;
  return sum_in_order<Arch, T>(
      n, [&](std::size_t i) { return batch::load_unaligned(values + i); }, [&](std::size_t i) { return values[i]; });
}

template <class Arch, typename T>
T SquareSum::operator()(Arch, const T* x, T* out, std::size_t n) const {
  using batch = xsimd::batch<T, Arch>;
  // Each square is stored before it is added, so the compiler cannot fuse
  // the product into the sum's addition (an FMA would round differently).
  return sum_in_order<Arch, T>(
      n,
      [&](std::size_t i) {
        const batch v = batch::load_unaligned(x + i);
        const batch square = v * v;
        square.store_unaligned(out + i);
        return square;
      },
      [&](std::size_t i) {
        out[i] = x[i] * x[i];
        return out[i];
      });
}

template <class Arch, typename T>
void SumRows::operator()(Arch, const T* a, std::size_t rows, std::size_t n, T* out) const {
  using batch = xsimd::batch<T, Arch>;
  std::size_t i = 0;
  for (; i + batch::size <= n; i += batch::size) {
    batch total(T(0));
    for (std::size_t r = 0; r < rows; ++r) total += batch::load_unaligned(a + r * n + i);
    total.store_unaligned(out + i);
  }
  for (; i < n; ++i) {
    T total(0);
    for (std::size_t r = 0; r < rows; ++r) total += a[r * n + i];
    out[i] = total;
  }
}

// Gates i, f, g, o in blocks of U, z = gates + bias (null: none):
// i, f, o = σ(z), g = tanh(z);
// c = f ⊙ c_prev + i ⊙ g; h = o ⊙ tanh(c). The gates overwrite z.
template <class Arch, typename T>
void LstmForward::operator()(Arch, T* gates, const T* bias, const T* c_prev, T* c, T* h,
                             std::size_t units) const {
  using batch = xsimd::batch<T, Arch>;
  // Gate block k's pre-activation, with its bias.
  const auto pre = [&](std::size_t k, std::size_t u, std::size_t lanes) {
    const batch z = load_lanes<Arch>(gates + k * units + u, lanes);
    return bias ? z + load_lanes<Arch>(bias + k * units + u, lanes) : z;
  };
  over_batches<Arch, T>(units, [&](std::size_t u, std::size_t lanes) {
    const batch i = sigmoid_of(pre(0, u, lanes));
    const batch f = sigmoid_of(pre(1, u, lanes));
    const batch g = tanh_of(pre(2, u, lanes));
    const batch o = sigmoid_of(pre(3, u, lanes));
    const batch cell = c_prev ? f * load_lanes<Arch>(c_prev + u, lanes) + i * g : i * g;
    store_lanes(i, gates + u, lanes);
    store_lanes(f, gates + units + u, lanes);
    store_lanes(g, gates + 2 * units + u, lanes);
    store_lanes(o, gates + 3 * units + u, lanes);
    store_lanes(cell, c + u, lanes);
    store_lanes(o * tanh_of(cell), h + u, lanes);
  });
}

// From the gates, c_{t−1} (null: zeros), c_t, dL/dh_t and dL/dc_t (carried,
// in dc): dz, the pre-activations' gradients [4U], and dL/dc_{t−1} in dc.
template <class Arch, typename T>
void LstmBackward::operator()(Arch, const T* gates, const T* c_prev, const T* c, const T* dh, T* dc,
                              T* dz, std::size_t units) const {
  using batch = xsimd::batch<T, Arch>;
  const batch one(T(1));
  over_batches<Arch, T>(units, [&](std::size_t u, std::size_t lanes) {
    const batch i = load_lanes<Arch>(gates + u, lanes);
    const batch f = load_lanes<Arch>(gates + units + u, lanes);
    const batch g = load_lanes<Arch>(gates + 2 * units + u, lanes);
    const batch o = load_lanes<Arch>(gates + 3 * units + u, lanes);
    const batch cp = c_prev ? load_lanes<Arch>(c_prev + u, lanes) : batch(T(0));
    const batch dh_u = load_lanes<Arch>(dh + u, lanes);
    const batch tc = tanh_of(load_lanes<Arch>(c + u, lanes));
    const batch dc_u = load_lanes<Arch>(dc + u, lanes) + dh_u * o * (one - tc * tc);
    store_lanes(dc_u * g * (i * (one - i)), dz + u, lanes);
    store_lanes(dc_u * cp * (f * (one - f)), dz + units + u, lanes);
    store_lanes(dc_u * i * (one - g * g), dz + 2 * units + u, lanes);
    store_lanes(dh_u * tc * (o * (one - o)), dz + 3 * units + u, lanes);
    store_lanes(dc_u * f, dc + u, lanes);
  });
}

// Gates u, q (Keras' z, r) and the candidate ĥ in blocks of U, from the
// input projections in `gates` and the recurrent products r, each plus its
// bias (null: none): u = σ(z_u + r_u), q = σ(z_q + r_q), ĥ = tanh(z_h + q ⊙ r_h),
// h = u ⊙ h_prev + (1 − u) ⊙ ĥ (h_prev null: zeros). The gates overwrite
// the projections; r_h is kept for backward.
template <class Arch, typename T>
void GruForward::operator()(Arch, T* gates, const T* recurrent, const T* bias, const T* recurrent_bias,
                            const T* h_prev, T* recurrent_h, T* h, std::size_t units) const {
  using batch = xsimd::batch<T, Arch>;
  const batch one(T(1));
  // Block k of `values` plus block k of `add` (null: nothing).
  const auto with = [&](const T* values, const T* add, std::size_t k, std::size_t u, std::size_t lanes) {
    const batch v = load_lanes<Arch>(values + k * units + u, lanes);
    return add ? v + load_lanes<Arch>(add + k * units + u, lanes) : v;
  };
  over_batches<Arch, T>(units, [&](std::size_t u, std::size_t lanes) {
    const batch update = sigmoid_of(with(gates, bias, 0, u, lanes) + with(recurrent, recurrent_bias, 0, u, lanes));
    const batch reset = sigmoid_of(with(gates, bias, 1, u, lanes) + with(recurrent, recurrent_bias, 1, u, lanes));
    const batch r_h = with(recurrent, recurrent_bias, 2, u, lanes);
    const batch candidate = tanh_of(with(gates, bias, 2, u, lanes) + reset * r_h);
    const batch previous = h_prev ? load_lanes<Arch>(h_prev + u, lanes) : batch(T(0));
    store_lanes(update, gates + u, lanes);
    store_lanes(reset, gates + units + u, lanes);
    store_lanes(candidate, gates + 2 * units + u, lanes);
    store_lanes(r_h, recurrent_h + u, lanes);
    store_lanes((one - update) * candidate + update * previous, h + u, lanes);
  });
}

// From the gates, r_h, h_prev (null: zeros) and dh = dL/dh: dzr, the
// gradients of the recurrent products [3U], d_candidate, that of the
// candidate's input projection [U] (the update's and reset's are dzr's
// first 2U), and dh_prev += dh ⊙ u (unless null).
template <class Arch, typename T>
void GruBackward::operator()(Arch, const T* gates, const T* recurrent_h, const T* h_prev, const T* dh,
                             T* d_candidate_out, T* dzr, T* dh_prev, std::size_t units) const {
  using batch = xsimd::batch<T, Arch>;
  const batch one(T(1));
  over_batches<Arch, T>(units, [&](std::size_t u, std::size_t lanes) {
    const batch update = load_lanes<Arch>(gates + u, lanes);
    const batch reset = load_lanes<Arch>(gates + units + u, lanes);
    const batch candidate = load_lanes<Arch>(gates + 2 * units + u, lanes);
    const batch previous = h_prev ? load_lanes<Arch>(h_prev + u, lanes) : batch(T(0));
    const batch dh_u = load_lanes<Arch>(dh + u, lanes);
    const batch d_candidate = dh_u * (one - update) * (one - candidate * candidate);
    const batch d_update = dh_u * (previous - candidate) * (update * (one - update));
    const batch d_reset = d_candidate * load_lanes<Arch>(recurrent_h + u, lanes) * (reset * (one - reset));
    store_lanes(d_candidate, d_candidate_out + u, lanes);
    store_lanes(d_update, dzr + u, lanes);
    store_lanes(d_reset, dzr + units + u, lanes);
    store_lanes(d_candidate * reset, dzr + 2 * units + u, lanes);
    if (dh_prev) store_lanes(load_lanes<Arch>(dh_prev + u, lanes) + dh_u * update, dh_prev + u, lanes);
  });
}

template <BinaryOp Op>
template <class Arch, typename T>
void Binary<Op>::operator()(Arch, const T* a_rows, std::size_t a_ld, const T* b_rows, std::size_t b_ld,
                            T* out_rows, std::size_t out_ld, std::size_t rows, std::size_t n) const {
  using batch = xsimd::batch<T, Arch>;
  const auto apply = [](const auto& x, const auto& y) {
    if constexpr (Op == BinaryOp::add) return x + y;
    else if constexpr (Op == BinaryOp::subtract) return x - y;
    else if constexpr (Op == BinaryOp::multiply) return x * y;
    else return x * (y + y);  // x · 2y, as square's backward wrote it
  };
  for (std::size_t r = 0; r < rows; ++r) {
    const T* a = a_rows + r * a_ld;
    const T* b = b_rows + r * b_ld;
    T* out = out_rows + r * out_ld;
    std::size_t i = 0;
    for (; i + batch::size <= n; i += batch::size)
      apply(batch::load_unaligned(a + i), batch::load_unaligned(b + i)).store_unaligned(out + i);
    for (; i < n; ++i) out[i] = apply(a[i], b[i]);
  }
}

}  // namespace xgrad::kernels
