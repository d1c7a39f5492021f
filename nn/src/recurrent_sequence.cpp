#include "xgrad/nn/recurrent_sequence.hpp"

#include <algorithm>
#include <array>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "xgrad/autograd/math_ops.hpp"
#include "xgrad/autograd/ops.hpp"
#include "xgrad/nn/activation.hpp"
#include "xgrad/tensor/activations.hpp"
#include "xgrad/tensor/blas.hpp"

namespace xgrad::nn {

namespace {

template <typename T>
void activate_in_place(Activation activation, T* values, std::size_t n) {
  activate_rows(activation, values, 1, n, n);
}

// grad[i] *= activation'(pre-activation), written with the activation's
// output y[i]: the engine keeps no pre-activations.
template <typename T>
void scale_by_derivative(Activation activation, const T* y, T* grad, std::size_t n) {
  activation_backward_rows(activation, y, n, grad, n, 1, n);
}

// Reverses the T axis of a [B, T, width] buffer in place.
template <typename T>
void reverse_time(T* data, std::size_t batch, std::size_t steps, std::size_t width) {
  for (std::size_t b = 0; b < batch; ++b) {
    T* p = data + b * steps * width;
    for (std::size_t s = 0; s < steps / 2; ++s)
      std::swap_ranges(p + s * width, p + (s + 1) * width, p + (steps - 1 - s) * width);
  }
}

// A buffer a call may make. Not a default Array: that is 0-D with one
// element, an allocation (six of them per call for Saved alone, 5% of
// workload N's train step).
template <typename T>
using MaybeArray = std::optional<Array<T>>;

// The data of a buffer a call made, or null for one it did not.
template <typename T>
T* data_or_null(const MaybeArray<T>& buffer) {
  return buffer ? const_cast<T*>(buffer->data()) : nullptr;
}

// What the node's value holds, and so where backward finds each gradient.
enum class Layout {
  sequence,             // [B, T, U]      y_1 .. y_T
  last,                 // [B, U]         y_T
  sequence_and_states,  // [B, T + S, U]  y_1 .. y_T, then h_T (, c_T)
  last_and_states,      // [B, 1 + S, U]  y_T, then h_T (, c_T)
};

// Everything a step and backward read besides the node's inputs: the
// sequences of states and of saved gate values, in processing order.
template <typename T>
struct Saved {
  CellSpec cell;
  Layout layout = Layout::sequence;
  bool go_backwards = false;
  bool has_bias = false;
  std::size_t initial_count = 0;  // 0 or S
  // keep[b * T + s]: m of row b at processing step s; visible: whether y_s
  // shows h_s. Both empty without a mask.
  std::vector<unsigned char> keep, visible;
  MaybeArray<T> dropout;  // d [B, U]; none without recurrent dropout
  MaybeArray<T> h;        // h_1 .. h_T [B, T, U]; none when the node's value is it
  // gates, c and extra are [B, T, ·] or [T, B, ·] (Frame::lay_out_saved).
  MaybeArray<T> gates;    // [·, ·, G·U] gate values after their activations (LSTM, GRU)
  MaybeArray<T> c;        // LSTM: c_1 .. c_T [·, ·, U]
  MaybeArray<T> extra;    // GRU: per step, reset_after r_h + bias_h, else q ⊙ h_{s−1} ⊙ d [·, ·, U]
  bool gates_by_step = false;  // the gates as [T, B, ·]
  // c or extra as [T, B, ·]: with the gates, but for reset_before GRU's
  // extra, an operand of products over batch rows.
  bool units_by_step() const { return gates_by_step && !(cell.kind == CellSpec::Kind::gru && !cell.reset_after); }
  MaybeArray<T> hin;      // with recurrent dropout: h_{s−1} ⊙ d [B, T, U]
};

// One per-step product site of the engine, C = A·B + beta·C: the kernel of
// the shape it last ran, kept while the steps repeat that shape (every step
// but the first, whose input may be an initial state with another row
// stride), made again when the shape changes. Small shapes thus run a
// LIBXSMM kernel generated once per call, with no lookup per step.
template <typename T>
class StepProduct {
 public:
  void operator()(std::size_t m, std::size_t n, std::size_t k, const T* a, std::size_t lda, const T* b,
                  std::size_t ldb, T beta, T* c, std::size_t ldc) {
    const std::array<std::size_t, 6> shape = {m, n, k, lda, ldb, ldc};
    if (shape != shape_ || beta != beta_) {
      kernel_ = GemmKernel<T>(false, false, m, n, k, T(1), lda, ldb, beta, ldc);
      shape_ = shape;
      beta_ = beta;
    }
    kernel_(a, b, c);
  }

 private:
  std::array<std::size_t, 6> shape_{};
  T beta_ = T(-1);
  GemmKernel<T> kernel_;
};

// Pointers into the buffers of one call; slot s of a [B, T, width] buffer
// starts at s · width and its batch rows are T · width apart.
template <typename T>
struct Frame {
  std::size_t batch = 0, steps = 0, units = 0, width = 0;  // width = G·U
  const T* recurrent = nullptr;       // [U, G·U]
  const T* recurrent_t = nullptr;     // [G·U, U], backward only
  const T* bias = nullptr;            // [G·U]: the (input) bias, or null
  const T* recurrent_bias = nullptr;  // GRU reset_after: [G·U], or null
  const unsigned char* keep = nullptr;
  const T* dropout = nullptr;         // d [B, U], or null
  T* h = nullptr;
  T* gates = nullptr;
  T* c = nullptr;
  T* extra = nullptr;
  T* hin = nullptr;
  const T* h0 = nullptr;
  const T* c0 = nullptr;
  T* scratch = nullptr;  // [B, G·U]
  // The per-step product sites (mutable: a cell's step is given a const
  // Frame, and a site only remembers its kernel).
  mutable StepProduct<T> recurrent_product;   // forward: h_{s−1} · recurrent_kernel
  mutable StepProduct<T> candidate_product;   // GRU reset_before: (q ⊙ h_{s−1} ⊙ d) · recurrent_kernel_h
  mutable StepProduct<T> share_product;       // backward: dz_s · recurrent_kernel^T
  mutable StepProduct<T> candidate_share;     // GRU reset_before backward: dz_ĥ · recurrent_kernel_h^T
  mutable StepProduct<T> input_product;       // forward, per-step projection: x_t · kernel
  // The input and kernel when forward projects x step by step (null: the
  // whole sequence was projected at once); x is read at time T − 1 − s
  // with go_backwards.
  const T* x = nullptr;
  const T* kernel = nullptr;
  std::size_t features = 0;
  bool go_backwards = false;

  // The strides between batch rows and between steps of the gates and of
  // the [·, ·, U] saved buffers (c, extra).
  std::size_t gate_batch_stride = 0, gate_step_stride = 0, unit_batch_stride = 0, unit_step_stride = 0;

