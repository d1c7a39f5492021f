// xgrad_bench: the speed and memory figures of the workloads of
// bench/README.md, for a SimpleRNN, LSTM or GRU layer (--layer).
//
// The measurement itself (one child process per figure, warm-up, Google
// Benchmark timing, median/min/max, peak RSS, the JSON line, the common
// flags) is the harness of harness.hpp, shared with torch_reference; this
// file supplies xgrad's model of each workload and its own figure and flags.
// The three layers share one Model and one GemmLimit: what differs between
// them is the row of kLayerRecipes (how to make the layer, its bias's rows)
// and the gate count G of the harness's kLayers (1, 4, 3).
//
// Figures: inference and train_step as bench/README.md defines them, and
// gemm_limit (run after train_step): the time of only the BLAS calls the
// fused layer's train step makes, through OpenBLAS alone
// (xgrad::gemm_openblas) on buffers allocated once outside the timing, B·T rows laid out [B, T, ·] as the fused
// sequence node (nn/src/recurrent_sequence.cpp) lays them out. With G the
// gates (SimpleRNN 1, LSTM 4, GRU 3) and W = G·H:
//   forward   [B·T, I]·[I, W], the input projection, then T−1 recurrent
//             products [B, H]·[H, W] (step 1 starts from the zero state and
//             needs none), each accumulating into its step's [B, W] slice;
//   backward  T−1 products [B, W]·[W, H] against R^T formed once (as a
//             plain product: OpenBLAS runs a small A·B^T slower), then
//             d kernel = X^T·dZ ([I, B·T]·[B·T, W]) and d recurrent kernel =
//             Hprev^T·dZ as one product ([H, B·T]·[B·T, W]). The input needs
//             no gradient, and the fused node computes none: no dX.
// For SimpleRNN (W = H) the gate buffer is the state buffer itself, as in the
// fused node. The backward recurrent products read one gradient buffer and
// accumulate into another, so that no value grows without bound over the
// repetitions (the products' cost does not depend on the values, bar
// denormals). The train step divided by this figure is what xgrad spends
// besides BLAS. inference_gemm_limit (run after it) is the forward half
// alone: the lower bound of the inference figure. gemm_limit_xsmm and
// inference_gemm_limit_xsmm: the same products as the fused node makes them,
// the per-step ones through an xgrad::GemmKernel made once (LIBXSMM for the
// small shapes), the others through xgrad::gemm.
//
// Every line names the OpenBLAS core and the small-matrix engine in use
// ("blas_core", "small_matrix_engine").
//
// --path (xgrad only) chooses how the forward pass is computed, see usage().

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include <xgrad/xgrad.hpp>
#ifdef XGRAD_BENCH_DISTRIBUTED
#include <mpi.h>

#include <xgrad/dist/dist.hpp>
#endif

#include "harness.hpp"

