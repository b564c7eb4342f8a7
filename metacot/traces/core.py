"""Reasoning traces: the :class:`Trace` / :class:`Step` data model, JSONL files, and loaders.

A :class:`Trace` is one model response to one problem, cut into :class:`Step` objects. Every step
keeps its character span into :attr:`Trace.response`, so ``trace.response[step.start:step.end] ==
step.text`` always holds and a later labeller or embedder can go back to the exact source text.

Loaders read the real data shipped in the project's ``data/`` folder (see ``data/README.md`` for
provenance and licences):

* :func:`load_reasoningflow` -- ReasoningFlow traces already segmented and labelled (node and edge
  labels of the ReasoningFlow scheme, kept verbatim in :attr:`Step.source_labels`);
* :func:`load_raw` -- the unlabelled raw responses, segmented here by paragraph or sentence;
* :func:`load_problems` -- the LIMO problem sets with gold answers, in one :class:`Problem` layout.

Steps read from these sources have ``behaviour=None``: mapping ReasoningFlow labels onto the four
behaviours of :mod:`metacot.behaviours` is a modelling choice made by a labeller, not by a loader.

Examples
--------
>>> from metacot.traces.core import DATA_DIR, load_reasoningflow
>>> tr = load_reasoningflow(DATA_DIR / "reasoningflow" / "annotated" / "argkp_0_DeepSeek-R1.json")[0]
>>> tr.source_model, tr.metadata["domain"]
('DeepSeek-R1', 'argkp')
>>> all(tr.response[s.start:s.end] == s.text for s in tr.steps)
True
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from metacot.behaviours import Behaviour
from metacot.errors import InvalidArgumentError, TraceFormatError

__all__ = [
    "DATA_DIR",
    "EDGE_LABELS",
    "EDGE_LABEL_FIXES",
    "IMPLICIT_THINK_OPEN",
    "NODE_LABELS",
    "Problem",
    "SkippedLine",
    "Step",
    "Trace",
    "TraceList",
    "load_problems",
    "load_raw",
    "load_reasoningflow",
    "read_traces",
    "segment",
    "split_thinking",
    "write_traces",
]

#: The project's data folder (``<repo>/data``). It exists in a source checkout, not in a wheel.
DATA_DIR = Path(__file__).resolve().parents[2] / "data"

#: Node labels of the ReasoningFlow schema (``data/reasoningflow/schema/node_labels.yaml``).
NODE_LABELS = frozenset(
    {
        "context",
        "planning",
        "fact",
        "reasoning",
        "restatement",
        "assumption",
        "example",
        "reflection",
        "conclusion",
    }
)

#: Edge labels of the ReasoningFlow schema (``data/reasoningflow/schema/edge_labels.yaml``).
EDGE_LABELS = frozenset(
    {
        "reason:infer",
        "reason:execute",
        "reason:restate",
        "reason:elaborate-fact",
        "reason:exemplify",
        "plan:proceed",
        "plan:verify",
        "plan:decompose",
        "plan:backtrack",
        "reflect:positive",
        "reflect:negative",
        "reflect:uncertain",
        "validate:support",
        "validate:attack",
    }
)

#: What the loader does with each off-schema edge label found in the ReasoningFlow files: a schema
#: label to rename it to, or ``None`` to drop the edge. Only renames whose meaning is unambiguous
#: are made -- a misspelt prefix (``reasoning:`` for ``reason:``), a cut-off name, or a plain
#: synonym. Labels that could mean two schema labels (``reason:support`` could be
#: ``validate:support`` or ``reason:infer``) or that name a node type rather than a relation are
#: dropped. Pass your own mapping as ``edge_label_fixes=`` to decide differently; any off-schema
#: label missing from the mapping is dropped, and every change is recorded on the trace.
EDGE_LABEL_FIXES: Mapping[str, str | None] = {
    "reasoning:infer": "reason:infer",
    "reasoning:execute": "reason:execute",
    "reason:elaborate": "reason:elaborate-fact",
    "validate:refute": "validate:attack",
    "reasoning": None,
    "reason:justify": None,
    "reason:support": None,
    "context": None,
    "logic:premise": None,
}

#: Models whose chat template opens ``<think>`` inside the prompt, so their responses carry only
#: the closing ``</think>``; a response of theirs with no tag at all is thinking cut off at the
#: generation length limit, not an answer without thinking.
IMPLICIT_THINK_OPEN = frozenset({"QwQ-32B"})

# The generation harness wrote this instead of a response when the API call failed.
_ERROR_PREFIX = "Error: Failed to get response"

_FORMAT = "metacot.trace"
_VERSION = 1


# --------------------------------------------------------------------------------------------
# data model
# --------------------------------------------------------------------------------------------


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
                raise InvalidArgumentError(f"Step.{name} must be an int, got {v!r}")
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
            except ValueError:
                raise InvalidArgumentError(
                    f"unknown behaviour {self.behaviour!r}; expected one of {[b.value for b in Behaviour]}"
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
                raise InvalidArgumentError(f"Trace.{name} must be a str, got {getattr(self, name)!r}")
        for name in ("final_answer", "gold_answer"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, str):
                raise InvalidArgumentError(f"Trace.{name} must be a str or None, got {v!r}")
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
            "format": _FORMAT,
            "version": _VERSION,
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
        if d.get("format") != _FORMAT:
            raise InvalidArgumentError(f"'format' is {d.get('format')!r}, expected {_FORMAT!r}")
        if d.get("version") != _VERSION:
            raise InvalidArgumentError(
                f"unsupported version {d.get('version')!r} (this reader knows {_VERSION})"
            )
        missing = [k for k in ("trace_id", "problem", "response", "steps") if k not in d]
        if missing:
            raise InvalidArgumentError(f"missing field(s) {', '.join(missing)}")
        if not isinstance(d["steps"], list):
            raise InvalidArgumentError("'steps' must be a list")
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
                        dict(s.get("source_labels") or {}),
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
            metadata=dict(d.get("metadata") or {}),
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


# --------------------------------------------------------------------------------------------
# JSONL
# --------------------------------------------------------------------------------------------


def write_traces(path: str | os.PathLike[str], traces: Iterable[Trace]) -> int:
    """Write traces to a JSONL file, one trace per line, atomically.

    The traces go to a temporary file in the same folder, which is flushed, synced and renamed
    over ``path`` only once complete; an interrupted write leaves any earlier file untouched and
    never a half-written one.

    Parameters
    ----------
    path : path-like
        Destination file (its folder must exist).
    traces : iterable of Trace

    Returns
    -------
    int
        Number of traces written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> t = Trace("t0", "1+1?", (Step("So 2.", 0, 5),), "So 2.", "2", "2", "me")
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.jsonl"
    >>> write_traces(p, [t])
    1
    >>> read_traces(p) == [t]
    True
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    n = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for t in traces:
                if not isinstance(t, Trace):
                    raise InvalidArgumentError(f"item {n} is a {type(t).__name__}, not a Trace")
                f.write(json.dumps(t.to_dict(), ensure_ascii=False))
                f.write("\n")
                n += 1
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        # Leave no temp file behind; the destination still holds its previous content.
        Path(tmp).unlink(missing_ok=True)
        raise
    return n


