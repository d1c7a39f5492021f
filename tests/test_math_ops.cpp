// Tests of the ops in math_ops.hpp: forward values against NumPy 1.24
// (Debian's /usr/bin/python3, `import numpy as np`, the expression quoted
// above each golden value), gradients against central differences in float64
// with gradcheck's default tolerances, stability for logits of +-1e4, and
// every shape check.

#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "xgrad/autograd/gradcheck.hpp"
#include "xgrad/autograd/math_ops.hpp"
#include "xgrad/autograd/ops.hpp"
#include "xgrad/autograd/variable.hpp"
#include "xgrad/tensor/reductions.hpp"
#include "xgrad/tensor/tensor.hpp"

namespace {

using xgrad::Array;
using xgrad::Shape;
using xgrad::Variable;
using V = Variable<double>;
using Inputs = std::vector<V>;

// A float64 leaf requiring a gradient, uniform in [low, high) from a fixed seed.
V random_input(const Shape& shape, std::uint64_t seed, double low = -2.0, double high = 2.0) {
  xgrad::manual_seed(seed);
  return V(xgrad::uniform<double>(shape, low, high), true);
}

V leaf(const Array<double>& value) { return V(value, true); }

// 0, 1, 2, ... in the given shape, as np.arange(n, dtype=float).reshape(shape).
Array<double> arange(const Shape& shape) {
  Array<double> a = Array<double>::from_shape(shape);
  for (std::size_t i = 0; i < a.size(); ++i) a.flat(i) = static_cast<double>(i);
  return a;
}

void expect_gradcheck(const xgrad::GradcheckFunction& f, const Inputs& inputs) {
  const xgrad::GradcheckResult result = xgrad::gradcheck(f, inputs);
  EXPECT_TRUE(result.passed) << result.summary();
  EXPECT_GT(result.entries_checked, 0u);
}

template <typename T>
void expect_array_near(const Array<T>& actual, const Array<T>& expected, double tol = 1e-12) {
  ASSERT_EQ(xgrad::shape_to_string(actual.shape()), xgrad::shape_to_string(expected.shape()));
  for (std::size_t i = 0; i < actual.size(); ++i)
    EXPECT_NEAR(actual.flat(i), expected.flat(i), tol) << "at flat index " << i;
}

template <typename T>
void expect_all_finite(const Array<T>& a) {
  for (std::size_t i = 0; i < a.size(); ++i)
    EXPECT_TRUE(std::isfinite(a.flat(i))) << "element " << i << " is " << a.flat(i);
}

// Runs f, expects std::invalid_argument, and checks that its message
// contains every one of `parts` (the op name, the shapes...).
void expect_invalid(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no exception thrown";
  } catch (const std::invalid_argument& e) {
    const std::string message = e.what();
    for (const auto& part : parts)
      EXPECT_NE(message.find(part), std::string::npos)
          << "message \"" << message << "\" lacks \"" << part << "\"";
  }
}

// ---------------------------------------------------------------- div

TEST(Div, ForwardBroadcastsLikeNumPy) {
  // np.array([[1.,2,3],[4,5,6]]) / np.array([2.,4,8])
  const V a(Array<double>{{1., 2., 3.}, {4., 5., 6.}});
  const V b(Array<double>{2., 4., 8.});
  expect_array_near(xgrad::div(a, b).value(), Array<double>{{0.5, 0.5, 0.375}, {2., 1.25, 0.75}});
  expect_array_near((a / b).value(), xgrad::div(a, b).value(), 0.0);
}

TEST(Div, DivisionByZeroFollowsIeee) {
  const V a(Array<double>{1., -1., 0.});
  const V b(Array<double>{0., 0., 0.});
  const Array<double> y = xgrad::div(a, b).value();
  EXPECT_EQ(y(0), std::numeric_limits<double>::infinity());
  EXPECT_EQ(y(1), -std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(y(2)));
}

TEST(Div, GradcheckSameShape) {
  expect_gradcheck([](const Inputs& in) { return xgrad::div(in[0], in[1]); },
                   {random_input({2, 3}, 1), random_input({2, 3}, 2, 0.5, 2.0)});
}

TEST(Div, GradcheckBroadcastDenominator) {
  expect_gradcheck([](const Inputs& in) { return in[0] / in[1]; },
                   {random_input({2, 3}, 3), random_input({3}, 4, 0.5, 2.0)});
}

TEST(Div, GradcheckBroadcastNumerator) {
  expect_gradcheck([](const Inputs& in) { return xgrad::div(in[0], in[1]); },
                   {random_input({3}, 5), random_input({2, 3}, 6, -2.0, -0.5)});
}

TEST(Div, GradcheckBroadcastBothWays) {
  expect_gradcheck([](const Inputs& in) { return xgrad::div(in[0], in[1]); },
                   {random_input({2, 1}, 7), random_input({1, 3}, 8, 0.5, 2.0)});
}

TEST(Div, GradcheckScalarDenominator) {
  expect_gradcheck([](const Inputs& in) { return xgrad::div(in[0], in[1]); },
                   {random_input({2, 3}, 9), random_input({}, 10, 0.5, 2.0)});
}

TEST(Div, GradcheckReusedVariableAccumulates) {
  // x / (x * x) = 1 / x: both inputs of div are the same graph's descendants.
  expect_gradcheck([](const Inputs& in) { return xgrad::div(in[0], in[0] * in[0]); },
                   {random_input({4}, 11, 0.5, 2.0)});
}

TEST(Div, OnlyDenominatorRequiresGrad) {
  const V a(Array<double>{6., 8.});
  V b = leaf(Array<double>{2., 4.});
  xgrad::sum(xgrad::div(a, b)).backward();
  // d(a/b)/db = -a / b^2: -6/4, -8/16
  expect_array_near(b.grad(), Array<double>{-1.5, -0.5});
  EXPECT_FALSE(a.has_grad());
}

TEST(Div, ShapeMismatchThrows) {
  const V a(xgrad::zeros<double>({2, 3}));
  const V b(xgrad::ones<double>({4}));
  expect_invalid([&] { xgrad::div(a, b); }, {"div", "(2, 3)", "(4,)"});
  expect_invalid([&] { a / b; }, {"div", "(2, 3)", "(4,)"});
}

// ---------------------------------------------------------------- exp, log, square, pow

TEST(Exp, Forward) {
  // np.exp(np.array([-1., 0., 2.]))
  const V x(Array<double>{-1., 0., 2.});
  expect_array_near(xgrad::exp(x).value(),
                    Array<double>{0.3678794411714424, 1., 7.38905609893065}, 1e-15);
}

