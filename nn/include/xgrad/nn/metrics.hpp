#pragma once
// Metrics with Keras' names, formulas and running state (keras.metrics):
// update_state adds a batch, result() is the figure over every batch since
// the last reset_state(), as Keras' stateful metrics keep it.
//
//   nn::MeanAbsoluteError<float> mae;
//   mae.update_state(y_true, y_pred);   // Keras' argument order: truth first
//   mae.update_state(y_true2, y_pred2);
//   double figure = mae.result();       // over both batches
//   mae.reset_state();
//
// Every metric is a mean: a running total over a running count, with
// result() 0 while the count is 0 (Keras' divide_no_nan). What is summed
// and counted, per batch (B samples, y_pred [B, ..., K]):
//
//   metric                        summed                                     counted
//   Accuracy                      [y_true == y_pred] per element             elements
//   BinaryAccuracy(threshold)     [y_true == (y_pred > threshold)] per elem. elements
//   SparseCategoricalAccuracy     [y_true == argmax(y_pred, last axis)]      labels
//   CategoricalAccuracy           [argmax(y_true) == argmax(y_pred)]         rows
//   MeanAbsoluteError             mean(|y_pred − y_true|, last axis) per row rows
//   MeanSquaredError              mean((y_pred − y_true)², last axis)        rows
//   RootMeanSquaredError          (y_pred − y_true)² per element             elements; result = sqrt(total / count)
//
// so each batch weighs by its size, and a last, smaller batch counts for what
// it holds. [b] values count one row per element. Shapes as Keras'
// squeeze_or_expand_to_same_rank takes them: y_true and y_pred of equal
// shape, or one with an extra trailing axis of 1 ([B] against [B, 1]); for
// the sparse metric, labels of y_pred's shape without its last axis (or with
// 1 there). Other shapes throw std::invalid_argument naming the metric and
// both shapes. argmax takes the first of equal maxima, as NumPy.
//
// Labels may be floats holding integers (Keras casts y_true to y_pred's
// dtype) or int32 / int64 arrays, converted to T (exact below 2^24 for
// float). A non-integer float label never equals an argmax, so it counts as
// a miss, as in Keras.
//
// With Keras' sample_weight (update_state's third argument), each summed
// unit (element, row or label) counts for its sample's weight: total adds
// weight · value and count adds weight, as Keras' weighted Mean with the
// weights broadcast over the values. The weights have the samples' shape
// or a leading part of it ([B], or [B, T] for values [B, T, ...]: one
// weight per sample and step); 0-D: one weight for the whole batch. Other
// shapes throw std::invalid_argument naming the metric and the shapes.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "xgrad/nn/options.hpp"
#include "xgrad/tensor/tensor.hpp"

namespace xgrad::nn {

// Which way a metric improves (Keras' metric._direction): callbacks in
// mode "auto" maximise an "up" metric and minimise a "down" one.
enum class MetricDirection { up, down };

template <typename T = float>
class Metric {
 public:
  virtual ~Metric() = default;

  // Adds one batch. The integer overloads convert the labels to T first.
  void update_state(const Array<T>& y_true, const Array<T>& y_pred) { update(y_true, y_pred); }
  void update_state(const Array<std::int64_t>& y_true, const Array<T>& y_pred);
  void update_state(const Array<std::int32_t>& y_true, const Array<T>& y_pred);
  // The same weighted by Keras' sample_weight (see the top of this file).
  void update_state(const Array<T>& y_true, const Array<T>& y_pred, const Array<T>& sample_weight) {
    update_weighted(y_true, y_pred, sample_weight);
  }
  void update_state(const Array<std::int64_t>& y_true, const Array<T>& y_pred, const Array<T>& sample_weight);
  void update_state(const Array<std::int32_t>& y_true, const Array<T>& y_pred, const Array<T>& sample_weight);
  // The figure so far; 0 before any update.
  virtual double result() const = 0;
  virtual void reset_state() = 0;
  // The running state as numbers, and back: a run resumed in the middle of
  // an epoch (save_training_state) continues the epoch's figures, and
  // data-parallel training (replicas.hpp) makes the epoch's figure over all
  // replicas by summing their states element by element and setting the
  // sum. So a state adds up: the sum of two states (of the same length,
  // whatever the batches) is the state after both metrics' batches
  // (MeanMetric: {total, count}). A metric of your own without one (empty,
  // the default) starts a resumed epoch's figure afresh, and over replicas
  // its result() is averaged weighted by each replica's samples.
  // set_state throws std::invalid_argument for numbers state() cannot give.
  virtual std::vector<double> state() const { return {}; }
  virtual void set_state(const std::vector<double>& state);

