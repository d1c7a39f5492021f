#pragma once
// Small helpers shared by the GoogleTest suites: gradcheck as a gtest
// assertion, seeded float64 inputs, "throws this type with a message naming
// these things", shape and element-wise array checks, a scratch directory
// per test, and the float64 reference loop of every recurrent layer with its
// pieces (seeded draws independent of xgrad's generator, weights, the
// activations by formula).

#include <stdlib.h>  // mkdtemp

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <optional>
#include <random>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "xgrad/autograd/gradcheck.hpp"
#include "xgrad/autograd/variable.hpp"
#include "xgrad/nn/activation.hpp"
#include "xgrad/tensor/allocator.hpp"
#include "xgrad/tensor/shape.hpp"
#include "xgrad/tensor/tensor.hpp"
#include <xtensor/xarray.hpp>

namespace xgrad::test {

// gradcheck with the default (tight) tolerances unless given; on failure the
// assertion message is the result's summary, which locates the worst entry.
inline ::testing::AssertionResult gradcheck_passes(const GradcheckFunction& f,
                                                   const std::vector<Variable<double>>& inputs,
                                                   const GradcheckOptions& options = {}) {
  const GradcheckResult result = gradcheck(f, inputs, options);
  if (result.passed) return ::testing::AssertionSuccess() << result.summary();
  return ::testing::AssertionFailure() << result.summary();
}

// gradcheck_passes, and having checked at least one entry: a check of
// nothing (an empty input or output) passes vacuously.
inline ::testing::AssertionResult gradcheck_passes_nonempty(
    const GradcheckFunction& f, const std::vector<Variable<double>>& inputs,
    const GradcheckOptions& options = {}) {
  const GradcheckResult result = gradcheck(f, inputs, options);
  if (result.passed && result.entries_checked > 0)
    return ::testing::AssertionSuccess() << result.summary();
  if (result.entries_checked == 0)
    return ::testing::AssertionFailure() << "checked no entries: " << result.summary();
  return ::testing::AssertionFailure() << result.summary();
}

// A float64 leaf requiring a gradient, uniform in [low, high) from the global
// generator (seed it first with manual_seed for reproducible inputs).
inline Variable<double> random_variable(const Shape& shape, double low = -1.0,
                                        double high = 1.0) {
  return Variable<double>(uniform<double>(shape, low, high), true);
}

// The same, drawn right after manual_seed(seed): an input fixed by its own seed.
inline Variable<double> seeded_random_variable(const Shape& shape, std::uint64_t seed,
                                               double low = -1.0, double high = 1.0) {
  manual_seed(seed);
  return random_variable(shape, low, high);
}

// Whether `f()` throws exactly an `E` (or a subclass) whose what() contains
// every one of `fragments`. Reports what was thrown otherwise.
template <typename E, typename F>
::testing::AssertionResult throws_with(F&& f, std::initializer_list<std::string> fragments) {
  try {
    std::forward<F>(f)();
  } catch (const E& e) {
    const std::string message = e.what();
    for (const auto& fragment : fragments) {
      if (message.find(fragment) == std::string::npos) {
        return ::testing::AssertionFailure()
               << "message \"" << message << "\" does not contain \"" << fragment << "\"";
      }
    }
    return ::testing::AssertionSuccess() << "threw \"" << message << "\"";
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw a different exception type: " << e.what();
  } catch (...) {
    return ::testing::AssertionFailure() << "threw a non-std exception";
  }
  return ::testing::AssertionFailure() << "threw nothing";
}

// Whether `a` (an array, an expression, anything with shape()) has exactly
// `shape`. Says which shape it has otherwise. (Not named has_shape: on
// xtensor arrays argument-dependent lookup would find xt::has_shape, which
// returns a bare bool.)
template <typename A>
::testing::AssertionResult shape_is(const A& a, const Shape& shape) {
  if (to_shape(a.shape()) == shape) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "shape " << shape_to_string(a.shape()) << ", expected "
                                       << shape_to_string(shape);
}

// `actual` has the shape of `expected` and every element within `tol` of it.
template <typename T>
void expect_array_near(const Array<T>& actual, const Array<T>& expected, double tol) {
  ASSERT_EQ(shape_to_string(actual.shape()), shape_to_string(expected.shape()));
  for (std::size_t i = 0; i < actual.size(); ++i)
    EXPECT_NEAR(actual.flat(i), expected.flat(i), tol) << "at flat index " << i;
}

// Every element of `a` is finite (no NaN, no infinity).
template <typename T>
void expect_all_finite(const Array<T>& a) {
  for (std::size_t i = 0; i < a.size(); ++i)
    EXPECT_TRUE(std::isfinite(a.flat(i))) << "element " << i << " is " << a.flat(i);
}

// max |AᵀA − gain² I| over all entries, for the columns of a 2-D array,
// computed in float64: 0 for orthonormal columns times gain.
template <typename T>
double column_gram_error(const Array<T>& a, double gain = 1.0) {
  const std::size_t rows = a.shape()[0], cols = a.shape()[1];
  double worst = 0.0;
  for (std::size_t i = 0; i < cols; ++i)
    for (std::size_t j = 0; j < cols; ++j) {
      double dot = 0.0;
      for (std::size_t k = 0; k < rows; ++k) dot += static_cast<double>(a(k, i)) * a(k, j);
      worst = std::max(worst, std::abs(dot - (i == j ? gain * gain : 0.0)));
    }
  return worst;
}

// The names of a module's named_parameters() (pairs of name and
// parameter), in order.
template <typename NamedParameters>
std::vector<std::string> names_of(const NamedParameters& named) {
  std::vector<std::string> names;
  for (const auto& entry : named) names.push_back(entry.first);
  return names;
}

// The whole content of a file (empty if it cannot be read).
inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Writes `bytes` as the whole content of a new file at `path`.
inline void spit(const std::string& path, const std::string& bytes) {
  // A new file rather than a truncated one: ext4 flushes truncated files on
  // close, which makes thousands of prefix files slow on a busy disk.
  std::remove(path.c_str());
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

// A test that starts and ends with the allocator's default cache limit
// (256 MiB) and an empty cache, whatever the test before it set.
class DefaultMemoryCacheTest : public ::testing::Test {
 protected:
  void SetUp() override { reset(); }
  void TearDown() override { reset(); }

 private:
  static void reset() {
    xgrad::set_cached_memory_limit(std::size_t(256) << 20);
    xgrad::release_cached_memory();
  }
};

// A fixture with a fresh, empty directory per test (<prefix>XXXXXX under
// gtest's TempDir()), removed with everything in it after the test:
//
//   class HistoryFiles : public xgrad::test::ScratchDirTest {
//    protected:
//     HistoryFiles() : ScratchDirTest("xgrad_history_") {}
//   };
class ScratchDirTest : public ::testing::Test {
 protected:
  explicit ScratchDirTest(std::string prefix) : prefix_(std::move(prefix)) {}

  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + prefix_ + "XXXXXX";
    ASSERT_NE(::mkdtemp(&tmpl[0]), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ignored;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
  }

  // The path of `name` in the directory.
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  // The names of the entries in the directory, sorted.
  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir_))
      names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  std::string dir_;

