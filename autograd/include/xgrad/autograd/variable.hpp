#pragma once
// Variable: a value in the reverse-mode graph.
//
// A Variable is a cheap handle over a shared node holding the value, the
// gradient, whether a gradient is wanted, and (for results of ops) the inputs
// and the function that sends a gradient back to them. Copies are shallow:
// `Variable b = a;` names the same node, so both see the same value and grad.
// Use detach() or value() for a separate copy of the numbers.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "xgrad/autograd/anomaly.hpp"
#include "xgrad/tensor/tensor.hpp"

namespace xgrad {

template <typename T>
class Variable;

// Sends `grad` (the gradient of the op's output, whose value is `output`) to
// the op's inputs through their add_grad(). It receives the inputs rather than
// capturing them, so the graph holds no reference cycles and the lambdas copy
// no arrays. `grad` is the function's to consume: backward() discards it
// afterwards, so an op may compute its input's gradient in grad's own storage
// and hand it on with std::move (a lambda taking `const Array<T>&` is fine).
template <typename T>
using GradFn =
    std::function<void(Array<T>& grad, const Array<T>& output, std::vector<Variable<T>>& inputs)>;

// The same for a gradient that is one value in every element (what a sum or
// a mean hands its input), given as that value: an op that has one sends it
// on without the array ever being written (square under a mean: one pass
// instead of a fill and a pass over the filled array). output_is_free: the
// graph is being freed and nothing holds the result any more, so nothing
// reads output after this call and the op may take its storage for an
// input's gradient (memory written in the forward pass, still in cache).
template <typename T>
using UniformGradFn = void (*)(T grad, Array<T>& output, bool output_is_free,
                               std::vector<Variable<T>>& inputs);

namespace detail {

template <typename T>
struct Node {
  // First the fields backward()'s walk reads of every node, in one cache
  // line: the walk visits hundreds of nodes per step of an op-by-op model,
  // made in the forward pass and no longer in the nearest caches, and its
  // time went into loading requires_grad and visit_mark from two other lines.
  std::vector<Variable<T>> inputs;
  std::uint64_t visit_mark = 0;  // used by backward()'s graph walk
  const char* op = nullptr;      // the op that made this value; nullptr for a leaf
  bool requires_grad = false;
  bool graph_freed = false;  // backward() released this op's inputs
  bool has_grad = false;
  // With has_grad: the gradient is uniform_grad in every element, not (yet)
  // written into `grad` (add_uniform_grad).
  bool grad_is_uniform = false;
  // The op's backward reads no more of this value than its shape
  // (Variable::set_output_unread): an op given the node as a temporary may
  // take the storage for its own result.
  bool output_unread = false;
  // The value's elements went to a later op's result
  // (Variable::result_taking_value); `value` keeps its shape, which its
  // gradient and its user's backward still read, and no elements to read.
  bool value_taken = false;
  T uniform_grad = T(0);
  UniformGradFn<T> uniform_grad_fn = nullptr;  // null: the array is written, then grad_fn runs
  GradFn<T> grad_fn;
  // The layer path the op ran in, recorded only under DetectAnomaly (anomaly.hpp).
  const char* layer = nullptr;
  Array<T> value;
  // Meaningful only with has_grad; kept after zero_grad() for grad_buffer()
  // to reuse. Optional: a default Array is 0-D with one element, an
  // allocation for every node, and most nodes never get a gradient. Once
  // made, it keeps its shape when its elements are freed (after backward()
  // used it, and in a kept node), so that the node's next gradient is its
  // elements alone: making or moving an xtensor array costs tens of
  // nanoseconds (its shape, strides and backstrides), per op.
  std::optional<Array<T>> grad;
  // The sum of value's elements when the op that made it had it from the
  // same pass (square): a sum or mean reads it instead of the array. The
  // mutable value() forgets it.
  std::optional<T> value_sum;

