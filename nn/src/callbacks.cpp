#include "xgrad/nn/callbacks.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <stdexcept>

#include "xgrad/nn/history.hpp"
#include "xgrad/tensor/file_io.hpp"

namespace xgrad::nn {

namespace {

constexpr double infinity = std::numeric_limits<double>::infinity();

// Throws std::invalid_argument unless mode is "auto", "min" or "max".
void check_mode(const char* callback, const std::string& mode) {
  if (mode != "auto" && mode != "min" && mode != "max") {
    throw std::invalid_argument(std::string(callback) + ": mode must be \"auto\", \"min\" or \"max\", got \"" +
                                mode + "\"");
  }
}

// ModelCheckpoint's and ReduceLROnPlateau's "auto" rule (Keras'): maximise
// a monitor whose name contains "acc".
bool maximises(const std::string& mode, const std::string& monitor) {
  return mode == "max" || (mode == "auto" && monitor.find("acc") != std::string::npos);
}

// "%.5f", as Keras' messages write the figures they compare.
std::string fixed5(double value) {
  char text[64];
  std::snprintf(text, sizeof text, "%.5f", value);
  return text;
}

// One "{name}" or "{name:spec}" of a ModelCheckpoint filepath: `value`
// formatted by the spec [0][width][.precision][d|f|e|g], as Python's format.
std::string format_field(const std::string& field, double value, bool integer) {
  const auto colon = field.find(':');
  if (colon == std::string::npos)
    return integer ? std::to_string(static_cast<long long>(value)) : format_shortest(value);
  const std::string spec = field.substr(colon + 1);
  std::size_t i = 0;
  std::string flags;
  if (i < spec.size() && spec[i] == '0') flags = "0", ++i;
  const std::size_t width_start = i;
  while (i < spec.size() && std::isdigit(static_cast<unsigned char>(spec[i]))) ++i;
  std::string width = spec.substr(width_start, i - width_start), precision;
  if (i < spec.size() && spec[i] == '.') {
    const std::size_t start = ++i;
    while (i < spec.size() && std::isdigit(static_cast<unsigned char>(spec[i]))) ++i;
    precision = "." + spec.substr(start, i - start);
  }
  char type = i < spec.size() ? spec[i++] : (integer ? 'd' : 'g');
  if (i != spec.size() || std::string("dfeg").find(type) == std::string::npos) {
    throw std::invalid_argument("ModelCheckpoint: filepath field {" + field +
                                "}: unsupported format spec (use [0][width][.precision][d|f|e|g])");
  }
  char text[128];
  if (type == 'd') {
    std::snprintf(text, sizeof text, ("%" + flags + width + "lld").c_str(),
                  static_cast<long long>(std::llround(value)));
  } else {
    std::snprintf(text, sizeof text, ("%" + flags + width + precision + type).c_str(), value);
  }
  return text;
}

}  // namespace

// ---- Logs ----

Logs::Logs(std::initializer_list<Entry> entries) {
  for (const auto& [name, value] : entries) set(name, value);
}

void Logs::set(const std::string& name, double value) {
  for (auto& entry : entries_) {
    if (entry.first == name) {
      entry.second = value;
      return;
    }
  }
  entries_.emplace_back(name, value);
}

std::optional<double> Logs::get(const std::string& name) const {
  for (const auto& entry : entries_)
    if (entry.first == name) return entry.second;
  return std::nullopt;
}

double Logs::at(const std::string& name) const {
  if (const auto value = get(name)) return *value;
  throw std::out_of_range("Logs: no figure '" + name + "' (there are: " + names() + ")");
}

std::string Logs::names() const {
  std::string out;
  for (const auto& entry : entries_) out += (out.empty() ? "" : ", ") + entry.first;
  return out;
}

// ---- Callback ----

TrainingContext& Callback::trainer() const {
  if (!context_) throw std::logic_error("Callback: not run by a trainer (no set_context yet)");
  return *context_;
}

// ---- EarlyStopping ----

EarlyStopping::EarlyStopping(EarlyStoppingOptions options) : options_(std::move(options)) {
  check_mode("EarlyStopping", options_.mode());
}

void EarlyStopping::on_train_begin(Logs&) {
  sign_ = 0;
  wait_ = stopped_epoch_ = best_epoch_ = 0;
  best_weights_.reset();
}

bool EarlyStopping::improves(double current, double reference) const {
  const double delta = std::fabs(options_.min_delta());
  return sign_ < 0 ? current + delta < reference : current - delta > reference;
}

void EarlyStopping::on_epoch_end(std::size_t epoch, Logs& logs) {
  const std::string& monitor = options_.monitor();
  if (sign_ == 0) {  // Keras' _set_monitor_op, once the metrics are known
    if (options_.mode() != "auto") {
      sign_ = options_.mode() == "min" ? -1 : 1;
    } else {
      const std::string name = monitor.rfind("val_", 0) == 0 ? monitor.substr(4) : monitor;
      if (name == "loss") sign_ = -1;
      if (const auto direction = trainer().metric_direction(name))
        sign_ = *direction == MetricDirection::up ? 1 : -1;
      if (sign_ == 0) {
        throw std::invalid_argument("EarlyStopping: cannot tell whether monitor '" + monitor +
                                    "' should be minimised or maximised; give mode \"min\" or "
                                    "\"max\"");
      }
    }
    best_ = sign_ < 0 ? infinity : -infinity;
  }
  const auto current = logs.get(monitor);
  if (!current) {
    std::cerr << "EarlyStopping: monitor '" << monitor << "' is not in the logs (they hold: "
              << logs.names() << ")\n";
    return;
  }
  if (epoch < options_.start_from_epoch()) return;
  if (options_.restore_best_weights() && !best_weights_) {
    best_weights_ = trainer().get_weights();  // the first watched epoch's, until one improves
    best_epoch_ = epoch;
  }
  ++wait_;
  if (improves(*current, best_)) {
    best_ = *current;
    best_epoch_ = epoch;
    if (options_.restore_best_weights()) best_weights_ = trainer().get_weights();
    if (!options_.baseline() || improves(*current, *options_.baseline())) wait_ = 0;
    return;
  }
  if (wait_ >= options_.patience() && epoch > 0) {
    stopped_epoch_ = epoch;
    trainer().stop_training = true;
  }
}

void EarlyStopping::on_train_end(Logs&) {
  if (stopped_epoch_ > 0 && options_.verbose() > 0)
    std::cerr << "Epoch " << stopped_epoch_ + 1 << ": early stopping\n";
  if (options_.restore_best_weights() && best_weights_) {
    if (options_.verbose() > 0)
      std::cerr << "Restoring model weights from the end of the best epoch: " << best_epoch_ + 1
                << ".\n";
    trainer().set_weights(*best_weights_);
  }
}

// ---- ModelCheckpoint ----

ModelCheckpoint::ModelCheckpoint(ModelCheckpointOptions options)
    : options_(std::move(options)), maximise_(maximises(options_.mode(), options_.monitor())) {
  check_mode("ModelCheckpoint", options_.mode());
  if (options_.filepath().empty()) throw std::invalid_argument("ModelCheckpoint: filepath is empty");
  best_ = options_.initial_value_threshold().value_or(maximise_ ? -infinity : infinity);
}

std::string ModelCheckpoint::file_path(std::size_t epoch, const Logs& logs) const {
  const std::string& pattern = options_.filepath();
  std::string out;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '{') {
      out += pattern[i];
      continue;
    }
    const auto close = pattern.find('}', i);
    if (close == std::string::npos)
      throw std::invalid_argument("ModelCheckpoint: filepath '" + pattern + "' has a '{' without '}'");
    const std::string field = pattern.substr(i + 1, close - i - 1);
    const std::string key = field.substr(0, field.find(':'));
    if (key == "epoch") {
      out += format_field(field, static_cast<double>(epoch + 1), true);
    } else if (const auto value = logs.get(key)) {
      out += format_field(field, *value, false);
    } else {
      throw std::invalid_argument("ModelCheckpoint: filepath '" + pattern + "' names '" + key +
                                  "', which is not in the logs (they hold: epoch, " + logs.names() +
                                  ")");
    }
    i = close;
  }
  return out;
}

