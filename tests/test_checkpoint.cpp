// Checkpoints: save/load of a module's named parameters as .npz, the files
// Keras users write with NumPy, and every way a load can go wrong.

#include <gtest/gtest.h>

#include <filesystem>
#include <initializer_list>
#include <memory>
#include <string>

#include <xtensor/xmath.hpp>

#include "test_helpers.hpp"
#include "xgrad/autograd/ops.hpp"
#include "xgrad/nn/checkpoint.hpp"
#include "xgrad/nn/dense.hpp"
#include "xgrad/nn/sequential.hpp"
#include "xgrad/nn/simple_rnn.hpp"

namespace {

namespace fs = std::filesystem;
using xgrad::Array;
using xgrad::IoError;
using xgrad::Variable;
using xgrad::nn::Dense;
using xgrad::nn::DenseOptions;
using xgrad::nn::Sequential;
using xgrad::nn::SimpleRNN;
using xgrad::nn::SimpleRNNOptions;
using xgrad::test::slurp;
using xgrad::test::spit;
using xgrad::test::throws_with;

const std::string data_dir = XGRAD_TEST_DATA_DIR;

// A fresh scratch directory per test.
class CheckpointTest : public xgrad::test::ScratchDirTest {
 protected:
  CheckpointTest() : ScratchDirTest("xgrad_checkpoint_") {}
};

std::unique_ptr<Sequential<float>> make_model(std::uint64_t seed) {
  xgrad::manual_seed(seed);
  auto model = std::make_unique<Sequential<float>>();
  model->add(std::make_shared<SimpleRNN<float>>(SimpleRNNOptions(3).return_sequences(true)));
  model->add(std::make_shared<SimpleRNN<float>>(SimpleRNNOptions(4)));
  model->add(std::make_shared<Dense<float>>(DenseOptions(2)));
  model->forward(Variable<float>(xgrad::zeros<float>({1, 2, 5})));  // builds every layer
  return model;
}

std::vector<Array<float>> values_of(const xgrad::nn::Module<float>& module) {
  std::vector<Array<float>> out;
  for (const auto& p : module.parameters()) out.push_back(p.value());
  return out;
}

// In [5] of the seed notebook, and the output it gives in In [9].
const Array<float> notebook_output = {{{-0.98134404f, 0.94781566f},
                                       {-0.9997276f, 0.999903f},
                                       {-0.99999744f, 0.9999977f}}};
const Array<float> x_seq = {{{1.f, 1.f, 1.f, 1.f, 1.f}, {2.f, 2.f, 2.f, 2.f, 2.f}, {3.f, 3.f, 3.f, 3.f, 3.f}}};

TEST_F(CheckpointTest, RoundTripRestoresEveryParameter) {
  auto saved = make_model(1);
  xgrad::nn::save(*saved, path("model.npz"));
  auto restored = make_model(2);
  ASSERT_NE(values_of(*saved)[0], values_of(*restored)[0]);
  xgrad::nn::load(*restored, path("model.npz"));
  const auto a = values_of(*saved), b = values_of(*restored);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << "parameter " << i;
}

TEST_F(CheckpointTest, EntriesAreNamedByParameterPath) {
  auto model = make_model(1);
  xgrad::nn::save(*model, path("model.npz"));
  const auto entries = xgrad::read_npz(path("model.npz"));
  std::vector<std::string> names;
  for (const auto& e : entries) names.push_back(e.first);
  const std::vector<std::string> expected{
      "simple_rnn/kernel",   "simple_rnn/recurrent_kernel",   "simple_rnn/bias",
      "simple_rnn_1/kernel", "simple_rnn_1/recurrent_kernel", "simple_rnn_1/bias",
      "dense/kernel",        "dense/bias"};
  EXPECT_EQ(names, expected);
  EXPECT_EQ(entries[0].second.dtype, "float32");
  EXPECT_EQ(entries[0].second.shape, (xgrad::Shape{5, 3}));
}

// The notebook's SimpleRNN(2) (return_sequences) on x_seq, with the weights loaded from `file`.
Array<float> notebook_rnn_output(const std::string& file) {
  SimpleRNN<float> rnn(SimpleRNNOptions(2).return_sequences(true));
  rnn.build({-1, -1, 5});
  xgrad::nn::load(rnn, file);
  return rnn(Variable<float>(x_seq)).value();
}

// Fixture: tests/data/make_checkpoint_fixtures.py, numpy.savez(path, *layer.get_weights()).
TEST_F(CheckpointTest, LoadsKerasGetWeightsSavedByNumpy) {
  const Array<float> out = notebook_rnn_output(data_dir + "/keras_get_weights.npz");
  EXPECT_LE(xt::amax(xt::abs(out - notebook_output))(), 1e-6f);
}

// Fixture: tests/data/make_checkpoint_fixtures.py, entries named kernel, recurrent_kernel, bias.
TEST_F(CheckpointTest, LoadsNamedWeightsSavedByNumpy) {
  const Array<float> out = notebook_rnn_output(data_dir + "/keras_named_weights.npz");
  EXPECT_LE(xt::amax(xt::abs(out - notebook_output))(), 1e-6f);
}

// Expects load to throw IoError whose message has every one of `parts`, and
// the module's weights to be what they were.
void expect_failed_load(xgrad::nn::Module<float>& module, const std::string& file,
                        std::initializer_list<std::string> parts) {
  const auto before = values_of(module);
  EXPECT_TRUE(throws_with<IoError>([&] { xgrad::nn::load(module, file); }, parts))
      << "load of " << file;
  const auto after = values_of(module);
  for (std::size_t i = 0; i < before.size(); ++i) EXPECT_EQ(before[i], after[i]) << "parameter " << i;
}

TEST_F(CheckpointTest, MissingEntryThrowsAndChangesNothing) {
  auto model = make_model(1);
  auto entries = xgrad::read_npz([&] { xgrad::nn::save(*model, path("m.npz")); return path("m.npz"); }());
  entries.erase(entries.begin() + 4);  // simple_rnn_1/recurrent_kernel
  xgrad::write_npz(path("missing.npz"), entries);
  auto other = make_model(2);
  expect_failed_load(*other, path("missing.npz"), {"missing.npz", "simple_rnn_1/recurrent_kernel", "(4, 4)"});
}

TEST_F(CheckpointTest, ExtraEntryThrows) {
  auto model = make_model(1);
  xgrad::nn::save(*model, path("m.npz"));
  auto entries = xgrad::read_npz(path("m.npz"));
  entries.emplace_back("dense_7/kernel", entries.back().second);
  xgrad::write_npz(path("extra.npz"), entries);
  auto other = make_model(2);
  expect_failed_load(*other, path("extra.npz"), {"extra.npz", "dense_7/kernel"});
}

TEST_F(CheckpointTest, WrongShapeThrowsNamingBothShapes) {
  auto model = make_model(1);
  xgrad::nn::save(*model, path("m.npz"));
  auto entries = xgrad::read_npz(path("m.npz"));
  entries[6].second = xgrad::NpyArray::from<float>(xgrad::zeros<float>({3, 2}));  // dense/kernel is (4, 2)
  xgrad::write_npz(path("shape.npz"), entries);
  auto other = make_model(2);
  expect_failed_load(*other, path("shape.npz"), {"shape.npz", "dense/kernel", "(3, 2)", "(4, 2)"});
}

TEST_F(CheckpointTest, WrongDtypeThrows) {
  auto model = make_model(1);
  xgrad::nn::save(*model, path("m.npz"));
  auto entries = xgrad::read_npz(path("m.npz"));
  entries[7].second = xgrad::NpyArray::from<double>(xgrad::zeros<double>({2}));
  xgrad::write_npz(path("dtype.npz"), entries);
  auto other = make_model(2);
  expect_failed_load(*other, path("dtype.npz"), {"dtype.npz", "dense/bias", "float64", "float32"});
}

TEST_F(CheckpointTest, WrongNumberOfPositionalArraysThrows) {
  auto model = make_model(2);  // 8 parameters; the Keras file has 3 arrays
  expect_failed_load(*model, data_dir + "/keras_get_weights.npz", {"keras_get_weights.npz", "3", "8"});
}

// Issue 11's zip bomb through load: a deflated entry of the right name that
// declares far more than the parameter is refused by the zip's directory,
// before any of it is inflated.
TEST_F(CheckpointTest, EntryLargerThanTheModelIsRefusedBeforeInflating) {
  auto model = make_model(1);
  xgrad::write_npz<float>(path("big.npz"), {{"dense/bias", xgrad::zeros<float>({1 << 22})}}, /*compressed=*/true);
  ASSERT_LT(fs::file_size(path("big.npz")), 64u * 1024);
  const auto before = values_of(*model);
  EXPECT_TRUE(throws_with<IoError>([&] { xgrad::nn::load(*model, path("big.npz")); },
                                   {path("big.npz"), "the entries up to 'dense/bias' inflate to more than"}));
  EXPECT_EQ(values_of(*model), before);
}

TEST_F(CheckpointTest, TruncatedAndCorruptFilesThrow) {
  auto model = make_model(1);
  xgrad::nn::save(*model, path("m.npz"));
  const std::string bytes = slurp(path("m.npz"));
  auto other = make_model(2);
  for (std::size_t cut : {std::size_t(0), std::size_t(10), bytes.size() / 2, bytes.size() - 1}) {
    spit(path("cut.npz"), bytes.substr(0, cut));
    expect_failed_load(*other, path("cut.npz"), {"cut.npz"});
  }
  std::string flipped = bytes;
  flipped[bytes.size() / 3] ^= 0x5A;
  spit(path("flip.npz"), flipped);
  expect_failed_load(*other, path("flip.npz"), {"flip.npz"});
  expect_failed_load(*other, path("does_not_exist.npz"), {"does_not_exist.npz"});
}

TEST_F(CheckpointTest, FailedSaveKeepsThePreviousCheckpoint) {
  auto model = make_model(1);
  xgrad::nn::save(*model, path("m.npz"));
  const auto before = fs::file_size(path("m.npz"));
  // A save whose target cannot be replaced (a directory stands in the way).
  fs::create_directories(path("blocked.npz") + "/inner");
  EXPECT_THROW(xgrad::nn::save(*model, path("blocked.npz")), IoError);
  EXPECT_THROW(xgrad::nn::save(*model, path("no_such_dir/m.npz")), IoError);
  EXPECT_EQ(fs::file_size(path("m.npz")), before);
  for (const auto& entry : fs::directory_iterator(dir_))
    EXPECT_EQ(entry.path().string().find(".tmp"), std::string::npos) << entry.path();
}

TEST_F(CheckpointTest, UnbuiltModuleIsRefused) {
  SimpleRNN<float> rnn(SimpleRNNOptions(2));
  EXPECT_THROW(xgrad::nn::save(rnn, path("m.npz")), IoError);
  EXPECT_THROW(xgrad::nn::load(rnn, data_dir + "/keras_get_weights.npz"), IoError);
  EXPECT_FALSE(fs::exists(path("m.npz")));
}

TEST_F(CheckpointTest, Float64ModulesRoundTrip) {
  xgrad::manual_seed(5);
  SimpleRNN<double> a(SimpleRNNOptions(3));
  a.build({-1, -1, 2});
  xgrad::nn::save(a, path("m64.npz"));
  SimpleRNN<double> b(SimpleRNNOptions(3));
  b.build({-1, -1, 2});
  xgrad::nn::load(b, path("m64.npz"));
  EXPECT_EQ(a.kernel().value(), b.kernel().value());
  EXPECT_EQ(a.recurrent_kernel().value(), b.recurrent_kernel().value());
  EXPECT_EQ(xgrad::read_npz(path("m64.npz"))[0].second.dtype, "float64");
}

}  // namespace
