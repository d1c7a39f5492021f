// The activation kernels for sse2 (activation_kernels.hpp).

#include "activation_kernels_impl.hpp"

#if XGRAD_X86_KERNELS
namespace xgrad::kernels {
XGRAD_ALL_INSTANCES(xsimd::sse2)
}  // namespace xgrad::kernels
#endif
