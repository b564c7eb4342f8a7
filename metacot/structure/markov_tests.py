r"""Is a set of label sequences a (homogeneous) Markov chain? Order and homogeneity tests.

The sequences are many, of different lengths, over any finite alphabet (behaviours, microstates,
words). Every test here is a likelihood-ratio (:math:`G^2`) test of *conditional independence* in
a pooled count table, the classical route of Anderson & Goodman (1957, *Ann. Math. Statist.* 28)
and Billingsley (1961, *Statistical Inference for Markov Processes*):

* **order** :math:`k` against :math:`k+1` (:func:`order_test`): is the next symbol :math:`b`
  independent of the symbol :math:`u` one further back, given the last :math:`k` symbols
  :math:`h`? With :math:`N(h, u, b)` the pooled counts of the transitions :math:`t \ge k+1`,

  .. math:: G^2 = 2 \sum_{h,u,b} N(h,u,b) \log \frac{N(h,u,b)\, N(h,\cdot,\cdot)}{N(h,u,\cdot)\, N(h,\cdot,b)};

* **homogeneity across groups** (:func:`homogeneity_test`: teachers, problems, domains): the
  same statistic with :math:`u` the group of the sequence and :math:`h` the current state (the
  first-order rows :math:`P_g(i, \cdot)` are equal across groups :math:`g`);
* **homogeneity over position** (:func:`position_test`): :math:`u` the part of the trace (early or
  late half) in which the transition happens.

Under the null, :math:`G^2` is asymptotically :math:`\chi^2` with the degrees of freedom below
(the likelihood factorises over transitions given the current history, so dependence within a
sequence is accounted for).

**Degrees of freedom with structural zeros (our rule).** For every stratum :math:`h` the table
:math:`u \times b` has :math:`R_h` rows with a positive total (histories or groups actually seen
in that stratum) and :math:`C_h` columns with a positive total (successors actually seen); rows
and columns with a zero margin carry no parameter under either hypothesis, so

.. math:: \mathrm{df} = \sum_h (R_h - 1)(C_h - 1).

Zero cells *inside* the table are kept (they are sampling zeros: under the null every row of a
stratum has the same successor law). This is the usual rule for incomplete tables (Bishop,
Fienberg & Holland 1975, §5.1); the calibration tests in ``tests/structure`` check it by
simulation, including chains with forbidden transitions.

:func:`order_scores` gives AIC and BIC of orders :math:`0..K` on a common set of transitions
(:math:`t \ge K`, as in Tong 1975 and Katz 1981), with the free parameters counted by the same
observed-support rule, :math:`\sum_h (C_h - 1)`. Held-out comparisons against duration models are
in :mod:`metacot.structure.markov_models`.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> seqs = [rng.integers(0, 2, 200) for _ in range(5)]   # i.i.d.: order 0
>>> order_test(seqs, 0).p_value > 0.01
True
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.stats

from metacot._checks import as_rng, positive_int, readonly
from metacot.errors import InvalidArgumentError

__all__ = [
    "EncodedSequences",
    "MarkovTestResult",
    "OrderScores",
    "conditional_g_test",
    "encode_sequences",
    "homogeneity_test",
    "order_scores",
    "order_test",
    "order_tests",
    "position_test",
    "transitions",
]

#: Largest number of order-:math:`k` contexts :math:`m^{k+1}` the integer coding may form.
MAX_CONTEXTS = 2**62


@dataclass(frozen=True)
class EncodedSequences:
    """Sequences as integer codes ``0..m-1`` and the alphabet the codes index."""

    codes: tuple[np.ndarray, ...]
    alphabet: tuple[Hashable, ...]

    @property
    def m(self) -> int:
        """Size of the alphabet."""
        return len(self.alphabet)

    @property
    def lengths(self) -> np.ndarray:
        """Length of every sequence."""
        return np.array([c.size for c in self.codes], dtype=np.int64)


@dataclass(frozen=True)
class MarkovTestResult:
    r"""Outcome of one :math:`G^2` test.

    Attributes
    ----------
    name : str
        Which test, e.g. ``"order 1 vs 2"``.
    statistic : float
        :math:`G^2`.
    df : int
        Degrees of freedom by the rule of the module docstring.
    p_value : float
        :math:`\Pr(\chi^2_{\mathrm{df}} \ge G^2)`, or the permutation p-value when
        ``n_permutations > 0`` was asked for; 1.0 when ``df == 0`` (nothing to test).
    n_transitions : int
        Transitions in the table.
    method : str
        ``"chi2"`` or ``"permutation (n)"``.
    williams_q : float
        Williams' correction :math:`q \ge 1` the :math:`\chi^2` p-value divided :math:`G^2` by
        (1.0 when switched off).
    """

    name: str
    statistic: float
    df: int
    p_value: float
    n_transitions: int
    method: str = "chi2"
    williams_q: float = 1.0

    def rejects(self, alpha: float = 0.05) -> bool:
        """True if the null is rejected at level ``alpha``."""
        return bool(self.p_value < alpha)


def encode_sequences(sequences: Any, alphabet: Sequence[Hashable] | None = None) -> EncodedSequences:
    r"""Label sequences as integer codes.

    Parameters
    ----------
    sequences : iterable of sequences, or an :class:`EncodedSequences` (returned as is)
        Each a 1-D sequence of hashable labels (ints, strings, :class:`~metacot.behaviours.Behaviour`).
        Empty sequences are kept (they hold no transition).
    alphabet : sequence of hashable, optional
        The labels in code order. By default the distinct labels seen, sorted (by their string
        form when they are not all numbers).

    Raises
    ------
    InvalidArgumentError
        No sequences, a sequence that is not 1-D, or a label outside ``alphabet`` (naming the
        sequence and position).

    Examples
    --------
    >>> e = encode_sequences([["b", "a", "b"], ["a"]])
    >>> e.alphabet, [c.tolist() for c in e.codes]
    (('a', 'b'), [[1, 0, 1], [0]])
    """
    if isinstance(sequences, EncodedSequences):
        return sequences
    if isinstance(sequences, (str, bytes)) or not isinstance(sequences, Iterable):
        raise InvalidArgumentError(f"sequences must be an iterable of label sequences, got {type(sequences).__name__}")
    raw = []
    for n, s in enumerate(sequences):
        # Object arrays keep labels such as Behaviour members as they are (no cast to str).
        a = s if isinstance(s, np.ndarray) else np.array(list(s), dtype=object)
        if a.ndim != 1:
            raise InvalidArgumentError(f"sequence {n} must be 1-D, got shape {a.shape}")
        raw.append(a)
    if not raw:
        raise InvalidArgumentError("no sequences")
    if alphabet is None:
        seen = set()
        for a in raw:
            seen.update(a.tolist())
        if all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in seen):
            alphabet = sorted(seen)
        else:
            alphabet = sorted(seen, key=str)
    alphabet = tuple(alphabet)
    if len(set(alphabet)) != len(alphabet):
        raise InvalidArgumentError(f"alphabet has repeated labels: {list(alphabet)!r:.200}")
    index = {x: i for i, x in enumerate(alphabet)}
    codes = []
    for n, a in enumerate(raw):
        try:
            codes.append(np.fromiter((index[x] for x in a.tolist()), dtype=np.int64, count=a.size))
        except KeyError:
            t = next(i for i, x in enumerate(a.tolist()) if x not in index)
            raise InvalidArgumentError(
                f"sequence {n}, position {t}: label {a[t]!r} is not in the alphabet {list(alphabet)!r:.200}"
            ) from None
    return EncodedSequences(codes=tuple(readonly(c) for c in codes), alphabet=alphabet)


def transitions(enc: EncodedSequences, order: int, first: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Every transition :math:`t \ge` ``first`` with its order-``order`` context, pooled over sequences.

    The context of position :math:`t` is :math:`c_t = \sum_{j=1}^{k} x_{t-j}\, m^{j-1}` (the most
    recent symbol is the lowest digit), so ``c % m**j`` is the context of order :math:`j \le k`.

    Returns
    -------
    context, nxt, seq : ndarray of int64
        Context code, next symbol :math:`x_t` and sequence index of every transition.
    """
    k = positive_int(order, "order", minimum=0)
    first = k if first is None else positive_int(first, "first", minimum=0)
    if first < k:
        raise InvalidArgumentError(f"first ({first}) must be at least the order ({k})")
    m = enc.m
    if float(m) ** (k + 1) >= MAX_CONTEXTS:
        raise InvalidArgumentError(f"order {k} over {m} symbols has too many contexts to code in 64 bits")
    ctx, nxt, seq = [], [], []
    weights = m ** np.arange(k, dtype=np.int64)
    for n, x in enumerate(enc.codes):
        if x.size <= first:
            continue
        t = np.arange(first, x.size)
        c = np.zeros(t.size, dtype=np.int64)
        for j in range(1, k + 1):
            c += x[t - j] * weights[j - 1]
        ctx.append(c)
        nxt.append(x[t])
        seq.append(np.full(t.size, n, dtype=np.int64))
    if not ctx:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    return np.concatenate(ctx), np.concatenate(nxt), np.concatenate(seq)


