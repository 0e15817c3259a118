#!/usr/bin/env bash
# The C++ test suite under AddressSanitizer + UBSan (build dir build-asan). Slower than the
# normal suite and not part of CI's time budget; run it before releases and after touching
# parsers or kernels. Python bindings are left out (the interpreter is not instrumented).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
VQ_BUILD_DIR=build-asan bash scripts/build.sh -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVQ_SANITIZE=ON -DVQ_BUILD_PYTHON=OFF
cd build-asan
ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  ctest --output-on-failure -j"$(nproc)" --timeout 900
