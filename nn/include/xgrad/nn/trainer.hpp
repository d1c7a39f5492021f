#pragma once
// Trainer: Keras' compile / fit / evaluate / predict over any model.
//
//   nn::Trainer<float> trainer(model, optimizer, "mean_squared_error", {nn::make_metric("mae")});
//   nn::History history = trainer.fit(x, y, nn::FitOptions().epochs(10).validation_split(0.2));
//   nn::Logs test = trainer.evaluate(x_test, y_test);   // test.at("loss"), test.at("mae")
//   xgrad::Array<float> y_hat = trainer.predict(x_new);
//
// The model is any Module<T> with `Variable<T> forward(const Variable<T>&)`
// (a Sequential, a layer, a module of your own); the optimizer is over its
// parameters; model and optimizer must outlive the trainer. Making the
// trainer makes the optimizer apply the model's constraints after each step
// (Optimizer::apply_constraints_of), as Keras' optimizer does.
//
// Data: inputs x [N, ...] and targets y [N, ...] as arrays of T, or class
// labels as int64 or int32 (converted to T, exact below 2^24 for float). Batches are
// rows of x and y along axis 0.
//
// One training step on a batch (x_b, y_b) of b samples, as Keras' train_step:
//   y_pred = model(x_b)                            (training mode)
//   loss   = loss_fn(y_pred, y_b) + model.regularization_loss()
//   optimizer.zero_grad(); loss.backward(); optimizer.step()
// then the loss tracker adds loss · b (so the epoch's "loss" is the mean of
// the batch losses weighted by their sizes: a last, smaller batch counts for
// what it holds, as Keras' Mean with sample_weight = batch size) and each
// metric adds (y_b, y_pred). evaluate() does the same without the update, in
// inference mode, without a graph (NoGradGuard), the regularization loss
// still added (as Keras' test_step). Metrics and the loss tracker are reset
// at the start of each epoch and of each evaluate().
//
// Data-parallel training (replicas.hpp; xgrad::dist sets it up over MPI):
// with set_replicas(R replicas), every replica runs the same fit() or
// evaluate() on its own part of the data. fit's batch_size is per replica:
// each step trains on R · batch_size samples in all. fit shards the
// training data (DataLoader::shard: floor(N / R) samples per replica per
// epoch, each replica's part of the same order of all N, which a
// shuffle_seed draws alike everywhere; save_training_state keeps that
// order, so a resumed run shards it again); evaluate and the validation split x into R blocks of rows. The
// epoch's logs and evaluate's result are the figures over all replicas
// (the loss tracker's and each metric's state summed over them,
// Metric::state), so EarlyStopping and the other callbacks decide
// alike everywhere; the per-batch logs are each replica's own (as in
// Horovod: averaging them would cost a collective per step). A
// stop_training set on any replica stops all of them after that batch or
// epoch (one small allreduce per batch). Callbacks whose
// root_only() is true (the progress bar, CSVLogger, ModelCheckpoint) run on
// replica 0 alone. The gradients are averaged by the optimizer's gradient
// hook, not here.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <xtensor/xoperation.hpp>

#include "xgrad/autograd/variable.hpp"
#include "xgrad/nn/callbacks.hpp"
#include "xgrad/nn/history.hpp"
#include "xgrad/nn/metrics.hpp"
#include "xgrad/nn/module.hpp"
#include "xgrad/nn/optimizers.hpp"
#include "xgrad/nn/options.hpp"
#include "xgrad/nn/replicas.hpp"
#include "xgrad/nn/sequential.hpp"
#include "xgrad/nn/training_state.hpp"
#include "xgrad/tensor/tensor.hpp"

namespace xgrad::nn {

namespace detail {
// Class labels fit() and evaluate() take as y (Keras takes either).
template <typename L>
constexpr bool is_class_label_v = std::is_same_v<L, std::int64_t> || std::is_same_v<L, std::int32_t>;
}  // namespace detail

// A loss for the trainer: a function (y_pred, y_true) -> 0-D Variable, in
// the argument order of losses.hpp (Keras' losses take y_true first), with
// the name fit() logs it under ("loss" always; the name is for messages).
// Made implicitly from such a function (nn::mean_squared_error<float>, a
// lambda) or from a Keras name: "mean_squared_error" or "mse",
// "mean_absolute_error" or "mae", "binary_crossentropy",
// "categorical_crossentropy" (one-hot targets),
// "sparse_categorical_crossentropy" (of probabilities, Keras'
// from_logits=False), "binary_crossentropy_from_logits",
// "categorical_crossentropy_from_logits",
// "sparse_categorical_crossentropy_from_logits" (the sparse ones take labels
// [B] or [B, 1] holding integers, converted to int64; a label that is not an
// integer throws std::invalid_argument naming it).
// A loss made from a name also takes Keras' sample_weight (losses.hpp,
// detail: each sample's losses times its weight, summed, divided by their
// count); one made from a function does not, and throws
// std::invalid_argument when given weights.
template <typename T = float>
class Loss {
 public:
  using Function = std::function<Variable<T>(const Variable<T>& y_pred, const Variable<T>& y_true)>;

