"""Input files read safely: every fault is a :class:`~metacot.errors.TraceFormatError` with file and line.

The readers of traces, ReasoningFlow files and problem sets all go through these helpers, so a
missing file, bytes that are not UTF-8, text that is not JSON and JSON nested too deep to decode
get the same clear error everywhere -- never a bare ``UnicodeDecodeError`` or ``RecursionError``
that would also abort a lenient (``on_error="skip"``) read.

JSONL lines are split at ``\\n`` only (the JSON Lines rule), in binary, and each line is decoded
on its own, so one bad line is reported with its number and does not hide the lines after it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from metacot.errors import MissingInputError, TraceFormatError

__all__ = ["DATA_DIR", "decode_json", "input_files", "is_blank", "iter_json_lines", "read_json_file"]

#: The project's data folder (``<repo>/data``). It exists in a source checkout, not in a wheel.
DATA_DIR = Path(__file__).resolve().parents[2] / "data"


def input_files(path: str | os.PathLike[str], pattern: str) -> list[Path]:
    """``path`` itself if it is a file, else the files of the folder ``path`` matching ``pattern``, by name.

    Raises
    ------
    TraceFormatError
        ``path`` does not exist, or is a folder with no matching file.

    Examples
    --------
    >>> [p.name for p in input_files(DATA_DIR / "problems", "a*.jsonl")]
    ['aime24.jsonl', 'amc23.jsonl']
    >>> input_files("no/such/file.jsonl", "*.jsonl")
    Traceback (most recent call last):
    ...
    metacot.errors.MissingInputError: no/such/file.jsonl: no such file or folder
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.glob(pattern) if p.is_file())
        if not files:
            raise TraceFormatError(path, None, f"no files matching {pattern!r} in this folder")
        return files
    if not path.exists():
        raise MissingInputError(path)
    return [path]


def decode_json(path: str | os.PathLike[str], line: int | None, raw: bytes | str) -> Any:
    """Decode one JSON text (a JSONL line, or a whole file with ``line=None``).

    Blank lines are the caller's to skip (see :func:`is_blank`): here a blank text is invalid JSON,
    so that a ``null`` record is never mistaken for a blank line.

    Raises
    ------
    TraceFormatError
        Bytes that are not UTF-8 (the message gives the byte offset), invalid JSON (line and
        column), a number too long to convert, or nesting too deep to decode.

    Examples
    --------
    >>> decode_json("x.jsonl", 3, b'{"a": [1, 2]}')
    {'a': [1, 2]}
    >>> decode_json("x.jsonl", 3, b'{"a": "\\xff"}')
    Traceback (most recent call last):
    ...
    metacot.errors.TraceFormatError: x.jsonl, line 3: not UTF-8 text: byte 0xff at offset 7 cannot be decoded
    >>> decode_json("x.jsonl", 4, "[" * 100_000)
    Traceback (most recent call last):
    ...
    metacot.errors.TraceFormatError: x.jsonl, line 4: JSON nested too deeply to read
    """
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise TraceFormatError(
                path, line, f"not UTF-8 text: byte 0x{raw[e.start]:02x} at offset {e.start} cannot be decoded"
            ) from None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as e:
        # A whole file (line None) is located by the decoder's line number.
        raise TraceFormatError(path, e.lineno if line is None else line, f"invalid JSON: {e.msg} (column {e.colno})") from None
    except RecursionError:
        raise TraceFormatError(path, line, "JSON nested too deeply to read") from None
    except ValueError as e:  # e.g. an integer literal of more digits than Python converts
        raise TraceFormatError(path, line, f"invalid JSON value: {e}") from None


def is_blank(raw: bytes | str) -> bool:
    """Whether a JSONL line holds only whitespace (such lines are ignored)."""
    return not raw.strip()


def iter_json_lines(path: str | os.PathLike[str]) -> Iterator[tuple[int, Any]]:
    """``(line number, decoded JSON)`` for every non-blank line of a JSONL file, 1-based.

    Each line is decoded when reached, so a malformed line raises
    :class:`~metacot.errors.TraceFormatError` only once the lines before it have been yielded.
    """
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise MissingInputError(path, "file") from None
    except IsADirectoryError:
        raise TraceFormatError(path, None, "is a folder, not a JSONL file") from None
    with f:
        for lineno, raw in enumerate(f, start=1):
            if not is_blank(raw):
                yield lineno, decode_json(path, lineno, raw)


def read_json_file(path: str | os.PathLike[str]) -> Any:
    """The decoded content of a whole JSON file (errors as :func:`decode_json`, ``line=None``)."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise MissingInputError(path, "file") from None
    return decode_json(path, None, raw)
