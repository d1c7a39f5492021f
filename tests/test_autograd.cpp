// The graph machinery of Variable: shallow handles, gradient accumulation,
// backward()'s rules and errors, NoGradGuard, graph freeing, and graphs of
// 100,000 steps (no stack overflow in backward or in destruction, no leaks).

#include <cmath>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <xtensor/xarray.hpp>

#include "test_helpers.hpp"
#include "xgrad/autograd/math_ops.hpp"
#include "xgrad/autograd/ops.hpp"
#include "xgrad/autograd/variable.hpp"
#include "xgrad/tensor/tensor.hpp"

namespace {

using xgrad::Array;
using xgrad::Shape;
using xgrad::Variable;
using xgrad::test::throws_with;
using V = Variable<double>;

// Long enough to overflow a default 8 MB stack if any walk or destructor
// chain recursed once per node.
constexpr std::size_t kLongChain = 100000;

// An identity op whose backward function owns `sentinel`: the sentinel lives
// exactly as long as the node's grad_fn, so a weak_ptr to it tells whether
// the graph node was released.
V tracked_identity(const V& x, const std::shared_ptr<int>& sentinel) {
  return V::from_op(x.value(), {x}, "tracked_identity",
                    [sentinel](const Array<double>& g, const Array<double>&,
                               std::vector<V>& in) { in[0].add_grad(g); });
}

// ------------------------------------------------------------- handles

TEST(Variable, CopiesAreShallow) {
  V a(Array<double>{1.0, 2.0}, true);
  V b = a;
  EXPECT_TRUE(b.same_node(a));
  b.value()(0) = 5.0;
  EXPECT_EQ(a.value()(0), 5.0);
  b.add_grad(Array<double>{1.0, 1.0});
  ASSERT_TRUE(a.has_grad());
  EXPECT_EQ(a.grad(), (Array<double>{1.0, 1.0}));
  a.set_requires_grad(false);
  EXPECT_FALSE(b.requires_grad());
  // A separately built variable with equal numbers is another node.
  EXPECT_FALSE(V(a.value()).same_node(a));
}

// item(): the one element of a 0-D, [1] or [1, 1] value; any other size
// throws naming the shape.
TEST(Variable, ItemReadsTheOneElement) {
  EXPECT_EQ(V(Array<double>(Shape{}, 2.5)).item(), 2.5);
  EXPECT_EQ(V(Array<double>{3.0}).item(), 3.0);
  EXPECT_EQ(V(xgrad::full<double>({1, 1}, -1.0)).item(), -1.0);
  EXPECT_TRUE(throws_with<std::invalid_argument>([] { V(xgrad::zeros<double>({2, 1})).item(); },
                                                 {"item", "(2, 1)", "2 elements"}));
}

TEST(Variable, DefaultIsEmptyAndLeafProperties) {
  const V empty;
  EXPECT_EQ(empty.size(), 0u);
  EXPECT_EQ(empty.dimension(), 1u);
  EXPECT_FALSE(empty.requires_grad());
  EXPECT_TRUE(empty.is_leaf());
  EXPECT_STREQ(empty.op_name(), "");
  const V x(Array<double>{1.0}, true);
  const V y = xgrad::tanh(x);
  EXPECT_FALSE(y.is_leaf());
  EXPECT_STREQ(y.op_name(), "tanh");
}

TEST(Variable, GradWithoutBackwardThrowsLogicError) {
  const V x(Array<double>{1.0, 2.0}, true);
  EXPECT_FALSE(x.has_grad());
  EXPECT_TRUE(throws_with<std::logic_error>([&] { x.grad(); }, {"grad", "(2,)"}));
}

TEST(Variable, AddGradChecksTheShape) {
  V x(Array<double>{1.0, 2.0}, true);
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { x.add_grad(xgrad::zeros<double>({2, 1})); }, {"add_grad", "(2, 1)", "(2,)"}));
  EXPECT_FALSE(x.has_grad());  // nothing was added
}

// ------------------------------------------------------- accumulation

TEST(Backward, AccumulatesWhereAValueIsUsedTwice) {
  // y = sum(x * x + x): dy/dx = 2 x + 1 (x used three times).
  const V x(Array<double>{-1.5, 0.0, 2.0}, true);
  xgrad::sum(x * x + x).backward();
  EXPECT_EQ(x.grad(), (Array<double>{-2.0, 1.0, 5.0}));
}

