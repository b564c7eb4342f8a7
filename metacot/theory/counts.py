r"""Transition counts of one long trajectory of a chain: the data of Algorithm 1 (pretraining).

The empirical cross-entropy of a trajectory depends on it only through the counts :math:`N_{xy}`
of its transitions (:mod:`metacot.theory.pretrain`), so :func:`transition_counts` walks the chain
in a numba loop and keeps the counts, never the trajectory: a length of :math:`10^8` costs 8 bytes
per *edge*, not per step.

The walk uses the simulator's randomness and transition tables (:mod:`metacot.theory.walk`):
episode :math:`e` (the part of the trajectory between the :math:`e`-th restart and the next) is
walker :math:`e` of the Philox stream of ``seed``, stepping on the alias tables of :math:`P`. So
episode :math:`e` follows the path of walker :math:`e` of
``metacot.simulate(chain, n_walkers > e, ..., seed=seed, record_paths=True)``, which stops at the
target just as the episode does; without restarts the whole trajectory is walker 0.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numba import njit

from metacot._checks import as_seed_int, positive_int
from metacot.errors import InvalidChainError
from metacot.markov.chain import Chain
from metacot.simulation.kernels.rng import philox_pair, seed_key
from metacot.theory.walk import alias_step, transition_table

__all__ = ["TransitionCounts", "transition_counts"]

#: Steps per call of the counting kernel: long enough that the call overhead is negligible, short
#: enough that Ctrl-C (seen between calls) answers within a fraction of a second.
_CHUNK = 1 << 22


@dataclass(frozen=True)
class TransitionCounts:
    r"""Transition counts :math:`N_{xy}` of one trajectory (with restarts) of a chain.

    Attributes
    ----------
    chain : Chain
        The chain that generated the data (its clusters, start and target label the learned models).
    counts : scipy.sparse.csr_array of int64
        :math:`N_{xy}`, stored on the sparsity pattern of ``chain.P``.
    n_steps : int
        Number of recorded transitions :math:`T = \sum_{xy} N_{xy}`.
    n_restarts : int
        Number of restarts at the start state (completed episodes).
    seed : int or None
        The 64-bit seed of the Philox stream (drawn from the generator if one was passed).
    """

    chain: Chain
    counts: sp.csr_array
    n_steps: int
    n_restarts: int
    seed: int | None = None

    def dense(self) -> np.ndarray:
        """The counts as a dense float64 matrix."""
        return self.counts.toarray().astype(np.float64)

    def visits(self) -> np.ndarray:
        r"""Transitions out of each state, :math:`n_x = \sum_y N_{xy}`."""
        return np.asarray(self.counts.sum(axis=1)).ravel()


@njit(cache=True, nogil=True)
def _count_steps(table, indptr, indices, stop, restart_state, k0, k1, walk, n, counts):
    """Take ``n`` steps of the trajectory whose position is ``walk``; add them to ``counts``.

    ``walk = [x, w, s]``: the current state, the walker (episode) index and the steps that walker
    has taken; updated in place. Step ``s + 1`` of walker ``w`` uses value ``a`` (``s`` even) or
    ``b`` (``s`` odd) of Philox draw ``s // 2``, the simulator's stream contract. Entering a
    ``stop`` state ends the episode: the next walker starts at ``restart_state``. Each
    transition is counted at its CSR position, found by binary search in the (sorted) row.
    Returns the number of restarts.
    """
    x, w, s = walk[0], walk[1], walk[2]
    restarts = 0
    b = np.uint64(0)
    if s & 1 == 1:  # resuming in the middle of a draw: recompute its second value
        _, b = philox_pair(np.uint64(s >> 1), np.uint64(w), k0, k1)
    for _ in range(n):
        if s & 1 == 0:
            u, b = philox_pair(np.uint64(s >> 1), np.uint64(w), k0, k1)
        else:
            u = b
        y = alias_step(table, x, u)
        lo = indptr[x]
        hi = indptr[x + 1] - 1
        while lo < hi:
            mid = (lo + hi) >> 1
            if indices[mid] < y:
                lo = mid + 1
            else:
                hi = mid
        counts[lo] += 1
        if stop[y]:
            x = restart_state
            w += 1
            s = 0
            restarts += 1
        else:
            x = y
            s += 1
    walk[0], walk[1], walk[2] = x, w, s
    return restarts


def transition_counts(
    chain: Chain,
    n_steps: int | Sequence[int],
    seed: int | np.random.Generator = 0,
    *,
    restart: bool = True,
) -> TransitionCounts | list[TransitionCounts]:
    r"""Count the transitions of one long trajectory of ``chain``, without storing it.

    The trajectory starts at ``chain.start``. With ``restart`` it jumps back to the start whenever
    it enters a target state (that jump is not a transition and is not counted), so the data are
    a concatenation of CoT episodes :math:`X_{in} \to X_{out}`. Each step from :math:`x` is one
    alias-table step of the simulator (:mod:`metacot.theory.walk`); episode :math:`e` is walker
    :math:`e` of the Philox stream of ``seed`` (the module notes give the exact correspondence
    with :func:`metacot.simulate`).

    Parameters
    ----------
    chain : Chain
        Needs an integer ``start`` (and a ``target`` when ``restart``).
    n_steps : int or sequence of int
        Trajectory length :math:`T` (number of transitions). A sorted sequence returns the counts
        of every prefix of one trajectory: nested data sets for the price of the longest.
    seed : int or numpy.random.Generator
        A seed in :math:`[0, 2^{64})`, or a generator from which one is drawn. The trajectory is
        a deterministic function of the seed, so the counts of a prefix equal those of a shorter
        run with the same seed.
    restart : bool
        Restart at the start on entering the target (default) or run straight through.

    Returns
    -------
    TransitionCounts or list of TransitionCounts
        One per requested length.

    Raises
    ------
    InvalidChainError
        No length or unsorted lengths, a start that is not a single state, or a start in the target.
    InvalidArgumentError
        A negative length or a seed outside :math:`[0, 2^{64})` (an ``ArgumentTypeError`` for a
        length that is not an int, or a seed that is neither an int nor a Generator).

    Examples
    --------
    >>> from metacot.markov.families import line_of_cliques
    >>> data = transition_counts(line_of_cliques(K=2, M=4, eps=0.1), 1000, seed=1)
    >>> int(data.counts.sum()), data.n_steps
    (1000, 1000)
    """
    scalar = np.isscalar(n_steps)
    lengths = [positive_int(t, "n_steps", minimum=0) for t in ([n_steps] if scalar else n_steps)]
    if not lengths or any(b < a for a, b in itertools.pairwise(lengths)):
        raise InvalidChainError(f"n_steps must be >= 0 and sorted increasingly; got {n_steps!r}")
    if not isinstance(chain.start, int):
        raise InvalidChainError("transition_counts needs a chain whose start is a single state")
    stop = np.zeros(chain.n_states, dtype=np.bool_)
    if restart:
        stop = chain.target_mask()
        if stop[chain.start]:
            raise InvalidChainError(f"the start state {chain.start} is a target: a restart would loop")
    seed = as_seed_int(seed)
    k0, k1 = seed_key(seed)
    P = chain.P
    table = transition_table(P)
    indptr = P.indptr.astype(np.int64)
    indices = P.indices.astype(np.int64)
    counts = np.zeros(P.nnz, dtype=np.int64)
    walk = np.array([chain.start, 0, 0], dtype=np.int64)
    done, restarts, out = 0, 0, []
    for target_len in lengths:
        while done < target_len:
            size = min(_CHUNK, target_len - done)
            restarts += _count_steps(table, indptr, indices, stop, chain.start, k0, k1, walk, size, counts)
            done += size
        matrix = sp.csr_array((counts.copy(), P.indices.copy(), P.indptr.copy()), shape=P.shape)
        out.append(TransitionCounts(chain=chain, counts=matrix, n_steps=done, n_restarts=int(restarts), seed=seed))
    return out[0] if scalar else out
