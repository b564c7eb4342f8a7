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

:data:`TRANSFORMS` maps a name to each function, for experiment configurations.

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

import copy
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType
from typing import Any

import numpy as np

from metacot.behaviours import Behaviour
from metacot.errors import InvalidArgumentError, SamplerError
from metacot.traces.core import Step, Trace

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

#: Default separator between step texts in a rebuilt response (a paragraph break, the layout
#: the paragraph segmenter of :func:`metacot.traces.core.segment` cuts at).
SEP = "\n\n"

# Metadata entries that are character spans into the original response; they would point at the
# wrong text after a rebuild, so they are not carried over.
_SPAN_KEYS = frozenset({"thinking_span", "answer_span"})


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def word_count(text: str) -> int:
    """Whitespace-separated words: the length proxy used by :func:`summarise`.

    Tokeniser-free on purpose, so a ratio means the same whatever model wrote or will read the
    text; for English prose one word is about 1.3 sub-word tokens.

    Examples
    --------
    >>> word_count("  So x = 2,\\n\\nthen y.")
    6
    """
    return len(text.split())


def make_trace(
    texts: Sequence[str],
    behaviours: Sequence[Behaviour | str | None] | None = None,
    *,
    trace_id: str = "t",
    problem: str = "",
    sep: str = SEP,
    **fields: Any,
) -> Trace:
    """Build a trace from step texts: the response is the texts joined by ``sep``.

    Parameters
    ----------
    texts : sequence of str
    behaviours : sequence of Behaviour, str or None, optional
        One per text; all ``None`` when omitted.
    trace_id, problem : str
    sep : str, default :data:`SEP`
    **fields
        Other :class:`~metacot.traces.core.Trace` fields (``final_answer``, ``metadata``, ...).

    Examples
    --------
    >>> t = make_trace(["a", "b"], ["normal", "deep"], problem="p")
    >>> t.response, t.steps[1].start, t.steps[1].behaviour.value
    ('a\\n\\nb', 3, 'deep')
    """
    texts = list(texts)
    if any(not isinstance(x, str) for x in texts):
        raise InvalidArgumentError("make_trace: every text must be a str")
    behaviours = [None] * len(texts) if behaviours is None else list(behaviours)
    if len(behaviours) != len(texts):
        raise InvalidArgumentError(
            f"make_trace: {len(behaviours)} behaviours for {len(texts)} texts; expected one each"
        )
    steps, response = _layout([(x, b, {}) for x, b in zip(texts, behaviours, strict=True)], sep)
    return Trace(trace_id=trace_id, problem=problem, steps=steps, response=response, **fields)


def _layout(parts: Sequence[tuple[str, Any, dict]], sep: str) -> tuple[tuple[Step, ...], str]:
    steps, pos = [], 0
    for k, (text, b, labels) in enumerate(parts):
        if k:
            pos += len(sep)
        steps.append(Step(text, pos, pos + len(text), b, copy.deepcopy(labels)))
        pos += len(text)
    return tuple(steps), sep.join(p[0] for p in parts)


def _rebuild(trace: Trace, parts: Sequence[tuple[str, Any, dict]], record: dict, sep: str) -> Trace:
    """A new trace with these (text, behaviour, source_labels) steps and one more provenance record."""
    steps, response = _layout(parts, sep)
    # Deep copies: the new trace must share no mutable state with the input.
    meta = {k: copy.deepcopy(v) for k, v in trace.metadata.items() if k not in _SPAN_KEYS}
    meta["transforms"] = [*meta.get("transforms", []), record]
    return replace(trace, steps=steps, response=response, metadata=meta)


def _kept(trace: Trace, idx: Iterable[int]) -> list[tuple[str, Any, dict]]:
    return [(trace.steps[i].text, trace.steps[i].behaviour, trace.steps[i].source_labels) for i in idx]


def _check_trace(trace: Any, where: str) -> Trace:
    if not isinstance(trace, Trace):
        raise InvalidArgumentError(f"{where}: expected a Trace, got {type(trace).__name__}")
    return trace


def _check_seed(seed: Any, where: str) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidArgumentError(f"{where}: seed must be a non-negative int, got {seed!r}")
    return int(seed)


def _check_sep(sep: Any, where: str) -> str:
    if not isinstance(sep, str):
        raise InvalidArgumentError(f"{where}: sep must be a str, got {sep!r}")
    return sep


