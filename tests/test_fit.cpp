// Trainer (fit, evaluate, predict, train_on_batch, test_on_batch), the
// callbacks and summary(), against Keras' documented behaviour, with the
// expected figures computed by hand in the comments.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "test_helpers.hpp"
#include "xgrad/autograd/ops.hpp"
#include "xgrad/nn/callbacks.hpp"
#include "xgrad/nn/checkpoint.hpp"
#include "xgrad/nn/data.hpp"
#include "xgrad/nn/dense.hpp"
#include "xgrad/nn/dropout.hpp"
#include "xgrad/nn/losses.hpp"
#include "xgrad/nn/sequential.hpp"
#include "xgrad/nn/simple_rnn.hpp"
#include "xgrad/nn/summary.hpp"
#include "xgrad/nn/trainer.hpp"

namespace {

using xgrad::Array;
using xgrad::Variable;
using xgrad::test::slurp;
using xgrad::test::throws_with;
namespace nn = xgrad::nn;

class FitFiles : public xgrad::test::ScratchDirTest {
 protected:
  FitFiles() : ScratchDirTest("xgrad_fit_") {}
};

// Dense(1) on one feature with kernel w and bias b: y_pred = w · x + b.
std::shared_ptr<nn::Dense<float>> line(float w, float b) {
  auto dense = std::make_shared<nn::Dense<float>>(nn::DenseOptions(1));
  dense->set_weights({xgrad::full<float>({1, 1}, w), xgrad::full<float>({1}, b)});
  return dense;
}

// [n, 1] holding 0, 1, ..., n − 1 (or `first`, first + 1, ...).
Array<float> counting(std::size_t n, float first = 0.0f) {
  Array<float> out = Array<float>::from_shape({n, 1});
  for (std::size_t i = 0; i < n; ++i) out(i, 0) = first + static_cast<float>(i);
  return out;
}

// A callback that sets logs["score"] to scores[epoch] at each epoch end
// (before the callbacks after it see the logs) and keeps the weights each
// epoch ended with.
class Scores : public nn::Callback {
 public:
  explicit Scores(std::vector<double> scores) : scores_(std::move(scores)) {}
  void on_epoch_end(std::size_t epoch, nn::Logs& logs) override {
    logs.set("score", scores_.at(epoch));
    weights.push_back(trainer().get_weights());
  }
  std::vector<std::vector<Array<double>>> weights;

 private:
  std::vector<double> scores_;
};

// ------------------------------------------------------------------ fit

// fit() is the hand loop the examples had: the same seed gives the same
// shuffles, steps and losses, bit for bit (the epoch loss is the
// batch-size-weighted mean of the batch losses, the last batch of 4 of 100
// counting for 4).
TEST(Fit, GivesTheLossesAndWeightsOfTheHandWrittenLoop) {
  auto run_hand_loop = [](nn::Dense<float>& model, const Array<float>& x, const Array<float>& y) {
    nn::Adam<float> optimizer(model.parameters(), nn::AdamOptions().learning_rate(0.05));
    nn::DataLoader<float> loader(x, y, nn::DataLoaderOptions(32));
    std::vector<double> losses;
    for (int epoch = 0; epoch < 3; ++epoch) {
      double total = 0;
      for (auto& batch : loader.epoch()) {
        optimizer.zero_grad();
        Variable<float> loss = nn::mean_squared_error(model(Variable<float>(batch.inputs)),
                                                      Variable<float>(batch.targets));
        loss.backward();
        optimizer.step();
        total += static_cast<double>(loss.item()) * static_cast<double>(batch.indices.size());
      }
      losses.push_back(total / 100);
    }
    return losses;
  };
  const Array<float> x = counting(100, -50.0f) / 25.0f;
  const Array<float> y = 3.0f * x + 1.0f;
  auto by_hand = line(0.5f, 0.0f);
  xgrad::manual_seed(7);
  const std::vector<double> expected = run_hand_loop(*by_hand, x, y);

  auto model = line(0.5f, 0.0f);
  nn::Adam<float> optimizer(model->parameters(), nn::AdamOptions().learning_rate(0.05));
  nn::Trainer<float> trainer(*model, optimizer, "mean_squared_error");
  xgrad::manual_seed(7);
  const nn::History history = trainer.fit(x, y, nn::FitOptions().epochs(3).verbose(0));
  EXPECT_EQ(history.epochs(), (std::vector<std::size_t>{1, 2, 3}));
  EXPECT_EQ(history.values("loss"), expected);
  EXPECT_EQ(model->kernel().value(), by_hand->kernel().value());
  EXPECT_EQ(model->bias().value(), by_hand->bias().value());
}

// Targets [N] for a Dense(1) output [N, 1], the usual regression setup:
// Keras' losses and metrics squeeze the trailing axis, and the run is the
// one targets [N, 1] give, bit for bit.
TEST(Fit, TargetsWithoutTheTrailingAxisOfOneGiveTheSameRun) {
  const Array<float> x = counting(100, -50.0f) / 25.0f;
  const Array<float> y = 3.0f * x + 1.0f;
  const auto run = [&](const Array<float>& targets, nn::Dense<float>& model) {
    nn::Adam<float> optimizer(model.parameters(), nn::AdamOptions().learning_rate(0.05));
    nn::Trainer<float> trainer(model, optimizer, "mse", {nn::make_metric("mae")});
    xgrad::manual_seed(7);
    return trainer.fit(x, targets, nn::FitOptions().epochs(2).verbose(0).validation_split(0.2));
  };
  auto with_axis = line(0.5f, 0.0f), without = line(0.5f, 0.0f);
  const nn::History expected = run(y, *with_axis);
  const nn::History got = run(xgrad::reshaped(y, {100}), *without);
  for (const char* key : {"loss", "mae", "val_loss", "val_mae"}) EXPECT_EQ(got.values(key), expected.values(key)) << key;
  EXPECT_EQ(without->kernel().value(), with_axis->kernel().value());
  EXPECT_EQ(without->bias().value(), with_axis->bias().value());
}

// Keras' validation_split takes the LAST fraction before shuffling: of 10
// samples x = 0..9 with y = 0 and y_pred = x (learning rate 0, so nothing
// changes), training sees 0..7, MSE (0 + 1 + 4 + ... + 49) / 8 = 140/8 =
// 17.5, and validation 8, 9: (64 + 81) / 2 = 72.5. The History keeps
// Keras' order: loss, metrics, val_loss, val_metrics.
TEST(Fit, ValidationSplitTakesTheLastSamples) {
  auto model = line(1.0f, 0.0f);
  nn::SGD<float> optimizer(model->parameters(), nn::SGDOptions().learning_rate(0.0));
  nn::Trainer<float> trainer(*model, optimizer, "mse", {nn::make_metric("mae")});
  const nn::History history = trainer.fit(
      counting(10), xgrad::zeros<float>({10, 1}),
      nn::FitOptions().epochs(1).batch_size(3).validation_split(0.2).verbose(0));
  EXPECT_EQ(history.metric_names(), (std::vector<std::string>{"loss", "mae", "val_loss", "val_mae"}));
  // Within float rounding: each batch's loss is a float mean.
  EXPECT_NEAR(history.values("loss")[0], 17.5, 1e-5);
  EXPECT_NEAR(history.values("mae")[0], 28.0 / 8, 1e-6);
  EXPECT_NEAR(history.values("val_loss")[0], 72.5, 1e-5);
  EXPECT_NEAR(history.values("val_mae")[0], 8.5, 1e-6);
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { trainer.fit(counting(3), xgrad::zeros<float>({3, 1}), nn::FitOptions().validation_split(0.7).verbose(0)); },
      {"3 samples cannot be split", "0.7"}));  // floor(3 · 0.3) = 0 left to train on
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { trainer.fit(counting(3), xgrad::zeros<float>({3, 1}), nn::FitOptions().validation_split(1.0).verbose(0)); },
      {"validation_split must be in [0, 1)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { trainer.fit(counting(3), xgrad::zeros<float>({4, 1}), nn::FitOptions().verbose(0)); },
      {"Trainer::fit", "(3, 1)", "(4, 1)"}));
}