TEST(Backward, AccumulatesThroughADiamond) {
  // z = x * w, y = sum(z * z + z): dy/dx = (2 z + 1) w, dy/dw = (2 z + 1) x.
  const V x(Array<double>{1.0, -2.0}, true);
  const V w(Array<double>{3.0, 0.5}, true);
  const V z = x * w;  // [3, -1]
  xgrad::sum(z * z + z).backward();
  EXPECT_EQ(x.grad(), (Array<double>{21.0, -0.5}));  // (7 * 3, -1 * 0.5)
  EXPECT_EQ(w.grad(), (Array<double>{7.0, 2.0}));    // (7 * 1, -1 * -2)
}

TEST(Backward, AccumulatesAcrossCallsWithoutZeroGrad) {
  const V x(Array<double>{-1.5, 0.0, 2.0}, true);
  xgrad::sum(x * x + x).backward();
  xgrad::sum(x * x + x).backward();  // a second, separate graph
  EXPECT_EQ(x.grad(), (Array<double>{-4.0, 2.0, 10.0}));
}

TEST(Backward, ZeroGradForgetsTheGradient) {
  V x(Array<double>{-1.5, 0.0, 2.0}, true);
  xgrad::sum(x * x).backward();
  x.zero_grad();
  EXPECT_FALSE(x.has_grad());
  EXPECT_THROW(x.grad(), std::logic_error);
  xgrad::sum(x + x).backward();
  EXPECT_EQ(x.grad(), (Array<double>{2.0, 2.0, 2.0}));  // not 2 x + 2
}

TEST(Backward, OnlyInputsRequiringGradGetOne) {
  const V x(Array<double>{1.0, 2.0}, true);
  const V c(Array<double>{3.0, 4.0});
  xgrad::sum(x * c).backward();
  EXPECT_EQ(x.grad(), (Array<double>{3.0, 4.0}));
  EXPECT_FALSE(c.has_grad());
}

TEST(Backward, OpsOnConstantsRecordNothing) {
  const V a(Array<double>{1.0, 2.0});
  const V b = xgrad::tanh(a * a);
  EXPECT_FALSE(b.requires_grad());
  EXPECT_TRUE(b.is_leaf());
}

TEST(Backward, OnALeafGivesOne) {
  const V x(xgrad::full<double>({}, 3.0), true);
  V(x).backward();  // a 0-D leaf is its own loss
  EXPECT_EQ(x.grad()(), 1.0);
}

TEST(Backward, ExplicitGradOutputForNonScalar) {
  const V x(Array<double>{1.0, 2.0, 3.0}, true);
  V y = xgrad::scale(x, 2.0);
  y.backward(Array<double>{1.0, 10.0, 100.0});
  EXPECT_EQ(x.grad(), (Array<double>{2.0, 20.0, 200.0}));
  const V z = xgrad::scale(x, 2.0);
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { V(z).backward(xgrad::ones<double>({2})); }, {"backward", "(2,)", "(3,)"}));
}

// ------------------------------------------------------ backward's errors

TEST(Backward, NonScalarWithoutGradientThrowsInvalidArgument) {
  const V x(Array<double>{1.0, 2.0}, true);
  V y = x * x;
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { y.backward(); }, {"backward", "(2,)"}));
  EXPECT_FALSE(x.has_grad());
  // The graph is intact: a reduction of it still back-propagates.
  xgrad::sum(y).backward();
  EXPECT_EQ(x.grad(), (Array<double>{2.0, 4.0}));
}

TEST(Backward, ValueNotRequiringGradThrows) {
  V constant(xgrad::full<double>({}, 2.0));
  EXPECT_TRUE(throws_with<std::logic_error>([&] { constant.backward(); },
                                            {"backward", "require"}));
  V computed = xgrad::sum(xgrad::tanh(V(Array<double>{1.0, 2.0})));
  EXPECT_THROW(computed.backward(), std::logic_error);
}

TEST(Backward, SecondBackwardThroughFreedGraphThrows) {
  const V x(Array<double>{1.0, 2.0}, true);
  V y = xgrad::sum(xgrad::tanh(x) * x);
  y.backward();
  const Array<double> first = x.grad();
  EXPECT_TRUE(throws_with<std::logic_error>([&] { y.backward(); }, {"retain_graph"}));
  EXPECT_EQ(x.grad(), first);  // the failed call added nothing
}

