#pragma once
// The skeleton the training programs (train_sine, train_adding) share: the
// command line, the learning-rate schedule, training with the library's
// nn::Trainer (Keras' fit, with its progress bar and History), the files
// written, the check that the checkpoint reloads into the same model, and
// the closing lines on stdout.
// A program describes itself in a Program and calls run():
//
//   int main(int argc, char** argv) {
//     xgrad_examples::Program program;
//     program.name = "train_sine";
//     ...  // its data, model, optimiser settings, baseline
//     return xgrad_examples::run(program, argc, argv);
//   }
//
// train_memory, which trains three models, uses the parts (read_command_line,
// make_adding_problems, make_model, fit, test_mse) without run().
//
// Header-only: each program is one .cpp file plus this.

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

#include <xgrad/nn/callbacks.hpp>
#include <xgrad/nn/checkpoint.hpp>
#include <xgrad/nn/dense.hpp>
#include <xgrad/nn/history.hpp>
#include <xgrad/nn/optimizers.hpp>
#include <xgrad/nn/sequential.hpp>
#include <xgrad/nn/simple_rnn.hpp>
#include <xgrad/nn/trainer.hpp>
#include <xgrad/tensor/blas.hpp>
#include <xgrad/tensor/tensor.hpp>

namespace xgrad_examples {

namespace nn = xgrad::nn;

// ------------------------------------------------------------ command line

//   <program> [--epochs N] [--seed N] [--out DIR] [--threads N] [--samples N] [--timesteps N]
struct Flags {
  std::size_t epochs = 0;  // set to the program's default before parsing
  std::uint64_t seed = 42;
  std::string out = ".";
  int threads = 0;  // 0: OpenBLAS's own default
  std::size_t samples = 0;  // training samples; 0: the program's default
  std::size_t timesteps = 0;  // sequence length; 0: the program's default

  std::size_t timesteps_or(std::size_t default_timesteps) const {
    return timesteps ? timesteps : default_timesteps;
  }

