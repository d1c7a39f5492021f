#include "xgrad/nn/recurrent_cell.hpp"

#include <stdexcept>
#include <utility>

#include "xgrad/autograd/math_ops.hpp"
#include "xgrad/autograd/ops.hpp"
#include "xgrad/nn/dropout.hpp"

namespace xgrad::nn {

namespace {

// Column block k (of `width`) of a [.., G·U] value.
template <typename T>
Variable<T> block(const Variable<T>& value, std::size_t k, std::size_t width) {
  return slice(value, -1, k * width, (k + 1) * width);
}

// values[k] · kernel's block k for each k, joined; one value serves every gate.
template <typename T>
Variable<T> per_gate_product(const std::vector<Variable<T>>& values, const Variable<T>& kernel,
                             std::size_t units) {
  if (values.size() == 1) return matmul(values[0], kernel);
  std::vector<Variable<T>> blocks;
  for (std::size_t k = 0; k < values.size(); ++k) blocks.push_back(matmul(values[k], block(kernel, k, units)));
  return concat(blocks, -1);
}

}  // namespace

template <typename T>
ComposedProjection<T> composed_projection(const CellSpec& cell, const Variable<T>& x,
                                          const std::vector<Array<T>>& input_masks,
                                          const Variable<T>& kernel, const std::optional<Variable<T>>& bias) {
  const std::size_t units = kernel.shape()[1] / cell.gates();
  ComposedProjection<T> out;
  if (input_masks.empty()) {
    out.projected = matmul(x, kernel);
  } else {
    // A [B, F] mask reaches every timestep of [B, T, F] as [B, 1, F].
    Shape mask_shape{x.shape()[0], x.shape().back()};
    if (x.dimension() == 3) mask_shape = {x.shape()[0], 1, x.shape()[2]};
    std::vector<Variable<T>> dropped;
    for (const Array<T>& mask : input_masks) dropped.push_back(mul(x, Variable<T>(reshaped(mask, mask_shape))));
    out.projected = per_gate_product(dropped, kernel, units);
  }
  if (!bias) return out;
  if (cell.bias_rows() == 2) {
    out.projected = add(out.projected, select(*bias, 0, 0));
    out.recurrent_bias = select(*bias, 0, 1);
  } else {
    out.projected = add(out.projected, *bias);
  }
  return out;
}

template <typename T>
std::vector<Variable<T>> composed_step(const CellSpec& cell, const Variable<T>& projected,
                                       const std::optional<Variable<T>>& recurrent_bias,
                                       const std::vector<Variable<T>>& states,
                                       const std::vector<Array<T>>& recurrent_masks,
                                       const Variable<T>& recurrent_kernel) {
  const std::size_t units = recurrent_kernel.shape()[0];
  const Variable<T>& h = states[0];
  // h ⊙ d_h, once or once per gate.
  std::vector<Variable<T>> recurrent_inputs{h};
  if (!recurrent_masks.empty()) {
    recurrent_inputs.clear();
    for (const Array<T>& mask : recurrent_masks) recurrent_inputs.push_back(mul(h, Variable<T>(mask)));
  }
  if (cell.kind == CellSpec::Kind::simple_rnn) {
    return {apply_activation(cell.activation, add(projected, per_gate_product(recurrent_inputs, recurrent_kernel, units)))};
  }
  if (cell.kind == CellSpec::Kind::lstm) {
    const Variable<T> z = add(projected, per_gate_product(recurrent_inputs, recurrent_kernel, units));
    const Variable<T> i = apply_activation(cell.recurrent_activation, block(z, 0, units));
    const Variable<T> f = apply_activation(cell.recurrent_activation, block(z, 1, units));
    const Variable<T> g = apply_activation(cell.activation, block(z, 2, units));
    const Variable<T> o = apply_activation(cell.recurrent_activation, block(z, 3, units));
    const Variable<T> c = add(mul(f, states[1]), mul(i, g));
    return {mul(o, apply_activation(cell.activation, c)), c};
  }
  // GRU: u (Keras' z), q (Keras' r), then the candidate ĥ.
  const auto input_of = [&](std::size_t k) { return recurrent_inputs[recurrent_inputs.size() == 1 ? 0 : k]; };
  const auto recurrent_of = [&](std::size_t k) {
    Variable<T> product = matmul(input_of(k), block(recurrent_kernel, k, units));
    return recurrent_bias ? add(product, block(*recurrent_bias, k, units)) : product;
  };
  const Variable<T> u = apply_activation(cell.recurrent_activation, add(block(projected, 0, units), recurrent_of(0)));
  const Variable<T> q = apply_activation(cell.recurrent_activation, add(block(projected, 1, units), recurrent_of(1)));
  const Variable<T> candidate_recurrent =
      cell.reset_after ? mul(q, recurrent_of(2)) : matmul(mul(q, input_of(2)), block(recurrent_kernel, 2, units));
  const Variable<T> candidate = apply_activation(cell.activation, add(block(projected, 2, units), candidate_recurrent));
  // u ⊙ h + (1 − u) ⊙ ĥ, with the undropped h, as Keras.
  return {add(candidate, mul(u, sub(h, candidate)))};
}

template <typename T>
std::vector<Array<T>> draw_dropout_masks(const CellSpec& cell, bool recurrent_dropout, const Shape& shape,
                                         double rate, Generator& generator) {
  std::vector<Array<T>> masks;
  for (std::size_t k = 0; k < (recurrent_dropout ? cell.gates() : 1); ++k)
    masks.push_back(dropout_mask<T>(shape, rate, generator));
  return masks;
}

template <typename T>
RecurrentCell<T>::RecurrentCell(const std::string& kind, const std::string& name, std::size_t units,
                                std::vector<WeightSpec> specs, CellSpec cell, double dropout,
                                double recurrent_dropout, std::optional<std::uint64_t> seed, bool use_bias)
    : LayerWeights<T>(kind, name, units, std::move(specs), "cell", "build({-1, F})"),
      cell_(cell),
      dropout_(dropout),
      recurrent_dropout_(recurrent_dropout),
      use_bias_(use_bias),
      own_seed_(seed.has_value()),
      own_generator_(seed.value_or(0)) {
  check_dropout_rates(this->describe(), dropout, recurrent_dropout);
  if (own_seed_) this->register_generator("seed_generator", own_generator_);
}

template <typename T>
void RecurrentCell<T>::build(const std::vector<std::ptrdiff_t>& input_shape) {
  if (input_shape.empty() || input_shape.back() <= 0) {
    throw std::invalid_argument(this->describe() +
                                ": build expects an input shape (batch, features) with "
                                "features > 0 (batch may be -1), got " +
                                input_shape_to_string(input_shape));
  }
  this->build_for(static_cast<std::size_t>(input_shape.back()));
}

template <typename T>
std::vector<Variable<T>> RecurrentCell<T>::initial_states(std::size_t batch) const {
  std::vector<Variable<T>> out;
  const std::size_t units = this->recurrent_kernel().shape()[0];
  for (std::size_t k = 0; k < cell_.states(); ++k) out.push_back(Variable<T>(zeros<T>({batch, units})));
  return out;
}

template <typename T>
const std::vector<Array<T>>& RecurrentCell<T>::masks_for(std::vector<Array<T>>& kept, const Shape& shape,
                                                         double rate) {
  if (kept.empty() || !shapes_equal(kept[0].shape(), shape))
    kept = draw_dropout_masks<T>(cell_, recurrent_dropout_ > 0.0, shape, rate,
                                 own_seed_ ? own_generator_ : generator());
  return kept;
}

template <typename T>
std::vector<Variable<T>> RecurrentCell<T>::step(const Variable<T>& x, const std::vector<Variable<T>>& states,
                                                std::optional<bool> training) {
  const auto scope = this->layer_scope();
  if (x.dimension() != 2 || x.shape()[1] == 0) {
    throw std::invalid_argument(this->describe() + ": expected a step of shape (batch, features), got " +
                                shape_to_string(x.shape()));
  }
  if (!this->built()) build({-1, static_cast<std::ptrdiff_t>(x.shape()[1])});
  const std::size_t batch = x.shape()[0], features = this->input_features();
  const Variable<T> recurrent = recurrent_kernel();
  const std::size_t units = recurrent.shape()[0];
  if (x.shape()[1] != features) {
    throw std::invalid_argument(this->describe() + ": expected a step of shape (batch, " +
                                std::to_string(features) + "), got " + shape_to_string(x.shape()));
  }
  const Shape state_shape{batch, units};
  bool fits = states.size() == cell_.states();
  std::string shapes;
  for (std::size_t i = 0; i < states.size(); ++i) {
    shapes += (i ? ", " : "") + shape_to_string(states[i].shape());
    fits = fits && shapes_equal(states[i].shape(), state_shape);
  }
  if (!fits) {
    throw std::invalid_argument(this->describe() + ": expected " +
                                (cell_.states() == 1 ? std::string("a state") : std::to_string(cell_.states()) + " states") +
                                " of shape " + shape_to_string(state_shape) + " for a step of shape " +
                                shape_to_string(x.shape()) + ", got " + shapes);
  }
  const bool dropping = training.value_or(this->is_training());  // as RecurrentLayer::run decides
  std::vector<Array<T>> input_masks;
  if (dropping && dropout_ > 0.0) input_masks = masks_for(input_masks_, {batch, features}, dropout_);
  std::vector<Array<T>> recurrent_masks;
  if (dropping && recurrent_dropout_ > 0.0) recurrent_masks = masks_for(recurrent_masks_, state_shape, recurrent_dropout_);
  const ComposedProjection<T> in = composed_projection(
      cell_, x, input_masks, this->kernel(), use_bias_ ? std::optional(this->bias()) : std::nullopt);
  return composed_step(cell_, in.projected, in.recurrent_bias, states, recurrent_masks, recurrent);
}

#define XGRAD_INSTANTIATE_RECURRENT_CELL(T)                                                    \
  template ComposedProjection<T> composed_projection(const CellSpec&, const Variable<T>&,     \
                                                     const std::vector<Array<T>>&,              \
                                                     const Variable<T>&,                        \
                                                     const std::optional<Variable<T>>&);        \
  template std::vector<Variable<T>> composed_step(                                            \
      const CellSpec&, const Variable<T>&, const std::optional<Variable<T>>&,                 \
      const std::vector<Variable<T>>&, const std::vector<Array<T>>&, const Variable<T>&);      \
  template std::vector<Array<T>> draw_dropout_masks(const CellSpec&, bool, const Shape&, double, \
                                                    Generator&);                                \
  template class RecurrentCell<T>;
XGRAD_INSTANTIATE_RECURRENT_CELL(float)
XGRAD_INSTANTIATE_RECURRENT_CELL(double)
#undef XGRAD_INSTANTIATE_RECURRENT_CELL

}  // namespace xgrad::nn