TEST(Backward, FreedGraphIsDetectedThroughASharedIntermediate) {
  const V x(Array<double>{1.0, 2.0}, true);
  const V z = xgrad::tanh(x);
  V y1 = xgrad::sum(z);
  V y2 = xgrad::sum(z * z);
  y1.backward();
  EXPECT_THROW(y2.backward(), std::logic_error);
}

TEST(Backward, RetainGraphAllowsASecondBackwardThatAccumulates) {
  // y = sum(x^3) through mul: dy/dx = 3 x^2 = [3, 12]; twice gives [6, 24].
  const V x(Array<double>{1.0, 2.0}, true);
  V y = xgrad::sum(x * x * x);
  y.backward(/*retain_graph=*/true);
  EXPECT_EQ(x.grad(), (Array<double>{3.0, 12.0}));
  y.backward(/*retain_graph=*/true);
  EXPECT_EQ(x.grad(), (Array<double>{6.0, 24.0}));
  y.backward();  // the last pass may free it
  EXPECT_EQ(x.grad(), (Array<double>{9.0, 36.0}));
  EXPECT_THROW(y.backward(), std::logic_error);
}

TEST(Backward, GraphsSharingOnlyALeafAreIndependent) {
  const V x(Array<double>{0.5, -1.0}, true);
  V y1 = xgrad::sum(x * x);
  V y2 = xgrad::sum(xgrad::scale(x, 3.0));
  y1.backward();
  y2.backward();  // y1's graph was freed, but a leaf is never freed
  EXPECT_EQ(x.grad(), (Array<double>{4.0, 1.0}));
}

TEST(Backward, IntermediateGradsAreNotKept) {
  const V x(Array<double>{1.0, 2.0}, true);
  const V z = x * x;
  V y = xgrad::sum(z);
  y.backward(/*retain_graph=*/true);
  EXPECT_FALSE(z.has_grad());
  EXPECT_FALSE(y.has_grad());
  EXPECT_TRUE(x.has_grad());
  // And they do not leak into the next pass: x's gradient doubles exactly.
  y.backward();
  EXPECT_EQ(x.grad(), (Array<double>{4.0, 8.0}));
}

// ------------------------------------------------------------ no_grad

TEST(NoGradGuard, RecordsNothing) {
  const V x(Array<double>{1.0, 2.0}, true);
  V y;
  {
    xgrad::NoGradGuard no_grad;
    EXPECT_FALSE(xgrad::is_grad_enabled());
    y = xgrad::sum(xgrad::tanh(x) * x);
  }
  EXPECT_FALSE(y.requires_grad());
  EXPECT_TRUE(y.is_leaf());
  EXPECT_THROW(y.backward(), std::logic_error);
  EXPECT_FALSE(x.has_grad());
  // Recording resumes after the guard.
  EXPECT_TRUE(xgrad::sum(x * x).requires_grad());
}

TEST(NoGradGuard, NestedGuardsRestoreThePreviousState) {
  EXPECT_TRUE(xgrad::is_grad_enabled());
  {
    xgrad::NoGradGuard outer;
    EXPECT_FALSE(xgrad::is_grad_enabled());
    {
      xgrad::NoGradGuard inner;
      EXPECT_FALSE(xgrad::is_grad_enabled());
    }
    // The inner guard restores "off", not "on".
    EXPECT_FALSE(xgrad::is_grad_enabled());
  }
  EXPECT_TRUE(xgrad::is_grad_enabled());
}

TEST(NoGradGuard, RestoresStateWhenAnExceptionUnwinds) {
  try {
    xgrad::NoGradGuard no_grad;
    throw std::runtime_error("unwind");
  } catch (const std::runtime_error&) {
  }
  EXPECT_TRUE(xgrad::is_grad_enabled());
}

// ----------------------------------------------------- leaves and detach

TEST(Variable, SetRequiresGradOnNonLeafThrows) {
  const V x(Array<double>{1.0}, true);
  V y = xgrad::tanh(x);
  EXPECT_TRUE(throws_with<std::logic_error>([&] { y.set_requires_grad(false); },
                                            {"set_requires_grad", "tanh"}));
  EXPECT_TRUE(y.requires_grad());
  V leaf(Array<double>{1.0});
  EXPECT_TRUE(leaf.set_requires_grad(true).requires_grad());
}

