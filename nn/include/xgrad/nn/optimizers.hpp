#pragma once
// Optimizers with Keras' update rules, names and defaults (keras.optimizers
// SGD, RMSprop, Adam, AdamW), over a list of parameter Variables:
//
//   nn::Adam<> optimizer(model.parameters(), nn::AdamOptions().learning_rate(1e-2));
//   for (...) {
//     optimizer.zero_grad();
//     loss.backward();
//     nn::clip_grad_norm(model.parameters(), 1.0f);  // optional
//     optimizer.step();
//   }
//
// step() updates every parameter that has a gradient, in place (the model
// sees the new values through its own handles), without recording a graph;
// a parameter without a gradient is skipped and its state left as it was.
// Each step counts as one of Keras' `iterations`, whether or not every
// parameter had a gradient; Adam's bias correction uses that count.
//
// The state (velocities, moments) is per parameter, zeros of its shape,
// made with the optimizer (Keras' build); a parameter must keep its shape.
// Hyperparameters are doubles, as in Keras; scalar coefficients (Adam's
// alpha) are computed in double, the elementwise arithmetic in T (Keras
// casts to the variable's dtype). In the formulas g is the gradient, p the
// parameter, lr the learning rate, t the step number counted from 1.
//
// Options every optimizer has, as Keras' base optimizer:
//   learning_rate(schedule)  a LearningRateSchedule (schedules.hpp) in place
//                            of the constant rate: each step uses
//                            lr = schedule(iterations()), the count of the
//                            steps before it, as Keras' optimizer.iterations
//   global_clipnorm(c)       before each update, all gradients are scaled
//                            together to a global L2 norm of at most c
//                            (clip_grad_norm below); 0: no clipping
//   clipnorm(c)              the same for each parameter's gradient on its
//                            own: g · c / ‖g‖ where ‖g‖ > c (a non-finite
//                            norm leaves g alone, as global_clipnorm does)
//   clipvalue(c)             each gradient element clipped to [−c, c]
//                            (at most one of the three clippings may be set,
//                            as in Keras; 0: not set)
//   weight_decay(w)          after the clipping and before each update,
//                            p −= p · w · lr for every parameter with a
//                            gradient (Keras' decoupled weight decay; AdamW
//                            below is Adam with Keras' default 0.004 of it);
//                            0: none
//   gradient_accumulation_steps(n)
//                            n >= 2: a step adds each gradient into an
//                            accumulator and changes no weight, except every
//                            n-th step, which updates with (g + accumulated)
//                            / n, the mean over the n steps, then clears the
//                            accumulators (all of them, as Keras: a parameter
//                            without a gradient at that step loses what it
//                            had gathered); Adam's t counts updates, a
//                            schedule sees every step (Keras' semantics);
//                            0: none (Keras: None); 1 is refused, as in Keras
//   use_ema(true)            Keras' exponential moving average of the
//                            weights: after each step, for every
//                            parameter a = m · a + (1 − m) · p, with m =
//                            ema_momentum (0.99) except at the first update
//                            (m = 0: a = p); with ema_overwrite_frequency f,
//                            every f-th update also copies the averages into
//                            the weights; finalize_variable_values() copies
//                            them at the end (Trainer::fit calls it, as
//                            Keras' fit does). The averages are part of the
//                            state.
// and one of xgrad's own (opt-in):
//   skip_nonfinite(true)     a step whose gradients hold a NaN or an
//                            infinity changes nothing (no weight, no moment,
//                            iterations() not advanced, constraints not
//                            applied) and is counted in skipped_steps(),
//                            as a loss-scaling optimizer skips an overflowed
//                            step; one bad batch then cannot put NaN into
//                            every weight

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "xgrad/autograd/anomaly.hpp"
#include "xgrad/autograd/variable.hpp"
#include "xgrad/nn/module.hpp"
#include "xgrad/nn/options.hpp"
#include "xgrad/nn/schedules.hpp"

namespace xgrad::nn {

// Base of the optimizers: the parameters, the step count, zero_grad().
template <typename T = float>
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter that has a gradient: the gradient hook
  // (if any), the rate of this step taken from the schedule, the gradients
  // clipped (global_clipnorm, clipnorm or clipvalue), the weight decay, then
  // each update; with gradient_accumulation_steps, only every n-th step
  // updates (the others gather the gradients). Each parameter's shape and
  // its gradient's are checked before anything changes.
  void step();
  // Forgets every parameter's gradient (Variable::zero_grad).
  void zero_grad();

