r"""Parameter sweeps: a grid spec, tasks on local processes or a Dask cluster, one tidy table.

A sweep is the Cartesian product of the values of a chain family's parameters (``grid``), of the
experiment's parameters (``run``: ``n_walkers``, ``max_steps``) and of ``replicates``. Every
*cell* of the product builds one chain, optionally simulates it, and computes the requested
metrics (:data:`METRICS`). The result is one tidy table, one row per cell: the parameters, the
replicate, the cell's seed, the metrics, the backend that ran, the seconds spent, the host, and
the error if the cell failed (errors are recorded, never dropped).

Reproducibility. A cell's seed is

.. math:: s = \operatorname{BLAKE2b}_{64}\bigl(\text{canonical JSON of (family, parameters,
          n\_walkers, max\_steps, replicate)} \,\|\, \text{master seed}\bigr),

a function of the cell alone, never of the order, the worker or the scheduler that ran it, so a
local run and a Dask run give the same table (apart from the ``time`` and ``host`` columns), and
so does a resumed run.

Resumability. Every finished cell is written atomically (a temporary file, then
:func:`os.replace`) as ``<key>.json`` in a cells folder, where ``key`` hashes the cell and the
metrics asked for; failed cells go to ``<key>.error.json``. A rerun skips finished cells and
retries failed ones, then the table is compiled from the cell files in grid order and written as
parquet. An interrupted sweep therefore loses at most the cells in flight, and never duplicates
one.

Scale-out. Cells are grouped into tasks (a few per worker). Tasks run in a local process pool
(:mod:`concurrent.futures`, spawned processes) by default, in this process with ``workers=0``,
or on a Dask distributed cluster (``scheduler="tcp://host:8786"`` or a ``distributed.Client``),
where each worker simulates on its GPU when it has one (``backend="auto"``). On a GPU worker the
simulations of a task run as one batched kernel launch (:func:`metacot.simulation.engine.simulate_many`).
The driver alone writes files, so workers need no shared file system.

The spec (TOML or the same structure as a dict)::

    family = "line_of_cliques"          # a name in metacot.markov.families, or "package.module:function"
    seed = 0                            # master seed
    replicates = 2                      # optional, default 1
    metrics = ["exact_mean", "sim_mean", "sim_stderr", "censored_share"]
    backend = "auto"                    # optional; the command line's --backend wins

    [grid]                              # family parameters: a list is swept, a scalar is fixed
    K = [2, 4, 8]
    M = 16
    eps = [0.1, 0.01]                   # a list-valued parameter is written [[...]]: q_range = [[1.0, 2.0]]

    [run]                               # needed when a metric simulates
    n_walkers = 1000
    max_steps = [10_000, 100_000]
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import inspect
import itertools
import json
import math
import os
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from metacot.errors import InvalidArgumentError, MissingDependencyError

__all__ = [
    "METRICS",
    "Cell",
    "Metric",
    "SweepSpec",
    "compile_table",
    "load_spec",
    "register",
    "register_metric",
    "run_sweep",
]

#: Keys of a spec (top level).
SPEC_KEYS = ("family", "grid", "run", "metrics", "seed", "replicates", "backend")
#: Keys of a spec's ``run`` table.
RUN_KEYS = ("n_walkers", "max_steps")
#: Metrics computed when a spec names none.
DEFAULT_METRICS = ("exact_mean", "sim_mean", "sim_stderr", "censored_share")
#: Columns every row has; a family parameter of the same name is renamed ``param_<name>``.
RESERVED = ("cell", "index", "family", "n_walkers", "max_steps", "replicate", "seed", "backend", "time",
            "host", "error")
#: Tasks per worker when ``cells_per_task`` is not given (small enough to balance the load and
#: to lose little on an interruption; large enough to batch GPU launches).
TASKS_PER_WORKER = 8
_MAX_CELLS_PER_TASK = 256


# --------------------------------------------------------------------------- metrics
@dataclasses.dataclass(frozen=True)
class Metric:
    """A named quantity computed for every cell.

    Attributes
    ----------
    name : str
        Column name in the table.
    fn : callable
        ``fn(ctx) -> float`` with ``ctx`` a :class:`_Context` (``ctx.chain``, ``ctx.sim``,
        ``ctx.exact_mean()``, ``ctx.cell``).
    simulate : bool
        Whether the metric needs the cell's :class:`~metacot.simulation.engine.Simulation`.
    doc : str
        One line for ``--help`` and error messages.
    """

    name: str
    fn: Callable[[Any], float]
    simulate: bool
    doc: str


#: The metric registry: name -> :class:`Metric`. Add your own with :func:`register_metric`.
METRICS: dict[str, Metric] = {}


def register_metric(name: str, *, simulate: bool = False) -> Callable:
    r"""Decorator adding ``fn(ctx) -> float`` to :data:`METRICS` under ``name``.

    A metric registered in a script exists only in processes that ran the script: use
    ``workers=0`` for such metrics, or register them in a module the workers import.

    Parameters
    ----------
    name : str
        Column name; must not be a reserved column (:data:`RESERVED`).
    simulate : bool
        True when the metric reads ``ctx.sim`` (the cell then needs ``n_walkers`` and ``max_steps``).

    Examples
    --------
    >>> @register_metric("n_edges")
    ... def _n_edges(ctx):
    ...     return float(ctx.chain.nnz)
    >>> "n_edges" in METRICS
    True
    >>> _ = METRICS.pop("n_edges")
    """
    if name in RESERVED:
        raise InvalidArgumentError(f"metric name {name!r} is a reserved column ({', '.join(RESERVED)})")

    def add(fn: Callable[[Any], float]) -> Callable[[Any], float]:
        METRICS[name] = Metric(name, fn, simulate, (fn.__doc__ or "").strip().split("\n")[0])
        return fn

    return add


@dataclasses.dataclass
class _Context:
    """What a metric sees: the cell, its chain, its simulation (or None), a cached exact mean."""

    cell: Cell
    chain: Any
    sim: Any = None
    _exact: float | None = None

    def exact_mean(self) -> float:
        if self._exact is None:
            from metacot.markov import exact

            self._exact = float(exact.mean_hitting_time(self.chain))
        return self._exact


@register_metric("n_states")
def _m_n_states(ctx):
    """Number of states of the chain."""
    return float(ctx.chain.n_states)


@register_metric("exact_mean")
def _m_exact_mean(ctx):
    r"""Exact :math:`\mathbb E[\tau]` from the start (one sparse LU solve)."""
    return ctx.exact_mean()


@register_metric("sim_mean", simulate=True)
def _m_sim_mean(ctx):
    r"""Monte Carlo mean of :math:`\min(\tau, \text{max\_steps})` (equals :math:`\hat{\mathbb E}[\tau]` without censoring)."""
    return ctx.sim.mean(restricted=True).value


@register_metric("sim_stderr", simulate=True)
def _m_sim_stderr(ctx):
    """Standard error of sim_mean."""
    return ctx.sim.mean(restricted=True).stderr


@register_metric("censored_share", simulate=True)
def _m_censored(ctx):
    """Share of walkers that did not hit the target within max_steps."""
    return ctx.sim.n_censored / ctx.sim.n_walkers


@register_metric("sim_rel_error", simulate=True)
def _m_rel_error(ctx):
    """sim_mean / exact_mean - 1 (biased low when walkers are censored)."""
    return ctx.sim.mean(restricted=True).value / ctx.exact_mean() - 1.0


# --------------------------------------------------------------------------- spec
def _families() -> dict[str, Callable]:
    from metacot.markov import families

    return {name: getattr(families, name) for name in families.__all__ if name != "from_networkx"}


def _resolve_family(name: Any, where: str) -> Callable:
    """A family constructor from its name in :mod:`metacot.markov.families` or a ``module:function`` path."""
    known = _families()
    if isinstance(name, str) and name in known:
        return known[name]
    if isinstance(name, str) and ":" in name:
        mod, _, attr = name.partition(":")
        try:
            fn = getattr(importlib.import_module(mod), attr)
        except (ImportError, AttributeError) as err:
            raise InvalidArgumentError(f"{where}: key 'family': cannot import {name!r} ({err})") from err
        if callable(fn):
            return fn
    raise InvalidArgumentError(
        f"{where}: key 'family': unknown chain family {name!r}; known: {', '.join(sorted(known))}, "
        "or 'package.module:function'"
    )


@dataclasses.dataclass(frozen=True)
class Cell:
    """One point of a sweep grid.

    Attributes
    ----------
    index : int
        Position in grid order (the row order of the table).
    family : str
        The family name as given in the spec.
    params : dict
        Keyword arguments of the family constructor.
    n_walkers, max_steps : int or None
        Simulation size (None when no metric simulates).
    replicate : int
        Replicate number, ``0 .. replicates - 1``.
    seed : int
        The cell's 64-bit seed (see the module docstring).
    key : str
        Stable hash of the cell, its master seed and its metrics: the name of its result file.
    """

    index: int
    family: str
    params: dict
    n_walkers: int | None
    max_steps: int | None
    replicate: int
    seed: int
    key: str


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """A validated sweep: see the module docstring for the fields. Build it with :func:`load_spec`."""

    family: str
    grid: dict[str, list]
    run: dict[str, list]
    metrics: tuple[str, ...]
    seed: int
    replicates: int
    backend: str

    @property
    def needs_simulation(self) -> bool:
        return any(METRICS[m].simulate for m in self.metrics)

    def cells(self) -> list[Cell]:
        r"""Every cell in grid order (family parameters vary slowest, replicates fastest).

        Examples
        --------
        >>> spec = load_spec({"family": "line_of_cliques", "grid": {"K": [2, 3], "M": 4, "eps": 0.1},
        ...                   "metrics": ["exact_mean"], "replicates": 2})
        >>> [(c.params["K"], c.replicate) for c in spec.cells()]
        [(2, 0), (2, 1), (3, 0), (3, 1)]
        """
        names = list(self.grid)
        run_names = [k for k in RUN_KEYS if k in self.run]
        out = []
        combos = itertools.product(*(self.grid[k] for k in names), *(self.run[k] for k in run_names),
                                   range(self.replicates))
        for i, combo in enumerate(combos):
            params = dict(zip(names, combo[: len(names)]))
            run = dict(zip(run_names, combo[len(names) : len(names) + len(run_names)]))
            rep = combo[-1]
            ident = {"family": self.family, "params": params, "n_walkers": run.get("n_walkers"),
                     "max_steps": run.get("max_steps"), "replicate": rep}
            digest = hashlib.blake2b(_canonical(ident) + self.seed.to_bytes(8, "little"), digest_size=8,
                                     person=b"metacot-seed").digest()
            seed = int.from_bytes(digest, "little")
            key = hashlib.blake2b(_canonical({**ident, "master_seed": self.seed, "metrics": sorted(self.metrics)}),
                                  digest_size=12, person=b"metacot-cell").hexdigest()
            out.append(Cell(i, self.family, params, run.get("n_walkers"), run.get("max_steps"), rep, seed, key))
        return out


def _as_values(value: Any, key: str, where: str) -> list:
    """A grid entry as its list of values (a scalar is one value); each value must be JSON data."""
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if not values:
        raise InvalidArgumentError(f"{where}: key {key!r}: an empty list sweeps nothing")
    for v in values:
        try:
            _canonical(v)
        except (TypeError, ValueError) as err:
            raise InvalidArgumentError(f"{where}: key {key!r}: value {v!r} is not plain data ({err})") from err
    return values


def load_spec(source: str | os.PathLike | Mapping) -> SweepSpec:
    """Read and validate a sweep spec from a TOML file or a dict.

    Every error names the offending key (``grid.K``, ``run.n_walkers``, ``metrics``, ...) and,
    for a file, the file.

    Parameters
    ----------
    source : path or mapping
        A ``.toml`` file, or a dict of the same structure (see the module docstring).

    Returns
    -------
    SweepSpec

    Raises
    ------
    InvalidArgumentError
        Malformed TOML (with its line and column), an unknown key, a family that does not exist
        or does not take a parameter of the grid, a missing required parameter, an unknown
        metric, a non-positive count, or a simulating metric without ``run.n_walkers`` and
        ``run.max_steps``.

    Examples
    --------
    >>> spec = load_spec({"family": "line_of_cliques", "grid": {"K": [2, 4], "M": 8, "eps": [0.1, 0.01]},
    ...                   "run": {"n_walkers": 100, "max_steps": 10_000}})
    >>> len(spec.cells()), spec.metrics
    (4, ('exact_mean', 'sim_mean', 'sim_stderr', 'censored_share'))
    >>> load_spec({"family": "line_of_cliques", "grid": {"K": 2, "M": 8, "eps": 0.1, "L": 3}})
    Traceback (most recent call last):
    ...
    metacot.errors.InvalidArgumentError: sweep spec: key 'grid.L': line_of_cliques() has no parameter 'L' (it takes K, M, eps, q)
    """
    if isinstance(source, Mapping):
        where = "sweep spec"
        data = dict(source)
    else:
        import tomllib

        path = Path(source)
        where = f"sweep spec {path}"
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except FileNotFoundError as err:
            raise InvalidArgumentError(f"{where}: no such file") from err
        except tomllib.TOMLDecodeError as err:
            raise InvalidArgumentError(f"{where}: invalid TOML: {err}") from err

    unknown = [k for k in data if k not in SPEC_KEYS]
    if unknown:
        raise InvalidArgumentError(f"{where}: key {unknown[0]!r}: unknown key; valid keys are {', '.join(SPEC_KEYS)}")
    if "family" not in data:
        raise InvalidArgumentError(f"{where}: key 'family': missing (e.g. family = \"line_of_cliques\")")
    family = data["family"]
    fn = _resolve_family(family, where)

    grid_in = data.get("grid", {})
    if not isinstance(grid_in, Mapping):
        raise InvalidArgumentError(f"{where}: key 'grid': must be a table of family parameters")
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        sig = None
    grid = {}
    for k, v in grid_in.items():
        if sig is not None and k not in sig.parameters and not any(
            p.kind is p.VAR_KEYWORD for p in sig.parameters.values()
        ):
            takes = ", ".join(p for p in sig.parameters)
            raise InvalidArgumentError(f"{where}: key 'grid.{k}': {family}() has no parameter {k!r} (it takes {takes})")
        grid[k] = _as_values(v, f"grid.{k}", where)
    if sig is not None:
        missing = [p.name for p in sig.parameters.values()
                   if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in grid]
        if missing:
            raise InvalidArgumentError(f"{where}: key 'grid.{missing[0]}': {family}() needs it and the grid has no value")

    metrics_in = data.get("metrics", list(DEFAULT_METRICS))
    if isinstance(metrics_in, str) or not isinstance(metrics_in, (list, tuple)) or not metrics_in:
        raise InvalidArgumentError(f"{where}: key 'metrics': must be a non-empty list of names from {sorted(METRICS)}")
    for i, m in enumerate(metrics_in):
        if m not in METRICS:
            raise InvalidArgumentError(f"{where}: key 'metrics[{i}]': unknown metric {m!r}; known: {', '.join(sorted(METRICS))}")
    metrics = tuple(dict.fromkeys(metrics_in))

    run_in = data.get("run", {})
    if not isinstance(run_in, Mapping):
        raise InvalidArgumentError(f"{where}: key 'run': must be a table with {', '.join(RUN_KEYS)}")
    run = {}
    for k, v in run_in.items():
        if k not in RUN_KEYS:
            raise InvalidArgumentError(f"{where}: key 'run.{k}': unknown; valid keys are {', '.join(RUN_KEYS)}")
        values = _as_values(v, f"run.{k}", where)
        lowest = 1 if k == "n_walkers" else 0
        for x in values:
            if isinstance(x, bool) or not isinstance(x, int) or x < lowest:
                raise InvalidArgumentError(f"{where}: key 'run.{k}': values must be integers >= {lowest}, got {x!r}")
        run[k] = values
    if any(METRICS[m].simulate for m in metrics):
        for k in RUN_KEYS:
            if k not in run:
                sims = [m for m in metrics if METRICS[m].simulate]
                raise InvalidArgumentError(f"{where}: key 'run.{k}': needed by the simulating metrics {sims}")

    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 1 << 64:
        raise InvalidArgumentError(f"{where}: key 'seed': must be an integer in [0, 2**64), got {seed!r}")
    reps = data.get("replicates", 1)
    if isinstance(reps, bool) or not isinstance(reps, int) or reps < 1:
        raise InvalidArgumentError(f"{where}: key 'replicates': must be an integer >= 1, got {reps!r}")
    backend = data.get("backend", "auto")
    from metacot.simulation.engine import BACKENDS

    if backend not in BACKENDS:
        raise InvalidArgumentError(f"{where}: key 'backend': must be one of {', '.join(BACKENDS)}, got {backend!r}")
    return SweepSpec(family, grid, run, metrics, seed, reps, backend)


# --------------------------------------------------------------------------- running cells
def _error_text(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


def _run_task(family: str, metrics: tuple[str, ...], cells: list[Cell], backend: str) -> list[dict]:
    """Run a group of cells (in a worker); never raises for a cell's fault, records it instead."""
    fn = _resolve_family(family, "sweep task")
    host = socket.gethostname()
    simulating = [m for m in metrics if METRICS[m].simulate]
    records: dict[int, dict] = {}
    chains: dict[int, Any] = {}
    spent: dict[int, float] = {}
    built: dict[bytes, Any] = {}
    for c in cells:
        t0 = time.perf_counter()
        try:
            ident = _canonical(c.params)
            if ident not in built:  # replicates share their chain
                built[ident] = fn(**c.params)
            chains[c.index] = built[ident]
        except Exception as err:
            records[c.index] = {"error": _error_text(err)}
        spent[c.index] = time.perf_counter() - t0

    sims: dict[int, Any] = {}
    ran_on = None
    todo = [c for c in cells if c.index in chains and simulating]
    if todo:
        from metacot.simulation.engine import _resolve_backend, simulate, simulate_many

        t0 = time.perf_counter()
        try:
            out = simulate_many([chains[c.index] for c in todo], [c.n_walkers for c in todo],
                                [c.max_steps for c in todo], seed=[c.seed for c in todo], backend=backend,
                                count_visits=False)
            sims = {c.index: s for c, s in zip(todo, out)}
            share = (time.perf_counter() - t0) / len(todo)
            for c in todo:
                spent[c.index] += share
        except Exception:
            # one bad cell spoils a batch: rerun them one by one to find and record it
            for c in todo:
                t1 = time.perf_counter()
                try:
                    sims[c.index] = simulate(chains[c.index], c.n_walkers, c.max_steps, seed=c.seed,
                                             backend=backend, count_visits=False)
                except Exception as err:
                    records[c.index] = {"error": _error_text(err)}
                spent[c.index] += time.perf_counter() - t1
        try:
            ran_on = _resolve_backend(backend)
        except Exception:
            ran_on = None

    out = []
    for c in cells:
        rec = records.get(c.index, {})
        values: dict[str, float] = {}
        if "error" not in rec:
            ctx = _Context(c, chains[c.index], sims.get(c.index))
            t0 = time.perf_counter()
            try:
                for m in metrics:
                    values[m] = float(METRICS[m].fn(ctx))
            except Exception as err:
                rec = {"error": _error_text(err)}
            spent[c.index] += time.perf_counter() - t0
        out.append({
            "cell": c.key, "index": c.index, "family": c.family, "params": c.params,
            "n_walkers": c.n_walkers, "max_steps": c.max_steps, "replicate": c.replicate, "seed": c.seed,
            "metrics": {m: values.get(m, math.nan) for m in metrics},
            "backend": ran_on if simulating else "none", "time": spent[c.index], "host": host,
            "error": rec.get("error"),
        })
    return out


