r"""Which conditioning makes SmolLM2-135M write the behaviour asked for? Measured, per preset.

``python -m benchmarks.synth_conditioning [--problems N] [--steps K] [--tokens T] [--variants a,b]``
runs :func:`metacot.synth.molesyn` once per preset of :data:`metacot.synth.conditioning.PRESETS`
(plus ``combined-unsteered``, what the best steered preset becomes on a sampler that cannot force
openings) on the same first ``N`` MATH-500 problems of ``data/problems``, with the embedded model
(:class:`~metacot.synth.steering.SteeredLlamaSampler`, SmolLM2-135M-Instruct Q4_1, one thread,
seed 0, temperature 0.7, ``max_steps`` = ``K``, ``max_tokens`` = ``T``), and writes
``benchmarks/SYNTH_CONDITIONING.md``.

The driving graph is the uniform 4x4 graph (every behaviour follows every other with
probability 1/4), so that the four behaviours are asked for about equally often and Cohen's
:math:`\kappa` is not dominated by normal steps; ``start`` is exploration, as in the paper.

Per preset it reports

* fidelity: accuracy and Cohen's :math:`\kappa` (``sklearn.metrics.cohen_kappa_score``) between
  the intended behaviour of every step and the label of the trained step labeller
  (:class:`metacot.graphs.trained.TrainedLabeller`, the weights shipped in this checkout), and
  the recall per behaviour; for presets that force an opening, the same on the text with the
  opening removed (``kappa_stripped``), so that the labeller is not just reading the cue back;
* guard events per written step (:mod:`metacot.synth.guards`): copies of the prompt, repeats,
  empty replies, retries and steps kept after exhausting the retries;
* tokens per second: tokens of every reply (rejected ones included, counted with the model's own
  tokenizer) over the wall time of the synthesis.

**Selection rule, fixed before the first full run.** The default is the preset with the highest
``kappa_stripped`` (equal to ``kappa`` for presets without an opening). Presets within 0.03 of the
best count as tied; among them the lowest rate of ``exhausted`` steps wins, then the highest
tokens per second.

Run time: stage 1 took 20.7 min and stage 2 13.6 min on the shared 2-core machine (load 4-9);
on an idle machine the model is several times faster.

**Two stages** (decided after stage 1 showed how small a 12-minute run is, before stage 2 ran).
Stage 1 runs every preset on problems 1-4 (the defaults). Its 16 steps per preset cannot separate
presets, so stage 2 reruns ``plain`` and the two presets with the highest stage-1 ``kappa_stripped``
on other problems (``--offset 4 --problems 6 --steps 6``: problems 5-10, 36 steps each) and
applies the same rule to the stage-2 table; that winner is the default.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "SYNTH_CONDITIONING.md"
SEED = 0
TIE = 0.03
BOOT = 400


class CountingSampler:
    """Forwards to a sampler and keeps every reply, to count generated tokens."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.steerable = getattr(inner, "steerable", False)
        self.replies: list[str] = []

    def complete(self, request):
        out = self.inner.complete(request)
        self.replies.append(out)
        return out

    def complete_batch(self, requests):
        return [self.complete(r) for r in requests]

    def describe(self):
        return self.inner.describe()


def variants() -> dict:
    from dataclasses import replace

    from metacot.synth.conditioning import PRESETS

    out = dict(PRESETS)
    out["combined-unsteered"] = replace(PRESETS["combined"], name="combined-unsteered", opening=False,
                                        repeat_penalty=1.0)
    return out


def stripped(trace):
    """``trace`` with each step's forced opening removed (a step left empty reads ``...``)."""
    from metacot.traces.model import Step, Trace

    steps, pos = [], 0
    for s in trace.steps:
        text = s.text[int(s.source_labels.get("opening_chars", 0)):].strip() or "..."
        steps.append(Step(text, pos, pos + len(text), s.behaviour, s.source_labels))
        pos += len(text) + 2
    return Trace(trace.trace_id, trace.problem, tuple(steps), "\n\n".join(s.text for s in steps))


