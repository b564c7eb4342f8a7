"""What every labeller shares: the :class:`Labeller` protocol and applying labellers to traces.

A labeller gives every step of a :class:`~metacot.traces.core.Trace` one of the four behaviours of
:mod:`metacot.behaviours`. The labellers themselves live in :mod:`metacot.graphs.mapping`
(ReasoningFlow rule table), :mod:`metacot.graphs.keyword` (surface baseline) and
:mod:`metacot.graphs.judge` (LLM judge); :mod:`metacot.graphs.labellers` gathers them.

Examples
--------
>>> from metacot.traces.core import Step
>>> t = Trace("t", "q", (Step("x", 0, 1),), "x")
>>> labelled = label_traces([t], lambda tr: relabel(tr, ["deep"], "all-deep"))
>>> labelled[0].steps[0].behaviour.value, labelled[0].metadata["labeller"]
('deep', 'all-deep')
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any, Protocol, runtime_checkable

from metacot.behaviours import Behaviour
from metacot.errors import InvalidArgumentError
from metacot.traces.core import Trace

__all__ = ["Labeller", "label_traces", "labeller_name", "relabel"]


@runtime_checkable
class Labeller(Protocol):
    """Anything that labels a trace: a ``name`` and a ``label`` method.

    ``label(trace)`` returns a new :class:`~metacot.traces.core.Trace` equal to the input except that
    every step's ``behaviour`` is set (never ``None``); the input is not changed (traces are
    frozen). Implementations here also record their ``name`` in ``metadata["labeller"]``.

    Examples
    --------
    >>> from metacot.graphs.keyword import KeywordLabeller
    >>> isinstance(KeywordLabeller(), Labeller)
    True
    """

    name: str

    def label(self, trace: Trace) -> Trace: ...


def labeller_name(labeller: Any) -> str:
    """The name recorded in provenance: ``labeller.name`` if it is a non-empty str, else the qualified name.

    Examples
    --------
    >>> labeller_name(str.upper)
    'str.upper'
    """
    name = getattr(labeller, "name", None)
    if isinstance(name, str) and name:
        return name
    return getattr(labeller, "__qualname__", type(labeller).__qualname__)


def label_traces(traces: Iterable[Trace], labeller: Labeller | Callable[[Trace], Trace]) -> list[Trace]:
    """Label many traces with one labeller.

    Parameters
    ----------
    traces : iterable of Trace
    labeller : Labeller or callable
        An object with a ``label(trace)`` method (a :class:`Labeller`), or a plain callable
        ``Trace -> Trace``.

    Returns
    -------
    list of Trace
        The labelled traces, in input order.

    Raises
    ------
    InvalidArgumentError
        A labeller that is neither, or one that returns something other than a Trace (the message
        names the trace's position).

    Examples
    --------
    >>> from metacot.graphs.keyword import KeywordLabeller
    >>> from metacot.traces.core import Step
    >>> t = Trace("t", "q", (Step("Wait.", 0, 5),), "Wait.")
    >>> [s.behaviour.value for s in label_traces([t], KeywordLabeller())[0].steps]
    ['reflect']
    """
    fn: Callable[[Trace], Trace]
    if callable(getattr(labeller, "label", None)):
        fn = labeller.label
    elif callable(labeller):
        fn = labeller
    else:
        raise InvalidArgumentError(
            f"labeller must be a callable Trace -> Trace or have a .label(trace) method, got {labeller!r}"
        )
    out = []
    for n, tr in enumerate(traces):
        lab = fn(tr)
        if not isinstance(lab, Trace):
            raise InvalidArgumentError(
                f"labeller returned a {type(lab).__name__} for trace {n}, expected a labelled Trace"
            )
        out.append(lab)
    return out


def relabel(trace: Trace, behaviours: Sequence[Behaviour | str], name: str) -> Trace:
    """``trace`` with step ``i`` given ``behaviours[i]`` and ``metadata["labeller"] = name``.

    Raises
    ------
    InvalidArgumentError
        When there is not one behaviour per step.
    """
    if len(behaviours) != len(trace.steps):
        raise InvalidArgumentError(
            f"trace {trace.trace_id!r}: {len(behaviours)} behaviours for {len(trace.steps)} steps"
        )
    steps = tuple(replace(s, behaviour=b) for s, b in zip(trace.steps, behaviours, strict=True))
    return replace(trace, steps=steps, metadata={**trace.metadata, "labeller": name})
