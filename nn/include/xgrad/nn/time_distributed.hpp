#pragma once
// TimeDistributed: Keras' keras.layers.TimeDistributed, a layer applied to
// every timestep of a sequence alike (the same weights at each step).
//
// Dimension letters: B batch, T timesteps.
//
//   input   x  [B, T, ...]      (rank 3 or more)
//   layer      [N, ...] -> [N, ...out], run once on all B · T steps as one
//              batch, x viewed as [B · T, ...]
//   output     [B, T, ...out]
//
//   nn::TimeDistributed<> head(std::make_shared<nn::Dense<>>(nn::DenseOptions(8)));
//   Variable<float> y = head(x);  // [B, T, F] -> [B, T, 8]
//
// (a Dense alone takes [B, T, F] too; TimeDistributed is for layers of
// their own rank, and for Keras models written with it). The wrapped layer
// is any Module<T> with a forward, registered as the child "layer" (Keras'
// attribute), so its parameters are "time_distributed/layer/kernel", .... In
// a Sequential the mask passes through unchanged, the wrapped layer running
// without it (Keras hands it the mask only when it takes one; a Dense takes
// none). Keras' .weights.h5 files do not take it yet (keras_weights.hpp
// throws naming it); xgrad's .npz checkpoints do.

#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "xgrad/nn/module.hpp"
#include "xgrad/nn/options.hpp"

namespace xgrad::nn {

struct TimeDistributedOptions {
  XGRAD_ARG(std::string, name) = "time_distributed";  // Keras' default layer name
};

template <typename T = float>
class TimeDistributed : public Module<T> {
 public:
  // Throws std::invalid_argument for a null layer.
  template <typename M>
  explicit TimeDistributed(std::shared_ptr<M> layer, TimeDistributedOptions options = TimeDistributedOptions())
      : Module<T>(options.name()), options_(std::move(options)) {
    static_assert(std::is_base_of_v<Module<T>, M>, "TimeDistributed<T>: the layer must derive from nn::Module<T>");
    static_assert(detail::has_forward<M, T>::value,
                  "TimeDistributed<T>: the layer needs Variable<T> forward(const Variable<T>&)");
    if (layer) forward_ = [layer](const Variable<T>& x) -> Variable<T> { return layer->forward(x); };
    set_layer(std::move(layer));
  }

  // x [B, T, ...] -> [B, T, ...out]. Throws std::invalid_argument for a rank
  // below 3, and when the layer's output does not keep its B · T rows.
  Variable<T> forward(const Variable<T>& x);
  Variable<T> operator()(const Variable<T>& x) { return forward(x); }

  const std::shared_ptr<Module<T>>& layer() const { return layer_; }
  const TimeDistributedOptions& options() const { return options_; }

 private:
  void set_layer(std::shared_ptr<Module<T>> layer);
  std::string describe() const;

  TimeDistributedOptions options_;
  std::shared_ptr<Module<T>> layer_;
  std::function<Variable<T>(const Variable<T>&)> forward_;
};

extern template class TimeDistributed<float>;
extern template class TimeDistributed<double>;

}  // namespace xgrad::nn
