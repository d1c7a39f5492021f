// LSTM and GRU: the fused engine against the composed path and against the
// plain float64 reference loop (recurrent_reference in test_helpers.hpp), float64 gradient checks
// with respect to the input, each weight and each initial state, for every
// combination of return_sequences, go_backwards, masks and initial states;
// then Keras' defaults, stateful calls, dropout, Bidirectional, Sequential's
// masks and the Keras weights file.

#include <cmath>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <xtensor/xview.hpp>
#include <xtensor/xmanipulation.hpp>

#include "test_helpers.hpp"
#include "xgrad/xgrad.hpp"

namespace {

using xgrad::Array;
using xgrad::Variable;
using xgrad::test::Draw;
using xgrad::test::recurrent_reference;
using xgrad::test::ReferenceCall;
using xgrad::test::gradcheck_passes;
using xgrad::test::max_abs_diff;
using xgrad::test::throws_with;
namespace nn = xgrad::nn;
using V = Variable<double>;
using Call = nn::RecurrentCall<double>;
using Mask = xt::xarray<bool>;

// "lstm", "gru" (reset_after) or "gru_before".
std::shared_ptr<nn::RecurrentLayer<double>> make_layer(const std::string& kind, std::size_t units,
                                                       bool sequences, bool backwards, bool zero_output,
                                                       bool use_bias = true) {
  if (kind == "lstm") {
    return std::make_shared<nn::LSTM<double>>(nn::LSTMOptions(units)
                                                  .return_sequences(sequences)
                                                  .go_backwards(backwards)
                                                  .zero_output_for_mask(zero_output)
                                                  .use_bias(use_bias));
  }
  return std::make_shared<nn::GRU<double>>(nn::GRUOptions(units)
                                               .reset_after(kind == "gru")
                                               .return_sequences(sequences)
                                               .go_backwards(backwards)
                                               .zero_output_for_mask(zero_output)
                                               .use_bias(use_bias));
}

std::size_t gates_of(const std::string& kind) { return kind == "lstm" ? 4 : 3; }

// Weights small enough that the gates are not saturated, and a bias that
// is not zero.
void set_random_weights(nn::RecurrentLayer<double>& layer, const std::string& kind, std::size_t features,
                        std::size_t units, Draw& draw, bool use_bias = true) {
  const std::size_t width = gates_of(kind) * units;
  std::vector<Array<double>> weights{draw.uniform({features, width}, -0.6, 0.6),
                                     draw.uniform({units, width}, -0.6, 0.6)};
  if (use_bias) weights.push_back(kind == "gru" ? draw.uniform({2, width}, -0.5, 0.5) : draw.uniform({width}, -0.5, 0.5));
  layer.set_weights(weights);
}

Mask gap_mask(std::size_t batch, std::size_t steps) {
  Mask mask = xt::ones<bool>({batch, steps});
  // Row 0: the first step masked; row 1: a gap in the middle and the last
  // step masked; other rows whole.
  mask(0, 0) = false;
  if (batch > 1 && steps > 2) {
    mask(1, 1) = false;
    mask(1, steps - 1) = false;
  }
  return mask;
}

// A loss that weighs every output and state element differently, so that a
// wrong gradient anywhere shows.
V weighted_loss(const nn::RecurrentOutput<double>& r, Draw& weights_draw) {
  V loss = xgrad::sum(xgrad::mul(r.output, V(weights_draw.uniform(xgrad::Shape(r.output.shape().begin(), r.output.shape().end()), -1, 1))));
  for (const V& state : r.states) loss = xgrad::add(loss, xgrad::sum(xgrad::mul(state, V(weights_draw.uniform(xgrad::Shape(state.shape().begin(), state.shape().end()), -1, 1)))));
  return loss;
}

struct GatedCase {
  std::string kind;
  bool sequences, backwards;
  int mask;  // 0 none, 1 mask, 2 mask with zero_output_for_mask
  bool initial;
};

std::string case_name(const testing::TestParamInfo<GatedCase>& info) {
  const GatedCase& c = info.param;
  return c.kind + (c.sequences ? "_Sequences" : "_Last") + (c.backwards ? "_Backwards" : "_Forwards") +
         (c.mask == 0 ? "_NoMask" : c.mask == 1 ? "_Mask" : "_MaskZeroOutput") +
         (c.initial ? "_InitialState" : "_ZeroState");
}

std::vector<GatedCase> all_cases() {
  std::vector<GatedCase> cases;
  for (const char* kind : {"lstm", "gru", "gru_before"})
    for (bool sequences : {false, true})
      for (bool backwards : {false, true})
        for (int mask : {0, 1, 2})
          for (bool initial : {false, true}) cases.push_back({kind, sequences, backwards, mask, initial});
  return cases;
}

class GatedCombinations : public testing::TestWithParam<GatedCase> {};

// One case at batch size B: against the plain loop, fused against composed
// (values and gradients), and with central differences when asked.
void check_case(const GatedCase& c, std::size_t B, bool with_gradcheck) {
  const std::size_t T = 4, F = 3, U = 2;
  Draw draw(1234);
  auto layer = make_layer(c.kind, U, c.sequences, c.backwards, c.mask == 2);
  set_random_weights(*layer, c.kind, F, U, draw);
  const std::size_t S = c.kind == "lstm" ? 2 : 1;
  V x(draw.uniform({B, T, F}, -1, 1), true);
  std::vector<V> initial;
  if (c.initial)
    for (std::size_t k = 0; k < S; ++k) initial.push_back(V(draw.uniform({B, U}, -0.8, 0.8), true));
  Call call;
  if (c.initial) call.initial_state(initial);
  if (c.mask) call.mask(gap_mask(B, T));

  // Against the plain loop.
  ReferenceCall ref_call;
  ref_call.return_sequences = c.sequences;
  ref_call.go_backwards = c.backwards;
  ref_call.zero_output_for_mask = c.mask == 2;
  for (const V& state : initial) ref_call.initial.push_back(state.value());
  if (c.mask) ref_call.mask = gap_mask(B, T);
  const auto weights = layer->weights();
  const auto ref = recurrent_reference(c.kind, x.value(), weights[0], weights[1], weights[2], ref_call);
  const nn::RecurrentOutput<double> fused = layer->forward_with_state(x, call);
  EXPECT_LE(max_abs_diff(fused.output.value(), ref.output), 1e-12);
  ASSERT_EQ(fused.states.size(), S);
  for (std::size_t k = 0; k < S; ++k) EXPECT_LE(max_abs_diff(fused.states[k].value(), ref.states[k]), 1e-12) << "state " << k;

  // Fused and composed: the same values and the same gradients.
  const nn::RecurrentOutput<double> composed = layer->forward_composed_with_state(x, call);
  EXPECT_LE(max_abs_diff(fused.output.value(), composed.output.value()), 1e-12);
  std::vector<V> wrt{x, layer->kernel(), layer->recurrent_kernel(), layer->bias()};
  for (const V& state : initial) wrt.push_back(state);
  const auto gradients = [&](const nn::RecurrentOutput<double>& r) {
    for (V& v : wrt) v.zero_grad();
    Draw loss_weights(99);
    weighted_loss(r, loss_weights).backward();
    std::vector<Array<double>> out;
    for (const V& v : wrt) out.push_back(v.grad());
    return out;
  };
  const auto g_fused = gradients(fused);
  const auto g_composed = gradients(composed);
  const char* names[] = {"x", "kernel", "recurrent_kernel", "bias", "h0", "c0"};
  for (std::size_t i = 0; i < wrt.size(); ++i)
    EXPECT_LE(max_abs_diff(g_fused[i], g_composed[i]), 1e-12) << "gradient of " << names[i];

  if (!with_gradcheck) return;
  // Central differences, with respect to each input on its own.
  for (std::size_t i = 0; i < wrt.size(); ++i) {
    const auto f = [&](const std::vector<V>&) {
      Draw loss_weights(99);
      return weighted_loss(layer->forward_with_state(x, call), loss_weights);
    };
    EXPECT_TRUE(gradcheck_passes(f, {wrt[i]})) << "with respect to " << names[i];
  }
  // The composed path's own gradients, all inputs at once.
  const auto composed_loss = [&](const std::vector<V>&) {
    Draw loss_weights(99);
    return weighted_loss(layer->forward_composed_with_state(x, call), loss_weights);
  };
  EXPECT_TRUE(gradcheck_passes(composed_loss, wrt)) << "composed";
}

TEST_P(GatedCombinations, ReferenceFusedComposedAndGradcheck) { check_case(GetParam(), 3, true); }

// 64 rows project their inputs step by step, and the saved gates, c and
// extra are then laid out [T, B, ·] (recurrent_sequence.cpp, lay_out_saved).
TEST_P(GatedCombinations, StepMajorSavedBuffersAgainstReferenceAndComposed) { check_case(GetParam(), 64, false); }

INSTANTIATE_TEST_SUITE_P(AllOptions, GatedCombinations, testing::ValuesIn(all_cases()), case_name);

TEST(GatedLayers, WithoutBiasAgainstReference) {
  for (const char* kind : {"lstm", "gru", "gru_before"}) {
    Draw draw(7);
    auto layer = make_layer(kind, 3, true, false, false, false);
    set_random_weights(*layer, kind, 2, 3, draw, false);
    const Array<double> x = draw.uniform({2, 5, 2}, -1, 1);
    const auto ref = recurrent_reference(kind, x, layer->weights()[0], layer->weights()[1], Array<double>(), {});
    EXPECT_LE(max_abs_diff(layer->forward(V(x)).value(), ref.output), 1e-12) << kind;
    EXPECT_TRUE(throws_with<std::logic_error>([&] { layer->bias(); }, {"use_bias"}));
  }
}

TEST(GatedLayers, OtherActivationsFusedAgainstComposedAndGradcheck) {
  // Keras' default activations take the fused row kernels; any other pair
  // the general path, checked here against the composed path.
  Draw draw(17);
  const std::size_t B = 2, T = 3, F = 2, U = 3;
  nn::LSTM<double> lstm(nn::LSTMOptions(U).return_sequences(true).activation("softsign").recurrent_activation("tanh"));
  nn::GRU<double> gru(nn::GRUOptions(U).return_sequences(true).activation("elu").recurrent_activation("softsign"));
  set_random_weights(lstm, "lstm", F, U, draw);
  set_random_weights(gru, "gru", F, U, draw);
  for (nn::RecurrentLayer<double>* layer : {static_cast<nn::RecurrentLayer<double>*>(&lstm),
                                            static_cast<nn::RecurrentLayer<double>*>(&gru)}) {
    const V x(draw.uniform({B, T, F}, -1, 1), true);
    const Call call = Call().mask(gap_mask(B, T));
    EXPECT_LE(max_abs_diff(layer->forward(x, call).value(), layer->forward_composed(x, call).value()), 1e-12)
        << layer->name();
    EXPECT_TRUE(gradcheck_passes(
        [&](const std::vector<V>& in) { return xgrad::sum(xgrad::square(layer->forward(in[0], call))); },
        {x, layer->kernel(), layer->recurrent_kernel(), layer->bias()}))
        << layer->name();
  }
}

TEST(GatedLayers, ActivationsWithoutRowKernelsRunTheComposedPath) {
  // softplus ... log_softmax have no row kernels (activations.hpp): the
  // layers run them through the composed path, so forward equals
  // forward_composed exactly, and gradients pass central differences.
  Draw draw(19);
  const std::size_t B = 2, T = 3, F = 2, U = 3;
  nn::LSTM<double> lstm(nn::LSTMOptions(U).return_sequences(true).activation("gelu").recurrent_activation("sigmoid"));
  nn::GRU<double> gru(nn::GRUOptions(U).return_sequences(true).activation("tanh").recurrent_activation("silu"));
  nn::SimpleRNN<double> rnn(nn::SimpleRNNOptions(U).return_sequences(true).activation("softmax"));
  set_random_weights(lstm, "lstm", F, U, draw);
  set_random_weights(gru, "gru", F, U, draw);
  rnn.set_weights({draw.uniform({F, U}, -0.6, 0.6), draw.uniform({U, U}, -0.6, 0.6), draw.uniform({U}, -0.5, 0.5)});
  for (nn::RecurrentLayer<double>* layer :
       {static_cast<nn::RecurrentLayer<double>*>(&lstm), static_cast<nn::RecurrentLayer<double>*>(&gru),
        static_cast<nn::RecurrentLayer<double>*>(&rnn)}) {
    const V x(draw.uniform({B, T, F}, -1, 1), true);
    EXPECT_EQ(layer->forward(x).value(), layer->forward_composed(x).value()) << layer->name();
    EXPECT_TRUE(gradcheck_passes([&](const std::vector<V>& in) { return xgrad::sum(xgrad::square(layer->forward(in[0]))); },
                                 {x, layer->kernel(), layer->recurrent_kernel(), layer->bias()}))
        << layer->name();
  }
  // SimpleRNN with softmax, by hand: h_t = softmax(x_t·W + h_{t−1}·R + b) along the units.
  const V x(draw.uniform({B, T, F}, -1, 1));
  const Array<double> y = rnn(x).value();
  const Array<double> kernel = rnn.kernel().value(), recurrent = rnn.recurrent_kernel().value(),
                      bias = rnn.bias().value();
  for (std::size_t b = 0; b < B; ++b) {
    std::vector<double> h(U, 0.0);
    for (std::size_t t = 0; t < T; ++t) {
      std::vector<double> z(U);
      double total = 0.0;
      for (std::size_t u = 0; u < U; ++u) {
        z[u] = bias(u);
        for (std::size_t f = 0; f < F; ++f) z[u] += x.value()(b, t, f) * kernel(f, u);
        for (std::size_t v = 0; v < U; ++v) z[u] += h[v] * recurrent(v, u);
        total += std::exp(z[u]);
      }
      for (std::size_t u = 0; u < U; ++u) {
        h[u] = std::exp(z[u]) / total;
        EXPECT_NEAR(y(b, t, u), h[u], 1e-14) << "b " << b << " t " << t << " u " << u;
      }
    }
  }
  // The fused node itself refuses them, naming the activation.
  nn::RecurrentSequenceArgs<double> args;
  args.cell.activation = nn::Activation::softplus;
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { nn::recurrent_sequence(x, rnn.kernel(), rnn.recurrent_kernel(), std::optional(rnn.bias()), args); },
      {"recurrent_sequence", "'softplus'"}));
}

