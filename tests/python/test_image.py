"""vqcodec.ImageModel: tokens and encoded images from numpy, against the vq CLI and each other."""
import os
import pathlib
import subprocess

import numpy as np
import pytest

import vqcodec as vq

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "default" / "image.vqc"
PHOTO = ROOT / "models" / "samples" / "chelsea.png"


@pytest.fixture(scope="module")
def model():
    return vq.ImageModel(str(MODEL))


@pytest.fixture(scope="module")
def photo():
    return vq.read_image(str(PHOTO))[:97, :131]  # odd size: padded patches


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / mse)


def test_tokens_and_levels(model, photo):
    assert (model.patch, model.levels, model.groups, model.bits) == (8, 8, 1, 8)
    t = model.tokens(photo)
    assert t.shape == (13, 17, 8) and t.dtype == np.uint8
    for levels in (1, 3):
        np.testing.assert_array_equal(model.tokens(photo, levels=levels), t[:, :, :levels])
    quality = [psnr(photo, model.from_tokens(t[:, :, :l].copy(), 131, 97)) for l in (1, 2, 4, 8)]
    assert all(a < b for a, b in zip(quality, quality[1:]))


def test_from_tokens_equals_decoding_every_coding(model, photo):
    t = model.tokens(photo, levels=4)
    direct = model.from_tokens(t, 131, 97)
    assert direct.shape == photo.shape and direct.dtype == np.uint8
    for coding in ("fixed", "zstd", "arithmetic"):
        data = model.compress(photo, levels=4, coding=coding)
        assert data == model.compress(photo, levels=4, coding=coding)  # deterministic bytes
        np.testing.assert_array_equal(model.decompress(data), direct)


def test_refinement_step(model, photo):
    tokens_only = model.compress(photo, levels=1)
    coarse, fine = model.compress(photo, levels=1, step=24.0), model.compress(photo, levels=1, step=4.0)
    assert fine == model.compress(photo, levels=1, step=4.0)
    assert len(tokens_only) < len(coarse) < len(fine)
    assert psnr(photo, model.decompress(tokens_only)) < psnr(photo, model.decompress(coarse)) < psnr(photo, model.decompress(fine))
    assert psnr(photo, model.decompress(fine)) > 40
    with pytest.raises(ValueError):
        model.compress(photo, step=-1.0)
    sized = model.compress(photo, levels=1, bpp=2.0)
    assert len(sized) * 8 <= 2.0 * photo.shape[0] * photo.shape[1]
    with pytest.raises(ValueError):
        model.compress(photo, step=4.0, bpp=1.0)


def test_adaptive_depth(model, photo):
    fine, coarse = model.compress(photo, min_gain=1.0), model.compress(photo, min_gain=16.0)
    assert fine == model.compress(photo, min_gain=1.0)
    assert len(coarse) < len(fine)
    assert psnr(photo, model.decompress(coarse)) < psnr(photo, model.decompress(fine))
    with pytest.raises(ValueError):
        model.compress(photo, min_gain=2.0, coding="fixed")  # no fixed-length form
    with pytest.raises(ValueError):
        model.compress(photo, min_gain=-1.0)


def test_grey_and_alpha(model, photo):
    grey = np.ascontiguousarray(photo[:, :, 1])
    out = model.decompress(model.compress(grey))
    assert out.shape == grey.shape and psnr(grey, out) > 25
    rgba = np.dstack([photo, np.arange(131, dtype=np.uint8)[None, :].repeat(97, 0)])
    out = model.decompress(model.compress(rgba, levels=2))
    assert out.shape == rgba.shape
    np.testing.assert_array_equal(out[:, :, 3], rgba[:, :, 3])  # alpha is kept losslessly


def test_encode_and_decode_are_the_old_names_of_compress_and_decompress(model, photo):
    with pytest.warns(DeprecationWarning, match="compress"):
        data = model.encode(photo, levels=2)
    assert data == model.compress(photo, levels=2)
    with pytest.warns(DeprecationWarning, match="decompress"):
        np.testing.assert_array_equal(model.decode(data), model.decompress(data))


def test_bad_input(model, photo):
    # A wrong dtype is a TypeError, a wrong shape a ValueError, as in every other binding.
    with pytest.raises(TypeError, match="uint8"):
        model.tokens(photo.astype(np.float32))
    with pytest.raises(TypeError, match="uint8 or uint16"):
        model.from_tokens(model.tokens(photo).astype(np.int64), 131, 97)
    with pytest.raises(ValueError):
        model.tokens(photo[None])
    with pytest.raises(ValueError):
        model.from_tokens(model.tokens(photo), 200, 97)  # grid does not cover that size
    with pytest.raises(ValueError):
        model.decompress(b"not a vqc file")
    with pytest.raises(ValueError):
        vq.ImageModel(str(PHOTO))


@pytest.mark.skipif("VQ_CLI" not in os.environ, reason="needs the vq binary (set by ctest)")
def test_matches_the_cli(model, tmp_path):
    img = vq.read_image(str(PHOTO))
    cli = os.environ["VQ_CLI"]
    subprocess.run([cli, "encode", str(PHOTO), "-o", str(tmp_path / "f.vqc"), "-m", str(MODEL), "--coding", "fixed",
                    "--tokens", str(tmp_path / "t.npy"), "--quiet"], check=True)
    np.testing.assert_array_equal(np.load(tmp_path / "t.npy"), model.tokens(img))
    subprocess.run([cli, "encode", str(PHOTO), "-o", str(tmp_path / "a.vqc"), "-m", str(MODEL), "--min-gain", "4",
                    "--quiet"], check=True)
    data = (tmp_path / "a.vqc").read_bytes()
    subprocess.run([cli, "decode", str(tmp_path / "a.vqc"), "-o", str(tmp_path / "a.png"), "--quiet"], check=True)
    np.testing.assert_array_equal(model.decompress(data), vq.read_image(str(tmp_path / "a.png")))
    # Codec mode: vq encode --step (1 token level) decodes like the Python encoding of the same settings.
    subprocess.run([cli, "encode", str(PHOTO), "-o", str(tmp_path / "s.vqc"), "-m", str(MODEL), "--step", "20",
                    "--quiet"], check=True)
    subprocess.run([cli, "decode", str(tmp_path / "s.vqc"), "-o", str(tmp_path / "s.png"), "--quiet"], check=True)
    np.testing.assert_array_equal(model.decompress(model.compress(img, levels=1, step=20.0)),
                                  vq.read_image(str(tmp_path / "s.png")))
