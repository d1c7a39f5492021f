#pragma once
// The measurement harness shared by the benchmark programs (xgrad_bench and
// the libtorch reference torch_reference): the workloads and the layers of
// bench/README.md, one child process per measurement, the warm-up and Google
// Benchmark timing, and the JSON lines.
//
// A program describes itself in a Program: how to set its thread count, and
// how to build, for a workload and a layer (SimpleRNN, LSTM or GRU: --layer),
// a Model whose inference() and train_step() are the figures. The harness
// does the rest: bench::run(program, argc, argv) is the whole of the
// program's main().
//
// For every selected (workload, figure, threads) the harness forks a child
// process. The child sets the threads, builds the model (weights and input
// drawn once, outside the timing), warms up, times the figure with Google
// Benchmark, and writes one JSON line into a pipe; the parent prints that
// line on stdout. Running each measurement in its own process makes the
// child's peak resident set size (getrusage ru_maxrss) the peak of that
// measurement alone, and keeps thread settings and heap state from leaking
// between measurements. The parent itself must not start any thread pool
// (OpenMP's does not survive a fork): programs touch their framework only in
// the Program's functions, which run in the child.
//
// Timing: Google Benchmark runs the step in `reps` repetitions, each with a
// minimum time of budget / reps seconds (wall clock), so the timed total is at
// least the budget. A custom reporter collects the per-repetition times per
// call (µs); the line reports their median, min and max. `reps` comes from the
// warm-up estimate of one call: as many repetitions as fit in the budget, at
// least the spec's minimum (20 for N and S, 5 for M, L and X), at most 50.
//
// Ratios (--against limit|baseline): the figure and its comparison (its GEMM
// limit, or the program's baseline model's same figure) run in one child,
// interleaved: rounds of a few calls of one, then of the other. A slow phase
// of the shared machine then slows both alike, and the line reports the
// median of the per-round ratios beside each side's median time per call.
// Separate runs of the two figures had given ratios from 0.76 to 1.43 for
// the same code.
//
// Only JSON lines go to stdout; progress and errors go to stderr.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace bench {

struct Workload {
  char name;
  std::size_t batch, steps, features, units;  // B, T, I, H
  int min_reps;  // the spec's minimum number of repetitions
};

// bench/README.md: N, S, M, L, X.
extern const std::vector<Workload> kWorkloads;

// The recurrent layer of a workload (--layer, default simple_rnn). Every
// layer has the workload's shapes; H is its units, and its kernels have
// gates·H columns: kernel [I, G·H], recurrent kernel [H, G·H].
enum class Layer { simple_rnn, lstm, gru };
struct LayerKind {
  Layer layer;
  const char* name;   // the --layer value and the JSON field "layer"
  std::size_t gates;  // G: 1, 4, 3
};
// simple_rnn, lstm, gru, in that order.
extern const std::vector<LayerKind> kLayers;

// gemm_limit: only the BLAS calls of a train step, through OpenBLAS alone;
// inference_gemm_limit: only those of the forward pass. The _xsmm twins: the
// same calls through the program's own choice of engine per product
// (xgrad: LIBXSMM for the small ones). A program offers all four or none.
enum class Figure {
  inference,
  train_step,
  gemm_limit,
  inference_gemm_limit,
  gemm_limit_xsmm,
  inference_gemm_limit_xsmm
};
const char* figure_name(Figure figure);
bool is_gemm_limit(Figure figure);

// The median of the values (of two middle ones, their mean).
double median_of(std::vector<double> values);

// One program's model of one workload, built in the child before the timing.
class Model {
 public:
  virtual ~Model() = default;
  // Forward pass with gradient recording off.
  virtual void inference() = 0;
  // Forward, loss = mean of the squared outputs over B·T·H, backward, plain
  // SGD with learning rate kLearningRate, gradients zeroed.
  virtual void train_step() = 0;
  // The loss of the latest train_step(); the harness fails the measurement
  // when it is not finite.
  virtual double last_loss() const = 0;
};

constexpr std::uint64_t kSeed = 0;  // of the weights and the input
constexpr float kLearningRate = 1e-3f;

struct Program {
  std::string name;  // prefixes its messages on stderr
  // Called first in every child, with the measurement's thread count.
  std::function<void(int threads)> set_threads;
  std::function<std::unique_ptr<Model>(const Workload&, const LayerKind&)> make_model;
  // The step timed as figure gemm_limit (forward_only: inference_gemm_limit;
  // small_matrix_engine: their _xsmm twins); without it the program has none
  // of these figures, and --figure refuses them.
  std::function<std::function<void()>(const Workload&, const LayerKind&, bool forward_only,
                                      bool small_matrix_engine)>
      make_gemm_limit;
  // The model --against baseline compares with (xgrad_bench: the fused layer,
  // named "fused"); without it the program has no baseline.
  std::function<std::unique_ptr<Model>(const Workload&, const LayerKind&)> make_baseline_model;
  std::string baseline_name;
  // JSON fields of the program's own, each as ,"key":value; they follow
  // "layer" in the line of that figure.
  std::function<std::string(Figure)> extra_fields;
  // Flags of the program's own, each taking a value; set_flag(flag, value)
  // returns what is wrong with the value, or an empty string.
  std::vector<std::string> flags;
  std::function<std::string(const std::string& flag, const std::string& value)> set_flag;
  // Called once all flags are parsed: what is wrong with the program's own
  // flags for that layer (e.g. a path only SimpleRNN has), or an empty string.
  std::function<std::string(const LayerKind&)> check_layer;
  std::string flags_synopsis;  // usage()'s second line, e.g. "[--path fused|manual]"
  std::string flags_help;      // usage()'s closing lines, each ending in a newline
  // --distributed (only when set): data-parallel train steps over the MPI
  // ranks the program runs on. Each selected workload's train_step is then
  // measured in this process with one thread (an MPI process must not fork,
  // and every rank must run as many steps), by this function, which returns
  // the JSON line's figures (",\"ranks\":2,...}\n"), or an empty string on
  // a rank that prints nothing. The program initialises MPI itself.
  std::function<std::string(const Workload&, const LayerKind&, double budget)> measure_distributed;
};

// JSON lines: {"workload":"S","figure":"train_step","threads":1,"layer":"lstm",
// then the program's own fields, then the figures.
//
// Parses the flags, prints the OpenBLAS build and core on stderr, runs every
// selected measurement and returns main()'s exit status: 0 if all succeeded.
int run(const Program& program, int argc, char** argv);

}  // namespace bench
