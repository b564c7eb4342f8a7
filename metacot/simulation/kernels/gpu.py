r"""Numba CUDA kernels of the ``backend="cuda"`` simulator, for one chain or a whole batch of chains.

These are internal building blocks of :func:`metacot.simulate` and
:func:`metacot.simulation.engine.simulate_many`; :func:`run_jobs` is the one entry point. The kernels
follow the random stream contract of :mod:`metacot.simulation.kernels.rng` and the step rule of
:mod:`metacot.simulation.kernels.cpu` *with the same source code*: the device functions are compiled from
the ``.py_func`` of :func:`~metacot.simulation.kernels.rng.philox4x32_10`,
:func:`~metacot.simulation.kernels.rng.philox_pair` and the CPU kernel's ``_step``. A walker's result is a
function of (seed, walker index, chain) only, so the GPU gives exactly the hitting times, final
states, visit counts and paths of the CPU kernels, for any launch geometry.

Work decomposition
------------------
A launch simulates a list of *jobs*: one job is a chain (its alias table with the target rows
emptied), a number of walkers, their first global walker index (the stream index), a step
budget, a start (state or distribution) and a Philox key. The tables of all jobs are
concatenated into one ``uint64`` array; each job keeps its own table with *relative* indices and
the kernel works on the job's slice, so a table never needs rewriting to be batched. Each CUDA
block serves one job (a job gets as many blocks as its walker share of the grid), so:

* a block knows its job from a per-block array, and its rank among the job's blocks;
* when the job's table fits in :data:`SHARED_BYTES` of shared memory, the block first copies it
  there (coalesced, one word per thread per pass) and every step reads shared memory; larger
  tables are read from global memory through L1/L2;
* a thread carries one walker at a time and, when it finishes (hit or budget spent), takes the
  walker ``w + stride`` of its job (``stride`` = the job's thread count). Each loop iteration is
  one Philox draw and two steps, and finishing is a short rare branch, so the threads of a warp
  stay converged on the stepping code instead of waiting for the warp's slowest walker (hitting
  times are roughly exponential: waiting would idle about 3/4 of a warp).

Visit counts are added with global atomics (exact integer sums, so order does not matter); paths
are written row by row into one flat ``int32`` array.

Device arrays
-------------
On a real GPU the host arrays are moved with CuPy when it is installed (the kernels take any
object with ``__cuda_array_interface__``, CuPy arrays included) and with numba's own device
arrays otherwise. Under the CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) numpy arrays stand in
for device arrays and the same kernels run, slowly, on the CPU; the tests use it to check the
kernels bit for bit against the CPU backend on machines without a GPU.
"""

from __future__ import annotations

import functools
import importlib.util
import types
from dataclasses import dataclass

import numpy as np

from metacot._cuda import cuda_available, simulating
from metacot._cuda import require_cuda as _require_cuda
from metacot.errors import (
    CudaUnavailableError,
    MemoryBudgetError,
)
from metacot.simulation.kernels import cpu as _cpu
from metacot.simulation.kernels import rng as _rng

__all__ = [
    "SHARED_BYTES",
    "CudaUnavailableError",
    "Job",
    "JobResult",
    "cuda_available",
    "require_cuda",
    "round_steps",
    "run_jobs",
    "simulating",
]

#: Largest alias table (bytes) copied into shared memory: the 48 KiB every CUDA device gives a
#: block without an opt-in. (H100 allows up to 227 KiB per block after
#: ``cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES)``, which numba-cuda does not expose.)
SHARED_BYTES = 48 * 1024

#: Threads per block on a real GPU (8 warps: enough to hide latency with several blocks per SM).
THREADS_PER_BLOCK = 256

#: Resident threads per SM aimed at on a real GPU (the H100 maximum is 2048).
THREADS_PER_SM = 2048

#: Under the simulator every CUDA thread is a Python thread: keep launches tiny.
SIM_THREADS_PER_BLOCK = 32
SIM_MAX_THREADS = 128

