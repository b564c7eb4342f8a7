"""simulate(): correctness against exact results, the random-stream contract, reproducibility, errors.

Seeds are fixed; statistical checks use 4 standard errors (a false alarm rate of about 6e-5 each).
"""

import numba
import numpy as np
import pytest
import scipy.sparse as sp

import metacot as mc
from metacot.errors import (
    BackendUnavailableError,
    CensoredError,
    InvalidChainError,
    MemoryBudgetError,
    UnknownBackendError,
    UnreachableTargetError,
)
from metacot.simulation.kernels import cpu
from metacot.simulation.kernels.alias import build_alias_table
from metacot.simulation.kernels.rng import philox_pair_np, seed_key

FIELDS = ("hitting_times", "censored", "final_states", "paths", "visits")


# --------------------------------------------------------------------------- helpers
def random_chain(n, seed, density=0.5):
    """A random chain on n states, every state reaching state n-1 (a ring edge guarantees it)."""
    rng = np.random.default_rng(seed)
    P = rng.random((n, n)) * (rng.random((n, n)) < density)
    P[np.arange(n), (np.arange(n) + 1) % n] += 0.2
    P /= P.sum(axis=1, keepdims=True)
    return P


def exact_mean_hitting_time(P, start, target):
    """Solve (I - Q) h = 1 on the non-target states (dense, independent of metacot)."""
    n = P.shape[0]
    rest = np.setdiff1d(np.arange(n), target)
    Q = P[np.ix_(rest, rest)]
    h = np.linalg.solve(np.eye(rest.size) - Q, np.ones(rest.size))
    full = np.zeros(n)
    full[rest] = h
    return full[start] if np.ndim(start) == 0 else float(start @ full)


def line_of_cliques(K, M, eps):
    """K complete clusters of M states in a line; exit (last) state -> next entry (first) with eps."""
    n = K * M
    P = np.zeros((n, n))
    for k in range(K):
        b = k * M
        P[b : b + M, b : b + M] = 1.0 / M
        if k < K - 1:
            P[b + M - 1, b : b + M] *= 1 - eps
            P[b + M - 1, b + M] = eps
    return P


def assert_same(s1, s2):
    for f in FIELDS:
        a, b = getattr(s1, f), getattr(s2, f)
        assert (a is None) == (b is None), f
        if a is not None:
            np.testing.assert_array_equal(a, b, err_msg=f)


# --------------------------------------------------------------------------- correctness
@pytest.mark.parametrize("n,seed", [(4, 1), (7, 2), (12, 3)])
def test_mean_hitting_time_matches_exact(n, seed):
    P = random_chain(n, seed)
    chain = mc.Chain(P, start=0, target=n - 1)
    sim = mc.simulate(chain, 40_000, 100_000, seed=seed)
    assert sim.n_censored == 0
    est = sim.mean()
    exact = exact_mean_hitting_time(P, 0, [n - 1])
    assert abs(est.value - exact) < 4 * est.stderr, (est, exact)


def test_mean_hitting_time_from_distribution_and_target_set():
    P = random_chain(9, 8)
    mu = np.random.default_rng(8).random(9)
    mu[[2, 5]] = 0
    mu /= mu.sum()
    chain = mc.Chain(P)
    sim = mc.simulate(chain, 40_000, 100_000, start=mu, target=[2, 5], seed=99)
    est = sim.mean()
    exact = exact_mean_hitting_time(P, mu, [2, 5])
    assert abs(est.value - exact) < 4 * est.stderr, (est, exact)
    # start states follow mu: 4-sigma binomial check per state
    counts = np.bincount(mc.simulate(chain, 40_000, 0, start=mu, seed=5, target=[2, 5]).final_states, minlength=9)
    sd = np.sqrt(40_000 * mu * (1 - mu))
    assert np.all(np.abs(counts - 40_000 * mu) <= 4 * sd + 1e-9)
    assert counts[2] == counts[5] == 0


@pytest.mark.parametrize("K,M,eps", [(2, 8, 0.1), (3, 4, 0.2)])
def test_line_of_cliques_closed_form(K, M, eps):
    exact = (K - 1) * (M / eps + 1) + M  # 89 for (2, 8, 0.1)
    chain = mc.Chain(line_of_cliques(K, M, eps), start=0, target=K * M - 1)
    est = mc.simulate(chain, 40_000, 1_000_000, seed=2024).mean()
    assert abs(est.value - exact) < 4 * est.stderr, (est, exact)


def test_random_stream_contract():
    """Two states, every row uniform: X_s is the top bit of the s-th 64-bit value of the stream.

    From a degree-2 uniform row, slot j = hi64(2u) = u >> 63; both slots have probability-1
    thresholds and the coin r = 2u mod 2^64 is even, so it is always below 2^64 - 1.
    """
    chain = mc.Chain(np.full((2, 2), 0.5), start=0)
    sim = mc.simulate(chain, 64, 6, seed=0xDEADBEEF12345, record_paths=True)
    k0, k1 = seed_key(0xDEADBEEF12345)
    w = np.arange(64, dtype=np.uint64)
    expected = [np.zeros(64, dtype=np.int64)]
    for d in range(3):
        a, b = philox_pair_np(np.uint64(d), w, k0, k1)
        expected += [(a >> np.uint64(63)).astype(np.int64), (b >> np.uint64(63)).astype(np.int64)]
    np.testing.assert_array_equal(sim.paths, np.stack(expected, axis=1))


