// Dense and Sequential, and the layers without weights around recurrent
// ones (GlobalAveragePooling1D, GlobalMaxPooling1D, RepeatVector, Flatten),
// LayerNormalization, Conv1D, MaxPooling1D, AveragePooling1D and the
// TimeDistributed wrapper. Expected values are computed by hand in the tests
// (plain loops over the formula y = activation(x · kernel + bias)), and
// gradients are checked against central differences in float64.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <xtensor/xmath.hpp>

#include "test_helpers.hpp"
#include "xgrad/autograd/anomaly.hpp"
#include "xgrad/autograd/gradcheck.hpp"
#include "xgrad/autograd/math_ops.hpp"
#include "xgrad/autograd/ops.hpp"
#include "xgrad/nn/checkpoint.hpp"
#include "xgrad/nn/convolution.hpp"
#include "xgrad/nn/dense.hpp"
#include "xgrad/nn/losses.hpp"
#include "xgrad/nn/lstm.hpp"
#include "xgrad/nn/normalization.hpp"
#include "xgrad/nn/optimizers.hpp"
#include "xgrad/nn/pooling.hpp"
#include "xgrad/nn/reshaping.hpp"
#include "xgrad/nn/sequential.hpp"
#include "xgrad/nn/simple_rnn.hpp"
#include "xgrad/nn/summary.hpp"
#include "xgrad/nn/time_distributed.hpp"

namespace {

using xgrad::Array;
using xgrad::Shape;
using xgrad::Variable;
namespace nn = xgrad::nn;
using xgrad::test::gradcheck_passes;
using xgrad::test::names_of;
using xgrad::test::random_variable;
using xgrad::test::throws_with;

// x [2, 3], kernel [3, 2], bias [2] for the hand computations.
const Array<double> kX{{1.0, 2.0, 3.0}, {-1.0, 0.0, 2.0}};
const Array<double> kKernel{{1.0, -1.0}, {0.5, 2.0}, {-2.0, 0.0}};
const Array<double> kBias{0.5, -1.0};

// ---- Dense ----

TEST(Dense, DefaultsAreKeras) {
  const nn::DenseOptions options(4);
  EXPECT_EQ(options.units(), 4u);
  EXPECT_EQ(options.activation(), nn::Activation::linear);
  EXPECT_TRUE(options.use_bias());
  EXPECT_EQ(options.name(), "dense");
  EXPECT_EQ(nn::DenseOptions(2).activation("relu").activation(), nn::Activation::relu);
  EXPECT_EQ(nn::DenseOptions(2).activation("softmax").activation(), nn::Activation::softmax);
  EXPECT_THROW(nn::DenseOptions(2).activation("sparsemax"), std::invalid_argument);
}

TEST(Dense, Forward2DByHand) {
  // x · kernel + bias, row by row:
  //   [1, 2, 3]  -> [1 + 1 - 6, -1 + 4 + 0] + [0.5, -1] = [-3.5, 2]
  //   [-1, 0, 2] -> [-1 + 0 - 4, 1 + 0 + 0] + [0.5, -1] = [-4.5, 0]
  nn::Dense<double> dense(nn::DenseOptions(2));
  dense.set_weights({kKernel, kBias});
  const Array<double> y = dense(Variable<double>(kX)).value();
  EXPECT_EQ(y, (Array<double>{{-3.5, 2.0}, {-4.5, 0.0}}));

  nn::Dense<double> with_tanh(nn::DenseOptions(2).activation("tanh"));
  with_tanh.set_weights({kKernel, kBias});
  const Array<double> t = with_tanh(Variable<double>(kX)).value();
  EXPECT_DOUBLE_EQ(t(0, 0), std::tanh(-3.5));
  EXPECT_DOUBLE_EQ(t(0, 1), std::tanh(2.0));
  EXPECT_DOUBLE_EQ(t(1, 0), std::tanh(-4.5));
  EXPECT_DOUBLE_EQ(t(1, 1), 0.0);

  nn::Dense<double> no_bias(nn::DenseOptions(2).use_bias(false));
  no_bias.set_weights({kKernel});
  EXPECT_EQ(no_bias(Variable<double>(kX)).value(), (Array<double>{{-4.0, 3.0}, {-5.0, 1.0}}));
}

TEST(Dense, SoftmaxHeadAndTheActivationsWithoutRowKernels) {
  // Keras' classification head, Dense(2, activation="softmax"): the rows
  // [-3.5, 2] and [-4.5, 0] of x · kernel + bias above, normalised along
  // the last axis: e^a / (e^a + e^b).
  nn::Dense<double> head(nn::DenseOptions(2).activation("softmax"));
  head.set_weights({kKernel, kBias});
  const Array<double> p = head(Variable<double>(kX)).value();
  const double rows[2][2] = {{-3.5, 2.0}, {-4.5, 0.0}};
  for (std::size_t r = 0; r < 2; ++r) {
    const double total = std::exp(rows[r][0]) + std::exp(rows[r][1]);
    for (std::size_t c = 0; c < 2; ++c) EXPECT_NEAR(p(r, c), std::exp(rows[r][c]) / total, 1e-15);
  }
  nn::Dense<double> log_head(nn::DenseOptions(2).activation("log_softmax"));
  log_head.set_weights({kKernel, kBias});
  EXPECT_NEAR(log_head(Variable<double>(kX)).value()(1, 1), std::log(p(1, 1)), 1e-15);
  // silu by hand: z · sigmoid(z) on the same rows.
  nn::Dense<double> silu(nn::DenseOptions(2).activation("swish"));
  silu.set_weights({kKernel, kBias});
  EXPECT_NEAR(silu(Variable<double>(kX)).value()(0, 0), -3.5 / (1.0 + std::exp(3.5)), 1e-15);

  // On [B, T, F] softmax normalises each (b, t) row; gradients by central
  // differences for each activation without a row kernel.
  for (const char* name : {"softmax", "log_softmax", "softplus", "relu6", "leaky_relu", "silu", "gelu", "mish"}) {
    SCOPED_TRACE(name);
    xgrad::manual_seed(17);
    nn::Dense<double> dense(nn::DenseOptions(3).activation(name));
    const Variable<double> x = random_variable({2, 2, 4}, -1.0, 1.0);
    const Array<double> y = dense(x).value();
    ASSERT_EQ(y.shape(), (Shape{2, 2, 3}));
    if (std::string(name) == "softmax") {
      const Array<double> row_sums = xt::sum(y, {2});
      for (double s : row_sums) EXPECT_NEAR(s, 1.0, 1e-15);
    }
    EXPECT_TRUE(gradcheck_passes([&](const std::vector<Variable<double>>& in) { return dense(in[0]); },
                                 {x, dense.kernel(), dense.bias()}));
  }
}

TEST(Dense, Forward3DIsTimeDistributed) {
  // [B, T, F] = [2, 3, 3]: every (b, t) row goes through the same weights.
  xgrad::manual_seed(11);
  const Array<double> x = xgrad::uniform<double>({2, 3, 3}, -1.0, 1.0);
  nn::Dense<double> dense(nn::DenseOptions(2).activation("sigmoid"));
  dense.set_weights({kKernel, kBias});
  const Array<double> y = dense(Variable<double>(x)).value();
  ASSERT_EQ(Shape(y.shape().begin(), y.shape().end()), (Shape{2, 3, 2}));
  for (std::size_t b = 0; b < 2; ++b)
    for (std::size_t t = 0; t < 3; ++t)
      for (std::size_t u = 0; u < 2; ++u) {
        double z = kBias(u);
        for (std::size_t f = 0; f < 3; ++f) z += x(b, t, f) * kKernel(f, u);
        EXPECT_NEAR(y(b, t, u), 1.0 / (1.0 + std::exp(-z)), 1e-15) << b << t << u;
      }
}

TEST(Dense, BuildsLazilyWithKerasInitializers) {
  xgrad::manual_seed(1);
  nn::Dense<double> dense(nn::DenseOptions(3));
  EXPECT_FALSE(dense.built());
  EXPECT_TRUE(dense.parameters().empty());
  EXPECT_THROW(dense.kernel(), std::logic_error);
  EXPECT_THROW(dense.weights(), std::logic_error);

  dense(Variable<double>(xgrad::zeros<double>({2, 5})));
  EXPECT_TRUE(dense.built());
  EXPECT_EQ(dense.input_features(), 5u);
  const auto named = dense.named_parameters();
  EXPECT_EQ(names_of(named), (std::vector<std::string>{"kernel", "bias"}));
  EXPECT_EQ(Shape(named[0].second.shape().begin(), named[0].second.shape().end()), (Shape{5, 3}));
  EXPECT_TRUE(named[0].second.same_node(dense.kernel()));
  EXPECT_TRUE(named[0].second.requires_grad());
  // glorot_uniform: within sqrt(6 / (5 + 3)), not all equal; bias zeros.
  const double limit = std::sqrt(6.0 / 8.0);
  const Array<double>& kernel = dense.kernel().value();
  for (const double k : kernel) EXPECT_LE(std::abs(k), limit);
  EXPECT_NE(kernel(0, 0), kernel(1, 1));
  EXPECT_EQ(dense.bias().value(), xgrad::zeros<double>({3}));

  // The same seed gives the same kernel, built explicitly.
  xgrad::manual_seed(1);
  nn::Dense<double> again(nn::DenseOptions(3));
  again.build({-1, 5});
  EXPECT_EQ(again.kernel().value(), kernel);
}

TEST(Dense, WithoutBias) {
  nn::Dense<double> dense(nn::DenseOptions(2).use_bias(false));
  dense.build({-1, 3});
  EXPECT_EQ(names_of(dense.named_parameters()), (std::vector<std::string>{"kernel"}));
  EXPECT_THROW(dense.bias(), std::logic_error);
  EXPECT_EQ(dense.weights().size(), 1u);
}

// Keras' Dense(kernel_initializer=, bias_initializer=, kernel_regularizer=,
// bias_regularizer=, kernel_constraint=, bias_constraint=), by name or value.
TEST(Dense, InitializersRegularizersAndConstraints) {
  EXPECT_FALSE(nn::DenseOptions(2).kernel_regularizer().has_value());  // Keras: None
  nn::Dense<double> dense(nn::DenseOptions(2)
                              .kernel_initializer("ones")
                              .bias_initializer(nn::init::constant(0.5))
                              .kernel_regularizer(nn::regularizers::l2(0.25))
                              .bias_regularizer("l1")
                              .kernel_constraint("non_neg"));
  dense.build({-1, 3});
  EXPECT_EQ(dense.kernel().value(), xgrad::ones<double>({3, 2}));
  EXPECT_EQ(dense.bias().value(), xgrad::full<double>({2}, 0.5));
  // l2(0.25): 0.25 · Σ k² = 0.25 · 6; Keras' "l1" is l1(0.01): 0.01 · Σ |b| = 0.01 · 1.
  ASSERT_EQ(dense.losses().size(), 2u);
  EXPECT_DOUBLE_EQ(dense.losses()[0].value()(), 1.5);
  EXPECT_DOUBLE_EQ(dense.losses()[1].value()(), 0.01);
  dense.set_weights({Array<double>{{1.0, -2.0}, {-0.5, 3.0}, {0.0, 1.0}}, xgrad::zeros<double>({2})});
  dense.apply_constraints();
  EXPECT_EQ(dense.kernel().value(), (Array<double>{{1.0, 0.0}, {0.0, 3.0}, {0.0, 1.0}}));
  EXPECT_THROW(nn::DenseOptions(2).kernel_regularizer("l3"), std::invalid_argument);
}

// Keras' Dense(activity_regularizer=): a penalty of the output (after the
// activation) at each call, first in losses() as Keras' own, and differentiable.
TEST(Dense, ActivityRegularizerPenalisesTheOutput) {
  EXPECT_FALSE(nn::DenseOptions(2).activity_regularizer().has_value());  // Keras: None
  EXPECT_EQ(*nn::DenseOptions(2).activity_regularizer("l1").activity_regularizer(), nn::regularizers::l1());
  nn::Dense<double> dense(nn::DenseOptions(2)
                              .activation("relu")
                              .kernel_initializer("ones")
                              .kernel_regularizer(nn::regularizers::l2(0.25))
                              .activity_regularizer(nn::regularizers::l2(0.5)));
  dense.build({-1, 3});
  ASSERT_EQ(dense.losses().size(), 1u);  // the kernel's penalty only, before a call
  // relu(x · ones): rows 1 + 2 − 1 = 2 and −1 − 1 − 1 = −3 → relu 0, both units.
  const Variable<double> x(Array<double>{{1.0, 2.0, -1.0}, {-1.0, -1.0, -1.0}});
  const Array<double> y = dense(x).value();
  EXPECT_EQ(y, (Array<double>{{2.0, 2.0}, {0.0, 0.0}}));
  ASSERT_EQ(dense.losses().size(), 2u);
  EXPECT_DOUBLE_EQ(dense.losses()[0].value()(), 0.5 * 8.0);  // 0.5 · Σ y²
  EXPECT_DOUBLE_EQ(dense.losses()[1].value()(), 0.25 * 6.0);
  xgrad::manual_seed(4);
  nn::Dense<double> tanh_dense(nn::DenseOptions(3).activation("tanh").activity_regularizer("l1_l2"));
  tanh_dense.build({-1, 4});
  EXPECT_TRUE(gradcheck_passes(
      [&](const auto& in) {
        tanh_dense(in[0]);
        return tanh_dense.regularization_loss();
      },
      {random_variable({2, 4}), tanh_dense.kernel(), tanh_dense.bias()}));
}

TEST(Dense, BuildErrors) {
  EXPECT_TRUE(throws_with<std::invalid_argument>([] { nn::Dense<double>(nn::DenseOptions(0)); },
                                                 {"Dense 'dense'", "units"}));
  nn::Dense<double> dense(nn::DenseOptions(2));
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { dense.build({4}); }, {"(4,)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { dense.build({-1, 0}); }, {"(None, 0)"}));
  EXPECT_FALSE(dense.built());
  dense.build({-1, 4});
  dense.build({-1, -1, 4});  // same F: nothing to do
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { dense.build({-1, 5}); }, {"4", "5"}));
}

