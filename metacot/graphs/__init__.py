"""Job 2, from labelled traces to behaviour graphs.

* :mod:`~metacot.graphs.labellers` -- step labellers (ReasoningFlow mapping, keywords, LLM judge);
* :mod:`~metacot.graphs.fit` -- transition tallies, MLE and Dirichlet fits, :func:`fit_graph`;
* :mod:`~metacot.graphs.hierarchical` -- PyMC fits, one source or partially pooled across sources;
* :mod:`~metacot.graphs.graph` -- :class:`BehaviourGraph`, comparison and the paper's reference graphs.
"""

from metacot._lazy import attach

_MODULES = {"labellers": "metacot.graphs.labellers", "fit": "metacot.graphs.fit", "hierarchical": "metacot.graphs.hierarchical", "graph": "metacot.graphs.graph", "taxonomy": "metacot.graphs.taxonomy"}
_NAMES = {
    "ANSWER": "metacot.graphs.graph",
    "BehaviourGraph": "metacot.graphs.graph",
    "DirichletPosterior": "metacot.graphs.fit",
    "FORMAT": "metacot.graphs.graph",
    "GraphComparison": "metacot.graphs.graph",
    "Provenance": "metacot.graphs.graph",
    "REFERENCE_PERCENT": "metacot.graphs.graph",
    "SCHEMA_VERSION": "metacot.graphs.graph",
    "TransitionTally": "metacot.graphs.fit",
    "compare": "metacot.graphs.graph",
    "comparison_stats": "metacot.graphs.graph",
    "fit_dirichlet": "metacot.graphs.fit",
    "fit_graph": "metacot.graphs.fit",
    "fit_mle": "metacot.graphs.fit",
    "per_trace_counts": "metacot.graphs.fit",
    "reference": "metacot.graphs.graph",
    "tally_transitions": "metacot.graphs.fit",
    "transition_counts": "metacot.graphs.fit",
}

__getattr__, __dir__ = attach(__name__, globals(), modules=_MODULES, names=_NAMES)
__all__ = sorted([*_MODULES, *_NAMES])
