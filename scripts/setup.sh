#!/usr/bin/env bash
# Installs every Debian 12 package vqcodec needs to build, test and benchmark.
# Idempotent: packages already present are left alone. Needs root (or sudo).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libeigen3-dev libopenblas-dev libfaiss-dev
  libcli11-dev nlohmann-json3-dev libzstd-dev zlib1g-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  pybind11-dev python3-dev python3-numpy python3-pytest
  python3-pip python3-setuptools python3-wheel python3-venv valgrind
  libsndfile1-dev libsamplerate0-dev libfftw3-dev opus-tools sndfile-programs
  libstb-dev libjpeg-dev libjpeg-turbo-progs webp
  libopenmpi-dev openmpi-bin python3-mpi4py
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
