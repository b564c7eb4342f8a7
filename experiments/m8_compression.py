r"""M8: does a summary with about 45% fewer tokens break the behaviour graph more than dropping steps?

Chen et al. (2026, Tables 3–4 of the Molecular-Structure paper) argue that summarised thinking
(about 45% fewer tokens) distils badly because summarising breaks the trace's bond distribution.
Their claim is about structure, not length: any 45% cut moves the transition graph somewhat, so
the question is whether a **summary** moves it more than a **structure-blind cut of the same
size**. Two parts:

**A. How far do length cuts move the graph?** On all 128 teacher traces, the graph (Dirichlet(1)
posterior mean, as in M1) after random step dropping (10–75% of steps), truncation (keeping
90–25%) and the rule-based cuts (drop reflection, drop exploration, merge runs) is compared with
the original graph: Pearson :math:`r` and mean row Jensen–Shannon divergence, with a **paired**
trace bootstrap (1,000 replicates; each replicate resamples the same trace indices on both sides,
:func:`metacot.graphs.graph.compare` with ``paired=True``), per teacher and pooled, under the
ReasoningFlow labels carried by the kept steps and under the keyword labeller on the kept text.

**B. Summary against size-matched controls.** One window of :math:`\ge 200` words per teacher
trace (``experiments._transformed.chunks``) is summarised by the embedded SmolLM2-135M (or a
served model: ``METACOT_SUMMARY_BASE_URL``, ``METACOT_SUMMARY_MODEL``) to a target of 55% of its words; a summary paragraph is a new step, labelled from its text by the
keyword labeller (it has no ReasoningFlow label). Its keyword graph is compared with the keyword
graph of the same windows, and with two controls built from the same windows: random step
dropping matched **in words** (drop :math:`1 - \text{achieved ratio}` of the steps of each window)
and matched **in steps** (keep as many steps as the summary has paragraphs; this also matches the
number of transitions, and so the small-sample upward bias of JS). Each control is drawn with 50
seeds; bootstrap replicate :math:`b` uses seed :math:`b \bmod 50`, so the interval of the
difference :math:`\mathrm{JS}_{\text{summary}} - \mathrm{JS}_{\text{control}}` carries both the
trace sampling and the dropping randomness.
"""

from __future__ import annotations

import itertools
import time
from functools import partial

import numpy as np
import pandas as pd

from experiments._common import Claim, from_claim, output_dir, write
from experiments._molecular import TEACHERS
from experiments._transformed import (
    SUMMARY_RATIO,
    graph_shift,
    keyword_labelled,
    paired_js_difference,
    summaries,
    teacher_traces,
    trained_labelled,
    words,
)
from metacot import transforms as tf

CLAIM = Claim(
    id="M8",
    paper="molecular-thought",
    claim=(
        "Summarising or compressing reasoning traces (about 45% fewer tokens, as in the summarised thinking "
        "of private models; the 45% is known from secondary sources only) breaks their behaviour-transition (bond) distribution, which is why such traces "
        "distil badly (Chen et al. 2026, Tables 3–4; notes §4.6)."
    ),
    formalisation=(
        "Part A: all 128 ReasoningFlow teacher traces; Dirichlet(1) graphs before/after drop_random (10–75% of "
        "steps, seed = trace position), truncate (keep 90–25%), drop reflect / explore, merge runs; r and mean "
        "row JS to the original graph, paired trace bootstrap (1000 replicates), per teacher and pooled, under "
        "carried ReasoningFlow labels, keyword relabelling and trained-labeller relabelling. Part B: one ≥200-word window per teacher trace, "
        "summarised by SmolLM2-135M-Instruct Q4_1 (llama.cpp, greedy, target 55% of the words, one request per "
        "window); summary paragraphs and all controls labelled by the keyword labeller (judged) and by the "
        "shipped trained labeller (reported; in-sample on the unchanged window steps); controls: random "
        "dropping matched per window in words (fraction 1 − achieved ratio) and in steps (as many steps as "
        "summary paragraphs), 50 seeds each; paired bootstrap of JS(summary) − JS(control). --quick: 3 "
        "short windows, 100 replicates, 5 seeds."
    ),
    prediction=(
        "If summarising breaks the bond distribution beyond what removing the same amount of text does, the "
        "summary's graph is further from the original than both size-matched random-drop controls."
    ),
    rule=(
        "Pass iff, pooled over the three teachers, the 95% paired-bootstrap interval of JS(summary) − "
        "JS(control) lies above 0 for both controls (word-matched and step-matched)."
    ),
)

