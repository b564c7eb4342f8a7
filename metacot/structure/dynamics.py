r"""Entropy dynamics, one vocabulary for Markov chains and reasoning traces.

Two views of "entropy over time" meet here.

**Chains.** The state distribution :math:`\mu_t = \mu_0 P^t` of a chain spreads out and, with an
absorbing answer state, eventually concentrates again; :func:`state_entropy` gives
:math:`H(\mu_t)` exactly and :func:`empirical_state_entropy` estimates it from simulated paths
(or from the behaviour labels of many real traces, position by position). Both live in
:mod:`metacot.markov.entropy`, with the other entropy measures of chains.

**Single trajectories.** The per-step information :math:`I_t` of one trace or path, its changes,
and the exploration/validation phases of Chen et al. (2026), with our formalisation of what the
paper leaves vague, are in :mod:`metacot.structure.information`; oscillation statistics and
spectra are in :mod:`metacot.structure.oscillation`; :func:`index_paths` turns labelled traces
into state paths for all of them.

Examples
--------
>>> import numpy as np
>>> info = information_measures([0.5, 0.5, 0.5, 0.7, 0.7, 0.7])
>>> info.dI.round(3).tolist(), info.m.tolist()
([nan, 0.0, 0.0, 0.2, 0.0, 0.0], [nan, nan, 0.0, 1.0, -inf, 0.0])
>>> classify_phases(info).tolist()
[-2, -2, -1, 1, 0, -1]
"""

from __future__ import annotations

from metacot.markov.entropy import empirical_state_entropy, entropy, state_entropy
from metacot.structure.information import (
    EXPLORE,
    EXPLORE_DELTA,
    EXPLORE_SLOPE,
    FLAT_DELTA,
    FLAT_SLOPE,
    OTHER,
    TEMPERATURE,
    UNDEFINED,
    VALIDATE,
    InformationSeries,
    classify_phases,
    information_measures,
    predictive_entropy,
    semantic_entropy,
)
from metacot.structure.oscillation import (
    LARGE_CHANGE,
    Oscillation,
    oscillation,
    periodogram,
    pooled_periodogram,
    spectral_peak,
)
from metacot.structure.path_fit import index_paths

__all__ = [
    "EXPLORE",
    "EXPLORE_DELTA",
    "EXPLORE_SLOPE",
    "FLAT_DELTA",
    "FLAT_SLOPE",
    "LARGE_CHANGE",
    "OTHER",
    "TEMPERATURE",
    "UNDEFINED",
    "VALIDATE",
    "InformationSeries",
    "Oscillation",
    "classify_phases",
    "empirical_state_entropy",
    "entropy",
    "index_paths",
    "information_measures",
    "oscillation",
    "periodogram",
    "pooled_periodogram",
    "predictive_entropy",
    "semantic_entropy",
    "spectral_peak",
    "state_entropy",
]
