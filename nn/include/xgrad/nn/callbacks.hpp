#pragma once
// Callbacks with Keras' names, defaults and behaviour (keras.callbacks):
// objects whose hooks Trainer::fit and evaluate call at the start and end of
// training, of each epoch and of each batch, with the figures so far (Keras'
// logs), and which may stop training, change the learning rate, save or
// restore weights.
//
//   auto stop = std::make_shared<nn::EarlyStopping>(
//       nn::EarlyStoppingOptions().patience(3).restore_best_weights(true));
//   trainer.fit(x, y, nn::FitOptions().epochs(100).validation_split(0.2).callbacks({stop}));
//
// A callback of your own derives from nn::Callback and overrides the hooks
// it needs; trainer() is what it can act on (stop_training, the learning
// rate, the weights), params() the run's epochs, steps and verbosity.
//
// Epochs and batches are counted from 0 in the hooks, as Keras passes them
// (messages print epoch + 1, as Keras does). Messages of verbose callbacks,
// and TerminateOnNaN's, go to std::cerr with the progress bar. A bad option
// throws std::invalid_argument naming the callback and the option (Keras
// warns and falls back to "auto" for an unknown mode).

#include <cstddef>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "xgrad/nn/metrics.hpp"
#include "xgrad/nn/options.hpp"
#include "xgrad/nn/progress.hpp"
#include "xgrad/nn/training_state.hpp"
#include "xgrad/tensor/tensor.hpp"

namespace xgrad::nn {

// Keras' logs: figures by name in the order they were first set ("loss",
// the metrics, "val_loss", the validation metrics, then what callbacks add,
// such as "learning_rate").
class Logs {
 public:
  using Entry = std::pair<std::string, double>;

  Logs() = default;
  Logs(std::initializer_list<Entry> entries);

  // Sets `name` to `value`: replaces its value, or appends it.
  void set(const std::string& name, double value);
  // The value of `name`; nullopt when absent.
  std::optional<double> get(const std::string& name) const;
  // The value of `name`; throws std::out_of_range naming it and the names
  // there are.
  double at(const std::string& name) const;
  bool contains(const std::string& name) const { return get(name).has_value(); }

  const std::vector<Entry>& entries() const { return entries_; }
  std::vector<Entry>::const_iterator begin() const { return entries_.begin(); }
  std::vector<Entry>::const_iterator end() const { return entries_.end(); }
  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  // "loss, val_loss": for messages.
  std::string names() const;

 private:
  std::vector<Entry> entries_;
};

// What a callback may act on: the Trainer running it (Keras' callback.model).
class TrainingContext {
 public:
  virtual ~TrainingContext() = default;

  // Set to true to end fit() after the current batch, once that epoch's
  // validation and on_epoch_end have run (Keras' model.stop_training).
  bool stop_training = false;

  // The optimizer's learning rate (of its next step), and a new constant
  // one (throws std::invalid_argument when it follows a schedule).
  virtual double learning_rate() const = 0;
  virtual void set_learning_rate(double learning_rate) = 0;
  // Which way the compiled metric called `name` improves; nullopt for
  // "loss" (which decreases) and for a name no metric has.
  virtual std::optional<MetricDirection> metric_direction(const std::string& name) const = 0;
  // Every parameter's values in named_parameters() order, as Keras'
  // get_weights(); in double whatever the model's T (exact for float).
  virtual std::vector<Array<double>> get_weights() const = 0;
  // Assigns values from get_weights(); throws std::invalid_argument on a
  // count or shape that does not fit.
  virtual void set_weights(const std::vector<Array<double>>& weights) = 0;
  // nn::save of the model to `path` (an .npz checkpoint, written atomically).
  virtual void save_weights(const std::string& path) const = 0;
  // The whole state of the run (training_state.hpp) into one .npz, written
  // atomically; and back, for the next (or the running) fit to continue
  // from where it was saved.
  // load_training_state returns where the restored run was.
  virtual void save_training_state(const std::string& path) const = 0;
  virtual TrainingProgress load_training_state(const std::string& path) = 0;
};

// Keras' callback.params.
struct CallbackParams {
  std::size_t epochs = 0;      // fit's epochs (0 in evaluate)
  std::size_t steps = 0;       // batches per epoch (of evaluate's pass in evaluate)
  int verbose = 0;             // fit's or evaluate's verbose
  std::size_t samples = 0;     // samples per epoch (fit's training part)
  std::size_t batch_size = 0;  // every batch but the last holds this many
};

// The base of every callback: each hook does nothing unless overridden.
// `logs` may be changed (a callback may add figures; later callbacks and
// the History see them).
//   on_train_begin / on_train_end          once per fit (end: the last epoch's logs)
//   on_epoch_begin / on_epoch_end          per epoch (end: loss, metrics, val_*)
//   on_train_batch_begin / _end            per training batch (end: the running
//                                          loss and metrics of the epoch so far);
//                                          by default they call on_batch_begin / _end
//   on_test_begin / _end, on_test_batch_begin / _end   in evaluate, and in fit's validation
class Callback {
 public:
  virtual ~Callback() = default;

