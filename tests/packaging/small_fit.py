"""A small fit, encode and search through the Python package: run under valgrind --tool=none
(which has no AVX-512) by the packaging tests to show the package needs no more than the CPU
it runs on."""
import numpy as np

import vqcodec as vq

X = np.random.default_rng(0).standard_normal((600, 16)).astype(np.float32)
q = vq.ResidualQuantizer(dim=16, levels=2, bits=4, beam=2).fit(X, iters=3, seed=0)
codes = q.encode(X)
D, I = q.search(X[:4], codes, k=3)
C, labels = vq.kmeans(X, 8, iters=3)
assert codes.shape == (600, 2) and I.shape == (4, 3) and C.shape == (8, 16)
print(f"vqcodec {vq.__version__}, SIMD {vq.simd_level()}: fit, encode, search and kmeans ran")
