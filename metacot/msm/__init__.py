"""Markov state models of the content of reasoning traces (microstates, timescales, CK test, G-PCCA).

* :mod:`~metacot.msm.microstates` -- MiniLM step embeddings (problem-centred), PCA, k-means microstates;
* :mod:`~metacot.msm.counts` -- sliding-window counts at a lag, largest connected set, MLE and
  Dirichlet-posterior transition matrices;
* :mod:`~metacot.msm.timescales` -- :class:`MSM` at one lag, implied timescales against lag with
  trace-bootstrap and Bayesian intervals;
* :mod:`~metacot.msm.ck` -- G-PCCA metastable sets of the microstate chain, the coarse-grained
  chain, and the Chapman-Kolmogorov test;
* :mod:`~metacot.msm.nulls` -- steps shuffled within traces, paths of the fitted behaviour chain;
* :mod:`~metacot.msm.exits` -- behaviours of the steps that leave a metastable set.
"""

from metacot._lazy import attach

_MODULES = {m: f"metacot.msm.{m}" for m in ("microstates", "counts", "timescales", "ck", "nulls", "exits")}
_NAMES = {
    **{n: "metacot.msm.microstates" for n in ("Microstates", "default_embedder", "discretise", "fit_microstates",
                                              "step_embeddings")},
    **{n: "metacot.msm.counts" for n in ("as_dtrajs", "count_matrix", "dirichlet_samples", "largest_connected_set",
                                         "mle_transition_matrix", "per_trace_counts")},
    **{n: "metacot.msm.timescales" for n in ("MSM", "ImpliedTimescales", "estimate_msm", "implied_timescales",
                                             "one_blas_thread", "sorted_eigenvalues", "timescale_scan")},
    **{n: "metacot.msm.ck" for n in ("CKTest", "MetastableMicrostates", "choose_n_sets", "ck_test", "coarse_counts",
                                     "metastable_microstates")},
    **{n: "metacot.msm.nulls" for n in ("behaviour_chain", "behaviour_chain_paths", "shuffle_within",
                                        "simulate_paths")},
    **{n: "metacot.msm.exits" for n in ("ExitEnrichment", "exit_enrichment", "exit_tallies", "set_paths")},
}

__getattr__, __dir__ = attach(__name__, globals(), modules=_MODULES, names=_NAMES)
__all__ = sorted([*_MODULES, *_NAMES])
