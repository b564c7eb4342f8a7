"""Tests of metacot.structure.path_laws: exact laws of thinned, censored and run-merged paths of a lifted chain.

Oracles are exact algebraic identities (composition laws, fixed points) or quantities computed
independently of the module's formulas (the fundamental matrix, the hitting-time pmf of
metacot.markov.exact, committors). The Monte Carlo tests sample paths with fixed seeds, push them through
the real metacot.traces.transforms functions, refit by maximum likelihood and compare with the closed
form through z-scores: a fitted row of a Markov path is asymptotically multinomial, so entry
(i, j) has standard error sqrt(R_ij (1 - R_ij) / s_i) with s_i the steps in behaviour i. The
bound |z| <= 5 over the ~25 entries of one comparison fails by chance with probability < 1e-5.
"""

from __future__ import annotations

import numpy as np
import pytest

from metacot.errors import CensoredError, InvalidArgumentError, InvalidChainError
from metacot.graphs.fit import fit_graph, tally_transitions
from metacot.graphs.graph import reference
from metacot.markov import exact
from metacot.markov.chain import Chain
from metacot.structure import path_laws as pl
from metacot.traces import transforms as tf

NAMES = ["normal", "deep", "reflect", "explore"]
EXACT = 1e-12  # algebraic identities: only rounding separates the two sides
Z_MAX = 5.0  # Monte Carlo comparisons of a law with its closed form (see the module docstring)


def random_lifted(seed: int, k: int = 4, self_loops: bool = True, exit_scale: float = 0.3) -> Chain:
    """A random lifted chain with every behaviour transient and a start law of full support."""
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.ones(k), size=k)
    if not self_loops:
        np.fill_diagonal(P, 0.0)
        P /= P.sum(axis=1, keepdims=True)
    a = rng.uniform(0.02, exit_scale, size=k)
    Q = (1 - a)[:, None] * P
    return pl.lift(Q, a, rng.dirichlet(np.ones(k)), [*NAMES[:k], "answer"] if k <= 4 else None)


def parts_close(x: pl.PathLaw | Chain, y: pl.PathLaw | Chain, tol: float = EXACT) -> None:
    px = pl.lifted_parts(x.chain if isinstance(x, pl.PathLaw) else x)
    py = pl.lifted_parts(y.chain if isinstance(y, pl.PathLaw) else y)
    np.testing.assert_allclose(px.Q, py.Q, rtol=0, atol=tol)
    np.testing.assert_allclose(px.a, py.a, rtol=0, atol=tol)
    np.testing.assert_allclose(px.mu, py.mu, rtol=0, atol=tol)


def fundamental(chain: Chain) -> tuple[np.ndarray, np.ndarray]:
    """(mu, N = (I - Q)^-1), computed here from the dense matrix, not by the module."""
    P = chain.P.toarray()
    k = P.shape[0] - 1
    return chain.start_distribution()[:k], np.linalg.inv(np.eye(k) - P[:k, :k])


# ------------------------------------------------------------------------------ basics
def test_lifted_parts_reads_the_blocks_of_to_chain():
    g = reference("qwq-32b")
    a = np.array([0.01, 0.02, 0.1, 0.0])
    c = g.to_chain(answer_rate=a, start="deep")
    p = pl.lifted_parts(c)
    np.testing.assert_allclose(p.Q, (1 - a)[:, None] * g.P, rtol=0, atol=EXACT)
    assert p.a.tolist() == a.tolist() and p.mu.tolist() == [0, 1, 0, 0] and p.labels[-1] == "answer"
    back = pl.lift(p.Q, p.a, p.mu, p.labels)
    assert np.array_equal(back.P.toarray(), c.P.toarray()) and back.target.tolist() == [4]


@pytest.mark.parametrize("seed", range(5))
def test_mean_length_equals_the_exact_mean_hitting_time(seed):
    c = random_lifted(seed)
    assert pl.mean_length(c) == pytest.approx(exact.mean_hitting_time(c), rel=EXACT)
    mu, N = fundamental(c)
    assert pl.mean_length(c) == pytest.approx(float(mu @ N.sum(axis=1)), rel=EXACT)


# ------------------------------------------------------------------------------ thinning
@pytest.mark.parametrize("seed", range(3))
def test_thinning_with_keep_one_is_the_identity(seed):
    c = random_lifted(seed)
    law = pl.thinned(c, 1.0)
    parts_close(law, c)
    assert law.p_empty == pytest.approx(0.0, abs=EXACT) and law.reachable.all()


