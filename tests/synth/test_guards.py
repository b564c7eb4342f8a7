"""Guards against prompt copying, repetition and empty replies: the checks, and molesyn's retries.

The scripted sampler stands in for the model: what is tested is the logic around it (which reply
is rejected, how often it is asked again, with which seed, and what is counted).
"""

from __future__ import annotations

import pytest

from metacot.behaviours import BEHAVIOURS, Behaviour
from metacot.graphs.graph import reference
from metacot.synth import ScriptedSampler, molesyn
from metacot.synth.conditioning import Conditioning
from metacot.synth.guards import GuardCounts, check_step, copies_prompt, jaccard, ngrams, repeats, words
from metacot.synth.prompts import system_prompt
from metacot.synth.walk import retry_seed
from metacot.traces.core import Problem, read_traces

GRAPH = reference("qwq-32b")
GUARDED = Conditioning("g", max_retries=2)
PROBLEM = Problem("a", "What is 2 + 2? Give the exact integer value of the sum.", "4", "toy")
DEFINITION = Behaviour.REFLECT.definition  # text that sits in every system prompt


def is_first_step(req) -> bool:
    return "Reasoning so far:\n(" in req.messages[1]["content"]


# ------------------------------------------------------------------------------ the checks
def test_words_and_ngrams():
    assert words("Wait -- X^2 = 4!") == ["wait", "x", "2", "4"]
    assert ngrams(["a", "b", "c"], 2) == {("a", "b"), ("b", "c")} and ngrams(["a"], 2) == set()
    assert jaccard(set(), set()) == 0.0 and jaccard({1, 2}, {2, 3}) == pytest.approx(1 / 3)


def test_copy_needs_twelve_shared_words_outside_the_problem():
    instructions = " ".join(f"w{i}" for i in range(30))
    twelve = " ".join(f"w{i}" for i in range(5, 17))
    eleven = " ".join(f"w{i}" for i in range(5, 16))
    assert copies_prompt(f"So {twelve} then.", instructions)
    assert not copies_prompt(f"So {eleven} then.", instructions)
    # the same 12 words quoted from the problem statement are allowed
    assert not copies_prompt(f"So {twelve} then.", instructions, problem=f"Given {twelve}, find y.")
    # case and punctuation do not hide a copy
    assert copies_prompt(twelve.upper().replace(" ", ", "), instructions)


def test_a_copied_definition_is_caught():
    defs = system_prompt("reflect")
    assert len(words(DEFINITION)) >= 12
    assert check_step(f"Let me see. {DEFINITION}", defs, PROBLEM.problem, []) == "copy"
    assert check_step("Adding 2 and 2 gives 4, which I should double check.", defs, PROBLEM.problem, []) is None


def test_repeats_exact_and_near():
    a = " ".join(f"t{i}" for i in range(20))
    # one word changed at the end: 17 of the 18 shingles kept, union 19 -> J = 17/19 > 0.7
    near = a.replace("t19", "zz")
    assert jaccard(ngrams(words(a), 3), ngrams(words(near), 3)) == pytest.approx(17 / 19)
    assert repeats(near, [a]) and repeats(a.upper() + " .", [a])
    # half the words changed: J well below 0.7
    half = " ".join(f"t{i}" if i < 10 else f"u{i}" for i in range(20))
    assert not repeats(half, [a])
    # short steps: exact only
    assert repeats("x = 2", ["X = 2."]) and not repeats("x = 3", ["x = 2"])
    assert check_step(a, "", "", ["other", a]) == "repeat"


def test_empty_is_tested_first():
    assert check_step("  \n ", DEFINITION, "", []) == "empty"
    assert check_step("...", DEFINITION, "", []) == "empty"


def test_guard_counts_add_and_rates():
    c = GuardCounts(copy=1)
    c.add(GuardCounts(copy=2, retries=3))
    c.add({"exhausted": 1})
    assert c.to_dict() == {"empty": 0, "copy": 3, "repeat": 0, "retries": 3, "exhausted": 1}
    assert c.rates(6)["copy"] == 0.5 and all(v != v for v in c.rates(0).values())


