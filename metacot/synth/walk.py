r"""One MoLE-Syn trace in the making: the behaviour plan, the step requests, the guards, the record.

:class:`Walk` is driven by :func:`metacot.synth.molesyn.molesyn`: it asks for the request of its
next step, is given the reply, checks it with :func:`metacot.synth.guards.check_step` and either
keeps it or asks again (with a fresh seed, at most ``max_retries`` times), and finally turns into
a :class:`~metacot.traces.model.Trace`.

Seeds. Sample :math:`k` of a problem is keyed ``"<source>/<problem_id>"`` for :math:`k = 0` (the
key MoLE-Syn always used, so earlier runs resume) and ``"<source>/<problem_id>#<k>"`` otherwise;
the key and the run seed seed a :class:`numpy.random.SeedSequence`, which draws the plan and one
seed :math:`s_t` per step. Retry :math:`r \ge 1` of step :math:`t` uses the first word of
``SeedSequence([s_t, r])``, so retries are reproducible too.

Examples
--------
>>> trace_key(__import__("metacot.traces.core", fromlist=["Problem"]).Problem("7", "q", "1", "amc23"), 2)
'amc23/7#2'
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from metacot.errors import MissingDependencyError
from metacot.graphs.graph import BehaviourGraph
from metacot.synth.answers import check_answer, extract_boxed
from metacot.synth.conditioning import Conditioning, conditioned_request
from metacot.synth.guards import GuardCounts, check_step
from metacot.traces.model import Step, Trace
from metacot.traces.problems import Problem

__all__ = ["GENERATOR", "SEP", "Walk", "problem_key", "problem_rng", "retry_seed", "run_config", "trace_key"]

#: ``metadata["generator"]`` of every MoLE-Syn trace.
GENERATOR = "metacot.synth.molesyn"
#: Separator of the steps in ``Trace.response``.
SEP = "\n\n"


def problem_key(problem: Problem) -> str:
    """The identity of a problem in MoLE-Syn output: ``"<source>/<problem_id>"``.

    Examples
    --------
    >>> problem_key(Problem("0", "q", "1", "amc23"))
    'amc23/0'
    """
    return f"{problem.source}/{problem.problem_id}"


def trace_key(problem: Problem, sample: int) -> str:
    """The trace id of sample ``sample`` of ``problem``: the problem key, plus ``#<sample>`` if ``sample > 0``."""
    key = problem_key(problem)
    return key if sample == 0 else f"{key}#{sample}"


def problem_rng(seed: int, key: str) -> np.random.Generator:
    """The generator of one trace, from the run seed and the trace key (order-independent)."""
    # A cryptographic digest, not hash(): Python salts str hashes per process.
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    words = np.frombuffer(digest, dtype="<u4").tolist()
    return np.random.default_rng(np.random.SeedSequence([seed, *words]))


def retry_seed(seed: int, attempt: int) -> int:
    """The request seed of retry ``attempt`` (``0``: ``seed`` itself) of a step seeded ``seed``.

    Examples
    --------
    >>> retry_seed(11, 0), retry_seed(11, 1) == retry_seed(11, 1) != 11
    (11, True)
    """
    if attempt == 0:
        return int(seed)
    return int(np.random.SeedSequence([int(seed), int(attempt)]).generate_state(1)[0] % (2**31 - 1))


