#include "xgrad/nn/masking.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "xgrad/autograd/ops.hpp"

namespace xgrad::nn {

template <typename T>
Masking<T>::Masking(MaskingOptions options)
    : Module<T>(options.name()), options_(std::move(options)) {}

template <typename T>
std::string Masking<T>::describe() const {
  return "Masking '" + options_.name() + "'";
}

template <typename T>
xt::xarray<bool> Masking<T>::compute_mask(const Array<T>& x) const {
  if (x.dimension() == 0) {
    throw std::invalid_argument(describe() +
                                ": expected input of rank 1 or more [..., features], got shape " +
                                shape_to_string(x.shape()));
  }
  // Compared in T, as Keras compares in the input's dtype: mask_value 0.1
  // must match a float32 0.1f.
  const T mask_value = static_cast<T>(options_.mask_value());
  const std::size_t features = x.shape().back();
  Shape mask_shape(x.shape().begin(), x.shape().end() - 1);
  xt::xarray<bool> mask = xt::xarray<bool>::from_shape(mask_shape);
  const T* row = x.data();
  for (auto& keep : mask) {
    keep = false;
    for (std::size_t f = 0; f < features; ++f)
      if (row[f] != mask_value) {
        keep = true;
        break;
      }
    row += features;
  }
  return mask;
}

template <typename T>
xt::xarray<bool> Masking<T>::compute_mask(const Variable<T>& x) const {
  return compute_mask(x.value());
}

template <typename T>
Variable<T> Masking<T>::forward(const Variable<T>& x) {
  const auto scope = this->layer_scope();
  const xt::xarray<bool> mask = compute_mask(x.value());
  // The mask as a constant [..., 1] factor: mul broadcasts it over the
  // features and its backward gives x the gradient g * mask.
  Shape factor_shape = to_shape(mask.shape());
  factor_shape.push_back(1);
  Array<T> factor = Array<T>::from_shape(factor_shape);
  std::transform(mask.begin(), mask.end(), factor.begin(),
                 [](bool keep) { return keep ? T(1) : T(0); });
  return mul(x, Variable<T>(std::move(factor)));
}

template class Masking<float>;
template class Masking<double>;

}  // namespace xgrad::nn
