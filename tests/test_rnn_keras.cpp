// SimpleRNN with every Keras argument and call option: each option and
// their combinations against a plain float64 reference loop written here
// with raw loops, the fused path against the composed one (outputs and
// gradients), float64 gradchecks with respect to the input, the initial
// state and each parameter, dropout, stateful layers, regularizers,
// constraints, the new activations, SimpleRNNCell and the shape errors.
//
// The reference follows Keras 3's RNN loop (keras/src/backend/tensorflow/
// rnn.py, and the unrolled loops of the numpy and jax backends): a masked
// step keeps the state; its output repeats the previous output (zeros
// before the first kept step), or is zero with zero_output_for_mask;
// go_backwards reads the timesteps from the last and returns the outputs in
// that order.
//
// Dimension letters as in simple_rnn.hpp: B batch, T timesteps, F features,
// U units.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>
#include <xtensor/xbuilder.hpp>
#include <xtensor/xview.hpp>

#include "test_helpers.hpp"
#include "xgrad/autograd/gradcheck.hpp"
#include "xgrad/autograd/math_ops.hpp"
#include "xgrad/autograd/ops.hpp"
#include "xgrad/autograd/variable.hpp"
#include "xgrad/nn/activation.hpp"
#include "xgrad/nn/constraints.hpp"
#include "xgrad/nn/dense.hpp"
#include "xgrad/nn/dropout.hpp"
#include "xgrad/nn/initializers.hpp"
#include "xgrad/nn/regularizers.hpp"
#include "xgrad/nn/sequential.hpp"
#include "xgrad/nn/simple_rnn.hpp"
#include "xgrad/nn/simple_rnn_cell.hpp"
#include "xgrad/tensor/activations.hpp"
#include "xgrad/tensor/tensor.hpp"

