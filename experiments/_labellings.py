"""The labellings that M1 and M3 compare: every model's traces under each labeller.

The trained labeller's labels are out of model: each source's traces are labelled by a labeller
trained without that source (:func:`experiments._molecular.labelled`).

Plumbing, not statistics: the labelled traces come from :func:`experiments._molecular.labelled`
(the LLM judge's labels are cached in ``results/labels/``), and the ReasoningFlow mapping is run
again on the judge's subsample so that the judge's row can be read against it.
"""

from __future__ import annotations

from experiments._molecular import judge_subsample, labelled
from metacot.graphs.labelling import label_traces
from metacot.graphs.mapping import ReasoningFlowLabeller


def labellings(quick: bool, results) -> dict[str, list]:
    """Labeller name -> labelled traces of every model: the full set, and the judge's subsample."""
    sub = judge_subsample(quick)
    return {
        "reasoningflow": labelled("reasoningflow", quick, results),
        "keyword": labelled("keyword", quick, results),
        "trained (out of model)": labelled("trained", quick, results),
        "llm-judge (subsample)": labelled("llm-judge", quick, results),
        "reasoningflow (subsample)": label_traces(sub, ReasoningFlowLabeller()),
    }
