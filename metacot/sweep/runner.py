r"""Running a sweep: :func:`run_sweep` drives the tasks on this process, a local pool or Dask, storing each cell.

The driver alone writes files (:mod:`metacot.sweep.cells`); workers only compute
(:mod:`metacot.sweep.tasks`). On Ctrl-C the cells already returned are stored, pending tasks are
cancelled, local workers are stopped and ``KeyboardInterrupt`` propagates; the caller (the
``metacot`` command) prints one line.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd

from metacot.errors import InvalidArgumentError, MissingDependencyError
from metacot.sweep.cells import compile_table, layout, store, stored_records, write_text
from metacot.sweep.spec import Cell, SweepSpec, load_spec
from metacot.sweep.tasks import failed_task, init_worker, run_task, split_tasks

__all__ = ["TASKS_PER_WORKER", "run_sweep"]

#: Tasks per worker when ``cells_per_task`` is not given (small enough to balance the load and
#: to lose little on an interruption; large enough to batch GPU launches).
TASKS_PER_WORKER = 8
_MAX_CELLS_PER_TASK = 256


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

    Warns
    -----
    CorruptCellWarning
        For every stored cell file that does not hold a valid record of its cell (truncated,
        missing keys, a non-number metric...); that cell is recomputed.

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
    KeyboardInterrupt
        On Ctrl-C: the cells finished so far are stored (those already returned by a worker
        included), the pool's pending tasks are cancelled and its workers stopped, and the
        interrupt propagates, nothing printed; a rerun resumes.
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
    from metacot.simulation.request import BACKENDS

    if backend not in BACKENDS:
        raise InvalidArgumentError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 0):
        raise InvalidArgumentError(f"workers must be an integer >= 0, got {workers!r}")
    _, cells_dir = layout(out)
    cells_dir.mkdir(parents=True, exist_ok=True)
    # the spec beside its cells, for the record (cells are matched by key, never by this file)
    write_text(cells_dir / "spec.meta", json.dumps(dataclasses.asdict(spec), sort_keys=True))

    ok, bad = stored_records(spec, cells_dir)
    done = set(ok) | (set() if retry_failed else set(bad))
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
    tasks = split_tasks(todo, per_task)

    from tqdm.auto import tqdm

    with tqdm(total=len(todo), unit="cell", desc="sweep", disable=not progress) as bar:
        def keep(records: Iterable[dict]) -> None:
            for rec in records:
                store(cells_dir, rec)
                bar.update(1)
                if on_cell is not None:
                    on_cell(rec)

        if client is not None:
            _run_dask(client, spec, tasks, backend, keep, owns_client=not _is_client(scheduler))
        elif n_workers == 0 or len(tasks) <= 1:
            for task in tasks:
                keep(run_task(spec.family, spec.metrics, task, backend))
        else:
            _run_local(spec, tasks, backend, keep, n_workers)
    return compile_table(spec, out)


def _run_local(spec: SweepSpec, tasks: list[list[Cell]], backend: str, keep, n_workers: int) -> None:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # spawn, not fork: a forked child would inherit numba's running thread pool
    threads = max(1, (os.cpu_count() or 1) // n_workers)
    pool = ProcessPoolExecutor(max_workers=min(n_workers, len(tasks)), mp_context=mp.get_context("spawn"),
                               initializer=init_worker, initargs=(threads,))
    futures: dict = {}
    kept: set = set()
    try:
        futures = {pool.submit(run_task, spec.family, spec.metrics, t, backend): t for t in tasks}
        _drain(futures, as_completed(futures), keep, kept)
    except BaseException:
        # Ctrl-C, or an on_cell callback that raised: keep what the workers already returned,
        # then stop the pool without waiting for the tasks in flight (they could run for hours).
        _stop_pool(pool)
        _keep_finished(futures, keep, kept)
        raise
    else:
        pool.shutdown(wait=True)


def _stop_pool(pool) -> None:
    """Cancel the pending tasks of a ``ProcessPoolExecutor`` and terminate its workers, without waiting.

    Python 3.14 has ``terminate_workers()``; before it, the worker processes are taken from the
    executor (before ``shutdown``, which forgets them) and terminated, after which its manager
    thread sees them gone and exits, so the interpreter does not hang at exit.
    """
    terminate = getattr(pool, "terminate_workers", None)
    if terminate is not None:
        pool.shutdown(wait=False, cancel_futures=True)
        terminate()
        return
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    for proc in procs:
        proc.join(timeout=30)


def _keep_finished(futures: dict, keep, kept: set) -> None:
    """Store the records of the tasks that finished but were not stored yet (on an interruption).

    A second interruption or a failing ``on_cell`` callback here ends the salvage quietly: the
    first exception is the one that propagates.
    """
    for fut in futures:
        if fut in kept or not fut.done() or fut.cancelled() or fut.exception() is not None:
            continue
        kept.add(fut)
        try:
            keep(fut.result())
        except BaseException:
            return


def _drain(futures: dict, completed, keep, kept: set | None = None) -> None:
    """Store each task's records as its future completes; a task that raised yields failed-cell records."""
    for fut in completed:
        try:
            records = fut.result()
        except Exception as err:
            records = failed_task(futures[fut], err)
        if kept is not None:
            kept.add(fut)
        keep(records)


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


def _run_dask(client, spec: SweepSpec, tasks: list[list[Cell]], backend: str, keep, owns_client: bool) -> None:
    from distributed import as_completed

    futures = {}
    try:
        for t in tasks:
            futures[client.submit(run_task, spec.family, spec.metrics, t, backend, pure=False)] = t
        _drain(futures, as_completed(list(futures)), keep)
    finally:
        pending = [f for f in futures if not f.done()]
        if pending:
            client.cancel(pending)
        if owns_client:
            client.close()
