#include "xgrad/nn/metrics.hpp"

#include <cmath>
#include <stdexcept>
#include <utility>

#include <xtensor/xmath.hpp>

#include "same_rank.hpp"

namespace xgrad::nn {

namespace {

std::string shapes_of(const char* metric, const Shape& y_true, const Shape& y_pred) {
  return std::string(metric) + ": y_true of shape " + shape_to_string(y_true) +
         " and y_pred of shape " + shape_to_string(y_pred);
}

// The shape both are compared in (same_rank.hpp); throws otherwise.
template <typename T>
Shape common_shape(const char* metric, const Array<T>& y_true, const Array<T>& y_pred) {
  const Shape a = to_shape(y_true.shape()), b = to_shape(y_pred.shape());
  if (const std::optional<Shape> common = detail::same_rank_shape(a, b)) return *common;
  throw std::invalid_argument(shapes_of(metric, a, b) +
                              ": they must have the same shape (or differ by a trailing axis of 1)");
}

// The extent of the last axis of `shape` (1 for a 0-D or 1-D shape: each
// element its own row).
std::size_t row_length(const Shape& shape) { return shape.size() >= 2 ? shape.back() : 1; }

// The first index of the largest of n values.
template <typename T>
std::size_t argmax(const T* values, std::size_t n) {
  std::size_t best = 0;
  for (std::size_t k = 1; k < n; ++k)
    if (values[k] > values[best]) best = k;
  return best;
}

// The shape of shape's rows: all but its last axis. A 0-D or 1-D shape is
// its own (each element its own row), and so is one whose last axis is
// empty (no elements: no rows).
Shape rows_of(const Shape& shape) {
  return shape.size() >= 2 && shape.back() > 0 ? Shape(shape.begin(), shape.end() - 1) : shape;
}

// Each row's mean of f(y_pred − y_true) over its k elements, the value of
// a row unit (UnitMeanMetric::add_units).
template <typename T, typename F>
auto row_mean(const Array<T>& y_true, const Array<T>& y_pred, std::size_t k, F f) {
  return [t = y_true.data(), p = y_pred.data(), k, f](std::size_t row) {
    double row_sum = 0.0;
    for (std::size_t j = row * k; j < (row + 1) * k; ++j)
      row_sum += f(static_cast<double>(p[j]) - static_cast<double>(t[j]));
    return row_sum / static_cast<double>(k);
  };
}

// "accuracy" as Keras' compile resolves it, on the first batch.
template <typename T>
class ResolvedAccuracy : public Metric<T> {
 public:
  explicit ResolvedAccuracy(std::string name) : Metric<T>(std::move(name), MetricDirection::up) {}
  double result() const override { return resolved_ ? resolved_->result() : 0.0; }
  void reset_state() override {
    if (resolved_) resolved_->reset_state();
  }
  // {total, count, then one count per kind: binary, sparse, categorical},
  // the resolved kind's 1, the others 0; all 0 unresolved. The numbers add
  // up (Metric::state): a sum over replicas resolved alike (or not yet) is
  // a state of the same kind.
  std::vector<double> state() const override {
    std::vector<double> out{0.0, 0.0, 0.0, 0.0, 0.0};
    if (!resolved_) return out;
    const std::vector<double> mean = resolved_->state();
    out[0] = mean[0];
    out[1] = mean[1];
    out[2 + kind_] = 1.0;
    return out;
  }
  void set_state(const std::vector<double>& state) override {
    int resolved_kinds = 0, kind = 0;
    bool valid = state.size() == 5;
    for (int k = 0; valid && k < 3; ++k) {
      const double marks = state[2 + static_cast<std::size_t>(k)];
      valid = marks >= 0 && std::floor(marks) == marks;
      if (valid && marks > 0) {
        ++resolved_kinds;
        kind = k;
      }
    }
    if (!valid || resolved_kinds > 1 || (resolved_kinds == 0 && (state[0] != 0 || state[1] != 0))) {
      throw std::invalid_argument("metric '" + this->name() + "': set_state: not a state of "
                                  "\"accuracy\" ({total, count, then the counts of its resolved "
                                  "kind: binary, sparse, categorical, at most one non-zero})");
    }
    if (resolved_kinds == 0) {
      resolved_.reset();
      return;
    }
    resolve(kind);
    resolved_->set_state({state[0], state[1]});
  }

 protected:
  void update(const Array<T>& y_true, const Array<T>& y_pred) override {
    resolve_for(y_true, y_pred);
    resolved_->update_state(y_true, y_pred);
  }
  void update_weighted(const Array<T>& y_true, const Array<T>& y_pred, const Array<T>& sample_weight) override {
    resolve_for(y_true, y_pred);
    resolved_->update_state(y_true, y_pred, sample_weight);
  }

