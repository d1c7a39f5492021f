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
#include "xgrad/nn/dense.hpp"
#include "xgrad/nn/embedding.hpp"
#include "xgrad/nn/sequential.hpp"
#include "xgrad/nn/recurrent.hpp"
#include "xgrad/tensor/file_io.hpp"
#include "xgrad/tensor/shape.hpp"

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

// One weight as Keras stores it: dataset "vars/<index>" of its object.
struct Slot {
  std::string what;                   // "kernel", "bias", ...
  std::vector<std::ptrdiff_t> shape;  // -1: any positive extent (an unbuilt layer's F)
};

std::string expected_shape_to_string(const std::vector<std::ptrdiff_t>& shape) {
  std::string out = "(";
  for (std::size_t i = 0; i < shape.size(); ++i)
    out += (i ? ", " : "") + (shape[i] < 0 ? std::string("None") : std::to_string(shape[i]));
  return out + (shape.size() == 1 ? ",)" : ")");
}

// One object Keras' _save_state visits: it gets a group at `path` with a
// "vars" subgroup holding its own variables (possibly none).
template <typename T>
struct Saveable {
  std::string path;   // Keras' inner_path: "" (the root), "layers/dense", "layers/simple_rnn/cell"
  std::string name;   // Keras' object name, the "vars" group's "name" attribute
  std::string owner;  // the xgrad layer, for messages: "layer 'dense' (Dense)"
  bool built = true;
  std::vector<Slot> slots;
  std::function<std::vector<Array<T>>()> get;                 // the weights, in slot order
  std::function<void(const std::vector<Array<T>>&)> set;      // set_weights of the layer
};

template <typename T>
struct Layout {
  std::vector<Saveable<T>> saveables;  // in Keras' visiting order
  std::set<std::string> containers;    // the lists Keras names children in: "layers"
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
    return strip_number_suffix(module.name());
  }

  void push(const std::string& path, const std::string& name, const std::string& owner, bool built,
            std::vector<Slot> slots, std::function<std::vector<Array<T>>()> get,
            std::function<void(const std::vector<Array<T>>&)> set) {
    layout_.saveables.push_back(
        {path, name, owner, built, std::move(slots), std::move(get), std::move(set)});
  }

  void add(Module<T>& module, const std::string& path, const std::string& name) {
    // Keras saves an object reachable twice only at its first path.
    if (!visited_.insert(&module).second) return;

    if (auto* sequential = dynamic_cast<Sequential<T>*>(&module)) {
      push(path, name, "model '" + name + "' (Sequential)", true, {}, nullptr, nullptr);
      const std::string container = join(path, "layers");
      layout_.containers.insert(container);
      std::map<std::string, std::size_t> used;  // Keras numbers repeats per class: dense, dense_1
      for (std::size_t i = 0; i < sequential->size(); ++i) {
        Module<T>& layer = *sequential->at(i);
        std::string key = class_key(layer);
        auto [entry, first] = used.emplace(key, 0);
        if (!first) key += "_" + std::to_string(++entry->second);
        add(layer, join(container, key), sequential->layer_names()[i]);
      }
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
      push(path, name, "layer '" + name + "' (Dense)", dense->built(), std::move(slots),
           [dense] { return dense->weights(); },
           [dense](const std::vector<Array<T>>& weights) { dense->set_weights(weights); });
      return;
    }
    if (auto* embedding = dynamic_cast<Embedding<T>*>(&module)) {
      const auto& options = embedding->options();
      std::vector<Slot> slots{{"embeddings",
                               {static_cast<std::ptrdiff_t>(options.input_dim()),
                                static_cast<std::ptrdiff_t>(options.output_dim())}}};
      push(path, name, "layer '" + name + "' (Embedding)", embedding->built(), std::move(slots),
           [embedding] { return embedding->weights(); },
           [embedding](const std::vector<Array<T>>& weights) { embedding->set_weights(weights); });
      return;
    }
    if (!module.named_parameters().empty()) {
      throw IoError(where_ + "layer '" + name +
                    "' has parameters but no Keras weights layout in xgrad (supported: Sequential, "
                    "SimpleRNN, LSTM, GRU, Bidirectional, Dense, Embedding, and layers without parameters)");
    }
    // Dropout, Masking...: Keras still visits them, with an empty "vars".
    push(path, name, "layer '" + name + "'", true, {}, nullptr, nullptr);
  }

  std::string where_;
  Layout<T> layout_;
  std::set<const Module<T>*> visited_;
};

// ---------------------------------------------------------------- save

