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
//   train_adding [--epochs N] [--seed N] [--out DIR] [--threads N] [--samples N] [--timesteps N]
//
// This file holds what is particular to it (the settings); the data and the
// baseline (make_adding_problems, constant_prediction_mse, shared with
// train_memory), the training (nn::Trainer), the files and the report (run(), shared
// with train_sine) are in example_support.hpp.

#include <cstddef>
#include <string>

#include "example_support.hpp"

namespace {

namespace ex = xgrad_examples;

constexpr std::size_t default_timesteps = 20;

}  // namespace

int main(int argc, char** argv) {
  ex::Program adding;
  adding.name = "train_adding";
  adding.default_epochs = 12;
  adding.make_data = ex::make_adding_problems;
  adding.timesteps = default_timesteps;
  adding.features = 2;
  adding.train_samples = 8192;
  adding.val_samples = 1024;
  adding.test_samples = 2048;
  adding.samples_noun = "sequences";
  adding.units = 32;
  adding.batch_size = 32;
  adding.learning_rate = {1e-2, 0.05};  // Adam's rate in the first epoch, decayed to 0.05 of it
  adding.max_grad_norm = 1.0f;           // global_clipnorm: tames the rare exploding step
  adding.plot_title = "train_adding: SimpleRNN on the adding problem";
  adding.baseline_name = "constant 1.0";
  adding.baseline_mse = ex::constant_prediction_mse;
  // The metric is the test MSE (of the reloaded model; of the constant 1.0).
  adding.metric_key = "test_metric";
  adding.baseline_key = "baseline_metric";
  return ex::run(adding, argc, argv);
}
