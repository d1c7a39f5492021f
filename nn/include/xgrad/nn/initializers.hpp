#pragma once
// Weight initializers with Keras' names, formulas and defaults
// (keras/src/initializers), drawing from xgrad's seeded generator, so
// xgrad::manual_seed(n) makes every draw reproducible. The numbers follow
// Keras' distributions, not its exact random streams.
//
// Each initializer comes in two forms:
//   nn::init::he_normal<float>({F, U})   draws an array now;
//   nn::init::he_normal()                returns an nn::Initializer, a small
//                                        value that draws later:
//   nn::Initializer kernel_init = nn::initializer_from_name("he_normal");
//   Array<float> kernel = kernel_init.draw<float>({F, U});  // = operator()<float>
//
// Fans, as Keras' compute_fans:
//   rank 0        fan_in = fan_out = 1
//   rank 1  [n]   fan_in = fan_out = n
//   rank 2  [i, o]            fan_in = i,     fan_out = o
//   rank k  [r..., i, o]      fan_in = i · R, fan_out = o · R, with R the
//                             product of the leading (receptive field) dims.
//
// Variance scaling (Keras' VarianceScaling), with n = fan_in, fan_out or
// (fan_in + fan_out) / 2 by `mode`, and s = scale / max(1, n):
//   truncated_normal    normal(0, sqrt(s) / 0.87962566103423978) re-drawn
//                       beyond 2 of its stddevs: the division makes the
//                       truncated samples' stddev sqrt(s) (0.8796... is the
//                       stddev of a standard normal truncated to [-2, 2]).
//   untruncated_normal  normal(0, sqrt(s))
//   uniform             uniform[-sqrt(3 s), sqrt(3 s))        (variance s)
// The named presets are variance scaling:
//   glorot_uniform  scale 1, fan_avg, uniform    limit sqrt(6 / (fan_in + fan_out))
//   glorot_normal   scale 1, fan_avg, truncated  stddev sqrt(2 / (fan_in + fan_out))
//   he_uniform      scale 2, fan_in,  uniform    limit sqrt(6 / fan_in)
//   he_normal       scale 2, fan_in,  truncated  stddev sqrt(2 / fan_in)
//   lecun_uniform   scale 1, fan_in,  uniform    limit sqrt(3 / fan_in)
//   lecun_normal    scale 1, fan_in,  truncated  stddev sqrt(1 / fan_in)
//
// Every function throws std::invalid_argument naming the initializer for a
// parameter out of range (a negative stddev, minval > maxval, scale <= 0) or
// a shape it cannot fill (orthogonal below rank 2, identity unless rank 2).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "xgrad/tensor/tensor.hpp"

namespace xgrad::nn {

// Keras' compute_fans (see above).
struct Fans {
  std::size_t fan_in = 1;
  std::size_t fan_out = 1;
};
Fans compute_fans(const Shape& shape);

// Variance scaling's `mode` and `distribution`, with Keras' names.
enum class FanMode { fan_in, fan_out, fan_avg };
enum class Distribution { truncated_normal, untruncated_normal, uniform };
// "fan_in", "fan_out", "fan_avg"; "truncated_normal", "untruncated_normal",
// "uniform" (lower-cased first, and "normal" read as "truncated_normal", as
// Keras does). Throw std::invalid_argument listing the known names.
FanMode fan_mode_from_name(const std::string& name);
Distribution distribution_from_name(const std::string& name);
const char* fan_mode_name(FanMode mode);
const char* distribution_name(Distribution distribution);

// An initializer as a value: which one, and its parameters. Make one with
// the factories in nn::init (which check the parameters) or
// initializer_from_name; fields a kind does not use keep their defaults and
// are ignored. Default-constructed, it is zeros (Keras' bias default).
struct Initializer {
  enum class Kind {
    zeros,
    ones,
    constant,          // value
    random_uniform,    // minval, maxval
    random_normal,     // mean, stddev
    truncated_normal,  // mean, stddev
    variance_scaling,  // scale, mode, distribution (also the glorot/he/lecun presets)
    orthogonal,        // gain
    identity,          // gain
  };

  Kind kind = Kind::zeros;
  double value = 0.0;                                       // Keras: 0.0
  double minval = -0.05, maxval = 0.05;                     // Keras: -0.05, 0.05
  double mean = 0.0, stddev = 0.05;                         // Keras: 0.0, 0.05
  double scale = 1.0;                                       // Keras: 1.0
  FanMode mode = FanMode::fan_in;                           // Keras: "fan_in"
  Distribution distribution = Distribution::truncated_normal;  // Keras: "truncated_normal"
  double gain = 1.0;                                        // Keras: 1.0
  // Keras' seed=: with one, every draw comes from a generator made from it
  // afresh, so each call gives the same values (as a Keras initializer
  // seeded with an integer does) whatever else draws; without, from
  // xgrad::generator().
  std::optional<std::uint64_t> seed;                        // Keras: None

  // This initializer with `seed` set: init::glorot_uniform().with_seed(7).
  Initializer with_seed(std::uint64_t value) const {
    Initializer seeded = *this;
    seeded.seed = value;
    return seeded;
  }

  // An array of `shape` drawn (or filled) as this initializer says.
  template <typename T>
  Array<T> operator()(const Shape& shape) const;
  // The same, easier to call with an explicit T: init.draw<float>({F, U}).
  template <typename T>
  Array<T> draw(const Shape& shape) const {
    return operator()<T>(shape);
  }

