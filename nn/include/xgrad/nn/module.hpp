#pragma once
// Module: the base of every layer. It owns named parameters and child
// modules, and gives them back in registration order.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "xgrad/autograd/variable.hpp"

namespace xgrad::nn {

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

  // This module's parameters by their own names ("kernel") and its children's
  // as "child_name/kernel", recursively. The Variables are handles to the
  // module's own parameters: a gradient or an update through them is seen by
  // the module.
  NamedParameters named_parameters() const;
  std::vector<Variable<T>> parameters() const;
  void zero_grad();

  // Training mode (the default) or inference mode, for layers that act
  // differently in each; applies to the children too.
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

 protected:
  explicit Module(std::string name) : name_(std::move(name)) {}

  // Registers `parameter` under `name` (requires_grad is set) and returns it.
  Variable<T> register_parameter(const std::string& name, Variable<T> parameter);
  void register_module(const std::string& name, std::shared_ptr<Module<T>> module);

 private:
  std::string name_;
  NamedParameters parameters_;
  std::vector<std::pair<std::string, std::shared_ptr<Module<T>>>> children_;
  bool training_ = true;
};

extern template class Module<float>;
extern template class Module<double>;

}  // namespace xgrad::nn
