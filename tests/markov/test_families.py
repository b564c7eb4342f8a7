"""Chain families: closed forms, reference values of the project notes, structure and scale."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

from metacot import Chain, exact
from metacot.errors import InvalidChainError
from metacot.markov.families import from_networkx, line_of_cliques, random_clusters


def closed_form(K, M, eps, q=1.0):
    return (K - 1) * (M / (eps * q) + 1) + M


@pytest.mark.parametrize(
    ("K", "M", "eps", "expected"),
    [(2, 8, 0.1, 89), (4, 16, 0.01, 4819), (8, 32, 0.001, 224039), (5, 10, 0.05, 814)],
)
def test_line_of_cliques_matches_the_issue_values(K, M, eps, expected):
    chain = line_of_cliques(K, M, eps)
    assert closed_form(K, M, eps) == expected
    assert exact.mean_hitting_time(chain) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("q", [0.5, 1.0, 3.0])
@pytest.mark.parametrize(("K", "M", "eps"), [(1, 5, 0.1), (3, 7, 0.02), (6, 20, 1e-4)])
def test_line_of_cliques_closed_form(K, M, eps, q):
    chain = line_of_cliques(K, M, eps, q=q)
    assert exact.mean_hitting_time(chain) == pytest.approx(closed_form(K, M, eps, q), rel=1e-9)


def test_line_of_cliques_structure():
    chain = line_of_cliques(3, 4, 0.1)
    Chain(chain.P)  # the full validation accepts what the trusted constructor built
    P = chain.P.toarray()
    assert chain.start == 0 and chain.target.tolist() == [11]
    assert P[3, 4] == pytest.approx(0.1) and P[7, 8] == pytest.approx(0.1)
    assert P[3, 0] == pytest.approx(0.9 / 4) and P[0, 1] == 0.25
    assert np.count_nonzero(P[:, 4:]) - np.count_nonzero(P[4:, 4:]) == 1


@pytest.mark.parametrize(
    ("K", "M", "eps", "expected"),
    [(4, 16, 1e-3, 48075), (4, 32, 1e-3, 96155), (8, 16, 1e-3, 112135), (4, 16, 1e-4, 480075)],
)
def test_lazy_cycle_reference_values(K, M, eps, expected):
    # papers note §9, "Lazy-cycle clusters": to +-1.
    chain = random_clusters(K, M, eps, kind="lazy_cycle")
    assert abs(exact.mean_hitting_time(chain) - expected) <= 1


@pytest.mark.parametrize(
    ("r", "expected", "meta_expected"),
    [(0, 50015, 50000), (0.5, 80656, 80625), (1, 150085, 150000), (2, 570739, 570000)],
)
def test_backward_edges_reference_values(r, expected, meta_expected):
    # papers note §9, "Line with backward edges", K=6, M=10, eps=1e-3: the chain and its meta-chain.
    meta = "line_back" if r else "line"
    chain = random_clusters(6, 10, 1e-3, kind="complete", meta=meta, back_rate=r)
    assert abs(exact.mean_hitting_time(chain) - expected) <= 1
    assert abs(exact.mean_hitting_time(exact.meta_chain(chain)) - meta_expected) <= 1


@pytest.mark.parametrize("kind", ["er", "regular", "lazy_cycle", "complete"])
@pytest.mark.parametrize("meta", ["line", "dag", "line_back"])
def test_random_clusters_are_valid_metastable_chains(kind, meta):
    chain = random_clusters(5, [6, 9, 7, 12, 8], 1e-3, kind=kind, n_out=2, meta=meta,
                            back_rate=0.5 if meta == "line_back" else 0.0, seed=3,
                            q_range=(0.5, 2.0))
    Chain(chain.P)  # full validation
    c = chain.clusters
    P = chain.P.toarray()
    for k in range(5):
        members = np.flatnonzero(c == k)
        inner = P[np.ix_(members, members)]
        inner = inner / inner.sum(axis=1, keepdims=True)
        # Doubly stochastic within each cluster: uniform stationary law (Assumption 1).
        np.testing.assert_allclose(inner.sum(axis=0), 1.0, atol=1e-12)
        assert exact.closed_classes(Chain(inner))[0].size == members.size  # irreducible
    across = P * (c[:, None] != c[None, :])
    lowest_rate = 0.5 if meta == "line_back" else 1.0
    assert across.max() <= 1e-3 * 2.0 * (1 + 1e-12)
    assert across[across > 0].min() >= 1e-3 * lowest_rate * 0.5 * (1 - 1e-12)
    assert np.isfinite(exact.mean_hitting_time(chain))
    assert chain.start == 0 and c[chain.target[0]] == 4


def test_regular_clusters_are_not_reversible():
    chain = random_clusters(1, 30, 0.1, kind="regular", seed=1)
    P = chain.P.toarray()
    # uniform pi: reversible iff P is symmetric
    assert np.abs(P - P.T).max() > 1e-3


def test_random_clusters_are_reproducible():
    a = random_clusters(4, 10, 1e-2, kind="er", seed=5)
    b = random_clusters(4, 10, 1e-2, kind="er", seed=5)
    c = random_clusters(4, 10, 1e-2, kind="er", seed=6)
    assert (a.P != b.P).nnz == 0
    assert (a.P != c.P).nnz > 0


def test_million_state_chain_builds_and_solves():
    # E[tau] is affine in K for a line of identical clusters; two small chains give the line,
    # against which the 10^6-state solve is checked.
    small = [exact.mean_hitting_time(random_clusters(K, 1000, 1e-3, kind="lazy_cycle")) for K in (2, 3)]
    slope = small[1] - small[0]
    big = random_clusters(1000, 1000, 1e-3, kind="lazy_cycle")
    assert big.n_states == 10**6
    assert exact.mean_hitting_time(big) == pytest.approx(small[0] + 998 * slope, rel=1e-9)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: line_of_cliques(0, 4, 0.1), "K >= 1"),
        (lambda: line_of_cliques(2, 1, 0.1), "M >= 2"),
        (lambda: line_of_cliques(2, 4, 0.0), "0 < eps"),
        (lambda: line_of_cliques(2, 4, 0.6, q=2), "eps\\*q <= 1"),
        (lambda: random_clusters(3, 4, 0.1, kind="torus"), "kind must be"),
        (lambda: random_clusters(3, 4, 0.1, meta="tree"), "meta must be"),
        (lambda: random_clusters(3, 4, 0.1, n_out=4), "at least 5 states"),
        (lambda: random_clusters(3, 4, 0.1, meta="line_back", n_out=2), "at least 5 states"),
        (lambda: random_clusters(3, 4, 0.1, back_rate=1.0), "only used with meta='line_back'"),
        (lambda: random_clusters(3, [4, 4], 0.1), "K sizes"),
        (lambda: random_clusters(3, 4, 0.1, q_range=(2, 1)), "q_range"),
        (lambda: random_clusters(3, 4, 0.6, meta="line_back", back_rate=2), "sparse-edge mass 1.2 > 1"),
    ],
)
def test_family_arguments_are_checked(call, match):
    with pytest.raises(InvalidChainError, match=match):
        call()


def test_networkx_round_trip():
    chain = random_clusters(3, 5, 0.05, kind="regular", seed=2)
    back = from_networkx(chain.to_networkx())
    np.testing.assert_array_equal(back.P.toarray(), chain.P.toarray())
    np.testing.assert_array_equal(back.clusters, chain.clusters)
    assert back.start == chain.start and back.target.tolist() == chain.target.tolist()
    assert back.labels is None


def test_networkx_named_nodes_and_distribution_start():
    named = Chain(np.array([[0.5, 0.5], [0.0, 1.0]]), start=[0.25, 0.75], target=1, labels=["plan", "answer"])
    G = named.to_networkx()
    assert set(G.nodes) == {"plan", "answer"} and G.graph["target"] == ["answer"]
    back = from_networkx(G)
    assert back.labels == ("plan", "answer")
    np.testing.assert_allclose(back.start_distribution(), [0.25, 0.75])


def test_from_networkx_normalises_undirected_graphs_and_reports_bad_nodes():
    G = nx.path_graph(3)
    nx.set_edge_attributes(G, 2.0, "weight")
    chain = from_networkx(G, normalize=True)
    np.testing.assert_allclose(chain.P.toarray(), [[0, 1, 0], [0.5, 0, 0.5], [0, 1, 0]])
    with pytest.raises(InvalidChainError, match=r"node 0: row 0 of P sums to 2\.0"):
        from_networkx(G)
    D = nx.DiGraph()
    D.add_edge("a", "b")
    with pytest.raises(InvalidChainError, match="has no attribute 'weight'"):
        from_networkx(D)
    D.add_edge("a", "b", weight=1.0)
    with pytest.raises(InvalidChainError, match="node 'b' has no out-weight"):
        from_networkx(D, normalize=True)
    with pytest.raises(InvalidChainError, match="'c' is not a node"):
        from_networkx(nx.DiGraph([("a", "a", {"weight": 1.0})]), target="c")


def test_sparse_input_to_chain_from_family_is_canonical():
    chain = line_of_cliques(2, 3, 0.5)
    assert chain.P.has_sorted_indices and sp.isspmatrix_csr(sp.csr_matrix(chain.P))


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: line_of_cliques(2.5, 4, 0.1), "ArgumentTypeError", "K must be an int, got 2.5"),
        (lambda: line_of_cliques(2, "4", 0.1), "ArgumentTypeError", "M must be an int"),
        (lambda: line_of_cliques(2, 4, "0.1"), "ArgumentTypeError", "eps must be a number"),
        (lambda: random_clusters(3, 4, 0.1, seed=-1), "InvalidArgumentError", r"seed must be in \[0, 2\*\*64\)"),
        (lambda: random_clusters(3, 4, 0.1, seed=1.5), "ArgumentTypeError", "seed must be"),
        (lambda: random_clusters(3, 4.0, 0.1), "ArgumentTypeError", "M must be an int"),
        (lambda: random_clusters(3, [4.5, 4, 4], 0.1), "ArgumentTypeError", "M must be an int or a sequence of ints"),
        (lambda: random_clusters(3, 4, None), "ArgumentTypeError", "eps must be a number"),
        (lambda: random_clusters(3, 4, -0.1), "InvalidChainError", "eps must be a positive finite number"),
        (lambda: random_clusters(3, 4, 0.1, density=1.5), "InvalidArgumentError", r"density must lie in \[0, 1\]"),
        (lambda: random_clusters(3, 4, 0.1, kind=["er"]), "InvalidChainError", "kind must be one of"),
        (lambda: random_clusters(3, 4, 0.1, n_out=1.0), "ArgumentTypeError", "n_out must be an int"),
    ],
)
def test_family_argument_types_are_metacot_errors(call, error, match):
    import metacot.errors as errors

    with pytest.raises(getattr(errors, error), match=match) as info:
        call()
    assert isinstance(info.value, errors.MetacotError)


def test_a_generator_seed_gives_the_same_chain_as_its_draws():
    a = random_clusters(3, 8, 0.1, seed=np.random.default_rng(4))
    b = random_clusters(3, 8, 0.1, seed=np.random.default_rng(4))
    assert (a.P != b.P).nnz == 0
