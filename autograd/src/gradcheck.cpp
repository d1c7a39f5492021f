#include "xgrad/autograd/gradcheck.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <sstream>
#include <stdexcept>

namespace xgrad {

std::string GradcheckResult::summary() const {
  std::ostringstream out;
  out << (passed ? "passed" : "FAILED") << ": " << entries_checked
      << " Jacobian entries, max abs error " << max_abs_error << ", max rel error "
      << max_rel_error << "; worst at input " << worst_input << " element "
      << worst_input_element << ", output element " << worst_output_element << " (analytic "
      << worst_analytic << ", numeric " << worst_numeric << ")";
  return out.str();
}

GradcheckResult gradcheck(const GradcheckFunction& f, const std::vector<Variable<double>>& inputs,
                          const GradcheckOptions& options) {
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].requires_grad()) {
      throw std::invalid_argument("gradcheck: input " + std::to_string(i) + " of shape " +
                                  shape_to_string(inputs[i].shape()) +
                                  " does not require a gradient");
    }
  }
  std::vector<Variable<double>> args = inputs;  // shallow: same nodes

  // Analytic Jacobian, one backward per output element: row j holds the
  // gradient of output j with respect to every input element.
  const Array<double> output = [&] {
    NoGradGuard no_grad;
    return f(args).value();
  }();
  const std::size_t outputs = output.size();
  std::vector<std::vector<Array<double>>> analytic(outputs);
  // The inputs' own gradients are put back afterwards: checking must not
  // disturb a training loop it is called from.
  std::vector<std::optional<Array<double>>> saved_grads;
  for (auto& input : args)
    saved_grads.push_back(input.has_grad() ? std::optional(input.grad()) : std::nullopt);
  for (std::size_t j = 0; j < outputs; ++j) {
    for (auto& input : args) input.zero_grad();
    Variable<double> y = f(args);
    Array<double> seed(y.value().shape(), 0.0);
    seed.flat(j) = 1.0;
    y.backward(seed);
    for (auto& input : args)
      analytic[j].push_back(input.has_grad() ? input.grad()
                                             : Array<double>(input.value().shape(), 0.0));
  }
  for (std::size_t i = 0; i < args.size(); ++i) {
    args[i].zero_grad();
    if (saved_grads[i]) args[i].add_grad(*saved_grads[i]);
  }

  GradcheckResult result;
  double worst_excess = -1.0;
  NoGradGuard no_grad;
  for (std::size_t i = 0; i < args.size(); ++i) {
    Array<double>& value = args[i].value();
    for (std::size_t e = 0; e < value.size(); ++e) {
      const double original = value.flat(e);
      value.flat(e) = original + options.eps;
      const Array<double> plus = f(args).value();
      value.flat(e) = original - options.eps;
      const Array<double> minus = f(args).value();
      value.flat(e) = original;
      for (std::size_t j = 0; j < outputs; ++j) {
        const double numeric = (plus.flat(j) - minus.flat(j)) / (2.0 * options.eps);
        const double computed = analytic[j][i].flat(e);
        const double abs_error = std::abs(computed - numeric);
        const double tolerance = options.atol + options.rtol * std::abs(numeric);
        result.max_abs_error = std::max(result.max_abs_error, abs_error);
        result.max_rel_error =
            std::max(result.max_rel_error, abs_error / std::max(std::abs(numeric), 1e-12));
        ++result.entries_checked;
        if (!(abs_error <= tolerance)) result.passed = false;  // NaN fails too
        const double excess = std::isnan(abs_error) ? INFINITY : abs_error / tolerance;
        if (excess > worst_excess) {
          worst_excess = excess;
          result.worst_input = i;
          result.worst_input_element = e;
          result.worst_output_element = j;
          result.worst_analytic = computed;
          result.worst_numeric = numeric;
        }
      }
    }
  }
  return result;
}

}  // namespace xgrad