  Loss(const char* name);         // NOLINT(google-explicit-constructor): by design
  Loss(const std::string& name);  // NOLINT(google-explicit-constructor)
  template <typename F,
            typename = std::enable_if_t<std::is_invocable_r_v<Variable<T>, F&, const Variable<T>&,
                                                              const Variable<T>&> &&
                                        !std::is_convertible_v<F, std::string>>>
  Loss(F function)  // NOLINT(google-explicit-constructor)
      : function_([f = std::move(function)](const Variable<T>& y_pred, const Variable<T>& y_true,
                                            const Array<T>* sample_weight) mutable {
          if (sample_weight) {
            throw std::invalid_argument(
                "Loss: a loss given as a function of (y_pred, y_true) takes no sample_weight (nor fit's "
                "class_weight); give the loss by its Keras name, or weigh inside the function");
          }
          return f(y_pred, y_true);
        }),
        name_("loss") {}

  Variable<T> operator()(const Variable<T>& y_pred, const Variable<T>& y_true) const {
    return function_(y_pred, y_true, nullptr);
  }
  // Keras' loss(y_true, y_pred, sample_weight).
  Variable<T> operator()(const Variable<T>& y_pred, const Variable<T>& y_true, const Array<T>& sample_weight) const {
    return function_(y_pred, y_true, &sample_weight);
  }
  const std::string& name() const { return name_; }

 private:
  using WeightedFunction =
      std::function<Variable<T>(const Variable<T>&, const Variable<T>&, const Array<T>* sample_weight)>;
  WeightedFunction function_;
  std::string name_;
};

template <typename T = float>
using MetricList = std::vector<std::shared_ptr<Metric<T>>>;

// fit's class_weight: {class label: weight}.
using ClassWeights = std::map<std::int64_t, double>;

template <typename T = float>
struct FitOptions {
  XGRAD_ARG(std::size_t, epochs) = 1;             // Keras: 1
  XGRAD_ARG(std::size_t, batch_size) = 32;        // Keras: None (32); > 0
  XGRAD_ARG(int, verbose) = 1;                    // Keras: "auto" (1); 0 silent, 1 bar, 2 a line per epoch
  XGRAD_ARG(Callbacks, callbacks) = {};           // Keras: None
  XGRAD_ARG(double, validation_split) = 0.0;      // Keras: 0.0; in [0, 1): the LAST fraction, before shuffling
  XGRAD_ARG(bool, shuffle) = true;                // Keras: True; a new order each epoch (DataLoader)
  XGRAD_ARG(std::size_t, initial_epoch) = 0;      // Keras: 0; the epoch to start from (from 0)
  XGRAD_ARG(std::size_t, validation_batch_size) = 0;  // Keras: None (0 here): batch_size
  // Keras: 1; > 0. Validates after every validation_freq-th epoch (epochs
  // counted from 1, initial_epoch's included): 2 validates after epochs 2,
  // 4, ...; the others have no "val_" figures (NaN in the History).
  XGRAD_ARG(std::size_t, validation_freq) = 1;
  // xgrad's: shuffle with fit's own generator seeded with this
  // (DataLoaderOptions::seed), not xgrad::generator().
  XGRAD_ARG(std::optional<std::uint64_t>, shuffle_seed) = std::nullopt;
  // Keras' sample_weight: one weight per sample of x, [N] (or [N, T] for
  // per-timestep losses), multiplying that sample's loss (Loss) and
  // weighing it in the weighted metrics. With validation_split the last
  // part of the weights weighs the validation loss and weighted metrics.
  // Not with a loss given as a function, nor with class_weight.
  XGRAD_ARG(std::optional<Array<T>>, sample_weight) = std::nullopt;
  // Keras' class_weight: {class: weight} for class labels y ([N], [N, 1],
  // or one-hot [N, C], whose class is the row's largest entry); each
  // training sample's loss is multiplied by its class's weight, 1 for a
  // class not named, and the weighted metrics weigh it so too. The
  // validation is not weighted, as in Keras.
  XGRAD_ARG(ClassWeights, class_weight) = {};

