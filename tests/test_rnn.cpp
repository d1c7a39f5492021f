// SimpleRNN: golden values from the seed notebook, an independent float64
// reference loop, float64 gradient checks with respect to the input and each
// parameter separately, error messages, and Keras behaviour.
//
// Dimension letters as in simple_rnn.hpp: B batch, T timesteps, F features,
// U units.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test_helpers.hpp"
#include "xgrad/autograd/gradcheck.hpp"
#include "xgrad/autograd/ops.hpp"
#include "xgrad/autograd/variable.hpp"
#include "xgrad/nn/activation.hpp"
#include "xgrad/nn/initializers.hpp"
#include "xgrad/nn/simple_rnn.hpp"
#include "xgrad/tensor/tensor.hpp"

namespace {

namespace nn = xgrad::nn;
using nn::Activation;
using xgrad::Array;
using xgrad::Shape;
using xgrad::Variable;
using xgrad::test::activate;
using xgrad::test::Draw;
using xgrad::test::gradcheck_passes;
using xgrad::test::max_abs_diff;
using xgrad::test::shape_is;
using xgrad::test::throws_with;

// ---------------------------------------------------------------------------
// Local helpers

using Weights = xgrad::test::RnnWeights;

// Kernel entries in [-1, 1).
Weights random_weights(Draw& draw, std::size_t features, std::size_t units, bool use_bias) {
  return xgrad::test::random_rnn_weights(draw, features, units, use_bias, 1.0);
}

// The plain reference: raw loops in float64, no xgrad ops.
//   pre[b, t, u]   = sum_f x[b, t, f] kernel[f, u] + sum_v h[b, t-1, v] recurrent[v, u] + bias[u]
//   state[b, t, u] = activation(pre[b, t, u]),  h[b, -1, :] = 0
struct Reference {
  std::size_t batch = 0, steps = 0, units = 0;
  std::vector<double> pre;    // [B, T, U]
  std::vector<double> state;  // [B, T, U]
  double at(const std::vector<double>& v, std::size_t b, std::size_t t, std::size_t u) const {
    return v[(b * steps + t) * units + u];
  }
};

// By the shared float64 reference loop (test_helpers.hpp).
Reference reference_rnn(const Array<double>& x, const Weights& w, Activation activation) {
  xgrad::test::ReferenceCall call;
  call.activation = activation;
  const auto r = xgrad::test::recurrent_reference("simple_rnn", x, w.kernel, w.recurrent,
                                                  w.use_bias ? w.bias : Array<double>(), call);
  Reference ref;
  ref.batch = x.shape()[0];
  ref.steps = x.shape()[1];
  ref.units = w.kernel.shape()[1];
  ref.pre.assign(r.pre.begin(), r.pre.end());
  ref.state.assign(r.output.begin(), r.output.end());
  return ref;
}

// Compares a layer output ([B, T, U] or [B, U]) with the reference states.
void expect_matches_reference(const Array<double>& out, const Reference& ref,
                              bool return_sequences, double tolerance) {
  const std::size_t B = ref.batch, T = ref.steps, U = ref.units;
  if (return_sequences) {
    ASSERT_TRUE(shape_is(out, {B, T, U}));
  } else {
    ASSERT_TRUE(shape_is(out, {B, U}));
  }
  double worst = 0.0;
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t t = return_sequences ? 0 : T - 1; t < T; ++t)
      for (std::size_t u = 0; u < U; ++u) {
        const double got = return_sequences ? out(b, t, u) : out(b, u);
        const double d = std::abs(got - ref.at(ref.state, b, t, u));
        worst = std::isnan(d) ? INFINITY : std::max(worst, d);
      }
  EXPECT_LE(worst, tolerance);
}

nn::SimpleRNNOptions options_for(std::size_t units, Activation activation, bool use_bias,
                                 bool return_sequences) {
  return nn::SimpleRNNOptions(units).activation(activation).use_bias(use_bias).return_sequences(
      return_sequences);
}

// ---------------------------------------------------------------------------
// Golden values: the seed notebook (the one examples/notebook.cpp reproduces)

// In [5]: rnn_layer.weights after tf.random.set_seed(1), SimpleRNN(units=2), build((None, None, 5))
//   simple_rnn_cell/kernel:0
//   array([[-0.8766506 ,  0.9172727 ],
//          [-0.37667286,  0.6936799 ],
//          [-0.44308627, -0.71843755],
//          [-0.627252  ,  0.8343315 ],
//          [-0.00902045,  0.08299422]], dtype=float32)
//   simple_rnn_cell/recurrent_kernel:0
//   array([[ 0.57300806, -0.8195498 ],
//          [ 0.8195498 ,  0.573008  ]], dtype=float32)
//   simple_rnn_cell/bias:0  array([0., 0.], dtype=float32)
const Array<float> in5_kernel = {{-0.8766506f, 0.9172727f},
                                 {-0.37667286f, 0.6936799f},
                                 {-0.44308627f, -0.71843755f},
                                 {-0.627252f, 0.8343315f},
                                 {-0.00902045f, 0.08299422f}};
const Array<float> in5_recurrent_kernel = {{0.57300806f, -0.8195498f}, {0.8195498f, 0.573008f}};
const Array<float> in5_bias = {0.f, 0.f};

// In [7]: x_seq = tf.convert_to_tensor([[1.0]*5, [2.0]*5, [3.0]*5], dtype=tf.float32)
// In [8]: output = rnn_layer(tf.reshape(x_seq, shape=(1, 3, 5)))
Array<float> notebook_input() {
  Array<float> x = Array<float>::from_shape({1, 3, 5});
  for (std::size_t t = 0; t < 3; ++t)
    for (std::size_t f = 0; f < 5; ++f) x(0, t, f) = static_cast<float>(t + 1);
  return x;
}

// In [9]:
//   <tf.Tensor: shape=(1, 3, 2), dtype=float32, numpy=
//   array([[[-0.98134404,  0.94781566],
//           [-0.9997276 ,  0.999903  ],
//           [-0.99999744,  0.9999977 ]]], dtype=float32)>
const Array<float> in9_output = {{{-0.98134404f, 0.94781566f},
                                  {-0.9997276f, 0.999903f},
                                  {-0.99999744f, 0.9999977f}}};

// In [22] ran on other weights, printed there as w_xh:
//    w_xh : [[ 0.9245993   0.33459878]
//    [-0.26637006 -0.61695325]
//    [ 0.43761563 -0.33505726]
//    [ 0.03919727 -0.5819472 ]
//    [-0.904947   -0.5740896 ]]
//   b_h : [0. 0.]
const Array<float> in22_kernel = {{0.9245993f, 0.33459878f},
                                  {-0.26637006f, -0.61695325f},
                                  {0.43761563f, -0.33505726f},
                                  {0.03919727f, -0.5819472f},
                                  {-0.904947f, -0.5740896f}};

