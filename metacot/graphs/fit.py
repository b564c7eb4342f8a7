r"""Estimators of behaviour transition graphs from labelled reasoning traces.

Chen et al. (2026), *The Molecular Structure of Thought* (arXiv:2601.06002), summarise a corpus of
long chains of thought by a first-order transition matrix between the behaviours of consecutive
steps, :math:`P_C(b' \mid b)`, and by the marginal behaviour frequencies :math:`\pi_C(b)`
(their Figure 5 shows :math:`P` for three teachers). This module estimates that matrix:

* :func:`tally_transitions` / :func:`transition_counts` -- the count matrix
  :math:`N_{ij} = \#\{t : b_t = i,\ b_{t+1} = j\}`, pooled over traces;
* :func:`fit_mle` -- the maximum-likelihood estimate :math:`\hat P_{ij} = N_{ij} / N_{i\cdot}`;
* :func:`fit_dirichlet` -- the conjugate posterior: with an independent
  :math:`\mathrm{Dir}(\alpha^0_{i\cdot})` prior on every row, row :math:`i` of :math:`P` is a
  posteriori :math:`\mathrm{Dir}(N_{i\cdot} + \alpha^0_{i\cdot})`, in closed form;
* :func:`fit_graph` -- traces in, an immutable :class:`metacot.graphs.graph.BehaviourGraph` out.

Following deeptime's split between estimators and models, the ``fit_*`` functions return
immutable objects and never mutate their inputs.

Examples
--------
>>> from metacot.traces.core import Step, Trace
>>> def trace(labels):
...     text = "".join(f"{b[0]}." for b in labels)
...     steps = tuple(Step(text[2 * i:2 * i + 2], 2 * i, 2 * i + 2, behaviour=b)
...                   for i, b in enumerate(labels))
...     return Trace("t", "q", steps, text)
>>> g = fit_graph([trace(["normal", "deep", "normal", "reflect", "normal"])], method="dirichlet")
>>> g.P.round(3)[0].tolist()
[0.167, 0.333, 0.333, 0.167]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from metacot._checks import readonly as _readonly
from metacot.behaviours import BEHAVIOURS, Behaviour
from metacot.errors import InvalidArgumentError
from metacot.traces.core import Trace

if TYPE_CHECKING:
    from metacot.graphs.graph import BehaviourGraph

__all__ = [
    "DirichletPosterior",
    "TransitionTally",
    "fit_dirichlet",
    "fit_graph",
    "fit_mle",
    "per_trace_counts",
    "tally_transitions",
    "transition_counts",
]




def _as_states(states: Sequence[Behaviour | str]) -> tuple[Behaviour, ...]:
    try:
        out = tuple(Behaviour(s) for s in states)
    except ValueError:
        raise InvalidArgumentError(
            f"states must be behaviours {[b.value for b in Behaviour]}, got {list(states)!r}"
        ) from None
    if not out:
        raise InvalidArgumentError("states is empty")
    if len(set(out)) != len(out):
        raise InvalidArgumentError(f"states must be distinct, got {[s.value for s in out]}")
    return out


def _as_seed(seed: Any) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise InvalidArgumentError(f"seed must be an int or a numpy.random.Generator, got {seed!r}")
    return np.random.default_rng(int(seed))


# --------------------------------------------------------------------------------- counting
@dataclass(frozen=True)
class TransitionTally:
    r"""Transition counts of a trace collection, with a record of what was skipped.

    Attributes
    ----------
    counts : ndarray of int64, shape (k, k)
        :math:`N_{ij}`: number of consecutive labelled step pairs going from ``states[i]`` to
        ``states[j]``, pooled over all traces (self-transitions included, as in Figure 5 of
        Chen et al., 2026).
    step_counts : ndarray of int64, shape (k,)
        Number of labelled steps of each behaviour (the numerator of the marginal
        :math:`\pi_C(b)`).
    end_counts : ndarray of int64, shape (k,)
        Number of traces whose last step carries each behaviour (unlabelled last steps are not
        counted); a basis for estimating the answer rate of :meth:`BehaviourGraph.to_chain`.
    states : tuple of Behaviour
        Row and column order.
    n_traces, n_steps : int
        Traces and steps read.
    n_unlabelled : int
        Steps whose behaviour is ``None``.
    n_pairs_skipped : int
        Consecutive step pairs not counted because at least one of the two steps is unlabelled.
    """

    counts: np.ndarray
    step_counts: np.ndarray
    end_counts: np.ndarray
    states: tuple[Behaviour, ...]
    n_traces: int
    n_steps: int
    n_unlabelled: int
    n_pairs_skipped: int

    @property
    def marginal(self) -> np.ndarray:
        r"""Behaviour frequencies :math:`\hat\pi(b) = n_b / \sum_{b'} n_{b'}` over labelled steps."""
        total = self.step_counts.sum()
        if total == 0:
            raise InvalidArgumentError("no labelled steps: the marginal is undefined")
        return self.step_counts / total


def tally_transitions(
    traces: Iterable[Trace], states: Sequence[Behaviour | str] = BEHAVIOURS
) -> TransitionTally:
    r"""Count behaviour transitions between consecutive steps, and what could not be counted.

    A pair of consecutive steps :math:`(t, t+1)` of one trace adds one to :math:`N_{b_t b_{t+1}}`.
    Pairs never span two traces.

    **Unlabelled steps break the sequence.** A step with ``behaviour=None`` contributes no
    transition in or out, and its neighbours are *not* joined across it: in ``D, None, R`` neither
    ``D->R`` nor anything else is counted. Joining across the gap would invent a transition
    nobody observed (the missing step may well have been a third behaviour); dropping both pairs
    only loses data, which :attr:`TransitionTally.n_pairs_skipped` reports.

    Parameters
    ----------
    traces : iterable of Trace
    states : sequence of Behaviour or str, default :data:`metacot.behaviours.BEHAVIOURS`
        Row/column order. A labelled step whose behaviour is not listed is an error (it is not
        silently dropped).

    Returns
    -------
    TransitionTally

    Raises
    ------
    InvalidArgumentError
        If an item is not a :class:`~metacot.traces.core.Trace`, or a step carries a behaviour outside
        ``states`` (the message names the trace and step).

    Examples
    --------
    >>> from metacot.traces.core import Step, Trace
    >>> steps = (Step("a", 0, 1, "deep"), Step("b", 1, 2), Step("c", 2, 3, "reflect"),
    ...          Step("d", 3, 4, "reflect"))
    >>> t = tally_transitions([Trace("t", "q", steps, "abcd")])
    >>> int(t.counts.sum()), t.n_unlabelled, t.n_pairs_skipped
    (1, 1, 2)
    """
    states = _as_states(states)
    index = {s: i for i, s in enumerate(states)}
    k = len(states)
    counts = np.zeros((k, k), dtype=np.int64)
    step_counts = np.zeros(k, dtype=np.int64)
    end_counts = np.zeros(k, dtype=np.int64)
    n_traces = n_steps = n_unlabelled = n_skipped = 0
    for n, tr in enumerate(traces):
        if not isinstance(tr, Trace):
            raise InvalidArgumentError(f"item {n} is a {type(tr).__name__}, not a metacot Trace")
        n_traces += 1
        prev: int | None = None
        for t, b in enumerate(tr.behaviours()):
            n_steps += 1
            if b is None:
                n_unlabelled += 1
                cur = None
            else:
                if b not in index:
                    raise InvalidArgumentError(
                        f"trace {tr.trace_id!r}, step {t}: behaviour {b.value!r} is not one of the "
                        f"states {[s.value for s in states]}"
                    )
                cur = index[b]
                step_counts[cur] += 1
            if t > 0:
                if prev is None or cur is None:
                    n_skipped += 1
                else:
                    counts[prev, cur] += 1
            prev = cur
        if len(tr.steps) and prev is not None:
            end_counts[prev] += 1
    return TransitionTally(
        counts=_readonly(counts),
        step_counts=_readonly(step_counts),
        end_counts=_readonly(end_counts),
        states=states,
        n_traces=n_traces,
        n_steps=n_steps,
        n_unlabelled=n_unlabelled,
        n_pairs_skipped=n_skipped,
    )


def transition_counts(traces: Iterable[Trace], states: Sequence[Behaviour | str] = BEHAVIOURS) -> np.ndarray:
    r"""The pooled transition count matrix :math:`N_{ij}` of consecutive labelled steps.

    Shorthand for ``tally_transitions(traces, states).counts``; see :func:`tally_transitions` for
    the treatment of unlabelled steps (they break the sequence) and for the skipped-pair counts.

    Returns
    -------
    ndarray of int64, shape (k, k)
        Read-only; ``k = len(states)`` (4 by default).

    Examples
    --------
    >>> from metacot.traces.core import Step, Trace
    >>> t = Trace("t", "q", (Step("a", 0, 1, "normal"), Step("b", 1, 2, "deep")), "ab")
    >>> transition_counts([t])[0].tolist()
    [0, 1, 0, 0]
    """
    return tally_transitions(traces, states).counts


def per_trace_counts(traces: Iterable[Trace], states: Sequence[Behaviour | str] = BEHAVIOURS) -> np.ndarray:
    r"""One transition count matrix per trace, stacked: :math:`C_{t,ij}`, with :math:`\sum_t C_t = N`.

    The unit a bootstrap resamples is the trace (steps within a trace are dependent), so
    resampling traces means re-summing these matrices with multinomial weights.

    Parameters
    ----------
    traces : iterable of Trace
    states : sequence of Behaviour or str

    Returns
    -------
    ndarray of int64, shape (n_traces, k, k)
        Counted exactly as :func:`tally_transitions` counts (unlabelled steps break the sequence).

    Examples
    --------
    >>> from metacot.traces.core import Step, Trace
    >>> t = Trace("t", "q", (Step("a", 0, 1, "normal"), Step("b", 1, 2, "deep")), "ab")
    >>> per_trace_counts([t, t]).shape, int(per_trace_counts([t, t])[:, 0, 1].sum())
    ((2, 4, 4), 2)
    """
    states = _as_states(states)
    mats = [tally_transitions([tr], states).counts for tr in traces]
    k = len(states)
    return np.stack(mats) if mats else np.zeros((0, k, k), dtype=np.int64)


def _as_counts(counts: Any) -> np.ndarray:
    N = np.asarray(counts, dtype=np.float64)
    if N.ndim != 2 or N.shape[0] != N.shape[1] or N.shape[0] == 0:
        raise InvalidArgumentError(f"counts must be a square (k, k) matrix, got shape {N.shape}")
    bad = ~np.isfinite(N) | (N < 0)
    if bad.any():
        i, j = map(int, np.argwhere(bad)[0])
        raise InvalidArgumentError(
            f"counts[{i}, {j}] = {float(N[i, j])!r} is not a finite non-negative number"
        )
    return N


# --------------------------------------------------------------------------------- MLE
def fit_mle(counts: Any, states: Sequence[Behaviour | str] = BEHAVIOURS) -> np.ndarray:
    r"""Maximum-likelihood transition matrix: the row-normalised counts.

    The log-likelihood of first-order transitions is :math:`\sum_{ij} N_{ij} \log P_{ij}`;
    maximising each row under :math:`\sum_j P_{ij} = 1` gives

    .. math:: \hat P_{ij} = \frac{N_{ij}}{N_{i\cdot}}, \qquad N_{i\cdot} = \sum_j N_{ij}.

    Parameters
    ----------
    counts : array_like, shape (k, k)
        Non-negative transition counts (need not be integers, e.g. weighted counts).
    states : sequence of Behaviour or str
        Names of the rows, used only in error messages.

    Returns
    -------
    ndarray of float, shape (k, k)

    Raises
    ------
    InvalidArgumentError
        If a row has no counts: the MLE is undefined there. The message names the behaviour. No
        row is filled in silently; use :func:`fit_dirichlet` (a prior supplies the missing row)
        or collect traces that visit that behaviour.

    Examples
    --------
    >>> fit_mle([[1, 3, 0, 0], [2, 2, 0, 0], [0, 0, 1, 0], [1, 1, 1, 1]])[0].tolist()
    [0.25, 0.75, 0.0, 0.0]
    """
    N = _as_counts(counts)
    states = _as_states(states)
    if len(states) != N.shape[0]:
        raise InvalidArgumentError(f"counts is {N.shape[0]}x{N.shape[0]} but {len(states)} states were given")
    rows = N.sum(axis=1)
    empty = np.flatnonzero(rows == 0)
    if empty.size:
        names = [states[int(i)].value for i in empty]
        raise InvalidArgumentError(
            f"no transitions out of behaviour(s) {names} (row(s) {empty.tolist()} of the counts are "
            "zero), so the maximum-likelihood estimate is undefined there; use method='dirichlet' "
            "or more traces"
        )
    return N / rows[:, None]


# --------------------------------------------------------------------------------- Dirichlet
@dataclass(frozen=True)
class DirichletPosterior:
    r"""Independent Dirichlet posteriors on the rows of a transition matrix.

    Row :math:`i` is :math:`P_{i\cdot} \sim \mathrm{Dir}(\alpha_{i\cdot})` with
    :math:`\alpha = N + \alpha^0` (counts plus prior). Its entries have Beta marginals,

    .. math:: P_{ij} \sim \mathrm{Beta}\bigl(\alpha_{ij},\ \alpha_{i0} - \alpha_{ij}\bigr),
              \qquad \alpha_{i0} = \textstyle\sum_j \alpha_{ij},

    so means, variances and credible intervals of single entries are exact.

    Attributes
    ----------
    alpha : ndarray of float, shape (k, k)
        Posterior concentration (read-only); every entry is positive.
    states : tuple of Behaviour
        Row and column order.

    Examples
    --------
    >>> post = fit_dirichlet([[3, 1], [0, 2]], prior=1.0, states=["normal", "deep"])
    >>> post.mean.tolist()
    [[0.6666666666666666, 0.3333333333333333], [0.25, 0.75]]
    """

    alpha: np.ndarray
    states: tuple[Behaviour, ...]

    def __post_init__(self) -> None:
        a = np.array(self.alpha, dtype=np.float64)
        if a.ndim != 2 or a.shape[0] != a.shape[1]:
            raise InvalidArgumentError(f"alpha must be a square matrix, got shape {a.shape}")
        bad = ~np.isfinite(a) | (a <= 0)
        if bad.any():
            i, j = map(int, np.argwhere(bad)[0])
            raise InvalidArgumentError(
                f"Dirichlet concentration alpha[{i}, {j}] = {float(a[i, j])!r} must be finite and > 0"
            )
        states = _as_states(self.states)
        if len(states) != a.shape[0]:
            raise InvalidArgumentError(
                f"alpha is {a.shape[0]}x{a.shape[0]} but {len(states)} states were given"
            )
        object.__setattr__(self, "alpha", _readonly(a))
        object.__setattr__(self, "states", states)

    @property
    def mean(self) -> np.ndarray:
        r"""Posterior mean :math:`\mathbb{E}[P_{ij}] = \alpha_{ij} / \alpha_{i0}`."""
        return self.alpha / self.alpha.sum(axis=1, keepdims=True)

    @property
    def variance(self) -> np.ndarray:
        r"""Posterior variance :math:`m_{ij}(1-m_{ij}) / (\alpha_{i0} + 1)`, with :math:`m` the mean."""
        m = self.mean
        return m * (1.0 - m) / (self.alpha.sum(axis=1, keepdims=True) + 1.0)

    def credible_interval(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        r"""Equal-tailed credible interval of every entry, from its exact Beta marginal.

        .. math:: \bigl[F^{-1}_{ij}\bigl(\tfrac{1-\ell}{2}\bigr),\ F^{-1}_{ij}\bigl(\tfrac{1+\ell}{2}\bigr)\bigr],

        with :math:`F_{ij}` the CDF of :math:`\mathrm{Beta}(\alpha_{ij}, \alpha_{i0}-\alpha_{ij})`.
        Intervals are per entry (marginal), not a joint region for a row.

        Parameters
        ----------
        level : float in (0, 1)

        Returns
        -------
        lower, upper : ndarray, shape (k, k)

        Examples
        --------
        >>> post = fit_dirichlet([[5, 5], [1, 9]], states=["normal", "deep"])
        >>> lo, hi = post.credible_interval(0.9)
        >>> bool(lo[0, 0] < 0.5 < hi[0, 0])
        True
        """
        from scipy.stats import beta

        if not 0.0 < float(level) < 1.0:
            raise InvalidArgumentError(f"level must lie in (0, 1), got {level!r}")
        a = self.alpha
        b = a.sum(axis=1, keepdims=True) - a
        tail = (1.0 - float(level)) / 2.0
        if a.shape[0] == 1:
            # One state: the row is the point mass 1 and Beta(a, 0) is degenerate.
            return np.ones_like(a), np.ones_like(a)
        return beta.ppf(tail, a, b), beta.isf(tail, a, b)

    def sample(self, n: int, seed: Any) -> np.ndarray:
        r"""Draw ``n`` transition matrices from the posterior.

        Each row is drawn independently from :math:`\mathrm{Dir}(\alpha_{i\cdot})` with
        :meth:`numpy.random.Generator.dirichlet`, row by row in state order, so a seed fixes the
        whole draw.

        Parameters
        ----------
        n : int
            Number of matrices.
        seed : int or numpy.random.Generator

        Returns
        -------
        ndarray, shape (n, k, k)
            Every ``out[s]`` is row-stochastic.

        Examples
        --------
        >>> post = fit_dirichlet([[3, 1], [0, 2]], states=["normal", "deep"])
        >>> post.sample(5, seed=0).shape
        (5, 2, 2)
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise InvalidArgumentError(f"n must be a non-negative int, got {n!r}")
        rng = _as_seed(seed)
        k = self.alpha.shape[0]
        out = np.empty((int(n), k, k))
        for i in range(k):
            out[:, i, :] = rng.dirichlet(self.alpha[i], size=int(n))
        return out


