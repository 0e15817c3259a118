#!/usr/bin/env bash
# `mpirun -np N vq weights compress` against one process on a small checkpoint of several
# layers of different sizes, with and without calibration: the outputs must be identical byte for
# byte, every layer must be reported once, and no part file may be left beside the output.
# Usage: check_weights.sh VQ_BINARY RANKS
set -euo pipefail
vq=$1 ranks=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A checkpoint written by hand from the safetensors layout (8-byte header length, JSON header,
# data): seven linear layers of three sizes in BF16/F32/F16, a bias vector that passes through,
# and calibration inputs for two of the layers.
/usr/bin/python3 - "$work" <<'PY'
import json, struct, sys
import numpy as np
work = sys.argv[1]
rng = np.random.default_rng(9)
def save(path, tensors):
    header, blobs, at = {"__metadata__": {"format": "pt"}}, [], 0
    for name, (dtype, arr) in tensors.items():
        raw = arr.tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [at, at + len(raw)]}
        blobs.append(raw)
        at += len(raw)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
def bf16(a):
    return (a.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
tensors = {}
for i, (rows, cols) in enumerate([(32, 64), (96, 64), (64, 128), (32, 64), (128, 64), (64, 64), (48, 128)]):
    w = rng.normal(size=(rows, cols)).astype(np.float32) / np.sqrt(cols)
    dtype = ["BF16", "F32", "F16"][i % 3]
    arr = bf16(w) if dtype == "BF16" else w.astype(np.float16 if dtype == "F16" else np.float32)
    tensors[f"layers.{i}.proj.weight"] = (dtype, arr)
tensors["layers.0.proj.bias"] = ("F32", rng.normal(size=32).astype(np.float32))
save(f"{work}/in.safetensors", tensors)
save(f"{work}/calib.safetensors", {
    "layers.1.proj.weight": ("F32", rng.normal(size=(200, 64)).astype(np.float32)),
    "layers.2.proj.weight": ("F32", rng.normal(size=(300, 128)).astype(np.float32)),
})
PY
for scheme in AQ1x6d4 GPTQ3g32; do
  "$vq" weights compress "$work/in.safetensors" -o "$work/one.safetensors" --scheme "$scheme" \
    --calib "$work/calib.safetensors" --quiet > /dev/null
  mpirun -np "$ranks" --oversubscribe "$vq" weights compress "$work/in.safetensors" -o "$work/many.safetensors" \
    --scheme "$scheme" --calib "$work/calib.safetensors" > "$work/out.txt" 2> "$work/err.txt"
  cmp "$work/one.safetensors" "$work/many.safetensors"
  grep -q "compressed 7 layers.*($ranks ranks)" "$work/out.txt" || { cat "$work/out.txt"; exit 1; }
  # Each layer once, handed out largest first (ties in file order): 1/7 is layers.2, 64 x 128.
  [ "$(grep -c '^\[[0-9]/7 rank ' "$work/err.txt")" = 7 ] || { cat "$work/err.txt"; exit 1; }
  grep -q '^\[1/7 rank [0-9]*\] layers.2.proj.weight 64x128' "$work/err.txt" || { cat "$work/err.txt"; exit 1; }
  if ls -A "$work" | grep -q -- '-part-'; then echo "part files left:"; ls -A "$work"; exit 1; fi
  echo "$scheme: identical to one process"
done
