// Optimizers and clip_grad_norm.
//
// The trajectories below minimise f(p) = sum((p - c)^2), gradient 2 (p - c),
// from p0 = [1, -2, 0.5] with c = [0.5, 1, -1.5]. The expected values were
// computed independently, in float64, by this NumPy 1.24 script (Debian's
// /usr/bin/python3), written from Keras 3's update rules
// (keras/src/optimizers/{sgd,rmsprop,adam}.py):
//
//   import numpy as np
//   c = np.array([0.5, 1.0, -1.5]); p0 = np.array([1.0, -2.0, 0.5])
//   grad = lambda p: 2.0 * (p - c)
//   def sgd(lr, momentum=0.0, nesterov=False):
//       p = p0.copy(); v = np.zeros(3); out = []
//       for _ in range(4):
//           g = grad(p)
//           if momentum == 0: p = p - lr * g
//           else:
//               v = momentum * v - lr * g
//               p = p + (momentum * v - lr * g if nesterov else v)
//           out.append(p.copy())
//       return out
//   def rmsprop(lr, rho=0.9, momentum=0.0, eps=1e-7, centered=False):
//       p = p0.copy(); v = np.zeros(3); a = np.zeros(3); m = np.zeros(3); out = []
//       for _ in range(4):
//           g = grad(p)
//           v = rho * v + (1 - rho) * g * g
//           if centered:
//               a = rho * a + (1 - rho) * g; d = v - a * a + eps
//           else:
//               d = v + eps
//           inc = lr * g / np.sqrt(d)
//           if momentum > 0: m = momentum * m + inc; p = p - m
//           else: p = p - inc
//           out.append(p.copy())
//       return out
//   def adam(lr, b1=0.9, b2=0.999, eps=1e-7, amsgrad=False):
//       p = p0.copy(); m = np.zeros(3); v = np.zeros(3); vh = np.zeros(3); out = []
//       for t in range(1, 5):
//           g = grad(p)
//           alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
//           m = m + (g - m) * (1 - b1); v = v + (g * g - v) * (1 - b2)
//           if amsgrad: vh = np.maximum(vh, v); vv = vh
//           else: vv = v
//           p = p - alpha * m / (np.sqrt(vv) + eps)
//           out.append(p.copy())
//       return out
//   # printed with repr(float(x)) for every step of e.g. sgd(0.1, 0.9, True)
//
// Each variant's trajectory differs from the plain one's, so a variant that
// is ignored fails its test.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_helpers.hpp"
#include "xgrad/autograd/ops.hpp"
#include "xgrad/nn/dense.hpp"
#include "xgrad/nn/optimizers.hpp"
#include "xgrad/nn/simple_rnn.hpp"

