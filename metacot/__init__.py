"""metacot: chain-of-thought reasoning as a metastable Markov chain.

Import the package as ``import metacot as mc``. It is laid out by job:

* theory on chains -- :mod:`metacot.markov` (:class:`Chain`, families, exact solvers, G-PCCA),
  :mod:`metacot.simulation` (:func:`simulate` on numba or CUDA kernels) and
  :mod:`metacot.theory` (the metastable-dynamics paper's algorithms);
* measurement on traces -- :mod:`metacot.traces` (Trace, Step, readers, transformations),
  :mod:`metacot.graphs` (labellers, fits, :class:`BehaviourGraph`, comparison) and
  :mod:`metacot.structure` (geometry, entropy dynamics, path laws);
* synthesis -- :mod:`metacot.llm` (language-model samplers) and :mod:`metacot.synth` (MoLE-Syn).

Everything loads on first access, so ``import metacot`` is cheap. The short names of the flat
0.1 layout (``mc.exact``, ``mc.families``, ``mc.graph``, ``mc.fit``, ``mc.label``,
``mc.hierarchical``, ``mc.dynamics``, ``mc.geometry``, ``mc.pcca``, ``mc.path_laws``,
``mc.transforms``) stay as attributes; the old dotted import paths warn (see ``metacot._moved``).

Examples
--------
>>> import metacot as mc
>>> chain = mc.families.line_of_cliques(K=2, M=4, eps=0.5)
>>> float(mc.exact.hitting_times(chain)[chain.start])
13.0
"""

from metacot import _moved
from metacot._lazy import attach
from metacot._version import __version__ as __version__

_moved.install()

_SUBPACKAGES = {
    "markov": "metacot.markov",
    "simulation": "metacot.simulation",
    "theory": "metacot.theory",
    "llm": "metacot.llm",
    "traces": "metacot.traces",
    "graphs": "metacot.graphs",
    "structure": "metacot.structure",
    "msm": "metacot.msm",
    "synth": "metacot.synth",
    "embed": "metacot.embed",
    "behaviours": "metacot.behaviours",
    "errors": "metacot.errors",
    "plots": "metacot.plots",
    "sweep": "metacot.sweep",
    "cli": "metacot.cli",
}
# The flat names of 0.1, kept as attributes (the public API contract uses mc.exact, mc.graph...).
_SHORT = {
    "chain": "metacot.markov.chain",
    "families": "metacot.markov.families",
    "exact": "metacot.markov.exact",
    "pcca": "metacot.markov.pcca",
    "kernels": "metacot.simulation.kernels",
    "transforms": "metacot.traces.transforms",
    "label": "metacot.graphs.labellers",
    "fit": "metacot.graphs.fit",
    "hierarchical": "metacot.graphs.hierarchical",
    "graph": "metacot.graphs.graph",
    "geometry": "metacot.structure.geometry",
    "dynamics": "metacot.structure.dynamics",
    "path_laws": "metacot.structure.path_laws",
}
_NAMES = {
    "Chain": "metacot.markov.chain",
    "simulate": "metacot.simulation.engine",
    "simulate_many": "metacot.simulation.engine",
    "Simulation": "metacot.simulation.engine",
    "fit_graph": "metacot.graphs.fit",
    "BehaviourGraph": "metacot.graphs.graph",
    "MetacotError": "metacot.errors",
}

__getattr__, __dir__ = attach(__name__, globals(), modules={**_SUBPACKAGES, **_SHORT}, names=_NAMES)

__all__ = sorted([*_NAMES, *_SUBPACKAGES, *_SHORT, "__version__"])
