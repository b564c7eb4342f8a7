"""Job 2, from labelled traces to behaviour graphs.

* labelling: :mod:`~metacot.graphs.labelling` (the protocol, :func:`label_traces`),
  :mod:`~metacot.graphs.mapping` (ReasoningFlow rule table), :mod:`~metacot.graphs.keyword`,
  :mod:`~metacot.graphs.judge` (LLM judge), :mod:`~metacot.graphs.agreement`; all gathered in
  :mod:`~metacot.graphs.labellers`;
* fitting: :mod:`~metacot.graphs.counts` (tallies, per-trace counts, grouping by source),
  :mod:`~metacot.graphs.closed_form` (MLE, Dirichlet), :mod:`~metacot.graphs.nuts` (NUTS settings
  and diagnostics), :mod:`~metacot.graphs.bayes` (one source by PyMC),
  :mod:`~metacot.graphs.hierarchical` (partial pooling across sources), and
  :mod:`~metacot.graphs.fit` (:func:`fit_graph` dispatching on top of them);
* the graph: :mod:`~metacot.graphs.provenance`, :mod:`~metacot.graphs.graph_json` (file format),
  :mod:`~metacot.graphs.behaviour_graph` (:class:`BehaviourGraph`),
  :mod:`~metacot.graphs.reference_graphs` (Figure 5 of the paper), :mod:`~metacot.graphs.comparison`
  (the one trace bootstrap and comparison); :mod:`~metacot.graphs.graph` gathers them. (The last
  two are not called ``reference`` and ``compare``: a submodule would shadow the functions of
  those names on this package.)
"""

from metacot._lazy import attach

_MODULES = {
    "posterior": "metacot.graphs.posterior",
    "labellers": "metacot.graphs.labellers",
    "labelling": "metacot.graphs.labelling",
    "mapping": "metacot.graphs.mapping",
    "taxonomy": "metacot.graphs.taxonomy",
    "keyword": "metacot.graphs.keyword",
    "judge": "metacot.graphs.judge",
    "agreement": "metacot.graphs.agreement",
    "counts": "metacot.graphs.counts",
    "closed_form": "metacot.graphs.closed_form",
    "nuts": "metacot.graphs.nuts",
    "bayes": "metacot.graphs.bayes",
    "hierarchical": "metacot.graphs.hierarchical",
    "fit": "metacot.graphs.fit",
    "provenance": "metacot.graphs.provenance",
    "graph_json": "metacot.graphs.graph_json",
    "behaviour_graph": "metacot.graphs.behaviour_graph",
    "reference_graphs": "metacot.graphs.reference_graphs",
    "comparison": "metacot.graphs.comparison",
    "graph": "metacot.graphs.graph",
}
_NAMES = {
    "ANSWER": "metacot.graphs.graph",
    "BehaviourGraph": "metacot.graphs.behaviour_graph",
    "DirichletPosterior": "metacot.graphs.closed_form",
    "FORMAT": "metacot.graphs.graph",
    "GraphComparison": "metacot.graphs.comparison",
    "Provenance": "metacot.graphs.provenance",
    "REFERENCE_PERCENT": "metacot.graphs.graph",
    "SCHEMA_VERSION": "metacot.graphs.graph",
    "TransitionTally": "metacot.graphs.counts",
    "bootstrap_graphs": "metacot.graphs.comparison",
    "bootstrap_weights": "metacot.graphs.comparison",
    "by_source": "metacot.graphs.counts",
    "compare": "metacot.graphs.comparison",
    "comparison_stats": "metacot.graphs.comparison",
    "fit_dirichlet": "metacot.graphs.closed_form",
    "fit_graph": "metacot.graphs.fit",
    "fit_mle": "metacot.graphs.closed_form",
    "per_trace_counts": "metacot.graphs.counts",
    "reference": "metacot.graphs.reference_graphs",
    "resample_graph": "metacot.graphs.comparison",
    "resampled_counts": "metacot.graphs.comparison",
    "tally_transitions": "metacot.graphs.counts",
    "transition_counts": "metacot.graphs.counts",
}

__getattr__, __dir__ = attach(__name__, globals(), modules=_MODULES, names=_NAMES)
__all__ = sorted([*_MODULES, *_NAMES])
