"""Algorithm 1 (two-stage pretraining) and the transition-count kernel, against exact oracles."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import stochastic_matrices

from metacot import Chain, exact
from metacot.errors import InvalidChainError
from metacot.markov.families import line_of_cliques, random_clusters
from metacot.theory.pretrain import (
    fit_logit_table,
    pretrain,
    softmax_rows,
    sparse_edge_errors,
    support_recovery,
    transition_counts,
)


# --------------------------------------------------------------------------- transition counts
def test_counts_sum_to_the_length_and_live_on_the_edges():
    chain = random_clusters(3, 6, 0.05, kind="er", seed=1)
    data = transition_counts(chain, 50_000, seed=3)
    assert data.n_steps == 50_000 and int(data.counts.sum()) == 50_000
    # stored on the sparsity pattern of P: no transition outside the chain's edges
    assert np.array_equal(data.counts.indices, chain.P.indices) and np.array_equal(data.counts.indptr, chain.P.indptr)


def test_prefix_counts_equal_shorter_runs_with_the_same_seed():
    chain = line_of_cliques(3, 5, 0.1)
    prefixes = transition_counts(chain, [0, 777, 5_000, 2**20 + 5], seed=11)
    for data in prefixes:
        alone = transition_counts(chain, data.n_steps, seed=11)
        assert np.array_equal(alone.counts.toarray(), data.counts.toarray())
        assert alone.n_restarts == data.n_restarts
    assert prefixes[0].counts.sum() == 0


def test_restart_never_records_a_target_row_and_counts_the_episodes():
    chain = line_of_cliques(2, 4, 0.2)
    data = transition_counts(chain, 20_000, seed=5)
    N = data.counts.toarray()
    assert N[chain.target].sum() == 0
    # every episode ends with exactly one transition into the target
    assert N[:, chain.target].sum() == data.n_restarts > 0
    straight = transition_counts(chain, 20_000, seed=5, restart=False)
    assert straight.n_restarts == 0


def test_empirical_rows_match_P_within_five_standard_errors():
    """Monte Carlo: seed 2, 10^6 steps of a 3-state chain; every entry within 5 SE of P."""
    P = np.array([[0.5, 0.3, 0.2], [0.1, 0.8, 0.1], [0.25, 0.25, 0.5]])
    data = transition_counts(Chain(P, start=0), 1_000_000, seed=2, restart=False)
    N = data.dense()
    n = N.sum(axis=1, keepdims=True)
    se = np.sqrt(P * (1 - P) / n)
    assert np.all(np.abs(N / n - P) <= 5 * se)
    # visit frequencies against the exact stationary law (tolerance 1%, far above the MC error here)
    np.testing.assert_allclose(n.ravel() / n.sum(), exact.stationary(Chain(P)), rtol=0.01)


def test_counts_refuse_bad_requests():
    chain = line_of_cliques(2, 4, 0.1)
    with pytest.raises(InvalidChainError, match="sorted"):
        transition_counts(chain, [10, 5])
    with pytest.raises(InvalidChainError, match="single state"):
        transition_counts(chain.replace(start=np.full(8, 1 / 8)), 10)
    with pytest.raises(InvalidChainError, match="is a target"):
        transition_counts(chain.replace(target=0), 10)


# --------------------------------------------------------------------------- gradient descent
@given(stochastic_matrices(min_n=2, max_n=6), st.integers(0, 2**31 - 1))
def test_gd_on_exact_counts_reaches_the_empirical_rows(P, seed):
    """The CE optimum on a support containing the data is the empirical transition matrix."""
    rng = np.random.default_rng(seed)
    counts = P * rng.uniform(1, 1000, size=(P.shape[0], 1))  # rows weighted arbitrarily
    fit = fit_logit_table(counts, counts > 0)
    assert fit.converged
    np.testing.assert_allclose(fit.probs, P, rtol=0, atol=1e-11)


def test_fixed_step_and_armijo_agree_at_convergence():
    counts = np.array([[6.0, 3.0, 1.0], [0.0, 5.0, 5.0], [2.0, 0.0, 8.0]])
    a = fit_logit_table(counts, counts > 0, tol=1e-12)
    f = fit_logit_table(counts, counts > 0, step="fixed", lr=1.0, tol=1e-12, max_iter=200_000)
    assert a.converged and f.converged and a.n_iter < f.n_iter
    np.testing.assert_allclose(a.probs, f.probs, atol=1e-11)
    np.testing.assert_allclose(a.probs, counts / counts.sum(axis=1, keepdims=True), atol=1e-11)


def test_rows_without_data_stay_at_the_initialisation():
    counts = np.array([[1.0, 3.0], [0.0, 0.0]])
    fit = fit_logit_table(counts, (counts > 0) | np.array([[False, False], [True, True]]))
    assert fit.probs[1].tolist() == [0.5, 0.5] and fit.converged


def test_an_empty_support_row_is_refused():
    with pytest.raises(InvalidChainError, match="row 1 has an empty support"):
        fit_logit_table(np.array([[1.0, 3.0], [0.0, 0.0]]), np.array([[True, True], [False, False]]))


def test_gd_refuses_data_outside_the_support_and_bad_counts():
    with pytest.raises(InvalidChainError, match="outside the support"):
        fit_logit_table(np.array([[1.0, 1.0]]), np.array([[True, False]]))
    with pytest.raises(InvalidChainError, match="non-negative"):
        fit_logit_table(np.array([[1.0, -1.0]]))


def test_softmax_rows_handles_minus_infinity():
    p = softmax_rows(np.array([[np.log(2.0), 0.0, -np.inf], [1000.0, 1000.0, -np.inf]]))
    np.testing.assert_allclose(p, [[2 / 3, 1 / 3, 0.0], [0.5, 0.5, 0.0]], atol=1e-15)


# --------------------------------------------------------------------------- Algorithm 1
@pytest.mark.parametrize("chain", [line_of_cliques(3, 5, 0.05), random_clusters(3, 6, 0.05, kind="er", seed=4)])
def test_pretraining_on_exact_counts_recovers_P_and_its_support(chain):
    """Counts = diag(w) P (no sampling noise): the learned chain is P and its support is exact."""
    w = np.linspace(1e5, 3e5, chain.n_states)
    result = pretrain(chain.P.toarray() * w[:, None], threshold=0.05 / 4, like=chain)
    truth = chain.P.toarray()
    assert np.array_equal(result.support, truth > 0) and result.n_dropped == 0
    assert result.stage2.converged
    np.testing.assert_allclose(result.probs, truth, atol=1e-11)
    assert exact.mean_hitting_time(result.chain) == pytest.approx(exact.mean_hitting_time(chain), rel=1e-8)
    assert np.all(sparse_edge_errors(result.chain, chain) < 1e-9)


def test_threshold_prunes_rare_edges_and_stage_two_renormalises():
    counts = np.array([[900.0, 99.0, 1.0], [10.0, 80.0, 10.0], [0.0, 50.0, 50.0]])
    result = pretrain(counts, threshold=0.01)
    assert result.support.tolist() == [[True, True, False], [True, True, True], [False, True, True]]
    assert result.n_dropped == 1
    np.testing.assert_allclose(result.probs[0], [900 / 999, 99 / 999, 0.0], atol=1e-11)
    # stage 1 leaves the unseen edge under the threshold, not at zero
    assert 0 < result.stage1.probs[2, 0] < 0.01


def test_pretraining_from_a_trajectory_recovers_the_chain():
    """Monte Carlo: seed 0, T = 4·K·M²/ε² = 51 200 steps of line_of_cliques(2, 8, 0.1).

    Tolerances: the rule of experiment P1 (support exact, sparse-edge error ≤ 0.2, E[τ] within 10%).
    """
    true = line_of_cliques(2, 8, 0.1)
    result = pretrain(transition_counts(true, 51_200, seed=0), threshold=0.1 / 4)
    assert support_recovery(result, true) == {"exact": True, "missing": 0, "spurious": 0, "unvisited": 0}
    assert sparse_edge_errors(result.chain, true).max() <= 0.2
    assert exact.mean_hitting_time(result.chain) == pytest.approx(exact.mean_hitting_time(true), rel=0.1)
    assert result.chain.target.tolist() == true.target.tolist() and result.chain.start == true.start


def test_pretraining_refuses_tables_that_do_not_fit():
    import scipy.sparse as sp

    from metacot.errors import MemoryBudgetError

    with pytest.raises(MemoryBudgetError, match="5000 states"):
        pretrain(sp.csr_array((5000, 5000)), threshold=0.1)


def test_support_recovery_counts_unvisited_rows_as_failures():
    true = line_of_cliques(3, 4, 0.01)
    result = pretrain(transition_counts(true, 50, seed=0), threshold=0.01 / 4)
    report = support_recovery(result, true)
    assert report["unvisited"] > 0 and not report["exact"]


# --------------------------------------------------------------------------- experiment P1
def test_p1_quick_run_writes_its_verdict(tmp_path):
    from experiments import p1_pretraining

    verdict = p1_pretraining.run(quick=True, results=tmp_path)
    saved = json.loads((tmp_path / "P1" / "verdict.json").read_text())
    assert saved["id"] == "P1" and saved["quick"] is True and isinstance(saved["passed"], bool)
    assert {"claim", "prediction", "measured", "rule"} <= saved.keys()
    assert (tmp_path / "P1" / "figure.png").stat().st_size > 0 and (tmp_path / "P1" / "data.csv").stat().st_size > 0
    # the sufficiency half of the rule holds in the quick setting; the verdict is consistent with it
    assert saved["details"]["sufficiency"] is True
    assert verdict["passed"] == (saved["details"]["sufficiency"] and saved["details"]["contrast_trend"])