# columns of the per-job int64 parameter array
_TAB, _TLEN, _NW, _WOUT, _W0, _STEPS, _START, _CUM, _NCUM, _LAST, _VIS, _PATH, _STRIDE, _LIMIT, _RESUME = range(15)
_NFIELDS = 15

#: A launch gives every walker at most about this many walker-steps in all, divided among the
#: walkers, before control comes back to Python (between launches Ctrl-C is seen): about a
#: second of an H100. Results never depend on it (see :func:`run_jobs`).
ROUND_WORK = 1 << 36

#: Fewest steps per walker in one launch, whatever the walker count.
MIN_ROUND_STEPS = 1 << 10

_ONE = np.uint64(1)
_ZERO = np.uint64(0)
#: Element type of the shared-memory table: a dtype *instance*, which both the CUDA compiler and
#: the simulator accept (the simulator needs ``.itemsize``).
_U64 = np.dtype(np.uint64)

#: ``numba.cuda``, bound on first use. The kernels must reach it as a *module global*: the CUDA
#: simulator swaps globals that are the ``numba.cuda`` module for its fake one, and would miss a
#: closure variable.
cuda = None
_START_DRAW = np.uint64(_rng.START_DRAW)


# --------------------------------------------------------------------------- availability
def require_cuda():
    """:func:`metacot._cuda.require_cuda`, binding ``numba.cuda`` as this module's global ``cuda``."""
    global cuda
    cuda = _require_cuda()
    return cuda


# --------------------------------------------------------------------------- device functions
def _rebind(fn, **globals_):
    """A copy of the Python function ``fn`` whose globals named in ``globals_`` are replaced.

    The CPU sources call their helpers through module globals that hold CPU dispatchers; the
    CUDA compiler needs the CUDA device versions of those helpers in their place.
    """
    g = dict(fn.__globals__)
    g.update(globals_)
    new = types.FunctionType(fn.__code__, g, fn.__name__, fn.__defaults__, fn.__closure__)
    new.__doc__ = fn.__doc__
    return new


@functools.cache
def _device_functions():
    """CUDA device versions of the Philox stream and the alias step, from the CPU sources."""
    require_cuda()
    dev = functools.partial(cuda.jit, device=True, inline="always")
    philox = dev(_rng.philox4x32_10.py_func)
    pair = dev(_rebind(_rng.philox_pair.py_func, philox4x32_10=philox))
    step = dev(_cpu.step_header.py_func)
    return pair, step


