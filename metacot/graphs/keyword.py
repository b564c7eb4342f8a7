"""The keyword labeller: a surface baseline of case-insensitive regular expressions on the step text.

Usable on unlabelled traces from :func:`metacot.traces.core.load_raw`; see :class:`KeywordLabeller`.

Examples
--------
>>> KeywordLabeller().classify("Hmm, let me check.").value
'reflect'
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from metacot.behaviours import Behaviour
from metacot.errors import InvalidArgumentError
from metacot.graphs.labelling import relabel
from metacot.traces.core import Trace

__all__ = ["DEFAULT_PATTERNS", "KeywordLabeller"]

#: Keyword rules of :class:`KeywordLabeller`, in precedence order (first match wins), compiled
#: case-insensitively. Words are matched on word boundaries.
DEFAULT_PATTERNS: tuple[tuple[Behaviour, str], ...] = (
    # Exploration first: a branch is often announced with a reflective word ("Wait, what if ..."),
    # and the branching cue is the more specific one.
    (
        Behaviour.EXPLORE,
        r"\balternative(?:ly)?\b|\banother (?:approach|way|method|idea|possibility|strategy)\b"
        r"|\bwhat if\b|\bsuppose\b|\blet'?s try\b|\blet me try\b|\btry (?:a |an )?different\b"
        r"|\binstead\b|\bor maybe\b|\bmaybe (?:we|i) (?:can|could|should)\b|\bconsider the case\b",
    ),
    # The paper's reflection markers (its keyword appendix, as reported in our notes §1.3):
    # checking, doubt and correction of earlier work.
    (
        Behaviour.REFLECT,
        r"\bwait\b|\blet me (?:double[- ])?check\b|\bdouble[- ]check\b|\bre-?check\b|\bverif(?:y|ying|ied)\b"
        r"|\bhmm+\b|\bmistake\b|\bi(?:'m| am) not sure\b|\bi might be wrong\b|\breconsider\b"
        r"|\bthat(?:'s| is) (?:not right|wrong|correct)\b|\bconfirm(?:s|ed)?\b|\bmakes sense\b",
    ),
    # Deep reasoning: an explicit inference connective, or a derivation chaining two or more
    # (in)equalities or implications in one step; a single "a + b = c" stays normal (arithmetic).
    (
        Behaviour.DEEP,
        r"\btherefore\b|\bthus\b|\bhence\b|\bimplies\b|\bit follows\b|\bconsequently\b"
        r"|\\implies|⇒|=>|(?:[=≡<>≤≥][^=≡<>≤≥]+){2,}[=≡<>≤≥]",
    ),
)


_THINK_TAG = re.compile(r"</?think>", re.IGNORECASE)


class KeywordLabeller:
    """Keyword baseline: case-insensitive regular expressions on the raw step text.

    Patterns are tried in order and the first that finds a match anywhere in the step decides;
    a step nothing matches is normal operation. ``<think>`` and ``</think>`` tags are removed
    before matching. Defaults (:data:`DEFAULT_PATTERNS`):

    ==  ==========  ==========================================================================
    #   behaviour   cues
    ==  ==========  ==========================================================================
    1   explore     alternatively, another approach/way/method, what if, suppose, let's try,
                    instead, or maybe, maybe we could, consider the case
    2   reflect     wait, (let me) (double-)check, recheck, verify, hmm, mistake, not sure,
                    I might be wrong, reconsider, that's wrong/right, confirm, makes sense
    3   deep        therefore, thus, hence, implies, it follows, consequently, ⇒, ``\\implies``,
                    or three or more (in)equality signs in one step (a derivation chain)
    --  normal      everything else
    ==  ==========  ==========================================================================

    The cues paraphrase the behaviour definitions of Chen et al. (2026) and the reflection
    markers their keyword appendix lists; the real lists are not published, so this is a
    baseline to compare against, not a reproduction.

    Parameters
    ----------
    patterns : sequence of (Behaviour or str, str), default :data:`DEFAULT_PATTERNS`
        Ordered ``(behaviour, regex)`` pairs; compiled with ``re.IGNORECASE``.
    fallback : Behaviour or str, default ``"normal"``
    name : str, default ``"keyword"``

    Examples
    --------
    >>> kl = KeywordLabeller()
    >>> [kl.classify(x).value for x in ["WAIT, that is off.", "Alternatively, use mod 4.", "x = 2."]]
    ['reflect', 'explore', 'normal']
    """

    def __init__(
        self,
        patterns: Sequence[tuple[Behaviour | str, str]] = DEFAULT_PATTERNS,
        fallback: Behaviour | str = Behaviour.NORMAL,
        name: str = "keyword",
    ) -> None:
        compiled = []
        for i, pair in enumerate(patterns):
            try:
                b, rx = pair
                compiled.append((Behaviour(b), re.compile(rx, re.IGNORECASE)))
            except (ValueError, TypeError, re.error) as e:
                raise InvalidArgumentError(
                    f"pattern {i} ({pair!r}) is not a (behaviour, regex) pair: {e}"
                ) from None
        try:
            self.fallback = Behaviour(fallback)
        except ValueError:
            raise InvalidArgumentError(f"unknown fallback behaviour {fallback!r}") from None
        self.patterns = tuple(compiled)
        self.name = name

    def classify(self, text: str) -> Behaviour:
        """The behaviour of one piece of text (``<think>`` tags are ignored)."""
        # The tags' angle brackets would otherwise count as inequality signs in the deep rule.
        text = _THINK_TAG.sub(" ", text)
        for b, rx in self.patterns:
            if rx.search(text):
                return b
        return self.fallback

    def label(self, trace: Trace) -> Trace:
        """Return ``trace`` with every step's behaviour set from its text."""
        return relabel(trace, [self.classify(s.text) for s in trace.steps], self.name)
