"""Tests of metacot.graphs.labellers: the ReasoningFlow rule table, the keyword baseline, agreement and confusion."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from metacot.behaviours import BEHAVIOURS, Behaviour
from metacot.errors import InvalidArgumentError
from metacot.graphs.labellers import (
    DEFAULT_MAPPING,
    KeywordLabeller,
    Labeller,
    LabelMapping,
    ReasoningFlowLabeller,
    Rule,
    agreement,
    confusion,
    label_traces,
)
from metacot.traces.core import DATA_DIR, Step, Trace, load_reasoningflow

N, D, R, E = Behaviour.NORMAL, Behaviour.DEEP, Behaviour.REFLECT, Behaviour.EXPLORE


def rf_step(node_label, *edges, text="x", start=0, node_id="n"):
    """A one-character ReasoningFlow-like step; ``edges`` are (source, label) pairs."""
    sl = {
        "node_id": node_id,
        "node_label": node_label,
        "in_edges": [{"source": src, "label": lab} for src, lab in edges],
    }
    return Step(text, start, start + len(text), None, sl)


def trace_of(steps, trace_id="t"):
    return Trace(trace_id, "q", tuple(steps), "".join(s.text for s in steps))


def labelled(labels, trace_id="t"):
    steps = [Step("x", i, i + 1, b) for i, b in enumerate(labels)]
    return trace_of(steps, trace_id)


# --- ReasoningFlowLabeller: every rule fires as documented ----------------------------------

RULE_CASES = [
    # (node_label, edges, rule that decides, behaviour)
    ("reflection", [("a", "reflect:negative")], "reflect-edge", R),
    ("reflection", [("a", "reflect:positive")], "reflect-edge", R),
    ("reflection", [("a", "reflect:uncertain")], "reflect-edge", R),
    ("planning", [("a", "plan:verify")], "verify-plan", R),
    ("planning", [("a", "plan:backtrack")], "backtrack", E),
    ("conclusion", [("a", "validate:support")], "validate-edge", R),
    ("reasoning", [("a", "validate:attack")], "validate-edge", R),
    ("reflection", [("a", "reason:infer")], "reflection-node", R),
    ("reflection", [], "reflection-filler", N),
    ("assumption", [("a", "plan:proceed")], "assumption", E),
    ("assumption", [], "assumption", E),
    ("reasoning", [("a", "reason:infer"), ("b", "reason:infer")], "multi-premise-inference", D),
    ("conclusion", [("a", "reason:infer"), ("b", "reason:infer")], "multi-premise-inference", D),
    (
        "fact",
        [("a", "reason:infer"), ("b", "reason:infer"), ("c", "reason:infer")],
        "multi-premise-inference",
        D,
    ),
    ("reasoning", [("a", "reason:infer")], "routine", N),  # one premise: simple step-by-step logic
    ("reasoning", [("a", "reason:execute"), ("b", "reason:execute")], "routine", N),
    ("reasoning", [("a", "reason:infer"), ("a", "reason:infer")], "routine", N),  # same source twice
    ("planning", [("a", "plan:proceed")], "routine", N),
    ("planning", [("a", "plan:decompose")], "routine", N),
    ("restatement", [("a", "reason:restate")], "routine", N),
    ("context", [], "routine", N),
    ("fact", [("a", "reason:elaborate-fact")], "routine", N),
    ("example", [("a", "reason:exemplify")], "routine", N),
    (None, [], "fallback", N),
    (None, [("a", "reason:infer"), ("b", "reason:infer")], "fallback", N),
]


@pytest.mark.parametrize(("node_label", "edges", "rule", "behaviour"), RULE_CASES)
def test_rule_table(node_label, edges, rule, behaviour):
    lab = ReasoningFlowLabeller()
    step = rf_step(node_label, *edges)
    assert lab.rule_for(step) == rule
    assert lab.label(trace_of([step])).steps[0].behaviour is behaviour


def test_every_rule_is_exercised():
    assert {c[2] for c in RULE_CASES} == {r.name for r in DEFAULT_MAPPING.rules} | {"fallback"}


@pytest.mark.parametrize(
    ("node_label", "edges", "rule"),
    [
        # intent edges beat the consistency relation and node types
        ("reasoning", [("a", "plan:backtrack"), ("b", "validate:attack")], "backtrack"),
        ("planning", [("a", "plan:verify"), ("b", "plan:backtrack")], "verify-plan"),
        ("assumption", [("a", "reflect:uncertain")], "reflect-edge"),
        # validation beats deep inference: checking against earlier nodes is the bond that counts
        (
            "reasoning",
            [("a", "reason:infer"), ("b", "reason:infer"), ("c", "validate:support")],
            "validate-edge",
        ),
        # an unlabelled node still follows edge rules
        (None, [("a", "plan:backtrack")], "backtrack"),
    ],
)
def test_precedence(node_label, edges, rule):
    assert ReasoningFlowLabeller().rule_for(rf_step(node_label, *edges)) == rule


def test_mapping_is_replaceable_and_order_is_precedence():
    deep_first = LabelMapping(
        rules=(Rule("any-infer", "deep", edge_labels={"reason:infer"}), *DEFAULT_MAPPING.rules),
        fallback="explore",
    )
    lab = ReasoningFlowLabeller(deep_first, name="custom")
    t = trace_of(
        [rf_step("reasoning", ("a", "reason:infer"), ("b", "validate:attack")), rf_step(None, start=1)]
    )
    out = lab.label(t)
    assert out.behaviours() == [D, E]
    assert out.metadata["labeller"] == "custom"


def test_label_returns_new_trace_and_keeps_everything_else():
    t = trace_of([rf_step("reflection", ("a", "reflect:negative")), rf_step("context", start=1)])
    out = ReasoningFlowLabeller().label(t)
    assert t.behaviours() == [None, None]
    assert out.behaviours() == [R, N]
    assert [s.source_labels for s in out.steps] == [s.source_labels for s in t.steps]
    assert out.response == t.response and out.trace_id == t.trace_id
    assert out.metadata["labeller"] == "reasoningflow"


def test_rule_and_mapping_validation():
    with pytest.raises(InvalidArgumentError, match="node labels"):
        Rule("x", "deep", node_labels={"reasonning"})
    with pytest.raises(InvalidArgumentError, match="edge labels"):
        Rule("x", "deep", edge_labels={"reason:infers"})
    with pytest.raises(InvalidArgumentError, match="behaviour"):
        Rule("x", "bond")
    with pytest.raises(InvalidArgumentError, match="min_sources"):
        Rule("x", "deep", edge_labels={"reason:infer"}, min_sources=0)
    with pytest.raises(InvalidArgumentError, match="duplicate"):
        LabelMapping((Rule("x", "deep"), Rule("x", "normal")))
    with pytest.raises(InvalidArgumentError):
        ReasoningFlowLabeller(mapping={"reasoning": "deep"})


def test_reasoningflow_labeller_refuses_unannotated_steps():
    t = trace_of([Step("Wait.", 0, 5)])
    with pytest.raises(InvalidArgumentError, match="KeywordLabeller"):
        ReasoningFlowLabeller().label(t)


def test_protocol():
    assert isinstance(ReasoningFlowLabeller(), Labeller)
    assert isinstance(KeywordLabeller(), Labeller)


# --- KeywordLabeller --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "behaviour"),
    [
        ("Wait, that can't be.", R),
        ("WAIT.", R),
        ("Let me check the sum again.", R),
        ("let me double-check this.", R),
        ("We can verify by substitution.", R),
        ("Hmm, I'm not sure.", R),
        ("I made a mistake above.", R),
        ("Alternatively, use generating functions.", E),
        ("Another approach: induction.", E),
        ("What if n is even?", E),
        ("Suppose x > 0.", E),
        ("Let's try small cases.", E),
        ("Therefore the answer is 5.", D),
        ("HENCE p divides q.", D),
        ("a = b + c = 2d = 8", D),
        ("x \\implies y", D),
        ("So 2 + 3 = 5.", N),
        ("The problem asks for the area.", N),
        ("", N),
    ],
)
def test_keyword_rules(text, behaviour):
    assert KeywordLabeller().classify(text) is behaviour


def test_keyword_precedence_and_tags():
    kl = KeywordLabeller()
    assert kl.classify("Wait, alternatively we could use mod 3.") is E  # explore beats reflect
    assert kl.classify("Wait, therefore x = 1.") is R  # reflect beats deep
    assert kl.classify("Thus, what if x = 0?") is E  # explore beats deep
    assert kl.classify("</think>\n\nSo x = 3.") is N  # tag brackets are not inequality signs


def test_keyword_custom_patterns_and_validation():
    kl = KeywordLabeller(patterns=[("deep", r"\bqed\b")], fallback="explore", name="tiny")
    out = kl.label(trace_of([Step("QED", 0, 3), Step(" wait", 3, 8)]))
    assert out.behaviours() == [D, E]
    assert out.metadata["labeller"] == "tiny"
    with pytest.raises(InvalidArgumentError):
        KeywordLabeller(patterns=[("deep", "(")])
    with pytest.raises(InvalidArgumentError):
        KeywordLabeller(patterns=[("bond", "x")])


# --- agreement and confusion ----------------------------------------------------------------


def test_kappa_hand_computed():
    # a = N N D R E E, b = N D D R R E
    # p_o = 4/6; marginals a: N 2, D 1, R 1, E 2; b: N 1, D 2, R 2, E 1
    # p_e = (2*1 + 1*2 + 1*2 + 2*1) / 36 = 8/36; kappa = (4/6 - 8/36) / (1 - 8/36) = 16/28 = 4/7
    a = [labelled(["normal", "normal", "deep", "reflect", "explore", "explore"])]
    b = [labelled(["normal", "deep", "deep", "reflect", "reflect", "explore"])]
    r = agreement(a, b)
    assert r["n"] == 6
    assert r["agreement"] == pytest.approx(4 / 6)
    assert r["expected"] == pytest.approx(8 / 36)
    assert r["kappa"] == pytest.approx(4 / 7)
    assert agreement(b, a)["kappa"] == pytest.approx(4 / 7)  # kappa is symmetric


def test_agreement_edge_cases():
    t = labelled(["normal", "deep", "reflect", "explore"])
    assert agreement([t], [t])["kappa"] == pytest.approx(1.0)
    const = labelled(["normal"] * 3)
    r = agreement([const], [const])
    assert r["agreement"] == 1.0 and math.isnan(r["kappa"])
    assert math.isnan(agreement([], [])["kappa"])
    with pytest.raises(InvalidArgumentError, match="unlabelled"):
        agreement([trace_of([Step("x", 0, 1)])], [labelled(["normal"])])
    with pytest.raises(InvalidArgumentError):
        agreement([t], [labelled(["normal"] * 4, trace_id="other")])
    with pytest.raises(InvalidArgumentError):
        agreement([t], [t, t])


def test_confusion_rows_are_first_labelling():
    a = [labelled(["deep", "deep", "normal"])]
    b = [labelled(["normal", "deep", "normal"])]
    m = confusion(a, b, names=("rf", "kw"))
    assert m.shape == (4, 4)
    assert list(m.index) == list(m.columns) == [x.value for x in BEHAVIOURS]
    assert (m.index.name, m.columns.name) == ("rf", "kw")
    assert m.loc["deep", "normal"] == 1 and m.loc["normal", "deep"] == 0
    assert int(m.to_numpy().sum()) == 3


# --- real data ------------------------------------------------------------------------------


def test_real_annotated_traces_both_labellers():
    traces = load_reasoningflow(DATA_DIR / "reasoningflow" / "annotated")
    rf = label_traces(traces, ReasoningFlowLabeller())
    kw = label_traces(traces, KeywordLabeller())
    n_steps = sum(len(t) for t in traces)
    for out in (rf, kw):
        assert [t.trace_id for t in out] == [t.trace_id for t in traces]
        assert all(s.behaviour in BEHAVIOURS for t in out for s in t.steps)
    r = agreement(rf, kw)
    m = confusion(rf, kw, names=("reasoningflow", "keyword"))
    # The measured agreement is reported (run with -s, or read it in a failure message); no
    # threshold is asserted because neither labeller is a gold standard.
    report = f"reasoningflow vs keyword on {n_steps} steps: {r}\n{m}"
    print(report)
    assert r["n"] == n_steps, report
    assert 0.0 <= r["agreement"] <= 1.0 and -1.0 <= r["kappa"] <= 1.0, report
    assert m.shape == (4, 4) and int(m.to_numpy().sum()) == n_steps, report
    assert m.to_numpy().trace() == round(r["agreement"] * n_steps)
    # Row sums of the confusion matrix are the first labeller's label counts.
    rf_counts = Counter(s.behaviour.value for t in rf for s in t.steps)
    assert {b: int(v) for b, v in m.sum(axis=1).items()} == {b.value: rf_counts[b.value] for b in BEHAVIOURS}


# ---------------------------------------------------------------------------------- LLM judge
class _Recorder:
    """A protocol-conforming stand-in for unit tests of the judge's logic only (no model)."""

    def __init__(self, replies):
        self.replies = list(replies)
        self.requests = []

    def complete_batch(self, requests):
        self.requests.extend(requests)
        return [self.replies.pop(0) for _ in requests]

    def describe(self):
        return {"kind": "recorder", "model": "rec"}


