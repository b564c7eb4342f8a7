r"""Predictive models of label sequences compared by held-out log-likelihood: order-k chains and a semi-Markov model.

Every model here gives the probability of each symbol given the past,
:math:`p(x_t \mid x_{<t})` for :math:`t \ge 1` (the first symbol is not scored), so their
log-likelihoods on the same held-out sequences are directly comparable, whatever their number of
parameters. :func:`heldout_loglik` fits each model on :math:`K-1` folds of the *sequences* and
scores the held-out fold; :func:`compare_heldout` summarises one model against a baseline with a
bootstrap over sequences.

* :class:`MarkovModel` (order :math:`k`): the next symbol given the last :math:`\min(k, t)`
  symbols, smoothed hierarchically (each order's counts shrunk towards the next lower order,
  the interpolated Dirichlet of MacKay & Peto 1995, *Natural Language Engineering* 1):

  .. math:: p_j(b \mid h_j) = \frac{N(h_j, b) + \beta\, p_{j-1}(b \mid h_{j-1})}{N(h_j) + \beta},
            \qquad p_0(b) = \frac{N(b) + 1/2}{N + m/2}.

* :class:`SemiMarkovModel`: runs of equal symbols with a per-state, age-dependent probability of
  leaving (the discrete hazard :math:`\lambda_s(a) = \Pr(D = a \mid D \ge a)` of the dwell time
  :math:`D`) and a jump chain :math:`J(s' \mid s)`, :math:`s' \ne s`, for where the run goes:

  .. math:: p(x_t = s \mid \text{run of } s \text{ of age } a) = 1 - \lambda_s(a), \qquad
            p(x_t = s' \ne s \mid \cdot) = \lambda_s(a)\, J(s' \mid s).

  The hazard is smoothed towards the state's constant leaving rate,
  :math:`\lambda_s(a) = (L_s(a) + \beta \bar\lambda_s)/(R_s(a) + \beta)` (ages beyond
  ``max_age`` pooled), so a first-order chain is the special case of a constant hazard
  (geometric dwell times): the comparison asks whether real dwell times are geometric.

Examples
--------
>>> seqs = [[0, 0, 0, 1, 1, 1] * 5, [1, 1, 1, 0, 0, 0] * 5] * 4
>>> ll = heldout_loglik(seqs, {"order 1": MarkovModel(1), "semi-Markov": SemiMarkovModel()}, folds=2, seed=0)
>>> bool(ll["semi-Markov"].sum() > ll["order 1"].sum())   # dwell times of exactly 3
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from metacot._checks import as_rng, positive_int
from metacot.errors import InvalidArgumentError
from metacot.structure.markov_tests import EncodedSequences, encode_sequences

__all__ = ["HeldoutComparison", "MarkovModel", "SemiMarkovModel", "compare_heldout", "heldout_loglik", "run_ages"]


def run_ages(x: np.ndarray) -> np.ndarray:
    """Age of the current run at every position: 1 at a run's first symbol, then 2, 3, ...

    Examples
    --------
    >>> run_ages(np.array([4, 4, 1, 1, 1, 4])).tolist()
    [1, 2, 1, 2, 3, 1]
    """
    x = np.asarray(x)
    if x.size == 0:
        return np.zeros(0, dtype=np.int64)
    new = np.ones(x.size, dtype=bool)
    new[1:] = x[1:] != x[:-1]
    starts = np.flatnonzero(new)
    idx = np.arange(x.size)
    return idx - starts[np.searchsorted(starts, idx, side="right") - 1] + 1


class MarkovModel:
    r"""Order-:math:`k` chain with hierarchical Dirichlet smoothing (concentration ``beta``).

    Parameters
    ----------
    order : int
        :math:`k \ge 0`.
    beta : float
        Strength of the shrinkage towards the lower order, in pseudo-transitions.
    """

    def __init__(self, order: int, beta: float = 2.0) -> None:
        self.order = positive_int(order, "order", minimum=0)
        if not float(beta) > 0:
            raise InvalidArgumentError(f"beta must be > 0, got {beta!r}")
        self.beta = float(beta)
        self.tables: list[np.ndarray] = []
        self.m = 0

    def fit(self, enc: EncodedSequences) -> MarkovModel:
        m, k = enc.m, self.order
        if float(m) ** (k + 1) > 5e7:
            raise InvalidArgumentError(f"order {k} over {m} symbols needs a table of {m ** (k + 1)} cells")
        self.m = m
        self.tables = [np.zeros((m**j, m)) for j in range(k + 1)]
        for x in enc.codes:
            for j in range(k + 1):
                if x.size > j:
                    c = _contexts(x, j, m)
                    np.add.at(self.tables[j], (c, x[j:]), 1.0)
        return self

    def logprob(self, x: np.ndarray) -> float:
        """:math:`\\sum_{t \\ge 1} \\log p(x_t \\mid x_{<t})` of one coded sequence."""
        if x.size < 2:
            return 0.0
        m, beta = self.m, self.beta
        t = np.arange(1, x.size)
        b = x[1:]
        N0 = self.tables[0][0]
        p = (N0[b] + 0.5) / (N0.sum() + 0.5 * m)
        level = np.minimum(t, self.order)
        for j in range(1, self.order + 1):
            use = level >= j
            c = _contexts(x, j, m)[t[use] - j]  # context of position t at order j
            N = self.tables[j]
            p[use] = (N[c, b[use]] + beta * p[use]) / (N[c].sum(axis=1) + beta)
        return float(np.sum(np.log(p)))


class SemiMarkovModel:
    r"""Runs with age-dependent leaving probabilities (dwell hazards) and a jump chain.

    Parameters
    ----------
    max_age : int
        Ages :math:`\ge` ``max_age`` share one hazard.
    beta : float
        Shrinkage of each age's hazard towards the state's constant rate, in pseudo-steps.
    """

    def __init__(self, max_age: int = 20, beta: float = 2.0) -> None:
        self.max_age = positive_int(max_age, "max_age")
        if not float(beta) > 0:
            raise InvalidArgumentError(f"beta must be > 0, got {beta!r}")
        self.beta = float(beta)

    def fit(self, enc: EncodedSequences) -> SemiMarkovModel:
        m, A = enc.m, self.max_age
        leave = np.zeros((m, A + 1))
        risk = np.zeros((m, A + 1))
        jump = np.zeros((m, m))
        for x in enc.codes:
            if x.size < 2:
                continue
            s, a = x[:-1], np.minimum(run_ages(x)[:-1], A)
            moved = x[1:] != s
            np.add.at(risk, (s, a), 1.0)
            np.add.at(leave, (s, a), moved.astype(float))
            np.add.at(jump, (s[moved], x[1:][moved]), 1.0)
        rate = (leave.sum(axis=1) + 0.5) / (risk.sum(axis=1) + 1.0)
        self.hazard = (leave + self.beta * rate[:, None]) / (risk + self.beta)
        off = 1.0 - np.eye(m)
        self.jump = (jump + 0.5 * off) * off
        rows = self.jump.sum(axis=1, keepdims=True)
        self.jump = np.divide(self.jump, rows, out=np.zeros_like(self.jump), where=rows > 0)
        self.m = m
        return self

    def logprob(self, x: np.ndarray) -> float:
        """:math:`\\sum_{t \\ge 1} \\log p(x_t \\mid x_{<t})` of one coded sequence."""
        if x.size < 2:
            return 0.0
        s, a = x[:-1], np.minimum(run_ages(x)[:-1], self.max_age)
        lam = self.hazard[s, a]
        moved = x[1:] != s
        p = np.where(moved, lam * self.jump[s, x[1:]], 1.0 - lam)
        return float(np.sum(np.log(p)))


def _contexts(x: np.ndarray, j: int, m: int) -> np.ndarray:
    """Order-``j`` context codes of positions ``j..n-1`` (most recent symbol = lowest digit)."""
    n = x.size - j
    c = np.zeros(max(n, 0), dtype=np.int64)
    for i in range(1, j + 1):
        c += x[j - i : j - i + n] * m ** (i - 1)
    return c


def heldout_loglik(sequences, models: Mapping[str, object], folds: int = 5, seed=0) -> dict[str, np.ndarray]:
    r"""Held-out log-likelihood of every sequence under every model, by :math:`K`-fold over sequences.

    Sequences are dealt to ``folds`` folds by a seeded permutation; each model is fitted on the
    other folds and scores the held-out ones, so every sequence is scored exactly once, by a model
    that never saw it.

    Parameters
    ----------
    sequences : iterable of label sequences, or EncodedSequences
    models : mapping name -> model
        Objects with ``fit(EncodedSequences)`` and ``logprob(codes)`` (:class:`MarkovModel`,
        :class:`SemiMarkovModel`); refitted per fold.
    folds : int
        :math:`K \ge 2`, at most the number of sequences.
    seed : int or Generator

    Returns
    -------
    dict name -> ndarray, shape (n_sequences,)
        :math:`\sum_{t \ge 1} \log p(x_t \mid x_{<t})` of each held-out sequence.
    """
    enc = encode_sequences(sequences)
    n = len(enc.codes)
    folds = positive_int(folds, "folds", minimum=2)
    if folds > n:
        raise InvalidArgumentError(f"folds ({folds}) exceeds the number of sequences ({n})")
    fold_of = np.empty(n, dtype=np.int64)
    fold_of[as_rng(seed).permutation(n)] = np.arange(n) % folds
    out = {name: np.zeros(n) for name in models}
    for f in range(folds):
        train = EncodedSequences(tuple(c for c, g in zip(enc.codes, fold_of) if g != f), enc.alphabet)
        test = np.flatnonzero(fold_of == f)
        for name, model in models.items():
            model.fit(train)
            out[name][test] = [model.logprob(enc.codes[i]) for i in test]
    return out


@dataclass(frozen=True)
class HeldoutComparison:
    r"""A model against a baseline on held-out sequences.

    Attributes
    ----------
    model, baseline : str
    gain : float
        :math:`\sum_i (\ell_i^{\text{model}} - \ell_i^{\text{baseline}})`, nats over all held-out sequences.
    gain_per_step : float
        ``gain`` divided by the scored transitions.
    low, high : float
        Percentile bootstrap interval of ``gain`` (sequences resampled), at ``level``.
    level : float
    n_steps : int
    """

    model: str
    baseline: str
    gain: float
    gain_per_step: float
    low: float
    high: float
    level: float
    n_steps: int


def compare_heldout(
    ll: Mapping[str, np.ndarray], lengths, model: str, baseline: str, *, n_boot: int = 2000,
    level: float = 0.95, seed=0,
) -> HeldoutComparison:
    r"""Held-out gain of ``model`` over ``baseline`` with a bootstrap interval over sequences.

    Examples
    --------
    >>> ll = {"a": np.array([-1.0, -2.0, -3.0]), "b": np.array([-1.5, -2.5, -3.5])}
    >>> c = compare_heldout(ll, [3, 3, 3], "a", "b", n_boot=200)
    >>> c.gain, c.low, c.high, c.n_steps
    (1.5, 1.5, 1.5, 6)
    """
    for name in (model, baseline):
        if name not in ll:
            raise InvalidArgumentError(f"no held-out log-likelihoods for {name!r}; have {sorted(ll)}")
    d = np.asarray(ll[model]) - np.asarray(ll[baseline])
    n_steps = int(np.sum(np.maximum(np.asarray(lengths) - 1, 0)))
    rng = as_rng(seed)
    n_boot = positive_int(n_boot, "n_boot")
    idx = rng.integers(0, d.size, size=(n_boot, d.size))
    boots = d[idx].sum(axis=1)
    lo, hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
    gain = float(d.sum())
    return HeldoutComparison(model, baseline, gain, gain / max(n_steps, 1), float(lo), float(hi), level, n_steps)