TEST(SimpleRNNGolden, NotebookIn9OutputFromIn5Weights) {
  // In [2]: SimpleRNN(units=2, use_bias=True, return_sequences=True); In [3]: build((None, None, 5))
  nn::SimpleRNN<float> rnn_layer(nn::SimpleRNNOptions(2).use_bias(true).return_sequences(true));
  rnn_layer.build({-1, -1, 5});
  rnn_layer.set_weights({in5_kernel, in5_recurrent_kernel, in5_bias});
  const Variable<float> output = rnn_layer(Variable<float>(notebook_input()));
  ASSERT_TRUE(shape_is(output.value(), {1, 3, 2}));
  EXPECT_LE(max_abs_diff(output.value(), in9_output), 1e-6);

  // return_sequences=False gives In [9]'s last row.
  nn::SimpleRNN<float> last(nn::SimpleRNNOptions(2));
  last.set_weights({in5_kernel, in5_recurrent_kernel, in5_bias});
  const Array<float> expected_last = {{-0.99999744f, 0.9999977f}};
  EXPECT_LE(max_abs_diff(last(Variable<float>(notebook_input())).value(), expected_last), 1e-6);
}

TEST(SimpleRNNGolden, NotebookIn9OutputThroughTheComposedPath) {
  nn::SimpleRNN<float> rnn_layer(nn::SimpleRNNOptions(2).return_sequences(true));
  rnn_layer.set_weights({in5_kernel, in5_recurrent_kernel, in5_bias});
  const Variable<float> output = rnn_layer.forward_composed(Variable<float>(notebook_input()));
  EXPECT_LE(max_abs_diff(output.value(), in9_output), 1e-6);
}

// Two independent copies of the notebook's layer side by side (kernel [K K],
// recurrent_kernel diag(R, R)): 4 units, so the activation runs over whole
// SIMD batches of float32 rather than a scalar tail. Both halves give In [9].
TEST(SimpleRNNGolden, NotebookIn9OutputFromTwoCopiesSideBySide) {
  Array<float> kernel = xgrad::zeros<float>({5, 4});
  Array<float> recurrent = xgrad::zeros<float>({4, 4});
  for (std::size_t copy = 0; copy < 2; ++copy) {
    for (std::size_t f = 0; f < 5; ++f)
      for (std::size_t u = 0; u < 2; ++u) kernel(f, 2 * copy + u) = in5_kernel(f, u);
    for (std::size_t v = 0; v < 2; ++v)
      for (std::size_t u = 0; u < 2; ++u) recurrent(2 * copy + v, 2 * copy + u) = in5_recurrent_kernel(v, u);
  }
  nn::SimpleRNN<float> rnn(nn::SimpleRNNOptions(4).return_sequences(true));
  rnn.set_weights({kernel, recurrent, xgrad::zeros<float>({4})});
  for (bool fused : {true, false}) {
    SCOPED_TRACE(fused ? "forward" : "forward_composed");
    const Variable<float> x(notebook_input());
    const Array<float> out = fused ? rnn(x).value() : rnn.forward_composed(x).value();
    ASSERT_TRUE(shape_is(out, {1, 3, 4}));
    for (std::size_t copy = 0; copy < 2; ++copy) {
      Array<float> half = Array<float>::from_shape({1, 3, 2});
      for (std::size_t t = 0; t < 3; ++t)
        for (std::size_t u = 0; u < 2; ++u) half(0, t, u) = out(0, t, 2 * copy + u);
      EXPECT_LE(max_abs_diff(half, in9_output), 1e-6) << "copy " << copy;
    }
  }
}

TEST(SimpleRNNGolden, NotebookIn9OutputInFloat64) {
  nn::SimpleRNN<double> rnn_layer(nn::SimpleRNNOptions(2).return_sequences(true));
  rnn_layer.set_weights({xt::cast<double>(in5_kernel), xt::cast<double>(in5_recurrent_kernel),
                         xt::cast<double>(in5_bias)});
  const Variable<double> output =
      rnn_layer(Variable<double>(xt::cast<double>(notebook_input())));
  EXPECT_LE(max_abs_diff(output.value(), Array<double>(xt::cast<double>(in9_output))), 1e-6);
}

TEST(SimpleRNNGolden, NotebookIn22StepZeroFromItsOwnKernel) {
  // In [22], timestep t= 0: Input xt= : [[1. 1. 1. 1. 1.]], prev_o = zeros, b_h : [0. 0.]
  //   ht=xt*w_xh+b_h : [[ 0.23009521 -1.7734485 ]]
  //   output (manual)@ timestep 0 : [[ 0.22611868 -0.9439862 ]]
  // The recurrent kernel of In [22] was not printed; at t = 0 the state is zero,
  // so any recurrent kernel gives the same step.
  Array<float> x = Array<float>::from_shape({1, 1, 5});
  x.fill(1.f);
  const std::vector<Array<float>> recurrents{
      {{1.f, 0.f}, {0.f, 1.f}}, in5_recurrent_kernel, {{-3.f, 7.f}, {2.f, 5.f}}};
  for (const auto& recurrent : recurrents) {
    nn::SimpleRNN<float> rnn(nn::SimpleRNNOptions(2).return_sequences(true));
    rnn.set_weights({in22_kernel, recurrent, Array<float>{0.f, 0.f}});
    const Array<float> expected = {{{0.22611868f, -0.9439862f}}};
    EXPECT_LE(max_abs_diff(rnn(Variable<float>(x)).value(), expected), 1e-6);
  }

  // The pre-activation, through a linear layer.
  nn::SimpleRNN<float> linear(nn::SimpleRNNOptions(2).activation("linear"));
  linear.set_weights({in22_kernel, in5_recurrent_kernel, Array<float>{0.f, 0.f}});
  const Array<float> expected_pre = {{0.23009521f, -1.7734485f}};
  EXPECT_LE(max_abs_diff(linear(Variable<float>(x)).value(), expected_pre), 1e-6);

  // In [22], timestep t= 1: Input xt= : [[2. 2. 2. 2. 2.]]
  //   ht=xt*w_xh+b_h : [[ 0.46019042 -3.546897  ]]
  x.fill(2.f);
  const Array<float> expected_pre_t1 = {{0.46019042f, -3.546897f}};
  EXPECT_LE(max_abs_diff(linear(Variable<float>(x)).value(), expected_pre_t1), 1e-6);
}

