"""1,000 posterior hitting-time vectors of a 4-state lifted chain: stacked solves vs the obvious loops.

Goal (issue 17): under 1 s for 1,000 draws, sampling included. Compared with what a user would
otherwise write: a loop of ``numpy.random.Generator.dirichlet`` per row and ``scipy.linalg.solve``
per draw, and a loop building a metacot ``Chain`` per draw for ``exact.hitting_times``.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd
import scipy.linalg

N_DRAWS = 1000
COUNTS = np.array([[40, 12, 6, 6, 4], [10, 30, 8, 6, 3], [5, 6, 50, 4, 5], [7, 6, 5, 35, 6]], dtype=float)


def ours(n: int) -> np.ndarray:
    from metacot.graphs.posterior import LiftedPosterior, batch_hitting_times

    post = LiftedPosterior(COUNTS + 1.0, np.ones(4) * 10)
    Q, _, _ = post.sample(n, seed=0)
    return batch_hitting_times(Q)


def scipy_loop(n: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    out = np.empty((n, 4))
    for s in range(n):
        R = np.stack([rng.dirichlet(COUNTS[i] + 1.0) for i in range(4)])
        out[s] = scipy.linalg.solve(np.eye(4) - R[:, :4], np.ones(4))
    return out


def metacot_chain_loop(n: int) -> np.ndarray:
    from metacot.markov import exact
    from metacot.structure.lifted import lift

    rng = np.random.default_rng(0)
    out = np.empty((n, 4))
    for s in range(n):
        R = np.stack([rng.dirichlet(COUNTS[i] + 1.0) for i in range(4)])
        out[s] = exact.hitting_times(lift(R[:, :4], R[:, 4], np.full(4, 0.25)))[:4]
    return out


def best_of(f, n: int, repeat: int) -> float:
    f(10)  # imports and first-call costs
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f(n)
        times.append(time.perf_counter() - t0)
    return min(times)


def run(quick: bool = False) -> list[dict]:
    repeat = 2 if quick else 5
    rows = []
    for name, f in (("metacot (stacked)", ours), ("numpy/scipy loop", scipy_loop),
                    ("metacot Chain loop", metacot_chain_loop)):
        sec = best_of(f, N_DRAWS, 1 if "Chain" in name else repeat)
        rows.append({"library": name, "n_draws": N_DRAWS, "seconds": round(sec, 4)})
    base = rows[0]["seconds"]
    for r in rows:
        r["slower_than_metacot"] = round(r["seconds"] / base, 1)
    return rows


if __name__ == "__main__":
    print(pd.DataFrame(run(quick="--quick" in sys.argv)).to_string(index=False))
