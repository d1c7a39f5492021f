#include "xgrad/nn/keras_weights.hpp"

#include <hdf5.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "xgrad/nn/bidirectional.hpp"
#include "xgrad/nn/convolution.hpp"
#include "xgrad/nn/dense.hpp"
#include "xgrad/nn/dropout.hpp"
#include "xgrad/nn/embedding.hpp"
#include "xgrad/nn/masking.hpp"
#include "xgrad/nn/normalization.hpp"
#include "xgrad/nn/sequential.hpp"
#include "xgrad/nn/recurrent.hpp"
#include "xgrad/tensor/file_io.hpp"
#include "xgrad/tensor/npy.hpp"
#include "xgrad/tensor/shape.hpp"
#include "keras_weights_reader.hpp"

namespace xgrad::nn {

namespace {

// ---------------------------------------------------------------- HDF5 plumbing

// HDF5 prints every failure to stderr by default; inside these calls a
// failure becomes an IoError instead. The caller's setting comes back after.
class QuietHdf5 {
 public:
  QuietHdf5() {
    H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~QuietHdf5() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }
  QuietHdf5(const QuietHdf5&) = delete;
  QuietHdf5& operator=(const QuietHdf5&) = delete;

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

// The most specific description on HDF5's error stack (e.g. "file signature
// not found"); the stack is cleared for the next call.
std::string hdf5_reason() {
  std::string reason;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned, const H5E_error2_t* error, void* out) -> herr_t {
        auto& text = *static_cast<std::string*>(out);
        if (text.empty() && error->desc != nullptr) text = error->desc;
        return 0;
      },
      &reason);
  H5Eclear2(H5E_DEFAULT);
  return reason.empty() ? "HDF5 gave no reason" : reason;
}

[[noreturn]] void fail_hdf5(const std::string& where, const std::string& what) {
  throw IoError(where + what + ": " + hdf5_reason());
}

hid_t check_id(hid_t id, const std::string& where, const std::string& what) {
  if (id < 0) fail_hdf5(where, what);
  return id;
}

void check_status(herr_t status, const std::string& where, const std::string& what) {
  if (status < 0) fail_hdf5(where, what);
}

// Owns one HDF5 identifier (file, group, dataset, ...) and closes it.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  ~Handle() {
    if (id_ >= 0) closer_(id_);
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }

 private:
  hid_t id_;
  Closer closer_;
};

template <typename T>
const char* dtype_name() {
  return std::is_same_v<T, float> ? "float32" : "float64";
}

template <typename T>
hid_t memory_type() {
  return std::is_same_v<T, float> ? H5T_NATIVE_FLOAT : H5T_NATIVE_DOUBLE;
}

template <typename T>
hid_t file_type() {
  // Little-endian IEEE, as NumPy (and so h5py, and so Keras) writes on x86 and ARM.
  return std::is_same_v<T, float> ? H5T_IEEE_F32LE : H5T_IEEE_F64LE;
}

