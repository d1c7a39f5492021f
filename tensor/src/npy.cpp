// .npy/.npz I/O. The .npy header is parsed here rather than by xt::load_npy,
// which trusts its input (it reads the v1 header length through a signed char
// and never checks that reads succeed). The zip container is libzip's.

#include "xgrad/tensor/npy.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <set>
#include <system_error>
#include <type_traits>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "xgrad's .npy I/O copies little-endian data as is; it needs a little-endian host"
#endif

namespace xgrad {
namespace {

struct Dtype {
  const char* name;
  const char* descr;  // as numpy.save writes it on a little-endian machine
  std::size_t itemsize;
};

constexpr Dtype kDtypes[] = {{"float32", "<f4", 4},
                             {"float64", "<f8", 8},
                             {"int32", "<i4", 4},
                             {"int64", "<i8", 8},
                             {"bool", "|b1", 1}};

constexpr std::size_t kMaxDims = 64;              // NumPy 2's own limit
constexpr std::uint64_t kMaxHeaderLen = 1 << 20;  // NumPy refuses > 10000 by default
constexpr std::size_t kMaxBytes = PTRDIFF_MAX;    // NumPy sizes are signed too

template <typename T>
constexpr const char* dtype_name() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double> ||
                    std::is_same_v<T, std::int32_t> || std::is_same_v<T, std::int64_t> ||
                    std::is_same_v<T, bool>,
                "unsupported element type");
  return std::is_same_v<T, float>          ? "float32"
         : std::is_same_v<T, double>       ? "float64"
         : std::is_same_v<T, std::int32_t> ? "int32"
         : std::is_same_v<T, std::int64_t> ? "int64"
                                           : "bool";
}

const Dtype* find_dtype(const std::string& name) {
  for (const Dtype& d : kDtypes)
    if (name == d.name) return &d;
  return nullptr;
}

std::string errno_text(int e) { return std::generic_category().message(e); }

// File text shown in messages: printable ASCII as is, the rest escaped, cut short.
std::string printable(const std::string& s, std::size_t max_len = 120) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < max_len; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      static const char hex[] = "0123456789abcdef";
      out += c == '\n' ? std::string("\\n") : std::string("\\x") + hex[c >> 4] + hex[c & 15];
    }
  }
  return s.size() > max_len ? out + "..." : out;
}

// Bytes of a C array of this shape, or false if that is not addressable.
bool byte_size(const Shape& shape, std::size_t itemsize, std::size_t& out) {
  std::size_t n = itemsize;
  bool empty = false;
  for (std::size_t d : shape) {
    if (d == 0) {
      empty = true;  // still check the other extents, as NumPy does
    } else if (d > kMaxBytes / n) {
      return false;
    } else {
      n *= d;
    }
  }
  out = empty ? 0 : n;
  return true;
}

// UBSan rightly objects to bool objects holding bytes other than 0 and 1.
std::size_t first_invalid_bool(const std::vector<char>& data) {
  for (std::size_t i = 0; i < data.size(); ++i)
    if (data[i] != 0 && data[i] != 1) return i;
  return data.size();
}

// ---------------------------------------------------------------- header ---

struct Header {
  const Dtype* dtype = nullptr;
  bool fortran_order = false;
  Shape shape;
};