// Keras' validation_freq: validation after every second epoch (counted
// from 1, initial_epoch's included); the History has NaN in the others.
TEST(Fit, ValidationFreqValidatesEveryNthEpoch) {
  auto model = line(1.0f, 0.0f);
  nn::SGD<float> optimizer(model->parameters(), nn::SGDOptions().learning_rate(0.0));
  nn::Trainer<float> trainer(*model, optimizer, "mse");
  const Array<float> x = counting(4), y = xgrad::zeros<float>({4, 1});
  const nn::History history =
      trainer.fit(x, y, nn::FitOptions().epochs(5).initial_epoch(1).verbose(0).validation_freq(2).validation_data(x, y));
  const std::vector<double> val_loss = history.values("val_loss");
  ASSERT_EQ(val_loss.size(), 4u);  // epochs 2, 3, 4, 5
  EXPECT_DOUBLE_EQ(val_loss[0], 14.0 / 4.0);
  EXPECT_TRUE(std::isnan(val_loss[1]));
  EXPECT_DOUBLE_EQ(val_loss[2], 14.0 / 4.0);
  EXPECT_TRUE(std::isnan(val_loss[3]));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { trainer.fit(x, y, nn::FitOptions().verbose(0).validation_freq(0)); }, {"validation_freq", "0"}));
}

// evaluate weighs each batch's loss by its size, as Keras' loss tracker
// (a Mean with sample_weight = batch size): y_pred = x for x = 1..5, y = 0,
// batches of 2: means (1 + 4)/2 = 2.5, (9 + 16)/2 = 12.5, then 25 alone:
// (2.5·2 + 12.5·2 + 25·1) / 5 = 11, the MSE over all five; the mean of the
// three batch means would be 13.33.
TEST(Fit, EvaluateWeighsTheLastPartialBatchByItsSize) {
  auto model = line(1.0f, 0.0f);
  nn::SGD<float> optimizer(model->parameters());
  nn::Trainer<float> trainer(*model, optimizer, nn::mean_squared_error<float>,
                             {nn::make_metric("mae")});
  const nn::Logs logs = trainer.evaluate(counting(5, 1.0f), xgrad::zeros<float>({5, 1}),
                                         nn::EvaluateOptions().batch_size(2));
  EXPECT_EQ(logs.names(), "loss, mae");
  EXPECT_DOUBLE_EQ(logs.at("loss"), 11.0);
  EXPECT_DOUBLE_EQ(logs.at("mae"), 3.0);  // (1 + 2 + 3 + 4 + 5) / 5
}

// The steps by hand: w = 1, b = 0, x = (1, 2), y = 0: loss = (1 + 4)/2 =
// 2.5, dloss/dw = mean(2·x·x) = 5, dloss/db = mean(2·x) = 3; SGD with rate
// 0.1 gives w = 0.5, b = −0.3. test_on_batch then: y_pred = 0.2, 0.7:
// (0.04 + 0.49)/2 = 0.265, and the running figures keep adding until
// reset_metrics().
TEST(Fit, TrainOnBatchAndTestOnBatch) {
  auto model = line(1.0f, 0.0f);
  nn::SGD<float> optimizer(model->parameters(), nn::SGDOptions().learning_rate(0.1));
  nn::Trainer<float> trainer(*model, optimizer, "mse");
  const Array<float> x = counting(2, 1.0f), y = xgrad::zeros<float>({2, 1});
  EXPECT_FLOAT_EQ(static_cast<float>(trainer.train_on_batch(x, y).at("loss")), 2.5f);
  EXPECT_FLOAT_EQ(model->kernel().value()(0, 0), 0.5f);
  EXPECT_FLOAT_EQ(model->bias().value()(0), -0.3f);
  trainer.reset_metrics();
  EXPECT_NEAR(trainer.test_on_batch(x, y).at("loss"), 0.265, 1e-6);
  EXPECT_NEAR(trainer.test_on_batch(x, y).at("loss"), 0.265, 1e-6);  // the mean of equal batches
  EXPECT_FLOAT_EQ(model->kernel().value()(0, 0), 0.5f);             // no step
}

// Keras adds the model's losses (regularization penalties) to the loss it
// trains on and reports.
TEST(Fit, TheLossIncludesTheRegularizationLoss) {
  xgrad::manual_seed(3);
  nn::Sequential<float> model;
  model.add(std::make_shared<nn::SimpleRNN<float>>(nn::SimpleRNNOptions(3).kernel_regularizer("l2")));
  model.add(std::make_shared<nn::Dense<float>>(nn::DenseOptions(1)));
  model.build({-1, 4, 2});
  nn::SGD<float> optimizer(model.parameters());
  nn::Trainer<float> trainer(model, optimizer, "mse");
  const Array<float> x = xgrad::uniform<float>({5, 4, 2}, -1.f, 1.f), y = xgrad::zeros<float>({5, 1});
  xgrad::NoGradGuard no_grad;
  const double expected =
      static_cast<double>(nn::mean_squared_error(model(Variable<float>(x)), Variable<float>(y)).item()) +
      static_cast<double>(model.regularization_loss().item());
  EXPECT_GT(model.regularization_loss().item(), 0.0f);
  EXPECT_NEAR(trainer.test_on_batch(x, y).at("loss"), expected, 1e-6);
}

// Integer labels with the sparse loss and Keras' "accuracy".
TEST(Fit, ClassLabelsAsInt64) {
  xgrad::manual_seed(5);
  const Array<float> x = xgrad::uniform<float>({64, 2}, -1.f, 1.f);
  Array<std::int64_t> labels = Array<std::int64_t>::from_shape({64});
  for (std::size_t i = 0; i < 64; ++i) labels(i) = x(i, 0) > x(i, 1) ? 1 : 0;
  auto model = std::make_shared<nn::Dense<float>>(nn::DenseOptions(2));
  model->build({-1, 2});
  nn::Adam<float> optimizer(model->parameters(), nn::AdamOptions().learning_rate(0.1));
  nn::Trainer<float> trainer(*model, optimizer, "sparse_categorical_crossentropy_from_logits",
                             {nn::make_metric("accuracy")});
  const nn::History history = trainer.fit(x, labels, nn::FitOptions().epochs(30).batch_size(16).verbose(0));
  EXPECT_LT(history.values("loss").back(), history.values("loss").front());
  EXPECT_GE(trainer.evaluate(x, labels).at("accuracy"), 0.9);  // a line separates the classes
  Array<float> half = xgrad::full<float>({1, 1}, 0.5f);
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { trainer.evaluate(xgrad::zeros<float>({1, 2}), half); }, {"label 0.5", "not an integer"}));
}

// int32 labels (Keras takes int32 or int64) give the same run as int64 ones,
// through fit, validation_data and evaluate.
TEST(Fit, ClassLabelsAsInt32GiveTheSameRunAsInt64) {
  xgrad::manual_seed(6);
  const Array<float> x = xgrad::uniform<float>({32, 2}, -1.f, 1.f);
  Array<std::int64_t> labels = Array<std::int64_t>::from_shape({32});
  for (std::size_t i = 0; i < 32; ++i) labels(i) = x(i, 0) > x(i, 1) ? 1 : 0;
  const Array<std::int32_t> narrow = xt::cast<std::int32_t>(labels);
  auto run = [&](auto y) {
    xgrad::manual_seed(7);
    auto model = std::make_shared<nn::Dense<float>>(nn::DenseOptions(2));
    model->build({-1, 2});
    nn::Adam<float> optimizer(model->parameters(), nn::AdamOptions().learning_rate(0.1));
    nn::Trainer<float> trainer(*model, optimizer, "sparse_categorical_crossentropy_from_logits",
                               {nn::make_metric("sparse_categorical_accuracy")});
    const nn::History history = trainer.fit(
        x, y, nn::FitOptions().epochs(3).batch_size(8).verbose(0).validation_data(x, y));
    return std::make_pair(history.values("val_sparse_categorical_accuracy"),
                          trainer.evaluate(x, y).at("loss"));
  };
  const auto wide = run(labels), small = run(narrow);
  EXPECT_EQ(small.first, wide.first);
  EXPECT_EQ(small.second, wide.second);
}

