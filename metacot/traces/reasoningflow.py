"""Loaders of the ReasoningFlow data shipped in ``data/reasoningflow`` (provenance in ``data/README.md``).

* :func:`load_reasoningflow` -- traces already segmented and labelled (node and edge labels of
  the ReasoningFlow scheme, kept verbatim in :attr:`Step.source_labels`);
* :func:`load_raw` -- the unlabelled raw responses, segmented here by paragraph or sentence.

Steps read from these sources have ``behaviour=None``: mapping ReasoningFlow labels onto the four
behaviours of :mod:`metacot.behaviours` is a modelling choice made by a labeller, not by a loader.

Examples
--------
>>> from metacot.traces.files import DATA_DIR
>>> tr = load_reasoningflow(DATA_DIR / "reasoningflow" / "annotated" / "argkp_0_DeepSeek-R1.json")[0]
>>> tr.source_model, tr.metadata["domain"]
('DeepSeek-R1', 'argkp')
>>> all(tr.response[s.start:s.end] == s.text for s in tr.steps)
True
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from metacot.errors import InvalidArgumentError, TraceFormatError
from metacot.traces.files import input_files, iter_json_lines, read_json_file
from metacot.traces.model import Step, Trace
from metacot.traces.text import segment, split_thinking

__all__ = ["EDGE_LABELS", "EDGE_LABEL_FIXES", "NODE_LABELS", "load_raw", "load_reasoningflow"]

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
    >>> from metacot.traces.files import DATA_DIR
    >>> ts = load_reasoningflow(DATA_DIR / "reasoningflow" / "annotated")
    >>> len(ts)
    231
    >>> ts[0].trace_id, ts[0].steps[0].source_labels["node_label"]
    ('aime2024_0_DeepSeek-R1', 'reflection')
    """
    fixes = EDGE_LABEL_FIXES if edge_label_fixes is None else edge_label_fixes
    return [_load_rf_file(f, fixes) for f in input_files(path, "*.json")]


def _load_rf_file(path: Path, fixes: Mapping[str, str | None]) -> Trace:
    doc = read_json_file(path)
    try:
        return _rf_trace(path, doc, fixes)
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        if isinstance(e, TraceFormatError):
            raise
        # A field of the wrong type deep inside (an edge that is not an object, ...).
        raise TraceFormatError(path, None, f"not a ReasoningFlow annotated file: {type(e).__name__}: {e}") from None


def _rf_trace(path: Path, doc: Any, fixes: Mapping[str, str | None]) -> Trace:
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
    >>> from metacot.traces.files import DATA_DIR
    >>> ts = load_raw(DATA_DIR / "reasoningflow" / "raw" / "DeepSeek-R1_aime2024_responses.jsonl")
    >>> len(ts), sum(t.metadata["truncated"] for t in ts)
    (30, 4)
    """
    if segment not in ("paragraph", "sentence"):
        raise InvalidArgumentError(f"segment must be 'paragraph' or 'sentence', got {segment!r}")
    out = []
    for f in input_files(path, "*.jsonl"):
        m = _RAW_NAME.match(f.stem)
        model, domain = (m["model"], m["domain"]) if m else ("", "")
        for lineno, rec in iter_json_lines(f):
            if not isinstance(rec, dict) or not {"question_id", "question", "response"} <= rec.keys():
                raise TraceFormatError(f, lineno, "expected an object with question_id, question and response")
            if not isinstance(rec["response"], str) or not isinstance(rec["question"], str):
                raise TraceFormatError(f, lineno, "question and response must be strings")
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
