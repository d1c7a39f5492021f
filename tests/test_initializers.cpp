// Tests of nn/initializers.hpp against Keras' formulas
// (keras/src/initializers/random_initializers.py, constant_initializers.py).
//
// The random initializers are checked by the moments of one large seeded
// draw, against values derived by hand from the formulas (quoted at each
// test). The tolerance is 5 standard errors of the estimate:
//   SE(sample mean)     = sqrt(var / n)
//   SE(sample variance) ≈ var · sqrt((kurtosis − 1) / n),  kurtosis = E[(x−μ)⁴] / var²
// with kurtosis 9/5 for a uniform, 3 for a normal and 2.3655367171296495 for a
// normal truncated to ±2 stddev: for the standard normal truncated to [−2, 2],
// with φ, Φ its density and CDF and Z = 2Φ(2) − 1 = 0.9544997361036416,
//   E[z²] = 1 − 4φ(2)/Z = 0.7737413035499232   (sqrt: 0.8796256610342398,
//                                               Keras' 0.87962566103423978)
//   E[z⁴] = 3E[z²] − 16φ(2)/Z = 1.4161891248494625.
// For n = 400 · 600 = 240,000 draws, 5 SE of the variance is 0.91% (uniform),
// 1.44% (normal) and 1.19% (truncated normal) of it: a pass is no accident
// (a 5-SE miss has two-sided probability ~6e-7), and every formula mistake
// tested for here (another fan, a missing 0.8796 correction, no truncation)
// moves the variance by 20% or more.

#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <xtensor/xmath.hpp>

#include "test_helpers.hpp"
#include "xgrad/nn/initializers.hpp"
#include "xgrad/tensor/tensor.hpp"

