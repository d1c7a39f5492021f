// The training program test_resume's kill test runs, SIGKILLs at random
// moments and runs again until it finishes:
//
//   resume_training_child EPOCHS WEIGHTS.npy [BACKUP_DIR]
//
// It trains a small model with every kind of randomness a run has (shuffling
// and unseeded dropout from xgrad::generator(), a seeded Dropout's own
// generator, Adam's moments, a learning rate a LearningRateScheduler changes
// from the current one each epoch) and writes the final weights, all
// parameters' float32 values one after the other, to WEIGHTS.npy. With
// BACKUP_DIR it runs under BackupAndRestore (a backup every 10 batches, 64
// to an epoch, so mostly in the middle of one) and prints "resumed at epoch E batch B"
// as it starts when it continues from a backup.
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>

#include <xgrad/xgrad.hpp>

int main(int argc, char** argv) {
  namespace nn = xgrad::nn;
  const std::size_t epochs = argc >= 3 ? std::strtoul(argv[1], nullptr, 10) : 0;
  if ((argc != 3 && argc != 4) || epochs == 0) {
    std::cerr << "usage: resume_training_child EPOCHS WEIGHTS.npy [BACKUP_DIR]\n";
    return 2;
  }
  try {
    xgrad::set_num_threads(1);  // the same products in every run
    xgrad::manual_seed(11);
    const xgrad::Array<float> x = xgrad::uniform<float>({1024, 20, 3}, -1.f, 1.f);
    xgrad::Array<float> y = xt::sum(x, {1, 2});
    y.reshape({1024, 1});

    nn::Sequential<float> model;
    model.add(std::make_shared<nn::SimpleRNN<float>>(nn::SimpleRNNOptions(48).dropout(0.1)));
    model.add(std::make_shared<nn::Dropout<float>>(nn::DropoutOptions(0.2).seed(3)));
    model.add(std::make_shared<nn::Dense<float>>(nn::DenseOptions(1)));
    model.build({-1, 20, 3});
    nn::Adam<float> optimizer(model.parameters(), nn::AdamOptions().learning_rate(3e-3));
    nn::Trainer<float> trainer(model, optimizer, "mse", {nn::make_metric<float>("mae")});

    nn::Callbacks callbacks;
    struct SayWhereItResumed : nn::Callback {
      std::shared_ptr<nn::BackupAndRestore> backup;
      void on_train_begin(nn::Logs&) override {
        if (const auto& at = backup->restored())
          std::cout << "resumed at epoch " << at->epoch << " batch " << at->batch << std::endl;
      }
    };
    if (argc == 4) {
      auto backup = std::make_shared<nn::BackupAndRestore>(nn::BackupAndRestoreOptions(argv[3]).save_freq(10));
      auto say = std::make_shared<SayWhereItResumed>();
      say->backup = backup;
      callbacks.push_back(backup);
      callbacks.push_back(say);
    }
    // Depends on the current rate: applied twice in one epoch, it would change the run.
    callbacks.push_back(std::make_shared<nn::LearningRateScheduler>(
        [](std::size_t epoch, double rate) { return epoch == 0 ? rate : rate * 0.8; }));
    trainer.fit(x, y, nn::FitOptions().epochs(epochs).batch_size(16).verbose(0).callbacks(callbacks));

    std::size_t count = 0;
    for (const auto& parameter : model.parameters()) count += parameter.size();
    xgrad::Array<float> weights = xgrad::Array<float>::from_shape({count});
    float* at = weights.data();
    for (const auto& parameter : model.parameters())
      at = std::copy_n(parameter.value().data(), parameter.size(), at);
    xgrad::write_npy(argv[2], weights);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "resume_training_child: " << e.what() << "\n";
    return 1;
  }
}
