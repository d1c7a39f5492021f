// .npy/.npz I/O: round trips, files written by NumPy (tests/data, made by
// make_npy_fixtures.py), hostile and truncated input, atomic saves.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <new>
#include <string>
#include <vector>

#include "test_helpers.hpp"
#include "xgrad/tensor/npy.hpp"
#include "xtensor/xarray.hpp"

#ifndef XGRAD_TEST_DATA_DIR
#error "compile with -DXGRAD_TEST_DATA_DIR=\"<path of tests/data>\""
#endif

// Largest single operator new request while g_tracking is set, to check that
// a header declaring a huge shape never makes the reader allocate it.
static std::atomic<bool> g_tracking{false};
static std::atomic<std::size_t> g_largest{0};

void* operator new(std::size_t n) {
  if (g_tracking.load()) {
    std::size_t prev = g_largest.load();
    while (n > prev && !g_largest.compare_exchange_weak(prev, n)) {
    }
  }
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return ::operator new(n); }
// Not inlined, or GCC's -Wmismatched-new-delete sees free() of new'd memory.
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace {

namespace fs = std::filesystem;
using xgrad::IoError;
using xgrad::NpyArray;
using xgrad::Shape;
using xgrad::test::slurp;
using xgrad::test::spit;

const std::string kData = XGRAD_TEST_DATA_DIR;

struct LargestAllocation {
  LargestAllocation() {
    g_largest = 0;
    g_tracking = true;
  }
  ~LargestAllocation() { g_tracking = false; }
  std::size_t bytes() const { return g_largest; }
};

// Replaces every occurrence of `from` by the same-length `to`; returns how many.
int patch(std::string& bytes, const std::string& from, const std::string& to) {
  EXPECT_EQ(from.size(), to.size());
  int n = 0;
  for (std::size_t at = bytes.find(from); at != std::string::npos;
       at = bytes.find(from, at + 1), ++n)
    bytes.replace(at, to.size(), to);
  return n;
}

// The message of the IoError that f throws, or a note saying what happened instead.
template <typename F>
std::string io_error(F&& f) {
  try {
    f();
  } catch (const IoError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("<not an IoError> ") + e.what();
  }
  return "<nothing thrown>";
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

#define EXPECT_CONTAINS(text, part)                                         \
  do {                                                                      \
    const std::string text_ = (text);                                       \
    EXPECT_NE(text_.find(part), std::string::npos) << "message: " << text_; \
  } while (0)

template <typename T>
std::string raw(std::initializer_list<T> values) {
  std::string out(values.size() * sizeof(T), '\0');
  std::memcpy(&out[0], values.begin(), out.size());
  return out;
}

// A .npy file with exactly this dict text, padded with spaces to `header_len`
// bytes including the final '\n' (0: no padding).
std::string npy_file(const std::string& dict, const std::string& data, std::size_t header_len = 0,
                     int major = 1) {
  std::string header = dict;
  header.append(header_len == 0 ? 0 : header_len - dict.size() - 1, ' ');
  header += '\n';
  std::string out = std::string("\x93NUMPY", 6) + static_cast<char>(major) + '\0';
  for (int i = 0; i < (major == 1 ? 2 : 4); ++i)
    out += static_cast<char>((header.size() >> (8 * i)) & 0xFF);
  return out + header + data;
}

std::string dict(const std::string& descr, const std::string& shape) {
  return "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
}

template <typename T>
std::vector<T> values_of(const xgrad::Array<T>& a) {
  return std::vector<T>(a.data(), a.data() + a.size());
}

template <typename T>
void expect_array(const NpyArray& a, const std::string& dtype, const Shape& shape,
                  const std::vector<T>& values) {
  EXPECT_EQ(a.dtype, dtype);
  EXPECT_EQ(a.shape, shape);
  if (a.dtype == dtype) {
    EXPECT_EQ(values_of(a.as<T>()), values);
  }
}

class NpyFiles : public xgrad::test::ScratchDirTest {
 protected:
  NpyFiles() : ScratchDirTest("xgrad_npy_") {}

  // Every proper prefix of `bytes` must make `read` throw an IoError naming the file.
  template <typename Read>
  void expect_every_prefix_fails(const std::string& bytes, const std::string& reader, Read read) {
    const std::string p = path("prefix");
    spit(p, bytes);
    ASSERT_NO_THROW(read(p)) << "the whole file must be readable";
    for (std::size_t n = 0; n < bytes.size(); ++n) {
      spit(p, bytes.substr(0, n));
      const std::string msg = io_error([&] { read(p); });
      if (!starts_with(msg, reader + ": " + p + ": ")) {
        ADD_FAILURE() << "prefix of " << n << " of " << bytes.size() << " bytes: " << msg;
        return;
      }
    }
  }
};

// ------------------------------------------------------------ round trips ---

template <typename T>
xgrad::Array<T> sample(const Shape& shape) {
  xgrad::Array<T> a = xgrad::Array<T>::from_shape(shape);
  for (std::size_t i = 0; i < a.size(); ++i) a.data()[i] = static_cast<T>(i) * T(0.37) - T(1.5);
  if (a.size() >= 3) {
    a.data()[1] = -T(0);  // bit patterns must survive, not just values
    a.data()[2] = std::numeric_limits<T>::quiet_NaN();
  }
  return a;
}

template <typename T>
void expect_identical(const xgrad::Array<T>& got, const xgrad::Array<T>& want) {
  EXPECT_EQ(xgrad::to_shape(got.shape()), xgrad::to_shape(want.shape()));
  ASSERT_EQ(got.size(), want.size());
  if (got.size() > 0) {
    EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(T)), 0);
  }
}

