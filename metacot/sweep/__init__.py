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

Resumability. Every finished cell is written atomically (:func:`metacot._io.atomic_write`: a
temporary file, then :func:`os.replace`, with the ordinary file mode) as ``<key>.json`` in a
cells folder, where ``key`` hashes the cell and the metrics asked for; failed cells go to
``<key>.error.json``. A rerun skips finished cells and retries failed ones, then the table is
compiled from the cell files in grid order and written as parquet. Stored cells are validated
when read: a corrupt file (truncated, missing keys, a string in a metric, ...) is reported with a
:class:`~metacot.sweep.cells.CorruptCellWarning` naming it, and its cell is recomputed. An
interrupted sweep (Ctrl-C, a killed process) therefore loses at most the cells in flight, and
never duplicates one.

Scale-out. Cells are grouped into tasks (a few per worker). Tasks run in a local process pool
(:mod:`concurrent.futures`, spawned processes) by default, in this process with ``workers=0``,
or on a Dask distributed cluster (``scheduler="tcp://host:8786"`` or a ``distributed.Client``),
where each worker simulates on its GPU when it has one (``backend="auto"``). On a GPU worker the
simulations of a task run as one batched kernel launch (:func:`metacot.simulation.engine.simulate_many`).
The driver alone writes files, so workers need no shared file system.

Modules: :mod:`~metacot.sweep.spec` (the spec, cells, seeds and keys),
:mod:`~metacot.sweep.metrics` (the metric registry), :mod:`~metacot.sweep.tasks` (running cells
in a worker), :mod:`~metacot.sweep.cells` (cell files, validation, the table),
:mod:`~metacot.sweep.runner` (:func:`run_sweep` on a pool or Dask) and
:mod:`~metacot.sweep.command` (the ``metacot sweep`` subcommand). Their public names are
attributes of this package, loaded on first use.

The spec (TOML or the same structure as a dict)::

    family = "line_of_cliques"          # a name in metacot.markov.families, or "package.module:function"
                                        # (old paths such as "metacot.families:random_clusters" still work)
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

from metacot._lazy import attach

_MODULES = {name: f"metacot.sweep.{name}" for name in ("cells", "command", "metrics", "runner", "spec", "tasks")}
_NAMES = {
    "METRICS": "metacot.sweep.metrics",
    "RESERVED": "metacot.sweep.metrics",
    "Metric": "metacot.sweep.metrics",
    "register_metric": "metacot.sweep.metrics",
    "DEFAULT_METRICS": "metacot.sweep.spec",
    "RUN_KEYS": "metacot.sweep.spec",
    "SPEC_KEYS": "metacot.sweep.spec",
    "Cell": "metacot.sweep.spec",
    "SweepSpec": "metacot.sweep.spec",
    "load_spec": "metacot.sweep.spec",
    "CorruptCellWarning": "metacot.sweep.cells",
    "compile_table": "metacot.sweep.cells",
    "TASKS_PER_WORKER": "metacot.sweep.runner",
    "run_sweep": "metacot.sweep.runner",
    "register": "metacot.sweep.command",
}

__getattr__, __dir__ = attach(__name__, globals(), modules=_MODULES, names=_NAMES)
__all__ = sorted([
    "METRICS", "Cell", "CorruptCellWarning", "Metric", "SweepSpec", "compile_table", "load_spec", "register",
    "register_metric", "run_sweep",
])
