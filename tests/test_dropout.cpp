// Dropout and Masking: the keep rate and 1 / (1 - rate) scale of inverted
// dropout, masks shared along noise_shape's size-1 axes, eval mode, seeds,
// gradients (mask x scale), and Masking's mask, zeroed steps and gradient.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test_helpers.hpp"
#include "xgrad/autograd/gradcheck.hpp"
#include "xgrad/autograd/math_ops.hpp"
#include "xgrad/autograd/ops.hpp"
#include "xgrad/autograd/variable.hpp"
#include "xgrad/nn/dropout.hpp"
#include "xgrad/nn/masking.hpp"
#include "xgrad/tensor/tensor.hpp"

namespace {

namespace nn = xgrad::nn;
using xgrad::Array;
using xgrad::Shape;
using xgrad::Variable;
using xgrad::test::gradcheck_passes;
using xgrad::test::shape_is;
using xgrad::test::throws_with;

// ---------------------------------------------------------------- Dropout

TEST(Dropout, KeepsOneMinusRateOfTheEntries) {
  xgrad::manual_seed(2024);
  const std::size_t n = 200 * 500;
  const Variable<float> x(xgrad::ones<float>({200, 500}));
  for (const double rate : {0.1, 0.5, 0.9}) {
    nn::Dropout<float> layer{nn::DropoutOptions(rate)};
    const Array<float> y = layer(x).value();
    const auto kept = static_cast<double>(std::count_if(y.begin(), y.end(), [](float v) { return v != 0.0f; }));
    // The kept count is Binomial(n, p = 1 - rate): the fraction's standard
    // error is sqrt(p (1 - p) / n), 0.00095 to 0.0016 here; 4 standard errors
    // (a false alarm once in ~16,000 seeds) still catch p and rate swapped.
    const double p = 1.0 - rate;
    const double standard_error = std::sqrt(p * (1.0 - p) / static_cast<double>(n));
    EXPECT_NEAR(kept / static_cast<double>(n), p, 4.0 * standard_error) << "rate " << rate;
  }
}

TEST(Dropout, ScalesKeptValuesByOneOverOneMinusRate) {
  xgrad::manual_seed(5);
  const Variable<double> x(xgrad::uniform<double>({40, 30}, 1.0, 2.0));  // no zeros of its own
  nn::Dropout<double> layer{nn::DropoutOptions(0.25)};
  const Array<double> y = layer(x).value();
  std::size_t kept = 0, dropped = 0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    if (y.flat(i) == 0.0) {
      ++dropped;
    } else {
      ++kept;
      EXPECT_DOUBLE_EQ(y.flat(i), x.value().flat(i) / 0.75) << "entry " << i;
    }
  }
  EXPECT_GT(kept, 0u);
  EXPECT_GT(dropped, 0u);
}

TEST(Dropout, NoiseShapeSharesOneMaskPerSequenceAcrossTimesteps) {
  const std::size_t B = 8, T = 6, F = 5;
  const Variable<double> x(xgrad::ones<double>({B, T, F}));
  nn::Dropout<double> layer(nn::DropoutOptions(0.5).noise_shape({-1, 1, -1}).seed(1));
  EXPECT_EQ(layer.noise_shape_for({B, T, F}), (Shape{B, 1, F}));
  const Array<double> y = layer(x).value();
  std::size_t kept = 0;
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t f = 0; f < F; ++f) {
      for (std::size_t t = 1; t < T; ++t)
        EXPECT_EQ(y(b, t, f), y(b, 0, f)) << "b " << b << " t " << t << " f " << f;
      kept += y(b, 0, f) != 0.0;
    }
  // Not one draw broadcast everywhere: the 40 (b, f) pairs differ.
  EXPECT_GT(kept, 0u);
  EXPECT_LT(kept, B * F);

  // {1, -1, 1}: one draw per timestep, shared by the whole batch.
  nn::Dropout<double> per_step(nn::DropoutOptions(0.5).noise_shape({1, -1, 1}).seed(2));
  const Array<double> z = per_step(x).value();
  std::size_t steps_kept = 0;
  for (std::size_t t = 0; t < T; ++t) {
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t f = 0; f < F; ++f) EXPECT_EQ(z(b, t, f), z(0, t, 0));
    steps_kept += z(0, t, 0) != 0.0;
  }
  EXPECT_GT(steps_kept, 0u);
  EXPECT_LT(steps_kept, T);
}

