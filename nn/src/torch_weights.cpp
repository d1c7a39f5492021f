#include "xgrad/nn/torch_weights.hpp"

#include <map>
#include <type_traits>
#include <utility>
#include <vector>

#include <xtensor/xbuilder.hpp>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xoperation.hpp>

#include "xgrad/tensor/npy.hpp"

namespace xgrad::nn {

namespace {

template <typename T>
const char* dtype_name() {
  return std::is_same_v<T, float> ? "float32" : "float64";
}

// Why torch would have written an entry we do not take, when we can tell.
std::string hint_for(const std::string& name) {
  for (const std::string prefix : {"weight_ih_l", "weight_hh_l", "bias_ih_l", "bias_hh_l"}) {
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string rest = name.substr(prefix.size());
    if (rest.size() > 8 && rest.compare(rest.size() - 8, 8, "_reverse") == 0)
      return " (the RNN is bidirectional; only unidirectional ones can be imported)";
    return " (the RNN has num_layers > 1; only one-layer RNNs can be imported)";
  }
  for (const std::string own : {"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"}) {
    const std::string suffix = "." + own;
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      return " (the state dict of a bigger module; save the RNN's own rnn.state_dict())";
  }
  return "";
}

}  // namespace

template <typename T>
void load_torch_rnn_state_dict(SimpleRNN<T>& layer, const std::string& npz_path) {
  const std::string where = "load_torch_rnn_state_dict: " + npz_path + ": ";
  const auto entries = read_npz(npz_path);  // IoError naming the file if unreadable
  std::map<std::string, const NpyArray*> by_name;
  for (const auto& [name, array] : entries) {
    if (name != "weight_ih_l0" && name != "weight_hh_l0" && name != "bias_ih_l0" && name != "bias_hh_l0") {
      throw IoError(where + "entry '" + name + "' is not a weight of a one-layer nn.RNN" + hint_for(name) +
                    "; expected weight_ih_l0, weight_hh_l0[, bias_ih_l0, bias_hh_l0]");
    }
    by_name[name] = &array;
  }
  for (const char* required : {"weight_ih_l0", "weight_hh_l0"})
    if (!by_name.count(required)) throw IoError(where + "no entry '" + required + "'");
  const bool has_ih = by_name.count("bias_ih_l0") > 0;
  const bool has_hh = by_name.count("bias_hh_l0") > 0;
  if (has_ih != has_hh) {
    throw IoError(where + "entry '" + (has_ih ? "bias_ih_l0" : "bias_hh_l0") + "' without '" +
                  (has_ih ? "bias_hh_l0" : "bias_ih_l0") + "': nn.RNN has both biases or neither");
  }

  const std::size_t units = layer.options().units();
  const NpyArray& weight_ih = *by_name["weight_ih_l0"];
  const std::size_t features = layer.built() ? layer.input_features()
                               : weight_ih.shape.size() == 2 && weight_ih.shape[1] > 0 ? weight_ih.shape[1]
                                                                                       : 0;
  // Check everything first, then set: a failed import changes nothing.
  auto check = [&](const std::string& name, const Shape& want) -> Array<T> {
    const NpyArray& array = *by_name[name];
    if (array.dtype != dtype_name<T>()) {
      throw IoError(where + "entry '" + name + "' has dtype " + array.dtype + ", the layer is " +
                    dtype_name<T>());
    }
    if (features == 0 || array.shape != want) {
      const std::string wanted =
          features == 0 ? "(" + std::to_string(units) + ", features)" : shape_to_string(want);
      throw IoError(where + "entry '" + name + "' has shape " + shape_to_string(array.shape) + ", expected " +
                    wanted + " for " + std::to_string(units) + " units" +
                    (layer.built() ? " and " + std::to_string(features) + " input features" : ""));
    }
    return array.as<T>();
  };
  const Array<T> kernel = xt::transpose(check("weight_ih_l0", {units, features}));
  const Array<T> recurrent_kernel = xt::transpose(check("weight_hh_l0", {units, units}));
  Array<T> bias = xt::zeros<T>({units});
  if (has_ih) {
    const Array<T> bias_ih = check("bias_ih_l0", {units});
    const Array<T> bias_hh = check("bias_hh_l0", {units});
    if (!layer.options().use_bias()) {
      for (const char* name : {"bias_ih_l0", "bias_hh_l0"}) {
        const Array<T>& b = std::string(name) == "bias_ih_l0" ? bias_ih : bias_hh;
        for (const T v : b) {
          if (v != T(0)) {
            throw IoError(where + "entry '" + name +
                          "' is not zero, but the layer has no bias (use_bias false); build it with "
                          "use_bias(true) to import torch's biases");
          }
        }
      }
    }
    bias = bias_ih + bias_hh;
  }
  std::vector<Array<T>> weights{kernel, recurrent_kernel};
  if (layer.options().use_bias()) weights.push_back(bias);
  layer.set_weights(weights);
}

template void load_torch_rnn_state_dict(SimpleRNN<float>&, const std::string&);
template void load_torch_rnn_state_dict(SimpleRNN<double>&, const std::string&);

}  // namespace xgrad::nn
