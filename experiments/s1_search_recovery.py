r"""S1: Sparse Edge Search recovers every sparse edge at a cost of about :math:`KM/\varepsilon` steps (Prop. 3.3).

We run :func:`metacot.theory.sparse_edge_search` with the parameters of the project notes (§8):
:math:`R = \lceil 2K\ln K\rceil` rounds of :math:`N = \lceil 2\ln K\rceil` rollouts,
:math:`T_0 = 3M\ln M`, :math:`T_{\max} = 3(M/\varepsilon)\ln K`, on families A and B for
:math:`K \in \{4, 8, 16\}`, and compare the discovered set with the true inter-cluster edges
(precision, recall) on 50 seeds. The cost (total chain-of-thought steps over all rollouts) is
measured over five values of :math:`\varepsilon` and fitted on a log-log scale against
:math:`1/\varepsilon`.

The notes require :math:`T_0` to exceed the cover time of a cluster. The experiment therefore
also measures the mean cover time of the clusters (from their entry state, by simulation) and,
as a diagnostic outside the pass rule, repeats family B's recovery with :math:`T_0` set to three
times that cover time.

The chain builders, one recovery run and the cover-time estimate are shared with S2, S3 and R1
through :mod:`experiments._search_setup`.
"""

from __future__ import annotations

import math
import time

import pandas as pd

from experiments._common import Claim, from_claim, loglog_slope, output_dir, write
from experiments._search_setup import FAMILIES, KS, M, cover_time, recovery_run
from metacot.plots import pyplot

CLAIM = Claim(
    id="S1",
    paper="metastable-cot",
    claim=(
        "Sparse Edge Search (Alg. 2) recovers all sparse edges w.h.p. with R = Θ(K log K) rounds of "
        "N = Θ(log K) rollouts, at a total cost Θ̃(KM/ε), about one unsearched CoT (Prop. 3.3)."
    ),
    formalisation=(
        "A: line_of_cliques(K, M=16, ε). B: random_clusters(K, M=16, ε, kind='er', n_out=1, meta='line', "
        "seed=s). K ∈ {4, 8, 16}; R=⌈2K ln K⌉, N=⌈2 ln K⌉, T0=⌈3M ln M⌉=134, T_max=⌈3(M/ε) ln K⌉; "
        "search defaults advance='continue', round_ends='first', min_support=2, stop_at_target=True; "
        "search seed = chain seed = s. Recovery: ε=1e-4, s ∈ 0..49. Cost: ε ∈ {3e-3, 1e-3, 3e-4, 1e-4, 3e-5} (metastable regime N·T0 ≪ M/ε), "
        "s ∈ 0..9, cost = total CoT steps over all rollouts."
    ),
    prediction="Precision 1 and recall → 1 on (almost) every seed; cost ∝ KM/ε, i.e. slope 1 against 1/ε.",
    rule=(
        "For every family and K: recall ≥ 0.99 and precision = 1 on ≥ 48/50 seeds; log-log slope of the mean "
        "cost against 1/ε within 1 ± 0.1 for every family and K."
    ),
    disclosure=(
            "The pass rule is the notes' and was not changed. Two set-up choices were made after pilot runs, "
            "and are disclosed: (1) the cost ε range was moved from {1e-2, …, 1e-4} to {3e-3, …, 3e-5} after a "
            "quick run showed ε = 1e-2 outside the regime T0 ≪ M/ε (normalised cost 3-15× higher there); "
            "(2) min_support = 2 was adopted after pilots showed phase-1 escapes causing false positives with "
            "the plain rule. A pilot had also shown family B's cover-time problem; nothing was changed for it."
    ),
)

EPS_REC = 1e-4
EPS_COST = (3e-3, 1e-3, 3e-4, 1e-4, 3e-5)
N_SEEDS, N_COST_SEEDS = 50, 10


