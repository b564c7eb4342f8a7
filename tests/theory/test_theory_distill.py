"""Algorithm 4 (meta-chain distillation, time rescaling) against the notes' §9 numbers and exact oracles."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from metacot import exact
from metacot.errors import InvalidChainError
from metacot.markov.families import line_of_cliques, random_clusters
from metacot.theory.distill import (
    cluster_counts,
    distill,
    distill_exact,
    jump_chain,
    jump_tv,
    leave_probabilities,
    meta_chain_errors,
    rescale_logits,
    time_rescaling,
)
from metacot.theory.pretrain import softmax_rows, transition_counts


# --------------------------------------------------------------------------- the notes' §9 oracle
@pytest.mark.parametrize("b, p_leave, e_tau", [(0.0, 0.500, 10.0), (2.0, 0.881, 5.68)])
def test_distilled_line_matches_the_notes_reference_numbers(b, p_leave, e_tau):
    """Notes §9: leave probability 0.500 / 0.881 and E[τ_meta] = 10.0 / 5.68 for K = 6, for every ε.

    The exact values carry an O(ε/M) correction, E = 5(1 - ε/M + e^b)/e^b; with M = 16 (the notes do not
    give M) it stays below the printed digits (9.997 at ε = 1e-2; M = 10 would give 9.995, which prints
    as 9.99).
    """
    M = 16
    seen = []
    for eps in (1e-2, 1e-3, 1e-4):
        model = distill_exact(line_of_cliques(6, M, eps), time_rescaling(M, eps, b))
        leave = leave_probabilities(model.distilled)[:-1]  # the target cluster is absorbing
        # closed form of the rescaled line, e^b / (1 - ε/M + e^b). GD stops at an absolute gradient of
        # 1e-13, i.e. a relative error of 1e-13 / (ε/M) = 1e-8 on the student's escape entries at ε = 1e-4.
        np.testing.assert_allclose(leave, np.exp(b) / (1 - eps / M + np.exp(b)), rtol=1e-7)
        assert round(float(leave.max()), 3) == round(float(leave.min()), 3) == p_leave
        assert model.hitting_time() == pytest.approx(5 / leave[0], rel=1e-9)  # same model: solver precision
        seen.append(float(f"{model.hitting_time():.3g}"))
    assert seen == [e_tau] * 3  # identical across ε to the three digits the notes print


def test_student_on_exact_meta_chain_is_the_meta_chain():
    chain = random_clusters(4, 8, 1e-3, kind="er", meta="line_back", back_rate=0.5, seed=2)
    model = distill_exact(chain, beta=0.0)
    q = exact.meta_chain(chain)
    assert model.fit.converged
    assert meta_chain_errors(model, q)["max_rel"] < 1e-7
    # β = 0 leaves the student as it is
    np.testing.assert_allclose(model.distilled.P.toarray(), model.student.P.toarray(), atol=0)


# --------------------------------------------------------------------------- rescaling and jump chains
@given(
    arrays(np.float64, (5, 5), elements=st.floats(-20, 20)),
    arrays(np.bool_, (5, 5)),
    st.floats(-5, 30),
)
def test_rescaling_leaves_the_jump_chain_unchanged(Z, drop, beta):
    """Adding the same β to every off-diagonal logit: jump chain equal to 1e-12, diagonal logits untouched."""
    Z = np.where(drop & ~np.eye(5, dtype=bool), -np.inf, Z)
    Zp = rescale_logits(Z, beta)
    assert np.array_equal(np.diag(Zp), np.diag(Z))
    J, leaves = jump_chain(softmax_rows(Z))
    Jp, leaves_p = jump_chain(softmax_rows(Zp))
    assert np.array_equal(leaves, leaves_p)
    np.testing.assert_allclose(Jp, J, rtol=0, atol=1e-12)


def test_rescaling_raises_the_leave_probability_to_order_one():
    eps, M = 1e-4, 16
    q = exact.meta_chain(line_of_cliques(3, M, eps)).P.toarray()
    Z = np.log(np.where(q > 0, q, 1.0)) + np.where(q > 0, 0.0, -np.inf)
    assert leave_probabilities(softmax_rows(Z))[0] == pytest.approx(eps / M, rel=1e-12)
    plus = softmax_rows(rescale_logits(Z, time_rescaling(M, eps)))
    assert leave_probabilities(plus)[0] == pytest.approx(1 / (2 - eps / M), rel=1e-12)


def test_jump_tv_and_leave_probabilities_on_small_cases():
    Q = np.array([[0.8, 0.15, 0.05], [0.0, 1.0, 0.0], [0.5, 0.0, 0.5]])
    J, leaves = jump_chain(Q)
    np.testing.assert_allclose(J[0], [0.0, 0.75, 0.25])
    assert leaves.tolist() == [True, False, True]
    tv = jump_tv(Q, np.array([[0.9, 0.05, 0.05], [0.0, 1.0, 0.0], [0.1, 0.0, 0.9]]))
    assert tv[0] == pytest.approx(0.25) and np.isnan(tv[1]) and tv[2] == 0.0
    np.testing.assert_allclose(leave_probabilities(Q), [0.2, 0.0, 0.5], atol=1e-15)


def test_time_rescaling_and_bad_inputs():
    assert time_rescaling(16, 1e-2, 2.0) == pytest.approx(np.log(1600) + 2)
    with pytest.raises(InvalidChainError):
        time_rescaling(16, 0.0)
    with pytest.raises(InvalidChainError, match="square"):
        rescale_logits(np.zeros((2, 3)), 1.0)


# --------------------------------------------------------------------------- data
def test_cluster_counts_add_up_the_state_counts():
    chain = random_clusters(3, 5, 0.05, kind="er", seed=0)
    data = transition_counts(chain, 30_000, seed=1)
    C = cluster_counts(data)
    N = data.dense()
    c = chain.clusters
    brute = np.array([[N[np.ix_(c == i, c == j)].sum() for j in range(3)] for i in range(3)])
    assert np.array_equal(C, brute) and C.sum() == 30_000
    with pytest.raises(InvalidChainError, match="labels"):
        cluster_counts(N)


def test_student_on_exact_counts_is_the_cluster_frequency():
    """Counts diag(π)P of an irreducible chain: the student is exactly the π-weighted cluster kernel."""
    chain = random_clusters(3, 6, 0.02, kind="er", meta="line_back", back_rate=1.0, seed=5)
    pi = exact.stationary(chain)
    N = chain.P.toarray() * pi[:, None] * 1e7
    C = cluster_counts(N, chain.clusters)
    from metacot.theory.distill import _student

    model = _student(C, "observed", 0, [2], beta=0.0, tol=1e-13)
    np.testing.assert_allclose(model.student.P.toarray(), C / C.sum(axis=1, keepdims=True), atol=1e-12)


def test_distillation_from_a_trajectory():
    """Monte Carlo: seed 3, T = 10·M²/ε² = 64 000 steps of line_of_cliques(3, 4, 0.05).

    Tolerances: off-diagonal relative error ≤ 0.15 (about 4 standard errors with ~400 crossings per
    edge) and the distilled hitting time within 5% of the exact (K − 1)/p_leave = 4.
    """
    chain = line_of_cliques(3, 4, 0.05)
    model = distill(transition_counts(chain, 64_000, seed=3), time_rescaling(4, 0.05))
    err = meta_chain_errors(model, exact.meta_chain(chain))
    assert err["max_rel"] <= 0.15 and err["abs_zero"] == 0.0
    assert model.hitting_time() == pytest.approx(2 / (1 / (2 - 0.05 / 4)), rel=0.05)
    assert model.student.start == 0 and model.student.target.tolist() == [2]


def test_training_on_all_pairs_leaves_mass_that_rescaling_amplifies():
    """Why the student trains on the observed support: unseen pairs keep small probabilities."""
    chain = line_of_cliques(3, 4, 0.01)
    data = transition_counts(chain, 100_000, seed=0)
    beta = time_rescaling(4, 0.01)
    q = exact.meta_chain(chain)
    observed = distill(data, beta)
    everything = distill(data, beta, support="all", max_iter=200)
    assert meta_chain_errors(observed, q)["abs_zero"] == 0.0
    assert meta_chain_errors(everything, q)["abs_zero"] > 0.0
    assert np.nanmax(jump_tv(everything.distilled, q)) > np.nanmax(jump_tv(observed.distilled, q))


# --------------------------------------------------------------------------- experiments D1, D2
@pytest.mark.parametrize("module, exp_id", [("d1_meta_chain_estimation", "D1"), ("d2_distilled_model", "D2")])
def test_quick_runs_write_their_verdicts(module, exp_id, tmp_path):
    """Both quick runs pass (the recorded quick verdicts) and the file on disk is the returned verdict."""
    import importlib

    from experiments._common import _jsonable

    verdict = importlib.import_module(f"experiments.{module}").run(quick=True, results=tmp_path)
    saved = json.loads((tmp_path / exp_id / "verdict.json").read_text())
    assert verdict["passed"] is True, verdict["measured"]
    assert saved["id"] == exp_id and saved["quick"] is True and saved["passed"] is True
    # The whole record, compared as JSON text (NaN-safe), not just one field.
    expected = json.loads(json.dumps(verdict, default=_jsonable))
    assert json.dumps(saved, sort_keys=True) == json.dumps(expected, sort_keys=True)
    assert {"claim", "prediction", "measured", "rule", "formalisation"} <= saved.keys()
    assert (tmp_path / exp_id / saved["figure"]).stat().st_size > 0
    assert (tmp_path / exp_id / saved["data"]).stat().st_size > 0
