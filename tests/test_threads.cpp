// Random generators and threads: every thread has its own xgrad::generator(),
// so threads never race on it, and two threads that each seed and train
// their own model (or run their own op-by-op loop, whose graphs keep state
// per thread) reproduce their solo runs bit for bit. Small and with one
// OpenBLAS thread, so that the ThreadSanitizer build runs it quickly and sees
// only xgrad's own threads.

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "xgrad/autograd/math_ops.hpp"
#include "xgrad/autograd/ops.hpp"
#include "xgrad/nn/data.hpp"
#include "xgrad/nn/dense.hpp"
#include "xgrad/nn/dropout.hpp"
#include "xgrad/nn/sequential.hpp"
#include "xgrad/nn/simple_rnn.hpp"
#include "xgrad/nn/trainer.hpp"
#include "xgrad/tensor/blas.hpp"
#include "xgrad/tensor/tensor.hpp"

namespace {

using xgrad::Array;
namespace nn = xgrad::nn;

constexpr int kRepeats = 10;

class ThreadsTest : public ::testing::Test {
 protected:
  void SetUp() override { xgrad::set_num_threads(1); }
};
using ThreadsRandom = ThreadsTest;
using ThreadsTraining = ThreadsTest;

// Runs f(0) and f(1) at the same time, one thread each (both start once
// both exist), and waits for both.
template <typename F>
void in_two_threads(F f) {
  std::atomic<int> ready{0};
  auto start = [&](int i) {
    ++ready;
    while (ready.load() < 2) std::this_thread::yield();
    f(i);
  };
  std::thread first(start, 0);
  std::thread second(start, 1);
  first.join();
  second.join();
}

bool same_bits(const std::vector<Array<float>>& a, const std::vector<Array<float>>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].shape() != b[i].shape() ||
        std::memcmp(a[i].data(), b[i].data(), a[i].size() * sizeof(float)) != 0)
      return false;
  }
  return true;
}

// Seeds the calling thread's generator, then draws 20,000 numbers in 2,000
// calls, yielding after each so that two threads interleave even on one core.
std::vector<Array<float>> seeded_draws(std::uint64_t seed) {
  xgrad::manual_seed(seed);
  std::vector<Array<float>> out;
  for (int i = 0; i < 2000; ++i) {
    out.push_back(xgrad::uniform<float>({10}, 0.f, 1.f));
    std::this_thread::yield();
  }
  return out;
}

TEST_F(ThreadsRandom, EachThreadDrawsFromItsOwnGenerator) {
  const std::vector<Array<float>> solo[2] = {seeded_draws(1), seeded_draws(2)};
  for (int repeat = 0; repeat < kRepeats; ++repeat) {
    std::vector<Array<float>> drawn[2];
    in_two_threads([&](int i) { drawn[i] = seeded_draws(static_cast<std::uint64_t>(i + 1)); });
    EXPECT_TRUE(same_bits(drawn[0], solo[0])) << "repeat " << repeat;
    EXPECT_TRUE(same_bits(drawn[1], solo[1])) << "repeat " << repeat;
  }
}

// A new thread's generator starts as the main thread's did (seed 0), and a
// seed in one thread does not reach another.
TEST_F(ThreadsRandom, ANewThreadStartsFromSeedZeroWhateverOthersDo) {
  xgrad::manual_seed(123);
  Array<float> in_thread;
  std::thread([&] { in_thread = xgrad::uniform<float>({4}, 0.f, 1.f); }).join();
  xgrad::Generator zero(0);
  xgrad::GeneratorGuard use(zero);
  EXPECT_EQ(in_thread, xgrad::uniform<float>({4}, 0.f, 1.f));
}

// A GeneratorGuard acts on its own thread only.
TEST_F(ThreadsRandom, AGuardActsOnItsOwnThreadOnly) {
  const std::vector<Array<float>> solo = seeded_draws(5);
  for (int repeat = 0; repeat < kRepeats; ++repeat) {
    std::vector<Array<float>> guarded, plain;
    in_two_threads([&](int i) {
      if (i == 0) {
        xgrad::Generator own(5);
        xgrad::GeneratorGuard use(own);
        for (int k = 0; k < 2000; ++k) guarded.push_back(xgrad::uniform<float>({10}, 0.f, 1.f));
      } else {
        plain = seeded_draws(5);
      }
    });
    EXPECT_TRUE(same_bits(guarded, solo)) << "repeat " << repeat;
    EXPECT_TRUE(same_bits(plain, solo)) << "repeat " << repeat;
  }
}

// Data, weights, shuffling and dropout masks all from the calling thread's
// generator seeded with `seed`; a second model's Dropout has its own seed.
std::vector<Array<float>> train_seeded_model(std::uint64_t seed) {
  xgrad::manual_seed(seed);
  const Array<float> x = xgrad::uniform<float>({48, 5, 2}, -1.f, 1.f);
  Array<float> y = xt::sum(x, {1, 2});
  y.reshape({48, 1});
  nn::Sequential<float> model;
  model.add(std::make_shared<nn::SimpleRNN<float>>(nn::SimpleRNNOptions(6).dropout(0.2)));
  model.add(std::make_shared<nn::Dropout<float>>(nn::DropoutOptions(0.3).seed(seed)));
  model.add(std::make_shared<nn::Dense<float>>(nn::DenseOptions(1)));
  model.build({-1, 5, 2});
  nn::Adam<float> optimizer(model.parameters(), nn::AdamOptions().learning_rate(1e-2));
  nn::Trainer<float> trainer(model, optimizer, "mse");
  trainer.fit(x, y, nn::FitOptions().epochs(2).batch_size(8).verbose(0));
  std::vector<Array<float>> weights;
  for (const auto& parameter : model.parameters()) weights.push_back(parameter.value());
  return weights;
}

