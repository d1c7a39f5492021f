#pragma once
// Arrays: xgrad's values are xtensor arrays, float32 by default as in Keras and
// float64 where precision matters (gradient checks). This header gathers
// creation, shape changes and the seeded random generator.

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <xtensor/xarray.hpp>

#include "xgrad/tensor/allocator.hpp"
#include "xgrad/tensor/shape.hpp"

namespace xgrad {

// Row-major, with the caching allocator (allocator.hpp) for its elements.
template <typename T = float>
using Array = xt::xarray<T, xt::layout_type::row_major, memory::CachingAllocator<T>>;

template <typename T = float>
Array<T> zeros(const Shape& shape) {
  return Array<T>(shape, T(0));
}

template <typename T = float>
Array<T> ones(const Shape& shape) {
  return Array<T>(shape, T(1));
}

template <typename T = float>
Array<T> full(const Shape& shape, T value) {
  return Array<T>(shape, value);
}

// A copy of `a` with a new shape of the same element count; throws
// std::invalid_argument naming both shapes otherwise.
template <typename T>
Array<T> reshaped(const Array<T>& a, const Shape& shape);

// The transpose of a 2-D array, evaluated; throws for other ranks.
template <typename T>
Array<T> transposed(const Array<T>& a);

// The slice at `index` along `axis` (that axis removed), as a copy; and the
// two ways back: slice_into writes `slice` there, slice_add_into adds it.
// Row-major block copies, for select, stack and their gradients. The caller
// checks the shapes.
template <typename T>
Array<T> slice_of(const Array<T>& a, std::size_t axis, std::size_t index);
// slice_of's shape, and slice_of written into `out`, an array of that shape.
template <typename T>
typename Array<T>::shape_type slice_shape(const Array<T>& a, std::size_t axis);
template <typename T>
void slice_of_into(const Array<T>& a, std::size_t axis, std::size_t index, Array<T>& out);
template <typename T>
void slice_into(Array<T>& target, std::size_t axis, std::size_t index, const Array<T>& slice);
template <typename T>
void slice_add_into(Array<T>& target, std::size_t axis, std::size_t index, const Array<T>& slice);

// NumPy's broadcast of two shapes; throws std::invalid_argument naming `op`
// and both shapes when they do not broadcast.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

// Sums `a` down to `shape`, undoing a broadcast from `shape` to a.shape():
// the gradient of a broadcast input.
template <typename T>
Array<T> sum_to(const Array<T>& a, const Shape& shape);

// The generator every unseeded random draw uses (initializers, dropout
// masks, data shuffling), so that manual_seed(n) makes them reproducible.
// Each thread has its own, seeded with 0 when the thread first draws (as the
// main thread's is at start-up): threads never race on it, and a thread that
// seeds and trains its own model draws exactly what it would draw alone.
// manual_seed(n) seeds the calling thread's. Within a GeneratorGuard,
// generator() is the guard's generator instead.
using Generator = std::mt19937_64;
Generator& generator();
void manual_seed(std::uint64_t seed);

// Makes generator() return `generator` on this thread until the guard ends
// (guards nest; the previous one returns), so that every draw in between
// (a model's initializers, a fit's shuffles and dropout masks) comes from a
// generator of the caller's own: `xgrad::GeneratorGuard use(model_generator);`.
// `generator` must outlive the guard; the guard must end on the thread that
// made it.
class GeneratorGuard {
 public:
  explicit GeneratorGuard(Generator& generator);
  ~GeneratorGuard();
  GeneratorGuard(const GeneratorGuard&) = delete;
  GeneratorGuard& operator=(const GeneratorGuard&) = delete;

 private:
  Generator* previous_;
};

// A generator's whole state as numbers (the words of its standard textual
// form: for mt19937_64 the 312 state words and the position), to save a run
// and continue it later with exactly the same draws; and back. The setter
// throws std::invalid_argument naming `where` when `state` does not have
// the length generator_state gives or is not a state of this generator.
std::vector<std::uint64_t> generator_state(const Generator& generator);
void set_generator_state(Generator& generator, const std::vector<std::uint64_t>& state,
                         const std::string& where);

// Uniform in [low, high), and normal with the given mean and standard
// deviation. Both are computed from the generator's raw bits, so the numbers
// do not depend on the standard library's distribution implementations.
template <typename T = float>
Array<T> uniform(const Shape& shape, T low, T high);
template <typename T = float>
Array<T> normal(const Shape& shape, T mean = T(0), T stddev = T(1));

extern template Array<float> reshaped(const Array<float>&, const Shape&);
extern template Array<double> reshaped(const Array<double>&, const Shape&);
extern template Array<float> transposed(const Array<float>&);
extern template Array<double> transposed(const Array<double>&);
#define XGRAD_EXTERN_SLICES(T)                                                       \
  extern template Array<T> slice_of(const Array<T>&, std::size_t, std::size_t);      \
  extern template typename Array<T>::shape_type slice_shape(const Array<T>&, std::size_t); \
  extern template void slice_of_into(const Array<T>&, std::size_t, std::size_t, Array<T>&); \
  extern template void slice_into(Array<T>&, std::size_t, std::size_t, const Array<T>&); \
  extern template void slice_add_into(Array<T>&, std::size_t, std::size_t, const Array<T>&);
XGRAD_EXTERN_SLICES(float)
XGRAD_EXTERN_SLICES(double)
#undef XGRAD_EXTERN_SLICES
extern template Array<float> sum_to(const Array<float>&, const Shape&);
extern template Array<double> sum_to(const Array<double>&, const Shape&);
extern template Array<float> uniform(const Shape&, float, float);
extern template Array<double> uniform(const Shape&, double, double);
extern template Array<float> normal(const Shape&, float, float);
extern template Array<double> normal(const Shape&, double, double);

}  // namespace xgrad
