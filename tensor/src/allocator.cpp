#include "xgrad/tensor/allocator.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <map>
#include <mutex>
#include <thread>
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

// -------------------------------------------- the budget of every cache

// The limit holds for the process: the shared cache and every thread's own
// take room from one budget before they keep a block, so that all the
// blocks they hold together never exceed it.
std::atomic<std::size_t> limit{std::size_t(256) << 20};
std::atomic<std::size_t> reserved{0};  // room the caches hold, <= limit

bool reserve(std::size_t bytes) noexcept {
  std::size_t current = reserved.load(std::memory_order_relaxed);
  do {
    const std::size_t cap = limit.load(std::memory_order_relaxed);
    if (bytes > cap || current > cap - bytes) return false;
  } while (!reserved.compare_exchange_weak(current, current + bytes, std::memory_order_relaxed));
  return true;
}

void unreserve(std::size_t bytes) noexcept { reserved.fetch_sub(bytes, std::memory_order_relaxed); }

// ------------------------------------------------ the cache shared by threads

struct Cache {
  std::mutex mutex;
  std::map<std::size_t, std::vector<void*>> free_blocks;  // by block size
  std::size_t bytes = 0;  // all of it reserved

  // Gives back the largest blocks until the cache holds at most `target`
  // bytes, or until the budget's room is at most the limit (`until_fits`).
  // Called with the mutex held.
  void shrink_to(std::size_t target, bool until_fits = false) noexcept {
    while (bytes > target && !free_blocks.empty()) {
      if (until_fits && reserved.load(std::memory_order_relaxed) <= limit.load(std::memory_order_relaxed)) return;
      auto largest = std::prev(free_blocks.end());
      std::vector<void*>& blocks = largest->second;
      XGRAD_UNPOISON(blocks.back(), largest->first);
      free_block(blocks.back(), largest->first);
      blocks.pop_back();
      bytes -= largest->first;
      unreserve(largest->first);
      if (blocks.empty()) free_blocks.erase(largest);
    }
  }