namespace {

namespace nn = xgrad::nn;
using bench::Figure;
using bench::LayerKind;
using bench::Workload;

// How the forward pass is computed: the layer's fused sequence node, the
// layer's op-by-op reference, or (SimpleRNN only) the per-step loop a user
// would write with matmul + add + tanh (the per-op overhead a user's own
// model pays), or that loop's arithmetic alone, with no graph (ManualFloor).
enum class Path { fused, composed, manual, manual_floor };
const char* path_name(Path p) {
  switch (p) {
    case Path::fused: return "fused";
    case Path::composed: return "composed";
    case Path::manual: return "manual";
    case Path::manual_floor: return "manual_floor";
  }
  return "";
}

// ---------------------------------------------------------------- the layers

using Layer = nn::RecurrentLayer<float>;

// Each layer kind: how to make it for H units (Keras' defaults but
// return_sequences) and the rows of its bias ([W], or GRU's reset_after
// [2, W]: input bias, then recurrent bias).
struct LayerRecipe {
  bench::Layer layer;
  std::size_t bias_rows;
  std::unique_ptr<Layer> (*make)(std::size_t units);
};

const LayerRecipe kLayerRecipes[] = {
    {bench::Layer::simple_rnn, 1,
     [](std::size_t h) -> std::unique_ptr<Layer> {
       return std::make_unique<nn::SimpleRNN<float>>(nn::SimpleRNNOptions(h).return_sequences(true));
     }},
    {bench::Layer::lstm, 1,
     [](std::size_t h) -> std::unique_ptr<Layer> {
       return std::make_unique<nn::LSTM<float>>(nn::LSTMOptions(h).return_sequences(true));
     }},
    {bench::Layer::gru, 2,
     [](std::size_t h) -> std::unique_ptr<Layer> {
       return std::make_unique<nn::GRU<float>>(nn::GRUOptions(h).return_sequences(true));
     }},
};

const LayerRecipe& recipe_of(const LayerKind& kind) {
  return *std::find_if(std::begin(kLayerRecipes), std::end(kLayerRecipes),
                       [&](const LayerRecipe& r) { return r.layer == kind.layer; });
}

// ---------------------------------------------------------------- the model

// One recurrent layer with seeded weights and input, drawn once (outside the
// timing).
class Model : public bench::Model {
 public:
  Model(const Workload& w, const LayerKind& kind, Path path)
      : layer(recipe_of(kind).make(w.units)), path(path) {
    const std::size_t width = kind.gates * w.units, bias_rows = recipe_of(kind).bias_rows;
    xgrad::manual_seed(bench::kSeed);
    // Drawn in the order W, U, b, x, before set_weights builds the layer.
    xgrad::Array<float> kernel = xgrad::uniform<float>({w.features, width}, -0.1f, 0.1f);
    xgrad::Array<float> recurrent = xgrad::uniform<float>({w.units, width}, -0.1f, 0.1f);
    xgrad::Array<float> bias =
        bias_rows == 1 ? xgrad::uniform<float>({width}, -0.1f, 0.1f)
                       : xgrad::uniform<float>({bias_rows, width}, -0.1f, 0.1f);
    input = xgrad::Variable<float>(
        xgrad::uniform<float>({w.batch, w.steps, w.features}, -1.0f, 1.0f));
    layer->set_weights({kernel, recurrent, bias});
    sgd = std::make_unique<nn::SGD<float>>(layer->parameters(),
                                           nn::SGDOptions().learning_rate(bench::kLearningRate));
  }

  xgrad::Variable<float> forward() {
    if (path == Path::fused) return (*layer)(input);
    if (path == Path::composed) return layer->forward_composed(input);
    // Path::manual, SimpleRNN only (check_layer refuses the others).
    const xgrad::Variable<float> kernel = layer->kernel(), recurrent = layer->recurrent_kernel(),
                                 bias = layer->bias();
    xgrad::Variable<float> h(xgrad::zeros<float>({input.shape()[0], kernel.shape()[1]}));
    std::vector<xgrad::Variable<float>> outputs;
    for (std::size_t t = 0; t < input.shape()[1]; ++t) {
      h = xgrad::tanh(xgrad::matmul(xgrad::select(input, 1, t), kernel) + xgrad::matmul(h, recurrent) + bias);
      outputs.push_back(h);
    }
    return xgrad::stack(outputs, 1);
  }

  void inference() override {
    xgrad::NoGradGuard no_grad;
    xgrad::Variable<float> y = forward();
    benchmark::DoNotOptimize(y.value().data());
  }

  void train_step() override {
    xgrad::Variable<float> y = forward();
    // square, as torch_reference's y.pow(2): one op for y², as a user writes it.
    xgrad::Variable<float> loss = xgrad::mean(xgrad::square(y));
    loss.backward();
    sgd->step();
    layer->zero_grad();
    last_loss_ = loss.value()();
  }

  double last_loss() const override { return last_loss_; }
  std::vector<xgrad::Variable<float>> parameters() const { return layer->parameters(); }
  const nn::Module<float>& module() const { return *layer; }

  // The update: plain SGD through the library's optimizer, as
  // torch_reference steps torch::optim::SGD (a loop of `p -= lr * grad`
  // over xtensor arrays evaluates each update into a temporary array first:
  // 0.18 us of workload N's 1.9). A DistributedOptimizer wraps it.
  nn::SGD<float>& optimizer() { return *sgd; }

