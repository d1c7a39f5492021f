// Sequential's mask propagation (Keras' rules): a Masking layer or an
// Embedding with mask_zero makes a mask [B, T]; Dense and Dropout pass it on;
// SimpleRNN and Bidirectional use it, passing it on only with
// return_sequences; TimeDistributed and LayerNormalization pass it on; GlobalAveragePooling1D
// uses it and ends it; any other layer ends it. Each model is checked against
// the same layers called with the explicit mask, in float64.

#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <vector>

#include <xtensor/xarray.hpp>
#include <xtensor/xoperation.hpp>

#include "test_helpers.hpp"
#include "xgrad/nn/bidirectional.hpp"
#include "xgrad/nn/dense.hpp"
#include "xgrad/nn/dropout.hpp"
#include "xgrad/nn/embedding.hpp"
#include "xgrad/nn/masking.hpp"
#include "xgrad/nn/normalization.hpp"
#include "xgrad/nn/pooling.hpp"
#include "xgrad/nn/sequential.hpp"
#include "xgrad/nn/simple_rnn.hpp"
#include "xgrad/nn/time_distributed.hpp"

namespace {

using xgrad::Array;
using xgrad::Variable;
using xgrad::nn::Bidirectional;
using xgrad::nn::BidirectionalCall;
using xgrad::nn::Dense;
using xgrad::nn::DenseOptions;
using xgrad::nn::Embedding;
using xgrad::nn::EmbeddingOptions;
using xgrad::nn::Masking;
using xgrad::nn::Sequential;
using xgrad::nn::SimpleRNN;
using xgrad::nn::SimpleRNNCall;
using xgrad::nn::SimpleRNNOptions;
using xgrad::test::expect_array_near;
using xgrad::test::gradcheck_passes_nonempty;

constexpr double kTol = 1e-12;

// x [3, 5, 2] with padded (all-zero) timesteps: row 0 trailing, row 1
// leading and in the middle, row 2 none.
Array<double> padded_input() {
  Array<double> x = xgrad::test::seeded_random_variable({3, 5, 2}, 7).value();
  for (std::size_t f = 0; f < 2; ++f) {
    x(0, 3, f) = 0.0;
    x(0, 4, f) = 0.0;
    x(1, 0, f) = 0.0;
    x(1, 2, f) = 0.0;
  }
  return x;
}

xt::xarray<bool> mask_of(const Array<double>& x) {
  return Masking<double>().compute_mask(x);
}

// The two arrays differ somewhere by more than tol (the mask mattered).
bool differs(const Array<double>& a, const Array<double>& b, double tol = 1e-6) {
  if (a.shape() != b.shape()) return true;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::abs(a.flat(i) - b.flat(i)) > tol) return true;
  return false;
}

class MaskingThenRNN : public ::testing::TestWithParam<bool> {};

TEST_P(MaskingThenRNN, EqualsTheRNNWithTheExplicitMask) {
  const bool return_sequences = GetParam();
  xgrad::manual_seed(1);
  auto rnn = std::make_shared<SimpleRNN<double>>(SimpleRNNOptions(3).return_sequences(return_sequences));
  Sequential<double> model({std::make_shared<Masking<double>>(), rnn});
  const Array<double> x = padded_input();
  const Variable<double> y = model(Variable<double>(x));
  const Variable<double> expected = (*rnn)(Variable<double>(x), SimpleRNNCall<double>().mask(mask_of(x)));
  expect_array_near(y.value(), expected.value(), kTol);
  EXPECT_TRUE(differs(y.value(), (*rnn)(Variable<double>(x)).value()));
}

INSTANTIATE_TEST_SUITE_P(ReturnSequences, MaskingThenRNN, ::testing::Bool());

class EmbeddingThenRNN : public ::testing::TestWithParam<bool> {};

TEST_P(EmbeddingThenRNN, MaskZeroEqualsTheRNNWithTheTokenMask) {
  const bool return_sequences = GetParam();
  xgrad::manual_seed(2);
  auto embedding = std::make_shared<Embedding<double>>(EmbeddingOptions(10, 4).mask_zero(true));
  auto rnn = std::make_shared<SimpleRNN<double>>(SimpleRNNOptions(3).return_sequences(return_sequences));
  Sequential<double> model({embedding, rnn});
  const xt::xarray<std::int64_t> tokens = {{3, 1, 4, 0, 0}, {0, 5, 0, 9, 2}, {6, 5, 3, 5, 8}};
  const Array<double> ids = xt::cast<double>(tokens);
  const Variable<double> y = model(Variable<double>(ids));
  const xt::xarray<bool> mask = xt::not_equal(tokens, std::int64_t{0});
  const Variable<double> expected = (*rnn)((*embedding)(tokens), SimpleRNNCall<double>().mask(mask));
  expect_array_near(y.value(), expected.value(), kTol);
  EXPECT_TRUE(differs(y.value(), (*rnn)((*embedding)(tokens)).value()));
}

