// The PyTorch importer (nn/torch_weights.hpp) on arbitrary bytes with valid
// zip CRCs (read_npz's own target covers the CRC check), into the layers of
// the torch fixtures, built and unbuilt: an IoError, or the layers run on
// the input features they now have. Seeds: tests/data/torch_*.npz
// (scripts/fuzz.sh).

#include <memory>

#include "model_checks.hpp"
#include "xgrad/nn/bidirectional.hpp"
#include "xgrad/nn/torch_weights.hpp"

namespace {

using namespace xgrad;

// Loads with `load`; after a success, a built layer kept its shapes and
// every layer runs on [1, 2, F] with the F it has now.
template <typename T, typename M, typename Load>
void load_into(M& model, Load load, const char* what) {
  const auto before = fuzz::parameter_shapes(model);
  const bool was_built = !before.empty();
  try {
    load(model);
  } catch (const IoError&) {
    return;
  }
  if (was_built) fuzz::check_same_shapes(model, before, what);
  fuzz::check(!model.parameters().empty(), std::string(what) + ": loaded but not built");
  const Shape kernel = to_shape(model.parameters().front().shape());  // [F, G·U]
  fuzz::call_once<T>(model, {1, 2, kernel.at(0)});
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static fuzz::ScratchFile file(".npz");
  const std::string& path =
      file.write(fuzz::with_valid_crcs(std::string(reinterpret_cast<const char*>(data), size)));
  constexpr std::size_t U = 4;  // the fixtures' units

  {  // torch_rnn_tanh.npz: nn.RNN(3, 4) in float32
    nn::SimpleRNN<float> rnn{nn::SimpleRNNOptions(U)};
    load_into<float>(rnn, [&](auto& m) { nn::load_torch_rnn_state_dict(m, path); }, "SimpleRNN, unbuilt");
  }
  {  // torch_rnn_relu_nobias.npz, into a built layer without bias
    nn::SimpleRNN<float> rnn(nn::SimpleRNNOptions(U).activation("relu").use_bias(false));
    rnn.build({-1, -1, 3});
    load_into<float>(rnn, [&](auto& m) { nn::load_torch_rnn_state_dict(m, path); }, "SimpleRNN relu, built");
  }
  {  // torch_lstm.npz
    nn::LSTM<double> lstm{nn::LSTMOptions(U)};
    load_into<double>(lstm, [&](auto& m) { nn::load_torch_lstm_state_dict(m, path); }, "LSTM, unbuilt");
  }
  {  // torch_gru.npz
    nn::GRU<double> gru{nn::GRUOptions(U)};
    gru.build({-1, -1, 3});
    load_into<double>(gru, [&](auto& m) { nn::load_torch_gru_state_dict(m, path); }, "GRU, built");
  }
  auto into_sequential = [&](nn::Sequential<double>& model, const char* what) {
    load_into<double>(model, [&](auto& m) { nn::load_torch_recurrent_state_dict(m, path); }, what);
  };
  {  // torch_lstm_2layer.npz
    nn::Sequential<double> model({std::make_shared<nn::LSTM<double>>(nn::LSTMOptions(U).return_sequences(true)),
                                  std::make_shared<nn::LSTM<double>>(nn::LSTMOptions(U))});
    into_sequential(model, "two LSTMs, unbuilt");
  }
  {  // torch_lstm_bidirectional.npz
    nn::Sequential<double> model(
        {std::make_shared<nn::Bidirectional<double>>(nn::LSTMOptions(U).return_sequences(true))});
    into_sequential(model, "Bidirectional LSTM, unbuilt");
  }
  {  // torch_gru_bidirectional.npz
    nn::Sequential<double> model(
        {std::make_shared<nn::Bidirectional<double>>(nn::GRUOptions(U).return_sequences(true))});
    model.build({-1, -1, 3});
    into_sequential(model, "Bidirectional GRU, built");
  }
  return 0;
}
