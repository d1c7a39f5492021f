#include "xgrad/nn/initializers.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <xtensor-blas/xlinalg.hpp>

namespace xgrad::nn {

namespace {

// The stddev of a standard normal truncated to [-2, 2]: Keras divides by it
// so that truncated samples keep the stddev variance scaling asks for.
constexpr double truncated_stddev_correction = 0.87962566103423978;

std::string format_number(double x) {
  std::ostringstream out;
  out << x;
  return out.str();
}

[[noreturn]] void fail(const char* initializer, const std::string& what) {
  throw std::invalid_argument(std::string(initializer) + ": " + what);
}

void check_finite(const char* initializer, const char* parameter, double x) {
  if (!std::isfinite(x)) fail(initializer, std::string(parameter) + " must be finite, got " + format_number(x));
}

void check_uniform(const char* initializer, double minval, double maxval) {
  check_finite(initializer, "minval", minval);
  check_finite(initializer, "maxval", maxval);
  if (minval > maxval) {
    fail(initializer, "minval (" + format_number(minval) + ") must not exceed maxval (" +
                          format_number(maxval) + ")");
  }
}

void check_normal(const char* initializer, double mean, double stddev) {
  check_finite(initializer, "mean", mean);
  check_finite(initializer, "stddev", stddev);
  if (stddev < 0) fail(initializer, "stddev must be non-negative, got " + format_number(stddev));
}

void check_scale(const char* initializer, double scale) {
  // Keras: "Argument `scale` must be positive float."
  if (!(scale > 0) || !std::isfinite(scale)) {
    fail(initializer, "scale must be a positive finite number, got " + format_number(scale));
  }
}

// Standard normal values, each one beyond +-2 re-drawn (in batches, so the
// ~4.6% rejected cost one extra pass, not one call each).
Array<double> truncated_standard_normal(const Shape& shape) {
  Array<double> z = normal<double>(shape);
  double* data = z.data();
  std::vector<std::size_t> redraw;
  for (std::size_t i = 0; i < z.size(); ++i)
    if (std::abs(data[i]) > 2.0) redraw.push_back(i);
  while (!redraw.empty()) {
    const Array<double> fresh = normal<double>({redraw.size()});
    std::vector<std::size_t> still;
    for (std::size_t k = 0; k < redraw.size(); ++k) {
      if (std::abs(fresh(k)) > 2.0) {
        still.push_back(redraw[k]);
      } else {
        data[redraw[k]] = fresh(k);
      }
    }
    redraw.swap(still);
  }
  return z;
}

// The variance-scaling presets, for name() and the name table.
struct Preset {
  const char* name;
  double scale;
  FanMode mode;
  Distribution distribution;
};
constexpr Preset presets[] = {
    {"glorot_uniform", 1.0, FanMode::fan_avg, Distribution::uniform},
    {"glorot_normal", 1.0, FanMode::fan_avg, Distribution::truncated_normal},
    {"he_uniform", 2.0, FanMode::fan_in, Distribution::uniform},
    {"he_normal", 2.0, FanMode::fan_in, Distribution::truncated_normal},
    {"lecun_uniform", 1.0, FanMode::fan_in, Distribution::uniform},
    {"lecun_normal", 1.0, FanMode::fan_in, Distribution::truncated_normal},
};

Initializer make(Initializer::Kind kind) {
  Initializer i;
  i.kind = kind;
  return i;
}

}  // namespace

Fans compute_fans(const Shape& shape) {
  Fans f;
  if (shape.size() == 1) {
    f.fan_in = f.fan_out = shape[0];
  } else if (shape.size() == 2) {
    f.fan_in = shape[0];
    f.fan_out = shape[1];
  } else if (shape.size() > 2) {
    // Convolution-style kernels [..., in, out]: each output sees the
    // receptive field (the leading dims) of every input channel.
    std::size_t receptive_field = 1;
    for (std::size_t d = 0; d + 2 < shape.size(); ++d) receptive_field *= shape[d];
    f.fan_in = shape[shape.size() - 2] * receptive_field;
    f.fan_out = shape.back() * receptive_field;
  }
  return f;
}

FanMode fan_mode_from_name(const std::string& name) {
  if (name == "fan_in") return FanMode::fan_in;
  if (name == "fan_out") return FanMode::fan_out;
  if (name == "fan_avg") return FanMode::fan_avg;
  throw std::invalid_argument("variance_scaling: unknown mode '" + name +
                              "'; known modes: fan_in, fan_out, fan_avg");
}

Distribution distribution_from_name(const std::string& name) {
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "truncated_normal" || lower == "normal") return Distribution::truncated_normal;
  if (lower == "untruncated_normal") return Distribution::untruncated_normal;
  if (lower == "uniform") return Distribution::uniform;
  throw std::invalid_argument("variance_scaling: unknown distribution '" + name +
                              "'; known distributions: truncated_normal (or normal), "
                              "untruncated_normal, uniform");
}