TEST_P(EmbeddingThenRNN, WithoutMaskZeroThereIsNoMask) {
  const bool return_sequences = GetParam();
  xgrad::manual_seed(3);
  auto embedding = std::make_shared<Embedding<double>>(EmbeddingOptions(10, 4));
  auto rnn = std::make_shared<SimpleRNN<double>>(SimpleRNNOptions(3).return_sequences(return_sequences));
  Sequential<double> model({embedding, rnn});
  const xt::xarray<std::int64_t> tokens = {{3, 1, 4, 0, 0}, {0, 5, 0, 9, 2}};
  const Variable<double> y = model(Variable<double>(Array<double>(xt::cast<double>(tokens))));
  expect_array_near(y.value(), (*rnn)((*embedding)(tokens)).value(), 0.0);
}

INSTANTIATE_TEST_SUITE_P(ReturnSequences, EmbeddingThenRNN, ::testing::Bool());

// Masking -> TimeDistributed(Dense) -> LayerNormalization ->
// SimpleRNN(return_sequences) -> GlobalAveragePooling1D: the mask passes the
// wrapper and the normalization, reaches the RNN, and the pooling averages
// the kept steps alone.
TEST(SequentialMasks, TimeDistributedAndLayerNormalizationPassTheMaskAndGlobalAveragePoolingUsesIt) {
  xgrad::manual_seed(11);
  auto dense = std::make_shared<Dense<double>>(DenseOptions(4));
  auto each_step = std::make_shared<xgrad::nn::TimeDistributed<double>>(dense);
  auto norm = std::make_shared<xgrad::nn::LayerNormalization<double>>();
  auto rnn = std::make_shared<SimpleRNN<double>>(SimpleRNNOptions(3).return_sequences(true));
  auto pooling = std::make_shared<xgrad::nn::GlobalAveragePooling1D<double>>();
  Sequential<double> model({std::make_shared<Masking<double>>(), each_step, norm, rnn, pooling});
  const Array<double> x = padded_input();
  const xt::xarray<bool> mask = mask_of(x);
  const Variable<double> y = model(Variable<double>(x));
  const Variable<double> masked = Masking<double>()(Variable<double>(x));
  const Variable<double> states = (*rnn)((*norm)((*each_step)(masked)), SimpleRNNCall<double>().mask(mask));
  expect_array_near(y.value(), pooling->forward(states, mask).value(), kTol);
  EXPECT_TRUE(differs(y.value(), (*pooling)(states).value()));
}

TEST(SequentialMasks, ReturnSequencesPassesTheMaskToTheNextRNN) {
  xgrad::manual_seed(4);
  auto rnn1 = std::make_shared<SimpleRNN<double>>(SimpleRNNOptions(4).return_sequences(true));
  auto rnn2 = std::make_shared<SimpleRNN<double>>(SimpleRNNOptions(3));
  Sequential<double> model({std::make_shared<Masking<double>>(), rnn1, rnn2});
  const Array<double> x = padded_input();
  const xt::xarray<bool> m = mask_of(x);
  const Variable<double> y = model(Variable<double>(x));
  const Variable<double> h = (*rnn1)(Variable<double>(x), SimpleRNNCall<double>().mask(m));
  expect_array_near(y.value(), (*rnn2)(h, SimpleRNNCall<double>().mask(m)).value(), kTol);
  // The second RNN really got the mask, not just the first.
  EXPECT_TRUE(differs(y.value(), (*rnn2)(h).value()));
}

TEST(SequentialMasks, DenseAndDropoutPassTheMaskOn) {
  xgrad::manual_seed(5);
  auto dense = std::make_shared<Dense<double>>(DenseOptions(4));
  auto dropout = std::make_shared<xgrad::nn::Dropout<double>>(xgrad::nn::DropoutOptions(0.5));
  auto rnn = std::make_shared<SimpleRNN<double>>(SimpleRNNOptions(3));
  Sequential<double> model({std::make_shared<Masking<double>>(), dense, dropout, rnn});
  model.eval();
  const Array<double> x = padded_input();
  const Variable<double> y = model(Variable<double>(x));
  const Variable<double> expected =
      (*rnn)((*dense)(Variable<double>(x)), SimpleRNNCall<double>().mask(mask_of(x)));
  expect_array_near(y.value(), expected.value(), kTol);
}

