"""The Python contract of vqcodec: shapes, dtypes, errors, persistence, agreement with C++."""
import os
import pickle
import subprocess
import threading
import time
import _thread

import numpy as np
import pytest

import vqcodec as vq
from conftest import clustered

ALL = [
    lambda d: vq.VectorQuantizer(d, bits=6),
    lambda d: vq.ProductQuantizer(d, subvectors=4, bits=5),
    lambda d: vq.ResidualQuantizer(d, levels=3, bits=5, beam=2),
    lambda d: vq.GroupResidualQuantizer(d, groups=2, levels=2, bits=5),
    lambda d: vq.AdditiveQuantizer(d, codebooks=2, bits=5, beam=4),
    lambda d: vq.ScalarQuantizer(d, bits=4),
    lambda d: vq.ScalarQuantizer(d, bits=4, kind="nf", group=8),
]


@pytest.mark.parametrize("make", ALL)
def test_round_trip_shapes_and_error(make, data):
    q = make(data.shape[1]).fit(data, iters=8, seed=3)
    codes = q.encode(data)
    assert codes.shape == (len(data), q.num_codebooks)
    assert codes.dtype == (np.uint8 if max(q._q.book_bits) <= 8 else np.uint16)
    xh = q.decode(codes)
    assert xh.shape == data.shape and xh.dtype == np.float32
    rel = ((data - xh) ** 2).sum() / (data ** 2).sum()
    assert rel < 0.2, f"{q.spec}: relative error {rel}"
    # Encoding the reconstruction again is stable: exactly for nearest-codeword encoders; for
    # beam/greedy multi-book encoders x̂ is re-encoded to (almost) itself.
    again = q.encode(xh)
    if q.spec[:2] in ("VQ", "PQ", "SQ", "NF"):
        np.testing.assert_array_equal(again, codes)
    else:
        drift = ((q.decode(again) - xh) ** 2).sum() / ((data - xh) ** 2).sum()
        assert drift < 0.05, f"{q.spec}: re-encoding x̂ moved it by {drift} of the error"


@pytest.mark.parametrize("make", ALL)
def test_save_load_and_pickle(make, data, tmp_path):
    q = make(data.shape[1]).fit(data, iters=5, seed=1)
    codes = q.encode(data[:200])
    path = tmp_path / "q.vqc"
    q.save(str(path))
    for q2 in (vq.load(str(path)), pickle.loads(pickle.dumps(q))):
        assert type(q2) is type(q) and q2.spec == q.spec
        np.testing.assert_array_equal(q2.encode(data[:200]), codes)
        np.testing.assert_array_equal(q2.decode(codes), q.decode(codes))
    # Untrained quantizers pickle by their configuration.
    # (per-group scalar quantizers need no training and are ready at construction).
    untrained = make(data.shape[1])
    fresh = pickle.loads(pickle.dumps(untrained))
    assert fresh.is_trained == untrained.is_trained and fresh.spec == q.spec


def test_float64_input_and_views(data):
    q = vq.ProductQuantizer(16, 4, 4).fit(data.astype(np.float64), seed=2)
    np.testing.assert_array_equal(q.encode(data.astype(np.float64)), q.encode(data))
    # A non-contiguous view is accepted (copied) and gives the same codes.
    wide = np.repeat(data, 2, axis=1)[:, ::2]
    np.testing.assert_array_equal(q.encode(wide), q.encode(data))
    books = q.codebooks
    assert len(books) == 4 and books[0].shape == (16, 4) and not books[0].flags.writeable


def test_determinism_for_seed(data):
    a = vq.ResidualQuantizer(16, 2, 6).fit(data, seed=7, threads=2)
    b = vq.ResidualQuantizer(16, 2, 6).fit(data, seed=7, threads=2)
    for x, y in zip(a.codebooks, b.codebooks):
        np.testing.assert_array_equal(x, y)


def test_search_equals_brute_force_on_decoded(data):
    q = vq.ResidualQuantizer(16, 2, 6).fit(data, seed=0)
    codes = q.encode(data)
    xh = q.decode(codes)
    queries = clustered(20, 16, seed=9)
    for metric in ("l2", "ip"):
        D, I = q.search(queries, codes, k=5, distance=metric)
        assert D.shape == (20, 5) and I.dtype == np.int64
        if metric == "l2":
            full = ((queries[:, None, :].astype(np.float64) - xh[None, :, :]) ** 2).sum(-1)
            best = np.sort(full, axis=1)[:, :5]
        else:
            full = queries.astype(np.float64) @ xh.T
            best = -np.sort(-full, axis=1)[:, :5]
        # Ids may differ only between (near-)equal scores: compare the scores they stand for.
        tol = 1e-4 * np.abs(full).max()
        np.testing.assert_allclose(np.take_along_axis(full, I, 1), best, atol=tol)
        np.testing.assert_allclose(D, best, atol=tol)
        assert (I == np.argsort(full if metric == "l2" else -full, 1, kind="stable")[:, :5]).mean() > 0.9


