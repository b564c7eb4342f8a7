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
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph
import scipy.sparse.linalg as spla
from scipy.linalg import lapack
from scipy.optimize import minimize

from metacot._checks import readonly as _readonly
from metacot.errors import InvalidChainError, MemoryBudgetError
from metacot.markov.chain import Chain

__all__ = ["MetastableSets", "metastable_sets"]

#: Chains with at most this many states use a dense real Schur decomposition. Measured on
#: metastable chains (2 cores): dense Schur takes 0.018 s at n=200 and 0.15 s at n=500, ARPACK
#: 0.01-0.02 s at both, so the dense path stops paying for its robustness at a few hundred states.
_DENSE_MAX = 256

#: Largest chain for which a failed ARPACK run falls back to the dense Schur decomposition: the
#: dense path holds three n-by-n float64 matrices (0.9 GB at n=6000) and costs O(n^3).
_DENSE_FALLBACK_MAX = 6000

#: Two sorted eigenvalues closer than this are treated as one repeated eigenvalue; cutting between
#: them leaves the k-dimensional invariant subspace undetermined (e.g. k below the number of
#: closed classes, each of which contributes one eigenvalue 1).
_DEGENERATE_TOL = 1e-10

#: Invariance residual (of an orthonormal basis, see :func:`_subspace_residual`) below which the
#: ARPACK basis is accepted as is; above it the basis is polished by orthogonal iteration. ARPACK
#: with ``tol=0`` reaches about 1e-14; nearly defective clusters of eigenvalues (a line or DAG of
#: clusters with equal exit rates, as ``families.random_clusters`` builds) give ill-conditioned
#: eigenvectors and residuals from 1e-11 to 1e-8.
_RESIDUAL_TARGET = 1e-13

#: Residual above which, even after polishing, the basis is rejected (dense fallback).
_RESIDUAL_ACCEPT = 1e-8

#: Nelder-Mead tolerances and budget: those of MATLAB's ``fminsearch`` / SciPy's ``fmin``, which
#: the reference PCCA+ and G-PCCA codes use, so that the optimum found is comparable.
_NM_XATOL = 1e-4
_NM_FATOL = 1e-4
#: Restarts of Nelder-Mead from its own result (see :func:`_optimize_crispness`).
_NM_RESTARTS = 3

#: Below this many states the crispness objective is evaluated on all rows; above it, on an
#: active set of rows that is checked against all rows at the end (see
#: :func:`_optimize_crispness`). Rounds of that check before giving up and using every row:
_ACTIVE_MIN_ROWS = 1000
_ACTIVE_ROUNDS = 20
#: The active set starts from the convex hull of the rows of X[:, 1:] up to this dimension
#: (k - 1); Qhull's cost grows quickly with it.
_HULL_MAX_DIM = 6


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

    Q, eigenvalues = _dominant_subspace(P, k, which)
    X = _eta_orthonormal_basis(Q, eta)

    idx = _inner_simplex(X)
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
        A = _optimize_crispness(X, A)
    A = _feasible(A, X[:, 1:])
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
        raise TypeError(f"k must be an int, got {type(k).__name__}")
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
    e = np.asarray(eta, dtype=np.float64)
    if e.shape != (n,):
        raise InvalidChainError(f"eta must have shape ({n},), got {e.shape}")
    if not np.all(np.isfinite(e)) or np.any(e <= 0):
        i = int(np.flatnonzero(~(np.isfinite(e) & (e > 0)))[0])
        raise InvalidChainError(f"eta must be positive and finite; eta[{i}] = {e[i]!r}")
    # X^T D X = I with X[:, 0] = 1 requires <1, 1>_eta = sum(eta) = 1.
    return e / e.sum()


# --------------------------------------------------------------------------------------------------
# step 1: a real basis of the dominant invariant subspace