TEST(SequentialMasks, RNNWithoutReturnSequencesEndsTheMask) {
  // Masking, SimpleRNN -> [B, U], Dense: the Dense gets the RNN's output, no
  // mask to misapply; the whole equals the explicit chain.
  xgrad::manual_seed(6);
  auto rnn = std::make_shared<SimpleRNN<double>>(SimpleRNNOptions(3));
  auto dense = std::make_shared<Dense<double>>(DenseOptions(2));
  Sequential<double> model({std::make_shared<Masking<double>>(), rnn, dense});
  const Array<double> x = padded_input();
  const Variable<double> y = model(Variable<double>(x));
  const Variable<double> h = (*rnn)(Variable<double>(x), SimpleRNNCall<double>().mask(mask_of(x)));
  expect_array_near(y.value(), (*dense)(h).value(), kTol);
}

TEST(SequentialMasks, OtherLayersDropTheMask) {
  // A nested Sequential is not a mask-aware layer: the mask ends before it.
  xgrad::manual_seed(7);
  auto rnn = std::make_shared<SimpleRNN<double>>(SimpleRNNOptions(3));
  auto inner = std::make_shared<Sequential<double>>(std::initializer_list<Sequential<double>::AnyLayer>{rnn},
                                                    "inner");
  Sequential<double> model({std::make_shared<Masking<double>>(), inner});
  const Array<double> x = padded_input();
  expect_array_near(model(Variable<double>(x)).value(), (*rnn)(Variable<double>(x)).value(), 0.0);
}

class MaskingThenBidirectional : public ::testing::TestWithParam<bool> {};

TEST_P(MaskingThenBidirectional, EqualsTheLayerWithTheExplicitMask) {
  const bool return_sequences = GetParam();
  xgrad::manual_seed(8);
  auto bi = std::make_shared<Bidirectional<double>>(SimpleRNNOptions(3).return_sequences(return_sequences));
  Sequential<double> model({std::make_shared<Masking<double>>(), bi});
  const Array<double> x = padded_input();
  const Variable<double> y = model(Variable<double>(x));
  const Variable<double> expected =
      (*bi)(Variable<double>(x), BidirectionalCall<double>().mask(mask_of(x)));
  expect_array_near(y.value(), expected.value(), kTol);
  EXPECT_TRUE(differs(y.value(), (*bi)(Variable<double>(x)).value()));
}

INSTANTIATE_TEST_SUITE_P(ReturnSequences, MaskingThenBidirectional, ::testing::Bool());

TEST(SequentialMasks, BidirectionalWithReturnSequencesPassesTheMaskOn) {
  xgrad::manual_seed(9);
  auto bi = std::make_shared<Bidirectional<double>>(SimpleRNNOptions(3).return_sequences(true));
  auto rnn = std::make_shared<SimpleRNN<double>>(SimpleRNNOptions(2));
  Sequential<double> model({std::make_shared<Masking<double>>(), bi, rnn});
  const Array<double> x = padded_input();
  const xt::xarray<bool> m = mask_of(x);
  const Variable<double> h = (*bi)(Variable<double>(x), BidirectionalCall<double>().mask(m));
  expect_array_near(model(Variable<double>(x)).value(),
                    (*rnn)(h, SimpleRNNCall<double>().mask(m)).value(), kTol);
}

TEST(SequentialMasks, WithoutMaskingLayersOutputsAreUnchanged) {
  xgrad::manual_seed(10);
  auto rnn1 = std::make_shared<SimpleRNN<double>>(SimpleRNNOptions(4).return_sequences(true));
  auto rnn2 = std::make_shared<SimpleRNN<double>>(SimpleRNNOptions(3));
  auto dense = std::make_shared<Dense<double>>(DenseOptions(2));
  Sequential<double> model({rnn1, rnn2, dense});
  const Array<double> x = padded_input();
  const Variable<double> expected = (*dense)((*rnn2)((*rnn1)(Variable<double>(x))));
  expect_array_near(model(Variable<double>(x)).value(), expected.value(), 0.0);
}

TEST(SequentialMasks, GradcheckThroughMaskingAndRNNKernel) {
  xgrad::manual_seed(11);
  auto rnn = std::make_shared<SimpleRNN<double>>(SimpleRNNOptions(3).return_sequences(true));
  Sequential<double> model({std::make_shared<Masking<double>>(), rnn});
  const Variable<double> x(padded_input());
  model(x);  // builds the RNN
  EXPECT_TRUE(gradcheck_passes_nonempty(
      [&](const std::vector<Variable<double>>&) { return model(x); }, {rnn->kernel()}));
  // And the masked model's kernel gradient is the explicit-mask one's.
  const xt::xarray<bool> m = mask_of(x.value());
  auto f = [&](const std::vector<Variable<double>>&) {
    return (*rnn)(x, SimpleRNNCall<double>().mask(m));
  };
  EXPECT_TRUE(gradcheck_passes_nonempty(f, {rnn->kernel()}));
}

}  // namespace
