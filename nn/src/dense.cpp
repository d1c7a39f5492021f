#include "xgrad/nn/dense.hpp"

#include <stdexcept>
#include <utility>

#include "xgrad/autograd/ops.hpp"
#include "xgrad/nn/initializers.hpp"

namespace xgrad::nn {

namespace {
// kernel [F, U], then bias [U] with use_bias, drawn in that order as Keras
// draws them.
std::vector<WeightSpec> dense_weight_specs(const DenseOptions& options) {
  std::vector<WeightSpec> specs{{"kernel", WeightSpec::Rows::features, options.kernel_initializer(),
                                 options.kernel_regularizer(), options.kernel_constraint()}};
  if (options.use_bias()) {
    specs.push_back({"bias", WeightSpec::Rows::none, options.bias_initializer(), options.bias_regularizer(),
                     options.bias_constraint()});
  }
  return specs;
}
}  // namespace

template <typename T>
Dense<T>::Dense(DenseOptions options)
    : LayerWeights<T>("Dense", options.name(), options.units(), dense_weight_specs(options),
                      "layer", "build({-1, F})"),
      options_(std::move(options)) {}

template <typename T>
void Dense<T>::build(const std::vector<std::ptrdiff_t>& input_shape) {
  if (input_shape.size() < 2 || input_shape.back() <= 0) {
    throw std::invalid_argument(this->describe() +
                                ": build expects an input shape (batch, ..., features) of rank 2 "
                                "or more with features > 0 (the others may be -1), got " +
                                input_shape_to_string(input_shape));
  }
  this->build_for(static_cast<std::size_t>(input_shape.back()));
}

template <typename T>
Variable<T> Dense<T>::forward(const Variable<T>& x) {
  const auto scope = this->layer_scope();
  if (x.dimension() < 2) {
    throw std::invalid_argument(this->describe() +
                                ": expected input of rank 2 or more [batch, ..., features], got "
                                "shape " +
                                shape_to_string(x.shape()));
  }
  const std::size_t features = x.shape().back();
  if (!this->built()) {
    if (features == 0) {
      throw std::invalid_argument(this->describe() + ": cannot build for input of shape " +
                                  shape_to_string(x.shape()) + ": it has no features");
    }
    build({-1, static_cast<std::ptrdiff_t>(features)});
  }
  if (features != this->input_features()) {
    throw std::invalid_argument(this->describe() + ": built for " +
                                std::to_string(this->input_features()) +
                                " features, expected input shape (..., " +
                                std::to_string(this->input_features()) + "), got " +
                                shape_to_string(x.shape()));
  }
  // [..., F] · [F, U]: the leading axes are the rows of one GEMM.
  Variable<T> y = matmul(x, this->kernel());
  if (options_.use_bias()) y = add(y, this->bias());
  Variable<T> out = apply_activation(options_.activation(), y);
  if (options_.activity_regularizer()) this->set_activity_losses({options_.activity_regularizer()->penalty(out)});
  return out;
}

template class Dense<float>;
template class Dense<double>;

}  // namespace xgrad::nn
