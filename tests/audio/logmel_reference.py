#!/usr/bin/python3
"""NumPy reference of the log-mel distance, written from its definition (not from the
C++): 80 Slaney-scale mel bands with Slaney area normalisation (librosa.filters.mel defaults),
1024-point periodic Hann STFT, hop 256, frames starting at sample 0 (no centring), zero-padded
past the end, mean over frames and bands of |log10(mel_ref + 1e-5) - log10(mel_dec + 1e-5)|.

usage: logmel_reference.py REF.npy DEC.npy SAMPLE_RATE   (float32 1-D arrays) -> prints the distance
"""
import sys

import numpy as np


def hz_to_mel(f):
    f = np.asarray(f, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    logstep = np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_hz / f_sp + np.log(np.maximum(f, 1e-12) / min_log_hz) / logstep,
                    f / f_sp)


def mel_to_hz(m):
    m = np.asarray(m, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    logstep = np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filterbank(sr, n_fft=1024, n_mels=80):
    fftfreqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sr / 2.0), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fftfreqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    return weights * (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]


def mel_power(x, sr, n_fft=1024, hop=256):
    frames = 1 if len(x) <= n_fft else 1 + -(-(len(x) - n_fft) // hop)
    padded = np.zeros((frames - 1) * hop + n_fft)
    padded[:len(x)] = x
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    idx = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]
    spec = np.abs(np.fft.rfft(padded[idx] * window, axis=1)) ** 2
    return spec @ mel_filterbank(sr, n_fft).T


def log_mel_distance(ref, dec, sr):
    n = max(len(ref), len(dec))
    r = np.zeros(n); r[:len(ref)] = ref
    d = np.zeros(n); d[:len(dec)] = dec
    return np.mean(np.abs(np.log10(mel_power(r, sr) + 1e-5) - np.log10(mel_power(d, sr) + 1e-5)))


if __name__ == "__main__":
    ref = np.load(sys.argv[1]).astype(np.float64).ravel()
    dec = np.load(sys.argv[2]).astype(np.float64).ravel()
    print("%.10f" % log_mel_distance(ref, dec, int(sys.argv[3])))
