"""Reading a response's text: where the thinking and the answer are, and where the steps are.

* :func:`split_thinking` finds the thinking section (``<think> ... </think>``) and the final
  answer, and tells truncated and failed generations apart;
* :func:`segment` cuts a span of text into steps, by paragraph or by sentence.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from metacot.errors import InvalidArgumentError

__all__ = ["IMPLICIT_THINK_OPEN", "segment", "split_thinking"]

#: Models whose chat template opens ``<think>`` inside the prompt, so their responses carry only
#: the closing ``</think>``; a response of theirs with no tag at all is thinking cut off at the
#: generation length limit, not an answer without thinking.
IMPLICIT_THINK_OPEN = frozenset({"QwQ-32B"})

# The generation harness wrote this instead of a response when the API call failed.
_ERROR_PREFIX = "Error: Failed to get response"


def split_thinking(response: str, source_model: str = "") -> dict[str, Any]:
    """Locate the thinking section and the final answer in a response.

    Rules, in order: a harness error message is a failed generation; text before ``</think>``
    is thinking and text after it the answer; a response opening with ``<think>`` but never
    closing it was cut at the length limit (truncated); a response with no tag at all is
    truncated thinking for models in :data:`IMPLICIT_THINK_OPEN`, and otherwise an answer with no
    thinking section (instruction models, gpt-oss on BRIGHT).

    Parameters
    ----------
    response : str
    source_model : str
        Used only for the no-tag case above.

    Returns
    -------
    dict
        ``thinking_span`` (``[start, end]`` of the thinking text without tags, or ``None``),
        ``answer_span`` (``[start, end]`` of the stripped answer, or ``None``), ``truncated``,
        ``generation_error``.

    Examples
    --------
    >>> split_thinking("<think>\\nhmm\\n</think>\\n42")
    {'thinking_span': [7, 12], 'answer_span': [21, 23], 'truncated': False, 'generation_error': False}
    >>> split_thinking("<think>\\nhmm, so")["truncated"]
    True
    """
    info: dict[str, Any] = {
        "thinking_span": None,
        "answer_span": None,
        "truncated": False,
        "generation_error": False,
    }
    if response.startswith(_ERROR_PREFIX):
        info["generation_error"] = True
        return info
    open_tag = response.find("<think>")
    body_start = open_tag + len("<think>") if open_tag >= 0 and not response[:open_tag].strip() else 0
    close = response.find("</think>")
    if close >= 0:
        info["thinking_span"] = [body_start, close]
        info["answer_span"] = _strip_span(response, close + len("</think>"), len(response))
    elif body_start > 0 or source_model in IMPLICIT_THINK_OPEN:
        info["thinking_span"] = [body_start, len(response)]
        info["truncated"] = True
    else:
        info["answer_span"] = _strip_span(response, 0, len(response))
    return info


def _strip_span(text: str, start: int, end: int) -> list[int] | None:
    chunk = text[start:end]
    if not chunk.strip():
        return None
    return [start + len(chunk) - len(chunk.lstrip()), end - (len(chunk) - len(chunk.rstrip()))]


_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
# A sentence ends at . ! or ? followed by whitespace, or at a line break. Decimal points and
# inline maths ("1.5", "$x.y$") have no whitespace after the dot and so do not split.
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\s*\n\s*")


def segment(
    text: str, mode: Literal["paragraph", "sentence"] = "paragraph", start: int = 0, end: int | None = None
) -> list[tuple[int, int]]:
    """Cut ``text[start:end]`` into steps; return their spans in ``text``.

    ``"paragraph"`` splits at blank lines, the way R1/QwQ-style traces are usually laid out;
    ``"sentence"`` further splits at sentence ends and line breaks. Spans exclude surrounding
    whitespace and empty pieces are dropped (they carry no text). The sentence rule is a plain
    regular expression: abbreviations such as "e.g. x" split too, which is acceptable for step
    statistics but not a linguistic sentence splitter.

    Examples
    --------
    >>> t = "First. Second!\\n\\nThird x=1.5 ok"
    >>> [t[a:b] for a, b in segment(t)]
    ['First. Second!', 'Third x=1.5 ok']
    >>> [t[a:b] for a, b in segment(t, "sentence")]
    ['First.', 'Second!', 'Third x=1.5 ok']
    """
    if mode not in ("paragraph", "sentence"):
        raise InvalidArgumentError(f"segment must be 'paragraph' or 'sentence', got {mode!r}")
    end = len(text) if end is None else end
    pattern = _PARAGRAPH_BREAK if mode == "paragraph" else _SENTENCE_BREAK
    spans = []
    pos = start
    for m in pattern.finditer(text, start, end):
        spans.append((pos, m.start()))
        pos = m.end()
    spans.append((pos, end))
    out = []
    for a, b in spans:
        s = _strip_span(text, a, b)
        if s is not None:
            out.append((s[0], s[1]))
    return out
