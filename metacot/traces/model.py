"""The trace data model: :class:`Step`, :class:`Trace`, and what a lenient read leaves out.

A :class:`Trace` is one model response to one problem, cut into :class:`Step` objects. Every step
keeps its character span into :attr:`Trace.response`, so ``trace.response[step.start:step.end] ==
step.text`` always holds and a later labeller or embedder can go back to the exact source text.
:meth:`Trace.to_dict` / :meth:`Trace.from_dict` are the record of the versioned JSONL format
(``{"format": "metacot.trace", "version": 1, ...}``) read and written by
:mod:`metacot.traces.jsonl`; ``from_dict`` checks every field's type, so a malformed record is
one :class:`~metacot.errors.InvalidArgumentError`, never a stray ``TypeError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from metacot.behaviours import Behaviour
from metacot.errors import InvalidArgumentError

__all__ = ["FORMAT", "VERSION", "SkippedLine", "Step", "Trace", "TraceList"]

#: The ``format`` tag of a trace record, and the one ``version`` this reader knows.
FORMAT = "metacot.trace"
VERSION = 1


def _optional_dict(value: Any, what: str) -> dict[str, Any]:
    """``value`` as a new dict; ``None`` is an empty one; anything but a JSON object is refused."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(f"{what} must be a JSON object, got {_short(value)}")
    return dict(value)


def _short(value: Any, n: int = 40) -> str:
    """A short repr for an error message; containers by type only (their repr can be huge or deep)."""
    if not isinstance(value, (str, int, float, type(None))):
        return f"a {type(value).__name__}"
    try:
        s = repr(value[: n + 1] if isinstance(value, str) else value)
    except ValueError:  # an int of more digits than Python will print
        return "a very large int"
    return s if len(s) <= n else s[: n - 3] + "..."


