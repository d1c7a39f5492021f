// torch_reference: the workloads of bench/README.md measured with libtorch
// (Debian's libtorch-dev, 1.13), the reference xgrad_bench's figures are
// compared with (bench/compare.sh runs both).
//
// Built only with the CMake option XGRAD_BENCH_LIBTORCH=ON; it does not link
// xgrad. It measures through the same harness as xgrad_bench (harness.hpp),
// takes the same flags (--layer among them) and prints the same JSON lines
// with one more field, "framework":"libtorch". Figures gemm_limit and
// inference_gemm_limit are xgrad_bench's alone: the default run leaves them
// out and --figure refuses them.
//
// The model, one layer of I features and H units, batch_first, float32,
// every other option torch's default: torch::nn::RNN (tanh) for simple_rnn,
// torch::nn::LSTM for lstm, torch::nn::GRU for gru (torch's GRU is Keras'
// reset_after form). Its parameters are weight_ih [G·H, I], weight_hh
// [G·H, H] and two biases b_ih and b_hh [G·H] (G gates: 1, 4, 3). Keras'
// SimpleRNN and LSTM have one bias where torch has two (the same function:
// their sum is the bias), one more [G·H] vector to update; Keras' GRU has
// both. torch's default initialisation is drawn over: all four are drawn
// U(-0.1, 0.1), as the workloads ask, and the input U(-1, 1), from torch's
// generator seeded with 0 (other numbers than xgrad's generator draws; the
// same distributions).
//
// Threads: at N threads, torch's intra-op OpenMP pool is set to 1 thread and
// OpenBLAS to N. Debian's libtorch does its matrix products through the
// system OpenBLAS (libblas.so.3 of the openblas-pthread alternative, a thin
// layer over libopenblas.so.0: check with ldd), so this is the setting of
// xgrad_bench too; with both pools at 2 threads on a 2-core machine the L
// train step ran 4x slower (bench/README.md, rules of measurement).

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>

#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "harness.hpp"

// OpenBLAS's own, not in any header libtorch installs.
extern "C" void openblas_set_num_threads(int num_threads);

namespace {

using bench::LayerKind;
using bench::Workload;

// ---------------------------------------------------------------- the layers

// A torch recurrent module and its forward pass's output sequence [B, T, H]
// (the first of what forward returns; LSTM's states are a pair, RNN's and
// GRU's one tensor).
struct Layer {
  std::shared_ptr<torch::nn::Module> module;
  std::function<torch::Tensor(const torch::Tensor&)> forward;
};

template <class Module, class Options>
Layer make_layer(const Workload& w) {
  Module module(Options(static_cast<int64_t>(w.features), static_cast<int64_t>(w.units)).batch_first(true));
  return {module.ptr(), [module](const torch::Tensor& x) mutable { return std::get<0>(module->forward(x)); }};
}

// Each layer kind: how to make its torch module (RNNOptions' default
// nonlinearity is tanh).
struct LayerRecipe {
  bench::Layer layer;
  Layer (*make)(const Workload&);
};

const LayerRecipe kLayerRecipes[] = {
    {bench::Layer::simple_rnn, &make_layer<torch::nn::RNN, torch::nn::RNNOptions>},
    {bench::Layer::lstm, &make_layer<torch::nn::LSTM, torch::nn::LSTMOptions>},
    {bench::Layer::gru, &make_layer<torch::nn::GRU, torch::nn::GRUOptions>},
};

Layer make_layer(const Workload& w, const LayerKind& kind) {
  for (const LayerRecipe& r : kLayerRecipes)
    if (r.layer == kind.layer) return r.make(w);
  throw std::logic_error(std::string("no torch module for layer ") + kind.name);
}

// ---------------------------------------------------------------- the model

class Model : public bench::Model {
 public:
  Model(const Workload& w, const LayerKind& kind)
      : layer(make_layer(w, kind)),
        optimizer(layer.module->parameters(), torch::optim::SGDOptions(bench::kLearningRate)) {
    // The constructor's own initialisation is drawn over: seeded from here.
    torch::manual_seed(bench::kSeed);
    {
      torch::NoGradGuard no_grad;
      for (torch::Tensor& p : layer.module->parameters()) p.uniform_(-0.1, 0.1);
    }
    input = torch::empty({static_cast<int64_t>(w.batch), static_cast<int64_t>(w.steps),
                          static_cast<int64_t>(w.features)})
                .uniform_(-1.0, 1.0);
  }

  void inference() override {
    torch::NoGradGuard no_grad;
    torch::Tensor y = layer.forward(input);
    benchmark::DoNotOptimize(y.data_ptr());
  }

  void train_step() override {
    torch::Tensor y = layer.forward(input);
    torch::Tensor loss = y.pow(2).mean();  // over B·T·H
    loss.backward();
    optimizer.step();  // plain SGD: no momentum, no weight decay
    optimizer.zero_grad();
    last_loss_ = loss.detach();
  }

  double last_loss() const override { return last_loss_.defined() ? last_loss_.item<double>() : 0.0; }

 private:
  Layer layer;
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
  program.make_model = [](const Workload& w, const LayerKind& kind) -> std::unique_ptr<bench::Model> {
    return std::make_unique<Model>(w, kind);
  };
  program.extra_fields = [](bench::Figure) -> std::string { return ",\"framework\":\"libtorch\""; };
  return bench::run(program, argc, argv);
}