  // Keras' snake_case name: "he_normal" for the variance scaling that equals
  // that preset, "variance_scaling" for any other.
  std::string name() const;
  // The name with the parameters that matter, for messages:
  // "random_uniform(minval=-0.05, maxval=0.05)".
  std::string describe() const;

  // Same kind, same parameters that the kind uses, and the same seed.
  bool operator==(const Initializer& other) const;
  bool operator!=(const Initializer& other) const { return !(*this == other); }
};

// Keras' string identifiers, case-sensitive as in Keras: the snake_case names
// ("zeros", "ones", "constant", "random_uniform", "random_normal",
// "truncated_normal", "variance_scaling", "glorot_uniform", "glorot_normal",
// "he_uniform", "he_normal", "lecun_uniform", "lecun_normal", "orthogonal",
// "identity"), the class names ("GlorotUniform", "RandomNormal", ...,
// "OrthogonalInitializer") and Keras' aliases "uniform", "normal", "one",
// "zero". Each gives the defaults. Throws std::invalid_argument listing the
// known names.
Initializer initializer_from_name(const std::string& name);

namespace init {

// ---- Draw an array now. -------------------------------------------------

template <typename T>
Array<T> zeros(const Shape& shape);
template <typename T>
Array<T> ones(const Shape& shape);
template <typename T>
Array<T> constant(const Shape& shape, double value);
// Uniform in [minval, maxval).
template <typename T>
Array<T> random_uniform(const Shape& shape, double minval = -0.05, double maxval = 0.05);
template <typename T>
Array<T> random_normal(const Shape& shape, double mean = 0.0, double stddev = 0.05);
// Normal(mean, stddev) with every value further than 2 · stddev from the
// mean re-drawn (so the samples' own stddev is 0.8796 · stddev).
template <typename T>
Array<T> truncated_normal(const Shape& shape, double mean = 0.0, double stddev = 0.05);
template <typename T>
Array<T> variance_scaling(const Shape& shape, double scale = 1.0, FanMode mode = FanMode::fan_in,
                          Distribution distribution = Distribution::truncated_normal);
template <typename T>
Array<T> glorot_uniform(const Shape& shape);
template <typename T>
Array<T> glorot_normal(const Shape& shape);
template <typename T>
Array<T> he_uniform(const Shape& shape);
template <typename T>
Array<T> he_normal(const Shape& shape);
template <typename T>
Array<T> lecun_uniform(const Shape& shape);
template <typename T>
Array<T> lecun_normal(const Shape& shape);
// Keras' Orthogonal: the shape is seen as a matrix [rows, cols] with cols the
// last dim and rows the product of the others (rank >= 2). Q of the QR of a
// standard normal [max, min] matrix, its columns signed by diag(R) so Q is
// uniformly distributed, transposed when rows < cols: the result has
// orthonormal columns (tall) or rows (wide), times `gain`.
template <typename T>
Array<T> orthogonal(const Shape& shape, double gain = 1.0);
// gain · the [rows, cols] identity (ones on the main diagonal, also when not
// square); 2-D shapes only.
template <typename T>
Array<T> identity(const Shape& shape, double gain = 1.0);

// ---- Describe one, to draw later. -----------------------------------------
// Same names and defaults; parameters are checked here.

Initializer zeros();
Initializer ones();
Initializer constant(double value = 0.0);
Initializer random_uniform(double minval = -0.05, double maxval = 0.05);
Initializer random_normal(double mean = 0.0, double stddev = 0.05);
Initializer truncated_normal(double mean = 0.0, double stddev = 0.05);
Initializer variance_scaling(double scale = 1.0, FanMode mode = FanMode::fan_in,
                             Distribution distribution = Distribution::truncated_normal);
// With Keras' strings: variance_scaling(2.0, "fan_avg", "uniform").
Initializer variance_scaling(double scale, const std::string& mode,
                             const std::string& distribution = "truncated_normal");
Initializer glorot_uniform();
Initializer glorot_normal();
Initializer he_uniform();
Initializer he_normal();
Initializer lecun_uniform();
Initializer lecun_normal();
Initializer orthogonal(double gain = 1.0);
Initializer identity(double gain = 1.0);

#define XGRAD_DECLARE_INITIALIZERS(T)                                                        \
  extern template Array<T> zeros(const Shape&);                                              \
  extern template Array<T> ones(const Shape&);                                               \
  extern template Array<T> constant(const Shape&, double);                                   \
  extern template Array<T> random_uniform(const Shape&, double, double);                     \
  extern template Array<T> random_normal(const Shape&, double, double);                      \
  extern template Array<T> truncated_normal(const Shape&, double, double);                   \
  extern template Array<T> variance_scaling(const Shape&, double, FanMode, Distribution);    \
  extern template Array<T> glorot_uniform(const Shape&);                                     \
  extern template Array<T> glorot_normal(const Shape&);                                      \
  extern template Array<T> he_uniform(const Shape&);                                         \
  extern template Array<T> he_normal(const Shape&);                                          \
  extern template Array<T> lecun_uniform(const Shape&);                                      \
  extern template Array<T> lecun_normal(const Shape&);                                       \
  extern template Array<T> orthogonal(const Shape&, double);                                 \
  extern template Array<T> identity(const Shape&, double);
XGRAD_DECLARE_INITIALIZERS(float)
XGRAD_DECLARE_INITIALIZERS(double)
#undef XGRAD_DECLARE_INITIALIZERS

}  // namespace init

extern template Array<float> Initializer::operator()(const Shape&) const;
extern template Array<double> Initializer::operator()(const Shape&) const;

}  // namespace xgrad::nn
