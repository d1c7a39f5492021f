#pragma once
// History: the per-epoch figures of a training run, as Keras' History
// callback keeps them (history.history["loss"], ["val_loss"]), and two ways
// to keep them: a CSV file (Keras' CSVLogger) and a small SVG line plot.
//
//   nn::History history;
//   for (std::size_t epoch = 1; epoch <= epochs; ++epoch) {
//     ...
//     history.add(epoch, {{"loss", train_loss}, {"val_loss", val_loss}});
//   }
//   history.write_csv("loss.csv");  // epoch,loss,val_loss
//   history.write_svg("loss.svg", nn::SvgPlotOptions().title("sine").log_y(true));
//
// Both files are written atomically: a temporary file in the same directory,
// renamed over `path` once complete, so a reader (or a crash) never sees half
// a file. A file that cannot be written throws xgrad::IoError naming it.

#include <cstddef>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "xgrad/nn/options.hpp"
#include "xgrad/tensor/file_io.hpp"  // xgrad::IoError, thrown by the writers

namespace xgrad::nn {

struct SvgPlotOptions {
  XGRAD_ARG(std::string, title) = "";           // drawn above the plot when not empty
  XGRAD_ARG(bool, log_y) = false;               // log10 y axis; points <= 0 are left out
  XGRAD_ARG(std::size_t, width) = 640;          // pixels, >= 200
  XGRAD_ARG(std::size_t, height) = 400;         // pixels, >= 150
  XGRAD_ARG(std::string, x_label) = "epoch";
  XGRAD_ARG(std::string, y_label) = "";         // e.g. "MSE"; none when empty
};

// A double in the shortest form that reads back to the same double
// ("0.1", "1e-07"); nan, inf and -inf as NumPy and pandas read them. The
// CSV files of History and CSVLogger write their figures so.
std::string format_shortest(double value);

class History {
 public:
  // Records the figures of one epoch. Epochs must increase from one call to
  // the next (throws std::invalid_argument naming both otherwise); they are
  // kept as given (Keras prints them from 1, its CSVLogger writes them from
  // 0). Metric names must be non-empty and contain no ',', '"' or newline.
  // A metric may be missing from some epochs; it is NaN there. Non-finite
  // values are kept (a diverged loss); the CSV writes them nan, inf, -inf.
  void add(std::size_t epoch, const std::vector<std::pair<std::string, double>>& metrics);
  // The same from a std::map: the metrics in the map's order. (A template
  // only so that a braced list, {{"loss", l}, ...}, goes to the overload
  // above and keeps its order.)
  template <typename Compare, typename Allocator>
  void add(std::size_t epoch, const std::map<std::string, double, Compare, Allocator>& metrics) {
    add(epoch, std::vector<std::pair<std::string, double>>(metrics.begin(), metrics.end()));
  }

  std::size_t size() const { return epochs_.size(); }
  bool empty() const { return epochs_.empty(); }
  const std::vector<std::size_t>& epochs() const { return epochs_; }
  // Metric names in order of first appearance (within one add(), the order
  // given: fit() gives "loss", the metrics, then "val_loss" and the
  // validation metrics, as Keras' logs).
  const std::vector<std::string>& metric_names() const { return names_; }
  // One value per epoch; NaN where the metric was not given. Throws
  // std::out_of_range for an unknown name.
  std::vector<double> values(const std::string& name) const;

  // The CSV text: "epoch,<names...>" then one row per epoch. Values are
  // written in their shortest form that reads back to the same double, so
  // equal runs give byte-identical files and nothing is lost.
  std::string csv() const;
  void write_csv(const std::string& path) const;

  // A self-contained SVG document: axes with tick labels, one <polyline> per
  // metric, a legend. Non-finite points (and, with log_y, points <= 0) are
  // left out of their line.
  std::string svg(const SvgPlotOptions& options = {}) const;
  void write_svg(const std::string& path, const SvgPlotOptions& options = {}) const;

 private:
  std::vector<std::size_t> epochs_;
  std::vector<std::string> names_;
  std::vector<std::vector<double>> columns_;  // columns_[metric][row], NaN where missing
};

}  // namespace xgrad::nn
