r"""Bayesian behaviour graphs fitted with PyMC: one source, or many sources with partial pooling.

Chen et al. (2026) fit one transition matrix per teacher model and compare teachers by Pearson's
:math:`r`. When the traces of several teachers (the *sources*) are at hand, a hierarchical model
says more: it estimates every teacher's matrix, a population matrix they scatter around, and, per
row, how tightly they scatter. That tightness, the concentration :math:`\kappa_i`, is the
*pooling strength*: large :math:`\kappa_i` means the sources share row :math:`i` and their counts
are pooled; small :math:`\kappa_i` means the sources disagree on that row beyond what their counts
can explain by chance, i.e. they are structurally incompatible there.

* :func:`fit_pymc` -- one source: independent Dirichlet priors on the rows and a multinomial
  likelihood per row, sampled with NUTS. The exact answer is known in closed form
  (:func:`metacot.graphs.fit.fit_dirichlet`), so this fit is the check that the sampling machinery is
  right.
* :func:`fit_hierarchical` -- many sources: per row a population mean :math:`m_i` and a
  concentration :math:`\kappa_i`; every source's row is a draw :math:`\mathrm{Dir}(\kappa_i m_i)`.
  Returns per-source graphs, the population graph, the posterior of :math:`\kappa` and
  convergence diagnostics (:math:`\hat R`, bulk and tail ESS, divergences).
* :func:`by_source` -- group traces by :attr:`~metacot.traces.core.Trace.source_model`.

PyMC and ArviZ are optional (``pip install metacot[bayes]``) and imported only when a fit runs.
PyTensor compiles the model to C on first use (about 25-50 s on a cold cache, under a second
afterwards; the cache lives in ``~/.pytensor``).

Examples
--------
>>> fit = fit_pymc([[30, 10], [5, 15]], states=["normal", "deep"], seed=0)  # doctest: +SKIP
>>> fit.mean.round(2).tolist()                                               # doctest: +SKIP
[[0.74, 0.26], [0.27, 0.73]]
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import math
import time
import types
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from metacot._checks import readonly as _readonly
from metacot.behaviours import BEHAVIOURS, Behaviour
from metacot.errors import ConvergenceError, InvalidArgumentError, MissingDependencyError
from metacot.graphs.fit import (
    DirichletPosterior,
    TransitionTally,
    _apply_labeller,
    _as_seed,
    _as_states,
    _labeller_name,
    fit_dirichlet,
    tally_transitions,
)
from metacot.graphs.graph import BehaviourGraph, Provenance
from metacot.traces.core import Trace

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DEFAULT_KAPPA_PRIOR",
    "ESS_PER_CHAIN",
    "R_HAT_MAX",
    "ConvergenceError",
    "ConvergenceWarning",
    "Diagnostics",
    "HierarchicalFit",
    "PyMCFit",
    "by_source",
    "fit_hierarchical",
    "fit_pymc",
]

#: Largest acceptable rank-normalised split :math:`\hat R` (Vehtari et al., 2021, recommend 1.01).
R_HAT_MAX = 1.01
#: Smallest acceptable bulk and tail ESS *per chain*; Vehtari et al. (2021) ask for 100 per chain
#: (400 with their four chains) before trusting quantiles and their Monte Carlo errors.
ESS_PER_CHAIN = 100
#: Default prior of the pooling strength: :math:`\log\kappa_i \sim \mathcal N(\log 100, 2^2)`.
DEFAULT_KAPPA_PRIOR = (math.log(100.0), 2.0)

_INSTALL_HINT = "pip install metacot[bayes]"


class ConvergenceWarning(UserWarning):
    """NUTS output failed a convergence check, and the caller asked for a warning, not an error."""


# --------------------------------------------------------------------------------- optional deps
def _import_bayes() -> tuple[types.ModuleType, types.ModuleType]:
    try:
        with warnings.catch_warnings():
            # ArviZ 0.2x announces its 1.0 refactor with a FutureWarning on every import.
            warnings.simplefilter("ignore", FutureWarning)
            # PyMC first: it is the likelier one to be missing, and ArviZ is slow to import.
            pm = importlib.import_module("pymc")
            az = importlib.import_module("arviz")
    except ImportError as e:
        missing = getattr(e, "name", None) or str(e)
        raise MissingDependencyError(
            f"the PyMC fits need PyMC and ArviZ ({missing!r} could not be imported); "
            f"install them with `{_INSTALL_HINT}`"
        ) from e
    return pm, az


@contextlib.contextmanager
def _quiet_pymc(quiet: bool) -> Iterator[None]:
    # PyMC logs its sampler choice and timing at INFO on every call; with progress=False the
    # caller asked for silence, so lift the level for the duration of one fit only.
    logger = logging.getLogger("pymc")
    old = logger.level
    if quiet:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(old)


# --------------------------------------------------------------------------------- input handling
@dataclass(frozen=True)
class _Data:
    counts: np.ndarray  # float64 (k, k), integer-valued
    tally: TransitionTally | None
    labeller: str | None
    sources: tuple[str, ...]


def _is_trace_input(x: Any) -> bool:
    return isinstance(x, (list, tuple)) and len(x) > 0 and all(isinstance(t, Trace) for t in x)


def _as_data(x: Any, states: tuple[Behaviour, ...], labeller: Any, where: str) -> _Data:
    """Counts (and the tally behind them, when traces were given) of one source."""
    lab_name = None if labeller is None else _labeller_name(labeller)
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
            traces = _apply_labeller(labeller, x) if labeller is not None else list(x)
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
    return _Data(counts=N, tally=tally, labeller=lab_name, sources=sources)


def _as_prior(prior: Any, k: int, name: str) -> np.ndarray:
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


def _positive_int(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidArgumentError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _sampler_args(draws: Any, tune: Any, chains: Any, cores: Any, target_accept: Any) -> dict[str, Any]:
    ta = float(target_accept)
    if not 0.0 < ta < 1.0:
        raise InvalidArgumentError(f"target_accept must lie in (0, 1), got {target_accept!r}")
    return {
        "draws": _positive_int(draws, "draws"),
        "tune": _positive_int(tune, "tune", minimum=0),
        # R-hat compares chains with one another, so a single chain could not be checked.
        "chains": _positive_int(chains, "chains", minimum=2),
        "cores": _positive_int(cores, "cores"),
        "target_accept": ta,
    }


def _check_mode(check: Any) -> str:
    if check not in ("warn", "raise", "ignore"):
        raise InvalidArgumentError(f"check must be 'warn', 'raise' or 'ignore', got {check!r}")
    return check


def _seeds(seed: Any) -> tuple[int, np.random.Generator]:
    rng = _as_seed(seed)
    # One integer for PyMC's own streams, then the same generator for draws made here.
    return int(rng.integers(2**31 - 1)), rng


# --------------------------------------------------------------------------------- diagnostics
@dataclass(frozen=True)
class Diagnostics:
    r"""Convergence diagnostics of a NUTS run, worst case over every monitored scalar.

    :math:`\hat R` is the rank-normalised split-:math:`\hat R` and the ESS are the bulk and tail
    effective sample sizes of Vehtari, Gelman, Simpson, Carpenter and Bürkner (2021),
    *Rank-normalization, folding, and localization: an improved* :math:`\hat R`, as computed by
    :func:`arviz.rhat` and :func:`arviz.ess`.

    Attributes
    ----------
    r_hat_max : float
        Largest :math:`\hat R`; ``r_hat_worst`` names the scalar (``"kappa[reflect]"``, ...).
    ess_bulk_min, ess_tail_min : float
        Smallest bulk and tail ESS; ``ess_worst`` names the scalar with the smallest bulk ESS.
    n_divergences : int
        Post-warm-up divergent transitions, summed over chains.
    n_chains, n_draws : int
        Chains, and kept draws per chain.
    r_hat_worst, ess_worst : str

    Examples
    --------
    >>> d = Diagnostics(1.002, 850.0, 700.0, 0, 2, 500, "p[normal, deep]", "p[deep, deep]")
    >>> d.ok(), d.problems()
    (True, [])
    >>> Diagnostics(1.05, 80.0, 90.0, 3, 2, 500, "kappa[deep]", "kappa[deep]").problems()[0]
    'max r_hat 1.05 > 1.01 (at kappa[deep])'
    """

    r_hat_max: float
    ess_bulk_min: float
    ess_tail_min: float
    n_divergences: int
    n_chains: int
    n_draws: int
    r_hat_worst: str = ""
    ess_worst: str = ""

    def problems(
        self, r_hat_max: float = R_HAT_MAX, ess_min: float | None = None, max_divergences: int = 0
    ) -> list[str]:
        r"""Every failed check, in words; empty when the run passes.

        Parameters
        ----------
        r_hat_max : float, default :data:`R_HAT_MAX` (1.01)
        ess_min : float, optional
            Smallest acceptable bulk and tail ESS; default :data:`ESS_PER_CHAIN` per chain,
            :math:`100\,C` for :math:`C` chains.
        max_divergences : int, default 0
            Any divergence means NUTS met curvature it could not follow, so by default one fails.

        Examples
        --------
        >>> Diagnostics(1.0, 150.0, 300.0, 0, 2, 500).problems()
        ['min bulk ESS 150 < 200 (at ?)']
        """
        ess_min = ESS_PER_CHAIN * self.n_chains if ess_min is None else float(ess_min)
        out = []
        if not self.r_hat_max <= r_hat_max:  # also catches nan
            out.append(f"max r_hat {self.r_hat_max:.4g} > {r_hat_max:g} (at {self.r_hat_worst or '?'})")
        if not self.ess_bulk_min >= ess_min:
            out.append(f"min bulk ESS {self.ess_bulk_min:.0f} < {ess_min:g} (at {self.ess_worst or '?'})")
        if not self.ess_tail_min >= ess_min:
            out.append(f"min tail ESS {self.ess_tail_min:.0f} < {ess_min:g}")
        if self.n_divergences > max_divergences:
            out.append(f"{self.n_divergences} divergent transitions (allowed {max_divergences})")
        return out

    def ok(self, r_hat_max: float = R_HAT_MAX, ess_min: float | None = None, max_divergences: int = 0) -> bool:
        """Whether :meth:`problems` finds nothing (same parameters)."""
        return not self.problems(r_hat_max, ess_min, max_divergences)

    def check(
        self,
        action: Literal["warn", "raise", "ignore"] = "raise",
        r_hat_max: float = R_HAT_MAX,
        ess_min: float | None = None,
        max_divergences: int = 0,
        stacklevel: int = 2,
    ) -> Diagnostics:
        """Warn (:class:`ConvergenceWarning`) or raise (:class:`ConvergenceError`) on any problem.

        Returns ``self``, so it chains: ``fit.diagnostics.check("raise")``. The thresholds are
        those of :meth:`problems`; ``stacklevel`` is passed to :func:`warnings.warn`.

        Examples
        --------
        >>> Diagnostics(1.2, 10.0, 10.0, 0, 2, 100).check("raise")
        Traceback (most recent call last):
        ...
        metacot.errors.ConvergenceError: NUTS did not converge: max r_hat 1.2 > 1.01 (at ?); ...
        """
        _check_mode(action)
        found = self.problems(r_hat_max, ess_min, max_divergences)
        if found and action != "ignore":
            msg = "NUTS did not converge: " + "; ".join(found) + " (run longer: more tune/draws)"
            if action == "raise":
                raise ConvergenceError(msg)
            warnings.warn(msg, ConvergenceWarning, stacklevel=stacklevel)
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (for provenance and verdict files)."""
        return {
            "r_hat_max": float(self.r_hat_max),
            "ess_bulk_min": float(self.ess_bulk_min),
            "ess_tail_min": float(self.ess_tail_min),
            "n_divergences": int(self.n_divergences),
            "n_chains": int(self.n_chains),
            "n_draws": int(self.n_draws),
            "r_hat_worst": self.r_hat_worst,
            "ess_worst": self.ess_worst,
        }


