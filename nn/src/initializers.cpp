#include "xgrad/nn/initializers.hpp"

#include <cmath>
#include <stdexcept>
#include <tuple>

#include <xtensor-blas/xlinalg.hpp>

namespace xgrad::nn::init {

namespace {
// Keras' fan computation: the last axis is fan_out, the product of the
// others fan_in (receptive fields fold into it).
std::pair<double, double> fans(const Shape& shape, const char* initializer) {
  if (shape.size() < 2) {
    throw std::invalid_argument(std::string(initializer) + ": needs a shape of rank 2 or more, got " +
                                shape_to_string(shape));
  }
  const double fan_out = static_cast<double>(shape.back());
  const double fan_in = static_cast<double>(element_count(shape)) / (fan_out == 0 ? 1 : fan_out);
  return {fan_in, fan_out};
}
}  // namespace

template <typename T>
Array<T> glorot_uniform(const Shape& shape) {
  const auto [fan_in, fan_out] = fans(shape, "glorot_uniform");
  const T limit = static_cast<T>(std::sqrt(6.0 / std::max(1.0, fan_in + fan_out)));
  return uniform<T>(shape, -limit, limit);
}

template <typename T>
Array<T> orthogonal(const Shape& shape, double gain) {
  const auto [rows_d, cols_d] = fans(shape, "orthogonal");
  const auto rows = static_cast<std::size_t>(rows_d), cols = static_cast<std::size_t>(cols_d);
  const std::size_t tall = std::max(rows, cols), narrow = std::min(rows, cols);
  Array<double> a = normal<double>({tall, narrow});
  auto [q, r] = xt::linalg::qr(a, xt::linalg::qrmode::reduced);
  Array<double> q_signed = q;
  for (std::size_t j = 0; j < narrow; ++j) {
    const double sign = r(j, j) < 0 ? -1.0 : 1.0;
    for (std::size_t i = 0; i < tall; ++i) q_signed(i, j) *= sign;
  }
  if (rows < cols) q_signed = transposed(q_signed);
  Array<T> out = xt::cast<T>(q_signed * gain);
  out.reshape(shape);
  return out;
}

template Array<float> glorot_uniform(const Shape&);
template Array<double> glorot_uniform(const Shape&);
template Array<float> orthogonal(const Shape&, double);
template Array<double> orthogonal(const Shape&, double);

}  // namespace xgrad::nn::init
