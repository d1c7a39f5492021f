#include "xgrad/nn/trainer.hpp"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "xgrad/autograd/ops.hpp"
#include "xgrad/nn/checkpoint.hpp"
#include "xgrad/nn/data.hpp"
#include "xgrad/nn/losses.hpp"
#include "xgrad/nn/summary.hpp"
#include "rows.hpp"

namespace xgrad::nn {

namespace {

using detail::rows;

// Throws std::invalid_argument, naming `where` and both shapes, unless x and
// y have a sample axis of the same, non-zero, length.
template <typename T>
void check_samples(const std::string& where, const Array<T>& x, const Array<T>& y) {
  std::string problem;
  if (x.dimension() == 0 || y.dimension() == 0) {
    problem = "both need a sample axis (axis 0)";
  } else if (x.shape()[0] != y.shape()[0]) {
    problem = "different numbers of samples on axis 0 (" + std::to_string(x.shape()[0]) + " vs " +
              std::to_string(y.shape()[0]) + ")";
  } else if (x.shape()[0] == 0) {
    problem = "no samples";
  }
  if (!problem.empty()) {
    throw std::invalid_argument(where + ": x of shape " + shape_to_string(x.shape()) +
                                " and y of shape " + shape_to_string(y.shape()) + ": " + problem);
  }
}

void check_batch_size(const std::string& where, std::size_t batch_size) {
  if (batch_size == 0) throw std::invalid_argument(where + ": batch_size must be positive, got 0");
}

// Throws std::invalid_argument, naming `where` and both shapes, unless the
// sample weights have x's sample axis (the loss checks the rest).
template <typename T>
void check_sample_weight(const std::string& where, const Array<T>& x, const Array<T>& sample_weight) {
  if (sample_weight.dimension() == 0 || sample_weight.shape()[0] != x.shape()[0]) {
    throw std::invalid_argument(where + ": sample_weight of shape " + shape_to_string(sample_weight.shape()) +
                                " for x of shape " + shape_to_string(x.shape()) +
                                ": it needs one weight per sample, on axis 0");
  }
}

// Keras' class_weight as sample weights [N]: each sample's class from y
// ([N], [N, 1], or one-hot [N, C]: the largest entry's index), rounded to
// an integer as Keras does, and that class's weight (1 if not named).
template <typename T>
Array<T> class_sample_weights(const Array<T>& y, const ClassWeights& class_weight) {
  if (y.dimension() == 0 || y.dimension() > 2) {
    throw std::invalid_argument("Trainer::fit: class_weight needs class labels y of shape [N], [N, 1] or one-hot "
                                "[N, C], got y of shape " + shape_to_string(y.shape()));
  }
  const std::size_t samples = y.shape()[0];
  const std::size_t width = y.dimension() == 2 ? y.shape()[1] : 1;
  Array<T> weights = Array<T>::from_shape({samples});
  for (std::size_t i = 0; i < samples; ++i) {
    const T* row = y.data() + i * width;
    const double label = width == 1 ? static_cast<double>(row[0])
                                    : static_cast<double>(std::max_element(row, row + width) - row);
    if (!std::isfinite(label)) {
      throw std::invalid_argument("Trainer::fit: class_weight: the label of sample " + std::to_string(i) +
                                  " in y of shape " + shape_to_string(y.shape()) + " is not finite");
    }
    const auto found = class_weight.find(static_cast<std::int64_t>(std::nearbyint(label)));
    weights(i) = found == class_weight.end() ? T(1) : static_cast<T>(found->second);
  }
  return weights;
}

// The rows [begin, end) of n that `replicas`' own replica evaluates: R
// blocks of floor or ceil(n / R) rows in replica order; all rows without
// replicas.
std::pair<std::size_t, std::size_t> rows_of_replica(const ReplicaContext* replicas, std::size_t n) {
  if (!replicas) return {0, n};
  const std::size_t rank = replicas->rank(), count = replicas->world_size();
  return {n * rank / count, n * (rank + 1) / count};
}

// Puts the module in training or inference mode, and back as it was when
// the scope ends (an exception included).
template <typename T>
class ModeScope {
 public:
  ModeScope(Module<T>& module, bool training) : module_(module), was_training_(module.is_training()) {
    module_.train(training);
  }
  ~ModeScope() { module_.train(was_training_); }
  ModeScope(const ModeScope&) = delete;
  ModeScope& operator=(const ModeScope&) = delete;

