// torch_reference: the workloads of /work/shared/bench/WORKLOADS.md measured
// with libtorch (Debian's libtorch-dev, 1.13), the reference xgrad_bench's
// figures are compared with (bench/compare.sh runs both).
//
// Built only with the CMake option XGRAD_BENCH_LIBTORCH=ON; it does not link
// xgrad. It measures through the same harness as xgrad_bench (harness.hpp),
// takes the same flags and prints the same JSON lines with one more field,
// "framework":"libtorch". Figures gemm_limit and inference_gemm_limit are
// xgrad_bench's alone: the default run leaves them out and --figure refuses
// them.
//
// The model: torch::nn::RNN(I, H), tanh, batch_first, float32, one layer.
// Its parameters are weight_ih [H, I], weight_hh [H, H] and two biases b_ih
// and b_hh [H] where Keras's SimpleRNN has one: the same function (their sum
// is b), one more [H] vector to update. All four are drawn U(-0.1, 0.1) and the
// input U(-1, 1) from torch's generator seeded with 0 (other numbers than
// xgrad's generator draws; the same distributions).
//
// Threads: at N threads, torch's intra-op OpenMP pool is set to 1 thread and
// OpenBLAS to N. Debian's libtorch does its matrix products through the
// system OpenBLAS (libblas.so.3 of the openblas-pthread alternative, a thin
// layer over libopenblas.so.0: check with ldd), so this is the setting of
// xgrad_bench too; with both pools at 2 threads on a 2-core machine,
// WORKLOADS.md measured the L train step 4x slower.

#include <memory>
#include <string>
#include <tuple>

#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "harness.hpp"

// OpenBLAS's own, not in any header libtorch installs.
extern "C" void openblas_set_num_threads(int num_threads);

namespace {

using bench::Workload;

class Model : public bench::Model {
 public:
  explicit Model(const Workload& w)
      : rnn(torch::nn::RNNOptions(static_cast<int64_t>(w.features), static_cast<int64_t>(w.units))
                .nonlinearity(torch::kTanh)
                .batch_first(true)),
        optimizer(rnn->parameters(), torch::optim::SGDOptions(bench::kLearningRate)) {
    // The constructor's own initialisation is drawn over: seeded from here.
    torch::manual_seed(bench::kSeed);
    {
      torch::NoGradGuard no_grad;
      for (torch::Tensor& p : rnn->parameters()) p.uniform_(-0.1, 0.1);
    }
    input = torch::empty({static_cast<int64_t>(w.batch), static_cast<int64_t>(w.steps),
                          static_cast<int64_t>(w.features)})
                .uniform_(-1.0, 1.0);
  }

  void inference() override {
    torch::NoGradGuard no_grad;
    torch::Tensor y = std::get<0>(rnn->forward(input));
    benchmark::DoNotOptimize(y.data_ptr());
  }

  void train_step() override {
    torch::Tensor y = std::get<0>(rnn->forward(input));
    torch::Tensor loss = y.pow(2).mean();  // over B·T·H
    loss.backward();
    optimizer.step();  // plain SGD: no momentum, no weight decay
    optimizer.zero_grad();
    last_loss_ = loss.detach();
  }

  double last_loss() const override { return last_loss_.defined() ? last_loss_.item<double>() : 0.0; }

 private:
  torch::nn::RNN rnn;
  torch::optim::SGD optimizer;
  torch::Tensor input, last_loss_;
};

}  // namespace

int main(int argc, char** argv) {
  bench::Program program;
  program.name = "torch_reference";
  program.set_threads = [](int threads) {
    torch::set_num_threads(1);  // before OpenBLAS: torch leaves OpenBLAS's setting alone
    openblas_set_num_threads(threads);
  };
  program.make_model = [](const Workload& w) -> std::unique_ptr<bench::Model> {
    return std::make_unique<Model>(w);
  };
  program.extra_fields = [](bench::Figure) -> std::string { return ",\"framework\":\"libtorch\""; };
  return bench::run(program, argc, argv);
}
