"""The ``metacot sweep`` subcommand: :func:`register` adds it to the command's subparsers.

A ``KeyboardInterrupt`` (Ctrl-C) is not caught here: the ``metacot`` command turns it into one
line; the cells finished so far stay stored for a rerun.
"""

from __future__ import annotations

from pathlib import Path

from metacot.sweep.cells import layout
from metacot.sweep.runner import run_sweep

__all__ = ["register"]


def _cli(args) -> int:
    out = args.output or Path(args.spec).with_suffix(".parquet").name
    table = run_sweep(args.spec, out, scheduler=args.scheduler, workers=args.workers, backend=args.backend,
                      progress=not args.no_progress)
    failed = int(table["error"].notna().sum())
    table_path, _ = layout(out)
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
    from metacot.simulation.request import BACKENDS

    sw = subparsers.add_parser("sweep", help="run (or resume) a parameter sweep from a TOML spec")
    sw.add_argument("spec", metavar="SPEC", help="sweep spec (TOML)")
    sw.add_argument("-o", "--output", default=None,
                    help="results .parquet (cells kept beside it in OUT.cells/) or folder; default SPEC-stem.parquet")
    sw.add_argument("--scheduler", default=None, help="Dask scheduler address, e.g. tcp://host:8786 (default: local processes)")
    sw.add_argument("--workers", type=int, default=None, help="local worker processes (default: CPU count; 0: this process)")
    sw.add_argument("--backend", choices=list(BACKENDS), default=None, help="simulation backend (default: the spec's, else auto)")
    sw.add_argument("--no-progress", action="store_true", help="no progress bar")
    sw.set_defaults(run=_cli)
