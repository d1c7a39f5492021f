#include "xgrad/autograd/math_ops.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "xgrad/tensor/activations.hpp"
#include "xgrad/tensor/reductions.hpp"

namespace xgrad {

namespace {

// Applies f to every element into a new array of a's shape.
template <typename T, typename F>
Array<T> map(const Array<T>& a, F f) {
  Array<T> out = Array<T>::from_shape(a.shape());
  // Row-major storage: plain pointers, not xtensor's stepping iterators.
  std::transform(a.data(), a.data() + a.size(), out.data(), f);
  return out;
}

// NumPy's reading of a signed axis; throws naming `op`, the axis and the shape.
template <typename ShapeLike>
std::size_t normalize_axis(std::ptrdiff_t axis, const ShapeLike& shape, const char* op) {
  const auto ndim = static_cast<std::ptrdiff_t>(shape.size());
  if (axis < -ndim || axis >= ndim) {
    throw std::invalid_argument(std::string(op) + ": axis " + std::to_string(axis) +
                                " is out of range for shape " + shape_to_string(shape));
  }
  return static_cast<std::size_t>(axis < 0 ? axis + ndim : axis);
}

// Every axis op below walks the raw data as [outer, extent, inner]
// (shape.hpp: split_at) instead of building strided views.

// Calls f(base) for every lane along the split axis: the elements
// base + k * s.inner for k < s.extent.
template <typename F>
void for_each_lane(const AxisSplit& s, F&& f) {
  for (std::size_t p = 0; p < s.outer; ++p)
    for (std::size_t i = 0; i < s.inner; ++i) f(p * s.extent * s.inner + i);
}

// The index in the reduced output of the lane at `base`.
inline std::size_t lane_output_index(const AxisSplit& s, std::size_t base) {
  return (base / (s.extent * s.inner)) * s.inner + base % s.inner;
}

// The shape of a reduction along axis `ax`: the axis removed, or kept with
// extent 1.
template <typename ShapeLike>
Shape reduced_shape(const ShapeLike& shape, std::size_t ax, bool keepdims) {
  Shape out = to_shape(shape);
  if (keepdims) {
    out[ax] = 1;
  } else {
    out.erase(out.begin() + static_cast<std::ptrdiff_t>(ax));
  }
  return out;
}

// Throws naming `op`, the axis and the shape when the axis has no elements
// (a reduction that has no value for an empty lane).
template <typename ShapeLike>
void check_axis_not_empty(const char* op, std::ptrdiff_t axis, std::size_t ax, const ShapeLike& shape) {
  if (shape[ax] == 0) {
    throw std::invalid_argument(std::string(op) + ": axis " + std::to_string(axis) + " of shape " +
                                shape_to_string(shape) + " has no elements");
  }
}

// The largest element of the lane at `base` (-inf for an empty one).
template <typename T>
T lane_max(const T* x, std::size_t base, const AxisSplit& s) {
  T max = -std::numeric_limits<T>::infinity();
  for (std::size_t k = 0; k < s.extent; ++k) max = std::max(max, x[base + k * s.inner]);
  return max;
}

}  // namespace

template <typename T>
Variable<T> div(const Variable<T>& a, const Variable<T>& b) {
  broadcast_shapes(to_shape(a.shape()), to_shape(b.shape()), "div");
  return Variable<T>::from_op(
      a.value() / b.value(), "div",
      [](const Array<T>& g, const Array<T>& y, std::vector<Variable<T>>& in) {
        const Array<T>& bv = in[1].value();
        if (in[0].requires_grad())
          in[0].add_grad(sum_to(Array<T>(g / bv), to_shape(in[0].shape())));
        // d(a/b)/db = -a/b^2 = -y/b, from the output instead of recomputing a/b.
        if (in[1].requires_grad())
          in[1].add_grad(sum_to(Array<T>(-g * y / bv), to_shape(in[1].shape())));
      },
      a, b);
}

template <typename T>
Variable<T> exp(const Variable<T>& a) {
  return Variable<T>::from_op(
      applied<T>(a.value(), exp_into), "exp",
      [](Array<T>& g, const Array<T>& y, std::vector<Variable<T>>& in) {
        in[0].add_grad(backward_applied<T>(g, y, exp_backward));
      },
      a);
}

template <typename T>
Variable<T> log(const Variable<T>& a) {
  return Variable<T>::from_op(
      map(a.value(), [](T x) { return std::log(x); }), "log",
      [](const Array<T>& g, const Array<T>&, std::vector<Variable<T>>& in) {
        in[0].add_grad(Array<T>(g / in[0].value()));
      },
      a);
}

template <typename T>
Variable<T> square(const Variable<T>& a) {
  // Through the vector kernels, one pass each way; the forward pass also
  // sums the squares, for the mean or sum of a loss to take.
  Array<T> out = Array<T>::from_shape(a.value().shape());
  const T squares_sum = square_into_summed(a.value().data(), out.data(), out.size());
  Variable<T> result = Variable<T>::from_op(
      std::move(out), "square",
      [](Array<T>& g, const Array<T>&, std::vector<Variable<T>>& in) {
        doubled_product_into(g.data(), in[0].value().data(), g.data(), g.size());
        in[0].add_grad(std::move(g));
      },
      a);
  // Under a mean or a sum (a loss): g · 2x from g itself, not from an array
  // of g written first. The same floats: c · (x + x) either way. Into x²'s
  // own storage when nothing reads it any more: written in the forward pass,
  // it is still in cache, and a new array's memory was not (workload M's
  // loss, [64, 100, 128]).
  result.set_uniform_grad_fn([](T g, Array<T>& squares, bool squares_free, std::vector<Variable<T>>& in) {
    const Array<T>& x = in[0].value();
    Array<T> dx = squares_free ? std::move(squares) : Array<T>::from_shape(x.shape());
    doubled_product_into(g, x.data(), dx.data(), dx.size());
    in[0].add_grad(std::move(dx));
  });
  result.set_value_sum(squares_sum);
  return result;
}

template <typename T>
Variable<T> abs(const Variable<T>& a) {
  return Variable<T>::from_op(
      map(a.value(), [](T x) { return std::abs(x); }), "abs",
      [](const Array<T>& g, const Array<T>&, std::vector<Variable<T>>& in) {
        // sign(x), 0 at x = 0.
        Array<T> dx = map(in[0].value(), [](T x) { return T((x > T(0)) - (x < T(0))); });
        multiply_into(dx.data(), g.data(), dx.data(), dx.size());
        in[0].add_grad(std::move(dx));
      },
      a);
}

template <typename T>
Variable<T> pow(const Variable<T>& a, typename Variable<T>::value_type exponent) {
  return Variable<T>::from_op(
      map(a.value(), [exponent](T x) { return std::pow(x, exponent); }), "pow",
      [exponent](const Array<T>& g, const Array<T>&, std::vector<Variable<T>>& in) {
        // x^0 is constant: its gradient is 0 even at x = 0, where p * x^(p-1)
        // would be 0 * inf.
        if (exponent == T(0)) {
          in[0].grad_buffer();
          return;
        }
        Array<T> dx =
            map(in[0].value(), [exponent](T x) { return exponent * std::pow(x, exponent - T(1)); });
        multiply_into(dx.data(), g.data(), dx.data(), dx.size());
        in[0].add_grad(std::move(dx));
      },
      a);
}

template <typename T>
Variable<T> hard_sigmoid(const Variable<T>& a) {
  return Variable<T>::from_op(
      applied<T>(a.value(), hard_sigmoid_into), "hard_sigmoid",
      [](Array<T>& g, const Array<T>& y, std::vector<Variable<T>>& in) {
        in[0].add_grad(backward_applied<T>(g, y, hard_sigmoid_backward));
      },
      a);
}

template <typename T>
Variable<T> softsign(const Variable<T>& a) {
  return Variable<T>::from_op(
      applied<T>(a.value(), softsign_into), "softsign",
      [](Array<T>& g, const Array<T>& y, std::vector<Variable<T>>& in) {
        in[0].add_grad(backward_applied<T>(g, y, softsign_backward));
      },
      a);
}

template <typename T>
Variable<T> elu(const Variable<T>& a, typename Variable<T>::value_type alpha) {
  Array<T> out = Array<T>::from_shape(a.shape());
  elu_into(a.value().data(), out.data(), out.size(), alpha);
  if (alpha < 0) {
    // Below 0 the output alpha (e^x − 1) is then positive: the side of the
    // kink comes from the input, the slope alpha e^x = y + alpha below it.
    return Variable<T>::from_op(
        std::move(out), "elu",
        [alpha](Array<T>& g, const Array<T>& y, std::vector<Variable<T>>& in) {
          const T* x = in[0].value().data();
          for (std::size_t i = 0; i < g.size(); ++i) g.data()[i] *= x[i] > T(0) ? T(1) : y.data()[i] + alpha;
          in[0].add_grad(std::move(g));
        },
        a);
  }
  return Variable<T>::from_op(
      std::move(out), "elu",
      [alpha](Array<T>& g, const Array<T>& y, std::vector<Variable<T>>& in) {
        elu_backward(y.data(), g.data(), g.size(), alpha);
        in[0].add_grad(std::move(g));
      },
      a);
}

template <typename T>
Variable<T> selu(const Variable<T>& a) {
  return Variable<T>::from_op(
      applied<T>(a.value(), selu_into), "selu",
      [](Array<T>& g, const Array<T>& y, std::vector<Variable<T>>& in) {
        in[0].add_grad(backward_applied<T>(g, y, selu_backward));
      },
      a);
}

namespace {
// An elementwise op y = f(x) whose gradient is dL/dy · f'(x), f' read from
// the input.
template <typename T, typename F, typename Derivative>
Variable<T> elementwise(const Variable<T>& a, const char* op, F f, Derivative derivative) {
  return Variable<T>::from_op(
      map(a.value(), f), op,
      [derivative](Array<T>& g, const Array<T>&, std::vector<Variable<T>>& in) {
        const T* x = in[0].value().data();
        T* grad = g.data();
        for (std::size_t i = 0; i < g.size(); ++i) grad[i] *= derivative(x[i]);
        in[0].add_grad(std::move(g));
      },
      a);
}

// log(1 + e^x) without overflow: x + log(1 + e^-x) above 0.
template <typename T>
T log_one_plus_exp(T x) {
  return x > T(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}
}  // namespace

template <typename T>
Variable<T> softplus(const Variable<T>& a) {
  return elementwise(a, "softplus", [](T x) { return log_one_plus_exp(x); }, [](T x) { return stable_sigmoid(x); });
}

template <typename T>
Variable<T> relu6(const Variable<T>& a) {
  return elementwise(
      a, "relu6", [](T x) { return std::min(std::max(x, T(0)), T(6)); },
      [](T x) { return x > T(0) && x < T(6) ? T(1) : T(0); });
}

template <typename T>
Variable<T> leaky_relu(const Variable<T>& a, typename Variable<T>::value_type negative_slope) {
  return elementwise(
      a, "leaky_relu", [negative_slope](T x) { return x >= T(0) ? x : negative_slope * x; },
      [negative_slope](T x) { return x > T(0) ? T(1) : negative_slope; });
}

template <typename T>
Variable<T> silu(const Variable<T>& a) {
  return elementwise(
      a, "silu", [](T x) { return x * stable_sigmoid(x); },
      [](T x) {
        const T s = stable_sigmoid(x);
        return s * (T(1) + x * (T(1) - s));
      });
}

template <typename T>
Variable<T> gelu(const Variable<T>& a, bool approximate) {
  if (approximate) {
    const T c = std::sqrt(T(2) / std::acos(T(-1)));  // √(2/π)
    const T cubic = T(0.044715);
    return elementwise(
        a, "gelu", [c, cubic](T x) { return T(0.5) * x * (T(1) + std::tanh(c * (x + cubic * x * x * x))); },
        [c, cubic](T x) {
          const T t = std::tanh(c * (x + cubic * x * x * x));
          return T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * c * (T(1) + T(3) * cubic * x * x);
        });
  }
  // Φ(x) as erfc(−x/√2) / 2: 1 + erf(x/√2) cancels for x far below 0.
  const auto normal_cdf = [](T x) { return T(0.5) * std::erfc(-x / std::sqrt(T(2))); };
  const T density_scale = T(1) / std::sqrt(T(2) * std::acos(T(-1)));  // 1/√(2π)
  return elementwise(
      a, "gelu", [normal_cdf](T x) { return x * normal_cdf(x); },
      [normal_cdf, density_scale](T x) { return normal_cdf(x) + x * density_scale * std::exp(T(-0.5) * x * x); });
}

template <typename T>
Variable<T> mish(const Variable<T>& a) {
  return elementwise(
      a, "mish", [](T x) { return x * std::tanh(log_one_plus_exp(x)); },
      [](T x) {
        const T t = std::tanh(log_one_plus_exp(x));
        return t + x * (T(1) - t * t) * stable_sigmoid(x);
      });
}

template <typename T>
Variable<T> sum(const Variable<T>& a, std::ptrdiff_t axis, bool keepdims) {
  const std::size_t ax = normalize_axis(axis, a.shape(), "sum");
  const AxisSplit s = split_at(a.shape(), ax);
  Array<T> out(reduced_shape(a.shape(), ax, keepdims), T(0));
  const T* x = a.value().data();
  T* o = out.data();
  // k outside i keeps both reads and writes contiguous.
  for (std::size_t p = 0; p < s.outer; ++p)
    for (std::size_t k = 0; k < s.extent; ++k)
      add_into(o + p * s.inner, x + (p * s.extent + k) * s.inner, o + p * s.inner, s.inner);
  return Variable<T>::from_op(
      std::move(out), "sum_axis",
      [s](const Array<T>& g, const Array<T>&, std::vector<Variable<T>>& in) {
        // Every element of the input gets the gradient of its row's sum:
        // added in place, no broadcast temporary.
        T* dx = in[0].grad_buffer().data();
        const T* gd = g.data();
        for (std::size_t p = 0; p < s.outer; ++p) {
          for (std::size_t k = 0; k < s.extent; ++k) {
            T* row = dx + (p * s.extent + k) * s.inner;
            add_into(row, gd + p * s.inner, row, s.inner);
          }
        }
      },
      a);
}

template <typename T>
Variable<T> mean(const Variable<T>& a, std::ptrdiff_t axis, bool keepdims) {
  const std::size_t ax = normalize_axis(axis, a.shape(), "mean");
  check_axis_not_empty("mean", axis, ax, a.shape());
  return scale(sum(a, axis, keepdims), T(1) / static_cast<T>(a.shape()[ax]));
}

namespace {
// Whether x counts as its lane's maximum m: equal to it, or both NaN.
template <typename T>
bool is_lane_max(T x, T m) {
  return x == m || (std::isnan(x) && std::isnan(m));
}
}  // namespace

template <typename T>
Variable<T> max(const Variable<T>& a, std::ptrdiff_t axis, bool keepdims) {
  const std::size_t ax = normalize_axis(axis, a.shape(), "max");
  check_axis_not_empty("max", axis, ax, a.shape());
  const AxisSplit s = split_at(a.shape(), ax);
  Array<T> out = Array<T>::from_shape(reduced_shape(a.shape(), ax, keepdims));
  const T* x = a.value().data();
  T* o = out.data();
  for_each_lane(s, [&](std::size_t base) {
    T m = x[base];
    for (std::size_t k = 1; k < s.extent && !std::isnan(m); ++k) {
      const T v = x[base + k * s.inner];
      if (std::isnan(v) || v > m) m = v;
    }
    o[lane_output_index(s, base)] = m;
  });
  return Variable<T>::from_op(
      std::move(out), "max_axis",
      [s](const Array<T>& g, const Array<T>& y, std::vector<Variable<T>>& in) {
        const T* xv = in[0].value().data();
        T* dx = in[0].grad_buffer().data();
        for_each_lane(s, [&](std::size_t base) {
          const std::size_t out_index = lane_output_index(s, base);
          const T m = y.data()[out_index];
          std::size_t ties = 0;
          for (std::size_t k = 0; k < s.extent; ++k) ties += is_lane_max(xv[base + k * s.inner], m) ? 1 : 0;
          const T share = g.data()[out_index] / static_cast<T>(ties);
          for (std::size_t k = 0; k < s.extent; ++k)
            if (is_lane_max(xv[base + k * s.inner], m)) dx[base + k * s.inner] += share;
        });
      },
      a);
}

template <typename T>
Variable<T> concat(const std::vector<Variable<T>>& values, std::ptrdiff_t axis) {
  if (values.empty()) throw std::invalid_argument("concat: no values to concatenate");
  const Shape first = to_shape(values[0].shape());
  if (first.empty()) {
    throw std::invalid_argument("concat: value 0 has shape (); 0-D values cannot be concatenated");
  }
  const std::size_t ax = normalize_axis(axis, first, "concat");
  Shape out_shape = first;
  out_shape[ax] = 0;
  for (std::size_t v = 0; v < values.size(); ++v) {
    const auto& shape = values[v].shape();
    bool agree = shape.size() == first.size();
    for (std::size_t d = 0; agree && d < first.size(); ++d)
      agree = d == ax || shape[d] == first[d];
    if (!agree) {
      throw std::invalid_argument("concat: value 0 has shape " + shape_to_string(first) +
                                  " but value " + std::to_string(v) + " has shape " +
                                  shape_to_string(shape) + "; they must agree except on axis " +
                                  std::to_string(axis));
    }
    out_shape[ax] += shape[ax];
  }
  const AxisSplit out_split = split_at(out_shape, ax);
  Array<T> out = Array<T>::from_shape(out_shape);
  // Per outer index, each value contributes one contiguous run of
  // extent * inner elements, in order.
  std::vector<std::size_t> runs;
  for (const auto& v : values) runs.push_back(v.shape()[ax] * out_split.inner);
  const std::size_t out_run = out_split.extent * out_split.inner;
  for (std::size_t v = 0, offset = 0; v < values.size(); offset += runs[v], ++v)
    copy_rows(values[v].value().data(), runs[v], out.data() + offset, out_run, out_split.outer, runs[v]);
  return Variable<T>::from_op(
      std::move(out), values, "concat",
      [runs, out_split, out_run](const Array<T>& g, const Array<T>&,
                                 std::vector<Variable<T>>& in) {
        for (std::size_t v = 0, offset = 0; v < in.size(); offset += runs[v], ++v) {
          if (in[v].requires_grad())
            add_rows_into(g.data() + offset, out_run, in[v].grad_buffer().data(), runs[v], out_split.outer, runs[v]);
        }
      });
}

template <typename T>
Variable<T> slice(const Variable<T>& a, std::ptrdiff_t axis, std::size_t start, std::size_t stop,
                  std::size_t step) {
  const std::size_t ax = normalize_axis(axis, a.shape(), "slice");
  const std::size_t extent = a.shape()[ax];
  if (start > stop || stop > extent) {
    throw std::invalid_argument("slice: range [" + std::to_string(start) + ", " +
                                std::to_string(stop) + ") on axis " + std::to_string(axis) +
                                " is not within [0, " + std::to_string(extent) +
                                "] in order, for shape " + shape_to_string(a.shape()));
  }
  if (step == 0) throw std::invalid_argument("slice: step must be positive, got 0");
  const AxisSplit s = split_at(a.shape(), ax);
  Shape out_shape = to_shape(a.shape());
  if (step > 1) {
    // Every step-th row of the axis: one copy_rows per outer index, rows of
    // `inner` elements step · inner apart.
    const std::size_t count = (stop - start + step - 1) / step;
    out_shape[ax] = count;
    Array<T> out = Array<T>::from_shape(out_shape);
    const std::size_t in_outer = s.extent * s.inner, out_outer = count * s.inner;
    for (std::size_t p = 0; p < s.outer; ++p)
      copy_rows(a.value().data() + p * in_outer + start * s.inner, step * s.inner, out.data() + p * out_outer,
                s.inner, count, s.inner);
    return Variable<T>::from_op(
        std::move(out), "slice",
        [s, start, step, count, in_outer, out_outer](const Array<T>& g, const Array<T>&,
                                                      std::vector<Variable<T>>& in) {
          T* dx = in[0].grad_buffer().data();
          for (std::size_t p = 0; p < s.outer; ++p)
            add_rows_into(g.data() + p * out_outer, s.inner, dx + p * in_outer + start * s.inner, step * s.inner,
                          count, s.inner);
        },
        a);
  }
  out_shape[ax] = stop - start;
  Array<T> out = Array<T>::from_shape(out_shape);
  // Per outer index, the slice is one contiguous run of the input.
  const std::size_t run = (stop - start) * s.inner;
  const std::size_t in_run = s.extent * s.inner;
  const std::size_t skip = start * s.inner;
  copy_rows(a.value().data() + skip, in_run, out.data(), run, s.outer, run);
  return Variable<T>::from_op(
      std::move(out), "slice",
      [outer = s.outer, run, in_run, skip](const Array<T>& g, const Array<T>&,
                                           std::vector<Variable<T>>& in) {
        add_rows_into(g.data(), run, in[0].grad_buffer().data() + skip, in_run, outer, run);
      },
      a);
}

template <typename T>
Variable<T> softmax(const Variable<T>& a, std::ptrdiff_t axis) {
  const std::size_t ax = normalize_axis(axis, a.shape(), "softmax");
  const AxisSplit s = split_at(a.shape(), ax);
  Array<T> out = Array<T>::from_shape(a.shape());
  const T* x = a.value().data();
  T* y = out.data();
  for_each_lane(s, [&](std::size_t base) {
    const T max = lane_max(x, base, s);
    T total = 0;
    for (std::size_t k = 0; k < s.extent; ++k) {
      const T e = std::exp(x[base + k * s.inner] - max);  // <= 1: cannot overflow
      y[base + k * s.inner] = e;
      total += e;
    }
    for (std::size_t k = 0; k < s.extent; ++k) y[base + k * s.inner] /= total;
  });
  return Variable<T>::from_op(
      std::move(out), "softmax",
      [s](const Array<T>& g, const Array<T>& y, std::vector<Variable<T>>& in) {
        // dx = y * (g - sum(g * y)) along the axis.
        T* dx = in[0].grad_buffer().data();
        const T* gd = g.data();
        const T* yd = y.data();
        for_each_lane(s, [&](std::size_t base) {
          T dot = 0;
          for (std::size_t k = 0; k < s.extent; ++k)
            dot += gd[base + k * s.inner] * yd[base + k * s.inner];
          for (std::size_t k = 0; k < s.extent; ++k) {
            const std::size_t j = base + k * s.inner;
            dx[j] += yd[j] * (gd[j] - dot);
          }
        });
      },
      a);
}

template <typename T>
Variable<T> log_softmax(const Variable<T>& a, std::ptrdiff_t axis) {
  const std::size_t ax = normalize_axis(axis, a.shape(), "log_softmax");
  const AxisSplit s = split_at(a.shape(), ax);
  Array<T> out = Array<T>::from_shape(a.shape());
  const T* x = a.value().data();
  T* y = out.data();
  for_each_lane(s, [&](std::size_t base) {
    const T max = lane_max(x, base, s);
    T total = 0;
    for (std::size_t k = 0; k < s.extent; ++k) total += std::exp(x[base + k * s.inner] - max);
    // total >= 1 (the max's own term), so the log is finite. (x - max) is
    // taken first: adding log(total) to a max of 1e4 would lose its digits.
    const T log_total = std::log(total);
    for (std::size_t k = 0; k < s.extent; ++k)
      y[base + k * s.inner] = (x[base + k * s.inner] - max) - log_total;
  });
  return Variable<T>::from_op(
      std::move(out), "log_softmax",
      [s](const Array<T>& g, const Array<T>& y, std::vector<Variable<T>>& in) {
        // dx = g - softmax * sum(g) along the axis, with softmax = exp(y).
        T* dx = in[0].grad_buffer().data();
        const T* gd = g.data();
        const T* yd = y.data();
        for_each_lane(s, [&](std::size_t base) {
          T total = 0;
          for (std::size_t k = 0; k < s.extent; ++k) total += gd[base + k * s.inner];
          for (std::size_t k = 0; k < s.extent; ++k) {
            const std::size_t j = base + k * s.inner;
            dx[j] += gd[j] - std::exp(yd[j]) * total;
          }
        });
      },
      a);
}

#define XGRAD_INSTANTIATE_MATH_OPS(T)                                                          \
  template Variable<T> div(const Variable<T>&, const Variable<T>&);                           \
  template Variable<T> exp(const Variable<T>&);                                               \
  template Variable<T> log(const Variable<T>&);                                               \
  template Variable<T> square(const Variable<T>&);                                            \
  template Variable<T> abs(const Variable<T>&);                                               \
  template Variable<T> pow(const Variable<T>&, T);                                            \
  template Variable<T> hard_sigmoid(const Variable<T>&);                                      \
  template Variable<T> softsign(const Variable<T>&);                                          \
  template Variable<T> elu(const Variable<T>&, T);                                            \
  template Variable<T> selu(const Variable<T>&);                                              \
  template Variable<T> softplus(const Variable<T>&);                                          \
  template Variable<T> relu6(const Variable<T>&);                                             \
  template Variable<T> leaky_relu(const Variable<T>&, T);                                     \
  template Variable<T> silu(const Variable<T>&);                                              \
  template Variable<T> gelu(const Variable<T>&, bool);                                        \
  template Variable<T> mish(const Variable<T>&);                                              \
  template Variable<T> sum(const Variable<T>&, std::ptrdiff_t, bool);                         \
  template Variable<T> mean(const Variable<T>&, std::ptrdiff_t, bool);                        \
  template Variable<T> max(const Variable<T>&, std::ptrdiff_t, bool);                         \
  template Variable<T> concat(const std::vector<Variable<T>>&, std::ptrdiff_t);               \
  template Variable<T> slice(const Variable<T>&, std::ptrdiff_t, std::size_t, std::size_t,    \
                             std::size_t);                                                    \
  template Variable<T> softmax(const Variable<T>&, std::ptrdiff_t);                           \
  template Variable<T> log_softmax(const Variable<T>&, std::ptrdiff_t);
XGRAD_INSTANTIATE_MATH_OPS(float)
XGRAD_INSTANTIATE_MATH_OPS(double)
#undef XGRAD_INSTANTIATE_MATH_OPS

}  // namespace xgrad
