// The activation kernels for sse2 (activation_kernels.hpp).

#include "activation_kernels_impl.hpp"

namespace xgrad::kernels {
XGRAD_FOR_EACH_KERNEL_AND_TYPE(XGRAD_KERNEL_INSTANCES, xsimd::sse2)
XGRAD_ADD_IN_PLACE_INSTANCES(xsimd::sse2)
}  // namespace xgrad::kernels
