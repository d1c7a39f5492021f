// The activation kernels for a target other than x86-64 (aarch64: NEON),
// compiled once for the compiler's own instruction set
// (activation_kernels.hpp).

#include "activation_kernels_impl.hpp"

#if !XGRAD_X86_KERNELS
namespace xgrad::kernels {
XGRAD_FOR_EACH_KERNEL_AND_TYPE(XGRAD_KERNEL_INSTANCES, xsimd::default_arch)
XGRAD_FOR_EACH_BINARY(XGRAD_BINARY_INSTANCES_OF, xsimd::default_arch)
XGRAD_LSTM_INSTANCES(float, xsimd::default_arch)
XGRAD_LSTM_INSTANCES(double, xsimd::default_arch)
XGRAD_GRU_INSTANCES(float, xsimd::default_arch)
XGRAD_GRU_INSTANCES(double, xsimd::default_arch)
}  // namespace xgrad::kernels
#endif