def _order(vals: np.ndarray, which: str) -> np.ndarray:
    """Indices sorting eigenvalues by dominance; a conjugate pair stays adjacent, +imag first.

    Conjugates have bit-identical modulus and real part (LAPACK and ARPACK build them from one
    real/imaginary pair), so the tie-breakers keep them together.
    """
    if which == "LM":
        return np.lexsort((-vals.imag, -vals.real, -np.abs(vals)))
    return np.lexsort((-vals.imag, -np.abs(vals), -vals.real))


def _check_selection(vals: np.ndarray, k: int) -> None:
    """Refuse a ``k`` that cuts a conjugate pair or a repeated eigenvalue (``vals`` sorted)."""
    sel = vals[:k]
    upper, lower = sel[sel.imag > 0], sel[sel.imag < 0]
    for lam in sel[sel.imag != 0]:
        # ARPACK, asked for exactly k eigenvalues, returns either member of a cut pair; counting
        # the two halves also catches a cut through a repeated pair (lam, lam, conj(lam)).
        partner = np.abs(sel - np.conj(lam)) <= 1e-12 * max(1.0, abs(lam))
        unpaired = not np.any(partner & (np.sign(sel.imag) == -np.sign(lam.imag)))
        if unpaired or upper.size != lower.size:
            raise InvalidChainError(
                f"k={k} would split the complex-conjugate pair {lam.real:.12g} ± {abs(lam.imag):.3g}i "
                f"(eigenvalues {k} and {k + 1}); its real invariant subspace is two-dimensional. "
                f"Use k={k - 1} or k={k + 1}."
            )
    if vals.size > k and abs(vals[k - 1] - vals[k]) <= _DEGENERATE_TOL:
        lam = vals[k - 1]
        raise InvalidChainError(
            f"eigenvalue {lam:.12g} is repeated across positions {k} and {k + 1}, so the {k}-dimensional "
            "dominant invariant subspace is not unique (for eigenvalue 1 this means the chain has more "
            f"than {k} closed classes). Use a larger k."
        )


def _dominant_subspace(P: sp.csr_array, k: int, which: str) -> tuple[np.ndarray, np.ndarray]:
    """An orthonormal real n-by-k basis of the dominant invariant subspace, and its eigenvalues."""
    n = P.shape[0]
    _check_closed_classes(P, k)
    # ARPACK needs k < n - 1; so few states are the dense path's domain anyway.
    if n <= _DENSE_MAX or k + 1 >= n:
        return _dense_subspace(P, k, which)
    out = _arpack_subspace(P, k, which)
    if out is not None:
        return out
    if n > _DENSE_FALLBACK_MAX:
        gib = 3 * 8 * n * n / 2**30
        raise MemoryBudgetError(
            f"ARPACK did not deliver an accurate basis of the {k}-dimensional dominant invariant "
            f"subspace of this {n}-state chain, and the dense Schur fallback would need about "
            f"{gib:.1f} GiB and O(n^3) time; refused (limit {_DENSE_FALLBACK_MAX} states)"
        )
    return _dense_subspace(P, k, which)


def _check_closed_classes(P: sp.csr_array, k: int) -> None:
    """Refuse ``k`` below the number of closed classes, the multiplicity of eigenvalue 1.

    Each closed communicating class carries its own stationary distribution, so eigenvalue 1 has
    exactly that multiplicity (and is semisimple); with fewer than that many sets the dominant
    subspace is not determined, and generally does not even contain the constant vector.
    """
    n = P.shape[0]
    rows = np.repeat(np.arange(n), np.diff(P.indptr))
    keep = P.data > 0
    rows, cols = rows[keep], P.indices[keep]
    graph = sp.csr_array((np.ones(rows.size), (rows, cols)), shape=(n, n))
    n_comp, label = csgraph.connected_components(graph, directed=True, connection="strong")
    if n_comp == 1:
        return
    leaves = np.ones(n_comp, dtype=bool)
    leaves[label[rows[label[rows] != label[cols]]]] = False
    n_closed = int(leaves.sum())
    if n_closed > k:
        raise InvalidChainError(
            f"the chain has {n_closed} closed classes, so eigenvalue 1 is {n_closed}-fold and the "
            f"dominant {k}-dimensional invariant subspace is not unique; use k >= {n_closed}"
        )


