// Resumable training: save_training_state / load_training_state, the
// Trainer resuming a run (mid-epoch too) and BackupAndRestore, checked the
// only way that matters: the resumed run ends with exactly the weights of a
// run never interrupted. The last test kills a training process with
// SIGKILL at random moments and restarts it until it finishes.

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <cmath>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "test_helpers.hpp"
#include "xgrad/nn/callbacks.hpp"
#include "xgrad/nn/checkpoint.hpp"
#include "xgrad/nn/dense.hpp"
#include "xgrad/nn/dropout.hpp"
#include "xgrad/nn/sequential.hpp"
#include "xgrad/nn/simple_rnn.hpp"
#include "xgrad/nn/trainer.hpp"
#include "xgrad/nn/training_state.hpp"

extern char** environ;

namespace {

using xgrad::Array;
using xgrad::test::slurp;
using xgrad::test::throws_with;
namespace nn = xgrad::nn;

class ResumeFiles : public xgrad::test::ScratchDirTest {
 protected:
  ResumeFiles() : ScratchDirTest("xgrad_resume_") {}
};

// Inputs [40, 6, 2] and their sums [40, 1], fixed by their own seed.
struct Data {
  Array<float> x, y;
};
Data make_data() {
  xgrad::Generator draws(1);
  xgrad::GeneratorGuard use(draws);
  Data data{xgrad::uniform<float>({40, 6, 2}, -1.f, 1.f), {}};
  data.y = xt::sum(data.x, {1, 2});
  data.y.reshape({40, 1});
  return data;
}

// A model with every source of randomness a run has: unseeded dropout and
// recurrent dropout (xgrad::generator()), a seeded Dropout (its own
// generator); Adam's moments; "mae" for the running figures. Its weights are
// drawn from xgrad::generator() as it is when called.
struct Training {
  explicit Training(nn::AdamOptions adam = nn::AdamOptions().learning_rate(1e-2), std::size_t units = 8) {
    model.add(std::make_shared<nn::SimpleRNN<float>>(
        nn::SimpleRNNOptions(units).dropout(0.2).recurrent_dropout(0.1)));
    model.add(std::make_shared<nn::Dropout<float>>(nn::DropoutOptions(0.3).seed(5)));
    model.add(std::make_shared<nn::Dense<float>>(nn::DenseOptions(1)));
    model.build({-1, 6, 2});
    optimizer = std::make_unique<nn::Adam<float>>(model.parameters(), adam);
    trainer = std::make_unique<nn::Trainer<float>>(model, *optimizer, "mse",
                                                   nn::MetricList<float>{nn::make_metric<float>("mae")});
  }
  std::vector<Array<float>> weights() const {
    std::vector<Array<float>> out;
    for (const auto& parameter : model.parameters()) out.push_back(parameter.value());
    return out;
  }

  nn::Sequential<float> model;
  std::unique_ptr<nn::Adam<float>> optimizer;
  std::unique_ptr<nn::Trainer<float>> trainer;
};

// 4 epochs of 5 batches; the rate, set from the current one at each epoch
// begin, would change if a resumed epoch applied it twice.
nn::FitOptions<float> fit_options(nn::Callbacks callbacks = {}) {
  callbacks.push_back(std::make_shared<nn::LearningRateScheduler>(
      [](std::size_t epoch, double rate) { return epoch == 0 ? rate : rate * 0.7; }));
  return nn::FitOptions().epochs(4).batch_size(8).verbose(0).callbacks(callbacks);
}

struct Interrupted {};

// Saves the training state after batch `batch` of epoch `epoch` (after the
// epoch's end when batch is npos), then interrupts fit.
class SaveAndInterrupt : public nn::Callback {
 public:
  SaveAndInterrupt(std::string path, std::size_t epoch, std::size_t batch)
      : path_(std::move(path)), epoch_(epoch), batch_(batch) {}
  void on_epoch_begin(std::size_t epoch, nn::Logs&) override { current_ = epoch; }
  void on_train_batch_end(std::size_t batch, nn::Logs&) override {
    if (current_ == epoch_ && batch == batch_) interrupt();
  }
  void on_epoch_end(std::size_t epoch, nn::Logs&) override {
    if (epoch == epoch_ && batch_ == std::string::npos) interrupt();
  }