// train(1) and train(2) alone, then kRepeats times at once in two threads:
// each thread's run gives its solo run's floats bit for bit.
void expect_two_threads_match_solo(std::vector<Array<float>> (*train)(std::uint64_t)) {
  const std::vector<Array<float>> solo[2] = {train(1), train(2)};
  ASSERT_FALSE(same_bits(solo[0], solo[1]));
  for (int repeat = 0; repeat < kRepeats; ++repeat) {
    std::vector<Array<float>> trained[2];
    in_two_threads([&](int i) { trained[i] = train(static_cast<std::uint64_t>(i + 1)); });
    EXPECT_TRUE(same_bits(trained[0], solo[0])) << "repeat " << repeat;
    EXPECT_TRUE(same_bits(trained[1], solo[1])) << "repeat " << repeat;
  }
}

TEST_F(ThreadsTraining, TwoThreadsTrainingTheirOwnSeededModelsMatchTheirSoloRuns) {
  expect_two_threads_match_solo(train_seeded_model);
}

// A user's per-step loop (matmul, add, tanh in taken storage; input lists
// kept per thread; the weights' transposes kept per backward pass), trained
// for a few steps with plain SGD: the gradients and weights of its seed.
std::vector<Array<float>> train_per_step_loop(std::uint64_t seed) {
  xgrad::manual_seed(seed);
  xgrad::Variable<float> w(xgrad::uniform<float>({4, 8}, -0.5f, 0.5f), true);
  xgrad::Variable<float> r(xgrad::uniform<float>({8, 8}, -0.5f, 0.5f), true);
  xgrad::Variable<float> b(xgrad::uniform<float>({8}, -0.5f, 0.5f), true);
  const xgrad::Variable<float> x(xgrad::uniform<float>({16, 6, 4}, -1.f, 1.f));
  std::vector<Array<float>> out;
  for (int step = 0; step < 20; ++step) {
    xgrad::Variable<float> h(xgrad::zeros<float>({16, 8}));
    std::vector<xgrad::Variable<float>> states;
    for (std::size_t t = 0; t < 6; ++t) {
      h = xgrad::tanh(xgrad::matmul(xgrad::select(x, 1, t), w) + xgrad::matmul(h, r) + b);
      states.push_back(h);
      std::this_thread::yield();
    }
    xgrad::mean(xgrad::square(xgrad::stack(states, 1))).backward();
    for (auto* p : {&w, &r, &b}) {
      out.push_back(p->grad());
      p->value() -= 0.1f * p->grad();
      p->zero_grad();
    }
  }
  return out;
}

TEST_F(ThreadsTraining, TwoThreadsRunningPerStepLoopsMatchTheirSoloRuns) {
  expect_two_threads_match_solo(train_per_step_loop);
}

// Per-model generators: weights drawn under a GeneratorGuard of the model's
// own, shuffling from the DataLoader's seed: the same orders and weights
// whatever the thread's own generator does in between.
TEST_F(ThreadsTraining, PerModelGeneratorsIgnoreTheThreadsGenerator) {
  auto run = [](std::uint64_t disturbance) {
    xgrad::manual_seed(disturbance);
    xgrad::Generator model_generator(42);
    nn::Dense<float> dense(nn::DenseOptions(3));
    {
      xgrad::GeneratorGuard use(model_generator);
      dense.build({-1, 4});
    }
    xgrad::uniform<float>({7}, 0.f, 1.f);  // the thread's generator moves on
    nn::DataLoader<float> loader(xgrad::zeros<float>({10, 1}), xgrad::zeros<float>({10, 1}),
                                 nn::DataLoaderOptions(4).seed(9));
    std::vector<std::size_t> orders;
    for (int epoch = 0; epoch < 3; ++epoch) {
      const auto order = loader.epoch().order();
      orders.insert(orders.end(), order.begin(), order.end());
      xgrad::uniform<float>({3}, 0.f, 1.f);
    }
    return std::make_pair(std::vector<Array<float>>{dense.kernel().value()}, orders);
  };
  const auto solo = run(1);
  for (int repeat = 0; repeat < kRepeats; ++repeat) {
    std::pair<std::vector<Array<float>>, std::vector<std::size_t>> results[2];
    in_two_threads([&](int i) { results[i] = run(static_cast<std::uint64_t>(100 + i)); });
    for (const auto& result : results) {
      EXPECT_TRUE(same_bits(result.first, solo.first)) << "repeat " << repeat;
      EXPECT_EQ(result.second, solo.second) << "repeat " << repeat;
    }
  }
}

}  // namespace