 public:
  // Keras' validation_data=(x_val, y_val): evaluated at each epoch end as
  // "val_loss" and "val_<metric>"; takes precedence over validation_split.
  FitOptions& validation_data(Array<T> x, Array<T> y) {
    validation_ = std::make_pair(std::move(x), std::move(y));
    validation_sample_weight_.reset();
    return *this;
  }
  // Keras' validation_data=(x_val, y_val, val_sample_weight): the validation
  // loss and weighted metrics weighted by these weights, one per sample of
  // x_val.
  FitOptions& validation_data(Array<T> x, Array<T> y, Array<T> sample_weight) {
    validation_data(std::move(x), std::move(y));
    validation_sample_weight_ = std::move(sample_weight);
    return *this;
  }
  // (A template only so that an xtensor expression as labels picks the
  // overload above, not this one.)
  template <typename L, typename = std::enable_if_t<detail::is_class_label_v<L>>>
  FitOptions& validation_data(Array<T> x, const Array<L>& labels) {
    return validation_data(std::move(x), Array<T>(xt::cast<T>(labels)));
  }
  template <typename L, typename = std::enable_if_t<detail::is_class_label_v<L>>>
  FitOptions& validation_data(Array<T> x, const Array<L>& labels, Array<T> sample_weight) {
    return validation_data(std::move(x), Array<T>(xt::cast<T>(labels)), std::move(sample_weight));
  }
  const std::optional<std::pair<Array<T>, Array<T>>>& validation_data() const { return validation_; }
  const std::optional<Array<T>>& validation_sample_weight() const { return validation_sample_weight_; }

 private:
  std::optional<std::pair<Array<T>, Array<T>>> validation_;  // Keras: None
  std::optional<Array<T>> validation_sample_weight_;
};

struct EvaluateOptions {
  XGRAD_ARG(std::size_t, batch_size) = 32;  // Keras: None (32); > 0
  XGRAD_ARG(int, verbose) = 0;              // Keras: "auto" (1); here quiet unless asked
  XGRAD_ARG(Callbacks, callbacks) = {};     // Keras: None
};

template <typename T = float>
class Trainer : public TrainingContext {
 public:
  // Keras' compile(optimizer, loss, metrics, weighted_metrics) on `model`,
  // which must have a forward (static_assert otherwise). The metrics ignore
  // sample weights; the weighted metrics take them (fit's sample_weight or
  // class_weight, the validation weights, evaluate's and the *_on_batch
  // sample_weight), as Keras' weighted_metrics. Each figure's key in the
  // logs is its metric's name; a weighted metric named as one of the
  // metrics is keyed "weighted_<name>" (tf.keras). Throws
  // std::invalid_argument for a null metric, one given twice, a key named
  // "loss", or two figures of the same key.
  template <typename M>
  Trainer(M& model, Optimizer<T>& optimizer, Loss<T> loss, MetricList<T> metrics = {},
          MetricList<T> weighted_metrics = {})
      : Trainer(static_cast<Module<T>&>(model), forward_of(model), optimizer, std::move(loss),
                std::move(metrics), std::move(weighted_metrics)) {}

  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // Keras' fit: options.epochs() passes over x, y (less the validation part)
  // in batches of batch_size, shuffled each epoch when shuffle, from
  // initial_epoch on. Each epoch: reset the metrics, on_epoch_begin, the
  // training steps (on_train_batch_begin / _end around each; a
  // stop_training set by a callback ends the epoch after that batch), the
  // validation (evaluate with the same callbacks' on_test_* hooks; its
  // figures become "val_loss", "val_<metric>"), on_epoch_end, and the
  // figures into the History, under epoch + 1 (1, 2, ...: the epochs the
  // progress bar prints); then stop if stop_training. Callbacks run in the
  // order given, then the History, then the progress bar (verbose > 0).
  // Throws std::invalid_argument for x and y of different sample counts,
  // no samples, batch_size 0, a validation_split outside [0, 1) or one that
  // leaves either part empty, or validation data whose shapes do not fit.
  History fit(const Array<T>& x, const Array<T>& y, const FitOptions<T>& options = FitOptions<T>());
  // The same with int64 or int32 class labels. (The label overloads are templates
  // only so that an xtensor expression as y, such as 2.0f * x, picks the
  // overload above.)
  template <typename L, typename = std::enable_if_t<detail::is_class_label_v<L>>>
  History fit(const Array<T>& x, const Array<L>& labels, const FitOptions<T>& options = FitOptions<T>()) {
    return fit(x, Array<T>(xt::cast<T>(labels)), options);
  }

