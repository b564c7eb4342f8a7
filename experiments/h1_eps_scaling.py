r"""H1: the mean hitting time scales as :math:`1/\varepsilon` (paper Thm 3.2 and §2).

For a line of :math:`K` dense clusters of size :math:`M` joined by sparse edges of probability
:math:`\Theta(\varepsilon)`, the paper bounds :math:`\mathbb{E}[\tau_{X_{out}}] = \tilde\Theta(KM/\varepsilon)`.
We fix :math:`K = 4, M = 16`, sweep :math:`\varepsilon` over six values from :math:`3\cdot10^{-2}`
to :math:`10^{-4}`, solve for :math:`\mathbb{E}[\tau]` exactly, fit the log-log slope, and
cross-check each exact value by Monte Carlo (fixed seeds).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

import metacot as mc
from experiments._common import Claim, from_claim, loglog_slope, output_dir, write
from metacot import exact, plots
from metacot.markov.families import line_of_cliques, random_clusters

CLAIM = Claim(
    id="H1",
    paper="metastable-cot",
    claim="CoT on the metastable chain needs E[τ] = Θ̃(KM/ε) steps: linear in 1/ε (Thm 3.2, §2 hitting-time bounds).",
    formalisation=(
        "Family A: line_of_cliques(K=4, M=16, ε). Family B: random_clusters(K=4, M=16, ε, kind ∈ "
        "{er, regular, lazy_cycle}, meta='line', seed=0). ε ∈ {3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4}; "
        "start = entry of cluster 0, target = last state of cluster 3."
    ),
    prediction="E[τ] ∝ ε⁻¹: log-log slope −1.",
    rule=(
        "Exact slope in −1 ± 0.05 for every family; family A within 1e-8 of (K−1)(M/ε+1)+M; "
        "every Monte Carlo mean within 5% of the exact value."
    ),
)

EPS = np.array([3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4])
K, M = 4, 16
MC_SEED = 2026


def families(eps: float) -> dict[str, mc.Chain]:
    return {
        "A: line of cliques": line_of_cliques(K, M, eps),
        "B: er": random_clusters(K, M, eps, kind="er", seed=0),
        "B: regular": random_clusters(K, M, eps, kind="regular", seed=0),
        "B: lazy cycle": random_clusters(K, M, eps, kind="lazy_cycle", seed=0),
    }


def run(quick: bool = False, results=None) -> dict:
    started = time.perf_counter()
    out = output_dir(CLAIM.id, results)
    n_walkers = 10_000
    # --quick checks Monte Carlo only where it is cheap (the three largest ε).
    mc_eps = EPS[:3] if quick else EPS
    rows = []
    for i, eps in enumerate(EPS):
        for j, (name, chain) in enumerate(families(eps).items()):
            e_tau = exact.mean_hitting_time(chain)
            row = {"family": name, "eps": eps, "exact": e_tau, "mc": np.nan, "mc_se": np.nan}
            if name.startswith("A"):
                row["closed_form"] = (K - 1) * (M / eps + 1) + M
            if eps in mc_eps:
                sim = mc.simulate(chain, n_walkers=n_walkers, max_steps=int(50 * e_tau), seed=MC_SEED + 10 * i + j)
                est = sim.mean()
                row.update(mc=est.value, mc_se=est.stderr, mc_seed=MC_SEED + 10 * i + j)
            rows.append(row)
    data = pd.DataFrame(rows)
    data["mc_rel_err"] = (data["mc"] - data["exact"]).abs() / data["exact"]
    slopes = {name: loglog_slope(part["eps"], part["exact"]) for name, part in data.groupby("family", sort=False)}
    a = data[data["family"].str.startswith("A")]
    closed_err = float(((a["exact"] - a["closed_form"]).abs() / a["closed_form"]).max())
    worst_mc = float(data["mc_rel_err"].max())
    slope_ok = all(abs(s.slope + 1) <= 0.05 for s in slopes.values())
    passed = slope_ok and closed_err < 1e-8 and worst_mc < 0.05
    measured = (
        "slopes " + "; ".join(f"{k}: {v}" for k, v in slopes.items())
        + f"; family A max rel. error vs closed form {closed_err:.1e}"
        + f"; worst MC rel. error {worst_mc:.2%} ({n_walkers} walkers, {len(mc_eps)} ε values)"
    )
    fig = plots.scaling(
        data, "eps", "exact", "family", mc="mc", mc_err="mc_se",
        xlabel="sparse-edge probability ε", ylabel="E[τ] (steps)",
        title=f"H1: hitting time vs ε (K={K}, M={M}); points: Monte Carlo ±2 SE",
        slopes={k: v.slope for k, v in slopes.items()},
    )
    verdict = from_claim(
        CLAIM, measured, passed, quick,
        slopes={k: vars(v) for k, v in slopes.items()},
        closed_form_max_rel_err=closed_err, mc_max_rel_err=worst_mc, mc_walkers=n_walkers, mc_seed=MC_SEED,
    )
    return vars(write(verdict, data, fig, out, started))
