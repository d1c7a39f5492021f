// The activation kernels for a target other than x86-64 (aarch64: NEON),
// compiled once for the compiler's own instruction set
// (activation_kernels.hpp).

#include "activation_kernels_impl.hpp"

#if !XGRAD_X86_KERNELS
namespace xgrad::kernels {
XGRAD_ALL_INSTANCES(xsimd::default_arch)
}  // namespace xgrad::kernels
#endif
