// The caching allocator with many threads (tensor/allocator.hpp): its limit
// holds for the whole process, not per cache, and release_cached_memory()
// on one thread frees the caches of every other live thread (issue 11: 8 MiB
// limit, 12.6 MB cached; 32 worker threads kept 124 MB that a release on the
// main thread neither saw nor freed). The suites are named Threads* so that
// the ThreadSanitizer build of scripts/test.sh runs them too.

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
// The sanitizers' allocator replaces glibc's; both runtimes define this
// (GCC ships no header declaring it).
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();
#else
#include <malloc.h>
#endif

#include <gtest/gtest.h>

#include "xgrad/tensor/allocator.hpp"
#include "xgrad/tensor/tensor.hpp"
#include "test_helpers.hpp"

namespace {

using xgrad::Array;

constexpr std::size_t kMiB = std::size_t(1) << 20;
constexpr std::size_t kWorkers = 8;

// Bytes the heap has handed out and not had back: a block a cache frees
// leaves this count, one it only forgets does not.
std::size_t heap_bytes_in_use() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return __sanitizer_get_current_allocated_bytes();
#else
  const struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;  // small chunks, and mmapped large ones
#endif
}

// Blocks every worker thread can stop at until the main thread lets it go.
class Gate {
 public:
  void wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    ++waiting_;
    changed_.notify_all();
    changed_.wait(lock, [&] { return open_; });
  }
  void wait_for_all(std::size_t count) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return waiting_ == count; });
  }
  void open() {
    std::lock_guard<std::mutex> lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::size_t waiting_ = 0;
  bool open_ = false;
};

// Makes and frees arrays of `floats` elements: `count` alive at once, so
// that their blocks pile up in the caches when they go. Each holds its
// thread's mark, checked before it goes: a block released under a live
// array would be overwritten or reported by the sanitizers.
void churn(std::size_t floats, std::size_t count, float mark) {
  std::vector<Array<float>> alive;
  for (std::size_t i = 0; i < count; ++i) alive.emplace_back(std::vector<std::size_t>{floats}, mark);
  for (const auto& a : alive) {
    ASSERT_EQ(a(0), mark);
    ASSERT_EQ(a(floats - 1), mark);
  }
}

class ThreadsMemoryCache : public xgrad::test::DefaultMemoryCacheTest {
 protected:
  // kWorkers threads each run `work`, then wait at the gate until
  // `while_waiting` (on this thread) is done, then run `after` and end.
  void run_workers(const std::function<void(std::size_t)>& work,
                   const std::function<void()>& while_waiting,
                   const std::function<void(std::size_t)>& after = [](std::size_t) {}) {
    Gate gate;
    std::vector<std::thread> workers;
    for (std::size_t w = 0; w < kWorkers; ++w) {
      workers.emplace_back([&, w] {
        work(w);
        gate.wait();
        after(w);
      });
    }
    gate.wait_for_all(kWorkers);
    while_waiting();
    gate.open();
    for (auto& worker : workers) worker.join();
  }
};

TEST_F(ThreadsMemoryCache, CachedBytesNeverExceedTheLimitProcessWide) {
  const std::size_t limit = 8 * kMiB;
  xgrad::set_cached_memory_limit(limit);
  std::atomic<std::size_t> most_seen{0};
  const auto watch = [&] {
    const std::size_t now = xgrad::cached_memory_bytes();
    std::size_t seen = most_seen.load();
    while (now > seen && !most_seen.compare_exchange_weak(seen, now)) {
    }
  };
  run_workers(
      [&](std::size_t w) {
        // Small blocks for the thread's own cache (up to 4 MiB each: 32 MiB
        // over 8 threads) and large ones for the shared cache.
        for (int round = 0; round < 3; ++round) {
          churn(1000 + 100 * w, 300, static_cast<float>(w));  // ~4-7 KB each
          watch();
          churn(64 * 1024 + 1024 * w, 6, static_cast<float>(w));  // ~260 KB each
          watch();
        }
      },
      [&] {
        watch();
        // Every worker's cache is full and alive now, and the limit is
        // still what they hold together.
        EXPECT_GT(xgrad::cached_memory_bytes(), limit / 2);
      });
  watch();
  EXPECT_LE(most_seen.load(), limit);
}

TEST_F(ThreadsMemoryCache, ReleaseOnTheMainThreadFreesEveryWorkersCache) {
  run_workers(
      [](std::size_t w) { churn(1000, 500, static_cast<float>(w)); },  // ~2 MB of 4,032-byte blocks each
      [] {
        const std::size_t cached = xgrad::cached_memory_bytes();
        // Each worker's own cache, seen from here: 500 blocks of 4,032 bytes.
        EXPECT_GE(cached, kWorkers * 500 * 4032);
        const std::size_t heap_before = heap_bytes_in_use();
        xgrad::release_cached_memory();
        EXPECT_EQ(xgrad::cached_memory_bytes(), 0u);
        // Given back to the heap, not just forgotten (a little slack for
        // the allocator's own bookkeeping).
        EXPECT_GE(heap_before - heap_bytes_in_use(), cached - cached / 16);
      },
      // A released cache goes on working.
      [](std::size_t w) {
        churn(1000, 10, static_cast<float>(w));
        churn(1000, 10, static_cast<float>(w));
      });
}

TEST_F(ThreadsMemoryCache, LoweringTheLimitShrinksEveryWorkersCache) {
  run_workers([](std::size_t w) { churn(1000, 500, static_cast<float>(w)); },
              [] {
                EXPECT_GT(xgrad::cached_memory_bytes(), 4 * kMiB);
                xgrad::set_cached_memory_limit(kMiB);
                EXPECT_LE(xgrad::cached_memory_bytes(), kMiB);
              });
}

TEST_F(ThreadsMemoryCache, ReleaseAndCountWhileWorkersAllocate) {
  // Releases, counts and limit changes from this thread race with the
  // workers' own use of their caches: no block may be freed under a live
  // array (the marks, the sanitizers), and the limit holds throughout. The
  // workers go on until this thread has made its 50 rounds.
  constexpr std::size_t kRounds = 50;
  std::atomic<std::size_t> rounds{0}, finished{0};
  std::vector<std::thread> workers;
  for (std::size_t w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      for (int own = 0; own < 5 || rounds.load() < kRounds; ++own) {
        churn(500 + 50 * w, 40, static_cast<float>(w));
        churn(20000, 4, static_cast<float>(w));
      }
      ++finished;
    });
  }
  while (finished.load() < kWorkers) {
    const std::size_t round = rounds.load();
    const std::size_t limit = (round % 2 ? 1 : 4) * kMiB;
    xgrad::set_cached_memory_limit(limit);
    EXPECT_LE(xgrad::cached_memory_bytes(), limit);
    if (round % 3 == 0) xgrad::release_cached_memory();
    ++rounds;
  }
  for (auto& worker : workers) worker.join();
  EXPECT_GE(rounds.load(), kRounds);
}

}  // namespace
