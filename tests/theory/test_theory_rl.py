"""PPO-Clip on a softmax logit table (Algorithm 3) against the oracles of the project notes §4."""

from __future__ import annotations

import json

import numpy as np
import pytest

from metacot import exact
from metacot.errors import InvalidChainError
from metacot.markov.families import line_of_cliques, random_clusters
from metacot.theory import (
    LogitTable,
    logits_from_chain,
    ppo_clip,
    predicted_iterations,
    prm_chain,
    true_sparse_edges,
)
from metacot.theory.rl import _surrogate_gradient


def source_mask(chain, edges) -> np.ndarray:
    mask = np.zeros(chain.n_states, dtype=bool)
    mask[np.asarray(edges)[:, 0]] = True
    return mask


def family(name: str, K: int = 6, M: int = 12, eps: float = 1e-4):
    if name == "A":
        return line_of_cliques(K, M, eps)
    return random_clusters(K, M, eps, kind="er", n_out=2, seed=4)


# --------------------------------------------------------------------------- the logit table
def test_exact_logits_reproduce_the_chain():
    chain = family("B")
    table = logits_from_chain(chain)
    np.testing.assert_allclose(table.probabilities(), chain.P.data, rtol=1e-13, atol=0)
    back = table.to_chain(chain)
    assert exact.mean_hitting_time(back) == pytest.approx(exact.mean_hitting_time(chain), rel=1e-10)
    assert back.start == chain.start and np.array_equal(back.clusters, chain.clusters)


def test_logit_table_keeps_zero_logits_and_refuses_bad_patterns():
    t = LogitTable(np.array([0, 2, 3]), np.array([0, 1, 1]), np.array([0.0, 0.0, 0.0]))
    assert t.probabilities().tolist() == [0.5, 0.5, 1.0]
    with pytest.raises(InvalidChainError, match="no transition"):
        LogitTable(np.array([0, 2, 2]), np.array([0, 1]), np.zeros(2))
    with pytest.raises(InvalidChainError, match="not a transition"):
        t.positions([[1, 0]])


@pytest.mark.parametrize("clipped", ["none", "some", "all"])
def test_surrogate_gradient_matches_finite_differences(clipped):
    """Central differences on every logit of the discovered edges' source rows (the only rows with a
    gradient), plus a sample of other logits (gradient 0), with none, some or all edges clipped.

    A clipped edge has its goal below its current probability; the goals sit a factor 2 away from
    p(e) so that no difference straddles the kink of the min.
    """
    rng = np.random.default_rng(0)
    chain = random_clusters(2, 5, 0.05, kind="er", n_out=2, seed=2)
    table = logits_from_chain(chain)
    W0 = table.W + rng.normal(0, 0.3, table.W.size)
    pos = np.unique(table.positions(true_sparse_edges(chain)))
    p0 = table.probabilities(W0)[pos]
    clip_mask = {"none": np.zeros(pos.size, bool), "all": np.ones(pos.size, bool),
                 "some": np.arange(pos.size) % 2 == 0}[clipped]
    goal = np.where(clip_mask, 0.5 * p0, 2.0 * p0)
    d = rng.uniform(0.1, 1.0, chain.n_states)
    value, grad, active = _surrogate_gradient(table.probabilities(W0), table.rows, pos, goal, d)
    assert np.array_equal(active, ~clip_mask)
    assert value == pytest.approx(float(np.sum(d[table.rows[pos]] * np.minimum(p0, goal))), rel=1e-12)
    sources = np.isin(table.rows, table.rows[pos])
    others = np.flatnonzero(~sources)
    check = np.concatenate([np.flatnonzero(sources), rng.choice(others, min(10, others.size), replace=False)])
    assert sources.sum() > pos.size  # the rows' non-edge logits are checked too
    h = 1e-6
    fd = np.empty(check.size)
    for i, k in enumerate(check):
        Wp, Wm = W0.copy(), W0.copy()
        Wp[k] += h
        Wm[k] -= h
        fp = _surrogate_gradient(table.probabilities(Wp), table.rows, pos, goal, d)[0]
        fm = _surrogate_gradient(table.probabilities(Wm), table.rows, pos, goal, d)[0]
        fd[i] = (fp - fm) / (2 * h)
    np.testing.assert_allclose(grad[check], fd, rtol=0, atol=1e-8)
    assert np.all(grad[~sources] == 0)
    if clipped == "all":
        assert np.all(grad == 0)
    else:
        assert np.abs(grad[sources]).max() > 1e-4  # the unclipped edges do move their rows
    if clipped == "some":
        # a row whose edges are all clipped gets no gradient
        dead = np.setdiff1d(table.rows[pos[clip_mask]], table.rows[pos[~clip_mask]])
        assert np.all(grad[np.isin(table.rows, dead)] == 0)


# --------------------------------------------------------------------------- the oracles of §4
@pytest.mark.parametrize("name", ["A", "B"])
@pytest.mark.parametrize("clip", [0.1, 0.2, 0.3])
def test_ppo_clip_oracles(name, clip):
    chain = family(name)
    edges = true_sparse_edges(chain)
    eps_max = 1e-2
    res = ppo_clip(logits_from_chain(chain), edges, clip=clip, lr=0.005, eps_max=eps_max,
                   weighting="occupancy", start=chain.start, target=chain.target)
    assert res.converged and res.edge_probs[-1].min() >= eps_max
    # rows without a discovered edge: untouched, bit for bit
    untouched = ~source_mask(chain, edges)
    assert res.row_tv[untouched].max() <= 1e-12
    rows = logits_from_chain(chain).rows
    np.testing.assert_array_equal(res.table.W[untouched[rows]], logits_from_chain(chain).W[untouched[rows]])
    # the clip caps the per-iteration ratio (sign steps of 0.005 overshoot by at most e^0.01)
    assert res.max_ratio.max() <= (1 + clip) * 1.02
    # iterations ≈ log(eps_max / eps) / log(1 + c)
    n_star = predicted_iterations(res.edge_probs[0], eps_max, clip)
    assert abs(res.n_iter - n_star) <= max(0.2 * n_star, 2)
    # the fine-tuned chain behaves like the PRM chain
    tau_rl = exact.mean_hitting_time(res.table.to_chain(chain))
    tau_prm = exact.mean_hitting_time(prm_chain(chain, edges, eps_max))
    assert tau_rl == pytest.approx(tau_prm, rel=0.05)


