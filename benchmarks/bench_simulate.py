"""Benchmark of :func:`metacot.simulate` against QuantEcon and deeptime.

Two measurements:

* **Full paths** on dense random stochastic matrices with n = 10, 100, 1000 states: metacot
  (numba, all threads, ``record_paths=True``) versus QuantEcon's
  ``MarkovChain(P).simulate_indices(ts_length, num_reps=...)`` with the same number of walkers
  and steps (both warm), and deeptime's ``MarkovStateModel(P).simulate(n_steps)``, which draws
  one trajectory per call (a few walkers, reported per walker-step).
* **Hitting times** on a line of 4 complete clusters of 16 states (eps = 0.01, mean hitting
  time 4819 steps), ``count_visits=False``, with 1 and 2 numba threads: walker-steps per second.

Every timing is the best of 3 after a warm-up call; ``ns_per_walker_step`` is wall-clock,
``cpu_ns_per_walker_step`` the process CPU time summed over threads (the cost per core). Run ``python -m benchmarks.bench_simulate``
(add ``--quick`` for a smoke run) to print the table; :func:`run` returns the rows.
"""

from __future__ import annotations

import sys
import time

import numpy as np

import metacot as mc

#: (walkers, steps) for the full-path comparison, by quick and n: large enough that metacot's
#: run takes tens of milliseconds (thread wake-up and scheduling noise stay small beside it)
PATH_SIZES = {
    False: {10: (4_000, 10_000), 100: (4_000, 10_000), 1000: (2_000, 5_000)},
    True: {10: (1_000, 2_000), 100: (1_000, 2_000), 1000: (500, 1_000)},
}
#: walkers for the hitting-time throughput
HIT_WALKERS = {False: 100_000, True: 5_000}
#: deeptime trajectories: (walkers, steps)
DEEPTIME_SIZES = {False: (4, 200_000), True: (2, 20_000)}


def _best_of(fn, reps: int = 3) -> tuple[float, float]:
    """Best wall-clock and best process CPU time (seconds) of ``reps`` calls after a warm-up.

    CPU time over all threads shows the cost per core, which stays meaningful when other
    processes compete for the cores (wall-clock speedups from threads then vanish).
    """
    fn()  # warm-up (compilation, caches, page faults of the allocator)
    wall = cpu = float("inf")
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return wall, cpu


def dense_chain(n: int, seed: int = 0) -> np.ndarray:
    """A dense random row-stochastic matrix."""
    P = np.random.default_rng(seed).random((n, n))
    return P / P.sum(axis=1, keepdims=True)


def _row(benchmark, n, library, walkers, steps, times, **extra):
    seconds, cpu = times
    return {
        "benchmark": benchmark,
        "n_states": n,
        "library": library,
        "walkers": walkers,
        "steps": steps,
        "seconds": seconds,
        "ns_per_walker_step": seconds / (walkers * steps) * 1e9,
        "cpu_ns_per_walker_step": cpu / (walkers * steps) * 1e9,
        **extra,
    }


def bench_paths(n: int, quick: bool = False) -> list[dict]:
    """Full-path simulation at ``n`` states: metacot vs QuantEcon vs deeptime."""
    import numba

    P = dense_chain(n, seed=n)
    walkers, steps = PATH_SIZES[quick][n]
    chain = mc.Chain(P, start=0)
    rows = []

    t = _best_of(lambda: mc.simulate(chain, walkers, steps, seed=1, backend="numba",
                                     record_paths=True, count_visits=False))
    rows.append(_row("paths", n, "metacot", walkers, steps, t, threads=numba.get_num_threads()))

    try:
        import quantecon as qe

        mcq = qe.MarkovChain(P)
        t = _best_of(lambda: mcq.simulate_indices(steps + 1, init=0, num_reps=walkers, random_state=1))
        rows.append(_row("paths", n, "quantecon", walkers, steps, t))
    except ImportError:  # pragma: no cover - optional comparison
        pass

    try:
        from deeptime.markov.msm import MarkovStateModel

        msm = MarkovStateModel(P)
        dw, ds = DEEPTIME_SIZES[quick]

        def deeptime_run():
            for w in range(dw):
                msm.simulate(ds, start=0, seed=w + 1)

        t = _best_of(deeptime_run)
        rows.append(_row("paths", n, "deeptime", dw, ds, t))
    except ImportError:  # pragma: no cover - optional comparison
        pass

    ours = rows[0]["ns_per_walker_step"]
    for r in rows:
        r["speedup"] = r["ns_per_walker_step"] / ours  # how many times slower than metacot
    return rows


def bench_hitting(quick: bool = False) -> list[dict]:
    """Hitting-time throughput on the line of cliques with 1 and 2 threads."""
    import numba

    chain = mc.families.line_of_cliques(4, 16, 0.01)
    walkers = HIT_WALKERS[quick]
    rows = []
    before = numba.get_num_threads()
    try:
        for threads in (1, 2):
            if threads > numba.config.NUMBA_NUM_THREADS:
                continue
            numba.set_num_threads(threads)
            t, c = _best_of(lambda: mc.simulate(chain, walkers, 10**8, seed=7, count_visits=False))
            total = int(mc.simulate(chain, walkers, 10**8, seed=7, count_visits=False).hitting_times.sum())
            rows.append({
                "benchmark": "hitting",
                "n_states": chain.n_states,
                "library": "metacot",
                "walkers": walkers,
                "steps": total / walkers,
                "seconds": t,
                "ns_per_walker_step": t / total * 1e9,
                "cpu_ns_per_walker_step": c / total * 1e9,
                "walker_steps_per_s": total / t,
                "threads": threads,
            })
    finally:
        numba.set_num_threads(before)
    return rows


def run(quick: bool = False) -> list[dict]:
    """Run every measurement; one dict per row (see the module docstring)."""
    rows = []
    for n in (10, 100, 1000):
        rows += bench_paths(n, quick)
    rows += bench_hitting(quick)
    return rows


def _print_table(rows: list[dict]) -> None:
    head = (f"{'benchmark':<9} {'n':>5} {'library':<10} {'walkers':>8} {'steps':>9} {'seconds':>9} "
            f"{'ns/step':>9} {'cpu ns/step':>11}  extra")
    print(head)
    print("-" * len(head))
    for r in rows:
        extra = []
        if "speedup" in r:
            extra.append(f"{r['speedup']:.1f}x metacot's time")
        if "walker_steps_per_s" in r:
            extra.append(f"{r['walker_steps_per_s']:.3g} walker-steps/s, {r['threads']} thread(s)")
        print(f"{r['benchmark']:<9} {r['n_states']:>5} {r['library']:<10} {r['walkers']:>8} "
              f"{r['steps']:>9.0f} {r['seconds']:>9.4f} {r['ns_per_walker_step']:>9.3f} "
              f"{r['cpu_ns_per_walker_step']:>11.3f}  {'; '.join(extra)}")


if __name__ == "__main__":
    _print_table(run(quick="--quick" in sys.argv))
