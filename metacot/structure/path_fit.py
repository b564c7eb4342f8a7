r"""Fitting and drawing paths of lifted chains: the maximum-likelihood lifted chain, and a sampler.

:func:`lift_from_paths` and :func:`lift_from_traces` give the maximum-likelihood lifted chain
(:mod:`metacot.structure.lifted`) of observed paths, whose mean hitting time of the answer is
exactly the mean path length (flow conservation; see :func:`lift_from_paths`).
:func:`sample_paths` draws paths of a lifted chain on the package's simulator.

Examples
--------
>>> law = lift_from_paths([[0, 0, 1], [1]], k=2)
>>> law.mean_length
2.0
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from metacot._checks import as_seed_int, positive_int
from metacot.behaviours import BEHAVIOURS, Behaviour
from metacot.errors import CensoredError, InvalidArgumentError
from metacot.markov.chain import Chain
from metacot.structure.lifted import PathLaw, lifted_parts, path_law
from metacot.traces.core import Trace

__all__ = ["index_paths", "lift_from_paths", "lift_from_traces", "sample_paths"]


def lift_from_paths(
    paths: Iterable[Sequence[int] | np.ndarray], k: int, labels: Sequence[str] | None = None
) -> PathLaw:
    r"""Maximum-likelihood lifted chain of observed behaviour paths (integer sequences).

    A path :math:`x_0 \dots x_{n-1}` (then the answer) has likelihood
    :math:`\mu_{x_0} \prod_t Q_{x_t x_{t+1}}\, a_{x_{n-1}}`, so row :math:`i` of :math:`[Q \mid a]`
    is a multinomial over its successors (the next behaviour, or the answer) and

    .. math:: \hat Q_{ij} = \frac{N_{ij}}{s_i}, \qquad \hat a_i = \frac{e_i}{s_i}, \qquad
              \hat\mu_i = \frac{f_i}{n_{\ne\emptyset}},

    with :math:`N_{ij}` the transition counts, :math:`s_i` the steps in :math:`i`, :math:`e_i`
    the paths ending in :math:`i`, :math:`f_i` the paths starting in :math:`i`, and
    :math:`n_{\ne\emptyset}` the non-empty paths. Since every step either has a successor or
    ends its path, :math:`s_i = N_{i\cdot} + e_i`, so :math:`\hat P_{ij} = \hat Q_{ij}/(1 - \hat a_i)`
    is the MLE behaviour graph (:func:`metacot.graphs.fit.fit_mle`) and this chain equals
    ``fit_graph(paths, "mle").to_chain(answer_rate=e/s, start=f/n)`` whenever that is defined.

    **Exact identity (flow conservation).** Every step is either a first step or has a
    predecessor, so :math:`s_j = f_j + \sum_i N_{ij} = f_j + \sum_i s_i \hat Q_{ij}`, i.e.
    :math:`s^\top (I - \hat Q) = f^\top`. Hence
    :math:`\hat\mu (I - \hat Q)^{-1}\mathbf 1 = \sum_i s_i / n_{\ne\emptyset}`: **the fitted
    chain's mean hitting time of the answer equals the mean length of the non-empty paths**,
    whatever the paths are (Markov or not). A transformation that keeps the number of steps
    (shuffling, relabelling nothing) therefore keeps the fitted hitting time exactly, and one
    that keeps a share of the steps moves it by exactly that share.

    Parameters
    ----------
    paths : iterable of sequences of int
        Behaviour indices in ``0..k-1``; empty paths count towards :attr:`PathLaw.p_empty`.
    k : int
        Number of behaviours.
    labels : sequence of str, optional
        ``k + 1`` names, answer last.

    Returns
    -------
    PathLaw
        ``p_empty`` = share of empty paths. A behaviour never visited has no data; its row is
        the placeholder "answer at once" (:math:`\hat Q_{i\cdot} = 0`, :math:`\hat a_i = 1`) and
        it is not :attr:`~PathLaw.reachable`.

    Raises
    ------
    InvalidArgumentError
        No paths, only empty paths, or an index outside ``0..k-1`` (the message names the path).

    Examples
    --------
    >>> law = lift_from_paths([[0, 0, 1], [1]], k=2)
    >>> law.Q.tolist(), law.a.tolist(), law.mean_length
    ([[0.5, 0.5], [0.0, 0.0]], [0.0, 1.0], 2.0)
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InvalidArgumentError(f"lift_from_paths: k must be a positive int, got {k!r}")
    k = int(k)
    N = np.zeros((k, k))
    s = np.zeros(k)
    e = np.zeros(k)
    f = np.zeros(k)
    n_paths = n_empty = 0
    for m, path in enumerate(paths):
        x = np.asarray(path)
        if x.ndim != 1 or (x.size and not np.issubdtype(x.dtype, np.integer)):
            raise InvalidArgumentError(f"lift_from_paths: path {m} must be a 1-D sequence of int, got {path!r:.80}")
        n_paths += 1
        if x.size == 0:
            n_empty += 1
            continue
        bad = (x < 0) | (x >= k)
        if bad.any():
            t = int(np.flatnonzero(bad)[0])
            raise InvalidArgumentError(f"lift_from_paths: path {m}, step {t}: {int(x[t])} is not a behaviour 0..{k - 1}")
        np.add.at(N, (x[:-1], x[1:]), 1.0)
        s += np.bincount(x, minlength=k)
        e[x[-1]] += 1.0
        f[x[0]] += 1.0
    if n_paths == 0:
        raise InvalidArgumentError("lift_from_paths: no paths")
    if n_paths == n_empty:
        raise InvalidArgumentError(f"lift_from_paths: all {n_paths} paths are empty; there is nothing to fit")
    seen = s > 0
    Q = np.zeros((k, k))
    a = np.ones(k)  # placeholder for unvisited behaviours: "answer at once"
    Q[seen] = N[seen] / s[seen, None]
    a[seen] = e[seen] / s[seen]
    return path_law(Q, a, f / n_paths, n_empty / n_paths, labels, "lift_from_paths")


