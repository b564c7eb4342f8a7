"""Running sweep cells: a task (a group of cells) builds its chains, simulates them, computes the metrics.

Tasks run in worker processes (or Dask workers) and return records; they never raise for a
cell's fault, they record it. Only the driver writes files (:mod:`metacot.sweep.cells`).
"""

from __future__ import annotations

import math
import signal
import socket
import time
from typing import Any

from metacot.sweep.metrics import METRICS, Context
from metacot.sweep.spec import Cell, canonical, resolve_family

__all__ = ["error_text", "failed_task", "init_worker", "run_task", "split_tasks"]


def error_text(err: BaseException) -> str:
    """How an error is recorded in a cell: ``"Type: message"``."""
    return f"{type(err).__name__}: {err}"


def run_task(family: str, metrics: tuple[str, ...], cells: list[Cell], backend: str) -> list[dict]:
    """Run a group of cells (in a worker); never raises for a cell's fault, records it instead."""
    fn = resolve_family(family, "sweep task")
    host = socket.gethostname()
    simulating = [m for m in metrics if METRICS[m].simulate]
    records: dict[int, dict] = {}
    chains: dict[int, Any] = {}
    spent: dict[int, float] = {}
    built: dict[bytes, Any] = {}
    for c in cells:
        t0 = time.perf_counter()
        try:
            ident = canonical(c.params)
            if ident not in built:  # replicates share their chain
                built[ident] = fn(**c.params)
            chains[c.index] = built[ident]
        except Exception as err:
            records[c.index] = {"error": error_text(err)}
        spent[c.index] = time.perf_counter() - t0

    sims: dict[int, Any] = {}
    ran_on = None
    todo = [c for c in cells if c.index in chains and simulating]
    if todo:
        from metacot.simulation.engine import resolve_backend, simulate, simulate_many

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
                    records[c.index] = {"error": error_text(err)}
                spent[c.index] += time.perf_counter() - t1
        try:
            ran_on = resolve_backend(backend)
        except Exception:
            ran_on = None

    out = []
    for c in cells:
        rec = records.get(c.index, {})
        values: dict[str, float] = {}
        if "error" not in rec:
            ctx = Context(c, chains[c.index], sims.get(c.index))
            t0 = time.perf_counter()
            try:
                for m in metrics:
                    values[m] = float(METRICS[m].fn(ctx))
            except Exception as err:
                rec = {"error": error_text(err)}
            spent[c.index] += time.perf_counter() - t0
        out.append({
            "cell": c.key, "index": c.index, "family": c.family, "params": c.params,
            "n_walkers": c.n_walkers, "max_steps": c.max_steps, "replicate": c.replicate, "seed": c.seed,
            "metrics": {m: values.get(m, math.nan) for m in metrics},
            "backend": ran_on if simulating else "none", "time": spent[c.index], "host": host,
            "error": rec.get("error"),
        })
    return out


def init_worker(threads: int) -> None:
    """Pool initializer: split the cores between worker processes (results never depend on it).

    Workers also ignore SIGINT: Ctrl-C in a terminal reaches the whole process group, and the
    driver alone handles it (it stops the pool); a worker that took it would print its own
    traceback.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import numba

        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    except Exception:
        pass


def split_tasks(cells: list[Cell], per_task: int) -> list[list[Cell]]:
    """Consecutive groups of ``per_task`` cells."""
    return [cells[i : i + per_task] for i in range(0, len(cells), per_task)]


def failed_task(cells: list[Cell], err: BaseException) -> list[dict]:
    """Records for the cells of a task that died as a whole (a lost worker, a crash)."""
    return [{
        "cell": c.key, "index": c.index, "family": c.family, "params": c.params, "n_walkers": c.n_walkers,
        "max_steps": c.max_steps, "replicate": c.replicate, "seed": c.seed, "metrics": {},
        "backend": None, "time": 0.0, "host": None, "error": f"task failed: {error_text(err)}",
    } for c in cells]