const std::vector<Shape> kShapes = {{}, {7}, {2, 3, 4}, {0}, {2, 0, 3}};

template <typename T>
class RoundTrip : public NpyFiles {};
using FloatTypes = ::testing::Types<float, double>;
TYPED_TEST_SUITE(RoundTrip, FloatTypes);

TYPED_TEST(RoundTrip, Npy) {
  using T = TypeParam;
  for (const Shape& shape : kShapes) {
    SCOPED_TRACE(xgrad::shape_to_string(shape));
    const std::string p = this->path("a.npy");
    const xgrad::Array<T> a = sample<T>(shape);
    xgrad::write_npy(p, a);
    const NpyArray r = xgrad::read_npy(p);
    EXPECT_EQ(r.dtype, sizeof(T) == 4 ? "float32" : "float64");
    EXPECT_EQ(r.shape, shape);
    expect_identical(r.as<T>(), a);
    // NumPy's layout: format 1.0, data aligned to 64 bytes after a '\n'.
    const std::string bytes = slurp(p);
    const std::size_t data_at =
        10 + (static_cast<unsigned char>(bytes[8]) | static_cast<unsigned char>(bytes[9]) << 8);
    EXPECT_EQ(bytes[6], 1);
    EXPECT_EQ(data_at % 64, 0u);
    EXPECT_EQ(bytes[data_at - 1], '\n');
    EXPECT_EQ(bytes.size(), data_at + a.size() * sizeof(T));
  }
}

TYPED_TEST(RoundTrip, Npz) {
  using T = TypeParam;
  std::vector<std::pair<std::string, xgrad::Array<T>>> entries;
  for (std::size_t i = 0; i < kShapes.size(); ++i)
    entries.emplace_back("layer" + std::to_string(i) + "/w", sample<T>(kShapes[i]));
  for (bool compressed : {false, true}) {
    SCOPED_TRACE(compressed ? "compressed" : "stored");
    const std::string p = this->path("a.npz");
    xgrad::write_npz(p, entries, compressed);
    const auto r = xgrad::read_npz(p);
    ASSERT_EQ(r.size(), entries.size());
    for (std::size_t i = 0; i < r.size(); ++i) {
      EXPECT_EQ(r[i].first, entries[i].first);
      expect_identical(r[i].second.template as<T>(), entries[i].second);
    }
  }
}

