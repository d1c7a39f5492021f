// Tests of the Keras-style losses: forward values against NumPy 1.24
// (Debian's /usr/bin/python3, `import numpy as np`, the expression quoted
// above each golden value), gradients against central differences in float64
// with gradcheck's default tolerances, stability for logits of +-1e4, and
// every shape and label check.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_helpers.hpp"
#include "xgrad/autograd/gradcheck.hpp"
#include "xgrad/autograd/math_ops.hpp"
#include "xgrad/autograd/ops.hpp"
#include "xgrad/nn/losses.hpp"
#include "xgrad/nn/trainer.hpp"
#include "xgrad/tensor/tensor.hpp"

namespace {

using xgrad::Array;
using xgrad::Variable;
using V = Variable<double>;
using Inputs = std::vector<V>;
using Labels = xt::xarray<std::int64_t>;
using xgrad::test::expect_all_finite;
using xgrad::test::expect_array_near;
using xgrad::test::gradcheck_passes_nonempty;
using xgrad::test::seeded_random_variable;
using xgrad::test::throws_with;

// ---------------------------------------------------------------- mean_squared_error

TEST(MeanSquaredError, Forward) {
  // np.mean((np.array([[1.,2],[3,4]]) - np.array([[1.,0],[0,4]]))**2) -> 3.25
  const V loss = xgrad::nn::mean_squared_error(V(Array<double>{{1., 2.}, {3., 4.}}),
                                               V(Array<double>{{1., 0.}, {0., 4.}}));
  EXPECT_EQ(loss.dimension(), 0u);
  EXPECT_DOUBLE_EQ(loss.value()(), 3.25);
}

TEST(MeanSquaredError, GradientIsTwiceTheErrorOverSize) {
  V pred(Array<double>{{1., 2.}, {3., 4.}}, true);
  xgrad::nn::mean_squared_error(pred, V(Array<double>{{1., 0.}, {0., 4.}})).backward();
  // 2 * (pred - true) / 4
  expect_array_near(pred.grad(), Array<double>{{0., 1.}, {1.5, 0.}}, 1e-15);
}

TEST(MeanSquaredError, GradcheckBothInputsSeveralShapes) {
  auto mse = [](const Inputs& in) { return xgrad::nn::mean_squared_error(in[0], in[1]); };
  EXPECT_TRUE(gradcheck_passes_nonempty(mse, {seeded_random_variable({4}, 1, -2.0, 2.0),
                                              seeded_random_variable({4}, 2, -2.0, 2.0)}));
  EXPECT_TRUE(gradcheck_passes_nonempty(mse, {seeded_random_variable({2, 3}, 3, -2.0, 2.0),
                                              seeded_random_variable({2, 3}, 4, -2.0, 2.0)}));
  EXPECT_TRUE(gradcheck_passes_nonempty(mse, {seeded_random_variable({2, 3, 2}, 5, -2.0, 2.0),
                                              seeded_random_variable({2, 3, 2}, 6, -2.0, 2.0)}));
}

TEST(MeanSquaredError, ShapeMismatchThrows) {
  const V a(xgrad::zeros<double>({2, 3}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { xgrad::nn::mean_squared_error(a, V(xgrad::zeros<double>({3, 2}))); },
      {"mean_squared_error", "(2, 3)", "(3, 2)"}));
  // No silent broadcasting of a [N, 1] target against [N, K] predictions.
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { xgrad::nn::mean_squared_error(a, V(xgrad::zeros<double>({2, 1}))); },
      {"mean_squared_error", "(2, 3)", "(2, 1)"}));
}

TEST(MeanSquaredError, StableForHugeValues) {
  Variable<float> pred(Array<float>{1e4f, -1e4f}, true);
  Variable<float> loss =
      xgrad::nn::mean_squared_error(pred, Variable<float>(Array<float>{0.f, 0.f}));
  EXPECT_FLOAT_EQ(loss.value()(), 1e8f);
  loss.backward();
  expect_array_near(pred.grad(), Array<float>{1e4f, -1e4f}, 0.0);
}

// ---------------------------------------------------------------- binary_crossentropy_from_logits

// The same loss composed from primitives, the reference for the fused kernel:
// relu(x) - x z + log(1 + exp(-(relu(x) + relu(-x)))).
V composed_bce(const V& x, const V& z) {
  const V one(Array<double>(1.0));
  const V abs_x = xgrad::relu(x) + xgrad::relu(-x);
  return xgrad::mean(xgrad::relu(x) - x * z + xgrad::log(one + xgrad::exp(-abs_x)));
}