 private:
  std::string prefix_;
};

// ---------------------------------------------------------------------------
// For the reference loop (recurrent_reference, below) and its suites

// Seeded draws from the standard library, independent of xgrad's generator,
// so the reference tests do not share any machinery with the library.
class Draw {
 public:
  explicit Draw(std::uint64_t seed) : generator_(seed) {}
  Array<double> uniform(const Shape& shape, double low, double high) {
    Array<double> out = Array<double>::from_shape(shape);
    std::uniform_real_distribution<double> distribution(low, high);
    for (auto& v : out) v = distribution(generator_);
    return out;
  }

 private:
  std::mt19937_64 generator_;
};

// max |a − b|, infinite (and a test failure) for a shape mismatch or a NaN.
template <typename T>
double max_abs_diff(const Array<T>& a, const Array<T>& b) {
  if (!std::equal(a.shape().begin(), a.shape().end(), b.shape().begin(), b.shape().end())) {
    ADD_FAILURE() << shape_to_string(a.shape()) << " vs " << shape_to_string(b.shape());
    return INFINITY;
  }
  double worst = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double d = std::abs(static_cast<double>(a.flat(i)) - static_cast<double>(b.flat(i)));
    worst = std::isnan(d) ? INFINITY : std::max(worst, d);
  }
  return worst;
}

// The weights of a SimpleRNN (or its cell) in float64.
struct RnnWeights {
  Array<double> kernel;     // [F, U]
  Array<double> recurrent;  // [U, U]
  Array<double> bias;       // [U], only with use_bias
  bool use_bias = false;
  // Keras' order, for set_weights: kernel, recurrent_kernel[, bias].
  std::vector<Array<double>> as_list() const {
    std::vector<Array<double>> out{kernel, recurrent};
    if (use_bias) out.push_back(bias);
    return out;
  }
};