TEST_F(NpyFiles, IntegerAndBoolArraysRoundTrip) {
  const xgrad::Array<std::int32_t> tokens = {{1, -2, 3}, {2147483647, 0, -2147483647 - 1}};
  const xgrad::Array<std::int64_t> steps = 9007199254740993;  // 0-D, not representable as double
  const xgrad::Array<bool> mask = {true, false, false, true};
  xgrad::write_npy(path("mask.npy"), mask);
  EXPECT_EQ(values_of(xgrad::read_npy(path("mask.npy")).as<bool>()), values_of(mask));

  const std::vector<std::pair<std::string, NpyArray>> mixed = {
      {"tokens", NpyArray::from(tokens)},
      {"steps", NpyArray::from(steps)},
      {"mask", NpyArray::from(mask)},
      {"w", NpyArray::from(xgrad::Array<float>{0.5f})}};
  xgrad::write_npz(path("mixed.npz"), mixed, true);
  const auto r = xgrad::read_npz(path("mixed.npz"));
  ASSERT_EQ(r.size(), 4u);
  expect_array<std::int32_t>(r[0].second, "int32", {2, 3}, values_of(tokens));
  expect_array<std::int64_t>(r[1].second, "int64", {}, {9007199254740993});
  expect_array<bool>(r[2].second, "bool", {4}, values_of(mask));
  expect_array<float>(r[3].second, "float32", {1}, {0.5f});
}

// ----------------------------------------------------- files from NumPy ---

TEST(NpyNumpy, ReadsNumpySave) {
  std::vector<float> want;
  for (int i = 0; i < 24; ++i) want.push_back(i * 0.25f - 3);
  expect_array<float>(xgrad::read_npy(kData + "/float32_2x3x4.npy"), "float32", {2, 3, 4}, want);
}

TEST(NpyNumpy, TransposesFortranOrder) {
  std::vector<double> want;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) want.push_back(10 * i + j + 0.5);
  expect_array<double>(xgrad::read_npy(kData + "/float64_3x4_fortran.npy"), "float64", {3, 4},
                       want);
}

TEST(NpyNumpy, ReadsFormatVersions2And3) {
  expect_array<std::int64_t>(xgrad::read_npy(kData + "/int64_v2.npy"), "int64", {3},
                             {-(std::int64_t{1} << 40), 0, 7});
  expect_array<bool>(xgrad::read_npy(kData + "/bool_v3.npy"), "bool", {2, 3},
                     {true, false, true, false, false, true});
}

void expect_fixture_weights(const std::string& file, char compression_method) {
  SCOPED_TRACE(file);
  // The first local header's method field: 0 stored, 8 deflated.
  EXPECT_EQ(slurp(file).at(8), compression_method);
  const auto r = xgrad::read_npz(file);
  std::vector<std::string> names;
  for (const auto& e : r) names.push_back(e.first);
  ASSERT_EQ(names,
            (std::vector<std::string>{"kernel", "recurrent_kernel", "bias", "simple_rnn/kernel",
                                      "dense/bias", "steps", "tokens", "empty"}));
  expect_array<float>(r[0].second, "float32", {5, 2}, {-2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2, 2.5});
  expect_array<float>(r[1].second, "float32", {2, 2}, {1, -1, 0.25, 4});
  expect_array<float>(r[2].second, "float32", {2}, {0.1f, -0.2f});
  expect_array<float>(r[3].second, "float32", {1, 3}, {1, 2, 3});
  expect_array<double>(r[4].second, "float64", {3}, {1.0 / 3, -2.5, 1e-300});
  expect_array<std::int64_t>(r[5].second, "int64", {}, {42});
  expect_array<std::int32_t>(r[6].second, "int32", {2, 3}, {1, 2, 3, 4, 5, -6});
  expect_array<float>(r[7].second, "float32", {0, 4}, {});
}

TEST(NpyNumpy, ReadsNumpySavez) { expect_fixture_weights(kData + "/weights_savez.npz", 0); }

