#include "xgrad/nn/optimizers.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

#include "xgrad/tensor/activations.hpp"

namespace xgrad::nn {

namespace {
std::string number(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}
}  // namespace

// ---- Optimizer ----

template <typename T>
Optimizer<T>::Optimizer(std::vector<Variable<T>> parameters, const char* optimizer)
    : name_(optimizer), parameters_(std::move(parameters)) {
  if (parameters_.empty()) {
    throw std::invalid_argument(std::string(name_) +
                                ": got no parameters (a model's layers create theirs when they are "
                                "built: build the model or run it once before listing them)");
  }
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    if (!parameters_[i].requires_grad()) {
      throw std::invalid_argument(std::string(name_) + ": parameter " + std::to_string(i) +
                                  " of shape " + shape_to_string(parameters_[i].shape()) +
                                  " does not require a gradient");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (parameters_[i].same_node(parameters_[j])) {
        throw std::invalid_argument(std::string(name_) + ": parameters " + std::to_string(j) +
                                    " and " + std::to_string(i) + " (shape " +
                                    shape_to_string(parameters_[i].shape()) +
                                    ") are the same Variable; list each parameter once");
      }
    }
    shapes_.push_back(to_shape(parameters_[i].shape()));
  }
}

template <typename T>
void Optimizer<T>::check_range(const char* option, double value, double low, double high,
                               bool high_inclusive) const {
  const bool ok = std::isfinite(value) && value >= low &&
                  (high_inclusive ? value <= high : value < high);
  if (!ok) {
    throw std::invalid_argument(std::string(name_) + ": " + option + " must be in [" + number(low) +
                                ", " + (std::isinf(high) ? std::string("inf") : number(high)) +
                                (high_inclusive && !std::isinf(high) ? "]" : ")") + ", got " +
                                number(value));
  }
}

template <typename T>
void Optimizer<T>::set_common_options(CommonOptions options) {
  check_range("learning_rate", options.learning_rate, 0.0, INFINITY, true);
  check_range("global_clipnorm", options.global_clipnorm, 0.0, INFINITY, true);
  check_range("clipnorm", options.clipnorm, 0.0, INFINITY, true);
  check_range("clipvalue", options.clipvalue, 0.0, INFINITY, true);
  check_range("weight_decay", options.weight_decay, 0.0, INFINITY, true);
  const int clippings = (options.clipnorm > 0.0) + (options.clipvalue > 0.0) + (options.global_clipnorm > 0.0);
  if (clippings > 1) {
    throw std::invalid_argument(std::string(name_) + ": only one of clipnorm, clipvalue and global_clipnorm " +
                                "can be set, got clipnorm " + number(options.clipnorm) + ", clipvalue " +
                                number(options.clipvalue) + ", global_clipnorm " +
                                number(options.global_clipnorm));
  }
  if (options.gradient_accumulation_steps == 1) {
    throw std::invalid_argument(std::string(name_) +
                                ": gradient_accumulation_steps must be 0 (none) or at least 2, got 1");
  }
  check_range("ema_momentum", options.ema_momentum, 0.0, 1.0, true);
  learning_rate_ = options.learning_rate;
  schedule_ = std::move(options.schedule);
  global_clipnorm_ = options.global_clipnorm;
  clipnorm_ = options.clipnorm;
  clipvalue_ = options.clipvalue;
  weight_decay_ = options.weight_decay;
  excluded_from_decay_.assign(parameters_.size(), false);
  accumulation_steps_ = options.gradient_accumulation_steps;
  if (accumulation_steps_ > 1) accumulated_gradients_ = zero_state();
  use_ema_ = options.use_ema;
  ema_momentum_ = options.ema_momentum;
  ema_overwrite_frequency_ = options.ema_overwrite_frequency;
  // Keras builds the averages from the weights' values.
  if (use_ema_)
    for (const Variable<T>& parameter : parameters_) moving_averages_.push_back(parameter.value());
  skip_nonfinite_ = options.skip_nonfinite;
}

template <typename T>
double Optimizer<T>::learning_rate() const {
  return schedule_ ? (*schedule_)(iterations_) : learning_rate_;
}