def _behaviour_order(states: Sequence[Behaviour | str], who: str) -> tuple[Behaviour, ...]:
    try:
        order = tuple(Behaviour(b) for b in states)
    except ValueError:
        raise InvalidArgumentError(f"{who}: states must be behaviours, got {list(states)!r}") from None
    if not order or len(set(order)) != len(order):
        raise InvalidArgumentError(f"{who}: states must be distinct and non-empty, got {list(states)!r}")
    return order


def index_paths(traces: Iterable[Trace], states: Sequence[Behaviour | str] = BEHAVIOURS, *,
                answer: bool = False, pad: bool = False) -> list[np.ndarray] | np.ndarray:
    r"""Labelled traces as paths of state indices, for :mod:`metacot.structure.dynamics` and chain fits.

    Step :math:`t` of a trace becomes the index of its behaviour in ``states``. With
    ``answer=True`` every path ends with one more state, index ``len(states)``: the absorbing
    answer state of :meth:`metacot.graphs.graph.BehaviourGraph.to_chain`. With ``pad=True`` the
    paths come back as one ``(n_traces, T)`` array, padded with ``-1`` after each path's end, the
    convention of :attr:`metacot.simulation.engine.Simulation.paths` that
    :func:`metacot.markov.entropy.empirical_state_entropy` reads.

    Parameters
    ----------
    traces : iterable of Trace
        Every step labelled with one of ``states``.
    states : sequence of Behaviour or str
        Behaviour order; the four behaviours by default.
    answer : bool
        Append the answer state to every path.
    pad : bool
        Return one padded 2-D array instead of a list.

    Returns
    -------
    list of ndarray of int64, or ndarray of shape (n_traces, T)

    Raises
    ------
    InvalidArgumentError
        Not a Trace, an unlabelled step, or a behaviour outside ``states`` (naming trace and step).

    Examples
    --------
    >>> from metacot.traces.edits import make_trace
    >>> ts = [make_trace(["a", "b"], ["normal", "reflect"]), make_trace(["c"], ["deep"])]
    >>> [p.tolist() for p in index_paths(ts, answer=True)]
    [[0, 2, 4], [1, 4]]
    >>> index_paths(ts, pad=True).tolist()
    [[0, 2], [1, -1]]
    """
    order = _behaviour_order(states, "index_paths")
    index = {b: i for i, b in enumerate(order)}
    paths = []
    for m, tr in enumerate(traces):
        if not isinstance(tr, Trace):
            raise InvalidArgumentError(f"index_paths: item {m} is a {type(tr).__name__}, not a metacot Trace")
        path = []
        for t, b in enumerate(tr.behaviours()):
            if b is None:
                raise InvalidArgumentError(
                    f"trace {tr.trace_id!r}, step {t} is unlabelled; label the traces first"
                )
            if b not in index:
                raise InvalidArgumentError(
                    f"trace {tr.trace_id!r}, step {t}: behaviour {b.value!r} is not one of "
                    f"{[s.value for s in order]}"
                )
            path.append(index[b])
        if answer:
            path.append(len(order))
        paths.append(np.asarray(path, dtype=np.int64))
    if not pad:
        return paths
    out = np.full((len(paths), max((len(p) for p in paths), default=0)), -1, dtype=np.int64)
    for i, p in enumerate(paths):
        out[i, : len(p)] = p
    return out


