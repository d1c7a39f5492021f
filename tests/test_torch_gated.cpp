// PyTorch nn.LSTM and nn.GRU state dicts (load_torch_lstm_state_dict,
// load_torch_gru_state_dict, load_torch_recurrent_state_dict) against torch's
// own numbers: outputs, final states and gradients to 1e-10, through the
// fused and the composed path; 2-layer and bidirectional modules through a
// Sequential; and the ways an import is refused.
//
// Fixtures: tests/data/make_torch_gated_fixtures.py (torch.nn.LSTM and
// nn.GRU in float64; its docstring lists every file and key). The mapping to
// Keras' layout is written out here again, independently of the importer:
// the tests map xgrad's gradients back to torch's rows.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>
#include <xtensor/xbuilder.hpp>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xview.hpp>

#include "test_helpers.hpp"
#include "xgrad/xgrad.hpp"

namespace {

namespace fs = std::filesystem;
namespace nn = xgrad::nn;
using xgrad::Array;
using xgrad::IoError;
using xgrad::test::max_abs_diff;
using xgrad::test::throws_with;
using V = xgrad::Variable<double>;
using Call = nn::RecurrentCall<double>;
using Arrays = std::map<std::string, Array<double>>;

const std::string data_dir = XGRAD_TEST_DATA_DIR;
constexpr std::size_t U = 4;
constexpr double tolerance = 1e-10;

Arrays read(const std::string& file) {
  Arrays out;
  for (const auto& [key, array] : xgrad::read_npz(data_dir + "/" + file)) {
    EXPECT_EQ(array.dtype, "float64") << file << " " << key;
    out[key] = array.as<double>();
  }
  return out;
}

// Rows [lo, hi) of a 2-D array, or entries of a 1-D one.
Array<double> rows(const Array<double>& a, std::size_t lo, std::size_t hi) {
  return xt::view(a, xt::range(lo, hi));
}

// Keras' column blocks z, r, h back into torch's row blocks r, z, n: one
// block of U rows each, after the transpose.
Array<double> gru_rows_from_columns(const Array<double>& columns) {
  const Array<double> t = xt::transpose(columns);
  return xt::concatenate(xt::xtuple(rows(t, U, 2 * U), rows(t, 0, U), rows(t, 2 * U, 3 * U)), 0);
}
Array<double> gru_blocks(const Array<double>& keras_vector) {
  return xt::concatenate(
      xt::xtuple(rows(keras_vector, U, 2 * U), rows(keras_vector, 0, U), rows(keras_vector, 2 * U, 3 * U)), 0);
}

V weighted_sum(const V& a, const Array<double>& w) { return xgrad::sum(xgrad::mul(a, V(w))); }

class TorchGated : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("xgrad_torch_gated_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  // `fixture`'s state dict with `changes` applied (a replaced or added
  // entry; nullopt removes it), written to a scratch file.
  std::string edited(const std::string& fixture,
                     const std::vector<std::pair<std::string, std::optional<Array<double>>>>& changes) {
    auto entries = xgrad::read_npz(data_dir + "/" + fixture);
    for (const auto& [name, value] : changes) {
      auto it = std::find_if(entries.begin(), entries.end(), [&](const auto& e) { return e.first == name; });
      if (!value) {
        if (it != entries.end()) entries.erase(it);
      } else if (it != entries.end()) {
        it->second = xgrad::NpyArray::from(*value);
      } else {
        entries.emplace_back(name, xgrad::NpyArray::from(*value));
      }
    }
    const std::string file = path("edited_" + fixture);
    xgrad::write_npz(file, entries);
    return file;
  }
  fs::path dir_;
};

// ------------------------------------------------------------ one-layer LSTM

TEST_F(TorchGated, LstmMatchesTorchsOutputsAndGradients) {
  const Arrays state = read("torch_lstm.npz");
  const Arrays io = read("torch_lstm_io.npz");
  ASSERT_EQ(io.at("x").shape(), (xgrad::Shape{2, 5, 3}));
  for (const bool composed : {false, true}) {
    SCOPED_TRACE(composed ? "composed" : "fused");
    nn::LSTM<double> lstm(nn::LSTMOptions(U).return_sequences(true));
    nn::load_torch_lstm_state_dict(lstm, data_dir + "/torch_lstm.npz");
    // Keras' layout: kernel = weight_ih_l0ᵀ (gate order i, f, c, o is torch's
    // i, f, g, o), bias = bias_ih_l0 + bias_hh_l0.
    EXPECT_EQ(lstm.kernel().value(), Array<double>(xt::transpose(state.at("weight_ih_l0"))));
    EXPECT_EQ(lstm.recurrent_kernel().value(), Array<double>(xt::transpose(state.at("weight_hh_l0"))));
    EXPECT_EQ(lstm.bias().value(), Array<double>(state.at("bias_ih_l0") + state.at("bias_hh_l0")));

    V x(io.at("x"), true), h0(io.at("h0"), true), c0(io.at("c0"), true);
    const Call call = Call().initial_state({h0, c0});
    const nn::RecurrentOutput<double> r =
        composed ? lstm.forward_composed_with_state(x, call) : lstm.forward_with_state(x, call);
    ASSERT_EQ(r.states.size(), 2u);
    EXPECT_LE(max_abs_diff(r.output.value(), io.at("y")), tolerance);
    EXPECT_LE(max_abs_diff(r.states[0].value(), io.at("h_n")), tolerance);
    EXPECT_LE(max_abs_diff(r.state.value(), io.at("h_n")), tolerance);
    EXPECT_LE(max_abs_diff(r.states[1].value(), io.at("c_n")), tolerance);

    // torch's loss: sum(y * w_y) + sum(h_n * w_h) + sum(c_n * w_c).
    xgrad::add(xgrad::add(weighted_sum(r.output, io.at("w_y")), weighted_sum(r.states[0], io.at("w_h"))),
               weighted_sum(r.states[1], io.at("w_c")))
        .backward();
    EXPECT_LE(max_abs_diff(x.grad(), io.at("grad_x")), tolerance);
    EXPECT_LE(max_abs_diff(h0.grad(), io.at("grad_h0")), tolerance);
    EXPECT_LE(max_abs_diff(c0.grad(), io.at("grad_c0")), tolerance);
    EXPECT_LE(max_abs_diff(Array<double>(xt::transpose(lstm.kernel().grad())), io.at("grad_weight_ih_l0")),
              tolerance);
    EXPECT_LE(
        max_abs_diff(Array<double>(xt::transpose(lstm.recurrent_kernel().grad())), io.at("grad_weight_hh_l0")),
        tolerance);
    // bias = bias_ih + bias_hh: each gets the bias's gradient.
    EXPECT_LE(max_abs_diff(lstm.bias().grad(), io.at("grad_bias_ih_l0")), tolerance);
    EXPECT_LE(max_abs_diff(lstm.bias().grad(), io.at("grad_bias_hh_l0")), tolerance);
  }
}

// The comparisons above can fail: torch's y from zero initial states is not
// the y of the fixture's random ones, and the file's weights are not the
// layer's own initial ones.
TEST_F(TorchGated, LstmComparisonsSeeADifference) {
  const Arrays io = read("torch_lstm_io.npz");
  nn::LSTM<double> lstm(nn::LSTMOptions(U).return_sequences(true));
  const Array<double> y_fresh = lstm(V(io.at("x"))).value();
  EXPECT_GT(max_abs_diff(y_fresh, io.at("y")), 1e-3);
  nn::load_torch_lstm_state_dict(lstm, data_dir + "/torch_lstm.npz");
  EXPECT_GT(max_abs_diff(lstm(V(io.at("x"))).value(), io.at("y")), 1e-3);
}

// ------------------------------------------------------------- one-layer GRU

TEST_F(TorchGated, GruMatchesTorchsOutputsAndGradients) {
  const Arrays state = read("torch_gru.npz");
  const Arrays io = read("torch_gru_io.npz");
  for (const bool composed : {false, true}) {
    SCOPED_TRACE(composed ? "composed" : "fused");
    nn::GRU<double> gru(nn::GRUOptions(U).return_sequences(true));
    nn::load_torch_gru_state_dict(gru, data_dir + "/torch_gru.npz");
    // Keras' blocks z, r, h are torch's rows U..2U (z), 0..U (r), 2U..3U (n).
    const Array<double> w_ih = state.at("weight_ih_l0");
    const Array<double> kernel = gru.kernel().value();
    EXPECT_EQ(Array<double>(xt::view(kernel, xt::all(), xt::range(0, U))),
              Array<double>(xt::transpose(rows(w_ih, U, 2 * U))));
    EXPECT_EQ(Array<double>(xt::view(kernel, xt::all(), xt::range(U, 2 * U))),
              Array<double>(xt::transpose(rows(w_ih, 0, U))));
    EXPECT_EQ(Array<double>(xt::view(kernel, xt::all(), xt::range(2 * U, 3 * U))),
              Array<double>(xt::transpose(rows(w_ih, 2 * U, 3 * U))));
    ASSERT_EQ(gru.bias().value().shape(), (xgrad::Shape{2, 3 * U}));
    EXPECT_EQ(Array<double>(xt::view(gru.bias().value(), 1, xt::range(0, U))),
              rows(state.at("bias_hh_l0"), U, 2 * U));

    V x(io.at("x"), true), h0(io.at("h0"), true);
    const Call call = Call().initial_state({h0});
    const nn::RecurrentOutput<double> r =
        composed ? gru.forward_composed_with_state(x, call) : gru.forward_with_state(x, call);
    ASSERT_EQ(r.states.size(), 1u);
    EXPECT_LE(max_abs_diff(r.output.value(), io.at("y")), tolerance);
    EXPECT_LE(max_abs_diff(r.states[0].value(), io.at("h_n")), tolerance);

    xgrad::add(weighted_sum(r.output, io.at("w_y")), weighted_sum(r.states[0], io.at("w_h"))).backward();
    EXPECT_LE(max_abs_diff(x.grad(), io.at("grad_x")), tolerance);
    EXPECT_LE(max_abs_diff(h0.grad(), io.at("grad_h0")), tolerance);
    EXPECT_LE(max_abs_diff(gru_rows_from_columns(gru.kernel().grad()), io.at("grad_weight_ih_l0")), tolerance);
    EXPECT_LE(max_abs_diff(gru_rows_from_columns(gru.recurrent_kernel().grad()), io.at("grad_weight_hh_l0")),
              tolerance);
    const Array<double> bias_grad = gru.bias().grad();
    EXPECT_LE(max_abs_diff(gru_blocks(xt::view(bias_grad, 0, xt::all())), io.at("grad_bias_ih_l0")), tolerance);
    EXPECT_LE(max_abs_diff(gru_blocks(xt::view(bias_grad, 1, xt::all())), io.at("grad_bias_hh_l0")), tolerance);
  }
}

// Without the reorder the numbers would differ: the same weights in torch's
// block order r, z, n give another function.
TEST_F(TorchGated, GruBlockOrderMatters) {
  const Arrays state = read("torch_gru.npz");
  const Arrays io = read("torch_gru_io.npz");
  nn::GRU<double> gru(nn::GRUOptions(U).return_sequences(true));
  Array<double> bias = xt::zeros<double>({std::size_t{2}, 3 * U});
  xt::view(bias, 0) = state.at("bias_ih_l0");
  xt::view(bias, 1) = state.at("bias_hh_l0");
  gru.set_weights({xt::transpose(state.at("weight_ih_l0")), xt::transpose(state.at("weight_hh_l0")), bias});
  const Array<double> y = gru.forward(V(io.at("x")), Call().initial_state(V(io.at("h0")))).value();
  EXPECT_GT(max_abs_diff(y, io.at("y")), 1e-3);
}

// A GRU without use_bias takes a file whose biases are zeros, and computes
// what a layer with zero biases does.
TEST_F(TorchGated, GruWithoutBiasTakesZeroBiases) {
  const std::string file = edited(
      "torch_gru.npz", {{"bias_ih_l0", xt::zeros<double>({3 * U})}, {"bias_hh_l0", xt::zeros<double>({3 * U})}});
  const Arrays io = read("torch_gru_io.npz");
  nn::GRU<double> no_bias(nn::GRUOptions(U).use_bias(false));
  nn::load_torch_gru_state_dict(no_bias, file);
  EXPECT_EQ(no_bias.weights().size(), 2u);
  nn::GRU<double> with_bias{nn::GRUOptions(U)};
  nn::load_torch_gru_state_dict(with_bias, file);
  EXPECT_EQ(with_bias.bias().value(), Array<double>(xt::zeros<double>({std::size_t{2}, 3 * U})));
  EXPECT_LE(max_abs_diff(no_bias(V(io.at("x"))).value(), with_bias(V(io.at("x"))).value()), 0.0);
  // And refuses torch's real, nonzero biases.
  nn::GRU<double> refuses(nn::GRUOptions(U).use_bias(false));
  EXPECT_TRUE(throws_with<IoError>([&] { nn::load_torch_gru_state_dict(refuses, data_dir + "/torch_gru.npz"); },
                                   {"torch_gru.npz", "entry 'bias_ih_l0' is not zero", "use_bias"}));
  EXPECT_FALSE(refuses.built());
}

// ------------------------------------------------ Sequential and Bidirectional

// torch's h_n (and c_n) [2, B, U] entry k.
Array<double> entry(const Array<double>& a, std::size_t k) { return xt::view(a, k); }

TEST_F(TorchGated, TwoLayerLstmIntoSequential) {
  const Arrays io = read("torch_lstm_2layer_io.npz");
  auto lower = std::make_shared<nn::LSTM<double>>(nn::LSTMOptions(U).return_sequences(true));
  auto upper = std::make_shared<nn::LSTM<double>>(nn::LSTMOptions(U).return_sequences(true));
  nn::Sequential<double> model({lower, upper});
  nn::load_torch_recurrent_state_dict(model, data_dir + "/torch_lstm_2layer.npz");
  EXPECT_EQ(upper->input_features(), U);
  const V x(io.at("x"));
  EXPECT_LE(max_abs_diff(model(x).value(), io.at("y")), tolerance);
  const auto first = lower->forward_with_state(x);
  const auto second = upper->forward_with_state(first.output);
  EXPECT_LE(max_abs_diff(second.output.value(), io.at("y")), tolerance);
  EXPECT_LE(max_abs_diff(first.states[0].value(), entry(io.at("h_n"), 0)), tolerance);
  EXPECT_LE(max_abs_diff(second.states[0].value(), entry(io.at("h_n"), 1)), tolerance);
  EXPECT_LE(max_abs_diff(first.states[1].value(), entry(io.at("c_n"), 0)), tolerance);
  EXPECT_LE(max_abs_diff(second.states[1].value(), entry(io.at("c_n"), 1)), tolerance);
  // Layer 1 got _l1, not _l0 again.
  const Arrays state = read("torch_lstm_2layer.npz");
  EXPECT_EQ(upper->kernel().value(), Array<double>(xt::transpose(state.at("weight_ih_l1"))));
}

// Layers before the first recurrent one, a Dropout between (torch's dropout
// option) and a head after are left alone; the LSTMs get the same weights as
// in a plain stack.
TEST_F(TorchGated, SequentialSkipsLayersAroundTheRecurrentOnes) {
  auto masking = std::make_shared<nn::Masking<double>>(nn::MaskingOptions());
  auto lower = std::make_shared<nn::LSTM<double>>(nn::LSTMOptions(U).return_sequences(true));
  auto dropout = std::make_shared<nn::Dropout<double>>(nn::DropoutOptions(0.5));
  auto upper = std::make_shared<nn::LSTM<double>>(nn::LSTMOptions(U));
  auto head = std::make_shared<nn::Dense<double>>(nn::DenseOptions(1));
  nn::Sequential<double> model({masking, lower, dropout, upper, head});
  model.build({-1, -1, 3});
  const auto head_before = head->weights();
  nn::load_torch_recurrent_state_dict(model, data_dir + "/torch_lstm_2layer.npz");
  const Arrays state = read("torch_lstm_2layer.npz");
  EXPECT_EQ(lower->recurrent_kernel().value(), Array<double>(xt::transpose(state.at("weight_hh_l0"))));
  EXPECT_EQ(upper->recurrent_kernel().value(), Array<double>(xt::transpose(state.at("weight_hh_l1"))));
  EXPECT_EQ(upper->bias().value(), Array<double>(state.at("bias_ih_l1") + state.at("bias_hh_l1")));
  EXPECT_EQ(head->weights(), head_before);
}

void expect_bidirectional_matches(const std::string& name, nn::Sequential<double>& model,
                                  const std::shared_ptr<nn::Bidirectional<double>>& bi, bool lstm) {
  const Arrays io = read(name + "_io.npz");
  nn::load_torch_recurrent_state_dict(model, data_dir + "/" + name + ".npz");
  const V x(io.at("x"));
  ASSERT_EQ(io.at("y").shape(), (xgrad::Shape{2, 5, 2 * U}));
  EXPECT_LE(max_abs_diff(model(x).value(), io.at("y")), tolerance);
  const auto r = bi->forward_with_state(x);
  EXPECT_LE(max_abs_diff(r.output.value(), io.at("y")), tolerance);
  EXPECT_LE(max_abs_diff(r.forward_states[0].value(), entry(io.at("h_n"), 0)), tolerance);
  EXPECT_LE(max_abs_diff(r.backward_states[0].value(), entry(io.at("h_n"), 1)), tolerance);
  if (lstm) {
    EXPECT_LE(max_abs_diff(r.forward_states[1].value(), entry(io.at("c_n"), 0)), tolerance);
    EXPECT_LE(max_abs_diff(r.backward_states[1].value(), entry(io.at("c_n"), 1)), tolerance);
  }
  // _reverse went to the backward layer.
  const Arrays state = read(name + ".npz");
  const Array<double> reverse = state.at("weight_hh_l0_reverse");
  const Array<double> backward = bi->backward_layer()->recurrent_kernel().value();
  if (lstm) {
    EXPECT_EQ(backward, Array<double>(xt::transpose(reverse)));
  } else {
    EXPECT_EQ(gru_rows_from_columns(backward), reverse);
  }
}

TEST_F(TorchGated, BidirectionalGruIntoSequential) {
  auto bi = std::make_shared<nn::Bidirectional<double>>(nn::GRUOptions(U).return_sequences(true));
  nn::Sequential<double> model({bi});
  expect_bidirectional_matches("torch_gru_bidirectional", model, bi, false);
}

TEST_F(TorchGated, BidirectionalLstmIntoSequentialBuiltFirst) {
  auto bi = std::make_shared<nn::Bidirectional<double>>(nn::LSTMOptions(U).return_sequences(true));
  nn::Sequential<double> model({bi});
  model.build({-1, -1, 3});
  expect_bidirectional_matches("torch_lstm_bidirectional", model, bi, true);
}

// ------------------------------------------------------------------- refusals

TEST_F(TorchGated, WrongShapeNamesFileEntryAndBothShapesAndChangesNothing) {
  xgrad::manual_seed(3);
  nn::LSTM<double> lstm{nn::LSTMOptions(U)};
  lstm.build({-1, -1, 3});
  const auto before = lstm.weights();
  const std::string file = edited("torch_lstm.npz", {{"weight_hh_l0", xt::zeros<double>({16, 5})}});
  EXPECT_TRUE(throws_with<IoError>([&] { nn::load_torch_lstm_state_dict(lstm, file); },
                                   {"load_torch_lstm_state_dict", file, "entry 'weight_hh_l0' has shape (16, 5)",
                                    "expected (16, 4)", "4 units (4 gates)"}));
  EXPECT_EQ(lstm.weights(), before);
  // A GRU's state dict is not an LSTM's: 3 gates of rows, not 4.
  EXPECT_TRUE(throws_with<IoError>(
      [&] { nn::load_torch_lstm_state_dict(lstm, data_dir + "/torch_gru.npz"); },
      {"torch_gru.npz", "entry 'weight_ih_l0' has shape (12, 3), expected (16, 3)", "3 input features"}));
  EXPECT_EQ(lstm.weights(), before);
  // The dtype must be the layer's.
  nn::LSTM<float> in_float{nn::LSTMOptions(U)};
  EXPECT_TRUE(throws_with<IoError>([&] { nn::load_torch_lstm_state_dict(in_float, data_dir + "/torch_lstm.npz"); },
                                   {"entry 'weight_ih_l0' has dtype float64, the layer is float32"}));
  EXPECT_FALSE(in_float.built());
}

TEST_F(TorchGated, MissingEntriesAreNamed) {
  nn::GRU<double> gru{nn::GRUOptions(U)};
  EXPECT_TRUE(throws_with<IoError>(
      [&] {
        nn::load_torch_gru_state_dict(gru, edited("torch_gru.npz", {{"weight_hh_l0", std::nullopt}}));
      },
      {"load_torch_gru_state_dict", "torch_gru.npz", "no entry 'weight_hh_l0'"}));
  EXPECT_TRUE(throws_with<IoError>(
      [&] {
        nn::load_torch_gru_state_dict(gru, edited("torch_gru.npz", {{"bias_ih_l0", std::nullopt}}));
      },
      {"entry 'bias_hh_l0' without 'bias_ih_l0'", "nn.GRU has both biases or neither"}));
  EXPECT_FALSE(gru.built());
}

TEST_F(TorchGated, GruWithResetAfterFalseIsRefused) {
  nn::GRU<double> gru(nn::GRUOptions(U).reset_after(false).name("before"));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { nn::load_torch_gru_state_dict(gru, data_dir + "/torch_gru.npz"); },
      {"load_torch_gru_state_dict", "GRU 'before' has reset_after false", "reset_after=True"}));
  EXPECT_FALSE(gru.built());
  // In a model too, before the file is read.
  nn::Sequential<double> model({std::make_shared<nn::GRU<double>>(nn::GRUOptions(U).reset_after(false))});
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { nn::load_torch_recurrent_state_dict(model, path("not_there.npz")); },
      {"model layer 0 'gru'", "reset_after false"}));
}

