#include "xgrad/nn/embedding.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <utility>

namespace xgrad::nn {

namespace {
// "(1, 3)": the multi-index of flat position `flat` in a row-major `shape`.
template <typename ShapeLike>
std::string position_to_string(std::size_t flat, const ShapeLike& shape) {
  Shape index(shape.size());
  for (std::size_t axis = shape.size(); axis-- > 0;) {
    index[axis] = shape[axis] == 0 ? 0 : flat % shape[axis];
    flat = shape[axis] == 0 ? 0 : flat / shape[axis];
  }
  return shape_to_string(index);
}
}  // namespace

template <typename T>
Embedding<T>::Embedding(EmbeddingOptions options)
    : Module<T>(options.name()), options_(std::move(options)) {
  if (options_.input_dim() == 0 || options_.output_dim() == 0) {
    throw std::invalid_argument(describe() + ": input_dim and output_dim must be positive, got " +
                                std::to_string(options_.input_dim()) + " and " +
                                std::to_string(options_.output_dim()));
  }
}

template <typename T>
std::string Embedding<T>::describe() const {
  return "Embedding '" + options_.name() + "'";
}

template <typename T>
void Embedding<T>::build() {
  if (built_) return;
  // Keras' "uniform" initializer is RandomUniform(-0.05, 0.05).
  register_table(uniform<T>({options_.input_dim(), options_.output_dim()}, T(-0.05), T(0.05)));
}

template <typename T>
void Embedding<T>::register_table(Array<T> table) {
  embeddings_ = this->register_parameter("embeddings", Variable<T>(std::move(table)));
  built_ = true;
}

template <typename T>
void Embedding<T>::check_built(const char* what) const {
  if (!built_) detail::throw_not_built(describe(), what, "build()");
}

template <typename T>
Variable<T> Embedding<T>::embeddings() const {
  check_built("embeddings");
  return embeddings_;
}

template <typename T>
Variable<T> Embedding<T>::forward(const xt::xarray<std::int64_t>& tokens) {
  const auto scope = this->layer_scope();
  const std::size_t vocabulary = options_.input_dim(), width = options_.output_dim();
  // Every token is checked before anything is computed, so a bad batch
  // leaves no half-built graph behind.
  std::vector<std::size_t> rows(tokens.size());
  std::size_t flat = 0;
  for (const std::int64_t token : tokens) {
    if (token < 0 || static_cast<std::uint64_t>(token) >= vocabulary) {
      throw std::invalid_argument(describe() + ": token " + std::to_string(token) +
                                  " at position " + position_to_string(flat, tokens.shape()) +
                                  " of tokens " + shape_to_string(tokens.shape()) +
                                  " is out of range for input_dim " + std::to_string(vocabulary) +
                                  " (valid tokens are 0 to " + std::to_string(vocabulary - 1) +
                                  ")");
    }
    rows[flat++] = static_cast<std::size_t>(token);
  }
  build();

  Shape out_shape = to_shape(tokens.shape());
  out_shape.push_back(width);
  Array<T> out = Array<T>::from_shape(out_shape);
  const T* table = embeddings_.value().data();
  for (std::size_t i = 0; i < rows.size(); ++i)
    std::copy_n(table + rows[i] * width, width, out.data() + i * width);

  // The rows are captured by value (a plain index list, no array of the
  // graph); repeated rows accumulate because each adds into the buffer.
  return Variable<T>::from_op(
      std::move(out), {embeddings_}, "embedding",
      [rows = std::move(rows), width](const Array<T>& g, const Array<T>&,
                                      std::vector<Variable<T>>& in) {
        T* grad = in[0].grad_buffer().data();
        const T* from = g.data();
        for (std::size_t i = 0; i < rows.size(); ++i) {
          T* row = grad + rows[i] * width;
          for (std::size_t d = 0; d < width; ++d) row[d] += from[i * width + d];
        }
      });
}

template <typename T>
Variable<T> Embedding<T>::forward(const Variable<T>& tokens) {
  const Array<T>& values = tokens.value();
  xt::xarray<std::int64_t> ids = xt::xarray<std::int64_t>::from_shape(values.shape());
  std::size_t flat = 0;
  for (const T value : values) {
    // A fraction would be truncated silently by a cast; a float beyond the
    // int64 range cannot be a token. Both are caller errors worth naming.
    if (!(std::trunc(value) == value) || std::abs(value) > T(9.0e18)) {
      std::ostringstream text;
      text << value;
      throw std::invalid_argument(describe() + ": token " + text.str() + " at position " +
                                  position_to_string(flat, values.shape()) + " of tokens " +
                                  shape_to_string(values.shape()) + " is not an integer token id");
    }
    ids.data()[flat++] = static_cast<std::int64_t>(value);
  }
  return forward(ids);
}

template <typename T>
xt::xarray<bool> Embedding<T>::compute_mask(const xt::xarray<std::int64_t>& tokens) const {
  xt::xarray<bool> mask = xt::xarray<bool>::from_shape(tokens.shape());
  std::transform(tokens.begin(), tokens.end(), mask.begin(),
                 [zero = options_.mask_zero()](std::int64_t token) { return !zero || token != 0; });
  return mask;
}

template <typename T>
std::vector<Array<T>> Embedding<T>::weights() const {
  check_built("weights");
  return {embeddings_.value()};
}

template <typename T>
void Embedding<T>::set_weights(const std::vector<Array<T>>& weights) {
  if (weights.size() != 1) {
    throw std::invalid_argument(describe() + ": set_weights expects 1 array (embeddings), got " +
                                std::to_string(weights.size()));
  }
  const Shape want{options_.input_dim(), options_.output_dim()};
  if (!shapes_equal(want, weights[0].shape())) {
    throw std::invalid_argument(describe() + ": set_weights: embeddings expected shape " +
                                shape_to_string(want) + ", got " +
                                shape_to_string(weights[0].shape()));
  }
  // Unbuilt, the given table becomes the parameter directly: drawing a random
  // one first would only advance the global generator.
  if (built_) {
    embeddings_.value() = weights[0];
  } else {
    register_table(weights[0]);
  }
}

template class Embedding<float>;
template class Embedding<double>;

}  // namespace xgrad::nn