def _check_fraction(x: Any, name: str, where: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not 0.0 <= x <= 1.0:
        raise InvalidArgumentError(f"{where}: {name} must be a number in [0, 1], got {x!r}")
    return float(x)


def _runs(trace: Trace) -> list[list[int]]:
    """Indices of maximal runs of consecutive steps with equal behaviour (``None`` counts as one)."""
    runs: list[list[int]] = []
    for i, s in enumerate(trace.steps):
        if runs and trace.steps[runs[-1][-1]].behaviour == s.behaviour:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


# --------------------------------------------------------------------------------------------
# summarise
# --------------------------------------------------------------------------------------------

_SUMMARY_SYSTEM = (
    "You shorten worked reasoning. Keep the order of the ideas, the key numbers and results, and "
    "every place where the writer checks earlier work or switches to another approach. Write "
    "plain prose in the writer's voice, with no introduction and no comments of your own."
)


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _summary_request(problem: str, text: str, target: int, whole: bool) -> list[dict[str, str]]:
    n = word_count(text)
    if whole:
        ask = (
            f"Rewrite the reasoning above in about {target} words. Keep one short paragraph per "
            "step and separate paragraphs with a blank line."
        )
        head = f"Reasoning ({n} words):"
    else:
        ask = f"Rewrite the passage above in about {target} words, as a single paragraph."
        head = f"Passage from the reasoning ({n} words):"
    user = f"Problem: {_clip(problem, 400)}\n\n{head}\n{text}\n\n{ask}"
    return [{"role": "system", "content": _SUMMARY_SYSTEM}, {"role": "user", "content": user}]


def summarise(
    trace: Trace,
    sampler: Any,
    *,
    target_ratio: float = 0.55,
    per: str = "trace",
    max_tokens: int | None = None,
    temperature: float = 0.0,
    seed: int = 0,
    sep: str = SEP,
) -> Trace:
    """Shorten a trace with a language model to about ``target_ratio`` of its length.

    Length is counted in whitespace words (:func:`word_count`), a tokeniser-free proxy for
    tokens. The target of each request is ``max(1, round(target_ratio * words))``; a model only
    approximately follows it, so the length actually reached is measured and recorded.

    * ``per="trace"``: one request with the whole trace; the reply's paragraphs (split at blank
      lines) become the new steps, with ``behaviour=None`` -- a summary paragraph need not
      correspond to any one old step, so it has to be labelled again.
    * ``per="run"``: one request per run of consecutive steps with the same behaviour (unlabelled
      steps form runs of ``None``); each reply becomes one step that keeps the run's behaviour,
      so the behaviour sequence equals that of :func:`merge_runs`. A run with no words is kept
      as it is, without a request.

    Parameters
    ----------
    trace : Trace
    sampler : metacot.llm.samplers.Sampler
        Anything with ``complete_batch(requests)``; ``describe()`` is recorded if present.
    target_ratio : float in (0, 1], default 0.55
        Wanted length of the output relative to the input, in words.
    per : {"trace", "run"}
    max_tokens : int, optional
        Generation limit of each request; by default ``2 * target + 16`` for that request's
        target in words (room for ~1.3 tokens a word plus slack; the prompt asks for brevity).
    temperature : float, default 0.0
        Greedy by default, so a summary is reproducible.
    seed : int, default 0
        Passed to every request.
    sep : str, default :data:`SEP`

    Returns
    -------
    Trace
        Its provenance record has ``words_before``, ``words_after``, ``achieved_ratio`` and
        ``sampler``; each new step's ``source_labels["summarised_from"]`` lists the old step
        indices it stands for (all of them for ``per="trace"``).

    Raises
    ------
    InvalidArgumentError
        Bad arguments, or a trace with no words to summarise.
    SamplerError
        The sampler returned the wrong number of replies or an empty one.

    Examples
    --------
    >>> from metacot.llm.samplers import ScriptedSampler
    >>> t = make_trace(["Let x be two.", "Then x plus one is three."], ["normal", "normal"])
    >>> s = summarise(t, ScriptedSampler(["x is 2, so x + 1 = 3."]))
    >>> s.texts(), s.metadata["transforms"][-1]["achieved_ratio"]
    (['x is 2, so x + 1 = 3.'], 0.9)
    """
    where = "summarise"
    _check_trace(trace, where)
    if not callable(getattr(sampler, "complete_batch", None)):
        raise InvalidArgumentError(f"{where}: sampler must have complete_batch(requests), got {type(sampler).__name__}")
    if isinstance(target_ratio, bool) or not isinstance(target_ratio, (int, float)) or not 0 < target_ratio <= 1:
        raise InvalidArgumentError(f"{where}: target_ratio must be a number in (0, 1], got {target_ratio!r}")
    if per not in ("trace", "run"):
        raise InvalidArgumentError(f"{where}: per must be 'trace' or 'run', got {per!r}")
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1):
        raise InvalidArgumentError(f"{where}: max_tokens must be a positive int or None, got {max_tokens!r}")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature >= 0:
        raise InvalidArgumentError(f"{where}: temperature must be a number >= 0, got {temperature!r}")
    seed = _check_seed(seed, where)
    sep = _check_sep(sep, where)
    before = sum(word_count(s.text) for s in trace.steps)
    if before == 0:
        raise InvalidArgumentError(f"{where}: trace {trace.trace_id!r} has no words to summarise")

    from metacot.llm.samplers import ChatRequest  # the samplers module is only needed here

    groups = [list(range(len(trace.steps)))] if per == "trace" else _runs(trace)
    requests, asked = [], []
    for g in groups:
        text = "\n\n".join(trace.steps[i].text for i in g)
        n = word_count(text)
        if n == 0:
            continue
        target = max(1, round(target_ratio * n))
        requests.append(
            ChatRequest(
                messages=_summary_request(trace.problem, text, target, per == "trace"),
                temperature=float(temperature),
                max_tokens=max_tokens if max_tokens is not None else 2 * target + 16,
                seed=seed,
            )
        )
        asked.append(g)
    replies = sampler.complete_batch(requests)
    if len(replies) != len(requests):
        raise SamplerError(f"{where}: the sampler returned {len(replies)} replies for {len(requests)} requests")
    reply_of = {id(g): r.strip() for g, r in zip(asked, replies, strict=True)}
    for g in asked:
        if not reply_of[id(g)]:
            raise SamplerError(f"{where}: trace {trace.trace_id!r}: empty summary for steps {g[0]}..{g[-1]}")

    parts: list[tuple[str, Any, dict]] = []
    if per == "trace":
        all_idx = groups[0]
        paragraphs = [p.strip() for p in re.split(r"\n[ \t]*\n\s*", reply_of[id(all_idx)]) if p.strip()]
        parts = [(p, None, {"summarised_from": list(all_idx)}) for p in paragraphs]
    else:
        for g in groups:
            b = trace.steps[g[0]].behaviour
            text = reply_of.get(id(g), "\n\n".join(trace.steps[i].text for i in g))
            parts.append((text, b, {"summarised_from": list(g)}))
    after = sum(word_count(p[0]) for p in parts)
    describe = getattr(sampler, "describe", None)
    record = {
        "name": "summarise",
        "params": {"target_ratio": float(target_ratio), "per": per, "max_tokens": max_tokens,
                   "temperature": float(temperature), "sep": sep},
        "seed": seed,
        "sampler": describe() if callable(describe) else {"kind": type(sampler).__name__},
        "length_unit": "whitespace words",
        "words_before": before,
        "words_after": after,
        "achieved_ratio": after / before,
    }
    return _rebuild(trace, parts, record, sep)