namespace {

using xgrad::Array;
using xgrad::Variable;
namespace nn = xgrad::nn;
using xgrad::test::throws_with;

using Trajectory = std::vector<std::vector<double>>;

template <typename T>
Variable<T> quadratic_loss(const Variable<T>& p) {
  const Variable<T> c(Array<T>{T(0.5), T(1.0), T(-1.5)});
  const Variable<T> d = p - c;
  return xgrad::sum(d * d);
}

template <typename T>
Variable<T> start_point() {
  return Variable<T>(Array<T>{T(1.0), T(-2.0), T(0.5)}, true);
}

// Runs `optimizer` over the quadratic for expected.size() steps and checks
// every step's parameters.
template <typename T>
void expect_trajectory(nn::Optimizer<T>& optimizer, Variable<T> p, const Trajectory& expected,
                       double tolerance) {
  for (std::size_t step = 0; step < expected.size(); ++step) {
    optimizer.zero_grad();
    quadratic_loss(p).backward();
    optimizer.step();
    ASSERT_EQ(p.size(), expected[step].size());
    for (std::size_t i = 0; i < p.size(); ++i) {
      EXPECT_NEAR(static_cast<double>(p.value().flat(i)), expected[step][i], tolerance)
          << "step " << step + 1 << ", element " << i;
    }
  }
  EXPECT_EQ(optimizer.iterations(), expected.size());
}

constexpr double kTol64 = 1e-12;

// ---- SGD ----

TEST(SGD, PlainTrajectory) {
  // sgd(0.1)
  const Trajectory expected{{0.9, -1.4, 0.09999999999999998},
                            {0.8200000000000001, -0.9199999999999999, -0.22000000000000008},
                            {0.756, -0.5359999999999999, -0.47600000000000003},
                            {0.7048, -0.2287999999999999, -0.6808000000000001}};
  auto p = start_point<double>();
  nn::SGD<double> sgd({p}, nn::SGDOptions().learning_rate(0.1));
  expect_trajectory(sgd, p, expected, kTol64);
}

TEST(SGD, MomentumTrajectory) {
  // sgd(0.1, 0.9)
  const Trajectory expected{{0.9, -1.4, 0.09999999999999998},
                            {0.73, -0.3799999999999999, -0.5800000000000002},
                            {0.5309999999999999, 0.8140000000000001, -1.3760000000000003},
                            {0.3456999999999999, 1.9258, -2.1172000000000004}};
  auto p = start_point<double>();
  nn::SGD<double> sgd({p}, nn::SGDOptions().learning_rate(0.1).momentum(0.9));
  expect_trajectory(sgd, p, expected, kTol64);
}

TEST(SGD, NesterovTrajectory) {
  // sgd(0.1, 0.9, True)
  const Trajectory expected{{0.81, -0.8599999999999999, -0.26},
                            {0.6112, 0.3328000000000002, -1.0552000000000001},
                            {0.44582399999999994, 1.3250560000000005, -1.7167040000000002},
                            {0.33758847999999997, 1.9744691200000006, -2.14964608}};
  auto p = start_point<double>();
  nn::SGD<double> sgd({p}, nn::SGDOptions().learning_rate(0.1).momentum(0.9).nesterov(true));
  expect_trajectory(sgd, p, expected, kTol64);
}

TEST(SGD, FloatFollowsTheSameTrajectory) {
  const Trajectory expected{{0.81, -0.8599999999999999, -0.26},
                            {0.6112, 0.3328000000000002, -1.0552000000000001},
                            {0.44582399999999994, 1.3250560000000005, -1.7167040000000002},
                            {0.33758847999999997, 1.9744691200000006, -2.14964608}};
  auto p = start_point<float>();
  nn::SGD<float> sgd({p}, nn::SGDOptions().learning_rate(0.1).momentum(0.9).nesterov(true));
  expect_trajectory(sgd, p, expected, 1e-5);
}

TEST(SGD, DefaultsAreKeras) {
  const nn::SGDOptions options;
  EXPECT_EQ(options.learning_rate(), 0.01);
  EXPECT_EQ(options.momentum(), 0.0);
  EXPECT_FALSE(options.nesterov());
}

TEST(SGD, DefaultLearningRateIsUsed) {
  // One step of plain SGD with lr 0.01: p - 0.01 * 2 (p - c).
  auto p = start_point<double>();
  nn::SGD<double> sgd({p});
  quadratic_loss(p).backward();
  sgd.step();
  EXPECT_NEAR(p.value()(0), 1.0 - 0.01 * 1.0, kTol64);
  EXPECT_NEAR(p.value()(1), -2.0 - 0.01 * -6.0, kTol64);
  EXPECT_NEAR(p.value()(2), 0.5 - 0.01 * 4.0, kTol64);
}

// ---- RMSprop ----

TEST(RMSprop, PlainTrajectory) {
  // rmsprop(0.1)
  const Trajectory expected{{0.6837723920969265, -1.683772238375214, 0.18377224386527924},
                            {0.5695316087707909, -1.4668207843627252, -0.02612467323126358},
                            {0.5244353699745745, -1.2917657956004642, -0.1912821179584716},
                            {0.507753277040647, -1.1410569729901763, -0.33016017285630633}};
  auto p = start_point<double>();
  nn::RMSprop<double> rmsprop({p}, nn::RMSpropOptions().learning_rate(0.1));
  expect_trajectory(rmsprop, p, expected, kTol64);
}

TEST(RMSprop, MomentumTrajectory) {
  // rmsprop(0.1, momentum=0.5)
  const Trajectory expected{{0.6837723920969265, -1.683772238375214, 0.18377224386527924},
                            {0.4114178048192541, -1.3087069035503323, -0.184238551298624},
                            {0.33233187264003233, -0.954132989974758, -0.519944498387114},
                            {0.3999561540598768, -0.6420329766369492, -0.799260749653627}};
  auto p = start_point<double>();
  nn::RMSprop<double> rmsprop({p}, nn::RMSpropOptions().learning_rate(0.1).momentum(0.5));
  expect_trajectory(rmsprop, p, expected, kTol64);
}

TEST(RMSprop, CenteredTrajectory) {
  // rmsprop(0.1, centered=True)
  const Trajectory expected{{0.6666668518516974, -1.6666666718106993, 0.1666666782407401},
                            {0.5529349363252036, -1.4265238666340918, -0.06499361781872143},
                            {0.5148654380599829, -1.2236949906910835, -0.25465875429051754},
                            {0.5036572623334565, -1.0415276436071454, -0.4194138900184392}};
  auto p = start_point<double>();
  nn::RMSprop<double> rmsprop({p}, nn::RMSpropOptions().learning_rate(0.1).centered(true));
  expect_trajectory(rmsprop, p, expected, kTol64);
}

TEST(RMSprop, CenteredMomentumWithOtherRhoTrajectory) {
  // rmsprop(0.1, rho=0.8, momentum=0.5, centered=True)
  const Trajectory expected{{0.7500000781249634, -1.7500000021701387, 0.2500000048828123},
                            {0.492500394282836, -1.425051554807946, -0.0702171922884125},
                            {0.3679757654007256, -1.0830505838988356, -0.3970714583576702},
                            {0.37730913935777904, -0.74503665157945, -0.7027881667109843}};
  auto p = start_point<double>();
  nn::RMSprop<double> rmsprop(
      {p}, nn::RMSpropOptions().learning_rate(0.1).rho(0.8).momentum(0.5).centered(true));
  expect_trajectory(rmsprop, p, expected, kTol64);
}

TEST(RMSprop, DefaultsAreKeras) {
  const nn::RMSpropOptions options;
  EXPECT_EQ(options.learning_rate(), 0.001);
  EXPECT_EQ(options.rho(), 0.9);
  EXPECT_EQ(options.momentum(), 0.0);
  EXPECT_EQ(options.epsilon(), 1e-7);
  EXPECT_FALSE(options.centered());
}

// ---- Adam ----

TEST(Adam, PlainTrajectory) {
  // adam(0.1)
  const Trajectory expected{{0.900000316226766, -1.9000000527046, 0.400000079056879},
                            {0.8011879736307703, -1.8001027975857649, 0.30016662174147324},
                            {0.704871999501114, -1.700381644695592, 0.20062357482509519},
                            {0.6129162986359881, -1.6009136794602161, 0.10150511941371555}};
  auto p = start_point<double>();
  nn::Adam<double> adam({p}, nn::AdamOptions().learning_rate(0.1));
  expect_trajectory(adam, p, expected, kTol64);
}

TEST(Adam, FloatFollowsTheSameTrajectory) {
  const Trajectory expected{{0.900000316226766, -1.9000000527046, 0.400000079056879},
                            {0.8011879736307703, -1.8001027975857649, 0.30016662174147324},
                            {0.704871999501114, -1.700381644695592, 0.20062357482509519},
                            {0.6129162986359881, -1.6009136794602161, 0.10150511941371555}};
  auto p = start_point<float>();
  nn::Adam<float> adam({p}, nn::AdamOptions().learning_rate(0.1));
  expect_trajectory(adam, p, expected, 1e-5);
}

TEST(Adam, OtherBeta2Trajectory) {
  // adam(0.5, b2=0.5)
  const Trajectory expected{{0.5000000707106681, -1.5000000117851127, 1.7677668884275022e-08},
                            {0.08977752860757177, -0.988834982036436, -0.5159189470906823},
                            {0.09243084498127661, -0.4559689159518535, -1.0646330945756866},
                            {0.247126192731409, 0.114036236479641, -1.668087473293974}};
  auto p = start_point<double>();
  nn::Adam<double> adam({p}, nn::AdamOptions().learning_rate(0.5).beta_2(0.5));
  expect_trajectory(adam, p, expected, kTol64);
}

TEST(Adam, AmsgradTrajectory) {
  // adam(0.5, b2=0.5, amsgrad=True): v falls below its maximum from step 2
  // on, so the trajectory departs from the one above.
  const Trajectory expected{{0.5000000707106681, -1.5000000117851127, 1.7677668884275022e-08},
                            {0.20992891240200728, -0.988834982036436, -0.5159189470906823},
                            {0.1538268005867088, -0.4923964681058857, -0.9840536367919859},
                            {0.25047740970272797, -0.03733708334479596, -1.3775412110474017}};
  auto p = start_point<double>();
  nn::Adam<double> adam({p}, nn::AdamOptions().learning_rate(0.5).beta_2(0.5).amsgrad(true));
  expect_trajectory(adam, p, expected, kTol64);
}

TEST(Adam, DefaultsAreKeras) {
  const nn::AdamOptions options;
  EXPECT_EQ(options.learning_rate(), 0.001);
  EXPECT_EQ(options.beta_1(), 0.9);
  EXPECT_EQ(options.beta_2(), 0.999);
  EXPECT_EQ(options.epsilon(), 1e-7);
  EXPECT_FALSE(options.amsgrad());
}

TEST(Adam, FirstStepWithDefaults) {
  // By hand from Keras' rule at t = 1 with the defaults: m = 0.1 g,
  // v = 0.001 g^2, alpha = 0.001 sqrt(0.001) / 0.1, so the step is
  // 0.001 * s g / (s |g| + 1e-7) with s = sqrt(0.001): about lr in each
  // coordinate whatever the gradient's scale. g = 2 (p0 - c) = [1, -6, 4].
  auto p = start_point<double>();
  nn::Adam<double> adam({p});
  quadratic_loss(p).backward();
  adam.step();
  const double s = std::sqrt(0.001);
  const double g[] = {1.0, -6.0, 4.0}, p0[] = {1.0, -2.0, 0.5};
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_NEAR(p.value()(i), p0[i] - 0.001 * s * g[i] / (s * std::abs(g[i]) + 1e-7), 1e-15);
    EXPECT_NEAR(std::abs(p.value()(i) - p0[i]), 0.001, 1e-8);
  }
}

