r"""Curation of MoLE-Syn output: answer checks, de-duplication and benchmark decontamination, with counts.

The curation tools users know -- distilabel, bespokelabs' curator, the OpenThoughts pipelines --
keep verified samples, remove duplicates and decontaminate against benchmarks. This module does
the same to a molesyn run, and every trace that leaves is counted under the rule that removed it
(:class:`CurationReport`); nothing is dropped silently. The rules, applied in this order:

1. **Reading.** :func:`read_run` reads the file record by record. A torn last line (a run killed
   mid-write) is counted and left out; any other malformed line is an error. An empty run is an
   error (:class:`EmptyRunError`). Given the problems the run was asked for, the ones with no trace
   (a run that failed part way) are counted as ``missing``.
2. **Answers.** Every trace gets a verification status: ``"correct"`` / ``"wrong"``
   (``math-verify`` through :func:`metacot.synth.molesyn.check_answer`; the run's own
   ``metadata["correct"]`` is used when it was recorded), ``"no_answer"`` (the walk hit
   ``max_steps`` without a ``\boxed{}``) or ``"unverifiable"`` (the problem has no gold answer;
   counted, never an error). ``require_answer`` (default on) drops traces without an answer;
   ``verified_only`` keeps only ``"correct"`` ones (``"unverifiable"`` ones go too, counted apart).
   The pass rate is correct / (correct + wrong).
3. **Steps.** Within a trace, a step that repeats an earlier one exactly (after lower-casing and
   collapsing white space) or nearly (Jaccard similarity of word 3-gram sets at least
   ``near_threshold``, 0.8 by default; texts under three words compare as word sets) is removed;
   the steps left keep their intended behaviours.
4. **Traces.** Across the run, a trace whose normalised reasoning (its steps) equals an earlier
   kept trace's, or is nearly equal by the same Jaccard rule on the whole text, is dropped (first
   one kept, in file order), whatever its problem: a reasoning text that serves two problems word
   for word is a template, not a solution of either. Pairwise, :math:`O(n^2)` in traces: fine for the thousands of traces of a run.
5. **Decontamination** (when ``decontaminate`` is on). Our rule, after the n-gram checks of
   OpenThoughts and Tülu 3: text is cut into lower-case alphanumeric words; a trace is
   contaminated if its **problem** or any of its **steps** shares a word 8-gram with the statement
   of any problem of the chosen benchmark sets (default: the four shipped in ``data/problems``;
   a benchmark problem under eight words counts when its whole word sequence appears). The
   sample's own source problem is *not* exempt: training on a benchmark's problems contaminates
   that benchmark, so a run synthesised on MATH-500 is entirely contaminated for MATH-500 -- pass
   ``benchmarks`` without that set to keep it. Answers are not matched (they are a few tokens and
   would match by chance). Each hit records the benchmark item and whether the problem or only
   the generated text matched.

Examples
--------
>>> shingles("a b c d", 3) == {("a", "b", "c"), ("b", "c", "d")}
True
>>> jaccard(shingles("x y z", 3), shingles("x y z", 3))
1.0
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from metacot._io import read_jsonl_lines
from metacot.errors import InvalidArgumentError, MissingInputError
from metacot.traces.jsonl import trace_from_line
from metacot.traces.model import Trace
from metacot.traces.problems import Problem

__all__ = [
    "BENCHMARKS",
    "Contamination",
    "CurationReport",
    "EmptyRunError",
    "NgramIndex",
    "curate",
    "jaccard",
    "read_run",
    "shingles",
    "verification",
    "words",
]

#: The benchmark sets shipped in ``data/problems`` (file stems).
BENCHMARKS = ("math500", "aime24", "amc23", "olympiadbench")
#: Word n-gram length of decontamination.
DECONTAMINATION_N = 8

_WORD = re.compile(r"[a-z0-9]+")


class EmptyRunError(InvalidArgumentError):
    """A run file with no trace in it: there is nothing to curate or export."""


# --------------------------------------------------------------------------------------------
# text
# --------------------------------------------------------------------------------------------


def words(text: str) -> list[str]:
    """Lower-case alphanumeric words (LaTeX commands and punctuation fall away: ``\\frac{1}{2}`` is ``frac 1 2``)."""
    return _WORD.findall(text.lower())


def shingles(text: str, n: int = 3) -> set[tuple[str, ...]]:
    """The set of word ``n``-grams of ``text``; a text under ``n`` words gives its one whole word tuple."""
    w = words(text)
    if len(w) < n:
        return {tuple(w)} if w else set()
    return {tuple(w[i:i + n]) for i in range(len(w) - n + 1)}


def jaccard(a: set, b: set) -> float:
    """:math:`|a \\cap b| / |a \\cup b|`; two empty sets are identical (1.0)."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