void ModelCheckpoint::on_epoch_end(std::size_t epoch, Logs& logs) {
  const std::string path = file_path(epoch, logs);
  const bool verbose = options_.verbose() > 0;
  const std::string& monitor = options_.monitor();
  if (options_.save_best_only()) {
    const auto current = logs.get(monitor);
    if (!current) {
      std::cerr << "ModelCheckpoint: can save best model only with " << monitor
                << " available, skipping (the logs hold: " << logs.names() << ")\n";
      return;
    }
    if (!(maximise_ ? *current > best_ : *current < best_)) {
      if (verbose)
        std::cerr << "Epoch " << epoch + 1 << ": " << monitor << " did not improve from "
                  << fixed5(best_) << "\n";
      return;
    }
    if (verbose)
      std::cerr << "Epoch " << epoch + 1 << ": " << monitor << " improved from " << fixed5(best_)
                << " to " << fixed5(*current) << ", saving model to " << path << "\n";
    best_ = *current;
  } else if (verbose) {
    std::cerr << "Epoch " << epoch + 1 << ": saving model to " << path << "\n";
  }
  const auto directory = std::filesystem::path(path).parent_path();
  if (!directory.empty()) std::filesystem::create_directories(directory);
  trainer().save_weights(path);
}

// ---- ReduceLROnPlateau ----