// Backward sums the weight gradients per chunk of steps
// (recurrent_sequence.cpp, chunk_steps): with B = 2 about 100 steps at
// these widths, each batch row's a product, so T = 250 makes three chunks,
// the first one shorter; with B = 64 every step, its products over the
// batch. Fused and composed gradients must agree for every input: with a
// mask and initial states, with go_backwards, and with SimpleRNN's
// recurrent dropout.
TEST(RecurrentEngine, WeightGradientsSummedPerChunkOrPerStep) {
  const std::size_t F = 3;
  struct Long {
    std::string kind;
    std::size_t batch, steps, units, gates;
  };
  for (const Long& l : {Long{"simple_rnn", 2, 250, 160, 1}, Long{"lstm", 2, 250, 40, 4}, Long{"gru", 2, 250, 54, 3},
                        Long{"gru_before", 2, 250, 54, 3}, Long{"simple_rnn", 64, 6, 40, 1}, Long{"lstm", 64, 6, 40, 4},
                        Long{"gru", 64, 6, 40, 3}, Long{"gru_before", 64, 6, 40, 3}}) {
    const std::size_t B = l.batch, T = l.steps;
    for (const std::string variant : {"mask_and_initial_states", "go_backwards", "recurrent_dropout"}) {
      const bool simple = l.kind == "simple_rnn", backwards = variant == "go_backwards";
      if (variant == "recurrent_dropout" && !simple) continue;  // gated layers' dropout is composed only
      const auto make = [&]() -> std::shared_ptr<nn::RecurrentLayer<double>> {
        if (!simple) return make_layer(l.kind, l.units, true, backwards, false);
        nn::SimpleRNNOptions options(l.units);
        options.return_sequences(true).go_backwards(backwards);
        if (variant == "recurrent_dropout") options.recurrent_dropout(0.3).seed(5);
        return std::make_shared<nn::SimpleRNN<double>>(options);
      };
      const auto fused_layer = make(), composed_layer = make();  // two layers: the same dropout masks
      Draw draw(21);
      const std::size_t W = l.gates * l.units;
      const double scale = 1.5 / std::sqrt(static_cast<double>(l.units));  // gates neither saturated nor flat
      std::vector<Array<double>> weights{draw.uniform({F, W}, -0.6, 0.6), draw.uniform({l.units, W}, -scale, scale),
                                         l.kind == "gru" ? draw.uniform({2, W}, -0.5, 0.5) : draw.uniform({W}, -0.5, 0.5)};
      fused_layer->set_weights(weights);
      composed_layer->set_weights(weights);
      const Array<double> x = draw.uniform({B, T, F}, -1, 1);
      std::vector<Array<double>> initial;
      if (variant == "mask_and_initial_states")
        for (std::size_t k = 0; k < (l.kind == "lstm" ? 2u : 1u); ++k) initial.push_back(draw.uniform({B, l.units}, -0.8, 0.8));
      const auto gradients = [&](nn::RecurrentLayer<double>& layer, bool fused) {
        V xv(x, true);
        std::vector<V> states;
        for (const Array<double>& state : initial) states.push_back(V(state, true));
        Call call = Call().training(true);
        if (!states.empty()) call.initial_state(states).mask(gap_mask(B, T));
        const nn::RecurrentOutput<double> r =
            fused ? layer.forward_with_state(xv, call) : layer.forward_composed_with_state(xv, call);
        Draw loss_weights(99);
        weighted_loss(r, loss_weights).backward();
        std::vector<Array<double>> out{xv.grad(), layer.kernel().grad(), layer.recurrent_kernel().grad(), layer.bias().grad()};
        for (const V& state : states) out.push_back(state.grad());
        return out;
      };
      const auto g_fused = gradients(*fused_layer, true);
      const auto g_composed = gradients(*composed_layer, false);
      const char* names[] = {"x", "kernel", "recurrent_kernel", "bias", "h0", "c0"};
      for (std::size_t i = 0; i < g_fused.size(); ++i)
        EXPECT_LE(max_abs_diff(g_fused[i], g_composed[i]), 1e-11)
            << l.kind << " B " << B << " " << variant << ": gradient of " << names[i];
    }
  }
}

