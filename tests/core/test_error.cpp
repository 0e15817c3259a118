// vq::Error messages say what was wrong with the input and nothing else: the source location
// of the check is added only when VQ_DEBUG asks for it (read once per process, so this test
// runs with it unset, as users do; ctest's environment does not set it).
#include "vq/error.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

namespace vq {
namespace {

TEST(Error, MessageIsTheInputProblemWithoutSourceLocation) {
  ASSERT_EQ(std::getenv("VQ_DEBUG"), nullptr) << "run without VQ_DEBUG";
  const int n = 0;
  try {
    VQ_CHECK(n > 0, "n must be > 0, got ", n);
    FAIL() << "VQ_CHECK did not throw";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "n must be > 0, got 0");
  }
  EXPECT_THROW(VQ_THROW("always"), Error);
}

}  // namespace
}  // namespace vq
