#pragma once
// Dropout: Keras' keras.layers.Dropout (inverted dropout).
//
// Dimension letters: B batch, T timesteps, F features.
//
//   input   x      any shape, e.g. [B, T, F]
//   mask    m      of the noise shape (x's shape by default): each entry
//                  1 / (1 - rate) with probability 1 - rate, else 0
//
//   training:  y = x * m   (m broadcast over its size-1 axes)
//   inference: y = x       (also for rate 0), the same Variable
//
//   output  x's shape. The gradient is the same m: dL/dx = dL/dy * m.
//
// Keeping the expected value unchanged (the 1 / (1 - rate) scale) is what
// lets inference skip the layer. noise_shape chooses which entries share a
// draw: with x [B, T, F] and noise_shape {-1, 1, -1} there is one mask [B, 1, F]
// per sequence, reused at every timestep (-1 stands for "the input's size",
// Keras' None).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "xgrad/nn/module.hpp"
#include "xgrad/nn/options.hpp"

namespace xgrad::nn {

// A dropout mask of `shape`: each entry independently 1 / (1 - rate) with
// probability 1 - rate and 0 otherwise (so x * mask is inverted dropout).
// Draws one 53-bit uniform per entry from `generator`, in row-major order.
// Recurrent layers draw one per sequence and multiply it in at every step.
// Throws std::invalid_argument unless 0 <= rate < 1.
template <typename T>
Array<T> dropout_mask(const Shape& shape, double rate, Generator& generator);

struct DropoutOptions {
  explicit DropoutOptions(double rate) : rate_(rate) {}

  XGRAD_ARG(double, rate);                                             // required, in [0, 1)
  XGRAD_ARG(std::optional<std::vector<std::ptrdiff_t>>, noise_shape);  // Keras: None (x's shape)
  XGRAD_ARG(std::optional<std::uint64_t>, seed);                       // Keras: None (global generator)
  XGRAD_ARG(std::string, name) = "dropout";                            // Keras' default layer name

 public:
  // So that noise_shape({-1, 1, -1}) reads as it does in Keras.
  DropoutOptions& noise_shape(std::vector<std::ptrdiff_t> shape) {
    noise_shape_ = std::move(shape);
    return *this;
  }
};

template <typename T = float>
class Dropout : public Module<T> {
 public:
  // Throws std::invalid_argument if rate is not in [0, 1) or a noise_shape
  // entry is neither -1 nor positive.
  explicit Dropout(DropoutOptions options);

  // x -> x * mask in training mode, x itself in eval mode or for rate 0.
  // With a seed, the masks come from the layer's own generator, seeded once
  // at construction: two layers with the same seed draw the same sequence of
  // masks whatever else uses xgrad's global generator. Without one, they come
  // from xgrad's global generator (manual_seed makes them reproducible).
  // Throws std::invalid_argument if noise_shape's rank differs from x's or an
  // entry is neither x's size on that axis nor 1.
  Variable<T> forward(const Variable<T>& x);
  Variable<T> operator()(const Variable<T>& x) { return forward(x); }

  // noise_shape with each -1 replaced by x's size (x's shape without one),
  // checked as forward() checks it.
  Shape noise_shape_for(const Shape& input_shape) const;

  const DropoutOptions& options() const { return options_; }

 private:
  std::string describe() const;
  Generator& generator_for_draw();

  DropoutOptions options_;
  Generator own_generator_;  // used only with a seed
};

// Keras' SpatialDropout1D: dropout of whole feature channels, x [B, T, F]
// with one mask [B, 1, F] per sequence (Dropout with noise_shape
// {-1, 1, -1}), the dropout Keras applies after an Embedding.
struct SpatialDropout1DOptions {
  explicit SpatialDropout1DOptions(double rate) : rate_(rate) {}

  XGRAD_ARG(double, rate);                                  // required, in [0, 1)
  XGRAD_ARG(std::optional<std::uint64_t>, seed);            // Keras: None (global generator)
  XGRAD_ARG(std::string, name) = "spatial_dropout1d";       // Keras' default layer name
};

template <typename T = float>
class SpatialDropout1D : public Dropout<T> {
 public:
  explicit SpatialDropout1D(SpatialDropout1DOptions options);

  // x [B, T, F]; throws std::invalid_argument naming the layer for another rank.
  Variable<T> forward(const Variable<T>& x);
  Variable<T> operator()(const Variable<T>& x) { return forward(x); }

 private:
  static DropoutOptions dropout_options(const SpatialDropout1DOptions& options);
};

extern template Array<float> dropout_mask(const Shape&, double, Generator&);
extern template Array<double> dropout_mask(const Shape&, double, Generator&);
extern template class Dropout<float>;
extern template class Dropout<double>;
extern template class SpatialDropout1D<float>;
extern template class SpatialDropout1D<double>;

}  // namespace xgrad::nn
