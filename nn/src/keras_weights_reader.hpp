#pragma once
// The .weights.h5 reader that both of load_keras_weights' paths run: in the
// calling process for a trusted file, in the xgrad-h5-reader program
// (nn/tools) otherwise, which hands the weights back as an .npz. Not
// installed: the library, the helper program and the fuzz targets use it.

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "xgrad/tensor/tensor.hpp"

namespace xgrad::nn::detail {

// One weight as Keras stores it: dataset "vars/<index>" of its object.
struct KerasSlot {
  std::string what;                   // "kernel", "bias", ...
  std::vector<std::ptrdiff_t> shape;  // -1: any positive extent (an unbuilt layer's F)
};

// One object Keras' _save_state visits: it gets a group at `path` with a
// "vars" subgroup holding its own variables (possibly none).
struct KerasObject {
  std::string path;   // Keras' inner_path: "" (the root), "layers/dense", "layers/simple_rnn/cell"
  std::string name;   // Keras' object name, the "vars" group's "name" attribute
  std::string owner;  // the xgrad layer, for messages: "layer 'dense' (Dense)"
  bool built = true;
  std::vector<KerasSlot> slots;
};

// What a model expects of a file, as plain data, so that it can be handed to
// the helper program.
struct KerasFileLayout {
  std::vector<KerasObject> objects;   // in Keras' visiting order
  std::set<std::string> containers;   // the lists Keras names children in: "layers"
};

// The bounds of the reader's walk through the file's groups.
constexpr std::size_t kMaxGroupDepth = 64;
constexpr std::uint64_t kMaxLinks = 1 << 20;

// The file's datasets, read and checked against `layout`: one vector per
// object, its slots in order. Shapes with a -1 extent may hold at most
// `max_free_bytes` bytes in total; fixed shapes must match exactly. Throws
// IoError whose message starts with `where` on anything else. libhdf5 prints
// nothing meanwhile. This is the function to fuzz.
template <typename T>
std::vector<std::vector<Array<T>>> read_keras_weights_file(const std::string& path,
                                                           const KerasFileLayout& layout,
                                                           std::uint64_t max_free_bytes,
                                                           const std::string& where);

// The .npz entry xgrad-h5-reader writes for weight `index` of the object at
// `object_path`: its dataset's path, "layers/dense/vars/0".
inline std::string weight_entry_name(const std::string& object_path, std::size_t index) {
  return (object_path.empty() ? "" : object_path + "/") + "vars/" + std::to_string(index);
}

// ---------------------------------------------------------------- the helper process

extern const char* const h5_reader_name;  // "xgrad-h5-reader"

// A file descriptor, closed with its owner.
class OwnedFd {
 public:
  explicit OwnedFd(int fd = -1) : fd_(fd) {}
  ~OwnedFd();
  OwnedFd(OwnedFd&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  OwnedFd& operator=(OwnedFd&&) = delete;
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;
  int get() const { return fd_; }
  // A path that opens the same file, for readers that take a path.
  std::string proc_path() const { return "/proc/self/fd/" + std::to_string(fd_); }

 private:
  int fd_;
};

// Runs xgrad-h5-reader on the file at `path` for a model of element type
// `dtype` ("float32", "float64") and returns the in-memory file holding the
// .npz it wrote (at most `output_limit` bytes). The program limits its own
// memory and CPU time; after `seconds` of wall-clock time it is killed. A
// crash, a timeout or a failure is an IoError starting with `where`.
OwnedFd run_h5_reader(const std::string& path, const KerasFileLayout& layout, const std::string& dtype,
                      std::uint64_t max_free_bytes, std::uint64_t output_limit, double seconds,
                      const std::string& where);

// The main function of xgrad-h5-reader.
int h5_reader_main(int argc, char** argv);

}  // namespace xgrad::nn::detail
