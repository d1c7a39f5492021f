// Keras 3 .weights.h5 files (save_keras_weights / load_keras_weights) and
// PyTorch nn.RNN state dicts (load_torch_rnn_state_dict, and through a
// Sequential with load_torch_recurrent_state_dict): the fixtures Keras'
// layout and torch itself produce, round trips, the exact HDF5 layout xgrad
// writes, and every way a load or a save can go wrong.
//
// Fixtures: tests/data/make_keras_h5_fixtures.py (h5py, Keras' layout) and
// tests/data/make_torch_rnn_fixtures.py (torch.nn.RNN).

#include <gtest/gtest.h>
#include <hdf5.h>
#include <sys/resource.h>

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <xtensor/xmath.hpp>

#include "test_helpers.hpp"
#include "xgrad/nn/convolution.hpp"
#include "xgrad/nn/dense.hpp"
#include "xgrad/nn/embedding.hpp"
#include "xgrad/nn/keras_weights.hpp"
#include "xgrad/nn/normalization.hpp"
#include "xgrad/nn/pooling.hpp"
#include "xgrad/nn/sequential.hpp"
#include "xgrad/nn/simple_rnn.hpp"
#include "xgrad/nn/torch_weights.hpp"
#include "xgrad/tensor/npy.hpp"

namespace {

namespace fs = std::filesystem;
using xgrad::Array;
using xgrad::IoError;
using xgrad::Variable;
using xgrad::nn::Dense;
using xgrad::nn::DenseOptions;
using xgrad::nn::Embedding;
using xgrad::nn::EmbeddingOptions;
using xgrad::nn::KerasLoadOptions;
using xgrad::nn::Module;
using xgrad::nn::Sequential;
using xgrad::nn::SimpleRNN;
using xgrad::nn::SimpleRNNOptions;
using xgrad::test::throws_with;

const std::string data_dir = XGRAD_TEST_DATA_DIR;

// A fresh scratch directory per test.
class KerasWeightsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("xgrad_keras_weights_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  // A copy of a fixture, to change.
  std::string copy_of(const std::string& fixture) const {
    const std::string to = path(fixture);
    fs::copy_file(data_dir + "/" + fixture, to, fs::copy_options::overwrite_existing);
    return to;
  }
  fs::path dir_;
};

std::string read_bytes(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& file, const std::string& bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << bytes;
}

template <typename T>
std::vector<Array<T>> values_of(const Module<T>& module) {
  std::vector<Array<T>> out;
  for (const auto& p : module.parameters()) out.push_back(p.value());
  return out;
}

// The fixtures' values (make_keras_h5_fixtures.py): ((i + start) % 17 - 8) / 16.
Array<float> fixed(const xgrad::Shape& shape, int start) {
  Array<float> a = Array<float>::from_shape(shape);
  for (std::size_t i = 0; i < a.size(); ++i)
    a.data()[i] = static_cast<float>(((static_cast<int>(i) + start) % 17 - 8) / 16.0);
  return a;
}

// The seed notebook: In [5] holds a SimpleRNN(2, return_sequences=True) on 5
// features, In [9] its output on this input.
const Array<float> notebook_x = {
    {{1.f, 1.f, 1.f, 1.f, 1.f}, {2.f, 2.f, 2.f, 2.f, 2.f}, {3.f, 3.f, 3.f, 3.f, 3.f}}};
const Array<float> notebook_in9 = {
    {{-0.98134404f, 0.94781566f}, {-0.9997276f, 0.999903f}, {-0.99999744f, 0.9999977f}}};

// SimpleRNN(3, return_sequences) -> SimpleRNN(4) -> Dense(2) on 5 features,
// the architecture of keras_rnn_rnn_dense.weights.h5.
template <typename T = float>
std::unique_ptr<Sequential<T>> make_stack(std::uint64_t seed, bool build = true) {
  xgrad::manual_seed(seed);
  auto model = std::make_unique<Sequential<T>>();
  model->add(std::make_shared<SimpleRNN<T>>(SimpleRNNOptions(3).return_sequences(true)));
  model->add(std::make_shared<SimpleRNN<T>>(SimpleRNNOptions(4)));
  model->add(std::make_shared<Dense<T>>(DenseOptions(2)));
  if (build) model->build({-1, -1, 5});
  return model;
}

// ------------------------------------------------------------ HDF5 helpers for the tests

// Every object below the root: path -> "group", or "<dtype> <shape>" for a
// dataset; a group's "name" attribute, if any, as " name=<value>".
class H5Listing {
 public:
  explicit H5Listing(const std::string& file) {
    file_ = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file_ < 0) throw std::runtime_error("cannot open " + file);
    walk("/");
    H5Fclose(file_);
  }
  std::map<std::string, std::string> entries;

 private:
  void walk(const std::string& group_path) {
    std::vector<std::string> names;
    hid_t group = H5Gopen2(file_, group_path.c_str(), H5P_DEFAULT);
    hsize_t index = 0;
    H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, &index,
               [](hid_t, const char* name, const H5L_info_t*, void* out) -> herr_t {
                 static_cast<std::vector<std::string>*>(out)->push_back(name);
                 return 0;
               },
               &names);
    H5Gclose(group);
    for (const auto& name : names) {
      const std::string child = (group_path == "/" ? "" : group_path) + "/" + name;
      hid_t object = H5Oopen(file_, child.c_str(), H5P_DEFAULT);
      const H5I_type_t kind = H5Iget_type(object);
      H5Oclose(object);
      if (kind == H5I_GROUP) {
        entries[child] = "group" + name_attribute(child);
        walk(child);
      } else {
        entries[child] = describe_dataset(child);
      }
    }
  }

  std::string name_attribute(const std::string& group_path) const {
    if (H5Aexists_by_name(file_, group_path.c_str(), "name", H5P_DEFAULT) <= 0) return "";
    hid_t attribute = H5Aopen_by_name(file_, group_path.c_str(), "name", H5P_DEFAULT, H5P_DEFAULT);
    hid_t type = H5Aget_type(attribute);
    std::string out = " name=";
    // h5py's str attribute: variable-length UTF-8.
    if (H5Tis_variable_str(type) > 0 && H5Tget_cset(type) == H5T_CSET_UTF8) {
      char* text = nullptr;
      H5Aread(attribute, type, &text);
      out += text;
      H5free_memory(text);
    } else {
      out += "<not a variable-length UTF-8 string>";
    }
    H5Tclose(type);
    H5Aclose(attribute);
    return out;
  }

  std::string describe_dataset(const std::string& dataset_path) const {
    hid_t dataset = H5Dopen2(file_, dataset_path.c_str(), H5P_DEFAULT);
    hid_t type = H5Dget_type(dataset);
    hid_t space = H5Dget_space(dataset);
    std::string dtype = H5Tequal(type, H5T_IEEE_F32LE) > 0   ? "f32le"
                        : H5Tequal(type, H5T_IEEE_F64LE) > 0 ? "f64le"
                                                             : "other";
    std::vector<hsize_t> dims(static_cast<std::size_t>(std::max(0, H5Sget_simple_extent_ndims(space))));
    H5Sget_simple_extent_dims(space, dims.data(), nullptr);
    H5Sclose(space);
    H5Tclose(type);
    H5Dclose(dataset);
    return dtype + " " + xgrad::shape_to_string(dims);
  }

  hid_t file_ = -1;
};

// Small edits of an HDF5 file, to make the mismatches a load must refuse.
class H5Edit {
 public:
  explicit H5Edit(const std::string& file) : file_(H5Fopen(file.c_str(), H5F_ACC_RDWR, H5P_DEFAULT)) {
    if (file_ < 0) throw std::runtime_error("cannot open " + file);
  }
  ~H5Edit() { H5Fclose(file_); }
  H5Edit(const H5Edit&) = delete;
  H5Edit& operator=(const H5Edit&) = delete;

  void remove(const std::string& link) { ASSERT_GE(H5Ldelete(file_, link.c_str(), H5P_DEFAULT), 0) << link; }

  // A dataset of zeros of `type` (H5T_IEEE_F32LE, H5T_STD_I64LE ...), making
  // the groups on the way.
  void add_dataset(const std::string& dataset_path, const std::vector<hsize_t>& dims, hid_t type) {
    hid_t links = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(links, 1);
    hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
    hid_t dataset = H5Dcreate2(file_, dataset_path.c_str(), type, space, links, H5P_DEFAULT, H5P_DEFAULT);
    EXPECT_GE(dataset, 0) << dataset_path;
    H5Dclose(dataset);
    H5Sclose(space);
    H5Pclose(links);
  }

  // A chunked dataset of `dims` with nothing written: HDF5 stores no chunk,
  // so a few bytes of file declare any size.
  void add_unwritten_dataset(const std::string& dataset_path, const std::vector<hsize_t>& dims, hid_t type) {
    hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
    hid_t creation = H5Pcreate(H5P_DATASET_CREATE);
    std::vector<hsize_t> chunk(dims.size(), 1);
    H5Pset_chunk(creation, static_cast<int>(chunk.size()), chunk.data());
    hid_t dataset = H5Dcreate2(file_, dataset_path.c_str(), type, space, H5P_DEFAULT, creation, H5P_DEFAULT);
    EXPECT_GE(dataset, 0) << dataset_path;
    H5Dclose(dataset);
    H5Pclose(creation);
    H5Sclose(space);
  }