def _json_line(path: Path, lineno: int, line: str) -> Any:
    """Decode one JSONL line; ``None`` for a blank line, :class:`TraceFormatError` if malformed."""
    if not line.strip():
        return None
    try:
        return json.loads(line)
    except json.JSONDecodeError as e:
        raise TraceFormatError(path, lineno, f"invalid JSON: {e.msg} (column {e.colno})") from None


def read_traces(path: str | os.PathLike[str], on_error: Literal["raise", "skip"] = "raise") -> TraceList:
    """Read traces written by :func:`write_traces`.

    Parameters
    ----------
    path : path-like
        A JSONL file, one trace object per line. Blank lines are ignored.
    on_error : {"raise", "skip"}
        ``"raise"``: the first malformed line raises :class:`~metacot.errors.TraceFormatError`
        naming the file, the 1-based line and the fault. ``"skip"``: malformed lines are left
        out, listed in the result's ``skipped`` attribute, and a warning says how many.

    Returns
    -------
    TraceList
        The traces in file order, with ``skipped``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "bad.jsonl"
    >>> _ = p.write_text('{"format": "metacot.trace"\\n')
    >>> read_traces(p)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    metacot.errors.TraceFormatError: .../bad.jsonl, line 1: invalid JSON: ...
    """
    if on_error not in ("raise", "skip"):
        raise InvalidArgumentError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    path = Path(path)
    out = TraceList()
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            try:
                rec = _json_line(path, lineno, line)
                if rec is None:
                    continue
                try:
                    out.append(Trace.from_dict(rec))
                except InvalidArgumentError as e:
                    raise TraceFormatError(path, lineno, str(e)) from None
            except TraceFormatError as e:
                if on_error == "raise":
                    raise
                out.skipped.append(SkippedLine(str(path), lineno, e.reason))
    if out.skipped:
        lines = ", ".join(str(s.line) for s in out.skipped[:10])
        warnings.warn(
            f"{path}: skipped {len(out.skipped)} malformed line(s) (lines {lines}"
            f"{', ...' if len(out.skipped) > 10 else ''}); see the result's .skipped",
            stacklevel=2,
        )
    return out