// ---- behaviour shared by all optimizers ----

using Factory = std::function<std::unique_ptr<nn::Optimizer<double>>(std::vector<Variable<double>>)>;

std::vector<std::pair<std::string, Factory>> all_optimizers() {
  return {
      {"SGD", [](auto ps) { return std::make_unique<nn::SGD<double>>(ps, nn::SGDOptions().momentum(0.9)); }},
      {"RMSprop",
       [](auto ps) {
         return std::make_unique<nn::RMSprop<double>>(ps, nn::RMSpropOptions().momentum(0.5).centered(true));
       }},
      {"Adam", [](auto ps) { return std::make_unique<nn::Adam<double>>(ps, nn::AdamOptions().amsgrad(true)); }},
  };
}

TEST(Optimizers, SkipParametersWithoutAGradient) {
  for (const auto& [name, make] : all_optimizers()) {
    SCOPED_TRACE(name);
    auto used = start_point<double>();
    Variable<double> unused(Array<double>{3.0, 4.0}, true);
    auto optimizer = make({used, unused});
    for (int i = 0; i < 3; ++i) {
      optimizer->zero_grad();
      quadratic_loss(used).backward();
      optimizer->step();
    }
    EXPECT_EQ(unused.value(), (Array<double>{3.0, 4.0}));
    EXPECT_FALSE(unused.has_grad());
    EXPECT_NE(used.value(), (Array<double>{1.0, -2.0, 0.5}));
    EXPECT_EQ(optimizer->iterations(), 3u);
  }
}

// The gradient hook runs in step() before clipping and the updates, on
// every parameter; it may give a gradient to one without.
TEST(Optimizers, GradientHookRunsBeforeClippingAndTheUpdates) {
  Variable<double> a(Array<double>{1.0, 1.0}, true), b(Array<double>{1.0}, true);
  nn::SGD<double> sgd({a, b}, nn::SGDOptions().learning_rate(1.0).global_clipnorm(5.0));
  std::size_t calls = 0;
  sgd.set_gradient_hook([&](const std::vector<Variable<double>>& parameters) {
    ++calls;
    ASSERT_EQ(parameters.size(), 2u);
    Variable<double> first = parameters[0], second = parameters[1];
    first.grad_buffer() *= 100.0;                    // [300, 400]: norm 500, clipped to 5
    second.add_grad(Array<double>{0.0});             // b had none: now a zero gradient
  });
  a.add_grad(Array<double>{3.0, 4.0});
  sgd.step();
  EXPECT_EQ(calls, 1u);
  EXPECT_NEAR(a.value()(0), 1.0 - 3.0, 1e-12);
  EXPECT_NEAR(a.value()(1), 1.0 - 4.0, 1e-12);
  EXPECT_TRUE(b.has_grad());
  EXPECT_EQ(b.value()(0), 1.0);
  sgd.set_gradient_hook(nullptr);
  sgd.step();
  EXPECT_EQ(calls, 1u);
}

// ------------------------------------------ clipnorm, clipvalue, weight_decay
// Keras 3's base optimizer (keras/src/optimizers/base_optimizer.py): each
// gradient clipped on its own, g · c / max(‖g‖, c), or to [−c, c]; then
// p −= p · weight_decay · lr; then the update.

TEST(Optimizers, ClipnormClipsEachGradientOnItsOwn) {
  Variable<double> a(Array<double>{1.0, 1.0}, true), b(Array<double>{1.0, 1.0}, true);
  nn::SGD<double> sgd({a, b}, nn::SGDOptions().learning_rate(1.0).clipnorm(2.0));
  EXPECT_EQ(sgd.clipnorm(), 2.0);
  a.add_grad(Array<double>{3.0, 4.0});  // norm 5: scaled to norm 2, (1.2, 1.6)
  b.add_grad(Array<double>{0.6, 0.8});  // norm 1: unchanged
  sgd.step();
  EXPECT_NEAR(a.value()(0), 1.0 - 1.2, 1e-15);
  EXPECT_NEAR(a.value()(1), 1.0 - 1.6, 1e-15);
  EXPECT_EQ(b.value(), (Array<double>{1.0 - 0.6, 1.0 - 0.8}));
  // A non-finite norm leaves the gradient alone, as global_clipnorm does.
  Variable<double> c(Array<double>{0.0, 0.0}, true);
  nn::SGD<double> clipped({c}, nn::SGDOptions().learning_rate(1.0).clipnorm(1.0));
  c.add_grad(Array<double>{INFINITY, 1.0});
  clipped.step();
  EXPECT_EQ(c.value()(0), -INFINITY);
  EXPECT_EQ(c.value()(1), -1.0);
}

TEST(Optimizers, ClipvalueClipsEachElement) {
  Variable<double> p(Array<double>{0.0, 0.0, 0.0}, true);
  nn::RMSprop<double> unused({p}, nn::RMSpropOptions().clipvalue(1.0));
  EXPECT_EQ(unused.clipvalue(), 1.0);
  nn::SGD<double> sgd({p}, nn::SGDOptions().learning_rate(1.0).clipvalue(1.0));
  p.add_grad(Array<double>{3.0, -4.0, 0.5});
  sgd.step();
  EXPECT_EQ(p.value(), (Array<double>{-1.0, 1.0, -0.5}));
}

TEST(Optimizers, WeightDecayShrinksParametersWithAGradientBeforeTheUpdate) {
  // SGD, lr 0.1, weight_decay 0.5: p − p · 0.5 · 0.1, then − 0.1 · g.
  Variable<double> p(Array<double>{2.0, -4.0}, true), frozen(Array<double>{3.0}, true);
  nn::SGD<double> sgd({p, frozen}, nn::SGDOptions().learning_rate(0.1).weight_decay(0.5));
  EXPECT_EQ(sgd.weight_decay(), 0.5);
  p.add_grad(Array<double>{1.0, 1.0});
  sgd.step();
  EXPECT_NEAR(p.value()(0), 2.0 - 2.0 * 0.05 - 0.1, 1e-15);
  EXPECT_NEAR(p.value()(1), -4.0 + 4.0 * 0.05 - 0.1, 1e-15);
  EXPECT_EQ(frozen.value()(0), 3.0);  // no gradient: no decay (Keras filters it out)

  // Keras' AdamW is Adam with weight_decay (default 0.004): the same step as
  // Adam's from the same point, less p0 · 0.004 · lr.
  Variable<double> plain = start_point<double>(), decayed = start_point<double>();
  const Array<double> p0 = plain.value();
  nn::Adam<double> adam({plain}, nn::AdamOptions().learning_rate(0.01));
  nn::Adam<double> adamw({decayed}, nn::AdamOptions().learning_rate(0.01).weight_decay(0.004));
  plain.add_grad(Array<double>{1.0, -2.0, 0.25});
  decayed.add_grad(Array<double>{1.0, -2.0, 0.25});
  adam.step();
  adamw.step();
  for (std::size_t i = 0; i < 3; ++i) EXPECT_NEAR(decayed.value()(i), plain.value()(i) - p0(i) * 0.004 * 0.01, 1e-15);

  // A step skipped for a NaN gradient decays nothing either.
  Variable<double> q(Array<double>{1.0}, true);
  nn::SGD<double> skipping({q}, nn::SGDOptions().weight_decay(0.5).skip_nonfinite(true));
  q.add_grad(Array<double>{std::nan("")});
  skipping.step();
  EXPECT_EQ(q.value()(0), 1.0);
}

