#include "xgrad/nn/schedules.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>

#include "xgrad/nn/history.hpp"  // format_shortest

namespace xgrad::nn {

namespace {

// Throws std::invalid_argument "<schedule>: <option> must be ..., got v"
// unless value is finite and >= low (> low when `strict`).
void check_at_least(const char* schedule, const char* option, double value, double low,
                    bool strict) {
  if (std::isfinite(value) && (strict ? value > low : value >= low)) return;
  throw std::invalid_argument(std::string(schedule) + ": " + option + " must be " +
                              (strict ? "> " : ">= ") + format_shortest(low) + ", got " + format_shortest(value));
}

// The checks of ExponentialDecay's and InverseTimeDecay's options.
void check_decay_options(const char* schedule, const DecayOptions& options) {
  check_at_least(schedule, "initial_learning_rate", options.initial_learning_rate(), 0, false);
  check_at_least(schedule, "decay_steps", options.decay_steps(), 0, true);
  check_at_least(schedule, "decay_rate", options.decay_rate(), 0, false);
}

// step / decay_steps, floored with staircase.
double decay_progress(std::size_t step, double decay_steps, bool staircase) {
  const double p = static_cast<double>(step) / decay_steps;
  return staircase ? std::floor(p) : p;
}

}  // namespace

ExponentialDecay::ExponentialDecay(DecayOptions options) : options_(std::move(options)) {
  check_decay_options("ExponentialDecay", options_);
}

double ExponentialDecay::operator()(std::size_t step) const {
  return options_.initial_learning_rate() *
         std::pow(options_.decay_rate(),
                  decay_progress(step, options_.decay_steps(), options_.staircase()));
}

PiecewiseConstantDecay::PiecewiseConstantDecay(std::vector<std::size_t> boundaries,
                                               std::vector<double> values)
    : boundaries_(std::move(boundaries)), values_(std::move(values)) {
  if (values_.size() != boundaries_.size() + 1) {
    throw std::invalid_argument("PiecewiseConstantDecay: values must have one more entry than "
                                "boundaries, got " + std::to_string(boundaries_.size()) +
                                " boundaries and " + std::to_string(values_.size()) + " values");
  }
  for (std::size_t i = 1; i < boundaries_.size(); ++i) {
    if (boundaries_[i] <= boundaries_[i - 1]) {
      throw std::invalid_argument("PiecewiseConstantDecay: boundaries must increase, got " +
                                  std::to_string(boundaries_[i - 1]) + " then " +
                                  std::to_string(boundaries_[i]) + " (boundaries " +
                                  std::to_string(i - 1) + " and " + std::to_string(i) + ")");
    }
  }
  for (const double value : values_)
    check_at_least("PiecewiseConstantDecay", "every value", value, 0, false);
}

double PiecewiseConstantDecay::operator()(std::size_t step) const {
  // The first boundary >= step closes step's interval; none: the last value.
  const auto at = std::lower_bound(boundaries_.begin(), boundaries_.end(), step);
  return values_[static_cast<std::size_t>(at - boundaries_.begin())];
}

CosineDecay::CosineDecay(CosineDecayOptions options) : options_(std::move(options)) {
  check_at_least("CosineDecay", "initial_learning_rate", options_.initial_learning_rate(), 0, false);
  check_at_least("CosineDecay", "decay_steps", options_.decay_steps(), 0, true);
  check_at_least("CosineDecay", "alpha", options_.alpha(), 0, false);
  check_at_least("CosineDecay", "warmup_steps", options_.warmup_steps(), 0, false);
  if (options_.warmup_target())
    check_at_least("CosineDecay", "warmup_target", *options_.warmup_target(), 0, false);
}

double CosineDecay::operator()(std::size_t step) const {
  constexpr double pi = 3.141592653589793;
  const double alpha = options_.alpha(), decay_steps = options_.decay_steps();
  auto decayed = [&](double s, double from) {
    return from * ((1.0 - alpha) * 0.5 * (1.0 + std::cos(pi * s / decay_steps)) + alpha);
  };
  const double initial = options_.initial_learning_rate();
  if (!options_.warmup_target()) return decayed(std::min(static_cast<double>(step), decay_steps), initial);
  const double target = *options_.warmup_target(), warmup_steps = options_.warmup_steps();
  const double s = std::min(static_cast<double>(step), warmup_steps + decay_steps);
  if (s < warmup_steps) return initial + (target - initial) * s / warmup_steps;
  return decayed(s - warmup_steps, target);
}

InverseTimeDecay::InverseTimeDecay(DecayOptions options) : options_(std::move(options)) {
  check_decay_options("InverseTimeDecay", options_);
}

double InverseTimeDecay::operator()(std::size_t step) const {
  return options_.initial_learning_rate() /
         (1.0 + options_.decay_rate() *
                    decay_progress(step, options_.decay_steps(), options_.staircase()));
}

}  // namespace xgrad::nn