TEST(NpyNumpy, ReadsNumpySavezCompressed) {
  expect_fixture_weights(kData + "/weights_savez_compressed.npz", 8);
}

TEST_F(NpyFiles, WritesWhatNumpySaveWrites) {
  const std::string f32 = kData + "/float32_2x3x4.npy";
  xgrad::write_npy(path("f32.npy"), xgrad::read_npy(f32).as<float>());
  EXPECT_EQ(slurp(path("f32.npy")), slurp(f32));
  // Here NumPy's spare room for a longer first dimension moves the data from 128 to 192.
  const std::string f64 = kData + "/float64_15d.npy";
  xgrad::write_npy(path("f64.npy"), xgrad::read_npy(f64).as<double>());
  EXPECT_EQ(slurp(path("f64.npy")), slurp(f64));
}

TEST_F(NpyFiles, HeaderLengthIsUnsignedAndLongHeadersWork) {
  // xt::load_npy misreads v1 header lengths with a low byte >= 128.
  const std::string data = raw<float>({1.5f, -2.0f});
  const std::string d = dict("<f4", "(2,)");
  for (std::size_t len : {200, 255, 448, 1000, 65535}) {
    SCOPED_TRACE(len);
    spit(path("long.npy"), npy_file(d, data, len));
    expect_array<float>(xgrad::read_npy(path("long.npy")), "float32", {2}, {1.5f, -2.0f});
  }
  spit(path("v2.npy"), npy_file(d, data, 70000, 2));
  expect_array<float>(xgrad::read_npy(path("v2.npy")), "float32", {2}, {1.5f, -2.0f});
  // Python 2 era NumPy wrote dimensions as longs.
  spit(path("py2.npy"), npy_file(dict("<f4", "(1L, 2L)"), data, 128));
  expect_array<float>(xgrad::read_npy(path("py2.npy")), "float32", {1, 2}, {1.5f, -2.0f});
}

// ------------------------------------------------------ hostile input ---

TEST_F(NpyFiles, EveryPrefixOfAnNpyFileThrows) {
  auto read = [](const std::string& p) { xgrad::read_npy(p); };
  for (const char* name : {"float32_2x3x4.npy", "float64_3x4_fortran.npy", "int64_v2.npy"}) {
    SCOPED_TRACE(name);
    expect_every_prefix_fails(slurp(kData + "/" + name), "read_npy", read);
  }
  xgrad::write_npy(path("scalar.npy"), xgrad::Array<double>(2.5));
  expect_every_prefix_fails(slurp(path("scalar.npy")), "read_npy", read);
}

TEST_F(NpyFiles, EveryPrefixOfAnNpzFileThrows) {
  auto read = [](const std::string& p) { xgrad::read_npz(p); };
  for (const char* name : {"weights_savez.npz", "weights_savez_compressed.npz"}) {
    SCOPED_TRACE(name);
    expect_every_prefix_fails(slurp(kData + "/" + name), "read_npz", read);
  }
  for (bool compressed : {false, true}) {
    xgrad::write_npz<float>(path("mine.npz"), {{"k", {{1, 2}, {3, 4}}}, {"b", {5}}}, compressed);
    expect_every_prefix_fails(slurp(path("mine.npz")), "read_npz", read);
  }
}

