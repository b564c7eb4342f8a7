r"""M7: does a metastable chain fitted to teacher traces reproduce their entropy oscillation?

The metastable view says a reasoning trace is a walk on a behaviour graph: long stays, rare jumps.
If that first-order picture is enough, a chain simulated from the graph fitted to the teachers'
traces should show the same oscillation statistics as the traces themselves. We fit the
Dirichlet graph (prior 1) to the ReasoningFlow traces of DeepSeek-R1, QwQ-32B and gpt-oss-120b
(``ReasoningFlowLabeller``), lift it with ``BehaviourGraph.to_chain`` (one answer rate
:math:`a = 1/\bar L`, :math:`\bar L` the mean trace length, so simulated and real traces have the same
mean length; start law = the behaviours of the traces' first steps) and simulate walkers with
``metacot.simulate(..., record_paths=True)``.

**From a path to per-step information.** A walker's behaviour states up to (not including) the
answer state are measured exactly like a real trace's labels: :math:`I_t = H(P(\cdot \mid x_t)) /
\log 4` with :math:`P` the fitted 4×4 graph (``metacot.structure.dynamics.predictive_entropy``), then
:math:`\Delta I_t`, :math:`m_t`, the paper's phases (|m_t| ≤ 0.2 for "≈ 0"), alternation rate and
spectral peak. The state-distribution entropy :math:`H(\mu_t)` of the lifted chain (exact and from
the paths) is set beside its empirical counterpart over the real traces (behaviour at step
:math:`t`, or "ended").
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

import metacot as mc
from experiments._common import Claim, from_claim, output_dir, write
from metacot.graphs.fit import fit_graph
from metacot.graphs.labellers import ReasoningFlowLabeller, label_traces
from metacot.structure import dynamics as dyn
from metacot.traces.core import DATA_DIR, load_reasoningflow

CLAIM = Claim(
    id="M7",
    paper="molecular-thought",
    claim=(
        "The entropy oscillation of reasoning traces (exploration/validation alternation, Chen et al. 2026 "
        "Figure 10; notes §4.11) is what a metastable behaviour chain produces: long stays, rare jumps."
    ),
    formalisation=(
        "Dirichlet graph (prior 1) fitted to ReasoningFlow traces (≥ 10 steps) of DeepSeek-R1, QwQ-32B, "
        "gpt-oss-120b labelled by ReasoningFlowLabeller; chain = to_chain(answer_rate = 1/mean length, start = "
        "first-step behaviour law); simulate(seed 7, record_paths=True), walkers with ≥ 10 steps kept. Per-step "
        "information of real and simulated behaviour sequences: normalised entropy of P(·|x_t)."
    ),
    prediction=(
        "The chain matches the real traces' mean exploration share, validation share and alternation rate "
        "within 20% (relative), and the peak frequency of the pooled phase-indicator periodogram within 0.05 "
        "cycles/step."
    ),
    rule="Pass iff all four comparisons hold.",
)

TEACHERS = ("DeepSeek-R1", "QwQ-32B", "gpt-oss-120b")
MIN_STEPS = 10
SEED = 7
COMPARED = ("explore", "validate", "alternation_rate", "large_change", "peak_frequency", "peak_share")


def sequence_stats(idx: np.ndarray, graph) -> tuple[dict, np.ndarray]:
    info = dyn.information_measures(dyn.predictive_entropy(idx, graph))
    ph = dyn.classify_phases(info)
    return dyn.oscillation(info, ph).as_dict(), ph[ph != dyn.UNDEFINED].astype(float)


def run(quick: bool = False, results=None) -> dict:
    started = time.perf_counter()
    out = output_dir(CLAIM.id, results)
    traces = load_reasoningflow(DATA_DIR / "reasoningflow" / "annotated")
    traces = [t for t in traces if t.source_model in TEACHERS and len(t) >= MIN_STEPS]
    traces = label_traces(traces, ReasoningFlowLabeller())
    graph = fit_graph(traces, method="dirichlet", prior=1.0)
    k = graph.n_states
    real_seqs = [np.array([graph.index(b) for b in t.behaviours()]) for t in traces]
    mean_len = float(np.mean([len(s) for s in real_seqs]))
    start = np.bincount([s[0] for s in real_seqs], minlength=k) / len(real_seqs)
    chain = graph.to_chain(answer_rate=1.0 / mean_len, start=start)

    n_walkers = 400 if quick else 4000
    max_steps = int(8 * mean_len)
    sim = mc.simulate(chain, n_walkers=n_walkers, max_steps=max_steps, seed=SEED, record_paths=True)
    paths = np.asarray(sim.paths)
    sim_seqs = []
    for w in range(n_walkers):
        p = paths[w]
        p = p[(p >= 0) & (p < k)]  # behaviour states only: drop the answer state and the padding
        if len(p) >= MIN_STEPS:
            sim_seqs.append(p.astype(np.int64))

    rows, phase_series = [], {"real": [], "chain": []}
    for source, seqs in (("real", real_seqs), ("chain", sim_seqs)):
        for i, s in enumerate(seqs):
            st, ph = sequence_stats(s, graph)
            rows.append({"source": source, "i": i, "n_steps": len(s), **st})
            phase_series[source].append(ph)
    data = pd.DataFrame(rows)
    means = data.groupby("source")[list(COMPARED)].mean()
    spectra = {src: dyn.pooled_periodogram(phase_series[src]) for src in ("real", "chain")}
    peak = {src: float(f[np.argmax(s)]) for src, (f, s) in spectra.items()}

    rel = {c: abs(means.loc["chain", c] / means.loc["real", c] - 1) for c in ("explore", "validate", "alternation_rate")}
    checks = {f"{c}_within_20pct": bool(v <= 0.2) for c, v in rel.items()}
    checks["pooled_peak_within_0.05"] = bool(abs(peak["chain"] - peak["real"]) <= 0.05)
    passed = all(checks.values())

    # State-distribution entropy over time: exact chain, simulated paths, real traces (with 'ended').
    horizon = int(min(max_steps, 3 * mean_len))
    h_exact = dyn.state_entropy(chain, horizon)
    h_sim = dyn.empirical_state_entropy(paths[:, : horizon + 1], k + 1)
    real_mat = np.full((len(real_seqs), horizon + 1), k, dtype=np.int64)  # k = ended (answer)
    for i, s in enumerate(real_seqs):
        real_mat[i, : min(len(s), horizon + 1)] = s[: horizon + 1]
    h_real = dyn.empirical_state_entropy(real_mat, k + 1)
    h_gap = float(np.max(np.abs(h_exact - h_sim)))

    fmt = ", ".join(
        f"{c} real {means.loc['real', c]:.3f} / chain {means.loc['chain', c]:.3f}" for c in COMPARED
    )
    measured = (
        f"{fmt}; pooled periodogram peak real {peak['real']:.3f} vs chain {peak['chain']:.3f} cycles/step; "
        f"checks {checks}; H(μ_t): exact vs simulated max gap {h_gap:.3f} nats, peak of exact at t = "
        f"{int(np.argmax(h_exact))} ({h_exact.max():.3f} nats) vs real traces t = {int(np.argmax(h_real))} "
        f"({h_real.max():.3f} nats); {len(real_seqs)} real traces, {len(sim_seqs)} simulated walks ≥ {MIN_STEPS} steps"
    )
    entropy_curve = pd.DataFrame({"t": np.arange(horizon + 1), "H_exact": h_exact, "H_sim": h_sim, "H_real": h_real})
    fig = _figure(means, spectra, entropy_curve)
    verdict = from_claim(
        CLAIM, measured, passed, quick,
        means=means.round(4).to_dict("index"), relative_gaps=rel, pooled_peak=peak, checks=checks,
        answer_rate=1.0 / mean_len, start=start.round(4).tolist(), graph_P=graph.P.round(4).tolist(),
        n_walkers=n_walkers, seed=SEED, entropy_exact_vs_sim_max_gap=h_gap,
        entropy_curve=entropy_curve.iloc[:: max(1, horizon // 40)].round(4).to_dict("list"),
    )
    return vars(write(verdict, data, fig, out, started))


def _figure(means: pd.DataFrame, spectra: dict, curve: pd.DataFrame):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    cols = ["explore", "validate", "alternation_rate", "large_change"]
    x = np.arange(len(cols))
    for j, src in enumerate(("real", "chain")):
        axes[0].bar(x + 0.38 * j, means.loc[src, cols], width=0.36, label=src)
    axes[0].set_xticks(x + 0.19, cols, fontsize=8)
    axes[0].set_title("mean per-trace oscillation statistics", fontsize=9)
    axes[0].legend(fontsize=7)
    for src, (f, s) in spectra.items():
        axes[1].plot(f, s, label=src)
    axes[1].set_xlabel("frequency (cycles/step)")
    axes[1].set_ylabel("pooled normalised power")
    axes[1].set_title("phase-indicator periodogram", fontsize=9)
    axes[1].legend(fontsize=7)
    axes[2].plot(curve["t"], curve["H_exact"], label="chain, exact H(μ_t)")
    axes[2].plot(curve["t"], curve["H_sim"], ls="--", label="chain, simulated")
    axes[2].plot(curve["t"], curve["H_real"], label="real traces (with 'ended')")
    axes[2].set_xlabel("step t")
    axes[2].set_ylabel("entropy (nats)")
    axes[2].set_title("state-distribution entropy", fontsize=9)
    axes[2].legend(fontsize=7)
    fig.suptitle("M7: oscillation of a chain fitted to teacher traces vs the traces", fontsize=10)
    fig.tight_layout()
    return fig
