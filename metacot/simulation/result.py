r"""The results of a simulation: :class:`Simulation` (walkers' hitting times, paths, visits) and :class:`Estimate`.

Both are immutable; every array of a :class:`Simulation` is read-only. They hold data and the
estimators computed from it (means with standard errors, the empirical survival function), and
know nothing of how the walkers were run (:mod:`metacot.simulation.engine`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from metacot.errors import CensoredError, InvalidArgumentError, InvalidChainError

__all__ = ["Estimate", "Simulation"]


@dataclass(frozen=True)
class Estimate:
    r"""A Monte Carlo estimate :math:`\hat\mu` with its standard error.

    Attributes
    ----------
    value : float
        The sample mean :math:`\hat\mu = \frac1n \sum_w Y_w`.
    stderr : float
        :math:`s / \sqrt{n}` with :math:`s` the sample standard deviation (``ddof=1``); NaN when
        :math:`n = 1`.
    n : int
        Number of samples.

    Examples
    --------
    >>> est = Estimate(value=10.0, stderr=0.5, n=400)
    >>> est.interval()
    (9.02, 10.98)
    """

    value: float
    stderr: float
    n: int

    def interval(self, z: float = 1.96) -> tuple[float, float]:
        r"""The normal-approximation interval :math:`\hat\mu \pm z\,\mathrm{se}`."""
        return (self.value - z * self.stderr, self.value + z * self.stderr)

    def __float__(self) -> float:
        return float(self.value)


@dataclass(frozen=True, eq=False)
class Simulation:
    r"""The result of :func:`simulate` (immutable; every array is read-only).

    Attributes
    ----------
    hitting_times : ndarray of int64, shape (n_walkers,), or None
        :math:`\tau_w = \min\{t \ge 0 : X^{(w)}_t \in T\}` for walkers that hit; for censored
        walkers (no hit at :math:`t \le` ``max_steps``, never-hitting ones included) the value
        stored is ``max_steps``, i.e. :math:`\min(\tau_w, \text{max\_steps})` in every case.
        ``None`` without a target.
    censored : ndarray of bool, shape (n_walkers,), or None
        True where :math:`\tau_w > \text{max\_steps}`: the walker did not hit within the
        budget, either because it was cut at ``max_steps`` (:attr:`truncated`) or because it can
        never hit (:attr:`never_hit`). ``None`` without a target.
    final_states : ndarray of int64, shape (n_walkers,)
        :math:`X^{(w)}_{\sigma_w}` at the walker's stopping time :math:`\sigma_w`: the target
        state hit, the state after ``max_steps`` steps, or, for a never-hitting walker, the
        first state it entered from which the target is unreachable.
    paths : ndarray of int32, shape (n_walkers, max_steps + 1), or None
        ``paths[w, t]`` = :math:`X^{(w)}_t` for :math:`t \le \sigma_w` (column 0 is the start)
        and ``-1`` afterwards. Only with ``record_paths=True``.
    visits : ndarray of int64, shape (n_states,), or None
        ``visits[x]`` = :math:`\sum_w \#\{0 \le t \le \sigma_w : X^{(w)}_t = x\}`:
        occupations including time 0 and the state where the walker stopped. ``None`` with
        ``count_visits=False``.
    seed : int
        The 64-bit seed of the Philox streams (drawn from the generator if one was passed).
    backend : str
        The backend that ran (``"numba"``, ``"numpy"`` or ``"cuda"``; never ``"auto"``).
    n_walkers, max_steps : int
        The request.
    never_hit : ndarray of bool, shape (n_walkers,), or None
        True where the walker entered a state from which no path leads to the target
        (:func:`metacot.markov.reach.reaches`), so that :math:`\tau_w = \infty` for certain. Such
        a walker is stopped there at once, whatever ``max_steps`` (its :math:`\sigma_w` is that
        entry time), and counts as censored. ``None`` without a target.

    Notes
    -----
    A walker stops at :math:`\sigma_w = \min(\tau_w, \rho_w, \text{max\_steps})`, where
    :math:`\rho_w` is its first entry into the states that cannot reach the target. Walking on
    from there could never change :attr:`hitting_times`, :attr:`censored` or :meth:`survival`,
    and on a chain whose walkers are absorbed away from the target it would only spin for the
    whole budget.

    Examples
    --------
    >>> import numpy as np, metacot as mc
    >>> chain = mc.Chain(np.array([[0.5, 0.5], [0.0, 1.0]]), start=0, target=1)
    >>> sim = mc.simulate(chain, 4, 50, seed=3, record_paths=True)
    >>> bool(np.all(sim.paths[np.arange(4), sim.hitting_times] == 1))
    True
    >>> sim.survival(0)
    1.0
    """

    hitting_times: np.ndarray | None
    censored: np.ndarray | None
    final_states: np.ndarray
    paths: np.ndarray | None
    visits: np.ndarray | None
    seed: int
    backend: str
    n_walkers: int
    max_steps: int
    never_hit: np.ndarray | None = None

    @property
    def n_censored(self) -> int:
        """Number of walkers that did not hit the target within ``max_steps`` (0 without a target)."""
        return 0 if self.censored is None else int(np.count_nonzero(self.censored))

    @property
    def n_never_hit(self) -> int:
        """Number of walkers that can never hit the target (:attr:`never_hit`; 0 without a target)."""
        return 0 if self.never_hit is None else int(np.count_nonzero(self.never_hit))

    @property
    def truncated(self) -> np.ndarray | None:
        """Walkers cut at ``max_steps`` that might still have hit later: ``censored & ~never_hit``."""
        if self.censored is None:
            return None
        return self.censored if self.never_hit is None else self.censored & ~self.never_hit

    def _require_target(self, what: str) -> np.ndarray:
        if self.hitting_times is None:
            raise InvalidChainError(f"{what} needs a target; this simulation had none (pass target=)")
        return self.hitting_times

    def mean(self, restricted: bool = False) -> Estimate:
        r"""Estimate the mean hitting time :math:`\mathbb{E}[\tau]`.

        Parameters
        ----------
        restricted : bool
            If True, estimate :math:`\mathbb{E}[\min(\tau, \text{max\_steps})]` instead, which
            every walker observes, censored or not.

        Returns
        -------
        Estimate
            :math:`\hat\mu = \frac1n\sum_w \tau_w` with standard error :math:`s/\sqrt n`.

        Raises
        ------
        CensoredError
            If some walker is censored and ``restricted`` is False: :math:`\mathbb{E}[\tau]`
            cannot be estimated without bias from truncated samples; and when some walker can
            never hit (:attr:`never_hit`), in which case :math:`\mathbb{E}[\tau] = \infty` (the
            message says so).
        InvalidChainError
            If the simulation had no target.

        Examples
        --------
        >>> import numpy as np, metacot as mc
        >>> chain = mc.Chain(np.array([[0.5, 0.5], [0.0, 1.0]]), start=0, target=1)
        >>> est = mc.simulate(chain, 10_000, 200, seed=1).mean()
        >>> abs(est.value - 2.0) < 4 * est.stderr
        True
        """
        tau = self._require_target("mean()")
        if self.n_never_hit and not restricted:
            raise CensoredError(
                f"{self.n_never_hit} of {self.n_walkers} walkers entered states from which the target "
                "cannot be reached (see Simulation.never_hit), so tau is infinite with positive "
                "probability and E[tau] = inf; use mean(restricted=True) for E[min(tau, max_steps)]"
            )
        if self.n_censored and not restricted:
            raise CensoredError(
                f"{self.n_censored} of {self.n_walkers} walkers did not reach the target within "
                f"max_steps={self.max_steps}, so E[tau] cannot be estimated; simulate with a larger "
                f"max_steps, or use mean(restricted=True) for E[min(tau, max_steps)]"
            )
        n = tau.size
        value = float(tau.mean())
        stderr = float(tau.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
        return Estimate(value, stderr, n)

    def survival(self, t: Any) -> np.ndarray | float:
        r"""Empirical survival function :math:`\hat S(t) = \frac1n \#\{w : \tau_w > t\}`.

        Exact for every :math:`0 \le t \le` ``max_steps`` (a censored walker has
        :math:`\tau > \text{max\_steps} \ge t`); later times are unobserved.

        Parameters
        ----------
        t : int or array_like of int
            Times in ``[0, max_steps]``.

        Returns
        -------
        float or ndarray of float
        """
        tau = self._require_target("survival()")
        tt = np.asarray(t)
        if tt.size and (tt.min() < 0 or tt.max() > self.max_steps):
            raise InvalidArgumentError(f"survival(t) is observed only for 0 <= t <= max_steps={self.max_steps}")
        # censored walkers store max_steps; count them as alive at every observed t
        alive_key = np.where(self.censored, self.max_steps + 1, tau)
        srt = np.sort(alive_key)
        out = 1.0 - np.searchsorted(srt, tt, side="right") / srt.size
        return float(out) if np.ndim(out) == 0 else out

    def __repr__(self) -> str:
        parts = [f"n_walkers={self.n_walkers}", f"max_steps={self.max_steps}", f"backend={self.backend!r}"]
        if self.hitting_times is not None:
            parts.append(f"n_censored={self.n_censored}")
            if self.n_never_hit:
                parts.append(f"n_never_hit={self.n_never_hit}")
        return f"Simulation({', '.join(parts)})"