 private:
  void resolve_for(const Array<T>& y_true, const Array<T>& y_pred) {
    if (resolved_) return;
    const auto& p = y_pred.shape();
    const auto& t = y_true.shape();
    if (p.size() >= 1 && p.back() == 1) {
      resolve(0);
    } else if (t.size() < p.size() || (t.size() >= 1 && t.back() == 1)) {
      resolve(1);
    } else {
      resolve(2);
    }
  }
  // 0: binary_accuracy, 1: sparse_categorical_accuracy, 2: categorical_accuracy.
  void resolve(int kind) {
    kind_ = kind;
    if (kind == 0) resolved_ = std::make_shared<BinaryAccuracy<T>>();
    if (kind == 1) resolved_ = std::make_shared<SparseCategoricalAccuracy<T>>();
    if (kind == 2) resolved_ = std::make_shared<CategoricalAccuracy<T>>();
  }

  std::shared_ptr<Metric<T>> resolved_;
  int kind_ = 0;
};

}  // namespace

template <typename T>
void Metric<T>::set_state(const std::vector<double>& state) {
  if (!state.empty()) {
    throw std::invalid_argument("metric '" + name() + "': set_state: it keeps no state to set, got " +
                                std::to_string(state.size()) + " numbers");
  }
}

template <typename T>
void MeanMetric<T>::set_state(const std::vector<double>& state) {
  if (state.size() != 2) {
    throw std::invalid_argument("metric '" + this->name() + "': set_state expects {total, count}, got " +
                                std::to_string(state.size()) + " numbers");
  }
  total_ = state[0];
  count_ = state[1];
}

template <typename T>
void Metric<T>::update_state(const Array<std::int64_t>& y_true, const Array<T>& y_pred) {
  update(Array<T>(xt::cast<T>(y_true)), y_pred);
}

template <typename T>
void Metric<T>::update_state(const Array<std::int32_t>& y_true, const Array<T>& y_pred) {
  update(Array<T>(xt::cast<T>(y_true)), y_pred);
}

template <typename T>
void Metric<T>::update_state(const Array<std::int64_t>& y_true, const Array<T>& y_pred,
                             const Array<T>& sample_weight) {
  update_weighted(Array<T>(xt::cast<T>(y_true)), y_pred, sample_weight);
}

template <typename T>
void Metric<T>::update_state(const Array<std::int32_t>& y_true, const Array<T>& y_pred,
                             const Array<T>& sample_weight) {
  update_weighted(Array<T>(xt::cast<T>(y_true)), y_pred, sample_weight);
}

template <typename T>
void Metric<T>::update_weighted(const Array<T>&, const Array<T>&, const Array<T>&) {
  throw std::invalid_argument("metric '" + name() + "' takes no sample weights: a metric of your own takes "
                              "them by overriding update_weighted, or by deriving from UnitMeanMetric");
}

template <typename T>
std::size_t UnitMeanMetric<T>::units_per_weight(const char* metric, const Shape& units,
                                                const Array<T>& sample_weight) {
  const auto& weights = sample_weight.shape();
  if (weights.size() > units.size() || !std::equal(weights.begin(), weights.end(), units.begin())) {
    throw std::invalid_argument(std::string(metric) + ": sample_weight of shape " +
                                shape_to_string(sample_weight.shape()) + " does not fit the batch's values of shape " +
                                shape_to_string(units) + ": it must be a leading part of their shape ([B] for [B, ...])");
  }
  const std::size_t n = element_count(units), w = sample_weight.size();
  return w == 0 || n == 0 ? 1 : n / w;
}

template <typename T>
void Accuracy<T>::measure(const Array<T>& y_true, const Array<T>& y_pred, const Array<T>* sample_weight) {
  this->add_units("Accuracy", common_shape("Accuracy", y_true, y_pred), sample_weight,
                  [t = y_true.data(), p = y_pred.data()](std::size_t i) { return t[i] == p[i] ? 1.0 : 0.0; });
}

template <typename T>
void BinaryAccuracy<T>::measure(const Array<T>& y_true, const Array<T>& y_pred, const Array<T>* sample_weight) {
  const T threshold = static_cast<T>(threshold_);
  this->add_units("BinaryAccuracy", common_shape("BinaryAccuracy", y_true, y_pred), sample_weight,
                  [t = y_true.data(), p = y_pred.data(), threshold](std::size_t i) {
                    return t[i] == (p[i] > threshold ? T(1) : T(0)) ? 1.0 : 0.0;
                  });
}

template <typename T>
void SparseCategoricalAccuracy<T>::measure(const Array<T>& y_true, const Array<T>& y_pred,
                                           const Array<T>* sample_weight) {
  const Shape labels = to_shape(y_true.shape()), scores = to_shape(y_pred.shape());
  const bool fits =
      !scores.empty() && scores.back() > 0 &&
      ((labels.size() + 1 == scores.size() &&
        std::equal(labels.begin(), labels.end(), scores.begin())) ||
       (labels.size() == scores.size() && labels.back() == 1 &&
        std::equal(labels.begin(), labels.end() - 1, scores.begin())));
  if (!fits) {
    throw std::invalid_argument(
        shapes_of("SparseCategoricalAccuracy", labels, scores) +
        ": y_true must be y_pred's shape without its last axis (the classes), or with 1 there");
  }
  const std::size_t classes = scores.back();
  this->add_units("SparseCategoricalAccuracy", Shape(scores.begin(), scores.end() - 1), sample_weight,
                  [t = y_true.data(), p = y_pred.data(), classes](std::size_t r) {
                    return static_cast<T>(argmax(p + r * classes, classes)) == t[r] ? 1.0 : 0.0;
                  });
}

template <typename T>
void CategoricalAccuracy<T>::measure(const Array<T>& y_true, const Array<T>& y_pred, const Array<T>* sample_weight) {
  if (y_true.shape() != y_pred.shape() || y_pred.dimension() == 0 || y_pred.shape().back() == 0) {
    throw std::invalid_argument(
        shapes_of("CategoricalAccuracy", to_shape(y_true.shape()), to_shape(y_pred.shape())) +
        ": they must have the same shape, the classes on the last axis");
  }
  const Shape shape = to_shape(y_pred.shape());
  const std::size_t classes = shape.back();
  this->add_units("CategoricalAccuracy", Shape(shape.begin(), shape.end() - 1), sample_weight,
                  [t = y_true.data(), p = y_pred.data(), classes](std::size_t r) {
                    return argmax(t + r * classes, classes) == argmax(p + r * classes, classes) ? 1.0 : 0.0;
                  });
}

template <typename T>
void MeanAbsoluteError<T>::measure(const Array<T>& y_true, const Array<T>& y_pred, const Array<T>* sample_weight) {
  const Shape shape = common_shape("MeanAbsoluteError", y_true, y_pred);
  this->add_units("MeanAbsoluteError", rows_of(shape), sample_weight,
                  row_mean(y_true, y_pred, row_length(shape), [](double e) { return std::abs(e); }));
}

template <typename T>
void MeanSquaredError<T>::measure(const Array<T>& y_true, const Array<T>& y_pred, const Array<T>* sample_weight) {
  const Shape shape = common_shape("MeanSquaredError", y_true, y_pred);
  this->add_units("MeanSquaredError", rows_of(shape), sample_weight,
                  row_mean(y_true, y_pred, row_length(shape), [](double e) { return e * e; }));
}

template <typename T>
void RootMeanSquaredError<T>::measure(const Array<T>& y_true, const Array<T>& y_pred,
                                      const Array<T>* sample_weight) {
  this->add_units("RootMeanSquaredError", common_shape("RootMeanSquaredError", y_true, y_pred), sample_weight,
                  [t = y_true.data(), p = y_pred.data()](std::size_t i) {
                    const double e = static_cast<double>(p[i]) - static_cast<double>(t[i]);
                    return e * e;
                  });
}

template <typename T>
double RootMeanSquaredError<T>::result() const {
  return std::sqrt(MeanMetric<T>::result());
}

template <typename T>
std::shared_ptr<Metric<T>> make_metric(const std::string& name) {
  if (name == "accuracy" || name == "acc") return std::make_shared<ResolvedAccuracy<T>>(name);
  if (name == "binary_accuracy")
    return std::make_shared<BinaryAccuracy<T>>(BinaryAccuracyOptions().name(name));
  if (name == "sparse_categorical_accuracy")
    return std::make_shared<SparseCategoricalAccuracy<T>>(name);
  if (name == "categorical_accuracy") return std::make_shared<CategoricalAccuracy<T>>(name);
  if (name == "mean_absolute_error" || name == "mae")
    return std::make_shared<MeanAbsoluteError<T>>(name);
  if (name == "mean_squared_error" || name == "mse")
    return std::make_shared<MeanSquaredError<T>>(name);
  if (name == "root_mean_squared_error") return std::make_shared<RootMeanSquaredError<T>>(name);
  throw std::invalid_argument(
      "make_metric: unknown metric '" + name +
      "' (known: accuracy, acc, binary_accuracy, sparse_categorical_accuracy, "
      "categorical_accuracy, mean_absolute_error, mae, mean_squared_error, mse, "
      "root_mean_squared_error)");
}

#define XGRAD_DEFINE_METRICS(T)                            \
  template class Metric<T>;                                \
  template class MeanMetric<T>;                            \
  template class UnitMeanMetric<T>;                        \
  template class Accuracy<T>;                              \
  template class BinaryAccuracy<T>;                        \
  template class SparseCategoricalAccuracy<T>;             \
  template class CategoricalAccuracy<T>;                   \
  template class MeanAbsoluteError<T>;                     \
  template class MeanSquaredError<T>;                      \
  template class RootMeanSquaredError<T>;                  \
  template std::shared_ptr<Metric<T>> make_metric<T>(const std::string&);
XGRAD_DEFINE_METRICS(float)
XGRAD_DEFINE_METRICS(double)
#undef XGRAD_DEFINE_METRICS

}  // namespace xgrad::nn
