// train_sine: a SimpleRNN learns to forecast the next value of a sine wave.
//
// Each sample is a window of T = 20 steps of sin(omega * t + phase) with a
// random angular frequency omega (0.2 .. 0.6 rad per step) and phase, seen
// with a little Gaussian noise; the target is the clean value one step after
// the window. A SimpleRNN(32) + Dense(1) trained with Adam on the MSE, as
// Keras' fit() would, must infer the frequency from the window to do better
// than the naive forecast "the next value equals the last value seen".
//
// What it shows: nn::Trainer's fit, Adam, the progress bar, the loss history as
// CSV + SVG, and a checkpoint saved, reloaded into a fresh model and
// evaluated there. The last line on stdout is one JSON object with the
// reloaded model's test MSE, the naive forecast's, and the wall time.
//
//   train_sine [--epochs N] [--seed N] [--out DIR] [--threads N] [--samples N] [--timesteps N]
//
// This file holds what is particular to it (the data, the baseline, the
// settings); the training (nn::Trainer), the files and the report are run() in
// example_support.hpp, shared with train_adding.

#include <cmath>
#include <cstddef>
#include <string>

#include <xgrad/tensor/tensor.hpp>

#include "example_support.hpp"

namespace {

namespace ex = xgrad_examples;
using ex::Dataset;
using xgrad::Array;

constexpr std::size_t default_timesteps = 20;
constexpr double omega_low = 0.2, omega_high = 0.6;  // rad per step: 10 to 31 steps per period
constexpr float noise_std = 0.02f;

// inputs [N, T, 1]: the noisy window; targets [N, 1]: the clean next value.
// Draws from xgrad's generator, so manual_seed fixes the data.
Dataset make_sine_waves(std::size_t n, std::size_t timesteps) {
  constexpr double two_pi = 6.283185307179586;
  const Array<double> omega = xgrad::uniform<double>({n}, omega_low, omega_high);
  const Array<double> phase = xgrad::uniform<double>({n}, 0.0, two_pi);
  Dataset data{xgrad::normal<float>({n, timesteps, 1}, 0.0f, noise_std),
               xgrad::zeros<float>({n, 1})};
  auto wave = [&](std::size_t i, std::size_t t) {
    return static_cast<float>(std::sin(omega(i) * static_cast<double>(t) + phase(i)));
  };
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t t = 0; t < timesteps; ++t) data.inputs(i, t, 0) += wave(i, t);
    data.targets(i, 0) = wave(i, timesteps);
  }
  return data;
}

// The naive forecast: the next value is the last value seen (noise and all,
// as the model sees it).
double naive_forecast_mse(const Dataset& data) {
  double sum = 0;
  const std::size_t n = data.targets.shape()[0], timesteps = data.inputs.shape()[1];
  for (std::size_t i = 0; i < n; ++i) {
    const double error = static_cast<double>(data.inputs(i, timesteps - 1, 0)) - data.targets(i, 0);
    sum += error * error;
  }
  return sum / static_cast<double>(n);
}

}  // namespace

int main(int argc, char** argv) {
  ex::Program sine;
  sine.name = "train_sine";
  sine.default_epochs = 20;
  sine.make_data = make_sine_waves;
  sine.timesteps = default_timesteps;
  sine.features = 1;
  sine.train_samples = 2048;
  sine.val_samples = 512;
  sine.test_samples = 1024;
  sine.samples_noun = "windows";
  sine.units = 32;
  sine.batch_size = 32;
  sine.learning_rate = {5e-3, 0.1};  // Adam's rate in the first epoch, decayed to 0.1 of it
  sine.plot_title = "train_sine: SimpleRNN next-value forecast";
  sine.baseline_name = "naive forecast";
  sine.baseline_mse = naive_forecast_mse;
  sine.metric_key = "test_mse";
  sine.baseline_key = "baseline_mse";
  return ex::run(sine, argc, argv);
}