TEST(Dense, ShapeErrorsNameTheLayerAndShapes) {
  nn::Dense<double> dense(nn::DenseOptions(2).name("head"));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { dense(Variable<double>(Array<double>{1.0, 2.0})); }, {"Dense 'head'", "(2,)"}));
  EXPECT_FALSE(dense.built());
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { dense(Variable<double>(xgrad::zeros<double>({2, 0}))); }, {"Dense 'head'", "(2, 0)"}));
  dense(Variable<double>(xgrad::zeros<double>({2, 3})));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { dense(Variable<double>(xgrad::zeros<double>({4, 5}))); },
      {"Dense 'head'", "(..., 3)", "(4, 5)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { dense(Variable<double>(xgrad::zeros<double>({4, 2, 5}))); }, {"(4, 2, 5)"}));
}

TEST(Dense, WeightsRoundTripAndSetWeightsChecksFirst) {
  nn::Dense<double> dense(nn::DenseOptions(2));
  dense.set_weights({kKernel, kBias});  // builds from the kernel's shape
  EXPECT_TRUE(dense.built());
  EXPECT_EQ(dense.input_features(), 3u);
  const auto weights = dense.weights();
  ASSERT_EQ(weights.size(), 2u);
  EXPECT_EQ(weights[0], kKernel);
  EXPECT_EQ(weights[1], kBias);

  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { dense.set_weights({kKernel}); },
                                                 {"Dense 'dense'", "expects 2", "got 1"}));
  // A good kernel with a bad bias: nothing changes.
  const Array<double> other_kernel = xgrad::ones<double>({3, 2});
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { dense.set_weights({other_kernel, Array<double>{1.0, 2.0, 3.0}}); },
      {"bias", "(2,)", "(3,)"}));
  EXPECT_EQ(dense.kernel().value(), kKernel);
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { dense.set_weights({xgrad::ones<double>({4, 2}), kBias}); }, {"kernel", "(3, 2)", "(4, 2)"}));

  nn::Dense<double> fresh(nn::DenseOptions(2));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { fresh.set_weights({Array<double>{1.0, 2.0}, kBias}); }, {"kernel", "(2,)"}));
  EXPECT_FALSE(fresh.built());
}