def _init_worker(threads: int) -> None:
    """Pool initializer: split the cores between worker processes (results never depend on it)."""
    try:
        import numba

        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    except Exception:
        pass


# --------------------------------------------------------------------------- storage
def _layout(out: str | os.PathLike) -> tuple[Path, Path]:
    """(table path, cells folder): ``OUT.parquet`` and ``OUT.cells/``, or ``OUT/results.parquet`` and ``OUT/cells/``."""
    out = Path(out)
    if out.suffix == ".parquet":
        return out, out.with_name(out.name + ".cells")
    return out / "results.parquet", out / "cells"


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _store(cells_dir: Path, record: dict) -> None:
    key = record["cell"]
    ok, bad = cells_dir / f"{key}.json", cells_dir / f"{key}.error.json"
    if record["error"] is None:
        _write_atomic(ok, json.dumps(record))
        bad.unlink(missing_ok=True)
    else:
        _write_atomic(bad, json.dumps(record))


def _finished(cells_dir: Path) -> tuple[set[str], set[str]]:
    """Keys of the cells stored as finished, and of those stored as failed."""
    ok, bad = set(), set()
    if cells_dir.is_dir():
        for p in cells_dir.iterdir():
            if p.name.startswith("."):
                continue
            if p.name.endswith(".error.json"):
                bad.add(p.name[: -len(".error.json")])
            elif p.suffix == ".json":
                ok.add(p.stem)
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
        row.update(r["metrics"])
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
    table["error"] = table["error"].astype("string")
    return table


