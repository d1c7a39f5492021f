#pragma once
// Weight regularizers with Keras' formulas, names and defaults
// (keras/src/regularizers): a penalty on a weight that is added to the loss.
//
//   penalty(w) = l1 · sum(|w|) + l2 · sum(w²)      (a 0-D value, differentiable)
//
//   nn::Regularizer reg = nn::regularizers::l2(1e-4);
//   Variable<float> loss = add(data_loss, reg.penalty(dense.kernel()));
//
// Its gradient is l1 · sign(w) + 2 · l2 · w, with sign(0) = 0 (the
// subgradient TensorFlow and JAX use for |w| at 0).

#include <string>

#include "xgrad/autograd/variable.hpp"

namespace xgrad::nn {

// A regularizer as a value. Keras' L1, L2 and L1L2 are all this with one or
// both factors set. Default-constructed, both factors are 0: no penalty
// (Keras' L1L2()). Make one with the factories in nn::regularizers, which
// check the factors, or regularizer_from_name.
struct Regularizer {
  double l1 = 0.0;  // factor of sum(|w|); >= 0
  double l2 = 0.0;  // factor of sum(w²); >= 0

  // The penalty on `weight` as a 0-D Variable, recorded in the graph when
  // `weight` requires a gradient. As in Keras' L1L2, a term whose factor is 0
  // is left out: with both factors 0 the result is a constant 0 that
  // requires no gradient. Factors are cast to T, as Keras casts them to the
  // weight's dtype. Throws std::invalid_argument naming the factor if one is
  // negative or not finite (the fields can be set by hand).
  template <typename T>
  Variable<T> penalty(const Variable<T>& weight) const;

  // "l1", "l2" or "l1_l2" (also for both factors 0), by which factors are set.
  std::string name() const;
  // "l1_l2(l1=0.01, l2=0.01)".
  std::string describe() const;

  bool operator==(const Regularizer& other) const { return l1 == other.l1 && l2 == other.l2; }
  bool operator!=(const Regularizer& other) const { return !(*this == other); }
};

namespace regularizers {

// Keras' keras.regularizers.L1 / L2 / L1L2 with their defaults. Each throws
// std::invalid_argument unless its factors are finite and >= 0 (Keras'
// validate_float_arg).
Regularizer l1(double factor = 0.01);
Regularizer l2(double factor = 0.01);
Regularizer l1_l2(double l1 = 0.0, double l2 = 0.0);

}  // namespace regularizers

// Keras' string identifiers:
//   "l1", "L1"       l1(0.01)
//   "l2", "L2"       l2(0.01)
//   "l1_l2"          l1_l2(0.01, 0.01): the string Keras' L1L2 documents
//                    ("the default values used are l1=0.01 and l2=0.01")
//   "L1L2", "l1l2"   l1_l2(0, 0): Keras 3's class name and its snake_case,
//                    which construct L1L2() with its own defaults
// Throws std::invalid_argument listing the known names.
Regularizer regularizer_from_name(const std::string& name);

extern template Variable<float> Regularizer::penalty(const Variable<float>&) const;
extern template Variable<double> Regularizer::penalty(const Variable<double>&) const;

}  // namespace xgrad::nn
