#pragma once
// Bidirectional: Keras' keras.layers.Bidirectional around a recurrent layer
// (SimpleRNN, LSTM or GRU, given by its options), with its names, merge modes
// and call options.
//
// Dimension letters: B batch, T timesteps, F input features, U units.
//
//   forward_layer   the layer of `options` (SimpleRNN for SimpleRNNOptions,
//                   LSTM for LSTMOptions, GRU for GRUOptions), named
//                   "forward_" + options.name()
//   backward_layer  the same options with go_backwards flipped, named
//                   "backward_" + options.name()
//
// Both get fresh weights (Keras rebuilds both from the wrapped layer's
// config) and, as Keras forces on its copies, zero_output_for_mask =
// return_sequences: masked timesteps of a returned sequence are zeros.
//
//   y   = forward_layer(x)                  [B, T, U] or [B, U]
//   y_r = backward_layer(x)                 in processing order t = T .. 1
//   y_b = flip(y_r, time) with return_sequences, else y_r ([B, U] = h after t = 1)
//
//   merge_mode "concat" (default)  [y, y_b] on the last axis   [.., 2U]
//              "sum"               y + y_b                     [.., U]
//              "ave"               (y + y_b) / 2               [.., U]
//              "mul"               y ⊙ y_b                     [.., U]
//              none ("none" or std::nullopt): both, unmerged (forward_both)
//
// The call's mask [B, T] goes to both directions; its initial state is
// Keras' list of 2·S states [B, U], the first half for forward_layer ([h_f,
// h_b], or for LSTM [h_f, c_f, h_b, c_b]). forward_with_state also returns
// each direction's final states, as Keras' return_state=True (output, then
// the forward layer's states, then the backward layer's).
//
// Parameters: "forward_layer/kernel", "forward_layer/recurrent_kernel",
// "forward_layer/bias", then the same under "backward_layer/". Keras weight
// files hold them at <path>/forward_layer/cell/vars/0.. and
// <path>/backward_layer/cell/vars/0.. (keras_weights.hpp).
//
// Keras 3 sets go_backwards=True on its backward copy and refuses a wrapped
// layer that already goes backwards; here go_backwards is flipped instead
// (Keras 2's behaviour), which is the same for every layer Keras 3 accepts.

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <xtensor/xarray.hpp>

#include "xgrad/nn/module.hpp"
#include "xgrad/nn/options.hpp"
#include "xgrad/nn/gru.hpp"
#include "xgrad/nn/lstm.hpp"
#include "xgrad/nn/recurrent.hpp"
#include "xgrad/nn/simple_rnn.hpp"

namespace xgrad::nn {

struct BidirectionalOptions {
  // "concat", "sum", "ave", "mul", or "none" / std::nullopt (Keras' None).
  XGRAD_ARG(std::optional<std::string>, merge_mode) = std::string("concat");  // Keras: "concat"
  XGRAD_ARG(std::string, name) = "bidirectional";  // Keras' default layer name
};

// The options of one call, Keras' call arguments:
//   bi.forward(x, nn::BidirectionalCall<double>().initial_state({h_f, h_b}).mask(m));
template <typename T = float>
struct BidirectionalCall {
  // 2·S states [B, U]: forward_layer's, then backward_layer's (Keras splits
  // its list in halves). Gradients reach all.
  XGRAD_ARG(std::optional<std::vector<Variable<T>>>, initial_state);
  // [B, T]: true where a timestep is used; given to both directions.
  XGRAD_ARG(std::optional<xt::xarray<bool>>, mask);
  XGRAD_ARG(std::optional<bool>, training);
};

template <typename T = float>
struct BidirectionalOutput {
  Variable<T> output;          // merged: [B, T, 2U] / [B, T, U] or [B, 2U] / [B, U]
  Variable<T> forward_state;   // h [B, U]
  Variable<T> backward_state;  // h [B, U]
  std::vector<Variable<T>> forward_states, backward_states;  // [h] or [h, c]
};

// Both directions unmerged (merge mode none); the backward output is already
// flipped back into input time order when it is a sequence.
template <typename T = float>
struct BidirectionalBothOutput {
  Variable<T> forward_output;
  Variable<T> backward_output;
  Variable<T> forward_state;   // h [B, U]
  Variable<T> backward_state;  // h [B, U]
  std::vector<Variable<T>> forward_states, backward_states;  // [h] or [h, c]
};

namespace detail {
// A copy of the wrapped layer's options for one direction, as Keras
// re-creates each direction from the layer's config: named prefix + name
// (without a prefix already there), go_backwards flipped for the backward
// copy, and zero_output_for_mask = return_sequences, as Keras forces on both.
std::string without_prefix(const std::string& text, const std::string& prefix);
template <typename LayerOptions>
LayerOptions bidirectional_direction(LayerOptions options, const std::string& prefix, bool flip) {
  options.name(prefix + without_prefix(options.name(), prefix));
  if (flip) options.go_backwards(!options.go_backwards());
  options.zero_output_for_mask(options.return_sequences());
  return options;
}
}  // namespace detail

template <typename T = float>
class Bidirectional : public Module<T> {
 public:
  // From the wrapped layer's options: SimpleRNNOptions, LSTMOptions or
  // GRUOptions. Throws std::invalid_argument naming the layer for an
  // unknown merge mode (listing the known ones), and whatever the layer's
  // constructor throws for bad layer options.
  template <typename LayerOptions, typename Layer = typename LayerOptions::template Layer<T>>
  explicit Bidirectional(LayerOptions layer, BidirectionalOptions options = BidirectionalOptions())
      : Bidirectional(std::move(options)) {
    // The forward copy first: it names the errors of bad layer options.
    auto forward = std::make_shared<Layer>(detail::bidirectional_direction(layer, "forward_", false));
    set_layers(std::move(forward),
               std::make_shared<Layer>(detail::bidirectional_direction(std::move(layer), "backward_", true)));
  }