@pytest.mark.parametrize(("seed", "q1", "q2"), [(0, 0.5, 0.5), (1, 0.3, 0.9), (2, 0.05, 0.7)])
def test_thinning_twice_is_thinning_once_by_the_product(seed, q1, q2):
    c = random_lifted(seed)
    first = pl.thinned(c, q1)
    twice = pl.thinned(first.chain, q2)
    once = pl.thinned(c, q1 * q2)
    parts_close(twice, once)
    # Empty after both steps: empty after the first, or non-empty and then emptied by the second.
    p_twice = first.p_empty + (1 - first.p_empty) * twice.p_empty
    assert p_twice == pytest.approx(once.p_empty, abs=EXACT)


@pytest.mark.parametrize(("seed", "q"), [(0, 0.55), (3, 0.2), (4, 0.9)])
def test_thinned_lengths_and_empty_probability_match_independent_oracles(seed, q):
    c = random_lifted(seed)
    law = pl.thinned(c, q)
    # Each of the n steps survives with probability q: E[kept] = q E[n].
    assert law.mean_length * (1 - law.p_empty) == pytest.approx(q * pl.mean_length(c), rel=EXACT)
    assert law.mean_length_all == pytest.approx(q * pl.mean_length(c), rel=EXACT)
    # P(empty) = E[(1 - q)^n], from the pmf of n = hitting time of the answer (metacot.markov.exact).
    d = exact.hitting_time_distribution(c, t_max=2000)
    assert d.tail < 1e-15
    t = np.arange(d.pmf.size)
    assert law.p_empty == pytest.approx(float(d.pmf @ (1 - q) ** t), abs=EXACT)


# ------------------------------------------------------------------------------ censoring
@pytest.mark.parametrize(("seed", "H1", "H2"), [(0, [2], [3]), (1, [0], [1, 3]), (2, ["deep", "explore"], ["normal"])])
def test_censoring_twice_is_censoring_the_union(seed, H1, H2):
    c = random_lifted(seed)
    first = pl.censored(c, H1)
    union = pl.censored(c, list(H1) + list(H2))
    for hidden_second in (H2, list(H1) + list(H2)):  # H1 is unreachable by now: hiding it again changes nothing
        twice = pl.censored(first.chain, hidden_second)
        parts_close(twice, union)
        p_twice = first.p_empty + (1 - first.p_empty) * twice.p_empty
        assert p_twice == pytest.approx(union.p_empty, abs=EXACT)
        assert np.array_equal(twice.reachable, union.reachable)


@pytest.mark.parametrize(("seed", "hidden"), [(0, [2]), (1, [2, 3]), (2, [0]), (3, [0, 1, 3])])
def test_censored_lengths_count_the_visits_to_visible_states(seed, hidden):
    c = random_lifted(seed)
    law = pl.censored(c, hidden)
    visible = np.setdiff1d(np.arange(4), hidden)
    mu, N = fundamental(c)
    visits = mu @ N  # expected steps in each behaviour
    assert law.mean_length_all == pytest.approx(float(visits[visible].sum()), rel=EXACT)
    # Empty = the answer comes before any visible state: a committor of the original chain.
    q = exact.committor(c, A=visible, B=4)
    assert law.p_empty == pytest.approx(float(mu @ q[:4]), abs=EXACT)
    assert not law.reachable[hidden].any()
    # Nothing enters a hidden state.
    assert np.all(law.Q[:, hidden] == 0)


# ------------------------------------------------------------------------------ jump chain
@pytest.mark.parametrize("seed", range(3))
def test_jump_chain_of_a_chain_without_self_loops_is_the_identity(seed):
    c = random_lifted(seed, self_loops=False)
    law = pl.jump_chain(c)
    parts_close(law, c)
    assert law.p_empty == 0.0


@pytest.mark.parametrize("seed", range(3))
def test_jump_chain_is_idempotent_and_counts_the_runs(seed):
    c = random_lifted(seed)
    once = pl.jump_chain(c)
    parts_close(pl.jump_chain(once.chain), once)
    assert np.all(np.diag(once.Q) == 0)
    mu, N = fundamental(c)
    Q = c.P.toarray()[:4, :4]
    runs = float((mu @ N) @ (1 - np.diag(Q)))  # every run ends exactly once
    assert once.mean_length == pytest.approx(runs, rel=EXACT)


