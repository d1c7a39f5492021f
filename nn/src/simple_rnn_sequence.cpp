#include "xgrad/nn/simple_rnn_sequence.hpp"

#include <algorithm>
#include <memory>
#include <vector>

#include "xgrad/autograd/math_ops.hpp"
#include "xgrad/autograd/ops.hpp"
#include "xgrad/tensor/activations.hpp"
#include "xgrad/tensor/blas.hpp"

namespace xgrad::nn {

namespace {

template <typename T>
void activate_in_place(Activation activation, T* values, std::size_t n) {
  switch (activation) {
    case Activation::linear: return;
    case Activation::tanh: return tanh_in_place(values, n);
    case Activation::relu: return relu_in_place(values, n);
    case Activation::sigmoid: return sigmoid_in_place(values, n);
    case Activation::hard_sigmoid: return hard_sigmoid_in_place(values, n);
    case Activation::softsign: return softsign_in_place(values, n);
    case Activation::elu: return elu_in_place(values, n);
    case Activation::selu: return selu_in_place(values, n);
    case Activation::exponential: return exp_in_place(values, n);
  }
}

// grad[i] *= activation'(pre-activation), written with the output h[i]: the
// node keeps no pre-activations.
template <typename T>
void scale_by_derivative(Activation activation, const T* h, T* grad, std::size_t n) {
  switch (activation) {
    case Activation::linear: return;
    case Activation::tanh: return tanh_backward(h, grad, n);
    case Activation::relu: return relu_backward(h, grad, n);
    case Activation::sigmoid: return sigmoid_backward(h, grad, n);
    case Activation::hard_sigmoid: return hard_sigmoid_backward(h, grad, n);
    case Activation::softsign: return softsign_backward(h, grad, n);
    case Activation::elu: return elu_backward(h, grad, n);
    case Activation::selu: return selu_backward(h, grad, n);
    case Activation::exponential: return exp_backward(h, grad, n);
  }
}

// Reverses the T axis of a [B, T, U] buffer in place.
template <typename T>
void reverse_time(T* data, std::size_t batch, std::size_t steps, std::size_t units) {
  for (std::size_t b = 0; b < batch; ++b) {
    T* p = data + b * steps * units;
    for (std::size_t s = 0; s < steps / 2; ++s)
      std::swap_ranges(p + s * units, p + (s + 1) * units, p + (steps - 1 - s) * units);
  }
}

// What the node's value holds, and so where backward finds each gradient.
enum class Layout {
  sequence,            // [B, T, U]    y_1 .. y_T
  last,                // [B, U]       y_T
  sequence_and_state,  // [B, T + 1, U] y_1 .. y_T, then h_T
  last_and_state,      // [B, 2, U]    y_T, then h_T
};

// Everything backward needs besides the inputs and the states.
template <typename T>
struct Recurrence {
  Activation activation = Activation::tanh;
  Layout layout = Layout::sequence;
  bool go_backwards = false;
  bool has_bias = false;
  bool has_initial = false;
  // keep[b * T + s]: m of row b at processing step s; visible: o. Both empty
  // without a mask.
  std::vector<unsigned char> keep, visible;
  bool has_dropout = false;
  Array<T> dropout;  // d [B, U], with recurrent dropout only
};

// Backward through time. `states` is h_1..h_T as [B, T, U] in processing
// order; `g` the gradient of the node's value, laid out as recurrence.layout.
template <typename T>
void backward_through_time(const Recurrence<T>& c, const Array<T>& states, Array<T>& g,
                           std::vector<Variable<T>>& in) {
  const Array<T>& x = in[0].value();
  const Array<T>& kernel = in[1].value();
  const Array<T>& recurrent_kernel = in[2].value();
  const std::size_t batch = x.shape()[0], steps = x.shape()[1], features = x.shape()[2];
  const std::size_t units = kernel.shape()[1];
  const std::size_t row = steps * units;  // stride between batch rows of one step
  const std::size_t rows = batch * steps;

  Variable<T>* initial = c.has_initial ? &in[c.has_bias ? 4 : 3] : nullptr;
  const T* h0 = initial ? initial->value().data() : nullptr;
  T* dh0 = initial && initial->requires_grad() ? initial->grad_buffer().data() : nullptr;
  const T* d = c.has_dropout ? c.dropout.data() : nullptr;
  const unsigned char* keep = c.keep.empty() ? nullptr : c.keep.data();
  const unsigned char* visible = c.visible.empty() ? nullptr : c.visible.data();
  const bool sequences = c.layout == Layout::sequence || c.layout == Layout::sequence_and_state;
  const bool with_state = c.layout == Layout::sequence_and_state || c.layout == Layout::last_and_state;
  const std::size_t g_row = ((sequences ? steps : 1) + (with_state ? 1 : 0)) * units;
  const std::size_t state_at = (sequences ? steps : 1) * units;

  // Without a mask, the sequence layout's gradient is slot for slot what
  // grad_pre starts as: work in its own storage (g is ours to consume).
  const bool reuse_gradient = c.layout == Layout::sequence && !visible;
  Array<T> grad_pre = reuse_gradient ? std::move(g) : Array<T>::from_shape({batch, steps, units});
  Array<T> scratch;  // [B, U] for products with d
  if (d) scratch = Array<T>::from_shape({batch, units});
  // R^T once, so that each step's product is grad_pre_s · R^T as a plain
  // A·B: OpenBLAS 0.3.21 runs A·B^T 2.3x slower at S's [32, 32] per step
  // (12% at M's [64, 128]; the same at L's [64, 512]).
  const Array<T> recurrent_kernel_t = transposed(recurrent_kernel);
  const T* rt = recurrent_kernel_t.data();

  // Slot s of grad_pre starts as the gradient reaching h_s from outside the
  // recurrence: o_s ⊙ the output's, plus the state's at the last step.
  const auto fill_outside = [&](std::size_t s) {
    if (reuse_gradient) return;
    T* slot = grad_pre.data() + s * units;
    for (std::size_t b = 0; b < batch; ++b) {
      T* dst = slot + b * row;
      const bool shown = !visible || visible[b * steps + s];
      const T* src = g.data() + b * g_row + (sequences ? s * units : 0);
      if (shown && (sequences || s == steps - 1)) std::copy_n(src, units, dst);
      else std::fill_n(dst, units, T(0));
      if (with_state && s == steps - 1) {
        const T* gs = g.data() + b * g_row + state_at;
        add_into(dst, gs, dst, units);
      }
    }
  };

  // From the last step back: slot s holds dL/dh_s once the later steps have
  // added theirs; it then becomes dL/d(pre-activation of step s), and adds
  // its share to dL/dh_{s−1} (slot s − 1, or the initial state's gradient).
  fill_outside(steps - 1);
  for (std::size_t s = steps; s-- > 0;) {
    T* slot = grad_pre.data() + s * units;
    T* prev = s > 0 ? slot - units : dh0;
    const std::size_t prev_ld = s > 0 ? row : units;
    if (s > 0) fill_outside(s - 1);
    for (std::size_t b = 0; b < batch; ++b) {
      T* gb = slot + b * row;
      if (keep && !keep[b * steps + s]) {
        // A masked step copied h_{s−1}: its gradient passes through, and
        // its pre-activation had no effect.
        if (prev) {
          T* pb = prev + b * prev_ld;
          add_into(pb, gb, pb, units);
        }
        std::fill_n(gb, units, T(0));
      } else {
        scale_by_derivative(c.activation, states.data() + b * row + s * units, gb, units);
      }
    }
    if (!prev) continue;
    if (d) {  // dL/dh_{s−1} += (grad_pre_s · R^T) ⊙ d
      gemm(false, false, batch, units, units, T(1), slot, row, rt, units, T(0), scratch.data(),
           units);
      for (std::size_t b = 0; b < batch; ++b)
        for (std::size_t u = 0; u < units; ++u)
          prev[b * prev_ld + u] += scratch.data()[b * units + u] * d[b * units + u];
    } else {
      gemm(false, false, batch, units, units, T(1), slot, row, rt, units, T(1), prev, prev_ld);
    }
  }

  if (in[2].requires_grad()) {  // d R = sum_s (h_{s−1} ⊙ d)^T · grad_pre_s
    Array<T>& dr = in[2].grad_buffer();
    if (steps > 1 && !d) {
      // Over the flat [B·T, U] rows, row r pairs with r + 1: one product for
      // the whole batch. It also pairs each row's last step with the next
      // row's first; a second product takes those B − 1 terms back out.
      gemm(true, false, units, units, rows - 1, T(1), states.data(), units,
           grad_pre.data() + units, units, T(1), dr.data(), units);
      if (batch > 1)
        gemm(true, false, units, units, batch - 1, T(-1), states.data() + (steps - 1) * units, row,
             grad_pre.data() + row, row, T(1), dr.data(), units);
    } else if (steps > 1) {
      // (H_b ⊙ d_b)^T P_b = diag(d_b) · H_b^T P_b: one product per row, then
      // its rows scaled by d_b.
      Array<T> product = Array<T>::from_shape({units, units});
      for (std::size_t b = 0; b < batch; ++b) {
        gemm(true, false, units, units, steps - 1, T(1), states.data() + b * row, units,
             grad_pre.data() + b * row + units, units, T(0), product.data(), units);
        for (std::size_t i = 0; i < units; ++i) {
          const T di = d[b * units + i];
          for (std::size_t j = 0; j < units; ++j) dr.data()[i * units + j] += di * product.data()[i * units + j];
        }
      }
    }
    if (h0) {  // the first step's term, h_0 ⊙ d, over the whole batch at once
      const T* h0d = h0;
      if (d) {
        for (std::size_t i = 0; i < batch * units; ++i) scratch.data()[i] = h0[i] * d[i];
        h0d = scratch.data();
      }
      gemm(true, false, units, units, batch, T(1), h0d, units, grad_pre.data(), row, T(1), dr.data(),
           units);
    }
  }
  if (c.has_bias && in[3].requires_grad()) {  // d bias = sum over (b, s)
    Array<T>& db = in[3].grad_buffer();
    for (std::size_t r = 0; r < rows; ++r) add_into(db.data(), grad_pre.data() + r * units, db.data(), units);
  }
  if (!in[0].requires_grad() && !in[1].requires_grad()) return;
  // Back from processing order to x's time order.
  if (c.go_backwards) reverse_time(grad_pre.data(), batch, steps, units);
  if (in[0].requires_grad()) {  // dx = grad_pre · kernel^T, all timesteps at once
    Array<T>& dx = in[0].grad_buffer();
    gemm(false, true, rows, features, units, T(1), grad_pre.data(), units, kernel.data(), units,
         T(1), dx.data(), features);
  }
  if (in[1].requires_grad()) {  // d kernel = x^T · grad_pre over all (b, t)
    Array<T>& dk = in[1].grad_buffer();
    gemm(true, false, features, units, rows, T(1), x.data(), features, grad_pre.data(), units,
         T(1), dk.data(), units);
  }
}

}  // namespace

template <typename T>
SimpleRNNOutput<T> simple_rnn_sequence(const Variable<T>& x, const Variable<T>& kernel,
                                       const Variable<T>& recurrent_kernel,
                                       const std::optional<Variable<T>>& bias,
                                       const SimpleRNNSequenceArgs<T>& args) {
  const std::size_t batch = x.shape()[0], steps = x.shape()[1], features = x.shape()[2];
  const std::size_t units = kernel.shape()[1];
  const std::size_t row = steps * units;
  const T* r = recurrent_kernel.value().data();

  // states[b, s] = x[b, t(s)] · kernel, then the recurrence in place. The bias
  // is added step by step, to the [B, U] slice the recurrent product has
  // just written and the activation reads next: while it is in cache, rather
  // than as one more pass over the whole [B, T, U] array.
  Array<T> states = Array<T>::from_shape({batch, steps, units});
  gemm(false, false, batch * steps, units, features, T(1), x.value().data(), features,
       kernel.value().data(), units, T(0), states.data(), units);
  const T* bias_values = bias ? bias->value().data() : nullptr;
  if (args.go_backwards) reverse_time(states.data(), batch, steps, units);

  auto recurrence = std::make_shared<Recurrence<T>>();
  recurrence->activation = args.activation;
  recurrence->go_backwards = args.go_backwards;
  recurrence->has_bias = bias.has_value();
  recurrence->has_initial = args.initial_state.has_value();
  if (args.recurrent_dropout_mask) {
    recurrence->has_dropout = true;
    recurrence->dropout = *args.recurrent_dropout_mask;
  }
  const bool masked = args.mask.has_value();
  if (masked) {
    recurrence->keep.resize(batch * steps);
    recurrence->visible.resize(batch * steps);
    for (std::size_t b = 0; b < batch; ++b) {
      bool seen = false;
      for (std::size_t s = 0; s < steps; ++s) {
        const bool kept = (*args.mask)(b, args.go_backwards ? steps - 1 - s : s);
        seen = seen || kept;
        recurrence->keep[b * steps + s] = kept;
        recurrence->visible[b * steps + s] = args.zero_output_for_mask ? kept : seen;
      }
    }
  }

  const T* h0 = args.initial_state ? args.initial_state->value().data() : nullptr;
  const T* d = recurrence->has_dropout ? recurrence->dropout.data() : nullptr;
  Array<T> dropped;  // h_{s−1} ⊙ d, [B, U], reused at every step
  if (d) dropped = Array<T>::from_shape({batch, units});
  const unsigned char* keep = masked ? recurrence->keep.data() : nullptr;
  for (std::size_t s = 0; s < steps; ++s) {
    T* h = states.data() + s * units;
    const T* prev = s > 0 ? h - units : h0;  // null: h_0 = 0 adds nothing
    const std::size_t prev_ld = s > 0 ? row : units;
    if (prev && d) {
      for (std::size_t b = 0; b < batch; ++b)
        for (std::size_t u = 0; u < units; ++u)
          dropped.data()[b * units + u] = prev[b * prev_ld + u] * d[b * units + u];
      gemm(false, false, batch, units, units, T(1), dropped.data(), units, r, units, T(1), h, row);
    } else if (prev) {
      gemm(false, false, batch, units, units, T(1), prev, prev_ld, r, units, T(1), h, row);
    }
    for (std::size_t b = 0; b < batch; ++b) {
      T* hb = h + b * row;
      if (bias_values) add_into(hb, bias_values, hb, units);
      activate_in_place(args.activation, hb, units);
    }
    if (!keep) continue;
    for (std::size_t b = 0; b < batch; ++b) {
      if (keep[b * steps + s]) continue;
      if (prev) std::copy_n(prev + b * prev_ld, units, h + b * row);
      else std::fill_n(h + b * row, units, T(0));
    }
  }

  std::vector<Variable<T>> inputs{x, kernel, recurrent_kernel};
  if (bias) inputs.push_back(*bias);
  if (args.initial_state) inputs.push_back(*args.initial_state);
  const auto using_captured_states = [recurrence](Array<T> captured) -> GradFn<T> {
    return [recurrence, captured = std::move(captured)](Array<T>& g, const Array<T>&,
                                                        std::vector<Variable<T>>& in) {
      backward_through_time(*recurrence, captured, g, in);
    };
  };
  const auto last_step = [&](std::size_t b) { return states.data() + b * row + (steps - 1) * units; };

  SimpleRNNOutput<T> result;
  if (!masked) {
    // y_s = h_s: the states are the output, and h_T is its last step.
    if (args.return_sequences) {
      recurrence->layout = Layout::sequence;
      result.output = Variable<T>::from_op(
          std::move(states), std::move(inputs), "simple_rnn",
          [recurrence](Array<T>& g, const Array<T>& output, std::vector<Variable<T>>& in) {
            backward_through_time(*recurrence, output, g, in);
          });
      if (args.return_state) result.state = select(result.output, 1, steps - 1);
      return result;
    }
    recurrence->layout = Layout::last;
    Array<T> last = Array<T>::from_shape({batch, units});
    for (std::size_t b = 0; b < batch; ++b) std::copy_n(last_step(b), units, last.data() + b * units);
    if (!any_requires_grad(inputs)) {
      result.output = Variable<T>(std::move(last));
    } else {
      result.output = Variable<T>::from_op(std::move(last), std::move(inputs), "simple_rnn",
                                           using_captured_states(std::move(states)));
    }
    if (args.return_state) result.state = result.output;
    return result;
  }

  // With a mask, y_s = o_s ⊙ h_s; h_T rides along when asked for.
  const std::size_t out_steps = args.return_sequences ? steps : 1;
  const std::size_t packed_steps = out_steps + (args.return_state ? 1 : 0);
  recurrence->layout = args.return_sequences
                           ? (args.return_state ? Layout::sequence_and_state : Layout::sequence)
                           : (args.return_state ? Layout::last_and_state : Layout::last);
  Array<T> packed = packed_steps == 1 && !args.return_sequences
                        ? Array<T>::from_shape({batch, units})
                        : Array<T>::from_shape({batch, packed_steps, units});
  for (std::size_t b = 0; b < batch; ++b) {
    T* dst = packed.data() + b * packed_steps * units;
    for (std::size_t j = 0; j < out_steps; ++j) {
      const std::size_t s = args.return_sequences ? j : steps - 1;
      if (recurrence->visible[b * steps + s]) std::copy_n(states.data() + b * row + s * units, units, dst + j * units);
      else std::fill_n(dst + j * units, units, T(0));
    }
    if (args.return_state) std::copy_n(last_step(b), units, dst + out_steps * units);
  }
  Variable<T> node = Variable<T>::from_op(std::move(packed), std::move(inputs), "simple_rnn",
                                          using_captured_states(std::move(states)));
  if (!args.return_state) {
    result.output = node;
    return result;
  }
  result.output = args.return_sequences ? slice(node, 1, 0, steps) : select(node, 1, 0);
  result.state = select(node, 1, out_steps);
  return result;
}

template <typename T>
Variable<T> simple_rnn_sequence(const Variable<T>& x, const Variable<T>& kernel,
                                const Variable<T>& recurrent_kernel,
                                const std::optional<Variable<T>>& bias, Activation activation,
                                bool return_sequences) {
  SimpleRNNSequenceArgs<T> args;
  args.activation = activation;
  args.return_sequences = return_sequences;
  return simple_rnn_sequence(x, kernel, recurrent_kernel, bias, args).output;
}

#define XGRAD_INSTANTIATE_SIMPLE_RNN_SEQUENCE(T)                                                 \
  template SimpleRNNOutput<T> simple_rnn_sequence(const Variable<T>&, const Variable<T>&,       \
                                                  const Variable<T>&,                           \
                                                  const std::optional<Variable<T>>&,            \
                                                  const SimpleRNNSequenceArgs<T>&);             \
  template Variable<T> simple_rnn_sequence(const Variable<T>&, const Variable<T>&,              \
                                           const Variable<T>&, const std::optional<Variable<T>>&, \
                                           Activation, bool);
XGRAD_INSTANTIATE_SIMPLE_RNN_SEQUENCE(float)
XGRAD_INSTANTIATE_SIMPLE_RNN_SEQUENCE(double)
#undef XGRAD_INSTANTIATE_SIMPLE_RNN_SEQUENCE

}  // namespace xgrad::nn