TEST(Dense, Gradcheck2D) {
  xgrad::manual_seed(2);
  nn::Dense<double> dense(nn::DenseOptions(3).activation("tanh"));
  dense.build({-1, 4});
  dense.bias().value() = xgrad::uniform<double>({3}, -0.5, 0.5);
  const Variable<double> x = random_variable({2, 4});
  EXPECT_TRUE(gradcheck_passes([&](const auto& in) { return dense(in[0]); },
                               {x, dense.kernel(), dense.bias()}));
}

TEST(Dense, Gradcheck3D) {
  xgrad::manual_seed(3);
  nn::Dense<double> dense(nn::DenseOptions(3).activation("sigmoid"));
  dense.build({-1, -1, 4});
  dense.bias().value() = xgrad::uniform<double>({3}, -0.5, 0.5);
  const Variable<double> x = random_variable({2, 3, 4});
  EXPECT_TRUE(gradcheck_passes([&](const auto& in) { return dense(in[0]); },
                               {x, dense.kernel(), dense.bias()}));
}

TEST(Dense, GradcheckLinearWithoutBias) {
  xgrad::manual_seed(4);
  nn::Dense<double> dense(nn::DenseOptions(2).use_bias(false));
  dense.build({-1, 3});
  const Variable<double> x = random_variable({3, 2, 3});
  EXPECT_TRUE(gradcheck_passes([&](const auto& in) { return dense(in[0]); }, {x, dense.kernel()}));
}

TEST(Dense, Float) {
  nn::Dense<float> dense(nn::DenseOptions(2));
  dense.set_weights({xt::cast<float>(kKernel), xt::cast<float>(kBias)});
  const Array<float> y = dense(Variable<float>(xt::cast<float>(kX))).value();
  EXPECT_EQ(y, (Array<float>{{-3.5f, 2.0f}, {-4.5f, 0.0f}}));
}

// ---- Sequential ----

TEST(Sequential, ChainsLayersInOrder) {
  xgrad::manual_seed(5);
  auto first = std::make_shared<nn::Dense<double>>(nn::DenseOptions(3).activation("tanh"));
  auto second = std::make_shared<nn::Dense<double>>(nn::DenseOptions(2));
  nn::Sequential<double> model;
  EXPECT_EQ(model.add(first), first);
  model.add(second);
  EXPECT_EQ(model.size(), 2u);
  const Variable<double> x(xgrad::uniform<double>({4, 5}, -1.0, 1.0));
  const Array<double> y = model(x).value();
  EXPECT_EQ(y, (*second)((*first)(x)).value());
  EXPECT_EQ(first->input_features(), 5u);
  EXPECT_EQ(second->input_features(), 3u);
}

TEST(Sequential, EmptyModelIsTheIdentity) {
  nn::Sequential<double> model;
  EXPECT_TRUE(model.empty());
  const Variable<double> x(Array<double>{1.0, 2.0});
  EXPECT_TRUE(model(x).same_node(x));
}

TEST(Sequential, KerasParameterPaths) {
  auto model = std::make_shared<nn::Sequential<double>>(std::initializer_list<nn::Sequential<double>::AnyLayer>{
      std::make_shared<nn::SimpleRNN<double>>(nn::SimpleRNNOptions(3).return_sequences(true)),
      std::make_shared<nn::SimpleRNN<double>>(nn::SimpleRNNOptions(2)),
      std::make_shared<nn::Dense<double>>(nn::DenseOptions(4)),
      std::make_shared<nn::Dense<double>>(nn::DenseOptions(1).use_bias(false))});
  EXPECT_TRUE(model->parameters().empty());  // not built yet
  model->build({-1, -1, 5});
  EXPECT_EQ(model->layer_names(),
            (std::vector<std::string>{"simple_rnn", "simple_rnn_1", "dense", "dense_1"}));
  EXPECT_EQ(names_of(model->named_parameters()),
            (std::vector<std::string>{"simple_rnn/kernel", "simple_rnn/recurrent_kernel",
                                      "simple_rnn/bias", "simple_rnn_1/kernel",
                                      "simple_rnn_1/recurrent_kernel", "simple_rnn_1/bias",
                                      "dense/kernel", "dense/bias", "dense_1/kernel"}));
  // The layers keep their own names.
  EXPECT_EQ(model->at(1)->name(), "simple_rnn");
  EXPECT_EQ(model->at<nn::Dense<double>>(3)->input_features(), 4u);

  // Nested, the inner model's paths gain its name in front.
  nn::Sequential<double> outer;
  outer.add(model);
  outer.add(std::make_shared<nn::Dense<double>>(nn::DenseOptions(1)));
  outer.build({-1, -1, 5});
  const auto paths = names_of(outer.named_parameters());
  EXPECT_EQ(paths.front(), "sequential/simple_rnn/kernel");
  EXPECT_EQ(paths.back(), "dense/bias");
}

TEST(Sequential, RepeatedNamesSkipTakenOnes) {
  nn::Sequential<double> model;
  model.add(std::make_shared<nn::Dense<double>>(nn::DenseOptions(2).name("dense_1")));
  model.add(std::make_shared<nn::Dense<double>>(nn::DenseOptions(2)));
  model.add(std::make_shared<nn::Dense<double>>(nn::DenseOptions(2)));
  model.add(std::make_shared<nn::Dense<double>>(nn::DenseOptions(2).name("head")));
  EXPECT_EQ(model.layer_names(), (std::vector<std::string>{"dense_1", "dense", "dense_2", "head"}));
}

TEST(Sequential, OwnsItsLayersAndSharesTheirParameters) {
  std::weak_ptr<nn::Dense<double>> watch;
  {
    nn::Sequential<double> model;
    {
      auto dense = std::make_shared<nn::Dense<double>>(nn::DenseOptions(2));
      watch = dense;
      model.add(dense);
    }
    EXPECT_FALSE(watch.expired());  // the model keeps it alive
    model(Variable<double>(xgrad::ones<double>({1, 3})));
    const auto parameters = model.parameters();
    ASSERT_EQ(parameters.size(), 2u);
    EXPECT_TRUE(parameters[0].same_node(watch.lock()->kernel()));
    EXPECT_TRUE(parameters[1].same_node(watch.lock()->bias()));
    // An update through the model's list is seen by the layer.
    Variable<double> kernel = parameters[0];
    kernel.value().fill(7.0);
    EXPECT_EQ(watch.lock()->kernel().value()(0, 0), 7.0);
  }
  EXPECT_TRUE(watch.expired());  // and lets it go with itself
}

TEST(Sequential, AddRejectsNullRepeatsAndItself) {
  auto model = std::make_shared<nn::Sequential<double>>();
  auto dense = std::make_shared<nn::Dense<double>>(nn::DenseOptions(2));
  model->add(dense);
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { model->add(dense); },
                                                 {"Sequential 'sequential'", "already"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { model->add(std::shared_ptr<nn::Dense<double>>()); }, {"null"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { model->add(model); }, {"itself"}));
  EXPECT_EQ(model->size(), 1u);
  EXPECT_THROW(model->at(1), std::out_of_range);
  // The message names the type asked for and the layer's own, demangled.
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { model->at<nn::SimpleRNN<double>>(0); },
      {"at<xgrad::nn::SimpleRNN<double>>(0)", "layer 0 ('dense') is a xgrad::nn::Dense<double>"}));
  EXPECT_EQ(model->at(0)->class_name(), "Dense");
}