// Keras' AdamW: Adam with weight_decay 0.004 by default, under its own name.
TEST(AdamW, IsAdamWithKerasDefaultWeightDecay) {
  EXPECT_EQ(nn::AdamWOptions().weight_decay(), 0.004);
  EXPECT_EQ(nn::AdamWOptions().learning_rate(0.01).weight_decay(), 0.004);  // kept through the setters
  Variable<double> a = start_point<double>(), b = start_point<double>();
  nn::AdamW<double> adamw({a}, nn::AdamWOptions().learning_rate(0.01));
  nn::Adam<double> adam({b}, nn::AdamOptions().learning_rate(0.01).weight_decay(0.004));
  EXPECT_STREQ(adamw.name(), "AdamW");
  EXPECT_EQ(adamw.state().optimizer, "AdamW");
  EXPECT_EQ(adamw.weight_decay(), 0.004);
  for (int step = 0; step < 3; ++step) {
    a.zero_grad();
    b.zero_grad();
    a.add_grad(Array<double>{1.0, -2.0, 0.25});
    b.add_grad(Array<double>{1.0, -2.0, 0.25});
    adamw.step();
    adam.step();
  }
  EXPECT_EQ(a.value(), b.value());
  // An Adam's state is not an AdamW's.
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { adamw.load_state(adam.state()); }, {"AdamW", "Adam"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { nn::AdamW<double>({a}, nn::AdamWOptions().beta_1(1.0)); }, {"AdamW", "beta_1"}));
}

TEST(Optimizers, ClippingsAreExclusiveAndNonNegative) {
  auto p = start_point<double>();
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { nn::SGD<double>({p}, nn::SGDOptions().clipnorm(1.0).clipvalue(0.5)); },
      {"SGD", "only one of clipnorm, clipvalue and global_clipnorm", "clipnorm 1", "clipvalue 0.5"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { nn::Adam<double>({p}, nn::AdamOptions().global_clipnorm(1.0).clipnorm(2.0)); },
      {"Adam", "only one of", "global_clipnorm 1"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { nn::RMSprop<double>({p}, nn::RMSpropOptions().clipvalue(-1.0)); }, {"RMSprop", "clipvalue"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { nn::SGD<double>({p}, nn::SGDOptions().clipnorm(-1.0)); }, {"SGD", "clipnorm"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { nn::Adam<double>({p}, nn::AdamOptions().weight_decay(-0.1)); }, {"Adam", "weight_decay"}));
  // Keras' defaults: none of them.
  const nn::AdamOptions defaults;
  EXPECT_EQ(defaults.clipnorm(), 0.0);
  EXPECT_EQ(defaults.clipvalue(), 0.0);
  EXPECT_EQ(defaults.weight_decay(), 0.0);
}

TEST(SGD, SkippedParameterKeepsItsVelocity) {
  // `late` has no gradient for two steps: its velocity stays 0, so its first
  // update is plain -lr * g (Keras skips variables whose gradient is None).
  auto early = start_point<double>();
  Variable<double> late(Array<double>{2.0}, true);
  nn::SGD<double> sgd({early, late}, nn::SGDOptions().learning_rate(0.1).momentum(0.9));
  for (int i = 0; i < 2; ++i) {
    sgd.zero_grad();
    quadratic_loss(early).backward();
    sgd.step();
  }
  sgd.zero_grad();
  late.add_grad(Array<double>{1.0});
  sgd.step();
  EXPECT_NEAR(late.value()(0), 2.0 - 0.1 * 1.0, kTol64);
}

TEST(Optimizers, ZeroGradForgetsEveryGradient) {
  for (const auto& [name, make] : all_optimizers()) {
    SCOPED_TRACE(name);
    auto a = start_point<double>();
    Variable<double> b(Array<double>{1.0}, true);
    auto optimizer = make({a, b});
    quadratic_loss(a).backward();
    b.add_grad(Array<double>{1.0});
    optimizer->zero_grad();
    EXPECT_FALSE(a.has_grad());
    EXPECT_FALSE(b.has_grad());
  }
}

TEST(Optimizers, StepUpdatesInPlaceWithoutRecording) {
  for (const auto& [name, make] : all_optimizers()) {
    SCOPED_TRACE(name);
    auto p = start_point<double>();
    auto optimizer = make({p});
    const Variable<double> alias = optimizer->parameters()[0];
    quadratic_loss(p).backward();
    optimizer->step();
    EXPECT_TRUE(alias.same_node(p));
    EXPECT_NE(p.value(), (Array<double>{1.0, -2.0, 0.5}));
    EXPECT_TRUE(p.is_leaf());
    EXPECT_TRUE(p.requires_grad());
    EXPECT_TRUE(xgrad::is_grad_enabled());
  }
}

TEST(Optimizers, RejectBadParameterLists) {
  auto p = start_point<double>();
  Variable<double> constant(Array<double>{1.0});
  for (const auto& [name, make] : all_optimizers()) {
    SCOPED_TRACE(name);
    EXPECT_TRUE(throws_with<std::invalid_argument>([&make = make] { make({}); }, {name}));
    EXPECT_THROW(make({p, p}), std::invalid_argument);
    EXPECT_THROW(make({p, constant}), std::invalid_argument);
  }
}

TEST(Optimizers, RejectBadHyperparameters) {
  auto p = start_point<double>();
  EXPECT_THROW(nn::SGD<double>({p}, nn::SGDOptions().learning_rate(-0.1)), std::invalid_argument);
  EXPECT_THROW(nn::SGD<double>({p}, nn::SGDOptions().momentum(1.5)), std::invalid_argument);
  EXPECT_THROW(nn::SGD<double>({p}, nn::SGDOptions().momentum(-0.1)), std::invalid_argument);
  EXPECT_THROW(nn::RMSprop<double>({p}, nn::RMSpropOptions().rho(1.0)), std::invalid_argument);
  EXPECT_THROW(nn::RMSprop<double>({p}, nn::RMSpropOptions().epsilon(-1.0)), std::invalid_argument);
  EXPECT_THROW(nn::Adam<double>({p}, nn::AdamOptions().beta_1(1.0)), std::invalid_argument);
  EXPECT_THROW(nn::Adam<double>({p}, nn::AdamOptions().beta_2(-0.5)), std::invalid_argument);
  EXPECT_THROW(nn::Adam<double>({p}, nn::AdamOptions().learning_rate(std::nan(""))),
               std::invalid_argument);
  try {
    nn::Adam<double>({p}, nn::AdamOptions().beta_1(1.0));
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), "Adam: beta_1 must be in [0, 1), got 1");
  }
}