# --------------------------------------------------------------------------------------------
# structural edits
# --------------------------------------------------------------------------------------------


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
    _check_trace(trace, where)
    sep = _check_sep(sep, where)
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
    return _rebuild(trace, _kept(trace, keep), record, sep)


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
    _check_trace(trace, where)
    sep = _check_sep(sep, where)
    if not isinstance(joiner, str):
        raise InvalidArgumentError(f"{where}: joiner must be a str, got {joiner!r}")
    parts = [
        (joiner.join(trace.steps[i].text for i in g), trace.steps[g[0]].behaviour, {"merged_from": g})
        for g in _runs(trace)
    ]
    record = {"name": "merge_runs", "params": {"joiner": joiner, "sep": sep}, "seed": None}
    return _rebuild(trace, parts, record, sep)


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
    _check_trace(trace, where)
    sep = _check_sep(sep, where)
    if (fraction is None) == (n_steps is None):
        raise InvalidArgumentError(f"{where}: give exactly one of fraction and n_steps")
    if fraction is not None:
        k = round(_check_fraction(fraction, "fraction", where) * len(trace))
    else:
        if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 0:
            raise InvalidArgumentError(f"{where}: n_steps must be a non-negative int, got {n_steps!r}")
        k = min(n_steps, len(trace))
    record = {"name": "truncate", "params": {"fraction": fraction, "n_steps": n_steps, "sep": sep},
              "seed": None, "kept": k}
    return _rebuild(trace, _kept(trace, range(k)), record, sep)


