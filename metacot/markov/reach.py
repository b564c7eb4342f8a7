"""Which states reach which: the graph side of exact solves, shared by the CPU and GPU solvers.

A hitting time is finite only where the target is reached almost surely, so every solver first
splits the states into the target, the states with infinite expected hitting time, and the rest
(:func:`hitting_classes`); the simulator uses the same split to stop walkers that can never hit.
Everything here is breadth-first search on the sparsity pattern of :math:`P`; no linear algebra.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph

from metacot.errors import InvalidChainError
from metacot.markov.chain import Chain, as_state_set

__all__ = ["closed_classes", "hitting_classes", "reaches", "target_states"]


def reaches(P: sp.csr_array, sources: np.ndarray, *, blocked: np.ndarray | None = None) -> np.ndarray:
    """States from which some state of ``sources`` can be reached along edges of ``P``.

    Parameters
    ----------
    P : scipy.sparse CSR array
        The transition graph (an edge wherever :math:`P_{ij} > 0`).
    sources : ndarray of int
        The states to reach.
    blocked : ndarray of bool, optional
        States whose outgoing edges are ignored: a path may end in them but not pass through.

    Returns
    -------
    ndarray of bool
        ``mask[i]`` is True when a path leads from ``i`` into ``sources`` (``sources`` included).
    """
    n = P.shape[0]
    A = P if blocked is None else sp.diags_array((~blocked).astype(float)) @ P
    # Breadth-first search on the reversed graph from a virtual node n linked to every source.
    rev = sp.csr_array(A.T, dtype=bool)
    rev.sort_indices()
    indices = np.concatenate([rev.indices, np.asarray(sources, dtype=rev.indices.dtype)])
    indptr = np.concatenate([rev.indptr, [indices.size]]).astype(rev.indptr.dtype)
    G = sp.csr_array((np.ones(indices.size, dtype=bool), indices, indptr), shape=(n + 1, n + 1))
    order = csgraph.breadth_first_order(G, n, directed=True, return_predecessors=False)
    mask = np.zeros(n + 1, dtype=bool)
    mask[order] = True
    return mask[:n]


def closed_classes(chain: Chain) -> list[np.ndarray]:
    """The closed communicating classes (recurrent classes) of the chain.

    A class is closed when no transition leaves it. Every finite chain has at least one.

    Returns
    -------
    list of ndarray
        Sorted state indices of each closed class, ordered by their smallest state.

    Examples
    --------
    >>> import numpy as np
    >>> closed_classes(Chain(np.array([[0.5, 0.5, 0], [0, 1, 0], [0, 0, 1]])))
    [array([1]), array([2])]
    """
    P = chain.P
    _, label = csgraph.connected_components(P, directed=True, connection="strong")
    coo = P.tocoo()
    leaking = np.unique(label[coo.row[label[coo.row] != label[coo.col]]])
    closed = np.setdiff1d(np.unique(label), leaking)
    classes = [np.flatnonzero(label == c) for c in closed]
    return sorted(classes, key=lambda c: int(c[0]))


def target_states(chain: Chain, target: Any = None) -> np.ndarray:
    """The target states: ``target`` if given (validated), else ``chain.target``; refuses a chain with neither."""
    t = chain.target if target is None else as_state_set(target, chain.n_states, "target")
    if t is None:
        raise InvalidChainError("no target: the chain has none and target= was not given")
    return t


def hitting_classes(chain: Chain, target: Any = None) -> tuple[np.ndarray, np.ndarray]:
    r"""Boolean masks of the target states and of the states with :math:`\mathbb{E}_x[\tau] = \infty`.

    A state has infinite expected hitting time when it can reach, without passing through the
    target, a state from which the target is unreachable. Every hitting-time solver (CPU or GPU)
    solves only on the remaining states.

    Examples
    --------
    >>> import numpy as np
    >>> from metacot import Chain
    >>> c = Chain(np.array([[0.5, 0.25, 0.25], [0, 1.0, 0], [0, 0, 1.0]]), target=2)
    >>> [m.tolist() for m in hitting_classes(c)]
    [[False, False, True], [True, True, False]]
    """
    P = chain.P
    T = target_states(chain, target)
    is_target = np.zeros(chain.n_states, dtype=bool)
    is_target[T] = True
    lost = ~reaches(P, T)
    # States that can reach a lost state without passing through the target may never hit it.
    infinite = reaches(P, np.flatnonzero(lost), blocked=is_target) if lost.any() else lost
    return is_target, infinite
