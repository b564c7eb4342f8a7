r"""Exact hitting times on the GPU: the linear system of :func:`metacot.markov.exact.hitting_times`, solved with CuPy.

The system is the one the CPU solver factorises: with :math:`T` the target, :math:`I` the states
from which the target may never be hit (found on the CPU by a graph search, as in
:mod:`metacot.markov.exact`) and :math:`U` the rest,

.. math:: (I - P_{UU})\, h_U = \mathbf 1, \qquad h_T = 0, \qquad h_I = \infty .

:math:`A = I - P_{UU}` is a non-singular M-matrix. On the GPU it is solved by restarted GMRES
(``cupyx.scipy.sparse.linalg.gmres``) with a Jacobi preconditioner :math:`D^{-1}`,
:math:`D = \operatorname{diag}(A)`, followed by rounds of iterative refinement in float64
(:math:`r = \mathbf 1 - A h`, solve :math:`A\,\delta = r`, :math:`h \mathrel{+}= \delta`) until the
relative residual :math:`\lVert r\rVert_2 / \lVert \mathbf 1\rVert_2` is at most ``tol``; or by
CuPy's direct ``spsolve``. A result is returned only when its residual meets ``tol``: a Krylov
method on a badly conditioned metastable chain (escape times of :math:`10^6` steps and more) may
stall, and then the call fails loudly rather than return an unconverged answer. A small residual
bounds the relative error only up to the condition number of :math:`A` (large for strongly
metastable chains), so the CPU LU solver stays the reference.

When it pays: the CPU solver (a sparse LU in a fill-reducing order) handles :math:`10^6` states
in about a second; the GPU wins when the LU's fill is large (dense or expander-like clusters,
large meta-graphs) and the chain is not so metastable that GMRES needs thousands of iterations.
This has not been measured yet (see ``benchmarks/bench_gpu.py``).
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import scipy.sparse as sp

from metacot._cuda import simulating
from metacot.errors import BackendUnavailableError, CudaUnavailableError, InvalidArgumentError
from metacot.markov.chain import Chain

__all__ = ["hitting_times_cuda", "pinned_system"]


def pinned_system(chain: Chain, target: Any = None) -> tuple[sp.csr_array, np.ndarray, np.ndarray, np.ndarray]:
    r"""The reduced system :math:`(I - P_{UU}) h_U = \mathbf 1` of the hitting times, on the CPU.

    The diagonal of :math:`I - P_{UU}` is :math:`\sum_{j \ne i} P_{ij}`, summed from the stored
    rates (:func:`metacot.markov.solvers.m_matrix`).

    Parameters
    ----------
    chain : Chain
    target : int or iterable of int, optional
        Overrides ``chain.target``.

    Returns
    -------
    (csr_array, ndarray of int, ndarray of bool, ndarray of bool)
        :math:`A = I - P_{UU}`, the states :math:`U` (sorted), the target mask and the mask of
        states with :math:`h = \infty`.

    Examples
    --------
    >>> import scipy.sparse.linalg as spla
    >>> from metacot import exact, families
    >>> chain = families.line_of_cliques(K=3, M=4, eps=0.2)
    >>> A, U, is_target, infinite = pinned_system(chain)
    >>> h = spla.spsolve(A.tocsc(), np.ones(U.size))
    >>> bool(np.allclose(h[U == chain.start], exact.hitting_times(chain)[chain.start]))
    True
    """
    from metacot.markov.reach import hitting_classes
    from metacot.markov.solvers import leak_split, m_matrix

    is_target, infinite = hitting_classes(chain, target)
    # The diagonal is summed from the rates (GTH style), not computed as 1 - P_ii, which would
    # lose the escape rates of strongly metastable chains to rounding.
    N, s, U = leak_split(chain.P, ~(infinite | is_target))
    A = m_matrix(N, s)
    A.eliminate_zeros()
    return A, U, is_target, infinite


def _cupy():
    if simulating() or importlib.util.find_spec("cupy") is None:
        raise CudaUnavailableError(
            "exact hitting times on the GPU need CuPy and an NVIDIA GPU (the CUDA simulator cannot run "
            "CuPy); install the 'gpu' extra (pip install 'metacot[gpu]') or use the CPU solver, "
            "metacot.markov.exact.hitting_times(chain)"
        )
    try:
        import cupy
        import cupyx.scipy.sparse as csp
        import cupyx.scipy.sparse.linalg as cspla

        if cupy.cuda.runtime.getDeviceCount() < 1:
            raise RuntimeError("no CUDA device")
    except Exception as err:
        raise BackendUnavailableError(
            f"CuPy is installed but cannot use a GPU here ({err}); use metacot.markov.exact.hitting_times(chain)"
        ) from err
    return cupy, csp, cspla


def hitting_times_cuda(chain: Chain, target: Any = None, *, method: str = "gmres", tol: float = 1e-10,
                       restart: int = 64, maxiter: int = 2000, refine: int = 8) -> np.ndarray:
    r"""Expected hitting times from every state, solved on the GPU with CuPy's sparse solvers.

    Same definition and result as :func:`metacot.markov.exact.hitting_times`:
    :math:`h(x) = \mathbb E_x[\tau]`, ``np.inf`` where the target is not hit almost surely.

    Parameters
    ----------
    chain : Chain
    target : int or iterable of int, optional
        Overrides ``chain.target``.
    method : {"gmres", "spsolve"}
        Jacobi-preconditioned restarted GMRES with iterative refinement (default), or CuPy's
        direct sparse solver.
    tol : float
        Required relative residual :math:`\lVert \mathbf 1 - A h\rVert_2 / \sqrt{|U|}`.
    restart, maxiter : int
        GMRES restart length and iteration cap per refinement round.
    refine : int
        Rounds of iterative refinement at most.

    Returns
    -------
    ndarray of float, shape (n_states,)
        On the host.

    Raises
    ------
    CudaUnavailableError
        CuPy is not installed, or the CUDA simulator is on (a ``BackendUnavailableError`` and a
        ``MissingDependencyError`` naming the ``gpu`` extra).
    BackendUnavailableError
        No usable GPU, or the solve did not reach ``tol`` (the message gives the residual; use
        the CPU solver).
    InvalidArgumentError
        Unknown ``method`` or a non-positive ``tol``.

    Examples
    --------
    >>> from metacot import families
    >>> h = hitting_times_cuda(families.line_of_cliques(K=4, M=16, eps=0.01))  # doctest: +SKIP
    >>> round(float(h[0]), 6)  # doctest: +SKIP
    4819.0
    """
    if method not in ("gmres", "spsolve"):
        raise InvalidArgumentError(f"method must be 'gmres' or 'spsolve', got {method!r}")
    if not tol > 0:
        raise InvalidArgumentError(f"tol must be positive, got {tol!r}")
    cupy, csp, cspla = _cupy()
    A, U, _, infinite = pinned_system(chain, target)
    h = np.zeros(chain.n_states)
    h[infinite] = np.inf
    if U.size == 0:
        return h
    dA = csp.csr_matrix(sp.csr_matrix(A))
    b = cupy.ones(U.size, dtype=cupy.float64)
    bnorm = float(cupy.linalg.norm(b))
    if method == "spsolve":
        x = cspla.spsolve(dA, b)
    else:
        dinv = 1.0 / dA.diagonal()
        M = cspla.LinearOperator(dA.shape, matvec=lambda v: dinv * v, dtype=cupy.float64)
        x = cupy.zeros(U.size, dtype=cupy.float64)
        for _ in range(refine):
            r = b - dA @ x
            if float(cupy.linalg.norm(r)) <= tol * bnorm:
                break
            try:
                dx, _info = cspla.gmres(dA, r, rtol=tol, restart=restart, maxiter=maxiter, M=M)
            except TypeError:  # CuPy before 13 names it tol
                dx, _info = cspla.gmres(dA, r, tol=tol, restart=restart, maxiter=maxiter, M=M)
            x = x + dx
    res = float(cupy.linalg.norm(b - dA @ x)) / bnorm
    if not np.isfinite(res) or res > tol:
        raise BackendUnavailableError(
            f"the GPU solve ({method}) stopped at relative residual {res:.3g} > tol={tol:g} on {U.size} unknowns; "
            "the chain is too ill-conditioned for it: use metacot.markov.exact.hitting_times(chain) (sparse LU on the CPU)"
        )
    h[U] = cupy.asnumpy(x)
    return h
