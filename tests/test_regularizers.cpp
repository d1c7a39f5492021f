// Tests of nn/regularizers.hpp and nn/constraints.hpp against Keras'
// formulas (keras/src/regularizers/regularizers.py,
// keras/src/constraints/constraints.py), with every expected value computed
// by hand from them; gradients against central differences in float64.

#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "test_helpers.hpp"
#include "xgrad/autograd/gradcheck.hpp"
#include "xgrad/nn/constraints.hpp"
#include "xgrad/nn/regularizers.hpp"
#include "xgrad/tensor/tensor.hpp"

namespace {

using xgrad::Array;
using xgrad::Shape;
using xgrad::Variable;
using xgrad::test::expect_array_near;
using xgrad::test::gradcheck_passes;
using xgrad::test::throws_with;
namespace nn = xgrad::nn;
namespace reg = xgrad::nn::regularizers;
namespace con = xgrad::nn::constraints;
using V = Variable<double>;

// A float64 leaf whose entries have magnitude in [0.2, 1) and random signs:
// away from 0, where |w| has no derivative.
V away_from_zero(const Shape& shape, std::uint64_t seed) {
  xgrad::manual_seed(seed);
  Array<double> magnitude = xgrad::uniform<double>(shape, 0.2, 1.0);
  const Array<double> sign = xgrad::uniform<double>(shape, -1.0, 1.0);
  for (std::size_t i = 0; i < magnitude.size(); ++i)
    if (sign.flat(i) < 0) magnitude.flat(i) = -magnitude.flat(i);
  return V(magnitude, true);
}

// ============================================================ regularizers

// W = [[1, -2], [3, -0.5]]: sum |w| = 6.5, sum w² = 1 + 4 + 9 + 0.25 = 14.25.
const Array<double> w_hand{{1.0, -2.0}, {3.0, -0.5}};

TEST(Regularizers, KerasDefaults) {
  // Keras: L1(l1=0.01), L2(l2=0.01), L1L2(l1=0.0, l2=0.0).
  EXPECT_EQ(reg::l1().l1, 0.01);
  EXPECT_EQ(reg::l1().l2, 0.0);
  EXPECT_EQ(reg::l2().l1, 0.0);
  EXPECT_EQ(reg::l2().l2, 0.01);
  EXPECT_EQ(reg::l1_l2().l1, 0.0);
  EXPECT_EQ(reg::l1_l2().l2, 0.0);
  EXPECT_EQ(reg::l1_l2(), nn::Regularizer{});
  EXPECT_EQ(reg::l1(0.3).name(), "l1");
  EXPECT_EQ(reg::l2(0.3).name(), "l2");
  EXPECT_EQ(reg::l1_l2(0.3, 0.1).name(), "l1_l2");
  EXPECT_EQ(reg::l1_l2(0.3, 0.1).describe(), "l1_l2(l1=0.3, l2=0.1)");
  EXPECT_EQ(reg::l2().describe(), "l2(0.01)");
}

TEST(Regularizers, PenaltiesMatchHandComputation) {
  const V w(w_hand, true);
  // l1(0.01): 0.01 · 6.5 = 0.065. l2(0.01): 0.01 · 14.25 = 0.1425.
  // l1_l2(0.3, 0.1): 0.3 · 6.5 + 0.1 · 14.25 = 1.95 + 1.425 = 3.375.
  const V p1 = reg::l1().penalty(w);
  EXPECT_EQ(p1.dimension(), 0u);
  EXPECT_NEAR(p1.value()(), 0.065, 1e-15);
  EXPECT_NEAR(reg::l2().penalty(w).value()(), 0.1425, 1e-15);
  EXPECT_NEAR(reg::l1_l2(0.3, 0.1).penalty(w).value()(), 3.375, 1e-14);
  // Keras' own docstring examples: L2(2.) on ones((5, 5)) is 50.0, and an
  // L1(0.01) kernel regularizer on a ones((5, 5)) kernel adds 0.25.
  const V ones(xgrad::ones<double>({5, 5}));
  EXPECT_NEAR(reg::l2(2.0).penalty(ones).value()(), 50.0, 1e-12);
  EXPECT_NEAR(reg::l1(0.01).penalty(ones).value()(), 0.25, 1e-15);
}

TEST(Regularizers, GradientMatchesHandComputation) {
  // d/dw [l1 · sum|w| + l2 · sum w²] = l1 · sign(w) + 2 · l2 · w; for
  // l1_l2(0.3, 0.1) on W: [[0.3 + 0.2, -0.3 - 0.4], [0.3 + 0.6, -0.3 - 0.1]].
  V w(w_hand, true);
  reg::l1_l2(0.3, 0.1).penalty(w).backward();
  expect_array_near(w.grad(), Array<double>{{0.5, -0.7}, {0.9, -0.4}}, 1e-15);

  // At w = 0 the L1 term's gradient is 0 (sign(0) = 0, as TensorFlow).
  V z(Array<double>{0.0, 2.0}, true);
  reg::l1(1.0).penalty(z).backward();
  expect_array_near(z.grad(), Array<double>{0.0, 1.0}, 0.0);
}

TEST(Regularizers, GradcheckFloat64) {
  for (const nn::Regularizer& r : {reg::l1(0.3), reg::l2(0.7), reg::l1_l2(0.2, 0.5)}) {
    SCOPED_TRACE(r.describe());
    for (const Shape& shape : {Shape{4}, Shape{3, 5}, Shape{2, 3, 4}}) {
      const V w = away_from_zero(shape, 80 + shape.size());
      EXPECT_TRUE(gradcheck_passes([r](const std::vector<V>& in) { return r.penalty(in[0]); }, {w}));
    }
  }
}

TEST(Regularizers, ZeroFactorsLeaveTheirTermOut) {
  // As Keras' L1L2: a zero factor adds nothing; both zero give a constant 0.
  const V w(w_hand, true);
  const V none = nn::Regularizer{}.penalty(w);
  EXPECT_EQ(none.dimension(), 0u);
  EXPECT_EQ(none.value()(), 0.0);
  EXPECT_FALSE(none.requires_grad());
  EXPECT_NEAR(reg::l1_l2(0.0, 0.1).penalty(w).value()(), 1.425, 1e-15);
  EXPECT_NEAR(reg::l1_l2(0.3, 0.0).penalty(w).value()(), 1.95, 1e-15);
  EXPECT_TRUE(reg::l1_l2(0.3, 0.0).penalty(w).requires_grad());
}

TEST(Regularizers, Float32) {
  // The factors are cast to float, as Keras casts them to the weight's dtype.
  Variable<float> w(Array<float>{{1.f, -2.f}, {3.f, -0.5f}}, true);
  Variable<float> p = reg::l1_l2(0.3, 0.1).penalty(w);
  EXPECT_NEAR(p.value()(), 3.375f, 1e-6f);
  p.backward();
  expect_array_near(w.grad(), Array<float>{{0.5f, -0.7f}, {0.9f, -0.4f}}, 1e-6);
}

TEST(Regularizers, FactorsMustBeFiniteAndNonNegative) {
  // Keras' validate_float_arg: "expected a non-negative float".
  EXPECT_TRUE(throws_with<std::invalid_argument>([] { reg::l1(-0.1); }, {"l1", "-0.1", "non-negative"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([] { reg::l2(std::nan("")); }, {"l2", "nan"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [] { reg::l1_l2(0.1, std::numeric_limits<double>::infinity()); }, {"l1_l2", "l2", "inf"}));
  // A hand-set factor is checked when the penalty is computed.
  nn::Regularizer bad;
  bad.l2 = -1.0;
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { bad.penalty(V(w_hand)); }, {"l2", "-1"}));
}

TEST(RegularizerFromName, KerasStrings) {
  EXPECT_EQ(nn::regularizer_from_name("l1"), reg::l1(0.01));
  EXPECT_EQ(nn::regularizer_from_name("L1"), reg::l1(0.01));
  EXPECT_EQ(nn::regularizer_from_name("l2"), reg::l2(0.01));
  EXPECT_EQ(nn::regularizer_from_name("L2"), reg::l2(0.01));
  // Keras' L1L2 docstring: as a string, 'l1_l2' uses l1=0.01 and l2=0.01.
  EXPECT_EQ(nn::regularizer_from_name("l1_l2"), reg::l1_l2(0.01, 0.01));
  // The class name builds L1L2() with its own defaults, 0 and 0.
  EXPECT_EQ(nn::regularizer_from_name("L1L2"), reg::l1_l2(0.0, 0.0));
  EXPECT_EQ(nn::regularizer_from_name("l1l2"), reg::l1_l2(0.0, 0.0));
  for (const char* bad : {"l3", "L1_L2", "", "weight_decay"}) {
    EXPECT_TRUE(throws_with<std::invalid_argument>([&] { nn::regularizer_from_name(bad); },
                                                   {"regularizer_from_name", "'" + std::string(bad) + "'",
                                                    "l1", "l2", "l1_l2"}))
        << bad;
  }
}

// ============================================================ constraints

// W [2, 3] = [[3, 0, 0.6], [4, 0, 0.8]]: along axis 0 its column norms are
// 5, 0 and 1. Wᵀ [3, 2] has those norms along axis 1, so the axis-1 results
// are the transposes of the axis-0 ones. e = 1e-7 is Keras' epsilon: it
// shows in the last digits (0.6 / (1 + e) = 0.59999994), which the 1e-15
// tolerance below resolves, and keeps the zero column at 0 (0 / e), not NaN.
constexpr double e = 1e-7;
const Array<double> w_cols{{3.0, 0.0, 0.6}, {4.0, 0.0, 0.8}};

Array<double> transposed(const Array<double>& a) { return xgrad::transposed(a); }

// Applies `c` to a copy of `w`.
template <typename T>
Array<T> applied(const nn::Constraint& c, Array<T> w) {
  c.apply(w);
  return w;
}

TEST(Constraints, KerasDefaults) {
  // Keras: MaxNorm(max_value=2, axis=0), UnitNorm(axis=0),
  // MinMaxNorm(min_value=0.0, max_value=1.0, rate=1.0, axis=0).
  const nn::Constraint m = con::max_norm();
  EXPECT_EQ(m.kind, nn::Constraint::Kind::max_norm);
  EXPECT_EQ(m.max_value, 2.0);
  EXPECT_EQ(m.axis, 0);
  EXPECT_EQ(con::unit_norm().axis, 0);
  const nn::Constraint mm = con::min_max_norm();
  EXPECT_EQ(mm.min_value, 0.0);
  EXPECT_EQ(mm.max_value, 1.0);
  EXPECT_EQ(mm.rate, 1.0);
  EXPECT_EQ(mm.axis, 0);
  EXPECT_EQ(con::max_norm(3.0, 1).describe(), "max_norm(max_value=3, axis=1)");
  EXPECT_EQ(mm.describe(), "min_max_norm(min_value=0, max_value=1, rate=1, axis=0)");
  EXPECT_EQ(con::non_neg().describe(), "non_neg");
}

TEST(Constraints, MaxNormAlongAxisZeroAndOne) {
  // max_norm(2): w · clip(norm, 0, 2) / (e + norm). Column norms 5, 0, 1:
  // factors 2 / (5 + e), 0 / (0 + e) = 0, 1 / (1 + e).
  const Array<double> expected{{3 * 2 / (5 + e), 0.0, 0.6 / (1 + e)},
                               {4 * 2 / (5 + e), 0.0, 0.8 / (1 + e)}};
  expect_array_near(applied(con::max_norm(2.0, 0), w_cols), expected, 1e-15);
  expect_array_near(applied(con::max_norm(2.0, 1), transposed(w_cols)), transposed(expected), 1e-15);
  expect_array_near(applied(con::max_norm(2.0, -1), transposed(w_cols)), transposed(expected), 1e-15);
  // The same W along axis 1: row norms sqrt(9.36) and sqrt(16.64), both
  // above 2, so both rows are scaled to norm 2 (less e's share).
  const double r0 = std::sqrt(9.36), r1 = std::sqrt(16.64);
  const Array<double> rows{{3 * 2 / (r0 + e), 0.0, 0.6 * 2 / (r0 + e)},
                           {4 * 2 / (r1 + e), 0.0, 0.8 * 2 / (r1 + e)}};
  expect_array_near(applied(con::max_norm(2.0, 1), w_cols), rows, 1e-15);
}

TEST(Constraints, UnitNormAlongAxisZeroAndOne) {
  // unit_norm: w / (e + norm). Column norms 5, 0, 1.
  const Array<double> expected{{3 / (5 + e), 0.0, 0.6 / (1 + e)}, {4 / (5 + e), 0.0, 0.8 / (1 + e)}};
  expect_array_near(applied(con::unit_norm(0), w_cols), expected, 1e-15);
  expect_array_near(applied(con::unit_norm(1), transposed(w_cols)), transposed(expected), 1e-15);
}

TEST(Constraints, UnitNormAlongTheMiddleAxisOfRankThree) {
  // W [2, 2, 2] = [[[3, 0], [4, 1]], [[0, 6], [0, 8]]]; along axis 1 the
  // slices W[i, :, k] are (3, 4), (0, 1), (0, 0), (6, 8): norms 5, 1, 0, 10.
  const Array<double> w{{{3.0, 0.0}, {4.0, 1.0}}, {{0.0, 6.0}, {0.0, 8.0}}};
  const Array<double> expected{{{3 / (5 + e), 0.0}, {4 / (5 + e), 1 / (1 + e)}},
                               {{0.0, 6 / (10 + e)}, {0.0, 8 / (10 + e)}}};
  expect_array_near(applied(con::unit_norm(1), w), expected, 1e-15);
  expect_array_near(applied(con::unit_norm(-2), w), expected, 1e-15);
}

TEST(Constraints, MinMaxNormAlongAxisZeroAndOne) {
  // min_max_norm(2, 4, rate 0.5): desired = 0.5 · clip(norm, 2, 4) + 0.5 · norm.
  // Column norms 5, 0, 1: desired 4.5, 1, 1.5; factors 4.5 / (5 + e),
  // 1 / e (times a zero column: 0), 1.5 / (1 + e).
  const Array<double> half{{3 * 4.5 / (5 + e), 0.0, 0.6 * 1.5 / (1 + e)},
                           {4 * 4.5 / (5 + e), 0.0, 0.8 * 1.5 / (1 + e)}};
  expect_array_near(applied(con::min_max_norm(2.0, 4.0, 0.5, 0), w_cols), half, 1e-15);
  expect_array_near(applied(con::min_max_norm(2.0, 4.0, 0.5, 1), transposed(w_cols)), transposed(half),
                    1e-15);
  // rate 1 raises a small norm to min_value: column 2 (norm 1) to 2, and
  // lowers column 0 (norm 5) to 4.
  const Array<double> strict{{3 * 4 / (5 + e), 0.0, 0.6 * 2 / (1 + e)},
                             {4 * 4 / (5 + e), 0.0, 0.8 * 2 / (1 + e)}};
  expect_array_near(applied(con::min_max_norm(2.0, 4.0, 1.0, 0), w_cols), strict, 1e-15);
  // Keras' defaults (0, 1, 1): column norms 5, 0, 1 -> desired 1, 0, 1.
  const Array<double> unit{{3 / (5 + e), 0.0, 0.6 / (1 + e)}, {4 / (5 + e), 0.0, 0.8 / (1 + e)}};
  expect_array_near(applied(con::min_max_norm(), w_cols), unit, 1e-15);
}

TEST(Constraints, NonNegAndNone) {
  // non_neg: max(w, 0), elementwise, any rank.
  const Array<double> w{{-1.0, 2.0}, {0.0, -0.5}};
  EXPECT_EQ(applied(con::non_neg(), w), (Array<double>{{0.0, 2.0}, {0.0, 0.0}}));
  EXPECT_EQ(applied(con::non_neg(), Array<double>(xgrad::full<double>({}, -3.0))),
            Array<double>(xgrad::zeros<double>({})));
  // Keras' base Constraint (the default value) leaves the weight alone.
  EXPECT_EQ(applied(nn::Constraint{}, w), w);
}

TEST(Constraints, Float32) {
  const Array<float> w{{3.f, 0.f, 0.6f}, {4.f, 0.f, 0.8f}};
  const Array<float> expected{{1.2f, 0.f, 0.6f}, {1.6f, 0.f, 0.8f}};  // max_norm(2): column 0 scaled by 2/5
  expect_array_near(applied(con::max_norm(2.0, 0), w), expected, 1e-6);
}

TEST(Constraints, ChecksThrowAndLeaveTheWeightAlone) {
  Array<double> w = w_cols;
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { con::max_norm(2.0, 2).apply(w); },
                                                 {"max_norm", "axis 2", "(2, 3)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { con::unit_norm(-3).apply(w); },
                                                 {"unit_norm", "axis -3", "(2, 3)"}));
  Array<double> scalar = xgrad::full<double>({}, 2.0);
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { con::min_max_norm().apply(scalar); },
                                                 {"min_max_norm", "axis 0", "()"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([] { con::max_norm(-1.0); }, {"max_norm", "max_value"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([] { con::min_max_norm(3.0, 1.0); },
                                                 {"min_max_norm", "min_value", "max_value"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([] { con::min_max_norm(0.0, 1.0, 1.5); },
                                                 {"min_max_norm", "rate", "1.5"}));
  nn::Constraint bad = con::min_max_norm();
  bad.rate = -0.5;
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { bad.apply(w); }, {"rate"}));
  EXPECT_EQ(w, w_cols);
}

TEST(ConstraintFromName, KerasStrings) {
  const std::vector<std::pair<std::string, nn::Constraint>> cases = {
      {"max_norm", con::max_norm(2.0, 0)},         {"MaxNorm", con::max_norm(2.0, 0)},
      {"non_neg", con::non_neg()},                 {"NonNeg", con::non_neg()},
      {"unit_norm", con::unit_norm(0)},            {"UnitNorm", con::unit_norm(0)},
      {"min_max_norm", con::min_max_norm(0, 1, 1, 0)}, {"MinMaxNorm", con::min_max_norm(0, 1, 1, 0)},
      {"constraint", nn::Constraint{}},            {"Constraint", nn::Constraint{}},
  };
  for (const auto& [name, expected] : cases) EXPECT_EQ(nn::constraint_from_name(name), expected) << name;
  EXPECT_NE(con::max_norm(2.0, 0), con::max_norm(2.0, 1));
  EXPECT_NE(con::max_norm(), con::unit_norm());
  for (const char* bad : {"maxnorm", "non_negative", ""}) {
    EXPECT_TRUE(throws_with<std::invalid_argument>(
        [&] { nn::constraint_from_name(bad); },
        {"constraint_from_name", "'" + std::string(bad) + "'", "max_norm", "non_neg", "unit_norm", "min_max_norm"}))
        << bad;
  }
}

}  // namespace
