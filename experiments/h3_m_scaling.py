r"""H3: the mean hitting time grows linearly with the cluster size, in the metastable regime.

Escaping a cluster of :math:`M` states through one edge of probability :math:`\varepsilon` takes
about :math:`M/\varepsilon` steps, provided the cluster mixes long before that:
:math:`\varepsilon\, t_{\mathrm{mix}} / M \ll 1`. We take :math:`t_{\mathrm{mix}}` to be the
relaxation time :math:`1/(1-|\lambda_2|)` of the within-cluster kernel, computed exactly, and
report the slope inside the regime :math:`\varepsilon t_{\mathrm{mix}}/M < 0.01` and the deviation
outside it.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from experiments._common import Claim, from_claim, loglog_slope, output_dir, write
from metacot import Chain, exact, plots
from metacot.markov.families import line_of_cliques, random_clusters

CLAIM = Claim(
    id="H3",
    paper="metastable-cot",
    claim="E[τ] = Θ̃(KM/ε) is linear in the cluster size M when M/ε ≫ t_mix (Thm 3.2, metastability condition §1.2).",
    formalisation=(
        "K=4, ε=1e-4, M ∈ {8,16,32,64,128,256}: line_of_cliques, random_clusters(kind='lazy_cycle') and "
        "random_clusters(kind='er', seed=0). t_mix := exact relaxation time 1/(1−|λ₂|) of one within-cluster kernel. "
        "Contrast outside the regime: lazy cycles at ε=1e-1."
    ),
    prediction="E[τ] ∝ M while ε·t_mix/M < 0.01; deviation from linearity outside.",
    rule="Log-log slope in 1 ± 0.05 over the points with ε·t_mix/M < 0.01, for every family.",
)

MS = np.array([8, 16, 32, 64, 128, 256])
K, EPS, EPS_OUTSIDE = 4, 1e-4, 1e-1


def relaxation_time(chain: Chain) -> float:
    """1/(1-|lambda_2|) of cluster 0's kernel, renormalised inside the cluster (the eps -> 0 limit)."""
    members = np.flatnonzero(chain.clusters == 0)
    inner = chain.P[members][:, members].toarray()
    inner /= inner.sum(axis=1, keepdims=True)
    lam = np.sort(np.abs(np.linalg.eigvals(inner)))[::-1]
    return float(1.0 / (1.0 - lam[1]))


def run(quick: bool = False, results=None) -> dict:
    started = time.perf_counter()
    out = output_dir(CLAIM.id, results)
    rows = []
    for eps in (EPS, EPS_OUTSIDE):
        for m in MS:
            chains = {"A: line of cliques": line_of_cliques(K, m, eps)} if eps == EPS else {}
            chains["B: lazy cycle"] = random_clusters(K, m, eps, kind="lazy_cycle")
            if eps == EPS:
                chains["B: er"] = random_clusters(K, m, eps, kind="er", seed=0)
            for name, chain in chains.items():
                t_mix = relaxation_time(chain)
                rows.append({"family": name if eps == EPS else f"{name}, ε={eps:g} (outside)", "M": m, "eps": eps,
                             "exact": exact.mean_hitting_time(chain), "t_mix": t_mix,
                             "regime": eps * t_mix / m})
    data = pd.DataFrame(rows)
    # Prefactor of the linear law E[tau] ~ (K-1) M / eps: 1 deep in the regime.
    data["prefactor"] = data["exact"] * data["eps"] / ((K - 1) * data["M"])
    inside = data[(data["eps"] == EPS) & (data["regime"] < 0.01)]
    slopes = {n: loglog_slope(p["M"], p["exact"]) for n, p in inside.groupby("family", sort=False)}
    outside = data[data["eps"] == EPS_OUTSIDE]
    outside_slope = loglog_slope(outside["M"], outside["exact"])
    n_excluded = int(((data["eps"] == EPS) & (data["regime"] >= 0.01)).sum())
    families = set(data.loc[data["eps"] == EPS, "family"])
    # Every family needs >= 5 points inside the regime; a family with none must fail, not vanish.
    passed = set(slopes) == families and all(abs(s.slope - 1) <= 0.05 for s in slopes.values()) and all(
        len(p) >= 5 for _, p in inside.groupby("family"))
    measured = (
        "slopes in regime: " + "; ".join(f"{k}: {v}" for k, v in slopes.items())
        + f" ({n_excluded} points outside the regime at ε={EPS:g}); prefactor E[τ]ε/((K−1)M) − 1 at most "
        f"{(inside['prefactor'] - 1).abs().max():.1e}. Outside the regime (lazy cycle, ε={EPS_OUTSIDE:g}, "
        f"ε·t_mix/M up to {outside['regime'].max():.2f}): slope {outside_slope}, but the prefactor is off by "
        f"{(outside['prefactor'] - 1).abs().max():.1%}"
    )
    fig = plots.scaling(data, "M", "exact", "family", xlabel="cluster size M", ylabel="E[τ] (steps)",
                        title=f"H3: hitting time vs M (K={K})",
                        slopes={**{k: v.slope for k, v in slopes.items()}})
    verdict = from_claim(CLAIM, measured, passed, quick, slopes={k: vars(v) for k, v in slopes.items()},
                         outside_slope=vars(outside_slope))
    return vars(write(verdict, data, fig, out, started))
