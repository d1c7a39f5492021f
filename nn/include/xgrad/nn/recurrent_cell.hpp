#pragma once
// One step of SimpleRNN, LSTM or GRU composed of primitive ops, and the cell
// layers built on it: Keras' SimpleRNNCell, LSTMCell and GRUCell for
// hand-written loops. The recurrent layers' composed path runs the same step
// at every timestep; it is the reference the fused engine
// (recurrent_sequence.hpp, which has the formulas) is tested against.
//
// Dimension letters: B batch, F input features, U units, G gates per unit
// (SimpleRNN 1, LSTM 4, GRU 3), S states ([h], or LSTM's [h, c]).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "xgrad/autograd/variable.hpp"
#include "xgrad/nn/layer_weights.hpp"
#include "xgrad/nn/recurrent_sequence.hpp"
#include "xgrad/tensor/tensor.hpp"

namespace xgrad::nn {

// What a composed step takes from the input: `projected` = (x ⊙ d_k) ·
// kernel_k for each gate block k, joined ([B, F] or [B, T, F] -> [..,
// G·U]), plus the (input) bias; and a GRU with reset_after's recurrent bias.
template <typename T>
struct ComposedProjection {
  Variable<T> projected;
  std::optional<Variable<T>> recurrent_bias;
};

// input_masks: one dropout mask [B, F] per gate (Keras' implementation 1),
// one for all gates, or none; bias as the layer holds it (or none).
template <typename T>
ComposedProjection<T> composed_projection(const CellSpec& cell, const Variable<T>& x,
                                          const std::vector<Array<T>>& input_masks,
                                          const Variable<T>& kernel, const std::optional<Variable<T>>& bias);

// The S new states from one step of the projection [B, G·U], the states,
// and the recurrent dropout masks d_h [B, U] (one per gate, one for all, or
// none). The output is the new h.
template <typename T>
std::vector<Variable<T>> composed_step(const CellSpec& cell, const Variable<T>& projected,
                                       const std::optional<Variable<T>>& recurrent_bias,
                                       const std::vector<Variable<T>>& states,
                                       const std::vector<Array<T>>& recurrent_masks,
                                       const Variable<T>& recurrent_kernel);

// The dropout masks of one rate for one sequence or cell, as Keras draws
// them: one per gate block when the cell has recurrent dropout (Keras'
// implementation 1), else one for every gate.
template <typename T>
std::vector<Array<T>> draw_dropout_masks(const CellSpec& cell, bool recurrent_dropout, const Shape& shape,
                                         double rate, Generator& generator);

// The base of SimpleRNNCell, LSTMCell and GRUCell: weights, shape checks
// and the dropout masks. As Keras' DropoutRNNCell, a cell draws its masks
// once (d_x [B, F], d_h [B, U]; one of each per gate for LSTMCell and GRUCell
// with recurrent_dropout) and reuses them at every later step until
// reset_dropout_mask() / reset_recurrent_dropout_mask() (call them between
// sequences); a step whose batch size differs from the kept masks' draws new
// ones. built(), kernel(), bias(), weights() and set_weights() come from
// LayerWeights.
template <typename T = float>
class RecurrentCell : public LayerWeights<T> {
 public:
  // Creates the weights for steps [B, F]: only F (the last entry) is used; B
  // may be -1. Throws if F is not positive or the cell was built for another F.
  void build(const std::vector<std::ptrdiff_t>& input_shape);

  // Zeros [B, U], one per state.
  std::vector<Variable<T>> initial_states(std::size_t batch) const;
  // Forget the kept dropout masks: the next training step draws new ones.
  void reset_dropout_mask() { input_masks_.clear(); }
  void reset_recurrent_dropout_mask() { recurrent_masks_.clear(); }

  // A handle to the parameter, as kernel(); std::logic_error before build.
  Variable<T> recurrent_kernel() const { return this->weight("recurrent_kernel"); }
  const CellSpec& cell() const { return cell_; }

 protected:
  // `kind` ("LSTMCell") and `name` start every message. Throws
  // std::invalid_argument for units 0 or a dropout rate outside [0, 1).
  RecurrentCell(const std::string& kind, const std::string& name, std::size_t units,
                std::vector<WeightSpec> specs, CellSpec cell, double dropout, double recurrent_dropout,
                std::optional<std::uint64_t> seed, bool use_bias);

  // (x [B, F], S states [B, U]) -> the S new states, built from primitive ops
  // so every input gets its gradient. Dropout applies as `training` says,
  // or, without it, when is_training(). Throws std::invalid_argument naming
  // the cell and the shapes when they do not fit.
  std::vector<Variable<T>> step(const Variable<T>& x, const std::vector<Variable<T>>& states,
                                std::optional<bool> training);

 private:
  // The kept masks of `shape`, drawn now if there are none of that shape.
  const std::vector<Array<T>>& masks_for(std::vector<Array<T>>& kept, const Shape& shape, double rate);

  CellSpec cell_;
  double dropout_, recurrent_dropout_;
  bool use_bias_;
  bool own_seed_;
  std::vector<Array<T>> input_masks_, recurrent_masks_;
  Generator own_generator_;  // used only with a seed
};

// The cells with one state, h: SimpleRNNCell and GRUCell.
template <typename T = float>
class OneStateCell : public RecurrentCell<T> {
 public:
  // (x_t [B, F], h [B, U]) -> h' [B, U], built from primitive ops so every
  // input gets its gradient. Dropout applies as `training` says, or,
  // without it, when is_training(). Throws std::invalid_argument naming the
  // cell and the shapes when they do not fit.
  Variable<T> forward(const Variable<T>& x, const Variable<T>& state,
                      std::optional<bool> training = std::nullopt) {
    return this->step(x, {state}, training)[0];
  }
  Variable<T> operator()(const Variable<T>& x, const Variable<T>& state,
                         std::optional<bool> training = std::nullopt) {
    return forward(x, state, training);
  }
  // Zeros [B, U], Keras' get_initial_state.
  Variable<T> get_initial_state(std::size_t batch) const { return this->initial_states(batch)[0]; }

 protected:
  using RecurrentCell<T>::RecurrentCell;
};

#define XGRAD_DECLARE_RECURRENT_CELL(T)                                                              \
  extern template ComposedProjection<T> composed_projection(                                         \
      const CellSpec&, const Variable<T>&, const std::vector<Array<T>>&, const Variable<T>&,         \
      const std::optional<Variable<T>>&);                                                            \
  extern template std::vector<Variable<T>> composed_step(                                            \
      const CellSpec&, const Variable<T>&, const std::optional<Variable<T>>&,                        \
      const std::vector<Variable<T>>&, const std::vector<Array<T>>&, const Variable<T>&);             \
  extern template std::vector<Array<T>> draw_dropout_masks(const CellSpec&, bool, const Shape&, double, \
                                                           Generator&);                                \
  extern template class RecurrentCell<T>;
XGRAD_DECLARE_RECURRENT_CELL(float)
XGRAD_DECLARE_RECURRENT_CELL(double)
#undef XGRAD_DECLARE_RECURRENT_CELL

}  // namespace xgrad::nn