// Keras' SpatialDropout1D is the Dropout above with noise_shape {-1, 1, -1}:
// the same seed draws the same channels.
TEST(SpatialDropout1D, DropsWholeChannelsAsDropoutWithAPerSequenceNoiseShape) {
  const Variable<double> x(xgrad::uniform<double>({8, 6, 5}, 0.5, 1.5));
  nn::SpatialDropout1D<double> spatial(nn::SpatialDropout1DOptions(0.5).seed(3));
  nn::Dropout<double> dropout(nn::DropoutOptions(0.5).noise_shape({-1, 1, -1}).seed(3));
  EXPECT_EQ(spatial(x).value(), dropout(x).value());
  EXPECT_EQ(spatial.name(), "spatial_dropout1d");
  spatial.eval();
  EXPECT_EQ(spatial(x).value(), x.value());
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { spatial(Variable<double>(xgrad::ones<double>({2, 3}))); },
                                                 {"SpatialDropout1D 'spatial_dropout1d'", "rank 3", "(2, 3)"}));
  EXPECT_THROW(nn::SpatialDropout1D<double>(nn::SpatialDropout1DOptions(1.0)), std::invalid_argument);
}

TEST(Dropout, IsTheIdentityInEvalModeAndForRateZero) {
  const Variable<float> x(xgrad::ones<float>({10, 10}), true);
  nn::Dropout<float> layer{nn::DropoutOptions(0.5)};
  layer.eval();
  const xgrad::Generator before = xgrad::generator();
  const Variable<float> y = layer(x);
  EXPECT_TRUE(y.same_node(x));
  EXPECT_TRUE(xgrad::generator() == before);  // nothing drawn
  layer.train();
  EXPECT_NE(layer(x).value(), x.value());  // back in training: 100 entries, some dropped

  nn::Dropout<float> none{nn::DropoutOptions(0.0)};
  EXPECT_TRUE(none(x).same_node(x));
}

TEST(Dropout, ASeedMakesMasksReproducibleWithoutTheGlobalGenerator) {
  const Variable<double> x(xgrad::ones<double>({20, 20}));
  nn::Dropout<double> a(nn::DropoutOptions(0.5).seed(42));
  nn::Dropout<double> b(nn::DropoutOptions(0.5).seed(42));
  const xgrad::Generator before = xgrad::generator();
  const Array<double> first = a(x).value();
  EXPECT_TRUE(xgrad::generator() == before);  // the seeded layer has its own generator
  xgrad::manual_seed(999);
  xgrad::uniform<double>({7}, 0.0, 1.0);  // global draws in between change nothing
  EXPECT_EQ(b(x).value(), first);
  // Each call draws a new mask, in the same sequence for both layers.
  const Array<double> second = a(x).value();
  EXPECT_NE(second, first);
  EXPECT_EQ(b(x).value(), second);
  nn::Dropout<double> other(nn::DropoutOptions(0.5).seed(43));
  EXPECT_NE(other(x).value(), first);

  // Without a seed, xgrad's global generator decides.
  nn::Dropout<double> unseeded{nn::DropoutOptions(0.5)};
  xgrad::manual_seed(7);
  const Array<double> u1 = unseeded(x).value();
  EXPECT_FALSE(xgrad::generator() == xgrad::Generator(7));  // it drew from the global one
  xgrad::manual_seed(7);
  EXPECT_EQ(unseeded(x).value(), u1);
}

TEST(Dropout, GradientIsTheMaskTimesTheScale) {
  xgrad::manual_seed(8);
  const double rate = 0.4;
  const std::uint64_t seed = 17;
  const Variable<double> x(xgrad::uniform<double>({6, 7}, -1.0, 1.0), true);
  // The Jacobian of a freshly seeded layer: the same mask at every call.
  EXPECT_TRUE(gradcheck_passes(
      [&](const std::vector<Variable<double>>& in) {
        nn::Dropout<double> layer(nn::DropoutOptions(rate).seed(seed));
        return layer(in[0]);
      },
      {x}));

  // And exactly: dL/dx = g * mask, the mask being the one dropout_mask draws
  // from a generator seeded alike (the layer's documented behaviour).
  nn::Dropout<double> layer(nn::DropoutOptions(rate).seed(seed));
  Variable<double> y = layer(x);
  const Array<double> g = xgrad::uniform<double>({6, 7}, -1.0, 1.0);
  y.backward(g);
  xgrad::Generator same(seed);
  const Array<double> mask = nn::dropout_mask<double>({6, 7}, rate, same);
  EXPECT_EQ(x.grad(), Array<double>(g * mask));
  EXPECT_EQ(y.value(), Array<double>(x.value() * mask));
  EXPECT_TRUE(std::any_of(mask.begin(), mask.end(), [](double m) { return m == 0.0; }));
}

