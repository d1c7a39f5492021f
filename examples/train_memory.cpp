// train_memory: why gated layers exist. A SimpleRNN, an LSTM and a GRU are
// trained alike on a task that needs a memory of 50 steps and more; the
// SimpleRNN stays at the trivial baseline, the LSTM and the GRU solve it.
//
// The task is the adding problem of train_adding (make_adding_problems in
// example_support.hpp), with sequences of T = 100 steps instead of 20: two
// channels, a value uniform in [0, 1) and a marker that is 1 at two steps,
// one in each half of the sequence; the target is the sum of the two marked
// values. The first marked value must be held until the end of the
// sequence, 50 to 100 steps later. Predicting the constant 1.0 (the mean target) gives an MSE of
// 2 * 1/12 = 0.167; that is the baseline.
//
// The three contenders get the same of everything: 32 units + Dense(1), the
// same data (8192 training sequences), the same initial-weight seed, the
// same batches in the same order (batch 32), Adam with the same learning
// rate schedule (1e-2 decayed to 1e-3) and gradient clipping (norm 1), and
// the same 20 epochs (5120 steps). At T = 20, train_adding's SimpleRNN solves the task
// (25x below the baseline), so what defeats it here is the length: its
// gradient through 100 steps of tanh(W h) fades, while the LSTM's cell state
// and the GRU's update gate carry both the value and its gradient across.
//
// Why T = 100 and this budget: T = 100 is the classic length (Hochreiter &
// Schmidhuber 1997; Le, Jaitly & Hinton 2015) and the whole run takes 25 to
// 35 s on this project's shared 2-core machine in Release (the LSTM 10-20 s,
// the GRU 9-15 s, the SimpleRNN 2-4 s), so no shorter sequence was needed.
// With seeds 1-6 and 42 the GRU's validation MSE is 10x below the baseline
// after 1-2 epochs and the LSTM's, after its typical plateau at the
// baseline, after 3-7; 20 epochs leave room for a slower seed. The
// SimpleRNN's test MSE stays within 2% of the baseline's with all of them.
// That is not a hard wall: given five times the budget (100 epochs, seed
// 42) the SimpleRNN starts to learn around epoch 60 and ends 1.8x below the
// baseline, still far from the gated layers.
//
// What it writes: train_memory_loss.csv and train_memory_loss.svg, the
// validation MSE of each layer per epoch and the baseline's level, as one
// History (so one plot with the three curves). The progress bars go to
// stderr; stdout gets one line per layer and, last, one JSON object:
//   {"example":"train_memory","task":"adding","T":100,"units":32,
//    "baseline_mse":...,"simple_rnn":{"test_mse":...,"seconds":...},
//    "lstm":{...},"gru":{...},"seconds":...}
// with every MSE on the test set and the seconds of wall time.
//
//   train_memory [--epochs N] [--seed N] [--out DIR] [--threads N] [--samples N] [--timesteps N]
//
// The command line, the learning-rate schedule, fit() (nn::Trainer's, with
// that schedule), test_mse(), the model and the data come from
// example_support.hpp.

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <xgrad/nn/gru.hpp>
#include <xgrad/nn/lstm.hpp>

#include "example_support.hpp"

namespace {

namespace ex = xgrad_examples;
namespace nn = xgrad::nn;

constexpr std::size_t default_timesteps = 100;
constexpr std::size_t features = 2;  // value, marker
constexpr std::size_t units = 32;
constexpr std::size_t train_samples = 8192, val_samples = 1024, test_samples = 2048;
constexpr std::size_t batch_size = 32;
constexpr std::size_t default_epochs = 20;
constexpr ex::LearningRateSchedule learning_rate{1e-2, 0.1};  // Adam: 1e-2 decayed to 1e-3
constexpr float max_grad_norm = 1.0f;                         // Adam's global_clipnorm

// One of the three layers: its name on stdout and in the plot, its key in
// the JSON line, and its model: the layer with `units` units + Dense(1), for
// sequences of the given length.
using ModelFactory = std::function<std::shared_ptr<nn::Sequential<float>>(std::size_t)>;

struct Contender {
  std::string name, key;
  ModelFactory make_model;
};

template <typename Layer, typename Options>
ModelFactory model_of() {
  return [](std::size_t timesteps) {
    return ex::make_model(std::make_shared<Layer>(Options(units)), timesteps, features);
  };
}

const std::vector<Contender> contenders = {
    {"SimpleRNN", "simple_rnn", model_of<nn::SimpleRNN<float>, nn::SimpleRNNOptions>()},
    {"LSTM", "lstm", model_of<nn::LSTM<float>, nn::LSTMOptions>()},
    {"GRU", "gru", model_of<nn::GRU<float>, nn::GRUOptions>()},
};

struct Result {
  std::vector<double> val_mse;  // per epoch
  double test_mse = 0, seconds = 0;
};

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  const auto start = std::chrono::steady_clock::now();
  const char* name = "train_memory";
  ex::Flags flags;
  flags.epochs = default_epochs;
  if (const auto status = ex::read_command_line(argc, argv, name, flags)) return *status;