// Near the ends of the range e^x is finite or subnormal, not inf or 0
// (xsimd's exp alone saturates from about 88.38 and −87.3 in float).
// NumPy 1.24: np.exp(np.float32([88.7, -88, -103, 89])) -> [3.325977e+38,
// 6.054601e-39, 1e-45, inf]; np.exp([709.5, -708.5, -745.]) ->
// [1.3549863193146328e+308, 2.006132305331306e-308, 5e-324].
TEST(Exp, FiniteAndSubnormalResultsNearTheEndsOfTheRange) {
  // Eight values and a long row, so that both the full batches and the
  // tail take the edges.
  const Array<float> edges{88.7f, -88.0f, -103.0f, 89.0f, 1.0f, 88.7f, -88.0f, 0.0f};
  Array<float> row = Array<float>::from_shape({37});
  for (std::size_t i = 0; i < row.size(); ++i) row(i) = edges(i % edges.size());
  const Array<float> got = xgrad::exp(Variable<float>(row)).value();
  for (std::size_t i = 0; i < row.size(); ++i) {
    const float expected = std::exp(row(i));
    if (std::isinf(expected)) EXPECT_TRUE(std::isinf(got(i))) << i;
    else EXPECT_FLOAT_EQ(got(i), expected) << i;
  }
  EXPECT_FLOAT_EQ(got(0), 3.325977e+38f);
  EXPECT_FLOAT_EQ(got(1), 6.054601e-39f);
  EXPECT_EQ(got(2), 1e-45f);
  const Array<double> wide = xgrad::exp(V(Array<double>{709.5, -708.5, -745.0})).value();
  EXPECT_DOUBLE_EQ(wide(0), 1.3549863193146328e+308);
  EXPECT_DOUBLE_EQ(wide(1), 2.006132305331306e-308);
  EXPECT_EQ(wide(2), 5e-324);
  // The gradient there is e^x too, finite.
  V x(Array<double>{709.5}, true);
  xgrad::exp(x).backward();
  EXPECT_DOUBLE_EQ(x.grad()(0), 1.3549863193146328e+308);
}

TEST(Exp, Gradcheck) {
  expect_gradcheck([](const Inputs& in) { return xgrad::exp(in[0]); },
                   {random_input({2, 3}, 12)});
}

TEST(Log, Forward) {
  // np.log(np.array([0.5, 1., 10.]))
  const V x(Array<double>{0.5, 1., 10.});
  expect_array_near(xgrad::log(x).value(),
                    Array<double>{-0.6931471805599453, 0., 2.3025850929940455}, 1e-15);
}

TEST(Log, NonPositiveGivesMinusInfAndNanLikeNumPy) {
  // np.log(np.array([0., -1.])) -> array([-inf, nan]) (with a warning, no error)
  const V x(Array<double>{0., -1.});
  Array<double> y;
  EXPECT_NO_THROW(y = xgrad::log(x).value());
  EXPECT_EQ(y(0), -std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(y(1)));
}

TEST(Log, Gradcheck) {
  expect_gradcheck([](const Inputs& in) { return xgrad::log(in[0]); },
                   {random_input({2, 3}, 13, 0.2, 3.0)});
}

TEST(Log, GradcheckOfExpRoundTrip) {
  // log(exp(x)) = x: the gradient must be the identity.
  expect_gradcheck([](const Inputs& in) { return xgrad::log(xgrad::exp(in[0])); },
                   {random_input({5}, 14)});
}

TEST(Square, Forward) {
  const V x(Array<double>{-3., 0.5, 2.});
  expect_array_near(xgrad::square(x).value(), Array<double>{9., 0.25, 4.}, 0.0);
}

TEST(Square, Gradcheck) {
  expect_gradcheck([](const Inputs& in) { return xgrad::square(in[0]); },
                   {random_input({3, 2}, 15)});
}

// Under a sum or a mean, square takes the gradient as one value
// (Variable::add_uniform_grad): 37 elements reach the vector kernel's body
// and its tail.
TEST(Square, GradcheckUnderASumAndAMean) {
  expect_gradcheck([](const Inputs& in) { return xgrad::sum(xgrad::square(in[0])); },
                   {random_input({37}, 16)});
  expect_gradcheck([](const Inputs& in) { return xgrad::mean(xgrad::square(in[0])); },
                   {random_input({37}, 17)});
}

// square sums its squares in the squaring pass (Variable::value_sum), and
// a sum or mean of it takes that sum: the float sum_of gives for its value,
// in the vector body and the tail alike.
template <typename T>
void expect_sums_of_squares_as_sum_of(std::size_t n) {
  xgrad::manual_seed(40 + n);
  const Variable<T> x(xgrad::uniform<T>({n}, T(-2), T(2)));
  const Variable<T> squares = xgrad::square(x);
  const T expected = xgrad::sum_of(squares.value().data(), n);
  EXPECT_EQ(xgrad::sum(squares).item(), expected) << n << " elements";
  EXPECT_EQ(xgrad::mean(squares).item(), expected * (T(1) / static_cast<T>(n))) << n << " elements";
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(squares.value()(i), x.value()(i) * x.value()(i)) << i;
}

TEST(Square, SumsOfSquaresAreSumOfs) {
  for (std::size_t n : {1u, 15u, 37u, 1000u, 51200u}) {
    expect_sums_of_squares_as_sum_of<float>(n);
    expect_sums_of_squares_as_sum_of<double>(n);
  }
}

TEST(Square, AChangedValueIsSummedAgain) {
  Variable<float> squares = xgrad::square(Variable<float>(Array<float>{1.f, 2.f, 3.f}));
  squares.value()(0) = 10.f;  // the mutable value() forgets the squares' sum
  EXPECT_EQ(xgrad::sum(squares).item(), 23.f);
  EXPECT_EQ(xgrad::mean(squares).item(), 23.f * (1.f / 3.f));
}

TEST(Pow, Forward) {
  // np.array([1., 4., 9.]) ** 0.5, np.array([-2., 3.]) ** 3.0, np.array([2., 4.]) ** -1.0
  expect_array_near(xgrad::pow(V(Array<double>{1., 4., 9.}), 0.5).value(),
                    Array<double>{1., 2., 3.}, 1e-15);
  expect_array_near(xgrad::pow(V(Array<double>{-2., 3.}), 3.0).value(),
                    Array<double>{-8., 27.}, 1e-12);
  expect_array_near(xgrad::pow(V(Array<double>{2., 4.}), -1.0).value(),
                    Array<double>{0.5, 0.25}, 1e-15);
}

TEST(Pow, IntegerExponentForFloat) {
  // The exponent is not deduced: an int converts to the Variable's type.
  const Variable<float> x(Array<float>{1.5f, -2.f});
  expect_array_near(xgrad::pow(x, 2).value(), Array<float>{2.25f, 4.f}, 0.0);
}

TEST(Pow, GradcheckCubeIncludingNegatives) {
  expect_gradcheck([](const Inputs& in) { return xgrad::pow(in[0], 3.0); },
                   {random_input({2, 3}, 16)});
}

TEST(Pow, GradcheckSquareRoot) {
  expect_gradcheck([](const Inputs& in) { return xgrad::pow(in[0], 0.5); },
                   {random_input({4}, 17, 0.3, 3.0)});
}

TEST(Pow, GradcheckNegativeExponent) {
  expect_gradcheck([](const Inputs& in) { return xgrad::pow(in[0], -2.0); },
                   {random_input({4}, 18, 0.5, 2.0)});
}

TEST(Pow, ZeroExponentHasZeroGradientEvenAtZero) {
  V x = leaf(Array<double>{0., 2., -3.});
  xgrad::sum(xgrad::pow(x, 0.0)).backward();
  expect_array_near(x.grad(), Array<double>{0., 0., 0.}, 0.0);
  expect_gradcheck([](const Inputs& in) { return xgrad::pow(in[0], 0.0); },
                   {random_input({3}, 19)});
}

// ---------------------------------------------------------------- sum and mean over one axis

