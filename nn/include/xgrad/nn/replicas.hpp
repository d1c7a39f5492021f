#pragma once
// ReplicaContext: what the training loop needs to know of data-parallel
// training, without knowing how the processes talk to each other.
//
// In data-parallel training R processes (replicas) run the same program,
// each with the whole model and its own part of the data. nn::Trainer, given
// one through set_replicas(), has each replica train and evaluate on its own
// shard, makes the epoch's figures (loss, metrics) and evaluate's those over
// all replicas, so that every replica's callbacks decide alike
// (EarlyStopping), agrees on stop_training, and runs the callbacks that
// write output (progress bar, CSVLogger, ModelCheckpoint:
// Callback::root_only()) on replica 0 alone (trainer.hpp has the details).
// Averaging the gradients is the optimizer's part (Optimizer::set_gradient_hook).
// xgrad::dist implements it over MPI (dist::DataParallel sets up all of it).

#include <cstddef>
#include <vector>

namespace xgrad::nn {

class ReplicaContext {
 public:
  virtual ~ReplicaContext() = default;

  // This replica, 0 .. world_size() − 1.
  virtual std::size_t rank() const = 0;
  // R, the number of replicas.
  virtual std::size_t world_size() const = 0;
  // Replica 0, the one that writes the output.
  bool is_root() const { return rank() == 0; }
  // Replaces each of `values` by its mean over the replicas. Collective:
  // every replica calls it at the same point with as many values.
  virtual void average(std::vector<double>& values) const = 0;
};

}  // namespace xgrad::nn