  void add_group(const std::string& group_path) {
    hid_t links = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(links, 1);
    hid_t group = H5Gcreate2(file_, group_path.c_str(), links, H5P_DEFAULT, H5P_DEFAULT);
    EXPECT_GE(group, 0) << group_path;
    H5Gclose(group);
    H5Pclose(links);
  }

  void add_soft_link(const std::string& target, const std::string& link) {
    ASSERT_GE(H5Lcreate_soft(target.c_str(), file_, link.c_str(), H5P_DEFAULT, H5P_DEFAULT), 0);
  }

 private:
  hid_t file_;
};

// ------------------------------------------------------------ loading Keras' files

// Fixture (a): the seed notebook's In [5] weights in Keras' layout, run on
// In [9]'s input, gives In [9]'s output.
TEST_F(KerasWeightsTest, NotebookSimpleRnnReproducesIn9) {
  Sequential<float> model;
  auto rnn = model.add(std::make_shared<SimpleRNN<float>>(SimpleRNNOptions(2).return_sequences(true)));
  model.build({-1, -1, 5});
  xgrad::nn::load_keras_weights(model, data_dir + "/keras_simple_rnn_notebook.weights.h5");
  const Array<float> out = model(Variable<float>(notebook_x)).value();
  ASSERT_EQ(out.shape(), notebook_in9.shape());
  EXPECT_LE(xt::amax(xt::abs(out - notebook_in9))(), 1e-6f);
  const Array<float> expected_kernel = {{-0.8766506f, 0.9172727f}, {-0.37667286f, 0.6936799f},
                                        {-0.44308627f, -0.71843755f}, {-0.627252f, 0.8343315f},
                                        {-0.00902045f, 0.08299422f}};
  EXPECT_EQ(rnn->kernel().value(), expected_kernel);
}

// An unbuilt model is built from the file's shapes (F from the kernel).
TEST_F(KerasWeightsTest, UnbuiltModelIsBuiltFromTheFile) {
  Sequential<float> model;
  auto rnn = model.add(std::make_shared<SimpleRNN<float>>(SimpleRNNOptions(2).return_sequences(true)));
  ASSERT_FALSE(rnn->built());
  xgrad::nn::load_keras_weights(model, data_dir + "/keras_simple_rnn_notebook.weights.h5");
  ASSERT_TRUE(rnn->built());
  EXPECT_EQ(rnn->input_features(), 5u);
  const Array<float> out = model(Variable<float>(notebook_x)).value();
  EXPECT_LE(xt::amax(xt::abs(out - notebook_in9))(), 1e-6f);
}

// Fixture (b): the newest Keras layout ("name" attributes), two SimpleRNNs
// told apart only by their container names, and optimizer state at the top.
TEST_F(KerasWeightsTest, LoadsRnnRnnDenseStackIntoTheRightLayers) {
  auto model = make_stack(1);
  xgrad::nn::load_keras_weights(*model, data_dir + "/keras_rnn_rnn_dense.weights.h5");
  const auto rnn = model->at<SimpleRNN<float>>(0);
  const auto rnn_1 = model->at<SimpleRNN<float>>(1);
  const auto dense = model->at<Dense<float>>(2);
  EXPECT_EQ(rnn->kernel().value(), fixed({5, 3}, 10));
  EXPECT_EQ(rnn->recurrent_kernel().value(), fixed({3, 3}, 20));
  EXPECT_EQ(rnn->bias().value(), fixed({3}, 30));
  EXPECT_EQ(rnn_1->kernel().value(), fixed({3, 4}, 40));
  EXPECT_EQ(rnn_1->recurrent_kernel().value(), fixed({4, 4}, 50));
  EXPECT_EQ(rnn_1->bias().value(), fixed({4}, 60));
  EXPECT_EQ(dense->kernel().value(), fixed({4, 2}, 70));
  EXPECT_EQ(dense->bias().value(), fixed({2}, 80));
}

// Fixture (c): no empty "vars" groups (Keras deferring their creation), and
// an Embedding heading the model.
TEST_F(KerasWeightsTest, LoadsEmbeddingModelWithoutEmptyVarsGroups) {
  xgrad::manual_seed(3);
  Sequential<float> model;
  auto embedding = model.add(std::make_shared<Embedding<float>>(EmbeddingOptions(10, 4)));
  auto rnn = model.add(std::make_shared<SimpleRNN<float>>(SimpleRNNOptions(3)));
  auto dense = model.add(std::make_shared<Dense<float>>(DenseOptions(1)));
  xgrad::nn::load_keras_weights(model, data_dir + "/keras_embedding_rnn_dense.weights.h5");
  EXPECT_EQ(embedding->embeddings().value(), fixed({10, 4}, 100));
  EXPECT_EQ(rnn->kernel().value(), fixed({4, 3}, 200));
  EXPECT_EQ(rnn->recurrent_kernel().value(), fixed({3, 3}, 300));
  EXPECT_EQ(rnn->bias().value(), fixed({3}, 400));
  EXPECT_EQ(dense->kernel().value(), fixed({3, 1}, 500));
  EXPECT_EQ(dense->bias().value(), fixed({1}, 600));
  const Array<float> tokens = {{1.f, 9.f, 0.f}};
  EXPECT_EQ(model(Variable<float>(tokens)).value().shape(), (xgrad::Shape{1, 1}));
}

// Fixture (d): a layer saved alone keeps its variables at the root.
TEST_F(KerasWeightsTest, LoadsSingleDenseLayerFile) {
  Dense<float> dense(DenseOptions(3));
  xgrad::nn::load_keras_weights(dense, data_dir + "/keras_dense_layer.weights.h5");
  EXPECT_EQ(dense.kernel().value(), fixed({4, 3}, 700));
  EXPECT_EQ(dense.bias().value(), fixed({3}, 800));
}

// Fixture (e): Keras 2.13's container name, which Keras 3 still reads.
TEST_F(KerasWeightsTest, ReadsLayerCheckpointDependenciesForLayers) {
  Sequential<float> model;
  auto dense = model.add(std::make_shared<Dense<float>>(DenseOptions(2)));
  xgrad::nn::load_keras_weights(model, data_dir + "/keras_legacy_dependencies.weights.h5");
  EXPECT_EQ(dense->kernel().value(), fixed({3, 2}, 900));
  EXPECT_EQ(dense->bias().value(), fixed({2}, 1000));
}

// Keras names a layer in the file by its class, never by its own name.
TEST_F(KerasWeightsTest, LayersAreFoundByClassNotByTheirNames) {
  Sequential<float> model;
  model.add(std::make_shared<SimpleRNN<float>>(SimpleRNNOptions(2).return_sequences(true).name("encoder")));
  xgrad::nn::load_keras_weights(model, data_dir + "/keras_simple_rnn_notebook.weights.h5");
  const Array<float> out = model(Variable<float>(notebook_x)).value();
  EXPECT_LE(xt::amax(xt::abs(out - notebook_in9))(), 1e-6f);
}

// ------------------------------------------------------------ round trips

TEST_F(KerasWeightsTest, RoundTripRestoresEveryParameterAndOutput) {
  auto saved = make_stack(1);
  xgrad::nn::save_keras_weights(*saved, path("model.weights.h5"));
  auto restored = make_stack(2);
  ASSERT_NE(values_of(*saved)[0], values_of(*restored)[0]);
  xgrad::nn::load_keras_weights(*restored, path("model.weights.h5"));
  const auto a = values_of(*saved), b = values_of(*restored);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << "parameter " << i;
  xgrad::manual_seed(5);
  const Variable<float> x(xgrad::uniform<float>({2, 4, 5}, -1.f, 1.f));
  EXPECT_EQ((*saved)(x).value(), (*restored)(x).value());
}

TEST_F(KerasWeightsTest, RoundTripInFloat64WritesFloat64) {
  auto saved = make_stack<double>(1);
  xgrad::nn::save_keras_weights(*saved, path("model.weights.h5"));
  EXPECT_EQ(H5Listing(path("model.weights.h5")).entries.at("/layers/dense/vars/0"), "f64le (4, 2)");
  auto restored = make_stack<double>(2, /*build=*/false);
  xgrad::nn::load_keras_weights(*restored, path("model.weights.h5"));
  const auto a = values_of(*saved), b = values_of(*restored);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << "parameter " << i;
}

