// Embedding: the gather, its scatter-add backward (gradcheck and exact
// accumulation of repeated tokens), Keras' "uniform" initialisation,
// mask_zero, weights, and the errors for bad tokens and shapes.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <xtensor/xmath.hpp>

#include "test_helpers.hpp"
#include "xgrad/autograd/gradcheck.hpp"
#include "xgrad/autograd/math_ops.hpp"
#include "xgrad/autograd/ops.hpp"
#include "xgrad/autograd/variable.hpp"
#include "xgrad/nn/dense.hpp"
#include "xgrad/nn/embedding.hpp"
#include "xgrad/nn/sequential.hpp"
#include "xgrad/tensor/tensor.hpp"

namespace {

namespace nn = xgrad::nn;
using xgrad::Array;
using xgrad::Shape;
using xgrad::Variable;
using xgrad::test::shape_is;
using xgrad::test::throws_with;
using Tokens = xt::xarray<std::int64_t>;

// A [1, 1] batch of one token ({{t}} is ambiguous to xtensor's constructors).
Tokens one_token(std::int64_t token) {
  Tokens out = Tokens::from_shape({1, 1});
  out(0, 0) = token;
  return out;
}

// A [V, D] table whose entry (v, d) is 10 v + d: every row is recognisable.
Array<double> numbered_table(std::size_t vocabulary, std::size_t width) {
  Array<double> table = Array<double>::from_shape({vocabulary, width});
  for (std::size_t v = 0; v < vocabulary; ++v)
    for (std::size_t d = 0; d < width; ++d) table(v, d) = 10.0 * v + d;
  return table;
}

TEST(Embedding, GathersTheRowOfEachToken) {
  nn::Embedding<double> layer(nn::EmbeddingOptions(5, 3));
  layer.set_weights({numbered_table(5, 3)});
  const Tokens tokens = {{1, 0, 4}, {2, 2, 3}};
  const Variable<double> y = layer(tokens);
  ASSERT_TRUE(shape_is(y.value(), {2, 3, 3}));
  for (std::size_t b = 0; b < 2; ++b)
    for (std::size_t t = 0; t < 3; ++t)
      for (std::size_t d = 0; d < 3; ++d)
        EXPECT_EQ(y.value()(b, t, d), 10.0 * tokens(b, t) + d) << "b " << b << " t " << t;
}

TEST(Embedding, TokensOfAnyShapeGainAnAxisOfOutputDim) {
  nn::Embedding<double> layer(nn::EmbeddingOptions(5, 2));
  layer.set_weights({numbered_table(5, 2)});
  const Variable<double> flat = layer(Tokens{3, 1, 4});
  ASSERT_TRUE(shape_is(flat.value(), {3, 2}));
  EXPECT_EQ(flat.value()(2, 1), 41.0);
  Tokens cube = Tokens::from_shape({2, 2, 2});
  for (std::size_t i = 0; i < cube.size(); ++i) cube.flat(i) = static_cast<std::int64_t>(i % 5);
  const Variable<double> y = layer(cube);
  ASSERT_TRUE(shape_is(y.value(), {2, 2, 2, 2}));
  EXPECT_EQ(y.value()(1, 1, 1, 0), 20.0);  // flat position 7 holds token 2
}

TEST(Embedding, InitialisesLikeKerasUniformOnFirstUse) {
  xgrad::manual_seed(3);
  nn::Embedding<float> layer(nn::EmbeddingOptions(200, 50));
  EXPECT_FALSE(layer.built());
  EXPECT_TRUE(throws_with<std::logic_error>([&] { layer.weights(); }, {"Embedding 'embedding'", "build"}));
  layer(one_token(0));
  ASSERT_TRUE(layer.built());
  const Array<float> table = layer.weights().at(0);
  ASSERT_TRUE(shape_is(table, {200, 50}));
  const auto [low, high] = std::minmax_element(table.begin(), table.end());
  // RandomUniform(-0.05, 0.05): inside the interval, and 10,000 draws come
  // within 0.001 of both ends (each end is missed by all with probability
  // (1 - 0.01)^10000, about 2e-44).
  EXPECT_GE(*low, -0.05f);
  EXPECT_LT(*high, 0.05f);
  EXPECT_LT(*low, -0.049f);
  EXPECT_GT(*high, 0.049f);

  const auto named = layer.named_parameters();
  ASSERT_EQ(named.size(), 1u);
  EXPECT_EQ(named[0].first, "embeddings");
  EXPECT_TRUE(named[0].second.requires_grad());
  EXPECT_TRUE(named[0].second.same_node(layer.embeddings()));
}

TEST(Embedding, GradcheckOfTheEmbeddingsThroughALoss) {
  xgrad::manual_seed(11);
  nn::Embedding<double> layer(nn::EmbeddingOptions(6, 3));
  layer.build();
  // Repeats (2 and 5 twice), an unused row (1), and a nonlinear loss so that
  // each row's gradient depends on where its token occurs.
  const Tokens tokens = {{2, 5, 0, 2}, {3, 5, 4, 2}};
  const Variable<double> weight(xgrad::uniform<double>({2, 4, 3}, -1.0, 1.0));
  Variable<double> table = layer.embeddings();
  table.value() = xgrad::uniform<double>({6, 3}, -1.0, 1.0);  // larger than +-0.05: a real test
  const auto loss = [&layer, tokens, weight](const std::vector<Variable<double>>&) {
    // The layer reads the very node gradcheck perturbs: layer.embeddings().
    return xgrad::sum(xgrad::mul(xgrad::tanh(layer(tokens)), weight));
  };
  const xgrad::GradcheckResult result = xgrad::gradcheck(loss, {table});
  EXPECT_TRUE(result.passed) << result.summary();
  EXPECT_EQ(result.entries_checked, 18u);
}

TEST(Embedding, RepeatedTokensAccumulateTheirGradients) {
  nn::Embedding<double> layer(nn::EmbeddingOptions(4, 2));
  layer.set_weights({numbered_table(4, 2)});
  const Tokens tokens = {{1, 3, 1}, {1, 0, 3}};
  Variable<double> y = layer(tokens);
  // Upstream gradient (b, t, d) -> 100 b + 10 t + d, so sums are traceable.
  Array<double> g = Array<double>::from_shape({2, 3, 2});
  for (std::size_t b = 0; b < 2; ++b)
    for (std::size_t t = 0; t < 3; ++t)
      for (std::size_t d = 0; d < 2; ++d) g(b, t, d) = 100.0 * b + 10.0 * t + d;
  y.backward(g);
  const Array<double>& grad = layer.embeddings().grad();
  ASSERT_TRUE(shape_is(grad, {4, 2}));
  for (std::size_t d = 0; d < 2; ++d) {
    EXPECT_EQ(grad(0, d), g(1, 1, d));
    EXPECT_EQ(grad(1, d), g(0, 0, d) + g(0, 2, d) + g(1, 0, d));  // three occurrences
    EXPECT_EQ(grad(2, d), 0.0);                                   // never used
    EXPECT_EQ(grad(3, d), g(0, 1, d) + g(1, 2, d));
  }
  // A second pass adds to the first, as every gradient in xgrad does.
  const Array<double> g2 = {{{5.0, 6.0}}};
  layer(one_token(2)).backward(g2);
  EXPECT_EQ(layer.embeddings().grad()(2, 1), 6.0);
  EXPECT_EQ(layer.embeddings().grad()(1, 0), g(0, 0, 0) + g(0, 2, 0) + g(1, 0, 0));
}

TEST(Embedding, RecordsNoGraphUnderNoGradGuard) {
  nn::Embedding<double> layer(nn::EmbeddingOptions(3, 2));
  xgrad::NoGradGuard no_grad;
  const Variable<double> y = layer(Tokens{{1, 2}});
  EXPECT_FALSE(y.requires_grad());
  EXPECT_TRUE(y.is_leaf());
}

TEST(Embedding, MaskZeroMasksPaddingTokens) {
  nn::Embedding<float> masked(nn::EmbeddingOptions(10, 4).mask_zero(true));
  const Tokens tokens = {{5, 3, 0, 0}, {0, 9, 1, 0}};
  const xt::xarray<bool> mask = masked.compute_mask(tokens);
  ASSERT_TRUE(shape_is(mask, {2, 4}));
  const bool expected[2][4] = {{true, true, false, false}, {false, true, true, false}};
  for (std::size_t b = 0; b < 2; ++b)
    for (std::size_t t = 0; t < 4; ++t) EXPECT_EQ(mask(b, t), expected[b][t]) << b << ", " << t;
  // Index 0 keeps its row (input_dim = vocabulary + 1): padding is embedded
  // like any token and masked downstream.
  EXPECT_TRUE(shape_is(masked(tokens).value(), {2, 4, 4}));

  // Without mask_zero, Keras returns no mask: nothing is masked.
  nn::Embedding<float> plain(nn::EmbeddingOptions(10, 4));
  const xt::xarray<bool> none = plain.compute_mask(tokens);
  ASSERT_TRUE(shape_is(none, {2, 4}));
  EXPECT_TRUE(std::all_of(none.begin(), none.end(), [](bool keep) { return keep; }));
}

TEST(Embedding, BadTokensNameTheTokenItsPositionAndInputDim) {
  nn::Embedding<float> layer(nn::EmbeddingOptions(5, 2).name("words"));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { layer(Tokens{{1, 2}, {4, 5}}); },
      {"Embedding 'words'", "token 5", "position (1, 1)", "input_dim 5"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { layer(Tokens{{0, -1, 2}}); },
                                                 {"token -1", "position (0, 1)", "input_dim 5"}));
  // Token ids held as floats (Sequential's input) must be whole numbers.
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { layer(Variable<float>(Array<float>{{1.0f, 2.5f}})); },
      {"Embedding 'words'", "token 2.5", "position (0, 1)", "not an integer"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { layer(Variable<float>(xt::cast<float>(one_token(7)))); }, {"token 7", "input_dim 5"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [] { nn::Embedding<float> empty(nn::EmbeddingOptions(0, 2)); }, {"input_dim", "positive"}));
}

