#pragma once
// Sequential: Keras' keras.Sequential, a stack of layers applied in order,
// each to the output of the one before.
//
//   nn::Sequential<> model;
//   model.add(std::make_shared<nn::SimpleRNN<>>(nn::SimpleRNNOptions(8).return_sequences(true)));
//   model.add(std::make_shared<nn::SimpleRNN<>>(nn::SimpleRNNOptions(8)));
//   model.add(std::make_shared<nn::Dense<>>(nn::DenseOptions(1)));
//   Variable<float> y = model(x);  // x [B, T, F] -> [B, 1]
//
// or, equally, nn::Sequential<> model({rnn1, rnn2, dense});
//
// Any Module<T> with a `Variable<T> forward(const Variable<T>&)` can be a
// layer, a Sequential too (as torch::nn::Sequential takes any module with a
// forward). The model owns its layers through shared_ptr: a handle kept by
// the caller names the same layer, and the layer lives as long as either.
//
// Parameter paths are Keras' weight paths: "simple_rnn/kernel",
// "simple_rnn_1/kernel", "dense/kernel", "dense/bias". A layer is listed
// under its name option; repeats get "_1", "_2", ... in the order they are
// added, as Keras numbers its auto-named layers (a name taken by an earlier
// layer is skipped: "dense", "dense_1" given explicitly, then "dense" again
// gives "dense_2"). The layers' own name() stays as set.
//
// Masks (Keras' mask propagation): forward() carries a mask [B, T] from
// layer to layer, as a Keras Sequential does, so
//   nn::Sequential<> model({masking, rnn});   // or {embedding(mask_zero), rnn}
// runs the SimpleRNN with the mask the Masking layer computed. The rules,
// chosen at compile time from each layer's type (a subclass counts as its
// base):
//   - Masking sets the mask to compute_mask(its input), whatever came before.
//   - Embedding with mask_zero sets it to (token ids != 0); an Embedding
//     without mask_zero ends it (Keras' compute_mask returns None).
//   - Every recurrent layer (SimpleRNN, LSTM, GRU: any RecurrentLayer) and
//     Bidirectional use it (RecurrentCall / BidirectionalCall .mask(m)); with
//     return_sequences they pass it on unchanged, without it the mask ends
//     (the output has no time axis).
//   - Dense, Dropout, LayerNormalization and TimeDistributed (Keras:
//     supports_masking) pass it on unchanged (TimeDistributed's wrapped
//     layer runs without it).
//   - GlobalAveragePooling1D uses it (the mean over the kept steps) and ends
//     it (its output has no time axis).
//   - Any other layer, a nested Sequential included, gets its plain forward
//     and the mask ends there, silently (no warning or error). A nested
//     Sequential still propagates masks among its own layers.
// With no Masking or mask_zero Embedding in the model there is never a mask
// and every layer runs its plain forward, as before.
//
// Layers build on the model's first call (Keras' deferred build), so
// parameters() is empty until then: call build() or run one batch before
// handing parameters() to an optimizer.

#include <cstddef>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include <xtensor/xarray.hpp>
#include <xtensor/xoperation.hpp>

#include "xgrad/nn/bidirectional.hpp"
#include "xgrad/nn/dense.hpp"
#include "xgrad/nn/dropout.hpp"
#include "xgrad/nn/embedding.hpp"
#include "xgrad/nn/masking.hpp"
#include "xgrad/nn/module.hpp"
#include "xgrad/nn/normalization.hpp"
#include "xgrad/nn/pooling.hpp"
#include "xgrad/nn/recurrent.hpp"
#include "xgrad/nn/time_distributed.hpp"

namespace xgrad::nn {

template <typename T = float>
class Sequential : public Module<T> {
 public:
  // A [B, T] mask carried between layers; nullopt for none.
  using Mask = std::optional<xt::xarray<bool>>;

  // A layer as the model holds it: the module and its forward. Made
  // implicitly from a shared_ptr to any Module<T> with a forward, so a brace
  // list of different layer types converts.
  class AnyLayer {
   public:
    template <typename M>
    AnyLayer(std::shared_ptr<M> layer) {  // NOLINT(google-explicit-constructor): by design
      static_assert(std::is_base_of_v<Module<T>, M>,
                    "Sequential<T>: a layer must derive from nn::Module<T> (same T)");
      static_assert(detail::has_forward<M, T>::value,
                    "Sequential<T>: a layer needs Variable<T> forward(const Variable<T>&)");
      if (layer) {
        forward_ = [layer](const Variable<T>& x) -> Variable<T> { return layer->forward(x); };
        masked_forward_ = make_masked_forward(layer);
      }
      module_ = std::move(layer);
    }

    const std::shared_ptr<Module<T>>& module() const { return module_; }
    Variable<T> forward(const Variable<T>& x) const { return forward_(x); }
    // The forward with the model's mask: `mask` is the mask reaching the
    // layer (nullopt for none) and is replaced by the mask leaving it, by the
    // rules above.
    Variable<T> forward(const Variable<T>& x, Mask& mask) const { return masked_forward_(x, mask); }

   private:
    using MaskedForward = std::function<Variable<T>(const Variable<T>&, Mask&)>;

