// Anomaly detection (xgrad/autograd/anomaly.hpp): under DetectAnomaly the
// first op whose forward result or backward gradient holds a NaN or an
// infinity throws NonFiniteError naming the op, the layer path it ran in and
// the shapes; without the guard the same computations run as before and the
// non-finite values pass through silently (issue 11: one inf in an input gave
// a finite loss and NaN gradients).

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "test_helpers.hpp"
#include "xgrad/autograd/anomaly.hpp"
#include "xgrad/autograd/math_ops.hpp"
#include "xgrad/autograd/ops.hpp"
#include "xgrad/nn/dense.hpp"
#include "xgrad/nn/losses.hpp"
#include "xgrad/nn/sequential.hpp"
#include "xgrad/nn/simple_rnn.hpp"

namespace {

namespace nn = xgrad::nn;
using xgrad::Array;
using xgrad::DetectAnomaly;
using xgrad::LayerScope;
using xgrad::NonFiniteError;
using xgrad::Variable;
using xgrad::test::throws_with;
using V = Variable<double>;

constexpr double kInf = std::numeric_limits<double>::infinity();

bool all_finite(const Array<double>& a) {
  for (const double x : a)
    if (!std::isfinite(x)) return false;
  return true;
}

// SimpleRNN(4) then Dense(1) on [2, 3, 2] inputs whose element [1, 2, 0] is
// +inf: the input projection of that step is ±inf, tanh makes it ±1, so the
// forward pass and the loss stay finite; the kernel's gradient x^T · dpre
// multiplies that inf by the 0 of a saturated tanh and is NaN.
struct RecurrentModel {
  std::shared_ptr<nn::SimpleRNN<double>> rnn =
      std::make_shared<nn::SimpleRNN<double>>(nn::SimpleRNNOptions(4));
  nn::Sequential<double> model{{rnn, std::make_shared<nn::Dense<double>>(nn::DenseOptions(1))}};
  V x, y;

