#pragma once
// Dense: Keras' keras.layers.Dense, with its names, defaults and numbers.
//
// Dimension letters: B batch, T timesteps, F input features, U units.
//
//   input   x       [B, F], or [B, T, F] (any rank >= 2: [..., F])
//   kernel          [F, U]    kernel_initializer (glorot_uniform)
//   bias            [U]       bias_initializer (zeros), only with use_bias
//
//   y = activation(x · kernel + bias)
//
//   output  [B, U], or [B, T, U] ([..., U]): as in Keras, only the last axis
//           is contracted, so a [B, T, F] input is transformed at every
//           timestep with the same weights (time-distributed), in one GEMM.
//
// The layer builds on its first call, or explicitly with build({-1, F}) as
// Keras' build(input_shape=(None, F)).

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "xgrad/nn/activation.hpp"
#include "xgrad/nn/initializers.hpp"
#include "xgrad/nn/layer_weights.hpp"
#include "xgrad/nn/options.hpp"
#include "xgrad/nn/regularizers.hpp"

namespace xgrad::nn {

struct DenseOptions {
  explicit DenseOptions(std::size_t units) : units_(units) {}

  XGRAD_ARG(std::size_t, units);                              // required, > 0
  XGRAD_ARG(Activation, activation) = Activation::linear;     // Keras: None (no activation)
  XGRAD_ARG(bool, use_bias) = true;                           // Keras: True
  XGRAD_ARG(std::string, name) = "dense";                     // Keras' default layer name
  // kernel_initializer (Keras: "glorot_uniform"), bias_initializer
  // ("zeros"); the *_regularizer (their penalties join losses()) and
  // *_constraint (applied by apply_constraints()) of each (Keras: None).
  // By value or by Keras name.
  XGRAD_WEIGHT_ARGS(DenseOptions, kernel, init::glorot_uniform());
  XGRAD_WEIGHT_ARGS(DenseOptions, bias, init::zeros());
  // On the layer's output (after the activation), once per call; the
  // penalty joins losses() until the next call.
  XGRAD_ARG(std::optional<Regularizer>, activity_regularizer);  // Keras: None

 public:
  // The activation by its Keras name ("linear", "relu", "softmax", ...:
  // activation.hpp lists them).
  DenseOptions& activation(const std::string& name) {
    return activation(activation_from_name(name));
  }
  DenseOptions& activity_regularizer(const std::string& name) {
    return activity_regularizer(regularizer_from_name(name));
  }
};

// built(), input_features(), kernel(), bias(), weights() (kernel[, bias]) and
// set_weights() come from LayerWeights (layer_weights.hpp).
template <typename T = float>
class Dense : public LayerWeights<T> {
 public:
  explicit Dense(DenseOptions options);

  // Creates the weights for inputs [..., F]: only the last entry (F) is used;
  // the others may be -1 (None). Throws if the rank is below 2, F is not
  // positive, or the layer was already built for another F.
  void build(const std::vector<std::ptrdiff_t>& input_shape);

  // x [..., F] (rank >= 2) -> [..., U]. Builds the layer on first use.
  Variable<T> forward(const Variable<T>& x);
  Variable<T> operator()(const Variable<T>& x) { return forward(x); }

  const DenseOptions& options() const { return options_; }

 private:
  DenseOptions options_;
};

extern template class Dense<float>;
extern template class Dense<double>;

}  // namespace xgrad::nn