def _quasi_triangular_eigenvalues(T: np.ndarray) -> np.ndarray:
    """Eigenvalues of a real Schur form, in diagonal order (2x2 blocks hold conjugate pairs)."""
    vals = np.diag(T).astype(np.complex128)
    starts = np.flatnonzero(np.diag(T, -1) != 0.0)  # first index of each 2x2 block
    for i in starts:
        a, b, c, d = T[i, i], T[i, i + 1], T[i + 1, i], T[i + 1, i + 1]
        mean, half = 0.5 * (a + d), 0.5 * (a - d)
        disc = half * half + b * c
        if disc < 0:
            root = np.sqrt(-disc)
            vals[i], vals[i + 1] = complex(mean, root), complex(mean, -root)
        else:  # not produced by a standardised Schur form, but harmless
            root = np.sqrt(disc)
            vals[i], vals[i + 1] = mean + root, mean - root
    return vals


def _dense_subspace(P: sp.csr_array, k: int, which: str) -> tuple[np.ndarray, np.ndarray]:
    """Dense real Schur decomposition, dominant block reordered to the top by LAPACK ``dtrsen``.

    Schur vectors are orthonormal even when the eigenvalues are defective, so this is the robust
    path (used for small chains and as the fallback). O(n^3) time, O(n^2) memory.
    """
    T, Z = sla.schur(P.toarray(), output="real")
    vals = _quasi_triangular_eigenvalues(T)
    order = _order(vals, which)
    vals_sorted = vals[order]
    _check_selection(vals_sorted, k)
    select = np.zeros(T.shape[0], dtype=np.int32)
    select[order[:k]] = 1
    _, Zs, _, _, m, _, _, info = lapack.dtrsen(select, T, Z, job="N")
    if info != 0 or m != k:
        # info = 1: the reordering failed because selected and unselected eigenvalues are too
        # close; the cut is then ill-posed, which _check_selection reports in the usual case.
        raise InvalidChainError(
            f"the dominant {k}-dimensional invariant subspace could not be separated from the rest "
            f"of the spectrum (LAPACK dtrsen info={info}, {m} eigenvalues selected)"
        )
    return Zs[:, :k].copy(), vals_sorted[:k]


def _arpack_subspace(P: sp.csr_array, k: int, which: str) -> tuple[np.ndarray, np.ndarray] | None:
    """ARPACK eigenvectors turned into a real basis; ``None`` if ARPACK (or the polish) fails."""
    n = P.shape[0]
    # Exactly k eigenvalues, not k + 1: eigenvalue k + 1 sits in the bulk of the fast spectrum,
    # crowded by its neighbours, and asking for it costs ARPACK about 7x more matrix-vector
    # products (600 instead of 80 on 5 clusters of 400 states). The two refusals it would serve
    # are covered otherwise: when k cuts a conjugate pair, ARPACK returns one member of the pair
    # only (checked below), and a repeated eigenvalue 1 (more closed classes than k) is found
    # from the graph by _check_closed_classes.
    v0 = np.random.default_rng(20180705).standard_normal(n)  # fixed, generic (1 is an eigenvector)
    vals = vecs = None
    for ncv in (min(n, max(2 * k + 1, 20)), min(n, max(4 * k + 1, 60))):
        try:
            vals, vecs = spla.eigs(P, k=k, which=which, v0=v0, ncv=ncv, tol=0.0, maxiter=20 * n)
            break
        except spla.ArpackNoConvergence:
            continue
    if vals is None:
        return None
    order = _order(vals, which)
    vals, vecs = vals[order], vecs[:, order]
    _check_selection(vals, k)

    cols = []
    for j in range(k):
        if vals[j].imag > 0:  # v, conj(v) -> Re v, Im v: the same real 2-d invariant subspace
            cols += [vecs[:, j].real, vecs[:, j].imag]
        elif vals[j].imag == 0:
            cols.append(vecs[:, j].real)
        # imag < 0: the conjugate partner, already covered by the previous column
    V = np.column_stack(cols)
    assert V.shape == (n, k)

    # Orthonormal (Euclidean) basis of span V with a rank check: eigenvectors of nearly defective
    # eigenvalues are nearly parallel, and the directions they miss are filled in randomly and then
    # recovered by the polish below.
    V = V / np.linalg.norm(V, axis=0)
    U, s, _ = np.linalg.svd(V, full_matrices=False)
    rank = int(np.sum(s > 1e-8 * s[0]))
    Q = U[:, :rank]
    if rank < k:
        R = np.random.default_rng(rank).standard_normal((n, k - rank))
        Q, _ = np.linalg.qr(np.column_stack([Q, R - Q @ (Q.T @ R)]))

    Y = P @ Q
    if rank == k and _subspace_residual(Q, Y) <= _RESIDUAL_TARGET:
        return Q, vals[:k]
    if which != "LM":
        # Orthogonal iteration converges to the largest-modulus subspace; for "LR" that is only
        # correct when the two selections coincide, so leave the hard case to the dense path.
        return None
    Q = _orthogonal_iteration(P, Q, Y)
    return (Q, vals[:k]) if Q is not None else None