  // Keras' evaluate: the loss and each metric over x, y in batches, in
  // order: {"loss", <metric keys>..., <weighted metric keys>...}, each the
  // batch-size-weighted mean.
  Logs evaluate(const Array<T>& x, const Array<T>& y, const EvaluateOptions& options = {}) {
    return evaluate_weighted(x, y, nullptr, options);
  }
  // The same with Keras' sample_weight, [N] (or [N, T]): the loss and the
  // weighted metrics are weighted (Loss, UnitMeanMetric), the metrics are
  // not (Keras' `metrics`).
  Logs evaluate(const Array<T>& x, const Array<T>& y, const Array<T>& sample_weight,
                const EvaluateOptions& options = {}) {
    return evaluate_weighted(x, y, &sample_weight, options);
  }
  template <typename L, typename = std::enable_if_t<detail::is_class_label_v<L>>>
  Logs evaluate(const Array<T>& x, const Array<L>& labels, const EvaluateOptions& options = {}) {
    return evaluate(x, Array<T>(xt::cast<T>(labels)), options);
  }

  // Keras' predict: the model's outputs for x [N, ...] in batches of
  // batch_size (> 0), concatenated on axis 0, in inference mode (eval(),
  // restored afterwards) under NoGradGuard: no graph is recorded.
  Array<T> predict(const Array<T>& x, std::size_t batch_size = 32);

  // One training step, or one evaluation, on one batch; the logs are the
  // running figures since the last reset_metrics() (Keras 3 keeps the
  // metrics' state across these calls too).
  Logs train_on_batch(const Array<T>& x, const Array<T>& y) { return train_batch(x, y, nullptr); }
  Logs test_on_batch(const Array<T>& x, const Array<T>& y) { return test_batch(x, y, nullptr); }
  // The same with Keras' sample_weight for the batch's loss and weighted metrics.
  Logs train_on_batch(const Array<T>& x, const Array<T>& y, const Array<T>& sample_weight) {
    return train_batch(x, y, &sample_weight);
  }
  Logs test_on_batch(const Array<T>& x, const Array<T>& y, const Array<T>& sample_weight) {
    return test_batch(x, y, &sample_weight);
  }
  void reset_metrics();
  // The running figures: {"loss", <metric keys>..., <weighted metric keys>...}.
  Logs metric_results() const;

  // Keras' model.summary() (nn::summary of the model) and count_params().
  std::string summary() const;
  std::size_t count_params() const { return model_.count_params(); }

  Module<T>& model() const { return model_; }
  Optimizer<T>& optimizer() const { return optimizer_; }
  const MetricList<T>& metrics() const { return metrics_; }
  const MetricList<T>& weighted_metrics() const { return weighted_metrics_; }
  // The History of the last fit() (Keras' model.history).
  const History& history() const { return history_; }

  // Data-parallel training (see the top of this file); null (the default):
  // this process alone.
  void set_replicas(std::shared_ptr<const ReplicaContext> replicas) { replicas_ = std::move(replicas); }
  const std::shared_ptr<const ReplicaContext>& replicas() const { return replicas_; }

  // TrainingContext, for callbacks.
  double learning_rate() const override { return optimizer_.learning_rate(); }
  void set_learning_rate(double learning_rate) override { optimizer_.set_learning_rate(learning_rate); }
  std::optional<MetricDirection> metric_direction(const std::string& name) const override;
  std::vector<Array<double>> get_weights() const override;
  void set_weights(const std::vector<Array<double>>& weights) override;
  void save_weights(const std::string& path) const override;
  // nn::save_training_state of the model, the optimizer, the generators and
  // where fit is (progress()): the epoch under way, its batches done and
  // their order, the epoch's running figures. Called from a callback's
  // on_train_batch_end, the next fit resumes after that batch; from
  // on_epoch_end, at the next epoch.
  void save_training_state(const std::string& path) const override;
  // Restores such a file (nn::load_training_state) into the model, the
  // optimizer and the generators; the next fit() starts where it was saved,
  // in place of initial_epoch (called from a callback's on_train_begin, the
  // fit under way does). A mid-epoch resume goes on with the saved order of
  // that epoch and its running figures; the epoch's on_epoch_begin hooks run
  // again, after which the saved learning rate is put back. With replicas
  // (set_replicas) every replica calls both, as BackupAndRestore does:
  // saving is collective and replica 0 alone writes the file (the order of
  // all training samples, from which each replica takes its shard again;
  // the figures summed over the replicas, which replica 0 takes back), so
  // every replica must be able to read it. Throws IoError on a file that
  // does not fit; at fit's start std::invalid_argument when the saved order
  // does not fit the data, the shuffling's generator
  // (FitOptions::shuffle_seed) is not the same kind, or (with replicas) the
  // replicas do not all resume the same place.
  TrainingProgress load_training_state(const std::string& path) override;
  const TrainingProgress& progress() const { return progress_; }

