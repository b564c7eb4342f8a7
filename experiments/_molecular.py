"""What the Molecular-Structure experiments share: the real traces, the labellers, cached judge labels.

The traces are the 231 ReasoningFlow annotated responses shipped in ``data/`` (five models, AIME 2024
and argument-essay problems; provenance in ``data/README.md``). Three labellers map their steps to
the four behaviours (:mod:`metacot.graphs.labellers`):

* ``reasoningflow``: the documented mapping of the human-checked discourse labels (the primary one);
* ``keyword``: the surface baseline on step text;
* ``llm-judge``: the behaviour rubric applied by the embedded SmolLM2-135M model. At about 0.2 s per
  step on two CPU cores it labels a fixed subsample (:data:`JUDGE_TRACES` traces per model and domain,
  the first :data:`JUDGE_STEPS` steps of each), cached in ``results/labels/`` so a rerun resumes;
* ``trained``: the trained step labeller (:mod:`metacot.graphs.trained`), *out of model*: each source
  model's traces are labelled by a labeller trained, with the shipped settings, on the other four
  models' traces only (the shipped weights saw almost every annotated trace, so using them here would
  be in-sample). The labels are cached in ``results/labels/`` under :func:`trained_fingerprint`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

from metacot._io import open_jsonl_appender
from metacot.errors import TraceFormatError
from metacot.graphs import hierarchical
from metacot.graphs import labellers as label
from metacot.traces.files import DATA_DIR
from metacot.traces.jsonl import trace_from_line, write_traces
from metacot.traces.model import Trace
from metacot.traces.reasoningflow import load_reasoningflow

TEACHERS = ("DeepSeek-R1", "QwQ-32B", "gpt-oss-120b")
INSTRUCT = ("DeepSeek-V3", "Qwen2.5-32B-Instruct")
SOURCES = TEACHERS + INSTRUCT
#: Our teacher -> the paper's Figure 5 graph of the same model family.
REFERENCE_OF = {"DeepSeek-R1": "deepseek-r1-0528", "QwQ-32B": "qwq-32b", "gpt-oss-120b": "gpt-oss-120b"}
LABELLERS = ("reasoningflow", "keyword", "llm-judge", "trained")

#: Judge subsample: traces per (model, domain) and leading steps per trace (full run; quick: 1 x 4).
JUDGE_TRACES, JUDGE_STEPS = 2, 30
JUDGE_TRACES_QUICK, JUDGE_STEPS_QUICK = 1, 4


@lru_cache(maxsize=1)
def annotated() -> tuple[Trace, ...]:
    """All annotated ReasoningFlow traces, sorted by id (the order every subsample is drawn in)."""
    traces = load_reasoningflow(DATA_DIR / "reasoningflow" / "annotated")
    return tuple(sorted(traces, key=lambda t: t.trace_id))


def by_source(traces: Sequence[Trace]) -> dict[str, list[Trace]]:
    """Traces grouped by ``source_model`` (:func:`metacot.graphs.hierarchical.by_source`, with its
    checks), in :data:`SOURCES` order with an empty list for a source that has none; any other
    source follows, in order of first appearance."""
    groups = hierarchical.by_source(traces)
    return {**{s: groups.get(s, []) for s in SOURCES}, **groups}


def judge_subsample(quick: bool) -> list[Trace]:
    """The fixed judge subsample: the first traces per (model, domain), cut to their leading steps."""
    n, k = (JUDGE_TRACES_QUICK, JUDGE_STEPS_QUICK) if quick else (JUDGE_TRACES, JUDGE_STEPS)
    taken: dict[tuple[str, str], int] = {}
    out = []
    for t in annotated():
        key = (t.source_model, str(t.metadata.get("domain")))
        if taken.get(key, 0) < n:
            taken[key] = taken.get(key, 0) + 1
            out.append(replace(t, steps=t.steps[:k]))
    return out


def judge_fingerprint(judge: label.LLMJudgeLabeller) -> str:
    """A short hash of everything that decides the judge's labels: rubric, examples, model, settings."""
    describe = judge.sampler.describe()
    key = json.dumps([label.JUDGE_RUBRIC, [(t, b.value) for t, b in label.JUDGE_EXAMPLES],
                      describe.get("model"), Path(str(describe.get("path", ""))).name, judge.context_steps,
                      judge.max_chars, judge.temperature, judge.max_tokens, judge.seed])
    return hashlib.sha256(key.encode()).hexdigest()[:10]