 private:
  Module<T>& module_;
  bool was_training_;
};

// Keras' History callback: each epoch's logs into `history` under epoch + 1.
class HistoryRecorder : public Callback {
 public:
  explicit HistoryRecorder(History& history) : history_(history) {}
  void on_train_begin(Logs&) override { history_ = History(); }
  void on_epoch_end(std::size_t epoch, Logs& logs) override { history_.add(epoch + 1, logs.entries()); }

 private:
  History& history_;
};

// Hands each callback the trainer and the run's figures (Keras' set_model,
// set_params).
void prepare(const Callbacks& callbacks, TrainingContext* context, std::size_t epochs,
             std::size_t samples, std::size_t batch_size, int verbose) {
  CallbackParams params;
  params.epochs = epochs;
  params.steps = (samples + batch_size - 1) / batch_size;
  params.verbose = verbose;
  params.samples = samples;
  params.batch_size = batch_size;
  for (const auto& callback : callbacks) {
    if (!callback) throw std::invalid_argument("Trainer: a callback is null");
    callback->set_context(context);
    callback->set_params(params);
  }
}

template <typename Hook>
void for_each(const Callbacks& callbacks, Hook hook) {
  for (const auto& callback : callbacks) hook(*callback);
}

// Integer class labels from float values: [B] or [B, 1] for logits [B, C].
template <typename T>
xt::xarray<std::int64_t> integer_labels(const Variable<T>& logits, const Variable<T>& y_true, const char* loss) {
  Shape shape = to_shape(y_true.shape());
  if (shape.size() == logits.dimension() && !shape.empty() && shape.back() == 1) shape.pop_back();
  xt::xarray<std::int64_t> labels = xt::xarray<std::int64_t>::from_shape(shape);
  const T* values = y_true.value().data();
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (!(std::floor(values[i]) == values[i])) {
      std::ostringstream text;
      text << values[i];
      throw std::invalid_argument(std::string(loss) + ": label " + text.str() +
                                  " (element " + std::to_string(i) + " of y_true of shape " +
                                  shape_to_string(y_true.shape()) + ") is not an integer");
    }
    labels.data()[i] = static_cast<std::int64_t>(values[i]);
  }
  return labels;
}

// A named loss, with or without sample weights (losses.hpp's detail forms).
template <typename T>
using LossOfName = Variable<T> (*)(const Variable<T>&, const Variable<T>&, const Array<T>*);

template <typename T>
LossOfName<T> loss_by_name(const std::string& name) {
  if (name == "mean_squared_error" || name == "mse") return detail::mean_squared_error<T>;
  if (name == "mean_absolute_error" || name == "mae") return detail::mean_absolute_error<T>;
  if (name == "binary_crossentropy_from_logits") return detail::binary_crossentropy_from_logits<T>;
  if (name == "sparse_categorical_crossentropy_from_logits") {
    return [](const Variable<T>& p, const Variable<T>& t, const Array<T>* w) {
      return detail::sparse_categorical_crossentropy_from_logits(
          p, integer_labels(p, t, "sparse_categorical_crossentropy_from_logits"), w);
    };
  }
  if (name == "binary_crossentropy") return detail::binary_crossentropy<T>;
  if (name == "sparse_categorical_crossentropy") {
    return [](const Variable<T>& p, const Variable<T>& t, const Array<T>* w) {
      return detail::sparse_categorical_crossentropy(p, integer_labels(p, t, "sparse_categorical_crossentropy"), w);
    };
  }
  if (name == "categorical_crossentropy") return detail::categorical_crossentropy<T>;
  if (name == "categorical_crossentropy_from_logits") return detail::categorical_crossentropy_from_logits<T>;
  throw std::invalid_argument("Loss: unknown loss '" + name +
                              "' (known: mean_squared_error, mse, mean_absolute_error, mae, "
                              "binary_crossentropy, binary_crossentropy_from_logits, "
                              "categorical_crossentropy, categorical_crossentropy_from_logits, "
                              "sparse_categorical_crossentropy, "
                              "sparse_categorical_crossentropy_from_logits)");
}

}  // namespace

