#include "xgrad/tensor/tensor.hpp"

#include <cmath>
#include <sstream>
#include <stdexcept>

#include <algorithm>

#include <xtensor/xreducer.hpp>

#include "xgrad/tensor/activations.hpp"
#include "xgrad/tensor/blas.hpp"

namespace xgrad {

template <typename T>
Array<T> reshaped(const Array<T>& a, const Shape& shape) {
  if (element_count(shape) != a.size()) {
    throw std::invalid_argument("reshape: cannot reshape " + shape_to_string(a.shape()) +
                                " (" + std::to_string(a.size()) + " elements) to " +
                                shape_to_string(shape));
  }
  Array<T> out = a;
  out.reshape(shape);
  return out;
}

template <typename T>
Array<T> transposed(const Array<T>& a) {
  if (a.dimension() != 2) {
    throw std::invalid_argument("transpose: expected a 2-D array, got shape " +
                                shape_to_string(a.shape()));
  }
  const std::size_t rows = a.shape()[0], cols = a.shape()[1];
  Array<T> out = Array<T>::from_shape({cols, rows});
  transpose_matrix(a.data(), rows, cols, cols, out.data(), rows);
  return out;
}

// The runs are copied in one call of the vector kernels (copy_rows): a copy
// at a narrower width than the next op's loads of it stalls those loads,
// and memmove's per-call cost dominated the 32- to 128-byte runs of an RNN
// timestep's slice.
template <typename T>
typename Array<T>::shape_type slice_shape(const Array<T>& a, std::size_t axis) {
  // In xtensor's own shape type, which holds a few extents without a heap
  // allocation: a loop selects a timestep at every step.
  typename Array<T>::shape_type shape(a.shape().begin(), a.shape().end());
  shape.erase(shape.begin() + static_cast<std::ptrdiff_t>(axis));
  return shape;
}

template <typename T>
void slice_of_into(const Array<T>& a, std::size_t axis, std::size_t index, Array<T>& out) {
  const AxisSplit s = split_at(a.shape(), axis);
  copy_rows(a.data() + index * s.inner, s.extent * s.inner, out.data(), s.inner, s.outer, s.inner);
}

template <typename T>
Array<T> slice_of(const Array<T>& a, std::size_t axis, std::size_t index) {
  Array<T> out = Array<T>::from_shape(slice_shape(a, axis));
  slice_of_into(a, axis, index, out);
  return out;
}

template <typename T>
void slice_into(Array<T>& target, std::size_t axis, std::size_t index, const Array<T>& slice) {
  const AxisSplit s = split_at(target.shape(), axis);
  copy_rows(slice.data(), s.inner, target.data() + index * s.inner, s.extent * s.inner, s.outer, s.inner);
}

template <typename T>
void slice_add_into(Array<T>& target, std::size_t axis, std::size_t index, const Array<T>& slice) {
  const AxisSplit s = split_at(target.shape(), axis);
  add_rows_into(slice.data(), s.inner, target.data() + index * s.inner, s.extent * s.inner, s.outer, s.inner);
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  Shape out(std::max(a.size(), b.size()), 1);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const std::size_t ea = i < a.size() ? a[a.size() - 1 - i] : 1;
    const std::size_t eb = i < b.size() ? b[b.size() - 1 - i] : 1;
    if (ea != eb && ea != 1 && eb != 1) {
      throw std::invalid_argument(std::string(op) + ": shapes " + shape_to_string(a) + " and " +
                                  shape_to_string(b) + " do not broadcast");
    }
    out[out.size() - 1 - i] = ea == 1 ? eb : ea;
  }
  return out;
}

template <typename T>
Array<T> sum_to(const Array<T>& a, const Shape& shape) {
  if (shapes_equal(a.shape(), shape)) return a;
  if (shape.size() > a.dimension()) {
    throw std::invalid_argument("sum_to: cannot reduce " + shape_to_string(a.shape()) + " to " +
                                shape_to_string(shape));
  }
  const std::size_t lead = a.dimension() - shape.size();
  std::vector<std::size_t> axes;
  for (std::size_t i = 0; i < lead; ++i) axes.push_back(i);
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == a.shape()[lead + i]) continue;
    if (shape[i] != 1) {
      throw std::invalid_argument("sum_to: cannot reduce " + shape_to_string(a.shape()) +
                                  " to " + shape_to_string(shape));
    }
    axes.push_back(lead + i);
  }
  // xtensor 0.24's immediate sum dereferences a null pointer on an empty
  // array; a sum over no elements is zero.
  if (a.size() == 0) return Array<T>(shape, T(0));
  if (axes.size() == lead) {
    // Only leading axes go (a bias's gradient): add up the rows of `shape`'s
    // size, without xtensor's general reducer.
    Array<T> out = Array<T>::from_shape(shape);
    sum_rows_into(a.data(), a.size() / out.size(), out.size(), out.data());
    return out;
  }
  Array<T> out = xt::sum(a, axes, xt::evaluation_strategy::immediate);
  out.reshape(shape);
  return out;
}