template <typename T>
void Optimizer<T>::set_learning_rate(double learning_rate) {
  if (schedule_) {
    throw std::invalid_argument(std::string(name_) +
                                ": set_learning_rate: the learning rate follows a "
                                "LearningRateSchedule (learning_rate_schedule) and cannot be set");
  }
  check_range("learning_rate", learning_rate, 0.0, INFINITY, true);
  learning_rate_ = learning_rate;
}

template <typename T>
std::vector<Array<T>> Optimizer<T>::zero_state() const {
  std::vector<Array<T>> state;
  state.reserve(shapes_.size());
  for (const auto& shape : shapes_) state.push_back(zeros<T>(shape));
  return state;
}

template <typename T>
void Optimizer<T>::step() {
  NoGradGuard no_grad;
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    const Variable<T>& parameter = parameters_[i];
    const Shape& shape = shapes_[i];
    const auto& value_shape = parameter.shape();
    if (!shapes_equal(shape, value_shape)) {
      throw std::invalid_argument(std::string(name_) + ": step: parameter " + std::to_string(i) +
                                  " has shape " + shape_to_string(value_shape) +
                                  " but had shape " + shape_to_string(shape) +
                                  " when the optimizer was made");
    }
    if (parameter.has_grad() && parameter.grad().shape() != parameter.value().shape()) {
      throw std::invalid_argument(std::string(name_) + ": step: parameter " + std::to_string(i) +
                                  " of shape " + shape_to_string(value_shape) +
                                  " has a gradient of shape " +
                                  shape_to_string(parameter.grad().shape()));
    }
  }
  if (gradient_hook_) gradient_hook_(parameters_);
  step_learning_rate_ = learning_rate();
  if (schedule_ && !(std::isfinite(step_learning_rate_) && step_learning_rate_ >= 0.0)) {
    throw std::invalid_argument(std::string(name_) + ": step: the learning-rate schedule gave " +
                                number(step_learning_rate_) + " at step " +
                                std::to_string(iterations_) + "; a rate must be finite and >= 0");
  }
  if (skip_nonfinite_ && !gradients_finite()) {
    ++skipped_steps_;
    return;
  }
  // Keras' apply(): the update (with accumulation, every n-th step only),
  // the moving averages, the step count, the constraints.
  if (accumulation_steps_ <= 1 || gather_accumulated_gradients()) {
    if (global_clipnorm_ > 0.0) clip_grad_norm(parameters_, static_cast<T>(global_clipnorm_));
    clip_each_gradient_and_decay();
    const std::size_t t = iterations() + 1;
    for (std::size_t i = 0; i < parameters_.size(); ++i) {
      Variable<T>& parameter = parameters_[i];
      if (parameter.has_grad()) update(i, parameter.value(), parameter.grad(), t);
    }
  }
  if (use_ema_) update_moving_averages();
  ++iterations_;
  if (constrained_model_) constrained_model_->apply_constraints();
}

template <typename T>
void Optimizer<T>::update_moving_averages() {
  // Keras' momentum: 0 at the first update, so that the average starts at
  // the weights.
  const T momentum = iterations() == 0 ? T(0) : static_cast<T>(ema_momentum_);
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    const T* p = parameters_[i].value().data();
    T* average = moving_averages_[i].data();
    for (std::size_t e = 0; e < moving_averages_[i].size(); ++e)
      average[e] = momentum * average[e] + (T(1) - momentum) * p[e];
  }
  if (ema_overwrite_frequency_ > 0 && (iterations() + 1) % ema_overwrite_frequency_ == 0)
    finalize_variable_values();
}

template <typename T>
void Optimizer<T>::finalize_variable_values() {
  if (!use_ema_) return;
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    Array<T>& value = parameters_[i].value();
    std::copy(moving_averages_[i].begin(), moving_averages_[i].end(), value.begin());
  }
}

template <typename T>
std::optional<std::size_t> Optimizer<T>::find_parameter(const Variable<T>& variable) const {
  for (std::size_t i = 0; i < parameters_.size(); ++i)
    if (parameters_[i].same_node(variable)) return i;
  return std::nullopt;
}

