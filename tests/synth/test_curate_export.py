"""Curation (metacot.synth.curate) and SFT export (metacot.synth.export): planted duplicates, planted
benchmark overlap, unverifiable problems, empty and partly failed runs, the schema read back.
"""

from __future__ import annotations

import importlib.util
import json

import pytest

from metacot.errors import InvalidArgumentError, MissingInputError, TraceFormatError
from metacot.graphs.graph import reference
from metacot.llm.samplers import ScriptedSampler
from metacot.synth.curate import EmptyRunError, NgramIndex, curate, read_run, verification, words
from metacot.synth.export import SFT_SCHEMA, dataset_card, export_run, read_sft, sft_record, validate
from metacot.synth.molesyn import molesyn
from metacot.traces.core import DATA_DIR, Problem, load_problems, read_traces
from metacot.traces.edits import make_trace

HAS_MV = importlib.util.find_spec("math_verify") is not None
AIME = load_problems(DATA_DIR / "problems" / "aime24.jsonl")


def tr(texts, tid="toy/1", problem="What is 1 + 1?", answer="2", gold="2", behaviours=None, **meta):
    return make_trace(texts, behaviours or ["normal"] * len(texts), trace_id=tid, problem=problem,
                      final_answer=answer, gold_answer=gold, metadata={"correct": answer == gold, **meta})


# ------------------------------------------------------------------------------ de-duplication
def test_planted_duplicate_steps_are_removed_and_counted():
    t = tr(["Add one and one together to get two.",
            "add one and   ONE together to get two.",          # exact after normalising
            "Add one and one together to get two now.",       # near: 7 of 8 word 3-grams shared
            "Check: two minus one is one, so it holds.",
            "So the answer is 2."])
    kept, rep = curate([t])
    [k] = kept
    assert [s.text for s in k.steps] == ["Add one and one together to get two.",
                                         "Check: two minus one is one, so it holds.", "So the answer is 2."]
    assert (rep.steps_removed["exact"], rep.steps_removed["near"]) == (1, 1)
    assert (rep.steps_in, rep.steps_out) == (5, 3)
    assert k.metadata["transforms"][-1]["removed"] == 2


def test_planted_duplicate_traces_are_dropped_first_one_kept():
    a = tr(["First we add the numbers one and one.", "That gives two."], tid="toy/1")
    b = tr(["first we add the numbers one and one.", "That  gives two."], tid="toy/2")   # exact
    c = tr(["First we add the numbers one and one.", "That gives two!", "Done."], tid="toy/3")  # near
    d = tr(["A different route: count on from one.", "We land on two."], tid="toy/4")
    kept, rep = curate([a, b, c, d], dedup_steps=False)
    assert [t.trace_id for t in kept] == ["toy/1", "toy/4"]
    assert (rep.dropped["duplicate_exact"], rep.dropped["duplicate_near"], rep.kept) == (1, 1, 2)
    kept, rep = curate([a, b, c, d], dedup_traces=False)
    assert rep.kept == 4
    with pytest.raises(InvalidArgumentError, match="near_threshold"):
        curate([a], near_threshold=0)


# ------------------------------------------------------------------------------ decontamination
def test_a_planted_benchmark_8gram_is_caught_and_seven_words_are_not():
    w = words(AIME[3].problem)
    eight, seven = " ".join(w[4:12]), " ".join(w[4:11])
    hit = tr(["Let us think.", f"Recall that {eight} here."], tid="toy/hit")
    near_miss = tr([f"Recall that {seven} here."], tid="toy/miss", answer="3", gold="3")
    kept, rep = curate([hit, near_miss], decontaminate=True, benchmarks=["aime24"])
    assert [t.trace_id for t in kept] == ["toy/miss"]
    assert rep.dropped["contaminated"] == 1
    [c] = rep.contamination
    assert (c.trace_id, c.benchmark, c.item, c.in_problem) == ("toy/hit", "aime24", f"aime24/{AIME[3].problem_id}", False)


