"""Helper logic of experiment M9 (the invariance table), on small synthetic traces."""

from __future__ import annotations

import numpy as np
import pytest

from experiments import _invariance as inv
from experiments import m9_invariance as m9
from experiments._transformed import paired_js_difference
from metacot import transforms as tf
from metacot.graphs.fit import fit_graph
from metacot.graphs.graph import compare
from metacot.structure.bond_summary import summarise_bonds
from metacot.structure.tsne import to_trace_units

BEH = ["normal", "deep", "reflect", "explore"]


def _trace(i: int, n: int, problem: str = "p", model: str = "DeepSeek-R1", seed: int = 0):
    rng = np.random.default_rng(seed + i)
    texts = [f"Step {k}. It says {k}! Then more" for k in range(n)]
    labels = [BEH[j] for j in rng.integers(4, size=n)]
    return tf.make_trace(texts, labels, trace_id=f"t{i}", problem=problem, source_model=model)


def test_sentences_and_kept_sentences():
    t = tf.make_trace(["One. Two!", "Three x=1.5 ok"], ["normal", "deep"], trace_id="a", problem="q")
    s = m9.sentences(t)
    assert s.texts() == ["One.", "Two!", "Three x=1.5 ok"] and s.problem == "q" and s.trace_id == "a"
    assert all(st.behaviour is None for st in s.steps)
    assert m9.keep_sentences(s, 2, "first", seed=0).texts() == ["One.", "Two!"]
    r = m9.keep_sentences(s, 2, "random", seed=3).texts()
    assert len(r) == 2 and r == [x for x in s.texts() if x in r]  # a subset in the original order
    assert m9.keep_sentences(s, 9, "random", seed=0).texts() == s.texts()
    with pytest.raises(ValueError):
        m9.keep_sentences(s, 1, "last", seed=0)


def test_other_problem_and_geometry_subset():
    traces = [_trace(0, 5, "p"), _trace(1, 5, "p"), _trace(2, 5, "q")]
    assert [m9.other_problem(traces, i) for i in range(3)] == [2, 2, 0]
    assert m9.other_problem(traces[:2], 0) is None
    pool = [_trace(i, n, model=m) for i, (n, m) in enumerate(
        [(70, "QwQ-32B"), (10, "QwQ-32B"), (65, "QwQ-32B"), (90, "QwQ-32B"), (61, "DeepSeek-R1")])]
    sub = m9.geometry_subset(pool, 2, (60, 130))
    assert sub == sorted(sub) and sub == m9.geometry_subset(pool, 2, (60, 130))
    assert set(sub) == {2, 3, 4}  # QwQ: shortest and longest in the window; R1: its only candidate


def test_graph_differences_are_zero_for_identical_sets_and_floor_is_sane():
    traces = [_trace(i, 30) for i in range(12)]
    d, lo, hi = paired_js_difference(traces, traces, [traces], n_boot=50)
    assert d == 0 and lo == 0 and hi == 0
    shuffled = [tf.shuffle_steps(t, seed=i) for i, t in enumerate(traces)]
    d, lo, hi = paired_js_difference(traces, shuffled, [traces], n_boot=50)
    assert d > 0 and 0 < lo < hi  # a percentile interval need not contain the point
    # Oracle for the point: the same difference through fit_graph and compare().
    g0, g1 = fit_graph(traces), fit_graph(shuffled)
    assert d == pytest.approx(compare(g0, g1).js_mean - compare(g0, g0).js_mean, abs=1e-12)
    # Several control draws: the point averages them.
    d2, _, _ = paired_js_difference(traces, shuffled, [traces, shuffled], n_boot=50)
    assert d2 == pytest.approx(d / 2, abs=1e-12)
    floor = m9.resample_floor(traces, n_boot=100)
    assert 0 < floor["js_mean"] <= floor["js_q95"] <= floor["js_mean_hi"] + 1e-12
    assert floor["pearson_lo"] <= floor["pearson"] <= 1


def test_contrasts_match_m5_summary():
    rng = np.random.default_rng(1)
    coords = [rng.normal(size=(n, 3)) for n in (25, 40)]
    behs = [[BEH[j] for j in rng.integers(4, size=len(Y))] for Y in coords]
    parts = inv.geo_parts([to_trace_units(Y) for Y in coords], behs)
    mine = inv.contrasts(parts, range(2))
    s = summarise_bonds([p["table"] for p in parts], [p["vols"] for p in parts])
    for k in ("locality_deep", "reattach_reflect", "return_reflect", "stride_explore"):
        assert mine[k] == pytest.approx(s[k])
    assert mine["locality_gap"] == pytest.approx(s["locality_deep"] - s["locality_other"])
    assert mine["return_gap"] == pytest.approx(s["return_reflect"] - s["return_other"])
    assert mine["stride_gap"] == pytest.approx(s["stride_explore"] - s["stride_other"])
    assert mine["vol_ratio_reflect"] == pytest.approx(s["vol_ratio_median_reflect"])
    same = inv.geometry_shift(parts, parts, n_boot=20)
    assert all(same[f"d_{k}"] == 0 or np.isnan(same[f"d_{k}"]) for k in inv.GEO_KEYS)


def test_semantic_stats_and_shift():
    E = np.eye(4)[[0, 0, 1, 1]].astype(float)
    p = np.eye(4)[0]
    s = m9.semantic_stats(E, p)
    assert s["relevance"] == pytest.approx(0.5)
    assert s["coherence"] == pytest.approx(2 / 3)
    assert s["excess"] == pytest.approx(2 / 3 - 1 / 3)
    assert s["split_half"] == pytest.approx(1.0)
    row = m9.semantic_shift([s], [s], n_boot=20)
    assert row["content_cos"] == pytest.approx(1.0) and row["d_relevance"] == 0 and row["excess_kept"] == 1
    one = m9.semantic_stats(E[:1], p)
    assert np.isnan(one["coherence"]) and one["relevance"] == 1


def test_jitter_sets_the_cosine_exactly():
    E = np.random.default_rng(0).normal(size=(6, 8))
    E /= np.linalg.norm(E, axis=1, keepdims=True)
    J = m9.jitter(E, 0.995, seed=1)
    assert np.allclose(np.linalg.norm(J, axis=1), 1) and np.allclose(np.einsum("ij,ij->i", J, E), 0.995)
    assert not np.allclose(J, m9.jitter(E, 0.995, seed=2))
