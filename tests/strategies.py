"""Hypothesis strategies shared by the tests."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st


@st.composite
def stochastic_matrices(draw, min_n: int = 1, max_n: int = 8) -> np.ndarray:
    """Random row-stochastic matrices with random sparsity; non-zero weights are >= 0.05.

    The floor keeps every chain's mixing fast enough for the power-iteration oracles below.
    """
    n = draw(st.integers(min_n, max_n))
    weights = np.array(
        draw(st.lists(st.floats(0.05, 1.0), min_size=n * n, max_size=n * n)), dtype=float
    ).reshape(n, n)
    mask = np.array(draw(st.lists(st.booleans(), min_size=n * n, max_size=n * n))).reshape(n, n)
    W = np.where(mask, weights, 0.0)
    empty = W.sum(axis=1) == 0
    W[empty, draw(st.integers(0, n - 1))] = 1.0
    return W / W.sum(axis=1, keepdims=True)
