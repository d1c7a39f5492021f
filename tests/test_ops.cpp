// Every differentiable op in ops.hpp: its Jacobian against central
// differences in float64 (gradcheck, default tolerances atol 1e-7, rtol 1e-5,
// eps 1e-6), a few forward values against hand computation, and the shape
// errors each op raises.

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <xtensor/xarray.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor-blas/xlinalg.hpp>

#include "test_helpers.hpp"
#include "xgrad/autograd/gradcheck.hpp"
#include "xgrad/autograd/ops.hpp"
#include "xgrad/autograd/variable.hpp"
#include "xgrad/tensor/tensor.hpp"

namespace {

using xgrad::Array;
using xgrad::Shape;
using xgrad::Variable;
using xgrad::test::gradcheck_passes;
using xgrad::test::random_variable;
using xgrad::test::throws_with;
using Inputs = std::vector<Variable<double>>;
using V = Variable<double>;

// Each test draws its inputs from the same seed, so a failure reproduces.
class SeededTest : public ::testing::Test {
 protected:
  void SetUp() override { xgrad::manual_seed(20240501); }
};
using Matmul = SeededTest;
using Add = SeededTest;
using Sub = SeededTest;
using Mul = SeededTest;
using Neg = SeededTest;
using Scale = SeededTest;
using Tanh = SeededTest;
using Relu = SeededTest;
using Sigmoid = SeededTest;
using Sum = SeededTest;
using Mean = SeededTest;
using Reshape = SeededTest;
using Transpose = SeededTest;
using Select = SeededTest;
using Stack = SeededTest;
using Composite = SeededTest;

template <typename A>
Shape shape_of(const A& a) {
  return Shape(a.shape().begin(), a.shape().end());
}

// A leaf whose entries are at least 0.1 away from 0, for ops with a kink
// there (relu): central differences across the kink would be meaningless.
V away_from_zero(const Shape& shape) {
  Array<double> magnitude = xgrad::uniform<double>(shape, 0.1, 1.5);
  const Array<double> sign = xgrad::uniform<double>(shape, -1.0, 1.0);
  for (std::size_t i = 0; i < magnitude.size(); ++i)
    if (sign.flat(i) < 0) magnitude.flat(i) = -magnitude.flat(i);
  return V(magnitude, true);
}

V scalar_variable(double value) { return V(xgrad::full<double>({}, value), true); }

// ------------------------------------------------------------------- matmul

TEST_F(Matmul, GradcheckScalarByScalar) {
  const auto f = [](const Inputs& v) { return xgrad::matmul(v[0], v[1]); };
  EXPECT_TRUE(gradcheck_passes(f, {random_variable({1, 1}), random_variable({1, 1})}));
}

TEST_F(Matmul, GradcheckMatrixByMatrix) {
  const auto f = [](const Inputs& v) { return xgrad::matmul(v[0], v[1]); };
  EXPECT_TRUE(gradcheck_passes(f, {random_variable({3, 4}), random_variable({4, 2})}));
}

TEST_F(Matmul, GradcheckNdByMatrix) {
  const auto f = [](const Inputs& v) { return xgrad::matmul(v[0], v[1]); };
  EXPECT_TRUE(gradcheck_passes(f, {random_variable({2, 3, 4}), random_variable({4, 5})}));
}

TEST_F(Matmul, GradcheckVectorByMatrix) {
  const auto f = [](const Inputs& v) { return xgrad::matmul(v[0], v[1]); };
  EXPECT_TRUE(gradcheck_passes(f, {random_variable({4}), random_variable({4, 3})}));
}

TEST_F(Matmul, GradcheckWithOneConstantInputAndWithASharedInput) {
  // Only the input that requires a gradient gets one.
  const V constant(xgrad::uniform<double>({4, 3}, -1.0, 1.0));
  const auto left = [constant](const Inputs& v) { return xgrad::matmul(v[0], constant); };
  EXPECT_TRUE(gradcheck_passes(left, {random_variable({2, 4})}));
  const V constant_a(xgrad::uniform<double>({2, 4}, -1.0, 1.0));
  const auto right = [constant_a](const Inputs& v) { return xgrad::matmul(constant_a, v[0]); };
  EXPECT_TRUE(gradcheck_passes(right, {random_variable({4, 3})}));
  EXPECT_FALSE(constant.has_grad());
  EXPECT_FALSE(constant_a.has_grad());
  // x · x: both backward products accumulate into the one gradient.
  const auto square = [](const Inputs& v) { return xgrad::matmul(v[0], v[0]); };
  EXPECT_TRUE(gradcheck_passes(square, {random_variable({3, 3})}));
  // An input that already has a gradient from another use when matmul's
  // backward runs: the product must add to it, not overwrite it.
  const auto reuse_a = [](const Inputs& v) { return xgrad::matmul(v[0], v[1]) + v[0]; };
  EXPECT_TRUE(gradcheck_passes(reuse_a, {random_variable({3, 3}), random_variable({3, 3})}));
  const auto reuse_b = [](const Inputs& v) { return xgrad::matmul(v[0], v[1]) + v[1]; };
  EXPECT_TRUE(gradcheck_passes(reuse_b, {random_variable({3, 3}), random_variable({3, 3})}));
}

TEST_F(Matmul, WeightsTransposedOncePerPassMatchCentralDifferences) {
  // A loop's products by the same weights, with 8 rows or more (gemm then
  // transposes B first and the backward keeps B^T for the pass); three
  // weight matrices in turn, more than the two kept.
  const auto loop = [](const Inputs& v) {
    V h = v[0];
    for (int step = 0; step < 3; ++step)
      h = xgrad::tanh(xgrad::matmul(xgrad::matmul(xgrad::matmul(h, v[1]), v[2]), v[3]));
    return h;
  };
  EXPECT_TRUE(gradcheck_passes(loop, {random_variable({8, 4}), random_variable({4, 5}), random_variable({5, 5}),
                                      random_variable({5, 4})}));
}

TEST_F(Matmul, WeightsChangedBetweenPassesAreTransposedAgain) {
  // dx = g · W^T with g all ones: the row sums of W, from each pass's W.
  V x = random_variable({8, 3});
  V w(Array<double>{{1, 2}, {3, 4}, {5, 6}}, true);
  xgrad::sum(xgrad::matmul(x, w)).backward();
  EXPECT_EQ(x.grad(), xt::broadcast(Array<double>{3, 7, 11}, {8, 3}));
  x.zero_grad();
  w.value() = Array<double>{{-1, 0}, {2, 2}, {0, 10}};
  xgrad::sum(xgrad::matmul(x, w)).backward();
  EXPECT_EQ(x.grad(), xt::broadcast(Array<double>{-1, 4, 10}, {8, 3}));
}

TEST_F(Matmul, ForwardValueAndOpName) {
  // Hand computation: [[1,2,3],[4,5,6]] · [[7,8],[9,10],[11,12]] = [[58,64],[139,154]].
  const V a(Array<double>{{1, 2, 3}, {4, 5, 6}}, true);
  const V b(Array<double>{{7, 8}, {9, 10}, {11, 12}});
  const V c = xgrad::matmul(a, b);
  EXPECT_EQ(c.value(), (Array<double>{{58, 64}, {139, 154}}));
  EXPECT_STREQ(c.op_name(), "matmul");
  // d sum(A·B) / dA[i, k] = sum_n B[k, n]: row sums of b = [15, 19, 23].
  xgrad::sum(c).backward();
  EXPECT_EQ(a.grad(), (Array<double>{{15, 19, 23}, {15, 19, 23}}));
}

TEST_F(Matmul, ShapeErrorNamesOpAndShapes) {
  const V a(xgrad::zeros<double>({2, 3}), true);
  const V b(xgrad::zeros<double>({4, 5}), true);
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { xgrad::matmul(a, b); },
                                                 {"matmul", "(2, 3)", "(4, 5)"}));
  const V vector_b(xgrad::zeros<double>({3}), true);
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { xgrad::matmul(a, vector_b); },
                                                 {"matmul", "(2, 3)", "(3,)"}));
}