TEST(Variable, DetachGivesAnIndependentLeaf) {
  const V x(Array<double>{1.0, 2.0}, true);
  const V y = x * x;
  V d = y.detach();
  EXPECT_TRUE(d.is_leaf());
  EXPECT_FALSE(d.requires_grad());
  EXPECT_FALSE(d.same_node(y));
  EXPECT_EQ(d.value(), y.value());
  // The numbers are a copy, not shared.
  d.value()(0) = 100.0;
  EXPECT_EQ(y.value()(0), 1.0);
  // A graph built on the detached value does not reach x.
  d.set_requires_grad(true);
  xgrad::sum(d * d).backward();
  EXPECT_FALSE(x.has_grad());
  EXPECT_EQ(d.grad(), (Array<double>{200.0, 8.0}));  // 2 d with d = [100, 4]
}

// -------------------------------------------------- memory and long graphs

TEST(Memory, DroppedGraphIsReleased) {
  auto sentinel = std::make_shared<int>(0);
  const std::weak_ptr<int> watch = sentinel;
  const V x(Array<double>{1.0, 2.0}, true);
  {
    const V y = xgrad::sum(xgrad::tanh(tracked_identity(x, sentinel)) * x);
    sentinel.reset();
    EXPECT_FALSE(watch.expired());  // the graph holds it
  }
  // The graph went out of scope unused: nothing may keep its nodes alive.
  EXPECT_TRUE(watch.expired());
}

TEST(Memory, BackwardFreesTheGraphUnlessRetained) {
  auto sentinel = std::make_shared<int>(0);
  const std::weak_ptr<int> watch = sentinel;
  const V x(Array<double>{1.0, 2.0}, true);
  V y = xgrad::sum(tracked_identity(x, sentinel) * x);
  sentinel.reset();
  y.backward(/*retain_graph=*/true);
  EXPECT_FALSE(watch.expired());  // retained for a second pass
  y.backward();
  EXPECT_TRUE(watch.expired());  // freed while y itself is still alive
  EXPECT_EQ(x.grad(), (Array<double>{4.0, 8.0}));
}

// A sum or a mean hands its input one value for every element
// (add_uniform_grad): what reads the gradient sees it written out, and what
// accumulates adds to it.
TEST(Backward, AMeanGivesALeafItsGradientInEveryElement) {
  const V x(Array<double>{1.0, -2.0, 4.0, 0.5}, true);
  xgrad::mean(x).backward();
  EXPECT_EQ(x.grad(), (Array<double>{0.25, 0.25, 0.25, 0.25}));
  V(x).grad_buffer()(1) = 7.0;  // the written-out array is the gradient itself
  EXPECT_EQ(x.grad()(1), 7.0);
  V(x).zero_grad();
  EXPECT_EQ(V(x).grad_buffer(), (Array<double>{0.0, 0.0, 0.0, 0.0}));
}

TEST(Backward, UniformAndArrayGradientsAccumulateInAnyOrder) {
  const V x(Array<double>{1.0, -2.0, 4.0, 0.5}, true);
  // sum then mean (uniform + uniform), then x·x (an array onto them)...
  (xgrad::sum(x) + xgrad::mean(x) + xgrad::sum(x * x)).backward();
  EXPECT_EQ(x.grad(), (Array<double>{3.25, -2.75, 9.25, 2.25}));
  // ...and a uniform onto an array.
  V(x).zero_grad();
  V(x).add_grad(Array<double>{1.0, 2.0, 3.0, 4.0});
  xgrad::mean(x).backward();
  EXPECT_EQ(x.grad(), (Array<double>{1.25, 2.25, 3.25, 4.25}));
  // Through an op that takes no uniform gradient (tanh): written out first.
  V(x).zero_grad();
  xgrad::sum(xgrad::tanh(x)).backward();
  for (std::size_t i = 0; i < 4; ++i) {
    const double t = std::tanh(x.value()(i));
    EXPECT_NEAR(x.grad()(i), 1.0 - t * t, 1e-15);
  }
}

