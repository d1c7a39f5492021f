// The writer of test_killed_saves: saves one model again and again, each
// version with every weight equal to the version number, as a checkpoint
// (.npz) and as Keras weights (.weights.h5), until it is killed.
//
//   xgrad_save_loop DIR     prints "ready" once both files exist

#include <cstdio>
#include <memory>
#include <string>

#include "xgrad/nn/checkpoint.hpp"
#include "xgrad/nn/dense.hpp"
#include "xgrad/nn/keras_weights.hpp"
#include "xgrad/nn/sequential.hpp"
#include "xgrad/nn/simple_rnn.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: xgrad_save_loop DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  xgrad::nn::Sequential<float> model;
  model.add(std::make_shared<xgrad::nn::SimpleRNN<float>>(xgrad::nn::SimpleRNNOptions(64)));
  model.add(std::make_shared<xgrad::nn::Dense<float>>(xgrad::nn::DenseOptions(512)));
  model.build({-1, -1, 256});  // about 150 K weights: 0.6 MB a file
  for (long version = 1;; ++version) {
    for (auto& parameter : model.parameters()) parameter.value().fill(static_cast<float>(version));
    xgrad::nn::save(model, dir + "/model.npz");
    xgrad::nn::save_keras_weights(model, dir + "/model.weights.h5");
    if (version == 1) {
      std::printf("ready\n");
      std::fflush(stdout);
    }
  }
}