DROP_FRACTIONS = (0.1, 0.2, 0.3, 0.45, 0.6, 0.75)
TRUNCATE_KEPT = (0.9, 0.75, 0.55, 0.4, 0.25)
SEEDS, SEEDS_QUICK = 50, 5


def _drop_all(traces, fraction: float) -> list:
    return [tf.drop_random(t, fraction, seed=i) for i, t in enumerate(traces)]


def _truncate_all(traces, kept: float) -> list:
    return [tf.truncate(t, kept) for t in traces]


def _cuts() -> list[tuple[str, str, float, object]]:
    """(family, name, parameter, transformation of a trace collection) for part A."""
    out = [("drop_random", f"drop {f:.0%} at random", f, partial(_drop_all, fraction=f)) for f in DROP_FRACTIONS]
    out += [("truncate", f"truncate to {c:.0%}", c, partial(_truncate_all, kept=c)) for c in TRUNCATE_KEPT]
    out += [
        ("rule", "drop reflection steps", np.nan, lambda ts: [tf.drop_behaviours(t, ["reflect"]) for t in ts]),
        ("rule", "drop exploration steps", np.nan, lambda ts: [tf.drop_behaviours(t, ["explore"]) for t in ts]),
        ("rule", "merge same-behaviour runs", np.nan, lambda ts: [tf.merge_runs(t) for t in ts]),
    ]
    return out


def part_a(quick: bool, n_boot: int) -> pd.DataFrame:
    """Graph shift of every length cut, per teacher and pooled, under both labellings."""
    traces = teacher_traces()
    if quick:
        traces = [t for m in TEACHERS for t in [t for t in traces if t.source_model == m][:3]]
    groups = {"pooled": traces} | {m: [t for t in traces if t.source_model == m] for m in TEACHERS}
    rows = []
    for family, name, param, fn in _cuts():
        if quick and family != "rule" and param not in (0.45, 0.55):
            continue
        for teacher, orig in groups.items():
            new = fn(orig)
            for labelling, (a, b) in (("reasoningflow", (orig, new)),
                                      ("keyword", (keyword_labelled(orig), keyword_labelled(new))),
                                      ("trained", (trained_labelled(orig), trained_labelled(new)))):
                rows.append({"part": "A", "family": family, "transformation": name, "parameter": param,
                             "teacher": teacher, "labeller": labelling, "n_traces": len(orig),
                             **graph_shift(a, b, n_boot=n_boot)})
    return pd.DataFrame(rows)


def _controls(windows: list, summ: list, seeds: int) -> dict[str, list[list]]:
    """Per seed, the word-matched and step-matched random-drop copies of the windows."""
    out: dict[str, list[list]] = {"word-matched drop": [], "step-matched drop": []}
    for s in range(seeds):
        words_m, steps_m = [], []
        for i, (w, x) in enumerate(zip(windows, summ, strict=True)):
            ratio = x.metadata["transforms"][-1]["achieved_ratio"]
            # A summary longer than its window (ratio > 1) has no word-matched cut: keep everything.
            words_m.append(tf.drop_random(w, min(1.0, max(0.0, 1.0 - ratio)), seed=s * 100_003 + i))
            keep = min(len(w), len(x))
            steps_m.append(tf.drop_random(w, 1.0 - keep / len(w), seed=s * 100_003 + i))
        out["word-matched drop"].append(words_m)
        out["step-matched drop"].append(steps_m)
    return out


