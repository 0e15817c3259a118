#!/usr/bin/env bash
# The fuzz campaign: builds the libFuzzer targets of fuzz/ with clang, ASan and UBSan (library
# included) in ${VQ_FUZZ_BUILD_DIR:-build-fuzz}, makes the seed corpus once (scripts/fuzz_seeds.py),
# then runs every target (or the ones named) for SECONDS each and prints a summary table.
#
#   scripts/fuzz.sh SECONDS [TARGET...]       e.g. scripts/fuzz.sh 600, scripts/fuzz.sh 60 npy ply_ascii
#   VQ_FUZZ_JOBS=2 scripts/fuzz.sh 120        run two targets at a time (each is one process)
#
# Limits: an input running over 1 s is a hang (-timeout=1); RSS over 1 GB or a single allocation
# over 1 GB is a failure (-rss_limit_mb=1024, which also sets -malloc_limit_mb). A failing input
# stops its target and is saved under <build>/artifacts/<target>/; add it to
# fuzz/regressions/<target>/ once fixed so the test suite replays it. New coverage-increasing
# inputs accumulate in <build>/corpus/<target>/, so later runs go on where earlier ones stopped.
# Exit status 1 when any target failed.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:?usage: scripts/fuzz.sh SECONDS [TARGET...]}
shift
build=${VQ_FUZZ_BUILD_DIR:-build-fuzz}
jobs=${VQ_FUZZ_JOBS:-1}

# clang with its libFuzzer runtime and OpenMP (the normal build needs neither).
fuzzer_rt=$(ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a 2>/dev/null | head -n1 || true)
if ! command -v clang++ >/dev/null || [ -z "$fuzzer_rt" ] || ! ls /usr/lib/llvm-*/lib/libomp.so >/dev/null 2>&1; then
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  echo "fuzz: installing clang, its runtime libraries and OpenMP"
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    clang libclang-rt-dev libomp-dev
fi
bash scripts/setup.sh >/dev/null

if [ ! -f "$build/CMakeCache.txt" ]; then
  generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  # -O1 -g without NDEBUG: fast enough to fuzz, readable stacks, and debug checks (VQ_DCHECK) on.
  cmake -S . -B "$build" "${generator[@]}" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g" -DVQ_BUILD_FUZZERS=ON -DVQ_BUILD_TESTS=OFF \
    -DVQ_BUILD_BENCHMARKS=OFF -DVQ_BUILD_PYTHON=OFF -DVQ_BUILD_SHARED=OFF -DVQ_BUILD_APPS=ON
fi
cmake --build "$build" -j"$(nproc)" --target fuzzers vq

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/fuzz/lsan.supp}
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
if [ ! -d "$build/seeds" ]; then
  # The seeds come from the build's own (sanitized) CLI; leaks at its exit are not the point here.
  ASAN_OPTIONS=detect_leaks=0 VQ_CLI="$build/apps/vq" VQ_SEED_MODELS="$build/fuzz/vq_fuzz_seed_models" \
    /usr/bin/python3 scripts/fuzz_seeds.py "$build/seeds.tmp"
  mv "$build/seeds.tmp" "$build/seeds"
fi

if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for f in fuzz/fuzz_*.cpp; do t=${f#fuzz/fuzz_}; targets+=("${t%.cpp}"); done
fi

# A failure stops libFuzzer; the target is then restarted on its grown corpus until its time is
# spent, so one known failure (saved in artifacts/) does not end the whole target's campaign.
run_target() {
  local t=$1 inputs=() log="$build/logs/$t.log" deadline=$(( $(date +%s) + seconds )) left
  mkdir -p "$build/corpus/$t" "$build/artifacts/$t" "$build/logs"
  : >"$log"
  for d in "$build/seeds/$t" fuzz/corpus/$t fuzz/regressions/$t; do [ -d "$d" ] && inputs+=("$d"); done
  for _ in $(seq 1 50); do
    left=$(( deadline - $(date +%s) ))
    [ "$left" -ge 5 ] || break
    # The first directory receives new inputs; the others are read only.
    if "$build/fuzz/fuzz_$t" -max_total_time="$left" -timeout=1 -rss_limit_mb=1024 -print_final_stats=1 \
      -artifact_prefix="$build/artifacts/$t/" "$build/corpus/$t" "${inputs[@]}" >>"$log" 2>&1; then
      break
    fi
  done
}

started=$(date +%s)
mkdir -p "$build"
touch "$build/.fuzz-started"  # failures are counted from this run only
for t in "${targets[@]}"; do
  [ -x "$build/fuzz/fuzz_$t" ] || { echo "fuzz: no target $t (fuzz/fuzz_$t.cpp)"; exit 2; }
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  echo "fuzz: $t for ${seconds}s"
  run_target "$t" &
done
wait

summary="$build/fuzz-summary.txt"
failed=0
{
  printf "%-16s %8s %12s %8s %7s %7s %s\n" target seconds executions exec/s cov ft failures
  for t in "${targets[@]}"; do
    log="$build/logs/$t.log"
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | awk '{n += $2} END {print n + 0}')
    rate=$(( execs / seconds ))
    last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    found=$(find "$build/artifacts/$t" -type f -newer "$build/.fuzz-started" | wc -l)
    [ "$found" -eq 0 ] || failed=1
    printf "%-16s %8s %12s %8s %7s %7s %s\n" "$t" "$seconds" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$found"
  done
  echo "wall $(( $(date +%s) - started )) s, ${jobs} at a time; logs in $build/logs, failing inputs in $build/artifacts"
} >"$summary"
cat "$summary"
exit "$failed"
