r"""M11: does a trained offline step labeller reproduce the ReasoningFlow mapping on unseen models?

:class:`metacot.graphs.trained.TrainedLabeller` is multinomial logistic regression on MiniLM
features of a step and its context (:mod:`metacot.graphs.step_features`). Here it is trained and
tested on the 231 annotated ReasoningFlow traces with **grouped** splits only -- whole source
models or whole domains are held out, never single steps:

* leave one source model out (5 folds: DeepSeek-R1, QwQ-32B, gpt-oss-120b, DeepSeek-V3,
  Qwen2.5-32B-Instruct) -- the judged split;
* leave one domain out (2 folds: AIME 2024 against argument essays) -- reported.

Every step gets an out-of-fold prediction; on these we report per-class precision, recall and F1,
macro-F1, Cohen's :math:`\kappa` against the mapping, the confusion matrix and a reliability
diagram (top-class confidence against accuracy, 10 bins, and the expected calibration error), the
same numbers for the keyword labeller on the same steps, and for the LLM judge on the steps it has
cached labels for (``results/labels/llm-judge-*.jsonl``, the M1 subsample). Then, per teacher on
held-out models, the graph fitted to the trained labels is compared with the graph fitted to the
mapping (Dirichlet(1) fits; Pearson :math:`r` over the 16 entries and mean row Jensen-Shannon
divergence, paired trace-bootstrap intervals), once from hard labels and once from soft counts
:math:`N_{ab} = \sum_t p_t(a) p_{t+1}(b)` (:func:`~metacot.graphs.trained.soft_transition_counts`).
An ablation table refits the leave-one-model-out split with feature blocks removed.

Embeddings are cached (``$METACOT_CACHE`` or ``~/.cache/metacot``, ``embeddings/``, one vector per
distinct text, keyed by its SHA-256 and the encoder name), so only the first run pays for them.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from experiments._common import Claim, from_claim, output_dir, write
from experiments._molecular import SOURCES, TEACHERS, annotated
from metacot.behaviours import BEHAVIOURS
from metacot.embed import CachedEmbedder, default_cache_dir
from metacot.graphs.fit import fit_dirichlet, fit_graph, per_trace_counts
from metacot.graphs.graph import compare, comparison_stats
from metacot.graphs.labellers import KeywordLabeller, ReasoningFlowLabeller, label_traces
from metacot.graphs.step_features import BLOCKS, VECTOR_BLOCKS, StepEmbedder, feature_names, project_features
from metacot.graphs.trained import (
    DEFAULT_BLOCKS,
    DEFAULT_C,
    DEFAULT_CLASS_WEIGHT,
    DEFAULT_RANK,
    fit_model,
    soft_transition_counts,
    traces_features,
)
from metacot.traces.core import read_traces

GOAL_KAPPA, GOAL_F1, GOAL_R = 0.6, 0.65, 0.95

CLAIM = Claim(
    id="M11",
    paper="molecular-thought",
    claim=(
        "An offline step labeller trained on the ReasoningFlow-mapped behaviours (MiniLM features of a step "
        "and its context, logistic regression) labels the steps of unseen models well enough to stand in for "
        "the mapping: held-out kappa >= 0.6, macro-F1 >= 0.65, and the same behaviour graph (r >= 0.95)."
    ),
    formalisation=(
        "231 ReasoningFlow annotated traces (33,794 steps; 5 source models; AIME 2024 + argkp). Targets: "
        "ReasoningFlowLabeller (DEFAULT_MAPPING). Features: metacot.graphs.step_features blocks "
        f"{DEFAULT_BLOCKS}; all-MiniLM-L6-v2 unit vectors, steps cut to 600 characters and 128 word pieces; "
        f"vector blocks on the {DEFAULT_RANK} leading principal axes of the training steps (refitted per fold). "
        f"Model: standardised multinomial logistic regression, C={DEFAULT_C}, unweighted classes, tol 1e-4. "
        "Splits: leave one source model out (judged) and leave one domain out (reported); metrics on pooled "
        "out-of-fold predictions. Graphs: Dirichlet(1) per teacher from out-of-fold labels (hard) and from "
        "soft counts, against the mapping's graph on the same traces; paired trace bootstrap, 1000 replicates, "
        "seed 0 (--quick: 4 traces per model, 200 replicates, no ablation)."
    ),
    prediction=f"Leave-one-model-out kappa >= {GOAL_KAPPA}, macro-F1 >= {GOAL_F1}; per-teacher graph r >= {GOAL_R}.",
    rule=(
        f"Pass iff, under leave-one-source-model-out, the trained labeller's pooled out-of-fold Cohen's kappa "
        f"against the mapping is >= {GOAL_KAPPA} AND its macro-F1 is >= {GOAL_F1} AND, for each of the three "
        f"teachers, Pearson r between the Dirichlet(1) graph of its out-of-fold hard labels and the mapping's "
        f"graph is >= {GOAL_R}. Leave-one-domain-out, soft counts, keyword and judge rows are reported, not judged."
    ),
    disclosure=(
        "The feature blocks and C were chosen from exploratory fits on one leave-one-model-out fold (QwQ-32B "
        "held out, on the first 19,676 steps) before this module's first full run. That run (2026-12-06, "
        "shipped model: balanced class weights, 64 axes) failed: kappa 0.333, macro-F1 0.502, graph r "
        "0.69/0.74/0.91. After seeing it, the shipped model was changed to unweighted classes and 128 axes, "
        "chosen by leave-one-model-out fits of 32/64/128/256 axes, C 0.05/0.2, unweighted/balanced, an MLP "
        "and gradient boosting (all within 0.02 kappa of each other; best kappa 0.366); so the judged row is "
        "selected on the judged folds and is optimistic by that search. Decoding the labels with an HMM over "
        "the training folds' transition matrix added 0.01 kappa and was not adopted, because it pulls the "
        "labels of a new model toward the training models' graph. The ablation's first two rows are the "
        "shipped and the first model. The rule and the goals were fixed before the first full run (they are "
        "the issue's goals) and did not change."
    ),
)

N_BINS = 10


def _traces(quick: bool) -> list:
    traces = list(annotated())
    if quick:
        taken: dict[str, int] = {}
        keep = []
        for t in traces:
            if taken.get(t.source_model, 0) < 4 and len(t) <= 200:
                taken[t.source_model] = taken.get(t.source_model, 0) + 1
                keep.append(t)
        traces = keep
    return traces


def _indices(traces) -> np.ndarray:
    index = {b: i for i, b in enumerate(BEHAVIOURS)}
    return np.array([index[s.behaviour] for t in traces for s in t.steps])


def _columns(blocks) -> np.ndarray:
    """Column indices of ``blocks`` inside the full feature matrix (all of :data:`BLOCKS`)."""
    starts, at = {}, 0
    for b in BLOCKS:
        w = len(feature_names((b,)))
        starts[b] = np.arange(at, at + w)
        at += w
    return np.concatenate([starts[b] for b in blocks])


#: Solver tolerance of the experiment's fits (the shipped model uses 1e-6; on one fold both gave
#: the same kappa to three decimals, and 1e-4 halves the iterations).
TOL = 1e-4


def out_of_fold(X, y, groups, blocks=DEFAULT_BLOCKS, C=DEFAULT_C, class_weight=DEFAULT_CLASS_WEIGHT,
                rank=DEFAULT_RANK) -> np.ndarray:
    """Out-of-fold probabilities ``(n, 4)``: each group's rows predicted by a model fitted without it.

    The principal axes are refitted in every fold, on the training rows only.
    """
    cols = _columns(blocks)
    P = np.zeros((len(y), len(BEHAVIOURS)))
    for g in np.unique(groups):
        test = groups == g
        m = fit_model(X[~test][:, cols], y[~test], blocks=blocks, rank=rank, C=C,
                      class_weight=class_weight, tol=TOL, max_iter=1000)
        P[test] = m.predict_proba(project_features(X[test][:, cols], blocks, m.projection, m.center))
    return P


def scores(y, pred) -> dict[str, float]:
    """Kappa, accuracy, macro-F1 and per-class precision/recall/F1 of ``pred`` against ``y``."""
    from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score, precision_recall_fscore_support

    labels = list(range(len(BEHAVIOURS)))
    p, r, f, n = precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    out = {"n": len(y), "kappa": cohen_kappa_score(y, pred, labels=labels), "accuracy": accuracy_score(y, pred),
           "macro_f1": f1_score(y, pred, labels=labels, average="macro", zero_division=0)}
    for k, b in enumerate(BEHAVIOURS):
        out |= {f"precision_{b.value}": p[k], f"recall_{b.value}": r[k], f"f1_{b.value}": f[k], f"support_{b.value}": int(n[k])}
    return out


def reliability(y, P) -> tuple[pd.DataFrame, float]:
    """Top-class confidence against accuracy in :data:`N_BINS` equal bins, and the expected calibration error."""
    conf, pred = P.max(axis=1), P.argmax(axis=1)
    bins = np.minimum((conf * N_BINS).astype(int), N_BINS - 1)
    rows, ece = [], 0.0
    for b in range(N_BINS):
        m = bins == b
        if m.any():
            acc, c = float((pred[m] == y[m]).mean()), float(conf[m].mean())
            ece += m.mean() * abs(acc - c)
            rows.append({"bin": b, "low": b / N_BINS, "high": (b + 1) / N_BINS, "n": int(m.sum()),
                         "confidence": c, "accuracy": acc})
    return pd.DataFrame(rows), float(ece)


def _relabel(traces, pred):
    from dataclasses import replace

    out, at = [], 0
    for t in traces:
        steps = tuple(replace(s, behaviour=BEHAVIOURS[int(k)]) for s, k in zip(t.steps, pred[at: at + len(t)], strict=True))
        out.append(replace(t, steps=steps))
        at += len(t)
    return out


def graph_table(traces, mapped, P, keyword, n_boot: int, seed: int = 0) -> pd.DataFrame:
    """Per teacher: the mapping's graph against the trained (hard, soft) and keyword graphs, paired bootstrap."""
    hard = _relabel(traces, P.argmax(axis=1))
    ends = np.cumsum([len(t) for t in traces])[:-1]
    probas = np.split(P, ends)
    rows = []
    for teacher in TEACHERS:
        idx = [i for i, t in enumerate(traces) if t.source_model == teacher]
        if not idx:
            continue
        ref_tr = [mapped[i] for i in idx]
        g_ref = fit_graph(ref_tr, method="dirichlet", prior=1.0)
        for name, tr in (("trained", [hard[i] for i in idx]), ("keyword", [keyword[i] for i in idx])):
            g = fit_graph(tr, method="dirichlet", prior=1.0)
            c = compare(g, g_ref, tr, ref_tr, n_boot=n_boot, seed=seed, paired=True)
            rows.append({"teacher": teacher, "labeller": name, "counts": "hard", "n_traces": len(idx),
                         "pearson": c.pearson, "pearson_lo": c.interval("pearson")[0], "pearson_hi": c.interval("pearson")[1],
                         "js_mean": c.js_mean, "js_mean_lo": c.interval("js_mean")[0], "js_mean_hi": c.interval("js_mean")[1]})
        # Soft counts: the same paired bootstrap, refitting both sides from per-trace count matrices.
        C_soft = np.stack([soft_transition_counts([probas[i]]) for i in idx])
        C_ref = per_trace_counts(ref_tr).astype(float)
        point = comparison_stats(fit_dirichlet(C_soft.sum(0), 1.0).mean, g_ref.P)
        rng = np.random.default_rng(seed)
        W = rng.multinomial(len(idx), np.full(len(idx), 1.0 / len(idx)), size=n_boot).astype(float)
        k = len(BEHAVIOURS)

        def refit(C, W=W, k=k):
            N = (W @ C.reshape(len(C), k * k)).reshape(-1, k, k) + 1.0
            return N / N.sum(axis=2, keepdims=True)

        reps = comparison_stats(refit(C_soft), refit(C_ref))
        lo_r, hi_r = np.nanquantile(reps["pearson"], [0.025, 0.975])
        lo_j, hi_j = np.nanquantile(reps["js_mean"], [0.025, 0.975])
        rows.append({"teacher": teacher, "labeller": "trained", "counts": "soft", "n_traces": len(idx),
                     "pearson": float(point["pearson"]), "pearson_lo": lo_r, "pearson_hi": hi_r,
                     "js_mean": float(point["js_mean"]), "js_mean_lo": lo_j, "js_mean_hi": hi_j})
    return pd.DataFrame(rows)