TEST_F(NpyFiles, HostileNpyFilesThrowWithoutAllocatingWhatTheyDeclare) {
  const std::string f8 = raw<float>({1, 2});
  std::string ones;
  for (int i = 0; i < 65; ++i) ones += "1, ";
  std::string valid = npy_file(dict("<f4", "(2,)"), f8, 118);
  auto with = [&](std::size_t at, const std::string& bytes) {
    return std::string(valid).replace(at, bytes.size(), bytes);
  };
  struct Case {
    const char* label;
    std::string bytes;
    const char* expected;
  };
  const std::vector<Case> cases = {
      {"huge shape", npy_file(dict("<f4", "(1000000000, 1000000000)"), f8),
       "shape (1000000000, 1000000000) of float32 = 4000000000000000000 bytes but 8 bytes are "
       "present"},
      {"4 MB shape", npy_file(dict("<f4", "(1000, 1000)"), f8),
       "= 4000000 bytes but 8 bytes are present"},
      {"too little data", npy_file(dict("<f4", "(3,)"), f8), "= 12 bytes but 8 bytes are present"},
      {"too much data", npy_file(dict("<f4", "(1,)"), f8), "= 4 bytes but 8 bytes are present"},
      {"negative dim", npy_file(dict("<f4", "(-1, 2)"), f8), "negative dimension -1"},
      {"product overflow", npy_file(dict("<f4", "(4294967296, 4294967296)"), f8), "overflows"},
      {"dim overflow", npy_file(dict("<f4", "(123456789012345678901234567890,)"), f8),
       "is too large"},
      {"65 dims", npy_file(dict("<f4", "(" + ones + ")"), f8), "more than 64 dimensions"},
      {"half float", npy_file(dict("<f2", "(4,)"), f8), "unsupported descr '<f2'"},
      {"object", npy_file(dict("|O", "(1,)"), f8), "unsupported descr '|O'"},
      {"big-endian", npy_file(dict(">f4", "(2,)"), f8), "big-endian descr '>f4'"},
      {"structured",
       npy_file("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", f8),
       "structured dtypes"},
      {"missing shape", npy_file("{'descr': '<f4', 'fortran_order': False, }", f8),
       "missing key 'shape'"},
      {"missing descr", npy_file("{'fortran_order': False, 'shape': (2,)}", f8),
       "missing key 'descr'"},
      {"extra key", npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", f8),
       "unexpected key 'x'"},
      {"duplicate key",
       npy_file("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", f8),
       "duplicate key 'descr'"},
      {"garbage", npy_file("hello, world", f8),
       "malformed header \"hello, world\\n\": expected '{'"},
      {"not a dict", npy_file("[1, 2]", f8), "expected '{'"},
      {"bad bool", npy_file("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,)}", f8),
       "expected True or False"},
      {"unterminated", npy_file("{'descr': '<f4", f8), "unterminated string"},
      {"trailing text", npy_file(dict("<f4", "(2,)") + " junk", f8),
       "unexpected text after the dictionary"},
      {"int shape", npy_file(dict("<f4", "(2)"), f8), "must be written (n,)"},
      {"list shape", npy_file(dict("<f4", "[2]"), f8), "expected '('"},
      {"empty header", npy_file("", f8), "expected '{'"},
      {"bool byte 2", npy_file(dict("|b1", "(2,)"), "\x01\x02"),
       "bool element 1 holds byte value 2"},
      {"bad magic", with(1, "NUMPZ"), "bad magic"},
      {"version 4.0", with(6, "\x04"), "version 4.0"},
      {"version 1.1", with(7, "\x01"), "version 1.1"},
      {"header length", with(8, "\xff\xff"),
       "header length field says 65535 bytes but only 126 follow"},
      {"v2 header length",
       std::string(npy_file(dict("<f4", "(2,)"), f8, 0, 2)).replace(8, 4, "\xff\xff\xff\xff"),
       "header length field says 4294967295"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    const std::string p = path("hostile.npy");
    spit(p, c.bytes);
    LargestAllocation largest;
    const std::string msg = io_error([&] { xgrad::read_npy(p); });
    EXPECT_TRUE(starts_with(msg, "read_npy: " + p + ": ")) << msg;
    EXPECT_CONTAINS(msg, c.expected);
    // Slack for the message strings themselves.
    EXPECT_LE(largest.bytes(), c.bytes.size() + 1024);
  }
  EXPECT_CONTAINS(io_error([&] { xgrad::read_npy(path("none.npy")); }), "cannot open");
  EXPECT_CONTAINS(io_error([&] { xgrad::read_npy(dir_); }), "not a regular file");
}

TEST_F(NpyFiles, HostileNpzEntriesNameTheEntry) {
  const std::string p = path("model.npz");
  auto rewrite = [&](const std::vector<std::pair<std::string, xgrad::Array<float>>>& entries,
                     const std::string& from, const std::string& to, int count) {
    xgrad::write_npz(p, entries);
    std::string bytes = slurp(p);
    ASSERT_EQ(patch(bytes, from, to), count);
    spit(p, bytes);
  };
  const xgrad::Array<float> row = {{1, 2, 3}};

  rewrite({{"kernel", row}}, "(1, 3)", "(5, 2)", 1);
  EXPECT_EQ(io_error([&] { xgrad::read_npz(p); }),
            "read_npz: " + p +
                ": entry 'kernel': header declares shape (5, 2) of float32 = 40 bytes but 12 bytes "
                "are present");

  // The growth padding after the dict leaves room for longer dimensions.
  rewrite({{"kernel", row}}, "(1, 3), }            ", "(1000000, 1000000), }", 1);
  {
    const std::size_t file_size = slurp(p).size();
    LargestAllocation largest;
    EXPECT_CONTAINS(io_error([&] { xgrad::read_npz(p); }),
                    "entry 'kernel': header declares shape (1000000, 1000000)");
    EXPECT_LE(largest.bytes(), file_size + 1024);
  }

  rewrite({{"kernel", row}}, "kernel.npy", "kernel.txt", 2);  // local header and directory
  EXPECT_CONTAINS(io_error([&] { xgrad::read_npz(p); }), "entry 'kernel.txt' is not a .npy file");

  // torch.save's zip layout (archive/data.pkl): refused with the numpy.savez hint.
  rewrite({{"kernel", row}}, "kernel.npy", "a/data.pkl", 2);
  EXPECT_CONTAINS(io_error([&] { xgrad::read_npz(p); }), "entry 'a/data.pkl' is not a .npy file");
  EXPECT_CONTAINS(io_error([&] { xgrad::read_npz(p); }),
                  "looks like a PyTorch file (torch.save), not NumPy's .npz");

  rewrite({{"a", row}, {"b", row}}, "b.npy", "a.npy", 2);
  EXPECT_EQ(io_error([&] { xgrad::read_npz(p); }),
            "read_npz: " + p + ": not a valid zip archive: two entries have the same name");

  // A flipped data bit must fail the CRC check, not return a wrong weight.
  rewrite({{"w", xgrad::Array<float>{1234.5f, 6.0f}}}, raw<float>({1234.5f}), raw<float>({1234.25f}),
          1);
  EXPECT_CONTAINS(io_error([&] { xgrad::read_npz(p); }), "entry 'w': cannot read: CRC error");

  std::string deflated = slurp(kData + "/weights_savez_compressed.npz");
  const std::size_t data_at =
      30 + static_cast<unsigned char>(deflated[26]) + static_cast<unsigned char>(deflated[28]);
  deflated[data_at + 10] = static_cast<char>(deflated[data_at + 10] ^ 0x55);
  spit(p, deflated);
  EXPECT_CONTAINS(io_error([&] { xgrad::read_npz(p); }), "entry 'kernel': ");

  spit(p, "");
  EXPECT_CONTAINS(io_error([&] { xgrad::read_npz(p); }), "empty file");
  EXPECT_CONTAINS(io_error([&] { xgrad::read_npz(kData + "/float32_2x3x4.npy"); }),
                  "not a valid zip archive");
}

// Issue 11: a 1 MB .npz inflated to 2.1 GB before any name or shape was
// checked. npz_bomb.npz (make_hostile_fixtures.py) holds 128 MiB of zeros in
// 130 KB; its directory declares that size, and read_npz refuses it there.
TEST_F(NpyFiles, ZipBombIsRefusedBeforeInflating) {
  const std::string file = kData + "/npz_bomb.npz";
  ASSERT_LT(fs::file_size(file), 200000u);
  std::string message;
  {
    LargestAllocation largest;
    message = io_error([&] { xgrad::read_npz(file); });
    EXPECT_LT(largest.bytes(), std::size_t{1} << 20);
  }
  EXPECT_TRUE(starts_with(message, "read_npz: " + file + ": the entries up to 'bomb' inflate to more than 67108864 "
                                   "bytes, the limit for a "))
      << message;
  EXPECT_CONTAINS(message, "raise NpzReadOptions::max_bytes");
}

// The cap counts the inflated bytes the directory declares, the .npy header
// included: exactly that many pass. (npz_bomb.npz is a valid file too:
// make_hostile_fixtures.py loads it with NumPy.)
TEST_F(NpyFiles, MaxBytesLetsATrustedFileInflate) {
  const std::string file = path("zeros.npz");
  xgrad::write_npz<float>(file, {{"zeros", xgrad::zeros<float>({1 << 18})}}, /*compressed=*/true);
  ASSERT_LT(fs::file_size(file), 8192u);
  const std::uint64_t declared = (std::uint64_t{1} << 20) + 128;  // the data and numpy's 128-byte header
  EXPECT_CONTAINS(io_error([&] { xgrad::read_npz(file, xgrad::NpzReadOptions().max_bytes(declared - 1)); }),
                  "the entries up to 'zeros' inflate to more than " + std::to_string(declared - 1) + " bytes");
  const auto entries = xgrad::read_npz(file, xgrad::NpzReadOptions().max_bytes(declared));
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].second.as<float>(), xgrad::zeros<float>({1 << 18}));
}

