"""vq.CodeIndex: a persistent index searches exactly like Quantizer.search over the same codes,
survives save/load and pickling, keeps its own quantizer, and serves concurrent searches."""
import pickle
import threading

import numpy as np
import pytest

import vqcodec as vq
from conftest import clustered

QUANTIZERS = [
    lambda d: vq.ProductQuantizer(d, subvectors=4, bits=4),   # packed 4-bit blocks
    lambda d: vq.ProductQuantizer(d, subvectors=4, bits=8),   # 8-bit blocks (AVX-512 VBMI) or rows
    lambda d: vq.ResidualQuantizer(d, levels=3, bits=6, beam=2),  # stored norms under L2
]


@pytest.fixture(scope="module", params=range(len(QUANTIZERS)))
def trained(request, data):
    return QUANTIZERS[request.param](data.shape[1]).fit(data, iters=4, seed=1)


@pytest.mark.parametrize("distance", ["l2", "ip"])
def test_index_searches_like_quantizer_search(trained, data, distance):
    codes = trained.encode(data)
    queries = clustered(25, 16, seed=5)
    index = vq.CodeIndex(trained, distance=distance)
    index.add(codes[:1000]).add(codes[1000:])  # ids continue across add() calls
    assert len(index) == len(data) and index.distance == distance
    D, I = index.search(queries, k=7)
    D0, I0 = trained.search(queries, codes, k=7, distance=distance)
    np.testing.assert_array_equal(I, I0)
    np.testing.assert_array_equal(D, D0)
    np.testing.assert_array_equal(index.codes(), codes)


def test_save_load_and_pickle_give_the_same_results(trained, data, tmp_path):
    index = vq.CodeIndex(trained).add(trained.encode(data))
    queries = clustered(10, 16, seed=6)
    D, I = index.search(queries, k=5)
    path = tmp_path / "index.vqc"
    index.save(str(path))
    for again in (vq.load_index(str(path)), pickle.loads(pickle.dumps(index))):
        assert len(again) == len(index) and again.quantizer.spec == trained.spec
        D2, I2 = again.search(queries, k=5)
        np.testing.assert_array_equal(I2, I)
        np.testing.assert_array_equal(D2, D)


def test_index_keeps_its_own_quantizer(data):
    q = vq.ProductQuantizer(16, subvectors=4, bits=4).fit(data, iters=4, seed=1)
    index = vq.CodeIndex(q).add(q.encode(data))
    queries = clustered(5, 16, seed=7)
    before = index.search(queries, k=3)
    q.fit(data[::-1] * 3.0, iters=2, seed=9)  # retraining the caller's object...
    after = index.search(queries, k=3)          # ...does not change the index's codebooks
    np.testing.assert_array_equal(after[1], before[1])
    index.quantizer.fit(data, iters=1, seed=3)  # nor does training the copy it hands out
    np.testing.assert_array_equal(index.search(queries, k=3)[1], before[1])


def test_concurrent_searches_and_adds(data):
    q = vq.ResidualQuantizer(16, levels=2, bits=6).fit(data, iters=3, seed=2)
    codes = q.encode(data)
    index = vq.CodeIndex(q).add(codes[:2000])
    queries = clustered(8, 16, seed=8)
    want = index.search(queries, k=4)
    results, errors = [], []

    def searcher():
        try:
            for _ in range(20):
                results.append(index.search(queries, k=4, threads=1))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=searcher) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 80
    for D, I in results:
        np.testing.assert_array_equal(I, want[1])
        np.testing.assert_array_equal(D, want[0])
    # add() while searches run: each search sees the index before or after a whole add().
    adder = threading.Thread(target=lambda: index.add(codes[2000:]))
    searchers = [threading.Thread(target=searcher) for _ in range(2)]
    for t in searchers + [adder]:
        t.start()
    for t in searchers + [adder]:
        t.join()
    assert not errors and len(index) == len(data)
    full = q.search(queries, codes, k=4)
    for D, I in results[80:]:
        assert np.array_equal(I, want[1]) or np.array_equal(I, full[1])


def test_bad_arguments_and_files_are_refused(data, tmp_path):
    q = vq.ProductQuantizer(16, subvectors=4, bits=4).fit(data, iters=2, seed=1)
    with pytest.raises(vq.VQError, match="'l2' or 'ip', got 'cosine'"):
        vq.CodeIndex(q, distance="cosine")
    with pytest.raises(ValueError, match="not trained"):
        vq.CodeIndex(vq.ProductQuantizer(16, subvectors=4, bits=4))
    index = vq.CodeIndex(q)
    with pytest.raises(ValueError):
        index.add(np.zeros((3, 5), np.uint8))        # 5 books, the quantizer has 4
    with pytest.raises(ValueError):
        index.add(np.full((3, 4), 16, np.uint8))     # code 16 in a 4-bit book
    with pytest.raises(ValueError):
        index.search(np.zeros((2, 15), np.float32))  # wrong width
    with pytest.raises(ValueError):
        index.search(np.zeros((2, 16), np.float32), k=0)
    assert len(index) == 0
    q.save(str(tmp_path / "q.vqc"))
    with pytest.raises(vq.VQError, match="not a search index"):
        vq.load_index(str(tmp_path / "q.vqc"))
