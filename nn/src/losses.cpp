#include "xgrad/nn/losses.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>

#include "xgrad/autograd/anomaly.hpp"
#include "xgrad/autograd/math_ops.hpp"
#include "xgrad/autograd/ops.hpp"
#include "xgrad/tensor/activations.hpp"
#include "same_rank.hpp"

namespace xgrad::nn {

namespace {

// A loss is a mean: over no elements it has no value. Named here, before the
// mean inside would say only "mean".
template <typename ShapeLike>
void check_not_empty(const ShapeLike& shape, const char* loss, const char* name) {
  if (element_count(shape) == 0) {
    throw std::invalid_argument(std::string(loss) + ": " + name + " of shape " +
                                shape_to_string(shape) +
                                " has no elements (an empty batch); the loss is a mean over them");
  }
}

// a and b in the shape they are compared in (same_rank.hpp: a [N] target
// against [N, 1] predictions is compared as [N]); throws naming both shapes
// when they do not fit, or naming a when it has no elements.
template <typename T>
std::pair<Variable<T>, Variable<T>> in_same_rank(const Variable<T>& a, const Variable<T>& b, const char* loss,
                                                 const char* a_name, const char* b_name) {
  const Shape a_shape = to_shape(a.shape()), b_shape = to_shape(b.shape());
  const std::optional<Shape> common = detail::same_rank_shape(a_shape, b_shape);
  if (!common) {
    throw std::invalid_argument(std::string(loss) + ": " + a_name + " has shape " + shape_to_string(a_shape) +
                                " but " + b_name + " has shape " + shape_to_string(b_shape) +
                                "; they must be equal (or differ by a trailing axis of 1)");
  }
  check_not_empty(a_shape, loss, a_name);
  return {a_shape == *common ? a : xgrad::reshape(a, *common), b_shape == *common ? b : xgrad::reshape(b, *common)};
}

// Keras' "sum_over_batch_size" of a loss's `values`: their mean, or with
// sample weights the mean of values · w, w repeated over the axes after
// its own (losses.hpp). The first sample_rank axes of the values are the
// samples' (Keras' per-sample losses have those); w must be a leading part
// of them.
template <typename T>
Variable<T> reduced(const Variable<T>& values, const Array<T>* sample_weight, std::size_t sample_rank,
                    const char* loss) {
  if (!sample_weight) return xgrad::mean(values);
  const auto& shape = values.shape();
  const auto& weight_shape = sample_weight->shape();
  if (weight_shape.empty() || weight_shape.size() > sample_rank ||
      !std::equal(weight_shape.begin(), weight_shape.end(), shape.begin())) {
    const Shape samples(shape.begin(), shape.begin() + static_cast<std::ptrdiff_t>(sample_rank));
    throw std::invalid_argument(std::string(loss) + ": sample_weight of shape " + shape_to_string(weight_shape) +
                                " does not fit the losses of shape " + shape_to_string(shape) +
                                ": it needs the samples' shape " + shape_to_string(samples) +
                                " or a leading part of it");
  }
  Shape repeated(weight_shape.begin(), weight_shape.end());
  repeated.resize(shape.size(), 1);
  return xgrad::mean(xgrad::mul(values, Variable<T>(reshaped(*sample_weight, repeated))));
}

// The samples' rank of elementwise losses of `values`' shape: all but the
// last axis, which Keras' per-sample losses average over; both of [N].
template <typename T>
std::size_t elementwise_sample_rank(const Variable<T>& values) {
  return values.dimension() >= 2 ? values.dimension() - 1 : values.dimension();
}

// Elementwise max(x, 0) - x z + log1p(exp(-|x|)), fused: composed from
// primitives it would need |x| (not differentiable at 0) and six temporaries.
// Its composed twin is kept in the tests as the reference.
template <typename T>
Variable<T> sigmoid_crossentropy(const Variable<T>& logits, const Variable<T>& targets) {
  const Array<T>& x = logits.value();
  const Array<T>& z = targets.value();
  Array<T> out = Array<T>::from_shape(x.shape());
  for (std::size_t e = 0; e < out.size(); ++e) {
    const T xe = x.flat(e);
    out.flat(e) = std::max(xe, T(0)) - xe * z.flat(e) + std::log1p(std::exp(-std::abs(xe)));
  }
  return Variable<T>::from_op(
      std::move(out), {logits, targets}, "sigmoid_crossentropy",
      [](const Array<T>& g, const Array<T>&, std::vector<Variable<T>>& in) {
        const Array<T>& xv = in[0].value();
        const Array<T>& zv = in[1].value();
        if (in[0].requires_grad()) {
          Array<T>& dx = in[0].grad_buffer();
          for (std::size_t e = 0; e < dx.size(); ++e)
            dx.flat(e) += g.flat(e) * (stable_sigmoid(xv.flat(e)) - zv.flat(e));
        }
        if (in[1].requires_grad()) {
          Array<T>& dz = in[1].grad_buffer();
          for (std::size_t e = 0; e < dz.size(); ++e) dz.flat(e) -= g.flat(e) * xv.flat(e);
        }
      });
}

// out[n] = values[n, labels[n]] for values [N, C] seen flat; the backward
// adds each sample's gradient into one entry of the input's gradient.
template <typename T>
Variable<T> pick_labels(const Variable<T>& values, std::vector<std::size_t> labels,
                        const Shape& out_shape) {
  const std::size_t classes = values.shape().back();
  Array<T> out = Array<T>::from_shape(out_shape);
  const T* v = values.value().data();
  for (std::size_t n = 0; n < labels.size(); ++n) out.flat(n) = v[n * classes + labels[n]];
  return Variable<T>::from_op(
      std::move(out), {values}, "pick_labels",
      [labels = std::move(labels), classes](const Array<T>& g, const Array<T>&,
                                            std::vector<Variable<T>>& in) {
        T* dv = in[0].grad_buffer().data();
        for (std::size_t n = 0; n < labels.size(); ++n) dv[n * classes + labels[n]] += g.flat(n);
      });
}

// Keras' epsilon (keras.config.epsilon()).
constexpr double kProbabilityEpsilon = 1e-7;

// p clipped to [ε, 1 − ε]; the gradient passes where p is inside, bounds
// included, as TensorFlow's clip_by_value's does.
template <typename T>
Variable<T> clipped_probabilities(const Variable<T>& p) {
  const T low = T(kProbabilityEpsilon), high = T(1) - T(kProbabilityEpsilon);
  Array<T> out = Array<T>::from_shape(p.shape());
  for (std::size_t e = 0; e < out.size(); ++e) out.flat(e) = std::min(std::max(p.value().flat(e), low), high);
  return Variable<T>::from_op(
      std::move(out), {p}, "clip_probabilities",
      [low, high](const Array<T>& g, const Array<T>&, std::vector<Variable<T>>& in) {
        const Array<T>& pv = in[0].value();
        Array<T>& dp = in[0].grad_buffer();
        for (std::size_t e = 0; e < dp.size(); ++e)
          if (pv.flat(e) >= low && pv.flat(e) <= high) dp.flat(e) += g.flat(e);
      });
}

// log p for probabilities over classes on the last axis, as Keras' categorical
// losses take them: divided by their sum over that axis, then clipped.
template <typename T>
Variable<T> log_class_probabilities(const Variable<T>& p) {
  return xgrad::log(clipped_probabilities(xgrad::div(p, xgrad::sum(p, -1, true))));
}

// −(z log p + (1 − z) log(1 − p)) elementwise, for p in (0, 1).
template <typename T>
Variable<T> probability_crossentropy(const Variable<T>& p, const Variable<T>& z) {
  Array<T> out = Array<T>::from_shape(p.shape());
  for (std::size_t e = 0; e < out.size(); ++e) {
    const T pe = p.value().flat(e), ze = z.value().flat(e);
    out.flat(e) = -(ze * std::log(pe) + (T(1) - ze) * std::log1p(-pe));
  }
  return Variable<T>::from_op(
      std::move(out), {p, z}, "probability_crossentropy",
      [](const Array<T>& g, const Array<T>&, std::vector<Variable<T>>& in) {
        const Array<T>& pv = in[0].value();
        const Array<T>& zv = in[1].value();
        if (in[0].requires_grad()) {
          Array<T>& dp = in[0].grad_buffer();
          for (std::size_t e = 0; e < dp.size(); ++e)
            dp.flat(e) += g.flat(e) * ((T(1) - zv.flat(e)) / (T(1) - pv.flat(e)) - zv.flat(e) / pv.flat(e));
        }
        if (in[1].requires_grad()) {
          Array<T>& dz = in[1].grad_buffer();
          for (std::size_t e = 0; e < dz.size(); ++e)
            dz.flat(e) -= g.flat(e) * (std::log(pv.flat(e)) - std::log1p(-pv.flat(e)));
        }
      });
}

// Each sample's label as an index into the last axis of `values` [..., C];
// throws naming `op` unless labels have values' shape without its last
// axis, are not empty, and lie in [0, C).
template <typename T>
std::vector<std::size_t> label_indices(const Variable<T>& values, const xt::xarray<std::int64_t>& labels,
                                       const char* op, const char* what) {
  const auto& shape = values.shape();
  if (shape.empty() || labels.dimension() + 1 != shape.size() ||
      !std::equal(labels.shape().begin(), labels.shape().end(), shape.begin())) {
    throw std::invalid_argument(std::string(op) + ": " + what + " of shape " + shape_to_string(shape) +
                                " need labels of the shape without the class axis, got labels "
                                "of shape " + shape_to_string(labels.shape()));
  }
  check_not_empty(labels.shape(), op, "labels");
  const auto classes = static_cast<std::int64_t>(shape.back());
  std::vector<std::size_t> index(labels.size());
  for (std::size_t n = 0; n < labels.size(); ++n) {
    const std::int64_t label = labels.flat(n);
    if (label < 0 || label >= classes) {
      throw std::invalid_argument(std::string(op) + ": label " + std::to_string(label) +
                                  " at flat index " + std::to_string(n) +
                                  " is out of range for " + std::to_string(classes) + " classes (" + what +
                                  " of shape " + shape_to_string(shape) + ")");
    }
    index[n] = static_cast<std::size_t>(label);
  }
  return index;
}

// The mean over every element of pointwise(y_pred − y_true), each weighted
// by its sample's weight when given.
template <typename T, typename Pointwise>
Variable<T> mean_of_errors(const Variable<T>& y_pred, const Variable<T>& y_true, const Array<T>* sample_weight,
                           const char* loss, Pointwise pointwise) {
  const LayerScope scope(loss);  // names its ops for DetectAnomaly
  const auto [pred, target] = in_same_rank(y_pred, y_true, loss, "y_pred", "y_true");
  return reduced(pointwise(xgrad::sub(pred, target)), sample_weight, elementwise_sample_rank(pred), loss);
}

// Targets and predictions over classes on the last axis ([..., C]), as the
// categorical losses take them: shapes as in_same_rank's, of rank 1 or more
// (the class axis), except that a [N] side against a [N, 1] one is compared
// as [N, 1], as Keras expands it (squeezed, the N samples would become the
// classes of one). Returns the pair and the number of samples (the rows
// over C).
template <typename T>
std::pair<std::pair<Variable<T>, Variable<T>>, std::size_t> class_rows(const Variable<T>& values,
                                                                      const Variable<T>& targets,
                                                                      const char* loss, const char* what) {
  auto pair = in_same_rank(values, targets, loss, what, "targets");
  if (values.dimension() != targets.dimension() && pair.first.dimension() == 1) {
    const Shape column{pair.first.shape()[0], 1};
    pair = {xgrad::reshape(pair.first, column), xgrad::reshape(pair.second, column)};
  }
  const auto& shape = pair.first.shape();
  if (shape.empty()) {
    throw std::invalid_argument(std::string(loss) + ": " + what + " of shape () have no class axis; they " +
                                "need shape [..., C]");
  }
  const std::size_t samples = element_count(shape) / shape.back();
  return {std::move(pair), samples};
}

// −sum(targets · log_p) / samples: the mean over samples of each one's
// cross-entropy, as one sum; with sample weights, the samples' cross-entropies
// weighted, then reduced.
template <typename T>
Variable<T> mean_row_crossentropy(const Variable<T>& log_p, const Variable<T>& targets, std::size_t samples,
                                  const Array<T>* sample_weight, const char* loss) {
  const Variable<T> products = xgrad::mul(targets, log_p);
  if (!sample_weight) return xgrad::scale(xgrad::sum(products), T(-1) / static_cast<T>(samples));
  const Variable<T> rows = xgrad::neg(xgrad::sum(products, -1));
  return reduced(rows, sample_weight, rows.dimension(), loss);
}

// −mean(picked): the mean over samples of −log p[label] from each one's
// picked log p, weighted when sample weights are given.
template <typename T>
Variable<T> mean_label_crossentropy(const Variable<T>& picked, const Array<T>* sample_weight, const char* loss) {
  if (!sample_weight) return xgrad::scale(xgrad::sum(picked), T(-1) / static_cast<T>(picked.size()));
  return reduced(xgrad::neg(picked), sample_weight, picked.dimension(), loss);
}

}  // namespace

namespace detail {

template <typename T>
Variable<T> mean_absolute_error(const Variable<T>& y_pred, const Variable<T>& y_true, const Array<T>* sample_weight) {
  return mean_of_errors(y_pred, y_true, sample_weight, "mean_absolute_error",
                        [](const Variable<T>& d) { return xgrad::abs(d); });
}

template <typename T>
Variable<T> mean_squared_error(const Variable<T>& y_pred, const Variable<T>& y_true, const Array<T>* sample_weight) {
  return mean_of_errors(y_pred, y_true, sample_weight, "mean_squared_error",
                        [](const Variable<T>& d) { return xgrad::square(d); });
}

template <typename T>
Variable<T> categorical_crossentropy_from_logits(const Variable<T>& logits, const Variable<T>& targets,
                                                 const Array<T>* sample_weight) {
  const char* loss = "categorical_crossentropy_from_logits";
  const LayerScope scope(loss);
  const auto [pair, samples] = class_rows(logits, targets, loss, "logits");
  return mean_row_crossentropy(xgrad::log_softmax(pair.first, -1), pair.second, samples, sample_weight, loss);
}

template <typename T>
Variable<T> categorical_crossentropy(const Variable<T>& probabilities, const Variable<T>& targets,
                                     const Array<T>* sample_weight) {
  const char* loss = "categorical_crossentropy";
  const LayerScope scope(loss);
  const auto [pair, samples] = class_rows(probabilities, targets, loss, "probabilities");
  return mean_row_crossentropy(log_class_probabilities(pair.first), pair.second, samples, sample_weight, loss);
}

template <typename T>
Variable<T> binary_crossentropy_from_logits(const Variable<T>& logits, const Variable<T>& targets,
                                            const Array<T>* sample_weight) {
  const char* loss = "binary_crossentropy_from_logits";
  const LayerScope scope(loss);
  const auto [x, z] = in_same_rank(logits, targets, loss, "logits", "targets");
  return reduced(sigmoid_crossentropy(x, z), sample_weight, elementwise_sample_rank(x), loss);
}

template <typename T>
Variable<T> binary_crossentropy(const Variable<T>& y_pred, const Variable<T>& y_true, const Array<T>* sample_weight) {
  const char* loss = "binary_crossentropy";
  const LayerScope scope(loss);
  const auto [p, z] = in_same_rank(y_pred, y_true, loss, "y_pred", "y_true");
  return reduced(probability_crossentropy(clipped_probabilities(p), z), sample_weight, elementwise_sample_rank(p),
                 loss);
}

template <typename T>
Variable<T> sparse_categorical_crossentropy_from_logits(const Variable<T>& logits,
                                                        const xt::xarray<std::int64_t>& labels,
                                                        const Array<T>* sample_weight) {
  const char* op = "sparse_categorical_crossentropy_from_logits";
  std::vector<std::size_t> index = label_indices(logits, labels, op, "logits");
  const LayerScope scope(op);
  const Variable<T> picked =
      pick_labels(xgrad::log_softmax(logits, -1), std::move(index), to_shape(labels.shape()));
  return mean_label_crossentropy(picked, sample_weight, op);
}

template <typename T>
Variable<T> sparse_categorical_crossentropy(const Variable<T>& probabilities, const xt::xarray<std::int64_t>& labels,
                                            const Array<T>* sample_weight) {
  const char* op = "sparse_categorical_crossentropy";
  std::vector<std::size_t> index = label_indices(probabilities, labels, op, "probabilities");
  const LayerScope scope(op);
  const Variable<T> picked = pick_labels(log_class_probabilities(probabilities), std::move(index),
                                         to_shape(labels.shape()));
  return mean_label_crossentropy(picked, sample_weight, op);
}

}  // namespace detail

template <typename T>
Variable<T> mean_absolute_error(const Variable<T>& y_pred, const Variable<T>& y_true) {
  return detail::mean_absolute_error<T>(y_pred, y_true, nullptr);
}

template <typename T>
Variable<T> mean_squared_error(const Variable<T>& y_pred, const Variable<T>& y_true) {
  return detail::mean_squared_error<T>(y_pred, y_true, nullptr);
}

template <typename T>
Variable<T> categorical_crossentropy_from_logits(const Variable<T>& logits, const Variable<T>& targets) {
  return detail::categorical_crossentropy_from_logits<T>(logits, targets, nullptr);
}

template <typename T>
Variable<T> categorical_crossentropy(const Variable<T>& probabilities, const Variable<T>& targets) {
  return detail::categorical_crossentropy<T>(probabilities, targets, nullptr);
}

template <typename T>
Variable<T> binary_crossentropy_from_logits(const Variable<T>& logits, const Variable<T>& targets) {
  return detail::binary_crossentropy_from_logits<T>(logits, targets, nullptr);
}

template <typename T>
Variable<T> binary_crossentropy(const Variable<T>& y_pred, const Variable<T>& y_true) {
  return detail::binary_crossentropy<T>(y_pred, y_true, nullptr);
}

template <typename T>
Variable<T> sparse_categorical_crossentropy_from_logits(const Variable<T>& logits,
                                                        const xt::xarray<std::int64_t>& labels) {
  return detail::sparse_categorical_crossentropy_from_logits<T>(logits, labels, nullptr);
}

template <typename T>
Variable<T> sparse_categorical_crossentropy(const Variable<T>& probabilities,
                                            const xt::xarray<std::int64_t>& labels) {
  return detail::sparse_categorical_crossentropy<T>(probabilities, labels, nullptr);
}

template <typename T>
Variable<T> sparse_categorical_crossentropy_from_logits(const Variable<T>& logits,
                                                        const xt::xarray<std::int32_t>& labels) {
  const xt::xarray<std::int64_t> wide = xt::cast<std::int64_t>(labels);
  return sparse_categorical_crossentropy_from_logits(logits, wide);
}

template <typename T>
Variable<T> sparse_categorical_crossentropy_from_logits(const Variable<T>& logits,
                                                        const std::vector<std::int64_t>& labels) {
  xt::xarray<std::int64_t> as_array = xt::xarray<std::int64_t>::from_shape({labels.size()});
  std::copy(labels.begin(), labels.end(), as_array.begin());
  return sparse_categorical_crossentropy_from_logits(logits, as_array);
}

#define XGRAD_INSTANTIATE_LOSSES(T)                                                            \
  template Variable<T> mean_squared_error(const Variable<T>&, const Variable<T>&);            \
  template Variable<T> mean_absolute_error(const Variable<T>&, const Variable<T>&);           \
  template Variable<T> categorical_crossentropy_from_logits(const Variable<T>&, const Variable<T>&); \
  template Variable<T> categorical_crossentropy(const Variable<T>&, const Variable<T>&);      \
  template Variable<T> binary_crossentropy_from_logits(const Variable<T>&, const Variable<T>&); \
  template Variable<T> sparse_categorical_crossentropy_from_logits(                           \
      const Variable<T>&, const xt::xarray<std::int64_t>&);                                   \
  template Variable<T> sparse_categorical_crossentropy_from_logits(                           \
      const Variable<T>&, const xt::xarray<std::int32_t>&);                                   \
  template Variable<T> sparse_categorical_crossentropy_from_logits(                           \
      const Variable<T>&, const std::vector<std::int64_t>&);                                  \
  template Variable<T> binary_crossentropy(const Variable<T>&, const Variable<T>&);           \
  template Variable<T> sparse_categorical_crossentropy(const Variable<T>&, const xt::xarray<std::int64_t>&); \
  template Variable<T> detail::mean_squared_error(const Variable<T>&, const Variable<T>&, const Array<T>*);   \
  template Variable<T> detail::mean_absolute_error(const Variable<T>&, const Variable<T>&, const Array<T>*);  \
  template Variable<T> detail::binary_crossentropy_from_logits(const Variable<T>&, const Variable<T>&,       \
                                                               const Array<T>*);                             \
  template Variable<T> detail::binary_crossentropy(const Variable<T>&, const Variable<T>&, const Array<T>*);  \
  template Variable<T> detail::categorical_crossentropy_from_logits(const Variable<T>&, const Variable<T>&,   \
                                                                    const Array<T>*);                        \
  template Variable<T> detail::categorical_crossentropy(const Variable<T>&, const Variable<T>&, const Array<T>*); \
  template Variable<T> detail::sparse_categorical_crossentropy_from_logits(                                  \
      const Variable<T>&, const xt::xarray<std::int64_t>&, const Array<T>*);                                 \
  template Variable<T> detail::sparse_categorical_crossentropy(const Variable<T>&, const xt::xarray<std::int64_t>&, \
                                                               const Array<T>*);
XGRAD_INSTANTIATE_LOSSES(float)
XGRAD_INSTANTIATE_LOSSES(double)
#undef XGRAD_INSTANTIATE_LOSSES

}  // namespace xgrad::nn