 private:
  void interrupt() {
    trainer().save_training_state(path_);
    throw Interrupted{};
  }
  std::string path_;
  std::size_t epoch_, batch_, current_ = 0;
};

void expect_same_bits(const std::vector<Array<float>>& actual, const std::vector<Array<float>>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (std::size_t i = 0; i < actual.size(); ++i) {
    ASSERT_EQ(actual[i].shape(), expected[i].shape()) << "parameter " << i;
    EXPECT_EQ(std::memcmp(actual[i].data(), expected[i].data(), actual[i].size() * sizeof(float)), 0)
        << "parameter " << i << " differs";
  }
}

// The run that is never interrupted, from manual_seed(42).
struct Uninterrupted {
  explicit Uninterrupted(const nn::FitOptions<float>& options) {
    xgrad::manual_seed(42);
    Training run;
    history = run.trainer->fit(data.x, data.y, options);
    weights = run.weights();
    iterations = run.optimizer->iterations();
  }
  Data data = make_data();
  nn::History history;
  std::vector<Array<float>> weights;
  std::size_t iterations = 0;
};

// Interrupted after batch 2 of epoch 1 (of 0..3), saved, and resumed by a new
// model, optimizer and trainer whose weights and generator are different:
// the same weights bit for bit, and the same figures for the epochs run
// after the resume, the resumed epoch included (its running figures were
// saved).
TEST_F(ResumeFiles, MidEpochResumeInANewTrainerEndsWithTheUninterruptedWeights) {
  const Uninterrupted reference(fit_options());
  const std::string state = path("state.npz");
  {
    xgrad::manual_seed(42);
    Training run;
    EXPECT_THROW(run.trainer->fit(reference.data.x, reference.data.y,
                                  fit_options({std::make_shared<SaveAndInterrupt>(state, 1, 2)})),
                 Interrupted);
  }
  xgrad::manual_seed(999);
  Training resumed;
  const nn::TrainingProgress progress = resumed.trainer->load_training_state(state);
  EXPECT_EQ(progress.epoch, 1u);
  EXPECT_EQ(progress.batch, 3u);
  const nn::History history = resumed.trainer->fit(reference.data.x, reference.data.y, fit_options());
  expect_same_bits(resumed.weights(), reference.weights);
  EXPECT_EQ(resumed.optimizer->iterations(), reference.iterations);
  ASSERT_EQ(history.epochs(), (std::vector<std::size_t>{2, 3, 4}));
  for (const std::string name : {"loss", "mae", "learning_rate"}) {
    const auto all = reference.history.values(name);
    EXPECT_EQ(history.values(name), std::vector<double>(all.begin() + 1, all.end())) << name;
  }
}

// The same at an epoch's end, with fit's own shuffling generator
// (shuffle_seed): the file holds it, and the resumed fit must have one too.
TEST_F(ResumeFiles, EpochEndResumeWithAShuffleSeed) {
  const auto options = [](nn::Callbacks callbacks = {}) {
    return fit_options(std::move(callbacks)).shuffle_seed(77);
  };
  const Uninterrupted reference(options());
  const std::string state = path("state.npz");
  {
    xgrad::manual_seed(42);
    Training run;
    EXPECT_THROW(run.trainer->fit(reference.data.x, reference.data.y,
                                  options({std::make_shared<SaveAndInterrupt>(state, 1, std::string::npos)})),
                 Interrupted);
  }
  Training resumed;
  const nn::TrainingProgress progress = resumed.trainer->load_training_state(state);
  EXPECT_EQ(progress.epoch, 2u);
  EXPECT_EQ(progress.batch, 0u);
  resumed.trainer->fit(reference.data.x, reference.data.y, options());
  expect_same_bits(resumed.weights(), reference.weights);

  Training without_seed;
  without_seed.trainer->load_training_state(state);
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { without_seed.trainer->fit(reference.data.x, reference.data.y, fit_options()); },
      {"shuffle_seed", "this fit has none"}));
}

