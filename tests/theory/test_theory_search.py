"""Sparse Edge Search, the PRM chain and the experiments S1-S3 (quick runs)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from metacot import Chain, exact
from metacot.errors import InvalidChainError
from metacot.markov.families import line_of_cliques, random_clusters
from metacot.theory import (
    precision_recall,
    prm_chain,
    search_parameters,
    sparse_edge_search,
    true_sparse_edges,
)


def as_set(edges) -> set[tuple[int, int]]:
    return {(int(x), int(y)) for x, y in np.asarray(edges).reshape(-1, 2)}


# --------------------------------------------------------------------------- parameters and helpers
def test_search_parameters_follow_the_notes():
    # R = ceil(2K ln K), N = ceil(2 ln K), T0 = ceil(3 M ln M), T_max = ceil(3 (M/eps) ln K)
    assert search_parameters(4, 16, 1e-3) == {"R": 12, "N": 3, "T0": 134, "T_max": 66543}
    assert search_parameters(16, 8, 1e-4) == {"R": 89, "N": 6, "T0": 50, "T_max": 665422}
    p = search_parameters(1, 4, 0.5)  # ln 1 = 0: still one round of one rollout and a phase 2
    assert p["R"] == 1 and p["N"] == 1 and p["T_max"] > p["T0"]


def test_true_sparse_edges_are_the_cross_cluster_transitions():
    assert as_set(true_sparse_edges(line_of_cliques(4, 5, 0.1))) == {(4, 5), (9, 10), (14, 15)}
    chain = random_clusters(3, 6, 0.01, kind="er", n_out=2, meta="line_back", back_rate=1.0, seed=3)
    # two forward sources per cluster (last two states), two backward sources (states 1, 2)
    expected = {(4, 6), (5, 6), (10, 12), (11, 12), (7, 0), (8, 0), (13, 6), (14, 6)}
    assert as_set(true_sparse_edges(chain)) == expected


def test_precision_recall_conventions():
    assert precision_recall([[1, 2], [3, 4]], [[3, 4], [5, 6]]) == (0.5, 0.5)
    assert precision_recall([[3, 4], [3, 4]], [[3, 4]]) == (1.0, 1.0)  # repeats ignored
    assert precision_recall(np.empty((0, 2)), [[3, 4]]) == (1.0, 0.0)  # nothing found: no false positive
    assert precision_recall([[3, 4]], np.empty((0, 2))) == (0.0, 1.0)


# --------------------------------------------------------------------------- the search
@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_search_recovers_exactly_the_sparse_edges_when_scales_are_separated(seed):
    # T0 = 50 > cover time of an 8-clique (about 22) and T0 << M/eps = 8000.
    chain = line_of_cliques(K=6, M=8, eps=1e-3)
    res = sparse_edge_search(chain, **search_parameters(6, 8, 1e-3), seed=seed)
    assert as_set(res.edges) == as_set(true_sparse_edges(chain))
    assert precision_recall(res.edges, true_sparse_edges(chain)) == (1.0, 1.0)


def test_each_mode_finds_every_exit_of_clusters_with_several_sources():
    # Three exits per cluster are a coupon collection: 30 rounds of 3 rollouts visit each cluster
    # about 10 times, so a missed exit has probability about 9 * (2/3)**30 < 1e-4 per run.
    chain = random_clusters(4, 8, 1e-3, kind="complete", n_out=3, seed=0)
    params = {**search_parameters(4, 8, 1e-3), "R": 30}
    for seed in range(3):
        res = sparse_edge_search(chain, **params, seed=seed, round_ends="each")
        assert precision_recall(res.edges, true_sparse_edges(chain)) == (1.0, 1.0)
        assert res.rounds["found"].max() > 1  # several exits recorded in one round


def test_phase1_shorter_than_the_cover_time_gives_false_positives():
    chain = line_of_cliques(K=4, M=16, eps=1e-3)
    params = {**search_parameters(4, 16, 1e-3), "T0": 3}
    for seed in range(3):
        res = sparse_edge_search(chain, **params, seed=seed)
        false = as_set(res.edges) - as_set(true_sparse_edges(chain))
        assert false, "a 3-step phase 1 cannot cover a 16-clique"
        # the false positives are easy, within-cluster steps
        assert all(chain.clusters[x] == chain.clusters[y] for x, y in false)


def test_search_is_deterministic_for_a_seed():
    chain = random_clusters(4, 12, 1e-3, kind="er", seed=5)
    params = search_parameters(4, 12, 1e-3)
    a = sparse_edge_search(chain, **params, seed=11)
    b = sparse_edge_search(chain, **params, seed=11)
    c = sparse_edge_search(chain, **params, seed=12)
    np.testing.assert_array_equal(a.edges, b.edges)
    assert a.steps == b.steps and a.rounds.equals(b.rounds)
    assert a.steps != c.steps
    g = sparse_edge_search(chain, **params, seed=np.random.default_rng(3))
    h = sparse_edge_search(chain, **params, seed=np.random.default_rng(3))
    assert g.steps == h.steps


def test_restart_mode_only_finds_the_start_clusters_exit():
    chain = line_of_cliques(K=4, M=8, eps=1e-3)
    res = sparse_edge_search(chain, **search_parameters(4, 8, 1e-3), seed=0, advance="restart")
    assert as_set(res.edges) == {(7, 8)}


def test_cost_accounting_on_a_deterministic_chain():
    # 0 -> 1 -> 2 -> 3 (absorbing target); clusters {0, 1, 2} and {3}. With T0 = 2 every rollout
    # visits 0, 1, 2 in phase 1 and leaves by (2, 3) at t = 3. Lockstep with ties to rollout 0:
    # rollout 0 takes 3 steps, the others 2; the next round starts at the target and ends at once.
    P = np.zeros((4, 4))
    P[0, 1] = P[1, 2] = P[2, 3] = P[3, 3] = 1.0
    chain = Chain(P, clusters=[0, 0, 0, 1], start=0, target=3)
    first = sparse_edge_search(chain, R=4, N=3, T0=2, T_max=10, seed=0)
    assert as_set(first.edges) == {(2, 3)}
    assert first.rounds["steps"].tolist() == [3 + 2 + 2, 0, 3 + 2 + 2, 0]
    assert first.rounds["outcome"].tolist() == ["recorded", "at_target"] * 2
    assert first.rounds["start"].tolist() == [0, 3, 0, 3] and first.steps == 14
    each = sparse_edge_search(chain, R=2, N=3, T0=2, T_max=10, seed=0, round_ends="each")
    assert each.rounds["steps"].tolist() == [9, 0] and each.rounds["found"].tolist() == [3, 0]


def test_min_support_needs_the_source_seen_by_several_rollouts():
    # With one rollout per round a support of 2 is impossible; it is capped at N, so exits still count.
    P = np.zeros((4, 4))
    P[0, 1] = P[1, 2] = P[2, 3] = P[3, 3] = 1.0
    chain = Chain(P, clusters=[0, 0, 0, 1], start=0, target=3)
    assert as_set(sparse_edge_search(chain, R=1, N=1, T0=2, T_max=5, min_support=2).edges) == {(2, 3)}


def test_search_refuses_bad_input():
    chain = line_of_cliques(3, 4, 0.1)
    with pytest.raises(InvalidChainError, match="T_max"):
        sparse_edge_search(chain, R=2, N=2, T0=10, T_max=10)
    with pytest.raises(InvalidChainError, match="start"):
        sparse_edge_search(chain.replace(start=np.full(12, 1 / 12)), R=2, N=2, T0=1, T_max=10)
    with pytest.raises(InvalidChainError, match="advance"):
        sparse_edge_search(chain, R=2, N=2, T0=1, T_max=10, advance="jump")


# --------------------------------------------------------------------------- the PRM chain
@pytest.mark.parametrize(("K", "M", "eps", "eps_max"), [(4, 16, 1e-3, 0.1), (8, 32, 1e-4, 3e-3), (5, 10, 0.05, 0.2)])
def test_prm_chain_of_family_a_has_the_closed_form_hitting_time(K, M, eps, eps_max):
    chain = line_of_cliques(K, M, eps)
    prm = prm_chain(chain, true_sparse_edges(chain), eps_max)
    expected = (K - 1) * (M / eps_max + 1) + M
    assert exact.mean_hitting_time(prm) == pytest.approx(expected, rel=1e-9)
    # it is the line of cliques at eps_max, entry by entry
    np.testing.assert_allclose(prm.P.toarray(), line_of_cliques(K, M, eps_max).P.toarray(), atol=1e-15)


def test_prm_chain_rescales_only_source_rows():
    chain = random_clusters(3, 8, 1e-3, kind="er", n_out=2, seed=1)
    edges = true_sparse_edges(chain)[:3]
    prm = prm_chain(chain, edges, 0.05)
    P, Q = chain.P.toarray(), prm.P.toarray()
    sources = np.unique(edges[:, 0])
    others = np.setdiff1d(np.arange(chain.n_states), sources)
    np.testing.assert_array_equal(Q[others], P[others])
    np.testing.assert_allclose(Q.sum(axis=1), 1.0, atol=1e-14)
    for x, y in edges:
        assert Q[x, y] == 0.05
    x = sources[0]
    rest = [y for y in np.flatnonzero(P[x]) if (x, y) not in as_set(edges)]
    ratio = Q[x, rest] / P[x, rest]
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-12)  # proportional rescaling
    assert prm.start == chain.start and np.array_equal(prm.target, chain.target)


def test_prm_chain_refuses_impossible_edges():
    chain = line_of_cliques(3, 4, 0.1)
    with pytest.raises(InvalidChainError, match="not a transition"):
        prm_chain(chain, [[0, 5]], 0.1)
    P = np.array([[0.5, 0.25, 0.25], [0, 1, 0], [0, 0, 1]])
    with pytest.raises(InvalidChainError, match="cannot give"):
        prm_chain(Chain(P), [[0, 1], [0, 2]], 0.6)
    with pytest.raises(InvalidChainError, match="eps_max"):
        prm_chain(chain, [[3, 4]], 0.0)


# --------------------------------------------------------------------------- quick experiments
def _check_verdict(out, exp_id):
    verdict = json.loads((out / exp_id / "verdict.json").read_text())
    assert {"id", "claim", "prediction", "measured", "passed", "rule", "quick", "seconds"} <= verdict.keys()
    assert verdict["id"] == exp_id and verdict["quick"] is True and isinstance(verdict["passed"], bool)
    assert (out / exp_id / verdict["figure"]).stat().st_size > 0
    assert (out / exp_id / verdict["data"]).stat().st_size > 0
    return verdict


def test_s1_quick_run_writes_its_verdict(tmp_path):
    """Smoke check of the quick run (K = 4 cost fit, 10 seeds), held to the rule's slope tolerance 1 ± 0.1."""
    from experiments import s1_search_recovery

    s1_search_recovery.run(quick=True, results=tmp_path)
    v = _check_verdict(tmp_path, "S1")
    assert set(v["details"]["recovery_counts"]) == {"A K=4", "A K=8", "B K=4", "B K=8"}
    assert all(abs(s["slope"] - 1) <= 0.1 for s in v["details"]["slopes"].values())


def test_s2_quick_run_writes_its_verdict(tmp_path):
    from experiments import s2_cluster_identification

    s2_cluster_identification.run(quick=True, results=tmp_path)
    v = _check_verdict(tmp_path, "S2")
    rates = v["details"]["fp_rates"]
    for fam in ("A", "B"):
        by_factor = {r["factor"]: r["fp_rate"] for r in rates if r["family"] == fam and r["K"] == 4}
        assert by_factor[0.1] > 0.5 > by_factor[3.0]  # the failure mode shows, and goes away


def test_s3_quick_run_passes(tmp_path):
    from experiments import s3_prm

    s3_prm.run(quick=True, results=tmp_path)
    v = _check_verdict(tmp_path, "S3")
    assert v["passed"], v["measured"]
    assert v["details"]["family_a_closed_form_max_rel_err"] < 1e-9
