// The activation kernels for avx512f (activation_kernels.hpp).

#include "activation_kernels_impl.hpp"

#if XGRAD_X86_KERNELS
namespace xgrad::kernels {
XGRAD_FOR_EACH_KERNEL_AND_TYPE(XGRAD_KERNEL_INSTANCES, xsimd::avx512f)
XGRAD_FOR_EACH_BINARY(XGRAD_BINARY_INSTANCES_OF, xsimd::avx512f)
XGRAD_LSTM_INSTANCES(float, xsimd::avx512f)
XGRAD_LSTM_INSTANCES(double, xsimd::avx512f)
XGRAD_GRU_INSTANCES(float, xsimd::avx512f)
XGRAD_GRU_INSTANCES(double, xsimd::avx512f)
}  // namespace xgrad::kernels
#endif