TEST(SumAxis, ForwardEveryAxis) {
  const V a(arange({2, 3, 4}));
  // np.arange(24.).reshape(2,3,4).sum(axis=0)  (and axis=-3)
  const Array<double> axis0 = {{12., 14., 16., 18.}, {20., 22., 24., 26.}, {28., 30., 32., 34.}};
  // np.arange(24.).reshape(2,3,4).sum(axis=1)
  const Array<double> axis1 = {{12., 15., 18., 21.}, {48., 51., 54., 57.}};
  // np.arange(24.).reshape(2,3,4).sum(axis=2)  (and axis=-1)
  const Array<double> axis2 = {{6., 22., 38.}, {54., 70., 86.}};
  expect_array_near(xgrad::sum(a, 0).value(), axis0, 0.0);
  expect_array_near(xgrad::sum(a, -3).value(), axis0, 0.0);
  expect_array_near(xgrad::sum(a, 1).value(), axis1, 0.0);
  expect_array_near(xgrad::sum(a, -2).value(), axis1, 0.0);
  expect_array_near(xgrad::sum(a, 2).value(), axis2, 0.0);
  expect_array_near(xgrad::sum(a, -1).value(), axis2, 0.0);
}

TEST(SumAxis, KeepdimsKeepsAnAxisOfOne) {
  const V a(arange({2, 3, 4}));
  const Array<double> kept = xgrad::sum(a, 1, true).value();
  EXPECT_EQ(xgrad::shape_to_string(kept.shape()), "(2, 1, 4)");
  // np.arange(24.).reshape(2,3,4).sum(axis=1, keepdims=True)
  expect_array_near(kept, Array<double>{{{12., 15., 18., 21.}}, {{48., 51., 54., 57.}}}, 0.0);
  EXPECT_EQ(xgrad::shape_to_string(xgrad::sum(a, -1, true).shape()), "(2, 3, 1)");
  EXPECT_EQ(xgrad::shape_to_string(xgrad::sum(a, 0, true).shape()), "(1, 3, 4)");
}

TEST(SumAxis, OneDimensionalGivesZeroD) {
  const V a(Array<double>{1., 2., 4.});
  const V s = xgrad::sum(a, 0);
  EXPECT_EQ(s.dimension(), 0u);
  EXPECT_EQ(s.value()(), 7.);
}

TEST(SumAxis, GradcheckEveryAxisAndKeepdims) {
  for (std::ptrdiff_t axis = -3; axis < 3; ++axis) {
    for (bool keepdims : {false, true}) {
      SCOPED_TRACE("axis " + std::to_string(axis) + " keepdims " + std::to_string(keepdims));
      expect_gradcheck(
          [axis, keepdims](const Inputs& in) { return xgrad::sum(in[0], axis, keepdims); },
          {random_input({2, 3, 4}, 20)});
    }
  }
}

TEST(SumAxis, GradcheckAxisOfOneAndTwoDimensional) {
  expect_gradcheck([](const Inputs& in) { return xgrad::sum(in[0], 1); },
                   {random_input({3, 1, 2}, 21)});
  expect_gradcheck([](const Inputs& in) { return xgrad::sum(in[0], -1, true); },
                   {random_input({3, 5}, 22)});
}

TEST(SumAxis, AxisOutOfRangeThrows) {
  const V a(xgrad::zeros<double>({2, 3, 4}));
  expect_invalid([&] { xgrad::sum(a, 3); }, {"sum", "axis 3", "(2, 3, 4)"});
  expect_invalid([&] { xgrad::sum(a, -4); }, {"sum", "axis -4", "(2, 3, 4)"});
  const V scalar(Array<double>(5.0));
  expect_invalid([&] { xgrad::sum(scalar, 0); }, {"sum", "axis 0", "()"});
}

TEST(MeanAxis, ForwardEveryAxis) {
  const V a(arange({2, 3, 4}));
  // np.arange(24.).reshape(2,3,4).mean(axis=0)
  expect_array_near(xgrad::mean(a, 0).value(),
                    Array<double>{{6., 7., 8., 9.}, {10., 11., 12., 13.}, {14., 15., 16., 17.}},
                    1e-14);
  // np.arange(24.).reshape(2,3,4).mean(axis=1)
  expect_array_near(xgrad::mean(a, 1).value(),
                    Array<double>{{4., 5., 6., 7.}, {16., 17., 18., 19.}}, 1e-14);
  // np.arange(24.).reshape(2,3,4).mean(axis=-1)
  expect_array_near(xgrad::mean(a, -1).value(),
                    Array<double>{{1.5, 5.5, 9.5}, {13.5, 17.5, 21.5}}, 1e-14);
  // np.arange(24.).reshape(2,3,4).mean(axis=1, keepdims=True)
  expect_array_near(xgrad::mean(a, -2, true).value(),
                    Array<double>{{{4., 5., 6., 7.}}, {{16., 17., 18., 19.}}}, 1e-14);
}

TEST(MeanAxis, GradcheckEveryAxisAndKeepdims) {
  for (std::ptrdiff_t axis = -3; axis < 3; ++axis) {
    for (bool keepdims : {false, true}) {
      SCOPED_TRACE("axis " + std::to_string(axis) + " keepdims " + std::to_string(keepdims));
      expect_gradcheck(
          [axis, keepdims](const Inputs& in) { return xgrad::mean(in[0], axis, keepdims); },
          {random_input({2, 3, 4}, 23)});
    }
  }
}

TEST(MeanAxis, ErrorsNameTheShape) {
  const V a(xgrad::zeros<double>({2, 3}));
  expect_invalid([&] { xgrad::mean(a, 2); }, {"mean", "axis 2", "(2, 3)"});
  expect_invalid([&] { xgrad::mean(a, -3); }, {"mean", "axis -3", "(2, 3)"});
  const V empty(xgrad::zeros<double>({2, 0}));
  expect_invalid([&] { xgrad::mean(empty, 1); }, {"mean", "(2, 0)", "no elements"});
}

// ---------------------------------------------------------------- max over one axis

TEST(MaxAxis, ForwardEveryAxisAndKeepdims) {
  // np.arange(24.).reshape(2,3,4) with element (1, 0, 2) set to 100
  Array<double> x = arange({2, 3, 4});
  x(1, 0, 2) = 100.;
  const V a(x);
  // .max(axis=0)
  expect_array_near(xgrad::max(a, 0).value(),
                    Array<double>{{12., 13., 100., 15.}, {16., 17., 18., 19.}, {20., 21., 22., 23.}}, 0.0);
  // .max(axis=1)
  expect_array_near(xgrad::max(a, 1).value(), Array<double>{{8., 9., 10., 11.}, {20., 21., 100., 23.}}, 0.0);
  // .max(axis=-1, keepdims=True)
  const Array<double> kept = xgrad::max(a, -1, true).value();
  EXPECT_EQ(xgrad::shape_to_string(kept.shape()), "(2, 3, 1)");
  expect_array_near(xgrad::reshaped(kept, {2, 3}), Array<double>{{3., 7., 11.}, {100., 19., 23.}}, 0.0);
  EXPECT_EQ(xgrad::max(V(Array<double>{-3., -1., -2.}), 0).value()(), -1.);
}

