#pragma once
// ProgressBar: the one-line progress display of Keras' fit(), for one epoch.
//
//   nn::ProgressBar bar(loader.num_batches());        // draws on std::cerr
//   std::size_t batches = 0, samples = 0;
//   for (auto& batch : loader.epoch()) {
//     ...                                             // one training step
//     samples += batch.indices.size();
//     bar.update(++batches, samples, running_mean_loss);
//   }
//   bar.finish(running_mean_loss, {{"val_loss", val_loss}});
//
// On a terminal each update() redraws the line in place with '\r':
//
//   12/40 [========>.....................] - loss: 0.1234 - 5321 samples/s - elapsed 1.2s - ETA 2.8s
//
// and finish() replaces it with the epoch's figures and ends the line:
//
//   40/40 [==============================] - loss: 0.1234 - val_loss: 0.0456 - 5321 samples/s - elapsed 3.9s
//
// When the stream is not a terminal (a log file, a pipe, a string stream),
// update() writes nothing and finish() writes only that final line, so logs
// hold one line per epoch. Numbers are written as Keras writes them: %.4f, or
// %.4e below 1e-3 in magnitude.

#include <chrono>
#include <cstddef>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

namespace xgrad::nn {

class ProgressBar {
 public:
  // Extra figures for the final line, in the order given: {{"val_loss", 0.05}}.
  using Metrics = std::vector<std::pair<std::string, double>>;

  // One bar for one epoch of `total_batches` (> 0; throws
  // std::invalid_argument otherwise). The clock starts here. Whether `out` is
  // a terminal is found for std::cout, std::cerr and std::clog (isatty of
  // their file descriptor); any other stream counts as not a terminal.
  explicit ProgressBar(std::size_t total_batches, std::ostream& out = std::cerr);
  // The same with the terminal mode given, for tests and for forcing either
  // behaviour.
  ProgressBar(std::size_t total_batches, std::ostream& out, bool interactive);

  // `batches_done` batches (1 .. total) holding `samples_done` samples in all
  // are finished; `loss` is the figure to show (Keras shows the mean over the
  // epoch's batches so far). On a terminal it redraws the line, at most every
  // 50 ms (and always for the last batch) so that fast batches do not spend
  // their time on the terminal, and cuts the line to the terminal's width so
  // that it never wraps (a wrapped line cannot be redrawn in place).
  void update(std::size_t batches_done, std::size_t samples_done, double loss);

  // Ends the epoch: writes the final line with `loss` and the extra metrics,
  // using the batch and sample counts of the last update(), and returns that
  // line (without '\r' or '\n'). Later calls of update() or finish() are
  // ignored (finish() then returns the same line again).
  std::string finish(double loss, const Metrics& metrics = {});

  bool interactive() const { return interactive_; }
  std::size_t total_batches() const { return total_; }

 private:
  double elapsed_seconds() const;
  void draw(const std::string& line, bool final_line);

  std::size_t total_;
  std::ostream& out_;
  bool interactive_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  bool drawn_ = false;
  bool finished_ = false;
  std::size_t batches_done_ = 0;
  std::size_t samples_done_ = 0;
  std::size_t columns_;          // the terminal's width; 0 when unknown
  std::size_t drawn_width_ = 0;  // length of the line on screen, to blank a longer old one
  std::string final_line_;
};

// The text of one bar line, without '\r' or '\n': "12/40 [====>...] -
// loss: ... - N samples/s - elapsed Xs", then " - ETA Ys" when eta_seconds
// >= 0, then the extra metrics right after the loss. A pure function, so the
// format can be checked without a clock.
std::string progress_line(std::size_t batches_done, std::size_t total_batches, double loss,
                          const ProgressBar::Metrics& metrics, double samples_per_second,
                          double elapsed_seconds, double eta_seconds);

// A figure as Keras' progress bar writes it: %.4f, or %.4e when its magnitude
// is below 1e-3 (and not 0).
std::string format_metric(double value);

}  // namespace xgrad::nn
