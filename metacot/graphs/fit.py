r"""Estimators of behaviour transition graphs from labelled reasoning traces.

Chen et al. (2026), *The Molecular Structure of Thought* (arXiv:2601.06002), summarise a corpus of
long chains of thought by a first-order transition matrix between the behaviours of consecutive
steps, :math:`P_C(b' \mid b)`, and by the marginal behaviour frequencies :math:`\pi_C(b)`
(their Figure 5 shows :math:`P` for three teachers). This module estimates that matrix:

* :func:`tally_transitions` / :func:`transition_counts` -- the count matrix
  :math:`N_{ij} = \#\{t : b_t = i,\ b_{t+1} = j\}`, pooled over traces;
* :func:`fit_mle` -- the maximum-likelihood estimate :math:`\hat P_{ij} = N_{ij} / N_{i\cdot}`;
* :func:`fit_dirichlet` -- the conjugate posterior: with an independent
  :math:`\mathrm{Dir}(\alpha^0_{i\cdot})` prior on every row, row :math:`i` of :math:`P` is a
  posteriori :math:`\mathrm{Dir}(N_{i\cdot} + \alpha^0_{i\cdot})`, in closed form;
* :func:`fit_graph` -- traces in, an immutable :class:`metacot.graphs.graph.BehaviourGraph` out.

Following deeptime's split between estimators and models, the ``fit_*`` functions return
immutable objects and never mutate their inputs. The counting lives in :mod:`metacot.graphs.counts`
and the closed forms in :mod:`metacot.graphs.closed_form`; their names are re-exported here, and
:func:`fit_graph` dispatches on top of them and of the PyMC fits (:mod:`metacot.graphs.bayes`,
:mod:`metacot.graphs.hierarchical`).

Examples
--------
>>> from metacot.traces.core import Step, Trace
>>> def trace(labels):
...     text = "".join(f"{b[0]}." for b in labels)
...     steps = tuple(Step(text[2 * i:2 * i + 2], 2 * i, 2 * i + 2, behaviour=b)
...                   for i, b in enumerate(labels))
...     return Trace("t", "q", steps, text)
>>> g = fit_graph([trace(["normal", "deep", "normal", "reflect", "normal"])], method="dirichlet")
>>> g.P.round(3)[0].tolist()
[0.167, 0.333, 0.333, 0.167]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any, Literal

import numpy as np

from metacot.behaviours import BEHAVIOURS, Behaviour
from metacot.errors import InvalidArgumentError
from metacot.graphs.bayes import fit_pymc
from metacot.graphs.behaviour_graph import BehaviourGraph
from metacot.graphs.closed_form import DirichletPosterior, fit_dirichlet, fit_mle
from metacot.graphs.counts import (
    TransitionTally,
    by_source,
    per_trace_counts,
    tally_transitions,
    transition_counts,
)
from metacot.graphs.hierarchical import fit_hierarchical
from metacot.graphs.labelling import label_traces, labeller_name
from metacot.graphs.provenance import Provenance
from metacot.traces.core import Trace

__all__ = [
    "DirichletPosterior",
    "TransitionTally",
    "fit_dirichlet",
    "fit_graph",
    "fit_mle",
    "per_trace_counts",
    "tally_transitions",
    "transition_counts",
]


def _reasoningflow_unlabelled(traces: list[Trace]) -> bool:
    """True when no step has a behaviour and every step carries a ReasoningFlow node label."""
    steps = [s for t in traces for s in t.steps]
    return bool(steps) and all(s.behaviour is None and "node_label" in s.source_labels for s in steps)


def fit_graph(
    traces: Iterable[Trace],
    method: Literal["mle", "dirichlet", "pymc", "hierarchical"] = "dirichlet",
    prior: float | Any = 1.0,
    labeller: Any = None,
    *,
    states: Sequence[Behaviour | str] = BEHAVIOURS,
    sources: Sequence[str] | None = None,
) -> BehaviourGraph:
    r"""Fit a behaviour transition graph to labelled traces.

    Counts consecutive labelled steps (:func:`tally_transitions`; unlabelled steps break the
    sequence) and estimates :math:`P` by

    * ``method="mle"``: :math:`\hat P_{ij} = N_{ij}/N_{i\cdot}` (:func:`fit_mle`; an error if a
      behaviour never has a successor);
    * ``method="dirichlet"``: the posterior mean
      :math:`(N_{ij} + \alpha^0_{ij}) / (N_{i\cdot} + \sum_j \alpha^0_{ij})`
      (:func:`fit_dirichlet`); the graph keeps the posterior concentration in
      :attr:`BehaviourGraph.posterior`;
    * ``method="pymc"``: the same model sampled by PyMC (:func:`metacot.graphs.bayes.fit_pymc`),
      a check on the closed form and the base of richer models;
    * ``method="hierarchical"``: rows partially pooled across the traces' source models
      (:func:`metacot.graphs.hierarchical.fit_hierarchical`); one graph comes back, the population graph.
      Call :func:`~metacot.graphs.hierarchical.fit_hierarchical` itself for the per-source graphs, the
      pooling strengths and the convergence diagnostics.

    The marginal :math:`\hat\pi(b)` is the frequency of each behaviour among labelled steps
    (Chen et al., 2026 compare teachers by the pair :math:`(P, \pi)`).

    Parameters
    ----------
    traces : iterable of Trace
    method : {"mle", "dirichlet", "pymc", "hierarchical"}
    prior : float or array_like, shape (k, k)
        Dirichlet prior concentration of ``"dirichlet"`` and ``"pymc"``; ignored by ``"mle"`` and
        ``"hierarchical"`` (which has its own hyperpriors).
    labeller : callable or object with ``.label``, optional
        Applied to every trace first (``Trace -> Trace``); its ``name`` attribute (or its
        qualified name) goes into the provenance. Without it the steps' existing behaviours are
        used, with one exception: traces read by :func:`metacot.traces.load_reasoningflow` whose
        steps carry ReasoningFlow annotations and no behaviour at all are labelled by the
        ReasoningFlow mapping (:class:`~metacot.graphs.mapping.ReasoningFlowLabeller`), which the
        provenance then names.
    states : sequence of Behaviour or str
        State order; the four behaviours by default.
    sources : sequence of str, optional
        Provenance sources; by default the distinct ``source_model`` values of the traces.

    Returns
    -------
    BehaviourGraph

    Raises
    ------
    InvalidArgumentError
        For an unknown method, no labelled transitions at all, or an empty MLE row.

    Examples
    --------
    >>> from metacot.traces.core import Step, Trace
    >>> t = Trace("t", "q", (Step("a", 0, 1, "normal"), Step("b", 1, 2, "normal")), "ab", source_model="m")
    >>> g = fit_graph([t], method="dirichlet", prior=1.0)
    >>> g.P[0].tolist(), g.provenance.sources
    ([0.4, 0.2, 0.2, 0.2], ('m',))
    """
    if method not in ("mle", "dirichlet", "pymc", "hierarchical"):
        raise InvalidArgumentError(
            f"method must be 'mle', 'dirichlet', 'pymc' or 'hierarchical', got {method!r}"
        )
    traces = list(traces)
    if labeller is None and _reasoningflow_unlabelled(traces):
        from metacot.graphs.mapping import ReasoningFlowLabeller

        labeller = ReasoningFlowLabeller()
    if labeller is not None:
        traces = label_traces(traces, labeller)
    if method in ("pymc", "hierarchical"):
        # The traces are labelled already (above); the labeller's name still goes into the provenance.
        if method == "pymc":
            g = fit_pymc(traces, prior, states=states).graph
        else:
            g = fit_hierarchical(by_source(traces), states=states).population
        prov = g.provenance
        if labeller is not None:
            prov = replace(prov, labeller=labeller_name(labeller))
        if sources is not None:
            prov = replace(prov, sources=tuple(sources))
        return replace(g, provenance=prov)
    tally = tally_transitions(traces, states)
    if tally.counts.sum() == 0:
        raise InvalidArgumentError(
            f"no labelled transitions in {tally.n_traces} trace(s) ({tally.n_steps} steps, "
            f"{tally.n_unlabelled} unlabelled): label the traces first or pass labeller="
        )
    posterior = None
    if method == "mle":
        P = fit_mle(tally.counts, tally.states)
    else:
        post = fit_dirichlet(tally.counts, prior, tally.states)
        P, posterior = post.mean, post.alpha
    if sources is None:
        sources = sorted({t.source_model for t in traces if t.source_model})
    prov = Provenance.now(
        method=method,
        sources=tuple(sources),
        labeller=None if labeller is None else labeller_name(labeller),
        extra={
            "n_traces": tally.n_traces,
            "n_steps": tally.n_steps,
            "n_unlabelled": tally.n_unlabelled,
            "n_pairs_skipped": tally.n_pairs_skipped,
            **({"prior": float(np.asarray(prior))} if method == "dirichlet" and np.ndim(prior) == 0 else {}),
        },
    )
    return BehaviourGraph(
        P=P,
        states=tally.states,
        counts=tally.counts,
        marginal=tally.marginal,
        posterior=posterior,
        provenance=prov,
    )
