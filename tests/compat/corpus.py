"""The compatibility corpus: small files of every kind written by one release, which every later
release must read and decode to the same values.

    corpus.py make DIR      write DIR (tests/compat/<version>/) with the vq CLI of this build
    corpus.py check DIR...  decode every file listed in DIR/manifest.json with this build's CLI
                            and compare with the values decoded when the corpus was written

VQ_CLI names the vq binary; the Python package (vqcodec) of the same build reads images.
The manifest lists, per file, the decode command's output extension, the expected output and a
tolerance (0 for the exact integer / table-sum decoders; a small relative one where the decoder
runs transforms whose rounding may legitimately change: audio's inverse MDCT, image DCTs).
"""
import json
import os
import pathlib
import struct
import subprocess
import sys
import tempfile
import wave

import numpy as np

VQ = os.environ.get("VQ_CLI", "vq")
QUANTIZERS = ["VQ6", "PQ4x4", "RVQ3x4b2", "GRVQ2x2x4", "AQ2x4", "SQ8", "SQ4g8", "NF4", "FP8", "PQ4x4r2"]


def vq(*args):
    subprocess.run([VQ, *map(str, args)], check=True, stdout=subprocess.DEVNULL)


# ---- readers of the decoded outputs -------------------------------------------------------------

def read_wav(path):
    """Float32 or 16-bit PCM WAV -> float64 samples (frames × channels)."""
    data = pathlib.Path(path).read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE", path
    pos, fmt, samples = 12, None, None
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = data[pos + 8:pos + 8 + size]
        if cid == b"fmt ":
            tag, channels, _, _, _, bits = struct.unpack("<HHIIHH", body[:16])
            fmt = (tag, channels, bits)
        elif cid == b"data":
            samples = body
        pos += 8 + size + (size & 1)
    tag, channels, bits = fmt
    if tag == 0xFFFE:  # WAVE_FORMAT_EXTENSIBLE: the subformat decides; float32 is what vq writes
        tag = 3 if bits == 32 else 1
    dtype = np.float32 if (tag == 3 and bits == 32) else np.int16
    x = np.frombuffer(samples, dtype=dtype).astype(np.float64)
    if dtype == np.int16:
        x /= 32768.0
    return x.reshape(-1, channels)


def read_ply(path):
    """Binary little-endian PLY of float properties -> (n × properties) float32 and the names."""
    data = pathlib.Path(path).read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode().splitlines()
    n = next(int(l.split()[2]) for l in header if l.startswith("element vertex"))
    names = [l.split()[2] for l in header if l.startswith("property")]
    assert all(l.split()[1] == "float" for l in header if l.startswith("property")), path
    return np.frombuffer(data[end:end + 4 * n * len(names)], dtype="<f4").reshape(n, len(names)), names


def read_safetensors(path):
    data = pathlib.Path(path).read_bytes()
    (hlen,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + hlen])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", (path, name, info["dtype"])
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(data[8 + hlen + a:8 + hlen + b], dtype="<f4").reshape(info["shape"])
    return out


def read_output(path):
    suffix = pathlib.Path(path).suffix
    if suffix == ".npy":
        return {"": np.load(path)}
    if suffix == ".wav":
        return {"": read_wav(path)}
    if suffix == ".png":
        import vqcodec
        return {"": vqcodec.read_image(str(path))}
    if suffix == ".ply":
        values, names = read_ply(path)
        return {"": values, "names": np.array(names)}
    if suffix == ".safetensors":
        return read_safetensors(path)
    raise ValueError(f"no reader for {path}")


def to_npz_dict(decoded):
    return {k if k else "value": v for k, v in decoded.items()}


# ---- make -----------------------------------------------------------------------------------------

