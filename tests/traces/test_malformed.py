"""Issue 14 item 4: every malformed trace line is a TraceFormatError naming file and line.

The lines below each escaped TraceFormatError before (a bare ValueError, TypeError,
UnicodeDecodeError or RecursionError, with no file or line), and aborted an ``on_error="skip"``
read. The fuzz test states the reader's contract for arbitrary bytes.
"""

from __future__ import annotations

import json
import re
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metacot.errors import MetacotError, TraceFormatError
from metacot.traces.jsonl import read_traces, write_traces
from metacot.traces.model import Step, Trace
from metacot.traces.problems import load_problems
from metacot.traces.reasoningflow import load_raw, load_reasoningflow

GOOD = Trace("t0", "1+1?", (Step("So 2.", 0, 5, "deep"),), "So 2.", "2", "2", "me", {"k": 1})


def record(**changes) -> bytes:
    d = GOOD.to_dict()
    d.update(changes)
    return json.dumps(d).encode()


def step_record(**changes) -> bytes:
    d = GOOD.to_dict()
    d["steps"][0].update(changes)
    return json.dumps(d).encode()


MALFORMED = {
    "metadata-str": (record(metadata="abc"), "'metadata' must be a JSON object"),
    "metadata-int": (record(metadata=5), "'metadata' must be a JSON object"),
    "source_labels-list": (step_record(source_labels=[1, 2]), "step 0: 'source_labels' must be a JSON object"),
    "behaviour-list": (step_record(behaviour=["deep"]), "step 0: unknown behaviour"),
    "non-utf8": (b'{"format": "metacot.trace", "problem": "\xff\xfe"}', "not UTF-8 text"),
    "deep-nesting": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    "huge-int": (b"{\"version\": " + b"9" * 5000 + b"}", "invalid JSON value"),
    "start-float": (step_record(start=0.0), "Step.start must be an int"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_each_malformed_line_names_file_and_line_and_is_skipped(tmp_path, name):
    bad, reason = MALFORMED[name]
    path = tmp_path / "t.jsonl"
    good = json.dumps(GOOD.to_dict()).encode()
    path.write_bytes(good + b"\n" + bad + b"\n" + good + b"\n")
    with pytest.raises(TraceFormatError, match=rf"t\.jsonl, line 2: .*{re.escape(reason)}") as info:
        read_traces(path)
    assert (info.value.line, info.value.path) == (2, str(path))
    with pytest.warns(UserWarning, match="skipped 1 malformed line"):
        got = read_traces(path, on_error="skip")
    assert got == [GOOD, GOOD]
    assert [(s.line, reason in s.reason) for s in got.skipped] == [(2, True)]


def test_a_torn_last_line_is_reported_as_such(tmp_path):
    path = tmp_path / "t.jsonl"
    good = json.dumps(GOOD.to_dict()).encode()
    path.write_bytes(good + b"\n" + good[:30])
    with pytest.raises(TraceFormatError, match=r"line 2: .*no line end"):
        read_traces(path)


def test_a_missing_file_is_a_metacot_error(tmp_path):
    with pytest.raises(TraceFormatError, match=r"missing\.jsonl: no such file"):
        read_traces(tmp_path / "missing.jsonl")
    with pytest.raises(TraceFormatError, match="no such file"):
        load_problems(tmp_path / "missing.jsonl")


def test_loaders_report_non_utf8_and_deep_json_with_file_and_line(tmp_path):
    problems = tmp_path / "set.jsonl"
    problems.write_bytes(b'{"id": 1, "problem": "2+2?", "answer": "4"}\n{"id": 2, "problem": "\xe9"}\n')
    with pytest.raises(TraceFormatError, match=r"set\.jsonl, line 2: not UTF-8 text: byte 0xe9"):
        load_problems(problems)
    raw = tmp_path / "M_aime2024_responses.jsonl"
    raw.write_bytes(b"[" * 50_000 + b"\n")
    with pytest.raises(TraceFormatError, match=r"line 1: JSON nested too deeply"):
        load_raw(raw)
    rf = tmp_path / "x.json"
    rf.write_bytes(b'{"doc_id": "\xff"}')
    with pytest.raises(TraceFormatError, match=r"x\.json: not UTF-8 text"):
        load_reasoningflow(rf)
    rf.write_text(json.dumps({"raw_text": {"question": "q", "response": "r"}, "metadata": {"generator": "g"},
                              "nodes": [], "edges": [5]}))
    with pytest.raises(TraceFormatError, match=r"x\.json: not a ReasoningFlow annotated file"):
        load_reasoningflow(rf)


# Lines built from pieces of valid records, so the fuzzer reaches deep into the record checks,
# mixed with arbitrary bytes.
_pieces = st.sampled_from([
    b'{"format": "metacot.trace", "version": 1, ', b'"trace_id": "a", "problem": "p", "response": "ab", ',
    b'"steps": [{"text": "a", "start": 0, "end": 1, "behaviour": "deep", "source_labels": {}}]', b"}",
    b'"metadata": ', b"[", b"]", b"{", b'"x"', b":", b",", b"5", b"null", b"\xff", b"\n", b'"steps": ',
    b'{"text": "b", "start": 1, "end": 2}', b'"behaviour": [1]', b'"source_labels": [1]', b"1e999", b"-0",
])
_lines = st.one_of(st.binary(max_size=200), st.lists(_pieces, max_size=14).map(b"".join))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_lines, max_size=6))
def test_fuzz_any_bytes_give_traces_or_a_metacot_error_naming_file_and_line(tmp_path, chunks):
    path = tmp_path / "fuzz.jsonl"
    data = b"\n".join(chunks)
    path.write_bytes(data)
    n_lines = data.count(b"\n") + 1
    try:
        got = read_traces(path)
    except MetacotError as e:
        assert isinstance(e, TraceFormatError) and e.path == str(path) and 1 <= e.line <= n_lines
        assert f"line {e.line}" in str(e)
    else:
        assert all(isinstance(t, Trace) for t in got) and not got.skipped
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lenient = read_traces(path, on_error="skip")  # never raises: skip mode reads to the end
    assert all(isinstance(t, Trace) for t in lenient)
    assert all(1 <= s.line <= n_lines for s in lenient.skipped)
    # every line is accounted for: a trace, a skipped line, or blank
    blank = sum(1 for line in data.split(b"\n") if not line.strip())
    assert len(lenient) + len(lenient.skipped) + blank == n_lines
    # what was read back writes and reads back unchanged
    if lenient:
        out = tmp_path / "round.jsonl"
        write_traces(out, lenient)
        assert read_traces(out) == list(lenient)
