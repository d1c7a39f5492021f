// Keras' own expected values for SimpleRNN: the numbers asserted in Keras 3's
// keras/src/layers/rnn/simple_rnn_test.py (test_correctness,
// test_statefulness, test_pass_initial_state, test_masking), reproduced here
// with Keras' default assertAllClose tolerance (atol = rtol = 1e-6). All use
// Constant(0.01) kernels, Constant(0.02) recurrent kernels and Constant(0.03)
// biases on np.arange inputs.

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "xgrad/nn/simple_rnn.hpp"

namespace {

using xgrad::Array;
using xgrad::Variable;
using xgrad::nn::SimpleRNN;
using xgrad::nn::SimpleRNNCall;
using xgrad::nn::SimpleRNNOptions;
namespace init = xgrad::nn::init;

SimpleRNNOptions constant_options(std::size_t units) {
  return SimpleRNNOptions(units)
      .kernel_initializer(init::constant(0.01))
      .recurrent_initializer(init::constant(0.02))
      .bias_initializer(init::constant(0.03));
}

// np.arange(24).reshape(shape).astype("float32")
Variable<float> arange_sequence(std::size_t b, std::size_t t, std::size_t f) {
  Array<float> x = Array<float>::from_shape({b, t, f});
  for (std::size_t i = 0; i < x.size(); ++i) x.flat(i) = static_cast<float>(i);
  return Variable<float>(x);
}

// Every row r of the [B, U] (or [T, U]) result equals rows[r] in every unit.
void expect_rows(const Array<float>& actual, const std::vector<float>& rows, const std::string& what) {
  ASSERT_EQ(actual.dimension(), 2u) << what;
  ASSERT_EQ(actual.shape()[0], rows.size()) << what;
  for (std::size_t r = 0; r < rows.size(); ++r)
    for (std::size_t u = 0; u < actual.shape()[1]; ++u)
      EXPECT_NEAR(actual(r, u), rows[r], 1e-6 + 1e-6 * std::abs(rows[r]))
          << what << " at (" << r << ", " << u << ")";
}

Array<float> batch_row(const Array<float>& y, std::size_t b) {
  Array<float> out = Array<float>::from_shape({y.shape()[1], y.shape()[2]});
  for (std::size_t t = 0; t < y.shape()[1]; ++t)
    for (std::size_t u = 0; u < y.shape()[2]; ++u) out(t, u) = y(b, t, u);
  return out;
}

TEST(KerasSimpleRNNValues, Correctness) {
  SimpleRNN<float> layer(constant_options(4));
  expect_rows(layer(arange_sequence(2, 3, 4)).value(), {0.405432f, 0.73605347f}, "forward");
  SimpleRNN<float> backwards(constant_options(4).go_backwards(true));
  expect_rows(backwards(arange_sequence(2, 3, 4)).value(), {0.11144729f, 0.5528889f},
              "go_backwards");
}

TEST(KerasSimpleRNNValues, Statefulness) {
  SimpleRNN<float> layer(constant_options(4).stateful(true));
  layer(arange_sequence(2, 3, 4));
  expect_rows(layer(arange_sequence(2, 3, 4)).value(), {0.40559256f, 0.7361247f}, "second call");
  layer.reset_state();
  layer(arange_sequence(2, 3, 4));
  expect_rows(layer(arange_sequence(2, 3, 4)).value(), {0.40559256f, 0.7361247f},
              "second call after reset_state");
}

TEST(KerasSimpleRNNValues, PassInitialState) {
  Array<float> h0 = Array<float>::from_shape({2, 4});
  for (std::size_t i = 0; i < h0.size(); ++i) h0.flat(i) = static_cast<float>(i);
  const auto call = SimpleRNNCall<float>().initial_state(Variable<float>(h0));
  SimpleRNN<float> layer(constant_options(4));
  expect_rows(layer(arange_sequence(2, 4, 3), call).value(), {0.33621645f, 0.6262637f},
              "initial_state");
  SimpleRNN<float> backwards(constant_options(4).go_backwards(true));
  expect_rows(backwards(arange_sequence(2, 4, 3), call).value(), {0.07344437f, 0.43043602f},
              "initial_state, go_backwards");
}

TEST(KerasSimpleRNNValues, Masking) {
  const xt::xarray<bool> mask = {{true, true, false, true}, {true, false, false, true}};
  const auto call = SimpleRNNCall<float>().mask(mask);

  SimpleRNN<float> last(constant_options(4));
  expect_rows(last(arange_sequence(2, 4, 3), call).value(), {0.32951632f, 0.61799484f},
              "last output");

  SimpleRNN<float> sequences(constant_options(2).return_sequences(true));
  const Array<float> y = sequences(arange_sequence(2, 4, 3), call).value();
  expect_rows(batch_row(y, 0), {0.0599281f, 0.15122814f, 0.15122814f, 0.32394567f}, "sequence 0");
  expect_rows(batch_row(y, 1), {0.3969304f, 0.3969304f, 0.3969304f, 0.608085f}, "sequence 1");

  SimpleRNN<float> zeroed(constant_options(2).return_sequences(true).zero_output_for_mask(true));
  const Array<float> z = zeroed(arange_sequence(2, 4, 3), call).value();
  expect_rows(batch_row(z, 0), {0.0599281f, 0.15122814f, 0.0f, 0.32394567f}, "zeroed sequence 0");
  expect_rows(batch_row(z, 1), {0.3969304f, 0.0f, 0.0f, 0.608085f}, "zeroed sequence 1");

  SimpleRNN<float> backwards(constant_options(4).go_backwards(true));
  expect_rows(backwards(arange_sequence(2, 4, 3), call).value(), {0.07376196f, 0.43645123f},
              "go_backwards with mask");
}

}  // namespace