namespace {

namespace nn = xgrad::nn;
using nn::Activation;
using xgrad::Array;
using xgrad::Shape;
using xgrad::Variable;
using V = Variable<double>;
using Call = nn::SimpleRNNCall<double>;
using Mask = xt::xarray<bool>;
using xgrad::test::activate;
using xgrad::test::Draw;
using xgrad::test::max_abs_diff;
using xgrad::test::throws_with;

constexpr Activation all_activations[] = {
    Activation::linear,   Activation::tanh,         Activation::relu,
    Activation::sigmoid,  Activation::hard_sigmoid, Activation::softsign,
    Activation::elu,      Activation::selu,         Activation::exponential};

// Without row kernels: the layer runs them through its composed path, so
// fused and composed agree by construction; the reference and gradcheck
// test them, on fewer combinations (KerasActivationsWithoutRowKernels below).
constexpr Activation composed_only_activations[] = {Activation::softplus, Activation::relu6,
                                                    Activation::leaky_relu, Activation::silu,
                                                    Activation::gelu, Activation::mish};

// ---------------------------------------------------------------------------
// Local helpers

Array<double> eye(std::size_t n) { return xt::eye<double>(n); }

// An array of `shape` from values in row-major order (xtensor's nested
// braces are ambiguous for extents of 1).
Array<double> array(const Shape& shape, std::initializer_list<double> values) {
  Array<double> out = Array<double>::from_shape(shape);
  EXPECT_EQ(out.size(), values.size());
  std::copy(values.begin(), values.end(), out.begin());
  return out;
}

double max_abs(const Array<double>& a) {
  double m = 0.0;
  for (double v : a) m = std::max(m, std::abs(v));
  return m;
}

// |a − b| <= 1e-12 · (1 + max |b|): exponential activations reach values of
// a few units, where 1e-12 absolute is a handful of ulps.
testing::AssertionResult near(const Array<double>& a, const Array<double>& b, double tol = 1e-12) {
  const double d = max_abs_diff(a, b);
  if (d <= tol * (1.0 + max_abs(b))) return testing::AssertionSuccess();
  return testing::AssertionFailure() << "max abs difference " << d << " > " << tol << " · (1 + "
                                     << max_abs(b) << ")";
}

void expect_gradcheck(const xgrad::GradcheckFunction& f, const std::vector<V>& inputs) {
  const xgrad::GradcheckResult result = xgrad::gradcheck(f, inputs);
  EXPECT_TRUE(result.passed) << result.summary();
}

using Weights = xgrad::test::RnnWeights;

// Kernel entries in [-0.8, 0.8).
Weights random_weights(Draw& draw, std::size_t features, std::size_t units, bool use_bias) {
  return xgrad::test::random_rnn_weights(draw, features, units, use_bias, 0.8);
}

// Everything the reference loop takes besides x and the weights.
struct ReferenceOptions {
  Activation activation = Activation::tanh;
  bool return_sequences = false;
  bool go_backwards = false;
  bool zero_output_for_mask = false;
  std::optional<Array<double>> initial_state;    // [B, U]
  std::optional<Mask> mask;                      // [B, T]
  std::optional<Array<double>> input_dropout;    // [B, F]
  std::optional<Array<double>> state_dropout;    // [B, U]
};

struct Reference {
  Array<double> output;  // [B, T, U] or [B, U]
  Array<double> state;   // [B, U]
};

// Keras' SimpleRNN by the shared float64 reference loop (test_helpers.hpp).
Reference reference_rnn(const Array<double>& x, const Weights& w, const ReferenceOptions& o) {
  xgrad::test::ReferenceCall call;
  call.activation = o.activation;
  call.return_sequences = o.return_sequences;
  call.go_backwards = o.go_backwards;
  call.zero_output_for_mask = o.zero_output_for_mask;
  if (o.initial_state) call.initial = {*o.initial_state};
  call.mask = o.mask;
  call.input_dropout = o.input_dropout;
  call.state_dropout = o.state_dropout;
  auto r = xgrad::test::recurrent_reference("simple_rnn", x, w.kernel, w.recurrent,
                                            w.use_bias ? w.bias : Array<double>(), call);
  return {r.output, r.states[0]};
}

// Rows with gaps, a masked start and a fully masked row:
//   [1, 0, 1, 1, 0], [0, 0, 1, 0, 1], [0, 0, 0, 0, 0], then [1, 1, 0, 1, 1]...
Mask gap_mask(std::size_t batch, std::size_t steps) {
  const bool patterns[4][5] = {{1, 0, 1, 1, 0}, {0, 0, 1, 0, 1}, {0, 0, 0, 0, 0}, {1, 1, 0, 1, 1}};
  Mask m = Mask::from_shape({batch, steps});
  for (std::size_t b = 0; b < batch; ++b)
    for (std::size_t t = 0; t < steps; ++t) m(b, t) = patterns[b % 4][t % 5];
  return m;
}

// The masks a seeded layer draws for one call: inputs [B, F], then state [B, U].
struct DrawnMasks {
  std::optional<Array<double>> input, state;
};
DrawnMasks masks_for(xgrad::Generator& g, std::size_t B, std::size_t F, std::size_t U,
                     double dropout, double recurrent_dropout) {
  DrawnMasks m;
  if (dropout > 0) m.input = nn::dropout_mask<double>({B, F}, dropout, g);
  if (recurrent_dropout > 0) m.state = nn::dropout_mask<double>({B, U}, recurrent_dropout, g);
  return m;
}

// One value holding the output and the state, for gradchecks of both.
V output_and_state(const nn::SimpleRNNOutput<double>& r) {
  return xgrad::concat(std::vector<V>{xgrad::reshape(r.output, {r.output.size()}),
                                      xgrad::reshape(r.state, {r.state.size()})},
                       0);
}

// sum(output ⊙ a) + sum(state ⊙ b): every entry of both reaches the loss
// with its own weight.
V weighted_loss(const nn::SimpleRNNOutput<double>& r, const Array<double>& a, const Array<double>& b) {
  return xgrad::add(xgrad::sum(xgrad::mul(r.output, V(a))), xgrad::sum(xgrad::mul(r.state, V(b))));
}

// Back-propagates the same weighted loss (weights wa, wb) from the fused
// layer's result a and the composed layer's result b: x, h0 and every weight
// must get the same gradients from both.
void expect_same_gradients(const nn::SimpleRNNOutput<double>& a,
                           const nn::SimpleRNNOutput<double>& b, const Array<double>& wa,
                           const Array<double>& wb, V& x, V& h0, nn::SimpleRNN<double>& fused,
                           nn::SimpleRNN<double>& composed) {
  x.zero_grad();
  h0.zero_grad();
  fused.zero_grad();
  composed.zero_grad();
  weighted_loss(a, wa, wb).backward();
  const Array<double> gx = x.grad(), gh = h0.grad();
  x.zero_grad();
  h0.zero_grad();
  weighted_loss(b, wa, wb).backward();
  EXPECT_TRUE(near(gx, x.grad()));
  EXPECT_TRUE(near(gh, h0.grad()));
  const auto pf = fused.named_parameters(), pc = composed.named_parameters();
  for (std::size_t i = 0; i < pf.size(); ++i)
    EXPECT_TRUE(near(pf[i].second.grad(), pc[i].second.grad())) << pf[i].first;
}

// ---------------------------------------------------------------------------
// Every combination against the reference, fused against composed, gradcheck

enum class MaskMode { none, gaps, gaps_zero_output };

using Combination = std::tuple<Activation, bool /*use_bias*/, bool /*return_sequences*/,
                               bool /*go_backwards*/, MaskMode, bool /*initial_state*/>;

class SimpleRNNKerasCombinations : public testing::TestWithParam<Combination> {};

TEST_P(SimpleRNNKerasCombinations, ReferenceFusedComposedAndGradcheck) {
  // Plain copies: lambdas below capture them (structured bindings cannot be
  // captured in C++17).
  const Activation activation = std::get<0>(GetParam());
  const bool use_bias = std::get<1>(GetParam()), sequences = std::get<2>(GetParam());
  const bool backwards = std::get<3>(GetParam());
  const MaskMode mask_mode = std::get<4>(GetParam());
  const bool with_initial = std::get<5>(GetParam());
  constexpr std::size_t B = 3, T = 5, F = 4, U = 3;
  Draw draw(2000 + static_cast<std::uint64_t>(activation) * 64 + use_bias * 32 + sequences * 16 +
            backwards * 8 + static_cast<std::uint64_t>(mask_mode) * 2 + with_initial);
  Weights w = random_weights(draw, F, U, use_bias);
  if (activation == Activation::exponential) {
    // e^x feeds on itself through the recurrence: smaller weights keep the
    // states O(1).
    w.kernel *= 0.4;
    w.recurrent *= 0.25;
  }
  const V x(draw.uniform({B, T, F}, -1.0, 1.0), true);
  const V h0(draw.uniform({B, U}, -0.8, 0.8), true);

  nn::SimpleRNN<double> rnn(nn::SimpleRNNOptions(U)
                                .activation(activation)
                                .use_bias(use_bias)
                                .return_sequences(sequences)
                                .go_backwards(backwards)
                                .zero_output_for_mask(mask_mode == MaskMode::gaps_zero_output)
                                .name("combo"));
  rnn.set_weights(w.as_list());
  Call call;
  ReferenceOptions o;
  o.activation = activation;
  o.return_sequences = sequences;
  o.go_backwards = backwards;
  o.zero_output_for_mask = mask_mode == MaskMode::gaps_zero_output;
  if (mask_mode != MaskMode::none) {
    call.mask(gap_mask(B, T));
    o.mask = gap_mask(B, T);
  }
  if (with_initial) {
    call.initial_state(h0);
    o.initial_state = h0.value();
  }
  const Reference ref = reference_rnn(x.value(), w, o);

  // Values: both paths against the reference; forward() gives the same output.
  const nn::SimpleRNNOutput<double> fused = rnn.forward_with_state(x, call);
  const nn::SimpleRNNOutput<double> composed = rnn.forward_composed_with_state(x, call);
  EXPECT_TRUE(near(fused.output.value(), ref.output)) << "fused output";
  EXPECT_TRUE(near(fused.state.value(), ref.state)) << "fused state";
  EXPECT_TRUE(near(composed.output.value(), ref.output)) << "composed output";
  EXPECT_TRUE(near(composed.state.value(), ref.state)) << "composed state";
  EXPECT_TRUE(near(fused.output.value(), composed.output.value())) << "fused vs composed output";
  EXPECT_TRUE(near(fused.state.value(), composed.state.value())) << "fused vs composed state";
  EXPECT_EQ(rnn.forward(x, call).value(), fused.output.value());

  // Gradients of a loss on both output and state: fused against composed.
  const Array<double> a = draw.uniform(xgrad::to_shape(ref.output.shape()), -1.0, 1.0);
  const Array<double> b = draw.uniform({B, U}, -1.0, 1.0);
  std::vector<V> wrt{x, h0, rnn.kernel(), rnn.recurrent_kernel()};
  if (use_bias) wrt.push_back(rnn.bias());
  const auto gradients = [&](const nn::SimpleRNNOutput<double>& r) {
    for (auto& v : wrt) v.zero_grad();
    weighted_loss(r, a, b).backward();
    std::vector<Array<double>> out;
    for (auto& v : wrt) out.push_back(v.has_grad() ? v.grad() : Array<double>(v.value().shape(), 0.0));
    return out;
  };
  const auto g_fused = gradients(rnn.forward_with_state(x, call));
  const auto g_composed = gradients(rnn.forward_composed_with_state(x, call));
  const char* names[] = {"x", "initial_state", "kernel", "recurrent_kernel", "bias"};
  for (std::size_t i = 0; i < wrt.size(); ++i)
    EXPECT_TRUE(near(g_fused[i], g_composed[i])) << "gradient of " << names[i];
  if (!with_initial) {
    EXPECT_EQ(max_abs(g_fused[1]), 0.0) << "h0 unused, no gradient";
  }

  // Central differences through the fused node, for the output and the state.
  std::vector<V> inputs{x, rnn.kernel(), rnn.recurrent_kernel()};
  if (use_bias) inputs.push_back(rnn.bias());
  if (with_initial) inputs.push_back(h0);
  for (auto& v : inputs) v.zero_grad();
  expect_gradcheck(
      [&](const std::vector<V>& in) {
        Call c = call;
        if (with_initial) c.initial_state(in.back());
        return output_and_state(rnn.forward_with_state(in[0], c));
      },
      inputs);
}

std::string combination_name(const testing::TestParamInfo<Combination>& info) {
  const auto [activation, use_bias, sequences, backwards, mask_mode, with_initial] = info.param;
  const char* masks[] = {"NoMask", "Mask", "MaskZeroOutput"};
  return std::string(nn::activation_name(activation)) + (use_bias ? "_Bias" : "_NoBias") +
         (sequences ? "_Sequences" : "_Last") + (backwards ? "_Backwards" : "_Forwards") + "_" +
         masks[static_cast<int>(mask_mode)] + (with_initial ? "_InitialState" : "_ZeroState");
}

INSTANTIATE_TEST_SUITE_P(AllOptions, SimpleRNNKerasCombinations,
                         testing::Combine(testing::ValuesIn(all_activations), testing::Bool(),
                                          testing::Bool(), testing::Bool(),
                                          testing::Values(MaskMode::none, MaskMode::gaps,
                                                          MaskMode::gaps_zero_output),
                                          testing::Bool()),
                         combination_name);

INSTANTIATE_TEST_SUITE_P(KerasActivationsWithoutRowKernels, SimpleRNNKerasCombinations,
                         testing::Combine(testing::ValuesIn(composed_only_activations), testing::Values(true),
                                          testing::Bool(), testing::Bool(), testing::Values(MaskMode::gaps),
                                          testing::Values(true)),
                         combination_name);

// Every option at once on the smallest shapes: one step, one row, an empty
// batch; with dropout masks drawn as the layer draws them (seed 5).
TEST(SimpleRNNKerasCombinationsEdges, OneStepOneRowAndEmptyBatch) {
  constexpr std::size_t F = 2, U = 3;
  Draw draw(60);
  const Weights w = random_weights(draw, F, U, true);
  struct Size {
    std::size_t batch, steps;
  };
  for (const Size size : {Size{1, 1}, Size{2, 1}, Size{1, 2}, Size{3, 5}, Size{0, 3}})
    for (bool sequences : {false, true})
      for (bool zero_output : {false, true}) {
        const std::size_t B = size.batch, T = size.steps;
        SCOPED_TRACE("B " + std::to_string(B) + ", T " + std::to_string(T) +
                     (sequences ? ", sequences" : ", last") + (zero_output ? ", zero output" : ""));
        const auto options = nn::SimpleRNNOptions(U)
                                 .return_sequences(sequences)
                                 .go_backwards(true)
                                 .zero_output_for_mask(zero_output)
                                 .dropout(0.2)
                                 .recurrent_dropout(0.3)
                                 .seed(5);
        nn::SimpleRNN<double> fused(options), composed(options);
        fused.set_weights(w.as_list());
        composed.set_weights(w.as_list());
        V x(draw.uniform({B, T, F}, -1, 1), true), h0(draw.uniform({B, U}, -1, 1), true);
        const Call call = Call().initial_state(h0).mask(gap_mask(B, T));
        ReferenceOptions o;
        o.return_sequences = sequences;
        o.go_backwards = true;
        o.zero_output_for_mask = zero_output;
        o.initial_state = h0.value();
        o.mask = gap_mask(B, T);
        xgrad::Generator g(5);
        const DrawnMasks m = masks_for(g, B, F, U, 0.2, 0.3);
        o.input_dropout = m.input;
        o.state_dropout = m.state;
        const Reference ref = reference_rnn(x.value(), w, o);
        const auto a = fused.forward_with_state(x, call);
        const auto b = composed.forward_composed_with_state(x, call);
        EXPECT_TRUE(near(a.output.value(), ref.output));
        EXPECT_TRUE(near(a.state.value(), ref.state));
        EXPECT_TRUE(near(b.output.value(), ref.output));
        const Array<double> wa = draw.uniform(xgrad::to_shape(ref.output.shape()), -1, 1);
        const Array<double> wb = draw.uniform({B, U}, -1, 1);
        expect_same_gradients(a, b, wa, wb, x, h0, fused, composed);
      }
}

// ---------------------------------------------------------------------------
// Masks, go_backwards and return_state by hand

TEST(SimpleRNNKerasMask, HandComputedLinearStepsWithAGap) {
  // U = F = 1, kernel 1, recurrent 0.5, no bias, linear: h = x + 0.5 h.
  // x = [1, 2, 3, 4, 5], mask [1, 0, 1, 1, 0]:
  //   h: 1, (kept) 1, 3 + 0.5 = 3.5, 4 + 1.75 = 5.75, (kept) 5.75
  //   outputs repeat the previous one where masked.
  nn::SimpleRNN<double> rnn(
      nn::SimpleRNNOptions(1).activation("linear").use_bias(false).return_sequences(true));
  rnn.set_weights({array({1, 1}, {1.0}), array({1, 1}, {0.5})});
  const V x(array({1, 5, 1}, {1.0, 2.0, 3.0, 4.0, 5.0}));
  const Mask mask{{true, false, true, true, false}};
  const auto r = rnn.forward_with_state(x, Call().mask(mask));
  EXPECT_EQ(r.output.value(), array({1, 5, 1}, {1.0, 1.0, 3.5, 5.75, 5.75}));
  EXPECT_EQ(r.state.value(), array({1, 1}, {5.75}));

  // Masked start: zeros until the first kept step, even from a non-zero h0.
  const Mask late{{false, false, true, true, false}};
  const auto s = rnn.forward_with_state(x, Call().mask(late).initial_state(V(array({1, 1}, {2.0}))));
  // h: 2, 2, 3 + 1 = 4, 4 + 2 = 6, 6.
  EXPECT_EQ(s.output.value(), array({1, 5, 1}, {0.0, 0.0, 4.0, 6.0, 6.0}));
  EXPECT_EQ(s.state.value(), array({1, 1}, {6.0}));

  // zero_output_for_mask: masked outputs are zeros, the state is unchanged.
  nn::SimpleRNN<double> zeros(nn::SimpleRNNOptions(1)
                                  .activation("None")
                                  .use_bias(false)
                                  .return_sequences(true)
                                  .zero_output_for_mask(true));
  zeros.set_weights(rnn.weights());
  const auto z = zeros.forward_with_state(x, Call().mask(mask));
  EXPECT_EQ(z.output.value(), array({1, 5, 1}, {1.0, 0.0, 3.5, 5.75, 0.0}));
  EXPECT_EQ(z.state.value(), array({1, 1}, {5.75}));

  // go_backwards reads x from the end and returns the outputs in that order:
  // x read 5, 4, 3, 2, 1 with mask read 0, 1, 1, 0, 1:
  //   h: 0 (masked, output 0), 4, 3 + 2 = 5, (kept) 5, 1 + 2.5 = 3.5.
  nn::SimpleRNN<double> back(nn::SimpleRNNOptions(1)
                                 .activation("linear")
                                 .use_bias(false)
                                 .return_sequences(true)
                                 .go_backwards(true));
  back.set_weights(rnn.weights());
  const auto g = back.forward_with_state(x, Call().mask(mask));
  EXPECT_EQ(g.output.value(), array({1, 5, 1}, {0.0, 4.0, 5.0, 5.0, 3.5}));
  EXPECT_EQ(g.state.value(), array({1, 1}, {3.5}));
  EXPECT_EQ(back.forward_composed(x, Call().mask(mask)).value(), g.output.value());
}

TEST(SimpleRNNKerasMask, AllTrueMaskEqualsNoMask) {
  Draw draw(3);
  const Weights w = random_weights(draw, 3, 4, true);
  for (bool sequences : {true, false}) {
    nn::SimpleRNN<double> rnn(nn::SimpleRNNOptions(4).return_sequences(sequences));
    rnn.set_weights(w.as_list());
    const V x(draw.uniform({2, 6, 3}, -1, 1));
    Mask all = Mask::from_shape({2, 6});
    all.fill(true);
    EXPECT_EQ(rnn(x, Call().mask(all)).value(), rnn(x).value());
  }
}

TEST(SimpleRNNKerasMask, MaskedStepsGetNoInputGradient) {
  Draw draw(4);
  nn::SimpleRNN<double> rnn(nn::SimpleRNNOptions(3).return_sequences(true));
  rnn.set_weights(random_weights(draw, 2, 3, true).as_list());
  const V x(draw.uniform({4, 5, 2}, -1, 1), true);
  const Mask mask = gap_mask(4, 5);
  xgrad::sum(rnn(x, Call().mask(mask))).backward();
  for (std::size_t b = 0; b < 4; ++b)
    for (std::size_t t = 0; t < 5; ++t)
      for (std::size_t f = 0; f < 2; ++f) {
        if (!mask(b, t)) EXPECT_EQ(x.grad()(b, t, f), 0.0) << b << ", " << t;
        else EXPECT_NE(x.grad()(b, t, f), 0.0) << b << ", " << t;
      }
}

TEST(SimpleRNNKerasState, ReturnStateWithoutMaskIsTheLastOutput) {
  Draw draw(5);
  const Weights w = random_weights(draw, 3, 2, true);
  const V x(draw.uniform({2, 4, 3}, -1, 1));
  nn::SimpleRNN<double> last(nn::SimpleRNNOptions(2).return_state(true));
  last.set_weights(w.as_list());
  const auto r = last.forward_with_state(x);
  EXPECT_TRUE(r.state.same_node(r.output));  // one value: h_T
  nn::SimpleRNN<double> seq(nn::SimpleRNNOptions(2).return_sequences(true).return_state(true));
  seq.set_weights(w.as_list());
  const auto s = seq.forward_with_state(x);
  for (std::size_t b = 0; b < 2; ++b)
    for (std::size_t u = 0; u < 2; ++u) EXPECT_EQ(s.state.value()(b, u), s.output.value()(b, 3, u));
  EXPECT_EQ(s.state.value(), r.output.value());
  // forward() still gives the output alone.
  EXPECT_EQ(seq(x).value(), s.output.value());
}

TEST(SimpleRNNKerasState, InitialStateGradcheckThroughBothPaths) {
  Draw draw(6);
  nn::SimpleRNN<double> rnn(nn::SimpleRNNOptions(3).return_sequences(true).go_backwards(true));
  rnn.set_weights(random_weights(draw, 2, 3, true).as_list());
  const V x(draw.uniform({2, 4, 2}, -1, 1), true);
  const V h0(draw.uniform({2, 3}, -1, 1), true);
  const Mask mask = gap_mask(2, 4);
  for (bool fused : {true, false}) {
    SCOPED_TRACE(fused ? "fused" : "composed");
    expect_gradcheck(
        [&](const std::vector<V>& in) {
          const Call c = Call().initial_state(in[1]).mask(mask);
          return output_and_state(fused ? rnn.forward_with_state(in[0], c)
                                        : rnn.forward_composed_with_state(in[0], c));
        },
        {x, h0, rnn.kernel(), rnn.recurrent_kernel(), rnn.bias()});
  }
}

// unroll is accepted for Keras' signature (SimpleRNNKerasOptions checks its
// default) and read nowhere: a test comparing the layer with itself under
// both values could not fail, so there is none.

TEST(SimpleRNNKerasState, Float32FollowsTheFloat64Reference) {
  Draw draw(8);
  const Weights w = random_weights(draw, 3, 4, true);
  const Array<double> x = draw.uniform({3, 5, 3}, -1, 1);
  const Array<double> h0 = draw.uniform({3, 4}, -1, 1);
  nn::SimpleRNN<float> rnn(nn::SimpleRNNOptions(4).return_sequences(true).go_backwards(true).activation("selu"));
  rnn.set_weights({xt::cast<float>(w.kernel), xt::cast<float>(w.recurrent), xt::cast<float>(w.bias)});
  const auto r = rnn.forward_with_state(
      Variable<float>(xt::cast<float>(x)),
      nn::SimpleRNNCall<float>().mask(gap_mask(3, 5)).initial_state(Variable<float>(xt::cast<float>(h0))));
  ReferenceOptions o;
  o.activation = Activation::selu;
  o.return_sequences = o.go_backwards = true;
  o.mask = gap_mask(3, 5);
  o.initial_state = h0;
  const Reference ref = reference_rnn(x, w, o);
  EXPECT_LE(max_abs_diff(Array<double>(xt::cast<double>(r.output.value())), ref.output), 1e-5);
  EXPECT_LE(max_abs_diff(Array<double>(xt::cast<double>(r.state.value())), ref.state), 1e-5);
}

// ---------------------------------------------------------------------------
// Stateful

TEST(SimpleRNNKerasStateful, TwoCallsContinueOneSequence) {
  Draw draw(10);
  const Weights w = random_weights(draw, 2, 3, true);
  const Array<double> x = draw.uniform({4, 7, 2}, -1, 1);
  const Array<double> first = xt::view(x, xt::all(), xt::range(0, 3), xt::all());
  const Array<double> second = xt::view(x, xt::all(), xt::range(3, 7), xt::all());
  ReferenceOptions o;
  o.return_sequences = true;
  const Reference whole = reference_rnn(x, w, o);
  for (bool fused : {true, false}) {
    SCOPED_TRACE(fused ? "fused" : "composed");
    nn::SimpleRNN<double> rnn(nn::SimpleRNNOptions(3).stateful(true).return_sequences(true));
    rnn.set_weights(w.as_list());
    EXPECT_FALSE(rnn.state().has_value());
    const auto run = [&](const Array<double>& part) {
      return fused ? rnn(V(part)) : rnn.forward_composed(V(part));
    };
    run(first);
    ASSERT_TRUE(rnn.state().has_value());
    const Array<double> out2 = run(second).value();
    const Array<double> tail = xt::view(whole.output, xt::all(), xt::range(3, 7), xt::all());
    EXPECT_TRUE(near(out2, tail));
    EXPECT_TRUE(near(*rnn.state(), whole.state));
    // reset_state(): back to zeros, the batch size kept.
    rnn.reset_state();
    EXPECT_EQ(*rnn.state(), xgrad::zeros<double>({4, 3}));
    EXPECT_TRUE(near(run(first).value(),
                     Array<double>(xt::view(whole.output, xt::all(), xt::range(0, 3), xt::all()))));
  }
}

TEST(SimpleRNNKerasStateful, StateIsDetachedAndAnExplicitInitialStateWins) {
  Draw draw(11);
  const Weights w = random_weights(draw, 2, 3, true);
  nn::SimpleRNN<double> rnn(nn::SimpleRNNOptions(3).stateful(true));
  rnn.set_weights(w.as_list());
  const V x1(draw.uniform({2, 4, 2}, -1, 1), true), x2(draw.uniform({2, 4, 2}, -1, 1), true);
  rnn(x1);
  const Array<double> kept = *rnn.state();
  const V y = rnn(x2);
  // The kept state entered as a constant: no gradient reaches x1.
  xgrad::sum(y).backward();
  EXPECT_FALSE(x1.has_grad());
  EXPECT_TRUE(x2.has_grad());
  ReferenceOptions o;
  o.initial_state = kept;
  EXPECT_TRUE(near(y.value(), reference_rnn(x2.value(), w, o).output));
  // With an initial_state, the call starts from it; the state is still kept.
  const Array<double> h0 = draw.uniform({2, 3}, -1, 1);
  const V z = rnn(x1, Call().initial_state(V(h0)));
  o.initial_state = h0;
  EXPECT_TRUE(near(z.value(), reference_rnn(x1.value(), w, o).output));
  EXPECT_EQ(*rnn.state(), z.value());
}

TEST(SimpleRNNKerasStateful, GradcheckOfTheSecondCallFromTheKeptState) {
  Draw draw(12);
  nn::SimpleRNN<double> rnn(
      nn::SimpleRNNOptions(3).stateful(true).return_sequences(true).return_state(true));
  rnn.set_weights(random_weights(draw, 2, 3, true).as_list());
  const V x1(draw.uniform({2, 3, 2}, -1, 1)), x2(draw.uniform({2, 4, 2}, -1, 1), true);
  rnn(x1);
  const Array<double> kept = *rnn.state();
  const Mask mask = gap_mask(2, 4);
  for (bool fused : {true, false}) {
    SCOPED_TRACE(fused ? "fused" : "composed");
    expect_gradcheck(
        [&](const std::vector<V>& in) {
          rnn.reset_state(kept);  // every evaluation continues from the same state
          return output_and_state(fused ? rnn.forward_with_state(in[0], Call().mask(mask))
                                        : rnn.forward_composed_with_state(in[0], Call().mask(mask)));
        },
        {x2, rnn.kernel(), rnn.recurrent_kernel(), rnn.bias()});
  }
}

TEST(SimpleRNNKerasStateful, ResetStateWithValuesAndErrors) {
  nn::SimpleRNN<double> rnn(nn::SimpleRNNOptions(2).stateful(true).name("tracker"));
  rnn.reset_state();  // nothing kept yet: nothing to do
  EXPECT_FALSE(rnn.state().has_value());
  rnn.reset_state(Array<double>{{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}});  // fixes B = 3
  rnn.set_weights({xgrad::zeros<double>({2, 2}), eye(2), xgrad::zeros<double>({2})});
  // Zero kernel and bias, identity recurrence: y = tanh(h_0).
  const Array<double> y = rnn(V(xgrad::zeros<double>({3, 1, 2}))).value();
  EXPECT_NEAR(y(2, 1), std::tanh(6.0), 1e-15);
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { rnn(V(xgrad::zeros<double>({2, 1, 2}))); },
      {"SimpleRNN 'tracker'", "batch size 3", "batch size 2", "(2, 1, 2)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { rnn.reset_state(xgrad::zeros<double>({2, 2})); }, {"SimpleRNN 'tracker'", "(3, 2)", "(2, 2)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { rnn.reset_state(xgrad::zeros<double>({3, 5})); }, {"(3, 2)", "(3, 5)"}));
  nn::SimpleRNN<double> plain(nn::SimpleRNNOptions(2));
  EXPECT_THROW(plain.reset_state(xgrad::zeros<double>({1, 2})), std::logic_error);
  plain.reset_state();  // Keras: a no-op without states
  plain(V(xgrad::zeros<double>({1, 3, 2})));
  EXPECT_FALSE(plain.state().has_value());
}

