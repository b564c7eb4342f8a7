"""Problem sets with gold answers (``data/problems``: MATH-500, AIME 2024, AMC 2023, OlympiadBench).

:func:`load_problems` reads the four layouts into one :class:`Problem` record, the input of
:func:`metacot.synth.molesyn.molesyn`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metacot.errors import TraceFormatError
from metacot.traces.files import input_files, iter_json_lines

__all__ = ["Problem", "load_problems"]


@dataclass(frozen=True)
class Problem:
    """A problem with its gold answer, in one layout whatever the source set.

    Parameters
    ----------
    problem_id : str
        The source's id (``unique_id`` for MATH-500), as a string.
    problem : str
        The problem statement.
    answer : str
        Gold answer as text (AMC's float answers become ``"27"``, not ``"27.0"``).
    source : str
        The problem set: the file's stem (``math500``, ``aime24``, ``amc23``, ``olympiadbench``).
    solution : str or None
        Worked solution where the set has one.
    metadata : dict
        Other fields of the record (``subject``, ``level``, ``url``, ...).
    """

    problem_id: str
    problem: str
    answer: str
    source: str
    solution: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def _answer_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def load_problems(path: str | os.PathLike[str]) -> list[Problem]:
    """Load problem sets and normalise their field layouts into :class:`Problem` records.

    Four layouts are recognised by their fields: MATH-500 (``problem``, ``answer``,
    ``unique_id``, ``solution``, ``subject``, ``level``), AIME 2024 (``id``, ``problem``,
    ``answer``, ``solution``, ``url``), AMC 2023 (``id``, ``problem``, ``question``, ``answer``,
    ``url``; ``question`` repeats ``problem`` and is kept in metadata only if it differs) and
    OlympiadBench (``id``, ``question``, ``answer``).

    Parameters
    ----------
    path : path-like
        A ``.jsonl`` file or a folder of them (read in name order).

    Returns
    -------
    list of Problem

    Raises
    ------
    TraceFormatError
        A missing file, a line that is not UTF-8 or not JSON, or a record with no problem text,
        no id, or an answer that is neither a string nor a number; the message names the file and
        the line. A record without an answer (absent, null or empty) loads with ``answer=""``:
        synthesis runs on it and answer checks report it as unverifiable.

    Examples
    --------
    >>> from metacot.traces.files import DATA_DIR
    >>> ps = load_problems(DATA_DIR / "problems" / "amc23.jsonl")
    >>> ps[0].problem_id, ps[0].answer, ps[0].source
    ('0', '27', 'amc23')
    """
    out = []
    for f in input_files(path, "*.jsonl"):
        for lineno, rec in iter_json_lines(f):
            if not isinstance(rec, dict):
                raise TraceFormatError(f, lineno, "expected a JSON object")
            out.append(_problem(rec, f, lineno))
    return out


def _problem(rec: dict, f: Path, lineno: int) -> Problem:
    rest = dict(rec)
    text = rest.pop("problem", None)
    question = rest.pop("question", None)
    if text is None:
        text = question
    elif question is not None and question != text:
        rest["question"] = question
    pid = rest.pop("unique_id", None)
    if pid is None:
        pid = rest.pop("id", None)
    raw_answer = rest.pop("answer", None)
    answer = _answer_text(raw_answer)
    solution = rest.pop("solution", None)
    if not isinstance(text, str) or not text.strip():
        raise TraceFormatError(f, lineno, "no problem text (expected 'problem' or 'question')")
    if pid is None:
        raise TraceFormatError(f, lineno, "no id (expected 'unique_id' or 'id')")
    if answer is None and raw_answer is not None and raw_answer != "":
        raise TraceFormatError(f, lineno, f"no usable answer: {raw_answer!r}")
    if answer is None:  # no gold answer: the problem can be used, its answers are 'unverifiable'
        answer = ""
    return Problem(str(pid), text, answer, f.stem, solution if isinstance(solution, str) else None, rest)
