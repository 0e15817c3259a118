#include "vq/core/limits.h"

#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "kernels/distances.h"

namespace vq {
namespace {

// 0: no process-wide override (the environment or the default applies).
std::atomic<uint64_t> g_override{0};

std::string human(uint64_t bytes) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 6) v /= 1024, ++u;
  return u == 0 ? detail::concat(bytes, " bytes") : detail::concat(std::round(v * 10) / 10, " ", units[u]);
}

}  // namespace

uint64_t parse_byte_size(const std::string& text, const std::string& source) {
  size_t end = 0;
  uint64_t value = 0;
  bool ok = !text.empty() && std::isdigit(static_cast<unsigned char>(text[0]));
  while (ok && end < text.size() && std::isdigit(static_cast<unsigned char>(text[end]))) {
    const uint64_t digit = static_cast<uint64_t>(text[end] - '0');
    ok = value <= (std::numeric_limits<uint64_t>::max() - digit) / 10;
    value = value * 10 + digit;
    ++end;
  }
  int shift = 0;
  if (ok && end < text.size()) {
    switch (std::toupper(static_cast<unsigned char>(text[end]))) {
      case 'K': shift = 10; break;
      case 'M': shift = 20; break;
      case 'G': shift = 30; break;
      case 'T': shift = 40; break;
      default: ok = false;
    }
    ++end;
    // "4G", "4GB", "4GiB" all mean the same.
    if (ok && end < text.size() && (text.substr(end) == "B" || text.substr(end) == "b" || text.substr(end) == "iB"))
      end = text.size();
  }
  ok = ok && end == text.size() && value > 0 && value <= (std::numeric_limits<uint64_t>::max() >> shift);
  VQ_CHECK(ok, source, ": '", text, "' is not a size in bytes (e.g. 1073741824, 512M, 4G)");
  return value << shift;
}

void set_max_decoded_bytes(uint64_t bytes) { g_override.store(bytes); }

uint64_t max_decoded_bytes() {
  if (const uint64_t o = g_override.load()) return o;
  if (const char* env = std::getenv("VQ_MAX_DECODED_BYTES"); env && *env)
    return parse_byte_size(env, "VQ_MAX_DECODED_BYTES");
  return kDefaultMaxDecodedBytes;
}

uint64_t saturating_product(std::initializer_list<uint64_t> factors) {
  uint64_t p = 1;
  for (uint64_t f : factors) {
    if (f != 0 && p > std::numeric_limits<uint64_t>::max() / f) return std::numeric_limits<uint64_t>::max();
    p *= f;
  }
  return p;
}

void check_decoded_size(uint64_t bytes, const std::string& what) {
  const uint64_t limit = max_decoded_bytes();
  VQ_CHECK(bytes <= limit, what, ": decodes to ", human(bytes), ", above the decoded-size limit of ", human(limit),
           " (raise it with --max-decoded-bytes or VQ_MAX_DECODED_BYTES if the input is trusted)");
}

void check_squared_norms(MatrixView<const float> x, const std::string& who, size_t first_row) {
  for (size_t i = 0; i < x.rows(); ++i) {
    // In float through the dispatched kernel (this runs on every row the encoders see): a
    // norm far above the limit overflows to inf, which fails the comparison as NaN does.
    const float* r = x.row_ptr(i);
    const double s = kernels::dot(r, r, x.cols());
    VQ_CHECK(s <= kMaxSquaredNorm, who, ": row ", first_row + i, " has squared norm ", s, ", above the supported ",
             kMaxSquaredNorm, " (values up to about 1e15); distances in float would overflow: rescale the data");
  }
}

}  // namespace vq
