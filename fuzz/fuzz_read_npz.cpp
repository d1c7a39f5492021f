// xgrad::read_npz on arbitrary bytes, as they are (libzip's checks, CRCs
// included) and with the CRCs made valid (the .npy entries behind them):
// an IoError or consistent arrays. Seeds: tests/data/*.npz (scripts/fuzz.sh).

#include <set>

#include "npy_checks.hpp"

namespace {
void read_and_check(const std::string& path) {
  try {
    std::set<std::string> names;
    for (const auto& [name, array] : xgrad::read_npz(path)) {
      xgrad::fuzz::check(names.insert(name).second, "read_npz: duplicate entry '" + name + "'");
      xgrad::fuzz::check_array(array, "read_npz: entry '" + name + "'");
    }
  } catch (const xgrad::IoError&) {
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static xgrad::fuzz::ScratchFile file(".npz");
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  read_and_check(file.write(bytes));
  const std::string repaired = xgrad::fuzz::with_valid_crcs(bytes);
  if (repaired != bytes) read_and_check(file.write(repaired));
  return 0;
}
