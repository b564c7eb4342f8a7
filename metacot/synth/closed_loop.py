r"""The closed structure check of MoLE-Syn: do synthesised traces carry the graph that drove them?

:func:`~metacot.synth.molesyn.molesyn` walks a driving graph :math:`P^{\text{drive}}` and records,
for every step, the behaviour :math:`b_t` it asked the model to write. Nothing in the text has to
follow. The closed loop reads the written steps back:

1. label every step text with an independent labeller (by default the trained step labeller,
   :class:`~metacot.graphs.trained.TrainedLabeller`), giving :math:`\hat b_t`;
2. refit the graph from the labels (Dirichlet(``prior``) posterior mean,
   :func:`~metacot.graphs.fit.fit_graph`), :math:`P^{\text{refit}}`;
3. compare :math:`P^{\text{refit}}` with the driving graph (Pearson :math:`r`, per-row
   Jensen-Shannon divergence, intervals from the package's one trace bootstrap,
   :func:`~metacot.graphs.comparison.compare`, with the driver held fixed); with the graph of the
   intended labels, :math:`P^{\text{walk}}` (a *paired* bootstrap: both come from the same traces,
   so the difference is labelling error alone); and with the **split-half noise** of a real
   teacher: the teacher's shipped annotated ReasoningFlow traces cut at random into two halves,
   each labelled by the ReasoningFlow mapping and fitted the same way. A refit as close to its
   driver as two halves of one teacher are to each other is as good as structure transfer can be
   measured with these data;
4. step agreement between :math:`b_t` and :math:`\hat b_t`: Cohen's :math:`\kappa` (with a
   bootstrap interval drawn with the same trace weights, :func:`~metacot.graphs.comparison.bootstrap_weights`),
   the :math:`4 \times 4` confusion table and each behaviour's recall (the share of steps written
   for it that the labeller gives it).

The intended labels come from the molesyn file alone. Steps with empty text (a model that
replied with whitespace) cannot be labelled: they stay unlabelled, which breaks the transition
sequence in the refit, and are counted in :attr:`ClosedLoopReport.n_unlabelled`.

**States.** The labeller speaks the four behaviours, so the driving graph must have exactly those
states. One that lists them in another order is reordered (the documented mapping); one with
fewer, or other, states is refused with :class:`~metacot.errors.InvalidArgumentError`.

Examples
--------
>>> from metacot.traces.edits import make_trace
>>> t = make_trace(["a", "b", "c"], ["normal", "deep", "normal"], trace_id="x")
>>> u = make_trace(["a", "b", "c"], ["normal", "normal", "normal"], trace_id="x")
>>> float(kappa_from_table(per_trace_confusion([t], [u]).sum(axis=0)))
0.0
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from metacot._checks import as_rng, positive_int
from metacot.behaviours import BEHAVIOURS
from metacot.errors import InvalidArgumentError
from metacot.graphs.behaviour_graph import BehaviourGraph
from metacot.graphs.comparison import GraphComparison, bootstrap_weights, compare
from metacot.graphs.fit import fit_graph
from metacot.graphs.labelling import label_traces, labeller_name
from metacot.traces.edits import make_trace
from metacot.traces.model import Trace

__all__ = [
    "ClosedLoopReport",
    "closed_loop",
    "driving_graph",
    "four_states",
    "kappa_from_table",
    "label_steps",
    "per_trace_confusion",
    "teacher_split_half",
]

#: The teacher whose split-half noise is the yardstick by default (the paper's Figure 5 graph
#: ``deepseek-r1-0528`` is of the same family).
DEFAULT_TEACHER = "DeepSeek-R1"


# --------------------------------------------------------------------------------------------
# the driving graph
# --------------------------------------------------------------------------------------------


def four_states(graph: BehaviourGraph, where: str = "the driving graph") -> BehaviourGraph:
    """``graph`` on the four behaviours in :data:`~metacot.behaviours.BEHAVIOURS` order.

    A graph over the four behaviours in another order is permuted (rows and columns, counts,
    marginal and posterior alike); any other state set is refused.

    Raises
    ------
    InvalidArgumentError
        When the states are not exactly the four behaviours.

    Examples
    --------
    >>> from metacot.graphs.graph import reference
    >>> g = reference("qwq-32b")
    >>> four_states(g) is g
    True
    """
    if graph.states == BEHAVIOURS:
        return graph
    if set(graph.states) != set(BEHAVIOURS) or len(graph.states) != len(BEHAVIOURS):
        raise InvalidArgumentError(
            f"{where} has states {[s.value for s in graph.states]}; the closed loop needs exactly the four "
            f"behaviours {[b.value for b in BEHAVIOURS]} (the labeller can give any of them)"
        )
    idx = [graph.states.index(b) for b in BEHAVIOURS]

    def perm(a: np.ndarray | None) -> np.ndarray | None:
        if a is None:
            return None
        return a[idx] if a.ndim == 1 else a[np.ix_(idx, idx)]

    return replace(graph, P=perm(graph.P), states=BEHAVIOURS, counts=perm(graph.counts),
                   marginal=perm(graph.marginal), posterior=perm(graph.posterior))


def driving_graph(traces: Sequence[Trace]) -> BehaviourGraph:
    """The graph that drove a molesyn run, read back from its traces' ``metadata["graph"]``.

    Raises
    ------
    InvalidArgumentError
        No traces, a trace without a recorded graph (not molesyn output), or traces driven by
        different graphs.
    """
    if not traces:
        raise InvalidArgumentError("no traces: the run is empty")
    first = None
    for t in traces:
        g = t.metadata.get("graph")
        if not isinstance(g, dict) or "P" not in g or "states" not in g:
            raise InvalidArgumentError(
                f"trace {t.trace_id!r} records no driving graph (metadata['graph']); is this molesyn output?"
            )
        if first is None:
            first = (t.trace_id, g)
        elif g["P"] != first[1]["P"] or g["states"] != first[1]["states"]:
            raise InvalidArgumentError(
                f"traces {first[0]!r} and {t.trace_id!r} were driven by different graphs; run the loop per graph"
            )
    assert first is not None
    return BehaviourGraph(P=first[1]["P"], states=first[1]["states"])


# --------------------------------------------------------------------------------------------
# labelling and agreement
# --------------------------------------------------------------------------------------------


def label_steps(traces: Sequence[Trace], labeller: Any) -> tuple[list[Trace], int]:
    """A labelled copy of every trace, and the number of steps left unlabelled (empty text).

    The labeller sees each trace without its empty steps (a labeller such as
    :class:`~metacot.graphs.trained.TrainedLabeller` refuses empty text); the labels are put
    back on the original steps, the empty ones left with ``behaviour=None``. ``label_many`` is
    used when the labeller has it (one embedding batch stream).
    """
    bare, keep = [], []
    for t in traces:
        idx = [i for i, s in enumerate(t.steps) if s.text.strip()]
        keep.append(idx)
        bare.append(make_trace([t.steps[i].text for i in idx], trace_id=t.trace_id, problem=t.problem))
    many = getattr(labeller, "label_many", None)
    labelled = many(bare) if callable(many) else label_traces(bare, labeller)
    name = labeller_name(labeller)
    out, n_empty = [], 0
    for t, idx, lab in zip(traces, keep, labelled, strict=True):
        beh: list[Any] = [None] * len(t.steps)
        for i, s in zip(idx, lab.steps, strict=True):
            beh[i] = s.behaviour
        n_empty += len(t.steps) - len(idx)
        steps = tuple(replace(s, behaviour=b) for s, b in zip(t.steps, beh, strict=True))
        extra = {k: lab.metadata[k] for k in ("behaviour_proba", "behaviour_proba_classes") if k in lab.metadata}
        out.append(replace(t, steps=steps, metadata={**t.metadata, "labeller": name, **extra}))
    return out, n_empty


def per_trace_confusion(intended: Sequence[Trace], labelled: Sequence[Trace]) -> np.ndarray:
    """One ``(4, 4)`` table per trace: rows intended, columns labelled; unlabelled steps skipped.

    Returns
    -------
    ndarray of int, shape (n_traces, 4, 4)
    """
    pos = {b: i for i, b in enumerate(BEHAVIOURS)}
    T = np.zeros((len(intended), len(BEHAVIOURS), len(BEHAVIOURS)), dtype=np.int64)
    for k, (a, b) in enumerate(zip(intended, labelled, strict=True)):
        if a.trace_id != b.trace_id or len(a) != len(b):
            raise InvalidArgumentError(f"trace {k}: {a.trace_id!r} ({len(a)} steps) against {b.trace_id!r} ({len(b)})")
        for sa, sb in zip(a.steps, b.steps, strict=True):
            if sa.behaviour is not None and sb.behaviour is not None:
                T[k, pos[sa.behaviour], pos[sb.behaviour]] += 1
    return T


def kappa_from_table(M: np.ndarray) -> np.ndarray:
    r"""Cohen's :math:`\kappa = (p_o - p_e)/(1 - p_e)` of confusion tables ``(..., k, k)``.

    :math:`p_o` is the diagonal share and :math:`p_e = \sum_k a_k b_k` the chance agreement of
    the row and column marginals; ``nan`` where a table is empty or :math:`p_e = 1`. The same
    formula as :func:`metacot.graphs.agreement.agreement`, vectorised over bootstrap replicates.

    Examples
    --------
    >>> round(float(kappa_from_table(np.array([[2, 0], [1, 1]]))), 4)
    0.5
    """
    M = np.asarray(M, dtype=np.float64)
    n = M.sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        po = np.trace(M, axis1=-2, axis2=-1) / n
        pe = (M.sum(axis=-1) * M.sum(axis=-2)).sum(axis=-1) / n**2
        k = (po - pe) / (1.0 - pe)
    return np.where((n > 0) & (pe < 1.0), k, np.nan)


# --------------------------------------------------------------------------------------------
# the teacher yardstick
# --------------------------------------------------------------------------------------------


def teacher_split_half(teacher: str = DEFAULT_TEACHER, *, traces: Sequence[Trace] | None = None,
                       prior: float = 1.0, n_boot: int = 1000, level: float = 0.95,
                       seed: Any = 0) -> tuple[GraphComparison, int]:
    """Split-half noise of a real teacher's graph: two random halves of its traces, compared.

    The teacher's traces (default: its shipped ReasoningFlow annotated traces, ``data/reasoningflow/annotated``)
    are sorted by id, shuffled with ``seed`` and cut into two halves of :math:`\\lfloor N/2 \\rfloor`
    traces; each half is labelled by the ReasoningFlow mapping
    (:class:`~metacot.graphs.mapping.ReasoningFlowLabeller`) unless its steps carry behaviours
    already, fitted with a Dirichlet(``prior``) prior, and the two graphs are compared with
    :func:`~metacot.graphs.comparison.compare` (independent trace bootstrap on both sides).

    Returns
    -------
    (GraphComparison, int)
        The comparison and the number of traces per half.

    Raises
    ------
    InvalidArgumentError
        Fewer than four traces of that teacher.
    """
    from metacot.graphs.mapping import ReasoningFlowLabeller

    if traces is None:
        from metacot.traces.files import DATA_DIR
        from metacot.traces.reasoningflow import load_reasoningflow

        traces = [t for t in load_reasoningflow(DATA_DIR / "reasoningflow" / "annotated") if t.source_model == teacher]
    pool = sorted(traces, key=lambda t: t.trace_id)
    if len(pool) < 4:
        raise InvalidArgumentError(f"teacher {teacher!r}: {len(pool)} traces; a split-half needs at least 4")
    if any(s.behaviour is None for t in pool for s in t.steps):
        pool = label_traces(pool, ReasoningFlowLabeller())
    rng = as_rng(seed)
    order = rng.permutation(len(pool))
    n = len(pool) // 2
    a, b = [pool[i] for i in order[:n]], [pool[i] for i in order[n:2 * n]]
    ga, gb = fit_graph(a, prior=prior), fit_graph(b, prior=prior)
    return compare(ga, gb, a, b, n_boot=n_boot, level=level, seed=rng), n


# --------------------------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------------------------


def _cmp_dict(c: GraphComparison | None) -> dict[str, Any] | None:
    if c is None:
        return None
    out: dict[str, Any] = {"pearson": c.pearson, "pearson_offdiag": c.pearson_offdiag, "js": c.js.tolist(),
                           "js_mean": c.js_mean, "level": c.level, "n_boot": c.n_boot}
    if c.intervals is not None:
        out["intervals"] = {k: np.asarray(v).tolist() for k, v in c.intervals.items()}
    return out


@dataclass(frozen=True)
class ClosedLoopReport:
    """What the closed loop measured (see the module notes).

    Attributes
    ----------
    n_traces, n_steps : int
        Synthesised traces and steps read.
    n_unlabelled : int
        Steps with empty text, left unlabelled.
    labeller : str
        Name of the labeller.
    driver, refit, walk : BehaviourGraph
        The driving graph, the graph refitted from the labels, the graph of the intended labels.
    vs_driver : GraphComparison
        Refit against the driver (driver fixed; intervals over the synthesised traces).
    vs_walk : GraphComparison
        Refit against the walk's own graph (paired bootstrap over the same traces).
    split_half : GraphComparison or None
        The teacher's split-half comparison (``None`` when no teacher was asked for).
    teacher : str or None
    teacher_half : int
        Traces per teacher half.
    kappa : float
    kappa_interval : (float, float)
    agreement : float
        Share of steps labelled as intended.
    confusion : ndarray, shape (4, 4)
        Step counts, rows intended, columns labelled, in ``BEHAVIOURS`` order.
    level : float
    labelled : tuple of Trace
        The traces as the labeller labelled them (the data of ``refit``; not in :meth:`to_dict`).
    """

    n_traces: int
    n_steps: int
    n_unlabelled: int
    labeller: str
    driver: BehaviourGraph
    refit: BehaviourGraph
    walk: BehaviourGraph
    vs_driver: GraphComparison
    vs_walk: GraphComparison
    split_half: GraphComparison | None
    teacher: str | None
    teacher_half: int
    kappa: float
    kappa_interval: tuple[float, float]
    agreement: float
    confusion: np.ndarray
    level: float
    settings: dict[str, Any] = field(default_factory=dict)
    labelled: tuple[Trace, ...] = field(default=(), repr=False)

    @property
    def recall(self) -> dict[str, float]:
        """Per behaviour, the share of steps written for it that the labeller gives it (``nan`` if none)."""
        rows = self.confusion.sum(axis=1)
        return {b.value: (float(self.confusion[i, i] / rows[i]) if rows[i] else float("nan"))
                for i, b in enumerate(BEHAVIOURS)}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready numbers (graphs as their ``P`` matrices)."""
        return {
            "n_traces": self.n_traces, "n_steps": self.n_steps, "n_unlabelled": self.n_unlabelled,
            "labeller": self.labeller, "states": [b.value for b in BEHAVIOURS],
            "driver_P": self.driver.P.tolist(), "refit_P": self.refit.P.tolist(), "walk_P": self.walk.P.tolist(),
            "vs_driver": _cmp_dict(self.vs_driver), "vs_walk": _cmp_dict(self.vs_walk),
            "split_half": _cmp_dict(self.split_half), "teacher": self.teacher, "teacher_half": self.teacher_half,
            "kappa": self.kappa, "kappa_interval": list(self.kappa_interval), "agreement": self.agreement,
            "confusion": self.confusion.tolist(), "recall": self.recall, "level": self.level,
            "settings": dict(self.settings),
        }

    def markdown(self) -> str:
        """A short Markdown report: the three comparisons, kappa, the confusion table."""
        pct = f"{self.level:.0%}"

        def row(name: str, c: GraphComparison | None) -> str:
            if c is None:
                return f"| {name} | - | - | - |"
            ci = c.intervals or {}

            def iv(key: str) -> str:
                return f" [{ci[key][0]:.3f}, {ci[key][1]:.3f}]" if key in ci else ""

            return (f"| {name} | {c.pearson:.3f}{iv('pearson')} | {c.pearson_offdiag:.3f}{iv('pearson_offdiag')} "
                    f"| {c.js_mean:.4f}{iv('js_mean')} |")

        names = [b.value for b in BEHAVIOURS]
        lines = [
            f"### Closed loop: {self.n_traces} traces, {self.n_steps} steps, labeller `{self.labeller}`",
            "",
            f"Steps left unlabelled (empty text): {self.n_unlabelled}.",
            "",
            f"| comparison | Pearson r ({pct}) | off-diagonal r | mean row JS (bits) |",
            "|---|---|---|---|",
            row("refit vs driving graph", self.vs_driver),
            row("refit vs intended walk (paired)", self.vs_walk),
            row(f"teacher split-half ({self.teacher}, {self.teacher_half}+{self.teacher_half} traces)"
                if self.teacher else "teacher split-half", self.split_half),
            "",
            "Per-row JS, refit vs driver: " + ", ".join(
                f"{b} {self.vs_driver.js[i]:.4f}"
                + (f" [{self.vs_driver.intervals['js'][i][0]:.4f}, {self.vs_driver.intervals['js'][i][1]:.4f}]"
                   if self.vs_driver.intervals is not None else "")
                for i, b in enumerate(names)) + ".",
            "",
            f"Intended vs labelled: agreement {self.agreement:.1%}, Cohen's κ = {self.kappa:.3f} "
            f"[{self.kappa_interval[0]:.3f}, {self.kappa_interval[1]:.3f}].",
            "",
            "| intended \\ labelled | " + " | ".join(names) + " | recall |",
            "|---" * (len(names) + 2) + "|",
        ]
        rec = self.recall
        for i, b in enumerate(names):
            r = f"{rec[b]:.0%}" if np.isfinite(rec[b]) else "-"
            lines.append(f"| {b} | " + " | ".join(str(int(v)) for v in self.confusion[i]) + f" | {r} |")
        return "\n".join(lines) + "\n"


