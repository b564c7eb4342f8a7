r"""Bond statistics of one embedded trace: locality, re-attachment, stride and MEB volumes.

The last step of the geometry pipeline (:mod:`metacot.structure.geometry`, where the defaults
below are explained). Coordinates are one trace's steps, usually in trace units
(:func:`metacot.structure.tsne.to_trace_units`); behaviours are one label per step.

* **deep reasoning is local** -- :func:`locality`;
* **self-reflection re-attaches** -- :func:`cluster_steps` + :func:`reattachment`;
* **self-exploration strides** -- :func:`stride`;
* the MEB of the steps around a reflection shrinks, around an exploration it grows --
  :func:`window_volumes`;
* every per-step quantity in one table -- :func:`step_table`.

Examples
--------
>>> import numpy as np
>>> locality(np.array([[0.0], [0.1], [5.0], [5.2]]), ["normal", "deep", "deep", "deep"], threshold=0.5)
(2, 3)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from metacot._checks import positive_int
from metacot.behaviours import Behaviour
from metacot.errors import ArgumentTypeError, InvalidArgumentError
from metacot.structure.meb import ball_volume, min_enclosing_ball

__all__ = [
    "CLUSTER_THRESHOLD",
    "LOCALITY_THRESHOLD",
    "PAPER",
    "WINDOW",
    "cluster_steps",
    "jumps",
    "locality",
    "reattachment",
    "step_table",
    "stride",
    "window_volumes",
]

#: Local radius in trace units: the paper's 3 / 5.6 (see the module notes).
LOCALITY_THRESHOLD = 3.0 / 5.6
#: Average-linkage cut height in trace units; the same radius as locality.
CLUSTER_THRESHOLD = 3.0 / 5.6
#: Steps on each side of an event in :func:`window_volumes`.
WINDOW = 5

#: The paper's numbers (notes §4.8, §4.9), for side-by-side reports. Volumes are
#: (before, after) pairs; "reflect" contracts, "explore" expands.
PAPER: dict[str, Any] = {
    "reattachment": 0.8172,
    "locality": 0.7256,
    "locality_radius": 3.0,
    "intercluster_distance": 5.6,
    "stride": 5.32,
    "volume_reflect": (35.2, 31.2),
    "volume_explore": (23.95, 29.22),
}


def _coords(coords: Any) -> np.ndarray:
    try:
        Y = np.asarray(coords, dtype=np.float64)
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"coords must be an (n, d) array of numbers, got {type(coords).__name__}") from None
    if Y.ndim != 2 or Y.shape[0] < 1:
        raise InvalidArgumentError(f"coords must be an (n, d) array with n >= 1, got shape {Y.shape}")
    if not np.all(np.isfinite(Y)):
        raise InvalidArgumentError("coords have non-finite entries")
    return Y


def _behaviours(behaviours: Sequence[Any], n: int) -> list[Behaviour | None]:
    bs = list(behaviours)
    if len(bs) != n:
        raise InvalidArgumentError(f"{len(bs)} behaviours for {n} steps")
    out: list[Behaviour | None] = []
    for i, b in enumerate(bs):
        if b is None or isinstance(b, Behaviour):
            out.append(b)
            continue
        try:
            out.append(Behaviour(b))
        except ValueError:
            raise InvalidArgumentError(f"step {i}: unknown behaviour {b!r}") from None
    return out


def _behaviour(b: Any) -> Behaviour:
    try:
        return Behaviour(b)
    except ValueError:
        raise InvalidArgumentError(f"behaviour must be one of {[x.value for x in Behaviour]}, got {b!r}") from None


def _threshold(x: float, name: str) -> float:
    if not (isinstance(x, (int, float, np.floating)) and x > 0 and math.isfinite(x)):
        raise InvalidArgumentError(f"{name} must be a positive finite number, got {x!r}")
    return float(x)


def jumps(coords: Any) -> np.ndarray:
    r"""Distance of every step from the step before it, :math:`\lVert y_t - y_{t-1} \rVert`
    (``nan`` for step 0).

    Examples
    --------
    >>> jumps(np.array([[0.0, 0], [3, 4], [3, 4]])).tolist()
    [nan, 5.0, 0.0]
    """
    Y = _coords(coords)
    out = np.full(Y.shape[0], np.nan)
    out[1:] = np.linalg.norm(np.diff(Y, axis=0), axis=1)
    return out


def locality(
    coords: Any, behaviours: Sequence[Any], threshold: float = LOCALITY_THRESHOLD, behaviour: Any = Behaviour.DEEP
) -> tuple[int, int]:
    r"""Deep-reasoning locality: how many steps of ``behaviour`` land near the step before them.

    .. math::
        \text{locality} = \frac{\#\{t \ge 1 : b_t = b,\ \lVert y_t - y_{t-1} \rVert < \delta\}}
                               {\#\{t \ge 1 : b_t = b\}}

    Parameters
    ----------
    coords : array_like, shape (n, d)
    behaviours : sequence of Behaviour, str or None, length n
    threshold : float
        :math:`\delta`, in the units of ``coords`` (default :data:`LOCALITY_THRESHOLD`, meant for
        trace units).
    behaviour : Behaviour or str

    Returns
    -------
    (int, int)
        Numerator and denominator, so that traces pool by summing (the share is their ratio).

    Examples
    --------
    >>> Y = np.array([[0.0], [0.1], [5.0], [5.2]])
    >>> locality(Y, ["normal", "deep", "deep", "deep"], threshold=0.5)
    (2, 3)
    """
    Y = _coords(coords)
    bs = _behaviours(behaviours, Y.shape[0])
    thr = _threshold(threshold, "threshold")
    b = _behaviour(behaviour)
    d = jumps(Y)
    idx = [t for t in range(1, len(bs)) if bs[t] == b]
    return sum(int(d[t] < thr) for t in idx), len(idx)


def stride(coords: Any, behaviours: Sequence[Any], behaviour: Any = Behaviour.EXPLORE) -> np.ndarray:
    r"""Exploration stride: the jumps :math:`\lVert y_t - y_{t-1} \rVert` of the steps with ``behaviour``.

    The paper's statistic is their mean; the array is returned so traces pool by concatenation.

    Examples
    --------
    >>> stride(np.array([[0.0, 0], [3, 4], [3, 5]]), ["normal", "explore", "deep"]).tolist()
    [5.0]
    """
    Y = _coords(coords)
    bs = _behaviours(behaviours, Y.shape[0])
    b = _behaviour(behaviour)
    d = jumps(Y)
    return np.array([d[t] for t in range(1, len(bs)) if bs[t] == b])


def cluster_steps(coords: Any, threshold: float = CLUSTER_THRESHOLD, method: str = "average") -> np.ndarray:
    r"""Cluster the steps of one trace by agglomerative clustering cut at a height.

    With ``method="average"`` two groups :math:`A, B` merge while their mean distance
    :math:`\frac{1}{|A||B|} \sum_{a \in A, b \in B} \lVert y_a - y_b \rVert` is at most
    ``threshold`` (scipy's ``linkage`` + ``fcluster(criterion="distance")``). Average linkage is
    used rather than single linkage, which chains consecutive steps into one long cluster, and
    rather than k-means, which needs the number of clusters in advance. Labels are renumbered
    ``0, 1, ...`` in order of first appearance along the trace, so "cluster :math:`k` existed
    before step :math:`t`" reads as "some step before :math:`t` has label :math:`k`".

    Parameters
    ----------
    coords : array_like, shape (n, d)
    threshold : float
        Cut height (default :data:`CLUSTER_THRESHOLD`, in trace units).
    method : str
        Any scipy linkage method that works on distances (``"average"``, ``"complete"``,
        ``"single"``, ``"weighted"``).

    Returns
    -------
    ndarray of int, shape (n,)

    Examples
    --------
    >>> cluster_steps(np.array([[0.0], [0.1], [5.0], [0.05], [5.1]]), threshold=1.0).tolist()
    [0, 0, 1, 0, 1]
    """
    from scipy.cluster.hierarchy import fcluster, linkage

    Y = _coords(coords)
    thr = _threshold(threshold, "threshold")
    if method not in ("average", "complete", "single", "weighted"):
        raise InvalidArgumentError(f"method must be average, complete, single or weighted, got {method!r}")
    if Y.shape[0] == 1:
        return np.zeros(1, dtype=np.int64)
    raw = fcluster(linkage(Y, method=method), t=thr, criterion="distance")
    first: dict[int, int] = {}
    return np.array([first.setdefault(int(k), len(first)) for k in raw], dtype=np.int64)


def reattachment(
    clusters: Any, behaviours: Sequence[Any], behaviour: Any = Behaviour.REFLECT, min_lag: int = 1
) -> tuple[int, int]:
    r"""Self-reflection re-attachment: how many steps of ``behaviour`` land in an earlier cluster.

    Step :math:`t` re-attaches when its cluster :math:`c_t` was already visited at least
    ``min_lag`` steps before:

    .. math::
        \text{re-attachment} = \frac{\#\{t \ge 1 : b_t = b,\ \exists s \le t - \ell : c_s = c_t\}}
                                    {\#\{t \ge 1 : b_t = b\}}

    With :math:`\ell = 1` (default) staying in the previous step's cluster counts; with
    :math:`\ell = 2` the cluster must predate the previous step. Compare with the same share
    for the other behaviours (the base rate): with few clusters almost every step re-attaches.

    Parameters
    ----------
    clusters : array_like of int, shape (n,)
        Cluster label per step (e.g. :func:`cluster_steps`).
    behaviours : sequence, length n
    behaviour : Behaviour or str
    min_lag : int
        :math:`\ell \ge 1`.

    Returns
    -------
    (int, int)
        Numerator and denominator.

    Examples
    --------
    >>> reattachment([0, 0, 1, 0, 2], ["normal", "reflect", "normal", "reflect", "reflect"])
    (2, 3)
    >>> reattachment([0, 0, 1, 0, 2], ["normal", "reflect", "normal", "reflect", "reflect"], min_lag=2)
    (1, 3)
    """
    c = np.asarray(clusters)
    if c.ndim != 1:
        raise InvalidArgumentError(f"clusters must be one label per step, got shape {c.shape}")
    bs = _behaviours(behaviours, c.shape[0])
    min_lag = positive_int(min_lag, "min_lag")
    b = _behaviour(behaviour)
    first_seen: dict[Any, int] = {}
    for t, k in enumerate(c.tolist()):
        first_seen.setdefault(k, t)
    idx = [t for t in range(1, len(bs)) if bs[t] == b]
    hits = sum(int(first_seen[c[t].item()] <= t - min_lag) for t in idx)
    return hits, len(idx)


def window_volumes(
    coords: Any, behaviours: Sequence[Any], behaviour: Any, window: int = WINDOW
) -> np.ndarray:
    r"""MEB volume of the steps just before and just after every step of ``behaviour``.

    For an event at step :math:`t` with window :math:`w`,

    .. math::
        V^{\text{before}}_t = V\big(\mathrm{MEB}(y_{t-w}, \dots, y_{t-1})\big), \qquad
        V^{\text{after}}_t = V\big(\mathrm{MEB}(y_t, \dots, y_{t+w-1})\big),

    :math:`V(r) = \frac{\pi^{d/2}}{\Gamma(d/2+1)} r^d`. The event step opens the "after" window,
    so a long jump (exploration) or a return to an earlier cluster (reflection) shows up as a
    change from before to after. Only events with full windows on both sides are used.

    Parameters
    ----------
    coords : array_like, shape (n, d)
    behaviours : sequence, length n
    behaviour : Behaviour or str
    window : int
        :math:`w \ge 2` steps on each side (default :data:`WINDOW`).

    Returns
    -------
    ndarray, shape (n_events, 3)
        Columns: event step :math:`t`, :math:`V^{\text{before}}_t`, :math:`V^{\text{after}}_t`.

    Examples
    --------
    >>> Y = np.array([[0.0, 0], [1, 0], [50, 0], [52, 0]])
    >>> window_volumes(Y, ["normal", "normal", "explore", "normal"], "explore", window=2).tolist()
    [[2.0, 0.7853981633974483, 3.141592653589793]]
    """
    Y = _coords(coords)
    bs = _behaviours(behaviours, Y.shape[0])
    window = positive_int(window, "window", minimum=2)
    b = _behaviour(behaviour)
    n, d = Y.shape
    rows = []
    for t in range(window, n - window + 1):
        if bs[t] != b:
            continue
        before = min_enclosing_ball(Y[t - window : t]).radius
        after = min_enclosing_ball(Y[t : t + window]).radius
        rows.append((t, ball_volume(before, d), ball_volume(after, d)))
    return np.array(rows, dtype=np.float64).reshape(-1, 3)


def step_table(
    coords: Any,
    behaviours: Sequence[Any],
    locality_threshold: float = LOCALITY_THRESHOLD,
    cluster_threshold: float = CLUSTER_THRESHOLD,
    linkage: str = "average",
    min_lag: int = 1,
):
    r"""Every per-step quantity of one trace in one table (pool traces by concatenating tables).

    Columns: ``step``; ``behaviour`` (short name, ``None`` if unlabelled); ``jump``
    (:math:`\lVert y_t - y_{t-1} \rVert`, NaN at step 0); ``local`` (``jump <
    locality_threshold``); ``cluster`` (:func:`cluster_steps`); ``reattached`` (cluster first seen
    at least ``min_lag`` steps earlier, see :func:`reattachment`); ``returned`` (re-attached *and*
    in a different cluster from the previous step: a jump back, not a stay). Aggregating
    ``local`` over deep steps gives :func:`locality`, ``reattached`` over reflection steps gives
    :func:`reattachment`, ``jump`` over exploration steps gives :func:`stride`.

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> t = step_table(np.array([[0.0], [0.1], [5.0], [0.2]]), ["normal", "deep", "explore", "reflect"],
    ...                locality_threshold=0.5, cluster_threshold=1.0)
    >>> t[["behaviour", "local", "cluster", "reattached", "returned"]].values.tolist()
    [['normal', False, 0, False, False], ['deep', True, 0, True, False], ['explore', False, 1, False, False], ['reflect', False, 0, True, True]]
    """
    import pandas as pd

    Y = _coords(coords)
    bs = _behaviours(behaviours, Y.shape[0])
    lthr = _threshold(locality_threshold, "locality_threshold")
    min_lag = positive_int(min_lag, "min_lag")
    d = jumps(Y)
    c = cluster_steps(Y, cluster_threshold, linkage)
    first: dict[int, int] = {}
    for t, k in enumerate(c.tolist()):
        first.setdefault(k, t)
    n = Y.shape[0]
    re = np.array([t >= 1 and first[int(c[t])] <= t - min_lag for t in range(n)])
    ret = re & np.array([t >= 1 and c[t] != c[t - 1] for t in range(n)])
    return pd.DataFrame(
        {
            "step": np.arange(n),
            "behaviour": [None if b is None else b.value for b in bs],
            "jump": d,
            "local": np.nan_to_num(d, nan=np.inf) < lthr,
            "cluster": c,
            "reattached": re,
            "returned": ret,
        }
    )
