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
import warnings
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


# --------------------------------------------------------------------------- corrupt cells, modes, Ctrl-C
TINY = {"family": "line_of_cliques", "seed": 5, "grid": {"K": [2, 3], "M": 4, "eps": [0.5, 0.25]},
        "metrics": ["exact_mean", "sim_mean"], "run": {"n_walkers": 16, "max_steps": 2000}}


def _corrupt(path: Path, how: str) -> None:
    record = json.loads(path.read_text())
    if how == "truncated":
        path.write_text(path.read_text()[: len(path.read_text()) // 2])
    elif how == "empty":
        path.write_text("")
    elif how == "missing key":
        del record["family"]
        path.write_text(json.dumps(record))
    elif how == "string metric":
        record["metrics"]["sim_mean"] = "fast"
        path.write_text(json.dumps(record))
    elif how == "not an object":
        path.write_text("[1, 2, 3]")


@pytest.mark.parametrize("how", ["truncated", "empty", "missing key", "string metric", "not an object"])
def test_a_corrupt_cell_is_reported_and_recomputed(tmp_path, how):
    fresh = sweep.run_sweep(TINY, tmp_path / "fresh", workers=0, progress=False)
    out = tmp_path / "out"
    sweep.run_sweep(TINY, out, workers=0, progress=False)
    victim = out / "cells" / f"{fresh['cell'].iloc[2]}.json"
    _corrupt(victim, how)
    # the table step alone never crashes on it: the cell is left out, and the file named
    with pytest.warns(sweep.CorruptCellWarning, match=re.escape(victim.name)):
        partial = sweep.compile_table(TINY, out)
    assert len(partial) == len(fresh) - 1 and fresh["cell"].iloc[2] not in set(partial["cell"])
    # a rerun recomputes exactly that cell and gives the fresh table
    rerun = []
    with pytest.warns(sweep.CorruptCellWarning, match=re.escape(str(victim))):
        table = sweep.run_sweep(TINY, out, workers=0, progress=False, on_cell=lambda r: rerun.append(r["cell"]))
    assert rerun == [fresh["cell"].iloc[2]]
    pd.testing.assert_frame_equal(STABLE(table), STABLE(fresh))
    json.loads(victim.read_text())  # rewritten whole


def test_a_corrupt_error_cell_and_a_record_of_another_cell(tmp_path):
    spec = {"family": "line_of_cliques", "grid": {"K": 2, "M": [1, 4], "eps": 0.5}, "metrics": ["exact_mean"]}
    out = tmp_path / "o"
    table = sweep.run_sweep(spec, out, workers=0, progress=False)
    bad_key, good_key = table["cell"].iloc[0], table["cell"].iloc[1]
    cells = out / "cells"
    (cells / f"{bad_key}.error.json").write_text('{"cell": ')
    # a valid record stored under the wrong name is not taken for this cell
    (cells / f"{good_key}.json").write_text((cells / f"{good_key}.json").read_text().replace(good_key, bad_key))
    with pytest.warns(sweep.CorruptCellWarning) as caught:
        again = sweep.run_sweep(spec, out, workers=0, progress=False, retry_failed=False)
    names = " ".join(str(w.message) for w in caught)
    assert f"{bad_key}.error.json" in names and f"{good_key}.json" in names and "holds the record of cell" in names
    pd.testing.assert_frame_equal(STABLE(again), STABLE(table))


def test_cell_and_table_files_respect_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        sweep.run_sweep(TINY, tmp_path / "m.parquet", workers=0, progress=False)
    finally:
        os.umask(old)
    files = [tmp_path / "m.parquet", *(tmp_path / "m.parquet.cells").iterdir()]
    assert len(files) > 4
    for f in files:
        assert f.stat().st_mode & 0o777 == 0o640, f


def test_old_family_paths_still_work():
    with pytest.warns(DeprecationWarning, match="metacot.markov.families"):
        spec = sweep.load_spec({"family": "metacot.families:random_clusters",
                                "grid": {"K": 2, "M": 4, "eps": 0.1, "kind": "complete"}, "metrics": ["exact_mean"]})
    assert spec.family == "metacot.families:random_clusters" and len(spec.cells()) == 1


def test_public_names_of_the_package():
    from metacot.sweep.command import register
    from metacot.sweep.runner import run_sweep

    assert sweep.run_sweep is run_sweep and sweep.register is register
    for name in sweep.__all__:
        assert getattr(sweep, name) is not None


def test_ctrl_c_keeps_finished_cells_and_propagates(tmp_path):
    """SIGINT to the whole process group (what a terminal's Ctrl-C does) during a pooled sweep.

    Half the cells take 10 minutes (a family that sleeps), so both workers are busy when the
    interrupt comes. The driver raises KeyboardInterrupt to its caller at once (the hang guard
    is far shorter than a slow cell), nothing prints a traceback (workers ignore SIGINT), and
    the cells stored before are valid.
    """
    (tmp_path / "slowfam.py").write_text(
        "import time\n"
        "from metacot.markov.families import line_of_cliques\n"
        "def slow(K, M, eps, delay):\n"
        "    time.sleep(delay)\n"
        "    return line_of_cliques(K=K, M=M, eps=eps)\n"
    )
    spec = {"family": "slowfam:slow", "grid": {"K": [2, 3], "M": 4, "eps": [0.5, 0.25], "delay": [0.0, 600.0]},
            "metrics": ["exact_mean"]}
    out = tmp_path / "interrupted"
    script = (
        "import json, signal, sys\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, whatever our parent ignores\n"
        "from metacot import sweep\n"
        "try:\n"
        "    sweep.run_sweep(json.loads(sys.argv[1]), sys.argv[2], workers=2, cells_per_task=1, progress=False)\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted', flush=True)\n"
        "    sys.exit(3)\n"
        "print('finished', flush=True)\n"
    )
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(root)]))
    proc = subprocess.Popen([sys.executable, "-c", script, json.dumps(spec), str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, env=env, cwd=tmp_path)
    cells = out / "cells"
    deadline = time.time() + 300
    try:
        while time.time() < deadline and len(list(cells.glob("*.json"))) < 2 and proc.poll() is None:
            time.sleep(0.05)
        time.sleep(0.5)  # both workers are now inside a slow cell
        os.killpg(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)  # a hang guard, not a timing assertion
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 3 and "interrupted" in stdout, stdout + stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    stored = {p.stem for p in cells.glob("*.json")}
    assert len(stored) == 2  # the two fast cells; the slow ones were in flight
    sys.path.insert(0, str(tmp_path))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", sweep.CorruptCellWarning)
            table = sweep.compile_table(spec, out)
    finally:
        sys.path.remove(str(tmp_path))
    assert set(table["cell"]) == stored and (table["delay"] == 0).all() and table["error"].isna().all()
