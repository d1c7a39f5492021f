// Metrics (metrics.hpp) and learning-rate schedules (schedules.hpp) against
// Keras' documented formulas, with the expected figures computed by hand in
// the comments; and the schedules and global_clipnorm inside an optimizer.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <memory>

#include "test_helpers.hpp"
#include "xgrad/nn/metrics.hpp"
#include "xgrad/nn/optimizers.hpp"
#include "xgrad/nn/schedules.hpp"

namespace {

using xgrad::Array;
using xgrad::Variable;
using xgrad::test::throws_with;
namespace nn = xgrad::nn;

// [n, 1] from n values ({{1}, {0}} is ambiguous to xtensor's constructors).
Array<float> column(std::initializer_list<float> values) {
  Array<float> out = Array<float>::from_shape({values.size(), 1});
  std::copy(values.begin(), values.end(), out.data());
  return out;
}

// ---------------------------------------------------------------- metrics

// Keras: mean_absolute_error = mean(|y_pred − y_true|, axis=-1) per sample,
// averaged over samples by a Mean. Batch 1: rows (|1−0| + |1−1|)/2 = 0.5 and
// (|2−2| + |5−3|)/2 = 1; batch 2: (1 + 1)/2 = 1. Over 3 samples:
// (0.5 + 1 + 1) / 3 = 2.5/3.
TEST(Metrics, MeanAbsoluteErrorAveragesPerSampleMeansOverEveryBatch) {
  nn::MeanAbsoluteError<float> mae;
  EXPECT_EQ(mae.name(), "mean_absolute_error");
  EXPECT_EQ(mae.result(), 0.0);  // divide_no_nan before any batch
  mae.update_state(Array<float>{{0, 1}, {2, 3}}, Array<float>{{1, 1}, {2, 5}});
  EXPECT_DOUBLE_EQ(mae.result(), 1.5 / 2);
  mae.update_state(Array<float>{{1, 1}}, Array<float>{{0, 0}});
  EXPECT_DOUBLE_EQ(mae.result(), 2.5 / 3);
  mae.reset_state();
  EXPECT_EQ(mae.result(), 0.0);
  EXPECT_EQ(mae.direction(), nn::MetricDirection::down);
}

// Same batches, squared: rows (1 + 0)/2 = 0.5, (0 + 4)/2 = 2, then (1 + 1)/2
// = 1: (0.5 + 2 + 1) / 3 = 3.5/3. RootMeanSquaredError is sqrt of the mean
// over elements: (1 + 0 + 0 + 4 + 1 + 1) / 6 = 7/6, not a mean of roots.
TEST(Metrics, MeanSquaredAndRootMeanSquaredError) {
  nn::MeanSquaredError<double> mse;
  nn::RootMeanSquaredError<double> rmse;
  for (nn::Metric<double>* metric : std::initializer_list<nn::Metric<double>*>{&mse, &rmse}) {
    metric->update_state(Array<double>{{0, 1}, {2, 3}}, Array<double>{{1, 1}, {2, 5}});
    metric->update_state(Array<double>{{1, 1}}, Array<double>{{0, 0}});
  }
  EXPECT_DOUBLE_EQ(mse.result(), 3.5 / 3);
  EXPECT_DOUBLE_EQ(rmse.result(), std::sqrt(7.0 / 6.0));
  EXPECT_EQ(rmse.name(), "root_mean_squared_error");
}

// Data-parallel training sums the metrics' states over the replicas: the
// figure of the summed state is that of one metric over every batch, also
// for the root mean squared error, which a mean of results would get wrong.
TEST(Metrics, SummedStatesGiveTheFigureOverEveryReplicasBatches) {
  nn::RootMeanSquaredError<double> first, second, both;
  first.update_state(Array<double>{{0, 1}, {2, 3}}, Array<double>{{1, 1}, {2, 5}});
  second.update_state(Array<double>{{1, 1}}, Array<double>{{0, 0}});
  both.update_state(Array<double>{{0, 1}, {2, 3}}, Array<double>{{1, 1}, {2, 5}});
  both.update_state(Array<double>{{1, 1}}, Array<double>{{0, 0}});
  const std::vector<double> a = first.state(), b = second.state();
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a, (std::vector<double>{5.0, 4.0}));  // squared errors 1 + 0 + 0 + 4, 4 elements
  nn::RootMeanSquaredError<double> summed;
  summed.set_state({a[0] + b[0], a[1] + b[1]});
  EXPECT_DOUBLE_EQ(summed.result(), std::sqrt(7.0 / 6.0));
  EXPECT_DOUBLE_EQ(both.result(), std::sqrt(7.0 / 6.0));
  // "accuracy" resolves on its first batch; its state adds up too: {total,
  // count, a count per kind it resolved to}, all 0 before the first batch.
  auto accuracy = nn::make_metric<double>("accuracy"), unresolved = nn::make_metric<double>("accuracy");
  EXPECT_EQ(accuracy->state(), (std::vector<double>(5, 0.0)));
  Array<double> labels = xgrad::zeros<double>({2, 1}), scores = xgrad::full<double>({2, 1}, 0.8);
  labels(0, 0) = 1.0;  // scores 0.8 > 0.5 both: right once
  accuracy->update_state(labels, scores);
  EXPECT_EQ(accuracy->state(), (std::vector<double>{1.0, 2.0, 1.0, 0.0, 0.0}));  // binary
  // Two replicas that saw this batch and one that saw none.
  std::vector<double> sum = accuracy->state();
  for (const auto& other : {accuracy->state(), unresolved->state()})
    for (std::size_t i = 0; i < sum.size(); ++i) sum[i] += other[i];
  auto total = nn::make_metric<double>("accuracy");
  total->set_state(sum);
  EXPECT_DOUBLE_EQ(total->result(), 0.5);
  EXPECT_EQ(total->state(), (std::vector<double>{2.0, 4.0, 1.0, 0.0, 0.0}));
  total->update_state(labels, Array<double>(xgrad::full<double>({2, 1}, 0.9)));  // still binary: 3 of 6
  EXPECT_DOUBLE_EQ(total->result(), 0.5);
  // Two kinds at once, a count without a kind, or the wrong length: no state of "accuracy".
  EXPECT_THROW(total->set_state({1.0, 2.0, 1.0, 1.0, 0.0}), std::invalid_argument);
  EXPECT_THROW(total->set_state({1.0, 2.0, 0.0, 0.0, 0.0}), std::invalid_argument);
  EXPECT_THROW(total->set_state({2.0, 0.0, 1.0}), std::invalid_argument);
  total->set_state(std::vector<double>(5, 0.0));  // unresolved again
  EXPECT_EQ(total->result(), 0.0);
}

