"""The theory walkers run on the simulator's random stream: oracles built from ``simulate`` paths.

Sparse Edge Search and ``transition_counts`` do not call :func:`metacot.simulate` (a handful of
lockstep walkers is about a hundred times slower there), but they promise the same paths:
rollout ``j`` of round ``r`` is walker ``r N + j`` and episode ``e`` is walker ``e`` of
``simulate(..., seed=seed, record_paths=True)``. These tests rebuild every round of a search and
every count of a trajectory from ``simulate`` paths alone, with an independent (numpy) reading of
the documented round rules.
"""

from __future__ import annotations

import numpy as np
import pytest

from metacot import Chain
from metacot._checks import as_seed_int
from metacot.errors import ArgumentTypeError, InvalidArgumentError, MetacotError
from metacot.markov.families import line_of_cliques, random_clusters
from metacot.simulation.engine import simulate
from metacot.simulation.kernels.alias import build_alias_table
from metacot.simulation.kernels.reference import step as reference_step
from metacot.simulation.kernels.rng import philox_pair_np, seed_key
from metacot.theory.counts import transition_counts
from metacot.theory.search import OUTCOMES, sparse_edge_search
from metacot.theory.walk import alias_step, step_value, transition_table


def _round_from_paths(paths, tau, censored, T0, T_max, need):
    """One ``round_ends="first"`` round read off recorded paths (the module's rules, in numpy)."""
    N = paths.shape[0]
    hit = ~censored
    last1 = np.where(hit & (tau <= T0), tau, T0)
    visited = [set(paths[j, : last1[j] + 1].tolist()) for j in range(N)]
    c_hat = set().union(*visited)
    support = {x: sum(x in v for v in visited) for x in c_hat}
    if (hit & (tau <= T0)).any():
        return {"c_hat": len(c_hat), "found": 0, "steps": int(last1.sum()), "end_time": int(last1.max()),
                "outcome": "at_target", "next": None}
    stop, exit_at = np.full(N, T_max), np.full(N, -1)
    for j in range(N):
        for t in range(T0 + 1, T_max + 1):
            y = paths[j, t]
            if y < 0:  # stopped at the target at t - 1
                stop[j] = t - 1
                break
            if y not in c_hat:
                stop[j] = exit_at[j] = t
                break
    recorded = [j for j in range(N) if exit_at[j] >= 0 and support[paths[j, exit_at[j] - 1]] >= need]
    if recorded:
        best = min(recorded, key=lambda j: (exit_at[j], j))
        t_end = exit_at[best]
        # lockstep: rollouts after the winner have not taken step t_end yet
        steps = sum(min(stop[j], t_end if j <= best else t_end - 1) for j in range(N))
        return {"c_hat": len(c_hat), "found": 1, "steps": int(steps), "end_time": int(t_end),
                "outcome": "recorded", "next": int(paths[best, t_end])}
    exits = [j for j in range(N) if exit_at[j] >= 0]
    first = min(exits, key=lambda j: (exit_at[j], j)) if exits else None
    outcome = "unrecorded_only" if exits else ("at_target" if hit.any() else "no_exit")
    return {"c_hat": len(c_hat), "found": 0, "steps": int(stop.sum()), "end_time": int(stop.max()),
            "outcome": outcome, "next": None if first is None else int(paths[first, exit_at[first]])}


@pytest.mark.parametrize(("chain", "seed", "T0", "stop_at_target"), [
    (line_of_cliques(K=3, M=4, eps=0.02), 5, 12, True),
    (line_of_cliques(K=3, M=4, eps=0.02), 6, 13, True),  # odd T0: step T0 + 1 is the second value of a draw
    (random_clusters(3, 5, 0.02, kind="er", seed=2), 2**63 + 7, 12, True),  # a seed with a high key word
    (random_clusters(3, 5, 0.02, kind="er", seed=2), 11, 9, False),
])
def test_every_search_round_is_read_off_simulate_paths(chain, seed, T0, stop_at_target):
    R, N, T_max = 8, 3, 3000
    res = sparse_edge_search(chain, R=R, N=N, T0=T0, T_max=T_max, seed=seed, stop_at_target=stop_at_target)
    walked = chain if stop_at_target else chain.replace(target=None)
    x = chain.start
    for r in range(R):
        sim = simulate(walked, (r + 1) * N, T_max, start=x, seed=seed, record_paths=True, count_visits=False)
        rows = slice(r * N, (r + 1) * N)
        if stop_at_target:
            tau, censored = sim.hitting_times[rows], sim.censored[rows]
        else:
            tau, censored = np.full(N, T_max), np.ones(N, dtype=bool)
        want = _round_from_paths(sim.paths[rows], tau, censored, T0, T_max, 2)
        got = res.rounds.iloc[r]
        assert got["start"] == x
        for col in ("c_hat", "found", "steps", "end_time", "outcome"):
            assert got[col] == want[col], (r, col)
        x = want["next"] if want["next"] is not None else chain.start
    assert set(res.rounds["outcome"]) <= set(OUTCOMES) and res.rounds["found"].sum() > 0


