"""Issue 14 item 7, synth part: ordinary mistakes get one clear MetacotError, before anything runs."""

from __future__ import annotations

import argparse

import pytest

from metacot.errors import MetacotError
from metacot.synth.cli import register
from metacot.traces.files import DATA_DIR

PROBLEMS = str(DATA_DIR / "problems" / "amc23.jsonl")


def run(*argv):
    parser = argparse.ArgumentParser(prog="metacot")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["synth", *argv])
    return args.run(args)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--limit", "-1"], r"--limit must be an int >= 1, got -1"),
        (["--limit", "0"], r"--limit must be an int >= 1, got 0"),
        (["--graph", "{tmp}/missing.json"], r"missing\.json: no such graph file \(--graph\)"),
        (["--gguf", "{tmp}/missing.gguf"], r"missing\.gguf: no such GGUF model file"),
    ],
    ids=["limit-negative", "limit-zero", "graph-missing", "gguf-missing"],
)
def test_bad_arguments_are_one_metacot_error_and_nothing_is_written(tmp_path, argv, message):
    out = tmp_path / "o.jsonl"
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    with pytest.raises(MetacotError, match=message) as info:
        run(PROBLEMS, "-o", str(out), "--no-verify", "-q", *argv)
    assert "\n" not in str(info.value)
    assert not out.exists()


def test_a_missing_or_non_utf8_problems_file_is_one_metacot_error(tmp_path):
    out = tmp_path / "o.jsonl"
    with pytest.raises(MetacotError, match=r"missing\.jsonl: no such file or folder"):
        run(str(tmp_path / "missing.jsonl"), "-o", str(out), "-q")
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"id": 1, "problem": "caf\xe9", "answer": "1"}\n')
    with pytest.raises(MetacotError, match=r"bad\.jsonl, line 1: not UTF-8 text"):
        run(str(bad), "-o", str(out), "-q")
    assert not out.exists()