TEST(BinaryCrossentropy, Forward) {
  // x = np.array([[-2.,0.5],[3,-0.1]]); z = np.array([[0.,1],[1,0.3]])
  // np.mean(np.maximum(x,0) - x*z + np.log1p(np.exp(-np.abs(x)))) -> 0.33099725171759803
  // (the textbook -(z log s + (1-z) log(1-s)), s = 1/(1+np.exp(-x)), gives 0.330997251717598)
  const V x(Array<double>{{-2., 0.5}, {3., -0.1}});
  const V z(Array<double>{{0., 1.}, {1., 0.3}});
  const V loss = xgrad::nn::binary_crossentropy_from_logits(x, z);
  EXPECT_EQ(loss.dimension(), 0u);
  EXPECT_NEAR(loss.value()(), 0.33099725171759803, 1e-15);
}

TEST(BinaryCrossentropy, MatchesComposedReference) {
  V x = seeded_random_variable({3, 4}, 10, -4.0, 4.0);
  V z = seeded_random_variable({3, 4}, 11, 0.0, 1.0);
  V fused = xgrad::nn::binary_crossentropy_from_logits(x, z);
  V composed = composed_bce(x, z);
  EXPECT_NEAR(fused.value()(), composed.value()(), 1e-14);
  fused.backward();
  const Array<double> fused_dx = x.grad(), fused_dz = z.grad();
  x.zero_grad();
  z.zero_grad();
  composed.backward();
  expect_array_near(fused_dx, x.grad(), 1e-15);
  expect_array_near(fused_dz, z.grad(), 1e-15);
}

TEST(BinaryCrossentropy, GradcheckLogitsAndTargets) {
  auto bce = [](const Inputs& in) {
    return xgrad::nn::binary_crossentropy_from_logits(in[0], in[1]);
  };
  EXPECT_TRUE(gradcheck_passes_nonempty(bce, {seeded_random_variable({5}, 12, -4.0, 4.0),
                                              seeded_random_variable({5}, 13, 0.0, 1.0)}));
  EXPECT_TRUE(gradcheck_passes_nonempty(bce, {seeded_random_variable({2, 3}, 14, -4.0, 4.0),
                                              seeded_random_variable({2, 3}, 15, 0.0, 1.0)}));
  EXPECT_TRUE(gradcheck_passes_nonempty(bce, {seeded_random_variable({2, 2, 3}, 16, -4.0, 4.0),
                                              seeded_random_variable({2, 2, 3}, 17, 0.0, 1.0)}));
}

TEST(BinaryCrossentropy, StableForHugeLogits) {
  // Per element max(x,0) - x z + log1p(exp(-|x|)): [0, 0, 1e4, 1e4] -> mean 5000;
  // gradient (sigmoid(x) - z) / 4 = [0, 0, 0.25, -0.25].
  V x(Array<double>{1e4, -1e4, 1e4, -1e4}, true);
  const V z(Array<double>{1., 0., 0., 1.});
  V loss = xgrad::nn::binary_crossentropy_from_logits(x, z);
  EXPECT_DOUBLE_EQ(loss.value()(), 5000.0);
  loss.backward();
  expect_array_near(x.grad(), Array<double>{0., 0., 0.25, -0.25}, 0.0);

  Variable<float> xf(Array<float>{1e4f, -1e4f, 1e4f, -1e4f}, true);
  Variable<float> lossf = xgrad::nn::binary_crossentropy_from_logits(
      xf, Variable<float>(Array<float>{1.f, 0.f, 0.f, 1.f}));
  EXPECT_FLOAT_EQ(lossf.value()(), 5000.f);
  lossf.backward();
  expect_all_finite(xf.grad());
  expect_array_near(xf.grad(), Array<float>{0.f, 0.f, 0.25f, -0.25f}, 0.0);
}

TEST(BinaryCrossentropy, ShapeMismatchThrows) {
  const V x(xgrad::zeros<double>({4, 2}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { xgrad::nn::binary_crossentropy_from_logits(x, V(xgrad::zeros<double>({4}))); },
      {"binary_crossentropy_from_logits", "(4, 2)", "(4,)"}));
  // Only one trailing axis of 1 is squeezed, as Keras' losses do.
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { xgrad::nn::binary_crossentropy_from_logits(V(xgrad::zeros<double>({4, 1, 1})), V(xgrad::zeros<double>({4}))); },
      {"binary_crossentropy_from_logits", "(4, 1, 1)", "(4,)"}));
}