# --------------------------------------------------------------------------------------------
# thinking / answer split and segmentation
# --------------------------------------------------------------------------------------------


def split_thinking(response: str, source_model: str = "") -> dict[str, Any]:
    """Locate the thinking section and the final answer in a response.

    Rules, in order: a harness error message is a failed generation; text before ``</think>``
    is thinking and text after it the answer; a response opening with ``<think>`` but never
    closing it was cut at the length limit (truncated); a response with no tag at all is
    truncated thinking for models in :data:`IMPLICIT_THINK_OPEN`, and otherwise an answer with no
    thinking section (instruction models, gpt-oss on BRIGHT).

    Parameters
    ----------
    response : str
    source_model : str
        Used only for the no-tag case above.

    Returns
    -------
    dict
        ``thinking_span`` (``[start, end]`` of the thinking text without tags, or ``None``),
        ``answer_span`` (``[start, end]`` of the stripped answer, or ``None``), ``truncated``,
        ``generation_error``.

    Examples
    --------
    >>> split_thinking("<think>\\nhmm\\n</think>\\n42")
    {'thinking_span': [7, 12], 'answer_span': [21, 23], 'truncated': False, 'generation_error': False}
    >>> split_thinking("<think>\\nhmm, so")["truncated"]
    True
    """
    info: dict[str, Any] = {
        "thinking_span": None,
        "answer_span": None,
        "truncated": False,
        "generation_error": False,
    }
    if response.startswith(_ERROR_PREFIX):
        info["generation_error"] = True
        return info
    open_tag = response.find("<think>")
    body_start = open_tag + len("<think>") if open_tag >= 0 and not response[:open_tag].strip() else 0
    close = response.find("</think>")
    if close >= 0:
        info["thinking_span"] = [body_start, close]
        info["answer_span"] = _strip_span(response, close + len("</think>"), len(response))
    elif body_start > 0 or source_model in IMPLICIT_THINK_OPEN:
        info["thinking_span"] = [body_start, len(response)]
        info["truncated"] = True
    else:
        info["answer_span"] = _strip_span(response, 0, len(response))
    return info


def _strip_span(text: str, start: int, end: int) -> list[int] | None:
    chunk = text[start:end]
    if not chunk.strip():
        return None
    return [start + len(chunk) - len(chunk.lstrip()), end - (len(chunk) - len(chunk.rstrip()))]


_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
# A sentence ends at . ! or ? followed by whitespace, or at a line break. Decimal points and
# inline maths ("1.5", "$x.y$") have no whitespace after the dot and so do not split.
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\s*\n\s*")