// A module of the user's own that records how it was called.
class Probe : public nn::Module<float> {
 public:
  Probe() : nn::Module<float>("probe") {
    weight_ = register_parameter("w", Variable<float>(xgrad::ones<float>({1})));
  }
  Variable<float> forward(const Variable<float>& x) {
    grad_enabled = xgrad::is_grad_enabled();
    training = is_training();
    Variable<float> y = xgrad::mul(x, weight_);
    output_requires_grad = y.requires_grad();
    return y;
  }
  bool grad_enabled = true, training = true, output_requires_grad = true;

 private:
  Variable<float> weight_;
};

// predict runs in inference mode under NoGradGuard (the output records no
// graph), restores the mode, and concatenates the batches in order.
TEST(Fit, PredictRecordsNoGraphAndRestoresTheMode) {
  Probe probe;
  nn::SGD<float> optimizer(probe.parameters());
  nn::Trainer<float> trainer(probe, optimizer, "mse");
  const Array<float> out = trainer.predict(counting(5), 2);
  EXPECT_FALSE(probe.grad_enabled);
  EXPECT_FALSE(probe.training);
  EXPECT_FALSE(probe.output_requires_grad);
  EXPECT_TRUE(probe.is_training());  // as it was
  EXPECT_EQ(out, counting(5));
  EXPECT_FALSE(probe.parameters()[0].has_grad());
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { trainer.predict(counting(5), 0); },
                                                 {"batch_size must be positive"}));
}

// fit trains in training mode and gives the model back in the mode it had;
// validation runs in inference mode. A Dropout(0.5) layer: in training half
// the outputs are 0 or doubled, in inference it is the identity, so the
// validation loss of y_pred = x against y = x is 0 exactly.
TEST(Fit, TrainingModeForStepsInferenceForValidationAndTheModeRestored) {
  xgrad::manual_seed(11);
  nn::Sequential<float> model;
  model.add(line(1.0f, 0.0f));
  model.add(std::make_shared<nn::Dropout<float>>(nn::DropoutOptions(0.5)));
  nn::SGD<float> optimizer(model.parameters(), nn::SGDOptions().learning_rate(0.0));
  nn::Trainer<float> trainer(model, optimizer, "mse");
  const Array<float> x = counting(16, 1.0f);
  model.eval();
  const nn::History history =
      trainer.fit(x, x, nn::FitOptions().epochs(1).verbose(0).validation_data(x, x));
  EXPECT_GT(history.values("loss")[0], 0.0);       // dropout was on
  EXPECT_EQ(history.values("val_loss")[0], 0.0);   // and off for validation
  EXPECT_FALSE(model.is_training());               // as it was before fit
  EXPECT_EQ(trainer.predict(x), x);                // inference: the identity
  EXPECT_EQ(trainer.evaluate(x, x).at("loss"), 0.0);
}

// initial_epoch starts the count there (Keras: the epoch to resume from),
// and labels for the validation data may be int64 too.
TEST(Fit, InitialEpochAndInt64ValidationLabels) {
  auto model = std::make_shared<nn::Dense<float>>(nn::DenseOptions(2));
  model->build({-1, 1});
  nn::SGD<float> optimizer(model->parameters());
  nn::Trainer<float> trainer(*model, optimizer, "sparse_categorical_crossentropy_from_logits");
  const Array<std::int64_t> labels{0, 1, 1, 0};
  const nn::History history = trainer.fit(
      counting(4), labels,
      nn::FitOptions().epochs(5).initial_epoch(3).verbose(0).validation_data(counting(4), labels));
  EXPECT_EQ(history.epochs(), (std::vector<std::size_t>{4, 5}));
  EXPECT_TRUE(history.values("val_loss")[1] > 0.0);
}

// ------------------------------------------------------------ callbacks

// The hooks in Keras' order, with evaluate's on_test_* hooks inside fit's
// epoch (validation) and in evaluate() itself; Logs name what they lack.
TEST(Callbacks, HooksRunInKerasOrder) {
  struct Recorder : nn::Callback {
    void on_train_begin(nn::Logs&) override { calls += "train_begin "; }
    void on_epoch_begin(std::size_t e, nn::Logs&) override { calls += "epoch_begin" + std::to_string(e) + " "; }
    void on_batch_begin(std::size_t b, nn::Logs&) override { calls += "batch_begin" + std::to_string(b) + " "; }
    void on_batch_end(std::size_t b, nn::Logs& logs) override {
      calls += "batch_end" + std::to_string(b) + "(" + logs.names() + ") ";
    }
    void on_test_begin(nn::Logs&) override { calls += "test_begin "; }
    void on_test_batch_end(std::size_t b, nn::Logs&) override { calls += "test_batch_end" + std::to_string(b) + " "; }
    void on_test_end(nn::Logs&) override { calls += "test_end "; }
    void on_epoch_end(std::size_t e, nn::Logs& logs) override {
      calls += "epoch_end" + std::to_string(e) + "(" + logs.names() + ") ";
    }
    void on_train_end(nn::Logs&) override { calls += "train_end"; }
    std::string calls;
  };
  auto model = line(1.0f, 0.0f);
  nn::SGD<float> optimizer(model->parameters(), nn::SGDOptions().learning_rate(0.0));
  nn::Trainer<float> trainer(*model, optimizer, "mse", {nn::make_metric("mae")});
  auto recorder = std::make_shared<Recorder>();
  trainer.fit(counting(3), counting(3),
              nn::FitOptions().batch_size(2).verbose(0).validation_data(counting(1), counting(1)).callbacks({recorder}));
  EXPECT_EQ(recorder->calls,
            "train_begin epoch_begin0 batch_begin0 batch_end0(loss, mae) batch_begin1 "
            "batch_end1(loss, mae) test_begin test_batch_end0 test_end "
            "epoch_end0(loss, mae, val_loss, val_mae) train_end");
  recorder->calls.clear();
  trainer.evaluate(counting(3), counting(3), nn::EvaluateOptions().batch_size(2).callbacks({recorder}));
  EXPECT_EQ(recorder->calls, "test_begin test_batch_end0 test_batch_end1 test_end ");
  EXPECT_TRUE(throws_with<std::out_of_range>([] { nn::Logs{{"loss", 1.0}}.at("val_loss"); },
                                             {"'val_loss'", "there are: loss"}));
  EXPECT_TRUE(throws_with<std::logic_error>([] { Recorder().trainer(); }, {"not run by a trainer"}));
}

