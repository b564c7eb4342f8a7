"""The ``metacot`` command.

``metacot hitting-time FAMILY --K 4 --M 16 --eps 1e-3 [--walkers N]`` prints the exact mean
hitting time of a chain family and, with ``--walkers``, a Monte Carlo estimate beside it.
``metacot experiments ID... [--quick]`` runs experiments from a source checkout (it forwards to
``python -m experiments``). Later subcommands (fit, label, synth, sweep) join this parser.
"""

from __future__ import annotations

import argparse
import sys


def _hitting_time(args: argparse.Namespace) -> int:
    from metacot import exact, families, simulate

    if args.family == "line_of_cliques":
        chain = families.line_of_cliques(args.K, args.M, args.eps)
    else:
        chain = families.random_clusters(args.K, args.M, args.eps, kind=args.kind, seed=args.seed)
    e_tau = exact.mean_hitting_time(chain)
    print(f"{chain}\nexact E[tau] = {e_tau:.10g}")
    if args.walkers:
        sim = simulate(chain, n_walkers=args.walkers, max_steps=int(args.max_steps or 50 * e_tau), seed=args.seed)
        est = sim.mean(restricted=sim.censored.any())
        print(f"Monte Carlo  = {est.value:.6g} ± {est.stderr:.2g} (1 SE; {args.walkers} walkers, seed {args.seed}"
              f"{', restricted mean: some walkers censored' if sim.censored.any() else ''})")
    return 0


def _experiments(args: argparse.Namespace) -> int:
    try:
        from experiments.__main__ import main as run_experiments
    except ImportError:
        print("the experiments live in the source checkout: run this from the repository root", file=sys.stderr)
        return 2
    return run_experiments(args.ids + (["--quick"] if args.quick else []))


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

    args = parser.parse_args(argv)
    from metacot.errors import MetacotError

    try:
        return args.run(args)
    except MetacotError as err:
        print(f"metacot: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
