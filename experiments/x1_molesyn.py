r"""X1: MoLE-Syn with a real (small) instruction model: does the written text carry the driving graph?

Chen et al. (2026), *The Molecular Structure of Thought* (§"Mole-Syn"; ``papers/molecular_paper.md``
§3), synthesise long chains of thought by walking a behaviour transition graph and asking an
instruction LLM for one step per visited behaviour. Whether the written steps *are* the
behaviours asked for is the premise the method rests on, and the paper does not measure it.

We run :func:`metacot.synth.molesyn` with the embedded model (SmolLM2-135M-Instruct, Q4_1, in
process through llama.cpp) on the DeepSeek-R1-0528 reference graph of Figure 5, on the first
MATH-500 problems shipped in ``data/problems``, with molesyn's default conditioning, and close the
loop (:func:`metacot.synth.closed_loop.closed_loop`):

* fidelity: the trained step labeller (:class:`~metacot.graphs.trained.TrainedLabeller`) labels
  every written step; Cohen's :math:`\kappa` between intended and labelled behaviour (95% trace
  bootstrap interval), the confusion table and per-behaviour recall;
* structure: the graph refitted from the labels (Dirichlet(1)) against the driving graph, Pearson
  :math:`r` and row JS with 95% intervals, beside the split-half noise of the DeepSeek-R1 teacher's
  annotated traces;
* throughput (steps per minute) and accuracy (``math-verify``).

The traces are cached in ``results/X1/traces-<key>.jsonl`` (:mod:`experiments._molesyn_runs`), so a
rerun with unchanged graph, settings, model, defaults and prompts reuses them.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from experiments._common import Claim, from_claim, output_dir, write
from experiments._molesyn_runs import synthesise, threads
from metacot import plots
from metacot.behaviours import BEHAVIOURS
from metacot.graphs.agreement import agreement
from metacot.graphs.graph import reference
from metacot.graphs.keyword import KeywordLabeller
from metacot.traces.core import DATA_DIR, load_problems, read_traces

GRAPH = "deepseek-r1-0528"
PROBLEMS = DATA_DIR / "problems" / "math500.jsonl"
SEED = 0
#: (problems, max_steps, max_tokens) of the quick and the full run.
QUICK = (2, 2, 16)
FULL = (24, 12, 96)  # issue 16 asks for 64 problems; see the disclosure
N_BOOT = 1000
KAPPA_GOAL, R_GOAL = 0.5, 0.9

CLAIM = Claim(
    id="X1",
    paper="molecular-thought",
    claim=(
        "MoLE-Syn: a random walk on a behaviour transition graph can drive an instruction LLM to write long "
        "chains of thought one behaviour-conditioned step at a time, the steps realising the intended "
        "behaviours, so that the synthesised traces carry the driving graph (Chen et al., 2026, §Mole-Syn, "
        "Appendix E prompts)."
    ),
    formalisation=(
        f"molesyn(reference('{GRAPH}'), first n MATH-500 problems, LlamaCppSampler(SmolLM2-135M-Instruct Q4_1, "
        f"n_ctx 2048), start='explore', seed={SEED}, temperature 0.7, molesyn's default conditioning); quick: n, "
        f"max_steps, max_tokens = {QUICK}; full: {FULL}. Closed loop: TrainedLabeller labels every step; "
        f"Dirichlet(1) refit; compare() with the driver (Pearson r, row JS, {N_BOOT} trace-bootstrap replicates, "
        "95%); Cohen's κ intended vs labelled with the same bootstrap; yardstick: DeepSeek-R1 annotated traces "
        "split in random halves (ReasoningFlow mapping labels)."
    ),
    prediction=(
        f"The labelled steps follow the intended behaviours (κ ≥ {KAPPA_GOAL}) and the refitted graph is the "
        f"driving graph up to noise (r ≥ {R_GOAL}), the goals of issue 16."
    ),
    rule=(
        f"Full run: pass iff every problem has exactly one trace, κ(intended, trained label) ≥ {KAPPA_GOAL} and "
        f"Pearson r(refit, driver) ≥ {R_GOAL} (point estimates; their 95% intervals are reported). The quick run "
        "has too few steps to test fidelity and checks the pipeline (one trace per problem, a closed-loop "
        "report) only."
    ),
    disclosure=(
        "The synthesiser is a 135M-parameter model, far below the paper's Qwen2.5-32B-Instruct, and the "
        "labeller is our trained step labeller (κ ≈ 0.36 on held-out teachers, M11), not the paper's LLM "
        "labeller; a failure says the small pipeline does not realise behaviours measurably, not that the "
        "paper's does not. The first version of X1 (8 problems × 8 steps, keyword labeller) measured κ = 0.14; "
        "this version's rule is that of issue 16, fixed before its first full run. Size: the full run was "
        "started at 64 problems and stopped after the first 24 had finished (58 minutes at about 5 steps/min "
        "on a shared 2-core machine), before any closed-loop figure existed; each trace depends only on the "
        "graph, seed, problem and model (molesyn's per-problem seeding), so those 24 traces are exactly the "
        "run of the first 24 problems, which is the full size now (cache file renamed to its key)."
    ),
)


def _figure(rep, info):
    plt = plots.pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    names = [b.value for b in BEHAVIOURS]
    for ax, P, title in ((axes[0], rep.driver.P, "driving graph"), (axes[1], rep.refit.P, "refit from labels")):
        ax.imshow(P, vmin=0, vmax=1, cmap="Blues")
        ax.set_xticks(range(4), names)
        ax.set_yticks(range(4), names)
        for (i, j), v in np.ndenumerate(P):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center")
        ax.set_title(title)
    lo, hi = rep.vs_driver.interval("pearson")
    axes[1].set_title(f"refit from trained labels (r = {rep.vs_driver.pearson:.2f} [{lo:.2f}, {hi:.2f}])")
    conf = rep.confusion
    axes[2].imshow(conf, cmap="Greens")
    axes[2].set_xticks(range(4), names)
    axes[2].set_yticks(range(4), names)
    axes[2].set_xlabel("trained label")
    axes[2].set_ylabel("intended behaviour")
    for (i, j), v in np.ndenumerate(conf):
        axes[2].text(j, i, str(int(v)), ha="center", va="center")
    axes[2].set_title(f"κ = {rep.kappa:.2f} [{rep.kappa_interval[0]:.2f}, {rep.kappa_interval[1]:.2f}]")
    fig.suptitle(f"X1: closed loop on {rep.n_traces} traces, {rep.n_steps} steps "
                 f"({info['steps_per_minute']:.1f} steps/min)")
    fig.tight_layout()
    return fig


def run(quick: bool = False, results=None) -> dict:
    from metacot.synth import LlamaCppSampler
    from metacot.synth.closed_loop import closed_loop

    started = time.perf_counter()
    out = output_dir(CLAIM.id, results)
    n_problems, max_steps, max_tokens = QUICK if quick else FULL
    problems = load_problems(PROBLEMS)[:n_problems]
    sampler = LlamaCppSampler(n_ctx=2048, n_threads=threads(), seed=SEED)
    graph = reference(GRAPH)
    settings = {"max_steps": max_steps, "seed": SEED, "max_tokens": max_tokens}
    path, info = synthesise(out, graph, problems, settings, sampler)
    traces = read_traces(path)
    n_boot = 200 if quick else N_BOOT
    rep = closed_loop(traces, graph, n_boot=n_boot, seed=SEED)
    keyword = agreement(traces, [KeywordLabeller().label(t) for t in traces])

    rows = []
    for t, lab in zip(traces, rep.labelled):
        for i, (s, sl) in enumerate(zip(t.steps, lab.steps)):
            rows.append({"problem": t.trace_id, "step": i, "intended": s.behaviour.value,
                         "trained": None if sl.behaviour is None else sl.behaviour.value, "chars": len(s.text),
                         "boxed": bool(s.source_labels.get("boxed")), "correct": t.metadata["correct"]})
    data = pd.DataFrame(rows)
    ids = [t.trace_id for t in traces]
    complete = sorted(ids) == sorted(f"{p.source}/{p.problem_id}" for p in problems) and len(set(ids)) == len(ids)
    goals = {"kappa": bool(np.isfinite(rep.kappa) and rep.kappa >= KAPPA_GOAL),
             "r": bool(rep.vs_driver.pearson >= R_GOAL)}
    passed = complete and (quick or all(goals.values()))
    n_correct = sum(bool(t.metadata["correct"]) for t in traces)
    r_lo, r_hi = rep.vs_driver.interval("pearson")
    sh = rep.split_half
    recall = ", ".join(f"{b} {v:.0%}" for b, v in rep.recall.items() if np.isfinite(v))
    measured = (
        f"{len(traces)} traces, {rep.n_steps} steps ({info['steps_per_minute']:.1f} steps/min, {threads()} threads"
        f"{', cached' if info['cached'] else ''}); accuracy {n_correct}/{len(traces)}; trained-label κ = "
        f"{rep.kappa:.2f} [{rep.kappa_interval[0]:.2f}, {rep.kappa_interval[1]:.2f}] (recall {recall}); "
        f"r(refit, driver) = {rep.vs_driver.pearson:.3f} [{r_lo:.3f}, {r_hi:.3f}], mean row JS "
        f"{rep.vs_driver.js_mean:.3f}; teacher split-half r = {sh.pearson:.3f}, JS {sh.js_mean:.4f}; "
        f"keyword κ = {keyword['kappa']:.2f}"
    )
    verdict = from_claim(
        CLAIM, measured, passed, quick,
        n_problems=n_problems, max_steps=max_steps, max_tokens=max_tokens, seed=SEED, goals=goals,
        complete=complete, n_correct=n_correct, synthesis=info, closed_loop=rep.to_dict(),
        keyword_kappa=keyword["kappa"], sampler=sampler.describe(), threads=threads(),
        closed_loop_markdown=rep.markdown(),
    )
    return vars(write(verdict, data, _figure(rep, info), out, started))
