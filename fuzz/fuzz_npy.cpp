// .npy through the strict header parser and the conversion to a float matrix that vq train,
// vq encode and vq weights --calib apply to it.
#include "fuzz_common.h"
#include "vq/core/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto bytes = vq::fuzz::bytes_of(data, size);
  vq::fuzz::expect_clean([&] { (void)vq::read_npy_from_bytes(bytes, "fuzz.npy"); });
  vq::fuzz::expect_clean([&] { (void)vq::read_matrix_npy_from_bytes(bytes, "fuzz.npy"); });
  return 0;
}
