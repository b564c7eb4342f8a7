"""Developer and user entry points: ``nox -s tests``, ``nox -s experiments``, ``nox -s bench``, ``nox -s lint``.

Each session installs the package into its own virtual environment with the extras it needs, so
the two quickstart commands work on a fresh machine with nothing but Python and nox.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

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


# llama-cpp-python ships only as source, and its default build targets the building CPU
# (-march=native, plus AVX-512/AMX kernels where the CPU reports them). Such a wheel, reused from
# pip's cache, died with "Illegal instruction" on a virtual machine whose CPU advertises AMX.
# We build it once per machine without native tuning (AVX2/FMA/F16C, which every x86-64 CPU of
# the last decade has) into our own cache folder, so pip's cached native wheel is never used.
LLAMA_CPP = "llama-cpp-python==0.3.36"
LLAMA_CMAKE_ARGS = "-DGGML_NATIVE=OFF"


def _portable_llama_wheel(session: nox.Session) -> Path:
    key = hashlib.sha256(f"{LLAMA_CPP} {LLAMA_CMAKE_ARGS}".encode()).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "metacot" / f"llama-{key}"
    wheels = sorted(cache.glob("llama_cpp_python-*.whl"))
    if not wheels:
        session.log(f"building {LLAMA_CPP} without native CPU tuning (once per machine, about 7 min)")
        session.run("python", "-m", "pip", "wheel", "--no-deps", "--no-cache-dir", "-w", str(cache), LLAMA_CPP,
                    env={"CMAKE_ARGS": LLAMA_CMAKE_ARGS, "FORCE_CMAKE": "1"})
        wheels = sorted(cache.glob("llama_cpp_python-*.whl"))
    return wheels[-1]


def _install(session: nox.Session, extras: str) -> None:
    session.install(TORCH)
    session.install(f"{_portable_llama_wheel(session)}[server]")
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
