r"""Closed-form estimators of a behaviour transition matrix from its counts.

* :func:`fit_mle` -- the maximum-likelihood estimate :math:`\hat P_{ij} = N_{ij} / N_{i\cdot}`;
* :func:`fit_dirichlet` -- the conjugate posterior: with an independent
  :math:`\mathrm{Dir}(\alpha^0_{i\cdot})` prior on every row, row :math:`i` of :math:`P` is a
  posteriori :math:`\mathrm{Dir}(N_{i\cdot} + \alpha^0_{i\cdot})`, in closed form
  (:class:`DirichletPosterior`);
* :func:`row_normalise` -- the division both share, for stacks of count matrices (the trace
  bootstrap of :mod:`metacot.graphs.comparison` refits thousands of resamples with it).

Examples
--------
>>> fit_dirichlet([[2, 0], [1, 1]], prior=1.0, states=["normal", "deep"]).mean.tolist()
[[0.75, 0.25], [0.5, 0.5]]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from metacot._checks import as_rng, positive_int
from metacot._checks import readonly as _readonly
from metacot.behaviours import BEHAVIOURS, Behaviour
from metacot.errors import InvalidArgumentError
from metacot.graphs.counts import as_states

__all__ = ["DirichletPosterior", "fit_dirichlet", "fit_mle", "row_normalise"]


def row_normalise(N: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Divide every row of a stack of count matrices ``(..., k, k)`` by its sum.

    Both closed forms are this division: the MLE of raw counts, :math:`N_{ij}/N_{i\cdot}`, and the
    Dirichlet posterior mean, the same of :math:`N + \alpha^0`. Returns the matrices and a mask
    ``(...)`` of those whose every row has a positive sum (an empty row is left at zero there: its
    estimate is undefined).

    Examples
    --------
    >>> P, ok = row_normalise(np.array([[[1.0, 3.0], [0.0, 0.0]], [[2.0, 2.0], [1.0, 0.0]]]))
    >>> P[1].tolist(), ok.tolist()
    ([[0.5, 0.5], [1.0, 0.0]], [False, True])
    """
    rows = N.sum(axis=-1, keepdims=True)
    ok = (rows > 0).all(axis=(-2, -1))
    return N / np.where(rows > 0, rows, 1.0), ok


def as_counts(counts: Any) -> np.ndarray:
    """``counts`` as a non-empty square float matrix of finite non-negative numbers."""
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
    N = as_counts(counts)
    states = as_states(states)
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
    return row_normalise(N)[0]


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
        states = as_states(self.states)
        if len(states) != a.shape[0]:
            raise InvalidArgumentError(
                f"alpha is {a.shape[0]}x{a.shape[0]} but {len(states)} states were given"
            )
        object.__setattr__(self, "alpha", _readonly(a))
        object.__setattr__(self, "states", states)

    @property
    def mean(self) -> np.ndarray:
        r"""Posterior mean :math:`\mathbb{E}[P_{ij}] = \alpha_{ij} / \alpha_{i0}`."""
        return row_normalise(self.alpha)[0]

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
        n = positive_int(n, "n", minimum=0)
        rng = as_rng(seed)
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
    N = as_counts(counts)
    states = as_states(states)
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
