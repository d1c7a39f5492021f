#pragma once
// The checks a DetectAnomaly guard turns on (xgrad/autograd/anomaly.hpp),
// called by Variable::from_op and Variable::backward. Each throws
// NonFiniteError naming the op, its layer (nullptr: outside any) and shapes.

#include <vector>

#include "xgrad/autograd/variable.hpp"

namespace xgrad::detail {

// The forward result of `op`; the message also names an input that was
// already non-finite (data, a parameter, or a value made before the guard).
template <typename T>
void check_forward_result(const char* op, const char* layer, const Array<T>& result,
                          const std::vector<Variable<T>>& inputs);

// The gradients of `inputs` right after the backward of `op`, whose output
// has the shape `output_shape`: the earlier backward steps were checked, so
// a non-finite one was made by this op.
template <typename T>
void check_input_gradients(const char* op, const char* layer,
                           const typename Array<T>::shape_type& output_shape,
                           const std::vector<Variable<T>>& inputs);

// Before a backward pass: the gradient it starts from (`leaf` false), or one a
// leaf holds from an earlier pass (`leaf` true).
template <typename T>
void check_gradient_before_backward(const Array<T>& grad, bool leaf);

}  // namespace xgrad::detail
