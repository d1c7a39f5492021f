#pragma once
// The windows over a sequence's steps that Conv1D and the 1-D pooling
// layers share: how many a layout makes, the steps Keras pads around the
// input, and the steps one window position reads.

#include <cstddef>
#include <vector>

#include "xgrad/autograd/math_ops.hpp"
#include "xgrad/autograd/variable.hpp"
#include "xgrad/tensor/tensor.hpp"

namespace xgrad::nn::detail {

// Steps of padding before and after the input.
struct StepPadding {
  std::size_t before = 0, after = 0;
};

// The windows of `span` steps, `stride` apart, over `steps` steps: without
// padding ("valid") ⌊(steps − span) / stride⌋ + 1, 0 when steps < span;
// padded ("same", "causal") ⌈steps / stride⌉.
inline std::size_t window_count(std::size_t steps, std::size_t span, std::size_t stride, bool padded) {
  if (padded) return (steps + stride - 1) / stride;
  return steps < span ? 0 : (steps - span) / stride + 1;
}

// TensorFlow's "same": the steps `count` windows run past the input, split
// with the extra one after.
inline StepPadding same_padding(std::size_t steps, std::size_t count, std::size_t span, std::size_t stride) {
  const std::size_t needed = (count - 1) * stride + span;
  const std::size_t total = needed > steps ? needed - steps : 0;
  return {total / 2, total - total / 2};
}

// x [B, T, C] with pad.before and pad.after steps of `fill` around it (x
// itself without padding).
template <typename T>
Variable<T> pad_steps(const Variable<T>& x, StepPadding pad, T fill) {
  if (!pad.before && !pad.after) return x;
  const std::size_t batch = x.shape()[0], channels = x.shape()[2];
  std::vector<Variable<T>> parts;
  if (pad.before) parts.emplace_back(full<T>({batch, pad.before, channels}, fill));
  parts.push_back(x);
  if (pad.after) parts.emplace_back(full<T>({batch, pad.after, channels}, fill));
  return concat(parts, 1);
}

// The steps offset + i · stride of `padded`, i < count: what one window
// position (a kernel tap, a pooling slot) reads, [B, count, C].
template <typename T>
Variable<T> window_steps(const Variable<T>& padded, std::size_t offset, std::size_t count, std::size_t stride) {
  return slice(padded, 1, offset, offset + (count - 1) * stride + 1, stride);
}

}  // namespace xgrad::nn::detail