// ---------------------------------------------------------------------------
// Against the plain float64 reference loop

struct ReferenceCase {
  Activation activation;
  bool use_bias;
  bool return_sequences;
};

std::string reference_case_name(const testing::TestParamInfo<ReferenceCase>& info) {
  const auto& c = info.param;
  return std::string(nn::activation_name(c.activation)) + (c.use_bias ? "_bias" : "_nobias") +
         (c.return_sequences ? "_sequences" : "_last");
}

// Every activation, with and without bias, returning sequences or the last state.
std::vector<ReferenceCase> all_reference_cases() {
  std::vector<ReferenceCase> out;
  for (Activation a : {Activation::tanh, Activation::relu, Activation::sigmoid, Activation::linear})
    for (bool use_bias : {true, false})
      for (bool sequences : {true, false}) out.push_back({a, use_bias, sequences});
  return out;
}

void PrintTo(const ReferenceCase& c, std::ostream* os) {
  *os << nn::activation_name(c.activation) << " use_bias=" << c.use_bias
      << " return_sequences=" << c.return_sequences;
}

class SimpleRNNReference : public testing::TestWithParam<ReferenceCase> {};

TEST_P(SimpleRNNReference, MatchesPlainLoopsInFloat64) {
  const ReferenceCase c = GetParam();
  const std::vector<std::pair<std::size_t, std::size_t>> features_units{
      {1, 1}, {3, 4}, {5, 2}, {8, 16}};
  Draw draw(0x5eed + 17 * static_cast<int>(c.activation) + 3 * c.use_bias + c.return_sequences);
  int compared = 0;
  for (std::size_t steps : {1, 2, 7, 20})
    for (std::size_t batch : {1, 3})
      for (const auto& [features, units] : features_units) {
        SCOPED_TRACE("T=" + std::to_string(steps) + " B=" + std::to_string(batch) +
                     " F=" + std::to_string(features) + " U=" + std::to_string(units));
        const Weights w = random_weights(draw, features, units, c.use_bias);
        const Array<double> x = draw.uniform({batch, steps, features}, -1.0, 1.0);
        nn::SimpleRNN<double> rnn(options_for(units, c.activation, c.use_bias, c.return_sequences));
        rnn.set_weights(w.as_list());
        const Reference ref = reference_rnn(x, w, c.activation);
        {
          SCOPED_TRACE("forward (fused)");
          expect_matches_reference(rnn(Variable<double>(x)).value(), ref, c.return_sequences, 1e-12);
        }
        {
          SCOPED_TRACE("forward_composed");
          expect_matches_reference(rnn.forward_composed(Variable<double>(x)).value(), ref,
                                   c.return_sequences, 1e-12);
        }
        ++compared;
      }
  EXPECT_EQ(compared, 4 * 2 * 4);
}

INSTANTIATE_TEST_SUITE_P(AllModes, SimpleRNNReference, testing::ValuesIn(all_reference_cases()),
                         reference_case_name);

// The fused forward/backward (one graph node, backward through time by hand)
// against forward_composed (primitive ops): the same gradients of
// sum(output * fixed random weights) with respect to the input and every
// parameter, for every T and B.
class SimpleRNNFusedVsComposed : public testing::TestWithParam<ReferenceCase> {};

TEST_P(SimpleRNNFusedVsComposed, SameOutputsAndGradients) {
  const ReferenceCase c = GetParam();
  constexpr std::size_t F = 3, U = 4;
  Draw draw(0xf05ed + 17 * static_cast<int>(c.activation) + 3 * c.use_bias + c.return_sequences);
  for (std::size_t steps : {1, 2, 7, 20})
    for (std::size_t batch : {1, 3}) {
      SCOPED_TRACE("T=" + std::to_string(steps) + " B=" + std::to_string(batch));
      const Weights w = random_weights(draw, F, U, c.use_bias);
      const Array<double> x = draw.uniform({batch, steps, F}, -1.0, 1.0);
      const Shape out_shape = c.return_sequences ? Shape{batch, steps, U} : Shape{batch, U};
      const Variable<double> loss_weights(draw.uniform(out_shape, -1.0, 1.0));
      nn::SimpleRNN<double> rnn(options_for(U, c.activation, c.use_bias, c.return_sequences));
      rnn.set_weights(w.as_list());

      auto run = [&](bool fused, Array<double>& output) {
        rnn.zero_grad();
        Variable<double> input(x, true);
        const Variable<double> y = fused ? rnn(input) : rnn.forward_composed(input);
        output = y.value();
        xgrad::sum(xgrad::mul(y, loss_weights)).backward();
        // (At T = 1 the composed graph never uses recurrent_kernel: no gradient
        // reaches it, which is a gradient of zero.)
        auto grad_or_zeros = [](const Variable<double>& v) {
          return v.has_grad() ? v.grad() : xgrad::zeros<double>(xgrad::to_shape(v.shape()));
        };
        std::vector<Array<double>> grads{grad_or_zeros(input)};
        for (const auto& p : rnn.parameters()) grads.push_back(grad_or_zeros(p));
        return grads;
      };
      Array<double> out_fused, out_composed;
      const auto fused = run(true, out_fused);
      const auto composed = run(false, out_composed);
      EXPECT_LE(max_abs_diff(out_fused, out_composed), 1e-12);
      ASSERT_EQ(fused.size(), c.use_bias ? 4u : 3u);
      ASSERT_EQ(composed.size(), fused.size());
      const char* names[] = {"input", "kernel", "recurrent_kernel", "bias"};
      for (std::size_t i = 0; i < fused.size(); ++i) {
        const double scale = 1.0 + xt::amax(xt::abs(composed[i]))();
        EXPECT_LE(max_abs_diff(fused[i], composed[i]), 1e-12 * scale) << names[i];
      }
    }
}

INSTANTIATE_TEST_SUITE_P(AllModes, SimpleRNNFusedVsComposed,
                         testing::ValuesIn(all_reference_cases()), reference_case_name);

