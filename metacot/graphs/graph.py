r"""Behaviour transition graphs: the fitted-graph model object, reference graphs, comparison.

A :class:`BehaviourGraph` is a row-stochastic matrix :math:`P` over the four behaviours of
:mod:`metacot.behaviours` (Chen et al., 2026, *The Molecular Structure of Thought*,
arXiv:2601.06002, §"distribution-transfer graph"), together with what it was estimated from:
transition counts, behaviour frequencies, an optional Dirichlet posterior and provenance. It is
immutable; :func:`metacot.graphs.fit.fit_graph` builds one from traces, :func:`reference` returns the
three graphs published in Figure 5 of the paper, and :func:`compare` measures how alike two
graphs are (the paper uses Pearson's :math:`r` between the flattened matrices).

Examples
--------
>>> g = reference("deepseek-r1-0528")
>>> [s.value for s in g.states]
['normal', 'deep', 'reflect', 'explore']
>>> g.stationary().round(2).tolist()
[0.59, 0.12, 0.07, 0.22]
>>> round(compare(g, reference("gpt-oss-120b")).pearson, 2)
0.98
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from metacot._checks import readonly as _readonly
from metacot.behaviours import BEHAVIOURS, Behaviour
from metacot.errors import GraphFormatError, InvalidArgumentError, InvalidChainError
from metacot.markov.chain import ROW_SUM_TOL, Chain

__all__ = [
    "ANSWER",
    "FORMAT",
    "REFERENCE_PERCENT",
    "SCHEMA_VERSION",
    "BehaviourGraph",
    "GraphComparison",
    "Provenance",
    "compare",
    "comparison_stats",
    "reference",
]

#: ``format`` tag and schema version of saved graphs.
FORMAT = "metacot.behaviour_graph"
SCHEMA_VERSION = 1

#: Label of the absorbing answer state added by :meth:`BehaviourGraph.to_chain`.
ANSWER = "answer"




def _metacot_version() -> str:
    from metacot._version import __version__

    return __version__


# ------------------------------------------------------------------------------- provenance
@dataclass(frozen=True)
class Provenance:
    """Where a graph came from.

    Attributes
    ----------
    method : str
        ``"mle"``, ``"dirichlet"``, ``"reference"``, ...
    sources : tuple of str
        Data sources (teacher models, files, or a citation for reference graphs).
    labeller : str or None
        Name of the labeller that assigned the behaviours, ``None`` if the traces came labelled.
    created : str
        ISO date (``YYYY-MM-DD``) the graph was made.
    metacot_version : str
        Version of metacot that made it.
    notes : str
        Free text (caveats, rounding, ...).
    extra : dict
        JSON-ready details: trace and step counts, skipped pairs, the prior, ...

    Examples
    --------
    >>> Provenance.now(method="mle", sources=("R1",)).method
    'mle'
    """

    method: str
    sources: tuple[str, ...] = ()
    labeller: str | None = None
    created: str = ""
    metacot_version: str = ""
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.method, str):
            raise InvalidArgumentError(f"Provenance.method must be a str, got {self.method!r}")
        if isinstance(self.sources, str):
            raise InvalidArgumentError("Provenance.sources must be a sequence of str, not one str")
        src = tuple(self.sources)
        if not all(isinstance(s, str) for s in src):
            raise InvalidArgumentError(f"Provenance.sources must hold str, got {src!r}")
        object.__setattr__(self, "sources", src)
        for name in ("created", "metacot_version", "notes"):
            if not isinstance(getattr(self, name), str):
                raise InvalidArgumentError(f"Provenance.{name} must be a str")
        if self.labeller is not None and not isinstance(self.labeller, str):
            raise InvalidArgumentError(f"Provenance.labeller must be a str or None, got {self.labeller!r}")
        if not isinstance(self.extra, dict):
            raise InvalidArgumentError("Provenance.extra must be a dict")

    @classmethod
    def now(cls, method: str, **kw: Any) -> Provenance:
        """A provenance stamped with today's UTC date and the running metacot version."""
        kw.setdefault("created", _dt.datetime.now(_dt.UTC).date().isoformat())
        kw.setdefault("metacot_version", _metacot_version())
        return cls(method=method, **kw)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return {
            "method": self.method,
            "sources": list(self.sources),
            "labeller": self.labeller,
            "created": self.created,
            "metacot_version": self.metacot_version,
            "notes": self.notes,
            "extra": self.extra,
        }