TEST(Optimizers, SetLearningRateAppliesToTheNextStep) {
  auto p = start_point<double>();
  nn::SGD<double> sgd({p}, nn::SGDOptions().learning_rate(0.1));
  sgd.set_learning_rate(0.5);
  EXPECT_EQ(sgd.learning_rate(), 0.5);
  quadratic_loss(p).backward();
  sgd.step();
  // p - 0.5 * 2 (p - c) = c
  EXPECT_NEAR(p.value()(0), 0.5, kTol64);
  EXPECT_NEAR(p.value()(1), 1.0, kTol64);
  EXPECT_NEAR(p.value()(2), -1.5, kTol64);
  EXPECT_THROW(sgd.set_learning_rate(-1.0), std::invalid_argument);
  EXPECT_EQ(sgd.learning_rate(), 0.5);
}

TEST(Optimizers, ShapeChangeIsCaughtBeforeAnyUpdate) {
  for (const auto& [name, make] : all_optimizers()) {
    SCOPED_TRACE(name);
    auto first = start_point<double>();
    Variable<double> second(Array<double>{1.0, 2.0}, true);
    auto optimizer = make({first, second});
    quadratic_loss(first).backward();
    second.value() = Array<double>{1.0, 2.0, 3.0};  // no longer the shape it had
    second.add_grad(Array<double>{1.0, 1.0, 1.0});
    EXPECT_TRUE(throws_with<std::invalid_argument>([&] { optimizer->step(); }, {"(3,)", "(2,)"}));
    EXPECT_EQ(first.value(), (Array<double>{1.0, -2.0, 0.5}));  // untouched
    EXPECT_EQ(optimizer->iterations(), 0u);
  }
}

TEST(Optimizers, TrainADenseLayer) {
  // y = 2 x - 1 from 8 points: 200 Adam steps bring the mean squared error
  // from its starting value to near zero.
  xgrad::manual_seed(3);
  nn::Dense<double> dense(nn::DenseOptions(1));
  Array<double> x_values = Array<double>::from_shape({8, 1});
  for (std::size_t i = 0; i < 8; ++i) x_values(i, 0) = -1.0 + 0.25 * static_cast<double>(i);
  const Variable<double> x(x_values);
  const Variable<double> y(Array<double>(2.0 * x_values - 1.0));
  auto mse = [&] {
    const Variable<double> d = dense(x) - y;
    return xgrad::mean(d * d);
  };
  const double initial = mse().value()();
  dense.build({-1, 1});
  nn::Adam<double> adam(dense.parameters(), nn::AdamOptions().learning_rate(0.05));
  for (int i = 0; i < 200; ++i) {
    adam.zero_grad();
    mse().backward();
    adam.step();
  }
  EXPECT_GT(initial, 0.1);
  EXPECT_LT(mse().value()(), 1e-4);
  EXPECT_NEAR(dense.kernel().value()(0, 0), 2.0, 1e-2);
  EXPECT_NEAR(dense.bias().value()(0), -1.0, 1e-2);
}

// ---- clip_grad_norm ----

TEST(ClipGradNorm, ScalesAllGradientsTogether) {
  // Gradients [3, 4] and [12]: global norm sqrt(9 + 16 + 144) = 13; clipping
  // to 6.5 halves every one of them.
  Variable<double> a(Array<double>{0.0, 0.0}, true), b(Array<double>{0.0}, true);
  Variable<double> without(Array<double>{0.0}, true);
  a.add_grad(Array<double>{3.0, 4.0});
  b.add_grad(Array<double>{12.0});
  const double norm = nn::clip_grad_norm({a, b, without}, 6.5);
  EXPECT_DOUBLE_EQ(norm, 13.0);
  EXPECT_DOUBLE_EQ(a.grad()(0), 1.5);
  EXPECT_DOUBLE_EQ(a.grad()(1), 2.0);
  EXPECT_DOUBLE_EQ(b.grad()(0), 6.0);
  EXPECT_FALSE(without.has_grad());
  // Now at the limit: a second call returns it and changes nothing.
  EXPECT_DOUBLE_EQ(nn::clip_grad_norm({a, b}, 6.5), 6.5);
  EXPECT_DOUBLE_EQ(b.grad()(0), 6.0);
}

TEST(ClipGradNorm, LeavesSmallGradientsAlone) {
  Variable<double> a(Array<double>{0.0, 0.0}, true), b(Array<double>{0.0}, true);
  a.add_grad(Array<double>{3.0, 4.0});
  b.add_grad(Array<double>{12.0});
  EXPECT_DOUBLE_EQ(nn::clip_grad_norm({a, b}, 20.0), 13.0);
  EXPECT_EQ(a.grad(), (Array<double>{3.0, 4.0}));
  EXPECT_EQ(b.grad(), (Array<double>{12.0}));
}

TEST(ClipGradNorm, Float) {
  Variable<float> a(Array<float>{0.0f, 0.0f}, true);
  a.add_grad(Array<float>{-6.0f, 8.0f});
  EXPECT_FLOAT_EQ(nn::clip_grad_norm({a}, 1.0f), 10.0f);
  EXPECT_FLOAT_EQ(a.grad()(0), -0.6f);
  EXPECT_FLOAT_EQ(a.grad()(1), 0.8f);
}

TEST(ClipGradNorm, NonFiniteNormLeavesGradientsAlone) {
  Variable<double> a(Array<double>{0.0, 0.0}, true);
  a.add_grad(Array<double>{std::numeric_limits<double>::infinity(), 1.0});
  EXPECT_TRUE(std::isinf(nn::clip_grad_norm({a}, 1.0)));
  EXPECT_EQ(a.grad()(1), 1.0);
}