TEST(GatedLayers, EmptyBatchBackwardAddsNothing) {
  // B = 0 with T >= 2 once asked BLAS for a sum over B·T − 1 = SIZE_MAX rows.
  for (const char* kind : {"simple_rnn", "lstm", "gru"}) {
    std::shared_ptr<nn::RecurrentLayer<double>> layer;
    if (std::string(kind) == "simple_rnn") layer = std::make_shared<nn::SimpleRNN<double>>(nn::SimpleRNNOptions(3).return_sequences(true));
    else layer = make_layer(kind, 3, true, false, false);
    const V x(xgrad::zeros<double>({0, 4, 2}), true);
    const V y = layer->forward(x);
    EXPECT_EQ(y.shape(), (xt::svector<std::size_t>{0, 4, 3}));
    xgrad::sum(y).backward();
    EXPECT_EQ(x.grad().size(), 0u);
    for (const V& w : layer->parameters()) EXPECT_EQ(w.grad(), xgrad::zeros<double>(xgrad::Shape(w.shape().begin(), w.shape().end()))) << kind;
  }
}

TEST(GatedLayers, KerasDefaults) {
  const nn::LSTMOptions lstm(4);
  EXPECT_EQ(lstm.activation(), nn::Activation::tanh);
  EXPECT_EQ(lstm.recurrent_activation(), nn::Activation::sigmoid);
  EXPECT_TRUE(lstm.use_bias() && lstm.unit_forget_bias());
  EXPECT_EQ(lstm.kernel_initializer(), nn::init::glorot_uniform());
  EXPECT_EQ(lstm.recurrent_initializer(), nn::init::orthogonal());
  EXPECT_EQ(lstm.bias_initializer(), nn::init::zeros());
  EXPECT_FALSE(lstm.return_sequences() || lstm.return_state() || lstm.go_backwards() || lstm.stateful() ||
               lstm.unroll());
  EXPECT_EQ(lstm.name(), "lstm");
  const nn::GRUOptions gru(4);
  EXPECT_EQ(gru.recurrent_activation(), nn::Activation::sigmoid);
  EXPECT_TRUE(gru.reset_after());
  EXPECT_EQ(gru.name(), "gru");
  // Chained setters keep the layer's own options type.
  const nn::LSTMOptions chained = nn::LSTMOptions(2).return_sequences(true).unit_forget_bias(false).dropout(0.25);
  EXPECT_TRUE(chained.return_sequences());
  EXPECT_FALSE(chained.unit_forget_bias());
}

