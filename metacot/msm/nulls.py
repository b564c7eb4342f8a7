r"""Null models for microstate paths: steps shuffled within traces, and paths of the behaviour chain.

* :func:`shuffle_within` permutes the steps of each trace: every trace keeps its length and its
  multiset of microstates (its topic and its mix of step types), and loses its order. Real traces
  whose slow timescales exceed those of their shuffles have slow dynamics *in time*, not only
  trace-to-trace differences in content.
* :func:`behaviour_chain_paths` draws paths of the first-order 4-state behaviour chain fitted to
  the traces (the MLE of consecutive behaviour pairs, and the empirical law of first behaviours),
  one path per real trace with the same length, and replaces each simulated behaviour :math:`b` by
  the microstate of a step drawn uniformly from all real steps labelled :math:`b`. This is the
  content a trace would have if the behaviour chain were the whole story; its timescales are
  those the 4-state chain can produce (which relaxes in about one step, M10).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from metacot._checks import as_rng, positive_int
from metacot.errors import InvalidArgumentError
from metacot.msm.counts import as_dtrajs

__all__ = ["behaviour_chain", "behaviour_chain_paths", "shuffle_within", "simulate_paths"]


def shuffle_within(dtrajs: Any, seed: Any) -> list[np.ndarray]:
    """Each trajectory with its entries randomly permuted (one Generator for all, in order).

    Examples
    --------
    >>> sorted(shuffle_within([[0, 1, 2, 3]], seed=0)[0].tolist())
    [0, 1, 2, 3]
    """
    rng = as_rng(seed)
    return [rng.permutation(d) for d in as_dtrajs(dtrajs)]


def behaviour_chain(paths: Any, n_behaviours: int) -> tuple[np.ndarray, np.ndarray]:
    r"""MLE first-order chain of behaviour index paths: ``(P, p0)``.

    :math:`P_{ab} = N_{ab}/N_{a\cdot}` from consecutive pairs; ``p0`` the empirical law of first
    behaviours. A behaviour that is never followed by another keeps itself (row :math:`e_a`), a
    choice that only matters for a path ending there, which the simulation never extends.

    Raises
    ------
    InvalidArgumentError
        No non-empty path.
    """
    n = positive_int(n_behaviours, "n_behaviours")
    paths = as_dtrajs(paths, n, what="paths")
    N = np.zeros((n, n))
    p0 = np.zeros(n)
    for p in paths:
        if p.size:
            p0[p[0]] += 1
            np.add.at(N, (p[:-1], p[1:]), 1.0)
    if p0.sum() == 0:
        raise InvalidArgumentError("every behaviour path is empty")
    rows = N.sum(axis=1, keepdims=True)
    P = np.where(rows > 0, N / np.where(rows > 0, rows, 1.0), np.eye(n))
    return P, p0 / p0.sum()


def simulate_paths(P: np.ndarray, p0: np.ndarray, lengths: Sequence[int], seed: Any) -> list[np.ndarray]:
    """Independent paths of the chain ``(P, p0)`` with the given lengths (inverse-CDF sampling, all paths at once)."""
    rng = as_rng(seed)
    lengths = np.asarray([positive_int(n, "length", minimum=0) for n in lengths], dtype=np.int64)
    cum = np.cumsum(np.asarray(P, dtype=np.float64), axis=1)
    cum[:, -1] = 1.0  # no walker falls off the end through roundoff
    T = int(lengths.max(initial=0))
    out = np.zeros((lengths.size, T), dtype=np.int64)
    if T:
        c0 = np.cumsum(p0)
        c0[-1] = 1.0
        out[:, 0] = np.searchsorted(c0, rng.random(lengths.size), side="right")
        for t in range(1, T):
            u = rng.random(lengths.size)
            out[:, t] = (u[:, None] >= cum[out[:, t - 1]]).sum(axis=1)
    return [out[m, :n].copy() for m, n in enumerate(lengths)]


def behaviour_chain_paths(behaviour_paths: Any, dtrajs: Any, n_behaviours: int, seed: Any) -> tuple[list[np.ndarray], list[np.ndarray]]:
    r"""Simulated behaviour paths of the fitted chain and their microstate paths (see the module docstring).

    Parameters
    ----------
    behaviour_paths : sequence of 1-D int arrays
        Behaviour index of every real step (e.g. :func:`metacot.structure.path_fit.index_paths`).
    dtrajs : sequence of 1-D int arrays
        Microstate of every real step; same lengths as ``behaviour_paths``.
    n_behaviours : int
    seed : int or numpy.random.Generator

    Returns
    -------
    (simulated behaviour paths, simulated microstate paths)
        One of each per real trace, of the same length.
    """
    n = positive_int(n_behaviours, "n_behaviours")
    bpaths = as_dtrajs(behaviour_paths, n, what="behaviour_paths")
    dtrajs = as_dtrajs(dtrajs)
    if [p.size for p in bpaths] != [d.size for d in dtrajs]:
        raise InvalidArgumentError("behaviour_paths and dtrajs must have the same number of traces and lengths")
    rng = as_rng(seed)
    P, p0 = behaviour_chain(bpaths, n)
    sim = simulate_paths(P, p0, [p.size for p in bpaths], rng)
    b_all = np.concatenate(bpaths)
    d_all = np.concatenate(dtrajs)
    pools = [d_all[b_all == b] for b in range(n)]
    out = []
    for s in sim:
        d = np.empty(s.size, dtype=np.int64)
        for b in range(n):
            at = np.flatnonzero(s == b)
            if at.size:
                if pools[b].size == 0:  # impossible: the chain only visits behaviours seen in the data
                    raise InvalidArgumentError(f"behaviour {b} was simulated but has no real step")
                d[at] = pools[b][rng.integers(pools[b].size, size=at.size)]
        out.append(d)
    return sim, out
