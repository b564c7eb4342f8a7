"""Comparing two labellings of the same traces: step agreement, Cohen's kappa, the confusion table.

Examples
--------
>>> from metacot.traces.core import Step
>>> t = Trace("t", "q", (Step("x", 0, 1, "deep"),), "x")
>>> agreement([t], [t])["agreement"]
1.0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from metacot.behaviours import BEHAVIOURS, Behaviour
from metacot.errors import InvalidArgumentError
from metacot.traces.core import Trace

if TYPE_CHECKING:  # pandas is imported only when confusion() is called
    import pandas as pd

__all__ = ["agreement", "confusion"]

def _pairs(traces_a: Sequence[Trace], traces_b: Sequence[Trace],
           skip_unlabelled: bool = False) -> tuple[list[tuple[Behaviour, Behaviour]], int]:
    """The (a, b) behaviour pairs of lined-up steps, and how many unlabelled steps were skipped."""
    traces_a, traces_b = list(traces_a), list(traces_b)
    if len(traces_a) != len(traces_b):
        raise InvalidArgumentError(
            f"{len(traces_a)} traces against {len(traces_b)}; expected the same traces"
        )
    pairs, skipped = [], 0
    for k, (ta, tb) in enumerate(zip(traces_a, traces_b, strict=True)):
        if ta.trace_id != tb.trace_id or len(ta) != len(tb):
            raise InvalidArgumentError(
                f"trace {k}: {ta.trace_id!r} ({len(ta)} steps) against {tb.trace_id!r} ({len(tb)} steps)"
            )
        for i, (sa, sb) in enumerate(zip(ta.steps, tb.steps, strict=True)):
            if sa.behaviour is None or sb.behaviour is None:
                if not skip_unlabelled:
                    raise InvalidArgumentError(
                        f"trace {ta.trace_id!r}, step {i}: unlabelled step; pass skip_unlabelled=True to "
                        "compare only the steps both labellings label (the count is reported)"
                    )
                skipped += 1
                continue
            pairs.append((sa.behaviour, sb.behaviour))
    return pairs, skipped


def _table(pairs: list[tuple[Behaviour, Behaviour]]) -> list[list[int]]:
    idx = {b: i for i, b in enumerate(BEHAVIOURS)}
    m = [[0] * len(BEHAVIOURS) for _ in BEHAVIOURS]
    for a, b in pairs:
        m[idx[a]][idx[b]] += 1
    return m


def agreement(traces_a: Sequence[Trace], traces_b: Sequence[Trace], *,
              skip_unlabelled: bool = False) -> dict[str, float]:
    r"""Step-level agreement and Cohen's kappa between two labellings of the same traces.

    With :math:`p_o` the fraction of steps given the same behaviour and :math:`p_e` the agreement
    expected by chance from the two marginal distributions :math:`a_k, b_k`,

    .. math::

        p_e = \sum_k a_k b_k, \qquad \kappa = \frac{p_o - p_e}{1 - p_e}.

    Parameters
    ----------
    traces_a, traces_b : sequence of Trace
        The same traces (same ``trace_id`` and step count, in the same order).
    skip_unlabelled : bool, default False
        Compare only the steps labelled on both sides. By default an unlabelled step is an error.

    Returns
    -------
    dict
        ``n`` (steps compared), ``agreement`` (:math:`p_o`), ``expected`` (:math:`p_e`) and
        ``kappa``; kappa is ``nan`` when :math:`p_e = 1` (both sides use one and the same label
        throughout, so chance explains everything) and when ``n == 0``. With
        ``skip_unlabelled=True`` also ``n_skipped``, the steps left out.

    Raises
    ------
    InvalidArgumentError
        Traces that do not line up, or an unlabelled step.

    Examples
    --------
    >>> from metacot.traces.core import Step
    >>> def tr(labels):
    ...     steps = tuple(Step("x", i, i + 1, b) for i, b in enumerate(labels))
    ...     return Trace("t", "q", steps, "x" * len(labels))
    >>> r = agreement([tr(["normal", "normal", "deep", "reflect"])], [tr(["normal", "deep", "deep", "reflect"])])
    >>> r["agreement"], round(r["kappa"], 4)
    (0.75, 0.6364)
    """
    pairs, skipped = _pairs(traces_a, traces_b, skip_unlabelled)
    n = len(pairs)
    extra = {"n_skipped": skipped} if skip_unlabelled else {}
    if n == 0:
        return {"n": 0, **extra, "agreement": float("nan"), "expected": float("nan"), "kappa": float("nan")}
    m = _table(pairs)
    po = sum(m[k][k] for k in range(len(m))) / n
    rows = [sum(r) / n for r in m]
    cols = [sum(m[i][k] for i in range(len(m))) / n for k in range(len(m))]
    pe = sum(r * c for r, c in zip(rows, cols, strict=True))
    kappa = float("nan") if pe >= 1.0 else (po - pe) / (1.0 - pe)
    return {"n": n, **extra, "agreement": po, "expected": pe, "kappa": kappa}


def confusion(
    traces_a: Sequence[Trace], traces_b: Sequence[Trace], names: tuple[str, str] = ("a", "b"), *,
    skip_unlabelled: bool = False,
) -> pd.DataFrame:
    """4x4 table of step counts: rows are the first labelling's behaviour, columns the second's.

    Parameters
    ----------
    traces_a, traces_b : sequence of Trace
        As for :func:`agreement`.
    names : (str, str), default ``("a", "b")``
        Names of the row and column axes (for example the two labellers' names).

    Returns
    -------
    pandas.DataFrame
        Integer counts indexed by the behaviour short names in :data:`~metacot.behaviours.BEHAVIOURS`
        order; the total is the number of steps.

    Examples
    --------
    >>> from metacot.traces.core import Step
    >>> t = Trace("t", "q", (Step("x", 0, 1, "deep"),), "x")
    >>> u = Trace("t", "q", (Step("x", 0, 1, "normal"),), "x")
    >>> int(confusion([t], [u]).loc["deep", "normal"])
    1
    """
    import pandas as pd

    m = _table(_pairs(traces_a, traces_b, skip_unlabelled)[0])
    labels = [b.value for b in BEHAVIOURS]
    return pd.DataFrame(
        m,
        index=pd.Index(labels, name=names[0]),
        columns=pd.Index(labels, name=names[1]),
        dtype="int64",
    )
