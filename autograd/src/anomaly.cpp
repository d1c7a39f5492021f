#include "xgrad/autograd/anomaly.hpp"

#include <cmath>
#include <mutex>
#include <unordered_set>

#include "anomaly_checks.hpp"

namespace xgrad {

namespace {

thread_local LayerScope* innermost_scope = nullptr;

// Paths live until the process ends: a graph node may outlive its layer.
const char* intern(std::string path) {
  static std::mutex* mutex = new std::mutex;
  static auto* paths = new std::unordered_set<std::string>;
  std::lock_guard<std::mutex> lock(*mutex);
  return paths->insert(std::move(path)).first->c_str();
}

constexpr std::size_t kAllFinite = static_cast<std::size_t>(-1);

template <typename T>
std::size_t first_non_finite(const Array<T>& values) {
  const T* data = values.data();
  for (std::size_t i = 0; i < values.size(); ++i)
    if (!std::isfinite(data[i])) return i;
  return kAllFinite;
}

template <typename T>
std::string non_finite_text(T x) {
  return std::isnan(x) ? "nan" : x > 0 ? "inf" : "-inf";
}

// "nan in X of shape (2, 3) (first at flat index 4)".
template <typename T>
std::string found_in(const Array<T>& values, std::size_t index, const std::string& what) {
  return non_finite_text(values.data()[index]) + " in " + what + " of shape " +
         shape_to_string(values.shape()) + " (first at flat index " + std::to_string(index) + ")";
}

std::string op_and_layer(const char* op, const char* layer) {
  return std::string("'") + op + "' " +
         (layer ? std::string("in '") + layer + "'" : std::string("outside any layer"));
}

}  // namespace

LayerScope::LayerScope(const char* name, const void* owner) : name_(name), owner_(owner) {
  if (owner && innermost_scope && innermost_scope->owner_ == owner) return;
  outer_ = innermost_scope;
  innermost_scope = this;
  open_ = true;
}

LayerScope::~LayerScope() {
  if (open_) innermost_scope = outer_;
}

const char* current_layer_path_interned() {
  LayerScope* scope = innermost_scope;
  if (!scope) return nullptr;
  if (!scope->path_) {
    // The outer scopes' paths first: each is made once per scope.
    std::vector<LayerScope*> unnamed;
    for (LayerScope* s = scope; s && !s->path_; s = s->outer_) unnamed.push_back(s);
    for (auto it = unnamed.rbegin(); it != unnamed.rend(); ++it) {
      LayerScope* s = *it;
      s->path_ = intern(s->outer_ ? std::string(s->outer_->path_) + "/" + s->name_
                                  : std::string(s->name_));
    }
  }
  return scope->path_;
}

std::string current_layer_path() {
  const char* path = current_layer_path_interned();
  return path ? path : "";
}

namespace detail {

template <typename T>
void check_forward_result(const char* op, const char* layer, const Array<T>& result,
                          const std::vector<Variable<T>>& inputs) {
  const std::size_t bad = first_non_finite(result);
  if (bad == kAllFinite) return;
  std::string message =
      "DetectAnomaly: " + op_and_layer(op, layer) + " made " + found_in(result, bad, "its result");
  std::string shapes;
  for (const auto& input : inputs) shapes += (shapes.empty() ? "" : ", ") + shape_to_string(input.shape());
  message += ", from inputs of shapes " + shapes;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const std::size_t bad_input = first_non_finite(inputs[i].value());
    if (bad_input == kAllFinite) continue;
    message += "; " + found_in(inputs[i].value(), bad_input, "input " + std::to_string(i)) +
               " was already there (data, a parameter, or a value made before the guard)";
    break;
  }
  throw NonFiniteError(message);
}

template <typename T>
void check_input_gradients(const char* op, const char* layer,
                           const typename Array<T>::shape_type& output_shape,
                           const std::vector<Variable<T>>& inputs) {
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Variable<T>& input = inputs[i];
    if (!input.requires_grad() || !input.has_grad()) continue;
    const std::size_t bad = first_non_finite(input.grad());
    if (bad == kAllFinite) continue;
    throw NonFiniteError("DetectAnomaly: the backward of " + op_and_layer(op, layer) +
                         " (output of shape " + shape_to_string(output_shape) + ") made " +
                         found_in(input.grad(), bad,
                                  "the gradient of its input " + std::to_string(i)));
  }
}

template <typename T>
void check_gradient_before_backward(const Array<T>& grad, bool leaf) {
  const std::size_t bad = first_non_finite(grad);
  if (bad == kAllFinite) return;
  throw NonFiniteError(
      leaf ? "DetectAnomaly: backward: " +
                 found_in(grad, bad, "the gradient a leaf already held") +
                 ", from an earlier backward; zero_grad() clears it"
           : "DetectAnomaly: backward: " + found_in(grad, bad, "the gradient passed to it"));
}

#define XGRAD_INSTANTIATE_ANOMALY_CHECKS(T)                                                   \
  template void check_forward_result(const char*, const char*, const Array<T>&,              \
                                     const std::vector<Variable<T>>&);                       \
  template void check_input_gradients(const char*, const char*,                             \
                                      const typename Array<T>::shape_type&,                  \
                                      const std::vector<Variable<T>>&);                      \
  template void check_gradient_before_backward(const Array<T>&, bool);
XGRAD_INSTANTIATE_ANOMALY_CHECKS(float)
XGRAD_INSTANTIATE_ANOMALY_CHECKS(double)
#undef XGRAD_INSTANTIATE_ANOMALY_CHECKS

}  // namespace detail

}  // namespace xgrad
