"""``python -m benchmarks [--quick]``: run every comparison and write ``benchmarks/RESULTS.md``."""

from __future__ import annotations

import datetime as dt
import importlib
import os
import platform
import sys
from pathlib import Path

import pandas as pd

SUITES = ("bench_simulate", "bench_exact", "bench_pcca")
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    sections = []
    for name in SUITES:
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"running {name} ...", flush=True)
        table = pd.DataFrame(module.run(quick=quick))
        print(table.to_string(index=False), flush=True)
        sections.append(f"## {name}\n\n{(module.__doc__ or '').strip()}\n\n{table.to_markdown(index=False)}\n")
    if quick:
        print("quick run: RESULTS.md not written")
        return 0
    header = (
        "# Benchmark results\n\n"
        f"Written by `nox -s bench` on {dt.date.today().isoformat()}; machine: {machine()}.\n"
        "Every comparison runs side by side in one run; see each suite's module for the setup.\n"
    )
    notes = RESULTS.with_name("NOTES.md")
    extra = notes.read_text() if notes.exists() else ""
    RESULTS.write_text(header + "\n" + "\n".join(sections) + ("\n" + extra if extra else ""))
    print(f"written {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
