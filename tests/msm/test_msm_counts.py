"""Counts at a lag, connected sets, MLE and the Dirichlet posterior (metacot.msm.counts)."""

from __future__ import annotations

import numpy as np
import pytest

from metacot.errors import ArgumentTypeError, InvalidArgumentError, MetacotError
from metacot.msm.counts import (
    count_matrix,
    dirichlet_samples,
    largest_connected_set,
    mle_transition_matrix,
    per_trace_counts,
)


def brute_counts(dtrajs, n, lag):
    C = np.zeros((n, n))
    for d in dtrajs:
        for t in range(len(d) - lag):
            C[d[t], d[t + lag]] += 1
    return C


@pytest.mark.parametrize("lag", [1, 2, 3, 7, 40])
def test_count_matrix_matches_a_brute_force_count_over_sequences_of_different_lengths(lag):
    rng = np.random.default_rng(lag)
    dtrajs = [rng.integers(0, 6, size=n) for n in (0, 1, 5, 17, 33, 60)]
    C = count_matrix(dtrajs, 6, lag)
    np.testing.assert_array_equal(C, brute_counts(dtrajs, 6, lag))
    np.testing.assert_array_equal(per_trace_counts(dtrajs, 6, lag).sum(axis=0), C)
    assert C.sum() == sum(max(len(d) - lag, 0) for d in dtrajs)


def test_per_trace_counts_keeps_each_trace_apart():
    dtrajs = [[0, 1, 1], [], [2, 2]]
    Ct = per_trace_counts(dtrajs, 3, 1)
    for m, d in enumerate(dtrajs):
        np.testing.assert_array_equal(Ct[m], brute_counts([d], 3, 1))


def test_largest_connected_set_picks_the_biggest_strong_component():
    C = np.zeros((7, 7))
    for a, b in [(0, 1), (1, 0), (2, 3), (3, 4), (4, 2), (4, 5), (6, 6)]:
        C[a, b] = 1
    assert largest_connected_set(C).tolist() == [2, 3, 4]
    P = mle_transition_matrix(C)  # the edge 4 -> 5 leaves the set and is dropped
    np.testing.assert_allclose(P, [[0, 1, 0], [0, 0, 1], [1, 0, 0]])


def test_mle_is_the_row_normalised_count_matrix():
    C = np.array([[2.0, 6.0], [3.0, 1.0]])
    np.testing.assert_allclose(mle_transition_matrix(C), C / C.sum(axis=1, keepdims=True))


def test_dirichlet_posterior_mean_is_the_mle_and_keeps_the_sparsity_pattern():
    # Monte Carlo: 20,000 samples, seed 3; the posterior sd of an entry is below 0.1, so the mean is
    # within 0.1 * 4 / sqrt(20000) < 0.003 of its expectation with overwhelming probability.
    C = np.array([[4.0, 1.0, 0.0], [2.0, 2.0, 6.0], [0.0, 3.0, 1.0]])
    S = dirichlet_samples(C, 20_000, seed=3)
    np.testing.assert_allclose(S.sum(axis=2), 1.0)
    assert np.all(S[:, C == 0] == 0)
    np.testing.assert_allclose(S.mean(axis=0), C / C.sum(axis=1, keepdims=True), atol=3e-3)
    # Dir(a) variance a_j (a0 - a_j) / (a0^2 (a0 + 1)) for entry (0, 0): 4 * 1 / (25 * 6)
    assert S[:, 0, 0].var() == pytest.approx(4 / 150, rel=0.05)


def test_bad_input_raises_metacot_errors():
    with pytest.raises(InvalidArgumentError, match="outside"):
        count_matrix([[0, 5]], 3)
    with pytest.raises(ArgumentTypeError, match="integers"):
        count_matrix([[0.5, 1.0]], 3)
    with pytest.raises(ArgumentTypeError, match="wrap it in a list"):
        count_matrix(np.array([0, 1]), 3)
    with pytest.raises(MetacotError):
        count_matrix([[0, 1]], 2, lag=0)
    with pytest.raises(InvalidArgumentError, match="no counts"):
        mle_transition_matrix(np.array([[0.0, 1.0], [0.0, 0.0]]), active=[0, 1])
    with pytest.raises(InvalidArgumentError, match="every row"):
        dirichlet_samples(np.array([[0.0, 0.0], [1.0, 1.0]]), 2, seed=0)