def fidelity(traces, labeller) -> dict:
    from sklearn.metrics import accuracy_score, cohen_kappa_score

    from metacot.behaviours import BEHAVIOURS

    labelled = labeller.label_many(traces)
    y = [s.behaviour.value for t in traces for s in t.steps]
    p = [s.behaviour.value for t in labelled for s in t.steps]
    names = [b.value for b in BEHAVIOURS]
    recall = {}
    for b in names:
        idx = [i for i, v in enumerate(y) if v == b]
        recall[b] = float(np.mean([p[i] == b for i in idx])) if idx else float("nan")
    # 95% percentile interval of kappa, resampling whole traces (steps of one trace are not independent).
    owner = np.repeat(np.arange(len(traces)), [len(t) for t in traces])
    rng = np.random.default_rng(SEED)
    ya, pa, boots = np.array(y), np.array(p), []
    for _ in range(BOOT):
        pick = np.concatenate([np.flatnonzero(owner == i) for i in rng.integers(0, len(traces), len(traces))])
        if len(set(ya[pick])) > 1:
            boots.append(cohen_kappa_score(ya[pick], pa[pick], labels=names))
    lo, hi = np.nanpercentile(boots, [2.5, 97.5]) if boots else (float("nan"), float("nan"))
    return {"kappa": float(cohen_kappa_score(y, p, labels=names)), "accuracy": float(accuracy_score(y, p)),
            "recall": recall, "n": len(y), "labelled": {b: p.count(b) for b in names},
            "kappa_ci": [float(lo), float(hi)]}


def run_variant(name, cond, problems, steps, tokens, folder, tokenizer, labeller) -> dict:
    import numpy as np

    from metacot.graphs.graph import BehaviourGraph
    from metacot.synth.molesyn import molesyn
    from metacot.synth.steering import SteeredLlamaSampler
    from metacot.traces.core import read_traces

    sampler = CountingSampler(SteeredLlamaSampler(n_ctx=2048, n_threads=1, seed=SEED))
    path = folder / f"{name}.jsonl"
    path.unlink(missing_ok=True)
    t0 = time.perf_counter()
    res = molesyn(BehaviourGraph(np.full((4, 4), 0.25)), problems, sampler, path, max_steps=steps, seed=SEED,
                  verify=False, max_tokens=tokens, conditioning=cond, progress=False)
    seconds = time.perf_counter() - t0
    n_tokens = sum(len(tokenizer.tokenize(r.encode("utf-8"), add_bos=False)) for r in sampler.replies)
    traces = read_traces(path)
    full = fidelity(traces, labeller)
    strip = fidelity([stripped(t) for t in traces], labeller) if cond.opening else full
    return {
        "variant": name, "settings": cond.to_dict(), "steps": res.n_steps, "requests": len(sampler.replies),
        "seconds": seconds, "tokens": n_tokens, "tokens_per_s": n_tokens / seconds,
        "kappa": full["kappa"], "accuracy": full["accuracy"], "recall": full["recall"],
        "labelled": full["labelled"], "kappa_stripped": strip["kappa"], "kappa_stripped_ci": strip["kappa_ci"],
        "accuracy_stripped": strip["accuracy"],
        "recall_stripped": strip["recall"], "guard_rates": res.guard_rates, "guards": res.guards,
    }


def choose(rows: list[dict]) -> str:
    """The selection rule of the module notes."""
    best = max(r["kappa_stripped"] for r in rows)
    tied = [r for r in rows if r["kappa_stripped"] >= best - TIE]
    tied.sort(key=lambda r: (r["guard_rates"]["exhausted"], -r["tokens_per_s"]))
    return tied[0]["variant"]