TEST(Sequential, TrainAndEvalPropagate) {
  auto rnn = std::make_shared<nn::SimpleRNN<double>>(nn::SimpleRNNOptions(2));
  auto dense = std::make_shared<nn::Dense<double>>(nn::DenseOptions(1));
  nn::Sequential<double> model({rnn, dense});
  EXPECT_TRUE(rnn->is_training());
  model.eval();
  EXPECT_FALSE(model.is_training());
  EXPECT_FALSE(rnn->is_training());
  EXPECT_FALSE(dense->is_training());
  model.train();
  EXPECT_TRUE(rnn->is_training());
  EXPECT_TRUE(dense->is_training());
}

TEST(Sequential, ErrorsNameTheLayer) {
  nn::Sequential<double> model(
      {std::make_shared<nn::SimpleRNN<double>>(nn::SimpleRNNOptions(2)),
       std::make_shared<nn::Dense<double>>(nn::DenseOptions(1))},
      "regressor");
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { model(Variable<double>(xgrad::zeros<double>({2, 3}))); },
      {"Sequential 'regressor', layer 0 ('simple_rnn')", "SimpleRNN", "(2, 3)"}));
  model.build({-1, 4, 3});
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { model(Variable<double>(xgrad::zeros<double>({2, 4, 5}))); },
      {"layer 0 ('simple_rnn')", "(2, 4, 5)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { model.build({-1, 0, 3}); },
                                                 {"Sequential 'regressor'", "(None, 0, 3)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { model.build({}); }, {"()"}));
}

TEST(Sequential, BuildDoesNotRecordAGraph) {
  nn::Sequential<double> model({std::make_shared<nn::Dense<double>>(nn::DenseOptions(2))});
  model.build({-1, 3});
  EXPECT_EQ(model.parameters().size(), 2u);
  for (const auto& parameter : model.parameters()) EXPECT_FALSE(parameter.has_grad());
  EXPECT_TRUE(xgrad::is_grad_enabled());
}

// Keras' build makes the weights and nothing else. A stateful layer keeps
// no state from build's call on zeros (with a bias, those states are not
// zeros) and no batch size: build({-1, ...}) used to fix it at 1, so the
// first real batch threw.
TEST(Sequential, BuildLeavesAStatefulLayerAsIfNeverCalled) {
  const auto make = [] {
    auto rnn = std::make_shared<nn::SimpleRNN<double>>(
        nn::SimpleRNNOptions(2).stateful(true).bias_initializer("ones"));
    return std::make_shared<nn::Sequential<double>>(std::initializer_list<nn::Sequential<double>::AnyLayer>{rnn});
  };
  xgrad::manual_seed(8);
  auto built = make();
  built->build({-1, 5, 3});
  auto rnn = built->at<nn::SimpleRNN<double>>(0);
  EXPECT_TRUE(rnn->states().empty());
  xgrad::manual_seed(8);
  auto lazy = make();
  const Variable<double> x(xgrad::uniform<double>({4, 5, 3}, -1.0, 1.0));
  const Array<double> expected = (*lazy)(x).value();
  rnn->set_weights(lazy->at<nn::SimpleRNN<double>>(0)->weights());
  EXPECT_EQ((*built)(x).value(), expected);  // batch 4, from zeros
  // States set before build are there after it, their batch size with them.
  rnn->reset_state(xgrad::full<double>({4, 2}, 0.5));
  built->build({-1, 5, 3});
  EXPECT_EQ(rnn->states().at(0), xgrad::full<double>({4, 2}, 0.5));
}

// build's call runs in inference mode: no dropout mask drawn (the global
// generator gives what it gives without the Dropout layer), the modes and a
// layer's activity penalties as they were.
TEST(Sequential, BuildDrawsNoDropoutMaskAndRestoresModesAndPenalties) {
  const auto next_draw = [](bool with_dropout) {
    xgrad::manual_seed(9);
    auto rnn = std::make_shared<nn::SimpleRNN<double>>(
        nn::SimpleRNNOptions(2).bias_initializer("ones").activity_regularizer(nn::regularizers::l2(1.0)));
    nn::Sequential<double> model({rnn});
    if (with_dropout) model.add(std::make_shared<nn::Dropout<double>>(nn::DropoutOptions(0.5)));
    model.build({-1, 4, 3});
    EXPECT_TRUE(model.is_training());
    EXPECT_TRUE(rnn->is_training());
    EXPECT_EQ(model.losses().size(), 0u);  // build made no call's penalties
    return xgrad::uniform<double>({4}, 0.0, 1.0);
  };
  EXPECT_EQ(next_draw(true), next_draw(false));
  nn::Sequential<double> model({std::make_shared<nn::Dense<double>>(nn::DenseOptions(2)),
                                std::make_shared<nn::Dense<double>>(nn::DenseOptions(1))});
  model.at<nn::Dense<double>>(1)->eval();
  model.build({-1, 3});
  EXPECT_TRUE(model.at<nn::Dense<double>>(0)->is_training());
  EXPECT_FALSE(model.at<nn::Dense<double>>(1)->is_training());
}

// Two SimpleRNNs (the first returning sequences) then a Dense.
std::shared_ptr<nn::Sequential<double>> stacked_rnns() {
  auto first = std::make_shared<nn::SimpleRNN<double>>(nn::SimpleRNNOptions(3).return_sequences(true));
  auto second = std::make_shared<nn::SimpleRNN<double>>(nn::SimpleRNNOptions(2));
  auto head = std::make_shared<nn::Dense<double>>(nn::DenseOptions(1));
  return std::make_shared<nn::Sequential<double>>(
      std::initializer_list<nn::Sequential<double>::AnyLayer>{first, second, head});
}

TEST(Sequential, StackedRNNsForward) {
  xgrad::manual_seed(6);
  auto model = stacked_rnns();
  const Variable<double> x(xgrad::uniform<double>({2, 4, 3}, -1.0, 1.0));
  const Variable<double> y = (*model)(x);
  EXPECT_EQ(Shape(y.shape().begin(), y.shape().end()), (Shape{2, 1}));
  auto first = model->at<nn::SimpleRNN<double>>(0);
  auto second = model->at<nn::SimpleRNN<double>>(1);
  auto head = model->at<nn::Dense<double>>(2);
  const Variable<double> sequence = (*first)(x);
  EXPECT_EQ(Shape(sequence.shape().begin(), sequence.shape().end()), (Shape{2, 4, 3}));
  EXPECT_EQ(y.value(), (*head)((*second)(sequence)).value());
}

TEST(Sequential, StackedRNNsGradientsReachTheFirstLayer) {
  xgrad::manual_seed(7);
  auto model = stacked_rnns();
  const Variable<double> x(xgrad::uniform<double>({2, 4, 3}, -1.0, 1.0));
  xgrad::sum((*model)(x)).backward();
  ASSERT_EQ(model->parameters().size(), 8u);
  for (const auto& [path, parameter] : model->named_parameters()) {
    ASSERT_TRUE(parameter.has_grad()) << path;
    EXPECT_GT(xt::amax(xt::abs(parameter.grad()))(), 0.0) << path;
  }
  model->zero_grad();
  for (const auto& parameter : model->parameters()) EXPECT_FALSE(parameter.has_grad());
}

TEST(Sequential, StackedRNNsGradcheckFirstLayer) {
  xgrad::manual_seed(8);
  auto model = stacked_rnns();
  model->build({-1, -1, 3});
  auto first = model->at<nn::SimpleRNN<double>>(0);
  first->bias().value() = xgrad::uniform<double>({3}, -0.5, 0.5);
  const Variable<double> x = random_variable({2, 4, 3});
  auto f = [&](const std::vector<Variable<double>>& in) { return (*model)(in[0]); };
  EXPECT_TRUE(gradcheck_passes(f, {x, first->kernel()}));
  EXPECT_TRUE(gradcheck_passes(f, {x, first->recurrent_kernel(), first->bias()}));
  // And every parameter at once, through the model's own list.
  std::vector<Variable<double>> all{x};
  for (const auto& parameter : model->parameters()) all.push_back(parameter);
  EXPECT_TRUE(gradcheck_passes(f, all));
}

TEST(Sequential, FloatModel) {
  xgrad::manual_seed(9);
  nn::Sequential<> model;
  model.add(std::make_shared<nn::SimpleRNN<>>(nn::SimpleRNNOptions(4).return_sequences(true)));
  model.add(std::make_shared<nn::Dense<>>(nn::DenseOptions(2).activation("relu")));
  const Variable<float> y = model(Variable<float>(xgrad::uniform<float>({3, 5, 2}, -1.0f, 1.0f)));
  EXPECT_EQ(Shape(y.shape().begin(), y.shape().end()), (Shape{3, 5, 2}));
  EXPECT_EQ(model.parameters().size(), 5u);
}

// ---- GlobalAveragePooling1D, GlobalMaxPooling1D ----

// np.arange(24.).reshape(2, 3, 4): [B, T, F] = [2, 3, 4].
Array<double> arange_2_3_4() {
  Array<double> x = Array<double>::from_shape({2, 3, 4});
  for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = static_cast<double>(i);
  return x;
}

TEST(GlobalPooling1D, AverageAndMaxOverTheStepsByHand) {
  const Variable<double> x(arange_2_3_4());
  nn::GlobalAveragePooling1D<double> average;
  // x.mean(axis=1): sample 0 steps 0..11 -> (0 + 4 + 8) / 3 = 4, ...
  EXPECT_EQ(average(x).value(), (Array<double>{{4., 5., 6., 7.}, {16., 17., 18., 19.}}));
  nn::GlobalMaxPooling1D<double> largest;
  EXPECT_EQ(largest(x).value(), (Array<double>{{8., 9., 10., 11.}, {20., 21., 22., 23.}}));
  nn::GlobalAveragePooling1D<double> kept(nn::GlobalAveragePooling1DOptions().keepdims(true));
  const Variable<double> kept_average = kept(x);
  EXPECT_EQ(Shape(kept_average.shape().begin(), kept_average.shape().end()), (Shape{2, 1, 4}));
  // channels_first: x is [B, F, T] = [2, 3, 4], the mean over its last axis.
  nn::GlobalAveragePooling1D<double> first(nn::GlobalAveragePooling1DOptions().data_format("channels_first"));
  EXPECT_EQ(first(x).value(), (Array<double>{{1.5, 5.5, 9.5}, {13.5, 17.5, 21.5}}));
  nn::GlobalMaxPooling1D<double> first_max(
      nn::GlobalMaxPooling1DOptions().data_format("channels_first").keepdims(true));
  const Array<double> kept_max = first_max(x).value();
  EXPECT_EQ(Shape(kept_max.shape().begin(), kept_max.shape().end()), (Shape{2, 3, 1}));
  EXPECT_EQ(xgrad::reshaped(kept_max, {2, 3}), (Array<double>{{3., 7., 11.}, {15., 19., 23.}}));
  EXPECT_EQ(average.name(), "global_average_pooling1d");
  EXPECT_EQ(largest.name(), "global_max_pooling1d");
  EXPECT_TRUE(average.parameters().empty());
}

TEST(GlobalPooling1D, TheMaskedAverageIsKerasSumOverKeptStepsByTheirCount) {
  const Variable<double> x(arange_2_3_4());
  nn::GlobalAveragePooling1D<double> average;
  // Sample 0 keeps steps 0 and 2: (0 + 8) / 2 = 4, ...; sample 1 keeps step 1
  // alone: its row 16..19.
  const xt::xarray<bool> mask{{true, false, true}, {false, true, false}};
  EXPECT_EQ(average.forward(x, mask).value(), (Array<double>{{4., 5., 6., 7.}, {16., 17., 18., 19.}}));
  // Every step masked: 0 / 0, as Keras divides.
  const xt::xarray<bool> none{{false, false, false}, {true, true, true}};
  const Array<double> y = average.forward(x, none).value();
  EXPECT_TRUE(std::isnan(y(0, 0)));
  EXPECT_EQ(y(1, 0), 16.);
}

TEST(GlobalPooling1D, Gradcheck) {
  xgrad::manual_seed(31);
  const Variable<double> x = random_variable({2, 3, 4});
  nn::GlobalAveragePooling1D<double> average;
  nn::GlobalMaxPooling1D<double> largest;
  const xt::xarray<bool> mask{{true, false, true}, {false, true, true}};
  EXPECT_TRUE(gradcheck_passes([&](const std::vector<Variable<double>>& in) { return average(in[0]); }, {x}));
  EXPECT_TRUE(gradcheck_passes(
      [&](const std::vector<Variable<double>>& in) { return average.forward(in[0], mask); }, {x}));
  EXPECT_TRUE(gradcheck_passes([&](const std::vector<Variable<double>>& in) { return largest(in[0]); }, {x}));
}

TEST(GlobalPooling1D, BadShapesAndOptionsThrowNamingTheLayer) {
  nn::GlobalAveragePooling1D<double> average;
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { average(Variable<double>(xgrad::zeros<double>({2, 3}))); },
                                                 {"GlobalAveragePooling1D 'global_average_pooling1d'", "rank 3",
                                                  "(2, 3)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { average.forward(Variable<double>(xgrad::zeros<double>({2, 3, 4})), xt::xarray<bool>{{true, false}}); },
      {"mask of shape (1, 2)", "(2, 3, 4)", "expected (2, 3)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { nn::GlobalMaxPooling1D<double>(nn::GlobalMaxPooling1DOptions().data_format("channels_middle")); },
      {"GlobalMaxPooling1D", "data_format", "channels_middle"}));
  nn::GlobalMaxPooling1D<double> largest;
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { largest(Variable<double>(xgrad::zeros<double>({2, 0, 4}))); }, {"GlobalMaxPooling1D", "no timesteps"}));
}