// The header is a Python dict literal; this accepts exactly what NumPy's
// safe_eval would accept for the three keys and the dtypes supported here.
class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& where) : text_(text), where_(where) {}

  Header parse() {
    Header h;
    bool seen[3] = {false, false, false};
    expect('{');
    while (!accept('}')) {
      const std::string key = string_literal();
      const int k = key == "descr" ? 0 : key == "fortran_order" ? 1 : key == "shape" ? 2 : -1;
      if (k < 0) throw IoError(where_ + "unexpected key '" + printable(key) + "' in header");
      if (seen[k]) throw IoError(where_ + "duplicate key '" + key + "' in header");
      seen[k] = true;
      expect(':');
      if (k == 0) {
        skip_space();
        if (pos_ < text_.size() && text_[pos_] == '[')
          throw IoError(where_ + "structured dtypes are not supported");
        h.dtype = lookup_descr(string_literal());
      } else if (k == 1) {
        h.fortran_order = bool_literal();
      } else {
        h.shape = shape_tuple();
      }
      if (!accept(',')) {
        expect('}');
        break;
      }
    }
    skip_space();
    if (pos_ != text_.size()) fail("unexpected text after the dictionary");
    static const char* const names[] = {"descr", "fortran_order", "shape"};
    for (int k = 0; k < 3; ++k)
      if (!seen[k]) throw IoError(where_ + "missing key '" + names[k] + "' in header");
    return h;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw IoError(where_ + "malformed header \"" + printable(text_) + "\": " + what +
                  " at offset " + std::to_string(pos_));
  }
  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool accept(char c) {
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!accept(c)) fail(std::string("expected '") + c + "'");
  }
  bool accept_word(const char* w) {
    const std::size_t n = std::strlen(w);
    if (text_.compare(pos_, n, w) != 0) return false;
    pos_ += n;
    return true;
  }

  std::string string_literal() {
    skip_space();
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"'))
      fail("expected a quoted string");
    const char quote = text_[pos_++];
    const std::size_t start = pos_;
    for (; pos_ < text_.size() && text_[pos_] != quote; ++pos_)
      if (text_[pos_] == '\\') fail("escapes in strings are not supported");
    if (pos_ >= text_.size()) fail("unterminated string");
    return text_.substr(start, pos_++ - start);
  }

  bool bool_literal() {
    skip_space();
    if (accept_word("True")) return true;
    if (accept_word("False")) return false;
    fail("expected True or False");
  }

  std::size_t dimension() {
    skip_space();
    const bool negative = pos_ < text_.size() && text_[pos_] == '-';
    if (negative) ++pos_;
    const std::size_t start = pos_;
    std::size_t v = 0;
    bool too_large = false;
    for (; pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_])); ++pos_) {
      const auto digit = static_cast<std::size_t>(text_[pos_] - '0');
      too_large = too_large || v > (kMaxBytes - digit) / 10;
      if (!too_large) v = v * 10 + digit;
    }
    if (pos_ == start) fail("expected an integer");
    const std::string digits = text_.substr(start, pos_ - start);
    if (negative)
      throw IoError(where_ + "negative dimension -" + printable(digits, 30) + " in shape");
    if (too_large) throw IoError(where_ + "dimension " + printable(digits, 30) + " is too large");
    accept_word("L");  // Python 2 era files write longs as 3L
    return v;
  }

  Shape shape_tuple() {
    Shape dims;
    expect('(');
    if (accept(')')) return dims;
    for (;;) {
      if (dims.size() == kMaxDims)
        throw IoError(where_ + "shape has more than " + std::to_string(kMaxDims) + " dimensions");
      dims.push_back(dimension());
      if (accept(')')) {
        if (dims.size() == 1) fail("a one-element shape must be written (n,)");
        return dims;
      }
      expect(',');
      if (accept(')')) return dims;
    }
  }

  const Dtype* lookup_descr(const std::string& descr) const {
    for (const Dtype& d : kDtypes)
      if (descr == d.descr) return &d;
    if (!descr.empty() && descr[0] == '>')
      throw IoError(where_ + "big-endian descr '" + printable(descr) + "' is not supported");
    throw IoError(where_ + "unsupported descr '" + printable(descr) +
                  "' (supported: '<f4', '<f8', '<i4', '<i8', '|b1')");
  }

  const std::string& text_;
  const std::string& where_;
  std::size_t pos_ = 0;
};

// ---------------------------------------------------------------- reading ---

// A byte stream: a file or a zip entry. read() returns fewer than n bytes
// only at the end of the stream and throws IoError on errors.
class Source {
 public:
  virtual ~Source() = default;
  virtual std::size_t read(char* buf, std::size_t n) = 0;
};

class FileSource final : public Source {
 public:
  FileSource(int fd, const std::string& where) : fd_(fd), where_(where) {}
  std::size_t read(char* buf, std::size_t n) override {
    std::size_t done = 0;
    while (done < n) {
      const ssize_t r = ::read(fd_, buf + done, n - done);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) throw IoError(where_ + "read failed: " + errno_text(errno));
      if (r == 0) break;
      done += static_cast<std::size_t>(r);
    }
    return done;
  }

 private:
  int fd_;
  const std::string& where_;
};