TEST_F(KerasWeightsTest, RoundTripOfSingleSimpleRnnAndEmbedding) {
  xgrad::manual_seed(1);
  SimpleRNN<float> rnn(SimpleRNNOptions(2).use_bias(false));
  rnn.build({-1, -1, 3});
  Embedding<float> embedding(EmbeddingOptions(6, 2));
  embedding.build();
  xgrad::nn::save_keras_weights(rnn, path("rnn.weights.h5"));
  xgrad::nn::save_keras_weights(embedding, path("embedding.weights.h5"));
  const auto rnn_listing = H5Listing(path("rnn.weights.h5")).entries;
  const std::map<std::string, std::string> expected_rnn{
      {"/cell", "group"},
      {"/cell/vars", "group name=simple_rnn_cell"},
      {"/cell/vars/0", "f32le (3, 2)"},
      {"/cell/vars/1", "f32le (2, 2)"},
      {"/vars", "group name=simple_rnn"}};
  EXPECT_EQ(rnn_listing, expected_rnn);
  EXPECT_EQ(H5Listing(path("embedding.weights.h5")).entries,
            (std::map<std::string, std::string>{{"/vars", "group name=embedding"},
                                                {"/vars/0", "f32le (6, 2)"}}));

  xgrad::manual_seed(2);
  SimpleRNN<float> rnn2(SimpleRNNOptions(2).use_bias(false));
  Embedding<float> embedding2(EmbeddingOptions(6, 2));
  xgrad::nn::load_keras_weights(rnn2, path("rnn.weights.h5"));
  xgrad::nn::load_keras_weights(embedding2, path("embedding.weights.h5"));
  EXPECT_EQ(values_of(rnn), values_of(rnn2));
  EXPECT_EQ(values_of(embedding), values_of(embedding2));
}

// LayerNormalization between two layers: Keras 3 keeps gamma, then beta, in
// the layer's vars; a pooling layer has an empty vars group.
TEST_F(KerasWeightsTest, RoundTripOfLayerNormalizationAndPooling) {
  const auto make = [](std::uint64_t seed) {
    xgrad::manual_seed(seed);
    auto model = std::make_unique<Sequential<float>>();
    model->add(std::make_shared<SimpleRNN<float>>(SimpleRNNOptions(3).return_sequences(true)));
    auto norm = model->add(std::make_shared<xgrad::nn::LayerNormalization<float>>());
    model->add(std::make_shared<xgrad::nn::GlobalAveragePooling1D<float>>());
    model->build({-1, -1, 2});
    norm->set_weights({xgrad::uniform<float>({3}, 0.5f, 1.5f), xgrad::uniform<float>({3}, -0.5f, 0.5f)});
    return model;
  };
  auto saved = make(1);
  xgrad::nn::save_keras_weights(*saved, path("norm.weights.h5"));
  const auto entries = H5Listing(path("norm.weights.h5")).entries;
  EXPECT_EQ(entries.at("/layers/layer_normalization/vars"), "group name=layer_normalization");
  EXPECT_EQ(entries.at("/layers/layer_normalization/vars/0"), "f32le (3,)");
  EXPECT_EQ(entries.at("/layers/layer_normalization/vars/1"), "f32le (3,)");
  EXPECT_EQ(entries.at("/layers/global_average_pooling1d/vars"), "group name=global_average_pooling1d");
  auto restored = make(2);
  xgrad::nn::load_keras_weights(*restored, path("norm.weights.h5"));
  EXPECT_EQ(values_of(*saved), values_of(*restored));
  EXPECT_EQ(restored->at<xgrad::nn::LayerNormalization<float>>(1)->gamma().value(),
            saved->at<xgrad::nn::LayerNormalization<float>>(1)->gamma().value());
}

// Conv1D keeps kernel [K, C, F] and bias in its vars, as Keras 3; an
// unbuilt model is built from the file.
TEST_F(KerasWeightsTest, RoundTripOfConv1DIntoAnUnbuiltModel) {
  const auto make = [](std::uint64_t seed, bool build) {
    xgrad::manual_seed(seed);
    auto model = std::make_unique<Sequential<float>>();
    model->add(std::make_shared<xgrad::nn::Conv1D<float>>(xgrad::nn::Conv1DOptions(4, 3).padding("same")));
    model->add(std::make_shared<xgrad::nn::MaxPooling1D<float>>());
    model->add(std::make_shared<SimpleRNN<float>>(SimpleRNNOptions(2)));
    if (build) model->build({-1, 6, 2});
    return model;
  };
  auto saved = make(1, true);
  xgrad::nn::save_keras_weights(*saved, path("conv.weights.h5"));
  const auto entries = H5Listing(path("conv.weights.h5")).entries;
  EXPECT_EQ(entries.at("/layers/conv1d/vars/0"), "f32le (3, 2, 4)");
  EXPECT_EQ(entries.at("/layers/conv1d/vars/1"), "f32le (4,)");
  EXPECT_EQ(entries.at("/layers/max_pooling1d/vars"), "group name=max_pooling1d");
  auto restored = make(2, false);
  xgrad::nn::load_keras_weights(*restored, path("conv.weights.h5"));
  EXPECT_EQ(values_of(*saved), values_of(*restored));
  const Variable<float> x(xgrad::uniform<float>({3, 6, 2}, -1.f, 1.f));
  EXPECT_EQ((*saved)(x).value(), (*restored)(x).value());
}

// LSTM(3, seq) -> Bidirectional(GRU(2, seq)) -> GRU(2, reset_after false) ->
// Dense(1) on 4 features, the architecture of keras_lstm_gru.weights.h5.
std::unique_ptr<Sequential<float>> make_gated_stack() {
  xgrad::manual_seed(3);
  auto model = std::make_unique<Sequential<float>>();
  model->add(std::make_shared<xgrad::nn::LSTM<float>>(xgrad::nn::LSTMOptions(3).return_sequences(true)));
  model->add(std::make_shared<xgrad::nn::Bidirectional<float>>(xgrad::nn::GRUOptions(2).return_sequences(true)));
  model->add(std::make_shared<xgrad::nn::GRU<float>>(xgrad::nn::GRUOptions(2).reset_after(false)));
  model->add(std::make_shared<Dense<float>>(DenseOptions(1)));
  model->build({-1, -1, 4});
  return model;
}

// Every weight of the LSTM, both GRU conventions and the Bidirectional's two
// directions lands where the h5py fixture (make_keras_h5_fixtures.py, (f))
// put it, and xgrad writes the same objects and attributes.
TEST_F(KerasWeightsTest, LoadsAndWritesLstmAndGruLayouts) {
  auto model = make_gated_stack();
  xgrad::nn::load_keras_weights(*model, data_dir + "/keras_lstm_gru.weights.h5");
  const auto lstm = model->at<xgrad::nn::LSTM<float>>(0);
  EXPECT_EQ(lstm->kernel().value(), fixed({4, 12}, 1100));
  EXPECT_EQ(lstm->recurrent_kernel().value(), fixed({3, 12}, 1200));
  EXPECT_EQ(lstm->bias().value(), fixed({12}, 1300));
  const auto bi = model->at<xgrad::nn::Bidirectional<float>>(1);
  EXPECT_EQ(bi->backward_layer()->kernel().value(), fixed({3, 6}, 1400));
  EXPECT_EQ(bi->backward_layer()->bias().value(), fixed({2, 6}, 1600));
  EXPECT_EQ(bi->forward_layer()->recurrent_kernel().value(), fixed({2, 6}, 1800));
  EXPECT_EQ(bi->forward_layer()->bias().value(), fixed({2, 6}, 1900));
  const auto gru = model->at<xgrad::nn::GRU<float>>(2);
  EXPECT_EQ(gru->kernel().value(), fixed({4, 6}, 2000));
  EXPECT_EQ(gru->bias().value(), fixed({6}, 2200));
  EXPECT_EQ(model->at<Dense<float>>(3)->bias().value(), fixed({1}, 2400));

  xgrad::nn::save_keras_weights(*model, path("model.weights.h5"));
  const auto written = H5Listing(path("model.weights.h5")).entries;
  EXPECT_EQ(written, H5Listing(data_dir + "/keras_lstm_gru.weights.h5").entries);
  EXPECT_EQ(written.at("/layers/lstm/cell/vars"), "group name=lstm_cell");
  EXPECT_EQ(written.at("/layers/bidirectional/forward_layer/cell/vars/2"), "f32le (2, 6)");
}

// ------------------------------------------------------------ the layout xgrad writes

TEST_F(KerasWeightsTest, WritesKerasLayoutForRnnRnnDense) {
  auto model = make_stack(1);
  xgrad::nn::save_keras_weights(*model, path("model.weights.h5"));
  const std::map<std::string, std::string> expected{
      {"/layers", "group"},
      {"/layers/dense", "group"},
      {"/layers/dense/vars", "group name=dense"},
      {"/layers/dense/vars/0", "f32le (4, 2)"},
      {"/layers/dense/vars/1", "f32le (2,)"},
      {"/layers/simple_rnn", "group"},
      {"/layers/simple_rnn/cell", "group"},
      {"/layers/simple_rnn/cell/vars", "group name=simple_rnn_cell"},
      {"/layers/simple_rnn/cell/vars/0", "f32le (5, 3)"},
      {"/layers/simple_rnn/cell/vars/1", "f32le (3, 3)"},
      {"/layers/simple_rnn/cell/vars/2", "f32le (3,)"},
      {"/layers/simple_rnn/vars", "group name=simple_rnn"},
      {"/layers/simple_rnn_1", "group"},
      {"/layers/simple_rnn_1/cell", "group"},
      {"/layers/simple_rnn_1/cell/vars", "group name=simple_rnn_cell"},
      {"/layers/simple_rnn_1/cell/vars/0", "f32le (3, 4)"},
      {"/layers/simple_rnn_1/cell/vars/1", "f32le (4, 4)"},
      {"/layers/simple_rnn_1/cell/vars/2", "f32le (4,)"},
      {"/layers/simple_rnn_1/vars", "group name=simple_rnn_1"},
      {"/vars", "group name=sequential"}};
  EXPECT_EQ(H5Listing(path("model.weights.h5")).entries, expected);
}

