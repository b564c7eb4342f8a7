"""Command line: ``python -m experiments <ID>... | all [--quick] [--results DIR]``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from experiments import REGISTRY, load
from experiments._common import RESULTS
from experiments.ledger import write_ledgers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments", description=__doc__)
    parser.add_argument("ids", nargs="+", help=f"experiment ids ({', '.join(REGISTRY)}) or 'all'")
    parser.add_argument("--quick", action="store_true", help="small version of each experiment (about a minute)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where results/<ID>/ are written")
    parser.add_argument("--no-ledger", action="store_true", help="do not regenerate the claims ledgers")
    args = parser.parse_args(argv)
    ids = list(REGISTRY) if [i.lower() for i in args.ids] == ["all"] else args.ids
    try:
        modules = {i.upper(): load(i) for i in ids}
    except KeyError as err:
        parser.error(str(err.args[0]))
    failed = []
    total = time.perf_counter()
    for exp_id, module in modules.items():
        print(f"[{exp_id}] running{' (quick)' if args.quick else ''} ...", flush=True)
        verdict = module.run(quick=args.quick, results=args.results)
        status = "PASS" if verdict["passed"] else "FAIL"
        print(f"[{exp_id}] {status} in {verdict['seconds']:.1f} s: {verdict['measured']}", flush=True)
        if not verdict["passed"]:
            failed.append(exp_id)
    if not args.no_ledger:
        for path in write_ledgers(args.results):
            print(f"ledger written: {path}")
    print(f"{len(modules) - len(failed)}/{len(modules)} predictions held; {time.perf_counter() - total:.1f} s in all")
    # A failed prediction is a finding, not a crash: it is recorded in the ledger and exits 0.
    return 0


if __name__ == "__main__":
    sys.exit(main())
