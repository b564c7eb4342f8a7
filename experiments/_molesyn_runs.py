"""What the MoLE-Syn experiments (X1, X2) share: cached synthesis runs with the embedded model.

A full run of the embedded model takes one to two hours on two CPU cores, so its traces are kept
in ``results/<ID>/traces-<key>.jsonl``, where ``key`` is the first 16 hex digits of a SHA-256 over
everything that decides the text: the driving graph (states and P), the problems (their keys),
the explicit settings, the sampler's description (model file), the signature of
:func:`metacot.synth.molesyn.molesyn` (its defaults, which decide the conditioning) and the source
of :mod:`metacot.synth.prompts`. A rerun with the same key resumes the file (molesyn skips finished
problems), and the throughput of the run that wrote it is kept beside it in ``traces-<key>.json``.
Any change of graph, settings, model, defaults or prompts gives a new key and a fresh run.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
from pathlib import Path
from typing import Any

from metacot.graphs.graph import BehaviourGraph
from metacot.traces.problems import Problem


def threads() -> int:
    """llama.cpp's own default, half the cores: its threads spin while they wait, so using every core
    slows generation several-fold as soon as anything else runs on the machine."""
    return max(1, (os.cpu_count() or 2) // 2)


def cache_key(graph: BehaviourGraph, problems: list[Problem], settings: dict[str, Any], sampler: dict) -> str:
    """The cache key of a synthesis run (see the module notes)."""
    import metacot.synth.prompts as prompts
    from metacot.synth.molesyn import molesyn

    blob = json.dumps({
        "states": [s.value for s in graph.states], "P": graph.P.tolist(),
        "problems": [f"{p.source}/{p.problem_id}" for p in problems],
        "settings": settings, "sampler": sampler,
        "molesyn": str(inspect.signature(molesyn)),
        "prompts": hashlib.sha256(Path(inspect.getfile(prompts)).read_bytes()).hexdigest(),
    }, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def synthesise(out: Path, graph: BehaviourGraph, problems: list[Problem], settings: dict[str, Any],
               sampler: Any) -> tuple[Path, dict[str, Any]]:
    """Run (or resume, or reuse) molesyn into ``out/traces-<key>.jsonl``; the path and the run's numbers.

    The numbers (``n_steps``, ``seconds``, ``steps_per_minute``, ``cached``) are those of the calls
    that wrote the traces, summed over resumed calls; ``cached`` says this call wrote nothing.
    """
    from metacot.synth.molesyn import molesyn

    key = cache_key(graph, problems, settings, sampler.describe())
    path = out / f"traces-{key}.jsonl"
    side = out / f"traces-{key}.json"
    prior = json.loads(side.read_text()) if side.exists() else {"n_steps": 0, "seconds": 0.0, "n_written": 0}
    res = molesyn(graph, problems, sampler, path, progress=False, **settings)
    fresh = res.n_written > 0
    info = {
        "key": key, "file": path.name,
        "n_steps": prior["n_steps"] + (res.n_steps if fresh else 0),
        "seconds": prior["seconds"] + (res.seconds if fresh else 0.0),
        "n_written": prior["n_written"] + res.n_written, "cached": not fresh,
    }
    info["steps_per_minute"] = 60.0 * info["n_steps"] / info["seconds"] if info["seconds"] > 0 else float("nan")
    if fresh:
        tmp = side.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(info, indent=2) + "\n")
        tmp.replace(side)
    return path, info
