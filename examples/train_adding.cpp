// train_adding: a SimpleRNN solves the adding problem (Hochreiter &
// Schmidhuber 1997; Le, Jaitly & Hinton 2015 use it for RNNs like this one).
//
// Each sample is a sequence of T = 20 steps with two channels: a value drawn
// uniformly from [0, 1), and a marker that is 1 at exactly two steps (one in
// each half of the sequence) and 0 elsewhere. The target is the sum of the
// two marked values, so the network must find the markers and carry a
// running sum across the sequence. Predicting the constant 1.0 (the mean
// target) gives an MSE of 2 * 1/12 = 0.167; a SimpleRNN + Dense(1) trained
// with Adam, the MSE and gradient clipping (global_clipnorm) must do far
// better.
//
// What it shows: nn::Trainer's fit, Adam with global_clipnorm, the progress bar,
// the loss history as CSV + SVG, and a checkpoint saved, reloaded into a
// fresh model and evaluated there. The last line on stdout is one JSON
// object: test_metric is the reloaded model's test MSE, baseline_metric the
// constant-1.0 prediction's test MSE, seconds the wall time.
//
//   train_adding [--epochs N] [--seed N] [--out DIR] [--threads N]
//
// This file holds what is particular to it (the data, the baseline, the
// settings); the training (nn::Trainer), the files and the report are run() in
// example_support.hpp, shared with train_sine.

#include <algorithm>
#include <cstddef>
#include <string>

#include <xgrad/tensor/tensor.hpp>

#include "example_support.hpp"

namespace {

namespace ex = xgrad_examples;
using ex::Dataset;
using xgrad::Array;

constexpr std::size_t timesteps = 20;

// inputs [N, T, 2]: value, marker; targets [N, 1]: the sum of the two marked
// values. Draws from xgrad's generator, so manual_seed fixes the data. The
// markers are placed as in Le et al.: one uniformly in the first half of the
// sequence, one uniformly in the second half.
Dataset make_adding_problems(std::size_t n) {
  constexpr std::size_t half = timesteps / 2;
  Dataset data{xgrad::zeros<float>({n, timesteps, 2}), xgrad::zeros<float>({n, 1})};
  const Array<float> values = xgrad::uniform<float>({n, timesteps}, 0.0f, 1.0f);
  const Array<double> first = xgrad::uniform<double>({n}, 0.0, static_cast<double>(half));
  const Array<double> second =
      xgrad::uniform<double>({n}, static_cast<double>(half), static_cast<double>(timesteps));
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t t = 0; t < timesteps; ++t) data.inputs(i, t, 0) = values(i, t);
    for (const double position : {first(i), second(i)}) {
      const auto t = std::min(static_cast<std::size_t>(position), timesteps - 1);
      data.inputs(i, t, 1) = 1.0f;
      data.targets(i, 0) += values(i, t);
    }
  }
  return data;
}

// The trivial baseline: always predict 1.0, the mean of the target.
double constant_prediction_mse(const Dataset& data) {
  double sum = 0;
  for (const float target : data.targets) sum += (target - 1.0) * (target - 1.0);
  return sum / static_cast<double>(data.targets.size());
}

}  // namespace

int main(int argc, char** argv) {
  ex::Program adding;
  adding.name = "train_adding";
  adding.default_epochs = 12;
  adding.make_data = make_adding_problems;
  adding.timesteps = timesteps;
  adding.features = 2;
  adding.train_samples = 8192;
  adding.val_samples = 1024;
  adding.test_samples = 2048;
  adding.samples_noun = "sequences";
  adding.units = 32;
  adding.batch_size = 32;
  adding.learning_rate = {1e-2, 0.05};  // Adam's rate in the first epoch, decayed to 0.05 of it
  adding.max_grad_norm = 1.0f;           // global_clipnorm: tames the rare exploding step
  adding.plot_title =
      "train_adding: SimpleRNN on the adding problem, T = " + std::to_string(timesteps);
  adding.baseline_name = "constant 1.0";
  adding.baseline_mse = constant_prediction_mse;
  // The metric is the test MSE (of the reloaded model; of the constant 1.0).
  adding.metric_key = "test_metric";
  adding.baseline_key = "baseline_metric";
  return ex::run(adding, argc, argv);
}