TEST(ClipGradNorm, ErrorIfNonfiniteThrowsNamingTheNormAndTheGradient) {
  Variable<double> a(Array<double>{0.0, 0.0}, true), b(xgrad::zeros<double>({2, 2}), true);
  a.add_grad(Array<double>{3.0, 4.0});
  b.add_grad(Array<double>{{1.0, 2.0}, {std::numeric_limits<double>::quiet_NaN(), 1.0}});
  EXPECT_TRUE(throws_with<xgrad::NonFiniteError>(
      [&] { nn::clip_grad_norm({a, b}, 1.0, /*error_if_nonfinite=*/true); },
      {"clip_grad_norm", "total norm", "is nan", "parameter 1", "(2, 2)", "flat index 2"}));
  EXPECT_EQ(a.grad()(1), 4.0);  // nothing was scaled
  // An infinity, in float.
  Variable<float> c(Array<float>{0.0f}, true);
  c.add_grad(Array<float>{-std::numeric_limits<float>::infinity()});
  EXPECT_TRUE(throws_with<xgrad::NonFiniteError>(
      [&] { nn::clip_grad_norm({c}, 1.0f, true); }, {"is inf", "-inf", "parameter 0"}));
  // Finite gradients whose squares overflow a double.
  Variable<double> huge(Array<double>{1e200, 1e200}, true);
  huge.add_grad(Array<double>{1e200, 1e200});
  EXPECT_TRUE(throws_with<xgrad::NonFiniteError>(
      [&] { nn::clip_grad_norm({huge}, 1.0, true); }, {"is inf", "squares overflow"}));
  // It is a std::runtime_error, as PyTorch raises RuntimeError.
  EXPECT_THROW(nn::clip_grad_norm({a, b}, 1.0, true), std::runtime_error);
}

TEST(ClipGradNorm, ErrorIfNonfiniteIsOffByDefaultAndFiniteNormsPass) {
  Variable<double> a(Array<double>{0.0}, true);
  a.add_grad(Array<double>{std::numeric_limits<double>::quiet_NaN()});
  EXPECT_TRUE(std::isnan(nn::clip_grad_norm({a}, 1.0)));
  Variable<double> b(Array<double>{0.0, 0.0}, true);
  b.add_grad(Array<double>{3.0, 4.0});
  EXPECT_DOUBLE_EQ(nn::clip_grad_norm({b}, 1.0, true), 5.0);
  EXPECT_DOUBLE_EQ(b.grad()(1), 0.8);
}

TEST(ClipGradNorm, RejectsNonPositiveMaxNorm) {
  Variable<double> a(Array<double>{0.0}, true);
  a.add_grad(Array<double>{1.0});
  EXPECT_THROW(nn::clip_grad_norm({a}, 0.0), std::invalid_argument);
  EXPECT_THROW(nn::clip_grad_norm({a}, -1.0), std::invalid_argument);
  EXPECT_EQ(a.grad()(0), 1.0);
}

}  // namespace

namespace {

// A Keras constraint is applied by the optimizer right after its update: with
// apply_constraints_of(model), step() leaves the kernel non-negative; without
// it, the same step leaves negative entries.
TEST(Optimizer, StepAppliesTheModelsConstraints) {
  for (bool constrained : {false, true}) {
    xgrad::nn::SimpleRNN<double> rnn(xgrad::nn::SimpleRNNOptions(3).kernel_constraint(
        xgrad::nn::constraints::non_neg()));
    rnn.build({-1, -1, 2});
    rnn.kernel().value() = xgrad::Array<double>{{0.1, 0.2, 0.3}, {0.4, 0.5, 0.6}};
    xgrad::nn::SGD<double> sgd(rnn.parameters(), xgrad::nn::SGDOptions().learning_rate(1.0));
    if (constrained) sgd.apply_constraints_of(rnn);
    rnn.kernel().add_grad(xgrad::Array<double>{{1.0, 0.0, 0.0}, {0.0, 0.0, 1.0}});
    sgd.step();
    const auto& k = rnn.kernel().value();
    if (constrained) {
      EXPECT_EQ(k(0, 0), 0.0);
      EXPECT_EQ(k(1, 2), 0.0);
      EXPECT_EQ(k(0, 1), 0.2);
    } else {
      EXPECT_NEAR(k(0, 0), -0.9, 1e-15);
      EXPECT_NEAR(k(1, 2), -0.4, 1e-15);
    }
  }
}

}  // namespace

// ---- skip_nonfinite, state ----