def test_start_distribution_stream_contract():
    """Walker w starts in the state picked by value a of draw 2^64 - 1 (uniform over 4 states)."""
    chain = mc.Chain(np.full((4, 4), 0.25))
    sim = mc.simulate(chain, 100, 0, start=np.full(4, 0.25), seed=17)
    a, _ = philox_pair_np(np.uint64(2**64 - 1), np.arange(100, dtype=np.uint64), *seed_key(17))
    np.testing.assert_array_equal(sim.final_states, (a >> np.uint64(62)).astype(np.int64))


def test_visits_total_and_paths_agree():
    P = random_chain(10, 4)
    chain = mc.Chain(P, start=0, target=[8, 9])
    sim = mc.simulate(chain, 3_000, 7, seed=6, record_paths=True)
    assert 0 < sim.n_censored < 3_000  # the budget is short on purpose: censored walkers count too
    np.testing.assert_array_equal(sim.visits.sum(), (np.minimum(sim.hitting_times, 7) + 1).sum())
    from_paths = np.bincount(sim.paths[sim.paths >= 0], minlength=10)
    np.testing.assert_array_equal(sim.visits, from_paths)
    # each row: the path up to its end, then -1
    ends = sim.hitting_times
    t = np.arange(8)
    assert np.all((sim.paths >= 0) == (t[None, :] <= ends[:, None]))
    np.testing.assert_array_equal(sim.paths[np.arange(3_000), ends], sim.final_states)
    assert np.all(np.isin(sim.final_states[~sim.censored], [8, 9]))


def test_transition_frequencies_match_P():
    P = random_chain(6, 12, density=0.7)
    chain = mc.Chain(P, start=0)
    sim = mc.simulate(chain, 2_000, 500, seed=77, record_paths=True, count_visits=False)
    x, y = sim.paths[:, :-1].ravel(), sim.paths[:, 1:].ravel()
    counts = np.zeros((6, 6))
    np.add.at(counts, (x, y), 1)
    n_from = counts.sum(axis=1, keepdims=True)
    expected = n_from * P
    sd = np.sqrt(n_from * P * (1 - P))
    assert np.all(np.abs(counts - expected) <= 4 * sd + 1e-9)
    assert np.all(counts[P == 0] == 0)


# --------------------------------------------------------------------------- reproducibility
@pytest.mark.parametrize("start", ["state", "distribution"])
def test_identical_across_threads_and_backends(start):
    P = random_chain(15, 21)
    chain = mc.Chain(P, target=[13, 14])
    s = 3 if start == "state" else np.random.default_rng(1).dirichlet(np.ones(15))
    kw = dict(start=s, seed=123456789, record_paths=True)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = mc.simulate(chain, 997, 301, backend="numba", **kw)  # odd sizes on purpose
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = mc.simulate(chain, 997, 301, backend="numba", **kw)
    finally:
        numba.set_num_threads(before)
    ref = mc.simulate(chain, 997, 301, backend="numpy", **kw)
    assert_same(one, two)
    assert_same(one, ref)
    # the fast kernels (no paths, no visits) agree with the full one
    fast = mc.simulate(chain, 997, 301, backend="numba", start=s, seed=123456789, count_visits=False)
    for f in ("hitting_times", "censored", "final_states"):
        np.testing.assert_array_equal(getattr(fast, f), getattr(one, f))
    # batching (what progress=True does) changes nothing either
    batched = mc.simulate(chain, 997, 301, backend="numba", progress=True, **kw)
    assert_same(one, batched)


def test_any_chunk_count_and_prefetch_give_same_result():
    P = random_chain(8, 5)
    table = build_alias_table(sp.csr_array(P)).with_empty_rows([7])
    k0, k1 = seed_key(42)
    out = []
    for chunks, prefetch in ((1, False), (3, True), (7, False), (64, True)):
        states = np.zeros(500, dtype=np.int64)
        tau = np.empty(500, dtype=np.int64)
        cens = np.empty(500, dtype=bool)
        cpu.hitting_kernel(table, k0, k1, 1000, np.uint64(0), states, tau, cens, chunks, prefetch)
        out.append((states, tau, cens))
    for o in out[1:]:
        for a, b in zip(out[0], o):
            np.testing.assert_array_equal(a, b)


