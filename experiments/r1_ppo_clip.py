r"""R1: PPO-Clip with the search's intrinsic reward raises the hard steps to :math:`\varepsilon_{\max}` and changes nothing else (Prop. 3.4).

The pretrained softmax model (exact logits :math:`W = \log P`) is fine-tuned by
:func:`metacot.theory.ppo_clip` with advantage :math:`\hat A = \mathbf 1_{\hat E}`, :math:`\hat E`
from S1's search (the same edges as S3). The clipped objective with :math:`\hat A \ge 0` predicts
(project notes §4): a per-iteration ratio of at most :math:`1+c` on each discovered edge, hence
about :math:`\log(\varepsilon_{\max}/\varepsilon)/\log(1+c)` outer iterations; rows without a
discovered edge untouched; and a fine-tuned hitting time equal to the PRM chain's of S3.
A plain-gradient run with a fixed step is reported as a contrast (not ruled).
"""

from __future__ import annotations

import itertools
import time

import numpy as np
import pandas as pd

from experiments._common import Claim, from_claim, output_dir, write
from experiments._search_setup import FAMILIES, M, searched_edges
from experiments._search_setup import PRM_EPS as EPS
from metacot import exact
from metacot.plots import pyplot
from metacot.theory import logits_from_chain, ppo_clip, predicted_iterations, prm_chain

CLAIM = Claim(
    id="R1",
    paper="metastable-cot",
    claim=(
        "PPO-Clip fine-tuning with advantage Â = 1{(x,y) ∈ Ê} raises the searched sparse edges to ε_max while "
        "changing the model only slightly, so E[τ] becomes Θ̃(KM/ε_max) (Prop. 3.4)."
    ),
    formalisation=(
        "Families A and B with K=8, M=16, ε=1e-4 and Ê exactly as in S3 (search seed 0). Exact logits W = log P "
        "(not P1's learned ones). ppo_clip(optimizer='sign', lr=0.005, weighting='uniform', "
        "cap_at_eps_max=True), c ∈ {0.1, 0.2, 0.3}, ε_max ∈ {1e-3, 1e-2, 1e-1}; stop when min_e p(e) ≥ ε_max. "
        "n* = log(ε_max/ε)/log(1+c). Contrast (not ruled): optimizer='gd', lr=1e4, weighting='uniform', "
        "c=0.2, ε_max=1e-2."
    ),
    prediction=(
        "Per-iteration ratio ≤ 1+c; iterations ≈ n*; rows without a discovered edge unchanged; "
        "post-RL E[τ] ≈ E[τ_PRM] of S3."
    ),
    rule=(
        "For every family, c and ε_max: converged; max ratio ≤ (1+c)(1+0.02); |iterations − n*| ≤ max(0.2·n*, 2); "
        "TV change ≤ 1e-12 on every row without a discovered edge; post-RL E[τ] within 5% of E[τ_PRM]."
    ),
    disclosure=(
        "After review the ruled runs' state law changed from weighting='occupancy' to 'uniform': sign-gradient "
        "ascent ignores a positive row weight (metacot.theory.rl), and every discovered edge's source row has "
        "positive occupancy, so the runs are the same (verdict PASS before and after). The measured text says how "
        "far the ratio and iteration checks follow by construction from the ε_max-capped clip and lr = 0.005."
    ),
)

CLIPS = (0.1, 0.2, 0.3)
EPS_MAX = (1e-3, 1e-2, 1e-1)
LR = 0.005


def _one_run(fam: str, chain, edges, clip: float, eps_max: float, tau_prm: float, **opts) -> dict:
    table = logits_from_chain(chain)
    t = time.perf_counter()
    res = ppo_clip(table, edges, clip=clip, eps_max=eps_max, start=chain.start, target=chain.target, **opts)
    seconds = time.perf_counter() - t
    tau = exact.mean_hitting_time(res.table.to_chain(chain))
    has_edge = np.zeros(chain.n_states, dtype=bool)
    has_edge[res.edges[:, 0]] = True
    n_star = predicted_iterations(res.edge_probs[0], eps_max, clip)
    return {
        "family": fam, "clip": clip, "eps_max": eps_max, "optimizer": opts["optimizer"], "lr": opts["lr"],
        "converged": res.converged, "iterations": res.n_iter, "n_star": n_star,
        "inner_steps": int(res.inner_steps.sum()), "max_ratio": float(res.max_ratio.max()),
        "ratio_bound": (1 + clip) * 1.02, "tv_rows_without_edge": float(res.row_tv[~has_edge].max()),
        "tv_source_rows": float(res.row_tv[has_edge].max()), "final_edge_prob_max": float(res.edge_probs[-1].max()),
        "tau_rl": tau, "tau_prm": tau_prm, "tau_rel_dev": abs(tau / tau_prm - 1), "seconds": seconds,
        "ratios": res.max_ratio, "edge_prob_path": res.edge_probs.min(axis=1),
    }