def _subspace_residual(Q: np.ndarray, PQ: np.ndarray) -> float:
    r"""Relative invariance residual :math:`\|PQ - Q(Q^\top PQ)\|_F / \sqrt{k}` (Q orthonormal)."""
    E = PQ - Q @ (Q.T @ PQ)
    return float(np.linalg.norm(E) / np.sqrt(Q.shape[1]))


def _orthogonal_iteration(
    P: sp.csr_array, Q: np.ndarray, Y: np.ndarray, max_iter: int = 500
) -> np.ndarray | None:
    """Polish an approximate dominant subspace by orthogonal (subspace) iteration Q <- qr(P Q).

    The error contracts by |lambda_{k+1}| / |lambda_k| per step whatever the spacing of the k
    dominant eigenvalues, which suits metastable chains: the k dominant eigenvalues crowd near 1
    (hard for eigenvectors) while the rest lie well inside the disc (|lambda_{k+1}| ~ 0.5 for
    clusters with ten-odd neighbours per state), so a few dozen steps reach machine precision.
    """
    best, best_res = None, np.inf
    for _ in range(max_iter):
        res = _subspace_residual(Q, Y)
        if res < best_res:
            best, best_res = Q, res
        if res <= _RESIDUAL_TARGET:
            break
        Q, _ = np.linalg.qr(Y)
        Y = P @ Q
    if best_res > _RESIDUAL_ACCEPT:
        return None
    return best


# --------------------------------------------------------------------------------------------------
# step 2: eta-orthonormal basis with a constant first column


def _eta_orthonormal_basis(Q: np.ndarray, eta: np.ndarray) -> np.ndarray:
    r"""An :math:`\eta`-orthonormal basis X of span Q with :math:`X_{:,0} = \mathbb 1`.

    Orthonormalise :math:`D_\eta^{1/2} Q` (thin SVD), express :math:`D_\eta^{1/2}\mathbb 1 =
    \sqrt\eta` in that basis (coefficients :math:`c`, :math:`\|c\| = 1` when
    :math:`\mathbb 1 \in \operatorname{span} Q`) and apply the Householder reflection that maps
    :math:`c` to :math:`\pm e_1`: the first new basis vector is then :math:`\sqrt\eta`, i.e. the
    first column of :math:`X = D_\eta^{-1/2}(\cdot)` is :math:`\mathbb 1`, and the reflection keeps
    the others orthonormal.
    """
    s = np.sqrt(eta)
    W = Q * s[:, None]
    U, sv, _ = np.linalg.svd(W, full_matrices=False)
    if sv[-1] <= 1e-12 * sv[0]:
        raise InvalidChainError("the basis of the invariant subspace is rank deficient")
    c = U.T @ s
    norm_c = float(np.linalg.norm(c))
    if norm_c < 1.0 - 1e-8:
        raise InvalidChainError(
            "the constant vector is not in the dominant invariant subspace (distance "
            f"{np.sqrt(max(0.0, 1.0 - norm_c**2)):.3g}); eigenvalue 1 is not among the selected ones"
        )
    u = c.copy()
    u[0] += np.copysign(norm_c, c[0])
    H = np.eye(c.size) - 2.0 * np.outer(u, u) / (u @ u)  # H c = -sign(c0) ||c|| e_1
    Z = U @ H
    X = Z / s[:, None]
    X[:, 0] = 1.0  # was -sign(c0) * (projection of 1) / ||c||, equal to +-1 to roundoff
    return X