// keras.metrics.Accuracy: exact equality, per element: 2 of 4.
// BinaryAccuracy(0.5): y_pred > 0.5 gives 1, 0, 0 (0.5 is not above), 1
// against 1, 0, 1, 0: 2 of 4. With threshold 0 (logits): 1, 1, 1, 1: 2 of 4
// again, but a different pair; [B] labels against [B, 1] predictions.
TEST(Metrics, AccuracyAndBinaryAccuracy) {
  nn::Accuracy<float> accuracy;
  accuracy.update_state(Array<float>{1, 2, 3, 4}, Array<float>{1, 0, 3, 0});
  EXPECT_DOUBLE_EQ(accuracy.result(), 0.5);

  nn::BinaryAccuracy<float> binary;
  EXPECT_EQ(binary.threshold(), 0.5);
  binary.update_state(column({1, 0, 1, 0}), column({0.7f, 0.2f, 0.5f, 0.6f}));
  EXPECT_DOUBLE_EQ(binary.result(), 0.5);
  binary.update_state(column({1, 1}), column({0.9f, 0.1f}));  // 1 of 2 more
  EXPECT_DOUBLE_EQ(binary.result(), 3.0 / 6.0);

  nn::BinaryAccuracy<float> logits(nn::BinaryAccuracyOptions().threshold(0.0));
  logits.update_state(Array<float>{1, 0, 1, 1}, column({2.0f, 0.5f, -1.0f, 0.1f}));
  EXPECT_DOUBLE_EQ(logits.result(), 0.5);  // 1, 1, 0, 1 against 1, 0, 1, 1
}

