#pragma once
// What the sources of xgrad::dist share about MPI (not installed).

#include <mpi.h>

#include <algorithm>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <string>

namespace xgrad::dist::detail {

// Throws std::logic_error naming `where` unless MPI is initialized and not
// finalized.
inline void require_mpi(const char* where) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (!initialized || finalized) {
    throw std::logic_error(std::string(where) +
                           ": MPI is not initialized; make an xgrad::dist::Environment first");
  }
}

template <typename T>
MPI_Datatype mpi_type();
template <>
inline MPI_Datatype mpi_type<float>() { return MPI_FLOAT; }
template <>
inline MPI_Datatype mpi_type<double>() { return MPI_DOUBLE; }
template <>
inline MPI_Datatype mpi_type<unsigned char>() { return MPI_UNSIGNED_CHAR; }
template <>
inline MPI_Datatype mpi_type<unsigned long long>() { return MPI_UNSIGNED_LONG_LONG; }

// MPI counts are ints: a call per this many elements at most.
constexpr std::size_t kMaxCount = std::size_t(1) << 30;

// MPI_Bcast of n elements from root, in calls of at most kMaxCount.
template <typename T>
void broadcast(T* data, std::size_t n, std::size_t root) {
  for (std::size_t first = 0; first < n; first += kMaxCount) {
    const int count = static_cast<int>(std::min(kMaxCount, n - first));
    MPI_Bcast(data + first, count, mpi_type<T>(), static_cast<int>(root), MPI_COMM_WORLD);
  }
}

// MPI_Allreduce in place of n elements with `op`, in calls of at most kMaxCount.
template <typename T>
void allreduce(T* data, std::size_t n, MPI_Op op) {
  for (std::size_t first = 0; first < n; first += kMaxCount) {
    const int count = static_cast<int>(std::min(kMaxCount, n - first));
    MPI_Allreduce(MPI_IN_PLACE, data + first, count, mpi_type<T>(), op, MPI_COMM_WORLD);
  }
}

}  // namespace xgrad::dist::detail
