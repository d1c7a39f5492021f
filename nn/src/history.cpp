#include "xgrad/nn/history.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "xgrad/tensor/file_io.hpp"

namespace xgrad::nn {

namespace {

constexpr double nan_value = std::numeric_limits<double>::quiet_NaN();

// Shortest text that reads back to the same double; locale-independent.

// Fixed-point with `digits` decimals; locale-independent (SVG needs '.').
std::string fixed(double value, int digits) {
  if (value == 0) value = 0;  // no "-0.00"
  char buffer[64];
  const auto result =
      std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::fixed, digits);
  std::string text(buffer, result.ptr);
  if (text.find_first_not_of("-0.") == std::string::npos) text = "0";  // "-0.00" -> "0"
  return text;
}

std::string scientific(double value, int digits) {
  char buffer[64];
  const auto result =
      std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::scientific, digits);
  return std::string(buffer, result.ptr);
}

std::string px(double value) { return fixed(value, 2); }

std::string xml_escape(const std::string& text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

// 1, 2 or 5 times a power of ten, at least `raw`.
double nice_step(double raw) {
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (const double m : {1.0, 2.0, 5.0, 10.0})
    if (m * power >= raw * (1 - 1e-9)) return m * power;
  return 10 * power;
}

struct Axis {
  double low, high;            // the axis range, in data units (log10 units for a log axis)
  std::vector<double> ticks;   // in the same units
  std::vector<std::string> labels;
};

std::string linear_label(double value, double step) {
  const int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  const double magnitude = std::max(std::fabs(value), step);
  if (decimals > 5 || magnitude >= 1e6) return scientific(value, 2);
  return fixed(value, decimals);
}

// Ticks at a nice step; with `expand` the range grows to the outer ticks
// (y axis), else it stays the data range (epochs).
Axis linear_axis(double low, double high, bool expand, double min_step) {
  if (!(high > low)) {
    const double pad = low == 0 ? 1.0 : std::fabs(low) * 0.1;
    low -= pad;
    high += pad;
  }
  const double step = std::max(nice_step((high - low) / 5), min_step);
  Axis axis{low, high, {}, {}};
  if (expand) {
    axis.low = std::floor(low / step + 1e-9) * step;
    axis.high = std::ceil(high / step - 1e-9) * step;
  }
  for (double k = std::ceil(axis.low / step - 1e-9); k * step <= axis.high + step * 1e-9; k += 1) {
    double tick = k * step;
    if (std::fabs(tick) < step * 1e-9) tick = 0;
    axis.ticks.push_back(tick);
    axis.labels.push_back(linear_label(tick, step));
  }
  return axis;
}

// Decades from 10^floor(log10 low) to 10^ceil(log10 high); positions are
// log10 of the values.
Axis log_axis(double low, double high) {
  double first = std::floor(std::log10(low));
  double last = std::ceil(std::log10(high));
  if (last <= first) last = first + 1;
  Axis axis{first, last, {}, {}};
  const int every = static_cast<int>(std::ceil((last - first) / 8));  // at most ~8 labels
  for (double k = first; k <= last; k += every) {
    axis.ticks.push_back(k);
    const int e = static_cast<int>(k);
    axis.labels.push_back(e >= -3 && e <= 4 ? fixed(std::pow(10.0, e), std::max(0, -e))
                                            : "1e" + std::to_string(e));
  }
  return axis;
}

// Matplotlib's tab10 colours: distinct, and readable on white.
constexpr const char* palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                   "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

}  // namespace

