"""metacot: chain-of-thought reasoning as a metastable Markov chain.

Import the package as ``import metacot as mc``. The core objects are :class:`Chain` (dynamics),
and the modules :mod:`metacot.families` (chain constructors), :mod:`metacot.exact` (exact
quantities) and :func:`simulate` (Monte Carlo on CPU or GPU).

Importing metacot is cheap: numba and the kernels load on the first call to :func:`simulate`.
"""

from typing import Any

from metacot import behaviours, errors, exact, families, fit, graph, label, traces
from metacot.chain import Chain
from metacot.errors import MetacotError
from metacot.fit import fit_graph
from metacot.graph import BehaviourGraph

__version__ = "0.1.0"

__all__ = [
    "BehaviourGraph",
    "Chain",
    "MetacotError",
    "Simulation",
    "__version__",
    "behaviours",
    "dynamics",
    "errors",
    "exact",
    "families",
    "fit",
    "fit_graph",
    "geometry",
    "graph",
    "hierarchical",
    "label",
    "plots",
    "simulate",
    "simulate_many",
    "sweep",
    "synth",
    "traces",
]

_LAZY = {"simulate": "metacot.simulation", "simulate_many": "metacot.simulation", "Simulation": "metacot.simulation"}
# Submodules loaded on first use: they bring in numba kernels, plotting or optional dependencies.
_LAZY_MODULES = {"dynamics", "geometry", "hierarchical", "plots", "sweep", "synth"}


def __getattr__(name: str) -> Any:
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _LAZY_MODULES:
        return importlib.import_module(f"metacot.{name}")
    raise AttributeError(f"module 'metacot' has no attribute {name!r}")