def _checks(row: dict) -> dict:
    return {
        "converged": bool(row["converged"]),
        "ratio": row["max_ratio"] <= row["ratio_bound"],
        "iterations": abs(row["iterations"] - row["n_star"]) <= max(0.2 * row["n_star"], 2),
        "untouched_rows": row["tv_rows_without_edge"] <= 1e-12,
        "hitting_time": row["tau_rel_dev"] <= 0.05,
    }


def _mechanism(sign: pd.DataFrame) -> str:
    r"""How far the ratio and iteration checks follow from the capped clip plus sign steps (computed).

    One sign step moves an edge's logit up and its row's other logits down by ``LR``, multiplying a small
    p(e) by at most :math:`e^{2\,lr}`; the inner loop stops once p(e) reaches its clipped goal, so the
    per-iteration ratio lies in :math:`[1+c, (1+c)e^{2\,lr}]` and the iteration count between
    :math:`\lfloor n^\star\log(1+c)/(\log(1+c)+2\,lr)\rfloor` and :math:`\lceil n^\star\rceil`.
    """
    step = float(np.exp(2 * LR))
    over = float((sign["max_ratio"] / (1 + sign["clip"])).max())
    log_u = np.log1p(sign["clip"])
    lo = np.floor(sign["n_star"] * log_u / (log_u + 2 * LR))
    hi = np.ceil(sign["n_star"])
    in_band = int(((sign["iterations"] >= lo) & (sign["iterations"] <= hi)).sum())
    ratio_mech = over <= step
    iter_mech = in_band == len(sign)
    text = (
        f"Mechanism: with the ε_max-capped clip and sign steps of lr = {LR}, one inner step multiplies p(e) by at "
        f"most e^(2·lr) = {step:.4f}, so the ratio can pass 1+c by at most that factor; observed max ratio/(1+c) "
        f"{over:.4f} {'≤' if ratio_mech else '>'} e^(2·lr). The iteration count is then confined to "
        f"[⌊n*·log(1+c)/(log(1+c)+2·lr)⌋, ⌈n*⌉]: {in_band}/{len(sign)} runs inside."
    )
    if ratio_mech and iter_mech:
        text += (" So the ratio and iteration checks largely follow from this reconstruction (the capped clip "
                 "plus sign steps with lr = 0.005, overshoot e^(2·lr) < 1.02), not from an independent property "
                 "of PPO-Clip; the untouched-rows and hitting-time checks are the informative ones.")
    else:
        text += " So the ratio and iteration checks are not fully explained by that mechanism."
    return text


def _figure(runs: list[dict]):
    import seaborn as sns

    plt = pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.9))
    pal = dict(zip(CLIPS, sns.color_palette("colorblind", len(CLIPS))))
    for r in runs:
        if r["family"] != "A" or r["optimizer"] != "sign":
            continue
        it = np.arange(len(r["edge_prob_path"]))
        a.plot(it, r["edge_prob_path"], color=pal[r["clip"]], lw=1.2,
               label=f"c={r['clip']}" if r["eps_max"] == EPS_MAX[-1] else None)
        a.plot(it, EPS * (1 + r["clip"]) ** it, color=pal[r["clip"]], lw=0.7, ls=":")
        a.axhline(r["eps_max"], color="grey", lw=0.5, ls="--")
    a.set_yscale("log")
    a.set_xlabel("outer iteration")
    a.set_ylabel("min over Ê of p(e) (family A); dotted: ε(1+c)^k")
    a.set_title("R1: discovered-edge probability under PPO-Clip")
    a.legend(fontsize=7)
    for r in runs:
        if r["family"] != "A" or r["eps_max"] != 1e-2:
            continue
        style = "-" if r["optimizer"] == "sign" else "--"
        colour = pal.get(r["clip"], "k") if r["optimizer"] == "sign" else "k"
        b.plot(np.arange(1, len(r["ratios"]) + 1), r["ratios"], style, color=colour, lw=1.2,
               label=f"{r['optimizer']}, c={r['clip']}")
        b.axhline((1 + r["clip"]) * 1.02, color=colour, lw=0.6, ls=":")
    b.set_yscale("log")
    b.set_xlabel("outer iteration")
    b.set_ylabel("max per-iteration ratio p_new(e)/p_old(e)")
    b.set_title("R1: ratio per iteration (family A, ε_max = 1e-2); dotted: (1+c)·1.02")
    b.legend(fontsize=7)
    fig.tight_layout()
    return fig


