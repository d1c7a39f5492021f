// xgrad_bench: the speed and memory figures of /work/shared/bench/WORKLOADS.md.
//
// For every selected (workload, figure, threads) the program forks a child
// process. The child draws the weights and the input, warms up, times the
// figure with Google Benchmark, and writes one JSON line into a pipe; the
// parent prints that line on stdout. Running each measurement in its own
// process makes the child's peak resident set size (getrusage ru_maxrss) the
// peak of that measurement alone, and keeps OpenBLAS thread settings and heap
// state from leaking between measurements.
//
// Timing: Google Benchmark runs the step in `reps` repetitions, each with a
// minimum time of budget / reps seconds (wall clock), so the timed total is at
// least the budget. A custom reporter collects the per-repetition times per
// call (µs); the line reports their median, min and max. `reps` comes from the
// warm-up estimate of one call: as many repetitions as fit in the budget, at
// least the spec's minimum (20 for N and S, 5 for M, L and X), at most 50.
//
// Only JSON lines go to stdout; progress and errors go to stderr.

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <cblas.h>  // openblas_get_config(), for the stderr header only

#include <xgrad/xgrad.hpp>

namespace {

namespace nn = xgrad::nn;

// ---------------------------------------------------------------- workloads

struct Workload {
  char name;
  std::size_t batch, steps, features, units;
  int min_reps;  // the spec's minimum number of repetitions
};

// WORKLOADS.md: name, B, T, I, H.
const std::vector<Workload> kWorkloads = {
    {'N', 1, 3, 5, 2, 20},
    {'S', 32, 50, 8, 32, 20},
    {'M', 64, 100, 64, 128, 5},
    {'L', 64, 100, 256, 512, 5},
    {'X', 1, 10000, 8, 32, 5},
};

enum class Figure { inference, train_step };

// How the forward pass is computed: the layer's fused sequence node, the
// layer's op-by-op reference, or the per-step loop a user would write with
// matmul + add + tanh (the per-op overhead a user's own model pays).
enum class Path { fused, composed, manual };
const char* path_name(Path p) {
  return p == Path::fused ? "fused" : p == Path::composed ? "composed" : "manual";
}
const char* figure_name(Figure f) { return f == Figure::inference ? "inference" : "train_step"; }

constexpr std::uint64_t kSeed = 0;
constexpr float kLearningRate = 1e-3f;
constexpr int kMaxReps = 50;

// ---------------------------------------------------------------- the model

// A SimpleRNN with seeded weights and input, drawn once (outside the timing).
struct Model {
  Model(const Workload& w, Path path)
      : rnn(nn::SimpleRNNOptions(w.units).return_sequences(true)), path(path) {
    xgrad::manual_seed(kSeed);
    // Drawn in the order W, U, b, x, before set_weights builds the layer.
    xgrad::Array<float> kernel = xgrad::uniform<float>({w.features, w.units}, -0.1f, 0.1f);
    xgrad::Array<float> recurrent = xgrad::uniform<float>({w.units, w.units}, -0.1f, 0.1f);
    xgrad::Array<float> bias = xgrad::uniform<float>({w.units}, -0.1f, 0.1f);
    input = xgrad::Variable<float>(
        xgrad::uniform<float>({w.batch, w.steps, w.features}, -1.0f, 1.0f));
    rnn.set_weights({kernel, recurrent, bias});
  }

  xgrad::Variable<float> forward() {
    if (path == Path::fused) return rnn(input);
    if (path == Path::composed) return rnn.forward_composed(input);
    const xgrad::Variable<float> kernel = rnn.kernel(), recurrent = rnn.recurrent_kernel(),
                                 bias = rnn.bias();
    xgrad::Variable<float> h(xgrad::zeros<float>({input.shape()[0], kernel.shape()[1]}));
    std::vector<xgrad::Variable<float>> outputs;
    for (std::size_t t = 0; t < input.shape()[1]; ++t) {
      h = xgrad::tanh(xgrad::matmul(xgrad::select(input, 1, t), kernel) + xgrad::matmul(h, recurrent) + bias);
      outputs.push_back(h);
    }
    return xgrad::stack(outputs, 1);
  }

  // Forward with gradient recording off.
  void inference() {
    xgrad::NoGradGuard no_grad;
    xgrad::Variable<float> y = forward();
    benchmark::DoNotOptimize(y.value().data());
  }

  // Forward, loss = mean(y²) over B·T·H, backward, plain SGD, zero_grad.
  void train_step() {
    xgrad::Variable<float> y = forward();
    xgrad::Variable<float> loss = xgrad::mean(xgrad::mul(y, y));
    loss.backward();
    {
      xgrad::NoGradGuard no_grad;
      for (auto& p : rnn.parameters()) p.value() -= kLearningRate * p.grad();
    }
    rnn.zero_grad();
    last_loss = loss.value()();
  }

