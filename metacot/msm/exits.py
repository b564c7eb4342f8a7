r"""Where traces leave their metastable sets: the behaviours of cluster-leaving steps against steps that stay.

Given the crisp metastable set :math:`s_t` of every step (the set of its microstate, ``-1`` for a
microstate outside the MSM's active set), step :math:`t \ge 1` **exits** when
:math:`s_t \ne s_{t-1}` and **stays** when :math:`s_t = s_{t-1}`; pairs involving a ``-1`` are left
out (counted in :attr:`ExitEnrichment.undefined`). The step that makes the move is step :math:`t`,
the one whose content lands in another set, so its behaviour is the one tallied.

The metastable theory says the hard steps are the sparse edges between clusters. For each
behaviour :math:`b` the **enrichment** is the risk ratio

.. math:: R_b = \frac{\Pr(b \mid \text{exit})}{\Pr(b \mid \text{stay})},

with an interval from the trace bootstrap (the per-trace tallies of every replicate pooled with
the weights of :func:`metacot.graphs.comparison.bootstrap_weights`) and, for reference, Pearson's
:math:`\chi^2` test of independence of exit and behaviour on the pooled table (which treats steps
as independent, so its p-value is optimistic).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.stats

from metacot._checks import as_rng, positive_int, readonly
from metacot.errors import InvalidArgumentError
from metacot.graphs.comparison import bootstrap_weights
from metacot.msm.counts import as_dtrajs

__all__ = ["ExitEnrichment", "exit_enrichment", "exit_tallies", "set_paths"]


def set_paths(dtrajs: Any, assignment: Any) -> list[np.ndarray]:
    """The metastable set of every step: ``assignment[x_t]`` for each microstate path."""
    assignment = np.asarray(assignment, dtype=np.int64)
    return [assignment[d] for d in as_dtrajs(dtrajs, assignment.size)]


def exit_tallies(sets: Any, behaviour_paths: Any, n_behaviours: int) -> tuple[np.ndarray, np.ndarray]:
    r"""Per-trace counts ``(n_traces, 2, n_behaviours)`` of [stay, exit] steps by behaviour, and undefined steps.

    Examples
    --------
    >>> T, u = exit_tallies([[0, 0, 1, -1]], [[0, 1, 2, 0]], 3)
    >>> T[0].tolist(), u.tolist()
    ([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], [1])
    """
    n = positive_int(n_behaviours, "n_behaviours")
    sets = [np.asarray(s, dtype=np.int64) for s in sets]
    beh = as_dtrajs(behaviour_paths, n, what="behaviour_paths")
    if [s.size for s in sets] != [b.size for b in beh]:
        raise InvalidArgumentError("sets and behaviour_paths must have the same number of traces and lengths")
    T = np.zeros((len(sets), 2, n))
    undefined = np.zeros(len(sets), dtype=np.int64)
    for m, (s, b) in enumerate(zip(sets, beh, strict=True)):
        if s.size < 2:
            continue
        ok = (s[1:] >= 0) & (s[:-1] >= 0)
        undefined[m] = int((~ok).sum())
        moved = (s[1:] != s[:-1]).astype(np.int64)
        np.add.at(T[m], (moved[ok], b[1:][ok]), 1.0)
    return T, undefined


@dataclass(frozen=True, eq=False)
class ExitEnrichment:
    r"""Behaviours of exiting against staying steps.

    Attributes
    ----------
    table : ndarray, shape (2, n_behaviours)
        Pooled counts: row 0 staying steps, row 1 exiting steps.
    ratio : ndarray, shape (n_behaviours,)
        :math:`R_b` of the pooled table.
    ratio_boot : ndarray, shape (n_boot, n_behaviours)
    chi2, p_value : float
        Pearson's test of independence on ``table`` (columns with no steps dropped).
    undefined : int
        Steps whose own or previous microstate lies outside the active set.
    """

    table: np.ndarray
    ratio: np.ndarray
    ratio_boot: np.ndarray
    chi2: float
    p_value: float
    undefined: int

    @property
    def exit_rate(self) -> float:
        """Share of defined steps that exit."""
        return float(self.table[1].sum() / self.table.sum()) if self.table.sum() else float("nan")

    def interval(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Percentile interval of every :math:`R_b`."""
        if not 0 < level < 1:
            raise InvalidArgumentError(f"level must lie in (0, 1), got {level!r}")
        lo, hi = np.nanquantile(self.ratio_boot, [(1 - level) / 2, (1 + level) / 2], axis=0)
        return lo, hi


def _ratio(T: np.ndarray) -> np.ndarray:
    """Risk ratios of stacked tables ``(..., 2, n)``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        share = T / T.sum(axis=-1, keepdims=True)
        return share[..., 1, :] / share[..., 0, :]


def exit_enrichment(sets: Sequence[np.ndarray], behaviour_paths: Any, n_behaviours: int, *,
                    n_boot: int = 1000, seed: Any = 0, weights: np.ndarray | None = None) -> ExitEnrichment:
    """Enrichment of each behaviour among exiting steps (see the module docstring).

    Parameters
    ----------
    sets : sequence of 1-D int arrays
        Metastable set of every step (:func:`set_paths`).
    behaviour_paths : sequence of 1-D int arrays
        Behaviour index of every step, same lengths.
    n_behaviours : int
    n_boot : int
        Trace-bootstrap replicates; ignored when ``weights`` is given.
    seed : int or numpy.random.Generator
    weights : ndarray, shape (n_boot, n_traces), optional
    """
    T, undefined = exit_tallies(sets, behaviour_paths, n_behaviours)
    if weights is None:
        W = bootstrap_weights(len(T), positive_int(n_boot, "n_boot"), as_rng(seed))
    else:
        W = np.asarray(weights, dtype=np.float64)
        if W.ndim != 2 or W.shape[1] != len(T):
            raise InvalidArgumentError(f"weights must have shape (n_boot, {len(T)}), got {W.shape}")
    table = T.sum(axis=0)
    boot = (W @ T.reshape(len(T), -1)).reshape(W.shape[0], 2, -1)
    keep = table.sum(axis=0) > 0
    if keep.sum() >= 2 and (table.sum(axis=1) > 0).all():
        chi2, p, _, _ = scipy.stats.chi2_contingency(table[:, keep], correction=False)
    else:
        chi2, p = float("nan"), float("nan")
    return ExitEnrichment(readonly(table), readonly(_ratio(table)), readonly(_ratio(boot)), float(chi2), float(p),
                          int(undefined.sum()))
