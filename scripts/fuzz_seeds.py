#!/usr/bin/python3
"""Seed corpus for the fuzz targets (fuzz/fuzz_<target>.cpp): small valid files of every format,
written by this build's vq CLI (and, for the audio model and index files, the build's vq_fuzz_seed_models), plus
hand-written variants of the third-party formats (PNG / BMP / TGA / JPEG, WAV / FLAC / OGG, PLY
encodings) that reach other branches of their readers.

    scripts/fuzz_seeds.py OUT_DIR          writes OUT_DIR/<target>/<seed>

VQ_CLI names the vq binary (default build/apps/vq); VQ_SEED_MODELS the seed-model program
(default build/fuzz/vq_fuzz_seed_models; without it the audio_model and index targets get no seed).
Deterministic for a given build: every random draw is seeded. A fuzz campaign starts from these;
fuzz/corpus/ holds a committed copy small enough for the test suite to replay.
"""
import json
import os
import pathlib
import shutil
import struct
import subprocess
import sys
import tempfile
import wave
import zlib

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
VQ = os.environ.get("VQ_CLI", str(ROOT / "build/apps/vq"))
SEED_MODELS = os.environ.get("VQ_SEED_MODELS", str(ROOT / "build/fuzz/vq_fuzz_seed_models"))
QUANTIZERS = ["VQ5", "PQ2x4", "RVQ2x4", "RVQ2x3b2", "GRVQ2x2x3", "AQ2x3", "SQ8", "SQ4g4", "NF4", "FP8", "PQ2x3r1"]
rng = np.random.default_rng(1)


def vq(*args):
    subprocess.run([VQ, *map(str, args)], check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})


class Seeds:
    def __init__(self, out):
        self.out = pathlib.Path(out)

    def add(self, target, name, data):
        d = self.out / target
        d.mkdir(parents=True, exist_ok=True)
        (d / name).write_bytes(data if isinstance(data, (bytes, bytearray)) else pathlib.Path(data).read_bytes())


def chunks(vqc):
    """(type, payload) of every chunk of a .vqc file's bytes."""
    pos, out = 16, []
    while pos + 12 <= len(vqc):
        t, n = vqc[pos:pos + 4].decode(), struct.unpack("<Q", vqc[pos + 4:pos + 12])[0]
        out.append((t, vqc[pos + 12:pos + 12 + n]))
        pos += 16 + n
    return out


# ---- vectors, quantizers, codes ----------------------------------------------------------------

def vectors(s, tmp):
    centres = rng.normal(size=(12, 8)).astype(np.float32)
    x = (centres[rng.integers(0, 12, 300)] + 0.2 * rng.normal(size=(300, 8))).astype(np.float32)
    np.save(tmp / "train.npy", x)
    np.save(tmp / "few.npy", x[:6])
    s.add("npy", "f4_2d.npy", tmp / "few.npy")
    for name, a in [("f2.npy", x[:3].astype(np.float16)), ("f8.npy", x[:3].astype(np.float64)),
                    ("i8_1d.npy", np.arange(-5, 5, dtype=np.int8)), ("u2.npy", np.arange(6, dtype=np.uint16).reshape(2, 3)),
                    ("i8.npy", np.full((2, 2), 2**40, dtype=np.int64)), ("scalar.npy", np.float32(3)),
                    ("empty.npy", np.zeros((0, 4), np.float32)), ("3d.npy", np.zeros((1, 2, 2), np.uint8))]:
        np.save(tmp / name, a)
        s.add("npy", name, tmp / name)
    for kind, dtype in [("fvecs", np.float32), ("bvecs", np.uint8)]:
        for rows, d in [(3, 8), (1, 1), (2, 5)]:
            rec = b"".join(struct.pack("<i", d) + (np.abs(x[i, :d]) * 40).astype(dtype).tobytes() for i in range(rows))
            s.add(kind, f"{rows}x{d}.{kind}", rec)
    for q in QUANTIZERS:
        vq("train", tmp / "train.npy", "-q", q, "--iters", 2, "--threads", 1, "--quiet", "-o", tmp / f"q_{q}.vqc")
        vq("encode", tmp / "few.npy", "-m", tmp / f"q_{q}.vqc", "-o", tmp / f"c_{q}.vqc", "--quiet")
        s.add("quantizer", f"{q}.vqc", tmp / f"q_{q}.vqc")
        s.add("codes", f"{q}.vqc", tmp / f"c_{q}.vqc")
        s.add("decode_vectors", f"{q}.vqc", tmp / f"c_{q}.vqc")
    s.add("container", "quantizer.vqc", tmp / "q_RVQ2x4.vqc")
    s.add("container", "codes.vqc", tmp / "c_PQ2x4.vqc")
    for i, spec in enumerate(["RVQ8x8b4", "PQ16x8", "GRVQ2x4x8", "AQ2x8", "SQ4g32", "NF4g64", "FP8", "VQ6",
                              "PQ4x4r2", "RVQ2x10"]):
        s.add("quantizer_spec", f"{i}.txt", bytes([64]) + spec.encode())