TEST(SimpleRNNKerasStateful, BatchSizeFixedByTheFirstCall) {
  nn::SimpleRNN<float> rnn(nn::SimpleRNNOptions(2).stateful(true).name("stream"));
  rnn(Variable<float>(xgrad::ones<float>({4, 3, 1})));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { rnn(Variable<float>(xgrad::ones<float>({5, 3, 1}))); },
      {"SimpleRNN 'stream'", "4", "5"}));
  rnn(Variable<float>(xgrad::ones<float>({4, 9, 1})));  // any T is fine
}

// ---------------------------------------------------------------------------
// Dropout

TEST(SimpleRNNKerasDropout, MatchesTheReferenceWithTheLayersMasks) {
  constexpr std::size_t B = 3, T = 5, F = 4, U = 3;
  struct Rates {
    double dropout, recurrent;
  };
  for (const Rates rates : {Rates{0.3, 0.0}, Rates{0.0, 0.4}, Rates{0.25, 0.5}})
    for (bool backwards : {false, true})
      for (bool masked : {false, true}) {
        SCOPED_TRACE(std::to_string(rates.dropout) + " / " + std::to_string(rates.recurrent) +
                     (backwards ? ", backwards" : "") + (masked ? ", mask" : ""));
        Draw draw(20);
        const Weights w = random_weights(draw, F, U, true);
        const auto options = nn::SimpleRNNOptions(U)
                                 .dropout(rates.dropout)
                                 .recurrent_dropout(rates.recurrent)
                                 .go_backwards(backwards)
                                 .return_sequences(true)
                                 .seed(77);
        nn::SimpleRNN<double> fused(options), composed(options);
        fused.set_weights(w.as_list());
        composed.set_weights(w.as_list());
        V x(draw.uniform({B, T, F}, -1, 1), true);
        V h0(draw.uniform({B, U}, -1, 1), true);
        Call call = Call().initial_state(h0);
        ReferenceOptions o;
        o.return_sequences = true;
        o.go_backwards = backwards;
        o.initial_state = h0.value();
        if (masked) {
          call.mask(gap_mask(B, T));
          o.mask = gap_mask(B, T);
        }
        xgrad::Generator g(77);
        for (int round = 0; round < 2; ++round) {  // the second call draws new masks
          const DrawnMasks m = masks_for(g, B, F, U, rates.dropout, rates.recurrent);
          o.input_dropout = m.input;
          o.state_dropout = m.state;
          const Reference ref = reference_rnn(x.value(), w, o);
          const auto a = fused.forward_with_state(x, call);
          const auto b = composed.forward_composed_with_state(x, call);
          EXPECT_TRUE(near(a.output.value(), ref.output)) << round;
          EXPECT_TRUE(near(a.state.value(), ref.state)) << round;
          EXPECT_TRUE(near(b.output.value(), ref.output)) << round;
          // Gradients, fused against composed (same masks).
          const Array<double> wa = draw.uniform({B, T, U}, -1, 1), wb = draw.uniform({B, U}, -1, 1);
          SCOPED_TRACE("round " + std::to_string(round));
          expect_same_gradients(a, b, wa, wb, x, h0, fused, composed);
        }
      }
}

