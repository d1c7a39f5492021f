#include "xgrad/nn/summary.hpp"

#include <cstdio>
#include <vector>

#include "xgrad/nn/sequential.hpp"

namespace xgrad::nn {

namespace {

// 1121 -> "1,121", as Keras 3 writes counts.
std::string grouped(std::size_t n) {
  std::string digits = std::to_string(n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// Keras' readable_memory_size: "4.38 KB".
std::string memory_size(double bytes) {
  const char* units[] = {"Byte", "KB", "MB", "GB", "TB"};
  std::size_t unit = 0;
  while (bytes >= 1024.0 && unit + 1 < sizeof units / sizeof units[0]) {
    bytes /= 1024.0;
    ++unit;
  }
  char text[64];
  std::snprintf(text, sizeof text, "%.2f %s", bytes, units[unit]);
  return text;
}

// "(None, 20, 32)": the batch axis as None.
// `none`: the axes besides the batch to write None (empty: none).
std::string keras_shape(const Shape& shape, const std::vector<bool>& none) {
  std::string out = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const bool unknown = i == 0 || (i < none.size() && none[i]);
    out += (i ? ", " : "") + (unknown ? std::string("None") : std::to_string(shape[i]));
  }
  return out + (shape.size() == 1 ? ",)" : ")");
}

// `text` padded with spaces to `width` (at least one space after it).
std::string column(const std::string& text, std::size_t width) {
  return text.size() + 1 >= width ? text + " " : text + std::string(width - text.size(), ' ');
}

}  // namespace

template <typename T>
std::string summary(const Module<T>& model) {
  struct Row {
    std::string layer, shape;
    std::size_t params;
  };
  std::vector<Row> rows;
  const auto* sequential = dynamic_cast<const Sequential<T>*>(&model);
  const auto& children = model.named_children();
  for (std::size_t i = 0; i < children.size(); ++i) {
    const auto& [name, child] = children[i];
    std::string shape = "?";
    if (sequential && i < sequential->output_shapes().size())
      shape = keras_shape(sequential->output_shapes()[i],
                          i < sequential->none_axes().size() ? sequential->none_axes()[i] : std::vector<bool>());
    rows.push_back({name + " (" + child->class_name() + ")", shape, child->count_params()});
  }
  if (children.empty())
    rows.push_back({model.name() + " (" + model.class_name() + ")", "?", model.count_params()});

  constexpr std::size_t name_width = 29, shape_width = 26, width = 65;
  const std::string rule(width, '_'), double_rule(width, '=');
  std::string out = "Model: \"" + model.name() + "\"\n" + rule + "\n";
  out += " " + column("Layer (type)", name_width - 1) + column("Output Shape", shape_width) +
         "Param #\n" + double_rule + "\n";
  for (const auto& row : rows)
    out += " " + column(row.layer, name_width - 1) + column(row.shape, shape_width) +
           grouped(row.params) + "\n";
  const std::size_t total = model.count_params();
  const std::string size = memory_size(static_cast<double>(total * sizeof(T)));
  out += double_rule + "\n";
  out += "Total params: " + grouped(total) + " (" + size + ")\n";
  out += "Trainable params: " + grouped(total) + " (" + size + ")\n";
  out += "Non-trainable params: 0 (" + memory_size(0) + ")\n";
  out += rule + "\n";
  return out;
}

template std::string summary(const Module<float>&);
template std::string summary(const Module<double>&);

}  // namespace xgrad::nn
