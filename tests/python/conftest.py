import numpy as np
import pytest


def clustered(n, d, seed, clusters=16):
    """Correlated, clustered vectors: what tokenizers see, unlike i.i.d. noise."""
    rng = np.random.default_rng(seed)
    centres = 3.0 * rng.standard_normal((clusters, d))
    mix = rng.standard_normal((d, d)) / np.sqrt(d)
    labels = rng.integers(0, clusters, n)
    return (centres[labels] + rng.standard_normal((n, d)) @ mix).astype(np.float32)


@pytest.fixture(scope="session")
def data():
    return clustered(4000, 16, seed=1)