class ZipEntrySource final : public Source {
 public:
  ZipEntrySource(zip_file_t* file, const std::string& where) : file_(file), where_(where) {}
  std::size_t read(char* buf, std::size_t n) override {
    std::size_t done = 0;
    while (done < n) {
      // libzip reports a bad CRC or deflate stream here, at the latest when
      // the caller reads past the end.
      const zip_int64_t r = zip_fread(file_, buf + done, n - done);
      if (r < 0) throw IoError(where_ + "cannot read: " + zip_file_strerror(file_));
      if (r == 0) break;
      done += static_cast<std::size_t>(r);
    }
    return done;
  }

 private:
  zip_file_t* file_;
  const std::string& where_;
};

// Fortran order of shape (a, b, c) is C order of (c, b, a); gather it into C order.
std::vector<char> fortran_to_c(const std::vector<char>& in, const Shape& shape,
                               std::size_t itemsize) {
  std::vector<char> out(in.size());
  const std::size_t nd = shape.size();
  Shape stride(nd), index(nd, 0);
  for (std::size_t k = 0, s = 1; k < nd; s *= shape[k], ++k) stride[k] = s;
  for (std::size_t n = 0; n < in.size() / itemsize; ++n) {
    std::size_t src = 0;
    for (std::size_t k = 0; k < nd; ++k) src += index[k] * stride[k];
    std::memcpy(out.data() + n * itemsize, in.data() + src * itemsize, itemsize);
    for (std::size_t k = nd; k-- > 0 && ++index[k] == shape[k];) index[k] = 0;
  }
  return out;
}

// Reads one .npy stream whose length the file system or zip directory claims
// is `total`. At most `prealloc` bytes of data are allocated before they have
// actually arrived, so a small deflated entry cannot claim gigabytes.
NpyArray read_npy_stream(Source& src, std::uint64_t total, std::uint64_t prealloc,
                         const std::string& where,
                         const std::function<void(const Header&)>& check_header = nullptr) {
  auto read_exact = [&](char* buf, std::size_t n, const char* what) {
    const std::size_t got = src.read(buf, n);
    if (got != n)
      throw IoError(where + "truncated " + what + ": " + std::to_string(got) + " of " +
                    std::to_string(n) + " bytes present");
  };
  if (total < 10)
    throw IoError(where + "only " + std::to_string(total) +
                  " bytes, too short for an NPY file (at least 10)");
  unsigned char pre[12];
  read_exact(reinterpret_cast<char*>(pre), 8, "preamble");
  if (std::memcmp(pre, "\x93NUMPY", 6) != 0)
    throw IoError(where + "bad magic \"" + printable(std::string(pre, pre + 6)) +
                  "\", not an NPY file");
  const unsigned major = pre[6], minor = pre[7];
  if (major < 1 || major > 3 || minor != 0)
    throw IoError(where + "unsupported NPY format version " + std::to_string(major) + "." +
                  std::to_string(minor) + " (supported: 1.0, 2.0, 3.0)");
  const std::size_t width = major == 1 ? 2 : 4;  // of the header length field
  const std::size_t preamble = 8 + width;
  if (total < preamble)
    throw IoError(where + "only " + std::to_string(total) + " bytes, too short for a version " +
                  std::to_string(major) + ".0 preamble");
  read_exact(reinterpret_cast<char*>(pre) + 8, width, "header length field");
  std::uint64_t header_len = 0;
  for (std::size_t i = width; i-- > 0;) header_len = header_len << 8 | pre[8 + i];
  if (header_len > total - preamble)
    throw IoError(where + "header length field says " + std::to_string(header_len) +
                  " bytes but only " + std::to_string(total - preamble) + " follow");
  if (header_len > kMaxHeaderLen)
    throw IoError(where + "header of " + std::to_string(header_len) + " bytes is implausibly long");

  std::string text(header_len, '\0');
  read_exact(&text[0], text.size(), "header");
  const Header h = HeaderParser(text, where).parse();
  if (check_header) check_header(h);
  std::size_t nbytes = 0;
  if (!byte_size(h.shape, h.dtype->itemsize, nbytes))
    throw IoError(where + "header declares shape " + shape_to_string(h.shape) + " of " +
                  h.dtype->name + ", whose size in bytes overflows");
  const std::uint64_t present = total - preamble - header_len;
  if (nbytes != present)
    throw IoError(where + "header declares shape " + shape_to_string(h.shape) + " of " +
                  h.dtype->name + " = " + std::to_string(nbytes) + " bytes but " +
                  std::to_string(present) + " bytes are present");

  std::vector<char> data(static_cast<std::size_t>(std::min<std::uint64_t>(nbytes, prealloc)));
  std::size_t done = 0;
  for (;;) {
    done += src.read(data.data() + done, data.size() - done);
    if (done < data.size() || data.size() == nbytes) break;
    data.resize(std::min(nbytes, std::max<std::size_t>(2 * data.size(), 1 << 16)));
  }
  if (done != nbytes)
    throw IoError(where + "truncated data: " + std::to_string(done) + " of " +
                  std::to_string(nbytes) + " bytes present");
  char extra;
  if (src.read(&extra, 1) != 0)
    throw IoError(where + "more bytes than the " + std::to_string(total) + " declared");

  const std::size_t bad = h.dtype->itemsize == 1 ? first_invalid_bool(data) : data.size();
  if (bad < data.size())
    throw IoError(where + "bool element " + std::to_string(bad) + " holds byte value " +
                  std::to_string(static_cast<unsigned char>(data[bad])));
  if (h.fortran_order && h.shape.size() > 1) data = fortran_to_c(data, h.shape, h.dtype->itemsize);
  return NpyArray{h.dtype->name, h.shape, std::move(data)};
}

