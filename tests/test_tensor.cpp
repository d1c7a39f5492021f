// The tensor layer: creation, shape helpers, the seeded generator and the
// array-level matrix product.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <utility>
#include <vector>

#include <cblas.h>  // openblas_get_num_threads: what OpenBLAS itself is set to
#include <gtest/gtest.h>
#include <xtensor/xarray.hpp>
#include <xtensor/xmath.hpp>
#include <xsimd/xsimd.hpp>

#include "test_helpers.hpp"
#include "xgrad/tensor/activations.hpp"
#include "xgrad/tensor/blas.hpp"
#include "xgrad/tensor/shape.hpp"
#include "xgrad/tensor/tensor.hpp"

namespace {

using xgrad::Array;
using xgrad::Shape;
using xgrad::test::throws_with;

// Shapes compared as plain vectors, so a mismatch prints both.
template <typename A>
Shape shape_of(const A& a) {
  return Shape(a.shape().begin(), a.shape().end());
}

// ---------------------------------------------------------------- creation

TEST(Creation, ZerosOnesFullHaveShapeAndValue) {
  const Array<float> z = xgrad::zeros({2, 3});
  EXPECT_EQ(shape_of(z), (Shape{2, 3}));
  for (float v : z) EXPECT_EQ(v, 0.0f);

  const Array<double> o = xgrad::ones<double>({4});
  EXPECT_EQ(shape_of(o), (Shape{4}));
  for (double v : o) EXPECT_EQ(v, 1.0);

  const Array<double> f = xgrad::full<double>({3, 1, 2}, -2.5);
  EXPECT_EQ(shape_of(f), (Shape{3, 1, 2}));
  EXPECT_EQ(f.size(), 6u);
  for (double v : f) EXPECT_EQ(v, -2.5);
}

TEST(Creation, ZeroDimensionalAndEmptyShapes) {
  // () is a scalar with one element; (0, 3) has none.
  const Array<double> s = xgrad::full<double>({}, 7.0);
  EXPECT_EQ(s.dimension(), 0u);
  EXPECT_EQ(s.size(), 1u);
  EXPECT_EQ(s(), 7.0);
  const Array<float> e = xgrad::zeros({0, 3});
  EXPECT_EQ(shape_of(e), (Shape{0, 3}));
  EXPECT_EQ(e.size(), 0u);
}

TEST(Shapes, ShapeToStringPrintsLikeNumpy) {
  EXPECT_EQ(xgrad::shape_to_string(Shape{5, 2}), "(5, 2)");
  EXPECT_EQ(xgrad::shape_to_string(Shape{2}), "(2,)");
  EXPECT_EQ(xgrad::shape_to_string(Shape{}), "()");
  EXPECT_EQ(xgrad::element_count(Shape{2, 3, 4}), 24u);
  EXPECT_EQ(xgrad::element_count(Shape{}), 1u);
}

// ------------------------------------------------------- reshape/transpose

TEST(Reshaped, KeepsRowMajorOrder) {
  const Array<double> a = {{1, 2, 3}, {4, 5, 6}};
  const Array<double> r = xgrad::reshaped(a, {3, 2});
  EXPECT_EQ(shape_of(r), (Shape{3, 2}));
  const Array<double> expected = {{1, 2}, {3, 4}, {5, 6}};
  EXPECT_EQ(r, expected);
  // A copy: the source keeps its shape.
  EXPECT_EQ(shape_of(a), (Shape{2, 3}));
  EXPECT_EQ(shape_of(xgrad::reshaped(a, {6})), (Shape{6}));
}

TEST(Reshaped, ErrorNamesBothShapes) {
  const Array<double> a = xgrad::zeros<double>({2, 3});
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { xgrad::reshaped(a, {4, 2}); },
                                                 {"reshape", "(2, 3)", "(4, 2)"}));
}

TEST(Transposed, SwapsAxesAndIsEvaluated) {
  const Array<float> a = {{1, 2, 3}, {4, 5, 6}};
  const Array<float> t = xgrad::transposed(a);
  const Array<float> expected = {{1, 4}, {2, 5}, {3, 6}};
  EXPECT_EQ(t, expected);
}

