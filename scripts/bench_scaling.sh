#!/usr/bin/env bash
# Strong scaling of distributed training and encoding: `mpirun -np R vq train` and `vq encode`
# on one generated file for R = 1, 2 and 4 ranks (4 oversubscribed on a 2-core machine, said
# so), one thread per rank, ROUNDS interleaved rounds, medians. Prints per quantizer the time
# at each rank count (training; reading, encoding and gathering the codes), the speed-up over
# one rank, the relative error (equal at every R: the same model), the peak resident memory per
# rank, and the bytes each rank sends per k-means iteration.
#   bash scripts/bench_scaling.sh [ROUNDS=3] [ROWS=100000] [DIM=128]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3} rows=${2:-100000} dim=${3:-128}
build=${VQ_BUILD_DIR:-build}
[ -x "$build/apps/vq" ] || bash scripts/build.sh
command -v mpirun >/dev/null || { echo "bench_scaling: mpirun not found (apt-get install openmpi-bin)"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
/usr/bin/python3 - "$work/x.npy" "$rows" "$dim" <<'PY'
import sys
import numpy as np
n, d = int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(12)
# Clustered, anisotropic: 200 centres, per-dimension spread decaying with the index.
centres = rng.normal(size=(200, d)) * 2.0
scale = 1.0 / np.sqrt(1.0 + np.arange(d))
np.save(sys.argv[1], (centres[rng.integers(0, 200, n)] + rng.normal(size=(n, d)) * scale).astype(np.float32))
PY
specs=(VQ10 PQ16x8 RVQ4x8b4)
iters=(10 20 10)
for r in $(seq "$rounds"); do
  for i in "${!specs[@]}"; do
    for ranks in 1 2 4; do
      mpirun -np "$ranks" --oversubscribe /usr/bin/time -f "rss_kb %M" "$build/apps/vq" train "$work/x.npy" \
        -o "$work/m.vqc" -q "${specs[$i]}" --iters "${iters[$i]}" --threads 1 --quiet \
        >"$work/${specs[$i]}.$ranks.$r" 2>&1
      [ "$ranks" = 1 ] && cp "$work/m.vqc" "$work/${specs[$i]}.vqc"
      mpirun -np "$ranks" --oversubscribe /usr/bin/time -f "rss_kb %M" "$build/apps/vq" encode "$work/x.npy" \
        -m "$work/${specs[$i]}.vqc" -o "$work/c.vqc" \
        >"$work/enc.${specs[$i]}.$ranks.$r" 2>&1
    done
  done
done
/usr/bin/python3 - "$work" "$rounds" "$rows" "$dim" "${specs[*]}" <<'PY'
import re, statistics, sys
work, rounds, rows, dim, specs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5].split()
print(f"rows {rows} × {dim}, one thread per rank, median of {rounds} rounds; 4 ranks oversubscribe 2 cores")
print(f"{'quantizer':10} {'task':6} {'ranks':>5} {'seconds':>8} {'speed-up':>9} {'rel. error':>11} {'peak RSS/rank MB':>17}")
for spec in specs:
    for task, prefix in (("train", ""), ("encode", "enc.")):
        base = None
        for ranks in (1, 2, 4):
            times, errs, rss = [], [], []
            for r in range(1, rounds + 1):
                text = open(f"{work}/{prefix}{spec}.{ranks}.{r}").read()
                times.append(float(re.search(r" in ([0-9.]+) s", text).group(1)))
                errs.append(float(re.search(r"relative error\s+([0-9.e+-]+)", text).group(1)))
                rss += [int(v) for v in re.findall(r"rss_kb (\d+)", text)]
            t = statistics.median(times)
            base = base or t
            note = " (oversubscribed)" if ranks == 4 else ""
            print(f"{spec:10} {task:6} {ranks:5d} {t:8.2f} {base / t:8.2f}x {statistics.median(errs):11.6g} "
                  f"{max(rss) / 1024:17.0f}{note}")
# What a rank sends per k-means iteration: one reduction of the sums (k·d), weights (k), label
# counts (k), error and weight, in doubles; reduce-then-broadcast moves it twice.
for spec, k, d in (("VQ10", 1024, dim), ("PQ16x8", 256, dim // 16), ("RVQ4x8b4", 256, dim)):
    per = 8 * (k * d + 2 * k + 2)
    print(f"{spec}: {per / 1024:.0f} KiB reduced per k-means iteration (per book; ×2 for reduce + broadcast)")
PY
