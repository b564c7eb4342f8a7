r"""Step 1 of G-PCCA: a real orthonormal basis of the dominant invariant subspace of :math:`P`.

For the :math:`k` dominant eigenvalues :math:`\lambda_1, \dots, \lambda_k` (largest modulus or
largest real part) the invariant subspace is spanned by real Schur vectors. Small chains use a
dense real Schur decomposition reordered by LAPACK ``dtrsen``; large ones use ARPACK
eigenvectors, each complex pair :math:`v, \bar v` turned into :math:`\operatorname{Re} v,
\operatorname{Im} v` (the same real subspace), polished by orthogonal iteration when the
eigenvectors are ill-conditioned. A ``k`` that splits a conjugate pair or a repeated eigenvalue
(including eigenvalue 1 of a chain with more than ``k`` closed classes) is refused, since the
subspace is then not determined. Used by :func:`metacot.markov.pcca.metastable_sets`.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph
import scipy.sparse.linalg as spla
from scipy.linalg import lapack

from metacot.errors import InvalidChainError, MemoryBudgetError

__all__ = ["dominant_subspace"]

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


def dominant_subspace(P: sp.csr_array, k: int, which: str) -> tuple[np.ndarray, np.ndarray]:
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