  virtual void on_train_begin(Logs& /*logs*/) {}
  virtual void on_train_end(Logs& /*logs*/) {}
  virtual void on_epoch_begin(std::size_t /*epoch*/, Logs& /*logs*/) {}
  virtual void on_epoch_end(std::size_t /*epoch*/, Logs& /*logs*/) {}
  virtual void on_train_batch_begin(std::size_t batch, Logs& logs) { on_batch_begin(batch, logs); }
  virtual void on_train_batch_end(std::size_t batch, Logs& logs) { on_batch_end(batch, logs); }
  virtual void on_batch_begin(std::size_t /*batch*/, Logs& /*logs*/) {}
  virtual void on_batch_end(std::size_t /*batch*/, Logs& /*logs*/) {}
  virtual void on_test_begin(Logs& /*logs*/) {}
  virtual void on_test_end(Logs& /*logs*/) {}
  virtual void on_test_batch_begin(std::size_t /*batch*/, Logs& /*logs*/) {}
  virtual void on_test_batch_end(std::size_t /*batch*/, Logs& /*logs*/) {}

  // In data-parallel training (replicas.hpp), whether replica 0 alone runs
  // this callback: true for those that only write output (the progress bar,
  // CSVLogger, ModelCheckpoint), which R replicas would write R times; false
  // (the default) for those that act on the training (EarlyStopping, the
  // learning rate), which every replica must do alike.
  virtual bool root_only() const { return false; }

  // Set by the trainer before the first hook (Keras' set_model, set_params).
  void set_context(TrainingContext* context) { context_ = context; }
  void set_params(const CallbackParams& params) { params_ = params; }
  // Throws std::logic_error when the callback is not run by a trainer.
  TrainingContext& trainer() const;
  const CallbackParams& params() const { return params_; }

 private:
  TrainingContext* context_ = nullptr;
  CallbackParams params_;
};

using Callbacks = std::vector<std::shared_ptr<Callback>>;

// ------------------------------------------------------------ EarlyStopping

struct EarlyStoppingOptions {
  XGRAD_ARG(std::string, monitor) = "val_loss";            // Keras: "val_loss"
  XGRAD_ARG(double, min_delta) = 0.0;                      // Keras: 0; its absolute value is used
  XGRAD_ARG(std::size_t, patience) = 0;                    // Keras: 0
  XGRAD_ARG(int, verbose) = 0;                             // Keras: 0; 1 prints when it acts
  XGRAD_ARG(std::string, mode) = "auto";                   // Keras: "auto"; or "min", "max"
  XGRAD_ARG(std::optional<double>, baseline) = std::nullopt;  // Keras: None
  XGRAD_ARG(bool, restore_best_weights) = false;           // Keras: False
  XGRAD_ARG(std::size_t, start_from_epoch) = 0;            // Keras: 0
};

// Keras' EarlyStopping: stops training when `monitor` has not improved for
// `patience` epochs. At each epoch end (from start_from_epoch on, when the
// logs hold `monitor`): wait += 1; an improvement (current − min_delta <
// best in min mode, current + min_delta > best in max mode; best starts at
// ±inf) records best and, with restore_best_weights, the weights, and sets
// wait to 0 only if current also improves on `baseline` (when given);
// otherwise, once wait >= patience and epoch > 0, it stops training. Mode
// "auto" minimises "loss"/"val_loss" and a metric whose direction is down,
// maximises one whose direction is up (accuracies), and throws for a name no
// metric has. With restore_best_weights, on_train_end puts back the weights
// of the best epoch (of the first watched epoch when none improved), whether
// or not training stopped early. Unlike Keras, best is reset at every fit.
class EarlyStopping : public Callback {
 public:
  explicit EarlyStopping(EarlyStoppingOptions options = {});
  void on_train_begin(Logs& logs) override;
  void on_epoch_end(std::size_t epoch, Logs& logs) override;
  void on_train_end(Logs& logs) override;

