#include "vq/simd.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "kernels/isa.h"

namespace vq {

namespace {

SimdLevel detect_cpu() {
#if VQ_ISA_X86
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                    __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2") &&
                    __builtin_cpu_supports("popcnt");
  if (!avx2) return SimdLevel::kScalar;
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
                      __builtin_cpu_supports("avx512vbmi");
  return avx512 ? SimdLevel::kAvx512 : SimdLevel::kAvx2;
#else
  return SimdLevel::kScalar;
#endif
}

SimdLevel detect_level() {
  SimdLevel level = simd_cpu_level();
  // VQ_SIMD_LEVEL is the variable's older name, still honoured.
  const char* env = std::getenv("VQ_SIMD");
  if (!env || !*env) env = std::getenv("VQ_SIMD_LEVEL");
  if (!env || !*env) return level;
  for (SimdLevel cap : {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512})
    if (std::strcmp(env, simd_level_name(cap)) == 0) return std::min(level, cap);
  std::fprintf(stderr, "vqcodec: ignoring VQ_SIMD=%s (expected scalar, avx2 or avx512)\n", env);
  return level;
}

}  // namespace

SimdLevel simd_cpu_level() {
  static const SimdLevel level = detect_cpu();
  return level;
}

SimdLevel simd_level() {
  static const SimdLevel level = detect_level();
  return level;
}

const char* simd_level_name(SimdLevel level) {
  switch (level) {
    case SimdLevel::kScalar: return "scalar";
    case SimdLevel::kAvx2: return "avx2";
    case SimdLevel::kAvx512: return "avx512";
  }
  return "unknown";
}

}  // namespace vq