// Keras' LambdaCallback: each function runs at its hook, in the order of
// the test above; on_batch_begin / _end stand for training batches until
// on_train_batch_begin / _end are given; a function reaches the run through
// the trainer it captures.
TEST(Callbacks, LambdaCallbackRunsItsFunctionsAtTheirHooks) {
  std::string calls;
  const auto logs_hook = [&calls](const std::string& name) {
    return [&calls, name](nn::Logs&) { calls += name + " "; };
  };
  const auto index_hook = [&calls](const std::string& name, bool with_logs) {
    return [&calls, name, with_logs](std::size_t i, nn::Logs& logs) {
      calls += name + std::to_string(i) + (with_logs ? "(" + logs.names() + ")" : "") + " ";
    };
  };
  nn::LambdaCallbackOptions options = nn::LambdaCallbackOptions()
                                          .on_train_begin(logs_hook("train_begin"))
                                          .on_epoch_begin(index_hook("epoch_begin", false))
                                          .on_batch_begin(index_hook("batch_begin", false))
                                          .on_batch_end(index_hook("batch_end", true))
                                          .on_test_begin(logs_hook("test_begin"))
                                          .on_test_batch_end(index_hook("test_batch_end", false))
                                          .on_test_end(logs_hook("test_end"))
                                          .on_epoch_end(index_hook("epoch_end", true))
                                          .on_train_end(logs_hook("train_end"));
  auto model = line(1.0f, 0.0f);
  nn::SGD<float> optimizer(model->parameters(), nn::SGDOptions().learning_rate(0.0));
  nn::Trainer<float> trainer(*model, optimizer, "mse", {nn::make_metric("mae")});
  const auto fit_options = [](std::shared_ptr<nn::Callback> callback) {
    return nn::FitOptions().batch_size(2).verbose(0).validation_data(counting(1), counting(1)).callbacks({callback});
  };
  trainer.fit(counting(3), counting(3), fit_options(std::make_shared<nn::LambdaCallback>(options)));
  EXPECT_EQ(calls,
            "train_begin epoch_begin0 batch_begin0 batch_end0(loss, mae) batch_begin1 "
            "batch_end1(loss, mae) test_begin test_batch_end0 test_end "
            "epoch_end0(loss, mae, val_loss, val_mae) train_end ");

  calls.clear();
  options.on_train_batch_begin(index_hook("train_batch_begin", false)).on_train_end(nullptr);
  trainer.fit(counting(3), counting(3), fit_options(std::make_shared<nn::LambdaCallback>(options)));
  EXPECT_EQ(calls,
            "train_begin epoch_begin0 train_batch_begin0 batch_end0(loss, mae) train_batch_begin1 "
            "batch_end1(loss, mae) test_begin test_batch_end0 test_end "
            "epoch_end0(loss, mae, val_loss, val_mae) ");

  auto stop_after_two = std::make_shared<nn::LambdaCallback>(nn::LambdaCallbackOptions().on_epoch_end(
      [&trainer](std::size_t epoch, nn::Logs&) { trainer.stop_training = epoch == 1; }));
  const nn::History history =
      trainer.fit(counting(3), counting(3), nn::FitOptions().epochs(5).verbose(0).callbacks({stop_after_two}));
  EXPECT_EQ(history.values("loss").size(), 2u);
  EXPECT_FALSE(stop_after_two->root_only());
  EXPECT_TRUE(nn::LambdaCallback(nn::LambdaCallbackOptions().root_only(true)).root_only());
}

// EarlyStopping's start_from_epoch: epochs before it are not watched. Scores
// 1, 2, 3, 4 (min mode, patience 1) would stop after epoch 1; watched from
// epoch 2 on, 3 is the first best and 4 stops training after epoch 3.
TEST(Callbacks, EarlyStoppingStartFromEpoch) {
  auto model = line(1.0f, 0.0f);
  nn::SGD<float> optimizer(model->parameters(), nn::SGDOptions().learning_rate(0.0));
  nn::Trainer<float> trainer(*model, optimizer, "mse");
  auto scores = std::make_shared<Scores>(std::vector<double>{1, 2, 3, 4, 5});
  auto stop = std::make_shared<nn::EarlyStopping>(
      nn::EarlyStoppingOptions().monitor("score").mode("min").patience(1).start_from_epoch(2));
  EXPECT_EQ(trainer.fit(counting(2), counting(2), nn::FitOptions().epochs(5).verbose(0).callbacks({scores, stop})).size(), 4u);
  EXPECT_EQ(stop->best(), 3.0);
  EXPECT_EQ(stop->stopped_epoch(), 3u);
}


// Keras' EarlyStopping with restore_best_weights: scores 3, 1, 2, 4, 5 and
// patience 2: epoch 1 improves (best 1, wait 0), epochs 2 and 3 do not
// (wait 1, then 2 >= patience): training stops after epoch 3 (from 0), and
// the weights of the end of epoch 1 come back exactly.
TEST(Callbacks, EarlyStoppingRestoresTheBestEpochsWeightsExactly) {
  auto model = line(0.5f, 0.0f);
  nn::SGD<float> optimizer(model->parameters(), nn::SGDOptions().learning_rate(0.01));
  nn::Trainer<float> trainer(*model, optimizer, "mse");
  auto scores = std::make_shared<Scores>(std::vector<double>{3, 1, 2, 4, 5});
  auto stop = std::make_shared<nn::EarlyStopping>(
      nn::EarlyStoppingOptions().monitor("score").mode("min").patience(2).restore_best_weights(true));
  const nn::History history = trainer.fit(
      counting(8), 2.0f * counting(8), nn::FitOptions().epochs(5).batch_size(4).verbose(0).callbacks({scores, stop}));
  EXPECT_EQ(history.size(), 4u);
  EXPECT_EQ(stop->stopped_epoch(), 3u);
  EXPECT_EQ(stop->best_epoch(), 1u);
  EXPECT_EQ(stop->best(), 1.0);
  ASSERT_EQ(scores->weights.size(), 4u);
  EXPECT_NE(scores->weights[1], scores->weights[3]);  // training moved them on
  EXPECT_EQ(trainer.get_weights(), scores->weights[1]);
  EXPECT_EQ(model->kernel().value()(0, 0), static_cast<float>(scores->weights[1][0](0, 0)));
}

// Mode "auto" maximises a metric whose direction is up (accuracy) and throws
// for a monitor it cannot place. baseline: an improvement resets wait only
// if it also beats the baseline. Scores 0.5, 0.4, 0.3, 0.2 in mode max,
// patience 2: without a baseline, epoch 0 improves (wait 0), epochs 1, 2
// do not (wait 1, 2): stop after epoch 2. With baseline 0.8, epoch 0's
// improvement leaves wait at 1, epoch 1 makes it 2: stop after epoch 1.
TEST(Callbacks, EarlyStoppingModesAndBaseline) {
  auto model = line(1.0f, 0.0f);
  nn::SGD<float> optimizer(model->parameters(), nn::SGDOptions().learning_rate(0.0));
  nn::Trainer<float> trainer(*model, optimizer, "mse", {nn::make_metric("binary_accuracy")});
  auto scores = std::make_shared<Scores>(std::vector<double>{0.5, 0.4, 0.3, 0.2});
  const auto fit = [&](nn::Callbacks callbacks) {
    scores->weights.clear();
    return trainer.fit(counting(4), xgrad::zeros<float>({4, 1}),
                       nn::FitOptions().epochs(4).verbose(0).callbacks(std::move(callbacks)));
  };
  const auto options = nn::EarlyStoppingOptions().monitor("score").mode("max").patience(2);
  auto plain = std::make_shared<nn::EarlyStopping>(options);
  EXPECT_EQ(fit({scores, plain}).size(), 3u);
  auto with_baseline = std::make_shared<nn::EarlyStopping>(nn::EarlyStoppingOptions(options).baseline(0.8));
  EXPECT_EQ(fit({scores, with_baseline}).size(), 2u);
  EXPECT_EQ(with_baseline->best(), 0.5);
  auto unknown = std::make_shared<nn::EarlyStopping>(nn::EarlyStoppingOptions().monitor("score"));
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { fit({scores, unknown}); },
                                                 {"EarlyStopping", "'score'", "mode"}));
  auto accuracy = std::make_shared<nn::EarlyStopping>(nn::EarlyStoppingOptions().monitor("binary_accuracy"));
  fit({accuracy});  // accuracy stays 0.25 (only x = 0 is below 0.5): never above -inf again
  EXPECT_EQ(accuracy->best(), 0.25);
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [] { nn::EarlyStopping(nn::EarlyStoppingOptions().mode("minimum")); }, {"mode", "minimum"}));
}

