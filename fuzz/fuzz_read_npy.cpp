// xgrad::read_npy on arbitrary bytes: an IoError or a consistent array.
// Seeds: tests/data/*.npy (scripts/fuzz.sh).

#include "npy_checks.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static xgrad::fuzz::ScratchFile file(".npy");
  try {
    xgrad::fuzz::check_array(xgrad::read_npy(file.write(data, size)), "read_npy");
  } catch (const xgrad::IoError&) {
  }
  return 0;
}
