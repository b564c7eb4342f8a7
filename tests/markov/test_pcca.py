"""Tests of metacot.markov.pcca: G-PCCA metastable sets of non-reversible chains.

The reference is pyGPCCA (dense sorted Schur decomposition, ``method="brandts"``) on the same
matrix. Chains are built here: K clusters, each a doubly stochastic, non-reversible mixture of
permutation matrices with a self-loop, joined by rare edges (probability ``eps``) along a directed
cycle, a two-way line or a random DAG of clusters; and a line of dense random cliques.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import metacot.markov.invariant_subspace as subspace
import metacot.markov.memberships as memberships
from metacot.errors import InvalidChainError, MetacotError
from metacot.markov.chain import Chain
from metacot.markov.pcca import MetastableSets, metastable_sets

# --------------------------------------------------------------------------------------------------
# chain generators


def _cluster(M: int, d: int, rng: np.random.Generator, self_loop: float = 0.2) -> sp.csr_array:
    """A doubly stochastic, non-reversible, irreducible and aperiodic cluster of M states.

    A convex mixture of the identity (self-loops: aperiodic), one random cyclic permutation
    (strongly connected) and d random permutations; a mixture of permutations is doubly stochastic,
    and generic weights make it non-symmetric, so detailed balance (w.r.t. the uniform stationary
    distribution) fails.
    """
    order = rng.permutation(M)
    cyc = np.empty(M, dtype=np.int64)
    cyc[order] = np.roll(order, -1)
    perms = [np.arange(M), cyc] + [rng.permutation(M) for _ in range(d)]
    w = np.concatenate([[self_loop], rng.dirichlet(np.ones(d + 1)) * (1.0 - self_loop)])
    rows = np.concatenate([np.arange(M)] * len(perms))
    cols = np.concatenate(perms)
    vals = np.repeat(w, M)
    return sp.csr_array(sp.coo_array((vals, (rows, cols)), shape=(M, M)))


def _add_edges(P: np.ndarray, pairs, M: int, eps: float, n_edges: int, rng) -> None:
    """Add ``n_edges`` rare edges of probability ``eps`` from cluster a to cluster b per pair."""
    for a, b in pairs:
        for _ in range(n_edges):
            s = a * M + int(rng.integers(M))
            t = b * M + int(rng.integers(M))
            P[s] *= 1.0 - eps
            P[s, t] += eps


def planted(K: int, M: int, eps: float, meta: str, d: int = 6, n_edges: int = 2, seed: int = 0):
    """A metastable chain with K planted clusters of M states; returns (P as CSR, labels)."""
    rng = np.random.default_rng(seed)
    P = sp.block_diag([_cluster(M, d, rng) for _ in range(K)]).toarray()
    if meta == "cycle":
        pairs = [(c, (c + 1) % K) for c in range(K)]
    elif meta == "line":
        pairs = [(c, c + 1) for c in range(K - 1)] + [(c + 1, c) for c in range(K - 1)]
    elif meta == "dag":  # a -> a+1 always, a -> b (b > a+1) at random; cluster K-1 is closed
        pairs = [(a, b) for a in range(K) for b in range(a + 1, K) if b == a + 1 or rng.random() < 0.5]
    else:
        raise ValueError(meta)
    _add_edges(P, pairs, M, eps, n_edges, rng)
    return sp.csr_array(P), np.repeat(np.arange(K), M)


def line_of_cliques(K: int, M: int, eps: float, seed: int = 0):
    """K dense cliques with random (non-symmetric) weights; single rare edges along a line."""
    rng = np.random.default_rng(seed)
    P = np.zeros((K * M, K * M))
    for c in range(K):
        W = rng.random((M, M)) + 0.05
        P[c * M : (c + 1) * M, c * M : (c + 1) * M] = W / W.sum(axis=1, keepdims=True)
    _add_edges(P, [(c, c + 1) for c in range(K - 1)], M, eps, 1, rng)
    _add_edges(P, [(c + 1, c) for c in range(K - 1)], M, eps / 3, 1, rng)
    return sp.csr_array(P), np.repeat(np.arange(K), M)


CASES = {
    "cycle": lambda: planted(4, 40, 1e-3, "cycle", seed=1),
    "line": lambda: planted(4, 40, 1e-3, "line", seed=2),
    "dag": lambda: planted(4, 40, 1e-3, "dag", seed=3),
    "cliques": lambda: line_of_cliques(3, 30, 2e-3, seed=4),
}


@functools.cache
def case(name: str):
    return CASES[name]()


@functools.cache
def reference(name: str):
    """pyGPCCA's result on a case: (assignment, coarse-grained matrix, memberships)."""
    pygpcca = pytest.importorskip("pygpcca")
    P, labels = case(name)
    k = int(labels.max()) + 1
    g = pygpcca.GPCCA(P.toarray(), z="LM", method="brandts").optimize(k)
    return g.macrostate_assignment, g.coarse_grained_transition_matrix, g.memberships


