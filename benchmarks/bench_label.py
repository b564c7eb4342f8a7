"""Throughput of the trained step labeller on the CPU, embedding included.

:class:`metacot.graphs.trained.TrainedLabeller` labels annotated ReasoningFlow traces (the
held-out check set :data:`~metacot.graphs.trained.HELD_OUT`, 966 steps, then more traces up to
``n_steps``) with a fresh, uncached encoder: ``steps_per_s`` counts every step from text to label
(encoding, context features, the logistic model). Variants:

* ``batch_size`` 32, 64, 128 at the shipped ``max_seq_length`` (128 word pieces);
* ``max_seq_length`` 64 and 256 at batch 64 -- throughput only: the shipped weights were fitted to
  128-piece vectors, so another length changes the inputs the model sees (``agree`` reports the
  share of steps labelled as with the shipped setting);
* ``encode only``: the encoder alone, to show what the features and the model add.

torch uses 2 threads (the goal is stated for 2 cores). The encoder is warmed on a few texts
before each timing; each variant is timed once (the load average at its start is recorded, as
other processes change the figure). The goal of issue 15 is at least 200 steps/s.
Run ``python -m benchmarks.bench_label [--quick]``.
"""

from __future__ import annotations

import os
import sys
import time

GOAL = 200.0


def _load() -> float:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return float("nan")


def _traces(n_steps: int):
    from metacot.graphs.trained import HELD_OUT
    from metacot.traces.core import DATA_DIR, load_reasoningflow

    traces = sorted(load_reasoningflow(DATA_DIR / "reasoningflow" / "annotated"), key=lambda t: t.trace_id)
    first = [t for t in traces if t.trace_id in HELD_OUT]
    rest = [t for t in traces if t.trace_id not in HELD_OUT]
    out, total = [], 0
    for t in first + rest:
        if total >= n_steps:
            break
        out.append(t)
        total += len(t)
    return out


def run(quick: bool = False) -> list[dict]:
    """The benchmark rows; ``quick`` labels about 150 steps per variant."""
    import numpy as np
    import torch

    from metacot.graphs.step_features import StepEmbedder
    from metacot.graphs.trained import TrainedLabeller

    torch.set_num_threads(2)
    traces = _traces(150 if quick else 2000)
    n = sum(len(t) for t in traces)
    texts = [s.text for t in traces for s in t.steps]
    rows, reference = [], None
    variants = [(128, 64), (128, 32), (128, 128), (64, 64), (256, 64)]
    if quick:
        variants = variants[:2]
    for length, batch in variants:
        emb = StepEmbedder(max_seq_length=length, batch_size=batch)
        emb(["warm up", "the encoder"])
        lab = TrainedLabeller(embedder=emb)
        load = _load()
        t0 = time.perf_counter()
        P = lab.proba_many(traces)
        sec = time.perf_counter() - t0
        labels = np.concatenate([p.argmax(axis=1) for p in P])
        if reference is None:
            reference = labels
        rows.append({"variant": "label", "max_seq_length": length, "batch_size": batch, "steps": n,
                     "seconds": round(sec, 3), "steps_per_s": round(n / sec, 1),
                     "agree": round(float((labels == reference).mean()), 4), "load": load})
        if (length, batch) == (128, 64):
            load = _load()
            t0 = time.perf_counter()
            emb(texts)
            sec = time.perf_counter() - t0
            rows.append({"variant": "encode only", "max_seq_length": length, "batch_size": batch, "steps": n,
                         "seconds": round(sec, 3), "steps_per_s": round(n / sec, 1), "agree": float("nan"),
                         "load": load})
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    """Run the benchmark, print a table and return its rows (``--quick`` for a smoke run)."""
    import pandas as pd

    argv = sys.argv[1:] if argv is None else argv
    rows = run(quick="--quick" in argv)
    print(pd.DataFrame(rows).to_markdown(index=False))
    best = max(r["steps_per_s"] for r in rows if r["variant"] == "label" and r["max_seq_length"] == 128)
    print(f"\nshipped setting (128 word pieces), best batch: {best:.0f} steps/s; goal {GOAL:.0f}: "
          f"{'met' if best >= GOAL else 'not met'}")
    return rows


if __name__ == "__main__":
    main()
