#include "vq/version.h"

namespace vq {

const char* version() { return VQ_VERSION_STRING; }

}  // namespace vq