  RecurrentModel() {
    xgrad::manual_seed(3);
    Array<double> inputs = xgrad::uniform<double>({2, 3, 2}, -1.0, 1.0);
    inputs(1, 2, 0) = kInf;
    x = V(inputs);
    y = V(xgrad::zeros<double>({2, 1}));
  }
  V loss() { return nn::mean_squared_error(model.forward(x), y); }
};

TEST(DetectAnomaly, OffByDefaultOnWhileAGuardLivesAndGuardsNest) {
  EXPECT_FALSE(xgrad::is_anomaly_detection_enabled());
  {
    DetectAnomaly outer;
    EXPECT_TRUE(xgrad::is_anomaly_detection_enabled());
    {
      DetectAnomaly inner;
      EXPECT_TRUE(xgrad::is_anomaly_detection_enabled());
    }
    EXPECT_TRUE(xgrad::is_anomaly_detection_enabled());
  }
  EXPECT_FALSE(xgrad::is_anomaly_detection_enabled());
}

TEST(DetectAnomaly, WithoutTheGuardAnInfInputGivesAFiniteLossAndNanGradients) {
  RecurrentModel m;
  V loss = m.loss();
  EXPECT_TRUE(std::isfinite(loss.item()));
  loss.backward();
  EXPECT_FALSE(all_finite(m.rnn->kernel().grad()));
}

TEST(DetectAnomaly, AnInfInputThrowsAtTheBackwardThatMadeTheFirstNan) {
  RecurrentModel m;
  DetectAnomaly guard;
  V loss = m.loss();  // every forward result is finite
  EXPECT_TRUE(std::isfinite(loss.item()));
  // The fused SimpleRNN's node; its inputs are x, kernel [2, 4], ...
  EXPECT_TRUE(throws_with<NonFiniteError>(
      [&] { loss.backward(); },
      {"DetectAnomaly: the backward of 'recurrent_sequence' in 'sequential/simple_rnn'",
       "made nan in the gradient of its input", "of shape (2, 4)"}));
}

TEST(DetectAnomaly, AnInfInputThrowsAtTheFirstForwardOpWithANonFiniteResult) {
  // The composed SimpleRNN: its input projection x · kernel of every step,
  // ±inf in the row of the bad step (batch 1, step 2: flat index 5 · 4).
  RecurrentModel m;
  DetectAnomaly guard;
  EXPECT_TRUE(throws_with<NonFiniteError>(
      [&] { m.rnn->forward_composed(m.x); },
      {"DetectAnomaly: 'matmul' in 'simple_rnn' made",
       "inf in its result of shape (2, 3, 4) (first at flat index 20)",
       "from inputs of shapes (2, 3, 2), (2, 4)",
       "inf in input 0 of shape (2, 3, 2) (first at flat index 10) was already there"}));
  // A Dense model: the first layer's matmul, named by the model's path.
  auto first = std::make_shared<nn::Dense<double>>(nn::DenseOptions(3));
  nn::Sequential<double> dense_model({first, std::make_shared<nn::Dense<double>>(nn::DenseOptions(1))});
  Array<double> inputs = xgrad::zeros<double>({5, 2});
  inputs(4, 1) = -kInf;
  EXPECT_TRUE(throws_with<NonFiniteError>(
      [&] { dense_model.forward(V(inputs)); },
      {"'matmul' in 'sequential/dense' made", "in its result of shape (5, 3)",
       "-inf in input 0 of shape (5, 2) (first at flat index 9)"}));
}

TEST(DetectAnomaly, TheSecondLayerOfTheSameNameIsNamedAsTheModelNamesIt) {
  auto first = std::make_shared<nn::Dense<double>>(nn::DenseOptions(2));
  auto second = std::make_shared<nn::Dense<double>>(nn::DenseOptions(1).activation("relu"));
  nn::Sequential<double> model({first, second});
  model.forward(V(xgrad::zeros<double>({1, 2})));  // builds both
  second->kernel().value()(0, 0) = kInf;
  DetectAnomaly guard;
  EXPECT_TRUE(throws_with<NonFiniteError>([&] { model.forward(V(xgrad::ones<double>({1, 2}))); },
                                          {"in 'sequential/dense_1' made"}));
}

TEST(DetectAnomaly, BackwardOfAFiniteForwardThatMakesAnInfThrows) {
  // d sqrt(x)/dx = 0.5 / sqrt(x) is inf at x = 0, where sqrt is 0.
  V x(Array<double>{4.0, 0.0, 1.0}, true);
  DetectAnomaly guard;
  V y;
  {
    const LayerScope scope("my_layer");
    y = xgrad::sum(xgrad::pow(x, 0.5));
  }
  EXPECT_TRUE(throws_with<NonFiniteError>(
      [&] { y.backward(); },
      {"the backward of 'pow' in 'my_layer' (output of shape (3,)) made inf in the gradient of "
       "its input 0 of shape (3,) (first at flat index 1)"}));
}

TEST(DetectAnomaly, LossesNameTheirOps) {
  DetectAnomaly guard;
  V prediction(Array<double>{1.0, 1e300}, true);
  EXPECT_TRUE(throws_with<NonFiniteError>(
      [&] { nn::mean_squared_error(prediction, V(Array<double>{0.0, 0.0})); },
      {"'square' in 'mean_squared_error' made inf"}));
}

TEST(DetectAnomaly, ChecksTheGradientsABackwardStartsFrom) {
  DetectAnomaly guard;
  V x(Array<double>{1.0, 2.0}, true);
  V y = xgrad::scale(x, 2.0);
  EXPECT_TRUE(throws_with<NonFiniteError>(
      [&] { y.backward(Array<double>{0.0, std::nan("")}, true); },
      {"backward: nan in the gradient passed to it of shape (2,)"}));
  x.add_grad(Array<double>{kInf, 0.0});  // left from an earlier pass
  EXPECT_TRUE(throws_with<NonFiniteError>(
      [&] { y.backward(Array<double>{1.0, 1.0}); },
      {"inf in the gradient a leaf already held of shape (2,)", "zero_grad()"}));
  x.zero_grad();
  y.backward(Array<double>{1.0, 1.0});
  EXPECT_EQ(x.grad()(1), 2.0);
}

TEST(DetectAnomaly, ChecksOpsThatRecordNothing) {
  DetectAnomaly guard;
  xgrad::NoGradGuard no_grad;
  EXPECT_TRUE(throws_with<NonFiniteError>(
      [&] { xgrad::log(V(Array<double>{1.0, 0.0})); },
      {"'log' outside any layer made -inf in its result of shape (2,)"}));
}

TEST(DetectAnomaly, IsPerThread) {
  DetectAnomaly guard;
  bool threw = true;
  std::thread([&] {
    try {
      xgrad::log(V(Array<double>{0.0}));
      threw = false;
    } catch (const NonFiniteError&) {
    }
  }).join();
  EXPECT_FALSE(threw);
  EXPECT_THROW(xgrad::log(V(Array<double>{0.0})), NonFiniteError);
}

TEST(DetectAnomaly, FiniteTrainingStepsRunAsWithoutIt) {
  xgrad::manual_seed(6);
  const V x(xgrad::uniform<double>({2, 4, 2}, -1.0, 1.0));
  const V target(xgrad::zeros<double>({2, 3}));
  auto plain = std::make_shared<nn::SimpleRNN<double>>(nn::SimpleRNNOptions(3));
  auto guarded = std::make_shared<nn::SimpleRNN<double>>(nn::SimpleRNNOptions(3));
  xgrad::manual_seed(5);  // the same weights: each layer draws them on its first call
  nn::mean_squared_error(plain->forward(x), target).backward();
  {
    xgrad::manual_seed(5);
    DetectAnomaly anomaly;
    nn::mean_squared_error(guarded->forward(x), target).backward();
  }
  EXPECT_EQ(plain->kernel().grad(), guarded->kernel().grad());
  EXPECT_EQ(plain->recurrent_kernel().grad(), guarded->recurrent_kernel().grad());
}

TEST(LayerScope, ScopesNestIntoAPathAndAnOwnerNamesItselfOnce) {
  EXPECT_EQ(xgrad::current_layer_path(), "");
  const int model = 0, layer = 0;
  {
    const LayerScope outer("model", &model);
    const LayerScope child("dense_1", &layer);
    const LayerScope own_name("dense", &layer);  // the same layer: adds nothing
    EXPECT_EQ(xgrad::current_layer_path(), "model/dense_1");
    {
      const LayerScope inner("cell");
      EXPECT_EQ(xgrad::current_layer_path(), "model/dense_1/cell");
    }
    EXPECT_EQ(xgrad::current_layer_path(), "model/dense_1");
  }
  EXPECT_EQ(xgrad::current_layer_path(), "");
}

}  // namespace