// square under a mean takes the value, not an array of it: the same floats
// as square's backward from that array.
TEST(Backward, SquareUnderAMeanGivesTheFloatsOfAWrittenGradient) {
  // 37 values: whole vectors of every width and a tail.
  Array<float> values = Array<float>::from_shape({37});
  for (std::size_t i = 0; i < 37; ++i) values(i) = 0.37f * static_cast<float>(i) - 5.1f;
  const Variable<float> x(values, true);
  xgrad::mean(xgrad::square(x)).backward();
  const Array<float> uniform = x.grad();
  Variable<float>(x).zero_grad();
  xgrad::square(x).backward(Array<float>(x.shape(), 1.0f / 37.0f));
  EXPECT_EQ(uniform, x.grad());
  // Kept graphs take it twice.
  Variable<float>(x).zero_grad();
  Variable<float> loss = xgrad::mean(xgrad::square(x));
  loss.backward(/*retain_graph=*/true);
  loss.backward();
  for (std::size_t i = 0; i < 37; ++i) EXPECT_EQ(x.grad()(i), uniform(i) + uniform(i));
}

// With nothing left to read x² (the graph freed, no Variable holding it),
// square's backward writes 2x·g into x²'s own storage; held or kept for a
// second backward, x² stays as it was.
TEST(Backward, SquareUnderAMeanReusesItsSquaresOnlyWhenNothingReadsThem) {
  const Array<double> values{1.0, -2.0, 4.0, 0.5};
  const Array<double> expected{0.5, -1.0, 2.0, 0.25};  // 2x / 4, exact
  const double* squares_storage = nullptr;
  {
    const V x(values, true);
    V loss = [&] {
      const V squares = xgrad::square(x);
      squares_storage = squares.value().data();
      return xgrad::mean(squares);
    }();
    loss.backward();
    EXPECT_EQ(x.grad(), expected);
    EXPECT_EQ(x.grad().data(), squares_storage);  // the gradient took x²'s storage
  }
  {
    const V x(values, true);
    const V squares = xgrad::square(x);
    xgrad::mean(squares).backward();
    EXPECT_EQ(x.grad(), expected);
    EXPECT_EQ(squares.value(), (Array<double>{1.0, 4.0, 16.0, 0.25}));
    EXPECT_NE(x.grad().data(), squares.value().data());
  }
  {
    const V x(values, true);
    V loss = xgrad::mean(xgrad::square(x));
    loss.backward(/*retain_graph=*/true);
    EXPECT_EQ(x.grad(), expected);
    loss.backward();
    EXPECT_EQ(x.grad(), Array<double>(expected + expected));
  }
}

// backward() keeps its walk's lists between calls: a gradient function that
// runs a backward() of its own must get lists of its own, and neither walk
// may lose nodes of the other.
TEST(Backward, AGradientFunctionMayRunABackwardOfItsOwn) {
  const V x(Array<double>{1.0, 2.0}, true);
  const V w(Array<double>{3.0, -1.0}, true);
  const V inner_result = V::from_op(
      x.value(), {x}, "runs_a_backward",
      [w](const Array<double>& g, const Array<double>&, std::vector<V>& in) {
        V(w).zero_grad();
        xgrad::sum(w * w).backward();  // d/dw = 2w, through a second walk
        in[0].add_grad(g);
      });
  V y = xgrad::sum(inner_result * x);  // d/dx = 2x
  y.backward();
  EXPECT_EQ(x.grad(), (Array<double>{2.0, 4.0}));
  EXPECT_EQ(w.grad(), (Array<double>{6.0, -2.0}));
  // And the next walk works from the kept lists again.
  V(x).zero_grad();
  xgrad::sum(x * x * x).backward();
  EXPECT_EQ(x.grad(), (Array<double>{3.0, 12.0}));
}

TEST(Memory, AThrowingGradientFunctionLeavesNoNodeHeld) {
  auto sentinel = std::make_shared<int>(0);
  const std::weak_ptr<int> watch = sentinel;
  const V x(Array<double>{1.0, 2.0}, true);
  {
    const V throwing = V::from_op(
        x.value(), {tracked_identity(x, sentinel)}, "throws",
        [](const Array<double>&, const Array<double>&, std::vector<V>&) { throw std::runtime_error("boom"); });
    V y = xgrad::sum(throwing);
    sentinel.reset();
    EXPECT_THROW(y.backward(), std::runtime_error);
  }
  EXPECT_TRUE(watch.expired());  // not even in the walk's lists, kept for the next backward()
}