TEST_F(TorchGated, ActivationsOtherThanTorchsAreRefused) {
  nn::LSTM<double> lstm(nn::LSTMOptions(U).recurrent_activation("hard_sigmoid"));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { nn::load_torch_lstm_state_dict(lstm, data_dir + "/torch_lstm.npz"); },
      {"LSTM 'lstm' has activation 'tanh' and recurrent_activation 'hard_sigmoid'", "nn.LSTM"}));
  nn::GRU<double> gru(nn::GRUOptions(U).activation("relu"));
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { nn::load_torch_gru_state_dict(gru, data_dir + "/torch_gru.npz"); }, {"activation 'relu'", "nn.GRU"}));
}

TEST_F(TorchGated, OneLayerFunctionsPointToTheSequentialImport) {
  nn::LSTM<double> lstm{nn::LSTMOptions(U)};
  EXPECT_TRUE(
      throws_with<IoError>([&] { nn::load_torch_lstm_state_dict(lstm, data_dir + "/torch_lstm_2layer.npz"); },
                           {"entry 'weight_ih_l1' is not a weight of a one-layer nn.LSTM", "num_layers > 1",
                            "load_torch_recurrent_state_dict"}));
  nn::GRU<double> gru{nn::GRUOptions(U)};
  EXPECT_TRUE(throws_with<IoError>(
      [&] { nn::load_torch_gru_state_dict(gru, data_dir + "/torch_gru_bidirectional.npz"); },
      {"entry 'weight_ih_l0_reverse'", "nn.GRU is bidirectional", "load_torch_recurrent_state_dict"}));
  EXPECT_FALSE(lstm.built() || gru.built());
}

