"""Keyword replacement: the surface cues of the behaviours reworded or removed (:func:`replace_keywords`).

Keeps the meaning but removes the cue words a keyword labeller (and perhaps a model) keys on;
the synonym table :data:`CUE_SYNONYMS` and the openers :data:`HEDGES` are ours.
"""

from __future__ import annotations

import re

import numpy as np

from metacot.errors import InvalidArgumentError
from metacot.traces.edits import SEP, check_sep, check_trace, rebuild, seed_key
from metacot.traces.model import Trace

__all__ = ["CUE_SYNONYMS", "HEDGES", "replace_keywords"]

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


def replace_keywords(
    trace: Trace, level: int = 1, seed: int | np.random.Generator = 0, *, sep: str = SEP
) -> Trace:
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
    seed : int or numpy.random.Generator, default 0
        Draws the synonyms; a Generator contributes one draw, recorded as the int ``seed``.
    sep : str, default :data:`SEP`

    Returns
    -------
    Trace
        Its provenance record has ``replaced`` (number of level-1 replacements) and
        ``changed_steps`` (indices of steps whose text changed).

    Examples
    --------
    >>> from metacot.traces.edits import make_trace
    >>> t = make_trace(["Wait, that is wrong.", "Alternatively, use x."])
    >>> replace_keywords(t, seed=2).texts()
    ['One moment, that is off.', 'On the other hand, use x.']
    >>> replace_keywords(t, level=2, seed=2).texts()
    ['That is off.', 'Use x.']
    """
    where = "replace_keywords"
    check_trace(trace, where)
    if level not in (1, 2) or isinstance(level, bool):
        raise InvalidArgumentError(f"{where}: level must be 1 or 2, got {level!r}")
    seed = seed_key(seed, where)
    sep = check_sep(sep, where)
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
    return rebuild(trace, parts, record, sep)