def fit_dirichlet(
    counts: Any, prior: float | Any = 1.0, states: Sequence[Behaviour | str] = BEHAVIOURS
) -> DirichletPosterior:
    r"""Closed-form Dirichlet posterior of a transition matrix.

    With the prior :math:`P_{i\cdot} \sim \mathrm{Dir}(\alpha^0_{i\cdot})` independently per row,
    the multinomial likelihood of the counts is conjugate and the posterior is

    .. math:: P_{i\cdot} \mid N \sim \mathrm{Dir}(N_{i\cdot} + \alpha^0_{i\cdot}),
              \qquad \mathbb{E}[P_{ij} \mid N] = \frac{N_{ij} + \alpha^0_{ij}}{N_{i\cdot} + \sum_j \alpha^0_{ij}}.

    A scalar prior :math:`c` means :math:`\alpha^0_{ij} = c` (``1.0`` is the uniform prior on each
    row, i.e. Laplace smoothing; ``0.5`` is Jeffreys'), so the mean is
    :math:`(N_{ij} + c) / (N_{i\cdot} + k c)`.

    Parameters
    ----------
    counts : array_like, shape (k, k)
    prior : float or array_like, shape (k, k)
        Non-negative prior concentration; every entry of ``counts + prior`` must be positive.
    states : sequence of Behaviour or str

    Returns
    -------
    DirichletPosterior

    Raises
    ------
    InvalidArgumentError
        For a negative or non-finite prior, a prior of the wrong shape, or a zero posterior
        concentration (a zero prior on an entry with no counts).

    Examples
    --------
    >>> fit_dirichlet([[2, 0], [1, 1]], prior=1.0, states=["normal", "deep"]).mean[0].tolist()
    [0.75, 0.25]
    """
    N = _as_counts(counts)
    states = _as_states(states)
    if len(states) != N.shape[0]:
        raise InvalidArgumentError(f"counts is {N.shape[0]}x{N.shape[0]} but {len(states)} states were given")
    a0 = np.asarray(prior, dtype=np.float64)
    if a0.ndim == 0:
        a0 = np.full_like(N, float(a0))
    if a0.shape != N.shape:
        raise InvalidArgumentError(f"prior must be a scalar or have shape {N.shape}, got {a0.shape}")
    bad = ~np.isfinite(a0) | (a0 < 0)
    if bad.any():
        i, j = map(int, np.argwhere(bad)[0])
        raise InvalidArgumentError(f"prior[{i}, {j}] = {float(a0[i, j])!r} must be finite and >= 0")
    alpha = N + a0
    zero = alpha <= 0
    if zero.any():
        i, j = map(int, np.argwhere(zero)[0])
        raise InvalidArgumentError(
            f"posterior concentration for {states[i].value}->{states[j].value} is 0 (no counts and a "
            "zero prior); give that entry a positive prior"
        )
    return DirichletPosterior(alpha=alpha, states=states)


