#pragma once
// The allocator of every Array. Blocks of 4 KiB and more are kept in a cache
// when freed and handed out again for the next array of the same size class:
// a training loop allocates the same shapes at every step. Without it glibc
// returned the large ones to the kernel at each step (its heap trimming), so
// that every step paid again for the page faults of touching fresh memory
// (measured at a third of a small RNN's train step), and the [B, U] arrays of
// an op-by-op RNN spent a fifth of its time in malloc and free. Smaller
// blocks go to operator new as usual. The cache is bounded
// (set_cached_memory_limit) and thread-safe.

#include <cstddef>
#include <limits>
#include <memory>
#include <new>

namespace xgrad {

// Its own namespace: a namespace of an array's template arguments takes part
// in argument-dependent lookup, and xtensor's unqualified calls (sum<T>(e),
// mean(e)) must not meet xgrad's ops of the same names.
namespace memory {

namespace detail {
inline constexpr std::size_t kCachedBlockMinBytes = std::size_t(4) << 10;
void* allocate_large(std::size_t bytes);
void deallocate_large(void* block, std::size_t bytes) noexcept;
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
    if (n * sizeof(T) < detail::kCachedBlockMinBytes) return std::allocator<T>().allocate(n);
    return static_cast<T*>(detail::allocate_large(n * sizeof(T)));
  }

  void deallocate(T* p, std::size_t n) noexcept {
    if (n * sizeof(T) < detail::kCachedBlockMinBytes) return std::allocator<T>().deallocate(p, n);
    detail::deallocate_large(p, n * sizeof(T));
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

}  // namespace memory

// Bytes of freed blocks the cache holds now.
std::size_t cached_memory_bytes();
// Gives every cached block back to the system.
void release_cached_memory();
// The most the cache may hold (default 256 MiB); 0 turns caching off. Blocks
// beyond the limit are given back, the largest first.
void set_cached_memory_limit(std::size_t bytes);
std::size_t cached_memory_limit();

}  // namespace xgrad