TEST(Transposed, RejectsOtherRanks) {
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [] { xgrad::transposed(xgrad::zeros<double>({2, 3, 4})); }, {"transpose", "(2, 3, 4)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [] { xgrad::transposed(xgrad::zeros<double>({3})); }, {"transpose", "(3,)"}));
}

// ------------------------------------------------------------- broadcasting

TEST(BroadcastShapes, FollowsNumpyRules) {
  EXPECT_EQ(xgrad::broadcast_shapes({4, 3}, {3}, "add"), (Shape{4, 3}));
  EXPECT_EQ(xgrad::broadcast_shapes({3}, {4, 3}, "add"), (Shape{4, 3}));
  EXPECT_EQ(xgrad::broadcast_shapes({2, 1}, {1, 3}, "add"), (Shape{2, 3}));
  EXPECT_EQ(xgrad::broadcast_shapes({}, {2, 3}, "add"), (Shape{2, 3}));
  EXPECT_EQ(xgrad::broadcast_shapes({5, 1, 4}, {3, 1}, "mul"), (Shape{5, 3, 4}));
  EXPECT_EQ(xgrad::broadcast_shapes({2, 3}, {2, 3}, "sub"), (Shape{2, 3}));
}

TEST(BroadcastShapes, ErrorNamesOpAndShapes) {
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [] { xgrad::broadcast_shapes({2, 3}, {4}, "my_op"); }, {"my_op", "(2, 3)", "(4,)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [] { xgrad::broadcast_shapes({2, 3}, {3, 3}, "add"); }, {"add", "(2, 3)", "(3, 3)"}));
}

TEST(SumTo, UndoesRowBroadcastBUToU) {
  // Gradient of a bias [U] added to [B, U]: the column sums.
  const Array<double> g = {{1, 2, 3}, {10, 20, 30}};
  const Array<double> s = xgrad::sum_to(g, {3});
  EXPECT_EQ(s, (Array<double>{11, 22, 33}));
}

TEST(SumTo, UndoesSizeOneAxisKeepingIt) {
  const Array<double> g = {{1, 2, 3}, {10, 20, 30}};
  const Array<double> s = xgrad::sum_to(g, {2, 1});
  EXPECT_EQ(shape_of(s), (Shape{2, 1}));
  EXPECT_EQ(s, xgrad::reshaped(Array<double>{6, 60}, {2, 1}));
}

TEST(SumTo, UndoesLeadingDimensions) {
  // a[i, j, k] = 100 i + 10 j + k; hand computation of the sums below.
  Array<double> a = Array<double>::from_shape({2, 2, 3});
  for (std::size_t i = 0; i < 2; ++i)
    for (std::size_t j = 0; j < 2; ++j)
      for (std::size_t k = 0; k < 3; ++k) a(i, j, k) = 100.0 * i + 10.0 * j + k;
  // Over i: 100 + 2 (10 j + k).
  EXPECT_EQ(xgrad::sum_to(a, {2, 3}), (Array<double>{{100, 102, 104}, {120, 122, 124}}));
  // Over i and j: 4 k + 2 * 100 + 2 * 10 = 4 k + 220.
  EXPECT_EQ(xgrad::sum_to(a, {1, 3}), (Array<double>{{220, 224, 228}}));
  EXPECT_EQ(xgrad::sum_to(a, {3}), (Array<double>{220, 224, 228}));
  // Everything: the sum of 4 k + 220 over k = 0, 1, 2 is 672.
  const Array<double> all = xgrad::sum_to(a, {});
  EXPECT_EQ(all.dimension(), 0u);
  EXPECT_EQ(all(), 672.0);
}

TEST(SumTo, SameShapeIsIdentityAndBadTargetThrows) {
  const Array<double> a = {{1, 2}, {3, 4}};
  EXPECT_EQ(xgrad::sum_to(a, {2, 2}), a);
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { xgrad::sum_to(a, {3}); },
                                                 {"sum_to", "(2, 2)", "(3,)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { xgrad::sum_to(a, {1, 2, 2}); },
                                                 {"sum_to", "(2, 2)", "(1, 2, 2)"}));
}

// ------------------------------------------------------------------- random

TEST(Random, SameSeedGivesSameUniformNumbers) {
  xgrad::manual_seed(42);
  const Array<double> a = xgrad::uniform<double>({5, 7}, -1.0, 1.0);
  const Array<float> a_float = xgrad::uniform<float>({3}, 0.0f, 1.0f);
  xgrad::manual_seed(42);
  const Array<double> b = xgrad::uniform<double>({5, 7}, -1.0, 1.0);
  const Array<float> b_float = xgrad::uniform<float>({3}, 0.0f, 1.0f);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a_float, b_float);
  // A later draw continues the stream instead of repeating it.
  EXPECT_NE(a, xgrad::uniform<double>({5, 7}, -1.0, 1.0));
}

TEST(Random, SameSeedGivesSameNormalNumbers) {
  xgrad::manual_seed(7);
  const Array<double> a = xgrad::normal<double>({100}, 0.0, 1.0);
  xgrad::manual_seed(7);
  const Array<double> b = xgrad::normal<double>({100}, 0.0, 1.0);
  EXPECT_EQ(a, b);
}

TEST(Random, DifferentSeedsGiveDifferentNumbers) {
  xgrad::manual_seed(1);
  const Array<double> u1 = xgrad::uniform<double>({50}, 0.0, 1.0);
  const Array<double> n1 = xgrad::normal<double>({50});
  xgrad::manual_seed(2);
  const Array<double> u2 = xgrad::uniform<double>({50}, 0.0, 1.0);
  const Array<double> n2 = xgrad::normal<double>({50});
  // Not just one differing element: with 53-bit draws any coincidence at all
  // would point to a broken seed.
  for (std::size_t i = 0; i < 50; ++i) {
    EXPECT_NE(u1(i), u2(i)) << "at " << i;
    EXPECT_NE(n1(i), n2(i)) << "at " << i;
  }
}

TEST(Random, UniformStaysInHalfOpenRange) {
  xgrad::manual_seed(3);
  const Array<double> d = xgrad::uniform<double>({100000}, -0.5, 2.0);
  const Array<float> f = xgrad::uniform<float>({100000}, -3.0f, -1.0f);
  for (double v : d) ASSERT_TRUE(v >= -0.5 && v < 2.0) << v;
  for (float v : f) ASSERT_TRUE(v >= -3.0f && v < -1.0f) << v;
  // The whole range is used, not a corner of it.
  EXPECT_LT(xt::amin(d)(), -0.49);
  EXPECT_GT(xt::amax(d)(), 1.99);
}

TEST(Random, UniformNeverReturnsHighEvenWhenRoundingWouldReachIt) {
  // [1, next float after 1) holds only the value 1: low + span * u rounds to
  // `high` for about half of all u, which a half-open range must not return.
  xgrad::manual_seed(11);
  const float low_f = 1.0f, high_f = std::nextafter(1.0f, 2.0f);
  for (float v : xgrad::uniform<float>({1000}, low_f, high_f))
    ASSERT_EQ(v, low_f) << "returned high = 1 + 2^-23";
  const double low_d = 1.0, high_d = std::nextafter(1.0, 2.0);
  for (double v : xgrad::uniform<double>({1000}, low_d, high_d))
    ASSERT_EQ(v, low_d) << "returned high = 1 + 2^-52";
}

TEST(Random, UniformMomentsMatchTheDistribution) {
  // U(-0.5, 2): mean 0.75, variance 2.5^2 / 12. Bounds are 6 standard errors.
  const std::size_t n = 1000000;
  xgrad::manual_seed(5);
  const Array<double> d = xgrad::uniform<double>({n}, -0.5, 2.0);
  const double mean = xt::mean(d)();
  const double variance = xt::variance(d)();
  const double sd = 2.5 / std::sqrt(12.0);
  EXPECT_NEAR(mean, 0.75, 6.0 * sd / std::sqrt(double(n)));
  EXPECT_NEAR(variance, sd * sd, 0.01 * sd * sd);
}

TEST(Random, NormalMeanStdAndShapeOfLargeSample) {
  // N(2, 3^2) with n = 10^6. Standard errors: mean 3 / 1000 = 0.003; sample
  // std about 3 / sqrt(2n) = 0.0021; the fraction within one std of the mean
  // (0.682689, from erf(1 / sqrt 2)) sqrt(p (1 - p) / n) = 0.00047. The bounds
  // are 6 of them: a correct generator fails with probability ~1e-9.
  const std::size_t n = 1000000;
  xgrad::manual_seed(9);
  const Array<double> x = xgrad::normal<double>({n}, 2.0, 3.0);
  const double mean = xt::mean(x)();
  const double sd = std::sqrt(xt::variance(x)());
  EXPECT_NEAR(mean, 2.0, 6 * 0.003);
  EXPECT_NEAR(sd, 3.0, 6 * 0.0021);
  std::size_t within = 0;
  for (double v : x) within += std::abs(v - 2.0) < 3.0;
  EXPECT_NEAR(double(within) / n, 0.682689, 6 * 0.00047);
  for (double v : x) ASSERT_TRUE(std::isfinite(v));
}