// Byte for byte the objects and attributes of the newest-Keras fixture, but
// for the optimizer state xgrad does not have.
TEST_F(KerasWeightsTest, WritesWhatTheKerasFixtureHolds) {
  auto model = make_stack(1);
  xgrad::nn::save_keras_weights(*model, path("model.weights.h5"));
  auto keras = H5Listing(data_dir + "/keras_rnn_rnn_dense.weights.h5").entries;
  for (auto it = keras.begin(); it != keras.end();)
    it = it->first.rfind("/optimizer", 0) == 0 ? keras.erase(it) : std::next(it);
  EXPECT_EQ(H5Listing(path("model.weights.h5")).entries, keras);
}

// Keys come from the class (with Keras' per-class numbering), the "name"
// attribute from the layer; nested Sequentials nest their "layers".
TEST_F(KerasWeightsTest, WritesClassKeysNamesAndNestedSequentials) {
  xgrad::manual_seed(1);
  auto inner = std::make_shared<Sequential<float>>("head");
  inner->add(std::make_shared<Dense<float>>(DenseOptions(2).name("logits")));
  Sequential<float> model("model");
  model.add(std::make_shared<Dense<float>>(DenseOptions(3).name("encoder")));
  model.add(std::make_shared<SimpleRNN<float>>(SimpleRNNOptions(2)));
  model.add(std::make_shared<Dense<float>>(DenseOptions(3).use_bias(false)));
  model.add(inner);
  model.build({-1, 4, 5});
  xgrad::nn::save_keras_weights(model, path("model.weights.h5"));
  const auto entries = H5Listing(path("model.weights.h5")).entries;
  EXPECT_EQ(entries.at("/vars"), "group name=model");
  EXPECT_EQ(entries.at("/layers/dense/vars"), "group name=encoder");
  EXPECT_EQ(entries.at("/layers/dense/vars/0"), "f32le (5, 3)");
  EXPECT_EQ(entries.at("/layers/simple_rnn/cell/vars/0"), "f32le (3, 2)");
  EXPECT_EQ(entries.at("/layers/dense_1/vars"), "group name=dense");
  EXPECT_EQ(entries.at("/layers/dense_1/vars/0"), "f32le (2, 3)");
  EXPECT_EQ(entries.count("/layers/dense_1/vars/1"), 0u);
  EXPECT_EQ(entries.at("/layers/sequential/vars"), "group name=head");
  EXPECT_EQ(entries.at("/layers/sequential/layers/dense/vars"), "group name=logits");
  EXPECT_EQ(entries.at("/layers/sequential/layers/dense/vars/1"), "f32le (2,)");

  // And it loads back into a model of the same classes.
  xgrad::manual_seed(2);
  auto inner2 = std::make_shared<Sequential<float>>("head");
  inner2->add(std::make_shared<Dense<float>>(DenseOptions(2)));
  Sequential<float> model2;
  model2.add(std::make_shared<Dense<float>>(DenseOptions(3)));
  model2.add(std::make_shared<SimpleRNN<float>>(SimpleRNNOptions(2)));
  model2.add(std::make_shared<Dense<float>>(DenseOptions(3).use_bias(false)));
  model2.add(inner2);
  xgrad::nn::load_keras_weights(model2, path("model.weights.h5"));
  EXPECT_EQ(values_of(model), values_of(model2));
}

// ------------------------------------------------------------ load mismatches

// Loads `file` into a fresh stack and expects an IoError with `fragments`
// (the file name always among them), the model keeping its weights; both
// through xgrad-h5-reader and in this process (trusted), which must agree.
::testing::AssertionResult load_fails(const std::string& file, std::initializer_list<std::string> fragments,
                                      bool build = true, xgrad::nn::KerasLoadOptions options = {}) {
  std::vector<std::string> all(fragments);
  all.push_back(file);
  ::testing::AssertionResult result = ::testing::AssertionSuccess();
  for (const bool trusted : {false, true}) {
    const char* how = trusted ? "in process: " : "through the reader program: ";
    auto model = make_stack(9, build);
    const auto before = build ? values_of(*model) : std::vector<Array<float>>{};
    try {
      xgrad::nn::load_keras_weights(*model, file, options.trusted(trusted));
      return ::testing::AssertionFailure() << how << "threw nothing";
    } catch (const IoError& error) {
      const std::string message = error.what();
      for (const auto& fragment : all)
        if (message.find(fragment) == std::string::npos)
          return ::testing::AssertionFailure() << how << "message \"" << message << "\" lacks \"" << fragment << "\"";
      result << how << "threw \"" << message << "\" ";
    } catch (const std::exception& error) {
      return ::testing::AssertionFailure() << how << "threw another type: " << error.what();
    }
    if (build && values_of(*model) != before) return ::testing::AssertionFailure() << how << "the weights changed";
    if (!build && model->at<Dense<float>>(2)->built()) return ::testing::AssertionFailure() << how << "a layer got built";
  }
  return result;
}

TEST_F(KerasWeightsTest, MissingDatasetThrowsNamingIt) {
  const std::string file = copy_of("keras_rnn_rnn_dense.weights.h5");
  H5Edit(file).remove("/layers/dense/vars/1");
  EXPECT_TRUE(load_fails(file, {"missing dataset /layers/dense/vars/1", "bias of layer 'dense'", "(2,)"}));
}

TEST_F(KerasWeightsTest, MissingLayerThrowsNamingItsGroup) {
  const std::string file = copy_of("keras_rnn_rnn_dense.weights.h5");
  H5Edit(file).remove("/layers/simple_rnn_1");
  EXPECT_TRUE(load_fails(file, {"missing group /layers/simple_rnn_1", "/layers/simple_rnn_1/cell/vars/0",
                                "(3, 4)"}));
}

TEST_F(KerasWeightsTest, ExtraLayerInTheFileThrows) {
  // The file has rnn, rnn_1, dense; this model lacks the Dense.
  xgrad::manual_seed(9);
  Sequential<float> model;
  model.add(std::make_shared<SimpleRNN<float>>(SimpleRNNOptions(3).return_sequences(true)));
  model.add(std::make_shared<SimpleRNN<float>>(SimpleRNNOptions(4)));
  model.build({-1, -1, 5});
  const auto before = values_of(model);
  const std::string file = data_dir + "/keras_rnn_rnn_dense.weights.h5";
  EXPECT_TRUE(throws_with<IoError>([&] { xgrad::nn::load_keras_weights(model, file); },
                                   {file, "unexpected group /layers/dense", "simple_rnn, simple_rnn_1"}));
  EXPECT_EQ(values_of(model), before);
}

TEST_F(KerasWeightsTest, ExtraLayerInTheModelThrows) {
  const std::string file = data_dir + "/keras_simple_rnn_notebook.weights.h5";
  Sequential<float> model;
  model.add(std::make_shared<SimpleRNN<float>>(SimpleRNNOptions(2).return_sequences(true)));
  model.add(std::make_shared<Dense<float>>(DenseOptions(1)));
  model.build({-1, -1, 5});
  const auto before = values_of(model);
  EXPECT_TRUE(throws_with<IoError>([&] { xgrad::nn::load_keras_weights(model, file); },
                                   {file, "missing group /layers/dense", "kernel of layer 'dense'"}));
  EXPECT_EQ(values_of(model), before);
}

TEST_F(KerasWeightsTest, ExtraDatasetThrows) {
  const std::string file = copy_of("keras_rnn_rnn_dense.weights.h5");
  H5Edit(file).add_dataset("/layers/dense/vars/2", {2}, H5T_IEEE_F32LE);
  EXPECT_TRUE(load_fails(file, {"unexpected entry /layers/dense/vars/2", "has 2 weights (0 kernel, 1 bias)"}));
}

TEST_F(KerasWeightsTest, VariablesInAWrapperGroupThrow) {
  // The SimpleRNN itself holds no variables in Keras; its cell does.
  const std::string file = copy_of("keras_rnn_rnn_dense.weights.h5");
  H5Edit(file).add_dataset("/layers/simple_rnn/vars/0", {5, 3}, H5T_IEEE_F32LE);
  EXPECT_TRUE(load_fails(file, {"unexpected entry /layers/simple_rnn/vars/0", "has 0 weights"}));
}

TEST_F(KerasWeightsTest, UnexpectedGroupInsideALayerThrows) {
  const std::string file = copy_of("keras_rnn_rnn_dense.weights.h5");
  H5Edit(file).add_group("/layers/simple_rnn/cell/extra");
  EXPECT_TRUE(load_fails(file, {"unexpected group /layers/simple_rnn/cell/extra"}));
}

