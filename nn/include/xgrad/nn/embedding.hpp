#pragma once
// Embedding: Keras' keras.layers.Embedding, with its names, defaults and
// numbers. It turns token ids into rows of a trainable table.
//
// Dimension letters: B batch, T timesteps, V vocabulary (input_dim),
// D embedding size (output_dim).
//
//   input   tokens      [B, T] integers in [0, V) (any shape works: [...])
//   embeddings          [V, D]    uniform in [-0.05, 0.05) (Keras' "uniform")
//
//   y[b, t, :] = embeddings[tokens[b, t], :]
//
//   output  [B, T, D] ([..., D]): a gather of rows. Its backward adds each
//           output row's gradient into row tokens[b, t] of the embeddings'
//           gradient, so a token that occurs k times receives the sum of its
//           k gradients.
//
// mask_zero: as in Keras, token 0 is then reserved for padding and
// compute_mask(tokens) is tokens != 0. Index 0 still has a row (it is
// computed like any other, and masked downstream), so input_dim must leave
// room for it: input_dim = vocabulary size + 1, the vocabulary being ids
// 1..input_dim-1. (Keras documents this rule and does not check it; neither
// does xgrad, since any input_dim > 0 is a valid table.)
//
// Like Keras, the layer needs no input shape to build: build() creates the
// table; the first forward() or set_weights() does so if it was not done.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <xtensor/xarray.hpp>

#include "xgrad/nn/module.hpp"
#include "xgrad/nn/options.hpp"

namespace xgrad::nn {

struct EmbeddingOptions {
  EmbeddingOptions(std::size_t input_dim, std::size_t output_dim)
      : input_dim_(input_dim), output_dim_(output_dim) {}

  XGRAD_ARG(std::size_t, input_dim);                 // required, > 0: largest token id + 1
  XGRAD_ARG(std::size_t, output_dim);                // required, > 0
  XGRAD_ARG(bool, mask_zero) = false;                // Keras: False; if true, input_dim = vocabulary + 1
  XGRAD_ARG(std::string, name) = "embedding";        // Keras' default layer name
};

template <typename T = float>
class Embedding : public Module<T> {
 public:
  // Throws std::invalid_argument if input_dim or output_dim is 0.
  explicit Embedding(EmbeddingOptions options);

  // Creates the embeddings [V, D] (drawn from xgrad's global generator);
  // does nothing if already built.
  void build();
  bool built() const { return built_; }

  // tokens [...] -> [..., D]. Builds the layer on first use. Throws
  // std::invalid_argument naming the token, its position and input_dim if a
  // token is < 0 or >= input_dim.
  Variable<T> forward(const xt::xarray<std::int64_t>& tokens);
  Variable<T> operator()(const xt::xarray<std::int64_t>& tokens) { return forward(tokens); }
  // The same for token ids held as floating-point values (as Keras casts
  // non-integer inputs), so the layer can head a Sequential. Each value must
  // be a whole number; no gradient flows to the tokens.
  Variable<T> forward(const Variable<T>& tokens);
  Variable<T> operator()(const Variable<T>& tokens) { return forward(tokens); }

  // With mask_zero: tokens != 0, of the tokens' shape ([B, T]). Without it
  // Keras returns None (no mask); here every entry is true, which means the
  // same to any layer that consumes a mask. Checks nothing about the range.
  xt::xarray<bool> compute_mask(const xt::xarray<std::int64_t>& tokens) const;

  // The table as a Variable (handle): read its grad() after backward.
  // Throws std::logic_error before build.
  Variable<T> embeddings() const;

  // A copy of the weights in Keras' order: {embeddings}. Throws
  // std::logic_error before build.
  std::vector<Array<T>> weights() const;
  // Sets them from the same order (building the layer if needed); the shape
  // must be (input_dim, output_dim), checked before anything changes.
  void set_weights(const std::vector<Array<T>>& weights);

  const EmbeddingOptions& options() const { return options_; }

 private:
  std::string describe() const;
  void check_built(const char* what) const;
  void register_table(Array<T> table);

  EmbeddingOptions options_;
  bool built_ = false;
  Variable<T> embeddings_;
};

extern template class Embedding<float>;
extern template class Embedding<double>;

}  // namespace xgrad::nn
