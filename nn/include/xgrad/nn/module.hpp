#pragma once
// Module: the base of every layer. It owns named parameters and child
// modules, and gives them back in registration order.
//
// A parameter may carry a regularizer and a constraint (Keras' add_weight
// regularizer= and constraint=), and a layer may record activity penalties
// on each call (Keras' activity_regularizer). A training loop uses them as
// Keras' fit does:
//
//   Variable<float> loss = add(data_loss, model.regularization_loss());
//   loss.backward();
//   optimizer.step();
//   model.apply_constraints();  // after the step, as Keras' optimizer does
//
// nn::Trainer (trainer.hpp) runs this loop for you: Keras' fit.

#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "xgrad/autograd/anomaly.hpp"
#include "xgrad/autograd/variable.hpp"
#include "xgrad/nn/constraints.hpp"
#include "xgrad/nn/regularizers.hpp"

namespace xgrad::nn {

// The C++ name of a type as written in source, demangled
// ("xgrad::nn::Dense<float>"); the compiler's mangled name where it cannot
// be demangled.
std::string demangled_type_name(const std::type_info& type);

namespace detail {
// The messages of a layer that makes its weights when it first sees an
// input ("Conv1D 'conv1d'" is `layer`):
// throws std::logic_error "<layer>: <what> does not exist before the <noun>
// is built; call <build_call> or run it on an input first".
[[noreturn]] void throw_not_built(const std::string& layer, const std::string& what, const std::string& build_call,
                                  const std::string& noun = "layer");
// Checks a build for `size` (of `unit`s: "features", "input channels") of a
// layer built for `built` (0: not yet): throws std::invalid_argument for
// size 0 or a size other than the built one; returns whether the weights are
// still to be made.
bool build_needed(const std::string& layer, std::size_t built, std::size_t size, const std::string& unit);
}  // namespace detail

template <typename T = float>
class Module {
 public:
  using NamedParameters = std::vector<std::pair<std::string, Variable<T>>>;

  virtual ~Module() = default;
  // A layer owns its parameters: a copy would silently share them (copies of
  // Variables are shallow), so modules are not copyable. Hold them by
  // std::shared_ptr to share one deliberately.
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  const std::string& name() const { return name_; }
  // Names this module in the graph while the result lives: a layer's forward
  // opens one (`auto scope = this->layer_scope();`) so that DetectAnomaly's
  // errors say which layer an op ran in (anomaly.hpp).
  LayerScope layer_scope() const { return LayerScope(name_, this); }
  // The class of the module, without namespace or template arguments
  // ("SimpleRNN", "Dense", "Sequential", or a user's own class): the type
  // column of summary(), as Keras shows layer.__class__.__name__.
  std::string class_name() const;

  // This module's parameters by their own names ("kernel") and its children's
  // as "child_name/kernel", recursively. The Variables are handles to the
  // module's own parameters: a gradient or an update through them is seen by
  // the module.
  NamedParameters named_parameters() const;
  std::vector<Variable<T>> parameters() const;
  // The number of scalars in parameters() (Keras' count_params()).
  std::size_t count_params() const;
  // The registered children, by the names they were registered under, in
  // registration order (not recursive).
  const std::vector<std::pair<std::string, std::shared_ptr<Module<T>>>>& named_children() const {
    return children_;
  }
  void zero_grad();
  // The random generators this module and its children own (a seeded
  // layer's "seed_generator", which draws its dropout masks), named as
  // named_parameters() names parameters ("dropout/seed_generator"), so that a
  // saved run (save_training_state) continues with the same draws.
  std::vector<std::pair<std::string, Generator*>> named_generators() const;

  // Training mode (the default) or inference mode, for layers that act
  // differently in each; applies to the children too.
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // The extra losses (0-D values, Keras' layer.losses): the activity
  // penalties of this module's last call, then the penalties of its
  // regularized parameters (computed now, from their current values), then
  // each child's losses(), recursively. Each is recorded in the graph when
  // its weight or output requires a gradient.
  virtual std::vector<Variable<T>> losses() const;
  // Their sum, a 0-D value; a constant 0 (requiring no gradient) when there
  // are none. A training loop adds it to its loss.
  Variable<T> regularization_loss() const;
  // Projects every constrained parameter in place (Constraint::apply),
  // recursively over the children. A training loop calls it after each
  // optimizer.step(), as Keras' optimizer applies constraints after each
  // update.
  virtual void apply_constraints();

 protected:
  explicit Module(std::string name) : name_(std::move(name)) {}

  // Registers `parameter` under `name` (requires_grad is set) and returns it,
  // with an optional regularizer (its penalty joins losses()) and constraint
  // (applied by apply_constraints()).
  Variable<T> register_parameter(const std::string& name, Variable<T> parameter,
                                 std::optional<Regularizer> regularizer = std::nullopt,
                                 std::optional<Constraint> constraint = std::nullopt);
  void register_module(const std::string& name, std::shared_ptr<Module<T>> module);
  // Registers a generator the module owns (it must live as long as the module).
  void register_generator(const std::string& name, Generator& generator);
  // Replaces the activity penalties of the last call (an empty list clears
  // them). They keep that call's graph alive until replaced.
  void set_activity_losses(std::vector<Variable<T>> losses) { activity_losses_ = std::move(losses); }

 private:
  // Sequential::build puts back the activity penalties its shape-finding
  // call left.
  template <typename>
  friend class Sequential;

  struct ParameterRules {
    std::optional<Regularizer> regularizer;
    std::optional<Constraint> constraint;
  };

  std::string name_;
  NamedParameters parameters_;
  std::vector<ParameterRules> rules_;  // one per parameter, same order
  std::vector<std::pair<std::string, std::shared_ptr<Module<T>>>> children_;
  std::vector<Variable<T>> activity_losses_;
  std::vector<std::pair<std::string, Generator*>> generators_;
  bool training_ = true;
};

extern template class Module<float>;
extern template class Module<double>;

namespace detail {
// Whether M has a `Variable<T> forward(const Variable<T>&)`: what a
// Sequential's layer and a TimeDistributed's wrapped layer need.
template <typename M, typename T, typename = void>
struct has_forward : std::false_type {};
template <typename M, typename T>
struct has_forward<M, T,
                   std::void_t<decltype(std::declval<M&>().forward(std::declval<const Variable<T>&>()))>>
    : std::is_convertible<decltype(std::declval<M&>().forward(std::declval<const Variable<T>&>())),
                          Variable<T>> {};
}  // namespace detail

}  // namespace xgrad::nn
