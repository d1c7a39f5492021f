#pragma once
// What every array read_npy or read_npz returns must satisfy, whatever the file.

#include <cstdint>
#include <string>

#include "fuzz_support.hpp"
#include "xgrad/tensor/npy.hpp"

namespace xgrad::fuzz {

inline void check_array(const NpyArray& array, const std::string& name) {
  std::size_t itemsize = 0;
  if (array.dtype == "float32" || array.dtype == "int32") itemsize = 4;
  else if (array.dtype == "float64" || array.dtype == "int64") itemsize = 8;
  else if (array.dtype == "bool") itemsize = 1;
  else fail(name + ": unknown dtype '" + array.dtype + "'");
  std::size_t elements = 1;
  for (std::size_t d : array.shape) elements *= d;
  check(array.data.size() == elements * itemsize,
        name + ": " + std::to_string(array.data.size()) + " data bytes for shape " +
            shape_to_string(array.shape) + " of " + array.dtype);
  // The conversion a caller makes next must accept what the reader accepted.
  if (array.dtype == "float32") check(array.as<float>().size() == elements, name);
  else if (array.dtype == "float64") check(array.as<double>().size() == elements, name);
  else if (array.dtype == "int32") check(array.as<std::int32_t>().size() == elements, name);
  else if (array.dtype == "int64") check(array.as<std::int64_t>().size() == elements, name);
  else check(array.as<bool>().size() == elements, name);
}

}  // namespace xgrad::fuzz
