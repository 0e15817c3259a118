#include "core/zstd_frame.h"

#include <zstd.h>

#include <algorithm>
#include <memory>

#include "vq/error.h"

namespace vq::detail {

std::vector<uint8_t> zstd_compress(Span<const uint8_t> raw, int level) {
  VQ_CHECK(level >= 1 && level <= ZSTD_maxCLevel(), "zstd level ", level, " not in 1..", ZSTD_maxCLevel());
  std::vector<uint8_t> out(ZSTD_compressBound(raw.size()));
  const size_t got = ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), level);
  VQ_CHECK(!ZSTD_isError(got), "zstd compression failed: ", ZSTD_getErrorName(got));
  out.resize(got);
  return out;
}

bool is_zstd_frame(Span<const uint8_t> bytes) {
  return bytes.size() >= 4 && bytes[0] == 0x28 && bytes[1] == 0xB5 && bytes[2] == 0x2F && bytes[3] == 0xFD;
}

std::vector<uint8_t> zstd_decompress(Span<const uint8_t> frame, uint64_t max_bytes, const std::string& what) {
  VQ_CHECK(is_zstd_frame(frame), what, ": not a zstd frame");
  // A declared size above the bound is refused up front (a clear message for honest files); a
  // smaller one only sizes the first allocation.
  const unsigned long long declared = ZSTD_getFrameContentSize(frame.data(), frame.size());
  VQ_CHECK(declared != ZSTD_CONTENTSIZE_ERROR, what, ": damaged zstd frame header");
  VQ_CHECK(declared == ZSTD_CONTENTSIZE_UNKNOWN || declared <= max_bytes, what, ": zstd frame holds ", declared,
           " bytes, at most ", max_bytes, " expected");
  const std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> ctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  VQ_CHECK(ctx != nullptr, what, ": out of memory for zstd");
  std::vector<uint8_t> out;
  const uint64_t first = declared == ZSTD_CONTENTSIZE_UNKNOWN ? 0 : declared;
  out.reserve(static_cast<size_t>(std::min<uint64_t>(first, uint64_t{64} * frame.size() + ZSTD_DStreamOutSize())));
  ZSTD_inBuffer in{frame.data(), frame.size(), 0};
  size_t left = 1;  // ZSTD_decompressStream's hint: 0 once the frame is complete
  while (left != 0) {
    const size_t at = out.size();
    const size_t step = ZSTD_DStreamOutSize();
    VQ_CHECK(at <= max_bytes, what, ": zstd data expands past ", max_bytes, " bytes");
    out.resize(at + step);
    ZSTD_outBuffer o{out.data() + at, step, 0};
    const size_t consumed = in.pos;
    left = ZSTD_decompressStream(ctx.get(), &o, &in);
    VQ_CHECK(!ZSTD_isError(left), what, ": damaged zstd data (", ZSTD_getErrorName(left), ")");
    out.resize(at + o.pos);
    // Neither input taken nor output made: the frame is cut short.
    VQ_CHECK(left == 0 || o.pos > 0 || in.pos > consumed, what, ": truncated zstd frame");
  }
  VQ_CHECK(out.size() <= max_bytes, what, ": zstd data expands past ", max_bytes, " bytes");
  VQ_CHECK(in.pos == in.size, what, ": ", in.size - in.pos, " bytes after the zstd frame");
  VQ_CHECK(declared == ZSTD_CONTENTSIZE_UNKNOWN || out.size() == declared, what, ": zstd frame declares ", declared,
           " bytes but holds ", out.size());
  return out;
}

bool zstd_content_starts_with(Span<const uint8_t> frame, Span<const uint8_t> prefix) {
  if (!is_zstd_frame(frame)) return false;
  const std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> ctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  if (!ctx) return false;
  std::vector<uint8_t> head(prefix.size());
  ZSTD_inBuffer in{frame.data(), frame.size(), 0};
  ZSTD_outBuffer out{head.data(), head.size(), 0};
  while (out.pos < out.size) {
    const size_t consumed = in.pos, made = out.pos;
    const size_t left = ZSTD_decompressStream(ctx.get(), &out, &in);
    if (ZSTD_isError(left) || left == 0 || (in.pos == consumed && out.pos == made)) break;
  }
  return out.pos == out.size && std::equal(head.begin(), head.end(), prefix.begin());
}

std::vector<uint8_t> zstd_decompress_exact(Span<const uint8_t> frame, uint64_t size, const std::string& what) {
  std::vector<uint8_t> out = zstd_decompress(frame, size, what);
  VQ_CHECK(out.size() == size, what, ": zstd frame holds ", out.size(), " bytes, expected ", size);
  return out;
}

}  // namespace vq::detail