  explicit Node(Array<T>&& v) : value(std::move(v)) {}
  // Back to a new node's state, its value's shape kept and its elements
  // freed, for a released node kept for the next result (Variable::release;
  // the inputs already let go). Beside the fields: each field's default.
  void clear_for_reuse() {
    visit_mark = 0;
    op = nullptr;
    requires_grad = graph_freed = has_grad = grad_is_uniform = output_unread = value_taken = false;
    uniform_grad = T(0);
    uniform_grad_fn = nullptr;
    grad_fn = nullptr;  // may release more nodes (a captured Variable)
    layer = nullptr;
    free_gradient_elements();
    value_sum.reset();
    value.storage() = typename Array<T>::storage_type();
  }
  // The value's shape, also once its elements were taken.
  const typename Array<T>::shape_type& shape() const { return value.shape(); }
  // The gradient array, of the value's shape, with room for its elements
  // (unspecified): the kept one when it has the shape.
  Array<T>& gradient_array_of_shape() {
    const auto& s = shape();
    if (!grad || !shapes_equal(grad->shape(), s)) grad = Array<T>::from_shape(s);
    else grad->storage().resize(element_count(s));  // a new block only when the size differs
    return *grad;
  }
  // Takes g, of the value's shape, as the gradient: its elements alone when
  // the kept array has that shape.
  void take_gradient(Array<T>&& g) {
    if (grad && shapes_equal(grad->shape(), g.shape())) grad->storage().swap(g.storage());
    else grad = std::move(g);
  }
  void free_gradient_elements() {
    if (grad) grad->storage() = typename Array<T>::storage_type();
  }
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  // Releases the chain of inputs without recursion, so a graph of 100,000
  // steps is destroyed without overflowing the stack.
  ~Node();
};

// The input lists of released nodes, emptied and kept with their memory for
// the next recorded results: an op-by-op model frees and makes hundreds per
// step, each a heap allocation and a free otherwise. reused_input_list
// gives an empty list, with room when one was kept; keep_input_list
// empties a list and takes its memory (leaving it without) when there is
// room to keep it.
template <typename T>
std::vector<Variable<T>> reused_input_list() noexcept;
template <typename T>
void keep_input_list(std::vector<Variable<T>>& list) noexcept;

// The number of the backward() pass running on this thread, 0 outside one;
// each pass has its own. Values do not change during a pass, so a gradient
// function may keep what it derives from an input's value (matmul keeps
// B^T) while the number stays the same.
std::uint64_t backward_pass_number();
}  // namespace detail

// While one of these lives, ops record nothing (inference, optimizer updates).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

bool is_grad_enabled();

template <typename T = float>
class Variable {
 public:
  using value_type = T;

  // An empty array (shape (0,)), not requiring a gradient.
  Variable();
  explicit Variable(Array<T> value, bool requires_grad = false);
  // The last handle of a node gives it back through release(): see there.
  Variable(const Variable&) = default;
  Variable(Variable&&) noexcept = default;
  Variable& operator=(const Variable& other) {
    std::shared_ptr<detail::Node<T>> previous = std::move(node_);
    node_ = other.node_;
    let_go(previous);
    return *this;
  }
  Variable& operator=(Variable&& other) noexcept {
    std::shared_ptr<detail::Node<T>> previous = std::move(node_);
    node_ = std::move(other.node_);
    let_go(previous);
    return *this;
  }
  ~Variable() { let_go(node_); }

  // Throws std::logic_error for a value whose storage a later op took: one
  // given to add, sub, mul or an activation as a temporary (an unnamed result
  // or std::move(v)) while recording, that nothing else named.
  const Array<T>& value() const {
    if (node_->value_taken) throw_value_taken();
    return node_->value;
  }
  // Mutable access, for optimizers and initialisation; changing a value that
  // an unfinished graph still uses changes the gradients it will compute.
  Array<T>& value() {
    if (node_->value_taken) throw_value_taken();
    node_->value_sum.reset();
    return node_->value;
  }
  const typename Array<T>::shape_type& shape() const { return node_->shape(); }
  std::size_t dimension() const { return shape().size(); }
  std::size_t size() const { return node_->value_taken ? element_count(shape()) : node_->value.size(); }
  // The one element of a one-element value (a 0-D loss, a [1] or [1, 1]
  // array), as PyTorch's tensor.item(). Throws std::invalid_argument naming
  // the shape when the value does not hold exactly one element.
  T item() const;

  bool requires_grad() const { return node_->requires_grad; }
  // Only leaves (values not made by an op) can change this.
  Variable& set_requires_grad(bool requires_grad);
  bool is_leaf() const { return node_->op == nullptr; }
  // Name of the op that made this value ("matmul", "tanh", ...); "" for leaves.
  const char* op_name() const { return node_->op ? node_->op : ""; }