namespace {

// One step of `optimizer` on y = dense(x) against targets 2 x − 1 (mean
// squared error); a NaN in x makes every gradient NaN.
void step_on(nn::Dense<float>& dense, nn::Optimizer<float>& optimizer, const Array<float>& x) {
  const Variable<float> input(x), target(Array<float>(2.0f * x - 1.0f));
  const Variable<float> d = dense(input) - target;
  optimizer.zero_grad();
  xgrad::mean(d * d).backward();
  optimizer.step();
}

std::vector<Array<float>> values_of(const nn::Dense<float>& dense) {
  return {dense.kernel().value(), dense.bias().value()};
}

// Each optimizer, with every slot its options can have.
using MakeOptimizer = std::function<std::unique_ptr<nn::Optimizer<float>>(nn::Dense<float>&, bool skip)>;
const std::vector<std::pair<std::string, MakeOptimizer>>& every_optimizer() {
  static const std::vector<std::pair<std::string, MakeOptimizer>> all = {
      {"SGD", [](nn::Dense<float>& d, bool skip) -> std::unique_ptr<nn::Optimizer<float>> {
         return std::make_unique<nn::SGD<float>>(
             d.parameters(), nn::SGDOptions().momentum(0.9).skip_nonfinite(skip));
       }},
      {"RMSprop", [](nn::Dense<float>& d, bool skip) -> std::unique_ptr<nn::Optimizer<float>> {
         return std::make_unique<nn::RMSprop<float>>(
             d.parameters(), nn::RMSpropOptions().momentum(0.5).centered(true).skip_nonfinite(skip));
       }},
      {"Adam", [](nn::Dense<float>& d, bool skip) -> std::unique_ptr<nn::Optimizer<float>> {
         return std::make_unique<nn::Adam<float>>(d.parameters(),
                                                  nn::AdamOptions().amsgrad(true).skip_nonfinite(skip));
       }},
  };
  return all;
}

// [n, 1] holding `values`.
Array<float> column(const std::vector<float>& values) {
  Array<float> out = Array<float>::from_shape({values.size(), 1});
  std::copy(values.begin(), values.end(), out.data());
  return out;
}

// A Dense(1) kernel 0.3, bias 0.1.
const std::vector<Array<float>> start{xgrad::full<float>({1, 1}, 0.3f), xgrad::full<float>({1}, 0.1f)};

std::shared_ptr<nn::Dense<float>> dense_from(const std::vector<Array<float>>& weights) {
  auto dense = std::make_shared<nn::Dense<float>>(nn::DenseOptions(1));
  dense->set_weights(weights);
  return dense;
}


// ------------------------------------------------------- gradient accumulation

// Keras' gradient_accumulation_steps n: n − 1 steps only gather their
// gradients; the n-th updates with the mean (g + gathered) / n, as one step
// of the optimizer without accumulation would, and Adam's bias correction
// counts updates (t = 1, then 2).
TEST(GradientAccumulation, EveryNthStepUpdatesWithTheMeanGradient) {
  const std::vector<Array<double>> grads{{1.0, -2.0, 0.25}, {0.5, 4.0, -1.0}, {-3.0, 1.0, 2.0},
                                         {2.0, 2.0, 2.0},   {0.0, -1.0, 1.5}, {1.0, 0.5, -0.5}};
  Variable<double> accumulating = start_point<double>(), reference = start_point<double>();
  nn::Adam<double> adam({accumulating}, nn::AdamOptions().learning_rate(0.01).gradient_accumulation_steps(3));
  nn::Adam<double> plain({reference}, nn::AdamOptions().learning_rate(0.01));
  EXPECT_EQ(adam.gradient_accumulation_steps(), 3u);
  for (std::size_t update = 0; update < 2; ++update) {
    for (std::size_t k = 0; k < 3; ++k) {
      const Array<double> before = accumulating.value();
      accumulating.zero_grad();
      accumulating.add_grad(grads[3 * update + k]);
      adam.step();
      EXPECT_EQ(adam.steps_taken(), 3 * update + k + 1);
      EXPECT_EQ(adam.iterations(), update + (k == 2 ? 1 : 0));
      if (k < 2) {
        EXPECT_EQ(accumulating.value(), before);  // gathered, no update
      }
    }
    // The same sums in the same order: (g3 + (g1 + g2)) / 3.
    const Array<double>& g1 = grads[3 * update];
    const Array<double>& g2 = grads[3 * update + 1];
    const Array<double>& g3 = grads[3 * update + 2];
    Array<double> mean = Array<double>::from_shape({3});
    for (std::size_t i = 0; i < 3; ++i) mean(i) = (g3(i) + (g1(i) + g2(i))) / 3.0;
    reference.zero_grad();
    reference.add_grad(mean);
    plain.step();
    EXPECT_EQ(accumulating.value(), reference.value()) << "update " << update;
  }
}

// A schedule sees every step (Keras' "real" iterations), not the updates: with
// n = 2 the first update is step 1's, at lr = 0.5^1.
TEST(GradientAccumulation, TheScheduleSeesEveryStep) {
  Variable<double> p(Array<double>{1.0}, true);
  const auto halving = std::make_shared<nn::ExponentialDecay>(nn::ExponentialDecayOptions(1.0, 1.0, 0.5));
  nn::SGD<double> sgd({p}, nn::SGDOptions().learning_rate(halving).gradient_accumulation_steps(2));
  p.add_grad(Array<double>{2.0});
  sgd.step();
  EXPECT_EQ(p.value()(0), 1.0);
  EXPECT_EQ(sgd.learning_rate(), 0.5);
  p.zero_grad();
  p.add_grad(Array<double>{4.0});
  sgd.step();
  EXPECT_EQ(p.value()(0), 1.0 - 0.5 * 3.0);  // mean gradient 3
}

// The accumulators are part of the state: a run saved between two updates
// goes on exactly; n = 1 is refused, as Keras refuses it.
TEST(GradientAccumulation, StateKeepsTheAccumulatorsAndOneIsRefused) {
  const Array<float> x = column({0.5f, -1.0f, 0.25f});
  const auto make = [](nn::Dense<float>& d) {
    return std::make_unique<nn::Adam<float>>(d.parameters(), nn::AdamOptions().gradient_accumulation_steps(2));
  };
  auto original = dense_from(start);
  auto optimizer = make(*original);
  for (int i = 0; i < 3; ++i) step_on(*original, *optimizer, x);
  const auto state = optimizer->state();
  EXPECT_EQ(state.iterations, 3u);
  const auto slot = std::find_if(state.slots.begin(), state.slots.end(),
                                 [](const auto& entry) { return entry.first == "gradient_accumulators/0"; });
  ASSERT_NE(slot, state.slots.end());
  EXPECT_NE(slot->second(0, 0), 0.0f);  // step 3 gathered, not yet applied
  auto copy = dense_from(values_of(*original));
  auto copy_optimizer = make(*copy);
  copy_optimizer->load_state(state);
  for (int i = 0; i < 3; ++i) {
    step_on(*original, *optimizer, x);
    step_on(*copy, *copy_optimizer, x);
  }
  EXPECT_EQ(values_of(*copy), values_of(*original));
  EXPECT_NE(values_of(*copy), start);
  // Without accumulation the slot is unknown: the options differ.
  auto plain = dense_from(start);
  nn::Adam<float> plain_optimizer(plain->parameters());
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { plain_optimizer.load_state(state); },
                                                 {"gradient_accumulators/0"}));
  Variable<float> q(Array<float>{1.0f}, true);
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { nn::SGD<float>({q}, nn::SGDOptions().gradient_accumulation_steps(1)); },
      {"SGD", "gradient_accumulation_steps", "got 1"}));
}


// ------------------------------------------------------- use_ema and weight-decay exclusions

// Keras' use_ema: a = m · a + (1 − m) · p after each step, m = 0 at the first
// (the average starts at the weights); finalize_variable_values copies the
// averages in; ema_overwrite_frequency f copies them every f-th update.
TEST(MovingAverage, FollowsKerasFormulaAndOverwrites) {
  // SGD lr 0.1 and gradient 1: p = 0.9, 0.8, 0.7; with m = 0.5 the averages
  // are 0.9, 0.85, 0.775.
  Variable<double> p(Array<double>{1.0}, true);
  nn::SGD<double> sgd({p}, nn::SGDOptions().learning_rate(0.1).use_ema(true).ema_momentum(0.5));
  EXPECT_TRUE(sgd.use_ema());
  for (int step = 0; step < 3; ++step) {
    p.zero_grad();
    p.add_grad(Array<double>{1.0});
    sgd.step();
  }
  EXPECT_NEAR(p.value()(0), 0.7, 1e-15);
  const auto state = sgd.state();
  ASSERT_EQ(state.slots.size(), 1u);
  EXPECT_EQ(state.slots[0].first, "moving_averages/0");
  EXPECT_NEAR(state.slots[0].second(0), 0.775, 1e-15);
  sgd.finalize_variable_values();
  EXPECT_NEAR(p.value()(0), 0.775, 1e-15);

  // f = 2: after the second update the weight is the average 0.85; then
  // p = 0.75 and a = 0.5 · 0.85 + 0.5 · 0.75 = 0.8.
  Variable<double> q(Array<double>{1.0}, true);
  nn::SGD<double> overwriting(
      {q}, nn::SGDOptions().learning_rate(0.1).use_ema(true).ema_momentum(0.5).ema_overwrite_frequency(2));
  const std::vector<double> expected{0.9, 0.85, 0.75};
  for (int step = 0; step < 3; ++step) {
    q.zero_grad();
    q.add_grad(Array<double>{1.0});
    overwriting.step();
    EXPECT_NEAR(q.value()(0), expected[static_cast<std::size_t>(step)], 1e-15) << step;
  }
  EXPECT_NEAR(overwriting.state().slots[0].second(0), 0.8, 1e-15);
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { nn::SGD<double>({q}, nn::SGDOptions().use_ema(true).ema_momentum(1.5)); }, {"ema_momentum", "1.5"}));
}

