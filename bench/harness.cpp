// The measurement harness of the benchmark programs: see harness.hpp.

#include "harness.hpp"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <stdexcept>

#include <benchmark/benchmark.h>
#include <cblas.h>  // openblas_get_config(), for the stderr header only

namespace bench {

const std::vector<Workload> kWorkloads = {
    {'N', 1, 3, 5, 2, 20},
    {'S', 32, 50, 8, 32, 20},
    {'M', 64, 100, 64, 128, 5},
    {'L', 64, 100, 256, 512, 5},
    {'X', 1, 10000, 8, 32, 5},
};

const char* figure_name(Figure f) {
  switch (f) {
    case Figure::inference: return "inference";
    case Figure::train_step: return "train_step";
    case Figure::gemm_limit: return "gemm_limit";
    case Figure::inference_gemm_limit: return "inference_gemm_limit";
  }
  return "";
}

namespace {

constexpr int kMaxReps = 50;

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

// What one measurement is: the workload (with --steps applied), the figure
// and the thread count, and the run's settings.
struct Measurement {
  Workload workload;
  Figure figure;
  int threads;
  double budget;
  bool steps_overridden;
};

// Runs in the child: measures one figure and returns its JSON line.
std::string measure(const Program& program, const Measurement& m) {
  const Workload& w = m.workload;
  program.set_threads(m.threads);
  std::unique_ptr<Model> model;
  std::function<void()> step;
  if (m.figure == Figure::gemm_limit || m.figure == Figure::inference_gemm_limit) {
    step = program.make_gemm_limit(w, m.figure == Figure::inference_gemm_limit);
  } else {
    model = program.make_model(w);
    Model* const model_ptr = model.get();
    if (m.figure == Figure::inference) step = [model_ptr] { model_ptr->inference(); };
    else step = [model_ptr] { model_ptr->train_step(); };
  }

  // Warm-up: at least two calls and a tenth of the budget; the fastest call
  // estimates the time of one call.
  using Clock = std::chrono::steady_clock;
  const auto seconds_since = [](Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
  };
  const auto warm_start = Clock::now();
  double call_seconds = 1e9;
  for (int calls = 0; calls < 2 || seconds_since(warm_start) < 0.1 * m.budget; ++calls) {
    const auto t0 = Clock::now();
    step();
    call_seconds = std::min(call_seconds, seconds_since(t0));
  }
  const int reps = std::clamp(static_cast<int>(m.budget / std::max(call_seconds, 1e-9)),
                              w.min_reps, std::max(kMaxReps, w.min_reps));

  const std::string name = std::string(1, w.name) + "/" + figure_name(m.figure) + "/threads:" +
                           std::to_string(m.threads);
  benchmark::RegisterBenchmark(name.c_str(),
                               [&](benchmark::State& state) {
                                 for (auto _ : state) step();
                               })
      ->Unit(benchmark::kMicrosecond)
      ->UseRealTime()
      ->MinTime(m.budget / reps)
      ->Repetitions(reps)
      ->ReportAggregatesOnly(false);
  RepetitionCollector collector;
  benchmark::RunSpecifiedBenchmarks(&collector);
  benchmark::ClearRegisteredBenchmarks();

  if (!collector.error.empty()) throw std::runtime_error("benchmark error: " + collector.error);
  if (collector.times_us.empty()) throw std::runtime_error("benchmark reported no repetitions");
  if (m.figure == Figure::train_step && !std::isfinite(model->last_loss()))
    throw std::runtime_error("the loss is not finite");

  const auto& t = collector.times_us;
  const double median = median_of(t);
  const double min = *std::min_element(t.begin(), t.end());
  const double max = *std::max_element(t.begin(), t.end());
  const double rss = peak_rss_mib();

  // Fields beyond the spec's: the program's own, and "steps" when --steps
  // changed the workload.
  std::string extra = program.extra_fields ? program.extra_fields(m.figure) : std::string();
  if (m.steps_overridden) extra += ",\"steps\":" + std::to_string(w.steps);
  char line[640];
  std::snprintf(line, sizeof line,
                "{\"workload\":\"%c\",\"figure\":\"%s\",\"threads\":%d%s,\"median_us\":%.2f,"
                "\"min_us\":%.2f,\"max_us\":%.2f,\"reps\":%zu,\"peak_rss_mib\":%.1f}\n",
                w.name, figure_name(m.figure), m.threads, extra.c_str(), median, min, max,
                t.size(), rss);
  std::fprintf(stderr, "  %s: median %.2f us, %zu reps, %lld calls timed, peak RSS %.1f MiB\n",
               name.c_str(), median, t.size(), static_cast<long long>(collector.iterations), rss);
  return line;
}

// ---------------------------------------------------------------- processes

// Forks a child that runs measure() and sends its line through a pipe.
// Returns the line, or nothing if the child failed (reported on stderr).
std::optional<std::string> measure_in_child(const Program& program, const Measurement& m) {
  const char* const who = program.name.c_str();
  int fds[2];
  if (pipe(fds) != 0) {
    std::fprintf(stderr, "%s: pipe: %s\n", who, std::strerror(errno));
    return std::nullopt;
  }
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = fork();
  if (pid < 0) {
    std::fprintf(stderr, "%s: fork: %s\n", who, std::strerror(errno));
    close(fds[0]);
    close(fds[1]);
    return std::nullopt;
  }
  if (pid == 0) {
    close(fds[0]);
    int status = 0;
    try {
      const std::string line = measure(program, m);
      status = write(fds[1], line.data(), line.size()) == static_cast<ssize_t>(line.size()) ? 0 : 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: %c %s threads=%d failed: %s\n", who, m.workload.name,
                   figure_name(m.figure), m.threads, e.what());
      status = 1;
    }
    close(fds[1]);
    std::fflush(stderr);
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
    std::fprintf(stderr, "%s: the child for %c %s threads=%d failed (%s %d)\n", who,
                 m.workload.name, figure_name(m.figure), m.threads,
                 WIFSIGNALED(status) ? "signal" : "exit status",
                 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    return std::nullopt;
  }
  return line;
}

// ---------------------------------------------------------------- flags

[[noreturn]] void usage(const Program& program, const char* argv0, const std::string& problem) {
  if (!problem.empty()) std::fprintf(stderr, "%s: %s\n", argv0, problem.c_str());
  const std::string figures =
      program.make_gemm_limit ? "inference|train_step|gemm_limit|inference_gemm_limit"
                              : "inference|train_step";
  const std::string own = program.flags_synopsis.empty() ? "" : " " + program.flags_synopsis;
  std::fprintf(stderr,
               "usage: %s [--workload N|S|M|L|X] [--figure %s] "
               "[--threads 1|2] [--budget SECONDS]\n"
               "       [--steps T]%s\n"
               "Prints one JSON line per (workload, figure, threads) on stdout; "
               "without flags runs them all.\n"
               "--budget is the minimum timed seconds per figure (default 0.7).\n"
               "--steps T replaces the workloads' timestep count (T-scaling).\n"
               "%s",
               argv0, figures.c_str(), own.c_str(), program.flags_help.c_str());
  std::exit(problem.empty() ? 0 : 2);
}

struct Selection {
  std::vector<Workload> workloads = kWorkloads;
  std::vector<Figure> figures;
  std::vector<int> threads = {1, 2};
  double budget = 0.7;
  std::size_t steps = 0;  // 0: the workload's own T
};

Selection parse_flags(const Program& program, int argc, char** argv) {
  Selection s;
  s.figures = {Figure::inference, Figure::train_step};
  if (program.make_gemm_limit) {
    s.figures.push_back(Figure::gemm_limit);
    s.figures.push_back(Figure::inference_gemm_limit);
  }
  const char* argv0 = argv[0];
  const auto fail = [&](const std::string& problem) { usage(program, argv0, problem); };
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i], value;
    if (flag == "-h" || flag == "--help") usage(program, argv0, "");
    const std::size_t eq = flag.find('=');
    if (eq != std::string::npos) {  // --flag=value
      value = flag.substr(eq + 1);
      flag.resize(eq);
    }
    const bool own = std::find(program.flags.begin(), program.flags.end(), flag) != program.flags.end();
    if (!own && flag != "--workload" && flag != "--figure" && flag != "--threads" &&
        flag != "--budget" && flag != "--steps")
      fail("unknown flag '" + flag + "'");
    if (eq == std::string::npos) {  // --flag value
      if (i + 1 >= argc) fail("missing value for " + flag);
      value = argv[++i];
    }

