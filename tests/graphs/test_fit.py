"""Tests of metacot.graphs.fit: transition counts, MLE, the closed-form Dirichlet posterior, fit_graph.

Unit tests use small synthetic traces; labelling real traces is tested with metacot.graphs.labellers.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats

from metacot.behaviours import BEHAVIOURS, Behaviour
from metacot.errors import InvalidArgumentError, MetacotError
from metacot.graphs.fit import (
    DirichletPosterior,
    fit_dirichlet,
    fit_graph,
    fit_mle,
    tally_transitions,
    transition_counts,
)
from metacot.graphs.graph import BehaviourGraph
from metacot.traces.core import Step, Trace

N, D, R, E = BEHAVIOURS


def make_trace(labels, trace_id="t", model="teacher") -> Trace:
    """A trace with one two-character step per label (``None`` = unlabelled step)."""
    text = "".join(f"{i % 10}." for i in range(len(labels)))
    steps = tuple(Step(text[2 * i : 2 * i + 2], 2 * i, 2 * i + 2, behaviour=b) for i, b in enumerate(labels))
    return Trace(trace_id, "problem", steps, text, source_model=model)


# ------------------------------------------------------------------------------- counting
def test_counts_of_one_trace_include_self_transitions():
    C = transition_counts([make_trace(["normal", "normal", "deep", "reflect", "normal"])])
    expected = np.zeros((4, 4), dtype=int)
    expected[0, 0] = expected[0, 1] = expected[1, 2] = expected[2, 0] = 1
    np.testing.assert_array_equal(C, expected)
    assert C.dtype == np.int64
    assert not C.flags.writeable


def test_counts_do_not_join_traces():
    C = transition_counts([make_trace(["normal"]), make_trace(["deep", "deep"])])
    assert C.sum() == 1 and C[1, 1] == 1


def test_unlabelled_steps_break_the_sequence_and_are_counted():
    t = tally_transitions([make_trace(["deep", None, "reflect", "reflect", None])])
    # deep->None and None->reflect are skipped, and deep->reflect is not invented across the gap.
    assert t.counts.sum() == 1 and t.counts[2, 2] == 1
    assert t.n_unlabelled == 2
    assert t.n_pairs_skipped == 3
    assert (t.n_traces, t.n_steps) == (1, 5)
    np.testing.assert_array_equal(t.step_counts, [0, 1, 2, 0])
    # The trace ends on an unlabelled step, so no end behaviour is recorded.
    assert t.end_counts.sum() == 0


def test_tally_marginal_and_end_counts():
    t = tally_transitions([make_trace(["normal", "explore"]), make_trace(["explore", "normal", "normal"])])
    np.testing.assert_allclose(t.marginal, [3 / 5, 0, 0, 2 / 5])
    np.testing.assert_array_equal(t.end_counts, [1, 0, 0, 1])


def test_custom_state_order_and_unknown_behaviour():
    C = transition_counts([make_trace(["explore", "normal"])], states=["explore", "normal"])
    np.testing.assert_array_equal(C, [[0, 1], [0, 0]])
    with pytest.raises(InvalidArgumentError, match="step 1: behaviour 'deep'"):
        transition_counts([make_trace(["normal", "deep"])], states=["normal", "explore"])
    with pytest.raises(InvalidArgumentError, match="not a metacot Trace"):
        transition_counts(["normal deep"])
    with pytest.raises(InvalidArgumentError, match="distinct"):
        transition_counts([], states=["normal", "normal"])


@given(st.lists(st.lists(st.sampled_from([*BEHAVIOURS, None]), max_size=12), max_size=6))
def test_counts_add_up(label_lists):
    traces = [make_trace(ls, f"t{i}") for i, ls in enumerate(label_lists)]
    t = tally_transitions(traces)
    n_pairs = sum(max(len(ls) - 1, 0) for ls in label_lists)
    assert t.counts.sum() + t.n_pairs_skipped == n_pairs
    assert t.step_counts.sum() + t.n_unlabelled == t.n_steps == sum(map(len, label_lists))
    # Every counted transition leaves a labelled step that is not the last of its trace.
    assert np.all(t.counts.sum(axis=1) <= t.step_counts)


# ------------------------------------------------------------------------------- MLE
@given(arrays(np.int64, (4, 4), elements=st.integers(0, 50)))
def test_mle_is_row_normalised_counts(C):
    C = C.copy()
    C[:, 0] += 1  # every row observed
    P = fit_mle(C)
    np.testing.assert_allclose(P, C / C.sum(axis=1, keepdims=True), rtol=0, atol=1e-15)
    np.testing.assert_allclose(P.sum(axis=1), 1.0)


def test_mle_empty_row_names_the_behaviour():
    C = np.ones((4, 4))
    C[2] = 0
    with pytest.raises(InvalidArgumentError, match=r"reflect.*method='dirichlet'"):
        fit_mle(C)


@pytest.mark.parametrize("bad", [np.ones((3, 4)), -np.ones((4, 4)), np.full((4, 4), np.nan)])
def test_bad_counts_are_refused(bad):
    with pytest.raises(InvalidArgumentError):
        fit_mle(bad)


# ------------------------------------------------------------------------------- Dirichlet
COUNTS = np.array([[30, 4, 2, 5], [6, 3, 1, 2], [2, 1, 0, 3], [4, 2, 1, 7]])


@pytest.mark.parametrize("prior", [1.0, 0.5, 3.0])
def test_dirichlet_mean_scalar_prior(prior):
    post = fit_dirichlet(COUNTS, prior=prior)
    expected = (COUNTS + prior) / (COUNTS.sum(axis=1, keepdims=True) + 4 * prior)
    np.testing.assert_allclose(post.mean, expected, rtol=1e-15)
    np.testing.assert_array_equal(post.alpha, COUNTS + prior)


def test_dirichlet_mean_matrix_prior():
    prior = np.arange(1, 17, dtype=float).reshape(4, 4) / 4
    post = fit_dirichlet(COUNTS, prior=prior)
    expected = (COUNTS + prior) / (COUNTS + prior).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(post.mean, expected, rtol=1e-15)


def test_dirichlet_prior_validation():
    with pytest.raises(InvalidArgumentError, match="shape"):
        fit_dirichlet(COUNTS, prior=np.ones(4))
    with pytest.raises(InvalidArgumentError, match=r"prior\[0, 0\]"):
        fit_dirichlet(COUNTS, prior=-1.0)
    # A zero prior is allowed where there are counts, not where there are none (reflect->reflect).
    with pytest.raises(InvalidArgumentError, match="reflect->reflect"):
        fit_dirichlet(COUNTS, prior=0.0)
    with pytest.raises(InvalidArgumentError):
        DirichletPosterior(alpha=np.zeros((4, 4)), states=BEHAVIOURS)


@pytest.mark.parametrize("level", [0.5, 0.9, 0.95])
def test_credible_interval_is_the_exact_beta_marginal(level):
    post = fit_dirichlet(COUNTS, prior=0.5)
    lo, hi = post.credible_interval(level)
    a = COUNTS + 0.5
    b = a.sum(axis=1, keepdims=True) - a
    np.testing.assert_allclose(lo, stats.beta(a, b).ppf((1 - level) / 2), rtol=1e-12)
    np.testing.assert_allclose(hi, stats.beta(a, b).ppf((1 + level) / 2), rtol=1e-12)
    assert np.all(lo < post.mean) and np.all(post.mean < hi)
    with pytest.raises(InvalidArgumentError, match="level"):
        post.credible_interval(1.0)


def test_posterior_samples_match_the_closed_form():
    """Monte Carlo: n = 40,000 draws, seed 7; means within 5 standard errors, variances within 5%."""
    post = fit_dirichlet(COUNTS, prior=1.0)
    n = 40_000
    S = post.sample(n, seed=7)
    assert S.shape == (n, 4, 4)
    np.testing.assert_allclose(S.sum(axis=2), 1.0, atol=1e-12)
    se = np.sqrt(post.variance / n)
    assert np.all(np.abs(S.mean(axis=0) - post.mean) < 5 * se)
    np.testing.assert_allclose(S.var(axis=0), post.variance, rtol=0.05)
    # Empirical coverage of the exact 90% intervals, 5 binomial standard errors.
    lo, hi = post.credible_interval(0.9)
    cover = ((S >= lo) & (S <= hi)).mean(axis=0)
    assert np.all(np.abs(cover - 0.9) < 5 * np.sqrt(0.09 / n))


def test_sample_is_reproducible():
    post = fit_dirichlet(COUNTS)
    np.testing.assert_array_equal(post.sample(10, seed=3), post.sample(10, seed=3))
    np.testing.assert_array_equal(post.sample(4, seed=np.random.default_rng(1)), post.sample(4, seed=1))
    with pytest.raises(InvalidArgumentError, match="seed"):
        post.sample(4, seed=None)


# ------------------------------------------------------------------------------- fit_graph
TRACES = [
    make_trace(["normal", "normal", "deep", "reflect", "explore", "normal"], "a", "R1"),
    make_trace(["explore", "explore", "normal", None, "deep", "deep"], "b", "R1"),
    make_trace(["reflect", "normal", "explore", "reflect"], "c", "QwQ"),
]


def test_fit_graph_mle_and_dirichlet_agree_with_the_closed_forms():
    C = transition_counts(TRACES)
    g = fit_graph(TRACES, method="mle")
    assert isinstance(g, BehaviourGraph)
    np.testing.assert_allclose(g.P, C / C.sum(axis=1, keepdims=True))
    np.testing.assert_array_equal(g.counts, C)
    assert g.posterior is None
    g2 = fit_graph(TRACES, method="dirichlet", prior=2.0)
    np.testing.assert_allclose(g2.P, (C + 2.0) / (C.sum(axis=1, keepdims=True) + 8.0))
    np.testing.assert_array_equal(g2.posterior, C + 2.0)
    assert g2.provenance.extra["prior"] == 2.0


def test_fit_graph_marginal_and_provenance():
    g = fit_graph(TRACES)
    labels = [b for t in TRACES for b in t.behaviours() if b is not None]
    np.testing.assert_allclose(g.marginal, [labels.count(b) / len(labels) for b in BEHAVIOURS])
    p = g.provenance
    assert p.method == "dirichlet" and p.sources == ("QwQ", "R1") and p.labeller is None
    assert p.extra["n_unlabelled"] == 1 and p.extra["n_pairs_skipped"] == 2 and p.extra["n_traces"] == 3
    assert p.metacot_version and p.created


def test_fit_graph_applies_a_labeller():
    raw = [make_trace([None] * 5, "u")]

    def all_deep(trace):
        steps = tuple(Step(s.text, s.start, s.end, behaviour=Behaviour.DEEP) for s in trace.steps)
        return Trace(trace.trace_id, trace.problem, steps, trace.response)

    g = fit_graph(raw, labeller=all_deep)
    assert g.counts[1, 1] == 4 and g.provenance.labeller.endswith("all_deep")

    class Named:
        name = "keyword-v1"

        def label(self, trace):
            return all_deep(trace)

    assert fit_graph(raw, labeller=Named()).provenance.labeller == "keyword-v1"
    with pytest.raises(InvalidArgumentError, match="expected a labelled Trace"):
        fit_graph(raw, labeller=lambda t: None)


def test_fit_graph_errors():
    with pytest.raises(InvalidArgumentError, match="method"):
        fit_graph(TRACES, method="bayes")
    with pytest.raises(MetacotError, match="no labelled transitions"):
        fit_graph([make_trace([None, None])])
    # Under MLE a behaviour never followed by another step has no row.
    with pytest.raises(InvalidArgumentError, match="reflect"):
        fit_graph([make_trace(["normal", "deep", "normal", "explore", "normal"])], method="mle")


@pytest.mark.slow
def test_fit_graph_pymc_agrees_with_the_closed_form():
    # Same model, sampled: 2 chains x 500 draws (seed 0); tolerance 0.03 per entry, about 5 MC standard
    # errors for these counts (posterior sd <= 0.07, ESS >= 500).
    pytest.importorskip("pymc")
    from metacot.traces.core import Step, Trace

    seq = ["normal", "deep", "normal", "reflect", "explore", "normal", "deep", "deep", "normal", "explore"] * 3
    t = Trace("t", "q", tuple(Step("x", i, i + 1, b) for i, b in enumerate(seq)), "x" * len(seq), source_model="m")
    g = fit_graph([t], method="pymc", labeller=None)
    ref = fit_graph([t], method="dirichlet")
    assert g.provenance.method == "pymc" and g.provenance.sources == ("m",)
    np.testing.assert_allclose(g.P, ref.P, atol=0.03)


def test_reasoningflow_traces_without_behaviours_are_labelled_by_the_mapping():
    """The public contract: fit_graph(load_reasoningflow(path)) works, and says which labeller it used."""
    import metacot as mc

    path = mc.traces.DATA_DIR / "reasoningflow" / "annotated" / "aime2024_0_QwQ-32B.json"
    raw = mc.traces.load_reasoningflow(path)
    g = mc.fit_graph(raw)
    explicit = mc.fit_graph(mc.label.label_traces(raw, mc.label.ReasoningFlowLabeller()))
    np.testing.assert_array_equal(g.P, explicit.P)
    assert g.provenance.labeller == "reasoningflow"
    # Partly labelled traces are not relabelled behind the user's back.
    from dataclasses import replace

    one = replace(raw[0], steps=(replace(raw[0].steps[0], behaviour="normal"), *raw[0].steps[1:]))
    with pytest.raises(mc.errors.InvalidArgumentError, match="no labelled transitions"):
        mc.fit_graph([one])
