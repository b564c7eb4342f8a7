r"""Posterior uncertainty of chain quantities fitted from traces: hitting times, committors, stationary laws, budgets.

A lifted chain (:mod:`metacot.structure.lifted`) fitted to paths has, row by row, multinomial
likelihoods: from behaviour :math:`i` the next event is behaviour :math:`j` (count
:math:`N_{ij}`) or the answer (count :math:`e_i`, the paths ending in :math:`i`); the first step is
:math:`i` for :math:`f_i` paths. With independent Dirichlet priors (concentration ``prior``,
1 by default as in :func:`metacot.graphs.closed_form.fit_dirichlet`) the posterior is, exactly,

.. math:: [Q \mid a]_{i\cdot} \sim \mathrm{Dir}(N_{i\cdot} + \alpha^0,\ e_i + \alpha^0), \qquad
          \mu \sim \mathrm{Dir}(f + \alpha^0),

independent across rows (:class:`LiftedPosterior`). Each draw is a lifted chain; its quantities
are solved for all draws at once, as stacked dense systems (``numpy.linalg.solve`` on an
``(n, k, k)`` array):

* mean hitting times of the answer, :math:`(I - Q) h = \mathbf 1` (:func:`batch_hitting_times`);
* committors of a behaviour chain, :func:`batch_committors`;
* stationary laws of a behaviour chain, :func:`batch_stationary`;
* budgets, :math:`\Pr(n \le B) = 1 - \mu Q^B \mathbf 1` (:func:`batch_within`), the chance that the
  answer comes within :math:`B` steps, beside the empirical share (:func:`empirical_within`).

:func:`credible_interval` turns draws into equal-tailed intervals. For a fitted
:class:`~metacot.graphs.behaviour_graph.BehaviourGraph` (no end counts), :func:`posterior_hitting_times`
samples :math:`P` from the graph's Dirichlet posterior and lifts each draw with a given answer rate.

Examples
--------
>>> post = lifted_posterior([[0, 0, 1], [1, 1], [0]], k=2)
>>> Q, a, mu = post.sample(1000, seed=0)
>>> h = mu[:, None, :] @ batch_hitting_times(Q)[:, :, None]
>>> lo, hi = credible_interval(h.ravel(), 0.9)
>>> bool(lo < 2.0 < hi)
True
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from metacot._checks import as_rng, positive_int, readonly
from metacot.errors import InvalidArgumentError

__all__ = [
    "LiftedPosterior",
    "batch_committors",
    "batch_hitting_times",
    "batch_stationary",
    "batch_within",
    "credible_interval",
    "empirical_within",
    "lifted_posterior",
    "posterior_hitting_times",
]


def _gamma_rows(rng: np.random.Generator, alpha: np.ndarray, n: int) -> np.ndarray:
    r"""``n`` draws of independent Dirichlet rows, ``(n, *alpha.shape)``, by normalised Gamma variates.

    One ``standard_gamma`` call for all rows and draws (a Dirichlet vector is a vector of
    independent :math:`\Gamma(\alpha_j, 1)` divided by its sum).
    """
    g = rng.standard_gamma(np.broadcast_to(alpha, (n, *alpha.shape)))
    s = g.sum(axis=-1, keepdims=True)
    return g / np.where(s > 0, s, 1.0)


@dataclass(frozen=True)
class LiftedPosterior:
    r"""Dirichlet posterior of a lifted chain :math:`([Q \mid a], \mu)`.

    Attributes
    ----------
    alpha : ndarray, shape (k, k + 1)
        Concentration of the rows of :math:`[Q \mid a]` (answer last).
    alpha_start : ndarray, shape (k,)
        Concentration of the start law :math:`\mu`.
    labels : tuple of str or None
        ``k + 1`` state names, answer last.
    """

    alpha: np.ndarray
    alpha_start: np.ndarray
    labels: tuple[str, ...] | None = None

    @property
    def k(self) -> int:
        """Number of behaviour states."""
        return self.alpha.shape[0]

    def mean(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r"""Posterior means of :math:`Q`, :math:`a`, :math:`\mu`."""
        R = self.alpha / self.alpha.sum(axis=1, keepdims=True)
        return R[:, :-1], R[:, -1], self.alpha_start / self.alpha_start.sum()

    def sample(self, n: int, seed: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r"""``n`` posterior draws: ``Q`` of shape (n, k, k), ``a`` (n, k), ``mu`` (n, k)."""
        n = positive_int(n, "n")
        rng = as_rng(seed)
        R = _gamma_rows(rng, self.alpha, n)
        mu = _gamma_rows(rng, self.alpha_start, n)
        return R[:, :, :-1], R[:, :, -1], mu


def lifted_posterior(
    paths: Iterable[Sequence[int] | np.ndarray], k: int, prior: float = 1.0, labels: Sequence[str] | None = None
) -> LiftedPosterior:
    r"""Dirichlet posterior of the lifted chain of behaviour paths (integer sequences ``0..k-1``).

    The counts are those of :func:`metacot.structure.path_fit.lift_from_paths` (whose MLE this
    posterior concentrates on): transitions :math:`N`, path ends :math:`e`, path starts :math:`f`.
    Empty paths carry no information on :math:`[Q \mid a]` or :math:`\mu` and are skipped.

    Raises
    ------
    InvalidArgumentError
        A non-positive prior, no non-empty path, or an index outside ``0..k-1`` (naming the path).
    """
    k = positive_int(k, "k")
    if not (np.isfinite(prior) and prior > 0):
        raise InvalidArgumentError(f"prior must be a positive finite number, got {prior!r}")
    N = np.zeros((k, k + 1))
    f = np.zeros(k)
    n_used = 0
    for m, path in enumerate(paths):
        x = np.asarray(path)
        if x.size == 0:
            continue
        if x.ndim != 1 or not np.issubdtype(x.dtype, np.integer) or x.min() < 0 or x.max() >= k:
            raise InvalidArgumentError(f"path {m} must be a 1-D sequence of ints in 0..{k - 1}, got {path!r:.80}")
        np.add.at(N, (x[:-1], x[1:]), 1.0)
        N[x[-1], k] += 1.0
        f[x[0]] += 1.0
        n_used += 1
    if n_used == 0:
        raise InvalidArgumentError("lifted_posterior: no non-empty path")
    return LiftedPosterior(readonly(N + prior), readonly(f + prior), None if labels is None else tuple(labels))


def batch_hitting_times(Q: np.ndarray) -> np.ndarray:
    r"""Mean hitting times of the answer, :math:`h = (I - Q)^{-1} \mathbf 1`, for a stack ``(n, k, k)``.

    Examples
    --------
    >>> batch_hitting_times(np.array([[[0.5]], [[0.75]]])).ravel().tolist()
    [2.0, 4.0]
    """
    Q = np.asarray(Q, dtype=np.float64)
    n, k = Q.shape[0], Q.shape[-1]
    A = np.eye(k) - Q
    return np.linalg.solve(A, np.ones((n, k, 1)))[..., 0]


def batch_committors(P: np.ndarray, A: Sequence[int], B: Sequence[int]) -> np.ndarray:
    r"""Forward committors :math:`q(x) = \Pr_x(\tau_B < \tau_A)` of a stack of chains ``(n, k, k)``.

    On the other states :math:`U`, :math:`(I - P_{UU})\, q_U = P_{UB} \mathbf 1`. Every draw of a
    Dirichlet posterior with a positive prior has all entries positive, so :math:`I - P_{UU}` is
    non-singular whenever :math:`A \cup B` is non-empty.

    Examples
    --------
    >>> P = np.array([[[1, 0, 0], [0.5, 0, 0.5], [0, 0, 1.0]]])
    >>> batch_committors(P, [0], [2]).tolist()
    [[0.0, 0.5, 1.0]]
    """
    P = np.asarray(P, dtype=np.float64)
    k = P.shape[-1]
    a, b = np.asarray(A, dtype=np.int64).ravel(), np.asarray(B, dtype=np.int64).ravel()
    if np.intersect1d(a, b).size or a.size == 0 or b.size == 0:
        raise InvalidArgumentError(f"A and B must be non-empty and disjoint, got {a.tolist()} and {b.tolist()}")
    if min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= k:
        raise InvalidArgumentError(f"A and B must hold states 0..{k - 1}")
    U = np.setdiff1d(np.arange(k), np.union1d(a, b))
    q = np.zeros(P.shape[:-1])
    q[:, b] = 1.0
    if U.size:
        M = np.eye(U.size) - P[:, U][:, :, U]
        rhs = P[:, U][:, :, b].sum(axis=-1, keepdims=True)
        q[:, U] = np.linalg.solve(M, rhs)[..., 0]
    return q


def batch_stationary(P: np.ndarray) -> np.ndarray:
    r"""Stationary laws of a stack of irreducible chains ``(n, k, k)``.

    Solves :math:`\pi (I - P) = 0`, :math:`\pi \mathbf 1 = 1` with the last balance equation
    replaced by the normalisation (non-singular for an irreducible chain).

    Examples
    --------
    >>> batch_stationary(np.array([[[0.5, 0.5], [0.25, 0.75]]])).round(6).tolist()
    [[0.333333, 0.666667]]
    """
    P = np.asarray(P, dtype=np.float64)
    k = P.shape[-1]
    M = np.swapaxes(np.eye(k) - P, -1, -2).copy()
    M[:, -1, :] = 1.0
    rhs = np.zeros((P.shape[0], k, 1))
    rhs[:, -1] = 1.0
    return np.linalg.solve(M, rhs)[..., 0]


def batch_within(Q: np.ndarray, mu: np.ndarray, budgets: Sequence[int]) -> np.ndarray:
    r""":math:`\Pr(n \le B) = 1 - \mu Q^B \mathbf 1` for a stack of lifted chains and several budgets.

    :math:`n` is the number of steps before the answer (the path length, the hitting time of the
    answer from a start on the behaviours). One matrix-vector product per step up to the largest
    budget, for all draws at once.

    Returns
    -------
    ndarray, shape (n_draws, len(budgets))

    Examples
    --------
    >>> batch_within(np.array([[[0.5]]]), np.array([[1.0]]), [0, 1, 2]).tolist()
    [[0.0, 0.5, 0.75]]
    """
    Q = np.asarray(Q, dtype=np.float64)
    v = np.asarray(mu, dtype=np.float64).copy()
    B = np.asarray([positive_int(b, "budget", minimum=0) for b in budgets], dtype=np.int64)
    out = np.empty((Q.shape[0], B.size))
    for t in range(int(B.max(initial=0)) + 1):
        hit = B == t
        if hit.any():
            out[:, hit] = (1.0 - v.sum(axis=1))[:, None]
        v = np.einsum("ni,nij->nj", v, Q)
    return out


def empirical_within(lengths: Sequence[int], budgets: Sequence[int]) -> np.ndarray:
    """Share of traces whose length is at most each budget.

    Examples
    --------
    >>> empirical_within([1, 3, 3, 10], [2, 3, 9]).tolist()
    [0.25, 0.75, 0.75]
    """
    L = np.asarray(lengths)
    return (L[:, None] <= np.asarray(budgets)[None, :]).mean(axis=0)


def credible_interval(draws: np.ndarray, level: float = 0.9, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed credible interval of posterior draws along ``axis``."""
    if not 0.0 < float(level) < 1.0:
        raise InvalidArgumentError(f"level must lie in (0, 1), got {level!r}")
    lo, hi = np.quantile(np.asarray(draws), [(1 - level) / 2, (1 + level) / 2], axis=axis)
    return lo, hi