# ------------------------------------------------------------------------------ retries in molesyn
def test_copied_definition_is_regenerated_with_a_fresh_seed(tmp_path):
    calls = []

    def reply(req):
        calls.append(req.seed)
        if is_first_step(req):
            return DEFINITION if len(calls) == 1 else "Two plus two, counted on fingers."
        return "So \\boxed{4}."

    s = ScriptedSampler(reply)
    res = molesyn(GRAPH, [PROBLEM], s, tmp_path / "o.jsonl", verify=False, conditioning=GUARDED, progress=False)
    (t,) = read_traces(tmp_path / "o.jsonl")
    assert t.texts() == ["Two plus two, counted on fingers.", "So \\boxed{4}."]
    first = t.steps[0].source_labels
    assert first["guard_events"] == ["copy"] and first["attempts"] == 2 and first["flagged"] is None
    assert calls[1] == retry_seed(calls[0], 1) != calls[0] and first["request_seed"] == calls[1]
    assert t.metadata["guards"] == {"empty": 0, "copy": 1, "repeat": 0, "retries": 1, "exhausted": 0}
    assert res.guards == t.metadata["guards"] and res.guard_rates["copy"] == 0.5
    assert len(s.requests) == 3


def test_retries_are_bounded_and_the_last_attempt_is_kept_and_flagged(tmp_path):
    s = ScriptedSampler(lambda r: f"Note: {DEFINITION}")
    res = molesyn(GRAPH, [PROBLEM], s, tmp_path / "o.jsonl", max_steps=3, verify=False, conditioning=GUARDED,
                  progress=False)
    (t,) = read_traces(tmp_path / "o.jsonl")
    assert len(t) == 3 and len(s.requests) == 3 * (GUARDED.max_retries + 1)
    for step in t.steps:
        assert step.source_labels["flagged"] == "copy" and step.source_labels["attempts"] == 3
        assert step.source_labels["guard_events"] == ["copy"] * 3
    assert res.guards == {"empty": 0, "copy": 9, "repeat": 0, "retries": 6, "exhausted": 3}


def test_repeated_and_empty_steps_are_regenerated(tmp_path):
    s = ScriptedSampler(["Add the two numbers.", "", "add the two numbers", "Two and two make four.", "\\boxed{4}"])
    molesyn(GRAPH, [PROBLEM], s, tmp_path / "o.jsonl", verify=False, conditioning=GUARDED, progress=False)
    (t,) = read_traces(tmp_path / "o.jsonl")
    assert t.texts() == ["Add the two numbers.", "Two and two make four.", "\\boxed{4}"]
    assert t.steps[1].source_labels["guard_events"] == ["empty", "repeat"]
    assert t.metadata["guards"] == {"empty": 1, "copy": 0, "repeat": 1, "retries": 2, "exhausted": 0}


def test_without_retries_events_are_still_counted(tmp_path):
    s = ScriptedSampler(["Add them.", "Add them.", "\\boxed{4}"])
    res = molesyn(GRAPH, [PROBLEM], s, tmp_path / "o.jsonl", verify=False, conditioning="plain", progress=False)
    (t,) = read_traces(tmp_path / "o.jsonl")
    assert t.texts() == ["Add them.", "Add them.", "\\boxed{4}"] and len(s.requests) == 3
    assert t.steps[1].source_labels["flagged"] == "repeat"
    assert res.guards["repeat"] == 1 and res.guards["exhausted"] == 1 and res.guards["retries"] == 0


def test_every_step_records_its_intended_behaviour(tmp_path):
    s = ScriptedSampler(lambda r: f"step {r.seed}")
    molesyn(GRAPH, [PROBLEM], s, tmp_path / "o.jsonl", max_steps=6, verify=False, conditioning=GUARDED,
            progress=False)
    (t,) = read_traces(tmp_path / "o.jsonl")
    for step, req in zip(t.steps, s.requests):
        b = step.behaviour
        assert b in BEHAVIOURS and req.messages[0]["content"] == system_prompt(b)