// Keras' losses squeeze a trailing axis of 1 before comparing (its
// squeeze_or_expand_to_same_rank): targets [N] against a Dense(1) output
// [N, 1] give the loss and gradients of targets [N, 1], in either order.
TEST(Losses, ATrailingAxisOfOneIsSqueezedAsKerasDoes) {
  const Array<double> pred = xgrad::test::seeded_random_variable({5, 1}, 11, -2.0, 2.0).value();
  const Array<double> target = xgrad::test::seeded_random_variable({5, 1}, 12, 0.0, 1.0).value();
  const Array<double> flat = xgrad::reshaped(target, {5});
  for (const auto& loss : {xgrad::nn::mean_squared_error<double>, xgrad::nn::binary_crossentropy_from_logits<double>}) {
    V same(pred, true), squeezed(pred, true);
    V expected = loss(same, V(target));
    V got = loss(squeezed, V(flat));
    EXPECT_EQ(got.value()(), expected.value()());
    expected.backward();
    got.backward();
    EXPECT_EQ(squeezed.grad(), same.grad());  // [5, 1], as the predictions
    // The targets with the axis, the predictions without it.
    V flat_pred(xgrad::reshaped(pred, {5}), true);
    V other = loss(flat_pred, V(target));
    EXPECT_EQ(other.value()(), expected.value()());
    other.backward();
    EXPECT_EQ(flat_pred.grad(), xgrad::reshaped(same.grad(), {5}));
    EXPECT_TRUE(gradcheck_passes_nonempty([&](const Inputs& in) { return loss(in[0], in[1]); },
                                          {seeded_random_variable({3, 1}, 13, -2.0, 2.0),
                                           seeded_random_variable({3}, 14, 0.1, 0.9)}));
  }
}

// ---------------------------------------------------------------- sparse_categorical_crossentropy

const auto scce = [](const auto& logits, const auto& labels) {
  return xgrad::nn::sparse_categorical_crossentropy_from_logits(logits, labels);
};

TEST(SparseCategoricalCrossentropy, Forward) {
  // x = np.array([[2.,1,0.1],[0.5,2.5,0.3]]); m = x.max(1, keepdims=True)
  // l = x - m - np.log(np.exp(x - m).sum(1, keepdims=True)); -np.mean(l[np.arange(2), [0,1]])
  // -> 0.3185397696491856
  const V x(Array<double>{{2., 1., 0.1}, {0.5, 2.5, 0.3}});
  const V loss = scce(x, Labels{0, 1});
  EXPECT_EQ(loss.dimension(), 0u);
  EXPECT_NEAR(loss.value()(), 0.3185397696491856, 1e-15);
  EXPECT_EQ(scce(x, std::vector<std::int64_t>{0, 1}).value()(), loss.value()());
  EXPECT_EQ(scce(x, xt::xarray<std::int32_t>{0, 1}).value()(), loss.value()());  // Keras takes int32 too
}

TEST(SparseCategoricalCrossentropy, GradientIsSoftmaxMinusOneHotOverN) {
  V x(Array<double>{{2., 1., 0.1}, {0.5, 2.5, 0.3}}, true);
  scce(x, Labels{0, 1}).backward();
  // e = np.exp(x - m); (e / e.sum(1, keepdims=True) - np.eye(3)[[0, 1]]) / 2
  expect_array_near(x.grad(),
                    Array<double>{{-0.17049943055701605, 0.12121648535235698, 0.04928294520465909},
                                  {0.05430186515350618, -0.09876047210417532, 0.04445860695066914}},
                    1e-15);
}

TEST(SparseCategoricalCrossentropy, SequenceLogitsAverageOverEveryTimestep) {
  // [B, T, C] with labels [B, T] is the same as the [B*T, C] flattening.
  const V x = seeded_random_variable({2, 3, 4}, 20, -3.0, 3.0);
  const Labels labels = {{0, 3, 1}, {2, 2, 0}};
  const V flat = xgrad::reshape(x, {6, 4});
  EXPECT_NEAR(scce(x, labels).value()(),
              scce(flat, std::vector<std::int64_t>{0, 3, 1, 2, 2, 0}).value()(), 1e-15);
}

TEST(SparseCategoricalCrossentropy, GradcheckTwoAndThreeDimensional) {
  const Labels labels_2d = {1, 0, 2, 2};
  EXPECT_TRUE(gradcheck_passes_nonempty(
      [&](const Inputs& in) { return scce(in[0], labels_2d); },
      {seeded_random_variable({4, 3}, 21, -3.0, 3.0)}));
  const Labels labels_3d = {{0, 3, 1}, {2, 2, 0}};
  EXPECT_TRUE(gradcheck_passes_nonempty(
      [&](const Inputs& in) { return scce(in[0], labels_3d); },
      {seeded_random_variable({2, 3, 4}, 22, -3.0, 3.0)}));
  const std::vector<std::int64_t> labels_vector = {1, 1};
  EXPECT_TRUE(gradcheck_passes_nonempty(
      [&](const Inputs& in) { return scce(in[0], labels_vector); },
      {seeded_random_variable({2, 5}, 23, -3.0, 3.0)}));
}

