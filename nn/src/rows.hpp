#pragma once
// Rows of an array along axis 0, copied: a block of them (the trainer's
// batches for evaluation, its validation split) or chosen ones (a shuffled
// batch). Shared by data.cpp and trainer.cpp.

#include <algorithm>
#include <cstddef>
#include <vector>

#include "xgrad/tensor/tensor.hpp"

namespace xgrad::nn::detail {

// Rows [first, last) of `data`.
template <typename V>
Array<V> rows(const Array<V>& data, std::size_t first, std::size_t last) {
  Shape shape = to_shape(data.shape());
  const std::size_t row = shape[0] == 0 ? 0 : data.size() / shape[0];
  shape[0] = last - first;
  Array<V> out = Array<V>::from_shape(shape);
  std::copy_n(data.data() + first * row, (last - first) * row, out.data());
  return out;
}

// Rows `indices` of `data`, stacked in that order.
template <typename V>
Array<V> gather_rows(const Array<V>& data, const std::vector<std::size_t>& indices) {
  Shape shape = to_shape(data.shape());
  const std::size_t row = shape[0] == 0 ? 0 : data.size() / shape[0];
  shape[0] = indices.size();
  Array<V> out = Array<V>::from_shape(shape);
  for (std::size_t k = 0; k < indices.size(); ++k)
    std::copy_n(data.data() + indices[k] * row, row, out.data() + k * row);
  return out;
}

}  // namespace xgrad::nn::detail