// ------------------------------------------------------ add / sub / mul

// The broadcasting cases every binary op is checked on: equal shapes,
// [B, U] with [U] (a bias) either way round, [2, 1] with [1, 3] (both grow),
// and a scalar-shaped value, 0-D or (1,).
struct ShapePair {
  Shape a, b;
};
const std::vector<ShapePair> broadcast_cases = {
    {{2, 3}, {3}}, {{3}, {2, 3}}, {{2, 1}, {1, 3}}, {{}, {2, 3}}, {{2, 3}, {}}, {{1}, {2, 3}},
    {{4, 2, 3}, {2, 1}}};

template <typename Op>
void check_binary_op(Op op, const char* name) {
  const auto f = [op](const Inputs& v) { return op(v[0], v[1]); };
  SCOPED_TRACE(name);
  EXPECT_TRUE(gradcheck_passes(f, {random_variable({2, 3}), random_variable({2, 3})}));
  for (const auto& c : broadcast_cases) {
    SCOPED_TRACE(xgrad::shape_to_string(c.a) + " with " + xgrad::shape_to_string(c.b));
    EXPECT_TRUE(gradcheck_passes(f, {random_variable(c.a), random_variable(c.b)}));
  }
  // Both operands the same value: the two gradients add up.
  const auto same = [op](const Inputs& v) { return op(v[0], v[0]); };
  EXPECT_TRUE(gradcheck_passes(same, {random_variable({2, 3})}));
}

