r"""Answers of synthesised traces: the last ``\boxed{}`` and a ``math-verify`` check against the gold answer.

Examples
--------
>>> extract_boxed(r"so \boxed{4}")
'4'
"""

from __future__ import annotations

import threading

from metacot.errors import MissingDependencyError

__all__ = ["check_answer", "extract_boxed"]


def extract_boxed(text: str) -> str | None:
    r"""Content of the last complete ``\boxed{...}`` in ``text`` (braces balanced), else ``None``.

    A box cut off by the token limit (no closing brace) is no answer.

    Examples
    --------
    >>> extract_boxed(r"so \boxed{\frac{1}{2}} and then \boxed{3}")
    '3'
    >>> extract_boxed(r"\boxed{\frac{1}{2}}"), extract_boxed(r"\boxed{\frac{1}{2"), extract_boxed("7")
    ('\\frac{1}{2}', None, None)
    """
    found = None
    pos = text.find("\\boxed{")
    while pos >= 0:
        i = pos + len("\\boxed{")
        depth = 1
        j = i
        while j < len(text) and depth:
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
            j += 1
        if depth == 0:
            found = text[i : j - 1].strip()
        pos = text.find("\\boxed{", pos + 1)
    return found


def check_answer(answer: str | None, gold: str) -> bool:
    r"""Whether ``answer`` (a boxed answer's content) equals ``gold`` mathematically (``math-verify``).

    ``math_verify.parse`` reads ``\boxed{answer}`` and ``$gold$``; ``math_verify.verify`` compares
    them symbolically (``1/2`` equals ``0.5``, ``\frac12`` and so on). math-verify guards itself
    with ``SIGALRM``, which exists only in the main thread; elsewhere it runs without its own
    time limit.

    Raises
    ------
    MissingDependencyError
        If ``math-verify`` is not installed.

    Examples
    --------
    >>> check_answer(r"\frac{1}{2}", "0.5"), check_answer("27", "27"), check_answer("26", "27")
    (True, True, False)
    >>> check_answer(None, "27")
    False
    """
    if answer is None:
        return False
    try:
        from math_verify import parse, verify
    except ImportError as e:
        raise MissingDependencyError(
            f"answer checking needs math-verify ({e}): pip install 'metacot[llm]', or pass verify=False"
        ) from None
    limit = 5 if threading.current_thread() is threading.main_thread() else None
    g = gold if "$" in gold or "\\boxed" in gold else f"${gold}$"
    gold_parsed = parse(g, parsing_timeout=limit)
    pred_parsed = parse(f"\\boxed{{{answer}}}", parsing_timeout=limit)
    return bool(verify(gold_parsed, pred_parsed, timeout_seconds=limit))
