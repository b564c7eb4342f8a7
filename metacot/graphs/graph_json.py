"""The JSON file format of behaviour graphs: checks of the arrays, reading and writing.

A saved graph is one JSON object (schema :data:`FORMAT`, version :data:`SCHEMA_VERSION`)::

    {"format": "metacot.behaviour_graph", "version": 1,
     "states": ["normal", "deep", "reflect", "explore"],
     "P": [[...], ...], "counts": [[...], ...] | null, "marginal": [...] | null,
     "posterior": [[...], ...] | null,
     "provenance": {"method": ..., "sources": [...], "labeller": ..., "created": ...,
                    "metacot_version": ..., "notes": ..., "extra": {...}}}

:func:`read` accepts any bytes: it returns the fields of a valid graph or raises
:class:`~metacot.errors.GraphFormatError` naming the file and the field (``"<root>"`` for the
document as a whole: not UTF-8, not JSON, nested too deep). :func:`write` replaces the file
atomically through :func:`metacot._io.atomic_write`, with the mode an ordinary file would get.
The model object itself, :class:`~metacot.graphs.behaviour_graph.BehaviourGraph`, builds on these.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from metacot._io import atomic_write
from metacot.behaviours import Behaviour
from metacot.errors import GraphFormatError, InvalidArgumentError
from metacot.graphs.provenance import Provenance
from metacot.markov.chain import ROW_SUM_TOL

__all__ = ["FORMAT", "SCHEMA_VERSION", "check_matrix", "check_vector", "parse", "read", "write"]

#: ``format`` tag and schema version of saved graphs.
FORMAT = "metacot.behaviour_graph"
SCHEMA_VERSION = 1

_FIELDS = frozenset({"format", "version", "states", "P", "counts", "marginal", "posterior", "provenance"})
_PROVENANCE_FIELDS = frozenset({"method", "sources", "labeller", "created", "metacot_version", "notes", "extra"})


def check_matrix(x: Any, k: int, name: str, *, stochastic: bool = False, positive: bool = False) -> np.ndarray:
    """``x`` as a finite ``(k, k)`` float matrix, non-negative (or ``positive``), row-stochastic on request.

    Rows of a stochastic matrix must sum to 1 within :data:`metacot.markov.chain.ROW_SUM_TOL`; they
    are never renormalised here. Raises :class:`~metacot.errors.InvalidArgumentError` naming the entry.

    Examples
    --------
    >>> check_matrix([[0.5, 0.5], [1, 0]], 2, "P", stochastic=True).tolist()
    [[0.5, 0.5], [1.0, 0.0]]
    """
    a = np.array(x, dtype=np.float64)
    if a.shape != (k, k):
        raise InvalidArgumentError(f"{name} must have shape ({k}, {k}), got {a.shape}")
    bad = ~np.isfinite(a) | ((a <= 0) if positive else (a < 0))
    if bad.any():
        i, j = map(int, np.argwhere(bad)[0])
        want = "positive" if positive else "non-negative"
        raise InvalidArgumentError(f"{name}[{i}, {j}] = {float(a[i, j])!r} must be finite and {want}")
    if stochastic:
        off = np.flatnonzero(np.abs(a.sum(axis=1) - 1.0) > ROW_SUM_TOL)
        if off.size:
            i = int(off[0])
            raise InvalidArgumentError(
                f"row {i} of {name} sums to {float(a[i].sum())!r}, not 1 (tolerance {ROW_SUM_TOL:g})"
            )
    return a


def check_vector(x: Any, k: int, name: str) -> np.ndarray:
    """``x`` as a probability vector of length ``k`` (finite, non-negative, summing to 1).

    Examples
    --------
    >>> check_vector([0.25, 0.75], 2, "marginal").tolist()
    [0.25, 0.75]
    """
    m = np.array(x, dtype=np.float64)
    if m.shape != (k,):
        raise InvalidArgumentError(f"{name} must have shape ({k},), got {m.shape}")
    bad = ~np.isfinite(m) | (m < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidArgumentError(f"{name}[{i}] = {float(m[i])!r} must be finite and non-negative")
    if abs(m.sum() - 1.0) > ROW_SUM_TOL:
        raise InvalidArgumentError(f"{name} sums to {float(m.sum())!r}, not 1")
    return m


def _numbers(v: Any, depth: int) -> bool:
    """Whether ``v`` is a list nested ``depth`` deep holding only JSON numbers (no bools, no strings)."""
    if depth == 0:
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    return isinstance(v, list) and all(_numbers(x, depth - 1) for x in v)


def parse(d: Any, path: object = "<dict>") -> dict[str, Any]:
    """Check a decoded graph document; return the keyword arguments of ``BehaviourGraph``.

    Raises
    ------
    GraphFormatError
        Naming ``path`` and the first field that is missing, unknown or wrong.
    """
    if not isinstance(d, Mapping):
        raise GraphFormatError(path, "<root>", f"expected a JSON object, got {type(d).__name__}")
    if d.get("format") != FORMAT:
        raise GraphFormatError(path, "format", f"is {d.get('format')!r}, expected {FORMAT!r}")
    version = d.get("version")
    if isinstance(version, bool) or version != SCHEMA_VERSION:
        raise GraphFormatError(path, "version", f"is {version!r}; this metacot reads version {SCHEMA_VERSION}")
    unknown = sorted(set(d) - _FIELDS)
    if unknown:
        raise GraphFormatError(path, unknown[0], "unknown field")
    states = d.get("states")
    if not isinstance(states, list) or not states or not all(isinstance(s, str) for s in states):
        raise GraphFormatError(path, "states", f"must be a non-empty list of behaviour names, got {states!r}")
    try:
        states_t = tuple(Behaviour(s) for s in states)
    except ValueError:
        raise GraphFormatError(
            path, "states", f"{states!r} holds a name that is not one of {[b.value for b in Behaviour]}"
        ) from None
    if len(set(states_t)) != len(states_t):
        dup = next(s for i, s in enumerate(states) if s in states[:i])
        raise GraphFormatError(path, "states", f"names {dup!r} twice; every state must appear once")
    k = len(states_t)

    def array(name: str, required: bool, **check: bool) -> np.ndarray | None:
        v = d.get(name)
        if v is None:
            if required:
                raise GraphFormatError(path, name, "is missing")
            return None
        if not _numbers(v, 1 if name == "marginal" else 2):
            raise GraphFormatError(path, name, "must be an array of numbers" if name == "marginal"
                                   else "must be an array of arrays of numbers")
        try:
            if name == "marginal":
                return check_vector(v, k, name)
            return check_matrix(v, k, name, **check)
        except InvalidArgumentError as e:
            raise GraphFormatError(path, name, str(e)) from None
        except OverflowError:  # an integer too large for a float
            raise GraphFormatError(path, name, "holds a number too large for a float") from None
        except ValueError:  # rows of different lengths
            raise GraphFormatError(path, name, "is ragged: its rows have different lengths") from None

    out: dict[str, Any] = {
        "states": states_t,
        "P": array("P", True, stochastic=True),
        "counts": array("counts", False),
        "marginal": array("marginal", False),
        "posterior": array("posterior", False, positive=True),
    }
    prov = d.get("provenance")
    if not isinstance(prov, Mapping):
        raise GraphFormatError(path, "provenance", f"must be an object, got {type(prov).__name__}")
    bad = sorted(set(prov) - _PROVENANCE_FIELDS)
    if bad:
        raise GraphFormatError(path, f"provenance.{bad[0]}", "unknown field")
    if not isinstance(prov.get("method"), str):
        raise GraphFormatError(path, "provenance.method", "must be a string")
    if not isinstance(prov.get("sources", []), list):
        raise GraphFormatError(path, "provenance.sources", "must be a list of strings")
    try:
        out["provenance"] = Provenance(**{**prov, "sources": tuple(prov.get("sources", []))})
    except InvalidArgumentError as e:
        raise GraphFormatError(path, "provenance", str(e)) from None
    return out


def read(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check the graph file at ``path``: the keyword arguments of ``BehaviourGraph``.

    Raises
    ------
    GraphFormatError
        For any content that is not a valid graph (not UTF-8, not JSON, nested too deep for the
        parser, a bad field), naming the file and the field.
    OSError
        When the file cannot be read at all (missing, a folder, no permission).
    """
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise GraphFormatError(path, "<root>", f"not UTF-8 text (byte {e.start}: {raw[e.start:e.start + 1]!r})") from None
    try:
        d = json.loads(text)
    except json.JSONDecodeError as e:
        raise GraphFormatError(path, "<root>", f"not valid JSON (line {e.lineno}): {e.msg}") from None
    except RecursionError:
        raise GraphFormatError(path, "<root>", "JSON nested too deeply to read") from None
    return parse(d, path)


def write(path: str | os.PathLike[str], document: Mapping[str, Any]) -> Path:
    """Write ``document`` as indented JSON to ``path``, atomically (ordinary mode, umask respected)."""
    path = Path(path)
    text = json.dumps(document, indent=2, allow_nan=False)
    with atomic_write(path) as f:
        f.write(text + "\n")
    return path
