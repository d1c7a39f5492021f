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

const std::vector<LayerKind> kLayers = {
    {Layer::simple_rnn, "simple_rnn", 1},
    {Layer::lstm, "lstm", 4},
    {Layer::gru, "gru", 3},
};

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

const char* figure_name(Figure f) {
  switch (f) {
    case Figure::inference: return "inference";
    case Figure::train_step: return "train_step";
    case Figure::gemm_limit: return "gemm_limit";
    case Figure::inference_gemm_limit: return "inference_gemm_limit";
    case Figure::gemm_limit_xsmm: return "gemm_limit_xsmm";
    case Figure::inference_gemm_limit_xsmm: return "inference_gemm_limit_xsmm";
  }
  return "";
}

bool is_gemm_limit(Figure f) {
  return f == Figure::gemm_limit || f == Figure::inference_gemm_limit || f == Figure::gemm_limit_xsmm ||
         f == Figure::inference_gemm_limit_xsmm;
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

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // KiB on Linux
}

// What --against compares a figure with: nothing, its GEMM limit (through
// OpenBLAS alone, or the program's engine per product), or the baseline
// model's same figure.
enum class Against { none, limit, limit_xsmm, baseline };

// What one measurement is: the workload (with --steps applied), the figure
// and the thread count, and the run's settings.
struct Measurement {
  Workload workload;
  LayerKind layer;
  Figure figure;
  int threads;
  double budget;
  bool steps_overridden;
  Against against;
};

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The fastest of at least two calls, and of a tenth of the budget: the
// warm-up, and the estimate of one call's seconds.
double warm_up(const std::function<void()>& step, double budget) {
  const auto warm_start = Clock::now();
  double call_seconds = 1e9;
  for (int calls = 0; calls < 2 || seconds_since(warm_start) < 0.1 * budget; ++calls) {
    const auto t0 = Clock::now();
    step();
    call_seconds = std::min(call_seconds, seconds_since(t0));
  }
  return call_seconds;
}

// The step of `figure` on `model`, which must outlive it.
std::function<void()> step_of(Model& model, Figure figure) {
  if (figure == Figure::inference) return [&model] { model.inference(); };
  return [&model] { model.train_step(); };
}

// The JSON fields every line ends with.
std::string head_fields(const Measurement& m, const std::string& extra) {
  return std::string("{\"workload\":\"") + m.workload.name + "\",\"figure\":\"" +
         figure_name(m.figure) + "\",\"threads\":" + std::to_string(m.threads) +
         ",\"layer\":\"" + m.layer.name + "\"" + extra;
}

// --against: rounds of `calls` calls of `step`, then as many of `other`,
// each round's time per call kept; the ratio of each round's pair.
std::string measure_against(const Measurement& m, const std::string& extra,
                            const std::function<void()>& step, const std::function<void()>& other,
                            const std::string& other_name, const Model* model) {
  const double pair_seconds = warm_up(step, m.budget) + warm_up(other, m.budget);
  constexpr int kMaxRounds = 200;
  const int rounds = std::clamp(static_cast<int>(m.budget / std::max(pair_seconds, 1e-9)),
                                m.workload.min_reps, kMaxRounds);
  const int calls = std::max(1, static_cast<int>(m.budget / (rounds * pair_seconds)));
  std::vector<double> step_us, other_us, ratios;
  const auto per_call_us = [calls](const std::function<void()>& f) {
    const auto t0 = Clock::now();
    for (int c = 0; c < calls; ++c) f();
    return seconds_since(t0) * 1e6 / calls;
  };
  for (int r = 0; r < rounds; ++r) {
    step_us.push_back(per_call_us(step));
    other_us.push_back(per_call_us(other));
    ratios.push_back(step_us.back() / other_us.back());
  }
  if (m.figure == Figure::train_step && model && !std::isfinite(model->last_loss()))
    throw std::runtime_error("the loss is not finite");
  const double ratio = median_of(ratios), rss = peak_rss_mib();
  char tail[400];
  std::snprintf(tail, sizeof tail,
                ",\"against\":\"%s\",\"median_us\":%.2f,\"against_median_us\":%.2f,"
                "\"median_ratio\":%.3f,\"min_ratio\":%.3f,\"max_ratio\":%.3f,\"rounds\":%d,"
                "\"calls_per_round\":%d,\"peak_rss_mib\":%.1f}\n",
                other_name.c_str(), median_of(step_us), median_of(other_us), ratio,
                *std::min_element(ratios.begin(), ratios.end()),
                *std::max_element(ratios.begin(), ratios.end()), rounds, calls, rss);
  std::fprintf(stderr, "  %c/%s/%s/threads:%d against %s: median ratio %.3f over %d rounds\n",
               m.workload.name, m.layer.name, figure_name(m.figure), m.threads,
               other_name.c_str(), ratio, rounds);
  return head_fields(m, extra) + tail;
}