// The reference itself, on a case small enough to do by hand:
// F = 1, U = 1, kernel 2, recurrent 0.5, bias 0.1, x = [1, -1], linear:
//   h_0 = 2*1 + 0.1 = 2.1,  h_1 = 2*(-1) + 0.5*2.1 + 0.1 = -0.85.
TEST(SimpleRNNReferenceLoop, HandComputedCase) {
  Weights w{xgrad::full<double>({1, 1}, 2.0), xgrad::full<double>({1, 1}, 0.5),
            xgrad::full<double>({1}, 0.1), true};
  Array<double> x = xgrad::zeros<double>({1, 2, 1});
  x(0, 0, 0) = 1.0;
  x(0, 1, 0) = -1.0;
  const Reference ref = reference_rnn(x, w, Activation::linear);
  EXPECT_DOUBLE_EQ(ref.at(ref.state, 0, 0, 0), 2.1);
  EXPECT_DOUBLE_EQ(ref.at(ref.state, 0, 1, 0), -0.85);
  nn::SimpleRNN<double> rnn(nn::SimpleRNNOptions(1).activation("linear").return_sequences(true));
  rnn.set_weights(w.as_list());
  const Array<double> out = rnn(Variable<double>(x)).value();
  EXPECT_NEAR(out(0, 0, 0), 2.1, 1e-15);
  EXPECT_NEAR(out(0, 1, 0), -0.85, 1e-15);
}

// ---------------------------------------------------------------------------
// Gradient checks (float64, gradcheck's default tolerances)

struct GradCase {
  Activation activation;
  bool use_bias;
  bool return_sequences;
  std::size_t steps;
  std::size_t batch;
};

std::string grad_case_name(const testing::TestParamInfo<GradCase>& info) {
  const auto& c = info.param;
  return std::string(nn::activation_name(c.activation)) + (c.use_bias ? "_bias" : "_nobias") +
         (c.return_sequences ? "_sequences" : "_last") + "_T" + std::to_string(c.steps) + "_B" +
         std::to_string(c.batch);
}

std::vector<GradCase> all_grad_cases() {
  std::vector<GradCase> out;
  for (Activation a : {Activation::tanh, Activation::relu, Activation::sigmoid, Activation::linear})
    for (bool use_bias : {true, false})
      for (bool sequences : {true, false})
        for (std::size_t steps : {1, 2, 7, 20})
          for (std::size_t batch : {1, 3}) out.push_back({a, use_bias, sequences, steps, batch});
  return out;
}

void PrintTo(const GradCase& c, std::ostream* os) {
  *os << nn::activation_name(c.activation) << " use_bias=" << c.use_bias
      << " return_sequences=" << c.return_sequences << " T=" << c.steps << " B=" << c.batch;
}

class SimpleRNNGradcheck : public testing::TestWithParam<GradCase> {};

TEST_P(SimpleRNNGradcheck, InputAndEachParameterSeparately) {
  const GradCase c = GetParam();
  constexpr std::size_t F = 3, U = 4;
  Draw draw(1000 * c.steps + 100 * c.batch + 10 * static_cast<int>(c.activation) +
            2 * c.use_bias + c.return_sequences);

  // Weights and inputs; for relu, re-drawn until no pre-activation lies within
  // 1e-3 of the kink (central differences of step 1e-6 never cross it) and
  // both sides of it are well represented (so the check is not vacuous).
  Weights w;
  Array<double> x;
  for (int attempt = 0;; ++attempt) {
    ASSERT_LT(attempt, 1000) << "no suitable relu draw";
    w = random_weights(draw, F, U, c.use_bias);
    x = draw.uniform({c.batch, c.steps, F}, -1.0, 1.0);
    if (c.activation != Activation::relu) break;
    const Reference ref = reference_rnn(x, w, c.activation);
    const double closest = std::abs(*std::min_element(
        ref.pre.begin(), ref.pre.end(), [](double a, double b) { return std::abs(a) < std::abs(b); }));
    const auto positive = std::count_if(ref.pre.begin(), ref.pre.end(), [](double v) { return v > 0; });
    const double fraction = static_cast<double>(positive) / static_cast<double>(ref.pre.size());
    if (closest >= 1e-3 && (ref.pre.size() < 8 || (fraction >= 0.2 && fraction <= 0.8)) &&
        positive > 0)
      break;
  }

  nn::SimpleRNN<double> rnn(options_for(U, c.activation, c.use_bias, c.return_sequences));
  rnn.set_weights(w.as_list());
  Variable<double> input(x, true);

  // The full Jacobian of the full output in every configuration (one
  // backward per output element; 240 outputs at T = 20, B = 3 with
  // return_sequences, which the fused layer makes cheap enough).
  const Shape out_shape =
      c.return_sequences ? Shape{c.batch, c.steps, U} : Shape{c.batch, U};
  auto model = [&](const Variable<double>& in) { return rnn(in); };
  const std::size_t outputs = xgrad::element_count(out_shape);

  auto check = [&](const char* what, const Variable<double>& wrt,
                   const xgrad::GradcheckFunction& f) {
    const xgrad::GradcheckResult r = xgrad::gradcheck(f, {wrt});
    EXPECT_TRUE(r.passed) << what << ": " << r.summary();
    EXPECT_EQ(r.entries_checked, outputs * wrt.size()) << what;
  };
  check("input", input, [&](const std::vector<Variable<double>>& in) { return model(in[0]); });
  check("kernel", rnn.kernel(), [&](const std::vector<Variable<double>>&) { return model(input); });
  check("recurrent_kernel", rnn.recurrent_kernel(),
        [&](const std::vector<Variable<double>>&) { return model(input); });
  if (c.use_bias) {
    check("bias", rnn.bias(), [&](const std::vector<Variable<double>>&) { return model(input); });
  } else {
    EXPECT_THROW(rnn.bias(), std::logic_error);
    EXPECT_EQ(rnn.parameters().size(), 2u);
  }
  // gradcheck puts the values back: the layer still matches the reference.
  expect_matches_reference(rnn(Variable<double>(x)).value(), reference_rnn(x, w, c.activation),
                           c.return_sequences, 1e-12);
}

INSTANTIATE_TEST_SUITE_P(AllConfigurations, SimpleRNNGradcheck, testing::ValuesIn(all_grad_cases()),
                         grad_case_name);

