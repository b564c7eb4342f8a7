r"""M12: are the behaviour sequences of real traces a homogeneous first-order Markov chain?

M7 found that real traces stay in one behaviour longer than the first-order chain fitted to them
predicts (issue 17). Here the first-order assumption is tested directly on the 231 annotated
ReasoningFlow traces (labels by the ReasoningFlow mapping), per source model: likelihood-ratio
tests of order :math:`k` against :math:`k+1` (:mod:`metacot.structure.markov_tests`), AIC/BIC of
orders 0-3, and held-out log-likelihood (5-fold by trace) of orders 0-3 and a semi-Markov model
with per-behaviour dwell hazards (:mod:`metacot.structure.markov_models`). Homogeneity: across the
three teachers, across domains (AIME, argument essays) within each source, and early against late
half of the traces. Budgets: the posterior law of the lifted chain fitted to each teacher's traces
(:mod:`metacot.graphs.posterior`), :math:`\Pr(n \le B)` with 90% intervals, against the share of
traces that finish within :math:`B` steps.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from experiments._common import Claim, from_claim, output_dir, write
from experiments._molecular import INSTRUCT, SOURCES, TEACHERS, annotated
from metacot.behaviours import BEHAVIOURS
from metacot.graphs import posterior as po
from metacot.graphs.labelling import label_traces
from metacot.graphs.mapping import ReasoningFlowLabeller
from metacot.structure import markov_models as mm
from metacot.structure import markov_tests as mt
from metacot.structure.path_fit import index_paths

CLAIM = Claim(
    id="M12",
    paper="metastable-cot",
    claim=(
        "The metastable-chain reading of reasoning assumes that behaviour sequences are a homogeneous "
        "first-order Markov chain (issue 17); M7's excess of long stays suggests they are not."
    ),
    formalisation=(
        "231 annotated ReasoningFlow traces, ReasoningFlowLabeller, 4 behaviours. Per source model: G^2 tests "
        "of order k vs k+1 (k = 0..3, df by the observed-support rule), AIC/BIC of orders 0..3 on t >= 3, "
        "5-fold (by trace, seed 0) held-out log-likelihood of order-0..3 chains (hierarchical Dirichlet, "
        "beta = 2) and a semi-Markov dwell-hazard model (max_age 20, beta = 2), gain over order 1 with a "
        "2,000-resample trace bootstrap 95% interval. Homogeneity G^2 tests across the three teachers, across "
        "domains within each source, early vs late half. Budgets: lifted-chain Dirichlet posterior (prior 1, "
        "1,000 draws) P(n <= B) with 90% intervals against the empirical share."
    ),
    prediction=(
        "For each of the three teachers, the best held-out model is not order 1 and its gain over order 1 has "
        "a 95% interval above 0; and first-order homogeneity across the three teachers is rejected at 0.05."
    ),
    rule="Pass iff both parts of the prediction hold (fixed before the first run).",
)

BUDGETS = (10, 25, 50, 100, 200, 400)


def models() -> dict:
    return {**{f"order {k}": mm.MarkovModel(k) for k in range(4)}, "semi-Markov": mm.SemiMarkovModel()}


def run(quick: bool = False, results=None) -> dict:
    started = time.perf_counter()
    out = output_dir(CLAIM.id, results)
    traces = label_traces(list(annotated()), ReasoningFlowLabeller())
    n_boot, n_draws = (300, 300) if quick else (2000, 1000)
    rows, verdicts, budget_rows = [], {}, []
    seqs_of = {}
    for src in SOURCES:
        ts = [t for t in traces if t.source_model == src]
        paths = index_paths(ts, BEHAVIOURS)
        seqs_of[src] = (paths, [str(t.metadata.get("domain")) for t in ts])
        enc = mt.encode_sequences(paths, alphabet=range(4))
        for r in mt.order_tests(enc, 3):
            rows.append({"source": src, "test": r.name, "statistic": r.statistic, "df": r.df, "p": r.p_value})
        sc = mt.order_scores(enc, 3)
        for k in range(4):
            rows.append({"source": src, "test": f"order {k} score", "statistic": sc.loglik[k], "df": sc.n_params[k],
                         "aic": sc.aic[k], "bic": sc.bic[k]})
        for r in (mt.position_test(enc), mt.homogeneity_test(enc, seqs_of[src][1])):
            rows.append({"source": src, "test": r.name + (" (domains)" if "groups" in r.name else ""),
                         "statistic": r.statistic, "df": r.df, "p": r.p_value})
        ll = mm.heldout_loglik(enc, models(), folds=5, seed=0)
        lengths = enc.lengths
        best = max(ll, key=lambda name: ll[name].sum())
        comps = {name: mm.compare_heldout(ll, lengths, name, "order 1", n_boot=n_boot, seed=0) for name in ll}
        for name, c in comps.items():
            rows.append({"source": src, "test": f"held-out {name} - order 1", "statistic": c.gain,
                         "gain_per_step": c.gain_per_step, "low": c.low, "high": c.high})
        verdicts[src] = {"best_heldout": best, "gain_per_step": comps[best].gain_per_step,
                         "interval": [comps[best].low, comps[best].high], "best_bic": sc.best_bic,
                         "best_aic": sc.best_aic}
        verdicts[src]["order_tests_p"] = [r["p"] for r in rows if r["source"] == src and r["test"].startswith("order")
                                          and "score" not in r["test"]]
        if src in TEACHERS:
            post = po.lifted_posterior(paths, k=4)
            Q, _, mu = post.sample(n_draws, seed=0)
            draws = po.batch_within(Q, mu, BUDGETS)
            lo, hi = po.credible_interval(draws, 0.9)
            emp = po.empirical_within(lengths, BUDGETS)
            for j, B in enumerate(BUDGETS):
                budget_rows.append({"source": src, "B": B, "chain_mean": float(draws[:, j].mean()),
                                    "chain_lo90": float(lo[j]), "chain_hi90": float(hi[j]), "empirical": float(emp[j])})
    teach = [p for s in TEACHERS for p in seqs_of[s][0]]
    groups = [s for s in TEACHERS for _ in seqs_of[s][0]]
    across = mt.homogeneity_test(mt.encode_sequences(teach, alphabet=range(4)), groups)
    rows.append({"source": "teachers", "test": across.name, "statistic": across.statistic, "df": across.df,
                 "p": across.p_value})
    inst = [p for s in INSTRUCT for p in seqs_of[s][0]]
    across_i = mt.homogeneity_test(mt.encode_sequences(inst, alphabet=range(4)), [s for s in INSTRUCT for _ in seqs_of[s][0]])
    rows.append({"source": "instruct", "test": across_i.name, "statistic": across_i.statistic, "df": across_i.df,
                 "p": across_i.p_value})
    not_first = {s: verdicts[s]["best_heldout"] != "order 1" and verdicts[s]["interval"][0] > 0 for s in TEACHERS}
    passed = all(not_first.values()) and across.p_value < 0.05
    data = pd.DataFrame(rows)
    budgets = pd.DataFrame(budget_rows)
    measured = "; ".join(
        f"{s}: best held-out {v['best_heldout']} ({v['gain_per_step']:+.4f} nats/step over order 1, 95% "
        f"[{v['interval'][0]:.1f}, {v['interval'][1]:.1f}] nats), BIC order {v['best_bic']}, AIC order {v['best_aic']}, "
        f"order-test p {[f'{p:.2g}' for p in v['order_tests_p']]}"
        for s, v in verdicts.items()
    ) + (f"; homogeneity across teachers G2 = {across.statistic:.1f}, df {across.df}, p = {across.p_value:.2g}; "
         f"across instruct models p = {across_i.p_value:.2g}")
    fig = _figure(data, budgets)
    budgets.to_csv(out / "budgets.csv", index=False)
    verdict = from_claim(CLAIM, measured, passed, quick, per_source=verdicts, teachers_not_first_order=not_first,
                         across_teachers_p=across.p_value, across_instruct_p=across_i.p_value,
                         budgets=budgets.round(4).to_dict("records"))
    return vars(write(verdict, data, fig, out, started))


def _figure(data: pd.DataFrame, budgets: pd.DataFrame):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    held = data[data["test"].str.startswith("held-out")]
    names = [f"order {k}" for k in (0, 2, 3)] + ["semi-Markov"]
    x = np.arange(len(SOURCES))
    for j, name in enumerate(names):
        part = held[held["test"] == f"held-out {name} - order 1"].set_index("source").reindex(list(SOURCES))
        axes[0].bar(x + 0.2 * j, part["gain_per_step"].clip(lower=-0.3), width=0.2, label=name)
    axes[0].axhline(0, color="k", lw=0.8)
    axes[0].set_xticks(x + 0.3, SOURCES, fontsize=7, rotation=15)
    axes[0].set_ylabel("held-out gain over order 1 (nats/step)")
    axes[0].legend(fontsize=7)
    for src, part in budgets.groupby("source"):
        line = axes[1].plot(part["B"], part["empirical"], "o-", label=f"{src} traces")[0]
        axes[1].fill_between(part["B"], part["chain_lo90"], part["chain_hi90"], color=line.get_color(), alpha=0.25)
        axes[1].plot(part["B"], part["chain_mean"], "--", color=line.get_color())
    axes[1].set_xscale("log")
    axes[1].set_xlabel("budget B (steps)")
    axes[1].set_ylabel("P(answer within B)")
    axes[1].set_title("dashed + band: lifted-chain posterior (90%)", fontsize=8)
    axes[1].legend(fontsize=7)
    fig.suptitle("M12: order and duration of behaviour sequences", fontsize=10)
    fig.tight_layout()
    return fig
