r"""Export of curated MoLE-Syn traces as chat-format JSONL for supervised fine-tuning, with a dataset card.

One line per trace, the layout that TRL's ``SFTTrainer`` and most chat templates read (a
``messages`` list of role/content turns), with the reasoning in a think block as DeepSeek-R1 and
QwQ write it::

    {"messages": [{"role": "user", "content": PROBLEM},
                  {"role": "assistant", "content": "<think>\nSTEP\n\nSTEP ...\n</think>\n\nThe answer is $\\boxed{A}$."}],
     "metadata": {"problem_key": ..., "behaviours": [...], "verification": ..., ...}}

:data:`SFT_SCHEMA` is the JSON Schema (draft 2020-12) of one line; :func:`validate` checks a record
against it with a small interpreter of the keywords the schema uses (``jsonschema`` is not a
dependency), and :func:`read_sft` reads a file back, validating every line. :func:`export_run`
curates a run (:func:`metacot.synth.curate.curate`), writes the file atomically and, on request,
the card (:func:`dataset_card`). An empty run is an error; a run that lost traces, or whose
filters left nothing, still gets its report and card, with every count.

Examples
--------
>>> from metacot.traces.edits import make_trace
>>> t = make_trace(["Try x = 2.", "So 4."], ["explore", "normal"], trace_id="s/1", problem="2+2?", final_answer="4")
>>> rec = sft_record(t)
>>> rec["messages"][1]["content"]
'<think>\nTry x = 2.\n\nSo 4.\n</think>\n\nThe answer is $\\boxed{4}$.'
>>> validate(rec)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metacot._io import atomic_write, read_jsonl_lines
from metacot.errors import InvalidArgumentError, MissingInputError, TraceFormatError
from metacot.synth.curate import CurationReport, curate, read_run
from metacot.traces.model import Trace

__all__ = ["SFT_SCHEMA", "ExportResult", "dataset_card", "export_run", "read_sft", "sft_record", "validate",
           "write_sft"]

_STATUS = ["correct", "wrong", "no_answer", "unverifiable"]
_BEHAVIOURS = ["normal", "deep", "reflect", "explore"]

#: JSON Schema of one exported line.
SFT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "metacot MoLE-Syn SFT record",
    "type": "object",
    "required": ["messages", "metadata"],
    "additionalProperties": False,
    "properties": {
        "messages": {
            "type": "array",
            "minItems": 2,
            "maxItems": 2,
            "prefixItems": [
                {"type": "object", "required": ["role", "content"], "additionalProperties": False,
                 "properties": {"role": {"const": "user"}, "content": {"type": "string", "minLength": 1}}},
                {"type": "object", "required": ["role", "content"], "additionalProperties": False,
                 "properties": {"role": {"const": "assistant"},
                                "content": {"type": "string", "pattern": r"^<think>\n[\s\S]*\n</think>\n\n\S"}}},
            ],
        },
        "metadata": {
            "type": "object",
            "required": ["problem_key", "behaviours", "n_steps", "answer", "gold_answer", "verification",
                         "source_model", "generator"],
            "properties": {
                "problem_key": {"type": "string", "minLength": 1},
                "behaviours": {"type": "array", "items": {"enum": _BEHAVIOURS}},
                "n_steps": {"type": "integer", "minimum": 1},
                "answer": {"type": ["string", "null"]},
                "gold_answer": {"type": ["string", "null"]},
                "verification": {"enum": _STATUS},
                "source_model": {"type": "string"},
                "generator": {"type": "string"},
                "seed": {"type": ["integer", "null"]},
                "graph_sha256": {"type": ["string", "null"]},
                "steps_removed": {"type": "integer", "minimum": 0},
            },
        },
    },
}

_TYPES: dict[str, Any] = {
    "object": dict, "array": list, "string": str, "boolean": bool, "null": type(None),
    "integer": int, "number": (int, float),
}


def _is(value: Any, name: str) -> bool:
    if name in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[name])


def _check(value: Any, schema: dict[str, Any], where: str) -> None:
    """Raise InvalidArgumentError at the first violation of ``schema`` (the keywords SFT_SCHEMA uses)."""
    if "const" in schema and value != schema["const"]:
        raise InvalidArgumentError(f"{where}: expected {schema['const']!r}, got {value!r}")
    if "enum" in schema and value not in schema["enum"]:
        raise InvalidArgumentError(f"{where}: {value!r} is not one of {schema['enum']}")
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is(value, t) for t in types):
            raise InvalidArgumentError(f"{where}: expected {' or '.join(types)}, got {type(value).__name__}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            raise InvalidArgumentError(f"{where}: empty string")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            raise InvalidArgumentError(f"{where}: does not match {schema['pattern']!r}")
    if isinstance(value, int) and not isinstance(value, bool) and value < schema.get("minimum", value):
        raise InvalidArgumentError(f"{where}: {value} is below {schema['minimum']}")
    if isinstance(value, dict):
        for k in schema.get("required", []):
            if k not in value:
                raise InvalidArgumentError(f"{where}: missing {k!r}")
        props = schema.get("properties", {})
        if schema.get("additionalProperties", True) is False:
            extra = sorted(set(value) - set(props))
            if extra:
                raise InvalidArgumentError(f"{where}: unexpected field(s) {', '.join(map(repr, extra))}")
        for k, sub in props.items():
            if k in value:
                _check(value[k], sub, f"{where}.{k}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", len(value)):
            raise InvalidArgumentError(f"{where}: {len(value)} items, expected "
                                       f"{schema.get('minItems', 0)}..{schema.get('maxItems', 'any')}")
        prefix = schema.get("prefixItems", [])
        for i, v in enumerate(value):
            sub = prefix[i] if i < len(prefix) else schema.get("items")
            if sub is not None:
                _check(v, sub, f"{where}[{i}]")


def validate(record: Any, schema: dict[str, Any] | None = None) -> None:
    """Check one record against :data:`SFT_SCHEMA` (or ``schema``); ``None`` if valid.

    Raises
    ------
    InvalidArgumentError
        Naming the first offending field, e.g. ``record.messages[1].content: does not match ...``.
    """
    _check(record, SFT_SCHEMA if schema is None else schema, "record")


# --------------------------------------------------------------------------------------------
# records
# --------------------------------------------------------------------------------------------


def _graph_sha(trace: Trace) -> str | None:
    g = trace.metadata.get("graph")
    if not isinstance(g, dict) or "P" not in g:
        return None
    return hashlib.sha256(json.dumps({"states": g.get("states"), "P": g["P"]}, sort_keys=True).encode()).hexdigest()


def sft_record(trace: Trace) -> dict[str, Any]:
    """One chat-format record of ``trace`` (see the module notes); the record is validated.

    Raises
    ------
    InvalidArgumentError
        A trace with no steps, an empty problem, or a step without an intended behaviour.
    """
    if not trace.steps:
        raise InvalidArgumentError(f"trace {trace.trace_id!r} has no steps; nothing to export")
    if any(s.behaviour is None for s in trace.steps):
        raise InvalidArgumentError(f"trace {trace.trace_id!r} has a step without a behaviour")
    think = "\n\n".join(s.text for s in trace.steps)
    if trace.final_answer is not None:
        final = f"The answer is $\\boxed{{{trace.final_answer}}}$."
    else:
        final = "No final answer was reached."
    meta = trace.metadata
    run = meta.get("run") if isinstance(meta.get("run"), dict) else {}
    removed = sum(int(r.get("removed", 0)) for r in meta.get("transforms", []) if r.get("transform") == "dedup_steps")
    from metacot.synth.curate import verification

    record = {
        "messages": [
            {"role": "user", "content": trace.problem},
            {"role": "assistant", "content": f"<think>\n{think}\n</think>\n\n{final}"},
        ],
        "metadata": {
            "problem_key": str(meta.get("problem_key", trace.trace_id)),
            "behaviours": [s.behaviour.value for s in trace.steps],
            "n_steps": len(trace.steps),
            "answer": trace.final_answer,
            "gold_answer": trace.gold_answer,
            "verification": meta.get("verification") or verification(trace),
            "source_model": trace.source_model or "",
            "generator": str(meta.get("generator", "")),
            "seed": run.get("seed"),
            "graph_sha256": _graph_sha(trace),
            "steps_removed": removed,
        },
    }
    validate(record)
    return record


def write_sft(path: str | os.PathLike[str], traces: Sequence[Trace]) -> int:
    """Write the records of ``traces`` to ``path`` atomically (all or nothing); the number written."""
    recs = [sft_record(t) for t in traces]
    with atomic_write(path) as f:
        for r in recs:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return len(recs)


def read_sft(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read an exported file back, validating every line against :data:`SFT_SCHEMA`.

    Raises
    ------
    MissingInputError
        No such file.
    TraceFormatError
        A line that is not JSON or not a valid record (naming the line), or a torn last line.
    """
    p = Path(path)
    if not p.is_file():
        raise MissingInputError(p, "SFT file")
    lines = read_jsonl_lines(p)
    if lines.torn is not None:
        raise TraceFormatError(p, lines.torn.line, "incomplete last line (no newline): the file was cut off")
    out = []
    for lineno, raw in lines.lines:
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw)
        except (ValueError, RecursionError) as e:
            raise TraceFormatError(p, lineno, f"not JSON ({e})") from None
        try:
            validate(rec)
        except InvalidArgumentError as e:
            raise TraceFormatError(p, lineno, str(e)) from None
        out.append(rec)
    return out