// TerminateOnNaN: a NaN in the second batch's inputs makes the running loss
// NaN at batch 1; training stops after it, the epoch still ends (Keras runs
// on_epoch_end) and the message names the epoch and the batch.
TEST(Callbacks, TerminateOnNaNStopsAtTheBatchWithANaNInput) {
  auto model = line(1.0f, 0.0f);
  nn::SGD<float> optimizer(model->parameters(), nn::SGDOptions().learning_rate(0.001));
  nn::Trainer<float> trainer(*model, optimizer, "mse");
  Array<float> x = counting(8);
  x(3, 0) = std::nanf("");
  struct Count : nn::Callback {
    void on_batch_end(std::size_t, nn::Logs&) override { ++batches; }
    int batches = 0;
  };
  auto count = std::make_shared<Count>();
  testing::internal::CaptureStderr();
  const nn::History history = trainer.fit(
      x, xgrad::zeros<float>({8, 1}),
      nn::FitOptions().epochs(3).batch_size(2).shuffle(false).verbose(0).callbacks(
          {count, std::make_shared<nn::TerminateOnNaN>()}));
  const std::string said = testing::internal::GetCapturedStderr();
  EXPECT_NE(said.find("Epoch 1, batch 1: invalid loss (nan), terminating training"), std::string::npos) << said;
  EXPECT_EQ(count->batches, 2);
  ASSERT_EQ(history.size(), 1u);
  EXPECT_TRUE(std::isnan(history.values("loss")[0]));
}

// Keras' ReduceLROnPlateau with scores flat at 1 (min_delta 1e-4: never an
// improvement after the first), patience 2, factor 0.5, cooldown 1:
//   epoch 0: best 1, wait 0          lr 1 in the logs
//   epoch 1: wait 1                  1
//   epoch 2: wait 2 -> lr 0.5, cooldown 1, wait 0    (logs: 1, written first)
//   epoch 3: cooldown 1 -> 0, wait 0, then wait 1    0.5
//   epoch 4: wait 2 -> lr 0.25       0.5
//   epoch 5: cooldown -> 0, wait 1   0.25
TEST(Callbacks, ReduceLROnPlateauWithCooldown) {
  auto model = line(1.0f, 0.0f);
  nn::SGD<float> optimizer(model->parameters(), nn::SGDOptions().learning_rate(1.0));
  nn::Trainer<float> trainer(*model, optimizer, "mse");
  auto scores = std::make_shared<Scores>(std::vector<double>(6, 1.0));
  auto reduce = std::make_shared<nn::ReduceLROnPlateau>(
      nn::ReduceLROnPlateauOptions().monitor("score").factor(0.5).patience(2).cooldown(1));
  const nn::History history =
      trainer.fit(xgrad::zeros<float>({2, 1}), xgrad::zeros<float>({2, 1}),
                  nn::FitOptions().epochs(6).verbose(0).callbacks({scores, reduce}));
  EXPECT_EQ(history.values("learning_rate"), (std::vector<double>{1, 1, 1, 0.5, 0.5, 0.25}));
  EXPECT_EQ(optimizer.learning_rate(), 0.25);
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [] { nn::ReduceLROnPlateau(nn::ReduceLROnPlateauOptions().factor(1.0)); }, {"factor", "[0, 1)"}));
}

// Keras' LearningRateScheduler: schedule(epoch, lr) at each epoch begin,
// the rate in the logs at its end: 0.1, then halved: 0.05, 0.025.
TEST(Callbacks, LearningRateSchedulerSetsTheRateEachEpoch) {
  auto model = line(1.0f, 0.0f);
  nn::SGD<float> optimizer(model->parameters(), nn::SGDOptions().learning_rate(0.1));
  nn::Trainer<float> trainer(*model, optimizer, "mse");
  auto scheduler = std::make_shared<nn::LearningRateScheduler>(
      [](std::size_t epoch, double lr) { return epoch == 0 ? lr : lr * 0.5; });
  const nn::History history =
      trainer.fit(xgrad::zeros<float>({2, 1}), xgrad::zeros<float>({2, 1}),
                  nn::FitOptions().epochs(3).verbose(0).callbacks({scheduler}));
  EXPECT_EQ(history.values("learning_rate"), (std::vector<double>{0.1, 0.05, 0.025}));
  auto bad = std::make_shared<nn::LearningRateScheduler>([](std::size_t, double) { return -1.0; });
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] {
        trainer.fit(xgrad::zeros<float>({2, 1}), xgrad::zeros<float>({2, 1}),
                    nn::FitOptions().verbose(0).callbacks({bad}));
      },
      {"LearningRateScheduler", "-1", "epoch 0"}));
}

// ModelCheckpoint with save_best_only and a formatted path: scores 3, 1, 2
// save after epochs 1 and 2 (Keras numbers them from 1 in the path), not
// after 3; each file holds that epoch's weights.
TEST_F(FitFiles, ModelCheckpointSavesTheBestEpochs) {
  auto model = line(0.5f, 0.0f);
  nn::SGD<float> optimizer(model->parameters(), nn::SGDOptions().learning_rate(0.01));
  nn::Trainer<float> trainer(*model, optimizer, "mse");
  auto scores = std::make_shared<Scores>(std::vector<double>{3, 1, 2});
  auto checkpoint = std::make_shared<nn::ModelCheckpoint>(
      nn::ModelCheckpointOptions(path("ckpt/{epoch:02d}-{score:.2f}.npz")).monitor("score").save_best_only(true));
  trainer.fit(counting(4), counting(4), nn::FitOptions().epochs(3).verbose(0).callbacks({scores, checkpoint}));
  EXPECT_TRUE(std::filesystem::exists(path("ckpt/01-3.00.npz")));
  EXPECT_TRUE(std::filesystem::exists(path("ckpt/02-1.00.npz")));
  EXPECT_FALSE(std::filesystem::exists(path("ckpt/03-2.00.npz")));
  auto reloaded = line(0.0f, 0.0f);
  nn::load(*reloaded, path("ckpt/02-1.00.npz"));
  EXPECT_EQ(static_cast<double>(reloaded->kernel().value()(0, 0)), scores->weights[1][0](0, 0));
  // Without save_best_only, every epoch; "{epoch}" alone is Python's str().
  auto every = std::make_shared<nn::ModelCheckpoint>(nn::ModelCheckpointOptions(path("every/e{epoch}.npz")));
  trainer.fit(counting(4), counting(4), nn::FitOptions().epochs(2).verbose(0).callbacks({every}));
  EXPECT_TRUE(std::filesystem::exists(path("every/e1.npz")));
  EXPECT_TRUE(std::filesystem::exists(path("every/e2.npz")));
  auto missing = std::make_shared<nn::ModelCheckpoint>(nn::ModelCheckpointOptions(path("{val_loss}.npz")));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { trainer.fit(counting(4), counting(4), nn::FitOptions().verbose(0).callbacks({missing})); },
      {"ModelCheckpoint", "'val_loss'", "loss"}));
}

// Keras' CSVLogger: epoch from 0, then the keys in sorted order; append
// adds rows without a second header.
TEST_F(FitFiles, CSVLoggerWritesKerasRows) {
  auto model = line(1.0f, 0.0f);
  nn::SGD<float> optimizer(model->parameters(), nn::SGDOptions().learning_rate(0.0));
  nn::Trainer<float> trainer(*model, optimizer, "mse");
  auto scores = std::make_shared<Scores>(std::vector<double>{0.5, 0.25});
  const auto fit = [&](bool append) {
    auto logger = std::make_shared<nn::CSVLogger>(
        nn::CSVLoggerOptions(path("log.csv")).separator(';').append(append));
    trainer.fit(counting(2, 1.0f), xgrad::zeros<float>({2, 1}),  // loss (1 + 4)/2 = 2.5
                nn::FitOptions().epochs(2).verbose(0).callbacks({scores, logger}));
  };
  fit(false);
  EXPECT_EQ(slurp(path("log.csv")), "epoch;loss;score\n0;2.5;0.5\n1;2.5;0.25\n");
  fit(true);
  EXPECT_EQ(slurp(path("log.csv")),
            "epoch;loss;score\n0;2.5;0.5\n1;2.5;0.25\n0;2.5;0.5\n1;2.5;0.25\n");
}

