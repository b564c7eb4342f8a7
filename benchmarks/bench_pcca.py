"""Metastable sets of a non-reversible chain: metacot's G-PCCA vs pyGPCCA (and deeptime's PCCA+).

The chain has 5 clusters of 400 states, each a doubly stochastic, non-reversible mixture of 20
random permutations and the identity (about 20 non-zeros per row), joined along a line by sparse
edges of probability 1e-3 (``metacot.markov.families.random_clusters(5, 400, 1e-3, kind="regular",
meta="line")``). Both libraries compute G-PCCA with k = 5: pyGPCCA (``GPCCA(P).optimize(5)``,
default dense sorted Schur decomposition, ``z="LM"``) on the dense matrix, metacot
(``metastable_sets(chain, 5)``) on the sparse one. Each is timed as the best of 3 runs after a
warm-up, in the same process; ``speedup`` is pyGPCCA's time over the library's, and ``same_sets``
says whether the two libraries' crisp sets are equal up to relabelling. deeptime's PCCA+ (``deeptime.markov.pcca``) requires a reversible
chain; it is tried and its refusal recorded.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from metacot.markov.chain import Chain
from metacot.markov.pcca import metastable_sets

N_CLUSTERS = 5
CLUSTER_SIZE = 400
EPS = 1e-3
DEGREE = 20  # random permutations per cluster: about DEGREE + 1 non-zeros per row
REPEATS = 3


def _own_random_clusters(K: int, M: int, eps: float, degree: int, seed: int = 0) -> Chain:
    """Stand-in for ``families.random_clusters(kind="regular", meta="line")`` if it is missing.

    Cluster c: identity (weight 1/5) plus ``degree`` random permutations (Dirichlet weights), a
    doubly stochastic, non-reversible kernel; its last state leaks ``eps`` to state 0 of cluster
    c + 1.
    """
    rng = np.random.default_rng(seed)
    blocks = []
    for _ in range(K):
        perms = [np.arange(M)] + [rng.permutation(M) for _ in range(degree)]
        w = np.concatenate([[0.2], 0.8 * rng.dirichlet(np.ones(degree))])
        rows = np.tile(np.arange(M), len(perms))
        blocks.append(sp.coo_array((np.repeat(w, M), (rows, np.concatenate(perms))), shape=(M, M)))
    P = sp.csr_array(sp.block_diag(blocks, format="csr"))
    P.sum_duplicates()
    sources = np.arange(1, K) * M - 1
    for s in sources:
        P.data[P.indptr[s] : P.indptr[s + 1]] *= 1.0 - eps
    leak = sp.coo_array((np.full(K - 1, eps), (sources, sources + 1)), shape=P.shape)
    return Chain(sp.csr_array(P + leak), clusters=np.repeat(np.arange(K), M))


def build_chain(K: int, M: int, eps: float, seed: int = 0) -> tuple[Chain, str]:
    """The benchmark chain and the name of its constructor."""
    try:
        from metacot.markov.families import random_clusters
    except ImportError:
        return _own_random_clusters(K, M, eps, DEGREE, seed), "own builder"
    try:
        chain = random_clusters(K, M, eps, kind="regular", meta="line", seed=seed, degree=DEGREE)
    except TypeError:  # an older signature without ``degree``
        chain = random_clusters(K, M, eps, kind="regular", meta="line", seed=seed)
    return chain, "families.random_clusters"


def _best_of(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    out = fn()  # warm-up: imports, caches, page faults
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two labellings define the same partition (equal up to relabelling)."""
    a, b = np.asarray(a), np.asarray(b)
    pairs = np.unique(np.stack([a, b]), axis=1)
    return pairs.shape[1] == np.unique(a).size == np.unique(b).size


def run(quick: bool = False) -> list[dict]:
    """Time metacot and pyGPCCA on one chain; record deeptime's refusal."""
    M = 100 if quick else CLUSTER_SIZE
    repeats = 1 if quick else REPEATS
    k = N_CLUSTERS
    chain, source = build_chain(N_CLUSTERS, M, EPS)
    n = chain.n_states
    name = f"G-PCCA, {k} non-reversible clusters of {M} ({source}, eps={EPS:g})"
    planted = chain.clusters

    t_ours, ours = _best_of(lambda: metastable_sets(chain, k), repeats)
    rows = [
        {
            "benchmark": name,
            "library": "metacot",
            "n_states": n,
            "k": k,
            "seconds": t_ours,
            "speedup": None,
            "same_sets": None,  # filled in below from pyGPCCA
            "note": f"crispness {ours.crispness / k:.6f}; planted clusters: "
            f"{planted is not None and same_partition(ours.assignment, planted)}",
        }
    ]

    Pd = chain.P.toarray()
    try:
        from pygpcca import GPCCA
    except ImportError:
        rows[0]["note"] += "; pyGPCCA not installed"
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pyGPCCA warns about its Schur reordering accuracy
            t_ref, ref = _best_of(lambda: GPCCA(Pd, z="LM", method="brandts").optimize(k), repeats)
        same = same_partition(ours.assignment, ref.macrostate_assignment)
        rows[0]["speedup"] = t_ref / t_ours
        rows[0]["same_sets"] = same
        rows.append(
            {
                "benchmark": name,
                "library": "pyGPCCA",
                "n_states": n,
                "k": k,
                "seconds": t_ref,
                "speedup": 1.0,
                "same_sets": same,
                "note": f"crispness {ref.optimal_crispness:.6f}; planted clusters: "
                f"{planted is not None and same_partition(ref.macrostate_assignment, planted)}",
            }
        )

    try:
        from deeptime.markov import pcca
    except ImportError:
        rows.append(
            {
                "benchmark": name,
                "library": "deeptime",
                "n_states": n,
                "k": k,
                "seconds": None,
                "speedup": None,
                "same_sets": False,
                "note": "deeptime not installed",
            }
        )
    else:
        t0 = time.perf_counter()
        try:
            model = pcca(Pd, k)
        except Exception as err:  # deeptime refuses non-reversible chains with a ValueError
            rows.append(
                {
                    "benchmark": name,
                    "library": "deeptime",
                    "n_states": n,
                    "k": k,
                    "seconds": None,
                    "speedup": None,
                    "same_sets": False,
                    "note": f"refused: {type(err).__name__}: {err}",
                }
            )
        else:
            seconds = time.perf_counter() - t0
            assignment = np.argmax(model.memberships, axis=1)
            rows.append(
                {
                    "benchmark": name,
                    "library": "deeptime",
                    "n_states": n,
                    "k": k,
                    "seconds": seconds,
                    "speedup": None,
                    "same_sets": same_partition(ours.assignment, assignment),
                    "note": "accepted a non-reversible chain (single run)",
                }
            )

    for row in rows:
        if row["seconds"] is not None:
            row["seconds"] = round(row["seconds"], 4)
        if row["speedup"] is not None:
            row["speedup"] = round(row["speedup"], 1)
    return rows


def _print_table(rows: list[dict]) -> None:
    cols = ["library", "n_states", "k", "seconds", "speedup", "same_sets", "note"]
    table = [[("" if r[c] is None else str(r[c])) for c in cols] for r in rows]
    widths = [max(len(c), *(len(t[i]) for t in table)) for i, c in enumerate(cols)]
    print(rows[0]["benchmark"])
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths)))
    for t in table:
        print("  ".join(v.ljust(w) for v, w in zip(t, widths)))


if __name__ == "__main__":
    import sys

    _print_table(run(quick="--quick" in sys.argv[1:]))
