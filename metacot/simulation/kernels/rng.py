r"""Philox4x32-10, the counter-based random number generator behind every simulation backend.

Philox (Salmon, Moraes, Dror and Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC'11; the
Random123 library) is a keyed bijection of a 128-bit counter. Random number :math:`i` of a stream
is simply :math:`\mathrm{Philox}_k(i)`: no state is carried from one draw to the next, so any walker
can compute any of its draws directly, on any thread or device, in any order. That is what makes
the results of :func:`metacot.simulate` independent of the thread count and identical between the
numba, numpy and (later) CUDA backends.

One round maps the counter :math:`(c_0, c_1, c_2, c_3)` and key :math:`(k_0, k_1)` (all 32-bit) to

.. math::

    (\operatorname{hi}(M_1 c_2) \oplus c_1 \oplus k_0,\;
     \operatorname{lo}(M_1 c_2),\;
     \operatorname{hi}(M_0 c_0) \oplus c_3 \oplus k_1,\;
     \operatorname{lo}(M_0 c_0))

with :math:`M_0 = \mathtt{0xD2511F53}`, :math:`M_1 = \mathtt{0xCD9E8D57}`, where hi/lo are the two
32-bit halves of the 64-bit product. Between rounds the key is bumped by the Weyl constants
:math:`W_0 = \mathtt{0x9E3779B9}`, :math:`W_1 = \mathtt{0xBB67AE85}` (mod :math:`2^{32}`).
Philox4x32-10 applies 10 rounds.

The stream contract
-------------------
This layout is a contract: the GPU kernel must reproduce it bit for bit.

* ``seed`` is an integer in :math:`[0, 2^{64})`; the key is
  ``(seed & 0xffffffff, seed >> 32)``.
* Walker ``w`` (0-based global index) and draw index ``d`` use the counter
  ``(d & 0xffffffff, d >> 32, w & 0xffffffff, w >> 32)``.
* A draw gives four words ``r0..r3``, read as two 64-bit values ``a = r0 | r1 << 32`` and
  ``b = r2 | r3 << 32``.
* Step ``s = 1, 2, ...`` of walker ``w`` uses draw ``d = (s - 1) // 2``: value ``a`` when ``s - 1``
  is even, ``b`` when it is odd. So one Philox call serves two steps.
* When the start is a distribution, walker ``w``'s start state comes from value ``a`` of draw
  ``d = 2**64 - 1`` (:data:`START_DRAW`), a counter no step ever uses.

Implementation notes
--------------------
The scalar functions are ``numba.njit(inline="always")`` and use nothing but ``uint64``
arithmetic whose low 32 bits are exact (products of two 32-bit values fit in 64 bits), with no
calls except :func:`philox_pair` to :func:`philox4x32_10`, so the same Python source (their
``.py_func``) compiles for ``numba.cuda`` as device functions and gives the same bits. Every constant and operand is an
explicit ``np.uint64``: numba turns ``uint64 op int64`` into ``float64``, which would silently
destroy the stream. Key additions wrap mod 2^32 through an explicit mask.
:func:`philox4x32_10_np` is the same computation on numpy arrays, for the reference backend and
for tests.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "START_DRAW",
    "philox4x32_10",
    "philox4x32_10_np",
    "philox_pair",
    "philox_pair_np",
    "seed_key",
]

#: Philox4x32 round multipliers and Weyl key increments (Random123's values).
PHILOX_M0 = np.uint64(0xD2511F53)
PHILOX_M1 = np.uint64(0xCD9E8D57)
PHILOX_W0 = np.uint64(0x9E3779B9)
PHILOX_W1 = np.uint64(0xBB67AE85)

_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)

#: Draw index reserved for sampling a walker's start state (never used by a step).
START_DRAW = (1 << 64) - 1


def seed_key(seed: int) -> tuple[np.uint64, np.uint64]:
    """Split a 64-bit seed into the two 32-bit Philox key words ``(seed & 0xffffffff, seed >> 32)``.

    Parameters
    ----------
    seed : int
        An integer in :math:`[0, 2^{64})`.

    Returns
    -------
    (np.uint64, np.uint64)
        The key words, each below :math:`2^{32}`, typed as ``uint64`` for the kernels.
    """
    seed = int(seed)
    if not 0 <= seed < 1 << 64:
        raise ValueError(f"seed must be in [0, 2**64), got {seed}")
    return np.uint64(seed & 0xFFFFFFFF), np.uint64(seed >> 32)


@njit(inline="always", cache=True)
def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 of counter ``(c0, c1, c2, c3)`` under key ``(k0, k1)``.

    Parameters
    ----------
    c0, c1, c2, c3, k0, k1 : np.uint64
        32-bit words held in ``uint64`` (values must be below :math:`2^{32}`).

    Returns
    -------
    tuple of 4 np.uint64
        The output words ``r0, r1, r2, r3``, each below :math:`2^{32}`.

    Examples
    --------
    >>> r = philox4x32_10(*(np.uint64(0) for _ in range(6)))
    >>> [hex(int(x)) for x in r]
    ['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']

    Notes
    -----
    Self-contained (no calls), so the same source compiles as a CUDA device function. LLVM fully
    unrolls the fixed 10-round loop, after which the caller's loop over walkers vectorises.
    The low halves of the products are not masked: only ``x0`` and ``x2`` are multiplied, and
    they are rebuilt from masked values each round, so junk above bit 32 never reaches a product
    (it is masked once at the end).
    """
    x0 = np.uint64(c0)
    x1 = np.uint64(c1)
    x2 = np.uint64(c2)
    x3 = np.uint64(c3)
    y0 = np.uint64(k0)
    y1 = np.uint64(k1)
    for i in range(10):
        if i > 0:
            y0 = (y0 + PHILOX_W0) & _MASK32
            y1 = (y1 + PHILOX_W1) & _MASK32
        p0 = PHILOX_M0 * (x0 & _MASK32)
        p1 = PHILOX_M1 * (x2 & _MASK32)
        x0 = (p1 >> _SHIFT32) ^ x1 ^ y0
        x1 = p1
        x2 = (p0 >> _SHIFT32) ^ x3 ^ y1
        x3 = p0
    return x0 & _MASK32, x1 & _MASK32, x2 & _MASK32, x3 & _MASK32


