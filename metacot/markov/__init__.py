"""Job 1, the mathematics of chains: :class:`Chain`, its families, exact quantities and G-PCCA.

* :mod:`~metacot.markov.chain` -- :class:`Chain`, a validated sparse row-stochastic matrix with
  clusters, start, target and state names;
* :mod:`~metacot.markov.families` -- metastable families (line of cliques, random clusters, networkx);
* :mod:`~metacot.markov.exact` -- hitting times and their law, committors, stationary laws, spectra;
* :mod:`~metacot.markov.reach` -- which states reach which (infinite hitting times);
* :mod:`~metacot.markov.solvers` -- the pinned M-matrix systems, factorised GTH-style (no cancellation);
* :mod:`~metacot.markov.pcca` -- G-PCCA metastable sets of non-reversible chains, built on
  :mod:`~metacot.markov.invariant_subspace` (step 1) and :mod:`~metacot.markov.memberships` (steps 2-3);
* :mod:`~metacot.markov.budget` -- memory budgets checked before large allocations;
* :mod:`~metacot.markov.gpu_exact` -- hitting times solved on a GPU with CuPy.

Nothing here knows about traces, graphs or language models.
"""

from metacot._lazy import attach

_MODULES = {
    "chain": "metacot.markov.chain",
    "families": "metacot.markov.families",
    "reach": "metacot.markov.reach",
    "exact": "metacot.markov.exact",
    "solvers": "metacot.markov.solvers",
    "entropy": "metacot.markov.entropy",
    "pcca": "metacot.markov.pcca",
    "invariant_subspace": "metacot.markov.invariant_subspace",
    "memberships": "metacot.markov.memberships",
    "budget": "metacot.markov.budget",
    "gpu_exact": "metacot.markov.gpu_exact",
}
_NAMES = {
    "Chain": "metacot.markov.chain",
    "ROW_SUM_TOL": "metacot.markov.chain",
}

__getattr__, __dir__ = attach(__name__, globals(), modules=_MODULES, names=_NAMES)
__all__ = sorted([*_MODULES, *_NAMES])
