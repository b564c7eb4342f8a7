"""The ``metacot`` command.

``metacot hitting-time FAMILY --K 4 --M 16 --eps 1e-3 [--walkers N]`` prints the exact mean
hitting time of a chain family and, with ``--walkers``, a Monte Carlo estimate beside it.
``metacot experiments ID... [--quick]`` runs experiments from a source checkout (it forwards to
``python -m experiments``).

``metacot label TRACES -o OUT.jsonl [--labeller keep|map:FILE.toml|trained|keyword|reasoningflow|llm-judge]``
labels traces (a metacot trace JSONL file, recognised by its content whatever its suffix, or
ReasoningFlow annotations) into the four behaviours; ``metacot fit TRACES -o GRAPH.json
[--method dirichlet|mle|pymc|hierarchical] [--prior A] [--source MODEL] [--labeller NAME]`` fits a
behaviour graph; ``metacot graph show GRAPH.json|REFERENCE [--png FILE]`` prints a graph
and draws its heat map. ``metacot synth`` (:mod:`metacot.synth.cli`) writes MoLE-Syn traces and
``metacot sweep`` (:mod:`metacot.sweep`) runs parameter sweeps.
"""

from __future__ import annotations

import argparse
import sys


def _hitting_time(args: argparse.Namespace) -> int:
    from metacot.markov import exact, families
    from metacot.simulation.engine import simulate

    if args.family == "line_of_cliques":
        chain = families.line_of_cliques(args.K, args.M, args.eps)
    else:
        chain = families.random_clusters(args.K, args.M, args.eps, kind=args.kind, seed=args.seed)
    e_tau = exact.mean_hitting_time(chain)
    print(f"{chain}\nexact E[tau] = {e_tau:.10g}")
    if args.walkers:
        sim = simulate(chain, n_walkers=args.walkers, max_steps=int(args.max_steps or 50 * e_tau), seed=args.seed)
        est = sim.mean(restricted=sim.censored.any())
        note = ""
        if sim.n_never_hit:
            note = f", restricted mean: {sim.n_never_hit} walkers can never hit"
        elif sim.censored.any():
            note = ", restricted mean: some walkers cut at --max-steps"
        print(f"Monte Carlo  = {est.value:.6g} ± {est.stderr:.2g} (1 SE; {args.walkers} walkers, seed {args.seed}"
              f"{note})")
    return 0


def _experiments(args: argparse.Namespace) -> int:
    try:
        from experiments.__main__ import main as run_experiments
    except ImportError:
        print("the experiments live in the source checkout: run this from the repository root", file=sys.stderr)
        return 2
    return run_experiments(args.ids + (["--quick"] if args.quick else []))


def _is_trace_jsonl(path) -> bool:
    """True when the first non-blank line of a file is a metacot trace record, whatever the suffix."""
    import json

    from metacot.traces.model import FORMAT

    with open(path, "rb") as f:
        for raw in f:
            if raw.strip():
                try:
                    first = json.loads(raw)
                except (ValueError, RecursionError):
                    return False
                return isinstance(first, dict) and first.get("format") == FORMAT
    return False


def _read_any_traces(path: str):
    """Traces from a metacot trace JSONL file (by content, any suffix) or ReasoningFlow annotations.

    ReasoningFlow annotations are one JSON document per file (a file, or a folder of them).
    Anything else is refused with a message naming both formats.
    """
    from pathlib import Path

    from metacot import traces
    from metacot.errors import MissingInputError, TraceFormatError

    p = Path(path)
    if not p.exists():
        raise MissingInputError(p)
    if p.is_file() and _is_trace_jsonl(p):
        return list(traces.read_traces(p))
    try:
        return traces.load_reasoningflow(p)
    except TraceFormatError as err:
        raise TraceFormatError(
            p, None, f"neither metacot trace JSONL (one record per line, \"format\": \"metacot.trace\") "
                     f"nor ReasoningFlow annotated JSON ({err.reason})"
        ) from None


def _check_output_folder(path: str, option: str) -> None:
    """Refuse before any work is done when the folder of an output file does not exist."""
    from pathlib import Path

    from metacot.errors import InvalidArgumentError

    folder = Path(path).expanduser().parent
    if not folder.is_dir():
        raise InvalidArgumentError(f"{option} {path}: the folder {str(folder)!r} does not exist")