  bool has_grad() const { return node_->has_grad; }
  // The accumulated gradient; throws std::logic_error if there is none yet.
  const Array<T>& grad() const;
  // Forgets the gradient (the next backward starts from zero); its memory is
  // kept for the next one.
  void zero_grad();
  // Adds `g` to the gradient; `g` must have exactly the value's shape.
  void add_grad(const Array<T>& g);
  void add_grad(Array<T>&& g);
  // For op implementations: adds the gradient that write(beta, grad) writes
  // as grad = gradient + beta · grad (BLAS's beta): with beta 1 into the
  // gradient the value holds, else with beta 0 into an array of the value's
  // shape whose elements are unspecified. No array is made and moved first.
  template <typename Write>
  void add_written_grad(Write&& write) {
    if (node_->has_grad) {
      write(T(1), grad_buffer());
      return;
    }
    write(T(0), node_->gradient_array_of_shape());
    node_->has_grad = true;
  }
  // Adds `value` to every element of the gradient (a sum's or mean's),
  // without writing an array while nothing reads it.
  void add_uniform_grad(T value);
  // The gradient buffer, created as zeros of the value's shape if absent: ops
  // whose backward touches only part of an input (a timestep) add into it in
  // place instead of building a full-size zero array each time.
  Array<T>& grad_buffer();

  // Back-propagates from a single-element value (a loss).
  void backward(bool retain_graph = false);
  // Back-propagates `grad_output`, which must have the value's shape (taken
  // over when given as a temporary, copied otherwise).
  void backward(const Array<T>& grad_output, bool retain_graph = false);
  void backward(Array<T>&& grad_output, bool retain_graph = false);

  // A new leaf with a copy of the value, outside any graph.
  Variable detach() const;

  // For op implementations: whether this handle alone names a plain value
  // (no graph, no gradient), which an op may then overwrite and hand on as
  // its result.
  bool is_sole_plain_value() const {
    return node_.use_count() == 1 && node_->op == nullptr && !node_->requires_grad && !node_->has_grad;
  }

  // For op implementations, given this handle as a temporary: whether the op
  // may compute its result in the value's storage and take it
  // (result_taking_value).
  // So when no other handle names the node and nothing will read the value
  // again: a plain value (is_sole_plain_value), or the result of an op whose
  // backward reads no more of it than its shape (set_output_unread) and that
  // has no gradient yet. Never under DetectAnomaly, whose messages read
  // values. The op taking it must not read this value in its own backward.
  bool value_can_be_taken() const {
    const detail::Node<T>& node = *node_;
    return node_.use_count() == 1 && !node.value_taken && !node.has_grad && !is_anomaly_detection_enabled() &&
           (node.op ? node.output_unread : !node.requires_grad);
  }
  // A new result, not yet recorded, that holds this value's elements
  // (value_can_be_taken), as uninitialized() does. This node keeps its shape
  // and its place in the graph, so a result recorded with it as an input
  // sends the gradient on through it; its value can no longer be read.
  Variable result_taking_value();
  // For op implementations: this recorded result's backward reads no more
  // of its value than its shape, so an op given it as a temporary may take
  // its storage. Nothing for a result that records nothing (a plain value
  // may be taken anyway).
  void set_output_unread() {
    if (node_->op) node_->output_unread = true;
  }

  // Whether two handles name the same node.
  bool same_node(const Variable& other) const { return node_ == other.node_; }

