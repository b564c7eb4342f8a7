r"""M1: do reasoning teachers share one behaviour transition graph?

Chen et al. (2026, Figure 5) fit a 4×4 behaviour transition graph per teacher and report Pearson
:math:`r > 0.9` between every pair of teachers. We fit one graph per model on the ReasoningFlow
traces in ``data/`` (three reasoning teachers, two instruction models, the same AIME 2024 and
argument problems), under each labeller, and compare every pair with
:func:`metacot.graphs.graph.compare`: :math:`r` over the 16 entries, :math:`r` over the 12 off-diagonal
entries, and the mean row Jensen–Shannon divergence, each with a 95% bootstrap interval from
resampling traces. The LLM judge labels a fixed subsample only; so that its row can be read
against the others, the ReasoningFlow labeller is also run on that same subsample.
"""

from __future__ import annotations

import itertools
import time

import pandas as pd

from experiments._common import Claim, from_claim, output_dir, write
from experiments._labellings import labellings as labellings_of
from experiments._molecular import (
    SOURCES,
    TEACHERS,
    by_source,
    comparison_columns,
    pair_kind,
)
from metacot import label
from metacot.graphs.comparison import compare
from metacot.graphs.fit import fit_graph

CLAIM = Claim(
    id="M1",
    paper="molecular-thought",
    claim=(
        "Behaviour transition graphs of different reasoning teachers are alike: Pearson r > 0.9 between "
        "DeepSeek-R1, QwQ-32B and gpt-oss-120b (Chen et al. 2026, Fig. 5)."
    ),
    formalisation=(
        "ReasoningFlow annotated traces (231; 3 teachers, 2 instruction models; AIME 2024 + argkp). One "
        "Dirichlet(1) graph per model per labeller (reasoningflow mapping, keyword baseline, trained labeller "
        "out of model (each model labelled by a labeller trained on the other four), LLM judge "
        "SmolLM2-135M on a subsample of the first 30 steps of 2 traces per model and domain; reasoningflow also on that "
        "subsample). All 10 pairs: r (16 entries), r off-diagonal, mean JS, 95% trace-bootstrap intervals "
        "(1000 replicates, seed 0; --quick: 200, judge subsample 1 trace × 4 steps)."
    ),
    prediction="Teacher pairs have r > 0.9, and teachers are closer to each other than to instruction models.",
    rule=(
        "Under the primary labeller (reasoningflow, all traces): every teacher–teacher r > 0.9, and the mean "
        "teacher–teacher r exceeds the mean teacher–instruction r. Other labellers are reported, not judged."
    ),
)


def agreement_table(labellings: dict[str, list]) -> pd.DataFrame:
    """Step-level agreement and Cohen's kappa between labellers, on the traces both labelled."""
    sub_keyword = label.label_traces(labellings["reasoningflow (subsample)"], label.KeywordLabeller())
    pairs = [
        ("reasoningflow", "keyword", labellings["reasoningflow"], labellings["keyword"]),
        ("trained (out of model)", "reasoningflow", labellings["trained (out of model)"], labellings["reasoningflow"]),
        ("trained (out of model)", "keyword", labellings["trained (out of model)"], labellings["keyword"]),
        ("llm-judge", "reasoningflow", labellings["llm-judge (subsample)"], labellings["reasoningflow (subsample)"]),
        ("llm-judge", "keyword", labellings["llm-judge (subsample)"], sub_keyword),
    ]
    rows = []
    for a, b, ta, tb in pairs:
        agree = label.agreement(ta, tb)
        rows.append({"a": a, "b": b, "traces": len(ta), **agree})
    judged = labellings["llm-judge (subsample)"]
    unparsed = sum(len(t.metadata.get("judge_unparsed", ())) for t in judged)
    rows.append({"a": "llm-judge", "b": "(unparsed replies)", "traces": len(judged),
                 "n": sum(len(t) for t in judged), "agreement": float("nan"), "expected": float("nan"),
                 "kappa": float("nan"), "unparsed": unparsed})
    return pd.DataFrame(rows)