// A loader sees each entry's name, dtype and shape before its data is read,
// and refuses what its model does not expect at no cost.
TEST_F(NpyFiles, EntryCheckRunsOnEachHeaderBeforeItsData) {
  std::vector<std::string> seen;
  const auto remember = [&](const std::string& name, const std::string& dtype, const Shape& shape) {
    seen.push_back(name + " " + dtype + " " + xgrad::shape_to_string(shape));
  };
  xgrad::read_npz(kData + "/weights_savez_compressed.npz", xgrad::NpzReadOptions().check_entry(remember));
  EXPECT_EQ(seen, (std::vector<std::string>{"kernel float32 (5, 2)", "recurrent_kernel float32 (2, 2)",
                                            "bias float32 (2,)", "simple_rnn/kernel float32 (1, 3)",
                                            "dense/bias float64 (3,)", "steps int64 ()", "tokens int32 (2, 3)",
                                            "empty float32 (0, 4)"}));

  seen.clear();
  LargestAllocation largest;
  const std::string message = io_error([&] {
    xgrad::read_npz(kData + "/npz_bomb.npz",
                    xgrad::NpzReadOptions().max_bytes(std::uint64_t{1} << 30).check_entry(
                        [&](const std::string& name, const std::string& dtype, const Shape& shape) {
                          remember(name, dtype, shape);
                          throw IoError("the model has no weight '" + name + "'");
                        }));
  });
  EXPECT_EQ(message, "the model has no weight 'bomb'");
  EXPECT_EQ(seen, std::vector<std::string>{"bomb float32 (33554432,)"});
  EXPECT_LT(largest.bytes(), std::size_t{1} << 20);
}

