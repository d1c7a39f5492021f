#include "xgrad/nn/activation.hpp"

#include <stdexcept>

#include "xgrad/autograd/ops.hpp"

namespace xgrad::nn {

Activation activation_from_name(const std::string& name) {
  if (name == "linear") return Activation::linear;
  if (name == "tanh") return Activation::tanh;
  if (name == "relu") return Activation::relu;
  if (name == "sigmoid") return Activation::sigmoid;
  throw std::invalid_argument("unknown activation '" + name +
                              "'; known: linear, tanh, relu, sigmoid");
}

const char* activation_name(Activation activation) {
  switch (activation) {
    case Activation::linear: return "linear";
    case Activation::tanh: return "tanh";
    case Activation::relu: return "relu";
    case Activation::sigmoid: return "sigmoid";
  }
  return "unknown";
}

template <typename T>
Variable<T> apply_activation(Activation activation, const Variable<T>& x) {
  switch (activation) {
    case Activation::linear: return x;
    case Activation::tanh: return tanh(x);
    case Activation::relu: return relu(x);
    case Activation::sigmoid: return sigmoid(x);
  }
  throw std::invalid_argument("apply_activation: unknown activation");
}

template Variable<float> apply_activation(Activation, const Variable<float>&);
template Variable<double> apply_activation(Activation, const Variable<double>&);

}  // namespace xgrad::nn