def _steps_trace(texts):
    response, steps, pos = "", [], 0
    for t in texts:
        steps.append(Step(t, pos, pos + len(t)))
        response += t
        pos += len(t)
    return Trace("tj", "Find x.", tuple(steps), response)


def test_judge_parses_the_first_behaviour_word():
    from metacot.graphs.labellers import LLMJudgeLabeller

    parse = LLMJudgeLabeller.parse
    assert parse("explore") is Behaviour.EXPLORE and parse("Self-Exploration.") is Behaviour.EXPLORE
    assert parse("Deep reasoning, not reflection") is Behaviour.DEEP
    assert parse(" reflection") is Behaviour.REFLECT and parse("NORMAL") is Behaviour.NORMAL
    assert parse("routine step") is Behaviour.NORMAL and parse("a deduction") is Behaviour.DEEP
    assert parse("") is None and parse("deeply unsure") is None


def test_judge_prompt_holds_rubric_context_and_step():
    from metacot.graphs.labellers import JUDGE_RUBRIC, LLMJudgeLabeller

    rec = _Recorder(["deep", "reflect", "explore", "normal"])
    judge = LLMJudgeLabeller(rec, context_steps=1, seed=5)
    out = judge.label(_steps_trace(["A1. ", "B2. ", "C3. ", "D4."]))
    assert [s.behaviour for s in out.steps] == [Behaviour.DEEP, Behaviour.REFLECT, Behaviour.EXPLORE, Behaviour.NORMAL]
    assert out.metadata["labeller"] == "llm-judge:rec" and out.metadata["judge_unparsed"] == []
    third = rec.requests[2]
    assert third.messages[0]["content"] == JUDGE_RUBRIC and third.seed == 5 and third.temperature == 0.0
    assert [m["role"] for m in third.messages[1:-1]] == ["user", "assistant"] * 4  # one example per behaviour
    assert {m["content"] for m in third.messages[2:-1:2]} == {b.value for b in BEHAVIOURS}
    user = third.messages[-1]["content"]
    assert "Find x." in user and "C3." in user and "B2." in user and "A1." not in user  # one step of context