TEST(SparseCategoricalCrossentropy, StableForHugeLogits) {
  // Per sample -log_softmax(x)[label]: [0, 2e4] -> mean 1e4; gradient
  // (softmax - onehot) / 2 = [[0, 0, 0], [0.5, 0, -0.5]].
  V x(Array<double>{{1e4, 0., -1e4}, {1e4, 0., -1e4}}, true);
  V loss = scce(x, Labels{0, 2});
  EXPECT_DOUBLE_EQ(loss.value()(), 1e4);
  loss.backward();
  expect_array_near(x.grad(), Array<double>{{0., 0., 0.}, {0.5, 0., -0.5}}, 0.0);

  Variable<float> xf(Array<float>{{-1e4f, 1e4f}, {1e4f, -1e4f}}, true);
  Variable<float> lossf = scce(xf, Labels{0, 0});
  EXPECT_FLOAT_EQ(lossf.value()(), 1e4f);
  lossf.backward();
  expect_all_finite(xf.grad());
  expect_array_near(xf.grad(), Array<float>{{-0.5f, 0.5f}, {0.f, 0.f}}, 0.0);
}

TEST(SparseCategoricalCrossentropy, LabelOutOfRangeThrows) {
  const V x(xgrad::zeros<double>({3, 4}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { scce(x, Labels{0, 4, 1}); },
      {"sparse_categorical_crossentropy_from_logits", "label 4", "4 classes"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { scce(x, std::vector<std::int64_t>{0, 1, -1}); },
      {"sparse_categorical_crossentropy_from_logits", "label -1", "4 classes"}));
}

TEST(SparseCategoricalCrossentropy, ShapeMismatchThrows) {
  const char* op = "sparse_categorical_crossentropy_from_logits";
  const V x(xgrad::zeros<double>({4, 3}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { scce(x, Labels{0, 1, 2}); },
      {op, "(4, 3)", "(3,)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { scce(x, Labels{{0, 1, 2}, {0, 1, 2}, {0, 1, 2}, {0, 1, 2}}); },
      {op, "(4, 3)", "(4, 3)"}));
  const V seq(xgrad::zeros<double>({2, 3, 4}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { scce(seq, Labels{{0, 1}, {0, 1}}); },
      {op, "(2, 3, 4)", "(2, 2)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { scce(seq, std::vector<std::int64_t>{0, 1}); },
      {op, "(2, 3, 4)", "(2,)"}));
  const V empty(xgrad::zeros<double>({0, 3}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { scce(empty, std::vector<std::int64_t>{}); },
      {op, "(0,)", "no elements", "empty batch"}));
}

// ---------------------------------------------------------------- every loss

// An empty batch: each loss says it is the one that cannot take it (not the
// "mean" inside it), called directly and by name through nn::Loss as
// Trainer calls it.
TEST(Losses, EmptyBatchErrorsNameTheLoss) {
  const V empty_column(xgrad::zeros<double>({0, 1}));
  const V empty_logits(xgrad::zeros<double>({0, 3}));
  const V no_labels(xgrad::zeros<double>({0}));
  const auto names_loss_not_mean = [](const auto& call, const std::string& loss,
                                      const std::string& shape) {
    return throws_with<std::invalid_argument>(call, {loss + ": ", shape, "empty batch"});
  };
  EXPECT_TRUE(names_loss_not_mean(
      [&] { xgrad::nn::mean_squared_error(empty_column, empty_column); }, "mean_squared_error",
      "(0, 1)"));
  EXPECT_TRUE(names_loss_not_mean(
      [&] { xgrad::nn::binary_crossentropy_from_logits(empty_column, empty_column); },
      "binary_crossentropy_from_logits", "(0, 1)"));
  // Made outside the lambda: built inside, GCC 12 warned of xtensor's
  // shape as maybe uninitialized once the lambda was inlined.
  const Labels no_int_labels = xt::zeros<std::int64_t>({std::size_t(0)});
  EXPECT_TRUE(names_loss_not_mean([&] { scce(empty_logits, no_int_labels); },
                                  "sparse_categorical_crossentropy_from_logits", "(0,)"));
  EXPECT_TRUE(names_loss_not_mean(
      [&] { xgrad::nn::Loss<double>("mse")(empty_column, empty_column); }, "mean_squared_error",
      "(0, 1)"));
  EXPECT_TRUE(names_loss_not_mean(
      [&] { xgrad::nn::Loss<double>("binary_crossentropy_from_logits")(empty_column, empty_column); },
      "binary_crossentropy_from_logits", "(0, 1)"));
  EXPECT_TRUE(names_loss_not_mean(
      [&] {
        xgrad::nn::Loss<double>("sparse_categorical_crossentropy_from_logits")(empty_logits,
                                                                              no_labels);
      },
      "sparse_categorical_crossentropy_from_logits", "(0,)"));
  // A [B, 0] prediction is empty too, with a batch.
  const V no_features(xgrad::zeros<double>({4, 0}));
  EXPECT_TRUE(names_loss_not_mean(
      [&] { xgrad::nn::mean_squared_error(no_features, no_features); }, "mean_squared_error",
      "(4, 0)"));
}

// ------------------------------------------ the from_logits=False forms
// Keras' defaults: probabilities clipped to [1e-7, 1 - 1e-7] before the log.

TEST(BinaryCrossentropyProbabilities, ForwardWithKerasClip) {
  // p = np.array([[0.1,0.8],[1.0,0.0]]); z = np.array([[0.,1],[1,0.3]]); pc = np.clip(p,1e-7,1-1e-7)
  // np.mean(-(z*np.log(pc)+(1-z)*np.log(1-pc))) -> 1.2909832330648852
  V p(Array<double>{{0.1, 0.8}, {1.0, 0.0}}, true);
  const V z(Array<double>{{0., 1.}, {1., 0.3}});
  V loss = xgrad::nn::binary_crossentropy(p, z);
  EXPECT_EQ(loss.dimension(), 0u);
  EXPECT_NEAR(loss.value()(), 1.2909832330648852, 1e-12);
  EXPECT_NEAR(xgrad::nn::Loss<double>("binary_crossentropy")(p, z).value()(), loss.value()(), 0.0);
  // Clipped predictions (1.0 and 0.0) get no gradient; the others
  // (−z/p + (1 − z)/(1 − p)) / 4.
  loss.backward();
  expect_array_near(p.grad(), Array<double>{{(1.0 / 0.9) / 4.0, (-1.0 / 0.8) / 4.0}, {0.0, 0.0}}, 1e-15);
}

TEST(BinaryCrossentropyProbabilities, MatchesFromLogitsOnSigmoidAndGradcheck) {
  const V x = seeded_random_variable({3, 4}, 40, -4.0, 4.0);
  const V z = seeded_random_variable({3, 4}, 41, 0.0, 1.0);
  EXPECT_NEAR(xgrad::nn::binary_crossentropy(xgrad::sigmoid(x), z).value()(),
              xgrad::nn::binary_crossentropy_from_logits(x, z).value()(), 1e-12);
  EXPECT_TRUE(gradcheck_passes_nonempty(
      [](const Inputs& in) { return xgrad::nn::binary_crossentropy(in[0], in[1]); },
      {seeded_random_variable({2, 3}, 42, 0.05, 0.95), seeded_random_variable({2, 3}, 43, 0.0, 1.0)}));
  // Targets [N] for predictions [N, 1], as the other losses.
  const V p = seeded_random_variable({4, 1}, 44, 0.1, 0.9);
  const V t(Array<double>{0.0, 1.0, 1.0, 0.0});
  EXPECT_EQ(xgrad::nn::binary_crossentropy(p, t).value()(),
            xgrad::nn::binary_crossentropy(p, xgrad::reshape(t, {4, 1})).value()());
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { xgrad::nn::binary_crossentropy(p, xgrad::reshape(V(Array<double>{0.0, 1.0}), {1, 2})); },
      {"binary_crossentropy", "(4, 1)", "(1, 2)"}));
}

TEST(SparseCategoricalCrossentropyProbabilities, ForwardNormalisesAndClips) {
  // q = np.array([[0.2,0.3,0.5],[0.0,2.0,2.0]]); qn = q/q.sum(1,keepdims=True)
  // -np.mean(np.log(np.clip(qn,1e-7,1-1e-7))[np.arange(2),[2,0]]) -> 8.405621415759132
  V q(Array<double>{{0.2, 0.3, 0.5}, {0.0, 2.0, 2.0}}, true);
  V loss = xgrad::nn::sparse_categorical_crossentropy(q, Labels{2, 0});
  EXPECT_NEAR(loss.value()(), 8.405621415759132, 1e-12);
  loss.backward();
  expect_all_finite(q.grad());
  // Through fit's name, with labels as floats [N] or [N, 1].
  EXPECT_NEAR(xgrad::nn::Loss<double>("sparse_categorical_crossentropy")(q, xgrad::reshape(V(Array<double>{2.0, 0.0}), {2, 1})).value()(),
              loss.value()(), 0.0);
}

TEST(SparseCategoricalCrossentropyProbabilities, MatchesFromLogitsOnSoftmaxAndGradcheck) {
  const V x = seeded_random_variable({2, 3, 4}, 45, -3.0, 3.0);
  const Labels labels = {{0, 3, 1}, {2, 2, 0}};
  EXPECT_NEAR(xgrad::nn::sparse_categorical_crossentropy(xgrad::softmax(x), labels).value()(),
              xgrad::nn::sparse_categorical_crossentropy_from_logits(x, labels).value()(), 1e-12);
  const Labels flat = {1, 0, 2, 2};
  EXPECT_TRUE(gradcheck_passes_nonempty(
      [&](const Inputs& in) { return xgrad::nn::sparse_categorical_crossentropy(in[0], flat); },
      {seeded_random_variable({4, 3}, 46, 0.05, 1.0)}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { xgrad::nn::sparse_categorical_crossentropy(seeded_random_variable({4, 3}, 47, 0.0, 1.0), Labels{1, 3, 0, 0}); },
      {"sparse_categorical_crossentropy", "label 3", "3 classes", "probabilities", "(4, 3)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { xgrad::nn::sparse_categorical_crossentropy(seeded_random_variable({4, 3}, 48, 0.0, 1.0), Labels{1, 2}); },
      {"sparse_categorical_crossentropy", "(4, 3)", "(2,)"}));
}

// ------------------------------------------ categorical_crossentropy (one-hot or soft targets)

TEST(CategoricalCrossentropyProbabilities, ForwardNormalisesAndClips) {
  // q = np.array([[0.2,0.3,0.5],[0.0,2.0,2.0]]); z = np.array([[0.1,0.2,0.7],[0.5,0.25,0.25]])
  // qn = q/q.sum(1,keepdims=True); -np.mean(np.sum(z*np.log(np.clip(qn,1e-7,1-1e-7)),1)) -> 4.6462813971298464
  V q(Array<double>{{0.2, 0.3, 0.5}, {0.0, 2.0, 2.0}}, true);
  const V z(Array<double>{{0.1, 0.2, 0.7}, {0.5, 0.25, 0.25}});
  V loss = xgrad::nn::categorical_crossentropy(q, z);
  EXPECT_EQ(loss.dimension(), 0u);
  EXPECT_NEAR(loss.value()(), 4.6462813971298464, 1e-12);
  EXPECT_NEAR(xgrad::nn::Loss<double>("categorical_crossentropy")(q, z).value()(), loss.value()(), 0.0);
  loss.backward();
  expect_all_finite(q.grad());
  // One-hot targets give the sparse loss of their labels.
  const V one_hot(Array<double>{{0., 0., 1.}, {1., 0., 0.}});
  EXPECT_NEAR(xgrad::nn::categorical_crossentropy(q, one_hot).value()(),
              xgrad::nn::sparse_categorical_crossentropy(q, Labels{2, 0}).value()(), 1e-15);
}

TEST(CategoricalCrossentropyProbabilities, MatchesFromLogitsOnSoftmaxAndGradcheck) {
  const V x = seeded_random_variable({2, 3, 4}, 50, -3.0, 3.0);
  const V z = xgrad::softmax(seeded_random_variable({2, 3, 4}, 51, -1.0, 1.0), -1);
  EXPECT_NEAR(xgrad::nn::categorical_crossentropy(xgrad::softmax(x, -1), z).value()(),
              xgrad::nn::categorical_crossentropy_from_logits(x, z).value()(), 1e-12);
  EXPECT_TRUE(gradcheck_passes_nonempty(
      [](const Inputs& in) { return xgrad::nn::categorical_crossentropy(in[0], in[1]); },
      {seeded_random_variable({4, 3}, 52, 0.05, 1.0), seeded_random_variable({4, 3}, 53, 0.0, 1.0)}));
}

TEST(CategoricalCrossentropyFromLogits, OneHotIsTheSparseLossAndGradcheck) {
  const V x = seeded_random_variable({4, 3}, 54, -3.0, 3.0);
  const V one_hot(Array<double>{{0., 1., 0.}, {0., 0., 1.}, {1., 0., 0.}, {0., 0., 1.}});
  EXPECT_NEAR(xgrad::nn::categorical_crossentropy_from_logits(x, one_hot).value()(),
              xgrad::nn::sparse_categorical_crossentropy_from_logits(x, Labels{1, 2, 0, 2}).value()(), 1e-14);
  EXPECT_NEAR(xgrad::nn::Loss<double>("categorical_crossentropy_from_logits")(x, one_hot).value()(),
              xgrad::nn::categorical_crossentropy_from_logits(x, one_hot).value()(), 0.0);
  EXPECT_TRUE(gradcheck_passes_nonempty(
      [](const Inputs& in) { return xgrad::nn::categorical_crossentropy_from_logits(in[0], in[1]); },
      {seeded_random_variable({2, 2, 3}, 55, -2.0, 2.0), seeded_random_variable({2, 2, 3}, 56, 0.0, 1.0)}));
  // Logits of ±1e4 give a finite loss and gradient.
  V huge(Array<double>{{1e4, -1e4, 0.0}}, true);
  V loss = xgrad::nn::categorical_crossentropy_from_logits(huge, V(Array<double>{{0., 1., 0.}}));
  EXPECT_NEAR(loss.value()(), 2e4, 1e-9);
  loss.backward();
  expect_all_finite(huge.grad());
}

// Keras expands a [N] side to [N, 1] against [N, 1] (squeeze_or_expand_to_same_rank):
// one class per sample, never the N samples as the classes of one.
TEST(CategoricalCrossentropy, ATargetOfRankOneAgainstOneClassIsExpanded) {
  const V p = xgrad::reshape(V(Array<double>{0.2, 0.5, 0.9}), {3, 1});
  const V z(Array<double>{1.0, 1.0, 1.0});
  const V z_column = xgrad::reshape(z, {3, 1});
  // Each row normalises to 1, clipped to 1 − 1e-7: −log(1 − 1e-7) per sample.
  EXPECT_NEAR(xgrad::nn::categorical_crossentropy(p, z).value()(), -std::log1p(-1e-7), 1e-15);
  EXPECT_EQ(xgrad::nn::categorical_crossentropy(p, z).value()(),
            xgrad::nn::categorical_crossentropy(p, z_column).value()());
  EXPECT_EQ(xgrad::nn::categorical_crossentropy(xgrad::reshape(p, {3}), z_column).value()(),
            xgrad::nn::categorical_crossentropy(p, z_column).value()());
  EXPECT_EQ(xgrad::nn::categorical_crossentropy_from_logits(p, z).value()(), 0.0);
}

TEST(CategoricalCrossentropy, ShapeErrorsNameTheLossAndShapes) {
  const V p = seeded_random_variable({4, 3}, 57, 0.0, 1.0);
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { xgrad::nn::categorical_crossentropy(p, seeded_random_variable({4, 2}, 58, 0.0, 1.0)); },
      {"categorical_crossentropy", "(4, 3)", "(4, 2)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { xgrad::nn::categorical_crossentropy_from_logits(p, seeded_random_variable({3, 4}, 59, 0.0, 1.0)); },
      {"categorical_crossentropy_from_logits", "(4, 3)", "(3, 4)"}));
  const V scalar(Array<double>(2.0));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { xgrad::nn::categorical_crossentropy_from_logits(scalar, scalar); },
      {"categorical_crossentropy_from_logits", "()", "class axis"}));
  const V empty(xgrad::zeros<double>({0, 3}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { xgrad::nn::categorical_crossentropy(empty, empty); },
      {"categorical_crossentropy", "(0, 3)", "no elements"}));
}

