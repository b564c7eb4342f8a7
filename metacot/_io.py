"""Writing files safely: atomically, with the ordinary permissions.

Every file the package writes (traces, graphs, sweep cells and tables, caches) goes through
:func:`atomic_write`: the content goes to a temporary file in the destination folder, is flushed
to disk, and replaces the destination in one :func:`os.replace`, so a reader never sees a half
written file and a crash leaves the old file intact. The temporary file is created with mode
``0o666`` filtered by the process umask, the mode :func:`open` would give, so the result is
readable by whoever could read a file written the ordinary way (``tempfile.mkstemp`` would make
it ``0o600`` whatever the umask).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write"]


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
