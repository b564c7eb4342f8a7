r"""P1: two-stage pretraining of a softmax logit table recovers the chain (Algorithm 1, Thm 3.1).

Thm 3.1 (project notes §1.4, §2) says gradient descent on the next-state cross-entropy, with a
threshold between two stages, recovers :math:`p^\varepsilon` from trajectories of length
:math:`T = \tilde\Theta(KM^2/\varepsilon^2)`. We draw the transition counts of one long trajectory
(restarting at :math:`X_{in}` after each hit of :math:`X_{out}`, see
:mod:`metacot.theory.pretrain`), run Algorithm 1 with :math:`\tau_{thr} = \varepsilon/4`, and
measure on a grid of lengths :math:`T = u \cdot KM/\varepsilon`, :math:`u = 1, 2, 4, \dots`, up to
:math:`T = c\,KM^2/\varepsilon^2` with :math:`c = 4` (:math:`u = cM/\varepsilon`):

- exact support recovery on the rows the data determine (all non-target states);
- the largest relative error of the sparse-edge probabilities;
- the learned model's exact :math:`\mathbb E[\tau]` against the true one.

Expectation written before running (from the data model, not from a run): with restarts every
episode crosses each sparse edge once and an episode lasts about :math:`(K-1)M/\varepsilon` steps,
so a sparse edge is crossed about :math:`u K/(K-1)` times. Its relative error is then about
:math:`u^{-1/2}`, independent of :math:`\varepsilon`, and the target cluster is visited about
:math:`u` times. So we expect the needed length to scale like :math:`KM/\varepsilon`
(slope 1 in :math:`1/\varepsilon`), which would make :math:`KM^2/\varepsilon^2` sufficient but not
necessary and the notes' contrast fail.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from experiments._common import Claim, from_claim, loglog_slope, output_dir, write
from metacot import exact
from metacot.markov.families import line_of_cliques, random_clusters
from metacot.theory.pretrain import pretrain, sparse_edge_errors, support_recovery, transition_counts

CLAIM = Claim(
    id="P1",
    paper="metastable-cot",
    claim=(
        "Two-stage pretraining (Algorithm 1: GD on the next-state cross-entropy of a softmax logit "
        "table, threshold, GD on the pruned support) recovers the CoT chain from trajectories of "
        "length Θ̃(KM²/ε²) (Thm 3.1)."
    ),
    formalisation=(
        "K = 4. Families: A = line_of_cliques(4, 16, ε); B-lazy = random_clusters(4, 16, ε, "
        "kind='lazy_cycle'); B-er = random_clusters(4, 8, ε, kind='er', seed=0). "
        "ε ∈ {1e-1, 5e-2, 3e-2, 2e-2, 1e-2}. One trajectory per seed (seeds 17, 1017, 2017, 3017; --quick: the "
        "first two), "
        "restarting at X_in on hitting X_out; counts at prefixes T = u·KM/ε, u = 1, 2, 4, … and "
        "u = c·M/ε (T = c·KM²/ε², c = 4). Algorithm 1: W = 0, per-row Armijo GD, τ_thr = ε/4, "
        "stage 1 to tolerance τ_thr/10, stage 2 to 1e-12. Admissible (family, ε): min within-cluster "
        "probability ≥ 2τ_thr (the thresholding regime of Thm 3.1); others are reported, not judged."
    ),
    prediction=(
        "Sparse-edge error decreases with T; the trajectory length needed scales like KM²/ε² "
        "(so T ∝ KM/ε eventually fails as ε decreases)."
    ),
    rule=(
        "On every admissible (family, ε) and every seed at T = 4·KM²/ε²: exact support recovery, "
        "max relative sparse-edge error ≤ 0.2, learned E[τ] within 10% of the true E[τ]. Contrast "
        "(the notes' 'T ∝ KM/ε fails for small ε', read as a trend): the needed length T*(ε) = "
        "geometric mean over seeds of the smallest grid T from which on the seed meets the three "
        "criteria grows faster than KM/ε, i.e. the "
        "least-squares slope of log T* against log(1/ε) is ≥ 1.5 (closer to the predicted 2 than to 1) "
        "for every family with ≥ 3 admissible ε."
    ),
    disclosure=(
        "After the first quick run the estimator of the needed length T* changed from 'smallest length at which "
        "all seeds pass' to the geometric mean over seeds of each seed's smallest passing length (less grid "
        "noise); the verdict was FAIL before and after. The admissibility filter (judge only (family, ε) whose "
        "smallest within-cluster probability is ≥ 2τ_thr, report the others) departs from the notes' rule, "
        "which asks for exact recovery 'for every ε': without it, thresholding at τ_thr = ε/4 would prune "
        "genuine within-cluster edges of probability below τ_thr, which Thm 3.1's regime excludes."
    ),
)

K = 4
C_SUFF = 4.0
EPS = (1e-1, 5e-2, 3e-2, 2e-2, 1e-2)
EPS_QUICK = (1e-1, 5e-2, 3e-2)
FAMILIES = {
    "A (M=16)": (16, lambda eps: line_of_cliques(K, 16, eps)),
    "B-lazy (M=16)": (16, lambda eps: random_clusters(K, 16, eps, kind="lazy_cycle", seed=0)),
    "B-er (M=8)": (8, lambda eps: random_clusters(K, 8, eps, kind="er", seed=0)),
}


def _grid(M: int, eps: float) -> list[float]:
    """u = T / (KM/ε): powers of two below c·M/ε, then c·M/ε itself."""
    top = C_SUFF * M / eps
    return [float(2**j) for j in range(int(np.floor(np.log2(top))) + 1) if 2**j < top] + [top]


def _min_within(chain) -> float:
    P = chain.P.tocoo()
    c = chain.clusters
    return float(P.data[c[P.row] == c[P.col]].min())


def _evaluate(chain, data, eps: float, e_true: float) -> dict:
    result = pretrain(data, threshold=eps / 4)
    sup = support_recovery(result, chain)
    err = float(sparse_edge_errors(result.chain, chain).max())
    e_learned = exact.mean_hitting_time(result.chain)
    rel_tau = abs(e_learned - e_true) / e_true
    return {
        "support_exact": sup["exact"], "missing": sup["missing"], "spurious": sup["spurious"],
        "unvisited": sup["unvisited"], "max_rel_err": err, "E_tau_learned": e_learned,
        "E_tau_rel_err": rel_tau, "ok": bool(sup["exact"] and err <= 0.2 and rel_tau <= 0.1),
        "stage1_iter": result.stage1.n_iter, "stage2_iter": result.stage2.n_iter,
        "stage2_grad": result.stage2.grad_max, "n_dropped": result.n_dropped,
    }


def _needed_u_seed(part: pd.DataFrame) -> float:
    """Smallest grid u from which on one seed meets the criteria at every larger grid u."""
    ok = part.set_index("u")["ok"].sort_index()
    bad = ok.index[~ok.values]
    later = ok.index[ok.index > bad.max()] if bad.size else ok.index
    return float(later.min()) if later.size else np.nan


def _needed_u(part: pd.DataFrame) -> float:
    """Geometric mean over seeds of the per-seed needed u (NaN if some seed never gets there).

    Averaging log u over seeds halves the factor-2 quantisation noise of the grid.
    """
    per_seed = part.groupby("seed").apply(_needed_u_seed, include_groups=False)
    return float(np.exp(np.log(per_seed).mean())) if per_seed.notna().all() else np.nan


def _contrast_text(contrast: bool, slopes: dict, needed: pd.DataFrame) -> str:
    """The contrast's outcome, each statement conditional on the numbers it cites."""
    if contrast:
        return "Contrast holds: T* grows faster than KM/ε."
    if not slopes:
        return "Contrast FAILS: no family has ≥ 3 admissible ε with a finite T*, so no slope can be fitted."
    lo = min(v.slope for v in slopes.values())
    hi = max(v.slope for v in slopes.values())
    text = f"Contrast FAILS: T* ∝ ε^-s with s between {lo:.2f} and {hi:.2f}"
    u = needed["u_needed"].dropna()
    near_one = all(abs(v.slope - 1) < abs(v.slope - 2) for v in slopes.values())
    if near_one:
        text += ", closer to KM/ε (s = 1) than to the predicted 2"
        if u.size:
            text += f" (T*·ε/(KM) ranges over {u.min():.0f}–{u.max():.0f} across the ε judged)"
        text += (": every restarted episode crosses each sparse edge once, so the data per sparse edge scale "
                 "as Tε/(KM) and a length c·KM/ε suffices; Θ̃(KM²/ε²) is sufficient here, not necessary. "
                 "Either the paper's T counts something other than our restarted-trajectory data "
                 "(reconstruction), or its bound is not tight (a real disagreement with the notes' 'needed' "
                 "reading).")
    else:
        text += ", below the rule's 1.5 for at least one family but not uniformly closer to 1 than to 2."
    return text


