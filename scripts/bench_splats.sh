#!/usr/bin/env bash
# Splat codec vs SPZ and SOG on the same synthetic scene, same run: file size and rendered
# PSNR / SSIM (vq eval: CPU renders of the decoded scene against the original's, orbit views).
#
#   scripts/bench_splats.sh [COUNT=100000] [VIEWS=8] [WORKDIR=/tmp/vq-bench-splats]
#
# Baselines come from npm, installed here into a cache directory (not a project dependency):
#   @playcanvas/splat-transform 3.7.0 (MIT) — writes and reads SOG, and SPZ through its
#     dependency @adobe/spz 0.2.3 (MIT; Niantic's reference SPZ code compiled to wasm)
#   spz-js 1.2.5 (MIT) — a JavaScript SPZ port, timed too; its decoder writes opacity = +inf for
#     alpha = 255, which our PLY reader rejects, so its quality is measured through
#     splat-transform's SPZ (the same format).
# SOG is compressed on the CPU (-g cpu: no GPU here), which is slow (minutes per 100k).
set -euo pipefail
COUNT=${1:-100000}
VIEWS=${2:-8}
WORK=${3:-/tmp/vq-bench-splats}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VQ=${VQ:-$ROOT/build/apps/vq}
NPM_DIR=${VQ_NPM_CACHE:-$HOME/.cache/vqcodec-npm}
mkdir -p "$WORK" "$NPM_DIR"
if [ ! -x "$NPM_DIR/node_modules/.bin/splat-transform" ] || [ ! -d "$NPM_DIR/node_modules/spz-js" ]; then
  (cd "$NPM_DIR" && npm install --no-audit --no-fund spz-js@1.2.5 @playcanvas/splat-transform@3.7.0 >/dev/null)
fi
cp "$ROOT/scripts/spz_roundtrip.mjs" "$NPM_DIR/"  # ESM resolves packages next to the script
ST="$NPM_DIR/node_modules/.bin/splat-transform"
cd "$WORK"
SCENE=scene$COUNT.ply
[ -f "$SCENE" ] || "$VQ" splats synth "$SCENE" -n "$COUNT" --seed 1 >/dev/null
PLY_BYTES=$(stat -L -c %s "$SCENE")

now() { date +%s.%N; }
secs() { if [[ $1 =~ ^[0-9.]+$ ]]; then printf "%.1f" "$1"; else printf "%s" "$1"; fi; }
row() {  # name file decoded.ply encode_s decode_s
  local bytes psnr ssim
  bytes=$(stat -L -c %s "$2")
  local ev
  ev=$("$VQ" eval "$SCENE" "$3" --views "$VIEWS")
  psnr=$(echo "$ev" | awk '/rendered PSNR/ {print $3 " (worst " $6 ")"}')
  ssim=$(echo "$ev" | awk '/rendered SSIM/ {print $3}')
  printf "| %s | %d | %.1f× | %.2f | %s | %s | %s | %s |\n" "$1" "$bytes" \
    "$(echo "$PLY_BYTES / $bytes" | bc -l)" "$(echo "$bytes / $COUNT" | bc -l)" "$psnr" "$ssim" "$(secs "$4")" "$(secs "$5")"
}

echo "scene: $COUNT synthetic Gaussians (SH degree 3), PLY $PLY_BYTES bytes; $VIEWS views, 256×256"
echo "| codec | bytes | ratio vs PLY | bytes/Gaussian | rendered PSNR dB | SSIM | encode s | decode s |"
echo "|---|---|---|---|---|---|---|---|"
# The three presets, and explicit flags aiming at SOG's quality (about 50 dB here).
SOG_LEVEL="--quality high --position-bits 18 --scale RVQ4x8 --rotation RVQ4x8 --colour RVQ3x8 --sh1 RVQ3x8 --sh2 RVQ3x8 --sh3 RVQ3x8 --opacity VQ9"
for q in low medium high sog-level; do
  if [ "$q" = sog-level ]; then flags=$SOG_LEVEL; label="vqcodec $SOG_LEVEL"; else flags="--quality $q"; label="vqcodec $q"; fi
  t0=$(now); "$VQ" encode "$SCENE" -o "vq_$q.vqc" $flags --quiet; t1=$(now)
  "$VQ" decode "vq_$q.vqc" -o "vq_$q.ply" --quiet; t2=$(now)
  row "$label" "vq_$q.vqc" "vq_$q.ply" "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)"
done
t0=$(now); "$ST" -q -w "$SCENE" spz.spz; t1=$(now); "$ST" -q -w spz.spz spz.ply; t2=$(now)
row "SPZ v4 (@adobe/spz via splat-transform)" spz.spz spz.ply "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)"
SPZJS_TIMES=$(node "$NPM_DIR/spz_roundtrip.mjs" "$SCENE" spzjs.spz spzjs.ply)
echo "| SPZ (spz-js) | $(stat -L -c %s spzjs.spz) | | | not measured: its decoder writes opacity +inf | | $SPZJS_TIMES | |"
if [ "${SKIP_SOG:-0}" != 1 ]; then
  if [ ! -f sog.sog ] || [ sog.sog -ot "$SCENE" ]; then
    t0=$(now); "$ST" -q -w -g cpu "$SCENE" sog.sog; t1=$(now); SOG_ENC=$(echo "$t1 - $t0" | bc)
  else
    SOG_ENC="(cached)"
  fi
  t1=$(now); "$ST" -q -w sog.sog sog.ply; t2=$(now)
  row "SOG (splat-transform, CPU)" sog.sog sog.ply "$SOG_ENC" "$(echo "$t2 - $t1" | bc)"
fi
