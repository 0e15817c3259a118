"""Past failures that killed the Python interpreter, one test each.

Each reproduction runs in a child interpreter: a crash (SIGSEGV, an abort in free()) then fails
its test instead of taking pytest down with it. The C++ side of the same failures is in
tests/apps/test_regressions.cpp.
"""
import os
import subprocess
import sys
import textwrap


def run_child(code):
    """Runs code in a fresh interpreter with this one's import path; returns (returncode, stderr)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                       timeout=300)
    return r.returncode, r.stdout + r.stderr


def test_huge_finite_values_raise_instead_of_crashing():
    # Rows around 1e20 pass the finite-value check but overflow ||x||² in float: k-means indexed
    # with a "no label" −1 and the interpreter died.
    code, out = run_child("""
        import numpy as np, vqcodec
        X = np.random.default_rng(0).standard_normal((400, 8)).astype(np.float32)
        X[5] *= np.float32(1e20)
        for call in (lambda: vqcodec.kmeans(X, 8, iters=2),
                     lambda: vqcodec.Quantizer("RVQ2x4", 8).fit(X)):
            try:
                call()
                raise SystemExit("accepted rows whose squared norms overflow")
            except vqcodec.VQError as e:
                assert "squared norm" in str(e), e
        q = vqcodec.Quantizer("PQ2x4", 8)
        q.fit(np.random.default_rng(1).standard_normal((400, 8)).astype(np.float32))
        try:
            q.encode(X)
            raise SystemExit("encode accepted rows whose squared norms overflow")
        except vqcodec.VQError as e:
            assert "squared norm" in str(e), e
        print("ok")
    """)
    assert code == 0, out
    assert "ok" in out


def test_additive_quantizer_with_more_entries_than_rows():
    # 17 books of 256 entries on 600 rows: the conjugate-gradient codebook update read past the
    # end of an n-row buffer as if it had M·K rows (SIGSEGV).
    code, out = run_child("""
        import numpy as np, vqcodec
        X = np.random.default_rng(0).standard_normal((600, 32)).astype(np.float32)
        q = vqcodec.AdditiveQuantizer(dim=32, codebooks=17, bits=8, beam=1)
        q.fit(X, iters=2)
        assert q.encode(X).shape == (600, 17)
        print("ok")
    """)
    assert code == 0, out
    assert "ok" in out
