// The message a call fails with, for tests that check what an error says.
#pragma once

#include <functional>
#include <string>

#include "vq/error.h"

namespace vq::testdata {

// f()'s vq::Error message, or "<no error>" when it returns normally.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

}  // namespace vq::testdata