// ---- Loss ----

template <typename T>
Loss<T>::Loss(const std::string& name) : function_(loss_by_name<T>(name)), name_(name) {}

template <typename T>
Loss<T>::Loss(const char* name) : Loss(std::string(name)) {}

// ---- Trainer ----

template <typename T>
Trainer<T>::Trainer(Module<T>& model, Forward forward, Optimizer<T>& optimizer, Loss<T> loss,
                    MetricList<T> metrics, MetricList<T> weighted_metrics)
    : model_(model), forward_(std::move(forward)), optimizer_(optimizer), loss_(std::move(loss)),
      metrics_(std::move(metrics)), weighted_metrics_(std::move(weighted_metrics)) {
  const auto keyed = [this](const std::string& key) {
    return std::any_of(figures_.begin(), figures_.end(), [&](const Figure& f) { return f.key == key; });
  };
  const auto add_figures = [&](const MetricList<T>& list, bool weighted) {
    const std::string kind = weighted ? "weighted metric " : "metric ";
    for (std::size_t i = 0; i < list.size(); ++i) {
      const auto where = [&] { return "Trainer: " + kind + std::to_string(i); };
      if (!list[i]) throw std::invalid_argument(where() + " is null");
      const bool again = std::any_of(figures_.begin(), figures_.end(),
                                     [&](const Figure& f) { return f.metric == list[i].get(); });
      if (again) throw std::invalid_argument(where() + " is given twice: it would add each batch twice");
      // tf.keras: a weighted metric named as an unweighted one is "weighted_<name>".
      std::string key = list[i]->name();
      if (weighted && keyed(key)) key = "weighted_" + key;
      if (key == "loss") throw std::invalid_argument(where() + " is keyed 'loss', the loss's key");
      if (keyed(key)) throw std::invalid_argument(where() + " is keyed '" + key + "', as a metric before it");
      figures_.push_back({list[i].get(), std::move(key), weighted});
    }
  };
  add_figures(metrics_, false);
  add_figures(weighted_metrics_, true);
  optimizer_.apply_constraints_of(model_);
}

template <typename T>
void Trainer<T>::reset_metrics() {
  loss_total_ = loss_count_ = 0.0;
  for (const Figure& figure : figures_) figure.metric->reset_state();
}

template <typename T>
Logs Trainer<T>::metric_results() const {
  Logs logs;
  logs.set("loss", loss_count_ > 0 ? loss_total_ / loss_count_ : 0.0);
  for (const Figure& figure : figures_) logs.set(figure.key, figure.metric->result());
  return logs;
}

template <typename T>
std::vector<std::vector<double>> Trainer<T>::replica_states() const {
  // One average of them all; the means times R are the sums.
  const double samples = loss_count_;
  std::vector<double> values{loss_total_, loss_count_};
  std::vector<std::size_t> sizes{2};
  for (const Figure& figure : figures_) {
    std::vector<double> state = figure.metric->state();
    if (state.empty()) state = {samples > 0 ? figure.metric->result() * samples : 0.0, samples};
    sizes.push_back(state.size());
    values.insert(values.end(), state.begin(), state.end());
  }
  replicas_->average(values);
  const double replicas = static_cast<double>(replicas_->world_size());
  std::vector<std::vector<double>> sums;
  auto at = values.begin();
  for (const std::size_t size : sizes) {
    sums.emplace_back(at, at + static_cast<std::ptrdiff_t>(size));
    for (double& value : sums.back()) value *= replicas;
    at += static_cast<std::ptrdiff_t>(size);
  }
  return sums;
}

template <typename T>
Logs Trainer<T>::replica_results() {
  if (!replicas_) return metric_results();
  const std::vector<std::vector<double>> sums = replica_states();
  const auto ratio = [](const std::vector<double>& sum) { return sum[1] > 0 ? sum[0] / sum[1] : 0.0; };
  Logs logs;
  logs.set("loss", ratio(sums[0]));
  for (std::size_t i = 0; i < figures_.size(); ++i) {
    Metric<T>& metric = *figures_[i].metric;
    const std::vector<double> own = metric.state();
    if (own.empty()) {
      logs.set(figures_[i].key, ratio(sums[i + 1]));
      continue;
    }
    // The figure of the summed state, then this replica's own state back.
    metric.set_state(sums[i + 1]);
    logs.set(figures_[i].key, metric.result());
    metric.set_state(own);
  }
  return logs;
}