def posterior_hitting_times(
    graph: Any, n: int, answer_rate: float | Sequence[float] = 0.05, seed: Any = 0, start: Any = None,
    prior: float = 1.0,
) -> np.ndarray:
    r"""Posterior draws of the mean time to answer of ``graph`` lifted with a fixed answer rate.

    Draws :math:`P` by :meth:`~metacot.graphs.behaviour_graph.BehaviourGraph.posterior_samples`,
    lifts each as :meth:`~metacot.graphs.behaviour_graph.BehaviourGraph.to_chain` does
    (:math:`Q = \operatorname{diag}(1 - a) P`) and solves :math:`(I - Q) h = \mathbf 1`.

    Returns
    -------
    ndarray, shape (n, k + 1)
        :math:`h` from each behaviour, and in the last column the mean from the start law
        (``start`` or the graph's marginal, else its posterior-mean stationary law).
    """
    P = graph.posterior_samples(n, seed, prior=prior)
    k = P.shape[-1]
    a = np.broadcast_to(np.asarray(answer_rate, dtype=np.float64), (k,))
    if np.any(~np.isfinite(a) | (a < 0) | (a > 1)) or not np.any(a > 0):
        raise InvalidArgumentError(f"answer_rate must lie in [0, 1] with one positive, got {answer_rate!r}")
    h = batch_hitting_times((1.0 - a)[None, :, None] * P)
    if start is None:
        mu = graph.marginal if graph.marginal is not None else graph.stationary()
    elif isinstance(start, (int, np.integer, str)) or hasattr(start, "value"):
        mu = np.eye(k)[graph.index(start)]
    else:
        mu = np.asarray(start, dtype=np.float64)
    return np.column_stack([h, h @ mu])