def test_metric_weights_reduce_weighted_error(data):
    h = np.ones(16, np.float32)
    h[:4] = 50.0  # the first four dimensions matter far more
    plain = vq.ProductQuantizer(16, 2, 5).fit(data, seed=0)
    weighted = vq.ProductQuantizer(16, 2, 5).fit(data, metric=h, seed=0)

    def werr(q):
        return (((data - q.decode(q.encode(data))) ** 2) * h).sum()

    assert werr(weighted) < werr(plain)


def test_kmeans(data):
    C, assign = vq.kmeans(data, 8, iters=10, seed=1)
    assert C.shape == (8, 16) and assign.shape == (len(data),)
    d2 = ((data[:, None, :] - C[None]) ** 2).sum(-1)
    assert (np.argmin(d2, 1) == assign).mean() > 0.999
    C2, _ = vq.kmeans(data, 8, iters=10, seed=1)
    np.testing.assert_array_equal(C, C2)


def test_progressive_kmeans_generalises_from_few_rows():
    # 10 rows per centroid of a Gaussian with decaying spectrum, and rows not trained on:
    # progressive-dimension clustering fits those better than plain k-means.
    rng = np.random.default_rng(5)
    scale = 1.0 / (1.0 + np.arange(32))
    train = (rng.standard_normal((640, 32)) * scale).astype(np.float32)
    held = (rng.standard_normal((4000, 32)) * scale).astype(np.float32)

    def held_error(C):
        return (((held[:, None, :] - C[None]) ** 2).sum(-1)).min(1).mean()
    C_plain, _ = vq.kmeans(train, 64, iters=10, seed=1, init="random")
    C_prog, assign = vq.kmeans(train, 64, iters=10, seed=1, init="random", progressive_steps=10)
    assert C_prog.shape == (64, 32) and assign.shape == (640,)
    assert held_error(C_prog) < 0.98 * held_error(C_plain)
    with pytest.raises(vq.VQError, match="identity metric"):
        vq.kmeans(train, 64, metric=np.ones(32, np.float32), progressive_steps=10)


def test_usage(data):
    q = vq.VectorQuantizer(16, 4).fit(data)
    (u,) = q.usage(q.encode(data))
    assert u.counts.sum() == len(data) and 1.0 <= u.perplexity <= 16.0 and u.dead >= 0


@pytest.mark.parametrize("bad, exc", [
    (np.zeros((10, 16), np.int32), TypeError),
    (np.zeros((10, 15), np.float32), ValueError),
    (np.zeros(16, np.float32), ValueError),
    ("text", TypeError),
])
def test_bad_input_raises(bad, exc, data):
    q = vq.VectorQuantizer(16, 3).fit(data)
    with pytest.raises(exc):
        q.encode(bad)


def test_errors_are_clear(data):
    with pytest.raises(ValueError, match="not trained"):
        vq.VectorQuantizer(16, 3).encode(data)
    with pytest.raises(ValueError, match="position"):
        vq.Quantizer("PQ4y4", 16)
    nan = data.copy()
    nan[3, 2] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        vq.VectorQuantizer(16, 3).fit(nan)
    q = vq.VectorQuantizer(16, 3).fit(data)
    with pytest.raises(ValueError, match="out of range"):
        q.decode(np.full((2, 1), 8, np.uint8))
    with pytest.raises(ValueError):
        vq.load("/nonexistent/file.vqc")
    with pytest.raises(ValueError):
        vq.from_bytes(b"not a container")
    with pytest.raises(ValueError, match="distance"):
        q.search(data[:2], q.encode(data), distance="cosine")


def test_search_metric_is_the_old_name_of_distance(data):
    q = vq.ResidualQuantizer(16, 2, 6).fit(data, seed=0, iters=3)
    codes = q.encode(data)
    D, I = q.search(data[:3], codes, k=4, distance="ip")
    with pytest.warns(DeprecationWarning, match="distance"):
        D_old, I_old = q.search(data[:3], codes, k=4, metric="ip")
    np.testing.assert_array_equal(I, I_old)
    np.testing.assert_array_equal(D, D_old)


def test_classes_name_their_configuration_in_the_one_grammar():
    cases = [(vq.VectorQuantizer(16, 6), "VQ6"), (vq.ProductQuantizer(16, 4, 8), "PQ4x8"),
             (vq.ResidualQuantizer(16, 3, 8), "RVQ3x8"), (vq.ResidualQuantizer(16, 3, 8, beam=4), "RVQ3x8b4"),
             (vq.GroupResidualQuantizer(16, 2, 3, 4, beam=2), "GRVQ2x3x4b2"),
             (vq.AdditiveQuantizer(16, 2, 8), "AQ2x8"), (vq.AdditiveQuantizer(16, 2, 8, beam=1), "AQ2x8b1"),
             (vq.ScalarQuantizer(16, 4, group=8), "SQ4g8"), (vq.ScalarQuantizer(16, 4, kind="nf"), "NF4")]
    for q, spec in cases:
        assert q.spec == spec
        assert vq.Quantizer(spec, 16).spec == spec
    with pytest.raises(ValueError):
        vq.ResidualQuantizer(16, 0, 8)