// A dataset's element type the way NumPy names it, for messages.
std::string describe_type(hid_t type) {
  const std::string bits = std::to_string(H5Tget_size(type) * 8);
  switch (H5Tget_class(type)) {
    case H5T_FLOAT: return "float" + bits;
    case H5T_INTEGER: return (H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int") + bits;
    case H5T_ENUM: return "enum";
    case H5T_STRING: return "string";
    case H5T_COMPOUND: return "compound";
    case H5T_OPAQUE: return "opaque";
    case H5T_BITFIELD: return "bitfield";
    case H5T_REFERENCE: return "reference";
    case H5T_VLEN: return "variable-length";
    case H5T_ARRAY: return "array";
    default: return "an unknown HDF5 type";
  }
}

// ---------------------------------------------------------------- the Keras layout of a model

using detail::KerasFileLayout;
using detail::kMaxGroupDepth;
using detail::kMaxLinks;
using detail::KerasObject;
using Slot = detail::KerasSlot;

std::string expected_shape_to_string(const std::vector<std::ptrdiff_t>& shape) {
  std::string out = "(";
  for (std::size_t i = 0; i < shape.size(); ++i)
    out += (i ? ", " : "") + (shape[i] < 0 ? std::string("None") : std::to_string(shape[i]));
  return out + (shape.size() == 1 ? ",)" : ")");
}

// A layer of a Sequential, for the check that the weights about to be set
// chain: the objects whose first slot is a kernel [features, ...] (each
// takes the layer's input), and the features the layer gives.
constexpr std::size_t kUnknownFeatures = 0;
constexpr std::size_t kKeepsFeatures = static_cast<std::size_t>(-1);
struct ChainLayer {
  std::string owner;
  std::vector<std::size_t> kernels;
  std::size_t gives = kUnknownFeatures;
};

// A model's layout, and for each of its objects how to get and set its weights.
template <typename T>
struct Layout {
  std::vector<std::vector<ChainLayer>> chains;  // one per Sequential, its layers in order
  KerasFileLayout file;
  std::vector<std::function<std::vector<Array<T>>()>> get;             // the weights, in slot order
  std::vector<std::function<void(const std::vector<Array<T>>&)>> set;  // set_weights of the layer
};

std::string join(const std::string& parent, const std::string& child) {
  return parent.empty() ? child : parent + "/" + child;
}

std::string vars_of(const std::string& path) { return join(path, "vars"); }

// "dropout_2" -> "dropout": the class key of a parameterless layer we do not
// know by type, taken from its name as Keras' default names are the class's.
std::string strip_number_suffix(const std::string& name) {
  const std::size_t underscore = name.find_last_of('_');
  if (underscore == std::string::npos || underscore == 0 || underscore + 1 == name.size()) return name;
  for (std::size_t i = underscore + 1; i < name.size(); ++i)
    if (name[i] < '0' || name[i] > '9') return name;
  return name.substr(0, underscore);
}

// Walks a model the way Keras' saving_lib does (_save_state, _walk_saveable,
// _save_container_state) and records every object's path and weights.
//
// A new layer type is a few lines here: its class key in class_key(), and in
// add() its saveable(s); Bidirectional's block in add() is a short example.
template <typename T>
class LayoutBuilder {
 public:
  explicit LayoutBuilder(std::string where) : where_(std::move(where)) {}

  Layout<T> build(Module<T>& model) {
    add(model, "", model.name());
    return std::move(layout_);
  }

 private:
  // naming.to_snake_case(class name), the key of a layer in its container.
  static std::string class_key(const Module<T>& module) {
    if (dynamic_cast<const Sequential<T>*>(&module)) return "sequential";
    if (auto* rnn = dynamic_cast<const RecurrentLayer<T>*>(&module)) return rnn->keras_class();
    if (dynamic_cast<const Bidirectional<T>*>(&module)) return "bidirectional";
    if (dynamic_cast<const Dense<T>*>(&module)) return "dense";
    if (dynamic_cast<const Embedding<T>*>(&module)) return "embedding";
    if (dynamic_cast<const LayerNormalization<T>*>(&module)) return "layer_normalization";
    if (dynamic_cast<const Conv1D<T>*>(&module)) return "conv1d";
    return strip_number_suffix(module.name());
  }

  void push(const std::string& path, const std::string& name, const std::string& owner, bool built,
            std::vector<Slot> slots, std::function<std::vector<Array<T>>()> get,
            std::function<void(const std::vector<Array<T>>&)> set) {
    layout_.file.objects.push_back({path, name, owner, built, std::move(slots)});
    layout_.get.push_back(std::move(get));
    layout_.set.push_back(std::move(set));
  }

  // A layer that holds its vars itself, read and set through its weights()
  // and set_weights(); `kind` names its class in messages ("Dense").
  template <typename Layer>
  void push_layer(const std::string& path, const std::string& name, const std::string& kind, Layer* layer,
                  std::vector<Slot> slots) {
    push(path, name, "layer '" + name + "' (" + kind + ")", layer->built(), std::move(slots),
         [layer] { return layer->weights(); },
         [layer](const std::vector<Array<T>>& weights) { layer->set_weights(weights); });
  }

  void add(Module<T>& module, const std::string& path, const std::string& name) {
    // Keras saves an object reachable twice only at its first path.
    if (!visited_.insert(&module).second) return;

    if (auto* sequential = dynamic_cast<Sequential<T>*>(&module)) {
      push(path, name, "model '" + name + "' (Sequential)", true, {}, nullptr, nullptr);
      const std::string container = join(path, "layers");
      layout_.file.containers.insert(container);
      std::map<std::string, std::size_t> used;  // Keras numbers repeats per class: dense, dense_1
      std::vector<ChainLayer> chain;
      for (std::size_t i = 0; i < sequential->size(); ++i) {
        Module<T>& layer = *sequential->at(i);
        std::string key = class_key(layer);
        auto [entry, first] = used.emplace(key, 0);
        if (!first) key += "_" + std::to_string(++entry->second);
        const std::size_t first_object = layout_.file.objects.size();
        add(layer, join(container, key), sequential->layer_names()[i]);
        chain.push_back(chain_layer(layer, first_object));
      }
      layout_.chains.push_back(std::move(chain));
      return;
    }
    if (auto* bi = dynamic_cast<Bidirectional<T>*>(&module)) {
      // No variables of its own; Keras walks its attributes in name order,
      // backward_layer then forward_layer (the wrapped `layer` is not kept).
      push(path, name, "layer '" + name + "' (Bidirectional)", bi->built(), {}, nullptr, nullptr);
      add(*bi->backward_layer(), join(path, "backward_layer"), bi->backward_layer()->name());
      add(*bi->forward_layer(), join(path, "forward_layer"), bi->forward_layer()->name());
      return;
    }
    if (auto* rnn = dynamic_cast<RecurrentLayer<T>*>(&module)) {
      const auto units = static_cast<std::ptrdiff_t>(rnn->options().units());
      const auto columns = static_cast<std::ptrdiff_t>(rnn->cell().gates()) * units;
      const std::ptrdiff_t features = rnn->built() ? static_cast<std::ptrdiff_t>(rnn->input_features()) : -1;
      std::vector<Slot> slots{{"kernel", {features, columns}}, {"recurrent_kernel", {units, columns}}};
      if (rnn->options().use_bias()) {
        const auto bias_rows = static_cast<std::ptrdiff_t>(rnn->cell().bias_rows());
        slots.push_back({"bias", bias_rows > 1 ? std::vector<std::ptrdiff_t>{bias_rows, columns}
                                               : std::vector<std::ptrdiff_t>{columns}});
      }
      const std::string owner = "layer '" + name + "' (" + rnn->kind() + ")";
      // Keras' recurrent layers hold no variables themselves; their cell does.
      push(path, name, owner, rnn->built(), {}, nullptr, nullptr);
      push(join(path, "cell"), rnn->keras_cell_class(), owner, rnn->built(), std::move(slots),
           [rnn] { return rnn->weights(); },
           [rnn](const std::vector<Array<T>>& weights) { rnn->set_weights(weights); });
      return;
    }
    if (auto* dense = dynamic_cast<Dense<T>*>(&module)) {
      const auto units = static_cast<std::ptrdiff_t>(dense->options().units());
      const std::ptrdiff_t features =
          dense->built() ? static_cast<std::ptrdiff_t>(dense->input_features()) : -1;
      std::vector<Slot> slots{{"kernel", {features, units}}};
      if (dense->options().use_bias()) slots.push_back({"bias", {units}});
      push_layer(path, name, "Dense", dense, std::move(slots));
      return;
    }
    if (auto* embedding = dynamic_cast<Embedding<T>*>(&module)) {
      const auto& options = embedding->options();
      std::vector<Slot> slots{{"embeddings",
                               {static_cast<std::ptrdiff_t>(options.input_dim()),
                                static_cast<std::ptrdiff_t>(options.output_dim())}}};
      push_layer(path, name, "Embedding", embedding, std::move(slots));
      return;
    }
    if (auto* conv = dynamic_cast<Conv1D<T>*>(&module)) {
      const auto& options = conv->options();
      const auto filters = static_cast<std::ptrdiff_t>(options.filters());
      const std::ptrdiff_t channels = conv->built() ? static_cast<std::ptrdiff_t>(conv->input_channels()) : -1;
      std::vector<Slot> slots{{"kernel", {static_cast<std::ptrdiff_t>(options.kernel_size()), channels, filters}}};
      if (options.use_bias()) slots.push_back({"bias", {filters}});
      push_layer(path, name, "Conv1D", conv, std::move(slots));
      return;
    }
    if (auto* norm = dynamic_cast<LayerNormalization<T>*>(&module)) {
      // Keras' build adds gamma, then beta.
      const std::ptrdiff_t features = norm->built() ? static_cast<std::ptrdiff_t>(norm->input_features()) : -1;
      std::vector<Slot> slots;
      if (norm->options().scale()) slots.push_back({"gamma", {features}});
      if (norm->options().center()) slots.push_back({"beta", {features}});
      push_layer(path, name, "LayerNormalization", norm, std::move(slots));
      return;
    }
    if (!module.named_parameters().empty()) {
      throw IoError(where_ + "layer '" + name +
                    "' has parameters but no Keras weights layout in xgrad (supported: Sequential, "
                    "SimpleRNN, LSTM, GRU, Bidirectional, Dense, Embedding, Conv1D, LayerNormalization, and layers without "
                    "parameters)");
    }
    // Dropout, Masking...: Keras still visits them, with an empty "vars".
    push(path, name, "layer '" + name + "'", true, {}, nullptr, nullptr);
  }

  // The chain entry of a layer whose objects start at `first`.
  ChainLayer chain_layer(Module<T>& layer, std::size_t first) const {
    ChainLayer out;
    const auto& objects = layout_.file.objects;
    if (first == objects.size()) return out;  // met before: not walked again
    out.owner = objects[first].owner;
    const auto add_kernels = [&] {  // the objects of this layer whose first slot is a kernel
      for (std::size_t i = first; i < objects.size(); ++i)
        if (!objects[i].slots.empty() && objects[i].slots[0].what == "kernel") out.kernels.push_back(i);
    };
    if (auto* rnn = dynamic_cast<RecurrentLayer<T>*>(&layer)) {
      add_kernels();
      out.gives = rnn->options().units();
    } else if (auto* dense = dynamic_cast<Dense<T>*>(&layer)) {
      add_kernels();
      out.gives = dense->options().units();
    } else if (auto* bi = dynamic_cast<Bidirectional<T>*>(&layer)) {
      add_kernels();
      const std::size_t units = bi->forward_layer()->options().units();
      const auto& mode = bi->merge_mode();
      out.gives = !mode ? kUnknownFeatures : *mode == "concat" ? 2 * units : units;
    } else if (auto* embedding = dynamic_cast<Embedding<T>*>(&layer)) {
      out.gives = embedding->options().output_dim();
    } else if (auto* conv = dynamic_cast<Conv1D<T>*>(&layer)) {
      out.gives = conv->options().filters();  // its kernel [K, C, F] takes C on axis 1: not chained here
    } else if (dynamic_cast<Dropout<T>*>(&layer) || dynamic_cast<Masking<T>*>(&layer) ||
               dynamic_cast<LayerNormalization<T>*>(&layer)) {
      out.gives = kKeepsFeatures;
    }
    return out;
  }

  std::string where_;
  Layout<T> layout_;
  std::set<const Module<T>*> visited_;
};

// Whether the kernels about to be set chain within each Sequential: each
// layer must take the features the layer before it gives. The model's own
// shapes check a built layer; an unbuilt one takes its features from the
// file, which could build a model that cannot run.
template <typename T>
void check_chains(const Layout<T>& layout, const std::vector<std::vector<Array<T>>>& staged,
                  const std::string& where) {
  for (const std::vector<ChainLayer>& chain : layout.chains) {
    std::size_t features = kUnknownFeatures;
    const ChainLayer* giver = nullptr;
    for (const ChainLayer& layer : chain) {
      for (std::size_t k : layer.kernels) {
        const std::size_t takes = staged.at(k).at(0).shape().at(0);
        if (features != kUnknownFeatures && takes != features) {
          throw IoError(where + layout.file.objects[k].path + "/vars/0 is the kernel of " + layer.owner + ", " +
                        shape_to_string(staged[k][0].shape()) + ": it takes " + std::to_string(takes) +
                        " input features, but " + giver->owner + " before it gives " + std::to_string(features));
        }
      }
      if (layer.gives != kKeepsFeatures) {
        features = layer.gives;
        giver = &layer;
      }
    }
  }
}

// ---------------------------------------------------------------- save

// A dataset in chunks that each carry a Fletcher32 checksum, so a byte
// changed in the file is a read error instead of a different weight. HDF5
// filters need chunked storage; h5py and Keras read such files as any other.
template <typename T>
void write_dataset(hid_t group, const std::string& name, const Array<T>& value,
                   const std::string& where, const std::string& shown) {
  const std::vector<hsize_t> dims(value.shape().begin(), value.shape().end());
  Handle space(check_id(dims.empty() ? H5Screate(H5S_SCALAR)
                                     : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                        where, "cannot describe the shape of " + shown),
               H5Sclose);
  Handle creation(check_id(H5Pcreate(H5P_DATASET_CREATE), where, "cannot set up HDF5"), H5Pclose);
  if (!dims.empty()) {  // (a scalar, never a layer's weight, cannot be chunked)
    // Whole rows per chunk, at most about 1 MiB of them (a chunk must stay
    // under 4 GiB, and HDF5 caches 1 MiB per dataset); no extent may be 0.
    std::vector<hsize_t> chunk(dims.size());
    hsize_t row_bytes = sizeof(T);
    for (std::size_t d = 1; d < dims.size(); ++d) {
      chunk[d] = std::max<hsize_t>(dims[d], 1);
      row_bytes *= chunk[d];
    }
    chunk[0] = std::clamp<hsize_t>((hsize_t{1} << 20) / row_bytes, 1, std::max<hsize_t>(dims[0], 1));
    check_status(H5Pset_chunk(creation.get(), static_cast<int>(chunk.size()), chunk.data()), where,
                 "cannot set the chunks of " + shown);
    check_status(H5Pset_fletcher32(creation.get()), where, "cannot set the checksum of " + shown);
  }
  Handle dataset(check_id(H5Dcreate2(group, name.c_str(), file_type<T>(), space.get(), H5P_DEFAULT,
                                     creation.get(), H5P_DEFAULT),
                          where, "cannot create " + shown),
                 H5Dclose);
  // xarray's default layout is row-major and contiguous, as HDF5 expects.
  check_status(H5Dwrite(dataset.get(), memory_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, value.data()),
               where, "cannot write " + shown);
}

// The string attribute h5py writes for attrs[key] = "text": scalar,
// variable-length, UTF-8.
void write_name_attribute(hid_t group, const std::string& value, const std::string& where,
                          const std::string& shown) {
  Handle type(check_id(H5Tcopy(H5T_C_S1), where, "cannot make a string type"), H5Tclose);
  check_status(H5Tset_size(type.get(), H5T_VARIABLE), where, "cannot make a string type");
  check_status(H5Tset_cset(type.get(), H5T_CSET_UTF8), where, "cannot make a string type");
  Handle space(check_id(H5Screate(H5S_SCALAR), where, "cannot make a scalar space"), H5Sclose);
  Handle attribute(check_id(H5Acreate2(group, "name", type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
                            where, "cannot create the attribute 'name' of " + shown),
                   H5Aclose);
  const char* text = value.c_str();
  check_status(H5Awrite(attribute.get(), type.get(), &text), where,
               "cannot write the attribute 'name' of " + shown);
}

// The whole file, built in memory (HDF5's core driver without a backing
// store) so it can go to disk through write_file_atomically.
template <typename T>
std::string file_image(const Layout<T>& layout, const std::string& path, const std::string& where) {
  Handle access(check_id(H5Pcreate(H5P_FILE_ACCESS), where, "cannot set up HDF5"), H5Pclose);
  check_status(H5Pset_fapl_core(access.get(), 64 * 1024, 0), where, "cannot set up an in-memory HDF5 file");
  Handle links(check_id(H5Pcreate(H5P_LINK_CREATE), where, "cannot set up HDF5"), H5Pclose);
  check_status(H5Pset_create_intermediate_group(links.get(), 1), where, "cannot set up HDF5");
  // The name only labels the in-memory file; nothing is created under it.
  Handle file(check_id(H5Fcreate(("xgrad-in-memory:" + path).c_str(), H5F_ACC_TRUNC, H5P_DEFAULT,
                                 access.get()),
                       where, "cannot create an in-memory HDF5 file"),
              H5Fclose);
  for (std::size_t object = 0; object < layout.file.objects.size(); ++object) {
    const KerasObject& saveable = layout.file.objects[object];
    const std::string vars = "/" + vars_of(saveable.path);
    Handle group(check_id(H5Gcreate2(file.get(), vars.c_str(), links.get(), H5P_DEFAULT, H5P_DEFAULT),
                          where, "cannot create group " + vars),
                 H5Gclose);
    write_name_attribute(group.get(), saveable.name, where, vars);
    if (saveable.slots.empty()) continue;
    const std::vector<Array<T>> weights = layout.get[object]();
    for (std::size_t i = 0; i < weights.size(); ++i)
      write_dataset(group.get(), std::to_string(i), weights[i], where, vars + "/" + std::to_string(i));
  }
  check_status(H5Fflush(file.get(), H5F_SCOPE_GLOBAL), where, "cannot finish the HDF5 file");
  const ssize_t size = H5Fget_file_image(file.get(), nullptr, 0);
  if (size <= 0) fail_hdf5(where, "cannot get the HDF5 file's bytes");
  std::string bytes(static_cast<std::size_t>(size), '\0');
  if (H5Fget_file_image(file.get(), bytes.data(), bytes.size()) != size)
    fail_hdf5(where, "cannot get the HDF5 file's bytes");
  return bytes;
}

// ---------------------------------------------------------------- load

// Keras 2.13 named a Sequential's container this; Keras 3 reads it in place of "layers".
const char* const legacy_container = "_layer_checkpoint_dependencies";

struct Member {
  std::string name;
  H5L_type_t type;
};

bool has_free_extent(const Slot& slot) {
  return std::any_of(slot.shape.begin(), slot.shape.end(), [](std::ptrdiff_t d) { return d < 0; });
}

// Extents a file declares for a slot: equal where the model fixes them,
// positive where it does not (-1).
template <typename Extents>
bool shape_fits(const Slot& slot, const Extents& dims) {
  if (dims.size() != slot.shape.size()) return false;
  for (std::size_t d = 0; d < dims.size(); ++d) {
    const auto extent = static_cast<std::uint64_t>(dims[d]);
    if (slot.shape[d] < 0 ? extent == 0 : extent != static_cast<std::uint64_t>(slot.shape[d])) return false;
  }
  return true;
}

// Adds the bytes of an array of `dims` to `total`; false if that passes `limit` (or overflows).
template <typename T, typename Extents>
bool add_bytes(const Extents& dims, std::uint64_t limit, std::uint64_t& total) {
  std::uint64_t bytes = sizeof(T);
  for (const auto extent : dims)
    if (__builtin_mul_overflow(bytes, static_cast<std::uint64_t>(extent), &bytes)) return false;
  return !__builtin_add_overflow(total, bytes, &total) && total <= limit;
}

template <typename T>
std::string free_bytes_error(const std::string& name, const std::string& declared, std::uint64_t limit) {
  return name + " declares " + dtype_name<T>() + " of shape " + declared +
         ", more than the file may declare for weights whose shape the model does not fix (" +
         std::to_string(limit) +
         " bytes in all; build the model first, or raise KerasLoadOptions::max_bytes if the file is "
         "trusted)";
}

// Checks a file against a model's layout and reads every weight, changing
// nothing. The walk visits only the groups the layout expects, each once, so
// a hostile file cannot make it loop; names that would make two groups one
// (empty, repeated, "." or with a slash) are refused.
template <typename T>
class Reader {
 public:
  Reader(hid_t file, const KerasFileLayout& layout, std::uint64_t max_free_bytes, std::string where)
      : file_(file), layout_(layout), max_free_bytes_(max_free_bytes), where_(std::move(where)) {
    for (const auto& object : layout_.objects) objects_[object.path] = &object;
  }

  // The weights of each object, in layout order.
  std::vector<std::vector<Array<T>>> read_all() {
    legacy_ = layout_.containers.count("layers") && !has_link("/layers") &&
              has_link(std::string("/") + legacy_container);
    walk();
    std::vector<std::vector<Array<T>>> staged;
    for (const auto& object : layout_.objects) {
      std::vector<Array<T>> values;
      for (std::size_t i = 0; i < object.slots.size(); ++i) values.push_back(read(object, i));
      staged.push_back(std::move(values));
    }
    return staged;
  }

 private:
  // The HDF5 path of a layout path.
  std::string shown(const std::string& path) const {
    std::string out;
    std::size_t start = 0;
    while (start <= path.size() && !path.empty()) {
      const std::size_t slash = std::min(path.find('/', start), path.size());
      const std::string part = path.substr(start, slash - start);
      out += "/" + (legacy_ && part == "layers" ? std::string(legacy_container) : part);
      start = slash + 1;
    }
    return out.empty() ? "/" : out;
  }

  bool has_link(const std::string& path) const { return H5Lexists(file_, path.c_str(), H5P_DEFAULT) > 0; }

  struct Listing {
    std::vector<Member> members;
    std::uint64_t budget;  // links the walk may still list
    bool over_budget = false;
  };

  std::vector<Member> members(const std::string& path) {
    const std::string group_path = shown(path);
    Handle group(check_id(H5Gopen2(file_, group_path.c_str(), H5P_DEFAULT), where_,
                          "cannot open group " + group_path),
                 H5Gclose);
    Listing listing{{}, kMaxLinks - links_listed_};
    hsize_t index = 0;
    check_status(H5Literate(group.get(), H5_INDEX_NAME, H5_ITER_INC, &index,
                            [](hid_t, const char* name, const H5L_info_t* info, void* data) -> herr_t {
                              auto& out = *static_cast<Listing*>(data);
                              if (out.members.size() == out.budget) {
                                out.over_budget = true;
                                return 1;  // stops the iteration
                              }
                              out.members.push_back({name, info->type});
                              return 0;
                            },
                            &listing),
                 where_, "cannot list group " + group_path);
    if (listing.over_budget)
      throw IoError(where_ + "more than " + std::to_string(kMaxLinks) + " links in the groups up to " + group_path);
    links_listed_ += listing.members.size();
    std::set<std::string> names;
    for (const Member& member : listing.members) {
      if (member.name.empty() || member.name == "." || member.name.find('/') != std::string::npos)
        throw IoError(where_ + "group " + group_path + " holds a link with the invalid name '" + member.name + "'");
      if (!names.insert(member.name).second)
        throw IoError(where_ + "group " + group_path + " holds two links named '" + member.name + "'");
    }
    return listing.members;
  }

  // Keras writes plain groups and datasets; a soft or external link could
  // point anywhere (another file), so it is not followed.
  H5I_type_t kind(const Member& member, const std::string& path) const {
    if (member.type != H5L_TYPE_HARD) {
      throw IoError(where_ + shown(path) + " is a soft or external link, not a group or dataset");
    }
    Handle object(check_id(H5Oopen(file_, shown(path).c_str(), H5P_DEFAULT), where_,
                           "cannot open " + shown(path)),
                  H5Oclose);
    return H5Iget_type(object.get());
  }

  // Checks every link below the root, the containers and the objects: each
  // must be one the model expects, except at the top level, where training
  // state (optimizer, metrics) is not the model's weights. Depth first, in
  // name order, with an explicit stack.
  void walk() {
    std::vector<std::pair<std::string, std::size_t>> pending{{"", 0}};  // group, depth
    while (!pending.empty()) {
      const auto [path, depth] = pending.back();
      pending.pop_back();
      if (depth > kMaxGroupDepth)
        throw IoError(where_ + "groups nested more than " + std::to_string(kMaxGroupDepth) + " deep at " +
                      shown(path));
      if (!found_groups_.insert(path).second)
        throw IoError(where_ + "group " + shown(path) + " is reached twice");
      const auto own = objects_.find(path);
      std::vector<std::string> children;
      for (const Member& member : members(path)) {
        const std::string name = legacy_ && member.name == legacy_container ? "layers" : member.name;
        const std::string child = join(path, name);
        const bool is_vars = own != objects_.end() && name == "vars";
        const bool expected = is_vars || objects_.count(child) || layout_.containers.count(child);
        if (!expected) {
          if (path.empty()) continue;
          throw IoError(where_ + "unexpected " + (kind(member, child) == H5I_DATASET ? "dataset " : "group ") +
                        shown(child) + ": " + no_such_child(path));
        }
        if (kind(member, child) != H5I_GROUP) throw IoError(where_ + shown(child) + " is not a group");
        if (is_vars) {
          check_vars(*own->second);
        } else {
          children.push_back(child);
        }
      }
      for (auto child = children.rbegin(); child != children.rend(); ++child) pending.emplace_back(*child, depth + 1);
    }
  }

  std::string no_such_child(const std::string& path) const {
    if (!layout_.containers.count(path)) {
      const auto own = objects_.find(path);
      return own == objects_.end() ? "the model has nothing there"
                                   : own->second->owner + " has nothing of that name";
    }
    std::string layers;
    for (const auto& object : layout_.objects) {
      const std::string prefix = path + "/";
      if (object.path.compare(0, prefix.size(), prefix) == 0 &&
          object.path.find('/', prefix.size()) == std::string::npos)
        layers += (layers.empty() ? "" : ", ") + object.path.substr(prefix.size());
    }
    return "the model has no such layer (its layers there: " + (layers.empty() ? "none" : layers) + ")";
  }

  // A "vars" group holds exactly datasets "0" .. "n-1", as Keras'
  // load_own_variables insists (it compares the counts).
  void check_vars(const KerasObject& object) {
    const std::string vars = vars_of(object.path);
    found_groups_.insert(vars);
    for (const Member& member : members(vars)) {
      const std::string child = join(vars, member.name);
      std::size_t index = object.slots.size();
      const bool digits = !member.name.empty() && member.name.size() < 10 &&
                          member.name.find_first_not_of("0123456789") == std::string::npos &&
                          (member.name == "0" || member.name[0] != '0');
      if (digits) index = std::stoul(member.name);
      if (index >= object.slots.size()) {
        throw IoError(where_ + "unexpected entry " + shown(child) + ": " + object.owner + " has " +
                      std::to_string(object.slots.size()) + " weights" + slot_list(object));
      }
      if (kind(member, child) != H5I_DATASET) throw IoError(where_ + shown(child) + " is not a dataset");
      found_datasets_.insert(child);
    }
  }

  std::string slot_list(const KerasObject& object) const {
    if (object.slots.empty()) return "";
    std::string out;
    for (std::size_t i = 0; i < object.slots.size(); ++i)
      out += (i ? ", " : "") + std::to_string(i) + " " + object.slots[i].what;
    return " (" + out + ")";
  }

  std::string expected(const Slot& slot) const {
    return std::string(dtype_name<T>()) + " of shape " + expected_shape_to_string(slot.shape);
  }

  Array<T> read(const KerasObject& object, std::size_t i) {
    const Slot& slot = object.slots[i];
    const std::string path = join(vars_of(object.path), std::to_string(i));
    const std::string what = " (" + slot.what + " of " + object.owner + ")";
    if (!found_datasets_.count(path)) {
      // Name the outermost missing group: a missing layer says so.
      std::string missing = path;
      for (std::size_t slash = 0; (slash = path.find('/', slash + 1)) != std::string::npos;) {
        if (!found_groups_.count(path.substr(0, slash))) {
          missing = path.substr(0, slash);
          break;
        }
      }
      throw IoError(where_ + "missing " + (missing == path ? "dataset " : "group ") + shown(missing) +
                    ": expected " + shown(path) + what + ", " + expected(slot));
    }
    const std::string name = shown(path);
    Handle dataset(check_id(H5Dopen2(file_, name.c_str(), H5P_DEFAULT), where_, "cannot open " + name),
                   H5Dclose);
    Handle type(check_id(H5Dget_type(dataset.get()), where_, "cannot read the type of " + name), H5Tclose);
    Handle space(check_id(H5Dget_space(dataset.get()), where_, "cannot read the shape of " + name), H5Sclose);

    const H5S_class_t space_class = H5Sget_simple_extent_type(space.get());
    std::vector<hsize_t> dims;
    if (space_class == H5S_SIMPLE) {
      const int rank = H5Sget_simple_extent_ndims(space.get());
      if (rank < 0) fail_hdf5(where_, "cannot read the shape of " + name);
      dims.resize(static_cast<std::size_t>(rank));
      if (H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr) < 0)
        fail_hdf5(where_, "cannot read the shape of " + name);
    }
    const bool dtype_ok = H5Tget_class(type.get()) == H5T_FLOAT && H5Tget_size(type.get()) == sizeof(T);
    if (!dtype_ok || space_class == H5S_NULL || !shape_fits(slot, dims)) {
      const std::string found_shape = space_class == H5S_NULL ? "null (no data)" : shape_to_string(dims);
      throw IoError(where_ + name + what + ": expected " + expected(slot) + ", found " +
                    describe_type(type.get()) + " of shape " + found_shape);
    }
    // The model fixes every other shape; these the file's size bounds.
    if (has_free_extent(slot) && !add_bytes<T>(dims, max_free_bytes_, free_bytes_))
      throw IoError(where_ + free_bytes_error<T>(name + what, shape_to_string(dims), max_free_bytes_));
    Array<T> value = Array<T>::from_shape(Shape(dims.begin(), dims.end()));
    check_status(H5Dread(dataset.get(), memory_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, value.data()),
                 where_, "cannot read " + name);
    return value;
  }

  hid_t file_;
  const KerasFileLayout& layout_;
  std::uint64_t max_free_bytes_;
  std::string where_;
  bool legacy_ = false;
  std::uint64_t links_listed_ = 0;
  std::uint64_t free_bytes_ = 0;
  std::map<std::string, const KerasObject*> objects_;
  std::set<std::string> found_groups_;
  std::set<std::string> found_datasets_;
};

// The file's size, or IoError saying plainly why it cannot be opened
// (HDF5's message for a missing file is long).
std::uint64_t regular_file_size(const std::string& path, const std::string& where) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) throw IoError(where + "cannot open: " + std::strerror(errno));
  if (!S_ISREG(info.st_mode)) throw IoError(where + "cannot open: not a regular file");
  return static_cast<std::uint64_t>(info.st_size);
}