// ----------------------------------------------------------------- saving ---

// A .pt or .pth file is refused before it is opened, with the one line of
// Python that writes what read_npz reads.
TEST_F(NpyFiles, PyTorchFilesAreRefusedWithAHint) {
  for (const char* name : {"model.pt", "model.pth"}) {
    xgrad::write_npz(path(name), std::vector<std::pair<std::string, xgrad::Array<float>>>{
                                     {"w", xgrad::Array<float>{1.0f}}});
    const std::string message = io_error([&] { xgrad::read_npz(path(name)); });
    EXPECT_CONTAINS(message, name);
    EXPECT_CONTAINS(message, "PyTorch file");
    EXPECT_CONTAINS(message, "numpy.savez(\"weights.npz\", **{k: v.numpy() for k, v in "
                             "model.state_dict().items()})");
  }
}

TEST_F(NpyFiles, SaveIntoMissingDirectoryThrowsAndLeavesNothing) {
  const std::string p = path("missing/x.npy");
  EXPECT_CONTAINS(io_error([&] { xgrad::write_npy(p, xgrad::Array<float>{1}); }),
                  "write_npy: " + p + ": ");
  EXPECT_CONTAINS(io_error([&] {
                    xgrad::write_npz<float>(p, {{"a", {1}}});
                  }),
                  "write_npz: " + p + ": ");
  EXPECT_TRUE(listing().empty());
}