// argmax of [0.1, 0.6, 0.3], [0.5, 0.2, 0.3], [0.2, 0.2, 0.6] is 1, 0, 2;
// labels 1, 2, 2 match twice: 2/3, whether the labels are int64, int32,
// floats [3] or floats [3, 1]. A tie goes to the first maximum (NumPy's
// argmax): [0.5, 0.5] is class 0.
TEST(Metrics, SparseCategoricalAccuracyTakesIntegerAndFloatLabels) {
  const Array<float> scores{{0.1f, 0.6f, 0.3f}, {0.5f, 0.2f, 0.3f}, {0.2f, 0.2f, 0.6f}};
  nn::SparseCategoricalAccuracy<float> metric;
  metric.update_state(Array<std::int64_t>{1, 2, 2}, scores);
  EXPECT_DOUBLE_EQ(metric.result(), 2.0 / 3.0);
  metric.reset_state();
  metric.update_state(Array<std::int32_t>{1, 2, 2}, scores);
  EXPECT_DOUBLE_EQ(metric.result(), 2.0 / 3.0);
  metric.reset_state();
  metric.update_state(column({1, 2, 2}), scores);
  EXPECT_DOUBLE_EQ(metric.result(), 2.0 / 3.0);
  metric.update_state(Array<float>{0}, Array<float>{{0.5f, 0.5f}});
  EXPECT_DOUBLE_EQ(metric.result(), 3.0 / 4.0);
  // Sequences: labels [B, T] for scores [B, T, C].
  metric.reset_state();
  metric.update_state(Array<std::int64_t>{{0, 1}}, Array<float>{{{0.9f, 0.1f}, {0.8f, 0.2f}}});
  EXPECT_DOUBLE_EQ(metric.result(), 0.5);
}

TEST(Metrics, CategoricalAccuracyComparesArgmaxes) {
  nn::CategoricalAccuracy<float> metric;  // one-hot rows: classes 1, 0 against argmax 1, 2
  metric.update_state(Array<float>{{0, 1, 0}, {1, 0, 0}}, Array<float>{{0.2f, 0.7f, 0.1f}, {0.1f, 0.2f, 0.7f}});
  EXPECT_DOUBLE_EQ(metric.result(), 0.5);
}

TEST(Metrics, ShapesThatDoNotFitThrowNamingBoth) {
  nn::MeanAbsoluteError<float> mae;
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { mae.update_state(Array<float>{{1, 2}}, Array<float>{{1, 2, 3}}); },
      {"MeanAbsoluteError", "(1, 2)", "(1, 3)"}));
  nn::SparseCategoricalAccuracy<float> sparse;
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { sparse.update_state(Array<std::int64_t>{1, 2}, Array<float>{{0.5f, 0.5f}}); },
      {"SparseCategoricalAccuracy", "(2,)", "(1, 2)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([] { nn::make_metric<float>("f1"); },
                                                 {"unknown metric 'f1'"}));
}

