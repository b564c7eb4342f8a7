"""Reasoning traces: the data model, JSONL files and loaders, under one import path.

This module gathers the public names of the modules that define them, so
``from metacot.traces.core import Trace, read_traces, load_problems`` keeps working:

* :mod:`metacot.traces.model` -- :class:`Trace`, :class:`Step`, :class:`TraceList`, :class:`SkippedLine`;
* :mod:`metacot.traces.jsonl` -- the versioned trace JSONL format: :func:`write_traces`, :func:`read_traces`;
* :mod:`metacot.traces.text` -- :func:`split_thinking` and :func:`segment`;
* :mod:`metacot.traces.reasoningflow` -- :func:`load_reasoningflow`, :func:`load_raw` and the
  ReasoningFlow label sets;
* :mod:`metacot.traces.problems` -- :class:`Problem` and :func:`load_problems`;
* :mod:`metacot.traces.files` -- :data:`DATA_DIR` and the safe readers every loader shares.

Loaders read the real data shipped in the project's ``data/`` folder (see ``data/README.md`` for
provenance and licences).

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

from metacot.traces.files import DATA_DIR
from metacot.traces.jsonl import read_traces, write_traces
from metacot.traces.model import SkippedLine, Step, Trace, TraceList
from metacot.traces.problems import Problem, load_problems
from metacot.traces.reasoningflow import (
    EDGE_LABEL_FIXES,
    EDGE_LABELS,
    NODE_LABELS,
    load_raw,
    load_reasoningflow,
)
from metacot.traces.text import IMPLICIT_THINK_OPEN, segment, split_thinking

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
