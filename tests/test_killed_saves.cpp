// Saves killed at random moments (issue 11: killed saves left full-size
// temporaries behind). A child process writes a .npz and a .weights.h5 in a
// loop, each version with every weight equal to the version number, and is
// SIGKILLed; 100 times, at random moments. After each kill both files load,
// each as one complete version, and the directory holds no temporary that
// the next save does not remove.

#include <gtest/gtest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "test_helpers.hpp"
#include "xgrad/nn/checkpoint.hpp"
#include "xgrad/nn/dense.hpp"
#include "xgrad/nn/keras_weights.hpp"
#include "xgrad/nn/sequential.hpp"
#include "xgrad/nn/simple_rnn.hpp"

namespace {

namespace fs = std::filesystem;
using xgrad::nn::Sequential;

// About 150 K weights: 0.6 MB a file.
std::unique_ptr<Sequential<float>> make_model() {
  auto model = std::make_unique<Sequential<float>>();
  model->add(std::make_shared<xgrad::nn::SimpleRNN<float>>(xgrad::nn::SimpleRNNOptions(64)));
  model->add(std::make_shared<xgrad::nn::Dense<float>>(xgrad::nn::DenseOptions(512)));
  model->build({-1, -1, 256});
  return model;
}

// The writer, in a forked child (no exec: starting it costs a millisecond,
// not a program's start-up under the sanitizers): saves `model` as version
// 1, 2, ... and writes one byte to `ready` after the first, until it is
// killed. The model is built before the fork, so the child computes nothing
// with BLAS.
[[noreturn]] void write_versions(Sequential<float>& model, const std::string& dir, int ready) {
  try {
    for (long version = 1;; ++version) {
      for (auto& parameter : model.parameters()) parameter.value().fill(static_cast<float>(version));
      xgrad::nn::save(model, dir + "/model.npz");
      xgrad::nn::save_keras_weights(model, dir + "/model.weights.h5");
      if (version == 1 && ::write(ready, "r", 1) != 1) ::_exit(3);
    }
  } catch (const std::exception& error) {
    std::fprintf(stderr, "writer: %s\n", error.what());
  }
  ::_exit(2);
}

// The version a loaded model holds: every weight equal to it, or -1.
float version_of(const Sequential<float>& model) {
  float version = -1;
  for (const auto& parameter : model.parameters()) {
    const auto& value = parameter.value();
    if (value.size() == 0) continue;
    if (version < 0) version = value.data()[0];
    if (!std::all_of(value.begin(), value.end(), [&](float v) { return v == version; })) return -1;
  }
  return version;
}

class KilledSaves : public xgrad::test::ScratchDirTest {
 protected:
  KilledSaves() : ScratchDirTest("xgrad_killed_saves_") {}

  // Starts the writer; returns once it has written both files once.
  pid_t start_writer(Sequential<float>& model) {
    int ready[2];
    EXPECT_EQ(::pipe2(ready, O_CLOEXEC), 0);
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) write_versions(model, dir_, ready[1]);
    ::close(ready[1]);
    pollfd waiting{ready[0], POLLIN, 0};
    char byte = 0;
    EXPECT_EQ(::poll(&waiting, 1, 60000), 1) << "the writer did not start";
    EXPECT_EQ(::read(ready[0], &byte, 1), 1) << "the writer failed";
    ::close(ready[0]);
    return pid;
  }

  // The names in the directory other than the two files.
  std::set<std::string> others() const {
    std::set<std::string> out;
    for (const auto& entry : fs::directory_iterator(dir_)) {
      const std::string name = entry.path().filename().string();
      if (name != "model.npz" && name != "model.weights.h5") out.insert(name);
    }
    return out;
  }
};

TEST_F(KilledSaves, FilesStayWholeAndNoTemporaryOutlivesTheWriter) {
  std::mt19937 random(20261206);
  std::uniform_real_distribution<double> periods(0, 1);
  auto model = make_model();
  auto written = make_model();
  int leftovers = 0;  // kills that left a temporary for the next save to remove
  std::set<float> versions_seen;
  const auto start = std::chrono::steady_clock::now();
  for (int kill = 0; kill < 100; ++kill) {
    // Killed within as long again as its first version took (fork to ready;
    // the next versions take less, so several are written).
    const auto started = std::chrono::steady_clock::now();
    const pid_t writer = start_writer(*written);
    std::this_thread::sleep_for((std::chrono::steady_clock::now() - started) * periods(random));
    ASSERT_EQ(::kill(writer, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(writer, &status, 0), writer);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "kill " << kill;

    xgrad::nn::load(*model, path("model.npz"));
    const float npz_version = version_of(*model);
    // In this process: the files are xgrad's own.
    xgrad::nn::load_keras_weights(*model, path("model.weights.h5"), xgrad::nn::KerasLoadOptions().trusted(true));
    const float h5_version = version_of(*model);
    ASSERT_GE(npz_version, 1) << "kill " << kill << ": the .npz mixes versions";
    ASSERT_GE(h5_version, 1) << "kill " << kill << ": the .weights.h5 mixes versions";
    versions_seen.insert(npz_version);
    // Whatever is left must be a temporary of the killed writer.
    const auto left = others();
    for (const auto& name : left)
      EXPECT_NE(name.find(".tmp" + std::to_string(writer) + "-"), std::string::npos) << name;
    leftovers += !left.empty();
  }
  // One more save of each removes what dead writers left.
  xgrad::nn::save(*model, path("model.npz"));
  xgrad::nn::save_keras_weights(*model, path("model.weights.h5"));
  EXPECT_TRUE(others().empty());
  // The kills landed in different versions (4 to 23 in the runs so far).
  EXPECT_GE(versions_seen.size(), 2u);
  std::cout << "100 kills in "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() << " s; "
            << leftovers << " left a temporary for the next save; versions of the .npz: " << versions_seen.size()
            << " (up to " << *versions_seen.rbegin() << ")\n";
}

// A temporary whose writer is gone is removed by the next save of the same
// file; one whose writer runs, and other files, are not.
TEST_F(KilledSaves, NextSaveRemovesTemporariesOfDeadWritersOnly) {
  const pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ASSERT_GT(dead, 0);
  ASSERT_EQ(::waitpid(dead, nullptr, 0), dead);
  const std::string stale = path("model.npz.tmp" + std::to_string(dead) + "-3");
  const std::string live = path("model.npz.tmp" + std::to_string(::getppid()) + "-0");
  const std::string other_file = path("other.npz.tmp" + std::to_string(dead) + "-0");
  for (const auto& name : {stale, live, other_file}) xgrad::test::spit(name, "partial");
  auto model = make_model();
  xgrad::nn::save(*model, path("model.npz"));
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(live));
  EXPECT_TRUE(fs::exists(other_file));
}

}  // namespace