# --------------------------------------------------------------------------- the experiment
def _figure(rec: pd.DataFrame, cost: pd.DataFrame, slopes: dict, need: float):
    import seaborn as sns

    plt = pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.9))
    share = rec.groupby(["variant", "K"], sort=False)["exact_recovery"].mean().reset_index()
    sns.barplot(share, x="K", y="exact_recovery", hue="variant", ax=a, palette="colorblind")
    a.axhline(need, color="k", ls="--", lw=0.8, label=f"rule ({need:.0%} of seeds)")
    a.set_ylim(0, 1.3)
    a.set_ylabel("share of seeds with precision 1, recall ≥ 0.99")
    a.set_title(f"S1: recovery at ε = {EPS_REC:g} (M = {M})")
    a.legend(fontsize=7, loc="upper center", ncol=2)
    pal = dict(zip(slopes, sns.color_palette("colorblind", len(slopes))))
    mean = cost.groupby(["series", "eps"], sort=False)["steps"].agg(["mean", "sem"]).reset_index()
    for name, part in mean.groupby("series", sort=False):
        b.errorbar(1 / part["eps"], part["mean"], yerr=2 * part["sem"].fillna(0), fmt="o-", ms=3.5,
                   color=pal[name], label=f"{name} (slope {slopes[name].slope:.3f})", lw=1.2, capsize=2)
    b.set_xscale("log")
    b.set_yscale("log")
    b.set_xlabel("1/ε")
    b.set_ylabel("search cost (total CoT steps), mean ± 2 SE")
    b.set_title("S1: search cost vs 1/ε")
    b.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _why_failed(ok: dict, slope_ok: dict, slopes: dict, cover: dict, T0: int, diag: pd.DataFrame, local: dict,
                load: dict) -> str:
    """One sentence per failed part, saying which kind of failure the data point to.

    Each explanation is given only where the numbers it relies on support it: the T0-diagnostic
    ``diag`` runs family B only, so it can explain only family B's failures, and the pre-asymptotic
    reading of a cost slope needs the slope over the three smallest ε to be within 1 ± 0.1.
    """
    reasons = []
    diag_min = float(diag.groupby("K")["exact_recovery"].mean().min()) if not diag.empty else float("nan")
    for fam in FAMILIES:
        bad = [K for (f, K), good in ok.items() if f == fam and not good]
        if not bad:
            continue
        if fam == "B" and cover[fam] > T0 and diag_min >= 0.96:
            reasons.append(
                f"Family {fam} fails recovery at K={bad}: its clusters' mean cover time ({cover[fam]:.0f} steps) "
                f"exceeds T0 = 3M ln M = {T0}, violating the notes' own precondition T0 > cover time, so unvisited "
                f"cluster states are recorded as exits (false positives); with T0 = 3×cover time (diagnostic) "
                f"recovery holds on ≥ 96% of seeds (min share {diag_min:.2f}). Our T0 formula (sized for complete "
                f"clusters) is the reconstruction at fault, not Prop. 3.3."
            )
        elif cover[fam] > T0:
            what = (f"the diagnostic with T0 = 3×cover time does not restore recovery (min share {diag_min:.2f})"
                    if fam == "B" else "no diagnostic with a larger T0 was run for this family")
            reasons.append(
                f"Family {fam} fails recovery at K={bad}; its mean cover time ({cover[fam]:.0f} steps) exceeds "
                f"T0 = {T0}, violating the notes' precondition, but {what}, so the cause is not established."
            )
        else:
            reasons.append(
                f"Family {fam} fails recovery at K={bad} with T0 = {T0} above its mean cover time "
                f"({cover[fam]:.0f} steps): a real disagreement."
            )
    bad_slopes = [k for k, good in slope_ok.items() if not good]
    if bad_slopes:
        reasons.append(
            f"Cost slope outside 1 ± 0.1 for {bad_slopes}: "
            + "; ".join(f"{k}: slope {slopes[k].slope:.3f}, over the three smallest ε {local[k]}, phase-1 escape "
                        f"load N·T0·ε/M = {load[k]:.2f} per round at ε = {max(EPS_COST):g}" for k in bad_slopes)
            + "."
        )
        pre = [k for k in bad_slopes if slopes[k].slope < 0.9 and abs(local[k].slope - 1) <= 0.1]
        rest = [k for k in bad_slopes if k not in pre]
        if pre:
            reasons.append(
                f"For {pre} the full-range slope is below 0.9 while the slope over the three smallest ε is within "
                "1 ± 0.1: the cost has an ε-independent part R·N·T0 and, where N·T0·ε/M is not small, rounds lost "
                "to rollouts that leave the cluster during phase 1; both flatten the fit at the large-ε end. This "
                "is the regime T0 ≪ M/ε not holding there (pre-asymptotic), not a contradiction of the Θ̃(KM/ε) "
                "cost."
            )
        for k in rest:
            why = ("the slope over the three smallest ε also misses 1 ± 0.1" if abs(local[k].slope - 1) > 0.1
                   else "the full-range slope is above 1.1, which a flattening at large ε cannot cause")
            reasons.append(
                f"For {k} the miss is not confined to the large-ε end ({why}): a real disagreement with the "
                "predicted KM/ε cost over this ε range."
            )
    return " ".join(reasons)