def compile_table(spec: str | os.PathLike | Mapping | SweepSpec, out: str | os.PathLike) -> pd.DataFrame:
    """Compile the tidy table from the cell files of ``out`` and write it as parquet.

    Cells not yet run are absent from the table; failed cells appear with their ``error``.

    Parameters
    ----------
    spec : SweepSpec, mapping or path
    out : path
        As in :func:`run_sweep`.

    Returns
    -------
    DataFrame
    """
    spec = spec if isinstance(spec, SweepSpec) else load_spec(spec)
    table_path, cells_dir = _layout(out)
    ok, bad = _finished(cells_dir)
    records = []
    for c in spec.cells():
        name = f"{c.key}.json" if c.key in ok else f"{c.key}.error.json" if c.key in bad else None
        if name is not None:
            rec = json.loads((cells_dir / name).read_text())
            # A cell's key does not depend on its grid position, so a record written by a run on
            # another grid carries that grid's index: take the position from this spec.
            rec["index"] = c.index
            records.append(rec)
    table = _rows(spec, records)
    try:
        import pyarrow  # noqa: F401
    except ImportError as err:
        raise MissingDependencyError("writing the sweep table needs pyarrow; pip install 'metacot[dist]'") from err
    table_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = table_path.with_name(f".{table_path.name}.{os.getpid()}.tmp")
    table.to_parquet(tmp, index=False)
    os.replace(tmp, table_path)
    return table