    template <typename M>
    static MaskedForward make_masked_forward(const std::shared_ptr<M>& layer) {
      if constexpr (std::is_base_of_v<Masking<T>, M>) {
        return [layer](const Variable<T>& x, Mask& mask) -> Variable<T> {
          Variable<T> y = layer->forward(x);
          mask = layer->compute_mask(x);
          return y;
        };
      } else if constexpr (std::is_base_of_v<Embedding<T>, M>) {
        return [layer](const Variable<T>& x, Mask& mask) -> Variable<T> {
          Variable<T> y = layer->forward(x);  // checks the token ids first
          if (layer->options().mask_zero()) {
            mask = xt::xarray<bool>(xt::not_equal(x.value(), static_cast<T>(0)));
          } else {
            mask.reset();
          }
          return y;
        };
      } else if constexpr (std::is_base_of_v<RecurrentLayer<T>, M>) {
        return [layer](const Variable<T>& x, Mask& mask) -> Variable<T> {
          Variable<T> y = mask ? layer->forward(x, RecurrentCall<T>().mask(mask)) : layer->forward(x);
          if (!layer->options().return_sequences()) mask.reset();
          return y;
        };
      } else if constexpr (std::is_base_of_v<Bidirectional<T>, M>) {
        return [layer](const Variable<T>& x, Mask& mask) -> Variable<T> {
          Variable<T> y = mask ? layer->forward(x, BidirectionalCall<T>().mask(mask)) : layer->forward(x);
          if (!layer->forward_layer()->options().return_sequences()) mask.reset();
          return y;
        };
      } else if constexpr (std::is_base_of_v<Dense<T>, M> || std::is_base_of_v<Dropout<T>, M> ||
                           std::is_base_of_v<LayerNormalization<T>, M> || std::is_base_of_v<TimeDistributed<T>, M>) {
        return [layer](const Variable<T>& x, Mask&) -> Variable<T> { return layer->forward(x); };
      } else if constexpr (std::is_base_of_v<GlobalAveragePooling1D<T>, M>) {
        return [layer](const Variable<T>& x, Mask& mask) -> Variable<T> {
          Variable<T> y = layer->forward(x, mask);
          mask.reset();
          return y;
        };
      } else {
        return [layer](const Variable<T>& x, Mask& mask) -> Variable<T> {
          mask.reset();
          return layer->forward(x);
        };
      }
    }

    std::shared_ptr<Module<T>> module_;
    std::function<Variable<T>(const Variable<T>&)> forward_;
    MaskedForward masked_forward_;
  };

  explicit Sequential(std::string name = "sequential");
  // The layers in order, as by add() one after another.
  Sequential(std::initializer_list<AnyLayer> layers, std::string name = "sequential");

  // The model shares its layers with whoever else holds them; copying it
  // would make a second model over the same layers, so it is not copyable.
  Sequential(const Sequential&) = delete;
  Sequential& operator=(const Sequential&) = delete;

  // Appends a layer and returns it, typed, for later access:
  //   auto dense = model.add(std::make_shared<nn::Dense<>>(nn::DenseOptions(1)));
  // Throws std::invalid_argument for a null layer, the model itself, or a
  // layer already in the model.
  template <typename M>
  std::shared_ptr<M> add(std::shared_ptr<M> layer) {
    add_layer(AnyLayer(layer));
    return layer;
  }

  // Each layer's forward on the previous one's output; x itself for an empty
  // model. Masks made by a layer go on to the next by the rules above. A std::invalid_argument from a layer is rethrown with the model's
  // name and the layer's index and path in front.
  Variable<T> forward(const Variable<T>& x);
  Variable<T> operator()(const Variable<T>& x) { return forward(x); }

  // Builds every layer by running the model once, without recording a graph,
  // on zeros of `input_shape` with each -1 (None) taken as 1: for [B, T, F]
  // inputs, build({-1, -1, F}) or build({-1, T, F}). As Keras' build, it
  // leaves nothing but the weights: that call runs in inference mode (no
  // dropout mask drawn), and every layer's mode, a stateful layer's states
  // and batch size (none before its first call) and the activity penalties
  // are as they were. With a -1 in the shape it first runs once with 2 for
  // each -1, to find which output axes follow one (none_axes). Throws for an
  // empty shape or an entry that is 0 or below -1.
  void build(const std::vector<std::ptrdiff_t>& input_shape);

  std::size_t size() const { return layers_.size(); }
  bool empty() const { return layers_.empty(); }
  // Layer i, as a Module or, with at<Dense<>>(i), as its own type. Throws
  // std::out_of_range for i >= size(), std::invalid_argument naming both
  // types if layer i is not an M ("layer 0 ('simple_rnn') is a
  // xgrad::nn::SimpleRNN<float>").
  template <typename M = Module<T>>
  std::shared_ptr<M> at(std::size_t i) const {
    auto layer = std::dynamic_pointer_cast<M>(module_at(i));
    if (!layer) throw_wrong_type(i, typeid(M));
    return layer;
  }
  // The path of each layer in named_parameters(): "simple_rnn", "dense_1"...
  const std::vector<std::string>& layer_names() const { return names_; }
  // Each layer's output shape in the model's last call (build() counts as
  // one), with that call's batch size and timesteps; empty before the first
  // call. nn::summary shows them.
  const std::vector<Shape>& output_shapes() const { return output_shapes_; }
  // For each layer, which axes of its output follow an axis build() was
  // given as -1 (None): summary() writes them None, as Keras writes a
  // symbolic axis. Empty until build().
  const std::vector<std::vector<bool>>& none_axes() const { return none_axes_; }

 private:
  void add_layer(AnyLayer layer);
  const std::shared_ptr<Module<T>>& module_at(std::size_t i) const;
  [[noreturn]] void throw_wrong_type(std::size_t i, const std::type_info& requested) const;
  std::string describe() const;

  std::vector<AnyLayer> layers_;
  std::vector<std::string> names_;
  std::vector<Shape> output_shapes_;
  std::vector<std::vector<bool>> none_axes_;
};

extern template class Sequential<float>;
extern template class Sequential<double>;

}  // namespace xgrad::nn