const char* fan_mode_name(FanMode mode) {
  switch (mode) {
    case FanMode::fan_in: return "fan_in";
    case FanMode::fan_out: return "fan_out";
    case FanMode::fan_avg: return "fan_avg";
  }
  return "?";
}

const char* distribution_name(Distribution distribution) {
  switch (distribution) {
    case Distribution::truncated_normal: return "truncated_normal";
    case Distribution::untruncated_normal: return "untruncated_normal";
    case Distribution::uniform: return "uniform";
  }
  return "?";
}

namespace init {

// ---------------------------------------------------------------- arrays

template <typename T>
Array<T> zeros(const Shape& shape) {
  return xgrad::zeros<T>(shape);
}

template <typename T>
Array<T> ones(const Shape& shape) {
  return xgrad::ones<T>(shape);
}

template <typename T>
Array<T> constant(const Shape& shape, double value) {
  return xgrad::full<T>(shape, static_cast<T>(value));
}

template <typename T>
Array<T> random_uniform(const Shape& shape, double minval, double maxval) {
  check_uniform("random_uniform", minval, maxval);
  return uniform<T>(shape, static_cast<T>(minval), static_cast<T>(maxval));
}

template <typename T>
Array<T> random_normal(const Shape& shape, double mean, double stddev) {
  check_normal("random_normal", mean, stddev);
  return normal<T>(shape, static_cast<T>(mean), static_cast<T>(stddev));
}

template <typename T>
Array<T> truncated_normal(const Shape& shape, double mean, double stddev) {
  check_normal("truncated_normal", mean, stddev);
  const Array<double> z = truncated_standard_normal(shape);
  Array<T> out = Array<T>::from_shape(shape);
  // In double, rounded once to T.
  std::transform(z.begin(), z.end(), out.begin(),
                 [mean, stddev](double v) { return static_cast<T>(mean + stddev * v); });
  return out;
}

template <typename T>
Array<T> variance_scaling(const Shape& shape, double scale, FanMode mode, Distribution distribution) {
  check_scale("variance_scaling", scale);
  const Fans fans = compute_fans(shape);
  const auto fan_in = static_cast<double>(fans.fan_in), fan_out = static_cast<double>(fans.fan_out);
  switch (mode) {
    case FanMode::fan_in: scale /= std::max(1.0, fan_in); break;
    case FanMode::fan_out: scale /= std::max(1.0, fan_out); break;
    case FanMode::fan_avg: scale /= std::max(1.0, (fan_in + fan_out) / 2.0); break;
  }
  switch (distribution) {
    case Distribution::truncated_normal:
      return truncated_normal<T>(shape, 0.0, std::sqrt(scale) / truncated_stddev_correction);
    case Distribution::untruncated_normal:
      return random_normal<T>(shape, 0.0, std::sqrt(scale));
    case Distribution::uniform: {
      const double limit = std::sqrt(3.0 * scale);
      return random_uniform<T>(shape, -limit, limit);
    }
  }
  return {};
}

template <typename T>
Array<T> glorot_uniform(const Shape& shape) {
  return variance_scaling<T>(shape, 1.0, FanMode::fan_avg, Distribution::uniform);
}

template <typename T>
Array<T> glorot_normal(const Shape& shape) {
  return variance_scaling<T>(shape, 1.0, FanMode::fan_avg, Distribution::truncated_normal);
}

template <typename T>
Array<T> he_uniform(const Shape& shape) {
  return variance_scaling<T>(shape, 2.0, FanMode::fan_in, Distribution::uniform);
}

template <typename T>
Array<T> he_normal(const Shape& shape) {
  return variance_scaling<T>(shape, 2.0, FanMode::fan_in, Distribution::truncated_normal);
}

template <typename T>
Array<T> lecun_uniform(const Shape& shape) {
  return variance_scaling<T>(shape, 1.0, FanMode::fan_in, Distribution::uniform);
}

template <typename T>
Array<T> lecun_normal(const Shape& shape) {
  return variance_scaling<T>(shape, 1.0, FanMode::fan_in, Distribution::truncated_normal);
}

template <typename T>
Array<T> orthogonal(const Shape& shape, double gain) {
  check_finite("orthogonal", "gain", gain);
  if (shape.size() < 2) {
    fail("orthogonal", "needs a shape of rank 2 or more, got " + shape_to_string(shape) + " of rank " +
                           std::to_string(shape.size()));
  }
  // Keras flattens every dim but the last into the rows.
  const std::size_t cols = shape.back();
  const std::size_t rows = element_count(shape) / std::max<std::size_t>(cols, 1);
  if (rows == 0 || cols == 0) return Array<T>::from_shape(shape);
  const std::size_t tall = std::max(rows, cols), narrow = std::min(rows, cols);
  Array<double> a = normal<double>({tall, narrow});
  auto [q, r] = xt::linalg::qr(a, xt::linalg::qrmode::reduced);
  Array<double> q_signed = q;
  for (std::size_t j = 0; j < narrow; ++j) {
    // Keras multiplies by sign(diag(R)); a zero diagonal has probability 0.
    const double sign = r(j, j) < 0 ? -1.0 : 1.0;
    for (std::size_t i = 0; i < tall; ++i) q_signed(i, j) *= sign;
  }
  if (rows < cols) q_signed = transposed(q_signed);
  Array<T> out = xt::cast<T>(q_signed * gain);
  out.reshape(shape);
  return out;
}

template <typename T>
Array<T> identity(const Shape& shape, double gain) {
  check_finite("identity", "gain", gain);
  if (shape.size() != 2) {
    fail("identity", "can only fill 2-D shapes, got " + shape_to_string(shape) + " of rank " +
                         std::to_string(shape.size()));
  }
  Array<T> out = xgrad::zeros<T>(shape);
  for (std::size_t i = 0; i < std::min(shape[0], shape[1]); ++i) out(i, i) = static_cast<T>(gain);
  return out;
}

// ---------------------------------------------------------------- factories

Initializer zeros() { return make(Initializer::Kind::zeros); }

Initializer ones() { return make(Initializer::Kind::ones); }

Initializer constant(double value) {
  Initializer i = make(Initializer::Kind::constant);
  i.value = value;
  return i;
}

Initializer random_uniform(double minval, double maxval) {
  check_uniform("random_uniform", minval, maxval);
  Initializer i = make(Initializer::Kind::random_uniform);
  i.minval = minval;
  i.maxval = maxval;
  return i;
}

Initializer random_normal(double mean, double stddev) {
  check_normal("random_normal", mean, stddev);
  Initializer i = make(Initializer::Kind::random_normal);
  i.mean = mean;
  i.stddev = stddev;
  return i;
}

Initializer truncated_normal(double mean, double stddev) {
  check_normal("truncated_normal", mean, stddev);
  Initializer i = make(Initializer::Kind::truncated_normal);
  i.mean = mean;
  i.stddev = stddev;
  return i;
}

Initializer variance_scaling(double scale, FanMode mode, Distribution distribution) {
  check_scale("variance_scaling", scale);
  Initializer i = make(Initializer::Kind::variance_scaling);
  i.scale = scale;
  i.mode = mode;
  i.distribution = distribution;
  return i;
}

Initializer variance_scaling(double scale, const std::string& mode, const std::string& distribution) {
  return variance_scaling(scale, fan_mode_from_name(mode), distribution_from_name(distribution));
}

Initializer glorot_uniform() { return variance_scaling(1.0, FanMode::fan_avg, Distribution::uniform); }
Initializer glorot_normal() { return variance_scaling(1.0, FanMode::fan_avg, Distribution::truncated_normal); }
Initializer he_uniform() { return variance_scaling(2.0, FanMode::fan_in, Distribution::uniform); }
Initializer he_normal() { return variance_scaling(2.0, FanMode::fan_in, Distribution::truncated_normal); }
Initializer lecun_uniform() { return variance_scaling(1.0, FanMode::fan_in, Distribution::uniform); }
Initializer lecun_normal() { return variance_scaling(1.0, FanMode::fan_in, Distribution::truncated_normal); }

Initializer orthogonal(double gain) {
  check_finite("orthogonal", "gain", gain);
  Initializer i = make(Initializer::Kind::orthogonal);
  i.gain = gain;
  return i;
}

Initializer identity(double gain) {
  check_finite("identity", "gain", gain);
  Initializer i = make(Initializer::Kind::identity);
  i.gain = gain;
  return i;
}

}  // namespace init

