r"""Running a checked request: results allocated, walkers run on their backend in rounds, results assembled.

The step budget is cut into *rounds* of at most about :data:`ROUND_WORK` lane-steps: after each
round the kernels return to Python, so Ctrl-C (``KeyboardInterrupt``) is seen within about a
second even when ``max_steps`` is huge, and the next round continues the walkers still running
(the kernels' ``resume`` mode). Round limits are even, so a resumed walker opens a fresh Philox
draw exactly where an unbroken walk would: results never depend on the rounds. When no walker
is left running the remaining rounds are skipped.

Walkers are stopped in the target and in the states from which the target cannot be reached
(:attr:`Request.lost`): both kinds of row are emptied in the alias table, so the kernels need
no second mark, and :func:`assemble` tells them apart afterwards (:attr:`Simulation.never_hit`).
"""

from __future__ import annotations

import numpy as np

from metacot._checks import readonly
from metacot.simulation.kernels.rng import seed_key
from metacot.simulation.request import Request, start_thresholds
from metacot.simulation.result import Simulation

__all__ = ["MIN_ROUND_STEPS", "PROGRESS_BATCHES", "ROUND_WORK", "assemble", "batches", "execute", "round_limits", "run_cuda"]

#: Lane-steps per round of the CPU kernels (about a tenth of a second per core). A chunk of the
#: numba kernels advances all its :data:`~metacot.simulation.kernels.cpu.LANES` lanes at every
#: step, busy or not, so a round of ``s`` steps costs ``s * max(n_walkers, LANES * n_chunks)``.
ROUND_WORK = 1 << 26

#: Fewest steps per walker in one round, whatever the walker count.
MIN_ROUND_STEPS = 1 << 10

#: With ``progress=True`` the walkers run in about this many batches (one progress tick each).
PROGRESS_BATCHES = 50