// Weights that keep the recurrence contractive (states stay O(1) for 20
// steps even with a linear activation), with a non-zero bias: kernel in
// [−kernel_limit, kernel_limit), recurrent_kernel within 0.9 / sqrt(U),
// bias in [−0.5, 0.5).
inline RnnWeights random_rnn_weights(Draw& draw, std::size_t features, std::size_t units,
                                     bool use_bias, double kernel_limit) {
  RnnWeights w;
  w.kernel = draw.uniform({features, units}, -kernel_limit, kernel_limit);
  const double r = 0.9 / std::sqrt(static_cast<double>(units));
  w.recurrent = draw.uniform({units, units}, -r, r);
  w.use_bias = use_bias;
  if (use_bias) w.bias = draw.uniform({units}, -0.5, 0.5);
  return w;
}

// The activations by their Keras formulas, written independently of the
// library (hard_sigmoid as Keras' piecewise definition, exp(x) − 1 for elu).
inline double activate(nn::Activation activation, double v) {
  using nn::Activation;
  switch (activation) {
    case Activation::linear: return v;
    case Activation::tanh: return std::tanh(v);
    case Activation::relu: return v > 0.0 ? v : 0.0;
    case Activation::sigmoid: return 1.0 / (1.0 + std::exp(-v));
    case Activation::hard_sigmoid: return v <= -3.0 ? 0.0 : v >= 3.0 ? 1.0 : v / 6.0 + 0.5;
    case Activation::softsign: return v / (1.0 + std::abs(v));
    case Activation::elu: return v > 0.0 ? v : std::exp(v) - 1.0;
    case Activation::selu:
      return 1.0507009873554805 * (v > 0.0 ? v : 1.6732632423543772 * (std::exp(v) - 1.0));
    case Activation::exponential: return std::exp(v);
    case Activation::softplus: return std::log(1.0 + std::exp(v));
    case Activation::relu6: return v <= 0.0 ? 0.0 : v >= 6.0 ? 6.0 : v;
    case Activation::leaky_relu: return v >= 0.0 ? v : 0.2 * v;
    case Activation::silu: return v / (1.0 + std::exp(-v));
    case Activation::gelu: return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
    case Activation::mish: return v * std::tanh(std::log(1.0 + std::exp(v)));
    case Activation::softmax:
    case Activation::log_softmax: break;  // not elementwise
  }
  ADD_FAILURE() << "activation without an elementwise reference";
  return 0.0;
}

// ---------------------------------------------------------------------------
// The reference of every recurrent layer: SimpleRNN, LSTM and GRU in plain
// float64 loops, one row and one step at a time, from Keras 3's formulas
// (simple_rnn.py, lstm.py, gru.py, and rnn.py's masked loop), sharing
// nothing with the library but its Activation enum. LSTM and GRU use
// Keras' default activations (tanh, sigmoid).

struct ReferenceCall {
  nn::Activation activation = nn::Activation::tanh;  // SimpleRNN's
  bool return_sequences = true;
  bool go_backwards = false;
  bool zero_output_for_mask = false;
  std::vector<Array<double>> initial;          // none (zeros) or the S states [B, U]
  std::optional<xt::xarray<bool>> mask;        // [B, T]
  std::optional<Array<double>> input_dropout;  // d_x [B, F], one mask for every gate
  std::optional<Array<double>> state_dropout;  // d_h [B, U], likewise
};

struct ReferenceResult {
  Array<double> output;               // [B, T, U] (processing order) or [B, U]
  std::vector<Array<double>> states;  // [h] or [h, c]
  Array<double> pre;                  // [B, T, G·U]: x̃·kernel + h̃·recurrent + biases, per processing step
};