struct FdCloser {
  int fd;
  ~FdCloser() { ::close(fd); }
};
struct ZipDiscard {
  void operator()(zip_t* z) const { zip_discard(z); }
};
struct ZipFileClose {
  void operator()(zip_file_t* f) const { zip_fclose(f); }
};
struct ZipSourceFree {
  void operator()(zip_source_t* s) const { zip_source_free(s); }
};

std::string zip_code_text(int code) {
  zip_error_t e;
  zip_error_init_with_code(&e, code);
  std::string s = zip_error_strerror(&e);
  zip_error_fini(&e);
  return s;
}

// ---------------------------------------------------------------- writing ---

// An array to serialise, checked and borrowed from either NpyArray or xarray.
struct ArrayView {
  const Dtype* dtype;
  Shape shape;
  const char* data;
  std::size_t nbytes;
};

ArrayView view_of(const NpyArray& a, const std::string& where) {
  const Dtype* d = find_dtype(a.dtype);
  if (!d) throw std::invalid_argument(where + "unknown dtype '" + a.dtype + "'");
  std::size_t nbytes = 0;
  if (!byte_size(a.shape, d->itemsize, nbytes) || nbytes != a.data.size())
    throw std::invalid_argument(where + "shape " + shape_to_string(a.shape) + " of " + d->name +
                                " does not match the " + std::to_string(a.data.size()) +
                                " data bytes");
  if (d->itemsize == 1 && first_invalid_bool(a.data) < a.data.size())
    throw std::invalid_argument(where + "bool data holds bytes other than 0 and 1");
  return {d, a.shape, a.data.data(), nbytes};
}

template <typename T>
ArrayView view_of(const Array<T>& a) {
  static_assert(Array<T>::static_layout == xt::layout_type::row_major,
                "xt::xarray is assumed row-major, as .npy data is written here");
  return {find_dtype(dtype_name<T>()), to_shape(a.shape()), reinterpret_cast<const char*>(a.data()),
          a.size() * sizeof(T)};
}

// Byte for byte what numpy.save (NumPy 1.24) writes for a C-order array:
// format 1.0 unless the header is too long, spare room for the first extent
// to grow, padding so the data starts at a multiple of 64.
std::string encode_npy(const ArrayView& a) {
  std::string dict = std::string("{'descr': '") + a.dtype->descr +
                     "', 'fortran_order': False, 'shape': " + shape_to_string(a.shape) + ", }";
  if (!a.shape.empty())
    dict.append(21 - std::min<std::size_t>(21, std::to_string(a.shape[0]).size()), ' ');
  std::size_t width = 2;
  auto header_len = [&] { return dict.size() + 1 + 64 - (6 + 2 + width + dict.size() + 1) % 64; };
  if (header_len() > 0xFFFF) width = 4;
  std::string out("\x93NUMPY", 6);
  out += static_cast<char>(width == 2 ? 1 : 2);
  out += '\0';
  for (std::size_t i = 0; i < width; ++i)
    out += static_cast<char>((header_len() >> (8 * i)) & 0xFF);
  out += dict;
  out.append(header_len() - dict.size() - 1, ' ');
  out += '\n';
  if (a.nbytes > 0) out.append(a.data, a.nbytes);
  return out;
}

