r"""M4: mixing two teachers -- does the graph of the pooled traces match either teacher?

Chen et al. (2026, §6.2 of our notes) train one student on a shuffled mixture of DeepSeek-R1 and
gpt-oss traces and find it worse than either teacher alone, with a behaviour graph that matches
neither (Pearson :math:`r < 0.7`, their Fig. 11d), although the two teachers' graphs correlate at
:math:`r \approx 0.9`-:math:`0.98`: "statistical similarity does not guarantee compatibility".
We cannot train students here, but we can ask the data-level question and quantify it:

* **pooled vs teacher.** Fit one graph to the union of two teachers' traces and compare it with
  each teacher's own graph (:func:`metacot.graphs.graph.compare`: Pearson :math:`r`, off-diagonal
  :math:`r`, row-wise Jensen-Shannon divergence). The pooled matrix is, row by row, a
  count-weighted average of the two teachers' rows,
  :math:`\hat P^{A\cup B}_{i\cdot} = w_i \hat P^A_{i\cdot} + (1 - w_i) \hat P^B_{i\cdot}` with
  :math:`w_i = N^A_{i\cdot\cdot}/(N^A_{i\cdot\cdot} + N^B_{i\cdot\cdot})`, so it always lies
  between them; it matches neither only when the teachers differ by more than sampling noise.
* **pooling strength.** The hierarchical model of :func:`metacot.graphs.hierarchical.fit_hierarchical`
  gives every row a concentration :math:`\kappa_i`; small :math:`\kappa_i` means the sources'
  rows disagree beyond what their counts explain. The yardstick is the same fit on two random
  halves of one teacher's traces (a split by trace, so it includes the variation between problem
  sets as well as multinomial noise): two teachers are *incompatible* when they disagree more
  than two halves of one teacher do.

Data: the annotated ReasoningFlow traces in ``data/reasoningflow/annotated`` (231 traces by five
models, about 40-50 per model, on the same problems), labelled by
:class:`metacot.graphs.labellers.ReasoningFlowLabeller`. Teachers: DeepSeek-R1, QwQ-32B and gpt-oss-120b
(reasoning models); the hierarchical model is also fitted to all five sources, adding
DeepSeek-V3 and Qwen2.5-32B-Instruct (instruction models).
"""

from __future__ import annotations

import itertools
import math
import time
import warnings

import numpy as np
import pandas as pd
import scipy.stats

from experiments._common import Claim, from_claim, output_dir, write
from metacot.graphs.fit import fit_graph
from metacot.graphs.graph import compare
from metacot.graphs.hierarchical import DEFAULT_KAPPA_PRIOR, ConvergenceWarning, by_source, fit_hierarchical
from metacot.graphs.labellers import ReasoningFlowLabeller, label_traces
from metacot.traces.core import DATA_DIR, load_reasoningflow

TEACHERS = ("DeepSeek-R1", "QwQ-32B", "gpt-oss-120b")
INSTRUCT = ("DeepSeek-V3", "Qwen2.5-32B-Instruct")
SHORT = {"DeepSeek-R1": "R1", "QwQ-32B": "QwQ", "gpt-oss-120b": "OSS", "DeepSeek-V3": "V3",
         "Qwen2.5-32B-Instruct": "Qwen-Inst"}
SPLIT_SEED = 0
FIT_SEED = 0
RHO_MAX = -0.5