std::shared_ptr<nn::LSTM<double>> lstm_layer(bool sequences = true) {
  return std::make_shared<nn::LSTM<double>>(nn::LSTMOptions(U).return_sequences(sequences));
}

TEST_F(TorchGated, SequentialLayoutMismatchesAreNamed) {
  {  // A 2-layer file into one layer.
    nn::Sequential<double> model({lstm_layer()});
    EXPECT_TRUE(throws_with<IoError>(
        [&] { nn::load_torch_recurrent_state_dict(model, data_dir + "/torch_lstm_2layer.npz"); },
        {"entry 'weight_ih_l1' is not a weight of a 1-layer nn.LSTM",
         "num_layers > 1, the model 1 recurrent layer"}));
  }
  {  // A 1-layer file into two layers.
    nn::Sequential<double> model({lstm_layer(), lstm_layer()});
    EXPECT_TRUE(
        throws_with<IoError>([&] { nn::load_torch_recurrent_state_dict(model, data_dir + "/torch_lstm.npz"); },
                             {"no entry 'weight_ih_l1' (model layer 1 'lstm_1')"}));
  }
  {  // A bidirectional file into plain layers, and the other way round.
    nn::Sequential<double> plain({lstm_layer()});
    EXPECT_TRUE(throws_with<IoError>(
        [&] { nn::load_torch_recurrent_state_dict(plain, data_dir + "/torch_lstm_bidirectional.npz"); },
        {"'weight_ih_l0_reverse'",
         "nn.LSTM is bidirectional; the model's recurrent layers are not Bidirectional"}));
    nn::Sequential<double> bi({std::make_shared<nn::Bidirectional<double>>(nn::LSTMOptions(U))});
    EXPECT_TRUE(
        throws_with<IoError>([&] { nn::load_torch_recurrent_state_dict(bi, data_dir + "/torch_lstm.npz"); },
                             {"no entry 'weight_ih_l0_reverse' (model layer 0 'bidirectional', backward_layer)"}));
  }
  {  // GRU layers and an LSTM file: the shapes say so.
    nn::Sequential<double> model({std::make_shared<nn::Bidirectional<double>>(nn::GRUOptions(U))});
    EXPECT_TRUE(throws_with<IoError>(
        [&] { nn::load_torch_recurrent_state_dict(model, data_dir + "/torch_lstm_bidirectional.npz"); },
        {"entry 'weight_ih_l0' has shape (16, 3), expected (12, 3)",
         "(model layer 0 'bidirectional', forward_layer)"}));
  }
}