// verbose 2: "Epoch e/E" and one final bar line per epoch; verbose 0 is silent.
TEST(Callbacks, ProgressBarIsACallbackDrivenByVerbose) {
  auto model = line(1.0f, 0.0f);
  nn::SGD<float> optimizer(model->parameters(), nn::SGDOptions().learning_rate(0.0));
  nn::Trainer<float> trainer(*model, optimizer, "mse");
  testing::internal::CaptureStderr();
  trainer.fit(counting(2, 1.0f), xgrad::zeros<float>({2, 1}), nn::FitOptions().epochs(2).verbose(2));
  const std::string said = testing::internal::GetCapturedStderr();
  EXPECT_NE(said.find("Epoch 1/2\n1/1 [==="), std::string::npos) << said;
  EXPECT_NE(said.find("Epoch 2/2\n"), std::string::npos) << said;
  EXPECT_NE(said.find("loss: 2.5000"), std::string::npos) << said;
  testing::internal::CaptureStderr();
  trainer.fit(counting(2, 1.0f), xgrad::zeros<float>({2, 1}), nn::FitOptions().epochs(2).verbose(0));
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

// -------------------------------------------------------------- summary

// SimpleRNN(32) on 1 feature: 1·32 + 32·32 + 32 = 1088 parameters; Dense(1):
// 33; 1121 in all, 4484 bytes = 4.38 KB.
TEST(Summary, KerasTableWithShapesAndCounts) {
  nn::Sequential<float> model;
  model.add(std::make_shared<nn::SimpleRNN<float>>(nn::SimpleRNNOptions(32)));
  model.add(std::make_shared<nn::Dense<float>>(nn::DenseOptions(1)));
  const std::string before = nn::summary(model);
  model.build({-1, 20, 1});
  EXPECT_EQ(model.count_params(), 1121u);
  const std::string table = nn::summary(model);
  EXPECT_NE(table.find("Model: \"sequential\""), std::string::npos) << table;
  EXPECT_NE(table.find(" simple_rnn (SimpleRNN)      (None, 32)                1,088\n"), std::string::npos) << table;
  EXPECT_NE(table.find(" dense (Dense)               (None, 1)                 33\n"), std::string::npos) << table;
  EXPECT_NE(table.find("Total params: 1,121 (4.38 KB)\n"), std::string::npos) << table;
  EXPECT_NE(table.find("Non-trainable params: 0 (0.00 Byte)\n"), std::string::npos) << table;
  EXPECT_NE(before.find("simple_rnn (SimpleRNN)      ?"), std::string::npos) << before;
  Probe probe;
  EXPECT_NE(nn::summary(probe).find(" probe (Probe)"), std::string::npos);
}

// Built with a None time axis, a sequence-returning layer's output has a
// None time axis in the table, as Keras prints it, also after a call on 7
// steps; a fixed axis keeps its extent, and a stateful layer builds too.
TEST(Summary, AnAxisBuiltAsNoneIsWrittenNone) {
  nn::Sequential<float> model;
  model.add(std::make_shared<nn::SimpleRNN<float>>(nn::SimpleRNNOptions(32).return_sequences(true).stateful(true)));
  model.add(std::make_shared<nn::Dense<float>>(nn::DenseOptions(1)));
  model.build({-1, -1, 1});
  const std::string table = nn::summary(model);
  EXPECT_NE(table.find(" simple_rnn (SimpleRNN)      (None, None, 32)          1,088\n"), std::string::npos) << table;
  EXPECT_NE(table.find(" dense (Dense)               (None, None, 1)           33\n"), std::string::npos) << table;
  EXPECT_TRUE(model.at<nn::SimpleRNN<float>>(0)->states().empty());
  model(Variable<float>(xgrad::zeros<float>({4, 7, 1})));
  EXPECT_NE(nn::summary(model).find("(None, None, 32)"), std::string::npos);
  nn::Sequential<float> fixed;
  fixed.add(std::make_shared<nn::SimpleRNN<float>>(nn::SimpleRNNOptions(3).return_sequences(true)));
  fixed.build({-1, 5, 2});
  EXPECT_NE(nn::summary(fixed).find("(None, 5, 3)"), std::string::npos) << nn::summary(fixed);
  EXPECT_EQ(fixed.none_axes(), (std::vector<std::vector<bool>>{{true, false, false}}));
}

// ------------------------------------------------------------ replicas

// This process as replica `rank` of `world` whose other replicas hold the
// same figures as this one (so the average of each value is the value):
// what fit and evaluate do with replicas, without MPI.
class SameOnEveryReplica : public nn::ReplicaContext {
 public:
  SameOnEveryReplica(std::size_t rank, std::size_t world) : rank_(rank), world_(world) {}
  std::size_t rank() const override { return rank_; }
  std::size_t world_size() const override { return world_; }
  void average(std::vector<double>&) const override { ++calls; }
  mutable std::size_t calls = 0;

 private:
  std::size_t rank_, world_;
};

class CountBatches : public nn::Callback {
 public:
  void on_train_batch_end(std::size_t, nn::Logs&) override { ++batches; }
  std::size_t batches = 0;
};

// Replica 1 of 2 trains on its half of each epoch (6 of 12 samples: 3
// batches of 2), agrees once at the start on where it starts (afresh),
// agrees on stopping once per batch and once per epoch and averages the
// epoch's figures once; the CSVLogger runs on replica 0 only.
// evaluate takes replica 1's block of rows.
TEST_F(FitFiles, WithReplicasEachTrainsOnItsShardAndReplicaZeroWrites) {
  const Array<float> x = counting(12), y = 2.0f * counting(12);
  for (const std::size_t rank : {std::size_t(1), std::size_t(0)}) {
    auto model = line(0.5f, 0.0f);
    nn::SGD<float> sgd(model->parameters(), nn::SGDOptions().learning_rate(1e-3));
    nn::Trainer<float> trainer(*model, sgd, "mse");
    auto replicas = std::make_shared<SameOnEveryReplica>(rank, 2);
    trainer.set_replicas(replicas);
    auto count = std::make_shared<CountBatches>();
    const std::string csv = path("rank" + std::to_string(rank) + ".csv");
    trainer.fit(x, y, nn::FitOptions().epochs(2).batch_size(2).verbose(0).callbacks(
                          {count, std::make_shared<nn::CSVLogger>(nn::CSVLoggerOptions(csv))}));
    EXPECT_EQ(count->batches, 6u);
    EXPECT_EQ(count->params().steps, 3u);
    EXPECT_EQ(count->params().samples, 6u);
    EXPECT_EQ(replicas->calls, 1 + 2u * (3 + 1 + 1));
    EXPECT_EQ(std::filesystem::exists(csv), rank == 0) << rank;
  }
  // evaluate: replica 1 of 3 on 10 rows takes rows 3 .. 5 (10·1/3 to 10·2/3).
  auto model = line(1.0f, 0.0f);
  nn::SGD<float> sgd(model->parameters());
  nn::Trainer<float> trainer(*model, sgd, "mse");
  const Array<float> x10 = counting(10), zeros10 = xgrad::zeros<float>({10, 1});
  trainer.set_replicas(std::make_shared<SameOnEveryReplica>(1, 3));
  // y_pred = x: squared errors 9, 16, 25 on rows 3, 4, 5.
  EXPECT_FLOAT_EQ(trainer.evaluate(x10, zeros10).at("loss"), (9.0f + 16.0f + 25.0f) / 3);
  trainer.set_replicas(nullptr);
  EXPECT_FLOAT_EQ(trainer.evaluate(x10, zeros10).at("loss"), 285.0f / 10);
}


// ------------------------------------------------------- sample and class weights

// Keras' sample_weight multiplies each sample's loss: weights of 2 double
// the loss and every gradient, so plain SGD takes the steps of twice the
// learning rate, bit for bit (doubling is exact in floating point).
TEST(FitWeights, SampleWeightOfTwoIsTheRunOfTwiceTheLearningRate) {
  const Array<float> x = counting(40, -20.0f) / 10.0f;
  const Array<float> y = 3.0f * x + 1.0f;
  const auto run = [&](double learning_rate, const std::optional<Array<float>>& weights, nn::Dense<float>& model) {
    nn::SGD<float> optimizer(model.parameters(), nn::SGDOptions().learning_rate(learning_rate));
    nn::Trainer<float> trainer(model, optimizer, "mse");
    return trainer.fit(
        x, y, nn::FitOptions().epochs(2).batch_size(8).verbose(0).shuffle_seed(5).sample_weight(weights));
  };
  auto weighted = line(0.5f, 0.0f), plain = line(0.5f, 0.0f);
  const nn::History weighted_history = run(0.01, xgrad::full<float>({40}, 2.0f), *weighted);
  const nn::History plain_history = run(0.02, std::nullopt, *plain);
  EXPECT_EQ(weighted->kernel().value(), plain->kernel().value());
  EXPECT_EQ(weighted->bias().value(), plain->bias().value());
  const std::vector<double> doubled = weighted_history.values("loss");
  ASSERT_EQ(doubled.size(), 2u);
  for (std::size_t epoch = 0; epoch < 2; ++epoch) {
    // Epoch 1's losses were computed from the same weights; epoch 2's too.
    EXPECT_DOUBLE_EQ(doubled[epoch], 2.0 * plain_history.values("loss")[epoch]) << epoch;
  }
}

// class_weight is the sample weights of each sample's class (Keras'
// class_weight_to_sample_weights), for labels [N] and one-hot rows [N, C];
// a class not named weighs 1.
TEST(FitWeights, ClassWeightIsTheSampleWeightOfEachSamplesClass) {
  const Array<float> x = counting(24, -12.0f) / 6.0f;
  Array<float> labels = Array<float>::from_shape({24});
  Array<float> one_hot = xgrad::zeros<float>({24, 3});
  Array<float> by_class = Array<float>::from_shape({24});
  for (std::size_t i = 0; i < 24; ++i) {
    labels(i) = static_cast<float>(i % 3);
    one_hot(i, i % 3) = 1.0f;
    by_class(i) = i % 3 == 0 ? 0.25f : i % 3 == 2 ? 4.0f : 1.0f;
  }
  const nn::ClassWeights class_weight{{0, 0.25}, {2, 4.0}};
  const auto run = [&](const char* loss, const Array<float>& y, const nn::FitOptions<float>& options) {
    auto model = std::make_shared<nn::Dense<float>>(nn::DenseOptions(3));
    model->set_weights({xgrad::full<float>({1, 3}, 0.1f), xgrad::zeros<float>({3})});
    nn::SGD<float> optimizer(model->parameters(), nn::SGDOptions().learning_rate(0.1));
    nn::Trainer<float> trainer(*model, optimizer, loss);
    const nn::History history =
        trainer.fit(x, y, nn::FitOptions(options).epochs(2).batch_size(5).verbose(0).shuffle_seed(3));
    return std::make_pair(history.values("loss"), model->kernel().value());
  };
  for (const auto& [loss, y] : {std::make_pair("sparse_categorical_crossentropy_from_logits", labels),
                                std::make_pair("categorical_crossentropy_from_logits", one_hot)}) {
    const auto expected = run(loss, y, nn::FitOptions().sample_weight(by_class));
    const auto got = run(loss, y, nn::FitOptions().class_weight(class_weight));
    EXPECT_EQ(got.first, expected.first) << loss;
    EXPECT_EQ(got.second, expected.second) << loss;
    EXPECT_NE(got.first, run(loss, y, nn::FitOptions()).first) << loss;
  }
}

// With validation_split the last part of sample_weight weighs val_loss, as
// evaluate with those weights does; train_on_batch and test_on_batch take
// a batch's weights.
TEST(FitWeights, ValidationSplitEvaluateAndBatchesUseTheWeights) {
  const Array<float> x = counting(20, -10.0f) / 5.0f;
  const Array<float> y = 3.0f * x + 1.0f;
  Array<float> weights = Array<float>::from_shape({20});
  for (std::size_t i = 0; i < 20; ++i) weights(i) = static_cast<float>(i % 4);
  auto model = line(0.5f, 0.0f);
  nn::SGD<float> optimizer(model->parameters(), nn::SGDOptions().learning_rate(0.01));
  nn::Trainer<float> trainer(*model, optimizer, "mse");
  const nn::History history =
      trainer.fit(x, y,
                  nn::FitOptions().epochs(1).batch_size(4).verbose(0).validation_split(0.25).sample_weight(weights));
  const Array<float> x_val = counting(5, 5.0f) / 5.0f;  // the last 5 rows of x, y and weights
  const Array<float> y_val = 3.0f * x_val + 1.0f;
  const Array<float> w_val{3.0f, 0.0f, 1.0f, 2.0f, 3.0f};
  const double weighted = trainer.evaluate(x_val, y_val, w_val, nn::EvaluateOptions().batch_size(4)).at("loss");
  EXPECT_DOUBLE_EQ(history.values("val_loss").at(0), weighted);
  EXPECT_NE(weighted, trainer.evaluate(x_val, y_val, nn::EvaluateOptions().batch_size(4)).at("loss"));
  // The same weights given with validation_data (x_val, y_val, w_val); a
  // learning rate of 0 keeps the weights, so val_loss is evaluate's.
  optimizer.set_learning_rate(0.0);
  const nn::History given = trainer.fit(
      x, y, nn::FitOptions().epochs(1).batch_size(4).verbose(0).validation_data(x_val, y_val, w_val));
  EXPECT_DOUBLE_EQ(given.values("val_loss").at(0), weighted);
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { trainer.fit(x, y, nn::FitOptions().verbose(0).validation_data(x_val, y_val, xgrad::ones<float>({4}))); },
      {"validation_data", "sample_weight of shape (4,)", "(5, 1)"}));
  optimizer.set_learning_rate(0.01);  // for the batches below
  // Weights 0 and 2 on two samples: (0 · e0² + 2 · e1²) / 2.
  const Array<float> x2 = counting(2), y2 = counting(2, 5.0f);
  const Array<float> pred = trainer.predict(x2);
  const double e1 = static_cast<double>(pred(1, 0) - y2(1, 0));
  trainer.reset_metrics();  // the running figures start from this batch
  EXPECT_NEAR(trainer.test_on_batch(x2, y2, Array<float>{0.0f, 2.0f}).at("loss"), e1 * e1, 1e-4 * e1 * e1);
  trainer.reset_metrics();
  const Array<float> before = model->kernel().value();
  trainer.train_on_batch(x2, y2, Array<float>{0.0f, 0.0f});  // no loss: no step
  EXPECT_EQ(model->kernel().value(), before);
}