// One layer applied to two inputs in one graph: each parameter's gradient is
// the sum of both uses (the fused backward adds into the gradient buffers).
TEST(SimpleRNNGradcheckReuse, LayerUsedTwiceAccumulates) {
  for (bool sequences : {true, false}) {
    SCOPED_TRACE(sequences ? "return_sequences" : "last step");
    Draw draw(sequences ? 81 : 82);
    const Weights w = random_weights(draw, 3, 4, true);
    nn::SimpleRNN<double> rnn(nn::SimpleRNNOptions(4).return_sequences(sequences));
    rnn.set_weights(w.as_list());
    Variable<double> a(draw.uniform({2, 5, 3}, -1, 1), true);
    Variable<double> b(draw.uniform({2, 5, 3}, -1, 1), true);
    auto twice = [&](const Variable<double>& x1, const Variable<double>& x2) {
      return xgrad::add(rnn(x1), xgrad::scale(rnn(x2), 0.5));
    };
    for (auto [name, wrt] : {std::pair<const char*, Variable<double>>{"kernel", rnn.kernel()},
                             {"recurrent_kernel", rnn.recurrent_kernel()}, {"bias", rnn.bias()}}) {
      EXPECT_TRUE(gradcheck_passes(
          [&](const std::vector<Variable<double>>&) { return twice(a, b); }, {wrt}))
          << name;
    }
    // The same input used twice.
    EXPECT_TRUE(gradcheck_passes(
        [&](const std::vector<Variable<double>>& in) { return twice(in[0], in[0]); }, {a}))
        << "input used twice";
  }
}

// The check above can fail: a layer output sent through an op whose backward
// is wrong by a small factor is caught.
TEST(SimpleRNNGradcheckHarness, DetectsAWrongBackward) {
  Draw draw(7);
  const Weights w = random_weights(draw, 3, 4, true);
  nn::SimpleRNN<double> rnn(nn::SimpleRNNOptions(4).return_sequences(true));
  rnn.set_weights(w.as_list());
  Variable<double> input(draw.uniform({2, 3, 3}, -1.0, 1.0), true);
  auto slightly_wrong = [](const Variable<double>& a) {
    return Variable<double>::from_op(
        Array<double>(a.value()), {a}, "slightly_wrong",
        [](const Array<double>& g, const Array<double>&, std::vector<Variable<double>>& in) {
          in[0].add_grad(Array<double>(g * (1.0 + 1e-4)));
        });
  };
  EXPECT_FALSE(gradcheck_passes(
      [&](const std::vector<Variable<double>>&) { return slightly_wrong(rnn(input)); },
      {rnn.recurrent_kernel()}));
}

// ---------------------------------------------------------------------------
// Errors

TEST(SimpleRNNErrors, InputOfRankTwoOrFour) {
  nn::SimpleRNN<float> rnn(nn::SimpleRNNOptions(2));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { rnn(Variable<float>(xgrad::zeros<float>({3, 5}))); },
      {"SimpleRNN 'simple_rnn'", "rank 3", "[batch, timesteps, features]", "(3, 5)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { rnn(Variable<float>(xgrad::zeros<float>({1, 3, 5, 1}))); },
      {"SimpleRNN 'simple_rnn'", "rank 3", "[batch, timesteps, features]", "(1, 3, 5, 1)"}));
  // A rejected input does not build the layer.
  EXPECT_FALSE(rnn.built());
}

TEST(SimpleRNNErrors, WrongFeatureCountAfterBuild) {
  nn::SimpleRNN<float> rnn(nn::SimpleRNNOptions(2));
  rnn(Variable<float>(xgrad::zeros<float>({1, 3, 5})));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { rnn(Variable<float>(xgrad::zeros<float>({1, 3, 4}))); },
      {"SimpleRNN 'simple_rnn'", "(batch, timesteps, 5)", "(1, 3, 4)"}));
  EXPECT_EQ(rnn.input_features(), 5u);
}

TEST(SimpleRNNErrors, BuildWithABadShape) {
  nn::SimpleRNN<float> rnn(nn::SimpleRNNOptions(2));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { rnn.build({-1, -1, 0}); },
      {"SimpleRNN 'simple_rnn'", "(batch, timesteps, features)", "(None, None, 0)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { rnn.build({-1, 5}); },
      {"SimpleRNN 'simple_rnn'", "(batch, timesteps, features)", "(None, 5)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { rnn.build({1, 2, 3, 4}); },
      {"SimpleRNN 'simple_rnn'", "(batch, timesteps, features)", "(1, 2, 3, 4)"}));
  EXPECT_FALSE(rnn.built());
  rnn.build({-1, -1, 5});
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { rnn.build({-1, -1, 4}); }, {"SimpleRNN 'simple_rnn'", "5 features", "4"}));
  EXPECT_EQ(rnn.input_features(), 5u);
  EXPECT_TRUE(shape_is(rnn.kernel().value(), {5, 2}));
}

TEST(SimpleRNNErrors, SetWeightsWrongCountOrShapesLeavesWeightsUnchanged) {
  nn::SimpleRNN<double> rnn(nn::SimpleRNNOptions(2));
  rnn.build({-1, -1, 5});
  Draw draw(11);
  const Weights good = random_weights(draw, 5, 2, true);
  rnn.set_weights(good.as_list());
  auto unchanged = [&] {
    const auto now = rnn.weights();
    ASSERT_EQ(now.size(), 3u);
    EXPECT_EQ(now[0], good.kernel);
    EXPECT_EQ(now[1], good.recurrent);
    EXPECT_EQ(now[2], good.bias);
  };
  const Array<double> new_kernel = draw.uniform({5, 2}, -1, 1);
  const Array<double> new_recurrent = draw.uniform({2, 2}, -1, 1);
  const Array<double> new_bias = draw.uniform({2}, -1, 1);

  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { rnn.set_weights({new_kernel, new_recurrent}); },
      {"SimpleRNN 'simple_rnn'", "3 arrays", "got 2"}));
  unchanged();
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { rnn.set_weights({new_kernel, new_recurrent, new_bias, new_bias}); },
      {"SimpleRNN 'simple_rnn'", "3 arrays", "got 4"}));
  unchanged();
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { rnn.set_weights({draw.uniform({4, 2}, -1, 1), new_recurrent, new_bias}); },
      {"SimpleRNN 'simple_rnn'", "kernel", "(5, 2)", "(4, 2)"}));
  unchanged();
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { rnn.set_weights({new_kernel, draw.uniform({2, 3}, -1, 1), new_bias}); },
      {"SimpleRNN 'simple_rnn'", "recurrent_kernel", "(2, 2)", "(2, 3)"}));
  unchanged();
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { rnn.set_weights({new_kernel, new_recurrent, draw.uniform({3}, -1, 1)}); },
      {"SimpleRNN 'simple_rnn'", "bias", "(2,)", "(3,)"}));
  unchanged();
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { rnn.set_weights({new_kernel, new_recurrent, draw.uniform({1, 2}, -1, 1)}); },
      {"SimpleRNN 'simple_rnn'", "bias", "(2,)", "(1, 2)"}));
  unchanged();

  // Without bias, two arrays are expected.
  nn::SimpleRNN<double> no_bias(nn::SimpleRNNOptions(2).use_bias(false));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { no_bias.set_weights({new_kernel, new_recurrent, new_bias}); },
      {"SimpleRNN 'simple_rnn'", "2 arrays", "got 3"}));
  // A failed set_weights on an unbuilt layer leaves it unbuilt.
  nn::SimpleRNN<double> unbuilt(nn::SimpleRNNOptions(2));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { unbuilt.set_weights({new_kernel, new_recurrent, draw.uniform({3}, -1, 1)}); },
      {"SimpleRNN 'simple_rnn'", "bias", "(2,)", "(3,)"}));
  EXPECT_FALSE(unbuilt.built());
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { unbuilt.set_weights({draw.uniform({5}, -1, 1), new_recurrent, new_bias}); },
      {"SimpleRNN 'simple_rnn'", "kernel", "(features, 2)", "(5,)"}));
  EXPECT_FALSE(unbuilt.built());
}

