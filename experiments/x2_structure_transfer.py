r"""X2: structure transfer -- can the graphs refitted from two MoLE-Syn runs be told apart?

X1 asks whether one synthesised corpus carries its driving graph. The sharper test of structure
transfer (issue 16) drives the same model with two strongly different graphs and asks whether the
graph read back from each corpus is closer to its own driver than to the other one. If the
labelled text did not depend on the intended behaviour, both refits would be the labeller's own
bias, equally far from both drivers.

The two drivers are design graphs on the four behaviours of Chen et al. (2026), fixed here before
any run:

* **A, explore-heavy**: every row sends most of its mass to self-exploration (stationary mass on
  ``explore`` about 0.6);
* **B, deep/reflect-heavy**: rows send their mass to deep reasoning and self-reflection, almost
  never to exploration.

For each driver :math:`d`, :func:`metacot.synth.molesyn` writes one trace per MATH-500 problem with
the embedded model (SmolLM2-135M-Instruct), :func:`metacot.synth.closed_loop.closed_loop` labels
the steps with the trained labeller and refits :math:`R_d` (Dirichlet(1)). The statistic is the
difference of mean row Jensen-Shannon divergences

.. math::
    \Delta_d = \overline{\mathrm{JS}}(R_d, \text{other driver}) - \overline{\mathrm{JS}}(R_d, d),

with a 95% percentile interval from the package's trace bootstrap: the replicate weights of
:func:`~metacot.graphs.comparison.bootstrap_weights`, refits by
:func:`~metacot.graphs.comparison.resample_graph` and the statistics of
:func:`~metacot.graphs.comparison.comparison_stats` (the drivers are fixed). Traces are cached in
``results/X2/`` like X1's (:mod:`experiments._molesyn_runs`).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from experiments._common import Claim, from_claim, output_dir, write
from experiments._molesyn_runs import synthesise, threads
from metacot import plots
from metacot.behaviours import BEHAVIOURS
from metacot.graphs.comparison import bootstrap_weights, comparison_stats, resample_graph
from metacot.graphs.graph import BehaviourGraph
from metacot.graphs.provenance import Provenance
from metacot.traces.core import DATA_DIR, load_problems, read_traces

PROBLEMS = DATA_DIR / "problems" / "math500.jsonl"
SEED = 0
#: (problems per graph, max_steps, max_tokens) of the quick and the full run.
QUICK = (2, 2, 8)
FULL = (4, 12, 96)  # per driver; sized to the embedded model's ~5 steps/min (see the disclosure)
N_BOOT = 1000

#: The two driving graphs (rows: from normal, deep, reflect, explore).
DRIVERS = {
    "A explore-heavy": [[0.30, 0.05, 0.05, 0.60],
                        [0.30, 0.10, 0.05, 0.55],
                        [0.30, 0.05, 0.10, 0.55],
                        [0.15, 0.05, 0.05, 0.75]],
    "B deep/reflect-heavy": [[0.30, 0.35, 0.30, 0.05],
                             [0.10, 0.50, 0.35, 0.05],
                             [0.10, 0.40, 0.45, 0.05],
                             [0.20, 0.40, 0.35, 0.05]],
}

CLAIM = Claim(
    id="X2",
    paper="molecular-thought",
    claim=(
        "MoLE-Syn transfers structure: the behaviour graph that drives synthesis is the graph the synthesised "
        "corpus carries, so corpora driven by different graphs carry different graphs (Chen et al., 2026, "
        "§Mole-Syn: the synthesised data is meant to instil the teacher's behaviour structure)."
    ),
    formalisation=(
        "Drivers A (explore-heavy) and B (deep/reflect-heavy), fixed matrices in this module. For each: "
        "molesyn(driver, first n MATH-500 problems, LlamaCppSampler(SmolLM2-135M-Instruct Q4_1, n_ctx 2048), "
        f"start='explore', seed={SEED}, molesyn defaults); quick: n, max_steps, max_tokens = {QUICK}; full: {FULL}. "
        "TrainedLabeller labels, Dirichlet(1) refit R_d; Δ_d = meanJS(R_d, other) − meanJS(R_d, d), "
        f"{N_BOOT} trace-bootstrap replicates (bootstrap_weights + resample_graph), 95% percentile interval."
    ),
    prediction="Each refitted graph is closer to its own driver than to the other: Δ_A > 0 and Δ_B > 0.",
    rule=(
        "Full run: pass iff the 95% bootstrap interval of Δ_d lies above 0 for both drivers. The quick run has "
        "too few steps to test this and checks the pipeline (one trace per problem per driver, both "
        "statistics computed) only."
    ),
    disclosure=(
        "Both drivers are designed to differ strongly (a favourable case); the synthesiser is a 135M model and "
        "the labeller the trained step labeller (M11: κ ≈ 0.36 on held-out teachers), so a failure can come "
        "from either. Size: 4 problems per driver (96 steps in all, about 20 minutes on one thread), set "
        "before the first full run to fit the experiments' time budget; 4 traces per driver make wide "
        "bootstrap intervals, so a failure may be a lack of power."
    ),
)


def driver(name: str) -> BehaviourGraph:
    """The design graph ``name`` of :data:`DRIVERS`."""
    prov = Provenance.now(method="design", sources=("X2",), labeller=None,
                          extra={"note": f"X2 design graph {name!r}"})
    return BehaviourGraph(P=DRIVERS[name], states=BEHAVIOURS, provenance=prov)


def delta(rep, own: BehaviourGraph, other: BehaviourGraph, n_boot: int, rng) -> dict:
    """Point value and bootstrap replicates of Δ (JS) and of r(own) − r(other) for one refit."""
    W = bootstrap_weights(len(rep.labelled), n_boot, rng, what="synthesised traces")
    P, ok = resample_graph(rep.refit, rep.labelled, W)
    P = P[ok]
    s_own = comparison_stats(P, np.broadcast_to(own.P, P.shape))
    s_oth = comparison_stats(P, np.broadcast_to(other.P, P.shape))
    p_own, p_oth = comparison_stats(rep.refit.P, own.P), comparison_stats(rep.refit.P, other.P)
    d_js = s_oth["js_mean"] - s_own["js_mean"]
    d_r = s_own["pearson"] - s_oth["pearson"]
    return {
        "js_own": float(p_own["js_mean"]), "js_other": float(p_oth["js_mean"]),
        "r_own": float(p_own["pearson"]), "r_other": float(p_oth["pearson"]),
        "delta_js": float(p_oth["js_mean"] - p_own["js_mean"]),
        "delta_js_lo": float(np.nanquantile(d_js, 0.025)), "delta_js_hi": float(np.nanquantile(d_js, 0.975)),
        "delta_r": float(p_own["pearson"] - p_oth["pearson"]),
        "delta_r_lo": float(np.nanquantile(d_r, 0.025)), "delta_r_hi": float(np.nanquantile(d_r, 0.975)),
        "n_boot_used": int(ok.sum()),
    }


def _figure(reps: dict):
    plt = plots.pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(10, 9))
    names = [b.value for b in BEHAVIOURS]
    for row, (name, (rep, _)) in enumerate(reps.items()):
        for col, (P, title) in enumerate(((rep.driver.P, f"driver {name}"), (rep.refit.P, f"refit of {name}"))):
            ax = axes[row, col]
            ax.imshow(P, vmin=0, vmax=1, cmap="Blues")
            ax.set_xticks(range(4), names)
            ax.set_yticks(range(4), names)
            for (i, j), v in np.ndenumerate(P):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center")
            ax.set_title(title)
    fig.suptitle("X2: two driving graphs and the graphs read back from their corpora (trained labeller)")
    fig.tight_layout()
    return fig


def run(quick: bool = False, results=None) -> dict:
    from metacot.graphs.trained import TrainedLabeller
    from metacot.synth import LlamaCppSampler
    from metacot.synth.closed_loop import closed_loop

    started = time.perf_counter()
    out = output_dir(CLAIM.id, results)
    n_problems, max_steps, max_tokens = QUICK if quick else FULL
    problems = load_problems(PROBLEMS)[:n_problems]
    sampler = LlamaCppSampler(n_ctx=2048, n_threads=threads(), seed=SEED)
    labeller = TrainedLabeller()
    n_boot = 200 if quick else N_BOOT
    rng = np.random.default_rng(SEED)
    settings = {"max_steps": max_steps, "seed": SEED, "max_tokens": max_tokens}
    graphs = {name: driver(name) for name in DRIVERS}
    reps, rows, complete = {}, [], True
    for name, g in graphs.items():
        path, info = synthesise(out, g, problems, settings, sampler)
        traces = read_traces(path)
        complete &= sorted(t.trace_id for t in traces) == sorted(f"{p.source}/{p.problem_id}" for p in problems)
        rep = closed_loop(traces, g, labeller, teacher=None, n_boot=n_boot, seed=rng)
        reps[name] = (rep, info)
    stats = {}
    for name, (rep, info) in reps.items():
        other = next(o for o in graphs if o != name)
        stats[name] = delta(rep, graphs[name], graphs[other], n_boot, rng)
        rows.append({"driver": name, "n_traces": rep.n_traces, "n_steps": rep.n_steps, "kappa": rep.kappa,
                     "kappa_lo": rep.kappa_interval[0], "kappa_hi": rep.kappa_interval[1],
                     "steps_per_minute": info["steps_per_minute"], "cached": info["cached"], **stats[name]})
    data = pd.DataFrame(rows)
    separated = {n: bool(s["delta_js_lo"] > 0) for n, s in stats.items()}
    passed = complete and (quick or all(separated.values()))
    measured = "; ".join(
        f"{n}: ΔJS = {s['delta_js']:.3f} [{s['delta_js_lo']:.3f}, {s['delta_js_hi']:.3f}] (JS own {s['js_own']:.3f}, "
        f"other {s['js_other']:.3f}; r own {s['r_own']:.2f}, other {s['r_other']:.2f}; κ {reps[n][0].kappa:.2f}, "
        f"{reps[n][0].n_steps} steps)" for n, s in stats.items())
    verdict = from_claim(
        CLAIM, measured, passed, quick,
        n_problems=n_problems, max_steps=max_steps, max_tokens=max_tokens, seed=SEED, drivers=DRIVERS,
        complete=complete, separated=separated, stats=stats, sampler=sampler.describe(), threads=threads(),
        synthesis={n: info for n, (_, info) in reps.items()},
        closed_loop={n: rep.to_dict() for n, (rep, _) in reps.items()},
    )
    return vars(write(verdict, data, _figure(reps), out, started))