# --------------------------------------------------------------------------------------------
# reading a run
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunFile:
    """The traces of a run file and what could not be read."""

    path: Path
    traces: list[Trace]
    torn: str | None = None


def read_run(path: str | os.PathLike[str]) -> RunFile:
    """Read a molesyn output file; a torn last line is reported, not parsed.

    Raises
    ------
    MissingInputError
        No such file.
    TraceFormatError
        A malformed complete line (the message names the line).
    EmptyRunError
        No trace in the file.
    """
    p = Path(path)
    if not p.is_file():
        raise MissingInputError(p, "run file")
    lines = read_jsonl_lines(p)
    out = [t for lineno, raw in lines.lines if (t := trace_from_line(p, lineno, raw)) is not None]
    torn = lines.torn.describe() if lines.torn is not None else None
    if not out:
        extra = f" (only a torn line: {torn})" if torn else ""
        raise EmptyRunError(f"{p}: the run holds no trace{extra}; nothing to curate or export")
    return RunFile(p, out, torn)


# --------------------------------------------------------------------------------------------
# answers
# --------------------------------------------------------------------------------------------


def verification(trace: Trace) -> str:
    """``"correct"``, ``"wrong"``, ``"no_answer"`` or ``"unverifiable"`` (see the module notes).

    Examples
    --------
    >>> from metacot.traces.edits import make_trace
    >>> verification(make_trace(["x"], final_answer="4", gold_answer=""))
    'unverifiable'
    >>> verification(make_trace(["x"], final_answer=None, gold_answer="4"))
    'no_answer'
    """
    if trace.final_answer is None:
        return "no_answer"
    gold = trace.gold_answer
    if gold is None or not str(gold).strip():
        return "unverifiable"
    recorded = trace.metadata.get("correct")
    if isinstance(recorded, bool) and "verify_error" not in trace.metadata:
        return "correct" if recorded else "wrong"
    from metacot.synth.molesyn import check_answer

    try:
        return "correct" if check_answer(trace.final_answer, str(gold)) else "wrong"
    except ImportError:
        raise
    except Exception:  # a parser crash on odd model output counts as wrong, as in molesyn
        return "wrong"


# --------------------------------------------------------------------------------------------
# decontamination
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Contamination:
    """One contaminated trace: the benchmark item hit and where."""

    trace_id: str
    benchmark: str
    item: str
    in_problem: bool


class NgramIndex:
    """Word ``n``-grams of benchmark problem statements, for :meth:`hit` look-ups.

    Parameters
    ----------
    problems : iterable of Problem
    n : int, default 8
    """

    def __init__(self, problems: Iterable[Problem], n: int = DECONTAMINATION_N) -> None:
        self.n = n
        self.grams: dict[tuple[str, ...], str] = {}
        self.short: dict[int, dict[tuple[str, ...], str]] = {}
        self.n_problems = 0
        for p in problems:
            key = f"{p.source}/{p.problem_id}"
            w = words(p.problem)
            self.n_problems += 1
            if len(w) < n:
                if w:
                    self.short.setdefault(len(w), {}).setdefault(tuple(w), key)
                continue
            for i in range(len(w) - n + 1):
                self.grams.setdefault(tuple(w[i:i + n]), key)

    @classmethod
    def shipped(cls, benchmarks: Sequence[str] = BENCHMARKS, n: int = DECONTAMINATION_N) -> NgramIndex:
        """The index of the named sets in ``data/problems``; an unknown name is an error."""
        from metacot.traces.files import DATA_DIR
        from metacot.traces.problems import load_problems

        probs: list[Problem] = []
        for b in benchmarks:
            f = DATA_DIR / "problems" / f"{b}.jsonl"
            if not f.is_file():
                raise InvalidArgumentError(f"unknown benchmark {b!r}; the shipped sets are {', '.join(BENCHMARKS)}")
            probs += load_problems(f)
        return cls(probs, n)

    def hit(self, text: str) -> str | None:
        """The key (``source/id``) of a benchmark problem sharing an n-gram with ``text``, else ``None``."""
        w = words(text)
        for i in range(len(w) - self.n + 1):
            k = self.grams.get(tuple(w[i:i + self.n]))
            if k is not None:
                return k
        for m, table in self.short.items():
            for i in range(len(w) - m + 1):
                k = table.get(tuple(w[i:i + m]))
                if k is not None:
                    return k
        return None