// ---- RepeatVector, Flatten ----

TEST(RepeatVector, RepeatsEachSampleAndSumsTheGradient) {
  nn::RepeatVector<double> repeat(nn::RepeatVectorOptions(3));
  Variable<double> x(Array<double>{{1., 2.}, {3., 4.}}, true);
  const Variable<double> y = repeat(x);
  EXPECT_EQ(y.value(), (Array<double>{{{1., 2.}, {1., 2.}, {1., 2.}}, {{3., 4.}, {3., 4.}, {3., 4.}}}));
  // d/dx of Σ y ⊙ w: each x entry collects its three steps' weights.
  const Array<double> w{{{1., 2.}, {3., 4.}, {5., 6.}}, {{0., 1.}, {0., 1.}, {0., 1.}}};
  xgrad::sum(xgrad::mul(y, Variable<double>(w))).backward();
  EXPECT_EQ(x.grad(), (Array<double>{{9., 12.}, {0., 3.}}));
  xgrad::manual_seed(32);
  EXPECT_TRUE(gradcheck_passes([&](const std::vector<Variable<double>>& in) { return repeat(in[0]); },
                               {random_variable({2, 3})}));
  EXPECT_EQ(repeat.name(), "repeat_vector");
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { repeat(Variable<double>(xgrad::zeros<double>({2, 3, 4}))); }, {"RepeatVector", "rank 2", "(2, 3, 4)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([] { nn::RepeatVector<double>(nn::RepeatVectorOptions(0)); },
                                                 {"RepeatVector", "n must be positive"}));
}

TEST(Flatten, KeepsTheBatchAxis) {
  nn::Flatten<double> flatten;
  const Variable<double> x(arange_2_3_4());
  const Variable<double> y = flatten(x);
  EXPECT_EQ(Shape(y.shape().begin(), y.shape().end()), (Shape{2, 12}));
  EXPECT_EQ(y.value()(1, 11), 23.);
  const Variable<double> column = flatten(Variable<double>(Array<double>{1., 2., 3.}));
  EXPECT_EQ(Shape(column.shape().begin(), column.shape().end()), (Shape{3, 1}));
  xgrad::manual_seed(33);
  EXPECT_TRUE(gradcheck_passes([&](const std::vector<Variable<double>>& in) { return flatten(in[0]); },
                               {random_variable({2, 2, 3})}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { flatten(Variable<double>(Array<double>(1.0))); },
                                                 {"Flatten 'flatten'", "shape ()"}));
}

