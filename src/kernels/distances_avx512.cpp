// AVX-512 build of the distance loops (distances_loops.inc, 16-float registers) and the
// candidate selection of pruned searches (distances.h, within_bound) with compress stores.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/distances.h"
#include "kernels/isa.h"

#if VQ_ISA_X86
VQ_ISA_AVX512_BEGIN
namespace vq::kernels::avx512 {

inline constexpr size_t kFloatLanes = 16;
#include "kernels/distances_loops.inc"

// 16 bounds per compare; the passing lanes' indices are packed into out by one compress store,
// so the list costs no branch per entry (the scalar loop's unpredictable branch was a third of
// the image tokenizer's search).
size_t within_bound(const float* t, const float* w, float slack, float limit, size_t n, int32_t* out) {
  const __m512 vslack = _mm512_set1_ps(slack), vlimit = _mm512_set1_ps(limit);
  __m512i index = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i sixteen = _mm512_set1_epi32(16);
  size_t count = 0;
  for (size_t j = 0; j < n; j += 16) {
    const __mmask16 live = n - j >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - j)) - 1);
    const __m512 lower = _mm512_fnmadd_ps(vslack, _mm512_maskz_loadu_ps(live, w + j), _mm512_maskz_loadu_ps(live, t + j));
    const __mmask16 pass = _mm512_mask_cmp_ps_mask(live, lower, vlimit, _CMP_LE_OQ);
    _mm512_mask_compressstoreu_epi32(out + count, pass, index);
    count += size_t(__builtin_popcount(pass));
    index = _mm512_add_epi32(index, sixteen);
  }
  return count;
}

}  // namespace vq::kernels::avx512
VQ_ISA_END
#endif