template <typename T>
void Trainer<T>::agree_on_stop() {
  if (!replicas_) return;
  std::vector<double> stop{stop_training ? 1.0 : 0.0};
  replicas_->average(stop);
  stop_training = stop[0] > 0.0;
}

template <typename T>
Callbacks Trainer<T>::callbacks_here(const Callbacks& callbacks) const {
  if (!replicas_ || replicas_->is_root()) return callbacks;
  Callbacks here;
  for (const auto& callback : callbacks)
    if (!callback || !callback->root_only()) here.push_back(callback);
  return here;
}

template <typename T>
Variable<T> Trainer<T>::batch_loss(const Array<T>& x, const Array<T>& y, const Array<T>* sample_weight) {
  const Variable<T> y_pred = forward_(Variable<T>(x));
  const Variable<T> y_true(y);
  Variable<T> loss = sample_weight ? loss_(y_pred, y_true, *sample_weight) : loss_(y_pred, y_true);
  if (loss.size() != 1) {
    throw std::invalid_argument("Trainer: the loss of y_pred of shape " +
                                shape_to_string(y_pred.shape()) + " and y of shape " +
                                shape_to_string(y.shape()) + " has shape " +
                                shape_to_string(loss.shape()) + ", not one value");
  }
  const Variable<T> regularization = model_.regularization_loss();
  if (regularization.requires_grad() || regularization.item() != T(0)) loss = add(loss, regularization);
  const double samples = static_cast<double>(x.shape()[0]);
  loss_total_ += static_cast<double>(loss.item()) * samples;
  loss_count_ += samples;
  for (const Figure& figure : figures_) {
    if (figure.weighted && sample_weight) figure.metric->update_state(y, y_pred.value(), *sample_weight);
    else figure.metric->update_state(y, y_pred.value());
  }
  return loss;
}

template <typename T>
Logs Trainer<T>::train_batch(const Array<T>& x, const Array<T>& y, const Array<T>* sample_weight) {
  check_samples("Trainer::train_on_batch", x, y);
  if (sample_weight) check_sample_weight("Trainer::train_on_batch", x, *sample_weight);
  ModeScope<T> training(model_, true);
  Variable<T> loss = batch_loss(x, y, sample_weight);
  optimizer_.zero_grad();
  loss.backward();
  optimizer_.step();
  return metric_results();
}

template <typename T>
Logs Trainer<T>::test_batch(const Array<T>& x, const Array<T>& y, const Array<T>* sample_weight) {
  check_samples("Trainer::test_on_batch", x, y);
  if (sample_weight) check_sample_weight("Trainer::test_on_batch", x, *sample_weight);
  ModeScope<T> inference(model_, false);
  NoGradGuard no_grad;
  batch_loss(x, y, sample_weight);
  return metric_results();
}

template <typename T>
Logs Trainer<T>::run_test(const Array<T>& x, const Array<T>& y, const Array<T>* sample_weight,
                          std::size_t batch_size, const Callbacks& callbacks) {
  reset_metrics();
  ModeScope<T> inference(model_, false);
  NoGradGuard no_grad;
  Logs begin;
  for_each(callbacks, [&](Callback& c) { c.on_test_begin(begin); });
  const auto [rows_begin, rows_end] = rows_of_replica(replicas_.get(), x.shape()[0]);
  for (std::size_t first = rows_begin, batch = 0; first < rows_end; first += batch_size, ++batch) {
    const std::size_t last = std::min(first + batch_size, rows_end);
    Logs batch_begin;
    for_each(callbacks, [&](Callback& c) { c.on_test_batch_begin(batch, batch_begin); });
    if (sample_weight) {
      const Array<T> weights = rows(*sample_weight, first, last);
      batch_loss(rows(x, first, last), rows(y, first, last), &weights);
    } else {
      batch_loss(rows(x, first, last), rows(y, first, last), nullptr);
    }
    Logs logs = metric_results();
    for_each(callbacks, [&](Callback& c) { c.on_test_batch_end(batch, logs); });
  }
  Logs logs = replica_results();
  for_each(callbacks, [&](Callback& c) { c.on_test_end(logs); });
  return logs;
}

