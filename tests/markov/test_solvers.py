"""Exact answers at extreme epsilon (issue 14, item 1): closed forms as oracles.

Before the GTH-style solver, ``exact.hitting_times(line_of_cliques(K=4, M=16, eps))`` was off by
1.9e-5 at eps=1e-10, 1.5e-3 at 1e-12, 28 % at 1e-14 and 122 % at 1e-15, and SciPy raised
``RuntimeError: Factor is exactly singular`` below 1e-16.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from metacot import Chain, exact
from metacot.errors import MetacotError
from metacot.markov import solvers
from metacot.markov.families import line_of_cliques, random_clusters
from metacot.markov.solvers import MMatrixLU, SolverError, leak_split, m_matrix

SMALL_EPS = [1e-10, 1e-12, 1e-14, 1e-15]


def line_mean(K: int, M: int, eps: float) -> float:
    """E[tau] of line_of_cliques: (K-1)(M/eps + 1) + M."""
    return (K - 1) * (M / eps + 1) + M


@pytest.mark.parametrize("eps", SMALL_EPS)
def test_hitting_time_of_a_line_of_cliques_at_small_eps(eps):
    c = line_of_cliques(K=4, M=16, eps=eps)
    h = exact.hitting_times(c)[c.start]
    assert h == pytest.approx(line_mean(4, 16, eps), rel=1e-9)


@pytest.mark.parametrize("eps", [1e-16, 1e-17, 1e-30, 1e-300])
def test_hitting_time_below_float_resolution_of_the_diagonal(eps):
    # 1 - eps == 1 in float64: the escape rate survives only because it is carried as a rate.
    for K, M in [(3, 8), (2, 4)]:
        c = line_of_cliques(K=K, M=M, eps=eps)
        assert exact.hitting_times(c)[c.start] == pytest.approx(line_mean(K, M, eps), rel=1e-9)


def test_hitting_time_that_overflows_is_a_clear_error():
    c = line_of_cliques(K=2, M=4, eps=1e-308)  # E[tau] = 4e308 > float64 max
    with pytest.raises(SolverError, match="overflows float64") as info:
        exact.hitting_times(c)
    assert isinstance(info.value, MetacotError) and isinstance(info.value, RuntimeError)


@pytest.mark.parametrize("eps", [1e-3, 1e-12, 1e-15])
def test_second_moment_of_a_line_of_cliques(eps):
    # tau = (K-1) + (K-1) iid Geom(eps/M) + Geom(1/M): leaving a clique from its entry takes
    # a geometric(1/M) number of steps per visit to the exit, and a geometric(eps) number of visits.
    K, M = 4, 16
    p, q = eps / M, 1 / M
    mean = line_mean(K, M, eps)
    var = (K - 1) * (1 - p) / p**2 + (1 - q) / q**2
    m = exact.hitting_time_moments(line_of_cliques(K=K, M=M, eps=eps), order=2)[:, 0]
    assert m[0] == pytest.approx(mean, rel=1e-9)
    assert m[1] == pytest.approx(var + mean**2, rel=1e-9)


@pytest.mark.parametrize("eps", [1e-12, 1e-15])
def test_hitting_time_law_at_small_eps(eps):
    # K = 2: tau = 1 + A + B with A ~ Geom(p = eps/M), B ~ Geom(q = 1/M) on {1, 2, ...}, so
    # P(tau = t) = p q ((1-q)^(t-2) - (1-p)^(t-2)) / (p - q) for t >= 3.
    M = 8
    c = line_of_cliques(K=2, M=M, eps=eps)
    d = exact.hitting_time_distribution(c, t_max=60)
    p, q = eps / M, 1 / M
    t = np.arange(3, 61)
    closed = p * q * ((1 - q) ** (t - 2) - np.exp((t - 2) * np.log1p(-p))) / (p - q)
    np.testing.assert_allclose(d.pmf[3:], closed, rtol=1e-6)
    assert d.pmf[:3].tolist() == [0.0, 0.0, 0.0]
    # The exact mean from the law and the hitting times, at any horizon (Markov property).
    assert d.mean(exact.hitting_times(c)) == pytest.approx(line_mean(2, M, eps), rel=1e-9)


def two_exit_clique(M: int, eps: float, a: float, b: float) -> Chain:
    """A complete clique of M states; state 1 leaks eps*a to A = M, state 2 leaks eps*b to B = M + 1.

    From every clique state other than 1 and 2 the committor to B is exactly b / (a + b).
    """
    P = np.zeros((M + 2, M + 2))
    P[:M, :M] = 1.0 / M
    P[1, :M] *= 1 - eps * a
    P[2, :M] *= 1 - eps * b
    P[1, M] = eps * a
    P[2, M + 1] = eps * b
    P[M, M] = P[M + 1, M + 1] = 1.0
    return Chain(sp.csr_array(P))


@pytest.mark.parametrize("eps", [1e-12, 1e-15, 1e-18])
def test_committor_and_absorption_at_small_eps(eps):
    M, a, b = 10, 1.0, 3.0
    c = two_exit_clique(M, eps, a, b)
    m = b / (a + b)
    q = exact.committor(c, M, M + 1)
    np.testing.assert_allclose(q[[0, 3, 4, M - 1]], m, rtol=1e-12)
    assert q[1] == pytest.approx((1 - eps * a) * m, rel=1e-12)
    assert q[2] == pytest.approx(eps * b + (1 - eps * b) * m, rel=1e-12)
    B, classes = exact.absorption_probabilities(c)
    assert [k.tolist() for k in classes] == [[M], [M + 1]]
    np.testing.assert_allclose(B[:M, 1], q[:M], rtol=1e-12)
    np.testing.assert_allclose(B[:M, 0], 1 - q[:M], rtol=1e-12)


@pytest.mark.parametrize("eps", [1e-3, 1e-12, 1e-15, 1e-18])
def test_stationary_law_of_two_coupled_cliques(eps):
    # Clique 1 (entry 0, exit M-1) leaks eps*a to clique 2's entry M; clique 2's exit 2M-1 leaks
    # eps*b back to 0. With u = pi(clique 1) - F, F = eps*a*u/M the flow each way:
    # u = 1 / (1 + a/b + 2 eps a / M), pi(y) = u/M on clique 1 (+F at the entry), v = a u / b.
    M, a, b = 6, 1.0, 3.0
    P = np.zeros((2 * M, 2 * M))
    P[:M, :M] = P[M:, M:] = 1.0 / M
    P[M - 1, :M] *= 1 - eps * a
    P[2 * M - 1, M:] *= 1 - eps * b
    P[M - 1, M] = eps * a
    P[2 * M - 1, 0] = eps * b
    pi = exact.stationary(Chain(sp.csr_array(P)))
    u = 1 / (1 + a / b + 2 * eps * a / M)
    v = a * u / b
    F = eps * a * u / M
    expected = np.r_[np.full(M, u / M), np.full(M, v / M)]
    expected[0] += F
    expected[M] += F
    np.testing.assert_allclose(pi, expected, rtol=1e-12)


# --------------------------------------------------------------------------- the solver itself
def random_m_matrix(m: int, seed: int) -> tuple[sp.csr_array, np.ndarray]:
    rng = np.random.default_rng(seed)
    N = sp.random_array((m, m), density=0.2, rng=rng, format="csr")
    N.setdiag(0)
    N.eliminate_zeros()
    s = np.where(rng.random(m) < 0.3, rng.random(m), 0.0)
    s[0] = 1.0
    # Every state must reach one with positive excess: add a path to state 0.
    N = sp.csr_array(N + sp.csr_array((np.full(m - 1, 0.5), (np.arange(1, m), np.arange(m - 1))), shape=(m, m)))
    return N, s


@pytest.mark.parametrize("seed", range(5))
def test_m_matrix_solves_match_dense_linear_algebra(seed):
    N, s = random_m_matrix(40, seed)
    A = m_matrix(N, s).toarray()
    b = np.random.default_rng(seed).random((40, 3))
    lu = MMatrixLU(N, s)
    np.testing.assert_allclose(lu.solve(b), np.linalg.solve(A, b), rtol=1e-10)
    np.testing.assert_allclose(lu.solve(b, transpose=True), np.linalg.solve(A.T, b), rtol=1e-10)
    np.testing.assert_allclose(lu.solve(b[:, 0]), np.linalg.solve(A, b[:, 0]), rtol=1e-10)
    assert lu.residual(lu.solve(b), b)[1] <= 1e-13


def test_leak_split_sums_the_rates_out_of_the_unknown_states():
    P = sp.csr_array(np.array([[0.5, 0.25, 0.25, 0.0], [0.1, 0.0, 0.0, 0.9], [0, 0, 1.0, 0], [0, 0, 0, 1.0]]))
    N, s, U = leak_split(P, np.array([True, True, False, False]))
    assert U.tolist() == [0, 1]
    assert N.toarray().tolist() == [[0.0, 0.25], [0.1, 0.0]]
    assert s.tolist() == [0.25, 0.9]


def test_an_incomplete_fill_pattern_is_caught(monkeypatch):
    # With a strongly dominant pattern matrix, SuperLU drops fill that underflows to zero along
    # the lazy cycles; the componentwise backward-error check must refuse the wrong answer.
    monkeypatch.setattr(solvers, "_PATTERN_EXCESS", 1.0)
    with pytest.raises(SolverError, match="backward error"):
        exact.hitting_times(random_clusters(K=3, M=1000, eps=1e-3, kind="lazy_cycle"))


def test_hitting_times_of_large_lazy_cycles_match_their_closed_form():
    # From the entry, the exit (a cycle neighbour) is hit after 2(M-1) steps on average; each visit
    # of the exit leaves with probability eps, and a failed visit returns after M steps (Kac).
    K, M, eps = 3, 1000, 1e-3
    h = exact.hitting_times(random_clusters(K=K, M=M, eps=eps, kind="lazy_cycle"))[0]
    assert h == pytest.approx((K - 1) * (2 * (M - 1) + 1 + M * (1 - eps) / eps) + 2 * (M - 1), rel=1e-12)