  const EarlyStoppingOptions& options() const { return options_; }
  std::size_t wait() const { return wait_; }
  // The epoch (from 0) training stopped at; 0 when it did not stop early.
  std::size_t stopped_epoch() const { return stopped_epoch_; }
  std::size_t best_epoch() const { return best_epoch_; }
  double best() const { return best_; }

 private:
  bool improves(double current, double reference) const;

  EarlyStoppingOptions options_;
  int sign_ = 0;  // -1: minimise, +1: maximise; 0 until the first epoch end
  double best_ = 0.0;
  std::size_t wait_ = 0, stopped_epoch_ = 0, best_epoch_ = 0;
  std::optional<std::vector<Array<double>>> best_weights_;
};

// ---------------------------------------------------------- ModelCheckpoint

struct ModelCheckpointOptions {
  explicit ModelCheckpointOptions(std::string filepath) : filepath_(std::move(filepath)) {}

  XGRAD_ARG(std::string, filepath);                   // required; may hold {epoch:02d}, {val_loss:.4f}
  XGRAD_ARG(std::string, monitor) = "val_loss";       // Keras: "val_loss"
  XGRAD_ARG(int, verbose) = 0;                        // Keras: 0
  XGRAD_ARG(bool, save_best_only) = false;            // Keras: False
  XGRAD_ARG(std::string, mode) = "auto";              // Keras: "auto"; or "min", "max"
  XGRAD_ARG(std::optional<double>, initial_value_threshold) = std::nullopt;  // Keras: None
};

// Keras' ModelCheckpoint (save_freq="epoch"): at each epoch end, saves the
// model's weights with nn::save (an .npz checkpoint, written atomically) to
// filepath, formatted as Python's str.format with epoch = epoch + 1 and the
// logs: "{epoch}", "{epoch:02d}", "{val_loss}", "{val_loss:.4f}" (specs
// [0][width][.precision][d|f|e|g]). With save_best_only it saves only when
// `monitor` improves on the best so far (strictly less in min mode, greater
// in max mode; starting from initial_value_threshold, else ±inf); mode
// "auto" maximises a monitor whose name contains "acc" and minimises any
// other, as Keras does. A filepath key the logs lack throws
// std::invalid_argument naming it.
class ModelCheckpoint : public Callback {
 public:
  explicit ModelCheckpoint(ModelCheckpointOptions options);
  bool root_only() const override { return true; }
  void on_epoch_end(std::size_t epoch, Logs& logs) override;

  const ModelCheckpointOptions& options() const { return options_; }
  double best() const { return best_; }
  // The path of `epoch` (from 0) with these logs.
  std::string file_path(std::size_t epoch, const Logs& logs) const;