ReduceLROnPlateau::ReduceLROnPlateau(ReduceLROnPlateauOptions options)
    : options_(std::move(options)), maximise_(maximises(options_.mode(), options_.monitor())) {
  check_mode("ReduceLROnPlateau", options_.mode());
  if (!(options_.factor() >= 0.0 && options_.factor() < 1.0)) {
    throw std::invalid_argument("ReduceLROnPlateau: factor must be in [0, 1), got " +
                                format_shortest(options_.factor()));
  }
  if (!(options_.min_lr() >= 0.0)) {
    throw std::invalid_argument("ReduceLROnPlateau: min_lr must be >= 0, got " +
                                format_shortest(options_.min_lr()));
  }
}

void ReduceLROnPlateau::on_train_begin(Logs&) {
  best_ = maximise_ ? -infinity : infinity;
  wait_ = cooldown_counter_ = 0;
}

void ReduceLROnPlateau::on_epoch_end(std::size_t epoch, Logs& logs) {
  logs.set("learning_rate", trainer().learning_rate());
  const auto current = logs.get(options_.monitor());
  if (!current) {
    std::cerr << "ReduceLROnPlateau: monitor '" << options_.monitor()
              << "' is not in the logs (they hold: " << logs.names() << ")\n";
    return;
  }
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    wait_ = 0;
  }
  const double delta = options_.min_delta();
  if (maximise_ ? *current > best_ + delta : *current < best_ - delta) {
    best_ = *current;
    wait_ = 0;
  } else if (cooldown_counter_ == 0 && ++wait_ >= options_.patience()) {
    const double old_lr = trainer().learning_rate();
    if (old_lr > options_.min_lr()) {
      const double new_lr = std::max(old_lr * options_.factor(), options_.min_lr());
      trainer().set_learning_rate(new_lr);
      if (options_.verbose() > 0)
        std::cerr << "Epoch " << epoch + 1 << ": ReduceLROnPlateau reducing learning rate to "
                  << format_shortest(new_lr) << ".\n";
      cooldown_counter_ = options_.cooldown();
      wait_ = 0;
    }
  }
}

// ---- LearningRateScheduler ----

LearningRateScheduler::LearningRateScheduler(Schedule schedule, int verbose)
    : schedule_(std::move(schedule)), verbose_(verbose) {
  if (!schedule_) throw std::invalid_argument("LearningRateScheduler: the schedule is empty");
}