  // Room for one more block of `size`, made by giving back larger blocks
  // when the budget is short: the largest go first, this one included.
  // Called with the mutex held.
  bool make_room(std::size_t size) noexcept {
    if (reserve(size)) return true;
    const std::size_t cap = limit.load(std::memory_order_relaxed);
    if (size > cap) return false;
    // Give back nothing unless enough larger blocks are here: the room may
    // be held by threads' caches.
    const std::size_t now = reserved.load(std::memory_order_relaxed);
    if (now <= cap - size) return reserve(size);  // freed meanwhile by another cache
    const std::size_t short_by = now + size - cap;
    std::size_t larger = 0;
    for (auto it = free_blocks.rbegin(); it != free_blocks.rend() && it->first > size && larger < short_by; ++it)
      larger += it->first * it->second.size();
    if (larger < short_by) return false;
    while (!free_blocks.empty() && std::prev(free_blocks.end())->first > size) {
      shrink_to(bytes - std::prev(free_blocks.end())->first);
      if (reserve(size)) return true;
    }
    return false;
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
  unreserve(size);
  XGRAD_UNPOISON(block, size);
  return block;
}

void give_shared(void* block, std::size_t size) noexcept {
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    if (c.make_room(size)) {
      try {
        c.free_blocks[size].push_back(block);
        c.bytes += size;
        XGRAD_POISON(block, size);
        return;
      } catch (const std::bad_alloc&) {
        unreserve(size);  // no room to remember the block: give it back instead
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
// A thread's cache takes room from the budget in steps of this much, and
// gives back what it holds beyond its blocks plus one step once that exceeds
// two: a train step's frees and allocations then touch the shared budget
// once every few dozen blocks, not at each.
constexpr std::size_t kRoomStep = std::size_t(128) << 10;

std::size_t thread_class(std::size_t size) {
  return size < kSharedBlockMinBytes ? size / kTinyStep - 1
                                     : kTinyClasses + (size - kSharedBlockMinBytes) / kSmallStep;
}

std::size_t class_size(std::size_t c) {
  return c < kTinyClasses ? (c + 1) * kTinyStep
                          : kSharedBlockMinBytes + (c - kTinyClasses) * kSmallStep;
}

// The owning thread takes it around every use of its cache; another thread
// only to release, shrink or count the cache, so it is almost never
// contended (an uncontended std::mutex costs more on this path).
class SpinLock {
 public:
  void lock() noexcept {
    while (locked_.exchange(true, std::memory_order_acquire))
      while (locked_.load(std::memory_order_relaxed)) std::this_thread::yield();
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

struct ThreadCache {
  SpinLock lock;
  std::array<std::vector<void*>, kThreadClasses> free_blocks;
  std::size_t bytes = 0;  // held in free_blocks
  std::size_t room = 0;   // reserved from the budget, >= bytes

  ThreadCache();
  ~ThreadCache();

  // Gives back blocks, the largest first, until at most `target` bytes stay
  // (or, with `until_fits`, until the budget's room is within the limit),
  // then the room beyond them. Called with the lock held.
  void shrink_to(std::size_t target, bool until_fits = false) noexcept {
    for (std::size_t c = kThreadClasses; c-- > 0 && bytes > target;) {
      const std::size_t size = class_size(c);
      while (bytes > target && !free_blocks[c].empty()) {
        if (until_fits && reserved.load(std::memory_order_relaxed) <= limit.load(std::memory_order_relaxed)) break;
        XGRAD_UNPOISON(free_blocks[c].back(), size);
        free_block(free_blocks[c].back(), size);
        free_blocks[c].pop_back();
        bytes -= size;
        unreserve(size);
        room -= size;
      }
    }
    give_back_room(0);
  }

  // Keeps at most `spare` bytes of room beyond the blocks held.
  void give_back_room(std::size_t spare) noexcept {
    if (room - bytes <= spare) return;
    unreserve(room - bytes - spare);
    room = bytes + spare;
  }
};

// Every live thread's cache, so that one thread can release, shrink or count
// them all. The registry's mutex is taken before any cache's lock.
struct Registry {
  std::mutex mutex;
  std::vector<ThreadCache*> caches;
};

Registry& registry() {
  static Registry* instance = new Registry;  // never destroyed, as cache()
  return *instance;
}

ThreadCache::ThreadCache() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.caches.push_back(this);
}

// Set once the thread's cache is destroyed (trivially destructible, so it
// can still be read then): blocks freed later, by the destructors of
// objects that outlive it, bypass it.
thread_local bool thread_cache_gone = false;
// The live cache, or null: a trivially initialised pointer is one load, while
// every use of the dynamically initialised `instance` below goes through a
// call that checks its initialisation.
thread_local ThreadCache* live_thread_cache = nullptr;

ThreadCache::~ThreadCache() {
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    r.caches.erase(std::find(r.caches.begin(), r.caches.end(), this));
  }
  shrink_to(0);  // no other thread can reach it any more
  thread_cache_gone = true;
  live_thread_cache = nullptr;
}

ThreadCache* thread_cache() {
  if (live_thread_cache) return live_thread_cache;
  if (thread_cache_gone) return nullptr;
  thread_local ThreadCache instance;
  live_thread_cache = &instance;
  return live_thread_cache;
}

void* take_own(std::size_t size) {
  ThreadCache* t = thread_cache();
  if (!t) return nullptr;
  std::lock_guard<SpinLock> lock(t->lock);
  std::vector<void*>& blocks = t->free_blocks[thread_class(size)];
  if (blocks.empty()) return nullptr;
  void* block = blocks.back();
  blocks.pop_back();
  t->bytes -= size;
  if (t->room - t->bytes > 2 * kRoomStep) t->give_back_room(kRoomStep);
  XGRAD_UNPOISON(block, size);
  return block;
}

bool keep_own(void* block, std::size_t size) noexcept {
  ThreadCache* t = thread_cache();
  if (!t) return false;
  std::lock_guard<SpinLock> lock(t->lock);
  const std::size_t cap = std::min(kThreadCacheMaxBytes, limit.load(std::memory_order_relaxed));
  if (t->bytes + size > cap) return false;
  if (t->bytes + size > t->room) {
    // A step of room if the budget has it, else just what this block needs.
    const std::size_t needed = t->bytes + size - t->room;
    const std::size_t step = std::min(std::max(needed, kRoomStep), cap - t->room);
    if (reserve(step)) t->room += step;
    else if (step > needed && reserve(needed)) t->room += needed;
    else return false;
  }
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
  // Every lock at once: a snapshot, in which no block is counted twice or
  // missed while it moves between caches.
  Registry& r = registry();
  std::lock_guard<std::mutex> registry_lock(r.mutex);
  Cache& c = cache();
  std::lock_guard<std::mutex> shared_lock(c.mutex);
  for (ThreadCache* t : r.caches) t->lock.lock();
  std::size_t bytes = c.bytes;
  for (ThreadCache* t : r.caches) {
    bytes += t->bytes;
    t->lock.unlock();
  }
  return bytes;
}

void release_cached_memory() {
  Registry& r = registry();
  std::lock_guard<std::mutex> registry_lock(r.mutex);
  for (ThreadCache* t : r.caches) {
    std::lock_guard<SpinLock> lock(t->lock);
    t->shrink_to(0);
  }
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.shrink_to(0);
}

void set_cached_memory_limit(std::size_t bytes) {
  limit.store(bytes);  // from now on no cache takes room beyond it
  const auto fits = [bytes] { return reserved.load(std::memory_order_relaxed) <= bytes; };
  Registry& r = registry();
  std::lock_guard<std::mutex> registry_lock(r.mutex);
  // What was set aside and holds nothing first, then the shared cache's
  // blocks (the largest first), then the threads' (the same).
  for (ThreadCache* t : r.caches) {
    if (fits()) return;
    std::lock_guard<SpinLock> lock(t->lock);
    t->give_back_room(0);
  }
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    c.shrink_to(0, /*until_fits=*/true);
  }
  for (ThreadCache* t : r.caches) {
    if (fits()) return;
    std::lock_guard<SpinLock> lock(t->lock);
    t->shrink_to(0, /*until_fits=*/true);
  }
}

std::size_t cached_memory_limit() { return limit.load(); }

}  // namespace xgrad