 private:
  ModelCheckpointOptions options_;
  bool maximise_;
  double best_;
};

// -------------------------------------------------------- ReduceLROnPlateau

struct ReduceLROnPlateauOptions {
  XGRAD_ARG(std::string, monitor) = "val_loss";  // Keras: "val_loss"
  XGRAD_ARG(double, factor) = 0.1;               // Keras: 0.1; in [0, 1)
  XGRAD_ARG(std::size_t, patience) = 10;         // Keras: 10
  XGRAD_ARG(int, verbose) = 0;                   // Keras: 0
  XGRAD_ARG(std::string, mode) = "auto";         // Keras: "auto"; or "min", "max"
  XGRAD_ARG(double, min_delta) = 1e-4;           // Keras: 1e-4
  XGRAD_ARG(std::size_t, cooldown) = 0;          // Keras: 0
  XGRAD_ARG(double, min_lr) = 0.0;               // Keras: 0.0
};

// Keras' ReduceLROnPlateau: at each epoch end it writes the learning rate
// into the logs ("learning_rate"), then, when they hold `monitor`: in
// cooldown, cooldown_counter −= 1 and wait = 0; an improvement (current <
// best − min_delta in min mode, current > best + min_delta in max mode;
// mode "auto" maximises a monitor whose name contains "acc") sets best and
// wait = 0; otherwise, out of cooldown, wait += 1 and when wait >= patience
// and lr > min_lr: lr = max(lr · factor, min_lr), cooldown_counter =
// cooldown, wait = 0. best starts at ±inf at each fit.
class ReduceLROnPlateau : public Callback {
 public:
  explicit ReduceLROnPlateau(ReduceLROnPlateauOptions options = {});
  void on_train_begin(Logs& logs) override;
  void on_epoch_end(std::size_t epoch, Logs& logs) override;

  const ReduceLROnPlateauOptions& options() const { return options_; }
  std::size_t wait() const { return wait_; }
  std::size_t cooldown_counter() const { return cooldown_counter_; }
  double best() const { return best_; }

 private:
  ReduceLROnPlateauOptions options_;
  bool maximise_;
  double best_ = 0.0;
  std::size_t wait_ = 0, cooldown_counter_ = 0;
};

// ---------------------------------------------------- LearningRateScheduler

// Keras' LearningRateScheduler(schedule, verbose=0): at each epoch begin the
// optimizer's learning rate becomes schedule(epoch, current rate), epoch
// counted from 0; at each epoch end the rate is written into the logs
// ("learning_rate"). A non-finite or negative rate throws
// std::invalid_argument naming the epoch.
class LearningRateScheduler : public Callback {
 public:
  using Schedule = std::function<double(std::size_t epoch, double learning_rate)>;

  explicit LearningRateScheduler(Schedule schedule, int verbose = 0);  // Keras: verbose=0
  void on_epoch_begin(std::size_t epoch, Logs& logs) override;
  void on_epoch_end(std::size_t epoch, Logs& logs) override;

 private:
  Schedule schedule_;
  int verbose_;
};

// ----------------------------------------------------------- TerminateOnNaN

// Keras' TerminateOnNaN: after a training batch whose logs' "loss" (the
// epoch's running mean) is NaN or infinite, writes "Epoch E, batch B:
// invalid loss (nan), terminating training" (E from 1, B from 0) on
// std::cerr and stops training.
class TerminateOnNaN : public Callback {
 public:
  void on_epoch_begin(std::size_t epoch, Logs& /*logs*/) override { epoch_ = epoch; }
  void on_batch_end(std::size_t batch, Logs& logs) override;

 private:
  std::size_t epoch_ = 0;
};

// ----------------------------------------------------------- LambdaCallback

// Keras' LambdaCallback: a callback made of functions, one per hook, each
// taking that hook's arguments ((logs), (epoch, logs) or (batch, logs)); a
// hook given no function does nothing. As in Keras, on_batch_begin / _end
// run for training batches unless on_train_batch_begin / _end are given.
// What Keras' lambdas reach through the model a function here reaches
// through the Trainer it captures (stop_training, the learning rate).
//
//   auto log = std::make_shared<nn::LambdaCallback>(nn::LambdaCallbackOptions().on_epoch_end(
//       [](std::size_t epoch, nn::Logs& logs) { std::cout << epoch << " " << logs.at("loss") << "\n"; }));
struct LambdaCallbackOptions {
  using LogsFunction = std::function<void(Logs&)>;
  using IndexFunction = std::function<void(std::size_t, Logs&)>;