// ---------------------------------------------------------------- mean_absolute_error

TEST(MeanAbsoluteError, ForwardGradientAndName) {
  // p = np.array([[0.5,-1.0],[2.0,2.0],[0.0,3.5]]); t = np.array([[1.0,1.0],[2.0,0.0],[0.0,-0.5]])
  // np.mean(np.abs(p-t)) -> 1.4166666666666667
  V p(Array<double>{{0.5, -1.0}, {2.0, 2.0}, {0.0, 3.5}}, true);
  const V t(Array<double>{{1.0, 1.0}, {2.0, 0.0}, {0.0, -0.5}});
  V loss = xgrad::nn::mean_absolute_error(p, t);
  EXPECT_NEAR(loss.value()(), 1.4166666666666667, 1e-15);
  EXPECT_NEAR(xgrad::nn::Loss<double>("mae")(p, t).value()(), loss.value()(), 0.0);
  EXPECT_NEAR(xgrad::nn::Loss<double>("mean_absolute_error")(p, t).value()(), loss.value()(), 0.0);
  // sign(p - t) / 6, and 0 where p equals t (TensorFlow's subgradient).
  loss.backward();
  expect_array_near(p.grad(), Array<double>{{-1.0 / 6, -1.0 / 6}, {0.0, 1.0 / 6}, {0.0, 1.0 / 6}}, 1e-15);
  EXPECT_TRUE(gradcheck_passes_nonempty(
      [](const Inputs& in) { return xgrad::nn::mean_absolute_error(in[0], in[1]); },
      {seeded_random_variable({3, 2}, 60, -2.0, 2.0), seeded_random_variable({3, 2}, 61, -2.0, 2.0)}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { xgrad::nn::mean_absolute_error(p, seeded_random_variable({2, 3}, 62, 0.0, 1.0)); },
      {"mean_absolute_error", "(3, 2)", "(2, 3)"}));
}