def write_wav16(path, x, rate):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        b = np.ascontiguousarray(t, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    pathlib.Path(path).write_bytes(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def make(out):
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2026)
    entries = []

    def entry(file, output_ext, tolerance, note):
        decoded = out / f"{file}.expected{output_ext}"
        vq("decode", out / file, "-o", decoded, "--quiet")
        np.savez_compressed(out / f"{file}.expected.npz", **to_npz_dict(read_output(decoded)))
        decoded.unlink()
        entries.append({"file": file, "decode_to": output_ext, "expected": f"{file}.expected.npz",
                        "rtol": tolerance, "note": note})

    # Vectors: one quantizer of every family, and codes written with it.
    x = (rng.standard_normal((240, 16)) @ rng.standard_normal((16, 16)) * 0.5).astype(np.float32)
    np.save(out / "vectors.npy", x)
    for spec in QUANTIZERS:
        vq("train", out / "vectors.npy", "-o", out / f"quantizer_{spec}.vqc", "--quantizer", spec, "--iters", 4,
           "--seed", 3, "--threads", 1, "--quiet")
        vq("encode", out / "vectors.npy", "-m", out / f"quantizer_{spec}.vqc", "-o", out / f"codes_{spec}.vqc",
           "--quiet")
        entry(f"codes_{spec}.vqc", ".npy", 0.0, f"{spec} codes of vectors.npy")
        entries.append({"file": f"quantizer_{spec}.vqc", "load": "quantizer", "note": f"a trained {spec}"})

    # Audio: one second of a chirp with harmonics and noise, at 6 and 24 kbps.
    rate = 24000
    t = np.arange(rate) / rate
    sig = 0.3 * np.sin(2 * np.pi * (220 + 400 * t) * t) + 0.1 * np.sin(2 * np.pi * 1760 * t) \
        + 0.02 * rng.standard_normal(rate)
    write_wav16(out / "audio.wav", sig, rate)
    for kbps in ("6k", "24k"):
        vq("encode", out / "audio.wav", "-o", out / f"audio_{kbps}.vqc", "--bitrate", kbps, "--quiet")
        entry(f"audio_{kbps}.vqc", ".wav", 1e-4, f"audio.wav at {kbps}bps, default audio model")

    # Images: a 64 × 48 crop of the demo photograph as tokens and in codec mode.
    import vqcodec
    photo = vqcodec.read_image(str(pathlib.Path(vqcodec.models_dir()) / "samples" / "chelsea.png"))
    vqcodec.write_png(str(out / "image.png"), np.ascontiguousarray(photo[100:148, 150:214]))
    vq("encode", out / "image.png", "-o", out / "image_tokens.vqc", "--levels", 4, "--quiet")
    entry("image_tokens.vqc", ".png", 1.0, "image.png, 4 token levels, default image model (rtol: ±1 level)")
    vq("encode", out / "image.png", "-o", out / "image_step20.vqc", "--step", 20, "--quiet")
    entry("image_step20.vqc", ".png", 1.0, "image.png in codec mode, step 20 (rtol: ±1 level)")

    # Splats: a small synthetic scene at the low preset.
    vq("splats", "synth", out / "scene.ply", "-n", 300)
    vq("encode", out / "scene.ply", "-o", out / "scene.vqc", "--quality", "low", "--quiet")
    (out / "scene.ply").unlink()
    entry("scene.vqc", ".ply", 1e-5, "a 300-Gaussian synthetic scene, preset low")

    # Weights: a 64 × 64 layer compressed with AQ2x8d8 and GPTQ4g32.
    write_safetensors(out / "layer.safetensors", {"layer.weight": rng.standard_normal((64, 64)).astype(np.float32)})
    for scheme in ("AQ2x8d8", "GPTQ4g32"):
        target = out / f"weights_{scheme}.safetensors"
        vq("weights", "compress", out / "layer.safetensors", "-o", target, "--scheme", scheme, "--quiet")
        decoded = out / f"weights_{scheme}.expected.safetensors"
        vq("weights", "decompress", target, "-o", decoded)
        np.savez_compressed(out / f"weights_{scheme}.expected.npz", **read_safetensors(decoded))
        decoded.unlink()
        entries.append({"file": target.name, "decompress": True, "expected": f"weights_{scheme}.expected.npz",
                        "rtol": 0.0, "note": f"layer.safetensors as {scheme}"})
    (out / "layer.safetensors").unlink()

    version = subprocess.run([VQ, "--version"], check=True, capture_output=True, text=True).stdout.strip()
    (out / "manifest.json").write_text(json.dumps({"written_by": version, "entries": entries}, indent=1) + "\n")
    print(f"wrote {len(entries)} entries to {out} ({version})")


# ---- check ----------------------------------------------------------------------------------------

def close(got, want, rtol):
    if got.shape != want.shape:
        return f"shape {got.shape} != {want.shape}"
    if want.dtype.kind in "US":
        return None if np.array_equal(got, want) else "names differ"
    g, w = got.astype(np.float64), want.astype(np.float64)
    if rtol == 0:
        return None if np.array_equal(g, w) else f"max |diff| {np.max(np.abs(g - w)):.3g} (exact expected)"
    scale = max(np.max(np.abs(w)), 1e-30)
    # Image tolerances are absolute uint8 levels (rtol >= 1); others relative to the peak.
    limit = rtol if w.dtype.kind == "u" or rtol >= 1 else rtol * scale
    diff = np.max(np.abs(g - w)) if g.size else 0.0
    return None if diff <= limit else f"max |diff| {diff:.3g} > {limit:.3g}"


def check(dirs):
    failures, checked = [], 0
    for d in map(pathlib.Path, dirs):
        manifest = json.loads((d / "manifest.json").read_text())
        with tempfile.TemporaryDirectory() as tmp:
            for e in manifest["entries"]:
                where = f"{d.name}/{e['file']}"
                try:
                    if e.get("load") == "quantizer":
                        vq("info", d / e["file"])
                        import vqcodec
                        vqcodec.load(str(d / e["file"]))
                        checked += 1
                        continue
                    out = pathlib.Path(tmp) / (e["file"] + (".safetensors" if e.get("decompress") else e["decode_to"]))
                    if e.get("decompress"):
                        vq("weights", "decompress", d / e["file"], "-o", out)
                    else:
                        vq("decode", d / e["file"], "-o", out, "--quiet")
                    got = to_npz_dict(read_output(out))
                    want = np.load(d / e["expected"])
                    for key in want.files:
                        problem = close(got[key], want[key], e["rtol"]) if key in got else "missing"
                        if problem:
                            failures.append(f"{where} [{key}]: {problem}")
                    checked += 1
                except subprocess.CalledProcessError as err:
                    failures.append(f"{where}: {' '.join(map(str, err.cmd))} failed ({err.returncode})")
    for f in failures:
        print("FAIL", f)
    print(f"{checked} files checked, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "make":
        make(sys.argv[2])
    elif len(sys.argv) >= 3 and sys.argv[1] == "check":
        sys.exit(check(sys.argv[2:]))
    else:
        sys.exit(__doc__)
