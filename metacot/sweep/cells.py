r"""Sweep storage: one JSON file per finished cell, validated when read, and the tidy table compiled from them.

A finished cell is ``<key>.json`` in the cells folder, a failed one ``<key>.error.json``; both are
written atomically with the ordinary file mode (:func:`metacot._io.atomic_write`). A file that
does not hold a valid record of its cell (truncated or empty JSON, a missing key, a string where
a metric should be, a record of another cell...) is *corrupt*: :func:`read_cell` reports it with
a :class:`CorruptCellWarning` that names the file and says what is wrong, and treats the cell as
not run, so the next run recomputes it (overwriting the file) and the table step never fails on
it.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from metacot._io import atomic_write
from metacot.errors import MissingDependencyError
from metacot.sweep.metrics import RESERVED
from metacot.sweep.spec import Cell, SweepSpec, load_spec

__all__ = [
    "CorruptCellWarning",
    "cell_paths",
    "compile_table",
    "layout",
    "read_cell",
    "store",
    "stored_records",
    "write_text",
]


class CorruptCellWarning(UserWarning):
    """A stored sweep cell could not be used (the message names the file); the cell will be recomputed."""


def layout(out: str | os.PathLike) -> tuple[Path, Path]:
    """(table path, cells folder): ``OUT.parquet`` and ``OUT.cells/``, or ``OUT/results.parquet`` and ``OUT/cells/``."""
    out = Path(out)
    if out.suffix == ".parquet":
        return out, out.with_name(out.name + ".cells")
    return out / "results.parquet", out / "cells"


def cell_paths(cells_dir: Path, key: str) -> tuple[Path, Path]:
    """The files of a finished and of a failed cell."""
    return cells_dir / f"{key}.json", cells_dir / f"{key}.error.json"


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, with the ordinary (umask) file mode."""
    with atomic_write(path) as f:
        f.write(text)


def store(cells_dir: Path, record: dict) -> None:
    """Store one cell's record: ``<key>.json`` on success (removing an old error), else ``<key>.error.json``."""
    ok, bad = cell_paths(cells_dir, record["cell"])
    if record["error"] is None:
        write_text(ok, json.dumps(record))
        bad.unlink(missing_ok=True)
    else:
        write_text(bad, json.dumps(record))


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _problem(record: Any, cell: Cell, metrics: tuple[str, ...], failed: bool) -> str | None:
    """What is wrong with ``record`` as the stored result of ``cell``, or None when it is valid."""
    if not isinstance(record, dict):
        return f"expected a JSON object, got {type(record).__name__}"
    need = ("cell", "index", "family", "params", "n_walkers", "max_steps", "replicate", "seed", "metrics",
            "backend", "time", "host", "error")
    missing = [k for k in need if k not in record]
    if missing:
        return f"missing key(s) {', '.join(map(repr, missing))}"
    if record["cell"] != cell.key:
        return f"holds the record of cell {record['cell']!r}, not {cell.key!r}"
    checks = {
        "index": _is_int(record["index"]),
        "family": isinstance(record["family"], str),
        "params": isinstance(record["params"], dict),
        "n_walkers": record["n_walkers"] is None or _is_int(record["n_walkers"]),
        "max_steps": record["max_steps"] is None or _is_int(record["max_steps"]),
        "replicate": _is_int(record["replicate"]),
        "seed": _is_int(record["seed"]) and 0 <= record["seed"] < 1 << 64,
        "metrics": isinstance(record["metrics"], dict),
        "backend": record["backend"] is None or isinstance(record["backend"], str),
        "time": _is_number(record["time"]),
        "host": record["host"] is None or isinstance(record["host"], str),
        "error": isinstance(record["error"], str) if failed else record["error"] is None,
    }
    wrong = [k for k, good in checks.items() if not good]
    if wrong:
        return f"key {wrong[0]!r} has an invalid value {record[wrong[0]]!r}"
    values = record["metrics"]
    for m in metrics:
        if m not in values:
            if failed:
                continue  # a task that died as a whole records no metric
            return f"metric {m!r} is missing"
        v = values[m]
        if v is not None and not _is_number(v):
            return f"metric {m!r} is not a number: {v!r}"
    return None