@pytest.fixture(params=["dense", "arpack"])
def path(request, monkeypatch):
    """Run on the dense Schur path or force the ARPACK path on these small chains."""
    if request.param == "arpack":
        monkeypatch.setattr(subspace, "_DENSE_MAX", 0)
    return request.param


def relabelling(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The bijection ``perm`` with ``perm[a] == b``; fails if the two partitions differ."""
    k = int(max(a.max(), b.max())) + 1
    C = np.zeros((k, k), dtype=np.int64)
    np.add.at(C, (a, b), 1)
    assert np.all((C > 0).sum(axis=1) == 1) and np.all((C > 0).sum(axis=0) == 1), C
    perm = C.argmax(axis=1)
    assert np.array_equal(perm[a], b)
    return perm


def invariance_residual(P, X: np.ndarray) -> float:
    """||P X - X (X^+ P X)||_F / ||X||_F: zero iff span X is P-invariant."""
    PX = P @ X
    M = np.linalg.lstsq(X, PX, rcond=None)[0]
    return float(np.linalg.norm(PX - X @ M) / np.linalg.norm(X))


# --------------------------------------------------------------------------------------------------
# the generators really are non-reversible and metastable


@pytest.mark.parametrize("name", sorted(CASES))
def test_generated_chains_are_non_reversible_and_stochastic(name):
    P, labels = case(name)
    Chain(P, clusters=labels)  # validates row sums and signs
    Pd = P.toarray()
    w, v = np.linalg.eig(Pd.T)
    pi = np.real(v[:, np.argmax(w.real)])
    pi /= pi.sum()
    flux = pi[:, None] * Pd
    assert np.abs(flux - flux.T).max() > 1e-4  # detailed balance fails
    # leaving a planted cluster is rare
    same = labels[:, None] == labels[None, :]
    assert Pd[~same].sum(axis=None) / Pd.shape[0] < 1e-3


# --------------------------------------------------------------------------------------------------
# agreement with the planted clusters and with pyGPCCA


@pytest.mark.parametrize("name", sorted(CASES))
def test_sets_match_planted_clusters_and_pygpcca(name, path):
    P, labels = case(name)
    k = int(labels.max()) + 1
    ref_assign, ref_coarse, ref_chi = reference(name)
    ms = metastable_sets(Chain(P, clusters=labels), k)

    relabelling(ms.assignment, labels)  # the planted clusters, up to relabelling
    perm = relabelling(ms.assignment, ref_assign)  # pyGPCCA's crisp sets, up to relabelling
    # Same subspace and objective; only the Nelder-Mead path differs (different bases X), so the
    # optimal A agrees to the optimiser's tolerance. Observed: coarse_P within 1e-8, chi within 1e-4.
    np.testing.assert_allclose(ms.coarse_P, ref_coarse[np.ix_(perm, perm)], atol=1e-6, rtol=0)
    np.testing.assert_allclose(ms.memberships, ref_chi[:, perm], atol=1e-3, rtol=0)
    for j, states in enumerate(ms.sets):
        assert np.array_equal(states, np.flatnonzero(ms.assignment == j))


@pytest.mark.parametrize("name", sorted(CASES))
def test_memberships_basis_and_coarse_matrix(name, path):
    P, labels = case(name)
    k = int(labels.max()) + 1
    ms = metastable_sets(P, k)
    n = P.shape[0]
    eta = np.full(n, 1.0 / n)

    chi = ms.memberships
    assert chi.shape == (n, k)
    assert chi.min() >= -1e-12
    np.testing.assert_allclose(chi.sum(axis=1), 1.0, atol=1e-12, rtol=0)
    np.testing.assert_array_equal(ms.assignment, chi.argmax(axis=1))

    X = ms.X
    np.testing.assert_array_equal(X[:, 0], 1.0)
    np.testing.assert_allclose(X.T @ (X * eta[:, None]), np.eye(k), atol=1e-10)
    assert invariance_residual(P, X) < 1e-10
    np.testing.assert_allclose(X @ ms.A, chi, atol=1e-12)

    # P chi = chi P_c exactly (invariant subspace): P_c keeps the dominant eigenvalues, rows sum 1
    np.testing.assert_allclose(ms.coarse_P.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(P @ chi, chi @ ms.coarse_P, atol=1e-10)
    ev = np.linalg.eigvals(ms.coarse_P)
    np.testing.assert_allclose(np.sort_complex(ev), np.sort_complex(ms.eigenvalues), atol=1e-9)
    assert np.abs(ms.eigenvalues[0] - 1.0) < 1e-12
    assert np.all(np.diff(np.abs(ms.eigenvalues)) <= 1e-12)  # sorted by modulus

    # crispness = tr(diag(1/A_0) A^T A) <= k, near k for these well separated clusters
    A = ms.A
    np.testing.assert_allclose(ms.crispness, np.trace(np.diag(1.0 / A[0]) @ A.T @ A), rtol=1e-10)
    assert k - 0.01 < ms.crispness <= k + 1e-12


def test_non_uniform_eta(path):
    P, labels = case("cycle")
    n, k = P.shape[0], 4
    eta = np.random.default_rng(7).uniform(0.5, 2.0, n)  # unnormalised on purpose
    ms = metastable_sets(P, k, eta=eta)
    e = eta / eta.sum()
    np.testing.assert_allclose(ms.eta, e)
    np.testing.assert_allclose(ms.X.T @ (ms.X * e[:, None]), np.eye(k), atol=1e-10)
    assert ms.memberships.min() >= -1e-12
    np.testing.assert_allclose(ms.memberships.sum(axis=1), 1.0, atol=1e-12, rtol=0)
    relabelling(ms.assignment, labels)
    chi = ms.memberships
    expected = np.linalg.solve(chi.T @ (chi * e[:, None]), (chi * e[:, None]).T @ (P @ chi))
    np.testing.assert_allclose(ms.coarse_P, expected, atol=1e-12)


def test_which_lr_agrees_with_lm_on_metastable_chain(path):
    P, _ = case("line")
    lm = metastable_sets(P, 4)
    lr = metastable_sets(P, 4, which="LR")
    perm = relabelling(lm.assignment, lr.assignment)
    np.testing.assert_allclose(lm.coarse_P, lr.coarse_P[np.ix_(perm, perm)], atol=1e-6)


def test_optimisation_matters_on_fuzzy_chain_and_matches_pygpcca(path):
    # eps = 0.05 with 4 exits per pair: clusters overlap, the inner simplex start is not optimal
    pygpcca = pytest.importorskip("pygpcca")
    P, _ = planted(4, 40, 5e-2, "line", n_edges=4, seed=1)
    start = metastable_sets(P, 4, optimize=False)
    best = metastable_sets(P, 4)
    assert start.memberships.min() >= -1e-12
    np.testing.assert_allclose(start.memberships.sum(axis=1), 1.0, atol=1e-12, rtol=0)
    assert best.crispness > start.crispness + 0.01  # 3.744 -> 3.780
    g = pygpcca.GPCCA(P.toarray(), z="LM", method="brandts").optimize(4)
    # pyGPCCA reports crispness / k. Both use Nelder-Mead with fminsearch tolerances; ours restarts
    # it from its result, so it ends at least about as crisp (here 3.7800 vs 3.7800).
    assert best.crispness > 4 * g.optimal_crispness - 1e-3
    relabelling(best.assignment, g.macrostate_assignment)


def test_matrix_chain_and_sparse_inputs_agree():
    P, _ = case("cycle")
    a = metastable_sets(P, 4)
    b = metastable_sets(Chain(P), 4)
    c = metastable_sets(P.toarray(), 4)
    for other in (b, c):
        np.testing.assert_array_equal(a.assignment, other.assignment)
        np.testing.assert_allclose(a.coarse_P, other.coarse_P, atol=1e-14)
    assert isinstance(a, MetastableSets)
    assert "k=4" in repr(a)
    with pytest.raises(ValueError):  # read-only results
        a.memberships[0, 0] = 2.0


@functools.cache
def fuzzy_large():
    # n = 1200 >= _ACTIVE_MIN_ROWS, and fuzzy enough (eps = 0.03, 20 exits per pair) that
    # Nelder-Mead moves far from its start.
    return planted(4, 300, 3e-2, "line", d=3, n_edges=20, seed=11)


def test_active_rows_from_the_hull_give_the_same_optimum(monkeypatch):
    P, labels = fuzzy_large()
    pruned = metastable_sets(P, 4)
    assert memberships._initial_rows(pruned.X[:, 1:], pruned.A).size < P.shape[0] // 10
    assert pruned.crispness > metastable_sets(P, 4, optimize=False).crispness + 0.01
    monkeypatch.setattr(memberships, "_ACTIVE_MIN_ROWS", 10**9)  # every row, every evaluation
    full = metastable_sets(P, 4)
    assert memberships._initial_rows(full.X[:, 1:], full.A).size == P.shape[0]
    # the hull vertices give exactly the same objective, hence the same Nelder-Mead path
    np.testing.assert_allclose(pruned.A, full.A, atol=1e-12)
    relabelling(pruned.assignment, labels)


def test_active_rows_without_hull_are_completed_by_the_check(monkeypatch):
    P, labels = fuzzy_large()
    monkeypatch.setattr(memberships, "_ACTIVE_MIN_ROWS", 10**9)
    full = metastable_sets(P, 4)
    monkeypatch.undo()
    monkeypatch.setattr(memberships, "_HULL_MAX_DIM", 0)  # start from extreme rows along directions
    sizes = []
    original = memberships._nelder_mead
    monkeypatch.setattr(memberships, "_nelder_mead", lambda Y, *a: sizes.append(len(Y)) or original(Y, *a))
    ms = metastable_sets(P, 4)
    # a few extreme rows first; the check against all rows then adds the rows that undercut them
    assert len(sizes) >= 2 and sizes[0] < 50 < sizes[-1] < P.shape[0]
    # a different Nelder-Mead path, so a nearby optimum (observed: A within 3e-5, crispness
    # 3.80788 against 3.80783 with all rows)
    assert ms.crispness > full.crispness - 1e-4
    np.testing.assert_allclose(ms.A, full.A, atol=1e-3)
    relabelling(ms.assignment, labels)


@pytest.mark.parametrize("dense_max", [10**6, 0])
def test_exactly_defective_eigenvalues(monkeypatch, dense_max):
    """Identical clusters in a one-way line: the eigenvalue 1 - c*eps is a Jordan block.

    Eigenvectors are then (nearly) parallel; the ARPACK path must still deliver the invariant
    subspace (it is polished by orthogonal iteration) and agree with the dense Schur path.
    """
    monkeypatch.setattr(subspace, "_DENSE_MAX", dense_max)
    polished = []
    original = subspace._orthogonal_iteration
    monkeypatch.setattr(subspace, "_orthogonal_iteration", lambda *a: polished.append(1) or original(*a))
    K, M, eps = 4, 60, 1e-3
    block = _cluster(M, 4, np.random.default_rng(5)).toarray()
    P = np.kron(np.eye(K), block)
    for c in range(K - 1):
        s, t = c * M + 7, (c + 1) * M + 11
        P[s] *= 1 - eps
        P[s, t] += eps
    P = sp.csr_array(P)
    ms = metastable_sets(P, K)
    assert bool(polished) == (dense_max == 0)  # ARPACK's eigenvectors alone are not enough
    labels = np.repeat(np.arange(K), M)
    relabelling(ms.assignment, labels)
    assert invariance_residual(P, ms.X) < 1e-11
    np.testing.assert_allclose(ms.X.T @ ms.X / P.shape[0], np.eye(K), atol=1e-10)
    assert ms.memberships.min() >= -1e-12
    np.testing.assert_allclose(P @ ms.memberships, ms.memberships @ ms.coarse_P, atol=1e-10)


# --------------------------------------------------------------------------------------------------
# reducible chains, conjugate pairs, k = 1 and refused input


def test_two_closed_classes(path):
    rng = np.random.default_rng(3)
    P = sp.csr_array(sp.block_diag([_cluster(60, 4, rng), _cluster(90, 4, rng)]))
    ms = metastable_sets(P, 2)
    labels = np.repeat([0, 1], [60, 90])
    relabelling(ms.assignment, labels)
    # eigenvalue 1 twice; the invariant subspace is spanned by the two indicator functions, so
    # the memberships are exactly crisp and the coarse chain never switches
    np.testing.assert_allclose(ms.eigenvalues, [1.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(np.sort(ms.memberships, axis=1), [[0.0, 1.0]] * 150, atol=1e-10)
    np.testing.assert_allclose(ms.crispness, 2.0, atol=1e-10)
    np.testing.assert_allclose(ms.coarse_P, np.eye(2), atol=1e-10)


def test_two_closed_classes_and_a_transient_cluster(path):
    rng = np.random.default_rng(4)
    P = sp.block_diag([_cluster(50, 4, rng) for _ in range(3)]).toarray()
    _add_edges(P, [(0, 1), (0, 2)], 50, 1e-3, 2, rng)  # cluster 0 leaks into 1 and 2 (closed)
    ms = metastable_sets(sp.csr_array(P), 3)
    relabelling(ms.assignment, np.repeat([0, 1, 2], 50))
    assert np.sum(np.abs(ms.eigenvalues - 1.0) < 1e-12) == 2
    assert ms.memberships.min() >= -1e-12


def test_more_closed_classes_than_k_is_refused(path):
    rng = np.random.default_rng(5)
    P = sp.csr_array(sp.block_diag([_cluster(40, 4, rng) for _ in range(3)]))
    with pytest.raises(InvalidChainError, match="3 closed classes"):
        metastable_sets(P, 2)
    assert metastable_sets(P, 3).crispness == pytest.approx(3.0, abs=1e-10)


def test_k_cutting_a_repeated_eigenvalue_is_refused_on_the_dense_path():
    # Two identical transient clusters leak identically into a closed one: eigenvalue
    # 1 - c eps is exactly double, so k = 2 would pick an arbitrary vector of its eigenspace.
    # (Only the dense path sees eigenvalue k + 1; ARPACK computes exactly k of them.)
    M, eps = 40, 1e-3
    blk = _cluster(M, 4, np.random.default_rng(2)).toarray()
    P = sp.block_diag([_cluster(M, 4, np.random.default_rng(3)), blk, blk]).toarray()
    for s in (M + 5, 2 * M + 5):
        P[s] *= 1 - eps
        P[s, 3] += eps
    with pytest.raises(InvalidChainError, match="repeated"):
        metastable_sets(P, 2)
    ms = metastable_sets(P, 3)
    relabelling(ms.assignment, np.repeat([0, 1, 2], M))


def test_k_splitting_a_conjugate_pair_is_refused():
    # A rotating 3-cycle: eigenvalues 1 and 0.1 + 0.9 exp(±2πi/3), a conjugate pair.
    C = 0.1 * np.eye(3) + 0.9 * np.roll(np.eye(3), 1, axis=1)
    with pytest.raises(InvalidChainError, match="conjugate pair") as err:
        metastable_sets(C, 2)
    assert "k=1 or k=3" in str(err.value)
    assert isinstance(err.value, MetacotError) and isinstance(err.value, ValueError)


def test_directed_cycle_of_clusters_has_conjugate_pairs(path):
    # Three clusters in a directed cycle: slow eigenvalues 1 and a pair 1 - c eps (1 - exp(±2πi/3)).
    P, labels = planted(3, 50, 1e-3, "cycle", seed=8)
    with pytest.raises(InvalidChainError, match="conjugate pair"):
        metastable_sets(P, 2)
    ms = metastable_sets(P, 3)
    assert np.sum(np.abs(ms.eigenvalues.imag) > 1e-8) == 2
    assert ms.eigenvalues[1] == np.conj(ms.eigenvalues[2])
    relabelling(ms.assignment, labels)
    np.testing.assert_allclose(
        np.sort_complex(np.linalg.eigvals(ms.coarse_P)), np.sort_complex(ms.eigenvalues), atol=1e-9
    )


def test_k_equal_one_is_the_trivial_set():
    P, _ = case("line")
    ms = metastable_sets(P, 1)
    n = P.shape[0]
    np.testing.assert_array_equal(ms.memberships, np.ones((n, 1)))
    np.testing.assert_array_equal(ms.sets[0], np.arange(n))
    np.testing.assert_array_equal(ms.coarse_P, [[1.0]])
    assert ms.crispness == 1.0 and ms.eigenvalues.tolist() == [1.0]


@pytest.mark.parametrize("k", [0, -1, 160, 161])
def test_k_out_of_range(k):
    P, _ = case("cycle")  # 160 states
    with pytest.raises(InvalidChainError, match="k"):
        metastable_sets(P, k)


@pytest.mark.parametrize("k", [2.0, True, "2", None])
def test_k_of_wrong_type(k):
    P, _ = case("cycle")
    with pytest.raises(TypeError):
        metastable_sets(P, k)


def test_invalid_input_refused():
    with pytest.raises(InvalidChainError, match="sums to"):
        metastable_sets(np.array([[0.5, 0.4], [0.5, 0.5]]), 1)
    with pytest.raises(InvalidChainError, match="square"):
        metastable_sets(np.ones((2, 3)) / 3, 1)
    P, _ = case("cycle")
    n = P.shape[0]
    with pytest.raises(InvalidChainError, match="eta"):
        metastable_sets(P, 4, eta=np.ones(n - 1))
    with pytest.raises(InvalidChainError, match="positive"):
        metastable_sets(P, 4, eta=np.r_[0.0, np.ones(n - 1)])
    with pytest.raises(InvalidChainError, match="which"):
        metastable_sets(P, 4, which="SM")


# --------------------------------------------------------------------------------------------------
# property: feasibility and partition of unity on random metastable chains


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    K=st.integers(2, 4),
    M=st.integers(6, 25),
    eps=st.sampled_from([1e-4, 1e-3, 1e-2]),
    meta=st.sampled_from(["cycle", "line", "dag"]),
    d=st.integers(1, 5),
    seed=st.integers(0, 10_000),
)
def test_property_feasible_partition_of_unity(K, M, eps, meta, d, seed):
    P, _ = planted(K, M, eps, meta, d=d, n_edges=1, seed=seed)
    ms = metastable_sets(P, K)
    n = P.shape[0]
    chi = ms.memberships
    assert chi.shape == (n, K)
    assert chi.min() >= -1e-12
    np.testing.assert_allclose(chi.sum(axis=1), 1.0, atol=1e-12, rtol=0)
    # the crisp sets partition the states
    allstates = np.sort(np.concatenate(ms.sets))
    np.testing.assert_array_equal(allstates, np.arange(n))
    np.testing.assert_allclose(ms.coarse_P.sum(axis=1), 1.0, atol=1e-10)
    assert 0.0 < ms.crispness <= K + 1e-9


def test_eta_that_is_no_vector_is_an_invalid_chain_error():
    P, _ = case("cycle")
    with pytest.raises(InvalidChainError, match="eta must be a positive vector"):
        metastable_sets(P, 2, eta="abc")