# ---- weights ------------------------------------------------------------------------------------

def safetensors_bytes(tensors, metadata=None):
    header, blobs, off = {}, [], 0
    for name, dtype, arr in tensors:
        b = arr.tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def weights(s, tmp):
    w = rng.normal(size=(32, 32)).astype(np.float32)
    dense = safetensors_bytes([("layer.weight", "F32", w), ("norm", "F16", w[0].astype(np.float16)),
                               ("emb", "I8", np.arange(12, dtype=np.int8).reshape(3, 4)),
                               ("b", "BF16", (w[1].view(np.uint32) >> 16).astype(np.uint16))],
                              {"format": "pt"})
    s.add("safetensors", "dense.safetensors", dense)
    (tmp / "w.safetensors").write_bytes(safetensors_bytes([("layer.weight", "F32", w), ("proj", "F32", w[:16])]))
    for scheme in ["RTN4g16", "GPTQ3g8", "AQ2x4d4", "AQ1x4d4c2"]:
        out = tmp / f"w_{scheme}.safetensors"
        vq("weights", "compress", tmp / "w.safetensors", "-o", out, "--scheme", scheme, "--quiet")
        s.add("decode_weights", f"{scheme}.safetensors", out)
        s.add("safetensors", f"{scheme}.safetensors", out)


# ---- splats -------------------------------------------------------------------------------------

def ply_to_ascii(data):
    """A binary little-endian PLY of float properties as ASCII, plus a uchar extra property."""
    end = data.index(b"end_header\n") + len(b"end_header\n")
    lines = data[:end].decode().splitlines()
    props = [l.split()[2] for l in lines if l.startswith("property")]
    n = int(next(l for l in lines if l.startswith("element")).split()[2])
    v = np.frombuffer(data[end:], dtype="<f4").reshape(n, len(props))
    head = [l.replace("binary_little_endian", "ascii") for l in lines[:-1]] + ["property uchar label", "end_header"]
    rows = [" ".join(f"{x:.7g}" for x in r) + f" {i % 256}" for i, r in enumerate(v)]
    return ("\n".join(head + rows) + "\n").encode()


def ply_to_big_endian_double(data):
    end = data.index(b"end_header\n") + len(b"end_header\n")
    head = data[:end].decode().replace("binary_little_endian", "binary_big_endian").replace("property float", "property double")
    v = np.frombuffer(data[end:], dtype="<f4")
    return head.encode() + v.astype(">f8").tobytes()


def splats(s, tmp):
    for n, deg in [(40, 1), (12, 0), (24, 3)]:
        ply = tmp / f"s{n}.ply"
        vq("splats", "synth", ply, "-n", n, "--sh-degree", deg, "--seed", n)
        data = ply.read_bytes()
        s.add("ply_binary", f"le_{n}_sh{deg}.ply", data)
        s.add("ply_ascii", f"{n}_sh{deg}.ply", ply_to_ascii(data))
        if n == 12:
            s.add("ply_binary", f"be_double_{n}.ply", ply_to_big_endian_double(data))
        vq("encode", ply, "-o", tmp / f"s{n}.vqc", "--quality", "low", "--kmeans-iterations", 2, "--quiet")
        s.add("splats", f"{n}_sh{deg}.vqc", tmp / f"s{n}.vqc")