def _label(da: Any, flat_index: int) -> str:
    idx = np.unravel_index(flat_index, da.shape) if da.ndim else ()
    parts = [str(da.coords[d].values[i]) if d in da.coords else str(i) for d, i in zip(da.dims, idx)]
    return f"{da.name}[{', '.join(parts)}]" if parts else str(da.name)


def _extreme(ds: Any, largest: bool) -> tuple[float, str]:
    best, where = (-math.inf if largest else math.inf), ""
    for da in ds.data_vars.values():
        v = np.asarray(da.values, dtype=np.float64)
        if v.size == 0:
            continue
        if np.isnan(v).any():
            # ArviZ gives nan r_hat/ESS for a stuck (constant) chain: that is a failure, not a skip.
            return math.nan, _label(da, int(np.flatnonzero(np.isnan(v.ravel()))[0]))
        flat = int(np.argmax(v) if largest else np.argmin(v))
        val = float(v.ravel()[flat])
        if (val > best) if largest else (val < best):
            best, where = val, _label(da, flat)
    return best, where


def _diagnostics(az: Any, idata: Any, var_names: Sequence[str]) -> Diagnostics:
    post = idata.posterior[list(var_names)]
    r_hat, r_where = _extreme(az.rhat(post), largest=True)
    bulk, b_where = _extreme(az.ess(post, method="bulk"), largest=False)
    tail, _ = _extreme(az.ess(post, method="tail"), largest=False)
    div = int(idata.sample_stats["diverging"].values.sum()) if "diverging" in idata.sample_stats else 0
    return Diagnostics(
        r_hat_max=r_hat,
        ess_bulk_min=bulk,
        ess_tail_min=tail,
        n_divergences=div,
        n_chains=int(post.sizes["chain"]),
        n_draws=int(post.sizes["draw"]),
        r_hat_worst=r_where,
        ess_worst=b_where,
    )


