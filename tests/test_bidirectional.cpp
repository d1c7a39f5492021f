// Bidirectional(SimpleRNN): every merge mode against a plain float64 loop
// (forward pass, reversed pass, flip back, merge), masks with gaps and
// initial states, gradcheck through both directions, parameter paths, the
// Keras weights layout, and errors.

#include <gtest/gtest.h>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xview.hpp>

#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "test_helpers.hpp"
#include "xgrad/autograd/math_ops.hpp"
#include "xgrad/autograd/ops.hpp"
#include "xgrad/nn/bidirectional.hpp"
#include "xgrad/nn/dense.hpp"
#include "xgrad/nn/keras_weights.hpp"
#include "xgrad/nn/sequential.hpp"

namespace {

using xgrad::Array;
using xgrad::IoError;
using xgrad::Shape;
using xgrad::Variable;
using xgrad::nn::Bidirectional;
using xgrad::nn::BidirectionalCall;
using xgrad::nn::BidirectionalOptions;
using xgrad::nn::Dense;
using xgrad::nn::DenseOptions;
using xgrad::nn::Sequential;
using xgrad::nn::SimpleRNN;
using xgrad::nn::SimpleRNNOptions;
using xgrad::test::expect_array_near;
using xgrad::test::gradcheck_passes_nonempty;
using xgrad::test::throws_with;

constexpr std::size_t B = 3, T = 5, F = 4, U = 3;
const std::vector<std::string> merged_modes{"concat", "sum", "ave", "mul"};

// ---------------------------------------------------------------- reference

struct Direction {
  Array<double> sequence;  // [B, T, U] in input time order
  Array<double> last;      // [B, U]: the output after the last processed step
  Array<double> state;     // [B, U]
};

// One SimpleRNN direction by the shared float64 reference loop
// (test_helpers.hpp), its outputs stored at the input step t they belong
// to, which is the flip back for the backward pass.
Direction reference_direction(const Array<double>& x, const std::vector<Array<double>>& w,
                              const std::optional<Array<double>>& h0,
                              const std::optional<xt::xarray<bool>>& mask, bool backwards,
                              bool zero_output) {
  xgrad::test::ReferenceCall call;
  call.go_backwards = backwards;
  call.zero_output_for_mask = zero_output;
  if (h0) call.initial = {*h0};
  call.mask = mask;
  const auto r = xgrad::test::recurrent_reference("simple_rnn", x, w[0], w[1], w[2], call);
  const Array<double> last = xt::view(r.output, xt::all(), T - 1, xt::all());
  return {backwards ? Array<double>(xt::flip(r.output, 1)) : r.output, last, r.states[0]};
}

Array<double> reference_merge(const Array<double>& y, const Array<double>& y_b, const std::string& mode) {
  if (mode == "concat") return xt::concatenate(xt::xtuple(y, y_b), y.dimension() - 1);
  if (mode == "sum") return y + y_b;
  if (mode == "ave") return (y + y_b) / 2.0;
  return y * y_b;
}

struct Reference {
  Array<double> forward_output, backward_output;  // backward already flipped back
  Array<double> forward_state, backward_state;
};

Reference reference(Bidirectional<double>& bi, const Array<double>& x,
                    const std::optional<std::vector<Array<double>>>& h0,
                    const std::optional<xt::xarray<bool>>& mask) {
  const bool sequences = bi.forward_layer()->options().return_sequences();
  // Keras forces zero_output_for_mask = return_sequences on both copies.
  const Direction f = reference_direction(x, bi.forward_layer()->weights(),
                                          h0 ? std::optional((*h0)[0]) : std::nullopt, mask, false, sequences);
  const Direction r = reference_direction(x, bi.backward_layer()->weights(),
                                          h0 ? std::optional((*h0)[1]) : std::nullopt, mask, true, sequences);
  return {sequences ? f.sequence : f.last, sequences ? r.sequence : r.last, f.state, r.state};
}

xt::xarray<bool> gapped_mask() {
  // Gaps in the middle, at both ends, and a full row.
  return xt::xarray<bool>{{true, false, true, true, false},
                          {false, false, true, false, true},
                          {true, true, true, true, true}};
}

std::shared_ptr<Bidirectional<double>> make_layer(bool sequences, const std::optional<std::string>& mode,
                                                  std::uint64_t seed = 7) {
  xgrad::manual_seed(seed);
  auto bi = std::make_shared<Bidirectional<double>>(
      SimpleRNNOptions(U).return_sequences(sequences).bias_initializer("random_normal"),
      BidirectionalOptions().merge_mode(mode));
  bi->build({-1, -1, static_cast<std::ptrdiff_t>(F)});
  return bi;
}

// ---------------------------------------------------------------- numbers

TEST(Bidirectional, EveryMergeModeMatchesTheReferenceLoop) {
  const Array<double> x = xgrad::uniform<double>({B, T, F}, -1.0, 1.0);
  for (const bool sequences : {true, false}) {
    for (const std::string& mode : merged_modes) {
      SCOPED_TRACE(mode + (sequences ? ", return_sequences" : ", last output"));
      auto bi = make_layer(sequences, mode);
      const Reference want = reference(*bi, x, std::nullopt, std::nullopt);
      const auto got = bi->forward_with_state(Variable<double>(x));
      expect_array_near(got.output.value(), reference_merge(want.forward_output, want.backward_output, mode),
                        1e-12);
      expect_array_near(got.forward_state.value(), want.forward_state, 1e-12);
      expect_array_near(got.backward_state.value(), want.backward_state, 1e-12);
      EXPECT_EQ(got.output.shape().back(), mode == "concat" ? 2 * U : U);
    }
  }
}

TEST(Bidirectional, MergeModeNoneGivesBothOutputs) {
  const Array<double> x = xgrad::uniform<double>({B, T, F}, -1.0, 1.0);
  for (const std::optional<std::string>& none : {std::optional<std::string>(), std::optional<std::string>("none")}) {
    for (const bool sequences : {true, false}) {
      auto bi = make_layer(sequences, none);
      EXPECT_FALSE(bi->merge_mode());
      const Reference want = reference(*bi, x, std::nullopt, std::nullopt);
      const auto [y, y_b] = bi->forward_both(Variable<double>(x));
      expect_array_near(y.value(), want.forward_output, 1e-12);
      expect_array_near(y_b.value(), want.backward_output, 1e-12);
      const auto all = bi->forward_both_with_state(Variable<double>(x));
      expect_array_near(all.backward_state.value(), want.backward_state, 1e-12);
    }
  }
}

TEST(Bidirectional, MaskWithGapsAndInitialStatesReachBothDirections) {
  const Array<double> x = xgrad::uniform<double>({B, T, F}, -1.0, 1.0);
  const std::vector<Array<double>> h0{xgrad::uniform<double>({B, U}, -1.0, 1.0),
                                      xgrad::uniform<double>({B, U}, -1.0, 1.0)};
  for (const bool with_state : {false, true}) {
    for (const bool sequences : {true, false}) {
      for (const std::string& mode : merged_modes) {
        SCOPED_TRACE(mode + (sequences ? ", return_sequences" : ", last output") +
                     (with_state ? ", initial states" : ""));
        auto bi = make_layer(sequences, mode);
        const auto initial = with_state ? std::optional(h0) : std::nullopt;
        const Reference want = reference(*bi, x, initial, gapped_mask());
        auto call = BidirectionalCall<double>().mask(gapped_mask());
        if (with_state) call.initial_state(std::vector<Variable<double>>{Variable<double>(h0[0]), Variable<double>(h0[1])});
        const auto got = bi->forward_with_state(Variable<double>(x), call);
        expect_array_near(got.output.value(),
                          reference_merge(want.forward_output, want.backward_output, mode), 1e-12);
        expect_array_near(got.forward_state.value(), want.forward_state, 1e-12);
        expect_array_near(got.backward_state.value(), want.backward_state, 1e-12);
      }
    }
  }
}

TEST(Bidirectional, SequenceOutputsOfMaskedStepsAreZeros) {
  // Keras' forced zero_output_for_mask: a masked step of the sequence is 0
  // in both directions, so every merge of it is 0 too.
  auto bi = make_layer(true, "concat");
  EXPECT_TRUE(bi->forward_layer()->options().zero_output_for_mask());
  EXPECT_TRUE(bi->backward_layer()->options().zero_output_for_mask());
  const Array<double> y = bi->forward(Variable<double>(xgrad::uniform<double>({B, T, F}, -1.0, 1.0)),
                                      BidirectionalCall<double>().mask(gapped_mask()))
                              .value();
  for (std::size_t u = 0; u < 2 * U; ++u) {
    EXPECT_EQ(y(0, 1, u), 0.0);
    EXPECT_EQ(y(1, 0, u), 0.0);
    EXPECT_EQ(y(1, 3, u), 0.0);
  }
  EXPECT_FALSE(make_layer(false, "concat")->backward_layer()->options().zero_output_for_mask());
}

// ---------------------------------------------------------------- gradients

TEST(Bidirectional, GradcheckInputAndBothKernelsForEveryMergeMode) {
  for (const bool sequences : {true, false}) {
    for (const std::string& mode : merged_modes) {
      for (const bool masked : {false, true}) {
        SCOPED_TRACE(mode + (sequences ? ", return_sequences" : ", last output") + (masked ? ", masked" : ""));
        auto bi = make_layer(sequences, mode);
        const Variable<double> x = xgrad::test::seeded_random_variable({B, T, F}, 11);
        auto call = BidirectionalCall<double>();
        if (masked) call.mask(gapped_mask());
        const auto f = [&](const std::vector<Variable<double>>& in) { return bi->forward(in[0], call); };
        EXPECT_TRUE(gradcheck_passes_nonempty(
            f, {x, bi->forward_layer()->kernel(), bi->backward_layer()->kernel()}));
      }
    }
  }
}

TEST(Bidirectional, GradcheckBothInitialStatesAndNoneMode) {
  for (const bool sequences : {true, false}) {
    auto bi = make_layer(sequences, std::nullopt);
    const Variable<double> x = xgrad::test::seeded_random_variable({B, T, F}, 3);
    const Variable<double> h_f = xgrad::test::random_variable({B, U});
    const Variable<double> h_b = xgrad::test::random_variable({B, U});
    // Both unmerged outputs and both final states, joined into one output.
    const auto f = [&](const std::vector<Variable<double>>& in) {
      const auto all = bi->forward_both_with_state(
          in[0], BidirectionalCall<double>().initial_state(std::vector<Variable<double>>{in[1], in[2]}));
      return xgrad::concat(std::vector<Variable<double>>{xgrad::reshape(all.forward_output, {all.forward_output.size()}),
                                                         xgrad::reshape(all.backward_output, {all.backward_output.size()}),
                                                         xgrad::reshape(all.forward_state, {B * U}),
                                                         xgrad::reshape(all.backward_state, {B * U})},
                           0);
    };
    EXPECT_TRUE(gradcheck_passes_nonempty(f, {x, h_f, h_b, bi->backward_layer()->recurrent_kernel()}));
  }
}

// ---------------------------------------------------------------- structure

TEST(Bidirectional, DirectionsAndParameterPaths) {
  Bidirectional<float> bi(SimpleRNNOptions(4).go_backwards(false));
  EXPECT_EQ(bi.name(), "bidirectional");
  EXPECT_EQ(*bi.merge_mode(), "concat");
  EXPECT_EQ(bi.forward_layer()->name(), "forward_simple_rnn");
  EXPECT_EQ(bi.backward_layer()->name(), "backward_simple_rnn");
  EXPECT_FALSE(bi.forward_layer()->options().go_backwards());
  EXPECT_TRUE(bi.backward_layer()->options().go_backwards());
  EXPECT_TRUE(bi.named_parameters().empty());  // deferred build
  bi.build({-1, -1, 2});
  EXPECT_EQ(xgrad::test::names_of(bi.named_parameters()),
            (std::vector<std::string>{"forward_layer/kernel", "forward_layer/recurrent_kernel",
                                      "forward_layer/bias", "backward_layer/kernel",
                                      "backward_layer/recurrent_kernel", "backward_layer/bias"}));
  // Fresh weights per direction, not shared.
  EXPECT_NE(bi.forward_layer()->kernel().value(), bi.backward_layer()->kernel().value());

  Sequential<float> model({std::make_shared<Bidirectional<float>>(SimpleRNNOptions(4).name("forward_rnn")),
                           std::make_shared<Dense<float>>(DenseOptions(1))});
  model.build({-1, 5, 2});
  EXPECT_EQ(xgrad::test::names_of(model.named_parameters())[0], "bidirectional/forward_layer/kernel");
  // Keras strips the prefix before adding it again.
  EXPECT_EQ(model.at<Bidirectional<float>>(0)->forward_layer()->name(), "forward_rnn");
  EXPECT_EQ(model.at<Bidirectional<float>>(0)->backward_layer()->name(), "backward_forward_rnn");
  EXPECT_EQ(model(Variable<float>(xgrad::zeros<float>({2, 5, 2}))).shape(), (Shape{2, 1}));
}

TEST(Bidirectional, Errors) {
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [] { Bidirectional<float>(SimpleRNNOptions(2), BidirectionalOptions().merge_mode("max").name("bi")); },
      {"Bidirectional 'bi'", "'max'", "\"concat\"", "\"sum\"", "\"ave\"", "\"mul\"", "\"none\""}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([] { Bidirectional<float>(SimpleRNNOptions(0)); },
                                                 {"forward_simple_rnn", "units"}));