# ------------------------------------------------------------------------------- the model
def _check_matrix(
    x: Any, k: int, name: str, *, stochastic: bool = False, positive: bool = False
) -> np.ndarray:
    a = np.array(x, dtype=np.float64)
    if a.shape != (k, k):
        raise InvalidArgumentError(f"{name} must have shape ({k}, {k}), got {a.shape}")
    bad = ~np.isfinite(a) | ((a <= 0) if positive else (a < 0))
    if bad.any():
        i, j = map(int, np.argwhere(bad)[0])
        want = "positive" if positive else "non-negative"
        raise InvalidArgumentError(f"{name}[{i}, {j}] = {float(a[i, j])!r} must be finite and {want}")
    if stochastic:
        off = np.flatnonzero(np.abs(a.sum(axis=1) - 1.0) > ROW_SUM_TOL)
        if off.size:
            i = int(off[0])
            raise InvalidArgumentError(
                f"row {i} of {name} sums to {float(a[i].sum())!r}, not 1 (tolerance {ROW_SUM_TOL:g})"
            )
    return a


def _check_vector(x: Any, k: int, name: str) -> np.ndarray:
    m = np.array(x, dtype=np.float64)
    if m.shape != (k,):
        raise InvalidArgumentError(f"{name} must have shape ({k},), got {m.shape}")
    bad = ~np.isfinite(m) | (m < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidArgumentError(f"{name}[{i}] = {float(m[i])!r} must be finite and non-negative")
    if abs(m.sum() - 1.0) > ROW_SUM_TOL:
        raise InvalidArgumentError(f"{name} sums to {float(m.sum())!r}, not 1")
    return m


@dataclass(frozen=True)
class BehaviourGraph:
    r"""An immutable behaviour transition graph.

    Parameters
    ----------
    P : array_like, shape (k, k)
        Row-stochastic, :math:`P_{ij} = \Pr(b_{t+1} = s_j \mid b_t = s_i)`; rows must sum to 1
        within :data:`metacot.markov.chain.ROW_SUM_TOL` (never renormalised here).
    states : sequence of Behaviour or str
        The state of each row/column, distinct; :data:`~metacot.behaviours.BEHAVIOURS` by default.
    counts : array_like, shape (k, k), optional
        Transition counts the graph was fitted to.
    marginal : array_like, shape (k,), optional
        Behaviour frequencies :math:`\hat\pi(b)` among the labelled steps; sums to 1.
    posterior : array_like, shape (k, k), optional
        Dirichlet concentration :math:`\alpha` of the row posteriors (see
        :class:`metacot.graphs.fit.DirichletPosterior`); all positive.
    provenance : Provenance, optional

    Examples
    --------
    >>> import numpy as np
    >>> g = BehaviourGraph(np.full((4, 4), 0.25))
    >>> g.stationary().tolist()
    [0.25, 0.25, 0.25, 0.25]
    """

    P: np.ndarray
    states: tuple[Behaviour, ...] = BEHAVIOURS
    counts: np.ndarray | None = None
    marginal: np.ndarray | None = None
    posterior: np.ndarray | None = None
    provenance: Provenance = field(default_factory=lambda: Provenance(method="unknown"))

    def __post_init__(self) -> None:
        try:
            states = tuple(Behaviour(s) for s in self.states)
        except ValueError:
            raise InvalidArgumentError(f"states must be behaviours, got {list(self.states)!r}") from None
        if not states or len(set(states)) != len(states):
            raise InvalidArgumentError(f"states must be distinct and non-empty, got {list(self.states)!r}")
        k = len(states)
        object.__setattr__(self, "states", states)
        object.__setattr__(self, "P", _readonly(_check_matrix(self.P, k, "P", stochastic=True)))
        if self.counts is not None:
            object.__setattr__(self, "counts", _readonly(_check_matrix(self.counts, k, "counts")))
        if self.posterior is not None:
            object.__setattr__(
                self, "posterior", _readonly(_check_matrix(self.posterior, k, "posterior", positive=True))
            )
        if self.marginal is not None:
            object.__setattr__(self, "marginal", _readonly(_check_vector(self.marginal, k, "marginal")))
        if not isinstance(self.provenance, Provenance):
            raise InvalidArgumentError(
                f"provenance must be a Provenance, got {type(self.provenance).__name__}"
            )

    # --------------------------------------------------------------------------- basics
    @property
    def n_states(self) -> int:
        """Number of behaviours :math:`k`."""
        return len(self.states)

    def index(self, state: Behaviour | str | int) -> int:
        """Row index of a behaviour (given as a member, its short name, or an index)."""
        if isinstance(state, (int, np.integer)) and not isinstance(state, bool):
            if not 0 <= int(state) < self.n_states:
                raise InvalidArgumentError(f"state index {int(state)} is out of range 0..{self.n_states - 1}")
            return int(state)
        try:
            return self.states.index(Behaviour(state))
        except ValueError:
            raise InvalidArgumentError(
                f"{state!r} is not a state of this graph {[s.value for s in self.states]}"
            ) from None

    def chain(self) -> Chain:
        """The graph as a :class:`~metacot.markov.chain.Chain` on its behaviours (labels = short names)."""
        return Chain(self.P, labels=[s.value for s in self.states])

    def stationary(self) -> np.ndarray:
        r"""Stationary distribution :math:`\pi = \pi P` of the behaviour chain.

        Computed by :func:`metacot.markov.exact.stationary`. It need not equal :attr:`marginal` (the
        empirical frequencies), because traces are short and start in a particular behaviour.

        Raises
        ------
        InvalidChainError
            If the chain has several closed classes, so the stationary law is not unique (possible
            for MLE fits with structural zeros).

        Examples
        --------
        >>> import numpy as np
        >>> BehaviourGraph(np.eye(4)[[1, 0, 3, 2]] * 0.5 + 0.125).stationary().round(6).tolist()
        [0.25, 0.25, 0.25, 0.25]
        """
        from metacot.markov import exact

        pi = exact.stationary(self.chain())
        if pi.ndim != 1:
            raise InvalidChainError(
                f"the behaviour chain has {pi.shape[0]} closed classes, so its stationary law is not "
                "unique; use metacot.markov.exact.stationary(graph.chain()) for one law per class"
            )
        return pi

    # --------------------------------------------------------------------------- I/O
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict in the versioned schema read by :meth:`from_dict`."""

        def mat(a: np.ndarray | None) -> Any:
            return None if a is None else a.tolist()

        return {
            "format": FORMAT,
            "version": SCHEMA_VERSION,
            "states": [s.value for s in self.states],
            "P": mat(self.P),
            "counts": mat(self.counts),
            "marginal": mat(self.marginal),
            "posterior": mat(self.posterior),
            "provenance": self.provenance.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Any, path: object = "<dict>") -> BehaviourGraph:
        """Inverse of :meth:`to_dict`; raises :class:`~metacot.errors.GraphFormatError` naming the bad field."""
        if not isinstance(d, Mapping):
            raise GraphFormatError(path, "<root>", f"expected a JSON object, got {type(d).__name__}")
        if d.get("format") != FORMAT:
            raise GraphFormatError(path, "format", f"is {d.get('format')!r}, expected {FORMAT!r}")
        if d.get("version") != SCHEMA_VERSION:
            raise GraphFormatError(
                path, "version", f"is {d.get('version')!r}; this metacot reads version {SCHEMA_VERSION}"
            )
        known = {"format", "version", "states", "P", "counts", "marginal", "posterior", "provenance"}
        unknown = sorted(set(d) - known)
        if unknown:
            raise GraphFormatError(path, unknown[0], "unknown field")
        states = d.get("states")
        if not isinstance(states, list) or not all(isinstance(s, str) for s in states):
            raise GraphFormatError(path, "states", f"must be a list of behaviour names, got {states!r}")
        try:
            states_t = tuple(Behaviour(s) for s in states)
        except ValueError:
            raise GraphFormatError(
                path, "states", f"{states!r} holds a name that is not one of {[b.value for b in Behaviour]}"
            ) from None
        k = len(states_t)

        def matrix(name: str, required: bool, **check: bool) -> np.ndarray | None:
            v = d.get(name)
            if v is None:
                if required:
                    raise GraphFormatError(path, name, "is missing")
                return None
            try:
                a = np.array(v, dtype=np.float64)
            except (TypeError, ValueError):
                raise GraphFormatError(path, name, "must be an array of numbers") from None
            try:
                if name == "marginal":
                    return _check_vector(a, k, name)
                return _check_matrix(a, k, name, **check)
            except InvalidArgumentError as e:
                raise GraphFormatError(path, name, str(e)) from None

        P = matrix("P", True, stochastic=True)
        counts = matrix("counts", False)
        marginal = matrix("marginal", False)
        posterior = matrix("posterior", False, positive=True)
        prov = d.get("provenance")
        if not isinstance(prov, Mapping):
            raise GraphFormatError(path, "provenance", f"must be an object, got {type(prov).__name__}")
        pknown = {"method", "sources", "labeller", "created", "metacot_version", "notes", "extra"}
        bad = sorted(set(prov) - pknown)
        if bad:
            raise GraphFormatError(path, f"provenance.{bad[0]}", "unknown field")
        if not isinstance(prov.get("method"), str):
            raise GraphFormatError(path, "provenance.method", "must be a string")
        if not isinstance(prov.get("sources", []), list):
            raise GraphFormatError(path, "provenance.sources", "must be a list of strings")
        try:
            provenance = Provenance(**{**prov, "sources": tuple(prov.get("sources", []))})
        except InvalidArgumentError as e:
            raise GraphFormatError(path, "provenance", str(e)) from None
        return cls(
            P=P, states=states_t, counts=counts, marginal=marginal, posterior=posterior, provenance=provenance
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the graph as JSON (schema :data:`FORMAT` version :data:`SCHEMA_VERSION`).

        The file is written to a temporary name and renamed, so a crash never leaves half a file.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> g = reference("qwq-32b")
        >>> p = g.save(pathlib.Path(tempfile.mkdtemp()) / "qwq.json")
        >>> BehaviourGraph.load(p) == g
        True
        """
        path = Path(path)
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text + "\n")
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BehaviourGraph:
        """Read a graph written by :meth:`save`, validating every field.

        Raises
        ------
        GraphFormatError
            Naming the file and the field that is missing or wrong.
        """
        try:
            d = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise GraphFormatError(path, "<root>", f"not valid JSON (line {e.lineno}): {e.msg}") from None
        return cls.from_dict(d, path)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BehaviourGraph):
            return NotImplemented

        def same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
            return (a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))

        return (
            self.states == other.states
            and all(
                same(getattr(self, f), getattr(other, f)) for f in ("P", "counts", "marginal", "posterior")
            )
            and self.provenance == other.provenance
        )

    __hash__ = None  # type: ignore[assignment]  # holds arrays; equality is by value

    # --------------------------------------------------------------------------- views
    def to_networkx(self):
        """The graph as a ``networkx.DiGraph``.

        Nodes are the behaviours' short names with attributes ``title``, ``symbol`` and, when
        known, ``marginal``; every positive :math:`P_{ij}` is an edge with ``weight`` = :math:`P_{ij}`
        (and ``count`` when counts are known). Graph attributes hold the provenance.

        Examples
        --------
        >>> G = reference("qwq-32b").to_networkx()
        >>> round(G["reflect"]["reflect"]["weight"], 2)
        0.41
        """
        import networkx as nx

        G = nx.DiGraph(provenance=self.provenance.to_dict())
        for i, s in enumerate(self.states):
            attrs: dict[str, Any] = {"title": s.title, "symbol": s.symbol}
            if self.marginal is not None:
                attrs["marginal"] = float(self.marginal[i])
            G.add_node(s.value, **attrs)
        for i, a in enumerate(self.states):
            for j, b in enumerate(self.states):
                if self.P[i, j] > 0:
                    attrs = {"weight": float(self.P[i, j])}
                    if self.counts is not None:
                        attrs["count"] = float(self.counts[i, j])
                    G.add_edge(a.value, b.value, **attrs)
        return G

    # --------------------------------------------------------------------------- dynamics
    def _start_index(self, start: Any, rng: np.random.Generator) -> int:
        if start is None:
            # Without a start, draw one from the observed frequencies, or from pi if none were kept.
            mu = self.marginal if self.marginal is not None else self.stationary()
            return int(rng.choice(self.n_states, p=mu))
        return self.index(start)

    def walk(
        self, seed: Any, start: Behaviour | str | int | None = None, max_steps: int = 100
    ) -> list[Behaviour]:
        r"""A random behaviour sequence :math:`b_0, b_1, \dots, b_T` of the chain, :math:`T` = ``max_steps``.

        :math:`b_{t+1}` is drawn from row :math:`P_{b_t \cdot}` by inverting its cumulative sum
        with one uniform per step; :math:`b_0` is ``start`` or, if ``None``, a draw from
        :attr:`marginal` (else from the stationary law). MoLE-Syn uses such walks as behaviour
        plans (Chen et al., 2026, §3).

        Parameters
        ----------
        seed : int or numpy.random.Generator
        start : Behaviour, str, int or None
        max_steps : int
            Number of transitions; the result has ``max_steps + 1`` behaviours.

        Returns
        -------
        list of Behaviour

        Examples
        --------
        >>> w = reference("deepseek-r1-0528").walk(seed=0, start="normal", max_steps=5)
        >>> len(w), w[0].value
        (6, 'normal')
        """
        from metacot.graphs.fit import _as_seed

        if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)) or max_steps < 0:
            raise InvalidArgumentError(f"max_steps must be a non-negative int, got {max_steps!r}")
        rng = _as_seed(seed)
        cur = self._start_index(start, rng)
        cdf = np.cumsum(self.P, axis=1)
        cdf[:, -1] = 1.0  # rounding must not leave u in (sum, 1) unassigned
        u = rng.random(int(max_steps))
        out = [cur]
        for x in u:
            # side="right": a zero-probability column j has cdf[j] == cdf[j-1] and is never chosen.
            cur = int(np.searchsorted(cdf[cur], x, side="right"))
            out.append(cur)
        return [self.states[i] for i in out]

    def to_chain(
        self, answer_rate: float | Sequence[float] | Mapping[Any, float] = 0.05, start: Any = None
    ) -> Chain:
        r"""Lift to a chain on the behaviours plus one absorbing answer state.

        With answer probabilities :math:`a_i` (the chance that the trace ends, i.e. the answer is
        given, right after a step in behaviour :math:`i`), the lifted chain on
        :math:`k + 1` states is

        .. math::
            \tilde P = \begin{pmatrix} \operatorname{diag}(1 - a)\, P & a \\ 0 & 1 \end{pmatrix},

        so a walker keeps moving on the behaviour graph and leaves to the answer state
        :data:`ANSWER` (index :math:`k`, the chain's target) with probability :math:`a_i`. The
        time to answer solves :math:`(I - \operatorname{diag}(1-a)P)\,h = \mathbf 1`; with one rate
        :math:`a` for all behaviours it is geometric, :math:`h \equiv 1/a`.

        This is a modelling device for running :mod:`metacot.markov.exact` and the simulators on fitted
        graphs; the behaviour graph itself says nothing about when traces end. The per-behaviour
        end frequencies of :class:`metacot.graphs.fit.TransitionTally` (``end_counts / step_counts``) are
        one empirical choice of :math:`a`.

        Parameters
        ----------
        answer_rate : float, sequence of k floats, or mapping behaviour -> float
            :math:`a_i \in [0, 1]`; at least one must be positive for the answer to be reachable.
        start : Behaviour, str, int, array_like or None
            Start state or distribution over the behaviours; default :attr:`marginal`, else the
            stationary law.

        Returns
        -------
        Chain
            ``k + 1`` states labelled with the behaviours' names and ``"answer"``; ``target = k``.

        Examples
        --------
        >>> from metacot import exact
        >>> c = reference("qwq-32b").to_chain(answer_rate=0.1)
        >>> c.labels[-1], round(float(exact.mean_hitting_time(c)), 6)
        ('answer', 10.0)
        """
        k = self.n_states
        if isinstance(answer_rate, Mapping):
            a = np.zeros(k)
            for key, v in answer_rate.items():
                a[self.index(key)] = float(v)
        else:
            a = np.array(answer_rate, dtype=np.float64)
            if a.ndim == 0:
                a = np.full(k, float(a))
        if a.shape != (k,):
            raise InvalidArgumentError(f"answer_rate must be a scalar or {k} values, got shape {a.shape}")
        bad = ~np.isfinite(a) | (a < 0) | (a > 1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InvalidArgumentError(
                f"answer_rate for {self.states[i].value!r} is {float(a[i])!r}; it must lie in [0, 1]"
            )
        if not np.any(a > 0):
            raise InvalidArgumentError("every answer_rate is 0: the answer state would be unreachable")
        Pt = np.zeros((k + 1, k + 1))
        Pt[:k, :k] = (1.0 - a)[:, None] * self.P
        Pt[:k, k] = a
        Pt[k, k] = 1.0
        if start is None:
            mu = self.marginal if self.marginal is not None else self.stationary()
            start_arr: Any = np.append(mu, 0.0)
        elif isinstance(start, (str, Behaviour)) or (
            isinstance(start, (int, np.integer)) and not isinstance(start, bool)
        ):
            start_arr = self.index(start)
        else:
            mu = np.asarray(start, dtype=np.float64)
            if mu.shape != (k,):
                raise InvalidArgumentError(
                    f"a start distribution must have {k} entries, got shape {mu.shape}"
                )
            start_arr = np.append(mu, 0.0)
        return Chain(Pt, start=start_arr, target=k, labels=[s.value for s in self.states] + [ANSWER])

    def __repr__(self) -> str:
        src = ",".join(self.provenance.sources) or "?"
        return f"BehaviourGraph(states={[s.symbol for s in self.states]}, method={self.provenance.method!r}, sources={src!r})"


# ------------------------------------------------------------------------------- reference graphs
#: Figure 5 of Chen et al. (2026), in percent, rows = from, columns = to, order N, D, R, E, as
#: printed (rounded to two significant figures; rows sum to 99.6..101). Read from images of the
#: paper's figure (tag [P] in ``papers/notes/molecular_paper.md`` §2.2).
REFERENCE_PERCENT: dict[str, tuple[tuple[float, ...], ...]] = {
    "deepseek-r1-0528": (
        (74, 10, 4.7, 11),
        (52, 22, 10, 17),
        (35, 10, 17, 38),
        (31, 11, 9.6, 48),
    ),
    "gpt-oss-120b": (
        (75, 8.8, 4.5, 12),
        (44, 25, 6.5, 25),
        (34, 12, 17, 38),
        (32, 17, 7, 44),
    ),
    "qwq-32b": (
        (78, 5, 8.8, 8.4),
        (45, 18, 14, 23),
        (28, 6.8, 41, 24),
        (31, 6.7, 14, 48),
    ),
}

_REFERENCE_MODEL = {
    "deepseek-r1-0528": "DeepSeek-R1-0528",
    "gpt-oss-120b": "OpenAI gpt-oss-120b",
    "qwq-32b": "QwQ-32B",
}

_ALIASES = {
    "openai-oss-120b": "gpt-oss-120b",
    "r1": "deepseek-r1-0528",
    "deepseek-r1": "deepseek-r1-0528",
    "qwq": "qwq-32b",
}


def reference(name: str) -> BehaviourGraph:
    r"""One of the three behaviour transition graphs published in Figure 5 of Chen et al. (2026).

    The figure prints :math:`P` in percent rounded to two significant figures, so its rows sum to
    between 99.6 and 101; we divide each row by its sum, :math:`P_{ij} = v_{ij} / \sum_j v_{ij}`,
    which changes no entry by more than about 0.6 percentage points. The raw values are kept in
    :data:`REFERENCE_PERCENT`. The paper reports neither the counts nor the marginal
    :math:`\pi_C(b)` behind the figure (≥ 2,000 traces per teacher, labelled by an LLM whose prompt
    is not published), so ``counts``, ``marginal`` and ``posterior`` are ``None``.

    Parameters
    ----------
    name : {"deepseek-r1-0528", "gpt-oss-120b", "qwq-32b"}
        Case-insensitive; ``"openai-oss-120b"``, ``"r1"`` and ``"qwq"`` are accepted too.

    Returns
    -------
    BehaviourGraph
        ``provenance.method == "reference"``.

    Examples
    --------
    >>> g = reference("qwq-32b")
    >>> round(float(g.P[2, 2]), 2)
    0.41
    """
    key = str(name).lower().strip()
    key = _ALIASES.get(key, key)
    if key not in REFERENCE_PERCENT:
        raise InvalidArgumentError(
            f"no reference graph {name!r}; the paper's Figure 5 has {sorted(REFERENCE_PERCENT)}"
        )
    v = np.array(REFERENCE_PERCENT[key], dtype=np.float64)
    P = v / v.sum(axis=1, keepdims=True)
    prov = Provenance(
        method="reference",
        sources=(
            "Chen et al. (2026), The Molecular Structure of Thought, arXiv:2601.06002, Figure 5",
            _REFERENCE_MODEL[key],
        ),
        labeller="the paper's LLM labeller (prompt not published)",
        created="2026-01-09",
        metacot_version=_metacot_version(),
        notes=(
            "Figure values in percent rounded to two significant figures (row sums 99.6-101), "
            "row-normalised here; counts and marginal not published."
        ),
        extra={"percent": v.tolist()},
    )
    return BehaviourGraph(P=P, states=BEHAVIOURS, provenance=prov)


# ------------------------------------------------------------------------------- comparison
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


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    return float(_pearson_rows(x, y))


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


def _refit_prior(g: BehaviourGraph, name: str) -> np.ndarray | None:
    """The Dirichlet prior behind ``g`` (``None`` for an MLE graph), so resamples are refitted alike."""
    if g.counts is None:
        raise InvalidArgumentError(f"graph {name} has no counts: it cannot be bootstrapped from traces")
    if g.provenance.method == "mle":
        return None
    if g.provenance.method == "dirichlet" and g.posterior is not None:
        # posterior = counts + prior, exactly (fit_dirichlet), so the prior is recovered without guessing.
        return g.posterior - g.counts
    raise InvalidArgumentError(
        f"graph {name} was fitted by {g.provenance.method!r}; bootstrap refits support 'mle' and 'dirichlet'"
    )


def _bootstrap_P(g: BehaviourGraph, traces: Sequence[Any], name: str, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Graphs refitted to trace resamples with weights ``W`` (``B x n``); returns them and a mask of defined replicates."""
    from metacot.graphs.fit import per_trace_counts

    prior = _refit_prior(g, name)
    C = per_trace_counts(traces, g.states).astype(np.float64)
    if C.shape[0] == 0:
        raise InvalidArgumentError(f"traces_{name} is empty")
    if not np.array_equal(C.sum(axis=0), g.counts):
        raise InvalidArgumentError(
            f"traces_{name} do not reproduce graph {name}'s counts ({int(C.sum())} transitions against "
            f"{int(g.counts.sum())}): pass the labelled traces the graph was fitted to"
        )
    n, k = C.shape[0], g.n_states
    if W.shape[1] != n:
        raise InvalidArgumentError(
            f"paired bootstrap needs as many traces in traces_{name} as in the other set, got {n} and {W.shape[1]}"
        )
    # Resampling n traces with replacement = multinomial trace weights; N_b = sum_t w_bt C_t.
    N = (W @ C.reshape(n, k * k)).reshape(W.shape[0], k, k)
    if prior is not None:
        N = N + prior
    rows = N.sum(axis=2, keepdims=True)
    ok = (rows > 0).all(axis=(1, 2))
    P = N / np.where(rows > 0, rows, 1.0)
    return P, ok


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
    dependent), refits the graph the same way (MLE, or the same Dirichlet prior, recovered as
    ``posterior - counts``), and recomputes every statistic; the interval is the
    :math:`((1-\text{level})/2, (1+\text{level})/2)` percentile range. A graph without traces
    (a :func:`reference` graph) is held fixed. The two trace sets are resampled independently,
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
        counts or fitted by another method; fewer than 10 usable replicates.

    Examples
    --------
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
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 10:
        raise InvalidArgumentError(f"n_boot must be an int >= 10, got {n_boot!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if paired and (traces_a is None or traces_b is None):
        raise InvalidArgumentError("paired=True needs both traces_a and traces_b")

    def weights(n: int) -> np.ndarray:
        return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)

    shared = weights(len(traces_a)) if paired else None
    ok = np.ones(n_boot, dtype=bool)
    stacks = []
    for g, tr, name in ((a, traces_a, "a"), (b, traces_b, "b")):
        if tr is None:
            stacks.append(np.broadcast_to(g.P, (n_boot, *g.P.shape)))
        else:
            tr = list(tr)
            P, good = _bootstrap_P(g, tr, name, shared if paired else weights(len(tr)))
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