// Keras' sample_weight: a weighted Mean of the metric's values, Σ w·v / Σ w,
// each value weighed by its sample's weight. MAE's rows 0.5 and 1 with
// weights 2 and 1: (1 + 1) / 3; then a row of 1 with weight 0.5:
// 2.5 / 3.5. RMSE's elements (1, 0, 0, 4) with the same weights per
// sample: (2·1 + 2·0 + 1·0 + 1·4) / 6.
TEST(Metrics, SampleWeightsWeighEachSamplesValues) {
  nn::MeanAbsoluteError<float> mae;
  nn::RootMeanSquaredError<float> rmse;
  const Array<float> y_true{{0, 1}, {2, 3}}, y_pred{{1, 1}, {2, 5}}, weights{2, 1};
  mae.update_state(y_true, y_pred, weights);
  rmse.update_state(y_true, y_pred, weights);
  EXPECT_DOUBLE_EQ(mae.result(), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(rmse.result(), std::sqrt(6.0 / 6.0));
  mae.update_state(Array<float>{{1, 1}}, Array<float>{{0, 0}}, Array<float>{0.5f});
  EXPECT_DOUBLE_EQ(mae.result(), 2.5 / 3.5);
  // Without weights, each value weighs 1 (the figures of the tests above).
  mae.update_state(Array<float>{{1, 1}}, Array<float>{{0, 0}});
  EXPECT_DOUBLE_EQ(mae.result(), 3.5 / 4.5);
  // A 0-D weight weighs the whole batch: the figure stays, the state doubles.
  nn::MeanSquaredError<float> mse;
  mse.update_state(y_true, y_pred, Array<float>(2.0f));
  EXPECT_EQ(mse.state(), (std::vector<double>{5.0, 4.0}));  // rows 0.5 and 2
  // Weights all 0: nothing counted, the figure 0 (Keras' divide_no_nan).
  nn::MeanAbsoluteError<float> none;
  none.update_state(y_true, y_pred, Array<float>{0, 0});
  EXPECT_EQ(none.result(), 0.0);
}

// Values of a sample's several elements or steps: [B] weights cover all of
// a sample's values, [B, T] weights each step's. Accuracy's matches
// [[1, 0], [1, 1]] with weights 3, 1: (3 + 0 + 1 + 1) / 8. Sparse labels
// [[0, 0]] against argmaxes [[0, 1]] with step weights [[1, 3]]: 1 / 4,
// also with int64 labels and through "accuracy" as make_metric resolves it.
TEST(Metrics, SampleWeightsCoverASamplesElementsOrEachStep) {
  nn::Accuracy<float> accuracy;
  accuracy.update_state(Array<float>{{1, 2}, {3, 4}}, Array<float>{{1, 0}, {3, 4}}, Array<float>{3, 1});
  EXPECT_DOUBLE_EQ(accuracy.result(), 5.0 / 8.0);
  const Array<float> scores{{{0.9f, 0.1f}, {0.2f, 0.8f}}};
  const Array<float> steps{{1, 3}};
  nn::SparseCategoricalAccuracy<float> sparse;
  sparse.update_state(Array<float>{{0, 0}}, scores, steps);
  EXPECT_DOUBLE_EQ(sparse.result(), 0.25);
  sparse.reset_state();
  sparse.update_state(Array<std::int64_t>{{0, 0}}, scores, steps);
  EXPECT_DOUBLE_EQ(sparse.result(), 0.25);
  auto resolved = nn::make_metric("accuracy");
  resolved->update_state(Array<std::int32_t>{{0, 0}}, scores, steps);
  EXPECT_DOUBLE_EQ(resolved->result(), 0.25);
  nn::CategoricalAccuracy<float> categorical;  // classes 1, 0 against argmaxes 1, 2
  categorical.update_state(Array<float>{{0, 1, 0}, {1, 0, 0}}, Array<float>{{0.2f, 0.7f, 0.1f}, {0.1f, 0.2f, 0.7f}},
                           Array<float>{3, 1});
  EXPECT_DOUBLE_EQ(categorical.result(), 0.75);
}

// A metric of one's own that adds sums and counts itself.
class CountingMetric : public nn::MeanMetric<float> {
 public:
  CountingMetric() : nn::MeanMetric<float>("counting", nn::MetricDirection::up) {}

 protected:
  void update(const Array<float>&, const Array<float>& y_pred) override { add(0.0, y_pred.size()); }
};

TEST(Metrics, WeightsThatDoNotFitThrowNamingTheMetricAndTheShapes) {
  nn::MeanAbsoluteError<float> mae;
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { mae.update_state(Array<float>{{1, 2}, {3, 4}}, Array<float>{{1, 2}, {3, 4}}, Array<float>{1, 2, 3}); },
      {"MeanAbsoluteError", "sample_weight of shape (3,)", "(2,)"}));
  nn::Accuracy<float> accuracy;
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { accuracy.update_state(Array<float>{{1, 2}}, Array<float>{{1, 2}}, column({1, 2})); },
      {"Accuracy", "sample_weight of shape (2, 1)", "(1, 2)"}));
  EXPECT_EQ(mae.result(), 0.0);  // nothing added
  CountingMetric own;
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { own.update_state(Array<float>{1}, Array<float>{1}, Array<float>{1}); },
      {"metric 'counting'", "no sample weights", "update_weighted"}));
}

