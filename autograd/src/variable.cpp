#include "xgrad/autograd/variable.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <stdexcept>
#include <string>
#include <utility>

#include "anomaly_checks.hpp"
#include "xgrad/autograd/anomaly.hpp"
#include "xgrad/tensor/activations.hpp"

namespace xgrad {

namespace {
thread_local bool grad_enabled = true;
// Here, next to from_op and backward, which test it for every op.
thread_local bool anomaly_detection = false;
// Atomic so that backward() on separate graphs in separate threads is safe.
std::atomic<std::uint64_t> next_visit_mark{0};
// The visit mark of the backward() pass running on this thread.
thread_local std::uint64_t running_pass = 0;

// Sets running_pass for one pass, and back to the enclosing pass's (a
// backward() run from a gradient function) when it ends.
struct RunningPass {
  std::uint64_t previous;
  explicit RunningPass(std::uint64_t mark) : previous(running_pass) { running_pass = mark; }
  ~RunningPass() { running_pass = previous; }
  RunningPass(const RunningPass&) = delete;
  RunningPass& operator=(const RunningPass&) = delete;
};
}  // namespace

std::uint64_t detail::backward_pass_number() { return running_pass; }

namespace {
// Lists of at most this many inputs are kept (an op's few, not a stack's
// hundreds), at most kKeptInputLists of them per thread.
constexpr std::size_t kKeptInputListMaxCapacity = 8;
constexpr std::size_t kKeptInputLists = 4096;

template <typename T>
struct KeptInputLists {
  std::vector<std::vector<Variable<T>>> lists;
  KeptInputLists();
  ~KeptInputLists();
};
// Set when the thread's kept lists are destroyed: a node freed later in the
// thread's exit (a thread_local Variable) frees its list itself. A trivially
// destructible flag, readable until the thread's storage goes.
template <typename T>
thread_local bool kept_input_lists_gone = false;

template <typename T>
KeptInputLists<T>::KeptInputLists() {
  lists.reserve(kKeptInputLists);
}
template <typename T>
KeptInputLists<T>::~KeptInputLists() {
  kept_input_lists_gone<T> = true;
}

template <typename T>
KeptInputLists<T>* kept_input_lists() noexcept {
  if (kept_input_lists_gone<T>) return nullptr;
  thread_local KeptInputLists<T> kept;
  return &kept;
}
}  // namespace

template <typename T>
std::vector<Variable<T>> detail::reused_input_list() noexcept {
  KeptInputLists<T>* kept = kept_input_lists<T>();
  if (!kept || kept->lists.empty()) return {};
  std::vector<Variable<T>> list = std::move(kept->lists.back());
  kept->lists.pop_back();
  return list;
}

template <typename T>
void detail::keep_input_list(std::vector<Variable<T>>& list) noexcept {
  list.clear();
  if (list.capacity() == 0 || list.capacity() > kKeptInputListMaxCapacity) return;
  KeptInputLists<T>* kept = kept_input_lists<T>();
  if (!kept || kept->lists.size() == kKeptInputLists) return;
  kept->lists.push_back(std::move(list));  // within the reserved room: no allocation
}

namespace {
// The released nodes a thread keeps for its next results (uninitialized,
// make_node, result_taking_value), at most kKeptNodes of them, of at most
// kKeptShapes shapes: an op-by-op model's few (a timestep's input, its
// state, its gates). About 600 bytes each: their values' elements are freed
// (so the caching allocator still holds every array's memory and accounts
// for it).
constexpr std::size_t kKeptNodes = 1024;
constexpr std::size_t kKeptShapes = 8;

template <typename T>
struct ReleasedNodes {
  using NodeHandle = std::shared_ptr<detail::Node<T>>;
  // Through the arrays' allocator, whose blocks a warmed-up step finds kept.
  using Handles = std::vector<NodeHandle, memory::CachingAllocator<NodeHandle>>;
  struct Shelf {
    typename Array<T>::shape_type shape;  // of every node on it, here to be compared without loading them
    Handles nodes;                        // none: the shelf is free for another shape
  };
  std::array<Shelf, kKeptShapes> shelves;
  std::size_t count = 0;
  // Last handles being let go: their inputs are let go in this list's turn,
  // not by recursion, so a chain of 100,000 nodes does not overflow the stack.
  Handles pending;
  bool releasing = false;

  ReleasedNodes() { pending.reserve(64); }
  ~ReleasedNodes();

