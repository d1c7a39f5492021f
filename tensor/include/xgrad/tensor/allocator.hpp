#pragma once
// The allocator of every Array and of the autograd's graph nodes. Freed
// blocks are kept and handed out again for the next allocation of the same
// size class: a training loop allocates the same shapes at every step.
// Without it glibc returned the large ones to the kernel at each step (its
// heap trimming), so that every step paid again for the page faults of
// touching fresh memory (measured at a third of a small RNN's train step),
// and the [B, U] arrays of an op-by-op RNN spent a fifth of its time in
// malloc and free.
//
// Blocks under 64 KiB (nodes, an op-by-op model's per-step arrays) go first
// to a cache of the freeing thread's own, at most 4 MiB per thread, behind a
// lock only another thread's release or count ever contends; blocks of 4 KiB
// and more that it cannot hold, to one cache shared by all threads (a
// mutex). An op-by-op graph frees hundreds of same-sized nodes and arrays at
// once: more than glibc's per-thread cache keeps (7 per size), whose slower
// bins then cost a tenth of an op-by-op train step, and a [32, 32] array
// through the shared cache cost 170 ns to make and free against 65 ns for a
// thread's own. One limit (set_cached_memory_limit) bounds all the caches
// together: each takes room from one process-wide budget before it keeps a
// block (a thread's cache sets room aside in steps of 128 KiB, and keeps at
// most two steps it does not fill; that room counts against the limit).

#include <cstddef>
#include <limits>
#include <memory>
#include <new>
#include <utility>

namespace xgrad {

// Its own namespace: a namespace of an array's template arguments takes part
// in argument-dependent lookup, and xtensor's unqualified calls (sum<T>(e),
// mean(e)) must not meet xgrad's ops of the same names.
namespace memory {

namespace detail {
// Blocks from this size are aligned for AVX-512 and may go to the shared
// cache; smaller ones have operator new's alignment and stay in a thread's.
inline constexpr std::size_t kSharedBlockMinBytes = std::size_t(4) << 10;
void* allocate_block(std::size_t bytes);
void deallocate_block(void* block, std::size_t bytes) noexcept;
}  // namespace detail

template <typename T>
class CachingAllocator {
 public:
  using value_type = T;

  CachingAllocator() noexcept = default;
  template <typename U>
  CachingAllocator(const CachingAllocator<U>&) noexcept {}

  T* allocate(std::size_t n) {
    if (n > std::numeric_limits<std::size_t>::max() / sizeof(T)) throw std::bad_array_new_length();
    // Small blocks have operator new's alignment; an over-aligned type
    // takes the standard allocator's path.
    if constexpr (alignof(T) > __STDCPP_DEFAULT_NEW_ALIGNMENT__) {
      if (n * sizeof(T) < detail::kSharedBlockMinBytes) return std::allocator<T>().allocate(n);
    }
    return static_cast<T*>(detail::allocate_block(n * sizeof(T)));
  }

  void deallocate(T* p, std::size_t n) noexcept {
    if constexpr (alignof(T) > __STDCPP_DEFAULT_NEW_ALIGNMENT__) {
      if (n * sizeof(T) < detail::kSharedBlockMinBytes) return std::allocator<T>().deallocate(p, n);
    }
    detail::deallocate_block(p, n * sizeof(T));
  }
};

template <typename T, typename U>
bool operator==(const CachingAllocator<T>&, const CachingAllocator<U>&) noexcept {
  return true;
}
template <typename T, typename U>
bool operator!=(const CachingAllocator<T>&, const CachingAllocator<U>&) noexcept {
  return false;
}

// n values, uninitialised, from the same caches: an op's scratch that is
// no Array. Making an Array computes its shape, strides and backstrides
// (about 300 instructions), a tenth of a small recurrent node's work when it
// needs four such buffers.
template <typename T>
class Buffer {
 public:
  Buffer() noexcept = default;
  explicit Buffer(std::size_t n) : data_(n ? CachingAllocator<T>().allocate(n) : nullptr), size_(n) {}
  Buffer(Buffer&& other) noexcept : data_(other.data_), size_(other.size_) {
    other.data_ = nullptr;
    other.size_ = 0;
  }
  Buffer& operator=(Buffer&& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
    return *this;
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() {
    if (data_) CachingAllocator<T>().deallocate(data_, size_);
  }

  T* data() const noexcept { return data_; }  // null when empty
  std::size_t size() const noexcept { return size_; }

 private:
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace memory

// Bytes of freed blocks all the caches of the process hold now: the shared
// cache and every live thread's own (a snapshot, taken under their locks).
std::size_t cached_memory_bytes();
// Gives every block of every cache back to the system: the shared cache's
// and those of every live thread, busy or waiting (each thread's cache goes
// on working, from empty). A thread's cache is also emptied when it ends.
void release_cached_memory();
// The most all the caches of the process may hold together (default
// 256 MiB); a thread's own holds at most 4 MiB of it. 0 turns caching off.
// Lowering it gives back blocks until the caches fit: the shared cache's
// first, the largest first, then the threads'.
void set_cached_memory_limit(std::size_t bytes);
std::size_t cached_memory_limit();

}  // namespace xgrad
