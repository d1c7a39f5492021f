#pragma once
// NumPy .npy / .npz file I/O. Files are untrusted: every header is validated
// before anything is allocated, so a truncated or hostile file throws IoError
// instead of crashing or returning garbage. Saves are atomic.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "xgrad/tensor/file_io.hpp"
#include "xgrad/tensor/shape.hpp"
#include "xgrad/tensor/tensor.hpp"

namespace xgrad {

// An array as a .npy file holds it, tagged with its dtype so one .npz can mix
// float weights, integer tokens and boolean masks.
struct NpyArray {
  std::string dtype;  // "float32", "float64", "int32", "int64" or "bool"
  Shape shape;
  std::vector<char> data;  // row-major, little-endian; product(shape) * itemsize bytes

  // Copies into an xarray. T is float, double, std::int32_t, std::int64_t or
  // bool; throws std::invalid_argument naming both dtypes if T does not match.
  template <typename T>
  Array<T> as() const;

  template <typename T>
  static NpyArray from(const Array<T>& a);
};

NpyArray read_npy(const std::string& path);
void write_npy(const std::string& path, const NpyArray& a);
template <typename T>
void write_npy(const std::string& path, const Array<T>& a);

// What read_npz accepts beyond a well-formed file.
class NpzReadOptions {
 public:
  using EntryCheck =
      std::function<void(const std::string& name, const std::string& dtype, const Shape& shape)>;

  // The most bytes the entries may inflate to, all together, as the zip's
  // directory declares them (checked before any entry is inflated; an entry
  // never inflates past its declared size). 0: default_declared_bytes_limit
  // of the file's size, max(64 MiB, 32 x the file's size).
  NpzReadOptions& max_bytes(std::uint64_t bytes) {
    max_bytes_ = bytes;
    return *this;
  }
  std::uint64_t max_bytes() const { return max_bytes_; }

  // Called with each entry's name, dtype and shape as soon as its .npy
  // header is read, before its data is; it throws (IoError) to refuse the
  // entry. Loaders check here the names and shapes their model expects.
  NpzReadOptions& check_entry(EntryCheck check) {
    check_entry_ = std::move(check);
    return *this;
  }
  const EntryCheck& check_entry() const { return check_entry_; }

 private:
  std::uint64_t max_bytes_ = 0;
  EntryCheck check_entry_;
};

// Entries in file order, names without the ".npy" suffix (as np.load shows them).
// A PyTorch file (a path ending in .pt or .pth, or a zip holding data.pkl as
// torch.save writes) is refused with IoError and a hint to numpy.savez the
// state dict instead; nn::load and the weight importers read through here.
std::vector<std::pair<std::string, NpyArray>> read_npz(const std::string& path,
                                                       const NpzReadOptions& options = {});

// `compressed` = false writes like numpy.savez, true like numpy.savez_compressed.
// Names must be unique and non-empty; they may contain '/'.
void write_npz(const std::string& path,
               const std::vector<std::pair<std::string, NpyArray>>& entries,
               bool compressed = false);
template <typename T>
void write_npz(const std::string& path,
               const std::vector<std::pair<std::string, Array<T>>>& entries,
               bool compressed = false);

// The bytes write_npz writes, for a destination that is not a path.
std::string encode_npz(const std::vector<std::pair<std::string, NpyArray>>& entries,
                       bool compressed = false);

// Defined in npy.cpp for these element types only.
#define XGRAD_NPY_DECLARE(T)                                                   \
  extern template Array<T> NpyArray::as<T>() const;                       \
  extern template NpyArray NpyArray::from<T>(const Array<T>&);            \
  extern template void write_npy<T>(const std::string&, const Array<T>&); \
  extern template void write_npz<T>(                                           \
      const std::string&, const std::vector<std::pair<std::string, Array<T>>>&, bool);
XGRAD_NPY_DECLARE(float)
XGRAD_NPY_DECLARE(double)
XGRAD_NPY_DECLARE(std::int32_t)
XGRAD_NPY_DECLARE(std::int64_t)
XGRAD_NPY_DECLARE(bool)
#undef XGRAD_NPY_DECLARE

}  // namespace xgrad
