// train_distributed: train_adding's task, data-parallel over MPI ranks.
//
//   mpirun -np 2 build/examples/train_distributed [--epochs N] [--seed N] [--out DIR] [--threads N]
//
// The adding problem (T = 20) with SimpleRNN(32) + Dense(1), as
// train_adding trains it, but on R ranks: each rank holds the whole model
// and trains on its shard of every epoch with batch 32 / R, so each step
// sees 32 samples in all, as one process with batch 32 (R · floor(32 / R)
// when R does not divide 32; one per rank beyond 32 ranks). The gradients are averaged over the ranks every step, the
// figures are those over all ranks. Rank 0 alone prints the progress bar,
// writes the loss curves (CSV + SVG) and prints the result, whose last line
// is one JSON object: the test MSE and the constant baseline's, the ranks,
// training samples per second, and whether the weights are bit for bit the
// same on every rank at the end.
//
// Against train_adding, the program has the two lines of
// xgrad::dist (the Environment, DataParallel), the per-rank batch size,
// one OpenBLAS thread per rank by default (the ranks share the cores), and
// the outputs on rank 0 only.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>

#include <xgrad/dist/dist.hpp>

#include "example_support.hpp"

namespace {

namespace ex = xgrad_examples;
namespace dist = xgrad::dist;
namespace nn = xgrad::nn;

constexpr std::size_t timesteps = 20, global_batch = 32;
constexpr const char* name = "train_distributed";

}  // namespace

int main(int argc, char** argv) {
  dist::Environment mpi(argc, argv);
  ex::Flags flags;
  flags.epochs = 12;
  if (const auto status = ex::read_command_line(argc, argv, name, flags)) return *status;
  try {
    const std::size_t ranks = mpi.world_size();
    const std::size_t batch = std::max<std::size_t>(1, global_batch / ranks);
    xgrad::set_num_threads(flags.threads > 0 ? flags.threads : 1);

    // Every rank draws the same data and weights (same seed); DataParallel
    // copies rank 0's weights to the others anyway.
    xgrad::manual_seed(flags.seed);
    const ex::Dataset train = ex::make_adding_problems(8192, timesteps);
    const ex::Dataset val = ex::make_adding_problems(1024, timesteps);
    const ex::Dataset test = ex::make_adding_problems(2048, timesteps);
    const auto model = ex::make_model(32, timesteps, 2);
    const ex::LearningRateSchedule lr{1e-2, 0.05};
    nn::Adam<float> optimizer(model->parameters(), ex::adam_options(lr, 1.0f));
    nn::Trainer<float> trainer(*model, optimizer, "mean_squared_error");
    dist::DataParallel<float> parallel(trainer);

    if (mpi.is_root()) {
      std::cout << name << ": SimpleRNN(32) + Dense(1) on the adding problem, T = " << timesteps
                << ", " << ranks << " ranks x batch " << batch << ", " << flags.epochs
                << " epochs, seed " << flags.seed << "\n";
    }
    const auto start = std::chrono::steady_clock::now();
    const nn::History history = ex::fit(trainer, train, val, flags.epochs, batch, lr);
    const double fit_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double samples_per_epoch =
        static_cast<double>(ranks * (train.targets.shape()[0] / ranks));
    const double samples_per_s = samples_per_epoch * static_cast<double>(history.size()) / fit_seconds;

    const double test_mse = ex::test_mse(trainer, test);  // over every rank's block
    const double baseline_mse = ex::constant_prediction_mse(test);
    const bool weights_identical = dist::identical_on_every_rank(*model);

    if (mpi.is_root()) {
      const std::filesystem::path out(flags.out);
      std::filesystem::create_directories(out);
      nn::History curves;
      const auto loss = history.values("loss"), val_loss = history.values("val_loss");
      for (std::size_t i = 0; i < history.size(); ++i)
        curves.add(history.epochs()[i], {{"loss", loss[i]}, {"val_loss", val_loss[i]}});
      curves.write_csv((out / (std::string(name) + "_loss.csv")).string());
      curves.write_svg((out / (std::string(name) + "_loss.svg")).string(),
                       nn::SvgPlotOptions()
                           .title("train_distributed: the adding problem on " + std::to_string(ranks) + " ranks")
                           .y_label("MSE")
                           .log_y(true));
      std::printf("test MSE %.6g, constant 1.0 %.6g: %.1fx better; %.0f samples/s on %zu ranks\n",
                  test_mse, baseline_mse, baseline_mse / test_mse, samples_per_s, ranks);
      std::printf(
          "{\"example\":\"%s\",\"test_metric\":%.6g,\"baseline_metric\":%.6g,\"ranks\":%zu,"
          "\"batch_per_rank\":%zu,\"samples_per_s\":%.1f,\"weights_identical\":%s,\"seconds\":%.2f}\n",
          name, test_mse, baseline_mse, ranks, batch, samples_per_s,
          weights_identical ? "true" : "false", fit_seconds);
    }
    return weights_identical ? 0 : 1;
  } catch (const std::exception& e) {
    // Ends every rank, not this one alone: the others may be waiting for it.
    dist::Environment::abort(std::string(name) + ": " + e.what());
  }
}