template <typename T>
Logs Trainer<T>::evaluate_weighted(const Array<T>& x, const Array<T>& y, const Array<T>* sample_weight,
                                   const EvaluateOptions& options) {
  check_samples("Trainer::evaluate", x, y);
  if (sample_weight) check_sample_weight("Trainer::evaluate", x, *sample_weight);
  check_batch_size("Trainer::evaluate", options.batch_size());
  Callbacks callbacks = options.callbacks();
  if (options.verbose() > 0) callbacks.push_back(std::make_shared<ProgbarLogger>());
  callbacks = callbacks_here(callbacks);
  const auto [rows_begin, rows_end] = rows_of_replica(replicas_.get(), x.shape()[0]);
  prepare(callbacks, this, 0, rows_end - rows_begin, options.batch_size(), options.verbose());
  return run_test(x, y, sample_weight, options.batch_size(), callbacks);
}

template <typename T>
History Trainer<T>::fit(const Array<T>& x, const Array<T>& y, const FitOptions<T>& options) {
  check_samples("Trainer::fit", x, y);
  check_batch_size("Trainer::fit", options.batch_size());
  const double split = options.validation_split();
  if (!(split >= 0.0 && split < 1.0)) {
    std::ostringstream text;
    text << split;
    throw std::invalid_argument("Trainer::fit: validation_split must be in [0, 1), got " + text.str());
  }
  if (options.validation_freq() == 0)
    throw std::invalid_argument("Trainer::fit: validation_freq must be at least 1, got 0");
  // The training part and the validation data; Keras' train_validation_split
  // keeps the first floor(N · (1 − split)) samples for training.
  if (options.sample_weight() && !options.class_weight().empty()) {
    throw std::invalid_argument("Trainer::fit: sample_weight and class_weight cannot both be given (as in Keras)");
  }
  if (options.sample_weight()) check_sample_weight("Trainer::fit", x, *options.sample_weight());
  // Every sample's weight, from sample_weight or class_weight (or none).
  const std::optional<Array<T>> weights =
      options.class_weight().empty() ? options.sample_weight()
                                     : std::optional<Array<T>>(class_sample_weights(y, options.class_weight()));
  const std::size_t n = x.shape()[0];
  std::size_t train_samples = n;
  std::optional<std::pair<Array<T>, Array<T>>> validation = options.validation_data();
  // Keras weighs the validation data by its own weights, or the split part
  // by sample_weight's; class_weight weighs training alone.
  std::optional<Array<T>> validation_weights;
  if (validation) {
    check_samples("Trainer::fit: validation_data", validation->first, validation->second);
    validation_weights = options.validation_sample_weight();
    if (validation_weights)
      check_sample_weight("Trainer::fit: validation_data", validation->first, *validation_weights);
  } else if (split > 0.0) {
    train_samples = static_cast<std::size_t>(std::floor(static_cast<double>(n) * (1.0 - split)));
    if (train_samples == 0 || train_samples == n) {
      std::ostringstream text;
      text << split;
      throw std::invalid_argument("Trainer::fit: " + std::to_string(n) +
                                  " samples cannot be split into a training and a validation set "
                                  "by validation_split = " + text.str());
    }
    validation = std::make_pair(rows(x, train_samples, n), rows(y, train_samples, n));
    if (options.sample_weight()) validation_weights = rows(*options.sample_weight(), train_samples, n);
  }
  const std::optional<Array<T>> train_weights =
      weights && train_samples < n ? std::optional<Array<T>>(rows(*weights, 0, train_samples)) : weights;
  DataLoader<T, T> loader(train_samples == n ? x : rows(x, 0, train_samples),
                          train_samples == n ? y : rows(y, 0, train_samples),
                          DataLoaderOptions(options.batch_size())
                              .shuffle(options.shuffle())
                              .seed(options.shuffle_seed()));
  // The pointer is fit's only while it runs (save_training_state reads it).
  struct Forget {
    Generator*& pointer;
    ~Forget() { pointer = nullptr; }
  } forget_shuffle_generator{shuffle_generator_ = loader.seed_generator()};
  if (replicas_) loader.shard(replicas_->rank(), replicas_->world_size());

  Callbacks callbacks = options.callbacks();
  callbacks.push_back(std::make_shared<HistoryRecorder>(history_));
  if (options.verbose() > 0) callbacks.push_back(std::make_shared<ProgbarLogger>());
  callbacks = callbacks_here(callbacks);
  prepare(callbacks, this, options.epochs(), loader.shard_size(), options.batch_size(),
          options.verbose());

  stop_training = false;
  ModeScope<T> training(model_, true);
  Logs train_begin;
  for_each(callbacks, [&](Callback& c) { c.on_train_begin(train_begin); });
  // A run restored by load_training_state (before fit, or by a callback's
  // on_train_begin such as BackupAndRestore) starts where it was saved.
  const std::optional<RunState> resume = std::exchange(resume_, std::nullopt);
  const std::size_t batches = loader.num_batches(), batch_size = options.batch_size();
  // First the collective agreement, so that no replica waits in it for one
  // that threw alone.
  agree_on_resume(resume ? std::optional<TrainingProgress>(resume->progress) : std::nullopt);
  if (resume) check_resume(*resume, train_samples, batches, options);
  progress_ = {resume ? resume->progress.epoch : options.initial_epoch(), 0};
  epoch_order_.clear();
  Logs epoch_logs;
  for (std::size_t epoch = progress_.epoch; epoch < options.epochs(); ++epoch) {
    const bool resumed_epoch = resume && epoch == resume->progress.epoch && resume->progress.batch > 0;
    reset_metrics();
    if (resumed_epoch) restore_metrics(resume->metrics);
    progress_ = {epoch, resumed_epoch ? resume->progress.batch : 0};
    const double learning_rate = optimizer_.learning_rate();
    Logs epoch_begin;
    for_each(callbacks, [&](Callback& c) { c.on_epoch_begin(epoch, epoch_begin); });
    // The saved rate already includes this epoch's on_epoch_begin changes
    // (a LearningRateScheduler's): applying them twice would change the run.
    if (resumed_epoch && !optimizer_.learning_rate_schedule()) optimizer_.set_learning_rate(learning_rate);
    // The order of all training samples (saved, and the same on every
    // replica), and the part of it this replica visits.
    epoch_order_ = resumed_epoch ? resume->epoch_order : loader.next_order();
    const std::vector<std::size_t> visits = loader.epoch(epoch_order_).order();
    for (std::size_t batch = progress_.batch; batch < batches; ++batch) {
      const auto first = visits.begin() + static_cast<std::ptrdiff_t>(batch * batch_size);
      const auto last = visits.begin() +
                        static_cast<std::ptrdiff_t>(std::min((batch + 1) * batch_size, visits.size()));
      auto data = loader.batch(std::vector<std::size_t>(first, last));
      const std::optional<Array<T>> batch_weights =
          train_weights ? std::optional<Array<T>>(detail::gather_rows(*train_weights, data.indices)) : std::nullopt;
      Logs batch_begin;
      for_each(callbacks, [&](Callback& c) { c.on_train_batch_begin(batch, batch_begin); });
      Variable<T> loss = batch_loss(data.inputs, data.targets, batch_weights ? &*batch_weights : nullptr);
      optimizer_.zero_grad();
      loss.backward();
      optimizer_.step();
      progress_.batch = batch + 1;
      // This replica's own running figures: averaging them at every batch
      // would cost a collective per step; the epoch's are averaged below.
      Logs logs = metric_results();
      for_each(callbacks, [&](Callback& c) { c.on_train_batch_end(batch, logs); });
      agree_on_stop();
      if (stop_training) break;
    }
    epoch_logs = replica_results();
    if (validation && (epoch + 1) % options.validation_freq() == 0) {
      const std::size_t validation_batch_size = options.validation_batch_size() > 0
                                                    ? options.validation_batch_size()
                                                    : options.batch_size();
      const Logs validation_logs =
          run_test(validation->first, validation->second, validation_weights ? &*validation_weights : nullptr,
                   validation_batch_size, callbacks);
      for (const auto& [name, value] : validation_logs) epoch_logs.set("val_" + name, value);
    }
    progress_ = {epoch + 1, 0};
    epoch_order_.clear();
    for_each(callbacks, [&](Callback& c) { c.on_epoch_end(epoch, epoch_logs); });
    agree_on_stop();
    if (stop_training) break;
  }
  // Keras' fit: the optimizer's final values (use_ema's averages) before on_train_end.
  if (options.epochs() > 0) optimizer_.finalize_variable_values();
  for_each(callbacks, [&](Callback& c) { c.on_train_end(epoch_logs); });
  return history_;
}

