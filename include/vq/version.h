// Library version and the .vqc container format version.
#pragma once

#define VQ_VERSION_MAJOR 0
#define VQ_VERSION_MINOR 1
#define VQ_VERSION_PATCH 0

#include "vq/core/container.h"  // kContainerVersion
