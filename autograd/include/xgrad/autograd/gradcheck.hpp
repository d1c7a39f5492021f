#pragma once
// gradcheck: compares the whole Jacobian that backward() computes with
// central differences, in float64. Usable on any function of Variables,
// including a user's own model: the function must compute its output from
// the very Variables passed in (gradcheck perturbs their values in place and
// restores them).

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "xgrad/autograd/variable.hpp"

namespace xgrad {

struct GradcheckOptions {
  double eps = 1e-6;   // central-difference step
  double atol = 1e-7;  // an entry passes when |analytic - numeric| <= atol + rtol * |numeric|
  double rtol = 1e-5;
};

struct GradcheckResult {
  bool passed = true;
  double max_abs_error = 0.0;  // largest |analytic - numeric| over all entries
  double max_rel_error = 0.0;  // largest |analytic - numeric| / max(|numeric|, 1e-12)
  // The entry furthest beyond its tolerance (or closest to it when all pass):
  std::size_t worst_input = 0;         // which input
  std::size_t worst_input_element = 0;  // flat index into that input
  std::size_t worst_output_element = 0; // flat index into the output
  double worst_analytic = 0.0;
  double worst_numeric = 0.0;
  std::size_t entries_checked = 0;

  // One line: "passed: 120 entries, max abs error 3.1e-11, ..." or where it failed.
  std::string summary() const;
};

using GradcheckFunction = std::function<Variable<double>(const std::vector<Variable<double>>&)>;

// Every input must require a gradient. Throws std::invalid_argument otherwise.
GradcheckResult gradcheck(const GradcheckFunction& f, const std::vector<Variable<double>>& inputs,
                          const GradcheckOptions& options = {});

}  // namespace xgrad