  auto bi = make_layer(true, "sum");
  const Variable<double> x(xgrad::zeros<double>({B, T, F}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { bi->forward(x, BidirectionalCall<double>().mask(xt::xarray<bool>::from_shape({B, T + 1}))); },
      {"Bidirectional 'bidirectional'", "mask", "(3, 6)", "(3, 5, 4)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] {
        bi->forward(x, BidirectionalCall<double>().initial_state(
                           std::vector<Variable<double>>{Variable<double>(xgrad::zeros<double>({B, U}))}));
      },
      {"Bidirectional 'bidirectional'", "2 states", "got 1", "(3, 3)", "(3, 5, 4)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] {
        bi->forward(x, BidirectionalCall<double>().initial_state(std::vector<Variable<double>>{
                           Variable<double>(xgrad::zeros<double>({B, U})),
                           Variable<double>(xgrad::zeros<double>({B, U + 1}))}));
      },
      {"Bidirectional 'bidirectional'", "backward_simple_rnn", "initial_state", "(3, 4)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { bi->forward(Variable<double>(xgrad::zeros<double>({B, T, F + 1}))); },
      {"Bidirectional 'bidirectional'", "(3, 5, 5)"}));
  auto none = make_layer(true, std::nullopt);
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { none->forward(x); },
                                                 {"Bidirectional 'bidirectional'", "none", "forward_both"}));
  EXPECT_TRUE(throws_with<std::logic_error>([&] { bi->reset_state(); }, {"stateful"}));
}

