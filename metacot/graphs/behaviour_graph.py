r"""The behaviour graph: a fitted transition matrix between behaviours, with what it came from.

A :class:`BehaviourGraph` is a row-stochastic matrix :math:`P` over the four behaviours of
:mod:`metacot.behaviours` (Chen et al., 2026, *The Molecular Structure of Thought*,
arXiv:2601.06002, §"distribution-transfer graph"), together with what it was estimated from:
transition counts, behaviour frequencies, an optional Dirichlet posterior and provenance. It is
immutable. It saves to and loads from JSON (:mod:`metacot.graphs.graph_json`), and runs as a
chain: :meth:`BehaviourGraph.walk`, :meth:`BehaviourGraph.to_chain`.

Examples
--------
>>> import numpy as np
>>> g = BehaviourGraph(np.full((4, 4), 0.25))
>>> g.stationary().tolist()
[0.25, 0.25, 0.25, 0.25]
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from metacot._checks import as_rng, positive_int
from metacot._checks import readonly as _readonly
from metacot.behaviours import BEHAVIOURS, Behaviour
from metacot.errors import InvalidArgumentError, InvalidChainError
from metacot.graphs import graph_json
from metacot.graphs.graph_json import FORMAT, SCHEMA_VERSION, check_matrix, check_vector
from metacot.graphs.provenance import Provenance
from metacot.markov.chain import Chain

__all__ = ["ANSWER", "FORMAT", "SCHEMA_VERSION", "BehaviourGraph"]

#: Label of the absorbing answer state added by :meth:`BehaviourGraph.to_chain`.
ANSWER = "answer"


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
        object.__setattr__(self, "P", _readonly(check_matrix(self.P, k, "P", stochastic=True)))
        if self.counts is not None:
            object.__setattr__(self, "counts", _readonly(check_matrix(self.counts, k, "counts")))
        if self.posterior is not None:
            object.__setattr__(
                self, "posterior", _readonly(check_matrix(self.posterior, k, "posterior", positive=True))
            )
        if self.marginal is not None:
            object.__setattr__(self, "marginal", _readonly(check_vector(self.marginal, k, "marginal")))
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
        from metacot.markov.exact import stationary

        pi = stationary(self.chain())
        if pi.ndim != 1:
            raise InvalidChainError(
                f"the behaviour chain has {pi.shape[0]} closed classes, so its stationary law is not "
                "unique; use metacot.markov.exact.stationary(graph.chain()) for one law per class"
            )
        return pi

    def posterior_samples(self, n: int, seed: Any, prior: float = 1.0) -> np.ndarray:
        r"""``n`` transition matrices drawn from the graph's Dirichlet row posterior.

        Row :math:`i` is :math:`\mathrm{Dir}(\alpha_{i\cdot})` with :math:`\alpha` = :attr:`posterior`
        when the graph has one (``fit_graph(method="dirichlet")``), else
        :attr:`counts` + ``prior`` (the same posterior :func:`metacot.graphs.closed_form.fit_dirichlet`
        would give). Draws are vectorised (:meth:`~metacot.graphs.closed_form.DirichletPosterior.sample`).
        :mod:`metacot.graphs.posterior` turns them into hitting times, committors and stationary laws.

        Returns
        -------
        ndarray, shape (n, k, k)

        Raises
        ------
        InvalidArgumentError
            If the graph has neither a posterior nor counts.

        Examples
        --------
        >>> import numpy as np
        >>> g = BehaviourGraph(np.full((4, 4), 0.25), counts=np.full((4, 4), 10.0))
        >>> g.posterior_samples(3, seed=0).shape
        (3, 4, 4)
        """
        from metacot.graphs.closed_form import DirichletPosterior, fit_dirichlet

        if self.posterior is not None:
            post = DirichletPosterior(alpha=self.posterior, states=self.states)
        elif self.counts is not None:
            post = fit_dirichlet(self.counts, prior, self.states)
        else:
            raise InvalidArgumentError(
                "the graph has neither a Dirichlet posterior nor counts, so there is nothing to sample; "
                "fit it with fit_graph(..., method='dirichlet')"
            )
        return post.sample(positive_int(n, "n"), seed)

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
        return cls(**graph_json.parse(d, path))

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the graph as JSON (schema :data:`FORMAT` version :data:`SCHEMA_VERSION`).

        The file is written through :func:`metacot._io.atomic_write`: a temporary file in the same
        folder renamed over ``path``, so a crash never leaves half a file, created with the mode
        an ordinary file gets (``0o666`` less the umask).

        Examples
        --------
        >>> import tempfile, pathlib
        >>> from metacot.graphs.reference_graphs import reference
        >>> g = reference("qwq-32b")
        >>> p = g.save(pathlib.Path(tempfile.mkdtemp()) / "qwq.json")
        >>> BehaviourGraph.load(p) == g
        True
        """
        return graph_json.write(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BehaviourGraph:
        """Read a graph written by :meth:`save`, validating every field.

        Raises
        ------
        GraphFormatError
            For any content that is not a valid graph, naming the file and the field that is
            missing or wrong (``"<root>"`` for a file that is not UTF-8 JSON at all).
        """
        return cls(**graph_json.read(path))

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
        >>> from metacot.graphs.reference_graphs import reference
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
        >>> from metacot.graphs.reference_graphs import reference
        >>> w = reference("deepseek-r1-0528").walk(seed=0, start="normal", max_steps=5)
        >>> len(w), w[0].value
        (6, 'normal')
        """
        max_steps = positive_int(max_steps, "max_steps", minimum=0)
        rng = as_rng(seed)
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
        >>> from metacot.graphs.reference_graphs import reference
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
