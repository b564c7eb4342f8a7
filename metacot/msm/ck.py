r"""Metastable sets of a microstate MSM (G-PCCA), its coarse-grained chain, and the Chapman–Kolmogorov test.

**Sets.** :func:`metastable_microstates` runs metacot's own G-PCCA
(:func:`metacot.markov.pcca.metastable_sets`, which handles non-reversible chains) on the MSM's
active set, weighted by the empirical distribution of window starts :math:`\eta`. The number of
sets, if not given, is the one after the largest gap in eigenvalue modulus,
:math:`m^* = \arg\max_{2 \le m \le m_{\max}} (|\lambda_m| - |\lambda_{m+1}|)`, never cutting a
complex-conjugate pair. Microstates outside the active set get set ``-1``.

**Chapman–Kolmogorov test** (Prinz et al. 2011, §IV.D). If the process were Markov at lag
:math:`\tau`, then :math:`P(k\tau) = P(\tau)^k`. Projected on the sets :math:`A, B`, with the
starting law :math:`\rho_A` of window starts inside :math:`A` (:math:`\rho_{A,i} \propto
C_{i\cdot}(k\tau)`, :math:`i \in A`),

.. math::
    \text{predicted}_{AB}(k) = \rho_A^\top P(\tau)^k \mathbb 1_B, \qquad
    \text{estimated}_{AB}(k) = \frac{\sum_{i \in A} \sum_{j \in B} C_{ij}(k\tau)}
                                    {\sum_{i \in A} \sum_{j \in \text{active}} C_{ij}(k\tau)},

the estimate being the observed share of windows of length :math:`k\tau` that start in :math:`A`
and end in :math:`B` (the row-normalised :math:`C(k\tau)` weighted by :math:`\rho_A`). Both are
recomputed on every trace-bootstrap replicate (the MSM at :math:`\tau` refitted, the sets kept),
which gives intervals for both curves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from metacot._checks import as_rng, positive_int, readonly
from metacot.errors import InvalidArgumentError
from metacot.graphs.comparison import bootstrap_weights, resampled_counts
from metacot.markov.pcca import MetastableSets, metastable_sets
from metacot.msm.counts import as_dtrajs, largest_connected_set, mle_transition_matrix, per_trace_counts
from metacot.msm.timescales import MSM, one_blas_thread

__all__ = ["CKTest", "MetastableMicrostates", "choose_n_sets", "ck_test", "coarse_counts", "metastable_microstates"]


def choose_n_sets(eigenvalues: Any, max_sets: int = 8) -> int:
    r"""The number of metastable sets after the largest modulus gap among :math:`\lambda_2..\lambda_{m_{\max}+1}`.

    ``eigenvalues`` are sorted by decreasing modulus. A cut between the two members of a
    complex-conjugate pair is never chosen.

    Examples
    --------
    >>> choose_n_sets([1.0, 0.97, 0.95, 0.3, 0.2])
    3
    """
    ev = np.asarray(eigenvalues, dtype=complex)
    max_sets = positive_int(max_sets, "max_sets", minimum=2)
    top = min(max_sets, ev.size - 1)
    if top < 2:
        raise InvalidArgumentError(f"{ev.size} eigenvalues leave no choice of at least 2 sets")
    mod = np.abs(ev)
    best, gap = 2, -1.0
    for m in range(2, top + 1):
        # ev[m - 1] and ev[m] are conjugates -> the cut after m states would split the pair
        if abs(ev[m - 1].imag) > 1e-12 and np.isclose(ev[m - 1], np.conj(ev[m])):
            continue
        g = mod[m - 1] - (mod[m] if m < ev.size else 0.0)
        if g > gap:
            best, gap = m, g
    return best


@dataclass(frozen=True, eq=False)
class MetastableMicrostates:
    """G-PCCA sets of a microstate MSM.

    Attributes
    ----------
    pcca : MetastableSets
        The G-PCCA result on the active set (memberships, coarse ``coarse_P``, eigenvalues).
    assignment : ndarray of int, shape (n_states,)
        Crisp set of every microstate; -1 outside the active set.
    coarse_P_counts : ndarray, shape (n_sets, n_sets)
        The crisp coarse-grained chain: row-normalised set-to-set counts of the MSM's lag.
    """

    pcca: MetastableSets
    assignment: np.ndarray
    coarse_P_counts: np.ndarray

    @property
    def n_sets(self) -> int:
        return self.pcca.k

    @property
    def sets(self) -> list[np.ndarray]:
        """Microstates (original indices) of each set."""
        return [np.flatnonzero(self.assignment == j) for j in range(self.n_sets)]


def coarse_counts(C: np.ndarray, assignment: np.ndarray, n_sets: int) -> np.ndarray:
    """Set-to-set sums of a microstate count matrix (microstates with set -1 are dropped)."""
    keep = assignment >= 0
    M = np.zeros((assignment.size, n_sets))
    M[np.flatnonzero(keep), assignment[keep]] = 1.0
    return M.T @ np.asarray(C, dtype=np.float64) @ M


def metastable_microstates(msm: MSM, n_sets: int | None = None, *, max_sets: int = 8) -> MetastableMicrostates:
    r"""G-PCCA metastable sets of ``msm`` (weighted by its empirical ``weights``), crisp and coarse-grained.

    Parameters
    ----------
    msm : MSM
    n_sets : int, optional
        Default :func:`choose_n_sets` of the MSM's eigenvalues.
    max_sets : int
        Upper bound of the automatic choice.
    """
    if not isinstance(msm, MSM):
        raise InvalidArgumentError(f"msm must be an MSM (metacot.msm.timescales.estimate_msm), got {type(msm).__name__}")
    if msm.active.size < 3:
        raise InvalidArgumentError(f"the active set has {msm.active.size} states: too few for metastable sets")
    m = choose_n_sets(msm.eigenvalues, max_sets) if n_sets is None else positive_int(n_sets, "n_sets", minimum=2)
    ms = metastable_sets(msm.P, m, eta=msm.weights)
    assignment = np.full(msm.n_states, -1, dtype=np.int64)
    assignment[msm.active] = ms.assignment
    Cc = coarse_counts(msm.counts, ms.assignment, m)
    rows = Cc.sum(axis=1, keepdims=True)
    Pc = np.divide(Cc, rows, out=np.full_like(Cc, np.nan), where=rows > 0)
    return MetastableMicrostates(ms, readonly(assignment), readonly(Pc))


@dataclass(frozen=True, eq=False)
class CKTest:
    r"""Set-to-set transition probabilities at :math:`k\tau`: MSM prediction against estimate.

    Attributes
    ----------
    lag : int
    multiples : ndarray of int, shape (m,)
    predicted, estimated : ndarray, shape (m, n_sets, n_sets)
        ``[k, A, B]``; rows sum to 1 (``nan`` for a set with no window starts).
    predicted_boot, estimated_boot : ndarray, shape (n_boot, m, n_sets, n_sets)
    """

    lag: int
    multiples: np.ndarray
    predicted: np.ndarray
    estimated: np.ndarray
    predicted_boot: np.ndarray
    estimated_boot: np.ndarray

    def interval(self, which: str = "estimated", level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Percentile interval of ``"estimated"``, ``"predicted"`` or ``"difference"`` (estimated - predicted)."""
        draws = {"estimated": self.estimated_boot, "predicted": self.predicted_boot,
                 "difference": self.estimated_boot - self.predicted_boot}.get(which)
        if draws is None:
            raise InvalidArgumentError(f"which must be 'estimated', 'predicted' or 'difference', got {which!r}")
        if not 0 < level < 1:
            raise InvalidArgumentError(f"level must lie in (0, 1), got {level!r}")
        lo, hi = np.nanquantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
        return lo, hi

    @property
    def max_error(self) -> float:
        """Largest :math:`|\\text{estimated} - \\text{predicted}|` over multiples and set pairs."""
        return float(np.nanmax(np.abs(self.estimated - self.predicted)))

    def share_consistent(self, level: float = 0.95) -> float:
        """Share of (multiple, A, B) entries whose bootstrap interval of the difference contains 0."""
        lo, hi = self.interval("difference", level)
        ok = (lo <= 0) & (hi >= 0)
        return float(ok[np.isfinite(lo)].mean())


