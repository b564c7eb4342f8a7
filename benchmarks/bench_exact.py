"""Exact hitting times of large sparse chains: metacot vs deeptime's ``mfpt`` vs a plain ``spsolve``.

Each measurement runs in a fresh subprocess so that its peak memory can be read cleanly: the figure reported is the peak resident set during the solve (``VmHWM``, reset just before
it) minus the resident set just before it, so the chain itself is excluded. metacot's solve is
timed after one solve of a 4-state chain, which loads its compiled (Numba, cached on disk) kernels:
a once-per-process cost of about a second, not part of the solve.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

SIZES = (10**4, 10**5, 10**6)
CLUSTER = 1000  # states per lazy-cycle cluster; K = n / CLUSTER clusters

_CHILD = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np, scipy.sparse as sp, scipy.sparse.linalg as spla
    from metacot import exact
    from metacot.markov.families import random_clusters

    library, n, cluster = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    chain = random_clusters(n // cluster, cluster, 1e-3, kind="lazy_cycle")
    target = int(chain.target[0])
    if library == "deeptime":
        from deeptime.markov.tools.analysis import mfpt
        T = sp.csr_matrix(chain.P)
        solve = lambda: mfpt(T, target)
    elif library == "scipy spsolve":
        def solve():
            keep = np.ones(n, bool); keep[target] = False
            A = sp.eye_array(n, format="csr") - sp.diags_array(keep.astype(float)) @ chain.P
            return spla.spsolve(sp.csc_array(A), keep.astype(float))
    else:
        from metacot.markov.families import line_of_cliques
        exact.hitting_times(line_of_cliques(2, 2, 0.5))  # load the compiled kernels
        solve = lambda: exact.hitting_times(chain)
    def status(key):
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key))
    # Reset the high-water mark so that the chain's construction does not count (Linux >= 4.0).
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = status("VmRSS:")
    t0 = time.perf_counter()
    h = solve()
    seconds = time.perf_counter() - t0
    peak = status("VmHWM:")
    print(json.dumps({"seconds": seconds, "extra_bytes": max(peak - before, 0),
                      "h_start": float(np.asarray(h)[int(chain.start)])}))
    """
)


def _measure(library: str, n: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, library, str(n), str(CLUSTER)],
        capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> list[dict]:
    """Time hitting times at each size for metacot, deeptime and a plain SciPy LU solve."""
    rows = []
    for n in SIZES[:1] if quick else SIZES:
        results = {lib: _measure(lib, n) for lib in ("metacot", "deeptime", "scipy spsolve")}
        base = results["metacot"]
        for lib, r in results.items():
            rows.append({
                "benchmark": "exact hitting times (lazy-cycle clusters of 1000, eps=1e-3)",
                "library": lib,
                "n_states": n,
                "seconds": round(r["seconds"], 3),
                "extra_MiB": round(r["extra_bytes"] / 2**20, 1),
                "speedup_of_metacot": round(r["seconds"] / base["seconds"], 1),
                "rel_diff_vs_metacot": abs(r["h_start"] - base["h_start"]) / base["h_start"],
            })
    return rows


if __name__ == "__main__":
    import pandas as pd

    print(pd.DataFrame(run(quick="--quick" in sys.argv)).to_string(index=False))
