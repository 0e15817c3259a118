// AVX2 build of the distance loops (distances_loops.inc): 8-float registers, FMA for
// within_bound's fused multiply-add.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/distances.h"
#include "kernels/isa.h"

#if VQ_ISA_X86
VQ_ISA_AVX2_BEGIN
namespace vq::kernels::avx2 {
inline constexpr size_t kFloatLanes = 8;
#include "kernels/distances_loops.inc"
}  // namespace vq::kernels::avx2
VQ_ISA_END
#endif