// ---------------------------------------------------------------- Keras weights

class BidirectionalKerasWeights : public xgrad::test::ScratchDirTest {
 protected:
  BidirectionalKerasWeights() : ScratchDirTest("xgrad_bidirectional_") {}
};

std::shared_ptr<Sequential<float>> keras_model(std::size_t units, std::uint64_t seed) {
  xgrad::manual_seed(seed);
  auto model = std::make_shared<Sequential<float>>(
      std::initializer_list<Sequential<float>::AnyLayer>{
          std::make_shared<Bidirectional<float>>(
              SimpleRNNOptions(units).return_sequences(true).bias_initializer("random_normal")),
          std::make_shared<Dense<float>>(DenseOptions(2))});
  model->build({-1, 4, 3});
  return model;
}

TEST_F(BidirectionalKerasWeights, RoundTripsThroughSequential) {
  auto saved = keras_model(5, 1);
  const std::string file = path("bi.weights.h5");
  xgrad::nn::save_keras_weights(*saved, file);

  auto loaded = keras_model(5, 2);
  xgrad::nn::load_keras_weights(*loaded, file);
  const auto want = saved->named_parameters(), got = loaded->named_parameters();
  ASSERT_EQ(want.size(), 8u);
  for (std::size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(want[i].first);
    EXPECT_EQ(got[i].first, want[i].first);
    EXPECT_EQ(got[i].second.value(), want[i].second.value());
  }
  const Variable<float> x(xgrad::uniform<float>({2, 4, 3}, -1.0f, 1.0f));
  expect_array_near((*loaded)(x).value(), (*saved)(x).value(), 0.0);
}

