r"""NUTS through PyMC, as the Bayesian fits of behaviour graphs use it: settings, run, diagnostics.

Both PyMC fits (:func:`metacot.graphs.bayes.fit_pymc` and
:func:`metacot.graphs.hierarchical.fit_hierarchical`) sample with the settings of one
:class:`NUTSSettings` (defaults in :data:`DEFAULT_NUTS`, checked once, run by
:meth:`NUTSSettings.sample`) and judge the run by one :class:`Diagnostics` (rank-normalised
:math:`\hat R`, bulk and tail ESS, divergences; Vehtari et al., 2021).

PyMC and ArviZ are optional (``pip install metacot[bayes]``): :func:`import_bayes` imports them
when a fit runs, or raises :class:`~metacot.errors.MissingDependencyError` naming the extra.

Examples
--------
>>> NUTSSettings(draws=500).draws, DEFAULT_NUTS.chains
(500, 2)
>>> NUTSSettings(chains=1)
Traceback (most recent call last):
...
metacot.errors.InvalidArgumentError: chains must be an int >= 2, got 1
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import math
import types
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from metacot._checks import as_rng, positive_int
from metacot.errors import ConvergenceError, InvalidArgumentError, MissingDependencyError

__all__ = [
    "DEFAULT_NUTS",
    "ESS_PER_CHAIN",
    "R_HAT_MAX",
    "ConvergenceWarning",
    "Diagnostics",
    "NUTSSettings",
    "diagnostics",
    "import_bayes",
]

#: Largest acceptable rank-normalised split :math:`\hat R` (Vehtari et al., 2021, recommend 1.01).
R_HAT_MAX = 1.01
#: Smallest acceptable bulk and tail ESS *per chain*; Vehtari et al. (2021) ask for 100 per chain
#: (400 with their four chains) before trusting quantiles and their Monte Carlo errors.
ESS_PER_CHAIN = 100

_INSTALL_HINT = "pip install metacot[bayes]"


class ConvergenceWarning(UserWarning):
    """NUTS output failed a convergence check, and the caller asked for a warning, not an error."""


# --------------------------------------------------------------------------------- optional deps
def import_bayes() -> tuple[types.ModuleType, types.ModuleType]:
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


def check_mode(check: Any) -> str:
    """``check`` if it is ``"warn"``, ``"raise"`` or ``"ignore"``; an InvalidArgumentError otherwise."""
    if check not in ("warn", "raise", "ignore"):
        raise InvalidArgumentError(f"check must be 'warn', 'raise' or 'ignore', got {check!r}")
    return check


@dataclass(frozen=True)
class NUTSSettings:
    """How NUTS runs: the settings shared by every PyMC fit of the package, checked on creation.

    Attributes
    ----------
    draws, tune : int
        Kept draws (at least 1) and warm-up steps (at least 0) per chain.
    chains : int
        At least 2: :math:`\\hat R` compares chains with one another.
    cores : int
        Processes.
    target_accept : float in (0, 1)
        Step-size adaptation target.
    nuts_sampler : {"pymc", "nutpie", "numpyro", "blackjax"}
        Passed to :func:`pymc.sample`; the others need their own packages.
    progress : bool
        Show PyMC's progress bar and log lines.
    check : {"warn", "raise", "ignore"}
        What a failed convergence check does (:meth:`Diagnostics.check`).
    """

    draws: int = 1000
    tune: int = 1000
    chains: int = 2
    cores: int = 1
    target_accept: float = 0.8
    nuts_sampler: str = "pymc"
    progress: bool = False
    check: Literal["warn", "raise", "ignore"] = "warn"

    def __post_init__(self) -> None:
        ta = self.target_accept
        if isinstance(ta, bool) or not isinstance(ta, (int, float, np.integer, np.floating)) or not 0.0 < float(ta) < 1.0:
            raise InvalidArgumentError(f"target_accept must lie in (0, 1), got {ta!r}")
        object.__setattr__(self, "target_accept", float(ta))
        object.__setattr__(self, "draws", positive_int(self.draws, "draws"))
        object.__setattr__(self, "tune", positive_int(self.tune, "tune", minimum=0))
        object.__setattr__(self, "chains", positive_int(self.chains, "chains", minimum=2))
        object.__setattr__(self, "cores", positive_int(self.cores, "cores"))
        check_mode(self.check)
        if not isinstance(self.nuts_sampler, str):
            raise InvalidArgumentError(f"nuts_sampler must be a str, got {self.nuts_sampler!r}")

    @staticmethod
    def seeds(seed: Any) -> tuple[int, np.random.Generator]:
        """One integer for PyMC's own streams, then the same generator for draws made outside PyMC."""
        rng = as_rng(seed)
        return int(rng.integers(2**31 - 1)), rng

    def sample(self, pm: Any, model: Any, sampler_seed: int) -> Any:
        """Run NUTS on ``model``; returns PyMC's ``InferenceData`` (convergence is judged by :func:`diagnostics`)."""
        with model, _quiet_pymc(not self.progress):
            return pm.sample(
                draws=self.draws,
                tune=self.tune,
                chains=self.chains,
                cores=self.cores,
                target_accept=self.target_accept,
                random_seed=sampler_seed,
                progressbar=self.progress,
                nuts_sampler=self.nuts_sampler,
                # Diagnostics are computed once, by diagnostics(), and reported through Diagnostics.check.
                compute_convergence_checks=False,
            )

    def provenance(self, seed: Any, diag: Diagnostics, seconds: float) -> dict[str, Any]:
        """The run as JSON-ready provenance details."""
        return {
            "draws": self.draws,
            "tune": self.tune,
            "chains": self.chains,
            "target_accept": self.target_accept,
            "seed": int(seed) if isinstance(seed, (int, np.integer)) else None,
            "nuts_sampler": self.nuts_sampler,
            "seconds": round(float(seconds), 3),
            "diagnostics": diag.to_dict(),
        }


#: The default settings (fit_hierarchical raises ``target_accept`` to 0.9).
DEFAULT_NUTS = NUTSSettings()


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
        check_mode(action)
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


def diagnostics(az: Any, idata: Any, var_names: Sequence[str]) -> Diagnostics:
    """Worst-case :math:`\\hat R`, bulk and tail ESS over ``var_names``, and the divergences, of one run."""
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
