"""Structure measured on traces and on chains lifted from graphs.

* :mod:`~metacot.structure.geometry` -- step embeddings, t-SNE, minimum enclosing balls, bond geometry;
* :mod:`~metacot.structure.dynamics` -- entropy dynamics and oscillation of traces and chains;
* :mod:`~metacot.structure.path_laws` -- exact laws of transformed paths of a lifted chain.
"""

from metacot._lazy import attach

_MODULES = {"geometry": "metacot.structure.geometry", "dynamics": "metacot.structure.dynamics", "path_laws": "metacot.structure.path_laws"}
_NAMES = {
}

__getattr__, __dir__ = attach(__name__, globals(), modules=_MODULES, names=_NAMES)
__all__ = sorted([*_MODULES, *_NAMES])
