#!/usr/bin/env bash
# README command (1): set up, build, and run the main job on a bundled default.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
"${VQ_BUILD_DIR:-build}/apps/vq" demo "$@"