TEST(Embedding, SetWeightsChecksShapesAndDrawsNothing) {
  nn::Embedding<double> layer(nn::EmbeddingOptions(4, 3));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { layer.set_weights({xgrad::zeros<double>({3, 4})}); },
      {"Embedding 'embedding'", "expected shape (4, 3)", "got (3, 4)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { layer.set_weights({}); },
                                                 {"expects 1 array", "got 0"}));
  EXPECT_FALSE(layer.built());

  const xgrad::Generator before = xgrad::generator();
  layer.set_weights({numbered_table(4, 3)});
  EXPECT_TRUE(xgrad::generator() == before);  // the table was not drawn first
  ASSERT_TRUE(layer.built());
  EXPECT_EQ(layer.weights().at(0), numbered_table(4, 3));
  layer.set_weights({xgrad::ones<double>({4, 3})});  // built: updates the same parameter
  EXPECT_EQ(layer.parameters().at(0).value(), xgrad::ones<double>({4, 3}));
}

TEST(Embedding, HeadsASequentialOnTokenIdsHeldAsFloats) {
  auto embedding = std::make_shared<nn::Embedding<double>>(nn::EmbeddingOptions(6, 3));
  auto dense = std::make_shared<nn::Dense<double>>(nn::DenseOptions(2));
  nn::Sequential<double> model({embedding, dense});
  const Tokens ids = {{1, 4, 0}, {5, 5, 2}};
  const Variable<double> y = model(Variable<double>(xt::cast<double>(ids)));
  ASSERT_TRUE(shape_is(y.value(), {2, 3, 2}));
  // The same as the integer path followed by the Dense layer.
  const Variable<double> direct = (*dense)((*embedding)(ids));
  EXPECT_TRUE(xt::allclose(y.value(), direct.value()));
  EXPECT_EQ(model.layer_names(), (std::vector<std::string>{"embedding", "dense"}));
}

}  // namespace