def test_judge_records_unparsed_replies_or_raises():
    from metacot.graphs.labellers import LLMJudgeLabeller

    out = LLMJudgeLabeller(_Recorder(["??", "deep"]), fallback="explore").label(_steps_trace(["a", "b"]))
    assert [s.behaviour for s in out.steps] == [Behaviour.EXPLORE, Behaviour.DEEP]
    assert out.metadata["judge_unparsed"] == [0]
    with pytest.raises(InvalidArgumentError, match=r"step 0.*names no behaviour"):
        LLMJudgeLabeller(_Recorder(["??", "deep"]), on_unparsed="raise").label(_steps_trace(["a", "b"]))


def test_judge_refuses_bad_samplers_and_short_replies():
    from metacot.graphs.labellers import LLMJudgeLabeller

    with pytest.raises(InvalidArgumentError, match="complete_batch"):
        LLMJudgeLabeller(object())

    class Short(_Recorder):
        def complete_batch(self, requests):
            return ["deep"]

    with pytest.raises(InvalidArgumentError, match="1 replies for 2 steps"):
        LLMJudgeLabeller(Short([])).label(_steps_trace(["a", "b"]))


def test_agreement_with_unlabelled_steps_refuses_or_skips_and_counts():
    from metacot.graphs.agreement import agreement, confusion
    from metacot.traces.edits import make_trace

    a = make_trace(["x", "y", "z"], ["normal", None, "deep"], trace_id="t")
    b = make_trace(["x", "y", "z"], ["normal", "deep", "reflect"], trace_id="t")
    with pytest.raises(InvalidArgumentError, match="skip_unlabelled=True"):
        agreement([a], [b])
    r = agreement([a], [b], skip_unlabelled=True)
    # Two steps compared (one agrees), one skipped; marginals a = (1/2 normal, 1/2 deep),
    # b = (1/2 normal, 1/2 reflect): p_e = 1/4, kappa = (1/2 - 1/4) / (3/4) = 1/3.
    assert (r["n"], r["n_skipped"], r["agreement"]) == (2, 1, 0.5)
    assert r["kappa"] == pytest.approx(1 / 3)
    assert int(confusion([a], [b], skip_unlabelled=True).to_numpy().sum()) == 2
