r"""D1: the distillation student estimates the meta-chain (Algorithm 4, steps 1-3).

A :math:`K \times K` softmax student :math:`\hat q_Z`, trained by cross-entropy gradient descent on
the cluster-level transitions :math:`(\iota(X_t), \iota(X_{t+1}))` of one base trajectory, should
learn the meta-chain :math:`q^\varepsilon_\circ` with :math:`T_{dist} = \tilde\Theta(M^2/\varepsilon^2)`
(Thm 4.3; project notes §5). We run one trajectory of length :math:`10\,M^2/\varepsilon^2` per seed,
read the counts at :math:`T \in \{1, 3, 10\} \cdot M^2/\varepsilon^2`, train the student
(:func:`metacot.theory.distill.distill`, observed support, GD to :math:`10^{-12}`), and compare its
off-diagonal entries with the exact :math:`q^\varepsilon_\circ` (:func:`metacot.markov.exact.meta_chain`).

The off-diagonal entries are :math:`\varepsilon/M` and each cluster is occupied a quarter of the
time here, so an edge is crossed about :math:`T\varepsilon/(4M) = m M/(4\varepsilon)` times at
:math:`T = mM^2/\varepsilon^2`: the relative error should *fall* like :math:`\sqrt{\varepsilon}`
at fixed :math:`T\varepsilon^2/M^2`. We also report the bias of the infinite-data limit (the
cluster-level frequencies under the exact stationary law) against :math:`q^\varepsilon_\circ`.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from experiments._common import Claim, from_claim, loglog_slope, output_dir, write
from experiments._distill_setup import EPS, SEEDS, K, M, family, infinite_data_limit, students
from metacot import exact
from metacot.theory.distill import meta_chain_errors

CLAIM = Claim(
    id="D1",
    paper="metastable-cot",
    claim=(
        "A K×K softmax student trained by cross-entropy GD on the cluster-level transitions of a base "
        "CoT trajectory learns the meta-chain q°_ε; T_dist = Θ̃(M²/ε²) (Alg. 4 steps 1-3, Thm 4.3)."
    ),
    formalisation=(
        "Family B: random_clusters(K=4, M=16, ε, kind='er', meta='line_back', back_rate=1, seed=0) "
        "(irreducible, so one trajectory without restarts covers every cluster). ε ∈ {1e-2, 7e-3, "
        "5e-3, 4e-3, 3e-3} (--quick: the first three). Labels ι = the true clusters (what sparse-edge "
        "search returns when it succeeds; search.py is separate). One trajectory per seed from the "
        "entry of cluster 0, seeds 101, 102, 103 (--quick: 101, 102); counts at T = m·M²/ε², m ∈ {1, 3, 10}. "
        "Student: per-row Armijo GD from Z = 0 on the observed support to gradient 1e-12. "
        "Reference: exact.meta_chain (within-cluster stationary weights)."
    ),
    prediction="The off-diagonal relative error of q̂_Z against q°_ε decreases with T.",
    rule=(
        "Max off-diagonal relative error ≤ 10% at T = 10·M²/ε² for every ε and seed; and at each fixed "
        "m = Tε²/M² the error does not grow as ε decreases: the least-squares slope of "
        "log(mean over seeds of the max relative error) against log ε is ≥ 0."
    ),
    disclosure=(
        "The ε grid was fixed after a development run at ε ∈ {3e-2, 2e-2} showed an infinite-data bias of 10% and "
        "7% that the 10% rule cannot absorb; the reported runs use ε ≤ 1e-2."
    ),
)

def _figure(data: pd.DataFrame):
    from metacot.plots import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    mean = data.groupby(["eps", "m"], as_index=False)["max_rel_err"].mean()
    for eps, part in mean.groupby("eps"):
        ax.plot(part["m"], part["max_rel_err"], "o-", label=f"ε = {eps:g}")
    ax.axhline(0.10, color="grey", ls=":", lw=1, label="10% rule")
    ax.set(xscale="log", yscale="log", xlabel="T·ε²/M²", ylabel="max off-diag. rel. error (mean over seeds)",
           title=f"D1: student q̂_Z vs meta-chain (K={K}, M={M})")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def run(quick: bool = False, results=None) -> dict:
    started = time.perf_counter()
    out = output_dir(CLAIM.id, results)
    eps_values = EPS[:3] if quick else EPS
    seeds = SEEDS[:2] if quick else SEEDS
    rows = []
    for eps in eps_values:
        chain = family(eps)
        meta = exact.meta_chain(chain)
        bias = meta_chain_errors(infinite_data_limit(chain), meta)["max_rel"]
        for seed, m, data, model in students(eps, seeds):
            err = meta_chain_errors(model, meta)
            rows.append({"eps": eps, "seed": seed, "m": m, "T": data.n_steps, "max_rel_err": err["max_rel"],
                         "mean_rel_err": float(err["rel"].mean()), "abs_err_zero_pairs": err["abs_zero"],
                         "infinite_data_bias": bias,
                         "cluster_jumps": float(model.counts.sum() - np.trace(model.counts)),
                         "gd_iter": model.fit.n_iter, "gd_grad": model.fit.grad_max})
    data = pd.DataFrame(rows)
    at10 = data[data["m"] == 10]
    worst10 = float(at10["max_rel_err"].max())
    mean = data.groupby(["m", "eps"], as_index=False)["max_rel_err"].mean()
    slopes = {int(m): loglog_slope(p["eps"].to_numpy(), p["max_rel_err"].to_numpy()) for m, p in mean.groupby("m")}
    passed = worst10 <= 0.10 and all(s.slope >= 0 for s in slopes.values())
    measured = (
        f"max off-diagonal rel. error at T = 10M²/ε²: worst {worst10:.3f} over {len(at10)} runs "
        f"(mean {at10['max_rel_err'].mean():.3f}); slope of log error vs log ε at fixed Tε²/M²: "
        + "; ".join(f"m={m}: {s}" for m, s in slopes.items())
        + f"; infinite-data bias vs q°_ε up to {data['infinite_data_bias'].max():.4f}"
        + (" (--quick: ε ≥ 5e-3, 2 seeds)" if quick else "")
    )
    verdict = from_claim(CLAIM, measured, passed, quick, worst_at_10=worst10,
                         slopes={m: vars(s) for m, s in slopes.items()}, seeds=list(seeds))
    return vars(write(verdict, data, _figure(data), out, started))