TEST_F(Add, GradcheckEqualShapesAndBroadcasting) {
  check_binary_op([](const V& a, const V& b) { return xgrad::add(a, b); }, "add");
}

TEST_F(Sub, GradcheckEqualShapesAndBroadcasting) {
  check_binary_op([](const V& a, const V& b) { return xgrad::sub(a, b); }, "sub");
}

TEST_F(Mul, GradcheckEqualShapesAndBroadcasting) {
  check_binary_op([](const V& a, const V& b) { return xgrad::mul(a, b); }, "mul");
}

TEST_F(Add, ForwardValuesBroadcastAsNumpy) {
  // Hand computation: [[1,2],[3,4]] + [10,20] = [[11,22],[13,24]].
  const V a(Array<double>{{1, 2}, {3, 4}});
  const V b(Array<double>{10, 20});
  EXPECT_EQ((a + b).value(), (Array<double>{{11, 22}, {13, 24}}));
  // [[1],[2]] - [[10,20,30]] = [[-9,-19,-29],[-8,-18,-28]].
  const V col(xgrad::reshaped(Array<double>{1, 2}, {2, 1}));
  const V row(Array<double>{{10, 20, 30}});
  EXPECT_EQ((col - row).value(), (Array<double>{{-9, -19, -29}, {-8, -18, -28}}));
  // [[1,2],[3,4]] * [2,3] = [[2,6],[6,12]].
  EXPECT_EQ((a * V(Array<double>{2, 3})).value(), (Array<double>{{2, 6}, {6, 12}}));
}

TEST_F(Add, EveryBroadcastCaseMatchesXtensorsOwnExpression) {
  // The ops loop over equal and trailing shapes themselves; the operand order
  // matters for sub, and a smaller first operand takes the other branch.
  for (const auto& c : broadcast_cases) {
    for (const bool swap : {false, true}) {
      const Array<double> a = random_variable(swap ? c.b : c.a).value();
      const Array<double> b = random_variable(swap ? c.a : c.b).value();
      SCOPED_TRACE(xgrad::shape_to_string(a.shape()) + " with " + xgrad::shape_to_string(b.shape()));
      EXPECT_EQ((V(a) + V(b)).value(), Array<double>(a + b));
      EXPECT_EQ((V(a) - V(b)).value(), Array<double>(a - b));
      EXPECT_EQ((V(a) * V(b)).value(), Array<double>(a * b));
    }
  }
}

TEST_F(Add, BiasGradientIsTheColumnSum) {
  // d sum(x + b) / db = number of rows, for every entry of b.
  const V x = random_variable({4, 3});
  const V b = random_variable({3});
  xgrad::sum(x + b).backward();
  EXPECT_EQ(b.grad(), (Array<double>{4, 4, 4}));
  EXPECT_EQ(x.grad(), xgrad::ones<double>({4, 3}));
}

TEST_F(Add, ATemporaryHoldsTheResultOnlyWhenNothingElseCanSeeIt) {
  const V b(Array<double>{10, 20});
  const Array<double> a_value{{1, 2}, {3, 4}};
  {
    // Under NoGradGuard a temporary a of the result's shape takes the sums.
    xgrad::NoGradGuard no_grad;
    V a(a_value);
    const double* storage = a.value().data();
    const V sum = std::move(a) + b;
    EXPECT_EQ(sum.value().data(), storage);
    EXPECT_EQ(sum.value(), (Array<double>{{11, 22}, {13, 24}}));
    V c(a_value);
    const double* c_storage = c.value().data();
    EXPECT_EQ((std::move(c) - b).value().data(), c_storage);
    V d(a_value);
    EXPECT_EQ((std::move(d) * b).value(), (Array<double>{{10, 40}, {30, 80}}));
  }
  {
    // Another handle on a: a keeps its value.
    xgrad::NoGradGuard no_grad;
    V a(a_value);
    const V other = a;
    const V sum = std::move(a) + b;
    EXPECT_EQ(other.value(), a_value);
    EXPECT_NE(sum.value().data(), other.value().data());
    EXPECT_EQ(sum.value(), (Array<double>{{11, 22}, {13, 24}}));
  }
  {
    // A value that requires a gradient, and a smaller first operand: new results.
    xgrad::NoGradGuard no_grad;
    V a(a_value, true);
    const double* storage = a.value().data();
    EXPECT_NE((std::move(a) + b).value().data(), storage);
    V bias(Array<double>{10, 20});
    EXPECT_EQ((std::move(bias) + V(a_value)).value(), (Array<double>{{11, 22}, {13, 24}}));
  }
  // Recording (b requires a gradient): a new node in a's storage, a kept in
  // the graph with its shape, and b's gradient.
  const V bias = random_variable({2});
  V a(a_value);
  const double* storage = a.value().data();
  const V sum = std::move(a) + bias;
  EXPECT_EQ(sum.value().data(), storage);
  EXPECT_STREQ(sum.op_name(), "add");
  EXPECT_EQ(sum.value(), a_value + bias.value());
  xgrad::sum(sum).backward();
  EXPECT_EQ(bias.grad(), (Array<double>{2, 2}));
}

