r"""How MoLE-Syn conditions the model on the behaviour it wants: named option sets, measured.

A :class:`Conditioning` bundles the levers that help a small instruction model write a step of the
behaviour asked for (issue 16 of the project, item 1):

* ``fewshot`` -- that many real teacher steps of the behaviour, retrieved by MiniLM similarity to
  the problem and the last step (:mod:`metacot.synth.fewshot`), appended to the system prompt;
* ``opening`` -- the reply is forced to start with a behaviour-specific opening (":data:`OPENINGS`",
  our wording of typical teacher cues: "Wait, let me check" for self-reflection, "Alternatively,"
  for self-exploration ...), chosen per step from the step's seed; the model continues it
  (:class:`~metacot.synth.steering.SteeredRequest`). Its length is recorded on the step, so that
  fidelity can be measured on the text without it;
* ``stop`` -- stop sequences, e.g. a blank line, so one request yields one step;
* ``repeat_penalty`` -- llama.cpp's repetition penalty (1 is off);
* ``context_chars`` -- how much of the rationale so far the model sees
  (:func:`~metacot.synth.prompts.user_prompt`);
* ``max_retries`` -- how often a step rejected by :mod:`metacot.synth.guards` (empty, copied
  from the prompt, repeated) is asked for again; after that the last attempt is kept and flagged.

:data:`PRESETS` holds the variants measured by ``benchmarks/synth_conditioning.py``
(``benchmarks/SYNTH_CONDITIONING.md``); :data:`DEFAULT` names the one that measured best. The
preset ``"plain"`` is MoLE-Syn as it was before conditioning existed (no retries), so runs written
then resume unchanged.

Examples
--------
>>> PRESETS["plain"].steered, PRESETS["opening"].steered
(False, True)
>>> opening_for("reflect", 0)
'Wait, let me check'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from metacot.behaviours import Behaviour
from metacot.errors import InvalidArgumentError

__all__ = ["DEFAULT", "OPENINGS", "PRESETS", "Conditioning", "as_conditioning", "conditioned_request", "merged_stop",
           "opening_for"]

#: Openings per behaviour (our wording of cues common in the shipped teacher traces).
OPENINGS: dict[Behaviour, tuple[str, ...]] = {
    Behaviour.NORMAL: ("Next, we compute", "Now, substituting", "So, we have"),
    Behaviour.DEEP: ("Therefore, it follows that", "This implies that", "Combining these results,"),
    Behaviour.REFLECT: ("Wait, let me check", "Hmm, let me verify", "But wait, is that right?"),
    Behaviour.EXPLORE: ("Alternatively, we could", "Another approach is to", "What if we instead"),
}


def opening_for(behaviour: Behaviour | str, seed: int) -> str:
    """The opening of a step of ``behaviour`` whose request seed is ``seed`` (deterministic)."""
    options = OPENINGS[Behaviour(behaviour)]
    return options[int(seed) % len(options)]


@dataclass(frozen=True)
class Conditioning:
    """One way of conditioning the model on the wanted behaviour (see the module notes).

    Parameters
    ----------
    name : str
    fewshot : int
        Teacher examples per request (0: none).
    opening : bool
        Force a behaviour-specific reply opening (needs a steerable sampler).
    stop : tuple of str
        Stop sequences of every request.
    repeat_penalty : float
        Repetition penalty, ``> 0``; 1 is off (other values need a steerable sampler).
    context_chars : int or None
        Rationale characters shown; ``None`` shows all.
    max_retries : int
        Re-requests of a step the guards reject.
    """

    name: str
    fewshot: int = 0
    opening: bool = False
    stop: tuple[str, ...] = ()
    repeat_penalty: float = 1.0
    context_chars: int | None = 4000
    max_retries: int = 0

    def __post_init__(self) -> None:
        for field_name in ("fewshot", "max_retries"):
            v = getattr(self, field_name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise InvalidArgumentError(f"Conditioning.{field_name} must be an int >= 0, got {v!r}")
        rp = self.repeat_penalty
        if isinstance(rp, bool) or not isinstance(rp, (int, float)) or not rp > 0:
            raise InvalidArgumentError(f"Conditioning.repeat_penalty must be a number > 0, got {rp!r}")
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)
        if not all(isinstance(s, str) and s for s in stop):
            raise InvalidArgumentError(f"Conditioning.stop must hold non-empty strings, got {self.stop!r}")
        object.__setattr__(self, "stop", stop)
        c = self.context_chars
        if c is not None and (isinstance(c, bool) or not isinstance(c, int) or c < 1):
            raise InvalidArgumentError(f"Conditioning.context_chars must be a positive int or None, got {c!r}")

    @property
    def steered(self) -> bool:
        """Whether requests need a steerable sampler (a forced opening or a repetition penalty)."""
        return self.opening or self.repeat_penalty != 1.0

    @property
    def legacy(self) -> bool:
        """Whether this is MoLE-Syn's original behaviour (nothing beyond ``stop`` and ``context_chars``)."""
        return not (self.fewshot or self.opening or self.max_retries or self.repeat_penalty != 1.0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings (``stop`` as a list)."""
        d = asdict(self)
        d["stop"] = list(self.stop)
        return d


_GUARDED = Conditioning("guarded", max_retries=2)

#: The measured variants (``benchmarks/SYNTH_CONDITIONING.md``); each adds one lever to ``guarded``
#: except ``plain`` (the original) and ``combined`` (all levers).
PRESETS: dict[str, Conditioning] = {
    "plain": Conditioning("plain"),
    "guarded": _GUARDED,
    "stop": replace(_GUARDED, name="stop", stop=("\n\n",)),
    "penalty": replace(_GUARDED, name="penalty", repeat_penalty=1.3),
    "short": replace(_GUARDED, name="short", context_chars=1200),
    "fewshot": replace(_GUARDED, name="fewshot", fewshot=3),
    "opening": replace(_GUARDED, name="opening", opening=True),
    "combined": replace(_GUARDED, name="combined", fewshot=3, opening=True, stop=("\n\n",),
                        repeat_penalty=1.3, context_chars=1200),
}

#: Name of the default preset: the best by the rule of ``benchmarks/synth_conditioning.py``.
DEFAULT = "stop"


def as_conditioning(value: Conditioning | str | None) -> Conditioning:
    """A :class:`Conditioning`, or the preset of that name (``None``: :data:`DEFAULT`).

    Examples
    --------
    >>> as_conditioning("stop").stop
    ('\\n\\n',)
    """
    if value is None:
        value = DEFAULT
    if isinstance(value, Conditioning):
        return value
    if isinstance(value, str) and value in PRESETS:
        return PRESETS[value]
    raise InvalidArgumentError(f"conditioning must be a Conditioning or one of {sorted(PRESETS)}, got {value!r}")


def merged_stop(cond: Conditioning, extra: Sequence[str]) -> tuple[str, ...]:
    """The conditioning's stop sequences followed by ``extra`` ones, without duplicates."""
    return tuple(dict.fromkeys((*cond.stop, *extra)))


def conditioned_request(
    cond: Conditioning,
    behaviour: Behaviour | str,
    problem: str,
    steps: Sequence[str],
    *,
    seed: int,
    bank: Any = None,
    **settings: Any,
) -> tuple[Any, str]:
    """The request for the next step under ``cond``, and the forced opening (``""`` if none).

    The system message is :func:`~metacot.synth.prompts.system_prompt`, followed by
    ``cond.fewshot`` teacher examples from ``bank`` when asked for; the user message is
    :func:`~metacot.synth.prompts.user_prompt` with ``cond.context_chars``. A plain
    :class:`~metacot.llm.protocol.ChatRequest` is returned unless the conditioning steers (then a
    :class:`~metacot.synth.steering.SteeredRequest`).

    Parameters
    ----------
    cond : Conditioning
    behaviour : Behaviour or str
    problem : str
    steps : sequence of str
        The rationale so far.
    seed : int
        The request seed (it also picks the opening).
    bank : ExampleBank, optional
        Needed when ``cond.fewshot > 0``.
    **settings
        ``temperature``, ``max_tokens``, ``stop`` (the conditioning's ``stop`` is put first).

    Examples
    --------
    >>> r, opening = conditioned_request(PRESETS["opening"], "explore", "Find x.", ["x > 0."], seed=1,
    ...                                  max_tokens=16)
    >>> opening, r.prefill == opening, r.messages[1]["content"].endswith("x > 0.")
    ('Another approach is to', True, True)
    """
    from metacot.llm.protocol import ChatRequest
    from metacot.synth.fewshot import format_examples
    from metacot.synth.prompts import system_prompt, user_prompt
    from metacot.synth.steering import SteeredRequest

    b = Behaviour(behaviour)
    system = system_prompt(b)
    if cond.fewshot:
        if bank is None:
            raise InvalidArgumentError(f"conditioning {cond.name!r} asks for few-shot examples but no bank was given")
        examples = bank.examples(b, problem, steps[-1] if steps else "", k=cond.fewshot)
        system = f"{system}\n\n{format_examples(b.title, examples)}"
    messages = ({"role": "system", "content": system},
                {"role": "user", "content": user_prompt(problem, steps, cond.context_chars)})
    settings["stop"] = merged_stop(cond, settings.get("stop", ()))
    if not cond.steered:
        return ChatRequest(messages, seed=seed, **settings), ""
    opening = opening_for(b, seed) if cond.opening else ""
    return SteeredRequest(messages, seed=seed, prefill=opening, repeat_penalty=cond.repeat_penalty, **settings), opening