// ---------------------------------------------------------------- sample_weight

// Keras' loss(y_true, y_pred, sample_weight): each sample's loss (its mean
// over the last axis) times its weight, summed, divided by the number of
// per-sample losses ("sum_over_batch_size"; not by the weights' sum).
TEST(SampleWeight, WeighsEachSamplesLossAndDividesByTheirCount) {
  // per-sample mean squared errors: (1 + 4) / 2 = 2.5, (9 + 16) / 2 = 12.5,
  // (25 + 36) / 2 = 30.5; (1 · 2.5 + 0 · 12.5 + 2 · 30.5) / 3 = 63.5 / 3
  const V pred(Array<double>{{1., 2.}, {3., 4.}, {5., 6.}});
  const V zero(xgrad::zeros<double>({3, 2}));
  const Array<double> weights{1., 0., 2.};
  EXPECT_NEAR(xgrad::nn::Loss<double>("mse")(pred, zero, weights).value()(), 63.5 / 3, 1e-14);
  // Sparse labels: −log softmax picked per sample, weighted 2 and 0.5, over 2.
  const Array<double> logits{{2., 1., 0.1}, {0.5, 2.5, 0.3}};
  const auto minus_log_softmax = [&](std::size_t row, std::size_t label) {
    double total = 0;
    for (std::size_t c = 0; c < 3; ++c) total += std::exp(logits(row, c));
    return std::log(total) - logits(row, label);
  };
  const double expected = (2.0 * minus_log_softmax(0, 0) + 0.5 * minus_log_softmax(1, 2)) / 2;
  EXPECT_NEAR(xgrad::nn::Loss<double>("sparse_categorical_crossentropy_from_logits")(
                  V(logits), V(Array<double>{0., 2.}), Array<double>{2., 0.5})
                  .value()(),
              expected, 1e-14);
}