namespace {

using xgrad::Array;
using xgrad::Shape;
using xgrad::test::column_gram_error;
using xgrad::test::throws_with;
namespace nn = xgrad::nn;
namespace init = xgrad::nn::init;
using nn::Distribution;
using nn::FanMode;
using nn::Initializer;

constexpr double kurtosis_uniform = 9.0 / 5.0;
constexpr double kurtosis_normal = 3.0;
constexpr double kurtosis_truncated = 2.3655367171296495;
constexpr double truncated_variance_ratio = 0.7737413035499232;  // E[z²] above
constexpr double keras_correction = 0.87962566103423978;

// 400 · 600 = 240,000 draws: the shape of every statistical test.
const Shape big{400, 600};

struct Moments {
  double mean = 0, variance = 0, min = 0, max = 0;
  std::size_t n = 0;
};

template <typename T>
Moments moments(const Array<T>& a) {
  Moments m;
  m.n = a.size();
  m.min = m.max = static_cast<double>(a.flat(0));
  for (auto v : a) {
    m.mean += static_cast<double>(v);
    m.min = std::min(m.min, static_cast<double>(v));
    m.max = std::max(m.max, static_cast<double>(v));
  }
  m.mean /= static_cast<double>(m.n);
  for (auto v : a) m.variance += (static_cast<double>(v) - m.mean) * (static_cast<double>(v) - m.mean);
  m.variance /= static_cast<double>(m.n - 1);
  return m;
}

// Sample mean and variance within 5 standard errors of `mean` and
// `variance` (see the top of the file).
template <typename T>
void expect_moments(const Array<T>& a, double mean, double variance, double kurtosis) {
  const Moments m = moments(a);
  const double n = static_cast<double>(m.n);
  EXPECT_NEAR(m.mean, mean, 5 * std::sqrt(variance / n)) << "sample mean";
  EXPECT_NEAR(m.variance, variance, 5 * variance * std::sqrt((kurtosis - 1) / n)) << "sample variance";
}

// ---------------------------------------------------------------- fans

TEST(ComputeFans, FollowKerasForEveryRank) {
  // Keras' compute_fans: rank 0 -> (1, 1); rank 1 -> (n, n); rank 2 -> (i, o);
  // rank k -> (i·R, o·R) with R the product of the leading dims.
  const auto fans = [](const Shape& s) {
    const nn::Fans f = nn::compute_fans(s);
    return std::vector<std::size_t>{f.fan_in, f.fan_out};
  };
  EXPECT_EQ(fans({}), (std::vector<std::size_t>{1, 1}));
  EXPECT_EQ(fans({7}), (std::vector<std::size_t>{7, 7}));
  EXPECT_EQ(fans({3, 5}), (std::vector<std::size_t>{3, 5}));
  EXPECT_EQ(fans({2, 3, 4}), (std::vector<std::size_t>{6, 8}));          // R = 2
  EXPECT_EQ(fans({3, 3, 16, 32}), (std::vector<std::size_t>{144, 288}));  // R = 9
}

TEST(ComputeFans, GlorotUniformUsesThemBeyondRankTwo) {
  // [3, 40, 60]: R = 3, fan_in = 120, fan_out = 180, limit sqrt(6 / 300) =
  // 0.1414214. (Folding everything but the last dim into fan_in, as this
  // library once did, gives fan_out 60 and limit sqrt(6 / 180) = 0.1825742.)
  xgrad::manual_seed(21);
  const double limit = std::sqrt(6.0 / 300.0);
  const Moments m = moments(init::glorot_uniform<double>({3, 40, 60}));
  EXPECT_LT(m.max, limit);
  EXPECT_GE(m.min, -limit);
  EXPECT_GT(m.max, 0.99 * limit);  // 7,200 draws: the largest is near the limit
  EXPECT_LT(m.min, -0.99 * limit);

  // Rank 1, [1000]: fan_in = fan_out = 1000, limit sqrt(6 / 2000) = 0.0547723.
  const Moments v = moments(init::glorot_uniform<double>({1000}));
  EXPECT_LT(v.max, std::sqrt(6.0 / 2000.0));
  EXPECT_GT(v.max, 0.95 * std::sqrt(6.0 / 2000.0));

  // Rank 0: fans (1, 1), he_uniform's limit sqrt(3 · 2 / 1) = sqrt(6).
  const Array<double> scalar = init::he_uniform<double>({});
  EXPECT_EQ(scalar.dimension(), 0u);
  EXPECT_LE(std::abs(scalar()), std::sqrt(6.0));
}

// ---------------------------------------------------------------- constants

TEST(ConstantInitializers, ZerosOnesConstant) {
  EXPECT_EQ(init::zeros<float>({2, 3}), xgrad::zeros<float>({2, 3}));
  EXPECT_EQ(init::ones<double>({4}), xgrad::ones<double>({4}));
  const Array<float> c = init::constant<float>({2, 2, 2}, 0.5);
  EXPECT_EQ(c, xgrad::full<float>({2, 2, 2}, 0.5f));
  // The value form, and Keras' default Constant(value=0.0).
  EXPECT_EQ(init::constant(-1.25).draw<double>({3, 1}), xgrad::full<double>({3, 1}, -1.25));
  EXPECT_EQ(init::constant().draw<double>({2}), xgrad::zeros<double>({2}));
  EXPECT_EQ(init::ones().draw<float>({1, 5}), xgrad::ones<float>({1, 5}));
  EXPECT_EQ(Initializer{}.draw<float>({3}), xgrad::zeros<float>({3}));  // default: zeros
}

TEST(IdentityInitializer, EyeTimesGainForSquareAndRectangularShapes) {
  // Keras: gain · eye(rows, cols); ones on the main diagonal only.
  EXPECT_EQ(init::identity<double>({3, 3}), (Array<double>{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}));
  EXPECT_EQ(init::identity<double>({2, 4}, 2.5), (Array<double>{{2.5, 0, 0, 0}, {0, 2.5, 0, 0}}));
  EXPECT_EQ(init::identity(-1.0).draw<float>({3, 2}), (Array<float>{{-1, 0}, {0, -1}, {0, 0}}));
}

TEST(IdentityInitializer, OnlyTwoDimensional) {
  EXPECT_TRUE(throws_with<std::invalid_argument>([] { init::identity<float>({2, 2, 2}); },
                                                 {"identity", "(2, 2, 2)", "rank 3"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([] { init::identity().draw<double>({4}); },
                                                 {"identity", "(4,)"}));
}

// ---------------------------------------------------------------- random

TEST(RandomUniform, KerasDefaultsAndCustomRange) {
  // Defaults [-0.05, 0.05): mean 0, variance 0.1² / 12 = 0.05² / 3 = 8.3333e-4.
  xgrad::manual_seed(1);
  const Array<double> w = init::random_uniform<double>(big);
  const Moments m = moments(w);
  EXPECT_GE(m.min, -0.05);
  EXPECT_LT(m.max, 0.05);
  EXPECT_LT(m.min, -0.0499);  // 240,000 draws fill the range
  EXPECT_GT(m.max, 0.0499);
  expect_moments(w, 0.0, 0.05 * 0.05 / 3, kurtosis_uniform);

  // [1, 3): mean 2, variance 2² / 12 = 1/3.
  const Array<double> shifted = init::random_uniform(1.0, 3.0).draw<double>(big);
  EXPECT_GE(moments(shifted).min, 1.0);
  EXPECT_LT(moments(shifted).max, 3.0);
  expect_moments(shifted, 2.0, 1.0 / 3.0, kurtosis_uniform);
}

TEST(RandomNormal, KerasDefaultsAndCustomParameters) {
  // Defaults mean 0, stddev 0.05: variance 0.0025, and (not truncated) values
  // beyond 3 stddev: P(|z| > 3) = 0.0027, ~650 of 240,000.
  xgrad::manual_seed(2);
  const Array<double> w = init::random_normal<double>(big);
  expect_moments(w, 0.0, 0.0025, kurtosis_normal);
  const Moments m = moments(w);
  EXPECT_GT(std::max(m.max, -m.min), 3 * 0.05);

  // mean 1, stddev 2: variance 4.
  expect_moments(init::random_normal(1.0, 2.0).draw<double>(big), 1.0, 4.0, kurtosis_normal);
}

TEST(TruncatedNormal, NothingBeyondTwoStddevAndTheTruncatedVariance) {
  // Defaults mean 0, stddev 0.05: every |value| <= 2 · 0.05 = 0.1, and the
  // samples' variance is 0.05² · 0.7737413 = 1.9343533e-3 (stddev 0.05 ·
  // 0.8796257 = 0.0439813), not 0.0025.
  xgrad::manual_seed(3);
  const Array<double> w = init::truncated_normal<double>(big);
  const Moments m = moments(w);
  EXPECT_LE(m.max, 0.1);
  EXPECT_GE(m.min, -0.1);
  // P(1.98 < |z| < 2 | |z| < 2) = 0.0023: ~550 draws within 1% of the bound.
  EXPECT_GT(m.max, 0.099);
  EXPECT_LT(m.min, -0.099);
  expect_moments(w, 0.0, 0.0025 * truncated_variance_ratio, kurtosis_truncated);

  // mean 1, stddev 0.5: all in [0, 2], centred on 1.
  const Array<double> shifted = init::truncated_normal(1.0, 0.5).draw<double>(big);
  EXPECT_GE(moments(shifted).min, 0.0);
  EXPECT_LE(moments(shifted).max, 2.0);
  expect_moments(shifted, 1.0, 0.25 * truncated_variance_ratio, kurtosis_truncated);

  // float: the bound holds after rounding to float (to one float ulp).
  const Array<float> w32 = init::truncated_normal<float>(big);
  EXPECT_LE(xt::amax(xt::abs(w32))(), 0.1f * (1 + 1e-6f));
}

TEST(VarianceScaling, EveryModeAndDistributionHasVarianceScaleOverN) {
  // Keras: s = scale / max(1, n), with n = fan_in 400, fan_out 600 or
  // fan_avg 500 for [400, 600]. All three distributions have variance s:
  //   uniform             limit sqrt(3 s):  variance limit² / 3 = s
  //   untruncated_normal  stddev sqrt(s)
  //   truncated_normal    stddev sqrt(s) / 0.8796 before truncation, whose
  //                       samples have stddev sqrt(s) after it.
  // With scale 3: s = 7.5e-3, 5e-3, 6e-3: 20% or more apart.
  const double scale = 3.0;
  const std::vector<std::pair<FanMode, double>> modes = {
      {FanMode::fan_in, 400.0}, {FanMode::fan_out, 600.0}, {FanMode::fan_avg, 500.0}};
  std::uint64_t seed = 30;
  for (const auto& [mode, n] : modes) {
    const double s = scale / n;
    SCOPED_TRACE(std::string(nn::fan_mode_name(mode)));
    xgrad::manual_seed(seed++);

    const Array<double> u = init::variance_scaling<double>(big, scale, mode, Distribution::uniform);
    const double limit = std::sqrt(3 * s);
    EXPECT_LT(moments(u).max, limit);
    EXPECT_GT(moments(u).max, 0.999 * limit);
    expect_moments(u, 0.0, s, kurtosis_uniform);

    const Array<double> g =
        init::variance_scaling<double>(big, scale, mode, Distribution::untruncated_normal);
    expect_moments(g, 0.0, s, kurtosis_normal);
    EXPECT_GT(moments(g).max, 3 * std::sqrt(s));  // untruncated: beyond 2 and 3 stddev

    const Array<double> t =
        init::variance_scaling(scale, mode, Distribution::truncated_normal).draw<double>(big);
    const double bound = 2 * std::sqrt(s) / keras_correction;
    EXPECT_LE(moments(t).max, bound);
    EXPECT_GE(moments(t).min, -bound);
    EXPECT_GT(moments(t).max, 0.99 * bound);
    expect_moments(t, 0.0, s, kurtosis_truncated);
  }
}

TEST(VarianceScaling, KerasDefaultsAndStrings) {
  // Keras: VarianceScaling(scale=1.0, mode="fan_in", distribution="truncated_normal").
  const Initializer d = init::variance_scaling();
  EXPECT_EQ(d.scale, 1.0);
  EXPECT_EQ(d.mode, FanMode::fan_in);
  EXPECT_EQ(d.distribution, Distribution::truncated_normal);
  EXPECT_EQ(init::variance_scaling(2.0, "fan_avg", "uniform"),
            init::variance_scaling(2.0, FanMode::fan_avg, Distribution::uniform));
  // Keras lower-cases the distribution and reads "normal" as truncated.
  EXPECT_EQ(init::variance_scaling(1.0, "fan_out", "Normal").distribution, Distribution::truncated_normal);
  EXPECT_EQ(init::variance_scaling(1.0, "fan_out", "UNIFORM").distribution, Distribution::uniform);
  EXPECT_EQ(nn::distribution_from_name("untruncated_normal"), Distribution::untruncated_normal);
  EXPECT_TRUE(throws_with<std::invalid_argument>([] { init::variance_scaling(1.0, "fan_mid"); },
                                                 {"fan_mid", "fan_in", "fan_out", "fan_avg"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [] { init::variance_scaling(1.0, "fan_in", "gamma"); }, {"gamma", "truncated_normal", "uniform"}));
  // Keras: "Argument `scale` must be positive float."
  EXPECT_TRUE(throws_with<std::invalid_argument>([] { init::variance_scaling(0.0); }, {"scale", "0"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([] { init::variance_scaling<float>({2, 2}, -1.0); },
                                                 {"variance_scaling", "scale"}));
}

struct PresetCase {
  const char* name;
  Initializer initializer;
  Initializer as_variance_scaling;
  double variance;  // on [400, 600]
  bool uniform;
};

TEST(VarianceScalingPresets, GlorotHeLecunOnFourHundredBySixHundred) {
  // On [400, 600]: fan_in 400, fan_out 600, fan_in + fan_out 1000.
  //   glorot_uniform  limit sqrt(6/1000) = 0.0774597, variance limit²/3 = 2e-3
  //   glorot_normal   variance 2/1000 = 2e-3
  //   he_uniform      limit sqrt(6/400) = 0.1224745, variance 2/400 = 5e-3
  //   he_normal       variance 2/400 = 5e-3
  //   lecun_uniform   limit sqrt(3/400) = 0.0866025, variance 1/400 = 2.5e-3
  //   lecun_normal    variance 1/400 = 2.5e-3
  const std::vector<PresetCase> cases = {
      {"glorot_uniform", init::glorot_uniform(),
       init::variance_scaling(1.0, FanMode::fan_avg, Distribution::uniform), 2e-3, true},
      {"glorot_normal", init::glorot_normal(),
       init::variance_scaling(1.0, FanMode::fan_avg, Distribution::truncated_normal), 2e-3, false},
      {"he_uniform", init::he_uniform(),
       init::variance_scaling(2.0, FanMode::fan_in, Distribution::uniform), 5e-3, true},
      {"he_normal", init::he_normal(),
       init::variance_scaling(2.0, FanMode::fan_in, Distribution::truncated_normal), 5e-3, false},
      {"lecun_uniform", init::lecun_uniform(),
       init::variance_scaling(1.0, FanMode::fan_in, Distribution::uniform), 2.5e-3, true},
      {"lecun_normal", init::lecun_normal(),
       init::variance_scaling(1.0, FanMode::fan_in, Distribution::truncated_normal), 2.5e-3, false},
  };
  std::uint64_t seed = 40;
  for (const PresetCase& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(c.initializer, c.as_variance_scaling);
    EXPECT_EQ(c.initializer.name(), c.name);
    xgrad::manual_seed(seed++);
    const Array<double> w = c.initializer.draw<double>(big);
    const Moments m = moments(w);
    if (c.uniform) {
      const double limit = std::sqrt(3 * c.variance);
      EXPECT_LT(m.max, limit);
      EXPECT_GE(m.min, -limit);
      EXPECT_GT(m.max, 0.999 * limit);
      expect_moments(w, 0.0, c.variance, kurtosis_uniform);
    } else {
      const double bound = 2 * std::sqrt(c.variance) / keras_correction;
      EXPECT_LE(m.max, bound);
      EXPECT_GE(m.min, -bound);
      expect_moments(w, 0.0, c.variance, kurtosis_truncated);
    }
  }
  // The direct forms draw the same numbers from the same seed.
  xgrad::manual_seed(50);
  const Array<float> a = init::he_normal<float>({20, 30});
  xgrad::manual_seed(50);
  EXPECT_EQ(a, init::he_normal().draw<float>({20, 30}));
  xgrad::manual_seed(51);
  const Array<double> b = init::glorot_uniform<double>({20, 30});
  xgrad::manual_seed(51);
  EXPECT_EQ(b, init::glorot_uniform().draw<double>({20, 30}));
}

// ---------------------------------------------------------------- orthogonal

TEST(Orthogonal, OrthonormalColumnsOrRowsTimesGain) {
  xgrad::manual_seed(60);
  // Tall [50, 20]: QᵀQ = I. Wide [20, 50]: Q Qᵀ = I. Square: both.
  EXPECT_LE(column_gram_error(init::orthogonal<double>({50, 20})), 1e-12);
  EXPECT_LE(column_gram_error(Array<double>(xt::transpose(init::orthogonal<double>({20, 50})))), 1e-12);
  const Array<double> square = init::orthogonal<double>({30, 30});
  EXPECT_LE(column_gram_error(square), 1e-12);
  EXPECT_LE(column_gram_error(Array<double>(xt::transpose(square))), 1e-12);
  // Rank 3 [2, 3, 4]: Keras flattens to [6, 4] (rows = 2 · 3).
  Array<double> rank3 = init::orthogonal<double>({2, 3, 4});
  ASSERT_EQ(xgrad::shape_to_string(rank3.shape()), "(2, 3, 4)");
  rank3.reshape({6, 4});
  EXPECT_LE(column_gram_error(rank3), 1e-12);
  // gain 0.5: QᵀQ = 0.25 I.
  const Array<double> scaled = init::orthogonal(0.5).draw<double>({10, 10});
  EXPECT_LE(column_gram_error(scaled, 0.5), 1e-12);
  EXPECT_GT(column_gram_error(scaled, 1.0), 0.5);
  // float, computed in double and rounded once.
  const Array<float> q32 = init::orthogonal<float>({12, 8});
  EXPECT_LE(column_gram_error(Array<double>(xt::cast<double>(q32))), 1e-5);
}

TEST(Orthogonal, NeedsRankTwo) {
  EXPECT_TRUE(throws_with<std::invalid_argument>([] { init::orthogonal<double>({4}); },
                                                 {"orthogonal", "(4,)", "rank 2"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([] { init::orthogonal().draw<float>({}); },
                                                 {"orthogonal", "()"}));
}

// ---------------------------------------------------------------- seeds

TEST(Initializers, ReproducibleWithManualSeed) {
  const std::vector<Initializer> random = {
      init::random_uniform(), init::random_normal(), init::truncated_normal(),
      init::glorot_uniform(), init::glorot_normal(), init::he_uniform(),
      init::he_normal(),      init::lecun_uniform(), init::lecun_normal(),
      init::orthogonal(),     init::variance_scaling(1.5, FanMode::fan_out, Distribution::untruncated_normal)};
  for (const Initializer& i : random) {
    SCOPED_TRACE(i.describe());
    xgrad::manual_seed(70);
    const Array<double> a = i.draw<double>({6, 5});
    const Array<double> b = i.draw<double>({6, 5});
    xgrad::manual_seed(70);
    const Array<double> c = i.draw<double>({6, 5});
    EXPECT_EQ(a, c);  // same seed, same numbers
    EXPECT_NE(a, b);  // the generator moves on
    xgrad::manual_seed(70);
    const Array<float> f = i.draw<float>({6, 5});
    EXPECT_LE(xt::amax(xt::abs(xt::cast<double>(f) - a))(), 1e-6);  // float: the same draws, rounded
  }
}

// ---------------------------------------------------------------- names

TEST(InitializerFromName, KerasNamesClassNamesAndAliases) {
  const std::vector<std::pair<std::string, Initializer>> cases = {
      {"zeros", init::zeros()},
      {"Zeros", init::zeros()},
      {"zero", init::zeros()},
      {"ones", init::ones()},
      {"one", init::ones()},
      {"constant", init::constant(0.0)},
      {"Constant", init::constant(0.0)},
      {"random_uniform", init::random_uniform(-0.05, 0.05)},
      {"uniform", init::random_uniform(-0.05, 0.05)},
      {"RandomUniform", init::random_uniform(-0.05, 0.05)},
      {"random_normal", init::random_normal(0.0, 0.05)},
      {"normal", init::random_normal(0.0, 0.05)},
      {"truncated_normal", init::truncated_normal(0.0, 0.05)},
      {"TruncatedNormal", init::truncated_normal(0.0, 0.05)},
      {"variance_scaling", init::variance_scaling(1.0, FanMode::fan_in, Distribution::truncated_normal)},
      {"glorot_uniform", init::glorot_uniform()},
      {"GlorotUniform", init::glorot_uniform()},
      {"glorot_normal", init::glorot_normal()},
      {"he_uniform", init::he_uniform()},
      {"he_normal", init::he_normal()},
      {"HeNormal", init::he_normal()},
      {"lecun_uniform", init::lecun_uniform()},
      {"lecun_normal", init::lecun_normal()},
      {"orthogonal", init::orthogonal(1.0)},
      {"Orthogonal", init::orthogonal(1.0)},
      {"OrthogonalInitializer", init::orthogonal(1.0)},
      {"identity", init::identity(1.0)},
      {"Identity", init::identity(1.0)},
  };
  for (const auto& [name, expected] : cases) {
    SCOPED_TRACE(name);
    EXPECT_EQ(nn::initializer_from_name(name), expected);
  }
  // name() gives back a name that finds the same initializer.
  for (const auto& entry : cases)
    EXPECT_EQ(nn::initializer_from_name(entry.second.name()), entry.second) << entry.first;
  // Different parameters are different initializers.
  EXPECT_NE(init::constant(1.0), init::constant(2.0));
  EXPECT_NE(init::he_normal(), init::he_uniform());
  EXPECT_NE(init::orthogonal(1.0), init::identity(1.0));
}

TEST(InitializerFromName, UnknownNamesListTheKnownOnes) {
  // Keras' lookup is case-sensitive.
  for (const char* bad : {"he_norm", "HE_NORMAL", "", "xavier"}) {
    EXPECT_TRUE(throws_with<std::invalid_argument>(
        [&] { nn::initializer_from_name(bad); },
        {"initializer_from_name", "'" + std::string(bad) + "'", "he_normal", "glorot_uniform", "orthogonal"}))
        << bad;
  }
}

TEST(Initializers, DescribeAndParameterChecks) {
  EXPECT_EQ(init::random_uniform().describe(), "random_uniform(minval=-0.05, maxval=0.05)");
  EXPECT_EQ(init::truncated_normal().describe(), "truncated_normal(mean=0, stddev=0.05)");
  EXPECT_EQ(init::he_normal().describe(), "he_normal");
  EXPECT_EQ(init::variance_scaling(3.0, FanMode::fan_avg, Distribution::uniform).describe(),
            "variance_scaling(scale=3, mode=fan_avg, distribution=uniform)");
  EXPECT_EQ(init::orthogonal(2.0).describe(), "orthogonal(gain=2)");

  EXPECT_TRUE(throws_with<std::invalid_argument>([] { init::random_uniform(1.0, 0.0); },
                                                 {"random_uniform", "minval", "maxval"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([] { init::random_normal(0.0, -1.0); },
                                                 {"random_normal", "stddev", "-1"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([] { init::truncated_normal<float>({2}, 0.0, -0.5); },
                                                 {"truncated_normal", "stddev"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([] { init::orthogonal(std::nan("")); },
                                                 {"orthogonal", "gain"}));
  // A hand-built value is checked when it draws.
  Initializer bad = init::random_normal();
  bad.stddev = -2.0;
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { bad.draw<double>({2, 2}); }, {"stddev"}));
}

// Keras' seed=: a seeded initializer gives the same values at every call
// (Keras: "an initializer seeded with an integer ... will produce the same
// random values across multiple calls"), another seed other values, and it
// leaves xgrad::generator() where it was.
TEST(Initializer, ASeedGivesTheSameValuesAtEveryCall) {
  const nn::Initializer seeded = init::glorot_uniform().with_seed(7);
  const xgrad::Generator before = xgrad::generator();
  const Array<float> first = seeded.draw<float>({4, 3});
  EXPECT_TRUE(xgrad::generator() == before);
  EXPECT_EQ(seeded.draw<float>({4, 3}), first);
  EXPECT_NE(init::glorot_uniform().with_seed(8).draw<float>({4, 3}), first);
  xgrad::Generator seven(7);
  xgrad::GeneratorGuard use(seven);
  EXPECT_EQ(init::glorot_uniform<float>({4, 3}), first);  // = drawing from Generator(7)
  EXPECT_NE(seeded, init::glorot_uniform());
  EXPECT_EQ(seeded.describe(), "glorot_uniform with seed 7");
}

}  // namespace