  // For op implementations: a result of `shape` whose elements the op is to
  // write (their values are unspecified), not yet recorded: the op writes it
  // through value() and then passes it to from_op. It is one of the nodes
  // this thread released (release()) when one of that shape is kept, so an
  // op-by-op model makes no node and no xtensor shape at most of its ops.
  static Variable uninitialized(const typename Array<T>::shape_type& shape);
  // For op implementations: a result recorded with its inputs and backward
  // function when recording is on and an input requires a gradient; a plain
  // value otherwise. `result` is a value no other handle names (a new
  // Variable, or uninitialized()'s).
  static Variable from_op(Variable result, std::vector<Variable<T>> inputs, const char* op,
                          GradFn<T> grad_fn);
  static Variable from_op(Array<T> value, std::vector<Variable<T>>&& inputs, const char* op,
                          GradFn<T> grad_fn) {
    return from_op(Variable(make_node(std::move(value))), std::move(inputs), op, std::move(grad_fn));
  }
  // The same for a list the caller keeps (a stack's values): copied only when
  // the result is recorded, not for a result under NoGradGuard.
  static Variable from_op(Array<T> value, const std::vector<Variable<T>>& inputs, const char* op,
                          GradFn<T> grad_fn) {
    if (!is_anomaly_detection_enabled() && !any_requires_grad(inputs)) return Variable(make_node(std::move(value)));
    return from_op(Variable(make_node(std::move(value))), std::vector<Variable<T>>(inputs), op, std::move(grad_fn));
  }
  // For op implementations: the sum of the value's elements, when the op
  // that made it had it (or nothing); and how an op gives it.
  std::optional<T> value_sum() const { return node_->value_sum; }
  void set_value_sum(T sum) { node_->value_sum = sum; }
  // For op implementations: how a recorded result takes a uniform gradient
  // (UniformGradFn); nothing for a result that records nothing.
  void set_uniform_grad_fn(UniformGradFn<T> fn) {
    if (node_->op) node_->uniform_grad_fn = fn;
  }
  // The same for an op of fixed inputs, given last: the inputs vector and
  // the backward function are made only when the result is recorded, so an
  // op on constants or under NoGradGuard allocates nothing but its value.
  // Under DetectAnomaly it takes the checked overload above.
  template <typename F, typename... Inputs>
  static Variable from_op(Array<T> value, const char* op, F&& grad_fn, const Inputs&... inputs) {
    return from_op(Variable(make_node(std::move(value))), op, std::forward<F>(grad_fn), inputs...);
  }
  template <typename F, typename... Inputs>
  static Variable from_op(Variable result, const char* op, F&& grad_fn, const Inputs&... inputs) {
    if (is_anomaly_detection_enabled())
      return from_op(std::move(result), std::vector<Variable<T>>{inputs...}, op,
                     GradFn<T>(std::forward<F>(grad_fn)));
    if ((inputs.requires_grad() || ...) && is_grad_enabled()) {
      result.node_->requires_grad = true;
      result.node_->op = op;
      // Each input copied once into the kept list: assigning {inputs...}
      // copied each into an initializer list first, two more atomic
      // reference-count changes per input.
      std::vector<Variable<T>>& list = result.node_->inputs;
      list = detail::reused_input_list<T>();
      list.reserve(sizeof...(Inputs));
      (list.push_back(inputs), ...);
      result.node_->grad_fn = std::forward<F>(grad_fn);
    }
    return result;
  }

 private:
  // A node holding `value`: a kept one of its shape (release) given the
  // elements alone when there is one, else a new one, the value moved once
  // (moving an xtensor array costs 30-45 ns: three shape vectors).
  static std::shared_ptr<detail::Node<T>> make_node(Array<T>&& value);
  // Writes a uniform gradient into the array (grad, grad_buffer and the
  // accumulating add_grad read it).
  static void write_uniform_grad(detail::Node<T>& node);
  [[noreturn]] void throw_value_taken() const;
  explicit Variable(std::shared_ptr<detail::Node<T>> node) : node_(std::move(node)) {}
  // Lets go of a node handle, leaving it empty. The last handle of a node
  // keeps the node for the thread's next result of its shape (up to a bound
  // per thread, the value's shape kept and its elements freed), after
  // letting go of its inputs in turn: an op-by-op model releases and makes
  // hundreds of nodes of the same few shapes per step, and making one (its
  // node, its array's shape and strides) took longer than many of the ops
  // themselves.
  static void release(std::shared_ptr<detail::Node<T>>& node) noexcept;
  // release() for the last handle; another is only dropped, here.
  static void let_go(std::shared_ptr<detail::Node<T>>& node) noexcept {
    if (node.use_count() > 1) node.reset();
    else if (node) release(node);
  }
  // A kept node of `shape` (release), without elements; null when none is kept.
  static std::shared_ptr<detail::Node<T>> released_node(const typename Array<T>::shape_type& shape);
  // A node made for `value`, never a kept one.
  static std::shared_ptr<detail::Node<T>> new_node(Array<T>&& value);

  std::shared_ptr<detail::Node<T>> node_;
  friend struct detail::Node<T>;
};

// Whether any of `inputs` would make an op's result record a graph node.
template <typename T>
bool any_requires_grad(const std::vector<Variable<T>>& inputs) {
  if (!is_grad_enabled()) return false;
  for (const auto& v : inputs)
    if (v.requires_grad()) return true;
  return false;
}

extern template class Variable<float>;
extern template class Variable<double>;
extern template struct detail::Node<float>;
extern template struct detail::Node<double>;

}  // namespace xgrad