def run(quick: bool = False, results=None) -> dict:
    started = time.perf_counter()
    out = output_dir(CLAIM.id, results)
    # The fine-tuning is full-batch and exact, and takes seconds: --quick runs the full experiment.
    runs, search = [], {}
    for fam in FAMILIES:
        chain, edges, precision, recall, _ = searched_edges(fam)
        search[fam] = {"precision": precision, "recall": recall, "n_edges": len(edges)}
        tau_prm = {em: exact.mean_hitting_time(prm_chain(chain, edges, em)) for em in EPS_MAX}
        for clip, em in itertools.product(CLIPS, EPS_MAX):
            runs.append(_one_run(fam, chain, edges, clip, em, tau_prm[em], optimizer="sign", lr=LR,
                                 weighting="uniform"))
        runs.append(_one_run(fam, chain, edges, 0.2, 1e-2, tau_prm[1e-2], optimizer="gd", lr=1e4,
                             weighting="uniform"))
    ruled = [r for r in runs if r["optimizer"] == "sign"]
    checks = [_checks(r) for r in ruled]
    passed = all(all(c.values()) for c in checks)
    data = pd.DataFrame([{k: v for k, v in r.items() if k not in ("ratios", "edge_prob_path")} for r in runs])
    sign = data[data["optimizer"] == "sign"]
    gd = data[data["optimizer"] == "gd"]
    it_dev = (sign["iterations"] - sign["n_star"]).abs()
    measured = (
        f"{sum(all(c.values()) for c in checks)}/{len(checks)} (family, c, ε_max) runs meet every rule. "
        f"Max ratio / (1+c): {(sign['max_ratio'] / (1 + sign['clip'])).max():.4f}; iterations vs n*: max |Δ| "
        f"{it_dev.max():.2f} (n* from {sign['n_star'].min():.1f} to {sign['n_star'].max():.1f}); "
        f"TV on rows without Ê: max {sign['tv_rows_without_edge'].max():.1e}; TV on source rows: max "
        f"{sign['tv_source_rows'].max():.4f} (≈ ε_max − ε; 1/M = {1 / M:.4f}); post-RL E[τ] vs E[τ_PRM]: max rel. "
        f"dev {sign['tau_rel_dev'].max():.2%}. Searched Ê: "
        + "; ".join(f"{f} precision {v['precision']:.3f} recall {v['recall']:.3f}" for f, v in search.items())
        + ". Contrast, plain GD with fixed lr=1e4: "
        + "; ".join(f"{r.family}: {r.iterations} iterations (n* {r.n_star:.1f}), max ratio {r.max_ratio:.2f} vs "
                    f"bound {r.ratio_bound:.3f}" for r in gd.itertuples())
        + ". "
        + _mechanism(sign)
    )
    if not passed:
        failed = sorted({k for c in checks for k, ok in c.items() if not ok})
        measured += (
            f" FAIL on {failed}: see data.csv for the failing runs; the stopping rule and optimiser are our "
            "reconstruction (notes §10.4), so a failure of the iteration count or ratio points at them first."
        )
    fig = _figure(runs)
    verdict = from_claim(
        CLAIM, measured, passed, quick, search=search,
        per_run=[{**r, **{f"ok_{k}": v for k, v in c.items()}} for r, c in zip(
            data[data["optimizer"] == "sign"].to_dict("records"), checks)],
        gd_contrast=gd.to_dict("records"),
        note="Sign-gradient ascent ignores the state weighting except where it is 0, so the ruled runs use "
             "'uniform' ('occupancy' gives identical runs); the fixed-step GD contrast overshoots the clip once "
             "p(e) grows, because its step scales with p(e).",
    )
    return vars(write(verdict, data, fig, out, started))
