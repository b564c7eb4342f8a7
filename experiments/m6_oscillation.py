r"""M6: does entropy oscillation separate reasoning teachers from instruction models? (notes §4.11)

Chen et al. (2026) report that long-CoT reasoners alternate between high-entropy exploration and
low-entropy validation ("metacognitive oscillation"). We measure it on the ReasoningFlow traces of
the three reasoning teachers and the two instruction models, restricted to problems answered by
both groups, with ``metacot.structure.dynamics``:

* **label information** (primary): :math:`I_t = H(P(\cdot \mid b_t)) / \log 4` under one behaviour
  graph fitted (Dirichlet, prior 1) to all five models' traces -- a common measuring stick;
* **semantic information** (full runs only): :func:`metacot.structure.dynamics.semantic_entropy` of the
  all-MiniLM-L6-v2 step embeddings (temperature 0.1), which needs no labels.

Per trace: :math:`\Delta I_t`, :math:`m_t`, the paper's phase rules, the alternation rate, phase
shares, the share of :math:`|\Delta I_t| > 0.1` and the spectral peak of the phase indicator.
The groups are compared per trace by the AUC (probability that a random reasoning trace scores
above a random instruction trace), Cohen's d and a seeded two-sided permutation test of the
difference in means (10,000 permutations). ``--quick`` runs the label measure only (every trace;
a real measurement, just without the embedding-based one).
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd

from experiments._common import Claim, from_claim, output_dir, write
from metacot.embed import CachedEmbedder, SentenceEmbedder, default_cache_dir, embed_traces
from metacot.graphs.fit import fit_graph
from metacot.graphs.labellers import ReasoningFlowLabeller, label_traces
from metacot.structure import dynamics as dyn
from metacot.traces.core import DATA_DIR, load_reasoningflow

CLAIM = Claim(
    id="M6",
    paper="molecular-thought",
    claim=(
        "Strong reasoners alternate between high-entropy exploration (m_t > 0.6, ΔI > 0.05) and low-entropy "
        "validation (m_t ≈ 0, |ΔI| < 0.05), a 'metacognitive oscillation' (Chen et al. 2026, Figure 10, "
        "Appendix D.3; notes §4.11)."
    ),
    formalisation=(
        "ReasoningFlow annotated traces (≥ 10 steps) of reasoning teachers (DeepSeek-R1, QwQ-32B, "
        "gpt-oss-120b) vs instruction models (DeepSeek-V3, Qwen2.5-32B-Instruct) on problems answered by "
        "both groups; ReasoningFlowLabeller; I_t = normalised entropy of the next-behaviour distribution "
        "under one Dirichlet graph fitted to all five models; phases by the paper's thresholds with "
        "|m_t| ≤ 0.2 for 'm_t ≈ 0'; statistic: alternation rate (explore↔validate switches per step)."
    ),
    prediction="Reasoning-teacher traces alternate more than instruction-model traces on the same problems.",
    rule=(
        "Pass iff the per-trace alternation rate has AUC ≥ 0.6 (reasoning above instruction) and a two-sided "
        "permutation p < 0.05 (10,000 permutations, seed 0)."
    ),
)

REASONING = ("DeepSeek-R1", "QwQ-32B", "gpt-oss-120b")
INSTRUCTION = ("DeepSeek-V3", "Qwen2.5-32B-Instruct")
MIN_STEPS = 10
N_PERM = 10_000
SEED = 0
STATS = ("alternation_rate", "explore", "validate", "other", "large_change", "peak_frequency", "peak_share")


def problem_of(trace) -> str:
    return trace.trace_id.rsplit("_", 1)[0]


def load(min_steps: int = MIN_STEPS):
    traces = label_traces(load_reasoningflow(DATA_DIR / "reasoningflow" / "annotated"), ReasoningFlowLabeller())
    traces = [t for t in traces if len(t) >= min_steps and t.source_model in REASONING + INSTRUCTION]
    by_problem: dict[str, set[str]] = {}
    for t in traces:
        group = "reasoning" if t.source_model in REASONING else "instruction"
        by_problem.setdefault(problem_of(t), set()).add(group)
    shared = {p for p, g in by_problem.items() if len(g) == 2}
    return [t for t in traces if problem_of(t) in shared]


def trace_stats(info_series: np.ndarray, **phase_kw) -> dict[str, float]:
    info = dyn.information_measures(info_series)
    osc = dyn.oscillation(info, dyn.classify_phases(info, **phase_kw))
    return osc.as_dict()


def auc(x: np.ndarray, y: np.ndarray) -> float:
    """P(X > Y) + P(X = Y)/2 by ranks (Mann-Whitney)."""
    import scipy.stats

    u = scipy.stats.mannwhitneyu(x, y, alternative="two-sided").statistic
    return float(u / (len(x) * len(y)))


def permutation_p(x: np.ndarray, y: np.ndarray, n_perm: int = N_PERM, seed: int = SEED) -> float:
    rng = np.random.default_rng(seed)
    z = np.concatenate([x, y])
    obs = abs(x.mean() - y.mean())
    hits = 0
    for _ in range(n_perm):
        rng.shuffle(z)
        hits += abs(z[: len(x)].mean() - z[len(x):].mean()) >= obs - 1e-15
    return (hits + 1) / (n_perm + 1)


def cohen_d(x: np.ndarray, y: np.ndarray) -> float:
    s = math.sqrt(((len(x) - 1) * x.var(ddof=1) + (len(y) - 1) * y.var(ddof=1)) / (len(x) + len(y) - 2))
    return float((x.mean() - y.mean()) / s) if s > 0 else math.nan


def compare(df: pd.DataFrame, measure: str, n_perm: int = N_PERM) -> list[dict]:
    rows = []
    part = df[df["measure"] == measure]
    for stat in STATS:
        x = part.loc[part["group"] == "reasoning", stat].dropna().to_numpy(float)
        y = part.loc[part["group"] == "instruction", stat].dropna().to_numpy(float)
        if len(x) < 2 or len(y) < 2:
            continue
        rows.append({
            "measure": measure, "stat": stat, "mean_reasoning": x.mean(), "mean_instruction": y.mean(),
            "auc": auc(x, y), "cohen_d": cohen_d(x, y), "perm_p": permutation_p(x, y, n_perm),
            "n_reasoning": len(x), "n_instruction": len(y),
        })
    return rows


def run(quick: bool = False, results=None) -> dict:
    started = time.perf_counter()
    out = output_dir(CLAIM.id, results)
    traces = load()
    graph = fit_graph(traces, method="dirichlet", prior=1.0)
    rows = []
    for t in traces:
        idx = np.array([graph.index(b) for b in t.behaviours()])
        base = {"trace_id": t.trace_id, "model": t.source_model, "n_steps": len(t),
                "group": "reasoning" if t.source_model in REASONING else "instruction"}
        rows.append({**base, "measure": "label", **trace_stats(dyn.predictive_entropy(idx, graph))})
        if not quick:
            # Sensitivity of the primary measure to the '≈ 0' tolerance and the paper's 0.05 delta.
            for fs, fd in ((0.1, 0.05), (0.6, 0.05), (0.2, 0.1)):
                rows.append({**base, "measure": f"label flat_slope={fs} deltas={fd}",
                             **trace_stats(dyn.predictive_entropy(idx, graph), flat_slope=fs, flat_delta=fd,
                                           explore_delta=fd)})
    if not quick:
        embedder = CachedEmbedder(SentenceEmbedder(batch_size=64), default_cache_dir())
        embs = embed_traces(traces, embedder)
        for E, r in zip(embs, [r for r in rows if r["measure"] == "label"]):
            rows.append({**{k: r[k] for k in ("trace_id", "model", "n_steps", "group")}, "measure": "semantic",
                         **trace_stats(dyn.semantic_entropy(E))})
    data = pd.DataFrame(rows)
    comp = pd.DataFrame([row for m in data["measure"].unique() for row in compare(data, m)])
    primary = comp[(comp["measure"] == "label") & (comp["stat"] == "alternation_rate")].iloc[0]
    passed = primary["auc"] >= 0.6 and primary["perm_p"] < 0.05
    lab = comp[comp["measure"] == "label"].set_index("stat")
    measured = (
        f"alternation rate (label information): reasoning {primary['mean_reasoning']:.3f} vs instruction "
        f"{primary['mean_instruction']:.3f}, AUC {primary['auc']:.3f}, d {primary['cohen_d']:.2f}, "
        f"permutation p {primary['perm_p']:.4f} ({int(primary['n_reasoning'])} vs {int(primary['n_instruction'])} traces); "
        f"exploration share AUC {lab.loc['explore', 'auc']:.3f}, |ΔI|>0.1 share {lab.loc['large_change', 'mean_reasoning']:.1%} "
        f"vs {lab.loc['large_change', 'mean_instruction']:.1%} (paper: R1 76.1%, humans < 18.7%)"
    )
    if not quick:
        sem = comp[comp["measure"] == "semantic"].set_index("stat")
        measured += (
            f"; semantic information: alternation AUC {sem.loc['alternation_rate', 'auc']:.3f} "
            f"(p {sem.loc['alternation_rate', 'perm_p']:.4f}), |ΔI|>0.1 AUC {sem.loc['large_change', 'auc']:.3f}"
        )
        sens = comp[comp["measure"].str.startswith("label ") & (comp["stat"] == "alternation_rate")]
        measured += "; alternation AUC under other phase tolerances " + ", ".join(
            f"{r.measure[6:]}: {r.auc:.3f}" for r in sens.itertuples())
    fig = _figure(data, comp)
    verdict = from_claim(
        CLAIM, measured, passed, quick,
        comparison=comp.to_dict("records"), n_traces=len(traces), graph_P=graph.P.round(4).tolist(),
        per_model=data[data["measure"] == "label"].groupby("model")[list(STATS)].mean().round(4).to_dict("index"),
    )
    return vars(write(verdict, data, fig, out, started))


def _figure(data: pd.DataFrame, comp: pd.DataFrame):
    import matplotlib.pyplot as plt
    import seaborn as sns

    measures = [m for m in ("label", "semantic") if m in set(data["measure"])]
    fig, axes = plt.subplots(1, 2 * len(measures), figsize=(5 * len(measures) * 1.6, 3.6))
    axes = np.atleast_1d(axes)
    for j, m in enumerate(measures):
        part = data[data["measure"] == m]
        for k, stat in enumerate(("alternation_rate", "large_change")):
            ax = axes[2 * j + k]
            sns.boxplot(data=part, x="model", y=stat, hue="group", ax=ax, fliersize=2)
            row = comp[(comp["measure"] == m) & (comp["stat"] == stat)].iloc[0]
            ax.set_title(f"{m}: {stat} (AUC {row['auc']:.2f}, p {row['perm_p']:.3g})", fontsize=8)
            ax.tick_params(axis="x", labelrotation=30, labelsize=7)
            ax.legend(fontsize=6)
    fig.suptitle("M6: entropy oscillation, reasoning teachers vs instruction models", fontsize=10)
    fig.tight_layout()
    return fig