// ---------------------------------------------------------------- Initializer

template <typename T>
Array<T> Initializer::operator()(const Shape& shape) const {
  std::optional<Generator> seeded;
  std::optional<GeneratorGuard> use_seeded;
  if (seed) use_seeded.emplace(seeded.emplace(*seed));
  switch (kind) {
    case Kind::zeros: return init::zeros<T>(shape);
    case Kind::ones: return init::ones<T>(shape);
    case Kind::constant: return init::constant<T>(shape, value);
    case Kind::random_uniform: return init::random_uniform<T>(shape, minval, maxval);
    case Kind::random_normal: return init::random_normal<T>(shape, mean, stddev);
    case Kind::truncated_normal: return init::truncated_normal<T>(shape, mean, stddev);
    case Kind::variance_scaling: return init::variance_scaling<T>(shape, scale, mode, distribution);
    case Kind::orthogonal: return init::orthogonal<T>(shape, gain);
    case Kind::identity: return init::identity<T>(shape, gain);
  }
  throw std::invalid_argument("Initializer: unknown kind " + std::to_string(static_cast<int>(kind)));
}

std::string Initializer::name() const {
  switch (kind) {
    case Kind::zeros: return "zeros";
    case Kind::ones: return "ones";
    case Kind::constant: return "constant";
    case Kind::random_uniform: return "random_uniform";
    case Kind::random_normal: return "random_normal";
    case Kind::truncated_normal: return "truncated_normal";
    case Kind::variance_scaling:
      for (const Preset& p : presets)
        if (p.scale == scale && p.mode == mode && p.distribution == distribution) return p.name;
      return "variance_scaling";
    case Kind::orthogonal: return "orthogonal";
    case Kind::identity: return "identity";
  }
  return "unknown";
}