  // The nodes kept for `shape`; or, with or_free, a free shelf given that
  // shape when none holds it (null when none is free).
  Handles* shelf_for(const typename Array<T>::shape_type& shape, bool or_free) {
    for (Shelf& shelf : shelves)
      if (!shelf.nodes.empty() && shapes_equal(shelf.shape, shape)) return &shelf.nodes;
    if (!or_free) return nullptr;
    for (Shelf& shelf : shelves) {
      if (shelf.nodes.empty()) {
        shelf.shape = shape;
        return &shelf.nodes;
      }
    }
    return nullptr;
  }
};
// Set when the thread's kept nodes are destroyed, as kept_input_lists_gone.
template <typename T>
thread_local bool released_nodes_gone = false;

// The live kept nodes, or null: a trivially initialised pointer is one load,
// where each use of a thread_local object with a constructor checks that it
// was made (as the allocator's live_thread_cache).
template <typename T>
thread_local ReleasedNodes<T>* live_released_nodes = nullptr;

template <typename T>
ReleasedNodes<T>::~ReleasedNodes() {
  released_nodes_gone<T> = true;
  live_released_nodes<T> = nullptr;
}

template <typename T>
ReleasedNodes<T>* released_nodes() noexcept {
  if (live_released_nodes<T>) return live_released_nodes<T>;
  if (released_nodes_gone<T>) return nullptr;
  thread_local ReleasedNodes<T> kept;
  live_released_nodes<T> = &kept;
  return &kept;
}
}  // namespace

bool is_grad_enabled() { return grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(grad_enabled) { grad_enabled = false; }
NoGradGuard::~NoGradGuard() { grad_enabled = previous_; }

bool is_anomaly_detection_enabled() { return anomaly_detection; }
DetectAnomaly::DetectAnomaly() : previous_(anomaly_detection) { anomaly_detection = true; }
DetectAnomaly::~DetectAnomaly() { anomaly_detection = previous_; }

namespace detail {

template <typename T>
Node<T>::~Node() {
  // Take over the inputs of every node that dies with this one, so the chain
  // unwinds in this loop instead of in nested destructors. An input held
  // elsewhere too is only let go: a graph whose inputs live on (weights, the
  // data) then makes no list at all. One by one, so that an input named
  // twice (x + x) is let go once and taken over at its last naming.
  std::vector<std::shared_ptr<Node<T>>> pending;
  const auto take_dying = [&pending](std::vector<Variable<T>>& list) {
    for (auto& input : list) {
      std::shared_ptr<Node<T>> node = std::move(input.node_);
      if (node.use_count() == 1) pending.push_back(std::move(node));
    }
    keep_input_list(list);
  };
  take_dying(inputs);
  while (!pending.empty()) {
    std::shared_ptr<Node<T>> node = std::move(pending.back());
    pending.pop_back();
    take_dying(node->inputs);
  }
}

}  // namespace detail

template <typename T>
Variable<T>::Variable() : Variable(Array<T>::from_shape({0})) {}

template <typename T>
void Variable<T>::release(std::shared_ptr<detail::Node<T>>& handle) noexcept {
  ReleasedNodes<T>* kept = handle.use_count() == 1 ? released_nodes<T>() : nullptr;
  if (!kept) {
    handle.reset();
    return;
  }
  if (kept->releasing) {  // released while letting go of an earlier one: the loop below takes it
    try {
      kept->pending.push_back(std::move(handle));
    } catch (const std::bad_alloc&) {
      handle.reset();  // the node's destructor lets go of its inputs without recursion too
    }
    return;
  }
  kept->releasing = true;
  std::shared_ptr<detail::Node<T>> node_handle = std::move(handle);
  for (;;) {
    detail::Node<T>& node = *node_handle;
    for (auto& input : node.inputs) release(input.node_);
    detail::keep_input_list(node.inputs);
    // A value whose array a backward moved out (square's, into its input's
    // gradient) may not keep its shape: such a node is freed. So is one of
    // more than 4 axes, whose shape a shelf could not copy without a heap
    // allocation (xtensor's shape type holds 4 inline).
    const bool keeps_shape = node.value_taken || node.value.storage().size() == element_count(node.value.shape());
    const bool keepable = keeps_shape && node.value.dimension() <= 4 && kept->count < kKeptNodes;
    typename ReleasedNodes<T>::Handles* shelf = keepable ? kept->shelf_for(node.value.shape(), true) : nullptr;
    if (shelf) {
      node.clear_for_reuse();  // a node it releases in turn goes to pending
      try {
        shelf->push_back(std::move(node_handle));
        ++kept->count;
      } catch (const std::bad_alloc&) {
      }
    }
    node_handle.reset();  // frees the node when no shelf took it
    if (kept->pending.empty()) break;
    node_handle = std::move(kept->pending.back());
    kept->pending.pop_back();
  }
  kept->releasing = false;
}

template <typename T>
std::shared_ptr<detail::Node<T>> Variable<T>::released_node(const typename Array<T>::shape_type& shape) {
  ReleasedNodes<T>* kept = released_nodes<T>();
  auto* shelf = kept ? kept->shelf_for(shape, false) : nullptr;
  if (!shelf) return nullptr;
  std::shared_ptr<detail::Node<T>> node = std::move(shelf->back());
  shelf->pop_back();
  --kept->count;
  return node;
}

template <typename T>
Variable<T> Variable<T>::uninitialized(const typename Array<T>::shape_type& shape) {
  if (std::shared_ptr<detail::Node<T>> node = released_node(shape)) {
    node->value.storage().resize(element_count(shape));
    return Variable<T>(std::move(node));
  }
  return Variable<T>(new_node(Array<T>::from_shape(shape)));
}

template <typename T>
Variable<T> Variable<T>::result_taking_value() {
  detail::Node<T>& node = *node_;
  // A released node has no elements; a new one has elements of the shape,
  // which this node then holds until it is freed.
  std::shared_ptr<detail::Node<T>> result = released_node(node.value.shape());
  if (!result) result = new_node(Array<T>::from_shape(node.value.shape()));
  result->value.storage().swap(node.value.storage());
  node.value_taken = true;
  node.value_sum.reset();
  return Variable<T>(std::move(result));
}

template <typename T>
std::shared_ptr<detail::Node<T>> Variable<T>::new_node(Array<T>&& value) {
  // Through the arrays' allocator: an op-by-op graph frees hundreds of nodes
  // at once, and makes as many again at the next step.
  return std::allocate_shared<detail::Node<T>>(memory::CachingAllocator<detail::Node<T>>(),
                                               std::move(value));
}

template <typename T>
std::shared_ptr<detail::Node<T>> Variable<T>::make_node(Array<T>&& value) {
  // A kept node takes the elements alone: it has the shape already.
  if (std::shared_ptr<detail::Node<T>> node = released_node(value.shape())) {
    node->value.storage().swap(value.storage());
    return node;
  }
  return new_node(std::move(value));
}

template <typename T>
Variable<T>::Variable(Array<T> value, bool requires_grad) : node_(make_node(std::move(value))) {
  node_->requires_grad = requires_grad;
}

template <typename T>
Variable<T>& Variable<T>::set_requires_grad(bool requires_grad) {
  if (!is_leaf()) {
    throw std::logic_error(std::string("set_requires_grad: only leaves can change it; this value "
                                       "was made by ") + node_->op);
  }
  node_->requires_grad = requires_grad;
  return *this;
}

template <typename T>
const Array<T>& Variable<T>::grad() const {
  if (!node_->has_grad) {
    throw std::logic_error("grad: this " + shape_to_string(shape()) +
                           " value has no gradient (no backward() reached it since the last "
                           "zero_grad(), or it does not require a gradient)");
  }
  write_uniform_grad(*node_);
  return *node_->grad;
}

namespace {
// The node's gradient array with `value` in every element, in the storage it
// already has when that fits (zero_grad() keeps it for this).
template <typename T>
void fill_gradient(detail::Node<T>& node, T value) {
  Array<T>& grad = node.gradient_array_of_shape();
  fill_into(grad.data(), grad.size(), value);
}
}  // namespace

template <typename T>
void Variable<T>::write_uniform_grad(detail::Node<T>& node) {
  if (!node.has_grad || !node.grad_is_uniform) return;
  fill_gradient(node, node.uniform_grad);
  node.grad_is_uniform = false;
}

template <typename T>
void Variable<T>::add_uniform_grad(T value) {
  detail::Node<T>& node = *node_;
  if (!node.has_grad) {
    node.has_grad = true;
    node.grad_is_uniform = true;
    node.uniform_grad = value;
  } else if (node.grad_is_uniform) {
    node.uniform_grad += value;
  } else {
    T* g = node.grad->data();
    for (std::size_t i = 0, n = node.grad->size(); i < n; ++i) g[i] += value;
  }
}

template <typename T>
void Variable<T>::zero_grad() {
  // The storage stays for grad_buffer() to reuse: a train step forgets its
  // parameters' gradients and makes them again at once.
  node_->has_grad = false;
  node_->grad_is_uniform = false;
}

namespace {
template <typename T>
void check_grad_shape(const typename Array<T>::shape_type& shape, const Array<T>& g, const char* where) {
  if (!shapes_equal(g.shape(), shape)) {
    throw std::invalid_argument(std::string(where) + ": gradient of shape " +
                                shape_to_string(g.shape()) + " for a value of shape " +
                                shape_to_string(shape));
  }
}

// grad += g in grad's own storage: xtensor's += on a container evaluates
// into a new array and swaps it in (an allocation and a copy per
// accumulation, and a parameter accumulates once per timestep of a loop).
template <typename T>
void add_to_gradient(Array<T>& grad, const Array<T>& g) {
  add_into(grad.data(), g.data(), grad.data(), grad.size());
}
}  // namespace

template <typename T>
void Variable<T>::add_grad(const Array<T>& g) {
  check_grad_shape<T>(shape(), g, "add_grad");
  write_uniform_grad(*node_);
  if (node_->has_grad) {
    add_to_gradient(*node_->grad, g);
  } else {
    Array<T>& grad = node_->gradient_array_of_shape();
    std::copy(g.data(), g.data() + g.size(), grad.data());
    node_->has_grad = true;
  }
}

template <typename T>
void Variable<T>::add_grad(Array<T>&& g) {
  check_grad_shape<T>(shape(), g, "add_grad");
  write_uniform_grad(*node_);
  if (node_->has_grad) {
    add_to_gradient(*node_->grad, g);
  } else {
    node_->take_gradient(std::move(g));
    node_->has_grad = true;
  }
}

template <typename T>
Array<T>& Variable<T>::grad_buffer() {
  write_uniform_grad(*node_);
  if (!node_->has_grad) {
    fill_gradient(*node_, T(0));
    node_->has_grad = true;
  }
  return *node_->grad;
}

template <typename T>
void Variable<T>::backward(bool retain_graph) {
  if (size() != 1) {
    throw std::invalid_argument(
        "backward: called without a gradient on a value of shape " + shape_to_string(shape()) +
        "; only a single-element value (a loss) has an implied gradient of 1. Reduce it "
        "(sum, mean) or pass backward(grad_output)");
  }
  backward(Array<T>(shape(), T(1)), retain_graph);
}

namespace {
// backward()'s walk: the nodes in post-order and the depth-first stack.
// Owning handles: freeing an op's inputs must not destroy a node that is
// still to be visited. Kept per thread and emptied after each walk, so that
// a train step does not allocate them again (two of workload N's ten heap
// allocations per step); a backward() run from inside another (a gradient
// function's own) makes its own.
template <typename T>
struct WalkLists {
  std::vector<std::shared_ptr<detail::Node<T>>> order;
  std::vector<std::pair<std::shared_ptr<detail::Node<T>>, std::size_t>> stack;
  bool in_use = false;
};

template <typename T>
WalkLists<T>& walk_lists() {
  thread_local WalkLists<T> kept;
  thread_local std::vector<std::unique_ptr<WalkLists<T>>> nested;  // one per depth beyond the first
  if (!kept.in_use) return kept;
  for (auto& lists : nested)
    if (!lists->in_use) return *lists;
  nested.push_back(std::make_unique<WalkLists<T>>());
  return *nested.back();
}

// Marks the lists in use for one walk; empties them (releasing every node
// handle) when the walk ends, by return or by exception.
template <typename T>
struct ReleaseWalkLists {
  WalkLists<T>& lists;
  explicit ReleaseWalkLists(WalkLists<T>& l) : lists(l) { lists.in_use = true; }
  ~ReleaseWalkLists() {
    lists.order.clear();
    lists.stack.clear();
    lists.in_use = false;
  }
};
}  // namespace

template <typename T>
void Variable<T>::backward(const Array<T>& grad_output, bool retain_graph) {
  backward(Array<T>(grad_output), retain_graph);
}

template <typename T>
void Variable<T>::backward(Array<T>&& grad_output, bool retain_graph) {
  if (!node_->requires_grad) {
    throw std::logic_error(
        "backward: this value does not require a gradient: none of the values it was computed "
        "from has requires_grad set, or it was computed under NoGradGuard");
  }
  check_grad_shape<T>(shape(), grad_output, "backward");

  // Iterative depth-first walk: post-order gives the inputs before their
  // users, so the reversed order visits each node after all its users.
  const std::uint64_t mark = ++next_visit_mark;
  const RunningPass running{mark};
  WalkLists<T>& lists = walk_lists<T>();
  const ReleaseWalkLists<T> release{lists};
  auto& order = lists.order;
  auto& stack = lists.stack;
  stack.emplace_back(node_, 0);
  node_->visit_mark = mark;
  while (!stack.empty()) {
    auto& [node, next_input] = stack.back();
    if (node->graph_freed) {
      throw std::logic_error(std::string("backward: the graph through '") + node->op +
                             "' was freed by an earlier backward(); pass retain_graph = true "
                             "to the first backward() to go through it twice");
    }
    if (next_input < node->inputs.size()) {
      const auto& input = node->inputs[next_input++].node_;
      if (input->requires_grad && input->visit_mark != mark) {
        input->visit_mark = mark;
        stack.emplace_back(input, 0);
      }
    } else {
      order.push_back(std::move(node));
      stack.pop_back();
    }
  }

  const bool check = anomaly_detection;
  if (check) {
    detail::check_gradient_before_backward(grad_output, false);
    for (const auto& node : order)
      if (node->op == nullptr && node->has_grad) {
        write_uniform_grad(*node);
        detail::check_gradient_before_backward(*node->grad, true);
      }
  }
  add_grad(std::move(grad_output));
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    detail::Node<T>* node = it->get();
    if (node->op == nullptr) continue;  // a leaf keeps its gradient
    if (node->has_grad) {
      if (node->grad_is_uniform && node->uniform_grad_fn) {
        // The walk's order holds the only reference: no Variable and no
        // other graph can read the value after this (anomaly checks read its
        // shape for their message).
        const bool output_is_free = !retain_graph && !check && it->use_count() == 1;
        node->uniform_grad_fn(node->uniform_grad, node->value, output_is_free, node->inputs);
      } else {
        write_uniform_grad(*node);
        node->grad_fn(*node->grad, node->value, node->inputs);
      }
      if (check) detail::check_input_gradients(node->op, node->layer, node->shape(), node->inputs);
    }
    // Gradients of intermediate values are not kept (as in PyTorch).
    node->free_gradient_elements();
    node->has_grad = false;
    node->grad_is_uniform = false;
    if (!retain_graph) {
      detail::keep_input_list(node->inputs);  // empties it
      node->grad_fn = nullptr;
      node->graph_freed = true;
      Variable<T>::release(*it);  // its users are done with it: free it now, not at the end
    }
  }
}

template <typename T>
void Variable<T>::throw_value_taken() const {
  throw std::logic_error("value: this " + shape_to_string(shape()) + " value" +
                         (node_->op ? std::string(" made by ") + node_->op : std::string()) +
                         " was given to a later op as a temporary (an unnamed result or std::move), and that "
                         "op's result took its storage: it can no longer be read; name it and pass it "
                         "without std::move to keep it");
}

template <typename T>
T Variable<T>::item() const {
  if (size() != 1) {
    throw std::invalid_argument("Variable::item: the value has shape " + shape_to_string(shape()) + " (" +
                                std::to_string(size()) + " elements); item() needs exactly one element");
  }
  return *value().data();
}

template <typename T>
Variable<T> Variable<T>::detach() const {
  return Variable<T>(node_->value);
}

template <typename T>
Variable<T> Variable<T>::from_op(Variable<T> result, std::vector<Variable<T>> inputs,
                                 const char* op, GradFn<T> grad_fn) {
  const char* layer = nullptr;
  if (anomaly_detection) {
    layer = current_layer_path_interned();
    detail::check_forward_result(op, layer, result.node_->value, inputs);
  }
  if (any_requires_grad(inputs)) {
    result.node_->requires_grad = true;
    result.node_->op = op;
    result.node_->layer = layer;
    result.node_->inputs = std::move(inputs);
    result.node_->grad_fn = std::move(grad_fn);
  }
  return result;
}

template std::vector<Variable<float>> detail::reused_input_list<float>() noexcept;
template std::vector<Variable<double>> detail::reused_input_list<double>() noexcept;
template void detail::keep_input_list<float>(std::vector<Variable<float>>&) noexcept;
template void detail::keep_input_list<double>(std::vector<Variable<double>>&) noexcept;
template class Variable<float>;
template class Variable<double>;
template struct detail::Node<float>;
template struct detail::Node<double>;

}  // namespace xgrad
