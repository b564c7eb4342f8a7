"""Tests of metacot.graphs.hierarchical: the PyMC fits of one source and of many sources with partial pooling.

Input checks, diagnostics and the missing-dependency path run without sampling. The NUTS tests
(marked slow) use small runs (500 warm-up + 500 draws, 2 chains, 1 core) with fixed seeds; their
tolerances are Monte Carlo errors stated beside each assertion. PyTensor compiles each model to C
once per machine (about half a minute cold), then reuses ``~/.pytensor``.
"""

from __future__ import annotations

import importlib.util
import sys
import warnings

import numpy as np
import pytest

from metacot.behaviours import BEHAVIOURS
from metacot.errors import InvalidArgumentError, MetacotError, MissingDependencyError
from metacot.graphs.fit import fit_dirichlet, tally_transitions
from metacot.graphs.graph import BehaviourGraph
from metacot.graphs.hierarchical import (
    ConvergenceError,
    ConvergenceWarning,
    Diagnostics,
    HierarchicalFit,
    _dirichlet_draws,
    by_source,
    fit_hierarchical,
    fit_pymc,
)
from metacot.traces.core import Step, Trace

# The sampling tests need the `bayes` extra; the rest (input checks, the missing-dependency error)
# must pass without it.
needs_pymc = pytest.mark.skipif(
    importlib.util.find_spec("pymc") is None or importlib.util.find_spec("arviz") is None,
    reason="PyMC and ArviZ are not installed (pip install metacot[bayes])",
)

SMALL = {"draws": 500, "tune": 500, "chains": 2, "cores": 1}

# Three well-separated teachers (rows sum to 1), used as the truth in recovery tests.
P_TRUE = np.array(
    [
        [[0.70, 0.15, 0.05, 0.10], [0.50, 0.25, 0.10, 0.15], [0.35, 0.10, 0.20, 0.35], [0.30, 0.10, 0.10, 0.50]],
        [[0.75, 0.10, 0.05, 0.10], [0.45, 0.25, 0.05, 0.25], [0.35, 0.10, 0.15, 0.40], [0.30, 0.20, 0.05, 0.45]],
        [[0.80, 0.05, 0.10, 0.05], [0.45, 0.20, 0.15, 0.20], [0.25, 0.05, 0.45, 0.25], [0.30, 0.05, 0.15, 0.50]],
    ]
)


def make_trace(labels, trace_id="t", model="teacher") -> Trace:
    text = "".join(f"{i % 10}." for i in range(len(labels)))
    steps = tuple(Step(text[2 * i : 2 * i + 2], 2 * i, 2 * i + 2, behaviour=b) for i, b in enumerate(labels))
    return Trace(trace_id, "problem", steps, text, source_model=model, metadata={"labeller": "unit"})


def sample_counts(P: np.ndarray, per_row: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.multinomial(per_row, row) for row in P])


# ------------------------------------------------------------------------------- no sampling
def test_missing_pymc_names_the_extra(monkeypatch):
    # A None entry in sys.modules makes `import pymc` raise ImportError, as if it were absent.
    monkeypatch.setitem(sys.modules, "pymc", None)
    with pytest.raises(MissingDependencyError, match=r"metacot\[bayes\]") as err:
        fit_pymc([[1, 2], [3, 4]], states=["normal", "deep"])
    assert isinstance(err.value, ImportError) and isinstance(err.value, MetacotError)
    with pytest.raises(MissingDependencyError, match=r"pip install metacot\[bayes\]"):
        fit_hierarchical({"a": [[1, 2], [3, 4]], "b": [[2, 2], [1, 1]]}, states=["normal", "deep"])


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ([], "empty"),
        (np.zeros((4, 4)), "every count is zero"),
        (np.ones((4, 3)), "square"),
        (np.ones((3, 3)), "3x3 but there are 4 states"),
        (np.ones(4), "square"),
        ([[1, 2, 0, 0], [0, -1, 0, 0], [0] * 4, [0] * 4], r"counts\[1, 1\] \(deep->deep\) = -1.0"),
        ([[1, np.nan, 0, 0], [0] * 4, [0] * 4, [0] * 4], r"counts\[0, 1\]"),
        ([[1.5, 2, 0, 0], [0] * 4, [0] * 4, [0] * 4], "whole number"),
        ("abc", "count matrix"),
        ([make_trace(["normal", "deep"]), [1, 2]], "mix of Trace"),
    ],
)
def test_bad_counts_are_refused_with_where(data, match):
    with pytest.raises(InvalidArgumentError, match=match):
        fit_pymc(data)


