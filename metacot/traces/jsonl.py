"""The trace JSONL format: one :class:`~metacot.traces.model.Trace` record per line.

:func:`write_traces` writes a whole file atomically (through :func:`metacot._io.atomic_write`,
so the file gets the ordinary, umask-filtered mode); :func:`read_traces` reads one back, either
strictly (the first bad line raises) or leniently (bad lines are skipped and listed).
:func:`trace_from_line` decodes one line, for readers that handle files themselves (the
resumable MoLE-Syn output).

Whatever the bytes of a line -- not UTF-8, not JSON, nested 100,000 deep, a record with a field
of the wrong type -- the fault is one :class:`~metacot.errors.TraceFormatError` naming the file
and the line, and ``on_error="skip"`` skips exactly that line.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from metacot._io import atomic_write
from metacot.errors import InvalidArgumentError, MissingInputError, TraceFormatError
from metacot.traces.files import decode_json, is_blank
from metacot.traces.model import SkippedLine, Trace, TraceList

__all__ = ["read_traces", "trace_from_line", "write_traces"]


def write_traces(path: str | os.PathLike[str], traces: Iterable[Trace]) -> int:
    """Write traces to a JSONL file, one trace per line, atomically.

    The traces go to a temporary file in the same folder, which is flushed, synced and renamed
    over ``path`` only once complete; an interrupted write leaves any earlier file untouched and
    never a half-written one. The file gets the mode an ordinary :func:`open` would give
    (``0o666`` filtered by the umask).

    Parameters
    ----------
    path : path-like
        Destination file (its folder must exist).
    traces : iterable of Trace

    Returns
    -------
    int
        Number of traces written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from metacot.traces.model import Step
    >>> t = Trace("t0", "1+1?", (Step("So 2.", 0, 5),), "So 2.", "2", "2", "me")
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.jsonl"
    >>> write_traces(p, [t])
    1
    >>> read_traces(p) == [t]
    True
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise InvalidArgumentError(f"{path}: the folder {path.parent} does not exist")
    n = 0
    with atomic_write(path) as f:
        for t in traces:
            if not isinstance(t, Trace):
                raise InvalidArgumentError(f"item {n} is a {type(t).__name__}, not a Trace")
            f.write(json.dumps(t.to_dict(), ensure_ascii=False))
            f.write("\n")
            n += 1
    return n


def trace_from_line(path: str | os.PathLike[str], lineno: int, raw: bytes | str) -> Trace | None:
    """Decode one line of a trace JSONL file; ``None`` for a blank line.

    Raises
    ------
    TraceFormatError
        Naming ``path`` and ``lineno``, for any line that is not one valid trace record.

    Examples
    --------
    >>> trace_from_line("t.jsonl", 2, b'{"format": "metacot.trace", "version": 1, "metadata": 5}')
    Traceback (most recent call last):
    ...
    metacot.errors.TraceFormatError: t.jsonl, line 2: missing field(s) trace_id, problem, response, steps
    """
    if is_blank(raw):
        return None
    rec = decode_json(path, lineno, raw)
    try:
        return Trace.from_dict(rec)
    except InvalidArgumentError as e:
        raise TraceFormatError(path, lineno, str(e)) from None
    except RecursionError:  # a record deep enough to pass the decoder but not a copy
        raise TraceFormatError(path, lineno, "record nested too deeply to read") from None


def read_traces(path: str | os.PathLike[str], on_error: Literal["raise", "skip"] = "raise") -> TraceList:
    """Read traces written by :func:`write_traces`.

    Parameters
    ----------
    path : path-like
        A JSONL file, one trace object per line. Blank lines are ignored.
    on_error : {"raise", "skip"}
        ``"raise"``: the first malformed line raises :class:`~metacot.errors.TraceFormatError`
        naming the file, the 1-based line and the fault. ``"skip"``: malformed lines are left
        out, listed in the result's ``skipped`` attribute, and a warning says how many; the read
        never stops at a bad line (a missing file still raises).

    Returns
    -------
    TraceList
        The traces in file order, with ``skipped``.

    Raises
    ------
    TraceFormatError
        A malformed line (``on_error="raise"``), or a missing file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "bad.jsonl"
    >>> _ = p.write_text('{"format": "metacot.trace"\\n')
    >>> read_traces(p)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    metacot.errors.TraceFormatError: .../bad.jsonl, line 1: invalid JSON: ...
    """
    if on_error not in ("raise", "skip"):
        raise InvalidArgumentError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    path = Path(path)
    out = TraceList()
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise MissingInputError(path, "file") from None
    except IsADirectoryError:
        raise TraceFormatError(path, None, "is a folder, not a trace JSONL file") from None
    with f:
        # Binary lines split at b"\n" only (JSON Lines); each is decoded on its own.
        for lineno, raw in enumerate(f, start=1):
            try:
                trace = trace_from_line(path, lineno, raw)
            except TraceFormatError as e:
                if not raw.endswith(b"\n"):
                    e = TraceFormatError(path, lineno, f"{e.reason} (the last line has no line end: "
                                         "an interrupted write?)")
                if on_error == "raise":
                    raise e from None
                out.skipped.append(SkippedLine(str(path), lineno, e.reason))
                continue
            if trace is not None:
                out.append(trace)
    if out.skipped:
        lines = ", ".join(str(s.line) for s in out.skipped[:10])
        warnings.warn(
            f"{path}: skipped {len(out.skipped)} malformed line(s) (lines {lines}"
            f"{', ...' if len(out.skipped) > 10 else ''}); see the result's .skipped",
            stacklevel=2,
        )
    return out
