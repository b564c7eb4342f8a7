r"""Metastable sets of non-reversible chains by G-PCCA (generalised PCCA+).

A metastable chain of thought has :math:`k` dense clusters joined by rare edges, so its transition
matrix :math:`P` has :math:`k` eigenvalues close to the unit circle (the slow, inter-cluster
dynamics) and the rest well inside it (the fast mixing within clusters). PCCA+ (Deuflhard & Weber
2005; Röblitz & Weber 2013) finds the clusters as *fuzzy memberships* :math:`\chi = X A`: a linear
transformation :math:`A` of a basis :math:`X` of the dominant invariant subspace of :math:`P`,
chosen so that :math:`\chi \ge 0`, every row of :math:`\chi` sums to 1, and :math:`\chi` is as
crisp (as close to indicator functions) as possible.

PCCA+ uses eigenvectors and assumes a reversible chain (real spectrum). Chains of thought are not
reversible: a cluster is left along a directed edge far more often than it is entered backwards,
and a directed cycle of clusters gives complex eigenvalues. G-PCCA (Reuter, Weber, Fackeldey,
Röblitz & Garcia 2018) replaces the eigenvectors by *any* real basis of the dominant invariant
subspace (Schur vectors in the paper) and keeps the rest of PCCA+ unchanged; because the subspace
is invariant, the coarse-grained matrix :math:`P_c` keeps exactly the :math:`k` dominant
eigenvalues of :math:`P`.

This implementation differs from pyGPCCA in how it finds the subspace: instead of a dense,
sorted real Schur decomposition of the whole :math:`n \times n` matrix (:math:`O(n^3)`), it runs
ARPACK on the sparse matrix for the few dominant eigenvectors and turns every complex-conjugate
pair :math:`v, \bar v` into the real pair :math:`\operatorname{Re} v, \operatorname{Im} v`, which
spans the same real invariant subspace as the corresponding Schur vectors.

The steps live in three modules: :mod:`metacot.markov.invariant_subspace` (step 1, the basis),
:mod:`metacot.markov.memberships` (steps 2 and 3, the :math:`\eta`-orthonormal basis and the
crispness optimisation) and this one (validation, coarse graining, the result).

References
----------
.. [1] P. Deuflhard and M. Weber, "Robust Perron cluster analysis in conformation dynamics",
   Linear Algebra Appl. 398 (2005) 161-184.
.. [2] S. Röblitz and M. Weber, "Fuzzy spectral clustering by PCCA+: application to Markov state
   models and data classification", Adv. Data Anal. Classif. 7 (2013) 147-179.
.. [3] B. Reuter, M. Weber, K. Fackeldey, S. Röblitz and M. E. Garcia, "Generalized Markov state
   modeling method for nonequilibrium biomolecular dynamics", J. Chem. Theory Comput. 14 (2018)
   3579-3594.
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from metacot._checks import readonly as _readonly
from metacot.errors import ArgumentTypeError, InvalidChainError
from metacot.markov.chain import Chain
from metacot.markov.invariant_subspace import dominant_subspace
from metacot.markov.memberships import eta_orthonormal_basis, feasible, inner_simplex, optimize_crispness

__all__ = ["MetastableSets", "metastable_sets"]


@dataclass(frozen=True, eq=False, repr=False)
class MetastableSets:
    r"""The result of :func:`metastable_sets`: fuzzy and crisp metastable sets of a chain.

    Attributes
    ----------
    memberships : ndarray, shape (n, k)
        :math:`\chi = X A`, with :math:`\chi_{ij} \ge 0` the degree to which state :math:`i`
        belongs to set :math:`j` and :math:`\sum_j \chi_{ij} = 1`.
    assignment : ndarray of int, shape (n,)
        Crisp assignment :math:`\operatorname{argmax}_j \chi_{ij}` of every state.
    sets : list of ndarray of int
        ``sets[j]`` are the states assigned to set :math:`j`, sorted. A set can be empty when the
        chain has fewer than :math:`k` metastable sets (a warning is issued).
    eigenvalues : ndarray of complex, shape (k,)
        The :math:`k` dominant eigenvalues of :math:`P` whose invariant subspace is used, sorted
        by decreasing modulus (``which="LM"``) or real part (``which="LR"``); a complex pair is
        listed positive imaginary part first.
    crispness : float
        :math:`\operatorname{tr}(\operatorname{diag}(1/A_{0,:}) A^\top A) = \sum_j
        \langle\chi_j,\chi_j\rangle_\eta / \langle\chi_j, 1\rangle_\eta \in (0, k]`, equal to
        :math:`k` exactly when the memberships are indicator functions. pyGPCCA reports this
        value divided by :math:`k`.
    coarse_P : ndarray, shape (k, k)
        :math:`P_c = (\chi^\top D_\eta \chi)^{-1} \chi^\top D_\eta P \chi`, the coarse-grained
        transition matrix; its rows sum to 1 and its eigenvalues are ``eigenvalues``. Entries can
        be slightly negative (it is a projection, not a chain).
    A : ndarray, shape (k, k)
        The feasible transformation with :math:`\chi = X A`.
    X : ndarray, shape (n, k)
        The :math:`\eta`-orthonormal basis of the invariant subspace, first column all ones.
    eta : ndarray, shape (n,)
        The weighting distribution :math:`\eta` (normalised to sum 1).

    Examples
    --------
    >>> import numpy as np
    >>> from metacot.markov.pcca import metastable_sets
    >>> P = np.array([[0.5, 0.49, 0.01, 0.0], [0.49, 0.5, 0.0, 0.01],
    ...               [0.0, 0.0, 0.3, 0.7], [0.01, 0.0, 0.69, 0.3]])
    >>> ms = metastable_sets(P, 2)
    >>> ms.k, ms.n_states, sorted(s.tolist() for s in ms.sets)
    (2, 4, [[0, 1], [2, 3]])
    """

    memberships: np.ndarray
    assignment: np.ndarray
    sets: list[np.ndarray]
    eigenvalues: np.ndarray
    crispness: float
    coarse_P: np.ndarray
    A: np.ndarray
    X: np.ndarray
    eta: np.ndarray

    @property
    def k(self) -> int:
        """Number of metastable sets :math:`k`."""
        return self.memberships.shape[1]

    @property
    def n_states(self) -> int:
        """Number of states :math:`n` of the chain."""
        return self.memberships.shape[0]

    def __repr__(self) -> str:
        sizes = [int(s.size) for s in self.sets]
        return (
            f"MetastableSets(n_states={self.n_states}, k={self.k}, "
            f"crispness={self.crispness:.4f}, set_sizes={sizes})"
        )


# --------------------------------------------------------------------------------------------------
# public entry point


def metastable_sets(
    chain: Any,
    k: int,
    *,
    eta: Any = None,
    which: str = "LM",
    optimize: bool = True,
) -> MetastableSets:
    r"""Find ``k`` metastable sets of a (possibly non-reversible) chain by G-PCCA.

    1. **Invariant subspace.** A real basis of the invariant subspace of :math:`P` belonging to
       its :math:`k` dominant eigenvalues :math:`\lambda_1, \dots, \lambda_k`. For a complex
       pair the real and imaginary parts of the eigenvector span the same two-dimensional real
       invariant subspace as the corresponding pair of real Schur vectors, so ``k`` must not
       separate a pair.
    2. **Normalisation.** The basis is made :math:`\eta`-orthonormal with a constant first
       column (eigenvalue 1 is always among the dominant ones, so :math:`\mathbb 1` lies in the
       subspace):

       .. math:: X^\top D_\eta X = I_k, \qquad X_{:,0} = \mathbb 1, \qquad
          D_\eta = \operatorname{diag}(\eta).

    3. **Memberships.** :math:`\chi = X A` with :math:`A` feasible,

       .. math:: \chi \ge 0, \qquad \chi \mathbb 1 = \mathbb 1,

       and maximally crisp: :math:`A` maximises
       :math:`\operatorname{tr}(\operatorname{diag}(1/A_{0,:})\, A^\top A)` (Röblitz & Weber
       2013) over the free block :math:`A_{1:,1:}`, the rest of :math:`A` following from the
       feasibility map

       .. math:: A_{i,0} = -\sum_{j\ge1} A_{ij}\ (i \ge 1), \qquad
          A_{0,j} = -\min_l \sum_{i\ge1} X_{li} A_{ij}, \qquad A \leftarrow A / \textstyle\sum_j A_{0j}.

       The search starts from the inner simplex algorithm (Deuflhard & Weber 2005) and uses
       Nelder-Mead.
    4. **Coarse graining.**

       .. math:: P_c = (\chi^\top D_\eta \chi)^{-1}\, \chi^\top D_\eta P \chi .

       Because :math:`\operatorname{span}\chi` is :math:`P`-invariant, :math:`P\chi = \chi P_c`
       exactly, so :math:`P_c` has the eigenvalues :math:`\lambda_1, \dots, \lambda_k`.

    Parameters
    ----------
    chain : Chain or array_like or scipy.sparse matrix, shape (n, n)
        The chain, or a square row-stochastic matrix (validated as :class:`~metacot.Chain` does).
    k : int
        Number of metastable sets, ``1 <= k < n``. ``k = 1`` gives the trivial single set.
    eta : array_like of float, shape (n,), optional
        Positive weighting distribution :math:`\eta` of the inner product (rescaled to sum 1).
        Uniform by default. For a reversible chain the stationary distribution reproduces PCCA+;
        for a non-reversible one an initial or average distribution of the states is the natural
        choice (Reuter et al. 2018).
    which : {"LM", "LR"}
        Dominant eigenvalues are those of largest modulus (default) or of largest real part.
    optimize : bool
        Run the Nelder-Mead crispness optimisation (default). If False, return the feasible
        memberships of the inner simplex start (faster, less crisp).

    Returns
    -------
    MetastableSets
        Memberships, crisp sets, eigenvalues, crispness, coarse-grained matrix, ``A`` and ``X``.

    Raises
    ------
    InvalidChainError
        If ``chain`` is not a valid stochastic matrix; if ``k`` is not in ``1..n-1``; if ``eta``
        is not a positive finite vector of length ``n``; if ``which`` is unknown; if ``k`` would
        split a complex-conjugate pair of eigenvalues (use ``k - 1`` or ``k + 1``); or if
        :math:`\lambda_k = \lambda_{k+1}` (a repeated eigenvalue, e.g. ``k`` smaller than the
        number of closed classes), which leaves the subspace undetermined.
    MemoryBudgetError
        If ARPACK fails on a chain too large for the dense fallback.

    Notes
    -----
    Chains with at most a few hundred states use a dense real Schur decomposition with LAPACK
    reordering (``dtrsen``); larger ones use ARPACK (``scipy.sparse.linalg.eigs``) for exactly
    ``k`` eigenpairs, polished by orthogonal iteration when the eigenvectors are ill-conditioned
    (nearly defective clusters of eigenvalues, as in a line of clusters with equal exit rates), and
    fall back to the dense path if ARPACK does not converge. Since ARPACK does not compute
    :math:`\lambda_{k+1}`, a cut through a repeated eigenvalue other than 1 is only detected on the
    dense path (the multiplicity of eigenvalue 1 is read off the graph on both); pyGPCCA does not
    detect it either.

    For more than a thousand states the crispness objective is evaluated on an active set of rows
    of :math:`X` (the vertices of the convex hull of the rows when :math:`k \le 7`), checked
    against all rows at the optimum, so each evaluation costs far less than :math:`O(n k^2)`.

    Examples
    --------
    Two rotating 3-cycles joined by rare directed edges (non-reversible):

    >>> import numpy as np
    >>> from metacot.markov.pcca import metastable_sets
    >>> C = 0.5 * np.eye(3) + 0.5 * np.roll(np.eye(3), 1, axis=1)
    >>> P = np.zeros((6, 6)); P[:3, :3] = C; P[3:, 3:] = C
    >>> P[2] *= 0.99; P[2, 3] = 0.01; P[5] *= 0.99; P[5, 0] = 0.01
    >>> ms = metastable_sets(P, 2)
    >>> sorted(s.tolist() for s in ms.sets)
    [[0, 1, 2], [3, 4, 5]]
    >>> bool(np.allclose(ms.memberships.sum(axis=1), 1.0))
    True
    """
    P = chain.P if isinstance(chain, Chain) else Chain(chain).P
    n = P.shape[0]
    k = _check_k(k, n)
    eta = _check_eta(eta, n)
    if which not in ("LM", "LR"):
        raise InvalidChainError(f"which must be 'LM' or 'LR', got {which!r}")

    if k == 1:
        # One set holding every state: chi = 1, and 1 is the right eigenvector of eigenvalue 1.
        X = np.ones((n, 1))
        chi = np.ones((n, 1))
        return _result(chi, np.array([1.0 + 0.0j]), np.ones((1, 1)), X, eta, np.ones((1, 1)))

    Q, eigenvalues = dominant_subspace(P, k, which)
    X = eta_orthonormal_basis(Q, eta)

    idx = inner_simplex(X)
    X_idx = X[idx]
    cond = np.linalg.cond(X_idx)
    if not np.isfinite(cond) or cond > 1e14:
        raise InvalidChainError(
            f"the {k} simplex vertices found in the invariant subspace are (nearly) linearly "
            f"dependent (condition number {cond:.3g}); the chain has fewer than {k} distinguishable "
            "metastable sets"
        )
    A = np.linalg.inv(X_idx)  # chi = X A is 1 at the vertex rows: the inner simplex start
    if optimize:
        A = optimize_crispness(X, A)
    A = feasible(A, X[:, 1:])
    if A is None:
        raise InvalidChainError("no feasible transformation A was found (degenerate subspace)")

    chi = X @ A
    # chi >= 0 and chi 1 = 1 hold exactly in exact arithmetic (X[:, 0] = 1, the rows of
    # A[1:, :] sum to 0 and A[0, j] is the exact minimum); roundoff leaves about 1e-16 of negative
    # mass, which is clipped so the memberships are probabilities.
    worst = float(chi.min())
    if worst < -1e-8:  # would mean a bug in the feasibility map, not roundoff
        raise RuntimeError(f"internal error: memberships of {worst:g} after the feasibility map")
    chi = np.maximum(chi, 0.0)
    chi /= chi.sum(axis=1, keepdims=True)

    coarse = _coarse_grain(P, chi, eta)
    return _result(chi, eigenvalues, A, X, eta, coarse)


# --------------------------------------------------------------------------------------------------
# validation


def _check_k(k: Any, n: int) -> int:
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, numbers.Integral):
        raise ArgumentTypeError(f"k must be an int, got {k!r}")
    k = int(k)
    if k < 1:
        raise InvalidChainError(f"k must be at least 1, got {k}")
    if k >= n:
        raise InvalidChainError(
            f"k={k} metastable sets need k < n_states={n} (k = n would make every state its own set)"
        )
    return k


def _check_eta(eta: Any, n: int) -> np.ndarray:
    if eta is None:
        return np.full(n, 1.0 / n)
    try:
        e = np.asarray(eta, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidChainError(f"eta must be a positive vector of shape ({n},), got {eta!r}") from None
    if e.shape != (n,):
        raise InvalidChainError(f"eta must have shape ({n},), got {e.shape}")
    if not np.all(np.isfinite(e)) or np.any(e <= 0):
        i = int(np.flatnonzero(~(np.isfinite(e) & (e > 0)))[0])
        raise InvalidChainError(f"eta must be positive and finite; eta[{i}] = {e[i]!r}")
    # X^T D X = I with X[:, 0] = 1 requires <1, 1>_eta = sum(eta) = 1.
    return e / e.sum()


# --------------------------------------------------------------------------------------------------
# step 4: coarse graining and the result


def _coarse_grain(P: sp.csr_array, chi: np.ndarray, eta: np.ndarray) -> np.ndarray:
    r""":math:`(\chi^\top D_\eta \chi)^{-1} \chi^\top D_\eta P \chi` without densifying P."""
    Dchi = chi * eta[:, None]
    S = Dchi.T @ chi
    T = Dchi.T @ (P @ chi)
    try:
        return np.linalg.solve(S, T)
    except np.linalg.LinAlgError:  # an empty membership column: least squares, like a pinv
        return np.linalg.lstsq(S, T, rcond=None)[0]




def _result(
    chi: np.ndarray,
    eigenvalues: np.ndarray,
    A: np.ndarray,
    X: np.ndarray,
    eta: np.ndarray,
    coarse: np.ndarray,
) -> MetastableSets:
    k = chi.shape[1]
    assignment = np.argmax(chi, axis=1).astype(np.int64)
    sets = [_readonly(np.flatnonzero(assignment == j).astype(np.int64)) for j in range(k)]
    empty = [j for j, s in enumerate(sets) if s.size == 0]
    if empty:
        warnings.warn(
            f"{len(empty)} of the {k} metastable sets are empty (no state has its largest membership "
            "there); the chain probably has fewer metastable sets than k",
            RuntimeWarning,
            stacklevel=3,
        )
    dominant = np.asarray(eigenvalues, dtype=np.complex128)
    return MetastableSets(
        memberships=_readonly(chi),
        assignment=_readonly(assignment),
        sets=sets,
        eigenvalues=_readonly(dominant.copy()),
        crispness=_crispness_of_chi(chi, eta),
        coarse_P=_readonly(np.asarray(coarse, dtype=np.float64)),
        A=_readonly(np.asarray(A, dtype=np.float64).copy()),
        X=_readonly(X),
        eta=_readonly(eta),
    )


def _crispness_of_chi(chi: np.ndarray, eta: np.ndarray) -> float:
    r""":math:`\sum_j \langle\chi_j,\chi_j\rangle_\eta / \langle\chi_j,1\rangle_\eta`, empty sets skipped.

    Equal to :func:`metacot.markov.memberships.crispness_of` (A) when X is eta-orthonormal with a constant first column.
    """
    mass = eta @ chi
    sq = eta @ (chi * chi)
    ok = mass > 0
    return float(np.sum(sq[ok] / mass[ok]))
