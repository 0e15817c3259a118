"""vqcodec.compress_weights: products from codes, and GPTQ / CDQuant against numpy references."""
import numpy as np
import pytest

import vqcodec


def layer(rows=24, cols=64, seed=0):
    rng = np.random.default_rng(seed)
    W = (rng.standard_normal((rows, cols)) * 0.05).astype(np.float32)
    A = rng.standard_normal((cols, cols)) / np.sqrt(cols)
    X = (rng.standard_normal((4 * cols, cols)) @ (np.eye(cols) + A)).astype(np.float32)
    X[:, ::9] *= 5.0
    H = (X.T.astype(np.float64) @ X) / X.shape[0]
    return W, X, H


def prepared(H, damp=0.01):
    H = H.copy()
    d = np.diag(H).copy()
    lam = damp * d.mean()
    H[np.diag_indices_from(H)] = np.where(d == 0, 1.0, d + lam)
    U = np.linalg.cholesky(np.linalg.inv(H)).T  # H^-1 = U^T U, U upper
    return H, U


def fit(v, maxq):
    lo, hi = min(v.min(), 0.0), max(v.max(), 0.0)
    if lo == hi:
        lo, hi = -1.0, 1.0
    scale = float(np.float16(np.float32(hi - lo) / np.float32(maxq)))
    zero = float(np.clip(np.round(-lo / scale), 0, maxq))
    return scale, zero


