// Saves killed at random moments (issue 11: killed saves left full-size
// temporaries behind). xgrad_save_loop (tests/save_loop.cpp) writes a .npz
// and a .weights.h5 in a loop, each version with every weight equal to the
// version number; it is SIGKILLed 100 times at random moments. After each
// kill both files load, each as one complete version, and the directory
// holds no temporary that the next save does not remove.

#include <gtest/gtest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
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

extern char** environ;

namespace {

namespace fs = std::filesystem;
using xgrad::nn::Sequential;

// The model of save_loop.cpp.
std::unique_ptr<Sequential<float>> make_model() {
  auto model = std::make_unique<Sequential<float>>();
  model->add(std::make_shared<xgrad::nn::SimpleRNN<float>>(xgrad::nn::SimpleRNNOptions(64)));
  model->add(std::make_shared<xgrad::nn::Dense<float>>(xgrad::nn::DenseOptions(512)));
  model->build({-1, -1, 256});
  return model;
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
  pid_t start_writer() {
    int out[2];
    EXPECT_EQ(::pipe2(out, O_CLOEXEC), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    std::string program = XGRAD_SAVE_LOOP;
    std::string dir = dir_;
    char* argv[] = {program.data(), dir.data(), nullptr};
    pid_t pid = -1;
    EXPECT_EQ(::posix_spawn(&pid, program.c_str(), &actions, nullptr, argv, environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    pollfd ready{out[0], POLLIN, 0};
    char line[16] = {};
    EXPECT_EQ(::poll(&ready, 1, 60000), 1) << "the writer did not start";
    EXPECT_GT(::read(out[0], line, sizeof line - 1), 0);
    ::close(out[0]);
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
  std::uniform_int_distribution<int> delay_us(0, 20000);
  auto model = make_model();
  int leftovers = 0;  // kills that left a temporary for the next save to remove
  std::set<float> versions_seen;
  const auto start = std::chrono::steady_clock::now();
  for (int kill = 0; kill < 100; ++kill) {
    const pid_t writer = start_writer();
    std::this_thread::sleep_for(std::chrono::microseconds(delay_us(random)));
    ASSERT_EQ(::kill(writer, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(writer, &status, 0), writer);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "kill " << kill;

    xgrad::nn::load(*model, path("model.npz"));
    const float npz_version = version_of(*model);
    xgrad::nn::load_keras_weights(*model, path("model.weights.h5"));
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
  // The kills landed at different moments: the files hold several versions.
  EXPECT_GE(versions_seen.size(), 3u);
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