def test_bad_hierarchical_inputs_name_the_source():
    good = np.ones((4, 4))
    with pytest.raises(InvalidArgumentError, match=r"source 'b': counts\[0, 0\] \(normal->normal\) = -1.0 is not a finite non-negative"):
        fit_hierarchical({"a": good, "b": -good})
    with pytest.raises(InvalidArgumentError, match="source 'b': counts are 3x3"):
        fit_hierarchical({"a": good, "b": np.ones((3, 3))})
    with pytest.raises(InvalidArgumentError, match="source 'b': every count is zero"):
        fit_hierarchical({"a": good, "b": np.zeros((4, 4))})
    with pytest.raises(InvalidArgumentError, match="at least two sources"):
        fit_hierarchical({"a": good})
    with pytest.raises(InvalidArgumentError, match="mapping"):
        fit_hierarchical([good, good])
    with pytest.raises(InvalidArgumentError, match="source names"):
        fit_hierarchical({"a": good, 3: good})
    with pytest.raises(InvalidArgumentError, match="kappa_prior"):
        fit_hierarchical({"a": good, "b": good}, kappa_prior=(0.0, -1.0))
    with pytest.raises(InvalidArgumentError, match="population_prior"):
        fit_hierarchical({"a": good, "b": good}, population_prior=0.0)


def test_tally_with_other_states_is_refused():
    t = tally_transitions([make_trace(["normal", "deep"])], states=["normal", "deep"])
    with pytest.raises(InvalidArgumentError, match="states"):
        fit_pymc(t)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"prior": 0.0}, r"prior\[0, 0\] = 0.0 must be finite and > 0"),
        ({"prior": np.ones((3, 3))}, "shape"),
        ({"chains": 1}, "chains"),
        ({"draws": 0}, "draws"),
        ({"tune": -1}, "tune"),
        ({"target_accept": 1.0}, "target_accept"),
        ({"check": "maybe"}, "check"),
        ({"seed": "x"}, "seed"),
        ({"states": ["normal"]}, "two states"),
    ],
)
def test_bad_options_are_refused(kw, match):
    with pytest.raises(InvalidArgumentError, match=match):
        fit_pymc(np.ones((4, 4)), **kw)


def test_diagnostics_checks():
    good = Diagnostics(1.003, 900.0, 800.0, 0, 2, 500)
    assert good.ok() and good.problems() == [] and good.check("raise") is good
    bad = Diagnostics(1.04, 150.0, 120.0, 2, 2, 500, "kappa[deep]", "m[deep, explore]")
    found = bad.problems()
    assert len(found) == 4 and "kappa[deep]" in found[0] and "m[deep, explore]" in found[1]
    # The ESS threshold is 100 per chain by default and can be set.
    assert bad.problems(r_hat_max=1.05, ess_min=100, max_divergences=2) == []
    with pytest.raises(ConvergenceError, match="r_hat"):
        bad.check("raise")
    with pytest.warns(ConvergenceWarning, match="divergent"):
        bad.check("warn")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bad.check("ignore")
    assert not Diagnostics(float("nan"), 900.0, 900.0, 0, 2, 500).ok()  # nan never passes
    assert Diagnostics(1.0, 1.0, 1.0, 0, 2, 1).to_dict()["n_chains"] == 2


def test_dirichlet_draws_survive_tiny_concentrations():
    rng = np.random.default_rng(0)
    tiny = _dirichlet_draws(rng, np.full((20_000, 4), 1e-4))
    assert np.all(np.isfinite(tiny)) and np.allclose(tiny.sum(axis=1), 1.0)
    alpha = np.array([2.0, 1.0, 0.5, 0.5])
    x = _dirichlet_draws(rng, np.broadcast_to(alpha, (200_000, 4)).copy())
    mean = alpha / alpha.sum()
    se = np.sqrt(mean * (1 - mean) / (alpha.sum() + 1) / x.shape[0])
    assert np.all(np.abs(x.mean(axis=0) - mean) < 5 * se)  # 5 standard errors, seed 0