std::string npz_bytes(const std::vector<std::pair<std::string, ArrayView>>& entries, bool compressed,
                      const std::string& where) {
  if (entries.empty())
    throw std::invalid_argument(where + "no entries (libzip cannot write an empty archive)");
  std::set<std::string> names;
  for (const auto& e : entries) {
    if (e.first.empty() || e.first.find('\0') != std::string::npos)
      throw std::invalid_argument(where + "entry names must be non-empty and without NUL");
    if (!names.insert(e.first).second)
      throw std::invalid_argument(where + "duplicate entry '" + e.first + "'");
  }

  // The archive is built in memory, then written like a .npy file. libzip
  // borrows the encoded entries until zip_close, so they must outlive it and
  // never move: declared first, reserved up front.
  std::vector<std::string> encoded;
  encoded.reserve(entries.size());
  zip_error_t error;
  zip_error_init(&error);
  auto zip_fail = [&](const std::string& what, const std::string& detail) {
    zip_error_fini(&error);
    throw IoError(where + what + ": " + detail);
  };
  std::unique_ptr<zip_source_t, ZipSourceFree> buffer(
      zip_source_buffer_create(nullptr, 0, 0, &error));
  if (!buffer) zip_fail("cannot create zip buffer", zip_error_strerror(&error));
  std::unique_ptr<zip_t, ZipDiscard> archive(
      zip_open_from_source(buffer.get(), ZIP_TRUNCATE, &error));
  if (!archive) zip_fail("cannot create zip archive", zip_error_strerror(&error));
  zip_source_keep(buffer.get());  // the archive holds one reference, `buffer` another

  for (const auto& e : entries) {
    encoded.push_back(encode_npy(e.second));
    const std::string name = e.first + ".npy";
    zip_source_t* s =
        zip_source_buffer(archive.get(), encoded.back().data(), encoded.back().size(), 0);
    const zip_int64_t index =
        s ? zip_file_add(archive.get(), name.c_str(), s, ZIP_FL_ENC_GUESS) : -1;
    if (index < 0) {
      if (s) zip_source_free(s);
      zip_fail("cannot add entry '" + e.first + "'", zip_strerror(archive.get()));
    }
    if (zip_set_file_compression(archive.get(), static_cast<zip_uint64_t>(index),
                                 compressed ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0) != 0)
      zip_fail("cannot set compression of entry '" + e.first + "'", zip_strerror(archive.get()));
  }
  if (zip_close(archive.get()) != 0)
    zip_fail("cannot write zip archive", zip_strerror(archive.get()));
  archive.release();  // zip_close freed it

  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_source_stat(buffer.get(), &st) != 0 || !(st.valid & ZIP_STAT_SIZE) ||
      zip_source_open(buffer.get()) != 0)
    zip_fail("cannot read zip buffer", zip_error_strerror(zip_source_error(buffer.get())));
  std::string bytes(static_cast<std::size_t>(st.size), '\0');
  const zip_int64_t got = zip_source_read(buffer.get(), &bytes[0], bytes.size());
  zip_source_close(buffer.get());
  if (got != static_cast<zip_int64_t>(bytes.size()))
    zip_fail("cannot read zip buffer", zip_error_strerror(zip_source_error(buffer.get())));
  zip_error_fini(&error);
  return bytes;
}

// torch.save writes a pickle (before PyTorch 1.6) or a zip of a pickle
// (archive/data.pkl) and raw storages: neither is NumPy's format. The hint
// that follows "a PyTorch file" in read_npz's message.
const char* const pytorch_hint =
    "looks like a PyTorch file (torch.save), not NumPy's .npz; in Python, save the state dict "
    "with numpy instead: numpy.savez(\"weights.npz\", **{k: v.numpy() for k, v in "
    "model.state_dict().items()})";

bool has_pytorch_extension(const std::string& path) {
  for (const char* extension : {".pt", ".pth"}) {
    const std::size_t n = std::char_traits<char>::length(extension);
    if (path.size() >= n && path.compare(path.size() - n, n, extension) == 0) return true;
  }
  return false;
}

}  // namespace

