"""Writing files safely: atomically, with the ordinary permissions.

Every file the package writes (traces, graphs, sweep cells and tables, caches) goes through
:func:`atomic_write`: the content goes to a temporary file in the destination folder, is flushed
to disk, and replaces the destination in one :func:`os.replace`, so a reader never sees a half
written file and a crash leaves the old file intact. The temporary file is created with mode
``0o666`` filtered by the process umask, the mode :func:`open` would give, so the result is
readable by whoever could read a file written the ordinary way (``tempfile.mkstemp`` would make
it ``0o600`` whatever the umask).

Files that grow record by record over a long run (MoLE-Syn output, caches of judge labels) are
resumable JSONL instead: :func:`open_jsonl_appender` appends each record as one whole line, then
flushes and fsyncs, so after a crash the file holds complete records plus at most one torn last
line; :func:`read_jsonl_lines` (and :meth:`JsonlAppender.existing`) find and report that line.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from metacot.errors import InvalidArgumentError

__all__ = ["JsonlAppender", "JsonlLines", "TornLine", "atomic_write", "open_jsonl_appender", "read_jsonl_lines"]


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], *, binary: bool = False, encoding: str = "utf-8") -> Iterator[IO[Any]]:
    """Open a temporary file that replaces ``path`` when the ``with`` block ends without error.

    Parameters
    ----------
    path : path-like
        The destination; its folder must exist.
    binary : bool
        Open in binary mode instead of text mode.
    encoding : str
        Text encoding (text mode only).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_write(d / "x.txt") as f:
    ...     _ = f.write("hello")
    >>> (d / "x.txt").read_text()
    'hello'
    """
    path = Path(path)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    # O_EXCL: never follow or reuse somebody else's file; 0o666 is filtered by the umask here.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": encoding})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


# --------------------------------------------------------------------------------------------
# resumable JSONL: whole lines appended one at a time, a torn last line detected and cut off
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TornLine:
    """The last line of a JSONL file that has no line end: a write interrupted by a crash or kill.

    Attributes
    ----------
    path : str
        The file.
    line : int
        1-based number of the torn line.
    offset : int
        Byte offset where it starts (the file is cut back to this length).
    size : int
        Its length in bytes.
    """

    path: str
    line: int
    offset: int
    size: int

    def describe(self) -> str:
        """One sentence for a warning or an error message."""
        return (f"{self.path}: line {self.line} was torn ({self.size} bytes without a line end, "
                "from an interrupted write)")


@dataclass(frozen=True)
class JsonlLines:
    """The complete lines of a JSONL file, as :func:`read_jsonl_lines` found them.

    Attributes
    ----------
    lines : list of (int, bytes)
        ``(line number, raw bytes without the line end)`` of every complete line, blank ones
        included, in file order; line numbers are 1-based.
    torn : TornLine or None
        The last line if it has no line end, else ``None``. It is *not* in ``lines``.
    """

    lines: list[tuple[int, bytes]]
    torn: TornLine | None


def read_jsonl_lines(source: str | os.PathLike[str] | IO[bytes], path: str | None = None) -> JsonlLines:
    r"""Split a JSONL file into its complete lines and, apart, a torn last line.

    An appender that writes each record as one whole line followed by ``\n`` (see
    :class:`JsonlAppender`) leaves after a crash a file of complete lines plus at most one last
    line with no ``\n``: that one is reported as :attr:`JsonlLines.torn`, never parsed. Lines are
    returned as bytes: decoding (UTF-8, JSON) and the meaning of a record are the caller's.

    Parameters
    ----------
    source : path-like or binary file
        The file, or a binary file object positioned anywhere (it is read from the start).
    path : str, optional
        Name used in :class:`TornLine` when ``source`` is a file object.

    Examples
    --------
    >>> import io
    >>> r = read_jsonl_lines(io.BytesIO(b'{"a": 1}\n\n{"a": 2'), path="x.jsonl")
    >>> r.lines, r.torn
    ([(1, b'{"a": 1}'), (2, b'')], TornLine(path='x.jsonl', line=3, offset=10, size=7))
    """
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            return read_jsonl_lines(f, str(source) if path is None else path)
    source.seek(0)
    name = path if path is not None else str(getattr(source, "name", "<stream>"))
    lines: list[tuple[int, bytes]] = []
    offset = 0
    torn = None
    for lineno, raw in enumerate(source, start=1):
        if not raw.endswith(b"\n"):
            torn = TornLine(name, lineno, offset, len(raw))
            break
        lines.append((lineno, raw[:-1]))
        offset += len(raw)
    return JsonlLines(lines, torn)


class JsonlAppender:
    """A JSONL file open for appending whole records, each one flushed and fsynced.

    Made by :func:`open_jsonl_appender`; :meth:`existing` reads what the file holds (cutting
    off a torn last line), :meth:`append` adds one record.
    """

    def __init__(self, f: IO[bytes], path: Path) -> None:
        self._f = f
        self.path = path
        #: The torn last line cut off by :meth:`existing`, if there was one.
        self.torn: TornLine | None = None

    def existing(self) -> list[tuple[int, bytes]]:
        """The complete lines already in the file (see :func:`read_jsonl_lines`).

        A torn last line is cut off the file (truncate, then fsync), recorded in :attr:`torn`
        and reported with a :class:`UserWarning`; the record it held was never complete, so the
        caller should produce it again.
        """
        found = read_jsonl_lines(self._f, str(self.path))
        if found.torn is not None:
            self._f.truncate(found.torn.offset)
            self._f.flush()
            os.fsync(self._f.fileno())
            self.torn = found.torn
            warnings.warn(f"{found.torn.describe()}; cut it off, its record will be written again", stacklevel=2)
        return found.lines

    def append(self, record: Any) -> None:
        """Write ``record`` as one JSON line (UTF-8, no ASCII escaping), then flush and fsync.

        The line is encoded completely before the single write, so a failure while encoding
        (a value JSON cannot hold) writes nothing, and a crash during the write leaves at most
        one torn last line, which :meth:`existing` removes on the next run.
        """
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        self._f.seek(0, os.SEEK_END)
        self._f.write(line)
        self._f.flush()
        os.fsync(self._f.fileno())


@contextlib.contextmanager
def open_jsonl_appender(path: str | os.PathLike[str], *, exclusive: bool = True) -> Iterator[JsonlAppender]:
    """Open (creating if needed) a resumable JSONL file for whole-line appends.

    The file is created with the ordinary mode (``0o666`` filtered by the umask). With
    ``exclusive`` an advisory ``flock`` is taken (POSIX only), so two processes cannot append to
    one file at once.

    Parameters
    ----------
    path : path-like
        The file; its folder must exist.
    exclusive : bool
        Take the exclusive lock; a file locked by another process raises
        :class:`~metacot.errors.InvalidArgumentError` naming it.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.jsonl"
    >>> with open_jsonl_appender(p) as log:
    ...     log.existing()
    ...     log.append({"key": "a", "value": 1})
    []
    >>> p.read_text()
    '{"key": "a", "value": 1}\\n'
    """
    path = Path(path)
    f = open(path, "a+b")  # closed in the finally below, after the lock
    try:
        if exclusive:
            _lock(f, path)
        yield JsonlAppender(f, path)
    finally:
        f.close()


def _lock(f: IO[bytes], path: Path) -> None:
    try:
        import fcntl
    except ImportError:  # not POSIX: no advisory lock; the documented single-writer rule still holds
        return
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise InvalidArgumentError(f"{path} is being written by another process; wait for it or use another file") from None