# --------------------------------------------------------------------------------------------
# curation
# --------------------------------------------------------------------------------------------


@dataclass
class CurationReport:
    """Counts of everything :func:`curate` did; ``kept`` plus every drop equals ``n_traces``.

    ``dropped`` maps a reason (``no_answer``, ``not_verified``, ``unverifiable``,
    ``duplicate_exact``, ``duplicate_near``, ``contaminated``) to its count; ``verification``
    counts every status over all traces read (before any drop); ``steps_removed`` counts steps
    removed inside kept traces (``exact``/``near``).
    """

    n_traces: int
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)
    verification: Counter = field(default_factory=Counter)
    steps_in: int = 0
    steps_out: int = 0
    steps_removed: Counter = field(default_factory=Counter)
    contamination: list[Contamination] = field(default_factory=list)
    torn: str | None = None
    missing: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def pass_rate(self) -> float:
        """correct / (correct + wrong) over all traces read; ``nan`` if none could be checked."""
        n = self.verification["correct"] + self.verification["wrong"]
        return self.verification["correct"] / n if n else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_traces": self.n_traces, "kept": self.kept, "dropped": dict(self.dropped),
            "verification": dict(self.verification), "pass_rate": self.pass_rate,
            "steps_in": self.steps_in, "steps_out": self.steps_out, "steps_removed": dict(self.steps_removed),
            "contamination": [vars(c) for c in self.contamination], "torn_last_line": self.torn,
            "missing": list(self.missing), "settings": dict(self.settings),
        }

    def markdown(self) -> str:
        v = self.verification
        lines = [
            f"- traces read: {self.n_traces}; kept: {self.kept}",
            f"- answers: {v['correct']} correct, {v['wrong']} wrong, {v['no_answer']} without an answer, "
            f"{v['unverifiable']} unverifiable (no gold answer); pass rate {self.pass_rate:.1%}",
        ]
        for reason in ("no_answer", "not_verified", "unverifiable", "duplicate_exact", "duplicate_near", "contaminated"):
            if self.dropped[reason]:
                lines.append(f"- dropped, {reason.replace('_', ' ')}: {self.dropped[reason]}")
        lines.append(f"- steps: {self.steps_in} read, {self.steps_out} exported; "
                     f"repeated steps removed: {self.steps_removed['exact']} exact, {self.steps_removed['near']} near")
        if self.contamination:
            by = Counter(c.benchmark for c in self.contamination)
            lines.append("- contaminated traces by benchmark: " + ", ".join(f"{b} {n}" for b, n in sorted(by.items()))
                         + f" ({sum(c.in_problem for c in self.contamination)} through the problem itself)")
        if self.torn:
            lines.append(f"- torn last line left out: {self.torn}")
        if self.missing:
            lines.append(f"- problems with no trace (run failed part way): {len(self.missing)}")
        return "\n".join(lines) + "\n"


def _dedup_steps(trace: Trace, threshold: float, report: CurationReport) -> Trace:
    kept_idx: list[int] = []
    seen_exact: set[str] = set()
    seen_sh: list[set] = []
    for i, s in enumerate(trace.steps):
        key = _norm(s.text)
        if key in seen_exact:
            report.steps_removed["exact"] += 1
            continue
        sh = shingles(s.text)
        if any(jaccard(sh, o) >= threshold for o in seen_sh):
            report.steps_removed["near"] += 1
            continue
        seen_exact.add(key)
        seen_sh.append(sh)
        kept_idx.append(i)
    if len(kept_idx) == len(trace.steps):
        return trace
    from metacot.traces.edits import SEP, rebuild
    from metacot.traces.edits import kept as kept_parts

    record = {"transform": "dedup_steps", "removed": len(trace.steps) - len(kept_idx), "threshold": threshold}
    return rebuild(trace, kept_parts(trace, kept_idx), record, SEP)