# ------------------------------------------------------------------------------ MLE identity
@pytest.mark.parametrize("seed", range(4))
def test_refit_mean_hitting_time_equals_the_mean_path_length(seed):
    rng = np.random.default_rng(seed)
    # Arbitrary (non-Markov) paths: iid labels with random lengths, some empty, behaviour 3 unused.
    paths = [rng.integers(0, 3, size=int(n)) for n in rng.geometric(0.05, size=200) - (seed % 2)]
    paths += [np.array([], dtype=np.int64)] * 3
    law = pl.lift_from_paths(paths, 4, [*NAMES, "answer"])
    lengths = np.array([len(p) for p in paths])
    assert law.mean_length == pytest.approx(lengths[lengths > 0].mean(), rel=EXACT)
    assert exact.mean_hitting_time(law.chain) == pytest.approx(lengths[lengths > 0].mean(), rel=1e-10)
    assert law.mean_length_all == pytest.approx(lengths.mean(), rel=EXACT)
    assert law.p_empty == pytest.approx(np.mean(lengths == 0), abs=EXACT)
    assert law.reachable.tolist() == [True, True, True, False]
    assert law.a[3] == 1.0 and np.all(law.Q[3] == 0)  # the documented placeholder row


def test_lift_from_traces_is_the_mle_graph_lifted_with_end_rates():
    paths = pl.sample_paths(reference("deepseek-r1").to_chain(answer_rate=0.1, start="normal"), 300, seed=4)
    traces = [tf.make_trace(["s"] * len(p), [NAMES[i] for i in p], trace_id=f"t{n}") for n, p in enumerate(paths)]
    law = pl.lift_from_traces(traces)
    tally = tally_transitions(traces)
    first = np.bincount([p[0] for p in paths], minlength=4) / len(paths)
    c = fit_graph(traces, method="mle").to_chain(answer_rate=tally.end_counts / tally.step_counts, start=first)
    parts_close(law, c)
    assert law.chain.labels == c.labels
    assert law.mean_length == pytest.approx(np.mean([len(p) for p in paths]), rel=EXACT)


# ------------------------------------------------------------------------------ Monte Carlo
START = np.array([0.4, 0.2, 0.2, 0.2])
N_PATHS = 4000


@pytest.fixture(scope="module")
def reference_paths():
    """4000 paths (mean length 12.5) of the QwQ-32B reference graph lifted with answer rate 0.08."""
    c = reference("qwq-32b").to_chain(answer_rate=0.08, start=START)
    paths = pl.sample_paths(c, N_PATHS, seed=11)
    traces = [tf.make_trace(["s"] * len(p), [NAMES[i] for i in p], trace_id=f"t{n}") for n, p in enumerate(paths)]
    return c, paths, traces


def max_abs_z(law: pl.PathLaw, paths: list[np.ndarray]) -> float:
    """Largest |z| of the refitted [Q | a], start law and P(empty) against ``law``."""
    fit = pl.lift_from_paths(paths, 4)
    nonempty = [p for p in paths if len(p)]
    s = np.bincount(np.concatenate(nonempty), minlength=4).astype(float)
    R, Rh = np.column_stack([law.Q, law.a]), np.column_stack([fit.Q, fit.a])
    rows = law.reachable
    assert np.all(s[rows] > 100), "too few steps for the normal approximation"
    zs = []
    for i in np.flatnonzero(rows):
        structural = (R[i] == 0) | (R[i] == 1)
        assert np.array_equal(Rh[i, structural], R[i, structural])  # zeros stay zeros
        zs.append((Rh[i, ~structural] - R[i, ~structural]) / np.sqrt(R[i, ~structural] * (1 - R[i, ~structural]) / s[i]))
    n_ne = len(nonempty)
    m = (law.mu > 0) & (law.mu < 1)
    zs.append((fit.mu[m] - law.mu[m]) / np.sqrt(law.mu[m] * (1 - law.mu[m]) / n_ne))
    if law.p_empty > 0:
        zs.append(np.array([(fit.p_empty - law.p_empty) / np.sqrt(law.p_empty * (1 - law.p_empty) / len(paths))]))
    return float(np.max(np.abs(np.concatenate(zs))))


def as_paths(traces) -> list[np.ndarray]:
    return [np.array([NAMES.index(b.value) for b in t.behaviours()], dtype=np.int64) for t in traces]