def _sample(pm: Any, model: Any, args: dict[str, Any], sampler_seed: int, progress: bool, nuts_sampler: str):
    with model, _quiet_pymc(not progress):
        return pm.sample(
            **args,
            random_seed=sampler_seed,
            progressbar=progress,
            nuts_sampler=nuts_sampler,
            # Diagnostics are computed below, once, and reported through Diagnostics.check.
            compute_convergence_checks=False,
        )


def _provenance_extra(args: dict[str, Any], seed: Any, diag: Diagnostics, seconds: float, nuts: str) -> dict:
    return {
        "draws": args["draws"],
        "tune": args["tune"],
        "chains": args["chains"],
        "target_accept": args["target_accept"],
        "seed": int(seed) if isinstance(seed, (int, np.integer)) else None,
        "nuts_sampler": nuts,
        "seconds": round(float(seconds), 3),
        "diagnostics": diag.to_dict(),
    }


def _tally_extra(t: TransitionTally | None) -> dict[str, int]:
    if t is None:
        return {}
    return {"n_traces": t.n_traces, "n_steps": t.n_steps, "n_unlabelled": t.n_unlabelled,
            "n_pairs_skipped": t.n_pairs_skipped}


def _marginal(t: TransitionTally | None) -> np.ndarray | None:
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
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 2,
    cores: int = 1,
    seed: Any = 0,
    target_accept: float = 0.8,
    nuts_sampler: str = "pymc",
    progress: bool = False,
    check: Literal["warn", "raise", "ignore"] = "warn",
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
    states_t = _as_states(states)
    if len(states_t) < 2:
        raise InvalidArgumentError("fit_pymc needs at least two states (one state has P = [[1]])")
    d = _as_data(data, states_t, labeller, "data")
    k = len(states_t)
    a0 = _as_prior(prior, k, "prior")
    args = _sampler_args(draws, tune, chains, cores, target_accept)
    check = _check_mode(check)
    sampler_seed, _ = _seeds(seed)
    pm, az = _import_bayes()

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
    idata = _sample(pm, model, args, sampler_seed, progress, nuts_sampler)
    seconds = time.perf_counter() - started

    draws_p = np.asarray(idata.posterior["p"].values, dtype=np.float64)  # (chain, draw, k, k)
    mean = draws_p.mean(axis=(0, 1))
    sd = draws_p.std(axis=(0, 1), ddof=1)
    mcse = np.asarray(az.mcse(idata.posterior[["p"]], method="mean")["p"].values, dtype=np.float64)
    diag = _diagnostics(az, idata, ["p"])
    # stacklevel 3: the warning points at the caller of the fit, not at this line.
    diag.check(check, stacklevel=3)
    prov = Provenance.now(
        method="pymc",
        sources=d.sources,
        labeller=d.labeller,
        notes="posterior mean of NUTS draws under independent Dirichlet row priors",
        extra={
            **_tally_extra(d.tally),
            **_provenance_extra(args, seed, diag, seconds, nuts_sampler),
            "prior": float(a0[0, 0]) if np.all(a0 == a0[0, 0]) else a0.tolist(),
        },
    )
    graph = BehaviourGraph(P=mean, states=states_t, counts=N, marginal=_marginal(d.tally), provenance=prov)
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