def curate(
    traces: Sequence[Trace] | str | os.PathLike[str],
    *,
    require_answer: bool = True,
    verified_only: bool = False,
    dedup_steps: bool = True,
    dedup_traces: bool = True,
    near_threshold: float = 0.8,
    decontaminate: bool = False,
    benchmarks: Sequence[str] = BENCHMARKS,
    index: NgramIndex | None = None,
    problems: Sequence[Problem] | None = None,
) -> tuple[list[Trace], CurationReport]:
    """Apply the curation rules of the module notes; the kept traces and the report.

    Parameters
    ----------
    traces : sequence of Trace or path
        A molesyn run (a path is read by :func:`read_run`).
    require_answer, verified_only, dedup_steps, dedup_traces : bool
    near_threshold : float in (0, 1]
        Jaccard similarity of word 3-gram sets from which two texts are near-duplicates.
    decontaminate : bool
    benchmarks : sequence of str
        Shipped sets to decontaminate against.
    index : NgramIndex, optional
        A ready index instead (for other benchmarks).
    problems : sequence of Problem, optional
        The problems the run was asked for; those with no trace are reported as ``missing``.

    Raises
    ------
    EmptyRunError
        No traces.
    """
    torn = None
    if isinstance(traces, (str, os.PathLike)):
        run = read_run(traces)
        traces, torn = run.traces, run.torn
    traces = list(traces)
    if not traces:
        raise EmptyRunError("the run holds no trace; nothing to curate or export")
    if not 0 < near_threshold <= 1:
        raise InvalidArgumentError(f"near_threshold must be in (0, 1], got {near_threshold!r}")
    report = CurationReport(n_traces=len(traces), torn=torn, settings={
        "require_answer": require_answer, "verified_only": verified_only, "dedup_steps": dedup_steps,
        "dedup_traces": dedup_traces, "near_threshold": near_threshold, "decontaminate": decontaminate,
        "benchmarks": list(benchmarks) if decontaminate and index is None else None,
        "decontamination_n": DECONTAMINATION_N})
    if problems is not None:
        have = {t.trace_id for t in traces}
        report.missing = [k for p in problems if (k := f"{p.source}/{p.problem_id}") not in have]
    if decontaminate and index is None:
        index = NgramIndex.shipped(benchmarks)
    kept: list[Trace] = []
    kept_norm: set[str] = set()
    kept_sh: list[set] = []
    for t in traces:
        report.steps_in += len(t)
        status = verification(t)
        report.verification[status] += 1
        if status == "no_answer" and (require_answer or verified_only):
            report.dropped["no_answer"] += 1
            continue
        if verified_only and status != "correct":
            report.dropped["unverifiable" if status == "unverifiable" else "not_verified"] += 1
            continue
        if decontaminate:
            assert index is not None
            in_problem = index.hit(t.problem)
            hit = in_problem or next((k for s in t.steps if (k := index.hit(s.text))), None)
            if hit is not None:
                report.dropped["contaminated"] += 1
                report.contamination.append(Contamination(t.trace_id, hit.split("/")[0], hit, in_problem is not None))
                continue
        if dedup_steps:
            t = _dedup_steps(t, near_threshold, report)
        if dedup_traces:
            text = "\n".join(s.text for s in t.steps)
            key = _norm(text)
            if key in kept_norm:
                report.dropped["duplicate_exact"] += 1
                continue
            sh = shingles(text)
            if any(jaccard(sh, o) >= near_threshold for o in kept_sh):
                report.dropped["duplicate_near"] += 1
                continue
            kept_norm.add(key)
            kept_sh.append(sh)
        t = replace(t, metadata={**t.metadata, "verification": status})
        kept.append(t)
        report.steps_out += len(t)
    report.kept = len(kept)
    return kept, report