def test_sampled_paths_follow_the_chain(reference_paths):
    c, paths, _ = reference_paths
    lengths = np.array([len(p) for p in paths])
    second = float(exact.hitting_time_moments(c, order=2)[1, :4] @ START)
    se = np.sqrt(second - pl.mean_length(c) ** 2) / np.sqrt(N_PATHS)
    assert abs(lengths.mean() - pl.mean_length(c)) < Z_MAX * se
    assert max_abs_z(pl.thinned(c, 1.0), paths) < Z_MAX


def test_bernoulli_thinning_of_sampled_paths_matches_the_thinned_law(reference_paths):
    c, paths, _ = reference_paths
    rng = np.random.default_rng(12)
    kept = [p[rng.random(len(p)) < 0.4] for p in paths]
    law = pl.thinned(c, 0.4)
    assert law.p_empty > 0.05  # short paths: the empty-path probability is tested too
    assert max_abs_z(law, kept) < Z_MAX


@pytest.mark.parametrize("hidden", [["reflect"], ["normal", "explore"]])
def test_drop_behaviours_of_sampled_paths_matches_the_censored_law(reference_paths, hidden):
    c, _, traces = reference_paths
    # drop_behaviours maps a trace to an empty one when every step is hidden; those stay in.
    dropped = as_paths(tf.drop_behaviours(t, hidden) for t in traces)
    law = pl.censored(c, hidden)
    assert law.p_empty > 0.01
    assert max_abs_z(law, dropped) < Z_MAX


def test_merge_runs_of_sampled_paths_matches_the_jump_chain(reference_paths):
    c, _, traces = reference_paths
    merged = as_paths(tf.merge_runs(t) for t in traces)
    assert max_abs_z(pl.jump_chain(c), merged) < Z_MAX


def test_drop_random_is_close_to_bernoulli_thinning():
    # drop_random removes exactly round(f n) steps, not each with probability f: its kept path is
    # not exactly the thinned law (differences of order 1/n per path; never empty). On 1000 paths
    # of mean length 50 that difference is far below sampling error, and we allow |z| <= 6, one
    # unit looser than for the exact laws. The mean kept length has an exact oracle:
    # E[n - round(f n)] over the pmf of n.
    f = 0.45
    c = reference("qwq-32b").to_chain(answer_rate=0.02, start="normal")
    paths = pl.sample_paths(c, 1000, seed=13)
    traces = [tf.make_trace(["s"] * len(p), [NAMES[i] for i in p], trace_id=f"t{n}") for n, p in enumerate(paths)]
    kept = as_paths(tf.drop_random(t, f, seed=n) for n, t in enumerate(traces))
    assert max_abs_z(pl.thinned(c, 1 - f), kept) < Z_MAX + 1
    d = exact.hitting_time_distribution(c, t_max=4000)
    assert d.tail < 1e-12
    n = np.arange(d.pmf.size)
    g = np.array([m - round(f * m) for m in n])
    mean_kept = float(d.pmf @ g)
    sd = np.sqrt(float(d.pmf @ g**2) - mean_kept**2)
    lengths = np.array([len(p) for p in kept])
    assert abs(lengths.mean() - mean_kept) < Z_MAX * sd / np.sqrt(len(kept))
    # ... and that exact mean is within 1% of the Bernoulli one, (1 - f) E[n].
    assert mean_kept == pytest.approx((1 - f) * pl.mean_length(c), rel=0.01)


# ------------------------------------------------------------------------------ bad inputs
def test_lifted_parts_rejects_chains_that_are_not_lifted():
    good = random_lifted(0)
    P = good.P.toarray()
    with pytest.raises(InvalidChainError, match="expected a metacot Chain"):
        pl.thinned(P, 0.5)
    with pytest.raises(InvalidChainError, match="target must be the single last state"):
        pl.mean_length(good.replace(target=None))
    with pytest.raises(InvalidChainError, match="target must be the single last state"):
        pl.mean_length(good.replace(target=0))
    with pytest.raises(InvalidChainError, match="no start law"):
        pl.jump_chain(good.replace(start=None))
    with pytest.raises(InvalidChainError, match=r"mass .* on the answer state"):
        pl.censored(good.replace(start=4), [0])
    leaky = P.copy()
    leaky[4] = [0.5, 0, 0, 0, 0.5]
    with pytest.raises(InvalidChainError, match="must be absorbing"):
        pl.mean_length(Chain(leaky, start=0, target=4))
    trap = P.copy()
    trap[3] = [0, 0, 0, 1, 0]  # behaviour 3 never answers
    with pytest.raises(InvalidChainError, match=r"state 3 .*never reaches the answer"):
        pl.thinned(Chain(trap, start=0, target=4, labels=[*NAMES, "answer"]), 0.5)