// Keras' exclude_from_weight_decay: by variable, or by a pattern searched in
// each parameter's own name.
TEST(WeightDecayExclusion, ByVariableAndByName) {
  // SGD lr 0.1, weight_decay 0.5, gradient 1: decayed p − p · 0.05 − 0.1,
  // excluded p − 0.1.
  const auto run = [](const std::function<void(nn::SGD<float>&, nn::Dense<float>&)>& exclude) {
    auto dense = dense_from(start);
    nn::SGD<float> sgd(dense->parameters(), nn::SGDOptions().learning_rate(0.1).weight_decay(0.5));
    exclude(sgd, *dense);
    for (Variable<float> parameter : dense->parameters())
      parameter.add_grad(xgrad::ones<float>(xgrad::to_shape(parameter.shape())));
    sgd.step();
    return values_of(*dense);
  };
  const float decayed_kernel = 0.3f - 0.3f * 0.5f * 0.1f - 0.1f, kept_bias = 0.1f - 0.1f;
  for (const auto& exclude : std::vector<std::function<void(nn::SGD<float>&, nn::Dense<float>&)>>{
           [](nn::SGD<float>& sgd, nn::Dense<float>& d) { sgd.exclude_from_weight_decay({d.bias()}); },
           [](nn::SGD<float>& sgd, nn::Dense<float>& d) {
             sgd.exclude_from_weight_decay(d.named_parameters(), {"^bi"});
           }}) {
    const auto values = run(exclude);
    EXPECT_FLOAT_EQ(values[0](0, 0), decayed_kernel);
    EXPECT_FLOAT_EQ(values[1](0), kept_bias);
  }
  const auto none = run([](nn::SGD<float>& sgd, nn::Dense<float>& d) {
    sgd.exclude_from_weight_decay(d.named_parameters(), {"recurrent"});
  });
  EXPECT_FLOAT_EQ(none[1](0), 0.1f - 0.1f * 0.5f * 0.1f - 0.1f);

  auto dense = dense_from(start);
  nn::SGD<float> sgd(dense->parameters(), nn::SGDOptions().weight_decay(0.5));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { sgd.exclude_from_weight_decay(dense->named_parameters(), {"("}); },
      {"SGD", "exclude_from_weight_decay", "'('"}));
  const Variable<float> stranger(Array<float>{1.0f}, true);
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { sgd.exclude_from_weight_decay({stranger}); },
                                                 {"exclude_from_weight_decay", "(1,)", "not one of"}));
  EXPECT_TRUE(sgd.uses_weight_decay(0));
  EXPECT_TRUE(sgd.uses_weight_decay(1));
  // A named weight the optimizer does not update (frozen) is passed over.
  nn::SGD<float> kernel_only({dense->kernel()}, nn::SGDOptions().weight_decay(0.5));
  kernel_only.exclude_from_weight_decay(dense->named_parameters(), {"bias"});
  EXPECT_TRUE(kernel_only.uses_weight_decay(0));
  kernel_only.exclude_from_weight_decay(dense->named_parameters(), {"kernel", "bias"});
  EXPECT_FALSE(kernel_only.uses_weight_decay(0));
}

}  // namespace

// A NaN in one input: with skip_nonfinite that step changes no weight and no
// moment, is not counted in iterations() (so Adam's bias correction goes on
// as if the batch never came) and is counted in skipped_steps(); the run
// ends bit for bit where a run without the bad batch ends. Without it, every
// weight becomes NaN.
TEST(Optimizers, SkipNonfiniteSkipsTheStepOfANaNInput) {
  const Array<float> good = column({0.5f, -1.0f, 0.25f}), more = column({1.0f, 0.0f, -0.5f});
  Array<float> bad = good;
  bad(1, 0) = std::nanf("");
  for (const auto& [name, make] : every_optimizer()) {
    SCOPED_TRACE(name);
    auto skipping = dense_from(start), clean = dense_from(start), plain = dense_from(start);
    auto skipping_optimizer = make(*skipping, true), clean_optimizer = make(*clean, false),
         plain_optimizer = make(*plain, false);
    step_on(*skipping, *skipping_optimizer, good);
    const auto before = values_of(*skipping);
    step_on(*skipping, *skipping_optimizer, bad);
    EXPECT_EQ(values_of(*skipping), before);
    EXPECT_EQ(skipping_optimizer->skipped_steps(), 1u);
    EXPECT_EQ(skipping_optimizer->iterations(), 1u);
    step_on(*skipping, *skipping_optimizer, more);

    step_on(*clean, *clean_optimizer, good);
    step_on(*clean, *clean_optimizer, more);
    EXPECT_EQ(values_of(*skipping), values_of(*clean));
    EXPECT_EQ(skipping_optimizer->state().slots, clean_optimizer->state().slots);
    EXPECT_EQ(skipping_optimizer->iterations(), 2u);

    step_on(*plain, *plain_optimizer, bad);
    EXPECT_TRUE(std::isnan(plain->kernel().value()(0, 0)));
    EXPECT_EQ(plain_optimizer->skipped_steps(), 0u);
  }
}

// state() holds every slot; a new optimizer given it with load_state takes
// the same next steps as the original.
TEST(Optimizers, LoadStateContinuesTheSameSteps) {
  const Array<float> x = column({0.5f, -1.0f, 0.25f});
  for (const auto& [name, make] : every_optimizer()) {
    SCOPED_TRACE(name);
    auto original = dense_from(start);
    auto optimizer = make(*original, false);
    for (int i = 0; i < 3; ++i) step_on(*original, *optimizer, x);
    optimizer->set_learning_rate(optimizer->learning_rate() * 0.5);
    const auto state = optimizer->state();
    EXPECT_EQ(state.optimizer, name);
    EXPECT_EQ(state.iterations, 3u);
    EXPECT_FALSE(state.slots.empty());

    auto copy = dense_from(values_of(*original));
    auto copy_optimizer = make(*copy, false);
    copy_optimizer->load_state(state);
    EXPECT_EQ(copy_optimizer->learning_rate(), optimizer->learning_rate());
    for (int i = 0; i < 2; ++i) {
      step_on(*original, *optimizer, x);
      step_on(*copy, *copy_optimizer, x);
    }
    EXPECT_EQ(values_of(*copy), values_of(*original));
  }
}

TEST(Optimizers, LoadStateNamesWhatDiffers) {
  nn::Dense<float> dense(nn::DenseOptions(1));
  dense.build({-1, 1});
  nn::Adam<float> adam(dense.parameters());
  nn::Adam<float> amsgrad(dense.parameters(), nn::AdamOptions().amsgrad(true));
  nn::SGD<float> sgd(dense.parameters());
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { sgd.load_state(adam.state()); },
                                                 {"SGD", "optimizer Adam"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { amsgrad.load_state(adam.state()); },
                                                 {"no slot 'velocity_hats/0'", "(1, 1)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { adam.load_state(amsgrad.state()); },
                                                 {"does not keep", "'velocity_hats/0'"}));
  auto wrong = adam.state();
  wrong.slots[0].second = xgrad::zeros<float>({2, 2});
  wrong.iterations = 9;
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { adam.load_state(wrong); },
                                                 {"'momentums/0'", "(2, 2)", "(1, 1)"}));
  EXPECT_EQ(adam.iterations(), 0u);  // nothing changed
}
