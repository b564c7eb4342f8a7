r"""Transition tallies of labelled traces: the counts every behaviour-graph estimator starts from.

A corpus of labelled traces is summarised by the count matrix
:math:`N_{ij} = \#\{t : b_t = i,\ b_{t+1} = j\}` of consecutive steps, pooled over traces
(:func:`tally_transitions`, :func:`transition_counts`), or kept per trace (:func:`per_trace_counts`),
the unit a trace bootstrap resamples (:mod:`metacot.graphs.comparison`). :func:`by_source` groups
traces by the model that wrote them, and :func:`as_states` checks a state order; both are shared
by the closed-form and the Bayesian fits.

Examples
--------
>>> from metacot.traces.core import Step, Trace
>>> t = Trace("t", "q", (Step("a", 0, 1, "normal"), Step("b", 1, 2, "deep")), "ab")
>>> transition_counts([t]).tolist()[0]
[0, 1, 0, 0]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from metacot._checks import readonly as _readonly
from metacot.behaviours import BEHAVIOURS, Behaviour
from metacot.errors import InvalidArgumentError
from metacot.traces.core import Trace

__all__ = ["TransitionTally", "as_states", "by_source", "per_trace_counts", "tally_transitions", "transition_counts"]


def as_states(states: Sequence[Behaviour | str]) -> tuple[Behaviour, ...]:
    """``states`` as a non-empty tuple of distinct :class:`~metacot.behaviours.Behaviour`.

    Raises
    ------
    InvalidArgumentError
        An unknown name, an empty sequence, or a repeated state.

    Examples
    --------
    >>> as_states(["normal", "deep"])
    (<Behaviour.NORMAL: 'normal'>, <Behaviour.DEEP: 'deep'>)
    """
    try:
        out = tuple(Behaviour(s) for s in states)
    except (TypeError, ValueError):
        raise InvalidArgumentError(
            f"states must be behaviours {[b.value for b in Behaviour]}, got {list(states)!r}"
        ) from None
    if not out:
        raise InvalidArgumentError("states is empty")
    if len(set(out)) != len(out):
        raise InvalidArgumentError(f"states must be distinct, got {[s.value for s in out]}")
    return out


@dataclass(frozen=True)
class TransitionTally:
    r"""Transition counts of a trace collection, with a record of what was skipped.

    Attributes
    ----------
    counts : ndarray of int64, shape (k, k)
        :math:`N_{ij}`: number of consecutive labelled step pairs going from ``states[i]`` to
        ``states[j]``, pooled over all traces (self-transitions included, as in Figure 5 of
        Chen et al., 2026).
    step_counts : ndarray of int64, shape (k,)
        Number of labelled steps of each behaviour (the numerator of the marginal
        :math:`\pi_C(b)`).
    end_counts : ndarray of int64, shape (k,)
        Number of traces whose last step carries each behaviour (unlabelled last steps are not
        counted); a basis for estimating the answer rate of :meth:`BehaviourGraph.to_chain`.
    states : tuple of Behaviour
        Row and column order.
    n_traces, n_steps : int
        Traces and steps read.
    n_unlabelled : int
        Steps whose behaviour is ``None``.
    n_pairs_skipped : int
        Consecutive step pairs not counted because at least one of the two steps is unlabelled.
    """

    counts: np.ndarray
    step_counts: np.ndarray
    end_counts: np.ndarray
    states: tuple[Behaviour, ...]
    n_traces: int
    n_steps: int
    n_unlabelled: int
    n_pairs_skipped: int

    @property
    def marginal(self) -> np.ndarray:
        r"""Behaviour frequencies :math:`\hat\pi(b) = n_b / \sum_{b'} n_{b'}` over labelled steps."""
        total = self.step_counts.sum()
        if total == 0:
            raise InvalidArgumentError("no labelled steps: the marginal is undefined")
        return self.step_counts / total


def tally_transitions(
    traces: Iterable[Trace], states: Sequence[Behaviour | str] = BEHAVIOURS
) -> TransitionTally:
    r"""Count behaviour transitions between consecutive steps, and what could not be counted.

    A pair of consecutive steps :math:`(t, t+1)` of one trace adds one to :math:`N_{b_t b_{t+1}}`.
    Pairs never span two traces.

    **Unlabelled steps break the sequence.** A step with ``behaviour=None`` contributes no
    transition in or out, and its neighbours are *not* joined across it: in ``D, None, R`` neither
    ``D->R`` nor anything else is counted. Joining across the gap would invent a transition
    nobody observed (the missing step may well have been a third behaviour); dropping both pairs
    only loses data, which :attr:`TransitionTally.n_pairs_skipped` reports.

    Parameters
    ----------
    traces : iterable of Trace
    states : sequence of Behaviour or str, default :data:`metacot.behaviours.BEHAVIOURS`
        Row/column order. A labelled step whose behaviour is not listed is an error (it is not
        silently dropped).

    Returns
    -------
    TransitionTally

    Raises
    ------
    InvalidArgumentError
        If an item is not a :class:`~metacot.traces.core.Trace`, or a step carries a behaviour outside
        ``states`` (the message names the trace and step).

    Examples
    --------
    >>> from metacot.traces.core import Step, Trace
    >>> steps = (Step("a", 0, 1, "deep"), Step("b", 1, 2), Step("c", 2, 3, "reflect"),
    ...          Step("d", 3, 4, "reflect"))
    >>> t = tally_transitions([Trace("t", "q", steps, "abcd")])
    >>> int(t.counts.sum()), t.n_unlabelled, t.n_pairs_skipped
    (1, 1, 2)
    """
    states = as_states(states)
    index = {s: i for i, s in enumerate(states)}
    k = len(states)
    counts = np.zeros((k, k), dtype=np.int64)
    step_counts = np.zeros(k, dtype=np.int64)
    end_counts = np.zeros(k, dtype=np.int64)
    n_traces = n_steps = n_unlabelled = n_skipped = 0
    for n, tr in enumerate(traces):
        if not isinstance(tr, Trace):
            raise InvalidArgumentError(f"item {n} is a {type(tr).__name__}, not a metacot Trace")
        n_traces += 1
        prev: int | None = None
        for t, b in enumerate(tr.behaviours()):
            n_steps += 1
            if b is None:
                n_unlabelled += 1
                cur = None
            else:
                if b not in index:
                    raise InvalidArgumentError(
                        f"trace {tr.trace_id!r}, step {t}: behaviour {b.value!r} is not one of the "
                        f"states {[s.value for s in states]}"
                    )
                cur = index[b]
                step_counts[cur] += 1
            if t > 0:
                if prev is None or cur is None:
                    n_skipped += 1
                else:
                    counts[prev, cur] += 1
            prev = cur
        if len(tr.steps) and prev is not None:
            end_counts[prev] += 1
    return TransitionTally(
        counts=_readonly(counts),
        step_counts=_readonly(step_counts),
        end_counts=_readonly(end_counts),
        states=states,
        n_traces=n_traces,
        n_steps=n_steps,
        n_unlabelled=n_unlabelled,
        n_pairs_skipped=n_skipped,
    )


def transition_counts(traces: Iterable[Trace], states: Sequence[Behaviour | str] = BEHAVIOURS) -> np.ndarray:
    r"""The pooled transition count matrix :math:`N_{ij}` of consecutive labelled steps.

    Shorthand for ``tally_transitions(traces, states).counts``; see :func:`tally_transitions` for
    the treatment of unlabelled steps (they break the sequence) and for the skipped-pair counts.

    Returns
    -------
    ndarray of int64, shape (k, k)
        Read-only; ``k = len(states)`` (4 by default).

    Examples
    --------
    >>> from metacot.traces.core import Step, Trace
    >>> t = Trace("t", "q", (Step("a", 0, 1, "normal"), Step("b", 1, 2, "deep")), "ab")
    >>> transition_counts([t])[0].tolist()
    [0, 1, 0, 0]
    """
    return tally_transitions(traces, states).counts


def per_trace_counts(traces: Iterable[Trace], states: Sequence[Behaviour | str] = BEHAVIOURS) -> np.ndarray:
    r"""One transition count matrix per trace, stacked: :math:`C_{t,ij}`, with :math:`\sum_t C_t = N`.

    The unit a bootstrap resamples is the trace (steps within a trace are dependent), so
    resampling traces means re-summing these matrices with multinomial weights.

    Parameters
    ----------
    traces : iterable of Trace
    states : sequence of Behaviour or str

    Returns
    -------
    ndarray of int64, shape (n_traces, k, k)
        Counted exactly as :func:`tally_transitions` counts (unlabelled steps break the sequence).

    Examples
    --------
    >>> from metacot.traces.core import Step, Trace
    >>> t = Trace("t", "q", (Step("a", 0, 1, "normal"), Step("b", 1, 2, "deep")), "ab")
    >>> per_trace_counts([t, t]).shape, int(per_trace_counts([t, t])[:, 0, 1].sum())
    ((2, 4, 4), 2)
    """
    states = as_states(states)
    mats = [tally_transitions([tr], states).counts for tr in traces]
    k = len(states)
    return np.stack(mats) if mats else np.zeros((0, k, k), dtype=np.int64)


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