// make_metric names a metric as given (Keras' compile logs "mae" under
// "mae") and resolves "accuracy" from the first batch as Keras' compile:
// y_pred [B, 1] -> binary_accuracy, labels of one axis fewer -> sparse.
TEST(Metrics, MakeMetricResolvesAccuracyLikeKerasCompile) {
  auto mae = nn::make_metric("mae");
  EXPECT_EQ(mae->name(), "mae");
  EXPECT_NE(dynamic_cast<nn::MeanAbsoluteError<float>*>(mae.get()), nullptr);

  auto binary = nn::make_metric("accuracy");
  binary->update_state(column({1, 0}), column({0.9f, 0.8f}));  // 1, 1 vs 1, 0
  EXPECT_DOUBLE_EQ(binary->result(), 0.5);
  EXPECT_EQ(binary->name(), "accuracy");
  EXPECT_EQ(binary->direction(), nn::MetricDirection::up);

  auto sparse = nn::make_metric("acc");
  sparse->update_state(Array<std::int64_t>{2, 0}, Array<float>{{0.1f, 0.2f, 0.7f}, {0.1f, 0.8f, 0.1f}});
  EXPECT_DOUBLE_EQ(sparse->result(), 0.5);  // exact equality would give 0
}

// -------------------------------------------------------------- schedules

// Keras: initial · decay_rate^(step / decay_steps), floor(step / decay_steps)
// with staircase. 0.1 · 0.5^(5/10) = 0.0707106781..., 0.1 · 0.5^2 = 0.025.
TEST(Schedules, ExponentialDecay) {
  const nn::ExponentialDecay smooth(nn::ExponentialDecayOptions(0.1, 10, 0.5));
  EXPECT_DOUBLE_EQ(smooth(0), 0.1);
  EXPECT_NEAR(smooth(5), 0.07071067811865475, 1e-16);
  EXPECT_DOUBLE_EQ(smooth(20), 0.025);
  const nn::ExponentialDecay stairs(nn::ExponentialDecayOptions(0.1, 10, 0.5).staircase(true));
  EXPECT_DOUBLE_EQ(stairs(9), 0.1);
  EXPECT_DOUBLE_EQ(stairs(15), 0.05);
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [] { nn::ExponentialDecay(nn::ExponentialDecayOptions(0.1, 0, 0.5)); },
      {"ExponentialDecay", "decay_steps", "> 0"}));
}

// Keras: values[0] while step <= boundaries[0], values[1] while step <=
// boundaries[1], values[2] after.
TEST(Schedules, PiecewiseConstantDecay) {
  const nn::PiecewiseConstantDecay schedule({10, 20}, {1.0, 0.5, 0.1});
  EXPECT_EQ(schedule(0), 1.0);
  EXPECT_EQ(schedule(10), 1.0);
  EXPECT_EQ(schedule(11), 0.5);
  EXPECT_EQ(schedule(20), 0.5);
  EXPECT_EQ(schedule(21), 0.1);
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [] { nn::PiecewiseConstantDecay({10, 20}, {1.0, 0.5}); }, {"2 boundaries and 2 values"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [] { nn::PiecewiseConstantDecay({20, 10}, {1.0, 0.5, 0.1}); }, {"increase", "20 then 10"}));
}

// Keras: initial · ((1 − alpha) · 0.5 · (1 + cos(pi · min(step, decay_steps)
// / decay_steps)) + alpha). alpha 0.1: step 5 gives 0.9 · 0.5 + 0.1 = 0.55;
// from step 10 on, alpha = 0.1. With a warmup from 0 to 1 over 4 steps:
// step 2 is halfway (0.5); step 4 starts the decay from the target (1);
// step 9 is 5 steps into it (0.5); from step 14 on, 0.
TEST(Schedules, CosineDecayWithAndWithoutWarmup) {
  const nn::CosineDecay cosine(nn::CosineDecayOptions(1.0, 10).alpha(0.1));
  EXPECT_DOUBLE_EQ(cosine(0), 1.0);
  EXPECT_NEAR(cosine(5), 0.55, 1e-15);
  EXPECT_NEAR(cosine(10), 0.1, 1e-15);
  EXPECT_NEAR(cosine(1000), 0.1, 1e-15);
  const nn::CosineDecay warm(nn::CosineDecayOptions(0.0, 10).warmup_target(1.0).warmup_steps(4));
  EXPECT_DOUBLE_EQ(warm(0), 0.0);
  EXPECT_DOUBLE_EQ(warm(2), 0.5);
  EXPECT_DOUBLE_EQ(warm(4), 1.0);
  EXPECT_NEAR(warm(9), 0.5, 1e-15);
  EXPECT_NEAR(warm(100), 0.0, 1e-15);
}

