// train_sine: a SimpleRNN learns to forecast the next value of a sine wave.
//
// Each sample is a window of T = 20 steps of sin(omega * t + phase) with a
// random angular frequency omega (0.2 .. 0.6 rad per step) and phase, seen
// with a little Gaussian noise; the target is the clean value one step after
// the window. A SimpleRNN(32) + Dense(1) trained with Adam on the MSE, as
// Keras' fit() would, must infer the frequency from the window to do better
// than the naive forecast "the next value equals the last value seen".
//
// What it shows: the DataLoader, Adam, the progress bar, the loss history as
// CSV + SVG, and a checkpoint saved, reloaded into a fresh model and
// evaluated there. The last line on stdout is one JSON object with the
// reloaded model's test MSE, the naive forecast's, and the wall time.
//
//   train_sine [--epochs N] [--seed N] [--out DIR] [--threads N]

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <system_error>

#include <xgrad/autograd/ops.hpp>
#include <xgrad/nn/checkpoint.hpp>
#include <xgrad/nn/data.hpp>
#include <xgrad/nn/dense.hpp>
#include <xgrad/nn/history.hpp>
#include <xgrad/nn/losses.hpp>
#include <xgrad/nn/optimizers.hpp>
#include <xgrad/nn/progress.hpp>
#include <xgrad/nn/sequential.hpp>
#include <xgrad/nn/simple_rnn.hpp>
#include <xgrad/tensor/blas.hpp>
#include <xgrad/tensor/tensor.hpp>

namespace {

namespace nn = xgrad::nn;
using xgrad::Array;
using xgrad::Variable;

constexpr const char* program = "train_sine";
constexpr std::size_t timesteps = 20;
constexpr double omega_low = 0.2, omega_high = 0.6;  // rad per step: 10 to 31 steps per period
constexpr float noise_std = 0.02f;
constexpr std::size_t train_samples = 2048, val_samples = 512, test_samples = 1024;
constexpr std::size_t units = 32;
constexpr std::size_t batch_size = 32;
constexpr double learning_rate = 5e-3;      // Adam's rate in the first epoch...
constexpr double final_lr_fraction = 0.1;  // ...decayed geometrically to this fraction of it

struct Flags {
  std::size_t epochs = 20;
  std::uint64_t seed = 42;
  std::string out = ".";
  int threads = 0;  // 0: OpenBLAS's own default
};

void print_usage(std::ostream& os) {
  os << "usage: " << program << " [--epochs N] [--seed N] [--out DIR] [--threads N]\n"
     << "  --epochs N   training epochs (default 20)\n"
     << "  --seed N     seed of xgrad::manual_seed: data, weights, shuffling (default 42)\n"
     << "  --out DIR    where the loss CSV/SVG and the checkpoint go (default .)\n"
     << "  --threads N  OpenBLAS threads (default: OpenBLAS's own choice)\n";
}

template <typename N>
bool parse_number(const std::string& text, N& value) {
  const auto result = std::from_chars(text.data(), text.data() + text.size(), value);
  return result.ec == std::errc() && result.ptr == text.data() + text.size();
}

// The learning rate of `epoch` (1 .. epochs): a constant rate leaves Adam
// jittering around the minimum (the validation loss bounces from epoch to
// epoch), so it decays geometrically to final_lr_fraction of itself.
double scheduled_learning_rate(std::size_t epoch, std::size_t epochs) {
  if (epochs < 2) return learning_rate;
  const double progress = static_cast<double>(epoch - 1) / static_cast<double>(epochs - 1);
  return learning_rate * std::pow(final_lr_fraction, progress);
}

// Returns false (after saying why) for an unknown flag or a bad value.
bool parse_flags(int argc, char** argv, Flags& flags) {
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i], value;
    const auto equals = flag.find('=');
    if (flag.rfind("--", 0) == 0 && equals != std::string::npos) {  // --flag=value
      value = flag.substr(equals + 1);
      flag.resize(equals);
    } else if (flag == "--epochs" || flag == "--seed" || flag == "--threads" || flag == "--out") {
      if (i + 1 == argc) {
        std::cerr << program << ": " << flag << " needs a value\n";
        return false;
      }
      value = argv[++i];
    }
    bool ok = false;
    if (flag == "--epochs") {
      ok = parse_number(value, flags.epochs) && flags.epochs > 0;
    } else if (flag == "--seed") {
      ok = parse_number(value, flags.seed);
    } else if (flag == "--threads") {
      ok = parse_number(value, flags.threads) && flags.threads > 0;
    } else if (flag == "--out") {
      flags.out = value;
      ok = !value.empty();
    } else {
      std::cerr << program << ": unknown argument " << argv[i] << "\n";
      return false;
    }
    if (!ok) {
      std::cerr << program << ": bad value '" << value << "' for " << flag << "\n";
      return false;
    }
  }
  return true;
}

struct Dataset {
  Array<float> inputs;   // [N, T, 1]: the noisy window
  Array<float> targets;  // [N, 1]: the clean next value
};