// A loop of one's own: the free functions with the model and the optimizer.
TEST_F(ResumeFiles, FreeFunctionsRestoreModelOptimizerAndGenerators) {
  const Data data = make_data();
  xgrad::manual_seed(3);
  Training run;
  auto steps = [&](Training& r, int n) {
    for (int i = 0; i < n; ++i) r.trainer->train_on_batch(data.x, data.y);
  };
  steps(run, 3);
  nn::RunState saved;
  saved.progress = {7, 2};
  saved.metrics = {{"anything", {1.5, 2.0}}};
  nn::save_training_state(path("state.npz"), run.model, *run.optimizer, saved);
  steps(run, 2);

  xgrad::manual_seed(4);
  Training other;
  const nn::RunState loaded = nn::load_training_state(path("state.npz"), other.model, *other.optimizer);
  EXPECT_EQ(loaded.progress.epoch, 7u);
  EXPECT_EQ(loaded.progress.batch, 2u);
  ASSERT_EQ(loaded.metrics.size(), 1u);
  EXPECT_EQ(loaded.metrics[0].second, (std::vector<double>{1.5, 2.0}));
  EXPECT_EQ(other.optimizer->iterations(), 3u);
  steps(other, 2);
  expect_same_bits(other.weights(), run.weights());
}

// Loading checks everything first: a mismatch throws IoError naming the file
// and what does not fit, and leaves the model, optimizer and generator as
// they were.
TEST_F(ResumeFiles, LoadingAFileThatDoesNotFitChangesNothing) {
  const Data data = make_data();
  Training run;
  run.trainer->train_on_batch(data.x, data.y);
  const std::string state = path("state.npz");
  nn::save_training_state(state, run.model, *run.optimizer);

  Training wider(nn::AdamOptions(), 9);
  const auto before = wider.weights();
  const xgrad::Generator generator_before = xgrad::generator();
  EXPECT_TRUE(throws_with<xgrad::IoError>([&] { wider.trainer->load_training_state(state); },
                                          {state, "model/simple_rnn/kernel", "(2, 8)", "(2, 9)"}));
  expect_same_bits(wider.weights(), before);
  EXPECT_TRUE(xgrad::generator() == generator_before);

  Training amsgrad(nn::AdamOptions().amsgrad(true));
  EXPECT_TRUE(throws_with<xgrad::IoError>([&] { amsgrad.trainer->load_training_state(state); },
                                          {"optimizer/Adam/velocity_hats/0"}));
  EXPECT_EQ(amsgrad.optimizer->iterations(), 0u);

  nn::SGD<float> sgd(run.model.parameters());
  EXPECT_TRUE(throws_with<xgrad::IoError>([&] { nn::load_training_state(state, run.model, sgd); },
                                          {"optimizer Adam", "this one is SGD"}));

  // The same parameters without the seeded Dropout: its generator is left over.
  nn::Sequential<float> no_dropout;
  no_dropout.add(std::make_shared<nn::SimpleRNN<float>>(nn::SimpleRNNOptions(8)));
  no_dropout.add(std::make_shared<nn::Dense<float>>(nn::DenseOptions(1)));
  no_dropout.build({-1, 6, 2});
  nn::Adam<float> adam(no_dropout.parameters());
  EXPECT_TRUE(throws_with<xgrad::IoError>([&] { nn::load_training_state(state, no_dropout, adam); },
                                          {"random/model/dropout/seed_generator", "matches nothing"}));

  nn::save(run.model, path("weights.npz"));
  EXPECT_TRUE(throws_with<xgrad::IoError>([&] { run.trainer->load_training_state(path("weights.npz")); },
                                          {"not a training state", "nn::load"}));
}

// Keras' example: interrupted at the start of epoch 2 (of 0..3), the next fit
// with the callback runs only epochs 2 and 3, and the backup is removed
// when fit ends. The weights are those of the uninterrupted run.
TEST_F(ResumeFiles, BackupAndRestoreResumesAtTheEpochAndDeletesTheBackup) {
  const Uninterrupted reference(fit_options());
  struct InterruptAt2 : nn::Callback {
    void on_epoch_begin(std::size_t epoch, nn::Logs&) override {
      if (epoch == 2) throw Interrupted{};
    }
  };
  const std::string backup_dir = path("backup");
  auto backup = std::make_shared<nn::BackupAndRestore>(nn::BackupAndRestoreOptions(backup_dir));
  xgrad::manual_seed(42);
  Training run;
  EXPECT_THROW(run.trainer->fit(reference.data.x, reference.data.y,
                                fit_options({backup, std::make_shared<InterruptAt2>()})),
               Interrupted);
  EXPECT_TRUE(std::filesystem::exists(backup->backup_path()));
  EXPECT_FALSE(backup->restored());

  xgrad::manual_seed(42);
  Training again;
  const nn::History history = again.trainer->fit(reference.data.x, reference.data.y, fit_options({backup}));
  ASSERT_TRUE(backup->restored());
  EXPECT_EQ(backup->restored()->epoch, 2u);
  EXPECT_EQ(backup->restored()->batch, 0u);
  EXPECT_EQ(history.epochs(), (std::vector<std::size_t>{3, 4}));
  expect_same_bits(again.weights(), reference.weights);
  EXPECT_FALSE(std::filesystem::exists(backup_dir));
}