TEST(SimpleRNNErrors, ZeroUnits) {
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [] { nn::SimpleRNN<float> rnn(nn::SimpleRNNOptions(0)); },
      {"SimpleRNN 'simple_rnn'", "units", "0"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [] { nn::SimpleRNN<double> rnn(nn::SimpleRNNOptions(0).name("encoder")); },
      {"SimpleRNN 'encoder'", "units", "0"}));
}

TEST(SimpleRNNErrors, UnknownActivationName) {
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [] { nn::SimpleRNNOptions(2).activation("sparsemax"); },
      {"sparsemax", "linear", "tanh", "relu", "sigmoid"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([] { nn::activation_from_name("Tanh"); },
                                                 {"'Tanh'"}));
}

TEST(SimpleRNNErrors, ZeroTimesteps) {
  nn::SimpleRNN<float> rnn(nn::SimpleRNNOptions(2));
  rnn.build({-1, -1, 5});
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { rnn(Variable<float>(xgrad::zeros<float>({2, 0, 5}))); },
      {"SimpleRNN 'simple_rnn'", "(2, 0, 5)", "timesteps"}));
}

TEST(SimpleRNNErrors, ParametersBeforeBuildAreLogicErrors) {
  nn::SimpleRNN<float> rnn(nn::SimpleRNNOptions(2));
  EXPECT_TRUE(throws_with<std::logic_error>([&] { rnn.kernel(); },
                                            {"SimpleRNN 'simple_rnn'", "kernel", "build"}));
  EXPECT_THROW(rnn.recurrent_kernel(), std::logic_error);
  EXPECT_THROW(rnn.bias(), std::logic_error);
  EXPECT_THROW(rnn.weights(), std::logic_error);
  // logic_error, not its sibling invalid_argument.
  try {
    rnn.kernel();
  } catch (const std::invalid_argument&) {
    ADD_FAILURE() << "kernel() before build threw invalid_argument";
  } catch (const std::logic_error&) {
  }
  nn::SimpleRNN<float> no_bias(nn::SimpleRNNOptions(2).use_bias(false));
  no_bias.build({-1, -1, 3});
  EXPECT_TRUE(throws_with<std::logic_error>([&] { no_bias.bias(); }, {"use_bias"}));
}

// ---------------------------------------------------------------------------
// Behaviour

TEST(SimpleRNNBehaviour, DefaultOptionsMatchKeras) {
  const nn::SimpleRNNOptions options(3);
  EXPECT_EQ(options.units(), 3u);
  EXPECT_EQ(options.activation(), Activation::tanh);
  EXPECT_TRUE(options.use_bias());
  EXPECT_FALSE(options.return_sequences());
  EXPECT_EQ(options.name(), "simple_rnn");
  nn::SimpleRNN<float> rnn(options);
  EXPECT_EQ(rnn.name(), "simple_rnn");
  EXPECT_FALSE(rnn.built());
}

TEST(SimpleRNNBehaviour, LazyBuildOnFirstCall) {
  xgrad::manual_seed(3);
  nn::SimpleRNN<float> rnn(nn::SimpleRNNOptions(4));
  EXPECT_FALSE(rnn.built());
  EXPECT_TRUE(rnn.parameters().empty());
  const Variable<float> y = rnn(Variable<float>(xgrad::uniform<float>({2, 3, 6}, -1.f, 1.f)));
  EXPECT_TRUE(rnn.built());
  EXPECT_EQ(rnn.input_features(), 6u);
  EXPECT_TRUE(shape_is(rnn.kernel().value(), {6, 4}));
  EXPECT_TRUE(shape_is(y.value(), {2, 4}));
  EXPECT_EQ(rnn.parameters().size(), 3u);
  // A second call reuses the weights.
  const auto before = rnn.weights();
  rnn(Variable<float>(xgrad::uniform<float>({1, 5, 6}, -1.f, 1.f)));
  const auto after = rnn.weights();
  EXPECT_EQ(before[0], after[0]);
  EXPECT_EQ(before[1], after[1]);
}

TEST(SimpleRNNBehaviour, BuildCreatesKerasShapes) {
  nn::SimpleRNN<float> rnn(nn::SimpleRNNOptions(2));
  rnn.build({-1, -1, 5});
  EXPECT_TRUE(rnn.built());
  EXPECT_EQ(rnn.input_features(), 5u);
  EXPECT_TRUE(shape_is(rnn.kernel().value(), {5, 2}));
  EXPECT_TRUE(shape_is(rnn.recurrent_kernel().value(), {2, 2}));
  EXPECT_TRUE(shape_is(rnn.bias().value(), {2}));
  for (const auto& p : rnn.parameters()) EXPECT_TRUE(p.requires_grad());
  // Building again for the same F changes nothing.
  const auto before = rnn.weights();
  rnn.build({8, 3, 5});
  EXPECT_EQ(rnn.weights()[0], before[0]);
  EXPECT_EQ(rnn.parameters().size(), 3u);

  nn::SimpleRNN<double> wide(nn::SimpleRNNOptions(7).use_bias(false));
  wide.build({4, 9, 3});  // batch and timesteps are ignored
  EXPECT_TRUE(shape_is(wide.kernel().value(), {3, 7}));
  EXPECT_TRUE(shape_is(wide.recurrent_kernel().value(), {7, 7}));
  EXPECT_EQ(wide.weights().size(), 2u);
}