# --------------------------------------------------------------------------------- many sources
def by_source(traces: Iterable[Trace]) -> dict[str, list[Trace]]:
    """Group traces by :attr:`~metacot.traces.core.Trace.source_model`, in order of first appearance.

    Parameters
    ----------
    traces : iterable of Trace

    Returns
    -------
    dict
        Source name -> its traces in input order.

    Raises
    ------
    InvalidArgumentError
        An item that is not a Trace, or a trace without ``source_model`` (it belongs to no source).

    Examples
    --------
    >>> from metacot.traces.core import Step, Trace
    >>> ts = [Trace(f"t{i}", "q", (Step("a", 0, 1, "normal"),), "a", source_model=m)
    ...       for i, m in enumerate(["R1", "QwQ", "R1"])]
    >>> {k: len(v) for k, v in by_source(ts).items()}
    {'R1': 2, 'QwQ': 1}
    """
    out: dict[str, list[Trace]] = {}
    for n, t in enumerate(traces):
        if not isinstance(t, Trace):
            raise InvalidArgumentError(f"item {n} is a {type(t).__name__}, not a metacot Trace")
        if not t.source_model:
            raise InvalidArgumentError(f"trace {t.trace_id!r} (item {n}) has no source_model")
        out.setdefault(t.source_model, []).append(t)
    return out