  // After each step(), also apply `model`'s weight constraints
  // (Module::apply_constraints), as Keras' optimizer applies a variable's
  // constraint after its update. `model` must outlive the optimizer.
  void apply_constraints_of(Module<T>& model) { constrained_model_ = &model; }

  // "SGD", "RMSprop", "Adam", "AdamW": the name that starts its error messages.
  const char* name() const { return name_; }
  const std::vector<Variable<T>>& parameters() const { return parameters_; }
  // Completed steps (Keras' optimizer.iterations): with
  // gradient_accumulation_steps n, the updates made (steps / n).
  std::size_t iterations() const {
    return accumulation_steps_ > 1 ? iterations_ / accumulation_steps_ : iterations_;
  }
  // Every step() that was not skipped, updates and accumulations alike.
  std::size_t steps_taken() const { return iterations_; }

  // The learning rate of the next step: the schedule's value at
  // steps_taken() when the optimizer has a schedule, else the constant rate.
  double learning_rate() const;
  // Sets the constant rate of the following steps (finite, >= 0), as
  // callbacks such as ReduceLROnPlateau do. Throws std::invalid_argument when
  // the rate follows a schedule (Keras: not settable) or is out of range.
  void set_learning_rate(double learning_rate);
  // The schedule; null for a constant rate.
  const LearningRateSchedulePtr& learning_rate_schedule() const { return schedule_; }
  // 0 when gradients are not clipped that way.
  double global_clipnorm() const { return global_clipnorm_; }
  double clipnorm() const { return clipnorm_; }
  double clipvalue() const { return clipvalue_; }
  // 0 without weight decay.
  double weight_decay() const { return weight_decay_; }
  // 0 without gradient accumulation.
  std::size_t gradient_accumulation_steps() const { return accumulation_steps_; }
  bool use_ema() const { return use_ema_; }
  double ema_momentum() const { return ema_momentum_; }
  std::size_t ema_overwrite_frequency() const { return ema_overwrite_frequency_; }

  // Keras' exclude_from_weight_decay(var_list, var_names): these parameters
  // get no weight decay; nor do those of `named` (Module::named_parameters)
  // whose own name, the part after the last '/' as Keras' variable.name,
  // has a match of any of the ECMAScript regular expressions `patterns`
  // ({"bias"}: every bias; named weights the optimizer does not update are
  // passed over). Each call replaces the last one's exclusions, as in Keras.
  // Throws std::invalid_argument, changing nothing, for a listed variable
  // that is not one of the parameters or a pattern that does not parse.
  void exclude_from_weight_decay(const std::vector<Variable<T>>& variables);
  void exclude_from_weight_decay(const typename Module<T>::NamedParameters& named,
                                 const std::vector<std::string>& patterns);
  // Whether parameter `index` gets the weight decay.
  bool uses_weight_decay(std::size_t index) const { return !excluded_from_decay_.at(index); }

  // Keras' finalize_variable_values: with use_ema, copies each moving average
  // into its parameter; nothing otherwise.
  void finalize_variable_values();
  bool skip_nonfinite() const { return skip_nonfinite_; }
  // Steps skipped for non-finite gradients (with skip_nonfinite).
  std::size_t skipped_steps() const { return skipped_steps_; }

  // Everything a run needs to continue with this optimizer exactly where it
  // was (Keras' optimizer.variables): the step counts, the constant rate
  // (which callbacks may have changed) and every slot of every parameter,
  // named "<slot>/<parameter index>" ("momentums/0", "velocities/0" for
  // Adam, "gradient_accumulators/0" with gradient_accumulation_steps,
  // "moving_averages/0" with use_ema; the slots an optimizer has depend on
  // its options).
  struct State {
    std::string optimizer;  // name()
    std::size_t iterations = 0;  // steps_taken()
    std::size_t skipped_steps = 0;
    double learning_rate = 0.0;  // the constant rate; ignored with a schedule
    std::vector<std::pair<std::string, Array<T>>> slots;
  };
  State state() const;
  // Puts back a state() of an optimizer of the same kind, options and
  // parameter shapes. Throws std::invalid_argument naming what differs (the
  // optimizer, a missing or extra slot, a shape) before changing anything.
  void load_state(const State& state);

