#include "vq/error.h"

#include <cstdlib>
#include <cstring>

namespace vq::detail {

namespace {

// VQ_DEBUG=1 (any value but "0" or empty) adds the throwing source location to messages. Off by
// default: users read what was wrong with their input, not where in our code it was noticed.
bool with_location() {
  static const bool on = [] {
    const char* v = std::getenv("VQ_DEBUG");
    return v != nullptr && *v != '\0' && std::strcmp(v, "0") != 0;
  }();
  return on;
}

}  // namespace

void throw_error(const char* file, int line, const std::string& msg) {
  if (!with_location()) throw Error(msg);
  // Only the file's base name: full build paths make messages noisy and machine-specific.
  const char* base = std::strrchr(file, '/');
  throw Error(msg + " [" + (base ? base + 1 : file) + ":" + std::to_string(line) + "]");
}

}  // namespace vq::detail
