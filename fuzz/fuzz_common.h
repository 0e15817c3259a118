// Helpers shared by the fuzz targets.
//
// The contract every target checks: whatever the bytes, a reader returns normally or throws
// vq::Error. A crash, a sanitizer report, any other exception (libFuzzer reports an uncaught
// exception as a crash), a hang or an allocation over the fuzzer's limit is a bug.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "vq/error.h"
#include "vq/types.h"

namespace vq::fuzz {

// Runs f, treating vq::Error as the clean rejection it is; everything else propagates.
template <class F>
void expect_clean(F&& f) {
  try {
    f();
  } catch (const vq::Error&) {
  }
}

inline Span<const uint8_t> bytes_of(const uint8_t* data, size_t size) { return {data, size}; }

// The input with every chunk CRC of the .vqc framing recomputed, as far as the framing parses.
// Random mutations almost never keep a CRC-32 valid, so without this the container would reject
// nearly every input at the checksum and the payload readers behind it would go unexercised.
inline std::vector<uint8_t> with_valid_crcs(const uint8_t* data, size_t size) {
  std::vector<uint8_t> out(data, data + size);
  size_t pos = 16;  // magic, version, flags
  while (pos + 12 <= out.size()) {
    uint64_t length = 0;
    for (int i = 0; i < 8; ++i) length |= uint64_t(out[pos + 4 + i]) << (8 * i);
    if (length > out.size() - pos - 12 || out.size() - pos - 12 - length < 4) break;
    uLong crc = crc32(0L, out.data() + pos, 4);
    if (length > 0) crc = crc32(crc, out.data() + pos + 12, static_cast<uInt>(length));
    const size_t at = pos + 12 + length;
    for (int i = 0; i < 4; ++i) out[at + i] = static_cast<uint8_t>(crc >> (8 * i));
    pos = at + 4;
  }
  return out;
}

// The bundled models' folder: $VQ_MODELS_DIR, else the source tree's models/.
inline std::string models_dir() {
  const char* env = std::getenv("VQ_MODELS_DIR");
  return env && *env ? std::string(env) : std::string(VQ_FUZZ_MODELS_DIR);
}

}  // namespace vq::fuzz