TEST_F(KerasWeightsTest, WrongShapeThrowsWithBothShapes) {
  const std::string file = copy_of("keras_rnn_rnn_dense.weights.h5");
  {
    H5Edit edit(file);
    edit.remove("/layers/simple_rnn_1/cell/vars/1");
    edit.add_dataset("/layers/simple_rnn_1/cell/vars/1", {4, 5}, H5T_IEEE_F32LE);
  }
  EXPECT_TRUE(load_fails(file, {"/layers/simple_rnn_1/cell/vars/1", "recurrent_kernel of layer 'simple_rnn_1'",
                                "expected float32 of shape (4, 4)", "found float32 of shape (4, 5)"}));
}

TEST_F(KerasWeightsTest, WrongShapeOfAnUnbuiltLayerThrowsAndBuildsNothing) {
  const std::string file = copy_of("keras_rnn_rnn_dense.weights.h5");
  {
    H5Edit edit(file);
    edit.remove("/layers/dense/vars/0");
    edit.add_dataset("/layers/dense/vars/0", {4}, H5T_IEEE_F32LE);
  }
  EXPECT_TRUE(load_fails(file, {"/layers/dense/vars/0", "expected float32 of shape (None, 2)",
                                "found float32 of shape (4,)"},
                         /*build=*/false));
}

TEST_F(KerasWeightsTest, WrongDtypeThrows) {
  for (const auto& [type, name] : {std::pair<hid_t, std::string>{H5T_IEEE_F64LE, "float64"},
                                   std::pair<hid_t, std::string>{H5T_STD_I64LE, "int64"}}) {
    const std::string file = copy_of("keras_rnn_rnn_dense.weights.h5");
    {
      H5Edit edit(file);
      edit.remove("/layers/dense/vars/0");
      edit.add_dataset("/layers/dense/vars/0", {4, 2}, type);
    }
    EXPECT_TRUE(load_fails(file, {"/layers/dense/vars/0", "expected float32 of shape (4, 2)",
                                  "found " + name + " of shape (4, 2)"}));
  }
}

TEST_F(KerasWeightsTest, FloatFileIntoDoubleModelThrows) {
  auto model = make_stack<double>(9);
  const auto before = values_of(*model);
  const std::string file = data_dir + "/keras_rnn_rnn_dense.weights.h5";
  EXPECT_TRUE(throws_with<IoError>([&] { xgrad::nn::load_keras_weights(*model, file); },
                                   {file, "/layers/simple_rnn/cell/vars/0", "expected float64 of shape (5, 3)",
                                    "found float32 of shape (5, 3)"}));
  EXPECT_EQ(values_of(*model), before);
}

TEST_F(KerasWeightsTest, SoftLinkIsRefused) {
  const std::string file = copy_of("keras_rnn_rnn_dense.weights.h5");
  {
    H5Edit edit(file);
    edit.remove("/layers/dense/vars/1");
    edit.add_soft_link("/layers/simple_rnn/cell/vars/2", "/layers/dense/vars/1");
  }
  EXPECT_TRUE(load_fails(file, {"/layers/dense/vars/1 is a soft or external link"}));
}

TEST_F(KerasWeightsTest, TruncatedFileThrows) {
  const std::string whole = read_bytes(data_dir + "/keras_rnn_rnn_dense.weights.h5");
  for (const std::size_t size : {std::size_t{0}, std::size_t{100}, whole.size() / 2, whole.size() - 1}) {
    const std::string file = path("truncated.weights.h5");
    write_bytes(file, whole.substr(0, size));
    EXPECT_TRUE(load_fails(file, {"load_keras_weights"})) << "size " << size;
  }
}

TEST_F(KerasWeightsTest, CorruptFileThrows) {
  const std::string file = path("corrupt.weights.h5");
  write_bytes(file, std::string(4096, 'x'));
  EXPECT_TRUE(load_fails(file, {"not a readable HDF5 file", "signature"}));
  // An .npz is not an .h5 either.
  EXPECT_TRUE(load_fails(data_dir + "/keras_get_weights.npz", {"not a readable HDF5 file"}));
}

TEST_F(KerasWeightsTest, MissingFileThrows) {
  const std::string file = path("nowhere.weights.h5");
  EXPECT_TRUE(load_fails(file, {"cannot open", "No such file"}));
}

TEST_F(KerasWeightsTest, TopLevelTrainingStateIsIgnoredButNotInsideLayers) {
  // Fixture (b) holds /optimizer; LoadsRnnRnnDenseStackIntoTheRightLayers
  // loads it. An optimizer-like group inside the layers is an error.
  const std::string file = copy_of("keras_rnn_rnn_dense.weights.h5");
  H5Edit(file).add_dataset("/layers/optimizer/vars/0", {1}, H5T_STD_I64LE);
  EXPECT_TRUE(load_fails(file, {"unexpected group /layers/optimizer", "no such layer"}));
}

TEST_F(KerasWeightsTest, UnsupportedLayerWithParametersThrows) {
  // A module with a parameter xgrad does not know how Keras stores.
  class Scale : public Module<float> {
   public:
    Scale() : Module<float>("scale") { register_parameter("factor", Variable<float>(xgrad::ones<float>({1}))); }
    Variable<float> forward(const Variable<float>& x) { return x; }
  };
  Sequential<float> model;
  model.add(std::make_shared<Scale>());
  const std::string file = data_dir + "/keras_dense_layer.weights.h5";
  EXPECT_TRUE(throws_with<IoError>([&] { xgrad::nn::load_keras_weights(model, file); },
                                   {file, "layer 'scale' has parameters but no Keras weights layout"}));
  EXPECT_TRUE(throws_with<IoError>([&] { xgrad::nn::save_keras_weights(model, path("m.weights.h5")); },
                                   {"layer 'scale' has parameters"}));
  EXPECT_FALSE(fs::exists(path("m.weights.h5")));
}

// ------------------------------------------------------------ hostile files

// The seed notebook's model, SimpleRNN(2, return_sequences), unbuilt.
std::unique_ptr<Sequential<float>> make_notebook_model() {
  auto model = std::make_unique<Sequential<float>>();
  model->add(std::make_shared<SimpleRNN<float>>(SimpleRNNOptions(2).return_sequences(true)));
  return model;
}

// Regressions of issue 11 (tests/data/make_hostile_fixtures.py): zeroing byte
// 728 of the notebook's file makes the root list a link named "", which the
// reader followed into the root again until the stack overflowed; renaming
// "vars" to "layers" in place makes the root list "layers" twice.
TEST_F(KerasWeightsTest, LinksWithEmptyOrRepeatedNamesAreRefused) {
  const std::string empty = data_dir + "/keras_simple_rnn_notebook_empty_link.weights.h5";
  const std::string repeated = data_dir + "/keras_simple_rnn_notebook_repeated_link.weights.h5";
  for (const bool trusted : {false, true}) {
    auto model = make_notebook_model();
    EXPECT_TRUE(throws_with<IoError>(
        [&] { xgrad::nn::load_keras_weights(*model, empty, KerasLoadOptions().trusted(trusted)); },
        {empty, "group / holds a link with the invalid name ''"}));
    EXPECT_TRUE(throws_with<IoError>(
        [&] { xgrad::nn::load_keras_weights(*model, repeated, KerasLoadOptions().trusted(trusted)); },
        {repeated, "group / holds two links named 'layers'"}));
    EXPECT_FALSE(model->at<SimpleRNN<float>>(0)->built());
  }
}

// A regression of fuzz_keras_weights_trusted (make_hostile_fixtures.py): a
// well-formed file whose SimpleRNN kernel takes 5 features, behind an
// Embedding that gives 4, built an unbuilt model that could not run. The
// load is refused before anything changes.
TEST_F(KerasWeightsTest, KernelsThatDoNotChainAreRefused) {
  const std::string file = data_dir + "/keras_embedding_rnn_dense_unchained.weights.h5";
  for (const bool trusted : {false, true}) {
    Sequential<float> model;
    auto embedding = model.add(std::make_shared<Embedding<float>>(EmbeddingOptions(10, 4)));
    auto rnn = model.add(std::make_shared<SimpleRNN<float>>(SimpleRNNOptions(3)));
    auto dense = model.add(std::make_shared<Dense<float>>(DenseOptions(1)));
    EXPECT_TRUE(throws_with<IoError>(
        [&] { xgrad::nn::load_keras_weights(model, file, KerasLoadOptions().trusted(trusted)); },
        {file, "layers/simple_rnn/cell/vars/0", "(5, 3)", "takes 5 input features", "layer 'embedding'",
         "gives 4"}));
    EXPECT_FALSE(embedding->built());
    EXPECT_FALSE(rnn->built());
    EXPECT_FALSE(dense->built());
  }
}

