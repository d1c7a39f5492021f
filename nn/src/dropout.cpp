#include "xgrad/nn/dropout.hpp"

#include <sstream>
#include <stdexcept>
#include <utility>

#include "xgrad/autograd/ops.hpp"

namespace xgrad::nn {

namespace {
bool valid_rate(double rate) { return rate >= 0.0 && rate < 1.0; }  // false for NaN too

std::string rate_to_string(double rate) {
  std::ostringstream text;
  text << rate;
  return text.str();
}

// "(None, 1, None)" for {-1, 1, -1}, as Keras prints a noise_shape.
std::string noise_shape_to_string(const std::vector<std::ptrdiff_t>& shape) {
  std::string out = "(";
  for (std::size_t i = 0; i < shape.size(); ++i)
    out += (i ? ", " : "") + (shape[i] == -1 ? std::string("None") : std::to_string(shape[i]));
  return out + (shape.size() == 1 ? ",)" : ")");
}
}  // namespace

template <typename T>
Array<T> dropout_mask(const Shape& shape, double rate, Generator& generator) {
  if (!valid_rate(rate)) {
    throw std::invalid_argument("dropout_mask: rate must be in [0, 1), got " +
                                rate_to_string(rate));
  }
  const T kept = static_cast<T>(1.0 / (1.0 - rate));
  Array<T> mask = Array<T>::from_shape(shape);
  for (auto& m : mask) {
    // 53 random bits scaled to [0, 1), as xgrad::uniform does, but from the
    // caller's generator; u >= rate keeps with probability exactly 1 - rate.
    const double u = static_cast<double>(generator() >> 11) * 0x1.0p-53;
    m = u >= rate ? kept : T(0);
  }
  return mask;
}

template <typename T>
Dropout<T>::Dropout(DropoutOptions options)
    : Module<T>(options.name()),
      options_(std::move(options)),
      own_generator_(options_.seed().value_or(0)) {
  if (options_.seed()) this->register_generator("seed_generator", own_generator_);
  // Keras accepts rate == 1 (everything dropped); 1 / (1 - rate) is then
  // infinite, so xgrad asks for rate < 1 instead.
  if (!valid_rate(options_.rate())) {
    throw std::invalid_argument(describe() + ": rate must be in [0, 1), got " +
                                rate_to_string(options_.rate()));
  }
  if (options_.noise_shape()) {
    for (const std::ptrdiff_t extent : *options_.noise_shape()) {
      if (extent != -1 && extent <= 0) {
        throw std::invalid_argument(describe() +
                                    ": noise_shape entries must be positive or -1 (None), got " +
                                    noise_shape_to_string(*options_.noise_shape()));
      }
    }
  }
}

template <typename T>
std::string Dropout<T>::describe() const {
  return "Dropout '" + options_.name() + "'";
}

template <typename T>
Shape Dropout<T>::noise_shape_for(const Shape& input_shape) const {
  if (!options_.noise_shape()) return input_shape;
  const auto& noise = *options_.noise_shape();
  auto fail = [&](const std::string& why) {
    throw std::invalid_argument(describe() + ": noise_shape " + noise_shape_to_string(noise) +
                                " " + why + " for input shape " + shape_to_string(input_shape));
  };
  if (noise.size() != input_shape.size()) fail("has the wrong rank");
  Shape out(noise.size());
  for (std::size_t i = 0; i < noise.size(); ++i) {
    // A size-1 axis broadcasts (its draw is shared); any other size must
    // match the input's, or the mask would not cover it.
    if (noise[i] == -1 || static_cast<std::size_t>(noise[i]) == input_shape[i]) {
      out[i] = input_shape[i];
    } else if (noise[i] == 1) {
      out[i] = 1;
    } else {
      fail("does not broadcast (axis " + std::to_string(i) + " must be -1, 1 or " +
           std::to_string(input_shape[i]) + ")");
    }
  }
  return out;
}

template <typename T>
Generator& Dropout<T>::generator_for_draw() {
  return options_.seed() ? own_generator_ : generator();
}

template <typename T>
Variable<T> Dropout<T>::forward(const Variable<T>& x) {
  const auto scope = this->layer_scope();
  const Shape noise_shape = noise_shape_for(to_shape(x.shape()));  // checked in eval mode too
  if (!this->is_training() || options_.rate() == 0.0) return x;
  // A constant (no gradient) mask: mul's backward then sends g * mask to x,
  // and undoes nothing on x's side since x has the full shape.
  Variable<T> mask(dropout_mask<T>(noise_shape, options_.rate(), generator_for_draw()));
  return mul(x, mask);
}

template Array<float> dropout_mask(const Shape&, double, Generator&);
template Array<double> dropout_mask(const Shape&, double, Generator&);
template <typename T>
DropoutOptions SpatialDropout1D<T>::dropout_options(const SpatialDropout1DOptions& options) {
  DropoutOptions dropout(options.rate());
  dropout.noise_shape({-1, 1, -1}).name(options.name());
  if (options.seed()) dropout.seed(*options.seed());
  return dropout;
}

template <typename T>
SpatialDropout1D<T>::SpatialDropout1D(SpatialDropout1DOptions options) : Dropout<T>(dropout_options(options)) {}

template <typename T>
Variable<T> SpatialDropout1D<T>::forward(const Variable<T>& x) {
  if (x.dimension() != 3) {
    throw std::invalid_argument("SpatialDropout1D '" + this->options().name() +
                                "': expected input of rank 3 [batch, timesteps, features], got shape " +
                                shape_to_string(x.shape()));
  }
  return Dropout<T>::forward(x);
}

template class Dropout<float>;
template class Dropout<double>;
template class SpatialDropout1D<float>;
template class SpatialDropout1D<double>;

}  // namespace xgrad::nn
