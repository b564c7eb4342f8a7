"""The metacot command line."""

from __future__ import annotations

import pytest

from metacot.cli import main


def test_hitting_time_prints_the_closed_form(capsys):
    assert main(["hitting-time", "line_of_cliques", "--K", "4", "--M", "16", "--eps", "0.01"]) == 0
    assert "exact E[tau] = 4819" in capsys.readouterr().out


def test_bad_parameters_give_a_clear_error_and_exit_code(capsys):
    assert main(["hitting-time", "line_of_cliques", "--K", "4", "--M", "1", "--eps", "0.01"]) == 2
    assert "M >= 2" in capsys.readouterr().err


def test_label_fit_show_end_to_end_on_real_traces(tmp_path, capsys):
    import json

    import numpy as np

    from metacot import BehaviourGraph, fit, label, traces

    one_model = tmp_path / "annotated"
    one_model.mkdir()
    src = sorted((traces.DATA_DIR / "reasoningflow" / "annotated").glob("aime2024_*_QwQ-32B.json"))[:5]
    for f in src:
        (one_model / f.name).write_bytes(f.read_bytes())
    labelled, graph_json, png = tmp_path / "l.jsonl", tmp_path / "g.json", tmp_path / "g.png"
    assert main(["label", str(one_model), "-o", str(labelled), "--labeller", "keyword"]) == 0
    assert main(["fit", str(labelled), "-o", str(graph_json), "--method", "mle"]) == 0
    assert main(["graph", "show", str(graph_json), "--png", str(png)]) == 0
    assert png.stat().st_size > 0 and "stationary:" in capsys.readouterr().out
    # the CLI's graph equals the library's on the same traces (independent path through the API)
    expected = fit.fit_graph(label.label_traces(traces.load_reasoningflow(one_model), label.KeywordLabeller()),
                             method="mle")
    np.testing.assert_allclose(BehaviourGraph.load(graph_json).P, expected.P, rtol=1e-12)
    assert json.loads(graph_json.read_text())["provenance"]["method"] == "mle"


def test_fit_refuses_an_unknown_source_and_graph_show_an_unknown_reference(tmp_path, capsys):
    from metacot import label, traces

    f = tmp_path / "l.jsonl"
    src = traces.DATA_DIR / "reasoningflow" / "annotated" / "aime2024_0_QwQ-32B.json"
    traces.write_traces(f, label.label_traces(traces.load_reasoningflow(src), label.KeywordLabeller()))
    assert main(["fit", str(f), "-o", str(tmp_path / "g.json"), "--source", "nobody"]) == 2
    assert "no trace from source 'nobody'" in capsys.readouterr().err
    assert main(["graph", "show", "no-such-graph"]) == 2
    assert "no reference graph" in capsys.readouterr().err


@pytest.mark.slow
def test_label_with_the_embedded_llm_judge(tmp_path):
    # The real SmolLM2-135M judge through the CLI on the first 3 steps of one real trace: every
    # step gets a behaviour, and the few-shot format keeps the replies parseable.
    from dataclasses import replace

    from metacot import traces

    src = traces.DATA_DIR / "reasoningflow" / "annotated" / "argkp_0_QwQ-32B.json"
    tr = replace(traces.load_reasoningflow(src)[0], steps=traces.load_reasoningflow(src)[0].steps[:3])
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    traces.write_traces(inp, [tr])
    assert main(["label", str(inp), "-o", str(out), "--labeller", "llm-judge"]) == 0
    [got] = traces.read_traces(out)
    assert len(got.steps) == 3 and all(s.behaviour is not None for s in got.steps)
    assert got.metadata["labeller"].startswith("llm-judge:") and len(got.metadata["judge_unparsed"]) < 3


# ----------------------------------------------------------------- ordinary mistakes: one line, exit 2
def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("metacot: "), err
    return lines[0]


@pytest.mark.parametrize("argv", [
    ["fit", "missing.jsonl", "-o", "g.json"],
    ["label", "missing.jsonl", "-o", "l.jsonl"],
    ["graph", "show", "out/typo.json"],
])
def test_a_missing_input_file_is_named_in_one_line(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    line = _one_line_error(capsys)
    assert argv[2 if argv[0] == "graph" else 1] in line
    assert "reference" not in line


def test_an_unknown_reference_name_is_not_reported_as_a_missing_file(capsys):
    assert main(["graph", "show", "deepseek-r2"]) == 2
    assert "no reference graph 'deepseek-r2'" in _one_line_error(capsys)


def test_a_missing_output_folder_is_refused_before_any_work(tmp_path, capsys):
    src = tmp_path / "t.jsonl"
    src.write_text("")
    assert main(["fit", str(src), "-o", str(tmp_path / "no" / "g.json")]) == 2
    assert "does not exist" in _one_line_error(capsys)
    assert main(["graph", "show", "qwq-32b", "--png", str(tmp_path / "no" / "g.png")]) == 2
    assert "--png" in _one_line_error(capsys)


def test_an_unwritable_output_gives_one_line(tmp_path, capsys):
    from metacot import label, traces

    f = tmp_path / "l.jsonl"
    src = traces.DATA_DIR / "reasoningflow" / "annotated" / "aime2024_0_QwQ-32B.json"
    traces.write_traces(f, label.label_traces(traces.load_reasoningflow(src), label.KeywordLabeller()))
    # A folder where the graph file should go cannot be replaced by a file, even by root.
    (tmp_path / "g.json").mkdir()
    assert main(["fit", str(f), "-o", str(tmp_path / "g.json")]) == 2
    assert "g.json" in _one_line_error(capsys)


def test_non_utf8_input_gives_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"format": "metacot.trace", \xff\xfe}\n')
    assert main(["fit", str(bad), "-o", str(tmp_path / "g.json")]) == 2
    _one_line_error(capsys)


