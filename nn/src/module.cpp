#include "xgrad/nn/module.hpp"

#include <cxxabi.h>

#include <cstdlib>
#include <memory>
#include <stdexcept>

#include "xgrad/autograd/ops.hpp"

namespace xgrad::nn {

void detail::throw_not_built(const std::string& layer, const std::string& what, const std::string& build_call,
                             const std::string& noun) {
  throw std::logic_error(layer + ": " + what + " does not exist before the " + noun + " is built; call " + build_call +
                         " or run it on an input first");
}

bool detail::build_needed(const std::string& layer, std::size_t built, std::size_t size, const std::string& unit) {
  if (size == 0) throw std::invalid_argument(layer + ": cannot build for 0 " + unit);
  if (built != 0 && size != built) {
    throw std::invalid_argument(layer + ": built for " + std::to_string(built) + " " + unit + ", got " +
                                std::to_string(size));
  }
  return built == 0;
}

std::string demangled_type_name(const std::type_info& type) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name(
      abi::__cxa_demangle(type.name(), nullptr, nullptr, &status), std::free);
  return status == 0 && name ? std::string(name.get()) : std::string(type.name());
}

template <typename T>
std::string Module<T>::class_name() const {
  // "xgrad::nn::SimpleRNN<float>" -> "SimpleRNN": drop the template
  // arguments, then every enclosing namespace or class.
  std::string name = demangled_type_name(typeid(*this));
  name = name.substr(0, name.find('<'));
  const auto colon = name.rfind("::");
  return colon == std::string::npos ? name : name.substr(colon + 2);
}

template <typename T>
std::size_t Module<T>::count_params() const {
  std::size_t count = 0;
  for (const auto& [name, parameter] : named_parameters()) count += parameter.size();
  return count;
}

template <typename T>
typename Module<T>::NamedParameters Module<T>::named_parameters() const {
  NamedParameters out = parameters_;
  for (const auto& [child_name, child] : children_)
    for (auto& [name, parameter] : child->named_parameters())
      out.emplace_back(child_name + "/" + name, parameter);
  return out;
}

template <typename T>
std::vector<std::pair<std::string, Generator*>> Module<T>::named_generators() const {
  std::vector<std::pair<std::string, Generator*>> out = generators_;
  for (const auto& [child_name, child] : children_)
    for (auto& [name, generator] : child->named_generators())
      out.emplace_back(child_name + "/" + name, generator);
  return out;
}

template <typename T>
void Module<T>::register_generator(const std::string& name, Generator& generator) {
  for (const auto& existing : generators_) {
    if (existing.first == name) {
      throw std::invalid_argument(name_ + ": a generator named '" + name + "' is already registered");
    }
  }
  generators_.emplace_back(name, &generator);
}

template <typename T>
std::vector<Variable<T>> Module<T>::parameters() const {
  // named_parameters()' order, without building the names (a train step
  // asks for the parameters twice: the update and zero_grad).
  std::vector<Variable<T>> out;
  for (const auto& named : parameters_) out.push_back(named.second);
  for (const auto& child : children_) {
    std::vector<Variable<T>> more = child.second->parameters();
    out.insert(out.end(), more.begin(), more.end());
  }
  return out;
}

template <typename T>
void Module<T>::zero_grad() {
  for (auto& named : parameters_) named.second.zero_grad();
  for (const auto& child : children_) child.second->zero_grad();
}

template <typename T>
void Module<T>::train(bool on) {
  training_ = on;
  for (auto& child : children_) child.second->train(on);
}

template <typename T>
std::vector<Variable<T>> Module<T>::losses() const {
  std::vector<Variable<T>> out = activity_losses_;
  for (std::size_t i = 0; i < parameters_.size(); ++i)
    if (rules_[i].regularizer) out.push_back(rules_[i].regularizer->penalty(parameters_[i].second));
  for (const auto& child : children_) {
    std::vector<Variable<T>> more = child.second->losses();
    out.insert(out.end(), more.begin(), more.end());
  }
  return out;
}

template <typename T>
Variable<T> Module<T>::regularization_loss() const {
  const std::vector<Variable<T>> all = losses();
  if (all.empty()) return Variable<T>(Array<T>(Shape{}, T(0)));
  Variable<T> total = all[0];
  for (std::size_t i = 1; i < all.size(); ++i) total = add(total, all[i]);
  return total;
}

template <typename T>
void Module<T>::apply_constraints() {
  for (std::size_t i = 0; i < parameters_.size(); ++i)
    if (rules_[i].constraint) rules_[i].constraint->apply(parameters_[i].second.value());
  for (auto& child : children_) child.second->apply_constraints();
}

template <typename T>
Variable<T> Module<T>::register_parameter(const std::string& name, Variable<T> parameter,
                                          std::optional<Regularizer> regularizer,
                                          std::optional<Constraint> constraint) {
  for (const auto& existing : parameters_) {
    if (existing.first == name) {
      throw std::invalid_argument(name_ + ": a parameter named '" + name + "' is already registered");
    }
  }
  parameter.set_requires_grad(true);
  parameters_.emplace_back(name, parameter);
  rules_.push_back({std::move(regularizer), std::move(constraint)});
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
