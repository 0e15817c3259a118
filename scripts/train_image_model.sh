#!/usr/bin/env bash
# Reproduces the bundled default image model (models/default/image.vqc) and demo photograph
# (models/samples/chelsea.png) from Debian packages: see models/README.md, "Image model".
#
#   scripts/train_image_model.sh            (needs a built vq: scripts/build.sh)
#
# Deterministic for the seed and thread count below (k-means is deterministic per thread count).
set -euo pipefail
cd "$(dirname "$0")/.."
vq="${VQ_BUILD_DIR:-build}/apps/vq"
photos=build/image-photos
bash scripts/fetch_image_photos.sh "$photos"
mkdir -p models/default models/samples
OPENBLAS_NUM_THREADS=1 "$vq" image train "$photos/train" -o models/default/image.vqc \
  --patch 8 --quantizer RVQ8x8 --chroma-weight 0.5 --high-frequency-weight 1 \
  --max-patches 120000 --iterations 15 --seed 1234 --threads 2
# The demo photograph is a held-out one (never in the training set).
cp "$photos/eval/chelsea.png" models/samples/chelsea.png