def test_gil_released_during_fit():
    x = clustered(60000, 32, seed=2)
    ticks = []
    q = vq.ResidualQuantizer(32, 4, 8)
    t = threading.Thread(target=lambda: q.fit(x, iters=10, threads=1))
    t.start()
    while t.is_alive():
        ticks.append(time.perf_counter())
        time.sleep(0.001)
    t.join()
    assert q.is_trained
    assert len(ticks) > 20, "the main thread did not run while fit() was training"


def test_ctrl_c_interrupts_fit():
    x = clustered(60000, 32, seed=3)
    timer = threading.Timer(0.2, _thread.interrupt_main)
    timer.start()
    q = vq.ResidualQuantizer(32, 8, 8)
    with pytest.raises(KeyboardInterrupt):
        q.fit(x, iters=25)
    timer.cancel()
    assert not q.is_trained


@pytest.mark.skipif("VQ_CLI" not in os.environ, reason="needs the vq binary (set by ctest)")
def test_same_result_as_cli(data, tmp_path):
    """Python and the C++ CLI give bit-identical models for the same seed and threads."""
    np.save(tmp_path / "x.npy", data)
    subprocess.run([os.environ["VQ_CLI"], "train", str(tmp_path / "x.npy"), "-o",
                    str(tmp_path / "cli.vqc"), "--quantizer", "RVQ3x5b2", "--seed", "5",
                    "--threads", "2", "--iters", "7", "--quiet"], check=True)
    cli = vq.load(str(tmp_path / "cli.vqc"))
    py = vq.Quantizer("RVQ3x5b2", 16).fit(data, seed=5, threads=2, iters=7)
    for a, b in zip(cli.codebooks, py.codebooks):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(cli.encode(data), py.encode(data))


@pytest.mark.skipif("VQ_CLI" not in os.environ, reason="needs the vq binary (set by ctest)")
def test_codes_files_are_what_the_cli_writes_and_reads(data, tmp_path):
    """save_codes writes what `vq encode` writes: `vq decode` reads it, and load_codes reads the CLI's."""
    np.save(tmp_path / "x.npy", data)
    q = vq.Quantizer("RVQ2x5", 16).fit(data, seed=1, iters=4)
    codes = q.encode(data)
    vq.save_codes(tmp_path / "py.vqc", q, codes, source="x.npy")
    subprocess.run([os.environ["VQ_CLI"], "decode", str(tmp_path / "py.vqc"), "-o", str(tmp_path / "d.npy"),
                    "--quiet"], check=True)
    np.testing.assert_array_equal(np.load(tmp_path / "d.npy"), q.decode(codes))

    q.save(str(tmp_path / "m.vqc"))
    subprocess.run([os.environ["VQ_CLI"], "encode", str(tmp_path / "x.npy"), "-m", str(tmp_path / "m.vqc"),
                    "-o", str(tmp_path / "cli.vqc"), "--quiet"], check=True)
    q2, codes2 = vq.load_codes(tmp_path / "cli.vqc")
    assert q2.spec == q.spec
    np.testing.assert_array_equal(codes2, codes)
    with pytest.raises(ValueError, match="not codes"):
        vq.load_codes(tmp_path / "m.vqc")
    with pytest.raises(ValueError):
        vq.save_codes(tmp_path / "bad.vqc", q, codes[:, :1])
    assert not (tmp_path / "bad.vqc").exists()


def test_all_lists_the_public_api_and_nothing_else():
    import types
    import typing
    for name in vq.__all__:
        obj = getattr(vq, name)
        assert not isinstance(obj, types.ModuleType), name
        assert getattr(obj, "__module__", "vqcodec").startswith("vqcodec") or name == "__version__", name
        assert obj is not typing.Optional and name not in ("annotations", "np", "warnings"), name
    # Every public function and class the package defines or re-exports from its extension.
    defined = {n for n, o in vars(vq).items()
               if not n.startswith("_") and callable(o) and getattr(o, "__module__", "").startswith("vqcodec")}
    assert defined <= set(vq.__all__), defined - set(vq.__all__)
    assert len(vq.__all__) == len(set(vq.__all__))


def test_decoded_size_budget_is_settable():
    default = vq.max_decoded_bytes()
    try:
        vq.set_max_decoded_bytes(1000)
        assert vq.max_decoded_bytes() == 1000
    finally:
        vq.set_max_decoded_bytes(0)
    assert vq.max_decoded_bytes() == default
