"""Monte Carlo simulation of chains: :func:`simulate`, :func:`simulate_many`, :class:`Simulation`.

* :mod:`~metacot.simulation.engine` -- the user-facing functions;
* :mod:`~metacot.simulation.result` -- the result objects (:class:`Simulation`, :class:`Estimate`);
* :mod:`~metacot.simulation.request` -- checking and planning a request (backend, memory, tables);
* :mod:`~metacot.simulation.run` -- running the kernels in interruptible rounds;
* :mod:`~metacot.simulation.kernels` -- the Philox4x32-10 stream (``rng``), per-row alias tables
  (``alias``), the numba kernels (``cpu``), the numpy reference (``reference``) and the CUDA
  kernels (``gpu``), which give identical results for a seed.
"""

from metacot._lazy import attach

_MODULES = {
    "engine": "metacot.simulation.engine",
    "kernels": "metacot.simulation.kernels",
    "request": "metacot.simulation.request",
    "result": "metacot.simulation.result",
    "run": "metacot.simulation.run",
}
_NAMES = {
    "BACKENDS": "metacot.simulation.request",
    "MAX_STEPS": "metacot.simulation.request",
    "Estimate": "metacot.simulation.result",
    "Simulation": "metacot.simulation.result",
    "UnknownBackendError": "metacot.errors",
    "resolve_backend": "metacot.simulation.request",
    "simulate": "metacot.simulation.engine",
    "simulate_many": "metacot.simulation.engine",
    "start_thresholds": "metacot.simulation.request",
}

__getattr__, __dir__ = attach(__name__, globals(), modules=_MODULES, names=_NAMES)
__all__ = sorted([*_MODULES, *_NAMES])
