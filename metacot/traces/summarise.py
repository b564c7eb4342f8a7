"""Shortening a trace with a language model: :func:`summarise`.

The length control of the summarisation experiments (M8, M9); the random and structural
controls are in :mod:`metacot.traces.transforms`. The model is reached through the
:class:`~metacot.llm.samplers.Sampler` protocol, so any sampler (embedded llama.cpp, an
OpenAI-compatible server, a scripted one in tests) can write the summaries.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from metacot.errors import InvalidArgumentError, SamplerError
from metacot.traces.edits import SEP, check_sep, check_trace, rebuild, runs, seed_key, word_count
from metacot.traces.model import Trace

__all__ = ["SUMMARY_SYSTEM", "summarise", "summary_request"]


def _request_seed(seed: Any, where: str) -> int:
    # The seed goes to every request; model servers take 32-bit seeds, so a Generator draws one
    # below 2**31 (an int seed is passed on as given).
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(0, 2**31 - 1))
    return seed_key(seed, where)


#: The system prompt of :func:`summarise` (part of any cache key of summaries).
SUMMARY_SYSTEM = (
    "You shorten worked reasoning. Keep the order of the ideas, the key numbers and results, and "
    "every place where the writer checks earlier work or switches to another approach. Write "
    "plain prose in the writer's voice, with no introduction and no comments of your own."
)


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summary_request(problem: str, text: str, target: int, whole: bool) -> list[dict[str, str]]:
    """The chat messages that ask for a summary of ``text`` in about ``target`` words.

    ``whole`` says whether ``text`` is a whole trace or one run of steps. Public so that a cache of
    summaries can key on the exact request.
    """
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
    return [{"role": "system", "content": SUMMARY_SYSTEM}, {"role": "user", "content": user}]


def summarise(
    trace: Trace,
    sampler: Any,
    *,
    target_ratio: float = 0.55,
    per: str = "trace",
    max_tokens: int | None = None,
    temperature: float = 0.0,
    seed: int | np.random.Generator = 0,
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
    seed : int or numpy.random.Generator, default 0
        Passed to every request (a Generator draws one int below :math:`2^{31}`, recorded).
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
    >>> from metacot.traces.edits import make_trace
    >>> t = make_trace(["Let x be two.", "Then x plus one is three."], ["normal", "normal"])
    >>> s = summarise(t, ScriptedSampler(["x is 2, so x + 1 = 3."]))
    >>> s.texts(), s.metadata["transforms"][-1]["achieved_ratio"]
    (['x is 2, so x + 1 = 3.'], 0.9)
    """
    where = "summarise"
    check_trace(trace, where)
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
    seed = _request_seed(seed, where)
    sep = check_sep(sep, where)
    before = sum(word_count(s.text) for s in trace.steps)
    if before == 0:
        raise InvalidArgumentError(f"{where}: trace {trace.trace_id!r} has no words to summarise")

    from metacot.llm.protocol import ChatRequest  # the samplers are only needed here

    groups = [list(range(len(trace.steps)))] if per == "trace" else runs(trace)
    requests, asked = [], []
    for g in groups:
        text = "\n\n".join(trace.steps[i].text for i in g)
        n = word_count(text)
        if n == 0:
            continue
        target = max(1, round(target_ratio * n))
        requests.append(
            ChatRequest(
                messages=summary_request(trace.problem, text, target, per == "trace"),
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
    return rebuild(trace, parts, record, sep)