def read_cell(path: Path, cell: Cell, metrics: tuple[str, ...]) -> dict | None:
    """The record stored in ``path`` for ``cell``, or None (with a :class:`CorruptCellWarning`) if it is unusable.

    Parameters
    ----------
    path : Path
        ``<key>.json`` or ``<key>.error.json``.
    cell : Cell
        The cell the file should hold.
    metrics : tuple of str
        The metrics every finished record must hold, each a number (or null, for NaN written by
        another JSON writer).

    Returns
    -------
    dict or None
        The record, with ``index`` set to the cell's position in this grid (a cell's key does
        not depend on its position, so a record written by a run on another grid carries that
        grid's index).
    """
    failed = path.name.endswith(".error.json")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as err:
        problem = f"unreadable ({type(err).__name__}: {err})"
    else:
        problem = _problem(record, cell, metrics, failed)
    if problem is not None:
        warnings.warn(f"sweep cell file {path}: {problem}; the cell is treated as not run and will be recomputed",
                      CorruptCellWarning, stacklevel=3)
        return None
    record["index"] = cell.index
    record["metrics"] = {k: (math.nan if v is None else v) for k, v in record["metrics"].items()}
    return record


def stored_records(spec: SweepSpec, cells_dir: Path) -> tuple[dict[str, dict], dict[str, dict]]:
    """The valid records stored for the cells of ``spec``: (finished, failed), each by cell key.

    Corrupt files are reported (:func:`read_cell`) and left out, so their cells count as not run.
    """
    ok: dict[str, dict] = {}
    bad: dict[str, dict] = {}
    if not cells_dir.is_dir():
        return ok, bad
    names = {p.name for p in cells_dir.iterdir() if not p.name.startswith(".")}
    for c in spec.cells():
        good_path, error_path = cell_paths(cells_dir, c.key)
        if good_path.name in names:
            rec = read_cell(good_path, c, spec.metrics)
            if rec is not None:
                ok[c.key] = rec
                continue
        if error_path.name in names:
            rec = read_cell(error_path, c, spec.metrics)
            if rec is not None:
                bad[c.key] = rec
    return ok, bad


def _rows(spec: SweepSpec, records: list[dict]) -> pd.DataFrame:
    """The tidy table of some records, in grid order."""
    params = list(spec.grid)
    rename = {p: (f"param_{p}" if p in RESERVED or p in spec.metrics else p) for p in params}
    rows = []
    for r in sorted(records, key=lambda r: r["index"]):
        row = {"cell": r["cell"], "index": r["index"], "family": r["family"]}
        row.update({rename[p]: r["params"].get(p) for p in params})
        row.update({"n_walkers": r["n_walkers"], "max_steps": r["max_steps"], "replicate": r["replicate"],
                    "seed": r["seed"]})
        row.update({m: r["metrics"].get(m, math.nan) for m in spec.metrics})
        row.update({"backend": r["backend"], "time": r["time"], "host": r["host"], "error": r["error"]})
        rows.append(row)
    columns = ["cell", "index", "family", *rename.values(), "n_walkers", "max_steps", "replicate", "seed",
               *spec.metrics, "backend", "time", "host", "error"]
    table = pd.DataFrame(rows, columns=columns)
    for col in rename.values():
        if table[col].map(lambda v: isinstance(v, (list, dict))).any():
            # parquet needs one type per column: keep list-valued parameters as their JSON text
            table[col] = table[col].map(json.dumps)
    table["seed"] = table["seed"].astype("uint64")
    for col in ("n_walkers", "max_steps"):
        table[col] = table[col].astype("Int64")
    for m in spec.metrics:
        table[m] = table[m].astype("float64")
    table["error"] = table["error"].astype("string")
    return table


def compile_table(spec: str | os.PathLike | Any, out: str | os.PathLike) -> pd.DataFrame:
    """Compile the tidy table from the cell files of ``out`` and write it as parquet.

    Cells not yet run are absent from the table; failed cells appear with their ``error``;
    corrupt cell files are reported (a :class:`CorruptCellWarning` naming the file) and left out.

    Parameters
    ----------
    spec : SweepSpec, mapping or path
    out : path
        As in :func:`metacot.sweep.run_sweep`.

    Returns
    -------
    DataFrame
    """
    spec = spec if isinstance(spec, SweepSpec) else load_spec(spec)
    table_path, cells_dir = layout(out)
    ok, bad = stored_records(spec, cells_dir)
    records = [ok.get(c.key) or bad[c.key] for c in spec.cells() if c.key in ok or c.key in bad]
    table = _rows(spec, records)
    try:
        import pyarrow  # noqa: F401
    except ImportError as err:
        raise MissingDependencyError("writing the sweep table needs pyarrow; pip install 'metacot[dist]'") from err
    table_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(table_path, binary=True) as f:
        table.to_parquet(f, index=False)
    return table