CLAIM = Claim(
    id="M4",
    paper="molecular-thought",
    claim=(
        "Mixing two teachers' traces gives a behaviour structure that matches neither teacher, even when "
        "their graphs correlate highly; statistical similarity does not guarantee compatibility "
        "(Chen et al. 2026, §6 / Fig. 11). Our data-level version: the graph of the pooled traces matches "
        "neither teacher when the teachers are structurally incompatible, and the hierarchical model's "
        "pooling strength κ measures that incompatibility."
    ),
    formalisation=(
        "ReasoningFlow annotated traces (data/reasoningflow/annotated), ReasoningFlowLabeller, sources = "
        "trace.source_model; teachers R1, QwQ-32B, gpt-oss-120b, pairs of teachers. Graphs: Dirichlet "
        "posterior mean, prior 1 (fit_graph). Pooled graph = fit to the union of a pair's traces. "
        "Hierarchical fit (fit_hierarchical: m_i ~ Dir(1), log κ_i ~ N(log 100, 2²), p_s,i ~ Dir(κ_i m_i), "
        "rows collapsed to Dirichlet-multinomial) on each pair, on two random halves of each teacher "
        "(split by trace, seed 0: the null), on the three teachers and on all five sources; NUTS 4 chains × "
        "1000 draws after 1000 tuning steps, seed 0 (--quick: 2 chains × 500 + 500). κ of a fit = its "
        "posterior median per row, summarised by the geometric mean over the four rows (κ̄). "
        "'Pooled matches teacher X' := mean row JS(pooled, X) ≤ mean row JS between X's two halves. "
        "'Pair incompatible' := κ̄(pair) < min(κ̄(null of A), κ̄(null of B))."
    ),
    prediction=(
        "For every teacher pair: incompatible (by κ) ⇔ the pooled graph matches neither teacher; across the "
        "12 (pair, row) cells, κ falls as the teachers' row divergence grows."
    ),
    rule=(
        "Pass iff (i) for each of the 3 pairs the κ verdict (incompatible or not) equals the JS verdict "
        "(pooled matches neither teacher or not); (ii) Spearman ρ between the pair fits' posterior-median "
        f"κ_i and JS(P^A_i, P^B_i) over the 12 cells is ≤ {RHO_MAX}; (iii) every hierarchical fit converged "
        "(max r̂ ≤ 1.01, bulk and tail ESS ≥ 100 per chain, no divergences). Pearson r against the paper's "
        "0.9 and 0.95 marks is reported, not judged."
    ),
    disclosure=(
        "The per-source count tables of the five models were looked at (while writing the fitting code) "
        "before this rule was fixed; no pooled-vs-teacher comparison, κ or split-half fit had been computed. "
        "With 3 pairs, part (i) has little power: it is a consistency check between two measures, not a test "
        "of the paper's training result, which needs students (out of scope)."
    ),
)


def _load():
    traces = load_reasoningflow(DATA_DIR / "reasoningflow" / "annotated")
    return by_source(label_traces(traces, ReasoningFlowLabeller()))


def _halves(traces, seed: int):
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(traces))
    half = len(traces) // 2
    return [traces[i] for i in sorted(order[:half])], [traces[i] for i in sorted(order[half:])]


def _hier(name: str, kind: str, data: dict, sampler: dict, fits: dict, rows: list, js_rows=None) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        fit = fit_hierarchical(data, seed=FIT_SEED, check="warn", **sampler)
    fits[name] = fit
    table = fit.concentration
    d = fit.diagnostics
    for i, (row, r) in enumerate(table.iterrows()):
        rows.append({
            "fit": name, "kind": kind, "sources": " + ".join(SHORT.get(s, s) for s in fit.sources), "row": row,
            "kappa_median": r["median"], "kappa_q05": r["q05"], "kappa_q95": r["q95"], "kappa_mean": r["mean"],
            "r_hat": r["r_hat"], "ess_bulk": r["ess_bulk"], "ess_tail": r["ess_tail"],
            "js_between": np.nan if js_rows is None else float(js_rows[i]),
            "fit_seconds": fit.seconds, "fit_r_hat_max": d.r_hat_max, "fit_ess_bulk_min": d.ess_bulk_min,
            "fit_ess_tail_min": d.ess_tail_min, "fit_divergences": d.n_divergences,
            # Only a convergence warning counts; libraries emit unrelated warnings (FutureWarning, ...).
            "converged": d.ok() and not any(issubclass(w.category, ConvergenceWarning) for w in caught),
        })


def _gmean(x) -> float:
    return float(np.exp(np.mean(np.log(np.asarray(x, dtype=float)))))


