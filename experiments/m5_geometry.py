r"""M5: semantic geometry of real teacher traces (Molecular Structure §4.8–4.9 of our notes).

Every step of the ReasoningFlow traces of the three reasoning teachers (DeepSeek-R1, QwQ-32B,
gpt-oss-120b), labelled into the four behaviours by ``ReasoningFlowLabeller``, is embedded with
all-MiniLM-L6-v2 (offline, ``metacot.embed.SentenceEmbedder``), mapped by one 3-D t-SNE per
trace (perplexity 30, seed 0) and rescaled to trace units (median pairwise distance 1). We then
measure the paper's four bond statistics with the documented defaults of ``metacot.structure.geometry``
and, for each, the same statistic over the other behaviours as a base rate, plus the sensitivity
to the thresholds, the window, and the t-SNE perplexity and seed.

Embeddings are cached on disk (``$METACOT_CACHE`` or ``~/.cache/metacot``, ``embeddings/``), so
only the first full run pays for embedding. ``--quick`` uses the real model on 6 traces (2 per
teacher) and a reduced sensitivity grid: a smoke test of the whole pipeline on real data, not a
measurement.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from experiments._common import Claim, from_claim, output_dir, write
from experiments._geometry_setup import PERPLEXITY, SEED
from metacot.behaviours import Behaviour
from metacot.embed import CachedEmbedder, SentenceEmbedder, default_cache_dir, embed_traces
from metacot.graphs.labellers import ReasoningFlowLabeller, label_traces
from metacot.structure import geometry as geo
from metacot.structure.bond_summary import summarise_bonds, trace_bonds
from metacot.traces.core import DATA_DIR, load_reasoningflow

CLAIM = Claim(
    id="M5",
    paper="molecular-thought",
    claim=(
        "In 3-D t-SNE of step embeddings, deep-reasoning steps stay local (72.56% within distance 3; "
        "clusters > 5.6 apart), 81.72% of self-reflection steps re-attach to an earlier cluster, "
        "exploration strides are long (5.32), and the minimum-enclosing-ball volume shrinks around "
        "reflection (35.2 → 31.2) and grows around exploration (23.95 → 29.22) (Chen et al. 2026, "
        "§'logical folding', Appendix F; notes §4.8–4.9)."
    ),
    formalisation=(
        "ReasoningFlow annotated traces of DeepSeek-R1, QwQ-32B, gpt-oss-120b (traces with ≥ 10 steps), "
        "ReasoningFlowLabeller; all-MiniLM-L6-v2 unit embeddings; one t-SNE per trace (3-D, cosine, "
        "perplexity 30, PCA init, seed 0); coordinates divided by the trace's median pairwise distance. "
        "Locality: jump to the previous step < 3/5.6 trace units. Clusters: average linkage cut at 3/5.6. "
        "Re-attachment: the step's cluster was visited before (min_lag 1); 'return': re-attached and in a "
        "different cluster from the previous step. Stride: mean jump. Volumes: MEB (Welzl) of the 5 steps "
        "before vs the 5 steps from the event on."
    ),
    prediction=(
        "Each bond behaves as described relative to the other behaviours: deep steps more local, reflection "
        "steps return to earlier clusters more often, exploration jumps longer; MEB volume ratio after/before "
        "< 1 around reflection and > 1 around exploration. The paper's absolute numbers are in unknown "
        "units and clustering, so they are reported beside ours, not tested."
    ),
    rule=(
        "Pass iff (a) deep locality share > non-deep share, (b) reflection 'return' share > non-reflection "
        "share, (c) mean exploration stride > mean stride of the other steps, (d) median volume ratio "
        "after/before < 1 for reflection events and > 1 for exploration events."
    ),
)

TEACHERS = ("DeepSeek-R1", "QwQ-32B", "gpt-oss-120b")
MIN_STEPS = 10


def teacher_traces(quick: bool) -> list:
    traces = load_reasoningflow(DATA_DIR / "reasoningflow" / "annotated")
    traces = [t for t in traces if t.source_model in TEACHERS and len(t) >= MIN_STEPS]
    traces = label_traces(traces, ReasoningFlowLabeller())
    if quick:
        # Two short-to-medium traces per teacher: cheap, but every behaviour occurs.
        picked = []
        for model in TEACHERS:
            own = sorted((t for t in traces if t.source_model == model and 40 <= len(t) <= 120), key=len)
            picked += own[:2]
        traces = picked
    return traces


def analyse(coords_list, beh_list, *, loc=geo.LOCALITY_THRESHOLD, clu=geo.CLUSTER_THRESHOLD, min_lag=1,
            window=geo.WINDOW) -> dict[str, float]:
    tables, vols = [], []
    for Y, bs in zip(coords_list, beh_list):
        tab, v = trace_bonds(Y, bs, loc=loc, clu=clu, min_lag=min_lag, window=window)
        tables.append(tab)
        vols.append(v)
    return summarise_bonds(tables, vols)


def passed_rule(s: dict[str, float]) -> tuple[bool, dict[str, bool]]:
    checks = {
        "a_deep_local": s["locality_deep"] > s["locality_other"],
        "b_reflect_return": s["return_reflect"] > s["return_other"],
        "c_explore_stride": s["stride_explore"] > s["stride_other"],
        "d_volumes": s["vol_ratio_median_reflect"] < 1 < s["vol_ratio_median_explore"],
    }
    return all(checks.values()), checks


def run(quick: bool = False, results=None) -> dict:
    started = time.perf_counter()
    out = output_dir(CLAIM.id, results)
    traces = teacher_traces(quick)
    embedder = CachedEmbedder(SentenceEmbedder(batch_size=64), default_cache_dir())
    t0 = time.perf_counter()
    embs = embed_traces(traces, embedder)
    t_embed = time.perf_counter() - t0
    beh = [[b.value for b in t.behaviours()] for t in traces]
    t0 = time.perf_counter()
    coords = [geo.to_trace_units(geo.tsne_3d(E, perplexity=PERPLEXITY, seed=SEED)) for E in embs]
    t_tsne = time.perf_counter() - t0

    main = analyse(coords, beh)
    ok, checks = passed_rule(main)

    # Sensitivity: thresholds and windows on the main coordinates, then t-SNE settings on a subset.
    rows = [{"setting": "default", **main}]
    grid = (0.25, 0.375, 0.75, 1.0) if not quick else (0.375, 0.75)
    for thr in grid:
        rows.append({"setting": f"locality+cluster threshold {thr:g}", **analyse(coords, beh, loc=thr, clu=thr)})
    rows.append({"setting": "min_lag 2", **analyse(coords, beh, min_lag=2)})
    for w in (3, 8) if not quick else (3,):
        rows.append({"setting": f"window {w}", **analyse(coords, beh, window=w)})
    n_sub = 6 if quick else 24
    order = np.argsort([len(t) for t in traces])
    sub = sorted(order[np.linspace(0, len(order) - 1, min(n_sub, len(order))).round().astype(int)].tolist())
    t_settings = [(p, s) for p in (10.0, 30.0, 50.0) for s in (0, 1, 2)] if not quick else [(10.0, 0), (30.0, 1)]
    for perp, seed in t_settings:
        cs = [geo.to_trace_units(geo.tsne_3d(embs[i], perplexity=perp, seed=seed)) for i in sub]
        rows.append({"setting": f"subset {len(sub)} traces, perplexity {perp:g}, seed {seed}",
                     **analyse(cs, [beh[i] for i in sub])})
    data = pd.DataFrame(rows)
    sens = data.iloc[1:]
    robust = {
        k: f"{sens[k].min():.3g}–{sens[k].max():.3g}"
        for k in ("locality_deep", "reattach_reflect", "return_reflect", "stride_explore",
                  "vol_ratio_median_reflect", "vol_ratio_median_explore")
    }
    rule_holds_share = float(np.mean([passed_rule(r)[0] for r in sens.to_dict("records")]))

    p = geo.PAPER
    paper_units = {
        "stride_trace_units": p["stride"] / p["intercluster_distance"],
        "volume_ratio_reflect": p["volume_reflect"][1] / p["volume_reflect"][0],
        "volume_ratio_explore": p["volume_explore"][1] / p["volume_explore"][0],
    }
    m = main
    measured = (
        f"deep locality {m['locality_deep']:.1%} (other steps {m['locality_other']:.1%}; paper 72.56%); "
        f"reflection re-attachment {m['reattach_reflect']:.1%} (other {m['reattach_other']:.1%}; paper 81.72%), "
        f"return {m['return_reflect']:.1%} (other {m['return_other']:.1%}); "
        f"exploration stride {m['stride_explore']:.3f} trace units (other {m['stride_other']:.3f}; paper 5.32/5.6 = "
        f"{paper_units['stride_trace_units']:.3f}), median {m['stride_median_explore']:.3f} (other "
        f"{m['stride_median_other']:.3f}); MEB volume ratio after/before median: reflection "
        f"{m['vol_ratio_median_reflect']:.3f} (paper {paper_units['volume_ratio_reflect']:.3f}), exploration "
        f"{m['vol_ratio_median_explore']:.3f} (paper {paper_units['volume_ratio_explore']:.3f}); median volumes "
        f"before → after: reflection {m['vol_before_median_reflect']:.3g} → {m['vol_after_median_reflect']:.3g}, "
        f"exploration {m['vol_before_median_explore']:.3g} → {m['vol_after_median_explore']:.3g} "
        f"({m['n_events_reflect']} and {m['n_events_explore']} events); "
        f"checks {checks}; rule holds in {rule_holds_share:.0%} of {len(sens)} sensitivity settings; "
        f"{len(traces)} traces, {sum(len(b) for b in beh)} steps"
    )
    fig = _figure(coords, beh, main, traces)
    verdict = from_claim(
        CLAIM, measured, ok, quick,
        summary=main, checks=checks, sensitivity_ranges=robust, rule_holds_share=rule_holds_share,
        paper=p, paper_in_our_terms=paper_units, n_traces=len(traces),
        seconds_embed=round(t_embed, 1), seconds_tsne=round(t_tsne, 1),
        embedding_model=embedder.key, perplexity=PERPLEXITY, seed=SEED,
    )
    return vars(write(verdict, data, fig, out, started))


def _figure(coords, beh, s, traces):
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(13, 4))
    ax = fig.add_subplot(1, 3, 1, projection="3d")
    i = int(np.argmax([len(b) if len(b) <= 200 else 0 for b in beh]))
    Y, bs = coords[i], np.array(beh[i])
    ax.plot(*Y.T, color="0.8", lw=0.6)
    colours = {"normal": "tab:gray", "deep": "tab:blue", "reflect": "tab:red", "explore": "tab:green"}
    for b, c in colours.items():
        sel = bs == b
        ax.scatter(*Y[sel].T, s=8, color=c, label=b)
    ax.set_title(f"{traces[i].trace_id} (t-SNE, trace units)", fontsize=8)
    ax.legend(fontsize=7)
    ax2 = fig.add_subplot(1, 3, 2)
    names = [b.value for b in Behaviour]
    x = np.arange(len(names))
    ax2.bar(x, [s[f"locality_{b}"] for b in names], color=[colours[b] for b in names])
    ax2.axhline(0.7256, ls="--", color="k", lw=0.8, label="paper deep locality 72.56%")
    ax2.set_xticks(x, names)
    ax2.set_ylabel(f"share with jump < {geo.LOCALITY_THRESHOLD:.3f}")
    ax2.set_title("locality by behaviour", fontsize=9)
    ax2.legend(fontsize=7)
    ax3 = fig.add_subplot(1, 3, 3)
    for j, b in enumerate(("reflect", "explore")):
        ax3.bar([2 * j, 2 * j + 0.8], [s[f"vol_before_median_{b}"], s[f"vol_after_median_{b}"]], width=0.7,
                color=[colours[b], "0.6"])
    ax3.set_xticks([0, 0.8, 2, 2.8], ["reflect\nbefore", "after", "explore\nbefore", "after"])
    ax3.set_ylabel("median MEB volume (trace units³)")
    ax3.set_title(f"window ({geo.WINDOW} steps) volumes around events", fontsize=9)
    fig.subplots_adjust(wspace=0.35)
    fig.suptitle("M5: semantic geometry of teacher traces", fontsize=10)
    return fig