// The same weights come out of xgrad-h5-reader as out of the reader run in
// this process, for Keras' files and for xgrad's own.
TEST_F(KerasWeightsTest, ReaderProgramAndInProcessReaderLoadTheSame) {
  auto saved = make_gated_stack();
  xgrad::nn::save_keras_weights(*saved, path("gated.weights.h5"));
  const std::vector<std::pair<std::string, std::function<std::unique_ptr<Sequential<float>>()>>> cases{
      {data_dir + "/keras_rnn_rnn_dense.weights.h5", [] { return make_stack(1, /*build=*/false); }},
      {data_dir + "/keras_simple_rnn_notebook.weights.h5", make_notebook_model},
      {data_dir + "/keras_lstm_gru.weights.h5", make_gated_stack},
      {path("gated.weights.h5"), make_gated_stack}};
  for (const auto& [file, make] : cases) {
    auto outside = make();
    auto inside = make();
    xgrad::nn::load_keras_weights(*outside, file);
    xgrad::nn::load_keras_weights(*inside, file, KerasLoadOptions().trusted(true));
    EXPECT_EQ(values_of(*outside), values_of(*inside)) << file;
    EXPECT_FALSE(values_of(*outside).empty()) << file;
  }
  auto reloaded = make_gated_stack();
  xgrad::nn::load_keras_weights(*reloaded, path("gated.weights.h5"));
  EXPECT_EQ(values_of(*reloaded), values_of(*saved));
}

// A stand-in for xgrad-h5-reader, a shell script named by XGRAD_H5_READER
// while it lives: how the loader copes with a reader that a file has made
// crash, hang, fail or lie.
class FakeReader {
 public:
  FakeReader(const std::string& script_path, const std::string& body) {
    write_bytes(script_path, "#!/bin/sh\n" + body + "\n");
    ::chmod(script_path.c_str(), 0755);
    const char* old = std::getenv("XGRAD_H5_READER");
    had_old_ = old != nullptr;
    if (had_old_) old_ = old;
    ::setenv("XGRAD_H5_READER", script_path.c_str(), 1);
  }
  ~FakeReader() {
    if (had_old_) {
      ::setenv("XGRAD_H5_READER", old_.c_str(), 1);
    } else {
      ::unsetenv("XGRAD_H5_READER");
    }
  }
  FakeReader(const FakeReader&) = delete;
  FakeReader& operator=(const FakeReader&) = delete;

 private:
  bool had_old_ = false;
  std::string old_;
};

// What loading a good file through `reader` throws; the model keeps its weights.
::testing::AssertionResult reader_fails(const std::string& script_path, const std::string& reader,
                                        std::initializer_list<std::string> fragments,
                                        KerasLoadOptions options = {}) {
  const std::string file = data_dir + "/keras_rnn_rnn_dense.weights.h5";
  FakeReader fake(script_path, reader);
  auto model = make_stack(9);
  const auto before = values_of(*model);
  std::vector<std::string> all(fragments);
  all.push_back(file);
  try {
    xgrad::nn::load_keras_weights(*model, file, options);
    return ::testing::AssertionFailure() << "threw nothing";
  } catch (const IoError& error) {
    const std::string message = error.what();
    for (const auto& fragment : all)
      if (message.find(fragment) == std::string::npos)
        return ::testing::AssertionFailure() << "message \"" << message << "\" lacks \"" << fragment << "\"";
  }
  if (values_of(*model) != before) return ::testing::AssertionFailure() << "the weights changed";
  return ::testing::AssertionSuccess();
}

TEST_F(KerasWeightsTest, CrashOfTheReaderProgramIsAnIoError) {
  EXPECT_TRUE(reader_fails(path("reader.sh"), "kill -SEGV $$",
                           {"xgrad-h5-reader crashed reading it (signal 11, SIGSEGV)", "corrupt or hostile"}));
  EXPECT_TRUE(reader_fails(path("reader.sh"), "echo 'HDF5-DIAG: boom' >&2; kill -ABRT $$",
                           {"SIGABRT", "it said: HDF5-DIAG: boom"}));
}

TEST_F(KerasWeightsTest, HangingReaderProgramIsKilledAtTheTimeLimit) {
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(reader_fails(path("reader.sh"), "exec sleep 30", {"took longer than 0.5", "was killed"},
                           KerasLoadOptions().time_limit_seconds(0.5)));
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 5.0);
}

TEST_F(KerasWeightsTest, FailingOrLyingReaderProgramIsAnIoError) {
  EXPECT_TRUE(reader_fails(path("reader.sh"), "echo 'it broke' >&2; exit 3",
                           {"xgrad-h5-reader failed (exit status 3): it broke"}));
  EXPECT_TRUE(reader_fails(path("reader.sh"), "echo 'not an npz'", {"the output of xgrad-h5-reader is invalid"}));
  // A well-formed .npz whose arrays do not fit the model.
  xgrad::write_npz<float>(path("lie.npz"), {{"layers/dense/vars/0", xgrad::zeros<float>({7, 7})}});
  EXPECT_TRUE(reader_fails(path("reader.sh"), "cat " + path("lie.npz"),
                           {"the output of xgrad-h5-reader is invalid", "unexpected entry 'layers/dense/vars/0'"}));
  EXPECT_TRUE(reader_fails(path("reader.sh"), "cat " + data_dir + "/weights_savez.npz",
                           {"the output of xgrad-h5-reader is invalid"}));
}

TEST_F(KerasWeightsTest, MissingReaderProgramIsNamed) {
  const char* old = std::getenv("XGRAD_H5_READER");
  const std::string saved = old ? old : "";
  ::setenv("XGRAD_H5_READER", path("nowhere").c_str(), 1);
  auto model = make_stack(9);
  const std::string file = data_dir + "/keras_rnn_rnn_dense.weights.h5";
  EXPECT_TRUE(throws_with<IoError>([&] { xgrad::nn::load_keras_weights(*model, file); },
                                   {file, "XGRAD_H5_READER names " + path("nowhere")}));
  if (old) {
    ::setenv("XGRAD_H5_READER", saved.c_str(), 1);
  } else {
    ::unsetenv("XGRAD_H5_READER");
  }
}

// Issue 11: a 10 KB file declaring a huge kernel for an unbuilt layer was
// allocated as declared (4 GiB, 22 s), or threw std::bad_alloc (8 EiB). The
// unbuilt layer's F is the file's, so the file's size bounds it.
TEST_F(KerasWeightsTest, HugeKernelOfAnUnbuiltLayerIsRefusedBeforeAllocation) {
  for (const hsize_t rows : {hsize_t{1} << 28, hsize_t{1} << 61}) {
    const std::string file = copy_of("keras_rnn_rnn_dense.weights.h5");
    {
      H5Edit edit(file);
      edit.remove("/layers/simple_rnn/cell/vars/0");
      edit.add_unwritten_dataset("/layers/simple_rnn/cell/vars/0", {rows, 3}, H5T_IEEE_F32LE);
    }
    ASSERT_LT(fs::file_size(file), 32768u);
    const auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(load_fails(file,
                           {"/layers/simple_rnn/cell/vars/0 (kernel of layer 'simple_rnn' (SimpleRNN)) declares "
                            "float32 of shape (" + std::to_string(rows) + ", 3)",
                            "more than the file may declare", "build the model first"},
                           /*build=*/false));
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 5.0);
  }
}

TEST_F(KerasWeightsTest, MaxBytesBoundsWhatUnbuiltLayersMayDeclare) {
  const std::string file = data_dir + "/keras_rnn_rnn_dense.weights.h5";
  // The first kernel, (5, 3) float32, is 60 bytes.
  EXPECT_TRUE(load_fails(file, {"/layers/simple_rnn/cell/vars/0", "(16 bytes in all"}, /*build=*/false,
                         KerasLoadOptions().max_bytes(16)));
  auto model = make_stack(9, /*build=*/false);
  xgrad::nn::load_keras_weights(*model, file, KerasLoadOptions().max_bytes(4096));
  EXPECT_EQ(model->at<SimpleRNN<float>>(0)->input_features(), 5u);
}

// ------------------------------------------------------------ checksums

TEST_F(KerasWeightsTest, SavedDatasetsCarryFletcher32Checksums) {
  auto model = make_gated_stack();
  const std::string file = path("model.weights.h5");
  xgrad::nn::save_keras_weights(*model, file);
  hid_t h5 = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(h5, 0);
  std::size_t datasets = 0;
  for (const auto& [name, what] : H5Listing(file).entries) {
    if (what.rfind("group", 0) == 0) continue;
    ++datasets;
    hid_t dataset = H5Dopen2(h5, name.c_str(), H5P_DEFAULT);
    hid_t creation = H5Dget_create_plist(dataset);
    unsigned flags = 0;
    std::size_t count = 0;
    EXPECT_EQ(H5Pget_nfilters(creation), 1) << name;
    EXPECT_EQ(H5Pget_filter2(creation, 0, &flags, &count, nullptr, 0, nullptr, nullptr), H5Z_FILTER_FLETCHER32)
        << name;
    H5Pclose(creation);
    H5Dclose(dataset);
  }
  H5Fclose(h5);
  EXPECT_EQ(datasets, 14u);  // LSTM 3, Bidirectional 2 x 3, GRU 3, Dense 2
}