TEST(SimpleRNNKerasDropout, GradcheckWithFixedMasks) {
  // Without a seed the masks come from xgrad's generator: re-seeding it
  // before each evaluation makes the function deterministic.
  Draw draw(21);
  for (bool fused : {true, false}) {
    SCOPED_TRACE(fused ? "fused" : "composed");
    nn::SimpleRNN<double> rnn(nn::SimpleRNNOptions(3)
                                  .dropout(0.3)
                                  .recurrent_dropout(0.4)
                                  .return_sequences(true)
                                  .activation("softsign"));
    rnn.set_weights(random_weights(draw, 2, 3, true).as_list());
    const V x(draw.uniform({3, 4, 2}, -1, 1), true), h0(draw.uniform({3, 3}, -1, 1), true);
    const Mask mask = gap_mask(3, 4);
    expect_gradcheck(
        [&](const std::vector<V>& in) {
          xgrad::manual_seed(5);
          const Call c = Call().initial_state(in[1]).mask(mask);
          return output_and_state(fused ? rnn.forward_with_state(in[0], c)
                                        : rnn.forward_composed_with_state(in[0], c));
        },
        {x, h0, rnn.kernel(), rnn.recurrent_kernel(), rnn.bias()});
  }
}

TEST(SimpleRNNKerasDropout, OneInputMaskPerSequenceAndKeepRate) {
  // kernel = I, recurrent = 0, no bias, linear: y_t = x_t ⊙ d_x, so y / x
  // reads the mask at every step.
  constexpr std::size_t B = 400, T = 6, F = 5;
  const double rate = 0.3;
  nn::SimpleRNN<double> rnn(nn::SimpleRNNOptions(F)
                                .dropout(rate)
                                .use_bias(false)
                                .activation("linear")
                                .return_sequences(true)
                                .seed(3));
  rnn.set_weights({eye(F), xgrad::zeros<double>({F, F})});
  const Array<double> x = xgrad::full<double>({B, T, F}, 2.0);
  const Array<double> y = rnn(V(x)).value();
  std::size_t kept = 0;
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t f = 0; f < F; ++f) {
      const double m = y(b, 0, f) / 2.0;
      EXPECT_TRUE(m == 0.0 || std::abs(m - 1.0 / (1.0 - rate)) < 1e-15) << m;
      kept += m != 0.0;
      for (std::size_t t = 1; t < T; ++t) ASSERT_EQ(y(b, t, f), y(b, 0, f)) << b << ", " << t;
    }
  // 2000 draws: the kept fraction 0.7 has a standard error of 0.0102.
  EXPECT_NEAR(static_cast<double>(kept) / (B * F), 1.0 - rate, 0.04);
  // The next call draws another mask.
  EXPECT_NE(rnn(V(x)).value(), y);
}