template <typename T>
void write_dataset(hid_t group, const std::string& name, const Array<T>& value,
                   const std::string& where, const std::string& shown) {
  const std::vector<hsize_t> dims(value.shape().begin(), value.shape().end());
  Handle space(check_id(dims.empty() ? H5Screate(H5S_SCALAR)
                                     : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                        where, "cannot describe the shape of " + shown),
               H5Sclose);
  Handle dataset(check_id(H5Dcreate2(group, name.c_str(), file_type<T>(), space.get(), H5P_DEFAULT,
                                     H5P_DEFAULT, H5P_DEFAULT),
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
  for (const auto& saveable : layout.saveables) {
    const std::string vars = "/" + vars_of(saveable.path);
    Handle group(check_id(H5Gcreate2(file.get(), vars.c_str(), links.get(), H5P_DEFAULT, H5P_DEFAULT),
                          where, "cannot create group " + vars),
                 H5Gclose);
    write_name_attribute(group.get(), saveable.name, where, vars);
    if (saveable.slots.empty()) continue;
    const std::vector<Array<T>> weights = saveable.get();
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

// Checks a file against a model's layout and reads every weight, changing nothing.
template <typename T>
class Reader {
 public:
  Reader(hid_t file, const Layout<T>& layout, std::string where)
      : file_(file), layout_(layout), where_(std::move(where)) {
    for (const auto& saveable : layout_.saveables) saveables_[saveable.path] = &saveable;
  }

  // The weights of each saveable, in layout order.
  std::vector<std::vector<Array<T>>> read_all() {
    legacy_ = layout_.containers.count("layers") && !has_link("/layers") &&
              has_link(std::string("/") + legacy_container);
    walk("");
    std::vector<std::vector<Array<T>>> staged;
    for (const auto& saveable : layout_.saveables) {
      std::vector<Array<T>> values;
      for (std::size_t i = 0; i < saveable.slots.size(); ++i)
        values.push_back(read(saveable, i));
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

  std::vector<Member> members(const std::string& path) const {
    const std::string group_path = shown(path);
    Handle group(check_id(H5Gopen2(file_, group_path.c_str(), H5P_DEFAULT), where_,
                          "cannot open group " + group_path),
                 H5Gclose);
    std::vector<Member> out;
    hsize_t index = 0;
    check_status(H5Literate(group.get(), H5_INDEX_NAME, H5_ITER_INC, &index,
                            [](hid_t, const char* name, const H5L_info_t* info, void* data) -> herr_t {
                              static_cast<std::vector<Member>*>(data)->push_back({name, info->type});
                              return 0;
                            },
                            &out),
                 where_, "cannot list group " + group_path);
    return out;
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

  // Checks every link below the group at `path` (the root, a container or a
  // saveable): each must be one the model expects, except at the top level,
  // where training state (optimizer, metrics) is not the model's weights.
  void walk(const std::string& path) {
    found_groups_.insert(path);
    const auto own = saveables_.find(path);
    for (const Member& member : members(path)) {
      const std::string name = legacy_ && member.name == legacy_container ? "layers" : member.name;
      const std::string child = join(path, name);
      const bool is_vars = own != saveables_.end() && name == "vars";
      const bool expected = is_vars || saveables_.count(child) || layout_.containers.count(child);
      if (!expected) {
        if (path.empty()) continue;
        throw IoError(where_ + "unexpected " + (kind(member, child) == H5I_DATASET ? "dataset " : "group ") +
                      shown(child) + ": " + no_such_child(path));
      }
      if (kind(member, child) != H5I_GROUP) throw IoError(where_ + shown(child) + " is not a group");
      if (is_vars) {
        check_vars(*own->second);
      } else {
        walk(child);
      }
    }
  }

  std::string no_such_child(const std::string& path) const {
    if (!layout_.containers.count(path)) {
      const auto own = saveables_.find(path);
      return own == saveables_.end() ? "the model has nothing there"
                                     : own->second->owner + " has nothing of that name";
    }
    std::string layers;
    for (const auto& saveable : layout_.saveables) {
      const std::string prefix = path + "/";
      if (saveable.path.compare(0, prefix.size(), prefix) == 0 &&
          saveable.path.find('/', prefix.size()) == std::string::npos)
        layers += (layers.empty() ? "" : ", ") + saveable.path.substr(prefix.size());
    }
    return "the model has no such layer (its layers there: " + (layers.empty() ? "none" : layers) + ")";
  }

  // A "vars" group holds exactly datasets "0" .. "n-1", as Keras'
  // load_own_variables insists (it compares the counts).
  void check_vars(const Saveable<T>& saveable) {
    const std::string vars = vars_of(saveable.path);
    found_groups_.insert(vars);
    for (const Member& member : members(vars)) {
      const std::string child = join(vars, member.name);
      std::size_t index = saveable.slots.size();
      const bool digits = !member.name.empty() && member.name.size() < 10 &&
                          member.name.find_first_not_of("0123456789") == std::string::npos &&
                          (member.name == "0" || member.name[0] != '0');
      if (digits) index = std::stoul(member.name);
      if (index >= saveable.slots.size()) {
        throw IoError(where_ + "unexpected entry " + shown(child) + ": " + saveable.owner + " has " +
                      std::to_string(saveable.slots.size()) + " weights" + slot_list(saveable));
      }
      if (kind(member, child) != H5I_DATASET) throw IoError(where_ + shown(child) + " is not a dataset");
      found_datasets_.insert(child);
    }
  }

  std::string slot_list(const Saveable<T>& saveable) const {
    if (saveable.slots.empty()) return "";
    std::string out;
    for (std::size_t i = 0; i < saveable.slots.size(); ++i)
      out += (i ? ", " : "") + std::to_string(i) + " " + saveable.slots[i].what;
    return " (" + out + ")";
  }

  std::string expected(const Slot& slot) const {
    return std::string(dtype_name<T>()) + " of shape " + expected_shape_to_string(slot.shape);
  }

  Array<T> read(const Saveable<T>& saveable, std::size_t i) {
    const Slot& slot = saveable.slots[i];
    const std::string path = join(vars_of(saveable.path), std::to_string(i));
    const std::string what = " (" + slot.what + " of " + saveable.owner + ")";
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
    bool shape_ok = space_class != H5S_NULL && dims.size() == slot.shape.size();
    for (std::size_t d = 0; shape_ok && d < dims.size(); ++d)
      shape_ok = slot.shape[d] < 0 ? dims[d] > 0 : dims[d] == static_cast<hsize_t>(slot.shape[d]);
    if (!dtype_ok || !shape_ok) {
      const std::string found_shape = space_class == H5S_NULL ? "null (no data)" : shape_to_string(dims);
      throw IoError(where_ + name + what + ": expected " + expected(slot) + ", found " +
                    describe_type(type.get()) + " of shape " + found_shape);
    }
    Array<T> value = Array<T>::from_shape(Shape(dims.begin(), dims.end()));
    check_status(H5Dread(dataset.get(), memory_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, value.data()),
                 where_, "cannot read " + name);
    return value;
  }

  hid_t file_;
  const Layout<T>& layout_;
  std::string where_;
  bool legacy_ = false;
  std::map<std::string, const Saveable<T>*> saveables_;
  std::set<std::string> found_groups_;
  std::set<std::string> found_datasets_;
};

}  // namespace

template <typename T>
void save_keras_weights(const Module<T>& model, const std::string& path) {
  const std::string where = "save_keras_weights: " + path + ": ";
  // The layout also carries the setters load uses; save only reads through it.
  const Layout<T> layout = LayoutBuilder<T>(where).build(const_cast<Module<T>&>(model));
  for (const auto& saveable : layout.saveables) {
    if (!saveable.built) {
      throw IoError(where + saveable.owner +
                    " is not built yet (build the model, or run it once, before saving)");
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
void load_keras_weights(Module<T>& model, const std::string& path) {
  const std::string where = "load_keras_weights: " + path + ": ";
  const Layout<T> layout = LayoutBuilder<T>(where).build(model);
  // HDF5's message for a missing file is long; this one says it plainly.
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) throw IoError(where + "cannot open: " + std::strerror(errno));
  if (!S_ISREG(info.st_mode)) throw IoError(where + "cannot open: not a regular file");

  std::vector<std::vector<Array<T>>> staged;
  {
    QuietHdf5 quiet;
    Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
    if (!file.valid()) fail_hdf5(where, "not a readable HDF5 file");
    staged = Reader<T>(file.get(), layout, where).read_all();
  }
  // Every dataset is read and matches: only now does anything change.
  for (std::size_t i = 0; i < layout.saveables.size(); ++i)
    if (!layout.saveables[i].slots.empty()) layout.saveables[i].set(staged[i]);
}

template void save_keras_weights(const Module<float>&, const std::string&);
template void save_keras_weights(const Module<double>&, const std::string&);
template void load_keras_weights(Module<float>&, const std::string&);
template void load_keras_weights(Module<double>&, const std::string&);

}  // namespace xgrad::nn
