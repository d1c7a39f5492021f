#pragma once
// LayerNormalization: Keras' keras.layers.LayerNormalization over the last
// axis (Keras' default axis=-1), as between or after recurrent layers.
//
// Dimension letters: F features (the last axis; known at the first call).
//
//   input   x      [..., F]   (rank 1 or more)
//   gamma          [F]        Keras' "gamma_initializer" ones (with scale)
//   beta           [F]        Keras' "beta_initializer" zeros (with center)
//
//   μ = mean_F(x),  σ² = mean_F((x − μ)²)   (per row, the population variance)
//   y = (x − μ) / sqrt(σ² + epsilon) · gamma + beta
//
//   output  x's shape. Differentiable in x, gamma and beta (composed of
//           xgrad's ops, so every gradient is theirs).
//
// Keras' axis other than −1 and its rms_scaling are not offered. The
// weights are Keras' in its order, gamma then beta (each only when scale /
// center is on); set_weights checks every shape before anything changes.
// In a Sequential the mask passes through, as Keras' supports_masking.

#include <cstddef>
#include <string>
#include <vector>

#include "xgrad/nn/initializers.hpp"
#include "xgrad/nn/layer_weights.hpp"
#include "xgrad/nn/module.hpp"
#include "xgrad/nn/options.hpp"

namespace xgrad::nn {

struct LayerNormalizationOptions {
  XGRAD_ARG(double, epsilon) = 1e-3;                   // Keras: 1e-3; > 0
  XGRAD_ARG(bool, center) = true;                      // Keras: True (beta)
  XGRAD_ARG(bool, scale) = true;                       // Keras: True (gamma)
  XGRAD_WEIGHT_ARGS(LayerNormalizationOptions, beta, init::zeros());
  XGRAD_WEIGHT_ARGS(LayerNormalizationOptions, gamma, init::ones());
  XGRAD_ARG(std::string, name) = "layer_normalization";  // Keras' default layer name
};

template <typename T = float>
class LayerNormalization : public Module<T> {
 public:
  // Throws std::invalid_argument for an epsilon that is not positive.
  explicit LayerNormalization(LayerNormalizationOptions options = LayerNormalizationOptions());

  // Creates gamma and beta for F features; does nothing when built for F,
  // throws for another F or F = 0.
  void build(std::size_t features);
  bool built() const { return features_ > 0; }
  std::size_t input_features() const { return features_; }

  // x [..., F] -> [..., F]. Builds the layer on first use. Throws
  // std::invalid_argument for a 0-D x or a last axis other than the built F.
  Variable<T> forward(const Variable<T>& x);
  Variable<T> operator()(const Variable<T>& x) { return forward(x); }

  // Handles to the weights; throw std::logic_error before build or when
  // the option that makes them (scale, center) is off.
  Variable<T> gamma() const;
  Variable<T> beta() const;
  // Copies in Keras' order ({gamma, beta}, those there are), and back from
  // that order (building from the first one's shape if needed).
  std::vector<Array<T>> weights() const;
  void set_weights(const std::vector<Array<T>>& weights);

  const LayerNormalizationOptions& options() const { return options_; }

 private:
  std::string describe() const;
  Variable<T> weight(bool present, const char* option, const Variable<T>& value, const char* name) const;

  LayerNormalizationOptions options_;
  std::size_t features_ = 0;
  Variable<T> gamma_, beta_;
};

extern template class LayerNormalization<float>;
extern template class LayerNormalization<double>;

}  // namespace xgrad::nn
