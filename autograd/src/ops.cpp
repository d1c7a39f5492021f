#include "xgrad/autograd/ops.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <stdexcept>
#include <string>

#include <xtensor/xmath.hpp>

#include "xgrad/tensor/activations.hpp"
#include "xgrad/tensor/blas.hpp"
#include "xgrad/tensor/reductions.hpp"

namespace xgrad {

namespace {

// a ∘ b with NumPy broadcasting. Equal shapes, and an operand whose shape is
// the other's trailing shape (a bias [U] added to [B, U], a scalar), run as
// plain loops; other broadcasts go through xtensor's expression (`general`),
// whose broadcasting assignment was a sixth of an op-by-op RNN's train step.
// Shapes that do not broadcast throw std::invalid_argument naming `op_name`
// and both shapes; the plain loops' shapes always broadcast, and are not
// checked again (building the shapes to check took a tenth of an add of two
// [32, 32] arrays).
// A binary kernel over rows (activations.hpp: add_rows, ...).
template <typename T>
using RowsKernel = void (*)(const T*, std::size_t, const T*, std::size_t, T*, std::size_t, std::size_t);

// Whether `tail` is the trailing part of `whole`: an operand of that shape
// repeats over the other's leading axes.
template <typename Whole, typename Tail>
bool ends_with(const Whole& whole, const Tail& tail) {
  return tail.size() <= whole.size() &&
         std::equal(tail.begin(), tail.end(), whole.end() - static_cast<std::ptrdiff_t>(tail.size()));
}

template <typename T, typename General>
Array<T> broadcast_elementwise(const Array<T>& a, const Array<T>& b, const char* op_name, RowsKernel<T> kernel,
                               General general) {
  const bool b_repeats = ends_with(a.shape(), b.shape());
  if (!b_repeats && !ends_with(b.shape(), a.shape())) {
    broadcast_shapes(to_shape(a.shape()), to_shape(b.shape()), op_name);
    return general();
  }
  const Array<T>& whole = b_repeats ? a : b;
  const std::size_t n = (b_repeats ? b : a).size();
  Array<T> out = Array<T>::from_shape(whole.shape());
  // One vectorised kernel call, the smaller operand repeated row by row.
  if (n == 0) return out;
  const std::size_t rows = out.size() / n;
  kernel(a.data(), b_repeats ? n : 0, b.data(), b_repeats ? 0 : n, out.data(), rows, n);
  return out;
}

template <typename T>
using BackwardFn = void (*)(Array<T>&, const Array<T>&, std::vector<Variable<T>>&);

// out = a ∘ b in a's own storage, for add/sub/mul given a temporary a of the
// result's shape (see ops.hpp); nothing, no work done, when the op must make
// a new array. The result is `a` itself when it is a plain value and nothing
// is recorded. Else, given `backward` (which must not read a's value), it
// takes a's storage (Variable::result_taking_value) and is recorded with a
// and b.
template <typename T>
std::optional<Variable<T>> computed_in_place(Variable<T>& a, const Variable<T>& b, RowsKernel<T> kernel,
                                             const char* op, BackwardFn<T> backward) {
  if (!ends_with(a.shape(), b.shape()) || !a.value_can_be_taken()) return std::nullopt;
  const bool plain_result = a.is_sole_plain_value() && !(is_grad_enabled() && b.requires_grad());
  if (!plain_result && !backward) return std::nullopt;
  const std::size_t n = b.size();
  T* out = a.value().data();
  if (n > 0) kernel(out, n, b.value().data(), 0, out, a.size() / n, n);
  if (plain_result) return std::move(a);
  Variable<T> result = Variable<T>::from_op(a.result_taking_value(), op, backward, a, b);
  result.set_output_unread();
  return result;
}

// Adds g summed down to v's shape (smaller than g's) to v's gradient: the
// gradient of an input broadcast to g's shape. A bias (v's shape g's
// trailing shape) that already holds a gradient takes the sums of g's rows
// through a scratch row, with no array made: it does so at every timestep of
// a user's loop. The sums and their addition are sum_to's.
template <typename T>
void add_summed_grad(Variable<T>& v, const Array<T>& g) {
  const std::size_t n = v.size();
  if (n == 0 || !v.has_grad() || !ends_with(g.shape(), v.shape())) {
    v.add_grad(sum_to(g, to_shape(v.shape())));
    return;
  }
  thread_local std::vector<T> row;
  row.resize(n);
  sum_rows_into(g.data(), g.size() / n, n, row.data());
  T* grad = v.grad_buffer().data();
  add_into(grad, row.data(), grad, n);
}

// The same for a gradient g the op is done with: g's own storage goes over
// when nothing is to be summed.
template <typename T>
void add_consumed_grad(Variable<T>& v, Array<T>& g) {
  if (shapes_equal(g.shape(), v.shape())) v.add_grad(std::move(g));
  else add_summed_grad(v, g);
}

// The sum of a's elements: the one its op made, else a pass over them.
template <typename T>
T sum_of_value(const Variable<T>& a) {
  if (const std::optional<T> known = a.value_sum()) return *known;
  return sum_of(a.value().data(), a.value().size());
}

// add's backward, which reads no input's value: an add given a temporary
// may take its storage.
template <typename T>
void add_backward(Array<T>& g, const Array<T>&, std::vector<Variable<T>>& in) {
  // Both inputs get g summed to their shapes. The one served second may
  // take g's storage: serve first the one that cannot (a broadcast
  // input, whose gradient is a reduction), or else one that reads g
  // without a copy when it already holds a gradient.
  const bool first_reads = !shapes_equal(g.shape(), in[0].shape()) ||
                           shapes_equal(g.shape(), in[1].shape());
  Variable<T>& reads = in[first_reads ? 0 : 1];
  Variable<T>& takes = in[first_reads ? 1 : 0];
  if (!takes.requires_grad()) {
    if (reads.requires_grad()) add_consumed_grad(reads, g);
    return;
  }
  if (reads.requires_grad()) {
    if (shapes_equal(g.shape(), reads.shape())) reads.add_grad(g);  // copies only if it has none
    else add_summed_grad(reads, g);
  }
  add_consumed_grad(takes, g);
}

// sub's backward, which reads no input's value either.
template <typename T>
void sub_backward(Array<T>& g, const Array<T>&, std::vector<Variable<T>>& in) {
  // a gets g, b gets −g, both summed to their shapes, with no negated
  // copy of g: subtracted from a gradient b already holds, or g
  // negated in its own storage once a has read it.
  Variable<T>& a = in[0];
  Variable<T>& b = in[1];
  if (b.requires_grad() && b.has_grad() && shapes_equal(g.shape(), b.shape())) {
    T* db = b.grad_buffer().data();
    subtract_into(db, g.data(), db, g.size());
    if (a.requires_grad()) add_consumed_grad(a, g);
    return;
  }
  if (a.requires_grad()) {
    if (!b.requires_grad()) return add_consumed_grad(a, g);
    if (shapes_equal(g.shape(), a.shape())) a.add_grad(g);  // copies only if it has none
    else add_summed_grad(a, g);
  }
  if (!b.requires_grad()) return;
  T* values = g.data();
  for (std::size_t i = 0; i < g.size(); ++i) values[i] = -values[i];
  add_consumed_grad(b, g);
}

// An elementwise activation f: its backward pass, g ⊙ f'(x) from its output
// y (Derivative: tanh_backward, ...), and the op, into a new array
// (`into`) or, given a temporary a, in a's own storage (`in_place`; see
// ops.hpp), which its backward does not read.
template <typename T>
using Elementwise = void (*)(const T*, T*, std::size_t);

template <typename T, Elementwise<T> Derivative>
void activation_gradient(Array<T>& g, const Array<T>& y, std::vector<Variable<T>>& in) {
  in[0].add_grad(backward_applied<T>(g, y, Derivative));
}

template <typename T, Elementwise<T> Derivative>
Variable<T> activated(const Variable<T>& a, Elementwise<T> into, const char* op) {
  Variable<T> out = Variable<T>::uninitialized(a.value().shape());
  into(a.value().data(), out.value().data(), out.size());
  return Variable<T>::from_op(std::move(out), op, activation_gradient<T, Derivative>, a);
}

template <typename T, Elementwise<T> Derivative>
Variable<T> activated(Variable<T>&& a, void (*in_place)(T*, std::size_t), Elementwise<T> into, const char* op) {
  if (!a.value_can_be_taken()) return activated<T, Derivative>(static_cast<const Variable<T>&>(a), into, op);
  in_place(a.value().data(), a.size());
  if (a.is_sole_plain_value()) return std::move(a);  // nothing to record: a needs no gradient
  return Variable<T>::from_op(a.result_taking_value(), op, activation_gradient<T, Derivative>, a);
}

// B^T of a matmul's second input [K, N], as [N, K] rows, made once per
// backward() pass: a loop multiplies by the same weights at every step, and
// each step's backward would transpose them again. Two kept per thread (a
// loop's input and recurrent weights), keyed by the node's value, which
// lives and does not change during the pass. Null outside a pass.
template <typename T>
const T* transposed_in_pass(const Variable<T>& b) {
  struct Kept {
    const Array<T>* value = nullptr;
    std::uint64_t pass = 0;
    std::vector<T> transposed;
  };
  thread_local Kept kept[2];
  thread_local std::size_t next = 0;
  const std::uint64_t pass = detail::backward_pass_number();
  if (pass == 0) return nullptr;  // not in a pass: nothing says the value stays
  const Array<T>& value = b.value();
  for (const Kept& k : kept)
    if (k.pass == pass && k.value == &value) return k.transposed.data();
  Kept& k = kept[next];
  next = (next + 1) % 2;
  const std::size_t rows = value.shape()[0], cols = value.shape()[1];
  k.transposed.resize(value.size());
  transpose_matrix(value.data(), rows, cols, cols, k.transposed.data(), rows);
  k.value = &value;
  k.pass = pass;
  return k.transposed.data();
}

}  // namespace

template <typename T>
Variable<T> matmul(const Variable<T>& a, const Variable<T>& b) {
  Variable<T> product = Variable<T>::uninitialized(matmul_shape(a.value(), b.value()));  // checks the shapes
  matmul_into(a.value(), b.value(), product.value());
  Variable<T> result = Variable<T>::from_op(
      std::move(product), "matmul",
      [](const Array<T>& g, const Array<T>&, std::vector<Variable<T>>& in) {
        const Array<T>& av = in[0].value();
        const Array<T>& bv = in[1].value();
        const std::size_t k = bv.shape()[0], n = bv.shape()[1];
        const std::size_t m = k == 0 ? 0 : av.size() / k;
        // product(beta, out) writes out = (a product) + beta · out. Into an
        // input without a gradient yet, it writes a new one whole (beta 0:
        // BLAS reads nothing), so no zero-filled buffer is made first; a
        // product of no terms adds nothing to zeros.
        const auto add_product_to_grad = [](Variable<T>& v, std::size_t inner, const auto& product) {
          if (inner == 0) product(T(1), v.grad_buffer().data());
          else v.add_written_grad([&](T beta, Array<T>& grad) { product(beta, grad.data()); });
        };
        if (in[0].requires_grad()) {  // dA[m, k] = g[m, n] · B^T
          const T* bt = gemm_transposes_b_first(m, k, n) ? transposed_in_pass(in[1]) : nullptr;
          add_product_to_grad(in[0], n, [&](T beta, T* da) {
            if (bt) gemm(false, false, m, k, n, T(1), g.data(), n, bt, k, beta, da, k);
            else gemm(false, true, m, k, n, T(1), g.data(), n, bv.data(), n, beta, da, k);
          });
        }
        if (in[1].requires_grad()) {  // dB[k, n] = A^T · g, over all leading rows of A at once
          add_product_to_grad(in[1], m, [&](T beta, T* db) {
            gemm(true, false, k, n, m, T(1), av.data(), k, g.data(), n, beta, db, n);
          });
        }
      },
      a, b);
  result.set_output_unread();
  return result;
}

template <typename T>
Variable<T> add(const Variable<T>& a, const Variable<T>& b) {
  Variable<T> result = Variable<T>::from_op(
      broadcast_elementwise<T>(a.value(), b.value(), "add", add_rows,
                               [&] { return Array<T>(a.value() + b.value()); }),
      "add", add_backward<T>, a, b);
  result.set_output_unread();
  return result;
}

template <typename T>
Variable<T> add(Variable<T>&& a, const Variable<T>& b) {
  if (auto result = computed_in_place(a, b, add_rows, "add", add_backward<T>)) return std::move(*result);
  return add(static_cast<const Variable<T>&>(a), b);
}

template <typename T>
Variable<T> sub(Variable<T>&& a, const Variable<T>& b) {
  if (auto result = computed_in_place(a, b, subtract_rows, "sub", sub_backward<T>)) return std::move(*result);
  return sub(static_cast<const Variable<T>&>(a), b);
}

template <typename T>
Variable<T> mul(Variable<T>&& a, const Variable<T>& b) {
  // mul's backward reads a's value: only a plain result is computed in place.
  if (auto result = computed_in_place<T>(a, b, multiply_rows, "mul", nullptr)) return std::move(*result);
  return mul(static_cast<const Variable<T>&>(a), b);
}

template <typename T>
Variable<T> sub(const Variable<T>& a, const Variable<T>& b) {
  Variable<T> result = Variable<T>::from_op(
      broadcast_elementwise<T>(a.value(), b.value(), "sub", subtract_rows,
                               [&] { return Array<T>(a.value() - b.value()); }),
      "sub", sub_backward<T>, a, b);
  result.set_output_unread();
  return result;
}

template <typename T>
Variable<T> mul(const Variable<T>& a, const Variable<T>& b) {
  Variable<T> result = Variable<T>::from_op(
      broadcast_elementwise<T>(a.value(), b.value(), "mul", multiply_rows,
                            [&] { return Array<T>(a.value() * b.value()); }),
      "mul",
      [](Array<T>& g, const Array<T>&, std::vector<Variable<T>>& in) {
        if (in[0].requires_grad())
          in[0].add_grad(sum_to(Array<T>(g * in[1].value()), to_shape(in[0].shape())));
        if (!in[1].requires_grad()) return;
        const Array<T>& a = in[0].value();
        if (shapes_equal(a.shape(), g.shape())) {
          multiply_into(g.data(), a.data(), g.data(), g.size());  // in g's own storage: g is not read again
          add_consumed_grad(in[1], g);
        } else {
          in[1].add_grad(sum_to(Array<T>(g * a), to_shape(in[1].shape())));
        }
      },
      a, b);
  result.set_output_unread();  // it reads its inputs' values, not its own
  return result;
}

template <typename T>
Variable<T> neg(const Variable<T>& a) {
  return Variable<T>::from_op(
      -a.value(), "neg",
      [](const Array<T>& g, const Array<T>&, std::vector<Variable<T>>& in) {
        in[0].add_grad(Array<T>(-g));
      },
      a);
}

template <typename T>
Variable<T> scale(const Variable<T>& a, typename Variable<T>::value_type factor) {
  return Variable<T>::from_op(
      a.value() * factor, "scale",
      [factor](Array<T>& g, const Array<T>&, std::vector<Variable<T>>& in) {
        g *= factor;
        in[0].add_grad(std::move(g));
      },
      a);
}

template <typename T>
Variable<T> tanh(const Variable<T>& a) {
  return activated<T, tanh_backward>(a, tanh_into, "tanh");
}

template <typename T>
Variable<T> tanh(Variable<T>&& a) {
  return activated<T, tanh_backward>(std::move(a), tanh_in_place, tanh_into, "tanh");
}

template <typename T>
Variable<T> relu(const Variable<T>& a) {
  return activated<T, relu_backward>(a, relu_into, "relu");
}

template <typename T>
Variable<T> relu(Variable<T>&& a) {
  return activated<T, relu_backward>(std::move(a), relu_in_place, relu_into, "relu");
}

template <typename T>
Variable<T> sigmoid(const Variable<T>& a) {
  return activated<T, sigmoid_backward>(a, sigmoid_into, "sigmoid");
}

template <typename T>
Variable<T> sigmoid(Variable<T>&& a) {
  return activated<T, sigmoid_backward>(std::move(a), sigmoid_in_place, sigmoid_into, "sigmoid");
}

template <typename T>
Variable<T> sum(const Variable<T>& a) {
  Array<T> out = Array<T>::from_shape({});
  out() = sum_of_value(a);
  return Variable<T>::from_op(
      std::move(out), "sum",
      [](const Array<T>& g, const Array<T>&, std::vector<Variable<T>>& in) {
        in[0].add_uniform_grad(g());
      },
      a);
}

template <typename T>
Variable<T> mean(const Variable<T>& a) {
  if (a.size() == 0) {
    throw std::invalid_argument("mean: the value of shape " + shape_to_string(a.shape()) +
                                " has no elements");
  }
  // One node, not sum then scale: the same products, sum · (1/n) and
  // g · (1/n) filled, without the second node and its arrays.
  const T inverse = T(1) / static_cast<T>(a.size());
  Array<T> out = Array<T>::from_shape({});
  out() = sum_of_value(a) * inverse;
  return Variable<T>::from_op(
      std::move(out), "mean",
      [inverse](const Array<T>& g, const Array<T>&, std::vector<Variable<T>>& in) {
        in[0].add_uniform_grad(g() * inverse);
      },
      a);
}

template <typename T>
Variable<T> reshape(const Variable<T>& a, const Shape& shape) {
  return Variable<T>::from_op(
      reshaped(a.value(), shape), "reshape",
      [](const Array<T>& g, const Array<T>&, std::vector<Variable<T>>& in) {
        in[0].add_grad(reshaped(g, to_shape(in[0].shape())));
      },
      a);
}

template <typename T>
Variable<T> transpose(const Variable<T>& a) {
  return Variable<T>::from_op(
      transposed(a.value()), "transpose",
      [](const Array<T>& g, const Array<T>&, std::vector<Variable<T>>& in) {
        in[0].add_grad(transposed(g));
      },
      a);
}

template <typename T>
Variable<T> select(const Variable<T>& a, std::size_t axis, std::size_t index) {
  if (axis >= a.dimension()) {
    throw std::invalid_argument("select: axis " + std::to_string(axis) + " is out of range for shape " +
                                shape_to_string(a.shape()) + " (" + std::to_string(a.dimension()) + " axes)");
  }
  if (index >= a.shape()[axis]) {
    throw std::invalid_argument("select: index " + std::to_string(index) + " on axis " +
                                std::to_string(axis) + " is out of range for shape " +
                                shape_to_string(a.shape()));
  }
  Variable<T> slice = Variable<T>::uninitialized(slice_shape(a.value(), axis));
  slice_of_into(a.value(), axis, index, slice.value());
  return Variable<T>::from_op(
      std::move(slice), "select",
      [axis, index](const Array<T>& g, const Array<T>&, std::vector<Variable<T>>& in) {
        slice_add_into(in[0].grad_buffer(), axis, index, g);
      },
      a);
}

template <typename T>
Variable<T> stack(const std::vector<Variable<T>>& values, std::size_t axis) {
  if (values.empty()) throw std::invalid_argument("stack: no values to stack");
  const Shape item_shape = to_shape(values[0].shape());
  if (axis > item_shape.size()) {
    throw std::invalid_argument("stack: axis " + std::to_string(axis) +
                                " is out of range for values of shape " +
                                shape_to_string(item_shape));
  }
  for (std::size_t i = 1; i < values.size(); ++i) {
    if (!shapes_equal(item_shape, values[i].shape())) {
      throw std::invalid_argument("stack: value 0 has shape " + shape_to_string(item_shape) +
                                  " but value " + std::to_string(i) + " has shape " +
                                  shape_to_string(values[i].shape()));
    }
  }
  Shape out_shape = item_shape;
  out_shape.insert(out_shape.begin() + static_cast<std::ptrdiff_t>(axis), values.size());
  Array<T> out = Array<T>::from_shape(out_shape);
  for (std::size_t i = 0; i < values.size(); ++i) slice_into(out, axis, i, values[i].value());
  return Variable<T>::from_op(
      std::move(out), values, "stack",
      [axis](const Array<T>& g, const Array<T>&, std::vector<Variable<T>>& in) {
        for (std::size_t i = 0; i < in.size(); ++i) {
          if (!in[i].requires_grad()) continue;
          in[i].add_written_grad([&](T beta, Array<T>& grad) {
            if (beta == T(0)) slice_of_into(g, axis, i, grad);
            else add_into(grad.data(), slice_of(g, axis, i).data(), grad.data(), grad.size());
          });
        }
      });
}

#define XGRAD_INSTANTIATE_OPS(T)                                               \
  template Variable<T> matmul(const Variable<T>&, const Variable<T>&);         \
  template Variable<T> add(const Variable<T>&, const Variable<T>&);            \
  template Variable<T> sub(const Variable<T>&, const Variable<T>&);            \
  template Variable<T> mul(const Variable<T>&, const Variable<T>&);            \
  template Variable<T> add(Variable<T>&&, const Variable<T>&);                 \
  template Variable<T> sub(Variable<T>&&, const Variable<T>&);                 \
  template Variable<T> mul(Variable<T>&&, const Variable<T>&);                 \
  template Variable<T> neg(const Variable<T>&);                                \
  template Variable<T> scale(const Variable<T>&, T);                           \
  template Variable<T> tanh(const Variable<T>&);                               \
  template Variable<T> relu(const Variable<T>&);                               \
  template Variable<T> sigmoid(const Variable<T>&);                            \
  template Variable<T> tanh(Variable<T>&&);                                    \
  template Variable<T> relu(Variable<T>&&);                                    \
  template Variable<T> sigmoid(Variable<T>&&);                                 \
  template Variable<T> sum(const Variable<T>&);                                \
  template Variable<T> mean(const Variable<T>&);                               \
  template Variable<T> reshape(const Variable<T>&, const Shape&);              \
  template Variable<T> transpose(const Variable<T>&);                          \
  template Variable<T> select(const Variable<T>&, std::size_t, std::size_t);   \
  template Variable<T> stack(const std::vector<Variable<T>>&, std::size_t);
XGRAD_INSTANTIATE_OPS(float)
XGRAD_INSTANTIATE_OPS(double)

}  // namespace xgrad
