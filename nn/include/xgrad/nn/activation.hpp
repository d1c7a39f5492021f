#pragma once
// Activations by Keras name, for layers that take an `activation` option.

#include <string>

#include "xgrad/autograd/variable.hpp"

namespace xgrad::nn {

enum class Activation { linear, tanh, relu, sigmoid };

// "linear", "tanh", "relu", "sigmoid" (Keras' names); throws
// std::invalid_argument listing the known names otherwise.
Activation activation_from_name(const std::string& name);
const char* activation_name(Activation activation);

template <typename T>
Variable<T> apply_activation(Activation activation, const Variable<T>& x);

extern template Variable<float> apply_activation(Activation, const Variable<float>&);
extern template Variable<double> apply_activation(Activation, const Variable<double>&);

}  // namespace xgrad::nn
