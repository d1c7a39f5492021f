#include "xgrad/nn/regularizers.hpp"

#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>

#include "xgrad/autograd/math_ops.hpp"
#include "xgrad/autograd/ops.hpp"

namespace xgrad::nn {

namespace {

std::string format_number(double x) {
  std::ostringstream out;
  out << x;
  return out.str();
}

// Keras' validate_float_arg: finite and non-negative.
void check_factor(const char* regularizer, const char* factor, double value) {
  if (!std::isfinite(value) || value < 0) {
    throw std::invalid_argument(std::string(regularizer) + ": " + factor +
                                " must be a finite non-negative number, got " + format_number(value));
  }
}

}  // namespace

template <typename T>
Variable<T> Regularizer::penalty(const Variable<T>& weight) const {
  check_factor(name().c_str(), "l1", l1);
  check_factor(name().c_str(), "l2", l2);
  Variable<T> total;
  bool any = false;
  const auto add_term = [&](Variable<T> term) {
    total = any ? xgrad::add(total, term) : term;
    any = true;
  };
  if (l1 != 0) add_term(xgrad::scale(xgrad::sum(xgrad::abs(weight)), static_cast<T>(l1)));
  if (l2 != 0) add_term(xgrad::scale(xgrad::sum(xgrad::square(weight)), static_cast<T>(l2)));
  if (!any) return Variable<T>(Array<T>(Shape{}, T(0)));
  return total;
}

std::string Regularizer::name() const {
  if (l1 != 0 && l2 == 0) return "l1";
  if (l2 != 0 && l1 == 0) return "l2";
  return "l1_l2";
}

std::string Regularizer::describe() const {
  const std::string n = name();
  if (n == "l1") return n + "(" + format_number(l1) + ")";
  if (n == "l2") return n + "(" + format_number(l2) + ")";
  return n + "(l1=" + format_number(l1) + ", l2=" + format_number(l2) + ")";
}

namespace regularizers {

Regularizer l1(double factor) {
  check_factor("l1", "l1", factor);
  Regularizer r;
  r.l1 = factor;
  return r;
}

Regularizer l2(double factor) {
  check_factor("l2", "l2", factor);
  Regularizer r;
  r.l2 = factor;
  return r;
}

Regularizer l1_l2(double l1, double l2) {
  check_factor("l1_l2", "l1", l1);
  check_factor("l1_l2", "l2", l2);
  Regularizer r;
  r.l1 = l1;
  r.l2 = l2;
  return r;
}

}  // namespace regularizers

Regularizer regularizer_from_name(const std::string& name) {
  if (name == "l1" || name == "L1") return regularizers::l1();
  if (name == "l2" || name == "L2") return regularizers::l2();
  if (name == "l1_l2") return regularizers::l1_l2(0.01, 0.01);
  if (name == "L1L2" || name == "l1l2") return regularizers::l1_l2();
  throw std::invalid_argument("regularizer_from_name: unknown regularizer '" + name +
                              "'; known names: l1, l2, l1_l2 (also L1, L2, L1L2, l1l2)");
}

template Variable<float> Regularizer::penalty(const Variable<float>&) const;
template Variable<double> Regularizer::penalty(const Variable<double>&) const;

}  // namespace xgrad::nn