TEST(Memory, NoNodeIsRecordedWithoutAnInputRequiringGrad) {
  auto sentinel = std::make_shared<int>(0);
  const std::weak_ptr<int> watch = sentinel;
  const V constant(Array<double>{1.0, 2.0});
  const V y = tracked_identity(constant, sentinel);
  sentinel.reset();
  EXPECT_TRUE(watch.expired());  // grad_fn was not kept
  EXPECT_TRUE(y.is_leaf());
}

// ------------------------------------------------------- released nodes

// The last handle of a node keeps it for the next result of its shape
// (Variable::release, uninitialized): a result made in a kept node holds its
// own values and nothing of the node's earlier life.
TEST(ReleasedNodes, AResultInAKeptNodeHoldsOnlyItsOwnValues) {
  const V w(Array<double>{{1.0, 2.0}, {3.0, 4.0}}, true);
  const V identity(Array<double>{{1.0, 0.0}, {0.0, 1.0}});
  const V twice(Array<double>{{2.0, 0.0}, {0.0, 2.0}});
  { const V dropped = xgrad::matmul(twice, w); }
  const V first = xgrad::matmul(identity, w);
  { const V dropped = xgrad::tanh(first); }
  const V second = xgrad::matmul(twice, w);
  EXPECT_EQ(first.value(), w.value());
  EXPECT_EQ(second.value(), (Array<double>{{2.0, 4.0}, {6.0, 8.0}}));
  // Values of more than 4 axes are freed, not kept: their results too.
  const V five(xgrad::full<double>({1, 1, 1, 2, 2}, 0.5));
  { const V dropped = xgrad::tanh(five); }
  EXPECT_EQ(xgrad::tanh(five).value(), xgrad::full<double>({1, 1, 1, 2, 2}, std::tanh(0.5)));
}

TEST(ReleasedNodes, AKeptNodeForgetsItsOpItsGradientAndItsTakenValue) {
  const V w(Array<double>{{1.0, 2.0}, {3.0, 4.0}}, true);
  const V a(Array<double>{{1.0, 0.0}, {0.0, 1.0}});
  {
    V leaf(Array<double>{{5.0, 6.0}, {7.0, 8.0}}, true);
    V product = xgrad::matmul(a, w);
    xgrad::sum(std::move(product) + leaf).backward();  // the add took product's elements
    EXPECT_TRUE(leaf.has_grad());
  }
  const xgrad::NoGradGuard no_grad;
  const V plain = xgrad::matmul(a, w);
  const V leaf(Array<double>{{1.0, 1.0}, {1.0, 1.0}});
  for (const V* v : {&plain, &leaf}) {
    EXPECT_TRUE(v->is_leaf());
    EXPECT_FALSE(v->requires_grad());
    EXPECT_FALSE(v->has_grad());
    EXPECT_EQ(v->shape().size(), 2u);
  }
  EXPECT_EQ(plain.value(), w.value());
  EXPECT_EQ(leaf.value(), (Array<double>{{1.0, 1.0}, {1.0, 1.0}}));
}

// Kept nodes keep their gradient arrays' shapes, not their elements: a
// node reused for a new value starts without a gradient, and takes one of
// whatever shape its value has then.
TEST(ReleasedNodes, AKeptNodesGradientArrayHoldsOnlyItsNewGradient) {
  {
    const V leaf(Array<double>{{5.0, 6.0}, {7.0, 8.0}}, true);
    xgrad::sum(xgrad::tanh(xgrad::tanh(leaf))).backward();
  }
  V zeroed(Array<double>{{1.0, 1.0}, {1.0, 1.0}}, true);
  V copied(Array<double>{{1.0, 1.0}, {1.0, 1.0}}, true);
  V reshaped(Array<double>{{1.0, 1.0}, {1.0, 1.0}}, true);
  for (const V* v : {&zeroed, &copied, &reshaped}) EXPECT_FALSE(v->has_grad());
  EXPECT_EQ(zeroed.grad_buffer(), (Array<double>{{0.0, 0.0}, {0.0, 0.0}}));
  const Array<double> g{{1.0, 2.0}, {3.0, 4.0}};
  copied.add_grad(g);
  copied.add_grad(Array<double>(g));
  EXPECT_EQ(copied.grad(), (Array<double>{{2.0, 4.0}, {6.0, 8.0}}));
  reshaped.value() = Array<double>{1.0, 2.0, 3.0};
  reshaped.add_grad(Array<double>{4.0, 5.0, 6.0});
  EXPECT_EQ(reshaped.grad(), (Array<double>{4.0, 5.0, 6.0}));
  reshaped.zero_grad();
  reshaped.add_grad(Array<double>{7.0, 8.0, 9.0});
  EXPECT_EQ(reshaped.grad(), (Array<double>{7.0, 8.0, 9.0}));
}

