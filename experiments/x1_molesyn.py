r"""X1: MoLE-Syn with a real (small) instruction model: throughput, accuracy, behaviour fidelity.

Chen et al. (2026), *The Molecular Structure of Thought* (§"Mole-Syn"; ``papers/molecular_paper.md``
§3), synthesise long chains of thought by walking a behaviour transition graph and asking an
instruction LLM for one step per visited behaviour. Whether the written steps *are* the
behaviours asked for is the premise the method rests on, and the paper does not measure it.

We run :func:`metacot.synth.molesyn` with the embedded model (SmolLM2-135M-Instruct, Q4_1, in
process through llama.cpp) on the DeepSeek-R1-0528 reference graph of Figure 5, on the first
problems of MATH-500 shipped in ``data/problems``, and measure

* throughput: synthesised steps per minute of wall time on this machine;
* accuracy: share of traces whose ``\boxed{}`` answer ``math-verify`` accepts;
* fidelity: for each behaviour, the share of the steps written for it that an independent
  labeller (the keyword baseline :class:`metacot.graphs.labellers.KeywordLabeller`) gives the same label;
  overall agreement and Cohen's :math:`\kappa` between intended and keyword labels.

The behaviour sequences themselves follow the graph by construction (checked exactly in
``tests/synth/test_molesyn.py``); this experiment is about the text.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd

from experiments._common import Claim, from_claim, output_dir, write
from metacot import plots
from metacot.behaviours import BEHAVIOURS
from metacot.graphs import labellers as label
from metacot.graphs.graph import reference
from metacot.traces.core import DATA_DIR, load_problems, read_traces

GRAPH = "deepseek-r1-0528"
PROBLEMS = DATA_DIR / "problems" / "math500.jsonl"
SEED = 0
#: (problems, max_steps, max_tokens) of the quick and the full run.
QUICK = (2, 3, 24)
FULL = (8, 8, 96)

CLAIM = Claim(
    id="X1",
    paper="molecular-thought",
    claim=(
        "MoLE-Syn: a random walk on a behaviour transition graph can drive an instruction LLM to write long "
        "chains of thought one behaviour-conditioned step at a time, the steps realising the intended "
        "behaviours (Chen et al., 2026, §Mole-Syn, Appendix E prompts)."
    ),
    formalisation=(
        f"molesyn(reference('{GRAPH}'), first n MATH-500 problems, LlamaCppSampler(SmolLM2-135M-Instruct Q4_1, "
        f"n_ctx 2048), start='explore', seed={SEED}, temperature 0.7); quick: n, max_steps, max_tokens = {QUICK}; "
        f"full: {FULL}. Fidelity: KeywordLabeller label of each step vs its intended behaviour."
    ),
    prediction=(
        "One complete trace record per problem; the intended behaviour predicts the independent label better "
        "than chance (Cohen's κ > 0)."
    ),
    rule=(
        "Pass if every problem has exactly one trace in the output and, in the full run, κ(intended, keyword) > 0. "
        "The quick run has too few steps to test fidelity and checks the pipeline only."
    ),
    disclosure=(
        "The synthesiser is a 135M-parameter model, far below the paper's Qwen2.5-32B-Instruct, and the "
        "independent labeller is the keyword baseline, not the paper's LLM labeller; a failure says the small "
        "pipeline does not realise behaviours, not that the paper's does not."
    ),
)


def _threads() -> int:
    # llama.cpp's own default, half the cores: its threads spin while they wait, so using every core
    # slows generation several-fold as soon as anything else runs on the machine.
    return max(1, (os.cpu_count() or 2) // 2)


def run(quick: bool = False, results=None) -> dict:
    from metacot.synth import LlamaCppSampler, molesyn

    started = time.perf_counter()
    out = output_dir(CLAIM.id, results)
    n_problems, max_steps, max_tokens = QUICK if quick else FULL
    problems = load_problems(PROBLEMS)[:n_problems]
    traces_path = out / "traces.jsonl"
    traces_path.unlink(missing_ok=True)  # a fresh run: throughput must count every step
    sampler = LlamaCppSampler(n_ctx=2048, n_threads=_threads(), seed=SEED)
    res = molesyn(reference(GRAPH), problems, sampler, traces_path, max_steps=max_steps, seed=SEED,
                  max_tokens=max_tokens, progress=False)
    traces = read_traces(traces_path)
    kl = label.KeywordLabeller()
    keyword = [kl.label(t) for t in traces]

    rows = []
    for t, k in zip(traces, keyword):
        for i, (s, sk) in enumerate(zip(t.steps, k.steps)):
            rows.append({
                "problem": t.trace_id, "step": i, "intended": s.behaviour.value, "keyword": sk.behaviour.value,
                "chars": len(s.text), "boxed": bool(s.source_labels.get("boxed")),
                "correct": t.metadata["correct"],
            })
    data = pd.DataFrame(rows)
    data["match"] = data["intended"] == data["keyword"]
    fidelity = {b.value: (float(data.loc[data["intended"] == b.value, "match"].mean())
                          if (data["intended"] == b.value).any() else float("nan")) for b in BEHAVIOURS}
    counts = {b.value: int((data["intended"] == b.value).sum()) for b in BEHAVIOURS}
    agree = label.agreement(traces, keyword)
    kappa = float(agree["kappa"])
    conf = label.confusion(traces, keyword, names=("intended", "keyword"))

    ids = [t.trace_id for t in traces]
    complete = sorted(ids) == sorted(f"{p.source}/{p.problem_id}" for p in problems) and len(set(ids)) == len(ids)
    passed = complete and (quick or (np.isfinite(kappa) and kappa > 0))
    fid_text = ", ".join(f"{b} {fidelity[b]:.0%} (n={counts[b]})" for b in fidelity if counts[b])
    measured = (
        f"{res.n_written} traces, {res.n_steps} steps at {res.steps_per_minute:.1f} steps/min "
        f"({_threads()} threads); accuracy {res.n_correct}/{res.n_written}; fidelity {fid_text}; "
        f"agreement {agree['agreement']:.0%}, κ = {kappa:.2f}"
    )

    plt = plots.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    names = [b.value for b in BEHAVIOURS]
    axes[0].bar(names, [fidelity[b] if counts[b] else 0 for b in names], color="tab:blue")
    for i, b in enumerate(names):
        axes[0].text(i, (fidelity[b] if counts[b] else 0) + 0.02, f"n={counts[b]}", ha="center")
    axes[0].set_ylim(0, 1.1)
    axes[0].set_ylabel("share labelled as intended (keyword labeller)")
    axes[0].set_title("X1: behaviour fidelity of synthesised steps")
    im = axes[1].imshow(conf.to_numpy(), cmap="Blues")
    axes[1].set_xticks(range(4), names)
    axes[1].set_yticks(range(4), names)
    axes[1].set_xlabel("keyword label")
    axes[1].set_ylabel("intended behaviour")
    for (i, j), v in np.ndenumerate(conf.to_numpy()):
        axes[1].text(j, i, str(v), ha="center", va="center")
    fig.colorbar(im, ax=axes[1])
    axes[1].set_title(f"confusion (κ = {kappa:.2f})")
    fig.tight_layout()

    verdict = from_claim(
        CLAIM, measured, passed, quick,
        n_problems=n_problems, max_steps=max_steps, max_tokens=max_tokens, seed=SEED,
        n_traces=res.n_written, n_steps=res.n_steps, steps_per_minute=res.steps_per_minute,
        synth_seconds=res.seconds, n_answered=res.n_answered, n_correct=res.n_correct,
        accuracy=res.accuracy, fidelity=fidelity, steps_per_behaviour=counts,
        agreement=agree["agreement"], kappa=kappa, confusion=conf.to_numpy().tolist(),
        sampler=sampler.describe(), traces="traces.jsonl", threads=_threads(),
    )
    return vars(write(verdict, data, fig, out, started))
