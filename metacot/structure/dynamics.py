r"""Entropy dynamics, one vocabulary for Markov chains and reasoning traces.

Two views of "entropy over time" meet here.

**Chains.** The state distribution :math:`\mu_t = \mu_0 P^t` of a chain spreads out and, with an
absorbing answer state, eventually concentrates again; :func:`state_entropy` gives
:math:`H(\mu_t)` exactly and :func:`empirical_state_entropy` estimates it from simulated paths
(or from the behaviour labels of many real traces, position by position). Both live in
:mod:`metacot.markov.entropy`, with the other entropy measures of chains.

**Single trajectories.** Chen et al. (2026), *The Molecular Structure of Thought*
(arXiv:2601.06002, Figure 10 and Appendix D.3; our notes ``papers/notes/molecular_paper.md``
§4.11) follow the entropy :math:`I_t` of a per-step "semantic probability representation"
:math:`p_t` of the reasoning state, and read two phases off the phase plane
:math:`(I_t, \Delta I_t)`:

.. math::
    \Delta I_t = I_t - I_{t-1}, \qquad
    m_t = \frac{\Delta I_t - \Delta I_{t-1}}{I_t - I_{t-1}} ,

high-entropy **exploration** when :math:`m_t > 0.6` and :math:`\Delta I_t > 0.05`, low-entropy
**validation** when :math:`m_t \approx 0` and :math:`|\Delta I_t| < 0.05`; strong reasoners
alternate between them ("metacognitive oscillation").

Our formalisation, where the paper is vague
-------------------------------------------
* :math:`I_t` is the entropy of the reasoning state *after* step :math:`t` -- a distribution
  that conditions on everything up to :math:`t`, hence "cumulative" -- not a running sum of
  per-step entropies (a running sum of non-negative terms could not have the negative
  :math:`\Delta I_t` that the paper's :math:`|\Delta I_t|` allows). Entropies are normalised to
  :math:`[0, 1]` by the log of the support size, so the paper's absolute thresholds (0.05, 0.1)
  have one meaning for every state space.
* The paper gets :math:`p_t` from an LLM used as a probabilistic encoder (IF-Track); we have two
  model-free maps: :func:`predictive_entropy`, the entropy of the next-behaviour distribution
  :math:`P(\cdot \mid b_t)` of a behaviour graph (the same function for a real trace's labels and
  a simulated chain path, so chains and traces are measured alike), and
  :func:`semantic_entropy`, the entropy of a softmax attention of step :math:`t`'s embedding over
  the earlier steps (low when the step points back at a few specific earlier steps, high when it
  relates to none in particular).
* :math:`m_t` is :math:`\Delta^2 I_t / \Delta I_t`; where :math:`\Delta I_t = 0` it is 0 if
  :math:`\Delta I_{t-1} = 0` too (no change, no acceleration) and :math:`\pm\infty` otherwise.
* ":math:`m_t \approx 0`" is :math:`|m_t| \le 0.2` (:data:`FLAT_SLOPE`): this step's change is
  within 20% of the last one's, a steady drift; 0.2 is a third of the exploration slope 0.6.
* Steps that meet neither rule are "other" (transitions); steps where :math:`m_t` is undefined
  (the first two, or missing :math:`I_t`) are "undefined" and left out of every share.

Examples
--------
>>> import numpy as np
>>> info = information_measures([0.5, 0.5, 0.5, 0.7, 0.7, 0.7])
>>> info.dI.round(3).tolist(), info.m.tolist()
([nan, 0.0, 0.0, 0.2, 0.0, 0.0], [nan, nan, 0.0, 1.0, -inf, 0.0])
>>> classify_phases(info).tolist()
[-2, -2, -1, 1, 0, -1]

This module gathers both views under one name: the per-step information measures and phases
live in :mod:`metacot.structure.information`, the oscillation statistics and spectra in
:mod:`metacot.structure.oscillation`.
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
