r"""Markov state models at a lag and their implied timescales, with trace-bootstrap and Bayesian intervals.

An MSM at lag :math:`\tau` is the non-reversible MLE :math:`\hat P(\tau)` on the largest strongly
connected set of the sliding-window counts (:mod:`metacot.msm.counts`). If the microstate process
were Markov, :math:`P(\tau) = P(1)^\tau` and every eigenvalue would obey
:math:`\lambda_i(\tau) = \lambda_i(1)^\tau`, so the **implied timescales**

.. math:: t_i(\tau) = -\frac{\tau}{\ln |\lambda_i(\tau)|}, \qquad i = 2, 3, \dots

(eigenvalues sorted by decreasing modulus; :math:`\lambda_1 = 1`) would not depend on
:math:`\tau`. A metastable chain has a few slow timescales well separated from the rest; a
process without memory beyond one step and no slow sets has all :math:`t_i` of order one step.
Non-reversible chains have complex eigenvalues; the modulus gives the decay time (the argument
an oscillation), as in deeptime's ``timescales`` for non-reversible models.

Intervals come two ways:

* **trace bootstrap** (the judged one): replicate :math:`b` pools the per-trace counts with the
  multinomial trace weights of :func:`metacot.graphs.comparison.bootstrap_weights`, refits the
  MSM (largest connected set included) and recomputes the timescales. Passing the same weights to
  two analyses of paired trace sets (real and shuffled traces) gives paired intervals of their
  difference;
* **Bayesian**: row-wise Dirichlet samples of :math:`P(\tau)` on the active set
  (:func:`metacot.msm.counts.dirichlet_samples`, counts scaled by :math:`1/\tau`). It ignores the
  dependence between steps of one trace beyond the lag, so it is narrower than the bootstrap.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from metacot._checks import as_rng, positive_int, readonly
from metacot.errors import InvalidArgumentError
from metacot.graphs.comparison import bootstrap_weights, resampled_counts
from metacot.msm.counts import (
    as_dtrajs,
    count_matrix,
    dirichlet_samples,
    largest_connected_set,
    mle_transition_matrix,
    per_trace_counts,
)

__all__ = [
    "MSM",
    "ImpliedTimescales",
    "estimate_msm",
    "implied_timescales",
    "one_blas_thread",
    "sorted_eigenvalues",
    "timescale_scan",
]


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the block with BLAS/LAPACK on one thread (threadpoolctl, when installed).

    The bootstrap computes thousands of eigenvalue problems of size about 100. Threaded OpenBLAS
    gains nothing on matrices this small, and on a busy machine its threads wait for each other:
    measured on 2 shared cores, ``numpy.linalg.eigvals`` of one 100 x 100 matrix took 0.44 s with
    the default threads against 0.007 s with one.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def sorted_eigenvalues(P: np.ndarray) -> np.ndarray:
    r"""Eigenvalues of ``P`` (or of a stack of matrices) sorted by decreasing modulus (complex)."""
    ev = np.linalg.eigvals(np.asarray(P, dtype=np.float64))
    order = np.argsort(-np.abs(ev), axis=-1, kind="stable")
    return np.take_along_axis(ev, order, axis=-1)


def implied_timescales(eigenvalues: Any, lag: int, k: int) -> np.ndarray:
    r"""The ``k`` slowest implied timescales :math:`-\tau / \ln|\lambda_i|`, :math:`i = 2..k+1`.

    ``eigenvalues`` are sorted by decreasing modulus along the last axis, the first being the
    Perron eigenvalue 1 (skipped). :math:`|\lambda| \ge 1` gives ``inf`` (a second closed class or
    a periodic chain), :math:`\lambda = 0` gives 0, and missing eigenvalues (a chain with fewer than
    ``k + 1`` states) give ``nan``.

    Examples
    --------
    >>> implied_timescales(np.array([1.0, 0.5, 0.0]), lag=2, k=3).round(4).tolist()
    [2.8854, 0.0, nan]
    """
    lag = positive_int(lag, "lag")
    k = positive_int(k, "k")
    mod = np.abs(np.asarray(eigenvalues))[..., 1: k + 1]
    pad = k - mod.shape[-1]
    if pad > 0:
        mod = np.concatenate([mod, np.full((*mod.shape[:-1], pad), np.nan)], axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = -lag / np.log(mod)
    t = np.where(mod >= 1.0, np.inf, t)
    return np.where(mod == 0.0, 0.0, t)


@dataclass(frozen=True, eq=False)
class MSM:
    r"""A non-reversible Markov state model at one lag.

    Attributes
    ----------
    lag : int
    n_states : int
        Microstates of the discretisation (the active set is a subset).
    active : ndarray of int
        The largest strongly connected set of the counts, sorted.
    counts : ndarray, shape (n_active, n_active)
        Sliding-window counts restricted to the active set.
    P : ndarray, shape (n_active, n_active)
        Row-normalised ``counts``.
    weights : ndarray, shape (n_active,)
        Empirical distribution of window starts over the active states (row sums of ``counts``,
        normalised): the natural weighting :math:`\eta` for G-PCCA of a chain observed out of
        equilibrium (Reuter et al. 2018).
    eigenvalues : ndarray of complex
        All eigenvalues of ``P`` by decreasing modulus.
    total_counts : float
        All counts at this lag, inside the active set or not.
    """

    lag: int
    n_states: int
    active: np.ndarray
    counts: np.ndarray
    P: np.ndarray
    weights: np.ndarray
    eigenvalues: np.ndarray
    total_counts: float

    def timescales(self, k: int = 5) -> np.ndarray:
        """The ``k`` slowest implied timescales (:func:`implied_timescales`), in steps."""
        return implied_timescales(self.eigenvalues, self.lag, k)

    @property
    def active_fraction(self) -> float:
        """Share of all counts whose both ends lie in the active set."""
        return float(self.counts.sum() / self.total_counts) if self.total_counts else 0.0

    def to_active(self, states: Any) -> np.ndarray:
        """Positions in the active set of microstates ``states`` (-1 for a state outside it)."""
        where = np.full(self.n_states, -1, dtype=np.int64)
        where[self.active] = np.arange(self.active.size)
        return where[np.asarray(states, dtype=np.int64)]


def _msm_from_counts(C: np.ndarray, lag: int) -> MSM:
    active = largest_connected_set(C)
    sub = C[np.ix_(active, active)]
    P = mle_transition_matrix(C, active)
    rows = sub.sum(axis=1)
    return MSM(lag, C.shape[0], readonly(active), readonly(sub), readonly(P), readonly(rows / rows.sum()),
               readonly(sorted_eigenvalues(P)), float(C.sum()))


def estimate_msm(dtrajs: Any, n_states: int, lag: int = 1) -> MSM:
    r"""The MLE Markov state model of ``dtrajs`` at ``lag`` (sliding windows, largest connected set).

    Raises
    ------
    InvalidArgumentError
        No trajectory is longer than ``lag`` (no counts at all).

    Examples
    --------
    >>> m = estimate_msm([[0, 0, 1, 1, 0, 2]], 3, lag=1)
    >>> m.active.tolist(), m.P.round(3).tolist()
    ([0, 1], [[0.5, 0.5], [0.5, 0.5]])
    """
    C = count_matrix(dtrajs, n_states, lag)
    if C.sum() == 0:
        raise InvalidArgumentError(f"no trajectory is longer than lag={lag}: there are no transition counts")
    return _msm_from_counts(C, int(lag))


@dataclass(frozen=True, eq=False)
class ImpliedTimescales:
    r"""Implied timescales against lag: the MLE, trace-bootstrap replicates and Bayesian samples.

    Attributes
    ----------
    lags : ndarray of int, shape (n_lags,)
    mle : ndarray, shape (n_lags, k)
        ``mle[l, i]`` is :math:`t_{i+2}(\tau_l)` of the pooled MLE.
    bootstrap : ndarray, shape (n_boot, n_lags, k)
        The same for each bootstrap replicate (``nan`` where a replicate's active set is too small).
    bayes : ndarray, shape (n_bayes, n_lags, k)
        The same for each Dirichlet posterior sample of :math:`P(\tau_l)`.
    active_size : ndarray of int, shape (n_lags,)
        States in the active set of each pooled MLE.
    """

    lags: np.ndarray
    mle: np.ndarray
    bootstrap: np.ndarray
    bayes: np.ndarray
    active_size: np.ndarray

    def interval(self, level: float = 0.95, *, source: str = "bootstrap") -> tuple[np.ndarray, np.ndarray]:
        """Equal-tailed percentile interval, each ``(n_lags, k)``, from ``"bootstrap"`` or ``"bayes"``."""
        draws = {"bootstrap": self.bootstrap, "bayes": self.bayes}.get(source)
        if draws is None:
            raise InvalidArgumentError(f"source must be 'bootstrap' or 'bayes', got {source!r}")
        if not 0 < level < 1:
            raise InvalidArgumentError(f"level must lie in (0, 1), got {level!r}")
        if draws.shape[0] == 0:
            nan = np.full(self.mle.shape, np.nan)
            return nan, nan
        q = [(1 - level) / 2, (1 + level) / 2]
        lo, hi = np.nanquantile(draws, q, axis=0)
        return lo, hi


def _check_lags(lags: Any) -> np.ndarray:
    if isinstance(lags, (int, np.integer)):
        lags = [lags]
    out = np.asarray([positive_int(x, "lag") for x in lags], dtype=np.int64)
    if out.size == 0:
        raise InvalidArgumentError("lags is empty")
    return out


def _timescales_of_counts(Cs: np.ndarray, lag: int, k: int) -> np.ndarray:
    """Timescales of the MLE of each count matrix in a stack ``(B, n, n)``: ``(B, k)``."""
    out = np.full((Cs.shape[0], k), np.nan)
    for b, C in enumerate(Cs):
        if C.sum() == 0:
            continue
        active = largest_connected_set(C)
        if active.size < 2:
            continue
        out[b] = implied_timescales(sorted_eigenvalues(mle_transition_matrix(C, active)), lag, k)
    return out


def timescale_scan(
    dtrajs: Any,
    n_states: int,
    lags: Sequence[int] | int,
    k: int = 5,
    *,
    n_boot: int = 200,
    n_bayes: int = 100,
    seed: Any = 0,
    weights: np.ndarray | None = None,
) -> ImpliedTimescales:
    r"""Implied timescales at every lag in ``lags``, with trace-bootstrap and Dirichlet-posterior draws.

    Parameters
    ----------
    dtrajs : sequence of 1-D int arrays
        One microstate path per trace.
    n_states : int
    lags : sequence of int
    k : int
        Timescales kept per lag (the slowest ``k``).
    n_boot : int
        Bootstrap replicates over traces (0 for none); ignored when ``weights`` is given.
    n_bayes : int
        Dirichlet posterior samples per lag (0 for none).
    seed : int or numpy.random.Generator
        Draws the bootstrap weights first, then the posterior samples.
    weights : ndarray, shape (n_boot, n_traces), optional
        Trace weights of the replicates (:func:`metacot.graphs.comparison.bootstrap_weights`);
        pass the same weights to two analyses of paired trace sets for paired differences.

    Returns
    -------
    ImpliedTimescales
    """
    dtrajs = as_dtrajs(dtrajs, positive_int(n_states, "n_states"))
    lags = _check_lags(lags)
    k = positive_int(k, "k")
    rng = as_rng(seed)
    if weights is None:
        n_boot = positive_int(n_boot, "n_boot", minimum=0)
        W = bootstrap_weights(len(dtrajs), n_boot, rng) if n_boot else np.zeros((0, len(dtrajs)))
    else:
        W = np.asarray(weights, dtype=np.float64)
        if W.ndim != 2 or W.shape[1] != len(dtrajs):
            raise InvalidArgumentError(f"weights must have shape (n_boot, {len(dtrajs)}), got {W.shape}")
    n_bayes = positive_int(n_bayes, "n_bayes", minimum=0)
    mle = np.full((lags.size, k), np.nan)
    boot = np.full((W.shape[0], lags.size, k), np.nan)
    bayes = np.full((n_bayes, lags.size, k), np.nan)
    active_size = np.zeros(lags.size, dtype=np.int64)
    with one_blas_thread():
        _scan(dtrajs, n_states, lags, k, rng, W, n_bayes, mle, boot, bayes, active_size)
    return ImpliedTimescales(readonly(lags), readonly(mle), readonly(boot), readonly(bayes), readonly(active_size))


def _scan(dtrajs, n_states, lags, k, rng, W, n_bayes, mle, boot, bayes, active_size) -> None:
    """Fill the result arrays of :func:`timescale_scan` in place, lag by lag."""
    for j, lag in enumerate(lags):
        Ct = per_trace_counts(dtrajs, n_states, int(lag))
        C = Ct.sum(axis=0)
        if C.sum() == 0:
            continue
        msm = _msm_from_counts(C, int(lag))
        active_size[j] = msm.active.size
        mle[j] = msm.timescales(k)
        if W.shape[0]:
            boot[:, j] = _timescales_of_counts(resampled_counts(Ct, W), int(lag), k)
        if n_bayes and msm.active.size > 1:
            S = dirichlet_samples(msm.counts, n_bayes, rng, scale=1.0 / lag)
            bayes[:, j] = implied_timescales(sorted_eigenvalues(S), int(lag), k)