TEST(Reshape, ReshapesEachSampleAndInfersOneAxis) {
  const Variable<double> x(arange_2_3_4());
  nn::Reshape<double> to_4_3(nn::ReshapeOptions({4, 3}));
  const Variable<double> y = to_4_3(x);
  EXPECT_EQ(Shape(y.shape().begin(), y.shape().end()), (Shape{2, 4, 3}));
  EXPECT_EQ(y.value()(1, 3, 2), 23.);
  nn::Reshape<double> inferred(nn::ReshapeOptions({-1, 2}));
  const Variable<double> z = inferred(x);
  EXPECT_EQ(Shape(z.shape().begin(), z.shape().end()), (Shape{2, 6, 2}));
  EXPECT_EQ(inferred.name(), "reshape");
  xgrad::manual_seed(37);
  EXPECT_TRUE(gradcheck_passes([&](const std::vector<Variable<double>>& in) { return to_4_3(in[0]); },
                               {random_variable({2, 3, 4})}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { nn::Reshape<double>(nn::ReshapeOptions({5})).forward(x); },
                                                 {"Reshape 'reshape'", "(2, 3, 4)", "(batch, 5)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { nn::Reshape<double>(nn::ReshapeOptions({-1, 5})).forward(x); },
                                                 {"(2, 3, 4)", "(batch, -1, 5)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([] { nn::Reshape<double>(nn::ReshapeOptions({-1, -1})); },
                                                 {"target_shape (batch, -1, -1)", "at most one -1"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([] { nn::Reshape<double>(nn::ReshapeOptions({0, 2})); },
                                                 {"must have positive entries"}));
}

// ---- TimeDistributed ----

TEST(TimeDistributed, IsTheLayerAtEveryStep) {
  auto dense = std::make_shared<nn::Dense<double>>(nn::DenseOptions(2));
  dense->set_weights({kKernel, kBias});
  nn::TimeDistributed<double> each_step(dense);
  xgrad::manual_seed(34);
  const Variable<double> x = random_variable({2, 4, 3});
  const Variable<double> y = each_step(x);
  EXPECT_EQ(Shape(y.shape().begin(), y.shape().end()), (Shape{2, 4, 2}));
  for (std::size_t t = 0; t < 4; ++t)
    EXPECT_EQ(xgrad::select(y, 1, t).value(), (*dense)(xgrad::select(x, 1, t)).value()) << "step " << t;
  EXPECT_EQ(names_of(each_step.named_parameters()),
            (std::vector<std::string>{"layer/kernel", "layer/bias"}));
  EXPECT_TRUE(gradcheck_passes([&](const std::vector<Variable<double>>& in) { return each_step(in[0]); },
                               {x, dense->kernel(), dense->bias()}));
}

TEST(TimeDistributed, BadInputsAndLayersThrowNamingTheWrapper) {
  nn::TimeDistributed<double> each_step(std::make_shared<nn::Dense<double>>(nn::DenseOptions(2)));
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { each_step(Variable<double>(xgrad::zeros<double>({2, 3}))); },
                                                 {"TimeDistributed 'time_distributed'", "rank 3", "(2, 3)"}));
  // A layer that does not keep the B · T rows: a global pooling over
  // [B · T, 3, 4] keeps them, a RepeatVector's [B · T, n, F]... keeps them
  // too; a layer of one's own that sums everything does not.
  struct Total : nn::Module<double> {
    Total() : nn::Module<double>("total") {}
    Variable<double> forward(const Variable<double>& x) { return xgrad::sum(x); }
  };
  nn::TimeDistributed<double> summed(std::make_shared<Total>());
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { summed(Variable<double>(xgrad::zeros<double>({2, 3, 4}))); },
      {"TimeDistributed", "'total'", "(2, 3, 4)", "(6, 4)", "()", "keep the 6 rows"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([] { nn::TimeDistributed<double>(std::shared_ptr<Total>()); },
                                                 {"TimeDistributed", "null"}));
}

// Keras' sequence-to-sequence autoencoder: an LSTM encoder's last state
// repeated over T steps, an LSTM decoder, a Dense on every step. It builds,
// lists its shapes, trains (the loss falls), and round-trips a checkpoint.
TEST(TimeDistributed, SequenceToSequenceAutoencoderTrains) {
  xgrad::manual_seed(35);
  nn::Sequential<double> model;
  model.add(std::make_shared<nn::LSTM<double>>(nn::LSTMOptions(6)));
  model.add(std::make_shared<nn::RepeatVector<double>>(nn::RepeatVectorOptions(5)));
  model.add(std::make_shared<nn::LSTM<double>>(nn::LSTMOptions(6).return_sequences(true)));
  model.add(std::make_shared<nn::TimeDistributed<double>>(std::make_shared<nn::Dense<double>>(nn::DenseOptions(2))));
  model.build({-1, 5, 2});
  EXPECT_EQ(model.layer_names(), (std::vector<std::string>{"lstm", "repeat_vector", "lstm_1", "time_distributed"}));
  const std::string table = nn::summary(model);
  EXPECT_NE(table.find("RepeatVector"), std::string::npos) << table;
  EXPECT_NE(table.find("(None, 5, 2)"), std::string::npos) << table;
  const Variable<double> x(xgrad::uniform<double>({8, 5, 2}, -1.0, 1.0));
  nn::Adam<double> optimizer(model.parameters(), nn::AdamOptions().learning_rate(0.02));
  double first = 0.0, last = 0.0;
  for (int step = 0; step < 200; ++step) {
    optimizer.zero_grad();
    Variable<double> loss = xgrad::mean(xgrad::square(model(x) - x));
    loss.backward();
    optimizer.step();
    (step == 0 ? first : last) = loss.item();
  }
  EXPECT_LT(last, 0.25 * first);
  const std::string path = testing::TempDir() + "xgrad_seq2seq.npz";
  nn::save(model, path);
  const Array<double> before = model(x).value();
  for (auto& parameter : model.parameters()) parameter.value().fill(0.0);
  nn::load(model, path);
  EXPECT_EQ(model(x).value(), before);
  std::remove(path.c_str());
}

// ---- LayerNormalization ----

TEST(LayerNormalization, NormalizesEachRowByHandWithKerasDefaults) {
  const nn::LayerNormalizationOptions options;
  EXPECT_EQ(options.epsilon(), 1e-3);
  EXPECT_TRUE(options.center());
  EXPECT_TRUE(options.scale());
  EXPECT_EQ(options.name(), "layer_normalization");
  nn::LayerNormalization<double> norm;
  // Row [1, 2, 3, 6]: mean 3, deviations [-2, -1, 0, 3], variance 14 / 4 = 3.5.
  const Variable<double> y = norm(Variable<double>(Array<double>{{1., 2., 3., 6.}, {5., 5., 5., 5.}}));
  const double inverse = 1.0 / std::sqrt(3.5 + 1e-3);
  EXPECT_EQ(names_of(norm.named_parameters()), (std::vector<std::string>{"gamma", "beta"}));
  EXPECT_EQ(norm.gamma().value(), (Array<double>{1., 1., 1., 1.}));
  const double expected[4] = {-2. * inverse, -1. * inverse, 0., 3. * inverse};
  for (std::size_t f = 0; f < 4; ++f) {
    EXPECT_NEAR(y.value()(0, f), expected[f], 1e-15) << f;
    EXPECT_EQ(y.value()(1, f), 0.0) << f;  // a constant row: 0 / sqrt(epsilon)
  }
  // gamma and beta scale and shift each feature.
  norm.set_weights({Array<double>{1., 2., 3., 4.}, Array<double>{0.5, 0., 0., -1.}});
  const Array<double> z = norm(Variable<double>(Array<double>{{1., 2., 3., 6.}})).value();
  EXPECT_NEAR(z(0, 1), -2. * inverse, 1e-15);
  EXPECT_NEAR(z(0, 3), 12. * inverse - 1., 1e-15);
}

TEST(LayerNormalization, GradcheckOverInputGammaAndBeta) {
  xgrad::manual_seed(36);
  nn::LayerNormalization<double> norm(nn::LayerNormalizationOptions().epsilon(0.1));
  norm.build(4);
  norm.set_weights({xgrad::uniform<double>({4}, 0.5, 1.5), xgrad::uniform<double>({4}, -0.5, 0.5)});
  const Variable<double> x = random_variable({2, 3, 4});
  EXPECT_TRUE(gradcheck_passes([&](const std::vector<Variable<double>>& in) { return norm(in[0]); },
                               {x, norm.gamma(), norm.beta()}));
  nn::LayerNormalization<double> bare(nn::LayerNormalizationOptions().center(false).scale(false));
  EXPECT_TRUE(gradcheck_passes([&](const std::vector<Variable<double>>& in) { return bare(in[0]); }, {x}));
  EXPECT_TRUE(bare.parameters().empty());
  EXPECT_TRUE(bare.weights().empty());
}

TEST(LayerNormalization, ErrorsNameTheLayerAndTheShapes) {
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [] { nn::LayerNormalization<double>(nn::LayerNormalizationOptions().epsilon(0.0)); },
      {"LayerNormalization 'layer_normalization'", "epsilon must be positive"}));
  nn::LayerNormalization<double> norm;
  EXPECT_TRUE(throws_with<std::logic_error>([&] { norm.gamma(); }, {"gamma", "before the layer is built"}));
  norm(Variable<double>(xgrad::zeros<double>({2, 4})));
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { norm(Variable<double>(xgrad::zeros<double>({2, 5}))); },
                                                 {"expected input shape (..., 4)", "(2, 5)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { norm(Variable<double>(Array<double>(1.0))); },
                                                 {"rank 1 or more", "shape ()"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { norm.set_weights({xgrad::ones<double>({4}), xgrad::ones<double>({3})}); },
      {"set_weights array 1", "shape (3,)", "expected (4,)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { norm.set_weights({xgrad::ones<double>({4})}); },
                                                 {"expected 2 arrays"}));
  nn::LayerNormalization<double> no_beta(nn::LayerNormalizationOptions().center(false));
  no_beta.build(3);
  EXPECT_TRUE(throws_with<std::logic_error>([&] { no_beta.beta(); }, {"has no beta", "center is off"}));
}

// ---- Conv1D ----

// x [1, 4, 1] = 1, 2, 3, 4 through one filter: each output step is the taps'
// weighted sum, by hand.
Array<double> conv_by_hand(const std::string& padding, std::size_t strides, std::size_t dilation,
                           const Array<double>& taps) {
  nn::Conv1D<double> conv(
      nn::Conv1DOptions(1, taps.size()).padding(padding).strides(strides).dilation_rate(dilation));
  conv.set_weights({xgrad::reshaped(taps, {taps.size(), 1, 1}), Array<double>{0.5}});
  const Array<double> y = conv(Variable<double>(xgrad::reshaped(Array<double>{1., 2., 3., 4.}, {1, 4, 1}))).value();
  return xgrad::reshaped(y, {y.size()});
}

TEST(Conv1D, EveryPaddingStrideAndDilationByHand) {
  // valid, taps (1, 10): x_t + 10 x_{t+1} + 0.5
  EXPECT_EQ(conv_by_hand("valid", 1, 1, {1., 10.}), (Array<double>{21.5, 32.5, 43.5}));
  // causal: one zero before, so step t sees x_{t-1} and x_t
  EXPECT_EQ(conv_by_hand("causal", 1, 1, {1., 10.}), (Array<double>{10.5, 21.5, 32.5, 43.5}));
  // same, taps (1, 10, 100): a zero on each side
  EXPECT_EQ(conv_by_hand("same", 1, 1, {1., 10., 100.}), (Array<double>{210.5, 321.5, 432.5, 43.5}));
  // same, taps (1, 10): the one zero goes after (TensorFlow's split)
  EXPECT_EQ(conv_by_hand("same", 1, 1, {1., 10.}), (Array<double>{21.5, 32.5, 43.5, 4.5}));
  // valid, strides 2: steps 0 and 2
  EXPECT_EQ(conv_by_hand("valid", 2, 1, {1., 10.}), (Array<double>{21.5, 43.5}));
  // same, strides 2: ceil(4 / 2) = 2 steps
  EXPECT_EQ(conv_by_hand("same", 2, 1, {1., 10.}), (Array<double>{21.5, 43.5}));
  // valid, dilation 2: x_t + 10 x_{t+2}
  EXPECT_EQ(conv_by_hand("valid", 1, 2, {1., 10.}), (Array<double>{31.5, 42.5}));
  // causal, dilation 2: two zeros before
  EXPECT_EQ(conv_by_hand("causal", 1, 2, {1., 10.}), (Array<double>{10.5, 20.5, 31.5, 42.5}));
}

// Many channels and filters against the definition's loops:
// y[b, t, f] = Σ_k Σ_c x_p[b, t·s + k·d, c] · kernel[k, c, f] + bias[f].
TEST(Conv1D, ChannelsAndFiltersMatchTheDefinition) {
  struct Case {
    std::string padding;
    std::size_t strides, dilation, before;
  };
  for (const Case& c : {Case{"valid", 1, 1, 0}, Case{"same", 2, 1, 1}, Case{"causal", 1, 2, 4}}) {
    SCOPED_TRACE(c.padding);
    xgrad::manual_seed(38);
    nn::Conv1D<double> conv(
        nn::Conv1DOptions(4, 3).padding(c.padding).strides(c.strides).dilation_rate(c.dilation).activation("tanh"));
    conv.build(2);
    conv.set_weights({conv.kernel().value(), xgrad::uniform<double>({4}, -0.5, 0.5)});
    const Array<double> x = xgrad::uniform<double>({2, 7, 2}, -1.0, 1.0);
    const Array<double> y = conv(Variable<double>(x)).value();
    const std::size_t out_steps = conv.output_steps(7);
    ASSERT_EQ(Shape(y.shape().begin(), y.shape().end()), (Shape{2, out_steps, 4}));
    const Array<double>& w = conv.kernel().value();
    for (std::size_t b = 0; b < 2; ++b)
      for (std::size_t t = 0; t < out_steps; ++t)
        for (std::size_t f = 0; f < 4; ++f) {
          double sum = conv.bias().value()(f);
          for (std::size_t k = 0; k < 3; ++k) {
            const std::ptrdiff_t step = static_cast<std::ptrdiff_t>(t * c.strides + k * c.dilation) -
                                        static_cast<std::ptrdiff_t>(c.before);
            if (step < 0 || step >= 7) continue;  // padding
            for (std::size_t ch = 0; ch < 2; ++ch) sum += x(b, static_cast<std::size_t>(step), ch) * w(k, ch, f);
          }
          EXPECT_NEAR(y(b, t, f), std::tanh(sum), 1e-14) << b << " " << t << " " << f;
        }
  }
}

TEST(Conv1D, GradcheckOverInputKernelAndBias) {
  xgrad::manual_seed(39);
  for (const std::string padding : {"same", "causal"}) {
    SCOPED_TRACE(padding);
    nn::Conv1D<double> conv(nn::Conv1DOptions(3, 2).padding(padding).strides(padding == "same" ? 2 : 1)
                                .dilation_rate(padding == "causal" ? 2 : 1));
    conv.build(2);
    const Variable<double> x = random_variable({2, 5, 2});
    EXPECT_TRUE(gradcheck_passes([&](const std::vector<Variable<double>>& in) { return conv(in[0]); },
                                 {x, conv.kernel(), conv.bias()}));
  }
  EXPECT_EQ(nn::Conv1D<double>(nn::Conv1DOptions(3, 2)).name(), "conv1d");
}

TEST(Conv1D, BadOptionsShapesAndWeightsThrowNamingTheLayer) {
  EXPECT_TRUE(throws_with<std::invalid_argument>([] { nn::Conv1D<double>(nn::Conv1DOptions(0, 2)); },
                                                 {"Conv1D 'conv1d'", "filters must be positive"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [] { nn::Conv1D<double>(nn::Conv1DOptions(2, 2).padding("full")); }, {"padding", "\"full\""}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [] { nn::Conv1D<double>(nn::Conv1DOptions(2, 2).strides(2).dilation_rate(2)); },
      {"strides 2 and dilation_rate 2"}));
  nn::Conv1D<double> conv(nn::Conv1DOptions(2, 3));
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { conv(Variable<double>(xgrad::zeros<double>({2, 5}))); },
                                                 {"rank 3", "(2, 5)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { conv(Variable<double>(xgrad::zeros<double>({1, 2, 4}))); },
                                                 {"(1, 2, 4)", "fewer than the 3", "\"valid\""}));
  EXPECT_FALSE(conv.built());  // the short input built nothing
  conv(Variable<double>(xgrad::zeros<double>({1, 3, 4})));
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { conv(Variable<double>(xgrad::zeros<double>({1, 3, 5}))); },
                                                 {"built for 4 channels", "(1, 3, 5)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { conv.set_weights({xgrad::zeros<double>({3, 5, 2}), xgrad::zeros<double>({2})}); },
      {"kernel has shape (3, 5, 2)", "expected (3, 4, 2)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { conv.set_weights({xgrad::zeros<double>({3, 4, 2}), xgrad::zeros<double>({3})}); },
      {"bias has shape (3,)", "expected (2,)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { conv.set_weights({xgrad::zeros<double>({3, 4, 2})}); },
                                                 {"set_weights expected 2 arrays (kernel, bias), got 1"}));
  nn::Conv1D<double> no_bias(nn::Conv1DOptions(2, 3).use_bias(false));
  EXPECT_TRUE(throws_with<std::logic_error>([&] { no_bias.kernel(); }, {"kernel", "before the layer is built"}));
  EXPECT_TRUE(throws_with<std::logic_error>([&] { no_bias.bias(); }, {"has no bias", "use_bias is off"}));
}

// ---- MaxPooling1D, AveragePooling1D ----

// x [1, 5, 1] = 1, 3, 2, 5, 4 pooled, flattened.
Array<double> pooled(nn::Pooling1D<double>& pool) {
  const Array<double> y = pool(Variable<double>(xgrad::reshaped(Array<double>{1., 3., 2., 5., 4.}, {1, 5, 1}))).value();
  return xgrad::reshaped(y, {y.size()});
}

TEST(Pooling1D, WindowsByHand) {
  nn::MaxPooling1D<double> max_valid;  // pool 2, strides 2: (1, 3), (2, 5)
  EXPECT_EQ(pooled(max_valid), (Array<double>{3., 5.}));
  nn::AveragePooling1D<double> average_valid;
  EXPECT_EQ(pooled(average_valid), (Array<double>{2., 3.5}));
  // same: ceil(5 / 2) = 3 windows, the last one past the end: (4) alone.
  nn::MaxPooling1D<double> max_same(nn::Pooling1DOptions().padding("same"));
  EXPECT_EQ(pooled(max_same), (Array<double>{3., 5., 4.}));
  nn::AveragePooling1D<double> average_same(nn::Pooling1DOptions().padding("same"));
  EXPECT_EQ(pooled(average_same), (Array<double>{2., 3.5, 4.}));
  // pool 3, strides 1, same: a step past each end.
  nn::MaxPooling1D<double> max_3(nn::Pooling1DOptions().pool_size(3).strides(1).padding("same"));
  EXPECT_EQ(pooled(max_3), (Array<double>{3., 3., 5., 5., 5.}));
  nn::AveragePooling1D<double> average_3(nn::Pooling1DOptions().pool_size(3).strides(1).padding("same"));
  const Array<double> a = pooled(average_3);
  const double expected[5] = {2., 2., 10. / 3., 11. / 3., 4.5};
  for (std::size_t t = 0; t < 5; ++t) EXPECT_NEAR(a(t), expected[t], 1e-15) << t;
  EXPECT_EQ(max_valid.name(), "max_pooling1d");
  EXPECT_EQ(average_valid.name(), "average_pooling1d");
}

TEST(Pooling1D, GradcheckAndErrors) {
  xgrad::manual_seed(40);
  const Variable<double> x = random_variable({2, 7, 3});
  nn::MaxPooling1D<double> max_pool(nn::Pooling1DOptions().pool_size(3).strides(2).padding("same"));
  nn::AveragePooling1D<double> average_pool(nn::Pooling1DOptions().pool_size(3).strides(2).padding("same"));
  EXPECT_TRUE(gradcheck_passes([&](const std::vector<Variable<double>>& in) { return max_pool(in[0]); }, {x}));
  {
    xgrad::DetectAnomaly anomaly;  // the padded edges hold nothing non-finite
    EXPECT_NO_THROW(xgrad::sum(max_pool(x)).backward());
  }
  EXPECT_TRUE(gradcheck_passes([&](const std::vector<Variable<double>>& in) { return average_pool(in[0]); }, {x}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [] { nn::MaxPooling1D<double>(nn::Pooling1DOptions().padding("causal")); }, {"MaxPooling1D", "padding"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([] { nn::AveragePooling1D<double>(nn::Pooling1DOptions().pool_size(0)); },
                                                 {"AveragePooling1D 'average_pooling1d'", "must be positive"}));
  nn::MaxPooling1D<double> pool(nn::Pooling1DOptions().pool_size(4));
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { pool(Variable<double>(xgrad::zeros<double>({2, 3, 1}))); },
                                                 {"(2, 3, 1)", "fewer than pool_size 4"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { pool(Variable<double>(xgrad::zeros<double>({2, 3}))); },
                                                 {"rank 3", "(2, 3)"}));
}

// Keras' CNN-LSTM: a causal Conv1D, a MaxPooling1D, an LSTM, a Dense head.
TEST(Conv1D, ConvolutionalRecurrentModelBuildsAndTrains) {
  xgrad::manual_seed(41);
  nn::Sequential<double> model;
  model.add(std::make_shared<nn::Conv1D<double>>(nn::Conv1DOptions(4, 3).padding("causal").activation("relu")));
  model.add(std::make_shared<nn::MaxPooling1D<double>>());
  model.add(std::make_shared<nn::LSTM<double>>(nn::LSTMOptions(5)));
  model.add(std::make_shared<nn::Dense<double>>(nn::DenseOptions(1)));
  model.build({-1, 8, 2});
  const std::string table = nn::summary(model);
  EXPECT_NE(table.find("(None, 8, 4)"), std::string::npos) << table;
  EXPECT_NE(table.find("(None, 4, 4)"), std::string::npos) << table;
  // y = the sum of each sequence's first channel.
  const Array<double> x = xgrad::uniform<double>({16, 8, 2}, -1.0, 1.0);
  Array<double> y = Array<double>::from_shape({16, 1});
  for (std::size_t b = 0; b < 16; ++b) {
    y(b, 0) = 0.0;
    for (std::size_t t = 0; t < 8; ++t) y(b, 0) += x(b, t, 0) / 4.0;
  }
  nn::Adam<double> optimizer(model.parameters(), nn::AdamOptions().learning_rate(0.02));
  double first = 0.0, last = 0.0;
  for (int step = 0; step < 150; ++step) {
    optimizer.zero_grad();
    Variable<double> loss = nn::mean_squared_error(model(Variable<double>(x)), Variable<double>(y));
    loss.backward();
    optimizer.step();
    (step == 0 ? first : last) = loss.item();
  }
  EXPECT_LT(last, 0.25 * first);
}

}  // namespace