def _dirichlet_draws(rng: np.random.Generator, alpha: np.ndarray) -> np.ndarray:
    r"""Dirichlet draws along the last axis, safe for tiny concentrations.

    Uses :math:`G_\alpha \overset{d}{=} G_{\alpha+1} U^{1/\alpha}` in log space: a plain gamma draw
    with :math:`\alpha \ll 1` underflows to 0 and a row of zeros cannot be normalised.
    """
    log_g = np.log(rng.gamma(alpha + 1.0)) + np.log(rng.random(alpha.shape)) / alpha
    log_g -= log_g.max(axis=-1, keepdims=True)
    g = np.exp(log_g)
    return g / g.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class HierarchicalFit:
    r"""Result of :func:`fit_hierarchical`.

    Attributes
    ----------
    idata : arviz.InferenceData
        The run. ``posterior`` holds ``m`` (dims ``from, to``), ``kappa`` (``from``) and ``p``
        (``source, from, to``; exact conditional draws, see :func:`fit_hierarchical`). Treat it as
        read-only.
    sources : tuple of str
        Source names, in the order of the input mapping.
    states : tuple of Behaviour
    counts : ndarray, shape (S, k, k)
        Counts per source.
    graphs : mapping str -> BehaviourGraph
        Per-source posterior-mean graphs (read-only mapping), ``provenance.method == "hierarchical"``.
    population : BehaviourGraph
        Posterior mean of the population rows :math:`m_i` (the expected row of a new source), with
        the pooled counts.
    p_mean, p_sd : ndarray, shape (S, k, k)
        Posterior mean and standard deviation of every source's :math:`p_{s,ij}`.
    diagnostics : Diagnostics
        Over ``m``, ``kappa`` and ``p``.
    kappa_prior : (float, float)
        :math:`(\mu, \sigma)` of the log-normal prior on :math:`\kappa_i`.
    seconds : float
        Wall time of model build, compilation and sampling.
    """

    idata: Any
    sources: tuple[str, ...]
    states: tuple[Behaviour, ...]
    counts: np.ndarray
    graphs: Mapping[str, BehaviourGraph]
    population: BehaviourGraph
    p_mean: np.ndarray
    p_sd: np.ndarray
    diagnostics: Diagnostics
    kappa_prior: tuple[float, float]
    seconds: float

    def kappa_draws(self) -> np.ndarray:
        """Posterior draws of :math:`\\kappa`, shape ``(chains * draws, k)`` (a copy)."""
        k = self.idata.posterior["kappa"].values
        return np.asarray(k, dtype=np.float64).reshape(-1, k.shape[-1]).copy()

    @property
    def concentration(self) -> pd.DataFrame:
        r"""Posterior summary of the pooling strength :math:`\kappa_i`, one row per behaviour.

        Columns ``mean``, ``sd``, ``q05``, ``median``, ``q95`` (equal-tailed 90% interval),
        ``prior_median`` (:math:`e^\mu`), ``r_hat``, ``ess_bulk``, ``ess_tail``. Read it as a
        number of pseudo-counts: each source's row behaves like :math:`\kappa_i` transitions drawn
        from the population row, so large :math:`\kappa_i` (relative to the counts) pools the
        sources and small :math:`\kappa_i` keeps them apart. With few sources :math:`\kappa` is
        weakly identified and its interval wide; a posterior median near the prior median means
        the data said little. A fresh table each call.
        """
        import pandas as pd

        _, az = _import_bayes()
        kd = self.kappa_draws()
        post = self.idata.posterior[["kappa"]]
        return pd.DataFrame(
            {
                "mean": kd.mean(axis=0),
                "sd": kd.std(axis=0, ddof=1),
                "q05": np.quantile(kd, 0.05, axis=0),
                "median": np.median(kd, axis=0),
                "q95": np.quantile(kd, 0.95, axis=0),
                "prior_median": math.exp(self.kappa_prior[0]),
                "r_hat": az.rhat(post)["kappa"].values,
                "ess_bulk": az.ess(post, method="bulk")["kappa"].values,
                "ess_tail": az.ess(post, method="tail")["kappa"].values,
            },
            index=pd.Index([s.value for s in self.states], name="from"),
        )

    def check_convergence(
        self,
        action: Literal["warn", "raise", "ignore"] = "raise",
        r_hat_max: float = R_HAT_MAX,
        ess_min: float | None = None,
        max_divergences: int = 0,
    ) -> HierarchicalFit:
        """:meth:`Diagnostics.check` on this fit; returns ``self``."""
        self.diagnostics.check(action, r_hat_max, ess_min, max_divergences, stacklevel=3)
        return self