  // The key in fit()'s logs and History ("mean_absolute_error").
  const std::string& name() const { return name_; }
  MetricDirection direction() const { return direction_; }

 protected:
  Metric(std::string name, MetricDirection direction)
      : name_(std::move(name)), direction_(direction) {}
  // The batch, for a derived metric to add to its state.
  virtual void update(const Array<T>& y_true, const Array<T>& y_pred) = 0;
  // The batch with sample weights. Every metric of xgrad's has one; a
  // metric of your own that does not override it throws
  // std::invalid_argument naming it.
  virtual void update_weighted(const Array<T>& y_true, const Array<T>& y_pred, const Array<T>& sample_weight);

 private:
  std::string name_;
  MetricDirection direction_;
};

// Keras' Mean state: total and count, result total / count. The base of
// every metric below; a metric of your own can derive from it and add() the
// sum and count of each batch (or from UnitMeanMetric, to take weights).
template <typename T = float>
class MeanMetric : public Metric<T> {
 public:
  // total / count; 0 while count is 0.
  double result() const override { return count_ > 0 ? total_ / count_ : 0.0; }
  void reset_state() override { total_ = count_ = 0.0; }
  std::vector<double> state() const override { return {total_, count_}; }
  void set_state(const std::vector<double>& state) override;
  double total() const { return total_; }
  double count() const { return count_; }

 protected:
  using Metric<T>::Metric;
  void add(double sum, double count) {
    total_ += sum;
    count_ += count;
  }

 private:
  double total_ = 0.0, count_ = 0.0;
};

// A MeanMetric over a batch's units (its elements, rows or labels) that
// takes sample weights: each of xgrad's metrics below is one. A metric of
// your own derives from it and implements measure(), which adds the batch
// through add_units(); update_state with or without weights both go there.
template <typename T = float>
class UnitMeanMetric : public MeanMetric<T> {
 protected:
  using MeanMetric<T>::MeanMetric;
  // The batch, with its sample weights or without them (null).
  virtual void measure(const Array<T>& y_true, const Array<T>& y_pred, const Array<T>* sample_weight) = 0;
  // Adds the batch's units, of shape `units` in row-major order: value(u)
  // for unit u to the total and 1 to the count, both times its sample's
  // weight when there are weights. Throws std::invalid_argument naming
  // `metric` when the weights' shape is not a leading part of `units`.
  template <typename F>
  void add_units(const char* metric, const Shape& units, const Array<T>* sample_weight, F value) {
    const std::size_t n = element_count(units);
    const std::size_t per_weight = sample_weight ? units_per_weight(metric, units, *sample_weight) : 1;
    double total = 0.0, count = 0.0;
    for (std::size_t u = 0; u < n; ++u) {
      const double weight = sample_weight ? static_cast<double>(sample_weight->data()[u / per_weight]) : 1.0;
      total += weight * static_cast<double>(value(u));
      count += weight;
    }
    this->add(total, count);
  }

 private:
  void update(const Array<T>& y_true, const Array<T>& y_pred) final { measure(y_true, y_pred, nullptr); }
  void update_weighted(const Array<T>& y_true, const Array<T>& y_pred, const Array<T>& sample_weight) final {
    measure(y_true, y_pred, &sample_weight);
  }
  // How many consecutive units each weight covers.
  static std::size_t units_per_weight(const char* metric, const Shape& units, const Array<T>& sample_weight);
};

// keras.metrics.Accuracy: how often y_pred equals y_true exactly.
template <typename T = float>
class Accuracy : public UnitMeanMetric<T> {
 public:
  explicit Accuracy(std::string name = "accuracy")  // Keras: "accuracy"
      : UnitMeanMetric<T>(std::move(name), MetricDirection::up) {}

 protected:
  void measure(const Array<T>& y_true, const Array<T>& y_pred, const Array<T>* sample_weight) override;
};

struct BinaryAccuracyOptions {
  XGRAD_ARG(double, threshold) = 0.5;                 // Keras: 0.5; for logits use 0
  XGRAD_ARG(std::string, name) = "binary_accuracy";   // Keras: "binary_accuracy"
};

// keras.metrics.BinaryAccuracy: how often (y_pred > threshold) equals y_true
// (labels 0 or 1).
template <typename T = float>
class BinaryAccuracy : public UnitMeanMetric<T> {
 public:
  explicit BinaryAccuracy(BinaryAccuracyOptions options = {})
      : UnitMeanMetric<T>(options.name(), MetricDirection::up), threshold_(options.threshold()) {}
  double threshold() const { return threshold_; }

