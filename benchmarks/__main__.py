"""``python -m benchmarks [--quick]``: run every comparison and write ``benchmarks/RESULTS.md``."""

from __future__ import annotations

import datetime as dt
import importlib
import os
import platform
import sys
from pathlib import Path

import pandas as pd

SUITES = ("bench_simulate", "bench_exact", "bench_pcca", "bench_gpu", "bench_synth", "bench_label", "bench_posterior", "bench_msm",
          "bench_synth_overhead")
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def goals(tables: dict[str, pd.DataFrame]) -> list[tuple[str, str, bool]]:
    """The speed goals of the foundation issue, checked against this run's tables."""
    out = []
    sim = tables.get("bench_simulate")
    if sim is not None:
        paths = sim[sim["benchmark"] == "paths"]
        for n, part in paths.groupby("n_states"):
            ours = part.loc[part["library"] == "metacot", "ns_per_walker_step"].iloc[0]
            qe = part.loc[part["library"] == "quantecon", "ns_per_walker_step"].iloc[0]
            out.append((f"full paths, n={n}: at least 20x QuantEcon", f"{qe / ours:.1f}x", qe / ours >= 20))
        hit = sim[(sim["benchmark"] == "hitting") & (sim["threads"] == 2)]
        if len(hit):
            rate = float(hit["walker_steps_per_s"].iloc[0])
            out.append(("hitting times, 2 threads: at least 6e8 walker-steps/s", f"{rate:.3g}", rate >= 6e8))
    ex = tables.get("bench_exact")
    if ex is not None and (ex["n_states"] == 10**6).any():
        big = ex[ex["n_states"] == 10**6].set_index("library")
        ours, dt = big.loc["metacot"], big.loc["deeptime"]
        out.append(("exact hitting times, 10^6 states: at most 2 s", f"{ours['seconds']:.2f} s", ours["seconds"] <= 2))
        out.append(("... and at most 1 GiB", f"{ours['extra_MiB']:.0f} MiB", ours["extra_MiB"] <= 1024))
        ratio = dt["seconds"] / ours["seconds"]
        out.append(("... and at least 8x deeptime's mfpt", f"{ratio:.1f}x", ratio >= 8))
    pc = tables.get("bench_pcca")
    if pc is not None:
        row = pc[pc["library"] == "metacot"]
        if len(row):
            speed = float(row["speedup"].iloc[0])
            same = bool(row["same_sets"].iloc[0])
            out.append(("metastable_sets: at least 10x pyGPCCA, same sets", f"{speed:.0f}x, same sets: {same}",
                        speed >= 10 and same))
    lab = tables.get("bench_label")
    if lab is not None:
        shipped = lab[(lab["variant"] == "label") & (lab["max_seq_length"] == 128)]
        if len(shipped):
            rate = float(shipped["steps_per_s"].max())
            out.append(("trained labeller, embedding included: at least 200 steps/s", f"{rate:.0f}", rate >= 200))
    syn = tables.get("bench_synth_overhead")
    if syn is not None:
        ratio = float(syn["ratio"].iloc[0])
        out.append(("molesyn token rate / raw llama.cpp rate on the same prompts: at least 0.9", f"{ratio:.2f}",
                    ratio >= 0.9))
    post = tables.get("bench_posterior")
    if post is not None:
        sec = float(post["seconds"].iloc[0])
        out.append(("1,000 posterior hitting-time vectors (4-state lifted chain): under 1 s", f"{sec * 1e3:.1f} ms",
                    sec < 1))
    return out


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    sections = []
    tables = {}
    for name in SUITES:
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"running {name} ...", flush=True)
        table = pd.DataFrame(module.run(quick=quick))
        tables[name] = table
        print(table.to_string(index=False), flush=True)
        sections.append(f"## {name}\n\n{(module.__doc__ or '').strip()}\n\n{table.to_markdown(index=False)}\n")
    if quick:
        print("quick run: RESULTS.md not written")
        return 0
    checked = goals(tables)
    header = (
        "# Benchmark results\n\n"
        f"Written by `nox -s bench` on {dt.date.today().isoformat()}; machine: {machine()}.\n"
        "Every comparison runs side by side in one run; see each suite's module for the setup.\n\n"
        "## Goals\n\n| goal | measured | met |\n|---|---|---|\n"
        + "".join(f"| {g} | {m} | {'yes' if ok else '**no**'} |\n" for g, m, ok in checked)
    )
    notes = RESULTS.with_name("NOTES.md")
    extra = notes.read_text() if notes.exists() else ""
    RESULTS.write_text(header + "\n" + "\n".join(sections) + ("\n" + extra if extra else ""))
    print(f"written {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