def fit_hierarchical(
    data: Mapping[str, Any],
    *,
    states: Sequence[Behaviour | str] = BEHAVIOURS,
    labeller: Any = None,
    population_prior: float | Any = 1.0,
    kappa_prior: tuple[float, float] = DEFAULT_KAPPA_PRIOR,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 2,
    cores: int = 1,
    seed: Any = 0,
    target_accept: float = 0.9,
    nuts_sampler: str = "pymc",
    progress: bool = False,
    check: Literal["warn", "raise", "ignore"] = "warn",
) -> HierarchicalFit:
    r"""Hierarchical Bayesian behaviour graphs across sources, with partial pooling of their rows.

    For every row (current behaviour) :math:`i` and source :math:`s = 1, \dots, S`:

    .. math::
        m_{i\cdot} &\sim \mathrm{Dir}(\beta_{i\cdot}) && \text{population row (} \beta \text{ = ``population_prior``)}\\
        \log \kappa_i &\sim \mathcal N(\mu, \sigma^2) && \text{pooling strength}\\
        p_{s,i\cdot} \mid m, \kappa &\sim \mathrm{Dir}(\kappa_i\, m_{i\cdot}) && \text{source row}\\
        N_{s,i\cdot} \mid p &\sim \mathrm{Mult}(N_{s,i\cdot\cdot},\ p_{s,i\cdot}) && \text{counts}

    (the multinomial is the Markov-chain likelihood of the source's traces; see :func:`fit_pymc`).
    Given :math:`(m_i, \kappa_i)`, the source rows have mean :math:`m_i` and covariance
    :math:`(\operatorname{diag} m_i - m_i m_i^\top)/(\kappa_i + 1)`, so :math:`\kappa_i` is the
    pooling strength: as :math:`\kappa_i \to \infty` every source has row :math:`m_i` (complete
    pooling), as :math:`\kappa_i \to 0` the rows are unrelated (no pooling).

    **Parameterisation.** A Dirichlet drawn inside a Dirichlet gives NUTS a funnel where
    :math:`\kappa_i` is small. The source rows are conjugate, so they are integrated out and NUTS
    samples only :math:`(m, \log\kappa)` -- :math:`k^2` unconstrained numbers, whatever :math:`S` --
    under the Dirichlet-multinomial likelihood

    .. math::
        \Pr(N_{s,i\cdot} \mid m_i, \kappa_i) \propto
        \frac{\Gamma(\kappa_i)}{\Gamma(N_{s,i\cdot\cdot} + \kappa_i)}
        \prod_j \frac{\Gamma(N_{s,ij} + \kappa_i m_{ij})}{\Gamma(\kappa_i m_{ij})}.

    The source rows are then drawn exactly from their conditional posterior
    :math:`p_{s,i\cdot} \mid m, \kappa, N \sim \mathrm{Dir}(N_{s,i\cdot} + \kappa_i m_{i\cdot})`,
    one draw per NUTS draw, and their posterior mean is the Rao-Blackwellised average

    .. math::
        \mathbb E[p_{s,ij} \mid N] \approx \frac{1}{D} \sum_{d=1}^{D}
        \frac{N_{s,ij} + \kappa_i^{(d)} m_{ij}^{(d)}}{N_{s,i\cdot\cdot} + \kappa_i^{(d)}},

    a weighted average of the source's own frequencies and the population row with weight
    :math:`\kappa_i / (N_{s,i\cdot\cdot} + \kappa_i)` on the population: the shrinkage. A source
    with no transitions out of :math:`i` gets the population row.

    **Prior on** :math:`\kappa`. The default :data:`DEFAULT_KAPPA_PRIOR`,
    :math:`\log\kappa_i \sim \mathcal N(\log 100, 2^2)`, is weakly informative: its median of 100
    pseudo-counts sits between "sources differ by tens of percentage points" (:math:`\kappa`
    around 10) and "sources agree to a percentage point" (:math:`\kappa` in the thousands), and
    its central 95% covers :math:`2 \lesssim \kappa \lesssim 5000`. With two or three sources
    there are only one or two between-source differences per row, so :math:`\kappa_i` stays
    uncertain and partly prior-driven; compare its posterior with the prior median
    (:attr:`HierarchicalFit.concentration`).

    Parameters
    ----------
    data : mapping str -> counts, TransitionTally or sequence of Trace
        One entry per source (at least two), each as accepted by :func:`fit_pymc`. Use
        :func:`by_source` to split a trace collection by teacher model.
    states : sequence of Behaviour or str
        At least two.
    labeller : callable or object with ``.label``, optional
        Applied to every trace first.
    population_prior : float or array_like (k, k), default 1.0
        :math:`\beta`, the Dirichlet prior of the population rows (1 = uniform).
    kappa_prior : (float, float), default (log 100, 2)
        :math:`(\mu, \sigma)` of the normal prior on :math:`\log\kappa_i`.
    draws, tune, chains, cores, seed, target_accept, nuts_sampler, progress, check
        As in :func:`fit_pymc`; ``target_accept`` defaults to 0.9 because the posterior of
        :math:`\log\kappa_i` is skewed when the data bound it from one side only.

    Returns
    -------
    HierarchicalFit

    Raises
    ------
    InvalidArgumentError
        Fewer than two sources, a non-str source name, or any input :func:`fit_pymc` refuses
        (the message names the source).
    MissingDependencyError
        PyMC or ArviZ not installed (``pip install metacot[bayes]``).
    ConvergenceError
        With ``check="raise"``, when the run fails a convergence check.

    Examples
    --------
    >>> same = [[80, 20], [30, 70]]
    >>> fit = fit_hierarchical({"a": same, "b": same}, states=["normal", "deep"], seed=0)  # doctest: +SKIP
    >>> fit.graphs["a"].P.round(2).tolist(), fit.concentration["median"].round(-1).tolist()  # doctest: +SKIP
    ([[0.8, 0.2], [0.3, 0.7]], [230.0, 240.0])
    """
    states_t = _as_states(states)
    if len(states_t) < 2:
        raise InvalidArgumentError("fit_hierarchical needs at least two states")
    if not isinstance(data, Mapping):
        raise InvalidArgumentError(
            f"data must be a mapping source -> counts or traces, got {type(data).__name__}; "
            "use by_source(traces) to group traces by model"
        )
    if len(data) < 2:
        raise InvalidArgumentError(
            f"partial pooling needs at least two sources, got {len(data)}; use fit_pymc for one"
        )
    per: dict[str, _Data] = {}
    for name, x in data.items():
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError(f"source names must be non-empty str, got {name!r}")
        per[name] = _as_data(x, states_t, labeller, f"source {name!r}")
    k = len(states_t)
    beta = _as_prior(population_prior, k, "population_prior")
    try:
        mu, sigma = (float(v) for v in kappa_prior)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"kappa_prior must be a pair (mu, sigma), got {kappa_prior!r}") from None
    if not (math.isfinite(mu) and math.isfinite(sigma) and sigma > 0):
        raise InvalidArgumentError(f"kappa_prior needs a finite mu and sigma > 0, got {kappa_prior!r}")
    args = _sampler_args(draws, tune, chains, cores, target_accept)
    check = _check_mode(check)
    sampler_seed, rng = _seeds(seed)
    pm, az = _import_bayes()

    sources = tuple(per)
    N = np.stack([per[s].counts for s in sources])  # (S, k, k)
    n = N.sum(axis=2)  # (S, k)
    names = [s.value for s in states_t]
    started = time.perf_counter()
    with pm.Model(coords={"source": list(sources), "from": names, "to": names}) as model:
        m = pm.Dirichlet("m", a=beta, dims=("from", "to"))
        kappa = pm.LogNormal("kappa", mu=mu, sigma=sigma, dims="from")
        # Rows with no transitions (n = 0) contribute a zero log-likelihood: they are kept so that
        # the array stays rectangular, and their source row falls back on the population row.
        pm.DirichletMultinomial(
            "N",
            n=n.astype(np.int64),
            a=kappa[None, :, None] * m[None, :, :],
            observed=N.astype(np.int64),
            dims=("source", "from", "to"),
        )
    idata = _sample(pm, model, args, sampler_seed, progress, nuts_sampler)
    seconds = time.perf_counter() - started

    m_d = np.asarray(idata.posterior["m"].values, dtype=np.float64)  # (C, D, k, k)
    k_d = np.asarray(idata.posterior["kappa"].values, dtype=np.float64)  # (C, D, k)
    alpha = N[None, None] + k_d[:, :, None, :, None] * m_d[:, :, None, :, :]  # (C, D, S, k, k)
    p_draws = _dirichlet_draws(rng, alpha)
    idata.posterior["p"] = (("chain", "draw", "source", "from", "to"), p_draws)
    # Conditional mean and variance of Dir(alpha), averaged over the draws (law of total variance).
    a0 = alpha.sum(axis=-1, keepdims=True)
    cmean = alpha / a0
    p_mean = cmean.mean(axis=(0, 1))
    cvar = cmean * (1.0 - cmean) / (a0 + 1.0)
    p_sd = np.sqrt(cvar.mean(axis=(0, 1)) + cmean.var(axis=(0, 1)))
    # Every row of p_mean is an average of probability vectors; renormalising only removes
    # floating-point drift of order 1e-16 so BehaviourGraph's row-sum check is never at risk.
    p_mean /= p_mean.sum(axis=-1, keepdims=True)
    m_mean = m_d.mean(axis=(0, 1))
    m_mean /= m_mean.sum(axis=-1, keepdims=True)

    diag = _diagnostics(az, idata, ["m", "kappa", "p"])
    # stacklevel 3: the warning points at the caller of the fit, not at this line.
    diag.check(check, stacklevel=3)
    common = _provenance_extra(args, seed, diag, seconds, nuts_sampler)
    common["kappa_prior"] = [mu, sigma]
    common["population_prior"] = float(beta[0, 0]) if np.all(beta == beta[0, 0]) else beta.tolist()
    k_med = np.median(k_d.reshape(-1, k), axis=0)
    common["kappa_median"] = {s: float(v) for s, v in zip(names, k_med)}
    labellers = {per[s].labeller for s in sources} - {None}
    labeller_name = next(iter(labellers)) if len(labellers) == 1 else (
        None if not labellers else ", ".join(sorted(labellers)))
    graphs = {}
    for si, s in enumerate(sources):
        prov = Provenance.now(
            method="hierarchical",
            sources=(s,),
            labeller=labeller_name,
            notes="posterior mean of one source's rows under partial pooling across sources",
            extra={**_tally_extra(per[s].tally), **common, "pooled_with": list(sources)},
        )
        graphs[s] = BehaviourGraph(
            P=p_mean[si], states=states_t, counts=N[si], marginal=_marginal(per[s].tally), provenance=prov
        )
    tallies = [per[s].tally for s in sources]
    pop_marginal = None
    if all(t is not None for t in tallies):
        steps = np.sum([t.step_counts for t in tallies], axis=0)
        pop_marginal = steps / steps.sum() if steps.sum() > 0 else None
    population = BehaviourGraph(
        P=m_mean,
        states=states_t,
        counts=N.sum(axis=0),
        marginal=pop_marginal,
        provenance=Provenance.now(
            method="hierarchical",
            sources=sources,
            labeller=labeller_name,
            notes="posterior mean of the population rows m (expected row of a new source); "
            "counts and marginal are pooled over the sources",
            extra={**common, "role": "population"},
        ),
    )
    return HierarchicalFit(
        idata=idata,
        sources=sources,
        states=states_t,
        counts=_readonly(N.copy()),
        graphs=types.MappingProxyType(graphs),
        population=population,
        p_mean=_readonly(p_mean),
        p_sd=_readonly(p_sd),
        diagnostics=diag,
        kappa_prior=(mu, sigma),
        seconds=seconds,
    )
