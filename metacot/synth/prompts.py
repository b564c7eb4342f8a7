r"""The behaviour prompts of MoLE-Syn: one template per behaviour.

Chen et al. (2026), *The Molecular Structure of Thought: Mapping the Topology of Long
Chain-of-Thought Reasoning* (arXiv:2601.06002, Appendix E), give the instruction LLM one prompt per
behaviour, all of the same shape: the model receives the question and the rationale written so
far; if it can already give the answer it states it briefly in ``\boxed{}``; otherwise it carries
out the requested behaviour on the rationale. The prompt lists the four behaviour definitions and
names the behaviour wanted twice, once in the opening instruction and once at the end.

We keep that structure and write the text in our own words; the definitions are those of
:mod:`metacot.behaviours` (our paraphrase of the paper's rubric). How the question and the
rationale are placed in the chat is not published (``papers/molecular_paper.md`` §3.2 marks it
unconfirmed): we put the instructions in the system message and the question and rationale in
the user message, and keep only the most recent part of a long rationale (``context_chars``) so
that small models with short context windows can run long walks.

What else is put to the model -- few-shot teacher steps appended to the system message, a forced
opening of the reply, stop sequences, a repetition penalty -- is chosen by a
:class:`~metacot.synth.conditioning.Conditioning` and assembled by
:func:`~metacot.synth.conditioning.conditioned_request`; the texts here stay the same.

Examples
--------
>>> from metacot.synth.prompts import system_prompt
>>> print(system_prompt("reflect").splitlines()[-1])
Now write one Self-Reflection step: look back over the reasoning so far, check it, and say plainly what holds up, what is doubtful and what is wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from metacot.behaviours import BEHAVIOURS, Behaviour
from metacot.errors import InvalidArgumentError
from metacot.llm.protocol import ChatRequest

__all__ = ["CITATION", "INSTRUCTIONS", "step_request", "system_prompt", "user_prompt"]

#: The source of the prompt structure.
CITATION = (
    "Chen et al. (2026), The Molecular Structure of Thought: Mapping the Topology of Long "
    "Chain-of-Thought Reasoning, arXiv:2601.06002, Appendix E"
)

#: What the model is asked to do for each behaviour (our wording of the paper's four instructions).
INSTRUCTIONS: dict[Behaviour, str] = {
    Behaviour.NORMAL: (
        "carry out the next routine operation on the reasoning so far, such as a calculation, "
        "a substitution, a known fact or a restatement, without adding any new idea"
    ),
    Behaviour.DEEP: (
        "take the reasoning so far one level deeper by deriving a new consequence, an "
        "intermediate result or a hidden assumption from what is already established"
    ),
    Behaviour.REFLECT: (
        "look back over the reasoning so far, check it, and say plainly what holds up, what is "
        "doubtful and what is wrong"
    ),
    Behaviour.EXPLORE: (
        "open a different path: propose another method, a new hypothesis or a question that "
        "the reasoning so far has not tried"
    ),
}

_TEMPLATE = """\
You are a helpful assistant working on a question step by step. You will be given the question \
and the reasoning written so far. If that is already enough to answer, reply only with the \
short final answer written inside \\boxed{{}}. If it is not, {instruction}.

There are four kinds of reasoning step:
{definitions}

The step you write now must be of the kind {title}.
Now write one {title} step: {instruction}."""

_NO_RATIONALE = "(nothing yet: this is the first step)"


def _behaviour(b: Behaviour | str) -> Behaviour:
    try:
        return Behaviour(b)
    except ValueError:
        raise InvalidArgumentError(
            f"unknown behaviour {b!r}; expected one of {[x.value for x in BEHAVIOURS]}"
        ) from None


def system_prompt(behaviour: Behaviour | str) -> str:
    r"""The system message that asks for one step of ``behaviour``.

    It says: answer in ``\boxed{}`` if the reasoning allows; otherwise perform the behaviour on
    the reasoning so far; it lists the four definitions of :mod:`metacot.behaviours` and repeats
    the behaviour wanted (structure of Chen et al., 2026, Appendix E; wording ours).

    Parameters
    ----------
    behaviour : Behaviour or str

    Returns
    -------
    str

    Examples
    --------
    >>> p = system_prompt("deep")
    >>> "\\boxed{}" in p and "Self-Exploration:" in p and p.count("Deep Reasoning step") == 1
    True
    """
    b = _behaviour(behaviour)
    definitions = "\n".join(f"- {x.title}: {x.definition}" for x in BEHAVIOURS)
    return _TEMPLATE.format(instruction=INSTRUCTIONS[b], definitions=definitions, title=b.title)


def user_prompt(problem: str, steps: Sequence[str] = (), context_chars: int | None = None) -> str:
    """The user message: the question and the reasoning so far.

    Steps are separated by blank lines. With ``context_chars`` set, only the most recent steps
    that fit in that many characters are shown (the last step is cut to its tail if it alone is
    longer) and a marker says how many earlier steps were left out; the question is never cut.

    Parameters
    ----------
    problem : str
    steps : sequence of str
        The rationale so far, oldest first.
    context_chars : int, optional
        Character budget for the rationale; ``None`` shows all of it.

    Returns
    -------
    str

    Examples
    --------
    >>> print(user_prompt("What is 2+3?", ["Add the numbers.", "2+3 = 5."], context_chars=10))
    Question:
    What is 2+3?
    <BLANKLINE>
    Reasoning so far:
    [1 earlier step(s) left out]
    <BLANKLINE>
    2+3 = 5.
    """
    if context_chars is not None and (
        isinstance(context_chars, bool) or not isinstance(context_chars, int) or context_chars < 1
    ):
        raise InvalidArgumentError(f"context_chars must be a positive int or None, got {context_chars!r}")
    kept = list(steps)
    dropped = 0
    if context_chars is not None:
        budget, tail = context_chars, []
        for s in reversed(kept):
            if len(s) <= budget:
                tail.append(s)
                budget -= len(s) + 2
            elif not tail:
                tail.append("..." + s[len(s) - budget :])  # the newest step matters most: keep its end
                budget = -1
            if budget < 0:
                break
        dropped = len(kept) - len(tail)
        kept = tail[::-1]
    body = "\n\n".join(kept) if kept else _NO_RATIONALE
    if dropped:
        body = f"[{dropped} earlier step(s) left out]\n\n{body}"
    return f"Question:\n{problem}\n\nReasoning so far:\n{body}"


def step_request(
    behaviour: Behaviour | str,
    problem: str,
    steps: Sequence[str] = (),
    *,
    context_chars: int | None = None,
    **settings: Any,
) -> ChatRequest:
    """The chat request for the next step of behaviour ``behaviour``.

    Parameters
    ----------
    behaviour : Behaviour or str
    problem : str
    steps : sequence of str
        The rationale so far.
    context_chars : int, optional
        See :func:`user_prompt`.
    **settings
        ``temperature``, ``max_tokens``, ``stop``, ``seed`` of :class:`~metacot.llm.samplers.ChatRequest`.

    Returns
    -------
    ChatRequest

    Examples
    --------
    >>> r = step_request("explore", "Find x.", ["x is odd."], max_tokens=32, seed=7)
    >>> r.messages[1]["content"].endswith("x is odd."), r.seed
    (True, 7)
    """
    return ChatRequest(
        (
            {"role": "system", "content": system_prompt(behaviour)},
            {"role": "user", "content": user_prompt(problem, steps, context_chars)},
        ),
        **settings,
    )