// The weights out of the .npz that xgrad-h5-reader hands back, checked
// against the layout as the reader checked the file: the program may have
// been subverted by the file it read.
template <typename T>
std::vector<std::vector<Array<T>>> read_out_of_process(const std::string& path, const KerasFileLayout& layout,
                                                       std::uint64_t max_free_bytes,
                                                       const KerasLoadOptions& options, const std::string& where) {
  std::map<std::string, const Slot*> slots;
  std::uint64_t fixed_bytes = 0;
  for (const auto& object : layout.objects) {
    for (std::size_t i = 0; i < object.slots.size(); ++i) {
      slots[detail::weight_entry_name(object.path, i)] = &object.slots[i];
      if (!has_free_extent(object.slots[i])) add_bytes<T>(object.slots[i].shape, UINT64_MAX, fixed_bytes);
    }
  }
  // Generous room for the .npy headers and the zip's own records.
  const std::uint64_t output_limit = fixed_bytes + max_free_bytes + (slots.size() + 1) * (std::uint64_t{1} << 16);
  const detail::OwnedFd output = detail::run_h5_reader(path, layout, dtype_name<T>(), max_free_bytes, output_limit,
                                                       options.time_limit_seconds(), where);
  const std::string bad_output = where + "the output of " + detail::h5_reader_name + " is invalid: ";
  std::uint64_t free_bytes = 0;
  NpzReadOptions npz;
  npz.max_bytes(output_limit).check_entry([&](const std::string& name, const std::string& dtype, const Shape& shape) {
    const auto slot = slots.find(name);
    if (slot == slots.end() || dtype != dtype_name<T>() || !shape_fits(*slot->second, shape))
      throw IoError(bad_output + "unexpected entry '" + name + "'");
    if (has_free_extent(*slot->second) && !add_bytes<T>(shape, max_free_bytes, free_bytes))
      throw IoError(bad_output + free_bytes_error<T>(name, shape_to_string(shape), max_free_bytes));
  });
  std::vector<std::pair<std::string, NpyArray>> entries;
  try {
    entries = read_npz(output.proc_path(), npz);
  } catch (const IoError& error) {
    if (std::string(error.what()).rfind(bad_output, 0) == 0) throw;
    throw IoError(bad_output + error.what());
  }
  std::map<std::string, const NpyArray*> by_name;
  for (const auto& [name, array] : entries) by_name[name] = &array;
  std::vector<std::vector<Array<T>>> staged;
  for (const auto& object : layout.objects) {
    std::vector<Array<T>> values;
    for (std::size_t i = 0; i < object.slots.size(); ++i) {
      const auto found = by_name.find(detail::weight_entry_name(object.path, i));
      if (found == by_name.end())
        throw IoError(bad_output + "no entry for " + detail::weight_entry_name(object.path, i));
      values.push_back(found->second->template as<T>());
    }
    staged.push_back(std::move(values));
  }
  return staged;
}

}  // namespace