def judge_rows(traces, mapped, P) -> list[dict]:
    """Trained, keyword and judge against the mapping on the steps the cached judge labelled."""
    files = sorted(p for p in (Path(__file__).resolve().parent.parent / "results" / "labels").glob("llm-judge-*.jsonl")
                   if not p.stem.endswith("-quick"))
    if not files:
        return []
    judged = {t.trace_id: t for t in read_traces(files[0], on_error="skip")}
    pos = {t.trace_id: i for i, t in enumerate(traces)}
    starts = np.concatenate([[0], np.cumsum([len(t) for t in traces])])
    y, yj, yt, yk = [], [], [], []
    for tid, jt in judged.items():
        if tid not in pos:
            continue
        i = pos[tid]
        n = min(len(jt), len(traces[i]))
        yj += [BEHAVIOURS.index(s.behaviour) for s in jt.steps[:n]]
        y += [BEHAVIOURS.index(s.behaviour) for s in mapped[i].steps[:n]]
        yt += list(P[starts[i]: starts[i] + n].argmax(axis=1))
        yk += [BEHAVIOURS.index(s.behaviour) for s in KeywordLabeller().label(traces[i]).steps[:n]]
    if not y:
        return []
    y = np.array(y)
    return [{"split": "judge-subsample (model out)", "labeller": name, **scores(y, np.array(v))}
            for name, v in (("trained", yt), ("keyword", yk), (f"llm-judge ({files[0].stem})", yj))]


