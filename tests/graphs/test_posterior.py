"""Posterior chain quantities: stacked solves against metacot.markov.exact, and frequentist coverage (seeded)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from metacot.errors import InvalidArgumentError
from metacot.graphs import posterior as po
from metacot.graphs.behaviour_graph import BehaviourGraph
from metacot.markov import exact
from metacot.markov.chain import Chain
from metacot.structure.lifted import lift

Q_TRUE = np.array([[0.5, 0.2, 0.1, 0.1], [0.2, 0.4, 0.2, 0.1], [0.1, 0.1, 0.6, 0.1], [0.2, 0.1, 0.1, 0.5]])
A_TRUE = 1.0 - Q_TRUE.sum(axis=1)
MU_TRUE = np.array([0.4, 0.3, 0.2, 0.1])


def test_stacked_solves_match_exact():
    post = po.LiftedPosterior(np.full((4, 5), 3.0), np.ones(4))
    Q, a, mu = post.sample(5, seed=1)
    h = po.batch_hitting_times(Q)
    within = po.batch_within(Q, mu, [0, 3, 10])
    for s in range(5):
        c = lift(Q[s], a[s], mu[s])
        assert h[s] == pytest.approx(exact.hitting_times(c)[:4], rel=1e-10)
        d = exact.hitting_time_distribution(c, t_max=10)
        assert within[s] == pytest.approx(d.cdf[[0, 3, 10]], abs=1e-12)
    P = np.random.default_rng(2).dirichlet(np.ones(4), size=(3, 4))
    q, pi = po.batch_committors(P, [0], [2, 3]), po.batch_stationary(P)
    for s in range(3):
        assert q[s] == pytest.approx(exact.committor(Chain(P[s]), [0], [2, 3]), abs=1e-12)
        assert pi[s] == pytest.approx(exact.stationary(Chain(P[s])), abs=1e-12)


def test_lifted_posterior_counts_and_errors():
    post = po.lifted_posterior([[0, 0, 1], [1], []], k=2, prior=0.5)
    assert post.alpha.tolist() == [[1.5, 1.5, 0.5], [0.5, 0.5, 2.5]]
    assert post.alpha_start.tolist() == [1.5, 1.5]
    with pytest.raises(InvalidArgumentError, match="path 1"):
        po.lifted_posterior([[0], [0, 2]], k=2)
    with pytest.raises(InvalidArgumentError, match="no non-empty"):
        po.lifted_posterior([[]], k=2)


def simulate_paths(n: int, rng) -> list[np.ndarray]:
    R = np.column_stack([Q_TRUE, A_TRUE]).cumsum(axis=1)
    paths = []
    for _ in range(n):
        x = [int(rng.choice(4, p=MU_TRUE))]
        while True:
            y = int(np.searchsorted(R[x[-1]], rng.random(), side="right"))
            if y >= 4:
                break
            x.append(y)
        paths.append(np.array(x))
    return paths


def test_ninety_percent_intervals_cover_the_true_hitting_time():
    # 300 data sets of 60 paths (seed 2024); the 90% interval of mu.h must cover the true value in
    # a share inside the 99% binomial band of Binomial(300, 0.9): 256..283 covers.
    h_true = float(MU_TRUE @ np.linalg.solve(np.eye(4) - Q_TRUE, np.ones(4)))
    rng = np.random.default_rng(2024)
    reps, covered = 300, 0
    for r in range(reps):
        post = po.lifted_posterior(simulate_paths(60, rng), k=4)
        Q, _, mu = post.sample(1000, seed=r)
        lo, hi = po.credible_interval(np.einsum("ni,ni->n", mu, po.batch_hitting_times(Q)), 0.9)
        covered += lo <= h_true <= hi
    band = scipy.stats.binom.interval(0.99, reps, 0.9)
    assert band[0] <= covered <= band[1], (covered, band)


def test_graph_posterior_samples_and_hitting_times():
    counts = np.array([[30, 10, 5, 5], [8, 20, 6, 6], [4, 4, 30, 2], [5, 5, 5, 25.0]])
    g = BehaviourGraph(counts / counts.sum(axis=1, keepdims=True), counts=counts)
    P = g.posterior_samples(4000, seed=3)
    mean = (counts + 1) / (counts + 1).sum(axis=1, keepdims=True)
    assert P.mean(axis=0) == pytest.approx(mean, abs=0.01)  # MC s.e. < 0.0025
    h = po.posterior_hitting_times(g, 2000, answer_rate=0.1, seed=4, start="normal")
    assert h[:, -1] == pytest.approx(h[:, 0])
    assert np.all(np.abs(h - 10.0) < 1e-9)  # one answer rate: h = 1/a exactly, whatever P is
    with pytest.raises(InvalidArgumentError, match="neither"):
        BehaviourGraph(np.full((4, 4), 0.25)).posterior_samples(2, seed=0)


def test_empirical_within():
    assert po.empirical_within([2, 5, 5, 9], [1, 5, 100]).tolist() == [0.0, 0.75, 1.0]