@pytest.mark.parametrize("keep", [0, 0.0, -0.1, 1.5, float("nan"), True, "0.5", None])
def test_thinned_rejects_keep_outside_the_unit_interval(keep):
    with pytest.raises(InvalidArgumentError, match="keep must"):
        pl.thinned(random_lifted(0), keep)


@pytest.mark.parametrize(
    ("hidden", "match"),
    [([], "hidden is empty"), ([0, 1, 2, 3], "every behaviour"), ([4], "not a behaviour state"),
     (["answer"], "not a behaviour state"), (["pondering"], "not a behaviour state"), ([True], "not a behaviour")],
)
def test_censored_rejects_bad_hidden_sets(hidden, match):
    with pytest.raises(InvalidArgumentError, match=match):
        pl.censored(random_lifted(0), hidden)


def test_censored_path_that_is_always_empty_is_an_error():
    # Start in behaviour 1, which only ever answers: hiding it leaves nothing.
    c = pl.lift([[0.5, 0.0], [0.0, 0.5]], [0.5, 0.5], [0.0, 1.0])
    with pytest.raises(InvalidArgumentError, match="empty with probability 1"):
        pl.censored(c, [1])


def test_fitting_rejects_bad_paths_and_traces():
    with pytest.raises(InvalidArgumentError, match="no paths"):
        pl.lift_from_paths([], 4)
    with pytest.raises(InvalidArgumentError, match="all 2 paths are empty"):
        pl.lift_from_paths([[], []], 4)
    with pytest.raises(InvalidArgumentError, match="path 1, step 2: 4 is not a behaviour"):
        pl.lift_from_paths([[0], [1, 2, 4]], 4)
    with pytest.raises(InvalidArgumentError, match="k must be a positive int"):
        pl.lift_from_paths([[0]], 0)
    unlabelled = tf.make_trace(["a", "b"], ["normal", None], trace_id="u")
    with pytest.raises(InvalidArgumentError, match="trace 'u', step 1 is unlabelled"):
        pl.lift_from_traces([unlabelled])
    with pytest.raises(InvalidArgumentError, match="behaviour 'explore' is not one of"):
        pl.lift_from_traces([tf.make_trace(["a"], ["explore"])], states=["normal", "deep"])
    with pytest.raises(InvalidArgumentError, match="not a metacot Trace"):
        pl.lift_from_traces([["normal"]])
    with pytest.raises(InvalidArgumentError, match="n_paths must be a positive int"):
        pl.sample_paths(random_lifted(0), 0, seed=0)


def test_sample_paths_refuses_paths_longer_than_max_length():
    # Answer rate 0.01 from "normal" only: P(n > 20) is about 0.8, so 50 paths cannot all end by 20 steps.
    c = reference("qwq-32b").to_chain(answer_rate=[0.01, 0, 0, 0], start="normal")
    with pytest.raises(CensoredError, match="still running after max_length=20"):
        pl.sample_paths(c, 50, seed=0, max_length=20)


def test_index_paths_feed_the_entropy_estimate_and_the_lifted_chain():
    """Index paths of labelled traces, against a hand count and the lifted chain's own paths."""
    import metacot as mc
    from metacot.traces.edits import make_trace

    ts = [make_trace(["a", "b", "c"], ["explore", "deep", "reflect"], trace_id="x"),
          make_trace(["d"], ["normal"], trace_id="y")]
    paths = mc.dynamics.index_paths(ts, answer=True)
    assert [p.tolist() for p in paths] == [[3, 1, 2, 4], [0, 4]]
    padded = mc.dynamics.index_paths(ts, pad=True)
    assert padded.tolist() == [[3, 1, 2], [0, -1, -1]]
    # Two walkers in different states at t = 0, then one stays where it stopped: H = log 2, then 1 bit.
    h = mc.dynamics.empirical_state_entropy(padded, 4, base=2)
    assert h.tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(mc.errors.InvalidArgumentError, match=r"trace 'z', step 1 is unlabelled"):
        mc.dynamics.index_paths([make_trace(["a", "b"], ["normal", None], trace_id="z")])