TEST_F(Add, ARecordedTemporaryLendsItsStorageOnlyWhenNothingReadsItAgain) {
  const V x = random_variable({3, 2}), w = random_variable({2, 4}), h = random_variable({3, 4}),
          r = random_variable({4, 4}), bias = random_variable({4});
  {
    // The user's per-step loop: the sums and the tanh in the first product's storage.
    V product = xgrad::matmul(x, w);
    const double* storage = product.value().data();
    const V y = xgrad::tanh(std::move(product) + xgrad::matmul(h, r) + bias);
    EXPECT_EQ(y.value().data(), storage);
    const Array<double> expected = xt::tanh(xt::linalg::dot(x.value(), w.value()) +
                                            xt::linalg::dot(h.value(), r.value()) + bias.value());
    EXPECT_TRUE(xt::allclose(y.value(), expected));
  }
  {
    // Another handle names the product: it keeps its value.
    V product = xgrad::matmul(x, w);
    const V kept = product;
    const Array<double> before = kept.value();
    const V sum = std::move(product) + bias;
    EXPECT_NE(sum.value().data(), kept.value().data());
    EXPECT_EQ(kept.value(), before);
  }
  {
    // tanh's backward reads its output, mul's backward its inputs, and a
    // leaf that requires a gradient is the user's: new arrays.
    V t = xgrad::tanh(x);
    const double* t_storage = t.value().data();
    EXPECT_NE((std::move(t) + xgrad::tanh(x)).value().data(), t_storage);
    V p = xgrad::matmul(x, w);
    const double* p_storage = p.value().data();
    EXPECT_NE((std::move(p) * h).value().data(), p_storage);
    V leaf = random_variable({3, 4});
    const double* leaf_storage = leaf.value().data();
    EXPECT_NE((std::move(leaf) + bias).value().data(), leaf_storage);
  }
  {
    // Under DetectAnomaly, whose messages read values: a new array.
    xgrad::DetectAnomaly detect;
    V product = xgrad::matmul(x, w);
    const double* storage = product.value().data();
    EXPECT_NE((std::move(product) + bias).value().data(), storage);
  }
}

// A handle to a value whose storage a later op took (std::move of a named
// result) no longer reads it: its value throws, so an op on it throws
// instead of reading an empty array; its shape and the gradient through
// the graph are kept.
TEST_F(Add, AValueWhoseStorageWasTakenThrowsWhenRead) {
  V x = random_variable({2, 3}), w = random_variable({3, 2}), bias = random_variable({2});
  V product = xgrad::matmul(x, w);
  V sum = std::move(product) + bias;
  EXPECT_TRUE(throws_with<std::logic_error>([&] { (void)product.value(); },
                                            {"(2, 2)", "matmul", "temporary", "std::move"}));
  EXPECT_THROW((void)(product * bias), std::logic_error);
  EXPECT_THROW(product.value().fill(0.0), std::logic_error);
  EXPECT_EQ(Shape(product.shape().begin(), product.shape().end()), (Shape{2, 2}));
  EXPECT_EQ(product.size(), 4u);
  xgrad::sum(sum).backward();
  const Array<double> through_taken = w.grad();
  w.zero_grad();
  xgrad::sum(xgrad::matmul(x, w) + bias).backward();  // no storage taken: the same gradient
  EXPECT_EQ(through_taken, w.grad());
}