template <typename T>
void Trainer<T>::check_resume(const RunState& resume, std::size_t samples, std::size_t batches,
                              const FitOptions<T>& options) {
  const std::string where = "Trainer::fit: resuming a saved run: ";
  if (resume.shuffle_generator.empty() != !options.shuffle_seed()) {
    throw std::invalid_argument(where + (options.shuffle_seed()
                                             ? "the run shuffled with xgrad::generator(), this fit "
                                               "has a shuffle_seed"
                                             : "the run shuffled with its own generator "
                                               "(shuffle_seed), this fit has none"));
  }
  if (shuffle_generator_) set_generator_state(*shuffle_generator_, resume.shuffle_generator, where);
  if (resume.progress.batch == 0) return;
  // The saved order must be an order of this fit's training samples.
  std::vector<bool> seen(samples, false);
  bool permutation = resume.epoch_order.size() == samples;
  for (std::size_t i = 0; permutation && i < samples; ++i) {
    const std::size_t index = resume.epoch_order[i];
    permutation = index < samples && !seen[index];
    if (permutation) seen[index] = true;
  }
  if (!permutation) {
    throw std::invalid_argument(where + "its epoch order (" + std::to_string(resume.epoch_order.size()) +
                                " indices) is not an order of the " + std::to_string(samples) +
                                " training samples of this fit");
  }
  if (resume.progress.batch > batches) {
    throw std::invalid_argument(where + "it was saved after batch " + std::to_string(resume.progress.batch) +
                                " of an epoch, this fit has " + std::to_string(batches) +
                                " batches per epoch");
  }
}

