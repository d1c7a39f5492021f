#include "xgrad/dist/distributed_optimizer.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "mpi_support.hpp"
#include "xgrad/dist/environment.hpp"

namespace xgrad::dist {

// The averaging itself; shared by the wrapper and the optimizer's hook.
template <typename T>
struct DistributedOptimizer<T>::Averager {
  std::size_t bucket_elements = 0;  // bucket_bytes / sizeof(T), at least 1
  double world_size = 1.0;
  std::vector<T> bucket;  // packed flags and gradients, reused every step
  Statistics statistics;

  // One MPI_Allreduce per bucket; the first bucket starts with a flag per
  // parameter (1: it has a gradient on this rank), so that knowing which
  // parameters have one on some rank costs no call of its own. Every
  // parameter is carried, zeros where this rank has no gradient.
  void average(const std::vector<Variable<T>>& parameters) {
    const auto start = std::chrono::steady_clock::now();
    const std::size_t count = parameters.size();
    std::vector<T> flags(count);
    std::vector<std::size_t> first_of_bucket{0};  // parameter indices where buckets start
    std::vector<std::size_t> bucket_sizes;
    std::size_t filled = count;  // the flags lead the first bucket
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t size = parameters[i].value().size();
      if (filled > 0 && filled + size > bucket_elements && i > first_of_bucket.back()) {
        bucket_sizes.push_back(filled);
        first_of_bucket.push_back(i);
        filled = 0;
      }
      filled += size;
    }
    bucket_sizes.push_back(filled);
    first_of_bucket.push_back(count);

    std::size_t elements = 0;
    for (std::size_t b = 0; b < bucket_sizes.size(); ++b) {
      bucket.resize(bucket_sizes[b]);
      T* at = bucket.data();
      if (b == 0) {
        for (std::size_t i = 0; i < count; ++i) *at++ = parameters[i].has_grad() ? T(1) : T(0);
      }
      for (std::size_t i = first_of_bucket[b]; i < first_of_bucket[b + 1]; ++i) {
        const std::size_t size = parameters[i].value().size();
        if (parameters[i].has_grad()) {
          std::copy_n(parameters[i].grad().data(), size, at);
        } else {
          std::fill_n(at, size, T(0));
        }
        at += size;
      }
      detail::allreduce(bucket.data(), bucket.size(), MPI_SUM);
      if (b == 0) std::copy_n(bucket.data(), count, flags.data());
      // The averages, to the parameters with a gradient on some rank (on
      // this rank too, as zeros plus the others'); the rest keep none.
      const T scale = static_cast<T>(1.0 / world_size);
      const T* from = bucket.data() + (b == 0 ? count : 0);
      for (std::size_t i = first_of_bucket[b]; i < first_of_bucket[b + 1]; ++i) {
        Variable<T> parameter = parameters[i];  // shallow: the same gradient
        const std::size_t size = parameter.value().size();
        if (flags[i] > T(0)) {
          T* g = parameter.grad_buffer().data();  // zeros first where this rank had none
          for (std::size_t k = 0; k < size; ++k) g[k] = from[k] * scale;
        }
        from += size;
        elements += size;
      }
    }
    const std::size_t buckets = bucket_sizes.size();

    statistics.buckets = buckets;
    statistics.elements = elements;
    statistics.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    statistics.total_seconds += statistics.seconds;
    ++statistics.steps;
  }
};

template <typename T>
DistributedOptimizer<T>::DistributedOptimizer(nn::Optimizer<T>& optimizer,
                                              DistributedOptimizerOptions options)
    : optimizer_(optimizer), options_(options), averager_(std::make_shared<Averager>()) {
  detail::require_mpi("dist::DistributedOptimizer");
  if (options_.bucket_bytes() == 0) {
    throw std::invalid_argument("dist::DistributedOptimizer: bucket_bytes must be positive, got 0");
  }
  if (optimizer_.gradient_hook()) {
    throw std::invalid_argument(std::string("dist::DistributedOptimizer: the ") + optimizer_.name() +
                                " optimizer already has a gradient hook (wrapped twice?)");
  }
  averager_->bucket_elements = std::max<std::size_t>(1, options_.bucket_bytes() / sizeof(T));
  averager_->world_size = static_cast<double>(world_size());
  optimizer_.set_gradient_hook(
      [averager = averager_](const std::vector<Variable<T>>& parameters) { averager->average(parameters); });
}

template <typename T>
DistributedOptimizer<T>::~DistributedOptimizer() {
  optimizer_.set_gradient_hook(nullptr);
}

template <typename T>
const typename DistributedOptimizer<T>::Statistics& DistributedOptimizer<T>::statistics() const {
  return averager_->statistics;
}

template class DistributedOptimizer<float>;
template class DistributedOptimizer<double>;

}  // namespace xgrad::dist