// Weights of 1 give every named loss its unweighted value; a weight per
// sample of a sequence [N] equals the same weight repeated per timestep [N, T].
TEST(SampleWeight, OnesGiveTheUnweightedLossAndPerSampleEqualsPerStep) {
  const V logits = seeded_random_variable({3, 4, 5}, 80, -2.0, 2.0);
  const V probabilities = seeded_random_variable({3, 4, 5}, 81, 0.05, 0.95);
  const V targets = seeded_random_variable({3, 4, 5}, 82, 0.0, 1.0);
  Array<double> labels = Array<double>::from_shape({3, 4});
  for (std::size_t i = 0; i < labels.size(); ++i) labels.flat(i) = static_cast<double>(i % 5);
  const Array<double> ones = xgrad::ones<double>({3, 4});
  Array<double> per_sample{0.5, 2.0, 1.5};
  Array<double> per_step = Array<double>::from_shape({3, 4});
  for (std::size_t n = 0; n < 3; ++n)
    for (std::size_t t = 0; t < 4; ++t) per_step(n, t) = per_sample(n);
  for (const char* name : {"mse", "mae", "binary_crossentropy", "binary_crossentropy_from_logits",
                           "categorical_crossentropy", "categorical_crossentropy_from_logits",
                           "sparse_categorical_crossentropy", "sparse_categorical_crossentropy_from_logits"}) {
    const xgrad::nn::Loss<double> loss(name);
    const bool sparse = std::string(name).rfind("sparse", 0) == 0;
    const bool of_probabilities = std::string(name).find("logits") == std::string::npos &&
                                  std::string(name).find("crossentropy") != std::string::npos;
    const V& pred = of_probabilities ? probabilities : logits;
    const V truth = sparse ? V(labels) : targets;
    EXPECT_NEAR(loss(pred, truth, ones).value()(), loss(pred, truth).value()(), 1e-13) << name;
    EXPECT_NEAR(loss(pred, truth, per_sample).value()(), loss(pred, truth, per_step).value()(), 1e-13) << name;
    EXPECT_NE(loss(pred, truth, per_sample).value()(), loss(pred, truth).value()()) << name;
  }
}

