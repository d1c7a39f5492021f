#include "xgrad/nn/sequential.hpp"

#include <algorithm>
#include <functional>
#include <stdexcept>
#include <utility>
#include <vector>

namespace xgrad::nn {

template <typename T>
Sequential<T>::Sequential(std::string name) : Module<T>(std::move(name)) {}

template <typename T>
Sequential<T>::Sequential(std::initializer_list<AnyLayer> layers, std::string name)
    : Module<T>(std::move(name)) {
  for (const auto& layer : layers) add_layer(layer);
}

template <typename T>
std::string Sequential<T>::describe() const {
  return "Sequential '" + this->name() + "'";
}

template <typename T>
void Sequential<T>::add_layer(AnyLayer layer) {
  const auto& module = layer.module();
  if (!module) {
    throw std::invalid_argument(describe() + ": add: the layer is null (layer " +
                                std::to_string(layers_.size()) + ")");
  }
  if (module.get() == this) throw std::invalid_argument(describe() + ": add: cannot add a model to itself");
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    if (layers_[i].module() == module) {
      throw std::invalid_argument(describe() + ": add: layer '" + module->name() +
                                  "' is already in the model, as layer " + std::to_string(i) +
                                  " ('" + names_[i] + "'); a layer can be added once");
    }
  }
  // Keras' numbering of repeated names: base, base_1, base_2, ...
  const std::string& base = module->name();
  auto taken = [this](const std::string& candidate) {
    return std::find(names_.begin(), names_.end(), candidate) != names_.end();
  };
  std::string unique = base;
  for (std::size_t k = 1; taken(unique); ++k) unique = base + "_" + std::to_string(k);

  this->register_module(unique, module);
  names_.push_back(std::move(unique));
  layers_.push_back(std::move(layer));
}

template <typename T>
Variable<T> Sequential<T>::forward(const Variable<T>& x) {
  const auto scope = this->layer_scope();
  Variable<T> y = x;
  Mask mask;  // none until a layer makes one
  output_shapes_.resize(layers_.size());
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    try {
      // The child by its name in this model ("dense_1"), which its own scope keeps.
      const LayerScope child(names_[i], layers_[i].module().get());
      y = layers_[i].forward(y, mask);
    } catch (const std::invalid_argument& error) {
      throw std::invalid_argument(describe() + ", layer " + std::to_string(i) + " ('" + names_[i] +
                                  "'): " + error.what());
    }
    output_shapes_[i].assign(y.shape().begin(), y.shape().end());
  }
  return y;
}

template <typename T>
void Sequential<T>::build(const std::vector<std::ptrdiff_t>& input_shape) {
  Shape shape;
  std::string given = "(";
  for (std::size_t i = 0; i < input_shape.size(); ++i)
    given += (i ? ", " : "") +
             (input_shape[i] == -1 ? std::string("None") : std::to_string(input_shape[i]));
  given += input_shape.size() == 1 ? ",)" : ")";
  for (const auto extent : input_shape) {
    if (extent == 0 || extent < -1) {
      throw std::invalid_argument(describe() +
                                  ": build expects an input shape of positive sizes or -1 (None), "
                                  "got " + given);
    }
    shape.push_back(extent == -1 ? 1 : static_cast<std::size_t>(extent));
  }
  if (shape.empty()) {
    throw std::invalid_argument(describe() + ": build expects an input shape, got ()");
  }
  Shape wider = shape;  // each None as 2: the output axes that change with it are None
  for (std::size_t i = 0; i < input_shape.size(); ++i)
    if (input_shape[i] == -1) wider[i] = 2;
  // Keras' build makes the weights and leaves nothing else behind. The call
  // that finds the shapes runs in inference mode (no dropout mask drawn, no
  // generator moved), stateful layers run it from zeros without fixing
  // their batch size, and afterwards every module has its mode, kept states
  // and activity penalties back.
  struct Kept {
    Module<T>* module;
    bool training;
    std::vector<Variable<T>> activity_losses;
    RecurrentLayer<T>* recurrent;
    std::vector<Array<T>> states;
  };
  std::vector<Kept> kept;  // in pre-order: putting the modes back parent first restores each
  const std::function<void(Module<T>&)> take = [&](Module<T>& module) {
    auto* recurrent = dynamic_cast<RecurrentLayer<T>*>(&module);
    kept.push_back(Kept{&module, module.is_training(), module.activity_losses_, recurrent,
                        recurrent ? std::exchange(recurrent->states_, {}) : std::vector<Array<T>>()});
    for (const auto& child : module.named_children()) take(*child.second);
  };
  take(*this);
  const auto put_back = [&kept] {
    for (Kept& k : kept) {
      k.module->train(k.training);
      k.module->activity_losses_ = std::move(k.activity_losses);
      if (k.recurrent) k.recurrent->states_ = std::move(k.states);
    }
  };
  this->eval();
  NoGradGuard no_grad;
  try {
    std::vector<Shape> with_twos;
    if (wider != shape) {
      forward(Variable<T>(zeros<T>(wider)));
      with_twos = output_shapes_;
      for (Kept& k : kept)
        if (k.recurrent) k.recurrent->states_.clear();  // the next call's batch may differ
    }
    forward(Variable<T>(zeros<T>(shape)));
    none_axes_.assign(output_shapes_.size(), {});
    for (std::size_t i = 0; i < output_shapes_.size(); ++i) {
      const Shape& ones = output_shapes_[i];
      none_axes_[i].assign(ones.size(), false);
      if (with_twos.empty()) continue;  // no None given
      for (std::size_t axis = 0; axis < ones.size(); ++axis)
        none_axes_[i][axis] = axis >= with_twos[i].size() || with_twos[i][axis] != ones[axis];
    }
  } catch (...) {
    put_back();
    throw;
  }
  put_back();
}

template <typename T>
const std::shared_ptr<Module<T>>& Sequential<T>::module_at(std::size_t i) const {
  if (i >= layers_.size()) {
    throw std::out_of_range(describe() + ": no layer " + std::to_string(i) + ", it has " +
                            std::to_string(layers_.size()));
  }
  return layers_[i].module();
}

template <typename T>
void Sequential<T>::throw_wrong_type(std::size_t i, const std::type_info& requested) const {
  const Module<T>& layer = *layers_[i].module();
  throw std::invalid_argument(describe() + ": at<" + demangled_type_name(requested) + ">(" +
                              std::to_string(i) + "): layer " + std::to_string(i) + " ('" +
                              names_[i] + "') is a " + demangled_type_name(typeid(layer)));
}

template class Sequential<float>;
template class Sequential<double>;

}  // namespace xgrad::nn