def _tasks(cells: list[Cell], per_task: int) -> list[list[Cell]]:
    return [cells[i : i + per_task] for i in range(0, len(cells), per_task)]


def _failed_task(cells: list[Cell], err: BaseException) -> list[dict]:
    """Records for the cells of a task that died as a whole (a lost worker, a crash)."""
    return [{
        "cell": c.key, "index": c.index, "family": c.family, "params": c.params, "n_walkers": c.n_walkers,
        "max_steps": c.max_steps, "replicate": c.replicate, "seed": c.seed, "metrics": {},
        "backend": None, "time": 0.0, "host": None, "error": f"task failed: {_error_text(err)}",
    } for c in cells]


def run_sweep(spec: str | os.PathLike | Mapping | SweepSpec, out: str | os.PathLike, *,
              scheduler: Any = None, workers: int | None = None, backend: str | None = None,
              progress: bool = True, cells_per_task: int | None = None, retry_failed: bool = True,
              on_cell: Callable[[dict], None] | None = None) -> pd.DataFrame:
    r"""Run (or resume) a sweep and return its tidy table, also written as parquet.

    Parameters
    ----------
    spec : path, mapping or SweepSpec
        The grid (see the module docstring and :func:`load_spec`).
    out : path
        ``results.parquet`` (cells stored in ``results.parquet.cells/``) or a folder (table
        ``OUT/results.parquet``, cells ``OUT/cells/``).
    scheduler : str or distributed.Client, optional
        A Dask scheduler address (``"tcp://host:8786"``) or client; without it, a local pool.
    workers : int, optional
        Local worker processes (default: the CPU count); 0 runs every task in this process.
    backend : {"auto", "numba", "numpy", "cuda"}, optional
        Overrides the spec's backend. ``"auto"`` uses each worker's GPU when it has one.
    progress : bool
        Show a tqdm bar over the cells.
    cells_per_task : int, optional
        Cells per task (default: enough for about 8 tasks per worker, at most 256).
    retry_failed : bool
        Rerun cells whose stored result is an error (default); False keeps their error.
    on_cell : callable, optional
        Called with each cell's record once it is stored. An exception raised here stops the
        sweep (pending tasks are cancelled) and propagates; the stored cells stay, for a resume.

    Returns
    -------
    DataFrame
        One row per cell in grid order: ``cell`` (key), ``index``, ``family``, the grid
        parameters, ``n_walkers``, ``max_steps``, ``replicate``, ``seed``, one column per metric,
        ``backend``, ``time`` (seconds), ``host``, ``error`` (missing when the cell succeeded).

    Raises
    ------
    InvalidArgumentError
        A bad spec (see :func:`load_spec`) or argument.
    MissingDependencyError
        ``scheduler`` without dask.distributed, or no pyarrow (both in the ``dist`` extra).

    Examples
    --------
    >>> import tempfile
    >>> spec = {"family": "line_of_cliques", "grid": {"K": [2, 3], "M": 4, "eps": 0.5},
    ...         "metrics": ["exact_mean"]}
    >>> with tempfile.TemporaryDirectory() as d:
    ...     table = run_sweep(spec, d, workers=0, progress=False)
    >>> table[["K", "exact_mean"]].round(6).values.tolist()  # (K-1)(M/eps+1)+M
    [[2.0, 13.0], [3.0, 22.0]]
    """
    spec = spec if isinstance(spec, SweepSpec) else load_spec(spec)
    backend = spec.backend if backend is None else backend
    from metacot.simulation.engine import BACKENDS

    if backend not in BACKENDS:
        raise InvalidArgumentError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 0):
        raise InvalidArgumentError(f"workers must be an integer >= 0, got {workers!r}")
    _, cells_dir = _layout(out)
    cells_dir.mkdir(parents=True, exist_ok=True)
    # the spec beside its cells, for the record (cells are matched by key, never by this file)
    _write_atomic(cells_dir / "spec.meta", json.dumps(dataclasses.asdict(spec), sort_keys=True))

    ok, bad = _finished(cells_dir)
    done = ok | (set() if retry_failed else bad)
    todo = [c for c in spec.cells() if c.key not in done]

    client = None
    if scheduler is not None:
        client = _dask_client(scheduler)
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    else:
        n_workers = (os.cpu_count() or 1) if workers is None else workers
    if cells_per_task is None:
        per_task = max(1, min(_MAX_CELLS_PER_TASK, math.ceil(len(todo) / (TASKS_PER_WORKER * max(1, n_workers)))))
    else:
        per_task = cells_per_task
    if isinstance(per_task, bool) or not isinstance(per_task, int) or per_task < 1:
        raise InvalidArgumentError(f"cells_per_task must be an integer >= 1, got {cells_per_task!r}")
    tasks = _tasks(todo, per_task)

    from tqdm.auto import tqdm

    with tqdm(total=len(todo), unit="cell", desc="sweep", disable=not progress) as bar:
        def store(records: Iterable[dict]) -> None:
            for rec in records:
                _store(cells_dir, rec)
                bar.update(1)
                if on_cell is not None:
                    on_cell(rec)

        if client is not None:
            _run_dask(client, spec, tasks, backend, store, owns_client=not _is_client(scheduler))
        elif n_workers == 0 or len(tasks) <= 1:
            for task in tasks:
                store(_run_task(spec.family, spec.metrics, task, backend))
        else:
            _run_local(spec, tasks, backend, store, n_workers)
    return compile_table(spec, out)