def run_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """The run settings as recorded in ``metadata["run"]`` (tuples as lists)."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()}


class Walk:
    """The state of one trace's synthesis (one problem, one sample).

    Parameters
    ----------
    problem : Problem
    sample : int
        Sample index (0 keeps the original seeding).
    graph : BehaviourGraph
    cfg : dict
        Run settings: ``seed``, ``start``, ``max_steps``, ``max_tokens``, ``temperature``,
        ``stop``, ``context_chars``.
    cond : Conditioning
        Its ``stop`` and ``context_chars`` are superseded by ``cfg``'s.
    bank : ExampleBank, optional
        Few-shot examples, if ``cond.fewshot``.
    """

    def __init__(self, problem: Problem, sample: int, graph: BehaviourGraph, cfg: dict[str, Any],
                 cond: Conditioning, bank: Any = None) -> None:
        self.problem = problem
        self.sample = sample
        self.key = problem_key(problem)
        self.trace_id = trace_key(problem, sample)
        rng = problem_rng(cfg["seed"], self.trace_id)
        self.plan = graph.walk(rng, start=cfg["start"], max_steps=cfg["max_steps"] - 1)
        self.seeds = rng.integers(0, 2**31 - 1, size=cfg["max_steps"]).tolist()
        self.texts: list[str] = []
        self.bodies: list[str] = []  # the steps without their forced openings, for the repeat guard
        self.labels: list[dict[str, Any]] = []
        self.answer: str | None = None
        self.cfg = cfg
        self.cond = cond
        self.bank = bank
        self.counts = GuardCounts()
        self.attempt = 0
        self.events: list[str] = []
        self.pending: tuple[str, str, int] = ("", "", 0)

    def request(self) -> Any:
        """The request for the current attempt at the next step."""
        t = len(self.texts)
        seed = retry_seed(self.seeds[t], self.attempt)
        req, opening = conditioned_request(
            self.cond, self.plan[t], self.problem.problem, self.texts, seed=seed, bank=self.bank,
            temperature=self.cfg["temperature"], max_tokens=self.cfg["max_tokens"], stop=self.cfg["stop"],
        )
        self.pending = (opening, req.messages[0]["content"], seed)
        return req

    def add(self, reply: str) -> bool:
        """Take the model's reply to :meth:`request`; ``False`` if it was rejected and will be asked again."""
        opening, instructions, seed = self.pending
        event = check_step(reply, instructions, self.problem.problem, self.bodies)
        if event is not None:
            setattr(self.counts, event, getattr(self.counts, event) + 1)
            self.events.append(event)
            if self.attempt < self.cond.max_retries:
                self.attempt += 1
                self.counts.retries += 1
                return False
            self.counts.exhausted += 1
        text = (opening + reply).strip()
        self.texts.append(text)
        self.bodies.append(reply.strip())
        self.answer = extract_boxed(text)
        self.labels.append({
            "request_seed": seed,
            "boxed": self.answer is not None,
            "attempts": self.attempt + 1,
            "guard_events": list(self.events),
            "flagged": event,
            "opening_chars": len(opening.strip()) if text.startswith(opening.strip()) else 0,
        })
        self.attempt, self.events = 0, []
        return True

    @property
    def done(self) -> bool:
        """Whether the trace is finished (a boxed answer, or ``max_steps`` steps)."""
        return self.answer is not None or len(self.texts) >= self.cfg["max_steps"]

    def trace(self, sampler_info: dict[str, Any], graph_info: dict[str, Any], verify: bool) -> Trace:
        """The finished trace record (see :func:`metacot.synth.molesyn.molesyn` for its fields)."""
        steps, pos = [], 0
        for i, text in enumerate(self.texts):
            steps.append(Step(text, pos, pos + len(text), self.plan[i], self.labels[i]))
            pos += len(text) + len(SEP)
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
            "generator": GENERATOR,
            "problem_key": self.key,
            "problem_id": self.problem.problem_id,
            "problem_source": self.problem.source,
            "sample": self.sample,
            "answer": self.answer,
            "correct": correct,
            "stop": "answer" if self.answer is not None else "max_steps",
            "sampler": sampler_info,
            "graph": graph_info,
            "run": run_config(self.cfg),
            "conditioning": self.cond.to_dict(),
            "guards": self.counts.to_dict(),
        }
        if verify_error is not None:
            meta["verify_error"] = verify_error
        return Trace(
            trace_id=self.trace_id,
            problem=self.problem.problem,
            steps=tuple(steps),
            response=SEP.join(self.texts),
            final_answer=self.answer,
            gold_answer=self.problem.answer,
            source_model=str(sampler_info.get("model", "")),
            metadata=meta,
        )