  std::size_t row() const { return steps * units; }   // stride of [B, T, U]
  std::size_t grow() const { return steps * width; }  // stride of [B, T, G·U]
  bool kept(std::size_t b, std::size_t s) const { return !keep || keep[b * steps + s]; }
  // The saved buffers: [B, T, ·], as one projection of the whole sequence
  // writes the gates, or [T, B, ·] (by step) when each step projects its
  // own input: backward then reads a step's rows as one run that the CPU's
  // prefetcher follows, not B rows T rows apart (an LSTM at workload M: its
  // backward row kernel 8.1% → 5.1% of the train step).
  void lay_out_saved(bool gates_by_step, bool units_by_step) {
    gate_batch_stride = gates_by_step ? width : steps * width;
    gate_step_stride = gates_by_step ? batch * width : width;
    unit_batch_stride = units_by_step ? units : steps * units;
    unit_step_stride = units_by_step ? batch * units : units;
  }
  T* gate_row(std::size_t b, std::size_t s) const { return gates + b * gate_batch_stride + s * gate_step_stride; }
  T* c_row(std::size_t b, std::size_t s) const { return c + b * unit_batch_stride + s * unit_step_stride; }
  T* extra_row(std::size_t b, std::size_t s) const { return extra + b * unit_batch_stride + s * unit_step_stride; }
  // c before step s and its batch-row stride; null means zeros.
  const T* c_before(std::size_t s, std::size_t& ld) const {
    ld = s > 0 ? unit_batch_stride : units;
    return s > 0 ? c + (s - 1) * unit_step_stride : c0;
  }
  // The state before step s and its row stride; null means zeros.
  const T* prev(const T* sequence, const T* initial, std::size_t s, std::size_t& ld) const {
    ld = s > 0 ? row() : units;
    return s > 0 ? sequence + (s - 1) * units : initial;
  }
  // h_{s−1} ⊙ d, the recurrent products' input at step s; null means zeros.
  const T* input(std::size_t s, std::size_t& ld) const {
    const T* h_prev = prev(h, h0, s, ld);
    if (!dropout || !h_prev) return h_prev;
    ld = row();
    return hin + s * units;
  }
};

// Row (b, s) of a [B, held, width] buffer that holds `held` steps: all of
// the sequence's, or one chunk's (step s in slot s % held).
template <typename T>
T* step_row(T* data, std::size_t held, std::size_t width, std::size_t b, std::size_t s) {
  return data + (b * held + s % held) * width;
}

// What backward adds to besides the inputs' gradients.
template <typename T>
struct Gradients {
  T* dh = nullptr;   // dL/dh_s, [B, T, U]: slot s − 1 receives step s's share
  T* dz = nullptr;   // dL/d(pre-activations), [B, held, G·U] (dh itself for SimpleRNN)
  T* dzr = nullptr;  // GRU reset_after: dL/d(recurrent products), [B, held, G·U]
  std::size_t held = 0, width = 0;  // dz's and dzr's steps and row width
  // GRU reset_after: dz's first `shared` columns (the update and reset
  // gates') equal dzr's and are read from dzr, where the pointwise kernel
  // writes them once (GRU M: 0.916 -> 0.912 of the limit).
  std::size_t shared = 0;
  T* z(std::size_t b, std::size_t s) const { return step_row(dz, held, width, b, s); }
  T* zr(std::size_t b, std::size_t s) const { return step_row(dzr, held, width, b, s); }
  std::size_t z_ld() const { return held * width; }  // between batch rows
  // dz by column blocks: block(buffer at the block's first column, first
  // column, columns), rows of `width` apart as dz's.
  template <typename Block>
  void for_dz_blocks(Block&& block) const {
    if (shared > 0) block(static_cast<const T*>(dzr), std::size_t(0), shared);
    block(static_cast<const T*>(dz + shared), shared, width - shared);
  }
  T* dc = nullptr;   // LSTM: dL/dc_s of the step being processed, [B, U]
  T* dh0 = nullptr;  // the initial states' gradients, or null
  T* dc0 = nullptr;
};

// prev[b] += (dz_s · recurrent_t[rows]) ⊙ d: the share of step s's
// pre-activation gradients (k of their columns from `from`) in dL/dh_{s−1}.
template <typename T>
void add_recurrent_share(const Frame<T>& f, const T* dz, std::size_t dz_ld, const T* recurrent_t,
                         std::size_t k, T* prev, std::size_t prev_ld) {
  if (!f.dropout) {
    f.share_product(f.batch, f.units, k, dz, dz_ld, recurrent_t, f.units, T(1), prev, prev_ld);
    return;
  }
  f.share_product(f.batch, f.units, k, dz, dz_ld, recurrent_t, f.units, T(0), f.scratch, f.units);
  for (std::size_t b = 0; b < f.batch; ++b)
    for (std::size_t u = 0; u < f.units; ++u)
      prev[b * prev_ld + u] += f.scratch[b * f.units + u] * f.dropout[b * f.units + u];
}

// Asks for a row's cache lines ahead of their use. Locality is
// __builtin_prefetch's: 3 into every cache level, 2 into all but the first;
// Write asks for the lines to be written. (Inlined by force: GCC deletes a
// call to a function that does nothing but prefetch.)
template <int Locality = 3, bool Write = false, typename T>
inline __attribute__((always_inline)) void prefetch_row(const T* row, std::size_t n) {
  constexpr std::size_t per_line = 64 / sizeof(T);
  for (std::size_t i = 0; i < n; i += per_line) __builtin_prefetch(row + i, Write ? 1 : 0, Locality);
}

// How many rows ahead the pointwise backward kernels ask for their rows.
constexpr std::size_t kPrefetchRows = 2;

// ---------------------------------------------------------------- the cells
// Each cell: forward(f, s) computes step s for every row (masked rows are
// then overwritten by the driver); backward(f, g, s, prev, prev_ld) turns
// dL/dh_s (and dL/dc_s) of the kept rows into their pre-activation
// gradients and adds their share to dL/dh_{s−1} (`prev`, null when nothing
// needs it); masked rows' pre-activation gradients are already zeros.

struct SimpleRNNCellMath {
  template <typename T>
  static void forward(const CellSpec& cell, const Frame<T>& f, std::size_t s) {
    T* h = f.h + s * f.units;  // holds x · kernel
    std::size_t ld;
    if (const T* in = f.input(s, ld))
      f.recurrent_product(f.batch, f.units, f.units, in, ld, f.recurrent, f.units, T(1), h, f.row());
    // The bias goes in here, to the slice the product has just written, while
    // it is in cache, rather than as one more pass over the whole buffer.
    activate_rows(cell.activation, h, f.batch, f.units, f.row(), f.bias);
  }

  template <typename T>
  static void backward(const CellSpec& cell, const Frame<T>& f, Gradients<T>& g, std::size_t s,
                       T* prev, std::size_t prev_ld) {
    // dz is dh: scaled in place
    const T* y = f.h + s * f.units;
    if (!f.keep) {
      activation_backward_rows(cell.activation, y, f.row(), g.z(0, s), g.z_ld(), f.batch, f.units);
    } else {
      for (std::size_t b = 0; b < f.batch; ++b)
        if (f.kept(b, s)) scale_by_derivative(cell.activation, y + b * f.row(), g.z(b, s), f.units);
    }
    if (prev) add_recurrent_share(f, g.z(0, s), g.z_ld(), f.recurrent_t, f.units, prev, prev_ld);
  }
};

struct LSTMCellMath {
  // Keras' default activations take one fused kernel per row.
  static bool default_activations(const CellSpec& cell) {
    return cell.activation == Activation::tanh && cell.recurrent_activation == Activation::sigmoid;
  }

