"""Monte Carlo simulation of chains: :func:`simulate`, :func:`simulate_many`, :class:`Simulation`.

* :mod:`~metacot.simulation.engine` -- the user-facing functions and the result object;
* :mod:`~metacot.simulation.kernels` -- the Philox4x32-10 stream (``rng``), per-row alias tables
  (``alias``), the numba kernels (``cpu``), the numpy reference (``reference``) and the CUDA
  kernels (``gpu``), which give identical results for a seed.
"""

from metacot._lazy import attach

_MODULES = {"engine": "metacot.simulation.engine", "kernels": "metacot.simulation.kernels"}
_NAMES = {
    "BACKENDS": "metacot.simulation.engine",
    "Estimate": "metacot.simulation.engine",
    "Simulation": "metacot.simulation.engine",
    "UnknownBackendError": "metacot.simulation.engine",
    "simulate": "metacot.simulation.engine",
    "simulate_many": "metacot.simulation.engine",
    "start_thresholds": "metacot.simulation.engine",
}

__getattr__, __dir__ = attach(__name__, globals(), modules=_MODULES, names=_NAMES)
__all__ = sorted([*_MODULES, *_NAMES])
