// Port of the float path of NumPy's arrayprint.py (FloatingFormat and
// _formatArray) with NumPy's default print options. NumPy's Dragon4 digits
// are reproduced with std::to_chars: shortest round-trip digits, or the exact
// binary value rounded half-to-even where NumPy cuts off or extends digits.

#include "xgrad/tensor/format.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace xgrad {
namespace {

// np.get_printoptions(): precision, linewidth, threshold, edgeitems.
constexpr int kPrecision = 8;
constexpr int kLineWidth = 75;
constexpr std::size_t kThreshold = 1000;
constexpr std::size_t kEdgeItems = 3;
constexpr std::size_t kGap = std::numeric_limits<std::size_t>::max();

// |x| = d.ddd * 10^exp, digits without the dot.
struct Decimal {
  bool negative = false;
  std::string digits;
  int exp = 0;
};

// Shortest round-trip digits of x at T's precision (precision < 0), or the
// exact value rounded to `precision` digits after the first one.
template <typename T>
Decimal to_decimal(T x, int precision = -1) {
  char buf[64];
  const auto res = precision < 0
                       ? std::to_chars(buf, buf + sizeof buf, x, std::chars_format::scientific)
                       : std::to_chars(buf, buf + sizeof buf, x, std::chars_format::scientific,
                                       precision);
  const std::string s(buf, res.ptr);
  Decimal d;
  d.negative = s[0] == '-';
  const std::size_t e = s.find('e');
  for (std::size_t i = d.negative ? 1 : 0; i < e; ++i)
    if (s[i] != '.') d.digits += s[i];
  d.exp = std::stoi(s.substr(e + 1));
  return d;
}

void trim_zeros(std::string& digits) {
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
}

// "12.5" style text of the given digits, zero-padded up to the units digit
// (NumPy's scalar str prints float32(99999992) as 99999990.0).
std::string positional_text(const Decimal& d) {
  std::string s = d.negative ? "-" : "";
  if (d.exp < 0) return s + "0." + std::string(-d.exp - 1, '0') + d.digits;
  std::string digits = d.digits;
  const auto int_len = static_cast<std::size_t>(d.exp) + 1;
  if (digits.size() < int_len) digits.resize(int_len, '0');
  return s + digits.substr(0, int_len) + "." + digits.substr(int_len);
}

// Sign and integer digits, and fractional digits, of x printed positionally
// the way NumPy's arrays do (Dragon4 unique, precision 8, min_digits 0, trim
// '.'): the shortest digits, unless they stop before the units digit or run
// past 8 fractional digits; then the exact value rounded at that boundary.
template <typename T>
std::pair<std::string, std::string> positional_parts(T x) {
  const Decimal d = to_decimal(x);
  const int frac_digits = static_cast<int>(d.digits.size()) - 1 - d.exp;
  std::string s;
  if (frac_digits >= 0 && frac_digits <= kPrecision) {
    s = positional_text(d);
  } else {
    char buf[512];  // room for DBL_MAX in fixed notation
    const auto res = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::fixed,
                                   std::min(std::max(frac_digits, 0), kPrecision));
    s.assign(buf, res.ptr);
    if (s.find('.') == std::string::npos) s += '.';
    while (s.back() == '0') s.pop_back();
  }
  const std::size_t dot = s.find('.');
  return {s.substr(0, dot), s.substr(dot + 1)};
}

std::string exponent_text(int exp, int min_digits) {
  std::string digits = std::to_string(std::abs(exp));
  if (static_cast<int>(digits.size()) < min_digits)
    digits.insert(0, static_cast<std::size_t>(min_digits) - digits.size(), '0');
  return std::string("e") + (exp < 0 ? '-' : '+') + digits;
}

// NumPy's FloatingFormat: one column layout shared by every printed element.
template <typename T>
class FloatFormatter {
 public:
  explicit FloatFormatter(const std::vector<T>& data) {
    std::vector<T> finite;
    for (T x : data)
      if (std::isfinite(x)) finite.push_back(x);

    T max_val = 0;
    T min_val = std::numeric_limits<T>::infinity();
    for (T x : finite) {
      if (x == 0) continue;
      max_val = std::max(max_val, std::abs(x));
      min_val = std::min(min_val, std::abs(x));
    }
    // NumPy compares the T-typed extremes (and their T-typed ratio) to
    // Python floats, i.e. in double.
    if (max_val > 0) {
      const T ratio = max_val / min_val;
      exp_format_ = static_cast<double>(max_val) >= 1e8 || static_cast<double>(min_val) < 1e-4 ||
                    static_cast<double>(ratio) > 1000.0;
    }

    if (exp_format_) {
      // precision becomes the longest (cut-off, trimmed) mantissa fraction
      precision_ = 0;
      exp_size_ = 2;
      for (T x : finite) {
        Decimal d = to_decimal(x);
        if (static_cast<int>(d.digits.size()) - 1 > kPrecision) {
          d = to_decimal(x, kPrecision);
          trim_zeros(d.digits);
        }
        precision_ = std::max(precision_, static_cast<int>(d.digits.size()) - 1);
        pad_left_ = std::max(pad_left_, d.negative ? 2 : 1);
        exp_size_ = std::max(exp_size_, static_cast<int>(std::to_string(std::abs(d.exp)).size()));
      }
      pad_right_ = exp_size_ + 2 + precision_;
    } else {
      for (T x : finite) {
        const auto parts = positional_parts(x);
        pad_left_ = std::max(pad_left_, static_cast<int>(parts.first.size()));
        pad_right_ = std::max(pad_right_, static_cast<int>(parts.second.size()));
      }
    }

    // "nan" / "inf" / "-inf" must fit the column as well.
    if (finite.size() != data.size()) {
      const bool neg_inf =
          std::any_of(data.begin(), data.end(), [](T x) { return std::isinf(x) && x < 0; });
      const int offset = pad_right_ + 1;
      pad_left_ = std::max({pad_left_, 3 - offset, 3 + (neg_inf ? 1 : 0) - offset});
    }
  }

