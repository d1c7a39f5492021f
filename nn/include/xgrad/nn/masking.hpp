#pragma once
// Masking: Keras' keras.layers.Masking. Marks the timesteps whose features
// all equal mask_value as padding.
//
// Dimension letters: B batch, T timesteps, F features.
//
//   input   x      [B, T, F] (any rank >= 1: [..., F])
//   mask    m      [B, T]: m[b, t] = any_f (x[b, t, f] != mask_value)
//
//   y = x * m[..., newaxis]   (masked timesteps become 0, as in Keras)
//
//   output  x's shape. Differentiable: dL/dx = dL/dy * m, so masked
//           timesteps get no gradient. A NaN feature differs from every
//           mask_value, NaN included (IEEE !=, as Keras' not_equal).

#include <string>

#include <xtensor/xarray.hpp>

#include "xgrad/nn/module.hpp"
#include "xgrad/nn/options.hpp"

namespace xgrad::nn {

struct MaskingOptions {
  MaskingOptions() = default;

  XGRAD_ARG(double, mask_value) = 0.0;         // Keras: 0.0
  XGRAD_ARG(std::string, name) = "masking";    // Keras' default layer name
};

template <typename T = float>
class Masking : public Module<T> {
 public:
  explicit Masking(MaskingOptions options = MaskingOptions());

  // x [..., F] -> x with masked timesteps zeroed. Throws
  // std::invalid_argument for a 0-D x (it has no feature axis).
  Variable<T> forward(const Variable<T>& x);
  Variable<T> operator()(const Variable<T>& x) { return forward(x); }

  // [B, T, F] -> [B, T] ([..., F] -> [...]): true where a timestep is kept.
  xt::xarray<bool> compute_mask(const Variable<T>& x) const;
  xt::xarray<bool> compute_mask(const Array<T>& x) const;

  const MaskingOptions& options() const { return options_; }

 private:
  std::string describe() const;

  MaskingOptions options_;
};

extern template class Masking<float>;
extern template class Masking<double>;

}  // namespace xgrad::nn
