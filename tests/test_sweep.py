"""Sweeps: spec validation, determinism across schedulers (local, process pool, Dask), resume, errors, CLI, plots."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metacot import sweep
from metacot.errors import InvalidArgumentError

SPEC = {
    "family": "line_of_cliques",
    "seed": 11,
    "replicates": 2,
    "metrics": ["exact_mean", "sim_mean", "sim_stderr", "censored_share", "n_states"],
    "grid": {"K": [2, 3], "M": [4, 6], "eps": [0.5, 0.25]},
    "run": {"n_walkers": 64, "max_steps": 4000},
}
N_CELLS = 2 * 2 * 2 * 2
STABLE = lambda t: t.drop(columns=["time", "host"])  # noqa: E731


def closed_form(K, M, eps):
    return (K - 1) * (M / eps + 1) + M


# --------------------------------------------------------------------------- spec
def test_toml_and_dict_give_the_same_cells(tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text(
        'family = "line_of_cliques"\nseed = 11\nreplicates = 2\n'
        'metrics = ["exact_mean", "sim_mean", "sim_stderr", "censored_share", "n_states"]\n'
        "[grid]\nK = [2, 3]\nM = [4, 6]\neps = [0.5, 0.25]\n[run]\nn_walkers = 64\nmax_steps = 4000\n"
    )
    a, b = sweep.load_spec(path).cells(), sweep.load_spec(SPEC).cells()
    assert a == b and len(a) == N_CELLS
    assert len({c.seed for c in a}) == N_CELLS and len({c.key for c in a}) == N_CELLS
    # the seed depends on the cell and the master seed only
    other = sweep.load_spec(SPEC | {"seed": 12}).cells()
    assert all(x.seed != y.seed for x, y in zip(a, other))
    fewer = sweep.load_spec(SPEC | {"metrics": ["exact_mean", "sim_mean"]}).cells()
    assert [c.seed for c in fewer] == [c.seed for c in a] and fewer[0].key != a[0].key


@pytest.mark.parametrize(
    "text,key",
    [
        ('family = "line_of_cliques"\n[grid]\nK = [2,\n', "invalid TOML"),
        ('family = "line_of_cliques"\ncolour = 3\n[grid]\nK = 2\nM = 4\neps = 0.5\n', "'colour'"),
        ('family = "line_of_cliques"\n[grid]\nK = 2\nM = 4\neps = 0.5\nL = [1, 2]\n', "'grid.L'"),
        ('family = "line_of_cliques"\n[grid]\nK = 2\nM = 4\n', "'grid.eps'"),
        ('family = "line_of_cliques"\n[grid]\nK = []\nM = 4\neps = 0.5\n', "'grid.K'"),
        ('family = "line_of_cliques"\nmetrics = ["exact_mean", "speed"]\n[grid]\nK = 2\nM = 4\neps = 0.5\n',
         "'metrics[1]'"),
        ('family = "line_of_cliques"\n[grid]\nK = 2\nM = 4\neps = 0.5\n[run]\nn_walkers = 0\nmax_steps = 9\n',
         "'run.n_walkers'"),
        ('family = "line_of_cliques"\n[grid]\nK = 2\nM = 4\neps = 0.5\n[run]\nn_walkers = 10\n', "'run.max_steps'"),
        ('family = "line_of_cliques"\nmetrics = ["exact_mean"]\nseed = -1\n[grid]\nK = 2\nM = 4\neps = 0.5\n', "'seed'"),
        ('family = "line_of_cliques"\nmetrics = ["exact_mean"]\nbackend = "tpu"\n[grid]\nK = 2\nM = 4\neps = 0.5\n', "'backend'"),
    ],
)
def test_spec_errors_name_the_key(tmp_path, text, key):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(InvalidArgumentError, match=re.escape(key)) as info:
        sweep.load_spec(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("family", ["line_of_clique", "metacot.markov.families:nothing_here", 3])
def test_bad_family_name(family):
    with pytest.raises(InvalidArgumentError, match="'family'"):
        sweep.load_spec({"family": family, "grid": {"K": 2}})


def test_family_by_import_path():
    spec = sweep.load_spec({"family": "metacot.markov.families:random_clusters",
                            "grid": {"K": 2, "M": 4, "eps": 0.1, "kind": ["lazy_cycle", "complete"]},
                            "metrics": ["exact_mean"]})
    assert len(spec.cells()) == 2


# --------------------------------------------------------------------------- running
def test_local_serial_run_is_correct(tmp_path):
    table = sweep.run_sweep(SPEC, tmp_path / "out.parquet", workers=0, progress=False)
    assert len(table) == N_CELLS and table["error"].isna().all()
    assert list(table["index"]) == list(range(N_CELLS))
    exact = closed_form(table["K"], table["M"], table["eps"])
    np.testing.assert_allclose(table["exact_mean"], exact, rtol=1e-9)
    # Monte Carlo within 5 standard errors of the closed form (no censoring at this budget)
    assert (table["censored_share"] == 0).all()
    assert (np.abs(table["sim_mean"] - exact) < 5 * table["sim_stderr"]).all()
    assert (table["backend"] == "numba").all() and (table["time"] > 0).all()
    # the parquet file holds the same table; the cells are kept beside it
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out.parquet"), table)
    assert len(list((tmp_path / "out.parquet.cells").glob("*.json"))) == N_CELLS


def test_process_pool_and_dask_give_the_local_table(tmp_path):
    distributed = pytest.importorskip("distributed")
    local = sweep.run_sweep(SPEC, tmp_path / "local", workers=0, progress=False)
    pool = sweep.run_sweep(SPEC, tmp_path / "pool", workers=2, cells_per_task=3, progress=False)
    pd.testing.assert_frame_equal(STABLE(local), STABLE(pool))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            dask = sweep.run_sweep(SPEC, tmp_path / "dask", scheduler=client, cells_per_task=2, progress=False)
            # an address works as well as a client (the sweep opens and closes its own client)
            again = sweep.run_sweep(SPEC, tmp_path / "dask2", scheduler=cluster.scheduler_address,
                                    progress=False)
    pd.testing.assert_frame_equal(STABLE(local), STABLE(dask))
    pd.testing.assert_frame_equal(STABLE(local), STABLE(again))


class Stop(Exception):
    pass


def test_resume_after_an_exception_in_a_cell_callback(tmp_path):
    seen = []

    def stop_after_5(record):
        seen.append(record["cell"])
        if len(seen) == 5:
            raise Stop

    with pytest.raises(Stop):
        sweep.run_sweep(SPEC, tmp_path / "out", workers=0, cells_per_task=3, progress=False, on_cell=stop_after_5)
    assert len(list((tmp_path / "out" / "cells").glob("*.json"))) >= 5
    partial = sweep.compile_table(SPEC, tmp_path / "out")
    assert 5 <= len(partial) < N_CELLS
    rerun = []
    table = sweep.run_sweep(SPEC, tmp_path / "out", workers=0, progress=False,
                            on_cell=lambda r: rerun.append(r["cell"]))
    assert len(table) == N_CELLS and table["cell"].is_unique and table["error"].isna().all()
    assert not set(rerun) & set(partial["cell"])  # finished cells were not run again
    assert set(rerun) | set(partial["cell"]) == set(table["cell"])
    full = sweep.run_sweep(SPEC, tmp_path / "fresh", workers=0, progress=False)
    pd.testing.assert_frame_equal(STABLE(table), STABLE(full))


def test_resume_after_the_process_is_killed(tmp_path):
    """SIGKILL a sweep mid-run: the stored cells stay valid and the rerun completes the grid."""
    out = tmp_path / "killed"
    spec = SPEC | {"metrics": ["exact_mean", "sim_mean"], "run": {"n_walkers": 64, "max_steps": 4000}}
    script = (
        "import time, json, sys\n"
        "from metacot import sweep\n"
        "spec = json.loads(sys.argv[1])\n"
        "sweep.run_sweep(spec, sys.argv[2], workers=0, cells_per_task=1, progress=False,\n"
        "                on_cell=lambda r: time.sleep(0.3))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, json.dumps(spec), str(out)])
    cells = out / "cells"
    deadline = time.time() + 120
    try:
        while time.time() < deadline and len(list(cells.glob("*.json"))) < 3:
            time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    done_before = {p.stem for p in cells.glob("*.json")}
    assert 3 <= len(done_before) < N_CELLS
    table = sweep.run_sweep(spec, out, workers=0, progress=False)
    assert len(table) == N_CELLS and table["cell"].is_unique and table["error"].isna().all()
    assert not list(cells.glob("*.error.json"))


def test_errors_are_recorded_and_retried(tmp_path):
    spec = {"family": "line_of_cliques", "grid": {"K": 2, "M": [1, 4], "eps": 0.5},
            "metrics": ["exact_mean", "sim_mean"], "run": {"n_walkers": 32, "max_steps": 1000}}
    table = sweep.run_sweep(spec, tmp_path / "o", workers=0, progress=False)
    bad = table[table["M"] == 1].iloc[0]
    assert "InvalidChainError" in bad["error"] and "M >= 2" in bad["error"] and np.isnan(bad["exact_mean"])
    good = table[table["M"] == 4].iloc[0]
    assert pd.isna(good["error"]) and good["exact_mean"] == pytest.approx(closed_form(2, 4, 0.5))
    # a rerun retries the failed cell only (it fails again, deterministically)
    retried = []
    sweep.run_sweep(spec, tmp_path / "o", workers=0, progress=False, on_cell=lambda r: retried.append(r["index"]))
    assert retried == [int(bad["index"])]
    # a simulation failure is recorded too (cuda without a GPU: every simulating cell fails)
    from metacot.simulation.kernels import gpu

    if not gpu.cuda_available() and not gpu.simulating():
        t = sweep.run_sweep(spec, tmp_path / "c", workers=0, backend="cuda", progress=False)
        assert t.loc[t["M"] == 4, "error"].str.contains("BackendUnavailableError|CudaUnavailableError").all()


def test_cli_register(tmp_path, capsys):
    spec = tmp_path / "g.toml"
    spec.write_text('family = "line_of_cliques"\nmetrics = ["exact_mean"]\n[grid]\nK = [2, 3]\nM = 4\neps = 0.5\n')
    parser = argparse.ArgumentParser(prog="metacot")
    sweep.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["sweep", str(spec), "-o", str(tmp_path / "r.parquet"), "--workers", "0",
                              "--no-progress", "--backend", "numba"])
    assert args.run(args) == 0
    assert "2 cells, 0 failed" in capsys.readouterr().out
    np.testing.assert_allclose(pd.read_parquet(tmp_path / "r.parquet")["exact_mean"], [13.0, 22.0], rtol=1e-12)


def test_plots_from_the_table(tmp_path):
    from metacot import plots

    table = sweep.run_sweep(SPEC, tmp_path / "p", workers=0, progress=False)
    fig = plots.sweep_scaling(table, "eps", "sim_mean", hue="K")
    assert len(fig.axes[0].lines) >= 2
    fig2 = plots.sweep_heatmap(table, "eps", "K", "exact_mean")
    assert fig2.axes[0].get_xlabel() == "eps"
    fig.savefig(Path(tmp_path) / "s.png")


def test_resume_on_an_extended_grid_keeps_grid_order(tmp_path):
    # Cells keep their files across grids; the table must follow the new grid's order, not the
    # index a cell had in the run that wrote it.
    base = {"family": "line_of_cliques", "grid": {"K": [2, 4], "M": [3], "eps": [0.2]},
            "run": {"n_walkers": 64, "max_steps": 2000}, "metrics": ["exact_mean"]}
    sweep.run_sweep(base, tmp_path / "t", workers=0, progress=False)
    extended = {**base, "grid": {"K": [2, 3, 4], "M": [3], "eps": [0.2]}}
    table = sweep.run_sweep(extended, tmp_path / "t", workers=0, progress=False)
    assert table["index"].tolist() == [0, 1, 2] and table["K"].tolist() == [2, 3, 4]
