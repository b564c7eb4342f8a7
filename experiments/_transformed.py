"""What the structure-against-surface experiments (M8, M9) share.

* :func:`teacher_traces`: the ReasoningFlow traces of the three reasoning teachers, labelled.
* :data:`STANDARD`: the transformations every table applies, with the settings the experiments
  use (one seed each, derived from the trace's position, so a rerun is identical).
* :func:`chunks` and :func:`summaries`: summarising whole traces of 1,000–3,000 words does not fit
  the embedded SmolLM2-135M (2,048-token context, about 6 s per 200-word request on two CPU
  cores), so the summarisation arm works on one window of consecutive steps per teacher trace
  (:data:`CHUNK_WORDS` words or more, at a position drawn from a hash of the trace id). The
  summaries are cached in ``results/transforms/`` under a fingerprint of the prompt, model and
  settings, so a rerun resumes and a change of any of them starts a new cache. To summarise with a
  served model instead, set ``METACOT_SUMMARY_BASE_URL`` (an OpenAI-compatible ``/v1`` endpoint)
  and ``METACOT_SUMMARY_MODEL``.
* :func:`graph_shift`: Dirichlet(1) graphs of the originals and their transformed copies compared
  with a **paired** trace bootstrap (:func:`metacot.graphs.comparison.compare` with ``paired=True``);
  :func:`paired_js_difference`: whether one transformation moves the graph further than another,
  on the same trace bootstrap (:mod:`metacot.graphs.comparison`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from experiments._molecular import TEACHERS, annotated, cached_traces, comparison_columns
from metacot import label
from metacot import transforms as tf
from metacot.errors import InvalidArgumentError
from metacot.graphs.closed_form import fit_dirichlet
from metacot.graphs.comparison import bootstrap_graphs, bootstrap_weights, compare, comparison_stats
from metacot.graphs.counts import per_trace_counts
from metacot.graphs.fit import fit_graph
from metacot.traces.core import Trace
from metacot.traces.summarise import SUMMARY_SYSTEM, summary_request

#: The paper's "about 45% fewer tokens" of summarised private-model thinking, as a kept share.
SUMMARY_RATIO = 0.55
#: A summarised window is the shortest run of consecutive steps with at least this many words ...
CHUNK_WORDS = 200
#: ... and at most this many steps (a few ReasoningFlow steps are one-word fragments).
CHUNK_MAX_STEPS = 40
CHUNK_WORDS_QUICK = 40


def teacher_traces(labeller: str = "reasoningflow") -> list[Trace]:
    """All teacher traces, labelled by ``"reasoningflow"`` (the mapping) or ``"keyword"``."""
    traces = [t for t in annotated() if t.source_model in TEACHERS]
    lab = label.ReasoningFlowLabeller() if labeller == "reasoningflow" else label.KeywordLabeller()
    return label.label_traces(traces, lab)


def keyword_labelled(traces: Sequence[Trace]) -> list[Trace]:
    """``traces`` relabelled from their (possibly new) text by the keyword labeller."""
    return label.label_traces(list(traces), label.KeywordLabeller())


@lru_cache(maxsize=1)
def _trained_labeller():
    from metacot.embed import CachedEmbedder, default_cache_dir
    from metacot.graphs.step_features import StepEmbedder
    from metacot.graphs.trained import TrainedLabeller

    return TrainedLabeller(embedder=CachedEmbedder(StepEmbedder(), default_cache_dir()))


def trained_labelled(traces: Sequence[Trace]) -> list[Trace]:
    """``traces`` relabelled from their (possibly new) text by the shipped trained labeller.

    The shipped weights were fitted to the annotated traces, so on teacher steps whose text and
    context are unchanged its labels are in-sample; on new text (a summary) they are not.
    """
    return _trained_labeller().label_many(list(traces))


def _trace_seed(trace_id: str) -> int:
    return int.from_bytes(hashlib.sha256(trace_id.encode()).digest()[:4], "little")


def chunk(trace: Trace, words: int = CHUNK_WORDS) -> Trace:
    """One window of consecutive steps with ``>= words`` words, at a position fixed by the trace id.

    The start is uniform among the positions from which ``words`` words are still reachable
    within :data:`CHUNK_MAX_STEPS` steps; a trace too short for that gives its whole self. Spans
    stay valid: the steps are the original ones, pointing into the original response.
    """
    counts = [tf.word_count(s.text) for s in trace.steps]
    ends = []
    for a in range(len(counts)):
        acc, b = 0, a
        while b < len(counts) and b - a < CHUNK_MAX_STEPS and acc < words:
            acc += counts[b]
            b += 1
        if acc >= words:
            ends.append((a, b))
    if not ends:
        a, b = 0, len(trace.steps)
    else:
        a, b = ends[np.random.default_rng(_trace_seed(trace.trace_id)).integers(len(ends))]
    return replace(trace, steps=trace.steps[a:b], metadata={**trace.metadata, "chunk": [a, b]})


def chunks(quick: bool) -> list[Trace]:
    """One chunk per teacher trace (quick: one short chunk per teacher), ReasoningFlow-labelled."""
    traces = teacher_traces()
    if quick:
        firsts = {}
        for t in traces:
            firsts.setdefault(t.source_model, t)
        return [chunk(t, CHUNK_WORDS_QUICK) for t in firsts.values()]
    return [chunk(t) for t in traces]


def summary_fingerprint(sampler, ratio: float) -> str:
    """A short hash of everything that decides a summary: prompt, model file, ratio, settings."""
    d = sampler.describe()
    key = json.dumps([SUMMARY_SYSTEM, summary_request("P", "T", 1, True), d.get("model"),
                      Path(str(d.get("path", ""))).name, d.get("n_ctx"), ratio, CHUNK_WORDS, CHUNK_MAX_STEPS])
    return hashlib.sha256(key.encode()).hexdigest()[:10]


def summaries(quick: bool, results: Path) -> tuple[list[Trace], list[Trace], dict]:
    """The chunks and their summaries (embedded model, or the served one named above; ``per="trace"``, greedy), cached.

    Returns ``(chunks, summaries, sampler description)``; the summaries are unlabelled (a
    summary paragraph need not match one old step) and must be relabelled from their text.
    """
    from metacot.synth import LlamaCppSampler, OpenAISampler

    originals = chunks(quick)
    url = os.environ.get("METACOT_SUMMARY_BASE_URL")
    if url:
        sampler = OpenAISampler(url, os.environ.get("METACOT_SUMMARY_MODEL", "default"))
    else:
        sampler = LlamaCppSampler()
    fp = summary_fingerprint(sampler, SUMMARY_RATIO)
    cache = results / "transforms" / f"summaries-{fp}{'-quick' if quick else ''}.jsonl"
    done = cached_traces(
        cache, originals,
        lambda t: tf.summarise(t, sampler, target_ratio=SUMMARY_RATIO, per="trace", seed=0),
        lambda t, r: t.metadata["chunk"] == r.metadata.get("chunk"),
    )
    return originals, done, sampler.describe()


def _each(fn: Callable[[Trace, int], Trace]) -> Callable[[Sequence[Trace]], list[Trace]]:
    return lambda traces: [fn(t, i) for i, t in enumerate(traces)]


#: Name -> transformation of a trace collection, in table order. Seeds are the trace positions.
STANDARD: dict[str, Callable[[Sequence[Trace]], list[Trace]]] = {
    "drop 45% of steps at random": _each(lambda t, i: tf.drop_random(t, 1 - SUMMARY_RATIO, seed=i)),
    "truncate to the first 55%": _each(lambda t, i: tf.truncate(t, SUMMARY_RATIO)),
    "drop reflection steps": _each(lambda t, i: tf.drop_behaviours(t, ["reflect"])),
    "drop exploration steps": _each(lambda t, i: tf.drop_behaviours(t, ["explore"])),
    "merge same-behaviour runs": _each(lambda t, i: tf.merge_runs(t)),
    "shuffle steps": _each(lambda t, i: tf.shuffle_steps(t, seed=i)),
    "swap steps across problems": lambda traces: tf.swap_steps(list(traces), seed=0),
    "replace cue words (level 1)": _each(lambda t, i: tf.replace_keywords(t, 1, seed=i)),
    "replace cue words (level 2)": _each(lambda t, i: tf.replace_keywords(t, 2, seed=i)),
}


def words(traces: Sequence[Trace]) -> int:
    return sum(tf.word_count(s.text) for t in traces for s in t.steps)


def graph_shift(original: Sequence[Trace], transformed: Sequence[Trace], *, n_boot: int, seed: int = 0) -> dict:
    """r, off-diagonal r and mean JS of the transformed graph against the original, paired CIs.

    Both graphs are Dirichlet(1) posterior means (as in M1), so a behaviour a transformation
    removes leaves a uniform row, i.e. a maximally shifted one, rather than an undefined one.
    A transformed set with no transitions left (a tiny --quick sample) gives ``nan`` statistics.
    """
    n_a, n_b = (int(per_trace_counts(x).sum()) for x in (original, transformed))
    sizes = {"transitions_before": n_a, "transitions_after": n_b,
             "steps_kept": sum(len(t) for t in transformed) / sum(len(t) for t in original),
             "words_kept": words(transformed) / words(original)}
    if n_a == 0 or n_b == 0:
        nan = float("nan")
        return {k: nan for k in ("pearson", "pearson_offdiag", "js_mean")} | {
            f"{k}_{e}": nan for k in ("pearson", "pearson_offdiag", "js_mean") for e in ("lo", "hi")
        } | {"js_rows": {}} | sizes
    a = fit_graph(original, method="dirichlet", prior=1.0)
    b = fit_graph(transformed, method="dirichlet", prior=1.0)
    c = compare(a, b, original, transformed, n_boot=n_boot, seed=seed, paired=True)
    row = comparison_columns(c)
    row["js_rows"] = {s.value: float(x) for s, x in zip(c.states, c.js)}
    return row | sizes


def dirichlet_graphs(C: np.ndarray, W: np.ndarray | None = None, prior: float = 1.0) -> np.ndarray:
    """Dirichlet(``prior``) posterior-mean graphs of per-trace counts ``C`` (n, k, k).

    Pooled plainly (one graph, :func:`metacot.graphs.closed_form.fit_dirichlet`), or with trace
    weights ``W`` (B, n) -- one graph per bootstrap replicate, refitted by the package's trace
    bootstrap (:func:`metacot.graphs.comparison.bootstrap_graphs`).
    """
    if W is None:
        return fit_dirichlet(C.sum(axis=0), prior).mean
    return bootstrap_graphs(C, W, prior)[0]


def paired_js_difference(original: Sequence[Trace], a: Sequence[Trace], controls: Sequence[Sequence[Trace]], *,
                         n_boot: int, seed: int = 0, level: float = 0.95) -> tuple[float, float, float]:
    """JS(original, a) − JS(original, control): the point and a paired bootstrap interval.

    Mean row JS of Dirichlet(1) graphs. Trace ``t`` of ``a`` and of every control set derives from
    trace ``t`` of ``original``, and each replicate draws the same trace indices for all of them
    (one set of weights from :func:`metacot.graphs.comparison.bootstrap_weights`).
    ``controls`` holds one set, or several draws of a random control (seeds): the point averages
    over them and replicate ``b`` uses draw ``b mod len(controls)``, so the interval carries the
    control's own randomness as well as the trace sampling.
    """
    C0 = per_trace_counts(original).astype(np.float64)
    Ca = per_trace_counts(a).astype(np.float64)
    Cc = np.stack([per_trace_counts(c).astype(np.float64) for c in controls])
    if not C0.shape[0] == Ca.shape[0] == Cc.shape[1]:
        raise InvalidArgumentError(
            "paired_js_difference needs trace sets of equal length (one transformed copy per trace)")

    def js(Pa: np.ndarray, Pb: np.ndarray) -> np.ndarray:
        return comparison_stats(Pa, Pb)["js_mean"]

    P0 = dirichlet_graphs(C0)
    point = float(js(P0, dirichlet_graphs(Ca)) - np.mean([js(P0, dirichlet_graphs(c)) for c in Cc]))
    W = bootstrap_weights(C0.shape[0], n_boot, seed)
    R0 = dirichlet_graphs(C0, W)
    # Replicate b pools control draw b mod len(controls) with the replicate's trace weights.
    Rc = dirichlet_graphs(Cc[np.arange(n_boot) % len(Cc)], W)
    reps = js(R0, dirichlet_graphs(Ca, W)) - js(R0, Rc)
    lo, hi = np.quantile(reps, [(1 - level) / 2, (1 + level) / 2])
    return point, float(lo), float(hi)