  // A function step() runs on the parameters after its shape checks and
  // before anything else (skip_nonfinite's check, clipping, the updates):
  // it may change their gradients in place, or give one to a parameter
  // without. Data-parallel training averages the gradients over the
  // processes here (dist::DistributedOptimizer), so every process skips a
  // non-finite step alike. Empty (the default): none. Copying the state
  // between processes goes through state() / load_state().
  using GradientHook = std::function<void(const std::vector<Variable<T>>& parameters)>;
  void set_gradient_hook(GradientHook hook) { gradient_hook_ = std::move(hook); }
  const GradientHook& gradient_hook() const { return gradient_hook_; }

 protected:
  // Throws std::invalid_argument, naming `optimizer`, for an empty list, a
  // parameter listed twice, or one that does not require a gradient.
  Optimizer(std::vector<Variable<T>> parameters, const char* optimizer);

  // For the constructors of the optimizers: the options every optimizer has
  // (XGRAD_OPTIMIZER_ARGS). Checks that the rate and each clipping and
  // decay is >= 0, and that at most one clipping is set.
  template <typename Options>
  void set_common_options(const Options& options) {
    set_common_options(CommonOptions{options.learning_rate(), options.learning_rate_schedule(),
                                     options.global_clipnorm(), options.clipnorm(), options.clipvalue(),
                                     options.weight_decay(), options.gradient_accumulation_steps(),
                                     options.use_ema(), options.ema_momentum(), options.ema_overwrite_frequency(),
                                     options.skip_nonfinite()});
  }
  // The learning rate of the step under way, for update().
  double step_learning_rate() const { return step_learning_rate_; }

  // Updates parameter `index` in place from its gradient; `step` counts
  // from 1.
  virtual void update(std::size_t index, Array<T>& value, const Array<T>& grad, std::size_t step) = 0;

  // Zeros of each parameter's shape, in order: one kind of state.
  std::vector<Array<T>> zero_state() const;
  // Each kind of state the optimizer keeps, by name ("momentums"), for
  // state() and load_state(); kinds its options leave unused are omitted.
  virtual std::vector<std::pair<std::string, std::vector<Array<T>>*>> slots() = 0;

  // Whether every gradient there is holds only finite numbers.
  bool gradients_finite() const;

  // Throws std::invalid_argument naming the optimizer and `option` unless
  // low <= value <= high (or < high when !high_inclusive) and value is finite.
  void check_range(const char* option, double value, double low, double high,
                   bool high_inclusive) const;

 private:
  struct CommonOptions {
    double learning_rate;
    LearningRateSchedulePtr schedule;
    double global_clipnorm, clipnorm, clipvalue, weight_decay;
    std::size_t gradient_accumulation_steps;
    bool use_ema;
    double ema_momentum;
    std::size_t ema_overwrite_frequency;
    bool skip_nonfinite;
  };
  void set_common_options(CommonOptions options);
  // With gradient accumulation: true (an update step) after writing each
  // gradient's mean over the steps since the last update into it; false
  // after adding each gradient into its accumulator.
  bool gather_accumulated_gradients();
  // use_ema's moving averages after a step, and the overwrite of the
  // weights with them every ema_overwrite_frequency updates.
  void update_moving_averages();
  // The index of `variable` among the parameters: nothing, or (index_of)
  // std::invalid_argument naming `where`, when it is not one.
  std::optional<std::size_t> find_parameter(const Variable<T>& variable) const;
  std::size_t index_of(const Variable<T>& variable, const char* where) const;
  // slots() and the base's own: the gradient accumulators, the moving averages.
  std::vector<std::pair<std::string, std::vector<Array<T>>*>> all_slots();
  // clipnorm's and clipvalue's clipping of each gradient, then the weight
  // decay, as Keras' optimizer applies them before its update step.
  void clip_each_gradient_and_decay();

