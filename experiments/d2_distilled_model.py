r"""D2: the time-rescaled distilled model reaches the target cluster in O(K) steps, for every ε (Thm 4.3).

Algorithm 4's last step shifts the student's off-diagonal logits by
:math:`\beta = \log(M/\varepsilon) + b` (:math:`Z^+ = Z + \beta(\mathbf 1\mathbf 1^\top - I)`; the
additive form is the notes' reading [R]). The per-step leave probability of a cluster with escape
rate :math:`n\varepsilon/M` becomes :math:`n e^b/(1 - n\varepsilon/M + n e^b)`, so the model's hitting
time should be :math:`O(K)` and free of :math:`\varepsilon`, while the jump chain (escape
probabilities) is untouched. Two parts:

- **exact**: the student trained on the exact meta-chain (:func:`metacot.theory.distill.distill_exact`,
  the infinite-data optimum) over the notes' full range :math:`\varepsilon \in [10^{-4}, 10^{-1}]`
  and :math:`K \in [4, 32]`;
- **data**: students trained from trajectories exactly as in D1 (:math:`T = 10\,M^2/\varepsilon^2`),
  which limits :math:`\varepsilon` to :math:`\ge 3 \cdot 10^{-3}` (a trajectory of
  :math:`10\,M^2/\varepsilon^2` steps at :math:`\varepsilon = 10^{-4}` would have :math:`2.6 \cdot 10^{10}`
  steps).

The notes ask for the slope against :math:`K`; on a line a path needs :math:`K-1` hard steps
(Assumption 3), and :math:`\mathbb E[\tau] = \sum_{k<K-1} 1/p_k` is exactly proportional to
:math:`K-1` when every cluster has the same leave probability. We regress on :math:`K-1`; regressing
on :math:`K` over :math:`K \in \{4, 6, 8, 12, 16, 24, 32\}` would give 1.116 from the offset alone
(the least-squares slope of :math:`\log(K-1)` on :math:`\log K`, computed before running, not from a
run), outside the rule's ±0.1 although the model is exactly linear in the number of hard steps.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from experiments import _distill_setup as d1
from experiments._common import Claim, from_claim, loglog_slope, output_dir, write
from metacot import exact
from metacot.markov.families import random_clusters
from metacot.theory.counts import transition_counts
from metacot.theory.distill import distill, distill_exact, jump_tv, leave_probabilities, time_rescaling

CLAIM = Claim(
    id="D2",
    paper="metastable-cot",
    claim=(
        "The time-rescaled distilled model q̂_{Z⁺}, Z⁺ = Z + β(11ᵀ − I) with β = log(M/ε) + b, reaches "
        "the target cluster in O(K) expected steps independently of ε and keeps the escape "
        "probabilities of the base dynamics (Thm 4.3)."
    ),
    formalisation=(
        "M = 16, ER clusters (random_clusters(K, 16, ε, kind='er', seed=0)); meta-graphs 'line' and "
        "'line_back' (back_rate 1); b ∈ {0, 2}. Exact part: student = CE-GD optimum on the exact "
        "meta-chain, ε ∈ {1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4}, K ∈ {4, 6, 8, 12, 16, 24, 32}. "
        "Data part: line_back, K = 4, students of D1 (T = 10M²/ε², ε ∈ D1's grid, its seeds); "
        "line with restarts at X_out, ε = 1e-2, T = 10M²/ε², K ∈ {4, 6, 8, 12, 16, 24, 32}, seed 7. "
        "E[τ] of the target cluster by an exact solve on the K-state chain q̂_{Z⁺}."
    ),
    prediction="E[τ] under q̂_{Z⁺} is O(K) and ε-independent; the jump chain equals that of q°_ε.",
    rule=(
        "|slope of log E[τ] vs log ε| < 0.05 for every (meta-graph, K, b) (data part: mean over seeds); "
        "on the line, slope of log E[τ] vs log(K−1) = 1 ± 0.1 for every (ε, b), in both parts; "
        "max over clusters of TV(jump row of q̂_{Z⁺}, jump row of q°_ε) ≤ 0.05 everywhere."
    ),
    disclosure=(
        "Departs from the notes' rule, which asks for the slope of E[τ] against K: we regress on K−1, the number "
        "of hard steps on a line. Decided before running, from the closed form (E[τ] is exactly proportional to "
        "K−1 when every cluster has the same leave probability): against K, a pure offset gives the "
        "least-squares slope of log(K−1) on log K, 1.116 over K ∈ {4, 6, 8, 12, 16, 24, 32} (1.121 over the "
        "--quick K ∈ {4, 8, 16, 32}), outside the rule's 1 ± 0.1."
    ),
)

M = 16
BS = (0.0, 2.0)
EPS_EXACT = (1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4)
KS = (4, 6, 8, 12, 16, 24, 32)
KS_QUICK = (4, 8, 16, 32)
LINE_SEED = 7


def chain(meta: str, K: int, eps: float):
    back = {"back_rate": 1.0} if meta == "line_back" else {}
    return random_clusters(K, M, eps, kind="er", meta=meta, seed=0, **back)


def _exact_part(ks) -> list[dict]:
    rows = []
    for meta in ("line", "line_back"):
        for K in ks:
            for eps in EPS_EXACT:
                base = chain(meta, K, eps)
                q = exact.meta_chain(base)
                for b in BS:
                    model = distill_exact(base, time_rescaling(M, eps, b))
                    rows.append({"part": "exact", "meta": meta, "K": K, "eps": eps, "b": b, "seed": -1,
                                 "E_tau": model.hitting_time(), "jump_tv": float(np.nanmax(jump_tv(model.distilled, q))),
                                 "leave_p0": float(leave_probabilities(model.distilled)[0])})
    return rows


def _data_part(quick: bool) -> list[dict]:
    rows = []
    eps_values = d1.EPS[:3] if quick else d1.EPS
    seeds = d1.SEEDS[:2] if quick else d1.SEEDS
    for eps in eps_values:
        q = exact.meta_chain(d1.family(eps))
        for seed, _, _, model in d1.students(eps, seeds, multipliers=(10,)):
            for b in BS:
                beta = time_rescaling(M, eps, b)
                tuned = model.rescaled(beta)
                rows.append({"part": "data", "meta": "line_back", "K": d1.K, "eps": eps, "b": b, "seed": seed,
                             "E_tau": tuned.hitting_time(), "jump_tv": float(np.nanmax(jump_tv(tuned.distilled, q))),
                             "leave_p0": float(leave_probabilities(tuned.distilled)[0])})
    eps = 1e-2
    for K in (KS_QUICK if quick else KS):
        base = chain("line", K, eps)
        q = exact.meta_chain(base)
        data = transition_counts(base, round(10 * M**2 / eps**2), seed=LINE_SEED)
        for b in BS:
            model = distill(data, time_rescaling(M, eps, b))
            rows.append({"part": "data", "meta": "line", "K": K, "eps": eps, "b": b, "seed": LINE_SEED,
                         "E_tau": model.hitting_time(), "jump_tv": float(np.nanmax(jump_tv(model.distilled, q))),
                         "leave_p0": float(leave_probabilities(model.distilled)[0])})
    return rows


def _slopes(data: pd.DataFrame) -> tuple[dict, dict]:
    eps_slopes, k_slopes = {}, {}
    mean = data.groupby(["part", "meta", "K", "b", "eps"], as_index=False)["E_tau"].mean()
    for (part, meta, K, b), p in mean.groupby(["part", "meta", "K", "b"]):
        if p["eps"].nunique() >= 3:
            eps_slopes[(part, meta, K, b)] = loglog_slope(p["eps"].to_numpy(), p["E_tau"].to_numpy())
    for (part, eps, b), p in mean[mean["meta"] == "line"].groupby(["part", "eps", "b"]):
        if p["K"].nunique() >= 3:
            k_slopes[(part, eps, b)] = loglog_slope(p["K"].to_numpy() - 1.0, p["E_tau"].to_numpy())
    return eps_slopes, k_slopes


def _figure(data: pd.DataFrame):
    from metacot.plots import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    ex = data[(data["part"] == "exact")]
    for (meta, K, b), p in ex[ex["K"].isin([4, 32])].groupby(["meta", "K", "b"]):
        axes[0].plot(p["eps"], p["E_tau"], "o-", ms=3, label=f"{meta}, K={K}, b={b:g}")
    dd = data[(data["part"] == "data") & (data["meta"] == "line_back")].groupby(["b", "eps"], as_index=False)["E_tau"].mean()
    for b, p in dd.groupby("b"):
        axes[0].plot(p["eps"], p["E_tau"], "s", mfc="white", label=f"data, line_back K=4, b={b:g}")
    axes[0].set(xscale="log", yscale="log", xlabel="ε", ylabel="E[τ] under q̂_{Z⁺} (steps)",
                title="D2: distilled hitting time vs ε")
    axes[0].legend(fontsize=6)
    line = data[(data["meta"] == "line") & (data["eps"] == 1e-2)]
    for (part, b), p in line.groupby(["part", "b"]):
        axes[1].plot(p["K"] - 1, p["E_tau"], "o-" if part == "exact" else "s--", label=f"{part}, b={b:g}")
    axes[1].set(xscale="log", yscale="log", xlabel="K − 1 (hard steps)", ylabel="E[τ] (steps)",
                title="D2: line meta-graph, ε = 1e-2")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def run(quick: bool = False, results=None) -> dict:
    started = time.perf_counter()
    out = output_dir(CLAIM.id, results)
    data = pd.DataFrame(_exact_part(KS_QUICK if quick else KS) + _data_part(quick))
    eps_slopes, k_slopes = _slopes(data)
    worst_eps = max(abs(s.slope) for s in eps_slopes.values())
    worst_k = max(abs(s.slope - 1) for s in k_slopes.values())
    worst_tv = {part: float(p["jump_tv"].max()) for part, p in data.groupby("part")}
    passed = worst_eps < 0.05 and worst_k <= 0.1 and max(worst_tv.values()) <= 0.05
    ex6 = data[(data["part"] == "exact") & (data["meta"] == "line")]
    leave = {b: (float(p["leave_p0"].min()), float(p["leave_p0"].max())) for b, p in ex6.groupby("b")}

    def fmt(d: dict) -> str:
        return "; ".join(f"{'/'.join(map(str, k))}: {v}" for k, v in d.items())

    measured = (
        f"max |slope vs ε| = {worst_eps:.4f} over {len(eps_slopes)} series; max |slope vs K−1 − 1| = "
        f"{worst_k:.4f} over {len(k_slopes)} series; max jump-row TV: exact {worst_tv.get('exact', np.nan):.1e}, "
        f"data {worst_tv.get('data', np.nan):.3f}; line leave probability b=0: "
        f"{leave[0.0][0]:.4f}–{leave[0.0][1]:.4f}, b=2: {leave[2.0][0]:.4f}–{leave[2.0][1]:.4f}. "
        f"Exact K-slopes in [{min(v.slope for k, v in k_slopes.items() if k[0] == 'exact'):.4f}, "
        f"{max(v.slope for k, v in k_slopes.items() if k[0] == 'exact'):.4f}]; exact ε-slopes up to "
        f"{max(abs(v.slope) for k, v in eps_slopes.items() if k[0] == 'exact'):.1e} in magnitude. Data: "
        + fmt({k: v for k, v in k_slopes.items() if k[0] == "data"}) + "; "
        + fmt({k: v for k, v in eps_slopes.items() if k[0] == "data"})
        + (" (--quick: K ∈ {4, 8, 16, 32}, data ε ≥ 5e-3, 2 seeds)" if quick else "")
    )
    verdict = from_claim(
        CLAIM, measured, passed, quick,
        eps_slopes={"/".join(map(str, k)): vars(v) for k, v in eps_slopes.items()},
        k_slopes={"/".join(map(str, k)): vars(v) for k, v in k_slopes.items()},
        max_jump_tv=worst_tv, leave_probability_line=leave,
    )
    return vars(write(verdict, data, _figure(data), out, started))