TEST(MaxAxis, GradcheckEveryAxisAndKeepdims) {
  // Distinct random values: no ties, where the maximum is differentiable.
  for (std::ptrdiff_t axis = -3; axis < 3; ++axis) {
    for (bool keepdims : {false, true}) {
      SCOPED_TRACE("axis " + std::to_string(axis) + " keepdims " + std::to_string(keepdims));
      expect_gradcheck([axis, keepdims](const Inputs& in) { return xgrad::max(in[0], axis, keepdims); },
                       {random_input({2, 3, 4}, 24)});
    }
  }
}

TEST(MaxAxis, TiesShareTheGradientAndANanLaneGivesNan) {
  V x = leaf(Array<double>{{1., 5., 5., 2.}, {7., 0., 7., 7.}});
  V y = xgrad::max(x, 1);
  xgrad::sum(xgrad::mul(y, V(Array<double>{1., 3.}))).backward();
  // TensorFlow's reduce_max gradient: 1/2 to each of the two 5s, 3/3 to each 7.
  expect_array_near(x.grad(), Array<double>{{0., 0.5, 0.5, 0.}, {1., 0., 1., 1.}}, 0.0);

  const double nan = std::numeric_limits<double>::quiet_NaN();
  V with_nan = leaf(Array<double>{{1., nan, 3.}, {4., 6., 5.}});
  V m = xgrad::max(with_nan, 1);
  EXPECT_TRUE(std::isnan(m.value()(0)));
  EXPECT_EQ(m.value()(1), 6.);
  xgrad::sum(m).backward();  // a NaN lane's gradient goes to its NaN
  expect_array_near(with_nan.grad(), Array<double>{{0., 1., 0.}, {0., 1., 0.}}, 0.0);
}

TEST(MaxAxis, ErrorsNameTheShape) {
  const V a(xgrad::zeros<double>({2, 3}));
  expect_invalid([&] { xgrad::max(a, 2); }, {"max", "axis 2", "(2, 3)"});
  const V empty(xgrad::zeros<double>({2, 0}));
  expect_invalid([&] { xgrad::max(empty, 1); }, {"max", "(2, 0)", "no elements"});
}

// ---------------------------------------------------------------- concat

TEST(Concat, Forward) {
  const V a(Array<double>{{1., 2.}, {3., 4.}});
  const V b(xgrad::reshaped(Array<double>{5., 6.}, {2, 1}));
  // np.concatenate([[[1.,2],[3,4]], [[5.],[6]]], axis=1)
  expect_array_near(xgrad::concat<double>({a, b}, 1).value(),
                    Array<double>{{1., 2., 5.}, {3., 4., 6.}}, 0.0);
  expect_array_near(xgrad::concat<double>({a, b}, -1).value(),
                    Array<double>{{1., 2., 5.}, {3., 4., 6.}}, 0.0);
  const V c(Array<double>{{7., 8.}});
  // np.concatenate([[[1.,2],[3,4]], [[7.,8]]], axis=0)
  expect_array_near(xgrad::concat<double>({a, c}, 0).value(),
                    Array<double>{{1., 2.}, {3., 4.}, {7., 8.}}, 0.0);
}

TEST(Concat, ForwardMiddleAxisOfThreeDimensional) {
  const Array<double> x = arange({2, 1, 2});
  const Array<double> y = arange({2, 2, 2}) + 10.0;
  // np.concatenate([np.arange(4.).reshape(2,1,2), np.arange(8.).reshape(2,2,2) + 10], axis=1)
  expect_array_near(xgrad::concat<double>({V(x), V(y)}, 1).value(),
                    Array<double>{{{0., 1.}, {10., 11.}, {12., 13.}},
                                  {{2., 3.}, {14., 15.}, {16., 17.}}},
                    0.0);
}

TEST(Concat, GradcheckSeveralShapes) {
  auto on = [](std::ptrdiff_t axis) {
    return [axis](const Inputs& in) { return xgrad::concat(in, axis); };
  };
  expect_gradcheck(on(1), {random_input({2, 3}, 30), random_input({2, 1}, 31),
                           random_input({2, 2}, 32)});
  expect_gradcheck(on(-1), {random_input({2, 3}, 33), random_input({2, 2}, 34)});
  expect_gradcheck(on(0), {random_input({1, 3, 2}, 35), random_input({2, 3, 2}, 36)});
  expect_gradcheck(on(-2), {random_input({2, 1, 2}, 37), random_input({2, 3, 2}, 38)});
  expect_gradcheck(on(2), {random_input({2, 3, 2}, 39), random_input({2, 3, 1}, 40)});
  expect_gradcheck(on(0), {random_input({3}, 41), random_input({2}, 42)});
  expect_gradcheck(on(0), {random_input({4}, 43)});
}

TEST(Concat, GradcheckReusedVariableAccumulates) {
  expect_gradcheck([](const Inputs& in) { return xgrad::concat<double>({in[0], in[1], in[0]}, 1); },
                   {random_input({2, 2}, 44), random_input({2, 1}, 45)});
}

TEST(Concat, ConstantInputGetsNoGradient) {
  const V constant(xgrad::reshaped(Array<double>{1., 2.}, {2, 1}));
  V x = leaf(Array<double>{{3., 4.}, {5., 6.}});
  const Array<double> weights = {{1., 2., 3.}, {4., 5., 6.}};
  xgrad::sum(xgrad::concat<double>({constant, x}, 1) * V(weights)).backward();
  expect_array_near(x.grad(), Array<double>{{2., 3.}, {5., 6.}}, 0.0);
  EXPECT_FALSE(constant.has_grad());
}

TEST(Concat, ShapeChecksThrow) {
  const V a(xgrad::zeros<double>({2, 3}));
  const V b(xgrad::zeros<double>({4, 5}));
  expect_invalid([&] { xgrad::concat<double>({a, b}, 1); },
                 {"concat", "(2, 3)", "(4, 5)", "axis 1"});
  expect_invalid([&] { xgrad::concat<double>({a, V(xgrad::zeros<double>({2, 3, 1}))}, 0); },
                 {"concat", "(2, 3)", "(2, 3, 1)"});
  expect_invalid([&] { xgrad::concat<double>({a, a}, 2); }, {"concat", "axis 2", "(2, 3)"});
  expect_invalid([&] { xgrad::concat<double>({a, a}, -3); }, {"concat", "axis -3", "(2, 3)"});
  expect_invalid([&] { xgrad::concat<double>({}, 0); }, {"concat", "no values"});
  const V scalar(Array<double>(1.0));
  expect_invalid([&] { xgrad::concat<double>({scalar, scalar}, 0); }, {"concat", "()", "0-D"});
}

// ---------------------------------------------------------------- slice

TEST(Slice, Forward) {
  const V a(arange({2, 3, 4}));
  // np.arange(24.).reshape(2,3,4)[:, 1:3]
  expect_array_near(xgrad::slice(a, 1, 1, 3).value(),
                    Array<double>{{{4., 5., 6., 7.}, {8., 9., 10., 11.}},
                                  {{16., 17., 18., 19.}, {20., 21., 22., 23.}}},
                    0.0);
  // np.arange(24.).reshape(2,3,4)[..., 0:2]
  expect_array_near(xgrad::slice(a, -1, 0, 2).value(),
                    Array<double>{{{0., 1.}, {4., 5.}, {8., 9.}},
                                  {{12., 13.}, {16., 17.}, {20., 21.}}},
                    0.0);
  // np.arange(24.).reshape(2,3,4)[1:2]
  expect_array_near(xgrad::slice(a, 0, 1, 2).value(),
                    Array<double>{
                        {{12., 13., 14., 15.}, {16., 17., 18., 19.}, {20., 21., 22., 23.}}},
                    0.0);
}