// save_freq = 3 batches, counted across epochs (5 per epoch): backups after
// the 3rd, 6th and 9th batches, i.e. epoch 0 batch 2, epoch 1 batches 0 and
// 3. Interrupted after epoch 1 batch 4, the next fit resumes after epoch 1
// batch 3: {1, 4}.
TEST_F(ResumeFiles, BackupAndRestoreEveryNBatchesResumesMidEpoch) {
  const Uninterrupted reference(fit_options());
  struct InterruptAfter : nn::Callback {
    void on_epoch_begin(std::size_t epoch, nn::Logs&) override { current = epoch; }
    void on_train_batch_end(std::size_t batch, nn::Logs&) override {
      if (current == 1 && batch == 4) throw Interrupted{};
    }
    std::size_t current = 0;
  };
  const std::string backup_dir = path("backup");
  auto backup = std::make_shared<nn::BackupAndRestore>(
      nn::BackupAndRestoreOptions(backup_dir).save_freq(3).delete_checkpoint(false));
  xgrad::manual_seed(42);
  Training run;
  EXPECT_THROW(run.trainer->fit(reference.data.x, reference.data.y,
                                fit_options({backup, std::make_shared<InterruptAfter>()})),
               Interrupted);
  Training again;
  again.trainer->fit(reference.data.x, reference.data.y, fit_options({backup}));
  ASSERT_TRUE(backup->restored());
  EXPECT_EQ(backup->restored()->epoch, 1u);
  EXPECT_EQ(backup->restored()->batch, 4u);
  expect_same_bits(again.weights(), reference.weights);
  EXPECT_TRUE(std::filesystem::exists(backup->backup_path()));  // delete_checkpoint(false)
}