 private:
  std::unique_ptr<Layer> layer;
  std::unique_ptr<nn::SGD<float>> sgd;
  Path path;
  xgrad::Variable<float> input;
  float last_loss_ = 0.0f;
};

// ---------------------------------------------------------------- manual_floor

// --path manual_floor: the arithmetic of Model's manual loop with no graph,
// the least any engine that runs it op by op (each op's result made when the
// op is called) must do. The kernels are those the ops call, on arrays
// allocated once, and every saving such an engine could make is made: x_t is
// read in place (a view, no select copy); each step's two products, sum and
// biased sum are made into one buffer each (the cached block a freed result
// leaves); the stacked output is copied once; backward, the stack's gradient
// slices are copied once into the states' gradients, tanh's gradient is
// written over the incoming one and shared by both sums and both products
// (no copy), the bias's gradient is summed per step, and each product's
// gradients are products of their own (d kernel, d recurrent kernel, d
// previous state, accumulating). The update is plain SGD. The manual loop's
// train step over this one is what its graph costs.
class ManualFloor : public bench::Model {
 public:
  explicit ManualFloor(const Workload& w)
      : b(w.batch), t(w.steps), i(w.features), h(w.units),
        product_in(b * h), product_state(b * h), sum(b * h), biased(b * h), zero_state(b * h, 0.0f),
        d_zero_state(b * h), d_kernel(i * h), d_recurrent(h * h), d_bias(h), d_bias_step(h),
        outputs(b * t * h), squares(b * t * h), d_outputs(b * t * h),
        states(t, std::vector<float>(b * h)), d_states(t, std::vector<float>(b * h)) {
    xgrad::manual_seed(bench::kSeed);  // drawn as Model draws them: W, U, b, x
    kernel = xgrad::uniform<float>({i, h}, -0.1f, 0.1f);
    recurrent = xgrad::uniform<float>({h, h}, -0.1f, 0.1f);
    bias = xgrad::uniform<float>({h}, -0.1f, 0.1f);
    x = xgrad::uniform<float>({b, t, i}, -1.0f, 1.0f);
  }

  void inference() override {
    forward();
    benchmark::DoNotOptimize(outputs.data());
  }

  void train_step() override {
    forward();
    const std::size_t n = outputs.size();
    last_loss_ = xgrad::square_into_summed(outputs.data(), squares.data(), n) / static_cast<float>(n);
    xgrad::doubled_product_into(1.0f / static_cast<float>(n), outputs.data(), d_outputs.data(), n);
    for (std::size_t s = 0; s < t; ++s) xgrad::copy_rows(d_outputs.data() + s * h, t * h, d_states[s].data(), h, b, h);
    std::fill(d_zero_state.begin(), d_zero_state.end(), 0.0f);
    for (std::size_t s = t; s-- > 0;) {
      float* d_sum = d_states[s].data();
      xgrad::tanh_backward(states[s].data(), d_sum, b * h);
      xgrad::sum_rows_into(d_sum, b, h, d_bias_step.data());
      xgrad::add_into(d_bias.data(), d_bias_step.data(), d_bias.data(), h);
      xgrad::gemm(true, false, i, h, b, 1.0f, x.data() + s * i, t * i, d_sum, h, 1.0f, d_kernel.data(), h);
      xgrad::gemm(true, false, h, h, b, 1.0f, previous_state(s), h, d_sum, h, 1.0f, d_recurrent.data(), h);
      float* d_previous = s ? d_states[s - 1].data() : d_zero_state.data();
      xgrad::gemm(false, true, b, h, h, 1.0f, d_sum, h, recurrent.data(), h, 1.0f, d_previous, h);
    }
    update(kernel.data(), d_kernel);
    update(recurrent.data(), d_recurrent);
    update(bias.data(), d_bias);
  }

  double last_loss() const override { return last_loss_; }

 private:
  const float* previous_state(std::size_t s) const { return s ? states[s - 1].data() : zero_state.data(); }

