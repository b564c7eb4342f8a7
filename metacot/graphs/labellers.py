"""Labellers: give every step of a :class:`~metacot.traces.core.Trace` one of the four behaviours.

The four behaviours -- normal operation, deep reasoning, self-reflection, self-exploration -- are
those of Chen et al. (2026), *The Molecular Structure of Thought* (arXiv:2601.06002); see
:mod:`metacot.behaviours` for their definitions. The paper labels steps with an LLM classifier
whose prompt is not published, so any labeller here is a modelling choice, and the choice is
made visible:

* :class:`ReasoningFlowLabeller` translates the discourse labels of the ReasoningFlow annotation
  (node labels and the labels of a node's incoming edges, kept by
  :func:`metacot.traces.core.load_reasoningflow`) through an ordered, replaceable table of
  :class:`Rule` objects (:data:`DEFAULT_MAPPING`).
* :class:`KeywordLabeller` is a surface baseline: case-insensitive regular expressions on the
  step text (:data:`DEFAULT_PATTERNS`), usable on unlabelled traces from
  :func:`metacot.traces.core.load_raw`.

:func:`agreement` and :func:`confusion` compare two labellings of the same traces.

* :class:`LLMJudgeLabeller` asks a language model, through any
  :class:`metacot.llm.samplers.Sampler` (the embedded llama.cpp model or an OpenAI-compatible
  server), to classify each step against a rubric written for this package
  (:data:`JUDGE_RUBRIC`), showing it the problem and the preceding steps.


The labellers live in one module each and are re-exported here (``metacot.graphs.labellers`` and
``mc.label`` keep working): :mod:`metacot.graphs.labelling` (the protocol, :func:`label_traces`),
:mod:`metacot.graphs.mapping`, :mod:`metacot.graphs.keyword`, :mod:`metacot.graphs.judge` and
:mod:`metacot.graphs.agreement`.

Examples
--------
>>> from metacot.traces.core import DATA_DIR, load_reasoningflow
>>> tr = load_reasoningflow(DATA_DIR / "reasoningflow" / "annotated" / "argkp_0_DeepSeek-R1.json")[0]
>>> a = ReasoningFlowLabeller().label(tr)
>>> b = KeywordLabeller().label(tr)
>>> all(s.behaviour is not None for s in a.steps + b.steps)
True
>>> sorted(agreement([a], [b]))
['agreement', 'expected', 'kappa', 'n']
"""

from __future__ import annotations

from metacot.graphs.agreement import agreement, confusion
from metacot.graphs.judge import JUDGE_EXAMPLES, JUDGE_RUBRIC, LLMJudgeLabeller
from metacot.graphs.keyword import DEFAULT_PATTERNS, KeywordLabeller
from metacot.graphs.labelling import Labeller, label_traces, labeller_name, relabel
from metacot.graphs.mapping import DEFAULT_MAPPING, LabelMapping, ReasoningFlowLabeller, Rule

__all__ = [
    "DEFAULT_MAPPING",
    "DEFAULT_PATTERNS",
    "JUDGE_EXAMPLES",
    "JUDGE_RUBRIC",
    "KeywordLabeller",
    "LLMJudgeLabeller",
    "LabelMapping",
    "Labeller",
    "ReasoningFlowLabeller",
    "Rule",
    "agreement",
    "confusion",
    "label_traces",
    "labeller_name",
    "relabel",
]