  nn::SimpleRNN<float> rnn;
  Path path;
  xgrad::Variable<float> input;
  float last_loss = 0.0f;
};

// ---------------------------------------------------------------- timing

// Receives Google Benchmark's runs instead of its console reporter, so that
// nothing reaches stdout, and keeps the time per call of each repetition.
class RepetitionCollector : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.error_occurred) {
        error += run.error_message;
      } else if (run.run_type == Run::RT_Iteration) {
        times_us.push_back(run.GetAdjustedRealTime());  // Unit(kMicrosecond)
        iterations += run.iterations;
      }
    }
  }

  std::vector<double> times_us;
  std::int64_t iterations = 0;
  std::string error;
};

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // KiB on Linux
}

// Runs in the child: measures one figure and returns its JSON line.
std::string measure(const Workload& w, Figure figure, int threads, double budget, Path path,
                    bool steps_overridden) {
  xgrad::set_num_threads(threads);
  Model model(w, path);
  const std::function<void()> step = figure == Figure::inference
                                         ? std::function<void()>([&] { model.inference(); })
                                         : std::function<void()>([&] { model.train_step(); });

  // Warm-up: at least two calls and a tenth of the budget; the fastest call
  // estimates the time of one call.
  using Clock = std::chrono::steady_clock;
  const auto seconds_since = [](Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
  };
  const auto warm_start = Clock::now();
  double call_seconds = 1e9;
  for (int calls = 0; calls < 2 || seconds_since(warm_start) < 0.1 * budget; ++calls) {
    const auto t0 = Clock::now();
    step();
    call_seconds = std::min(call_seconds, seconds_since(t0));
  }
  const int reps = std::clamp(static_cast<int>(budget / std::max(call_seconds, 1e-9)),
                              w.min_reps, std::max(kMaxReps, w.min_reps));

  const std::string name = std::string(1, w.name) + "/" + figure_name(figure) + "/threads:" +
                           std::to_string(threads);
  benchmark::RegisterBenchmark(name.c_str(),
                               [&](benchmark::State& state) {
                                 for (auto _ : state) step();
                               })
      ->Unit(benchmark::kMicrosecond)
      ->UseRealTime()
      ->MinTime(budget / reps)
      ->Repetitions(reps)
      ->ReportAggregatesOnly(false);
  RepetitionCollector collector;
  benchmark::RunSpecifiedBenchmarks(&collector);
  benchmark::ClearRegisteredBenchmarks();

  if (!collector.error.empty()) throw std::runtime_error("benchmark error: " + collector.error);
  if (collector.times_us.empty()) throw std::runtime_error("benchmark reported no repetitions");
  if (figure == Figure::train_step && !std::isfinite(model.last_loss))
    throw std::runtime_error("the loss is not finite");

  const auto& t = collector.times_us;
  const double median = median_of(t);
  const double min = *std::min_element(t.begin(), t.end());
  const double max = *std::max_element(t.begin(), t.end());
  const double rss = peak_rss_mib();

  // Fields beyond the spec's appear only when a flag changed the defaults.
  std::string extra;
  if (path != Path::fused) extra += std::string(",\"path\":\"") + path_name(path) + "\"";
  if (steps_overridden) extra += ",\"steps\":" + std::to_string(w.steps);
  char line[640];
  std::snprintf(line, sizeof line,
                "{\"workload\":\"%c\",\"figure\":\"%s\",\"threads\":%d%s,\"median_us\":%.2f,"
                "\"min_us\":%.2f,\"max_us\":%.2f,\"reps\":%zu,\"peak_rss_mib\":%.1f}\n",
                w.name, figure_name(figure), threads, extra.c_str(), median, min, max, t.size(),
                rss);
  std::fprintf(stderr, "  %s: median %.2f us, %zu reps, %lld calls timed, peak RSS %.1f MiB\n",
               name.c_str(), median, t.size(), static_cast<long long>(collector.iterations), rss);
  return line;
}

// ---------------------------------------------------------------- processes