  void forward() {
    for (std::size_t s = 0; s < t; ++s) {
      xgrad::gemm(false, false, b, h, i, 1.0f, x.data() + s * i, t * i, kernel.data(), h, 0.0f,
                  product_in.data(), h);
      xgrad::gemm(false, false, b, h, h, 1.0f, previous_state(s), h, recurrent.data(), h, 0.0f,
                  product_state.data(), h);
      xgrad::add_into(product_in.data(), product_state.data(), sum.data(), b * h);
      xgrad::add_rows(sum.data(), h, bias.data(), 0, biased.data(), b, h);
      xgrad::tanh_into(biased.data(), states[s].data(), b * h);
    }
    for (std::size_t s = 0; s < t; ++s) xgrad::copy_rows(states[s].data(), h, outputs.data() + s * h, t * h, b, h);
  }

  // parameter -= learning rate · gradient, and the gradient zeroed.
  static void update(float* parameter, std::vector<float>& gradient) {
    for (std::size_t k = 0; k < gradient.size(); ++k) parameter[k] -= bench::kLearningRate * gradient[k];
    std::fill(gradient.begin(), gradient.end(), 0.0f);
  }

  std::size_t b, t, i, h;
  xgrad::Array<float> kernel, recurrent, bias, x;
  std::vector<float> product_in, product_state, sum, biased, zero_state, d_zero_state, d_kernel, d_recurrent,
      d_bias, d_bias_step, outputs, squares, d_outputs;
  std::vector<std::vector<float>> states, d_states;  // per step: h_t and its gradient
  float last_loss_ = 0.0f;
};

// ---------------------------------------------------------------- gemm_limit

// The BLAS calls of one fused train step and nothing else (header comment).
class GemmLimit {
 public:
  GemmLimit(const Workload& w, const LayerKind& kind, bool forward_only, bool small_matrix_engine)
      : forward_only(forward_only), engine(small_matrix_engine), b(w.batch), t(w.steps), i(w.features),
        h(w.units),
        width(kind.gates * w.units),
        states(xgrad::zeros<float>({b, t, h})),
        gates(width == h ? xgrad::Array<float>() : xgrad::zeros<float>({b, t, width})),
        grad_prev(xgrad::zeros<float>({b, t, h})),
        d_kernel(xgrad::zeros<float>({i, width})),
        d_recurrent(xgrad::zeros<float>({h, width})) {
    xgrad::manual_seed(bench::kSeed);
    kernel = xgrad::uniform<float>({i, width}, -0.1f, 0.1f);
    recurrent = xgrad::uniform<float>({h, width}, -0.1f, 0.1f);
    recurrent_t = xgrad::transposed(recurrent);
    x = xgrad::uniform<float>({b, t, i}, -1.0f, 1.0f);
    grad = xgrad::uniform<float>({b, t, width}, -1.0f, 1.0f);
    if (engine) {  // the per-step products' kernels, made once as the fused node makes them per call
      step_forward = xgrad::GemmKernel<float>(false, false, b, width, h, 1.0f, t * h, width, 1.0f, t * width);
      step_backward = xgrad::GemmKernel<float>(false, false, b, h, width, 1.0f, t * width, h, 1.0f, t * h);
    }
  }

  void operator()() {
    const std::size_t row = t * h;       // stride between batch rows of one step, [B, T, H]
    const std::size_t grow = t * width;  // the same in [B, T, W]
    float* y = states.data();
    float* z = width == h ? y : gates.data();  // SimpleRNN projects into the states
    const float* u = recurrent.data();
    product(false, b * t, width, i, x.data(), i, kernel.data(), width, 0.0f, z, width);
    for (std::size_t s = 1; s < t; ++s) {
      if (engine) step_forward(y + (s - 1) * h, u, z + s * width);
      else product(false, b, width, h, y + (s - 1) * h, row, u, width, 1.0f, z + s * width, grow);
    }
    if (forward_only) return;
    for (std::size_t s = t; s-- > 1;) {
      float* prev = grad_prev.data() + (s - 1) * h;
      if (engine) step_backward(grad.data() + s * width, recurrent_t.data(), prev);
      else product(false, b, h, width, grad.data() + s * width, grow, recurrent_t.data(), h, 1.0f, prev, row);
    }
    product(true, i, width, b * t, x.data(), i, grad.data(), width, 1.0f, d_kernel.data(), width);
    product(true, h, width, b * t, y, h, grad.data(), width, 1.0f, d_recurrent.data(), width);
  }

