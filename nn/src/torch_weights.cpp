#include "xgrad/nn/torch_weights.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <memory>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>
#include <xtensor/xbuilder.hpp>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xoperation.hpp>

#include "xgrad/nn/bidirectional.hpp"
#include "xgrad/nn/dropout.hpp"
#include "xgrad/tensor/npy.hpp"

namespace xgrad::nn {

namespace {

// One shared import for the three modules and both ways of calling it: the
// one-layer functions make one Slot, the Sequential one a Slot per layer and
// direction; import_slots reads the file, checks every entry of every slot,
// converts, and only then sets the layers.

enum class TorchModule { rnn, lstm, gru };

const char* module_name(TorchModule module) {
  switch (module) {
    case TorchModule::lstm:
      return "nn.LSTM";
    case TorchModule::gru:
      return "nn.GRU";
    default:
      return "nn.RNN";
  }
}

std::size_t gates_of(TorchModule module) {
  switch (module) {
    case TorchModule::lstm:
      return 4;
    case TorchModule::gru:
      return 3;
    default:
      return 1;
  }
}

template <typename T>
const char* dtype_name() {
  return std::is_same_v<T, float> ? "float32" : "float64";
}

template <typename T>
std::string describe(const RecurrentLayer<T>& layer) {
  return layer.kind() + " '" + layer.name() + "'";
}

// The torch module a layer takes weights from. Throws std::invalid_argument
// for a layer that cannot compute that module's function whatever its
// weights: a GRU with reset_after false, an LSTM or GRU with activations
// other than torch's tanh and sigmoid.
template <typename T>
TorchModule torch_module_of(const RecurrentLayer<T>& layer, const std::string& where) {
  if (dynamic_cast<const SimpleRNN<T>*>(&layer)) return TorchModule::rnn;
  auto check_activations = [&](Activation activation, Activation recurrent_activation, const char* module) {
    if (activation != Activation::tanh || recurrent_activation != Activation::sigmoid) {
      throw std::invalid_argument(where + describe(layer) + " has activation '" + activation_name(activation) +
                                  "' and recurrent_activation '" + activation_name(recurrent_activation) +
                                  "', but torch's " + module + " computes with 'tanh' and 'sigmoid'");
    }
  };
  if (const auto* lstm = dynamic_cast<const LSTM<T>*>(&layer)) {
    check_activations(lstm->options().activation(), lstm->options().recurrent_activation(), "nn.LSTM");
    return TorchModule::lstm;
  }
  if (const auto* gru = dynamic_cast<const GRU<T>*>(&layer)) {
    if (!gru->options().reset_after()) {
      throw std::invalid_argument(where + describe(layer) +
                                  " has reset_after false, but torch's nn.GRU is Keras' reset_after=True "
                                  "(r scales the recurrent product and its bias); build it with "
                                  "GRUOptions(U).reset_after(true)");
    }
    check_activations(gru->options().activation(), gru->options().recurrent_activation(), "nn.GRU");
    return TorchModule::gru;
  }
  throw std::invalid_argument(where + describe(layer) + " is not a SimpleRNN, LSTM or GRU");
}

// One direction of one torch layer and the xgrad layer it goes to.
template <typename T>
struct Slot {
  RecurrentLayer<T>* layer;
  std::string suffix;    // "_l0", "_l1_reverse"
  std::size_t features;  // F the weights must be for; 0: the file's
  std::string target;    // "" or " (model layer 1 'lstm_1')" for messages
  // With features 0: the slot whose F this one must share (a bidirectional
  // layer's forward slot for its backward one), or -1 for none.
  int features_of = -1;
};

// What the file must hold: `layers` torch layers, each with a _reverse
// direction when bidirectional. `for_model` says which function reads it,
// for the hints.
struct Layout {
  TorchModule module;
  std::size_t layers;
  bool bidirectional;
  bool for_model;
};

// The layer and direction of a torch entry name ("weight_ih_l1_reverse":
// layer 1, reverse); false for a name of another form.
bool parse_torch_name(const std::string& name, std::size_t& layer, bool& reverse) {
  for (const std::string prefix : {"weight_ih_l", "weight_hh_l", "bias_ih_l", "bias_hh_l"}) {
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    std::size_t i = prefix.size();
    std::size_t digits = 0;
    layer = 0;
    for (; i < name.size() && std::isdigit(static_cast<unsigned char>(name[i])) && digits < 6; ++i, ++digits)
      layer = layer * 10 + static_cast<std::size_t>(name[i] - '0');
    const std::string rest = name.substr(i);
    if (digits == 0 || (!rest.empty() && rest != "_reverse")) return false;
    reverse = !rest.empty();
    return true;
  }
  return false;
}

// Why torch would have written an entry the layout does not take, when we
// can tell.
std::string hint_for(const std::string& name, const Layout& layout) {
  const std::string module = module_name(layout.module);
  std::size_t layer = 0;
  bool reverse = false;
  if (parse_torch_name(name, layer, reverse)) {
    if (reverse && !layout.bidirectional) {
      return layout.for_model
                 ? " (the " + module + " is bidirectional; the model's recurrent layers are not Bidirectional)"
                 : " (the " + module +
                       " is bidirectional; import it into a Sequential of Bidirectional layers "
                       "with load_torch_recurrent_state_dict)";
    }
    if (layer >= layout.layers) {
      return layout.for_model
                 ? " (the " + module + " has num_layers > " + std::to_string(layout.layers) + ", the model " +
                       std::to_string(layout.layers) + " recurrent layer" + (layout.layers == 1 ? ")" : "s)")
                 : " (the " + module +
                       " has num_layers > 1; import it into a Sequential with "
                       "load_torch_recurrent_state_dict)";
    }
    return "";
  }
  const std::size_t dot = name.rfind('.');
  if (dot != std::string::npos && parse_torch_name(name.substr(dot + 1), layer, reverse))
    return " (the state dict of a bigger module; save the recurrent module's own state_dict(), as "
           "rnn.state_dict())";
  return "";
}

std::string expected_names(const Layout& layout) {
  if (layout.layers == 1 && !layout.bidirectional) return "weight_ih_l0, weight_hh_l0[, bias_ih_l0, bias_hh_l0]";
  std::string suffixes;
  for (std::size_t k = 0; k < layout.layers; ++k) {
    suffixes += (k ? ", _l" : "_l") + std::to_string(k);
    if (layout.bidirectional) suffixes += ", _l" + std::to_string(k) + "_reverse";
  }
  return "weight_ih, weight_hh[, bias_ih, bias_hh] with each of " + suffixes;
}

std::string module_text(const Layout& layout) {
  if (!layout.for_model) return std::string("a one-layer ") + module_name(layout.module);
  return "a " + std::to_string(layout.layers) + "-layer " + (layout.bidirectional ? "bidirectional " : "") +
         module_name(layout.module);
}

// torch's rows [G·U, ...] with GRU's blocks r, z, n put in Keras' order z,
// r, h (the blocks are contiguous runs of the row-major data); other
// modules' order is Keras' already.
template <typename T>
Array<T> keras_block_order(Array<T> rows, TorchModule module) {
  if (module != TorchModule::gru) return rows;
  const std::size_t block = rows.size() / 3;
  Array<T> out = Array<T>::from_shape(rows.shape());
  std::copy_n(rows.begin() + block, block, out.begin());                  // z: torch's block 1
  std::copy_n(rows.begin(), block, out.begin() + block);                  // r: torch's block 0
  std::copy_n(rows.begin() + 2 * block, block, out.begin() + 2 * block);  // h: torch's n
  return out;
}

template <typename T>
void import_slots(const std::string& where, const std::string& npz_path, const Layout& layout,
                  const std::vector<Slot<T>>& slots) {
  std::vector<std::string> known;
  for (const Slot<T>& slot : slots)
    for (const char* stem : {"weight_ih", "weight_hh", "bias_ih", "bias_hh"}) known.push_back(stem + slot.suffix);
  // Names are checked as each entry's header is read, before its data is.
  auto check_name = [&](const std::string& name, const std::string&, const Shape&) {
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      throw IoError(where + "entry '" + name + "' is not a weight of " + module_text(layout) +
                    hint_for(name, layout) + "; expected " + expected_names(layout));
    }
  };
  // IoError naming the file if unreadable
  const auto entries = read_npz(npz_path, NpzReadOptions().check_entry(check_name));
  std::map<std::string, const NpyArray*> by_name;
  for (const auto& [name, array] : entries) by_name[name] = &array;