// Keras reads weights with h5py: it reads the chunked, checksummed datasets
// as the weights they are (tests/h5py_reads_weights.py, Debian's
// python3-h5py, installed by scripts/setup.sh).
TEST_F(KerasWeightsTest, H5pyReadsTheChecksummedFile) {
  auto model = make_stack(1);
  xgrad::nn::save_keras_weights(*model, path("model.weights.h5"));
  const std::string command = "/usr/bin/python3 " + std::string(XGRAD_TEST_DATA_DIR) + "/../h5py_reads_weights.py " +
                              path("model.weights.h5") + " " + path("read.npz");
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  std::map<std::string, Array<float>> read;
  for (const auto& [name, array] : xgrad::read_npz(path("read.npz"))) read[name] = array.as<float>();
  ASSERT_EQ(read.size(), 8u);
  EXPECT_EQ(read.at("layers/simple_rnn/cell/vars/0"), model->at<SimpleRNN<float>>(0)->kernel().value());
  EXPECT_EQ(read.at("layers/simple_rnn_1/cell/vars/1"), model->at<SimpleRNN<float>>(1)->recurrent_kernel().value());
  EXPECT_EQ(read.at("layers/dense/vars/0"), model->at<Dense<float>>(2)->kernel().value());
}

// Issue 11: 541 of 25,877 one-byte changes of a file loaded as different
// weights. In a file xgrad saved, a changed byte of any weight's data is an
// IoError.
TEST_F(KerasWeightsTest, ChangedByteInSavedWeightsIsAnIoError) {
  auto model = make_stack(1);
  const std::string file = path("model.weights.h5");
  xgrad::nn::save_keras_weights(*model, file);
  const std::string bytes = read_bytes(file);
  std::size_t changed_weights = 0;
  for (const auto& weight : values_of(*model)) {
    // Each weight's data is stored as is; found once, it is found for sure
    // (the zero biases are found in many places).
    const std::string data(reinterpret_cast<const char*>(weight.data()), weight.size() * sizeof(float));
    const std::size_t at = bytes.find(data);
    if (at == std::string::npos || bytes.rfind(data) != at) continue;
    ++changed_weights;
    for (const std::size_t offset : {std::size_t{0}, data.size() / 2, data.size() - 1}) {
      std::string changed = bytes;
      changed[at + offset] = static_cast<char>(changed[at + offset] ^ 0x10);
      const std::string copy = path("changed.weights.h5");
      write_bytes(copy, changed);
      EXPECT_TRUE(load_fails(copy, {"cannot read", "Fletcher32"})) << "byte " << at + offset;
    }
  }
  EXPECT_EQ(changed_weights, 5u);  // the kernels of the SimpleRNNs and the Dense, the recurrent kernels
}

// ------------------------------------------------------------ failed saves

// The scratch directory holds exactly these file names.
std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& entry : fs::directory_iterator(dir)) out.push_back(entry.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST_F(KerasWeightsTest, SavingAnUnbuiltModelThrowsAndKeepsTheOldFile) {
  auto model = make_stack(1);
  const std::string file = path("model.weights.h5");
  xgrad::nn::save_keras_weights(*model, file);
  const std::string old_bytes = read_bytes(file);
  auto unbuilt = make_stack(2, /*build=*/false);
  EXPECT_TRUE(throws_with<IoError>([&] { xgrad::nn::save_keras_weights(*unbuilt, file); },
                                   {file, "layer 'simple_rnn' (SimpleRNN) is not built"}));
  EXPECT_EQ(read_bytes(file), old_bytes);
  EXPECT_EQ(names_in(dir_), std::vector<std::string>{"model.weights.h5"});
}

TEST_F(KerasWeightsTest, SaveFailingMidWriteLeavesThePreviousFileWhole) {
  auto small = make_stack(1);
  const std::string file = path("model.weights.h5");
  xgrad::nn::save_keras_weights(*small, file);
  const std::string old_bytes = read_bytes(file);

  // A model whose file exceeds a file-size limit, so the write itself fails
  // (EFBIG, with SIGXFSZ ignored) after part of the temporary is written.
  xgrad::manual_seed(2);
  Sequential<float> big;
  big.add(std::make_shared<Dense<float>>(DenseOptions(256)));
  big.build({-1, 256});
  rlimit old_limit{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit limit = old_limit;
  limit.rlim_cur = 64 * 1024;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limit), 0);
  bool threw = false;
  std::string message;
  try {
    xgrad::nn::save_keras_weights(big, file);
  } catch (const IoError& error) {
    threw = true;
    message = error.what();
  }
  setrlimit(RLIMIT_FSIZE, &old_limit);
  std::signal(SIGXFSZ, old_handler);
  ASSERT_TRUE(threw) << "the save did not fail";
  EXPECT_NE(message.find(file), std::string::npos) << message;
  EXPECT_EQ(read_bytes(file), old_bytes);
  EXPECT_EQ(names_in(dir_), std::vector<std::string>{"model.weights.h5"});
  auto check = make_stack(3);
  xgrad::nn::load_keras_weights(*check, file);
  EXPECT_EQ(values_of(*check), values_of(*small));
}

TEST_F(KerasWeightsTest, SaveIntoAMissingDirectoryThrows) {
  auto model = make_stack(1);
  const std::string file = path("no/such/dir/model.weights.h5");
  EXPECT_TRUE(throws_with<IoError>([&] { xgrad::nn::save_keras_weights(*model, file); }, {file}));
  EXPECT_TRUE(names_in(dir_).empty());
}

TEST_F(KerasWeightsTest, HdfErrorPrintingIsRestored) {
  // load turns HDF5's stderr printing off while it runs in this process and then back on.
  H5E_auto2_t before_func = nullptr;
  void* before_data = nullptr;
  H5Eget_auto2(H5E_DEFAULT, &before_func, &before_data);
  const std::string file = path("corrupt.weights.h5");
  write_bytes(file, "not hdf5");
  auto model = make_stack(1);
  EXPECT_THROW(xgrad::nn::load_keras_weights(*model, file, KerasLoadOptions().trusted(true)), IoError);
  H5E_auto2_t after_func = nullptr;
  void* after_data = nullptr;
  H5Eget_auto2(H5E_DEFAULT, &after_func, &after_data);
  EXPECT_NE(before_func, nullptr);
  EXPECT_EQ(after_func, before_func);
  EXPECT_EQ(after_data, before_data);
}

// ------------------------------------------------------------ PyTorch nn.RNN

struct TorchIo {
  Array<float> x, y, h_n;
};

TorchIo torch_io(const std::string& name) {
  TorchIo io;
  for (const auto& [key, array] : xgrad::read_npz(data_dir + "/" + name + "_io.npz")) {
    if (key == "x") io.x = array.as<float>();
    if (key == "y") io.y = array.as<float>();
    if (key == "h_n") io.h_n = array.as<float>();
  }
  return io;
}

// torch.nn.RNN(3, 4, batch_first=True): xgrad's outputs are torch's.
TEST_F(KerasWeightsTest, TorchTanhRnnMatchesTorchsOutput) {
  SimpleRNN<float> rnn(SimpleRNNOptions(4).return_sequences(true));
  xgrad::nn::load_torch_rnn_state_dict(rnn, data_dir + "/torch_rnn_tanh.npz");
  const TorchIo io = torch_io("torch_rnn_tanh");
  ASSERT_EQ(io.x.shape(), (xgrad::Shape{2, 5, 3}));
  const Array<float> y = rnn(Variable<float>(io.x)).value();
  ASSERT_EQ(y.shape(), io.y.shape());
  EXPECT_LE(xt::amax(xt::abs(y - io.y))(), 1e-6f);
  // kernel = weight_ih_l0ᵀ, bias = bias_ih_l0 + bias_hh_l0
  std::map<std::string, Array<float>> state;
  for (const auto& [key, array] : xgrad::read_npz(data_dir + "/torch_rnn_tanh.npz"))
    state[key] = array.as<float>();
  EXPECT_EQ(rnn.kernel().value(), Array<float>(xt::transpose(state["weight_ih_l0"])));
  EXPECT_EQ(rnn.bias().value(), Array<float>(state["bias_ih_l0"] + state["bias_hh_l0"]));
}

// torch.nn.RNN(3, 4, nonlinearity="relu", bias=False), into a relu layer
// without bias, and into one with bias (which then gets zeros).
TEST_F(KerasWeightsTest, TorchReluRnnWithoutBiasMatchesTorchsOutput) {
  const TorchIo io = torch_io("torch_rnn_relu_nobias");
  for (const bool use_bias : {false, true}) {
    SimpleRNN<float> rnn(SimpleRNNOptions(4).activation("relu").use_bias(use_bias));
    rnn.build({-1, -1, 3});
    xgrad::nn::load_torch_rnn_state_dict(rnn, data_dir + "/torch_rnn_relu_nobias.npz");
    const Array<float> h = rnn(Variable<float>(io.x)).value();
    ASSERT_EQ(h.shape(), io.h_n.shape());
    EXPECT_LE(xt::amax(xt::abs(h - io.h_n))(), 1e-5f) << "use_bias " << use_bias;
    if (use_bias) {
      EXPECT_EQ(rnn.bias().value(), Array<float>(xt::zeros<float>({4})));
    }
  }
}