template <typename T>
void Trainer<T>::agree_on_resume(const std::optional<TrainingProgress>& resumed) {
  if (!replicas_) return;
  // Equal on every replica exactly when the mean of the squares is the
  // square of the mean (small integers: exact in double).
  const double values[3] = {resumed ? 1.0 : 0.0, resumed ? static_cast<double>(resumed->epoch) : 0.0,
                            resumed ? static_cast<double>(resumed->batch) : 0.0};
  std::vector<double> moments;
  moments.reserve(2 * std::size(values));
  for (const double value : values) {
    moments.push_back(value);
    moments.push_back(value * value);
  }
  replicas_->average(moments);
  for (std::size_t i = 0; i < moments.size(); i += 2) {
    if (moments[i + 1] != moments[i] * moments[i]) {
      throw std::invalid_argument(
          "Trainer::fit: the replicas start from different places: replica " +
          std::to_string(replicas_->rank()) +
          (resumed ? " resumes epoch " + std::to_string(resumed->epoch) + " after batch " +
                         std::to_string(resumed->batch)
                   : std::string(" starts afresh")) +
          " (do all replicas see the same saved training state?)");
    }
  }
}

template <typename T>
void Trainer<T>::restore_metrics(const std::vector<std::pair<std::string, std::vector<double>>>& saved) {
  // With replicas the file holds the sums over all of them: replica 0 takes
  // them, the others start from zero, so the sums over replicas go on.
  if (replicas_ && !replicas_->is_root()) return;
  for (const auto& [name, state] : saved) {
    if (name == "loss") {
      if (state.size() != 2) {
        throw std::invalid_argument("Trainer::fit: resuming a saved run: its loss tracker has " +
                                    std::to_string(state.size()) + " numbers, not {total, count}");
      }
      loss_total_ = state[0];
      loss_count_ = state[1];
      continue;
    }
    for (const Figure& figure : figures_)
      if (figure.key == name) figure.metric->set_state(state);
  }
}

