r"""Entropy measures of Markov chains: :math:`H(p)`, :math:`H(\mu_t)` exactly and from paths, the entropy rate.

The state distribution :math:`\mu_t = \mu_0 P^t` of a chain spreads out and, with an absorbing
target, eventually concentrates again. :func:`state_entropy` follows :math:`H(\mu_t)` exactly
(sparse vector-matrix products); :func:`empirical_state_entropy` estimates it from simulated
paths (or from the behaviour labels of many real traces, position by position, once mapped to
state indices); :func:`entropy_rate` is the long-run rate
:math:`-\sum_x \pi(x) \sum_y P_{xy} \log P_{xy}` (defined in :mod:`metacot.markov.exact`).

Only a :class:`~metacot.markov.chain.Chain` or integer paths are needed: nothing here knows about
traces or graphs. The per-step information of single trajectories (the "entropy dynamics" of
reasoning traces) lives in :mod:`metacot.structure.information`.

Examples
--------
>>> import numpy as np
>>> from metacot.markov.chain import Chain
>>> state_entropy(Chain(np.full((2, 2), 0.5), start=0), 2, base=2).tolist()
[0.0, 1.0, 1.0]
>>> entropy([0.25] * 4, base=2)
2.0
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.sparse as sp

from metacot._checks import positive_int
from metacot.errors import ArgumentTypeError, InvalidArgumentError
from metacot.markov.chain import Chain
from metacot.markov.exact import entropy_rate

__all__ = ["empirical_state_entropy", "entropy", "entropy_rate", "state_entropy"]


def entropy(p: Any, base: float = math.e, axis: int = -1) -> np.ndarray | float:
    r"""Shannon entropy :math:`H(p) = -\sum_i p_i \log p_i` (with :math:`0 \log 0 = 0`).

    Parameters
    ----------
    p : array_like
        Probability vectors along ``axis``: non-negative, summing to 1 within ``1e-9``.
    base : float
        Logarithm base (:math:`e`: nats, 2: bits).
    axis : int

    Returns
    -------
    float or ndarray
        One entropy per vector.

    Examples
    --------
    >>> entropy([0.5, 0.5], base=2)
    1.0
    >>> entropy([[1.0, 0.0], [0.25, 0.75]]).round(4).tolist()
    [0.0, 0.5623]
    """
    try:
        arr = np.asarray(p, dtype=np.float64)
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"entropy needs an array of probabilities, got {type(p).__name__}") from None
    if isinstance(base, (bool, np.bool_)) or not isinstance(base, (int, float, np.integer, np.floating)):
        raise ArgumentTypeError(f"base must be a number, got {base!r}")
    if arr.ndim == 0:
        raise InvalidArgumentError("entropy needs a probability vector, got a scalar")
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)) or not -arr.ndim <= axis < arr.ndim:
        raise InvalidArgumentError(f"axis must be an int in [{-arr.ndim}, {arr.ndim}), got {axis!r}")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise InvalidArgumentError("probabilities must be finite and non-negative")
    s = arr.sum(axis=axis)
    if np.any(np.abs(s - 1) > 1e-9):
        bad = float(np.ravel(s)[np.argmax(np.abs(np.ravel(s) - 1))])
        raise InvalidArgumentError(f"probabilities must sum to 1 along axis {axis}; one sums to {bad!r}")
    if not base > 0 or base == 1:
        raise InvalidArgumentError(f"base must be positive and not 1, got {base!r}")
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(arr > 0, arr * np.log(np.where(arr > 0, arr, 1.0)), 0.0)
    h = -terms.sum(axis=axis) / math.log(base)
    h = np.maximum(h, 0.0)  # -0.0 and tiny negative rounding
    return float(h) if np.ndim(h) == 0 else h


def state_entropy(chain: Chain, t_max: int, start: Any = None, base: float = math.e) -> np.ndarray:
    r"""Exact entropy of the state distribution over time, :math:`H(\mu_t)`, :math:`\mu_t = \mu_0 P^t`.

    Computed by :math:`t_{\max}` sparse vector-matrix products :math:`\mu_{t+1} = \mu_t P`.

    Parameters
    ----------
    chain : Chain
    t_max : int
        Last time, :math:`\ge 0`.
    start : int or array_like, optional
        :math:`\mu_0`; default ``chain.start``.
    base : float

    Returns
    -------
    ndarray, shape (t_max + 1,)

    Examples
    --------
    >>> c = Chain(np.array([[0.5, 0.5], [0.5, 0.5]]), start=0)
    >>> state_entropy(c, 2, base=2).tolist()
    [0.0, 1.0, 1.0]
    """
    if not isinstance(chain, Chain):
        raise ArgumentTypeError(f"state_entropy needs a metacot Chain, got {type(chain).__name__}")
    t_max = positive_int(t_max, "t_max", minimum=0)
    mu = np.array(chain.start_distribution(start), dtype=np.float64)
    PT = sp.csr_array(chain.P.T)
    out = np.empty(int(t_max) + 1)
    for t in range(int(t_max) + 1):
        # Renormalise against drift from rounding over long horizons.
        mu = np.clip(mu, 0.0, None)
        mu /= mu.sum()
        out[t] = entropy(mu, base)
        if t < t_max:
            mu = PT @ mu
    return out


def _forward_fill(paths: np.ndarray) -> np.ndarray:
    """Replace the -1 padding after a walker's hit by the state it stopped in."""
    out = paths.copy()
    for t in range(1, out.shape[1]):
        pad = out[:, t] < 0
        out[pad, t] = out[pad, t - 1]
    return out


def empirical_state_entropy(paths: Any, n_states: int, base: float = math.e) -> np.ndarray:
    r"""Plug-in estimate of :math:`H(\mu_t)` from many paths: the entropy of the empirical law of
    :math:`X_t` across walkers, for every :math:`t`.

    ``-1`` entries (after a walker hit its target, as in :attr:`Simulation.paths`) are read as
    the walker staying where it stopped, which is what the absorbing chain does. The plug-in
    estimate is biased low by about :math:`(k - 1) / (2 n)` nats for :math:`n` walkers and
    :math:`k` occupied states.

    Parameters
    ----------
    paths : array_like of int, shape (n_walkers, T)
    n_states : int
    base : float

    Returns
    -------
    ndarray, shape (T,)

    Examples
    --------
    >>> empirical_state_entropy([[0, 1, -1], [0, 0, 1]], 2, base=2).tolist()
    [0.0, 1.0, 0.0]
    """
    X = np.asarray(paths)
    n_states = positive_int(n_states, "n_states")
    if X.ndim != 2 or X.shape[0] < 1:
        raise InvalidArgumentError(f"paths must be an (n_walkers, T) array, got shape {X.shape}")
    if not np.issubdtype(X.dtype, np.integer):
        raise InvalidArgumentError(f"paths must hold integer states, got dtype {X.dtype}")
    if X[:, 0].min() < 0:
        raise InvalidArgumentError("every path needs a state at time 0")
    if X.max() >= n_states:
        raise InvalidArgumentError(f"a path visits state {int(X.max())}, but n_states is {n_states}")
    X = _forward_fill(X.astype(np.int64))
    counts = np.zeros((X.shape[1], n_states))
    for t in range(X.shape[1]):
        counts[t] = np.bincount(X[:, t], minlength=n_states)
    return np.asarray(entropy(counts / X.shape[0], base))
