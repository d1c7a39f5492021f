// Every expected string below is NumPy 1.24's own output, produced with
// Debian's /usr/bin/python3 from the expression quoted above it
// (`import numpy as np`, default print options).

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "xgrad/tensor/format.hpp"
#include "xtensor/xarray.hpp"
#include "xtensor/xbuilder.hpp"

namespace {

using xgrad::format_array;

constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

template <typename T>
xgrad::Array<T> arange(T stop, std::vector<std::size_t> shape) {
  xgrad::Array<T> a = xt::arange<T>(stop);
  a.reshape(shape);
  return a;
}

TEST(FormatArray, NotebookKernel) {
  // str(np.array([[-0.8766506, 0.9172727], [-0.37667286, 0.6936799],
  //     [-0.44308627, -0.71843755], [-0.627252, 0.8343315],
  //     [-0.00902045, 0.08299422]], dtype=np.float32))
  const xgrad::Array<float> kernel = {{-0.8766506f, 0.9172727f},   {-0.37667286f, 0.6936799f},
                                    {-0.44308627f, -0.71843755f}, {-0.627252f, 0.8343315f},
                                    {-0.00902045f, 0.08299422f}};
  EXPECT_EQ(format_array(kernel),
            "[[-0.8766506   0.9172727 ]\n"
            " [-0.37667286  0.6936799 ]\n"
            " [-0.44308627 -0.71843755]\n"
            " [-0.627252    0.8343315 ]\n"
            " [-0.00902045  0.08299422]]");
}

TEST(FormatArray, NotebookRecurrentKernelAndBias) {
  // str(np.array([[0.57300806, -0.8195498], [0.8195498, 0.573008]], dtype=np.float32))
  const xgrad::Array<float> recurrent = {{0.57300806f, -0.8195498f}, {0.8195498f, 0.573008f}};
  EXPECT_EQ(format_array(recurrent),
            "[[ 0.57300806 -0.8195498 ]\n"
            " [ 0.8195498   0.573008  ]]");
  // str(np.array([0., 0.], dtype=np.float32))
  const xgrad::Array<float> bias = {0.f, 0.f};
  EXPECT_EQ(format_array(bias), "[0. 0.]");
}

TEST(FormatArray, NotebookOutputs) {
  // str(np.array([[-0.98134404, 0.94781566], [-0.9997276, 0.999903],
  //     [-0.99999744, 0.9999977]], dtype=np.float32))
  const xgrad::Array<float> out = {
      {-0.98134404f, 0.94781566f}, {-0.9997276f, 0.999903f}, {-0.99999744f, 0.9999977f}};
  EXPECT_EQ(format_array(out),
            "[[-0.98134404  0.94781566]\n"
            " [-0.9997276   0.999903  ]\n"
            " [-0.99999744  0.9999977 ]]");
  // str(np.array([[1., 1., 1., 1., 1.], [2., 2., 2., 2., 2.]], dtype=np.float32))
  const xgrad::Array<float> ones_twos = {{1.f, 1.f, 1.f, 1.f, 1.f}, {2.f, 2.f, 2.f, 2.f, 2.f}};
  EXPECT_EQ(format_array(ones_twos), "[[1. 1. 1. 1. 1.]\n [2. 2. 2. 2. 2.]]");
  // str(np.array([[0.23009521, -1.7734485]], dtype=np.float32))
  const xgrad::Array<float> prediction = {{0.23009521f, -1.7734485f}};
  EXPECT_EQ(format_array(prediction), "[[ 0.23009521 -1.7734485 ]]");
}

TEST(FormatArray, OneDimensional) {
  // str(np.array([0.5, -2.25, 10.0, 3.1415927], dtype=np.float32))
  EXPECT_EQ(format_array(xgrad::Array<float>{0.5f, -2.25f, 10.f, 3.1415927f}),
            "[ 0.5       -2.25      10.         3.1415927]");
  // str(np.array([1.0, 2.0, 3.0], dtype=np.float32))
  EXPECT_EQ(format_array(xgrad::Array<float>{1.f, 2.f, 3.f}), "[1. 2. 3.]");
  // str(np.array([-1.0, 2.0], dtype=np.float32))
  EXPECT_EQ(format_array(xgrad::Array<float>{-1.f, 2.f}), "[-1.  2.]");
}

TEST(FormatArray, ThreeAndFourDimensional) {
  // str(np.arange(24, dtype=np.float32).reshape(2, 3, 4) / np.float32(4))
  const xgrad::Array<float> cube = arange(24.f, {2, 3, 4}) / 4.f;
  EXPECT_EQ(format_array(cube),
            "[[[0.   0.25 0.5  0.75]\n"
            "  [1.   1.25 1.5  1.75]\n"
            "  [2.   2.25 2.5  2.75]]\n"
            "\n"
            " [[3.   3.25 3.5  3.75]\n"
            "  [4.   4.25 4.5  4.75]\n"
            "  [5.   5.25 5.5  5.75]]]");
  // str(np.arange(8, dtype=np.float32).reshape(2, 1, 2, 2) - np.float32(3.5))
  const xgrad::Array<float> hyper = arange(8.f, {2, 1, 2, 2}) - 3.5f;
  EXPECT_EQ(format_array(hyper),
            "[[[[-3.5 -2.5]\n"
            "   [-1.5 -0.5]]]\n"
            "\n"
            "\n"
            " [[[ 0.5  1.5]\n"
            "   [ 2.5  3.5]]]]");
}

TEST(FormatArray, DigitsFollowTheElementType) {
  // str(np.array([0.1, 1/3, -2/3], dtype=np.float32))
  EXPECT_EQ(format_array(xgrad::Array<float>{0.1f, 1.f / 3.f, -2.f / 3.f}),
            "[ 0.1         0.33333334 -0.6666667 ]");
  // str(np.array([0.1, 1/3, -2/3], dtype=np.float64))
  EXPECT_EQ(format_array(xgrad::Array<double>{0.1, 1.0 / 3.0, -2.0 / 3.0}),
            "[ 0.1         0.33333333 -0.66666667]");
  // str(np.array([0.123456789, 1.0], dtype=np.float64))
  EXPECT_EQ(format_array(xgrad::Array<double>{0.123456789, 1.0}), "[0.12345679 1.        ]");
}

TEST(FormatArray, WholeDigitsAreExactInArrays) {
  // str(np.array([99999992., 123456.79], dtype=np.float32))
  EXPECT_EQ(format_array(xgrad::Array<float>{99999992.f, 123456.79f}), "[99999992.     123456.79]");
}

TEST(FormatArray, ScientificForSmallValues) {
  // str(np.array([1e-5, 1.0], dtype=np.float32))
  EXPECT_EQ(format_array(xgrad::Array<float>{1e-5f, 1.f}), "[1.e-05 1.e+00]");
  // str(np.array([1e-5, 1.2345678e-5, 0.1], dtype=np.float32))
  EXPECT_EQ(format_array(xgrad::Array<float>{1e-5f, 1.2345678e-5f, 0.1f}),
            "[9.9999997e-06 1.2345678e-05 1.0000000e-01]");
  // str(np.array([1e-5, np.nan], dtype=np.float32))
  EXPECT_EQ(format_array(xgrad::Array<float>{1e-5f, kNan}), "[1.e-05    nan]");
}

TEST(FormatArray, ScientificForLargeValuesAndRanges) {
  // str(np.array([1e8, -1.5], dtype=np.float32))
  EXPECT_EQ(format_array(xgrad::Array<float>{1e8f, -1.5f}), "[ 1.0e+08 -1.5e+00]");
  // str(np.array([0.001, 2.0], dtype=np.float32))
  EXPECT_EQ(format_array(xgrad::Array<float>{0.001f, 2.f}), "[1.e-03 2.e+00]");
  // str(np.array([[0.1, 0.2], [0.3, 1e3]], dtype=np.float64))
  EXPECT_EQ(format_array(xgrad::Array<double>{{0.1, 0.2}, {0.3, 1e3}}),
            "[[1.e-01 2.e-01]\n [3.e-01 1.e+03]]");
  // str(np.array([[1e-3, -2.5e4], [0.0, 1.0]], dtype=np.float64))
  EXPECT_EQ(format_array(xgrad::Array<double>{{1e-3, -2.5e4}, {0.0, 1.0}}),
            "[[ 1.0e-03 -2.5e+04]\n [ 0.0e+00  1.0e+00]]");
  // str(np.array([1e-100, 1e5], dtype=np.float64))
  EXPECT_EQ(format_array(xgrad::Array<double>{1e-100, 1e5}), "[1.e-100 1.e+005]");
}

TEST(FormatArray, NegativeZero) {
  // str(np.array([-0.0, 0.0], dtype=np.float32))
  EXPECT_EQ(format_array(xgrad::Array<float>{-0.f, 0.f}), "[-0.  0.]");
  // str(np.array([-0.0, 1.5], dtype=np.float32))
  EXPECT_EQ(format_array(xgrad::Array<float>{-0.f, 1.5f}), "[-0.   1.5]");
}

TEST(FormatArray, NanAndInf) {
  // str(np.array([np.nan, np.inf], dtype=np.float32))
  EXPECT_EQ(format_array(xgrad::Array<float>{kNan, kInf}), "[nan inf]");
  // str(np.array([np.nan, -np.inf, 1.5], dtype=np.float32))
  EXPECT_EQ(format_array(xgrad::Array<float>{kNan, -kInf, 1.5f}), "[ nan -inf  1.5]");
  // str(np.array([-np.inf, 0.125, 100.0], dtype=np.float64))
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(format_array(xgrad::Array<double>{-inf, 0.125, 100.0}), "[   -inf   0.125 100.   ]");
}

TEST(FormatArray, LongRowsWrapAt75Columns) {
  // str(np.arange(20, dtype=np.float32) / np.float32(7))
  const xgrad::Array<float> sevenths = arange(20.f, {20}) / 7.f;
  EXPECT_EQ(format_array(sevenths),
            "[0.         0.14285715 0.2857143  0.42857143 0.5714286  0.71428573\n"
            " 0.85714287 1.         1.1428572  1.2857143  1.4285715  1.5714285\n"
            " 1.7142857  1.8571428  2.         2.142857   2.2857144  2.4285715\n"
            " 2.5714285  2.7142856 ]");
  // str(np.arange(16, dtype=np.float32) / np.float32(4) + np.float32(1)): the
  // 15th word would end exactly in column 75, so it must wrap
  const xgrad::Array<float> quarters = arange(16.f, {16}) / 4.f + 1.f;
  EXPECT_EQ(format_array(quarters),
            "[1.   1.25 1.5  1.75 2.   2.25 2.5  2.75 3.   3.25 3.5  3.75 4.   4.25\n"
            " 4.5  4.75]");
  // str(np.arange(24, dtype=np.float32).reshape(2, 12) * np.float32(-1.25))
  const xgrad::Array<float> rows = arange(24.f, {2, 12}) * -1.25f;
  EXPECT_EQ(format_array(rows),
            "[[ -0.    -1.25  -2.5   -3.75  -5.    -6.25  -7.5   -8.75 -10.   -11.25\n"
            "  -12.5  -13.75]\n"
            " [-15.   -16.25 -17.5  -18.75 -20.   -21.25 -22.5  -23.75 -25.   -26.25\n"
            "  -27.5  -28.75]]");
}

TEST(FormatArray, NestedRowsWrapOneColumnEarlierPerLevel) {
  // str(np.arange(20, dtype=np.float32).reshape(2, 10) * np.float32(1.125) - np.float32(10))
  const xgrad::Array<float> matrix = arange(20.f, {2, 10}) * 1.125f - 10.f;
  EXPECT_EQ(format_array(matrix),
            "[[-10.     -8.875  -7.75   -6.625  -5.5    -4.375  -3.25   -2.125  -1.\n"
            "    0.125]\n"
            " [  1.25    2.375   3.5     4.625   5.75    6.875   8.      9.125  10.25\n"
            "   11.375]]");
  // str(np.tile(np.array([0, 1], dtype=np.float32), 24).reshape(1, 1, 2, 24))
  xgrad::Array<float> deep = xt::zeros<float>({1, 1, 2, 24});
  for (std::size_t i = 1; i < deep.size(); i += 2) deep.flat(i) = 1.f;
  EXPECT_EQ(format_array(deep),
            "[[[[0. 1. 0. 1. 0. 1. 0. 1. 0. 1. 0. 1. 0. 1. 0. 1. 0. 1. 0. 1. 0. 1.\n"
            "    0. 1.]\n"
            "   [0. 1. 0. 1. 0. 1. 0. 1. 0. 1. 0. 1. 0. 1. 0. 1. 0. 1. 0. 1. 0. 1.\n"
            "    0. 1.]]]]");
}

TEST(FormatArray, LargeVectorSummarises) {
  // str(np.arange(2000, dtype=np.float32) * np.float32(0.5))
  const xgrad::Array<float> big = arange(2000.f, {2000}) * 0.5f;
  EXPECT_EQ(format_array(big), "[0.000e+00 5.000e-01 1.000e+00 ... 9.985e+02 9.990e+02 9.995e+02]");
  // str(np.arange(1001, dtype=np.float64).reshape(1001, 1))
  EXPECT_EQ(format_array(arange(1001.0, {1001, 1})),
            "[[   0.]\n [   1.]\n [   2.]\n ...\n [ 998.]\n [ 999.]\n [1000.]]");
}

TEST(FormatArray, LargeMatricesSummarise) {
  // str(np.arange(1200, dtype=np.float32).reshape(40, 30) / np.float32(8))
  const xgrad::Array<float> matrix = arange(1200.f, {40, 30}) / 8.f;
  EXPECT_EQ(format_array(matrix),
            "[[0.00000e+00 1.25000e-01 2.50000e-01 ... 3.37500e+00 3.50000e+00\n"
            "  3.62500e+00]\n"
            " [3.75000e+00 3.87500e+00 4.00000e+00 ... 7.12500e+00 7.25000e+00\n"
            "  7.37500e+00]\n"
            " [7.50000e+00 7.62500e+00 7.75000e+00 ... 1.08750e+01 1.10000e+01\n"
            "  1.11250e+01]\n"
            " ...\n"
            " [1.38750e+02 1.38875e+02 1.39000e+02 ... 1.42125e+02 1.42250e+02\n"
            "  1.42375e+02]\n"
            " [1.42500e+02 1.42625e+02 1.42750e+02 ... 1.45875e+02 1.46000e+02\n"
            "  1.46125e+02]\n"
            " [1.46250e+02 1.46375e+02 1.46500e+02 ... 1.49625e+02 1.49750e+02\n"
            "  1.49875e+02]]");
  // str(np.arange(1008, dtype=np.float32).reshape(8, 2, 63) / np.float32(4) + np.float32(1))
  const xgrad::Array<float> blocks = arange(1008.f, {8, 2, 63}) / 4.f + 1.f;
  EXPECT_EQ(format_array(blocks),
            "[[[  1.     1.25   1.5  ...  16.    16.25  16.5 ]\n"
            "  [ 16.75  17.    17.25 ...  31.75  32.    32.25]]\n"
            "\n"
            " [[ 32.5   32.75  33.   ...  47.5   47.75  48.  ]\n"
            "  [ 48.25  48.5   48.75 ...  63.25  63.5   63.75]]\n"
            "\n"
            " [[ 64.    64.25  64.5  ...  79.    79.25  79.5 ]\n"
            "  [ 79.75  80.    80.25 ...  94.75  95.    95.25]]\n"
            "\n"
            " ...\n"
            "\n"
            " [[158.5  158.75 159.   ... 173.5  173.75 174.  ]\n"
            "  [174.25 174.5  174.75 ... 189.25 189.5  189.75]]\n"
            "\n"
            " [[190.   190.25 190.5  ... 205.   205.25 205.5 ]\n"
            "  [205.75 206.   206.25 ... 220.75 221.   221.25]]\n"
            "\n"
            " [[221.5  221.75 222.   ... 236.5  236.75 237.  ]\n"
            "  [237.25 237.5  237.75 ... 252.25 252.5  252.75]]]");
}

TEST(FormatArray, Float32ScalarsPrintLikeNumpyScalars) {
  // str(np.array(np.float32(x))) for each x, same as str(np.float32(x))
  EXPECT_EQ(format_array(xgrad::Array<float>(0.5f)), "0.5");
  EXPECT_EQ(format_array(xgrad::Array<float>(1.f)), "1.0");
  EXPECT_EQ(format_array(xgrad::Array<float>(0.1f)), "0.1");
  EXPECT_EQ(format_array(xgrad::Array<float>(1e-5f)), "1e-05");
  EXPECT_EQ(format_array(xgrad::Array<float>(1e-4f)), "1e-04");  // float32(1e-4) < 1e-4
  EXPECT_EQ(format_array(xgrad::Array<float>(123456789.f)), "123456790.0");
  EXPECT_EQ(format_array(xgrad::Array<float>(-0.f)), "-0.0");
  EXPECT_EQ(format_array(xgrad::Array<float>(kNan)), "nan");
  EXPECT_EQ(format_array(xgrad::Array<float>(-kInf)), "-inf");
}

TEST(FormatArray, Float64ScalarsPrintLikeNumpyScalars) {
  // str(np.array(np.float64(x))) for each x, same as str(np.float64(x))
  EXPECT_EQ(format_array(xgrad::Array<double>(0.1)), "0.1");
  EXPECT_EQ(format_array(xgrad::Array<double>(1e16)), "1e+16");
  EXPECT_EQ(format_array(xgrad::Array<double>(1e-4)), "0.0001");
  EXPECT_EQ(format_array(xgrad::Array<double>(-2.5e-7)), "-2.5e-07");
  EXPECT_EQ(format_array(xgrad::Array<double>(1.0 / 3.0)), "0.3333333333333333");
}

TEST(FormatArray, EmptyArrays) {
  // str(np.zeros((0,), dtype=np.float32))
  EXPECT_EQ(format_array(xgrad::Array<float>::from_shape({0})), "[]");
  // str(np.zeros((2, 0), dtype=np.float64))
  EXPECT_EQ(format_array(xgrad::Array<double>::from_shape({2, 0})), "[]");
}

TEST(FormatArray, ShapesPrintLikePythonTuples) {
  // str(np.zeros((5, 2)).shape), str(np.zeros(2).shape), str(np.zeros(()).shape)
  EXPECT_EQ(xgrad::shape_to_string(xgrad::Array<float>::from_shape({5, 2}).shape()), "(5, 2)");
  EXPECT_EQ(xgrad::shape_to_string(xgrad::Array<float>::from_shape({2}).shape()), "(2,)");
  EXPECT_EQ(xgrad::shape_to_string(xgrad::Array<float>(1.f).shape()), "()");
}

}  // namespace