 private:
  // C = op(A)·B + beta·C through this limit's engine.
  void product(bool transpose_a, std::size_t m, std::size_t n, std::size_t k, const float* a,
               std::size_t lda, const float* bm, std::size_t ldb, float beta, float* c, std::size_t ldc) const {
    if (engine) xgrad::gemm(transpose_a, false, m, n, k, 1.0f, a, lda, bm, ldb, beta, c, ldc);
    else xgrad::gemm_openblas(transpose_a, false, m, n, k, 1.0f, a, lda, bm, ldb, beta, c, ldc);
  }

  bool forward_only, engine;
  xgrad::GemmKernel<float> step_forward, step_backward;
  std::size_t b, t, i, h, width;
  xgrad::Array<float> states, gates, grad_prev, d_kernel, d_recurrent;  // written
  xgrad::Array<float> kernel, recurrent, recurrent_t, x, grad;          // read
};

#ifdef XGRAD_BENCH_DISTRIBUTED
// --distributed: the fused train step with its gradients averaged over the
// MPI ranks (dist::DistributedOptimizer around plain SGD), every rank on the
// workload's batch (weak scaling). Every rank runs the same number of steps,
// chosen on rank 0 from the warm-up; rank 0's per-step times give the
// figures: median_us of a step, allreduce_us of its gradient averaging
// (packing, the bucket allreduces, unpacking, and any wait for a slower
// rank), samples_per_s = R · B / median step; then allreduce_alone_us, the
// averaging timed again after a barrier each time (the communication alone),
// and whether the weights ended bit-identical on every rank.
std::string measure_distributed(const Workload& w, const LayerKind& kind, double budget, Path path) {
  const std::size_t ranks = xgrad::dist::world_size();
  Model model(w, kind, path);
  xgrad::dist::DistributedOptimizer<float> distributed(model.optimizer());

  using Clock = std::chrono::steady_clock;
  const auto timed_step = [&model] {
    const auto t0 = Clock::now();
    model.train_step();
    return std::chrono::duration<double>(Clock::now() - t0).count();
  };
  double warm = 1e9;
  for (int i = 0; i < 3; ++i) warm = std::min(warm, timed_step());
  int steps = std::clamp(static_cast<int>(budget / warm), w.min_reps, 200);
  MPI_Bcast(&steps, 1, MPI_INT, 0, MPI_COMM_WORLD);
  MPI_Barrier(MPI_COMM_WORLD);
  std::vector<double> step_us, allreduce_us;
  for (int i = 0; i < steps; ++i) {
    step_us.push_back(timed_step() * 1e6);
    allreduce_us.push_back(distributed.statistics().seconds * 1e6);
  }
  if (!std::isfinite(model.last_loss())) throw std::runtime_error("the loss is not finite");
  // The averaging alone, each after a barrier: the communication without
  // the wait for a slower rank that allreduce_us includes.
  std::vector<double> alone_us;
  const std::vector<xgrad::Variable<float>> parameters = model.parameters();
  for (int i = 0; i < steps; ++i) {
    MPI_Barrier(MPI_COMM_WORLD);
    model.optimizer().gradient_hook()(parameters);
    alone_us.push_back(distributed.statistics().seconds * 1e6);
  }
  const double median_us = bench::median_of(step_us);
  const double median_allreduce_us = bench::median_of(allreduce_us);
  const auto& statistics = distributed.statistics();
  const bool identical = xgrad::dist::identical_on_every_rank(model.module());
  if (xgrad::dist::rank() != 0) return "";
  char figures[512];
  std::snprintf(figures, sizeof figures,
                ",\"ranks\":%zu,\"samples_per_s\":%.1f,\"median_us\":%.2f,\"allreduce_us\":%.2f,"
                "\"allreduce_fraction\":%.4f,\"allreduce_alone_us\":%.2f,\"gradient_bytes\":%zu,"
                "\"buckets\":%zu,\"steps_timed\":%d,\"weights_identical\":%s}\n",
                ranks, static_cast<double>(ranks * w.batch) / (median_us * 1e-6), median_us,
                median_allreduce_us, median_allreduce_us / median_us, bench::median_of(alone_us),
                statistics.elements * sizeof(float), statistics.buckets, steps,
                identical ? "true" : "false");
  return figures;
}
#endif

}  // namespace

