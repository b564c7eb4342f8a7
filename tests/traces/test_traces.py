"""Tests of metacot.traces.core on the real data copied into the project's ``data/`` folder."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

from metacot.behaviours import BEHAVIOURS, Behaviour
from metacot.errors import InvalidArgumentError, MetacotError, TraceFormatError
from metacot.traces.core import (
    DATA_DIR,
    EDGE_LABELS,
    IMPLICIT_THINK_OPEN,
    Step,
    Trace,
    load_problems,
    load_raw,
    load_reasoningflow,
    read_traces,
    segment,
    split_thinking,
    write_traces,
)

RF = DATA_DIR / "reasoningflow"
MODELS = {"DeepSeek-R1", "DeepSeek-V3", "QwQ-32B", "Qwen2.5-32B-Instruct", "gpt-oss-120b"}


@pytest.fixture(scope="module")
def annotated() -> list[Trace]:
    return load_reasoningflow(RF / "annotated")


@pytest.fixture(scope="module")
def raw() -> list[Trace]:
    return load_raw(RF / "raw")


def test_data_is_inside_the_project():
    # The package must not depend on ../shared; the copy sits beside the package.
    assert DATA_DIR.resolve().parent == Path(__file__).resolve().parents[2]
    assert (DATA_DIR / "README.md").is_file()
    assert "shared" not in DATA_DIR.resolve().parts


# ---------------------------------------------------------------- ReasoningFlow annotated


def test_annotated_counts(annotated):
    assert len(list((RF / "annotated").glob("*.json"))) == 231
    assert len(annotated) == 231
    per = Counter((t.source_model, t.metadata["domain"]) for t in annotated)
    assert set(m for m, _ in per) == MODELS
    assert {d for _, d in per} == {"aime2024", "argkp"}
    assert per[("DeepSeek-R1", "aime2024")] == 19
    assert per[("Qwen2.5-32B-Instruct", "argkp")] == 24
    assert sum(len(t) for t in annotated) == 33794
    assert len({t.trace_id for t in annotated}) == 231


def test_annotated_spans_reproduce_node_text(annotated):
    for t in annotated:
        prev = 0
        for s in t.steps:
            assert t.response[s.start : s.end] == s.text
            assert s.start >= prev
            prev = s.end
            assert s.behaviour is None  # mapping to behaviours belongs to a labeller


def test_annotated_source_labels(annotated):
    t = next(t for t in annotated if t.trace_id == "aime2024_16_DeepSeek-R1")
    raw_doc = json.loads((RF / "annotated" / "aime2024_16_DeepSeek-R1.json").read_text())
    node = next(n for n in raw_doc["nodes"] if n["source"] == "response")
    step = t.steps[0]
    assert step.source_labels["node_id"] == node["id"]
    assert step.source_labels["node_label"] == node["label"]
    expected = [
        {"source": e["source_node_id"], "label": e["label"]}
        for e in raw_doc["edges"]
        if e["dest_node_id"] == node["id"]
    ]
    assert step.source_labels["in_edges"] == expected
    assert t.gold_answer == "721"
    assert t.metadata["n_question_nodes"] == sum(n["source"] == "question" for n in raw_doc["nodes"])


def test_off_schema_edge_labels_are_normalised_or_dropped_and_recorded(annotated):
    changes = Counter((c["label"], c["to"]) for t in annotated for c in t.metadata["edge_label_changes"])
    assert sum(changes.values()) == 46
    assert changes[("reasoning:infer", "reason:infer")] == 27
    assert changes[("reasoning:execute", "reason:execute")] == 11
    dropped = sum(n for (_, to), n in changes.items() if to is None)
    assert dropped == 6
    for t in annotated:
        for s in t.steps:
            for e in s.source_labels["in_edges"]:
                assert e["label"] in EDGE_LABELS
    # edges kept = all edges minus the dropped ones, so nothing disappears without a record
    n_edges = sum(len(s.source_labels["in_edges"]) for t in annotated for s in t.steps)
    assert n_edges == 56033 - dropped


def test_custom_edge_label_fixes_drop_everything_off_schema():
    f = RF / "annotated" / "aime2024_3_DeepSeek-R1.json"
    [t] = load_reasoningflow(f, edge_label_fixes={})
    assert all(c["to"] is None for c in t.metadata["edge_label_changes"])
    assert {c["label"] for c in t.metadata["edge_label_changes"]} >= {"context", "reasoning"}


def test_annotated_unlabelled_node_is_counted(annotated):
    t = next(t for t in annotated if t.trace_id == "aime2024_15_QwQ-32B")
    assert t.metadata["unlabelled_nodes"] == 1
    assert sum(s.source_labels["node_label"] is None for s in t.steps) == 1


def test_annotated_bad_span_names_file(tmp_path):
    doc = json.loads((RF / "annotated" / "argkp_0_DeepSeek-R1.json").read_text())
    node = next(n for n in doc["nodes"] if n["source"] == "response")
    node["end"] += 3
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(TraceFormatError, match=r"bad\.json.*does not reproduce") as ei:
        load_reasoningflow(bad)
    assert ei.value.path.endswith("bad.json")


# ---------------------------------------------------------------- raw responses


def test_raw_counts(raw):
    assert len(list((RF / "raw").glob("*.jsonl"))) == 15
    assert len(raw) == 595
    per = Counter((t.source_model, t.metadata["domain"]) for t in raw)
    assert len(per) == 15
    for (_, domain), n in per.items():
        assert n == {"aime2024": 30, "argkp": 24, "bright-theoremqa_theorems": 65}[domain]
    assert all(t.response[s.start : s.end] == s.text for t in raw for s in t.steps)


def test_raw_thinking_answer_split(raw):
    by_id = {(t.source_model, t.metadata["domain"], t.metadata["question_id"]): t for t in raw}
    r1 = by_id[("DeepSeek-R1", "aime2024", "aime2024-0")]
    lo, hi = r1.metadata["thinking_span"]
    assert r1.response[:lo] == "<think>"
    assert r1.response[hi:].startswith("</think>")
    assert not r1.metadata["truncated"]
    assert r1.final_answer is not None and "33" in r1.final_answer and "</think>" not in r1.final_answer
    assert r1.gold_answer == "33"
    assert all(lo <= s.start and s.end <= hi for s in r1.steps)
    # no step leaks a tag
    assert not any("think>" in s.text for t in raw for s in t.steps)


def test_raw_truncated_traces_are_kept_and_marked(raw):
    trunc = Counter((t.source_model, t.metadata["domain"]) for t in raw if t.metadata["truncated"])
    assert trunc == {
        ("DeepSeek-R1", "aime2024"): 4,
        ("DeepSeek-R1", "bright-theoremqa_theorems"): 1,
        ("QwQ-32B", "aime2024"): 9,
    }
    for t in raw:
        if t.metadata["truncated"]:
            assert "</think>" not in t.response
            assert t.final_answer is None
            assert len(t) > 0


def test_raw_thinking_and_instruction_models(raw):
    for t in raw:
        if t.source_model in ("DeepSeek-V3", "Qwen2.5-32B-Instruct"):
            assert t.metadata["thinking_span"] is None and t.metadata["steps_from"] == "response"
            assert t.final_answer == t.response.strip()
        if t.source_model == "gpt-oss-120b" and t.metadata["domain"].startswith("bright"):
            assert t.metadata["thinking_span"] is None
    errors = [t for t in raw if t.metadata["generation_error"]]
    assert [(t.source_model, t.metadata["question_id"]) for t in errors] == [
        ("gpt-oss-120b", "aime2024-6"),
        ("gpt-oss-120b", "aime2024-25"),
    ]
    assert all(len(t) == 0 and t.final_answer is None for t in errors)
    gold = {t.metadata["domain"]: t.gold_answer for t in raw}
    assert gold["argkp"] is None and gold["bright-theoremqa_theorems"] is None


def test_raw_sentence_segmentation_is_finer():
    f = RF / "raw" / "QwQ-32B_argkp_responses.jsonl"
    para, sent = load_raw(f), load_raw(f, segment="sentence")
    assert [t.trace_id for t in para] == [t.trace_id for t in sent]
    for p, s in zip(para, sent):
        assert len(s) >= len(p)
        assert all(s_.text.strip() == s_.text and s_.text for s_ in s.steps)
    with pytest.raises(InvalidArgumentError):
        load_raw(f, segment="word")


def test_raw_malformed_line_names_file_and_line(tmp_path):
    src = (RF / "raw" / "DeepSeek-R1_argkp_responses.jsonl").read_text().splitlines()
    bad = tmp_path / "DeepSeek-R1_argkp_responses.jsonl"
    bad.write_text("\n".join([src[0], src[1], '{"question_id": 1}', src[2]]) + "\n")
    with pytest.raises(TraceFormatError, match=r"line 3") as ei:
        load_raw(bad)
    assert ei.value.line == 3 and ei.value.path == str(bad)


def test_split_thinking_rules():
    assert split_thinking("<think>a</think>b")["answer_span"] == [16, 17]
    assert split_thinking("a</think> b")["thinking_span"] == [0, 1]
    assert split_thinking("no tags")["thinking_span"] is None
    model = next(iter(IMPLICIT_THINK_OPEN))
    assert split_thinking("no tags, cut", model)["truncated"]
    assert split_thinking("Error: Failed to get response from x")["generation_error"]


def test_segment_spans():
    text = "  A. B?\n\n\nC\nD.  "
    assert [text[a:b] for a, b in segment(text)] == ["A. B?", "C\nD."]
    assert [text[a:b] for a, b in segment(text, "sentence")] == ["A.", "B?", "C", "D."]
    assert [text[a:b] for a, b in segment(text, "paragraph", 5, 7)] == ["B?"]


# ---------------------------------------------------------------- problems


def test_problems_all_four_layouts():
    ps = load_problems(DATA_DIR / "problems")
    assert Counter(p.source for p in ps) == {"math500": 500, "olympiadbench": 675, "amc23": 40, "aime24": 30}
    for p in ps:
        assert p.problem.strip() and p.answer.strip() and p.problem_id
    by = {(p.source, p.problem_id): p for p in ps}
    assert len(by) == len(ps)
    m = by[("math500", "test/precalculus/807.json")]
    assert m.answer == r"\left( 3, \frac{\pi}{2} \right)"
    assert m.metadata["subject"] == "Precalculus" and m.solution
    assert by[("aime24", "60")].answer == "204"
    assert by[("amc23", "0")].answer == "27"  # float 27.0 in the file
    assert "question" not in by[("amc23", "0")].metadata  # identical duplicate of "problem"
    o = by[("olympiadbench", "1606")]
    assert o.problem.startswith("Xenia and Sergey") and o.answer == "2" and o.solution is None


def test_problems_bad_line(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text('{"id": 1, "question": "q", "answer": "1"}\n{"id": 2, "question": "q", "answer": true}\n')
    with pytest.raises(TraceFormatError, match=r"p\.jsonl, line 2: no usable answer: True"):
        load_problems(f)


def test_problems_without_answers_load_as_unverifiable(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text('{"id": 1, "question": "q"}\n{"id": 2, "question": "r", "answer": null}\n'
                 '{"id": 3, "question": "s", "answer": ""}\n')
    assert [p.answer for p in load_problems(f)] == ["", "", ""]


# ---------------------------------------------------------------- JSONL round trip


def _labelled(t: Trace) -> Trace:
    steps = tuple(
        Step(s.text, s.start, s.end, BEHAVIOURS[i % 4], s.source_labels) for i, s in enumerate(t.steps)
    )
    return Trace(
        t.trace_id, t.problem, steps, t.response, t.final_answer, t.gold_answer, t.source_model, t.metadata
    )


def test_round_trip(tmp_path, annotated, raw):
    traces = [_labelled(annotated[0]), *annotated[1:20], *raw[:20]]
    p = tmp_path / "t.jsonl"
    assert write_traces(p, traces) == len(traces)
    back = read_traces(p)
    assert back == traces
    assert back.skipped == []
    assert back[0].steps[1].behaviour is Behaviour.DEEP


def _write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def mixed_file(tmp_path, raw) -> tuple[Path, list[Trace]]:
    good = raw[:3]
    ok = [json.dumps(t.to_dict(), ensure_ascii=False) for t in good]
    broken_span = json.loads(ok[1])
    broken_span["steps"][0]["start"] += 1
    broken_span["steps"][0]["end"] += 1
    lines = [
        ok[0],
        '{"format": "metacot.trace", "version": 1',  # cut-off line
        ok[1],
        json.dumps({"format": "other"}),
        "",
        json.dumps(broken_span),
        ok[2],
        "[1, 2]",
    ]
    p = tmp_path / "mixed.jsonl"
    _write_lines(p, lines)
    return p, good


def test_malformed_line_raises_with_file_and_line(mixed_file):
    p, _ = mixed_file
    with pytest.raises(TraceFormatError) as ei:
        read_traces(p)
    e = ei.value
    assert isinstance(e, MetacotError) and isinstance(e, ValueError)
    assert e.line == 2 and e.path == str(p)
    assert str(e).startswith(f"{p}, line 2: invalid JSON")


def test_skip_mode_reports_every_bad_line(mixed_file):
    p, good = mixed_file
    with pytest.warns(UserWarning, match="skipped 4 malformed"):
        got = read_traces(p, on_error="skip")
    assert got == good
    assert [s.line for s in got.skipped] == [2, 4, 6, 8]
    reasons = {s.line: s.reason for s in got.skipped}
    assert "invalid JSON" in reasons[2]
    assert "'format'" in reasons[4]
    assert "step 0" in reasons[6]
    assert "JSON object" in reasons[8]


def test_read_traces_rejects_bad_mode(tmp_path):
    with pytest.raises(InvalidArgumentError):
        read_traces(tmp_path / "x.jsonl", on_error="ignore")


def test_atomic_write_keeps_old_file_on_failure(tmp_path, raw):
    p = tmp_path / "t.jsonl"
    write_traces(p, raw[:2])
    before = p.read_bytes()

    def gen():
        yield raw[2]
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        write_traces(p, gen())
    assert p.read_bytes() == before
    assert os.listdir(tmp_path) == ["t.jsonl"]  # no temp file left behind
    with pytest.raises(InvalidArgumentError):
        write_traces(p, [raw[0], "not a trace"])
    assert p.read_bytes() == before


def test_trace_validation():
    with pytest.raises(InvalidArgumentError, match="does not reproduce"):
        Trace("t", "q", (Step("ab", 0, 2),), "xy")
    with pytest.raises(InvalidArgumentError, match="before step 0 ends"):
        Trace("t", "q", (Step("ab", 0, 2), Step("b", 1, 2)), "ab")
    with pytest.raises(InvalidArgumentError, match="unknown behaviour"):
        Step("a", 0, 1, behaviour="ponder")
    with pytest.raises(InvalidArgumentError, match="length"):
        Step("abc", 0, 2)