TEST(Slice, EmptyAndWholeRanges) {
  const V a(arange({2, 3, 4}));
  EXPECT_EQ(xgrad::shape_to_string(xgrad::slice(a, 1, 2, 2).shape()), "(2, 0, 4)");
  expect_array_near(xgrad::slice(a, 1, 0, 3).value(), a.value(), 0.0);
}

TEST(Slice, GradcheckSeveralShapesAndAxes) {
  auto sliced = [](std::ptrdiff_t axis, std::size_t start, std::size_t stop) {
    return [=](const Inputs& in) { return xgrad::slice(in[0], axis, start, stop); };
  };
  expect_gradcheck(sliced(0, 1, 4), {random_input({5}, 50)});
  expect_gradcheck(sliced(1, 1, 3), {random_input({2, 4}, 51)});
  expect_gradcheck(sliced(-2, 0, 1), {random_input({3, 2}, 52)});
  expect_gradcheck(sliced(1, 1, 3), {random_input({2, 3, 4}, 53)});
  expect_gradcheck(sliced(-1, 2, 4), {random_input({2, 3, 4}, 54)});
  expect_gradcheck(sliced(0, 0, 1), {random_input({2, 3, 4}, 55)});
}

TEST(Slice, GradcheckOverlappingSlicesAccumulate) {
  expect_gradcheck(
      [](const Inputs& in) { return xgrad::slice(in[0], 1, 0, 3) * xgrad::slice(in[0], 1, 1, 4); },
      {random_input({2, 4}, 56)});
}

TEST(Slice, BackwardAddsIntoExistingGradient) {
  V x = leaf(xgrad::zeros<double>({2, 3}));
  x.add_grad(xgrad::ones<double>({2, 3}));
  xgrad::sum(xgrad::slice(x, 1, 1, 2)).backward();
  expect_array_near(x.grad(), Array<double>{{1., 2., 1.}, {1., 2., 1.}}, 0.0);
}

TEST(Slice, StepTakesEveryStepthElement) {
  const V a(arange({2, 5, 2}));
  // np.arange(20.).reshape(2,5,2)[:, 1:5:2]
  expect_array_near(xgrad::slice(a, 1, 1, 5, 2).value(),
                    Array<double>{{{2., 3.}, {6., 7.}}, {{12., 13.}, {16., 17.}}}, 0.0);
  // [:, 0:5:3] and [..., 0:2:2]: a count rounded up, a last axis
  expect_array_near(xgrad::slice(a, 1, 0, 5, 3).value(), Array<double>{{{0., 1.}, {6., 7.}}, {{10., 11.}, {16., 17.}}},
                    0.0);
  EXPECT_EQ(xgrad::shape_to_string(xgrad::slice(a, -1, 0, 2, 2).shape()), "(2, 5, 1)");
  EXPECT_EQ(xgrad::shape_to_string(xgrad::slice(a, 1, 3, 3, 2).shape()), "(2, 0, 2)");
  expect_gradcheck([](const Inputs& in) { return xgrad::slice(in[0], 1, 1, 5, 2); }, {random_input({2, 5, 3}, 57)});
  expect_gradcheck([](const Inputs& in) { return xgrad::slice(in[0], 0, 0, 7, 3) * xgrad::slice(in[0], 0, 0, 3); },
                   {random_input({7}, 58)});
  expect_invalid([&] { xgrad::slice(a, 1, 0, 2, 0); }, {"slice", "step must be positive"});
}

TEST(Slice, RangeChecksThrow) {
  const V a(xgrad::zeros<double>({2, 4}));
  expect_invalid([&] { xgrad::slice(a, 1, 3, 2); }, {"slice", "[3, 2)", "(2, 4)"});
  expect_invalid([&] { xgrad::slice(a, 1, 2, 5); }, {"slice", "[2, 5)", "(2, 4)"});
  expect_invalid([&] { xgrad::slice(a, 0, 3, 3); }, {"slice", "[3, 3)", "(2, 4)"});
  expect_invalid([&] { xgrad::slice(a, 2, 0, 1); }, {"slice", "axis 2", "(2, 4)"});
  expect_invalid([&] { xgrad::slice(a, -3, 0, 1); }, {"slice", "axis -3", "(2, 4)"});
}

// ---------------------------------------------------------------- softmax, log_softmax

// e = np.exp(x - x.max(axis, keepdims=True)); e / e.sum(axis, keepdims=True)
// and x - m - np.log(np.exp(x - m).sum(axis, keepdims=True)) with m = x.max(axis, keepdims=True),
// for x = np.array([[1.,2,3],[1,1,1]]).
const Array<double> kLogits = {{1., 2., 3.}, {1., 1., 1.}};
const Array<double> kSoftmaxLast = {{0.09003057317038043, 0.24472847105479767, 0.6652409557748218},
                                    {1. / 3., 1. / 3., 1. / 3.}};
const Array<double> kSoftmaxFirst = {{0.5, 0.7310585786300049, 0.8807970779778825},
                                     {0.5, 0.26894142136999516, 0.11920292202211755}};
const Array<double> kLogSoftmaxLast = {
    {-2.4076059644443806, -1.4076059644443804, -0.40760596444438035},
    {-1.0986122886681096, -1.0986122886681096, -1.0986122886681096}};
const Array<double> kLogSoftmaxFirst = {
    {-0.6931471805599453, -0.3132616875182228, -0.1269280110429724},
    {-0.6931471805599453, -1.3132616875182228, -2.1269280110429722}};

TEST(Softmax, Forward) {
  const V x(kLogits);
  expect_array_near(xgrad::softmax(x).value(), kSoftmaxLast, 1e-15);
  expect_array_near(xgrad::softmax(x, 1).value(), kSoftmaxLast, 1e-15);
  expect_array_near(xgrad::softmax(x, 0).value(), kSoftmaxFirst, 1e-15);
  expect_array_near(xgrad::softmax(x, -2).value(), kSoftmaxFirst, 1e-15);
}

TEST(Softmax, SumsToOneAlongTheAxisOnly) {
  const V x = random_input({2, 3, 4}, 60, -5.0, 5.0);
  for (std::ptrdiff_t axis = -3; axis < 3; ++axis) {
    const V total = xgrad::sum(xgrad::softmax(x, axis), axis);
    expect_array_near(total.value(), xgrad::ones<double>(xgrad::to_shape(total.shape())), 1e-14);
  }
}

TEST(Softmax, GradcheckEveryAxisSeveralShapes) {
  expect_gradcheck([](const Inputs& in) { return xgrad::softmax(in[0]); },
                   {random_input({5}, 61)});
  expect_gradcheck([](const Inputs& in) { return xgrad::softmax(in[0], 0); },
                   {random_input({3, 2}, 62)});
  for (std::ptrdiff_t axis = -3; axis < 3; ++axis) {
    SCOPED_TRACE("axis " + std::to_string(axis));
    expect_gradcheck([axis](const Inputs& in) { return xgrad::softmax(in[0], axis); },
                     {random_input({2, 3, 4}, 63)});
  }
}