template <typename T>
std::size_t Optimizer<T>::index_of(const Variable<T>& variable, const char* where) const {
  if (const std::optional<std::size_t> index = find_parameter(variable)) return *index;
  throw std::invalid_argument(std::string(name_) + ": " + where + ": a variable of shape " +
                              shape_to_string(variable.shape()) + " is not one of the optimizer's " +
                              std::to_string(parameters_.size()) + " parameters");
}

template <typename T>
void Optimizer<T>::exclude_from_weight_decay(const std::vector<Variable<T>>& variables) {
  std::vector<bool> excluded(parameters_.size(), false);
  for (const Variable<T>& variable : variables) excluded[index_of(variable, "exclude_from_weight_decay")] = true;
  excluded_from_decay_ = std::move(excluded);
}

template <typename T>
void Optimizer<T>::exclude_from_weight_decay(const typename Module<T>::NamedParameters& named,
                                             const std::vector<std::string>& patterns) {
  const char* where = "exclude_from_weight_decay";
  std::vector<std::regex> expressions;
  for (const std::string& pattern : patterns) {
    try {
      expressions.emplace_back(pattern, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      throw std::invalid_argument(std::string(name_) + ": " + where + ": the pattern '" + pattern +
                                  "' is not a regular expression (" + e.what() + ")");
    }
  }
  std::vector<bool> excluded(parameters_.size(), false);
  for (const auto& [path, variable] : named) {
    const std::optional<std::size_t> index = find_parameter(variable);
    if (!index) continue;  // a weight this optimizer does not update (frozen)
    const std::size_t slash = path.rfind('/');
    const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
    if (std::any_of(expressions.begin(), expressions.end(),
                    [&](const std::regex& expression) { return std::regex_search(name, expression); }))
      excluded[*index] = true;  // a weight named twice (shared) is excluded by either name
  }
  excluded_from_decay_ = std::move(excluded);
}

template <typename T>
bool Optimizer<T>::gather_accumulated_gradients() {
  const bool update_step = (iterations_ + 1) % accumulation_steps_ == 0;
  const T steps = static_cast<T>(accumulation_steps_);
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    Array<T>& accumulated = accumulated_gradients_[i];
    if (parameters_[i].has_grad()) {
      T* sum = accumulated.data();
      T* grad = parameters_[i].grad_buffer().data();
      if (update_step) {
        // Keras' (g + acc_g) / steps.
        for (std::size_t e = 0; e < accumulated.size(); ++e) grad[e] = (grad[e] + sum[e]) / steps;
      } else {
        add_into(sum, grad, sum, accumulated.size());
      }
    }
    if (update_step) std::fill(accumulated.begin(), accumulated.end(), T(0));
  }
  return update_step;
}

template <typename T>
void Optimizer<T>::clip_each_gradient_and_decay() {
  if (clipnorm_ == 0.0 && clipvalue_ == 0.0 && weight_decay_ == 0.0) return;
  const T limit = static_cast<T>(clipvalue_);
  const T decay = static_cast<T>(weight_decay_), lr = static_cast<T>(step_learning_rate_);
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    Variable<T>& parameter = parameters_[i];
    if (!parameter.has_grad()) continue;
    // clipnorm is global_clipnorm's scaling over one gradient at a time.
    if (clipnorm_ > 0.0) {
      clip_grad_norm(std::vector<Variable<T>>{parameter}, static_cast<T>(clipnorm_));
    } else if (clipvalue_ > 0.0) {
      for (T& g : parameter.grad_buffer()) g = std::clamp(g, -limit, limit);
    }
    if (weight_decay_ > 0.0 && !excluded_from_decay_[i])
      for (T& p : parameter.value()) p = p - p * decay * lr;  // Keras' order of operations
  }
}

template <typename T>
bool Optimizer<T>::gradients_finite() const {
  for (const auto& parameter : parameters_) {
    if (!parameter.has_grad()) continue;
    for (const T g : parameter.grad())
      if (!std::isfinite(g)) return false;
  }
  return true;
}

template <typename T>
typename Optimizer<T>::State Optimizer<T>::state() const {
  State out;
  out.optimizer = name_;
  out.iterations = iterations_;
  out.skipped_steps = skipped_steps_;
  out.learning_rate = learning_rate_;
  // slots() hands out pointers for load_state too; reading through them here
  // changes nothing.
  for (const auto& [kind, arrays] : const_cast<Optimizer*>(this)->all_slots())
    for (std::size_t i = 0; i < arrays->size(); ++i)
      out.slots.emplace_back(kind + "/" + std::to_string(i), (*arrays)[i]);
  return out;
}