TEST_F(Add, GradientsThroughTakenStorageMatchCentralDifferences) {
  // Every op given a temporary it may take: add, sub, tanh, sigmoid, relu
  // (its input kept above 0, away from its kink) and mul, whose backward
  // reads the temporary's value.
  const auto f = [](const Inputs& v) {
    const V z = xgrad::matmul(v[0], v[1]) + xgrad::matmul(v[2], v[3]) + v[4];
    return xgrad::tanh(xgrad::sigmoid(xgrad::matmul(v[0], v[1]) - v[4]) * z) + xgrad::relu(z + v[4]);
  };
  EXPECT_TRUE(gradcheck_passes(f, {random_variable({3, 2}), random_variable({2, 4}), random_variable({3, 4}),
                                   random_variable({4, 4}), random_variable({4}, 5.0, 6.0)}));
  const auto g = [](const Inputs& v) {
    return xgrad::tanh(xgrad::mul(xgrad::matmul(v[0], v[1]), v[2]) - xgrad::matmul(v[0], v[1]));
  };
  EXPECT_TRUE(gradcheck_passes(g, {random_variable({3, 2}), random_variable({2, 4}), random_variable({3, 4})}));
}

TEST_F(Add, ShapeErrorsNameOpAndShapes) {
  const V a(xgrad::zeros<double>({2, 3}), true);
  const V b(xgrad::zeros<double>({4}), true);
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { xgrad::add(a, b); },
                                                 {"add", "(2, 3)", "(4,)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { xgrad::sub(a, b); },
                                                 {"sub", "(2, 3)", "(4,)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { xgrad::mul(b, a); },
                                                 {"mul", "(4,)", "(2, 3)"}));
}

// ------------------------------------------------------ neg / scale

TEST_F(Neg, GradcheckAndValue) {
  const auto f = [](const Inputs& v) { return xgrad::neg(v[0]); };
  EXPECT_TRUE(gradcheck_passes(f, {random_variable({2, 3})}));
  const auto g = [](const Inputs& v) { return -v[0]; };
  EXPECT_TRUE(gradcheck_passes(g, {random_variable({4})}));
  EXPECT_EQ(xgrad::neg(V(Array<double>{1, -2})).value(), (Array<double>{-1, 2}));
}

TEST_F(Scale, GradcheckAndValue) {
  const auto f = [](const Inputs& v) { return xgrad::scale(v[0], -2.5); };
  EXPECT_TRUE(gradcheck_passes(f, {random_variable({3, 2})}));
  const auto zero = [](const Inputs& v) { return xgrad::scale(v[0], 0.0); };
  EXPECT_TRUE(gradcheck_passes(zero, {random_variable({2})}));
  EXPECT_EQ(xgrad::scale(V(Array<double>{1, -2}), 3.0).value(), (Array<double>{3, -6}));
}

// -------------------------------------------------------- activations

TEST_F(Tanh, GradcheckAndValue) {
  const auto f = [](const Inputs& v) { return xgrad::tanh(v[0]); };
  EXPECT_TRUE(gradcheck_passes(f, {random_variable({2, 3}, -3.0, 3.0)}));
  // Hand computation: tanh(ln 2) = (4 - 1) / (4 + 1) = 0.6; tanh(0) = 0.
  const V y = xgrad::tanh(V(Array<double>{std::log(2.0), 0.0, -std::log(2.0)}));
  EXPECT_NEAR(y.value()(0), 0.6, 1e-15);
  EXPECT_EQ(y.value()(1), 0.0);
  EXPECT_NEAR(y.value()(2), -0.6, 1e-15);
}

TEST_F(Relu, GradcheckAwayFromZeroAndValue) {
  const auto f = [](const Inputs& v) { return xgrad::relu(v[0]); };
  EXPECT_TRUE(gradcheck_passes(f, {away_from_zero({3, 4})}));
  const V x(Array<double>{-2.0, -0.5, 0.5, 3.0}, true);
  const V y = xgrad::relu(x);
  EXPECT_EQ(y.value(), (Array<double>{0.0, 0.0, 0.5, 3.0}));
  xgrad::sum(y).backward();
  EXPECT_EQ(x.grad(), (Array<double>{0, 0, 1, 1}));
}

TEST_F(Sigmoid, GradcheckAndValue) {
  const auto f = [](const Inputs& v) { return xgrad::sigmoid(v[0]); };
  EXPECT_TRUE(gradcheck_passes(f, {random_variable({2, 3}, -4.0, 4.0)}));
  // Hand computation: sigmoid(ln 3) = 1 / (1 + 1/3) = 0.75, sigmoid(-ln 3) = 0.25.
  const V y = xgrad::sigmoid(V(Array<double>{0.0, std::log(3.0), -std::log(3.0)}));
  EXPECT_EQ(y.value()(0), 0.5);
  EXPECT_NEAR(y.value()(1), 0.75, 1e-15);
  EXPECT_NEAR(y.value()(2), 0.25, 1e-15);
}