TEST(Softmax, StableForHugeLogits) {
  // e = np.exp(x - x.max()); e / e.sum() for x = np.array([1e4, 0, -1e4]) -> [1., 0., 0.]
  V x = leaf(Array<double>{1e4, 0., -1e4});
  const V y = xgrad::softmax(x);
  expect_array_near(y.value(), Array<double>{1., 0., 0.}, 0.0);
  (y * V(Array<double>{1., 2., 3.})).backward(xgrad::ones<double>({3}));
  expect_all_finite(x.grad());

  Variable<float> xf(Array<float>{{1e4f, -1e4f, 0.f}, {-1e4f, -1e4f, -1e4f}}, true);
  const Variable<float> yf = xgrad::softmax(xf);
  expect_all_finite(yf.value());
  expect_array_near(yf.value(), Array<float>{{1.f, 0.f, 0.f}, {1.f / 3, 1.f / 3, 1.f / 3}}, 1e-6);
  xgrad::sum(xgrad::square(yf)).backward();
  expect_all_finite(xf.grad());
}

TEST(Softmax, AxisOutOfRangeThrows) {
  const V x(xgrad::zeros<double>({2, 3}));
  expect_invalid([&] { xgrad::softmax(x, 2); }, {"softmax", "axis 2", "(2, 3)"});
  expect_invalid([&] { xgrad::softmax(x, -3); }, {"softmax", "axis -3", "(2, 3)"});
  expect_invalid([&] { xgrad::softmax(V(Array<double>(1.0))); }, {"softmax", "axis -1", "()"});
}

TEST(LogSoftmax, Forward) {
  const V x(kLogits);
  expect_array_near(xgrad::log_softmax(x).value(), kLogSoftmaxLast, 1e-15);
  expect_array_near(xgrad::log_softmax(x, 0).value(), kLogSoftmaxFirst, 1e-15);
  expect_array_near(xgrad::log_softmax(x, -2).value(), kLogSoftmaxFirst, 1e-15);
}

TEST(LogSoftmax, MatchesLogOfSoftmax) {
  const V x = random_input({3, 4}, 64, -5.0, 5.0);
  for (std::ptrdiff_t axis : {0, 1, -1}) {
    expect_array_near(xgrad::log_softmax(x, axis).value(),
                      xgrad::log(xgrad::softmax(x, axis)).value(), 1e-14);
  }
}

TEST(LogSoftmax, GradcheckEveryAxisSeveralShapes) {
  expect_gradcheck([](const Inputs& in) { return xgrad::log_softmax(in[0]); },
                   {random_input({5}, 65)});
  expect_gradcheck([](const Inputs& in) { return xgrad::log_softmax(in[0], -2); },
                   {random_input({3, 2}, 66)});
  for (std::ptrdiff_t axis = -3; axis < 3; ++axis) {
    SCOPED_TRACE("axis " + std::to_string(axis));
    expect_gradcheck([axis](const Inputs& in) { return xgrad::log_softmax(in[0], axis); },
                     {random_input({2, 3, 4}, 67)});
  }
}

TEST(LogSoftmax, StableForHugeLogits) {
  // x - x.max() - np.log(np.exp(x - x.max()).sum()) for x = np.array([1e4, 0, -1e4])
  // -> [0., -10000., -20000.]
  V x = leaf(Array<double>{1e4, 0., -1e4});
  V y = xgrad::log_softmax(x);
  expect_array_near(y.value(), Array<double>{0., -1e4, -2e4}, 0.0);
  y.backward(Array<double>{1., 2., 3.});
  expect_all_finite(x.grad());
  // g - softmax * sum(g) = [1, 2, 3] - [1, 0, 0] * 6
  expect_array_near(x.grad(), Array<double>{-5., 2., 3.}, 0.0);

  Variable<float> xf(Array<float>{{-1e4f, 1e4f}, {1e4f, 1e4f}}, true);
  const Variable<float> yf = xgrad::log_softmax(xf);
  expect_array_near(yf.value(), Array<float>{{-2e4f, 0.f}, {-0.6931472f, -0.6931472f}}, 1e-6);
  xgrad::sum(yf).backward();
  expect_all_finite(xf.grad());
}

TEST(LogSoftmax, AxisOutOfRangeThrows) {
  const V x(xgrad::zeros<double>({2, 3}));
  expect_invalid([&] { xgrad::log_softmax(x, 2); }, {"log_softmax", "axis 2", "(2, 3)"});
  expect_invalid([&] { xgrad::log_softmax(x, -3); }, {"log_softmax", "axis -3", "(2, 3)"});
}

// ---------------------------------------------------------------- graph behaviour

TEST(MathOps, RecordNothingUnderNoGradGuard) {
  const V x = random_input({2, 3}, 70, 0.5, 2.0);
  xgrad::NoGradGuard no_grad;
  EXPECT_FALSE(xgrad::exp(x).requires_grad());
  EXPECT_FALSE(xgrad::softmax(x).requires_grad());
  EXPECT_FALSE(xgrad::slice(x, 0, 0, 1).requires_grad());
  EXPECT_FALSE(xgrad::concat<double>({x, x}, 0).requires_grad());
  EXPECT_FALSE(xgrad::sum(x, 1).requires_grad());
}

TEST(MathOps, FloatInstantiationsRun) {
  Variable<float> x(Array<float>{{1.f, 2.f}, {3.f, 4.f}}, true);
  const Variable<float> y = xgrad::mean(
      xgrad::concat<float>({xgrad::log_softmax(x, 0), xgrad::slice(xgrad::exp(x) / x, 1, 0, 1)}, 1),
      -1);
  xgrad::sum(y).backward();
  EXPECT_EQ(xgrad::shape_to_string(x.grad().shape()), "(2, 2)");
  expect_all_finite(x.grad());
}

}  // namespace

// ---------------------------------------------------------------- abs

