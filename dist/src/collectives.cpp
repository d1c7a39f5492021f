#include "xgrad/dist/collectives.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "mpi_support.hpp"
#include "xgrad/dist/environment.hpp"

namespace xgrad::dist {

namespace {

// Throws std::invalid_argument on every rank unless every rank has the same
// `counts` (element counts, array counts, ...), naming `what` and this
// rank's counts: one allreduce of their minima and maxima.
void check_same_counts(const std::string& what, const std::vector<unsigned long long>& counts) {
  // One MPI_MAX over [counts..., ~counts...]: the maxima and (through the
  // complements) the minima, equal only when every rank has the same.
  std::vector<unsigned long long> bounds;
  bounds.insert(bounds.end(), counts.begin(), counts.end());
  const std::size_t half = bounds.size();
  for (std::size_t i = 0; i < half; ++i) bounds.push_back(~bounds[i]);
  // Ranks with fewer entries would mismatch the reduction's length: the
  // lengths themselves are agreed on first.
  unsigned long long lengths[2] = {half, ~static_cast<unsigned long long>(half)};
  detail::allreduce(lengths, 2, MPI_MAX);
  bool same = lengths[0] == half && ~lengths[1] == half;
  if (same) {
    detail::allreduce(bounds.data(), bounds.size(), MPI_MAX);
    for (std::size_t i = 0; i < half; ++i) same = same && bounds[i] == ~bounds[half + i];
  }
  if (!same) {
    std::string listed;
    for (const auto c : counts) listed += (listed.empty() ? "" : ", ") + std::to_string(c);
    throw std::invalid_argument(what + " differ between the ranks; rank " +
                                std::to_string(dist::rank()) + " has (" + listed + ")");
  }
}

void check_root(const char* where, std::size_t root) {
  detail::require_mpi(where);
  if (root >= dist::world_size()) {
    throw std::invalid_argument(std::string(where) + ": root " + std::to_string(root) +
                                " is not a rank of the " + std::to_string(dist::world_size()) +
                                " ranks");
  }
}

template <typename T>
std::vector<unsigned long long> sizes_of(const std::vector<const Array<T>*>& arrays) {
  std::vector<unsigned long long> sizes;
  for (const auto* array : arrays) sizes.push_back(array->size());
  return sizes;
}

// The arrays' elements from root, through one packed buffer.
template <typename T>
void broadcast_arrays(const std::vector<Array<T>*>& arrays, std::size_t root) {
  std::size_t total = 0;
  for (const auto* array : arrays) total += array->size();
  std::vector<T> buffer(total);
  const bool is_root = dist::rank() == root;
  if (is_root) {
    T* at = buffer.data();
    for (const auto* array : arrays) at = std::copy_n(array->data(), array->size(), at);
  }
  detail::broadcast(buffer.data(), total, root);
  if (!is_root) {
    const T* at = buffer.data();
    for (auto* array : arrays) {
      std::copy_n(at, array->size(), array->data());
      at += array->size();
    }
  }
}

// Whether the arrays' bytes equal root's (rank 0) on every rank.
template <typename T>
bool arrays_identical(const std::vector<const Array<T>*>& arrays) {
  std::size_t total = 0;
  for (const auto* array : arrays) total += array->size();
  std::vector<T> mine(total), roots;
  T* at = mine.data();
  for (const auto* array : arrays) at = std::copy_n(array->data(), array->size(), at);
  roots = mine;
  detail::broadcast(roots.data(), total, 0);
  unsigned char differs = std::memcmp(mine.data(), roots.data(), total * sizeof(T)) != 0;
  detail::allreduce(&differs, 1, MPI_MAX);
  return differs == 0;
}

template <typename T>
std::vector<const Array<T>*> values_of(const nn::Module<T>& module,
                                       std::vector<Variable<T>>& parameters) {
  parameters = module.parameters();
  std::vector<const Array<T>*> values;
  for (auto& parameter : parameters) values.push_back(&parameter.value());
  return values;
}

}  // namespace

template <typename T>
void broadcast_parameters(const nn::Module<T>& module, std::size_t root) {
  check_root("dist::broadcast_parameters", root);
  std::vector<Variable<T>> parameters;
  const std::vector<const Array<T>*> values = values_of(module, parameters);
  check_same_counts("dist::broadcast_parameters: the parameters' sizes of module '" + module.name() + "'",
                    sizes_of(values));
  std::vector<Array<T>*> targets;
  for (auto& parameter : parameters) targets.push_back(&parameter.value());
  broadcast_arrays(targets, root);
}

namespace {
// The arrays of an optimizer's state() (its slots, in their fixed order).
template <typename T>
std::vector<const Array<T>*> slot_arrays(const typename nn::Optimizer<T>::State& state) {
  std::vector<const Array<T>*> arrays;
  for (const auto& slot : state.slots) arrays.push_back(&slot.second);
  return arrays;
}
}  // namespace

template <typename T>
void broadcast_optimizer_state(nn::Optimizer<T>& optimizer, std::size_t root) {
  check_root("dist::broadcast_optimizer_state", root);
  // Each rank's own state gives the slots' names and shapes; root's values
  // replace its values, then load_state puts the whole state back (and
  // checks it, as for a saved run).
  typename nn::Optimizer<T>::State state = optimizer.state();
  check_same_counts(std::string("dist::broadcast_optimizer_state: the state sizes of ") +
                        optimizer.name(),
                    sizes_of(slot_arrays<T>(state)));
  std::vector<Array<T>*> targets;
  for (auto& slot : state.slots) targets.push_back(&slot.second);
  broadcast_arrays(targets, root);
  unsigned long long counts[2] = {state.iterations, state.skipped_steps};
  detail::broadcast(counts, 2, root);
  state.iterations = static_cast<std::size_t>(counts[0]);
  state.skipped_steps = static_cast<std::size_t>(counts[1]);
  detail::broadcast(&state.learning_rate, 1, root);
  optimizer.load_state(state);
}

template <typename T>
bool identical_on_every_rank(const nn::Module<T>& module) {
  detail::require_mpi("dist::identical_on_every_rank");
  std::vector<Variable<T>> parameters;
  const std::vector<const Array<T>*> values = values_of(module, parameters);
  check_same_counts("dist::identical_on_every_rank: the parameters' sizes of module '" + module.name() + "'",
                    sizes_of(values));
  return arrays_identical(values);
}

template <typename T>
bool identical_on_every_rank(const nn::Optimizer<T>& optimizer) {
  detail::require_mpi("dist::identical_on_every_rank");
  const typename nn::Optimizer<T>::State state = optimizer.state();
  const std::vector<const Array<T>*> arrays = slot_arrays<T>(state);
  check_same_counts(std::string("dist::identical_on_every_rank: the state sizes of ") + optimizer.name(),
                    sizes_of(arrays));
  Array<double> scalars = {static_cast<double>(state.iterations),
                           static_cast<double>(state.skipped_steps), optimizer.learning_rate()};
  std::vector<const Array<double>*> scalar_arrays{&scalars};
  const bool scalars_same = arrays_identical(scalar_arrays);
  return arrays_identical(arrays) && scalars_same;
}

Replicas::Replicas() {
  rank_ = dist::rank();
  world_size_ = dist::world_size();
}

void Replicas::average(std::vector<double>& values) const {
  detail::allreduce(values.data(), values.size(), MPI_SUM);
  const double count = static_cast<double>(world_size_);
  for (double& value : values) value /= count;
}

#define XGRAD_DIST_COLLECTIVES(T)                                                   \
  template void broadcast_parameters<T>(const nn::Module<T>&, std::size_t);         \
  template void broadcast_optimizer_state<T>(nn::Optimizer<T>&, std::size_t);       \
  template bool identical_on_every_rank<T>(const nn::Module<T>&);                   \
  template bool identical_on_every_rank<T>(const nn::Optimizer<T>&);
XGRAD_DIST_COLLECTIVES(float)
XGRAD_DIST_COLLECTIVES(double)
#undef XGRAD_DIST_COLLECTIVES

}  // namespace xgrad::dist