TEST(Dropout, GradcheckWithASharedMaskThroughALoss) {
  xgrad::manual_seed(9);
  const Variable<double> x(xgrad::uniform<double>({3, 4, 2}, -1.0, 1.0), true);
  const Variable<double> w(xgrad::uniform<double>({3, 4, 2}, -1.0, 1.0));
  EXPECT_TRUE(gradcheck_passes(
      [w](const std::vector<Variable<double>>& in) {
        nn::Dropout<double> layer(nn::DropoutOptions(0.5).noise_shape({-1, 1, -1}).seed(3));
        return xgrad::sum(xgrad::mul(xgrad::tanh(layer(in[0])), w));
      },
      {x}));
}

TEST(Dropout, DropoutMaskHoldsZerosAndTheScale) {
  xgrad::Generator generator(123);
  const Array<float> mask = nn::dropout_mask<float>({50, 40}, 0.2, generator);
  ASSERT_TRUE(shape_is(mask, {50, 40}));
  EXPECT_TRUE(std::all_of(mask.begin(), mask.end(),
                          [](float m) { return m == 0.0f || m == static_cast<float>(1.0 / 0.8); }));
  EXPECT_TRUE(std::any_of(mask.begin(), mask.end(), [](float m) { return m == 0.0f; }));
  const Array<float> none = nn::dropout_mask<float>({3, 3}, 0.0, generator);
  EXPECT_EQ(none, xgrad::ones<float>({3, 3}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { nn::dropout_mask<float>({2}, 1.0, generator); }, {"dropout_mask", "rate", "[0, 1)"}));
}

TEST(Dropout, RejectsBadRatesAndNoiseShapes) {
  for (const double rate : {-0.1, 1.0, 1.5, std::numeric_limits<double>::quiet_NaN()}) {
    EXPECT_TRUE(throws_with<std::invalid_argument>(
        [&] { nn::Dropout<float> layer(nn::DropoutOptions(rate).name("drop")); },
        {"Dropout 'drop'", "rate must be in [0, 1)"}))
        << "rate " << rate;
  }
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [] { nn::Dropout<float> layer(nn::DropoutOptions(0.5).noise_shape({-1, 0})); },
      {"noise_shape", "(None, 0)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [] { nn::Dropout<float> layer(nn::DropoutOptions(0.5).noise_shape({-2})); },
      {"noise_shape", "positive or -1"}));

  nn::Dropout<float> layer(nn::DropoutOptions(0.5).noise_shape({-1, 1, -1}));
  const Variable<float> x2(xgrad::ones<float>({4, 5}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { layer(x2); }, {"Dropout 'dropout'", "(None, 1, None)", "rank", "(4, 5)"}));
  nn::Dropout<float> wrong(nn::DropoutOptions(0.5).noise_shape({-1, 3, -1}));
  const Variable<float> x3(xgrad::ones<float>({4, 5, 2}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { wrong(x3); }, {"(None, 3, None)", "does not broadcast", "axis 1", "(4, 5, 2)"}));
}

// ---------------------------------------------------------------- Masking

TEST(Masking, MaskIsTrueWhereAnyFeatureDiffersFromMaskValue) {
  Array<double> x = {{{1.0, 2.0, 3.0}, {0.0, 0.0, 0.0}, {0.0, 0.0, 0.5}, {0.0, 0.0, 0.0}},
                     {{0.0, 0.0, 0.0}, {-1.0, 0.0, 0.0}, {4.0, 4.0, 4.0}, {0.0, 7.0, 0.0}}};
  nn::Masking<double> masking;  // mask_value 0.0, Keras' default
  EXPECT_EQ(masking.options().mask_value(), 0.0);
  EXPECT_EQ(masking.name(), "masking");
  const xt::xarray<bool> mask = masking.compute_mask(Variable<double>(x));
  ASSERT_TRUE(shape_is(mask, {2, 4}));
  const bool expected[2][4] = {{true, false, true, false}, {false, true, true, true}};
  for (std::size_t b = 0; b < 2; ++b)
    for (std::size_t t = 0; t < 4; ++t) EXPECT_EQ(mask(b, t), expected[b][t]) << b << ", " << t;

  nn::Masking<double> fours(nn::MaskingOptions().mask_value(4.0));
  const xt::xarray<bool> mask4 = fours.compute_mask(x);
  EXPECT_FALSE(mask4(1, 2));
  EXPECT_TRUE(mask4(0, 1));
}

