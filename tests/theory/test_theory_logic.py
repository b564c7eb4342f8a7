"""The Z₂ logical task: exact orthogonality, zero low-order correlations, global vs local learners."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from metacot.errors import InvalidChainError
from metacot.theory.logic import (
    ParityPredictor,
    _gf2_solve,
    accuracy,
    fit_correlational,
    fit_global,
    local_features,
    log_num_hypotheses,
    logic_task,
    parity_gram,
    sample,
    sparse_positions,
    target_correlations,
)


# --------------------------------------------------------------------------- exact enumeration
@pytest.mark.parametrize("L, K", [(2, 1), (6, 3), (8, 4), (10, 5), (12, 6)])
def test_parity_hypotheses_are_pairwise_orthogonal(L, K):
    G, hyps = parity_gram(L, K)
    assert len(hyps) == math.comb(L, K) == G.shape[0]
    assert np.abs(G - np.eye(len(hyps))).max() <= 1e-12


@pytest.mark.parametrize("K", [2, 3, 4, 5])
def test_every_single_step_correlation_with_y_is_zero(K):
    L = 2 * K
    task = logic_task(K, L, seed=K)
    corr, monomials = target_correlations(L, task.S, order=2)
    order = np.array([len(m) for m in monomials])
    assert np.abs(corr[order == 1]).max() <= 1e-12
    # pairs see the answer only when S itself is a pair
    pair_hit = [m for m, c in zip(monomials, corr) if abs(c) > 1e-12]
    assert pair_hit == ([tuple(task.S)] if K == 2 else [])


def test_a_single_sparse_step_is_visible_to_a_single_step_correlation():
    corr, _ = target_correlations(5, [3], order=1)
    assert corr.tolist() == [0.0, 0.0, 0.0, 1.0, 0.0]


def test_hypothesis_count_grows_exponentially_in_K():
    logs = np.array([log_num_hypotheses(2 * k, k) for k in range(2, 41)])
    increments = np.diff(logs)
    # log C(2K+2, K+1) - log C(2K, K) = log((2K+2)(2K+1)/(K+1)^2) increases towards log 4
    assert np.all(increments > 1.0) and np.all(np.diff(increments) > 0) and increments[-1] < math.log(4)
    assert log_num_hypotheses(80, 40) == pytest.approx(math.log(math.comb(80, 40)), rel=1e-15)


# --------------------------------------------------------------------------- the task
@pytest.mark.parametrize("K, L, seed", [(1, 1, 0), (3, 6, 1), (4, 8, 2), (8, 16, 3), (5, 14, 4)])
def test_task_structure(K, L, seed):
    task = logic_task(K, L, M=8, eps=1e-2, seed=seed)
    P = task.chain.P.toarray()
    c = task.chain.clusters
    x, y = task.steps[:, 0], task.steps[:, 1]
    assert task.L == L and task.K == K and task.chain.n_clusters == K + 1
    assert np.all(P[x, y] == 1e-2)  # every low-probability step has probability exactly ε
    assert np.array_equal(task.sparse, c[x] != c[y]) and np.array_equal(sparse_positions(task), task.S)
    # the path moves forward one cluster at every sparse step and stays put at every decoy
    assert np.array_equal(c[y][task.sparse] - c[x][task.sparse], np.ones(K))
    assert c[x][0] == 0 and c[y][-1] == K
    # what a local learner sees is the same for every step
    feats = local_features(task)
    assert np.all(feats == feats[0])
    # no other edge has probability ε (every low-probability edge is on the path)
    assert int(np.isclose(P, 1e-2).sum()) == L


def test_task_refuses_impossible_requests():
    with pytest.raises(InvalidChainError):
        logic_task(3, 2)
    with pytest.raises(InvalidChainError, match="raise M"):
        logic_task(2, 30, M=6)


@given(st.integers(1, 8), st.integers(0, 2**31 - 1))
def test_samples_are_parities(L, seed):
    rng = np.random.default_rng(seed)
    S = np.flatnonzero(rng.random(L) < 0.5)
    sigma, y = sample(L, 64, seed=seed, S=S)
    assert set(np.unique(sigma)) <= {-1, 1}
    assert np.array_equal(y, np.prod(sigma[:, S], axis=1))


def test_signs_are_balanced():
    """Monte Carlo: seed 9, 10^5 samples; each σ_t and y have mean 0 within 5 SE (5/sqrt(n))."""
    sigma, y = sample(logic_task(4, 8, seed=0), 100_000, seed=9)
    tol = 5 / np.sqrt(100_000)
    assert np.abs(sigma.mean(axis=0)).max() < tol and abs(y.mean()) < tol


# --------------------------------------------------------------------------- learners
def test_gf2_solver_finds_solutions_and_detects_inconsistency():
    rng = np.random.default_rng(0)
    for _ in range(50):
        A = rng.integers(0, 2, size=(12, 7), dtype=np.uint8)
        w = rng.integers(0, 2, size=7, dtype=np.uint8)
        b = A @ w % 2
        assert np.array_equal(A @ _gf2_solve(A, b) % 2, b)
    with pytest.raises(InvalidChainError, match="not a parity"):
        _gf2_solve(np.array([[1, 0], [1, 0]]), np.array([0, 1]))


@pytest.mark.parametrize("K", [2, 4, 6, 8])
def test_global_learner_is_exact_with_O_K_samples(K):
    """Seeds 100+K (train) and 200+K (test, 5000 samples): ≥ 99% with ≤ 20K samples; here K + 8 suffice."""
    task = logic_task(K, 2 * K, seed=K)
    test = sample(task, 5_000, seed=200 + K)
    assert accuracy(fit_global(task, *sample(task, K + 8, seed=100 + K)), *test) == 1.0
    assert accuracy(fit_global(task, *sample(task, 20 * K, seed=100 + K)), *test) >= 0.99


@pytest.mark.parametrize("order", [1, 2])
def test_local_learner_stays_at_chance_for_K_4(order):
    """Seeds 31 (10^5 training samples) and 32 (20 000 test samples, SE 0.0035): accuracy ≤ 55%."""
    task = logic_task(4, 8, seed=4)
    model = fit_correlational(*sample(task, 100_000, seed=31), order=order)
    assert accuracy(model, *sample(task, 20_000, seed=32)) <= 0.55
    # its weights are pure noise: all within 5 SE of 0
    assert np.abs(model.weights).max() < 5 / np.sqrt(100_000)


def test_local_learner_of_order_K_succeeds():
    """Sanity check of the learner itself: order 2 finds a 2-sparse parity (seed 5, 2000 samples)."""
    task = logic_task(2, 6, seed=5)
    model = fit_correlational(*sample(task, 2_000, seed=5), order=2)
    assert accuracy(model, *sample(task, 2_000, seed=6)) == 1.0


def test_parity_predictor():
    model = ParityPredictor(np.array([True, False, True]))
    sigma = np.array([[1, 1, 1], [-1, 1, 1], [-1, -1, -1]])
    assert model.predict(sigma).tolist() == [1, -1, 1]


# --------------------------------------------------------------------------- experiment L1
def test_l1_quick_run_writes_its_verdict(tmp_path):
    from experiments import l1_local_information

    verdict = l1_local_information.run(quick=True, results=tmp_path)
    saved = json.loads((tmp_path / "L1" / "verdict.json").read_text())
    assert saved["id"] == "L1" and saved["quick"] is True
    assert {"claim", "prediction", "measured", "rule"} <= saved.keys()
    assert (tmp_path / "L1" / "figure.png").stat().st_size > 0 and (tmp_path / "L1" / "data.csv").stat().st_size > 0
    assert verdict["passed"] is True, verdict["measured"]
