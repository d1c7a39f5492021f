#pragma once
// Keras' squeeze_or_expand_to_same_rank, which its losses and metrics apply
// before comparing y_true and y_pred: the two fit when their shapes are
// equal or one has an extra trailing axis of 1 (targets [N] against a
// Dense(1) output [N, 1]). Shared by losses.cpp and metrics.cpp.

#include <algorithm>
#include <optional>

#include "xgrad/tensor/shape.hpp"

namespace xgrad::nn::detail {

// The shape two such arrays are compared in (the shorter), or nullopt when
// they do not fit.
inline std::optional<Shape> same_rank_shape(const Shape& a, const Shape& b) {
  if (a == b) return a;
  const Shape& longer = a.size() > b.size() ? a : b;
  const Shape& shorter = a.size() > b.size() ? b : a;
  if (longer.size() == shorter.size() + 1 && longer.back() == 1 &&
      std::equal(shorter.begin(), shorter.end(), longer.begin())) {
    return shorter;
  }
  return std::nullopt;
}

}  // namespace xgrad::nn::detail