TEST(Random, NormalFloatHasRequestedShapeAndRejectsNegativeStd) {
  xgrad::manual_seed(1);
  const Array<float> x = xgrad::normal({3, 4});
  EXPECT_EQ(shape_of(x), (Shape{3, 4}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [] { xgrad::normal<double>({2}, 0.0, -1.0); }, {"normal", "stddev"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [] { xgrad::uniform<double>({2}, 1.0, 0.0); }, {"uniform", "low"}));
}

// ------------------------------------------------------------------- matmul

TEST(Matmul, MatchesHandComputedProduct) {
  // Hand computation: [[1,2,3],[4,5,6]] · [[7,8],[9,10],[11,12]]
  //   = [[1*7+2*9+3*11, 1*8+2*10+3*12], [4*7+5*9+6*11, 4*8+5*10+6*12]]
  //   = [[58, 64], [139, 154]].
  const Array<double> a = {{1, 2, 3}, {4, 5, 6}};
  const Array<double> b = {{7, 8}, {9, 10}, {11, 12}};
  EXPECT_EQ(xgrad::matmul(a, b), (Array<double>{{58, 64}, {139, 154}}));
  const Array<float> af = {{1, 2, 3}, {4, 5, 6}};
  const Array<float> bf = {{7, 8}, {9, 10}, {11, 12}};
  EXPECT_EQ(xgrad::matmul(af, bf), (Array<float>{{58, 64}, {139, 154}}));
}

TEST(Matmul, NdTimes2dAppliesToEveryLeadingIndex) {
  // a = arange(12) as [2, 2, 3]; b = [[1, 0], [0, 1], [1, 1]] so each row
  // [p, q, r] maps to [p + r, q + r] (hand computation).
  Array<double> a = Array<double>::from_shape({2, 2, 3});
  for (std::size_t i = 0; i < a.size(); ++i) a.flat(i) = double(i);
  const Array<double> b = {{1, 0}, {0, 1}, {1, 1}};
  const Array<double> c = xgrad::matmul(a, b);
  const Array<double> expected = {{{2, 3}, {8, 9}}, {{14, 15}, {20, 21}}};
  EXPECT_EQ(shape_of(c), (Shape{2, 2, 2}));
  EXPECT_EQ(c, expected);
}

TEST(Matmul, OneDimensionalTimes2d) {
  // [1, 2, 3] · [[7,8],[9,10],[11,12]] = [58, 64], the first row above.
  const Array<double> a = {1, 2, 3};
  const Array<double> b = {{7, 8}, {9, 10}, {11, 12}};
  const Array<double> c = xgrad::matmul(a, b);
  EXPECT_EQ(shape_of(c), (Shape{2}));
  EXPECT_EQ(c, (Array<double>{58, 64}));
}

TEST(Matmul, EmptyInnerDimensionGivesZeros) {
  // A sum over no terms is 0, whatever the output memory held.
  const Array<double> c =
      xgrad::matmul(xgrad::zeros<double>({2, 0}), xgrad::zeros<double>({0, 3}));
  EXPECT_EQ(c, xgrad::zeros<double>({2, 3}));
}

// The product's memory is not cleared first (BLAS with beta = 0 writes every
// element): a reused block that held NaN must not leak into it.
TEST(Matmul, AReusedBlockFullOfNaNDoesNotReachTheProduct) {
  for (std::size_t size : {4, 300}) {  // OpenBLAS's small-matrix kernel, and its blocked one
    const Array<double> a(std::vector<std::size_t>{size, size}, 1.0);
    const double* reused = nullptr;
    {
      Array<double> poisoned(std::vector<std::size_t>{size, size}, std::nan(""));
      reused = poisoned.data();
    }
    const Array<double> product = xgrad::matmul(a, a);
    ASSERT_EQ(product.data(), reused) << "the test needs the product to reuse the block";
    EXPECT_TRUE(xt::all(xt::equal(product, static_cast<double>(size)))) << size;
  }
}

TEST(Matmul, ShapeErrorNamesBothShapes) {
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [] { xgrad::matmul(xgrad::zeros<double>({2, 3}), xgrad::zeros<double>({4, 5})); },
      {"matmul", "(2, 3)", "(4, 5)"}));
  // b must be 2-D.
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [] { xgrad::matmul(xgrad::zeros<float>({2, 3}), xgrad::zeros<float>({3})); },
      {"matmul", "(2, 3)", "(3,)"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [] { xgrad::matmul(xgrad::zeros<float>({}), xgrad::zeros<float>({1, 1})); },
      {"matmul", "()", "(1, 1)"}));
}

// gemm with every transpose pair, against a hand-written triple loop: A and
// B stored with row strides wider than their rows, sizes on both sides of
// the rule that runs a small A·B^T as A·(B^T) with B^T copied first.
TEST(Gemm, EveryTransposePairMatchesATripleLoop) {
  for (std::size_t m : {1, 7, 8, 33}) {
    const std::size_t n = 5, k = 6, pad = 3;
    for (const bool ta : {false, true}) {
      for (const bool tb : {false, true}) {
        // op(A) is [m, k], op(B) is [k, n]; stored transposed when ta / tb.
        const std::size_t a_rows = ta ? k : m, a_cols = ta ? m : k;
        const std::size_t b_rows = tb ? n : k, b_cols = tb ? k : n;
        std::vector<double> a(a_rows * (a_cols + pad)), b(b_rows * (b_cols + pad));
        for (std::size_t i = 0; i < a.size(); ++i) a[i] = std::sin(1.0 + static_cast<double>(i));
        for (std::size_t i = 0; i < b.size(); ++i) b[i] = std::cos(2.0 + static_cast<double>(i));
        std::vector<double> c(m * n, 1.0);
        xgrad::gemm(ta, tb, m, n, k, 2.0, a.data(), a_cols + pad, b.data(), b_cols + pad, 0.5,
                    c.data(), n);
        for (std::size_t i = 0; i < m; ++i) {
          for (std::size_t j = 0; j < n; ++j) {
            double expected = 0.5;
            for (std::size_t p = 0; p < k; ++p) {
              const double av = ta ? a[p * (a_cols + pad) + i] : a[i * (a_cols + pad) + p];
              const double bv = tb ? b[j * (b_cols + pad) + p] : b[p * (b_cols + pad) + j];
              expected += 2.0 * av * bv;
            }
            EXPECT_NEAR(c[i * n + j], expected, 1e-12)
                << "m " << m << " ta " << ta << " tb " << tb << " at " << i << ", " << j;
          }
        }
      }
    }
  }
}