def test_by_source_groups_and_refuses_anonymous_traces():
    ts = [make_trace(["normal"], f"t{i}", m) for i, m in enumerate(["A", "B", "A"])]
    assert {k: [t.trace_id for t in v] for k, v in by_source(ts).items()} == {"A": ["t0", "t2"], "B": ["t1"]}
    with pytest.raises(InvalidArgumentError, match="no source_model"):
        by_source([make_trace(["normal"], "x", "")])


# ------------------------------------------------------------------------------- one source
@pytest.mark.slow
@needs_pymc
def test_single_source_pymc_agrees_with_the_closed_form():
    counts = np.array([[40, 12, 3, 5], [10, 25, 4, 1], [0, 0, 0, 0], [6, 2, 1, 9]])
    fit = fit_pymc(counts, prior=1.0, seed=0, check="ignore", **SMALL)
    exact = fit_dirichlet(counts, 1.0)
    # Tolerance: 5 Monte Carlo standard errors of each posterior mean (ArviZ's mcse, about
    # sd / sqrt(ESS)); with 16 entries a |z| > 5 has chance ~1e-5, and the seed is fixed.
    z = np.abs(fit.mean - exact.mean) / fit.mcse
    assert z.max() < 5, z
    # The posterior sd is a second moment; 15% relative agreement is well inside its MC error here.
    np.testing.assert_allclose(fit.sd, np.sqrt(exact.variance), rtol=0.15)
    np.testing.assert_allclose(fit.closed_form.mean, exact.mean)
    d = fit.diagnostics
    assert d.r_hat_max < 1.02 and d.ess_bulk_min > 200 and d.ess_tail_min > 200 and d.n_divergences == 0
    assert fit.idata.posterior["p"].shape == (2, 500, 4, 4)
    g = fit.graph
    assert isinstance(g, BehaviourGraph) and g.provenance.method == "pymc"
    np.testing.assert_array_equal(g.counts, counts)
    assert g.provenance.extra["diagnostics"]["n_divergences"] == 0 and g.provenance.extra["seed"] == 0


@pytest.mark.slow
@needs_pymc
def test_single_source_fit_from_traces_is_reproducible():
    traces = [make_trace(["normal", "deep", "normal", "reflect", "explore", "normal"], f"t{i}", "R1")
              for i in range(5)]
    a = fit_pymc(traces, draws=100, tune=100, seed=3, check="ignore")
    b = fit_pymc(traces, draws=100, tune=100, seed=3, check="ignore")
    np.testing.assert_array_equal(a.idata.posterior["p"].values, b.idata.posterior["p"].values)
    np.testing.assert_array_equal(a.counts, tally_transitions(traces).counts)
    assert a.graph.provenance.sources == ("R1",) and a.graph.provenance.labeller == "unit"
    np.testing.assert_allclose(a.graph.marginal, tally_transitions(traces).marginal)