def test_a_benchmark_problem_is_contaminated_through_its_statement_unless_its_set_is_left_out():
    p = load_problems(DATA_DIR / "problems" / "math500.jsonl")[7]
    t = tr(["Some reasoning."], tid=f"math500/{p.problem_id}", problem=p.problem)
    _, rep = curate([t], decontaminate=True)
    assert rep.contamination[0].in_problem and rep.contamination[0].benchmark == "math500"
    kept, rep = curate([t], decontaminate=True, benchmarks=["aime24", "amc23"])
    assert len(kept) == 1 and rep.dropped["contaminated"] == 0
    with pytest.raises(InvalidArgumentError, match="unknown benchmark 'gsm8k'"):
        curate([t], decontaminate=True, benchmarks=["gsm8k"])


def test_short_benchmark_problems_match_as_a_whole():
    idx = NgramIndex([Problem("1", "Compute 2 plus 2.", "4", "tiny")])
    assert idx.hit("we must compute 2 plus 2 first") == "tiny/1"
    assert idx.hit("compute 2 plus 3") is None


# ------------------------------------------------------------------------------ answers
def test_verification_statuses_and_verified_only():
    good = tr(["ok"], tid="toy/1")
    bad = tr(["ok too"], tid="toy/2", answer="3")
    none = tr(["still going"], tid="toy/3", answer=None)
    nogold = tr(["checked nothing"], tid="toy/4", gold="")
    assert [verification(t) for t in (good, bad, none, nogold)] == ["correct", "wrong", "no_answer", "unverifiable"]
    kept, rep = curate([good, bad, none, nogold])
    assert rep.kept == 3 and rep.dropped["no_answer"] == 1 and rep.pass_rate == 0.5
    kept, rep = curate([good, bad, none, nogold], verified_only=True)
    assert [t.trace_id for t in kept] == ["toy/1"]
    assert dict(rep.dropped) == {"no_answer": 1, "not_verified": 1, "unverifiable": 1}
    assert rep.kept + sum(rep.dropped.values()) == rep.n_traces
    kept, rep = curate([none], require_answer=False)
    assert rep.kept == 1


@pytest.mark.skipif(not HAS_MV, reason="needs math-verify")
def test_problems_without_answers_synthesise_and_verify_as_unverifiable(tmp_path):
    out = tmp_path / "run.jsonl"
    probs = [Problem("1", "Find x.", "", "toy"), Problem("2", "Find y.", "5", "toy")]
    res = molesyn(reference("qwq-32b"), probs, ScriptedSampler(lambda r: "so \\boxed{5}"), out,
                  max_steps=2, progress=False)
    assert res.n_written == 2
    kept, rep = curate(out, dedup_traces=False)  # both replies are the same text
    assert rep.verification["unverifiable"] == 1 and rep.verification["correct"] == 1
    assert {t.trace_id: t.metadata["verification"] for t in kept} == {"toy/1": "unverifiable", "toy/2": "correct"}
    _, rep = curate(out, verified_only=True)
    assert rep.dropped["unverifiable"] == 1


# ------------------------------------------------------------------------------ reading runs
def scripted_run(tmp_path, n=4, name="run.jsonl"):
    out = tmp_path / name
    probs = [Problem(str(i), f"What is {i} + {i}?", str(2 * i), "toy") for i in range(n)]
    molesyn(reference("qwq-32b"), probs, ScriptedSampler(
        lambda r: f"so \\boxed{{{r.seed % 7}}}" if r.seed % 3 == 0 else f"thinking about it, seed {r.seed}"),
        out, max_steps=5, verify=False, progress=False)
    return out, probs