TEST(BackupAndRestore, OptionsAreChecked) {
  EXPECT_TRUE(throws_with<std::invalid_argument>([] { nn::BackupAndRestore(nn::BackupAndRestoreOptions("")); },
                                                 {"backup_dir is empty"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([] { nn::BackupAndRestoreOptions("d").save_freq("batch"); },
                                                 {"save_freq", "\"batch\""}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([] { nn::BackupAndRestoreOptions("d").save_freq(0); },
                                                 {"save_freq must be positive"}));
  EXPECT_EQ(nn::BackupAndRestoreOptions("d").save_freq(7).save_freq_batches(), 7u);
  EXPECT_EQ(nn::BackupAndRestoreOptions("d").save_freq(7).save_freq("epoch").save_freq_batches(), 0u);
}

// ------------------------------------------------------------ SIGKILL

// Starts `args` with stdout into `out`; returns the pid.
pid_t spawn(const std::vector<std::string>& args, const std::string& out) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<char*> argv;
  for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int error = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return error == 0 ? pid : -1;
}

// Waits for `pid` at most `limit` (forever when negative), polling every
// 0.5 ms; kills it with SIGKILL when it is still running then. With
// `watched`, also sets `appeared` to the time from the start until that path
// first existed (the whole wait if never). Returns its wait status.
int wait_or_kill(pid_t pid, std::chrono::duration<double> limit, const std::string& watched = {},
                 std::chrono::duration<double>* appeared = nullptr) {
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + limit;
  bool seen = watched.empty();
  int status = 0;
  bool exited = false;
  while (limit.count() < 0 || std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      break;
    }
    if (!seen && std::filesystem::exists(watched)) {
      seen = true;
      *appeared = std::chrono::steady_clock::now() - start;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  if (!exited) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  if (!seen) *appeared = std::chrono::steady_clock::now() - start;
  return status;
}

// Runs `args` to the end; returns how long it took, after checking it exited
// with 0. `watched` and `appeared` as wait_or_kill's.
std::chrono::duration<double> run_through(const std::vector<std::string>& args, const std::string& out,
                                          const std::string& watched = {},
                                          std::chrono::duration<double>* appeared = nullptr) {
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = spawn(args, out);
  EXPECT_GT(pid, 0) << args[0];
  if (pid <= 0) return {};
  const int status = wait_or_kill(pid, std::chrono::duration<double>(-1), watched, appeared);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << args[0] << ": " << slurp(out);
  return std::chrono::steady_clock::now() - start;
}

// The training program (resume_training_child.cpp) run once through without
// backups (the reference), once with them (the same weights: saving changes
// nothing; how long a run takes, and when its first backup appears), then
// under BackupAndRestore SIGKILLed at random moments and started again until
// it finishes: its final weights file equals the reference byte for byte. A run that finishes before it was
// killed 3 times (the time a backup takes varies) is followed by another,
// from scratch, until 3 kills have happened; at least one start resumed from
// the middle of an epoch.
TEST_F(ResumeFiles, KilledWithSigkillAndRestartedEndsWithTheUninterruptedWeights) {
  const std::string child = XGRAD_RESUME_CHILD;
#ifdef __SANITIZE_ADDRESS__
  const std::string epochs = "3";  // of 64 batches; the sanitizers slow each ~20x
#else
  const std::string epochs = "10";
#endif
  run_through({child, epochs, path("reference.npy")}, path("reference.out"));
  std::chrono::duration<double> first_backup{};
  const auto duration = run_through({child, epochs, path("saving.npy"), path("saving")}, path("saving.out"),
                                    path("saving"), &first_backup);
  ASSERT_EQ(slurp(path("saving.npy")), slurp(path("reference.npy")));

  const auto seed = std::random_device{}();
  SCOPED_TRACE("kill moments drawn with seed " + std::to_string(seed) + ", an uninterrupted run takes " +
               std::to_string(duration.count()) + " s, its first backup appears after " +
               std::to_string(first_backup.count()) + " s");
  std::mt19937 random(seed);
  // Counted from the first backup, a little before it at times: the start
  // (sanitizers, data, model) takes a fixed time, on a fast machine much of
  // a short run, and a start killed before it writes a backup never resumes.
  std::uniform_real_distribution<double> moment(-0.03, 0.25);  // of a whole run
  int kills = 0, starts = 0, runs = 0, mid_epoch_resumes = 0;
  // Under load a run's kills may still all land before its first backup;
  // then another run is needed for a resume from the middle of an epoch.
  while ((kills < 3 || mid_epoch_resumes < 1) && runs < 8) {
    const std::string weights = path("resumed" + std::to_string(runs++) + ".npy");
    int kills_in_run = 0;
    for (bool finished = false; !finished;) {
      ASSERT_LT(starts, 8 * 6) << "no end after " << starts << " starts";  // 5 kills and 1 whole start a run
      const std::string out = path("start" + std::to_string(starts++) + ".out");
      const pid_t pid = spawn({child, epochs, weights, path("backup")}, out);
      ASSERT_GT(pid, 0);
      const double kill_at = std::max(0.001, first_backup.count() + moment(random) * duration.count());
      const auto limit = kills_in_run < 5 ? std::chrono::duration<double>(kill_at)
                                          : std::chrono::duration<double>(-1);
      const int status = wait_or_kill(pid, limit);
      if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
        ++kills_in_run;
      } else {
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << slurp(out);
        finished = true;
      }
      const std::string said = slurp(out);
      if (said.find("resumed at epoch") != std::string::npos && said.find(" batch 0\n") == std::string::npos)
        ++mid_epoch_resumes;
    }
    kills += kills_in_run;
    EXPECT_EQ(slurp(weights), slurp(path("reference.npy"))) << "after " << kills_in_run << " kills";
    EXPECT_FALSE(std::filesystem::exists(path("backup")));  // removed when fit ended
  }
  EXPECT_GE(kills, 3);
  EXPECT_GE(mid_epoch_resumes, 1);
}

}  // namespace
