"""Implied timescales, the CK test and G-PCCA sets on a synthetic metastable chain with known spectrum."""

from __future__ import annotations

import numpy as np
import pytest

from metacot.errors import InvalidArgumentError
from metacot.markov.families import random_clusters
from metacot.msm.ck import choose_n_sets, ck_test, metastable_microstates
from metacot.msm.nulls import simulate_paths
from metacot.msm.timescales import estimate_msm, implied_timescales, timescale_scan


@pytest.fixture(scope="module")
def planted():
    """Three complete clusters of 6 states on a line with backward edges (irreducible, non-reversible)."""
    chain = random_clusters(K=3, M=6, eps=0.05, kind="complete", meta="line_back", back_rate=1.0, seed=0)
    P = chain.P.toarray()
    # 300 paths x 2,000 steps from the uniform law, seed 11: about 5,000 crossings of sparse edges.
    paths = simulate_paths(P, np.full(18, 1 / 18), [2000] * 300, seed=11)
    return chain, P, paths


def exact_timescales(P, k):
    mod = np.sort(np.abs(np.linalg.eigvals(P)))[::-1]
    return -1.0 / np.log(mod[1: k + 1])


def test_simulated_paths_have_the_transition_law_of_the_chain(planted):
    _, P, paths = planted
    m = estimate_msm(paths, 18, 1)
    assert m.active.size == 18
    # 600,000 transitions, about 33,000 per row: the sd of an entry is below 0.003
    np.testing.assert_allclose(m.P, P, atol=0.015)


@pytest.mark.parametrize("lag", [1, 4, 16])
def test_implied_timescales_match_the_exact_eigenvalues_at_every_lag(planted, lag):
    _, P, paths = planted
    exact = exact_timescales(P, 2)  # about 119.5 and 39.0 steps; a Markov chain's t_i do not depend on lag
    t = estimate_msm(paths, 18, lag).timescales(2)
    np.testing.assert_allclose(t, exact, rtol=0.1)


def test_timescale_scan_intervals_cover_the_exact_slowest_timescale(planted):
    _, P, paths = planted
    scan = timescale_scan(paths, 18, [1, 8], k=2, n_boot=100, n_bayes=100, seed=5)
    exact = exact_timescales(P, 1)[0]
    lo, hi = scan.interval()
    assert np.all(lo[:, 0] <= exact) and np.all(exact <= hi[:, 0])
    blo, bhi = scan.interval(source="bayes")
    assert np.all(blo <= scan.mle + 1e-9) and np.all(scan.mle <= bhi + 1e-9)
    assert scan.bootstrap.shape == (100, 2, 2) and scan.active_size.tolist() == [18, 18]


def test_gpcca_sets_of_the_estimated_msm_recover_the_planted_clusters(planted):
    chain, _, paths = planted
    m = estimate_msm(paths, 18, 1)
    assert choose_n_sets(m.eigenvalues) == 3
    sets = metastable_microstates(m)
    found = sorted(tuple(s.tolist()) for s in sets.sets)
    planted_sets = sorted(tuple(np.flatnonzero(chain.clusters == c).tolist()) for c in range(3))
    assert found == planted_sets
    # the crisp coarse chain is row-stochastic and sticky
    np.testing.assert_allclose(sets.coarse_P_counts.sum(axis=1), 1.0)
    assert np.all(np.diag(sets.coarse_P_counts) > 0.98)


def test_ck_test_holds_for_a_markov_chain_and_matches_the_exact_projection(planted):
    chain, P, paths = planted
    assignment = np.asarray(chain.clusters)
    ck = ck_test(paths, 18, 2, assignment, (1, 2, 4, 8), n_boot=200, seed=2)
    assert ck.max_error < 0.02
    # k = 1 agrees exactly by construction; of the rest, most 95% intervals of the difference hold 0
    # (0.94 with this seed; P(tau)^k is a slightly biased estimate of P(k tau), so not all of them)
    np.testing.assert_array_equal(ck.estimated[0], ck.predicted[0])
    assert ck.share_consistent() >= 0.85
    # the estimate is the empirical set-to-set share; with a near-uniform start it is close to the exact
    # projection 1_A^T P^{k tau} 1_B / |A| of the true chain
    M = np.eye(3)[assignment]
    for j, k in enumerate(ck.multiples):
        exact = (M.T @ np.linalg.matrix_power(P, 2 * k) @ M) / 6
        np.testing.assert_allclose(ck.estimated[j], exact, atol=0.02)


def test_ck_test_detects_a_non_markov_process():
    # A process that holds each of two symbols for exactly 5 steps, then switches: a lag-1 model
    # predicts geometric dwell times, so P(1)^k is far from the observed P(k) at k = 5.
    d = [np.tile(np.repeat([0, 1], 5), 40) for _ in range(20)]
    ck = ck_test(d, 2, 1, np.array([0, 1]), (1, 5), n_boot=30, seed=0)
    np.testing.assert_allclose(ck.estimated[1], [[0, 1], [1, 0]], atol=0.01)
    assert ck.max_error > 0.5 and ck.share_consistent() < 0.9


def test_implied_timescales_edge_cases():
    t = implied_timescales(np.array([1.0, 1.0, 0.5, 0.0]), lag=3, k=4)
    assert np.isinf(t[0]) and t[1] == pytest.approx(3 / np.log(2)) and t[2] == 0 and np.isnan(t[3])
    assert choose_n_sets([1, 0.9, 0.5 + 0.5j, 0.5 - 0.5j, 0.1]) in (2, 4)  # never 3: it splits the pair
    with pytest.raises(InvalidArgumentError):
        estimate_msm([[0]], 2, 1)