def _without(*drop: str) -> tuple[str, ...]:
    return tuple(b for b in DEFAULT_BLOCKS if b not in drop)


#: Variants refitted on the leave-one-model-out folds (name, blocks, C, class weights, principal axes).
_CW, _R = DEFAULT_CLASS_WEIGHT, DEFAULT_RANK
ABLATION = (
    ("shipped: self+prev+sim+pos+text", DEFAULT_BLOCKS, DEFAULT_C, _CW, _R),
    ("first shipped model: balanced classes, 64 axes", DEFAULT_BLOCKS, DEFAULT_C, "balanced", 64),
    ("balanced classes", DEFAULT_BLOCKS, DEFAULT_C, "balanced", _R),
    ("64 axes", DEFAULT_BLOCKS, DEFAULT_C, _CW, 64),
    ("+ next + ref (all blocks)", BLOCKS, DEFAULT_C, _CW, _R),
    ("- sim (no context similarities)", _without("sim"), DEFAULT_C, _CW, _R),
    ("- text (no cue words, lengths)", _without("text"), DEFAULT_C, _CW, _R),
    ("- prev", _without("prev"), DEFAULT_C, _CW, _R),
    ("sim + pos + text (no vector blocks)", ("sim", "pos", "text"), DEFAULT_C, _CW, _R),
    ("self + pos (step alone)", ("self", "pos"), DEFAULT_C, _CW, _R),
)


