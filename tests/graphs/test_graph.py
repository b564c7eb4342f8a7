"""Tests of metacot.graphs.graph: BehaviourGraph, its JSON schema, walks, the lifted chain, references."""

from __future__ import annotations

import json

import networkx as nx
import numpy as np
import pytest

from metacot import exact
from metacot.behaviours import BEHAVIOURS, Behaviour
from metacot.errors import GraphFormatError, InvalidArgumentError, InvalidChainError, MetacotError
from metacot.graphs.fit import fit_graph
from metacot.graphs.graph import (
    ANSWER,
    REFERENCE_PERCENT,
    BehaviourGraph,
    Provenance,
    compare,
    reference,
)
from metacot.markov.chain import Chain
from metacot.traces.core import Step, Trace

NAMES = ["deepseek-r1-0528", "gpt-oss-120b", "qwq-32b"]


def make_trace(labels, trace_id="t"):
    text = "".join(f"{i % 10}." for i in range(len(labels)))
    steps = tuple(Step(text[2 * i : 2 * i + 2], 2 * i, 2 * i + 2, behaviour=b) for i, b in enumerate(labels))
    return Trace(trace_id, "problem", steps, text, source_model="teacher")


@pytest.fixture
def fitted():
    traces = [
        make_trace(["normal", "normal", "deep", "reflect", "explore", "normal", "deep"], "a"),
        make_trace(["explore", "explore", "normal", "reflect", "normal"], "b"),
    ]
    return fit_graph(traces, method="dirichlet", prior=0.5)


# ------------------------------------------------------------------------------- model object
def test_graph_is_validated_and_immutable():
    with pytest.raises(InvalidArgumentError, match="row 1 of P sums"):
        BehaviourGraph(np.array([[1, 0], [0.5, 0.6]]), states=["normal", "deep"])
    with pytest.raises(InvalidArgumentError, match=r"P\[0, 1\]"):
        BehaviourGraph(np.array([[1.5, -0.5], [0, 1]]), states=["normal", "deep"])
    with pytest.raises(InvalidArgumentError, match="shape"):
        BehaviourGraph(np.eye(3))
    with pytest.raises(InvalidArgumentError, match="behaviours"):
        BehaviourGraph(np.eye(2), states=["normal", "thinking"])
    with pytest.raises(InvalidArgumentError, match="marginal sums"):
        BehaviourGraph(np.eye(4), marginal=[0.5, 0.5, 0.5, 0])
    g = BehaviourGraph(np.full((4, 4), 0.25))
    assert not g.P.flags.writeable
    with pytest.raises(AttributeError):
        g.P = np.eye(4)


def test_stationary_matches_exact_and_the_notes():
    # Stationary laws of the Figure 5 graphs, recomputed in papers/notes/molecular_paper.md §2.2.
    notes = {
        "deepseek-r1-0528": [0.594, 0.116, 0.073, 0.218],
        "gpt-oss-120b": [0.587, 0.129, 0.060, 0.223],
        "qwq-32b": [0.592, 0.064, 0.150, 0.194],
    }
    for name, pi_notes in notes.items():
        g = reference(name)
        pi = g.stationary()
        np.testing.assert_allclose(pi @ g.P, pi, atol=1e-14)
        np.testing.assert_allclose(pi, pi_notes, atol=1e-3)


def test_stationary_of_reducible_graph_raises():
    g = BehaviourGraph(np.eye(4))
    with pytest.raises(InvalidChainError, match="closed classes"):
        g.stationary()


# ------------------------------------------------------------------------------- JSON
def test_json_round_trip(tmp_path, fitted):
    p = fitted.save(tmp_path / "g.json")
    back = BehaviourGraph.load(p)
    assert back == fitted
    np.testing.assert_array_equal(back.posterior, fitted.posterior)
    ref = reference("gpt-oss-120b")
    assert BehaviourGraph.load(ref.save(tmp_path / "r.json")) == ref
    assert json.loads(p.read_text())["version"] == 1