def conditional_g_test(
    stratum: Any, row: Any, col: Any, name: str = "conditional independence", *, williams: bool = False
) -> MarkovTestResult:
    r"""The :math:`G^2` test that ``col`` is independent of ``row`` given ``stratum``, from raw triples.

    One triple per observation (a transition). The statistic and the degrees of freedom are those
    of the module docstring; strata with one row or one column contribute nothing.

    With ``williams=True`` the p-value is that of :math:`G^2 / q`, Williams' (1976, *Biometrika*
    63) correction summed over strata,

    .. math:: q = 1 + \frac{1}{\mathrm{df}} \sum_h \frac{(n_h \sum_u n_{hu}^{-1} - 1)
              (n_h \sum_b n_{hb}^{-1} - 1)}{6\, n_h},

    which matches the mean of :math:`G^2` to its :math:`O(1/n)` expansion. It is off by default.
    Measured at level 0.05 over 1,000 simulated data sets (3 states): the order-3 test of a
    first-order chain (120 sequences of 60-100 steps) rejects 6.4% of the time uncorrected and
    4.8% corrected, but when some contexts are rare (an order-2 chain with probabilities near 0)
    the correction overshoots, 0.3% against 5.7% uncorrected, because a margin of 1 makes
    :math:`q` large.

    Examples
    --------
    >>> r = conditional_g_test([0, 0, 0, 0], [0, 0, 1, 1], [0, 1, 0, 1])
    >>> r.statistic, r.df
    (0.0, 1)
    """
    s = np.asarray(stratum, dtype=np.int64)
    r = np.asarray(row, dtype=np.int64)
    c = np.asarray(col, dtype=np.int64)
    if not (s.shape == r.shape == c.shape) or s.ndim != 1:
        raise InvalidArgumentError("stratum, row and col must be 1-D arrays of one length")
    n = int(s.size)
    if n == 0:
        return MarkovTestResult(name, 0.0, 0, 1.0, 0)
    G, df, q = _g_and_df(s, r, c)
    q = q if williams else 1.0
    p = float(scipy.stats.chi2.sf(G / q, df)) if df > 0 else 1.0
    return MarkovTestResult(name, G, df, p, n, williams_q=q)