def _ck_once(C_lag: np.ndarray, C_mult: Sequence[np.ndarray], multiples: np.ndarray,
             assignment: np.ndarray, n_sets: int) -> tuple[np.ndarray, np.ndarray]:
    pred = np.full((multiples.size, n_sets, n_sets), np.nan)
    est = np.full_like(pred, np.nan)
    if C_lag.sum() == 0:
        return pred, est
    active = largest_connected_set(C_lag)
    P = mle_transition_matrix(C_lag, active)
    a = assignment[active]
    M = np.zeros((active.size, n_sets))
    M[np.flatnonzero(a >= 0), a[a >= 0]] = 1.0
    Pk_M = M
    power = 0
    for j, k in enumerate(multiples):
        while power < k:
            Pk_M = P @ Pk_M
            power += 1
        Ck = C_mult[j][np.ix_(active, active)]
        rho = Ck.sum(axis=1)
        start = M.T * rho  # (n_sets, n_active): window starts in each set
        mass = start.sum(axis=1)
        ok = mass > 0
        pred[j, ok] = (start @ Pk_M)[ok] / mass[ok, None]
        est[j, ok] = (M.T @ Ck @ M)[ok] / mass[ok, None]
    return pred, est


def ck_test(
    dtrajs: Any,
    n_states: int,
    lag: int,
    assignment: Any,
    multiples: Sequence[int] = (1, 2, 3, 4, 5),
    *,
    n_boot: int = 200,
    seed: Any = 0,
    weights: np.ndarray | None = None,
) -> CKTest:
    r"""The Chapman–Kolmogorov test of the MSM of ``dtrajs`` at ``lag`` on the sets of ``assignment``.

    Parameters
    ----------
    dtrajs : sequence of 1-D int arrays
    n_states : int
    lag : int
        :math:`\tau`.
    assignment : array_like of int, shape (n_states,)
        Set of each microstate (``-1``: in no set), e.g. :attr:`MetastableMicrostates.assignment`.
    multiples : sequence of int
        The :math:`k` of :math:`k\tau`, increasing, each at least 1.
    n_boot : int
        Trace-bootstrap replicates (0 for none); ignored when ``weights`` is given.
    seed : int or numpy.random.Generator
    weights : ndarray, shape (n_boot, n_traces), optional
        Replicate trace weights (:func:`metacot.graphs.comparison.bootstrap_weights`).

    Returns
    -------
    CKTest
    """
    n_states = positive_int(n_states, "n_states")
    dtrajs = as_dtrajs(dtrajs, n_states)
    lag = positive_int(lag, "lag")
    multiples = np.asarray([positive_int(k, "multiple") for k in multiples], dtype=np.int64)
    if multiples.size == 0 or (np.diff(multiples) <= 0).any():
        raise InvalidArgumentError(f"multiples must be non-empty and increasing, got {multiples.tolist()}")
    assignment = np.asarray(assignment, dtype=np.int64)
    if assignment.shape != (n_states,) or assignment.min() < -1:
        raise InvalidArgumentError(f"assignment must be {n_states} set indices (-1 for none), got shape {assignment.shape}")
    n_sets = int(assignment.max()) + 1
    if n_sets < 1:
        raise InvalidArgumentError("assignment puts no microstate in any set")
    if weights is None:
        n_boot = positive_int(n_boot, "n_boot", minimum=0)
        W = bootstrap_weights(len(dtrajs), n_boot, as_rng(seed)) if n_boot else np.zeros((0, len(dtrajs)))
    else:
        W = np.asarray(weights, dtype=np.float64)
        if W.ndim != 2 or W.shape[1] != len(dtrajs):
            raise InvalidArgumentError(f"weights must have shape (n_boot, {len(dtrajs)}), got {W.shape}")
    Ct_lag = per_trace_counts(dtrajs, n_states, lag)
    Ct_mult = [per_trace_counts(dtrajs, n_states, lag * int(k)) for k in multiples]
    with one_blas_thread():
        pred, est = _ck_once(Ct_lag.sum(axis=0), [c.sum(axis=0) for c in Ct_mult], multiples, assignment, n_sets)
        pb = np.full((W.shape[0], *pred.shape), np.nan)
        eb = np.full_like(pb, np.nan)
        for b in range(W.shape[0]):  # one replicate at a time: the pooled stacks would need n_boot x m x n^2 floats
            w = W[b: b + 1]
            pb[b], eb[b] = _ck_once(resampled_counts(Ct_lag, w)[0], [resampled_counts(c, w)[0] for c in Ct_mult],
                                    multiples, assignment, n_sets)
    return CKTest(lag, readonly(multiples), readonly(pred), readonly(est), readonly(pb), readonly(eb))
