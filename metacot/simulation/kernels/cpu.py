r"""Numba kernels of the CPU backend of :func:`metacot.simulate`.

These are internal building blocks of :func:`metacot.simulate` (not public API). All kernels
write into arrays the caller allocates (QuantEcon style) and follow the random stream
contract of :mod:`metacot.simulation.kernels.rng`. One step from state :math:`x` with 64-bit random value
:math:`u` uses the alias table row of :math:`x` (:mod:`metacot.simulation.kernels.alias`): with degree
:math:`k`, the 128-bit product :math:`u k = j\,2^{64} + r` gives the slot :math:`j` (uniform in
:math:`[0, k)`) and the coin :math:`r`; the walker moves to the slot's column if
:math:`r < \theta_j` and to its alias otherwise. A state whose row has degree 0 is a target: the
walker stops there.

Work decomposition
------------------
The walkers are split into one contiguous chunk per thread (``prange`` over chunks), so each
chunk owns a row of per-chunk visit counts and the integer sum over chunks is exact and
independent of the thread count. Within a chunk a block of :data:`LANES` lanes advances in
lockstep, two steps per Philox call, in passes over the lanes: a loop of pure integer arithmetic
computes the Philox draws of all lanes (LLVM vectorises it with AVX-512: 8 lanes per
``vpmuludq``); a branch-free loop takes every lane's first step; another its second step; a
last loop retires the walkers that hit the target or ran out of steps. Short, independent loop
bodies let the out-of-order core overlap many lanes (measured 15-25% faster than one loop doing
both steps of a lane); on tables larger than the cache a prefetch pass before each step puts all
lanes' cache misses in flight at once (3-4x faster on a dense 1000-state chain), and the path
kernels prefetch their output rows for writing. A freed lane immediately takes the next walker
of the chunk: hitting times are roughly exponential, so a block that waited for its slowest
walker would idle most of the time.

Where the time goes (one core, small chain, ~2.8 ns per step): about 0.85 ns is Philox (half a
draw; the vector multiplier is the limit), the rest is the two dependent table loads and the
limb arithmetic of the step.

Every walker's result depends only on its own (seed, walker index) stream, never on the lane,
chunk or thread that ran it, which is why results are bit-identical for any thread count and
identical to the numpy reference backend.

The public kernels are compile-time specialisations of one chunk routine: hitting times only,
hitting times plus visit counts, full paths, and paths plus visits, so the fast path carries no
visit or path bookkeeping.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, prange
from numba.core import cgutils, types
from numba.extending import intrinsic

from metacot.simulation.kernels.rng import START_DRAW, philox_pair

__all__ = [
    "LANES",
    "hitting_kernel",
    "path_kernel",
    "path_visit_kernel",
    "sample_starts_kernel",
    "step_header",
    "visit_kernel",
]

#: Walkers advanced in lockstep per chunk: eight full AVX-512 iterations of the Philox loop and,
#: on tables larger than the cache, 64 independent slot loads to prefetch at once, while the
#: lane state (6 x 64 x 8 bytes) stays in L1. (16 lanes measured 3x slower, 128 no faster.)
LANES = 64

#: Tables larger than this (the per-core L2 of the machines we tune on) are prefetched.
PREFETCH_BYTES = 1 << 20

_MASK32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)
_ONE = np.uint64(1)
_ZERO = np.uint64(0)
_START_DRAW = np.uint64(START_DRAW)
_IDLE = np.uint64(0xFFFFFFFFFFFFFFFF)  # walker slot of a free lane
# offsets of the fields in the lane array (see _run_chunk)
_W = 0
_H = LANES
_T = 2 * LANES
_U = 3 * LANES
_O = 5 * LANES
#: How far ahead (in path entries, 4 bytes each) the path kernels prefetch their rows.
_PATH_AHEAD = np.uint64(96)


def _prefetch_intrinsic(rw: int, locality: int, doc: str):
    """Build a numba intrinsic ``f(arr, idx)`` that emits ``llvm.prefetch`` for ``&arr[idx]``."""

    @intrinsic
    def prefetch(typingctx, arr, idx):
        sig = types.void(arr, idx)

        def codegen(context, builder, signature, args):
            aryty = signature.args[0]
            ary = context.make_array(aryty)(context, builder, args[0])
            ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False)
            i8p = ir.IntType(8).as_pointer()
            i32 = ir.IntType(32)
            fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
            fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
            # (address, rw, locality 0..3, data cache)
            args = [builder.bitcast(ptr, i8p), ir.Constant(i32, rw), ir.Constant(i32, locality),
                    ir.Constant(i32, 1)]
            builder.call(fn, args)
            return context.get_dummy_value()

        return sig, codegen

    prefetch.__doc__ = doc
    return prefetch


#: Fetch ``arr[idx]`` into L2 for reading (``prefetcht2``). Issued for all lanes before the loads
#: that need them, so that dozens of cache misses on a large table are in flight at once instead
#: of the handful the out-of-order window finds. L2 rather than L1 because the L2 tracks many
#: more outstanding misses (measured 2x faster than an L1 prefetch on a 16 MB table).
_prefetch = _prefetch_intrinsic(0, 1, "Prefetch arr[idx] into L2 for reading; never faults.")

#: Fetch ``arr[idx]`` into L1 for writing (``prefetchw``), used a few cache lines ahead of each
#: path row so that path stores never wait for their line (measured 30% off the path kernels).
_prefetch_write = _prefetch_intrinsic(1, 3, "Prefetch arr[idx] into L1 for writing; never faults.")


@njit(inline="always", cache=True)
def _slot(table, h, u):
    """Index of the slot pair a step from header ``h`` with value ``u`` reads (for prefetching)."""
    k = table[h + _ONE]
    low = (u & _MASK32) * k
    mid = (u >> _S32) * k
    return table[h] + (((mid + (low >> _S32)) >> _S32) << _ONE)


@njit(inline="always", cache=True)
def step_header(table, h, k, u):
    """One alias step from the state with header index ``h = 2x`` and degree ``k > 0``.

    Returns the header index ``2x'`` of the new state (uint64). The slot ``j = hi64(u k)`` and
    coin ``r = lo64(u k)`` come from two 32x32-bit limb products (exact, no floating point,
    identical on a GPU): with ``u = uh 2^32 + ul``, ``mid = uh k`` and ``low = ul k``,
    ``j = (mid + (low >> 32)) >> 32`` and ``r = (mid << 32) + low mod 2^64``. Two
    multiplications instead of three matter: the scalar multiplier is the busiest unit here.
    """
    low = (u & _MASK32) * k
    mid = (u >> _S32) * k
    j = (mid + (low >> _S32)) >> _S32
    r = (mid << _S32) + low
    e = table[h] + (j << _ONE)
    word = table[e + _ONE]
    return (word & _MASK32) if r < table[e] else (word >> _S32)


@njit(inline="always", cache=True)
def _finish(w, h, t, hit, states, tau, censored, paths, PATHS):
    """Record walker ``w``'s end: header index ``h`` after ``t`` steps; ``hit`` if in the target."""
    states[w] = np.int64(h >> _ONE)
    tau[w] = t
    censored[w] = not hit
    if PATHS and hit:
        paths[w, t + 1 :] = -1


