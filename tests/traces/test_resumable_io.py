"""The shared file writers: umask-respecting atomic trace files, the resumable JSONL appender."""

from __future__ import annotations

import json
import os
import stat

import pytest

from metacot._io import open_jsonl_appender, read_jsonl_lines
from metacot.errors import InvalidArgumentError
from metacot.traces.jsonl import read_traces, write_traces
from metacot.traces.model import Step, Trace

T = Trace("t0", "1+1?", (Step("So 2.", 0, 5),), "So 2.", "2", "2", "me")


@pytest.fixture
def umask():
    """Set a umask for one test and put the old one back."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_trace_files_and_appended_files_get_the_mode_the_umask_allows(tmp_path, umask, mask):
    umask(mask)
    write_traces(tmp_path / "t.jsonl", [T])
    with open_jsonl_appender(tmp_path / "a.jsonl") as log:
        log.append({"x": 1})
    for name in ("t.jsonl", "a.jsonl"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~mask, name
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file left


def test_write_traces_replaces_atomically_and_refuses_a_missing_folder(tmp_path):
    p = tmp_path / "t.jsonl"
    write_traces(p, [T, T])
    with pytest.raises(InvalidArgumentError, match="not a Trace"):
        write_traces(p, [T, "junk"])
    assert read_traces(p) == [T, T]  # the failed write left the old file whole
    with pytest.raises(InvalidArgumentError, match="does not exist"):
        write_traces(tmp_path / "no" / "t.jsonl", [T])


def test_appender_appends_whole_lines_and_cuts_a_torn_last_line(tmp_path):
    p = tmp_path / "r.jsonl"
    with open_jsonl_appender(p) as log:
        assert log.existing() == []
        log.append({"k": "a", "text": "é"})
        log.append({"k": "b"})
    whole = p.read_bytes()
    assert whole == '{"k": "a", "text": "é"}\n{"k": "b"}\n'.encode()
    p.write_bytes(whole + b'{"k": "c", "te')  # killed during the third write
    with open_jsonl_appender(p) as log, pytest.warns(UserWarning, match=r"r\.jsonl: line 3 was torn \(14 bytes"):
        lines = log.existing()
        assert [json.loads(raw) for _, raw in lines] == [{"k": "a", "text": "é"}, {"k": "b"}]
        assert (log.torn.line, log.torn.offset) == (3, len(whole))
        log.append({"k": "c"})
    assert p.read_bytes() == whole + b'{"k": "c"}\n'


def test_appender_writes_nothing_for_a_record_json_cannot_hold(tmp_path):
    p = tmp_path / "r.jsonl"
    with open_jsonl_appender(p) as log:
        log.append({"k": 1})
        with pytest.raises(TypeError):
            log.append({"k": object()})
    assert read_jsonl_lines(p).lines == [(1, b'{"k": 1}')] and read_jsonl_lines(p).torn is None


def test_a_second_writer_is_refused_while_the_first_holds_the_file(tmp_path):
    p = tmp_path / "r.jsonl"
    with open_jsonl_appender(p):
        with pytest.raises(InvalidArgumentError, match="being written by another process"):
            with open_jsonl_appender(p):
                pass
    with open_jsonl_appender(p):  # released on exit
        pass
