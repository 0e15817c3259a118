#!/usr/bin/env bash
# What the portable build costs: bench_simd (apps/bench/bench_simd.cpp) from the default build
# (baseline x86-64, run-time SIMD dispatch) and from a -march=native build of the same source,
# run alternately ROUNDS times on this machine; prints per workload the median of each build,
# the ratio portable / native, and whether both computed the same checksum. Then the portable
# build at each lower SIMD level (VQ_SIMD), to show what the dispatched kernels buy.
#   bash scripts/bench_portable.sh [ROUNDS=5]
# Builds: ${VQ_BUILD_DIR:-build} (portable) and ${VQ_NATIVE_BUILD_DIR:-build-native}.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
portable=${VQ_BUILD_DIR:-build} native=${VQ_NATIVE_BUILD_DIR:-build-native}
[ -f "$portable/CMakeCache.txt" ] || bash scripts/build.sh
cmake --build "$portable" --target bench_simd >/dev/null
if [ ! -f "$native/CMakeCache.txt" ]; then
  cmake -S . -B "$native" -G Ninja -DCMAKE_BUILD_TYPE=Release -DVQ_NATIVE=ON -DVQ_BUILD_TESTS=OFF \
        -DVQ_BUILD_PYTHON=OFF -DVQ_BUILD_APPS=OFF >/dev/null
fi
cmake --build "$native" --target bench_simd >/dev/null
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} OPENBLAS_NUM_THREADS=1
for r in $(seq "$rounds"); do
  "$portable/apps/bench_simd" --reps 3 >"$out/portable.$r"
  "$native/apps/bench_simd" --reps 3 >"$out/native.$r"
done
for level in avx2 scalar; do
  for r in $(seq "$rounds"); do VQ_SIMD=$level "$portable/apps/bench_simd" --reps 3 >"$out/$level.$r"; done
done
/usr/bin/python3 - "$out" "$rounds" <<'PY'
import statistics, sys, collections
out, rounds = sys.argv[1], int(sys.argv[2])
def load(kind):
    t, c = collections.defaultdict(list), {}
    for r in range(1, rounds + 1):
        for line in open(f"{out}/{kind}.{r}"):
            if line.startswith("#"):
                continue
            name, sec, check = line.split()
            t[name].append(float(sec)); c[name] = check
    return {k: statistics.median(v) for k, v in t.items()}, c
p, pc = load("portable"); n, nc = load("native"); a, _ = load("avx2"); s, _ = load("scalar")
print(f"| workload | native ms | portable ms | portable / native | same result | portable at avx2 | at scalar |")
print("|---|---|---|---|---|---|---|")
for k in p:
    print(f"| {k} | {n[k]*1e3:.1f} | {p[k]*1e3:.1f} | {p[k]/n[k]:.3f} | {'yes' if pc[k] == nc[k] else 'no'} "
          f"| {a[k]/p[k]:.2f}x | {s[k]/p[k]:.2f}x |")
PY