// The small-matrix engine (LIBXSMM, when built with it) against OpenBLAS
// alone, through gemm and through a GemmKernel made once: every transpose
// pair, alpha and beta (LIBXSMM takes alpha 1, beta 0 or 1, no B^T; the
// rest must fall back), row strides wider than the rows, and shapes on both
// sides of the size rule (k 1100: a sum that runs in two pieces). C starts
// as NaN where beta is 0: it must not be read.
template <typename T>
void expect_engines_agree(T tolerance) {
  struct Case {
    std::size_t m, n, k;
  };
  for (const Case& shape : {Case{1, 32, 32}, Case{2, 2, 2}, Case{32, 32, 8}, Case{7, 5, 3},
                            Case{64, 128, 128}, Case{3, 40, 1100}}) {
    const std::size_t m = shape.m, n = shape.n, k = shape.k, pad = 2;
    for (const bool ta : {false, true}) {
      for (const bool tb : {false, true}) {
        for (const T alpha : {T(1), T(-0.5)}) {
          for (const T beta : {T(0), T(1), T(0.25)}) {
            const std::size_t a_rows = ta ? k : m, a_cols = (ta ? m : k) + pad;
            const std::size_t b_rows = tb ? n : k, b_cols = (tb ? k : n) + pad;
            const std::size_t ldc = n + pad;
            std::vector<T> a(a_rows * a_cols), b(b_rows * b_cols), c0(m * ldc);
            for (std::size_t i = 0; i < a.size(); ++i) a[i] = T(std::sin(0.1 + 0.37 * static_cast<double>(i)));
            for (std::size_t i = 0; i < b.size(); ++i) b[i] = T(std::cos(0.2 + 0.11 * static_cast<double>(i)));
            for (std::size_t i = 0; i < c0.size(); ++i)
              c0[i] = beta == T(0) ? std::numeric_limits<T>::quiet_NaN() : T(0.5) - T(i % 7) / T(7);
            std::vector<T> expected = c0, through_gemm = c0, through_kernel = c0, again = c0;
            xgrad::gemm_openblas(ta, tb, m, n, k, alpha, a.data(), a_cols, b.data(), b_cols, beta,
                                 expected.data(), ldc);
            xgrad::gemm(ta, tb, m, n, k, alpha, a.data(), a_cols, b.data(), b_cols, beta, through_gemm.data(),
                        ldc);
            const xgrad::GemmKernel<T> kernel(ta, tb, m, n, k, alpha, a_cols, b_cols, beta, ldc);
            kernel(a.data(), b.data(), through_kernel.data());
            kernel(a.data(), b.data(), again.data());  // the kept kernel, a second time
            const bool small = !tb && alpha == T(1) && beta != T(0.25) && xgrad::small_matrix_shape(m, n, k);
            EXPECT_EQ(kernel.small_matrix_engine(), small && xgrad::small_matrix_engine() != "none")
                << m << "x" << n << "x" << k << " ta " << ta << " tb " << tb;
            for (std::size_t i = 0; i < m; ++i) {
              for (std::size_t j = 0; j < n; ++j) {
                const std::size_t at = i * ldc + j;
                ASSERT_NEAR(through_gemm[at], expected[at], tolerance)
                    << m << "x" << n << "x" << k << " ta " << ta << " tb " << tb << " alpha " << alpha
                    << " beta " << beta << " at " << i << ", " << j;
                ASSERT_NEAR(through_kernel[at], expected[at], tolerance)
                    << m << "x" << n << "x" << k << " ta " << ta << " tb " << tb << " alpha " << alpha
                    << " beta " << beta << " at " << i << ", " << j;
                ASSERT_EQ(again[at], through_kernel[at]);
              }
              for (std::size_t j = n; j < ldc; ++j) {  // the padding between rows is never written
                for (const std::vector<T>* c : {&through_gemm, &through_kernel}) {
                  if (beta == T(0)) EXPECT_TRUE(std::isnan((*c)[i * ldc + j]));
                  else EXPECT_EQ((*c)[i * ldc + j], c0[i * ldc + j]);
                }
              }
            }
          }
        }
      }
    }
  }
}

TEST(Gemm, SmallMatrixEngineMatchesOpenBLASFloat) { expect_engines_agree<float>(2e-4f); }
TEST(Gemm, SmallMatrixEngineMatchesOpenBLASDouble) { expect_engines_agree<double>(1e-12); }

