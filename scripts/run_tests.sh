#!/usr/bin/env bash
# README command (2): set up, build, and run every test. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
cd "${VQ_BUILD_DIR:-build}"
ctest --output-on-failure -j"$(nproc)" --timeout 600
