r"""Exact laws of transformed sample paths of a lifted behaviour chain.

A *lifted chain* (:meth:`metacot.graphs.graph.BehaviourGraph.to_chain`) has :math:`k` transient behaviour
states :math:`0, \dots, k-1` and one absorbing answer state :math:`k`, its target:

.. math::
    \tilde P = \begin{pmatrix} Q & a \\ 0 & 1 \end{pmatrix}, \qquad a = \mathbf 1 - Q \mathbf 1,

with :math:`Q` substochastic (behaviour to behaviour) and :math:`a_i` the chance that the answer
follows a step in behaviour :math:`i`. Started from a law :math:`\mu` on the behaviours, a
*sample path* is the behaviour sequence :math:`X_0, \dots, X_{n-1}` before absorption; its length
:math:`n` is the hitting time of the answer, with mean
:math:`\mathbb E[n] = \mu N \mathbf 1`, :math:`N = (I - Q)^{-1}` the fundamental matrix
(:math:`N_{ij}` is the expected number of steps in :math:`j` from :math:`i`).

The transformations of :mod:`metacot.traces.transforms` that act on the behaviour sequence alone map
such a path to a shorter one. For three of them the transformed path is again the path of a
lifted chain, in closed form, and this module computes it:

* :func:`thinned` -- every step kept independently with probability :math:`q` (Bernoulli
  thinning; the model of random step dropping, :func:`metacot.traces.transforms.drop_random`);
* :func:`censored` -- the steps of some behaviours removed
  (:func:`metacot.traces.transforms.drop_behaviours`): the path watched on the others only;
* :func:`jump_chain` -- each run of equal behaviours merged into one step
  (:func:`metacot.traces.transforms.merge_runs`).

Each returns a :class:`PathLaw`: the transformed path's lifted chain, whose start law is the law
of its first step *given that it has one*, and the probability that nothing is left. Every chain
keeps all :math:`k` behaviour states in their original order (so its matrices line up with the
original :math:`4 \times 4` graph); behaviours the transformed path can never visit are
unreachable states with a documented placeholder row, flagged by :attr:`PathLaw.reachable`.

:func:`lift_from_paths` and :func:`lift_from_traces` go the other way: the maximum-likelihood
lifted chain of observed paths, whose mean hitting time of the answer is exactly the mean path
length (flow conservation; see :func:`lift_from_paths`). :func:`sample_paths` draws paths.

Examples
--------
>>> from metacot.graphs.graph import reference
>>> c = reference("qwq-32b").to_chain(answer_rate=0.1, start="normal")
>>> round(mean_length(c), 6)
10.0
>>> law = thinned(c, 0.5)
>>> round(law.mean_length * (1 - law.p_empty), 6)  # half the steps survive on average
5.0
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from metacot._checks import readonly as _readonly
from metacot.behaviours import BEHAVIOURS, Behaviour
from metacot.errors import CensoredError, InvalidArgumentError, InvalidChainError
from metacot.markov.chain import ROW_SUM_TOL, Chain
from metacot.traces.core import Trace

__all__ = [
    "LiftedParts",
    "PathLaw",
    "censored",
    "jump_chain",
    "lift",
    "lift_from_paths",
    "lift_from_traces",
    "lifted_parts",
    "mean_length",
    "sample_paths",
    "thinned",
]


# ------------------------------------------------------------------------------ lifted chains
@dataclass(frozen=True)
class LiftedParts:
    r"""The blocks of a lifted chain: :math:`Q`, :math:`a`, :math:`\mu` and the state names.

    Attributes
    ----------
    Q : ndarray, shape (k, k)
        Behaviour-to-behaviour block of :math:`\tilde P` (substochastic, read-only).
    a : ndarray, shape (k,)
        Exit (answer) probabilities :math:`a = \tilde P_{\cdot k}` (read-only).
    mu : ndarray, shape (k,)
        Start law on the behaviours (read-only); sums to 1.
    labels : tuple of str or None
        Names of the :math:`k + 1` states of the chain (answer last), if it had any.
    """

    Q: np.ndarray
    a: np.ndarray
    mu: np.ndarray
    labels: tuple[str, ...] | None

    @property
    def k(self) -> int:
        """Number of behaviour states."""
        return self.Q.shape[0]


def lifted_parts(chain: Chain, *, where: str = "lifted_parts") -> LiftedParts:
    r"""Check that ``chain`` is a lifted chain and split it into :math:`Q`, :math:`a`, :math:`\mu`.

    A lifted chain here is a :class:`~metacot.markov.chain.Chain` whose target is the single **last**
    state :math:`k` (the layout of :meth:`~metacot.graphs.graph.BehaviourGraph.to_chain`), which is
    absorbing; from which every other state reaches the target (so every behaviour state is
    transient and :math:`I - Q` is invertible); and whose start puts no mass on the target (a
    path has at least one step; the probability of an empty path is kept apart, in
    :attr:`PathLaw.p_empty`).

    Parameters
    ----------
    chain : Chain
    where : str
        Name of the calling function, for error messages.

    Returns
    -------
    LiftedParts

    Raises
    ------
    InvalidChainError
        Naming the first condition that fails.

    Examples
    --------
    >>> from metacot.graphs.graph import reference
    >>> p = lifted_parts(reference("qwq-32b").to_chain(answer_rate=0.1))
    >>> p.k, p.a.tolist()
    (4, [0.1, 0.1, 0.1, 0.1])
    """
    if not isinstance(chain, Chain):
        raise InvalidChainError(f"{where}: expected a metacot Chain, got {type(chain).__name__}")
    n = chain.n_states
    if n < 2:
        raise InvalidChainError(f"{where}: a lifted chain needs behaviour states and an answer state, got {n} state(s)")
    k = n - 1
    if chain.target is None or chain.target.tolist() != [k]:
        got = None if chain.target is None else chain.target.tolist()
        raise InvalidChainError(
            f"{where}: the target must be the single last state {k} (the answer state of "
            f"BehaviourGraph.to_chain), got target {got}"
        )
    P = chain.P.toarray()
    if abs(P[k, k] - 1.0) > ROW_SUM_TOL:
        raise InvalidChainError(
            f"{where}: the answer state {k} must be absorbing, but P[{k}, {k}] = {float(P[k, k])!r}"
        )
    if chain.start is None:
        raise InvalidChainError(f"{where}: the chain has no start law; set start= (a behaviour or a law)")
    mu_full = chain.start_distribution()
    if mu_full[k] > 0:
        raise InvalidChainError(
            f"{where}: the start puts mass {float(mu_full[k])!r} on the answer state {k}; a path has at "
            "least one step here, so keep the empty-path probability apart (PathLaw.p_empty) and pass "
            "PathLaw.chain"
        )
    from metacot.markov.reach import reaches

    lost = np.flatnonzero(~reaches(chain.P, np.array([k])))
    if lost.size:
        i = int(lost[0])
        name = chain.labels[i] if chain.labels is not None else str(i)
        raise InvalidChainError(
            f"{where}: behaviour state {i} ({name!r}) never reaches the answer state, so it is not "
            "transient and paths from it need not end"
        )
    Q = P[:k, :k].copy()
    a = P[:k, k].copy()
    mu = mu_full[:k].copy()
    return LiftedParts(Q=_readonly(Q), a=_readonly(a), mu=_readonly(mu), labels=chain.labels)


def lift(Q: Any, a: Any, mu: Any, labels: Sequence[str] | None = None) -> Chain:
    r"""Assemble the lifted chain :math:`\tilde P = [[Q, a], [0, 1]]` with start :math:`(\mu, 0)`.

    Parameters
    ----------
    Q : array_like, shape (k, k)
    a : array_like, shape (k,)
        Rows of ``[Q | a]`` must sum to 1 (checked by :class:`~metacot.markov.chain.Chain`, within
        :data:`~metacot.markov.chain.ROW_SUM_TOL`; nothing is renormalised).
    mu : array_like, shape (k,)
        Start law on the behaviours.
    labels : sequence of str, optional
        ``k + 1`` names, answer last.

    Returns
    -------
    Chain
        Target = state ``k``.

    Examples
    --------
    >>> c = lift([[0.5]], [0.5], [1.0], ["deep", "answer"])
    >>> round(mean_length(c), 12)
    2.0
    """
    Q = np.asarray(Q, dtype=np.float64)
    a = np.asarray(a, dtype=np.float64)
    mu = np.asarray(mu, dtype=np.float64)
    if Q.ndim != 2 or Q.shape[0] != Q.shape[1] or Q.shape[0] == 0:
        raise InvalidArgumentError(f"lift: Q must be a non-empty square matrix, got shape {Q.shape}")
    k = Q.shape[0]
    if a.shape != (k,) or mu.shape != (k,):
        raise InvalidArgumentError(f"lift: a and mu must have shape ({k},), got {a.shape} and {mu.shape}")
    Pt = np.zeros((k + 1, k + 1))
    Pt[:k, :k] = Q
    Pt[:k, k] = a
    Pt[k, k] = 1.0
    return Chain(Pt, start=np.append(mu, 0.0), target=k, labels=labels)


def mean_length(chain: Chain) -> float:
    r"""Mean path length :math:`\mathbb E[n] = \mu (I - Q)^{-1} \mathbf 1` of a lifted chain.

    The same number as :func:`metacot.markov.exact.mean_hitting_time` (which solves the sparse system
    for every state); here one dense solve on the :math:`k` behaviour states.

    Examples
    --------
    >>> from metacot.graphs.graph import reference
    >>> round(mean_length(reference("deepseek-r1").to_chain(answer_rate=0.25)), 12)
    4.0
    """
    p = lifted_parts(chain, where="mean_length")
    return float(p.mu @ np.linalg.solve(np.eye(p.k) - p.Q, np.ones(p.k)))


def _reachable(Q: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """Behaviours visited with positive probability by a path started from ``mu``."""
    seen = mu > 0
    edges = Q > 0
    while True:
        grown = seen | edges[seen].any(axis=0)
        if np.array_equal(grown, seen):
            return seen
        seen = grown


# ------------------------------------------------------------------------------ the result
@dataclass(frozen=True)
class PathLaw:
    r"""The law of a (transformed) sample path: a lifted chain and the chance of an empty path.

    A path is empty with probability :attr:`p_empty`; given that it is not, it is the path of
    :attr:`chain` (start law = law of the first step given a non-empty path).

    Attributes
    ----------
    chain : Chain
        Lifted chain on the same :math:`k` behaviours plus the answer state (last, the target).
    p_empty : float
        Probability that the path has no step at all.
    reachable : ndarray of bool, shape (k,)
        Behaviours a non-empty path visits with positive probability. The rows of the other
        behaviours are placeholders (each function says which) and affect no path quantity.

    Examples
    --------
    >>> from metacot.graphs.graph import reference
    >>> law = censored(reference("qwq-32b").to_chain(answer_rate=0.1, start="normal"), ["reflect"])
    >>> law.reachable.tolist(), law.p_empty
    ([True, True, False, True], 0.0)
    """

    chain: Chain
    p_empty: float
    reachable: np.ndarray

    @property
    def parts(self) -> LiftedParts:
        r""":math:`Q`, :math:`a`, :math:`\mu` of :attr:`chain`."""
        return lifted_parts(self.chain, where="PathLaw.parts")

    @property
    def Q(self) -> np.ndarray:
        """Behaviour-to-behaviour block of the chain."""
        return self.parts.Q

    @property
    def a(self) -> np.ndarray:
        """Answer (exit) probabilities of the chain."""
        return self.parts.a

    @property
    def mu(self) -> np.ndarray:
        """Law of the first step, given a non-empty path."""
        return self.parts.mu

    @property
    def mean_length(self) -> float:
        r"""Mean length of a non-empty path, :math:`\mu (I - Q)^{-1} \mathbf 1`."""
        return mean_length(self.chain)

    @property
    def mean_length_all(self) -> float:
        r"""Mean length counting empty paths as 0: :math:`(1 - p_\emptyset)\,` :attr:`mean_length`."""
        return (1.0 - self.p_empty) * self.mean_length


def _law(Q: np.ndarray, a: np.ndarray, start_mass: np.ndarray, p_empty: float, labels: Any, where: str) -> PathLaw:
    """Wrap a transformed law.

    ``start_mass`` is the unnormalised law of the first step (its total is the probability of a
    non-empty path); ``p_empty`` is computed by each caller from its own closed form, which stays
    accurate when it is tiny (``1 - total`` would be rounding noise there).
    """
    total = float(start_mass.sum())
    if not total > 0:
        raise InvalidArgumentError(
            f"{where}: the transformed path is empty with probability 1; there is no law to return"
        )
    mu = start_mass / total
    # Only rounding can push an entry below zero (every formula is a sum of non-negative terms).
    Q = np.maximum(Q, 0.0)
    a = np.maximum(a, 0.0)
    chain = lift(Q, a, mu, labels)
    return PathLaw(chain=chain, p_empty=float(min(1.0, max(0.0, p_empty))), reachable=_readonly(_reachable(Q, mu)))


# ------------------------------------------------------------------------------ thinning
def thinned(chain: Chain, keep: float) -> PathLaw:
    r"""Law of the path with every step kept independently with probability :math:`q` = ``keep``.

    Write :math:`R = (I - (1-q) Q)^{-1} = \sum_{m \ge 0} ((1-q)Q)^m`: a stretch of :math:`m`
    consecutive dropped steps contributes :math:`((1-q)Q)^m`. Conditioning on the dropped
    stretches between kept steps,

    * **kernel** from a kept step to the next kept step: one original step, then :math:`m \ge 0`
      dropped ones, then a kept one,
      :math:`Q_q = \sum_m Q ((1-q) Q)^m q = q\, Q R` (:math:`Q` and :math:`R` commute);
    * **exit** from a kept step: the answer comes before the next kept step,
      :math:`a_q = \sum_m ((1-q) Q)^m a = R a`; indeed :math:`Q_q \mathbf 1 + a_q = \mathbf 1`
      because :math:`q Q \mathbf 1 + a = q \mathbf 1 + (1-q) a` and
      :math:`R (q\mathbf 1 + (1-q)a) = R (I - (1-q)Q) \mathbf 1 = \mathbf 1`;
    * **first kept step**: :math:`m \ge 0` dropped steps first, unnormalised law :math:`q\, \mu R`;
    * **empty path**: every step dropped,
      :math:`p_\emptyset = \mathbb E[(1-q)^n] = (1-q)\, \mu R a = 1 - q\, \mu R \mathbf 1`.

    Given it kept a step, the thinned path is again a lifted-chain path (the dropped stretches
    are independent given their end points), with start law :math:`q \mu R / (1 - p_\emptyset)`.
    The mean number of kept steps is :math:`q\,\mathbb E[n]`. Thinning composes:
    thinning by :math:`q_1` then :math:`q_2` is thinning by :math:`q_1 q_2`.

    :func:`metacot.traces.transforms.drop_random` drops an exact number of steps,
    :math:`\mathrm{round}(f n)`, not each step independently; its law differs from this one by
    terms of order :math:`1/n` per path and is never empty for :math:`f < 1`.

    Parameters
    ----------
    chain : Chain
        A lifted chain (see :func:`lifted_parts`).
    keep : float in (0, 1]
        :math:`q`, the probability that a step is kept (1 keeps the chain as it is).

    Returns
    -------
    PathLaw
        Every behaviour the original path can visit stays reachable; unreachable rows are
        transformed by the same formulas.

    Raises
    ------
    InvalidArgumentError
        If ``keep`` is not a number in (0, 1].
    InvalidChainError
        If ``chain`` is not a lifted chain.

    Examples
    --------
    >>> c = lift([[0.0, 0.5], [0.5, 0.0]], [0.5, 0.5], [1.0, 0.0])
    >>> law = thinned(c, 0.5)
    >>> round(law.p_empty, 12), law.Q.round(4).tolist()
    (0.333333333333, [[0.0667, 0.2667], [0.2667, 0.0667]])
    """
    if isinstance(keep, (bool, np.bool_)) or not isinstance(keep, (int, float, np.integer, np.floating)):
        raise InvalidArgumentError(f"thinned: keep must be a number in (0, 1], got {keep!r}")
    q = float(keep)
    if not (0.0 < q <= 1.0):
        raise InvalidArgumentError(
            f"thinned: keep must lie in (0, 1] (the probability that a step survives), got {keep!r}"
        )
    p = lifted_parts(chain, where="thinned")
    A = np.eye(p.k) - (1.0 - q) * p.Q
    RQ = np.linalg.solve(A, p.Q)  # R Q = Q R
    Ra = np.linalg.solve(A, p.a)
    muR = np.linalg.solve(A.T, p.mu)  # mu R
    return _law(q * RQ, Ra, q * muR, (1.0 - q) * float(muR @ p.a), p.labels, "thinned")


# ------------------------------------------------------------------------------ censoring
def _state_set(chain: Chain, states: Any, what: str, where: str) -> np.ndarray:
    """Behaviour indices from ints or labels (one label may be a plain str)."""
    k = chain.n_states - 1
    if isinstance(states, (str, Behaviour)) or isinstance(states, (int, np.integer)):
        states = [states]
    try:
        items = list(states)
    except TypeError:
        raise InvalidArgumentError(f"{where}: {what} must be behaviour indices or names, got {states!r}") from None
    out = []
    for s in items:
        if isinstance(s, (bool, np.bool_)):
            raise InvalidArgumentError(f"{where}: {what} holds {s!r}, not a behaviour index or name")
        if isinstance(s, (int, np.integer)):
            if not 0 <= int(s) < k:
                raise InvalidArgumentError(f"{where}: {what} index {int(s)} is not a behaviour state 0..{k - 1}")
            out.append(int(s))
            continue
        name = s.value if isinstance(s, Behaviour) else s
        if not isinstance(name, str):
            raise InvalidArgumentError(f"{where}: {what} holds {s!r}, not a behaviour index or name")
        labels = chain.labels[:k] if chain.labels is not None else ()
        if name not in labels:
            raise InvalidArgumentError(
                f"{where}: {what} names {name!r}, which is not a behaviour state of the chain {list(labels)}"
            )
        out.append(labels.index(name))
    return np.unique(np.asarray(out, dtype=np.int64))


def censored(chain: Chain, hidden: Any) -> PathLaw:
    r"""Law of the path with every step of the ``hidden`` behaviours removed.

    This is :func:`metacot.traces.transforms.drop_behaviours` on the behaviour sequence: the path
    watched only while it is in the visible set :math:`V` (the complement :math:`H` of
    ``hidden``). With :math:`N_H = (I - Q_{HH})^{-1}` (expected visits inside :math:`H` before
    leaving it), an excursion into :math:`H` from a visible step ends in :math:`V` or at the
    answer, so

    * **kernel** on :math:`V`: the stochastic complement
      :math:`Q_V = Q_{VV} + Q_{VH} N_H Q_{HV}`;
    * **exit**: :math:`a_V' = a_V + Q_{VH} N_H a_H = \mathbf 1 - Q_V \mathbf 1`;
    * **first visible step**: unnormalised :math:`\mu_V + \mu_H N_H Q_{HV}`;
    * **empty path** (the path never leaves :math:`H`): :math:`p_\emptyset = \mu_H N_H a_H`.

    Censoring :math:`H_1` and then :math:`H_2` gives the same law as censoring
    :math:`H_1 \cup H_2` (the quotient property of Schur complements). The expected number of
    visible steps is :math:`(\mu N)_V \mathbf 1 = (1 - p_\emptyset)\,\mathbb E[n']`.

    **Shape.** The chain keeps all :math:`k` behaviours (so matrices stay comparable with the
    original graph). A hidden behaviour :math:`h` is never visited; its row is the *entrance
    law* -- where a path standing in :math:`h` would next be seen: :math:`(N_H Q_{HV})_{h\cdot}`
    on :math:`V`, exit :math:`(N_H a_H)_h`, and 0 on every hidden column. Nothing enters a
    hidden state and the start law puts no mass there, so these rows change no path quantity;
    they make the result a valid chain and make repeated censoring compose exactly.

    Parameters
    ----------
    chain : Chain
        A lifted chain (see :func:`lifted_parts`).
    hidden : int, str, Behaviour or iterable of them
        The behaviours to remove, by index or by label; a non-empty proper subset of the
        behaviour states (duplicates are ignored).

    Returns
    -------
    PathLaw

    Raises
    ------
    InvalidArgumentError
        For an unknown behaviour, an empty ``hidden``, or one that hides every behaviour; or
        if the censored path is empty almost surely (the start law lives on hidden states from
        which no visible state is reachable).

    Examples
    --------
    >>> c = lift([[0.0, 0.5], [0.5, 0.0]], [0.5, 0.5], [1.0, 0.0], ["x", "y", "answer"])
    >>> law = censored(c, "y")
    >>> law.Q.tolist(), law.a.tolist()
    ([[0.25, 0.0], [0.5, 0.0]], [0.75, 0.5])
    """
    where = "censored"
    p = lifted_parts(chain, where=where)
    H = _state_set(chain, hidden, "hidden", where)
    if H.size == 0:
        raise InvalidArgumentError(f"{where}: hidden is empty; nothing would be removed")
    if H.size == p.k:
        raise InvalidArgumentError(f"{where}: hidden lists every behaviour state; every path would be empty")
    V = np.setdiff1d(np.arange(p.k), H)
    Q, a, mu = p.Q, p.a, p.mu
    I_H = np.eye(H.size)
    # N_H [Q_HV | a_H]: where an excursion into H that starts in h comes out (visible state or answer).
    out = np.linalg.solve(I_H - Q[np.ix_(H, H)], np.column_stack([Q[np.ix_(H, V)], a[H]]))
    enter_V, enter_ans = out[:, :-1], out[:, -1]
    Qn = np.zeros((p.k, p.k))
    an = np.zeros(p.k)
    Qn[np.ix_(V, V)] = Q[np.ix_(V, V)] + Q[np.ix_(V, H)] @ enter_V
    an[V] = a[V] + Q[np.ix_(V, H)] @ enter_ans
    Qn[np.ix_(H, V)] = enter_V  # placeholder rows: the entrance law (see Shape above)
    an[H] = enter_ans
    start = np.zeros(p.k)
    start[V] = mu[V] + mu[H] @ enter_V
    return _law(Qn, an, start, float(mu[H] @ enter_ans), p.labels, where)


# ------------------------------------------------------------------------------ jump chain
def jump_chain(chain: Chain) -> PathLaw:
    r"""Law of the path with each run of equal behaviours merged into one step.

    This is :func:`metacot.traces.transforms.merge_runs` on the behaviour sequence. A run in :math:`i`
    lasts a geometric number of steps and then leaves :math:`i`; given that it leaves, it goes
    to :math:`j \ne i` or to the answer in proportion to :math:`Q_{ij}` and :math:`a_i`:

    .. math:: (Q_J)_{ij} = \frac{Q_{ij}}{1 - Q_{ii}} \ (j \ne i), \qquad (Q_J)_{ii} = 0, \qquad
              (a_J)_i = \frac{a_i}{1 - Q_{ii}},

    and the start law is unchanged (the first run starts at the first step). The mean number of
    runs is :math:`\sum_i (\mu N)_i (1 - Q_{ii})` (every run ends once, by a change or by the
    answer). A chain without self-loops is its own jump chain, and :func:`jump_chain` is
    idempotent. :math:`Q_{ii} < 1` always holds, because every behaviour is transient.

    Parameters
    ----------
    chain : Chain
        A lifted chain (see :func:`lifted_parts`).

    Returns
    -------
    PathLaw
        ``p_empty = 0``; reachability is that of the original chain.

    Examples
    --------
    >>> c = lift([[0.5, 0.25], [0.0, 0.5]], [0.25, 0.5], [1.0, 0.0])
    >>> jump_chain(c).Q.tolist(), jump_chain(c).a.tolist()
    ([[0.0, 0.5], [0.0, 0.0]], [0.5, 1.0])
    """
    p = lifted_parts(chain, where="jump_chain")
    stay = np.diag(p.Q).copy()
    leave = 1.0 - stay
    Qn = p.Q / leave[:, None]
    np.fill_diagonal(Qn, 0.0)
    return _law(Qn, p.a / leave, p.mu.copy(), 0.0, p.labels, "jump_chain")


# ------------------------------------------------------------------------------ fitting
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
    return _law(Q, a, f / n_paths, n_empty / n_paths, labels, "lift_from_paths")


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

    try:
        order = tuple(Behaviour(b) for b in states)
    except ValueError:
        raise InvalidArgumentError(f"lift_from_traces: states must be behaviours, got {list(states)!r}") from None
    if not order or len(set(order)) != len(order):
        raise InvalidArgumentError(f"lift_from_traces: states must be distinct and non-empty, got {list(states)!r}")
    index = {b: i for i, b in enumerate(order)}
    paths = []
    for m, tr in enumerate(traces):
        if not isinstance(tr, Trace):
            raise InvalidArgumentError(f"lift_from_traces: item {m} is a {type(tr).__name__}, not a metacot Trace")
        path = []
        for t, b in enumerate(tr.behaviours()):
            if b is None:
                raise InvalidArgumentError(
                    f"lift_from_traces: trace {tr.trace_id!r}, step {t} is unlabelled; label the traces first"
                )
            if b not in index:
                raise InvalidArgumentError(
                    f"lift_from_traces: trace {tr.trace_id!r}, step {t}: behaviour {b.value!r} is not one of "
                    f"{[s.value for s in order]}"
                )
            path.append(index[b])
        paths.append(np.asarray(path, dtype=np.int64))
    return lift_from_paths(paths, len(order), [b.value for b in order] + [ANSWER])


# ------------------------------------------------------------------------------ sampling
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

    if isinstance(n_paths, bool) or not isinstance(n_paths, (int, np.integer)) or n_paths < 1:
        raise InvalidArgumentError(f"sample_paths: n_paths must be a positive int, got {n_paths!r}")
    n = int(n_paths)
    p = lifted_parts(chain, where="sample_paths")
    seed = int(seed.integers(2**63)) if isinstance(seed, np.random.Generator) else seed  # one seed for every retry
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