TEST(SimpleRNNKerasDropout, OneStateMaskPerSequence) {
  // kernel = 0, recurrent = I, linear, h_0 = 1: h_t = d_h^t elementwise.
  constexpr std::size_t B = 50, T = 4, U = 4;
  const double rate = 0.5;
  nn::SimpleRNN<double> rnn(nn::SimpleRNNOptions(U)
                                .recurrent_dropout(rate)
                                .use_bias(false)
                                .activation("linear")
                                .return_sequences(true)
                                .seed(9));
  rnn.set_weights({xgrad::zeros<double>({1, U}), eye(U)});
  const Array<double> y =
      rnn(V(xgrad::ones<double>({B, T, 1})), Call().initial_state(V(xgrad::ones<double>({B, U})))).value();
  std::size_t kept = 0;
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t u = 0; u < U; ++u) {
      const double d = y(b, 0, u);
      EXPECT_TRUE(d == 0.0 || d == 2.0) << d;
      kept += d != 0.0;
      for (std::size_t t = 1; t < T; ++t) EXPECT_DOUBLE_EQ(y(b, t, u), std::pow(d, t + 1.0));
    }
  EXPECT_GT(kept, 60u);  // of 200, expected 100
  EXPECT_LT(kept, 140u);
}

TEST(SimpleRNNKerasDropout, IdentityOutsideTraining) {
  Draw draw(22);
  const Weights w = random_weights(draw, 3, 4, true);
  nn::SimpleRNN<double> plain(nn::SimpleRNNOptions(4).return_sequences(true));
  nn::SimpleRNN<double> dropping(
      nn::SimpleRNNOptions(4).return_sequences(true).dropout(0.5).recurrent_dropout(0.5));
  plain.set_weights(w.as_list());
  dropping.set_weights(w.as_list());
  const V x(draw.uniform({3, 5, 3}, -1, 1));
  const Array<double> expected = plain(x).value();
  EXPECT_NE(dropping(x).value(), expected);  // training mode: dropped
  EXPECT_EQ(dropping(x, Call().training(false)).value(), expected);
  // Each path against itself without dropout: the two add the bias in
  // different orders.
  EXPECT_EQ(dropping.forward_composed(x, Call().training(false)).value(),
            plain.forward_composed(x).value());
  dropping.eval();
  EXPECT_EQ(dropping(x).value(), expected);
  // The call's training, when given, decides, as Keras' `training=True`
  // does: in eval mode it turns dropout on, in train mode false turns it off.
  EXPECT_NE(dropping(x, Call().training(true)).value(), expected);
  EXPECT_NE(dropping.forward_composed(x, Call().training(true)).value(), plain.forward_composed(x).value());
  dropping.train();
  EXPECT_NE(dropping(x, Call().training(true)).value(), expected);
  EXPECT_EQ(dropping(x, Call().training(false)).value(), expected);
}

TEST(SimpleRNNKerasDropout, SeedMakesMasksReproducible) {
  Draw draw(23);
  const Weights w = random_weights(draw, 3, 4, true);
  const auto make = [&](std::optional<std::uint64_t> seed) {
    auto rnn = std::make_shared<nn::SimpleRNN<double>>(
        nn::SimpleRNNOptions(4).dropout(0.4).recurrent_dropout(0.3).seed(seed));
    rnn->set_weights(w.as_list());
    return rnn;
  };
  const V x(draw.uniform({6, 5, 3}, -1, 1));
  auto a = make(11), b = make(11), c = make(12);
  xgrad::manual_seed(1);
  const Array<double> a1 = (*a)(x).value(), a2 = (*a)(x).value();
  xgrad::manual_seed(999);  // the global generator does not matter with a seed
  const Array<double> b1 = (*b)(x).value(), b2 = (*b)(x).value();
  EXPECT_EQ(a1, b1);
  EXPECT_EQ(a2, b2);
  EXPECT_NE(a1, a2);
  EXPECT_NE((*c)(x).value(), a1);
  // Without a seed, manual_seed makes them reproducible.
  auto d = make(std::nullopt), e = make(std::nullopt);
  xgrad::manual_seed(4);
  const Array<double> d1 = (*d)(x).value();
  xgrad::manual_seed(4);
  EXPECT_EQ((*e)(x).value(), d1);
}

TEST(SimpleRNNKerasDropout, NoDrawsWhenOff) {
  // Rate 0, eval mode or training(false) take nothing from the generator.
  nn::SimpleRNN<double> rnn(nn::SimpleRNNOptions(2).dropout(0.5).recurrent_dropout(0.5));
  nn::SimpleRNN<double> none(nn::SimpleRNNOptions(2));
  rnn.build({-1, -1, 2});
  none.build({-1, -1, 2});
  const V x(xgrad::ones<double>({1, 2, 2}));
  xgrad::manual_seed(8);
  const xgrad::Generator before = xgrad::generator();
  rnn(x, Call().training(false));
  none(x);
  rnn.eval();
  rnn(x);
  EXPECT_TRUE(xgrad::generator() == before);
  rnn.train();
  rnn(x);
  EXPECT_FALSE(xgrad::generator() == before);
}

