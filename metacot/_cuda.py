"""Is a CUDA GPU usable here? Probes shared by the CUDA kernels and the GPU exact solver.

Kept apart from both so that :mod:`metacot.markov` (exact solves on a GPU) and
:mod:`metacot.simulation` (the CUDA kernels) can ask the same question without importing each
other. Nothing here imports ``numba.cuda`` on a machine without an NVIDIA driver.
"""

from __future__ import annotations

import functools
import importlib.util
import os

from metacot.errors import BackendUnavailableError, CudaUnavailableError

__all__ = ["cuda_available", "require_cuda", "simulating"]


def simulating() -> bool:
    """True when numba's CUDA simulator is switched on (``NUMBA_ENABLE_CUDASIM`` set and not 0).

    Examples
    --------
    >>> isinstance(simulating(), bool)
    True
    """
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0").strip() not in ("", "0"):
        return True
    try:
        import sys

        if "numba.cuda" in sys.modules:
            from numba.cuda.core import config

            return bool(config.ENABLE_CUDASIM)
    except ImportError:
        pass
    return False


def _import_cuda():
    """``numba.cuda``, or :class:`CudaUnavailableError` naming the ``gpu`` extra."""
    try:
        from numba import cuda
    except ImportError as err:  # numba without numba-cuda, or missing CUDA bindings
        raise CudaUnavailableError(
            f"backend='cuda' needs numba-cuda ({err}); install it with pip install 'metacot[gpu]'"
        ) from err
    return cuda


def _driver_present() -> bool:
    """Cheap check for an NVIDIA driver library, so CPU-only machines never import numba.cuda.

    A plain ``dlopen`` (no ``ctypes.util.find_library``, which may spawn ``ldconfig``).
    """
    import ctypes
    import sys

    names = ("nvcuda.dll",) if sys.platform == "win32" else ("libcuda.so.1", "libcuda.so")
    for name in names:
        try:
            ctypes.CDLL(name)
        except OSError:
            continue
        return True
    return False


@functools.lru_cache(maxsize=1)
def cuda_available() -> bool:
    r"""True when a real CUDA GPU can run the kernels here (never under the simulator).

    Checks, cheapest first: the simulator is off, numba-cuda is installed, an NVIDIA driver
    library loads, and ``numba.cuda.is_available()``. Cached for the process.

    Returns
    -------
    bool

    Examples
    --------
    >>> cuda_available() in (True, False)
    True
    """
    if simulating() or importlib.util.find_spec("numba_cuda") is None or not _driver_present():
        return False
    try:
        from numba import cuda

        return bool(cuda.is_available())
    except Exception:
        return False


def require_cuda():
    """Return ``numba.cuda`` if the kernels can run (a GPU, or the simulator), else raise.

    Raises
    ------
    CudaUnavailableError
        numba-cuda is not installed (install the ``gpu`` extra).
    BackendUnavailableError
        numba-cuda is installed but no CUDA GPU and driver are usable, and the simulator is off.

    Examples
    --------
    >>> try:
    ...     require_cuda()
    ... except BackendUnavailableError as err:
    ...     print("no GPU here")  # doctest: +SKIP
    """
    if importlib.util.find_spec("numba_cuda") is None and not simulating():
        raise CudaUnavailableError(
            "backend='cuda' needs numba-cuda and CuPy; install them with pip install 'metacot[gpu]'"
        )
    cuda = _import_cuda()
    if not simulating() and not cuda_available():
        raise BackendUnavailableError(
            "backend='cuda' needs an NVIDIA GPU with a working driver, and none is usable here "
            "(numba.cuda.is_available() is False); use backend='numba' or 'auto', or set "
            "NUMBA_ENABLE_CUDASIM=1 to run the kernels on the CUDA simulator (slow)"
        )
    return cuda