# --------------------------------------------------------------------------------------------
# the card
# --------------------------------------------------------------------------------------------


def dataset_card(traces: Sequence[Trace], report: CurationReport, fidelity: Any = None, *,
                 title: str = "MoLE-Syn synthetic chains of thought", sft_file: str | None = None) -> str:
    """A Markdown dataset card: driving graph, sampler, settings, filters, counts, closed-loop fidelity.

    ``traces`` are the traces read from the run (before curation: they carry the run's settings);
    ``fidelity`` is a :class:`~metacot.synth.closed_loop.ClosedLoopReport` or ``None``.
    """
    meta = traces[0].metadata if traces else {}
    g = meta.get("graph") if isinstance(meta.get("graph"), dict) else {}
    lines = [f"# {title}", ""]
    if sft_file:
        lines += [f"File: `{sft_file}` ({report.kept} records, chat format, reasoning in `<think>`; schema: "
                  "`metacot.synth.export.SFT_SCHEMA`).", ""]
    lines += ["Written by `metacot.synth.molesyn` (MoLE-Syn, Chen et al. 2026, *The Molecular Structure of "
              "Thought*): a walk on the driving graph picks each step's behaviour and the sampler writes the step.",
              "", "## Driving graph", ""]
    states = g.get("states", [])
    if states and "P" in g:
        lines += ["| from \\ to | " + " | ".join(states) + " |", "|---" * (len(states) + 1) + "|"]
        lines += [f"| {s} | " + " | ".join(f"{v:.3f}" for v in row) + " |" for s, row in zip(states, g["P"])]
        prov = g.get("provenance") or {}
        lines += ["", f"Provenance: method `{prov.get('method')}`, sources {prov.get('sources')}, "
                  f"labeller `{prov.get('labeller')}`; sha256 of states+P `{_graph_sha(traces[0])}`."]
    else:
        lines.append("Not recorded in the run.")
    lines += ["", "## Sampler and settings", "",
              f"- sampler: `{json.dumps(meta.get('sampler'), sort_keys=True)}`",
              f"- run settings: `{json.dumps(meta.get('run'), sort_keys=True)}`", "",
              "## Filters", ""]
    lines += [f"- {k}: {v}" for k, v in report.settings.items()]
    lines += ["", "## Counts", "", report.markdown(), "## Closed-loop fidelity", ""]
    if fidelity is None:
        lines.append("Not measured for this export (run `metacot synth-report RUN.jsonl`).")
    else:
        lines.append(fidelity.markdown())
    return "\n".join(lines).rstrip() + "\n"


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_run` wrote: the file, its record count, the curation report, the card path."""

    path: Path
    n_written: int
    report: CurationReport
    card: Path | None


def export_run(run: str | os.PathLike[str] | Sequence[Trace], out: str | os.PathLike[str], *,
               card: str | os.PathLike[str] | None = None, fidelity: Any = None, problems: Any = None,
               **options: Any) -> ExportResult:
    """Curate a run and write the SFT file (and the card); ``options`` go to :func:`~metacot.synth.curate.curate`.

    A run whose filters keep nothing writes an empty file and a card whose counts say why; an
    empty run raises :class:`~metacot.synth.curate.EmptyRunError` and writes nothing.

    Raises
    ------
    EmptyRunError
        No traces in the run.
    InvalidArgumentError
        An output folder that does not exist.
    """
    for p, opt in ((out, "--out"), (card, "--card")):
        if p is not None and not Path(p).expanduser().parent.is_dir():
            raise InvalidArgumentError(f"{opt} {p}: the folder {str(Path(p).expanduser().parent)!r} does not exist")
    if isinstance(run, (str, os.PathLike)):
        read = read_run(run)
        traces, torn = read.traces, read.torn
    else:
        traces, torn = list(run), None
    kept, report = curate(traces, problems=problems, **options)
    report.torn = torn
    n = write_sft(out, kept)
    card_path = None
    if card is not None:
        card_path = Path(card)
        with atomic_write(card_path) as f:
            f.write(dataset_card(traces, report, fidelity, sft_file=Path(out).name))
    return ExportResult(Path(out), n, report, card_path)
