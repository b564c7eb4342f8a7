"""Exact analysis against closed forms and independent dense computations."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given
from hypothesis import strategies as st
from strategies import stochastic_matrices

from metacot import Chain, exact
from metacot.errors import InvalidChainError
from metacot.markov.families import line_of_cliques, random_clusters


def hit_probability(P: np.ndarray, target: np.ndarray, steps: int = 2**14) -> np.ndarray:
    """P_x(tau < infinity) by repeated squaring of the chain with the target made absorbing."""
    A = P.copy()
    A[target] = 0.0
    A[target, target] = 1.0
    for _ in range(int(np.log2(steps))):
        A = A @ A
    return A[:, target].sum(axis=1)


# --------------------------------------------------------------------------- hitting times
@given(stochastic_matrices(), st.data())
def test_hitting_times_solve_their_equations(P, data):
    n = P.shape[0]
    target = np.unique(data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n)))
    h = exact.hitting_times(Chain(P), target)
    assert np.all(h[target] == 0)
    # Finite exactly where the target is hit almost surely (independent oracle).
    sure = hit_probability(P, target) > 1 - 1e-9
    np.testing.assert_array_equal(np.isfinite(h), sure)
    rest = np.isfinite(h) & (h > 0)
    with np.errstate(invalid="ignore"):
        rhs = 1 + P[rest] @ np.where(np.isfinite(h), h, 0)
    np.testing.assert_allclose(h[rest], rhs, rtol=1e-9)
    assert np.all(P[np.ix_(rest, ~np.isfinite(h))] == 0)


def test_unreachable_target_gives_inf():
    P = np.array([[0.5, 0.5, 0.0], [0.0, 1.0, 0.0], [0.5, 0.0, 0.5]])
    h = exact.hitting_times(Chain(P), target=2)
    assert h.tolist() == [np.inf, np.inf, 0.0]
    # state 0 reaches the target 0 only if it does not move to 1 first
    h0 = exact.hitting_times(Chain(P), target=0)
    assert h0[0] == 0 and h0[1] == np.inf and h0[2] == pytest.approx(2.0)
    with pytest.raises(InvalidChainError, match="no target"):
        exact.hitting_times(Chain(P))


def test_mean_hitting_time_with_a_start_distribution():
    chain = line_of_cliques(3, 5, 0.1)
    h = exact.hitting_times(chain)
    mu = np.full(chain.n_states, 1 / chain.n_states)
    assert exact.mean_hitting_time(chain, start=mu) == pytest.approx(mu @ h, rel=1e-12)


# --------------------------------------------------------------------------- hitting-time law
def test_pmf_of_one_complete_cluster_is_geometric():
    M = 6
    d = exact.hitting_time_distribution(line_of_cliques(1, M, 0.1), t_max=50)
    t = np.arange(1, 51)
    np.testing.assert_allclose(d.pmf[1:], (1 - 1 / M) ** (t - 1) / M, rtol=1e-12)
    assert d.pmf[0] == 0
    assert d.tail == pytest.approx((1 - 1 / M) ** 50, rel=1e-12)


@given(stochastic_matrices(min_n=2), st.integers(0, 40))
def test_pmf_plus_tail_sums_to_one(P, t_max):
    n = P.shape[0]
    d = exact.hitting_time_distribution(Chain(P, start=0), t_max, target=n - 1)
    assert d.pmf.sum() + d.tail == pytest.approx(1.0, abs=1e-12)
    assert np.all(d.pmf >= 0) and d.tail >= 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pmf_mean_equals_exact_hitting_time(seed):
    chain = random_clusters(3, 8, 0.05, kind="er", seed=seed)
    h = exact.hitting_times(chain)
    for t_max in (10, 300, 20_000):
        d = exact.hitting_time_distribution(chain, t_max)
        assert d.mean(h) == pytest.approx(h[chain.start], rel=1e-9)
    # at 20 000 steps the tail is negligible: the plain pmf mean agrees too
    assert float(np.arange(d.pmf.size) @ d.pmf) == pytest.approx(h[chain.start], rel=1e-6)
    with pytest.raises(InvalidChainError, match="tail mass"):
        exact.hitting_time_distribution(chain, 10).mean()


# --------------------------------------------------------------------------- committor, absorption
def test_committor_gamblers_ruin():
    N, p = 10, 0.6
    P = np.zeros((N + 1, N + 1))
    P[0, 0] = P[N, N] = 1
    for i in range(1, N):
        P[i, i + 1], P[i, i - 1] = p, 1 - p
    r = (1 - p) / p
    expected = (1 - r ** np.arange(N + 1)) / (1 - r**N)
    np.testing.assert_allclose(exact.committor(Chain(P), 0, N), expected, rtol=1e-12)


def test_committor_is_zero_where_neither_set_is_reached():
    P = np.array([[1.0, 0, 0, 0], [0.25, 0.25, 0.25, 0.25], [0, 0, 1.0, 0], [0, 0, 0, 1.0]])
    q = exact.committor(Chain(P), A=0, B=3)
    np.testing.assert_allclose(q, [0, 1 / 3, 0, 1], rtol=1e-12)
    with pytest.raises(InvalidChainError, match="disjoint"):
        exact.committor(Chain(P), [0, 1], [1, 3])


@given(stochastic_matrices(min_n=2))
def test_absorption_probabilities_against_matrix_powers(P):
    B, classes = exact.absorption_probabilities(Chain(P))
    np.testing.assert_allclose(B.sum(axis=1), 1.0, atol=1e-10)
    limit = np.linalg.matrix_power(P, 2**12)
    for k, c in enumerate(classes):
        # long-run mass in a closed class = probability of absorption into it (Cesàro limit
        # is not needed: squaring an aperiodic part converges, periodic mass still sums right)
        np.testing.assert_allclose(B[:, k], limit[:, c].sum(axis=1), atol=1e-8)


# --------------------------------------------------------------------------- stationary laws
@given(stochastic_matrices())
def test_stationary_is_invariant(P):
    pis = np.atleast_2d(exact.stationary(Chain(P)))
    classes = exact.closed_classes(Chain(P))
    assert len(pis) == len(classes)
    for pi, c in zip(pis, classes):
        np.testing.assert_allclose(pi @ P, pi, atol=1e-12)
        assert pi.sum() == pytest.approx(1.0)
        assert np.all(pi >= 0) and np.all(pi[np.setdiff1d(np.arange(P.shape[0]), c)] == 0)


def test_stationary_closed_forms():
    a, b = 0.3, 0.1
    pi = exact.stationary(Chain(np.array([[1 - a, a], [b, 1 - b]])))
    np.testing.assert_allclose(pi, [b / (a + b), a / (a + b)], rtol=1e-14)
    # doubly stochastic clusters: uniform within, and the whole line of cliques is absorbed
    pis = exact.stationary(random_clusters(1, 50, 0.1, kind="regular", seed=4))
    np.testing.assert_allclose(pis, 1 / 50, rtol=1e-10)
    two = exact.stationary(Chain(np.array([[1.0, 0, 0], [0.5, 0, 0.5], [0, 0, 1.0]])))
    np.testing.assert_array_equal(two, [[1, 0, 0], [0, 0, 1]])


def test_stationary_of_a_metastable_chain_is_accurate_in_every_entry():
    # Cycle of clusters with rare edges: pi is uniform by symmetry even though 1 - lambda_2 ~ 1e-8.
    chain = random_clusters(4, 10, 1e-7, kind="complete")
    P = chain.P.tolil()
    P[39, 0] = 1e-7
    P[39, 39] -= 1e-7
    pi = exact.stationary(Chain(P.tocsr()))
    np.testing.assert_allclose(pi @ P.toarray(), pi, atol=1e-15)


# --------------------------------------------------------------------------- spectrum
@pytest.mark.parametrize("M", [20, 200])  # dense LAPACK path, then ARPACK (n = 1200)
def test_spectrum_of_line_of_cliques(M):
    eps, K = 1e-3, 6
    lam = exact.spectrum(line_of_cliques(K, M, eps), K + 1)
    assert lam[0] == pytest.approx(1.0, abs=1e-10)
    np.testing.assert_allclose(lam[1:K].real, 1 - eps / M, atol=1e-9)
    assert abs(lam[K]) < 1e-6  # the eigenvalue 0 is (M-1)K-fold degenerate: ARPACK resolves it to ~1e-8


def test_spectrum_matches_dense_eigenvalues():
    rng = np.random.default_rng(0)
    P = rng.random((30, 30))
    P /= P.sum(axis=1, keepdims=True)
    ref = scipy.linalg.eigvals(P)
    ref = ref[np.argsort(-np.abs(ref))]
    np.testing.assert_allclose(np.abs(exact.spectrum(Chain(P), 5)), np.abs(ref[:5]), rtol=1e-10)
    with pytest.raises(InvalidChainError):
        exact.spectrum(Chain(P), 0)


# --------------------------------------------------------------------------- meta-chain
def test_meta_chain_of_line_of_cliques():
    K, M, eps = 4, 8, 0.01
    meta = exact.meta_chain(line_of_cliques(K, M, eps))
    Q = meta.P.toarray()
    np.testing.assert_allclose(np.diag(Q, 1), eps / M, rtol=1e-12)
    np.testing.assert_allclose(Q.sum(axis=1), 1.0, rtol=1e-14)
    assert meta.start == 0 and meta.target.tolist() == [K - 1]
    # the meta-chain hitting time is (K-1) M / eps; the chain's differs by O(K + M)
    assert exact.mean_hitting_time(meta) == pytest.approx((K - 1) * M / eps, rel=1e-12)
    uniform = exact.meta_chain(line_of_cliques(K, M, eps), weights="uniform")
    np.testing.assert_allclose(uniform.P.toarray(), Q, rtol=1e-10)


def test_meta_chain_weights_by_within_cluster_law():
    # a non-uniform cluster: state 0 is visited twice as often as state 1 inside cluster 0
    P = np.array([[1 / 3, 2 / 3 - 0.1, 0.1], [2 / 3, 1 / 3, 0.0], [0.0, 0.0, 1.0]])
    meta = exact.meta_chain(Chain(P, clusters=[0, 0, 1], start=1, target=2))
    inner = P[:2, :2] / P[:2, :2].sum(axis=1, keepdims=True)
    w = scipy.linalg.null_space(inner.T - np.eye(2))[:, 0]
    w /= w.sum()
    assert meta.P[0, 1] == pytest.approx(w[0] * 0.1, rel=1e-12)
    assert meta.start == 0
    with pytest.raises(InvalidChainError, match="needs a chain with clusters"):
        exact.meta_chain(Chain(P))


# --------------------------------------------------------------------------- entropy rate
def test_entropy_rate_closed_forms():
    assert exact.entropy_rate(Chain(np.full((4, 4), 0.25)), base=2) == pytest.approx(2.0)
    a, b = 0.3, 0.1
    P = np.array([[1 - a, a], [b, 1 - b]])

    def H(p):
        return -(p * np.log(p) + (1 - p) * np.log(1 - p))

    expected = (b * H(a) + a * H(b)) / (a + b)
    assert exact.entropy_rate(Chain(P)) == pytest.approx(expected, rel=1e-12)


def test_entropy_rate_of_reducible_chain_needs_a_start():
    P = np.array([[0.5, 0.5, 0, 0], [0, 0.5, 0.5, 0], [0, 0, 0.5, 0.5], [0, 0, 0.5, 0.5]])
    P2 = np.array([[1 / 3, 1 / 3, 1 / 3, 0], [0, 0.5, 0.5, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    with pytest.raises(InvalidChainError, match="closed classes"):
        exact.entropy_rate(Chain(P2))
    # from state 0: absorbed in {2} or {3}, both deterministic -> rate 0
    assert exact.entropy_rate(Chain(P2, start=0)) == 0
    assert exact.entropy_rate(Chain(P)) == pytest.approx(np.log(2))


def test_hitting_time_moments_of_a_geometric_time():
    M = 7
    p = 1 / M
    m = exact.hitting_time_moments(line_of_cliques(1, M, 0.1), order=3)
    # from a non-target state tau ~ Geometric(p) on {1, 2, ...}
    np.testing.assert_allclose(m[:, 0], [1 / p, (2 - p) / p**2, (p**2 - 6 * p + 6) / p**3], rtol=1e-10)
    assert np.all(m[:, M - 1] == 0)


def test_hitting_time_moments_agree_with_the_pmf():
    chain = random_clusters(2, 6, 0.2, kind="er", seed=1)
    d = exact.hitting_time_distribution(chain, 4000)
    assert d.tail < 1e-13
    t = np.arange(d.pmf.size)
    m = exact.hitting_time_moments(chain, order=2)[:, chain.start]
    np.testing.assert_allclose(m, [t @ d.pmf, t**2 @ d.pmf], rtol=1e-9)


def test_hitting_times_backend_names():
    from metacot.errors import BackendUnavailableError, UnknownBackendError

    c = line_of_cliques(K=2, M=4, eps=0.1)
    with pytest.raises(UnknownBackendError, match="'cpu', 'cuda'"):
        exact.hitting_times(c, backend="gpu")
    try:
        import cupy  # noqa: F401
    except ImportError:
        # Without CuPy the GPU solver refuses clearly instead of falling back silently.
        with pytest.raises(BackendUnavailableError):
            exact.hitting_times(c, backend="cuda")


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda c: exact.hitting_time_moments(c, order=1.5), "order must be an int"),
        (lambda c: exact.hitting_time_moments(c, order=0), "order must be an int >= 1"),
        (lambda c: exact.hitting_time_distribution(c, t_max="5"), "t_max must be an int >= 0"),
        (lambda c: exact.spectrum(c, k="2"), "k must be an int"),
    ],
)
def test_argument_errors_are_metacot_errors(call, match):
    from metacot.errors import MetacotError

    with pytest.raises(MetacotError, match=match):
        call(line_of_cliques(2, 4, 0.1))