def test_ctrl_c_exits_130_with_one_line(capsys):
    import argparse

    from metacot.cli import _run

    def interrupted(args):
        raise KeyboardInterrupt

    assert _run(argparse.Namespace(run=interrupted)) == 130
    assert "interrupted" in _one_line_error(capsys)


def test_a_bug_keeps_its_traceback():
    import argparse

    from metacot.cli import _run

    def bug(args):
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        _run(argparse.Namespace(run=bug))


# ----------------------------------------------------------------- your own traces, in a foreign taxonomy
FOREIGN_TAGS = [["setup", "calc", "calc", "check", "calc", "alt", "check"],
                ["setup", "check", "calc", "calc", "check"],
                ["setup", "calc", "alt", "calc", "check", "check"]]
MAPPING_TOML = '''
key = "kind"

[map]
setup = "normal"
calc = "deep"
check = "reflect"
alt = "explore"
'''


def _foreign_traces(tmp_path):
    """A trace file in metacot's format but with an unusual suffix, labelled in another taxonomy."""
    from metacot import traces

    made = [traces.make_trace([f"step {i} of trace {k}" for i in range(len(tags))], trace_id=f"t{k}",
                              source_labels=[{"kind": tag} for tag in tags], source_model="my-model")
            for k, tags in enumerate(FOREIGN_TAGS)]
    path = tmp_path / "mine.ndjson"
    traces.write_traces(path, made)
    mapping = tmp_path / "taxonomy.toml"
    mapping.write_text(MAPPING_TOML)
    return path, mapping


def test_own_traces_map_a_foreign_taxonomy_then_fit(tmp_path, capsys):
    import itertools

    import numpy as np

    from metacot import BehaviourGraph, traces

    path, mapping = _foreign_traces(tmp_path)
    out, graph_json = tmp_path / "labelled.data", tmp_path / "g.json"
    assert main(["label", str(path), "-o", str(out), "--labeller", f"map:{mapping}"]) == 0
    assert main(["fit", str(out), "-o", str(graph_json), "--method", "mle", "--labeller", "keep"]) == 0
    # Oracle: count the mapped tag pairs by hand.
    to_b = {"setup": 0, "calc": 1, "check": 2, "alt": 3}
    counts = np.zeros((4, 4))
    for tags in FOREIGN_TAGS:
        for a, b in itertools.pairwise(tags):
            counts[to_b[a], to_b[b]] += 1
    expected = counts / counts.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(BehaviourGraph.load(graph_json).P, expected, atol=1e-12)
    assert [s.behaviour.value for s in traces.read_traces(out)[1].steps] == [
        "normal", "reflect", "deep", "deep", "reflect"]


def test_own_traces_unmapped_tag_and_unknown_behaviour_are_clear(tmp_path, capsys):
    path, mapping = _foreign_traces(tmp_path)
    mapping.write_text(MAPPING_TOML.replace('alt = "explore"\n', ""))
    assert main(["label", str(path), "-o", str(tmp_path / "o.jsonl"), "--labeller", f"map:{mapping}"]) == 2
    assert "'alt'" in _one_line_error(capsys)
    mapping.write_text(MAPPING_TOML.replace('"explore"', '"wander"'))
    assert main(["label", str(path), "-o", str(tmp_path / "o.jsonl"), "--labeller", f"map:{mapping}"]) == 2
    line = _one_line_error(capsys)
    assert "wander" in line and "taxonomy.toml" in line
    doc = "default = \"normal\"\n" + MAPPING_TOML.replace('alt = "explore"\n', "")
    mapping.write_text(doc)
    assert main(["label", str(path), "-o", str(tmp_path / "o.jsonl"), "--labeller", f"map:{mapping}"]) == 0
    assert "alt 2" in capsys.readouterr().out


def test_keep_refuses_unlabelled_steps_and_fit_names_the_formats(tmp_path, capsys):
    path, _ = _foreign_traces(tmp_path)
    assert main(["label", str(path), "-o", str(tmp_path / "o.jsonl"), "--labeller", "keep"]) == 2
    assert "have no behaviour" in _one_line_error(capsys)
    junk = tmp_path / "notes.txt"
    junk.write_text("just some text\n")
    assert main(["fit", str(junk), "-o", str(tmp_path / "g.json")]) == 2
    line = _one_line_error(capsys)
    assert "metacot trace JSONL" in line and "ReasoningFlow" in line


def test_hitting_time_at_extreme_eps_is_exact_or_one_line(capsys):
    # (K-1)(M/eps+1)+M = 4e300 is representable: the carried rates give it exactly.
    assert main(["hitting-time", "line_of_cliques", "--K", "2", "--M", "4", "--eps", "1e-300"]) == 0
    assert "exact E[tau] = 4e+300" in capsys.readouterr().out
    # 4e308 overflows float64: one line, no traceback.
    assert main(["hitting-time", "line_of_cliques", "--K", "2", "--M", "4", "--eps", "1e-308"]) == 2
    assert "overflows" in _one_line_error(capsys)


def test_own_traces_labelled_by_the_shipped_trained_labeller(tmp_path):
    from metacot import traces

    path, _ = _foreign_traces(tmp_path)
    out = tmp_path / "t.jsonl"
    assert main(["label", str(path), "-o", str(out), "--labeller", "trained"]) == 0
    got = traces.read_traces(out)
    assert all(s.behaviour is not None for t in got for s in t.steps)
    assert {t.metadata["labeller"] for t in got} == {"trained"}