def write(rows: list[dict], args, seconds: float) -> str:
    from benchmarks.__main__ import machine

    winner = choose(rows)
    lines = [
        "# MoLE-Syn conditioning: which preset does SmolLM2-135M follow?",
        "",
        f"Run {dt.date.today().isoformat()} on {machine()} (shared with other jobs), {seconds / 60:.1f} min, by "
        f"`python -m benchmarks.synth_conditioning --problems {args.problems} --offset {args.offset} "
        f"--steps {args.steps} --tokens {args.tokens}" + (f" --variants {args.variants}" if args.variants else "")
        + "`.",
        "",
        f"MATH-500 problems {args.offset + 1}..{args.offset + args.problems} x at most {args.steps} steps, uniform 4x4 driving graph, "
        f"start explore, seed {SEED}, temperature 0.7, max_tokens {args.tokens}, SteeredLlamaSampler "
        "(SmolLM2-135M-Instruct Q4_1, 1 thread). Labels: TrainedLabeller (weights shipped in this checkout). "
        "κ and accuracy: intended vs labelled behaviour over all steps; `κ strip`: the same with the forced "
        "opening removed (equal to κ where no opening is forced), with a 95% bootstrap interval over traces. Recall per behaviour n/d/r/e on the "
        "stripped text. Guard rates per written step. tok/s: every reply's tokens (rejected ones "
        "included) over the synthesis wall time.",
        "",
        "| preset | steps | κ | acc | κ strip (95% CI) | acc strip | recall n/d/r/e (strip) | copy | repeat | empty |"
        " retries | exhausted | tok/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        g = r["guard_rates"]
        rec = "/".join("-" if np.isnan(v) else f"{v:.2f}" for v in r["recall_stripped"].values())
        lines.append(
            f"| {r['variant']} | {r['steps']} | {r['kappa']:.2f} | {r['accuracy']:.2f} | {r['kappa_stripped']:.2f} "
            f"({r['kappa_stripped_ci'][0]:.2f}, {r['kappa_stripped_ci'][1]:.2f}) | "
            f"{r['accuracy_stripped']:.2f} | {rec} | {g['copy']:.2f} | {g['repeat']:.2f} | {g['empty']:.2f} | "
            f"{g['retries']:.2f} | {g['exhausted']:.2f} | {r['tokens_per_s']:.1f} |"
        )
    lines += [
        "",
        "Selection rule (fixed before the run): highest κ strip; presets within "
        f"{TIE} of the best are tied, and among them the lowest exhausted rate, then the highest tok/s, wins.",
        "",
        f"**Chosen: `{winner}`.**",
        "",
        "Settings of each preset: `metacot/synth/conditioning.py` (`PRESETS`). Raw numbers: "
        f"`{args.out.with_suffix('.json').name}`.",
        "",
    ]
    args.out.write_text("\n".join(lines))
    args.out.with_suffix(".json").write_text(json.dumps(rows, indent=1))
    return winner


def main(argv=None) -> int:
    import tempfile

    from llama_cpp import Llama

    from metacot.graphs.trained import TrainedLabeller
    from metacot.llm.llamacpp import default_gguf
    from metacot.traces.core import DATA_DIR, load_problems

    ap = argparse.ArgumentParser(prog="python -m benchmarks.synth_conditioning")
    ap.add_argument("--problems", type=int, default=4)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=40)
    ap.add_argument("--offset", type=int, default=0, help="skip this many MATH-500 problems first")
    ap.add_argument("--variants", default=None, help="comma-separated preset names (default: all)")
    ap.add_argument("--out", type=Path, default=OUT, help="markdown table to write (raw numbers beside it, .json)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    problems = load_problems(DATA_DIR / "problems" / "math500.jsonl")[args.offset : args.offset + args.problems]
    tokenizer = Llama(model_path=str(default_gguf()), vocab_only=True, verbose=False)
    labeller = TrainedLabeller()
    chosen = variants()
    if args.variants:
        chosen = {k: chosen[k] for k in args.variants.split(",")}
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for name, cond in chosen.items():
            row = run_variant(name, cond, problems, args.steps, args.tokens, Path(d), tokenizer, labeller)
            rows.append(row)
            print(json.dumps({k: row[k] for k in ("variant", "steps", "seconds", "kappa", "kappa_stripped",
                                                  "tokens_per_s")}), flush=True)
    winner = write(rows, args, time.perf_counter() - t0)
    print(f"chosen: {winner}; table in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
