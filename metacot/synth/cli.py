"""The ``metacot synth`` subcommand: MoLE-Syn from the command line.

``metacot synth PROBLEMS -o OUT.jsonl [--graph GRAPH.json|REFERENCE] [--base-url URL --model NAME
--concurrency N] [--max-steps K] [--limit N] ...`` walks a behaviour graph (default the paper's
DeepSeek-R1-0528 reference graph) for every problem of PROBLEMS (a problem-set ``.jsonl`` file
or a folder of them, read by :func:`metacot.traces.core.load_problems`) and writes one trace per
problem to OUT. Without ``--base-url`` the embedded model runs in process (llama.cpp on
SmolLM2-135M-Instruct), so the command works on a fresh machine with no server. Rerunning the
same command resumes an interrupted run.

:func:`register` adds the subcommand to the ``metacot`` parser.

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

__all__ = ["register", "run_synth"]

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
    from metacot.llm.llamacpp import LlamaCppSampler
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
        sampler = LlamaCppSampler(args.gguf, n_ctx=args.n_ctx, n_threads=args.threads, seed=args.seed)
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
        context_chars=args.context_chars or None,
        batch_size=args.concurrency if args.base_url else 1,
        progress=not args.quiet,
    )
    acc = "not checked" if res.n_correct is None else f"{res.n_correct}/{res.n_written} correct"
    print(
        f"MoLE-Syn: {res.n_written} new trace(s), {res.n_skipped} already done, {res.n_steps} steps "
        f"({res.steps_per_minute:.1f} steps/min), {acc}: {res.path}"
    )
    return 0


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
    sp.add_argument("--context-chars", type=int, default=4000,
                    help="show the model only this many recent characters of the rationale (0: all)")
    sp.add_argument("--start", default="explore", choices=["normal", "deep", "reflect", "explore", "graph"],
                    help="first behaviour (default explore, as in the paper; 'graph': draw it)")
    sp.add_argument("--limit", type=int, default=None, help="only the first N problems (N >= 1)")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--no-verify", action="store_true", help="do not check answers with math-verify")
    sp.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    sp.set_defaults(run=run_synth, func=run_synth)
    return sp
