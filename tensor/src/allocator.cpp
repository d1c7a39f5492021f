#include "xgrad/tensor/allocator.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <map>
#include <mutex>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
// A cached block is poisoned, so that AddressSanitizer still reports a use
// after free of an array whose memory sits in the cache.
#define XGRAD_POISON(block, bytes) ASAN_POISON_MEMORY_REGION(block, bytes)
#define XGRAD_UNPOISON(block, bytes) ASAN_UNPOISON_MEMORY_REGION(block, bytes)
#else
#define XGRAD_POISON(block, bytes) ((void)(block), (void)(bytes))
#define XGRAD_UNPOISON(block, bytes) ((void)(block), (void)(bytes))
#endif

namespace xgrad {

namespace {

constexpr std::align_val_t kAlignment{64};  // a cache line, and AVX-512's width
constexpr std::size_t kPage = 4096;
constexpr std::size_t kSmallStep = 512;

// Size classes: whole pages from 64 KiB, steps of 512 bytes below, so that
// arrays of nearly equal sizes share blocks and at most 1/8 of a block is
// wasted.
std::size_t block_size(std::size_t bytes) {
  const std::size_t step = bytes >= 16 * kPage ? kPage : kSmallStep;
  return (bytes + step - 1) / step * step;
}

void free_block(void* block, std::size_t size) noexcept {
  ::operator delete(block, size, kAlignment);
}

struct Cache {
  std::mutex mutex;
  std::map<std::size_t, std::vector<void*>> free_blocks;  // by block size
  std::size_t bytes = 0;
  // Written under the mutex; atomic so that the threads' own caches read it
  // without taking the lock.
  std::atomic<std::size_t> limit{std::size_t(256) << 20};

  // Gives back the largest blocks until the cache holds at most `target`
  // bytes. Called with the mutex held.
  void shrink_to(std::size_t target) noexcept {
    while (bytes > target && !free_blocks.empty()) {
      auto largest = std::prev(free_blocks.end());
      std::vector<void*>& blocks = largest->second;
      XGRAD_UNPOISON(blocks.back(), largest->first);
      free_block(blocks.back(), largest->first);
      blocks.pop_back();
      bytes -= largest->first;
      if (blocks.empty()) free_blocks.erase(largest);
    }
  }
};

// Never destroyed: arrays with static storage duration may be freed after
// main returns, and must still find the cache.
Cache& cache() {
  static Cache* instance = new Cache;
  return *instance;
}

// ------------------------------------------------- each thread's small blocks

constexpr std::size_t kSmallStepBytes = 64;
constexpr std::size_t kSmallClasses = memory::detail::kSharedBlockMinBytes / kSmallStepBytes;
constexpr std::size_t kThreadCacheMaxBytes = std::size_t(4) << 20;

// Class c holds blocks of (c + 1) · 64 bytes; a request of 0 bytes takes the
// first.
std::size_t small_class(std::size_t bytes) {
  return bytes == 0 ? 0 : (bytes - 1) / kSmallStepBytes;
}

struct ThreadCache {
  std::array<std::vector<void*>, kSmallClasses> free_blocks;
  std::size_t bytes = 0;

  void shrink_to(std::size_t target) noexcept {
    for (std::size_t c = kSmallClasses; c-- > 0 && bytes > target;) {
      const std::size_t size = (c + 1) * kSmallStepBytes;
      while (bytes > target && !free_blocks[c].empty()) {
        XGRAD_UNPOISON(free_blocks[c].back(), size);
        ::operator delete(free_blocks[c].back());
        free_blocks[c].pop_back();
        bytes -= size;
      }
    }
  }
  ~ThreadCache();
};

// Set once the thread's cache is destroyed (trivially destructible, so it
// can still be read then): blocks freed later, by the destructors of
// objects that outlive it, go straight back to the system.
thread_local bool thread_cache_gone = false;

ThreadCache::~ThreadCache() {
  shrink_to(0);
  thread_cache_gone = true;
}

ThreadCache* thread_cache() {
  if (thread_cache_gone) return nullptr;
  thread_local ThreadCache instance;
  return &instance;
}

}  // namespace

namespace memory::detail {

void* allocate_small(std::size_t bytes) {
  const std::size_t c = small_class(bytes);
  if (ThreadCache* t = thread_cache(); t && !t->free_blocks[c].empty()) {
    void* block = t->free_blocks[c].back();
    t->free_blocks[c].pop_back();
    t->bytes -= (c + 1) * kSmallStepBytes;
    XGRAD_UNPOISON(block, (c + 1) * kSmallStepBytes);
    return block;
  }
  return ::operator new((c + 1) * kSmallStepBytes);
}

void deallocate_small(void* block, std::size_t bytes) noexcept {
  const std::size_t c = small_class(bytes);
  const std::size_t size = (c + 1) * kSmallStepBytes;
  ThreadCache* t = thread_cache();
  const std::size_t room = std::min(kThreadCacheMaxBytes, cache().limit.load(std::memory_order_relaxed));
  if (t && t->bytes + size <= room) {
    try {
      t->free_blocks[c].push_back(block);
      t->bytes += size;
      XGRAD_POISON(block, size);
      return;
    } catch (const std::bad_alloc&) {
      // No room to remember the block: give it back instead.
    }
  }
  ::operator delete(block);
}

void* allocate_large(std::size_t bytes) {
  const std::size_t size = block_size(bytes);
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    const auto found = c.free_blocks.find(size);
    if (found != c.free_blocks.end()) {
      void* block = found->second.back();
      found->second.pop_back();
      if (found->second.empty()) c.free_blocks.erase(found);
      c.bytes -= size;
      XGRAD_UNPOISON(block, size);
      return block;
    }
  }
  return ::operator new(size, kAlignment);
}

void deallocate_large(void* block, std::size_t bytes) noexcept {
  const std::size_t size = block_size(bytes);
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    if (size <= c.limit.load()) {
      try {
        c.free_blocks[size].push_back(block);
        c.bytes += size;
        XGRAD_POISON(block, size);
        c.shrink_to(c.limit);
        return;
      } catch (const std::bad_alloc&) {
        // No room to remember the block: give it back instead.
      }
    }
  }
  free_block(block, size);
}

}  // namespace memory::detail

std::size_t cached_memory_bytes() {
  const ThreadCache* t = thread_cache();
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return c.bytes + (t ? t->bytes : 0);
}

void release_cached_memory() {
  if (ThreadCache* t = thread_cache()) t->shrink_to(0);
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.shrink_to(0);
}

void set_cached_memory_limit(std::size_t bytes) {
  if (ThreadCache* t = thread_cache()) t->shrink_to(bytes);
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.limit = bytes;
  c.shrink_to(bytes);
}

std::size_t cached_memory_limit() { return cache().limit.load(); }

}  // namespace xgrad
