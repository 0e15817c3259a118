"""`vq eval` on images against a small numpy reference of PSNR and SSIM (Wang et al. 2004:
luma BT.601, 11×11 Gaussian window σ=1.5, K1=0.01, K2=0.03, 'valid' windows, population
variances)."""
import os
import struct
import subprocess
import zlib

import numpy as np
import pytest


def write_png(path, rgb):
    """Minimal 8-bit RGB PNG writer (filter 0 per row), so the test needs only numpy."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].astype(np.uint8).tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def ssim_reference(a, b):
    ya = a.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    yb = b.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    t = np.arange(11) - 5.0
    g = np.exp(-t * t / (2 * 1.5 ** 2))
    win = np.outer(g, g) / np.outer(g, g).sum()

    def filt(x):
        v = np.lib.stride_tricks.sliding_window_view(x, (11, 11))
        return np.einsum("ijkl,kl->ij", v, win)

    mx, my = filt(ya), filt(yb)
    vx, vy, cxy = filt(ya * ya) - mx * mx, filt(yb * yb) - my * my, filt(ya * yb) - mx * my
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.mean()


def psnr_reference(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / mse)


@pytest.mark.skipif("VQ_CLI" not in os.environ, reason="needs the vq binary (set by ctest)")
def test_vq_eval_matches_numpy_reference(tmp_path):
    rng = np.random.default_rng(7)
    # A smooth image plus texture, and a noisy, slightly shifted version of it.
    y, x = np.mgrid[0:37, 0:53]
    base = np.stack([128 + 90 * np.sin(x / 7.0 + c) * np.cos(y / 5.0) for c in range(3)], axis=-1)
    a = np.clip(base + rng.normal(0, 10, base.shape), 0, 255).round().astype(np.uint8)
    b = np.clip(a.astype(np.float64) + rng.normal(3, 20, a.shape), 0, 255).round().astype(np.uint8)
    write_png(tmp_path / "a.png", a)
    write_png(tmp_path / "b.png", b)
    out = subprocess.run([os.environ["VQ_CLI"], "eval", str(tmp_path / "a.png"), str(tmp_path / "b.png")],
                         check=True, capture_output=True, text=True).stdout
    values = {line.split()[0]: float(line.split()[1]) for line in out.splitlines()
              if line.split() and line.split()[0] in ("PSNR", "SSIM")}
    assert values["PSNR"] == pytest.approx(psnr_reference(a, b), abs=1e-3)
    assert values["SSIM"] == pytest.approx(ssim_reference(a, b), abs=2e-6)