TEST_F(TorchGated, SequentialThatTorchCannotBeIsRefused) {
  auto refused = [&](std::initializer_list<nn::Sequential<double>::AnyLayer> layers,
                     std::initializer_list<std::string> fragments) {
    nn::Sequential<double> model(layers);
    return throws_with<std::invalid_argument>(
        [&] { nn::load_torch_recurrent_state_dict(model, data_dir + "/torch_lstm_2layer.npz"); }, fragments);
  };
  EXPECT_TRUE(refused({std::make_shared<nn::Dense<double>>(nn::DenseOptions(4))}, {"no recurrent layer"}));
  EXPECT_TRUE(
      refused({lstm_layer(), std::make_shared<nn::GRU<double>>(nn::GRUOptions(U))},
              {"model layer 1 'gru' holds GRU 'gru' but model layer 0 'lstm' holds LSTM 'lstm'", "one kind"}));
  EXPECT_TRUE(refused({lstm_layer(), std::make_shared<nn::Bidirectional<double>>(nn::LSTMOptions(U))},
                      {"model layer 1 'bidirectional' is Bidirectional but model layer 0 'lstm' is not"}));
  EXPECT_TRUE(refused({lstm_layer(false), lstm_layer()}, {"model layer 0 'lstm' must have return_sequences"}));
  EXPECT_TRUE(refused({lstm_layer(), std::make_shared<nn::Dense<double>>(nn::DenseOptions(4)), lstm_layer()},
                      {"model layer 1 'dense' stands between two recurrent layers"}));
  nn::BidirectionalOptions sum;
  sum.merge_mode(std::string("sum"));
  EXPECT_TRUE(refused({std::make_shared<nn::Bidirectional<double>>(nn::LSTMOptions(U).return_sequences(true), sum),
                       std::make_shared<nn::Bidirectional<double>>(nn::LSTMOptions(U))},
                      {"model layer 0 'bidirectional' has merge_mode 'sum'", "concat"}));
}