template <typename T>
void Optimizer<T>::load_state(const State& state) {
  const std::string where = std::string(name_) + ": load_state: ";
  if (state.optimizer != name_) {
    throw std::invalid_argument(where + "the state is of an optimizer " + state.optimizer +
                                ", this one is " + name_);
  }
  std::vector<std::pair<Array<T>*, const Array<T>*>> assignments;
  std::size_t expected = 0;
  for (const auto& [kind, arrays] : all_slots()) {
    for (std::size_t i = 0; i < arrays->size(); ++i, ++expected) {
      const std::string slot = kind + "/" + std::to_string(i);
      const auto found = std::find_if(state.slots.begin(), state.slots.end(),
                                      [&](const auto& entry) { return entry.first == slot; });
      if (found == state.slots.end()) {
        throw std::invalid_argument(where + "the state has no slot '" + slot + "' (of shape " +
                                    shape_to_string((*arrays)[i].shape()) +
                                    "); were the optimizer's options or parameters different?");
      }
      if (found->second.shape() != (*arrays)[i].shape()) {
        throw std::invalid_argument(where + "slot '" + slot + "' has shape " +
                                    shape_to_string(found->second.shape()) + ", the parameter has shape " +
                                    shape_to_string((*arrays)[i].shape()));
      }
      assignments.emplace_back(&(*arrays)[i], &found->second);
    }
  }
  if (state.slots.size() != expected) {
    std::string extra;
    for (const auto& entry : state.slots) {
      bool used = false;
      for (const auto& assignment : assignments) used = used || assignment.second == &entry.second;
      if (!used) extra += (extra.empty() ? "'" : ", '") + entry.first + "'";
    }
    throw std::invalid_argument(where + "the state has slots this optimizer does not keep: " + extra +
                                "; were the optimizer's options or parameters different?");
  }
  if (!schedule_) check_range("learning_rate", state.learning_rate, 0.0, INFINITY, true);
  for (auto& [target, source] : assignments) *target = *source;
  iterations_ = state.iterations;
  skipped_steps_ = state.skipped_steps;
  if (!schedule_) learning_rate_ = state.learning_rate;
}

template <typename T>
std::vector<std::pair<std::string, std::vector<Array<T>>*>> Optimizer<T>::all_slots() {
  auto out = slots();
  if (accumulation_steps_ > 1) out.emplace_back("gradient_accumulators", &accumulated_gradients_);
  if (use_ema_) out.emplace_back("moving_averages", &moving_averages_);
  return out;
}

template <typename T>
void Optimizer<T>::zero_grad() {
  for (auto& parameter : parameters_) parameter.zero_grad();
}

// ---- SGD ----

template <typename T>
SGD<T>::SGD(std::vector<Variable<T>> parameters, SGDOptions options)
    : Optimizer<T>(std::move(parameters), "SGD"), options_(std::move(options)) {
  this->set_common_options(options_);
  this->check_range("momentum", options_.momentum(), 0.0, 1.0, true);
  if (options_.momentum() != 0.0) velocities_ = this->zero_state();
}

template <typename T>
void SGD<T>::update(std::size_t index, Array<T>& value, const Array<T>& grad, std::size_t) {
  const T lr = static_cast<T>(this->step_learning_rate());
  T* p = value.data();
  const T* g = grad.data();
  const std::size_t n = value.size();
  if (options_.momentum() == 0.0) {
    for (std::size_t i = 0; i < n; ++i) p[i] -= g[i] * lr;
    return;
  }
  const T momentum = static_cast<T>(options_.momentum());
  T* v = velocities_[index].data();
  for (std::size_t i = 0; i < n; ++i) {
    v[i] = v[i] * momentum - g[i] * lr;
    p[i] += options_.nesterov() ? v[i] * momentum - g[i] * lr : v[i];
  }
}

template <typename T>
std::vector<std::pair<std::string, std::vector<Array<T>>*>> SGD<T>::slots() {
  if (velocities_.empty()) return {};
  return {{"velocities", &velocities_}};
}

