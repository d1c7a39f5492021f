// The activation kernels for avx512f (activation_kernels.hpp).

#include "activation_kernels_impl.hpp"

#if XGRAD_X86_KERNELS
namespace xgrad::kernels {
XGRAD_ALL_INSTANCES(xsimd::avx512f)
}  // namespace xgrad::kernels
#endif
