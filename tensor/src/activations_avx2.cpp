// The activation kernels for avx2 (activation_kernels.hpp).

#include "activation_kernels_impl.hpp"

#if XGRAD_X86_KERNELS
namespace xgrad::kernels {
XGRAD_ALL_INSTANCES(xsimd::avx2)
}  // namespace xgrad::kernels
#endif
