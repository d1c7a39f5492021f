// xgrad::dist under mpirun (tests/dist/CMakeLists.txt runs it with 2 and 3
// ranks): data-parallel training equals one process on the whole batch,
// keeps the weights bit-identical on every rank after every step, treats
// parameters without a gradient alike everywhere, broadcasts parameters and
// optimizer state, and averages fit's and evaluate's figures.
//
// Every rank runs every test; a collective operation inside a test is
// called by all ranks. A failure on any rank makes mpirun exit non-zero.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <mpi.h>
#include <unistd.h>

#include <xgrad/dist/dist.hpp>
#include <xgrad/xgrad.hpp>

namespace {

namespace nn = xgrad::nn;
namespace dist = xgrad::dist;
using xgrad::Array;
using xgrad::Variable;

constexpr std::size_t kTimesteps = 5, kFeatures = 3;

// SimpleRNN(8) + Dense(1) over [B, 5, 3], weights from xgrad's generator.
template <typename T>
std::shared_ptr<nn::Sequential<T>> make_model() {
  auto model = std::make_shared<nn::Sequential<T>>();
  model->add(std::make_shared<nn::SimpleRNN<T>>(nn::SimpleRNNOptions(8)));
  model->add(std::make_shared<nn::Dense<T>>(nn::DenseOptions(1)));
  model->build({-1, static_cast<std::ptrdiff_t>(kTimesteps), static_cast<std::ptrdiff_t>(kFeatures)});
  return model;
}

template <typename T>
struct Data {
  Array<T> x, y;
};

// n samples: x uniform in [-1, 1), y = a smooth function of x plus noise.
template <typename T>
Data<T> make_data(std::size_t n) {
  Data<T> data{xgrad::uniform<T>({n, kTimesteps, kFeatures}, T(-1), T(1)), xgrad::zeros<T>({n, 1})};
  for (std::size_t i = 0; i < n; ++i) {
    T sum = 0;
    for (std::size_t t = 0; t < kTimesteps; ++t) sum += data.x(i, t, 0) * data.x(i, t, 1);
    data.y(i, 0) = std::tanh(sum);
  }
  return data;
}

// Records after every training batch whether the weights are bit-identical
// on every rank (a collective: it runs on every rank).
template <typename T>
class CheckIdentical : public nn::Callback {
 public:
  explicit CheckIdentical(const nn::Module<T>& model) : model_(model) {}
  void on_train_batch_end(std::size_t, nn::Logs&) override {
    ++checked;
    if (!dist::identical_on_every_rank(model_)) ++different;
  }
  std::size_t checked = 0, different = 0;