def _broken(tmp_path, fitted, change):
    d = fitted.to_dict()
    change(d)
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(d))
    with pytest.raises(GraphFormatError) as ei:
        BehaviourGraph.load(p)
    assert str(p) in str(ei.value)
    return ei.value.field


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.update(format="other"), "format"),
        (lambda d: d.update(version=99), "version"),
        (lambda d: d.pop("P"), "P"),
        (lambda d: d.update(P=[[1, 0], [0, 1]]), "P"),
        (lambda d: d["P"][0].__setitem__(0, 5.0), "P"),
        (lambda d: d.update(P="identity"), "P"),
        (lambda d: d["counts"][1].__setitem__(1, -1), "counts"),
        (lambda d: d.update(marginal=[1, 1, 1, 1]), "marginal"),
        (lambda d: d["posterior"][2].__setitem__(3, 0.0), "posterior"),
        (lambda d: d.update(states=["normal", "deep", "reflect", "wander"]), "states"),
        (lambda d: d.update(colour="red"), "colour"),
        (lambda d: d.pop("provenance"), "provenance"),
        (lambda d: d["provenance"].pop("method"), "provenance.method"),
        (lambda d: d["provenance"].update(sources="R1"), "provenance.sources"),
        (lambda d: d["provenance"].update(when="now"), "provenance.when"),
    ],
)
def test_schema_errors_name_the_field(tmp_path, fitted, change, field):
    assert _broken(tmp_path, fitted, change) == field


def test_invalid_json(tmp_path):
    p = tmp_path / "x.json"
    p.write_text("{not json")
    with pytest.raises(GraphFormatError, match="not valid JSON"):
        BehaviourGraph.load(p)


# ------------------------------------------------------------------------------- networkx
def test_to_networkx(fitted):
    G = fitted.to_networkx()
    assert isinstance(G, nx.DiGraph)
    assert list(G.nodes) == [b.value for b in BEHAVIOURS]
    A = nx.to_numpy_array(G, nodelist=[b.value for b in BEHAVIOURS], weight="weight")
    np.testing.assert_allclose(A, fitted.P)
    assert G.nodes["reflect"]["title"] == "Self-Reflection"
    assert G["normal"]["deep"]["count"] == fitted.counts[0, 1]
    assert G.graph["provenance"]["method"] == "dirichlet"


# ------------------------------------------------------------------------------- walks
def test_walk_statistics_match_P():
    """Seed 1, 100,000 steps: each row's transition frequencies within 5 standard errors of P;
    occupancy within 0.01 of the stationary law (the chain mixes in a few steps)."""
    g = reference("deepseek-r1-0528")
    w = g.walk(seed=1, start="normal", max_steps=100_000)
    assert len(w) == 100_001 and w[0] is Behaviour.NORMAL
    idx = np.array([g.index(b) for b in w])
    C = np.zeros((4, 4))
    np.add.at(C, (idx[:-1], idx[1:]), 1)
    n = C.sum(axis=1, keepdims=True)
    se = np.sqrt(g.P * (1 - g.P) / n)
    assert np.all(np.abs(C / n - g.P) < 5 * se)
    occ = np.bincount(idx, minlength=4) / idx.size
    np.testing.assert_allclose(occ, g.stationary(), atol=0.01)


def test_walk_is_reproducible_and_respects_zeros():
    P = np.array([[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [1, 0, 0, 0]], dtype=float)
    g = BehaviourGraph(P)
    assert [b.symbol for b in g.walk(seed=0, start=0, max_steps=5)] == list("NDREND")
    r = reference("qwq-32b")
    assert r.walk(seed=5, max_steps=50) == r.walk(seed=5, max_steps=50)
    with pytest.raises(InvalidArgumentError):
        r.walk(seed=0, start="thinking")
    with pytest.raises(InvalidArgumentError):
        r.walk(seed=0, max_steps=-1)


# ------------------------------------------------------------------------------- lifted chain
def dense_hitting_times(g, a):
    """Independent solve of (I - diag(1-a) P) h = 1 on the behaviour states."""
    Q = (1 - a)[:, None] * g.P
    return np.linalg.solve(np.eye(g.n_states) - Q, np.ones(g.n_states))


@pytest.mark.parametrize("name", NAMES)
def test_lifted_chain_hitting_times(name):
    g = reference(name)
    a = np.array([0.02, 0.05, 0.1, 0.01])
    c = g.to_chain(answer_rate=a)
    assert isinstance(c, Chain) and c.n_states == 5
    assert c.labels == ("normal", "deep", "reflect", "explore", ANSWER)
    assert c.target.tolist() == [4]
    P = c.P.toarray()
    np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-12)
    assert P[4, 4] == 1.0
    np.testing.assert_allclose(P[:4, 4], a)
    h = exact.hitting_times(c)
    np.testing.assert_allclose(h[:4], dense_hitting_times(g, a), rtol=1e-10)
    assert h[4] == 0
    # The default start is the stationary law (references have no marginal).
    np.testing.assert_allclose(c.start_distribution()[:4], g.stationary())
    mean = exact.mean_hitting_time(c)
    assert mean == pytest.approx(g.stationary() @ dense_hitting_times(g, a), rel=1e-10)


