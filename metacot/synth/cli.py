"""The ``metacot synth`` subcommand: MoLE-Syn from the command line.

``metacot synth PROBLEMS -o OUT.jsonl [--graph GRAPH.json|REFERENCE] [--base-url URL --model NAME
--concurrency N] [--max-steps K] [--limit N] ...`` walks a behaviour graph (default the paper's
DeepSeek-R1-0528 reference graph) for every problem of PROBLEMS (a problem-set ``.jsonl`` file
or a folder of them, read by :func:`metacot.traces.core.load_problems`) and writes one trace per
problem to OUT. Without ``--base-url`` the embedded model runs in process (llama.cpp on
SmolLM2-135M-Instruct), so the command works on a fresh machine with no server. Rerunning the
same command resumes an interrupted run; ``--export SFT.jsonl [--card CARD.md]`` then curates the
run with the default filters and writes chat-format SFT data (:mod:`metacot.synth.export`).

``metacot synth-report RUN.jsonl [--graph G] [--teacher NAME|none] [--json OUT.json] [--md OUT.md]``
runs the closed loop (:mod:`metacot.synth.closed_loop`): labels the steps with the trained
labeller, refits the graph, compares it with the driving graph and a teacher's split-half noise.
``metacot export RUN.jsonl --out SFT.jsonl [--card CARD.md] [--verified-only] [--decontaminate]
[--keep-unanswered] [--no-dedup] [--problems P.jsonl] [--fidelity REPORT.json]`` curates and exports
(:mod:`metacot.synth.curate`, :mod:`metacot.synth.export`).

:func:`register` adds the three subcommands to the ``metacot`` parser.

Examples
--------
>>> import argparse
>>> parser = argparse.ArgumentParser(prog="metacot")
>>> _ = register(parser.add_subparsers(dest="command"))
>>> args = parser.parse_args(["synth", "p.jsonl", "-o", "out.jsonl", "--max-steps", "4"])
>>> args.graph, args.max_steps, args.base_url is None, args.func is args.run
('deepseek-r1-0528', 4, True, True)
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from metacot.synth.conditioning import DEFAULT as DEFAULT_CONDITIONING
from metacot.synth.conditioning import PRESETS

__all__ = ["register", "run_export", "run_report", "run_synth"]

DEFAULT_GRAPH = "deepseek-r1-0528"


def _graph(spec: str) -> Any:
    from pathlib import Path

    from metacot.errors import MissingInputError
    from metacot.graphs.graph import BehaviourGraph, reference

    if Path(spec).exists():
        return BehaviourGraph.load(spec)
    if spec.lower().endswith(".json"):
        raise MissingInputError(spec, "graph file (--graph)")
    return reference(spec)


def run_synth(args: argparse.Namespace) -> int:
    """Run MoLE-Syn for parsed ``metacot synth`` arguments; the exit code (0 on success).

    Mistakes in the input -- a missing or unreadable problems file, a ``--graph`` file or
    ``--gguf`` model that does not exist, ``--limit`` below 1 -- raise a
    :class:`~metacot.errors.MetacotError` whose message is one line naming the argument or file
    (``metacot.cli.main`` prints it and exits non-zero).

    Examples
    --------
    >>> import argparse
    >>> p = argparse.ArgumentParser(prog="metacot")
    >>> _ = register(p.add_subparsers())
    >>> run_synth(p.parse_args(["synth", "p.jsonl", "-o", "o.jsonl", "--model", "m"]))  # doctest: +SKIP
    2
    """
    from metacot._checks import positive_int
    from metacot.llm.openai_server import OpenAISampler
    from metacot.synth.molesyn import molesyn
    from metacot.traces.problems import load_problems

    if args.model and not args.base_url:
        print("metacot synth: error: --model needs --base-url (the embedded model is fixed by --gguf)", file=sys.stderr)
        return 2
    if args.base_url and not args.model:
        print("metacot synth: error: --base-url needs --model (the name the server serves)", file=sys.stderr)
        return 2
    # Mistakes in the arguments are refused before anything slow (graph, problems, model) loads.
    if args.card and not args.export:
        print("metacot synth: error: --card needs --export (the card describes the exported file)", file=sys.stderr)
        return 2
    _check_folder(args.export, "--export")
    _check_folder(args.card, "--card")
    if args.limit is not None:
        positive_int(args.limit, "--limit")
    g = _graph(args.graph)
    problems = load_problems(args.problems)
    if args.limit is not None:
        problems = problems[: args.limit]
    if args.base_url:
        sampler: Any = OpenAISampler(
            args.base_url,
            args.model,
            api_key=args.api_key or os.environ.get("OPENAI_API_KEY"),
            concurrency=args.concurrency,
            timeout=args.timeout,
        )
    else:
        # The steered sampler gives the same replies as the plain one unless a preset forces an opening
        # or a repetition penalty, which only it can do.
        from metacot.synth.steering import SteeredLlamaSampler

        sampler = SteeredLlamaSampler(args.gguf, n_ctx=args.n_ctx, n_threads=args.threads, seed=args.seed)
    res = molesyn(
        g,
        problems,
        sampler,
        args.output,
        max_steps=args.max_steps,
        start=None if args.start == "graph" else args.start,
        seed=args.seed,
        verify=not args.no_verify,
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        **({} if args.context_chars is None else {"context_chars": args.context_chars or None}),
        conditioning=args.conditioning,
        n_samples=args.n_samples,
        batch_size=args.concurrency if args.base_url else 1,
        progress=not args.quiet,
    )
    acc = "not checked" if res.n_correct is None else f"{res.n_correct}/{res.n_written} correct"
    print(
        f"MoLE-Syn: {res.n_written} new trace(s), {res.n_skipped} already done, {res.n_steps} steps "
        f"({res.steps_per_minute:.1f} steps/min), {acc}: {res.path}"
    )
    if args.export:
        from metacot.synth.export import export_run

        ex = export_run(args.output, args.export, card=args.card, problems=problems)
        print(_export_line(ex))
    return 0


def _export_line(ex: Any) -> str:
    r = ex.report
    drops = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(r.dropped.items()) if v) or "none"
    return (f"exported {ex.n_written} of {r.n_traces} trace(s) (dropped: {drops}; pass rate "
            f"{r.pass_rate:.1%}): {ex.path}" + (f"; card: {ex.card}" if ex.card else ""))


def _check_folder(path: str | None, option: str) -> None:
    from pathlib import Path

    from metacot.errors import InvalidArgumentError

    if path is not None and not Path(path).expanduser().parent.is_dir():
        raise InvalidArgumentError(f"{option} {path}: the folder {str(Path(path).expanduser().parent)!r} does not exist")


def run_report(args: argparse.Namespace) -> int:
    """``metacot synth-report``: the closed loop on a molesyn run; prints the Markdown report."""
    import json

    from metacot._io import atomic_write
    from metacot.synth.closed_loop import closed_loop
    from metacot.synth.curate import read_run

    _check_folder(args.json, "--json")
    _check_folder(args.md, "--md")
    run = read_run(args.run_file)
    labeller = None
    if args.labeller != "trained":
        from metacot.graphs.keyword import KeywordLabeller

        labeller = KeywordLabeller()
    graph = None if args.graph is None else _graph(args.graph)
    teacher = None if args.teacher.lower() == "none" else args.teacher
    rep = closed_loop(run.traces, graph, labeller, teacher=teacher, n_boot=args.n_boot, seed=args.seed)
    text = rep.markdown()
    if run.torn:
        text += f"\nA torn last line was left out: {run.torn}\n"
    print(text, end="")
    if args.json:
        with atomic_write(args.json) as f:
            f.write(json.dumps(rep.to_dict(), indent=2) + "\n")
    if args.md:
        with atomic_write(args.md) as f:
            f.write(text)
    return 0


def run_export(args: argparse.Namespace) -> int:
    """``metacot export``: curate a molesyn run and write chat-format SFT JSONL (and a card)."""
    import json
    from pathlib import Path

    from metacot.errors import MissingInputError
    from metacot.synth.export import export_run
    from metacot.traces.problems import load_problems

    problems = None if args.problems is None else load_problems(args.problems)
    fidelity = None
    if args.fidelity is not None:
        if not Path(args.fidelity).is_file():
            raise MissingInputError(args.fidelity, "closed-loop report (--fidelity)")
        fidelity = _SavedFidelity(json.loads(Path(args.fidelity).read_text()))
    ex = export_run(
        args.run_file, args.out, card=args.card, fidelity=fidelity, problems=problems,
        require_answer=not args.keep_unanswered, verified_only=args.verified_only,
        dedup_steps=not args.no_dedup, dedup_traces=not args.no_dedup, decontaminate=args.decontaminate,
        **({"benchmarks": args.benchmarks.split(",")} if args.benchmarks else {}),
    )
    print(_export_line(ex))
    return 0


class _SavedFidelity:
    """A closed-loop report read back from ``synth-report --json``, for the dataset card."""

    def __init__(self, d: dict) -> None:
        self.d = d

    def markdown(self) -> str:
        d = self.d
        if not isinstance(d, dict) or "vs_driver" not in d:
            return "A closed-loop report was given but is not one written by `metacot synth-report --json`."
        v, s = d["vs_driver"], d.get("split_half")
        iv = v.get("intervals", {}).get("pearson", [float("nan")] * 2)
        out = (f"Labeller `{d['labeller']}` on {d['n_traces']} traces ({d['n_steps']} steps): refit vs driving graph "
               f"r = {v['pearson']:.3f} [{iv[0]:.3f}, {iv[1]:.3f}], mean row JS {v['js_mean']:.4f}; "
               f"intended vs labelled κ = {d['kappa']:.3f} [{d['kappa_interval'][0]:.3f}, {d['kappa_interval'][1]:.3f}], "
               f"agreement {d['agreement']:.1%}.")
        if s:
            out += f" Teacher {d['teacher']} split-half: r = {s['pearson']:.3f}, mean row JS {s['js_mean']:.4f}."
        return out + "\n"


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``synth`` subcommand to an ``argparse`` subparsers object.

    The handler is set both as ``run`` (what ``metacot.cli.main`` calls) and as ``func``; it
    returns an exit code and lets :class:`~metacot.errors.MetacotError` propagate to the caller.

    Parameters
    ----------
    subparsers
        The object returned by ``ArgumentParser.add_subparsers()``.

    Returns
    -------
    argparse.ArgumentParser
        The ``synth`` parser.

    Examples
    --------
    >>> p = argparse.ArgumentParser(prog="metacot")
    >>> sp = register(p.add_subparsers())
    >>> sp.prog
    'metacot synth'
    """
    sp = subparsers.add_parser(
        "synth",
        help="synthesise long chains of thought by walking a behaviour graph (MoLE-Syn)",
        description=(
            "Walk a behaviour graph and let an instruction LLM write one step per behaviour, for every "
            "problem; one trace JSONL record per problem. Reruns resume. Without --base-url the embedded "
            "SmolLM2-135M-Instruct runs in process."
        ),
    )
    sp.add_argument("problems", help="problem set .jsonl (or a folder of them), e.g. data/problems/amc23.jsonl")
    sp.add_argument("-o", "--output", required=True, help="trace JSONL to write (resumed if it exists)")
    sp.add_argument(
        "--graph", default=DEFAULT_GRAPH,
        help=f"behaviour graph JSON, or a reference name (default {DEFAULT_GRAPH}; also gpt-oss-120b, qwq-32b)",
    )
    sp.add_argument("--base-url", default=None, help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
    sp.add_argument("--model", default=None, help="model name on that server")
    sp.add_argument("--api-key", default=None, help="bearer token (default: $OPENAI_API_KEY)")
    sp.add_argument("--concurrency", type=int, default=8, help="requests in flight to the server (default 8)")
    sp.add_argument("--timeout", type=float, default=120.0,
                    help="total seconds one server request may take, reply included (default 120)")
    sp.add_argument("--gguf", default=None, help="GGUF file for the embedded model (default SmolLM2-135M-Instruct)")
    sp.add_argument("--n-ctx", type=int, default=2048, help="embedded model context window (default 2048)")
    sp.add_argument("--threads", type=int, default=None, help="embedded model CPU threads (default: all)")
    sp.add_argument("--max-steps", type=int, default=16, help="most steps per trace (default 16)")
    sp.add_argument("--max-tokens", type=int, default=256, help="most tokens per step (default 256)")
    sp.add_argument("--temperature", type=float, default=0.7)
    sp.add_argument("--context-chars", type=int, default=None,
                    help="show the model only this many recent characters of the rationale (0: all; "
                         "default: the preset's)")
    sp.add_argument("--conditioning", default=DEFAULT_CONDITIONING, choices=sorted(PRESETS),
                    help=f"how each behaviour is put to the model (default {DEFAULT_CONDITIONING}, chosen by "
                         "measurement: benchmarks/SYNTH_CONDITIONING.md); 'opening', 'penalty' and 'combined' "
                         "need the embedded model")
    sp.add_argument("--n-samples", type=int, default=1, help="traces per problem, each with its own seed (default 1)")
    sp.add_argument("--start", default="explore", choices=["normal", "deep", "reflect", "explore", "graph"],
                    help="first behaviour (default explore, as in the paper; 'graph': draw it)")
    sp.add_argument("--limit", type=int, default=None, help="only the first N problems (N >= 1)")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--no-verify", action="store_true", help="do not check answers with math-verify")
    sp.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    sp.add_argument("--export", default=None, metavar="SFT.jsonl",
                    help="after the run, curate it (answered traces, de-duplicated) and write chat-format SFT JSONL")
    sp.add_argument("--card", default=None, metavar="CARD.md", help="with --export: also write a dataset card")
    sp.set_defaults(run=run_synth, func=run_synth)
    _register_report(subparsers)
    _register_export(subparsers)
    return sp


def _register_report(subparsers: Any) -> None:
    rp = subparsers.add_parser(
        "synth-report", help="closed loop: label a MoLE-Syn run, refit its graph, compare with the driver",
        description="Label every synthesised step with the trained labeller, refit the behaviour graph and compare "
                    "it with the graph that drove the run (Pearson r, row JS, bootstrap intervals), with a teacher's "
                    "split-half noise, and the intended behaviours with the labels (Cohen's kappa, confusion).")
    rp.add_argument("run_file", metavar="RUN", help="molesyn output JSONL")
    rp.add_argument("--graph", default=None,
                    help="the driving graph (JSON or reference name); default the one recorded in the run")
    rp.add_argument("--labeller", default="trained", choices=["trained", "keyword"])
    rp.add_argument("--teacher", default="DeepSeek-R1",
                    help="teacher whose split-half noise is the yardstick (DeepSeek-R1, QwQ-32B, gpt-oss-120b; none)")
    rp.add_argument("--n-boot", type=int, default=1000)
    rp.add_argument("--seed", type=int, default=0)
    rp.add_argument("--json", default=None, help="also write the report as JSON")
    rp.add_argument("--md", default=None, help="also write the Markdown report")
    rp.set_defaults(run=run_report, func=run_report)


def _register_export(subparsers: Any) -> None:
    ep = subparsers.add_parser(
        "export", help="curate a MoLE-Syn run and write chat-format SFT JSONL with a dataset card",
        description="Check answers, drop unanswered traces, de-duplicate steps and traces, optionally keep only "
                    "verified answers and decontaminate against the shipped benchmarks; write one chat record per "
                    "trace (reasoning in <think>) and a Markdown card with every count.")
    ep.add_argument("run_file", metavar="RUN", help="molesyn output JSONL")
    ep.add_argument("--out", required=True, help="SFT JSONL to write")
    ep.add_argument("--card", default=None, help="dataset card (Markdown) to write")
    ep.add_argument("--verified-only", action="store_true", help="keep only traces math-verify accepts")
    ep.add_argument("--decontaminate", action="store_true",
                    help="drop traces sharing a word 8-gram with a benchmark problem (see --benchmarks)")
    ep.add_argument("--benchmarks", default=None,
                    help="comma-separated shipped sets for --decontaminate (default all: math500,aime24,amc23,olympiadbench)")
    ep.add_argument("--keep-unanswered", action="store_true", help="also export traces that reached no answer")
    ep.add_argument("--no-dedup", action="store_true", help="keep repeated steps and duplicate traces")
    ep.add_argument("--problems", default=None, help="the problems the run was given: report those with no trace")
    ep.add_argument("--fidelity", default=None, help="a synth-report --json file to put in the card")
    ep.set_defaults(run=run_export, func=run_export)
