#pragma once
// The MPI operations of data-parallel training on a model and an optimizer,
// over every rank of MPI_COMM_WORLD (a dist::Environment must be alive).
// Each is collective: every rank calls it at the same point with a model (or
// optimizer) of the same structure, else it throws std::invalid_argument
// naming the mismatch on the ranks that can see it (the element counts
// are compared first, with one small allreduce).

#include <cstddef>
#include <memory>
#include <vector>

#include "xgrad/nn/module.hpp"
#include "xgrad/nn/optimizers.hpp"
#include "xgrad/nn/replicas.hpp"

namespace xgrad::dist {

// Copies every parameter's values from rank `root` to every rank (packed into
// one buffer, one MPI_Bcast per 2^30 elements), so that all start alike.
template <typename T>
void broadcast_parameters(const nn::Module<T>& module, std::size_t root = 0);

// Copies the optimizer's state (Optimizer::state(): every slot, the step
// and skipped-step counts, the constant learning rate; a schedule is a
// function of the step count) from rank `root` and loads it
// (Optimizer::load_state). The optimizers must be of the same kind and
// options on every rank.
template <typename T>
void broadcast_optimizer_state(nn::Optimizer<T>& optimizer, std::size_t root = 0);

// Whether every parameter is bit for bit the same on every rank (each rank
// compares its bytes with root's); the same answer on every rank.
template <typename T>
bool identical_on_every_rank(const nn::Module<T>& module);

// The same for an optimizer's state(): its slots, step counts and learning rate.
template <typename T>
bool identical_on_every_rank(const nn::Optimizer<T>& optimizer);

// nn::ReplicaContext over the ranks of MPI_COMM_WORLD, for
// nn::Trainer::set_replicas (dist::DataParallel sets it).
class Replicas : public nn::ReplicaContext {
 public:
  // Throws std::logic_error when MPI is not initialized.
  Replicas();
  std::size_t rank() const override { return rank_; }
  std::size_t world_size() const override { return world_size_; }
  // One MPI_Allreduce (sum, in place) of the values, divided by R.
  void average(std::vector<double>& values) const override;

 private:
  std::size_t rank_ = 0, world_size_ = 1;
};

}  // namespace xgrad::dist
