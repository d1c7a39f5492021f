// xgrad::nn::load (checkpoints, .npz) on arbitrary bytes with valid zip CRCs
// (read_npz's own target covers the CRC check), into three built models:
// an IoError, or every parameter keeps its shape and the model still runs.
// Seeds: tests/data/keras_*.npz and weights_savez*.npz (scripts/fuzz.sh).

#include <memory>

#include "model_checks.hpp"
#include "xgrad/nn/checkpoint.hpp"
#include "xgrad/nn/dense.hpp"
#include "xgrad/nn/sequential.hpp"
#include "xgrad/nn/simple_rnn.hpp"

namespace {

using namespace xgrad;

template <typename T, typename M>
void load_into(M& model, const std::string& path, const Shape& input, const char* what) {
  const auto before = fuzz::parameter_shapes(model);
  try {
    nn::load(model, path);
  } catch (const IoError&) {
    return;
  }
  fuzz::check_same_shapes(model, before, what);
  fuzz::call_once<T>(model, input);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static fuzz::ScratchFile file(".npz");
  const std::string& path =
      file.write(fuzz::with_valid_crcs(std::string(reinterpret_cast<const char*>(data), size)));

  // The seed notebook's SimpleRNN(2) on 5 features: names kernel,
  // recurrent_kernel, bias, or Keras' arr_0, arr_1, arr_2.
  nn::SimpleRNN<float> rnn(nn::SimpleRNNOptions(2).return_sequences(true));
  rnn.build({-1, -1, 5});
  load_into<float>(rnn, path, {1, 2, 5}, "SimpleRNN(2)");

  // Paths of a Sequential: simple_rnn/kernel ... dense/bias.
  nn::Sequential<float> stack;
  stack.add(std::make_shared<nn::SimpleRNN<float>>(nn::SimpleRNNOptions(3).return_sequences(true)));
  stack.add(std::make_shared<nn::SimpleRNN<float>>(nn::SimpleRNNOptions(2)));
  stack.add(std::make_shared<nn::Dense<float>>(nn::DenseOptions(3)));
  stack.build({-1, -1, 5});
  load_into<float>(stack, path, {1, 2, 5}, "SimpleRNN-SimpleRNN-Dense");

  // float64 parameters, dense/kernel [1, 3] and dense/bias [3].
  nn::Sequential<double> dense;
  dense.add(std::make_shared<nn::Dense<double>>(nn::DenseOptions(3)));
  dense.build({-1, 1});
  load_into<double>(dense, path, {1, 1}, "Dense<double>(3)");
  return 0;
}
