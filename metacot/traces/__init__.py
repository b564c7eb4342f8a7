"""Reasoning traces: :class:`Trace` and :class:`Step`, JSONL I/O, loaders and transformations.

* :mod:`~metacot.traces.model` -- the objects (:class:`Trace`, :class:`Step`, :class:`TraceList`);
* :mod:`~metacot.traces.jsonl` -- the versioned trace JSONL format (atomic writes, strict or
  lenient reads that name file and line);
* :mod:`~metacot.traces.text` -- thinking/answer split and segmentation into steps;
* :mod:`~metacot.traces.reasoningflow` -- readers of ReasoningFlow annotations and raw responses;
* :mod:`~metacot.traces.problems` -- problem sets with gold answers;
* :mod:`~metacot.traces.files` -- the safe file readers the loaders share, and :data:`DATA_DIR`;
* :mod:`~metacot.traces.transforms` -- transformations that return new traces with provenance
  (summarise, drop, merge, truncate, shuffle, swap, keyword replacement); the language-model
  summary is in :mod:`~metacot.traces.summarise`, the cue rewording in
  :mod:`~metacot.traces.keywords`, the rebuild they share in :mod:`~metacot.traces.edits`;
* :mod:`~metacot.traces.core` -- all the names above but the transformations, under the one path
  older code imports them from.
"""

from metacot._lazy import attach
from metacot.traces.edits import make_trace
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

_MODULES = ["core", "edits", "files", "jsonl", "keywords", "model", "problems", "reasoningflow", "summarise", "text",
            "transforms"]
__getattr__, __dir__ = attach(__name__, globals(), modules=_MODULES)
__all__ = ["DATA_DIR", "EDGE_LABELS", "EDGE_LABEL_FIXES", "IMPLICIT_THINK_OPEN", "NODE_LABELS", "Problem", "SkippedLine", "Step", "Trace", "TraceList", "load_problems", "load_raw", "load_reasoningflow", "make_trace", "read_traces", "segment", "split_thinking", "write_traces", *_MODULES]