  template <typename T>
  static void forward(const CellSpec& cell, const Frame<T>& f, std::size_t s) {
    const std::size_t U = f.units;
    std::size_t ld, c_ld;
    if (const T* in = f.input(s, ld))  // onto x · kernel
      f.recurrent_product(f.batch, f.width, U, in, ld, f.recurrent, f.width, T(1), f.gate_row(0, s),
                          f.gate_batch_stride);
    const T* c_prev = f.c_before(s, c_ld);
    const bool fused = default_activations(cell);
    for (std::size_t b = 0; b < f.batch; ++b) {
      T* z = f.gate_row(b, s);
      if (fused) {  // adds the bias itself
        lstm_forward_row(z, f.bias, c_prev ? c_prev + b * c_ld : nullptr, f.c_row(b, s),
                         f.h + b * f.row() + s * U, U);
        continue;
      }
      if (f.bias) add_into(z, f.bias, z, f.width);
      activate_in_place(cell.recurrent_activation, z, 2 * U);      // i, f
      activate_in_place(cell.activation, z + 2 * U, U);           // g
      activate_in_place(cell.recurrent_activation, z + 3 * U, U);  // o
      const T* i = z;
      const T* fg = z + U;
      const T* gg = z + 2 * U;
      const T* o = z + 3 * U;
      T* c = f.c_row(b, s);
      T* h = f.h + b * f.row() + s * U;
      const T* cp = c_prev ? c_prev + b * c_ld : nullptr;
      for (std::size_t u = 0; u < U; ++u) c[u] = i[u] * gg[u] + (cp ? fg[u] * cp[u] : T(0));
      std::copy_n(c, U, h);
      activate_in_place(cell.activation, h, U);
      multiply_into(h, o, h, U);
    }
  }

  template <typename T>
  static void backward(const CellSpec& cell, const Frame<T>& f, Gradients<T>& g, std::size_t s,
                       T* prev, std::size_t prev_ld) {
    const std::size_t U = f.units;
    std::size_t c_ld;
    const T* c_prev = f.c_before(s, c_ld);
    T* phi_c = f.scratch;  // φ(c_s) of one row, then the gradient through it
    T* through = f.scratch + U;
    const bool fused = default_activations(cell);
    for (std::size_t b = 0; b < f.batch; ++b) {
      if (!f.kept(b, s)) continue;
      if (fused) {
        lstm_backward_row(f.gate_row(b, s), c_prev ? c_prev + b * c_ld : nullptr,
                          f.c_row(b, s), g.dh + b * f.row() + s * U, g.dc + b * U,
                          g.z(b, s), U);
        continue;
      }
      const T* z = f.gate_row(b, s);
      const T* i = z;
      const T* fg = z + U;
      const T* gg = z + 2 * U;
      const T* o = z + 3 * U;
      const T* c = f.c_row(b, s);
      const T* cp = c_prev ? c_prev + b * c_ld : nullptr;
      const T* dh = g.dh + b * f.row() + s * U;
      T* dc = g.dc + b * U;
      T* dz = g.z(b, s);
      std::copy_n(c, U, phi_c);
      activate_in_place(cell.activation, phi_c, U);
      // dc_s = carried + dh ⊙ o ⊙ φ'(c_s); do = dh ⊙ φ(c_s).
      for (std::size_t u = 0; u < U; ++u) through[u] = dh[u] * o[u];
      scale_by_derivative(cell.activation, phi_c, through, U);
      for (std::size_t u = 0; u < U; ++u) {
        const T dcu = dc[u] + through[u];
        dz[u] = dcu * gg[u];                    // di
        dz[U + u] = cp ? dcu * cp[u] : T(0);    // df
        dz[2 * U + u] = dcu * i[u];             // dg
        dz[3 * U + u] = dh[u] * phi_c[u];       // do
        dc[u] = dcu * fg[u];                    // dL/dc_{s−1}
      }
      scale_by_derivative(cell.recurrent_activation, i, dz, 2 * U);
      scale_by_derivative(cell.activation, gg, dz + 2 * U, U);
      scale_by_derivative(cell.recurrent_activation, o, dz + 3 * U, U);
    }
    if (prev) add_recurrent_share(f, g.z(0, s), g.z_ld(), f.recurrent_t, f.width, prev, prev_ld);
  }
};

struct GRUCellMath {
  // reset_after with Keras' default activations takes one fused kernel per row.
  static bool fused_row(const CellSpec& cell) {
    return cell.reset_after && cell.activation == Activation::tanh &&
           cell.recurrent_activation == Activation::sigmoid;
  }

  // Gates u (update), q (reset), ĥ (candidate) are stored as blocks 0, 1, 2
  // of the gate buffer, after their activations.
  template <typename T>
  static void forward(const CellSpec& cell, const Frame<T>& f, std::size_t s) {
    const std::size_t U = f.units, W = f.width;
    T* product = f.scratch;      // [B, 3U]: the recurrent products
    std::size_t ld, h_ld;
    const T* in = f.input(s, ld);
    const T* h_prev = f.prev(f.h, f.h0, s, h_ld);
    const std::size_t first = cell.reset_after ? W : 2 * U;  // columns multiplied before q is known
    if (in) f.recurrent_product(f.batch, first, U, in, ld, f.recurrent, W, T(0), product, W);
    const bool fused = fused_row(cell);
    for (std::size_t b = 0; b < f.batch; ++b) {
      T* z = f.gate_row(b, s);  // holds x · kernel
      T* p = product + b * W;
      if (!in) std::fill_n(p, first, T(0));
      if (fused) {  // adds both biases itself
        gru_forward_row(z, p, f.bias, f.recurrent_bias, h_prev ? h_prev + b * h_ld : nullptr,
                        f.extra_row(b, s), f.h + b * f.row() + s * U, U);
        continue;
      }
      if (f.bias) add_into(z, f.bias, z, W);
      if (f.recurrent_bias) add_into(p, f.recurrent_bias, p, W);
      add_into(z, p, z, 2 * U);
      activate_in_place(cell.recurrent_activation, z, 2 * U);  // u, q
      T* extra = f.extra_row(b, s);
      if (cell.reset_after) {
        std::copy_n(p + 2 * U, U, extra);  // r_h + bias_h, for dq
        for (std::size_t u = 0; u < U; ++u) z[2 * U + u] += z[U + u] * p[2 * U + u];
      } else if (in) {
        multiply_into(z + U, in + b * ld, extra, U);  // q ⊙ h_{s−1} ⊙ d
      } else {
        std::fill_n(extra, U, T(0));
      }
    }
    if (!cell.reset_after) {
      if (in) {
        f.candidate_product(f.batch, U, U, f.extra + s * U, f.row(), f.recurrent + 2 * U, W, T(0),
                            product + 2 * U, W);
      }
      for (std::size_t b = 0; b < f.batch; ++b) {
        T* z = f.gate_row(b, s) + 2 * U;
        if (in) add_into(z, product + b * W + 2 * U, z, U);
      }
    }
    if (fused) return;
    for (std::size_t b = 0; b < f.batch; ++b) {
      T* z = f.gate_row(b, s);
      activate_in_place(cell.activation, z + 2 * U, U);  // ĥ
      T* h = f.h + b * f.row() + s * U;
      const T* hp = h_prev ? h_prev + b * h_ld : nullptr;
      for (std::size_t u = 0; u < U; ++u)
        h[u] = (T(1) - z[u]) * z[2 * U + u] + (hp ? z[u] * hp[u] : T(0));
    }
  }

