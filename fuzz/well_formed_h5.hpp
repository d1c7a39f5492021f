#pragma once
// fuzz_keras_weights_trusted's input: a text that describes a well-formed
// HDF5 file, which this writes with libhdf5 itself. A file a user marks as
// trusted is well-formed (libhdf5 wrote it); what the fuzzer varies is
// what it holds: which groups and datasets, their shapes, element types and
// values. Raw bytes would only find libhdf5's own crashes on malformed files,
// which is why untrusted files are read by the xgrad-h5-reader program.
//
// One object per line, at most kMaxLines:
//
//   PATH                       a group (and the groups above it)
//   PATH TYPE [DIM ...] [= VALUE ...]
//                              a dataset: TYPE f32 f64 i32 i64 u8 or str
//                              (8-byte strings), rank 0 to 4, each DIM at
//                              most 64 and 2^16 elements in all; its values
//                              repeat the listed ones (none: 0.1 · (i % 7 − 3))
//
// Lines that are not that, or name an object that cannot be made (a path
// through a dataset, one made already), are skipped: every input is a file.

#include <hdf5.h>

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "fuzz_support.hpp"

namespace xgrad::fuzz {

constexpr std::size_t kMaxLines = 64;
constexpr std::size_t kMaxRank = 4;
constexpr hsize_t kMaxDim = 64;
constexpr hsize_t kMaxElements = hsize_t(1) << 16;

struct DatasetLine {
  std::string path, type;
  std::vector<hsize_t> dims;
  std::vector<double> values;
};

// Whether `line` describes a dataset (false: a group, or nothing usable).
inline bool parse_dataset(const std::string& line, DatasetLine& out, bool& group) {
  std::istringstream words(line);
  group = false;
  if (!(words >> out.path) || out.path.empty()) return false;
  if (!(words >> out.type)) {
    group = true;
    return false;
  }
  std::string word;
  bool values = false;
  hsize_t elements = 1;
  while (words >> word) {
    if (word == "=") {
      values = true;
      continue;
    }
    char* end = nullptr;
    const double number = std::strtod(word.c_str(), &end);
    if (end == word.c_str() || *end != '\0') return false;
    if (values) {
      out.values.push_back(number);
      continue;
    }
    if (!(number >= 0 && number <= double(kMaxDim)) || out.dims.size() == kMaxRank) return false;
    out.dims.push_back(static_cast<hsize_t>(number));
    elements *= out.dims.back();
  }
  return elements <= kMaxElements;
}

inline hid_t file_type_of(const std::string& type) {
  if (type == "f32") return H5T_IEEE_F32LE;
  if (type == "f64") return H5T_IEEE_F64LE;
  if (type == "i32") return H5T_STD_I32LE;
  if (type == "i64") return H5T_STD_I64LE;
  if (type == "u8") return H5T_STD_U8LE;
  return -1;
}

inline void write_dataset(hid_t file, hid_t link_properties, const DatasetLine& d) {
  const hid_t space = d.dims.empty() ? H5Screate(H5S_SCALAR)
                                     : H5Screate_simple(static_cast<int>(d.dims.size()), d.dims.data(), nullptr);
  hsize_t elements = 1;
  for (hsize_t dim : d.dims) elements *= dim;
  const auto value = [&](hsize_t i) {
    return d.values.empty() ? 0.1 * (double(i % 7) - 3) : d.values[i % d.values.size()];
  };
  if (d.type == "str") {
    const hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, 8);
    const hid_t set = H5Dcreate2(file, d.path.c_str(), type, space, link_properties, H5P_DEFAULT, H5P_DEFAULT);
    if (set >= 0) {
      std::string text(elements * 8, '\0');
      for (hsize_t i = 0; i < elements; ++i) text.replace(i * 8, 8, std::to_string(value(i)).substr(0, 8));
      H5Dwrite(set, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, text.data());
      H5Dclose(set);
    }
    H5Tclose(type);
  } else if (const hid_t type = file_type_of(d.type); type >= 0) {
    const hid_t set = H5Dcreate2(file, d.path.c_str(), type, space, link_properties, H5P_DEFAULT, H5P_DEFAULT);
    if (set >= 0) {
      // Written as doubles; libhdf5 converts them to the file's type
      // (saturating what the integer types cannot hold).
      std::vector<double> data(elements);
      for (hsize_t i = 0; i < elements; ++i) data[i] = value(i);
      H5Dwrite(set, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data());
      H5Dclose(set);
    }
  }
  H5Sclose(space);
}

// Writes the file `text` describes to `path`.
inline void write_well_formed_h5(const std::string& text, const std::string& path) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // a line that cannot be made is skipped, silently
  const hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  check(file >= 0, "cannot create the HDF5 scratch file " + path);
  const hid_t link_properties = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(link_properties, 1);
  std::istringstream lines(text);
  std::string line;
  for (std::size_t n = 0; n < kMaxLines && std::getline(lines, line); ++n) {
    DatasetLine dataset;
    bool group = false;
    if (parse_dataset(line, dataset, group)) {
      write_dataset(file, link_properties, dataset);
    } else if (group) {
      const hid_t made = H5Gcreate2(file, dataset.path.c_str(), link_properties, H5P_DEFAULT, H5P_DEFAULT);
      if (made >= 0) H5Gclose(made);
    }
  }
  H5Pclose(link_properties);
  check(H5Fclose(file) >= 0, "cannot close the HDF5 scratch file " + path);
}

}  // namespace xgrad::fuzz