// Draws from xgrad's generator, so manual_seed fixes the data.
Dataset make_sine_waves(std::size_t n) {
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

std::shared_ptr<nn::Sequential<float>> make_model() {
  auto model = std::make_shared<nn::Sequential<float>>();
  model->add(std::make_shared<nn::SimpleRNN<float>>(nn::SimpleRNNOptions(units)));
  model->add(std::make_shared<nn::Dense<float>>(nn::DenseOptions(1)));
  model->build({-1, static_cast<std::ptrdiff_t>(timesteps), 1});
  return model;
}

// The MSE of the model on a whole set, in one batch and without a graph.
double evaluate(nn::Sequential<float>& model, const Dataset& data) {
  xgrad::NoGradGuard no_grad;
  const Variable<float> prediction = model(Variable<float>(data.inputs));
  const Variable<float> loss = nn::mean_squared_error(prediction, Variable<float>(data.targets));
  return static_cast<double>(loss.value()());
}

// The naive forecast: the next value is the last value seen (noise and all,
// as the model sees it).
double naive_forecast_mse(const Dataset& data) {
  double sum = 0;
  const std::size_t n = data.targets.shape()[0];
  for (std::size_t i = 0; i < n; ++i) {
    const double error = static_cast<double>(data.inputs(i, timesteps - 1, 0)) - data.targets(i, 0);
    sum += error * error;
  }
  return sum / static_cast<double>(n);
}

}  // namespace

int main(int argc, char** argv) {
  const auto start = std::chrono::steady_clock::now();
  Flags flags;
  if (argc == 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    print_usage(std::cout);
    return 0;
  }
  if (!parse_flags(argc, argv, flags)) {
    print_usage(std::cerr);
    return 2;
  }

  try {
    if (flags.threads > 0) xgrad::set_num_threads(flags.threads);
    std::filesystem::create_directories(flags.out);
    const std::filesystem::path out(flags.out);

    xgrad::manual_seed(flags.seed);
    const Dataset train = make_sine_waves(train_samples);
    const Dataset val = make_sine_waves(val_samples);
    const Dataset test = make_sine_waves(test_samples);

    auto model = make_model();
    nn::Adam<float> optimizer(model->parameters(), nn::AdamOptions().learning_rate(learning_rate));
    nn::DataLoader<float> loader(train.inputs, train.targets, nn::DataLoaderOptions(batch_size));
    nn::History history;

    std::cout << program << ": SimpleRNN(" << units << ") + Dense(1), T = " << timesteps << ", "
              << train_samples << " training windows, batch " << batch_size << ", Adam lr "
              << learning_rate << " -> " << learning_rate * final_lr_fraction << ", "
              << flags.epochs << " epochs, seed " << flags.seed << "\n";
    for (std::size_t epoch = 1; epoch <= flags.epochs; ++epoch) {
      optimizer.set_learning_rate(scheduled_learning_rate(epoch, flags.epochs));
      std::cerr << "Epoch " << epoch << "/" << flags.epochs << "\n";
      nn::ProgressBar bar(loader.num_batches());
      double loss_sum = 0;  // sample-weighted, so the last (smaller) batch counts right
      std::size_t batches = 0, samples = 0;
      for (auto& batch : loader.epoch()) {
        const std::size_t b = batch.indices.size();
        optimizer.zero_grad();
        const Variable<float> prediction = (*model)(Variable<float>(std::move(batch.inputs)));
        Variable<float> loss =
            nn::mean_squared_error(prediction, Variable<float>(std::move(batch.targets)));
        loss.backward();
        optimizer.step();
        loss_sum += static_cast<double>(loss.value()()) * static_cast<double>(b);
        samples += b;
        bar.update(++batches, samples, loss_sum / static_cast<double>(samples));
      }
      const double train_loss = loss_sum / static_cast<double>(samples);
      const double val_loss = evaluate(*model, val);
      bar.finish(train_loss, {{"val_loss", val_loss}});
      history.add(epoch, {{"loss", train_loss}, {"val_loss", val_loss}});
    }

    const std::string csv_path = (out / "train_sine_loss.csv").string();
    const std::string svg_path = (out / "train_sine_loss.svg").string();
    const std::string checkpoint_path = (out / "train_sine.npz").string();
    history.write_csv(csv_path);
    history.write_svg(svg_path, nn::SvgPlotOptions()
                                    .title("train_sine: SimpleRNN next-value forecast")
                                    .y_label("MSE")
                                    .log_y(true));
    nn::save(*model, checkpoint_path);

    // The figures come from a fresh model loaded from the checkpoint, so they
    // also show that the checkpoint holds the whole trained model.
    auto reloaded = make_model();
    nn::load(*reloaded, checkpoint_path);
    const double test_mse = evaluate(*reloaded, test);
    const double trained_mse = evaluate(*model, test);
    const double baseline_mse = naive_forecast_mse(test);
    if (test_mse != trained_mse) {
      std::cerr << program << ": the reloaded model gives test MSE " << test_mse
                << ", the trained one " << trained_mse << "\n";
      return 1;
    }

    std::printf("test MSE %.6g (reloaded from %s), naive forecast %.6g: %.1fx better\n", test_mse,
                checkpoint_path.c_str(), baseline_mse, baseline_mse / test_mse);
    std::printf("loss curve: %s, %s\n", csv_path.c_str(), svg_path.c_str());
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf(
        "{\"example\":\"train_sine\",\"test_mse\":%.6g,\"baseline_mse\":%.6g,"
        "\"seconds\":%.2f}\n",
        test_mse, baseline_mse, seconds);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << program << ": " << e.what() << "\n";
    return 1;
  }
}