  template <typename T>
  static void backward(const CellSpec& cell, const Frame<T>& f, Gradients<T>& g, std::size_t s,
                       T* prev, std::size_t prev_ld) {
    const std::size_t U = f.units, W = f.width;
    std::size_t ld, h_ld;
    const T* in = f.input(s, ld);
    const T* h_prev = f.prev(f.h, f.h0, s, h_ld);
    if (fused_row(cell)) {
      for (std::size_t b = 0; b < f.batch; ++b) {
        // The rows of row b + kPrefetchRows into L1 (the driver asked for
        // the step's into L2): GRU M 0.922 -> 0.912 of the limit.
        if (const std::size_t a = b + kPrefetchRows; a < f.batch) {
          prefetch_row(f.gate_row(a, s), W);
          prefetch_row(f.extra_row(a, s), U);
          if (h_prev) prefetch_row(h_prev + a * h_ld, U);
          if (prev) prefetch_row(prev + a * prev_ld, U);
        }
        T* dzr = g.zr(b, s);
        if (!f.kept(b, s)) {
          std::fill_n(dzr, W, T(0));
          continue;
        }
        gru_backward_row(f.gate_row(b, s), f.extra_row(b, s),
                         h_prev ? h_prev + b * h_ld : nullptr, g.dh + b * f.row() + s * U,
                         g.z(b, s) + 2 * U, dzr, prev ? prev + b * prev_ld : nullptr, U);
      }
      if (prev) add_recurrent_share(f, g.zr(0, s), g.z_ld(), f.recurrent_t, W, prev, prev_ld);
      return;
    }
    // dL/dh_{s−1} through the carry u ⊙ h_{s−1}, and the gradients of ĥ and u.
    for (std::size_t b = 0; b < f.batch; ++b) {
      if (!f.kept(b, s)) continue;
      const T* z = f.gate_row(b, s);
      const T* dh = g.dh + b * f.row() + s * U;
      const T* hp = h_prev ? h_prev + b * h_ld : nullptr;
      T* dz = g.z(b, s);
      for (std::size_t u = 0; u < U; ++u) {
        dz[u] = dh[u] * ((hp ? hp[u] : T(0)) - z[2 * U + u]);  // du
        dz[2 * U + u] = dh[u] * (T(1) - z[u]);                  // dĥ
      }
      if (prev) {
        T* pb = prev + b * prev_ld;
        for (std::size_t u = 0; u < U; ++u) pb[u] += dh[u] * z[u];
      }
      scale_by_derivative(cell.recurrent_activation, z, dz, U);
      scale_by_derivative(cell.activation, z + 2 * U, dz + 2 * U, U);
    }
    if (cell.reset_after) {
      // dq = dz_ĥ ⊙ (r_h + bias_h); the recurrent products' gradients are the
      // pre-activations' but for block ĥ, which q scales.
      for (std::size_t b = 0; b < f.batch; ++b) {
        T* dz = g.z(b, s);
        T* dzr = g.zr(b, s);
        if (!f.kept(b, s)) {
          std::fill_n(dzr, W, T(0));
          continue;
        }
        const T* z = f.gate_row(b, s);
        const T* extra = f.extra_row(b, s);
        multiply_into(dz + 2 * U, extra, dz + U, U);
        scale_by_derivative(cell.recurrent_activation, z + U, dz + U, U);
        std::copy_n(dz, 2 * U, dzr);
        multiply_into(dz + 2 * U, z + U, dzr + 2 * U, U);
      }
      if (prev) add_recurrent_share(f, g.zr(0, s), g.z_ld(), f.recurrent_t, W, prev, prev_ld);
      return;
    }
    // reset_before: d(q ⊙ h_{s−1} ⊙ d) = dz_ĥ · recurrent_kernel_h^T, then
    // dq = that ⊙ h_{s−1} ⊙ d and dL/dh_{s−1} += that ⊙ q ⊙ d.
    T* dqh = f.scratch + f.batch * U;  // [B, U]; scratch's first B·U serve add_recurrent_share
    if (!in) {
      for (std::size_t b = 0; b < f.batch; ++b) std::fill_n(g.z(b, s) + U, U, T(0));
      return;
    }
    f.candidate_share(f.batch, U, U, g.z(0, s) + 2 * U, g.z_ld(), f.recurrent_t + 2 * U * U, U, T(0),
                      dqh, U);
    for (std::size_t b = 0; b < f.batch; ++b) {
      T* dz = g.z(b, s);
      if (!f.kept(b, s)) continue;
      const T* z = f.gate_row(b, s);
      const T* d = dqh + b * U;
      multiply_into(d, in + b * ld, dz + U, U);
      scale_by_derivative(cell.recurrent_activation, z + U, dz + U, U);
      if (prev) {
        T* pb = prev + b * prev_ld;
        const T* db = f.dropout ? f.dropout + b * U : nullptr;
        for (std::size_t u = 0; u < U; ++u) pb[u] += d[u] * z[U + u] * (db ? db[u] : T(1));
      }
    }
    if (prev) add_recurrent_share(f, g.z(0, s), g.z_ld(), f.recurrent_t, 2 * U, prev, prev_ld);
  }
};

// Steps [first, last) of a sequence: the range the weight gradients' products
// sum over (the whole sequence, or a chunk of it, below).
struct StepRange {
  std::size_t first, last;
  bool whole(std::size_t steps) const { return first == 0 && last == steps; }
};

// Whether a range's products run one per step over the batch (k = B), not
// one per batch row over the steps (k = the range's length).
template <typename T>
bool per_step(const Frame<T>& f, StepRange range) {
  return range.last - range.first < f.batch;
}

// c[:, columns] += Σ over the (b, s) of `range` of a_{b,s}^T · grad_{b,s}
// (ldc: the frame's width), where a_{b,s} is the m values at
// a + b · a_ld + (s − shift) · m (a [B, T, m] buffer, a_ld = T · m; shift 1
// pairs step s with the row of step s − 1) and grad_{b,s} is row (b, s) of a
// [B, held, width] buffer. One product over the flat rows for the whole
// sequence, else one per step over the batch (by_step: k = B) or one per
// batch row over the range's steps.
template <typename T>
void add_row_products(const Frame<T>& f, const T* a, std::size_t m, std::size_t a_ld, std::size_t shift,
                      const T* grad, std::size_t held, std::size_t columns, T* c, StepRange range, bool by_step) {
  if (range.whole(f.steps) && shift == 0) {  // (then grad holds every step)
    gemm(true, false, m, columns, f.batch * f.steps, T(1), a, m, grad, f.width, T(1), c, f.width);
  } else if (by_step) {
    for (std::size_t s = range.first; s < range.last; ++s)
      gemm(true, false, m, columns, f.batch, T(1), a + (s - shift) * m, a_ld, step_row(grad, held, f.width, 0, s),
           held * f.width, T(1), c, f.width);
  } else {
    for (std::size_t b = 0; b < f.batch && range.last > range.first; ++b)
      gemm(true, false, m, columns, range.last - range.first, T(1), a + b * a_ld + (range.first - shift) * m, m,
           step_row(grad, held, f.width, b, range.first), f.width, T(1), c, f.width);
  }
}

// dR[:, columns] += Σ_s in_s^T · grad_s over the steps of `range`, where
// in_s is h_{s−1} (h_0 or zeros at s = 0) and grad [B, held, G·U] starts at
// the block's first column (grad is given back as it came).
template <typename T>
void add_shifted_products(const Frame<T>& f, T* grad, std::size_t held, std::size_t columns, T* dr,
                          StepRange range) {
  const std::size_t rows = f.batch * f.steps;
  if (range.whole(f.steps) && f.steps > 1) {  // (then grad holds every step)
    // Over the flat [B·T, U] rows, row r pairs with r + 1: one product for
    // the whole batch. It would also pair each row's last step with the next
    // row's first: those B − 1 gradient rows are zeros for the product, and
    // put back after. (A second product with alpha −1 took the terms back
    // out; LIBXSMM has no alpha −1, and OpenBLAS took 0.44% of workload S.)
    memory::Buffer<T> first_steps((f.batch - 1) * columns);
    for (std::size_t b = 1; b < f.batch; ++b) {
      T* row = grad + b * f.grow();
      std::copy_n(row, columns, first_steps.data() + (b - 1) * columns);
      std::fill_n(row, columns, T(0));
    }
    gemm(true, false, f.units, columns, rows - 1, T(1), f.h, f.units, grad + f.width, f.width, T(1), dr,
         f.width);
    for (std::size_t b = 1; b < f.batch; ++b)
      std::copy_n(first_steps.data() + (b - 1) * columns, columns, grad + b * f.grow());
  } else if (!range.whole(f.steps)) {
    const StepRange after_first{std::max<std::size_t>(range.first, 1), range.last};
    add_row_products(f, f.h, f.units, f.row(), 1, grad, held, columns, dr, after_first, per_step(f, range));
  }
  if (f.h0 && range.first == 0)
    gemm(true, false, f.units, columns, f.batch, T(1), f.h0, f.units, grad, held * f.width, T(1), dr, f.width);
}

// dx[range] += dz · kernel^T and d kernel += x^T · dz over the steps of
// `range`, with g's dz (by its column blocks) in x's time order.
template <typename T>
void add_input_products(const Frame<T>& f, const Gradients<T>& g, const Array<T>& x, const Array<T>& kernel,
                        T* dx, T* dk, StepRange range) {
  const std::size_t features = x.shape()[2], x_ld = f.steps * features;  // between batch rows of x and dx
  const bool whole = range.whole(f.steps), by_step = !whole && per_step(f, range);
  const std::size_t held = g.held;
  g.for_dz_blocks([&](const T* dz, std::size_t first, std::size_t columns) {
    if (dk) add_row_products(f, x.data(), features, x_ld, 0, dz, held, columns, dk + first, range, by_step);
    if (!dx) return;
    const T* kernel_block = kernel.data() + first;
    if (by_step) {
      for (std::size_t s = range.first; s < range.last; ++s)
        gemm(false, true, f.batch, features, columns, T(1), step_row(dz, held, f.width, 0, s), held * f.width,
             kernel_block, f.width, T(1), dx + s * features, x_ld);
      return;
    }
    // All the range's timesteps at once, per batch row (or all rows).
    const std::size_t blocks = whole ? 1 : f.batch, rows = whole ? f.batch * f.steps : range.last - range.first;
    for (std::size_t b = 0; b < blocks; ++b)
      gemm(false, true, rows, features, columns, T(1), whole ? dz : step_row(dz, held, f.width, b, range.first),
           f.width, kernel_block, f.width, T(1), dx + (whole ? 0 : b * x_ld + range.first * features), features);
  });
}

// Backward's weight-gradient products for long sequences with few rows in
// flight run per chunk of steps, as soon as the chunk's gradients are
// complete and still in cache, rather than over the whole sequence at the
// end; the gated layers' gradient buffers then hold one chunk, not the
// sequence. With B = 1 and T = 20,000 an LSTM's [B, T, 4U] gradient buffer
// was 10 MB, read back at memory speed. A chunk holds about kChunkBytes of
// the gradient buffer; below kMinChunkSteps steps per batch row the per-row
// products would be too short, and the whole sequence is summed at the end.
constexpr std::size_t kChunkBytes = std::size_t(256) << 10;
constexpr std::size_t kMinChunkSteps = 64;

// Backward walks time downwards, and every step reads rows the forward
// pass wrote long before. With few rows in flight (the sequences that run
// in chunks, below) a step's work is too short to hide the wait for them,
// and the CPU's prefetcher does not fetch them ahead: the driver asks for
// the rows of step s − kPrefetchSteps while it works on step s. With B = 1
// and T = 20,000 the first load of each LSTM gate row had stalled backward's
// pointwise kernel to 4x its time at T = 1,000.
constexpr std::size_t kPrefetchSteps = 16;

// The rows of the gated layers' saved buffers that the pointwise backward
// kernel reads at step s, s ≥ 1: the gates, c_{s−1} and extra. Not c_s:
// the callers ask for steps in descending order, and step s + 1's request
// took it as its c_{s−1} (LSTM M 0.895 -> 0.891 of the limit).
template <int Locality = 3, typename T>
inline __attribute__((always_inline)) void prefetch_gated_rows(const Frame<T>& f, std::size_t s) {
  for (std::size_t b = 0; b < f.batch; ++b) {
    if (f.gates) prefetch_row<Locality>(f.gate_row(b, s), f.width);
    if (f.c) prefetch_row<Locality>(f.c_row(b, s - 1), f.units);
    if (f.extra) prefetch_row<Locality>(f.extra_row(b, s), f.units);
  }
}

// The rows backward reads at step s, s ≥ 1: h_s, h_{s−1}, and step s's
// rows of the other saved buffers.
template <typename T>
inline __attribute__((always_inline)) void prefetch_step(const Frame<T>& f, std::size_t s) {
  for (std::size_t b = 0; b < f.batch; ++b) {
    const std::size_t at = b * f.row() + s * f.units;
    prefetch_row(f.h + at - f.units, 2 * f.units);
    if (f.hin) prefetch_row(f.hin + at, f.units);
  }
  prefetch_gated_rows(f, s);
}

// The steps of one chunk: see above; 1 for a wide batch whose weight
// gradients stay in cache (at most kStepProductsMaxBytes; an LSTM at
// workload M: 384 KiB), which then takes each step's products over its B
// rows right after the step (k = B, at least kMinStepProductRows), so the
// gated layers' [B, T, G·U] gradient buffers (12.8 MB at M) are never
// written out and read back; the sequence otherwise.
constexpr std::size_t kMinStepProductRows = 64;
constexpr std::size_t kStepProductsMaxBytes = std::size_t(512) << 10;

// Whether products [B, inputs]·[inputs, width] for each step, one after the
// other, keep the [inputs, width] matrix in cache (and have rows enough).
template <typename T>
bool per_step_products(std::size_t batch, std::size_t width, std::size_t inputs) {
  return batch >= kMinStepProductRows && inputs * width * sizeof(T) <= kStepProductsMaxBytes;
}

template <typename T>
std::size_t chunk_steps(std::size_t batch, std::size_t steps, std::size_t width, std::size_t inputs) {
  const std::size_t chunk = kChunkBytes / std::max<std::size_t>(1, batch * width * sizeof(T));
  if (chunk >= kMinChunkSteps) return std::min(chunk, steps);
  if (per_step_products<T>(batch, width, inputs)) return 1;
  return steps;
}

template <typename Cell, typename T>
void forward_steps(const CellSpec& cell, Frame<T>& f) {
  for (std::size_t s = 0; s < f.steps; ++s) {
    std::size_t ld;
    const T* h_prev = f.prev(f.h, f.h0, s, ld);
    if (f.dropout && h_prev) {
      T* hin = f.hin + s * f.units;
      for (std::size_t b = 0; b < f.batch; ++b)
        multiply_into(h_prev + b * ld, f.dropout + b * f.units, hin + b * f.row(), f.units);
    } else if (f.dropout) {
      for (std::size_t b = 0; b < f.batch; ++b) std::fill_n(f.hin + b * f.row() + s * f.units, f.units, T(0));
    }
    // With per-step products (a wide batch), step s + 1's rows of h, B rows
    // T·U apart that the prefetcher does not follow, asked for while step s
    // runs (GRU M: 0.926 -> 0.920 of the limit; no change for SimpleRNN and
    // LSTM).
    if (f.x && s + 1 < f.steps) {
      for (std::size_t b = 0; b < f.batch; ++b)
        prefetch_row<2, true>(f.h + b * f.row() + (s + 1) * f.units, f.units);
    }
    if (f.x) {  // x_t · kernel into the step's slot, which the cell then works in
      T* projected = f.gates ? f.gate_row(0, s) : f.h + s * f.units;
      const std::size_t projected_ld = f.gates ? f.gate_batch_stride : f.row();
      const std::size_t t = f.go_backwards ? f.steps - 1 - s : s;
      f.input_product(f.batch, f.width, f.features, f.x + t * f.features, f.steps * f.features, f.kernel, f.width,
                      T(0), projected, projected_ld);
    }
    Cell::forward(cell, f, s);
    if (!f.keep) continue;
    // A masked step keeps every state.
    std::size_t c_ld = 0;  // set by c_before(); read only with c_prev
    const T* c_prev = f.c ? f.c_before(s, c_ld) : nullptr;
    for (std::size_t b = 0; b < f.batch; ++b) {
      if (f.kept(b, s)) continue;
      T* h = f.h + b * f.row() + s * f.units;
      if (h_prev) std::copy_n(h_prev + b * ld, f.units, h);
      else std::fill_n(h, f.units, T(0));
      if (!f.c) continue;
      T* c = f.c_row(b, s);
      if (c_prev) std::copy_n(c_prev + b * c_ld, f.units, c);
      else std::fill_n(c, f.units, T(0));
    }
  }
}

// Backward through time. `h` is h_1..h_T in processing order (the node's
// value or saved); `grad` the gradient of the node's value, laid out as
// saved.layout.
template <typename Cell, typename T>
void backward_through_time(const Saved<T>& saved, const Array<T>& h, Array<T>& grad,
                           std::vector<Variable<T>>& in) {
  const CellSpec& cell = saved.cell;
  const Array<T>& x = in[0].value();
  const Array<T>& kernel = in[1].value();
  const Array<T>& recurrent_kernel = in[2].value();
  Frame<T> f;
  f.batch = x.shape()[0];
  f.steps = x.shape()[1];
  f.units = recurrent_kernel.shape()[0];
  f.width = recurrent_kernel.shape()[1];
  const std::size_t U = f.units, steps = f.steps;
  const std::size_t rows = f.batch * f.steps;
  if (rows == 0) {  // an empty batch: every gradient is zeros (and no BLAS call sums over −1 rows)
    for (Variable<T>& input : in)
      if (input.requires_grad()) input.grad_buffer();
    return;
  }
  const bool reset_after = cell.kind == CellSpec::Kind::gru && cell.reset_after;
  const std::size_t first_initial = saved.has_bias ? 4 : 3;
  Variable<T>* h0 = saved.initial_count ? &in[first_initial] : nullptr;
  Variable<T>* c0 = saved.initial_count > 1 ? &in[first_initial + 1] : nullptr;
  f.h = const_cast<T*>(h.data());
  f.gates = data_or_null(saved.gates);
  f.lay_out_saved(saved.gates_by_step, saved.units_by_step());
  f.c = data_or_null(saved.c);
  f.extra = data_or_null(saved.extra);
  f.hin = data_or_null(saved.hin);
  f.h0 = h0 ? h0->value().data() : nullptr;
  f.c0 = c0 ? c0->value().data() : nullptr;
  f.keep = saved.keep.empty() ? nullptr : saved.keep.data();
  f.dropout = data_or_null(saved.dropout);
  f.recurrent = recurrent_kernel.data();
  // R^T once, so that each step's product is a plain A·B: OpenBLAS 0.3.21
  // runs small A·B^T products 2-3x slower.
  const memory::Buffer<T> recurrent_t(recurrent_kernel.size());
  transpose_matrix(recurrent_kernel.data(), U, f.width, f.width, recurrent_t.data(), U);
  f.recurrent_t = recurrent_t.data();
  const memory::Buffer<T> scratch(f.batch * std::max<std::size_t>(f.width, 2 * U));
  f.scratch = scratch.data();

  const unsigned char* visible = saved.visible.empty() ? nullptr : saved.visible.data();
  const bool sequences = saved.layout == Layout::sequence || saved.layout == Layout::sequence_and_states;
  const bool with_states = saved.layout == Layout::sequence_and_states || saved.layout == Layout::last_and_states;
  const std::size_t g_row = ((sequences ? steps : 1) + (with_states ? cell.states() : 0)) * U;
  const std::size_t states_at = (sequences ? steps : 1) * U;

  // dh starts as the gradient reaching each h_s from outside the recurrence:
  // o_s ⊙ the output's, plus the state's at the last step. Without a mask
  // the sequence layout's gradient is that, slot for slot: work in its own
  // storage (grad is ours to consume).
  const bool reuse_gradient = saved.layout == Layout::sequence && !visible;
  Array<T> dh = reuse_gradient ? std::move(grad) : Array<T>::from_shape({f.batch, steps, U});
  if (!reuse_gradient) {
    for (std::size_t b = 0; b < f.batch; ++b) {
      for (std::size_t s = 0; s < steps; ++s) {
        T* dst = dh.data() + b * f.row() + s * U;
        const bool shown = !visible || visible[b * steps + s];
        if (shown && (sequences || s == steps - 1)) std::copy_n(grad.data() + b * g_row + (sequences ? s * U : 0), U, dst);
        else std::fill_n(dst, U, T(0));
      }
      if (with_states) {
        T* last = dh.data() + b * f.row() + (steps - 1) * U;
        add_into(last, grad.data() + b * g_row + states_at, last, U);
      }
    }
  }
  // With go_backwards, x's products wait for the whole sequence, reversed.
  const std::size_t chunk = chunk_steps<T>(f.batch, steps, f.width, U + x.shape()[2]);
  Gradients<T> g;
  g.dh = dh.data();
  g.width = f.width;
  g.held = chunk < steps && !saved.go_backwards ? chunk : steps;
  memory::Buffer<T> dz, dzr, dc;
  if (f.width == U) {
    g.dz = g.dh;
    g.held = steps;
  } else {
    dz = memory::Buffer<T>(f.batch * g.held * f.width);
    g.dz = dz.data();
  }
  if (reset_after) {
    dzr = memory::Buffer<T>(f.batch * g.held * f.width);
    g.dzr = dzr.data();
    g.shared = 2 * U;
  }
  if (f.c) {
    dc = memory::Buffer<T>(f.batch * U);
    for (std::size_t b = 0; b < f.batch; ++b) {
      T* dst = dc.data() + b * U;
      if (with_states) std::copy_n(grad.data() + b * g_row + states_at + U, U, dst);
      else std::fill_n(dst, U, T(0));
    }
    g.dc = dc.data();
  }
  g.dh0 = h0 && h0->requires_grad() ? h0->grad_buffer().data() : nullptr;

  // The weight gradients' products, over one range of steps whose
  // gradients are complete. x's products need dz in x's time order.
  T* dr = in[2].requires_grad() ? in[2].grad_buffer().data() : nullptr;
  T* db = saved.has_bias && in[3].requires_grad() ? in[3].grad_buffer().data() : nullptr;
  T* dx = in[0].requires_grad() ? in[0].grad_buffer().data() : nullptr;
  T* dk = in[1].requires_grad() ? in[1].grad_buffer().data() : nullptr;
  const memory::Buffer<T> ones(db ? rows : 0);  // a [B, T, 1] buffer
  if (db) fill_into(ones.data(), rows, T(1));
  const auto add_weight_products = [&](StepRange range) {
    const bool by_step = !range.whole(steps) && per_step(f, range);
    if (dr) {
      T* recurrent_grad = reset_after ? g.dzr : g.dz;
      const bool own_input = cell.kind == CellSpec::Kind::gru && !cell.reset_after;
      const std::size_t from_h = own_input ? 2 * U : f.width;
      if (f.dropout) add_row_products(f, f.hin, U, f.row(), 0, recurrent_grad, g.held, from_h, dr, range, by_step);
      else add_shifted_products(f, recurrent_grad, g.held, from_h, dr, range);
      if (own_input) add_row_products(f, f.extra, U, f.row(), 0, g.dz + 2 * U, g.held, U, dr + 2 * U, range, by_step);
    }
    if (db) {  // 1^T · dz as products, not row additions (3.5% of a GRU train step at workload M)
      g.for_dz_blocks([&](const T* dz, std::size_t first, std::size_t columns) {
        add_row_products(f, ones.data(), 1, steps, 0, dz, g.held, columns, db + first, range, by_step);
      });
      if (reset_after) add_row_products(f, ones.data(), 1, steps, 0, g.dzr, g.held, f.width, db + f.width, range, by_step);
    }
    if (!saved.go_backwards) add_input_products(f, g, x, kernel, dx, dk, range);
  };

  // From the last step back: slot s of dh holds dL/dh_s once the later steps
  // have added theirs; the cell turns it into pre-activation gradients and
  // adds its share to dL/dh_{s−1} (slot s − 1, or the initial state's).
  std::size_t chunk_end = steps;
  for (std::size_t s = steps; s-- > 0;) {
    T* prev = s > 0 ? g.dh + (s - 1) * U : g.dh0;
    const std::size_t prev_ld = s > 0 ? f.row() : U;
    if (f.keep) {
      // A masked step copied every state: its gradients pass through, and
      // its pre-activations had no effect.
      for (std::size_t b = 0; b < f.batch; ++b) {
        if (f.kept(b, s)) continue;
        T* dhb = g.dh + b * f.row() + s * U;
        if (prev) add_into(prev + b * prev_ld, dhb, prev + b * prev_ld, U);
        std::fill_n(g.z(b, s), f.width, T(0));
      }
    }
    if (chunk >= kMinChunkSteps && chunk < steps && s > kPrefetchSteps) prefetch_step(f, s - kPrefetchSteps);
    Cell::backward(cell, f, g, s, prev, prev_ld);
    // One step per chunk (a wide batch): the rows step s − 1 reads that the
    // forward pass wrote long before, asked for all at once before step s's
    // weight products, arrive while those run. Its gated rows (LSTM M: the
    // pointwise backward kernel 6.2% -> 2.9% of the train step), and the
    // rows of h_{s−2} and dL/dh_{s−2}, B rows T·U apart, which the
    // prefetcher does not follow (GRU M: the kernel had waited on them).
    // GRU's and the batch-major rows into the second-level cache only: the
    // first cannot hold them beside the products' (GRU M 0.931 -> 0.921);
    // LSTM's gated rows into the first too (LSTM M 0.896, against 0.906 into
    // the second alone).
    if (chunk == 1 && s > 1) {
      if (f.c) prefetch_gated_rows(f, s - 1);
      else prefetch_gated_rows<2>(f, s - 1);
      for (std::size_t b = 0; b < f.batch; ++b) {
        prefetch_row<2>(f.h + b * f.row() + (s - 2) * U, U);
        prefetch_row<2>(g.dh + b * f.row() + (s - 2) * U, U);
      }
    }
    if (s % chunk == 0) {
      add_weight_products(StepRange{s, chunk_end});
      chunk_end = s;
    }
  }
  if (c0 && c0->requires_grad()) {
    Array<T>& dc0 = c0->grad_buffer();
    add_into(dc0.data(), g.dc, dc0.data(), f.batch * U);
  }
  if (saved.go_backwards && (dx || dk)) {
    // Back from processing order to x's time order.
    reverse_time(g.dz, f.batch, steps, f.width);
    if (g.shared > 0) reverse_time(g.dzr, f.batch, steps, f.width);
    add_input_products(f, g, x, kernel, dx, dk, StepRange{0, steps});
  }
}

template <typename Cell, typename T>
RecurrentOutput<T> run_sequence(const Variable<T>& x, const Variable<T>& kernel,
                                const Variable<T>& recurrent_kernel, const std::optional<Variable<T>>& bias,
                                const RecurrentSequenceArgs<T>& args) {
  const CellSpec& cell = args.cell;
  const std::size_t batch = x.shape()[0], steps = x.shape()[1], features = x.shape()[2];
  const std::size_t units = recurrent_kernel.shape()[0], width = recurrent_kernel.shape()[1];
  const std::size_t state_count = cell.states();
  // From the arrays' caches, as the graph's nodes: malloc and free cost
  // twice as much for a block made and freed at every call.
  auto saved = std::allocate_shared<Saved<T>>(memory::CachingAllocator<Saved<T>>());
  saved->cell = cell;
  saved->go_backwards = args.go_backwards;
  saved->has_bias = bias.has_value();
  saved->initial_count = args.initial_states.size();

  Frame<T> f;
  f.batch = batch;
  f.steps = steps;
  f.units = units;
  f.width = width;
  f.recurrent = recurrent_kernel.value().data();
  if (bias) {
    f.bias = bias->value().data();
    if (cell.bias_rows() == 2) f.recurrent_bias = f.bias + width;
  }
  f.h0 = saved->initial_count > 0 ? args.initial_states[0].value().data() : nullptr;
  f.c0 = saved->initial_count > 1 ? args.initial_states[1].value().data() : nullptr;

  // The input projection of every timestep in one GEMM, into the buffer the
  // steps then work in: h itself for SimpleRNN, the gate buffer otherwise;
  // for a wide batch whose kernel stays in cache, one product per step
  // instead, right before the step's recurrent product adds to it: the
  // step's rows are then still in cache for the cell (an LSTM at workload
  // M: 2.5-3.5% of its train step, 1.3% for SimpleRNN).
  Array<T> h = Array<T>::from_shape({batch, steps, units});
  f.h = h.data();
  // The gated layers' saved buffers by step when the steps project their
  // own inputs (Saved::units_by_step for c and extra).
  const bool project_by_step = per_step_products<T>(batch, width, features);
  saved->gates_by_step = project_by_step && width != units;
  f.lay_out_saved(saved->gates_by_step, saved->units_by_step());
  const auto shaped = [&](bool by_step, std::size_t columns) -> Shape {
    return by_step ? Shape{steps, batch, columns} : Shape{batch, steps, columns};
  };
  if (width != units) {
    saved->gates = Array<T>::from_shape(shaped(saved->gates_by_step, width));
    f.gates = saved->gates->data();
  }
  T* projected = width == units ? f.h : f.gates;
  if (project_by_step) {
    f.x = x.value().data();
    f.kernel = kernel.value().data();
    f.features = features;
    f.go_backwards = args.go_backwards;
  } else {
    gemm(false, false, batch * steps, width, features, T(1), x.value().data(), features,
         kernel.value().data(), width, T(0), projected, width);
    if (args.go_backwards) reverse_time(projected, batch, steps, width);
  }
  if (cell.kind == CellSpec::Kind::lstm) {
    saved->c = Array<T>::from_shape(shaped(saved->units_by_step(), units));
    f.c = saved->c->data();
  }
  if (cell.kind == CellSpec::Kind::gru) {
    saved->extra = Array<T>::from_shape(shaped(saved->units_by_step(), units));
    f.extra = saved->extra->data();
  }
  if (args.recurrent_dropout_mask) {
    saved->dropout = *args.recurrent_dropout_mask;
    f.dropout = saved->dropout->data();
    saved->hin = Array<T>::from_shape({batch, steps, units});
    f.hin = saved->hin->data();
  }
  const bool masked = args.mask.has_value();
  if (masked) {
    saved->keep.resize(batch * steps);
    saved->visible.resize(batch * steps);
    for (std::size_t b = 0; b < batch; ++b) {
      bool seen = false;
      for (std::size_t s = 0; s < steps; ++s) {
        const bool kept = (*args.mask)(b, args.go_backwards ? steps - 1 - s : s);
        seen = seen || kept;
        saved->keep[b * steps + s] = kept;
        saved->visible[b * steps + s] = args.zero_output_for_mask ? kept : seen;
      }
    }
    f.keep = saved->keep.data();
  }
  const memory::Buffer<T> scratch(batch * width);
  f.scratch = scratch.data();
  forward_steps<Cell>(cell, f);

  std::vector<Variable<T>> inputs;
  inputs.reserve(4 + args.initial_states.size());  // one allocation, not two
  inputs.insert(inputs.end(), {x, kernel, recurrent_kernel});
  if (bias) inputs.push_back(*bias);
  for (const auto& state : args.initial_states) inputs.push_back(state);
  const bool recording = any_requires_grad(inputs);
  const auto last_step = [&](const T* sequence, std::size_t b) {
    return sequence + b * steps * units + (steps - 1) * units;
  };

  // The result, made once its output exists (a default RecurrentOutput's
  // placeholder Variables each cost a node); state is h_T when asked for,
  // else another handle to the output.
  const auto result_of = [](Variable<T> output, std::vector<Variable<T>> states) {
    Variable<T> state = states.empty() ? output : states[0];
    return RecurrentOutput<T>{std::move(output), std::move(states), std::move(state)};
  };
  // y_s = h_s without a mask: the states are the output, and h_T its last
  // step; with one state and no mask the node's value is h itself or h_T.
  if (!masked && (!args.return_state || state_count == 1)) {
    if (args.return_sequences) {
      saved->layout = Layout::sequence;
      Variable<T> output = Variable<T>::from_op(
          std::move(h), std::move(inputs), "recurrent_sequence",
          [saved](Array<T>& g, const Array<T>& output, std::vector<Variable<T>>& in) {
            backward_through_time<Cell>(*saved, output, g, in);
          });
      std::vector<Variable<T>> states;
      if (args.return_state) states = {select(output, 1, steps - 1)};
      return result_of(std::move(output), std::move(states));
    }
    saved->layout = Layout::last;
    Array<T> last = Array<T>::from_shape({batch, units});
    for (std::size_t b = 0; b < batch; ++b) std::copy_n(last_step(h.data(), b), units, last.data() + b * units);
    const auto recorded = [&] {
      saved->h = std::move(h);
      return Variable<T>::from_op(std::move(last), std::move(inputs), "recurrent_sequence",
                                  [saved](Array<T>& g, const Array<T>&, std::vector<Variable<T>>& in) {
                                    backward_through_time<Cell>(*saved, *saved->h, g, in);
                                  });
    };
    Variable<T> output = recording ? recorded() : Variable<T>(std::move(last));
    std::vector<Variable<T>> states;
    if (args.return_state) states = {output};
    return result_of(std::move(output), std::move(states));
  }

  // Otherwise the node holds the outputs y_s = o_s ⊙ h_s, then the final
  // states when asked for, side by side.
  const std::size_t out_steps = args.return_sequences ? steps : 1;
  const std::size_t packed_steps = out_steps + (args.return_state ? state_count : 0);
  saved->layout = args.return_sequences
                      ? (args.return_state ? Layout::sequence_and_states : Layout::sequence)
                      : (args.return_state ? Layout::last_and_states : Layout::last);
  Array<T> packed = packed_steps == 1 && !args.return_sequences
                        ? Array<T>::from_shape({batch, units})
                        : Array<T>::from_shape({batch, packed_steps, units});
  for (std::size_t b = 0; b < batch; ++b) {
    T* dst = packed.data() + b * packed_steps * units;
    for (std::size_t j = 0; j < out_steps; ++j) {
      const std::size_t s = args.return_sequences ? j : steps - 1;
      if (!masked || saved->visible[b * steps + s]) std::copy_n(h.data() + b * steps * units + s * units, units, dst + j * units);
      else std::fill_n(dst + j * units, units, T(0));
    }
    if (!args.return_state) continue;
    std::copy_n(last_step(h.data(), b), units, dst + out_steps * units);
    if (state_count > 1) std::copy_n(f.c_row(b, steps - 1), units, dst + (out_steps + 1) * units);
  }
  saved->h = std::move(h);
  Variable<T> node = Variable<T>::from_op(
      std::move(packed), std::move(inputs), "recurrent_sequence",
      [saved](Array<T>& g, const Array<T>&, std::vector<Variable<T>>& in) {
        backward_through_time<Cell>(*saved, *saved->h, g, in);
      });
  if (!args.return_state) return result_of(std::move(node), {});
  std::vector<Variable<T>> states;
  for (std::size_t k = 0; k < state_count; ++k) states.push_back(select(node, 1, out_steps + k));
  return result_of(args.return_sequences ? slice(node, 1, 0, steps) : select(node, 1, 0), std::move(states));
}

}  // namespace

template <typename T>
RecurrentOutput<T> recurrent_sequence(const Variable<T>& x, const Variable<T>& kernel,
                                      const Variable<T>& recurrent_kernel,
                                      const std::optional<Variable<T>>& bias,
                                      const RecurrentSequenceArgs<T>& args) {
  for (const Activation f : {args.cell.activation, args.cell.recurrent_activation}) {
    if (!has_row_kernels(f)) {
      throw std::invalid_argument(std::string("recurrent_sequence: activation '") + activation_name(f) +
                                  "' has no row kernel in the fused node; run the layer's composed path "
                                  "(the layers choose it themselves)");
    }
  }
  switch (args.cell.kind) {
    case CellSpec::Kind::lstm: return run_sequence<LSTMCellMath>(x, kernel, recurrent_kernel, bias, args);
    case CellSpec::Kind::gru: return run_sequence<GRUCellMath>(x, kernel, recurrent_kernel, bias, args);
    case CellSpec::Kind::simple_rnn: break;
  }
  return run_sequence<SimpleRNNCellMath>(x, kernel, recurrent_kernel, bias, args);
}

template RecurrentOutput<float> recurrent_sequence(const Variable<float>&, const Variable<float>&,
                                                   const Variable<float>&,
                                                   const std::optional<Variable<float>>&,
                                                   const RecurrentSequenceArgs<float>&);
template RecurrentOutput<double> recurrent_sequence(const Variable<double>&, const Variable<double>&,
                                                    const Variable<double>&,
                                                    const std::optional<Variable<double>>&,
                                                    const RecurrentSequenceArgs<double>&);

}  // namespace xgrad::nn
