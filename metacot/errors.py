"""The one exception hierarchy of metacot.

Every error the package raises on purpose derives from :class:`MetacotError`, and also from the
built-in exception a caller would otherwise expect (``ValueError``, ``MemoryError``, ...), so both
``except MetacotError`` and ``except ValueError`` work.
"""

from __future__ import annotations


class MetacotError(Exception):
    """Base class of every error metacot raises on purpose."""


class InvalidChainError(MetacotError, ValueError):
    """A transition matrix, cluster labelling, start or target that cannot define a chain."""


class InvalidArgumentError(MetacotError, ValueError):
    """An argument outside its documented range (a negative count, a seed of more than 64 bits, ...)."""


class UnreachableTargetError(MetacotError, ValueError):
    """The target cannot be reached from the start, so the requested quantity does not exist."""


class CensoredError(MetacotError, ValueError):
    """A Monte Carlo estimate was asked for, but some walkers never hit within ``max_steps``."""


class MemoryBudgetError(MetacotError, MemoryError):
    """A request would need more memory than the machine has available; refused before allocating."""


class MissingDependencyError(MetacotError, ImportError):
    """An optional dependency is missing; the message names the extra that installs it."""


class BackendUnavailableError(MetacotError, RuntimeError):
    """A simulation backend was requested that cannot run here (no GPU, no numba, ...)."""


class UnknownBackendError(BackendUnavailableError, ValueError):
    """``backend=`` names no backend at all (as opposed to one that cannot run here)."""