namespace detail {

template <typename T>
std::vector<std::vector<Array<T>>> read_keras_weights_file(const std::string& path, const KerasFileLayout& layout,
                                                           std::uint64_t max_free_bytes, const std::string& where) {
  regular_file_size(path, where);
  QuietHdf5 quiet;
  Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file.valid()) fail_hdf5(where, "not a readable HDF5 file");
  return Reader<T>(file.get(), layout, max_free_bytes, where).read_all();
}

template std::vector<std::vector<Array<float>>> read_keras_weights_file(const std::string&, const KerasFileLayout&,
                                                                        std::uint64_t, const std::string&);
template std::vector<std::vector<Array<double>>> read_keras_weights_file(const std::string&, const KerasFileLayout&,
                                                                         std::uint64_t, const std::string&);

}  // namespace detail

template <typename T>
void save_keras_weights(const Module<T>& model, const std::string& path) {
  const std::string where = "save_keras_weights: " + path + ": ";
  // The layout also carries the setters load uses; save only reads through it.
  const Layout<T> layout = LayoutBuilder<T>(where).build(const_cast<Module<T>&>(model));
  for (const auto& object : layout.file.objects) {
    if (!object.built) {
      throw IoError(where + object.owner + " is not built yet (build the model, or run it once, before saving)");
    }
  }
  std::string image;
  {
    QuietHdf5 quiet;
    image = file_image(layout, path, where);
  }
  write_file_atomically(path, image, where);
}

