#!/usr/bin/python3
"""Prototype (not yet in the codec): the default image model's first levels plus a refinement stage
of small sub-vector codebooks, with rate-distortion choices, against JPEG in the same run.

Why: a 256-entry residual VQ over whole 192-dimensional patches gains only ~0.5 dB per extra
8-bit level, so from ~0.25 bpp up the codec falls behind JPEG (BENCHMARKS.md, image section).
This measures the alternative the audio codec already uses for its shapes: after `--coarse`
levels of the default model, the residual's 8×8 DCT coefficients (YCbCr, zigzag order) are cut
into sub-vectors of `--group` coefficients; each (channel, sub-vector position) has its own
residual codebooks (`--levels` × 256 entries, trained here on the training photographs and their
mirror images); a sub-vector takes its next level only while that level lowers its error by at
least λ·8 (error as RGB squared error: a unit Y / Cb / Cr error costs 3 / 3.26 / 2.48).

The rate is the coarse file's size plus the ideal static entropy of the refinement: per
(channel, position, level) the empirical entropy of its tokens and of its "goes on" flags. An
adaptive arithmetic coder would spend a few percent more (it learns the statistics as it goes).
So these figures bound what the design can reach; they are not a codec's measured file sizes.

JPEG: libjpeg-turbo's cjpeg -optimize at qualities 5..95 on the same photographs, decoded with
djpeg, PSNR interpolated in bpp at our rates.

Needs the build's Python module (build/python), the photographs of scripts/fetch_image_photos.sh
and cjpeg/djpeg (libjpeg-turbo-progs). Usage:

  /usr/bin/python3 scripts/prototype_image_refinement.py [--coarse 1] [--group 4] [--levels 3]
"""
import argparse
import glob
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "build", "python"))
import vqcodec  # noqa: E402

P = 8
DCT = np.array([[np.sqrt((1 if k == 0 else 2) / P) * np.cos(np.pi * (2 * n + 1) * k / (2 * P)) for n in range(P)]
                for k in range(P)])
ZIGZAG = np.array([i * P + j for i, j in sorted(((i, j) for i in range(P) for j in range(P)),
                                                 key=lambda t: (t[0] + t[1], t[0] if (t[0] + t[1]) % 2 else t[1]))])
RGB_WEIGHT = np.array([3.0, 3.26, 2.48])  # RGB squared error of a unit Y / Cb / Cr error


def rgb_to_ycc(x):
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    return np.stack([0.299 * r + 0.587 * g + 0.114 * b, -0.168736 * r - 0.331264 * g + 0.5 * b,
                     0.5 * r - 0.418688 * g - 0.081312 * b], -1)


def ycc_to_rgb(y):
    l, cb, cr = y[..., 0], y[..., 1], y[..., 2]
    return np.stack([l + 1.402 * cr, l - 0.344136 * cb - 0.714136 * cr, l + 1.772 * cb], -1)


