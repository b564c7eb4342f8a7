r"""Walker/Vose alias tables for every row of a sparse transition matrix, in exact integer arithmetic.

For a row :math:`x` with :math:`k` nonzeros :math:`p_0, \dots, p_{k-1}` (in columns
:math:`c_0, \dots, c_{k-1}`), an alias table has :math:`k` slots. Slot :math:`j` holds a threshold
:math:`\theta_j \in [0, 2^{64})`, its own column :math:`c_j` and an alias column :math:`a_j`. A step
picks a slot :math:`j` uniformly, then keeps :math:`c_j` with probability :math:`\theta_j / 2^{64}`
and moves to :math:`a_j` otherwise, so

.. math::

    \Pr(X_{t+1} = c \mid X_t = x) = \frac{1}{k} \sum_{j} \Big( [c_j = c]\, \frac{\theta_j}{2^{64}}
    + [a_j = c] \Big(1 - \frac{\theta_j}{2^{64}}\Big) \Big).

Construction (Vose's method) works on integer masses in units of :math:`2^{-64}` of a slot: column
:math:`i` gets :math:`m_i \approx k\, 2^{64} p_i / \sum_l p_l`, the float value's exact binary
expansion, held as a 128-bit number in two ``uint64`` limbs; the rounding remainder is added to the
largest mass so that :math:`\sum_i m_i = k\, 2^{64}` exactly. Vose's pairing then runs in exact
integer arithmetic: it never loses mass, so every slot that ends "large" has mass exactly
:math:`2^{64}`. Such a probability-1 slot is stored with :math:`\theta = 2^{64} - 1` (its alias is
itself, so the :math:`2^{-64}` shortfall goes nowhere). The represented row therefore equals the
normalised float row up to one float rounding per entry (relative :math:`2^{-53}`), the
redistributed remainder (a few ulps, on the largest entry only) and at most :math:`2^{-64}` per slot
of threshold quantisation.

Layout
------
Everything a step reads lives in one ``uint64`` array ``table`` (one base pointer fewer in the hot
loop, which matters: the kernels are short of registers):

* a header of two words per state, ``table[2x] = e0`` (index in ``table`` of the first slot of
  row ``x``) and ``table[2x+1] = k`` (its degree);
* then the slots, two words each, ``table[e] = θ`` and ``table[e+1] = 2 col | (2 alias) << 32``:
  a slot stores its two destinations as *header indices* ``2c`` (the column times two), so the
  kernel goes from a slot straight to the next header without a shift; that one instruction is
  about 10% of a step on this hot loop. The column is the stored value halved;
* then two zero words of padding, so that a step attempted from a degree-0 row (which a
  branch-free kernel may compute and then discard) still reads inside the array.

A step reads the 16-byte header of its state and one 16-byte slot pair; an aligned 16-byte pair
never straddles a 64-byte cache line (numpy aligns arrays to at least 16 bytes), so a step
touches at most two cache lines, where separate ``indptr``/``thr``/``col``/``alias`` arrays would
touch up to five. Emptying a row (degree 0, how the simulator marks a target state) changes one
header word and needs no rebuild of the slots.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numba import njit

__all__ = ["AliasTable", "build_alias_table", "row_distribution"]

_MASK32 = np.uint64(0xFFFFFFFF)
_TWO64 = 18446744073709551616.0  # 2.0**64 as a float


class AliasTable:
    r"""Alias tables of all rows of a CSR stochastic matrix (see the module docstring).

    Attributes
    ----------
    table : ndarray of uint64, shape (2 n + 2 nnz + 2,)
        Header, slots and padding as described in the module docstring.
    n_states : int
        Number of rows :math:`n`.
    nnz : int
        Number of slots (stored entries of the matrix).
    """

    __slots__ = ("n_states", "nnz", "table")

    def __init__(self, table: np.ndarray, n_states: int) -> None:
        self.table = table
        self.n_states = int(n_states)
        self.nnz = (table.shape[0] - 2 * self.n_states - 2) // 2

    @property
    def header(self) -> np.ndarray:
        """View of the header: ``header[2x]`` = first slot index of row ``x``, ``header[2x+1]`` = degree."""
        return self.table[: 2 * self.n_states]

    @property
    def slots(self) -> np.ndarray:
        """View of the slot pairs: ``slots[2i]`` = threshold, ``slots[2i+1]`` = ``2 col | (2 alias) << 32``."""
        return self.table[2 * self.n_states : 2 * self.n_states + 2 * self.nnz]

    def degree(self) -> np.ndarray:
        """Degree (number of slots) of every row."""
        return self.header[1::2].astype(np.int64)

    def with_empty_rows(self, states) -> np.ndarray:
        """A copy of :attr:`table` in which ``states`` have degree 0 (the simulator's "hit" mark)."""
        table = self.table.copy()
        table[2 * np.asarray(states, dtype=np.int64) + 1] = 0
        return table

    @property
    def nbytes(self) -> int:
        """Memory held by the table in bytes."""
        return int(self.table.nbytes)


def build_alias_table(P: sp.csr_array | sp.csr_matrix) -> AliasTable:
    r"""Build the alias tables of every row of ``P`` in :math:`O(\mathrm{nnz})` time.

    Parameters
    ----------
    P : scipy.sparse CSR array, shape (n, n)
        Transition matrix with nonnegative entries; each nonempty row is normalised by its own sum
        (a :class:`~metacot.markov.chain.Chain` has row sums within 1e-9 of 1). Explicit zeros get
        threshold 0. Rows must have fewer than :math:`2^{32}` entries and ``n`` must be below
        :math:`2^{31}` (columns are stored in 32 bits).

    Returns
    -------
    AliasTable

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> t = build_alias_table(sp.csr_array(np.array([[0.25, 0.75], [1.0, 0.0]])))
    >>> row_distribution(t, 0)
    {0: Fraction(1, 4), 1: Fraction(3, 4)}
    """
    csr = sp.csr_array(P)
    n = csr.shape[0]
    if n >= 1 << 31:
        raise ValueError(f"alias tables support fewer than 2**31 states, got {n}")
    indptr = np.asarray(csr.indptr, dtype=np.int64)
    deg = np.diff(indptr)
    if deg.size and deg.max() >= 1 << 32:
        raise ValueError("alias tables support rows with fewer than 2**32 entries")
    data = np.asarray(csr.data, dtype=np.float64)
    if np.any(~np.isfinite(data)) or np.any(data < 0):
        raise ValueError("transition probabilities must be finite and nonnegative")
    table = np.zeros(2 * n + 2 * data.size + 2, dtype=np.uint64)
    table[0 : 2 * n : 2] = 2 * n + 2 * indptr[:-1]
    table[1 : 2 * n : 2] = deg
    _build_all_rows(indptr, np.asarray(csr.indices, dtype=np.int64), data, table[2 * n : 2 * n + 2 * data.size])
    return AliasTable(table, n)


@njit(cache=True)
def _build_all_rows(indptr, indices, data, slots):
    """Fill ``slots`` row by row (one pass over the nonzeros; scratch reused across rows)."""
    n = indptr.shape[0] - 1
    max_deg = 0
    for x in range(n):
        max_deg = max(max_deg, indptr[x + 1] - indptr[x])
    hi = np.empty(max_deg, dtype=np.uint64)
    lo = np.empty(max_deg, dtype=np.uint64)
    small = np.empty(max_deg, dtype=np.int64)
    large = np.empty(max_deg, dtype=np.int64)
    for x in range(n):
        p = indptr[x]
        k = indptr[x + 1] - p
        if k > 0:
            _integer_masses(data[p : p + k], hi, lo)
            _vose(indices[p : p + k], hi, lo, small, large, slots[2 * p : 2 * (p + k)])


@njit(inline="always", cache=True)
def _add128(ah, al, bh, bl):
    """(ah, al) + (bh, bl) mod 2^128 on two uint64 limbs."""
    s = al + bl
    carry = np.uint64(1) if s < al else np.uint64(0)
    return ah + bh + carry, s


@njit(cache=True)
def _integer_masses(p, hi, lo):
    r"""Masses :math:`m_i` with :math:`\sum_i m_i = k\,2^{64}` exactly, in limbs ``hi``, ``lo``.

    :math:`f_i = k p_i / \sum p` is rounded twice (float, with a compensated sum); :math:`2^{64} f_i` is then an exact
    integer whose high limb is :math:`\lfloor f_i \rfloor` and whose low limb is the fraction
    times :math:`2^{64}` (both conversions are exact). The integer remainder
    :math:`k\,2^{64} - \sum_i m_i` (a few ulps, either sign) goes to the largest mass, computed
    mod :math:`2^{128}` so a negative remainder needs no special case.
    """
    k = p.shape[0]
    # Neumaier-compensated sum: a plain float sum is off by up to k ulps, and that error would
    # rescale every entry of the row (the remainder correction below only fixes the largest).
    total = 0.0
    comp = 0.0
    for i in range(k):
        v = p[i]
        s = total + v
        if abs(total) >= abs(v):
            comp += (total - s) + v
        else:
            comp += (v - s) + total
        total = s
    total += comp
    if total <= 0.0:
        # A row of explicit zeros cannot be sampled; spread it uniformly rather than divide by 0.
        for i in range(k):
            hi[i] = np.uint64(1)
            lo[i] = np.uint64(0)
        return
    sh = np.uint64(0)
    sl = np.uint64(0)
    big = 0
    for i in range(k):
        f = (p[i] / total) * k
        whole = np.floor(f)
        hi[i] = np.uint64(whole)
        lo[i] = np.uint64((f - whole) * _TWO64)
        sh, sl = _add128(sh, sl, hi[i], lo[i])
        if hi[i] > hi[big] or (hi[i] == hi[big] and lo[i] > lo[big]):
            big = i
    # remainder = k * 2^64 - sum, as a two's complement 128-bit number
    rh, rl = _add128(np.uint64(k), np.uint64(0), ~sh, ~sl)
    rh, rl = _add128(rh, rl, np.uint64(0), np.uint64(1))
    hi[big], lo[big] = _add128(hi[big], lo[big], rh, rl)


@njit(inline="always", cache=True)
def _pack(col, alias):
    """Slot word: header indices ``2 col`` (low half) and ``2 alias`` (high half)."""
    return (np.uint64(2 * col)) | (np.uint64(2 * alias) << np.uint64(32))


@njit(cache=True)
def _vose(cols, hi, lo, small, large, out):
    """Vose's pairing on exact integer masses; writes ``k`` interleaved slot pairs into ``out``.

    Invariant: the masses still in play sum to exactly (number in play) * 2^64. Hence when the
    small list runs out the large ones are exactly 2^64 each, and the small list cannot outlive
    the large one.
    """
    k = cols.shape[0]
    ns = 0
    nl = 0
    for i in range(k):
        if hi[i] == 0:
            small[ns] = i
            ns += 1
        else:
            large[nl] = i
            nl += 1
    while ns > 0 and nl > 0:
        ns -= 1
        s = small[ns]
        g = large[nl - 1]
        out[2 * s] = lo[s]
        out[2 * s + 1] = _pack(cols[s], cols[g])
        # m_g -= 2^64 - m_s, i.e. m_g + m_s - 2^64
        h, l_ = _add128(hi[g], lo[g], np.uint64(0), lo[s])
        hi[g] = h - np.uint64(1)
        lo[g] = l_
        if hi[g] == 0:
            nl -= 1
            small[ns] = g
            ns += 1
    for t in range(nl):
        g = large[t]
        out[2 * g] = np.uint64(0xFFFFFFFFFFFFFFFF)
        out[2 * g + 1] = _pack(cols[g], cols[g])
    for t in range(ns):
        # Unreachable with exact masses; kept so a logic error shows up as a wrong test, not a
        # crash: the slot keeps its own column with its residual mass.
        s = small[t]
        out[2 * s] = lo[s]
        out[2 * s + 1] = _pack(cols[s], cols[s])


def row_distribution(table: AliasTable, x: int) -> dict:
    r"""The exact distribution an alias table row represents, as :class:`fractions.Fraction` values.

    Parameters
    ----------
    table : AliasTable
    x : int
        Row (state) index.

    Returns
    -------
    dict of int to Fraction
        Column :math:`c` to :math:`\frac{1}{k}\sum_j ([c_j=c]\,\theta_j + [a_j=c](2^{64}-\theta_j))
        / 2^{64}` (a probability-1 slot's :math:`2^{64}-1` is counted as :math:`2^{64}`, which is
        what it means). Only columns with positive mass appear.
    """
    from fractions import Fraction

    first = int(table.table[2 * x])
    k = int(table.table[2 * x + 1])
    mass: dict[int, int] = {}
    for e in range(first, first + 2 * k, 2):
        thr = int(table.table[e])
        word = int(table.table[e + 1])
        col, alias = (word & 0xFFFFFFFF) >> 1, word >> 33
        if thr == (1 << 64) - 1 and col == alias:
            thr = 1 << 64
        mass[col] = mass.get(col, 0) + thr
        mass[alias] = mass.get(alias, 0) + (1 << 64) - thr
    return {c: Fraction(m, k << 64) for c, m in sorted(mass.items()) if m}
