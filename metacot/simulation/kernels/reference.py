r"""The ``backend="numpy"`` reference simulator: plain vectorised numpy, one step per operation.

All walkers still running advance together, one step per round of numpy operations, using the
same alias tables (:mod:`metacot.simulation.kernels.alias`) and the same Philox stream
(:mod:`metacot.simulation.kernels.rng`) as the numba kernels. It is slow (every step is a handful of passes
over the live walkers) but short and obviously faithful to the contract, so it serves as the
oracle: the numba (and later CUDA) kernels must agree with it bit for bit.
"""

from __future__ import annotations

import numpy as np

from metacot.simulation.kernels.rng import START_DRAW, philox_pair_np

__all__ = ["sample_starts", "simulate_reference", "step"]

_MASK32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)


def step(table: np.ndarray, x: np.ndarray, u: np.ndarray) -> np.ndarray:
    r"""One alias step for every walker: states ``x`` (uint64) with random values ``u``.

    With :math:`k` the degree of :math:`x`, the 128-bit product :math:`u k = j\,2^{64} + r`
    (computed from 32-bit limbs: ``mid = (u >> 32) k``, ``low = (u & 0xffffffff) k``) gives slot
    :math:`j` and coin :math:`r`; the result is the slot's column if :math:`r < \theta_j`, else
    its alias.
    """
    h = x << np.uint64(1)
    k = table[h + np.uint64(1)]
    low = (u & _MASK32) * k
    mid = (u >> _S32) * k
    j = (mid + (low >> _S32)) >> _S32
    r = (mid << _S32) + low
    e = table[h] + (j << np.uint64(1))
    word = table[e + np.uint64(1)]
    # the slot stores header indices 2c; halve to get the state
    return np.where(r < table[e], word & _MASK32, word >> _S32) >> np.uint64(1)


def sample_starts(cum: np.ndarray, last: int, k0, k1, n_walkers: int, w0: int = 0) -> np.ndarray:
    """Start states of walkers ``w0..w0+n_walkers-1`` by exact inverse CDF (see the cpu kernel)."""
    w = np.arange(n_walkers, dtype=np.uint64) + np.uint64(w0)
    a, _ = philox_pair_np(np.uint64(START_DRAW), w, k0, k1)
    idx = np.searchsorted(cum, a, side="right")
    return np.where(idx < cum.size, idx, last).astype(np.int64)


def simulate_reference(table, k0, k1, max_steps, states, tau, censored, vis=None, paths=None, w0=0):
    """Simulate all walkers; same outputs and conventions as the numba kernels.

    Parameters
    ----------
    table : ndarray of uint64
        Alias table (:attr:`~metacot.simulation.kernels.alias.AliasTable.table`), target rows of degree 0.
    k0, k1 : np.uint64
        Philox key.
    max_steps : int
    states : ndarray of int64, shape (n_walkers,)
        In: start states; out: final states.
    tau : ndarray of int64
        Out: steps taken.
    censored : ndarray of bool
        Out: True where the walker did not hit.
    vis : ndarray of int64, shape (n_states,), optional
        Out (zeroed by the caller): visit counts over times ``0..min(tau, max_steps)``.
    paths : ndarray of int32, shape (n_walkers, max_steps + 1), optional
        Out: paths, -1 after the hitting time.
    w0 : int
        Global index of the walker of ``states[0]`` (the stream is keyed by it).
    """
    n = states.shape[0]
    if paths is not None:
        paths.fill(-1)
    x = states.astype(np.uint64)
    alive = np.arange(n, dtype=np.int64)
    if vis is not None:
        np.add.at(vis, x.astype(np.int64), 1)
    if paths is not None:
        paths[:, 0] = x
    tau[:] = 0
    censored[:] = False
    # walkers starting in the target are done at t = 0
    moving = table[2 * x + 1] != 0
    alive, x = alive[moving], x[moving]
    ub = None
    for s in range(1, max_steps + 1):
        if alive.size == 0:
            break
        if (s - 1) % 2 == 0:
            ua, ub = philox_pair_np(np.uint64((s - 1) // 2), alive.astype(np.uint64) + np.uint64(w0), k0, k1)
            u = ua
        else:
            u = ub
        x = step(table, x, u)
        if vis is not None:
            np.add.at(vis, x.astype(np.int64), 1)
        if paths is not None:
            paths[alive, s] = x
        hit = table[2 * x + 1] == 0
        states[alive[hit]] = x[hit]
        tau[alive[hit]] = s
        keep = ~hit
        alive, x = alive[keep], x[keep]
        if ub is not None and (s - 1) % 2 == 0:
            ub = ub[keep]
    states[alive] = x
    tau[alive] = max_steps
    censored[alive] = True