def drop_random(trace: Trace, fraction: float, seed: int = 0, *, sep: str = SEP) -> Trace:
    """Drop exactly ``round(fraction * len(trace))`` steps chosen uniformly at random.

    The length control for :func:`summarise` and :func:`drop_behaviours`: removing 45% of the
    steps at random tells how much of an effect is due to length alone. The survivors keep
    their order. ``round`` is Python's (halves go to the even number).

    Parameters
    ----------
    trace : Trace
    fraction : float in [0, 1]
        Share of steps to **drop**.
    seed : int, default 0
    sep : str, default :data:`SEP`

    Examples
    --------
    >>> t = make_trace(list("abcdefghij"))
    >>> u = drop_random(t, 0.3, seed=1)
    >>> len(u), u.metadata["transforms"][-1]["dropped"] == sorted(u.metadata["transforms"][-1]["dropped"])
    (7, True)
    """
    where = "drop_random"
    _check_trace(trace, where)
    sep = _check_sep(sep, where)
    fraction = _check_fraction(fraction, "fraction", where)
    seed = _check_seed(seed, where)
    n = len(trace)
    k = round(fraction * n)
    rng = np.random.default_rng(seed)
    dropped = sorted(int(i) for i in rng.choice(n, size=k, replace=False)) if k else []
    gone = set(dropped)
    record = {"name": "drop_random", "params": {"fraction": fraction, "sep": sep}, "seed": seed,
              "dropped": dropped}
    return _rebuild(trace, _kept(trace, [i for i in range(n) if i not in gone]), record, sep)


def shuffle_steps(trace: Trace, seed: int = 0, *, sep: str = SEP) -> Trace:
    """Put the steps in a uniformly random order (each keeps its text and behaviour).

    Examples
    --------
    >>> t = make_trace(["a", "b", "c"], ["normal", "deep", "reflect"])
    >>> u = shuffle_steps(t, seed=3)
    >>> sorted(u.texts()), [t.texts()[i] for i in u.metadata["transforms"][-1]["permutation"]] == u.texts()
    (['a', 'b', 'c'], True)
    """
    where = "shuffle_steps"
    _check_trace(trace, where)
    sep = _check_sep(sep, where)
    seed = _check_seed(seed, where)
    perm = [int(i) for i in np.random.default_rng(seed).permutation(len(trace))]
    record = {"name": "shuffle_steps", "params": {"sep": sep}, "seed": seed, "permutation": perm}
    return _rebuild(trace, _kept(trace, perm), record, sep)


def swap_steps(traces: Sequence[Trace], seed: int = 0, *, sep: str = SEP) -> list[Trace]:
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
    seed : int, default 0
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
        _check_trace(t, f"{where}, item {k}")
        for i, s in enumerate(t.steps):
            if s.behaviour is None:
                raise InvalidArgumentError(f"{where}: trace {t.trace_id!r}, step {i} is unlabelled")
    seed = _check_seed(seed, where)
    sep = _check_sep(sep, where)
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
        out.append(_rebuild(t, parts, record, sep))
    return out


# --------------------------------------------------------------------------------------------
# keyword replacement
# --------------------------------------------------------------------------------------------

_APOS = "['’]"