// Keras: initial / (1 + decay_rate · step / decay_steps): 1 / 1.25 = 0.8 at
// step 5; staircase at step 15: 1 / (1 + 0.5 · 1).
TEST(Schedules, InverseTimeDecay) {
  const nn::InverseTimeDecay smooth(nn::InverseTimeDecayOptions(1.0, 10, 0.5));
  EXPECT_DOUBLE_EQ(smooth(5), 0.8);
  const nn::InverseTimeDecay stairs(nn::InverseTimeDecayOptions(1.0, 10, 0.5).staircase(true));
  EXPECT_DOUBLE_EQ(stairs(15), 1.0 / 1.5);
  EXPECT_DOUBLE_EQ(stairs(9), 1.0);
}

// Each step uses schedule(iterations before it): 1.0 for step 0 (<= the
// boundary 0), 0.1 after. p = 0 with gradient 1 each step: −1, then −1.1.
TEST(Schedules, EveryOptimizerAsksTheScheduleAtItsStepCount) {
  auto schedule = std::make_shared<nn::PiecewiseConstantDecay>(
      std::vector<std::size_t>{0}, std::vector<double>{1.0, 0.1});
  Variable<double> p(Array<double>{0.0}, true);
  nn::SGD<double> sgd({p}, nn::SGDOptions().learning_rate(schedule));
  EXPECT_EQ(sgd.learning_rate(), 1.0);
  for (double expected : {-1.0, -1.1}) {
    p.zero_grad();
    p.add_grad(Array<double>{1.0});
    sgd.step();
    EXPECT_DOUBLE_EQ(p.value()(0), expected);
  }
  EXPECT_EQ(sgd.learning_rate(), 0.1);
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { sgd.set_learning_rate(0.5); },
                                                 {"SGD", "LearningRateSchedule"}));
  // Adam and RMSprop take one too (their step uses the scheduled rate).
  Variable<double> q(Array<double>{0.0}, true);
  nn::Adam<double> adam({q}, nn::AdamOptions().learning_rate(schedule));
  q.add_grad(Array<double>{1.0});
  adam.step();  // Adam's first step moves by lr · sqrt(v) / (sqrt(v) + epsilon), v = 0.001
  EXPECT_NEAR(q.value()(0), -std::sqrt(0.001) / (std::sqrt(0.001) + 1e-7), 1e-12);
  nn::RMSprop<double> rmsprop({q}, nn::RMSpropOptions().learning_rate(schedule));
  EXPECT_EQ(rmsprop.learning_rate(), 1.0);
}

// Keras' global_clipnorm: gradients (3, 4) have norm 5; clipped to norm 1
// they are (0.6, 0.8), and SGD with rate 1 moves p by them.
TEST(Schedules, GlobalClipnormClipsBeforeTheUpdate) {
  Variable<float> p(Array<float>{0.0f, 0.0f}, true);
  nn::SGD<float> sgd({p}, nn::SGDOptions().learning_rate(1.0).global_clipnorm(1.0));
  p.add_grad(Array<float>{3.0f, 4.0f});
  sgd.step();
  EXPECT_FLOAT_EQ(p.value()(0), -0.6f);
  EXPECT_FLOAT_EQ(p.value()(1), -0.8f);
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { nn::SGD<float>({p}, nn::SGDOptions().global_clipnorm(-1)); }, {"global_clipnorm"}));
}

}  // namespace
