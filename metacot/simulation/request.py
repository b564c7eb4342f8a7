r"""Checking and planning a simulation request: arguments, backend, start, target, memory, alias table.

:func:`prepare` turns the arguments of :func:`~metacot.simulation.engine.simulate` into a
:class:`Request` without allocating anything: every mistake is reported (as a
:class:`~metacot.errors.MetacotError`) before memory is committed, and :func:`check_memory`
refuses a request that needs more than :data:`MEMORY_FRACTION` of the available memory.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from metacot._checks import as_seed_int, positive_int
from metacot.errors import (
    ArgumentTypeError,
    InvalidArgumentError,
    InvalidChainError,
    MemoryBudgetError,
    UnknownBackendError,
    UnreachableTargetError,
)
from metacot.markov.budget import available_memory
from metacot.markov.chain import Chain, as_state_set
from metacot.simulation.kernels.alias import AliasTable, build_alias_table

__all__ = [
    "BACKENDS",
    "MAX_STEPS",
    "MEMORY_FRACTION",
    "Request",
    "alias_table",
    "auto_backend",
    "available_memory",
    "check_memory",
    "chunk_count",
    "memory_needed",
    "prepare",
    "resolve_backend",
    "start_thresholds",
]

#: Names accepted by ``simulate(backend=...)``.
BACKENDS = ("auto", "numba", "numpy", "cuda")

#: Refuse a request that needs more than this fraction of the available memory.
MEMORY_FRACTION = 0.8

#: Largest step budget: step counts (and ``max_steps + 1``) are signed 64-bit integers in every kernel.
MAX_STEPS = 2**63 - 2


def auto_backend() -> str:
    """The backend ``"auto"`` stands for: ``"cuda"`` on a real GPU, else ``"numba"``.

    Never ``"cuda"`` under numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``), which runs the
    kernels correctly but thousands of times slower than the CPU kernels. The probe is cached and
    does not import ``numba.cuda`` on machines without an NVIDIA driver.
    """
    from metacot.simulation.kernels.gpu import cuda_available

    return "cuda" if cuda_available() else "numba"


def resolve_backend(backend: Any) -> str:
    """The backend that ``backend`` names, checked: ``"auto"`` resolved, ``"cuda"`` usable here.

    Parameters
    ----------
    backend : {"auto", "numba", "numpy", "cuda"}

    Returns
    -------
    str
        ``"numba"``, ``"numpy"`` or ``"cuda"``.

    Raises
    ------
    UnknownBackendError
        ``backend`` names no backend (also a ``ValueError``).
    BackendUnavailableError
        ``"cuda"`` without a usable GPU or simulator (a ``CudaUnavailableError`` naming the
        ``gpu`` extra when numba-cuda is missing).

    Examples
    --------
    >>> resolve_backend("numpy")
    'numpy'
    """
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise UnknownBackendError(f"unknown backend {backend!r}; valid names are {', '.join(map(repr, BACKENDS))}")
    name = auto_backend() if backend == "auto" else backend
    if name == "cuda":
        from metacot.simulation.kernels.gpu import require_cuda

        require_cuda()
    return name


def start_thresholds(mu: np.ndarray) -> tuple[np.ndarray, int]:
    r"""Cumulative ``uint64`` thresholds for sampling a start state by exact integer comparison.

    Walker ``w`` with 64-bit value :math:`a` starts in the first state :math:`i` with
    :math:`a < T_i`, where :math:`T_i = \lfloor 2^{64} \sum_{j \le i} \mu_j / \sum_j \mu_j \rfloor`
    (clamped to :math:`2^{64}-1`), or in the last state of positive probability when there is no
    such :math:`i`. States with :math:`\mu_i = 0` have :math:`T_i = T_{i-1}` and are never
    chosen. Computed once on the host so that every backend compares the same integers.

    Parameters
    ----------
    mu : ndarray of float, shape (n,)
        The start distribution.

    Returns
    -------
    (ndarray of uint64, int)
        The thresholds :math:`T` and the fallback state.
    """
    cum = np.cumsum(np.asarray(mu, dtype=np.float64))
    cum = cum / cum[-1]
    last = int(np.flatnonzero(mu > 0)[-1])
    scaled = np.ldexp(cum, 64)
    # floats below 2^64 convert exactly; 2^64 itself (and rounding above it) is clamped
    big = scaled >= 2.0**64
    T = np.where(big, 0.0, scaled).astype(np.uint64)
    T[big] = np.uint64(0xFFFFFFFFFFFFFFFF)
    T[last:] = np.uint64(0xFFFFFFFFFFFFFFFF)
    return T, last


def memory_needed(n_states: int, nnz: int, n_walkers: int, max_steps: int, record_paths: bool,
                   count_visits: bool, backend: str, n_chunks: int) -> dict[str, int]:
    """Bytes each part of a request needs (the alias table twice: built, then target-emptied)."""
    parts = {
        "alias table": 2 * 8 * (2 * n_states + 2 * nnz + 2),
        "per-walker results": n_walkers * (8 + 8 + 1),
    }
    if count_visits:
        parts["visit counts"] = 8 * n_states * (n_chunks + 1)
    if record_paths:
        parts["paths"] = n_walkers * (max_steps + 1) * 4
    if backend == "numpy":
        parts["numpy temporaries"] = n_walkers * 8 * 12
    if backend == "cuda":
        # the launch copies its results to the host in one piece before they are split
        parts["device results copied back"] = n_walkers * 17 + (4 * n_walkers * (max_steps + 1) if record_paths else 0)
    return parts


def check_memory(parts: dict[str, int]) -> None:
    """Raise :class:`MemoryBudgetError` when ``parts`` (bytes by purpose) exceed the budget."""
    need = sum(parts.values())
    avail = available_memory()
    if avail is None:
        return
    if need > MEMORY_FRACTION * avail:
        detail = ", ".join(f"{k} {v / 2**30:.3g} GiB" for k, v in parts.items())
        raise MemoryBudgetError(
            f"this simulation needs {need / 2**30:.3g} GiB ({detail}) but only {avail / 2**30:.3g} GiB "
            f"is available and at most {MEMORY_FRACTION:.0%} of it may be used; reduce n_walkers or "
            "max_steps, or turn off record_paths"
        )


# --------------------------------------------------------------------------- alias table cache
#: Alias tables of the last few transition matrices, keyed by ``id(P)`` and checked against a
#: weak reference (a chain's ``P`` is read-only, so identity implies the same table). Repeated
#: simulations of one chain, the common case, then skip the O(nnz) build.
_TABLE_CACHE: dict[int, tuple[weakref.ref, AliasTable]] = {}
_TABLE_CACHE_SIZE = 4


def alias_table(P: sp.csr_array) -> AliasTable:
    """The alias table of ``P``, from the cache when ``P`` was simulated recently."""
    hit = _TABLE_CACHE.get(id(P))
    if hit is not None and hit[0]() is P:
        return hit[1]
    table = build_alias_table(P)
    if len(_TABLE_CACHE) >= _TABLE_CACHE_SIZE:
        _TABLE_CACHE.pop(next(iter(_TABLE_CACHE)))
    key = id(P)
    _TABLE_CACHE[key] = (weakref.ref(P, lambda _, k=key: _TABLE_CACHE.pop(k, None)), table)
    return table



@dataclass(frozen=True)
class Request:
    """A validated simulation request: everything the runner needs, nothing allocated yet.

    ``lost`` holds the states from which the target cannot be reached (None without a target,
    or when there are none); the walkers are stopped there as well as in the target.
    """

    chain: Chain
    n_walkers: int
    max_steps: int
    backend: str
    seed: int
    start_state: int | None
    mu: np.ndarray | None
    target: np.ndarray | None
    record_paths: bool
    count_visits: bool
    n_chunks: int
    lost: np.ndarray | None = None

    def memory(self) -> dict[str, int]:
        return memory_needed(self.chain.n_states, self.chain.nnz, self.n_walkers, self.max_steps,
                              self.record_paths, self.count_visits, self.backend, self.n_chunks)

    def table(self) -> np.ndarray:
        """The alias table with the rows of the target and of the lost states emptied (the kernels' stop mark)."""
        table = alias_table(self.chain.P)
        if self.target is None:
            return table.table
        stops = self.target if self.lost is None else np.concatenate([self.target, self.lost])
        return table.with_empty_rows(stops)


def prepare(chain, n_walkers, max_steps, start, target, seed, backend, record_paths, count_visits) -> Request:
    """Validate a request (arguments, backend, start, target, reachability) in :func:`simulate`'s order."""
    if not isinstance(chain, Chain):
        raise ArgumentTypeError(f"chain must be a metacot.Chain, got {type(chain).__name__}")
    n_walkers = positive_int(n_walkers, "n_walkers", 1)
    max_steps = positive_int(max_steps, "max_steps", 0)
    if max_steps > MAX_STEPS:
        raise InvalidArgumentError(f"max_steps must be at most 2**63 - 2 = {MAX_STEPS} (step counts are "
                                   f"64-bit signed integers), got {max_steps}")
    name = resolve_backend(backend)
    seed = as_seed_int(seed)
    n = chain.n_states

    # start: a single state, or a distribution sampled per walker
    s = chain.start if start is None else start
    if s is None:
        raise InvalidChainError("no start: pass start= or build the chain with a start")
    if isinstance(s, (int, np.integer)) and not isinstance(s, (bool, np.bool_)):
        start_state: int | None = int(as_state_set(s, n, "start")[0])
        start_support = np.array([start_state])
        mu = None
    else:
        mu = chain.start_distribution(s)
        start_state = None
        start_support = np.flatnonzero(mu > 0)

    t = chain.target if target is None else target
    tgt = None if t is None else as_state_set(t, n, "target")
    lost = None
    if tgt is not None:
        lost = _lost_states(chain.P, start_support, tgt)
    return Request(chain, n_walkers, max_steps, name, seed, start_state, mu, tgt, bool(record_paths),
                   bool(count_visits), chunk_count(name, n_walkers), lost)


def _lost_states(P: sp.csr_array, starts: np.ndarray, target: np.ndarray) -> np.ndarray | None:
    r"""The states that cannot reach the target (None if there are none), after checking the start.

    These are the states :math:`x` with :math:`\Pr_x(\tau < \infty) = 0`, the complement of
    :func:`~metacot.markov.reach.reaches`. (The infinite set of
    :func:`~metacot.markov.reach.hitting_classes` is larger: it also holds states from which the
    target is reached with a probability below one, where a walker must go on.)

    Raises
    ------
    UnreachableTargetError
        No start state has a path to the target.
    """
    from metacot.markov.reach import reaches

    ok = reaches(P, target)
    if not ok[starts].any():
        shown = starts.tolist() if starts.size <= 8 else f"{starts.size} states"
        tshown = target.tolist() if target.size <= 8 else f"{target.size} states"
        raise UnreachableTargetError(
            f"the target {tshown} cannot be reached from the start {shown}: no path in the "
            "transition graph leads there, so every walker would be censored"
        )
    lost = np.flatnonzero(~ok)
    return lost if lost.size else None


def chunk_count(backend: str, n_walkers: int) -> int:
    """Walker chunks of the numba kernels: the thread count (at most one chunk per walker); 1 otherwise."""
    if backend != "numba":
        return 1
    import numba

    return max(1, min(numba.get_num_threads(), n_walkers))
