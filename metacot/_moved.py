"""Old import paths of modules that moved in the 0.2 re-layout, kept working for one release.

Until 0.2 the package was flat (``metacot.exact``, ``metacot.graph``, ``metacot.kernels.cpu``...).
It is now laid out by job (``metacot.markov``, ``metacot.graphs``, ``metacot.simulation``...). An
import of an old path still works: a meta-path finder answers it with the *same module object*
as the new path (so ``metacot.exact.hitting_times is metacot.markov.exact.hitting_times`` and a
monkeypatch on one is seen through the other) and issues a :class:`DeprecationWarning` that names
the new path. No copy of any module exists under the old name.

The short attribute names of the top-level package (``mc.exact``, ``mc.graph``, ``mc.label``...)
are part of the public API and do not warn; only the dotted import paths below do.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType

#: old module path -> new module path.
MOVED: dict[str, str] = {
    "metacot.chain": "metacot.markov.chain",
    "metacot.families": "metacot.markov.families",
    "metacot.exact": "metacot.markov.exact",
    "metacot.pcca": "metacot.markov.pcca",
    "metacot.kernels": "metacot.simulation.kernels",
    "metacot.kernels.alias": "metacot.simulation.kernels.alias",
    "metacot.kernels.cpu": "metacot.simulation.kernels.cpu",
    "metacot.kernels.gpu": "metacot.simulation.kernels.gpu",
    "metacot.kernels.reference": "metacot.simulation.kernels.reference",
    "metacot.kernels.rng": "metacot.simulation.kernels.rng",
    "metacot.kernels.gpu_exact": "metacot.markov.gpu_exact",
    "metacot.synth.samplers": "metacot.llm.samplers",
    "metacot.transforms": "metacot.traces.transforms",
    "metacot.label": "metacot.graphs.labellers",
    "metacot.fit": "metacot.graphs.fit",
    "metacot.hierarchical": "metacot.graphs.hierarchical",
    "metacot.graph": "metacot.graphs.graph",
    "metacot.geometry": "metacot.structure.geometry",
    "metacot.dynamics": "metacot.structure.dynamics",
    "metacot.path_laws": "metacot.structure.path_laws",
}


def _caller_stacklevel() -> int:
    """The stack level of the first frame outside the import machinery and this module."""
    frame, level = sys._getframe(1), 1
    while frame is not None:
        name = frame.f_code.co_filename
        if not (name.startswith("<frozen importlib") or name == __file__ or "importlib" in name):
            return level
        frame, level = frame.f_back, level + 1
    return 1


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, new: str) -> None:
        self.new = new

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        warnings.warn(f"{spec.name} moved to {self.new}; the old path is kept for one release "
                      f"and will be removed in metacot 0.3", DeprecationWarning, stacklevel=_caller_stacklevel())
        # The new module itself: the import system keeps its __name__ and __spec__ and binds it
        # to the old name in sys.modules and on the parent package.
        return importlib.import_module(self.new)

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the module was executed under its new name."""


class MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Answers the old paths in :data:`MOVED` with the module now at the new path."""

    def find_spec(self, fullname, path=None, target=None):
        new = MOVED.get(fullname)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(new))


def install() -> None:
    """Register the finder once (idempotent)."""
    if not any(isinstance(f, MovedModuleFinder) for f in sys.meta_path):
        # First, so that a stale folder of an old install (say metacot/kernels/ holding only
        # __pycache__) cannot be picked up as a namespace package instead.
        sys.meta_path.insert(0, MovedModuleFinder())