@dataclass(frozen=True)
class Step:
    """One step of a reasoning trace.

    Parameters
    ----------
    text : str
        The step's text, exactly ``response[start:end]`` of its trace.
    start, end : int
        Character span of the step in :attr:`Trace.response` (``0 <= start <= end``).
    behaviour : Behaviour, str or None
        One of the four behaviours (strings are converted), or ``None`` if not labelled yet.
    source_labels : dict
        Labels from the data source, kept verbatim (for ReasoningFlow: ``node_id``,
        ``node_label`` and ``in_edges``, a list of ``{"source": node_id, "label": edge_label}``).

    Examples
    --------
    >>> Step("Wait, check.", 0, 12, behaviour="reflect").behaviour
    <Behaviour.REFLECT: 'reflect'>
    """

    text: str
    start: int
    end: int
    behaviour: Behaviour | None = None
    source_labels: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise InvalidArgumentError(f"Step.text must be a str, got {type(self.text).__name__}")
        for name in ("start", "end"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int):
                raise InvalidArgumentError(f"Step.{name} must be an int, got {_short(v)}")
        if not 0 <= self.start <= self.end:
            raise InvalidArgumentError(f"Step span [{self.start}, {self.end}) is not a valid span")
        if self.end - self.start != len(self.text):
            raise InvalidArgumentError(
                f"Step span [{self.start}, {self.end}) has length {self.end - self.start} "
                f"but the text has {len(self.text)} characters"
            )
        if self.behaviour is not None and not isinstance(self.behaviour, Behaviour):
            try:
                object.__setattr__(self, "behaviour", Behaviour(self.behaviour))
            except (ValueError, TypeError):  # TypeError: an unhashable value such as a list
                raise InvalidArgumentError(
                    f"unknown behaviour {_short(self.behaviour)}; expected one of {[b.value for b in Behaviour]}"
                ) from None
        if not isinstance(self.source_labels, dict):
            raise InvalidArgumentError("Step.source_labels must be a dict")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (the behaviour as its short name)."""
        return {
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "behaviour": None if self.behaviour is None else self.behaviour.value,
            "source_labels": self.source_labels,
        }


@dataclass(frozen=True)
class Trace:
    """One model response to one problem, cut into steps.

    Parameters
    ----------
    trace_id : str
        Identifier unique within a collection (for ReasoningFlow the ``doc_id``).
    problem : str
        The problem or question text.
    steps : tuple of Step
        The steps in order; spans index into ``response`` and do not overlap.
    response : str
        The full model output the spans refer to (thinking and final answer together).
    final_answer : str or None
        The model's final answer text (after ``</think>`` for thinking models); ``None`` when the
        response stops before it (truncated) or failed.
    gold_answer : str or None
        The reference answer, ``None`` where the task has none (argument essays, BRIGHT).
    source_model : str
        The model that wrote the response.
    metadata : dict
        Anything else: ``domain``, ``truncated``, ``thinking_span``, label fixes, ... Treat as
        read-only.

    Examples
    --------
    >>> t = Trace("t0", "1+1?", (Step("So 2.", 0, 5),), "So 2.", "2", "2", "me")
    >>> len(t), t.texts()
    (1, ['So 2.'])
    """

    trace_id: str
    problem: str
    steps: tuple[Step, ...]
    response: str
    final_answer: str | None = None
    gold_answer: str | None = None
    source_model: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("trace_id", "problem", "response", "source_model"):
            if not isinstance(getattr(self, name), str):
                raise InvalidArgumentError(f"Trace.{name} must be a str, got {_short(getattr(self, name))}")
        for name in ("final_answer", "gold_answer"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, str):
                raise InvalidArgumentError(f"Trace.{name} must be a str or None, got {_short(v)}")
        steps = tuple(self.steps)
        object.__setattr__(self, "steps", steps)
        prev_end = 0
        for i, s in enumerate(steps):
            if not isinstance(s, Step):
                raise InvalidArgumentError(f"step {i} is a {type(s).__name__}, not a Step")
            if s.start < prev_end:
                raise InvalidArgumentError(
                    f"step {i} starts at {s.start}, before step {i - 1} ends ({prev_end})"
                )
            if self.response[s.start : s.end] != s.text:
                raise InvalidArgumentError(
                    f"step {i}: response[{s.start}:{s.end}] does not reproduce the step text"
                )
            prev_end = s.end
        if not isinstance(self.metadata, dict):
            raise InvalidArgumentError("Trace.metadata must be a dict")

    def __len__(self) -> int:
        return len(self.steps)

    def texts(self) -> list[str]:
        """The step texts in order."""
        return [s.text for s in self.steps]

    def behaviours(self) -> list[Behaviour | None]:
        """The step behaviours in order (``None`` for unlabelled steps)."""
        return [s.behaviour for s in self.steps]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict, as written by :func:`write_traces`."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "trace_id": self.trace_id,
            "problem": self.problem,
            "response": self.response,
            "final_answer": self.final_answer,
            "gold_answer": self.gold_answer,
            "source_model": self.source_model,
            "metadata": self.metadata,
            "steps": [s.to_dict() for s in self.steps],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Trace:
        """Inverse of :meth:`to_dict`; raises ``InvalidArgumentError`` on a malformed record."""
        if not isinstance(d, Mapping):
            raise InvalidArgumentError(f"a trace record must be a JSON object, got {type(d).__name__}")
        if d.get("format") != FORMAT:
            raise InvalidArgumentError(f"'format' is {_short(d.get('format'))}, expected {FORMAT!r}")
        if d.get("version") != VERSION or isinstance(d.get("version"), bool):
            raise InvalidArgumentError(
                f"unsupported version {_short(d.get('version'))} (this reader knows {VERSION})"
            )
        missing = [k for k in ("trace_id", "problem", "response", "steps") if k not in d]
        if missing:
            raise InvalidArgumentError(f"missing field(s) {', '.join(missing)}")
        if not isinstance(d["steps"], list):
            raise InvalidArgumentError(f"'steps' must be a list, got {type(d['steps']).__name__}")
        steps = []
        for i, s in enumerate(d["steps"]):
            if not isinstance(s, Mapping) or not {"text", "start", "end"} <= s.keys():
                raise InvalidArgumentError(f"step {i} needs 'text', 'start' and 'end'")
            try:
                steps.append(
                    Step(
                        s["text"],
                        s["start"],
                        s["end"],
                        s.get("behaviour"),
                        _optional_dict(s.get("source_labels"), "'source_labels'"),
                    )
                )
            except InvalidArgumentError as e:
                raise InvalidArgumentError(f"step {i}: {e}") from None
        return cls(
            trace_id=d["trace_id"],
            problem=d["problem"],
            steps=tuple(steps),
            response=d["response"],
            final_answer=d.get("final_answer"),
            gold_answer=d.get("gold_answer"),
            source_model=d.get("source_model", ""),
            metadata=_optional_dict(d.get("metadata"), "'metadata'"),
        )


@dataclass(frozen=True)
class SkippedLine:
    """A line :func:`read_traces` could not read in ``on_error="skip"`` mode."""

    path: str
    line: int
    reason: str


class TraceList(list):
    """A ``list`` of :class:`Trace` that also reports what was skipped while reading it.

    Attributes
    ----------
    skipped : list of SkippedLine
        Lines that were malformed and left out (empty unless read with ``on_error="skip"``).
    """

    def __init__(self, traces: Iterable[Trace] = (), skipped: Iterable[SkippedLine] = ()) -> None:
        super().__init__(traces)
        self.skipped: list[SkippedLine] = list(skipped)
