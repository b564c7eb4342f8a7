"""The :class:`Chain`: a validated, immutable, sparse Markov chain with optional structure.

A chain of thought is modelled as a walk :math:`X_0, X_1, \\dots` on a finite state space with
transition matrix :math:`P`, :math:`P_{ij} = \\Pr(X_{t+1}=j \\mid X_t=i)`. A :class:`Chain` holds
that matrix in CSR form together with the structure the metastable model adds: a cluster label
per state (the dense clusters of easy steps), a start (a state or a distribution) and a target
set (the answer states). Every other part of metacot takes and returns chains.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from metacot._checks import readonly
from metacot.errors import ArgumentTypeError, InvalidChainError
from metacot.markov.budget import check_budget

#: Largest accepted deviation of a row sum (and of a start distribution's sum) from 1.
#: Rows built by dividing by their sum are off by about ``nnz * 1e-16``; 1e-9 leaves room for
#: rows with millions of entries while still catching every unnormalised matrix.
ROW_SUM_TOL = 1e-9

__all__ = ["ROW_SUM_TOL", "Chain"]

#: Rows of a declared-huge CSR matrix scanned at a time for an empty one (bounded memory).
_CHUNK = 1 << 22



def _first_empty_row(P: Any) -> int:
    """The first row of a sparse matrix with no stored entry; called only when ``nnz < n``.

    Works in O(nnz) memory (or O(n) int reads in bounded chunks for CSR), never O(n) floats: a
    matrix declared with 10^9 rows and a handful of entries is refused without allocating for it.
    """
    if P.format == "csr":
        indptr, n = P.indptr, P.shape[0]
        for lo in range(0, n, _CHUNK):
            seg = indptr[lo : min(n, lo + _CHUNK) + 1]
            empty = np.flatnonzero(seg[1:] == seg[:-1])
            if empty.size:
                return lo + int(empty[0])
        raise AssertionError("nnz < n, yet no empty row")  # pragma: no cover - pigeonhole
    coo = P if P.format == "coo" else P.tocoo()
    rows = np.unique(np.asarray(coo.coords[0]))
    gap = np.flatnonzero(rows != np.arange(rows.size))
    return int(gap[0]) if gap.size else int(rows.size)


def _check_declared_shape(P: Any) -> None:
    """Refuse a sparse ``P`` whose declared shape cannot make a chain, before converting it."""
    shape = P.shape
    if len(shape) != 2:
        raise InvalidChainError(f"P must be a 2-D matrix, got a sparse array of shape {shape}")
    n, m = shape
    if n != m:
        raise InvalidChainError(f"P must be square; got shape ({n}, {m})")
    if n == 0:
        raise InvalidChainError("P has no states")
    nnz = int(P.nnz)
    if nnz < n:  # pigeonhole: some row is empty, so it sums to 0
        row = _first_empty_row(P)
        raise InvalidChainError(
            f"row {row} of P sums to 0.0, not 1: it has no entries (P declares {n} states but stores "
            f"only {nnz} entries, so at least {n - nnz} rows are empty)"
        )
    # The canonical CSR copy (int64 indptr, int64 indices, float64 data, each possibly twice while
    # converting) and the O(n) validation arrays.
    check_budget(2 * (8 * (n + 1) + 16 * nnz) + 16 * n, f"a chain with {n} states and {nnz} stored entries")


def _to_csr(P: Any) -> sp.csr_array:
    """Convert ``P`` to a canonical float64 CSR array, refusing shapes and dtypes that make no chain."""
    if sp.issparse(P):
        _check_declared_shape(P)
        csr = sp.csr_array(P, dtype=None)
    else:
        try:
            arr = np.asarray(P)
        except (TypeError, ValueError) as err:  # ragged nested lists, for example
            raise InvalidChainError(f"P must be a 2-D numeric matrix; it cannot be read as an array ({err})") from None
        if arr.ndim != 2:
            raise InvalidChainError(f"P must be a 2-D matrix, got an array of shape {arr.shape}")
        if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
            raise InvalidChainError(f"P must be numeric; got dtype {arr.dtype}")
        csr = sp.csr_array(arr)
    if np.issubdtype(csr.dtype, np.complexfloating):
        raise InvalidChainError("P must be real; got a complex matrix")
    if not (np.issubdtype(csr.dtype, np.number) or csr.dtype == np.bool_):
        raise InvalidChainError(f"P must be numeric; got dtype {csr.dtype}")
    n, m = csr.shape
    if n != m:
        raise InvalidChainError(f"P must be square; got shape ({n}, {m})")
    if n == 0:
        raise InvalidChainError("P has no states")
    csr = csr.astype(np.float64, copy=True)
    csr.sum_duplicates()
    csr.eliminate_zeros()  # structural only: stored zeros are not transitions
    csr.sort_indices()
    return csr


def _row_of(csr: sp.csr_array, entry: int) -> int:
    """The row that holds the CSR data entry with flat index ``entry``."""
    return int(np.searchsorted(csr.indptr, entry, side="right") - 1)


def _validate_stochastic(csr: sp.csr_array) -> None:
    data = csr.data
    bad = np.flatnonzero(~np.isfinite(data))
    if bad.size:
        e = int(bad[0])
        row = _row_of(csr, e)
        raise InvalidChainError(
            f"P[{row}, {int(csr.indices[e])}] = {float(data[e])!r} is not finite (first bad entry is in row {row})"
        )
    bad = np.flatnonzero(data < 0)
    if bad.size:
        e = int(bad[0])
        row = _row_of(csr, e)
        raise InvalidChainError(
            f"P[{row}, {int(csr.indices[e])}] = {float(data[e])!r} is negative (first bad entry is in row {row})"
        )
    # Row sums without an O(nnz) row-index array: reduceat over the starts of the non-empty rows
    # (each segment then runs exactly to the next non-empty row's start); empty rows sum to 0.
    empty = csr.indptr[1:] == csr.indptr[:-1]
    sums = np.zeros(csr.shape[0])
    if data.size:
        sums[~empty] = np.add.reduceat(data, csr.indptr[:-1][~empty])
    off = np.flatnonzero(np.abs(sums - 1.0) > ROW_SUM_TOL)
    if off.size:
        row = int(off[0])
        if empty[row]:
            raise InvalidChainError(f"row {row} of P sums to 0.0, not 1: it has no entries; {off.size} row(s) are off")
        raise InvalidChainError(
            f"row {row} of P sums to {float(sums[row])!r}, not 1 (tolerance {ROW_SUM_TOL:g}); "
            f"{off.size} row(s) are off"
        )


def _as_state(x: Any, n: int, what: str) -> int:
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer)):
        raise InvalidChainError(f"{what} must be an int state index, got {x!r}")
    if not 0 <= int(x) < n:
        raise InvalidChainError(f"{what} {int(x)} is not a state of a chain with {n} states")
    return int(x)


def _as_start(start: Any, n: int) -> int | np.ndarray | None:
    if start is None:
        return None
    rule = f"start must be an int state index or a distribution of shape ({n},)"
    if isinstance(start, (bool, np.bool_)):
        raise InvalidChainError(f"{rule}, got {start!r}")
    if isinstance(start, (int, np.integer)):
        return _as_state(start, n, "start")
    if isinstance(start, (str, bytes)):
        raise InvalidChainError(f"{rule}, got {start!r}")
    try:
        dist = np.asarray(start, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidChainError(f"{rule}, got {start!r}") from None
    if dist.ndim == 0:
        raise InvalidChainError(f"{rule}, got {start!r}")
    if dist.shape != (n,):
        raise InvalidChainError(f"{rule}; got an array of shape {dist.shape}")
    if not np.all(np.isfinite(dist)) or np.any(dist < 0):
        i = int(np.flatnonzero(~(np.isfinite(dist) & (dist >= 0)))[0])
        raise InvalidChainError(f"start distribution has an invalid entry {float(dist[i])!r} at state {i}")
    if abs(dist.sum() - 1.0) > ROW_SUM_TOL:
        raise InvalidChainError(f"start distribution sums to {float(dist.sum())!r}, not 1")
    return readonly(dist.copy())


def _as_target(target: Any, n: int) -> np.ndarray | None:
    if target is None:
        return None
    if isinstance(target, (int, np.integer)) and not isinstance(target, (bool, np.bool_)):
        states = [_as_state(target, n, "target")]
    else:
        if isinstance(target, (bool, np.bool_, str, bytes)) or not isinstance(target, Iterable):
            raise ArgumentTypeError(
                f"target must be a state index (int) or an iterable of state indices, got {target!r}"
            )
        states = [_as_state(t, n, "target state") for t in target]
        if not states:
            raise InvalidChainError("target is an empty set of states")
    return readonly(np.unique(np.asarray(states, dtype=np.int64)))


def _as_clusters(clusters: Any, n: int) -> np.ndarray | None:
    if clusters is None:
        return None
    c = np.asarray(clusters)
    if c.shape != (n,):
        raise InvalidChainError(f"clusters must have one label per state, shape ({n},), got {c.shape}")
    if not np.issubdtype(c.dtype, np.integer):
        raise InvalidChainError(f"cluster labels must be integers, got dtype {c.dtype}")
    if c.min() < 0:
        i = int(np.argmin(c))
        raise InvalidChainError(f"cluster label {int(c[i])} of state {i} is negative")
    present = np.bincount(c)
    if np.any(present == 0):
        missing = int(np.flatnonzero(present == 0)[0])
        raise InvalidChainError(
            f"cluster labels must be 0..K-1 with every label used; label {missing} is unused"
        )
    return readonly(c.astype(np.int64, copy=True))


def _as_labels(labels: Any, n: int) -> tuple[str, ...] | None:
    if labels is None:
        return None
    out = tuple(str(x) for x in labels)
    if len(out) != n:
        raise InvalidChainError(f"labels must name each of the {n} states, got {len(out)} names")
    if len(set(out)) != n:
        raise InvalidChainError("state labels must be distinct")
    return out


class Chain:
    r"""An immutable finite Markov chain with optional clusters, start and target.

    Parameters
    ----------
    P : array_like or scipy.sparse matrix, shape (n, n)
        Row-stochastic transition matrix, :math:`P_{ij} = \Pr(X_{t+1}=j \mid X_t=i)`. Stored as
        canonical float64 CSR; the values are never altered (no clipping, no renormalisation).
    clusters : array_like of int, shape (n,), optional
        Cluster label of each state, using every label in ``0..K-1``.
    start : int or array_like of float, shape (n,), optional
        Initial state, or initial distribution :math:`\mu` with :math:`\sum_i \mu_i = 1`.
    target : int or iterable of int, optional
        Target (answer) states; stored as a sorted array of distinct indices.
    labels : sequence of str, optional
        Distinct names of the states (behaviours, assertions, networkx node names).

    Raises
    ------
    InvalidChainError
        If ``P`` is not square, has a non-finite or negative entry, or has a row whose sum differs
        from 1 by more than :data:`ROW_SUM_TOL`; the message names the first offending row. Also for
        malformed ``clusters``, ``start``, ``target`` or ``labels``.

    Examples
    --------
    >>> import numpy as np
    >>> c = Chain(np.array([[0.9, 0.1], [0.0, 1.0]]), start=0, target=1)
    >>> c.n_states, c.target.tolist()
    (2, [1])
    """

    __slots__ = ("_P", "_clusters", "_labels", "_start", "_target")

    def __init__(
        self,
        P: Any,
        clusters: Any = None,
        start: Any = None,
        target: Any = None,
        labels: Sequence[str] | None = None,
    ) -> None:
        csr = _to_csr(P)
        _validate_stochastic(csr)
        for a in (csr.data, csr.indices, csr.indptr):
            readonly(a)
        n = csr.shape[0]
        self._P = csr
        self._clusters = _as_clusters(clusters, n)
        self._start = _as_start(start, n)
        self._target = _as_target(target, n)
        self._labels = _as_labels(labels, n)

    @classmethod
    def _trusted(cls, P: sp.csr_array, **fields: Any) -> Chain:
        """Build a chain from a CSR matrix already known to be stochastic (family constructors).

        Skips only the O(nnz) stochasticity scan; the structural fields are still validated.
        """
        self = cls.__new__(cls)
        csr = sp.csr_array(P, dtype=np.float64)
        csr.sum_duplicates()
        csr.eliminate_zeros()
        csr.sort_indices()
        for a in (csr.data, csr.indices, csr.indptr):
            readonly(a)
        n = csr.shape[0]
        self._P = csr
        self._clusters = _as_clusters(fields.get("clusters"), n)
        self._start = _as_start(fields.get("start"), n)
        self._target = _as_target(fields.get("target"), n)
        self._labels = _as_labels(fields.get("labels"), n)
        return self

    # ----------------------------------------------------------------------- properties
    @property
    def P(self) -> sp.csr_array:
        """The transition matrix as a read-only CSR array."""
        return self._P

    @property
    def n_states(self) -> int:
        """Number of states :math:`n`."""
        return self._P.shape[0]

    @property
    def nnz(self) -> int:
        """Number of stored transitions (non-zero entries of :math:`P`)."""
        return self._P.nnz

    @property
    def clusters(self) -> np.ndarray | None:
        """Cluster label of every state (read-only int64 array), or ``None``."""
        return self._clusters

    @property
    def n_clusters(self) -> int:
        """Number of clusters :math:`K`; 1 when no clusters were given."""
        return 1 if self._clusters is None else int(self._clusters.max()) + 1

    @property
    def start(self) -> int | np.ndarray | None:
        """The start state (int), the start distribution (read-only array) or ``None``."""
        return self._start

    @property
    def target(self) -> np.ndarray | None:
        """Sorted target states (read-only int64 array) or ``None``."""
        return self._target

    @property
    def labels(self) -> tuple[str, ...] | None:
        """State names, or ``None``."""
        return self._labels

    def start_distribution(self, start: Any = None) -> np.ndarray:
        """The start as a dense probability vector.

        Parameters
        ----------
        start : int or array_like, optional
            Overrides :attr:`start`; one of the two must be set.
        """
        s = self._start if start is None else _as_start(start, self.n_states)
        if s is None:
            raise InvalidChainError("this chain has no start; pass start= explicitly")
        if isinstance(s, int):
            mu = np.zeros(self.n_states)
            mu[s] = 1.0
            return mu
        return np.array(s)

    def target_mask(self, target: Any = None) -> np.ndarray:
        """Boolean mask of the target states (``target`` overrides :attr:`target`)."""
        t = self._target if target is None else _as_target(target, self.n_states)
        if t is None:
            raise InvalidChainError("this chain has no target; pass target= explicitly")
        mask = np.zeros(self.n_states, dtype=bool)
        mask[t] = True
        return mask

    def cluster_sizes(self) -> np.ndarray:
        """Number of states in each cluster."""
        if self._clusters is None:
            return np.array([self.n_states])
        return np.bincount(self._clusters)

    # ----------------------------------------------------------------------- derived chains
    def replace(self, **changes: Any) -> Chain:
        """A copy with some of ``clusters``, ``start``, ``target``, ``labels`` replaced.

        ``P`` is shared, not copied (it is read-only). Pass ``None`` to remove a field.
        """
        allowed = {"clusters", "start", "target", "labels"}
        unknown = set(changes) - allowed
        if unknown:
            raise ArgumentTypeError(f"replace() got unknown fields {sorted(unknown)}; allowed: {sorted(allowed)}")
        fields = {
            "clusters": self._clusters,
            "start": self._start,
            "target": self._target,
            "labels": self._labels,
        }
        fields.update(changes)
        new = Chain.__new__(Chain)
        n = self.n_states
        new._P = self._P
        new._clusters = _as_clusters(fields["clusters"], n)
        new._start = _as_start(fields["start"], n)
        new._target = _as_target(fields["target"], n)
        new._labels = _as_labels(fields["labels"], n)
        return new

    def to_networkx(self):
        """The chain as a ``networkx.DiGraph`` (inverse of :func:`metacot.markov.families.from_networkx`).

        Nodes are the state labels (or the indices 0..n-1) and carry ``cluster`` when set; edges
        carry ``weight`` = :math:`P_{ij}`; the graph carries ``start`` and ``target`` as node names.
        """
        import networkx as nx

        names = self._labels if self._labels is not None else list(range(self.n_states))
        G = nx.DiGraph()
        for i, name in enumerate(names):
            attrs = {} if self._clusters is None else {"cluster": int(self._clusters[i])}
            G.add_node(name, **attrs)
        coo = self._P.tocoo()
        G.add_weighted_edges_from(
            (names[i], names[j], float(w)) for i, j, w in zip(coo.row, coo.col, coo.data)
        )
        if isinstance(self._start, int):
            G.graph["start"] = names[self._start]
        elif self._start is not None:
            G.graph["start"] = {names[i]: float(p) for i, p in enumerate(self._start) if p > 0}
        if self._target is not None:
            G.graph["target"] = [names[i] for i in self._target]
        return G

    def __repr__(self) -> str:
        parts = [f"n_states={self.n_states}", f"nnz={self.nnz}"]
        if self._clusters is not None:
            parts.append(f"n_clusters={self.n_clusters}")
        if self._start is not None:
            parts.append("start=" + (str(self._start) if isinstance(self._start, int) else "<distribution>"))
        if self._target is not None:
            t = self._target
            parts.append(f"target={t.tolist() if t.size <= 4 else f'<{t.size} states>'}")
        return f"Chain({', '.join(parts)})"


def as_state_set(states: int | Iterable[int], n: int, what: str) -> np.ndarray:
    """Validate a state or a set of states; return sorted distinct indices (used by ``exact``)."""
    if isinstance(states, (int, np.integer)) and not isinstance(states, (bool, np.bool_)):
        return np.array([_as_state(states, n, what)], dtype=np.int64)
    out = [_as_state(s, n, what) for s in states]
    if not out:
        raise InvalidChainError(f"{what} is an empty set of states")
    return np.unique(np.asarray(out, dtype=np.int64))


def entry_positions(indptr: np.ndarray, indices: np.ndarray, edges: Any, what: str = "the chain") -> np.ndarray:
    """Index into a CSR matrix's data of each ``(x, y)`` entry; a missing entry is an error.

    Rows must have sorted column indices (every CSR matrix of a :class:`Chain` has).
    """
    n = indptr.size - 1
    try:
        e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    except (TypeError, ValueError):
        raise InvalidChainError(f"edges must be (x, y) pairs of int states, got {edges!r}") from None
    out = np.empty(len(e), dtype=np.int64)
    for i, (x, y) in enumerate(e):
        if not 0 <= x < n:
            raise InvalidChainError(f"edge ({x}, {y}): {x} is not a state")
        lo, hi = indptr[x], indptr[x + 1]
        k = lo + int(np.searchsorted(indices[lo:hi], y))
        if k >= hi or indices[k] != y:
            raise InvalidChainError(f"edge ({x}, {y}) is not a transition of {what}")
        out[i] = k
    return out
