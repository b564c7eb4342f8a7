r"""Sweep metrics: the registry :data:`METRICS` of named quantities computed for every cell.

A metric is ``fn(ctx) -> float``, where ``ctx`` (:class:`Context`) holds the cell, its chain, its
simulation (when the metric simulates) and a cached exact mean hitting time. The built-in metrics
are registered here; add your own with :func:`register_metric`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from metacot.errors import InvalidArgumentError

__all__ = ["METRICS", "RESERVED", "Context", "Metric", "register_metric"]

#: Columns every row has; a family parameter of the same name is renamed ``param_<name>``, and no
#: metric may take one of these names.
RESERVED = ("cell", "index", "family", "n_walkers", "max_steps", "replicate", "seed", "backend", "time",
            "host", "error")


@dataclasses.dataclass(frozen=True)
class Metric:
    """A named quantity computed for every cell.

    Attributes
    ----------
    name : str
        Column name in the table.
    fn : callable
        ``fn(ctx) -> float`` with ``ctx`` a :class:`Context` (``ctx.chain``, ``ctx.sim``,
        ``ctx.exact_mean()``, ``ctx.cell``).
    simulate : bool
        Whether the metric needs the cell's :class:`~metacot.simulation.engine.Simulation`.
    doc : str
        One line for ``--help`` and error messages.
    """

    name: str
    fn: Callable[[Any], float]
    simulate: bool
    doc: str


#: The metric registry: name -> :class:`Metric`. Add your own with :func:`register_metric`.
METRICS: dict[str, Metric] = {}


def register_metric(name: str, *, simulate: bool = False) -> Callable:
    r"""Decorator adding ``fn(ctx) -> float`` to :data:`METRICS` under ``name``.

    A metric registered in a script exists only in processes that ran the script: use
    ``workers=0`` for such metrics, or register them in a module the workers import.

    Parameters
    ----------
    name : str
        Column name; must not be a reserved column (:data:`RESERVED`).
    simulate : bool
        True when the metric reads ``ctx.sim`` (the cell then needs ``n_walkers`` and ``max_steps``).

    Examples
    --------
    >>> @register_metric("n_edges")
    ... def _n_edges(ctx):
    ...     return float(ctx.chain.nnz)
    >>> "n_edges" in METRICS
    True
    >>> _ = METRICS.pop("n_edges")
    """
    if name in RESERVED:
        raise InvalidArgumentError(f"metric name {name!r} is a reserved column ({', '.join(RESERVED)})")

    def add(fn: Callable[[Any], float]) -> Callable[[Any], float]:
        METRICS[name] = Metric(name, fn, simulate, (fn.__doc__ or "").strip().split("\n")[0])
        return fn

    return add


@dataclasses.dataclass
class Context:
    """What a metric sees: the cell, its chain, its simulation (or None), a cached exact mean."""

    cell: Any
    chain: Any
    sim: Any = None
    _exact: float | None = None

    def exact_mean(self) -> float:
        """Exact mean hitting time of the chain from its start (computed once)."""
        if self._exact is None:
            from metacot.markov import exact

            self._exact = float(exact.mean_hitting_time(self.chain))
        return self._exact


@register_metric("n_states")
def _m_n_states(ctx):
    """Number of states of the chain."""
    return float(ctx.chain.n_states)


@register_metric("exact_mean")
def _m_exact_mean(ctx):
    r"""Exact :math:`\mathbb E[\tau]` from the start (one sparse LU solve)."""
    return ctx.exact_mean()


@register_metric("sim_mean", simulate=True)
def _m_sim_mean(ctx):
    r"""Monte Carlo mean of :math:`\min(\tau, \text{max\_steps})` (equals :math:`\hat{\mathbb E}[\tau]` without censoring)."""
    return ctx.sim.mean(restricted=True).value


@register_metric("sim_stderr", simulate=True)
def _m_sim_stderr(ctx):
    """Standard error of sim_mean."""
    return ctx.sim.mean(restricted=True).stderr


@register_metric("censored_share", simulate=True)
def _m_censored(ctx):
    """Share of walkers that did not hit the target within max_steps."""
    return ctx.sim.n_censored / ctx.sim.n_walkers


@register_metric("sim_rel_error", simulate=True)
def _m_rel_error(ctx):
    """sim_mean / exact_mean - 1 (biased low when walkers are censored)."""
    return ctx.sim.mean(restricted=True).value / ctx.exact_mean() - 1.0