// ---------------------------------------------------------------------------
// Regularizers

TEST(SimpleRNNKerasRegularizers, LossesMatchHandComputation) {
  Draw draw(30);
  const Weights w = random_weights(draw, 3, 2, true);
  nn::SimpleRNN<double> rnn(nn::SimpleRNNOptions(2)
                                .kernel_regularizer(nn::regularizers::l2(0.01))
                                .recurrent_regularizer(nn::regularizers::l1(0.02))
                                .bias_regularizer(nn::regularizers::l1_l2(0.03, 0.04))
                                .activity_regularizer(nn::regularizers::l2(0.05))
                                .return_sequences(true));
  rnn.set_weights(w.as_list());
  // Before any call: the weights' penalties only.
  double kernel_penalty = 0, recurrent_penalty = 0, bias_penalty = 0;
  for (double v : w.kernel) kernel_penalty += 0.01 * v * v;
  for (double v : w.recurrent) recurrent_penalty += 0.02 * std::abs(v);
  for (double v : w.bias) bias_penalty += 0.03 * std::abs(v) + 0.04 * v * v;
  ASSERT_EQ(rnn.losses().size(), 3u);
  EXPECT_NEAR(rnn.losses()[0].value()(), kernel_penalty, 1e-15);
  EXPECT_NEAR(rnn.losses()[1].value()(), recurrent_penalty, 1e-15);
  EXPECT_NEAR(rnn.losses()[2].value()(), bias_penalty, 1e-15);
  EXPECT_NEAR(rnn.regularization_loss().value()(), kernel_penalty + recurrent_penalty + bias_penalty,
              1e-15);

  const V x(draw.uniform({2, 4, 3}, -1, 1), true);
  const Array<double> y = rnn(x).value();
  double activity = 0;
  for (double v : y) activity += 0.05 * v * v;
  const auto losses = rnn.losses();
  ASSERT_EQ(losses.size(), 4u);  // activity first, as Keras' own losses
  EXPECT_NEAR(losses[0].value()(), activity, 1e-15);
  V total = rnn.regularization_loss();
  EXPECT_EQ(total.dimension(), 0u);
  EXPECT_NEAR(total.value()(), activity + kernel_penalty + recurrent_penalty + bias_penalty, 1e-14);

  // Gradients: 2 · l2 · K, l1 · sign(R), l1 · sign(b) + 2 · l2 · b, plus the
  // activity's through the output.
  rnn.zero_grad();
  total.backward();
  EXPECT_TRUE(x.has_grad());
  nn::SimpleRNN<double> bare(nn::SimpleRNNOptions(2).return_sequences(true));
  bare.set_weights(w.as_list());
  const V out = bare(x);
  xgrad::scale(xgrad::sum(xgrad::square(out)), 0.05).backward();
  Array<double> expected_kernel = bare.kernel().grad() + 0.02 * w.kernel;
  Array<double> expected_recurrent = bare.recurrent_kernel().grad() + 0.02 * xt::sign(w.recurrent);
  Array<double> expected_bias = bare.bias().grad() + 0.03 * xt::sign(w.bias) + 0.08 * w.bias;
  EXPECT_TRUE(near(rnn.kernel().grad(), expected_kernel));
  EXPECT_TRUE(near(rnn.recurrent_kernel().grad(), expected_recurrent));
  EXPECT_TRUE(near(rnn.bias().grad(), expected_bias));
}

TEST(SimpleRNNKerasRegularizers, GradcheckOfTheRegularizationLoss) {
  Draw draw(31);
  for (bool return_state : {false, true}) {
    SCOPED_TRACE(return_state ? "return_state" : "output only");
    nn::SimpleRNN<double> rnn(nn::SimpleRNNOptions(3)
                                  .kernel_regularizer("l2")
                                  .recurrent_regularizer("l1")
                                  .bias_regularizer("l1_l2")
                                  .activity_regularizer(nn::regularizers::l1_l2(0.1, 0.2))
                                  .return_state(return_state));
    rnn.set_weights(random_weights(draw, 2, 3, true).as_list());
    const V x(draw.uniform({2, 3, 2}, -1, 1), true);
    const Mask mask = gap_mask(2, 3);
    expect_gradcheck(
        [&](const std::vector<V>& in) {
          rnn(in[0], Call().mask(mask));
          return rnn.regularization_loss();
        },
        {x, rnn.kernel(), rnn.recurrent_kernel(), rnn.bias()});
  }
}

TEST(SimpleRNNKerasRegularizers, ActivityCoversTheStateWithReturnStateAndOnlyTheLastCall) {
  Draw draw(32);
  const Weights w = random_weights(draw, 2, 3, true);
  const Mask mask = gap_mask(2, 5);  // row 0 ends masked: its output is 0, its state is not
  nn::SimpleRNN<double> rnn(nn::SimpleRNNOptions(3)
                                .activity_regularizer(nn::regularizers::l1(0.5))
                                .return_state(true)
                                .zero_output_for_mask(true));
  rnn.set_weights(w.as_list());
  const V x1(draw.uniform({2, 5, 2}, -1, 1)), x2(draw.uniform({2, 5, 2}, -1, 1));
  rnn(x1, Call().mask(mask));
  const auto r = rnn.forward_with_state(x2, Call().mask(mask));
  const auto losses = rnn.losses();
  ASSERT_EQ(losses.size(), 2u);
  EXPECT_NEAR(losses[0].value()(), 0.5 * xt::sum(xt::abs(r.output.value()))(), 1e-15);
  EXPECT_NEAR(losses[1].value()(), 0.5 * xt::sum(xt::abs(r.state.value()))(), 1e-15);
  EXPECT_NE(r.output.value(), r.state.value());
  // Without return_state only the output.
  nn::SimpleRNN<double> single(nn::SimpleRNNOptions(3).activity_regularizer("l2"));
  single.set_weights(w.as_list());
  const V y = single(x1);
  ASSERT_EQ(single.losses().size(), 1u);
  EXPECT_NEAR(single.losses()[0].value()(), 0.01 * xt::sum(xt::square(y.value()))(), 1e-15);
}

TEST(SimpleRNNKerasRegularizers, ZeroWithoutRegularizersAndRecursiveInModels) {
  nn::SimpleRNN<double> plain(nn::SimpleRNNOptions(2));
  plain(V(xgrad::ones<double>({1, 2, 3})));
  EXPECT_TRUE(plain.losses().empty());
  const V zero = plain.regularization_loss();
  EXPECT_EQ(zero.dimension(), 0u);
  EXPECT_EQ(zero.value()(), 0.0);
  EXPECT_FALSE(zero.requires_grad());

  Draw draw(33);
  auto rnn = std::make_shared<nn::SimpleRNN<double>>(
      nn::SimpleRNNOptions(3).kernel_regularizer("l2").activity_regularizer("l1"));
  auto dense = std::make_shared<nn::Dense<double>>(nn::DenseOptions(1));
  nn::Sequential<double> model({rnn, dense});
  const V x(draw.uniform({2, 4, 2}, -1, 1));
  const V y = model(x);
  ASSERT_EQ(model.losses().size(), 2u);  // the rnn's activity, then its kernel's
  EXPECT_NEAR(model.regularization_loss().value()(), rnn->regularization_loss().value()(), 1e-15);
  double expected = 0;
  for (double v : rnn->kernel().value()) expected += 0.01 * v * v;
  EXPECT_NEAR(model.losses()[1].value()(), expected, 1e-15);
}

// ---------------------------------------------------------------------------
// Constraints