#: Cue phrases -> neutral replacements (ours). The cues cover every word cue of
#: :data:`metacot.graphs.labellers.DEFAULT_PATTERNS` (explore, reflect and deep) plus a few close variants;
#: no replacement matches any cue or any keyword pattern. Each entry is a case-insensitive
#: regular expression without capturing groups; lookaheads keep the word that follows (so
#: "another approach" becomes "a second approach"). Longer phrases come first because the
#: first alternative that matches at a position wins. A cue right after a backslash is a LaTeX
#: command (``\therefore``) and is not a cue word.
CUE_SYNONYMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # exploration
    (r"\balternatively\b", ("on the other hand", "as a second option")),
    (r"\ban alternative\b", ("a second", "one more")),
    (r"\balternative\b", ("second", "other")),
    (r"\banother(?= (?:approach|way|method|idea|possibility|strategy)\b)", ("a second", "one more")),
    (r"\bwhat if\b", ("how about if", "imagine if")),
    (r"\bsuppose\b", ("assume", "imagine")),
    (rf"\blet{_APOS}?s try\b", ("let us attempt", "we can attempt")),
    (r"\blet me try\b", ("let me attempt", "I will attempt")),
    (r"\btry(?= (?:an? )?different\b)", ("attempt", "go with")),
    (r"\binstead of\b", ("in place of", "rather than")),
    (r"\binstead\b", ("in its place", "rather")),
    (r"\bor maybe\b", ("or possibly", "or perhaps")),
    (r"\bmaybe(?= (?:we|i) (?:can|could|should)\b)", ("possibly", "perhaps")),
    (r"\bconsider the case\b", ("look at the case", "take the case")),
    # reflection
    (r"\bwait\b", ("hold on", "one moment")),
    (r"\blet me (?:double[- ])?check\b", ("let me go over", "let me look over")),
    (r"\bdouble[- ]check\b", ("re-examine", "look over")),
    (r"\bre-?check\b", ("re-examine", "look over")),
    (r"\bverify\b", ("test", "examine")),
    (r"\bverifying\b", ("testing", "examining")),
    (r"\bverified\b", ("tested", "examined")),
    (r"\bhmm+\b", ("well", "okay")),
    (r"\bmistakes\b", ("slips", "errors")),
    (r"\bmistake\b", ("slip", "error")),
    (rf"\bi(?:{_APOS}m| am) not sure\b", ("I am uncertain", "I have doubts")),
    (r"\bi might be wrong\b", ("I could be off", "this may be off")),
    (r"\breconsider\b", ("rethink", "revisit")),
    (rf"\bthat(?:{_APOS}s| is) (?:not right|wrong)\b", ("that is off", "that does not hold")),
    (rf"\bthat(?:{_APOS}s| is) correct\b", ("that holds", "that is right")),
    (r"\bconfirms\b", ("establishes", "settles")),
    (r"\bconfirmed\b", ("established", "settled")),
    (r"\bconfirm\b", ("establish", "settle")),
    (r"\bmakes sense\b", ("is reasonable", "adds up")),
    # deep reasoning
    (r"\btherefore\b", ("so", "as a result")),
    (r"\bthus\b", ("so", "as a result")),
    (r"\bhence\b", ("so", "as a result")),
    (r"\bimplies\b", ("gives", "means")),
    (r"\bit follows\b", ("we get", "one gets")),
    (r"\bconsequently\b", ("as a result", "so")),
)

# The lookbehind leaves LaTeX commands alone: ``\implies`` and ``\therefore`` are symbols, not
# words (level 2 rewrites them), and ``\so`` would not compile.
_CUES = re.compile(
    "|".join(f"(?<!\\\\)(?P<c{k}>{rx})" for k, (rx, _) in enumerate(CUE_SYNONYMS)), re.IGNORECASE
)

#: Level-2 extras (ours): hedges, interjections and connectives that announce a behaviour without
#: being keyword cues -- including the level-1 replacements, so level 2 deletes rather than
#: rewords a step's opening marker. Deleted only where they open a clause.
HEDGES: tuple[str, ...] = (
    "on the other hand", "as a second option", "as a result", "in its place", "hold on",
    "one moment", "all right", "alright", "okay", "ok", "oh", "well", "actually", "perhaps",
    "possibly", "rather", "so", "now", "I think",
)

_HEDGE = re.compile(
    r"(?P<pre>^|[.!?;:]\s+|\n\s*)(?P<cue>" + "|".join(re.escape(h) for h in HEDGES)
    + r")\b(?![-'’])[,.!]?\s*(?P<next>\w*)(?P<word>(?=\s+[^\W\d_]{2}))?",
    re.IGNORECASE,
)

# Symbolic implication cues of the keyword labeller's deep rule; level 2 turns them into a
# neutral arrow (in LaTeX, ``\Rightarrow``) so the maths still reads the same.
_SYMBOLS = (
    (re.compile(r"\\(?:implies|therefore|thus|hence)\b"), r"\\Rightarrow"),
    (re.compile(r"⇒|(?<![<=])=>"), "→"),
)


