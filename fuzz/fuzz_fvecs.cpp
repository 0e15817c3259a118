// TEXMEX .fvecs (SIFT1M and friends): records of int32 d + d float32.
#include "fuzz_common.h"
#include "vq/core/matrix_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vq::fuzz::expect_clean([&] { (void)vq::read_matrix_from_bytes(vq::fuzz::bytes_of(data, size), "fuzz.fvecs"); });
  return 0;
}