std::string format_shortest(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

void History::add(std::size_t epoch, const std::vector<std::pair<std::string, double>>& metrics) {
  if (!epochs_.empty() && epoch <= epochs_.back()) {
    throw std::invalid_argument("History::add: epoch " + std::to_string(epoch) +
                                " does not follow the last recorded epoch " +
                                std::to_string(epochs_.back()));
  }
  for (const auto& entry : metrics) {
    const std::string& name = entry.first;
    if (name.empty() || name.find_first_of(",\"\r\n") != std::string::npos)
      throw std::invalid_argument("History::add: bad metric name '" + name +
                                  "' (empty, or holds ',', '\"' or a newline)");
  }
  epochs_.push_back(epoch);
  for (auto& column : columns_) column.push_back(nan_value);
  for (const auto& [name, value] : metrics) {
    const auto found = std::find(names_.begin(), names_.end(), name);
    if (found == names_.end()) {
      names_.push_back(name);
      columns_.emplace_back(epochs_.size(), nan_value);
      columns_.back().back() = value;
    } else {
      columns_[static_cast<std::size_t>(found - names_.begin())].back() = value;
    }
  }
}

std::vector<double> History::values(const std::string& name) const {
  const auto found = std::find(names_.begin(), names_.end(), name);
  if (found == names_.end()) throw std::out_of_range("History::values: no metric '" + name + "'");
  return columns_[static_cast<std::size_t>(found - names_.begin())];
}

std::string History::csv() const {
  std::string out = "epoch";
  for (const auto& name : names_) out += "," + name;
  out += "\n";
  for (std::size_t row = 0; row < epochs_.size(); ++row) {
    out += std::to_string(epochs_[row]);
    for (const auto& column : columns_) {
      out += "," + format_shortest(column[row]);  // "nan" where missing: pandas and numpy read it
    }
    out += "\n";
  }
  return out;
}

void History::write_csv(const std::string& path) const {
  write_file_atomically(path, csv(), "History::write_csv: " + path + ": ");
}

std::string History::svg(const SvgPlotOptions& options) const {
  const double width = static_cast<double>(std::max<std::size_t>(options.width(), 200));
  const double height = static_cast<double>(std::max<std::size_t>(options.height(), 150));
  const bool log_y = options.log_y();

  // The plotted points of each metric, in data units (log10 on a log axis).
  std::vector<std::vector<std::pair<double, double>>> lines(names_.size());
  double y_low = std::numeric_limits<double>::infinity(), y_high = -y_low;
  for (std::size_t m = 0; m < names_.size(); ++m) {
    for (std::size_t row = 0; row < epochs_.size(); ++row) {
      const double v = columns_[m][row];
      if (!std::isfinite(v) || (log_y && v <= 0)) continue;
      lines[m].emplace_back(static_cast<double>(epochs_[row]), v);
      y_low = std::min(y_low, v);
      y_high = std::max(y_high, v);
    }
  }
  if (!(y_low <= y_high)) {  // nothing to plot: an empty but valid frame
    y_low = log_y ? 0.1 : 0.0;
    y_high = 1.0;
  }
  const double x_first = epochs_.empty() ? 0.0 : static_cast<double>(epochs_.front());
  const double x_last = epochs_.empty() ? 1.0 : static_cast<double>(epochs_.back());
  Axis x_axis = linear_axis(x_first, x_last, false, 1.0);  // whole epochs
  // A little room on both sides, so the end markers do not sit on the frame.
  const double x_pad = (x_axis.high - x_axis.low) * 0.02;
  x_axis.low -= x_pad;
  x_axis.high += x_pad;
  const Axis y_axis = log_y ? log_axis(y_low, y_high) : linear_axis(y_low, y_high, true, 0.0);

  const double left = options.y_label().empty() ? 64 : 80;
  const double right = width - 16;
  const double top = options.title().empty() ? 16 : 40;
  const double bottom = height - (options.x_label().empty() ? 32 : 48);
  auto to_x = [&](double x) {
    return left + (x - x_axis.low) / (x_axis.high - x_axis.low) * (right - left);
  };
  auto to_y = [&](double y) {
    const double u = log_y ? std::log10(y) : y;
    return bottom - (u - y_axis.low) / (y_axis.high - y_axis.low) * (bottom - top);
  };
  auto tick_y = [&](double tick) {  // ticks are already in axis units
    return bottom - (tick - y_axis.low) / (y_axis.high - y_axis.low) * (bottom - top);
  };

  std::string s;
  const std::string w = fixed(width, 0), h = fixed(height, 0);
  s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + w + "\" height=\"" + h +
       "\" viewBox=\"0 0 " + w + " " + h + "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  if (!options.title().empty()) {
    s += "<text x=\"" + px((left + right) / 2) + "\" y=\"24\" text-anchor=\"middle\" "
         "font-size=\"14\">" + xml_escape(options.title()) + "</text>\n";
  }

  // Grid and tick labels.
  s += "<g stroke=\"#e0e0e0\" stroke-width=\"1\">\n";
  for (const double tick : x_axis.ticks) {
    s += "<line x1=\"" + px(to_x(tick)) + "\" y1=\"" + px(top) + "\" x2=\"" + px(to_x(tick)) +
         "\" y2=\"" + px(bottom) + "\"/>\n";
  }
  for (const double tick : y_axis.ticks) {
    s += "<line x1=\"" + px(left) + "\" y1=\"" + px(tick_y(tick)) + "\" x2=\"" + px(right) +
         "\" y2=\"" + px(tick_y(tick)) + "\"/>\n";
  }
  s += "</g>\n<g fill=\"black\">\n";
  for (std::size_t i = 0; i < x_axis.ticks.size(); ++i) {
    s += "<text x=\"" + px(to_x(x_axis.ticks[i])) + "\" y=\"" + px(bottom + 16) +
         "\" text-anchor=\"middle\">" + xml_escape(x_axis.labels[i]) + "</text>\n";
  }
  for (std::size_t i = 0; i < y_axis.ticks.size(); ++i) {
    s += "<text x=\"" + px(left - 6) + "\" y=\"" + px(tick_y(y_axis.ticks[i]) + 4) +
         "\" text-anchor=\"end\">" + xml_escape(y_axis.labels[i]) + "</text>\n";
  }
  if (!options.x_label().empty()) {
    s += "<text x=\"" + px((left + right) / 2) + "\" y=\"" + px(bottom + 36) +
         "\" text-anchor=\"middle\">" + xml_escape(options.x_label()) + "</text>\n";
  }
  if (!options.y_label().empty()) {
    const std::string cy = px((top + bottom) / 2);
    s += "<text x=\"18\" y=\"" + cy + "\" text-anchor=\"middle\" transform=\"rotate(-90 18 " + cy +
         ")\">" + xml_escape(options.y_label()) + (log_y ? " (log scale)" : "") + "</text>\n";
  }
  s += "</g>\n";
  s += "<rect x=\"" + px(left) + "\" y=\"" + px(top) + "\" width=\"" + px(right - left) +
       "\" height=\"" + px(bottom - top) + "\" fill=\"none\" stroke=\"black\"/>\n";

  // One polyline per metric, with markers while the points are few enough
  // to tell apart (a single point draws no line).
  for (std::size_t m = 0; m < names_.size(); ++m) {
    const char* colour = palette[m % std::size(palette)];
    std::string points;
    for (const auto& [x, y] : lines[m]) {
      if (!points.empty()) points += ' ';
      points += px(to_x(x)) + "," + px(to_y(y));
    }
    s += "<polyline fill=\"none\" stroke=\"" + std::string(colour) +
         "\" stroke-width=\"2\" stroke-linejoin=\"round\" points=\"" + points + "\"/>\n";
    if (lines[m].size() <= 40) {
      s += "<g fill=\"" + std::string(colour) + "\">\n";
      for (const auto& [x, y] : lines[m])
        s += "<circle cx=\"" + px(to_x(x)) + "\" cy=\"" + px(to_y(y)) + "\" r=\"2.5\"/>\n";
      s += "</g>\n";
    }
  }

  // Legend, top right inside the plot.
  if (!names_.empty()) {
    std::size_t longest = 0;
    for (const auto& name : names_) longest = std::max(longest, name.size());
    const double box_width = 40 + 7.0 * static_cast<double>(longest);
    const double box_height = 8 + 18.0 * static_cast<double>(names_.size());
    const double box_x = right - 8 - box_width, box_y = top + 8;
    s += "<rect x=\"" + px(box_x) + "\" y=\"" + px(box_y) + "\" width=\"" + px(box_width) +
         "\" height=\"" + px(box_height) +
         "\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#a0a0a0\"/>\n";
    for (std::size_t m = 0; m < names_.size(); ++m) {
      const double y = box_y + 16 + 18.0 * static_cast<double>(m);
      s += "<line x1=\"" + px(box_x + 6) + "\" y1=\"" + px(y - 4) + "\" x2=\"" + px(box_x + 28) +
           "\" y2=\"" + px(y - 4) + "\" stroke=\"" + palette[m % std::size(palette)] +
           "\" stroke-width=\"2\"/>\n";
      s += "<text x=\"" + px(box_x + 34) + "\" y=\"" + px(y) + "\">" + xml_escape(names_[m]) +
           "</text>\n";
    }
  }
  s += "</svg>\n";
  return s;
}

void History::write_svg(const std::string& path, const SvgPlotOptions& options) const {
  write_file_atomically(path, svg(options), "History::write_svg: " + path + ": ");
}

}  // namespace xgrad::nn
