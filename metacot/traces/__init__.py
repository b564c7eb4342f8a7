"""Reasoning traces: :class:`Trace` and :class:`Step`, JSONL I/O, loaders and transformations.

* :mod:`~metacot.traces.core` -- the objects, the versioned JSONL format, the readers of
  ReasoningFlow annotations, raw model responses and problem sets;
* :mod:`~metacot.traces.transforms` -- transformations that return new traces with provenance
  (summarise, drop, merge, truncate, shuffle, swap, keyword replacement).
"""

from metacot._lazy import attach
from metacot.traces.core import (
    DATA_DIR,
    EDGE_LABEL_FIXES,
    EDGE_LABELS,
    IMPLICIT_THINK_OPEN,
    NODE_LABELS,
    Problem,
    SkippedLine,
    Step,
    Trace,
    TraceList,
    load_problems,
    load_raw,
    load_reasoningflow,
    read_traces,
    segment,
    split_thinking,
    write_traces,
)

__getattr__, __dir__ = attach(__name__, globals(), modules=["core", "transforms"])
__all__ = ["DATA_DIR", "EDGE_LABELS", "EDGE_LABEL_FIXES", "IMPLICIT_THINK_OPEN", "NODE_LABELS", "Problem", "SkippedLine", "Step", "Trace", "TraceList", "core", "load_problems", "load_raw", "load_reasoningflow", "read_traces", "segment", "split_thinking", "transforms", "write_traces"]
