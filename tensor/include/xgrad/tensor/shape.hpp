#pragma once
// Shape helpers shared by every layer: Python-style shape text for messages
// and printing, and element counts.

#include <algorithm>
#include <cstddef>
#include <sstream>
#include <string>
#include <vector>

namespace xgrad {

using Shape = std::vector<std::size_t>;

// "(5, 2)", "(2,)", "()": the way NumPy and Keras print shapes.
template <typename ShapeLike>
std::string shape_to_string(const ShapeLike& shape) {
  std::ostringstream out;
  out << '(';
  std::size_t i = 0;
  for (auto extent : shape) {
    if (i++ > 0) out << ", ";
    out << extent;
  }
  if (i == 1) out << ',';
  out << ')';
  return out.str();
}

template <typename ShapeLike>
Shape to_shape(const ShapeLike& shape) {
  return Shape(shape.begin(), shape.end());
}

// Equal extents in equal number, whatever containers hold them (Shape,
// xtensor's shape type). A loop, not std::equal: that calls memcmp, whose
// call cost more than comparing the two or three extents of a shape (an
// op-by-op model compares shapes in every op's backward).
template <typename ShapeA, typename ShapeB>
bool shapes_equal(const ShapeA& a, const ShapeB& b) {
  if (a.size() != b.size()) return false;
  auto extent_of_b = b.begin();
  for (const auto extent : a)
    if (static_cast<std::size_t>(extent) != static_cast<std::size_t>(*extent_of_b++)) return false;
  return true;
}

template <typename ShapeLike>
std::size_t element_count(const ShapeLike& shape) {
  std::size_t n = 1;
  for (auto extent : shape) n *= static_cast<std::size_t>(extent);
  return n;
}

// A row-major array seen as [outer, extent, inner] around one axis: element
// (o, k, i) sits at (o * extent + k) * inner + i. The axis ops and the
// timestep slices walk the raw data this way instead of building strided
// views.
struct AxisSplit {
  std::size_t outer = 1, extent = 0, inner = 1;
};

template <typename ShapeLike>
AxisSplit split_at(const ShapeLike& shape, std::size_t axis) {
  AxisSplit s;
  for (std::size_t d = 0; d < axis; ++d) s.outer *= shape[d];
  s.extent = shape[axis];
  for (std::size_t d = axis + 1; d < shape.size(); ++d) s.inner *= shape[d];
  return s;
}

}  // namespace xgrad
