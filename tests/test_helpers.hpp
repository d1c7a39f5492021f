#pragma once
// Small helpers shared by the GoogleTest suites: gradcheck as a gtest
// assertion, seeded float64 inputs, and "throws this type with a message
// naming these things".

#include <exception>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "xgrad/autograd/gradcheck.hpp"
#include "xgrad/autograd/variable.hpp"
#include "xgrad/tensor/tensor.hpp"

namespace xgrad::test {

// gradcheck with the default (tight) tolerances unless given; on failure the
// assertion message is the result's summary, which locates the worst entry.
inline ::testing::AssertionResult gradcheck_passes(const GradcheckFunction& f,
                                                   const std::vector<Variable<double>>& inputs,
                                                   const GradcheckOptions& options = {}) {
  const GradcheckResult result = gradcheck(f, inputs, options);
  if (result.passed) return ::testing::AssertionSuccess() << result.summary();
  return ::testing::AssertionFailure() << result.summary();
}

// A float64 leaf requiring a gradient, uniform in [low, high) from the global
// generator (seed it first with manual_seed for reproducible inputs).
inline Variable<double> random_variable(const Shape& shape, double low = -1.0,
                                        double high = 1.0) {
  return Variable<double>(uniform<double>(shape, low, high), true);
}

// Whether `f()` throws exactly an `E` (or a subclass) whose what() contains
// every one of `fragments`. Reports what was thrown otherwise.
template <typename E, typename F>
::testing::AssertionResult throws_with(F&& f, std::initializer_list<std::string> fragments) {
  try {
    std::forward<F>(f)();
  } catch (const E& e) {
    const std::string message = e.what();
    for (const auto& fragment : fragments) {
      if (message.find(fragment) == std::string::npos) {
        return ::testing::AssertionFailure()
               << "message \"" << message << "\" does not contain \"" << fragment << "\"";
      }
    }
    return ::testing::AssertionSuccess() << "threw \"" << message << "\"";
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw a different exception type: " << e.what();
  } catch (...) {
    return ::testing::AssertionFailure() << "threw a non-std exception";
  }
  return ::testing::AssertionFailure() << "threw nothing";
}

}  // namespace xgrad::test