template <typename T>
void load_keras_weights(Module<T>& model, const std::string& path, const KerasLoadOptions& options) {
  const std::string where = "load_keras_weights: " + path + ": ";
  const Layout<T> layout = LayoutBuilder<T>(where).build(model);
  const std::uint64_t file_size = regular_file_size(path, where);
  const std::uint64_t max_free_bytes = options.max_bytes() ? options.max_bytes() : default_declared_bytes_limit(file_size);
  const std::vector<std::vector<Array<T>>> staged =
      options.trusted() ? detail::read_keras_weights_file<T>(path, layout.file, max_free_bytes, where)
                        : read_out_of_process<T>(path, layout.file, max_free_bytes, options, where);
  check_chains(layout, staged, where);
  // Every dataset is read and matches: only now does anything change.
  for (std::size_t i = 0; i < layout.file.objects.size(); ++i)
    if (!layout.file.objects[i].slots.empty()) layout.set[i](staged[i]);
}

template void save_keras_weights(const Module<float>&, const std::string&);
template void save_keras_weights(const Module<double>&, const std::string&);
template void load_keras_weights(Module<float>&, const std::string&, const KerasLoadOptions&);
template void load_keras_weights(Module<double>&, const std::string&, const KerasLoadOptions&);

}  // namespace xgrad::nn