// ---- RMSprop ----

template <typename T>
RMSprop<T>::RMSprop(std::vector<Variable<T>> parameters, RMSpropOptions options)
    : Optimizer<T>(std::move(parameters), "RMSprop"), options_(std::move(options)) {
  this->set_common_options(options_);
  this->check_range("rho", options_.rho(), 0.0, 1.0, false);
  this->check_range("momentum", options_.momentum(), 0.0, 1.0, true);
  this->check_range("epsilon", options_.epsilon(), 0.0, INFINITY, true);
  velocities_ = this->zero_state();
  if (options_.centered()) average_gradients_ = this->zero_state();
  if (options_.momentum() > 0.0) momentums_ = this->zero_state();
}

template <typename T>
void RMSprop<T>::update(std::size_t index, Array<T>& value, const Array<T>& grad, std::size_t) {
  const T lr = static_cast<T>(this->step_learning_rate());
  const T rho = static_cast<T>(options_.rho());
  const T one_minus_rho = static_cast<T>(1.0 - options_.rho());
  const T epsilon = static_cast<T>(options_.epsilon());
  const T momentum = static_cast<T>(options_.momentum());
  const bool centered = options_.centered(), use_momentum = options_.momentum() > 0.0;
  T* p = value.data();
  const T* g = grad.data();
  T* v = velocities_[index].data();
  T* a = centered ? average_gradients_[index].data() : nullptr;
  T* m = use_momentum ? momentums_[index].data() : nullptr;
  const std::size_t n = value.size();
  for (std::size_t i = 0; i < n; ++i) {
    v[i] = rho * v[i] + one_minus_rho * (g[i] * g[i]);
    T denominator;
    if (centered) {
      a[i] = rho * a[i] + one_minus_rho * g[i];
      denominator = v[i] - a[i] * a[i] + epsilon;
    } else {
      denominator = v[i] + epsilon;
    }
    const T increment = lr * g[i] / std::sqrt(denominator);
    if (use_momentum) {
      m[i] = momentum * m[i] + increment;
      p[i] -= m[i];
    } else {
      p[i] -= increment;
    }
  }
}

template <typename T>
std::vector<std::pair<std::string, std::vector<Array<T>>*>> RMSprop<T>::slots() {
  std::vector<std::pair<std::string, std::vector<Array<T>>*>> out{{"velocities", &velocities_}};
  if (!average_gradients_.empty()) out.emplace_back("average_gradients", &average_gradients_);
  if (!momentums_.empty()) out.emplace_back("momentums", &momentums_);
  return out;
}

// ---- Adam ----

template <typename T>
Adam<T>::Adam(std::vector<Variable<T>> parameters, AdamOptions options)
    : Adam(std::move(parameters), std::move(options), "Adam") {}

template <typename T>
Adam<T>::Adam(std::vector<Variable<T>> parameters, AdamOptions options, const char* name)
    : Optimizer<T>(std::move(parameters), name), options_(std::move(options)) {
  this->set_common_options(options_);
  this->check_range("beta_1", options_.beta_1(), 0.0, 1.0, false);
  this->check_range("beta_2", options_.beta_2(), 0.0, 1.0, false);
  this->check_range("epsilon", options_.epsilon(), 0.0, INFINITY, true);
  momentums_ = this->zero_state();
  velocities_ = this->zero_state();
  if (options_.amsgrad()) velocity_hats_ = this->zero_state();
}

