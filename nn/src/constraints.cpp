#include "xgrad/nn/constraints.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>

namespace xgrad::nn {

namespace {

// Keras' backend.epsilon().
constexpr double epsilon = 1e-7;

std::string format_number(double x) {
  std::ostringstream out;
  out << x;
  return out.str();
}

[[noreturn]] void fail(const std::string& constraint, const std::string& what) {
  throw std::invalid_argument(constraint + ": " + what);
}

// The checks the factories and apply() share.
void check_parameters(const Constraint& c) {
  const std::string n = c.name();
  const auto finite = [&](const char* parameter, double x) {
    if (!std::isfinite(x)) fail(n, std::string(parameter) + " must be finite, got " + format_number(x));
  };
  switch (c.kind) {
    case Constraint::Kind::none:
    case Constraint::Kind::non_neg:
    case Constraint::Kind::unit_norm: return;
    case Constraint::Kind::max_norm:
      finite("max_value", c.max_value);
      if (c.max_value < 0) fail(n, "max_value must be non-negative, got " + format_number(c.max_value));
      return;
    case Constraint::Kind::min_max_norm:
      finite("min_value", c.min_value);
      finite("max_value", c.max_value);
      finite("rate", c.rate);
      if (c.min_value < 0 || c.min_value > c.max_value) {
        fail(n, "needs 0 <= min_value <= max_value, got min_value " + format_number(c.min_value) +
                    " and max_value " + format_number(c.max_value));
      }
      if (c.rate < 0 || c.rate > 1) fail(n, "rate must be in [0, 1], got " + format_number(c.rate));
      return;
  }
}

Constraint make(Constraint::Kind kind, std::ptrdiff_t axis) {
  Constraint c;
  c.kind = kind;
  c.axis = axis;
  return c;
}

}  // namespace

template <typename T>
void Constraint::apply(Array<T>& weight) const {
  check_parameters(*this);
  if (kind == Kind::none) return;
  if (kind == Kind::non_neg) {
    for (auto& w : weight) w = std::max(w, T(0));
    return;
  }
  const auto ndim = static_cast<std::ptrdiff_t>(weight.dimension());
  if (axis < -ndim || axis >= ndim) {
    fail(name(), "axis " + std::to_string(axis) + " is out of range for a weight of shape " +
                     shape_to_string(weight.shape()));
  }
  const auto ax = static_cast<std::size_t>(axis < 0 ? axis + ndim : axis);
  // The weight as [outer, extent, inner] around the axis: each (outer, inner)
  // pair is one slice of `extent` elements, `inner` apart.
  std::size_t outer = 1, inner = 1;
  for (std::size_t d = 0; d < ax; ++d) outer *= weight.shape()[d];
  for (std::size_t d = ax + 1; d < weight.dimension(); ++d) inner *= weight.shape()[d];
  const std::size_t extent = weight.shape()[ax];
  T* w = weight.data();
  for (std::size_t p = 0; p < outer; ++p) {
    for (std::size_t i = 0; i < inner; ++i) {
      T* slice = w + p * extent * inner + i;
      double sum_squares = 0;
      for (std::size_t k = 0; k < extent; ++k) {
        const double x = static_cast<double>(slice[k * inner]);
        sum_squares += x * x;
      }
      const double norm = std::sqrt(sum_squares);
      if (kind == Kind::unit_norm) {
        // Keras divides here rather than multiplying by a factor.
        for (std::size_t k = 0; k < extent; ++k)
          slice[k * inner] = static_cast<T>(static_cast<double>(slice[k * inner]) / (epsilon + norm));
        continue;
      }
      double desired = 0;
      if (kind == Kind::max_norm) {
        desired = std::clamp(norm, 0.0, max_value);
      } else {  // min_max_norm
        desired = rate * std::clamp(norm, min_value, max_value) + (1 - rate) * norm;
      }
      const double factor = desired / (epsilon + norm);
      for (std::size_t k = 0; k < extent; ++k)
        slice[k * inner] = static_cast<T>(static_cast<double>(slice[k * inner]) * factor);
    }
  }
}

std::string Constraint::name() const {
  switch (kind) {
    case Kind::none: return "constraint";
    case Kind::max_norm: return "max_norm";
    case Kind::non_neg: return "non_neg";
    case Kind::unit_norm: return "unit_norm";
    case Kind::min_max_norm: return "min_max_norm";
  }
  return "unknown";
}

std::string Constraint::describe() const {
  const std::string n = name();
  const std::string a = "axis=" + std::to_string(axis);
  switch (kind) {
    case Kind::none:
    case Kind::non_neg: return n;
    case Kind::max_norm: return n + "(max_value=" + format_number(max_value) + ", " + a + ")";
    case Kind::unit_norm: return n + "(" + a + ")";
    case Kind::min_max_norm:
      return n + "(min_value=" + format_number(min_value) + ", max_value=" + format_number(max_value) +
             ", rate=" + format_number(rate) + ", " + a + ")";
  }
  return n;
}

bool Constraint::operator==(const Constraint& other) const {
  if (kind != other.kind) return false;
  switch (kind) {
    case Kind::none:
    case Kind::non_neg: return true;
    case Kind::max_norm: return max_value == other.max_value && axis == other.axis;
    case Kind::unit_norm: return axis == other.axis;
    case Kind::min_max_norm:
      return min_value == other.min_value && max_value == other.max_value && rate == other.rate &&
             axis == other.axis;
  }
  return false;
}

namespace constraints {

Constraint max_norm(double max_value, std::ptrdiff_t axis) {
  Constraint c = make(Constraint::Kind::max_norm, axis);
  c.max_value = max_value;
  check_parameters(c);
  return c;
}

Constraint non_neg() { return make(Constraint::Kind::non_neg, 0); }

Constraint unit_norm(std::ptrdiff_t axis) { return make(Constraint::Kind::unit_norm, axis); }

Constraint min_max_norm(double min_value, double max_value, double rate, std::ptrdiff_t axis) {
  Constraint c = make(Constraint::Kind::min_max_norm, axis);
  c.min_value = min_value;
  c.max_value = max_value;
  c.rate = rate;
  check_parameters(c);
  return c;
}

}  // namespace constraints

Constraint constraint_from_name(const std::string& name) {
  if (name == "max_norm" || name == "MaxNorm") return constraints::max_norm();
  if (name == "non_neg" || name == "NonNeg") return constraints::non_neg();
  if (name == "unit_norm" || name == "UnitNorm") return constraints::unit_norm();
  if (name == "min_max_norm" || name == "MinMaxNorm") return constraints::min_max_norm();
  if (name == "constraint" || name == "Constraint") return Constraint{};
  throw std::invalid_argument("constraint_from_name: unknown constraint '" + name +
                              "'; known names: max_norm, non_neg, unit_norm, min_max_norm, "
                              "constraint (also MaxNorm, NonNeg, UnitNorm, MinMaxNorm, Constraint)");
}

template void Constraint::apply(Array<float>&) const;
template void Constraint::apply(Array<double>&) const;

}  // namespace xgrad::nn