def test_generator_seed_is_recorded_and_reproducible():
    chain = mc.Chain(random_chain(5, 3), start=0, target=4)
    s1 = mc.simulate(chain, 100, 1000, seed=np.random.default_rng(9))
    s2 = mc.simulate(chain, 100, 1000, seed=s1.seed)
    s3 = mc.simulate(chain, 100, 1000, seed=np.random.default_rng(9))
    assert s1.seed == s3.seed
    assert_same(s1, s2)
    assert not np.array_equal(s1.hitting_times, mc.simulate(chain, 100, 1000, seed=s1.seed + 1).hitting_times)


# --------------------------------------------------------------------------- edge cases
def test_no_target_runs_every_walker_to_max_steps():
    chain = mc.Chain(random_chain(6, 2), start=1)
    sim = mc.simulate(chain, 300, 57, seed=1, record_paths=True)
    assert sim.hitting_times is None and sim.censored is None
    assert sim.paths.shape == (300, 58) and sim.paths.min() >= 0
    np.testing.assert_array_equal(sim.final_states, sim.paths[:, -1])
    assert sim.visits.sum() == 300 * 58
    with pytest.raises(InvalidChainError):
        sim.mean()


def test_start_in_target_and_zero_steps():
    chain = mc.Chain(random_chain(5, 7), start=4, target=4)
    sim = mc.simulate(chain, 10, 100, seed=0, record_paths=True)
    assert np.all(sim.hitting_times == 0) and not sim.censored.any()
    assert np.all(sim.paths[:, 0] == 4) and np.all(sim.paths[:, 1:] == -1)
    assert sim.mean().value == 0
    zero = mc.simulate(chain, 10, 0, start=0, seed=0)
    assert np.all(zero.censored) and np.all(zero.hitting_times == 0) and np.all(zero.final_states == 0)
    np.testing.assert_array_equal(zero.visits, [10, 0, 0, 0, 0])


def test_censoring_and_restricted_mean():
    # from state 0: to the trap 1 or the target 2, each with probability 0.05 per step
    P = np.array([[0.9, 0.05, 0.05], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    chain = mc.Chain(P, start=0, target=2)
    sim = mc.simulate(chain, 4_000, 200, seed=3)
    assert 0 < sim.n_censored < 4_000
    assert abs(sim.n_censored / 4_000 - 0.5) < 4 * np.sqrt(0.25 / 4_000)
    with pytest.raises(CensoredError, match=r"restricted=True"):
        sim.mean()
    est = sim.mean(restricted=True)
    # E[min(tau, 200)] where tau = time of leaving 0 (geometric, rate 0.1) if it goes to 2, else inf
    t = np.arange(200)
    # sum over t < 200 of P(tau > t) = P(still in 0 at t) + P(trapped by t)
    exact = float(np.sum(0.9**t + 0.5 * (1 - 0.9**t)))
    assert abs(est.value - exact) < 4 * est.stderr, (est, exact)
    S = sim.survival([0, 10, 200])
    assert S[0] == 1.0 and S[2] == sim.n_censored / 4_000


def test_unreachable_target():
    P = np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    with pytest.raises(UnreachableTargetError, match=r"\[2\].*\[0\]"):
        mc.simulate(mc.Chain(P, start=0, target=2), 10, 10)
    # reachable from one state of a start distribution is enough
    sim = mc.simulate(mc.Chain(P, target=2), 10, 10, start=[0.5, 0.0, 0.5])
    assert sim.n_censored == np.count_nonzero(sim.final_states != 2)


def test_memory_budget_refused_before_allocating():
    chain = mc.Chain(random_chain(4, 1), start=0)
    with pytest.raises(MemoryBudgetError, match="GiB"):
        mc.simulate(chain, 10**7, 10**7, record_paths=True)


@pytest.mark.parametrize(
    "kwargs,error",
    [
        (dict(backend="gpu-please"), UnknownBackendError),
        (dict(n_walkers=0), ValueError),
        (dict(max_steps=-1), ValueError),
        (dict(n_walkers=2.5), TypeError),
        (dict(seed=-3), ValueError),
        (dict(start=None), InvalidChainError),
        (dict(target=[9]), InvalidChainError),
    ],
)
def test_bad_arguments(kwargs, error):
    chain = mc.Chain(random_chain(4, 1))
    args = dict(n_walkers=10, max_steps=10, start=0, target=3) | kwargs
    with pytest.raises(error):
        mc.simulate(chain, **args)


def test_unknown_backend_error_is_both_kinds():
    chain = mc.Chain(random_chain(4, 1), start=0)
    with pytest.raises(BackendUnavailableError, match="'numba'"):
        mc.simulate(chain, 1, 1, backend="cuda9")
    with pytest.raises(ValueError):
        mc.simulate(chain, 1, 1, backend="cuda9")


def test_result_is_immutable():
    sim = mc.simulate(mc.Chain(random_chain(4, 1), start=0, target=3), 10, 100, seed=1)
    with pytest.raises(ValueError):
        sim.hitting_times[0] = 5
    with pytest.raises(AttributeError):
        sim.seed = 3
    assert sim.backend == "numba" and sim.n_walkers == 10 and sim.max_steps == 100