  XGRAD_ARG(LogsFunction, on_train_begin);
  XGRAD_ARG(LogsFunction, on_train_end);
  XGRAD_ARG(IndexFunction, on_epoch_begin);
  XGRAD_ARG(IndexFunction, on_epoch_end);
  XGRAD_ARG(IndexFunction, on_train_batch_begin);
  XGRAD_ARG(IndexFunction, on_train_batch_end);
  XGRAD_ARG(IndexFunction, on_batch_begin);
  XGRAD_ARG(IndexFunction, on_batch_end);
  XGRAD_ARG(LogsFunction, on_test_begin);
  XGRAD_ARG(LogsFunction, on_test_end);
  XGRAD_ARG(IndexFunction, on_test_batch_begin);
  XGRAD_ARG(IndexFunction, on_test_batch_end);
  // xgrad's (Keras has no replicas): with data-parallel replicas, run the
  // functions on replica 0 alone, for functions that only write output.
  XGRAD_ARG(bool, root_only) = false;
};

class LambdaCallback : public Callback {
 public:
  explicit LambdaCallback(LambdaCallbackOptions options) : options_(std::move(options)) {}
  bool root_only() const override { return options_.root_only(); }

  void on_train_begin(Logs& logs) override { call(options_.on_train_begin(), logs); }
  void on_train_end(Logs& logs) override { call(options_.on_train_end(), logs); }
  void on_epoch_begin(std::size_t epoch, Logs& logs) override { call(options_.on_epoch_begin(), epoch, logs); }
  void on_epoch_end(std::size_t epoch, Logs& logs) override { call(options_.on_epoch_end(), epoch, logs); }
  void on_train_batch_begin(std::size_t batch, Logs& logs) override;
  void on_train_batch_end(std::size_t batch, Logs& logs) override;
  void on_batch_begin(std::size_t batch, Logs& logs) override { call(options_.on_batch_begin(), batch, logs); }
  void on_batch_end(std::size_t batch, Logs& logs) override { call(options_.on_batch_end(), batch, logs); }
  void on_test_begin(Logs& logs) override { call(options_.on_test_begin(), logs); }
  void on_test_end(Logs& logs) override { call(options_.on_test_end(), logs); }
  void on_test_batch_begin(std::size_t batch, Logs& logs) override {
    call(options_.on_test_batch_begin(), batch, logs);
  }
  void on_test_batch_end(std::size_t batch, Logs& logs) override { call(options_.on_test_batch_end(), batch, logs); }

  const LambdaCallbackOptions& options() const { return options_; }

 private:
  // The function, when there is one.
  template <typename Function, typename... Args>
  static void call(const Function& function, Args&&... args) {
    if (function) function(std::forward<Args>(args)...);
  }

  LambdaCallbackOptions options_;
};

// --------------------------------------------------------- BackupAndRestore

struct BackupAndRestoreOptions {
  explicit BackupAndRestoreOptions(std::string backup_dir) : backup_dir_(std::move(backup_dir)) {}

  XGRAD_ARG(std::string, backup_dir);          // required, not empty
  XGRAD_ARG(bool, delete_checkpoint) = true;   // Keras: True

 public:
  // Keras' save_freq: "epoch" (the default: at each epoch end), or a number
  // of batches N > 0 (every N training batches, counted across epochs).
  // Throws std::invalid_argument for another string or 0.
  BackupAndRestoreOptions& save_freq(const std::string& epoch);
  BackupAndRestoreOptions& save_freq(std::size_t batches);
  // 0 for "epoch".
  std::size_t save_freq_batches() const { return save_freq_batches_; }