// Products too large for LIBXSMM only by a long sum or a tall output run in
// pieces (blas.hpp); every piece must land where the whole product would:
// bands of rows with A as stored or transposed, the sum's pieces
// accumulating after a first one that honours beta (0: C is not read).
template <typename T>
void expect_pieces_agree(T tolerance) {
  struct Case {
    std::size_t m, n, k;
  };
  // A sum in 6 pieces; an output of 2^21 + 2^20 elements in 24 bands.
  for (const Case& shape : {Case{16, 24, 2600}, Case{3072, 1024, 3}}) {
    const std::size_t m = shape.m, n = shape.n, k = shape.k, pad = 3;
    for (const bool ta : {false, true}) {
      for (const T beta : {T(0), T(1)}) {
        const std::size_t a_rows = ta ? k : m, a_cols = (ta ? m : k) + pad, ldb = n + pad, ldc = n + pad;
        std::vector<T> a(a_rows * a_cols), b(k * ldb), c0(m * ldc);
        for (std::size_t i = 0; i < a.size(); ++i) a[i] = T(std::sin(0.3 + 0.37 * static_cast<double>(i)));
        for (std::size_t i = 0; i < b.size(); ++i) b[i] = T(std::cos(0.1 + 0.11 * static_cast<double>(i)));
        for (std::size_t i = 0; i < c0.size(); ++i)
          c0[i] = beta == T(0) ? std::numeric_limits<T>::quiet_NaN() : T(0.5) - T(i % 5) / T(5);
        std::vector<T> expected = c0, pieces = c0;
        xgrad::gemm_openblas(ta, false, m, n, k, T(1), a.data(), a_cols, b.data(), ldb, beta, expected.data(), ldc);
        xgrad::gemm(ta, false, m, n, k, T(1), a.data(), a_cols, b.data(), ldb, beta, pieces.data(), ldc);
        T worst = 0;
        std::size_t nan_padding = 0, written_padding = 0;
        for (std::size_t i = 0; i < m; ++i) {
          for (std::size_t j = 0; j < n; ++j)
            worst = std::max(worst, std::abs(pieces[i * ldc + j] - expected[i * ldc + j]));
          for (std::size_t j = n; j < ldc; ++j) {
            const T value = pieces[i * ldc + j];
            if (beta == T(0)) nan_padding += std::isnan(value) ? 1 : 0;
            else written_padding += value == c0[i * ldc + j] ? 0 : 1;
          }
        }
        const std::string what = std::to_string(m) + "x" + std::to_string(n) + "x" + std::to_string(k) +
                                 (ta ? " A^T" : " A") + " beta " + std::to_string(beta);
        EXPECT_LE(worst, tolerance) << what;  // NaN fails this too
        if (beta == T(0)) {
          EXPECT_EQ(nan_padding, m * pad) << what;
        }
        EXPECT_EQ(written_padding, 0u) << what;
      }
    }
  }
}

TEST(Gemm, ProductsInPiecesMatchOpenBLASFloat) { expect_pieces_agree<float>(2e-3f); }
TEST(Gemm, ProductsInPiecesMatchOpenBLASDouble) { expect_pieces_agree<double>(1e-11); }

// The sizes LIBXSMM takes (blas.hpp): the shapes of the recurrent layers'
// steps, not the large or the long-summed products; for AVX2 kernels short
// sums, and longer ones up to 2^21 multiply-adds on one thread. Both rules,
// whatever this CPU.
TEST(Gemm, SmallMatrixShapeRule) {
  using xgrad::SmallMatrixKernels;
  const auto small = [](std::size_t m, std::size_t n, std::size_t k, SmallMatrixKernels kernels) {
    return xgrad::small_matrix_shape(m, n, k, kernels);
  };
  const int before = xgrad::num_threads();
  xgrad::set_num_threads(1);
  for (SmallMatrixKernels kernels : {SmallMatrixKernels::avx512, SmallMatrixKernels::narrower}) {
    SCOPED_TRACE(kernels == SmallMatrixKernels::avx512 ? "avx512" : "narrower");
    EXPECT_TRUE(small(1, 32, 32, kernels));         // workload X's SimpleRNN step
    EXPECT_TRUE(small(128, 128, 128, kernels));     // 2^21 multiply-adds
    EXPECT_FALSE(small(64, 2048, 513, kernels));    // beyond 2^26
    EXPECT_FALSE(small(32, 128, 1600, kernels));    // S's weight gradient: 1600 summed terms
    EXPECT_FALSE(small(6400, 512, 256, kernels));   // L's input projection
    EXPECT_FALSE(small(10000, 512, 8, kernels));    // an output of 2^22 elements
    EXPECT_TRUE(small(10000, 128, 8, kernels));     // X's LSTM input projection
  }
  EXPECT_TRUE(small(64, 512, 128, SmallMatrixKernels::avx512));      // M's LSTM step
  EXPECT_FALSE(small(64, 512, 128, SmallMatrixKernels::narrower));
  EXPECT_TRUE(small(64, 2048, 512, SmallMatrixKernels::avx512));     // L's LSTM step: 2^26 multiply-adds
  EXPECT_FALSE(small(64, 2048, 512, SmallMatrixKernels::narrower));
  EXPECT_TRUE(small(6400, 128, 32, SmallMatrixKernels::narrower));   // a sum of 32 terms
  EXPECT_FALSE(small(6400, 128, 33, SmallMatrixKernels::narrower));
  EXPECT_FALSE(small(128, 128, 129, SmallMatrixKernels::narrower));  // beyond 2^21
  EXPECT_EQ(xgrad::small_matrix_shape(64, 512, 128), small(64, 512, 128, xgrad::small_matrix_kernels()));
  xgrad::set_num_threads(2);
  EXPECT_TRUE(small(64, 128, 128, SmallMatrixKernels::avx512));    // 2^20, on one thread beats OpenBLAS on two
  EXPECT_FALSE(small(64, 512, 512, SmallMatrixKernels::avx512));   // OpenBLAS's two threads win
  EXPECT_FALSE(small(64, 128, 128, SmallMatrixKernels::narrower)); // OpenBLAS's two threads win
  EXPECT_TRUE(small(32, 128, 128, SmallMatrixKernels::narrower));  // one thread for OpenBLAS too (gemm_threads)
  EXPECT_TRUE(small(6400, 128, 8, SmallMatrixKernels::narrower));   // a short sum, whatever OpenBLAS's threads
  xgrad::set_num_threads(before);
}

// The small A·B^T products gemm runs as A·(B^T) (blas.cpp: OpenBLAS is 3x
// slower on them), the rule matmul's backward follows to keep B^T.
TEST(Gemm, TransposesBFirstForSmallProductsWithRowsEnough) {
  EXPECT_TRUE(xgrad::gemm_transposes_b_first(32, 32, 32));    // S's recurrent step, backward
  EXPECT_TRUE(xgrad::gemm_transposes_b_first(8, 4, 4));
  EXPECT_FALSE(xgrad::gemm_transposes_b_first(7, 32, 32));    // too few rows to pay for the copy
  EXPECT_FALSE(xgrad::gemm_transposes_b_first(1024, 1024, 1024));  // OpenBLAS's own transpose
}

