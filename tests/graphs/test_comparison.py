"""The one trace bootstrap of metacot.graphs.comparison, and the helpers the split made public."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from metacot.errors import InvalidArgumentError
from metacot.graphs.closed_form import fit_dirichlet, row_normalise
from metacot.graphs.comparison import (
    FewTracesWarning,
    bootstrap_graphs,
    bootstrap_weights,
    compare,
    resampled_counts,
)
from metacot.graphs.counts import per_trace_counts
from metacot.graphs.fit import fit_graph
from metacot.graphs.labelling import label_traces, labeller_name, relabel
from metacot.graphs.nuts import NUTSSettings
from metacot.graphs.reference_graphs import reference
from metacot.traces.core import Step, Trace

BEH = ["normal", "deep", "reflect", "explore"]


def _traces(n: int, length: int = 12, seed: int = 0) -> list[Trace]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        labels = [BEH[j] for j in rng.integers(4, size=length)]
        out.append(Trace(f"t{i}", "q", tuple(Step("x", k, k + 1, b) for k, b in enumerate(labels)), "x" * length))
    return out


def test_weights_are_multinomial_resampling_and_one_stream():
    # Oracle: numpy's multinomial with the same seed (the stream every experiment was run on), and
    # rows summing to n. A Generator continues its stream across calls.
    W = bootstrap_weights(7, 50, seed=3)
    expected = np.random.default_rng(3).multinomial(7, np.full(7, 1 / 7), size=50).astype(float)
    np.testing.assert_array_equal(W, expected)
    assert W.dtype == np.float64 and (W.sum(axis=1) == 7).all()
    g = np.random.default_rng(4)
    a, b = bootstrap_weights(5, 10, g), bootstrap_weights(5, 10, g)
    h = np.random.default_rng(4)
    np.testing.assert_array_equal(a, h.multinomial(5, np.full(5, 0.2), size=10))
    np.testing.assert_array_equal(b, h.multinomial(5, np.full(5, 0.2), size=10))
    with pytest.raises(InvalidArgumentError, match="n_boot"):
        bootstrap_weights(5, 0, seed=0)
    with pytest.raises(InvalidArgumentError, match="seed"):
        bootstrap_weights(5, 10, seed=-1)


def test_resampled_counts_and_graphs_match_explicit_pooling():
    # Oracle: pool the drawn traces one by one and refit with fit_dirichlet.
    tr = _traces(6)
    C = per_trace_counts(tr).astype(float)
    idx = np.array([[0, 0, 1, 2, 5, 5], [3, 3, 3, 3, 3, 3]])
    W = np.stack([np.bincount(row, minlength=6) for row in idx]).astype(float)
    N = resampled_counts(C, W)
    np.testing.assert_array_equal(N, np.stack([C[row].sum(axis=0) for row in idx]))
    P, ok = bootstrap_graphs(C, W, prior=0.5)
    for b in range(2):
        np.testing.assert_allclose(P[b], fit_dirichlet(N[b], 0.5).mean, rtol=0, atol=1e-15)
    assert ok.all()
    # A leading replicate axis: replicate b pools its own trace set.
    C2 = np.stack([C, C[::-1]])
    np.testing.assert_array_equal(resampled_counts(C2, W)[1], (W[1][:, None, None] * C[::-1]).sum(axis=0))
    with pytest.raises(InvalidArgumentError, match="do not fit"):
        resampled_counts(C, W[:, :5])


def test_row_normalise_flags_empty_rows():
    P, ok = row_normalise(np.array([[[2.0, 2.0], [0.0, 0.0]]]))
    assert P[0].tolist() == [[0.5, 0.5], [0.0, 0.0]] and ok.tolist() == [False]


def test_one_trace_bootstrap_warns_instead_of_a_silent_zero_width_interval():
    one = _traces(1)
    g = fit_graph(one)
    with pytest.warns(FewTracesWarning, match="traces_a"):
        c = compare(g, reference("qwq-32b"), one, n_boot=50, seed=0)
    lo, hi = c.interval("pearson")
    assert lo == hi  # the interval the warning is about
    many = _traces(5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FewTracesWarning)
        compare(fit_graph(many), reference("qwq-32b"), many, n_boot=50, seed=0)
    with pytest.raises(InvalidArgumentError, match="traces_a is empty"):
        compare(g, g, [], n_boot=50)


def test_label_traces_takes_labellers_and_callables_and_checks_the_output():
    tr = _traces(2)

    def all_deep(t):
        return relabel(t, ["deep"] * len(t.steps), "all-deep")

    class Obj:
        name = "obj"

        def label(self, t):
            return all_deep(t)

    for lab in (all_deep, Obj()):
        out = label_traces(tr, lab)
        assert all(s.behaviour.value == "deep" for t in out for s in t.steps)
    assert labeller_name(Obj()) == "obj" and labeller_name(all_deep).endswith("all_deep")
    with pytest.raises(InvalidArgumentError, match="trace 0"):
        label_traces(tr, lambda t: None)
    with pytest.raises(InvalidArgumentError, match="callable"):
        label_traces(tr, 42)
    with pytest.raises(InvalidArgumentError, match="1 behaviours for 12 steps"):
        relabel(tr[0], ["deep"], "x")


def test_nuts_settings_are_checked_once():
    s = NUTSSettings(draws=10, tune=0)
    assert (s.draws, s.tune, s.chains, s.target_accept) == (10, 0, 2, 0.8)
    for bad, match in (({"draws": 0}, "draws"), ({"chains": 1}, "chains"), ({"target_accept": 1.0}, "target_accept"),
                       ({"check": "loud"}, "check"), ({"cores": 1.5}, "cores")):
        with pytest.raises(InvalidArgumentError, match=match):
            NUTSSettings(**bad)
    assert NUTSSettings.seeds(5)[0] == NUTSSettings.seeds(np.random.default_rng(5))[0]


def test_compare_accepts_pymc_and_hierarchical_graphs_through_a_closed_form_refit():
    """A PyMC graph is refitted with its recorded prior, so its intervals equal the Dirichlet graph's."""
    from dataclasses import replace

    import metacot as mc

    path = mc.traces.DATA_DIR / "reasoningflow" / "annotated"
    files = sorted(path.glob("aime2024_*_QwQ-32B.json"))[:4]
    traces = [t for f in files for t in mc.traces.load_reasoningflow(f)]
    traces = mc.label.label_traces(traces, mc.label.ReasoningFlowLabeller())
    ref = mc.graph.reference("qwq-32b")
    g = mc.fit_graph(traces, method="dirichlet", prior=0.5)
    as_pymc = replace(g, provenance=replace(g.provenance, method="pymc", extra={"prior": 0.5}))
    a = mc.graph.compare(g, ref, traces, n_boot=50, seed=3)
    b = mc.graph.compare(as_pymc, ref, traces, n_boot=50, seed=3)
    for key in a.intervals:
        np.testing.assert_array_equal(a.intervals[key], b.intervals[key])
    as_hier = replace(g, provenance=replace(g.provenance, method="hierarchical", extra={}))
    with pytest.warns(UserWarning, match="Dirichlet\\(1\\) refits"):
        mc.graph.compare(as_hier, ref, traces, n_boot=20, seed=3)