def segment(
    text: str, mode: Literal["paragraph", "sentence"] = "paragraph", start: int = 0, end: int | None = None
) -> list[tuple[int, int]]:
    """Cut ``text[start:end]`` into steps; return their spans in ``text``.

    ``"paragraph"`` splits at blank lines, the way R1/QwQ-style traces are usually laid out;
    ``"sentence"`` further splits at sentence ends and line breaks. Spans exclude surrounding
    whitespace and empty pieces are dropped (they carry no text). The sentence rule is a plain
    regular expression: abbreviations such as "e.g. x" split too, which is acceptable for step
    statistics but not a linguistic sentence splitter.

    Examples
    --------
    >>> t = "First. Second!\\n\\nThird x=1.5 ok"
    >>> [t[a:b] for a, b in segment(t)]
    ['First. Second!', 'Third x=1.5 ok']
    >>> [t[a:b] for a, b in segment(t, "sentence")]
    ['First.', 'Second!', 'Third x=1.5 ok']
    """
    if mode not in ("paragraph", "sentence"):
        raise InvalidArgumentError(f"segment must be 'paragraph' or 'sentence', got {mode!r}")
    end = len(text) if end is None else end
    pattern = _PARAGRAPH_BREAK if mode == "paragraph" else _SENTENCE_BREAK
    spans = []
    pos = start
    for m in pattern.finditer(text, start, end):
        spans.append((pos, m.start()))
        pos = m.end()
    spans.append((pos, end))
    out = []
    for a, b in spans:
        s = _strip_span(text, a, b)
        if s is not None:
            out.append((s[0], s[1]))
    return out


# --------------------------------------------------------------------------------------------
# loaders
# --------------------------------------------------------------------------------------------


def _files(path: Path, pattern: str) -> list[Path]:
    if path.is_dir():
        files = sorted(path.glob(pattern))
        if not files:
            raise TraceFormatError(path, None, f"no files matching {pattern!r} in this folder")
        return files
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    return [path]


def _gold(value: Any) -> str | None:
    # The sources spell "no gold answer" as "", "None" or null; keep one spelling.
    if value is None:
        return None
    s = str(value).strip()
    return None if s in ("", "None") else s


def load_reasoningflow(
    path: str | os.PathLike[str], edge_label_fixes: Mapping[str, str | None] | None = None
) -> list[Trace]:
    """Load ReasoningFlow annotated traces (one ``.json`` file, or a folder of them).

    Each response node becomes a :class:`Step` (question nodes are context, not steps). Its
    ``source_labels`` keep the node's ``node_id`` and ``node_label`` and its incoming edges,
    ``in_edges = [{"source": node_id, "label": edge_label}, ...]``, from question and response
    nodes alike. Off-schema edge labels are renamed or dropped by ``edge_label_fixes``; each
    change is listed in ``metadata["edge_label_changes"]`` as ``{"edge_id", "label", "to"}``
    (``to`` is ``None`` for a dropped edge). Nodes without a label keep ``node_label=None`` and
    are counted in ``metadata["unlabelled_nodes"]``.

    Parameters
    ----------
    path : path-like
        An annotated file or a folder; files in a folder are read in name order.
    edge_label_fixes : mapping, optional
        Off-schema label -> schema label or ``None`` (drop). Default :data:`EDGE_LABEL_FIXES`.

    Returns
    -------
    list of Trace
        ``trace_id`` is the file's ``doc_id``; ``metadata`` holds the file's metadata
        (``domain``, ``generator``, ``correctness``, ...) plus ``source_file``, the thinking split
        (see :func:`split_thinking`), ``n_question_nodes`` and the label bookkeeping above.

    Raises
    ------
    TraceFormatError
        A file that is not valid JSON, lacks a field, or whose node spans do not reproduce the
        node text.

    Examples
    --------
    >>> ts = load_reasoningflow(DATA_DIR / "reasoningflow" / "annotated")
    >>> len(ts)
    231
    >>> ts[0].trace_id, ts[0].steps[0].source_labels["node_label"]
    ('aime2024_0_DeepSeek-R1', 'reflection')
    """
    fixes = EDGE_LABEL_FIXES if edge_label_fixes is None else edge_label_fixes
    return [_load_rf_file(f, fixes) for f in _files(Path(path), "*.json")]