// The same nn.RNN through the Sequential import, which shares the checks and
// the conversion with load_torch_rnn_state_dict.
TEST_F(KerasWeightsTest, TorchRnnIntoSequential) {
  auto rnn = std::make_shared<SimpleRNN<float>>(SimpleRNNOptions(4).return_sequences(true));
  Sequential<float> model({rnn});
  xgrad::nn::load_torch_recurrent_state_dict(model, data_dir + "/torch_rnn_tanh.npz");
  const TorchIo io = torch_io("torch_rnn_tanh");
  EXPECT_LE(xt::amax(xt::abs(model(Variable<float>(io.x)).value() - io.y))(), 1e-6f);
  SimpleRNN<float> alone(SimpleRNNOptions(4));
  xgrad::nn::load_torch_rnn_state_dict(alone, data_dir + "/torch_rnn_tanh.npz");
  EXPECT_EQ(rnn->weights(), alone.weights());
}

// Writes `entries` as an .npz and expects the import into `rnn` to fail
// naming the file and `fragments`, leaving the layer as it was.
::testing::AssertionResult torch_import_fails(SimpleRNN<float>& rnn, const std::string& file,
                                              const std::vector<std::pair<std::string, xgrad::NpyArray>>& entries,
                                              std::initializer_list<std::string> fragments) {
  xgrad::write_npz(file, entries);
  const auto before = values_of(rnn);
  std::vector<std::string> all(fragments);
  all.push_back(file);
  try {
    xgrad::nn::load_torch_rnn_state_dict(rnn, file);
  } catch (const IoError& error) {
    const std::string message = error.what();
    for (const auto& fragment : all)
      if (message.find(fragment) == std::string::npos)
        return ::testing::AssertionFailure() << "message \"" << message << "\" lacks \"" << fragment << "\"";
    if (values_of(rnn) != before) return ::testing::AssertionFailure() << "the layer changed";
    return ::testing::AssertionSuccess() << message;
  } catch (const std::exception& error) {
    return ::testing::AssertionFailure() << "threw another type: " << error.what();
  }
  return ::testing::AssertionFailure() << "threw nothing";
}

std::vector<std::pair<std::string, xgrad::NpyArray>> torch_state(const std::string& name) {
  return xgrad::read_npz(data_dir + "/" + name + ".npz");
}

xgrad::NpyArray npy(const Array<float>& a) { return xgrad::NpyArray::from(a); }

TEST_F(KerasWeightsTest, TorchMismatchesThrowAndChangeNothing) {
  xgrad::manual_seed(4);
  SimpleRNN<float> rnn(SimpleRNNOptions(4));
  rnn.build({-1, -1, 3});
  auto state = torch_state("torch_rnn_tanh");
  auto without = [&](const std::string& name) {
    auto out = state;
    out.erase(std::remove_if(out.begin(), out.end(), [&](const auto& e) { return e.first == name; }), out.end());
    return out;
  };
  auto replaced = [&](const std::string& name, xgrad::NpyArray array) {
    auto out = without(name);
    out.emplace_back(name, std::move(array));
    return out;
  };
  const std::string file = path("state.npz");
  EXPECT_TRUE(torch_import_fails(rnn, file, without("weight_hh_l0"), {"no entry 'weight_hh_l0'"}));
  EXPECT_TRUE(torch_import_fails(rnn, file, without("bias_hh_l0"),
                                 {"entry 'bias_ih_l0' without 'bias_hh_l0'"}));
  EXPECT_TRUE(torch_import_fails(rnn, file, replaced("weight_ih_l0", npy(xt::zeros<float>({4, 5}))),
                                 {"entry 'weight_ih_l0' has shape (4, 5), expected (4, 3)"}));
  EXPECT_TRUE(torch_import_fails(rnn, file, replaced("weight_hh_l0", npy(xt::zeros<float>({3, 3}))),
                                 {"entry 'weight_hh_l0' has shape (3, 3), expected (4, 4)"}));
  EXPECT_TRUE(torch_import_fails(rnn, file, replaced("bias_ih_l0", npy(xt::zeros<float>({5}))),
                                 {"entry 'bias_ih_l0' has shape (5,), expected (4,)"}));
  EXPECT_TRUE(torch_import_fails(
      rnn, file, replaced("weight_ih_l0", xgrad::NpyArray::from(Array<double>(xt::zeros<double>({4, 3})))),
      {"entry 'weight_ih_l0' has dtype float64, the layer is float32"}));
  auto two_layers = state;
  two_layers.emplace_back("weight_ih_l1", npy(xt::zeros<float>({4, 4})));
  EXPECT_TRUE(torch_import_fails(rnn, file, two_layers, {"entry 'weight_ih_l1'", "num_layers > 1"}));
  auto bidirectional = state;
  bidirectional.emplace_back("weight_ih_l0_reverse", npy(xt::zeros<float>({4, 3})));
  EXPECT_TRUE(torch_import_fails(rnn, file, bidirectional, {"'weight_ih_l0_reverse'", "bidirectional"}));
  auto prefixed = state;
  for (auto& entry : prefixed) entry.first = "rnn." + entry.first;
  EXPECT_TRUE(torch_import_fails(rnn, file, prefixed, {"entry 'rnn.", "rnn.state_dict()"}));

  // Nonzero torch biases cannot go into a layer without bias; zero ones can.
  SimpleRNN<float> no_bias(SimpleRNNOptions(4).use_bias(false));
  no_bias.build({-1, -1, 3});
  EXPECT_TRUE(torch_import_fails(no_bias, file, state, {"entry 'bias_ih_l0' is not zero", "use_bias"}));
  auto zero_biases = replaced("bias_ih_l0", npy(xt::zeros<float>({4})));
  zero_biases = [&] {
    auto out = zero_biases;
    for (auto& entry : out)
      if (entry.first == "bias_hh_l0") entry.second = npy(xt::zeros<float>({4}));
    return out;
  }();
  xgrad::write_npz(file, zero_biases);
  EXPECT_NO_THROW(xgrad::nn::load_torch_rnn_state_dict(no_bias, file));

  // An unbuilt layer takes F from the file; a built one insists on its own.
  SimpleRNN<float> unbuilt(SimpleRNNOptions(4));
  xgrad::nn::load_torch_rnn_state_dict(unbuilt, data_dir + "/torch_rnn_tanh.npz");
  EXPECT_EQ(unbuilt.input_features(), 3u);
  SimpleRNN<float> five(SimpleRNNOptions(4));
  five.build({-1, -1, 5});
  EXPECT_TRUE(torch_import_fails(five, file, state, {"has shape (4, 3), expected (4, 5)", "5 input features"}));

  // A float64 layer wants float64 entries.
  SimpleRNN<double> in_double(SimpleRNNOptions(4));
  EXPECT_TRUE(throws_with<IoError>(
      [&] { xgrad::nn::load_torch_rnn_state_dict(in_double, data_dir + "/torch_rnn_tanh.npz"); },
      {"torch_rnn_tanh.npz", "has dtype float32, the layer is float64"}));
  EXPECT_FALSE(in_double.built());

  EXPECT_TRUE(throws_with<IoError>(
      [&] { xgrad::nn::load_torch_rnn_state_dict(rnn, path("missing.npz")); }, {"missing.npz"}));
}

// ------------------------------------------------------------ files the fuzz target found

// Found by fuzz/fuzz_keras_weights.cpp; each must throw IoError naming the
// file, through the reader program and in-process. Before the walk became
// iterative and bounded, this one overflowed the stack (Reader::walk
// recursed into a group that lists itself through a link named "").
TEST_F(KerasWeightsTest, FuzzFoundSelfListingGroupThrows) {
  const std::string file = data_dir + "/fuzz_keras_weights_walk_recursion.weights.h5";
  // The models of the fuzz target (the fixtures'); which one the file
  // crashes depends on what the walk meets first.
  auto refused = [&](Module<float>& model) {
    return throws_with<IoError>([&] { xgrad::nn::load_keras_weights(model, file); }, {file}) &&
           throws_with<IoError>(
               [&] { xgrad::nn::load_keras_weights(model, file, KerasLoadOptions().trusted(true)); }, {file});
  };
  Sequential<float> notebook;
  notebook.add(std::make_shared<SimpleRNN<float>>(SimpleRNNOptions(2).return_sequences(true)));
  EXPECT_TRUE(refused(notebook));
  EXPECT_TRUE(refused(*make_stack(9)));
  Sequential<float> embedding;
  embedding.add(std::make_shared<Embedding<float>>(EmbeddingOptions(10, 4)));
  embedding.add(std::make_shared<SimpleRNN<float>>(SimpleRNNOptions(3)));
  embedding.add(std::make_shared<Dense<float>>(DenseOptions(1)));
  EXPECT_TRUE(refused(embedding));
  Dense<float> dense(DenseOptions(3));
  EXPECT_TRUE(refused(dense));
  Sequential<float> legacy;
  legacy.add(std::make_shared<Dense<float>>(DenseOptions(2)));
  EXPECT_TRUE(refused(legacy));
  EXPECT_TRUE(refused(*make_gated_stack()));
}

}  // namespace
