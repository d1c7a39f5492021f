#include "xgrad/nn/training_state.hpp"

#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <type_traits>

#include "xgrad/tensor/npy.hpp"

namespace xgrad::nn {

namespace {

constexpr std::int64_t format_version = 1;
const std::string version_entry = "training_state/version";

template <typename T>
const char* dtype_name() {
  return std::is_same_v<T, float> ? "float32" : "float64";
}

NpyArray int64_scalar(std::size_t value) {
  return NpyArray::from(Array<std::int64_t>(Shape{}, static_cast<std::int64_t>(value)));
}

// uint64 words stored as int64 with the same bits (.npz has no uint64 here).
NpyArray words_array(const std::vector<std::uint64_t>& words) {
  Array<std::int64_t> out = Array<std::int64_t>::from_shape({words.size()});
  std::memcpy(out.data(), words.data(), words.size() * sizeof(std::uint64_t));
  return NpyArray::from(out);
}

NpyArray doubles_array(const std::vector<double>& values) {
  Array<double> out = Array<double>::from_shape({values.size()});
  std::copy(values.begin(), values.end(), out.data());
  return NpyArray::from(out);
}

// The entries of a training-state file by name, each taken at most once,
// with its dtype and shape checked; IoError names the file and the entry.
class Entries {
 public:
  Entries(std::string where, std::vector<std::pair<std::string, NpyArray>> entries)
      : where_(std::move(where)), entries_(std::move(entries)) {
    for (const auto& [name, array] : entries_) by_name_[name] = &array;
  }

  bool has(const std::string& name) const { return by_name_.count(name) > 0; }

  // Entry `name` of `dtype`; of `shape` when given.
  const NpyArray& take(const std::string& name, const std::string& dtype,
                       const std::optional<Shape>& shape = std::nullopt) {
    const auto found = by_name_.find(name);
    if (found == by_name_.end()) {
      throw IoError(where_ + "no entry '" + name + "'" +
                    (shape ? " (expected shape " + shape_to_string(*shape) + ")" : std::string()));
    }
    const NpyArray& array = *found->second;
    if (array.dtype != dtype) {
      throw IoError(where_ + "entry '" + name + "' has dtype " + array.dtype + ", expected " + dtype);
    }
    if (shape && !shapes_equal(array.shape, *shape)) {
      throw IoError(where_ + "entry '" + name + "' has shape " + shape_to_string(array.shape) +
                    ", expected " + shape_to_string(*shape));
    }
    taken_.insert(name);
    return array;
  }

  std::size_t take_count(const std::string& name) {
    const std::int64_t value = take(name, "int64", Shape{}).as<std::int64_t>()();
    if (value < 0) throw IoError(where_ + "entry '" + name + "' is negative (" + std::to_string(value) + ")");
    return static_cast<std::size_t>(value);
  }

  std::vector<std::uint64_t> take_words(const std::string& name) {
    const NpyArray& array = take(name, "int64");
    if (array.shape.size() != 1) {
      throw IoError(where_ + "entry '" + name + "' has shape " + shape_to_string(array.shape) +
                    ", expected one axis");
    }
    const Array<std::int64_t> values = array.as<std::int64_t>();
    std::vector<std::uint64_t> words(values.size());
    std::memcpy(words.data(), values.data(), words.size() * sizeof(std::uint64_t));
    return words;
  }

  // The names after `prefix`, in file order.
  std::vector<std::string> names_under(const std::string& prefix) const {
    std::vector<std::string> out;
    for (const auto& entry : entries_)
      if (entry.first.rfind(prefix, 0) == 0) out.push_back(entry.first.substr(prefix.size()));
    return out;
  }

  // Throws for an entry nothing took: the file is of another model or run.
  void check_all_taken() const {
    for (const auto& entry : entries_) {
      if (!taken_.count(entry.first)) {
        throw IoError(where_ + "entry '" + entry.first +
                      "' matches nothing of this model, optimizer or run (was the file saved by a "
                      "different model?)");
      }
    }
  }

  const std::string& where() const { return where_; }

