r"""Bayesian behaviour graphs fitted with PyMC: one source, or many sources with partial pooling.

Chen et al. (2026) fit one transition matrix per teacher model and compare teachers by Pearson's
:math:`r`. When the traces of several teachers (the *sources*) are at hand, a hierarchical model
says more: it estimates every teacher's matrix, a population matrix they scatter around, and, per
row, how tightly they scatter. That tightness, the concentration :math:`\kappa_i`, is the
*pooling strength*: large :math:`\kappa_i` means the sources share row :math:`i` and their counts
are pooled; small :math:`\kappa_i` means the sources disagree on that row beyond what their counts
can explain by chance, i.e. they are structurally incompatible there.

* :func:`fit_pymc` (:mod:`metacot.graphs.bayes`) -- one source: independent Dirichlet priors on
  the rows and a multinomial likelihood per row, sampled with NUTS. The exact answer is known in
  closed form (:func:`metacot.graphs.closed_form.fit_dirichlet`), so this fit is the check that the
  sampling machinery is right.
* :func:`fit_hierarchical` -- many sources: per row a population mean :math:`m_i` and a
  concentration :math:`\kappa_i`; every source's row is a draw :math:`\mathrm{Dir}(\kappa_i m_i)`.
  Returns per-source graphs, the population graph, the posterior of :math:`\kappa` and
  convergence diagnostics (:math:`\hat R`, bulk and tail ESS, divergences).
* :func:`by_source` (:mod:`metacot.graphs.counts`) -- group traces by
  :attr:`~metacot.traces.core.Trace.source_model`.

The sampler settings and convergence diagnostics are those of :mod:`metacot.graphs.nuts`; the
public names of :mod:`~metacot.graphs.bayes` and :mod:`~metacot.graphs.nuts` that users took
from this module are re-exported here.

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

import math
import time
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from metacot._checks import readonly as _readonly
from metacot.behaviours import BEHAVIOURS, Behaviour
from metacot.errors import ConvergenceError, InvalidArgumentError
from metacot.graphs.bayes import (
    PyMCFit,
    SourceData,
    as_prior,
    as_source_data,
    fit_pymc,
    step_marginal,
    tally_extra,
)
from metacot.graphs.behaviour_graph import BehaviourGraph
from metacot.graphs.counts import as_states, by_source
from metacot.graphs.nuts import (
    DEFAULT_NUTS,
    ESS_PER_CHAIN,
    R_HAT_MAX,
    ConvergenceWarning,
    Diagnostics,
    NUTSSettings,
    diagnostics,
    import_bayes,
)
from metacot.graphs.provenance import Provenance

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

#: Default prior of the pooling strength: :math:`\log\kappa_i \sim \mathcal N(\log 100, 2^2)`.
DEFAULT_KAPPA_PRIOR = (math.log(100.0), 2.0)


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

        _, az = import_bayes()
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
    draws: int = DEFAULT_NUTS.draws,
    tune: int = DEFAULT_NUTS.tune,
    chains: int = DEFAULT_NUTS.chains,
    cores: int = DEFAULT_NUTS.cores,
    seed: Any = 0,
    target_accept: float = 0.9,
    nuts_sampler: str = DEFAULT_NUTS.nuts_sampler,
    progress: bool = DEFAULT_NUTS.progress,
    check: Literal["warn", "raise", "ignore"] = DEFAULT_NUTS.check,
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
    states_t = as_states(states)
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
    per: dict[str, SourceData] = {}
    for name, x in data.items():
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError(f"source names must be non-empty str, got {name!r}")
        per[name] = as_source_data(x, states_t, labeller, f"source {name!r}")
    k = len(states_t)
    beta = as_prior(population_prior, k, "population_prior")
    try:
        mu, sigma = (float(v) for v in kappa_prior)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"kappa_prior must be a pair (mu, sigma), got {kappa_prior!r}") from None
    if not (math.isfinite(mu) and math.isfinite(sigma) and sigma > 0):
        raise InvalidArgumentError(f"kappa_prior needs a finite mu and sigma > 0, got {kappa_prior!r}")
    nuts = NUTSSettings(draws, tune, chains, cores, target_accept, nuts_sampler, progress, check)
    sampler_seed, rng = NUTSSettings.seeds(seed)
    pm, az = import_bayes()

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
    idata = nuts.sample(pm, model, sampler_seed)
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

    diag = diagnostics(az, idata, ["m", "kappa", "p"])
    # stacklevel 3: the warning points at the caller of the fit, not at this line.
    diag.check(nuts.check, stacklevel=3)
    common = nuts.provenance(seed, diag, seconds)
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
            extra={**tally_extra(per[s].tally), **common, "pooled_with": list(sources)},
        )
        graphs[s] = BehaviourGraph(
            P=p_mean[si], states=states_t, counts=N[si], marginal=step_marginal(per[s].tally), provenance=prov
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