def _load_rf_file(path: Path, fixes: Mapping[str, str | None]) -> Trace:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise TraceFormatError(path, e.lineno, f"invalid JSON: {e.msg}") from None
    try:
        raw = doc["raw_text"]
        question, response = raw["question"], raw["response"]
        meta_in = dict(doc["metadata"])
        nodes, edges = doc["nodes"], doc["edges"]
        model = meta_in["generator"]
    except (KeyError, TypeError) as e:
        raise TraceFormatError(path, None, f"not a ReasoningFlow annotated file: missing {e}") from None

    changes = []
    in_edges: dict[str, list[dict[str, str]]] = {}
    for e in edges:
        label = e.get("label")
        if label not in EDGE_LABELS:
            to = fixes.get(label)
            to = to if to in EDGE_LABELS else None
            changes.append({"edge_id": e.get("id"), "label": label, "to": to})
            if to is None:
                continue
            label = to
        in_edges.setdefault(e["dest_node_id"], []).append({"source": e["source_node_id"], "label": label})

    steps = []
    n_question = unlabelled = 0
    for n in nodes:
        if n.get("source") == "question":
            n_question += 1
            continue
        text, start, end = n.get("text"), n.get("start"), n.get("end")
        if not isinstance(start, int) or not isinstance(end, int) or response[start:end] != text:
            raise TraceFormatError(
                path, None, f"node {n.get('id')!r}: span [{start}, {end}) does not reproduce its text"
            )
        label = n.get("label")
        if label is None:
            unlabelled += 1
        steps.append(
            Step(
                text,
                start,
                end,
                None,
                {"node_id": n["id"], "node_label": label, "in_edges": in_edges.get(n["id"], [])},
            )
        )
    steps.sort(key=lambda s: s.start)

    split = split_thinking(response, model)
    ans = split["answer_span"]
    metadata = {
        **meta_in,
        "source_file": path.name,
        **split,
        "n_question_nodes": n_question,
        "unlabelled_nodes": unlabelled,
        "edge_label_changes": changes,
    }
    try:
        return Trace(
            trace_id=str(doc.get("doc_id", path.stem)),
            problem=question,
            steps=tuple(steps),
            response=response,
            final_answer=None if ans is None else response[ans[0] : ans[1]],
            gold_answer=_gold(meta_in.get("correct_answer")),
            source_model=model,
            metadata=metadata,
        )
    except InvalidArgumentError as e:
        raise TraceFormatError(path, None, str(e)) from None


_RAW_NAME = re.compile(r"^(?P<model>.+?)_(?P<domain>aime2024|argkp|bright-[^_]+(?:_[^_]+)*)_responses$")


def load_raw(
    path: str | os.PathLike[str], segment: Literal["paragraph", "sentence"] = "paragraph"
) -> list[Trace]:
    """Load raw ReasoningFlow responses (``<Model>_<domain>_responses.jsonl``) and segment them.

    The thinking section (see :func:`split_thinking`) is cut into steps; a response with no
    thinking section (instruction models) is cut as a whole, since its reasoning is the answer.
    Traces stopped at the length limit are kept with ``metadata["truncated"] = True`` and
    ``final_answer=None``; failed generations (the harness's error message) are kept with
    ``metadata["generation_error"] = True`` and no steps.

    Parameters
    ----------
    path : path-like
        A ``.jsonl`` file or a folder of them (read in name order).
    segment : {"paragraph", "sentence"}
        How to cut the text into steps (see :func:`segment`).

    Returns
    -------
    list of Trace
        ``trace_id`` is ``"<domain>_<question index>_<Model>"`` (the annotated files' naming);
        ``metadata`` has ``domain``, ``question_id``, ``source_file``, ``line``, ``segment``,
        ``steps_from`` (``"thinking"``, ``"response"`` or ``None``) and the thinking split.

    Raises
    ------
    TraceFormatError
        A line that is not a JSON object with ``question_id``, ``question`` and ``response``.

    Examples
    --------
    >>> ts = load_raw(DATA_DIR / "reasoningflow" / "raw" / "DeepSeek-R1_aime2024_responses.jsonl")
    >>> len(ts), sum(t.metadata["truncated"] for t in ts)
    (30, 4)
    """
    if segment not in ("paragraph", "sentence"):
        raise InvalidArgumentError(f"segment must be 'paragraph' or 'sentence', got {segment!r}")
    out = []
    for f in _files(Path(path), "*.jsonl"):
        m = _RAW_NAME.match(f.stem)
        model, domain = (m["model"], m["domain"]) if m else ("", "")
        with open(f, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, start=1):
                rec = _json_line(f, lineno, line)
                if rec is None:
                    continue
                if not isinstance(rec, dict) or not {"question_id", "question", "response"} <= rec.keys():
                    raise TraceFormatError(
                        f, lineno, "expected an object with question_id, question and response"
                    )
                out.append(_raw_trace(rec, model, domain, f, lineno, segment))
    return out


