#include "xgrad/nn/convolution.hpp"

#include <stdexcept>
#include <utility>

#include "xgrad/autograd/math_ops.hpp"
#include "xgrad/autograd/ops.hpp"
#include "step_windows.hpp"

namespace xgrad::nn {

template <typename T>
Conv1D<T>::Conv1D(Conv1DOptions options) : Module<T>(options.name()), options_(std::move(options)) {
  const auto positive = [&](std::size_t value, const char* what) {
    if (value == 0) throw std::invalid_argument(describe() + ": " + what + " must be positive, got 0");
  };
  positive(options_.filters(), "filters");
  positive(options_.kernel_size(), "kernel_size");
  positive(options_.strides(), "strides");
  positive(options_.dilation_rate(), "dilation_rate");
  const std::string& padding = options_.padding();
  if (padding != "valid" && padding != "same" && padding != "causal") {
    throw std::invalid_argument(describe() + ": padding must be \"valid\", \"same\" or \"causal\", got \"" +
                                padding + "\"");
  }
  if (options_.strides() > 1 && options_.dilation_rate() > 1) {
    throw std::invalid_argument(describe() + ": strides " + std::to_string(options_.strides()) +
                                " and dilation_rate " + std::to_string(options_.dilation_rate()) +
                                " cannot both be above 1 (as in Keras)");
  }
}

template <typename T>
std::string Conv1D<T>::describe() const {
  return "Conv1D '" + options_.name() + "'";
}

template <typename T>
void Conv1D<T>::build(std::size_t channels) {
  if (!detail::build_needed(describe(), channels_, channels, "input channels")) return;
  const Shape kernel_shape{options_.kernel_size(), channels, options_.filters()};
  kernel_ = this->register_parameter("kernel", Variable<T>(options_.kernel_initializer().template draw<T>(kernel_shape)),
                                     options_.kernel_regularizer(), options_.kernel_constraint());
  if (options_.use_bias()) {
    bias_ = this->register_parameter("bias", Variable<T>(options_.bias_initializer().template draw<T>({options_.filters()})),
                                     options_.bias_regularizer(), options_.bias_constraint());
  }
  channels_ = channels;
}

template <typename T>
std::size_t Conv1D<T>::output_steps(std::size_t steps) const {
  const std::size_t span = options_.dilation_rate() * (options_.kernel_size() - 1) + 1;
  return detail::window_count(steps, span, options_.strides(), options_.padding() != "valid");
}

template <typename T>
Variable<T> Conv1D<T>::forward(const Variable<T>& x) {
  const auto scope = this->layer_scope();
  if (x.dimension() != 3) {
    throw std::invalid_argument(describe() + ": expected input of rank 3 [batch, timesteps, channels], got shape " +
                                shape_to_string(x.shape()));
  }
  const std::size_t steps = x.shape()[1], channels = x.shape()[2];
  if (built() && channels != channels_) {
    throw std::invalid_argument(describe() + ": built for " + std::to_string(channels_) +
                                " channels, expected input shape (batch, timesteps, " + std::to_string(channels_) +
                                "), got " + shape_to_string(x.shape()));
  }
  const std::size_t k = options_.kernel_size(), d = options_.dilation_rate(), s = options_.strides();
  const std::size_t span = d * (k - 1) + 1, out_steps = output_steps(steps);
  if (out_steps == 0) {
    throw std::invalid_argument(describe() + ": input of shape " + shape_to_string(x.shape()) + " has " +
                                std::to_string(steps) + " steps, fewer than the " + std::to_string(span) +
                                " the kernel spans with padding \"valid\"");
  }
  build(channels);

  detail::StepPadding pad;
  if (options_.padding() == "causal") pad.before = span - 1;
  if (options_.padding() == "same") pad = detail::same_padding(steps, out_steps, span, s);
  const Variable<T> padded = detail::pad_steps(x, pad, T(0));
  // One product per kernel tap: the steps it reads, [B, T', C] · [C, F].
  Variable<T> y;
  for (std::size_t tap = 0; tap < k; ++tap) {
    Variable<T> term = matmul(detail::window_steps(padded, tap * d, out_steps, s), select(kernel_, 0, tap));
    y = tap == 0 ? term : y + term;
  }
  if (options_.use_bias()) y = y + bias_;
  Variable<T> out = apply_activation(options_.activation(), y);
  if (options_.activity_regularizer()) this->set_activity_losses({options_.activity_regularizer()->penalty(out)});
  return out;
}

template <typename T>
void Conv1D<T>::check_built(const char* what) const {
  if (!built()) detail::throw_not_built(describe(), what, "build(C)");
}

template <typename T>
Variable<T> Conv1D<T>::kernel() const {
  check_built("kernel");
  return kernel_;
}

template <typename T>
Variable<T> Conv1D<T>::bias() const {
  if (!options_.use_bias()) throw std::logic_error(describe() + ": has no bias (use_bias is off)");
  check_built("bias");
  return bias_;
}

template <typename T>
std::vector<Array<T>> Conv1D<T>::weights() const {
  std::vector<Array<T>> out{kernel().value()};
  if (options_.use_bias()) out.push_back(bias().value());
  return out;
}

template <typename T>
void Conv1D<T>::set_weights(const std::vector<Array<T>>& weights) {
  const std::size_t expected = options_.use_bias() ? 2 : 1;
  if (weights.size() != expected) {
    throw std::invalid_argument(describe() + ": set_weights expected " + std::to_string(expected) +
                                " arrays (kernel" + (options_.use_bias() ? ", bias" : "") + "), got " +
                                std::to_string(weights.size()));
  }
  const Array<T>& kernel = weights[0];
  const std::size_t channels = built() ? channels_ : (kernel.dimension() == 3 ? kernel.shape()[1] : 0);
  const Shape kernel_shape{options_.kernel_size(), channels, options_.filters()};
  if (channels == 0 || to_shape(kernel.shape()) != kernel_shape) {
    throw std::invalid_argument(describe() + ": set_weights kernel has shape " + shape_to_string(kernel.shape()) +
                                ", expected (" + std::to_string(options_.kernel_size()) + ", " +
                                (channels ? std::to_string(channels) : std::string("channels")) + ", " +
                                std::to_string(options_.filters()) + ")");
  }
  if (options_.use_bias() && to_shape(weights[1].shape()) != Shape{options_.filters()}) {
    throw std::invalid_argument(describe() + ": set_weights bias has shape " + shape_to_string(weights[1].shape()) +
                                ", expected (" + std::to_string(options_.filters()) + ",)");
  }
  build(channels);
  kernel_.value() = kernel;
  if (options_.use_bias()) bias_.value() = weights[1];
}

template class Conv1D<float>;
template class Conv1D<double>;

}  // namespace xgrad::nn