// ------------------------------------------------------------ public API ---

template <typename T>
Array<T> NpyArray::as() const {
  const std::string want = dtype_name<T>();
  if (dtype != want)
    throw std::invalid_argument("NpyArray::as: requested " + want + " but the array holds " +
                                (dtype.empty() ? std::string("no dtype") : "'" + dtype + "'"));
  view_of(*this, "NpyArray::as: ");  // checks size and bool bytes
  Array<T> out = Array<T>::from_shape(shape);
  if (!data.empty()) std::memcpy(out.data(), data.data(), data.size());
  return out;
}

template <typename T>
NpyArray NpyArray::from(const Array<T>& a) {
  const ArrayView v = view_of(a);
  return NpyArray{v.dtype->name, v.shape, std::vector<char>(v.data, v.data + v.nbytes)};
}

NpyArray read_npy(const std::string& path) {
  const std::string where = "read_npy: " + path + ": ";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw IoError(where + "cannot open: " + errno_text(errno));
  FdCloser closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) throw IoError(where + "cannot stat: " + errno_text(errno));
  if (!S_ISREG(st.st_mode)) throw IoError(where + "not a regular file");
  FileSource src(fd, where);
  const auto size = static_cast<std::uint64_t>(st.st_size);
  return read_npy_stream(src, size, size, where);
}

void write_npy(const std::string& path, const NpyArray& a) {
  const std::string where = "write_npy: " + path + ": ";
  write_file_atomically(path, encode_npy(view_of(a, where)), where);
}

template <typename T>
void write_npy(const std::string& path, const Array<T>& a) {
  write_file_atomically(path, encode_npy(view_of(a)), "write_npy: " + path + ": ");
}

std::vector<std::pair<std::string, NpyArray>> read_npz(const std::string& path,
                                                       const NpzReadOptions& options) {
  const std::string where = "read_npz: " + path + ": ";
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) throw IoError(where + "cannot open: " + errno_text(errno));
  if (!S_ISREG(st.st_mode)) throw IoError(where + "not a regular file");
  // libzip opens an empty file as an empty archive; no .npz is empty.
  if (st.st_size == 0) throw IoError(where + "empty file, not a zip archive");
  const auto file_size = static_cast<std::uint64_t>(st.st_size);
  if (has_pytorch_extension(path)) throw IoError(where + pytorch_hint);
  const std::uint64_t max_bytes =
      options.max_bytes() ? options.max_bytes() : default_declared_bytes_limit(file_size);

  // ZIP_CHECKCONS also rejects duplicate names and local headers that
  // disagree with the central directory.
  int code = 0;
  std::unique_ptr<zip_t, ZipDiscard> archive(
      zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &code));
  if (!archive)
    throw IoError(where + "not a valid zip archive: " +
                  (code == ZIP_ER_EXISTS ? "two entries have the same name" : zip_code_text(code)));
  const zip_int64_t count = zip_get_num_entries(archive.get(), 0);

  // Every entry's name, method and declared size, before any is inflated.
  std::vector<zip_stat_t> stats(static_cast<std::size_t>(std::max<zip_int64_t>(count, 0)));
  std::uint64_t declared = 0;
  for (zip_int64_t i = 0; i < count; ++i) {
    zip_stat_t& zs = stats[static_cast<std::size_t>(i)];
    zip_stat_init(&zs);
    const zip_uint64_t needed = ZIP_STAT_NAME | ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE |
                                ZIP_STAT_COMP_METHOD | ZIP_STAT_ENCRYPTION_METHOD;
    if (zip_stat_index(archive.get(), static_cast<zip_uint64_t>(i), 0, &zs) != 0 ||
        (zs.valid & needed) != needed)
      throw IoError(where + "entry #" + std::to_string(i) +
                    " is unreadable: " + zip_strerror(archive.get()));
    const std::string name = zs.name;
    if (name.size() < 4 || name.compare(name.size() - 4, 4, ".npy") != 0) {
      const bool pickle = name.size() >= 8 && name.compare(name.size() - 8, 8, "data.pkl") == 0;
      throw IoError(where + "entry '" + printable(name) + "' is not a .npy file" +
                    (pickle ? std::string("; the file ") + pytorch_hint : std::string()));
    }
    const std::string entry_where = where + "entry '" + printable(name.substr(0, name.size() - 4)) + "': ";
    if (zs.encryption_method != ZIP_EM_NONE) throw IoError(entry_where + "is encrypted");
    if (zs.comp_method != ZIP_CM_STORE && zs.comp_method != ZIP_CM_DEFLATE)
      throw IoError(entry_where + "unsupported compression method " +
                    std::to_string(zs.comp_method) +
                    " (only stored and deflated, as numpy writes)");
    if (zs.comp_size > file_size || (zs.comp_method == ZIP_CM_STORE && zs.size != zs.comp_size))
      throw IoError(entry_where + "directory claims " + std::to_string(zs.size) + " bytes in " +
                    std::to_string(zs.comp_size) + " stored bytes of a " +
                    std::to_string(file_size) + "-byte file");
    if (__builtin_add_overflow(declared, zs.size, &declared) || declared > max_bytes)
      throw IoError(where + "the entries up to '" + printable(name.substr(0, name.size() - 4)) +
                    "' inflate to more than " + std::to_string(max_bytes) + " bytes, the limit for a " +
                    std::to_string(file_size) + "-byte file (a zip bomb? if the file is trusted, "
                    "raise NpzReadOptions::max_bytes)");
  }

  std::vector<std::pair<std::string, NpyArray>> result;
  for (zip_int64_t i = 0; i < count; ++i) {
    const auto index = static_cast<zip_uint64_t>(i);
    const zip_stat_t& zs = stats[index];
    const std::string name = zs.name;
    const std::string key = name.substr(0, name.size() - 4);
    const std::string entry_where = where + "entry '" + printable(key) + "': ";
    std::unique_ptr<zip_file_t, ZipFileClose> file(zip_fopen_index(archive.get(), index, 0));
    if (!file) throw IoError(entry_where + "cannot open: " + zip_strerror(archive.get()));
    ZipEntrySource src(file.get(), entry_where);
    std::function<void(const Header&)> check_header;
    if (options.check_entry())
      check_header = [&](const Header& h) { options.check_entry()(key, h.dtype->name, h.shape); };
    result.emplace_back(key, read_npy_stream(src, zs.size, zs.comp_size, entry_where, check_header));
  }
  return result;
}

