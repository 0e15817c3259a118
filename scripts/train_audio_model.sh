#!/usr/bin/env bash
# Trains the default audio model models/audio_default.vqc from real recordings in two Debian 12
# packages, and cuts the bundled demo sample models/audio_sample.flac from the held-out files.
#
#   ktuberling-data 4:22.12.3-1 (GPL-2+): human voices saying words, /usr/share/ktuberling/sounds/<lang>/*.ogg
#   drascula-music 1.0+ds4-2 (Drascula licence: free redistribution): game music, track1..31.ogg
#
# Split (training files never evaluated on):
#   train: ktuberling every language except en, drascula track1..track24
#   eval:  ktuberling en (72 words), drascula track25..track31  (scripts/bench_audio.sh)
# Deterministic: fixed package versions, sorted file order, seed 1234, one training thread, one
# BLAS kernel (~6–9 min; models/README.md says how far the shipped file reproduces).
#
# usage: scripts/train_audio_model.sh [BUILD_DIR]   (needs apt-get download, i.e. network to Debian)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
work=${VQ_AUDIO_DATA:-/tmp/vq_audio_data}
vq=$build/apps/vq

fetch() {  # package version -> extracted under $work/pkg
  local pkg=$1 ver=$2
  if [ ! -f "$work/$pkg.done" ]; then
    mkdir -p "$work/pkg"
    (cd "$work" && apt-get download "$pkg=$ver")
    # apt-get download names the file with the epoch URL-encoded (4%3a22.12.3-1): match by glob.
    local deb
    deb=$(ls "$work/${pkg}"_*_all.deb)
    dpkg-deb -x "$deb" "$work/pkg"
    touch "$work/$pkg.done"
  fi
}
mkdir -p "$work"
fetch ktuberling-data 4:22.12.3-1
fetch drascula-music 1.0+ds4-2
sounds=$work/pkg/usr/share/ktuberling/sounds
music=$work/pkg/usr/share/scummvm/drascula/audio

rm -rf "$work/train" "$work/eval"
mkdir -p "$work/train" "$work/eval/speech_en" "$work/eval/music"
for dir in "$sounds"/*/; do
  lang=$(basename "$dir")
  for f in "$dir"*.ogg; do
    if [ "$lang" = en ]; then ln -s "$f" "$work/eval/speech_en/"; else ln -s "$f" "$work/train/speech_${lang}_$(basename "$f")"; fi
  done
done
for i in $(seq 1 31); do
  if [ "$i" -le 24 ]; then ln -s "$music/track$i.ogg" "$work/train/music_track$i.ogg"; else ln -s "$music/track$i.ogg" "$work/eval/music/"; fi
done

# The BLAS kernel is pinned too: k-means distances go through sgemm, and another kernel (OpenBLAS
# picks one per CPU) changes last bits and so the codebooks. Haswell needs AVX2.
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Haswell} "$vq" audio train "$work/train" -o "$root/models/audio_default.vqc" \
  --seed 1234 --threads 1

# The demo sample: four held-out English words (ktuberling-data, GPL-2+), mono 16-bit FLAC.
tmp=$(mktemp -d)
for w in ball flower hat eye; do sndfile-convert -pcm16 "$sounds/en/$w.ogg" "$tmp/$w.wav"; done
/usr/bin/python3 "$root/scripts/make_audio_sample.py" "$tmp/joined.wav" "$tmp"/{ball,flower,hat,eye}.wav
rm -f "$root/models/audio_sample.flac"
sndfile-convert -pcm16 "$tmp/joined.wav" "$root/models/audio_sample.flac"
rm -rf "$tmp"
ls -l "$root/models/audio_default.vqc" "$root/models/audio_sample.flac"
