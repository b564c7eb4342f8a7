r"""Sweep specs: a TOML file or dict validated into a :class:`SweepSpec`, expanded into :class:`Cell` s.

See :mod:`metacot.sweep` for the format and for how a cell's seed and key are derived.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import inspect
import itertools
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from metacot.errors import InvalidArgumentError
from metacot.sweep.metrics import METRICS, RESERVED

__all__ = ["DEFAULT_METRICS", "RESERVED", "RUN_KEYS", "SPEC_KEYS", "Cell", "SweepSpec", "canonical", "load_spec",
           "resolve_family"]

#: Keys of a spec (top level).
SPEC_KEYS = ("family", "grid", "run", "metrics", "seed", "replicates", "backend")
#: Keys of a spec's ``run`` table.
RUN_KEYS = ("n_walkers", "max_steps")
#: Metrics computed when a spec names none.
DEFAULT_METRICS = ("exact_mean", "sim_mean", "sim_stderr", "censored_share")


def _families() -> dict[str, Callable]:
    from metacot.markov import families

    return {name: getattr(families, name) for name in families.__all__ if name != "from_networkx"}


def resolve_family(name: Any, where: str) -> Callable:
    """A family constructor from its name in :mod:`metacot.markov.families` or a ``module:function`` path.

    Module paths that moved in the 0.2 re-layout (``"metacot.families:random_clusters"``) still
    resolve, through :mod:`metacot._moved`, with its ``DeprecationWarning``.
    """
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


def canonical(obj: Any) -> bytes:
    """Canonical JSON bytes of plain data (sorted keys, no spaces, no NaN): what cell seeds and keys hash."""
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
            digest = hashlib.blake2b(canonical(ident) + self.seed.to_bytes(8, "little"), digest_size=8,
                                     person=b"metacot-seed").digest()
            seed = int.from_bytes(digest, "little")
            key = hashlib.blake2b(canonical({**ident, "master_seed": self.seed, "metrics": sorted(self.metrics)}),
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
            canonical(v)
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
    fn = resolve_family(family, where)

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
    from metacot.simulation.request import BACKENDS

    if backend not in BACKENDS:
        raise InvalidArgumentError(f"{where}: key 'backend': must be one of {', '.join(BACKENDS)}, got {backend!r}")
    return SweepSpec(family, grid, run, metrics, seed, reps, backend)