void write_npz(const std::string& path,
               const std::vector<std::pair<std::string, NpyArray>>& entries, bool compressed) {
  const std::string where = "write_npz: " + path + ": ";
  std::vector<std::pair<std::string, ArrayView>> views;
  for (const auto& e : entries)
    views.emplace_back(e.first, view_of(e.second, where + "entry '" + e.first + "': "));
  write_file_atomically(path, npz_bytes(views, compressed, where), where);
}

std::string encode_npz(const std::vector<std::pair<std::string, NpyArray>>& entries, bool compressed) {
  const std::string where = "encode_npz: ";
  std::vector<std::pair<std::string, ArrayView>> views;
  for (const auto& e : entries)
    views.emplace_back(e.first, view_of(e.second, where + "entry '" + e.first + "': "));
  return npz_bytes(views, compressed, where);
}

template <typename T>
void write_npz(const std::string& path,
               const std::vector<std::pair<std::string, Array<T>>>& entries, bool compressed) {
  std::vector<std::pair<std::string, ArrayView>> views;
  for (const auto& e : entries) views.emplace_back(e.first, view_of(e.second));
  const std::string where = "write_npz: " + path + ": ";
  write_file_atomically(path, npz_bytes(views, compressed, where), where);
}

#define XGRAD_NPY_DEFINE(T)                                             \
  template Array<T> NpyArray::as<T>() const;                       \
  template NpyArray NpyArray::from<T>(const Array<T>&);            \
  template void write_npy<T>(const std::string&, const Array<T>&); \
  template void write_npz<T>(const std::string&,                        \
                             const std::vector<std::pair<std::string, Array<T>>>&, bool);
XGRAD_NPY_DEFINE(float)
XGRAD_NPY_DEFINE(double)
XGRAD_NPY_DEFINE(std::int32_t)
XGRAD_NPY_DEFINE(std::int64_t)
XGRAD_NPY_DEFINE(bool)
#undef XGRAD_NPY_DEFINE

}  // namespace xgrad
