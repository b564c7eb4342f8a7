"""The LLM judge: a language model applies the package's behaviour rubric to every step.

:class:`LLMJudgeLabeller` asks any :class:`metacot.llm.samplers.Sampler` (the embedded llama.cpp
model or an OpenAI-compatible server) to classify each step against :data:`JUDGE_RUBRIC`, showing
it the problem and the preceding steps.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from metacot.behaviours import Behaviour
from metacot.errors import InvalidArgumentError
from metacot.graphs.labelling import relabel
from metacot.traces.core import Trace

__all__ = ["JUDGE_EXAMPLES", "JUDGE_RUBRIC", "LLMJudgeLabeller"]

#: The judge's instructions: the four behaviours with the cues that tell them apart, in our own
#: words after the definitions of Chen et al. (2026, Appendix E; see :mod:`metacot.behaviours`).
JUDGE_RUBRIC = """Label one step of a worked solution with exactly one word.
normal: routine work that adds no new idea (restating, plain arithmetic, recalling a fact).
deep: derives something new from earlier steps (a deduction, a chain of equations, "therefore").
reflect: looks back to check, doubt or correct earlier work ("wait", "let me verify", "that is wrong").
explore: opens a new direction (another method, a new case or hypothesis, "alternatively", "what if").
Answer with one word: normal, deep, reflect or explore."""

#: Worked examples shown before every query (ours); small models follow a demonstrated reply
#: format far more reliably than an instruction alone.
JUDGE_EXAMPLES: tuple[tuple[str, Behaviour], ...] = (
    ("The question asks for the sum of the two roots.", Behaviour.NORMAL),
    ("Since 2x = 8 and x divides 12, it follows that x = 4, so the product is 48.", Behaviour.DEEP),
    ("Wait, let me double-check that sign; I think I dropped a minus earlier.", Behaviour.REFLECT),
    ("Alternatively, maybe we could count the complement instead.", Behaviour.EXPLORE),
)

# Reply words accepted for each behaviour; the earliest one in the reply decides.
_JUDGE_WORDS = re.compile(
    r"\b(normal|routine|deep|deduction|reflect\w*|explor\w*)\b", re.IGNORECASE
)
_JUDGE_MAP = {"normal": Behaviour.NORMAL, "routine": Behaviour.NORMAL, "deep": Behaviour.DEEP,
              "deduction": Behaviour.DEEP}


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class LLMJudgeLabeller:
    r"""Label each step by asking a language model to apply the behaviour rubric.

    For step :math:`t` of a trace the judge sends one chat request (:meth:`messages`): the rubric
    (:data:`JUDGE_RUBRIC`) as the system message, one worked example per behaviour
    (:data:`JUDGE_EXAMPLES`), and the query: the problem, the ``context_steps`` steps before
    :math:`t` and step :math:`t` itself, each clipped to ``max_chars`` characters. The steps of one trace go to the sampler as one batch
    (``complete_batch``), so an OpenAI-compatible server answers them concurrently. The reply is
    parsed by :meth:`parse`: the first of the words *normal, deep, reflect(ion), explore/exploration*
    (or *routine*, *deduction*) decides.

    **Unparseable replies are not lost.** With ``on_unparsed="fallback"`` (the default) such a step
    gets ``fallback`` and its index is recorded in ``metadata["judge_unparsed"]`` of the labelled
    trace, so the rate can be reported; with ``"raise"`` a :class:`~metacot.errors.InvalidArgumentError`
    names the trace, the step and the reply.

    The paper labels with an LLM whose prompt is not published; this rubric is ours, so agreement
    with the paper's labels is a question for measurement (:func:`agreement`), not an assumption.

    Parameters
    ----------
    sampler : metacot.llm.samplers.Sampler
        Anything with ``complete_batch(requests) -> list[str]`` and ``describe() -> dict``.
    context_steps : int, default 2
        Preceding steps shown to the judge.
    max_chars : int, default 300
        Characters kept of the problem and of each step (small models have small contexts).
    temperature : float, default 0.0
        Greedy decoding: a label should not depend on luck.
    max_tokens : int, default 6
    seed : int, default 0
        Passed to every request, for samplers that honour it.
    on_unparsed : {"fallback", "raise"}
    fallback : Behaviour or str, default ``"normal"``
    name : str, optional
        Defaults to ``"llm-judge:<model>"`` from the sampler's description.

    Examples
    --------
    >>> from metacot.traces.core import Step
    >>> class Echo:  # a stand-in sampler that always answers "deep"
    ...     def complete_batch(self, requests): return ["Deep."] * len(requests)
    ...     def describe(self): return {"kind": "echo", "model": "echo"}
    >>> t = Trace("t", "q", (Step("So x = 2.", 0, 9), Step("Then y = 3.", 9, 20)), "So x = 2.Then y = 3.")
    >>> judge = LLMJudgeLabeller(Echo())
    >>> [s.behaviour.value for s in judge.label(t).steps], judge.name
    (['deep', 'deep'], 'llm-judge:echo')
    """

    def __init__(
        self,
        sampler: Any,
        *,
        context_steps: int = 2,
        max_chars: int = 300,
        temperature: float = 0.0,
        max_tokens: int = 6,
        seed: int = 0,
        on_unparsed: str = "fallback",
        fallback: Behaviour | str = Behaviour.NORMAL,
        name: str | None = None,
    ) -> None:
        if not callable(getattr(sampler, "complete_batch", None)):
            raise InvalidArgumentError(
                f"sampler must have a complete_batch(requests) method, got {type(sampler).__name__}"
            )
        if isinstance(context_steps, bool) or not isinstance(context_steps, int) or context_steps < 0:
            raise InvalidArgumentError(f"context_steps must be a non-negative int, got {context_steps!r}")
        if isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 2:
            raise InvalidArgumentError(f"max_chars must be an int >= 2, got {max_chars!r}")
        if on_unparsed not in ("fallback", "raise"):
            raise InvalidArgumentError(f"on_unparsed must be 'fallback' or 'raise', got {on_unparsed!r}")
        try:
            self.fallback = Behaviour(fallback)
        except ValueError:
            raise InvalidArgumentError(f"unknown fallback behaviour {fallback!r}") from None
        self.sampler = sampler
        self.context_steps = context_steps
        self.max_chars = int(max_chars)
        self.temperature = float(temperature)
        self.max_tokens = int(max_tokens)
        self.seed = seed
        self.on_unparsed = on_unparsed
        if name is None:
            describe = getattr(sampler, "describe", None)
            model = (describe() if callable(describe) else {}).get("model", type(sampler).__name__)
            name = f"llm-judge:{model}"
        self.name = name

    @staticmethod
    def parse(reply: str) -> Behaviour | None:
        """The behaviour a judge's reply names, or ``None`` if it names none.

        Examples
        --------
        >>> LLMJudgeLabeller.parse("Label: Self-Reflection"), LLMJudgeLabeller.parse("no idea")
        (<Behaviour.REFLECT: 'reflect'>, None)
        """
        m = _JUDGE_WORDS.search(reply)
        if m is None:
            return None
        word = m.group(1).lower()
        if word.startswith("reflect"):
            return Behaviour.REFLECT
        if word.startswith("explor"):
            return Behaviour.EXPLORE
        return _JUDGE_MAP[word]

    def messages(self, trace: Trace, i: int) -> tuple[dict[str, str], ...]:
        """The chat messages that ask for the label of step ``i`` of ``trace``.

        The rubric as the system message, :data:`JUDGE_EXAMPLES` as earlier user/assistant turns,
        then the query: the problem, the preceding ``context_steps`` steps and step ``i``.
        """
        msgs = [{"role": "system", "content": JUDGE_RUBRIC}]
        for text, b in JUDGE_EXAMPLES:
            msgs += [{"role": "user", "content": f"Step: {text}\nLabel:"}, {"role": "assistant", "content": b.value}]
        lo = max(0, i - self.context_steps)
        context = " ".join(_clip(s.text, self.max_chars) for s in trace.steps[lo:i])
        query = f"Problem: {_clip(trace.problem, self.max_chars)}\n"
        if context:
            query += f"Earlier: {context}\n"
        query += f"Step: {_clip(trace.steps[i].text, self.max_chars)}\nLabel:"
        msgs.append({"role": "user", "content": query})
        return tuple(msgs)

    def label(self, trace: Trace) -> Trace:
        """Return ``trace`` with every step's behaviour set by the judge."""
        from metacot.llm.samplers import ChatRequest

        requests = [
            ChatRequest(messages=self.messages(trace, i), temperature=self.temperature,
                        max_tokens=self.max_tokens, stop=("\n",), seed=self.seed)
            for i in range(len(trace.steps))
        ]
        replies = self.sampler.complete_batch(requests) if requests else []
        if len(replies) != len(requests):
            raise InvalidArgumentError(
                f"trace {trace.trace_id!r}: the sampler returned {len(replies)} replies for {len(requests)} steps"
            )
        labels, unparsed = [], []
        for i, reply in enumerate(replies):
            b = self.parse(reply)
            if b is None:
                if self.on_unparsed == "raise":
                    raise InvalidArgumentError(
                        f"trace {trace.trace_id!r}, step {i}: the judge's reply {reply!r} names no behaviour"
                    )
                b = self.fallback
                unparsed.append(i)
            labels.append(b)
        out = relabel(trace, labels, self.name)
        return replace(out, metadata={**out.metadata, "judge_unparsed": unparsed})