def _raw_trace(rec: dict, model: str, domain: str, f: Path, lineno: int, mode: str) -> Trace:
    response = rec["response"]
    split = split_thinking(response, model)
    if split["thinking_span"] is not None:
        spans, steps_from = segment(response, mode, *split["thinking_span"]), "thinking"
    elif split["answer_span"] is not None:
        spans, steps_from = segment(response, mode, *split["answer_span"]), "response"
    else:
        spans, steps_from = [], None
    ans = split["answer_span"]
    qid = str(rec["question_id"])
    index = qid.rsplit("-", 1)[-1] if "-" in qid else qid
    return Trace(
        trace_id=f"{domain or 'unknown'}_{index}_{model or 'unknown'}",
        problem=rec["question"],
        steps=tuple(Step(response[a:b], a, b) for a, b in spans),
        response=response,
        final_answer=None if ans is None else response[ans[0] : ans[1]],
        gold_answer=_gold(rec.get("correct_answer")),
        source_model=model,
        metadata={
            "domain": domain,
            "question_id": qid,
            "source_file": f.name,
            "line": lineno,
            "segment": mode,
            "steps_from": steps_from,
            **split,
        },
    )


@dataclass(frozen=True)
class Problem:
    """A problem with its gold answer, in one layout whatever the source set.

    Parameters
    ----------
    problem_id : str
        The source's id (``unique_id`` for MATH-500), as a string.
    problem : str
        The problem statement.
    answer : str
        Gold answer as text (AMC's float answers become ``"27"``, not ``"27.0"``).
    source : str
        The problem set: the file's stem (``math500``, ``aime24``, ``amc23``, ``olympiadbench``).
    solution : str or None
        Worked solution where the set has one.
    metadata : dict
        Other fields of the record (``subject``, ``level``, ``url``, ...).
    """

    problem_id: str
    problem: str
    answer: str
    source: str
    solution: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def _answer_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def load_problems(path: str | os.PathLike[str]) -> list[Problem]:
    """Load problem sets and normalise their field layouts into :class:`Problem` records.

    Four layouts are recognised by their fields: MATH-500 (``problem``, ``answer``,
    ``unique_id``, ``solution``, ``subject``, ``level``), AIME 2024 (``id``, ``problem``,
    ``answer``, ``solution``, ``url``), AMC 2023 (``id``, ``problem``, ``question``, ``answer``,
    ``url``; ``question`` repeats ``problem`` and is kept in metadata only if it differs) and
    OlympiadBench (``id``, ``question``, ``answer``).

    Parameters
    ----------
    path : path-like
        A ``.jsonl`` file or a folder of them (read in name order).

    Returns
    -------
    list of Problem

    Raises
    ------
    TraceFormatError
        A line that is not JSON, has no problem text, no id or no usable answer.

    Examples
    --------
    >>> ps = load_problems(DATA_DIR / "problems" / "amc23.jsonl")
    >>> ps[0].problem_id, ps[0].answer, ps[0].source
    ('0', '27', 'amc23')
    """
    out = []
    for f in _files(Path(path), "*.jsonl"):
        with open(f, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, start=1):
                rec = _json_line(f, lineno, line)
                if rec is None:
                    continue
                if not isinstance(rec, dict):
                    raise TraceFormatError(f, lineno, "expected a JSON object")
                out.append(_problem(rec, f, lineno))
    return out


def _problem(rec: dict, f: Path, lineno: int) -> Problem:
    rest = dict(rec)
    text = rest.pop("problem", None)
    question = rest.pop("question", None)
    if text is None:
        text = question
    elif question is not None and question != text:
        rest["question"] = question
    pid = rest.pop("unique_id", None)
    if pid is None:
        pid = rest.pop("id", None)
    answer = _answer_text(rest.pop("answer", None))
    solution = rest.pop("solution", None)
    if not isinstance(text, str) or not text.strip():
        raise TraceFormatError(f, lineno, "no problem text (expected 'problem' or 'question')")
    if pid is None:
        raise TraceFormatError(f, lineno, "no id (expected 'unique_id' or 'id')")
    if answer is None:
        raise TraceFormatError(f, lineno, f"no usable answer: {rec.get('answer')!r}")
    return Problem(str(pid), text, answer, f.stem, solution if isinstance(solution, str) else None, rest)
