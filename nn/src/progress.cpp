#include "xgrad/nn/progress.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace xgrad::nn {

namespace {

constexpr std::size_t bar_width = 30;  // Keras' Progbar width
constexpr double redraw_interval = 0.05;  // seconds; Keras' Progbar interval

// The file descriptor behind a standard stream; -1 for any other stream.
int descriptor(const std::ostream& out) {
  if (&out == &std::cout) return STDOUT_FILENO;
  if (&out == &std::cerr || &out == &std::clog) return STDERR_FILENO;
  return -1;
}

bool is_terminal(const std::ostream& out) {
  const int fd = descriptor(out);
  return fd >= 0 && ::isatty(fd) == 1;
}

// The terminal's width, or 0 when unknown.
std::size_t terminal_columns(const std::ostream& out) {
  const int fd = descriptor(out);
  winsize size{};
  if (fd < 0 || ::ioctl(fd, TIOCGWINSZ, &size) != 0) return 0;
  return size.ws_col;
}

std::string format_fixed(const char* format, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, format, value);
  return buffer;
}

}  // namespace

std::string format_metric(double value) {
  const double magnitude = std::fabs(value);
  return format_fixed(magnitude < 1e-3 && magnitude > 0 ? "%.4e" : "%.4f", value);
}

std::string progress_line(std::size_t batches_done, std::size_t total_batches, double loss,
                          const ProgressBar::Metrics& metrics, double samples_per_second,
                          double elapsed_seconds, double eta_seconds) {
  const std::string total = std::to_string(total_batches);
  std::string done = std::to_string(batches_done);
  // Right-aligned count, so the bar does not move as the count grows.
  if (done.size() < total.size()) done.insert(0, total.size() - done.size(), ' ');

  // Keras' drawing: '=' for the finished part, '>' at its head while running.
  const std::size_t filled =
      total_batches == 0 ? 0 : std::min(bar_width, bar_width * batches_done / total_batches);
  std::string bar = "[";
  if (filled > 0) {
    bar.append(filled - 1, '=');
    bar += batches_done < total_batches ? '>' : '=';
  }
  bar.append(bar_width - filled, '.');
  bar += ']';

  std::string line = done + "/" + total + " " + bar + " - loss: " + format_metric(loss);
  for (const auto& [name, value] : metrics) line += " - " + name + ": " + format_metric(value);
  line += " - " + format_fixed("%.0f", samples_per_second) + " samples/s";
  line += " - elapsed " + format_fixed("%.1f", elapsed_seconds) + "s";
  if (eta_seconds >= 0) line += " - ETA " + format_fixed("%.1f", eta_seconds) + "s";
  return line;
}

ProgressBar::ProgressBar(std::size_t total_batches, std::ostream& out)
    : ProgressBar(total_batches, out, is_terminal(out)) {}

ProgressBar::ProgressBar(std::size_t total_batches, std::ostream& out, bool interactive)
    : total_(total_batches),
      out_(out),
      interactive_(interactive),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_),
      columns_(interactive ? terminal_columns(out) : 0) {
  if (total_batches == 0) throw std::invalid_argument("ProgressBar: total_batches must be > 0");
}

double ProgressBar::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void ProgressBar::update(std::size_t batches_done, std::size_t samples_done, double loss) {
  if (finished_) return;
  batches_done_ = batches_done;
  samples_done_ = samples_done;
  if (!interactive_) return;
  const auto now = std::chrono::steady_clock::now();
  const bool due = !drawn_ || batches_done >= total_ ||
                   std::chrono::duration<double>(now - last_draw_).count() >= redraw_interval;
  if (!due) return;
  last_draw_ = now;
  const double elapsed = elapsed_seconds();
  const double rate = elapsed > 0 ? static_cast<double>(samples_done) / elapsed : 0.0;
  // ETA from the mean time per batch so far, as Keras estimates it.
  const double eta = batches_done > 0 && batches_done < total_
                         ? elapsed / static_cast<double>(batches_done) *
                               static_cast<double>(total_ - batches_done)
                         : 0.0;
  draw(progress_line(batches_done, total_, loss, {}, rate, elapsed, eta), false);
}

std::string ProgressBar::finish(double loss, const Metrics& metrics) {
  if (finished_) return final_line_;
  finished_ = true;
  const double elapsed = elapsed_seconds();
  const double rate = elapsed > 0 ? static_cast<double>(samples_done_) / elapsed : 0.0;
  final_line_ = progress_line(batches_done_, total_, loss, metrics, rate, elapsed, -1.0);
  draw(final_line_, true);
  return final_line_;
}

void ProgressBar::draw(const std::string& line, bool final_line) {
  std::string text;
  if (interactive_) {
    // A running line that wraps could not be redrawn with '\r': cut it to
    // the terminal's width. The final line ends with '\n' and may wrap.
    const bool cut = !final_line && columns_ > 1 && line.size() >= columns_;
    const std::string shown = cut ? line.substr(0, columns_ - 1) : line;
    text = "\r" + shown;
    // Blank what is left of a longer earlier line.
    if (shown.size() < drawn_width_) text.append(drawn_width_ - shown.size(), ' ');
    drawn_width_ = shown.size();
  } else {
    text = line;
  }
  if (final_line) text += '\n';
  out_ << text << std::flush;
  drawn_ = true;
}

}  // namespace xgrad::nn