  // Builds both directions for inputs [B, T, F] (B and T may be -1).
  void build(const std::vector<std::ptrdiff_t>& input_shape);
  bool built() const { return forward_->built() && backward_->built(); }

  // x [B, T, F] -> the merged output. Throws std::invalid_argument naming
  // the layer and the shapes for a bad input, mask or initial state, and
  // for merge mode none (use forward_both).
  Variable<T> forward(const Variable<T>& x) { return forward(x, BidirectionalCall<T>()); }
  Variable<T> forward(const Variable<T>& x, const BidirectionalCall<T>& call);
  Variable<T> operator()(const Variable<T>& x) { return forward(x); }
  Variable<T> operator()(const Variable<T>& x, const BidirectionalCall<T>& call) {
    return forward(x, call);
  }
  // The merged output and both final states (Keras' return_state=True),
  // whether or not the return_state option is set. Throws for merge mode none.
  BidirectionalOutput<T> forward_with_state(const Variable<T>& x,
                                            const BidirectionalCall<T>& call = BidirectionalCall<T>());

  // Both outputs unmerged (forward, backward), whatever the merge mode.
  std::pair<Variable<T>, Variable<T>> forward_both(const Variable<T>& x,
                                                   const BidirectionalCall<T>& call = BidirectionalCall<T>());
  BidirectionalBothOutput<T> forward_both_with_state(const Variable<T>& x,
                                                     const BidirectionalCall<T>& call = BidirectionalCall<T>());

  // Stateful layers: both directions back to zeros. Throws std::logic_error
  // unless stateful, as Keras.
  void reset_state();

  const std::shared_ptr<RecurrentLayer<T>>& forward_layer() const { return forward_; }
  const std::shared_ptr<RecurrentLayer<T>>& backward_layer() const { return backward_; }
  // nullopt for none; otherwise "concat", "sum", "ave" or "mul".
  const std::optional<std::string>& merge_mode() const { return merge_mode_; }
  const BidirectionalOptions& options() const { return options_; }

 private:
  // Checks and keeps the merge mode; set_layers adds the directions.
  explicit Bidirectional(BidirectionalOptions options);
  void set_layers(std::shared_ptr<RecurrentLayer<T>> forward, std::shared_ptr<RecurrentLayer<T>> backward);
  std::string describe() const;
  BidirectionalBothOutput<T> run(const Variable<T>& x, const BidirectionalCall<T>& call);
  Variable<T> merge(const Variable<T>& y, const Variable<T>& y_backward) const;

  BidirectionalOptions options_;
  std::optional<std::string> merge_mode_;  // normalised: "none" -> nullopt
  std::shared_ptr<RecurrentLayer<T>> forward_, backward_;
};

extern template class Bidirectional<float>;
extern template class Bidirectional<double>;

}  // namespace xgrad::nn