void LearningRateScheduler::on_epoch_begin(std::size_t epoch, Logs&) {
  const double learning_rate = schedule_(epoch, trainer().learning_rate());
  if (!(std::isfinite(learning_rate) && learning_rate >= 0.0)) {
    throw std::invalid_argument("LearningRateScheduler: the schedule gave " +
                                format_shortest(learning_rate) + " for epoch " +
                                std::to_string(epoch) + "; a rate must be finite and >= 0");
  }
  trainer().set_learning_rate(learning_rate);
  if (verbose_ > 0)
    std::cerr << "Epoch " << epoch + 1 << ": LearningRateScheduler setting learning rate to "
              << format_shortest(learning_rate) << ".\n";
}

void LearningRateScheduler::on_epoch_end(std::size_t, Logs& logs) {
  logs.set("learning_rate", trainer().learning_rate());
}

// ---- TerminateOnNaN ----

void TerminateOnNaN::on_batch_end(std::size_t batch, Logs& logs) {
  const auto loss = logs.get("loss");
  if (loss && !std::isfinite(*loss)) {
    std::cerr << "Epoch " << epoch_ + 1 << ", batch " << batch << ": invalid loss ("
              << format_shortest(*loss) << "), terminating training\n";
    trainer().stop_training = true;
  }
}

// ---- LambdaCallback ----

void LambdaCallback::on_train_batch_begin(std::size_t batch, Logs& logs) {
  if (options_.on_train_batch_begin()) options_.on_train_batch_begin()(batch, logs);
  else Callback::on_train_batch_begin(batch, logs);  // on_batch_begin's function
}

void LambdaCallback::on_train_batch_end(std::size_t batch, Logs& logs) {
  if (options_.on_train_batch_end()) options_.on_train_batch_end()(batch, logs);
  else Callback::on_train_batch_end(batch, logs);  // on_batch_end's function
}

// ---- BackupAndRestore ----

BackupAndRestoreOptions& BackupAndRestoreOptions::save_freq(const std::string& epoch) {
  if (epoch != "epoch") {
    throw std::invalid_argument("BackupAndRestore: save_freq must be \"epoch\" or a number of "
                                "batches, got \"" + epoch + "\"");
  }
  save_freq_batches_ = 0;
  return *this;
}

BackupAndRestoreOptions& BackupAndRestoreOptions::save_freq(std::size_t batches) {
  if (batches == 0) throw std::invalid_argument("BackupAndRestore: save_freq must be positive, got 0");
  save_freq_batches_ = batches;
  return *this;
}

BackupAndRestore::BackupAndRestore(BackupAndRestoreOptions options) : options_(std::move(options)) {
  if (options_.backup_dir().empty()) throw std::invalid_argument("BackupAndRestore: backup_dir is empty");
}

std::string BackupAndRestore::backup_path() const {
  return (std::filesystem::path(options_.backup_dir()) / "training_state.npz").string();
}

void BackupAndRestore::on_train_begin(Logs&) {
  batches_since_save_ = 0;
  restored_.reset();
  if (std::filesystem::exists(backup_path())) restored_ = trainer().load_training_state(backup_path());
}

void BackupAndRestore::save() {
  std::filesystem::create_directories(options_.backup_dir());
  trainer().save_training_state(backup_path());
}

void BackupAndRestore::on_train_batch_end(std::size_t, Logs&) {
  if (options_.save_freq_batches() == 0) return;
  if (++batches_since_save_ >= options_.save_freq_batches()) {
    batches_since_save_ = 0;
    save();
  }
}

void BackupAndRestore::on_epoch_end(std::size_t, Logs&) {
  if (options_.save_freq_batches() == 0) save();
}

void BackupAndRestore::on_train_end(Logs&) {
  if (!options_.delete_checkpoint()) return;
  const std::filesystem::path directory(options_.backup_dir());
  const std::string backup = std::filesystem::path(backup_path()).filename().string();
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(directory, error)) {
    // The backup, and the sibling temporaries (backup + ".tmp...") that
    // write_file_atomically leaves when a writer is killed mid-save.
    const std::string name = entry.path().filename().string();
    if (name == backup || name.rfind(backup + ".tmp", 0) == 0) std::filesystem::remove(entry.path(), error);
  }
  if (std::filesystem::is_empty(directory, error)) std::filesystem::remove(directory, error);
}

