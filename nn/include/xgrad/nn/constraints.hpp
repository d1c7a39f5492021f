#pragma once
// Weight constraints with Keras' formulas, names and defaults
// (keras/src/constraints): a projection applied to a weight in place after
// each optimizer step.
//
//   optimizer.step();
//   nn::constraints::max_norm(3.0).apply(dense.kernel().value());
//
// The norm constraints work on the L2 norms of the slices along `axis`:
// norms = sqrt(sum(w², axis, keepdims)), one per slice, e.g. for a Dense
// kernel [F, U] and axis 0, the norm of each unit's incoming weights.
// With Keras' epsilon e = 1e-7 (which keeps a zero slice at zero, not NaN):
//
//   max_norm      w · clip(norms, 0, max_value) / (e + norms)
//   unit_norm     w / (e + norms)
//   min_max_norm  w · (rate · clip(norms, min_value, max_value) + (1 − rate) · norms)
//                   / (e + norms)
//   non_neg       max(w, 0)
//
// Because of e, a slice already within bounds is still scaled by
// norm / (e + norm), as in Keras. The arithmetic is done in double and each
// result rounded once to T.

#include <cstddef>
#include <string>

#include "xgrad/tensor/tensor.hpp"

namespace xgrad::nn {

// A constraint as a value. Make one with the factories in nn::constraints
// (which check the parameters) or constraint_from_name. Default-constructed,
// it is Keras' base Constraint: weights are left unchanged.
struct Constraint {
  enum class Kind { none, max_norm, non_neg, unit_norm, min_max_norm };

  Kind kind = Kind::none;
  double min_value = 0.0;  // min_max_norm (Keras: 0.0)
  double max_value = 2.0;  // max_norm (Keras: 2), min_max_norm (Keras: 1.0)
  double rate = 1.0;       // min_max_norm (Keras: 1.0), in [0, 1]
  // The axis the norms are taken along, counted from the end when negative
  // (Keras: 0). Keras also accepts a list of axes; xgrad takes one.
  std::ptrdiff_t axis = 0;

  // Projects `weight` in place. Throws std::invalid_argument naming the
  // constraint for an axis out of range (a 0-D weight has no axis) or
  // parameters out of range; nothing changes then.
  template <typename T>
  void apply(Array<T>& weight) const;

  // Keras' snake_case name: "max_norm", ..., "constraint" for none.
  std::string name() const;
  // "max_norm(max_value=2, axis=0)".
  std::string describe() const;

  // Same kind and same parameters that the kind uses.
  bool operator==(const Constraint& other) const;
  bool operator!=(const Constraint& other) const { return !(*this == other); }
};

namespace constraints {

// Keras' MaxNorm, NonNeg, UnitNorm, MinMaxNorm with their defaults. Throw
// std::invalid_argument unless the values are finite, 0 <= min_value <=
// max_value and 0 <= rate <= 1 (checks Keras leaves out).
Constraint max_norm(double max_value = 2.0, std::ptrdiff_t axis = 0);
Constraint non_neg();
Constraint unit_norm(std::ptrdiff_t axis = 0);
Constraint min_max_norm(double min_value = 0.0, double max_value = 1.0, double rate = 1.0,
                        std::ptrdiff_t axis = 0);

}  // namespace constraints

// Keras' string identifiers, with their defaults: "max_norm", "non_neg",
// "unit_norm", "min_max_norm", their class names "MaxNorm", "NonNeg",
// "UnitNorm", "MinMaxNorm", and "constraint" / "Constraint" (unchanged
// weights). Throws std::invalid_argument listing the known names.
Constraint constraint_from_name(const std::string& name);

extern template void Constraint::apply(Array<float>&) const;
extern template void Constraint::apply(Array<double>&) const;

}  // namespace xgrad::nn
