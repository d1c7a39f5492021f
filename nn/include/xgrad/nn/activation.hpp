#pragma once
// Activations by Keras name, for layers that take an `activation` option.
// Formulas as Keras 3's keras/src/activations (see
// xgrad/tensor/activations.hpp):
//   linear        x                      (Keras' None too)
//   tanh          tanh(x)
//   relu          max(x, 0)
//   sigmoid       1 / (1 + e^-x)
//   hard_sigmoid  relu6(x + 3) / 6
//   softsign      x / (1 + |x|)
//   elu           x > 0 ? x : e^x − 1    (alpha 1, Keras' default)
//   selu          1.0507 · (x > 0 ? x : 1.6733 · (e^x − 1))
//   exponential   e^x
//   softplus      log(1 + e^x)
//   relu6         min(max(x, 0), 6)
//   leaky_relu    x >= 0 ? x : 0.2 · x   (Keras' default negative_slope)
//   silu          x · sigmoid(x)         (Keras' swish too)
//   gelu          x/2 · (1 + erf(x/√2))  (Keras' default approximate=False)
//   mish          x · tanh(softplus(x))
//   softmax       e^x / sum(e^x), along the last axis
//   log_softmax   x − log(sum(e^x)), along the last axis
// The recurrent layers run the ones from softplus on through their composed
// path (RecurrentLayer::forward_composed): the fused node's row kernels
// cover the others.

#include <string>

#include "xgrad/autograd/variable.hpp"
#include "xgrad/tensor/activations.hpp"

namespace xgrad::nn {

// Defined with the kernels, which take it too.
using Activation = xgrad::Activation;

// Keras' names above, case-sensitive as in Keras; "None" also means linear
// (Keras' activation=None). Throws std::invalid_argument listing the known
// names otherwise.
Activation activation_from_name(const std::string& name);
const char* activation_name(Activation activation);

template <typename T>
Variable<T> apply_activation(Activation activation, const Variable<T>& x);

extern template Variable<float> apply_activation(Activation, const Variable<float>&);
extern template Variable<double> apply_activation(Activation, const Variable<double>&);

}  // namespace xgrad::nn
