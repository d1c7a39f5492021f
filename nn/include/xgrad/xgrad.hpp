#pragma once
// Everything xgrad offers, in one include.

#include "xgrad/tensor/blas.hpp"
#include "xgrad/tensor/file_io.hpp"
#include "xgrad/tensor/format.hpp"
#include "xgrad/tensor/npy.hpp"
#include "xgrad/tensor/shape.hpp"
#include "xgrad/tensor/tensor.hpp"

#include "xgrad/autograd/gradcheck.hpp"
#include "xgrad/autograd/math_ops.hpp"
#include "xgrad/autograd/ops.hpp"
#include "xgrad/autograd/variable.hpp"

#include "xgrad/nn/activation.hpp"
#include "xgrad/nn/checkpoint.hpp"
#include "xgrad/nn/data.hpp"
#include "xgrad/nn/dense.hpp"
#include "xgrad/nn/history.hpp"
#include "xgrad/nn/initializers.hpp"
#include "xgrad/nn/losses.hpp"
#include "xgrad/nn/module.hpp"
#include "xgrad/nn/optimizers.hpp"
#include "xgrad/nn/options.hpp"
#include "xgrad/nn/progress.hpp"
#include "xgrad/nn/sequential.hpp"
#include "xgrad/nn/simple_rnn.hpp"
#include "xgrad/nn/simple_rnn_sequence.hpp"