def test_empty_torn_and_damaged_runs(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(EmptyRunError, match="holds no trace"):
        read_run(empty)
    with pytest.raises(EmptyRunError):
        export_run(empty, tmp_path / "sft.jsonl")
    assert not (tmp_path / "sft.jsonl").exists()
    with pytest.raises(MissingInputError, match="no such run file"):
        read_run(tmp_path / "nope.jsonl")
    out, probs = scripted_run(tmp_path)
    with open(out, "ab") as f:
        f.write(b'{"format": "metacot.trace", "trace_')       # killed mid-write
    run = read_run(out)
    assert len(run.traces) == 4 and "line 5" in run.torn
    res = export_run(out, tmp_path / "sft.jsonl", problems=[*probs, Problem("9", "lost", "1", "toy")])
    assert res.report.torn == run.torn and res.report.missing == ["toy/9"]
    lines = out.read_bytes().split(b"\n")
    lines[1] = b"{not json"
    out.write_bytes(b"\n".join(lines))
    with pytest.raises(TraceFormatError, match="line 2"):
        read_run(out)


# ------------------------------------------------------------------------------ export
def test_export_reads_back_valid_and_carries_the_trace(tmp_path):
    out, _ = scripted_run(tmp_path, n=6)
    traces = read_traces(out)
    res = export_run(out, tmp_path / "sft.jsonl", card=tmp_path / "card.md", require_answer=False, dedup_steps=False,
                     dedup_traces=False)
    recs = read_sft(res.path)
    assert len(recs) == res.n_written == len(traces) == res.report.kept
    for t, r in zip(traces, recs):
        user, assistant = r["messages"]
        assert user == {"role": "user", "content": t.problem}
        think = assistant["content"].split("<think>\n", 1)[1].split("\n</think>\n\n", 1)[0]
        assert think.split("\n\n") == [s.text for s in t.steps]
        assert r["metadata"]["behaviours"] == [s.behaviour.value for s in t.steps]
        assert r["metadata"]["problem_key"] == t.trace_id and r["metadata"]["answer"] == t.final_answer
    card = (tmp_path / "card.md").read_text()
    for needle in ("## Driving graph", "| normal | 0.778", "\"kind\": \"scripted\"", "## Filters",
                   f"traces read: {len(traces)}", "Closed-loop fidelity"):
        assert needle in card


def test_the_schema_refuses_what_it_should(tmp_path):
    rec = sft_record(tr(["a step"], behaviours=["deep"]))
    validate(rec)
    bad = json.loads(json.dumps(rec))
    bad["messages"][1]["content"] = "no think block"
    with pytest.raises(InvalidArgumentError, match=r"messages\[1\]\.content: does not match"):
        validate(bad)
    bad = json.loads(json.dumps(rec))
    bad["messages"][0]["role"] = "system"
    with pytest.raises(InvalidArgumentError, match=r"messages\[0\]\.role: expected 'user'"):
        validate(bad)
    bad = json.loads(json.dumps(rec))
    bad["metadata"]["behaviours"] = ["pondering"]
    with pytest.raises(InvalidArgumentError, match="not one of"):
        validate(bad)
    bad = {**rec, "extra": 1}
    with pytest.raises(InvalidArgumentError, match="unexpected field"):
        validate(bad)
    bad = json.loads(json.dumps(rec))
    bad["metadata"]["n_steps"] = True
    with pytest.raises(InvalidArgumentError, match="expected integer"):
        validate(bad)
    f = tmp_path / "s.jsonl"
    f.write_text(json.dumps(rec) + "\n" + json.dumps({"messages": []}) + "\n")
    with pytest.raises(TraceFormatError, match="line 2"):
        read_sft(f)
    assert SFT_SCHEMA["properties"]["metadata"]["properties"]["verification"]["enum"][-1] == "unverifiable"


def test_a_run_filtered_to_nothing_writes_an_empty_file_and_a_card_with_the_counts(tmp_path):
    t = tr(["never answered"], answer=None)
    res = export_run([t], tmp_path / "sft.jsonl", card=tmp_path / "card.md")
    assert res.n_written == 0 and (tmp_path / "sft.jsonl").read_text() == ""
    assert "dropped, no answer: 1" in (tmp_path / "card.md").read_text()
    assert "traces read: 1; kept: 0" in dataset_card([t], res.report)
    with pytest.raises(InvalidArgumentError, match="does not exist"):
        export_run([t], tmp_path / "no" / "sft.jsonl")
