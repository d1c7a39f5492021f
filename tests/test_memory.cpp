// The caching allocator behind every Array (tensor/allocator.hpp): freed
// blocks are reused for the next array of the same size (large ones by any
// thread, small ones by the thread that freed them), the caches stay within
// their limits, and the memory of a reused block is the array's
// own. Each test starts from an empty cache with the default limit.

#include <cstddef>
#include <cstdint>
#include <numeric>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "xgrad/tensor/allocator.hpp"
#include "xgrad/tensor/reductions.hpp"
#include "xgrad/tensor/tensor.hpp"
#include "test_helpers.hpp"

namespace {

using xgrad::Array;

constexpr std::size_t kMiB = std::size_t(1) << 20;
// 1 MiB of floats: far above the 64 KiB under which blocks stay in a
// thread's own cache.
constexpr std::size_t kLarge = kMiB / sizeof(float);

class MemoryCache : public xgrad::test::DefaultMemoryCacheTest {};

TEST_F(MemoryCache, DefaultLimitIs256MiB) { EXPECT_EQ(xgrad::cached_memory_limit(), 256 * kMiB); }

TEST_F(MemoryCache, AFreedLargeArrayIsReusedForTheSameSize) {
  const float* first = nullptr;
  {
    Array<float> a = Array<float>::from_shape({kLarge});
    first = a.data();
  }
  EXPECT_EQ(xgrad::cached_memory_bytes(), kMiB);
  Array<float> b = Array<float>::from_shape({kLarge / 2, 2});
  EXPECT_EQ(b.data(), first);
  EXPECT_EQ(xgrad::cached_memory_bytes(), 0u);
}

TEST_F(MemoryCache, SizesShareABlockWithinAPage) {
  const float* first = nullptr;
  {
    Array<float> a = Array<float>::from_shape({kLarge});
    first = a.data();
  }
  Array<float> b = Array<float>::from_shape({kLarge - 100});  // 400 bytes less
  EXPECT_EQ(b.data(), first);
}

TEST_F(MemoryCache, SmallArraysAreReusedByTheThreadThatFreedThem) {
  const float* first = nullptr;
  {
    Array<float> a = Array<float>::from_shape({1000});  // 4,000 bytes: the 4,032-byte class
    first = a.data();
  }
  EXPECT_EQ(xgrad::cached_memory_bytes(), 4032u);
  Array<float> b = Array<float>::from_shape({1001});  // 4,004 bytes: the same class
  EXPECT_EQ(b.data(), first);
  EXPECT_EQ(xgrad::cached_memory_bytes(), 0u);
}

TEST_F(MemoryCache, AnotherThreadKeepsItsOwnSmallBlocks) {
  const float* first = nullptr;
  {
    Array<float> a = Array<float>::from_shape({1000});
    first = a.data();
  }
  const float* other = nullptr;
  std::thread([&] {
    Array<float> b = Array<float>::from_shape({1000});
    other = b.data();
  }).join();  // b's block went back to the system with the thread's cache
  EXPECT_NE(other, first);  // first is still held by this thread's cache
  EXPECT_EQ(xgrad::cached_memory_bytes(), 4032u);
}

TEST_F(MemoryCache, ASmallArrayMadeOnOneThreadMayBeFreedOnAnother) {
  Array<float> made = Array<float>::from_shape({0});  // holds no block
  std::thread([&] { made = Array<float>(std::vector<std::size_t>{100}, 3.0f); }).join();
  EXPECT_EQ(made(99), 3.0f);
  made = Array<float>::from_shape({0});
  EXPECT_EQ(xgrad::cached_memory_bytes(), 448u);  // 400 bytes, now in this thread's cache
}

TEST_F(MemoryCache, AThreadCachesAtMost4MiBOfSmallBlocks) {
  { std::vector<Array<float>> many(2000, Array<float>::from_shape({1000})); }  // 8 MB
  EXPECT_LE(xgrad::cached_memory_bytes(), 4 * kMiB);
  EXPECT_GT(xgrad::cached_memory_bytes(), 4 * kMiB - 4032);
}

TEST_F(MemoryCache, BlocksFrom4KiBAThreadCannotHoldGoToTheSharedCache) {
  { std::vector<Array<float>> many(2000, Array<float>::from_shape({1000})); }  // fills this thread's
  const std::size_t held = xgrad::cached_memory_bytes();
  const float* first = nullptr;
  {
    Array<float> step = Array<float>::from_shape({32, 32});  // 4 KiB
    first = step.data();
  }
  EXPECT_EQ(xgrad::cached_memory_bytes(), held + 4096);
  const float* other = nullptr;
  std::thread([&] { other = Array<float>::from_shape({32, 32}).data(); }).join();
  EXPECT_EQ(other, first);  // another thread found it there
}

TEST_F(MemoryCache, StepSizedArraysAreCachedIn512ByteClasses) {
  // [B, U] = [32, 32] floats, an op-by-op RNN's per-step array: 4,096 bytes.
  const float* first = nullptr;
  {
    Array<float> a = Array<float>::from_shape({32, 32});
    first = a.data();
  }
  EXPECT_EQ(xgrad::cached_memory_bytes(), 4096u);
  Array<float> b = Array<float>::from_shape({1100});  // 4,400 bytes: the next class
  EXPECT_NE(b.data(), first);
  Array<float> c = Array<float>::from_shape({1024});
  EXPECT_EQ(c.data(), first);
}

TEST_F(MemoryCache, LargeBlocksAreAlignedForAVX512) {
  const xgrad::Shape shape{kLarge};
  Array<double> a = Array<double>::from_shape(shape);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(a.data()) % 64, 0u);
}