// An empty sum (k = 0) is C = beta · C, and BLAS is not called: OpenBLAS
// rejects lda = 0 (it wants at least max(1, k)) with a message and leaves C
// as it was.
TEST(Gemm, ZeroInnerDimensionScalesCWithoutBlas) {
  for (const bool ta : {false, true}) {
    std::vector<float> c = {1, 2, 3, 4, 5, 6, -1, -1};  // [2, 3] with row stride 4
    xgrad::gemm(ta, false, 2, 3, 0, 1.0f, nullptr, 0, nullptr, 3, 0.5f, c.data(), 4);
    EXPECT_EQ(c, (std::vector<float>{0.5f, 1, 1.5f, 4, 2.5f, 3, -0.5f, -1})) << ta;
    std::vector<double> nan_c(6, std::numeric_limits<double>::quiet_NaN());
    xgrad::gemm(ta, true, 2, 3, 0, 1.0, nullptr, 0, nullptr, 0, 0.0, nan_c.data(), 3);
    EXPECT_EQ(nan_c, std::vector<double>(6, 0.0)) << ta;  // beta 0 reads nothing
  }
  // m or n zero: nothing to write, nothing read.
  xgrad::gemm(false, false, 0, 3, 2, 1.0f, nullptr, 2, nullptr, 3, 0.0f, nullptr, 3);
  xgrad::gemm(false, false, 2, 0, 2, 1.0f, nullptr, 2, nullptr, 1, 0.0f, nullptr, 1);
}

// OpenBLAS's thread count before anything in this process could change it
// (tests run in a process of their own under ctest; those sharing one
// restore the count they found).
const int openblas_startup_threads = openblas_get_num_threads();

// A small product must not pin OpenBLAS to one thread for the products
// after it: the count is decided per product. (It was read from OpenBLAS at
// the first large product, after a small one had set OpenBLAS to 1: a
// [256,1024]·[1024,1024] then took 5.0 ms instead of 2.8.)
TEST(Threads, ALargeProductAfterASmallOneGetsTheConfiguredCount) {
  std::vector<float> a(256 * 1024, 0.5f), b(1024 * 1024, 0.25f), c(256 * 1024);
  // OpenBLAS alone: the small product goes through OpenBLAS's thread setting.
  xgrad::gemm_openblas(false, false, 1, 32, 32, 1.0f, a.data(), 32, b.data(), 32, 0.0f, c.data(), 32);
  EXPECT_EQ(openblas_get_num_threads(), 1);  // a small product runs on one thread
  EXPECT_EQ(xgrad::num_threads(), openblas_startup_threads);
  EXPECT_EQ(xgrad::gemm_threads(256, 1024, 1024), openblas_startup_threads);
  xgrad::gemm_openblas(false, false, 256, 1024, 1024, 1.0f, a.data(), 1024, b.data(), 1024, 0.0f, c.data(),
                       1024);
  EXPECT_EQ(openblas_get_num_threads(), openblas_startup_threads);
  EXPECT_FLOAT_EQ(c[0], 1024 * 0.125f);
}

TEST(BlasCore, WarningNamesTheFixForAGenericCore) {
  EXPECT_FALSE(xgrad::blas_core().empty());
  const std::string avx512 = xgrad::blas_core_warning("Prescott", true, true);
  EXPECT_NE(avx512.find("'Prescott'"), std::string::npos) << avx512;
  EXPECT_NE(avx512.find("OPENBLAS_CORETYPE=SkylakeX"), std::string::npos) << avx512;
  const std::string avx2 = xgrad::blas_core_warning("Sandybridge", true, false);
  EXPECT_NE(avx2.find("OPENBLAS_CORETYPE=Haswell"), std::string::npos) << avx2;
  EXPECT_EQ(xgrad::blas_core_warning("Prescott", false, false), "");  // nothing better to run
  for (const char* core : {"Haswell", "SkylakeX", "Cooperlake", "Zen", "skylakex"})
    EXPECT_EQ(xgrad::blas_core_warning(core, true, true), "") << core;
}

// Run by CTest with OPENBLAS_CORETYPE=Prescott (tests/CMakeLists.txt), in a
// process of its own: on a CPU with AVX2 the warning comes once, at the first
// product, whatever follows.
TEST(BlasCore, GenericCoreWarnsOncePerProcess) {
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  if (!coretype || std::string(coretype) != "Prescott") GTEST_SKIP() << "needs OPENBLAS_CORETYPE=Prescott";
  ASSERT_EQ(xgrad::blas_core(), "Prescott");
#if defined(__x86_64__) || defined(__i386__)
  const bool vector_cpu = __builtin_cpu_supports("avx2") || __builtin_cpu_supports("avx512f");
#else
  const bool vector_cpu = false;
#endif
  std::vector<float> a(64 * 64, 1.0f), c(64 * 64);
  testing::internal::CaptureStderr();
  for (int i = 0; i < 3; ++i)
    xgrad::gemm(false, false, 64, 64, 64, 1.0f, a.data(), 64, a.data(), 64, 0.0f, c.data(), 64);
  xgrad::set_num_threads(xgrad::num_threads());
  const std::string printed = testing::internal::GetCapturedStderr();
  std::size_t count = 0;
  for (std::size_t at = printed.find("OPENBLAS_CORETYPE="); at != std::string::npos;
       at = printed.find("OPENBLAS_CORETYPE=", at + 1))
    ++count;
  EXPECT_EQ(count, vector_cpu ? 1u : 0u) << printed;
}

