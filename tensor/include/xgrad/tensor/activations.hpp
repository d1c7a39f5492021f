#pragma once
// Elementwise activation kernels over contiguous memory, vectorised with
// xsimd. The ops (tanh, sigmoid, relu) and the fused SimpleRNN both use them:
// glibc's scalar tanhf alone took 70% of a small RNN's forward pass.

#include <cstddef>

namespace xgrad {

void tanh_in_place(float* values, std::size_t n);
void tanh_in_place(double* values, std::size_t n);
// 1 / (1 + e^-x), with no overflow for large |x|.
void sigmoid_in_place(float* values, std::size_t n);
void sigmoid_in_place(double* values, std::size_t n);
void relu_in_place(float* values, std::size_t n);
void relu_in_place(double* values, std::size_t n);

}  // namespace xgrad