// ---- CSVLogger ----

CSVLogger::CSVLogger(CSVLoggerOptions options) : options_(std::move(options)) {
  if (options_.filename().empty()) throw std::invalid_argument("CSVLogger: filename is empty");
}

void CSVLogger::on_train_begin(Logs&) {
  const std::string& filename = options_.filename();
  write_header_ = true;
  if (options_.append()) {
    std::error_code error;
    const auto size = std::filesystem::file_size(filename, error);
    write_header_ = error || size == 0;  // Keras: a header only into an empty file
  }
  keys_.clear();
  file_.close();
  file_.clear();
  file_.open(filename, options_.append() ? std::ios::app : std::ios::trunc);
  if (!file_) {
    throw IoError("CSVLogger: " + filename + ": cannot open for writing: " + std::strerror(errno));
  }
}

void CSVLogger::on_epoch_end(std::size_t epoch, Logs& logs) {
  const char separator = options_.separator();
  if (keys_.empty()) {
    for (const auto& entry : logs) keys_.push_back(entry.first);
    std::sort(keys_.begin(), keys_.end());
  }
  if (write_header_) {
    file_ << "epoch";
    for (const auto& key : keys_) file_ << separator << key;
    file_ << "\n";
    write_header_ = false;
  }
  file_ << epoch;
  for (const auto& key : keys_) {
    const auto value = logs.get(key);
    file_ << separator << (value ? format_shortest(*value) : std::string("NA"));
  }
  file_ << "\n";
  file_.flush();
  if (!file_) throw IoError("CSVLogger: " + options_.filename() + ": write failed");
}

void CSVLogger::on_train_end(Logs&) { file_.close(); }

// ---- ProgbarLogger ----

void ProgbarLogger::start_bar() {
  const std::size_t steps = std::max<std::size_t>(params().steps, 1);
  bar_ = params().verbose == 1 ? std::make_unique<ProgressBar>(steps, out_)
                               : std::make_unique<ProgressBar>(steps, out_, false);
}

void ProgbarLogger::update_bar(std::size_t batch, const Logs& logs) {
  if (!bar_) return;
  const std::size_t samples = std::min((batch + 1) * params().batch_size, params().samples);
  bar_->update(batch + 1, samples, logs.get("loss").value_or(std::nan("")));
}

void ProgbarLogger::finish_bar(const Logs& logs) {
  if (!bar_) return;
  ProgressBar::Metrics others;
  for (const auto& entry : logs)
    if (entry.first != "loss") others.push_back(entry);
  bar_->finish(logs.get("loss").value_or(std::nan("")), others);
  bar_.reset();
}

void ProgbarLogger::on_train_begin(Logs&) { in_fit_ = true; }

void ProgbarLogger::on_epoch_begin(std::size_t epoch, Logs&) {
  if (params().verbose <= 0) return;
  if (params().epochs > 1) out_ << "Epoch " << epoch + 1 << "/" << params().epochs << "\n";
  start_bar();
}

void ProgbarLogger::on_train_batch_end(std::size_t batch, Logs& logs) { update_bar(batch, logs); }

void ProgbarLogger::on_epoch_end(std::size_t, Logs& logs) { finish_bar(logs); }

void ProgbarLogger::on_train_end(Logs&) { in_fit_ = false; }

void ProgbarLogger::on_test_begin(Logs&) {
  if (!in_fit_ && params().verbose > 0) start_bar();
}

void ProgbarLogger::on_test_batch_end(std::size_t batch, Logs& logs) {
  if (!in_fit_) update_bar(batch, logs);
}

void ProgbarLogger::on_test_end(Logs& logs) {
  if (!in_fit_) finish_bar(logs);
}

}  // namespace xgrad::nn