@njit(inline="always", cache=True)
def philox_pair(d, w, k0, k1):
    """The two 64-bit values ``(a, b)`` of draw ``d`` of walker ``w`` under key ``(k0, k1)``.

    Parameters
    ----------
    d, w : np.uint64
        Draw index and global walker index (full 64-bit values).
    k0, k1 : np.uint64
        Key words from :func:`seed_key`.

    Returns
    -------
    (np.uint64, np.uint64)
        ``a = r0 | r1 << 32`` and ``b = r2 | r3 << 32``.
    """
    dd = np.uint64(d)
    ww = np.uint64(w)
    r0, r1, r2, r3 = philox4x32_10(
        dd & _MASK32, dd >> _SHIFT32, ww & _MASK32, ww >> _SHIFT32, k0, k1
    )
    return r0 | (r1 << _SHIFT32), r2 | (r3 << _SHIFT32)


# --------------------------------------------------------------------------- numpy version
def philox4x32_10_np(c0, c1, c2, c3, k0, k1):
    """Vectorised Philox4x32-10: the same computation as :func:`philox4x32_10` on numpy arrays.

    Parameters
    ----------
    c0, c1, c2, c3 : array_like of uint32-range integers
        Counter words (broadcast together).
    k0, k1 : int
        Key words (below :math:`2^{32}`).

    Returns
    -------
    tuple of 4 ndarray of uint64
        Output words ``r0..r3``, each below :math:`2^{32}`.

    Examples
    --------
    >>> [hex(int(r)) for r in philox4x32_10_np(0, 0, 0, 0, 0, 0)]
    ['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
    """
    x0, x1, x2, x3 = np.broadcast_arrays(*(np.asarray(c, dtype=np.uint64) for c in (c0, c1, c2, c3)))
    x0, x1, x2, x3 = (np.array(x, dtype=np.uint64) for x in (x0, x1, x2, x3))
    y0 = np.uint64(k0)
    y1 = np.uint64(k1)
    for i in range(10):
        if i:
            y0 = (y0 + PHILOX_W0) & _MASK32
            y1 = (y1 + PHILOX_W1) & _MASK32
        p0 = PHILOX_M0 * x0
        p1 = PHILOX_M1 * x2
        x0, x1, x2, x3 = (p1 >> _SHIFT32) ^ x1 ^ y0, p1 & _MASK32, (p0 >> _SHIFT32) ^ x3 ^ y1, p0 & _MASK32
    return x0, x1, x2, x3


def philox_pair_np(d, w, k0, k1):
    """Vectorised :func:`philox_pair`: values ``(a, b)`` of draws ``d`` of walkers ``w``.

    Parameters
    ----------
    d, w : array_like of uint64
        Draw indices and walker indices (broadcast together).
    k0, k1 : int
        Key words from :func:`seed_key`.

    Returns
    -------
    (ndarray of uint64, ndarray of uint64)
        ``a = r0 | r1 << 32`` and ``b = r2 | r3 << 32`` for every element.
    """
    d = np.asarray(d, dtype=np.uint64)
    w = np.asarray(w, dtype=np.uint64)
    r0, r1, r2, r3 = philox4x32_10_np(d & _MASK32, d >> _SHIFT32, w & _MASK32, w >> _SHIFT32, k0, k1)
    return r0 | (r1 << _SHIFT32), r2 | (r3 << _SHIFT32)
