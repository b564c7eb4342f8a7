r"""L1: with only local information the logical task is exponentially hard; with the graph it is easy (Thm 5.3).

The task (:mod:`metacot.theory.logic`; project notes §6 and experiment L1): a CoT path takes
:math:`L` low-probability steps, :math:`K` of them sparse (inter-cluster) and :math:`L-K` decoys
(intra-cluster edges of the same probability :math:`\varepsilon`); each step comes in two variants
:math:`\sigma_t = \pm 1` and the answer is :math:`y = \prod_{t \in S} \sigma_t` over the sparse
positions :math:`S`. Locally the steps look identical, so every :math:`K`-subset of the :math:`L`
positions is a candidate: :math:`\binom{L}{K}` parities, pairwise orthogonal, hence an SQ dimension
of at least :math:`\binom{L}{K}`. A learner holding the clusters reads off :math:`S` and solves a
:math:`K`-variable linear system over GF(2).
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd

from experiments._common import Claim, from_claim, output_dir, write
from metacot.theory.logic import (
    accuracy,
    fit_correlational,
    fit_global,
    local_features,
    log_num_hypotheses,
    logic_task,
    parity_gram,
    sample,
    target_correlations,
)

CLAIM = Claim(
    id="L1",
    paper="metastable-cot",
    claim=(
        "When the model is restricted to local information of the pretrained graph, the logical "
        "(group-action) reasoning task has exponentially large SQ dimension; with global access to the "
        "graph it is learnable efficiently (Thm 5.3)."
    ),
    formalisation=(
        "G = Z₂, L = 2K. Chain: logic_task(K, L, M=8, ε=1e-2, seed=K): K+1 lazy-cycle clusters, K sparse "
        "edges and L−K decoy intra-cluster edges, all of probability ε, states randomly relabelled. "
        "(a) exact enumeration over all 2^L inputs for K = 1..6: Gram matrix of the C(L,K) parities, and "
        "correlations of y with every monomial of order ≤ 2 for the task's S; log C(2K, K) for K = 2..40. "
        "(b) K ∈ {2, 4, 6, 8} (--quick: {2, 4, 6}): global learner (S from the clusters, GF(2) "
        "elimination) with n ∈ {K, K+2, K+5, 2K, 5K, 10K, 20K} samples; local correlational learners of "
        "order 1 and 2 with n ∈ {1e2, 1e3, 1e4, 1e5}; test accuracy on 20 000 fresh samples. "
        "Seeds: training 1000+K (local: 1000+K+n), test 10⁶+K (outside every training seed)."
    ),
    prediction=(
        "(a) SDA ≥ C(L, K), exponential in K for L = αK, and every single-step correlation with y is 0 "
        "for K ≥ 2; (b) the global learner needs O(K) samples, a local learner stays at chance for any "
        "polynomial budget."
    ),
    rule=(
        "(a) max |corr| off the diagonal ≤ 1e-12 and |diag − 1| ≤ 1e-12 for K = 1..6; single-step "
        "correlations ≤ 1e-12 in magnitude for K ≥ 2; log C(2K, K) linear in K (least-squares R² ≥ 0.99 "
        "over K = 2..40, positive slope). (b) global accuracy ≥ 99% with n = 20K samples for every K; "
        "local accuracy ≤ 55% at n = 1e5 for K ≥ 4 (orders 1 and 2); the local features of sparse and "
        "decoy steps are identical."
    ),
)

TEST_N = 20_000
# Training seeds are 1000+K (global) and 1000+K+n (local, n ≤ 1e5); the test seed lies above all of them.
TEST_SEED = 10**6
LOCAL_N = (100, 1_000, 10_000, 100_000)


def _enumeration() -> tuple[list[dict], dict]:
    rows, worst = [], {"gram_off": 0.0, "gram_diag": 0.0, "single_step": 0.0}
    for K in range(1, 7):
        L = 2 * K
        G, hyps = parity_gram(L, K)
        off = float(np.abs(G - np.diag(np.diag(G))).max()) if len(hyps) > 1 else 0.0
        diag = float(np.abs(np.diag(G) - 1).max())
        task = logic_task(K, L, seed=K)
        corr, monomials = target_correlations(L, task.S, order=2)
        order = np.array([len(m) for m in monomials])
        single = float(np.abs(corr[order == 1]).max())
        pair = float(np.abs(corr[order == 2]).max())
        rows.append({"part": "enumeration", "K": K, "L": L, "hypotheses": len(hyps), "gram_max_offdiag": off,
                     "gram_max_diag_err": diag, "max_single_step_corr": single, "max_pair_corr": pair})
        worst["gram_off"] = max(worst["gram_off"], off)
        worst["gram_diag"] = max(worst["gram_diag"], diag)
        if K >= 2:
            worst["single_step"] = max(worst["single_step"], single)
    return rows, worst


def _growth() -> dict:
    ks = np.arange(2, 41)
    logs = np.array([log_num_hypotheses(2 * k, k) for k in ks])
    slope, intercept = np.polyfit(ks, logs, 1)
    resid = logs - (slope * ks + intercept)
    r2 = 1 - float(resid @ resid) / float(((logs - logs.mean()) ** 2).sum())
    return {"slope": float(slope), "intercept": float(intercept), "r2": r2, "ks": ks.tolist(),
            "log_hypotheses": logs.tolist()}


def _learners(ks) -> tuple[list[dict], bool]:
    rows, features_match = [], True
    for K in ks:
        task = logic_task(K, 2 * K, seed=K)
        feats = local_features(task)
        features_match &= bool(np.all(feats == feats[0]))
        test = sample(task, TEST_N, seed=TEST_SEED + K)
        for n in sorted({K, K + 2, K + 5, 2 * K, 5 * K, 10 * K, 20 * K}):
            acc = accuracy(fit_global(task, *sample(task, n, seed=1000 + K)), *test)
            rows.append({"part": "learner", "K": K, "L": task.L, "learner": "global", "n": n, "accuracy": acc})
        for order in (1, 2):
            for n in LOCAL_N:
                model = fit_correlational(*sample(task, n, seed=1000 + K + n), order=order)
                rows.append({"part": "learner", "K": K, "L": task.L, "learner": f"local (order {order})", "n": n,
                             "accuracy": accuracy(model, *test)})
    return rows, features_match


def _figure(learn: pd.DataFrame, growth: dict):
    from metacot.plots import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for (learner, K), p in learn.groupby(["learner", "K"]):
        style = "o-" if learner == "global" else ("s--" if "1" in learner else "^:")
        axes[0].plot(p["n"], p["accuracy"], style, ms=3.5, label=f"{learner}, K={K}")
    axes[0].axhline(0.99, color="grey", lw=0.8, ls=":")
    axes[0].axhline(0.55, color="grey", lw=0.8, ls=":")
    axes[0].set(xscale="log", xlabel="training samples n", ylabel=f"test accuracy ({TEST_N} samples)",
                title="L1: global vs local learners, L = 2K")
    axes[0].legend(fontsize=5.5, ncol=2)
    axes[1].plot(growth["ks"], growth["log_hypotheses"], "o", ms=3, label="log C(2K, K)")
    ks = np.array(growth["ks"])
    axes[1].plot(ks, growth["slope"] * ks + growth["intercept"], "k:",
                 label=f"linear, slope {growth['slope']:.3f} (R² {growth['r2']:.5f})")
    axes[1].set(xlabel="K", ylabel="log #orthogonal hypotheses", title="L1: SQ-dimension lower bound")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def run(quick: bool = False, results=None) -> dict:
    started = time.perf_counter()
    out = output_dir(CLAIM.id, results)
    enum_rows, worst = _enumeration()
    growth = _growth()
    ks = (2, 4, 6) if quick else (2, 4, 6, 8)
    learn_rows, features_match = _learners(ks)
    learn = pd.DataFrame(learn_rows)
    glob = learn[learn["learner"] == "global"]
    at_20k = glob[glob["n"] == 20 * glob["K"]]
    local = learn[(learn["learner"] != "global") & (learn["K"] >= 4) & (learn["n"] == LOCAL_N[-1])]
    first_99 = {int(K): int(p.loc[p["accuracy"] >= 0.99, "n"].min()) for K, p in glob.groupby("K")
                if (p["accuracy"] >= 0.99).any()}
    part_a = (worst["gram_off"] <= 1e-12 and worst["gram_diag"] <= 1e-12 and worst["single_step"] <= 1e-12
              and growth["r2"] >= 0.99 and growth["slope"] > 0)
    part_b = bool(at_20k["accuracy"].min() >= 0.99 and local["accuracy"].max() <= 0.55 and features_match)
    passed = part_a and part_b
    measured = (
        f"(a) max |Gram − I|: off-diagonal {worst['gram_off']:.1e}, diagonal {worst['gram_diag']:.1e} "
        f"(K ≤ 6, up to C(12,6) = 924 hypotheses); max single-step |corr| for K ≥ 2: {worst['single_step']:.1e}; "
        f"log C(2K,K) vs K: slope {growth['slope']:.3f} nats/K, R² {growth['r2']:.5f}. "
        f"(b) global accuracy at n = 20K: min {at_20k['accuracy'].min():.4f}; first n with ≥ 99%: {first_99}; "
        f"local accuracy at n = 1e5, K ≥ 4: max {local['accuracy'].max():.4f} "
        f"(chance 0.5, test SE 0.0035); local features identical for sparse and decoy steps: {features_match}"
        + (" (--quick: K ≤ 6 for the learners)" if quick else "")
    )
    data = pd.concat([pd.DataFrame(enum_rows), learn], ignore_index=True)
    verdict = from_claim(CLAIM, measured, passed, quick, worst=worst, growth_slope=growth["slope"],
                         growth_r2=growth["r2"], first_n_99=first_99, features_match=features_match,
                         log_hypotheses_K40=math.log(math.comb(80, 40)))
    return vars(write(verdict, data, _figure(learn, growth), out, started))