# --------------------------------------------------------------------------------------------------
# step 3: inner simplex start, feasibility map, crispness optimisation


def _inner_simplex(X: np.ndarray) -> np.ndarray:
    """Rows of X spanning a large simplex: the inner simplex algorithm (Deuflhard & Weber 2005).

    First vertex: the row of largest norm; each further vertex: the row farthest from the affine
    hull of the vertices found so far. For a perfectly metastable chain the rows of X take only k
    distinct values, the vertices of a simplex, and this finds them exactly.
    """
    k = X.shape[1]
    Y = X[:, 1:]  # the constant column shifts every row equally
    idx = np.empty(k, dtype=np.int64)
    idx[0] = int(np.argmax(np.einsum("ij,ij->i", Y, Y)))
    R = Y - Y[idx[0]]
    for j in range(1, k):
        d2 = np.einsum("ij,ij->i", R, R)
        i = int(np.argmax(d2))
        if d2[i] <= 0.0:
            raise InvalidChainError(
                f"the rows of the invariant-subspace basis span only a {j - 1}-dimensional simplex; "
                f"the chain does not have {k} distinguishable metastable sets"
            )
        idx[j] = i
        u = R[i] / np.sqrt(d2[i])
        R = R - np.outer(R @ u, u)
    return idx


def _feasible(A: np.ndarray, Y: np.ndarray) -> np.ndarray | None:
    r"""The feasibility map of Röblitz & Weber (2013) applied to the free block ``A[1:, 1:]``.

    ``Y`` holds rows of :math:`X_{:,1:}` (all of them, or the active set of the optimiser).
    Returns ``None`` when the first row vanishes (a degenerate, all-zero membership).
    """
    A = A.copy()
    A[1:, 0] = -A[1:, 1:].sum(axis=1)  # rows of A beyond the first sum to 0 -> chi 1 = 1
    A[0, :] = -(Y @ A[1:, :]).min(axis=0)  # smallest membership of each column is exactly 0
    total = A[0].sum()
    if not total > 0.0:
        return None
    A /= total
    if np.any(A[0] <= 0.0):
        return None
    return A


def _crispness_of(A: np.ndarray) -> float:
    r""":math:`\operatorname{tr}(\operatorname{diag}(1/A_{0,:}) A^\top A) = \sum_j \|A_{:,j}\|^2 / A_{0j}`."""
    return float(np.sum(np.einsum("ij,ij->j", A, A) / A[0]))


def _initial_rows(Y: np.ndarray, A0: np.ndarray) -> np.ndarray:
    """Rows of ``Y`` = X[:, 1:] likely to attain the minima of the feasibility map.

    ``min_l Y[l] @ a`` minimises a linear function over a finite point set, so it is attained at a
    vertex of the convex hull of the rows, for every column of every A the optimiser visits.
    Metastable rows sit in k tight clouds near the vertices of a simplex, so the hull has few
    vertices (47 of the 2000 rows of the 5-cluster benchmark chain). Qhull's cost grows quickly
    with the dimension, and it refuses nearly flat clouds; then the rows extreme along the columns
    of the start ``A0`` and along random directions are used instead. Either way the result is
    only a starting set: :func:`_optimize_crispness` checks the optimum against every row.
    """
    n, d = Y.shape
    if n < _ACTIVE_MIN_ROWS:
        return np.arange(n)
    if d == 1:
        return np.unique([int(np.argmin(Y[:, 0])), int(np.argmax(Y[:, 0]))])
    if d <= _HULL_MAX_DIM:
        from scipy.spatial import ConvexHull, QhullError

        try:
            return np.sort(ConvexHull(Y).vertices)
        except (QhullError, ValueError):
            pass
    directions = np.column_stack([A0[1:, :], np.random.default_rng(0).standard_normal((d, 8 * d))])
    Z = Y @ directions
    return np.unique(np.concatenate([Z.argmin(axis=0), Z.argmax(axis=0)]))


