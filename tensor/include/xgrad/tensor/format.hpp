#pragma once
// NumPy-identical array text, so example programs print exactly what the
// notebooks they mirror show. Shapes print with shape_to_string (shape.hpp).

#include <string>

#include "xgrad/tensor/shape.hpp"
#include "xgrad/tensor/tensor.hpp"

namespace xgrad {

// What `str(a)` / `print(a)` gives in NumPy for a float32 (T = float) or
// float64 (T = double) array under the default print options: precision 8,
// floatmode 'maxprec', linewidth 75, and corner-only output ("...") above
// 1000 elements. A 0-D array prints like the NumPy scalar, e.g. `1.0`.
template <typename T>
std::string format_array(const Array<T>& a);

extern template std::string format_array<float>(const Array<float>&);
extern template std::string format_array<double>(const Array<double>&);

// Any other xtensor expression of floats or doubles (an xt::xarray, a view),
// evaluated first.
template <typename E, typename T = typename E::value_type>
std::string format_array(const xt::xexpression<E>& e) {
  return format_array<T>(Array<T>(e));
}

}  // namespace xgrad
