#pragma once
// DataParallel: one line that turns an nn::Trainer into data-parallel
// training over every rank of MPI_COMM_WORLD.
//
//   xgrad::dist::Environment mpi(argc, argv);          // first in main()
//   ...                                                // model, optimizer, trainer as before
//   xgrad::dist::DataParallel<float> parallel(trainer);
//   trainer.fit(x, y, nn::FitOptions().batch_size(32));  // 32 per rank
//
// While it lives: the trainer's optimizer averages the gradients over the
// ranks (DistributedOptimizer), and the trainer knows the ranks
// (Trainer::set_replicas): fit trains each rank on its shard of each epoch
// (batch_size is per rank, R · batch_size samples per step in all), the
// logs are the figures over all ranks, so callbacks decide alike, and the
// progress bar, CSVLogger and ModelCheckpoint run on rank 0 alone. Making it
// copies the model's parameters and the optimizer's state from rank `root`
// to every rank. It must not outlive the trainer.

#include <cstddef>
#include <memory>

#include "xgrad/dist/collectives.hpp"
#include "xgrad/dist/distributed_optimizer.hpp"
#include "xgrad/nn/trainer.hpp"

namespace xgrad::dist {

template <typename T = float>
class DataParallel {
 public:
  explicit DataParallel(nn::Trainer<T>& trainer, DistributedOptimizerOptions options = {},
                        std::size_t root = 0)
      : trainer_(trainer), optimizer_(trainer.optimizer(), options) {
    broadcast_parameters(trainer.model(), root);
    broadcast_optimizer_state(trainer.optimizer(), root);
    trainer.set_replicas(std::make_shared<Replicas>());
  }
  ~DataParallel() { trainer_.set_replicas(nullptr); }
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  DistributedOptimizer<T>& optimizer() { return optimizer_; }

 private:
  nn::Trainer<T>& trainer_;
  DistributedOptimizer<T> optimizer_;
};

}  // namespace xgrad::dist
