r"""The walkers of the theory algorithms, on the simulator's Philox stream and alias tables.

Sparse Edge Search (:mod:`metacot.theory.search`) runs a few rollouts in lockstep and watches
every step; pretraining (:mod:`metacot.theory.pretrain`) counts the transitions of one trajectory
of up to :math:`10^9` steps. Neither fits :func:`metacot.simulation.engine.simulate`, whose
kernels advance 64 walkers per lane block and record whole paths (a handful of walkers runs
about a hundred times slower there than in a scalar loop), so both walk in their own numba
loops, but on the *same* randomness and the *same* transition tables as the simulator:

* the step from state :math:`x` uses the alias table of :math:`P`
  (:func:`metacot.simulation.kernels.alias.build_alias_table`, one table per chain);
* step :math:`s = 1, 2, \dots` of walker :math:`w` under ``seed`` uses the 64-bit value of the
  Philox4x32-10 stream contract (:mod:`metacot.simulation.kernels.rng`): value ``a`` of draw
  :math:`(s-1)/2` if :math:`s` is odd, value ``b`` of draw :math:`(s-2)/2` if :math:`s` is even.

Hence walker :math:`w` of a theory algorithm takes exactly the path of walker :math:`w` of
``simulate(chain, n_walkers > w, ..., seed=seed, record_paths=True)`` from the same start (up
to the point where the algorithm stops it); the tests check this path for path.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numba import njit

from metacot.errors import InvalidChainError
from metacot.simulation.kernels.alias import build_alias_table
from metacot.simulation.kernels.cpu import step_header
from metacot.simulation.kernels.rng import philox_pair

__all__ = ["alias_step", "step_value", "transition_table"]

_ONE = np.uint64(1)
_MASK32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)


def transition_table(P: sp.csr_array) -> np.ndarray:
    """The alias table of every row of ``P`` (``uint64``, layout of :mod:`~metacot.simulation.kernels.alias`).

    Raises
    ------
    InvalidChainError
        If a row has no transition (a walker there could not move).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> transition_table(sp.csr_array(np.array([[0.0, 1.0], [1.0, 0.0]]))).dtype
    dtype('uint64')
    """
    empty = np.flatnonzero(np.diff(P.indptr) == 0)
    if empty.size:
        raise InvalidChainError(f"state {int(empty[0])} has no transition")
    return build_alias_table(P).table


@njit(inline="always", cache=True)
def step_value(s, w, k0, k1):
    """The 64-bit random value of step ``s >= 1`` of walker ``w`` (the simulator's stream contract).

    Computes a whole Philox draw for one of its two values; loops that take both steps of a
    draw in a row use :func:`~metacot.simulation.kernels.rng.philox_pair` directly.
    """
    a, b = philox_pair(np.uint64((s - 1) >> 1), np.uint64(w), k0, k1)
    return a if (s - 1) & 1 == 0 else b


@njit(inline="always", cache=True)
def alias_step(table, x, u):
    r"""The successor of state ``x`` for the random value ``u``: one step of the simulator's kernel.

    :func:`metacot.simulation.kernels.cpu.step_header` works on header indices :math:`2x`; this
    wrapper takes and returns plain state indices.
    """
    h = np.uint64(x) << _ONE
    return np.int64(step_header(table, h, table[h + _ONE], u) >> _ONE)