def _case_like(src: str, repl: str) -> str:
    return repl[:1].upper() + repl[1:] if src[:1].isupper() else repl


def _level1(text: str, rng: np.random.Generator) -> tuple[str, int]:
    count = 0

    def sub(m: re.Match[str]) -> str:
        nonlocal count
        count += 1
        options = CUE_SYNONYMS[int(m.lastgroup[1:])][1]
        return _case_like(m.group(0), options[int(rng.integers(len(options)))])

    return _CUES.sub(sub, text), count


def _level2(text: str) -> str:
    def sub(m: re.Match[str]) -> str:
        nxt = m.group("next")
        # A deleted opener leaves the next word starting the clause: give it the opener's case,
        # but only for a word -- "So x = 2" must not turn the variable x into X, while
        # "Instead, a rule ..." should give "A rule ...".
        is_word = nxt.isalpha() and (len(nxt) > 1 or (nxt in "aI" and m.group("word") is not None))
        if m.group("cue")[:1].isupper() and is_word:
            nxt = nxt[:1].upper() + nxt[1:]
        return m.group("pre") + nxt

    for rx, repl in _SYMBOLS:
        text = rx.sub(repl, text)
    # Openers can be stacked ("Well, okay, so ..."): repeat until nothing changes.
    while True:
        new = _HEDGE.sub(sub, text)
        if new == text:
            return text
        text = new


def replace_keywords(trace: Trace, level: int = 1, seed: int = 0, *, sep: str = SEP) -> Trace:
    """Replace the behaviour cue words of the step texts by neutral wording.

    * **Level 1** (Replace1): every cue phrase of :data:`CUE_SYNONYMS` -- all the word cues of
      :data:`metacot.graphs.labellers.DEFAULT_PATTERNS` -- is replaced by one of its neutral synonyms,
      drawn at random (seeded). The meaning stays; the surface cue goes, so
      :class:`~metacot.graphs.labellers.KeywordLabeller` no longer sees explore or reflect cues and sees
      deep reasoning only in symbols and chains of equations.
    * **Level 2** (Replace2): level 1, then the remaining markers are neutralised: the hedges and
      interjections of :data:`HEDGES` are deleted where they open a clause (the level-1 synonyms
      among them too, so "Wait, x" becomes "X" rather than "Hold on, x"), and the implication
      symbols ``⇒``, ``=>`` and the LaTeX commands ``\\implies``, ``\\therefore`` (which level 1
      leaves alone) become ``→`` / ``\\Rightarrow``. Chains of
      equations are content, not cues, and are left alone. A step that would lose all its
      words keeps its level-1 text.

    The first letter of a replacement takes the case of the first letter of what it replaces.
    Steps keep their behaviour labels (relabel to measure the effect).

    Parameters
    ----------
    trace : Trace
    level : {1, 2}
    seed : int, default 0
    sep : str, default :data:`SEP`

    Returns
    -------
    Trace
        Its provenance record has ``replaced`` (number of level-1 replacements) and
        ``changed_steps`` (indices of steps whose text changed).

    Examples
    --------
    >>> t = make_trace(["Wait, that is wrong.", "Alternatively, use x."])
    >>> replace_keywords(t, seed=2).texts()
    ['One moment, that is off.', 'On the other hand, use x.']
    >>> replace_keywords(t, level=2, seed=2).texts()
    ['That is off.', 'Use x.']
    """
    where = "replace_keywords"
    _check_trace(trace, where)
    if level not in (1, 2) or isinstance(level, bool):
        raise InvalidArgumentError(f"{where}: level must be 1 or 2, got {level!r}")
    seed = _check_seed(seed, where)
    sep = _check_sep(sep, where)
    rng = np.random.default_rng(seed)
    parts, changed, replaced = [], [], 0
    for i, s in enumerate(trace.steps):
        text, n = _level1(s.text, rng)
        replaced += n
        if level == 2:
            deeper = _level2(text)
            if re.search(r"\w", deeper) or not re.search(r"\w", text):
                text = deeper
        if text != s.text:
            changed.append(i)
        parts.append((text, s.behaviour, s.source_labels))
    record = {"name": "replace_keywords", "params": {"level": level, "sep": sep}, "seed": seed,
              "replaced": replaced, "changed_steps": changed}
    return _rebuild(trace, parts, record, sep)


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
