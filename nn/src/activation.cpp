#include "xgrad/nn/activation.hpp"

#include <stdexcept>

#include "xgrad/autograd/math_ops.hpp"
#include "xgrad/autograd/ops.hpp"

namespace xgrad::nn {

namespace {
constexpr Activation all_activations[] = {
    Activation::linear, Activation::tanh, Activation::relu, Activation::sigmoid,
    Activation::hard_sigmoid, Activation::softsign, Activation::elu, Activation::selu,
    Activation::exponential, Activation::softplus, Activation::relu6, Activation::leaky_relu,
    Activation::silu, Activation::gelu, Activation::mish, Activation::softmax, Activation::log_softmax};
}  // namespace

Activation activation_from_name(const std::string& name) {
  if (name == "None") return Activation::linear;
  if (name == "swish") return Activation::silu;  // Keras' other name for it
  std::string known;
  for (const Activation a : all_activations) {
    if (name == activation_name(a)) return a;
    known += std::string(known.empty() ? "" : ", ") + activation_name(a);
  }
  throw std::invalid_argument("unknown activation '" + name + "'; known: " + known +
                              " (and None, meaning linear, and swish, meaning silu)");
}

const char* activation_name(Activation activation) {
  switch (activation) {
    case Activation::linear: return "linear";
    case Activation::tanh: return "tanh";
    case Activation::relu: return "relu";
    case Activation::sigmoid: return "sigmoid";
    case Activation::hard_sigmoid: return "hard_sigmoid";
    case Activation::softsign: return "softsign";
    case Activation::elu: return "elu";
    case Activation::selu: return "selu";
    case Activation::exponential: return "exponential";
    case Activation::softplus: return "softplus";
    case Activation::relu6: return "relu6";
    case Activation::leaky_relu: return "leaky_relu";
    case Activation::silu: return "silu";
    case Activation::gelu: return "gelu";
    case Activation::mish: return "mish";
    case Activation::softmax: return "softmax";
    case Activation::log_softmax: return "log_softmax";
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
    case Activation::hard_sigmoid: return hard_sigmoid(x);
    case Activation::softsign: return softsign(x);
    case Activation::elu: return elu(x);
    case Activation::selu: return selu(x);
    case Activation::exponential: return xgrad::exp(x);
    case Activation::softplus: return softplus(x);
    case Activation::relu6: return relu6(x);
    case Activation::leaky_relu: return leaky_relu(x);
    case Activation::silu: return silu(x);
    case Activation::gelu: return gelu(x);
    case Activation::mish: return mish(x);
    case Activation::softmax: return softmax(x, -1);
    case Activation::log_softmax: return log_softmax(x, -1);
  }
  throw std::invalid_argument("apply_activation: unknown activation");
}

template Variable<float> apply_activation(Activation, const Variable<float>&);
template Variable<double> apply_activation(Activation, const Variable<double>&);

}  // namespace xgrad::nn