def _figure(data: pd.DataFrame, needed: pd.DataFrame):
    from metacot.plots import pyplot

    plt = pyplot()
    import seaborn as sns

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    worst = data.groupby(["family", "eps", "u"], as_index=False)["max_rel_err"].max()
    worst["ε"] = worst["eps"].map(lambda e: f"{e:g}")
    sns.lineplot(worst, x="u", y="max_rel_err", hue="ε", style="family", marker="o", ax=axes[0])
    axes[0].axhline(0.2, color="grey", ls=":", lw=1)
    axes[0].set(xscale="log", yscale="log", xlabel="T / (KM/ε)", ylabel="max rel. error, sparse edges (worst seed)",
                title="P1: error vs data, in units of KM/ε")
    axes[0].legend(fontsize=6)
    for fam, part in needed.groupby("family", sort=False):
        axes[1].plot(1 / part["eps"], part["T_needed"], "o-", label=fam)
    e = np.array(sorted(needed["eps"].unique()))
    ref = needed["T_needed"].max()
    axes[1].plot(1 / e, ref * (e.min() / e), "k:", lw=1, label="∝ 1/ε")
    axes[1].plot(1 / e, ref * (e.min() / e) ** 2, "k--", lw=1, label="∝ 1/ε²")
    axes[1].set(xscale="log", yscale="log", xlabel="1/ε", ylabel="T* (all criteria; geo. mean over seeds)",
                title="P1: trajectory length needed")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def run(quick: bool = False, results=None) -> dict:
    started = time.perf_counter()
    out = output_dir(CLAIM.id, results)
    eps_values = EPS_QUICK if quick else EPS
    seeds = range(2) if quick else range(4)
    rows = []
    admissible = {}
    for fam, (M, build) in FAMILIES.items():
        for eps in eps_values:
            chain = build(eps)
            admissible[(fam, eps)] = _min_within(chain) >= 2 * eps / 4
            e_true = exact.mean_hitting_time(chain)
            grid = _grid(M, eps)
            lengths = [round(u * K * M / eps) for u in grid]
            for seed in seeds:
                prefixes = transition_counts(chain, lengths, seed=1000 * seed + 17)
                for u, data in zip(grid, prefixes):
                    rows.append({"family": fam, "M": M, "eps": eps, "seed": seed, "u": u, "T": data.n_steps,
                                 "episodes": data.n_restarts, "E_tau_true": e_true,
                                 "admissible": admissible[(fam, eps)], **_evaluate(chain, data, eps, e_true)})
    data = pd.DataFrame(rows)

    top = data[np.isclose(data["u"], C_SUFF * data["M"] / data["eps"]) & data["admissible"]]
    # Not vacuous: every family must have at least one admissible ε judged at T = 4KM²/ε².
    judged = set(top["family"])
    unjudged = [fam for fam in FAMILIES if fam not in judged]
    sufficient = bool(not unjudged and top["ok"].all())
    needed = (data[data["admissible"]].groupby(["family", "eps"], sort=False)
              .apply(_needed_u, include_groups=False).rename("u_needed").reset_index())
    needed["T_needed"] = needed["u_needed"] * K * needed["family"].map(lambda f: FAMILIES[f][0]) / needed["eps"]
    slopes = {}
    for fam, part in needed.groupby("family", sort=False):
        part = part.dropna()
        if len(part) >= 3:
            slopes[fam] = loglog_slope(1 / part["eps"].to_numpy(), part["T_needed"].to_numpy())
    contrast = bool(slopes) and all(s.slope >= 1.5 for s in slopes.values())
    literal = bool(data[(data["u"] == C_SUFF) & (data["eps"] == min(eps_values)) & data["admissible"]]
                   .groupby("family")["ok"].all().eq(False).all())
    passed = sufficient and contrast

    worst = top.agg({"max_rel_err": "max", "E_tau_rel_err": "max"})
    excluded = [f"{f} ε={e:g}" for (f, e), a in admissible.items() if not a]
    measured = (
        f"at T = 4KM²/ε²: support exact on {int(top['support_exact'].sum())}/{len(top)} runs, "
        f"worst sparse rel. error {worst['max_rel_err']:.3f}, worst E[τ] rel. error {worst['E_tau_rel_err']:.3f} "
        f"-> sufficiency {'holds' if sufficient else 'FAILS'}"
        + (f" (no admissible ε for {', '.join(unjudged)})" if unjudged else "")
        + ". Needed length T* vs 1/ε: "
        + "; ".join(f"{k}: slope {v}" for k, v in slopes.items())
        + "; T*/(KM/ε) from the largest to the smallest ε: "
        + "; ".join(f"{fam}: " + ", ".join(f"{u:.0f}" for u in part["u_needed"])
                    for fam, part in needed.groupby("family", sort=False))
        + ". "
        + _contrast_text(contrast, slopes, needed)
        + f" Literal reading (T = 4KM/ε fails at the smallest ε for every family): {literal}."
        + (f" Not judged (min within-cluster prob. < 2τ_thr): {', '.join(excluded)}." if excluded else "")
        + (" --quick: ε ∈ {1e-1, 5e-2, 3e-2}, seeds 0-1." if quick else "")
    )
    verdict = from_claim(
        CLAIM, measured, passed, quick,
        sufficiency=sufficient, contrast_trend=contrast, contrast_literal=literal,
        needed_slopes={k: vars(v) for k, v in slopes.items()},
        needed=needed.to_dict(orient="records"), excluded=excluded,
        seeds=[1000 * s + 17 for s in seeds], c=C_SUFF,
    )
    return vars(write(verdict, data, _figure(data, needed), out, started))