// Every entry of every layer is checked before any layer changes: a bad
// entry of layer 1 leaves layer 0 as it was.
TEST_F(TorchGated, SequentialImportIsAllOrNothing) {
  xgrad::manual_seed(5);
  auto lower = lstm_layer();
  auto upper = lstm_layer();
  nn::Sequential<double> model({lower, upper});
  model.build({-1, -1, 3});
  const auto lower_before = lower->weights();
  const auto upper_before = upper->weights();
  const std::string file = edited("torch_lstm_2layer.npz", {{"bias_hh_l1", xt::zeros<double>({15})}});
  EXPECT_TRUE(
      throws_with<IoError>([&] { nn::load_torch_recurrent_state_dict(model, file); },
                           {"entry 'bias_hh_l1' has shape (15,), expected (16,)", "(model layer 1 'lstm_1')"}));
  EXPECT_EQ(lower->weights(), lower_before);
  EXPECT_EQ(upper->weights(), upper_before);
  // Layer 1 of an unbuilt model must read layer 0's U features.
  nn::Sequential<double> unbuilt({lstm_layer(), lstm_layer()});
  const std::string wide = edited("torch_lstm_2layer.npz", {{"weight_ih_l1", xt::zeros<double>({16, 5})}});
  EXPECT_TRUE(
      throws_with<IoError>([&] { nn::load_torch_recurrent_state_dict(unbuilt, wide); },
                           {"entry 'weight_ih_l1' has shape (16, 5), expected (16, 4)", "4 input features"}));
  EXPECT_FALSE(unbuilt.at<nn::LSTM<double>>(0)->built());
}

}  // namespace

namespace {

// Found by fuzz/fuzz_torch_weights.cpp: a bidirectional nn.LSTM whose
// bias_ih_l0_reverse holds 5.7e57 imports (a finite weight is a weight),
// and the layer then ran xsimd's exp on 5.7e57, undefined behaviour
// (UBSan: float-cast-overflow). Its gates saturate instead: h stays finite,
// in [-1, 1].
TEST_F(TorchGated, HugeBiasSaturatesTheGates) {
  auto bi = std::make_shared<nn::Bidirectional<double>>(nn::LSTMOptions(U).return_sequences(true));
  nn::Sequential<double> model({bi});
  nn::load_torch_recurrent_state_dict(model, data_dir + "/fuzz_torch_weights_lstm_bias_6e57.npz");
  const Array<double> y = model(V(xt::ones<double>({2, 5, 3}))).value();
  ASSERT_EQ(y.shape(), (xgrad::Shape{2, 5, 2 * U}));
  for (const double v : y) {
    ASSERT_TRUE(std::isfinite(v));
    ASSERT_LE(std::abs(v), 1.0);
  }
}

}  // namespace
