#pragma once
// LayerWeights: the base of the layers with Keras weights (Dense, SimpleRNN,
// SimpleRNNCell). It owns what they share: the weights in Keras' order, each
// created at build from its initializer, regularizer and constraint; the
// accessors that refuse before build; weights() and set_weights(), which
// checks every shape before anything changes.
//
// Dimension letters: F input features (known at build), U units.
//
//   WeightSpec::Rows::features  [F, G·U]           (kernel)
//   WeightSpec::Rows::units     [U, G·U]           (recurrent_kernel)
//   WeightSpec::Rows::none      [G·U] or [R, G·U]  (bias)
//
// G is the spec's gates (1 but for LSTM's 4 and GRU's 3 column blocks), R
// its bias_rows (1 means a vector; a GRU with reset_after has 2).
//
// A layer checks its own input shape in build() and then calls
// build_for(F); set_weights builds from the kernel's shape the same way.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "xgrad/nn/constraints.hpp"
#include "xgrad/nn/initializers.hpp"
#include "xgrad/nn/module.hpp"
#include "xgrad/nn/options.hpp"
#include "xgrad/nn/regularizers.hpp"

namespace xgrad::nn {

// One weight of a layer: its Keras name, its shape and its rules.
struct WeightSpec {
  enum class Rows { features, units, none };

  std::string name;
  Rows rows = Rows::none;
  Initializer initializer;
  std::optional<Regularizer> regularizer;
  std::optional<Constraint> constraint;
  std::size_t gates = 1;
  std::size_t bias_rows = 1;
  // A column block drawn as ones whatever the initializer (LSTM's
  // unit_forget_bias: the forget gate's bias), as Keras draws
  // initializer(U), ones(U), initializer(the rest).
  std::optional<std::size_t> ones_block = std::nullopt;
};

// Declares the options of one weight in an options struct SELF:
// NAME_initializer (default INIT), NAME_regularizer and NAME_constraint
// (default None, as Keras), each settable by value or by Keras name
// (initializer_from_name, regularizer_from_name, constraint_from_name):
//   XGRAD_WEIGHT_ARGS(SimpleRNNOptions, kernel, init::glorot_uniform());
#define XGRAD_WEIGHT_ARGS(SELF, NAME, INIT)                         \
 public:                                                            \
  SELF& NAME##_initializer(const std::string& name) {               \
    NAME##_initializer_ = initializer_from_name(name);              \
    return *this;                                                   \
  }                                                                 \
  SELF& NAME##_regularizer(const std::string& name) {               \
    NAME##_regularizer_ = regularizer_from_name(name);              \
    return *this;                                                   \
  }                                                                 \
  SELF& NAME##_constraint(const std::string& name) {                \
    NAME##_constraint_ = constraint_from_name(name);                \
    return *this;                                                   \
  }                                                                 \
  XGRAD_ARG(Initializer, NAME##_initializer) = INIT;                \
  XGRAD_ARG(std::optional<Regularizer>, NAME##_regularizer);        \
  XGRAD_ARG(std::optional<Constraint>, NAME##_constraint)

// kernel [F, G·U], recurrent_kernel [U, G·U][, bias [G·U] or [R, G·U]] from
// the options of a recurrent layer or cell, drawn in this order as Keras
// draws them; with unit_forget_bias the bias's forget block (gate 1) is ones.
template <typename Options>
std::vector<WeightSpec> recurrent_weight_specs(const Options& options, std::size_t gates = 1,
                                               std::size_t bias_rows = 1,
                                               bool unit_forget_bias = false) {
  std::vector<WeightSpec> specs{
      {"kernel", WeightSpec::Rows::features, options.kernel_initializer(),
       options.kernel_regularizer(), options.kernel_constraint(), gates},
      {"recurrent_kernel", WeightSpec::Rows::units, options.recurrent_initializer(),
       options.recurrent_regularizer(), options.recurrent_constraint(), gates}};
  if (options.use_bias()) {
    specs.push_back({"bias", WeightSpec::Rows::none, options.bias_initializer(),
                     options.bias_regularizer(), options.bias_constraint(), gates, bias_rows,
                     unit_forget_bias ? std::optional<std::size_t>(1) : std::nullopt});
  }
  return specs;
}

// "(None, 4)" for {-1, 4}, as Keras prints an input shape ("(4,)" for {4}).
std::string input_shape_to_string(const std::vector<std::ptrdiff_t>& shape);

// Throws std::invalid_argument "<description>: dropout must be in [0, 1),
// got 1.5" unless both rates are in [0, 1) (NaN is not).
void check_dropout_rates(const std::string& description, double dropout,
                         double recurrent_dropout);

template <typename T = float>
class LayerWeights : public Module<T> {
 public:
  // The layer's class as messages name it: "Dense", "SimpleRNN", "LSTM"...
  const std::string& kind() const { return kind_; }
  bool built() const { return features_ > 0; }
  // F, once built.
  std::size_t input_features() const { return features_; }

  // The parameters as Variables (handles): read their grad() after backward.
  // Each throws std::logic_error before build; bias() also without use_bias.
  Variable<T> kernel() const { return weight("kernel"); }
  Variable<T> bias() const;

  // Copies of the weights in Keras' order (kernel[, recurrent_kernel][, bias]).
  std::vector<Array<T>> weights() const;
  // Sets them from the same order (building the layer from the kernel's
  // shape if needed). Every shape is checked before anything changes.
  void set_weights(const std::vector<Array<T>>& weights);

 protected:
  // `kind` and `name` make the description "SimpleRNN 'encoder'" that starts
  // every message; `noun` ("layer", "cell") and `build_call`
  // ("build({-1, F})") complete the message for use before build. Throws
  // std::invalid_argument for units 0.
  LayerWeights(const std::string& kind, const std::string& name, std::size_t units,
               std::vector<WeightSpec> specs, std::string noun, std::string build_call);

  const std::string& describe() const { return description_; }
  // Creates the weights for F features, or checks F if already built.
  void build_for(std::size_t features);
  // Throws std::logic_error naming `what` before build.
  void check_built(std::string_view what) const;
  // The weight of that name, after check_built(name).
  // (A view: kernel() and recurrent_kernel() run at every call, and
  // "recurrent_kernel" is one character too long for a string without an allocation.)
  Variable<T> weight(std::string_view name) const;

 private:
  Shape shape_of(const WeightSpec& spec, std::size_t features) const;
  // A fresh value from the spec's initializer (and ones block).
  Array<T> draw(const WeightSpec& spec, std::size_t features) const;

  std::string kind_, description_, noun_, build_call_;
  std::size_t units_;
  std::vector<WeightSpec> specs_;
  std::size_t features_ = 0;
  std::vector<Variable<T>> values_;  // one per spec, once built
};

extern template class LayerWeights<float>;
extern template class LayerWeights<double>;

}  // namespace xgrad::nn