namespace {
// describe() without the seed.
std::string describe_unseeded(const Initializer& initializer) {
  using Kind = Initializer::Kind;
  const Initializer& i = initializer;
  const std::string n = i.name();
  switch (i.kind) {
    case Kind::zeros:
    case Kind::ones: return n;
    case Kind::constant: return n + "(value=" + format_number(i.value) + ")";
    case Kind::random_uniform:
      return n + "(minval=" + format_number(i.minval) + ", maxval=" + format_number(i.maxval) + ")";
    case Kind::random_normal:
    case Kind::truncated_normal:
      return n + "(mean=" + format_number(i.mean) + ", stddev=" + format_number(i.stddev) + ")";
    case Kind::variance_scaling:
      if (n != "variance_scaling") return n;
      return n + "(scale=" + format_number(i.scale) + ", mode=" + fan_mode_name(i.mode) +
             ", distribution=" + distribution_name(i.distribution) + ")";
    case Kind::orthogonal:
    case Kind::identity: return n + "(gain=" + format_number(i.gain) + ")";
  }
  return n;
}
}  // namespace

std::string Initializer::describe() const {
  const std::string unseeded = describe_unseeded(*this);
  return seed ? unseeded + " with seed " + std::to_string(*seed) : unseeded;
}

bool Initializer::operator==(const Initializer& other) const {
  if (kind != other.kind || seed != other.seed) return false;
  switch (kind) {
    case Kind::zeros:
    case Kind::ones: return true;
    case Kind::constant: return value == other.value;
    case Kind::random_uniform: return minval == other.minval && maxval == other.maxval;
    case Kind::random_normal:
    case Kind::truncated_normal: return mean == other.mean && stddev == other.stddev;
    case Kind::variance_scaling:
      return scale == other.scale && mode == other.mode && distribution == other.distribution;
    case Kind::orthogonal:
    case Kind::identity: return gain == other.gain;
  }
  return false;
}