def test_lifted_chain_scalar_rate_is_geometric(fitted):
    c = fitted.to_chain(answer_rate=0.2, start="deep")
    np.testing.assert_allclose(exact.hitting_times(c)[:4], 5.0, rtol=1e-12)
    assert c.start == 1


def test_lifted_chain_mapping_and_errors(fitted):
    c = fitted.to_chain(answer_rate={"reflect": 0.5})
    np.testing.assert_allclose(c.P.toarray()[:4, 4], [0, 0, 0.5, 0])
    np.testing.assert_allclose(c.start_distribution()[:4], fitted.marginal)
    with pytest.raises(InvalidArgumentError, match="unreachable"):
        fitted.to_chain(answer_rate=0.0)
    with pytest.raises(InvalidArgumentError, match="'deep'"):
        fitted.to_chain(answer_rate=[0.1, 1.5, 0.1, 0.1])
    with pytest.raises(InvalidArgumentError):
        fitted.to_chain(answer_rate=[0.1, 0.1])


# ------------------------------------------------------------------------------- references, compare
def test_reference_graphs():
    for name in NAMES:
        g = reference(name)
        v = np.array(REFERENCE_PERCENT[name])
        # Figure 5 rows sum to 99.6..101 after rounding; normalising moves no entry by > 0.6 points.
        assert np.all(np.abs(v.sum(axis=1) - 100) <= 1.0)
        np.testing.assert_allclose(g.P * 100, v, atol=0.6)
        assert g.counts is None and g.marginal is None
        assert g.provenance.method == "reference" and "2601.06002" in g.provenance.sources[0]
    assert reference("OpenAI-OSS-120B") == reference("gpt-oss-120b")
    with pytest.raises(MetacotError, match="no reference graph"):
        reference("claude")


def test_compare_identical_graphs(fitted):
    for g in (fitted, reference("qwq-32b")):
        c = compare(g, g)
        assert c.pearson == pytest.approx(1.0, abs=1e-12)
        assert c.pearson_offdiag == pytest.approx(1.0, abs=1e-12)
        np.testing.assert_allclose(c.js, 0.0, atol=1e-15)


def test_compare_reference_pairs_match_the_notes():
    # Pearson r recomputed from the rounded Figure 5 values (notes §2.2); normalisation moves it < 0.003.
    notes = {
        ("deepseek-r1-0528", "gpt-oss-120b"): (0.981, 0.962),
        ("deepseek-r1-0528", "qwq-32b"): (0.911, 0.924),
        ("gpt-oss-120b", "qwq-32b"): (0.897, 0.883),
    }
    for (a, b), (r_all, r_off) in notes.items():
        c = compare(reference(a), reference(b))
        assert c.pearson == pytest.approx(r_all, abs=3e-3)
        assert c.pearson_offdiag == pytest.approx(r_off, abs=3e-3)
        assert np.all((c.js > 0) & (c.js <= 1))
        np.testing.assert_allclose(compare(reference(b), reference(a)).js, c.js)


def test_compare_js_extremes_and_state_mismatch():
    P = np.eye(4)[[1, 2, 3, 0]]
    Q = np.eye(4)[[2, 3, 0, 1]]
    c = compare(BehaviourGraph(P), BehaviourGraph(Q))
    np.testing.assert_allclose(c.js, 1.0)  # disjoint supports: the maximum, 1 bit
    with pytest.raises(InvalidArgumentError, match="different states"):
        compare(BehaviourGraph(np.eye(2), states=["normal", "deep"]), BehaviourGraph(np.eye(4)))


