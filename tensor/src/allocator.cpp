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

using memory::detail::kSharedBlockMinBytes;

constexpr std::align_val_t kAlignment{64};  // a cache line, and AVX-512's width
constexpr std::size_t kPage = 4096;
constexpr std::size_t kTinyStep = 64;    // classes below 4 KiB
constexpr std::size_t kSmallStep = 512;  // classes from 4 KiB to 64 KiB
constexpr std::size_t kThreadCachedMaxBytes = 16 * kPage;  // 64 KiB, exclusive
constexpr std::size_t kThreadCacheMaxBytes = std::size_t(4) << 20;

// Size classes: steps of 64 bytes below 4 KiB, of 512 bytes up to 64 KiB,
// whole pages above, so that arrays of nearly equal sizes share blocks and at
// most 1/8 of a block from 4 KiB on is wasted. A request of 0 bytes takes
// the first class.
std::size_t block_size(std::size_t bytes) {
  const std::size_t step = bytes < kSharedBlockMinBytes    ? kTinyStep
                           : bytes < kThreadCachedMaxBytes ? kSmallStep
                                                           : kPage;
  return bytes == 0 ? kTinyStep : (bytes + step - 1) / step * step;
}

// Blocks from 4 KiB on are aligned for AVX-512; smaller ones (nodes, short
// arrays) have operator new's own alignment.
void* new_block(std::size_t size) {
  return size < kSharedBlockMinBytes ? ::operator new(size) : ::operator new(size, kAlignment);
}

void free_block(void* block, std::size_t size) noexcept {
  if (size < kSharedBlockMinBytes) ::operator delete(block, size);
  else ::operator delete(block, size, kAlignment);
}

// ------------------------------------------------ the cache shared by threads

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

void* take_shared(std::size_t size) {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  const auto found = c.free_blocks.find(size);
  if (found == c.free_blocks.end()) return nullptr;
  void* block = found->second.back();
  found->second.pop_back();
  if (found->second.empty()) c.free_blocks.erase(found);
  c.bytes -= size;
  XGRAD_UNPOISON(block, size);
  return block;
}

void give_shared(void* block, std::size_t size) noexcept {
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

// ------------------------------------------------- each thread's own cache

// Class of a block size under 64 KiB: 64 classes of 64-byte steps, then
// 120 of 512-byte steps.
constexpr std::size_t kTinyClasses = kSharedBlockMinBytes / kTinyStep;
constexpr std::size_t kThreadClasses =
    kTinyClasses + (kThreadCachedMaxBytes - kSharedBlockMinBytes) / kSmallStep;

std::size_t thread_class(std::size_t size) {
  return size < kSharedBlockMinBytes ? size / kTinyStep - 1
                                     : kTinyClasses + (size - kSharedBlockMinBytes) / kSmallStep;
}

std::size_t class_size(std::size_t c) {
  return c < kTinyClasses ? (c + 1) * kTinyStep
                          : kSharedBlockMinBytes + (c - kTinyClasses) * kSmallStep;
}

struct ThreadCache {
  std::array<std::vector<void*>, kThreadClasses> free_blocks;
  std::size_t bytes = 0;

  // Gives back blocks, the largest first, until at most `target` bytes stay.
  void shrink_to(std::size_t target) noexcept {
    for (std::size_t c = kThreadClasses; c-- > 0 && bytes > target;) {
      const std::size_t size = class_size(c);
      while (bytes > target && !free_blocks[c].empty()) {
        XGRAD_UNPOISON(free_blocks[c].back(), size);
        free_block(free_blocks[c].back(), size);
        free_blocks[c].pop_back();
        bytes -= size;
      }
    }
  }
  ~ThreadCache();
};

// Set once the thread's cache is destroyed (trivially destructible, so it
// can still be read then): blocks freed later, by the destructors of
// objects that outlive it, bypass it.
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

void* take_own(std::size_t size) {
  ThreadCache* t = thread_cache();
  if (!t) return nullptr;
  std::vector<void*>& blocks = t->free_blocks[thread_class(size)];
  if (blocks.empty()) return nullptr;
  void* block = blocks.back();
  blocks.pop_back();
  t->bytes -= size;
  XGRAD_UNPOISON(block, size);
  return block;
}

bool keep_own(void* block, std::size_t size) noexcept {
  ThreadCache* t = thread_cache();
  const std::size_t room =
      std::min(kThreadCacheMaxBytes, cache().limit.load(std::memory_order_relaxed));
  if (!t || t->bytes + size > room) return false;
  try {
    t->free_blocks[thread_class(size)].push_back(block);
  } catch (const std::bad_alloc&) {
    return false;
  }
  t->bytes += size;
  XGRAD_POISON(block, size);
  return true;
}

}  // namespace

namespace memory::detail {

// Under 64 KiB the thread's own cache first; from 4 KiB the shared one then.
void* allocate_block(std::size_t bytes) {
  const std::size_t size = block_size(bytes);
  void* block = size < kThreadCachedMaxBytes ? take_own(size) : nullptr;
  if (!block && size >= kSharedBlockMinBytes) block = take_shared(size);
  return block ? block : new_block(size);
}

void deallocate_block(void* block, std::size_t bytes) noexcept {
  const std::size_t size = block_size(bytes);
  if (size < kThreadCachedMaxBytes && keep_own(block, size)) return;
  if (size >= kSharedBlockMinBytes) return give_shared(block, size);
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