Initializer initializer_from_name(const std::string& name) {
  // Keras' ALL_OBJECTS_DICT: snake_case names, class names, then its aliases.
  static const std::vector<std::pair<std::vector<const char*>, Initializer (*)()>> table = {
      {{"zeros", "Zeros", "zero"}, [] { return init::zeros(); }},
      {{"ones", "Ones", "one"}, [] { return init::ones(); }},
      {{"constant", "Constant"}, [] { return init::constant(); }},
      {{"random_uniform", "RandomUniform", "uniform"}, [] { return init::random_uniform(); }},
      {{"random_normal", "RandomNormal", "normal"}, [] { return init::random_normal(); }},
      {{"truncated_normal", "TruncatedNormal"}, [] { return init::truncated_normal(); }},
      {{"variance_scaling", "VarianceScaling"}, [] { return init::variance_scaling(); }},
      {{"glorot_uniform", "GlorotUniform"}, [] { return init::glorot_uniform(); }},
      {{"glorot_normal", "GlorotNormal"}, [] { return init::glorot_normal(); }},
      {{"he_uniform", "HeUniform"}, [] { return init::he_uniform(); }},
      {{"he_normal", "HeNormal"}, [] { return init::he_normal(); }},
      {{"lecun_uniform", "LecunUniform"}, [] { return init::lecun_uniform(); }},
      {{"lecun_normal", "LecunNormal"}, [] { return init::lecun_normal(); }},
      {{"orthogonal", "Orthogonal", "OrthogonalInitializer"}, [] { return init::orthogonal(); }},
      {{"identity", "Identity", "IdentityInitializer"}, [] { return init::identity(); }},
  };
  for (const auto& [names, factory] : table)
    for (const char* n : names)
      if (name == n) return factory();
  std::string known;
  for (const auto& entry : table) known += (known.empty() ? "" : ", ") + std::string(entry.first[0]);
  throw std::invalid_argument("initializer_from_name: unknown initializer '" + name +
                              "'; known names: " + known +
                              " (also Keras' class names such as GlorotUniform, and the aliases "
                              "uniform, normal, one, zero)");
}

#define XGRAD_INSTANTIATE_INITIALIZERS(T)                                                    \
  template Array<T> init::zeros(const Shape&);                                               \
  template Array<T> init::ones(const Shape&);                                                \
  template Array<T> init::constant(const Shape&, double);                                    \
  template Array<T> init::random_uniform(const Shape&, double, double);                      \
  template Array<T> init::random_normal(const Shape&, double, double);                       \
  template Array<T> init::truncated_normal(const Shape&, double, double);                    \
  template Array<T> init::variance_scaling(const Shape&, double, FanMode, Distribution);     \
  template Array<T> init::glorot_uniform(const Shape&);                                      \
  template Array<T> init::glorot_normal(const Shape&);                                       \
  template Array<T> init::he_uniform(const Shape&);                                          \
  template Array<T> init::he_normal(const Shape&);                                           \
  template Array<T> init::lecun_uniform(const Shape&);                                       \
  template Array<T> init::lecun_normal(const Shape&);                                        \
  template Array<T> init::orthogonal(const Shape&, double);                                  \
  template Array<T> init::identity(const Shape&, double);                                    \
  template Array<T> Initializer::operator()(const Shape&) const;
XGRAD_INSTANTIATE_INITIALIZERS(float)
XGRAD_INSTANTIATE_INITIALIZERS(double)
#undef XGRAD_INSTANTIATE_INITIALIZERS

}  // namespace xgrad::nn