def test_provenance_validation():
    with pytest.raises(InvalidArgumentError, match="sources"):
        Provenance(method="mle", sources="R1")
    with pytest.raises(InvalidArgumentError, match="Provenance"):
        BehaviourGraph(np.eye(4), provenance={"method": "mle"})


# ---------------------------------------------------------------------- bootstrap intervals
def _walk_traces(graph, n, length, seed):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        seq = graph.walk(rng, start="normal", max_steps=length - 1)
        out.append(Trace(f"w{i}", "q", tuple(Step("x", j, j + 1, b) for j, b in enumerate(seq)), "x" * length))
    return out


def test_bootstrap_of_identical_traces_collapses_to_the_point():
    # Every resample of n copies of one trace is that trace n times: the refitted graph cannot move.
    one = _walk_traces(reference("qwq-32b"), 1, 40, seed=3)[0]
    tr = [Trace(f"c{i}", one.problem, one.steps, one.response) for i in range(12)]
    g = fit_graph(tr)
    c = compare(g, reference("qwq-32b"), tr, n_boot=50, seed=0)
    for name in ("pearson", "pearson_offdiag", "js_mean"):
        lo, hi = c.interval(name)
        point = c.js_mean if name == "js_mean" else getattr(c, name)
        assert lo == pytest.approx(point, abs=1e-12) and hi == pytest.approx(point, abs=1e-12)
    assert c.intervals["js"].shape == (4, 2) and c.n_boot_dropped == 0


def test_bootstrap_replicates_match_explicit_trace_resampling():
    # Oracle: resample trace indices with replacement and refit the MLE directly. The multinomial-weight
    # replicates must have the same distribution: entry means agree within 5 combined Monte Carlo
    # standard errors and their spreads within 10% (4000 replicates each, seeds 7 and 8).
    from metacot.graphs.fit import per_trace_counts
    from metacot.graphs.graph import resample_graph

    tr = _walk_traces(reference("deepseek-r1-0528"), 30, 25, seed=1)
    g = fit_graph(tr, method="mle")
    W = np.random.default_rng(7).multinomial(len(tr), np.full(len(tr), 1 / len(tr)), size=4000).astype(float)
    P, ok = resample_graph(g, tr, W, "a")
    C = per_trace_counts(tr).astype(float)
    idx = np.random.default_rng(8).integers(0, len(tr), size=(4000, len(tr)))
    N = C[idx].sum(axis=1)
    good = (N.sum(axis=2) > 0).all(axis=1)
    Q = N[good] / N[good].sum(axis=2, keepdims=True)
    P = P[ok]
    se = np.sqrt(P.var(axis=0) / len(P) + Q.var(axis=0) / len(Q))
    assert ok.mean() > 0.9 and good.mean() > 0.9
    assert np.all(np.abs(P.mean(axis=0) - Q.mean(axis=0)) <= 5 * se + 1e-12)
    # ... and the same spread (a sd estimate from 4000 draws has relative SE about 1%; allow 10%).
    np.testing.assert_allclose(P.std(axis=0), Q.std(axis=0), rtol=0.1, atol=1e-3)
    assert np.allclose(P.sum(axis=2), 1.0)


def test_bootstrap_interval_narrows_with_more_traces():
    # The graph is estimated from n traces, so the interval width should fall roughly like n^-1/2:
    # 16x the traces should at least halve it (expected ratio 4). Seeds fixed.
    truth = reference("gpt-oss-120b")
    widths = []
    for n in (20, 320):
        tr = _walk_traces(truth, n, 30, seed=n)
        c = compare(fit_graph(tr), truth, tr, n_boot=400, seed=11)
        lo, hi = c.interval("js_mean")
        assert lo <= c.js_mean <= hi or hi - lo < 1e-3
        widths.append(hi - lo)
    assert widths[1] < widths[0] / 2


