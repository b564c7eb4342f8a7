r"""Monte Carlo simulation of a :class:`~metacot.markov.chain.Chain`: :func:`simulate` and :class:`Simulation`.

Many independent walkers :math:`X^{(w)}_0, X^{(w)}_1, \dots` follow the chain from a start state
(or a start distribution) until they reach the target set or run out of steps. The simulator is
built for throughput: one alias table per row of :math:`P` (:mod:`metacot.simulation.kernels.alias`) makes a
step :math:`O(1)` whatever the degree, a counter-based generator (:mod:`metacot.simulation.kernels.rng`) gives
every walker its own reproducible stream, and the numba kernels (:mod:`metacot.simulation.kernels.cpu`)
advance walkers in lockstep blocks on every core; the CUDA kernels (:mod:`metacot.simulation.kernels.gpu`) give
each GPU thread one walker at a time, taking the next when it finishes. Results depend only on the seed: not on the backend, the thread
count or the batch size. :func:`simulate_many` runs many chains at once on the GPU (a whole sweep
grid of small chains): one launch for the chains whose tables fit in shared memory, one more for
the rest.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from metacot._checks import readonly as _readonly
from metacot.errors import (
    CensoredError,
    InvalidArgumentError,
    InvalidChainError,
    MemoryBudgetError,
    UnknownBackendError,
    UnreachableTargetError,
)
from metacot.markov.chain import Chain, as_state_set
from metacot.simulation.kernels.alias import AliasTable, build_alias_table
from metacot.simulation.kernels.rng import seed_key

__all__ = [
    "BACKENDS",
    "Estimate",
    "Simulation",
    "UnknownBackendError",
    "simulate",
    "simulate_many",
    "start_thresholds",
]

#: Names accepted by ``simulate(backend=...)``.
BACKENDS = ("auto", "numba", "numpy", "cuda")

#: Refuse a request that needs more than this fraction of the available memory.
MEMORY_FRACTION = 0.8

#: With ``progress=True`` the walkers run in about this many batches (one progress tick each).
_PROGRESS_BATCHES = 50


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class Estimate:
    r"""A Monte Carlo estimate :math:`\hat\mu` with its standard error.

    Attributes
    ----------
    value : float
        The sample mean :math:`\hat\mu = \frac1n \sum_w Y_w`.
    stderr : float
        :math:`s / \sqrt{n}` with :math:`s` the sample standard deviation (``ddof=1``); NaN when
        :math:`n = 1`.
    n : int
        Number of samples.

    Examples
    --------
    >>> est = Estimate(value=10.0, stderr=0.5, n=400)
    >>> est.interval()
    (9.02, 10.98)
    """

    value: float
    stderr: float
    n: int

    def interval(self, z: float = 1.96) -> tuple[float, float]:
        r"""The normal-approximation interval :math:`\hat\mu \pm z\,\mathrm{se}`."""
        return (self.value - z * self.stderr, self.value + z * self.stderr)

    def __float__(self) -> float:
        return float(self.value)




@dataclass(frozen=True, eq=False)
class Simulation:
    r"""The result of :func:`simulate` (immutable; every array is read-only).

    Attributes
    ----------
    hitting_times : ndarray of int64, shape (n_walkers,), or None
        :math:`\tau_w = \min\{t \ge 0 : X^{(w)}_t \in T\}` for walkers that hit; for censored
        walkers (no hit at :math:`t \le` ``max_steps``) the value stored is ``max_steps``, i.e.
        :math:`\min(\tau_w, \text{max\_steps})` in every case. ``None`` without a target.
    censored : ndarray of bool, shape (n_walkers,), or None
        True where :math:`\tau_w > \text{max\_steps}`. ``None`` without a target.
    final_states : ndarray of int64, shape (n_walkers,)
        :math:`X^{(w)}_{\min(\tau_w, \text{max\_steps})}`: the target state hit, or the state
        after ``max_steps`` steps.
    paths : ndarray of int32, shape (n_walkers, max_steps + 1), or None
        ``paths[w, t]`` = :math:`X^{(w)}_t` for :math:`t \le \min(\tau_w, \text{max\_steps})`
        (column 0 is the start) and ``-1`` afterwards. Only with ``record_paths=True``.
    visits : ndarray of int64, shape (n_states,), or None
        ``visits[x]`` = :math:`\sum_w \#\{0 \le t \le \min(\tau_w, \text{max\_steps}) :
        X^{(w)}_t = x\}`: occupations including time 0 and the hitting state. ``None`` with
        ``count_visits=False``.
    seed : int
        The 64-bit seed of the Philox streams (drawn from the generator if one was passed).
    backend : str
        The backend that ran (``"numba"``, ``"numpy"`` or ``"cuda"``; never ``"auto"``).
    n_walkers, max_steps : int
        The request.

    Examples
    --------
    >>> import numpy as np, metacot as mc
    >>> chain = mc.Chain(np.array([[0.5, 0.5], [0.0, 1.0]]), start=0, target=1)
    >>> sim = mc.simulate(chain, 4, 50, seed=3, record_paths=True)
    >>> bool(np.all(sim.paths[np.arange(4), sim.hitting_times] == 1))
    True
    >>> sim.survival(0)
    1.0
    """

    hitting_times: np.ndarray | None
    censored: np.ndarray | None
    final_states: np.ndarray
    paths: np.ndarray | None
    visits: np.ndarray | None
    seed: int
    backend: str
    n_walkers: int
    max_steps: int

    @property
    def n_censored(self) -> int:
        """Number of walkers that did not hit the target within ``max_steps`` (0 without a target)."""
        return 0 if self.censored is None else int(np.count_nonzero(self.censored))

    def _require_target(self, what: str) -> np.ndarray:
        if self.hitting_times is None:
            raise InvalidChainError(f"{what} needs a target; this simulation had none (pass target=)")
        return self.hitting_times

    def mean(self, restricted: bool = False) -> Estimate:
        r"""Estimate the mean hitting time :math:`\mathbb{E}[\tau]`.

        Parameters
        ----------
        restricted : bool
            If True, estimate :math:`\mathbb{E}[\min(\tau, \text{max\_steps})]` instead, which
            every walker observes, censored or not.

        Returns
        -------
        Estimate
            :math:`\hat\mu = \frac1n\sum_w \tau_w` with standard error :math:`s/\sqrt n`.

        Raises
        ------
        CensoredError
            If some walker is censored and ``restricted`` is False: :math:`\mathbb{E}[\tau]`
            cannot be estimated without bias from truncated samples.
        InvalidChainError
            If the simulation had no target.

        Examples
        --------
        >>> import numpy as np, metacot as mc
        >>> chain = mc.Chain(np.array([[0.5, 0.5], [0.0, 1.0]]), start=0, target=1)
        >>> est = mc.simulate(chain, 10_000, 200, seed=1).mean()
        >>> abs(est.value - 2.0) < 4 * est.stderr
        True
        """
        tau = self._require_target("mean()")
        if self.n_censored and not restricted:
            raise CensoredError(
                f"{self.n_censored} of {self.n_walkers} walkers did not reach the target within "
                f"max_steps={self.max_steps}, so E[tau] cannot be estimated; simulate with a larger "
                f"max_steps, or use mean(restricted=True) for E[min(tau, max_steps)]"
            )
        n = tau.size
        value = float(tau.mean())
        stderr = float(tau.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
        return Estimate(value, stderr, n)

    def survival(self, t: Any) -> np.ndarray | float:
        r"""Empirical survival function :math:`\hat S(t) = \frac1n \#\{w : \tau_w > t\}`.

        Exact for every :math:`0 \le t \le` ``max_steps`` (a censored walker has
        :math:`\tau > \text{max\_steps} \ge t`); later times are unobserved.

        Parameters
        ----------
        t : int or array_like of int
            Times in ``[0, max_steps]``.

        Returns
        -------
        float or ndarray of float
        """
        tau = self._require_target("survival()")
        tt = np.asarray(t)
        if tt.size and (tt.min() < 0 or tt.max() > self.max_steps):
            raise InvalidArgumentError(f"survival(t) is observed only for 0 <= t <= max_steps={self.max_steps}")
        # censored walkers store max_steps; count them as alive at every observed t
        alive_key = np.where(self.censored, self.max_steps + 1, tau)
        srt = np.sort(alive_key)
        out = 1.0 - np.searchsorted(srt, tt, side="right") / srt.size
        return float(out) if np.ndim(out) == 0 else out

    def __repr__(self) -> str:
        parts = [f"n_walkers={self.n_walkers}", f"max_steps={self.max_steps}", f"backend={self.backend!r}"]
        if self.hitting_times is not None:
            parts.append(f"n_censored={self.n_censored}")
        return f"Simulation({', '.join(parts)})"


# --------------------------------------------------------------------------- validation
def _as_count(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if int(value) < minimum:
        raise InvalidArgumentError(f"{name} must be >= {minimum}, got {int(value)}")
    return int(value)


def _as_seed(seed: Any) -> int:
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(0, 1 << 64, dtype=np.uint64))
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be a non-negative int below 2**64 or a numpy Generator, got {seed!r}")
    if not 0 <= int(seed) < 1 << 64:
        raise InvalidArgumentError(f"seed must be in [0, 2**64), got {int(seed)}")
    return int(seed)


def _auto_backend() -> str:
    """The backend ``"auto"`` stands for: ``"cuda"`` on a real GPU, else ``"numba"``.

    Never ``"cuda"`` under numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``), which runs the
    kernels correctly but thousands of times slower than the CPU kernels. The probe is cached and
    does not import ``numba.cuda`` on machines without an NVIDIA driver.
    """
    from metacot.simulation.kernels.gpu import cuda_available

    return "cuda" if cuda_available() else "numba"


def _resolve_backend(backend: Any) -> str:
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise UnknownBackendError(f"unknown backend {backend!r}; valid names are {', '.join(map(repr, BACKENDS))}")
    name = _auto_backend() if backend == "auto" else backend
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


def _check_reachable(P: sp.csr_array, starts: np.ndarray, target: np.ndarray) -> None:
    """Raise :class:`UnreachableTargetError` unless some start state has a path to the target."""
    from metacot.markov.reach import reaches

    if not reaches(P, target)[starts].any():
        shown = starts.tolist() if starts.size <= 8 else f"{starts.size} states"
        tshown = target.tolist() if target.size <= 8 else f"{target.size} states"
        raise UnreachableTargetError(
            f"the target {tshown} cannot be reached from the start {shown}: no path in the "
            "transition graph leads there, so every walker would be censored"
        )


def _available_memory() -> int | None:
    """Bytes of memory available without swapping (MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:
        return None


def _memory_needed(n_states: int, nnz: int, n_walkers: int, max_steps: int, record_paths: bool,
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


def _check_memory(parts: dict[str, int]) -> None:
    need = sum(parts.values())
    avail = _available_memory()
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


def _alias_table(P: sp.csr_array) -> AliasTable:
    hit = _TABLE_CACHE.get(id(P))
    if hit is not None and hit[0]() is P:
        return hit[1]
    table = build_alias_table(P)
    if len(_TABLE_CACHE) >= _TABLE_CACHE_SIZE:
        _TABLE_CACHE.pop(next(iter(_TABLE_CACHE)))
    key = id(P)
    _TABLE_CACHE[key] = (weakref.ref(P, lambda _, k=key: _TABLE_CACHE.pop(k, None)), table)
    return table


# --------------------------------------------------------------------------- backends
def _run_numba(table, key, max_steps, w0, states, tau, cens, vis, paths, n_chunks):
    from metacot.simulation.kernels import cpu

    k0, k1 = key
    w0 = np.uint64(w0)
    pf = table.nbytes > cpu.PREFETCH_BYTES
    if paths is not None and vis is not None:
        cpu.path_visit_kernel(table, k0, k1, max_steps, w0, states, tau, cens, vis, paths, pf)
    elif paths is not None:
        cpu.path_kernel(table, k0, k1, max_steps, w0, states, tau, cens, paths, n_chunks, pf)
    elif vis is not None:
        cpu.visit_kernel(table, k0, k1, max_steps, w0, states, tau, cens, vis, pf)
    else:
        cpu.hitting_kernel(table, k0, k1, max_steps, w0, states, tau, cens, n_chunks, pf)


def _run_numpy(table, key, max_steps, w0, states, tau, cens, vis, paths, n_chunks):
    from metacot.simulation.kernels.reference import simulate_reference

    simulate_reference(table, key[0], key[1], max_steps, states, tau, cens,
                       None if vis is None else vis[0], paths, w0=w0)


def _sample_starts(backend, cum, last, key, w0, states):
    if backend == "numpy":
        from metacot.simulation.kernels.reference import sample_starts

        states[:] = sample_starts(cum, last, key[0], key[1], states.size, w0=w0)
    else:
        from metacot.simulation.kernels import cpu

        cpu.sample_starts_kernel(cum, np.int64(last), key[0], key[1], np.uint64(w0), states)


def _n_chunks(backend: str, n_walkers: int) -> int:
    if backend != "numba":
        return 1
    import numba

    return max(1, min(numba.get_num_threads(), n_walkers))


# --------------------------------------------------------------------------- simulate
def simulate(chain, n_walkers, max_steps, start=None, target=None, seed=0, backend="auto",
             record_paths=False, count_visits=True, progress=False) -> Simulation:
    r"""Simulate independent walkers of a chain until they hit the target or run out of steps.

    Walker :math:`w` starts at :math:`X_0 \sim \mu` (a fixed state or the start distribution),
    moves by :math:`P` and stops at its hitting time
    :math:`\tau_w = \min\{t \ge 0 : X_t \in T\}` or after ``max_steps`` steps, whichever comes
    first; without a target every walker takes exactly ``max_steps`` steps.

    Parameters
    ----------
    chain : Chain
        The dynamics.
    n_walkers : int
        Number of independent walkers, at least 1.
    max_steps : int
        Step budget per walker, at least 0. Walkers that have not hit after it are *censored*.
    start : int or array_like of float, optional
        Start state or distribution; overrides ``chain.start``. One of the two is required.
    target : int or iterable of int, optional
        Target states; overrides ``chain.target``. With neither, there is no target.
    seed : int or numpy.random.Generator
        A seed in :math:`[0, 2^{64})`, or a generator from which one ``uint64`` is drawn.
    backend : {"auto", "numba", "numpy", "cuda"}
        ``"numba"``: parallel CPU kernels. ``"numpy"``: the slow vectorised reference.
        ``"cuda"``: the GPU kernels of :mod:`metacot.simulation.kernels.gpu` (numba-cuda, CuPy arrays; needs
        the ``gpu`` extra and an NVIDIA GPU, or ``NUMBA_ENABLE_CUDASIM=1`` for the slow
        simulator). ``"auto"``: ``"cuda"`` when a real GPU is usable, else ``"numba"`` (never the
        simulator). All give identical results for a seed.
    record_paths : bool
        Keep every path, an ``(n_walkers, max_steps + 1)`` int32 array (mind the memory).
    count_visits : bool
        Count how often each state is occupied (slightly slower than hitting times alone).
    progress : bool
        Show a progress bar (tqdm), running the walkers in batches; results are unchanged.

    Returns
    -------
    Simulation

    Raises
    ------
    InvalidChainError
        No start, or a malformed start or target.
    UnreachableTargetError
        No start state has a path to the target.
    MemoryBudgetError
        The request needs more than 80% of the available memory; raised before allocating.
    UnknownBackendError
        ``backend`` is not one of the names above (a ``BackendUnavailableError`` and a
        ``ValueError``).
    BackendUnavailableError
        ``backend="cuda"`` without a usable GPU (and without the simulator); when numba-cuda is
        not installed, a :class:`~metacot.simulation.kernels.gpu.CudaUnavailableError`, which is also a
        ``MissingDependencyError`` naming the ``gpu`` extra.
    InvalidArgumentError
        ``n_walkers < 1``, ``max_steps < 0`` or a seed outside :math:`[0, 2^{64})` (a
        ``ValueError``); a ``TypeError`` for non-integer counts or seeds.

    Notes
    -----
    **Steps.** Every row :math:`x` of :math:`P` has an alias table with :math:`k_x` slots, each
    holding a 64-bit threshold :math:`\theta`, a column and an alias column. From state :math:`x`
    with a 64-bit random value :math:`u`, the 128-bit product :math:`u k_x = j\,2^{64} + r`
    (integer limb arithmetic) gives the slot :math:`j`, uniform on :math:`[0, k_x)`, and the coin
    :math:`r`; the walker moves to the slot's column if :math:`r < \theta_j`, else to its alias.
    Target rows are given degree 0, which is how the kernels recognise a hit.

    **Random stream** (a contract shared by all backends, present and future). With
    ``key = (seed & 0xffffffff, seed >> 32)``, draw :math:`d` of walker :math:`w` is
    Philox4x32-10 of counter ``(d & 0xffffffff, d >> 32, w & 0xffffffff, w >> 32)``; its words
    ``r0..r3`` form ``a = r0 | r1 << 32`` and ``b = r2 | r3 << 32``. Step :math:`s = 1, 2, \dots`
    uses draw :math:`(s-1) // 2`, value ``a`` if :math:`s-1` is even and ``b`` if odd. A start
    distribution is sampled from value ``a`` of draw :math:`2^{64}-1` by exact inverse CDF on
    ``uint64`` thresholds (:func:`start_thresholds`). Because each walker's stream is a function
    of ``(seed, w)`` only, results are identical for any thread count, batch size and backend.

    **Cost.** Building the alias tables is :math:`O(\mathrm{nnz})`; each step is :math:`O(1)`.

    Examples
    --------
    >>> import numpy as np, metacot as mc
    >>> P = np.array([[0.9, 0.1, 0.0], [0.1, 0.8, 0.1], [0.0, 0.0, 1.0]])
    >>> chain = mc.Chain(P, start=0, target=2)
    >>> sim = mc.simulate(chain, n_walkers=1000, max_steps=10_000, seed=42)
    >>> sim.n_censored
    0
    >>> sim.hitting_times.shape, sim.visits.sum() == (sim.hitting_times + 1).sum()
    ((1000,), np.True_)
    """
    req = _prepare(chain, n_walkers, max_steps, start, target, seed, backend, record_paths, count_visits)
    _check_memory(req.memory())
    return _execute(req, progress)


@dataclass(frozen=True)
class _Request:
    """A validated simulation request: everything :func:`_execute` needs, nothing allocated yet."""

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

    def memory(self) -> dict[str, int]:
        return _memory_needed(self.chain.n_states, self.chain.nnz, self.n_walkers, self.max_steps,
                              self.record_paths, self.count_visits, self.backend, self.n_chunks)

    def table(self) -> np.ndarray:
        """The alias table with the target rows emptied (the kernels' "hit" mark)."""
        table = _alias_table(self.chain.P)
        return table.with_empty_rows(self.target) if self.target is not None else table.table


def _prepare(chain, n_walkers, max_steps, start, target, seed, backend, record_paths, count_visits) -> _Request:
    """Validate a request (arguments, backend, start, target, reachability) in :func:`simulate`'s order."""
    if not isinstance(chain, Chain):
        raise TypeError(f"chain must be a metacot.Chain, got {type(chain).__name__}")
    n_walkers = _as_count(n_walkers, "n_walkers", 1)
    max_steps = _as_count(max_steps, "max_steps", 0)
    name = _resolve_backend(backend)
    seed = _as_seed(seed)
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
    if tgt is not None:
        _check_reachable(chain.P, start_support, tgt)
    return _Request(chain, n_walkers, max_steps, name, seed, start_state, mu, tgt, bool(record_paths),
                    bool(count_visits), _n_chunks(name, n_walkers))


def _execute(req: _Request, progress: bool) -> Simulation:
    """Allocate the results and run the request's backend (in batches when ``progress``)."""
    n = req.chain.n_states
    n_walkers, max_steps, name = req.n_walkers, req.max_steps, req.backend
    n_chunks = req.n_chunks
    tab = req.table()
    key = seed_key(req.seed)

    states = np.empty(n_walkers, dtype=np.int64)
    tau = np.empty(n_walkers, dtype=np.int64)
    cens = np.empty(n_walkers, dtype=bool)
    paths = np.empty((n_walkers, max_steps + 1), dtype=np.int32) if req.record_paths else None
    vis = np.zeros((n_chunks, n), dtype=np.int64) if req.count_visits else None
    cum = last = None
    if req.mu is not None:
        cum, last = start_thresholds(req.mu)

    if name == "cuda":
        from metacot.simulation.kernels import gpu

        for lo, hi in _batches(n_walkers, progress):
            job = gpu.Job(tab, n, hi - lo, lo, max_steps, key, req.start_state, cum, last or 0)
            out = gpu.run_jobs([job], count_visits=req.count_visits, record_paths=req.record_paths)[0]
            states[lo:hi], tau[lo:hi], cens[lo:hi] = out.states, out.tau, out.censored
            if vis is not None:
                vis[0] += out.visits
            if paths is not None:
                paths[lo:hi] = out.paths
    else:
        run = _run_numba if name == "numba" else _run_numpy
        for lo, hi in _batches(n_walkers, progress):
            st = states[lo:hi]
            if req.mu is None:
                st.fill(req.start_state)
            else:
                _sample_starts(name, cum, last, key, lo, st)
            run(tab, key, max_steps, lo, st, tau[lo:hi], cens[lo:hi],
                vis, None if paths is None else paths[lo:hi], min(n_chunks, hi - lo))

    return _result(req, states, tau, cens, paths, None if vis is None else vis.sum(axis=0))


def _result(req: _Request, states, tau, cens, paths, visits) -> Simulation:
    has_target = req.target is not None
    return Simulation(
        hitting_times=_readonly(tau) if has_target else None,
        censored=_readonly(cens) if has_target else None,
        final_states=_readonly(states),
        paths=_readonly(paths),
        visits=_readonly(visits),
        seed=req.seed,
        backend=req.backend,
        n_walkers=req.n_walkers,
        max_steps=req.max_steps,
    )


# --------------------------------------------------------------------------- many chains
def _per_chain(value: Any, m: int, name: str) -> list:
    """A scalar broadcast to ``m`` chains, or a sequence of exactly ``m`` values."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        return [value] * m
    values = list(value)
    if len(values) != m:
        raise InvalidArgumentError(f"{name} has {len(values)} values for {m} chains; give one value or one per chain")
    return values


def simulate_many(chains, n_walkers, max_steps, seed=0, backend="auto", *, record_paths=False,
                  count_visits=True, progress=False) -> list[Simulation]:
    r"""Simulate many chains at once: one kernel launch for all of them on the GPU.

    The result for chain :math:`i` is exactly ``simulate(chains[i], n_walkers[i], max_steps[i],
    seed=seed[i], backend=..., record_paths=..., count_visits=...)``, with each chain's own start
    and target. On the ``"cuda"`` backend every chain's alias table is concatenated into one
    device array with per-chain offsets, each CUDA block serves one chain (holding its table in
    shared memory when it fits in 48 KiB) and every thread knows its chain and walker, so a whole
    sweep grid of small chains costs one launch instead of one per chain. The CPU backends run
    the chains one after the other.

    Parameters
    ----------
    chains : sequence of Chain
        Each with a start (and usually a target).
    n_walkers, max_steps : int or sequence of int
        One value for every chain, or one per chain.
    seed : int, sequence of int or numpy.random.Generator
        One seed per chain; a single int is used for every chain (common random numbers, as a loop
        calling :func:`simulate` with that seed would do); a generator draws one seed per chain,
        in order.
    backend : {"auto", "numba", "numpy", "cuda"}
        As in :func:`simulate`.
    record_paths, count_visits : bool
        As in :func:`simulate`.
    progress : bool
        A progress bar over the chains (CPU backends; one launch on the GPU has no steps to show).

    Returns
    -------
    list of Simulation
        In the order of ``chains``.

    Raises
    ------
    InvalidArgumentError
        A per-chain sequence of the wrong length; and everything :func:`simulate` raises, with
        the message prefixed by ``chains[i]:`` to name the chain at fault.
    MemoryBudgetError
        All chains together need more than 80% of the available memory.

    Notes
    -----
    Each chain keeps its own stream: walker :math:`w` of chain :math:`i` draws Philox4x32-10 of
    counter ``(d, w)`` under the key of ``seed[i]``, exactly as in :func:`simulate`, which is why
    batching changes nothing.

    Examples
    --------
    >>> import metacot as mc
    >>> chains = [mc.families.line_of_cliques(K=2, M=4, eps=e) for e in (0.5, 0.25)]
    >>> sims = simulate_many(chains, n_walkers=100, max_steps=10_000, seed=[1, 2])
    >>> [s.n_walkers for s in sims]
    [100, 100]
    >>> bool((sims[1].hitting_times == mc.simulate(chains[1], 100, 10_000, seed=2).hitting_times).all())
    True
    """
    chains = list(chains)
    m = len(chains)
    name = _resolve_backend(backend)
    walkers = _per_chain(n_walkers, m, "n_walkers")
    steps = _per_chain(max_steps, m, "max_steps")
    if isinstance(seed, np.random.Generator):
        seeds = [_as_seed(seed) for _ in range(m)]
    else:
        seeds = _per_chain(seed, m, "seed")
    reqs = []
    for i, chain in enumerate(chains):
        try:
            reqs.append(_prepare(chain, walkers[i], steps[i], None, None, seeds[i], name, record_paths,
                                 count_visits))
        except (ValueError, TypeError) as err:
            raise type(err)(f"chains[{i}]: {err}") from err
    need: dict[str, int] = {}
    for r in reqs:
        for k, v in r.memory().items():
            need[k] = need.get(k, 0) + v
    _check_memory(need)

    if name != "cuda":
        if not progress:
            return [_execute(r, False) for r in reqs]
        from tqdm.auto import tqdm

        return [_execute(r, False) for r in tqdm(reqs, unit="chain", desc="simulate_many")]

    from metacot.simulation.kernels import gpu

    jobs = []
    for r in reqs:
        cum, last = start_thresholds(r.mu) if r.mu is not None else (None, 0)
        jobs.append(gpu.Job(r.table(), r.chain.n_states, r.n_walkers, 0, r.max_steps, seed_key(r.seed),
                            r.start_state, cum, last))
    outs = gpu.run_jobs(jobs, count_visits=count_visits, record_paths=record_paths)
    return [_result(r, o.states, o.tau, o.censored, o.paths, o.visits) for r, o in zip(reqs, outs)]


def _batches(n_walkers: int, progress: bool):
    """Walker ranges to simulate: one range, or about 50 with a tqdm bar when ``progress``."""
    if not progress:
        yield 0, n_walkers
        return
    from tqdm.auto import tqdm

    size = max(1, -(-n_walkers // _PROGRESS_BATCHES))
    with tqdm(total=n_walkers, unit="walker", desc="simulate") as bar:
        for lo in range(0, n_walkers, size):
            hi = min(n_walkers, lo + size)
            yield lo, hi
            bar.update(hi - lo)
