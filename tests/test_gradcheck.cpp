// gradcheck itself: it must pass correct functions, fail wrong ones, point at
// the worst entry, leave the inputs as it found them, and reject inputs that
// do not require a gradient. Wrong ops are built with Variable::from_op and a
// deliberately wrong grad_fn.

#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <xtensor/xarray.hpp>

#include "test_helpers.hpp"
#include "xgrad/autograd/gradcheck.hpp"
#include "xgrad/autograd/ops.hpp"
#include "xgrad/autograd/variable.hpp"
#include "xgrad/tensor/tensor.hpp"

namespace {

using xgrad::Array;
using xgrad::GradcheckResult;
using xgrad::Variable;
using xgrad::test::random_variable;
using xgrad::test::throws_with;
using Inputs = std::vector<Variable<double>>;
using V = Variable<double>;

class Gradcheck : public ::testing::Test {
 protected:
  void SetUp() override { xgrad::manual_seed(4242); }
};

// x^2 elementwise whose backward sends `factor` times the right gradient 2 x g.
V square_with_grad_factor(const V& x, double factor) {
  return V::from_op(x.value() * x.value(), {x}, "square",
                    [factor](const Array<double>& g, const Array<double>&, std::vector<V>& in) {
                      in[0].add_grad(Array<double>(factor * 2.0 * in[0].value() * g));
                    });
}

// a + b elementwise (equal shapes) whose backward is right everywhere except
// for one element of one input, which gets 3 g instead of g.
V add_wrong_at(const V& a, const V& b, std::size_t wrong_input, std::size_t wrong_element) {
  return V::from_op(
      a.value() + b.value(), {a, b}, "add_wrong_at",
      [wrong_input, wrong_element](const Array<double>& g, const Array<double>&,
                                   std::vector<V>& in) {
        for (std::size_t i = 0; i < in.size(); ++i) {
          Array<double> gi = g;
          if (i == wrong_input) gi.flat(wrong_element) *= 3.0;
          in[i].add_grad(std::move(gi));
        }
      });
}

TEST_F(Gradcheck, PassesOnCorrectFunctions) {
  const auto f = [](const Inputs& v) {
    return xgrad::mean(xgrad::sigmoid(xgrad::matmul(xgrad::tanh(v[0]), v[1]) - v[2]) * v[2]);
  };
  const GradcheckResult result =
      xgrad::gradcheck(f, {random_variable({3, 4}), random_variable({4, 2}), random_variable({2})});
  EXPECT_TRUE(result.passed) << result.summary();
  EXPECT_EQ(result.entries_checked, 12u + 8u + 2u);  // one output element
  EXPECT_LT(result.max_abs_error, 1e-7);
  // The right-gradient version of the custom op passes too.
  const auto right = [](const Inputs& v) { return square_with_grad_factor(v[0], 1.0); };
  EXPECT_TRUE(xgrad::gradcheck(right, {random_variable({2, 3})}).passed);
}

TEST_F(Gradcheck, ChecksTheWholeJacobianOfANonScalarOutput) {
  // Output [2, 3] from inputs [2, 3] and [3]: 6 * (6 + 3) entries.
  const auto f = [](const Inputs& v) { return xgrad::tanh(v[0] * v[1]); };
  const GradcheckResult result =
      xgrad::gradcheck(f, {random_variable({2, 3}), random_variable({3})});
  EXPECT_TRUE(result.passed) << result.summary();
  EXPECT_EQ(result.entries_checked, 54u);
}

TEST_F(Gradcheck, FailsOnADoubledGradient) {
  const auto f = [](const Inputs& v) { return xgrad::sum(square_with_grad_factor(v[0], 2.0)); };
  const GradcheckResult result = xgrad::gradcheck(f, {random_variable({2, 3}, 0.5, 1.5)});
  EXPECT_FALSE(result.passed);
  // Analytic 4 x against numeric 2 x: the error is 2 x >= 1 on [0.5, 1.5).
  EXPECT_GE(result.max_abs_error, 1.0);
  EXPECT_NEAR(result.max_rel_error, 1.0, 1e-6);
  EXPECT_NEAR(result.worst_analytic, 2.0 * result.worst_numeric, 1e-6);
}

TEST_F(Gradcheck, FailsOnASlightlyWrongGradient) {
  // 1 + 1e-4 times the right gradient: within PyTorch's default rtol 1e-3,
  // but 10x over ours (1e-5).
  const auto f = [](const Inputs& v) { return square_with_grad_factor(v[0], 1.0 + 1e-4); };
  EXPECT_FALSE(xgrad::gradcheck(f, {random_variable({4}, 0.5, 1.5)}).passed);
  // The options are honoured: with rtol 1e-3 the same function passes.
  xgrad::GradcheckOptions loose;
  loose.rtol = 1e-3;
  EXPECT_TRUE(xgrad::gradcheck(f, {random_variable({4}, 0.5, 1.5)}, loose).passed);
}

TEST_F(Gradcheck, FailsWhenBackwardSendsNothingOrNaN) {
  const auto silent = [](const Inputs& v) {
    return V::from_op(Array<double>(v[0].value() * 2.0), {v[0]}, "silent",
                      [](const Array<double>&, const Array<double>&, std::vector<V>&) {});
  };
  EXPECT_FALSE(xgrad::gradcheck(silent, {random_variable({3})}).passed);
  const auto nan = [](const Inputs& v) {
    return V::from_op(Array<double>(v[0].value() * 2.0), {v[0]}, "nan",
                      [](const Array<double>& g, const Array<double>&, std::vector<V>& in) {
                        Array<double> bad = g * 2.0;
                        bad.flat(1) = std::numeric_limits<double>::quiet_NaN();
                        in[0].add_grad(std::move(bad));
                      });
  };
  const GradcheckResult result = xgrad::gradcheck(nan, {random_variable({3})});
  EXPECT_FALSE(result.passed);
  // A NaN entry is the worst there is; the first one met is reported.
  EXPECT_EQ(result.worst_input_element, 1u);
  EXPECT_EQ(result.worst_output_element, 0u);
  EXPECT_TRUE(std::isnan(result.worst_analytic));
}

TEST_F(Gradcheck, ReportsTheWorstEntryLocation) {
  // Only input 1, element 4, is wrong (analytic 3, numeric 1), on the
  // diagonal of the Jacobian: output element 4.
  const auto f = [](const Inputs& v) { return add_wrong_at(v[0], v[1], 1, 4); };
  const GradcheckResult result =
      xgrad::gradcheck(f, {random_variable({2, 3}), random_variable({2, 3})});
  EXPECT_FALSE(result.passed);
  EXPECT_EQ(result.worst_input, 1u);
  EXPECT_EQ(result.worst_input_element, 4u);
  EXPECT_EQ(result.worst_output_element, 4u);
  EXPECT_EQ(result.worst_analytic, 3.0);
  EXPECT_NEAR(result.worst_numeric, 1.0, 1e-8);
  EXPECT_NEAR(result.max_abs_error, 2.0, 1e-8);
  // Another location, to be sure it is not a coincidence.
  const auto g = [](const Inputs& v) { return xgrad::sum(add_wrong_at(v[0], v[1], 0, 2)); };
  const GradcheckResult other =
      xgrad::gradcheck(g, {random_variable({5}), random_variable({5})});
  EXPECT_FALSE(other.passed);
  EXPECT_EQ(other.worst_input, 0u);
  EXPECT_EQ(other.worst_input_element, 2u);
  EXPECT_EQ(other.worst_output_element, 0u);
}

TEST_F(Gradcheck, WorstEntryIsMeasuredAgainstItsTolerance) {
  // y = x (shape [3]) but backward sends the gradient of output j to input
  // element 2 - j. Entries (e, j) = (0, 2) and (2, 0) have analytic 1 where
  // the numeric value is 0, which exceeds the tolerance atol = 1e-7 far more
  // than analytic 0 against numeric 1 (tolerance atol + rtol). The first such
  // entry met, input element 0 and output element 2, is reported.
  const auto f = [](const Inputs& v) {
    return V::from_op(v[0].value(), {v[0]}, "reversed",
                      [](const Array<double>& g, const Array<double>&, std::vector<V>& in) {
                        Array<double> r = g;
                        for (std::size_t i = 0; i < 3; ++i) r.flat(i) = g.flat(2 - i);
                        in[0].add_grad(std::move(r));
                      });
  };
  const GradcheckResult result = xgrad::gradcheck(f, {random_variable({3})});
  EXPECT_FALSE(result.passed);
  EXPECT_EQ(result.worst_input_element, 0u);
  EXPECT_EQ(result.worst_output_element, 2u);
  EXPECT_EQ(result.worst_analytic, 1.0);
  EXPECT_NEAR(result.worst_numeric, 0.0, 1e-9);
}

TEST_F(Gradcheck, RestoresInputValuesExactly) {
  V a = random_variable({2, 3});
  V b = random_variable({3});
  a.value()(0, 1) = 0.1;  // not exactly representable: x + eps - eps != x in general
  const Array<double> a_before = a.value();
  const Array<double> b_before = b.value();
  const auto f = [](const Inputs& v) { return xgrad::tanh(v[0] * v[1]); };
  ASSERT_TRUE(xgrad::gradcheck(f, {a, b}).passed);
  EXPECT_EQ(a.value(), a_before);
  EXPECT_EQ(b.value(), b_before);
  // Even when the check fails.
  const auto wrong = [](const Inputs& v) { return square_with_grad_factor(v[0], 2.0); };
  ASSERT_FALSE(xgrad::gradcheck(wrong, {a}).passed);
  EXPECT_EQ(a.value(), a_before);
}

TEST_F(Gradcheck, RestoresPreExistingGradsAndAbsentOnes) {
  V a = random_variable({2, 2});
  V b = random_variable({2});
  const Array<double> old_grad = {{0.25, -1.0}, {3.0, 7.5}};
  a.add_grad(old_grad);
  const auto f = [](const Inputs& v) { return xgrad::sum(v[0] * v[1]); };
  ASSERT_TRUE(xgrad::gradcheck(f, {a, b}).passed);
  ASSERT_TRUE(a.has_grad());
  EXPECT_EQ(a.grad(), old_grad);
  EXPECT_FALSE(b.has_grad());  // it had none before, and has none after
}

TEST_F(Gradcheck, InputNotRequiringGradThrows) {
  const auto f = [](const Inputs& v) { return xgrad::sum(v[0] * v[1]); };
  const V constant(xgrad::zeros<double>({2}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { xgrad::gradcheck(f, {random_variable({2}), constant}); },
      {"gradcheck", "input 1", "(2,)"}));
}

TEST_F(Gradcheck, SummaryMentionsPassedOrFailed) {
  const auto right = [](const Inputs& v) { return square_with_grad_factor(v[0], 1.0); };
  const std::string ok = xgrad::gradcheck(right, {random_variable({2})}).summary();
  EXPECT_EQ(ok.rfind("passed", 0), 0u) << ok;
  EXPECT_EQ(ok.find("FAILED"), std::string::npos) << ok;
  const auto f = [](const Inputs& v) { return add_wrong_at(v[0], v[1], 1, 4); };
  const std::string bad =
      xgrad::gradcheck(f, {random_variable({2, 3}), random_variable({2, 3})}).summary();
  EXPECT_EQ(bad.rfind("FAILED", 0), 0u) << bad;
  // The summary locates the problem.
  EXPECT_NE(bad.find("input 1 element 4"), std::string::npos) << bad;
}

TEST_F(Gradcheck, InputsTheOutputDoesNotDependOnPass) {
  // d sum(a) / db = 0 on both sides: the missing gradient counts as zeros.
  const auto f = [](const Inputs& v) { return xgrad::sum(v[0]); };
  const GradcheckResult result = xgrad::gradcheck(f, {random_variable({3}), random_variable({2})});
  EXPECT_TRUE(result.passed) << result.summary();
  EXPECT_EQ(result.entries_checked, 5u);
}

TEST_F(Gradcheck, ScalarInputsAndOutputs) {
  const auto f = [](const Inputs& v) { return xgrad::tanh(v[0] * v[1]); };
  const V a(xgrad::full<double>({}, 0.7), true);
  const V b(xgrad::full<double>({}, -1.3), true);
  const GradcheckResult result = xgrad::gradcheck(f, {a, b});
  EXPECT_TRUE(result.passed) << result.summary();
  EXPECT_EQ(result.entries_checked, 2u);
}

}  // namespace