TEST_F(Sigmoid, LargeMagnitudesStayFiniteAndAccurate) {
  const V x(Array<double>{-800.0, -30.0, 30.0, 800.0}, true);
  const V y = xgrad::sigmoid(x);
  for (double v : y.value()) {
    EXPECT_TRUE(std::isfinite(v));
    EXPECT_GE(v, 0.0);
    EXPECT_LE(v, 1.0);
  }
  EXPECT_EQ(y.value()(0), 0.0);
  EXPECT_EQ(y.value()(3), 1.0);
  // sigmoid(-30) = 1 / (1 + e^30) ~ 9.36e-14, to full relative precision (a
  // form like 1 - sigmoid(30) would keep only ~3 digits).
  EXPECT_NEAR(y.value()(1), 1.0 / (1.0 + std::exp(30.0)), 1e-15 * 9.4e-14);
  xgrad::sum(y).backward();
  for (double g : x.grad()) {
    EXPECT_TRUE(std::isfinite(g));
    EXPECT_GE(g, 0.0);
  }
  const auto f = [](const Inputs& v) { return xgrad::sigmoid(v[0]); };
  EXPECT_TRUE(gradcheck_passes(f, {V(Array<double>{-30.0, 30.0, -800.0, 800.0}, true)}));
}

// ---------------------------------------------------------- reductions

TEST_F(Sum, GradcheckAndValue) {
  const auto f = [](const Inputs& v) { return xgrad::sum(v[0]); };
  EXPECT_TRUE(gradcheck_passes(f, {random_variable({2, 3, 2})}));
  // Inside a larger graph the incoming gradient is not 1: it must be used.
  const auto inner = [](const Inputs& v) { return xgrad::sum(v[0]) * v[1]; };
  EXPECT_TRUE(gradcheck_passes(inner, {random_variable({2, 3}), random_variable({2})}));
  EXPECT_TRUE(gradcheck_passes(f, {scalar_variable(0.3)}));
  const V s = xgrad::sum(V(Array<double>{{1, 2}, {3, 4}}));
  EXPECT_EQ(s.dimension(), 0u);
  EXPECT_EQ(s.value()(), 10.0);
}

TEST_F(Mean, GradcheckValueAndEmptyError) {
  const auto f = [](const Inputs& v) { return xgrad::mean(v[0]); };
  EXPECT_TRUE(gradcheck_passes(f, {random_variable({3, 4})}));
  const V m = xgrad::mean(V(Array<double>{{1, 2}, {3, 4}}));
  EXPECT_EQ(m.dimension(), 0u);
  EXPECT_EQ(m.value()(), 2.5);
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [] { xgrad::mean(V(xgrad::zeros<double>({0, 3}), true)); }, {"mean", "(0, 3)"}));
}

// ------------------------------------------------------- shape changes

TEST_F(Reshape, GradcheckSeveralTargetsAndValue) {
  for (const Shape& target : {Shape{3, 2}, Shape{6}, Shape{1, 6, 1}}) {
    SCOPED_TRACE(xgrad::shape_to_string(target));
    // Times a fixed weight, so each output position has its own gradient.
    const V weight(xgrad::uniform<double>(target, -1.0, 1.0));
    const auto f = [target, weight](const Inputs& v) {
      return xgrad::sum(xgrad::reshape(v[0], target) * weight);
    };
    EXPECT_TRUE(gradcheck_passes(f, {random_variable({2, 3})}));
    const auto plain = [target](const Inputs& v) { return xgrad::reshape(v[0], target); };
    EXPECT_TRUE(gradcheck_passes(plain, {random_variable({2, 3})}));
  }
  const V r = xgrad::reshape(V(Array<double>{{1, 2, 3}, {4, 5, 6}}), {3, 2});
  EXPECT_EQ(r.value(), (Array<double>{{1, 2}, {3, 4}, {5, 6}}));
}

TEST_F(Reshape, ShapeErrorNamesOpAndShapes) {
  const V a(xgrad::zeros<double>({2, 3}), true);
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { xgrad::reshape(a, {4}); },
                                                 {"reshape", "(2, 3)", "(4,)"}));
}