@njit(inline="always", cache=True)
def _record(h, pos, vis, flat, VISITS, PATHS):
    """Bookkeeping of one occupied state, header ``h``, path entry ``flat[pos]``.

    Compiled away when neither flag is set.
    """
    if VISITS:
        vis[h >> _ONE] += 1
    if PATHS:
        flat[pos] = np.int32(h >> _ONE)


@njit(inline="always", cache=True)
def _run_chunk(lo, hi, table, k0, k1, max_steps, w0, states, tau, censored, vis, paths, prefetch,
               resume, VISITS, PATHS):
    """Simulate walkers ``lo..hi-1`` with :data:`LANES` lanes (see the module docstring).

    One sweep serves one Philox draw (two steps) of every lane, as a sequence of passes over the
    lanes: draws; first step; second step; finished walkers. Each pass is branch-free per lane
    (a lane that must not take its second step computes it and keeps its old state), so the CPU
    overlaps the lanes' dependency chains and memory accesses; a lane-by-lane loop that took
    both steps at once measured 15-25% slower. ``VISITS`` and ``PATHS`` are compile-time
    constants, so a kernel carries no bookkeeping it does not use; ``prefetch`` (runtime) adds
    a prefetch pass before each step for tables that do not fit in cache.

    A busy lane holds a walker that has taken an even number ``t < max_steps`` of steps and is
    not in the target; idle lanes keep computing on a valid state and are ignored. With
    ``resume`` the chunk continues walkers paused by an earlier call (see :func:`_refill`).
    """
    # All lane state lives in one array (one base register for the hot loops, which are short
    # of registers): lanes[W + l] = walker (IDLE when free), lanes[H + l] = header index 2x,
    # lanes[T + l] = steps taken, lanes[U + 2l], lanes[U + 2l + 1] = the lane's draw (a, b),
    # lanes[O + l] = offset of the walker's row in the flattened paths (PATHS only).
    lanes = np.zeros(6 * LANES, dtype=np.uint64)
    for lane in range(LANES):
        lanes[_W + lane] = _IDLE
    last_pair = max_steps - 1  # after its first step, a lane with t <= last_pair takes a second
    flat = paths.reshape(paths.size)
    nxt, live = _refill(lo, hi, table, max_steps, states, tau, censored, vis, paths, flat, lanes,
                        resume, VISITS, PATHS)
    while live > 0:
        # Pure arithmetic, vectorised across lanes; idle lanes compute a harmless draw.
        for lane in range(LANES):
            a, b = philox_pair(lanes[_T + lane] >> _ONE, lanes[_W + lane] + w0, k0, k1)
            lanes[_U + 2 * lane] = a
            lanes[_U + 2 * lane + 1] = b
        # First step of every lane (busy lanes always have degree > 0).
        if prefetch:
            for lane in range(LANES):
                _prefetch(table, _slot(table, lanes[_H + lane], lanes[_U + 2 * lane]))
        for lane in range(LANES):
            h = lanes[_H + lane]
            h = step_header(table, h, table[h + _ONE], lanes[_U + 2 * lane])
            lanes[_H + lane] = h
            if VISITS or PATHS:
                pos = lanes[_O + lane] + lanes[_T + lane] + _ONE
                if lanes[_W + lane] != _IDLE:
                    _record(h, pos, vis, flat, VISITS, PATHS)
                if PATHS:
                    # fetch the path's cache line a few sweeps ahead, so stores never wait for it
                    _prefetch_write(flat, pos + _PATH_AHEAD)
        # Second step, kept only where the first did not hit and the budget allows it.
        if prefetch:
            for lane in range(LANES):
                _prefetch(table, _slot(table, lanes[_H + lane], lanes[_U + 2 * lane + 1]))
        for lane in range(LANES):
            h = lanes[_H + lane]
            t = np.int64(lanes[_T + lane]) + 1  # the first step is counted here
            k = table[h + _ONE]
            go = (k != _ZERO) & (t <= last_pair)
            h2 = step_header(table, h, k, lanes[_U + 2 * lane + 1])
            lanes[_H + lane] = h2 if go else h
            lanes[_T + lane] = np.uint64(t + 1) if go else np.uint64(t)
            if VISITS or PATHS:
                if go and lanes[_W + lane] != _IDLE:
                    _record(h2, lanes[_O + lane] + np.uint64(t + 1), vis, flat, VISITS, PATHS)
        # Walkers that hit the target or used up their steps leave their lane.
        freed = 0
        for lane in range(LANES):
            h = lanes[_H + lane]
            t = np.int64(lanes[_T + lane])
            hit = table[h + _ONE] == _ZERO
            if (hit or t == max_steps) and lanes[_W + lane] != _IDLE:
                _finish(np.int64(lanes[_W + lane]), h, t, hit, states, tau, censored, paths, PATHS)
                lanes[_W + lane] = _IDLE
                freed += 1
        if freed > 0:
            nxt, live = _refill(nxt, hi, table, max_steps, states, tau, censored, vis, paths, flat,
                                lanes, resume, VISITS, PATHS)


