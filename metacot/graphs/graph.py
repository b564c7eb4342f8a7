r"""Behaviour transition graphs: the model, the paper's reference graphs, and comparison.

The names of this module live in three modules, one concern each, and are re-exported here (the
path ``metacot.graphs.graph``, and ``mc.graph``, keep working):

* :mod:`metacot.graphs.behaviour_graph` -- :class:`BehaviourGraph`, an immutable row-stochastic
  matrix :math:`P` over the four behaviours of :mod:`metacot.behaviours` (Chen et al., 2026,
  *The Molecular Structure of Thought*, arXiv:2601.06002) with its counts, marginal, posterior and
  :class:`Provenance`; its JSON format is :mod:`metacot.graphs.graph_json`;
* :mod:`metacot.graphs.reference_graphs` -- :func:`reference`, the three graphs of the paper's Figure 5;
* :mod:`metacot.graphs.comparison` -- :func:`compare` (Pearson :math:`r`, row Jensen–Shannon
  divergences) with intervals from the package's one trace bootstrap.

:func:`metacot.graphs.fit.fit_graph` builds a graph from traces.

Examples
--------
>>> g = reference("deepseek-r1-0528")
>>> [s.value for s in g.states]
['normal', 'deep', 'reflect', 'explore']
>>> g.stationary().round(2).tolist()
[0.59, 0.12, 0.07, 0.22]
>>> round(compare(g, reference("gpt-oss-120b")).pearson, 2)
0.98
"""

from __future__ import annotations

from metacot.graphs.behaviour_graph import ANSWER, BehaviourGraph
from metacot.graphs.comparison import (
    FewTracesWarning,
    GraphComparison,
    bootstrap_graphs,
    bootstrap_weights,
    compare,
    comparison_stats,
    resample_graph,
    resampled_counts,
)
from metacot.graphs.graph_json import FORMAT, SCHEMA_VERSION
from metacot.graphs.provenance import Provenance
from metacot.graphs.reference_graphs import REFERENCE_PERCENT, reference

__all__ = [
    "ANSWER",
    "FORMAT",
    "REFERENCE_PERCENT",
    "SCHEMA_VERSION",
    "BehaviourGraph",
    "FewTracesWarning",
    "GraphComparison",
    "Provenance",
    "bootstrap_graphs",
    "bootstrap_weights",
    "compare",
    "comparison_stats",
    "reference",
    "resample_graph",
    "resampled_counts",
]