def _labeller(args: argparse.Namespace):
    """The labeller named by ``--labeller``: keep, map:FILE, keyword, reasoningflow or llm-judge."""
    from metacot.errors import InvalidArgumentError
    from metacot.graphs import labellers as label
    from metacot.graphs.taxonomy import KeepLabeller, TagLabeller

    name = args.labeller
    if name == "keep":
        return KeepLabeller()
    if name.startswith("map:"):
        return TagLabeller.from_toml(name[4:])
    if name == "reasoningflow":
        return label.ReasoningFlowLabeller()
    if name == "keyword":
        return label.KeywordLabeller()
    if name == "trained":
        from metacot.graphs.trained import TrainedLabeller

        return TrainedLabeller()
    if name == "llm-judge":
        from metacot.llm import samplers

        base_url, model = getattr(args, "base_url", None), getattr(args, "model", None)
        if bool(base_url) != bool(model):
            raise InvalidArgumentError("--base-url and --model go together (without both, the embedded model judges)")
        if base_url:
            sampler = samplers.OpenAISampler(base_url, model, concurrency=getattr(args, "concurrency", 8))
        else:
            sampler = samplers.LlamaCppSampler()
        return label.LLMJudgeLabeller(sampler)
    raise InvalidArgumentError(
        f"unknown labeller {name!r}; use keep, map:FILE.toml, trained, keyword, reasoningflow or llm-judge"
    )


def _label(args: argparse.Namespace) -> int:
    from metacot import traces
    from metacot.graphs import labellers as label

    _check_output_folder(args.output, "-o")
    labeller = _labeller(args)
    labelled = label.label_traces(_read_any_traces(args.traces), labeller)
    n = traces.write_traces(args.output, labelled)
    print(f"labelled {n} traces with {labeller.name!r}: {args.output}")
    unmapped: dict[str, int] = {}
    for t in labelled:
        for tag, k in t.metadata.get("unmapped_tags", {}).items():
            unmapped[tag] = unmapped.get(tag, 0) + k
    if unmapped:
        print("steps given the default behaviour (no mapping): "
              + ", ".join(f"{tag} {k}" for tag, k in sorted(unmapped.items())))
    return 0


def _train_labeller(args: argparse.Namespace) -> int:
    from metacot.graphs import trained

    argv = ["--seed", str(args.seed)]
    if args.out:
        argv += ["--out", args.out]
    if args.cache:
        argv += ["--cache", args.cache]
    return trained.main(argv)


def _fit(args: argparse.Namespace) -> int:
    from metacot.graphs import fit

    _check_output_folder(args.output, "-o")
    data = _read_any_traces(args.traces)
    if args.source:
        data = [t for t in data if t.source_model == args.source]
        if not data:
            print(f"metacot: error: no trace from source {args.source!r}", file=sys.stderr)
            return 2
    labeller = None if args.labeller is None else _labeller(args)
    graph = fit.fit_graph(data, method=args.method, prior=args.prior, labeller=labeller)
    graph.save(args.output)
    print(f"fitted a {args.method} graph on {len(data)} traces: {args.output}")
    return 0


def _looks_like_path(spec: str) -> bool:
    """A graph argument is a file path when it names a JSON file or a folder; else a reference name."""
    import os

    return spec.lower().endswith(".json") or os.sep in spec or (os.altsep is not None and os.altsep in spec)