TEST_F(MemoryCache, AReusedBlockHoldsTheNewArraysValues) {
  { Array<float> a(std::vector<std::size_t>{kLarge}, 7.0f); }
  Array<float> b(std::vector<std::size_t>{kLarge}, 1.0f);
  EXPECT_EQ(xgrad::sum_of(b.data(), b.size()), static_cast<float>(kLarge));
}

TEST_F(MemoryCache, ReleaseGivesEveryBlockBack) {
  {
    Array<float> a = Array<float>::from_shape({kLarge}), b = Array<float>::from_shape({2 * kLarge});
    Array<float> small = Array<float>::from_shape({16});
  }
  EXPECT_EQ(xgrad::cached_memory_bytes(), 3 * kMiB + 64);
  xgrad::release_cached_memory();
  EXPECT_EQ(xgrad::cached_memory_bytes(), 0u);
}

TEST_F(MemoryCache, TheLimitGivesBackTheLargestBlocksFirst) {
  xgrad::set_cached_memory_limit(3 * kMiB);
  {
    Array<float> one = Array<float>::from_shape({kLarge});
    Array<float> two = Array<float>::from_shape({2 * kLarge});
    Array<float> half = Array<float>::from_shape({kLarge / 2});
  }
  // 3.5 MiB freed into a 3 MiB cache: the 2 MiB block went back.
  EXPECT_EQ(xgrad::cached_memory_bytes(), kMiB + kMiB / 2);
  xgrad::set_cached_memory_limit(kMiB);  // lowering the limit shrinks the cache
  EXPECT_EQ(xgrad::cached_memory_bytes(), kMiB / 2);
}

TEST_F(MemoryCache, ALimitOfZeroTurnsCachingOff) {
  xgrad::set_cached_memory_limit(0);
  { Array<float> a = Array<float>::from_shape({kLarge}), small = Array<float>::from_shape({16}); }
  EXPECT_EQ(xgrad::cached_memory_bytes(), 0u);
}

TEST_F(MemoryCache, CopiesAndMovesKeepTheirOwnMemory) {
  Array<float> a(std::vector<std::size_t>{kLarge}, 2.0f);
  Array<float> copy = a;
  EXPECT_NE(copy.data(), a.data());
  const float* storage = a.data();
  Array<float> moved = std::move(a);
  EXPECT_EQ(moved.data(), storage);
  copy(0) = 5.0f;
  EXPECT_EQ(moved(0), 2.0f);
}

#if defined(__SANITIZE_ADDRESS__)
// Under AddressSanitizer a cached block is poisoned: reading an array's
// memory after the array is gone is still reported.
TEST(MemoryCacheDeathTest, UseAfterFreeOfACachedBlockIsReported) {
  EXPECT_DEATH(
      {
        const float* dangling = nullptr;
        {
          Array<float> a(std::vector<std::size_t>{kLarge}, 1.0f);
          dangling = a.data();
        }
        volatile float read = dangling[10];
        (void)read;
      },
      "use-after-poison");
}

TEST(MemoryCacheDeathTest, UseAfterFreeOfACachedSmallBlockIsReported) {
  EXPECT_DEATH(
      {
        const float* dangling = nullptr;
        {
          Array<float> a(std::vector<std::size_t>{16}, 1.0f);
          dangling = a.data();
        }
        volatile float read = dangling[10];
        (void)read;
      },
      "use-after-poison");
}
#endif

}  // namespace
