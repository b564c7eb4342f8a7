r"""The pinned linear systems of :mod:`metacot.markov.exact`, solved without cancellation.

Every exact quantity of a chain (hitting times and their moments, committors, absorption and
stationary laws) comes down to a system

.. math:: (I - P_{UU})\, x_U = b_U + P_{UK}\, x_K

on a set :math:`U` of *unknown* states, the values :math:`x_K` on the other states being pinned.
:math:`A = I - P_{UU}` is a non-singular M-matrix: its off-diagonal entries :math:`-N_{ij}`,
:math:`N_{ij} = P_{ij} \ge 0`, are the transition rates inside :math:`U` and its row excess

.. math:: s_i = A_{ii} - \sum_{j \ne i} N_{ij} = \sum_{j \notin U} P_{ij} \;\ge 0

is the rate of leaving :math:`U` in one step.

Why not a plain sparse LU
-------------------------
For a metastable chain :math:`s` is tiny (of the order of the sparse-edge probability
:math:`\varepsilon`) and an ordinary factorisation loses it twice. The diagonal
:math:`1 - P_{ii}` is a difference of two numbers near 1 and the stored :math:`P_{ii}` carries
an absolute rounding of about :math:`10^{-16}`, which is all of :math:`\varepsilon` at
:math:`\varepsilon = 10^{-16}`. Then each pivot of Gaussian elimination,
:math:`a_{kk} - \sum_m l_{km} u_{mk}`, is again a difference, and the last pivot of a cluster
is its escape rate, :math:`O(\varepsilon)`, out of :math:`O(1)` terms. On
``line_of_cliques(K=4, M=16, eps)`` SuperLU's hitting time was off by :math:`2 \cdot 10^{-5}`
at :math:`\varepsilon = 10^{-10}`, by 28 % at :math:`10^{-14}`, and singular below
:math:`10^{-16}`.

What is done instead (GTH-style elimination)
--------------------------------------------
The diagonal is never stored as a difference: :math:`A = \operatorname{diag}(N\mathbf 1 + s) - N`
with :math:`s_i` summed from the entries that leave :math:`U` (the small rates are carried as
they are). Elimination then keeps the row excess of every Schur complement alongside the factors,
as the Grassmann--Taksar--Heyman algorithm does for stationary laws: with :math:`A = LU`,
:math:`U\mathbf 1 = L^{-1} s`, so

.. math:: \sigma_i = s_i + \sum_{k < i} |L_{ik}|\, \sigma_k, \qquad
          U_{ii} = \sigma_i + \sum_{j > i} |U_{ij}|,

and the off-diagonal entries of :math:`L` and :math:`U` accumulate terms of one sign. No
subtraction occurs anywhere, and the triangular solves with a non-negative right-hand side (every
system here has one) add terms of one sign too; so every entry of the result has a small
*relative* error whatever :math:`\varepsilon` is, as long as no rate underflows.

SuperLU provides the fill-reducing order (COLAMD) and the sparsity pattern of the factors, from a
strictly diagonally dominant matrix of the same pattern; the numbers are computed by a small Numba
kernel on that pattern (one pass, the cost of the numeric factorisation).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numba import njit

from metacot.errors import SolverError

__all__ = ["MMatrixLU", "SolverError", "leak_split", "m_matrix", "solve_pinned"]


#: Excess of the pattern matrix that SuperLU factorises for the order and the fill pattern (see
#: :class:`MMatrixLU`): small, so fill does not underflow, and far above rounding, so no pivot
#: of that matrix vanishes.
_PATTERN_EXCESS = 1e-10

#: Largest accepted componentwise backward error of a solve (see :func:`backward_error`); the
#: GTH-style solve reaches about 1e-15.
_BACKWARD_TOL = 1e-9


# --------------------------------------------------------------------------- the matrix
def leak_split(P: sp.csr_array, unknown: np.ndarray) -> tuple[sp.csr_array, np.ndarray, np.ndarray]:
    r"""The rates inside ``unknown`` and out of it: :math:`N = P_{UU}` off the diagonal, and :math:`s`.

    Parameters
    ----------
    P : csr_array, shape (n, n)
    unknown : ndarray of bool, shape (n,)

    Returns
    -------
    N : csr_array, shape (m, m)
        :math:`P_{ij}` for :math:`i \ne j` both in :math:`U` (``m = unknown.sum()``); the
        diagonal of :math:`P` is not used.
    s : ndarray, shape (m,)
        :math:`s_i = \sum_{j \notin U} P_{ij}`, summed from those entries (never as
        :math:`1 - \sum_{j \in U} P_{ij}`).
    U : ndarray of int
        The unknown states, sorted; row ``r`` of ``N`` is state ``U[r]``.
    """
    U = np.flatnonzero(unknown)
    rows = sp.csr_array(P[U])
    cols = rows.indices
    row_of = np.repeat(np.arange(U.size), np.diff(rows.indptr))
    inside = unknown[cols]
    s = np.bincount(row_of[~inside], weights=rows.data[~inside], minlength=U.size)
    local = np.full(P.shape[0], -1, dtype=np.int64)
    local[U] = np.arange(U.size)
    keep = inside & (local[cols] != row_of)
    N = sp.csr_array((rows.data[keep], (row_of[keep], local[cols[keep]])), shape=(U.size, U.size))
    N.sort_indices()
    return N, s, U


def m_matrix(N: sp.csr_array, s: np.ndarray) -> sp.csr_array:
    r""":math:`A = \operatorname{diag}(N\mathbf 1 + s) - N`: the diagonal summed, not subtracted.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> m_matrix(sp.csr_array(np.array([[0, 0.5], [1e-20, 0]])), np.array([0.25, 0.0])).toarray().tolist()
    [[0.75, -0.5], [-1e-20, 1e-20]]
    """
    d = np.asarray(N.sum(axis=1)).ravel() + s
    return sp.csr_array(sp.diags_array(d) - N)


# --------------------------------------------------------------------------- numba kernels
@njit(cache=True)
def _factor(Bp, Bi, Bx, s, Lp, Li, Up, Ui, Lx, Ux, d, sigma):  # pragma: no cover - compiled
    """Row-by-row (IKJ) elimination on a given pattern, all quantities as magnitudes (>= 0)."""
    m = Lp.size - 1
    w = np.zeros(m)
    for i in range(m):
        for q in range(Bp[i], Bp[i + 1]):
            w[Bi[q]] = Bx[q]
        exc = s[i]
        for q in range(Lp[i], Lp[i + 1]):
            k = Li[q]
            lik = w[k] / d[k]
            Lx[q] = lik
            exc += lik * sigma[k]
            w[k] = 0.0
            for r in range(Up[k], Up[k + 1]):
                w[Ui[r]] += lik * Ux[r]
        total = exc
        for q in range(Up[i], Up[i + 1]):
            j = Ui[q]
            Ux[q] = w[j]
            total += w[j]
            w[j] = 0.0
        w[i] = 0.0  # the subtracted diagonal update: replaced by the excess, never used
        sigma[i] = exc
        d[i] = total


@njit(cache=True)
def _solve(Lp, Li, Lx, Up, Ui, Ux, d, b):  # pragma: no cover - compiled
    """x = U^{-1} L^{-1} b column by column, with L = I - |L|, U = diag(d) - |U|."""
    m, r = b.shape
    x = b.copy()
    for c in range(r):
        for i in range(m):
            acc = x[i, c]
            for q in range(Lp[i], Lp[i + 1]):
                acc += Lx[q] * x[Li[q], c]
            x[i, c] = acc
        for i in range(m - 1, -1, -1):
            acc = x[i, c]
            for q in range(Up[i], Up[i + 1]):
                acc += Ux[q] * x[Ui[q], c]
            x[i, c] = acc / d[i]
    return x


@njit(cache=True)
def _solve_transposed(Lp, Li, Lx, Up, Ui, Ux, d, b):  # pragma: no cover - compiled
    """x = L^{-T} U^{-T} b, by scattering along the rows of U and L."""
    m, r = b.shape
    x = b.copy()
    for c in range(r):
        for i in range(m):
            xi = x[i, c] / d[i]
            x[i, c] = xi
            for q in range(Up[i], Up[i + 1]):
                x[Ui[q], c] += Ux[q] * xi
        for i in range(m - 1, -1, -1):
            xi = x[i, c]
            for q in range(Lp[i], Lp[i + 1]):
                x[Li[q], c] += Lx[q] * xi
    return x


@njit(cache=True)
def _residual(Np, Ni, Nx, s, x, b, transpose):  # pragma: no cover - compiled
    """b - A x (or b - A^T x) and the componentwise backward error of MMatrixLU.residual."""
    m, ncol = x.shape
    ulp = 8 * 2.220446049250313e-16
    r = np.empty_like(x)
    omega = 0.0
    if not transpose:
        for c in range(ncol):
            for i in range(m):
                xi = x[i, c]
                axi = abs(xi)
                acc = b[i, c] - s[i] * xi
                bound = abs(b[i, c]) + s[i] * axi
                rep = s[i] * axi
                for q in range(Np[i], Np[i + 1]):
                    t = Nx[q] * (xi - x[Ni[q], c])
                    acc -= t
                    bound += abs(t)
                    rep += Nx[q] * (axi + abs(x[Ni[q], c]))
                r[i, c] = acc
                excess = abs(acc) - ulp * rep
                if excess > 0.0:
                    omega = max(omega, excess / bound if bound > 0.0 else np.inf)
        return r, omega
    d = s.copy()
    for i in range(m):
        for q in range(Np[i], Np[i + 1]):
            d[i] += Nx[q]
    bound = np.empty(m)
    for c in range(ncol):
        for j in range(m):
            r[j, c] = b[j, c] - d[j] * x[j, c]
            bound[j] = abs(b[j, c]) + d[j] * abs(x[j, c])
        for i in range(m):
            for q in range(Np[i], Np[i + 1]):
                r[Ni[q], c] += Nx[q] * x[i, c]
                bound[Ni[q]] += Nx[q] * abs(x[i, c])
        for j in range(m):
            excess = abs(r[j, c]) - ulp * bound[j]
            if excess > 0.0:
                omega = max(omega, excess / bound[j] if bound[j] > 0.0 else np.inf)
    return r, omega


# --------------------------------------------------------------------------- the factorisation
@njit(cache=True)
def _strict_rows_kernel(indptr, indices, lower):  # pragma: no cover - compiled
    """Rows (CSR pattern, sorted) of the strictly lower or upper part of a CSC pattern."""
    n = indptr.size - 1
    count = np.zeros(n + 1, dtype=np.int64)
    for j in range(n):
        for q in range(indptr[j], indptr[j + 1]):
            i = indices[q]
            if (i > j) if lower else (i < j):
                count[i + 1] += 1
    for i in range(n):
        count[i + 1] += count[i]
    out = np.empty(count[n], dtype=np.int64)
    fill = count[:n].copy()
    for j in range(n):  # columns in increasing order: every row's columns come out sorted
        for q in range(indptr[j], indptr[j + 1]):
            i = indices[q]
            if (i > j) if lower else (i < j):
                out[fill[i]] = j
                fill[i] += 1
    return count, out


class MMatrixLU:
    r"""GTH-style LU factors of :math:`A = \operatorname{diag}(N\mathbf 1 + s) - N`.

    Parameters
    ----------
    N : csr_array, shape (m, m)
        Non-negative off-diagonal rates (zero diagonal).
    s : ndarray, shape (m,)
        Non-negative row excess. Every state must reach a state with :math:`s_i > 0` along
        :math:`N`, else :math:`A` is singular.

    Raises
    ------
    SolverError
        If a pivot is zero: the rates that make :math:`A` non-singular underflowed.

    Examples
    --------
    A three-state cycle left at rate :math:`\varepsilon = 10^{-18}` from its last state: the
    expected number of steps to leave is :math:`3/\varepsilon + 2 - i` from state :math:`i`
    (:math:`x_0 = 1 + x_1`, :math:`x_1 = 1 + x_2`, :math:`(1 + \varepsilon) x_2 = 1 + x_0`), which
    a diagonal stored as :math:`1 - P_{ii}` cannot see at all.

    >>> import numpy as np, scipy.sparse as sp
    >>> N = sp.csr_array(np.array([[0, 1.0, 0], [0, 0, 1.0], [1.0, 0, 0]]))
    >>> x = MMatrixLU(N, np.array([0, 0, 1e-18])).solve(np.ones(3))
    >>> [float(v) for v in x / 1e18]
    [3.0, 3.0, 3.0]
    """

    def __init__(self, N: sp.csr_array, s: np.ndarray) -> None:
        m = N.shape[0]
        self.n = m
        self.N = N
        self.s = np.asarray(s, dtype=np.float64)
        if m == 0:
            return
        # Pattern and COLAMD order from SuperLU, on an M-matrix with N's pattern, unit rates and a
        # small uniform excess: its elimination has no cancellation and no exact zero pivot.
        # SuperLU drops fill that underflows to zero, which a strongly dominant diagonal makes
        # happen (fill decays like (d_max)^(-length) along long paths: a cycle of 1000 states with
        # diagonal 3 loses 10 % of its fill); with the excess at 1e-10 the decay is about
        # exp(-1e-5 * length), so the pattern SuperLU returns is the structural one.
        pattern = sp.csr_array((np.ones(N.nnz), N.indices, N.indptr), shape=N.shape)
        S = sp.csc_array(sp.diags_array(np.diff(N.indptr) + _PATTERN_EXCESS) - pattern)
        lu = spla.splu(S, permc_spec="COLAMD", diag_pivot_thresh=0.0)
        if not np.array_equal(lu.perm_r, lu.perm_c):  # never seen with a non-zero diagonal
            raise SolverError("internal error: SuperLU chose an unsymmetric pivot order")
        # Pr A Pc = L U with Pc[i, perm_c[i]] = 1: row/column i of the factors is state order[i].
        order = np.argsort(lu.perm_c)
        self._order = order
        inverse = np.empty(m, dtype=np.int64)
        inverse[order] = np.arange(m)
        B = sp.csr_array(N[order])  # rows permuted; columns renamed below (the kernel scatters them)
        Lp, Li = _strict_rows_kernel(lu.L.indptr.astype(np.int64), lu.L.indices.astype(np.int64), True)
        Up, Ui = _strict_rows_kernel(lu.U.indptr.astype(np.int64), lu.U.indices.astype(np.int64), False)
        self._L = (Lp, Li, np.empty(Li.size))
        self._U = (Up, Ui, np.empty(Ui.size))
        self._d = np.empty(m)
        sigma = np.empty(m)
        _factor(
            B.indptr.astype(np.int64), inverse[B.indices], B.data.astype(np.float64),
            np.asarray(s, dtype=np.float64)[order], self._L[0], self._L[1], self._U[0], self._U[1],
            self._L[2], self._U[2], self._d, sigma,
        )
        bad = np.flatnonzero(~(self._d > 0))
        if bad.size:
            state = int(order[bad[0]])
            raise SolverError(
                f"the system is singular in float64 at unknown state {state} (row {state} of the reduced "
                "system): the rates through which it leaves the unknown states underflow to zero"
            )

    def residual(self, x: np.ndarray, b: np.ndarray, transpose: bool = False) -> tuple[np.ndarray, float]:
        r"""The residual :math:`b - Ax` (or :math:`b - A^\top x`) and the componentwise backward error.

        The backward error is :math:`\max_i (|b - Ax|_i - \rho_i)^+ / (|b| + |A||x|)_i`, with
        :math:`|A||x|` taken term by term in the form the residual is computed in: for :math:`Ax`
        the GTH form :math:`\sum_j N_{ij}|x_i - x_j| + s_i |x_i|`, whose terms are all small when
        :math:`x` is nearly constant on a metastable cluster, so the measure sees an error in the
        escape rates that a normwise residual would hide. :math:`\rho_i` is the residual that
        rounding the exact :math:`x` to float64 alone can cause (differences :math:`x_i - x_j` of
        values near :math:`10^{17}` are multiples of 16); it is forgiven. The transposed product
        has no difference form, and is measured against the magnitudes of its terms.
        """
        vec = x.ndim == 1
        x2 = np.ascontiguousarray(x[:, None] if vec else x, dtype=np.float64)
        b2 = np.ascontiguousarray(b[:, None] if vec else b, dtype=np.float64)
        N = self.N
        r, omega = _residual(N.indptr.astype(np.int64), N.indices.astype(np.int64), N.data, self.s, x2, b2, transpose)
        return (r[:, 0] if vec else r), float(omega)

    def solve(self, b: np.ndarray, transpose: bool = False) -> np.ndarray:
        """Solve :math:`A x = b` (or :math:`A^\\top x = b`); ``b`` of shape (m,) or (m, r).

        Checked: the componentwise backward error (:meth:`residual`) must be at most ``1e-9``,
        after up to two steps of iterative refinement, taken only when it exceeds ``1e-13``.

        Raises
        ------
        SolverError
            If the solution is not finite or the check fails.
        """
        b = np.asarray(b, dtype=np.float64)
        if self.n == 0:
            return b.copy()
        x = self._raw_solve(b, transpose)
        for step in range(3):
            if not np.all(np.isfinite(x)):
                raise SolverError(
                    f"the solution overflows float64 (it exceeds {np.finfo(float).max:.3g}): the rates "
                    "out of the unknown states are too small to represent the answer"
                )
            r, err = self.residual(x, b, transpose)
            if err <= 1e-13 or step == 2:
                break
            x = x + self._raw_solve(r, transpose)
        if not err <= _BACKWARD_TOL:
            raise SolverError(
                f"the sparse solve reached a componentwise backward error of {err:.3g} only "
                f"(tolerance {_BACKWARD_TOL:g}) on {self.n} unknowns"
            )
        return x

    def _raw_solve(self, b: np.ndarray, transpose: bool) -> np.ndarray:
        vec = b.ndim == 1
        rhs = np.ascontiguousarray((b[:, None] if vec else b)[self._order])
        kernel = _solve_transposed if transpose else _solve
        y = kernel(*self._L[:2], self._L[2], *self._U[:2], self._U[2], self._d, rhs)
        x = np.empty_like(y)
        x[self._order] = y
        return x[:, 0] if vec else x


def solve_pinned(P: sp.csr_array, unknown: np.ndarray, b: np.ndarray, what: str = "the solution") -> np.ndarray:
    r"""Solve :math:`(I - D_U P)\, x = b`: :math:`x = b` off :math:`U`, and on :math:`U`

    .. math:: x_i = b_i + \sum_j P_{ij} x_j .

    ``b`` may have several columns (shape (n, r)). The result has a small relative error in every
    entry when ``b >= 0`` (the case of every caller), however small the rates out of :math:`U`.

    Raises
    ------
    SolverError
        If the solution overflows float64 (``what`` names it in the message) or the system is
        singular in float64.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> P = sp.csr_array(np.array([[1.0, 0, 0], [0.5, 0, 0.5], [0, 0, 1.0]]))
    >>> solve_pinned(P, np.array([False, True, False]), np.array([0.0, 0.0, 1.0])).tolist()
    [0.0, 0.5, 1.0]
    """
    b = np.asarray(b, dtype=np.float64)
    x = b.copy()
    if not unknown.any():
        return x
    N, s, U = leak_split(P, unknown)
    known = np.where(unknown[:, None] if b.ndim == 2 else unknown, 0.0, b)
    rhs = b[U] + (P @ known)[U]
    try:
        x[U] = MMatrixLU(N, s).solve(rhs)
    except SolverError as err:
        raise SolverError(f"cannot compute {what}: {err}") from None
    return x