@functools.cache
def _kernel(shared: bool, visits: bool, paths: bool):
    """The launch kernel, specialised at compile time on shared memory, visit counting and paths."""
    require_cuda()
    pair, step = _device_functions()
    dev = functools.partial(cuda.jit, device=True, inline="always")
    VISITS, PATHS = visits, paths  # closure constants: the untaken branches compile away

    def record(h, t, w, v0, p0, row, vis, flat):
        if VISITS:
            cuda.atomic.add(vis, v0 + np.int64(h >> _ONE), 1)
        if PATHS:
            flat[p0 + w * row + t] = np.int32(h >> _ONE)

    def finish(w, h, t, hit, wout, p0, row, states, tau, cens, flat):
        i = wout + w
        states[i] = np.int64(h >> _ONE)
        tau[i] = t
        cens[i] = not hit
        if PATHS and hit:
            for s in range(t + 1, row):
                flat[p0 + w * row + s] = np.int32(-1)

    record = dev(record)
    finish = dev(finish)

    def first_state(w, gw, start, k0, k1, cum, c0, nc, last):
        """The header index 2x of walker w's start (a fixed state, or the inverse CDF of its draw)."""
        if start >= 0:
            return np.uint64(start) << _ONE
        a, _ = pair(_START_DRAW, gw, k0, k1)
        lo = np.int64(0)
        hi = nc
        while lo < hi:
            mid = (lo + hi) >> 1
            if a < cum[c0 + mid]:
                hi = mid
            else:
                lo = mid + 1
        x = lo if lo < nc else last
        return np.uint64(x) << _ONE

    first_state = dev(first_state)

    def begin(w, tab, job, k0, k1, cum, states, tau, cens, vis, flat):
        """Take walker ``w`` of the job: (header index, steps taken, whether it needs a step).

        A fresh launch starts it (finishing it on the spot when it starts in the target or has
        no step budget); a resumed launch (``_RESUME``) skips it when an earlier launch finished
        it and otherwise continues it from its stored state and step count.
        """
        wout = job[_WOUT]
        limit = job[_LIMIT]
        row = job[_STEPS] + 1
        p0 = job[_PATH]
        if job[_RESUME] != 0:
            i = wout + w
            if not cens[i]:
                return np.uint64(0), np.int64(0), False
            t = tau[i]
            return np.uint64(states[i]) << _ONE, t, t < limit
        h = first_state(w, np.uint64(w + job[_W0]), job[_START], k0, k1, cum, job[_CUM], job[_NCUM], job[_LAST])
        record(h, 0, w, job[_VIS], p0, row, vis, flat)
        k = tab[h + _ONE]
        if k != _ZERO and limit > 0:
            return h, np.int64(0), True
        finish(w, h, 0, k == _ZERO, wout, p0, row, states, tau, cens, flat)
        return h, np.int64(0), False

    begin = dev(begin)

    def walk(tab, job, key, rank, cum, states, tau, cens, vis, flat):
        """Every walker of one job that this thread owns, one at a time, up to the job's limit."""
        n = job[_NW]
        wout = job[_WOUT]
        w0 = job[_W0]
        limit = job[_LIMIT]
        v0 = job[_VIS]
        p0 = job[_PATH]
        stride = job[_STRIDE]
        k0 = key[0]
        k1 = key[1]
        row = job[_STEPS] + 1
        w = np.int64(rank) * np.int64(cuda.blockDim.x) + np.int64(cuda.threadIdx.x)
        h = np.uint64(0)
        t = np.int64(0)
        # Find this thread's first walker that needs a step.
        while w < n:
            h, t, busy = begin(w, tab, job, k0, k1, cum, states, tau, cens, vis, flat)
            if busy:
                break
            w += stride
        while w < n:
            # one Philox draw serves two steps; t is even here
            a, b = pair(np.uint64(t >> 1), np.uint64(w + w0), k0, k1)
            h = step(tab, h, tab[h + _ONE], a)
            t += 1
            record(h, t, w, v0, p0, row, vis, flat)
            k = tab[h + _ONE]
            if k != _ZERO and t < limit:
                h = step(tab, h, k, b)
                t += 1
                record(h, t, w, v0, p0, row, vis, flat)
                k = tab[h + _ONE]
            if k == _ZERO or t == limit:
                finish(w, h, t, k == _ZERO, wout, p0, row, states, tau, cens, flat)
                w += stride
                while w < n:
                    h, t, busy = begin(w, tab, job, k0, k1, cum, states, tau, cens, vis, flat)
                    if busy:
                        break
                    w += stride

    walk = dev(walk)

    if shared:
        def kernel(tables, jobs, keys, blocks, cum, states, tau, cens, vis, flat):
            b = cuda.blockIdx.x
            c = blocks[b, 0]
            base = jobs[c, _TAB]
            length = jobs[c, _TLEN]
            sh = cuda.shared.array(0, dtype=_U64)
            i = np.int64(cuda.threadIdx.x)
            while i < length:
                sh[i] = tables[base + i]
                i += np.int64(cuda.blockDim.x)
            cuda.syncthreads()
            walk(sh, jobs[c], keys[c], blocks[b, 1], cum, states, tau, cens, vis, flat)
    else:
        def kernel(tables, jobs, keys, blocks, cum, states, tau, cens, vis, flat):
            b = cuda.blockIdx.x
            c = blocks[b, 0]
            base = jobs[c, _TAB]
            tab = tables[base : base + jobs[c, _TLEN]]
            walk(tab, jobs[c], keys[c], blocks[b, 1], cum, states, tau, cens, vis, flat)

    return cuda.jit(kernel)