  const char* name_;
  std::vector<Variable<T>> parameters_;
  std::vector<Shape> shapes_;  // each parameter's shape when the optimizer was made
  std::size_t iterations_ = 0;  // every step taken (Keras' optimizer._iterations)
  std::size_t accumulation_steps_ = 0;
  std::vector<Array<T>> accumulated_gradients_;
  bool use_ema_ = false;
  double ema_momentum_ = 0.99;
  std::size_t ema_overwrite_frequency_ = 0;
  std::vector<Array<T>> moving_averages_;
  std::vector<bool> excluded_from_decay_;  // per parameter
  Module<T>* constrained_model_ = nullptr;
  double learning_rate_ = 0.0;  // the constant rate; unused with a schedule
  LearningRateSchedulePtr schedule_;
  double global_clipnorm_ = 0.0, clipnorm_ = 0.0, clipvalue_ = 0.0, weight_decay_ = 0.0;
  bool skip_nonfinite_ = false;
  std::size_t skipped_steps_ = 0;
  double step_learning_rate_ = 0.0;
  GradientHook gradient_hook_;
};

// The options every optimizer has beside learning_rate, whose default
// differs (the list at the top of this file), declared in each options
// struct so that each setter returns that struct.
#define XGRAD_OPTIMIZER_ARGS(OPTIONS)                                                          \
  /* Keras: learning_rate=<a LearningRateSchedule>; when set, it replaces learning_rate. */  \
  XGRAD_ARG(LearningRateSchedulePtr, learning_rate_schedule) = nullptr;                      \
  XGRAD_ARG(double, global_clipnorm) = 0.0; /* Keras: None (0: no clipping); >= 0 */         \
  XGRAD_ARG(double, clipnorm) = 0.0;        /* Keras: None (0: no clipping); >= 0 */         \
  XGRAD_ARG(double, clipvalue) = 0.0;       /* Keras: None (0: no clipping); >= 0 */         \
  XGRAD_ARG(double, weight_decay) = 0.0;    /* Keras: None (0: none); >= 0 */                \
  XGRAD_ARG(std::size_t, gradient_accumulation_steps) = 0; /* Keras: None (0: none); >= 2 */ \
  XGRAD_ARG(bool, use_ema) = false;                        /* Keras: False */                \
  XGRAD_ARG(double, ema_momentum) = 0.99;                  /* Keras: 0.99; in [0, 1] */      \
  XGRAD_ARG(std::size_t, ema_overwrite_frequency) = 0;     /* Keras: None (0: never) */      \
  XGRAD_ARG(bool, skip_nonfinite) = false;  /* xgrad's: skip steps with NaN/Inf gradients */ \
                                                                                              \
 public:                                                                                      \
  OPTIONS& learning_rate(LearningRateSchedulePtr schedule) {                                  \
    return learning_rate_schedule(std::move(schedule));                                       \
  }                                                                                           \
                                                                                              \
 private:

struct SGDOptions {
  XGRAD_ARG(double, learning_rate) = 0.01;  // Keras: 0.01
  XGRAD_OPTIMIZER_ARGS(SGDOptions)
  XGRAD_ARG(double, momentum) = 0.0;        // Keras: 0.0; in [0, 1]
  XGRAD_ARG(bool, nesterov) = false;        // Keras: False
};

// Keras' SGD:
//   momentum = 0:  p -= lr · g
//   else:          v = momentum · v − lr · g
//                  p += v                          (nesterov: p += momentum · v − lr · g)
// v starts at 0. With momentum 0, nesterov changes nothing (as in Keras).
template <typename T = float>
class SGD : public Optimizer<T> {
 public:
  explicit SGD(std::vector<Variable<T>> parameters, SGDOptions options = {});

  const SGDOptions& options() const { return options_; }

 protected:
  void update(std::size_t index, Array<T>& value, const Array<T>& grad, std::size_t step) override;
  std::vector<std::pair<std::string, std::vector<Array<T>>*>> slots() override;

 private:
  SGDOptions options_;
  std::vector<Array<T>> velocities_;
};

struct RMSpropOptions {
  XGRAD_ARG(double, learning_rate) = 0.001;  // Keras: 0.001
  XGRAD_OPTIMIZER_ARGS(RMSpropOptions)
  XGRAD_ARG(double, rho) = 0.9;              // Keras: 0.9; in [0, 1)
  XGRAD_ARG(double, momentum) = 0.0;         // Keras: 0.0; in [0, 1]
  XGRAD_ARG(double, epsilon) = 1e-7;         // Keras: 1e-7; >= 0
  XGRAD_ARG(bool, centered) = false;         // Keras: False
};

