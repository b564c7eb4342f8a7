r"""One source's behaviour graph fitted by NUTS (PyMC), and the input handling every PyMC fit shares.

:func:`fit_pymc` samples the row-wise Dirichlet model of one source. Its exact answer is known in
closed form (:func:`metacot.graphs.closed_form.fit_dirichlet`), so this fit is the check that the
sampling machinery is right, and the base of the hierarchical model
(:func:`metacot.graphs.hierarchical.fit_hierarchical`), which reads its sources through
:func:`as_source_data` and :func:`as_prior`. The sampler settings and diagnostics are those of
:mod:`metacot.graphs.nuts`.

Examples
--------
>>> fit = fit_pymc([[30, 10], [5, 15]], states=["normal", "deep"], seed=0)  # doctest: +SKIP
>>> fit.mean.round(2).tolist()                                               # doctest: +SKIP
[[0.74, 0.26], [0.27, 0.73]]
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from metacot._checks import readonly as _readonly
from metacot.behaviours import BEHAVIOURS, Behaviour
from metacot.errors import InvalidArgumentError
from metacot.graphs.behaviour_graph import BehaviourGraph
from metacot.graphs.closed_form import DirichletPosterior, fit_dirichlet
from metacot.graphs.counts import TransitionTally, as_states, tally_transitions
from metacot.graphs.labelling import label_traces, labeller_name
from metacot.graphs.nuts import DEFAULT_NUTS, Diagnostics, NUTSSettings, diagnostics, import_bayes
from metacot.graphs.provenance import Provenance
from metacot.traces.core import Trace

__all__ = ["PyMCFit", "SourceData", "as_prior", "as_source_data", "fit_pymc", "step_marginal", "tally_extra"]


@dataclass(frozen=True)
class SourceData:
    """One source as the PyMC fits read it: whole counts, the tally behind them, labeller and model names."""

    counts: np.ndarray  # float64 (k, k), integer-valued
    tally: TransitionTally | None
    labeller: str | None
    sources: tuple[str, ...]


def _is_trace_input(x: Any) -> bool:
    return isinstance(x, (list, tuple)) and len(x) > 0 and all(isinstance(t, Trace) for t in x)


def as_source_data(x: Any, states: tuple[Behaviour, ...], labeller: Any, where: str) -> SourceData:
    """Counts (and the tally behind them, when traces were given) of one source."""
    lab_name = None if labeller is None else labeller_name(labeller)
    if isinstance(x, TransitionTally):
        if x.states != states:
            raise InvalidArgumentError(
                f"{where}: the tally's states {[s.value for s in x.states]} differ from "
                f"{[s.value for s in states]}"
            )
        tally, N, sources = x, np.asarray(x.counts, dtype=np.float64), ()
    else:
        if not isinstance(x, np.ndarray) and isinstance(x, Iterable) and not isinstance(x, (str, bytes)):
            x = list(x)
        if isinstance(x, list) and len(x) == 0:
            raise InvalidArgumentError(f"{where}: no traces and no counts (an empty sequence)")
        if _is_trace_input(x):
            traces = label_traces(x, labeller) if labeller is not None else list(x)
            tally = tally_transitions(traces, states)
            N = np.asarray(tally.counts, dtype=np.float64)
            sources = tuple(sorted({t.source_model for t in traces if t.source_model}))
            if lab_name is None:
                # Labellers record their name on the traces; one name throughout identifies it.
                names = {t.metadata.get("labeller") for t in traces}
                if len(names) == 1 and isinstance(next(iter(names)), str):
                    lab_name = next(iter(names))
        else:
            if isinstance(x, list) and any(isinstance(t, Trace) for t in x):
                raise InvalidArgumentError(f"{where}: a mix of Trace objects and other items")
            try:
                N = np.asarray(x, dtype=np.float64)
            except (TypeError, ValueError):
                raise InvalidArgumentError(
                    f"{where}: expected a (k, k) count matrix, a TransitionTally or a list of Trace, "
                    f"got {type(x).__name__}"
                ) from None
            tally, sources = None, ()
    k = len(states)
    if N.ndim != 2 or N.shape[0] != N.shape[1]:
        raise InvalidArgumentError(f"{where}: counts must be a square (k, k) matrix, got shape {N.shape}")
    if N.shape[0] != k:
        raise InvalidArgumentError(
            f"{where}: counts are {N.shape[0]}x{N.shape[1]} but there are {k} states "
            f"{[s.value for s in states]}"
        )
    bad = ~np.isfinite(N) | (N < 0)
    if bad.any():
        i, j = map(int, np.argwhere(bad)[0])
        raise InvalidArgumentError(
            f"{where}: counts[{i}, {j}] ({states[i].value}->{states[j].value}) = {float(N[i, j])!r} "
            "is not a finite non-negative number"
        )
    frac = N != np.round(N)
    if frac.any():
        # The multinomial likelihood needs whole counts, and PyMC would truncate fractional
        # observations to integers without a word; refuse instead of altering the data.
        i, j = map(int, np.argwhere(frac)[0])
        raise InvalidArgumentError(
            f"{where}: counts[{i}, {j}] = {float(N[i, j])!r} is not a whole number; the PyMC fits "
            "need integer counts (use metacot.graphs.fit.fit_dirichlet for weighted counts)"
        )
    if N.sum() == 0:
        raise InvalidArgumentError(f"{where}: every count is zero, so there is nothing to fit")
    return SourceData(counts=N, tally=tally, labeller=lab_name, sources=sources)


def as_prior(prior: Any, k: int, name: str) -> np.ndarray:
    """A scalar or ``(k, k)`` Dirichlet concentration as a ``(k, k)`` array, every entry finite and > 0."""
    a0 = np.asarray(prior, dtype=np.float64)
    if a0.ndim == 0:
        a0 = np.full((k, k), float(a0))
    if a0.shape != (k, k):
        raise InvalidArgumentError(f"{name} must be a scalar or have shape ({k}, {k}), got {a0.shape}")
    bad = ~np.isfinite(a0) | (a0 <= 0)
    if bad.any():
        i, j = map(int, np.argwhere(bad)[0])
        # Unlike the closed form, a sampled Dirichlet needs a proper prior on every entry.
        raise InvalidArgumentError(f"{name}[{i}, {j}] = {float(a0[i, j])!r} must be finite and > 0")
    return a0


def tally_extra(t: TransitionTally | None) -> dict[str, int]:
    """Trace, step, unlabelled-step and skipped-pair counts of a tally, for provenance (empty without one)."""
    if t is None:
        return {}
    return {"n_traces": t.n_traces, "n_steps": t.n_steps, "n_unlabelled": t.n_unlabelled,
            "n_pairs_skipped": t.n_pairs_skipped}


def step_marginal(t: TransitionTally | None) -> np.ndarray | None:
    """The behaviour frequencies of the steps of a tally, ``None`` when only counts were given."""
    # Counts alone do not give the step frequencies (a trace's first or last step is missing from
    # one side of the transitions), so the marginal is known only when traces were given.
    if t is None or t.step_counts.sum() == 0:
        return None
    return t.marginal


# --------------------------------------------------------------------------------- one source
@dataclass(frozen=True)
class PyMCFit:
    r"""Result of :func:`fit_pymc`: NUTS draws of a transition matrix under a row-wise Dirichlet prior.

    Attributes
    ----------
    idata : arviz.InferenceData
        The full run; ``idata.posterior["p"]`` has dims ``(chain, draw, from, to)``. (An xarray
        container: treat it as read-only.)
    graph : BehaviourGraph
        The posterior mean as a graph, ``provenance.method == "pymc"``.
    mean, sd, mcse : ndarray, shape (k, k)
        Posterior mean and standard deviation of every :math:`P_{ij}` from the draws, and the Monte
        Carlo standard error of the mean (:func:`arviz.mcse`, roughly sd / sqrt(bulk ESS)).
    counts : ndarray, shape (k, k)
        The counts fitted.
    prior : ndarray, shape (k, k)
        Prior concentration :math:`\alpha^0`.
    states : tuple of Behaviour
    diagnostics : Diagnostics
    seconds : float
        Wall time of model build, compilation and sampling.
    """

    idata: Any
    graph: BehaviourGraph
    mean: np.ndarray
    sd: np.ndarray
    mcse: np.ndarray
    counts: np.ndarray
    prior: np.ndarray
    states: tuple[Behaviour, ...]
    diagnostics: Diagnostics
    seconds: float

    @property
    def closed_form(self) -> DirichletPosterior:
        r"""The exact posterior :math:`\mathrm{Dir}(N_{i\cdot} + \alpha^0_{i\cdot})` the sampler targets."""
        return fit_dirichlet(self.counts, self.prior, self.states)


def fit_pymc(
    data: Any,
    prior: float | Any = 1.0,
    *,
    states: Sequence[Behaviour | str] = BEHAVIOURS,
    labeller: Any = None,
    draws: int = DEFAULT_NUTS.draws,
    tune: int = DEFAULT_NUTS.tune,
    chains: int = DEFAULT_NUTS.chains,
    cores: int = DEFAULT_NUTS.cores,
    seed: Any = 0,
    target_accept: float = DEFAULT_NUTS.target_accept,
    nuts_sampler: str = DEFAULT_NUTS.nuts_sampler,
    progress: bool = DEFAULT_NUTS.progress,
    check: Literal["warn", "raise", "ignore"] = DEFAULT_NUTS.check,
) -> PyMCFit:
    r"""Posterior of one source's transition matrix by NUTS (PyMC), with a row-wise Dirichlet prior.

    The model is

    .. math::
        P_{i\cdot} \sim \mathrm{Dir}(\alpha^0_{i\cdot}), \qquad
        N_{i\cdot} \mid P \sim \mathrm{Mult}(N_{i\cdot\cdot}, P_{i\cdot}), \qquad i = 1, \dots, k,

    with :math:`N_{i\cdot\cdot} = \sum_j N_{ij}` transitions out of state :math:`i`. This is the
    Markov-chain likelihood: given the first behaviour of every trace, the probability of the
    labelled sequences is

    .. math::
        \prod_{\text{traces}} \prod_t P_{b_t b_{t+1}} = \prod_{i,j} P_{ij}^{N_{ij}}
        = \prod_i \Bigl[\binom{N_{i\cdot\cdot}}{N_{i1}, \dots, N_{ik}}^{-1}
          \mathrm{Mult}(N_{i\cdot};\, N_{i\cdot\cdot}, P_{i\cdot})\Bigr],

    which factorises over rows and differs from the product of multinomials only by the
    multinomial coefficients, constants in :math:`P`. (The law of the first behaviour is a separate
    parameter and is not modelled.) Rows are therefore independent a posteriori and conjugate,
    :math:`P_{i\cdot} \mid N \sim \mathrm{Dir}(N_{i\cdot} + \alpha^0_{i\cdot})`: the posterior mean
    must agree with :func:`metacot.graphs.fit.fit_dirichlet` up to Monte Carlo error
    (:attr:`PyMCFit.closed_form` gives it). Rows without counts keep their prior.

    Parameters
    ----------
    data : array_like (k, k), TransitionTally or sequence of Trace
        Whole, non-negative transition counts, or traces (counted with
        :func:`metacot.graphs.fit.tally_transitions`).
    prior : float or array_like, shape (k, k), default 1.0
        :math:`\alpha^0`, every entry > 0 (1 is uniform on each row).
    states : sequence of Behaviour or str
        Row/column order, :data:`~metacot.behaviours.BEHAVIOURS` by default; at least two.
    labeller : callable or object with ``.label``, optional
        Applied to traces first (as in :func:`metacot.graphs.fit.fit_graph`).
    draws, tune, chains, cores : int
        Kept draws and warm-up steps per chain, number of chains (at least 2, for
        :math:`\hat R`), and processes.
    seed : int or numpy.random.Generator
        Fixes the run: the same seed gives the same draws.
    target_accept : float in (0, 1)
        NUTS step-size adaptation target.
    nuts_sampler : {"pymc", "nutpie", "numpyro", "blackjax"}
        Passed to :func:`pymc.sample`; the others need their own packages.
    progress : bool
        Show PyMC's progress bar and log lines.
    check : {"warn", "raise", "ignore"}
        What a failed convergence check does (:meth:`Diagnostics.check` with defaults
        :math:`\hat R \le 1.01`, bulk and tail ESS :math:`\ge 100` per chain, no divergences).

    Returns
    -------
    PyMCFit

    Raises
    ------
    InvalidArgumentError
        Empty, non-square, negative, fractional or mismatched counts; a prior entry :math:`\le 0`;
        bad sampler arguments.
    MissingDependencyError
        PyMC or ArviZ not installed (``pip install metacot[bayes]``).
    ConvergenceError
        With ``check="raise"``, when the run fails a convergence check.

    Examples
    --------
    >>> fit = fit_pymc([[30, 10], [5, 15]], states=["normal", "deep"], draws=500, seed=0)  # doctest: +SKIP
    >>> np.abs(fit.mean - fit.closed_form.mean).max() < 5 * fit.mcse.max()                # doctest: +SKIP
    True
    """
    states_t = as_states(states)
    if len(states_t) < 2:
        raise InvalidArgumentError("fit_pymc needs at least two states (one state has P = [[1]])")
    d = as_source_data(data, states_t, labeller, "data")
    k = len(states_t)
    a0 = as_prior(prior, k, "prior")
    nuts = NUTSSettings(draws, tune, chains, cores, target_accept, nuts_sampler, progress, check)
    sampler_seed, _ = NUTSSettings.seeds(seed)
    pm, az = import_bayes()

    started = time.perf_counter()
    N = d.counts
    n = N.sum(axis=1)
    rows = np.flatnonzero(n > 0)
    names = [s.value for s in states_t]
    with pm.Model(coords={"from": names, "to": names, "observed_from": [names[i] for i in rows]}) as model:
        p = pm.Dirichlet("p", a=a0, dims=("from", "to"))
        pm.Multinomial(
            "N", n=n[rows].astype(np.int64), p=p[rows], observed=N[rows].astype(np.int64),
            dims=("observed_from", "to"),
        )
    idata = nuts.sample(pm, model, sampler_seed)
    seconds = time.perf_counter() - started

    draws_p = np.asarray(idata.posterior["p"].values, dtype=np.float64)  # (chain, draw, k, k)
    mean = draws_p.mean(axis=(0, 1))
    sd = draws_p.std(axis=(0, 1), ddof=1)
    mcse = np.asarray(az.mcse(idata.posterior[["p"]], method="mean")["p"].values, dtype=np.float64)
    diag = diagnostics(az, idata, ["p"])
    # stacklevel 3: the warning points at the caller of the fit, not at this line.
    diag.check(nuts.check, stacklevel=3)
    prov = Provenance.now(
        method="pymc",
        sources=d.sources,
        labeller=d.labeller,
        notes="posterior mean of NUTS draws under independent Dirichlet row priors",
        extra={
            **tally_extra(d.tally),
            **nuts.provenance(seed, diag, seconds),
            "prior": float(a0[0, 0]) if np.all(a0 == a0[0, 0]) else a0.tolist(),
        },
    )
    graph = BehaviourGraph(P=mean, states=states_t, counts=N, marginal=step_marginal(d.tally), provenance=prov)
    return PyMCFit(
        idata=idata,
        graph=graph,
        mean=_readonly(mean),
        sd=_readonly(sd),
        mcse=_readonly(mcse),
        counts=_readonly(N.copy()),
        prior=_readonly(a0),
        states=states_t,
        diagnostics=diag,
        seconds=seconds,
    )
