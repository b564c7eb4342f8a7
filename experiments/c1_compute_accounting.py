r"""C1: end-to-end compute accounting of the four ways to reason on a metastable chain.

On family A with :math:`K = 8, M = 16` and :math:`\varepsilon_{\max} = 0.1`, for
:math:`\varepsilon \in \{10^{-2}, 10^{-3}, 10^{-4}\}`, count the chain-of-thought steps of

(a) the base CoT: :math:`\mathbb{E}[\tau]` per query (exact);
(b) Sparse Edge Search once, then PRM-guided CoT per query (search cost measured; per-query exact);
(c) the same search, PPO-Clip fine-tuning, then CoT with the fine-tuned model per query;
(d) the same search, meta-chain distillation with :math:`\beta = \log(M/\varepsilon)`, then
    inference with the distilled model per query (exact; the student is trained on the exact
    meta-chain, i.e. with unlimited distillation data, whose size the theory puts at
    :math:`\Theta(M^2/\varepsilon^2)` and which is reported, not simulated).

The paper's story (§3–4) predicts: (a) grows as :math:`1/\varepsilon`; the one-off search grows
as :math:`1/\varepsilon`; per-query costs of (b) and (c) scale with :math:`1/\varepsilon_{\max}`
(flat in :math:`\varepsilon`); (d) needs :math:`O(K)` steps per query, flat in :math:`\varepsilon`.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from experiments._common import Claim, from_claim, loglog_slope, output_dir, write
from metacot import exact, plots
from metacot.markov.families import line_of_cliques
from metacot.theory import (
    distill_exact,
    logits_from_chain,
    ppo_clip,
    prm_chain,
    search_parameters,
    sparse_edge_search,
    time_rescaling,
)

CLAIM = Claim(
    id="C1",
    paper="metastable-cot",
    claim=(
        "Search, RL and distillation provably cut the cost of reasoning: search costs about one unsearched CoT, "
        "then PRM/RL queries cost Θ̃(KM/ε_max) and distilled queries O(K) (abstract; Prop 3.3, 3.4; Thm 4.3)."
    ),
    formalisation=(
        "line_of_cliques(K=8, M=16, ε), ε ∈ {1e-2, 1e-3, 1e-4}, ε_max = 0.1. Search: search_parameters(K, M, ε) "
        "defaults, seeds 0–2 (mean cost). PPO: exact logits, clip 0.2, sign steps lr 0.005, uniform weighting. "
        "Distillation: exact meta-chain student, β = log(M/ε)."
    ),
    prediction=(
        "Slopes vs 1/ε: (a) per-query 1; one-off search 1; (b), (c) per-query 0; (d) per-query 0 with O(K) steps."
    ),
    disclosure=(
        "The notes' C1 grid has three ε values, so each slope is fitted on 3 points (1 degree of freedom: wide "
        "intervals), fewer than the 5 points the notes ask of other slopes."
    ),
    rule="Every slope within ±0.1 of its prediction, and (d) per-query ≤ 2K steps at every ε.",
)

K, M, EPS_MAX, CLIP = 8, 16, 0.1, 0.2
EPS = [1e-2, 1e-3, 1e-4]
SEEDS = [0, 1, 2]


def run(quick: bool = False, results=None) -> dict:
    started = time.perf_counter()
    out = output_dir(CLAIM.id, results)
    seeds = SEEDS[:1] if quick else SEEDS
    rows = []
    for eps in EPS:
        chain = line_of_cliques(K, M, eps)
        searches = [sparse_edge_search(chain, **search_parameters(K, M, eps), seed=s) for s in seeds]
        edges = searches[0].edges
        tuned = ppo_clip(logits_from_chain(chain), edges, clip=CLIP, lr=0.005, eps_max=EPS_MAX)
        distilled = distill_exact(chain, time_rescaling(M, eps))
        rows.append({
            "eps": eps,
            "a_base_per_query": exact.mean_hitting_time(chain),
            "search_one_off": float(np.mean([s.steps for s in searches])),
            "edges_found": len(edges),
            "b_prm_per_query": exact.mean_hitting_time(prm_chain(chain, edges, EPS_MAX)),
            "c_ppo_per_query": exact.mean_hitting_time(tuned.table.to_chain(chain)),
            "c_ppo_iterations": tuned.n_iter,
            "d_distilled_per_query": distilled.hitting_time(),
            "d_distillation_data_theory": M**2 / eps**2,
        })
    data = pd.DataFrame(rows)
    inv = 1 / data["eps"]
    predicted = {"a_base_per_query": 1.0, "search_one_off": 1.0, "b_prm_per_query": 0.0,
                 "c_ppo_per_query": 0.0, "d_distilled_per_query": 0.0}
    slopes = {q: loglog_slope(inv, data[q]) for q in predicted}
    ok_slopes = all(abs(slopes[q].slope - p) <= 0.1 for q, p in predicted.items())
    ok_flat = bool((data["d_distilled_per_query"] <= 2 * K).all())
    all_found = bool((data["edges_found"] == K - 1).all())
    tail = loglog_slope(inv.iloc[1:], data["search_one_off"].iloc[1:])
    # Probability that some phase-1 rollout of a round already leaves its cluster (exit rate eps/M
    # per step at the exit state's share 1/M of the time): then the round's visited set spans two
    # clusters and the round tends to run to T_max. This is the pre-asymptotic overhead at large eps.
    p = search_parameters(K, M, EPS[0])
    leak = 1 - (1 - EPS[0] / M) ** (p["N"] * p["T0"])
    measured = (
        "slopes vs 1/ε: " + "; ".join(f"{q}: {s}" for q, s in slopes.items())
        + f"; distilled per-query steps {', '.join(f'{v:.2f}' for v in data['d_distilled_per_query'])}"
        + f"; PPO iterations {data['c_ppo_iterations'].tolist()}; edges found {data['edges_found'].tolist()} of {K - 1}"
        + f"; search slope over the two smallest ε: {tail.slope:.3f}"
    )
    failed = [q for q, p in predicted.items() if abs(slopes[q].slope - p) > 0.1]
    note = ""
    if failed:
        note = f" FAIL: slope(s) off the prediction: {', '.join(failed)}."
    if "search_one_off" in failed:
        note += (
            f" At ε = {EPS[0]:g} a round's {p['N']} phase-1 rollouts of {p['T0']} steps leave their cluster "
            f"with probability {leak:.2f}; the visited set then spans two clusters and such rounds run on to "
            f"T_max, an overhead that does not shrink with 1/ε (the regime T0·N ≪ M/ε fails). Over the two "
            f"smallest ε the search slope is {tail.slope:.3f} with {len(seeds)} seed(s)"
            + (", within the rule there: a pre-asymptotic effect." if abs(tail.slope - 1) <= 0.1 else
               ", still off: not explained by the leak alone; unresolved.")
        )
    measured += note
    long = data.melt(id_vars="eps", value_vars=list(predicted), var_name="cost", value_name="steps")
    long["inv_eps"] = 1 / long["eps"]
    fig = plots.scaling(long, "inv_eps", "steps", "cost", xlabel="1/ε", ylabel="CoT steps",
                        title=f"C1: compute accounting (K={K}, M={M}, ε_max={EPS_MAX})",
                        slopes={q: s.slope for q, s in slopes.items()})
    verdict = from_claim(CLAIM, measured, ok_slopes and ok_flat, quick,
                         slopes={q: vars(s) for q, s in slopes.items()}, all_edges_found=all_found,
                         search_seeds=seeds, search_slope_two_smallest_eps=tail.slope, note=note)
    return vars(write(verdict, data, fig, out, started))
