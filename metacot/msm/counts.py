r"""Transition counts at a lag, the largest connected set, and the MLE and Dirichlet estimates of P.

A *discrete trajectory* is a sequence :math:`x_0, \dots, x_{n-1}` of microstate indices in
``0..n_states-1``: one reasoning trace after its steps were assigned to microstates. Many traces of
different lengths are pooled by **sliding windows**: at lag :math:`\tau` every pair
:math:`(x_t, x_{t+\tau})`, :math:`0 \le t < n - \tau`, of every trace adds one count,

.. math:: C_{ij}(\tau) = \sum_{\text{traces}} \sum_{t=0}^{n-\tau-1} [x_t = i]\,[x_{t+\tau} = j],

and a trace shorter than :math:`\tau + 1` steps adds nothing. This is the count matrix of the
Markov-state-model literature (Prinz et al. 2011, J. Chem. Phys. 134, 174105; deeptime's
``TransitionCountEstimator(count_mode="sliding")``).

The non-reversible maximum-likelihood estimate is the row-normalised count matrix on a set where
every row has counts and every state is reachable from every other: the **largest strongly
connected set** of the count graph (:func:`largest_connected_set`). Outside it the estimate
either has empty rows or is not irreducible, and implied timescales are meaningless.

The Bayesian estimate samples every row independently from a Dirichlet law on the observed
support, :math:`P_{i\cdot} \sim \operatorname{Dir}(s\,C_{i\cdot} + \alpha)` restricted to
:math:`\{j : C_{ij} > 0\}` (:func:`dirichlet_samples`). With :math:`\alpha = 0` and :math:`s = 1`
the posterior mean is the MLE. Sliding windows at lag :math:`\tau` are not independent draws, so
:math:`s = 1/\tau` (about the number of non-overlapping windows) is the conventional correction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph

from metacot._checks import as_rng, positive_int
from metacot.errors import ArgumentTypeError, InvalidArgumentError

__all__ = [
    "as_dtrajs",
    "count_matrix",
    "dirichlet_samples",
    "largest_connected_set",
    "mle_transition_matrix",
    "per_trace_counts",
]


def as_dtrajs(dtrajs: Any, n_states: int | None = None, *, what: str = "dtrajs") -> list[np.ndarray]:
    """Validate discrete trajectories: a sequence of 1-D integer arrays with values in ``0..n_states-1``.

    Returns them as a list of int64 arrays. ``n_states=None`` accepts any non-negative values.

    Raises
    ------
    ArgumentTypeError
        Not a sequence of integer sequences.
    InvalidArgumentError
        An empty list, a trajectory that is not 1-D, or a value out of range (naming the trajectory).
    """
    if isinstance(dtrajs, np.ndarray) and dtrajs.ndim == 1:
        raise ArgumentTypeError(f"{what} must be a sequence of trajectories, got one 1-D array; wrap it in a list")
    if not isinstance(dtrajs, (Sequence, np.ndarray)):
        raise ArgumentTypeError(f"{what} must be a sequence of integer arrays, got {type(dtrajs).__name__}")
    if len(dtrajs) == 0:
        raise InvalidArgumentError(f"{what} is empty: at least one trajectory is needed")
    out = []
    for m, d in enumerate(dtrajs):
        a = np.asarray(d)
        if a.ndim != 1:
            raise InvalidArgumentError(f"{what}[{m}] must be 1-D, got shape {a.shape}")
        if a.size and not np.issubdtype(a.dtype, np.integer):
            raise ArgumentTypeError(f"{what}[{m}] must hold integers, got dtype {a.dtype}")
        a = a.astype(np.int64)
        if a.size and (a.min() < 0 or (n_states is not None and a.max() >= n_states)):
            bad = int(a.min()) if a.min() < 0 else int(a.max())
            raise InvalidArgumentError(f"{what}[{m}] holds state {bad}, outside 0..{(n_states or 0) - 1}")
        out.append(a)
    return out


def _lag(lag: Any) -> int:
    return positive_int(lag, "lag")


def count_matrix(dtrajs: Any, n_states: int, lag: int = 1) -> np.ndarray:
    r"""Sliding-window transition counts :math:`C(\tau)` pooled over trajectories (dense, float).

    Parameters
    ----------
    dtrajs : sequence of 1-D int arrays
        Microstate indices, one array per trace (any lengths; shorter than ``lag + 1`` adds nothing).
    n_states : int
    lag : int
        :math:`\tau \ge 1`.

    Returns
    -------
    ndarray, shape (n_states, n_states)

    Examples
    --------
    >>> count_matrix([[0, 1, 1, 0], [1, 0]], 2, lag=1).tolist()
    [[0.0, 1.0], [2.0, 1.0]]
    >>> count_matrix([[0, 1, 1, 0], [1, 0]], 2, lag=2).tolist()
    [[0.0, 1.0], [1.0, 0.0]]
    """
    n_states = positive_int(n_states, "n_states")
    lag = _lag(lag)
    dtrajs = as_dtrajs(dtrajs, n_states)
    pairs = [(d[:-lag], d[lag:]) for d in dtrajs if d.size > lag]
    C = np.zeros(n_states * n_states)
    if pairs:
        a = np.concatenate([p[0] for p in pairs])
        b = np.concatenate([p[1] for p in pairs])
        C = np.bincount(a * n_states + b, minlength=n_states * n_states).astype(np.float64)
    return C.reshape(n_states, n_states)


def per_trace_counts(dtrajs: Any, n_states: int, lag: int = 1) -> np.ndarray:
    r""":func:`count_matrix` of every trajectory on its own, shape ``(n_traces, n_states, n_states)``.

    The trace bootstrap (:func:`metacot.graphs.comparison.resampled_counts`) pools these with
    replicate weights; their sum over the first axis is :func:`count_matrix`.
    """
    n_states = positive_int(n_states, "n_states")
    lag = _lag(lag)
    dtrajs = as_dtrajs(dtrajs, n_states)
    owner = np.concatenate([np.full(max(d.size - lag, 0), m, dtype=np.int64) for m, d in enumerate(dtrajs)])
    a = np.concatenate([d[:-lag] if d.size > lag else d[:0] for d in dtrajs])
    b = np.concatenate([d[lag:] if d.size > lag else d[:0] for d in dtrajs])
    flat = (owner * n_states + a) * n_states + b
    size = len(dtrajs) * n_states * n_states
    return np.bincount(flat, minlength=size).astype(np.float64).reshape(len(dtrajs), n_states, n_states)


def _square_counts(C: Any) -> np.ndarray:
    C = np.asarray(C.toarray() if sp.issparse(C) else C, dtype=np.float64)
    if C.ndim != 2 or C.shape[0] != C.shape[1]:
        raise InvalidArgumentError(f"a count matrix must be square, got shape {C.shape}")
    if not np.all(np.isfinite(C)) or (C < 0).any():
        raise InvalidArgumentError("a count matrix must hold finite non-negative numbers")
    return C


def largest_connected_set(C: Any) -> np.ndarray:
    r"""The largest strongly connected set of the graph with an edge :math:`i \to j` where :math:`C_{ij} > 0`.

    Ties in the number of states are broken by the larger number of counts, then by the order
    of scipy's component labels. A state with no counts at all forms no set unless every state is like it (then
    state 0 alone comes back, a set with no transitions).

    Returns
    -------
    ndarray of int
        The states of the set, sorted.

    Examples
    --------
    >>> largest_connected_set([[1, 1, 0], [1, 0, 1], [0, 0, 1]]).tolist()
    [0, 1]
    """
    C = _square_counts(C)
    n, labels = csgraph.connected_components(sp.csr_array(C > 0), directed=True, connection="strong")
    size = np.bincount(labels, minlength=n)
    mass = np.bincount(labels, weights=C.sum(axis=1), minlength=n)
    # A lone state without a self-count is strongly connected only trivially: never prefer it.
    self_loop = np.bincount(labels, weights=(np.diag(C) > 0).astype(float), minlength=n)
    real = (size > 1) | (self_loop > 0)
    key = np.lexsort((np.arange(n), -mass, -size, ~real))  # best first
    return np.flatnonzero(labels == key[0])


def mle_transition_matrix(C: Any, active: Any = None) -> np.ndarray:
    r"""Non-reversible maximum-likelihood :math:`\hat P_{ij} = C_{ij} / \sum_k C_{ik}` on ``active``.

    Parameters
    ----------
    C : array_like, shape (n, n)
        Counts.
    active : array_like of int, optional
        The states kept (default :func:`largest_connected_set`); counts leaving the set are
        dropped, which is what restricting a chain to a strongly connected set means.

    Returns
    -------
    ndarray, shape (len(active), len(active))

    Raises
    ------
    InvalidArgumentError
        A kept state has no counts to other kept states (its row would be empty).

    Examples
    --------
    >>> mle_transition_matrix([[1, 3], [2, 2]]).tolist()
    [[0.25, 0.75], [0.5, 0.5]]
    """
    C = _square_counts(C)
    active = largest_connected_set(C) if active is None else np.asarray(active, dtype=np.int64)
    sub = C[np.ix_(active, active)]
    rows = sub.sum(axis=1)
    if (rows <= 0).any():
        bad = active[np.flatnonzero(rows <= 0)[:5]].tolist()
        raise InvalidArgumentError(f"states {bad} have no counts inside the active set; pass a connected set")
    return sub / rows[:, None]


def dirichlet_samples(C: Any, n_samples: int, seed: Any, *, prior: float = 0.0, scale: float = 1.0) -> np.ndarray:
    r"""Samples of :math:`P` from the row-wise Dirichlet posterior on the observed support.

    Row :math:`i` is drawn from :math:`\operatorname{Dir}(s\,C_{i\cdot} + \alpha)` over the entries
    with :math:`C_{ij} > 0` (zero elsewhere): independent rows, a conjugate Dirichlet prior of
    concentration :math:`\alpha` on the observed transitions. A Dirichlet draw is a vector of
    independent Gamma draws divided by their sum, which is how it is computed here.

    Parameters
    ----------
    C : array_like, shape (n, n)
        Counts on a set where every row has counts (e.g. restricted to the largest connected set).
    n_samples : int
    seed : int or numpy.random.Generator
    prior : float
        :math:`\alpha \ge 0`, added to every observed entry.
    scale : float
        :math:`s > 0`; ``1/lag`` treats sliding windows as about ``1/lag`` independent counts.

    Returns
    -------
    ndarray, shape (n_samples, n, n)
        Row-stochastic matrices with the sparsity pattern of ``C``.

    Examples
    --------
    >>> S = dirichlet_samples([[3, 1], [0, 2]], 2, seed=0)
    >>> S.shape, bool(np.allclose(S.sum(axis=2), 1)), float(S[0, 1, 0])
    ((2, 2, 2), True, 0.0)
    """
    C = _square_counts(C)
    n_samples = positive_int(n_samples, "n_samples")
    if not (np.isfinite(prior) and prior >= 0) or not (np.isfinite(scale) and scale > 0):
        raise InvalidArgumentError(f"prior must be >= 0 and scale > 0, got prior={prior!r}, scale={scale!r}")
    if (C.sum(axis=1) <= 0).any():
        raise InvalidArgumentError("every row of C needs counts; restrict C to its largest connected set first")
    support = C > 0
    alpha = np.where(support, scale * C + prior, 1.0)  # placeholder 1.0 off the support, zeroed below
    G = as_rng(seed).standard_gamma(np.broadcast_to(alpha, (n_samples, *C.shape)))
    G *= support
    return G / G.sum(axis=2, keepdims=True)
