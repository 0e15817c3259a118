// The SIMD level the library's kernels run at.
//
// The library, the CLI and the Python module are compiled for baseline x86-64, so a build runs
// on any x86-64 CPU. Only the kernel files src/kernels/*_avx2.cpp and *_avx512.cpp hold code
// for more (each inside one VQ_ISA region, kernels/isa.h), and the dispatching functions call
// them only when simd_level() allows. The level is chosen once per process: the best the CPU
// supports, capped by the environment variable VQ_SIMD=scalar|avx2|avx512, so that tests and
// benchmarks can run every level this CPU has.
//
//   kAvx2    AVX2, FMA, BMI1/2, F16C, LZCNT, POPCNT (Intel Haswell, AMD Zen and later)
//   kAvx512  kAvx2 plus AVX-512 F, BW, DQ, VL and VBMI (Intel Ice Lake, AMD Zen 4 and later;
//            AVX-512 CPUs without VBMI, such as Skylake-SP, run at kAvx2)
//
// Kernels that sum in a fixed order give the same bits at every level (their headers say so);
// the others differ in the last bits only.
#pragma once

#include <cstdint>

namespace vq {

enum class SimdLevel : uint8_t { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

// The level the kernels use: min(simd_cpu_level(), VQ_SIMD). An unknown VQ_SIMD value is
// reported once on stderr and ignored.
SimdLevel simd_level();
// The best level this CPU supports.
SimdLevel simd_cpu_level();
// "scalar", "avx2", "avx512".
const char* simd_level_name(SimdLevel level);

}  // namespace vq