 private:
  using Forward = std::function<Variable<T>(const Variable<T>&)>;

  template <typename M>
  static Forward forward_of(M& model) {
    static_assert(std::is_base_of_v<Module<T>, M>, "Trainer<T>: the model must derive from nn::Module<T>");
    static_assert(detail::has_forward<M, T>::value,
                  "Trainer<T>: the model needs Variable<T> forward(const Variable<T>&)");
    return [&model](const Variable<T>& x) -> Variable<T> { return model.forward(x); };
  }

  Trainer(Module<T>& model, Forward forward, Optimizer<T>& optimizer, Loss<T> loss,
          MetricList<T> metrics, MetricList<T> weighted_metrics);

  // The loss of one batch with the regularization loss, and the trackers
  // updated; the loss weighted by sample_weight when not null.
  Variable<T> batch_loss(const Array<T>& x, const Array<T>& y, const Array<T>* sample_weight);
  Logs train_batch(const Array<T>& x, const Array<T>& y, const Array<T>* sample_weight);
  Logs test_batch(const Array<T>& x, const Array<T>& y, const Array<T>* sample_weight);
  // Checks a restored run against this fit (std::invalid_argument) and
  // restores fit's shuffling generator.
  void check_resume(const RunState& resume, std::size_t samples, std::size_t batches,
                    const FitOptions<T>& options);
  // With replicas: throws std::invalid_argument on every replica unless all
  // resume the same place (or all start afresh). One small allreduce.
  void agree_on_resume(const std::optional<TrainingProgress>& resumed);
  // The loss tracker's and the metrics' saved running state.
  void restore_metrics(const std::vector<std::pair<std::string, std::vector<double>>>& saved);
  // evaluate over (x, y) with the given callbacks' on_test_* hooks.
  Logs run_test(const Array<T>& x, const Array<T>& y, const Array<T>* sample_weight, std::size_t batch_size,
                const Callbacks& callbacks);
  Logs evaluate_weighted(const Array<T>& x, const Array<T>& y, const Array<T>* sample_weight,
                         const EvaluateOptions& options);
  // metric_results() over every replica (that process's alone without replicas).
  Logs replica_results();
  // With replicas: the loss tracker's {total, count} and each metric's
  // state() summed over the replicas ({result · samples, samples} for a
  // metric without a state). Collective.
  std::vector<std::vector<double>> replica_states() const;
  // With replicas: stop_training on every replica when it is set on any.
  void agree_on_stop();
  // The callbacks this process runs: all, except on a replica other than 0
  // those whose root_only() is true.
  Callbacks callbacks_here(const Callbacks& callbacks) const;

  Module<T>& model_;
  Forward forward_;
  Optimizer<T>& optimizer_;
  Loss<T> loss_;
  MetricList<T> metrics_, weighted_metrics_;
  // Every metric, the unweighted ones first, with its key in the logs.
  struct Figure {
    Metric<T>* metric;
    std::string key;
    bool weighted;
  };
  std::vector<Figure> figures_;
  double loss_total_ = 0.0, loss_count_ = 0.0;  // Keras' loss tracker (a Mean)
  History history_;
  std::shared_ptr<const ReplicaContext> replicas_;
  // Where fit is, for save_training_state.
  TrainingProgress progress_;
  std::vector<std::size_t> epoch_order_;  // of the epoch under way
  Generator* shuffle_generator_ = nullptr;  // fit's own, with a shuffle_seed, while fit runs
  std::optional<RunState> resume_;        // from load_training_state, for fit
};

extern template class Loss<float>;
extern template class Loss<double>;
extern template class Trainer<float>;
extern template class Trainer<double>;

}  // namespace xgrad::nn
