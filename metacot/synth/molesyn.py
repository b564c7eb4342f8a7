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
  transitions of the written traces are draws from :math:`\hat P`.
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

import hashlib
import os
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from metacot._checks import as_seed_int, positive_int
from metacot._io import JsonlAppender, open_jsonl_appender
from metacot.behaviours import Behaviour
from metacot.errors import InvalidArgumentError, MissingDependencyError, SamplerError, TraceFormatError
from metacot.graphs.graph import BehaviourGraph
from metacot.llm.protocol import Sampler
from metacot.synth.prompts import step_request
from metacot.traces.jsonl import trace_from_line
from metacot.traces.model import Step, Trace
from metacot.traces.problems import Problem, load_problems

__all__ = ["SynthResult", "check_answer", "extract_boxed", "molesyn", "problem_key"]

_GENERATOR = "metacot.synth.molesyn"
_SEP = "\n\n"


# --------------------------------------------------------------------------------------------
# answers
# --------------------------------------------------------------------------------------------


def extract_boxed(text: str) -> str | None:
    r"""Content of the last complete ``\boxed{...}`` in ``text`` (braces balanced), else ``None``.

    A box cut off by the token limit (no closing brace) is no answer.

    Examples
    --------
    >>> extract_boxed(r"so \boxed{\frac{1}{2}} and then \boxed{3}")
    '3'
    >>> extract_boxed(r"\boxed{\frac{1}{2}}"), extract_boxed(r"\boxed{\frac{1}{2"), extract_boxed("7")
    ('\\frac{1}{2}', None, None)
    """
    found = None
    pos = text.find("\\boxed{")
    while pos >= 0:
        i = pos + len("\\boxed{")
        depth = 1
        j = i
        while j < len(text) and depth:
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
            j += 1
        if depth == 0:
            found = text[i : j - 1].strip()
        pos = text.find("\\boxed{", pos + 1)
    return found


def check_answer(answer: str | None, gold: str) -> bool:
    r"""Whether ``answer`` (a boxed answer's content) equals ``gold`` mathematically (``math-verify``).

    ``math_verify.parse`` reads ``\boxed{answer}`` and ``$gold$``; ``math_verify.verify`` compares
    them symbolically (``1/2`` equals ``0.5``, ``\frac12`` and so on). math-verify guards itself
    with ``SIGALRM``, which exists only in the main thread; elsewhere it runs without its own
    time limit.

    Raises
    ------
    MissingDependencyError
        If ``math-verify`` is not installed.

    Examples
    --------
    >>> check_answer(r"\frac{1}{2}", "0.5"), check_answer("27", "27"), check_answer("26", "27")
    (True, True, False)
    >>> check_answer(None, "27")
    False
    """
    if answer is None:
        return False
    try:
        from math_verify import parse, verify
    except ImportError as e:
        raise MissingDependencyError(
            f"answer checking needs math-verify ({e}): pip install 'metacot[llm]', or pass verify=False"
        ) from None
    limit = 5 if threading.current_thread() is threading.main_thread() else None
    g = gold if "$" in gold or "\\boxed" in gold else f"${gold}$"
    gold_parsed = parse(g, parsing_timeout=limit)
    pred_parsed = parse(f"\\boxed{{{answer}}}", parsing_timeout=limit)
    return bool(verify(gold_parsed, pred_parsed, timeout_seconds=limit))


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
    """

    path: Path
    n_problems: int
    n_skipped: int
    n_written: int
    n_steps: int
    n_answered: int
    n_correct: int | None
    seconds: float

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


# --------------------------------------------------------------------------------------------
# per-problem walk
# --------------------------------------------------------------------------------------------


def problem_key(problem: Problem) -> str:
    """The identity of a problem in MoLE-Syn output: ``"<source>/<problem_id>"``.

    Examples
    --------
    >>> problem_key(Problem("0", "q", "1", "amc23"))
    'amc23/0'
    """
    return f"{problem.source}/{problem.problem_id}"


def _problem_rng(seed: int, key: str) -> np.random.Generator:
    # A cryptographic digest, not hash(): Python salts str hashes per process.
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    words = np.frombuffer(digest, dtype="<u4").tolist()
    return np.random.default_rng(np.random.SeedSequence([seed, *words]))


class _Walk:
    """The state of one problem's synthesis."""

    def __init__(self, problem: Problem, graph: BehaviourGraph, cfg: dict[str, Any]) -> None:
        self.problem = problem
        self.key = problem_key(problem)
        rng = _problem_rng(cfg["seed"], self.key)
        self.plan = graph.walk(rng, start=cfg["start"], max_steps=cfg["max_steps"] - 1)
        self.seeds = rng.integers(0, 2**31 - 1, size=cfg["max_steps"]).tolist()
        self.texts: list[str] = []
        self.answer: str | None = None
        self.cfg = cfg

    def request(self):
        t = len(self.texts)
        return step_request(
            self.plan[t],
            self.problem.problem,
            self.texts,
            context_chars=self.cfg["context_chars"],
            temperature=self.cfg["temperature"],
            max_tokens=self.cfg["max_tokens"],
            stop=self.cfg["stop"],
            seed=int(self.seeds[t]),
        )

    def add(self, text: str) -> None:
        text = text.strip()
        self.texts.append(text)
        self.answer = extract_boxed(text)

    @property
    def done(self) -> bool:
        return self.answer is not None or len(self.texts) >= self.cfg["max_steps"]

    def trace(self, sampler_info: dict[str, Any], graph_info: dict[str, Any], verify: bool) -> Trace:
        steps, pos = [], 0
        for i, text in enumerate(self.texts):
            steps.append(
                Step(
                    text,
                    pos,
                    pos + len(text),
                    self.plan[i],
                    {"request_seed": int(self.seeds[i]), "boxed": extract_boxed(text) is not None},
                )
            )
            pos += len(text) + len(_SEP)
        correct: bool | None = None
        verify_error = None
        if verify:
            try:
                correct = check_answer(self.answer, self.problem.answer)
            except MissingDependencyError:
                raise
            except Exception as e:  # a parser crash on odd model output is a wrong answer, recorded
                correct, verify_error = False, f"{type(e).__name__}: {e}"
        meta: dict[str, Any] = {
            "generator": _GENERATOR,
            "problem_key": self.key,
            "problem_id": self.problem.problem_id,
            "problem_source": self.problem.source,
            "answer": self.answer,
            "correct": correct,
            "stop": "answer" if self.answer is not None else "max_steps",
            "sampler": sampler_info,
            "graph": graph_info,
            "run": _run_config(self.cfg),
        }
        if verify_error is not None:
            meta["verify_error"] = verify_error
        return Trace(
            trace_id=self.key,
            problem=self.problem.problem,
            steps=tuple(steps),
            response=_SEP.join(self.texts),
            final_answer=self.answer,
            gold_answer=self.problem.answer,
            source_model=str(sampler_info.get("model", "")),
            metadata=meta,
        )