def round_limits(max_steps: int, width: int):
    """Step limits of the rounds: even, about :data:`ROUND_WORK` / ``width`` steps apart, the last ``max_steps``.

    ``width`` is the number of walkers, or of lanes when that is larger (see :data:`ROUND_WORK`).
    """
    every = max(MIN_ROUND_STEPS, ROUND_WORK // max(1, width))
    every += every & 1
    limit = min(max_steps, every)
    yield limit
    while limit < max_steps:
        limit = min(max_steps, limit + every)
        yield limit


def execute(req: Request, progress: bool) -> Simulation:
    """Allocate the results and run the request's backend (in batches when ``progress``)."""
    n = req.chain.n_states
    n_walkers, max_steps, name = req.n_walkers, req.max_steps, req.backend
    tab = req.table()
    key = seed_key(req.seed)

    states = np.empty(n_walkers, dtype=np.int64)
    tau = np.empty(n_walkers, dtype=np.int64)
    cens = np.empty(n_walkers, dtype=bool)
    paths = np.empty((n_walkers, max_steps + 1), dtype=np.int32) if req.record_paths else None
    vis = np.zeros((req.n_chunks, n), dtype=np.int64) if req.count_visits else None
    cum = last = None
    if req.mu is not None:
        cum, last = start_thresholds(req.mu)

    if name == "cuda":
        from metacot.simulation.kernels import gpu

        for lo, hi in batches(n_walkers, progress):
            job = gpu.Job(tab, n, hi - lo, lo, max_steps, key, req.start_state, cum, last or 0)
            out = gpu.run_jobs([job], count_visits=req.count_visits, record_paths=req.record_paths)[0]
            states[lo:hi], tau[lo:hi], cens[lo:hi] = out.states, out.tau, out.censored
            if vis is not None:
                vis[0] += out.visits
            if paths is not None:
                paths[lo:hi] = out.paths
    else:
        for lo, hi in batches(n_walkers, progress):
            st = states[lo:hi]
            if req.mu is None:
                st.fill(req.start_state)
            else:
                _sample_starts(name, cum, last, key, lo, st)
            if name == "numba":
                _run_numba_rounds(tab, key, max_steps, lo, st, tau[lo:hi], cens[lo:hi], vis,
                                  None if paths is None else paths[lo:hi], min(req.n_chunks, hi - lo))
            else:
                _run_numpy(tab, key, max_steps, lo, st, tau[lo:hi], cens[lo:hi], vis,
                           None if paths is None else paths[lo:hi])

    return assemble(req, states, tau, cens, paths, None if vis is None else vis.sum(axis=0))


def assemble(req: Request, states, tau, cens, paths, visits) -> Simulation:
    """The :class:`Simulation` of a request from the kernels' output arrays (modified in place).

    A walker stopped in a lost state looks to the kernels like a hit; here it becomes a
    never-hitting walker: censored, with ``min(tau, max_steps) = max_steps``.
    """
    has_target = req.target is not None
    never = None
    if has_target:
        never = np.zeros(req.n_walkers, dtype=bool)
        if req.lost is not None:
            lost = np.zeros(req.chain.n_states, dtype=bool)
            lost[req.lost] = True
            never = lost[states]
            cens[never] = True
            tau[never] = req.max_steps
    return Simulation(
        hitting_times=readonly(tau) if has_target else None,
        censored=readonly(cens) if has_target else None,
        final_states=readonly(states),
        paths=readonly(paths),
        visits=readonly(visits),
        seed=req.seed,
        backend=req.backend,
        n_walkers=req.n_walkers,
        max_steps=req.max_steps,
        never_hit=readonly(never),
    )


def run_cuda(reqs: list[Request], count_visits: bool, record_paths: bool) -> list[Simulation]:
    """Every request in one batched GPU launch (:func:`metacot.simulation.kernels.gpu.run_jobs`)."""
    from metacot.simulation.kernels import gpu

    jobs = []
    for r in reqs:
        cum, last = start_thresholds(r.mu) if r.mu is not None else (None, 0)
        jobs.append(gpu.Job(r.table(), r.chain.n_states, r.n_walkers, 0, r.max_steps, seed_key(r.seed),
                            r.start_state, cum, last))
    outs = gpu.run_jobs(jobs, count_visits=count_visits, record_paths=record_paths)
    return [assemble(r, o.states, o.tau, o.censored, o.paths, o.visits) for r, o in zip(reqs, outs)]


# --------------------------------------------------------------------------- CPU backends
def _run_numba_rounds(table, key, max_steps, w0, states, tau, cens, vis, paths, n_chunks):
    """The numba kernel over the rounds of :func:`round_limits`, stopping early when every walker has stopped."""
    from metacot.simulation.kernels import cpu

    k0, k1 = key
    w0 = np.uint64(w0)
    pf = table.nbytes > cpu.PREFETCH_BYTES
    resume = False
    for limit in round_limits(max_steps, max(states.size, cpu.LANES * n_chunks)):
        if resume and not cens.any():
            break
        if paths is not None and vis is not None:
            cpu.path_visit_kernel(table, k0, k1, limit, w0, states, tau, cens, vis, paths, pf, resume)
        elif paths is not None:
            cpu.path_kernel(table, k0, k1, limit, w0, states, tau, cens, paths, n_chunks, pf, resume)
        elif vis is not None:
            cpu.visit_kernel(table, k0, k1, limit, w0, states, tau, cens, vis, pf, resume)
        else:
            cpu.hitting_kernel(table, k0, k1, limit, w0, states, tau, cens, n_chunks, pf, resume)
        resume = True


def _run_numpy(table, key, max_steps, w0, states, tau, cens, vis, paths):
    """The numpy reference (a Python loop over steps: Ctrl-C is seen at every step)."""
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


def batches(n_walkers: int, progress: bool):
    """Walker ranges to simulate: one range, or about 50 with a tqdm bar when ``progress``."""
    if not progress:
        yield 0, n_walkers
        return
    from tqdm.auto import tqdm

    size = max(1, -(-n_walkers // PROGRESS_BATCHES))
    with tqdm(total=n_walkers, unit="walker", desc="simulate") as bar:
        for lo in range(0, n_walkers, size):
            hi = min(n_walkers, lo + size)
            yield lo, hi
            bar.update(hi - lo)
