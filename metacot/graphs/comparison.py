r"""Comparing behaviour graphs, with intervals from the one trace bootstrap of the package.

* :func:`comparison_stats` -- Pearson :math:`r` between two matrices (all entries and off-diagonal
  only) and the row Jensen–Shannon divergences, for single matrices or stacks of them;
* the trace bootstrap: :func:`bootstrap_weights` draws the replicates (resampling :math:`n` traces
  with replacement is drawing multinomial trace weights :math:`w_{b\cdot} \sim
  \mathrm{Mult}(n, \mathbf 1/n)`), :func:`resampled_counts` pools per-trace counts with them,
  :math:`N_b = \sum_t w_{bt} C_t`, and :func:`bootstrap_graphs` refits every replicate (MLE or
  Dirichlet posterior mean). :func:`resample_graph` does the same for a fitted graph and the
  traces behind it, checking that they belong together. Passing the *same* weights for two trace
  sets gives a paired bootstrap (trace :math:`t` of one set derives from trace :math:`t` of the
  other). Every interval of the package over traces (:func:`compare`, the experiments' noise
  floors and paired differences) is drawn here;
* :func:`compare` -- the comparison of two graphs, with bootstrap percentile intervals.

Examples
--------
>>> from metacot.graphs.reference_graphs import reference
>>> round(compare(reference("deepseek-r1-0528"), reference("gpt-oss-120b")).pearson, 2)
0.98
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from metacot._checks import as_rng, positive_int
from metacot._checks import readonly as _readonly
from metacot.behaviours import Behaviour
from metacot.errors import InvalidArgumentError
from metacot.graphs.behaviour_graph import BehaviourGraph
from metacot.graphs.closed_form import row_normalise
from metacot.graphs.counts import per_trace_counts

__all__ = [
    "FewTracesWarning",
    "GraphComparison",
    "bootstrap_graphs",
    "bootstrap_weights",
    "compare",
    "comparison_stats",
    "resample_graph",
    "resampled_counts",
]


class FewTracesWarning(UserWarning):
    """A trace bootstrap over fewer than two traces: every replicate is the same, the interval has zero width."""


@dataclass(frozen=True)
class GraphComparison:
    r"""How alike two behaviour graphs are.

    Attributes
    ----------
    pearson : float
        Pearson :math:`r` between the :math:`k^2` entries of the two matrices (the measure of
        Chen et al., 2026, Figure 5).
    pearson_offdiag : float
        Pearson :math:`r` over the :math:`k(k-1)` off-diagonal entries only; the large
        self-transition of normal operation otherwise dominates :math:`r`.
    js : ndarray, shape (k,)
        Jensen–Shannon divergence (base 2, so in :math:`[0, 1]`) between matching rows.
    states : tuple of Behaviour
    intervals : dict of str to ndarray, optional
        Bootstrap percentile intervals, present when :func:`compare` was given traces:
        ``"pearson"``, ``"pearson_offdiag"`` and ``"js_mean"`` map to ``[low, high]``, ``"js"`` to
        a ``(k, 2)`` array.
    level : float
        Coverage of the intervals (``nan`` without them).
    n_boot : int
        Bootstrap replicates used (0 without intervals).
    n_boot_dropped : int
        Replicates discarded because an MLE row had no transitions in the resample (its estimate
        is undefined); always 0 for Dirichlet fits.
    """

    pearson: float
    pearson_offdiag: float
    js: np.ndarray
    states: tuple[Behaviour, ...]
    intervals: Mapping[str, np.ndarray] | None = None
    level: float = float("nan")
    n_boot: int = 0
    n_boot_dropped: int = 0

    @property
    def js_mean(self) -> float:
        """Unweighted mean of the per-row Jensen–Shannon divergences."""
        return float(self.js.mean())

    def interval(self, name: str) -> tuple[float, float]:
        """The bootstrap interval of ``"pearson"``, ``"pearson_offdiag"`` or ``"js_mean"``."""
        if self.intervals is None:
            raise InvalidArgumentError("no bootstrap intervals: pass the traces to compare()")
        if name not in ("pearson", "pearson_offdiag", "js_mean"):
            raise InvalidArgumentError(
                f"interval() takes 'pearson', 'pearson_offdiag' or 'js_mean', got {name!r}; "
                "the per-row JS intervals are intervals['js']"
            )
        lo, hi = self.intervals[name]
        return float(lo), float(hi)


def _pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r along the last axis; ``nan`` where either side is constant."""
    xc = x - x.mean(axis=-1, keepdims=True)
    yc = y - y.mean(axis=-1, keepdims=True)
    den = np.sqrt((xc * xc).sum(axis=-1) * (yc * yc).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        # A constant vector has no correlation with anything; nan says so instead of a made-up 0 or 1.
        return np.where(den > 0, (xc * yc).sum(axis=-1) / np.where(den > 0, den, 1.0), np.nan)


def _js_rows(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen–Shannon divergence in bits along the last axis (0 log 0 = 0)."""
    m = 0.5 * (p + q)

    def kl(a: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            terms = np.where(a > 0, a * np.log2(np.where(a > 0, a, 1.0) / np.where(m > 0, m, 1.0)), 0.0)
        return terms.sum(axis=-1)

    return np.maximum(0.0, 0.5 * kl(p) + 0.5 * kl(q))


def comparison_stats(Pa: np.ndarray, Pb: np.ndarray) -> dict[str, np.ndarray]:
    """The statistics of :func:`compare` for stacks of row-stochastic matrices ``(..., k, k)``.

    Returns ``"pearson"``, ``"pearson_offdiag"``, ``"js"`` (per row, last axis) and ``"js_mean"``,
    each with the stack's leading shape; for bootstrap replicates and noise floors computed
    outside :func:`compare` with exactly its definitions.
    """
    k = Pa.shape[-1]
    off = ~np.eye(k, dtype=bool)
    js = _js_rows(Pa, Pb)
    return {
        "pearson": _pearson_rows(Pa.reshape(*Pa.shape[:-2], k * k), Pb.reshape(*Pb.shape[:-2], k * k)),
        "pearson_offdiag": _pearson_rows(Pa[..., off], Pb[..., off]),
        "js": js,
        "js_mean": js.mean(axis=-1),
    }


# ------------------------------------------------------------------------------- the trace bootstrap
def bootstrap_weights(n: int, n_boot: int, seed: Any, *, what: str = "traces") -> np.ndarray:
    r"""Trace weights of ``n_boot`` bootstrap replicates of ``n`` traces.

    Replicate :math:`b` draws :math:`n` traces with replacement; :math:`w_{bt}` counts how often
    trace :math:`t` was drawn, so :math:`w_{b\cdot} \sim \mathrm{Mult}(n, (1/n, \dots, 1/n))`. One
    call to :meth:`numpy.random.Generator.multinomial` draws them all, so a seed fixes the whole
    set, and a Generator passed on to a second call continues the same stream.

    Parameters
    ----------
    n : int
        Traces, at least 1. With one trace every replicate is that trace again and any interval
        has zero width: a :class:`FewTracesWarning` says so (naming ``what``).
    n_boot : int
        Replicates, at least 1.
    seed : int or numpy.random.Generator
    what : str
        Names the trace set in the warning.

    Returns
    -------
    ndarray of float, shape (n_boot, n)
        Every row sums to ``n``.

    Examples
    --------
    >>> W = bootstrap_weights(5, 3, seed=0)
    >>> W.shape, W.sum(axis=1).tolist()
    ((3, 5), [5.0, 5.0, 5.0])
    """
    n = positive_int(n, f"the number of {what}")
    n_boot = positive_int(n_boot, "n_boot")
    rng = as_rng(seed)
    if n < 2:
        warnings.warn(
            f"bootstrap over {n} trace ({what}): every replicate is the same trace, so the interval "
            "has zero width and says nothing about sampling error", FewTracesWarning, stacklevel=3)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)


def resampled_counts(C: np.ndarray, W: np.ndarray) -> np.ndarray:
    r"""Pooled counts of bootstrap replicates: :math:`N_b = \sum_t w_{bt} C_t`.

    Parameters
    ----------
    C : ndarray, shape (n, k, k) or (n_boot, n, k, k)
        Per-trace counts (:func:`metacot.graphs.counts.per_trace_counts`); with a leading replicate
        axis, replicate :math:`b` pools its own trace set ``C[b]`` (a control drawn anew per replicate).
    W : ndarray, shape (n_boot, n)
        Trace weights (:func:`bootstrap_weights`).

    Returns
    -------
    ndarray, shape (n_boot, k, k)

    Examples
    --------
    >>> C = np.array([[[1.0, 0.0], [0.0, 0.0]], [[0.0, 2.0], [1.0, 0.0]]])
    >>> resampled_counts(C, np.array([[2.0, 0.0], [1.0, 1.0]]))[1].tolist()
    [[1.0, 2.0], [1.0, 0.0]]
    """
    C = np.asarray(C, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2 or C.ndim not in (3, 4) or C.shape[-3] != W.shape[1] or (C.ndim == 4 and C.shape[0] != W.shape[0]):
        raise InvalidArgumentError(
            f"weights of shape {W.shape} do not fit per-trace counts of shape {C.shape} "
            "(expected (B, n) against (n, k, k) or (B, n, k, k))"
        )
    if C.ndim == 4:
        return np.einsum("bt,btij->bij", W, C)
    n, k = C.shape[0], C.shape[-1]
    return (W @ C.reshape(n, k * k)).reshape(W.shape[0], k, k)


def bootstrap_graphs(C: np.ndarray, W: np.ndarray, prior: float | np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    r"""Graphs refitted to bootstrap replicates: the MLE, or the Dirichlet posterior mean under ``prior``.

    Replicate :math:`b` pools :math:`N_b = \sum_t w_{bt} C_t` (:func:`resampled_counts`) and refits
    it in closed form (:func:`metacot.graphs.closed_form.row_normalise`): :math:`N_b / N_{b,i\cdot}`
    with ``prior=None``, :math:`(N_b + \alpha^0)/(N_{b,i\cdot} + \sum_j \alpha^0_{ij})` otherwise,
    exactly as :func:`~metacot.graphs.closed_form.fit_mle` and
    :func:`~metacot.graphs.closed_form.fit_dirichlet` fit the full set.

    Returns
    -------
    P : ndarray, shape (n_boot, k, k)
    ok : ndarray of bool, shape (n_boot,)
        Replicates whose every row is defined (an MLE row without transitions in a resample is not).

    Examples
    --------
    >>> C = np.array([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]]])
    >>> P, ok = bootstrap_graphs(C, np.array([[1.0, 1.0]]), prior=1.0)
    >>> P[0].tolist(), ok.tolist()
    ([[0.5, 0.5], [0.5, 0.5]], [True])
    """
    N = resampled_counts(C, W)
    if prior is not None:
        N = N + prior
    return row_normalise(N)


def _refit_prior(g: BehaviourGraph, name: str) -> np.ndarray | None:
    """The Dirichlet prior behind ``g`` (``None`` for an MLE graph), so resamples are refitted alike.

    A resample is refitted in closed form, never by sampling again:

    * ``"mle"``: by maximum likelihood;
    * ``"dirichlet"``: with the prior ``posterior - counts`` (exactly the one used);
    * ``"pymc"``: with the Dirichlet prior recorded in the provenance. The PyMC model is that same
      Dirichlet-multinomial, so the closed form is its exact posterior mean (NUTS only estimates it);
    * ``"hierarchical"``: with a flat Dirichlet(1) prior on the pooled counts, and a
      :class:`UserWarning` saying so: re-running NUTS per replicate is
      out of reach, so the interval describes the unpooled model of the same counts.
    """
    if g.counts is None:
        raise InvalidArgumentError(f"graph {name} has no counts: it cannot be bootstrapped from traces")
    method = g.provenance.method
    k = len(g.states)
    if method == "mle":
        return None
    if method == "dirichlet" and g.posterior is not None:
        # posterior = counts + prior, exactly (fit_dirichlet), so the prior is recovered without guessing.
        return g.posterior - g.counts
    if method == "pymc" and "prior" in g.provenance.extra:
        prior = np.asarray(g.provenance.extra["prior"], dtype=np.float64)
        return np.broadcast_to(prior, (k, k)).copy()
    if method == "hierarchical":
        warnings.warn(
            f"graph {name} was fitted by the hierarchical model; its bootstrap replicates are Dirichlet(1) "
            "refits of the resampled pooled counts (the partial pooling is not re-sampled)",
            UserWarning, stacklevel=4,
        )
        return np.ones((k, k))
    raise InvalidArgumentError(
        f"graph {name} was fitted by {method!r}; bootstrap refits support 'mle', 'dirichlet', 'pymc' and "
        "'hierarchical'"
    )


def resample_graph(g: BehaviourGraph, traces: Sequence[Any], W: np.ndarray, name: str = "a") -> tuple[np.ndarray, np.ndarray]:
    """Graph ``g`` refitted to the replicates ``W`` (``n_boot x n``) of the ``traces`` it was fitted to.

    The refit is the fit ``g`` records (MLE, or Dirichlet with the prior ``posterior - counts``),
    through :func:`bootstrap_graphs`.

    Returns
    -------
    P : ndarray, shape (n_boot, k, k)
    ok : ndarray of bool, shape (n_boot,)

    Raises
    ------
    InvalidArgumentError
        ``g`` has no counts or another fit method; the traces do not reproduce ``g``'s counts;
        ``W`` has another number of traces (the message names the set ``traces_<name>``).
    """
    prior = _refit_prior(g, name)
    C = per_trace_counts(traces, g.states).astype(np.float64)
    if C.shape[0] == 0:
        raise InvalidArgumentError(f"traces_{name} is empty")
    if not np.array_equal(C.sum(axis=0), g.counts):
        raise InvalidArgumentError(
            f"traces_{name} do not reproduce graph {name}'s counts ({int(C.sum())} transitions against "
            f"{int(g.counts.sum())}): pass the labelled traces the graph was fitted to"
        )
    if W.shape[1] != C.shape[0]:
        raise InvalidArgumentError(
            f"paired bootstrap needs as many traces in traces_{name} as in the other set, got {C.shape[0]} and {W.shape[1]}"
        )
    return bootstrap_graphs(C, W, prior)


def compare(
    a: BehaviourGraph,
    b: BehaviourGraph,
    traces_a: Sequence[Any] | None = None,
    traces_b: Sequence[Any] | None = None,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: Any = 0,
    paired: bool = False,
) -> GraphComparison:
    r"""Compare two behaviour graphs on the same states, with bootstrap intervals from their traces.

    .. math::
        r = \operatorname{corr}\bigl(\operatorname{vec} P^a, \operatorname{vec} P^b\bigr), \qquad
        \mathrm{JS}_i = \tfrac12 \mathrm{KL}(P^a_{i\cdot} \,\|\, M_i) + \tfrac12 \mathrm{KL}(P^b_{i\cdot} \,\|\, M_i),
        \quad M_i = \tfrac12 (P^a_{i\cdot} + P^b_{i\cdot}),

    with :math:`r` also computed over off-diagonal entries only, and KL in bits.

    **Intervals.** Given the labelled traces a graph was fitted to, each of ``n_boot`` replicates
    resamples those traces with replacement (the trace is the unit: steps within one are
    dependent), refits the graph the same way in closed form (MLE; the same Dirichlet prior,
    recovered as ``posterior - counts``; for a PyMC graph the Dirichlet prior its provenance
    records, whose closed form is that model's exact posterior mean; for a hierarchical graph a
    Dirichlet(1) refit of the pooled counts, with a warning), and recomputes every statistic; the interval is the
    :math:`((1-\text{level})/2, (1+\text{level})/2)` percentile range. A graph without traces
    (a :func:`~metacot.graphs.reference_graphs.reference` graph) is held fixed. The two trace sets
    are resampled independently,
    which is right for disjoint sets (two teachers); for overlapping sets (a pooled corpus against
    one of its parts) the intervals ignore the shared traces and are only indicative. With
    ``paired=True`` trace ``t`` of ``traces_b`` is taken to derive from trace ``t`` of
    ``traces_a`` (a transformed copy), and every replicate draws the same trace indices for both,
    so the interval reflects which traces were sampled, not a spurious independent draw of each side.

    Parameters
    ----------
    a, b : BehaviourGraph
        Must list the same states in the same order.
    traces_a, traces_b : sequence of Trace, optional
        The labelled traces behind ``a`` and ``b``; their pooled counts must equal the graph's.
    n_boot : int, default 1000
        Bootstrap replicates, when traces are given.
    level : float, default 0.95
    seed : int or numpy.random.Generator
    paired : bool, default False
        Resample both trace sets with the same indices; needs both sets, of equal length.

    Returns
    -------
    GraphComparison

    Raises
    ------
    InvalidArgumentError
        Different states; traces that do not reproduce the graph's counts; a graph without
        counts or fitted by another method; fewer than 10 usable replicates; an empty trace set.

    Warns
    -----
    FewTracesWarning
        A trace set of one trace: its replicates are all alike, so the interval reflects only
        the other set (or has zero width).

    Examples
    --------
    >>> from metacot.graphs.reference_graphs import reference
    >>> c = compare(reference("deepseek-r1-0528"), reference("qwq-32b"))
    >>> round(c.pearson, 2), c.js.shape
    (0.91, (4,))
    >>> from metacot.graphs.fit import fit_graph
    >>> from metacot.traces.core import Step, Trace
    >>> tr = [Trace(f"t{i}", "q", tuple(Step("x", j, j + 1, b) for j, b in enumerate(seq)), "xxxx")
    ...       for i, seq in enumerate([["normal", "deep", "normal", "reflect"], ["explore", "normal", "deep", "deep"]])]
    >>> c = compare(fit_graph(tr), reference("qwq-32b"), tr, n_boot=200, seed=1)
    >>> lo, hi = c.interval("pearson")
    >>> bool(lo <= hi), c.n_boot
    (True, 200)
    """
    if not isinstance(a, BehaviourGraph) or not isinstance(b, BehaviourGraph):
        raise InvalidArgumentError("compare() takes two BehaviourGraph objects")
    if a.states != b.states:
        raise InvalidArgumentError(
            f"the graphs have different states: {[s.value for s in a.states]} vs {[s.value for s in b.states]}"
        )
    point = comparison_stats(a.P, b.P)
    common = {
        "pearson": float(point["pearson"]),
        "pearson_offdiag": float(point["pearson_offdiag"]),
        "js": _readonly(point["js"]),
        "states": a.states,
    }
    if traces_a is None and traces_b is None:
        return GraphComparison(**common)
    if not 0 < level < 1:
        raise InvalidArgumentError(f"level must be in (0, 1), got {level!r}")
    n_boot = positive_int(n_boot, "n_boot", minimum=10)
    rng = as_rng(seed)
    if paired and (traces_a is None or traces_b is None):
        raise InvalidArgumentError("paired=True needs both traces_a and traces_b")
    sets = {"a": None if traces_a is None else list(traces_a), "b": None if traces_b is None else list(traces_b)}
    for name, tr in sets.items():
        if tr is not None and not tr:
            raise InvalidArgumentError(f"traces_{name} is empty")
    # Weights in the order a, then b, from one stream; a paired bootstrap draws one set for both.
    shared = bootstrap_weights(len(sets["a"]), n_boot, rng, what="traces_a") if paired else None
    ok = np.ones(n_boot, dtype=bool)
    stacks = []
    for g, name in ((a, "a"), (b, "b")):
        tr = sets[name]
        if tr is None:
            stacks.append(np.broadcast_to(g.P, (n_boot, *g.P.shape)))
        else:
            W = shared if paired else bootstrap_weights(len(tr), n_boot, rng, what=f"traces_{name}")
            P, good = resample_graph(g, tr, W, name)
            stacks.append(P)
            ok &= good
    if ok.sum() < 10:
        raise InvalidArgumentError(f"only {int(ok.sum())} of {n_boot} bootstrap replicates are defined")
    reps = comparison_stats(stacks[0][ok], stacks[1][ok])
    q = [(1 - level) / 2, (1 + level) / 2]
    intervals = {
        name: _readonly(np.nanquantile(reps[name], q, axis=0).T.copy() if name == "js" else np.nanquantile(reps[name], q))
        for name in ("pearson", "pearson_offdiag", "js_mean", "js")
    }
    return GraphComparison(**common, intervals=intervals, level=float(level), n_boot=int(n_boot),
                           n_boot_dropped=int((~ok).sum()))