TEST_F(NpyFiles, SaveReplacesAnExistingFileCompletely) {
  const xgrad::Array<float> small = {1, 2};
  spit(path("x.npy"), std::string(100000, 'x'));
  xgrad::write_npy(path("x.npy"), small);
  xgrad::write_npy(path("fresh.npy"), small);
  EXPECT_EQ(slurp(path("x.npy")), slurp(path("fresh.npy")));

  xgrad::write_npz<float>(path("x.npz"), {{"a", {1}}, {"b", {2}}, {"c", {3}}}, true);
  xgrad::write_npz<float>(path("x.npz"), {{"only", small}});
  const auto r = xgrad::read_npz(path("x.npz"));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].first, "only");
  EXPECT_EQ(listing(),
            (std::vector<std::string>{"fresh.npy", "x.npy", "x.npz"}));  // no temporaries
}

TEST_F(NpyFiles, FailedSaveLeavesTargetAndNoTemporary) {
  // rename() cannot replace a non-empty directory: the failure comes after the temporary is
  // written.
  fs::create_directory(path("target"));
  spit(path("target/keep"), "keep");
  EXPECT_CONTAINS(io_error([&] { xgrad::write_npy(path("target"), xgrad::Array<double>{1}); }),
                  "cannot replace the file");
  EXPECT_CONTAINS(io_error([&] {
                    xgrad::write_npz<double>(path("target"), {{"a", {1}}});
                  }),
                  "cannot replace the file");
  EXPECT_EQ(slurp(path("target/keep")), "keep");
  EXPECT_EQ(listing(), std::vector<std::string>{"target"});
}

TEST_F(NpyFiles, RejectedArgumentsLeaveExistingFile) {
  const std::string p = path("x.npz");
  spit(p, "old");
  using Entries = std::vector<std::pair<std::string, xgrad::Array<float>>>;
  EXPECT_THROW(xgrad::write_npz(p, Entries{{"a", {1}}, {"b", {2}}, {"a", {3}}}),
               std::invalid_argument);
  EXPECT_THROW(xgrad::write_npz(p, Entries{{"", {1}}}), std::invalid_argument);
  EXPECT_THROW(xgrad::write_npz(p, Entries{}), std::invalid_argument);
  EXPECT_THROW(xgrad::write_npy(p, NpyArray{"float32", {3}, std::vector<char>(8)}),
               std::invalid_argument);
  EXPECT_THROW(xgrad::write_npy(p, NpyArray{"float16", {1}, std::vector<char>(2)}),
               std::invalid_argument);
  EXPECT_THROW(xgrad::write_npy(p, NpyArray{"bool", {1}, std::vector<char>(1, 7)}),
               std::invalid_argument);
  EXPECT_EQ(slurp(p), "old");
  EXPECT_EQ(listing(), std::vector<std::string>{"x.npz"});
}

TEST(NpyArrayAs, NamesRequestedAndStoredDtypes) {
  const NpyArray a = NpyArray::from(xgrad::Array<double>{1.0, 2.0});
  try {
    a.as<float>();
    ADD_FAILURE() << "as<float> of float64 must throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "NpyArray::as: requested float32 but the array holds 'float64'");
  }
  EXPECT_THROW((NpyArray{"float32", {3}, std::vector<char>(8)}.as<float>()), std::invalid_argument);
  EXPECT_EQ(values_of(a.as<double>()), (std::vector<double>{1.0, 2.0}));
}

}  // namespace
