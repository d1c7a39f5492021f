#include "xgrad/nn/module.hpp"

#include <stdexcept>

namespace xgrad::nn {

template <typename T>
typename Module<T>::NamedParameters Module<T>::named_parameters() const {
  NamedParameters out = parameters_;
  for (const auto& [child_name, child] : children_)
    for (auto& [name, parameter] : child->named_parameters())
      out.emplace_back(child_name + "/" + name, parameter);
  return out;
}

template <typename T>
std::vector<Variable<T>> Module<T>::parameters() const {
  std::vector<Variable<T>> out;
  for (auto& named : named_parameters()) out.push_back(named.second);
  return out;
}

template <typename T>
void Module<T>::zero_grad() {
  for (auto& parameter : parameters()) parameter.zero_grad();
}

template <typename T>
void Module<T>::train(bool on) {
  training_ = on;
  for (auto& child : children_) child.second->train(on);
}

template <typename T>
Variable<T> Module<T>::register_parameter(const std::string& name, Variable<T> parameter) {
  for (const auto& existing : parameters_) {
    if (existing.first == name) {
      throw std::invalid_argument(name_ + ": a parameter named '" + name + "' is already registered");
    }
  }
  parameter.set_requires_grad(true);
  parameters_.emplace_back(name, parameter);
  return parameter;
}

template <typename T>
void Module<T>::register_module(const std::string& name, std::shared_ptr<Module<T>> module) {
  if (!module) throw std::invalid_argument(name_ + ": register_module('" + name + "') got null");
  for (const auto& existing : children_) {
    if (existing.first == name) {
      throw std::invalid_argument(name_ + ": a module named '" + name + "' is already registered");
    }
  }
  children_.emplace_back(name, std::move(module));
}

template class Module<float>;
template class Module<double>;

}  // namespace xgrad::nn