TEST(GatedLayers, WeightShapesAndForgetBias) {
  nn::LSTM<float> lstm(nn::LSTMOptions(3));
  lstm.build({-1, -1, 5});
  EXPECT_EQ(lstm.kernel().shape(), (xgrad::Shape{5, 12}));
  EXPECT_EQ(lstm.recurrent_kernel().shape(), (xgrad::Shape{3, 12}));
  // Keras' unit_forget_bias: zeros, ones for the forget gate, zeros.
  const Array<float> expected{0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(lstm.bias().value(), expected);
  nn::LSTM<float> plain(nn::LSTMOptions(3).unit_forget_bias(false).bias_initializer("ones"));
  plain.build({-1, -1, 5});
  EXPECT_EQ(plain.bias().value(), xgrad::ones<float>({12}));

  nn::GRU<float> gru(nn::GRUOptions(3));
  gru.build({-1, -1, 5});
  EXPECT_EQ(gru.kernel().shape(), (xgrad::Shape{5, 9}));
  EXPECT_EQ(gru.bias().shape(), (xgrad::Shape{2, 9}));
  nn::GRU<float> before(nn::GRUOptions(3).reset_after(false));
  before.build({-1, -1, 5});
  EXPECT_EQ(before.bias().shape(), (xgrad::Shape{9}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { gru.set_weights({xgrad::zeros<float>({5, 9}), xgrad::zeros<float>({3, 9}), xgrad::zeros<float>({9})}); },
      {"GRU 'gru'", "bias", "(2, 9)", "(9,)"}));
}

TEST(GatedLayers, Errors) {
  nn::LSTM<double> lstm(nn::LSTMOptions(2).name("enc"));
  const V x(xgrad::zeros<double>({2, 3, 4}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { lstm(x, Call().initial_state(V(xgrad::zeros<double>({2, 2})))); },
      {"LSTM 'enc'", "initial_state", "2 states", "(2, 2)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { lstm(x, Call().initial_state({V(xgrad::zeros<double>({2, 2})), V(xgrad::zeros<double>({3, 2}))})); },
      {"LSTM 'enc'", "initial_state", "(3, 2)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { lstm(V(xgrad::zeros<double>({2, 3}))); },
                                                 {"LSTM 'enc'", "rank 3", "(2, 3)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([] { nn::GRU<float>(nn::GRUOptions(0)); }, {"GRU 'gru'", "units"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([] { nn::GRU<float>(nn::GRUOptions(2).recurrent_dropout(1.0)); },
                                                 {"GRU 'gru'", "recurrent_dropout"}));
}

TEST(GatedLayers, StatefulKeepsEveryState) {
  for (const char* kind : {"lstm", "gru"}) {
    Draw draw(3);
    const Array<double> x = draw.uniform({2, 6, 3}, -1, 1);
    auto whole = make_layer(kind, 2, true, false, false);
    set_random_weights(*whole, kind, 3, 2, draw);
    std::shared_ptr<nn::RecurrentLayer<double>> halves;
    if (std::string(kind) == "lstm") halves = std::make_shared<nn::LSTM<double>>(nn::LSTMOptions(2).return_sequences(true).stateful(true));
    else halves = std::make_shared<nn::GRU<double>>(nn::GRUOptions(2).return_sequences(true).stateful(true));
    halves->set_weights(whole->weights());
    const auto all = whole->forward_with_state(V(x));
    halves->forward(V(xt::view(x, xt::all(), xt::range(0, 3), xt::all())));
    const V second = halves->forward(V(xt::view(x, xt::all(), xt::range(3, 6), xt::all())));
    EXPECT_LE(max_abs_diff(second.value(), Array<double>(xt::view(all.output.value(), xt::all(), xt::range(3, 6), xt::all()))), 1e-12) << kind;
    ASSERT_EQ(halves->states().size(), all.states.size());
    for (std::size_t k = 0; k < all.states.size(); ++k)
      EXPECT_LE(max_abs_diff(halves->states()[k], all.states[k].value()), 1e-12) << kind << " state " << k;
    halves->reset_state();
    EXPECT_EQ(halves->states()[0], xgrad::zeros<double>({2, 2}));
  }
}

TEST(GatedLayers, RecurrentDropoutDrawsMasksPerGateAndOnlyInTraining) {
  Draw draw(5);
  const Array<double> x = draw.uniform({4, 5, 3}, -1, 1);
  nn::LSTM<double> plain(nn::LSTMOptions(3).return_sequences(true));
  nn::LSTM<double> dropping(nn::LSTMOptions(3).return_sequences(true).dropout(0.3).recurrent_dropout(0.4).seed(11));
  set_random_weights(plain, "lstm", 3, 3, draw);
  dropping.set_weights(plain.weights());
  const Array<double> reference = plain(V(x)).value();
  // Inference mode and training(false) ignore the rates.
  EXPECT_LE(max_abs_diff(dropping(V(x), Call().training(false)).value(), reference), 1e-15);
  dropping.eval();
  EXPECT_LE(max_abs_diff(dropping(V(x)).value(), reference), 1e-15);
  dropping.train();
  const V dropped = dropping(V(x));
  EXPECT_GT(max_abs_diff(dropped.value(), reference), 1e-3);
  xgrad::test::expect_all_finite(dropped.value());
  // Gradients flow through the per-gate masks to every weight.
  xgrad::sum(dropped).backward();
  for (const V& w : {dropping.kernel(), dropping.recurrent_kernel(), dropping.bias()}) xgrad::test::expect_all_finite(w.grad());
}

TEST(GatedLayers, SimpleRNNDropoutStaysFused) {
  // One recurrent mask serves SimpleRNN's single gate, so its fused and
  // composed paths agree with recurrent dropout on, given the same masks.
  Draw draw(8);
  const Array<double> x = draw.uniform({3, 4, 2}, -1, 1);
  nn::SimpleRNN<double> a(nn::SimpleRNNOptions(3).return_sequences(true).recurrent_dropout(0.5).seed(4));
  nn::SimpleRNN<double> b(nn::SimpleRNNOptions(3).return_sequences(true).recurrent_dropout(0.5).seed(4));
  a.build({-1, -1, 2});
  b.set_weights(a.weights());
  EXPECT_LE(max_abs_diff(a(V(x)).value(), b.forward_composed(V(x)).value()), 1e-12);
}

TEST(GatedBidirectional, EveryMergeModeAndStatesToBothDirections) {
  const std::size_t B = 2, T = 4, F = 3, U = 2;
  for (const char* kind : {"lstm", "gru"}) {
    for (const char* mode : {"concat", "sum", "ave", "mul"}) {
      Draw draw(21);
      const bool lstm = std::string(kind) == "lstm";
      std::shared_ptr<nn::Bidirectional<double>> bi =
          lstm ? std::make_shared<nn::Bidirectional<double>>(nn::LSTMOptions(U).return_sequences(true),
                                                             nn::BidirectionalOptions().merge_mode(mode))
               : std::make_shared<nn::Bidirectional<double>>(nn::GRUOptions(U).return_sequences(true),
                                                             nn::BidirectionalOptions().merge_mode(mode));
      set_random_weights(*bi->forward_layer(), kind, F, U, draw);
      set_random_weights(*bi->backward_layer(), kind, F, U, draw);
      EXPECT_EQ(bi->forward_layer()->name(), std::string("forward_") + kind);
      EXPECT_TRUE(bi->backward_layer()->options().go_backwards());
      const std::size_t S = lstm ? 2 : 1;
      std::vector<V> states;
      for (std::size_t k = 0; k < 2 * S; ++k) states.push_back(V(draw.uniform({B, U}, -0.5, 0.5), true));
      const Array<double> x = draw.uniform({B, T, F}, -1, 1);
      const auto out = bi->forward_with_state(V(x), nn::BidirectionalCall<double>().initial_state(states).mask(gap_mask(B, T)));
      // Each direction against the plain loop with its half of the states.
      ReferenceCall f_call, b_call;
      f_call.zero_output_for_mask = b_call.zero_output_for_mask = true;  // Keras forces it on both copies
      b_call.go_backwards = true;
      f_call.mask = b_call.mask = gap_mask(B, T);
      for (std::size_t k = 0; k < S; ++k) {
        f_call.initial.push_back(states[k].value());
        b_call.initial.push_back(states[S + k].value());
      }
      const auto fw = bi->forward_layer()->weights();
      const auto bw = bi->backward_layer()->weights();
      const auto f_ref = recurrent_reference(kind, x, fw[0], fw[1], fw[2], f_call);
      auto b_ref = recurrent_reference(kind, x, bw[0], bw[1], bw[2], b_call);
      const Array<double> b_flipped = xt::flip(b_ref.output, 1);
      Array<double> merged;
      const std::string m = mode;
      if (m == "concat") merged = xt::concatenate(xt::xtuple(f_ref.output, b_flipped), 2);
      else if (m == "sum") merged = f_ref.output + b_flipped;
      else if (m == "ave") merged = (f_ref.output + b_flipped) / 2.0;
      else merged = f_ref.output * b_flipped;
      EXPECT_LE(max_abs_diff(out.output.value(), merged), 1e-12) << kind << " " << mode;
      ASSERT_EQ(out.forward_states.size(), S);
      for (std::size_t k = 0; k < S; ++k) {
        EXPECT_LE(max_abs_diff(out.forward_states[k].value(), f_ref.states[k]), 1e-12);
        EXPECT_LE(max_abs_diff(out.backward_states[k].value(), b_ref.states[k]), 1e-12);
      }
      const auto f = [&](const std::vector<V>& in) {
        return xgrad::sum(xgrad::square(bi->forward(in[0], nn::BidirectionalCall<double>().initial_state(
                                                                std::vector<V>(in.begin() + 1, in.end())))));
      };
      std::vector<V> wrt{V(x, true)};
      for (const V& s : states) wrt.push_back(s);
      EXPECT_TRUE(gradcheck_passes(f, wrt)) << kind << " " << mode;
    }
  }
}

TEST(GatedSequential, MaskReachesStackedLSTMAndGRU) {
  // Masking -> LSTM(seq) -> GRU: the mask reaches both recurrent layers.
  const std::size_t B = 2, T = 5, F = 3;
  Draw draw(31);
  Array<double> x = draw.uniform({B, T, F}, -1, 1);
  for (std::size_t f = 0; f < F; ++f) {
    x(0, 3, f) = 0.0;  // masked by Masking(0)
    x(1, 0, f) = 0.0;
  }
  auto lstm = std::make_shared<nn::LSTM<double>>(nn::LSTMOptions(3).return_sequences(true));
  auto gru = std::make_shared<nn::GRU<double>>(nn::GRUOptions(2));
  nn::Sequential<double> model({std::make_shared<nn::Masking<double>>(nn::MaskingOptions()), lstm, gru});
  set_random_weights(*lstm, "lstm", F, 3, draw);
  set_random_weights(*gru, "gru", 3, 2, draw);
  const Array<double> y = model(V(x)).value();
  Mask mask = xt::ones<bool>({B, T});
  mask(0, 3) = false;
  mask(1, 0) = false;
  ReferenceCall call;
  call.mask = mask;
  const auto hidden = recurrent_reference("lstm", x, lstm->weights()[0], lstm->weights()[1], lstm->weights()[2], call);
  call.return_sequences = false;
  const auto top = recurrent_reference("gru", hidden.output, gru->weights()[0], gru->weights()[1], gru->weights()[2], call);
  EXPECT_LE(max_abs_diff(y, top.output), 1e-12);
}

TEST(GatedCells, StepLoopsEqualTheLayers) {
  // A hand-written loop of LSTMCell / GRUCell steps gives the fused layer's
  // numbers; one step is gradchecked with respect to everything it takes.
  Draw draw(41);
  const std::size_t B = 2, T = 4, F = 3, U = 3;
  const Array<double> x = draw.uniform({B, T, F}, -1, 1);
  nn::LSTM<double> lstm(nn::LSTMOptions(U).return_sequences(true));
  set_random_weights(lstm, "lstm", F, U, draw);
  nn::LSTMCell<double> lstm_cell{nn::LSTMCellOptions(U)};
  lstm_cell.set_weights(lstm.weights());
  std::vector<V> states = lstm_cell.get_initial_state(B);
  ASSERT_EQ(states.size(), 2u);
  for (std::size_t t = 0; t < T; ++t) {
    states = lstm_cell(xgrad::select(V(x), 1, t), states);
    EXPECT_LE(max_abs_diff(states[0].value(), Array<double>(xt::view(lstm(V(x)).value(), xt::all(), t, xt::all()))), 1e-12);
  }
  for (const bool reset_after : {true, false}) {
    nn::GRU<double> gru(nn::GRUOptions(U).reset_after(reset_after));
    set_random_weights(gru, reset_after ? "gru" : "gru_before", F, U, draw);
    nn::GRUCell<double> gru_cell(nn::GRUCellOptions(U).reset_after(reset_after));
    gru_cell.set_weights(gru.weights());
    V h = gru_cell.get_initial_state(B);
    for (std::size_t t = 0; t < T; ++t) h = gru_cell(xgrad::select(V(x), 1, t), h);
    EXPECT_LE(max_abs_diff(h.value(), gru(V(x)).value()), 1e-12);
    const V step_x(draw.uniform({B, F}, -1, 1), true), h0(draw.uniform({B, U}, -1, 1), true);
    EXPECT_TRUE(gradcheck_passes([&](const std::vector<V>& in) { return xgrad::sum(xgrad::square(gru_cell(in[0], in[1]))); },
                                 {step_x, h0, gru_cell.kernel(), gru_cell.recurrent_kernel(), gru_cell.bias()}));
  }
  const V step_x(draw.uniform({B, F}, -1, 1), true), h0(draw.uniform({B, U}, -1, 1), true),
      c0(draw.uniform({B, U}, -1, 1), true);
  EXPECT_TRUE(gradcheck_passes(
      [&](const std::vector<V>& in) {
        const auto next = lstm_cell(in[0], {in[1], in[2]});
        return xgrad::add(xgrad::sum(xgrad::square(next[0])), xgrad::sum(next[1]));
      },
      {step_x, h0, c0, lstm_cell.kernel(), lstm_cell.recurrent_kernel(), lstm_cell.bias()}));
}

TEST(GatedCells, DefaultsMasksAndErrors) {
  const nn::LSTMCellOptions lstm(2);
  EXPECT_EQ(lstm.name(), "lstm_cell");
  EXPECT_TRUE(lstm.unit_forget_bias());
  EXPECT_EQ(lstm.recurrent_activation(), nn::Activation::sigmoid);
  EXPECT_TRUE(nn::GRUCellOptions(2).reset_after());
  EXPECT_EQ(nn::GRUCellOptions(2).name(), "gru_cell");
  // The masks are kept between steps (one per gate with recurrent dropout)
  // until reset: the same input and state give the same step.
  nn::GRUCell<double> cell(nn::GRUCellOptions(3).dropout(0.5).recurrent_dropout(0.5).seed(2));
  const V x(xgrad::ones<double>({2, 4})), h(xgrad::ones<double>({2, 3}));
  const Array<double> first = cell(x, h).value();
  EXPECT_EQ(cell(x, h).value(), first);
  cell.reset_dropout_mask();
  cell.reset_recurrent_dropout_mask();
  EXPECT_NE(cell(x, h).value(), first);
  EXPECT_EQ(cell(x, h, false).value(), [&] {
    nn::GRUCell<double> plain(nn::GRUCellOptions(3));
    plain.set_weights(cell.weights());
    return plain(x, h).value();
  }());
  nn::LSTMCell<double> named(nn::LSTMCellOptions(3).name("step"));
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { named(x, {h}); }, {"LSTMCell 'step'", "2 states", "(2, 3)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { named(V(xgrad::ones<double>({2, 4, 1})), {h, h}); },
                                                 {"LSTMCell 'step'", "(2, 4, 1)"}));
}

class GatedKerasFiles : public xgrad::test::ScratchDirTest {
 protected:
  GatedKerasFiles() : ScratchDirTest("xgrad_gated_h5_") {}
};

TEST_F(GatedKerasFiles, RoundTripWithKerasPaths) {
  const auto make = [] {
    auto model = std::make_shared<nn::Sequential<float>>();
    model->add(std::make_shared<nn::LSTM<float>>(nn::LSTMOptions(3).return_sequences(true)));
    model->add(std::make_shared<nn::Bidirectional<float>>(nn::GRUOptions(2).return_sequences(true)));
    model->add(std::make_shared<nn::GRU<float>>(nn::GRUOptions(2).reset_after(false)));
    model->build({-1, -1, 4});
    return model;
  };
  const auto saved = make();
  const std::string path = this->path("gated.weights.h5");
  nn::save_keras_weights(*saved, path);
  const std::string bytes = xgrad::test::slurp(path);
  for (const char* text : {"lstm", "lstm_cell", "bidirectional", "forward_gru", "gru_cell"})
    EXPECT_NE(bytes.find(text), std::string::npos) << text;
  const auto loaded = make();
  nn::load_keras_weights(*loaded, path);
  const auto a = saved->named_parameters(), b = loaded->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].second.value(), b[i].second.value()) << a[i].first;
  // A GRU of the other reset_after convention does not fit the file.
  auto other = std::make_shared<nn::Sequential<float>>();
  other->add(std::make_shared<nn::LSTM<float>>(nn::LSTMOptions(3).return_sequences(true)));
  other->add(std::make_shared<nn::Bidirectional<float>>(nn::GRUOptions(2).return_sequences(true).reset_after(false)));
  other->add(std::make_shared<nn::GRU<float>>(nn::GRUOptions(2).reset_after(false)));
  other->build({-1, -1, 4});
  EXPECT_TRUE(throws_with<xgrad::IoError>([&] { nn::load_keras_weights(*other, path); }, {"bias", "(6,)", "(2, 6)"}));
}

}  // namespace