def _g_and_df(s: np.ndarray, r: np.ndarray, c: np.ndarray) -> tuple[float, int, float]:
    """:math:`G^2`, its degrees of freedom and Williams' :math:`q` for triples (stratum, row, col)."""
    # Dense re-indexing of each factor keeps the joint codes small whatever the raw codes are.
    _, s = np.unique(s, return_inverse=True)
    _, r = np.unique(r, return_inverse=True)
    _, c = np.unique(c, return_inverse=True)
    nr, nc = int(r.max()) + 1, int(c.max()) + 1
    cell, n_cell = np.unique((s * nr + r) * nc + c, return_counts=True)
    cs, cr, cc = cell // (nr * nc), (cell // nc) % nr, cell % nc
    # Margins looked up for every non-empty cell.
    key_sr = cs * nr + cr
    key_sc = cs * nc + cc
    u_sr, inv_sr = np.unique(key_sr, return_inverse=True)
    u_sc, inv_sc = np.unique(key_sc, return_inverse=True)
    u_s, inv_s = np.unique(cs, return_inverse=True)
    m_sr = np.bincount(inv_sr, weights=n_cell)
    m_sc = np.bincount(inv_sc, weights=n_cell)
    m_s = np.bincount(inv_s, weights=n_cell)
    ratio = n_cell * m_s[inv_s] / (m_sr[inv_sr] * m_sc[inv_sc])
    G = float(2.0 * np.sum(n_cell * np.log(ratio)))
    # R_h and C_h: distinct rows and columns with a positive margin in each stratum.
    R = np.bincount(u_sr // nr, minlength=u_s.max() + 1)[u_s]
    C = np.bincount(u_sc // nc, minlength=u_s.max() + 1)[u_s]
    df = int(np.sum((R - 1) * (C - 1)))
    # Williams (1976) term per stratum: (n sum 1/n_r - 1)(n sum 1/n_c - 1) / (6 n), with margins > 0.
    inv_r = np.bincount(u_sr // nr, weights=1.0 / m_sr, minlength=u_s.max() + 1)[u_s]
    inv_c = np.bincount(u_sc // nc, weights=1.0 / m_sc, minlength=u_s.max() + 1)[u_s]
    live = (R > 1) & (C > 1)
    w = np.sum(((m_s * inv_r - 1) * (m_s * inv_c - 1) / (6 * m_s))[live])
    q = 1.0 + w / df if df > 0 else 1.0
    return max(G, 0.0), df, float(q)


def order_test(sequences: Any, k: int) -> MarkovTestResult:
    r"""Likelihood-ratio test of order :math:`k` (null) against order :math:`k+1`.

    Uses the transitions :math:`t \ge k+1` of every sequence (shorter sequences contribute none).

    Parameters
    ----------
    sequences : iterable of label sequences, or EncodedSequences
    k : int
        The null order, :math:`\ge 0`.

    Examples
    --------
    >>> seqs = [[0, 1] * 50, [1, 0] * 50]          # deterministic alternation: order 1
    >>> order_test(seqs, 0).p_value < 1e-10, order_test(seqs, 1).df
    (True, 0)
    """
    enc = encode_sequences(sequences)
    k = positive_int(k, "k", minimum=0)
    ctx, nxt, _ = transitions(enc, k + 1)
    mk = enc.m**k
    return conditional_g_test(ctx % mk, ctx // mk, nxt, name=f"order {k} vs {k + 1}")


def order_tests(sequences: Any, max_order: int = 3) -> list[MarkovTestResult]:
    """:func:`order_test` for :math:`k = 0, \\dots,` ``max_order``."""
    enc = encode_sequences(sequences)
    return [order_test(enc, k) for k in range(positive_int(max_order, "max_order", minimum=0) + 1)]


@dataclass(frozen=True)
class OrderScores:
    r"""Log-likelihood, free parameters, AIC and BIC of Markov orders :math:`0..K` on common transitions.

    Attributes
    ----------
    orders, loglik, n_params, aic, bic : ndarray
        One entry per order. ``aic`` is :math:`-2\ell + 2p`, ``bic`` is :math:`-2\ell + p \log n`.
    n_transitions : int
        :math:`n`, the transitions :math:`t \ge K` scored by every order.
    """

    orders: np.ndarray
    loglik: np.ndarray
    n_params: np.ndarray
    aic: np.ndarray
    bic: np.ndarray
    n_transitions: int

    @property
    def best_aic(self) -> int:
        """Order with the smallest AIC."""
        return int(self.orders[np.argmin(self.aic)])

    @property
    def best_bic(self) -> int:
        """Order with the smallest BIC."""
        return int(self.orders[np.argmin(self.bic)])


def order_scores(sequences: Any, max_order: int = 3) -> OrderScores:
    r"""AIC and BIC of the Markov chains of orders :math:`0..K` (``max_order``).

    Every order is scored on the same transitions :math:`t \ge K`, by its maximum likelihood
    :math:`\ell_k = \sum_{h,b} N(h,b) \log\bigl(N(h,b)/N(h,\cdot)\bigr)`, with
    :math:`p_k = \sum_h (C_h - 1)` free parameters (:math:`C_h` the successors seen after context
    :math:`h`).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> order_scores([rng.integers(0, 3, 300) for _ in range(4)], 2).best_bic
    0
    """
    enc = encode_sequences(sequences)
    K = positive_int(max_order, "max_order", minimum=0)
    ctx, nxt, _ = transitions(enc, K)
    n = int(ctx.size)
    if n == 0:
        raise InvalidArgumentError(f"no sequence is longer than {K} symbols: nothing to score at order {K}")
    ll, npar = [], []
    for k in range(K + 1):
        cells, n_cell = np.unique((ctx % enc.m**k) * enc.m + nxt, return_counts=True)
        _, inv_h = np.unique(cells // enc.m, return_inverse=True)
        n_h = np.bincount(inv_h, weights=n_cell)
        ll.append(float(np.sum(n_cell * np.log(n_cell / n_h[inv_h]))))
        npar.append(int(np.sum(np.bincount(inv_h) - 1)))  # C_h - 1 per context seen
    ll_a, p_a = np.array(ll), np.array(npar)
    return OrderScores(
        orders=np.arange(K + 1), loglik=ll_a, n_params=p_a,
        aic=-2 * ll_a + 2 * p_a, bic=-2 * ll_a + p_a * np.log(n), n_transitions=n,
    )


def _group_codes(groups: Sequence[Hashable], n_seq: int) -> np.ndarray:
    if len(groups) != n_seq:
        raise InvalidArgumentError(f"groups has {len(groups)} entries for {n_seq} sequences")
    _, g = np.unique(np.array([str(x) for x in groups]), return_inverse=True)
    return g.astype(np.int64)


def homogeneity_test(
    sequences: Any, groups: Sequence[Hashable], order: int = 1, *, n_permutations: int = 0, seed: Any = None
) -> MarkovTestResult:
    r"""Are the order-``order`` transition laws the same in every group (teacher, problem, domain)?

    The :math:`G^2` test of :math:`b \perp g \mid h` with :math:`g` the group of the sequence and
    :math:`h` its last ``order`` symbols, on the transitions :math:`t \ge` ``order``.

    Parameters
    ----------
    sequences : iterable of label sequences, or EncodedSequences
    groups : sequence of hashable
        One group per sequence (compared by their string form).
    order : int
        Order of the chains compared; 1 by default (rows of :math:`P`).
    n_permutations : int
        If positive, the p-value is the Monte Carlo permutation p-value
        :math:`(1 + \#\{G^2_\pi \ge G^2\}) / (1 + n)`, with the group labels permuted across
        sequences (exact in finite samples when sequences are exchangeable under the null; use it
        when groups are many and small, e.g. problems, where the :math:`\chi^2` law is poor).
    seed : int or Generator
        For the permutations.

    Examples
    --------
    >>> rng = np.random.default_rng(2)
    >>> seqs = [rng.integers(0, 2, 100) for _ in range(6)]
    >>> homogeneity_test(seqs, ["a", "b"] * 3).df
    2
    """
    enc = encode_sequences(sequences)
    order = positive_int(order, "order", minimum=0)
    g = _group_codes(list(groups), len(enc.codes))
    ctx, nxt, seq = transitions(enc, order)
    res = conditional_g_test(ctx, g[seq], nxt, name=f"homogeneity across groups (order {order})")
    n_perm = positive_int(n_permutations, "n_permutations", minimum=0)
    if n_perm == 0 or res.df == 0:
        return res
    rng = as_rng(0 if seed is None else seed)
    exceed = 0
    for _ in range(n_perm):
        G = _g_and_df(ctx, rng.permutation(g)[seq], nxt)[0]
        exceed += G >= res.statistic - 1e-9 * max(1.0, res.statistic)
    p = (1 + exceed) / (1 + n_perm)
    return MarkovTestResult(res.name, res.statistic, res.df, p, res.n_transitions, f"permutation ({n_perm})", res.williams_q)


def position_test(sequences: Any, n_parts: int = 2, order: int = 1) -> MarkovTestResult:
    r"""Is the chain homogeneous in time? Early against late transitions of each trace.

    The transition into position :math:`t` (:math:`1 \le t \le n-1`) of a sequence of length
    :math:`n` falls in part :math:`\lfloor (t-1)\, n_{\mathrm{parts}} / (n-1) \rfloor`; with two
    parts, the first and the second half of the trace's transitions. The test is
    :math:`b \perp \text{part} \mid h` as in :func:`homogeneity_test`.

    Examples
    --------
    >>> seqs = [[0] * 50 + [0, 1] * 25, [0] * 50 + [1, 0] * 25]
    >>> position_test(seqs).p_value < 1e-6
    True
    """
    enc = encode_sequences(sequences)
    n_parts = positive_int(n_parts, "n_parts", minimum=2)
    order = positive_int(order, "order", minimum=0)
    first = max(order, 1)
    ctx, nxt, seq = transitions(enc, order, first=first)
    lengths = enc.lengths
    # Position t of each transition, recovered from the sequence index (transitions are in order).
    starts = np.concatenate([[0], np.cumsum(np.maximum(lengths[lengths > first] - first, 0))])[:-1]
    owners = np.flatnonzero(lengths > first)
    offset = np.zeros(lengths.size, dtype=np.int64)
    offset[owners] = starts
    t = np.arange(seq.size) - offset[seq] + first
    part = np.minimum((t - 1) * n_parts // np.maximum(lengths[seq] - 1, 1), n_parts - 1)
    return conditional_g_test(ctx, part, nxt, name=f"homogeneity over position ({n_parts} parts, order {order})")