def cached_traces(cache: Path, traces: Sequence[Trace], compute: Callable[[Trace], Trace],
                  matches: Callable[[Trace, Trace], bool]) -> list[Trace]:
    """``compute(t)`` for every trace, resuming from (and appending to) a JSONL cache of results.

    A cached record is reused when it has the trace's id and ``matches(trace, record)``; each new
    result is appended as one whole line, flushed and fsynced as soon as it exists
    (:func:`metacot._io.open_jsonl_appender`), so a killed run loses at most the trace in hand. A
    torn last line is cut off (with a warning); malformed records or records of other traces make
    the file be rewritten clean, atomically, before anything is appended.
    """
    wanted = {t.trace_id: t for t in traces}
    done: dict[str, Trace] = {}
    cache.parent.mkdir(parents=True, exist_ok=True)
    with open_jsonl_appender(cache) as log:
        n_records, clean = 0, True
        for lineno, raw in log.existing():
            try:
                r = trace_from_line(cache, lineno, raw)
            except TraceFormatError:
                clean = False
                continue
            if r is None:
                continue
            n_records += 1
            if r.trace_id in wanted and r.trace_id not in done and matches(wanted[r.trace_id], r):
                done[r.trace_id] = r
        rewrite = not clean or len(done) != n_records
    if rewrite:
        write_traces(cache, done.values())
    todo = [t for t in traces if t.trace_id not in done]
    if todo:
        with open_jsonl_appender(cache) as log:
            for t in todo:
                r = compute(t)
                log.append(r.to_dict())
                done[t.trace_id] = r
    return [done[t.trace_id] for t in traces]


def _judge_labels(traces: list[Trace], results: Path, quick: bool) -> list[Trace]:
    """Judge-labelled ``traces``, cached under :func:`judge_fingerprint` (labels made with another
    rubric, model or setting are never reused)."""
    from metacot.llm.llamacpp import LlamaCppSampler

    judge = label.LLMJudgeLabeller(LlamaCppSampler())
    cache = results / "labels" / f"llm-judge-{judge_fingerprint(judge)}{'-quick' if quick else ''}.jsonl"
    return cached_traces(cache, traces, judge.label, lambda t, r: len(t) == len(r))


def trained_fingerprint(traces: Sequence[Trace]) -> str:
    """A short hash of everything that decides the out-of-model trained labels: the shipped training
    settings, the encoder settings, scikit-learn's version and the traces (ids and step counts)."""
    import sklearn

    from metacot.graphs import step_features, trained

    key = json.dumps([trained.FORMAT_VERSION, trained.DEFAULT_BLOCKS, trained.DEFAULT_RANK, trained.DEFAULT_C,
                      str(trained.DEFAULT_CLASS_WEIGHT), step_features.MAX_SEQ_LENGTH, step_features.MAX_CHARS,
                      sklearn.__version__, [(t.trace_id, len(t)) for t in traces]])
    return hashlib.sha256(key.encode()).hexdigest()[:10]


def _trained_out_of_model(results: Path) -> list[Trace]:
    """Every annotated trace labelled by a trained labeller that never saw its source model."""
    from metacot._io import atomic_write
    from metacot.behaviours import BEHAVIOURS
    from metacot.embed import CachedEmbedder, default_cache_dir
    from metacot.graphs.labelling import relabel
    from metacot.graphs.step_features import StepEmbedder
    from metacot.graphs.trained import TrainedLabeller, train_labeller

    traces = annotated()
    cache = results / "labels" / f"trained-out-of-model-{trained_fingerprint(traces)}.json"
    codes = {b.value[0]: b.value for b in BEHAVIOURS}  # n, d, r, e: one letter per step
    try:
        stored = json.loads(cache.read_text()) if cache.exists() else {}
    except ValueError:
        stored = {}  # a damaged cache is recomputed, never half-used
    if sorted(stored) != sorted(t.trace_id for t in traces) or any(len(stored[t.trace_id]) != len(t) for t in traces):
        embedder = CachedEmbedder(StepEmbedder(), default_cache_dir())
        stored = {}
        for group in filter(None, by_source(traces).values()):
            model = train_labeller(seed=0, embedder=embedder, exclude=[t.trace_id for t in group])
            for t in TrainedLabeller(model, embedder=embedder).label_many(group):
                stored[t.trace_id] = "".join(s.behaviour.value[0] for s in t.steps)
        cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(cache) as f:
            json.dump(stored, f, sort_keys=True)
    return [relabel(t, [codes[c] for c in stored[t.trace_id]], "trained (out of model)") for t in traces]


def labelled(labeller: str, quick: bool, results: Path) -> list[Trace]:
    """The traces labelled by ``labeller`` (the judge sees its subsample only)."""
    if labeller == "reasoningflow":
        return label.label_traces(annotated(), label.ReasoningFlowLabeller())
    if labeller == "keyword":
        return label.label_traces(annotated(), label.KeywordLabeller())
    if labeller == "llm-judge":
        return _judge_labels(judge_subsample(quick), results, quick)
    if labeller == "trained":
        return _trained_out_of_model(results)
    raise KeyError(f"unknown labeller {labeller!r}; known: {LABELLERS}")


def pair_kind(a: str, b: str) -> str:
    """``teacher-teacher``, ``teacher-instruct`` or ``instruct-instruct``."""
    kinds = sorted("teacher" if s in TEACHERS else "instruct" for s in (a, b))
    return "-".join(reversed(kinds)) if kinds == ["instruct", "teacher"] else "-".join(kinds)


def comparison_columns(c) -> dict[str, float]:
    """r, off-diagonal r and mean JS of a :class:`~metacot.graphs.graph.GraphComparison`, each with its interval."""
    row: dict[str, float] = {}
    for stat, point in (("pearson", c.pearson), ("pearson_offdiag", c.pearson_offdiag), ("js_mean", c.js_mean)):
        lo, hi = c.interval(stat)
        row |= {stat: point, f"{stat}_lo": lo, f"{stat}_hi": hi}
    return row
