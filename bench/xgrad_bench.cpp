// xgrad_bench: the speed and memory figures of /work/shared/bench/WORKLOADS.md.
//
// The measurement itself (one child process per figure, warm-up, Google
// Benchmark timing, median/min/max, peak RSS, the JSON line, the common
// flags) is the harness of harness.hpp, shared with torch_reference; this
// file supplies xgrad's model of each workload and its own figure and flags.
//
// Figures: inference and train_step as WORKLOADS.md defines them, and
// gemm_limit (run after train_step): the time of only the BLAS calls a fused
// train step of the workload cannot do without, through xgrad::gemm on
// buffers allocated once outside the timing, B·T rows laid out [B, T, ·] as
// the fused sequence node lays them out:
//   forward   [B·T, I]·[I, H], the input projection, then T−1 recurrent
//             products [B, H]·[H, H], each accumulating into its step's
//             [B, H] slice;
//   backward  T−1 products [B, H]·[H, H]^T (with R^T formed once, as a
//             plain product: OpenBLAS runs A·B^T slower), then d kernel = X^T·G
//             ([I, B·T]·[B·T, H]) and d recurrent = Hprev^T·G as one product
//             ([H, B·T]·[B·T, H]). The input needs no gradient: no dX.
// The backward recurrent products read one gradient buffer and accumulate
// into another, so that no value grows without bound over the repetitions
// (the products' cost does not depend on the values, bar denormals). The
// train step divided by this figure is what xgrad spends besides BLAS.
// inference_gemm_limit (run after it) is the forward half alone: the lower
// bound of the inference figure.
//
// --path (xgrad only) chooses how the forward pass is computed, see usage().

#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include <xgrad/xgrad.hpp>

#include "harness.hpp"

namespace {

namespace nn = xgrad::nn;
using bench::Figure;
using bench::Workload;

// How the forward pass is computed: the layer's fused sequence node, the
// layer's op-by-op reference, or the per-step loop a user would write with
// matmul + add + tanh (the per-op overhead a user's own model pays).
enum class Path { fused, composed, manual };
const char* path_name(Path p) {
  return p == Path::fused ? "fused" : p == Path::composed ? "composed" : "manual";
}

// ---------------------------------------------------------------- the model

// A SimpleRNN with seeded weights and input, drawn once (outside the timing).
class Model : public bench::Model {
 public:
  Model(const Workload& w, Path path)
      : rnn(nn::SimpleRNNOptions(w.units).return_sequences(true)), path(path) {
    xgrad::manual_seed(bench::kSeed);
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
    {
      xgrad::NoGradGuard no_grad;
      for (auto& p : rnn.parameters()) p.value() -= bench::kLearningRate * p.grad();
    }
    rnn.zero_grad();
    last_loss_ = loss.value()();
  }

  double last_loss() const override { return last_loss_; }

 private:
  nn::SimpleRNN<float> rnn;
  Path path;
  xgrad::Variable<float> input;
  float last_loss_ = 0.0f;
};

// ---------------------------------------------------------------- gemm_limit

// The BLAS calls of one fused train step and nothing else (header comment).
class GemmLimit {
 public:
  GemmLimit(const Workload& w, bool forward_only)
      : forward_only(forward_only), b(w.batch), t(w.steps), i(w.features), h(w.units),
        states(xgrad::zeros<float>({b, t, h})),
        grad_prev(xgrad::zeros<float>({b, t, h})),
        d_kernel(xgrad::zeros<float>({i, h})),
        d_recurrent(xgrad::zeros<float>({h, h})) {
    xgrad::manual_seed(bench::kSeed);
    kernel = xgrad::uniform<float>({i, h}, -0.1f, 0.1f);
    recurrent = xgrad::uniform<float>({h, h}, -0.1f, 0.1f);
    recurrent_t = xgrad::transposed(recurrent);
    x = xgrad::uniform<float>({b, t, i}, -1.0f, 1.0f);
    grad = xgrad::uniform<float>({b, t, h}, -1.0f, 1.0f);
  }

  void operator()() {
    const std::size_t row = t * h;  // stride between batch rows of one step
    float* y = states.data();
    const float* u = recurrent.data();
    xgrad::gemm(false, false, b * t, h, i, 1.0f, x.data(), i, kernel.data(), h, 0.0f, y, h);
    for (std::size_t s = 1; s < t; ++s)
      xgrad::gemm(false, false, b, h, h, 1.0f, y + (s - 1) * h, row, u, h, 1.0f, y + s * h, row);
    if (forward_only) return;
    for (std::size_t s = t; s-- > 1;)
      xgrad::gemm(false, false, b, h, h, 1.0f, grad.data() + s * h, row, recurrent_t.data(), h,
                  1.0f, grad_prev.data() + (s - 1) * h, row);
    xgrad::gemm(true, false, i, h, b * t, 1.0f, x.data(), i, grad.data(), h, 1.0f,
                d_kernel.data(), h);
    xgrad::gemm(true, false, h, h, b * t, 1.0f, y, h, grad.data(), h, 1.0f, d_recurrent.data(),
                h);
  }

 private:
  bool forward_only;
  std::size_t b, t, i, h;
  xgrad::Array<float> states, grad_prev, d_kernel, d_recurrent;  // written
  xgrad::Array<float> kernel, recurrent, recurrent_t, x, grad;   // read
};

}  // namespace

int main(int argc, char** argv) {
  Path path = Path::fused;
  bench::Program program;
  program.name = "xgrad_bench";
  program.set_threads = [](int threads) { xgrad::set_num_threads(threads); };
  program.make_model = [&path](const Workload& w) -> std::unique_ptr<bench::Model> {
    return std::make_unique<Model>(w, path);
  };
  program.make_gemm_limit = [](const Workload& w, bool forward_only) -> std::function<void()> {
    return [limit = std::make_shared<GemmLimit>(w, forward_only)] { (*limit)(); };
  };
  program.make_baseline_model = [](const Workload& w) -> std::unique_ptr<bench::Model> {
    return std::make_unique<Model>(w, Path::fused);
  };
  program.baseline_name = "fused";
  program.extra_fields = [&path](Figure figure) -> std::string {
    if (path == Path::fused || figure == Figure::gemm_limit ||
        figure == Figure::inference_gemm_limit)
      return "";
    return std::string(",\"path\":\"") + path_name(path) + "\"";
  };
  program.flags = {"--path"};
  program.set_flag = [&path](const std::string&, const std::string& value) -> std::string {
    if (value == "fused") path = Path::fused;
    else if (value == "composed") path = Path::composed;
    else if (value == "manual") path = Path::manual;
    else return "unknown path '" + value + "'";
    return "";
  };
  program.flags_synopsis = "[--path fused|composed|manual]";
  program.flags_help =
      "--path: the layer's fused node (default), its op-by-op reference, or a\n"
      "hand-written per-step loop of matmul + add + tanh.\n"
      "--figure gemm_limit times only the BLAS calls of a fused train step (input\n"
      "projection, T-1 recurrent products forward and backward, d kernel, d recurrent)\n"
      "on buffers allocated once: the train step's lower bound on this BLAS.\n"
      "--figure inference_gemm_limit: its forward products alone, the inference's.\n";
  return bench::run(program, argc, argv);
}