TEST(Masking, ZeroesTheMaskedTimesteps) {
  xgrad::manual_seed(21);
  Array<double> x = xgrad::uniform<double>({2, 4, 3}, -1.0, 1.0);
  for (std::size_t f = 0; f < 3; ++f) {
    x(0, 2, f) = 5.0;
    x(1, 0, f) = 5.0;
  }
  x(1, 3, 1) = 5.0;  // one feature equal to mask_value: the step is kept
  nn::Masking<double> masking(nn::MaskingOptions().mask_value(5.0));
  const Array<double> y = masking(Variable<double>(x)).value();
  ASSERT_TRUE(shape_is(y, {2, 4, 3}));
  for (std::size_t b = 0; b < 2; ++b)
    for (std::size_t t = 0; t < 4; ++t)
      for (std::size_t f = 0; f < 3; ++f) {
        const bool masked = (b == 0 && t == 2) || (b == 1 && t == 0);
        EXPECT_EQ(y(b, t, f), masked ? 0.0 : x(b, t, f)) << b << ", " << t << ", " << f;
      }
}

TEST(Masking, GradientIsTheUpstreamGradientTimesTheMask) {
  xgrad::manual_seed(22);
  Array<double> values = xgrad::uniform<double>({2, 3, 2}, -1.0, 1.0);
  for (std::size_t f = 0; f < 2; ++f) values(1, 1, f) = 0.0;  // masked step
  Variable<double> x(values, true);
  nn::Masking<double> masking;
  Variable<double> y = masking(x);
  const Array<double> g = xgrad::uniform<double>({2, 3, 2}, -1.0, 1.0);
  y.backward(g);
  for (std::size_t b = 0; b < 2; ++b)
    for (std::size_t t = 0; t < 3; ++t)
      for (std::size_t f = 0; f < 2; ++f)
        EXPECT_EQ(x.grad()(b, t, f), (b == 1 && t == 1) ? 0.0 : g(b, t, f));

  // gradcheck through a loss. A perturbation of a masked step would unmask
  // it (the mask is a step function, held constant by the gradient, as in
  // Keras), so the padding is a constant spliced between checked inputs.
  const Variable<double> a(xgrad::uniform<double>({2, 2, 3}, -1.0, 1.0), true);
  const Variable<double> c(xgrad::uniform<double>({2, 1, 3}, -1.0, 1.0), true);
  const Variable<double> padding(xgrad::zeros<double>({2, 1, 3}));
  const Variable<double> w(xgrad::uniform<double>({2, 4, 3}, -1.0, 1.0));
  EXPECT_TRUE(gradcheck_passes(
      [padding, w](const std::vector<Variable<double>>& in) {
        nn::Masking<double> layer;
        const Variable<double> joined = xgrad::concat<double>({in[0], padding, in[1]}, 1);
        return xgrad::sum(xgrad::mul(xgrad::tanh(layer(joined)), w));
      },
      {a, c}));
}

TEST(Masking, ComparesInTheInputsTypeAndKeepsNaN) {
  nn::Masking<float> tenths(nn::MaskingOptions().mask_value(0.1));
  const Array<float> x = {{{0.1f, 0.1f}, {0.1f, 0.2f}}};
  const xt::xarray<bool> mask = tenths.compute_mask(x);
  EXPECT_FALSE(mask(0, 0));  // 0.1f matches 0.1 taken as a float, as Keras compares
  EXPECT_TRUE(mask(0, 1));

  const double nan = std::numeric_limits<double>::quiet_NaN();
  nn::Masking<double> nan_masking(nn::MaskingOptions().mask_value(nan));
  const Array<double> with_nan = {{{nan, nan}}};
  EXPECT_TRUE(nan_masking.compute_mask(with_nan)(0, 0));  // NaN != NaN

  nn::Masking<double> masking;
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { masking(Variable<double>(Array<double>(3.0))); }, {"Masking 'masking'", "rank", "()"}));
}

}  // namespace
