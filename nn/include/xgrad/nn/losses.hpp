#pragma once
// Losses by Keras name, with Keras' default "sum_over_batch_size" reduction:
// each returns a 0-D Variable, the mean of the per-element (or per-sample)
// losses. Dimension letters: N samples, B batch, T timesteps, C classes.
// Predictions and targets fit when their shapes are equal or one has an
// extra trailing axis of 1 (targets [N] for a Dense(1) output [N, 1]), as
// Keras' losses squeeze it first; shapes that do not fit throw
// std::invalid_argument naming both shapes.
// Every loss is stable for extreme logits (±1e4 give a finite loss and a
// finite gradient).

#include <cstdint>
#include <vector>

#include <xtensor/xarray.hpp>

#include "xgrad/autograd/variable.hpp"

namespace xgrad::nn {

// mean((y_pred - y_true)^2) over every element.
template <typename T>
Variable<T> mean_squared_error(const Variable<T>& y_pred, const Variable<T>& y_true);
// mean(|y_pred - y_true|) over every element; the gradient of |d| at d = 0
// is 0, as TensorFlow's.
template <typename T>
Variable<T> mean_absolute_error(const Variable<T>& y_pred, const Variable<T>& y_true);

// Keras' binary_crossentropy(from_logits=True): for logits x and targets z in
// [0, 1] (shapes as above), the mean over every element of
//   max(x, 0) - x * z + log(1 + exp(-|x|)),
// which equals -z log(sigmoid(x)) - (1 - z) log(1 - sigmoid(x)) without
// overflow. Gradient: (sigmoid(x) - z) / size for x, -x / size for z.
template <typename T>
Variable<T> binary_crossentropy_from_logits(const Variable<T>& logits, const Variable<T>& targets);

// Keras' sparse_categorical_crossentropy(from_logits=True): logits [N, C]
// (or [B, T, C], or any leading shape) and integer labels in [0, C) of the
// logits' shape without its last axis ([N], or [B, T]); the mean over samples
// of -log_softmax(logits)[label]. A label outside [0, C) throws
// std::invalid_argument naming it and C.
template <typename T>
Variable<T> sparse_categorical_crossentropy_from_logits(const Variable<T>& logits,
                                                        const xt::xarray<std::int64_t>& labels);
// The same with int32 labels (Keras takes either).
template <typename T>
Variable<T> sparse_categorical_crossentropy_from_logits(const Variable<T>& logits,
                                                        const xt::xarray<std::int32_t>& labels);
// The same with labels [N] for logits [N, C].
template <typename T>
Variable<T> sparse_categorical_crossentropy_from_logits(const Variable<T>& logits,
                                                        const std::vector<std::int64_t>& labels);
// Keras' categorical_crossentropy(from_logits=True): logits [..., C] and
// targets of the same shape (one-hot rows, or any distribution over the C
// classes); the mean over samples of -sum(targets * log_softmax(logits)).
// A [N] side against a [N, 1] one is compared as [N, 1] (Keras expands it,
// where the losses above squeeze the other).
template <typename T>
Variable<T> categorical_crossentropy_from_logits(const Variable<T>& logits, const Variable<T>& targets);

// Keras' defaults, from_logits=False: predictions are probabilities (a
// sigmoid or softmax output), clipped to [ε, 1 − ε] with Keras' ε = 1e-7
// before their logarithm; where a prediction was clipped its gradient is 0,
// as through TensorFlow's clip_by_value.
//   binary_crossentropy: the mean over every element of
//     −(z log p + (1 − z) log(1 − p)), shapes as mean_squared_error's;
//   sparse_categorical_crossentropy: probabilities [..., C] (divided by
//     their sum over the last axis first, as Keras does) and labels as
//     above; the mean over samples of −log p[label];
//   categorical_crossentropy: probabilities [..., C] (divided by their sum
//     over the last axis first) and targets of the same shape; the mean
//     over samples of −sum(targets · log p).
// Logits give a wrong loss here silently; Keras' from_logits=True are the
// _from_logits forms above, which are also more accurate.
template <typename T>
Variable<T> binary_crossentropy(const Variable<T>& y_pred, const Variable<T>& y_true);
template <typename T>
Variable<T> sparse_categorical_crossentropy(const Variable<T>& probabilities,
                                            const xt::xarray<std::int64_t>& labels);
template <typename T>
Variable<T> categorical_crossentropy(const Variable<T>& probabilities, const Variable<T>& targets);

// The losses above with Keras' sample_weight, as a Keras loss object's
// call(y_true, y_pred, sample_weight) computes them; nn::Loss and fit's
// sample_weight and class_weight use them. Each sample's losses are
// multiplied by its weight, then reduced as Keras' "sum_over_batch_size":
// their sum divided by their count, not by the weights' sum. A null
// sample_weight gives the loss above. The weights have the samples' shape,
// that of the predictions without their last axis ([N] for predictions [N,
// C], [N, T] for [N, T, C]), or a leading part of it ([N] for [N, T, C]:
// one weight for every step of a sample), or [N] for predictions [N]; other
// shapes throw std::invalid_argument naming both.
namespace detail {
template <typename T>
Variable<T> mean_squared_error(const Variable<T>& y_pred, const Variable<T>& y_true, const Array<T>* sample_weight);
template <typename T>
Variable<T> mean_absolute_error(const Variable<T>& y_pred, const Variable<T>& y_true, const Array<T>* sample_weight);
template <typename T>
Variable<T> binary_crossentropy_from_logits(const Variable<T>& logits, const Variable<T>& targets,
                                            const Array<T>* sample_weight);
template <typename T>
Variable<T> binary_crossentropy(const Variable<T>& y_pred, const Variable<T>& y_true, const Array<T>* sample_weight);
template <typename T>
Variable<T> categorical_crossentropy_from_logits(const Variable<T>& logits, const Variable<T>& targets,
                                                 const Array<T>* sample_weight);
template <typename T>
Variable<T> categorical_crossentropy(const Variable<T>& probabilities, const Variable<T>& targets,
                                     const Array<T>* sample_weight);
template <typename T>
Variable<T> sparse_categorical_crossentropy_from_logits(const Variable<T>& logits,
                                                        const xt::xarray<std::int64_t>& labels,
                                                        const Array<T>* sample_weight);
template <typename T>
Variable<T> sparse_categorical_crossentropy(const Variable<T>& probabilities, const xt::xarray<std::int64_t>& labels,
                                            const Array<T>* sample_weight);
}  // namespace detail

#define XGRAD_DECLARE_LOSSES(T)                                                                \
  extern template Variable<T> mean_squared_error(const Variable<T>&, const Variable<T>&);     \
  extern template Variable<T> mean_absolute_error(const Variable<T>&, const Variable<T>&);    \
  extern template Variable<T> binary_crossentropy_from_logits(const Variable<T>&,             \
                                                              const Variable<T>&);            \
  extern template Variable<T> sparse_categorical_crossentropy_from_logits(                    \
      const Variable<T>&, const xt::xarray<std::int64_t>&);                                   \
  extern template Variable<T> sparse_categorical_crossentropy_from_logits(                    \
      const Variable<T>&, const xt::xarray<std::int32_t>&);                                   \
  extern template Variable<T> sparse_categorical_crossentropy_from_logits(                    \
      const Variable<T>&, const std::vector<std::int64_t>&);                                  \
  extern template Variable<T> binary_crossentropy(const Variable<T>&, const Variable<T>&);    \
  extern template Variable<T> sparse_categorical_crossentropy(const Variable<T>&,             \
                                                              const xt::xarray<std::int64_t>&); \
  extern template Variable<T> categorical_crossentropy_from_logits(const Variable<T>&,        \
                                                                   const Variable<T>&);       \
  extern template Variable<T> categorical_crossentropy(const Variable<T>&, const Variable<T>&);          \
  extern template Variable<T> detail::mean_squared_error(const Variable<T>&, const Variable<T>&, const Array<T>*); \
  extern template Variable<T> detail::mean_absolute_error(const Variable<T>&, const Variable<T>&,                  \
                                                          const Array<T>*);                                       \
  extern template Variable<T> detail::binary_crossentropy_from_logits(const Variable<T>&, const Variable<T>&,     \
                                                                      const Array<T>*);                           \
  extern template Variable<T> detail::binary_crossentropy(const Variable<T>&, const Variable<T>&, const Array<T>*); \
  extern template Variable<T> detail::categorical_crossentropy_from_logits(const Variable<T>&, const Variable<T>&, \
                                                                           const Array<T>*);                      \
  extern template Variable<T> detail::categorical_crossentropy(const Variable<T>&, const Variable<T>&,            \
                                                               const Array<T>*);                                  \
  extern template Variable<T> detail::sparse_categorical_crossentropy_from_logits(                                \
      const Variable<T>&, const xt::xarray<std::int64_t>&, const Array<T>*);                                      \
  extern template Variable<T> detail::sparse_categorical_crossentropy(const Variable<T>&,                         \
                                                                      const xt::xarray<std::int64_t>&, const Array<T>*);
XGRAD_DECLARE_LOSSES(float)
XGRAD_DECLARE_LOSSES(double)
#undef XGRAD_DECLARE_LOSSES

}  // namespace xgrad::nn
