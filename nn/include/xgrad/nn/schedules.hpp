#pragma once
// Learning-rate schedules with Keras' formulas and names
// (keras.optimizers.schedules): the learning rate as a function of the
// optimizer's step count. Every optimizer takes one in place of a constant
// rate and asks it for the rate of each step:
//
//   auto schedule = std::make_shared<nn::ExponentialDecay>(
//       nn::ExponentialDecayOptions(1e-2, 1000, 0.9));
//   nn::Adam<float> optimizer(model.parameters(), nn::AdamOptions().learning_rate(schedule));
//
// `step` is the optimizer's steps_taken() before the step (0 for the first
// step), as Keras calls the schedule with its optimizer's step count (with
// gradient accumulation, every step, not only the updates). Division and
// powers are in double. Bad options throw std::invalid_argument naming the
// schedule and the option.

#include <cstddef>
#include <memory>
#include <optional>
#include <vector>

#include "xgrad/nn/options.hpp"

namespace xgrad::nn {

// The base: derive from it for a schedule of your own.
class LearningRateSchedule {
 public:
  virtual ~LearningRateSchedule() = default;
  // The learning rate of step `step` (0, 1, 2, ...): finite and >= 0.
  virtual double operator()(std::size_t step) const = 0;
};

using LearningRateSchedulePtr = std::shared_ptr<const LearningRateSchedule>;

// The options of ExponentialDecay and InverseTimeDecay, which Keras gives
// the same arguments.
struct DecayOptions {
  DecayOptions(double initial_learning_rate, double decay_steps, double decay_rate)
      : initial_learning_rate_(initial_learning_rate), decay_steps_(decay_steps),
        decay_rate_(decay_rate) {}

  XGRAD_ARG(double, initial_learning_rate);  // required, >= 0
  XGRAD_ARG(double, decay_steps);            // required, > 0
  XGRAD_ARG(double, decay_rate);             // required, >= 0
  XGRAD_ARG(bool, staircase) = false;        // Keras: False
};
using ExponentialDecayOptions = DecayOptions;
using InverseTimeDecayOptions = DecayOptions;

// Keras' ExponentialDecay:
//   p = step / decay_steps          (staircase: p = floor(step / decay_steps))
//   lr = initial_learning_rate · decay_rate^p
class ExponentialDecay : public LearningRateSchedule {
 public:
  explicit ExponentialDecay(DecayOptions options);
  double operator()(std::size_t step) const override;
  const DecayOptions& options() const { return options_; }

 private:
  DecayOptions options_;
};

// Keras' PiecewiseConstantDecay(boundaries, values): values has one entry
// more than boundaries, which increase strictly;
//   lr = values[0]      for step <= boundaries[0]
//        values[i]      for boundaries[i-1] < step <= boundaries[i]
//        values.back()  for step > boundaries.back()
class PiecewiseConstantDecay : public LearningRateSchedule {
 public:
  PiecewiseConstantDecay(std::vector<std::size_t> boundaries, std::vector<double> values);
  double operator()(std::size_t step) const override;
  const std::vector<std::size_t>& boundaries() const { return boundaries_; }
  const std::vector<double>& values() const { return values_; }

 private:
  std::vector<std::size_t> boundaries_;
  std::vector<double> values_;
};

struct CosineDecayOptions {
  CosineDecayOptions(double initial_learning_rate, double decay_steps)
      : initial_learning_rate_(initial_learning_rate), decay_steps_(decay_steps) {}

  XGRAD_ARG(double, initial_learning_rate);                  // required, >= 0
  XGRAD_ARG(double, decay_steps);                            // required, > 0
  XGRAD_ARG(double, alpha) = 0.0;                            // Keras: 0.0; the floor, a fraction of the start
  XGRAD_ARG(std::optional<double>, warmup_target) = std::nullopt;  // Keras: None (no warmup)
  XGRAD_ARG(double, warmup_steps) = 0.0;                     // Keras: 0; >= 0
};

// Keras' CosineDecay, with its optional linear warmup. The decay, from a
// rate `from` over decay_steps:
//   decayed(s, from) = from · ((1 − alpha) · 0.5 · (1 + cos(pi · s / decay_steps)) + alpha)
// Without warmup_target: lr = decayed(min(step, decay_steps), initial_learning_rate).
// With it, s = min(step, warmup_steps + decay_steps) and
//   s < warmup_steps:  lr = initial + (warmup_target − initial) · s / warmup_steps
//   otherwise:         lr = decayed(s − warmup_steps, warmup_target)
class CosineDecay : public LearningRateSchedule {
 public:
  explicit CosineDecay(CosineDecayOptions options);
  double operator()(std::size_t step) const override;
  const CosineDecayOptions& options() const { return options_; }

 private:
  CosineDecayOptions options_;
};

// Keras' InverseTimeDecay:
//   p = step / decay_steps          (staircase: p = floor(step / decay_steps))
//   lr = initial_learning_rate / (1 + decay_rate · p)
class InverseTimeDecay : public LearningRateSchedule {
 public:
  explicit InverseTimeDecay(DecayOptions options);
  double operator()(std::size_t step) const override;
  const DecayOptions& options() const { return options_; }

 private:
  DecayOptions options_;
};

}  // namespace xgrad::nn
