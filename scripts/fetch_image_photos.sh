#!/usr/bin/env bash
# Real photographs for the image tokenizer, taken from Debian 12 packages (no other download):
# the .debs are fetched with `apt-get download` and unpacked with `dpkg-deb -x` (nothing is
# installed), and the photographs are copied into OUT/train and OUT/eval. Training and
# evaluation photographs never overlap. Licences: see models/README.md ("Image model").
#
#   usage: scripts/fetch_image_photos.sh [OUT]      (default OUT: build/image-photos)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-build/image-photos}"

# package=version pinned, so the photographs (and the model trained on them) are reproducible.
skimage_pkg="python3-skimage=0.19.3-8"     # scikit-image data, BSD-3-Clause package; photos CC0 / public domain
sklearn_pkg="python3-sklearn=1.2.1+dfsg-1" # scikit-learn sample images, CC BY 2.0 (README.txt beside them)

skdata=usr/lib/python3/dist-packages/skimage/data
sldata=usr/lib/python3/dist-packages/sklearn/datasets/images
# Training: scikit-image's photographs (colour and grey). Evaluation (held out): the cat
# (chelsea) and the retina fundus photograph from scikit-image, and both scikit-learn
# photographs. (motorcycle_right.png is not used: it is the stereo twin of a training photo.)
train_files=(astronaut.png coffee.png rocket.jpg motorcycle_left.png hubble_deep_field.jpg ihc.png
             camera.png brick.png grass.png gravel.png moon.png coins.png)
eval_files=("$skdata/chelsea.png" "$skdata/retina.jpg" "$sldata/china.jpg" "$sldata/flower.jpg")

work="$out/debs"
mkdir -p "$work" "$out/train" "$out/eval"
for pkg in "$skimage_pkg" "$sklearn_pkg"; do
  name="${pkg%%=*}"
  if ! ls "$work/${name}"_*.deb >/dev/null 2>&1; then
    (cd "$work" && apt-get download "$pkg")
  fi
  dpkg-deb -x "$work/${name}"_*.deb "$work/root"
done
for f in "${train_files[@]}"; do cp "$work/root/$skdata/$f" "$out/train/"; done
for f in "${eval_files[@]}"; do cp "$work/root/$f" "$out/eval/"; done
echo "photos: $(ls "$out/train" | wc -l) training in $out/train, $(ls "$out/eval" | wc -l) held out in $out/eval"