TEST(SimpleRNNBehaviour, WeightsOrderAndSetWeightsRoundTrip) {
  Draw draw(21);
  const Weights w = random_weights(draw, 4, 3, true);
  nn::SimpleRNN<double> rnn(nn::SimpleRNNOptions(3));
  rnn.set_weights(w.as_list());  // builds from the kernel's shape
  EXPECT_TRUE(rnn.built());
  EXPECT_EQ(rnn.input_features(), 4u);
  auto got = rnn.weights();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], w.kernel);
  EXPECT_EQ(got[1], w.recurrent);
  EXPECT_EQ(got[2], w.bias);
  EXPECT_EQ(rnn.kernel().value(), w.kernel);
  EXPECT_EQ(rnn.recurrent_kernel().value(), w.recurrent);
  EXPECT_EQ(rnn.bias().value(), w.bias);
  // weights() are copies.
  got[0](0, 0) += 1.0;
  EXPECT_EQ(rnn.kernel().value(), w.kernel);
  // Round trip into a second layer gives the same outputs.
  nn::SimpleRNN<double> other(nn::SimpleRNNOptions(3));
  other.set_weights(rnn.weights());
  const Variable<double> x(draw.uniform({2, 5, 4}, -1, 1));
  EXPECT_EQ(other(x).value(), rnn(x).value());

  nn::SimpleRNN<double> no_bias(nn::SimpleRNNOptions(3).use_bias(false));
  no_bias.set_weights({w.kernel, w.recurrent});
  const auto two = no_bias.weights();
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[0], w.kernel);
  EXPECT_EQ(two[1], w.recurrent);
}

TEST(SimpleRNNBehaviour, LastStepEqualsLastOfSequence) {
  Draw draw(31);
  const Weights w = random_weights(draw, 3, 5, true);
  nn::SimpleRNN<double> seq(nn::SimpleRNNOptions(5).return_sequences(true));
  nn::SimpleRNN<double> last(nn::SimpleRNNOptions(5));
  seq.set_weights(w.as_list());
  last.set_weights(w.as_list());
  const Variable<double> x(draw.uniform({3, 6, 3}, -1, 1));
  const Array<double> all = seq(x).value();
  const Array<double> final_state = last(x).value();
  ASSERT_TRUE(shape_is(all, {3, 6, 5}));
  ASSERT_TRUE(shape_is(final_state, {3, 5}));
  for (std::size_t b = 0; b < 3; ++b)
    for (std::size_t u = 0; u < 5; ++u) EXPECT_EQ(final_state(b, u), all(b, 5, u));
  // And the earlier steps differ from the last (the sequence is not constant).
  EXPECT_NE(all(0, 0, 0), all(0, 5, 0));
}

TEST(SimpleRNNBehaviour, DefaultInitializers) {
  xgrad::manual_seed(5);
  constexpr std::size_t F = 6, U = 9;
  nn::SimpleRNN<float> rnn{nn::SimpleRNNOptions(U)};
  rnn.build({-1, -1, F});
  // bias: zeros
  EXPECT_EQ(rnn.bias().value(), xgrad::zeros<float>({U}));
  // recurrent_kernel: orthogonal, R^T R = I
  const Array<float>& r = rnn.recurrent_kernel().value();
  double worst = 0.0;
  for (std::size_t i = 0; i < U; ++i)
    for (std::size_t j = 0; j < U; ++j) {
      double dot = 0.0;
      for (std::size_t k = 0; k < U; ++k) dot += static_cast<double>(r(k, i)) * r(k, j);
      worst = std::max(worst, std::abs(dot - (i == j ? 1.0 : 0.0)));
    }
  EXPECT_LE(worst, 1e-5);
  // kernel: glorot_uniform, within +-sqrt(6 / (F + U)), not all zero
  // (The float32 layer draws within the limit rounded to float32.)
  const float limit = static_cast<float>(std::sqrt(6.0 / (F + U)));
  const Array<float>& k = rnn.kernel().value();
  for (float v : k) {
    EXPECT_LE(std::abs(v), limit);
  }
  EXPECT_GT(xt::amax(xt::abs(k))(), 0.3 * limit);

  // A large layer: the variance of U(-limit, limit) is limit^2 / 3, mean 0.
  constexpr std::size_t big_f = 300, big_u = 500;
  nn::SimpleRNN<float> big{nn::SimpleRNNOptions(big_u)};
  big.build({-1, -1, big_f});
  const Array<float>& kb = big.kernel().value();
  const double big_limit = static_cast<float>(std::sqrt(6.0 / (big_f + big_u)));
  double sum = 0.0, sum_sq = 0.0, lo = 0.0, hi = 0.0;
  for (float v : kb) {
    sum += v;
    sum_sq += static_cast<double>(v) * v;
    lo = std::min(lo, static_cast<double>(v));
    hi = std::max(hi, static_cast<double>(v));
  }
  const double n = static_cast<double>(kb.size());
  const double mean = sum / n, variance = sum_sq / n - mean * mean;
  const double expected_variance = big_limit * big_limit / 3.0;
  EXPECT_NEAR(variance / expected_variance, 1.0, 0.02);  // ~11 standard errors for 150,000 draws
  EXPECT_NEAR(mean, 0.0, 0.01 * big_limit);
  EXPECT_LE(hi, big_limit);
  EXPECT_GE(lo, -big_limit);
  EXPECT_GT(hi, 0.999 * big_limit);
  EXPECT_LT(lo, -0.999 * big_limit);
  // The large recurrent kernel is orthogonal too (spot-check a few column pairs).
  const Array<float>& rb = big.recurrent_kernel().value();
  for (std::size_t i : {0, 7, 499})
    for (std::size_t j : {0, 3, 499}) {
      double dot = 0.0;
      for (std::size_t q = 0; q < big_u; ++q) dot += static_cast<double>(rb(q, i)) * rb(q, j);
      EXPECT_NEAR(dot, i == j ? 1.0 : 0.0, 1e-4) << i << ", " << j;
    }
}

TEST(SimpleRNNBehaviour, ManualSeedMakesWeightsIdentical) {
  auto draw_weights = [](std::uint64_t seed) {
    xgrad::manual_seed(seed);
    nn::SimpleRNN<float> rnn(nn::SimpleRNNOptions(3));
    rnn.build({-1, -1, 4});
    return rnn.weights();
  };
  const auto a = draw_weights(42), b = draw_weights(42), c = draw_weights(43);
  ASSERT_EQ(a.size(), 3u);
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << i;
  EXPECT_NE(a[0], c[0]);
  EXPECT_NE(a[1], c[1]);
}

