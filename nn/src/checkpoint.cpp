#include "xgrad/nn/checkpoint.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <type_traits>

namespace xgrad::nn {

namespace {
template <typename T>
const char* dtype_name() {
  return std::is_same_v<T, float> ? "float32" : "float64";
}

// An entry's dtype and shape against its parameter's.
template <typename T>
void check_matches(const std::string& where, const std::string& name, const std::string& dtype, const Shape& shape,
                   const Shape& parameter_shape) {
  if (dtype != dtype_name<T>())
    throw IoError(where + "entry '" + name + "' has dtype " + dtype + ", the parameter is " + dtype_name<T>());
  if (!shapes_equal(shape, parameter_shape))
    throw IoError(where + "entry '" + name + "' has shape " + shape_to_string(shape) +
                  ", the parameter has shape " + shape_to_string(parameter_shape));
}

bool is_positional(const std::vector<std::pair<std::string, NpyArray>>& entries) {
  for (std::size_t i = 0; i < entries.size(); ++i)
    if (entries[i].first != "arr_" + std::to_string(i)) return false;
  return !entries.empty();
}
}  // namespace

template <typename T>
void save(const Module<T>& module, const std::string& path) {
  std::vector<std::pair<std::string, Array<T>>> entries;
  for (const auto& [name, parameter] : module.named_parameters())
    entries.emplace_back(name, parameter.value());
  if (entries.empty()) {
    throw IoError("save: " + path + ": module '" + module.name() +
                  "' has no parameters yet (build it, or run it once, before saving)");
  }
  write_npz(path, entries);
}

template <typename T>
void load(Module<T>& module, const std::string& path) {
  auto parameters = module.named_parameters();
  if (parameters.empty()) {
    throw IoError("load: " + path + ": module '" + module.name() +
                  "' has no parameters yet (build it, or run it once, before loading)");
  }
  const std::string where = "load: " + path + ": ";
  // A named entry's header is checked against its parameter before its data
  // is inflated; the unnamed arr_0, arr_1 ... are matched after reading, once
  // their count is known. The file may inflate to no more than the
  // parameters (and their .npy headers) take.
  std::uint64_t parameter_bytes = 0;
  for (const auto& parameter : parameters)
    parameter_bytes += parameter.second.value().size() * sizeof(T) + (std::uint64_t{1} << 16);
  auto check_entry = [&](const std::string& name, const std::string& dtype, const Shape& shape) {
    std::size_t position = 0;
    if (std::sscanf(name.c_str(), "arr_%zu", &position) == 1 && name == "arr_" + std::to_string(position)) return;
    const auto parameter = std::find_if(parameters.begin(), parameters.end(),
                                        [&](const auto& candidate) { return candidate.first == name; });
    if (parameter == parameters.end())
      throw IoError(where + "entry '" + name + "' matches no parameter of module '" + module.name() + "'");
    check_matches<T>(where, name, dtype, shape, to_shape(parameter->second.shape()));
  };
  const auto entries = read_npz(path, NpzReadOptions().max_bytes(parameter_bytes).check_entry(check_entry));
  std::map<std::string, const NpyArray*> by_name;
  if (is_positional(entries)) {
    if (entries.size() != parameters.size()) {
      throw IoError(where + "the file holds " + std::to_string(entries.size()) +
                    " unnamed arrays (arr_0, ...), module '" + module.name() + "' has " +
                    std::to_string(parameters.size()) + " parameters");
    }
    for (std::size_t i = 0; i < entries.size(); ++i)
      by_name[parameters[i].first] = &entries[i].second;
  } else {
    for (const auto& [name, array] : entries) by_name[name] = &array;
  }
  for (const auto& entry : by_name) {
    bool known = false;
    for (const auto& parameter : parameters) known = known || parameter.first == entry.first;
    if (!known) {
      throw IoError(where + "entry '" + entry.first + "' matches no parameter of module '" +
                    module.name() + "'");
    }
  }
  // Check everything first, then assign: a failed load changes nothing.
  std::vector<Array<T>> values;
  for (const auto& [name, parameter] : parameters) {
    const auto found = by_name.find(name);
    if (found == by_name.end()) {
      throw IoError(where + "no entry for parameter '" + name + "' of shape " +
                    shape_to_string(parameter.shape()));
    }
    const NpyArray& array = *found->second;
    check_matches<T>(where, name, array.dtype, array.shape, to_shape(parameter.shape()));
    values.push_back(array.as<T>());
  }
  for (std::size_t i = 0; i < parameters.size(); ++i)
    parameters[i].second.value() = std::move(values[i]);
}

template void save(const Module<float>&, const std::string&);
template void save(const Module<double>&, const std::string&);
template void load(Module<float>&, const std::string&);
template void load(Module<double>&, const std::string&);

}  // namespace xgrad::nn
