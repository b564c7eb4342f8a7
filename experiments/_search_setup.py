"""Plumbing shared by the search experiments S1, S2, S3 and R1: chain families, one search run, cover times.

Experiments do not import one another; what several of them need lives here (``_``-prefixed:
set-up, not statistics of their own).
"""

from __future__ import annotations

import time

import numpy as np

from metacot import Chain
from metacot.markov.families import line_of_cliques, random_clusters
from metacot.theory import precision_recall, search_parameters, sparse_edge_search, true_sparse_edges

M = 16
KS = (4, 8, 16)
FAMILIES = ("A", "B")
#: The chain S3 guides with a PRM and R1 fine-tunes on: K = 8, ε = 1e-4, seed 0 (M above).
PRM_K, PRM_EPS, PRM_SEED = 8, 1e-4, 0


def make_chain(family: str, K: int, eps: float, seed: int = 0, m: int = M) -> Chain:
    """Family A (line of cliques; ``seed`` unused) or family B (ER clusters on a line, seed ``seed``)."""
    if family == "A":
        return line_of_cliques(K, m, eps)
    if family == "B":
        return random_clusters(K, m, eps, kind="er", n_out=1, meta="line", seed=seed)
    raise ValueError(f"unknown family {family!r}")


def recovery_run(family: str, K: int, eps: float, seed: int, **overrides) -> dict:
    """One search on one chain: precision, recall, false positives and cost, as a table row."""
    chain = make_chain(family, K, eps, seed)
    params = search_parameters(K, M, eps)
    params.update(overrides)
    t = time.perf_counter()
    res = sparse_edge_search(chain, **params, seed=seed)
    true = true_sparse_edges(chain)
    precision, recall = precision_recall(res.edges, true)
    n_true_found = round(precision * len(res.edges))
    return {
        "family": family, "K": K, "eps": eps, "seed": seed, "T0": params["T0"], "N": params["N"],
        "R": params["R"], "T_max": params["T_max"], "precision": precision, "recall": recall,
        "n_found": len(res.edges), "n_false": len(res.edges) - n_true_found, "n_true": len(true),
        "steps": res.steps, "exact_recovery": bool(precision == 1.0 and recall >= 0.99),
        "seconds": time.perf_counter() - t,
    }


def cover_time(family: str, K: int, seeds, walkers: int = 200, rng_seed: int = 7) -> float:
    r"""Mean cover time of the clusters from their entry state (Monte Carlo, ``walkers`` walks per cluster).

    Each cluster's rows are restricted to the cluster and renormalised (the :math:`\varepsilon \to 0`
    kernel :math:`p^0`); the walks are vectorised over walkers.
    """
    rng = np.random.default_rng(rng_seed)
    times = []
    for s in seeds:
        chain = make_chain(family, K, 1e-4, s)
        P = chain.P.toarray()
        for k in range(K):
            idx = np.flatnonzero(chain.clusters == k)
            sub = P[np.ix_(idx, idx)]
            cum = np.cumsum(sub / sub.sum(axis=1, keepdims=True), axis=1)
            cum[:, -1] = 1.0
            x = np.zeros(walkers, dtype=np.int64)
            seen = np.zeros((walkers, idx.size), dtype=bool)
            seen[:, 0] = True
            t_cov = np.zeros(walkers)
            t = 0
            while not seen.all():
                t += 1
                x = (cum[x] > rng.random(walkers)[:, None]).argmax(axis=1)
                seen[np.arange(walkers), x] = True
                t_cov[(t_cov == 0) & seen.all(axis=1)] = t
            times.append(t_cov.mean())
    return float(np.mean(times))


def searched_edges(family: str) -> tuple:
    """The chain of ``family`` (K=8, M=16, ε=1e-4, seed 0) and the edges S1's search finds on it.

    Returns ``(chain, edges, precision, recall, steps)``.
    """
    chain = make_chain(family, PRM_K, PRM_EPS, PRM_SEED, m=M)
    res = sparse_edge_search(chain, **search_parameters(PRM_K, M, PRM_EPS), seed=PRM_SEED)
    precision, recall = precision_recall(res.edges, true_sparse_edges(chain))
    return chain, res.edges, precision, recall, res.steps
