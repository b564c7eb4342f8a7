"""Order and homogeneity tests: closed-form cases, errors, and calibration under each null by simulation.

Calibration: at level 0.05 the share of the 400 null replicates that reject must fall inside the
two-sided 99% binomial band of Binomial(400, 0.05), i.e. 10..30 rejections (seeds fixed below).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from metacot.errors import InvalidArgumentError
from metacot.structure import markov_tests as mt

ALPHA = 0.05
REPS = 400
LO, HI = (int(x) for x in scipy.stats.binom.interval(0.99, REPS, ALPHA))


def simulate_order(P: np.ndarray, m: int, order: int, n_seq: int, length, rng) -> list[np.ndarray]:
    """Sequences of an order-``order`` chain; ``P[c]`` is the law of x_t given context code c
    (most recent symbol = lowest digit), the first ``order`` symbols uniform. ``length`` int or (lo, hi)."""
    lengths = np.full(n_seq, length) if np.isscalar(length) else rng.integers(length[0], length[1] + 1, n_seq)
    L = int(lengths.max())
    x = np.zeros((n_seq, L), dtype=np.int64)
    x[:, :order] = rng.integers(0, m, (n_seq, order))
    cdf = np.cumsum(P, axis=1)
    cdf[:, -1] = 1.0
    u = rng.random((n_seq, L))
    w = m ** np.arange(order)
    for t in range(order, L):
        c = sum(x[:, t - j] * w[j - 1] for j in range(1, order + 1)) if order else np.zeros(n_seq, dtype=np.int64)
        x[:, t] = (u[:, t, None] > cdf[c]).sum(axis=1)
    return [x[i, : lengths[i]] for i in range(n_seq)]


# A 3-state first-order chain with one forbidden transition (2 -> 0): exercises the df rule.
P1 = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.0, 0.4, 0.6]])


def order2_chain(m: int = 3, seed: int = 11) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.ones(m) * 0.7, size=m * m)


# ------------------------------------------------------------------ closed forms and small cases
def test_g_statistic_matches_scipy_on_one_table():
    # One stratum: the G-test of independence of a 2x3 table equals scipy's log-likelihood ratio test.
    table = np.array([[12, 5, 9], [3, 14, 7]])
    rows, cols = np.nonzero(table)
    reps = table[rows, cols]
    r = mt.conditional_g_test(np.zeros(reps.sum()), np.repeat(rows, reps), np.repeat(cols, reps))
    g, p, dof, _ = scipy.stats.chi2_contingency(table, correction=False, lambda_="log-likelihood")
    assert r.statistic == pytest.approx(g, rel=1e-12)
    assert r.p_value == pytest.approx(p, rel=1e-9)
    assert r.df == dof == 2


def test_structural_zero_margins_drop_from_df():
    # Stratum 0: rows {0,1}, columns {0,1,2}; stratum 1: a single row -> 0 df; a column never seen elsewhere.
    s = [0] * 6 + [1] * 3
    r = [0, 0, 0, 1, 1, 1, 2, 2, 2]
    c = [0, 1, 2, 0, 1, 2, 0, 1, 3]
    assert mt.conditional_g_test(s, r, c).df == 2


def test_order_test_by_hand():
    # Order 0 vs 1 on one sequence: G^2 of the 2x2 table of (previous, next).
    x = [0, 0, 1, 1, 0, 1, 0, 0, 1, 1, 1]
    prev, nxt = np.array(x[:-1]), np.array(x[1:])
    table = np.array([[np.sum((prev == a) & (nxt == b)) for b in (0, 1)] for a in (0, 1)])
    g = scipy.stats.chi2_contingency(table, correction=False, lambda_="log-likelihood")[0]
    assert mt.order_test([x], 0).statistic == pytest.approx(g, rel=1e-12)


def test_any_alphabet_and_lengths():
    seqs = [["x", "y", "x"], ("y", "y"), [], ["z"]]
    enc = mt.encode_sequences(seqs)
    assert enc.alphabet == ("x", "y", "z") and enc.lengths.tolist() == [3, 2, 0, 1]
    ctx, nxt, seq = mt.transitions(enc, 1)
    assert list(zip(ctx.tolist(), nxt.tolist(), seq.tolist())) == [(0, 1, 0), (1, 0, 0), (1, 1, 1)]


def test_errors_name_the_place():
    with pytest.raises(InvalidArgumentError, match="sequence 1, position 2"):
        mt.encode_sequences([[0, 1], [0, 1, 5]], alphabet=[0, 1])
    with pytest.raises(InvalidArgumentError, match="no sequences"):
        mt.encode_sequences([])
    with pytest.raises(InvalidArgumentError, match="groups has 1 entries for 2"):
        mt.homogeneity_test([[0, 1], [1, 0]], ["a"])
    with pytest.raises(InvalidArgumentError, match="longer than 3"):
        mt.order_scores([[0, 1]], 3)


def test_position_parts_are_halves():
    # Sequence of length 5 has transitions t = 1..4: parts 0,0,1,1. A change at the midpoint is caught.
    seqs = [[0, 0, 0, 1, 0]] * 40 + [[1, 1, 1, 0, 1]] * 40
    r = mt.position_test(seqs)
    assert r.p_value < 1e-6 and r.n_transitions == 320


# ------------------------------------------------------------------ calibration under the null
def rejection_count(make, test, seed: int) -> int:
    rng = np.random.default_rng(seed)
    return sum(test(make(rng)).p_value < ALPHA for _ in range(REPS))


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_order_test_type_one_error(k):
    # Null of "order k vs k+1": an order-0 chain for k = 0, the first-order chain P1 for k >= 1
    # (a first-order chain is of every order >= 1). Longer sequences for more contexts.
    if k == 0:
        P, order = np.array([[0.5, 0.3, 0.2]]), 0
    else:
        P, order = P1, 1
    n_seq, length = ((30, (20, 60)), (30, (20, 60)), (60, (40, 80)), (120, (60, 100)))[k]
    n = rejection_count(lambda rng: simulate_order(P, 3, order, n_seq, length, rng),
                        lambda s: mt.order_test(s, k), seed=100 + k)
    assert LO <= n <= HI, f"order {k} vs {k + 1}: {n} of {REPS} rejections, band {LO}..{HI}"


def test_order_test_type_one_error_order_two_null():
    # "2 vs 3" when the data really are second order.
    P2 = order2_chain()
    n = rejection_count(lambda rng: simulate_order(P2, 3, 2, 60, (40, 80), rng), lambda s: mt.order_test(s, 2), 7)
    assert LO <= n <= HI


def test_homogeneity_type_one_error():
    def make(rng):
        return simulate_order(P1, 3, 1, 36, (15, 50), rng)

    groups = ["a", "b", "c"] * 12
    n = rejection_count(make, lambda s: mt.homogeneity_test(s, groups), seed=21)
    assert LO <= n <= HI


def test_position_type_one_error():
    n = rejection_count(lambda rng: simulate_order(P1, 3, 1, 30, (10, 60), rng), mt.position_test, seed=31)
    assert LO <= n <= HI


def test_permutation_homogeneity_is_valid_and_agrees():
    # With many small groups the permutation p-value is the safe one; under the null it is not
    # small, and with a real difference it is (seeded).
    rng = np.random.default_rng(41)
    seqs = simulate_order(P1, 3, 1, 40, 30, rng)
    null = mt.homogeneity_test(seqs, [i % 10 for i in range(40)], n_permutations=199, seed=1)
    assert null.method == "permutation (199)" and null.p_value > 0.05
    other = simulate_order(P1[:, ::-1].copy(), 3, 1, 20, 30, rng)
    alt = mt.homogeneity_test(seqs[:20] + other, ["a"] * 20 + ["b"] * 20, n_permutations=199, seed=1)
    assert alt.p_value == pytest.approx(1 / 200)


# ------------------------------------------------------------------ power: the right order is found
@pytest.mark.parametrize("true_order", [1, 2])
def test_right_order_found(true_order):
    P = P1 if true_order == 1 else order2_chain()
    for seed in range(5):
        seqs = simulate_order(P, 3, true_order, 60, (40, 80), np.random.default_rng(500 + seed))
        scores = mt.order_scores(seqs, 3)
        assert scores.best_bic == true_order
        tests = mt.order_tests(seqs, 3)
        first_kept = next(k for k, r in enumerate(tests) if not r.rejects(0.01))
        assert first_kept == true_order


def test_williams_correction_shrinks_the_statistic():
    seqs = simulate_order(P1, 3, 1, 20, 30, np.random.default_rng(3))
    ctx, nxt, _ = mt.transitions(mt.encode_sequences(seqs), 2)
    plain = mt.conditional_g_test(ctx % 3, ctx // 3, nxt)
    corrected = mt.conditional_g_test(ctx % 3, ctx // 3, nxt, williams=True)
    assert plain.williams_q == 1.0 and corrected.williams_q > 1.0
    assert corrected.statistic == plain.statistic and corrected.p_value > plain.p_value
