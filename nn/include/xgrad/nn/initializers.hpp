#pragma once
// Weight initializers with Keras' formulas, drawing from xgrad's seeded
// generator (xgrad::manual_seed). For a 2-D shape [fan_in, fan_out].

#include "xgrad/tensor/tensor.hpp"

namespace xgrad::nn::init {

// Uniform in [-limit, limit], limit = sqrt(6 / (fan_in + fan_out)).
template <typename T>
Array<T> glorot_uniform(const Shape& shape);

// Keras' Orthogonal: QR of a standard normal matrix, columns signed by
// diag(R) so the result is uniformly distributed, transposed when the shape
// is wide; `gain` scales it.
template <typename T>
Array<T> orthogonal(const Shape& shape, double gain = 1.0);

extern template Array<float> glorot_uniform(const Shape&);
extern template Array<double> glorot_uniform(const Shape&);
extern template Array<float> orthogonal(const Shape&, double);
extern template Array<double> orthogonal(const Shape&, double);

}  // namespace xgrad::nn::init
