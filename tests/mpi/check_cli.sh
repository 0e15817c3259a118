#!/usr/bin/env bash
# `mpirun -np N vq train` against a single-process `vq train` on the same file: the codebooks
# must agree to 1e-5 of their scale, and the distributed run must say it ran on N ranks.
# `mpirun -np N vq encode` must write byte for byte the codes file of one process.
# Usage: check_cli.sh VQ_BINARY RANKS   (PYTHONPATH must reach the vqcodec package)
set -euo pipefail
vq=$1 ranks=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 - "$work/x.npy" <<'PY'
import sys
import numpy as np
rng = np.random.default_rng(3)
centres = rng.normal(size=(50, 32)) * 3
np.save(sys.argv[1], (centres[rng.integers(0, 50, 9001)] + rng.normal(size=(9001, 32))).astype(np.float32))
PY
for spec in PQ8x6 RVQ3x7b4; do
  "$vq" train "$work/x.npy" -o "$work/single.vqc" -q "$spec" --iters 5 --quiet > /dev/null
  mpirun -np "$ranks" --oversubscribe "$vq" train "$work/x.npy" -o "$work/spread.vqc" -q "$spec" --iters 5 \
    --quiet > "$work/out.txt"
  grep -q "over $ranks ranks" "$work/out.txt" || { echo "no 'over $ranks ranks' in:"; cat "$work/out.txt"; exit 1; }
  /usr/bin/python3 - "$work/single.vqc" "$work/spread.vqc" "$spec" <<'PY'
import sys
import numpy as np
import vqcodec as vq
a, b = vq.load(sys.argv[1]), vq.load(sys.argv[2])
for m, (x, y) in enumerate(zip(a.codebooks, b.codebooks)):
    diff = float(np.max(np.abs(x - y)) / np.max(np.abs(x)))
    assert diff < 1e-5, f"{sys.argv[3]} book {m}: relative difference {diff}"
print(f"{sys.argv[3]}: {len(a.codebooks)} books equal to 1e-5")
PY
done
# mpirun vq encode writes the file one process writes, codes and tokens alike, also in chunks.
"$vq" encode "$work/x.npy" -m "$work/single.vqc" -o "$work/c1.vqc" --tokens "$work/t1.npy" --quiet
mpirun -np "$ranks" --oversubscribe "$vq" encode "$work/x.npy" -m "$work/single.vqc" -o "$work/c2.vqc" \
  --tokens "$work/t2.npy" --max-memory 100K > "$work/enc.txt"
grep -q "over $ranks ranks" "$work/enc.txt" || { echo "no 'over $ranks ranks' in:"; cat "$work/enc.txt"; exit 1; }
cmp "$work/c1.vqc" "$work/c2.vqc"
cmp "$work/t1.npy" "$work/t2.npy"
# Without --tokens the ranks stream their codes through part files; none may be left.
mpirun -np "$ranks" --oversubscribe "$vq" encode "$work/x.npy" -m "$work/single.vqc" -o "$work/c3.vqc" \
  --max-memory 100K --quiet
cmp "$work/c1.vqc" "$work/c3.vqc"
if ls -A "$work" | grep -q 'part'; then echo "part files left:"; ls -A "$work"; exit 1; fi
echo "encode: codes and tokens identical to one process"
# A bad input stops every rank with the error, not a hang.
/usr/bin/python3 -c "import numpy as np; x = np.ones((100, 4), np.float32); x[77, 2] = np.nan; np.save('$work/bad.npy', x)"
if mpirun -np "$ranks" --oversubscribe "$vq" train "$work/bad.npy" -o "$work/bad.vqc" -q PQ2x4 --quiet \
     > "$work/bad.txt" 2>&1; then
  echo "a NaN row was accepted"; exit 1
fi
grep -q "non-finite value nan at row 77, column 2" "$work/bad.txt" || { echo "no row 77 error in:"; cat "$work/bad.txt"; exit 1; }
[ ! -e "$work/bad.vqc" ] || { echo "bad.vqc was written"; exit 1; }
echo "ok"