  // The size of a data set whose default is `count` when the training set's
  // is `default_train`: with --samples, every set keeps its proportion to the
  // training set (at least one sample).
  std::size_t sized(std::size_t count, std::size_t default_train) const {
    if (samples == 0) return count;
    return std::max<std::size_t>(1, count * samples / default_train);
  }
};

inline void print_usage(std::ostream& os, const char* program, std::size_t default_epochs) {
  os << "usage: " << program
     << " [--epochs N] [--seed N] [--out DIR] [--threads N] [--samples N] [--timesteps N]\n"
     << "  --epochs N   training epochs (default " << default_epochs << ")\n"
     << "  --seed N     seed of xgrad::manual_seed: data, weights, shuffling (default 42)\n"
     << "  --out DIR    where the files go: the loss CSV/SVG, any checkpoint (default .)\n"
     << "  --threads N  OpenBLAS threads (default: OpenBLAS's own choice)\n"
     << "  --samples N  training samples, the validation and test sets scaled alike\n"
     << "               (default: the program's; fewer for a quick run, e.g. under a sanitizer)\n"
     << "  --timesteps N  sequence length T (default: the program's; a quick run again)\n";
}

template <typename N>
bool parse_number(const std::string& text, N& value) {
  const auto result = std::from_chars(text.data(), text.data() + text.size(), value);
  return result.ec == std::errc() && result.ptr == text.data() + text.size();
}

// Returns false (after saying why) for an unknown flag or a bad value.
inline bool parse_flags(int argc, char** argv, const char* program, Flags& flags) {
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i], value;
    const auto equals = flag.find('=');
    if (flag.rfind("--", 0) == 0 && equals != std::string::npos) {  // --flag=value
      value = flag.substr(equals + 1);
      flag.resize(equals);
    } else if (flag == "--epochs" || flag == "--seed" || flag == "--threads" || flag == "--out" ||
               flag == "--samples" || flag == "--timesteps") {
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
    } else if (flag == "--samples") {
      ok = parse_number(value, flags.samples) && flags.samples > 0;
    } else if (flag == "--timesteps") {
      ok = parse_number(value, flags.timesteps) && flags.timesteps > 1;
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

// Reads the command line into `flags`, whose values on entry are the
// defaults. Returns the exit status when the program is done: 0 after
// --help (the usage on stdout), 2 after a bad command line (why, then the
// usage, on stderr); nothing when it should go on and train.
inline std::optional<int> read_command_line(int argc, char** argv, const char* program,
                                            Flags& flags) {
  const std::size_t default_epochs = flags.epochs;
  if (argc == 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    print_usage(std::cout, program, default_epochs);
    return 0;
  }
  if (!parse_flags(argc, argv, program, flags)) {
    print_usage(std::cerr, program, default_epochs);
    return 2;
  }
  return std::nullopt;
}

// -------------------------------------------------------------------- data

// A regression data set: inputs [N, T, F], targets [N, 1].
struct Dataset {
  xgrad::Array<float> inputs;
  xgrad::Array<float> targets;
};

// The adding problem (Hochreiter & Schmidhuber 1997), used by train_adding and
// train_memory: n sequences of `timesteps` steps, inputs [n, T, 2] (a value
// uniform in [0, 1), a marker that is 1 at exactly two steps and 0
// elsewhere), targets [n, 1] (the sum of the two marked values). The markers
// are placed as in Le, Jaitly & Hinton 2015: one uniformly in the first half
// of the sequence, one uniformly in the second half. Draws from xgrad's
// generator, so manual_seed fixes the data.
inline Dataset make_adding_problems(std::size_t n, std::size_t timesteps) {
  const std::size_t half = timesteps / 2;
  Dataset data{xgrad::zeros<float>({n, timesteps, 2}), xgrad::zeros<float>({n, 1})};
  const xgrad::Array<float> values = xgrad::uniform<float>({n, timesteps}, 0.0f, 1.0f);
  const xgrad::Array<double> first =
      xgrad::uniform<double>({n}, 0.0, static_cast<double>(half));
  const xgrad::Array<double> second =
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

// The adding problem's trivial baseline: the MSE of always predicting 1.0,
// the mean target (2 * 1/12 = 0.167 in expectation).
inline double constant_prediction_mse(const Dataset& data) {
  double sum = 0;
  for (const float target : data.targets) sum += (target - 1.0) * (target - 1.0);
  return sum / static_cast<double>(data.targets.size());
}

// ---------------------------------------------------------------- training

// The learning rate of `epoch` (0 .. epochs − 1), for nn::LearningRateScheduler:
// a constant rate leaves Adam jittering around the minimum (the validation
// loss bounces from epoch to epoch), so it decays geometrically from
// `initial` in the first epoch to final_fraction of it in the last.
struct LearningRateSchedule {
  double initial;
  double final_fraction;

  double operator()(std::size_t epoch, std::size_t epochs) const {
    if (epochs < 2) return initial;
    const double progress = static_cast<double>(epoch) / static_cast<double>(epochs - 1);
    return initial * std::pow(final_fraction, progress);
  }
};

// Adam as every program here runs it: starting at schedule.initial, the
// gradients clipped to a global norm of max_grad_norm (0: not clipped).
inline nn::AdamOptions adam_options(const LearningRateSchedule& schedule, float max_grad_norm) {
  return nn::AdamOptions().learning_rate(schedule.initial).global_clipnorm(max_grad_norm);
}

// trainer.fit on `train` for `epochs` epochs in batches of batch_size, the
// learning rate set by `schedule` at the start of each epoch (a
// LearningRateScheduler) and `val` evaluated in one batch after each epoch.
// The progress bars go to stderr; the History holds "loss", "val_loss" and
// "learning_rate".
inline nn::History fit(nn::Trainer<float>& trainer, const Dataset& train, const Dataset& val,
                       std::size_t epochs, std::size_t batch_size,
                       const LearningRateSchedule& schedule) {
  const auto scheduler = std::make_shared<nn::LearningRateScheduler>(
      [schedule, epochs](std::size_t epoch, double) { return schedule(epoch, epochs); });
  return trainer.fit(train.inputs, train.targets,
                     nn::FitOptions()
                         .epochs(epochs)
                         .batch_size(batch_size)
                         .validation_data(val.inputs, val.targets)
                         .validation_batch_size(val.targets.shape()[0])
                         .callbacks({scheduler}));
}

// The MSE of the trainer's model on a whole set, in one batch.
inline double test_mse(nn::Trainer<float>& trainer, const Dataset& data) {
  const auto one_batch = nn::EvaluateOptions().batch_size(data.targets.shape()[0]);
  return trainer.evaluate(data.inputs, data.targets, one_batch).at("loss");
}

// ---------------------------------------------------------------- run()

// `recurrent` (a SimpleRNN, LSTM or GRU without return_sequences) + Dense(1),
// built for inputs of `timesteps` steps of `features` features (the Dense's
// weights, and the recurrent layer's if it is not built yet, drawn from
// xgrad's generator).
template <typename Recurrent>
std::shared_ptr<nn::Sequential<float>> make_model(std::shared_ptr<Recurrent> recurrent,
                                                  std::size_t timesteps, std::size_t features) {
  auto model = std::make_shared<nn::Sequential<float>>();
  model->add(std::move(recurrent));
  model->add(std::make_shared<nn::Dense<float>>(nn::DenseOptions(1)));
  model->build(
      {-1, static_cast<std::ptrdiff_t>(timesteps), static_cast<std::ptrdiff_t>(features)});
  return model;
}

// The model of run(): SimpleRNN(units) + Dense(1).
inline std::shared_ptr<nn::Sequential<float>> make_model(std::size_t units, std::size_t timesteps,
                                                         std::size_t features) {
  return make_model(std::make_shared<nn::SimpleRNN<float>>(nn::SimpleRNNOptions(units)),
                    timesteps, features);
}

// What a training program is; run() does the rest.
struct Program {
  std::string name;  // e.g. "train_sine": in messages, file names and the JSON line
  std::size_t default_epochs = 0;
  // make_data(n, T) draws n samples [T, features] from xgrad's
  // generator, so --seed fixes them; the training, validation and test sets
  // are drawn in that order.
  std::function<Dataset(std::size_t, std::size_t)> make_data;
  std::size_t timesteps = 0, features = 0;  // timesteps: the default T
  std::size_t train_samples = 0, val_samples = 0, test_samples = 0;
  std::string samples_noun;  // e.g. "windows": "2048 training windows"
  std::size_t units = 0;     // of the SimpleRNN
  std::size_t batch_size = 0;
  LearningRateSchedule learning_rate{};  // Adam's
  float max_grad_norm = 0.0f;            // Adam's global_clipnorm; 0: none
  std::string plot_title;                // of the loss curve's SVG, which adds ", T = ...".
  // The baseline the model must beat: its name on stdout, its test MSE.
  std::string baseline_name;
  std::function<double(const Dataset&)> baseline_mse;
  // The keys of the model's and the baseline's test MSE in the JSON line.
  std::string metric_key, baseline_key;
};

// The whole program: reads the command line, trains on the MSE with Adam
// through nn::Trainer::fit (progress on stderr), writes <out>/<name>_loss.csv, <name>_loss.svg and
// the checkpoint <name>.npz, evaluates a fresh model loaded from that
// checkpoint on the test set, and prints the figures, the last line being one
// JSON object. Returns main's exit status.
inline int run(const Program& program, int argc, char** argv) {
  const auto start = std::chrono::steady_clock::now();
  const char* name = program.name.c_str();
  Flags flags;
  flags.epochs = program.default_epochs;
  if (const auto status = read_command_line(argc, argv, name, flags)) return *status;

  try {
    if (flags.threads > 0) xgrad::set_num_threads(flags.threads);
    std::filesystem::create_directories(flags.out);
    const std::filesystem::path out(flags.out);

    xgrad::manual_seed(flags.seed);
    const std::size_t train_samples = flags.sized(program.train_samples, program.train_samples);
    const std::size_t timesteps = flags.timesteps_or(program.timesteps);
    const Dataset train = program.make_data(train_samples, timesteps);
    const Dataset val =
        program.make_data(flags.sized(program.val_samples, program.train_samples), timesteps);
    const Dataset test =
        program.make_data(flags.sized(program.test_samples, program.train_samples), timesteps);

    const auto model = make_model(program.units, timesteps, program.features);
    const LearningRateSchedule& lr = program.learning_rate;
    nn::Adam<float> optimizer(model->parameters(), adam_options(lr, program.max_grad_norm));
    nn::Trainer<float> trainer(*model, optimizer, "mean_squared_error");

    std::cout << name << ": SimpleRNN(" << program.units << ") + Dense(1), T = "
              << timesteps << ", " << train_samples << " training "
              << program.samples_noun << ", batch " << program.batch_size << ", Adam lr "
              << lr.initial << " -> " << lr.initial * lr.final_fraction << ", ";
    if (program.max_grad_norm > 0.0f) std::cout << "clip norm " << program.max_grad_norm << ", ";
    std::cout << flags.epochs << " epochs, seed " << flags.seed << "\n";
    const nn::History history = fit(trainer, train, val, flags.epochs, program.batch_size, lr);

    // The loss curves (fit's History also holds the learning rate).
    nn::History curves;
    const auto loss = history.values("loss"), val_loss = history.values("val_loss");
    for (std::size_t i = 0; i < history.size(); ++i)
      curves.add(history.epochs()[i], {{"loss", loss[i]}, {"val_loss", val_loss[i]}});
    const std::string csv_path = (out / (program.name + "_loss.csv")).string();
    const std::string svg_path = (out / (program.name + "_loss.svg")).string();
    const std::string checkpoint_path = (out / (program.name + ".npz")).string();
    curves.write_csv(csv_path);
    curves.write_svg(svg_path,
                     nn::SvgPlotOptions()
                         .title(program.plot_title + ", T = " + std::to_string(timesteps))
                         .y_label("MSE")
                         .log_y(true));
    nn::save(*model, checkpoint_path);

    // The figures come from a fresh model loaded from the checkpoint, so they
    // also show that the checkpoint holds the whole trained model.
    const auto reloaded = make_model(program.units, timesteps, program.features);
    nn::load(*reloaded, checkpoint_path);
    nn::Adam<float> reloaded_optimizer(reloaded->parameters());  // a trainer needs one; unused
    nn::Trainer<float> reloaded_trainer(*reloaded, reloaded_optimizer, "mean_squared_error");
    const double test_mse = xgrad_examples::test_mse(reloaded_trainer, test);
    const double trained_mse = xgrad_examples::test_mse(trainer, test);
    const double baseline_mse = program.baseline_mse(test);
    if (test_mse != trained_mse) {
      std::cerr << name << ": the reloaded model gives test MSE " << test_mse
                << ", the trained one " << trained_mse << "\n";
      return 1;
    }

    std::printf("test MSE %.6g (reloaded from %s), %s %.6g: %.1fx better\n", test_mse,
                checkpoint_path.c_str(), program.baseline_name.c_str(), baseline_mse,
                baseline_mse / test_mse);
    std::printf("loss curve: %s, %s\n", csv_path.c_str(), svg_path.c_str());
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("{\"example\":\"%s\",\"%s\":%.6g,\"%s\":%.6g,\"seconds\":%.2f}\n", name,
                program.metric_key.c_str(), test_mse, program.baseline_key.c_str(), baseline_mse,
                seconds);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << name << ": " << e.what() << "\n";
    return 1;
  }
}

}  // namespace xgrad_examples
