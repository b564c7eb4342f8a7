"""One checker per kind of argument, shared by the whole package.

Every public function validates its arguments through these helpers, so the same mistake gets
the same message everywhere and always raises a :class:`~metacot.errors.MetacotError`:
:class:`~metacot.errors.ArgumentTypeError` (also a :class:`TypeError`) for a value of the wrong
type, :class:`~metacot.errors.InvalidArgumentError` (also a :class:`ValueError`) for a value out
of range.

Randomness follows one convention (see DESIGN.md): ``seed`` is a non-negative int below
:math:`2^{64}` or a :class:`numpy.random.Generator`. :func:`as_rng` turns it into a Generator for
numpy-based code, :func:`as_seed_int` into the 64-bit key of the Philox streams of
:mod:`metacot.simulation.kernels.rng`; a Generator passed to :func:`as_seed_int` contributes one
draw, so reusing the same Generator gives fresh, reproducible streams.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from metacot.errors import ArgumentTypeError, InvalidArgumentError

__all__ = ["as_rng", "as_seed_int", "positive_int", "probability", "readonly"]

_SEED_RULE = "a non-negative int below 2**64 or a numpy.random.Generator"


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def as_seed_int(seed: Any, name: str = "seed") -> int:
    """``seed`` as a 64-bit key: an int in :math:`[0, 2^{64})`, or one draw from a Generator.

    Examples
    --------
    >>> as_seed_int(7)
    7
    >>> as_seed_int(np.random.default_rng(0)) == as_seed_int(np.random.default_rng(0))
    True
    >>> as_seed_int(-1)
    Traceback (most recent call last):
    ...
    metacot.errors.InvalidArgumentError: seed must be in [0, 2**64), got -1
    """
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(0, 1 << 64, dtype=np.uint64))
    if not _is_int(seed):
        raise ArgumentTypeError(f"{name} must be {_SEED_RULE}, got {seed!r}")
    if not 0 <= int(seed) < 1 << 64:
        raise InvalidArgumentError(f"{name} must be in [0, 2**64), got {int(seed)}")
    return int(seed)


def as_rng(seed: Any, name: str = "seed") -> np.random.Generator:
    """``seed`` as a :class:`numpy.random.Generator`; a Generator is returned as it is (not copied).

    Examples
    --------
    >>> float(as_rng(0).random()) == float(np.random.default_rng(0).random())
    True
    >>> g = np.random.default_rng(1)
    >>> as_rng(g) is g
    True
    """
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(as_seed_int(seed, name))


def positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """``value`` as an int ``>= minimum`` (``minimum=0`` for counts that may be zero).

    Examples
    --------
    >>> positive_int(np.int64(3), "n")
    3
    >>> positive_int(0, "n_walkers")
    Traceback (most recent call last):
    ...
    metacot.errors.InvalidArgumentError: n_walkers must be an int >= 1, got 0
    """
    if not _is_int(value):
        raise ArgumentTypeError(f"{name} must be an int >= {minimum}, got {value!r}")
    if int(value) < minimum:
        raise InvalidArgumentError(f"{name} must be an int >= {minimum}, got {int(value)}")
    return int(value)


def probability(value: Any, name: str, *, allow_zero: bool = True, allow_one: bool = True) -> float:
    """``value`` as a float in :math:`[0, 1]`, with either end excluded on request.

    Examples
    --------
    >>> probability(0.25, "q")
    0.25
    >>> probability(0.0, "eps", allow_zero=False)
    Traceback (most recent call last):
    ...
    metacot.errors.InvalidArgumentError: eps must lie in (0, 1], got 0.0
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ArgumentTypeError(f"{name} must be a number, got {value!r}")
    p = float(value)
    lo, hi = ("[" if allow_zero else "("), ("]" if allow_one else ")")
    ok = math.isfinite(p) and (0.0 <= p if allow_zero else 0.0 < p) and (p <= 1.0 if allow_one else p < 1.0)
    if not ok:
        raise InvalidArgumentError(f"{name} must lie in {lo}0, 1{hi}, got {value!r}")
    return p


def readonly(a: np.ndarray | None) -> np.ndarray | None:
    """Mark ``a`` read-only in place and return it (``None`` passes through).

    Every immutable result object of the package freezes its arrays with this.
    """
    if a is not None:
        a.setflags(write=False)
    return a
