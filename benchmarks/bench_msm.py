"""Markov state models of many short trajectories: metacot.msm vs deeptime.

Data: 231 paths (the number of shipped annotated traces) of ``random_clusters(5, 20, 0.05,
kind="complete", meta="line_back", back_rate=1)`` (100 states, irreducible, non-reversible), with
lengths drawn from 20..900 steps (seed 0), about the shape of the M13 microstate data. Both
libraries, in the same process, each timed as the best of ``REPEATS`` runs after a warm-up:

* ``counts``: sliding-window count matrix at lag 4 (deeptime ``TransitionCountEstimator``);
* ``mle``: non-reversible MLE on the largest strongly connected set and its 5 slowest implied
  timescales (deeptime ``submodel_largest`` + ``MaximumLikelihoodMSM(reversible=False)``);
* ``its_bootstrap``: implied timescales at 7 lags with 100 trace-bootstrap replicates each.
  deeptime has no trace bootstrap, so its row is what a user writes: resample the trajectories,
  refit counts and MLE per replicate (same replicate weights for both);
* ``bayes``: 100 posterior samples of the non-reversible MSM at lag 4 and their timescales
  (deeptime ``BayesianMSM(reversible=False)`` against metacot's Dirichlet rows on the observed
  support; both use the raw counts here, metacot's ``scale=1``).

``max_abs_diff`` compares the two libraries' outputs (count matrices, transition matrices, the
bootstrap mean timescales, posterior mean timescales as a relative difference). Both run with
one BLAS thread (threadpoolctl), which is what metacot.msm does internally.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable

import numpy as np

from metacot.graphs.comparison import bootstrap_weights
from metacot.markov.families import random_clusters
from metacot.msm.counts import count_matrix, dirichlet_samples, largest_connected_set, mle_transition_matrix
from metacot.msm.nulls import simulate_paths
from metacot.msm.timescales import (
    estimate_msm,
    implied_timescales,
    one_blas_thread,
    sorted_eigenvalues,
    timescale_scan,
)

REPEATS = 3
LAG = 4
LAGS = (1, 2, 3, 4, 6, 8, 12)
K = 5


def data(n_paths: int = 231, seed: int = 0) -> list[np.ndarray]:
    chain = random_clusters(5, 20, 0.05, kind="complete", meta="line_back", back_rate=1.0, seed=seed)
    rng = np.random.default_rng(seed)
    lengths = rng.integers(20, 901, size=n_paths)
    return simulate_paths(chain.P.toarray(), np.full(100, 0.01), lengths, rng)


def _best_of(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    out = fn()  # warm-up
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def _deeptime_mle(dtrajs, lag):
    from deeptime.markov import TransitionCountEstimator
    from deeptime.markov.msm import MaximumLikelihoodMSM

    counts = TransitionCountEstimator(lag, "sliding").fit(dtrajs).fetch_model().submodel_largest(directed=True)
    return MaximumLikelihoodMSM(reversible=False).fit(counts).fetch_model()


def run(quick: bool = False) -> list[dict]:
    """Time metacot.msm and deeptime on the same trajectories and compare their estimates."""
    try:
        import deeptime
        from deeptime.markov import TransitionCountEstimator
        from deeptime.markov.msm import BayesianMSM
    except ImportError:
        return [{"benchmark": "msm", "library": "deeptime", "note": "deeptime is not installed"}]
    dtrajs = data(60 if quick else 231)
    n = 100
    repeats = 1 if quick else REPEATS
    n_boot = 20 if quick else 100
    rows = []
    # deeptime warns on every complex eigenvalue of a non-reversible chain; that is expected here
    warnings.filterwarnings("ignore", message="Using eigenvalues with non-zero imaginary part")

    def row(bench, t_ours, t_dt, diff, note=""):
        rows.append({"benchmark": bench, "n_paths": len(dtrajs), "steps": int(sum(d.size for d in dtrajs)),
                     "metacot_s": round(t_ours, 5), "deeptime_s": round(t_dt, 5),
                     "speedup": round(t_dt / t_ours, 2), "max_abs_diff": float(diff),
                     "deeptime_version": deeptime.__version__, "note": note})

    with one_blas_thread():
        t1, C1 = _best_of(lambda: count_matrix(dtrajs, n, LAG), repeats)
        t2, C2 = _best_of(lambda: TransitionCountEstimator(LAG, "sliding").fit(dtrajs).fetch_model().count_matrix, repeats)
        C2 = C2.toarray() if hasattr(C2, "toarray") else np.asarray(C2)
        row("counts", t1, t2, np.abs(C1 - C2).max(), f"lag {LAG}")

        t1, ours = _best_of(lambda: estimate_msm(dtrajs, n, LAG), repeats)
        t2, theirs = _best_of(lambda: _deeptime_mle(dtrajs, LAG), repeats)
        same_set = np.array_equal(ours.active, theirs.count_model.state_symbols)
        diff = np.abs(ours.P - theirs.transition_matrix).max() if same_set else np.nan
        diff_t = np.abs(ours.timescales(K) - theirs.timescales(K)).max()
        row("mle", t1, t2, diff, f"same active set: {same_set}; timescales differ by {diff_t:.2e}")

        W = bootstrap_weights(len(dtrajs), n_boot, 0)

        def theirs_boot():
            out = np.full((n_boot, len(LAGS), K), np.nan)
            for b, w in enumerate(W):
                sample = [d for d, c in zip(dtrajs, w.astype(int), strict=True) for _ in range(c)]
                for j, lag in enumerate(LAGS):
                    out[b, j] = _deeptime_mle(sample, lag).timescales(K)
            return out

        t1, scan = _best_of(lambda: timescale_scan(dtrajs, n, LAGS, K, n_bayes=0, weights=W), repeats)
        t2, tb = _best_of(theirs_boot, 1)
        diff = np.nanmax(np.abs(np.nanmean(scan.bootstrap, axis=0) - np.nanmean(tb, axis=0)))
        row("its_bootstrap", t1, t2, diff, f"{n_boot} replicates x {len(LAGS)} lags, same trace weights")

        def ours_bayes():
            C = count_matrix(dtrajs, n, LAG)
            act = largest_connected_set(C)
            S = dirichlet_samples(C[np.ix_(act, act)], 100, 0)
            return implied_timescales(sorted_eigenvalues(S), LAG, K)

        t1, tb1 = _best_of(ours_bayes, repeats)

        def theirs_bayes():
            counts = TransitionCountEstimator(LAG, "sliding").fit(dtrajs).fetch_model().submodel_largest(directed=True)
            post = BayesianMSM(n_samples=100, reversible=False).fit_from_counts(counts, ignore_counting_mode=True).fetch_model()
            return np.array([s.timescales(K) for s in post.samples])

        t2, tb2 = _best_of(theirs_bayes, repeats)
        rel = np.abs(tb1.mean(axis=0) / tb2.mean(axis=0) - 1).max()
        mle_t = mle_transition_matrix(count_matrix(dtrajs, n, LAG))
        row("bayes", t1, t2, rel, "relative difference of posterior mean timescales; "
            f"MLE t2 {implied_timescales(sorted_eigenvalues(mle_t), LAG, 1)[0]:.2f}")
    return rows


if __name__ == "__main__":
    import pandas as pd

    print(pd.DataFrame(run()).to_string(index=False))
