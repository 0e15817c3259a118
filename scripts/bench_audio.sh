#!/usr/bin/env bash
# Runs apps/bench/bench_audio (ours vs Opus, same files, same run) on the held-out recordings
# that scripts/train_audio_model.sh set aside; prints the markdown table for BENCHMARKS.md.
# speech_en, t25, t27 and t29 chose the ladder's rungs (AudioModel::layout); t26, t28, t30 and
# t31 were used for no choice.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
work=${VQ_AUDIO_DATA:-/tmp/vq_audio_data}
[ -d "$work/eval" ] || { echo "run scripts/train_audio_model.sh first (it prepares $work/eval)"; exit 1; }
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$build/apps/bench_audio" "$root/models/audio_default.vqc" "$work/bench" \
  speech_en="$work/eval/speech_en" music_t25="$work/eval/music/track25.ogg" \
  music_t27="$work/eval/music/track27.ogg" music_t29="$work/eval/music/track29.ogg" \
  music_t26="$work/eval/music/track26.ogg" music_t28="$work/eval/music/track28.ogg" \
  music_t30="$work/eval/music/track30.ogg" music_t31="$work/eval/music/track31.ogg"