def closed_loop(
    traces: Sequence[Trace] | str | os.PathLike[str],
    graph: BehaviourGraph | None = None,
    labeller: Any = None,
    *,
    teacher: str | None = DEFAULT_TEACHER,
    prior: float = 1.0,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: Any = 0,
) -> ClosedLoopReport:
    """Label synthesised traces, refit their graph and compare it with the driver and a teacher's noise.

    Parameters
    ----------
    traces : sequence of Trace or path
        molesyn output (a path is read with :func:`~metacot.traces.jsonl.read_traces`); each step's
        ``behaviour`` is the intended one.
    graph : BehaviourGraph, optional
        The driving graph; by default the one recorded in the traces. When given, it must equal
        the recorded one (a mismatch would compare against a graph that did not drive the run).
    labeller : Labeller, optional
        Default :class:`~metacot.graphs.trained.TrainedLabeller`.
    teacher : str or None
        Source model of the shipped annotated traces whose split-half noise is reported; ``None`` skips it.
    prior : float
        Dirichlet prior of every fit (refit, walk, teacher halves).
    n_boot, level, seed
        Bootstrap replicates, interval coverage, seed (one stream for all intervals).

    Raises
    ------
    InvalidArgumentError
        An empty run, a step with no intended behaviour, traces driven by different graphs, a
        ``graph`` that differs from the recorded one, a driver not on the four behaviours.
    """
    from metacot.traces.jsonl import read_traces

    if isinstance(traces, (str, os.PathLike)):
        traces = read_traces(traces)
    traces = list(traces)
    if not traces:
        raise InvalidArgumentError("no traces: the run is empty, nothing to check")
    n_boot = positive_int(n_boot, "n_boot", minimum=10)
    for t in traces:
        if not isinstance(t, Trace):
            raise InvalidArgumentError(f"expected Trace objects, got {type(t).__name__}")
        for i, s in enumerate(t.steps):
            if s.behaviour is None:
                raise InvalidArgumentError(f"trace {t.trace_id!r}, step {i}: no intended behaviour (not molesyn output?)")
    recorded = four_states(driving_graph(traces)) if all("graph" in t.metadata for t in traces) else None
    if graph is None:
        if recorded is None:
            raise InvalidArgumentError("the traces record no driving graph; pass graph=")
        driver = recorded
    else:
        if not isinstance(graph, BehaviourGraph):
            raise InvalidArgumentError(f"graph must be a BehaviourGraph, got {type(graph).__name__}")
        driver = four_states(graph)
        if recorded is not None and not np.allclose(driver.P, recorded.P, atol=1e-12):
            raise InvalidArgumentError(
                "the graph given is not the one that drove these traces (metadata['graph']['P'] differs)"
            )
    if labeller is None:
        from metacot.graphs.trained import TrainedLabeller

        labeller = TrainedLabeller()
    labelled, n_empty = label_steps(traces, labeller)
    rng = as_rng(seed)
    refit = fit_graph(labelled, prior=prior)
    walk = fit_graph(traces, prior=prior)
    vs_driver = compare(refit, driver, labelled, None, n_boot=n_boot, level=level, seed=rng)
    vs_walk = compare(refit, walk, labelled, traces, n_boot=n_boot, level=level, seed=rng, paired=True)
    split, half = (None, 0)
    if teacher is not None:
        split, half = teacher_split_half(teacher, prior=prior, n_boot=n_boot, level=level, seed=rng)
    T = per_trace_confusion(traces, labelled)
    M = T.sum(axis=0)
    W = bootstrap_weights(len(traces), n_boot, rng, what="synthesised traces")
    reps = kappa_from_table(np.einsum("bt,tij->bij", W, T))
    q = [(1 - level) / 2, (1 + level) / 2]
    lo, hi = (np.nanquantile(reps, q) if np.isfinite(reps).any() else (np.nan, np.nan))
    n = int(M.sum())
    return ClosedLoopReport(
        n_traces=len(traces), n_steps=sum(len(t) for t in traces), n_unlabelled=n_empty,
        labeller=labeller_name(labeller), driver=driver, refit=refit, walk=walk, vs_driver=vs_driver,
        vs_walk=vs_walk, split_half=split, teacher=teacher, teacher_half=half,
        kappa=float(kappa_from_table(M)), kappa_interval=(float(lo), float(hi)),
        agreement=float(np.trace(M) / n) if n else float("nan"), confusion=M, level=float(level),
        settings={"prior": prior, "n_boot": n_boot, "seed": seed if isinstance(seed, int) else None},
        labelled=tuple(labelled),
    )
