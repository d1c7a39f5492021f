#include "xgrad/nn/bidirectional.hpp"

#include <stdexcept>

#include "xgrad/autograd/math_ops.hpp"
#include "xgrad/autograd/ops.hpp"

namespace xgrad::nn {

namespace detail {

std::string without_prefix(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0 ? text.substr(prefix.size()) : text;
}

}  // namespace detail

namespace {

// x [B, T, ...] in reverse time order; one select per step, then one stack.
template <typename T>
Variable<T> flip_time(const Variable<T>& x) {
  const std::size_t steps = x.shape()[1];
  std::vector<Variable<T>> steps_reversed;
  steps_reversed.reserve(steps);
  for (std::size_t s = 0; s < steps; ++s) steps_reversed.push_back(select(x, 1, steps - 1 - s));
  return stack(steps_reversed, 1);
}

}  // namespace

template <typename T>
Bidirectional<T>::Bidirectional(BidirectionalOptions options)
    : Module<T>(options.name()), options_(std::move(options)) {
  merge_mode_ = options_.merge_mode();
  if (merge_mode_ && *merge_mode_ == "none") merge_mode_.reset();
  if (merge_mode_ && *merge_mode_ != "concat" && *merge_mode_ != "sum" && *merge_mode_ != "ave" &&
      *merge_mode_ != "mul") {
    throw std::invalid_argument(describe() + ": unknown merge_mode '" + *merge_mode_ +
                                "'; known: \"concat\", \"sum\", \"ave\", \"mul\", \"none\" (or std::nullopt)");
  }
}

template <typename T>
void Bidirectional<T>::set_layers(std::shared_ptr<RecurrentLayer<T>> forward,
                                  std::shared_ptr<RecurrentLayer<T>> backward) {
  forward_ = std::move(forward);
  backward_ = std::move(backward);
  this->register_module("forward_layer", forward_);
  this->register_module("backward_layer", backward_);
}

template <typename T>
std::string Bidirectional<T>::describe() const {
  return "Bidirectional '" + this->name() + "'";
}

template <typename T>
void Bidirectional<T>::build(const std::vector<std::ptrdiff_t>& input_shape) {
  try {
    forward_->build(input_shape);
    backward_->build(input_shape);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(describe() + ": " + e.what());
  }
}

template <typename T>
BidirectionalBothOutput<T> Bidirectional<T>::run(const Variable<T>& x, const BidirectionalCall<T>& call) {
  const auto scope = this->layer_scope();
  RecurrentCall<T> forward_call, backward_call;
  forward_call.mask(call.mask()).training(call.training());
  backward_call.mask(call.mask()).training(call.training());
  if (call.initial_state()) {
    const auto& states = *call.initial_state();
    const std::size_t half = forward_->cell().states();
    if (states.size() != 2 * half) {
      std::string shapes;
      for (std::size_t i = 0; i < states.size(); ++i)
        shapes += (i ? ", " : "") + shape_to_string(states[i].shape());
      throw std::invalid_argument(describe() + ": initial_state expects " + std::to_string(2 * half) +
                                  " states (forward, backward), got " + std::to_string(states.size()) + " [" +
                                  shapes + "] for input shape " + shape_to_string(x.shape()));
    }
    forward_call.initial_state(std::vector<Variable<T>>(states.begin(), states.begin() + half));
    backward_call.initial_state(std::vector<Variable<T>>(states.begin() + half, states.end()));
  }
  RecurrentOutput<T> forward_result, backward_result;
  try {
    forward_result = forward_->forward_with_state(x, forward_call);
    backward_result = backward_->forward_with_state(x, backward_call);
  } catch (const std::invalid_argument& e) {
    // The direction's message names it and the shapes; this says which wrapper.
    throw std::invalid_argument(describe() + ": " + e.what());
  }
  Variable<T> backward_output = backward_result.output;
  // The backward layer returns its sequence in processing order (t = T .. 1);
  // flipped back, step t of both outputs is input step t. Its [B, U] output
  // (the state after t = 1) has no time axis to flip.
  if (backward_->options().return_sequences()) backward_output = flip_time(backward_output);
  return {forward_result.output, backward_output, forward_result.state, backward_result.state,
          forward_result.states, backward_result.states};
}

template <typename T>
Variable<T> Bidirectional<T>::merge(const Variable<T>& y, const Variable<T>& y_backward) const {
  const std::string& mode = *merge_mode_;
  if (mode == "concat") return concat(std::vector<Variable<T>>{y, y_backward}, -1);
  if (mode == "sum") return add(y, y_backward);
  if (mode == "ave") return scale(add(y, y_backward), T(0.5));
  return mul(y, y_backward);  // "mul": the constructor allowed nothing else
}

template <typename T>
Variable<T> Bidirectional<T>::forward(const Variable<T>& x, const BidirectionalCall<T>& call) {
  return forward_with_state(x, call).output;
}

template <typename T>
BidirectionalOutput<T> Bidirectional<T>::forward_with_state(const Variable<T>& x,
                                                            const BidirectionalCall<T>& call) {
  const auto scope = this->layer_scope();  // the merge too
  if (!merge_mode_) {
    throw std::invalid_argument(describe() + ": merge_mode is none, so there is no single output for input shape " +
                                shape_to_string(x.shape()) + "; use forward_both");
  }
  BidirectionalBothOutput<T> both = run(x, call);
  return {merge(both.forward_output, both.backward_output), both.forward_state, both.backward_state,
          both.forward_states, both.backward_states};
}

template <typename T>
std::pair<Variable<T>, Variable<T>> Bidirectional<T>::forward_both(const Variable<T>& x,
                                                                   const BidirectionalCall<T>& call) {
  BidirectionalBothOutput<T> both = run(x, call);
  return {both.forward_output, both.backward_output};
}

template <typename T>
BidirectionalBothOutput<T> Bidirectional<T>::forward_both_with_state(const Variable<T>& x,
                                                                     const BidirectionalCall<T>& call) {
  return run(x, call);
}

template <typename T>
void Bidirectional<T>::reset_state() {
  if (!forward_->options().stateful()) throw std::logic_error(describe() + ": reset_state needs a stateful layer");
  forward_->reset_state();
  backward_->reset_state();
}

template class Bidirectional<float>;
template class Bidirectional<double>;

}  // namespace xgrad::nn