  const TorchModule module = layout.module;
  const std::size_t gates = gates_of(module);
  std::vector<std::vector<Array<T>>> converted;
  std::vector<std::size_t> resolved_features;  // each slot's F, as checked
  for (const Slot<T>& slot : slots) {
    const std::string weight_ih = "weight_ih" + slot.suffix, weight_hh = "weight_hh" + slot.suffix;
    const std::string bias_ih = "bias_ih" + slot.suffix, bias_hh = "bias_hh" + slot.suffix;
    for (const std::string& required : {weight_ih, weight_hh})
      if (!by_name.count(required)) throw IoError(where + "no entry '" + required + "'" + slot.target);
    const bool has_ih = by_name.count(bias_ih) > 0;
    const bool has_hh = by_name.count(bias_hh) > 0;
    if (has_ih != has_hh) {
      throw IoError(where + "entry '" + (has_ih ? bias_ih : bias_hh) + "' without '" +
                    (has_ih ? bias_hh : bias_ih) + "': " + module_name(module) + " has both biases or neither" +
                    slot.target);
    }

    RecurrentLayer<T>& layer = *slot.layer;
    const std::size_t units = layer.options().units();
    const NpyArray& ih = *by_name[weight_ih];
    const std::size_t shared = slot.features == 0 && slot.features_of >= 0
                                   ? resolved_features[static_cast<std::size_t>(slot.features_of)]
                                   : slot.features;
    const bool features_known = shared > 0;
    const std::size_t features = features_known                            ? shared
                                 : ih.shape.size() == 2 && ih.shape[1] > 0 ? ih.shape[1]
                                                                           : 0;
    auto check = [&](const std::string& name, const Shape& want) -> Array<T> {
      const NpyArray& array = *by_name[name];
      if (array.dtype != dtype_name<T>()) {
        throw IoError(where + "entry '" + name + "' has dtype " + array.dtype + ", the layer is " +
                      dtype_name<T>() + slot.target);
      }
      if (features == 0 || array.shape != want) {
        const std::string wanted =
            features == 0 ? "(" + std::to_string(gates * units) + ", features)" : shape_to_string(want);
        throw IoError(where + "entry '" + name + "' has shape " + shape_to_string(array.shape) + ", expected " +
                      wanted + " for " + std::to_string(units) + " units" +
                      (gates > 1 ? " (" + std::to_string(gates) + " gates)" : std::string()) +
                      (features_known ? " and " + std::to_string(features) + " input features" : std::string()) +
                      slot.target);
      }
      return array.as<T>();
    };
    const std::size_t rows = gates * units;
    std::vector<Array<T>> weights{xt::transpose(keras_block_order(check(weight_ih, {rows, features}), module)),
                                  xt::transpose(keras_block_order(check(weight_hh, {rows, units}), module))};
    Array<T> b_ih = xt::zeros<T>({rows});
    Array<T> b_hh = xt::zeros<T>({rows});
    if (has_ih) {
      b_ih = check(bias_ih, {rows});
      b_hh = check(bias_hh, {rows});
      if (!layer.options().use_bias()) {
        for (const auto& [name, b] :
             {std::pair<const std::string&, const Array<T>&>{bias_ih, b_ih}, {bias_hh, b_hh}}) {
          if (std::any_of(b.begin(), b.end(), [](T v) { return v != T(0); })) {
            throw IoError(where + "entry '" + name +
                          "' is not zero, but the layer has no bias (use_bias false); build it with "
                          "use_bias(true) to import torch's biases" +
                          slot.target);
          }
        }
      }
    }
    if (layer.options().use_bias()) {
      if (module == TorchModule::gru) {
        // Keras' reset_after bias [2, 3U]: row 0 the input bias, row 1 the recurrent one.
        Array<T> bias = Array<T>::from_shape({2, rows});
        const Array<T> input = keras_block_order(b_ih, module), recurrent = keras_block_order(b_hh, module);
        std::copy(input.begin(), input.end(), bias.begin());
        std::copy(recurrent.begin(), recurrent.end(), bias.begin() + rows);
        weights.push_back(std::move(bias));
      } else {
        weights.push_back(b_ih + b_hh);
      }
    }
    converted.push_back(std::move(weights));
    resolved_features.push_back(features);
  }
  // Every entry is good: now set (set_weights checks the shapes again).
  for (std::size_t i = 0; i < slots.size(); ++i) slots[i].layer->set_weights(converted[i]);
}

template <typename T>
void import_one_layer(const char* function, RecurrentLayer<T>& layer, const std::string& npz_path) {
  const std::string where = std::string(function) + ": " + npz_path + ": ";
  const TorchModule module = torch_module_of(layer, where);
  const Slot<T> slot{&layer, "_l0", layer.built() ? layer.input_features() : 0, ""};
  import_slots<T>(where, npz_path, Layout{module, 1, false, false}, {slot});
}

}  // namespace

