r"""Lifted behaviour chains and the law of their sample paths.

A *lifted chain* (:meth:`metacot.graphs.graph.BehaviourGraph.to_chain`) has :math:`k` transient behaviour
states :math:`0, \dots, k-1` and one absorbing answer state :math:`k`, its target:

.. math::
    \tilde P = \begin{pmatrix} Q & a \\ 0 & 1 \end{pmatrix}, \qquad a = \mathbf 1 - Q \mathbf 1,

with :math:`Q` substochastic (behaviour to behaviour) and :math:`a_i` the chance that the answer
follows a step in behaviour :math:`i`. :func:`lifted_parts` checks a chain and splits it into
:math:`Q, a, \mu`; :func:`lift` assembles one; :func:`mean_length` is the mean path length
:math:`\mu (I - Q)^{-1} \mathbf 1`. A :class:`PathLaw` is the law of a (transformed) path: a
lifted chain plus the probability that the path is empty (:func:`path_law` builds one).
The transformations themselves are in :mod:`metacot.structure.transformed_paths`, fitting and
sampling in :mod:`metacot.structure.path_fit`; :mod:`metacot.structure.path_laws` gathers them.

Examples
--------
>>> c = lift([[0.5]], [0.5], [1.0], ["deep", "answer"])
>>> round(mean_length(c), 12)
2.0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from metacot._checks import readonly
from metacot.errors import InvalidArgumentError, InvalidChainError
from metacot.markov.chain import ROW_SUM_TOL, Chain
from metacot.markov.reach import reaches

__all__ = ["LiftedParts", "PathLaw", "lift", "lifted_parts", "mean_length", "path_law", "reachable_behaviours"]


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
    return LiftedParts(Q=readonly(Q), a=readonly(a), mu=readonly(mu), labels=chain.labels)


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


def reachable_behaviours(Q: Any, mu: Any) -> np.ndarray:
    r"""Behaviours a path started from :math:`\mu` visits with positive probability.

    The states reachable in the graph of :math:`Q > 0` from the support of :math:`\mu`.

    Examples
    --------
    >>> reachable_behaviours(np.array([[0.0, 0.5, 0.0], [0.0, 0.0, 0.0], [0.5, 0.0, 0.0]]), np.array([1.0, 0, 0])).tolist()
    [True, True, False]
    """
    Q = np.asarray(Q)
    mu = np.asarray(mu)
    seen = mu > 0
    edges = Q > 0
    while True:
        grown = seen | edges[seen].any(axis=0)
        if np.array_equal(grown, seen):
            return seen
        seen = grown


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
    >>> from metacot.structure.transformed_paths import censored
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


def path_law(
    Q: np.ndarray, a: np.ndarray, start_mass: np.ndarray, p_empty: float, labels: Any = None, where: str = "path_law"
) -> PathLaw:
    r"""Wrap the blocks of a transformed law in a :class:`PathLaw` (the constructor every law here uses).

    The start law is :math:`\mu = m / \sum_i m_i` for the unnormalised law :math:`m` of the first
    step (``start_mass``; its total is the probability of a non-empty path). ``p_empty`` is
    computed by each caller from its own closed form, which stays accurate when it is tiny
    (:math:`1 - \sum_i m_i` would be rounding noise there); it is clipped to :math:`[0, 1]`.
    Rounding can push an entry of ``Q`` or ``a`` a hair below zero (every formula is a sum of
    non-negative terms); such entries become 0. Rows must sum to 1 within
    :data:`~metacot.markov.chain.ROW_SUM_TOL` (checked by :func:`lift`).

    Parameters
    ----------
    Q, a : ndarray
        Kernel and exit probabilities of the transformed path.
    start_mass : ndarray
        Unnormalised law of the first step.
    p_empty : float
        Probability that nothing is left of the path.
    labels : sequence of str, optional
        ``k + 1`` names, answer last.
    where : str
        Name of the calling function, for error messages.

    Raises
    ------
    InvalidArgumentError
        If ``start_mass`` is all zero: the transformed path is empty almost surely.

    Examples
    --------
    >>> law = path_law(np.array([[0.5]]), np.array([0.5]), np.array([0.25]), 0.75)
    >>> law.mu.tolist(), law.p_empty, law.mean_length
    ([1.0], 0.75, 2.0)
    """
    Q, a, start_mass = (np.asarray(x, dtype=np.float64) for x in (Q, a, start_mass))
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
    return PathLaw(chain=chain, p_empty=float(min(1.0, max(0.0, p_empty))), reachable=readonly(reachable_behaviours(Q, mu)))