// kind: "simple_rnn", "lstm", "gru" (reset_after) or "gru_before"; weights
// in Keras' layout and gate order; an empty bias means use_bias false.
inline ReferenceResult recurrent_reference(const std::string& kind, const Array<double>& x,
                                           const Array<double>& kernel, const Array<double>& recurrent,
                                           const Array<double>& bias, const ReferenceCall& call) {
  const std::size_t B = x.shape()[0], T = x.shape()[1], F = x.shape()[2], U = recurrent.shape()[0];
  const std::size_t G = recurrent.shape()[1] / U, S = kind == "lstm" ? 2 : 1;
  const bool has_bias = bias.dimension() > 0 && bias.size() > 0;
  const auto sigma = [](double v) { return 1.0 / (1.0 + std::exp(-v)); };
  ReferenceResult out;
  out.output = Array<double>::from_shape(call.return_sequences ? Shape{B, T, U} : Shape{B, U});
  out.pre = Array<double>::from_shape({B, T, G * U});
  for (std::size_t k = 0; k < S; ++k) out.states.push_back(Array<double>::from_shape({B, U}));
  for (std::size_t b = 0; b < B; ++b) {
    std::vector<double> h(U, 0.0), c(U, 0.0), y(U, 0.0);
    if (!call.initial.empty()) {
      for (std::size_t u = 0; u < U; ++u) h[u] = call.initial[0](b, u);
      if (S == 2)
        for (std::size_t u = 0; u < U; ++u) c[u] = call.initial[1](b, u);
    }
    for (std::size_t s = 0; s < T; ++s) {
      const std::size_t t = call.go_backwards ? T - 1 - s : s;
      // xz = x̃_t · kernel + input bias; hz = h̃ · recurrent (+ recurrent bias).
      std::vector<double> xz(G * U, 0.0), hz(G * U, 0.0), hd(U);
      for (std::size_t i = 0; i < U; ++i) hd[i] = h[i] * (call.state_dropout ? (*call.state_dropout)(b, i) : 1.0);
      for (std::size_t j = 0; j < G * U; ++j) {
        for (std::size_t f = 0; f < F; ++f)
          xz[j] += x(b, t, f) * (call.input_dropout ? (*call.input_dropout)(b, f) : 1.0) * kernel(f, j);
        for (std::size_t i = 0; i < U; ++i) hz[j] += hd[i] * recurrent(i, j);
        if (has_bias) {
          xz[j] += bias.dimension() == 2 ? bias(0, j) : bias(j);
          if (bias.dimension() == 2) hz[j] += bias(1, j);
        }
        out.pre(b, s, j) = xz[j] + hz[j];
      }
      std::vector<double> h_new(U), c_new(U);
      if (kind == "simple_rnn") {
        for (std::size_t u = 0; u < U; ++u) h_new[u] = activate(call.activation, xz[u] + hz[u]);
      } else if (kind == "lstm") {
        for (std::size_t u = 0; u < U; ++u) {
          const double i = sigma(xz[u] + hz[u]), f = sigma(xz[U + u] + hz[U + u]);
          const double g = std::tanh(xz[2 * U + u] + hz[2 * U + u]), o = sigma(xz[3 * U + u] + hz[3 * U + u]);
          c_new[u] = f * c[u] + i * g;
          h_new[u] = o * std::tanh(c_new[u]);
        }
      } else {
        std::vector<double> z(U), r(U);
        for (std::size_t u = 0; u < U; ++u) {
          z[u] = sigma(xz[u] + hz[u]);
          r[u] = sigma(xz[U + u] + hz[U + u]);
        }
        for (std::size_t u = 0; u < U; ++u) {
          double recurrent_h = 0.0;
          if (kind == "gru") {
            recurrent_h = r[u] * hz[2 * U + u];
          } else {
            for (std::size_t i = 0; i < U; ++i) recurrent_h += r[i] * hd[i] * recurrent(i, 2 * U + u);
          }
          const double hh = std::tanh(xz[2 * U + u] + recurrent_h);
          h_new[u] = z[u] * h[u] + (1.0 - z[u]) * hh;  // the undropped h, as Keras
        }
      }
      // Masked steps keep the states; the output repeats (zeros before the
      // first kept step), or is zeros with zero_output_for_mask.
      const bool kept = !call.mask || (*call.mask)(b, t);
      if (kept) {
        h = h_new;
        if (S == 2) c = c_new;
        y = h;
      } else if (call.zero_output_for_mask) {
        std::fill(y.begin(), y.end(), 0.0);
      }
      if (call.return_sequences)
        for (std::size_t u = 0; u < U; ++u) out.output(b, s, u) = y[u];
    }
    if (!call.return_sequences)
      for (std::size_t u = 0; u < U; ++u) out.output(b, u) = y[u];
    for (std::size_t u = 0; u < U; ++u) {
      out.states[0](b, u) = h[u];
      if (S == 2) out.states[1](b, u) = c[u];
    }
  }
  return out;
}

}  // namespace xgrad::test