 protected:
  void measure(const Array<T>& y_true, const Array<T>& y_pred, const Array<T>* sample_weight) override;

 private:
  double threshold_;
};

// keras.metrics.SparseCategoricalAccuracy: how often the class label y_true
// equals argmax(y_pred) over the last axis (scores, probabilities or logits).
template <typename T = float>
class SparseCategoricalAccuracy : public UnitMeanMetric<T> {
 public:
  explicit SparseCategoricalAccuracy(std::string name = "sparse_categorical_accuracy")
      : UnitMeanMetric<T>(std::move(name), MetricDirection::up) {}

 protected:
  void measure(const Array<T>& y_true, const Array<T>& y_pred, const Array<T>* sample_weight) override;
};

// keras.metrics.CategoricalAccuracy: how often argmax(y_true) (one-hot rows)
// equals argmax(y_pred), over the last axis.
template <typename T = float>
class CategoricalAccuracy : public UnitMeanMetric<T> {
 public:
  explicit CategoricalAccuracy(std::string name = "categorical_accuracy")
      : UnitMeanMetric<T>(std::move(name), MetricDirection::up) {}

 protected:
  void measure(const Array<T>& y_true, const Array<T>& y_pred, const Array<T>* sample_weight) override;
};

// keras.metrics.MeanAbsoluteError.
template <typename T = float>
class MeanAbsoluteError : public UnitMeanMetric<T> {
 public:
  explicit MeanAbsoluteError(std::string name = "mean_absolute_error")
      : UnitMeanMetric<T>(std::move(name), MetricDirection::down) {}

 protected:
  void measure(const Array<T>& y_true, const Array<T>& y_pred, const Array<T>* sample_weight) override;
};

// keras.metrics.MeanSquaredError.
template <typename T = float>
class MeanSquaredError : public UnitMeanMetric<T> {
 public:
  explicit MeanSquaredError(std::string name = "mean_squared_error")
      : UnitMeanMetric<T>(std::move(name), MetricDirection::down) {}

 protected:
  void measure(const Array<T>& y_true, const Array<T>& y_pred, const Array<T>* sample_weight) override;
};

// keras.metrics.RootMeanSquaredError: sqrt of the mean squared error over
// every element seen (not a mean of per-batch roots).
template <typename T = float>
class RootMeanSquaredError : public UnitMeanMetric<T> {
 public:
  explicit RootMeanSquaredError(std::string name = "root_mean_squared_error")
      : UnitMeanMetric<T>(std::move(name), MetricDirection::down) {}
  double result() const override;

 protected:
  void measure(const Array<T>& y_true, const Array<T>& y_pred, const Array<T>* sample_weight) override;
};

// A metric by the name Keras' compile(metrics=[...]) takes, named as given
// (its key in the logs): "mean_absolute_error" or "mae", "mean_squared_error"
// or "mse", "root_mean_squared_error", "binary_accuracy",
// "sparse_categorical_accuracy", "categorical_accuracy". "accuracy" (or
// "acc") is resolved as Keras' compile resolves it, from the shapes of the
// first batch: binary_accuracy when y_pred's last axis is 1,
// sparse_categorical_accuracy when y_true has one axis fewer than y_pred
// (or a last axis of 1), categorical_accuracy otherwise; keras.metrics.Accuracy
// itself is the class Accuracy. Throws std::invalid_argument for an unknown name.
template <typename T = float>
std::shared_ptr<Metric<T>> make_metric(const std::string& name);

#define XGRAD_DECLARE_METRICS(T)                                                      \
  extern template class Metric<T>;                                                    \
  extern template class MeanMetric<T>;                                                \
  extern template class UnitMeanMetric<T>;                                            \
  extern template class Accuracy<T>;                                                  \
  extern template class BinaryAccuracy<T>;                                            \
  extern template class SparseCategoricalAccuracy<T>;                                 \
  extern template class CategoricalAccuracy<T>;                                       \
  extern template class MeanAbsoluteError<T>;                                         \
  extern template class MeanSquaredError<T>;                                          \
  extern template class RootMeanSquaredError<T>;                                      \
  extern template std::shared_ptr<Metric<T>> make_metric<T>(const std::string&);
XGRAD_DECLARE_METRICS(float)
XGRAD_DECLARE_METRICS(double)
#undef XGRAD_DECLARE_METRICS

}  // namespace xgrad::nn