def part_b(quick: bool, results, n_boot: int) -> tuple[pd.DataFrame, dict]:
    """The summary against its size-matched controls, per teacher and pooled (keyword labels)."""
    windows, summ, sampler = summaries(quick, results)
    ctl = _controls(windows, summ, SEEDS_QUICK if quick else SEEDS)
    relabel = {"keyword": keyword_labelled, "trained": trained_labelled}
    marginals = {}
    rows = []
    for (labeller, fn), teacher in itertools.product(relabel.items(), ("pooled", *TEACHERS)):
        idx = [i for i, w in enumerate(windows) if teacher == "pooled" or w.source_model == teacher]
        if not idx:
            continue
        windows_lab, summ_lab = fn([windows[i] for i in idx]), fn([summ[i] for i in idx])
        ctl_lab = {k: [fn([c[i] for i in idx]) for c in v] for k, v in ctl.items()}
        if teacher == "pooled":
            marginals |= {f"marginal_{labeller}_before": _marginal(windows_lab),
                          f"marginal_{labeller}_after": _marginal(summ_lab)}
        orig = windows_lab
        base = {"part": "B", "teacher": teacher, "labeller": labeller, "n_traces": len(idx)}
        s = summ_lab
        ratios = [summ[i].metadata["transforms"][-1]["achieved_ratio"] for i in idx]
        rows.append({**base, "family": "summarise", "transformation": "summary",
                     "summariser": sampler.get("model"), "parameter": SUMMARY_RATIO, "achieved_ratio_median": float(np.median(ratios)),
                     **graph_shift(orig, s, n_boot=n_boot)})
        for name, per_seed in ctl_lab.items():
            shifts = [graph_shift(orig, c, n_boot=10)["js_mean"] for c in per_seed]
            d, lo, hi = paired_js_difference(orig, s, per_seed, n_boot=n_boot, seed=1)
            first = graph_shift(orig, per_seed[0], n_boot=n_boot)
            rows.append({**base, "family": "control", "transformation": name, "parameter": np.nan,
                         **first, "js_mean_seed_mean": float(np.mean(shifts)),
                         "js_mean_seed_sd": float(np.std(shifts)),
                         "diff_js": d, "diff_js_lo": lo, "diff_js_hi": hi})
    info = {"sampler": sampler, "windows": len(windows),
            "achieved_ratio": [x.metadata["transforms"][-1]["achieved_ratio"] for x in summ],
            "words_before": words(windows), "words_after": words(summ),
            "steps_before": sum(len(w) for w in windows), "paragraphs_after": sum(len(x) for x in summ),
            **marginals}
    return pd.DataFrame(rows), info


def _marginal(traces: list) -> dict[str, float]:
    labels = [s.behaviour.value for t in traces for s in t.steps]
    return {b: labels.count(b) / len(labels) for b in ("normal", "deep", "reflect", "explore")}


def _figure(a: pd.DataFrame, b: pd.DataFrame):
    from metacot.plots import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.3))
    colours = {"drop_random": "tab:blue", "truncate": "tab:orange"}
    for ax, labelling in zip(axes[:2], ("reasoningflow", "keyword")):
        part = a[(a["teacher"] == "pooled") & (a["labeller"] == labelling)]
        for family, colour in colours.items():
            f = part[part["family"] == family].sort_values("words_kept")
            x = 1 - f["words_kept"]
            ax.fill_between(x, f["js_mean_lo"], f["js_mean_hi"], color=colour, alpha=0.2)
            ax.plot(x, f["js_mean"], "o-", color=colour, label=family.replace("_", " "))
        for r in part[part["family"] == "rule"].itertuples():
            ax.vlines(1 - r.words_kept, r.js_mean_lo, r.js_mean_hi, color="k", lw=1)
            ax.plot(1 - r.words_kept, r.js_mean, "s", color="k", ms=4)
            ax.annotate(r.transformation, (1 - r.words_kept, r.js_mean), fontsize=6, xytext=(3, 3),
                        textcoords="offset points")
        ax.axvline(1 - SUMMARY_RATIO, color="0.5", ls=":", lw=1)
        ax.set_xlabel("share of words removed")
        ax.set_ylabel("mean row JS to the original graph (bits)")
        ax.set_title(f"A: all teacher traces, {labelling} labels (pooled)", fontsize=9)
        ax.legend(fontsize=7)
    ax = axes[2]
    teachers = [t for t in ("pooled", *TEACHERS) if t in set(b["teacher"])]
    kinds = ["summary", "word-matched drop", "step-matched drop"]
    b = b[b["labeller"] == "keyword"]  # the judged labelling
    for j, kind in enumerate(kinds):
        part = b[b["transformation"] == kind].set_index("teacher").reindex(teachers)
        x = np.arange(len(teachers)) + (j - 1) * 0.25
        ax.bar(x, part["js_mean"], width=0.24, label=kind if kind == "summary" else f"{kind} (seed 0)")
        ax.vlines(x, part["js_mean_lo"], part["js_mean_hi"], color="k", lw=1)
    ax.set_xticks(range(len(teachers)), [t.split("-")[0] for t in teachers], fontsize=8)
    ax.set_ylabel("mean row JS to the windows' graph (bits)")
    ax.set_title("B: summary vs size-matched drops (keyword labels)", fontsize=9)
    ax.legend(fontsize=7)
    fig.suptitle("M8: token reduction against graph shift (95% paired bootstrap intervals)", fontsize=10)
    fig.tight_layout()
    return fig


