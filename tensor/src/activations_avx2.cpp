// The activation kernels for avx2 (activation_kernels.hpp).

#include "activation_kernels_impl.hpp"

#if XGRAD_X86_KERNELS
namespace xgrad::kernels {
XGRAD_FOR_EACH_KERNEL_AND_TYPE(XGRAD_KERNEL_INSTANCES, xsimd::avx2)
XGRAD_FOR_EACH_BINARY(XGRAD_BINARY_INSTANCES_OF, xsimd::avx2)
XGRAD_LSTM_INSTANCES(float, xsimd::avx2)
XGRAD_LSTM_INSTANCES(double, xsimd::avx2)
XGRAD_GRU_INSTANCES(float, xsimd::avx2)
XGRAD_GRU_INSTANCES(double, xsimd::avx2)
}  // namespace xgrad::kernels
#endif