namespace {
// The calling thread's guard's generator; null outside any guard.
thread_local Generator* guarded_generator = nullptr;
}  // namespace

Generator& generator() {
  if (guarded_generator) return *guarded_generator;
  thread_local Generator per_thread(0);
  return per_thread;
}

GeneratorGuard::GeneratorGuard(Generator& generator) : previous_(guarded_generator) {
  guarded_generator = &generator;
}

GeneratorGuard::~GeneratorGuard() { guarded_generator = previous_; }

std::vector<std::uint64_t> generator_state(const Generator& generator) {
  // The standard's textual form round-trips exactly (operator<< / >>).
  std::ostringstream text;
  text << generator;
  std::istringstream words(text.str());
  std::vector<std::uint64_t> state;
  for (std::uint64_t word; words >> word;) state.push_back(word);
  return state;
}

void set_generator_state(Generator& generator, const std::vector<std::uint64_t>& state,
                         const std::string& where) {
  const std::size_t expected = generator_state(generator).size();
  if (state.size() != expected) {
    throw std::invalid_argument(where + ": a generator state has " + std::to_string(expected) +
                                " words, got " + std::to_string(state.size()));
  }
  std::ostringstream text;
  for (std::size_t i = 0; i < state.size(); ++i) text << (i ? " " : "") << state[i];
  std::istringstream words(text.str());
  Generator restored;
  words >> restored;
  if (words.fail() || generator_state(restored) != state) {
    throw std::invalid_argument(where + ": the numbers are not a state of the generator");
  }
  generator = restored;
}

void manual_seed(std::uint64_t seed) { generator().seed(seed); }

namespace {
constexpr double pi = 3.14159265358979323846;

// 53 random bits scaled to [0, 1).
double next_unit() { return static_cast<double>(generator()() >> 11) * 0x1.0p-53; }
}  // namespace

template <typename T>
Array<T> uniform(const Shape& shape, T low, T high) {
  if (!(low <= high)) {
    throw std::invalid_argument("uniform: low must not exceed high");
  }
  Array<T> out = Array<T>::from_shape(shape);
  const double span = static_cast<double>(high) - static_cast<double>(low);
  for (auto& v : out) {
    v = static_cast<T>(static_cast<double>(low) + span * next_unit());
    // Rounding (of low + span * u, or to float) can reach `high`: keep [low, high).
    if (v >= high && low < high) v = std::nextafter(high, low);
  }
  return out;
}

template <typename T>
Array<T> normal(const Shape& shape, T mean, T stddev) {
  if (!(stddev >= T(0))) {
    throw std::invalid_argument("normal: stddev must be non-negative");
  }
  Array<T> out = Array<T>::from_shape(shape);
  // Box-Muller, one value per pair of uniforms: simple and reproducible.
  for (auto& v : out) {
    const double u1 = 1.0 - next_unit();  // in (0, 1], so log is finite
    const double u2 = next_unit();
    const double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * pi * u2);
    v = static_cast<T>(static_cast<double>(mean) + static_cast<double>(stddev) * z);
  }
  return out;
}

template Array<float> reshaped(const Array<float>&, const Shape&);
template Array<double> reshaped(const Array<double>&, const Shape&);
template Array<float> transposed(const Array<float>&);
template Array<double> transposed(const Array<double>&);
#define XGRAD_INSTANTIATE_SLICES(T)                                              \
  template Array<T> slice_of(const Array<T>&, std::size_t, std::size_t);         \
  template typename Array<T>::shape_type slice_shape(const Array<T>&, std::size_t); \
  template void slice_of_into(const Array<T>&, std::size_t, std::size_t, Array<T>&); \
  template void slice_into(Array<T>&, std::size_t, std::size_t, const Array<T>&); \
  template void slice_add_into(Array<T>&, std::size_t, std::size_t, const Array<T>&);
XGRAD_INSTANTIATE_SLICES(float)
XGRAD_INSTANTIATE_SLICES(double)
#undef XGRAD_INSTANTIATE_SLICES
template Array<float> sum_to(const Array<float>&, const Shape&);
template Array<double> sum_to(const Array<double>&, const Shape&);
template Array<float> uniform(const Shape&, float, float);
template Array<double> uniform(const Shape&, double, double);
template Array<float> normal(const Shape&, float, float);
template Array<double> normal(const Shape&, double, double);

}  // namespace xgrad
