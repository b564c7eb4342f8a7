r"""H4: the metastable structure itself: spectrum, exponential exit times, convergence to the meta-chain.

Metastability theory (Bovier et al. 2002; Betz & Le Roux 2016), as used in the paper's §2,
predicts for :math:`K` dense clusters joined by :math:`\Theta(\varepsilon)` edges:

(a) exactly :math:`K` eigenvalues with :math:`1 - |\lambda| = O(\varepsilon / M)`, separated from
    the rest (which sit at the within-cluster gap);
(b) exit times from a cluster that are approximately exponential;
(c) a cluster process that, watched at times :math:`t M / \varepsilon`, follows the meta-chain.

Here (a) and (c) are exact (dense spectrum; exact laws :math:`\mu P^s` by matrix powers), and (b)
uses the exact mean and variance of the exit time plus a Kolmogorov–Smirnov test on simulated
exit times (fixed seed).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import scipy.stats

import metacot as mc
from experiments._common import Claim, from_claim, output_dir, write
from metacot import exact, plots
from metacot.markov.families import random_clusters

CLAIM = Claim(
    id="H4",
    paper="metastable-cot",
    claim="CoT dynamics are metastable: timescale separation, exponential escapes, and a meta-chain at long times (§2, Fig. 1).",
    formalisation=(
        "random_clusters(K=6, M=16, ε, kind='er', meta='line', seed=0), ε ∈ {1e-2, 1e-3, 1e-4}. "
        "(a) count of eigenvalues with 1−|λ| ≤ 10ε/M; gap ratio (1−|λ_{K+1}|)/(1−|λ_K|). "
        "(b) exit time of cluster 0 from its entry: exact CV from the first two moments; KS test of 2000 "
        "simulated exit times (seed 7) against the exponential law with the exact mean. "
        "(c) TV between the cluster law of μP^s and the meta-chain law at s = tM/ε, t ∈ {0.5, 1, 2}."
    ),
    prediction="(a) K slow eigenvalues, gap ratio ≫ 1; (b) exit times ≈ exponential; (c) cluster process → meta-chain.",
    rule=(
        "(a) count = K and gap ratio ≥ 10 for every ε; (b) KS p > 0.01 and |CV − 1| ≤ 0.1 for every ε; "
        "(c) max TV < 0.05 at ε = 1e-4 and decreasing as ε decreases."
    ),
)

K, M = 6, 16
EPS = [1e-2, 1e-3, 1e-4]
TIMES = [0.5, 1.0, 2.0]
KS_SEED, KS_WALKERS = 7, 2000


def exit_chain(chain: mc.Chain) -> mc.Chain:
    """The chain with target = every state outside cluster 0, started at the entry of cluster 0."""
    return chain.replace(target=np.flatnonzero(chain.clusters != 0), start=0)


def cluster_law_tv(chain: mc.Chain, t: float, eps: float) -> float:
    """Total variation between the cluster law of the chain and the meta-chain law at s = tM/eps."""
    s = round(t * M / eps)
    mu = chain.start_distribution()
    micro = mu @ np.linalg.matrix_power(chain.P.toarray(), s)
    by_cluster = np.bincount(chain.clusters, weights=micro, minlength=K)
    meta = exact.meta_chain(chain)
    coarse = meta.start_distribution() @ np.linalg.matrix_power(meta.P.toarray(), s)
    return 0.5 * float(np.abs(by_cluster - coarse).sum())


def run(quick: bool = False, results=None) -> dict:
    started = time.perf_counter()
    out = output_dir(CLAIM.id, results)
    rows = []
    for eps in EPS:
        chain = random_clusters(K, M, eps, kind="er", seed=0)
        lam = np.abs(exact.spectrum(chain, K + 2))
        slow = int(np.sum(1 - lam <= 10 * eps / M))
        gap_ratio = float((1 - lam[K]) / (1 - lam[K - 1]))
        exits = exit_chain(chain)
        m1, m2 = exact.hitting_time_moments(exits, order=2)[:, 0]
        cv = float(np.sqrt(m2 - m1**2) / m1)
        sim = mc.simulate(exits, n_walkers=KS_WALKERS, max_steps=int(60 * m1), seed=KS_SEED, count_visits=False)
        ks = scipy.stats.kstest(sim.hitting_times, "expon", args=(0, m1))
        tvs = [cluster_law_tv(chain, t, eps) for t in TIMES]
        rows.append({"eps": eps, "slow_eigenvalues": slow, "gap_ratio": gap_ratio, "lambda_K": lam[K - 1],
                     "lambda_K1": lam[K], "exit_mean": m1, "exit_cv": cv, "ks_stat": ks.statistic,
                     "ks_p": ks.pvalue, "censored": int(sim.censored.sum()),
                     **{f"tv_t{t:g}": v for t, v in zip(TIMES, tvs)}, "tv_max": max(tvs)})
    data = pd.DataFrame(rows)
    ok_a = bool((data["slow_eigenvalues"] == K).all() and (data["gap_ratio"] >= 10).all())
    ok_b = bool((data["ks_p"] > 0.01).all() and ((data["exit_cv"] - 1).abs() <= 0.1).all())
    tv = data.set_index("eps")["tv_max"]
    ok_c = bool(tv[1e-4] < 0.05 and tv[1e-4] < tv[1e-3] < tv[1e-2])
    measured = (
        f"(a) slow eigenvalues {data['slow_eigenvalues'].tolist()}, gap ratios "
        + ", ".join(f"{g:.3g}" for g in data["gap_ratio"])
        + f"; (b) exit CV {', '.join(f'{c:.4f}' for c in data['exit_cv'])}, KS p "
        + ", ".join(f"{p:.3f}" for p in data["ks_p"])
        + f"; (c) max TV {', '.join(f'{v:.2e}' for v in data['tv_max'])} (ε = 1e-2, 1e-3, 1e-4)"
    )
    long = data.melt(id_vars="eps", value_vars=[f"tv_t{t:g}" for t in TIMES], var_name="time", value_name="tv")
    long["time"] = long["time"].str.replace("tv_t", "t·M/ε, t=")
    fig = plots.scaling(long, "eps", "tv", "time", xlabel="ε", ylabel="TV(cluster law, meta-chain law)",
                        title="H4(c): cluster process vs meta-chain (K=6, M=16)")
    verdict = from_claim(CLAIM, measured, ok_a and ok_b and ok_c, quick, part_a=ok_a, part_b=ok_b, part_c=ok_c,
                         ks_seed=KS_SEED, ks_walkers=KS_WALKERS)
    return vars(write(verdict, data, fig, out, started))