 private:
  const nn::Module<T>& model_;
};

template <typename T>
double max_abs_difference(const std::vector<Variable<T>>& a, const std::vector<Variable<T>>& b) {
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    for (std::size_t k = 0; k < a[i].value().size(); ++k)
      worst = std::max(worst, std::abs(static_cast<double>(a[i].value().data()[k]) -
                                       static_cast<double>(b[i].value().data()[k])));
  return worst;
}

// R ranks with batch b each against one process with batch b·R, on the same
// data and the same seeded shuffles: the same samples in every step, so the
// same weights but for the order of the sums. The one-process run is made on
// every rank itself, without MPI.
template <typename T, typename MakeOptimizer>
void expect_equivalent_to_one_process(MakeOptimizer make_optimizer, double tolerance) {
  const std::size_t ranks = dist::world_size(), b = 4, epochs = 3;
  const std::size_t n = 6 * b * ranks;  // 6 steps per epoch, 18 in all

  xgrad::manual_seed(11);
  const Data<T> data = make_data<T>(n);
  xgrad::manual_seed(12);
  auto reference = make_model<T>();
  auto reference_optimizer = make_optimizer(reference->parameters());
  nn::Trainer<T> reference_trainer(*reference, *reference_optimizer, "mse");
  const nn::History reference_history = reference_trainer.fit(
      data.x, data.y, nn::FitOptions<T>().epochs(epochs).batch_size(b * ranks).verbose(0));

  xgrad::manual_seed(12);  // the same weights and shuffles
  auto model = make_model<T>();
  auto optimizer = make_optimizer(model->parameters());
  nn::Trainer<T> trainer(*model, *optimizer, "mse");
  dist::DataParallel<T> parallel(trainer);
  auto check = std::make_shared<CheckIdentical<T>>(*model);
  const nn::History history = trainer.fit(
      data.x, data.y, nn::FitOptions<T>().epochs(epochs).batch_size(b).verbose(0).callbacks({check}));

  EXPECT_EQ(check->checked, 6 * epochs);
  EXPECT_EQ(check->different, 0u) << "steps after which some rank's weights differed";
  EXPECT_EQ(parallel.optimizer().statistics().steps, 6 * epochs);
  EXPECT_EQ(parallel.optimizer().statistics().buckets, 1u);
  const double difference = max_abs_difference(model->parameters(), reference->parameters());
  EXPECT_LE(difference, tolerance);
  // ... and they did train: the weights moved by far more than that.
  xgrad::manual_seed(12);
  auto initial = make_model<T>();
  EXPECT_GT(max_abs_difference(model->parameters(), initial->parameters()), 1000 * tolerance);
  // The epoch losses, summed over the ranks, are the one process's.
  const auto losses = history.values("loss"), reference_losses = reference_history.values("loss");
  ASSERT_EQ(losses.size(), epochs);
  for (std::size_t e = 0; e < epochs; ++e)
    EXPECT_NEAR(losses[e], reference_losses[e], 1e3 * tolerance * std::abs(reference_losses[e]));
}

TEST(DataParallel, FloatSgdWithMomentumEqualsOneProcessWithTheWholeBatch) {
  expect_equivalent_to_one_process<float>(
      [](std::vector<Variable<float>> p) {
        return std::make_unique<nn::SGD<float>>(p, nn::SGDOptions().learning_rate(0.1).momentum(0.9));
      },
      // float32 round-off: 18 steps of sums in another order (measured: 2.7e-7 at
      // R = 2, 6.6e-7 at R = 3; a gradient 1e-4 off gives 1.5e-4)
      4e-6);
}

TEST(DataParallel, DoubleAdamEqualsOneProcessWithTheWholeBatch) {
  expect_equivalent_to_one_process<double>(
      [](std::vector<Variable<double>> p) {
        return std::make_unique<nn::Adam<double>>(p, nn::AdamOptions().learning_rate(0.01));
      },
      1e-13);  // measured: 1.7e-16
}

// A parameter with a gradient on rank 0 only is averaged with zeros from the
// others and updated on every rank alike; one with a gradient nowhere is left
// alone everywhere.
TEST(DistributedOptimizer, ParametersWithoutAGradientAreTreatedAlikeOnEveryRank) {
  const double ranks = static_cast<double>(dist::world_size());
  Variable<float> everywhere(xgrad::full<float>({3}, 1.0f), true);
  Variable<float> on_root(xgrad::full<float>({2, 2}, 1.0f), true);
  Variable<float> nowhere(xgrad::full<float>({4}, 1.0f), true);
  nn::SGD<float> sgd({everywhere, on_root, nowhere}, nn::SGDOptions().learning_rate(0.5));
  dist::DistributedOptimizer<float> distributed(sgd);
  distributed.zero_grad();
  // d/dp sum(p · (rank + 1)) = rank + 1: the average over ranks is (R + 1) / 2.
  const float rank_plus_one = static_cast<float>(dist::rank() + 1);
  Variable<float> loss = xgrad::sum(xgrad::mul(everywhere, Variable<float>(xgrad::full<float>({3}, rank_plus_one))));
  if (dist::rank() == 0) loss = xgrad::add(loss, xgrad::sum(on_root));
  loss.backward();
  distributed.step();
  for (float w : everywhere.value()) EXPECT_FLOAT_EQ(w, static_cast<float>(1.0 - 0.5 * (ranks + 1) / 2));
  for (float w : on_root.value()) EXPECT_FLOAT_EQ(w, static_cast<float>(1.0 - 0.5 / ranks));
  for (float w : nowhere.value()) EXPECT_EQ(w, 1.0f);
  EXPECT_FALSE(nowhere.has_grad());
  EXPECT_TRUE(on_root.has_grad());  // zeros given on the other ranks, then the average
  EXPECT_EQ(distributed.statistics().elements, 3u + 4u + 4u);  // zeros carried for `nowhere`
}

TEST(DistributedOptimizer, SplitsGradientsIntoBucketsOfAtMostBucketBytes) {
  Variable<double> a(xgrad::full<double>({5}, 1.0), true), b(xgrad::full<double>({3}, 1.0), true),
      c(xgrad::full<double>({4}, 1.0), true);
  nn::SGD<double> sgd({a, b, c}, nn::SGDOptions().learning_rate(1.0));
  // 8 doubles per bucket: [a, b] then [c].
  dist::DistributedOptimizer<double> distributed(sgd, dist::DistributedOptimizerOptions().bucket_bytes(64));
  for (auto* p : {&a, &b, &c}) p->add_grad(xgrad::full<double>(xgrad::to_shape(p->shape()), static_cast<double>(dist::rank())));
  distributed.step();
  EXPECT_EQ(distributed.statistics().buckets, 2u);
  const double mean_rank = (static_cast<double>(dist::world_size()) - 1) / 2;
  for (auto* p : {&a, &b, &c})
    for (double w : p->value()) EXPECT_DOUBLE_EQ(w, 1.0 - mean_rank);
  EXPECT_THROW(dist::DistributedOptimizer<double>(sgd, dist::DistributedOptimizerOptions().bucket_bytes(0)),
               std::invalid_argument);
}

TEST(DistributedOptimizer, RefusesAnOptimizerWrappedTwice) {
  Variable<float> p(xgrad::full<float>({2}, 1.0f), true);
  nn::SGD<float> sgd({p});
  dist::DistributedOptimizer<float> once(sgd);
  EXPECT_THROW(dist::DistributedOptimizer<float> twice(sgd), std::invalid_argument);
}

TEST(Broadcast, ParametersAndOptimizerStateFromTheRoot) {
  xgrad::manual_seed(100 + dist::rank());  // different weights on every rank
  auto model = make_model<float>();
  nn::Adam<float> adam(model->parameters(), nn::AdamOptions().learning_rate(0.01));
  if (dist::world_size() > 1) {
    EXPECT_FALSE(dist::identical_on_every_rank(*model));
  }
  // Rank-dependent moments and step counts.
  for (std::size_t s = 0; s <= dist::rank(); ++s) {
    adam.zero_grad();
    Variable<float> loss = xgrad::mean(xgrad::square((*model)(Variable<float>(xgrad::ones<float>({2, kTimesteps, kFeatures})))));
    loss.backward();
    adam.step();
  }
  adam.set_learning_rate(0.01 * static_cast<double>(dist::rank() + 1));
  if (dist::world_size() > 1) {
    EXPECT_FALSE(dist::identical_on_every_rank(adam));
  }

  const std::size_t root = dist::world_size() - 1;
  std::vector<float> roots_first_weight{model->parameters()[0].value().data()[0]};
  MPI_Bcast(roots_first_weight.data(), 1, MPI_FLOAT, static_cast<int>(root), MPI_COMM_WORLD);
  dist::broadcast_parameters(*model, root);
  dist::broadcast_optimizer_state(adam, root);
  EXPECT_TRUE(dist::identical_on_every_rank(*model));
  EXPECT_TRUE(dist::identical_on_every_rank(adam));
  EXPECT_EQ(model->parameters()[0].value().data()[0], roots_first_weight[0]);
  EXPECT_EQ(adam.iterations(), root + 1);
  EXPECT_DOUBLE_EQ(adam.learning_rate(), 0.01 * static_cast<double>(root + 1));
  EXPECT_THROW(dist::broadcast_parameters(*model, dist::world_size()), std::invalid_argument);
}

TEST(Broadcast, ModelsOfDifferentSizesThrowOnEveryRank) {
  xgrad::manual_seed(1);
  nn::Dense<float> dense(nn::DenseOptions(1 + dist::rank()));
  dense(Variable<float>(xgrad::ones<float>({1, 2})));  // builds kernel [2, 1 + rank]
  if (dist::world_size() == 1) GTEST_SKIP() << "needs two ranks";
  try {
    dist::broadcast_parameters(dense, 0);
    ADD_FAILURE() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("differ between the ranks; rank " + std::to_string(dist::rank())),
              std::string::npos)
        << e.what();
  }
}