def run(quick: bool = False, results=None) -> dict:
    started = time.perf_counter()
    out = output_dir(CLAIM.id, results)
    n_boot = 100 if quick else 1000
    a = part_a(quick, n_boot)
    b, info = part_b(quick, out.parent, n_boot)
    data = pd.concat([a, b], ignore_index=True)
    data["js_rows"] = data["js_rows"].map(lambda d: ";".join(f"{k}={v:.4f}" for k, v in d.items()))

    pooled = b[(b["teacher"] == "pooled") & (b["labeller"] == "keyword")].set_index("transformation")
    ctl = pooled.loc[["word-matched drop", "step-matched drop"]]
    # Reported beside the judged keyword rows: the same test with the trained labeller.
    trained = b[(b["teacher"] == "pooled") & (b["labeller"] == "trained")].set_index("transformation")
    passed = bool((ctl["diff_js_lo"] > 0).all())
    summary = pooled.loc["summary"]

    def a_row(name: str, labelling: str) -> pd.Series:
        return a[(a["transformation"] == name) & (a["teacher"] == "pooled") & (a["labeller"] == labelling)].iloc[0]

    cuts = "; ".join(
        f"{name}: words kept {a_row(name, 'reasoningflow').words_kept:.2f}, JS {a_row(name, 'reasoningflow').js_mean:.4f} "
        f"[{a_row(name, 'reasoningflow').js_mean_lo:.4f}, {a_row(name, 'reasoningflow').js_mean_hi:.4f}], "
        f"r {a_row(name, 'reasoningflow').pearson:.3f} (keyword labels: JS {a_row(name, 'keyword').js_mean:.4f})"
        for name in ("drop 45% at random", "truncate to 55%", "drop reflection steps", "drop exploration steps",
                     "merge same-behaviour runs")
        if ((a["transformation"] == name) & (a["teacher"] == "pooled")).any()
    )
    per_teacher = "; ".join(
        f"{r.teacher}: summary JS {r.js_mean:.4f}"
        for r in b[(b["family"] == "summarise") & (b["labeller"] == "keyword")].itertuples() if r.teacher != "pooled"
    )
    m_before, m_after = info["marginal_keyword_before"], info["marginal_keyword_after"]
    measured = (
        f"A (pooled, ReasoningFlow labels, paired 95% CIs): {cuts}. "
        f"B (summariser {info['sampler'].get('model')}, {info['windows']} windows, {info['words_before']} → {info['words_after']} words, "
        f"{info['steps_before']} steps → {info['paragraphs_after']} paragraphs; median achieved ratio "
        f"{np.median(info['achieved_ratio']):.2f}): summary JS {summary.js_mean:.4f} [{summary.js_mean_lo:.4f}, "
        f"{summary.js_mean_hi:.4f}], r {summary.pearson:.3f}; "
        + "; ".join(f"{k}: JS {r.js_mean_seed_mean:.4f} (sd over seeds {r.js_mean_seed_sd:.4f}), "
                    f"JS(summary) − JS(control) {r.diff_js:+.4f} [{r.diff_js_lo:+.4f}, {r.diff_js_hi:+.4f}]"
                    for k, r in ctl.iterrows())
        + f"; {per_teacher}. Keyword marginal before → after: "
        + ", ".join(f"{k} {m_before[k]:.2f} → {m_after[k]:.2f}" for k in m_before)
        + ". Trained labeller (reported, not judged): summary JS "
        + f"{trained.loc['summary'].js_mean:.4f} [{trained.loc['summary'].js_mean_lo:.4f}, "
        + f"{trained.loc['summary'].js_mean_hi:.4f}]; "
        + "; ".join(f"JS(summary) − JS({k}) {r.diff_js:+.4f} [{r.diff_js_lo:+.4f}, {r.diff_js_hi:+.4f}]"
                    for k, r in trained.loc[["word-matched drop", "step-matched drop"]].iterrows())
        + "; marginal before → after: "
        + ", ".join(f"{k} {info['marginal_trained_before'][k]:.2f} → {info['marginal_trained_after'][k]:.2f}"
                    for k in info["marginal_trained_before"])
        + (" (--quick)" if quick else "")
    )
    verdict = from_claim(CLAIM, measured, passed, quick, **info, n_boot=n_boot)
    return vars(write(verdict, data, _figure(a, b), out, started))