def test_sign_ascent_rescales_the_rest_of_a_row_proportionally():
    # Sign steps move every non-edge logit of a source row by the same amount, so the fine-tuned
    # row is the PRM row at the edge's final probability, to rounding.
    chain = family("B")
    edges = true_sparse_edges(chain)
    res = ppo_clip(logits_from_chain(chain), edges, clip=0.2, lr=0.005, eps_max=1e-2)
    P0, P1 = chain.P.toarray(), res.table.to_matrix().toarray()
    for x in np.unique(edges[:, 0]):
        mine = {int(y) for y in edges[edges[:, 0] == x, 1]}
        rest = [y for y in np.flatnonzero(P0[x]) if y not in mine]
        ratio = P1[x, rest] / P0[x, rest]
        np.testing.assert_allclose(ratio, ratio[0], rtol=1e-12)
        assert res.row_tv[x] == pytest.approx(P1[x, sorted(mine)].sum() - P0[x, sorted(mine)].sum(), rel=1e-10)


def test_sign_ascent_ignores_positive_state_weights():
    chain = family("A")
    edges = true_sparse_edges(chain)
    table = logits_from_chain(chain)
    a = ppo_clip(table, edges, clip=0.2, lr=0.005, eps_max=1e-2, weighting="uniform")
    b = ppo_clip(table, edges, clip=0.2, lr=0.005, eps_max=1e-2, weighting="occupancy",
                 start=chain.start, target=chain.target)
    np.testing.assert_array_equal(a.table.W, b.table.W)
    w = np.ones(chain.n_states)
    w[edges[0, 0]] = 0.0  # a zero weight freezes that row
    c = ppo_clip(table, edges, clip=0.2, lr=0.005, eps_max=1e-2, weighting=w, max_iter=5, max_inner=50)
    assert c.row_tv[edges[0, 0]] == 0.0 and not c.converged


def test_without_the_cap_the_last_iteration_overshoots_eps_max():
    chain = family("A")
    edges = true_sparse_edges(chain)
    capped = ppo_clip(logits_from_chain(chain), edges, clip=0.3, lr=0.005, eps_max=1e-2)
    free = ppo_clip(logits_from_chain(chain), edges, clip=0.3, lr=0.005, eps_max=1e-2, cap_at_eps_max=False)
    assert capped.edge_probs[-1].max() <= 1e-2 * np.exp(0.02)
    assert 1e-2 <= free.edge_probs[-1].min() <= 1e-2 * 1.3 * 1.02
    assert free.edge_probs[-1].max() > capped.edge_probs[-1].max()


def test_plain_gradient_ascent_converges_on_an_easy_chain():
    chain = line_of_cliques(2, 4, 0.05)
    res = ppo_clip(logits_from_chain(chain), true_sparse_edges(chain), clip=0.2, lr=20.0, eps_max=0.2,
                   optimizer="gd")
    assert res.converged and res.edge_probs[-1, 0] >= 0.2
    assert res.row_tv[~source_mask(chain, true_sparse_edges(chain))].max() == 0.0


def test_stopping_and_limits():
    chain = line_of_cliques(3, 4, 0.05)
    edges = true_sparse_edges(chain)
    done = ppo_clip(logits_from_chain(chain), edges, clip=0.2, lr=0.01, eps_max=0.04)
    assert done.converged and done.n_iter == 0  # already above eps_max
    cut = ppo_clip(logits_from_chain(chain), edges, clip=0.2, lr=0.01, eps_max=0.5, max_iter=3)
    assert not cut.converged and cut.n_iter == 3 and cut.edge_probs.shape == (4, 2)
    with pytest.raises(InvalidChainError, match="occupancy"):
        ppo_clip(logits_from_chain(chain), edges, clip=0.2, lr=0.01, eps_max=0.5, weighting="occupancy")
    with pytest.raises(InvalidChainError, match="not a transition"):
        ppo_clip(logits_from_chain(chain), [[0, 5]], clip=0.2, lr=0.01, eps_max=0.5)


def test_predicted_iterations():
    assert predicted_iterations([1e-4, 1e-3], 1e-2, 0.1) == pytest.approx(np.log(100) / np.log(1.1))
    assert predicted_iterations([0.5], 0.1, 0.2) == 0.0


# --------------------------------------------------------------------------- quick experiment
def test_r1_quick_run_passes(tmp_path):
    from experiments import r1_ppo_clip

    r1_ppo_clip.run(quick=True, results=tmp_path)
    verdict = json.loads((tmp_path / "R1" / "verdict.json").read_text())
    assert {"id", "claim", "prediction", "measured", "passed", "rule"} <= verdict.keys()
    assert verdict["id"] == "R1" and verdict["quick"] is True
    assert (tmp_path / "R1" / verdict["figure"]).stat().st_size > 0
    assert verdict["passed"], verdict["measured"]
    assert all(r["tv_rows_without_edge"] <= 1e-12 for r in verdict["details"]["per_run"])