def _graph_show(args: argparse.Namespace) -> int:
    from pathlib import Path

    from metacot import plots
    from metacot.graphs import graph

    if Path(args.graph).exists():
        g = graph.BehaviourGraph.load(args.graph)
    elif _looks_like_path(args.graph):
        from metacot.errors import MissingInputError

        raise MissingInputError(args.graph, "graph file")
    else:
        g = graph.reference(args.graph)
    if args.png:
        _check_output_folder(args.png, "--png")
    names = [str(s) for s in g.states]
    width = max(len(n) for n in names) + 2
    print(" " * width + "".join(f"{n:>{width}}" for n in names))
    for name, row in zip(names, g.P):
        print(f"{name:<{width}}" + "".join(f"{p:>{width}.3f}" for p in row))
    print("stationary: " + ", ".join(f"{n} {p:.3f}" for n, p in zip(names, g.stationary())))
    if args.png:
        fig = plots.transition_heatmap(g.P, names, title=args.graph)
        fig.savefig(args.png, dpi=130, bbox_inches="tight")
        print(f"heat map written: {args.png}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="metacot", description="Chain-of-thought as a metastable Markov chain.")
    sub = parser.add_subparsers(dest="command", required=True)

    ht = sub.add_parser("hitting-time", help="exact (and Monte Carlo) mean hitting time of a chain family")
    ht.add_argument("family", choices=["line_of_cliques", "random_clusters"])
    ht.add_argument("--K", type=int, required=True, help="number of clusters")
    ht.add_argument("--M", type=int, required=True, help="states per cluster")
    ht.add_argument("--eps", type=float, required=True, help="sparse-edge probability")
    ht.add_argument("--kind", default="er", help="cluster kind of random_clusters")
    ht.add_argument("--walkers", type=int, default=0, help="also estimate by Monte Carlo with this many walkers")
    ht.add_argument("--max-steps", type=int, default=0, help="Monte Carlo horizon (default 50 x the exact mean)")
    ht.add_argument("--seed", type=int, default=0)
    ht.set_defaults(run=_hitting_time)

    ex = sub.add_parser("experiments", help="run experiments (source checkout only)")
    ex.add_argument("ids", nargs="+")
    ex.add_argument("--quick", action="store_true")
    ex.set_defaults(run=_experiments)

    lb = sub.add_parser("label", help="label traces into the four behaviours")
    lb.add_argument("traces", help="metacot trace JSONL (any suffix), or ReasoningFlow annotated file/folder")
    lb.add_argument("-o", "--output", required=True, help="output trace JSONL")
    lb.add_argument("--labeller", default="reasoningflow", metavar="NAME",
                    help="keep (the behaviours the steps have), map:FILE.toml (another taxonomy), trained (the "
                         "shipped step classifier), keyword, reasoningflow (default) or llm-judge")
    lb.add_argument("--base-url", default=None, help="llm-judge: an OpenAI-compatible server (default: the embedded model)")
    lb.add_argument("--model", default=None, help="llm-judge: model name on that server")
    lb.add_argument("--concurrency", type=int, default=8, help="llm-judge: requests in flight at once")
    lb.set_defaults(run=_label)

    ft = sub.add_parser("fit", help="fit a behaviour graph to labelled traces")
    ft.add_argument("traces", help="labelled metacot trace JSONL (any suffix), or ReasoningFlow annotations")
    ft.add_argument("-o", "--output", required=True, help="graph JSON to write")
    ft.add_argument("--method", choices=["dirichlet", "mle", "pymc", "hierarchical"], default="dirichlet",
                    help="closed-form Dirichlet posterior mean (default), MLE, PyMC, or partially pooled across "
                         "source models (the population graph)")
    ft.add_argument("--labeller", default=None, metavar="NAME",
                    help="label first with this labeller (as for metacot label); default: the steps' behaviours")
    ft.add_argument("--prior", type=float, default=1.0, help="Dirichlet prior per entry")
    ft.add_argument("--source", default=None, help="fit only the traces of this source model")
    ft.set_defaults(run=_fit)

    tr = sub.add_parser("train-labeller", help="retrain the shipped step labeller from data/ (seeded)")
    tr.add_argument("--out", default=None, help="folder for trained_labeller.json (default: the package's)")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--cache", default=None, help="embedding cache folder")
    tr.set_defaults(run=_train_labeller)

    gr = sub.add_parser("graph", help="inspect behaviour graphs")
    gsub = gr.add_subparsers(dest="graph_command", required=True)
    show = gsub.add_parser("show", help="print a graph (JSON file or reference name) and draw its heat map")
    show.add_argument("graph", help="graph JSON path, or a reference name such as deepseek-r1-0528")
    show.add_argument("--png", default=None, help="write a heat map PNG here")
    show.set_defaults(run=_graph_show)

    # Subcommands whose modules own their arguments (neither loads a model, numba or CUDA at import).
    from metacot import sweep
    from metacot.synth import cli as synth_cli

    synth_cli.register(sub)
    sweep.register(sub)

    args = parser.parse_args(argv)
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    """Run a subcommand; a user's mistake becomes one line on stderr and exit code 2.

    What counts as the user's: bad arguments or input (:class:`~metacot.errors.MetacotError`),
    files that are missing, unreadable or unwritable (:class:`OSError`), text that is not UTF-8,
    and Ctrl-C (exit code 130, the shell's convention for SIGINT). Anything else is a bug in
    metacot and keeps its traceback.
    """
    from metacot.errors import MetacotError

    try:
        return args.run(args)
    except MetacotError as err:
        print(f"metacot: error: {err}", file=sys.stderr)
    except OSError as err:
        where = f"{err.filename}: " if err.filename else ""
        print(f"metacot: error: {where}{err.strerror or err}", file=sys.stderr)
    except UnicodeDecodeError as err:
        print(f"metacot: error: input is not UTF-8 text ({err.reason} at byte {err.start})", file=sys.stderr)
    except KeyboardInterrupt:
        print("metacot: interrupted; work already written is kept, and rerunning the command resumes it",
              file=sys.stderr)
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