TEST(SampleWeight, Gradcheck) {
  const Array<double> weights{0.5, 2.0, 0.0};
  const auto weighted = [&](const char* name) {
    return [loss = xgrad::nn::Loss<double>(name), &weights](const Inputs& in) { return loss(in[0], in[1], weights); };
  };
  for (const char* name : {"mse", "binary_crossentropy_from_logits", "categorical_crossentropy_from_logits"}) {
    EXPECT_TRUE(gradcheck_passes_nonempty(weighted(name), {seeded_random_variable({3, 4}, 83, -2.0, 2.0),
                                                           seeded_random_variable({3, 4}, 84, 0.1, 0.9)}))
        << name;
  }
  const V labels(Array<double>{1., 0., 3.});
  const xgrad::nn::Loss<double> sparse("sparse_categorical_crossentropy_from_logits");
  EXPECT_TRUE(gradcheck_passes_nonempty([&](const Inputs& in) { return sparse(in[0], labels, weights); },
                                        {seeded_random_variable({3, 4}, 85, -2.0, 2.0)}));
}

TEST(SampleWeight, ShapesThatDoNotFitAndFunctionLossesThrow) {
  const V pred = seeded_random_variable({3, 2}, 86, -1.0, 1.0);
  const xgrad::nn::Loss<double> mse("mse");
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { mse(pred, pred, xgrad::ones<double>({4})); },
      {"mean_squared_error", "sample_weight of shape (4,)", "(3, 2)", "(3,)"}));
  // One weight per element is not Keras' per-sample weight for [N, C].
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { mse(pred, pred, xgrad::ones<double>({3, 2})); },
                                                 {"sample_weight of shape (3, 2)"}));
  const xgrad::nn::Loss<double> function_loss(
      [](const V& p, const V& t) { return xgrad::nn::mean_squared_error(p, t); });
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { function_loss(pred, pred, xgrad::ones<double>({3})); },
                                                 {"takes no sample_weight"}));
}

}  // namespace