TEST(Threads, SetNumThreadsRejectsZeroAndKeepsWorking) {
  const int before = xgrad::num_threads();
  EXPECT_TRUE(throws_with<std::invalid_argument>([] { xgrad::set_num_threads(0); },
                                                 {"set_num_threads", "0"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([] { xgrad::set_num_threads(-2); },
                                                 {"set_num_threads", "-2"}));
  EXPECT_EQ(xgrad::num_threads(), before);  // a rejected call changes nothing
  xgrad::set_num_threads(1);
  EXPECT_EQ(xgrad::num_threads(), 1);
  xgrad::set_num_threads(before);
}

TEST(Threads, SmallAndThinProductsRunOnOneThreadLargeOnesOnAll) {
  const int before = xgrad::num_threads();
  xgrad::set_num_threads(2);
  EXPECT_EQ(xgrad::gemm_threads(1, 32, 32), 1);       // workload X's recurrent step
  EXPECT_EQ(xgrad::gemm_threads(32, 32, 1600), 1);    // thin: S's recurrent kernel gradient
  EXPECT_EQ(xgrad::gemm_threads(10000, 32, 8), 1);    // thin: X's input projection
  EXPECT_EQ(xgrad::gemm_threads(64, 64, 64), 1);      // wide enough, too few multiply-adds
  EXPECT_EQ(xgrad::gemm_threads(64, 128, 128), 2);    // M's recurrent step
  EXPECT_EQ(xgrad::gemm_threads(6400, 512, 256), 2);  // L's input projection
  xgrad::set_num_threads(1);
  EXPECT_EQ(xgrad::gemm_threads(6400, 512, 256), 1);  // never more than asked for
  EXPECT_EQ(xgrad::num_threads(), 1);
  xgrad::set_num_threads(before);
}

TEST(Threads, AThreadedProductGivesTheSameNumbersAsOneThread) {
  const int before = xgrad::num_threads();
  xgrad::manual_seed(3);
  const Array<double> a = xgrad::uniform<double>({64, 256}, -1.0, 1.0);
  const Array<double> b = xgrad::uniform<double>({256, 128}, -1.0, 1.0);
  xgrad::set_num_threads(1);
  const Array<double> one = xgrad::matmul(a, b);
  xgrad::set_num_threads(2);
  ASSERT_EQ(xgrad::gemm_threads(64, 128, 256), 2);
  const Array<double> two = xgrad::matmul(a, b);
  EXPECT_TRUE(xt::allclose(one, two, 1e-12, 1e-12));
  // Each value against a plain sum of products.
  double worst = 0.0;
  for (std::size_t i = 0; i < 64; ++i)
    for (std::size_t j = 0; j < 128; ++j) {
      double expected = 0.0;
      for (std::size_t k = 0; k < 256; ++k) expected += a(i, k) * b(k, j);
      worst = std::max(worst, std::abs(two(i, j) - expected));
    }
  EXPECT_LT(worst, 1e-12);
  xgrad::set_num_threads(before);
}

// ---------------------------------------------------------------- add_into

// add_into, subtract_into, multiply_into against a plain loop, out of place
// and in place (out = a).
template <typename T>
void expect_binary_kernels_agree(std::size_t n) {
  std::vector<T> a(n), b(n);
  for (std::size_t i = 0; i < n; ++i) {
    a[i] = static_cast<T>(i) * T(0.5) - T(3);
    b[i] = T(1) / static_cast<T>(i + 1);
  }
  using Kernel = void (*)(const T*, const T*, T*, std::size_t);
  const std::vector<std::pair<Kernel, T (*)(T, T)>> cases = {
      {xgrad::add_into, [](T x, T y) { return x + y; }},
      {xgrad::subtract_into, [](T x, T y) { return x - y; }},
      {xgrad::multiply_into, [](T x, T y) { return x * y; }}};
  for (const auto& [kernel, reference] : cases) {
    std::vector<T> expected(n), out(n), in_place = a;
    for (std::size_t i = 0; i < n; ++i) expected[i] = reference(a[i], b[i]);
    kernel(a.data(), b.data(), out.data(), n);
    kernel(in_place.data(), b.data(), in_place.data(), n);
    EXPECT_EQ(out, expected) << "n = " << n;
    EXPECT_EQ(in_place, expected) << "n = " << n;
  }
}

TEST(BinaryKernels, MatchAPlainLoopAtEveryLengthAndTail) {
  // Lengths around the vector widths (4 to 16 floats, 2 to 8 doubles).
  for (std::size_t n : {0, 1, 3, 8, 16, 17, 31, 32, 33, 100}) {
    expect_binary_kernels_agree<float>(n);
    expect_binary_kernels_agree<double>(n);
  }
}

// copy_rows writes each row's n elements and nothing between the rows, and
// add_rows_into adds them the same way: rows around the vector widths (a
// row shorter than a batch, whole batches, a tail the last batch overlaps),
// from and into strided rows.
template <typename T>
void expect_rows_copied_and_added(std::size_t n) {
  const std::size_t rows = 3, in_ld = n + 5, out_ld = n + 2;
  std::vector<T> in(rows * in_ld);
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = static_cast<T>(i) + T(0.5);
  const T untouched = T(-7);
  std::vector<T> copied(rows * out_ld, untouched), expected_copy = copied;
  std::vector<T> added(rows * out_ld);
  for (std::size_t i = 0; i < added.size(); ++i) added[i] = T(0.25) * static_cast<T>(i);
  std::vector<T> expected_sum = added;
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t i = 0; i < n; ++i) {
      expected_copy[r * out_ld + i] = in[r * in_ld + i];
      expected_sum[r * out_ld + i] += in[r * in_ld + i];
    }
  }
  xgrad::copy_rows(in.data(), in_ld, copied.data(), out_ld, rows, n);
  EXPECT_EQ(copied, expected_copy) << "copy_rows, n = " << n;
  xgrad::add_rows_into(in.data(), in_ld, added.data(), out_ld, rows, n);
  EXPECT_EQ(added, expected_sum) << "add_rows_into, n = " << n;
}

TEST(CopyRows, CopiesOrAddsEachRowAndNothingBetweenAtEveryLengthAndTail) {
  for (std::size_t n : {0, 1, 3, 4, 7, 8, 9, 15, 16, 17, 31, 32, 33, 100}) {
    expect_rows_copied_and_added<float>(n);
    expect_rows_copied_and_added<double>(n);
  }
}

// ---------------------------------------------------------------- float tanh

// Floats of one sign, ordered by value, as integers: their difference counts
// the floats between them (ulps).
std::int32_t float_order(float f) {
  std::int32_t i;
  std::memcpy(&i, &f, sizeof f);
  return i;
}

// The float tanh is a rational function (activation_kernels_impl.hpp), fitted
// to be within 5 ulp of the correctly rounded tanh everywhere when evaluated
// with fused multiply-adds (the AVX2 and AVX-512 kernels), 6 without (SSE2).
TEST(FloatTanh, WithinFiveUlpOfTheCorrectlyRoundedValueSixWithoutFma) {
  const int bound = xsimd::available_architectures().avx2 ? 5 : 6;
  // Every 61st float from 1e-30 to 12 (17 million), then their negatives.
  std::vector<float> x;
  for (std::int32_t i = float_order(1e-30f); i <= float_order(12.0f); i += 61) {
    float v;
    std::memcpy(&v, &i, sizeof v);
    x.push_back(v);
  }
  std::vector<float> y = x;
  xgrad::tanh_in_place(y.data(), y.size());
  int worst = 0;
  float worst_at = 0;
  std::size_t exact = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const float reference = static_cast<float>(std::tanh(static_cast<double>(x[i])));
    const int ulps = std::abs(float_order(y[i]) - float_order(reference));
    if (ulps == 0) ++exact;
    if (ulps > worst) worst = ulps, worst_at = x[i];
  }
  EXPECT_LE(worst, bound) << "at x = " << worst_at;
  EXPECT_GT(exact, x.size() * 9 / 10);  // most are the correctly rounded value itself

  // Odd: the negatives give the same values, negated, bit for bit.
  std::vector<float> negated(x.size());
  std::transform(x.begin(), x.end(), negated.begin(), [](float v) { return -v; });
  xgrad::tanh_in_place(negated.data(), negated.size());
  for (std::size_t i = 0; i < x.size(); ++i) ASSERT_EQ(negated[i], -y[i]) << "at x = " << x[i];
}

