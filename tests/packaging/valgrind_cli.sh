#!/usr/bin/env bash
# The CLI under valgrind --tool=none (no AVX-512 in valgrind's CPU): --version, then a small
# train / encode / decode, so generic code (argument parsing, file I/O, k-means, the container)
# runs. SIGILL from an AVX-512 instruction outside the kernels fails the test.
set -euo pipefail
valgrind=$1 vq=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run() { "$valgrind" --tool=none --error-exitcode=1 -q "$vq" "$@"; }
run --version
/usr/bin/python3 -c "import numpy as np; np.save('$work/x.npy', np.random.default_rng(0).standard_normal((500, 16)).astype(np.float32))"
run train "$work/x.npy" -o "$work/m.vqc" --quantizer PQ4x4 --iters 3 --quiet
run encode "$work/x.npy" -m "$work/m.vqc" -o "$work/c.vqc"
run decode "$work/c.vqc" -o "$work/y.npy"
echo "valgrind_cli: vq ran under valgrind without SIGILL"