// Integer class labels with validation weights: the labels as floats, the
// weights kept beside them.
TEST(FitWeights, ValidationDataTakesIntegerLabelsWithWeights) {
  const Array<float> x_val = counting(3);
  const Array<float> w_val{1.0f, 0.0f, 2.0f};
  const nn::FitOptions options = nn::FitOptions().validation_data(x_val, xgrad::Array<std::int64_t>{2, 0, 1}, w_val);
  ASSERT_TRUE(options.validation_data().has_value());
  EXPECT_EQ(options.validation_data()->second, (Array<float>{2.0f, 0.0f, 1.0f}));
  ASSERT_TRUE(options.validation_sample_weight().has_value());
  EXPECT_EQ(*options.validation_sample_weight(), w_val);
  // Given again without weights, the earlier weights go.
  const nn::FitOptions unweighted =
      nn::FitOptions(options).validation_data(x_val, xgrad::Array<std::int32_t>{2, 0, 1});
  EXPECT_FALSE(unweighted.validation_sample_weight().has_value());
}

// Keras' compile(weighted_metrics=...): the weighted metrics take the
// sample weights, the metrics do not. y_pred = x = 0, 1, 2, 3 against y = 0
// with weights 1, 0, 2, 1: mae (0 + 1 + 2 + 3) / 4; the weighted mae
// (0 + 0 + 4 + 3) / 4, keyed "weighted_mae" beside "mae" (tf.keras); the
// weighted mse (0 + 0 + 8 + 9) / 4, keyed "mse". Batches of 3 add up to
// the same figures.
TEST(FitWeights, WeightedMetricsTakeTheSampleWeights) {
  const Array<float> x = counting(4), y = xgrad::zeros<float>({4, 1});
  const Array<float> weights{1.0f, 0.0f, 2.0f, 1.0f};
  auto model = line(1.0f, 0.0f);
  nn::SGD<float> optimizer(model->parameters(), nn::SGDOptions().learning_rate(0.0));
  nn::Trainer<float> trainer(*model, optimizer, "mse", {nn::make_metric("mae")},
                             {nn::make_metric("mae"), nn::make_metric("mse")});
  EXPECT_EQ(trainer.weighted_metrics().size(), 2u);
  const nn::Logs weighted = trainer.evaluate(x, y, weights, nn::EvaluateOptions().batch_size(3));
  EXPECT_EQ(weighted.names(), "loss, mae, weighted_mae, mse");
  EXPECT_DOUBLE_EQ(weighted.at("mae"), 6.0 / 4.0);
  EXPECT_DOUBLE_EQ(weighted.at("weighted_mae"), 7.0 / 4.0);
  EXPECT_DOUBLE_EQ(weighted.at("mse"), 17.0 / 4.0);
  // Without weights, every sample weighs 1.
  const nn::Logs plain = trainer.evaluate(x, y);
  EXPECT_DOUBLE_EQ(plain.at("weighted_mae"), 6.0 / 4.0);
  EXPECT_DOUBLE_EQ(plain.at("mse"), 14.0 / 4.0);
  // fit: the training weights and the validation data's own.
  const nn::History history = trainer.fit(
      x, y, nn::FitOptions().epochs(1).batch_size(2).verbose(0).sample_weight(weights).validation_data(
                x, y, Array<float>{0.0f, 0.0f, 0.0f, 1.0f}));
  EXPECT_DOUBLE_EQ(history.values("weighted_mae").at(0), 7.0 / 4.0);
  EXPECT_DOUBLE_EQ(history.values("val_weighted_mae").at(0), 3.0);
  EXPECT_DOUBLE_EQ(history.values("val_mae").at(0), 6.0 / 4.0);
  EXPECT_EQ(trainer.metric_direction("weighted_mae"), nn::MetricDirection::down);
  trainer.reset_metrics();
  EXPECT_DOUBLE_EQ(trainer.test_on_batch(x, y, weights).at("weighted_mae"), 7.0 / 4.0);
}

