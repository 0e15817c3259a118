// vq::Error and the VQ_CHECK family: the one way the library reports bad input.
//
// Every public entry point validates its arguments and throws vq::Error with a message that
// says what was expected and where (argument name, file, chunk, byte offset). Nothing in the
// library calls abort() on user error: a Python process that loads us must survive bad input.
// VQ_DCHECK is for internal invariants inside hot loops and compiles out in release builds.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace vq {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {
[[noreturn]] void throw_error(const char* file, int line, const std::string& msg);

// Builds a message from stream-able parts: VQ_CHECK(n > 0, "n must be > 0, got ", n).
template <class... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  return os.str();
}
}  // namespace detail

}  // namespace vq

// Throws vq::Error("<message>") when cond is false; with VQ_DEBUG=1 in the environment the
// message ends in " [file:line]", where the check sits.
#define VQ_CHECK(cond, ...)                                                         \
  do {                                                                              \
    if (!(cond)) ::vq::detail::throw_error(__FILE__, __LINE__,                       \
                                           ::vq::detail::concat(__VA_ARGS__));      \
  } while (0)

#define VQ_THROW(...) ::vq::detail::throw_error(__FILE__, __LINE__, ::vq::detail::concat(__VA_ARGS__))

#ifdef NDEBUG
#define VQ_DCHECK(cond) ((void)0)
#else
#define VQ_DCHECK(cond) VQ_CHECK(cond, "internal invariant failed: " #cond)
#endif