# --------------------------------------------------------------------------------- traces -> graph
def _labeller_name(labeller: Any) -> str:
    name = getattr(labeller, "name", None)
    if isinstance(name, str) and name:
        return name
    return getattr(labeller, "__qualname__", type(labeller).__qualname__)


def _apply_labeller(labeller: Any, traces: Iterable[Trace]) -> list[Trace]:
    # The labeller API lives in metacot.graphs.labellers; accept both a plain callable and an object with a
    # ``label`` method so fitting does not depend on which shape that module settles on.
    fn: Callable[[Trace], Trace]
    if callable(labeller):
        fn = labeller
    elif callable(getattr(labeller, "label", None)):
        fn = labeller.label
    else:
        raise InvalidArgumentError(
            f"labeller must be a callable Trace -> Trace or have a .label(trace) method, got {labeller!r}"
        )
    out = []
    for n, tr in enumerate(traces):
        lab = fn(tr)
        if not isinstance(lab, Trace):
            raise InvalidArgumentError(
                f"labeller returned a {type(lab).__name__} for trace {n}, expected a labelled Trace"
            )
        out.append(lab)
    return out


def fit_graph(
    traces: Iterable[Trace],
    method: Literal["mle", "dirichlet", "pymc", "hierarchical"] = "dirichlet",
    prior: float | Any = 1.0,
    labeller: Any = None,
    *,
    states: Sequence[Behaviour | str] = BEHAVIOURS,
    sources: Sequence[str] | None = None,
) -> BehaviourGraph:
    r"""Fit a behaviour transition graph to labelled traces.

    Counts consecutive labelled steps (:func:`tally_transitions`; unlabelled steps break the
    sequence) and estimates :math:`P` by

    * ``method="mle"``: :math:`\hat P_{ij} = N_{ij}/N_{i\cdot}` (:func:`fit_mle`; an error if a
      behaviour never has a successor);
    * ``method="dirichlet"``: the posterior mean
      :math:`(N_{ij} + \alpha^0_{ij}) / (N_{i\cdot} + \sum_j \alpha^0_{ij})`
      (:func:`fit_dirichlet`); the graph keeps the posterior concentration in
      :attr:`BehaviourGraph.posterior`;
    * ``method="pymc"``: the same model sampled by PyMC (:func:`metacot.graphs.hierarchical.fit_pymc`),
      a check on the closed form and the base of richer models;
    * ``method="hierarchical"``: rows partially pooled across the traces' source models
      (:func:`metacot.graphs.hierarchical.fit_hierarchical`); one graph comes back, the population graph.
      Call :func:`~metacot.graphs.hierarchical.fit_hierarchical` itself for the per-source graphs, the
      pooling strengths and the convergence diagnostics.

    The marginal :math:`\hat\pi(b)` is the frequency of each behaviour among labelled steps
    (Chen et al., 2026 compare teachers by the pair :math:`(P, \pi)`).

    Parameters
    ----------
    traces : iterable of Trace
    method : {"mle", "dirichlet", "pymc", "hierarchical"}
    prior : float or array_like, shape (k, k)
        Dirichlet prior concentration of ``"dirichlet"`` and ``"pymc"``; ignored by ``"mle"`` and
        ``"hierarchical"`` (which has its own hyperpriors).
    labeller : callable or object with ``.label``, optional
        Applied to every trace first (``Trace -> Trace``); its ``name`` attribute (or its
        qualified name) goes into the provenance. Without it the steps' existing behaviours are used.
    states : sequence of Behaviour or str
        State order; the four behaviours by default.
    sources : sequence of str, optional
        Provenance sources; by default the distinct ``source_model`` values of the traces.

    Returns
    -------
    BehaviourGraph

    Raises
    ------
    InvalidArgumentError
        For an unknown method, no labelled transitions at all, or an empty MLE row.

    Examples
    --------
    >>> from metacot.traces.core import Step, Trace
    >>> t = Trace("t", "q", (Step("a", 0, 1, "normal"), Step("b", 1, 2, "normal")), "ab", source_model="m")
    >>> g = fit_graph([t], method="dirichlet", prior=1.0)
    >>> g.P[0].tolist(), g.provenance.sources
    ([0.4, 0.2, 0.2, 0.2], ('m',))
    """
    from metacot.graphs.graph import BehaviourGraph, Provenance

    if method not in ("mle", "dirichlet", "pymc", "hierarchical"):
        raise InvalidArgumentError(
            f"method must be 'mle', 'dirichlet', 'pymc' or 'hierarchical', got {method!r}"
        )
    traces = list(traces)
    if labeller is not None:
        traces = _apply_labeller(labeller, traces)
    if method in ("pymc", "hierarchical"):
        from dataclasses import replace

        from metacot.graphs import hierarchical

        # The traces are labelled already (above); the labeller's name still goes into the provenance.
        if method == "pymc":
            g = hierarchical.fit_pymc(traces, prior, states=states).graph
        else:
            g = hierarchical.fit_hierarchical(hierarchical.by_source(traces), states=states).population
        prov = g.provenance
        if labeller is not None:
            prov = replace(prov, labeller=_labeller_name(labeller))
        if sources is not None:
            prov = replace(prov, sources=tuple(sources))
        return replace(g, provenance=prov)
    tally = tally_transitions(traces, states)
    if tally.counts.sum() == 0:
        raise InvalidArgumentError(
            f"no labelled transitions in {tally.n_traces} trace(s) ({tally.n_steps} steps, "
            f"{tally.n_unlabelled} unlabelled): label the traces first or pass labeller="
        )
    posterior = None
    if method == "mle":
        P = fit_mle(tally.counts, tally.states)
    else:
        post = fit_dirichlet(tally.counts, prior, tally.states)
        P, posterior = post.mean, post.alpha
    if sources is None:
        sources = sorted({t.source_model for t in traces if t.source_model})
    prov = Provenance.now(
        method=method,
        sources=tuple(sources),
        labeller=None if labeller is None else _labeller_name(labeller),
        extra={
            "n_traces": tally.n_traces,
            "n_steps": tally.n_steps,
            "n_unlabelled": tally.n_unlabelled,
            "n_pairs_skipped": tally.n_pairs_skipped,
            **({"prior": float(np.asarray(prior))} if method == "dirichlet" and np.ndim(prior) == 0 else {}),
        },
    )
    return BehaviourGraph(
        P=P,
        states=tally.states,
        counts=tally.counts,
        marginal=tally.marginal,
        posterior=posterior,
        provenance=prov,
    )
