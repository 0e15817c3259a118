"""vqcodec.KVCache: the names and shapes of the C++ API, agreement with numpy references, bad input."""
import threading

import numpy as np
import pytest

import vqcodec as vq

H, HQ, D = 2, 4, 32


def sample(T, seed):
    """Keys from a few clusters, queries pointing at earlier keys (peaky attention)."""
    rng = np.random.default_rng(seed)
    centres = 2.0 * rng.standard_normal((H, 16, D))
    topic = rng.integers(0, 16, (T, H))
    keys = centres[np.arange(H)[None, :], topic] + 0.5 * rng.standard_normal((T, H, D))
    target = rng.integers(0, T, (T, HQ))
    queries = 0.5 * keys[target, np.arange(HQ)[None, :] // (HQ // H)] + 0.2 * rng.standard_normal((T, HQ, D))
    values = rng.standard_normal((T, H, D))
    return keys.astype(np.float32), queries.astype(np.float32), values.astype(np.float32)


@pytest.fixture(scope="module")
def filled():
    keys, queries, values = sample(1200, 0)
    c = vq.KVCache(kv_heads=H, head_dim=D, key_quantizer="PQ8x8", value_quantizer=None,
                   query_aware=True, page_tokens=128, iters=5)
    c.fit(keys[:800], queries[:800])
    c.append(keys[:500], values[:500])
    return c, keys, queries, values


def test_names_shapes_and_scores_match_decoded_keys(filled):
    c, keys, queries, _ = filled
    assert len(c) == 500 and c.q_heads == HQ
    q = queries[1000]
    s = c.scores(q)
    assert s.shape == (HQ, 500) and s.dtype == np.float32
    for qh in range(HQ):
        ref = c.decoded_keys(qh // (HQ // H)).astype(np.float64) @ q[qh].astype(np.float64)
        np.testing.assert_allclose(s[qh], ref, rtol=1e-4, atol=1e-4)
    idx = c.topk(q, 16)
    assert idx.shape == (HQ, 16) and idx.dtype == np.int64
    for qh in range(HQ):
        order = np.lexsort((np.arange(500), -s[qh]))[:16]  # descending score, ties lower id
        np.testing.assert_array_equal(idx[qh], order)
    assert c.bytes_per_token() == H * 8


def test_attend_all_tokens_is_dense_attention(filled):
    c, keys, queries, values = filled
    q = queries[1100]
    out = c.attend(q, 10_000, sink=4, window=64)
    assert out.shape == (HQ, D)
    for qh in range(HQ):
        h = qh // (HQ // H)
        logit = keys[:500, h].astype(np.float64) @ q[qh] / np.sqrt(D)
        p = np.exp(logit - logit.max())
        ref = (p / p.sum()) @ values[:500, h]
        np.testing.assert_allclose(out[qh], ref, atol=1e-5)


def test_append_one_by_one_equals_batch():
    keys, queries, values = sample(700, 1)
    a = vq.KVCache(kv_heads=H, head_dim=D, key_quantizer="PQ16x4", iters=4)
    b = vq.KVCache(kv_heads=H, head_dim=D, key_quantizer="PQ16x4", iters=4)
    for c in (a, b):
        c.fit(keys[:600], queries[:600])
    a.append(keys[:100], values[:100])
    for t in range(100):
        b.append(keys[t:t + 1], values[t:t + 1])
    q = queries[650]
    np.testing.assert_array_equal(a.scores(q), b.scores(q))
    np.testing.assert_array_equal(a.topk(q, 7), b.topk(q, 7))


def test_bad_shapes_and_dtypes_rejected(filled):
    c, keys, queries, values = filled
    with pytest.raises(TypeError):
        c.append(keys[:2].astype(np.int32), values[:2])
    with pytest.raises(TypeError):
        c.scores([[1, 2]])
    with pytest.raises(ValueError):
        c.append(keys[:2, :1], values[:2, :1])         # wrong head count
    with pytest.raises(ValueError):
        c.append(keys[:2].reshape(2, -1), values[:2])  # 2-D
    with pytest.raises(ValueError):
        c.scores(queries[0, :2])                       # wrong query heads
    with pytest.raises(ValueError):
        c.topk(queries[0], 0)
    with pytest.raises(ValueError):
        c.fit(keys, queries)                           # already holds tokens
    with pytest.raises(ValueError):
        vq.KVCache(kv_heads=H, head_dim=D, key_quantizer="PQ5x8")
    with pytest.raises(ValueError):
        vq.KVCache(kv_heads=H, head_dim=D, cold_store="disk")
    assert len(c) == 500


def test_readers_during_append():
    keys, queries, values = sample(1500, 2)
    c = vq.KVCache(kv_heads=H, head_dim=D, key_quantizer="PQ8x8", iters=4)
    c.fit(keys[:800], queries[:800])
    q = queries[1400]
    errors, stop = [], threading.Event()

    def reader():
        while not stop.is_set():
            s = c.scores(q)
            n = s.shape[1]
            if n and c.topk(q, 4).max() >= len(c):
                errors.append("topk id beyond size")
            if n and not np.isfinite(c.attend(q, 4, sink=1, window=4)).all():
                errors.append("non-finite attention")

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for t in range(0, 1184, 37):
        c.append(keys[t:t + 37], values[t:t + 37])
    stop.set()
    for t in threads:
        t.join()
    assert not errors and len(c) == 1184


def test_topk_reranked_is_exact_over_all_candidates(filled):
    c, keys, queries, _ = filled
    q = queries[1100]
    idx = c.topk_reranked(q, 16, 500)
    assert idx.shape == (HQ, 16) and idx.dtype == np.int64
    for qh in range(HQ):
        exact = keys[:500, qh // (HQ // H)].astype(np.float64) @ q[qh].astype(np.float64)
        np.testing.assert_array_equal(idx[qh], np.lexsort((np.arange(500), -exact))[:16])
    with pytest.raises(vq.VQError):
        c.topk_reranked(q, 16, 8)


def rope_half(x, pos, base=10000.0):
    """RoPE with rotate-half pairing (j, j + d/2): rows of x at positions pos."""
    half = x.shape[1] // 2
    ang = pos[:, None] * base ** (-2.0 * np.arange(half) / x.shape[1])
    x0, x1 = x[:, :half], x[:, half:]
    return np.concatenate([x0 * np.cos(ang) - x1 * np.sin(ang), x0 * np.sin(ang) + x1 * np.cos(ang)], axis=1)


def test_split_code_scores_are_exact_rope_scores():
    # Pre-RoPE keys, a windowed RVQ1x8 and a post-RoPE residual RVQ3x8: scores are q·R(t)k̂.
    keys, queries, values = sample(700, 3)
    c = vq.KVCache(kv_heads=H, head_dim=D, key_quantizer="RVQ1x8", key_residual_quantizer="RVQ3x8",
                   rope="pre", rope_window=64, page_tokens=128, iters=4)
    c.fit(keys[:600], queries[:600])
    c.append(keys[:600], values[:600])
    assert c.bytes_per_token() == H * 4
    q = queries[650]
    s = c.scores(q)
    pos = np.arange(600, dtype=np.float64)
    for qh in range(HQ):
        k_hat = rope_half(c.decoded_keys(qh // (HQ // H)).astype(np.float64), pos)
        np.testing.assert_allclose(s[qh], k_hat @ q[qh], rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="pre-RoPE"):
        vq.KVCache(kv_heads=H, head_dim=D, key_quantizer="RVQ1x8", key_residual_quantizer="RVQ3x8")