  std::string operator()(T x) const {
    if (!std::isfinite(x)) {
      const std::string s = std::isnan(x) ? "nan" : x < 0 ? "-inf" : "inf";
      return pad(pad_left_ + pad_right_ + 1 - static_cast<int>(s.size())) + s;
    }
    if (exp_format_) {
      // Every mantissa gets exactly precision_ digits; those whose shortest
      // form differs are the exact value rounded (Dragon4 min_digits/cutoff).
      Decimal d = to_decimal(x);
      if (static_cast<int>(d.digits.size()) - 1 != precision_) d = to_decimal(x, precision_);
      const std::string int_part = (d.negative ? "-" : "") + d.digits.substr(0, 1);
      return pad(pad_left_ - static_cast<int>(int_part.size())) + int_part + "." +
             d.digits.substr(1) + exponent_text(d.exp, exp_size_);
    }
    const auto parts = positional_parts(x);
    return pad(pad_left_ - static_cast<int>(parts.first.size())) + parts.first + "." +
           parts.second + pad(pad_right_ - static_cast<int>(parts.second.size()));
  }

 private:
  static std::string pad(int n) {
    return std::string(static_cast<std::size_t>(std::max(n, 0)), ' ');
  }

  bool exp_format_ = false;
  int pad_left_ = 0;
  int pad_right_ = 0;
  int precision_ = kPrecision;
  int exp_size_ = -1;
};

// str() of a NumPy scalar: shortest digits, positional in [1e-4, 1e16).
template <typename T>
std::string scalar_text(T x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x < 0 ? "-inf" : "inf";
  const Decimal d = to_decimal(x);
  const long double abs_x = std::fabs(static_cast<long double>(x));  // as NumPy compares
  if (x == 0 || (abs_x < 1e16L && abs_x >= 1e-4L)) {
    const std::string s = positional_text(d);
    return s.back() == '.' ? s + "0" : s;
  }
  std::string s = (d.negative ? "-" : "") + d.digits.substr(0, 1);
  if (d.digits.size() > 1) s += "." + d.digits.substr(1);
  return s + exponent_text(d.exp, 2);
}

// Indices NumPy shows along an axis of length n; kGap marks the "...".
std::vector<std::size_t> shown_indices(std::size_t n, bool summarise) {
  std::vector<std::size_t> idx;
  const bool gap = summarise && n > 2 * kEdgeItems;
  for (std::size_t i = 0; i < n; ++i) {
    if (gap && i == kEdgeItems) {
      idx.push_back(kGap);
      i = n - kEdgeItems;
    }
    idx.push_back(i);
  }
  return idx;
}

template <typename T>
class ArrayPrinter {
 public:
  explicit ArrayPrinter(const Array<T>& a) : a_(a), summarise_(a.size() > kThreshold) {}

  std::string print() const {
    std::vector<T> shown;
    collect(0, 0, shown);
    const FloatFormatter<T> format(shown);
    return recurse(0, 0, " ", kLineWidth, format);
  }

 private:
  std::ptrdiff_t step(std::size_t axis, std::size_t i) const {
    return static_cast<std::ptrdiff_t>(i) * a_.strides()[axis];
  }

  // The layout is fitted to the printed elements only, as NumPy does.
  void collect(std::size_t axis, std::ptrdiff_t offset, std::vector<T>& out) const {
    if (axis == a_.dimension()) {
      out.push_back(a_.data()[offset]);
      return;
    }
    for (std::size_t i : shown_indices(a_.shape()[axis], summarise_))
      if (i != kGap) collect(axis + 1, offset + step(axis, i), out);
  }

  // NumPy's _formatArray recurser with separator ' '.
  std::string recurse(std::size_t axis, std::ptrdiff_t offset, const std::string& indent, int width,
                      const FloatFormatter<T>& format) const {
    const auto idx = shown_indices(a_.shape()[axis], summarise_);
    const std::size_t axes_left = a_.dimension() - axis;
    std::string s;
    if (axes_left == 1) {
      const int elem_width = width - 1;  // room for ']'
      std::string line = indent;
      for (std::size_t k = 0; k < idx.size(); ++k) {
        const std::string word =
            idx[k] == kGap ? "..." : format(a_.data()[offset + step(axis, idx[k])]);
        // NumPy never wraps before a line's first word, even if it overflows.
        if (static_cast<int>(line.size() + word.size()) > elem_width &&
            line.size() > indent.size()) {
          s += line.substr(0, line.find_last_not_of(' ') + 1) + "\n";
          line = indent;
        }
        line += word;
        if (k + 1 < idx.size()) line += ' ';
      }
      s += line;
    } else {
      const std::string line_sep(axes_left - 1, '\n');
      for (std::size_t k = 0; k < idx.size(); ++k) {
        s += indent;
        s += idx[k] == kGap
                 ? "..."
                 : recurse(axis + 1, offset + step(axis, idx[k]), indent + " ", width - 1, format);
        if (k + 1 < idx.size()) s += line_sep;
      }
    }
    return "[" + s.substr(indent.size()) + "]";
  }

  const Array<T>& a_;
  bool summarise_;
};

}  // namespace

template <typename T>
std::string format_array(const Array<T>& a) {
  if (a.dimension() == 0) return scalar_text(a.data()[0]);
  if (a.size() == 0) return "[]";
  return ArrayPrinter<T>(a).print();
}

template std::string format_array<float>(const Array<float>&);
template std::string format_array<double>(const Array<double>&);

}  // namespace xgrad
