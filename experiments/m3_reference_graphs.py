r"""M3: do our fitted graphs reproduce the paper's Figure 5?

Chen et al. (2026) publish, in Figure 5, the behaviour transition matrices of DeepSeek-R1-0528,
QwQ-32B and gpt-oss-120b (:func:`metacot.graphs.graph.reference`). Our traces come from DeepSeek-R1 (the
January release), QwQ-32B and gpt-oss-120b, on other problems, segmented and labelled differently.
Per labeller and teacher we compare our graph with the published one: Pearson :math:`r` (16 entries
and off-diagonal), the row Jensen–Shannon divergences, and 95% bootstrap intervals from resampling
our traces (the published graph is held fixed: its counts are not published).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from experiments._common import Claim, from_claim, output_dir, write
from experiments._labellings import labellings
from experiments._molecular import REFERENCE_OF, TEACHERS, by_source, comparison_columns
from metacot.behaviours import BEHAVIOURS
from metacot.graphs.comparison import compare
from metacot.graphs.fit import fit_graph
from metacot.graphs.reference_graphs import reference

CLAIM = Claim(
    id="M3",
    paper="molecular-thought",
    claim=(
        "The behaviour transition graph is a property of the teacher: refitting a teacher's graph reproduces "
        "the published one (Chen et al. 2026, Fig. 5)."
    ),
    formalisation=(
        "Per labeller (reasoningflow, keyword, trained labeller out of model -- reported, not judged --, LLM judge "
        "on its subsample, reasoningflow on that subsample) and "
        "teacher: Dirichlet(1) graph on our traces vs the row-normalised Figure 5 graph of the same model "
        "(R1 vs R1-0528). r, r off-diagonal, JS per row; 95% bootstrap intervals over our traces "
        "(1000 replicates, seed 0; --quick: 200)."
    ),
    prediction="Our graph correlates with the published graph of the same teacher at r > 0.9 under some labeller.",
    rule=(
        "For every teacher, at least one labeller on the full trace set (reasoningflow or keyword) gives r > 0.9 "
        "against that teacher's Figure 5 graph."
    ),
)


def _figure(data: pd.DataFrame, graphs: dict):
    from metacot.plots import pyplot, transition_heatmap

    plt = pyplot()
    fig, axes = plt.subplots(2, 3, figsize=(12, 7.5))
    for j, teacher in enumerate(REFERENCE_OF):
        ref = reference(REFERENCE_OF[teacher])
        transition_heatmap(ref.P, [s.value for s in ref.states], ax=axes[0, j], title=f"paper: {REFERENCE_OF[teacher]}")
        row = data[(data.labeller == "reasoningflow") & (data.teacher == teacher)].iloc[0]
        transition_heatmap(graphs[teacher].P, [s.value for s in BEHAVIOURS], ax=axes[1, j],
                           title=f"ours (reasoningflow): {teacher}\nr = {row.pearson:.2f} "
                                 f"[{row.pearson_lo:.2f}, {row.pearson_hi:.2f}]")
    fig.suptitle("M3: Figure 5 of the paper (top) against our fitted graphs (bottom)")
    fig.tight_layout()
    return fig


def run(quick: bool = False, results=None) -> dict:
    started = time.perf_counter()
    out = output_dir(CLAIM.id, results)
    n_boot = 200 if quick else 1000
    rows, primary_graphs = [], {}
    for lab, traces in labellings(quick, out.parent).items():
        groups = by_source(traces)
        for teacher in TEACHERS:
            g = fit_graph(groups[teacher], method="dirichlet", prior=1.0)
            if lab == "reasoningflow":
                primary_graphs[teacher] = g
            c = compare(g, reference(REFERENCE_OF[teacher]), groups[teacher], None, n_boot=n_boot, seed=0)
            row = {"labeller": lab, "teacher": teacher, "reference": REFERENCE_OF[teacher],
                   "n_traces": len(groups[teacher]), "transitions": int(g.counts.sum())}
            row |= comparison_columns(c)
            row |= {f"js_{b.value}": float(v) for b, v in zip(BEHAVIOURS, c.js)}
            row |= {f"ours_{a.value}_{b.value}": float(g.P[i, j])
                    for i, a in enumerate(BEHAVIOURS) for j, b in enumerate(BEHAVIOURS)}
            rows.append(row)
    data = pd.DataFrame(rows)
    full = data[data.labeller.isin(["reasoningflow", "keyword"])]
    best = full.groupby("teacher", sort=False)["pearson"].max()
    passed = bool((best > 0.9).all())
    parts = []
    for lab, part in data.groupby("labeller", sort=False):
        worst_row = {r.teacher: max(BEHAVIOURS, key=lambda b, r=r: getattr(r, f"js_{b.value}")).value
                     for r in part.itertuples()}
        parts.append(f"{lab}: " + ", ".join(
            f"{r.teacher} r {r.pearson:.2f} [{r.pearson_lo:.2f}, {r.pearson_hi:.2f}] "
            f"(off-diag. {r.pearson_offdiag:.2f}; worst row {worst_row[r.teacher]})" for r in part.itertuples()))
    measured = "; ".join(parts) + (" (--quick)" if quick else "")
    verdict = from_claim(CLAIM, measured, passed, quick, best_r={t: float(v) for t, v in best.items()},
                         mean_js=float(np.mean(data["js_mean"])))
    return vars(write(verdict, data, _figure(data, primary_graphs), out, started))