def _run_local(spec: SweepSpec, tasks: list[list[Cell]], backend: str, store, n_workers: int) -> None:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # spawn, not fork: a forked child would inherit numba's running thread pool
    threads = max(1, (os.cpu_count() or 1) // n_workers)
    pool = ProcessPoolExecutor(max_workers=min(n_workers, len(tasks)), mp_context=mp.get_context("spawn"),
                               initializer=_init_worker, initargs=(threads,))
    try:
        futures = {pool.submit(_run_task, spec.family, spec.metrics, t, backend): t for t in tasks}
        _drain(futures, as_completed(futures), store)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _drain(futures: dict, completed, store) -> None:
    """Store each task's records as its future completes; a task that raised yields failed-cell records."""
    for fut in completed:
        try:
            records = fut.result()
        except Exception as err:
            records = _failed_task(futures[fut], err)
        store(records)


def _is_client(obj: Any) -> bool:
    try:
        from distributed import Client
    except ImportError:
        return False
    return isinstance(obj, Client)


def _dask_client(scheduler: Any):
    try:
        from distributed import Client
    except ImportError as err:
        raise MissingDependencyError(
            "running a sweep on a Dask cluster needs dask.distributed; pip install 'metacot[dist]'"
        ) from err
    if isinstance(scheduler, Client):
        return scheduler
    if not isinstance(scheduler, str):
        raise InvalidArgumentError(f"scheduler must be an address such as 'tcp://host:8786' or a Client, got {scheduler!r}")
    try:
        return Client(scheduler, timeout="30s")
    except OSError as err:
        raise InvalidArgumentError(f"cannot reach the Dask scheduler at {scheduler!r}: {err}") from err


def _run_dask(client, spec: SweepSpec, tasks: list[list[Cell]], backend: str, store, owns_client: bool) -> None:
    from distributed import as_completed

    futures = {}
    try:
        for t in tasks:
            futures[client.submit(_run_task, spec.family, spec.metrics, t, backend, pure=False)] = t
        _drain(futures, as_completed(list(futures)), store)
    finally:
        pending = [f for f in futures if not f.done()]
        if pending:
            client.cancel(pending)
        if owns_client:
            client.close()


# --------------------------------------------------------------------------- command line
def _cli(args) -> int:
    out = args.output or Path(args.spec).with_suffix(".parquet").name
    table = run_sweep(args.spec, out, scheduler=args.scheduler, workers=args.workers, backend=args.backend,
                      progress=not args.no_progress)
    failed = int(table["error"].notna().sum())
    table_path, _ = _layout(out)
    print(f"{len(table)} cells, {failed} failed: {table_path}")
    if failed:
        first = table.loc[table["error"].notna(), "error"].iloc[0]
        print(f"first error: {first}")
    return 1 if failed else 0


def register(subparsers) -> None:
    """Add the ``sweep`` subcommand to the ``metacot`` command's subparsers.

    ``metacot sweep SPEC [-o OUT] [--scheduler tcp://host:8786] [--workers N] [--backend B]
    [--no-progress]``. Matches :mod:`metacot.cli`'s dispatch: the handler is ``args.run(args)``
    and returns the exit status (1 when some cell failed).

    Examples
    --------
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="metacot")
    >>> register(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["sweep", "grid.toml", "-o", "out.parquet", "--workers", "2"])
    >>> args.spec, args.output, args.workers, args.backend
    ('grid.toml', 'out.parquet', 2, None)
    """
    from metacot.simulation.engine import BACKENDS

    sw = subparsers.add_parser("sweep", help="run (or resume) a parameter sweep from a TOML spec")
    sw.add_argument("spec", metavar="SPEC", help="sweep spec (TOML)")
    sw.add_argument("-o", "--output", default=None,
                    help="results .parquet (cells kept beside it in OUT.cells/) or folder; default SPEC-stem.parquet")
    sw.add_argument("--scheduler", default=None, help="Dask scheduler address, e.g. tcp://host:8786 (default: local processes)")
    sw.add_argument("--workers", type=int, default=None, help="local worker processes (default: CPU count; 0: this process)")
    sw.add_argument("--backend", choices=list(BACKENDS), default=None, help="simulation backend (default: the spec's, else auto)")
    sw.add_argument("--no-progress", action="store_true", help="no progress bar")
    sw.set_defaults(run=_cli)