// Runs in the child: measures one figure and returns its JSON line.
std::string measure(const Program& program, const Measurement& m) {
  const Workload& w = m.workload;
  program.set_threads(m.threads);
  // Fields beyond the spec's: the program's own, and "steps" when --steps
  // changed the workload.
  std::string extra = program.extra_fields ? program.extra_fields(m.figure) : std::string();
  if (m.steps_overridden) extra += ",\"steps\":" + std::to_string(w.steps);

  std::unique_ptr<Model> model;
  std::function<void()> step;
  if (is_gemm_limit(m.figure)) {
    const bool forward_only =
        m.figure == Figure::inference_gemm_limit || m.figure == Figure::inference_gemm_limit_xsmm;
    const bool engine = m.figure == Figure::gemm_limit_xsmm || m.figure == Figure::inference_gemm_limit_xsmm;
    step = program.make_gemm_limit(w, m.layer, forward_only, engine);
  } else {
    model = program.make_model(w, m.layer);
    step = step_of(*model, m.figure);
  }
  if (m.against == Against::limit || m.against == Against::limit_xsmm) {
    const bool forward_only = m.figure == Figure::inference;
    const bool engine = m.against == Against::limit_xsmm;
    const Figure limit = forward_only ? (engine ? Figure::inference_gemm_limit_xsmm : Figure::inference_gemm_limit)
                                      : (engine ? Figure::gemm_limit_xsmm : Figure::gemm_limit);
    return measure_against(m, extra, step, program.make_gemm_limit(w, m.layer, forward_only, engine),
                           figure_name(limit), model.get());
  }
  if (m.against == Against::baseline) {
    const std::unique_ptr<Model> baseline = program.make_baseline_model(w, m.layer);
    return measure_against(m, extra, step, step_of(*baseline, m.figure), program.baseline_name,
                           model.get());
  }

  const double call_seconds = warm_up(step, m.budget);
  const int reps = std::clamp(static_cast<int>(m.budget / std::max(call_seconds, 1e-9)),
                              w.min_reps, std::max(kMaxReps, w.min_reps));

  const std::string name = std::string(1, w.name) + "/" + m.layer.name + "/" +
                           figure_name(m.figure) + "/threads:" + std::to_string(m.threads);
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

  char tail[320];
  std::snprintf(tail, sizeof tail,
                ",\"median_us\":%.2f,\"min_us\":%.2f,\"max_us\":%.2f,\"reps\":%zu,"
                "\"peak_rss_mib\":%.1f}\n",
                median, min, max, t.size(), rss);
  std::fprintf(stderr, "  %s: median %.2f us, %zu reps, %lld calls timed, peak RSS %.1f MiB\n",
               name.c_str(), median, t.size(), static_cast<long long>(collector.iterations), rss);
  return head_fields(m, extra) + tail;
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
      std::fprintf(stderr, "%s: %c %s %s threads=%d failed: %s\n", who, m.workload.name,
                   m.layer.name, figure_name(m.figure), m.threads, e.what());
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
    std::fprintf(stderr, "%s: the child for %c %s %s threads=%d failed (%s %d)\n", who,
                 m.workload.name, m.layer.name, figure_name(m.figure), m.threads,
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
      program.make_gemm_limit
          ? "inference|train_step|gemm_limit|inference_gemm_limit|gemm_limit_xsmm|inference_gemm_limit_xsmm"
          : "inference|train_step";
  const std::string own = program.flags_synopsis.empty() ? "" : " " + program.flags_synopsis;
  std::fprintf(stderr,
               "usage: %s [--workload N|S|M|L|X] [--figure %s] "
               "[--threads 1|2] [--budget SECONDS]\n"
               "       [--steps T] [--against limit|limit_xsmm|baseline] [--layer simple_rnn|lstm|gru]\n"
               "       [--distributed]%s\n"
               "Prints one JSON line per (workload, figure, threads) on stdout; "
               "without flags runs them all.\n"
               "--layer is the recurrent layer of every workload (default simple_rnn).\n"
               "--budget is the minimum timed seconds per figure (default 0.7).\n"
               "--steps T replaces the workloads' timestep count (T-scaling).\n"
               "--distributed (under mpirun): the train step data-parallel over the ranks,\n"
               "each with the workload's batch and one thread (weak scaling).\n"
               "--against limit|limit_xsmm|baseline times the inference or train step\n"
               "interleaved with its GEMM limit (through OpenBLAS alone, or with the small\n"
               "products through LIBXSMM), or with the program's baseline model, and reports\n"
               "the median of the per-round ratios.\n"
               "%s",
               argv0, figures.c_str(), own.c_str(), program.flags_help.c_str());
  std::exit(problem.empty() ? 0 : 2);
}

struct Selection {
  std::vector<Workload> workloads = kWorkloads;
  LayerKind layer = kLayers[0];
  std::vector<Figure> figures;
  std::vector<int> threads = {1, 2};
  double budget = 0.7;
  std::size_t steps = 0;  // 0: the workload's own T
  Against against = Against::none;
  bool figure_given = false;
  bool distributed = false;
};

Selection parse_flags(const Program& program, int argc, char** argv) {
  Selection s;
  s.figures = {Figure::inference, Figure::train_step};
  if (program.make_gemm_limit) {
    s.figures.push_back(Figure::gemm_limit);
    s.figures.push_back(Figure::inference_gemm_limit);
    s.figures.push_back(Figure::gemm_limit_xsmm);
    s.figures.push_back(Figure::inference_gemm_limit_xsmm);
  }
  const char* argv0 = argv[0];
  const auto fail = [&](const std::string& problem) { usage(program, argv0, problem); };
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i], value;
    if (flag == "-h" || flag == "--help") usage(program, argv0, "");
    if (flag == "--distributed") {
      if (!program.measure_distributed) fail(program.name + " was built without --distributed (MPI)");
      s.distributed = true;
      continue;
    }
    const std::size_t eq = flag.find('=');
    if (eq != std::string::npos) {  // --flag=value
      value = flag.substr(eq + 1);
      flag.resize(eq);
    }
    const bool own = std::find(program.flags.begin(), program.flags.end(), flag) != program.flags.end();
    if (!own && flag != "--workload" && flag != "--figure" && flag != "--threads" &&
        flag != "--budget" && flag != "--steps" && flag != "--against" && flag != "--layer")
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
    } else if (flag == "--layer") {
      const auto it = std::find_if(kLayers.begin(), kLayers.end(),
                                   [&](const LayerKind& k) { return value == k.name; });
      if (it == kLayers.end()) fail("unknown layer '" + value + "' (simple_rnn, lstm or gru)");
      s.layer = *it;
    } else if (flag == "--figure") {
      s.figure_given = true;
      if (value == "inference") s.figures = {Figure::inference};
      else if (value == "train_step") s.figures = {Figure::train_step};
      else {
        bool known = false;
        for (Figure f : {Figure::gemm_limit, Figure::inference_gemm_limit, Figure::gemm_limit_xsmm,
                         Figure::inference_gemm_limit_xsmm}) {
          if (value != figure_name(f)) continue;
          if (!program.make_gemm_limit) fail("figure " + value + " is not measured by " + program.name);
          s.figures = {f};
          known = true;
        }
        if (!known) fail("unknown figure '" + value + "'");
      }
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
    } else if (flag == "--against") {
      if (value == "limit" && program.make_gemm_limit) s.against = Against::limit;
      else if (value == "limit_xsmm" && program.make_gemm_limit) s.against = Against::limit_xsmm;
      else if (value == "baseline" && program.make_baseline_model) s.against = Against::baseline;
      else if (value == "limit" || value == "limit_xsmm" || value == "baseline")
        fail("--against " + value + ": " + program.name + " has no " + value);
      else fail("--against must be limit, limit_xsmm or baseline, got '" + value + "'");
    }
  }
  if (s.against != Against::none) {
    if (s.figure_given && is_gemm_limit(s.figures[0]))
      fail(std::string("--against compares inference or train_step, not ") + figure_name(s.figures[0]));
    s.figures.erase(std::remove_if(s.figures.begin(), s.figures.end(), is_gemm_limit), s.figures.end());
  }
  if (program.check_layer) {
    const std::string problem = program.check_layer(s.layer);
    if (!problem.empty()) fail(problem);
  }
  if (s.distributed) {
    if (s.figures != std::vector<Figure>{Figure::train_step} || s.against != Against::none)
      fail("--distributed measures --figure train_step alone, without --against");
    if (s.threads == std::vector<int>{2}) fail("--distributed runs one thread per rank, not --threads 2");
    s.threads = {1};
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
  if (selection.distributed) {
    for (Workload w : selection.workloads) {
      if (selection.steps > 0) w.steps = selection.steps;
      const Measurement m{w, selection.layer, Figure::train_step, 1, selection.budget,
                          selection.steps > 0, Against::none};
      std::string extra = program.extra_fields ? program.extra_fields(m.figure) : std::string();
      if (m.steps_overridden) extra += ",\"steps\":" + std::to_string(w.steps);
      program.set_threads(1);
      const std::string figures = program.measure_distributed(w, selection.layer, selection.budget);
      if (!figures.empty()) {
        std::fputs((head_fields(m, extra) + figures).c_str(), stdout);
        std::fflush(stdout);
      }
    }
    return 0;
  }
  for (Workload w : selection.workloads) {
    if (selection.steps > 0) w.steps = selection.steps;
    for (Figure figure : selection.figures) {
      for (int threads : selection.threads) {
        std::fprintf(stderr, "%s: %c (B=%zu T=%zu I=%zu H=%zu) %s %s threads=%d ...\n",
                     program.name.c_str(), w.name, w.batch, w.steps, w.features, w.units,
                     selection.layer.name, figure_name(figure), threads);
        const std::optional<std::string> line =
            measure_in_child(program, {w, selection.layer, figure, threads, selection.budget,
                                       selection.steps > 0, selection.against});
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