namespace {

// Entries of magnitude in [0.1, 2) with alternating signs: away from 0, where
// |x| has no derivative and a central difference straddling 0 would be wrong.
V away_from_zero(const Shape& shape, std::uint64_t seed) {
  V x = random_input(shape, seed, 0.1, 2.0);
  for (std::size_t i = 0; i < x.size(); i += 2) x.value().flat(i) = -x.value().flat(i);
  return x;
}

TEST(Abs, Forward) {
  // np.abs(np.array([[-1.5, 0., 2.], [3., -0.25, -0.]])) -> [[1.5, 0., 2.], [3., 0.25, 0.]]
  const V x(Array<double>{{-1.5, 0.0, 2.0}, {3.0, -0.25, -0.0}});
  expect_array_near(xgrad::abs(x).value(), Array<double>{{1.5, 0.0, 2.0}, {3.0, 0.25, 0.0}}, 0.0);
}

TEST(Abs, GradcheckAwayFromZero) {
  std::uint64_t seed = 90;
  for (const Shape& shape : {Shape{5}, Shape{3, 4}, Shape{2, 3, 4}}) {
    const V x = away_from_zero(shape, seed++);
    expect_gradcheck([](const Inputs& in) { return xgrad::abs(in[0]); }, {x});
    // x used twice: |x| · x accumulates both paths' gradients.
    expect_gradcheck([](const Inputs& in) { return xgrad::mul(xgrad::abs(in[0]), in[0]); }, {x});
  }
}

TEST(Abs, GradientIsSignAndZeroAtZero) {
  // d|x|/dx = sign(x); at 0 the subgradient 0, as TensorFlow's and JAX's.
  const V x = leaf(Array<double>{-2.0, 0.0, 3.0, -0.0});
  xgrad::sum(xgrad::abs(x)).backward();
  expect_array_near(x.grad(), Array<double>{-1.0, 0.0, 1.0, 0.0}, 0.0);
}

TEST(Abs, FloatAndNoGrad) {
  Variable<float> x(Array<float>{{-1.f, 2.f}}, true);
  xgrad::sum(xgrad::abs(x)).backward();
  expect_array_near(x.grad(), Array<float>{{-1.f, 1.f}}, 0.0);
  xgrad::NoGradGuard no_grad;
  EXPECT_FALSE(xgrad::abs(x).requires_grad());
}

// ------------------------------------------------- Keras activations
// hard_sigmoid, softsign, elu, selu: values by their Keras 3 formulas
// (keras/src/activations/activations.py), gradients by gradcheck away from
// the kinks (hard_sigmoid's ±3, elu's and selu's 0).

// Entries in [-5, 5) pushed at least 0.05 away from -3, 0 and 3.
V away_from_kinks(const Shape& shape, std::uint64_t seed) {
  V x = random_input(shape, seed, -5.0, 5.0);
  for (auto& v : x.value()) {
    for (double kink : {-3.0, 0.0, 3.0})
      if (std::abs(v - kink) < 0.05) v = kink + (v < kink ? -0.05 : 0.05);
  }
  return x;
}

TEST(HardSigmoid, Forward) {
  // Keras 3: relu6(x + 3) / 6 -> [0, 0, 1/3, 0.5, 0.75, 1, 1]
  const V x(Array<double>{-4.0, -3.0, -1.0, 0.0, 1.5, 3.0, 10.0});
  expect_array_near(xgrad::hard_sigmoid(x).value(),
                    Array<double>{0.0, 0.0, 2.0 / 6.0, 0.5, 0.75, 1.0, 1.0}, 1e-16);
}

TEST(HardSigmoid, GradcheckAndSlope) {
  std::uint64_t seed = 200;
  for (const Shape& shape : {Shape{7}, Shape{3, 5}, Shape{2, 3, 4}})
    expect_gradcheck([](const Inputs& in) { return xgrad::hard_sigmoid(in[0]); },
                     {away_from_kinks(shape, seed++)});
  const V x = leaf(Array<double>{-4.0, -1.0, 2.0, 4.0});
  xgrad::sum(xgrad::hard_sigmoid(x)).backward();
  expect_array_near(x.grad(), Array<double>{0.0, 1.0 / 6.0, 1.0 / 6.0, 0.0}, 0.0);
}

TEST(Softsign, ForwardAndGradcheck) {
  // x / (1 + |x|)
  const V x(Array<double>{-3.0, 0.0, 1.0, 4.0});
  expect_array_near(xgrad::softsign(x).value(), Array<double>{-0.75, 0.0, 0.5, 0.8}, 1e-16);
  std::uint64_t seed = 210;
  for (const Shape& shape : {Shape{9}, Shape{4, 3}})
    expect_gradcheck([](const Inputs& in) { return xgrad::softsign(in[0]); },
                     {random_input(shape, seed++, -4.0, 4.0)});
  // Used twice: softsign(x) · x accumulates both paths.
  expect_gradcheck([](const Inputs& in) { return xgrad::mul(xgrad::softsign(in[0]), in[0]); },
                   {random_input({2, 5}, 212)});
}

TEST(Elu, ForwardAndGradcheck) {
  // x > 0 ? x : alpha (e^x - 1)
  const V x(Array<double>{-2.0, -0.5, 0.0, 0.5, 3.0});
  const Array<double> e{std::expm1(-2.0), std::expm1(-0.5), 0.0, 0.5, 3.0};
  expect_array_near(xgrad::elu(x).value(), e, 1e-15);
  expect_array_near(xgrad::elu(x, 0.5).value(), Array<double>{0.5 * e(0), 0.5 * e(1), 0.0, 0.5, 3.0},
                    1e-15);
  std::uint64_t seed = 220;
  for (const Shape& shape : {Shape{8}, Shape{3, 4}, Shape{2, 2, 3}}) {
    expect_gradcheck([](const Inputs& in) { return xgrad::elu(in[0]); },
                     {away_from_kinks(shape, seed++)});
    expect_gradcheck([](const Inputs& in) { return xgrad::elu(in[0], 0.3); },
                     {away_from_kinks(shape, seed++)});
    // A negative alpha (Keras takes any): below 0 the output is then
    // positive, and only the input says which side of the kink it came from.
    expect_gradcheck([](const Inputs& in) { return xgrad::elu(in[0], -0.7); },
                     {away_from_kinks(shape, seed++)});
  }
}

TEST(Selu, ForwardAndGradcheck) {
  // scale · (x > 0 ? x : alpha (e^x - 1)), alpha = 1.6732632423543772,
  // scale = 1.0507009873554805 (Keras, TensorFlow)
  const double alpha = 1.6732632423543772, scale = 1.0507009873554805;
  const V x(Array<double>{-1.0, 0.0, 2.0});
  expect_array_near(xgrad::selu(x).value(),
                    Array<double>{scale * alpha * std::expm1(-1.0), 0.0, scale * 2.0}, 1e-15);
  std::uint64_t seed = 230;
  for (const Shape& shape : {Shape{8}, Shape{3, 4}})
    expect_gradcheck([](const Inputs& in) { return xgrad::selu(in[0]); },
                     {away_from_kinks(shape, seed++)});
  expect_gradcheck([](const Inputs& in) { return xgrad::mul(xgrad::selu(in[0]), in[0]); },
                   {away_from_kinks({6}, 240)});
}

TEST(KerasActivations, FloatAndNoGrad) {
  Variable<float> x(Array<float>{{-1.f, 0.5f, 4.f}}, true);
  xgrad::sum(xgrad::add(xgrad::add(xgrad::hard_sigmoid(x), xgrad::softsign(x)),
                        xgrad::add(xgrad::elu(x), xgrad::selu(x))))
      .backward();
  EXPECT_EQ(x.grad().size(), 3u);
  expect_all_finite(x.grad());
  xgrad::NoGradGuard no_grad;
  EXPECT_FALSE(xgrad::hard_sigmoid(x).requires_grad());
  EXPECT_FALSE(xgrad::softsign(x).requires_grad());
  EXPECT_FALSE(xgrad::elu(x).requires_grad());
  EXPECT_FALSE(xgrad::selu(x).requires_grad());
}

// ------------------------------------------------- softplus ... mish
// Values by Keras 3's formulas (keras/src/activations/activations.py), the
// numbers from Python's math module: log1p(exp(x)), x · (1 + erf(x/√2)) / 2,
// x · tanh(log1p(exp(x))), x / (1 + exp(−x)).

// Entries in [low, high) pushed at least 0.05 away from each kink.
V away_from(std::initializer_list<double> kinks, const Shape& shape, std::uint64_t seed, double low,
            double high) {
  V x = random_input(shape, seed, low, high);
  for (auto& v : x.value())
    for (double kink : kinks)
      if (std::abs(v - kink) < 0.05) v = kink + (v < kink ? -0.05 : 0.05);
  return x;
}

TEST(KerasActivationOps, Values) {
  const V x(Array<double>{-3.0, -1.0, 0.0, 1.0, 2.0, 7.0});
  expect_array_near(xgrad::softplus(V(Array<double>{0.0, 2.0, -3.0})).value(),
                    Array<double>{0.6931471805599453, 2.1269280110429727, 0.04858735157374206}, 1e-15);
  expect_array_near(xgrad::relu6(x).value(), Array<double>{0.0, 0.0, 0.0, 1.0, 2.0, 6.0}, 0.0);
  expect_array_near(xgrad::leaky_relu(x).value(), Array<double>{-0.6, -0.2, 0.0, 1.0, 2.0, 7.0}, 1e-15);
  expect_array_near(xgrad::leaky_relu(x, 0.5).value(), Array<double>{-1.5, -0.5, 0.0, 1.0, 2.0, 7.0}, 1e-16);
  expect_array_near(xgrad::silu(V(Array<double>{2.0, -1.0, 0.0})).value(),
                    Array<double>{1.7615941559557646, -0.2689414213699951, 0.0}, 1e-15);
  expect_array_near(xgrad::gelu(V(Array<double>{1.0, -1.0, 2.0, 0.0})).value(),
                    Array<double>{0.8413447460685429, -0.15865525393145707, 1.9544997361036416, 0.0}, 1e-15);
  expect_array_near(xgrad::mish(V(Array<double>{1.0, -2.0, 0.0})).value(),
                    Array<double>{0.8650983882673103, -0.2525014826957089, 0.0}, 1e-15);
  // Keras' gelu(approximate=True); x = np.array([1.0,-1.0,2.0,0.0,-3.0])
  // 0.5*x*(1+np.tanh(np.sqrt(2/np.pi)*(x+0.044715*x**3)))
  expect_array_near(xgrad::gelu(V(Array<double>{1.0, -1.0, 2.0, 0.0, -3.0}), true).value(),
                    Array<double>{0.84119199, -0.15880801, 1.95459769, 0.0, -0.00363739}, 5e-9);
}

TEST(KerasActivationOps, GradcheckAwayFromKinks) {
  std::uint64_t seed = 300;
  const std::vector<std::pair<const char*, std::function<V(const V&)>>> ops = {
      {"softplus", [](const V& v) { return xgrad::softplus(v); }},
      {"relu6", [](const V& v) { return xgrad::relu6(v); }},
      {"leaky_relu", [](const V& v) { return xgrad::leaky_relu(v); }},
      {"silu", [](const V& v) { return xgrad::silu(v); }},
      {"gelu", [](const V& v) { return xgrad::gelu(v); }},
      {"gelu approximate", [](const V& v) { return xgrad::gelu(v, true); }},
      {"mish", [](const V& v) { return xgrad::mish(v); }},
  };
  for (const auto& [name, op] : ops) {
    SCOPED_TRACE(name);
    for (const Shape& shape : {Shape{9}, Shape{3, 4}})
      expect_gradcheck([op = op](const Inputs& in) { return op(in[0]); },
                       {away_from({0.0, 6.0}, shape, seed++, -8.0, 8.0)});
    // Used twice: op(x) · x accumulates both paths.
    expect_gradcheck([op = op](const Inputs& in) { return xgrad::mul(op(in[0]), in[0]); },
                     {away_from({0.0, 6.0}, {2, 5}, seed++, -4.0, 7.0)});
  }
}

TEST(KerasActivationOps, SlopesAtKinksAndFarOut) {
  // At a kink the left side's slope, as TensorFlow's relu6 and leaky_relu
  // gradients take it: relu6' is 1 only for 0 < x < 6, leaky_relu' is the
  // negative slope at 0.
  const V x = leaf(Array<double>{-1.0, 0.0, 3.0, 6.0, 7.0});
  xgrad::sum(xgrad::relu6(x)).backward();
  expect_array_near(x.grad(), Array<double>{0.0, 0.0, 1.0, 0.0, 0.0}, 0.0);
  const V y = leaf(Array<double>{-1.0, 0.0, 2.0});
  xgrad::sum(xgrad::leaky_relu(y)).backward();
  expect_array_near(y.grad(), Array<double>{0.2, 0.2, 1.0}, 0.0);
  // softplus' = sigmoid, silu'(0) = 1/2, gelu'(0) = Φ(0) = 1/2, mish'(0) = tanh(log 2) = 0.6.
  V z = leaf(Array<double>{0.0});
  xgrad::sum(xgrad::softplus(z)).backward();
  EXPECT_DOUBLE_EQ(z.grad()(0), 0.5);
  for (const auto& op : std::vector<std::function<V(const V&)>>{
           [](const V& v) { return xgrad::silu(v); }, [](const V& v) { return xgrad::gelu(v); },
           [](const V& v) { return xgrad::gelu(v, true); }}) {
    z.zero_grad();
    xgrad::sum(op(z)).backward();
    EXPECT_DOUBLE_EQ(z.grad()(0), 0.5);
  }
  z.zero_grad();
  xgrad::sum(xgrad::mish(z)).backward();
  EXPECT_NEAR(z.grad()(0), 0.6, 1e-15);
  // Far out: no overflow to inf or NaN, values and slopes at their limits.
  V far = leaf(Array<double>{-1000.0, 1000.0});
  for (const auto& op : std::vector<std::function<V(const V&)>>{
           [](const V& v) { return xgrad::softplus(v); }, [](const V& v) { return xgrad::silu(v); },
           [](const V& v) { return xgrad::gelu(v); }, [](const V& v) { return xgrad::gelu(v, true); },
           [](const V& v) { return xgrad::mish(v); }}) {
    far.zero_grad();
    const V out = op(far);
    xgrad::sum(out).backward();
    EXPECT_EQ(out.value()(0), 0.0);
    EXPECT_EQ(out.value()(1), 1000.0);
    EXPECT_EQ(far.grad()(0), 0.0);
    EXPECT_EQ(far.grad()(1), 1.0);
  }
}

TEST(KerasActivationOps, FloatMatchesDouble) {
  const Array<double> v = {-9.0, -2.5, -0.3, 0.0, 0.4, 1.7, 5.9, 12.0};
  const Variable<float> xf(xt::cast<float>(v));
  const V xd(v);
  const auto compare = [&](const char* name, const Variable<float>& f, const V& d) {
    for (std::size_t i = 0; i < v.size(); ++i)
      EXPECT_NEAR(f.value()(i), d.value()(i), 1e-6 * (1.0 + std::abs(d.value()(i)))) << name << " at " << v(i);
  };
  compare("softplus", xgrad::softplus(xf), xgrad::softplus(xd));
  compare("relu6", xgrad::relu6(xf), xgrad::relu6(xd));
  compare("leaky_relu", xgrad::leaky_relu(xf), xgrad::leaky_relu(xd));
  compare("silu", xgrad::silu(xf), xgrad::silu(xd));
  compare("gelu", xgrad::gelu(xf), xgrad::gelu(xd));
  compare("gelu approximate", xgrad::gelu(xf, true), xgrad::gelu(xd, true));
  compare("mish", xgrad::mish(xf), xgrad::mish(xd));
}

}  // namespace