def test_bootstrap_refuses_traces_that_do_not_match_the_graph():
    tr = _walk_traces(reference("qwq-32b"), 10, 20, seed=5)
    g = fit_graph(tr)
    with pytest.raises(InvalidArgumentError, match="do not reproduce"):
        compare(g, reference("qwq-32b"), tr[:5], n_boot=50)
    with pytest.raises(InvalidArgumentError, match="no counts"):
        compare(reference("qwq-32b"), g, tr, n_boot=50)
    with pytest.raises(InvalidArgumentError, match="n_boot"):
        compare(g, reference("qwq-32b"), tr, n_boot=3)
    with pytest.raises(InvalidArgumentError, match="no bootstrap intervals"):
        compare(g, reference("qwq-32b")).interval("pearson")
    with pytest.raises(InvalidArgumentError, match="intervals\\['js'\\]"):
        compare(g, reference("qwq-32b"), tr, n_boot=20).interval("js")


def test_bootstrap_mle_drops_undefined_replicates_and_says_so():
    # One trace holds the only 'explore' successor; resamples without it leave the MLE row undefined.
    base = _walk_traces(BehaviourGraph(np.array([[0.5, 0.5, 0, 0], [0.5, 0.5, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]])),
                        20, 10, seed=2)
    rare = Trace("rare", "q", (Step("x", 0, 1, "explore"), Step("x", 1, 2, "normal"),
                               Step("x", 2, 3, "reflect"), Step("x", 3, 4, "normal")), "xxxx")
    tr = [*base, rare]
    g = fit_graph(tr, method="mle")
    c = compare(g, g, tr, n_boot=300, seed=4)
    # P(rare trace absent from a resample of 21) = (20/21)^21 ≈ 0.36.
    assert 0 < c.n_boot_dropped < 300


def test_paired_bootstrap_of_a_trace_set_with_itself_is_exactly_zero_shift():
    # Identity "transformation": every paired replicate refits the same resample on both sides, so
    # r = 1 and JS = 0 in every replicate. Unpaired resampling invents a shift of its own.
    tr = _walk_traces(reference("qwq-32b"), 25, 30, seed=9)
    g = fit_graph(tr)
    paired = compare(g, g, tr, tr, n_boot=200, seed=1, paired=True)
    assert paired.interval("pearson") == pytest.approx((1.0, 1.0), abs=1e-12)
    assert paired.interval("js_mean") == pytest.approx((0.0, 0.0), abs=1e-12)
    unpaired = compare(g, g, tr, tr, n_boot=200, seed=1)
    assert unpaired.interval("js_mean")[1] > 1e-3


def test_paired_bootstrap_uses_the_same_indices_on_both_sides():
    # Oracle: b is a relabelled copy of a (normal <-> deep swapped in every trace). With shared
    # indices the replicate of b is exactly the replicate of a with those rows and columns permuted.
    from metacot.graphs.graph import resample_graph

    tr = _walk_traces(reference("deepseek-r1-0528"), 20, 30, seed=4)
    swap = {"normal": "deep", "deep": "normal"}
    tr_b = [Trace(t.trace_id, t.problem, tuple(Step(s.text, s.start, s.end, swap.get(s.behaviour.value,
                  s.behaviour.value)) for s in t.steps), t.response) for t in tr]
    ga, gb = fit_graph(tr, method="mle"), fit_graph(tr_b, method="mle")
    W = np.random.default_rng(3).multinomial(20, np.full(20, 0.05), size=100).astype(float)
    Pa, _ = resample_graph(ga, tr, W, "a")
    Pb, _ = resample_graph(gb, tr_b, W, "b")
    perm = [1, 0, 2, 3]
    np.testing.assert_allclose(Pb, Pa[:, perm][:, :, perm], atol=1e-12)


def test_paired_bootstrap_refuses_unequal_or_missing_sets():
    tr = _walk_traces(reference("qwq-32b"), 10, 20, seed=5)
    g, h = fit_graph(tr), fit_graph(tr[:6])
    with pytest.raises(InvalidArgumentError, match="as many traces"):
        compare(g, h, tr, tr[:6], n_boot=20, paired=True)
    with pytest.raises(InvalidArgumentError, match="needs both"):
        compare(g, h, tr, n_boot=20, paired=True)