// A second step of an op-by-op loop runs in the nodes the first released.
TEST(ReleasedNodes, ASecondStepInTheFirstStepsNodesComputesTheSameGradients) {
  xgrad::manual_seed(8);
  V w(xgrad::uniform<double>({3, 4}, -0.5, 0.5), true);
  V r(xgrad::uniform<double>({4, 4}, -0.5, 0.5), true);
  V b(xgrad::uniform<double>({4}, -0.5, 0.5), true);
  const V x(xgrad::uniform<double>({2, 5, 3}, -1.0, 1.0));
  const auto step = [&] {
    for (V* p : {&w, &r, &b}) p->zero_grad();
    V h(xgrad::zeros<double>({2, 4}));
    std::vector<V> outputs;
    for (std::size_t t = 0; t < 5; ++t) {
      h = xgrad::tanh(xgrad::matmul(xgrad::select(x, 1, t), w) + xgrad::matmul(h, r) + b);
      outputs.push_back(h);
    }
    xgrad::mean(xgrad::square(xgrad::stack(outputs, 1))).backward();
    return std::vector<Array<double>>{w.grad(), r.grad(), b.grad()};
  };
  const std::vector<Array<double>> first = step();
  EXPECT_EQ(step(), first);
}

// A backward function holding the last handle of another graph: that graph
// is let go while the first node is, in turn and not by recursion.
TEST(ReleasedNodes, AGraphHeldByAReleasedNodesBackwardIsReleasedToo) {
  auto sentinel = std::make_shared<int>(0);
  const std::weak_ptr<int> watch = sentinel;
  const V x(Array<double>{1.0, 2.0}, true);
  {
    V held = xgrad::tanh(tracked_identity(x, sentinel));
    const V holder = V::from_op(x.value(), {x}, "holds",
                                [held](const Array<double>& g, const Array<double>&, std::vector<V>& in) {
                                  in[0].add_grad(g);
                                });
    held = V();
    sentinel.reset();
    EXPECT_FALSE(watch.expired());  // holder's backward function holds it
  }
  EXPECT_TRUE(watch.expired());
  EXPECT_EQ(xgrad::tanh(x).value(), (Array<double>{std::tanh(1.0), std::tanh(2.0)}));
}

// A value released after its thread's kept nodes are gone (a thread_local
// made before them) is freed, not kept.
TEST(ReleasedNodes, AValueOutlivingItsThreadsKeptNodesIsFreed) {
  std::thread([] {
    thread_local std::vector<V> late;  // made before the thread's kept nodes: destroyed after them
    const V x(Array<double>{1.0, 2.0}, true);
    late.push_back(xgrad::tanh(x * x));
    EXPECT_EQ(late.back().value(), (Array<double>{std::tanh(1.0), std::tanh(4.0)}));
  }).join();
}

TEST(LongChain, TanhChainBackwardMatchesTheProductOfDerivatives) {
  // x_{n+1} = tanh(x_n): d x_N / d x_0 = prod_n (1 - x_{n+1}^2).
  const V x0(xgrad::full<double>({}, 0.5), true);
  V x = x0;
  double value = 0.5, derivative = 1.0;
  for (std::size_t n = 0; n < kLongChain; ++n) {
    x = xgrad::tanh(x);
    value = std::tanh(value);
    derivative *= 1.0 - value * value;
  }
  // The op's tanh is xsimd's, within 2 ulp of the C library's at each step;
  // tanh' <= 1 carries the gaps along without growing them, so they add up to
  // at most sum_n 2 eps |x_n| ~ 2 eps sqrt(6 N) = 3.4e-13 (x_n ~ sqrt(3 / 2n)).
  EXPECT_NEAR(x.value()(), value, 4e-13);
  x.backward();
  ASSERT_TRUE(std::isfinite(x0.grad()()));
  EXPECT_GT(derivative, 0.0);  // still a normal number, so the comparison means something
  // The products are formed in opposite orders: ~1e5 roundings of 1e-16 each.
  EXPECT_NEAR(x0.grad()(), derivative, 1e-9 * derivative);
}