TEST_F(BidirectionalKerasWeights, FileHasKerasPaths) {
  auto saved = keras_model(5, 1);
  const std::string file = path("bi.weights.h5");
  xgrad::nn::save_keras_weights(*saved, file);

  // The strict loader names what it finds where: a model of another width
  // reads the file's backward kernel at its Keras path and reports its shape.
  auto narrower = keras_model(4, 1);
  EXPECT_TRUE(throws_with<IoError>([&] { xgrad::nn::load_keras_weights(*narrower, file); },
                                   {"/layers/bidirectional/backward_layer/cell/vars/0", "(3, 5)"}));
  // A model without the layer meets its group.
  Sequential<float> dense_only({std::make_shared<Dense<float>>(DenseOptions(2))});
  dense_only.build({-1, 10});
  EXPECT_TRUE(throws_with<IoError>([&] { xgrad::nn::load_keras_weights(dense_only, file); },
                                   {"unexpected group /layers/bidirectional"}));
  // HDF5 keeps link names and string attributes as plain bytes: both
  // directions' groups and Keras' layer names are there.
  const std::string bytes = xgrad::test::slurp(file);
  for (const char* text : {"forward_layer", "backward_layer", "forward_simple_rnn", "backward_simple_rnn",
                           "simple_rnn_cell", "bidirectional", "cell", "vars"})
    EXPECT_NE(bytes.find(text), std::string::npos) << text;
}

TEST_F(BidirectionalKerasWeights, UnbuiltLayerBuildsFromTheFile) {
  auto saved = keras_model(5, 1);
  const std::string file = path("bi.weights.h5");
  xgrad::nn::save_keras_weights(*saved, file);
  Sequential<float> fresh({std::make_shared<Bidirectional<float>>(SimpleRNNOptions(5).return_sequences(true)),
                           std::make_shared<Dense<float>>(DenseOptions(2))});
  xgrad::nn::load_keras_weights(fresh, file);
  EXPECT_EQ(fresh.at<Bidirectional<float>>(0)->forward_layer()->kernel().value(),
            saved->at<Bidirectional<float>>(0)->forward_layer()->kernel().value());
  EXPECT_TRUE(throws_with<IoError>(
      [&] {
        Bidirectional<float> unbuilt(SimpleRNNOptions(5));
        xgrad::nn::save_keras_weights(unbuilt, path("unbuilt.weights.h5"));
      },
      {"not built"}));
}

}  // namespace