# ------------------------------------------------------------------------------- many sources
@pytest.mark.slow
@needs_pymc
def test_hierarchical_recovers_known_source_matrices():
    counts = {name: sample_counts(P, 3000, seed) for name, P, seed in zip("abc", P_TRUE, (1, 2, 3))}
    counts["c"][3] = 0  # source c never leaves "explore": its row must come from the population
    fit = fit_hierarchical(counts, seed=1, check="ignore", **SMALL)
    assert isinstance(fit, HierarchicalFit) and fit.sources == ("a", "b", "c")
    # Each entry within 4 posterior sd of the truth (48 entries; a |z| > 4 has chance 6e-5 each).
    # The posterior sd (a few 1e-3 with 3000 counts a row) also covers the small shrinkage towards
    # the population row, whose weight is kappa / (3000 + kappa) ~ 3%.
    for si, s in enumerate(fit.sources):
        rows = [0, 1, 2] if s == "c" else [0, 1, 2, 3]
        z = np.abs(fit.p_mean[si, rows] - P_TRUE[si, rows]) / fit.p_sd[si, rows]
        assert z.max() < 4, (s, z)
        np.testing.assert_allclose(fit.graphs[s].P, fit.p_mean[si])
    # No counts out of "explore" in c: its posterior mean is E[m] exactly (N = 0 leaves kappa*m/kappa).
    np.testing.assert_allclose(fit.graphs["c"].P[3], fit.population.P[3], atol=1e-12)
    d = fit.diagnostics
    assert d.r_hat_max < 1.05 and d.ess_bulk_min > 100 and d.ess_tail_min > 100 and d.n_divergences == 0
    table = fit.concentration
    assert list(table.index) == [b.value for b in BEHAVIOURS]
    assert (table["q05"] <= table["median"]).all() and (table["median"] <= table["q95"]).all()
    g = fit.graphs["a"]
    assert g.provenance.method == "hierarchical" and g.provenance.sources == ("a",)
    assert g.provenance.extra["pooled_with"] == ["a", "b", "c"] and g.provenance.created
    np.testing.assert_array_equal(g.counts, counts["a"])
    np.testing.assert_array_equal(fit.population.counts, sum(counts.values()))
    assert fit.idata.posterior["p"].shape == (2, 500, 3, 4, 4)
    assert not fit.p_mean.flags.writeable
    with pytest.raises(TypeError):
        fit.graphs["d"] = g  # the mapping is read-only


@pytest.mark.slow
@needs_pymc
def test_pooling_strength_separates_identical_from_incompatible_sources():
    base = sample_counts(P_TRUE[0], 1000, seed=5)
    # Incompatible: the second source's rows are the first's with columns shifted by two, which
    # moves the largest entry of every row (differences of 0.2-0.65 per row).
    far = sample_counts(np.roll(P_TRUE[0], 2, axis=1), 1000, seed=6)
    same = fit_hierarchical({"a": base, "b": base}, seed=2, check="ignore", **SMALL)
    diff = fit_hierarchical({"a": base, "b": far}, seed=2, check="ignore", **SMALL)
    k_same = same.concentration["median"].to_numpy()
    k_diff = diff.concentration["median"].to_numpy()
    # Margin: a factor 10 in every row. Identical counts push kappa above the prior median (100);
    # rows that disagree by tens of points pull it below.
    assert np.all(k_same > 10 * k_diff), (k_same, k_diff)
    assert np.all(k_same > 100) and np.all(k_diff < 100), (k_same, k_diff)
    for fit in (same, diff):
        assert fit.diagnostics.n_divergences == 0 and fit.diagnostics.r_hat_max < 1.05


@pytest.mark.slow
@needs_pymc
def test_hierarchical_from_traces_keeps_marginals_and_labeller():
    traces = (
        [make_trace(["normal", "deep", "deep", "normal", "reflect"], f"a{i}", "A") for i in range(6)]
        + [make_trace(["normal", "explore", "normal", "explore", "reflect"], f"b{i}", "B") for i in range(6)]
    )
    fit = fit_hierarchical(by_source(traces), seed=0, draws=200, tune=200, check="ignore")
    for s, ts in by_source(traces).items():
        t = tally_transitions(ts)
        np.testing.assert_array_equal(fit.graphs[s].counts, t.counts)
        np.testing.assert_allclose(fit.graphs[s].marginal, t.marginal)
        assert fit.graphs[s].provenance.labeller == "unit"
        assert fit.graphs[s].provenance.extra["n_traces"] == 6
    np.testing.assert_allclose(fit.population.marginal, tally_transitions(traces).marginal)
    assert fit.population.provenance.sources == ("A", "B")


def test_nan_diagnostics_fail_the_check():
    # ArviZ reports nan r_hat / ESS for a stuck chain; that must fail the check, not be skipped.
    xr = pytest.importorskip("xarray")
    from metacot.graphs.nuts import _extreme

    ds = xr.Dataset({"a": ("x", [1.001, np.nan]), "b": ("x", [1.0, 1.0])})
    val, where = _extreme(ds, largest=True)
    assert np.isnan(val) and where.startswith("a[")
    assert _extreme(xr.Dataset({"b": ("x", [1.0, 1.2])}), largest=True)[0] == 1.2
