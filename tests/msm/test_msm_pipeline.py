"""Microstates, null models and cluster exits (metacot.msm.microstates, nulls, exits)."""

from __future__ import annotations

import numpy as np
import pytest

from metacot.embed import HashingEmbedder
from metacot.errors import InvalidArgumentError
from metacot.msm.exits import exit_enrichment, exit_tallies, set_paths
from metacot.msm.microstates import discretise, fit_microstates, step_embeddings
from metacot.msm.nulls import behaviour_chain, behaviour_chain_paths, shuffle_within, simulate_paths
from metacot.traces.edits import make_trace


def test_kmeans_microstates_recover_planted_blobs():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(5, 12)) * 10
    labels = np.repeat(np.arange(5), 60)
    X = centres[labels] + rng.normal(size=(300, 12))
    m = fit_microstates(X, 5, seed=1, n_components=4)
    found = m.assign(X)
    # a perfect clustering up to renaming: each planted blob maps to one microstate and back
    pairs = {(int(a), int(b)) for a, b in zip(labels, found, strict=True)}
    assert len(pairs) == 5 and len({b for _, b in pairs}) == 5
    paths = discretise([X[:10], X[10:10], X[10:]], m)
    assert [len(p) for p in paths] == [10, 0, 290]
    np.testing.assert_array_equal(np.concatenate(paths), found)


def test_step_embeddings_centre_on_the_problem_mean():
    traces = [make_trace(["a b", "c d", "e"], problem="p1"), make_trace(["b c", "x"], problem="p1"),
              make_trace(["q r", "s t"], problem="p2")]
    emb = HashingEmbedder(dim=32)
    raw = step_embeddings(traces, emb, center=None)
    np.testing.assert_allclose(raw[0], emb(["a b", "c d", "e"]))
    by_problem = step_embeddings(traces, emb)
    np.testing.assert_allclose(np.vstack(by_problem[:2]).mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(by_problem[2].mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(by_problem[0][0] - raw[0][0], by_problem[1][0] - raw[1][0])  # one shift per problem
    by_trace = step_embeddings(traces, emb, center="trace")
    assert all(np.allclose(E.mean(axis=0), 0) for E in by_trace)
    with pytest.raises(InvalidArgumentError, match="center"):
        step_embeddings(traces, emb, center="topic")


def test_shuffle_keeps_each_trace_multiset():
    d = [np.arange(10), np.array([3, 3, 1]), np.array([], dtype=int)]
    s = shuffle_within(d, seed=4)
    assert [sorted(x.tolist()) for x in s] == [sorted(x.tolist()) for x in d]
    assert not np.array_equal(s[0], d[0])


def test_simulated_paths_follow_the_chain():
    # 400 paths x 500 steps, seed 9: about 66,000 transitions per row, entry sd below 0.002
    P = np.array([[0.1, 0.9, 0.0], [0.3, 0.3, 0.4], [0.5, 0.0, 0.5]])
    paths = simulate_paths(P, np.array([1.0, 0.0, 0.0]), [500] * 400, seed=9)
    assert all(p[0] == 0 for p in paths)
    Q, p0 = behaviour_chain(paths, 3)
    np.testing.assert_allclose(Q, P, atol=0.01)
    np.testing.assert_array_equal(p0, [1, 0, 0])


def test_behaviour_chain_null_maps_behaviours_to_real_microstates_of_that_behaviour():
    beh = [np.array([0, 0, 1, 2, 1]), np.array([2, 1, 0])]
    micro = [np.array([10, 11, 20, 30, 21]), np.array([31, 22, 12])]
    sim_b, sim_d = behaviour_chain_paths(beh, micro, 3, seed=0)
    assert [len(x) for x in sim_d] == [5, 3]
    allowed = {0: {10, 11, 12}, 1: {20, 21, 22}, 2: {30, 31}}
    for b, d in zip(sim_b, sim_d, strict=True):
        assert all(int(m) in allowed[int(x)] for x, m in zip(b, d, strict=True))
    with pytest.raises(InvalidArgumentError, match="same number"):
        behaviour_chain_paths(beh, [micro[0]], 3, seed=0)


def brute_tallies(sets, beh, n):
    T = np.zeros((len(sets), 2, n))
    for m, (s, b) in enumerate(zip(sets, beh, strict=True)):
        for t in range(1, len(s)):
            if s[t] >= 0 and s[t - 1] >= 0:
                T[m, int(s[t] != s[t - 1]), b[t]] += 1
    return T


def test_exit_tallies_match_a_brute_force_count():
    rng = np.random.default_rng(2)
    sets = [rng.integers(-1, 3, size=n) for n in (0, 1, 7, 40)]
    beh = [rng.integers(0, 4, size=len(s)) for s in sets]
    T, undefined = exit_tallies(sets, beh, 4)
    np.testing.assert_array_equal(T, brute_tallies(sets, beh, 4))
    assert undefined.sum() == sum(((s[1:] < 0) | (s[:-1] < 0)).sum() for s in sets if len(s) > 1)
    assert set_paths([[0, 2]], [5, -1, 7])[0].tolist() == [5, 7]


def test_exit_enrichment_finds_a_planted_behaviour_and_not_an_independent_one():
    # Paths alternate blocks of sets; behaviour 3 is put on every exit step and on 2% of stays, so
    # R_3 is large; behaviour 1 is drawn independently of exits, so its interval holds 1 (seed 6).
    rng = np.random.default_rng(6)
    sets, beh = [], []
    for _ in range(60):
        s = np.repeat(rng.integers(0, 3, size=20), rng.integers(3, 9, size=20))
        moved = np.r_[False, s[1:] != s[:-1]]
        b = rng.choice([0, 1, 2], size=s.size, p=[0.5, 0.3, 0.2])
        b[moved] = 3
        b[(~moved) & (rng.random(s.size) < 0.02)] = 3
        sets.append(s)
        beh.append(b)
    e = exit_enrichment(sets, beh, 4, n_boot=300, seed=1)
    lo, hi = e.interval()
    assert lo[3] > 10 and e.p_value < 1e-10
    # behaviour 1 never sits on an exit here (exits are all 3), so its ratio is 0: it is depleted
    assert e.ratio[1] == 0 and hi[1] == 0
    # without the planted exits behaviour 1 is independent of exits: its interval holds 1
    beh2 = [rng.choice([0, 1, 2], size=s.size, p=[0.5, 0.3, 0.2]) for s in sets]
    e2 = exit_enrichment(sets, beh2, 3, n_boot=300, seed=1)
    lo2, hi2 = e2.interval()
    assert np.all(lo2 < 1) and np.all(hi2 > 1)