def _run_config(cfg: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()}


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
    """Keys already finished in the file; a torn last line is cut off (with a warning); a foreign file is refused."""
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
        if meta.get("generator") != _GENERATOR or "problem_key" not in meta:
            raise TraceFormatError(path, lineno, "this record was not written by molesyn; use another output file")
        graph_meta = meta.get("graph") if isinstance(meta.get("graph"), dict) else {}
        if meta.get("run") != _run_config(cfg) or graph_meta.get("P") != graph_info["P"]:
            raise TraceFormatError(
                path,
                lineno,
                f"written with other settings (run {meta.get('run')}, graph P "
                f"{graph_meta.get('P')}); resume with the same graph, seed, start, "
                "max_steps and decoding settings, or write to another file",
            )
        key = meta["problem_key"]
        if key in done:
            raise TraceFormatError(path, lineno, f"problem {key!r} appears twice in this file")
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
    stop: Sequence[str] = (),
    context_chars: int | None = 4000,
    batch_size: int | None = None,
    progress: bool = True,
) -> SynthResult:
    r"""Synthesise one long chain of thought per problem by walking a behaviour graph (MoLE-Syn).

    For each problem the walk starts in ``start`` and draws :math:`b_{t+1} \sim P(b_t, \cdot)`;
    step :math:`t` is the sampler's reply to the prompt of behaviour :math:`b_t`
    (:mod:`metacot.synth.prompts`) given the question and the steps so far. The walk stops at
    the first step with a complete ``\boxed{}`` answer, or after ``max_steps`` steps. Each
    finished trace is appended to ``out`` as one :class:`~metacot.traces.core.Trace` JSONL record
    (readable with :func:`~metacot.traces.core.read_traces`):

    * ``trace_id`` = ``"<source>/<problem_id>"``; ``steps[t].behaviour`` = the intended
      :math:`b_t`; ``steps[t].source_labels`` = the request seed and whether the step is boxed;
      ``response`` = the steps joined by blank lines; ``final_answer`` = the boxed answer;
      ``source_model`` = the sampler's model;
    * ``metadata``: ``answer``, ``correct`` (``math-verify`` against the gold answer; ``None``
      if ``verify=False``), ``stop`` (``"answer"`` or ``"max_steps"``), ``sampler``
      (its :meth:`~metacot.llm.samplers.Sampler.describe`), ``graph`` (states, ``P`` and
      provenance), ``run`` (the settings) and the problem's id, source and key.

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
    max_tokens, temperature, stop
        Decoding settings of every step request.
    context_chars : int or None
        Show the model only the most recent ``context_chars`` characters of the rationale
        (:func:`~metacot.synth.prompts.user_prompt`); ``None`` shows everything.
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

    cfg: dict[str, Any] = {
        "seed": int(seed),
        "start": None if start is None else start.value,
        "max_steps": max_steps,
        "max_tokens": max_tokens,
        "temperature": temperature,
        "stop": tuple(stop),
        "context_chars": context_chars,
    }
    # Fail on bad decoding settings now, not after the first round of generation.
    step_request("normal", "q", (), context_chars=context_chars, temperature=temperature,
                 max_tokens=max_tokens, stop=tuple(stop))
    if verify:
        check_answer("1", "1")  # a missing math-verify should fail now, not after the first trace
    graph_info = _graph_info(graph)
    sampler_info = sampler.describe()

    path = Path(out)
    if not path.parent.is_dir():
        raise InvalidArgumentError(f"{path}: the output folder {path.parent} does not exist")
    with open_jsonl_appender(path) as log:
        done = _scan(log, cfg, graph_info)
        todo = deque(p for p, k in zip(probs, keys) if k not in done)
        n_skipped = len(probs) - len(todo)
        n_written = n_steps = n_answered = n_correct = 0

        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc="MoLE-Syn", unit="problem", disable=not progress)
        try:
            active: list[_Walk] = []
            while todo or active:
                while todo and len(active) < batch_size:
                    active.append(_Walk(todo.popleft(), graph, cfg))
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
    )