TEST(FloatTanh, SpecialValues) {
  const float inf = std::numeric_limits<float>::infinity();
  const float tiny = std::numeric_limits<float>::denorm_min();
  std::vector<float> v{0.0f, -0.0f, inf, -inf, 20.0f, -20.0f, tiny, std::nanf("")};
  xgrad::tanh_in_place(v.data(), v.size());
  EXPECT_EQ(v[0], 0.0f);
  EXPECT_FALSE(std::signbit(v[0]));
  EXPECT_TRUE(std::signbit(v[1]));
  EXPECT_EQ(v[2], 1.0f);
  EXPECT_EQ(v[3], -1.0f);
  EXPECT_EQ(v[4], 1.0f);
  EXPECT_EQ(v[5], -1.0f);
  EXPECT_EQ(v[6], tiny);
  EXPECT_TRUE(std::isnan(v[7]));
}

}  // namespace

// relu and hard_sigmoid once turned NaN into finite numbers (max and min
// return an operand that is not NaN), hiding a NaN input; every activation
// now propagates it, as PyTorch and TensorFlow do.
TEST(ActivationKernels, EveryActivationPropagatesNaN) {
  using Kernel = void (*)(double*, std::size_t);
  const std::pair<const char*, Kernel> kernels[] = {
      {"tanh", xgrad::tanh_in_place},       {"sigmoid", xgrad::sigmoid_in_place},
      {"relu", xgrad::relu_in_place},       {"hard_sigmoid", xgrad::hard_sigmoid_in_place},
      {"softsign", xgrad::softsign_in_place}, {"selu", xgrad::selu_in_place},
      {"exp", xgrad::exp_in_place}};
  for (const auto& [name, kernel] : kernels) {
    // NaN at every position of a full batch and of the tail.
    for (std::size_t at = 0; at < 19; ++at) {
      std::vector<double> values(19, 0.5);
      values[at] = std::nan("");
      kernel(values.data(), values.size());
      EXPECT_TRUE(std::isnan(values[at])) << name << " at " << at;
      EXPECT_FALSE(std::isnan(values[(at + 1) % 19])) << name;
    }
    std::vector<float> single{std::nanf("")};
    if (std::string(name) == "relu") xgrad::relu_in_place(single.data(), 1);
    if (std::string(name) == "hard_sigmoid") xgrad::hard_sigmoid_in_place(single.data(), 1);
    EXPECT_TRUE(std::isnan(single[0])) << name << " (float)";
  }
  std::vector<double> elu{std::nan("")};
  xgrad::elu_in_place(elu.data(), 1);
  EXPECT_TRUE(std::isnan(elu[0]));
  // float's tanh is its own rational function, which carries NaN through
  // the order of its min operands rather than a select: every position of
  // a full batch (of any width up to 16) and of the tail, either sign.
  for (const float nan : {std::nanf(""), -std::nanf("")}) {
    for (std::size_t at = 0; at < 35; ++at) {
      std::vector<float> values(35, 0.5f);
      values[at] = nan;
      xgrad::tanh_in_place(values.data(), values.size());
      EXPECT_TRUE(std::isnan(values[at])) << "float tanh at " << at;
      EXPECT_FALSE(std::isnan(values[(at + 1) % 35])) << "float tanh";
    }
  }
}

// xsimd's exp converts x·log2(e) to an integer: undefined behaviour for
// ±inf and beyond ±2^63, which UBSan reports (float-cast-overflow). The
// PyTorch importer's fuzz target reached it through an LSTM bias of 6e57
// (tests/data/fuzz_torch_weights_lstm_bias_6e57.npz). tanh and sigmoid
// saturate exactly there, whole batches and tails.
// softplus and the activations after it have no row kernels: the row
// functions refuse them instead of leaving the values as they are.
TEST(ActivationKernels, RowFunctionsRefuseActivationsWithoutRowKernels) {
  EXPECT_TRUE(xgrad::has_row_kernels(xgrad::Activation::exponential));
  std::vector<float> values{0.5f, -1.0f}, grad{1.0f, 1.0f};
  for (const xgrad::Activation f : {xgrad::Activation::softplus, xgrad::Activation::softmax}) {
    EXPECT_FALSE(xgrad::has_row_kernels(f));
    EXPECT_THROW(xgrad::activate_rows(f, values.data(), 1, 2, 2), std::invalid_argument);
    EXPECT_THROW(xgrad::activation_backward_rows(f, values.data(), 2, grad.data(), 2, 1, 2), std::invalid_argument);
  }
  EXPECT_EQ(values, (std::vector<float>{0.5f, -1.0f}));
}

TEST(ActivationKernels, TanhAndSigmoidSaturateOnHugeAndInfiniteInputs) {
  auto check = [](auto type_tag) {
    using T = decltype(type_tag);
    const T inf = std::numeric_limits<T>::infinity(), huge = std::numeric_limits<T>::max();
    const std::vector<T> x{inf, -inf, huge, -huge, T(6e37), T(-6e37), T(1e10), T(-1e10), T(800), T(-800),
                           inf, -inf, huge, -huge, T(6e37), T(-6e37), T(1e10), T(-1e10), T(800)};
    std::vector<T> tanh = x, sigmoid = x;
    xgrad::tanh_in_place(tanh.data(), tanh.size());
    xgrad::sigmoid_in_place(sigmoid.data(), sigmoid.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
      EXPECT_EQ(tanh[i], x[i] > 0 ? T(1) : T(-1)) << "tanh(" << x[i] << "), " << sizeof(T) << "-byte";
      EXPECT_EQ(sigmoid[i], x[i] > 0 ? T(1) : T(0)) << "sigmoid(" << x[i] << "), " << sizeof(T) << "-byte";
    }
  };
  check(float{});
  check(double{});
}

