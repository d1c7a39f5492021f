// The .weights.h5 reader (nn/keras_weights.hpp) on arbitrary bytes, into
// the models of the Keras fixtures, built and unbuilt: an IoError, or the
// model runs on the input features it now has. Seeds:
// tests/data/*.weights.h5 (scripts/fuzz.sh).
//
// fuzz_keras_weights loads as users do by default, through the
// xgrad-h5-reader program, so a crash of libhdf5 there must come back as an
// IoError. fuzz_keras_weights_trusted (XGRAD_FUZZ_TRUSTED) loads in this
// process, as KerasLoadOptions().trusted(true) does, the files a user may
// trust: well-formed ones, written by libhdf5 from a text the fuzzer mutates
// (well_formed_h5.hpp; seeds: fuzz/seeds/keras_weights_trusted, the
// fixtures' contents), so that it finds the reader's bugs on any groups,
// shapes, types and values rather than libhdf5's on malformed bytes.

#include <memory>

#include "model_checks.hpp"
#ifdef XGRAD_FUZZ_TRUSTED
#include "well_formed_h5.hpp"
#endif
#include "xgrad/nn/bidirectional.hpp"
#include "xgrad/nn/dense.hpp"
#include "xgrad/nn/embedding.hpp"
#include "xgrad/nn/gru.hpp"
#include "xgrad/nn/keras_weights.hpp"
#include "xgrad/nn/lstm.hpp"
#include "xgrad/nn/sequential.hpp"
#include "xgrad/nn/simple_rnn.hpp"

namespace {

using namespace xgrad;

template <typename T>
void read_weights_h5(nn::Module<T>& model, const std::string& path) {
#ifdef XGRAD_FUZZ_TRUSTED
  nn::load_keras_weights(model, path, nn::KerasLoadOptions().trusted(true));
#else
  nn::load_keras_weights(model, path);
#endif
}

// After a success, a built model kept its shapes and the model runs on
// `input`, or on [1, 2, F] (recurrent first layer) / [1, F] (Dense) with
// the F of its first kernel.
template <typename M>
void load_into(M& model, const std::string& path, bool recurrent_input, const char* what, Shape input = {}) {
  const auto before = fuzz::parameter_shapes(model);
  const bool was_built = !before.empty();
  try {
    read_weights_h5(model, path);
  } catch (const IoError&) {
    return;
  }
  if (was_built) fuzz::check_same_shapes(model, before, what);
  fuzz::check(!model.parameters().empty(), std::string(what) + ": loaded but not built");
  if (input.empty()) {
    const std::size_t features = model.parameters().front().shape().at(0);
    input = recurrent_input ? Shape{1, 2, features} : Shape{1, features};
  }
  fuzz::call_once<float>(model, input);
}

template <typename L, typename O>
std::shared_ptr<L> layer(O options) {
  return std::make_shared<L>(options);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static fuzz::ScratchFile file(".weights.h5");
#ifdef XGRAD_FUZZ_TRUSTED
  const std::string& path = file.path();
  fuzz::write_well_formed_h5(std::string(reinterpret_cast<const char*>(data), size), path);
#else
  const std::string& path = file.write(data, size);
#endif
  using nn::Sequential;
  {  // keras_simple_rnn_notebook.weights.h5
    Sequential<float> model({layer<nn::SimpleRNN<float>>(nn::SimpleRNNOptions(2).return_sequences(true))});
    load_into(model, path, true, "notebook SimpleRNN, unbuilt");
  }
  {  // keras_rnn_rnn_dense.weights.h5
    Sequential<float> model({layer<nn::SimpleRNN<float>>(nn::SimpleRNNOptions(3).return_sequences(true)),
                             layer<nn::SimpleRNN<float>>(nn::SimpleRNNOptions(4)),
                             layer<nn::Dense<float>>(nn::DenseOptions(2))});
    model.build({-1, -1, 5});
    load_into(model, path, true, "SimpleRNN-SimpleRNN-Dense, built");
  }
  {  // keras_embedding_rnn_dense.weights.h5
    Sequential<float> model({layer<nn::Embedding<float>>(nn::EmbeddingOptions(10, 4)),
                             layer<nn::SimpleRNN<float>>(nn::SimpleRNNOptions(3)),
                             layer<nn::Dense<float>>(nn::DenseOptions(1))});
    load_into(model, path, false, "Embedding-SimpleRNN-Dense, unbuilt", Shape{1, 3});
  }
  {  // keras_dense_layer.weights.h5: a layer saved alone
    nn::Dense<float> dense(nn::DenseOptions(3));
    load_into(dense, path, false, "Dense alone, unbuilt");
  }
  {  // keras_legacy_dependencies.weights.h5
    Sequential<float> model({layer<nn::Dense<float>>(nn::DenseOptions(2))});
    load_into(model, path, false, "Dense in a Sequential, unbuilt");
  }
  {  // keras_lstm_gru.weights.h5
    Sequential<float> model({layer<nn::LSTM<float>>(nn::LSTMOptions(3).return_sequences(true)),
                             layer<nn::Bidirectional<float>>(nn::GRUOptions(2).return_sequences(true)),
                             layer<nn::GRU<float>>(nn::GRUOptions(2).reset_after(false)),
                             layer<nn::Dense<float>>(nn::DenseOptions(1))});
    model.build({-1, -1, 4});
    load_into(model, path, true, "LSTM-Bidirectional GRU-GRU-Dense, built");
  }
  return 0;
}