TEST(SimpleRNNKerasConstraints, ApplyConstraintsProjectsEachWeight) {
  Draw draw(40);
  const Weights w = random_weights(draw, 4, 3, true);
  const nn::Constraint kernel_c = nn::constraints::max_norm(0.5);
  const nn::Constraint recurrent_c = nn::constraints::unit_norm(1);
  const nn::Constraint bias_c = nn::constraints::non_neg();
  nn::SimpleRNN<double> rnn(nn::SimpleRNNOptions(3)
                                .kernel_constraint(kernel_c)
                                .recurrent_constraint(recurrent_c)
                                .bias_constraint("non_neg"));
  rnn.set_weights(w.as_list());
  EXPECT_EQ(rnn.weights()[0], w.kernel);  // nothing happens until asked
  rnn.apply_constraints();
  Array<double> k = w.kernel, r = w.recurrent, b = w.bias;
  kernel_c.apply(k);
  recurrent_c.apply(r);
  bias_c.apply(b);
  EXPECT_EQ(rnn.kernel().value(), k);
  EXPECT_EQ(rnn.recurrent_kernel().value(), r);
  EXPECT_EQ(rnn.bias().value(), b);
  for (std::size_t u = 0; u < 3; ++u) {
    double norm = 0;
    for (std::size_t f = 0; f < 4; ++f) norm += k(f, u) * k(f, u);
    EXPECT_LE(std::sqrt(norm), 0.5 + 1e-12);
  }
  // Recursive through a model; an unconstrained layer is left alone.
  auto inner = std::make_shared<nn::SimpleRNN<double>>(nn::SimpleRNNOptions(3).kernel_constraint("non_neg"));
  auto dense = std::make_shared<nn::Dense<double>>(nn::DenseOptions(2));
  nn::Sequential<double> model({inner, dense});
  model(V(draw.uniform({1, 2, 4}, -1, 1)));
  const Array<double> dense_before = dense->kernel().value();
  EXPECT_LT(xt::amin(inner->kernel().value())(), 0.0);
  model.apply_constraints();
  EXPECT_GE(xt::amin(inner->kernel().value())(), 0.0);
  EXPECT_EQ(dense->kernel().value(), dense_before);
}

// ---------------------------------------------------------------------------
// Options, initializers, activations

TEST(SimpleRNNKerasOptions, DefaultsMatchKeras) {
  const nn::SimpleRNNOptions o(4);
  EXPECT_EQ(o.activation(), Activation::tanh);
  EXPECT_TRUE(o.use_bias());
  EXPECT_EQ(o.kernel_initializer(), nn::init::glorot_uniform());
  EXPECT_EQ(o.recurrent_initializer(), nn::init::orthogonal());
  EXPECT_EQ(o.bias_initializer(), nn::init::zeros());
  EXPECT_FALSE(o.kernel_regularizer() || o.recurrent_regularizer() || o.bias_regularizer() ||
               o.activity_regularizer());
  EXPECT_FALSE(o.kernel_constraint() || o.recurrent_constraint() || o.bias_constraint());
  EXPECT_EQ(o.dropout(), 0.0);
  EXPECT_EQ(o.recurrent_dropout(), 0.0);
  EXPECT_FALSE(o.return_sequences() || o.return_state() || o.go_backwards() || o.stateful() ||
               o.unroll() || o.zero_output_for_mask());
  EXPECT_FALSE(o.seed().has_value());
  EXPECT_EQ(o.name(), "simple_rnn");
  const Call call;
  EXPECT_FALSE(call.initial_state() || call.mask() || call.training());
}

TEST(SimpleRNNKerasOptions, KerasNamesForEveryOption) {
  const auto o = nn::SimpleRNNOptions(2)
                     .activation("hard_sigmoid")
                     .kernel_initializer("he_normal")
                     .recurrent_initializer("identity")
                     .bias_initializer("ones")
                     .kernel_regularizer("l1")
                     .recurrent_regularizer("l2")
                     .bias_regularizer("l1_l2")
                     .activity_regularizer("L1L2")
                     .kernel_constraint("max_norm")
                     .recurrent_constraint("unit_norm")
                     .bias_constraint("non_neg");
  EXPECT_EQ(o.activation(), Activation::hard_sigmoid);
  EXPECT_EQ(o.kernel_initializer(), nn::init::he_normal());
  EXPECT_EQ(o.recurrent_initializer(), nn::init::identity());
  EXPECT_EQ(o.bias_initializer(), nn::init::ones());
  EXPECT_EQ(*o.kernel_regularizer(), nn::regularizers::l1());
  EXPECT_EQ(*o.recurrent_regularizer(), nn::regularizers::l2());
  EXPECT_EQ(*o.bias_regularizer(), nn::regularizers::l1_l2(0.01, 0.01));
  EXPECT_EQ(*o.activity_regularizer(), nn::regularizers::l1_l2());
  EXPECT_EQ(*o.kernel_constraint(), nn::constraints::max_norm());
  EXPECT_EQ(*o.recurrent_constraint(), nn::constraints::unit_norm());
  EXPECT_EQ(*o.bias_constraint(), nn::constraints::non_neg());
  EXPECT_EQ(nn::SimpleRNNOptions(1).activation("None").activation(), Activation::linear);
  EXPECT_THROW(nn::SimpleRNNOptions(1).kernel_initializer("glorot"), std::invalid_argument);
  EXPECT_THROW(nn::SimpleRNNOptions(1).kernel_regularizer("l3"), std::invalid_argument);
  EXPECT_THROW(nn::SimpleRNNOptions(1).bias_constraint("positive"), std::invalid_argument);
}

TEST(SimpleRNNKerasOptions, InitializersAreUsed) {
  nn::SimpleRNN<double> rnn(nn::SimpleRNNOptions(3)
                                .kernel_initializer("ones")
                                .recurrent_initializer(nn::init::identity(2.0))
                                .bias_initializer(nn::init::constant(0.25)));
  rnn.build({-1, -1, 2});
  EXPECT_EQ(rnn.kernel().value(), xgrad::ones<double>({2, 3}));
  EXPECT_EQ(rnn.recurrent_kernel().value(), Array<double>(2.0 * eye(3)));
  EXPECT_EQ(rnn.bias().value(), xgrad::full<double>({3}, 0.25));
  // The defaults draw what init::glorot_uniform and init::orthogonal draw.
  xgrad::manual_seed(17);
  nn::SimpleRNN<double> keras(nn::SimpleRNNOptions(3));
  keras.build({-1, -1, 5});
  xgrad::manual_seed(17);
  const Array<double> k = nn::init::glorot_uniform<double>({5, 3});
  const Array<double> r = nn::init::orthogonal<double>({3, 3});
  EXPECT_EQ(keras.kernel().value(), k);
  EXPECT_EQ(keras.recurrent_kernel().value(), r);
  EXPECT_EQ(keras.bias().value(), xgrad::zeros<double>({3}));
}

TEST(SimpleRNNKerasOptions, DropoutRatesAreChecked) {
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [] { nn::SimpleRNN<float> r(nn::SimpleRNNOptions(2).dropout(1.0).name("drop")); },
      {"SimpleRNN 'drop'", "dropout", "[0, 1)", "1"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [] { nn::SimpleRNN<float> r(nn::SimpleRNNOptions(2).recurrent_dropout(-0.1)); },
      {"recurrent_dropout", "-0.1"}));
  EXPECT_THROW([] { nn::SimpleRNN<float> r(nn::SimpleRNNOptions(2).dropout(std::nan(""))); }(),
               std::invalid_argument);
}

TEST(SimpleRNNKerasActivations, NamesAndKerasValues) {
  for (const Activation a : all_activations) EXPECT_EQ(nn::activation_from_name(nn::activation_name(a)), a);
  for (const Activation a : composed_only_activations)
    EXPECT_EQ(nn::activation_from_name(nn::activation_name(a)), a);
  EXPECT_EQ(nn::activation_from_name("None"), Activation::linear);
  EXPECT_EQ(nn::activation_from_name("swish"), Activation::silu);
  EXPECT_EQ(nn::activation_from_name("softmax"), Activation::softmax);
  EXPECT_EQ(nn::activation_from_name("log_softmax"), Activation::log_softmax);
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [] { nn::activation_from_name("sparsemax"); },
      {"'sparsemax'", "hard_sigmoid", "softsign", "elu", "selu", "exponential", "gelu", "mish", "softmax",
       "None", "swish"}));
  // Keras 3 values, e.g. keras.activations.hard_sigmoid([-4, -3, 0, 1.5, 3, 4])
  // = [0, 0, 0.5, 0.75, 1, 1]; selu(-1) = 1.0507 · 1.6733 · (e^-1 − 1).
  const V x(Array<double>{-4.0, -3.0, 0.0, 1.5, 3.0, 4.0});
  EXPECT_EQ(nn::apply_activation(Activation::hard_sigmoid, x).value(),
            (Array<double>{0.0, 0.0, 0.5, 0.75, 1.0, 1.0}));
  EXPECT_NEAR(nn::apply_activation(Activation::selu, V(Array<double>{-1.0})).value()(0),
              1.0507009873554805 * 1.6732632423543772 * (std::exp(-1.0) - 1.0), 1e-15);
  EXPECT_NEAR(nn::apply_activation(Activation::elu, V(Array<double>{-2.0})).value()(0),
              std::exp(-2.0) - 1.0, 1e-15);
  EXPECT_EQ(nn::apply_activation(Activation::softsign, V(Array<double>{3.0})).value()(0), 0.75);
}

