#include "vq/core/error.h"

#include <cstring>

namespace vq::detail {

void throw_error(const char* file, int line, const std::string& msg) {
  // Only the file's base name: full build paths make messages noisy and machine-specific.
  const char* base = std::strrchr(file, '/');
  throw Error(msg + " [" + (base ? base + 1 : file) + ":" + std::to_string(line) + "]");
}

}  // namespace vq::detail