TEST(SimpleRNNBehaviour, GradientsReachEveryParameterAndZeroGradClears) {
  Draw draw(41);
  const Weights w = random_weights(draw, 3, 4, true);
  nn::SimpleRNN<double> rnn(nn::SimpleRNNOptions(4).return_sequences(true));
  rnn.set_weights(w.as_list());
  const Variable<double> x(draw.uniform({2, 5, 3}, -1, 1));
  for (const auto& p : rnn.parameters()) EXPECT_FALSE(p.has_grad());
  xgrad::sum(rnn(x)).backward();
  for (const auto& [name, p] : rnn.named_parameters()) {
    ASSERT_TRUE(p.has_grad()) << name;
    EXPECT_TRUE(shape_is(p.grad(), xgrad::to_shape(p.shape()))) << name;
    EXPECT_GT(xt::amax(xt::abs(p.grad()))(), 1e-3) << name;
  }
  // d sum(output) / d bias by hand at T = 1 is sum_b (1 - h^2): check through a
  // one-step layer with the same weights.
  nn::SimpleRNN<double> one(nn::SimpleRNNOptions(4));
  one.set_weights(w.as_list());
  const Array<double> x1 = draw.uniform({2, 1, 3}, -1, 1);
  const Variable<double> h = one(Variable<double>(x1));
  xgrad::sum(h).backward();
  for (std::size_t u = 0; u < 4; ++u) {
    double expected = 0.0;
    for (std::size_t b = 0; b < 2; ++b) expected += 1.0 - h.value()(b, u) * h.value()(b, u);
    EXPECT_NEAR(one.bias().grad()(u), expected, 1e-12);
  }
  // Gradients accumulate over two backward passes.
  const Array<double> first = rnn.kernel().grad();
  xgrad::sum(rnn(x)).backward();
  EXPECT_LE(max_abs_diff(rnn.kernel().grad(), Array<double>(2.0 * first)), 1e-12);

  rnn.zero_grad();
  for (const auto& [name, p] : rnn.named_parameters()) {
    EXPECT_FALSE(p.has_grad()) << name;
    EXPECT_THROW(p.grad(), std::logic_error) << name;
  }
  // After zero_grad the next backward starts from zero.
  xgrad::sum(rnn(x)).backward();
  EXPECT_LE(max_abs_diff(rnn.kernel().grad(), first), 1e-12);
}

TEST(SimpleRNNBehaviour, Float32AndFloat64Agree) {
  for (Activation a : {Activation::tanh, Activation::relu, Activation::sigmoid, Activation::linear}) {
    SCOPED_TRACE(nn::activation_name(a));
    Draw draw(51 + static_cast<int>(a));
    const Weights w = random_weights(draw, 5, 6, true);
    const Array<double> x = draw.uniform({3, 8, 5}, -1, 1);
    nn::SimpleRNN<double> r64(nn::SimpleRNNOptions(6).activation(a).return_sequences(true));
    nn::SimpleRNN<float> r32(nn::SimpleRNNOptions(6).activation(a).return_sequences(true));
    r64.set_weights(w.as_list());
    r32.set_weights({xt::cast<float>(w.kernel), xt::cast<float>(w.recurrent), xt::cast<float>(w.bias)});
    const Array<double> y64 = r64(Variable<double>(x)).value();
    const Array<double> y32 = xt::cast<double>(r32(Variable<float>(xt::cast<float>(x))).value());
    EXPECT_LE(max_abs_diff(y32, y64), 1e-5);
  }
}

TEST(SimpleRNNBehaviour, InferenceUnderNoGradRecordsNothing) {
  Draw draw(61);
  nn::SimpleRNN<double> rnn(nn::SimpleRNNOptions(3));
  rnn.set_weights(random_weights(draw, 2, 3, true).as_list());
  const Variable<double> x(draw.uniform({2, 4, 2}, -1, 1));
  Variable<double> with_graph = rnn(x);
  EXPECT_TRUE(with_graph.requires_grad());
  xgrad::NoGradGuard guard;
  const Variable<double> y = rnn(x);
  EXPECT_FALSE(y.requires_grad());
  EXPECT_TRUE(y.is_leaf());
  EXPECT_EQ(y.value(), with_graph.value());
}

// An empty batch is a valid input: outputs [0, T, U] / [0, U], and a
// backward that reaches the parameters with zero gradients, through both the
// fused and the composed path (whose bias add sums an empty gradient:
// xgrad::sum_to once crashed on that).
TEST(SimpleRNNBehaviour, EmptyBatch) {
  for (bool sequences : {true, false})
    for (bool fused : {true, false}) {
      SCOPED_TRACE(std::string(sequences ? "return_sequences" : "last step") +
                   (fused ? ", forward" : ", forward_composed"));
      xgrad::manual_seed(91);
      nn::SimpleRNN<double> rnn(nn::SimpleRNNOptions(3).return_sequences(sequences));
      Variable<double> x(xgrad::zeros<double>({0, 4, 2}), true);
      const Variable<double> y = fused ? rnn(x) : rnn.forward_composed(x);
      EXPECT_TRUE(shape_is(y.value(), sequences ? Shape{0, 4, 3} : Shape{0, 3}));
      xgrad::sum(y).backward();
      EXPECT_TRUE(shape_is(x.grad(), {0, 4, 2}));
      for (const auto& [name, p] : rnn.named_parameters()) {
        if (!p.has_grad()) continue;  // an unused parameter gets no gradient: zero
        EXPECT_EQ(p.grad(), xgrad::zeros<double>(xgrad::to_shape(p.shape()))) << name;
      }
      ASSERT_TRUE(rnn.bias().has_grad());
    }
}

TEST(SimpleRNNBehaviour, LongSequenceBackwardDoesNotOverflow) {
  // 20,000 steps. The composed path is a graph of ~80,000 nodes: its walk in
  // backward() and its destruction must be iterative. The fused path is one
  // node and must give the same gradients.
  Draw draw(71);
  nn::SimpleRNN<double> rnn(nn::SimpleRNNOptions(2));
  rnn.set_weights(random_weights(draw, 1, 2, true).as_list());
  const Variable<double> x(draw.uniform({1, 20000, 1}, -1, 1));
  xgrad::sum(rnn.forward_composed(x)).backward();
  const Array<double> composed = rnn.recurrent_kernel().grad();
  EXPECT_TRUE(std::isfinite(xt::amax(xt::abs(composed))()));
  rnn.zero_grad();
  {
    // Dropped without backward: destruction alone must not recurse either.
    const Variable<double> unused = rnn.forward_composed(x);
  }
  xgrad::sum(rnn(x)).backward();
  EXPECT_LE(max_abs_diff(rnn.recurrent_kernel().grad(), composed),
            1e-12 * (1.0 + xt::amax(xt::abs(composed))()));
}

}  // namespace