def lift_from_traces(traces: Iterable[Trace], states: Sequence[Behaviour | str] = BEHAVIOURS) -> PathLaw:
    r"""Maximum-likelihood lifted chain of labelled traces (see :func:`lift_from_paths`).

    The answer state is labelled ``"answer"`` (:data:`metacot.graphs.graph.ANSWER`). Its mean hitting
    time equals the mean number of steps of the non-empty traces, exactly.

    Parameters
    ----------
    traces : iterable of Trace
        Every step labelled with one of ``states`` (an unlabelled step would break the path,
        and with it the identity above, so it is an error rather than a gap).
    states : sequence of Behaviour or str
        Behaviour order; the four behaviours by default.

    Returns
    -------
    PathLaw

    Raises
    ------
    InvalidArgumentError
        Not a Trace, an unlabelled step, or a behaviour outside ``states`` (naming trace and step).

    Examples
    --------
    >>> from metacot.traces.transforms import make_trace
    >>> t = make_trace(["a", "b", "c"], ["normal", "reflect", "normal"])
    >>> law = lift_from_traces([t])
    >>> law.mean_length, law.a.tolist()
    (3.0, [0.5, 1.0, 0.0, 1.0])
    """
    from metacot.graphs.graph import ANSWER

    order = _behaviour_order(states, "lift_from_traces")
    paths = index_paths(traces, order)
    return lift_from_paths(paths, len(order), [b.value for b in order] + [ANSWER])


def sample_paths(chain: Chain, n_paths: int, seed: Any, *, max_length: int = 1_000_000) -> list[np.ndarray]:
    r"""Draw ``n_paths`` independent paths :math:`X_0 \dots X_{n-1}` of a lifted chain.

    The walkers are those of :func:`metacot.simulation.engine.simulate` (counter-based Philox streams,
    so a path depends only on the seed and its index) with ``record_paths=True``; a path ends when
    it enters the answer state, which is not part of the path. The step budget starts where the
    bound :math:`\Pr(n > t) \le C \rho(Q)^t` falls below :math:`10^{-12}/` ``n_paths`` and
    doubles, up to ``max_length``, while any walker is still running; with the same seed a larger
    budget extends the same paths, so the result does not depend on the budget.

    Parameters
    ----------
    chain : Chain
        A lifted chain (see :func:`lifted_parts`).
    n_paths : int
        At least 1.
    seed : int or numpy.random.Generator
    max_length : int
        Guard against chains whose paths are far longer than intended.

    Returns
    -------
    list of ndarray of int64
        Behaviour indices of each path (none is empty).

    Raises
    ------
    CensoredError
        If a path is still running after ``max_length`` steps.

    Examples
    --------
    >>> from metacot.graphs.graph import reference
    >>> paths = sample_paths(reference("qwq-32b").to_chain(answer_rate=0.5, start="normal"), 3, seed=0)
    >>> [int(p[0]) for p in paths]
    [0, 0, 0]
    """
    from metacot.simulation.engine import simulate  # numba is only needed here

    if isinstance(n_paths, (bool, np.bool_)) or not isinstance(n_paths, (int, np.integer)) or n_paths < 1:
        raise InvalidArgumentError(f"sample_paths: n_paths must be a positive int, got {n_paths!r}")
    n = int(n_paths)
    max_length = positive_int(max_length, "sample_paths: max_length")
    p = lifted_parts(chain, where="sample_paths")
    seed = as_seed_int(seed)  # one key for every retry, so a larger budget extends the same paths
    rho = float(np.max(np.abs(np.linalg.eigvals(p.Q))))
    budget = math.ceil(math.log(1e-12 / n) / math.log(rho)) if 0 < rho < 1 else 1
    budget = min(max(budget, 1), max_length)
    while True:
        sim = simulate(chain, n, budget, seed=seed, record_paths=True, count_visits=False)
        if not sim.censored.any():
            return [sim.paths[w, :tau].astype(np.int64) for w, tau in enumerate(sim.hitting_times)]
        if budget >= max_length:
            raise CensoredError(
                f"sample_paths: {int(sim.censored.sum())} path(s) still running after max_length={max_length} steps"
            )
        budget = min(2 * budget, max_length)