@njit(inline="always", cache=True)
def _refill(nxt, hi, table, max_steps, states, tau, censored, vis, paths, flat, lanes, resume, VISITS,
            PATHS):
    """Give every idle lane the next walker of the chunk that needs a step.

    A fresh run (``resume`` False) starts every walker at ``states[w]`` at time 0; walkers that
    start in the target (``tau = 0``) or have ``max_steps == 0`` are finished here without
    occupying a lane. With ``resume``, ``tau`` and ``censored`` are inputs too: a walker with
    ``censored[w]`` False finished earlier and is skipped; any other continues from
    ``states[w]`` after ``tau[w]`` steps (even, so its next step opens a fresh Philox draw, as
    in an unbroken run), its start already recorded. ``max_steps`` is then the absolute step
    limit of this call. Returns the next unassigned walker and the number of busy lanes.
    """
    live = 0
    row = np.uint64(paths.shape[1])
    for lane in range(LANES):
        while lanes[_W + lane] == _IDLE and nxt < hi:
            w = nxt
            nxt += 1
            h = np.uint64(states[w]) << _ONE
            offset = np.uint64(w) * row
            t0 = np.int64(0)
            if resume:
                if not censored[w]:
                    continue
                t0 = tau[w]
                if t0 >= max_steps:
                    continue
            else:
                _record(h, offset, vis, flat, VISITS, PATHS)
                hit = table[h + _ONE] == _ZERO
                if hit or max_steps == 0:
                    _finish(w, h, 0, hit, states, tau, censored, paths, PATHS)
                    continue
            lanes[_W + lane] = np.uint64(w)
            lanes[_H + lane] = h
            lanes[_T + lane] = np.uint64(t0)
            lanes[_O + lane] = offset
        if lanes[_W + lane] != _IDLE:
            live += 1
    return nxt, live