# --------------------------------------------------------------------------- host side
def round_steps(n_walkers: int, work: int) -> int:
    """Steps per walker in one round of about ``work`` walker-steps: even, at least :data:`MIN_ROUND_STEPS`."""
    every = max(MIN_ROUND_STEPS, int(work) // max(1, int(n_walkers)))
    return every + (every & 1)


def _any_running(cens: np.ndarray, wout: np.ndarray, unfinished: np.ndarray) -> bool:
    """Whether a walker of a job whose budget is not yet spent is still running (not stopped)."""
    return any(cens[wout[c]:wout[c + 1]].any() for c in np.flatnonzero(unfinished))



@dataclass(frozen=True)
class Job:
    """One chain's share of a launch (see the module docstring).

    Attributes
    ----------
    table : ndarray of uint64
        Alias table of the chain with target rows emptied (:meth:`AliasTable.with_empty_rows`).
    n_states : int
        States of the chain (length of its visit counts).
    n_walkers : int
        Walkers of this job.
    w0 : int
        Global index (stream index) of the job's first walker.
    max_steps : int
        Step budget per walker.
    key : (np.uint64, np.uint64)
        Philox key from :func:`~metacot.simulation.kernels.rng.seed_key`.
    start : int or None
        Fixed start state, or None to sample from ``cum``.
    cum : ndarray of uint64 or None
        Start thresholds (:func:`~metacot.simulation.engine.start_thresholds`) when ``start`` is None.
    last : int
        Fallback start state of the thresholds.
    """

    table: np.ndarray
    n_states: int
    n_walkers: int
    w0: int
    max_steps: int
    key: tuple
    start: int | None = None
    cum: np.ndarray | None = None
    last: int = 0


@dataclass(frozen=True)
class JobResult:
    """Host arrays of one job: ``states``, ``tau``, ``censored``, and ``visits``/``paths`` when asked."""

    states: np.ndarray
    tau: np.ndarray
    censored: np.ndarray
    visits: np.ndarray | None
    paths: np.ndarray | None


class _Memory:
    """Moves arrays between host and device: CuPy, numba device arrays, or numpy under the simulator."""

    def __init__(self, cuda):
        self.cuda = cuda
        self.sim = simulating()
        self.cupy = None
        if not self.sim and importlib.util.find_spec("cupy") is not None:
            import cupy

            self.cupy = cupy

    def put(self, a: np.ndarray):
        if self.sim:
            return a
        if self.cupy is not None:
            return self.cupy.asarray(a)
        return self.cuda.to_device(a)

    def zeros(self, shape, dtype):
        if self.sim:
            return np.zeros(shape, dtype=dtype)
        if self.cupy is not None:
            return self.cupy.zeros(shape, dtype=dtype)
        return self.cuda.to_device(np.zeros(shape, dtype=dtype))

    def get(self, a) -> np.ndarray:
        if self.sim:
            return a
        if self.cupy is not None:
            return self.cupy.asnumpy(a)
        return a.copy_to_host()

    def sync(self):
        if not self.sim:
            self.cuda.synchronize()

    def check(self, nbytes: int) -> None:
        """Refuse a launch that needs more than 80% of the free device memory."""
        if self.sim:
            return
        free, total = self.cuda.current_context().get_memory_info()
        if nbytes > 0.8 * free:
            raise MemoryBudgetError(
                f"this launch needs {nbytes / 2**30:.3g} GiB of GPU memory but only {free / 2**30:.3g} "
                f"of {total / 2**30:.3g} GiB is free; reduce n_walkers or max_steps, or turn off record_paths"
            )


def _geometry(cuda, n_walkers: np.ndarray, threads_per_block: int | None, max_threads: int | None):
    """Blocks per job: walker-proportional shares of a grid of about ``max_threads`` threads."""
    sim = simulating()
    tpb = int(threads_per_block or (SIM_THREADS_PER_BLOCK if sim else THREADS_PER_BLOCK))
    if max_threads is None:
        if sim:
            max_threads = SIM_MAX_THREADS
        else:
            sms = cuda.get_current_device().MULTIPROCESSOR_COUNT
            max_threads = sms * THREADS_PER_SM
    total = int(n_walkers.sum())
    share = np.maximum(1.0, np.asarray(max_threads, float) * n_walkers / max(total, 1))
    threads = np.minimum(n_walkers, np.ceil(share)).astype(np.int64)
    blocks = np.maximum(1, -(-threads // tpb))
    return tpb, blocks


def run_jobs(jobs, *, count_visits: bool = False, record_paths: bool = False,
             threads_per_block: int | None = None, max_threads: int | None = None,
             shared: bool | None = None, rounds: int | None = None) -> list[JobResult]:
    r"""Simulate every job in one kernel launch (two when some tables fit in shared memory and some do not).

    Walker :math:`w` of job :math:`j` runs exactly the CPU kernel's walk with the stream of
    ``(key_j, w0_j + w)``, so the results equal those of :func:`metacot.simulate` on each chain
    alone. Launch geometry never changes results.

    Parameters
    ----------
    jobs : sequence of Job
    count_visits, record_paths : bool
        Also return visit counts (global atomics) or paths (``(n_walkers, max_steps + 1)`` int32,
        -1 after the hit).
    threads_per_block, max_threads : int, optional
        Launch geometry: block size and about how many threads the grid has in all (shared among
        jobs in proportion to their walkers). Defaults: 256 and 2048 per SM on a GPU; 32 and 128
        under the simulator.
    shared : bool, optional
        Force (True) or forbid (False) alias tables in shared memory; by default every table of at
        most :data:`SHARED_BYTES` goes there. A table that does not fit is never forced.
    rounds : int, optional
        Steps per walker in one launch (rounded up to even); by default about
        :data:`ROUND_WORK` walker-steps per launch, and at least :data:`MIN_ROUND_STEPS`. Walkers
        still running at a round's limit continue in the next launch; the results are the same
        for any value.

    Returns
    -------
    list of JobResult
        Host (numpy) arrays, in the order of ``jobs``.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from metacot.simulation.kernels.alias import build_alias_table
    >>> from metacot.simulation.kernels.rng import seed_key
    >>> table = build_alias_table(sp.csr_array(np.array([[0.5, 0.5], [0.0, 1.0]]))).with_empty_rows([1])
    >>> job = Job(table, n_states=2, n_walkers=4, w0=0, max_steps=50, key=seed_key(3), start=0)
    >>> run_jobs([job])[0].tau  # doctest: +SKIP
    array([1, 2, 1, 1])
    """
    require_cuda()
    jobs = list(jobs)
    if not jobs:
        return []
    mem = _Memory(cuda)
    nj = len(jobs)
    n_walkers = np.array([j.n_walkers for j in jobs], dtype=np.int64)
    tlen = np.array([j.table.size for j in jobs], dtype=np.int64)
    tab_off = np.concatenate([[0], np.cumsum(tlen)])
    wout = np.concatenate([[0], np.cumsum(n_walkers)])
    ncum = np.array([0 if j.start is not None else j.cum.size for j in jobs], dtype=np.int64)
    cum_off = np.concatenate([[0], np.cumsum(ncum)])
    nstates = np.array([j.n_states for j in jobs], dtype=np.int64)
    vis_off = np.concatenate([[0], np.cumsum(nstates)])
    rows = np.array([j.max_steps + 1 for j in jobs], dtype=np.int64)
    path_off = np.concatenate([[0], np.cumsum(n_walkers * rows)])

    tpb, blocks_per_job = _geometry(cuda, n_walkers, threads_per_block, max_threads)
    params = np.zeros((nj, _NFIELDS), dtype=np.int64)
    params[:, _TAB] = tab_off[:-1]
    params[:, _TLEN] = tlen
    params[:, _NW] = n_walkers
    params[:, _WOUT] = wout[:-1]
    params[:, _W0] = [j.w0 for j in jobs]
    params[:, _STEPS] = [j.max_steps for j in jobs]
    params[:, _START] = [-1 if j.start is None else int(j.start) for j in jobs]
    params[:, _CUM] = cum_off[:-1]
    params[:, _NCUM] = ncum
    params[:, _LAST] = [j.last for j in jobs]
    params[:, _VIS] = vis_off[:-1]
    params[:, _PATH] = path_off[:-1]
    params[:, _STRIDE] = blocks_per_job * tpb
    keys = np.array([[int(j.key[0]), int(j.key[1])] for j in jobs], dtype=np.uint64)
    tables = np.concatenate([np.asarray(j.table, dtype=np.uint64) for j in jobs])
    cums = [j.cum for j in jobs if j.start is None]
    cum = np.concatenate(cums).astype(np.uint64) if cums else np.zeros(1, dtype=np.uint64)

    total_w = int(wout[-1])
    n_vis = int(vis_off[-1]) if count_visits else 1
    n_path = int(path_off[-1]) if record_paths else 1
    mem.check(tables.nbytes + cum.nbytes + 17 * total_w + 8 * n_vis + 4 * n_path + params.nbytes)

    d_tables, d_keys, d_cum = (mem.put(a) for a in (tables, keys, cum))
    d_states = mem.zeros(total_w, np.int64)
    d_tau = mem.zeros(total_w, np.int64)
    d_cens = mem.zeros(total_w, np.bool_)
    d_vis = mem.zeros(n_vis, np.int64)
    d_flat = mem.zeros(n_path, np.int32)

    fits = tlen * 8 <= SHARED_BYTES
    if shared is False:
        fits[:] = False
    launches = []
    for use_shared in (True, False):
        group = np.flatnonzero(fits if use_shared else ~fits)
        if group.size == 0:
            continue
        owner = np.repeat(group, blocks_per_job[group])
        rank = np.concatenate([np.arange(blocks_per_job[c]) for c in group])
        blocks = mem.put(np.ascontiguousarray(np.stack([owner, rank], axis=1).astype(np.int64)))
        kern = _kernel(use_shared, bool(count_visits), bool(record_paths))
        shmem = int(tlen[group].max() * 8) if use_shared else 0
        launches.append((kern[int(owner.size), tpb, 0, shmem], blocks))

    # The step budget is cut into rounds of at most `every` steps per walker, one launch (per
    # table placement) each, so that control comes back to Python, and Ctrl-C is seen, between
    # rounds. Round limits are even, so a resumed walker opens a fresh Philox draw exactly where
    # an unbroken walk would: the results do not depend on the rounds.
    every = round_steps(int(wout[-1]), ROUND_WORK) if rounds is None else int(rounds) + (int(rounds) & 1)
    steps = params[:, _STEPS].copy()
    limit = np.zeros(nj, dtype=np.int64)
    while True:
        resume = limit > 0
        limit = np.minimum(steps, limit + every)
        params[:, _LIMIT] = limit
        params[:, _RESUME] = resume
        d_params = mem.put(params)
        for launch, blocks in launches:
            launch(d_tables, d_params, d_keys, blocks, d_cum, d_states, d_tau, d_cens, d_vis, d_flat)
        mem.sync()
        if (limit == steps).all() or not _any_running(mem.get(d_cens), wout, limit < steps):
            break

    states, tau, cens = mem.get(d_states), mem.get(d_tau), mem.get(d_cens)
    vis = mem.get(d_vis) if count_visits else None
    flat = mem.get(d_flat) if record_paths else None
    out = []
    for c in range(nj):
        sl = slice(int(wout[c]), int(wout[c + 1]))
        out.append(JobResult(
            states=states[sl].copy(),
            tau=tau[sl].copy(),
            censored=cens[sl].copy(),
            visits=None if vis is None else vis[vis_off[c]:vis_off[c + 1]].copy(),
            paths=None if flat is None else
            flat[path_off[c]:path_off[c + 1]].reshape(int(n_walkers[c]), int(rows[c])).copy(),
        ))
    return out
