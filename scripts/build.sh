#!/usr/bin/env bash
# Configures and builds vqcodec (Release, portable: baseline x86-64 with run-time SIMD dispatch)
# into ${VQ_BUILD_DIR:-build}. Extra arguments go to CMake, e.g. -DVQ_NATIVE=ON.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${VQ_BUILD_DIR:-build}
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release "$@"
elif [ $# -gt 0 ]; then
  cmake "$build_dir" "$@"
fi
cmake --build "$build_dir" -j"$(nproc)"