def _nelder_mead(Y: np.ndarray, A0: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Nelder-Mead on k - crispness over ``A[1:, 1:]`` (flattened, from ``x``), rows ``Y``.

    Nelder-Mead may stop on a collapsed simplex short of a local optimum; restarting it from the
    point it returns (with a fresh simplex) is the standard remedy. At least one and up to
    ``_NM_RESTARTS`` restarts run, stopping once one improves the objective by less than the
    tolerance. On 36 test chains (4 clusters, eps from 1e-3 to 0.1) this never ended less crisp
    than pyGPCCA by more than 2.3e-5, against up to 6e-3 without restarts, for about 2.4 times
    the evaluations.
    """
    k = A0.shape[0]
    work = A0.copy()

    def objective(alpha: np.ndarray) -> float:
        work[1:, 1:] = alpha.reshape(k - 1, k - 1)
        A = _feasible(work, Y)
        if A is None:
            return np.inf  # an all-zero membership column: outside the admissible set
        return k - _crispness_of(A)  # minimised: 0 for perfectly crisp memberships

    n_par = (k - 1) ** 2
    options = {"xatol": _NM_XATOL, "fatol": _NM_FATOL, "maxiter": 200 * n_par, "maxfev": 200 * n_par}
    f = objective(x)
    for run in range(1 + _NM_RESTARTS):
        res = minimize(objective, x, method="Nelder-Mead", options=options)
        improved = f - res.fun
        if res.fun <= f:
            x, f = res.x, res.fun
        if run > 0 and improved < _NM_FATOL:  # the restart confirmed the point
            break
    return x


def _optimize_crispness(X: np.ndarray, A0: np.ndarray) -> np.ndarray:
    """Maximise the crispness over ``A[1:, 1:]`` by Nelder-Mead, as in PCCA+ and G-PCCA.

    The objective is evaluated on an active set of rows (:func:`_initial_rows`), which makes an
    evaluation cost O(|active| k^2) instead of O(n k^2). At the optimum found, the feasibility
    map on the active rows is compared with the one on all rows; rows that would lower a column
    minimum join the active set and the search resumes from that point. So the returned A is an
    optimum of the exact objective: wherever the active minima equal the full ones, the two
    objectives coincide (and, by continuity of the minimising rows, do so nearby as well).
    """
    k = X.shape[1]
    Y = X[:, 1:]
    rows = _initial_rows(Y, A0)
    x = A0[1:, 1:].ravel()
    for _ in range(_ACTIVE_ROUNDS):
        x = _nelder_mead(Y[rows], A0, x)
        if rows.size == Y.shape[0]:
            break
        B = x.reshape(k - 1, k - 1)
        A1 = np.column_stack([-B.sum(axis=1), B])  # A[1:, :] as the feasibility map fills it
        Z = Y @ A1
        active_min = Z[rows].min(axis=0)
        slack = 1e-12 * (1.0 + np.abs(active_min))  # roundoff of the products, not a violation
        missing = np.flatnonzero(np.any(Z < active_min - slack, axis=1))
        if missing.size == 0:
            break
        rows = np.union1d(rows, missing)
    else:  # never seen; keeps the result exact whatever happens
        x = _nelder_mead(Y, A0, x)
    A = A0.copy()
    A[1:, 1:] = x.reshape(k - 1, k - 1)
    return A


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

    Equal to :func:`_crispness_of` (A) when X is eta-orthonormal with a constant first column.
    """
    mass = eta @ chi
    sq = eta @ (chi * chi)
    ok = mass > 0
    return float(np.sum(sq[ok] / mass[ok]))
