#!/usr/bin/python3
"""Joins 16-bit PCM WAV files (mono or stereo, one rate) into one mono 16-bit WAV with 0.15 s of
silence between them: the bundled demo sample (see scripts/train_audio_model.sh).

usage: make_audio_sample.py OUT.wav IN1.wav IN2.wav ...
"""
import sys
import wave

import numpy as np

parts, rate = [], None
for path in sys.argv[2:]:
    with wave.open(path, "rb") as w:
        assert w.getsampwidth() == 2, path + ": expected 16-bit PCM"
        if rate is None:
            rate = w.getframerate()
        assert w.getframerate() == rate, path + ": sample rates differ"
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
        x = x.reshape(-1, w.getnchannels()).mean(axis=1)
    if parts:
        parts.append(np.zeros(int(0.15 * rate)))
    parts.append(x)
y = np.clip(np.round(np.concatenate(parts)), -32768, 32767).astype("<i2")
with wave.open(sys.argv[1], "wb") as w:
    w.setnchannels(1)
    w.setsampwidth(2)
    w.setframerate(rate)
    w.writeframes(y.tobytes())
