#include "xgrad/nn/data.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "rows.hpp"

namespace xgrad::nn {

namespace {
// Uniform in [0, n) from the generator's raw 64-bit draws: draws below
// 2^64 mod n are rejected so that every residue is equally likely.
std::uint64_t uniform_below(std::uint64_t n) {
  const std::uint64_t threshold = (0 - n) % n;  // 2^64 mod n
  std::uint64_t r = generator()();
  while (r < threshold) r = generator()();
  return r % n;
}
}  // namespace

std::vector<std::size_t> random_permutation(std::size_t n) {
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = i;
  for (std::size_t i = n; i > 1; --i) {
    const auto j = static_cast<std::size_t>(uniform_below(i));
    std::swap(order[i - 1], order[j]);
  }
  return order;
}

template <typename X, typename Y>
DataLoader<X, Y>::DataLoader(Array<X> inputs, Array<Y> targets, DataLoaderOptions options)
    : inputs_(std::move(inputs)), targets_(std::move(targets)), options_(std::move(options)),
      seed_generator_(options_.seed().value_or(0)) {
  if (inputs_.dimension() == 0 || targets_.dimension() == 0 ||
      inputs_.shape()[0] != targets_.shape()[0]) {
    throw std::invalid_argument(
        "DataLoader: inputs of shape " + shape_to_string(inputs_.shape()) +
        " and targets of shape " + shape_to_string(targets_.shape()) +
        (inputs_.dimension() == 0 || targets_.dimension() == 0
             ? ": both need a sample axis (axis 0)"
             : ": different numbers of samples on axis 0 (" + std::to_string(inputs_.shape()[0]) +
                   " vs " + std::to_string(targets_.shape()[0]) + ")"));
  }
  if (options_.batch_size() == 0) {
    throw std::invalid_argument("DataLoader: batch_size must be positive, got 0");
  }
  samples_ = inputs_.shape()[0];
}

template <typename X, typename Y>
DataLoader<X, Y>& DataLoader<X, Y>::shard(std::size_t rank, std::size_t world_size) {
  if (world_size == 0 || rank >= world_size || world_size > samples_) {
    throw std::invalid_argument("DataLoader::shard: rank " + std::to_string(rank) +
                                " of world_size " + std::to_string(world_size) + " for " +
                                std::to_string(samples_) +
                                " samples: needs rank < world_size <= samples");
  }
  shard_rank_ = rank;
  shard_count_ = world_size;
  return *this;
}

template <typename X, typename Y>
std::size_t DataLoader<X, Y>::num_batches() const {
  const std::size_t batch_size = options_.batch_size(), samples = shard_size();
  return options_.drop_last() ? samples / batch_size : (samples + batch_size - 1) / batch_size;
}

template <typename X, typename Y>
typename DataLoader<X, Y>::Epoch DataLoader<X, Y>::epoch() const {
  return epoch(next_order());
}

template <typename X, typename Y>
std::vector<std::size_t> DataLoader<X, Y>::next_order() const {
  if (options_.shuffle()) {
    std::optional<GeneratorGuard> use_own;
    if (options_.seed()) use_own.emplace(seed_generator_);
    return random_permutation(samples_);
  }
  std::vector<std::size_t> order(samples_);
  for (std::size_t i = 0; i < samples_; ++i) order[i] = i;
  return order;
}

template <typename X, typename Y>
typename DataLoader<X, Y>::Epoch DataLoader<X, Y>::epoch(const std::vector<std::size_t>& order) const {
  const bool fits = order.size() == samples_ &&
                    std::all_of(order.begin(), order.end(), [&](std::size_t i) { return i < samples_; });
  if (!fits) {
    throw std::invalid_argument("DataLoader::epoch: an order of " + std::to_string(order.size()) +
                                " samples is not an order of the loader's " + std::to_string(samples_) +
                                " samples (each < " + std::to_string(samples_) + ")");
  }
  // Each sample once, as every epoch visits them: a repeat would leave
  // another sample out without a word.
  std::vector<bool> seen(samples_, false);
  for (std::size_t k = 0; k < order.size(); ++k) {
    if (seen[order[k]]) {
      throw std::invalid_argument("DataLoader::epoch: sample " + std::to_string(order[k]) +
                                  " is named twice in the order (again at position " + std::to_string(k) +
                                  "); an epoch visits each of the " + std::to_string(samples_) +
                                  " samples once");
    }
    seen[order[k]] = true;
  }
  if (shard_count_ == 1) return Epoch(this, order);
  std::vector<std::size_t> part(shard_size());
  for (std::size_t k = 0; k < part.size(); ++k) part[k] = order[shard_rank_ + k * shard_count_];
  return Epoch(this, std::move(part));
}

template <typename X, typename Y>
typename DataLoader<X, Y>::Batch DataLoader<X, Y>::batch(const std::vector<std::size_t>& indices) const {
  for (const std::size_t index : indices) {
    if (index >= samples_) {
      throw std::out_of_range("DataLoader: sample " + std::to_string(index) +
                              " is out of range for " + std::to_string(samples_) + " samples");
    }
  }
  return Batch{detail::gather_rows(inputs_, indices), detail::gather_rows(targets_, indices), indices};
}

template <typename X, typename Y>
std::size_t DataLoader<X, Y>::Epoch::size() const {
  return loader_->num_batches();
}

template <typename X, typename Y>
DataLoader<X, Y>::Epoch::iterator::iterator(const Epoch* epoch, std::size_t index)
    : epoch_(epoch), index_(index) {
  load();
}

template <typename X, typename Y>
void DataLoader<X, Y>::Epoch::iterator::load() {
  if (index_ >= epoch_->size()) {
    batch_ = Batch{};
    return;
  }
  const std::size_t batch_size = epoch_->loader_->options().batch_size();
  const auto& order = epoch_->order_;
  const std::size_t first = index_ * batch_size;
  const std::size_t last = std::min(first + batch_size, order.size());
  batch_ = epoch_->loader_->batch(std::vector<std::size_t>(
      order.begin() + static_cast<std::ptrdiff_t>(first), order.begin() + static_cast<std::ptrdiff_t>(last)));
}

template <typename X, typename Y>
typename DataLoader<X, Y>::Epoch::iterator& DataLoader<X, Y>::Epoch::iterator::operator++() {
  ++index_;
  load();
  return *this;
}

template class DataLoader<float, float>;
template class DataLoader<double, double>;
template class DataLoader<float, std::int64_t>;
template class DataLoader<double, std::int64_t>;

}  // namespace xgrad::nn
