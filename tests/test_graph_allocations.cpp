// An op-by-op training step, once warmed up, makes no heap allocation of
// its own: its arrays and graph nodes come from xgrad's caching allocator,
// its nodes' input lists from the lists freed nodes left (variable.hpp),
// backward()'s walk lists are kept per thread. A heap allocation per op
// cost a user's per-step loop a tenth of its time. This family counts
// operator new, so it is an executable of its own.

#include <atomic>
#include <cstdlib>
#include <new>

#include <gtest/gtest.h>

#include "xgrad/autograd/ops.hpp"
#include "xgrad/autograd/variable.hpp"
#include "xgrad/tensor/tensor.hpp"

// operator new calls on the thread that set counting.
static thread_local bool counting = false;
static thread_local std::size_t new_calls = 0;

// Not inlined, nor the deletes, or GCC's -Wmismatched-new-delete sees
// free() of new'd memory.
[[gnu::noinline]] void* operator new(std::size_t n) {
  if (counting) ++new_calls;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void* operator new[](std::size_t n) { return ::operator new(n); }
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace {

using xgrad::Variable;

// The operator new calls of f's third run on this thread, after two to warm up.
template <typename F>
std::size_t heap_allocations_once_warm(F&& f) {
  f();
  f();
  counting = true;
  new_calls = 0;
  f();
  counting = false;
  return new_calls;
}

TEST(GraphAllocations, AWarmedUpOpByOpTrainStepMakesNoHeapAllocation) {
  xgrad::manual_seed(3);
  Variable<float> w(xgrad::uniform<float>({8, 16}, -0.5f, 0.5f), true);
  Variable<float> r(xgrad::uniform<float>({16, 16}, -0.5f, 0.5f), true);
  const Variable<float> x(xgrad::uniform<float>({4, 8}, -1.0f, 1.0f));
  // Made here: a Shape ({4, 16}) is a std::vector of the test's own.
  const xgrad::Array<float> h0 = xgrad::zeros<float>({4, 16}), zero = xgrad::zeros<float>({});
  const auto step = [&] {
    Variable<float> h(h0);
    Variable<float> loss(zero);
    for (int t = 0; t < 5; ++t) {
      h = xgrad::tanh(xgrad::matmul(x, w) + xgrad::matmul(h, r));
      loss = loss + xgrad::mean(h);
    }
    loss.backward();
    w.zero_grad();
    r.zero_grad();
  };
  EXPECT_EQ(heap_allocations_once_warm(step), 0u);
}

// A graph recorded and dropped without backward() (an evaluation run
// without NoGradGuard) frees its nodes without a heap allocation either:
// a node whose inputs live on elsewhere (weights, the input) has no chain
// to unwind.
TEST(GraphAllocations, ARecordedResultDroppedWithoutBackwardFreesWithoutHeapAllocation) {
  xgrad::manual_seed(4);
  Variable<float> w(xgrad::uniform<float>({8, 16}, -0.5f, 0.5f), true);
  const Variable<float> x(xgrad::uniform<float>({4, 8}, -1.0f, 1.0f));
  const auto forward = [&] {
    for (int t = 0; t < 5; ++t) {
      Variable<float> y = xgrad::matmul(x, w);
      EXPECT_TRUE(y.requires_grad());
    }
  };
  EXPECT_EQ(heap_allocations_once_warm(forward), 0u);
}

}  // namespace