def to_blocks(plane):
    """(H, W), multiples of 8 -> (blocks, 64) DCT coefficients in zigzag order."""
    h, w = plane.shape
    b = plane.reshape(h // P, P, w // P, P).transpose(0, 2, 1, 3).reshape(-1, P, P)
    return (DCT @ b @ DCT.T).reshape(-1, 64)[:, ZIGZAG]


def from_blocks(z, h, w):
    d = np.zeros((z.shape[0], 64))
    d[:, ZIGZAG] = z
    b = DCT.T @ d.reshape(-1, P, P) @ DCT
    return b.reshape(h // P, w // P, P, P).transpose(0, 2, 1, 3).reshape(h, w)


def load_rgb(path):
    x = vqcodec.read_image(path)
    if x.ndim == 2:
        x = np.stack([x] * 3, -1)
    return np.ascontiguousarray(x[..., :3])


def pad8(x):
    h, w = x.shape[:2]
    return np.pad(x, ((0, -h % P), (0, -w % P), (0, 0)), mode="edge")


def coarse(model, x, levels):
    """The model's decoding at `levels` levels, its file size, and the residual's blocks per channel."""
    data = model.encode(x, levels=levels, coding="arithmetic")
    dec = model.decode(data).astype(np.float64)
    if dec.ndim == 2:
        dec = np.stack([dec] * 3, -1)
    res = rgb_to_ycc(pad8(x.astype(np.float64))) - rgb_to_ycc(pad8(dec[..., :3]))
    return dec[..., :3], len(data), [to_blocks(res[..., c]) for c in range(3)]


def train(model, photos, args):
    blocks = [[] for _ in range(3)]
    for path in photos:
        x = load_rgb(path)
        for img in (x, np.ascontiguousarray(x[:, ::-1])):
            for c, b in enumerate(coarse(model, img, args.coarse)[2]):
                blocks[c].append(b)
    books = {}
    rng = np.random.default_rng(args.seed)
    for c in range(3):
        data = np.concatenate(blocks[c]).astype(np.float32)
        for s in range(64 // args.group):
            sub = np.ascontiguousarray(data[:, s * args.group:(s + 1) * args.group])
            if len(sub) > args.max_vectors:
                sub = sub[rng.choice(len(sub), args.max_vectors, replace=False)]
            q = vqcodec.ResidualQuantizer(args.group, args.levels, 8)
            q.fit(sub, iters=10, seed=args.seed)
            books[c, s] = q
        print(f"trained channel {c}", file=sys.stderr, flush=True)
    return books


def entropy_bits(symbols, alphabet):
    if len(symbols) == 0:
        return 0.0
    counts = np.bincount(symbols, minlength=alphabet).astype(np.float64)
    counts = counts[counts > 0]
    return float(-(counts * np.log2(counts / len(symbols))).sum())


def psnr(a, b):
    return 10 * np.log10(255.0 ** 2 / ((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())


def refine_curve(model, books, path, args):
    x = load_rgb(path)
    h, w = x.shape[:2]
    dec, coarse_bytes, blocks = coarse(model, x, args.coarse)
    hp, wp = pad8(x).shape[:2]
    base = rgb_to_ycc(pad8(dec))
    # Per (channel, position): greedy codes and the reconstruction after each level.
    parts = {}
    for (c, s), q in books.items():
        sub = np.ascontiguousarray(blocks[c][:, s * args.group:(s + 1) * args.group]).astype(np.float32)
        codes = q.encode(sub).astype(np.int64)
        recs = [np.zeros_like(sub)]
        for level, book in enumerate(q.codebooks):
            recs.append(recs[-1] + book[codes[:, level]])
        parts[c, s] = (sub, codes, np.stack(recs))
    points = []
    for lam in args.lambdas:
        bits = 8.0 * coarse_bytes
        refined = [np.zeros_like(blocks[c]) for c in range(3)]
        for (c, s), (sub, codes, recs) in parts.items():
            err = ((sub[None] - recs) ** 2).sum(-1) * RGB_WEIGHT[c]
            depth = np.zeros(len(sub), np.int64)
            alive = np.ones(len(sub), bool)
            for level in range(args.levels):
                alive &= err[level] - err[level + 1] >= lam * 8.0
                depth[alive] = level + 1
            for level in range(args.levels):
                bits += entropy_bits((depth[depth >= level] > level).astype(np.int64), 2)
                bits += entropy_bits(codes[depth > level, level], 256)
            refined[c][:, s * args.group:(s + 1) * args.group] = recs[depth, np.arange(len(sub))]
        y = base + np.stack([from_blocks(refined[c], hp, wp) for c in range(3)], -1)
        out = np.clip(np.round(ycc_to_rgb(y)), 0, 255)[:h, :w]
        points.append((lam, bits / (h * w), psnr(out, x)))
    return x, points


def jpeg_curve(x):
    h, w = x.shape[:2]
    curve = []
    with tempfile.TemporaryDirectory() as tmp:
        ppm = os.path.join(tmp, "in.ppm")
        with open(ppm, "wb") as f:
            f.write(b"P6\n%d %d\n255\n" % (w, h) + x.astype(np.uint8).tobytes())
        for quality in (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95):
            jpg = subprocess.run(["cjpeg", "-quality", str(quality), "-optimize", ppm], check=True,
                                 capture_output=True).stdout
            raw = subprocess.run(["djpeg", "-ppm"], input=jpg, check=True, capture_output=True).stdout
            dec = np.frombuffer(raw[-w * h * 3:], np.uint8).reshape(h, w, 3)
            curve.append((8.0 * len(jpg) / (h * w), psnr(dec, x)))
    return curve


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "default", "image.vqc"))
    ap.add_argument("--photos", default=os.path.join(ROOT, "build", "image-photos"))
    ap.add_argument("--coarse", type=int, default=1, help="levels of the default model before refinement")
    ap.add_argument("--group", type=int, default=4, help="coefficients per refinement sub-vector (divides 64)")
    ap.add_argument("--levels", type=int, default=3, help="refinement levels per sub-vector")
    ap.add_argument("--max-vectors", type=int, default=100000, help="training sub-vectors per codebook")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--lambdas", type=float, nargs="+", default=[3200, 1600, 800, 400, 200, 100, 50])
    args = ap.parse_args()
    if 64 % args.group:
        sys.exit("--group must divide 64")
    model = vqcodec.ImageModel(args.model)
    books = train(model, sorted(glob.glob(os.path.join(args.photos, "train", "*"))), args)
    print("| photo | λ | bpp (ideal entropy) | PSNR | JPEG PSNR at that bpp |")
    print("|---|---:|---:|---:|---:|")
    for path in sorted(glob.glob(os.path.join(args.photos, "eval", "*"))):
        x, points = refine_curve(model, books, path, args)
        jpeg = jpeg_curve(x)
        jb, jp = zip(*jpeg)
        for lam, bpp, db in points:
            ref = np.interp(bpp, jb, jp, left=np.nan, right=np.nan)
            print(f"| {os.path.basename(path)} | {lam:g} | {bpp:.3f} | {db:.2f} | {ref:.2f} |", flush=True)


if __name__ == "__main__":
    main()
