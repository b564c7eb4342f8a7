r"""MoLE-Syn: long chains of thought written by an instruction LLM along a behaviour-graph walk.

Chen et al. (2026), *The Molecular Structure of Thought* (arXiv:2601.06002, §"Mole-Syn"; our notes
``papers/molecular_paper.md`` §3), synthesise long chain-of-thought traces without a reasoning
teacher: a random walk on a fitted behaviour transition graph :math:`\hat P` decides, step by step,
which behaviour comes next, and a cheap instruction model writes that step given the question
and the rationale so far. For each problem, with :math:`b_0` = ``start`` (exploration, as in the
paper):

.. math::
    s_t = \mathrm{LLM}(\mathrm{prompt}_{b_t}, q, s_{<t}), \qquad b_{t+1} \sim \hat P(b_t, \cdot),

until a step contains a ``\boxed{}`` answer or ``max_steps`` steps are written. The boxed answer
is then checked against the gold answer with ``math-verify``.

Design decisions the paper leaves open (our choices, documented here):

* **Randomness.** Each problem gets its own generator, seeded from ``(seed, problem key)``
  through :class:`numpy.random.SeedSequence`, where the key is ``"<source>/<problem_id>"``. It
  draws the behaviour plan (:meth:`BehaviourGraph.walk` of ``max_steps`` behaviours) and one
  sampler seed per step before any text exists, so a trace depends only on the graph, the seed,
  the problem and the model: not on the order of problems, the batch size or the concurrency.
  Stopping at an answer only cuts the plan short; it never changes the next behaviour, so the
  transitions of the written traces are draws from :math:`\hat P`. Sample :math:`k > 0` of a
  problem uses the key ``"<source>/<problem_id>#<k>"``; a retry after a guard rejection uses a
  seed derived from the step's seed and the attempt (:mod:`metacot.synth.walk`).
* **Conditioning and guards.** How the behaviour is put to the model (few-shot teacher
  examples, a forced opening, stop sequences, a repetition penalty, the context shown) is a
  :class:`~metacot.synth.conditioning.Conditioning`; every reply is checked for being empty, a
  copy of the prompt or a repeat of an earlier step (:mod:`metacot.synth.guards`), rejected
  replies are asked for again a bounded number of times, and the events are counted per step,
  per trace and per call.
* **Batching.** Up to ``batch_size`` problems walk in lock-step rounds; each round sends one
  request per active problem through :meth:`Sampler.complete_batch` (concurrent for
  :class:`~metacot.llm.samplers.OpenAISampler`), and a finished problem's slot is refilled
  from the queue.
* **Durability.** Each finished trace is appended as one full JSONL line, then flushed and
  fsynced (:func:`metacot._io.open_jsonl_appender`), so the output holds only complete
  records. A rerun with the same settings skips the
  problems already in the file; a torn last line (the process was killed mid-write) is detected,
  reported and cut off before anything is appended. An exclusive lock stops two runs from
  writing one file.

Examples
--------
>>> import tempfile, pathlib
>>> from metacot.graphs.graph import reference
>>> from metacot.traces.core import Problem, read_traces
>>> from metacot.llm.samplers import ScriptedSampler
>>> out = pathlib.Path(tempfile.mkdtemp()) / "synth.jsonl"
>>> s = ScriptedSampler(lambda r: "\\boxed{4}" if "Reasoning so far:\n(" not in r.messages[1]["content"] else "2+2")
>>> res = molesyn(reference("qwq-32b"), [Problem("p1", "2+2?", "4", "toy")], s, out, progress=False)
>>> res.n_written, res.n_correct
(1, 1)
>>> t = read_traces(out)[0]
>>> t.texts(), t.behaviours()[0].value, t.metadata["answer"], t.metadata["correct"]
(['2+2', '\\boxed{4}'], 'explore', '4', True)
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from metacot._checks import as_seed_int, positive_int
from metacot._io import JsonlAppender, open_jsonl_appender
from metacot.behaviours import Behaviour
from metacot.errors import InvalidArgumentError, SamplerError, TraceFormatError
from metacot.graphs.graph import BehaviourGraph
from metacot.llm.protocol import Sampler
from metacot.synth.answers import check_answer, extract_boxed
from metacot.synth.conditioning import Conditioning, as_conditioning, conditioned_request, merged_stop
from metacot.synth.guards import GuardCounts
from metacot.synth.steering import supports_steering
from metacot.synth.walk import GENERATOR, Walk, problem_key, run_config, trace_key
from metacot.traces.jsonl import trace_from_line
from metacot.traces.problems import Problem, load_problems

__all__ = ["FROM_CONDITIONING", "SynthResult", "check_answer", "extract_boxed", "molesyn", "problem_key"]

#: Default of ``molesyn(stop=..., context_chars=...)``: take the value from the conditioning.
FROM_CONDITIONING = "conditioning"


# --------------------------------------------------------------------------------------------
# result
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SynthResult:
    """What one :func:`molesyn` call did.

    Attributes
    ----------
    path : Path
        The output file.
    n_problems : int
        Problems asked for.
    n_skipped : int
        Of those, already finished in the file (resumed run).
    n_written : int
        Traces written by this call.
    n_steps : int
        Steps in the traces written by this call.
    n_answered : int
        Written traces that ended with a boxed answer (the rest hit ``max_steps``).
    n_correct : int or None
        Written traces whose answer matched the gold answer; ``None`` when ``verify=False``.
    seconds : float
        Wall time of the call.
    guards : dict of str to int
        Guard events over the traces written by this call (:class:`~metacot.synth.guards.GuardCounts`):
        rejected replies by reason (``empty``, ``copy``, ``repeat``), ``retries`` and ``exhausted``
        (steps kept though still rejected).
    n_samples : int
        Traces asked for per problem.
    """

    path: Path
    n_problems: int
    n_skipped: int
    n_written: int
    n_steps: int
    n_answered: int
    n_correct: int | None
    seconds: float
    guards: dict[str, int] = field(default_factory=dict)
    n_samples: int = 1

    @property
    def steps_per_minute(self) -> float:
        """Steps written per minute of wall time (0 if nothing ran)."""
        return 60.0 * self.n_steps / self.seconds if self.seconds > 0 else 0.0

    @property
    def accuracy(self) -> float:
        """Share of written traces with a correct answer (``nan`` if none written or not verified)."""
        if self.n_correct is None or self.n_written == 0:
            return float("nan")
        return self.n_correct / self.n_written

    @property
    def guard_rates(self) -> dict[str, float]:
        """Each guard count per written step (``nan`` if no step was written)."""
        return GuardCounts(**self.guards).rates(self.n_steps)


def _graph_info(graph: BehaviourGraph) -> dict[str, Any]:
    return {
        "states": [s.value for s in graph.states],
        "P": graph.P.tolist(),
        "provenance": graph.provenance.to_dict(),
    }


# --------------------------------------------------------------------------------------------
# output file: resume, repair, append
# --------------------------------------------------------------------------------------------


def _scan(log: JsonlAppender, cfg: dict[str, Any], graph_info: dict[str, Any]) -> set[str]:
    """Trace ids already finished in the file; a torn last line is cut off (with a warning); a foreign file is refused."""
    done: set[str] = set()
    path = log.path
    for lineno, raw in log.existing():
        try:
            trace = trace_from_line(path, lineno, raw)
        except TraceFormatError as e:
            raise TraceFormatError(
                path, lineno, f"not a complete trace record ({e.reason}); move the file aside or repair that line"
            ) from None
        if trace is None:
            continue
        meta = trace.metadata
        if meta.get("generator") != GENERATOR or "problem_key" not in meta:
            raise TraceFormatError(path, lineno, "this record was not written by molesyn; use another output file")
        graph_meta = meta.get("graph") if isinstance(meta.get("graph"), dict) else {}
        if meta.get("run") != run_config(cfg) or graph_meta.get("P") != graph_info["P"]:
            raise TraceFormatError(
                path,
                lineno,
                f"written with other settings (run {meta.get('run')}, graph P "
                f"{graph_meta.get('P')}); resume with the same graph, seed, start, "
                "max_steps and decoding settings, or write to another file",
            )
        key = trace.trace_id  # "<source>/<id>" for sample 0, "<source>/<id>#<k>" for sample k
        if key in done:
            raise TraceFormatError(path, lineno, f"trace {key!r} appears twice in this file")
        done.add(key)
    return done


# --------------------------------------------------------------------------------------------
# the driver
# --------------------------------------------------------------------------------------------


def _as_problems(problems: Any) -> list[Problem]:
    if isinstance(problems, (str, os.PathLike)):
        return load_problems(problems)
    out = list(problems)
    for i, p in enumerate(out):
        if not isinstance(p, Problem):
            raise InvalidArgumentError(f"problem {i} is a {type(p).__name__}, not a metacot.traces.Problem")
    return out


def molesyn(
    graph: BehaviourGraph,
    problems: Sequence[Problem] | str | os.PathLike[str],
    sampler: Sampler,
    out: str | os.PathLike[str],
    max_steps: int = 16,
    start: Behaviour | str | None = "explore",
    seed: int | np.random.Generator = 0,
    verify: bool = True,
    *,
    max_tokens: int = 256,
    temperature: float = 0.7,
    stop: Sequence[str] | str = FROM_CONDITIONING,
    context_chars: int | str | None = FROM_CONDITIONING,
    conditioning: Conditioning | str | None = None,
    n_samples: int = 1,
    bank: Any = None,
    batch_size: int | None = None,
    progress: bool = True,
) -> SynthResult:
    r"""Synthesise long chains of thought (``n_samples`` per problem) by walking a behaviour graph (MoLE-Syn).

    For each problem the walk starts in ``start`` and draws :math:`b_{t+1} \sim P(b_t, \cdot)`;
    step :math:`t` is the sampler's reply to the prompt of behaviour :math:`b_t`
    (:mod:`metacot.synth.prompts`) given the question and the steps so far. The walk stops at
    the first step with a complete ``\boxed{}`` answer, or after ``max_steps`` steps. Each
    finished trace is appended to ``out`` as one :class:`~metacot.traces.core.Trace` JSONL record
    (readable with :func:`~metacot.traces.core.read_traces`):

    * ``trace_id`` = ``"<source>/<problem_id>"`` (sample :math:`k > 0`: ``"...#<k>"``);
      ``steps[t].behaviour`` = the intended (planned) :math:`b_t`; ``steps[t].source_labels`` =
      ``request_seed`` (of the kept attempt), ``boxed``, ``attempts``, ``guard_events`` (the
      reasons earlier attempts were rejected), ``flagged`` (the guard event of a step kept
      after ``max_retries``, else ``None``) and ``opening_chars`` (length of a forced opening at
      the start of the text, 0 if none);
      ``response`` = the steps joined by blank lines; ``final_answer`` = the boxed answer;
      ``source_model`` = the sampler's model;
    * ``metadata``: ``answer``, ``correct`` (``math-verify`` against the gold answer; ``None``
      if ``verify=False``), ``stop`` (``"answer"`` or ``"max_steps"``), ``sampler``
      (its :meth:`~metacot.llm.samplers.Sampler.describe`), ``graph`` (states, ``P`` and
      provenance), ``run`` (the settings), ``conditioning``, ``guards`` (the trace's
      :class:`~metacot.synth.guards.GuardCounts`), ``sample`` and the problem's id, source and key.

    The run resumes: problems already in ``out`` are skipped, after checking that the file was
    written with the same graph and settings (the sampler may differ, e.g. a restarted server on
    another port). Results do not depend on problem order, ``batch_size`` or the sampler's
    concurrency (see the module notes on randomness).

    Parameters
    ----------
    graph : BehaviourGraph
        The driving graph, e.g. :func:`metacot.graphs.graph.reference` or a :func:`metacot.fit_graph` fit.
    problems : sequence of Problem, or path
        Problems (a path is read with :func:`~metacot.traces.core.load_problems`); keys must be unique.
    sampler : Sampler
        :class:`~metacot.llm.samplers.LlamaCppSampler`, :class:`~metacot.llm.samplers.OpenAISampler`, ...
    out : path-like
        JSONL output, created or resumed.
    max_steps : int
        Most steps per trace.
    start : Behaviour, str or None
        First behaviour; ``"explore"`` as in the paper, ``None`` to draw it from the graph's
        marginal (or stationary law).
    seed : int or numpy.random.Generator
        An int in :math:`[0, 2^{64})`, or a Generator that gives one (one draw); with the problem
        key it seeds every walk and request. The int is recorded in every trace, and a resumed
        run must use the same one (pass the recorded int, not a fresh Generator).
    verify : bool
        Check answers with ``math-verify``.
    max_tokens, temperature
        Decoding settings of every step request.
    stop : sequence of str
        Stop sequences added to the conditioning's own.
    context_chars : int or None
        Show the model only the most recent ``context_chars`` characters of the rationale
        (:func:`~metacot.synth.prompts.user_prompt`); ``None`` shows everything; by default the
        conditioning's value.
    conditioning : Conditioning or str, optional
        How the model is conditioned on the behaviour and how replies are guarded
        (:mod:`metacot.synth.conditioning`); a preset name or a :class:`Conditioning`. Default
        the measured best preset, :data:`metacot.synth.conditioning.DEFAULT`; if that forces
        openings or a repetition penalty and ``sampler`` cannot (no true ``steerable``
        attribute), the default drops those two levers and is recorded as ``"<name>-unsteered"``.
        An explicit steered conditioning with such a sampler is an error.
    n_samples : int
        Traces per problem. Sample 0 is seeded exactly as single-sample runs always were, so a
        run can be extended with more samples; every sample has its own plan and seeds.
    bank : ExampleBank, optional
        Few-shot examples (:class:`~metacot.synth.fewshot.ExampleBank`); built once per
        process from the shipped teacher traces if the conditioning needs it.
    batch_size : int, optional
        Problems walked together; default the sampler's ``concurrency`` attribute, else 1.
    progress : bool
        Show a tqdm bar with problems, steps and accuracy so far.

    Returns
    -------
    SynthResult

    Raises
    ------
    SamplerError
        From the sampler (server down, garbage reply, context overflow): traces finished before
        it are in ``out``, those in progress are not; rerun to continue.
    TraceFormatError
        If ``out`` holds a malformed record, a foreign record, or one written with other settings.
    InvalidArgumentError
        For bad arguments or duplicate problem keys.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from metacot.graphs.graph import reference
    >>> from metacot.llm.samplers import LlamaCppSampler
    >>> from metacot.traces.core import DATA_DIR, load_problems
    >>> probs = load_problems(DATA_DIR / "problems" / "amc23.jsonl")[:2]
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "synth.jsonl"
    >>> res = molesyn(reference("deepseek-r1-0528"), probs, LlamaCppSampler(n_threads=2), out,
    ...               max_steps=4, max_tokens=64)  # doctest: +SKIP
    >>> res.n_written  # doctest: +SKIP
    2
    """
    t0 = time.perf_counter()
    if not isinstance(graph, BehaviourGraph):
        raise InvalidArgumentError(f"graph must be a BehaviourGraph, got {type(graph).__name__}")
    if not isinstance(sampler, Sampler):
        raise InvalidArgumentError(
            f"sampler must provide complete, complete_batch and describe; got {type(sampler).__name__}"
        )
    max_steps = positive_int(max_steps, "max_steps")
    seed = as_seed_int(seed)
    if start is not None:
        start = graph.states[graph.index(start)]
    if batch_size is None:
        batch_size = getattr(sampler, "concurrency", 1)
    batch_size = positive_int(batch_size, "batch_size")
    probs = _as_problems(problems)
    keys = [problem_key(p) for p in probs]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise InvalidArgumentError(f"problem key {dup!r} (source/id) occurs more than once")

    n_samples = positive_int(n_samples, "n_samples")
    cond = _resolve_conditioning(conditioning, sampler)
    if context_chars != FROM_CONDITIONING:
        cond = replace(cond, context_chars=context_chars)  # validated by Conditioning
    stop = merged_stop(cond, () if stop == FROM_CONDITIONING else ((stop,) if isinstance(stop, str) else stop))
    cfg: dict[str, Any] = {
        "seed": int(seed),
        "start": None if start is None else start.value,
        "max_steps": max_steps,
        "max_tokens": max_tokens,
        "temperature": temperature,
        "stop": tuple(stop),
        "context_chars": cond.context_chars,
    }
    if not cond.legacy:  # a run with the original settings records (and resumes) exactly as before
        cfg["conditioning"] = {k: v for k, v in cond.to_dict().items() if k not in ("stop", "context_chars")}
    if cond.fewshot and bank is None:
        from metacot.synth.fewshot import default_bank

        bank = default_bank()
    # Fail on bad decoding settings now, not after the first round of generation.
    conditioned_request(cond, "normal", "q", (), seed=0, bank=bank, temperature=temperature,
                        max_tokens=max_tokens, stop=cfg["stop"])
    if verify:
        check_answer("1", "1")  # a missing math-verify should fail now, not after the first trace
    graph_info = _graph_info(graph)
    sampler_info = sampler.describe()

    path = Path(out)
    if not path.parent.is_dir():
        raise InvalidArgumentError(f"{path}: the output folder {path.parent} does not exist")
    with open_jsonl_appender(path) as log:
        done = _scan(log, cfg, graph_info)
        todo = deque((p, k) for p in probs for k in range(n_samples) if trace_key(p, k) not in done)
        n_skipped = len(probs) * n_samples - len(todo)
        n_written = n_steps = n_answered = n_correct = 0
        guards = GuardCounts()

        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc="MoLE-Syn", unit="problem", disable=not progress)
        try:
            active: list[Walk] = []
            while todo or active:
                while todo and len(active) < batch_size:
                    active.append(Walk(*todo.popleft(), graph, cfg, cond, bank))
                requests = [w.request() for w in active]
                replies = sampler.complete_batch(requests)
                if not isinstance(replies, list) or len(replies) != len(requests):
                    raise SamplerError(
                        f"{type(sampler).__name__}.complete_batch returned "
                        f"{len(replies) if isinstance(replies, list) else type(replies).__name__} "
                        f"replies for {len(requests)} requests"
                    )
                still = []
                for w, text in zip(active, replies):
                    if not isinstance(text, str):
                        raise SamplerError(f"{type(sampler).__name__} returned a {type(text).__name__}, not a str")
                    w.add(text)
                    if not w.done:
                        still.append(w)
                        continue
                    trace = w.trace(sampler_info, graph_info, verify)
                    log.append(trace.to_dict())
                    n_written += 1
                    n_steps += len(trace)
                    n_answered += trace.final_answer is not None
                    n_correct += bool(trace.metadata["correct"])
                    guards.add(w.counts)
                    bar.update(1)
                    bar.set_postfix(steps=n_steps, acc=f"{n_correct}/{n_written}" if verify else "-")
                active = still
        finally:
            bar.close()
    return SynthResult(
        path=path,
        n_problems=len(probs),
        n_skipped=n_skipped,
        n_written=n_written,
        n_steps=n_steps,
        n_answered=n_answered,
        n_correct=n_correct if verify else None,
        seconds=time.perf_counter() - t0,
        guards=guards.to_dict(),
        n_samples=n_samples,
    )


def _resolve_conditioning(conditioning: Conditioning | str | None, sampler: Any) -> Conditioning:
    """The conditioning to use; the default loses its steering levers on a sampler without them."""
    cond = as_conditioning(conditioning)
    if cond.steered and not supports_steering(sampler):
        if conditioning is not None:
            raise InvalidArgumentError(
                f"conditioning {cond.name!r} forces openings or a repetition penalty, which "
                f"{type(sampler).__name__} cannot honour; use metacot.synth.steering.SteeredLlamaSampler "
                "or a conditioning without them"
            )
        # The documented fallback for the default: same levers minus steering, under its own name
        # (recorded in every trace's metadata["conditioning"] and in metadata["run"]).
        cond = replace(cond, name=f"{cond.name}-unsteered", opening=False, repeat_penalty=1.0)
    return cond