def _chunk_bounds(c, n_chunks, n):
    """Walker range of chunk ``c``: ``[c n / C, (c+1) n / C)``."""
    return c * n // n_chunks, (c + 1) * n // n_chunks


_chunk_bounds = njit(inline="always", cache=True)(_chunk_bounds)


@njit(parallel=True, cache=True)
def hitting_kernel(table, k0, k1, max_steps, w0, states, tau, censored, n_chunks, prefetch, resume=False):
    """Hitting times and final states only (the fast path).

    Parameters
    ----------
    table : ndarray of uint64
        Alias table (:attr:`~metacot.simulation.kernels.alias.AliasTable.table`), target rows of degree 0.
    k0, k1 : np.uint64
        Philox key (:func:`~metacot.simulation.kernels.rng.seed_key`).
    max_steps : int
        Step budget per walker.
    w0 : np.uint64
        Global index of ``states[0]``'s walker (the stream is keyed by the global index, so a
        batch of walkers can be simulated on its own).
    states : ndarray of int64, shape (n_walkers,)
        In: start states. Out: final states.
    tau : ndarray of int64, shape (n_walkers,)
        Out: steps taken (the hitting time, or ``max_steps`` when censored).
    censored : ndarray of bool, shape (n_walkers,)
        Out: True where the walker did not reach a degree-0 state.
    n_chunks : int
        Number of contiguous walker chunks (normally the thread count); any value gives the
        same results.
    prefetch : bool
        Prefetch the slots of every lane before each step; worth it when the table is larger
        than the cache (see :data:`PREFETCH_BYTES`), a small loss otherwise. Results are the
        same either way.
    resume : bool
        Continue the walkers of an earlier call that stopped at its step limit: ``tau`` and
        ``censored`` are then inputs too (walkers with ``censored[w]`` False are skipped, the
        others go on from ``states[w]`` after ``tau[w]`` steps, an even number) and
        ``max_steps`` is the new absolute limit. A run cut into calls at even limits gives
        exactly the results of one call (the engine does this so that Ctrl-C is seen between
        calls).
    """
    n = states.shape[0]
    vis = np.zeros(1, dtype=np.int64)
    paths = np.zeros((1, 1), dtype=np.int32)
    for c in prange(n_chunks):
        lo, hi = _chunk_bounds(c, n_chunks, n)
        _run_chunk(lo, hi, table, k0, k1, max_steps, w0, states, tau, censored, vis, paths,
                   prefetch, resume, False, False)