 private:
  std::string where_;
  std::vector<std::pair<std::string, NpyArray>> entries_;
  std::map<std::string, const NpyArray*> by_name_;
  std::set<std::string> taken_;
};

// A generator restored from `words`, checked (IoError naming the entry).
Generator generator_from(const std::vector<std::uint64_t>& words, const std::string& where,
                         const std::string& entry) {
  Generator restored;
  try {
    set_generator_state(restored, words, "entry '" + entry + "'");
  } catch (const std::invalid_argument& e) {
    throw IoError(where + e.what());
  }
  return restored;
}

}  // namespace

template <typename T>
void save_training_state(const std::string& path, const Module<T>& model,
                         const Optimizer<T>& optimizer, const RunState& run) {
  const auto parameters = model.named_parameters();
  if (parameters.empty()) {
    throw IoError("save_training_state: " + path + ": module '" + model.name() +
                  "' has no parameters yet (build it, or run it once, before saving)");
  }
  std::vector<std::pair<std::string, NpyArray>> entries;
  entries.emplace_back(version_entry, int64_scalar(format_version));
  for (const auto& [name, parameter] : parameters)
    entries.emplace_back("model/" + name, NpyArray::from(parameter.value()));

  const typename Optimizer<T>::State state = optimizer.state();
  const std::string prefix = "optimizer/" + state.optimizer + "/";
  entries.emplace_back(prefix + "iterations", int64_scalar(state.iterations));
  entries.emplace_back(prefix + "skipped_steps", int64_scalar(state.skipped_steps));
  entries.emplace_back(prefix + "learning_rate",
                       NpyArray::from(Array<double>(Shape{}, state.learning_rate)));
  for (const auto& [slot, value] : state.slots) entries.emplace_back(prefix + slot, NpyArray::from(value));

  entries.emplace_back("progress/epoch", int64_scalar(run.progress.epoch));
  entries.emplace_back("progress/batch", int64_scalar(run.progress.batch));
  if (!run.epoch_order.empty()) {
    Array<std::int64_t> order = Array<std::int64_t>::from_shape({run.epoch_order.size()});
    std::copy(run.epoch_order.begin(), run.epoch_order.end(), order.data());
    entries.emplace_back("progress/epoch_order", NpyArray::from(order));
  }
  entries.emplace_back("random/generator", words_array(generator_state(generator())));
  if (!run.shuffle_generator.empty())
    entries.emplace_back("random/shuffle_generator", words_array(run.shuffle_generator));
  for (const auto& [name, own] : model.named_generators())
    entries.emplace_back("random/model/" + name, words_array(generator_state(*own)));
  for (const auto& [name, values] : run.metrics) entries.emplace_back("metrics/" + name, doubles_array(values));
  write_npz(path, entries);
}

template <typename T>
RunState load_training_state(const std::string& path, Module<T>& model, Optimizer<T>& optimizer) {
  const std::string where = "load_training_state: " + path + ": ";
  auto parameters = model.named_parameters();
  if (parameters.empty()) {
    throw IoError(where + "module '" + model.name() +
                  "' has no parameters yet (build it, or run it once, before loading)");
  }
  Entries file(where, read_npz(path));
  if (!file.has(version_entry)) {
    throw IoError(where + "not a training state (no entry '" + version_entry +
                  "'); a weights checkpoint loads with nn::load");
  }
  const std::size_t version = file.take_count(version_entry);
  if (version != format_version) {
    throw IoError(where + "training state version " + std::to_string(version) +
                  "; this xgrad reads version " + std::to_string(format_version));
  }

  // Everything is read and checked first; only then does anything change.
  std::vector<Array<T>> weights;
  for (const auto& [name, parameter] : parameters) {
    const Shape shape = to_shape(parameter.shape());
    weights.push_back(file.take("model/" + name, dtype_name<T>(), shape).template as<T>());
  }

  typename Optimizer<T>::State state;
  state.optimizer = optimizer.name();
  const std::string prefix = "optimizer/" + state.optimizer + "/";
  if (!file.has(prefix + "iterations")) {
    const auto saved = file.names_under("optimizer/");
    const std::string other = saved.empty() ? "none" : saved.front().substr(0, saved.front().find('/'));
    throw IoError(where + "the file holds the state of optimizer " + other + ", this one is " +
                  state.optimizer);
  }
  state.iterations = file.take_count(prefix + "iterations");
  state.skipped_steps = file.take_count(prefix + "skipped_steps");
  state.learning_rate = file.take(prefix + "learning_rate", "float64", Shape{}).as<double>()();
  const auto expected_slots = optimizer.state().slots;
  for (const auto& [slot, value] : expected_slots) {
    const Shape shape = to_shape(value.shape());
    state.slots.emplace_back(slot, file.take(prefix + slot, dtype_name<T>(), shape).template as<T>());
  }

  RunState run;
  run.progress.epoch = file.take_count("progress/epoch");
  run.progress.batch = file.take_count("progress/batch");
  if (file.has("progress/epoch_order")) {
    const NpyArray& array = file.take("progress/epoch_order", "int64");
    if (array.shape.size() != 1) {
      throw IoError(where + "entry 'progress/epoch_order' has shape " + shape_to_string(array.shape) +
                    ", expected one axis");
    }
    const Array<std::int64_t> order = array.as<std::int64_t>();
    for (const std::int64_t index : order) {
      if (index < 0) throw IoError(where + "entry 'progress/epoch_order' holds a negative index");
      run.epoch_order.push_back(static_cast<std::size_t>(index));
    }
  }
  const Generator global = generator_from(file.take_words("random/generator"), where, "random/generator");
  if (file.has("random/shuffle_generator")) {
    run.shuffle_generator = file.take_words("random/shuffle_generator");
    generator_from(run.shuffle_generator, where, "random/shuffle_generator");
  }
  std::vector<std::pair<Generator*, Generator>> own;
  for (const auto& [name, generator_of_model] : model.named_generators()) {
    const std::string entry = "random/model/" + name;
    own.emplace_back(generator_of_model, generator_from(file.take_words(entry), where, entry));
  }
  for (const std::string& name : file.names_under("metrics/")) {
    const NpyArray& array = file.take("metrics/" + name, "float64");
    if (array.shape.size() != 1) {
      throw IoError(where + "entry 'metrics/" + name + "' has shape " + shape_to_string(array.shape) +
                    ", expected one axis");
    }
    const Array<double> values = array.as<double>();
    run.metrics.emplace_back(name, std::vector<double>(values.begin(), values.end()));
  }
  file.check_all_taken();

  try {
    optimizer.load_state(state);  // checks its own, changes nothing on failure
  } catch (const std::invalid_argument& e) {
    throw IoError(where + e.what());
  }
  for (std::size_t i = 0; i < parameters.size(); ++i) parameters[i].second.value() = std::move(weights[i]);
  generator() = global;
  for (auto& [target, restored] : own) *target = restored;
  return run;
}

template void save_training_state(const std::string&, const Module<float>&, const Optimizer<float>&,
                                  const RunState&);
template void save_training_state(const std::string&, const Module<double>&, const Optimizer<double>&,
                                  const RunState&);
template RunState load_training_state(const std::string&, Module<float>&, Optimizer<float>&);
template RunState load_training_state(const std::string&, Module<double>&, Optimizer<double>&);

}  // namespace xgrad::nn
