r"""Exact laws of transformed sample paths of a lifted behaviour chain.

A *lifted chain* (:meth:`metacot.graphs.graph.BehaviourGraph.to_chain`) has :math:`k` transient behaviour
states :math:`0, \dots, k-1` and one absorbing answer state :math:`k`, its target:

.. math::
    \tilde P = \begin{pmatrix} Q & a \\ 0 & 1 \end{pmatrix}, \qquad a = \mathbf 1 - Q \mathbf 1,

with :math:`Q` substochastic (behaviour to behaviour) and :math:`a_i` the chance that the answer
follows a step in behaviour :math:`i`. Started from a law :math:`\mu` on the behaviours, a
*sample path* is the behaviour sequence :math:`X_0, \dots, X_{n-1}` before absorption; its length
:math:`n` is the hitting time of the answer, with mean
:math:`\mathbb E[n] = \mu N \mathbf 1`, :math:`N = (I - Q)^{-1}` the fundamental matrix
(:math:`N_{ij}` is the expected number of steps in :math:`j` from :math:`i`).

The transformations of :mod:`metacot.traces.transforms` that act on the behaviour sequence alone map
such a path to a shorter one. For three of them the transformed path is again the path of a
lifted chain, in closed form, and this module computes it:

* :func:`thinned` -- every step kept independently with probability :math:`q` (Bernoulli
  thinning; the model of random step dropping, :func:`metacot.traces.transforms.drop_random`);
* :func:`censored` -- the steps of some behaviours removed
  (:func:`metacot.traces.transforms.drop_behaviours`): the path watched on the others only;
* :func:`jump_chain` -- each run of equal behaviours merged into one step
  (:func:`metacot.traces.transforms.merge_runs`).

Each returns a :class:`PathLaw`: the transformed path's lifted chain, whose start law is the law
of its first step *given that it has one*, and the probability that nothing is left. Every chain
keeps all :math:`k` behaviour states in their original order (so its matrices line up with the
original :math:`4 \times 4` graph); behaviours the transformed path can never visit are
unreachable states with a documented placeholder row, flagged by :attr:`PathLaw.reachable`.

:func:`lift_from_paths` and :func:`lift_from_traces` go the other way: the maximum-likelihood
lifted chain of observed paths, whose mean hitting time of the answer is exactly the mean path
length (flow conservation; see :func:`lift_from_paths`). :func:`sample_paths` draws paths.

This module gathers the three parts under one name: lifted chains and :class:`PathLaw` in
:mod:`metacot.structure.lifted`, the transformations in :mod:`metacot.structure.transformed_paths`,
fitting and sampling in :mod:`metacot.structure.path_fit`.

Examples
--------
>>> from metacot.graphs.graph import reference
>>> c = reference("qwq-32b").to_chain(answer_rate=0.1, start="normal")
>>> round(mean_length(c), 6)
10.0
>>> law = thinned(c, 0.5)
>>> round(law.mean_length * (1 - law.p_empty), 6)  # half the steps survive on average
5.0
"""


from __future__ import annotations

from metacot.structure.lifted import LiftedParts, PathLaw, lift, lifted_parts, mean_length
from metacot.structure.path_fit import lift_from_paths, lift_from_traces, sample_paths
from metacot.structure.transformed_paths import censored, jump_chain, thinned

__all__ = [
    "LiftedParts",
    "PathLaw",
    "censored",
    "jump_chain",
    "lift",
    "lift_from_paths",
    "lift_from_traces",
    "lifted_parts",
    "mean_length",
    "sample_paths",
    "thinned",
]