def _n_features(blocks, rank) -> int:
    """Columns the model sees: each vector block enters as ``rank`` principal coordinates."""
    return sum(rank if b in VECTOR_BLOCKS else len(feature_names((b,))) for b in blocks)


def _figure(conf: pd.DataFrame, rel: pd.DataFrame, ablation: pd.DataFrame, graphs: pd.DataFrame):
    from metacot.plots import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(2, 2, figsize=(12, 9))
    M = conf.to_numpy(float)
    M = M / np.maximum(M.sum(axis=1, keepdims=True), 1)
    ax[0, 0].imshow(M, cmap="Blues", vmin=0, vmax=1)
    for i in range(M.shape[0]):
        for j in range(M.shape[1]):
            ax[0, 0].text(j, i, f"{M[i, j]:.2f}\n({int(conf.iloc[i, j])})", ha="center", va="center", fontsize=8)
    names = [b.value for b in BEHAVIOURS]
    ax[0, 0].set_xticks(range(4), names)
    ax[0, 0].set_yticks(range(4), names)
    ax[0, 0].set_xlabel("trained (out of fold)")
    ax[0, 0].set_ylabel("ReasoningFlow mapping")
    ax[0, 0].set_title("Confusion, leave one model out (row-normalised)")
    ax[0, 1].plot([0, 1], [0, 1], "k:", lw=1)
    ax[0, 1].plot(rel["confidence"], rel["accuracy"], "o-")
    for r in rel.itertuples():
        ax[0, 1].annotate(str(r.n), (r.confidence, r.accuracy), fontsize=7, xytext=(3, -9), textcoords="offset points")
    ax[0, 1].set_xlabel("top-class probability (bin mean)")
    ax[0, 1].set_ylabel("accuracy")
    ax[0, 1].set_title("Reliability diagram, leave one model out")
    if len(ablation):
        ax[1, 0].barh(ablation["variant"], ablation["kappa"], color="tab:blue", label="kappa")
        ax[1, 0].barh(ablation["variant"], ablation["macro_f1"], color="none", edgecolor="tab:red", label="macro-F1")
        ax[1, 0].axvline(GOAL_KAPPA, color="tab:blue", ls=":")
        ax[1, 0].invert_yaxis()
        ax[1, 0].tick_params(axis="y", labelsize=7)
        ax[1, 0].legend(fontsize=8)
    ax[1, 0].set_title("Ablation (leave one model out)")
    for k, ((lab, counts), part) in enumerate(graphs.groupby(["labeller", "counts"], sort=False)):
        x = np.arange(len(part)) + 0.2 * k
        # A percentile interval need not contain the point estimate: draw it as a line, not error bars.
        line = ax[1, 1].plot(x, part["pearson"], "o", label=f"{lab} ({counts})")[0]
        ax[1, 1].vlines(x, part["pearson_lo"], part["pearson_hi"], color=line.get_color())
        ax[1, 1].set_xticks(np.arange(len(part)) + 0.2, part["teacher"])
    ax[1, 1].axhline(GOAL_R, color="k", ls=":", lw=1)
    ax[1, 1].set_ylabel("r with the mapping's graph (95% paired bootstrap)")
    ax[1, 1].set_title("Graphs on held-out models")
    ax[1, 1].legend(fontsize=8)
    fig.suptitle("M11: the trained step labeller against the ReasoningFlow mapping")
    fig.tight_layout()
    return fig