TEST(SimpleRNNKerasActivations, VectorisedKernelsMatchTheFormulasWithTails) {
  // Lengths 1..37 cover every SIMD width's full batches and scalar tails.
  for (const Activation a : all_activations) {
    SCOPED_TRACE(nn::activation_name(a));
    for (std::size_t n = 1; n <= 37; ++n) {
      Draw draw(n);
      const Array<double> v = draw.uniform({n}, -5.0, 5.0);
      const Array<double> y = nn::apply_activation(a, V(v)).value();
      const Array<float> y32 = nn::apply_activation(a, Variable<float>(xt::cast<float>(v))).value();
      for (std::size_t i = 0; i < n; ++i) {
        const double expected = activate(a, static_cast<double>(static_cast<float>(v(i))));
        EXPECT_NEAR(y(i), activate(a, v(i)), 1e-13 * (1.0 + std::abs(y(i)))) << n << ", " << i;
        EXPECT_NEAR(y32(i), expected, 2e-6 * (1.0 + std::abs(expected))) << n << ", " << i;
      }
    }
  }
}

TEST(SimpleRNNKerasActivations, FusedDerivativeFromTheOutputNearTheKinks) {
  // Pre-activations on both sides of hard_sigmoid's ±3 and elu/selu's 0:
  // one step with kernel 1 and x chosen around the kinks, fused against
  // composed gradients.
  for (const Activation a : {Activation::hard_sigmoid, Activation::elu, Activation::selu,
                             Activation::relu, Activation::softsign, Activation::exponential}) {
    SCOPED_TRACE(nn::activation_name(a));
    nn::SimpleRNN<double> rnn(nn::SimpleRNNOptions(1).activation(a).use_bias(false).return_sequences(true));
    rnn.set_weights({array({1, 1}, {1.0}), array({1, 1}, {0.0})});
    V x(array({6, 1, 1}, {-3.5, -2.9, -0.1, 0.1, 2.9, 3.5}), true);
    xgrad::sum(rnn(x)).backward();
    const Array<double> fused = x.grad();
    x.zero_grad();
    xgrad::sum(rnn.forward_composed(x)).backward();
    EXPECT_TRUE(near(fused, x.grad()));
  }
}

// ---------------------------------------------------------------------------
// SimpleRNNCell

TEST(SimpleRNNKerasCell, StepsEqualTheLayerAndItsReference) {
  Draw draw(50);
  const Weights w = random_weights(draw, 3, 4, true);
  nn::SimpleRNNCell<double> cell(nn::SimpleRNNCellOptions(4).activation("elu"));
  EXPECT_EQ(cell.name(), "simple_rnn_cell");
  cell.set_weights(w.as_list());
  const auto names = cell.named_parameters();
  ASSERT_EQ(names.size(), 3u);
  EXPECT_EQ(names[0].first, "kernel");
  EXPECT_EQ(names[1].first, "recurrent_kernel");
  EXPECT_EQ(names[2].first, "bias");
  const V x(draw.uniform({2, 5, 3}, -1, 1), true);
  const V h0(draw.uniform({2, 4}, -1, 1), true);
  V h = h0;
  std::vector<V> steps;
  for (std::size_t t = 0; t < 5; ++t) {
    h = cell(xgrad::select(x, 1, t), h);
    steps.push_back(h);
  }
  ReferenceOptions o;
  o.activation = Activation::elu;
  o.return_sequences = true;
  o.initial_state = h0.value();
  const Reference ref = reference_rnn(x.value(), w, o);
  EXPECT_TRUE(near(xgrad::stack(steps, 1).value(), ref.output));
  EXPECT_EQ(cell.get_initial_state(2).value(), xgrad::zeros<double>({2, 4}));
  expect_gradcheck(
      [&](const std::vector<V>& in) { return cell(xgrad::select(in[0], 1, 2), in[1]); },
      {x, h0, cell.kernel(), cell.recurrent_kernel(), cell.bias()});
}

TEST(SimpleRNNKerasCell, DropoutMasksKeptUntilReset) {
  nn::SimpleRNNCell<double> cell(
      nn::SimpleRNNCellOptions(3).dropout(0.5).recurrent_dropout(0.5).seed(4).activation("linear"));
  cell.build({-1, 2});
  cell.set_weights({xgrad::ones<double>({2, 3}), eye(3), xgrad::zeros<double>({3})});
  const V x(xgrad::ones<double>({8, 2})), h(xgrad::ones<double>({8, 3}));
  const Array<double> a = cell(x, h).value(), b = cell(x, h).value();
  EXPECT_EQ(a, b);  // the same masks at every step
  cell.reset_dropout_mask();
  cell.reset_recurrent_dropout_mask();
  EXPECT_NE(cell(x, h).value(), a);
  // Not in inference.
  const Array<double> plain = cell(x, h, false).value();
  EXPECT_EQ(plain, xgrad::full<double>({8, 3}, 3.0));
  cell.eval();
  EXPECT_EQ(cell(x, h).value(), plain);
  // An explicit training = true drops in eval mode too (Keras' call argument).
  EXPECT_NE(cell(x, h, true).value(), plain);
  // A seeded cell draws what a seeded layer draws.
  xgrad::Generator g(4);
  const DrawnMasks m = masks_for(g, 8, 2, 3, 0.5, 0.5);
  nn::SimpleRNNCell<double> again(
      nn::SimpleRNNCellOptions(3).dropout(0.5).recurrent_dropout(0.5).seed(4).activation("linear"));
  again.set_weights(cell.weights());
  const Array<double> y = again(x, h).value();
  for (std::size_t i = 0; i < 8; ++i)
    for (std::size_t u = 0; u < 3; ++u)
      EXPECT_DOUBLE_EQ(y(i, u), (*m.input)(i, 0) + (*m.input)(i, 1) + (*m.state)(i, u));
}

TEST(SimpleRNNKerasCell, RegularizersConstraintsAndErrors) {
  nn::SimpleRNNCell<double> cell(nn::SimpleRNNCellOptions(2)
                                     .kernel_regularizer(nn::regularizers::l2(0.5))
                                     .kernel_constraint("non_neg")
                                     .use_bias(false)
                                     .name("step"));
  cell.set_weights({Array<double>{{1.0, -2.0}}, eye(2)});
  ASSERT_EQ(cell.losses().size(), 1u);
  EXPECT_DOUBLE_EQ(cell.regularization_loss().value()(), 0.5 * 5.0);
  cell.apply_constraints();
  EXPECT_EQ(cell.kernel().value(), (Array<double>{{1.0, 0.0}}));
  EXPECT_THROW(cell.bias(), std::logic_error);
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { cell(V(xgrad::ones<double>({3, 1})), V(xgrad::ones<double>({2, 2}))); },
      {"SimpleRNNCell 'step'", "(3, 2)", "(2, 2)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { cell(V(xgrad::ones<double>({3, 4})), V(xgrad::ones<double>({3, 2}))); },
      {"SimpleRNNCell 'step'", "(3, 4)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [] { nn::SimpleRNNCell<float> c(nn::SimpleRNNCellOptions(0)); }, {"SimpleRNNCell", "units"}));
}

// ---------------------------------------------------------------------------
// Shape errors

TEST(SimpleRNNKerasErrors, MaskAndInitialStateShapesNameTheLayerAndBothShapes) {
  nn::SimpleRNN<double> rnn(nn::SimpleRNNOptions(3).name("enc"));
  const V x(xgrad::zeros<double>({2, 5, 4}));
  for (bool fused : {true, false}) {
    const auto call = [&](const Call& c) { return fused ? rnn(x, c) : rnn.forward_composed(x, c); };
    EXPECT_TRUE(throws_with<std::invalid_argument>([&] { call(Call().mask(Mask::from_shape({2, 4}))); },
                                                   {"SimpleRNN 'enc'", "mask", "(2, 5)", "(2, 4)"}));
    EXPECT_TRUE(throws_with<std::invalid_argument>([&] { call(Call().mask(Mask::from_shape({10}))); },
                                                   {"SimpleRNN 'enc'", "mask", "(2, 5)", "(10,)"}));
    EXPECT_TRUE(throws_with<std::invalid_argument>(
        [&] { call(Call().initial_state(V(xgrad::zeros<double>({2, 4})))); },
        {"SimpleRNN 'enc'", "initial_state", "(2, 3)", "(2, 4)"}));
    EXPECT_TRUE(throws_with<std::invalid_argument>(
        [&] { call(Call().initial_state(V(xgrad::zeros<double>({3, 3})))); },
        {"SimpleRNN 'enc'", "initial_state", "(2, 3)", "(3, 3)"}));
  }
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { rnn.forward_with_state(x, Call().mask(Mask::from_shape({5, 2}))); }, {"(2, 5)", "(5, 2)"}));
}

}  // namespace
