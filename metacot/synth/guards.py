r"""Guards on synthesised steps: prompt copying, repetition and empty replies.

A small instruction model asked for one reasoning step often answers with the prompt itself (the
behaviour definitions, a few-shot example) or with a step it already wrote. MoLE-Syn
(:func:`metacot.synth.molesyn.molesyn`) checks every reply with :func:`check_step` and asks again,
with a fresh seed, a bounded number of times; what it found is counted (:class:`GuardCounts`).

Tests, in order (the first that fires names the event):

* **empty** -- the reply (after the forced opening, if any) holds no word character.
* **copy** -- the step shares a word :math:`n`-gram (:data:`COPY_NGRAM` = 12 words, lower-cased,
  punctuation dropped) with the *instruction text* of the prompt -- the system message: behaviour
  definitions, instructions and few-shot example steps -- that is not also an :math:`n`-gram of
  the problem statement. The problem is excluded on purpose: a step naturally quotes the
  question, and that is not copying the prompt. The rationale so far is not part of the
  instruction text either; re-writing an earlier step is the next test's business.
* **repeat** -- the step equals an earlier step of the same trace after normalisation (case,
  whitespace and punctuation ignored), or is a near duplicate: the Jaccard resemblance of the
  two steps' word 3-shingle sets,

  .. math:: J(A, B) = \frac{|S_3(A) \cap S_3(B)|}{|S_3(A) \cup S_3(B)|},

  is at least :data:`REPEAT_JACCARD` = 0.7 (Broder, 1997, "On the resemblance and containment of
  documents"). Steps with fewer than three words have no shingles and are compared exactly only.
  The threshold is our choice: document-level de-duplication uses 0.8 on 5-gram MinHash
  (Lee et al., 2022, "Deduplicating Training Data Makes Language Models Better"); steps are a
  few dozen words, so we compare shorter shingles and accept a little more change.

Examples
--------
>>> check_step("", "defs", "q", [])
'empty'
>>> check_step("So x = 2.", "defs", "q", ["so X = 2"])
'repeat'
>>> check_step("Let x = 2.", "defs", "q", []) is None
True
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields

__all__ = [
    "COPY_NGRAM",
    "EVENTS",
    "REPEAT_JACCARD",
    "GuardCounts",
    "check_step",
    "copies_prompt",
    "jaccard",
    "ngrams",
    "repeats",
    "words",
]

#: Length in words of a shared run that counts as copying the prompt (the issue's 12-gram).
COPY_NGRAM = 12
#: Jaccard resemblance of word 3-shingles at or above which two steps are near duplicates.
REPEAT_JACCARD = 0.7
#: Guard events, in the order they are tested.
EVENTS = ("empty", "copy", "repeat")

_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """Lower-cased word tokens (``\\w+``): the unit of every comparison here.

    Examples
    --------
    >>> words("Wait -- x^2 = 4, so X = 2!")
    ['wait', 'x', '2', '4', 'so', 'x', '2']
    """
    return _WORD.findall(text.lower())


def ngrams(tokens: Sequence[str], n: int) -> set[tuple[str, ...]]:
    """The set of contiguous ``n``-grams of ``tokens`` (empty if there are fewer than ``n``)."""
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def jaccard(a: set, b: set) -> float:
    """:math:`|a \\cap b| / |a \\cup b|`, and 0 for two empty sets."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def copies_prompt(step: str, instructions: str, problem: str = "", n: int = COPY_NGRAM) -> bool:
    """Whether ``step`` shares a word ``n``-gram with ``instructions`` that is not in ``problem``.

    Examples
    --------
    >>> defs = "The reasoner looks back at its own earlier work: it checks, doubts and corrects it."
    >>> copies_prompt("So: the reasoner looks back at its own earlier work: it checks, doubts and more", defs)
    True
    >>> copies_prompt("The reasoner looks back at its own earlier work", defs)  # only 9 words
    False
    """
    shared = ngrams(words(step), n) & ngrams(words(instructions), n)
    return bool(shared - ngrams(words(problem), n)) if shared else False


def repeats(step: str, earlier: Iterable[str], threshold: float = REPEAT_JACCARD) -> bool:
    """Whether ``step`` equals (normalised) or nearly duplicates (3-shingle Jaccard) an earlier step.

    Examples
    --------
    >>> a = "The polar equation is (r, theta) = (0, 3) when r = 3 and theta is zero."
    >>> repeats(a.replace("zero", "0"), [a]), repeats("Now square both sides.", [a])
    (True, False)
    """
    w = words(step)
    sh = ngrams(w, 3)
    for e in earlier:
        we = words(e)
        if we == w or (sh and jaccard(sh, ngrams(we, 3)) >= threshold):
            return True
    return False


def check_step(
    step: str,
    instructions: str,
    problem: str,
    earlier: Sequence[str],
    *,
    copy_ngram: int = COPY_NGRAM,
    repeat_jaccard: float = REPEAT_JACCARD,
) -> str | None:
    """The first guard event ``step`` triggers (``"empty"``, ``"copy"``, ``"repeat"``), or ``None``.

    Parameters
    ----------
    step : str
        The generated text (for a forced opening: the model's continuation only, so that the
        opening, the same in many steps, is never a repeat by itself).
    instructions : str
        The prompt's instruction text (system message, few-shot examples included).
    problem : str
        The problem statement, whose :math:`n`-grams are allowed.
    earlier : sequence of str
        The trace's steps so far.
    """
    if not _WORD.search(step):
        return "empty"
    if copies_prompt(step, instructions, problem, copy_ngram):
        return "copy"
    if repeats(step, earlier, repeat_jaccard):
        return "repeat"
    return None


@dataclass
class GuardCounts:
    """Guard events counted over steps, traces or a run.

    Attributes
    ----------
    empty, copy, repeat : int
        Rejected replies, by reason (every attempt counts, retried or kept).
    retries : int
        Extra requests made because of a rejection.
    exhausted : int
        Steps kept although their last attempt was still rejected (``max_retries`` spent).
    """

    empty: int = 0
    copy: int = 0
    repeat: int = 0
    retries: int = 0
    exhausted: int = 0

    def add(self, other: GuardCounts | dict[str, int]) -> None:
        """Add another count (or its :meth:`to_dict`) into this one."""
        d = other.to_dict() if isinstance(other, GuardCounts) else other
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + int(d.get(f.name, 0)))

    def to_dict(self) -> dict[str, int]:
        """The counts as a plain dict (JSON-ready)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def rates(self, n_steps: int) -> dict[str, float]:
        """Each count divided by ``n_steps`` (``nan`` when there are no steps).

        Examples
        --------
        >>> GuardCounts(copy=1, retries=1).rates(4)["copy"]
        0.25
        """
        return {k: (v / n_steps if n_steps else float("nan")) for k, v in self.to_dict().items()}