template <typename T>
void Trainer<T>::save_training_state(const std::string& path) const {
  RunState run;
  run.progress = progress_;
  if (progress_.batch > 0) run.epoch_order = epoch_order_;
  if (shuffle_generator_) run.shuffle_generator = generator_state(*shuffle_generator_);
  if (progress_.batch > 0) {
    run.metrics.emplace_back("loss", std::vector<double>{loss_total_, loss_count_});
    for (const Figure& figure : figures_) run.metrics.emplace_back(figure.key, figure.metric->state());
    if (replicas_) {
      const std::vector<std::vector<double>> sums = replica_states();
      for (std::size_t i = 0; i < run.metrics.size(); ++i)
        if (!run.metrics[i].second.empty()) run.metrics[i].second = sums[i];
    }
  }
  // The model, the optimizer and the generators are alike on every replica.
  if (replicas_ && !replicas_->is_root()) return;
  nn::save_training_state(path, model_, optimizer_, run);
}

template <typename T>
TrainingProgress Trainer<T>::load_training_state(const std::string& path) {
  resume_ = nn::load_training_state(path, model_, optimizer_);
  return resume_->progress;
}

template <typename T>
Array<T> Trainer<T>::predict(const Array<T>& x, std::size_t batch_size) {
  check_batch_size("Trainer::predict", batch_size);
  if (x.dimension() == 0 || x.shape()[0] == 0) {
    throw std::invalid_argument("Trainer::predict: x of shape " + shape_to_string(x.shape()) +
                                " has no samples on axis 0");
  }
  ModeScope<T> inference(model_, false);
  NoGradGuard no_grad;
  const std::size_t n = x.shape()[0];
  std::vector<Array<T>> outputs;
  for (std::size_t first = 0; first < n; first += batch_size) {
    const std::size_t last = std::min(first + batch_size, n);
    outputs.push_back(forward_(Variable<T>(rows(x, first, last))).value());
    const Array<T>& out = outputs.back();
    const bool fits = out.dimension() > 0 && out.shape()[0] == last - first &&
                      (outputs.size() == 1 ||
                       std::equal(out.shape().begin() + 1, out.shape().end(),
                                  outputs.front().shape().begin() + 1,
                                  outputs.front().shape().end()));
    if (!fits) {
      throw std::invalid_argument("Trainer::predict: the model gave an output of shape " +
                                  shape_to_string(out.shape()) + " for a batch of shape " +
                                  shape_to_string(rows(x, first, last).shape()) +
                                  "; outputs must be [b, ...] with the same trailing shape");
    }
  }
  Shape shape = to_shape(outputs.front().shape());
  shape[0] = n;
  Array<T> result = Array<T>::from_shape(shape);
  T* at = result.data();
  for (const auto& out : outputs) at = std::copy_n(out.data(), out.size(), at);
  return result;
}

template <typename T>
std::string Trainer<T>::summary() const {
  return nn::summary(model_);
}

template <typename T>
std::optional<MetricDirection> Trainer<T>::metric_direction(const std::string& name) const {
  for (const Figure& figure : figures_)
    if (figure.key == name) return figure.metric->direction();
  return std::nullopt;
}

template <typename T>
std::vector<Array<double>> Trainer<T>::get_weights() const {
  std::vector<Array<double>> weights;
  for (const auto& parameter : model_.parameters())
    weights.push_back(Array<double>(xt::cast<double>(parameter.value())));
  return weights;
}

template <typename T>
void Trainer<T>::set_weights(const std::vector<Array<double>>& weights) {
  std::vector<Variable<T>> parameters = model_.parameters();
  if (weights.size() != parameters.size()) {
    throw std::invalid_argument("Trainer::set_weights: got " + std::to_string(weights.size()) +
                                " arrays for the " + std::to_string(parameters.size()) +
                                " parameters of model '" + model_.name() + "'");
  }
  for (std::size_t i = 0; i < weights.size(); ++i) {
    if (weights[i].shape() != parameters[i].shape()) {
      throw std::invalid_argument("Trainer::set_weights: array " + std::to_string(i) +
                                  " has shape " + shape_to_string(weights[i].shape()) +
                                  ", the parameter has shape " +
                                  shape_to_string(parameters[i].shape()));
    }
  }
  for (std::size_t i = 0; i < weights.size(); ++i) parameters[i].value() = xt::cast<T>(weights[i]);
}

template <typename T>
void Trainer<T>::save_weights(const std::string& path) const {
  save(model_, path);
}

template class Loss<float>;
template class Loss<double>;
template class Trainer<float>;
template class Trainer<double>;

}  // namespace xgrad::nn
