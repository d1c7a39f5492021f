#pragma once
// DistributedOptimizer (Horovod's name): makes any nn optimizer average the
// gradients over every rank of MPI_COMM_WORLD at the start of each step(),
// so that all ranks, starting from the same weights, take the same step:
// the step of one process on all the ranks' samples together.
//
//   nn::Adam<float> adam(model.parameters());
//   dist::DistributedOptimizer<float> distributed(adam);  // adam.step() now averages first
//
// It installs itself as the optimizer's gradient hook
// (Optimizer::set_gradient_hook) while it lives: the optimizer, and a
// Trainer over it, are used as before. It must not outlive the optimizer.
//
// Each step, collectively on every rank, the parameters are packed in order
// into buckets of at most bucket_bytes (a larger parameter is a bucket of
// its own), each bucket summed with one MPI_Allreduce(MPI_IN_PLACE,
// MPI_SUM) in T (float or double), then divided by R while unpacked. The
// first bucket starts with a flag per parameter (has a gradient on this
// rank), and a parameter without a gradient here is carried as zeros: one
// with a gradient on some rank gets the average on every rank, so all ranks
// update the same parameters; one with a gradient on no rank is left
// without, and step() skips it everywhere (its state untouched), as a
// single process would.
// The weights stay bit-identical on every rank: MPI's reductions hand every
// rank the same sum (checked by the tests), and the update is the same
// arithmetic on the same numbers.

#include <cstddef>
#include <memory>

#include "xgrad/nn/optimizers.hpp"
#include "xgrad/nn/options.hpp"

namespace xgrad::dist {

struct DistributedOptimizerOptions {
  // The most bytes one MPI_Allreduce carries (PyTorch DDP: 25 MiB); > 0.
  XGRAD_ARG(std::size_t, bucket_bytes) = std::size_t(25) << 20;
};

template <typename T = float>
class DistributedOptimizer {
 public:
  // Throws std::invalid_argument for bucket_bytes 0 or an optimizer that
  // already has a gradient hook, std::logic_error when MPI is not initialized.
  explicit DistributedOptimizer(nn::Optimizer<T>& optimizer, DistributedOptimizerOptions options = {});
  // Removes the hook: the optimizer steps on its own gradients again.
  ~DistributedOptimizer();
  DistributedOptimizer(const DistributedOptimizer&) = delete;
  DistributedOptimizer& operator=(const DistributedOptimizer&) = delete;

  // The wrapped optimizer's step() (averaging first) and zero_grad().
  void step() { optimizer_.step(); }
  void zero_grad() { optimizer_.zero_grad(); }
  nn::Optimizer<T>& optimizer() const { return optimizer_; }
  const DistributedOptimizerOptions& options() const { return options_; }

  // Figures of the averaging: of the last step (buckets, gradient elements
  // summed, wall seconds from packing to the unpacked averages), and the
  // seconds and steps since the wrapper was made.
  struct Statistics {
    std::size_t buckets = 0, elements = 0;
    double seconds = 0.0;
    double total_seconds = 0.0;
    std::size_t steps = 0;
  };
  const Statistics& statistics() const;

 private:
  struct Averager;

  nn::Optimizer<T>& optimizer_;
  DistributedOptimizerOptions options_;
  std::shared_ptr<Averager> averager_;
};

extern template class DistributedOptimizer<float>;
extern template class DistributedOptimizer<double>;

}  // namespace xgrad::dist