@njit(parallel=True, cache=True)
def visit_kernel(table, k0, k1, max_steps, w0, states, tau, censored, vis, prefetch, resume=False):
    """As :func:`hitting_kernel`, also counting visits.

    Parameters
    ----------
    vis : ndarray of int64, shape (n_chunks, n_states)
        Out (must be zeroed): ``vis[c, x]`` = number of times :math:`0 \\le t \\le \\min(\\tau,
        \\text{max\\_steps})` at which a walker of chunk ``c`` occupied ``x``. The number of
        chunks is ``vis.shape[0]``; sum over axis 0 for the totals.
    """
    n = states.shape[0]
    n_chunks = vis.shape[0]
    paths = np.zeros((1, 1), dtype=np.int32)
    for c in prange(n_chunks):
        lo, hi = _chunk_bounds(c, n_chunks, n)
        _run_chunk(lo, hi, table, k0, k1, max_steps, w0, states, tau, censored, vis[c], paths,
                   prefetch, resume, True, False)


@njit(parallel=True, cache=True)
def path_kernel(table, k0, k1, max_steps, w0, states, tau, censored, paths, n_chunks, prefetch, resume=False):
    """As :func:`hitting_kernel`, also recording every walker's path.

    Parameters
    ----------
    paths : ndarray of int32, shape (n_walkers, max_steps + 1)
        Out: ``paths[w, t]`` = :math:`X_t` of walker ``w`` for :math:`t \\le \\min(\\tau,
        \\text{max\\_steps})`, and -1 after the hitting time.
    """
    n = states.shape[0]
    vis = np.zeros(1, dtype=np.int64)
    for c in prange(n_chunks):
        lo, hi = _chunk_bounds(c, n_chunks, n)
        _run_chunk(lo, hi, table, k0, k1, max_steps, w0, states, tau, censored, vis, paths,
                   prefetch, resume, False, True)


@njit(parallel=True, cache=True)
def path_visit_kernel(table, k0, k1, max_steps, w0, states, tau, censored, vis, paths, prefetch, resume=False):
    """Paths and visit counts together (arguments as in :func:`visit_kernel` and :func:`path_kernel`)."""
    n = states.shape[0]
    n_chunks = vis.shape[0]
    for c in prange(n_chunks):
        lo, hi = _chunk_bounds(c, n_chunks, n)
        _run_chunk(lo, hi, table, k0, k1, max_steps, w0, states, tau, censored, vis[c], paths,
                   prefetch, resume, True, True)


@njit(parallel=True, cache=True)
def sample_starts_kernel(cum, last, k0, k1, w0, states):
    r"""Sample every walker's start state by inverse CDF from its reserved draw.

    Walker ``w`` takes value ``a`` of draw :data:`~metacot.simulation.kernels.rng.START_DRAW` and starts in
    the first state ``i`` with ``a < cum[i]`` (exact ``uint64`` comparison, binary search), or in
    ``last`` (the last state of positive probability) when there is none.

    Parameters
    ----------
    cum : ndarray of uint64, shape (n_states,)
        Cumulative start thresholds :math:`\lfloor 2^{64} \sum_{j \le i} \mu_j \rfloor` (see
        :func:`metacot.simulation.engine.start_thresholds`).
    last : int
        Fallback state.
    k0, k1 : np.uint64
        Philox key.
    w0 : np.uint64
        Global index of the walker of ``states[0]``.
    states : ndarray of int64, shape (n_walkers,)
        Out: start states.
    """
    n = cum.shape[0]
    for w in prange(states.shape[0]):
        a, _ = philox_pair(_START_DRAW, np.uint64(w) + w0, k0, k1)
        # first index with a < cum[i]
        left = 0
        right = n
        while left < right:
            mid = (left + right) >> 1
            if a < cum[mid]:
                right = mid
            else:
                left = mid + 1
        states[w] = left if left < n else last