def gptq_ref(W, H, bits, G, act_order=True):
    """Column-by-column GPTQ (no lazy batching), float64. act_order: columns by diag(H), largest
    first (stable), on H permuted to match, with every group's grid fitted up front ("static
    groups"); otherwise input order, each grid fitted when its group starts."""
    maxq = 2 ** bits - 1
    W = W.astype(np.float64).copy()
    rows, cols = W.shape
    Hd, _ = prepared(H)
    order = np.argsort(-np.diag(Hd), kind="stable") if act_order else np.arange(cols)
    U = np.linalg.cholesky(np.linalg.inv(Hd[np.ix_(order, order)])).T
    Q = np.zeros_like(W)
    S = np.zeros((rows, cols // G))
    Z = np.zeros((rows, cols // G))
    if act_order:
        for r in range(rows):
            for g in range(cols // G):
                S[r, g], Z[r, g] = fit(W[r, g * G:(g + 1) * G], maxq)
    Wp = W[:, order]
    for i in range(cols):
        c = order[i]
        if not act_order and i % G == 0:
            for r in range(rows):
                S[r, i // G], Z[r, i // G] = fit(Wp[r, i:i + G], maxq)
        s, z = S[:, c // G], Z[:, c // G]
        q = np.clip(np.round(Wp[:, i] / s) + z, 0, maxq)
        Q[:, c] = s * (q - z)
        err = (Wp[:, i] - Q[:, c]) / U[i, i]
        Wp[:, i + 1:] -= np.outer(err, U[i, i + 1:])
    return Q, S, Z


def cdq_ref(W0, H, bits, G, Q, S, Z):
    """CDQuant greedy coordinate descent from the GPTQ solution, one sweep of moves."""
    Hd, _ = prepared(H)
    maxq = 2 ** bits - 1
    Q = Q.copy()
    rows, cols = W0.shape
    for r in range(rows):
        s = np.repeat(S[r], G)
        z = np.repeat(Z[r], G)
        grad = Hd @ (Q[r] - W0[r].astype(np.float64))
        for _ in range(cols):
            h = np.diag(Hd)
            qcur = Q[r] / s + z
            qn = np.clip(np.round((Q[r] - grad / h) / s) + z, 0, maxq)
            delta = s * (qn - z) - Q[r]
            gain = np.where(qn == np.round(qcur), np.inf, 2 * delta * grad + delta * delta * h)
            i = int(np.argmin(gain))
            if not gain[i] < 0:
                break
            Q[r, i] += delta[i]
            grad += delta[i] * Hd[i]
    return Q


def h_error(W, Wh, H):
    E = (W - Wh).astype(np.float64)
    return np.einsum("ri,ij,rj->", E, H, E) / np.einsum("ri,ij,rj->", W, H, W)


@pytest.mark.parametrize("scheme", ["AQ2x6d8", "RTN3g16", "GPTQ4g16", "CDQ2g32"])
def test_products_from_codes_equal_the_decoded_matrix(scheme):
    W, X, _ = layer()
    cm = vqcodec.compress_weights(W, X=X, scheme=scheme)
    assert cm.scheme == scheme and cm.shape == W.shape
    D = cm.decode().astype(np.float64)
    x = np.random.default_rng(1).standard_normal(W.shape[1]).astype(np.float32)
    np.testing.assert_allclose(cm.matvec(x), D @ x, rtol=1e-4, atol=1e-5)
    Xb = np.random.default_rng(2).standard_normal((5, W.shape[1])).astype(np.float32)
    np.testing.assert_allclose(cm.matmul(Xb), Xb @ D.T, rtol=1e-4, atol=1e-5)


def test_old_aq_spelling_warns_and_means_the_same_scheme():
    W, _, _ = layer()
    with pytest.warns(DeprecationWarning, match="old spelling of 'AQ2x6d8'"):
        old = vqcodec.compress_weights(W, scheme="AQ2x6g8")
    assert old.scheme == "AQ2x6d8"
    np.testing.assert_array_equal(old.decode(), vqcodec.compress_weights(W, scheme="AQ2x6d8").decode())


def test_prepared_kernel_float_is_exact_and_int8_close():
    W, X, _ = layer()
    cm = vqcodec.compress_weights(W, scheme="AQ2x6d8")
    D = cm.decode().astype(np.float64)
    Xb = np.random.default_rng(3).standard_normal((4, W.shape[1])).astype(np.float32)
    exact = vqcodec.GemvKernel(cm)
    assert exact.precision == "float"
    np.testing.assert_array_equal(exact.matmul(Xb), cm.matmul(Xb))
    fast = vqcodec.GemvKernel(cm, precision="int8")
    ref = Xb @ D.T
    assert np.linalg.norm(fast.matmul(Xb) - ref) < 0.03 * np.linalg.norm(ref)
    np.testing.assert_allclose(fast.matvec(Xb[0]), fast.matmul(Xb[:1])[0], rtol=1e-6, atol=1e-6)
    with pytest.raises(Exception):
        vqcodec.GemvKernel(cm, precision="int4")


@pytest.mark.parametrize("act_order", [True, False])
@pytest.mark.parametrize("bits", [2, 3, 4])
def test_gptq_matches_numpy_reference(bits, act_order):
    W, X, H = layer(seed=bits)
    Href = (X.T.astype(np.float64) @ X) / X.shape[0]
    ours = vqcodec.compress_weights(W, X=X, scheme=f"GPTQ{bits}g16", act_order=act_order).decode()
    ref, _, _ = gptq_ref(W, Href, bits, 16, act_order)
    same = np.isclose(ours, ref, rtol=0, atol=1e-6).mean()
    assert same > 0.98, same
    assert abs(h_error(W, ours, Href) - h_error(W, ref, Href)) < 0.02 * h_error(W, ref, Href)


def test_aq_options_reach_the_compressor():
    W, X, H = layer(seed=8)
    one = vqcodec.compress_weights(W, X=X, scheme="AQ1x6d4", aq_rounds=1, aq_beam=2, threads=1)
    more = vqcodec.compress_weights(W, X=X, scheme="AQ1x6d4", aq_rounds=4, aq_beam=2, threads=1)
    assert h_error(W, more.decode(), H) < h_error(W, one.decode(), H)
    plain = vqcodec.compress_weights(W, X=X, scheme="AQ1x6d4", aq_refine_passes=0)
    refined = vqcodec.compress_weights(W, X=X, scheme="AQ1x6d4", aq_refine_passes=3)
    assert h_error(W, refined.decode(), H) < h_error(W, plain.decode(), H)
    with pytest.raises(ValueError, match="aq_rounds"):
        vqcodec.compress_weights(W, X=X, scheme="AQ1x6d4", aq_rounds=0)


@pytest.mark.parametrize("scheme", ["GPTQ2g16", "GPTQ3g16", "CDQ2g16"])
def test_act_order_lowers_the_scalar_error_on_outlier_inputs(scheme):
    W, X, H = layer(seed=7)  # every 9th input channel 5x larger
    on = h_error(W, vqcodec.compress_weights(W, X=X, scheme=scheme).decode(), H)
    off = h_error(W, vqcodec.compress_weights(W, X=X, scheme=scheme, act_order=False).decode(), H)
    assert on < off, (on, off)


@pytest.mark.parametrize("bits", [2, 3])
def test_cdquant_matches_numpy_reference(bits):
    W, X, _ = layer(seed=10 + bits)
    H = (X.T.astype(np.float64) @ X) / X.shape[0]
    gq, S, Z = gptq_ref(W, H, bits, 16)
    ref = cdq_ref(W, H, bits, 16, gq, S, Z)
    ours = vqcodec.compress_weights(W, X=X, scheme=f"CDQ{bits}g16").decode()
    same = np.isclose(ours, ref, rtol=0, atol=1e-6).mean()
    assert same > 0.95, same
    assert h_error(W, ref, H) <= h_error(W, gq, H)
    assert abs(h_error(W, ours, H) - h_error(W, ref, H)) < 0.03 * h_error(W, ref, H)


def test_h_given_directly_equals_h_from_inputs_and_bad_h_is_rejected():
    W, X, H = layer()
    a = vqcodec.compress_weights(W, X=X, scheme="GPTQ3g16").decode()
    b = vqcodec.compress_weights(W, H=(X.T @ X / X.shape[0]).astype(np.float32), scheme="GPTQ3g16").decode()
    assert np.isclose(a, b, atol=1e-6).mean() > 0.99
    bad = np.eye(64, dtype=np.float32)
    bad[0, 1] = bad[1, 0] = 2.0  # indefinite
    with pytest.raises(ValueError, match="positive definite"):
        vqcodec.compress_weights(W, H=bad, scheme="GPTQ3g16", damp=0.0)
    with pytest.raises(ValueError):
        vqcodec.compress_weights(W, H=H, X=X)
    assert vqcodec.compress_weights(W, scheme="RTN4g16").bits_per_weight == pytest.approx(4 + 20 / 16)