// fit's and evaluate's figures are the figures over all ranks (the same
// bits on every rank), equal to one process's on the whole data; the
// CSVLogger writes on rank 0 only; EarlyStopping stops every rank at the
// same epoch.
TEST(Trainer, AveragesFiguresOverTheRanksAndWritesOnRankZeroOnly) {
  const std::size_t ranks = dist::world_size();
  xgrad::manual_seed(21);
  const Data<double> data = make_data<double>(10 * ranks + 1);  // one sample left over
  xgrad::manual_seed(22);
  auto model = make_model<double>();
  nn::SGD<double> sgd(model->parameters(), nn::SGDOptions().learning_rate(0.05));
  nn::Trainer<double> trainer(*model, sgd, "mse",
                              {nn::make_metric<double>("mae"), nn::make_metric<double>("root_mean_squared_error")});

  // evaluate: each rank a block of rows; the figures are those of the whole.
  const nn::Logs alone = trainer.evaluate(data.x, data.y, nn::EvaluateOptions().batch_size(3));
  dist::DataParallel<double> parallel(trainer);
  const nn::Logs together = trainer.evaluate(data.x, data.y, nn::EvaluateOptions().batch_size(3));
  for (const char* name : {"loss", "mae", "root_mean_squared_error"})
    EXPECT_NEAR(together.at(name), alone.at(name), 1e-12 * alone.at(name)) << name;

  // One directory (named by rank 0's pid); the log file's name differs by
  // rank: only rank 0's may appear.
  std::vector<int> root_pid{static_cast<int>(getpid())};
  MPI_Bcast(root_pid.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
  const std::filesystem::path shared_dir =
      std::filesystem::path(::testing::TempDir()) / ("xgrad_dist_" + std::to_string(root_pid[0]));
  std::filesystem::create_directories(shared_dir);
  const std::string csv = (shared_dir / ("log_rank" + std::to_string(dist::rank()) + ".csv")).string();
  auto stop = std::make_shared<nn::EarlyStopping>(
      nn::EarlyStoppingOptions().monitor("val_loss").min_delta(1e9).patience(2));
  const nn::History history = trainer.fit(
      data.x, data.y,
      nn::FitOptions<double>().epochs(20).batch_size(2).validation_data(data.x, data.y).verbose(0).callbacks(
          {stop, std::make_shared<nn::CSVLogger>(nn::CSVLoggerOptions(csv))}));
  EXPECT_EQ(history.size(), 3u);  // stopped after epoch 3 everywhere (wait reaches 2)
  EXPECT_EQ(std::filesystem::exists(csv), dist::rank() == 0);
  MPI_Barrier(MPI_COMM_WORLD);
  if (dist::rank() == 0) std::filesystem::remove_all(shared_dir);

  // Every figure of every epoch has the same bits on every rank.
  std::vector<double> figures;
  for (const char* name : {"loss", "mae", "root_mean_squared_error", "val_loss", "val_mae"})
    for (double v : history.values(name)) figures.push_back(v);
  std::vector<double> roots = figures;
  MPI_Bcast(roots.data(), static_cast<int>(roots.size()), MPI_DOUBLE, 0, MPI_COMM_WORLD);
  EXPECT_EQ(figures, roots);
  // val_loss is evaluate's figure over all the data, from the same weights.
  const nn::Logs after = trainer.evaluate(data.x, data.y, nn::EvaluateOptions().batch_size(2));
  EXPECT_DOUBLE_EQ(history.values("val_loss").back(), after.at("loss"));
}

// A data-parallel run with a shuffle_seed, killed in the middle of an epoch
// and resumed from BackupAndRestore's backup (written by rank 0, read by
// every rank), ends with the weights of the run never stopped, bit for bit:
// every rank takes its shard of the saved order again, and the resumed
// epoch's figures, summed over the ranks, are the uninterrupted ones.
class InterruptAfter : public nn::Callback {
 public:
  explicit InterruptAfter(std::size_t batches) : left_(batches) {}
  void on_train_batch_end(std::size_t, nn::Logs&) override {
    if (--left_ == 0) throw std::runtime_error("interrupted");
  }

 private:
  std::size_t left_;
};

TEST(Trainer, ResumesADistributedRunMidEpochFromTheBackup) {
  const std::size_t ranks = dist::world_size();
  xgrad::manual_seed(31);
  // 10 samples per rank (R − 1 left over): 5 batches of 2 per rank and epoch.
  const Data<double> data = make_data<double>(10 * ranks + ranks - 1);
  const auto options = [&](nn::Callbacks callbacks) {
    return nn::FitOptions<double>().epochs(3).batch_size(2).shuffle_seed(5).verbose(0).callbacks(
        std::move(callbacks));
  };
  const auto run = [&](std::uint64_t seed, const nn::Callbacks& callbacks,
                       std::vector<Variable<double>>* weights) {
    xgrad::manual_seed(seed);
    auto model = make_model<double>();
    nn::Adam<double> adam(model->parameters(), nn::AdamOptions().learning_rate(0.01));
    nn::Trainer<double> trainer(*model, adam, "mse", {nn::make_metric<double>("mae")});
    dist::DataParallel<double> parallel(trainer);
    const nn::History history = trainer.fit(data.x, data.y, options(callbacks));
    *weights = model->parameters();
    return history;
  };
  std::vector<Variable<double>> whole_weights, resumed_weights;
  const nn::History whole = run(32, {}, &whole_weights);

  std::vector<int> root_pid{static_cast<int>(getpid())};
  MPI_Bcast(root_pid.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
  const std::string backup_dir =
      (std::filesystem::path(::testing::TempDir()) / ("xgrad_dist_backup_" + std::to_string(root_pid[0])))
          .string();
  const auto backup = [&] {
    return std::make_shared<nn::BackupAndRestore>(nn::BackupAndRestoreOptions(backup_dir).save_freq(4));
  };
  // Backed up after batches 4, 8 and 12 (the third epoch's second), killed after 14.
  std::vector<Variable<double>> unused;
  EXPECT_THROW(run(32, {backup(), std::make_shared<InterruptAfter>(14)}, &unused), std::runtime_error);
  MPI_Barrier(MPI_COMM_WORLD);
  auto restoring = backup();
  const nn::History resumed = run(99, {restoring}, &resumed_weights);  // other initial weights: restored
  ASSERT_TRUE(restoring->restored().has_value());
  EXPECT_EQ(restoring->restored()->epoch, 2u);
  EXPECT_EQ(restoring->restored()->batch, 2u);
  EXPECT_EQ(max_abs_difference(resumed_weights, whole_weights), 0.0);
  ASSERT_EQ(resumed.values("loss").size(), 1u);  // the third epoch only
  for (const char* name : {"loss", "mae"})
    EXPECT_NEAR(resumed.values(name).back(), whole.values(name).back(), 1e-12 * whole.values(name).back())
        << name;
  MPI_Barrier(MPI_COMM_WORLD);
  EXPECT_FALSE(std::filesystem::exists(backup_dir));  // delete_checkpoint: removed at the end
}

}  // namespace

int main(int argc, char** argv) {
  xgrad::dist::Environment mpi(argc, argv);
  xgrad::set_num_threads(1);  // ranks share the cores
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