template <typename T>
void load_torch_rnn_state_dict(SimpleRNN<T>& layer, const std::string& npz_path) {
  import_one_layer<T>("load_torch_rnn_state_dict", layer, npz_path);
}

template <typename T>
void load_torch_lstm_state_dict(LSTM<T>& layer, const std::string& npz_path) {
  import_one_layer<T>("load_torch_lstm_state_dict", layer, npz_path);
}

template <typename T>
void load_torch_gru_state_dict(GRU<T>& layer, const std::string& npz_path) {
  import_one_layer<T>("load_torch_gru_state_dict", layer, npz_path);
}

template <typename T>
void load_torch_recurrent_state_dict(Sequential<T>& model, const std::string& npz_path) {
  const std::string where = "load_torch_recurrent_state_dict: " + npz_path + ": ";
  // The model's recurrent layers in order: a plain one has no backward layer.
  struct Found {
    std::size_t index;
    std::shared_ptr<RecurrentLayer<T>> forward, backward;
    const Bidirectional<T>* bidirectional;
  };
  std::vector<Found> found;
  std::vector<std::size_t> others_after_first;  // non-recurrent layers after the first recurrent one
  for (std::size_t i = 0; i < model.size(); ++i) {
    const std::shared_ptr<Module<T>> module = model.template at<Module<T>>(i);
    if (auto layer = std::dynamic_pointer_cast<RecurrentLayer<T>>(module)) {
      found.push_back({i, layer, nullptr, nullptr});
    } else if (auto bi = std::dynamic_pointer_cast<Bidirectional<T>>(module)) {
      found.push_back({i, bi->forward_layer(), bi->backward_layer(), bi.get()});
    } else if (!found.empty()) {
      others_after_first.push_back(i);
    }
  }
  const auto& names = model.layer_names();
  auto at = [&](std::size_t i) { return "model layer " + std::to_string(i) + " '" + names[i] + "'"; };
  if (found.empty()) {
    throw std::invalid_argument(where +
                                "the model has no recurrent layer (SimpleRNN, LSTM, GRU, or a "
                                "Bidirectional of one) to take the weights");
  }
  // Only Dropout between two recurrent layers: torch feeds layer k+1 layer k's output.
  for (const std::size_t i : others_after_first) {
    if (i < found.back().index && !std::dynamic_pointer_cast<Dropout<T>>(model.template at<Module<T>>(i))) {
      throw std::invalid_argument(where + at(i) +
                                  " stands between two recurrent layers; torch feeds each layer the output of "
                                  "the one below (only a Dropout may stand between, as torch's dropout)");
    }
  }
  const bool bidirectional = found[0].bidirectional != nullptr;
  const TorchModule module = torch_module_of(*found[0].forward, where + at(found[0].index) + ": ");
  for (std::size_t k = 0; k < found.size(); ++k) {
    const Found& f = found[k];
    if ((f.bidirectional != nullptr) != bidirectional) {
      throw std::invalid_argument(
          where + at(f.index) + (bidirectional ? " is not" : " is") + " Bidirectional but " + at(found[0].index) +
          (bidirectional ? " is" : " is not") + ": a torch module is bidirectional in every layer or in none");
    }
    for (const auto* layer : {f.forward.get(), f.backward.get()}) {
      if (layer && torch_module_of(*layer, where + at(f.index) + ": ") != module) {
        throw std::invalid_argument(where + at(f.index) + " holds " + describe(*layer) + " but " +
                                    at(found[0].index) + " holds " + describe(*found[0].forward) +
                                    ": one torch module has one kind of layer");
      }
    }
    if (k + 1 < found.size()) {
      if (!f.forward->options().return_sequences()) {
        throw std::invalid_argument(where + at(f.index) +
                                    " must have return_sequences: torch's next layer reads its every step");
      }
      if (f.bidirectional && f.bidirectional->merge_mode() != std::optional<std::string>("concat")) {
        throw std::invalid_argument(where + at(f.index) + " has merge_mode '" +
                                    f.bidirectional->merge_mode().value_or("none") +
                                    "'; torch's next layer reads the concatenation (merge_mode \"concat\")");
      }
    }
  }

  std::vector<Slot<T>> slots;
  for (std::size_t k = 0; k < found.size(); ++k) {
    const Found& f = found[k];
    // Layer k > 0 reads the one below: U of it, or 2U when bidirectional.
    const std::size_t below = k == 0 ? 0 : found[k - 1].forward->options().units() * (bidirectional ? 2 : 1);
    const std::string suffix = "_l" + std::to_string(k);
    const std::string target = " (" + at(f.index);
    slots.push_back({f.forward.get(), suffix, f.forward->built() ? f.forward->input_features() : below,
                     target + (bidirectional ? ", forward_layer)" : ")")});
    if (bidirectional) {
      // Both directions read the same input: an unbuilt layer 0 takes the
      // forward entry's F for both.
      slots.push_back({f.backward.get(), suffix + "_reverse",
                       f.backward->built() ? f.backward->input_features() : below, target + ", backward_layer)",
                       static_cast<int>(slots.size()) - 1});
    }
  }
  import_slots<T>(where, npz_path, Layout{module, found.size(), bidirectional, true}, slots);
}

template void load_torch_rnn_state_dict(SimpleRNN<float>&, const std::string&);
template void load_torch_rnn_state_dict(SimpleRNN<double>&, const std::string&);
template void load_torch_lstm_state_dict(LSTM<float>&, const std::string&);
template void load_torch_lstm_state_dict(LSTM<double>&, const std::string&);
template void load_torch_gru_state_dict(GRU<float>&, const std::string&);
template void load_torch_gru_state_dict(GRU<double>&, const std::string&);
template void load_torch_recurrent_state_dict(Sequential<float>&, const std::string&);
template void load_torch_recurrent_state_dict(Sequential<double>&, const std::string&);

}  // namespace xgrad::nn
