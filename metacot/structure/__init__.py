"""Structure measured on traces and on chains lifted from graphs.

Geometry of embedded traces (the three "bonds" of Chen et al. 2026):

* :mod:`~metacot.structure.tsne` -- seeded t-SNE of step embeddings, trace units;
* :mod:`~metacot.structure.meb` -- minimum enclosing balls (Welzl) and ball volumes;
* :mod:`~metacot.structure.bonds` -- locality, re-attachment, stride, window volumes, per-step table;
* :mod:`~metacot.structure.geometry` -- the whole pipeline under one name (with the embedders of
  :mod:`metacot.embed`).

Dynamics of traces:

* :mod:`~metacot.structure.information` -- per-step information :math:`I_t`, its changes, phases;
* :mod:`~metacot.structure.oscillation` -- phase shares, switches, periodograms;
* :mod:`~metacot.structure.dynamics` -- both under one name (with the chain entropies of
  :mod:`metacot.markov.entropy`).

Exact laws of transformed paths of lifted chains:

* :mod:`~metacot.structure.lifted` -- lifted chains, :class:`PathLaw`, mean path length;
* :mod:`~metacot.structure.transformed_paths` -- thinning, censoring, merging runs;
* :mod:`~metacot.structure.path_fit` -- maximum-likelihood lifted chains of paths and traces, sampling;
* :mod:`~metacot.structure.path_laws` -- all three under one name.

Is a label sequence Markov?

* :mod:`~metacot.structure.markov_tests` -- order, homogeneity and position tests (:math:`G^2`), AIC/BIC;
* :mod:`~metacot.structure.markov_models` -- order-k and semi-Markov models by held-out log-likelihood.
"""

from metacot._lazy import attach

_MODULES = {
    "geometry": "metacot.structure.geometry",
    "dynamics": "metacot.structure.dynamics",
    "path_laws": "metacot.structure.path_laws",
    "tsne": "metacot.structure.tsne",
    "meb": "metacot.structure.meb",
    "bonds": "metacot.structure.bonds",
    "information": "metacot.structure.information",
    "oscillation": "metacot.structure.oscillation",
    "lifted": "metacot.structure.lifted",
    "transformed_paths": "metacot.structure.transformed_paths",
    "path_fit": "metacot.structure.path_fit",
    "markov_tests": "metacot.structure.markov_tests",
    "markov_models": "metacot.structure.markov_models",
}
# Public names of the modules, by defining module (``oscillation`` is the module; its function is
# mc.structure.oscillation.oscillation).
_NAMES = {
    "CLUSTER_THRESHOLD": "metacot.structure.bonds",
    "LOCALITY_THRESHOLD": "metacot.structure.bonds",
    "PAPER": "metacot.structure.bonds",
    "WINDOW": "metacot.structure.bonds",
    "cluster_steps": "metacot.structure.bonds",
    "jumps": "metacot.structure.bonds",
    "locality": "metacot.structure.bonds",
    "reattachment": "metacot.structure.bonds",
    "step_table": "metacot.structure.bonds",
    "stride": "metacot.structure.bonds",
    "window_volumes": "metacot.structure.bonds",
    "EXPLORE": "metacot.structure.information",
    "EXPLORE_DELTA": "metacot.structure.information",
    "EXPLORE_SLOPE": "metacot.structure.information",
    "FLAT_DELTA": "metacot.structure.information",
    "FLAT_SLOPE": "metacot.structure.information",
    "InformationSeries": "metacot.structure.information",
    "OTHER": "metacot.structure.information",
    "TEMPERATURE": "metacot.structure.information",
    "UNDEFINED": "metacot.structure.information",
    "VALIDATE": "metacot.structure.information",
    "classify_phases": "metacot.structure.information",
    "information_measures": "metacot.structure.information",
    "predictive_entropy": "metacot.structure.information",
    "semantic_entropy": "metacot.structure.information",
    "LiftedParts": "metacot.structure.lifted",
    "PathLaw": "metacot.structure.lifted",
    "lift": "metacot.structure.lifted",
    "lifted_parts": "metacot.structure.lifted",
    "mean_length": "metacot.structure.lifted",
    "path_law": "metacot.structure.lifted",
    "reachable_behaviours": "metacot.structure.lifted",
    "Ball": "metacot.structure.meb",
    "ball_volume": "metacot.structure.meb",
    "min_enclosing_ball": "metacot.structure.meb",
    "LARGE_CHANGE": "metacot.structure.oscillation",
    "Oscillation": "metacot.structure.oscillation",
    "periodogram": "metacot.structure.oscillation",
    "pooled_periodogram": "metacot.structure.oscillation",
    "spectral_peak": "metacot.structure.oscillation",
    "index_paths": "metacot.structure.path_fit",
    "lift_from_paths": "metacot.structure.path_fit",
    "lift_from_traces": "metacot.structure.path_fit",
    "sample_paths": "metacot.structure.path_fit",
    "censored": "metacot.structure.transformed_paths",
    "jump_chain": "metacot.structure.transformed_paths",
    "thinned": "metacot.structure.transformed_paths",
    "to_trace_units": "metacot.structure.tsne",
    "tsne_3d": "metacot.structure.tsne",
}

__getattr__, __dir__ = attach(__name__, globals(), modules=_MODULES, names=_NAMES)
__all__ = sorted([*_MODULES, *_NAMES])