  try {
    if (flags.threads > 0) xgrad::set_num_threads(flags.threads);
    std::filesystem::create_directories(flags.out);
    const std::filesystem::path out(flags.out);

    xgrad::manual_seed(flags.seed);  // the data
    const std::size_t training = flags.sized(train_samples, train_samples);
    const std::size_t timesteps = flags.timesteps_or(default_timesteps);
    const ex::Dataset train = ex::make_adding_problems(training, timesteps);
    const ex::Dataset val = ex::make_adding_problems(flags.sized(val_samples, train_samples), timesteps);
    const ex::Dataset test = ex::make_adding_problems(flags.sized(test_samples, train_samples), timesteps);
    const double baseline_mse = ex::constant_prediction_mse(test);

    std::cout << name << ": the adding problem at T = " << timesteps << "; SimpleRNN, LSTM and GRU("
              << units << ") + Dense(1), each on the same " << training
              << " training sequences, batch " << batch_size << ", Adam lr "
              << learning_rate.initial << " -> "
              << learning_rate.initial * learning_rate.final_fraction << ", clip norm "
              << max_grad_norm << ", " << flags.epochs << " epochs, seed " << flags.seed << "\n";

    std::map<std::string, Result> results;  // by key
    for (const Contender& contender : contenders) {
      const auto began = std::chrono::steady_clock::now();
      // The same seeds for every layer: its initial weights, then the
      // shuffles, so all three see the same batches in the same order.
      xgrad::manual_seed(flags.seed + 1);
      const auto model = contender.make_model(timesteps);
      nn::Adam<float> optimizer(model->parameters(), ex::adam_options(learning_rate, max_grad_norm));
      nn::Trainer<float> trainer(*model, optimizer, "mean_squared_error");
      xgrad::manual_seed(flags.seed + 2);

      std::cerr << contender.name << "(" << units << ") + Dense(1)\n";
      const nn::History history =
          ex::fit(trainer, train, val, flags.epochs, batch_size, learning_rate);
      Result& result = results[contender.key];
      result.val_mse = history.values("val_loss");
      result.test_mse = ex::test_mse(trainer, test);
      result.seconds = seconds_since(began);
      std::printf("%-9s test MSE %.6g, %.1fx below the constant 1.0's %.6g, %.1f s\n",
                  contender.name.c_str(), result.test_mse, baseline_mse / result.test_mse,
                  baseline_mse, result.seconds);
      std::fflush(stdout);  // before the next layer's progress bars on stderr
    }

    // The three validation curves and the baseline's level in one History,
    // so that one plot shows them all.
    nn::History curves;
    const double val_baseline = ex::constant_prediction_mse(val);
    for (std::size_t epoch = 1; epoch <= flags.epochs; ++epoch) {
      std::map<std::string, double> metrics{{"constant 1.0", val_baseline}};
      for (const Contender& contender : contenders)
        metrics[contender.name] = results.at(contender.key).val_mse[epoch - 1];
      curves.add(epoch, metrics);
    }
    const std::string csv_path = (out / "train_memory_loss.csv").string();
    const std::string svg_path = (out / "train_memory_loss.svg").string();
    curves.write_csv(csv_path);
    curves.write_svg(svg_path, nn::SvgPlotOptions()
                                   .title("train_memory: the adding problem, T = " +
                                          std::to_string(timesteps))
                                   .y_label("validation MSE")
                                   .log_y(true));
    std::printf("validation curves: %s, %s\n", csv_path.c_str(), svg_path.c_str());

    std::printf("{\"example\":\"%s\",\"task\":\"adding\",\"T\":%zu,\"units\":%zu,"
                "\"baseline_mse\":%.6g",
                name, timesteps, units, baseline_mse);
    for (const Contender& contender : contenders) {
      const Result& result = results.at(contender.key);
      std::printf(",\"%s\":{\"test_mse\":%.6g,\"seconds\":%.2f}", contender.key.c_str(),
                  result.test_mse, result.seconds);
    }
    std::printf(",\"seconds\":%.2f}\n", seconds_since(start));
    return 0;
  } catch (const std::exception& e) {
    std::cerr << name << ": " << e.what() << "\n";
    return 1;
  }
}