TEST_F(Transpose, GradcheckAndValue) {
  const auto f = [](const Inputs& v) { return xgrad::transpose(v[0]); };
  EXPECT_TRUE(gradcheck_passes(f, {random_variable({2, 3})}));
  // x^T x uses x twice, through two different paths.
  const auto gram = [](const Inputs& v) { return xgrad::matmul(xgrad::transpose(v[0]), v[0]); };
  EXPECT_TRUE(gradcheck_passes(gram, {random_variable({3, 2})}));
  const V t = xgrad::transpose(V(Array<double>{{1, 2, 3}, {4, 5, 6}}));
  EXPECT_EQ(t.value(), (Array<double>{{1, 4}, {2, 5}, {3, 6}}));
}

TEST_F(Transpose, RankErrorNamesOpAndShape) {
  const V a(xgrad::zeros<double>({2, 3, 4}), true);
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { xgrad::transpose(a); },
                                                 {"transpose", "(2, 3, 4)"}));
}

// ---------------------------------------------------------------- select

TEST_F(Select, GradcheckEachAxisOf3dValue) {
  const Shape shape{2, 3, 4};
  for (std::size_t axis = 0; axis < 3; ++axis) {
    for (std::size_t index : {std::size_t(0), shape[axis] - 1}) {
      SCOPED_TRACE("axis " + std::to_string(axis) + " index " + std::to_string(index));
      const auto f = [axis, index](const Inputs& v) { return xgrad::select(v[0], axis, index); };
      EXPECT_TRUE(gradcheck_passes(f, {random_variable(shape)}));
    }
  }
}

TEST_F(Select, GradcheckRepeatedSelectsAccumulateInPlace) {
  // Timestep 0 selected by two separate selects, timestep 2 once, and the
  // whole value used directly too: every backward must add into the one
  // gradient buffer, never overwrite a slice of it.
  const auto f = [](const Inputs& v) {
    const V x0 = xgrad::select(v[0], 1, 0);
    const V x0_again = xgrad::select(v[0], 1, 0);
    return x0 * x0_again + xgrad::select(v[0], 1, 2) + x0 + xgrad::sum(v[0] * v[0]);
  };
  EXPECT_TRUE(gradcheck_passes(f, {random_variable({2, 3, 4})}));
  // A 1-D value gives 0-D slices.
  const auto g = [](const Inputs& v) {
    return xgrad::select(v[0], 0, 1) * xgrad::select(v[0], 0, 2);
  };
  EXPECT_TRUE(gradcheck_passes(g, {random_variable({3})}));
}

TEST_F(Select, ForwardValueTakesTheSlice) {
  // a[i, j, k] = 100 i + 10 j + k, so select(a, 1, 2) = [[20..23], [120..123]].
  Array<double> a = Array<double>::from_shape({2, 3, 4});
  for (std::size_t i = 0; i < 2; ++i)
    for (std::size_t j = 0; j < 3; ++j)
      for (std::size_t k = 0; k < 4; ++k) a(i, j, k) = 100.0 * i + 10.0 * j + k;
  const V x(a);
  EXPECT_EQ(xgrad::select(x, 1, 2).value(), (Array<double>{{20, 21, 22, 23}, {120, 121, 122, 123}}));
  EXPECT_EQ(xgrad::select(x, 0, 1).value()(2, 3), 123.0);
  EXPECT_EQ(xgrad::select(x, 2, 3).value(), (Array<double>{{3, 13, 23}, {103, 113, 123}}));
}

TEST_F(Select, OutOfRangeErrorNamesOpAndShape) {
  const V a(xgrad::zeros<double>({2, 3, 4}), true);
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { xgrad::select(a, 1, 3); },
                                                 {"select", "(2, 3, 4)", "3"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { xgrad::select(a, 3, 0); },
                                                 {"select", "(2, 3, 4)", "axis 3 is out of range", "3 axes"}));
}

// ----------------------------------------------------------------- stack

TEST_F(Stack, GradcheckAxisFirstMiddleAndLast) {
  for (std::size_t axis : {0u, 1u, 2u}) {
    SCOPED_TRACE("axis " + std::to_string(axis));
    const auto f = [axis](const Inputs& v) { return xgrad::stack(v, axis); };
    EXPECT_TRUE(gradcheck_passes(
        f, {random_variable({2, 3}), random_variable({2, 3}), random_variable({2, 3})}));
  }
  // 0-D values stack into a vector.
  const auto scalars = [](const Inputs& v) { return xgrad::stack(v, 0); };
  EXPECT_TRUE(gradcheck_passes(scalars, {scalar_variable(0.5), scalar_variable(-1.5)}));
}