// A metric of one's own without update_weighted.
class Unweighable : public nn::MeanMetric<float> {
 public:
  explicit Unweighable(std::string name) : nn::MeanMetric<float>(std::move(name), nn::MetricDirection::up) {}

 protected:
  void update(const Array<float>&, const Array<float>&) override {}
};

TEST(FitWeights, MetricKeysThatClashThrow) {
  auto model = line(1.0f, 0.0f);
  nn::SGD<float> optimizer(model->parameters());
  const auto metric = [](const char* name) { return std::make_shared<nn::MeanAbsoluteError<float>>(name); };
  const auto compile = [&](nn::MetricList<float> metrics, nn::MetricList<float> weighted) {
    nn::Trainer<float> trainer(*model, optimizer, "mse", std::move(metrics), std::move(weighted));
  };
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { compile({metric("a"), metric("a")}, {}); },
                                                 {"metric 1", "'a'"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { compile({metric("a")}, {metric("a"), metric("a")}); },
                                                 {"weighted metric 1", "'weighted_a'"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { compile({metric("loss")}, {}); }, {"'loss'"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { compile({}, {metric("loss")}); }, {"'loss'"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { compile({}, {nullptr}); }, {"weighted metric 0", "null"}));
  const auto shared = metric("a");
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { compile({shared}, {shared}); },
                                                 {"weighted metric 0", "given twice"}));
  // A weighted metric that takes no weights says so when it gets some.
  nn::Trainer<float> trainer(*model, optimizer, "mse", {}, {std::make_shared<Unweighable>("own")});
  const Array<float> x = counting(2);
  EXPECT_NO_THROW(trainer.evaluate(x, x));
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { trainer.evaluate(x, x, Array<float>{1.0f, 1.0f}); },
                                                 {"metric 'own'", "no sample weights"}));
}

TEST(FitWeights, BadWeightsThrow) {
  const Array<float> x = counting(6), y = counting(6);
  auto model = line(0.5f, 0.0f);
  nn::SGD<float> optimizer(model->parameters(), nn::SGDOptions().learning_rate(0.01));
  nn::Trainer<float> trainer(*model, optimizer, "mse");
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] {
        trainer.fit(x, y, nn::FitOptions().verbose(0).sample_weight(xgrad::ones<float>({6})).class_weight({{0, 2.0}}));
      },
      {"Trainer::fit", "sample_weight and class_weight"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { trainer.fit(x, y, nn::FitOptions().verbose(0).sample_weight(xgrad::ones<float>({5}))); },
      {"Trainer::fit", "sample_weight of shape (5,)", "x of shape (6, 1)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { trainer.fit(x, xgrad::zeros<float>({6, 2, 2}), nn::FitOptions().verbose(0).class_weight({{0, 2.0}})); },
      {"class_weight", "(6, 2, 2)"}));
  Array<float> nan_label = counting(6);
  nan_label(2, 0) = std::nanf("");
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { trainer.fit(x, nan_label, nn::FitOptions().verbose(0).class_weight({{0, 2.0}})); },
      {"class_weight", "sample 2", "not finite"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { trainer.evaluate(x, y, xgrad::ones<float>({2})); },
                                                 {"Trainer::evaluate", "sample_weight of shape (2,)"}));
  nn::Trainer<float> with_function(*model, optimizer, nn::mean_squared_error<float>);
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { with_function.fit(x, y, nn::FitOptions().verbose(0).class_weight({{1, 2.0}})); },
      {"takes no sample_weight"}));
}


// Keras' fit ends with the optimizer's finalize_variable_values: with
// use_ema the model leaves fit with the moving averages of its weights.
TEST(FitWeights, UseEmaLeavesTheModelWithTheAverages) {
  const Array<float> x = counting(20, -10.0f) / 5.0f;
  const Array<float> y = 3.0f * x + 1.0f;
  const auto run = [&](bool use_ema, nn::Dense<float>& model) {
    nn::SGD<float> optimizer(model.parameters(),
                             nn::SGDOptions().learning_rate(0.05).use_ema(use_ema).ema_momentum(0.9));
    nn::Trainer<float> trainer(model, optimizer, "mse");
    trainer.fit(x, y, nn::FitOptions().epochs(2).batch_size(4).verbose(0).shuffle_seed(1));
    return optimizer.state();
  };
  auto averaged = line(0.5f, 0.0f), plain = line(0.5f, 0.0f);
  const auto state = run(true, *averaged);
  run(false, *plain);
  ASSERT_EQ(state.slots.size(), 2u);
  EXPECT_EQ(state.slots[0].first, "moving_averages/0");
  EXPECT_EQ(averaged->kernel().value(), state.slots[0].second);
  EXPECT_EQ(averaged->bias().value(), state.slots[1].second);
  EXPECT_NE(averaged->kernel().value(), plain->kernel().value());
}

}  // namespace