    if (own) {
      const std::string problem = program.set_flag(flag, value);
      if (!problem.empty()) fail(problem);
    } else if (flag == "--workload") {
      const auto it = std::find_if(kWorkloads.begin(), kWorkloads.end(), [&](const Workload& w) {
        return value.size() == 1 && value[0] == w.name;
      });
      if (it == kWorkloads.end()) fail("unknown workload '" + value + "'");
      s.workloads = {*it};
    } else if (flag == "--figure") {
      if (value == "inference") s.figures = {Figure::inference};
      else if (value == "train_step") s.figures = {Figure::train_step};
      else if (value == "gemm_limit" && program.make_gemm_limit) s.figures = {Figure::gemm_limit};
      else if (value == "inference_gemm_limit" && program.make_gemm_limit)
        s.figures = {Figure::inference_gemm_limit};
      else if (value == "gemm_limit" || value == "inference_gemm_limit")
        fail("figure " + value + " is not measured by " + program.name);
      else fail("unknown figure '" + value + "'");
    } else if (flag == "--threads") {
      if (value == "1") s.threads = {1};
      else if (value == "2") s.threads = {2};
      else fail("--threads must be 1 or 2, got '" + value + "'");
    } else if (flag == "--budget") {
      char* end = nullptr;
      errno = 0;
      const double budget = std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0' || errno != 0 || !std::isfinite(budget) || budget <= 0)
        fail("--budget must be a positive number of seconds, got '" + value + "'");
      s.budget = budget;
    } else if (flag == "--steps") {
      char* end = nullptr;
      const unsigned long long steps = std::strtoull(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || steps == 0 || steps > 1000000)
        fail("--steps must be a whole number from 1 to 1000000, got '" + value + "'");
      s.steps = static_cast<std::size_t>(steps);
    }
  }
  return s;
}

}  // namespace

int run(const Program& program, int argc, char** argv) {
  const Selection selection = parse_flags(program, argc, argv);

  // Google Benchmark reads only its defaults: none of our flags go to it.
  int benchmark_argc = 1;
  benchmark::Initialize(&benchmark_argc, argv);

  // Which OpenBLAS kernels run matters more than anything else for M and L:
  // an unrecognised CPU falls back to the generic "Prescott" kernels.
  std::fprintf(stderr, "%s: %s, core %s\n", program.name.c_str(), openblas_get_config(),
               openblas_get_corename());

  bool all_ok = true;
  for (Workload w : selection.workloads) {
    if (selection.steps > 0) w.steps = selection.steps;
    for (Figure figure : selection.figures) {
      for (int threads : selection.threads) {
        std::fprintf(stderr, "%s: %c (B=%zu T=%zu I=%zu H=%zu) %s threads=%d ...\n",
                     program.name.c_str(), w.name, w.batch, w.steps, w.features, w.units,
                     figure_name(figure), threads);
        const std::optional<std::string> line = measure_in_child(
            program, {w, figure, threads, selection.budget, selection.steps > 0});
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

}  // namespace bench