# ---- audio --------------------------------------------------------------------------------------

def write_wav(path, rate, x, sampwidth=2):
    with wave.open(str(path), "wb") as f:
        f.setnchannels(x.shape[1])
        f.setsampwidth(sampwidth)
        f.setframerate(rate)
        scale = 127 if sampwidth == 1 else 32767
        v = np.clip(x, -1, 1) * scale
        f.writeframes((v + 128).astype(np.uint8).tobytes() if sampwidth == 1 else v.astype("<i2").tobytes())


def audio(s, tmp):
    t = np.arange(4000) / 8000.0
    tone = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.normal(size=t.size))[:, None]
    write_wav(tmp / "mono8k.wav", 8000, tone)
    write_wav(tmp / "stereo16k.wav", 16000, np.hstack([tone, -tone])[:2000])
    write_wav(tmp / "u8.wav", 11025, tone[:500], sampwidth=1)
    for name in ["mono8k.wav", "stereo16k.wav", "u8.wav"]:
        s.add("audio_reader", name, tmp / name)
    if shutil.which("sndfile-convert"):
        for ext in ["flac", "ogg"]:
            subprocess.run(["sndfile-convert", tmp / "mono8k.wav", tmp / f"mono8k.{ext}"], check=True,
                           stdout=subprocess.DEVNULL)
            s.add("audio_reader", f"mono8k.{ext}", tmp / f"mono8k.{ext}")
    for rate in ["1.5k", "6k", "24k"]:
        out = tmp / f"a_{rate}.vqc"
        vq("encode", tmp / "mono8k.wav", "-o", out, "--bitrate", rate, "--quiet")
        for target in ["audio_encoded", "decode_audio"]:
            s.add(target, f"{rate}.vqc", out)
    s.add("container", "audio.vqc", tmp / "a_1.5k.vqc")
    if os.path.exists(SEED_MODELS):
        subprocess.run([SEED_MODELS, tmp], check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        s.add("audio_model", "tiny.vqc", tmp / "audio_model.vqc")
        for f in sorted(tmp.glob("index_*.vqc")):
            s.add("index", f.name, f)
    else:
        print(f"fuzz_seeds: {SEED_MODELS} missing: no audio_model seed", file=sys.stderr)


# ---- images -------------------------------------------------------------------------------------

def png_bytes(img, bit_depth=8):
    """A PNG of an (h, w, c) uint8 / uint16 array, every row with a different filter type."""
    h, w, c = img.shape
    colour = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    raw = b""
    for y in range(h):
        row = img[y].astype(">u2" if bit_depth == 16 else np.uint8).tobytes()
        raw += bytes([0 if y % 2 else 1]) + (row if y % 2 else sub_filter(row, c * bit_depth // 8))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bit_depth, colour, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def sub_filter(row, bpp):
    out = bytearray(row)
    for i in range(len(row) - 1, bpp - 1, -1):
        out[i] = (row[i] - row[i - bpp]) & 0xFF
    return bytes(out)


def bmp_bytes(img):
    h, w, _ = img.shape
    stride = (w * 3 + 3) & ~3
    rows = b"".join(img[y, :, ::-1].tobytes() + b"\0" * (stride - 3 * w) for y in range(h - 1, -1, -1))
    return (b"BM" + struct.pack("<IHHI", 54 + len(rows), 0, 0, 54)
            + struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(rows), 2835, 2835, 0, 0) + rows)


def tga_bytes(img, rle):
    h, w, _ = img.shape
    head = struct.pack("<BBBHHBHHHHBB", 0, 0, 10 if rle else 2, 0, 0, 0, 0, 0, w, h, 24, 0x20)
    px = img[:, :, ::-1].reshape(-1, 3)
    if not rle:
        return head + px.tobytes()
    body = b""
    for i in range(0, len(px), 4):  # alternate run and raw packets
        group = px[i:i + 4]
        body += bytes([0x80 | (len(group) - 1)]) + group[0].tobytes() if (i // 4) % 2 else bytes([len(group) - 1]) + group.tobytes()
    return head + body


def images(s, tmp):
    y, x = np.mgrid[0:20, 0:24]
    rgb = np.stack([x * 10, y * 12, (x + y) * 5], -1).astype(np.uint8)
    rgba = np.concatenate([rgb, (x * 10 % 256).astype(np.uint8)[..., None]], -1)
    grey = rgb[..., :1]
    for name, data in [("rgb.png", png_bytes(rgb)), ("rgba.png", png_bytes(rgba)), ("grey.png", png_bytes(grey)),
                       ("grey_alpha.png", png_bytes(rgba[..., 2:4])), ("grey16.png", png_bytes(grey.astype(np.uint16) * 257, 16)),
                       ("rgb.bmp", bmp_bytes(rgb)), ("rgb.tga", tga_bytes(rgb, False)), ("rle.tga", tga_bytes(rgb, True))]:
        (tmp / name).write_bytes(data)
        s.add("image_reader", name, data)
    if shutil.which("cjpeg"):
        ppm = tmp / "rgb.ppm"
        ppm.write_bytes(b"P6\n24 20\n255\n" + rgb.tobytes())
        for name, args in [("base.jpg", []), ("progressive.jpg", ["-progressive"]), ("grey.jpg", ["-grayscale"])]:
            jpg = subprocess.run(["cjpeg", "-quality", "60", *args, str(ppm)], check=True, capture_output=True).stdout
            s.add("image_reader", name, jpg)
    encodings = [("fixed2", ["--levels", 2, "--coding", "fixed"]), ("zstd3", ["--levels", 3, "--coding", "zstd"]),
                 ("arith", ["--levels", 2, "--coding", "arithmetic"]), ("adaptive", ["--min-gain", 4]),
                 ("step20", ["--levels", 1, "--step", 20])]
    for name, args in encodings:
        src = tmp / ("rgba.png" if name == "zstd3" else "rgb.png")
        out = tmp / f"i_{name}.vqc"
        vq("encode", src, "-o", out, *args, "--quiet")
        data = out.read_bytes()
        s.add("image_encoded", f"{name}.vqc", data)
        s.add("decode_image", f"{name}.vqc", data)
        meta = json.loads(dict(chunks(data))["META"])
        coding = ["fixed", "zstd", "arithmetic"].index(meta["image.token_coding"])
        flags = (1 if meta.get("image.depth") == "adaptive" else 0) | (16 * (int(meta["image.groups"]) - 1))
        prefix = bytes([coding, int(meta["image.rows"]) - 1, int(meta["image.cols"]) - 1, int(meta["image.levels"]) - 1,
                        int(meta["image.bits"]) - 1, flags])
        s.add("image_entropy", f"tokens_{name}", prefix + dict(chunks(data))["ITOK"])
        if "IREF" in dict(chunks(data)):  # patch 8: flags bits 5..7 = 3
            s.add("image_entropy", f"refinement_{name}",
                  bytes([0, int(meta["image.rows"]) - 1, int(meta["image.cols"]) - 1, 0, 0, 0x60]) + dict(chunks(data))["IREF"])
    s.add("container", "image.vqc", tmp / "i_step20.vqc")
    train = tmp / "image_train"
    train.mkdir()
    for i in range(3):
        (train / f"{i}.png").write_bytes(png_bytes(np.roll(rgb, 5 * i, axis=1)))
    vq("image", "train", train, "-o", tmp / "im.vqc", "--patch", 4, "-q", "RVQ2x4", "--max-patches", 300,
       "--iterations", 2, "--threads", 1, "--quiet")
    s.add("image_model", "rvq2x4_patch4.vqc", tmp / "im.vqc")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    if not os.access(VQ, os.X_OK):
        sys.exit(f"fuzz_seeds: no vq CLI at {VQ} (build first, or set VQ_CLI)")
    s = Seeds(sys.argv[1])
    with tempfile.TemporaryDirectory() as t:
        tmp = pathlib.Path(t)
        for part in [vectors, weights, splats, audio, images]:
            part(s, tmp)
    total = sum(f.stat().st_size for f in s.out.rglob("*") if f.is_file())
    print(f"fuzz_seeds: {sum(1 for f in s.out.rglob('*') if f.is_file())} seeds, {total} bytes in {s.out}")


if __name__ == "__main__":
    main()
