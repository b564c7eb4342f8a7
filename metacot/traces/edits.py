"""What every trace transformation shares: rebuilding a trace from step texts, with provenance.

A transformation never edits a trace: it lists the new steps as ``(text, behaviour,
source_labels)`` parts and :func:`rebuild` lays them out again -- the texts joined by ``sep``
(:data:`SEP`, a blank line, by default), every span recomputed -- and appends one record to
``metadata["transforms"]``. Metadata keys that index into the old response (``thinking_span``,
``answer_span``) are dropped, since they would point at the wrong text.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from metacot._checks import as_seed_int
from metacot.behaviours import Behaviour
from metacot.errors import InvalidArgumentError
from metacot.traces.model import Step, Trace

__all__ = ["SEP", "check_fraction", "check_sep", "check_trace", "kept", "layout", "make_trace", "rebuild",
           "runs", "seed_key", "word_count"]

#: Default separator between step texts in a rebuilt response (a paragraph break, the layout
#: the paragraph segmenter of :func:`metacot.traces.text.segment` cuts at).
SEP = "\n\n"

# Metadata entries that are character spans into the original response; they would point at the
# wrong text after a rebuild, so they are not carried over.
_SPAN_KEYS = frozenset({"thinking_span", "answer_span"})


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def word_count(text: str) -> int:
    """Whitespace-separated words: the length proxy used by :func:`summarise`.

    Tokeniser-free on purpose, so a ratio means the same whatever model wrote or will read the
    text; for English prose one word is about 1.3 sub-word tokens.

    Examples
    --------
    >>> word_count("  So x = 2,\\n\\nthen y.")
    6
    """
    return len(text.split())


def make_trace(
    texts: Sequence[str],
    behaviours: Sequence[Behaviour | str | None] | None = None,
    *,
    trace_id: str = "t",
    problem: str = "",
    sep: str = SEP,
    source_labels: Sequence[Mapping[str, Any]] | None = None,
    **fields: Any,
) -> Trace:
    """Build a trace from step texts: the response is the texts joined by ``sep``.

    This is the way in for traces from anywhere: a list of step texts, optionally with a
    behaviour per step, or with the step's labels in another taxonomy (``source_labels``, read
    by :class:`metacot.graphs.taxonomy.TagLabeller`).

    Parameters
    ----------
    texts : sequence of str
    behaviours : sequence of Behaviour, str or None, optional
        One per text; all ``None`` when omitted.
    trace_id, problem : str
    sep : str, default :data:`SEP`
    source_labels : sequence of mapping, optional
        One dict per text, kept verbatim on the step (for example ``{"tag": "self_checking"}``).
    **fields
        Other :class:`~metacot.traces.core.Trace` fields (``final_answer``, ``metadata``, ...).

    Examples
    --------
    >>> t = make_trace(["a", "b"], ["normal", "deep"], problem="p")
    >>> t.response, t.steps[1].start, t.steps[1].behaviour.value
    ('a\\n\\nb', 3, 'deep')
    """
    texts = list(texts)
    if any(not isinstance(x, str) for x in texts):
        raise InvalidArgumentError("make_trace: every text must be a str")
    behaviours = [None] * len(texts) if behaviours is None else list(behaviours)
    if len(behaviours) != len(texts):
        raise InvalidArgumentError(
            f"make_trace: {len(behaviours)} behaviours for {len(texts)} texts; expected one each"
        )
    labels = [{}] * len(texts) if source_labels is None else [dict(x) for x in source_labels]
    if len(labels) != len(texts):
        raise InvalidArgumentError(
            f"make_trace: {len(labels)} source_labels for {len(texts)} texts; expected one each"
        )
    steps, response = layout(list(zip(texts, behaviours, labels, strict=True)), sep)
    return Trace(trace_id=trace_id, problem=problem, steps=steps, response=response, **fields)


def layout(parts: Sequence[tuple[str, Any, dict]], sep: str) -> tuple[tuple[Step, ...], str]:
    """Steps and response for ``(text, behaviour, source_labels)`` parts joined by ``sep``."""
    steps, pos = [], 0
    for k, (text, b, labels) in enumerate(parts):
        if k:
            pos += len(sep)
        steps.append(Step(text, pos, pos + len(text), b, copy.deepcopy(labels)))
        pos += len(text)
    return tuple(steps), sep.join(p[0] for p in parts)


def rebuild(trace: Trace, parts: Sequence[tuple[str, Any, dict]], record: dict, sep: str) -> Trace:
    """A new trace with these (text, behaviour, source_labels) steps and one more provenance record."""
    steps, response = layout(parts, sep)
    # Deep copies: the new trace must share no mutable state with the input.
    meta = {k: copy.deepcopy(v) for k, v in trace.metadata.items() if k not in _SPAN_KEYS}
    meta["transforms"] = [*meta.get("transforms", []), record]
    return replace(trace, steps=steps, response=response, metadata=meta)


def kept(trace: Trace, idx: Iterable[int]) -> list[tuple[str, Any, dict]]:
    """``(text, behaviour, source_labels)`` of the steps ``idx`` of ``trace``, in that order."""
    return [(trace.steps[i].text, trace.steps[i].behaviour, trace.steps[i].source_labels) for i in idx]


def check_trace(trace: Any, where: str) -> Trace:
    """``trace`` itself, or :class:`~metacot.errors.InvalidArgumentError` if it is not a Trace."""
    if not isinstance(trace, Trace):
        raise InvalidArgumentError(f"{where}: expected a Trace, got {type(trace).__name__}")
    return trace


def check_sep(sep: Any, where: str) -> str:
    """``sep`` itself, or an error if it is not a str."""
    if not isinstance(sep, str):
        raise InvalidArgumentError(f"{where}: sep must be a str, got {sep!r}")
    return sep


def check_fraction(x: Any, name: str, where: str) -> float:
    """``x`` as a float in [0, 1], or an error naming ``where`` and ``name``."""
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not 0.0 <= x <= 1.0:
        raise InvalidArgumentError(f"{where}: {name} must be a number in [0, 1], got {x!r}")
    return float(x)


def runs(trace: Trace) -> list[list[int]]:
    """Indices of maximal runs of consecutive steps with equal behaviour (``None`` counts as one)."""
    runs: list[list[int]] = []
    for i, s in enumerate(trace.steps):
        if runs and trace.steps[runs[-1][-1]].behaviour == s.behaviour:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def seed_key(seed: Any, where: str) -> int:
    """``seed`` (an int or a :class:`numpy.random.Generator`) as the int recorded in provenance.

    A Generator contributes one draw (:func:`metacot._checks.as_seed_int`), so the record names an
    int seed that reproduces the result.
    """
    return as_seed_int(seed, f"{where}: seed")
