"""Trace transformations for ablation experiments: summarise, drop, truncate, shuffle, swap, reword.

Every transformation takes a :class:`~metacot.traces.core.Trace` (``swap_steps`` takes a collection)
and returns a **new** trace; the input is never changed. The new ``response`` is rebuilt from
the kept step texts joined by ``sep`` (a blank line by default) and every span is recomputed, so
``response[step.start:step.end] == step.text`` holds as for any trace. Because the response is
rebuilt, metadata keys that index into the old response (``thinking_span``, ``answer_span``) are
dropped; ``final_answer`` and ``gold_answer`` are kept as they were.

Each call appends one record to ``metadata["transforms"]``: ``{"name", "params", "seed", ...}``
plus what the transformation measured (the achieved ratio of :func:`summarise`, the dropped
indices of :func:`drop_random`, ...), and ``sampler`` -- the sampler's ``describe()`` -- for the
one that calls a language model. A chain of transformations therefore leaves its full recipe on
the trace.

Which transformation controls for which (the experiment design these serve):

* :func:`summarise` shortens the text with a language model; :func:`drop_random` removes the
  same share of steps at random, and :func:`truncate` removes the end -- length controls.
* :func:`shuffle_steps` keeps every step but destroys the order.
* :func:`swap_steps` keeps each trace's behaviour sequence but fills it with steps of other
  problems ("structure kept, semantics destroyed").
* :func:`replace_keywords` keeps the meaning but removes the surface cue words a keyword
  labeller (and perhaps a model) keys on.

:data:`TRANSFORMS` maps a name to each function, for experiment configurations. Seeds are an int
or a :class:`numpy.random.Generator` (the package-wide convention); the record keeps the int.

Where they live: :func:`summarise` in :mod:`metacot.traces.summarise`, :func:`replace_keywords`
in :mod:`metacot.traces.keywords`, the shared rebuild in :mod:`metacot.traces.edits`, the
structural edits here; every name is importable from this module.

Examples
--------
>>> t = make_trace(["Let x = 2.", "Wait, check it.", "So x + 1 = 3."], ["normal", "reflect", "deep"])
>>> u = drop_behaviours(t, ["reflect"])
>>> u.texts(), u.response
(['Let x = 2.', 'So x + 1 = 3.'], 'Let x = 2.\\n\\nSo x + 1 = 3.')
>>> [r["name"] for r in u.metadata["transforms"]], len(t)
(['drop_behaviours'], 3)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np

from metacot.behaviours import Behaviour
from metacot.errors import InvalidArgumentError
from metacot.traces.edits import (
    SEP,
    check_fraction,
    check_sep,
    check_trace,
    kept,
    make_trace,
    rebuild,
    runs,
    seed_key,
    word_count,
)
from metacot.traces.keywords import CUE_SYNONYMS, HEDGES, replace_keywords
from metacot.traces.model import Trace
from metacot.traces.summarise import summarise

__all__ = [
    "CUE_SYNONYMS",
    "HEDGES",
    "SEP",
    "TRANSFORMS",
    "drop_behaviours",
    "drop_random",
    "make_trace",
    "merge_runs",
    "replace_keywords",
    "shuffle_steps",
    "summarise",
    "swap_steps",
    "truncate",
    "word_count",
]


def drop_behaviours(trace: Trace, behaviours: Iterable[Behaviour | str], *, sep: str = SEP) -> Trace:
    """Remove every step whose behaviour is in ``behaviours``; the rest keep their order.

    Unlabelled steps (``behaviour=None``) are never removed.

    Parameters
    ----------
    trace : Trace
    behaviours : iterable of Behaviour or str
    sep : str, default :data:`SEP`

    Returns
    -------
    Trace
        Its provenance record lists the ``dropped`` step indices.

    Examples
    --------
    >>> t = make_trace(["a", "b", "c"], ["deep", "explore", "deep"])
    >>> drop_behaviours(t, {"explore"}).texts()
    ['a', 'c']
    """
    where = "drop_behaviours"
    check_trace(trace, where)
    sep = check_sep(sep, where)
    if isinstance(behaviours, str):
        behaviours = [behaviours]  # one name, not a sequence of characters
    try:
        drop = {Behaviour(b) for b in behaviours}
    except (ValueError, TypeError):
        raise InvalidArgumentError(
            f"{where}: behaviours must name behaviours among {[b.value for b in Behaviour]}, got {behaviours!r}"
        ) from None
    keep = [i for i, s in enumerate(trace.steps) if s.behaviour not in drop]
    dropped = [i for i in range(len(trace.steps)) if i not in set(keep)]
    record = {"name": "drop_behaviours", "params": {"behaviours": sorted(b.value for b in drop), "sep": sep},
              "seed": None, "dropped": dropped}
    return rebuild(trace, kept(trace, keep), record, sep)


def merge_runs(trace: Trace, *, joiner: str = " ", sep: str = SEP) -> Trace:
    """Merge each run of consecutive same-behaviour steps into one step.

    Unlabelled steps count as one more behaviour (a run of ``None`` merges too). The merged
    text is the run's texts joined by ``joiner``; its ``source_labels["merged_from"]`` lists
    the old indices.

    Parameters
    ----------
    trace : Trace
    joiner : str, default ``" "``
        Put between the texts of one run.
    sep : str, default :data:`SEP`

    Examples
    --------
    >>> t = make_trace(["a", "b", "c"], ["deep", "deep", "reflect"])
    >>> merge_runs(t).texts()
    ['a b', 'c']
    """
    where = "merge_runs"
    check_trace(trace, where)
    sep = check_sep(sep, where)
    if not isinstance(joiner, str):
        raise InvalidArgumentError(f"{where}: joiner must be a str, got {joiner!r}")
    parts = [
        (joiner.join(trace.steps[i].text for i in g), trace.steps[g[0]].behaviour, {"merged_from": g})
        for g in runs(trace)
    ]
    record = {"name": "merge_runs", "params": {"joiner": joiner, "sep": sep}, "seed": None}
    return rebuild(trace, parts, record, sep)


def truncate(
    trace: Trace, fraction: float | None = None, *, n_steps: int | None = None, sep: str = SEP
) -> Trace:
    """Keep only the first steps: ``n_steps`` of them, or ``round(fraction * len(trace))``.

    Give exactly one of ``fraction`` (the share of steps **kept**, in [0, 1]) and ``n_steps``
    (``>= 0``; more than the trace has keeps it all).

    Examples
    --------
    >>> t = make_trace(["a", "b", "c", "d"])
    >>> truncate(t, 0.5).texts(), truncate(t, n_steps=1).texts()
    (['a', 'b'], ['a'])
    """
    where = "truncate"
    check_trace(trace, where)
    sep = check_sep(sep, where)
    if (fraction is None) == (n_steps is None):
        raise InvalidArgumentError(f"{where}: give exactly one of fraction and n_steps")
    if fraction is not None:
        k = round(check_fraction(fraction, "fraction", where) * len(trace))
    else:
        if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 0:
            raise InvalidArgumentError(f"{where}: n_steps must be a non-negative int, got {n_steps!r}")
        k = min(n_steps, len(trace))
    record = {"name": "truncate", "params": {"fraction": fraction, "n_steps": n_steps, "sep": sep},
              "seed": None, "kept": k}
    return rebuild(trace, kept(trace, range(k)), record, sep)


def drop_random(trace: Trace, fraction: float, seed: int | np.random.Generator = 0, *, sep: str = SEP) -> Trace:
    """Drop exactly ``round(fraction * len(trace))`` steps chosen uniformly at random.

    The length control for :func:`summarise` and :func:`drop_behaviours`: removing 45% of the
    steps at random tells how much of an effect is due to length alone. The survivors keep
    their order. ``round`` is Python's (halves go to the even number).

    Parameters
    ----------
    trace : Trace
    fraction : float in [0, 1]
        Share of steps to **drop**.
    seed : int or numpy.random.Generator, default 0
        A Generator contributes one draw, recorded as the int ``seed`` of the provenance record.
    sep : str, default :data:`SEP`

    Examples
    --------
    >>> t = make_trace(list("abcdefghij"))
    >>> u = drop_random(t, 0.3, seed=1)
    >>> len(u), u.metadata["transforms"][-1]["dropped"] == sorted(u.metadata["transforms"][-1]["dropped"])
    (7, True)
    """
    where = "drop_random"
    check_trace(trace, where)
    sep = check_sep(sep, where)
    fraction = check_fraction(fraction, "fraction", where)
    seed = seed_key(seed, where)
    n = len(trace)
    k = round(fraction * n)
    rng = np.random.default_rng(seed)
    dropped = sorted(int(i) for i in rng.choice(n, size=k, replace=False)) if k else []
    gone = set(dropped)
    record = {"name": "drop_random", "params": {"fraction": fraction, "sep": sep}, "seed": seed,
              "dropped": dropped}
    return rebuild(trace, kept(trace, [i for i in range(n) if i not in gone]), record, sep)


def shuffle_steps(trace: Trace, seed: int | np.random.Generator = 0, *, sep: str = SEP) -> Trace:
    """Put the steps in a uniformly random order (each keeps its text and behaviour).

    Examples
    --------
    >>> t = make_trace(["a", "b", "c"], ["normal", "deep", "reflect"])
    >>> u = shuffle_steps(t, seed=3)
    >>> sorted(u.texts()), [t.texts()[i] for i in u.metadata["transforms"][-1]["permutation"]] == u.texts()
    (['a', 'b', 'c'], True)
    """
    where = "shuffle_steps"
    check_trace(trace, where)
    sep = check_sep(sep, where)
    seed = seed_key(seed, where)
    perm = [int(i) for i in np.random.default_rng(seed).permutation(len(trace))]
    record = {"name": "shuffle_steps", "params": {"sep": sep}, "seed": seed, "permutation": perm}
    return rebuild(trace, kept(trace, perm), record, sep)


def swap_steps(traces: Sequence[Trace], seed: int | np.random.Generator = 0, *, sep: str = SEP) -> list[Trace]:
    """Refill every step with the text of a same-behaviour step from a different problem.

    For each step of each trace, a donor is drawn uniformly (with replacement) among all steps
    of the collection that have the same behaviour and belong to a trace whose ``problem``
    differs. The behaviour sequence of every trace is kept exactly while its content now comes
    from elsewhere: structure kept, semantics destroyed. Each new step's
    ``source_labels["swapped_from"]`` is ``{"trace_id", "step"}`` of its donor; the other
    source labels are kept (they describe the position, not the new text).

    Parameters
    ----------
    traces : sequence of Trace
        Every step labelled.
    seed : int or numpy.random.Generator, default 0
        A Generator contributes one draw, recorded as the int ``seed`` of the provenance record.
    sep : str, default :data:`SEP`

    Returns
    -------
    list of Trace
        In input order.

    Raises
    ------
    InvalidArgumentError
        An unlabelled step, or a step whose behaviour occurs in no trace of another problem.

    Examples
    --------
    >>> a = make_trace(["x = 1.", "Wait."], ["normal", "reflect"], trace_id="a", problem="p")
    >>> b = make_trace(["Hmm.", "y = 2."], ["reflect", "normal"], trace_id="b", problem="q")
    >>> [t.texts() for t in swap_steps([a, b])]
    [['y = 2.', 'Hmm.'], ['Wait.', 'x = 1.']]
    """
    where = "swap_steps"
    if isinstance(traces, Trace):
        raise InvalidArgumentError(f"{where}: expected a collection of traces, got one Trace")
    traces = list(traces)
    for k, t in enumerate(traces):
        check_trace(t, f"{where}, item {k}")
        for i, s in enumerate(t.steps):
            if s.behaviour is None:
                raise InvalidArgumentError(f"{where}: trace {t.trace_id!r}, step {i} is unlabelled")
    seed = seed_key(seed, where)
    sep = check_sep(sep, where)
    # Donor pools per behaviour, sorted by problem so that one problem's steps form one block;
    # drawing from the pool minus that block is then O(1) per step.
    pools: dict[Behaviour, list[tuple[str, int, int]]] = {}
    for k, t in enumerate(traces):
        for i, s in enumerate(t.steps):
            pools.setdefault(s.behaviour, []).append((t.problem, k, i))
    blocks: dict[tuple[Behaviour, str], tuple[int, int]] = {}
    for b, pool in pools.items():
        pool.sort()
        for j, (p, _, _) in enumerate(pool):
            lo, _ = blocks.get((b, p), (j, j))
            blocks[(b, p)] = (lo, j + 1)
    rng = np.random.default_rng(seed)
    out = []
    for t in traces:
        parts = []
        for i, s in enumerate(t.steps):
            pool = pools[s.behaviour]
            lo, hi = blocks[(s.behaviour, t.problem)]
            n_other = len(pool) - (hi - lo)
            if n_other == 0:
                raise InvalidArgumentError(
                    f"{where}: trace {t.trace_id!r}, step {i}: no step with behaviour "
                    f"{s.behaviour.value!r} in a trace of another problem to swap in"
                )
            j = int(rng.integers(n_other))
            _, dk, di = pool[j if j < lo else j + (hi - lo)]
            donor = traces[dk]
            labels = {**s.source_labels, "swapped_from": {"trace_id": donor.trace_id, "step": di}}
            parts.append((donor.steps[di].text, s.behaviour, labels))
        record = {"name": "swap_steps", "params": {"n_traces": len(traces), "sep": sep}, "seed": seed}
        out.append(rebuild(t, parts, record, sep))
    return out


#: Name -> transformation, for experiment configurations. All take a trace first, except
#: ``swap_steps``, which takes a collection of traces and returns a list.
TRANSFORMS: Mapping[str, Callable[..., Any]] = MappingProxyType(
    {
        "summarise": summarise,
        "drop_behaviours": drop_behaviours,
        "merge_runs": merge_runs,
        "truncate": truncate,
        "drop_random": drop_random,
        "shuffle_steps": shuffle_steps,
        "swap_steps": swap_steps,
        "replace_keywords": replace_keywords,
    }
)
