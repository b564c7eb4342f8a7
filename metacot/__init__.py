"""metacot: chain-of-thought reasoning as a metastable Markov chain.

Import the package as ``import metacot as mc``. The core objects are :class:`Chain` (dynamics),
and the modules :mod:`metacot.families` (chain constructors), :mod:`metacot.exact` (exact
quantities) and :func:`simulate` (Monte Carlo on CPU or GPU).
"""

from metacot import errors, exact, families
from metacot.chain import Chain
from metacot.errors import MetacotError
from metacot.simulation import Simulation, simulate

__version__ = "0.1.0"

__all__ = [
    "Chain",
    "MetacotError",
    "Simulation",
    "__version__",
    "errors",
    "exact",
    "families",
    "simulate",
]