// Keras' RMSprop:
//   v = rho · v + (1 − rho) · g²
//   centered:  a = rho · a + (1 − rho) · g,   d = v − a² + epsilon
//   else:      d = v + epsilon
//   increment = lr · g / sqrt(d)
//   momentum > 0:  m = momentum · m + increment,  p -= m
//   else:          p -= increment
// v, a, m start at 0. epsilon sits inside the square root, as in Keras.
template <typename T = float>
class RMSprop : public Optimizer<T> {
 public:
  explicit RMSprop(std::vector<Variable<T>> parameters, RMSpropOptions options = {});

  const RMSpropOptions& options() const { return options_; }

 protected:
  void update(std::size_t index, Array<T>& value, const Array<T>& grad, std::size_t step) override;
  std::vector<std::pair<std::string, std::vector<Array<T>>*>> slots() override;

 private:
  RMSpropOptions options_;
  std::vector<Array<T>> velocities_, average_gradients_, momentums_;
};

struct AdamOptions {
  XGRAD_ARG(double, learning_rate) = 0.001;  // Keras: 0.001
  XGRAD_OPTIMIZER_ARGS(AdamOptions)
  XGRAD_ARG(double, beta_1) = 0.9;           // Keras: 0.9; in [0, 1)
  XGRAD_ARG(double, beta_2) = 0.999;         // Keras: 0.999; in [0, 1)
  XGRAD_ARG(double, epsilon) = 1e-7;         // Keras: 1e-7; >= 0
  XGRAD_ARG(bool, amsgrad) = false;          // Keras: False
};

// Keras' Adam, with the bias correction folded into the step size:
//   alpha = lr · sqrt(1 − beta_2^t) / (1 − beta_1^t)
//   m += (g − m) · (1 − beta_1)
//   v += (g² − v) · (1 − beta_2)
//   amsgrad:  v_hat = max(v_hat, v), used in place of v below
//   p -= alpha · m / (sqrt(v) + epsilon)
// m, v, v_hat start at 0.
template <typename T = float>
class Adam : public Optimizer<T> {
 public:
  explicit Adam(std::vector<Variable<T>> parameters, AdamOptions options = {});

  const AdamOptions& options() const { return options_; }

 protected:
  // For AdamW: the same optimizer under another name.
  Adam(std::vector<Variable<T>> parameters, AdamOptions options, const char* name);

  void update(std::size_t index, Array<T>& value, const Array<T>& grad, std::size_t step) override;
  std::vector<std::pair<std::string, std::vector<Array<T>>*>> slots() override;

 private:
  AdamOptions options_;
  std::vector<Array<T>> momentums_, velocities_, velocity_hats_;
};

// Keras' AdamW: Adam with decoupled weight decay (weight_decay above),
// which AdamWOptions sets to Keras' default 0.004; named "AdamW" in messages
// and state(). AdamWOptions().learning_rate(1e-3) keeps the decay.
struct AdamWOptions : AdamOptions {
  AdamWOptions() { weight_decay(0.004); }  // Keras: 0.004
};

template <typename T = float>
class AdamW : public Adam<T> {
 public:
  explicit AdamW(std::vector<Variable<T>> parameters, AdamOptions options = AdamWOptions())
      : Adam<T>(std::move(parameters), std::move(options), "AdamW") {}
};

// Scales all the gradients of `parameters` together so that their global L2
// norm, sqrt(sum over all gradient elements of g²), is at most `max_norm`:
// when the norm is above it, every gradient is multiplied in place by
// max_norm / norm (Keras' global_clipnorm, tf.clip_by_global_norm);
// otherwise nothing changes. Parameters without a gradient are skipped.
// Returns the norm before clipping. A non-finite norm (an inf or NaN in a
// gradient, or squares too large for a double) leaves the gradients alone and
// is returned, or with error_if_nonfinite (PyTorch's option, default false)
// throws xgrad::NonFiniteError naming the norm and the first non-finite
// gradient element (parameter index, shape, flat index). Throws
// std::invalid_argument unless max_norm > 0.
float clip_grad_norm(const std::vector<Variable<float>>& parameters, float max_norm,
                     bool error_if_nonfinite = false);
double clip_grad_norm(const std::vector<Variable<double>>& parameters, double max_norm,
                      bool error_if_nonfinite = false);

extern template class Optimizer<float>;
extern template class Optimizer<double>;
extern template class SGD<float>;
extern template class SGD<double>;
extern template class RMSprop<float>;
extern template class RMSprop<double>;
extern template class Adam<float>;
extern template class Adam<double>;

}  // namespace xgrad::nn