def run(quick: bool = False, results=None) -> dict:
    started = time.perf_counter()
    out = output_dir(CLAIM.id, results)
    traces = _traces(quick)
    mapped = label_traces(traces, ReasoningFlowLabeller())
    keyword = label_traces(traces, KeywordLabeller())
    y, yk = _indices(mapped), _indices(keyword)
    embedder = CachedEmbedder(StepEmbedder(), default_cache_dir())
    # Full features of every block once (float32 halves the memory); each fold projects on its own axes.
    X = np.vstack(traces_features(traces, embedder, BLOCKS)).astype(np.float32)
    models = np.array([t.source_model for t in traces for _ in t.steps])
    domains = np.array([str(t.metadata.get("domain")) for t in traces for _ in t.steps])

    rows, probas = [], {}
    for split, groups in (("leave-one-model-out", models), ("leave-one-domain-out", domains)):
        P = probas[split] = out_of_fold(X, y, groups)
        rows.append({"split": split, "labeller": "trained", **scores(y, P.argmax(axis=1))})
        rows.append({"split": split, "labeller": "keyword", **scores(y, yk)})
        for g in np.unique(groups):
            m = groups == g
            rows.append({"split": f"{split}: {g}", "labeller": "trained", **scores(y[m], P[m].argmax(axis=1))})
            rows.append({"split": f"{split}: {g}", "labeller": "keyword", **scores(y[m], yk[m])})
    P = probas["leave-one-model-out"]
    rows += judge_rows(traces, mapped, P)
    data = pd.DataFrame(rows)

    from sklearn.metrics import confusion_matrix

    names = [b.value for b in BEHAVIOURS]
    conf = pd.DataFrame(confusion_matrix(y, P.argmax(axis=1), labels=range(4)), index=names, columns=names)
    conf.to_csv(out / "confusion.csv", index_label="mapping\\trained")
    rel, ece = reliability(y, P)
    rel.to_csv(out / "reliability.csv", index=False)
    graphs = graph_table(traces, mapped, P, keyword, n_boot=200 if quick else 1000)
    graphs.to_csv(out / "graphs.csv", index=False)
    abl = []
    if not quick:
        for variant, blocks, C, cw, rank in ABLATION:
            shipped = (blocks, C, cw, rank) == (DEFAULT_BLOCKS, DEFAULT_C, _CW, _R)
            Pa = P if shipped else out_of_fold(X, y, models, blocks, C, cw, rank)
            s = scores(y, Pa.argmax(axis=1))
            abl.append({"variant": variant, "blocks": "+".join(blocks), "C": C, "class_weight": str(cw),
                        "rank": rank, "n_features": _n_features(blocks, rank), "kappa": s["kappa"], "macro_f1": s["macro_f1"],
                        "accuracy": s["accuracy"]})
    ablation = pd.DataFrame(abl)
    ablation.to_csv(out / "ablation.csv", index=False)

    lomo = data[(data["split"] == "leave-one-model-out") & (data["labeller"] == "trained")].iloc[0]
    lodo = data[(data["split"] == "leave-one-domain-out") & (data["labeller"] == "trained")].iloc[0]
    kw = data[(data["split"] == "leave-one-model-out") & (data["labeller"] == "keyword")].iloc[0]
    hard = graphs[(graphs["labeller"] == "trained") & (graphs["counts"] == "hard")]
    soft = graphs[(graphs["labeller"] == "trained") & (graphs["counts"] == "soft")]
    passed = bool(lomo["kappa"] >= GOAL_KAPPA and lomo["macro_f1"] >= GOAL_F1
                  and len(hard) == len(TEACHERS) and (hard["pearson"] >= GOAL_R).all())

    def graph_text(part):
        return ", ".join(f"{r.teacher} r {r.pearson:.3f} [{r.pearson_lo:.3f}, {r.pearson_hi:.3f}] JS {r.js_mean:.4f}"
                         for r in part.itertuples())

    measured = (
        f"leave-one-model-out: kappa {lomo['kappa']:.3f}, macro-F1 {lomo['macro_f1']:.3f}, accuracy "
        f"{lomo['accuracy']:.3f} (keyword: kappa {kw['kappa']:.3f}, macro-F1 {kw['macro_f1']:.3f}); "
        f"leave-one-domain-out: kappa {lodo['kappa']:.3f}, macro-F1 {lodo['macro_f1']:.3f}; ECE {ece:.3f}; "
        f"per-teacher graph vs mapping, hard labels: {graph_text(hard)}; soft counts: {graph_text(soft)}"
        + (" (--quick)" if quick else "")
    )
    details = {
        "n_traces": len(traces), "n_steps": len(y), "sources": list(SOURCES), "ece": ece,
        "lomo": {k: float(lomo[k]) for k in ("kappa", "macro_f1", "accuracy")},
        "lodo": {k: float(lodo[k]) for k in ("kappa", "macro_f1", "accuracy")},
        "keyword_lomo": {k: float(kw[k]) for k in ("kappa", "macro_f1", "accuracy")},
        "graphs": graphs.to_dict(orient="records"), "ablation": ablation.to_dict(orient="records"),
        "confusion": conf.to_numpy().tolist(), "embedding_cache": str(embedder.path),
        "embedded_now": embedder.misses,
    }
    verdict = from_claim(CLAIM, measured, passed, quick, **details)
    return vars(write(verdict, data, _figure(conf, rel, ablation, graphs), out, started))