template <typename T>
void Adam<T>::update(std::size_t index, Array<T>& value, const Array<T>& grad, std::size_t step) {
  // The bias correction in double, then the elementwise update in T.
  const double t = static_cast<double>(step);
  const double beta_1_power = std::pow(options_.beta_1(), t);
  const double beta_2_power = std::pow(options_.beta_2(), t);
  const T alpha = static_cast<T>(this->step_learning_rate() * std::sqrt(1.0 - beta_2_power) /
                                 (1.0 - beta_1_power));
  const T one_minus_beta_1 = static_cast<T>(1.0 - options_.beta_1());
  const T one_minus_beta_2 = static_cast<T>(1.0 - options_.beta_2());
  const T epsilon = static_cast<T>(options_.epsilon());
  const bool amsgrad = options_.amsgrad();
  T* p = value.data();
  const T* g = grad.data();
  T* m = momentums_[index].data();
  T* v = velocities_[index].data();
  T* v_hat = amsgrad ? velocity_hats_[index].data() : nullptr;
  const std::size_t n = value.size();
  for (std::size_t i = 0; i < n; ++i) {
    m[i] += (g[i] - m[i]) * one_minus_beta_1;
    v[i] += (g[i] * g[i] - v[i]) * one_minus_beta_2;
    T second_moment = v[i];
    if (amsgrad) second_moment = v_hat[i] = std::max(v_hat[i], v[i]);
    p[i] -= m[i] * alpha / (std::sqrt(second_moment) + epsilon);
  }
}

template <typename T>
std::vector<std::pair<std::string, std::vector<Array<T>>*>> Adam<T>::slots() {
  std::vector<std::pair<std::string, std::vector<Array<T>>*>> out{{"momentums", &momentums_},
                                                                  {"velocities", &velocities_}};
  if (!velocity_hats_.empty()) out.emplace_back("velocity_hats", &velocity_hats_);
  return out;
}

// ---- clip_grad_norm ----

namespace {
template <typename T>
T clip_grad_norm_impl(const std::vector<Variable<T>>& parameters, T max_norm,
                      bool error_if_nonfinite) {
  if (!(max_norm > T(0))) {
    throw std::invalid_argument("clip_grad_norm: max_norm must be positive, got " +
                                number(static_cast<double>(max_norm)));
  }
  double sum_of_squares = 0.0;
  for (const auto& parameter : parameters) {
    if (!parameter.has_grad()) continue;
    for (const T g : parameter.grad()) sum_of_squares += static_cast<double>(g) * static_cast<double>(g);
  }
  const double norm = std::sqrt(sum_of_squares);
  if (error_if_nonfinite && !std::isfinite(norm)) {
    // Which gradient: a non-finite norm may also be an overflow of finite ones.
    const auto first_non_finite = [&]() -> std::string {
      for (std::size_t i = 0; i < parameters.size(); ++i) {
        if (!parameters[i].has_grad()) continue;
        const Array<T>& grad = parameters[i].grad();
        for (std::size_t e = 0; e < grad.size(); ++e) {
          if (std::isfinite(grad.flat(e))) continue;
          return "the first non-finite element is " + number(static_cast<double>(grad.flat(e))) +
                 " at flat index " + std::to_string(e) + " of the gradient of parameter " +
                 std::to_string(i) + ", of shape " + shape_to_string(grad.shape());
        }
      }
      return "every gradient element is finite: their squares overflow";
    };
    const std::string culprit = first_non_finite();
    throw NonFiniteError("clip_grad_norm: the total norm of the gradients of " +
                         std::to_string(parameters.size()) + " parameters is " + number(norm) +
                         ", so it cannot be clipped (" + culprit +
                         "); the gradients are left unchanged. With error_if_nonfinite = false "
                         "the norm is returned instead");
  }
  if (std::isfinite(norm) && norm > static_cast<double>(max_norm)) {
    const T scale = static_cast<T>(static_cast<double>(max_norm) / norm);
    for (const auto& parameter : parameters) {
      if (!parameter.has_grad()) continue;
      Variable<T> handle = parameter;  // shallow: the same gradient
      handle.grad_buffer() *= scale;
    }
  }
  return static_cast<T>(norm);
}
}  // namespace

float clip_grad_norm(const std::vector<Variable<float>>& parameters, float max_norm,
                     bool error_if_nonfinite) {
  return clip_grad_norm_impl(parameters, max_norm, error_if_nonfinite);
}

double clip_grad_norm(const std::vector<Variable<double>>& parameters, double max_norm,
                      bool error_if_nonfinite) {
  return clip_grad_norm_impl(parameters, max_norm, error_if_nonfinite);
}

template class Optimizer<float>;
template class Optimizer<double>;
template class SGD<float>;
template class SGD<double>;
template class RMSprop<float>;
template class RMSprop<double>;
template class Adam<float>;
template class Adam<double>;

}  // namespace xgrad::nn
