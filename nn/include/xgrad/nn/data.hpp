#pragma once
// DataLoader: mini-batches over in-memory arrays, as Keras' fit(x, y,
// batch_size, shuffle) walks its data.
//
// Dimension letters: N samples, b the samples of one batch (batch_size, or
// fewer in the last batch).
//
//   inputs  [N, ...]  (for a SimpleRNN [N, T, F])
//   targets [N, ...]  (float values [N, U], or int64 class labels [N])
//
//   nn::DataLoader<float> loader(x, y, nn::DataLoaderOptions(32));
//   for (int e = 0; e < epochs; ++e)
//     for (auto& batch : loader.epoch()) {  // batch.inputs [b, T, F], batch.targets [b, U]
//       Variable<float> out = model(Variable<float>(batch.inputs));
//       ...
//     }
//
//   nn::DataLoader<float, std::int64_t> labelled(x, labels);  // targets [N] of int64
//
// Every epoch visits each sample exactly once, in ceil(N / batch_size)
// batches; the last one keeps the remainder (N % batch_size samples) when N
// is not a multiple of batch_size. With drop_last, that smaller last batch is
// left out: floor(N / batch_size) batches, each of batch_size samples (none
// when N < batch_size). With shuffle, each call of epoch() draws a
// new order from xgrad::generator() (so manual_seed(s) before the first
// epoch makes the whole sequence of orders reproducible), or, with a seed,
// from the loader's own generator, seeded once at construction: the orders
// are then the same whatever else draws random numbers.
//
// Data-parallel training: shard(rank, R) gives each of R replicas a disjoint
// part of every epoch (see there); then "N" above is shard_size().

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <utility>
#include <vector>

#include "xgrad/nn/options.hpp"
#include "xgrad/tensor/tensor.hpp"

namespace xgrad::nn {

struct DataLoaderOptions {
  DataLoaderOptions() = default;
  explicit DataLoaderOptions(std::size_t batch_size) : batch_size_(batch_size) {}

  XGRAD_ARG(std::size_t, batch_size) = 32;  // Keras fit(): 32; > 0
  XGRAD_ARG(bool, shuffle) = true;          // Keras fit(): True; a new order every epoch
  XGRAD_ARG(bool, drop_last) = false;       // PyTorch's DataLoader: False (Keras has none)
  XGRAD_ARG(std::optional<std::uint64_t>, seed);  // tf.data shuffle's seed: None (xgrad::generator())
};

// A uniformly random order of 0 .. n-1 (Fisher-Yates), drawn from
// xgrad::generator() with its own bounded integers, so it is the same with
// every standard library.
std::vector<std::size_t> random_permutation(std::size_t n);

template <typename X = float, typename Y = X>
class DataLoader {
 public:
  struct Batch {
    Array<X> inputs;                   // [b, ...]: inputs[indices[i]] for each i
    Array<Y> targets;                  // [b, ...]: targets[indices[i]]
    std::vector<std::size_t> indices;  // the samples, as positions on axis 0 of the data
  };

  // One pass over the data in one order. Iterating it makes each batch as it
  // is reached; it refers to its loader, which must outlive it.
  class Epoch {
   public:
    class iterator {
     public:
      using iterator_category = std::input_iterator_tag;
      using value_type = Batch;
      using difference_type = std::ptrdiff_t;
      using pointer = Batch*;
      using reference = Batch&;

      // The current batch; its arrays may be moved from.
      Batch& operator*() { return batch_; }
      const Batch& operator*() const { return batch_; }
      Batch* operator->() { return &batch_; }
      const Batch* operator->() const { return &batch_; }
      iterator& operator++();
      bool operator==(const iterator& other) const { return index_ == other.index_; }
      bool operator!=(const iterator& other) const { return index_ != other.index_; }

     private:
      friend class Epoch;
      iterator(const Epoch* epoch, std::size_t index);
      void load();