def run(quick: bool = False, results=None) -> dict:
    started = time.perf_counter()
    out = output_dir(CLAIM.id, results)
    # --quick: 10 seeds and K ∈ {4, 8} for recovery, K = 4 only for the cost; same rules
    # (the 48/50 threshold becomes the same share, 96%, of the seeds run).
    ks = KS[:2] if quick else KS
    cost_ks = KS[:1] if quick else KS
    n_seeds = 10 if quick else N_SEEDS
    n_diag = 10 if quick else 20
    n_cost = N_COST_SEEDS
    need = 48 / 50
    rec = pd.DataFrame([recovery_run(f, K, EPS_REC, s) for f in FAMILIES for K in ks for s in range(n_seeds)])
    rec["variant"] = rec["family"]
    T0 = int(rec["T0"].iloc[0])
    cover = {f: cover_time(f, 4, range(3 if quick else 10)) for f in FAMILIES}
    # Diagnostic (not ruled): family B with T0 raised to 3 × its measured cover time.
    T0_cov = math.ceil(3 * cover["B"])
    diag = pd.DataFrame([recovery_run("B", K, EPS_REC, s, T0=T0_cov) for K in ks for s in range(n_diag)])
    diag["variant"] = f"B, T0 = 3×cover = {T0_cov}"

    # The ε = EPS_REC point of the cost fit reuses the first recovery runs.
    cost_rows = [recovery_run(f, K, eps, s) for f in FAMILIES for K in cost_ks for eps in EPS_COST
                 if eps != EPS_REC for s in range(n_cost)]
    reuse = rec[(rec["seed"] < n_cost) & rec["K"].isin(cost_ks)]
    cost = pd.concat([pd.DataFrame(cost_rows), reuse], ignore_index=True)
    cost["series"] = cost["family"] + ", K=" + cost["K"].astype(str)
    slopes = {}
    for name, part in cost.groupby("series", sort=False):
        mean = part.groupby("eps")["steps"].mean()
        slopes[name] = loglog_slope(1 / mean.index.to_numpy(), mean.to_numpy())
    slope_ok = {k: abs(v.slope - 1) <= 0.1 for k, v in slopes.items()}
    # Diagnostics (not ruled): the slope over the three smallest ε, and the expected number of
    # phase-1 escapes per round, N·T0·ε/M, at the largest ε (the notes need T0 ≪ M/ε).
    local, load = {}, {}
    for name, part in cost.groupby("series", sort=False):
        mean = part.groupby("eps")["steps"].mean().sort_index().iloc[:3]
        local[name] = loglog_slope(1 / mean.index.to_numpy(), mean.to_numpy())
        load[name] = part["N"].iloc[0] * part["T0"].iloc[0] * max(EPS_COST) / M
    share = rec.groupby(["family", "K"])["exact_recovery"].mean()
    ok = {key: bool(v >= need) for key, v in share.items()}
    passed = all(ok.values()) and all(slope_ok.values())

    counts = rec.groupby(["family", "K"])["exact_recovery"].sum()
    fp_seeds = rec.groupby(["family", "K"])["n_false"].apply(lambda s: int((s > 0).sum()))
    measured = (
        f"exact recovery (precision 1, recall ≥ 0.99) at ε={EPS_REC:g}: "
        + "; ".join(f"{f} K={K}: {int(counts[f, K])}/{n_seeds}" for f, K in counts.index)
        + "; seeds with a false positive: " + ", ".join(f"{f} K={K}: {fp_seeds[f, K]}" for f, K in fp_seeds.index)
        + f"; min recall {rec['recall'].min():.3f}. Cost slope vs 1/ε: "
        + "; ".join(f"{k}: {v}" for k, v in slopes.items())
        + f". Mean cluster cover time from the entry: A {cover['A']:.0f}, B {cover['B']:.0f} steps (T0 = {T0}); "
        + "diagnostic B with T0 = 3×cover: "
        + ", ".join(f"K={K}: {int(g.sum())}/{g.size}" for K, g in diag.groupby("K")["exact_recovery"])
        + "."
    )
    if not passed:
        measured += " FAIL: " + _why_failed(ok, slope_ok, slopes, cover, T0, diag, local, load)
    if quick:
        measured += f" (quick: {n_seeds} seeds, K ∈ {list(ks)}; cost for K = 4 only)"
    data = pd.concat([rec.assign(part="recovery"), diag.assign(part="diagnostic_T0_cover"),
                      cost.assign(part="cost")], ignore_index=True)
    fig = _figure(pd.concat([rec, diag]), cost, slopes, need)
    cost_norm = (cost.groupby(["family", "K", "eps"])["steps"].mean().reset_index()
                 .assign(per_KM_over_eps=lambda d: d["steps"] / (d["K"] * M / d["eps"])))
    verdict = from_claim(
        CLAIM, measured, passed, quick,
        recovery_counts={f"{f} K={K}": int(v) for (f, K), v in counts.items()},
        n_seeds=n_seeds, slopes={k: vars(v) for k, v in slopes.items()},
        slopes_three_smallest_eps={k: vars(v) for k, v in local.items()}, phase1_escape_load=load,
        cost_over_KM_eps=cost_norm.to_dict("records"), cover_time=cover, T0=T0, T0_diagnostic=T0_cov,
        diagnostic_counts={int(K): int(g.sum()) for K, g in diag.groupby("K")["exact_recovery"]},
    )
    return vars(write(verdict, data, fig, out, started))