def _figure(kappa: pd.DataFrame, comp: pd.DataFrame, rho: float):
    from metacot.plots import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    rows_order = ["normal", "deep", "reflect", "explore"]
    x = np.arange(len(rows_order))
    prior_med = math.exp(DEFAULT_KAPPA_PRIOR[0])

    def kappa_panel(ax, part, title):
        names = list(dict.fromkeys(part["fit"]))
        width = 0.8 / max(len(names), 1)
        for j, name in enumerate(names):
            p = part[part["fit"] == name].set_index("row").loc[rows_order]
            off = (j - (len(names) - 1) / 2) * width
            style = "s" if p["kind"].iloc[0] == "null" else "o"
            ax.errorbar(x + off, p["kappa_median"],
                        yerr=[p["kappa_median"] - p["kappa_q05"], p["kappa_q95"] - p["kappa_median"]],
                        fmt=style, ms=5, capsize=2, label=p["sources"].iloc[0])
        ax.axhline(prior_med, color="grey", ls=":", lw=1, label="prior median")
        ax.set(yscale="log", xticks=x, xticklabels=rows_order, ylabel="κ (median, 90% interval)", title=title)
        ax.legend(fontsize=6, ncol=2)

    kappa_panel(axes[0, 0], kappa[kappa["kind"].isin(["pair", "null"])],
                "pooling strength: teacher pairs (●) vs split halves (■)")
    kappa_panel(axes[0, 1], kappa[kappa["kind"].isin(["teachers", "all"])],
                "pooling strength: three teachers, all five sources")

    ax = axes[1, 0]
    labels = [f"{SHORT[a]}+{SHORT[b]}\nvs {SHORT[t]}" for a, b, t in zip(comp["a"], comp["b"], comp["teacher"])]
    xi = np.arange(len(comp))
    ax.bar(xi - 0.2, comp["js_pooled"], width=0.4, label="JS(pooled, teacher)")
    ax.bar(xi + 0.2, comp["js_null"], width=0.4, label="JS(teacher's halves) = match level")
    ax.set(xticks=xi, ylabel="mean row JS divergence (bits)", title="does the pooled graph match the teacher?")
    ax.set_xticklabels(labels, fontsize=6)
    ax.legend(fontsize=7)

    ax = axes[1, 1]
    pairs = kappa[kappa["kind"] == "pair"]
    for _, p in pairs.groupby("fit", sort=False):
        ax.scatter(p["js_between"], p["kappa_median"], label=p["sources"].iloc[0])
        for _, r in p.iterrows():
            ax.annotate(r["row"][0].upper(), (r["js_between"], r["kappa_median"]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
    ax.set(xscale="log", yscale="log", xlabel="JS(P^A_i, P^B_i) (bits)", ylabel="κ_i posterior median",
           title=f"κ against the teachers' row divergence (Spearman ρ = {rho:.2f})")
    ax.legend(fontsize=7)
    fig.suptitle("M4: mixing teachers (ReasoningFlow traces, ReasoningFlowLabeller)")
    fig.tight_layout()
    return fig


def run(quick: bool = False, results=None) -> dict:
    started = time.perf_counter()
    out = output_dir(CLAIM.id, results)
    sampler = ({"draws": 500, "tune": 500, "chains": 2, "cores": 1} if quick
               else {"draws": 1000, "tune": 1000, "chains": 4, "cores": 1})
    groups = _load()
    missing = [s for s in TEACHERS + INSTRUCT if s not in groups]
    if missing:
        raise RuntimeError(f"M4: no traces of {missing} in data/reasoningflow/annotated")
    graphs = {s: fit_graph(groups[s], method="dirichlet", prior=1.0) for s in TEACHERS + INSTRUCT}

    fits: dict = {}
    krows: list[dict] = []
    # Null: two random halves of each teacher.
    null_js = {}
    for t in TEACHERS:
        h1, h2 = _halves(groups[t], SPLIT_SEED)
        g1, g2 = fit_graph(h1, method="dirichlet"), fit_graph(h2, method="dirichlet")
        c = compare(g1, g2)
        null_js[t] = c.js_mean
        _hier(f"null {SHORT[t]}", "null", {f"{SHORT[t]}-half1": h1, f"{SHORT[t]}-half2": h2}, sampler,
              fits, krows, js_rows=c.js)
    # Pairs of teachers.
    crows = []
    for a, b in itertools.combinations(TEACHERS, 2):
        pooled = fit_graph(groups[a] + groups[b], method="dirichlet", prior=1.0)
        between = compare(graphs[a], graphs[b])
        _hier(f"{SHORT[a]}+{SHORT[b]}", "pair", {a: groups[a], b: groups[b]}, sampler, fits, krows,
              js_rows=between.js)
        for t in (a, b):
            c = compare(pooled, graphs[t])
            crows.append({"a": a, "b": b, "teacher": t, "pearson": c.pearson,
                          "pearson_offdiag": c.pearson_offdiag, "js_pooled": c.js_mean, "js_null": null_js[t],
                          "matches": c.js_mean <= null_js[t],
                          "pearson_teachers": between.pearson, "pearson_offdiag_teachers": between.pearson_offdiag,
                          "js_teachers": between.js_mean,
                          **{f"js_pooled_{s.value}": float(v) for s, v in zip(c.states, c.js)}})
    if not quick:
        _hier("3 teachers", "teachers", {t: groups[t] for t in TEACHERS}, sampler, fits, krows)
    _hier("all 5 sources", "all", {s: groups[s] for s in TEACHERS + INSTRUCT}, sampler, fits, krows)

    kappa = pd.DataFrame(krows)
    comp = pd.DataFrame(crows)
    gm = kappa.groupby("fit", sort=False)["kappa_median"].apply(_gmean)
    pair_rows = kappa[kappa["kind"] == "pair"]
    rho = float(scipy.stats.spearmanr(pair_rows["kappa_median"], pair_rows["js_between"]).statistic)
    verdicts = []
    for a, b in itertools.combinations(TEACHERS, 2):
        name = f"{SHORT[a]}+{SHORT[b]}"
        incompatible = gm[name] < min(gm[f"null {SHORT[a]}"], gm[f"null {SHORT[b]}"])
        part = comp[(comp["a"] == a) & (comp["b"] == b)]
        matches_neither = not part["matches"].any()
        verdicts.append({"pair": name, "kappa_gmean": gm[name],
                         "null_gmean": min(gm[f"null {SHORT[a]}"], gm[f"null {SHORT[b]}"]),
                         "incompatible": bool(incompatible), "matches_neither": bool(matches_neither),
                         "agree": bool(incompatible) == bool(matches_neither),
                         "pearson_pooled": part["pearson"].round(3).tolist(),
                         "js_pooled": part["js_pooled"].round(4).tolist(),
                         "js_null": part["js_null"].round(4).tolist()})
    converged = bool(kappa.groupby("fit")["converged"].all().all())
    part_i = all(v["agree"] for v in verdicts)
    part_ii = rho <= RHO_MAX
    passed = part_i and part_ii and converged

    comp.to_csv(out / "comparisons.csv", index=False)
    fit_summary = {name: {"seconds": round(f.seconds, 2), **f.diagnostics.to_dict()} for name, f in fits.items()}
    measured = (
        "; ".join(
            f"{v['pair']}: κ̄ {v['kappa_gmean']:.0f} vs split-half {v['null_gmean']:.0f} "
            f"({'incompatible' if v['incompatible'] else 'compatible'}), pooled r vs teachers "
            f"{v['pearson_pooled'][0]:.3f}/{v['pearson_pooled'][1]:.3f}, JS {v['js_pooled'][0]:.4f}/"
            f"{v['js_pooled'][1]:.4f} vs match level {v['js_null'][0]:.4f}/{v['js_null'][1]:.4f} "
            f"({'matches neither' if v['matches_neither'] else 'matches a teacher'})"
            for v in verdicts
        )
        + f"; Spearman ρ(κ_i, JS_i) over 12 cells = {rho:.2f}; all fits converged: {converged}; "
        + "all-5 κ medians " + ", ".join(
            f"{r['row']} {r['kappa_median']:.0f}" for _, r in kappa[kappa["kind"] == "all"].iterrows())
        + f"; hierarchical fit times {min(f.seconds for f in fits.values()):.1f}-"
        + f"{max(f.seconds for f in fits.values()):.1f} s"
        + (" (--quick: 2 chains × 500 draws, no 3-teacher fit)" if quick else "")
    )
    verdict = from_claim(
        CLAIM, measured, passed, quick,
        pairs=verdicts, spearman_rho=rho, converged=converged, part_i=part_i, part_ii=part_ii,
        fits=fit_summary, sampler=sampler,
        kappa_gmean={k: float(v) for k, v in gm.items()},
        teacher_pearson={f"{SHORT[a]}-{SHORT[b]}": compare(graphs[a], graphs[b]).pearson
                         for a, b in itertools.combinations(TEACHERS + INSTRUCT, 2)},
        n_traces={s: len(groups[s]) for s in groups},
    )
    return vars(write(verdict, kappa, _figure(kappa, comp, rho), out, started))