      const Epoch* epoch_;
      std::size_t index_;
      Batch batch_;
    };

    iterator begin() const { return iterator(this, 0); }
    iterator end() const { return iterator(this, size()); }
    // The number of batches (the loader's num_batches()).
    std::size_t size() const;
    // The samples in the order this epoch visits them.
    const std::vector<std::size_t>& order() const { return order_; }

   private:
    friend class DataLoader;
    Epoch(const DataLoader* loader, std::vector<std::size_t> order)
        : loader_(loader), order_(std::move(order)) {}

    const DataLoader* loader_;
    std::vector<std::size_t> order_;
  };

  // Keeps copies of (or, moved in, takes) the arrays. Throws
  // std::invalid_argument, naming both shapes, when inputs and targets have
  // different sizes N on axis 0, when either has rank 0, or when batch_size is 0.
  DataLoader(Array<X> inputs, Array<Y> targets, DataLoaderOptions options = {});

  // The next epoch: epoch(next_order()).
  Epoch epoch() const;
  // The order of all N samples for the next epoch (which, when sharded,
  // visits this replica's part of it): with shuffle, a new random order
  // (one draw from the generator); else 0 .. N-1. The same on every replica.
  std::vector<std::size_t> next_order() const;
  // An epoch in a given order of all N samples, such as a saved run's
  // (next_order() of that epoch); when sharded, this replica's part of it.
  // Throws std::invalid_argument unless `order` holds each of the N samples
  // once.
  Epoch epoch(const std::vector<std::size_t>& order) const;

  // The batch of the given samples, in that order. Throws std::out_of_range
  // for an index >= N.
  Batch batch(const std::vector<std::size_t>& indices) const;

  // Data-parallel training over R = world_size replicas: from now on each
  // epoch() visits only this replica's part of the epoch's order. Every
  // replica draws the same order (the same seed, DataLoaderOptions::seed or
  // xgrad::generator()'s, and the same draws before, which the same program
  // on every replica makes) and takes the samples at
  // positions rank, rank + R, rank + 2R, ... of it (as PyTorch's
  // DistributedSampler): disjoint parts of floor(N / R) samples each. The
  // last N mod R positions of each order are dropped, so that every replica
  // has as many batches; with shuffle they are different samples each
  // epoch. The k-th batches of the R replicas together hold the samples of
  // the k-th batch of an unsharded loader with batch_size · R. shard(0, 1)
  // is the whole data again. Throws std::invalid_argument unless
  // rank < world_size <= N.
  DataLoader& shard(std::size_t rank, std::size_t world_size);
  std::size_t shard_rank() const { return shard_rank_; }
  std::size_t shard_count() const { return shard_count_; }

  // N.
  std::size_t size() const { return samples_; }
  // The samples one epoch visits: N, or floor(N / R) when sharded.
  std::size_t shard_size() const { return samples_ / shard_count_; }
  // Batches per epoch: ceil(shard_size() / batch_size), or floor with drop_last.
  std::size_t num_batches() const;
  const DataLoaderOptions& options() const { return options_; }
  const Array<X>& inputs() const { return inputs_; }
  const Array<Y>& targets() const { return targets_; }
  // The loader's own shuffling generator (with a seed), whose state a saved
  // run keeps; null without a seed.
  Generator* seed_generator() { return options_.seed() ? &seed_generator_ : nullptr; }

 private:
  Array<X> inputs_;
  Array<Y> targets_;
  DataLoaderOptions options_;
  std::size_t samples_ = 0;
  std::size_t shard_rank_ = 0, shard_count_ = 1;
  mutable Generator seed_generator_;  // used only with a seed; epoch() draws from it
};

extern template class DataLoader<float, float>;
extern template class DataLoader<double, double>;
extern template class DataLoader<float, std::int64_t>;
extern template class DataLoader<double, std::int64_t>;

}  // namespace xgrad::nn
