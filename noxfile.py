"""Developer and user entry points: ``nox -s tests``, ``nox -s experiments``, ``nox -s bench``, ``nox -s lint``.

Each session installs the package into its own virtual environment with the extras it needs, so
the two quickstart commands work on a fresh machine with nothing but Python and nox.
"""

from __future__ import annotations

import os

import nox

# pip, not uv: the machines this project targets keep a CPU build of torch in pip's local index
# (see TORCH below), which uv does not read.
nox.options.default_venv_backend = "virtualenv"
nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True

# Numba caches compiled kernels beside the sources; one thread pool per process keeps the
# 2-core CI machine from oversubscribing when pytest-xdist runs two workers.
ENV = {"NUMBA_CACHE_DIR": os.path.join(os.path.dirname(__file__), ".nox", "numba-cache")}

# Installed first and pinned: an unpinned torch pulled in by sentence-transformers would fetch the
# newest CUDA build (several GB) onto machines that have no GPU.
TORCH = "torch==2.13.0"


def _install(session: nox.Session, extras: str) -> None:
    session.install(TORCH)
    session.install("-e", f".[{extras}]")


@nox.session
def tests(session: nox.Session) -> None:
    """The full test suite (pytest + hypothesis), on as many processes as there are cores."""
    _install(session, "all,dev")
    session.run("pytest", "-n", "auto", "--dist", "loadfile", *session.posargs, env=ENV)


@nox.session
def lint(session: nox.Session) -> None:
    """Static checks with ruff."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", "metacot", "experiments", "tests", "benchmarks", "noxfile.py")


@nox.session
def experiments(session: nox.Session) -> None:
    """Run every experiment and regenerate the claims ledgers in papers/ (``-- --quick`` for the small versions)."""
    _install(session, "all")
    session.run("python", "-m", "experiments", "all", *session.posargs, env=ENV)


@nox.session
def bench(session: nox.Session) -> None:
    """Side-by-side speed comparisons; writes benchmarks/RESULTS.md (``-- --quick`` for a smoke run)."""
    _install(session, "all,dev")
    session.run("python", "-m", "benchmarks", *session.posargs, env=ENV)