// Forks a child that runs measure() and sends its line through a pipe.
// Returns the line, or nothing if the child failed (reported on stderr).
std::optional<std::string> measure_in_child(const Workload& w, Figure figure, int threads,
                                            double budget, Path path, bool steps_overridden) {
  int fds[2];
  if (pipe(fds) != 0) {
    std::perror("xgrad_bench: pipe");
    return std::nullopt;
  }
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = fork();
  if (pid < 0) {
    std::perror("xgrad_bench: fork");
    close(fds[0]);
    close(fds[1]);
    return std::nullopt;
  }
  if (pid == 0) {
    close(fds[0]);
    int status = 0;
    try {
      const std::string line = measure(w, figure, threads, budget, path, steps_overridden);
      status = write(fds[1], line.data(), line.size()) == static_cast<ssize_t>(line.size()) ? 0 : 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "xgrad_bench: %c %s threads=%d failed: %s\n", w.name,
                   figure_name(figure), threads, e.what());
      status = 1;
    }
    close(fds[1]);
    _exit(status);  // no atexit handlers or static destructors in the child
  }

  close(fds[1]);
  std::string line;
  char buffer[512];
  for (;;) {
    const ssize_t n = read(fds[0], buffer, sizeof buffer);
    if (n > 0) {
      line.append(buffer, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || line.empty()) {
    std::fprintf(stderr, "xgrad_bench: the child for %c %s threads=%d failed (%s %d)\n", w.name,
                 figure_name(figure), threads, WIFSIGNALED(status) ? "signal" : "exit status",
                 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    return std::nullopt;
  }
  return line;
}

// ---------------------------------------------------------------- flags

[[noreturn]] void usage(const char* program, const std::string& problem) {
  if (!problem.empty()) std::fprintf(stderr, "%s: %s\n", program, problem.c_str());
  std::fprintf(stderr,
               "usage: %s [--workload N|S|M|L|X] [--figure inference|train_step] "
               "[--threads 1|2] [--budget SECONDS]\n"
               "       [--path fused|composed|manual] [--steps T]\n"
               "Prints one JSON line per (workload, figure, threads) on stdout; "
               "without flags runs them all.\n"
               "--budget is the minimum timed seconds per figure (default 0.7).\n"
               "--path: the layer's fused node (default), its op-by-op reference, or a\n"
               "hand-written per-step loop of matmul + add + tanh.\n"
               "--steps T replaces the workloads' timestep count (T-scaling).\n",
               program);
  std::exit(problem.empty() ? 0 : 2);
}

struct Selection {
  std::vector<Workload> workloads = kWorkloads;
  std::vector<Figure> figures = {Figure::inference, Figure::train_step};
  std::vector<int> threads = {1, 2};
  double budget = 0.7;
  Path path = Path::fused;
  std::size_t steps = 0;  // 0: the workload's own T
};

Selection parse_flags(int argc, char** argv) {
  Selection s;
  const char* program = argv[0];
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i], value;
    if (flag == "-h" || flag == "--help") usage(program, "");
    const std::size_t eq = flag.find('=');
    if (eq != std::string::npos) {  // --flag=value
      value = flag.substr(eq + 1);
      flag.resize(eq);
    }
    if (flag != "--workload" && flag != "--figure" && flag != "--threads" && flag != "--budget" &&
        flag != "--path" && flag != "--steps")
      usage(program, "unknown flag '" + flag + "'");
    if (eq == std::string::npos) {  // --flag value
      if (i + 1 >= argc) usage(program, "missing value for " + flag);
      value = argv[++i];
    }

    if (flag == "--workload") {
      const auto it = std::find_if(kWorkloads.begin(), kWorkloads.end(), [&](const Workload& w) {
        return value.size() == 1 && value[0] == w.name;
      });
      if (it == kWorkloads.end()) usage(program, "unknown workload '" + value + "'");
      s.workloads = {*it};
    } else if (flag == "--figure") {
      if (value == "inference") s.figures = {Figure::inference};
      else if (value == "train_step") s.figures = {Figure::train_step};
      else usage(program, "unknown figure '" + value + "'");
    } else if (flag == "--threads") {
      if (value == "1") s.threads = {1};
      else if (value == "2") s.threads = {2};
      else usage(program, "--threads must be 1 or 2, got '" + value + "'");
    } else if (flag == "--budget") {
      char* end = nullptr;
      errno = 0;
      const double budget = std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0' || errno != 0 || !std::isfinite(budget) || budget <= 0)
        usage(program, "--budget must be a positive number of seconds, got '" + value + "'");
      s.budget = budget;
    } else if (flag == "--path") {
      if (value == "fused") s.path = Path::fused;
      else if (value == "composed") s.path = Path::composed;
      else if (value == "manual") s.path = Path::manual;
      else usage(program, "unknown path '" + value + "'");
    } else if (flag == "--steps") {
      char* end = nullptr;
      const unsigned long long steps = std::strtoull(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || steps == 0 || steps > 1000000)
        usage(program, "--steps must be a whole number from 1 to 1000000, got '" + value + "'");
      s.steps = static_cast<std::size_t>(steps);
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  const Selection selection = parse_flags(argc, argv);

  // Google Benchmark reads only its defaults: none of our flags go to it.
  int benchmark_argc = 1;
  benchmark::Initialize(&benchmark_argc, argv);

  // Which OpenBLAS kernels run matters more than anything else for M and L:
  // an unrecognised CPU falls back to the generic "Prescott" kernels.
  std::fprintf(stderr, "xgrad_bench: %s, core %s\n", openblas_get_config(),
               openblas_get_corename());

  bool all_ok = true;
  for (Workload w : selection.workloads) {
    if (selection.steps > 0) w.steps = selection.steps;
    for (Figure figure : selection.figures) {
      for (int threads : selection.threads) {
        std::fprintf(stderr, "xgrad_bench: %c (B=%zu T=%zu I=%zu H=%zu) %s threads=%d ...\n",
                     w.name, w.batch, w.steps, w.features, w.units, figure_name(figure), threads);
        const std::optional<std::string> line =
            measure_in_child(w, figure, threads, selection.budget, selection.path, selection.steps > 0);
        if (line) {
          std::fputs(line->c_str(), stdout);
          std::fflush(stdout);
        } else {
          all_ok = false;
        }
      }
    }
  }
  return all_ok ? 0 : 1;
}
