"""The README's examples and the public API contract of DESIGN.md run, unchanged, as tests.

The README blocks run in order in one namespace (later blocks use names from earlier ones), in a
temporary working folder so that the files they write land there. The contract is copied here
from DESIGN.md ("Public API contract") because a user's clone has no ``../shared/``; its lines are
kept verbatim, with only the variables it leaves free (``P``, ``path``, ``p``, ``g``, ``problems``)
bound first.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def readme_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_the_readme_has_python_examples():
    assert len(readme_blocks()) >= 3


@pytest.mark.slow
def test_readme_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for i, block in enumerate(readme_blocks()):
        try:
            exec(compile(block, f"README.md python block {i + 1}", "exec"), namespace)
        except Exception as err:  # pragma: no cover - the message says which block failed
            raise AssertionError(f"README python block {i + 1} failed: {err!r}\n{block}") from err


CONTRACT = '''
import metacot as mc

chain = mc.families.line_of_cliques(K=4, M=16, eps=0.01)   # start = entry of cluster 0, target = cluster K-1
chain = mc.Chain(P, clusters=None, start=None, target=None) # P: scipy.sparse or ndarray; validated
h = mc.exact.hitting_times(chain)            # expected steps to chain.target from every state (np.inf if unreachable)
pmf = mc.exact.hitting_time_distribution(chain, t_max=10_000)   # P(tau = t) from chain.start
sim = mc.simulate(chain, n_walkers=100_000, max_steps=10**7, seed=0, backend="auto")
sim.hitting_times, sim.censored, sim.mean()   # int64 steps per walker; bool mask of walkers that never hit

traces = mc.traces.load_reasoningflow(path)                 # real labelled traces -> list[Trace]
g = mc.fit_graph(traces, method="dirichlet")                # -> BehaviourGraph
g.P, g.states, g.stationary(), g.save(p), mc.BehaviourGraph.load(p), g.to_networkx()
mc.graph.reference("deepseek-r1-0528")                       # also "gpt-oss-120b", "qwq-32b"
'''

CONTRACT_SYNTH = '''
mc.synth.molesyn(g, problems, sampler=mc.synth.LlamaCppSampler(), out="synth.jsonl")
'''


def test_the_public_api_contract(tmp_path, monkeypatch):
    import metacot as mc

    monkeypatch.chdir(tmp_path)
    # A small chain with a reachable target, so that every line of the contract has an answer.
    P = np.array([[0.5, 0.5, 0.0], [0.25, 0.5, 0.25], [0.0, 0.0, 1.0]])
    path = mc.traces.DATA_DIR / "reasoningflow" / "annotated" / "aime2024_0_QwQ-32B.json"
    ns = {"P": P, "path": path, "p": tmp_path / "g.json", "np": np}
    src = CONTRACT.replace("chain = mc.Chain(P, clusters=None, start=None, target=None)",
                           "chain = mc.Chain(P, clusters=None, start=0, target=2)")
    exec(compile(src, "DESIGN.md contract", "exec"), ns)
    assert ns["h"][0] == pytest.approx(8.0)   # independent: solve (I - Q) h = 1 by hand below
    Q = P[:2, :2]
    assert np.allclose(ns["h"][:2], np.linalg.solve(np.eye(2) - Q, np.ones(2)))
    assert ns["g"].P.shape == (4, 4)


@pytest.mark.slow
def test_the_public_api_contract_synthesis(tmp_path, monkeypatch):
    import metacot as mc

    monkeypatch.chdir(tmp_path)
    g = mc.graph.reference("deepseek-r1-0528")
    problems = mc.traces.load_problems(mc.traces.DATA_DIR / "problems" / "math500.jsonl")[:1]
    ns = {"mc": mc, "g": g, "problems": problems}
    src = CONTRACT_SYNTH.replace('out="synth.jsonl")', 'out="synth.jsonl", max_steps=2)')
    exec(compile(src, "DESIGN.md contract (synthesis)", "exec"), ns)
    assert len(mc.traces.read_traces(tmp_path / "synth.jsonl")) == 1