TEST_F(Stack, GradcheckSameValueTwiceAndAConstant) {
  const V constant(xgrad::uniform<double>({2, 3}, -1.0, 1.0));
  const auto f = [constant](const Inputs& v) {
    return xgrad::stack(std::vector<V>{v[0], constant, v[0], v[1]}, 1);
  };
  EXPECT_TRUE(gradcheck_passes(f, {random_variable({2, 3}), random_variable({2, 3})}));
  EXPECT_FALSE(constant.has_grad());
}

TEST_F(Stack, ForwardValueAndShapes) {
  const V a(Array<double>{{1, 2}, {3, 4}});
  const V b(Array<double>{{5, 6}, {7, 8}});
  const V s0 = xgrad::stack(std::vector<V>{a, b}, 0);
  EXPECT_EQ(shape_of(s0.value()), (Shape{2, 2, 2}));
  EXPECT_EQ(s0.value(), (Array<double>{{{1, 2}, {3, 4}}, {{5, 6}, {7, 8}}}));
  // Axis 1 is the timestep axis of [B, T, U]: row i holds a[i] then b[i].
  const V s1 = xgrad::stack(std::vector<V>{a, b}, 1);
  EXPECT_EQ(s1.value(), (Array<double>{{{1, 2}, {5, 6}}, {{3, 4}, {7, 8}}}));
  const V s2 = xgrad::stack(std::vector<V>{a, b}, 2);
  EXPECT_EQ(s2.value(), (Array<double>{{{1, 5}, {2, 6}}, {{3, 7}, {4, 8}}}));
}

TEST_F(Stack, ErrorsNameOpAndShapes) {
  const V a(xgrad::zeros<double>({2, 3}), true);
  const V b(xgrad::zeros<double>({3, 2}), true);
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { xgrad::stack(std::vector<V>{a, a, b}, 0); }, {"stack", "(2, 3)", "(3, 2)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { xgrad::stack(std::vector<V>{a, a}, 3); }, {"stack", "axis 3", "(2, 3)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([] { xgrad::stack(std::vector<V>{}, 0); },
                                                 {"stack"}));
}

// ------------------------------------------------------------- composites

TEST_F(Composite, GradcheckDenseLayerAndRnnStep) {
  // mean(tanh(x · W + b)): a dense layer with every input checked at once.
  const auto dense = [](const Inputs& v) {
    return xgrad::mean(xgrad::tanh(xgrad::matmul(v[0], v[1]) + v[2]));
  };
  EXPECT_TRUE(gradcheck_passes(
      dense, {random_variable({4, 3}), random_variable({3, 2}), random_variable({2})}));
  // Two SimpleRNN steps over x [B, T, F], collected with stack.
  const auto rnn = [](const Inputs& v) {
    const V& x = v[0];
    const V& kernel = v[1];
    const V& recurrent = v[2];
    const V& bias = v[3];
    V h(xgrad::zeros<double>({2, 3}));
    std::vector<V> outputs;
    for (std::size_t t = 0; t < 2; ++t) {
      h = xgrad::tanh(xgrad::matmul(xgrad::select(x, 1, t), kernel) +
                      xgrad::matmul(h, recurrent) + bias);
      outputs.push_back(h);
    }
    return xgrad::stack(outputs, 1);
  };
  EXPECT_TRUE(gradcheck_passes(rnn, {random_variable({2, 2, 4}), random_variable({4, 3}),
                                     random_variable({3, 3}), random_variable({3})}));
}

TEST_F(Composite, FloatGraphAgreesWithDouble) {
  // The float32 instantiation computes the same gradients to float precision.
  const Array<double> xd = xgrad::uniform<double>({3, 4}, -1.0, 1.0);
  const Array<double> wd = xgrad::uniform<double>({4, 2}, -1.0, 1.0);
  const Variable<double> x64(xd, true), w64(wd, true);
  const Variable<float> x32(xt::cast<float>(xd), true), w32(xt::cast<float>(wd), true);
  xgrad::mean(xgrad::relu(xgrad::matmul(x64, w64)) + xgrad::sigmoid(xgrad::matmul(x64, w64)))
      .backward();
  xgrad::mean(xgrad::relu(xgrad::matmul(x32, w32)) + xgrad::sigmoid(xgrad::matmul(x32, w32)))
      .backward();
  for (std::size_t i = 0; i < wd.size(); ++i)
    EXPECT_NEAR(w32.grad().flat(i), w64.grad().flat(i), 1e-6) << "at " << i;
  for (std::size_t i = 0; i < xd.size(); ++i)
    EXPECT_NEAR(x32.grad().flat(i), x64.grad().flat(i), 1e-6) << "at " << i;
}

}  // namespace
