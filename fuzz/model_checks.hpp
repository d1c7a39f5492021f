#pragma once
// For the targets that load weights into models: what a load that reported
// success must have left behind. A shape other than the module's (or, for an
// unbuilt layer, one the next call rejects) would be a silent corruption;
// here it aborts (check) or escapes as std::invalid_argument from the call,
// which libFuzzer reports as a crash.

#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "xgrad/autograd/variable.hpp"
#include "xgrad/nn/module.hpp"
#include "xgrad/tensor/file_io.hpp"
#include "xgrad/tensor/shape.hpp"

namespace xgrad::fuzz {

template <typename T>
std::vector<Shape> parameter_shapes(const nn::Module<T>& module) {
  std::vector<Shape> shapes;
  for (const auto& parameter : module.parameters()) shapes.push_back(to_shape(parameter.shape()));
  return shapes;
}

// A built module's parameters keep their shapes through a load.
template <typename T>
void check_same_shapes(const nn::Module<T>& module, const std::vector<Shape>& before, const std::string& what) {
  const std::vector<Shape> after = parameter_shapes(module);
  check(after.size() == before.size(), what + ": the load changed the number of parameters");
  for (std::size_t i = 0; i < after.size(); ++i)
    check(shapes_equal(after[i], before[i]), what + ": parameter " + std::to_string(i) + " went from " +
                                                 shape_to_string(before[i]) + " to " + shape_to_string(after[i]));
}

// One forward call on zeros of `shape`, the input the loaded model is for.
template <typename T, typename M>
void call_once(M& model, const Shape& shape) {
  NoGradGuard no_graph;
  model(Variable<T>(zeros<T>(shape)));
}

}  // namespace xgrad::fuzz