def test_transition_counts_are_the_transitions_of_simulate_episodes():
    chain = line_of_cliques(2, 4, 0.2)
    seed = 9
    sim = simulate(chain, 60, 20_000, seed=seed, record_paths=True, count_visits=False)
    assert sim.n_censored == 0
    # episode e is walker e's path up to its hitting time; the trajectory concatenates them
    pairs = np.concatenate([np.column_stack([p[:t], p[1 : t + 1]]) for p, t in zip(sim.paths, sim.hitting_times)])
    for T in (1, 37, len(pairs) // 2, len(pairs)):
        want = np.zeros(chain.P.shape, dtype=np.int64)
        np.add.at(want, (pairs[:T, 0], pairs[:T, 1]), 1)
        data = transition_counts(chain, T, seed=seed)
        np.testing.assert_array_equal(data.counts.toarray(), want)
        assert data.n_restarts == int(np.isin(pairs[:T, 1], chain.target).sum())


def test_counts_without_restart_follow_walker_zero():
    chain = random_clusters(2, 4, 0.1, kind="er", seed=1)
    T = 4_001  # odd: the last step is the first value of a draw
    sim = simulate(chain.replace(target=None), 1, T, start=chain.start, seed=3, record_paths=True)
    p = sim.paths[0]
    want = np.zeros(chain.P.shape, dtype=np.int64)
    np.add.at(want, (p[:-1], p[1:]), 1)
    np.testing.assert_array_equal(transition_counts(chain, T, seed=3, restart=False).counts.toarray(), want)


def test_step_primitives_match_the_reference_kernel():
    P = random_clusters(3, 6, 0.05, kind="er", seed=4).P
    table = build_alias_table(P).table
    assert np.array_equal(transition_table(P), table)
    k0, k1 = seed_key(123456789123)
    w = np.arange(5, dtype=np.uint64)
    x = np.arange(5, dtype=np.uint64) * 3
    for s in (1, 2, 7, 8):
        a, b = philox_pair_np(np.uint64((s - 1) // 2), w, k0, k1)
        u = a if (s - 1) % 2 == 0 else b
        got = np.array([step_value(s, int(wi), k0, k1) for wi in w], dtype=np.uint64)
        np.testing.assert_array_equal(got, u)
        want = reference_step(table, x, u)
        np.testing.assert_array_equal([alias_step(table, int(xi), ui) for xi, ui in zip(x, u)], want)


def test_a_row_without_transitions_is_refused():
    import scipy.sparse as sp

    from metacot.errors import InvalidChainError

    with pytest.raises(InvalidChainError, match="state 1 has no transition"):
        transition_table(sp.csr_array(np.array([[1.0, 0.0], [0.0, 0.0]])))


def test_generator_seeds_record_the_key_they_drew():
    chain = line_of_cliques(3, 4, 0.05)
    res = sparse_edge_search(chain, R=2, N=2, T0=8, T_max=500, seed=np.random.default_rng(4))
    assert res.params["seed"] == as_seed_int(np.random.default_rng(4))
    data = transition_counts(chain, 100, seed=np.random.default_rng(4))
    assert data.seed == res.params["seed"]


@pytest.mark.parametrize("seed", [-1, 2**64])
def test_bad_seeds_raise_metacot_errors(seed):
    chain = line_of_cliques(3, 4, 0.1)
    with pytest.raises(InvalidArgumentError, match="seed"):
        sparse_edge_search(chain, R=1, N=1, T0=1, T_max=5, seed=seed)
    with pytest.raises(InvalidArgumentError, match="seed"):
        transition_counts(chain, 10, seed=seed)


def test_wrong_types_raise_metacot_errors():
    chain = line_of_cliques(3, 4, 0.1)
    with pytest.raises(ArgumentTypeError, match="seed"):
        sparse_edge_search(chain, R=1, N=1, T0=1, T_max=5, seed=1.5)
    with pytest.raises(ArgumentTypeError, match="R"):
        sparse_edge_search(chain, R="2", N=1, T0=1, T_max=5)
    with pytest.raises(ArgumentTypeError, match="n_steps"):
        transition_counts(chain, 10.0)
    with pytest.raises(InvalidArgumentError, match="n_steps"):
        transition_counts(chain, -3)
    # and they are still the built-in exceptions old code catches
    with pytest.raises(TypeError):
        transition_counts(Chain(np.eye(2), start=0), "ten", restart=False)
    with pytest.raises(MetacotError):
        sparse_edge_search(chain, R=1, N=1, T0=1, T_max=5, seed="0")