TEST(LongChain, AddChainAccumulatesIntoASharedConstant) {
  // x_{n+1} = x_n + c: dx_N/dx_0 = 1 and dx_N/dc = N, exactly.
  const V x0(Array<double>{1.0, -1.0}, true);
  const V c(Array<double>{0.5, 0.25}, true);
  V x = x0;
  for (std::size_t n = 0; n < kLongChain; ++n) x = x + c;
  xgrad::sum(x).backward();
  EXPECT_EQ(x0.grad(), (Array<double>{1.0, 1.0}));
  EXPECT_EQ(c.grad(), (Array<double>{double(kLongChain), double(kLongChain)}));
}

TEST(LongChain, RetainedLongGraphIsDestroyedWithoutOverflow) {
  // After a retained backward the graph is still whole; dropping it must
  // unwind iteratively too.
  const V x0(Array<double>{0.3}, true);
  {
    V x = x0;
    for (std::size_t n = 0; n < kLongChain; ++n) x = xgrad::scale(x, 1.0);
    xgrad::sum(x).backward(/*retain_graph=*/true);
  }
  EXPECT_EQ(x0.grad(), (Array<double>{1.0}));
}

TEST(LongChain, UnusedLongGraphIsDestroyedWithoutOverflow) {
  auto sentinel = std::make_shared<int>(0);
  const std::weak_ptr<int> watch = sentinel;
  const V x0(Array<double>{0.3}, true);
  {
    V x = tracked_identity(x0, sentinel);  // the very first node of the chain
    sentinel.reset();
    for (std::size_t n = 0; n < kLongChain; ++n) x = xgrad::tanh(x);
  }
  EXPECT_TRUE(watch.expired());  // the whole chain, down to its first node, is gone
  EXPECT_FALSE(x0.has_grad());
}

TEST(LongChain, UnusedLongGraphOfNodesNamingTheirInputTwiceIsDestroyedWithoutOverflow) {
  // x * x holds the previous node twice: it dies only when both are
  // dropped, which the unwinding must see as one node dying, not none.
  auto sentinel = std::make_shared<int>(0);
  const std::weak_ptr<int> watch = sentinel;
  const V x0(Array<double>{1.0}, true);
  {
    V x = tracked_identity(x0, sentinel);
    sentinel.reset();
    for (std::size_t n = 0; n < kLongChain; ++n) x = x * x;
    EXPECT_EQ(x.value(), (Array<double>{1.0}));
  }
  EXPECT_TRUE(watch.expired());
}

TEST(LongChain, RnnLikeChainOf100000Steps) {
  // h_t = tanh(h_{t-1} · W + X[:, t, :]) for T = 100,000 with small sizes:
  // every step reuses W and writes into one slice of X's gradient.
  const std::size_t batch = 2, units = 3, steps = kLongChain;
  xgrad::manual_seed(77);
  const V w(xgrad::uniform<double>({units, units}, -0.5, 0.5), true);
  const V x(xgrad::uniform<double>({batch, steps, units}, -1.0, 1.0), true);
  V h(xgrad::zeros<double>({batch, units}));
  for (std::size_t t = 0; t < steps; ++t)
    h = xgrad::tanh(xgrad::matmul(h, w) + xgrad::select(x, 1, t));
  const Array<double> last = h.value();
  xgrad::sum(h).backward();

  ASSERT_TRUE(w.has_grad());
  ASSERT_TRUE(x.has_grad());
  EXPECT_EQ(w.grad().shape(), w.value().shape());
  EXPECT_EQ(x.grad().shape(), x.value().shape());
  for (double g : w.grad()) ASSERT_TRUE(std::isfinite(g));
  for (double g : x.grad()) ASSERT_TRUE(std::isfinite(g));
  // The last input slice reaches the loss only through the last tanh:
  // d sum(h_T) / d X[b, T-1, u] = 1 - h_T[b, u]^2.
  for (std::size_t b = 0; b < batch; ++b)
    for (std::size_t u = 0; u < units; ++u)
      EXPECT_NEAR(x.grad()(b, steps - 1, u), 1.0 - last(b, u) * last(b, u), 1e-15);
  // The first slices were reached too (nonzero unless the product vanished).
  double early = 0.0;
  for (std::size_t u = 0; u < units; ++u) early += std::abs(x.grad()(0, steps - 2, u));
  EXPECT_GT(early, 0.0);
}

}  // namespace