def similarity_table(labellings: dict[str, list], n_boot: int, seed: int = 0) -> pd.DataFrame:
    """One row per labeller and model pair: r, r off-diagonal and mean JS with bootstrap intervals."""
    rows = []
    for name, traces in labellings.items():
        groups = {s: t for s, t in by_source(traces).items() if t}
        graphs = {s: fit_graph(t, method="dirichlet", prior=1.0) for s, t in groups.items()}
        for a, b in itertools.combinations([s for s in SOURCES if s in graphs], 2):
            c = compare(graphs[a], graphs[b], groups[a], groups[b], n_boot=n_boot, seed=seed)
            row = {"labeller": name, "a": a, "b": b, "kind": pair_kind(a, b),
                   "n_traces_a": len(groups[a]), "n_traces_b": len(groups[b])}
            row |= comparison_columns(c)
            rows.append(row)
    return pd.DataFrame(rows)


def _figure(data: pd.DataFrame):
    from metacot.plots import pyplot

    plt = pyplot()
    labellers = list(dict.fromkeys(data["labeller"]))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    colors = {"teacher-teacher": "tab:blue", "teacher-instruct": "tab:orange", "instruct-instruct": "tab:grey"}
    for ax, stat in zip(axes, ("pearson", "pearson_offdiag")):
        for j, lab in enumerate(labellers):
            part = data[data["labeller"] == lab].reset_index(drop=True)
            for i, row in part.iterrows():
                x = j + (i - len(part) / 2) * 0.07
                # A percentile interval need not contain the point estimate, so draw it as a line, not error bars.
                ax.vlines(x, row[f"{stat}_lo"], row[f"{stat}_hi"], color=colors[row["kind"]], lw=1)
                ax.plot(x, row[stat], "o", ms=4, color=colors[row["kind"]])
        ax.axhline(0.9, color="k", ls=":", lw=1)
        ax.set_xticks(range(len(labellers)), [lab.replace(" (", "\n(") for lab in labellers], fontsize=8)
        ax.set_title({"pearson": "Pearson r, 16 entries", "pearson_offdiag": "Pearson r, off-diagonal"}[stat])
    axes[0].set_ylabel("r between two models' graphs (95% bootstrap CI)")
    handles = [plt.Line2D([], [], marker="o", ls="", color=c, label=k) for k, c in colors.items()]
    axes[1].legend(handles=handles, fontsize=8, loc="lower left")
    fig.suptitle("M1: graph similarity between models, per labeller (dotted: the paper's r = 0.9)")
    fig.tight_layout()
    return fig


def run(quick: bool = False, results=None) -> dict:
    started = time.perf_counter()
    out = output_dir(CLAIM.id, results)
    labellings = labellings_of(quick, out.parent)
    data = similarity_table(labellings, n_boot=200 if quick else 1000)
    agree = agreement_table(labellings)
    agree.to_csv(out / "labeller_agreement.csv", index=False)
    primary = data[data["labeller"] == "reasoningflow"]
    tt = primary[primary["kind"] == "teacher-teacher"]
    ti = primary[primary["kind"] == "teacher-instruct"]
    passed = bool((tt["pearson"] > 0.9).all() and tt["pearson"].mean() > ti["pearson"].mean())
    parts = []
    for lab, part in data.groupby("labeller", sort=False):
        t2 = part[part["kind"] == "teacher-teacher"]
        t3 = part[part["kind"] == "teacher-instruct"]
        pairs = ", ".join(
            f"{r.a.split('-')[0]}/{r.b.split('-')[0]} {r.pearson:.2f} [{r.pearson_lo:.2f}, {r.pearson_hi:.2f}]"
            for r in t2.itertuples()
        )
        parts.append(f"{lab}: teachers {pairs}; mean r teacher–teacher {t2['pearson'].mean():.2f} "
                     f"(off-diag. {t2['pearson_offdiag'].mean():.2f}) vs teacher–instruct {t3['pearson'].mean():.2f} "
                     f"(off-diag. {t3['pearson_offdiag'].mean():.2f})")
    agree_text = ", ".join(f"{r.a} vs {r.b} {r.agreement:.1%} (κ {r.kappa:.2f}, {r.n} steps)"
                           for r in agree.itertuples() if not r.b.startswith("("))
    measured = "; ".join(parts) + f". Labeller agreement: {agree_text}" + (" (--quick)" if quick else "")
    details = {"labeller_agreement": agree.to_dict(orient="records"),"teachers": list(TEACHERS), "min_teacher_r": float(tt["pearson"].min()),
               "mean_teacher_r": float(tt["pearson"].mean()), "mean_teacher_instruct_r": float(ti["pearson"].mean())}
    verdict = from_claim(CLAIM, measured, passed, quick, **details)
    return vars(write(verdict, data, _figure(data), out, started))