int main(int argc, char** argv) {
  Path path = Path::fused;
  bench::Program program;
  program.name = "xgrad_bench";
  program.set_threads = [](int threads) { xgrad::set_num_threads(threads); };
  program.make_model = [&path](const Workload& w,
                               const LayerKind& kind) -> std::unique_ptr<bench::Model> {
    if (path == Path::manual_floor) return std::make_unique<ManualFloor>(w);
    return std::make_unique<Model>(w, kind, path);
  };
  program.make_gemm_limit = [](const Workload& w, const LayerKind& kind, bool forward_only,
                               bool small_matrix_engine) -> std::function<void()> {
    return [limit = std::make_shared<GemmLimit>(w, kind, forward_only, small_matrix_engine)] {
      (*limit)();
    };
  };
  program.make_baseline_model = [](const Workload& w,
                                   const LayerKind& kind) -> std::unique_ptr<bench::Model> {
    return std::make_unique<Model>(w, kind, Path::fused);
  };
  program.baseline_name = "fused";
  program.extra_fields = [&path](Figure figure) -> std::string {
    const std::string engines = ",\"blas_core\":\"" + xgrad::blas_core() + "\",\"small_matrix_engine\":\"" +
                                xgrad::small_matrix_engine() + "\"";
    if (path == Path::fused || bench::is_gemm_limit(figure)) return engines;
    return std::string(",\"path\":\"") + path_name(path) + "\"" + engines;
  };
  program.flags = {"--path"};
  program.set_flag = [&path](const std::string&, const std::string& value) -> std::string {
    if (value == "fused") path = Path::fused;
    else if (value == "composed") path = Path::composed;
    else if (value == "manual") path = Path::manual;
    else if (value == "manual_floor") path = Path::manual_floor;
    else return "unknown path '" + value + "'";
    return "";
  };
  program.check_layer = [&path](const LayerKind& kind) -> std::string {
    if ((path == Path::manual || path == Path::manual_floor) && kind.layer != bench::Layer::simple_rnn)
      return std::string("--path ") + path_name(path) + " is a SimpleRNN loop: not with --layer " + kind.name;
    return "";
  };
  program.flags_synopsis = "[--path fused|composed|manual|manual_floor]";
  program.flags_help =
      "--path: the layer's fused node (default), its op-by-op reference, or (simple_rnn\n"
      "only) a hand-written per-step loop of matmul + add + tanh; manual_floor: that\n"
      "loop's arithmetic alone, the same kernels on arrays made once, with no graph.\n"
      "--figure gemm_limit times only the BLAS calls of a fused train step (input\n"
      "projection, T-1 recurrent products forward and backward, d kernel, d recurrent\n"
      "kernel) through OpenBLAS alone on buffers allocated once: the train step's lower\n"
      "bound on this BLAS. --figure inference_gemm_limit: its forward products alone,\n"
      "the inference's. gemm_limit_xsmm, inference_gemm_limit_xsmm: the same products\n"
      "through xgrad's choice per product (LIBXSMM for the small ones).\n";
#ifdef XGRAD_BENCH_DISTRIBUTED
  // MPI for --distributed only: the other figures fork a child per
  // measurement, which an MPI process must not do.
  std::optional<xgrad::dist::Environment> mpi;
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--distributed") mpi.emplace(argc, argv);
  program.measure_distributed = [&path](const Workload& w, const LayerKind& kind, double budget) {
    return measure_distributed(w, kind, budget, path);
  };
#endif
  return bench::run(program, argc, argv);
}