 private:
  std::size_t save_freq_batches_ = 0;
};

// Keras' BackupAndRestore: backs the whole training state up into
// <backup_dir>/training_state.npz (TrainingContext::save_training_state: the
// weights, the optimizer's moments and step count, the epoch and batch
// reached, the random generators; written atomically, each backup replacing
// the last) at each epoch end or every save_freq batches. When fit starts
// (on_train_begin) and the backup exists, it is restored and fit continues
// from there, in the middle of an epoch too; without one, fit starts afresh.
// A run killed and run again with the same program ends with the same
// weights, byte for byte, as one never interrupted. When fit ends normally
// and delete_checkpoint is true, the backup (and any temporaries of its
// interrupted writes) is removed, then backup_dir if that leaves it empty;
// Keras removes the whole directory. Keep the callback early in the list:
// a later callback's on_epoch_end changes (ReduceLROnPlateau's rate) are not
// in that epoch's backup. A backup that does not fit the model throws
// xgrad::IoError from fit.
class BackupAndRestore : public Callback {
 public:
  explicit BackupAndRestore(BackupAndRestoreOptions options);
  void on_train_begin(Logs& logs) override;
  void on_train_batch_end(std::size_t batch, Logs& logs) override;
  void on_epoch_end(std::size_t epoch, Logs& logs) override;
  void on_train_end(Logs& logs) override;

  const BackupAndRestoreOptions& options() const { return options_; }
  // <backup_dir>/training_state.npz.
  std::string backup_path() const;
  // Where the last fit resumed from; nullopt when it started afresh.
  const std::optional<TrainingProgress>& restored() const { return restored_; }

 private:
  void save();

  BackupAndRestoreOptions options_;
  std::size_t batches_since_save_ = 0;
  std::optional<TrainingProgress> restored_;
};

// ---------------------------------------------------------------- CSVLogger

struct CSVLoggerOptions {
  explicit CSVLoggerOptions(std::string filename) : filename_(std::move(filename)) {}

  XGRAD_ARG(std::string, filename);      // required
  XGRAD_ARG(char, separator) = ',';      // Keras: ","
  XGRAD_ARG(bool, append) = false;       // Keras: False
};

// Keras' CSVLogger: one row per epoch, "epoch" (from 0, as Keras writes it)
// then the epoch's logs in alphabetical order of name (Keras sorts the keys
// of the first epoch), "NA" for a figure an epoch lacks; figures in their
// shortest exact form (format_shortest). The file is opened at
// on_train_begin (truncated, or with append extended, the header written
// only when the file was empty), each row flushed at once, and closed at
// on_train_end. Lines end in "\n" (Python's csv module writes "\r\n").
// Throws xgrad::IoError naming the file when it cannot be written.
class CSVLogger : public Callback {
 public:
  explicit CSVLogger(CSVLoggerOptions options);
  bool root_only() const override { return true; }
  void on_train_begin(Logs& logs) override;
  void on_epoch_end(std::size_t epoch, Logs& logs) override;
  void on_train_end(Logs& logs) override;

  const CSVLoggerOptions& options() const { return options_; }

 private:
  CSVLoggerOptions options_;
  std::ofstream file_;
  bool write_header_ = true;
  std::vector<std::string> keys_;
};

// ------------------------------------------------------------ ProgbarLogger

// Keras' ProgbarLogger, the progress display fit() and evaluate() add for
// verbose 1 or 2: "Epoch e/E" before each epoch (when E > 1), then the
// ProgressBar of the epoch's batches (verbose 1: redrawn in place on a
// terminal; verbose 2: only the final line), finished with the epoch's logs.
// In evaluate(), a bar over the test batches.
class ProgbarLogger : public Callback {
 public:
  explicit ProgbarLogger(std::ostream& out = std::cerr) : out_(out) {}
  bool root_only() const override { return true; }

  void on_train_begin(Logs& logs) override;
  void on_epoch_begin(std::size_t epoch, Logs& logs) override;
  void on_train_batch_end(std::size_t batch, Logs& logs) override;
  void on_epoch_end(std::size_t epoch, Logs& logs) override;
  void on_train_end(Logs& logs) override;
  void on_test_begin(Logs& logs) override;
  void on_test_batch_end(std::size_t batch, Logs& logs) override;
  void on_test_end(Logs& logs) override;

 private:
  void start_bar();
  void update_bar(std::size_t batch, const Logs& logs);
  void finish_bar(const Logs& logs);

  std::ostream& out_;
  std::unique_ptr<ProgressBar> bar_;
  bool in_fit_ = false;
};

}  // namespace xgrad::nn
