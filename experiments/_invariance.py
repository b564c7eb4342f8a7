"""M9's measures of semantics and geometry: what a transformation of teacher traces does to their meaning and map.

Per trace, from unit step embeddings (all-MiniLM-L6-v2 through M5's cache): the centroid, the
mean cosine to the problem, the coherence of consecutive steps and its excess over all step pairs,
the split-half centroid cosine (:func:`semantic_stats`); transformed against original with
percentile bootstrap intervals over traces (:func:`semantic_shift`). Geometry: M5's pooled
locality, return, re-attachment and stride shares and MEB volume ratios, kept per trace so a
bootstrap re-pools them cheaply (:func:`geo_parts`, :func:`contrasts`, :func:`geometry_shift`).
Only M9 uses these; the graph statistics it shares with other experiments live in
:mod:`metacot.graphs.comparison`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from experiments._molecular import TEACHERS
from metacot import geometry as geo
from metacot.embed import default_cache_dir, embed_traces
from metacot.structure.bond_summary import summarise_bonds, trace_bonds
from metacot.traces.core import Trace

LEVEL = 0.95
SEED = 0


def m5_summary(parts: list[dict]) -> dict:
    """M5's own summary of the per-trace tables of :func:`geo_parts`."""
    return summarise_bonds([p["table"] for p in parts], [p["vols"] for p in parts])


def geometry_subset(traces: Sequence[Trace], per_group: int, steps: tuple[int, int]) -> list[int]:
    """Indices of ``per_group`` traces of each (teacher, domain) with ``steps[0] <= len <= steps[1]``.

    Candidates are sorted by (length, id) and taken at evenly spaced ranks, so the subset spans the
    length window and a rerun draws the same traces. Grouping by domain matters: AIME traces are
    much longer than essay traces, and a length window alone would leave out most of them.
    """
    picked: list[int] = []
    groups = sorted({(t.source_model, str(t.metadata.get("domain"))) for t in traces if t.source_model in TEACHERS},
                    key=lambda g: (TEACHERS.index(g[0]), g[1]))
    for model, domain in groups:
        cand = sorted((i for i, t in enumerate(traces) if t.source_model == model
                       and str(t.metadata.get("domain")) == domain and steps[0] <= len(t) <= steps[1]),
                      key=lambda i: (len(traces[i]), traces[i].trace_id))
        if not cand:
            continue
        ranks = np.unique(np.linspace(0, len(cand) - 1, min(per_group, len(cand))).round().astype(int))
        picked += [cand[r] for r in ranks]
    return sorted(picked)


def jitter(E: np.ndarray, cos: float, seed: int) -> np.ndarray:
    """Turn every unit row of ``E`` to cosine ``cos`` with itself, towards a random orthogonal direction."""
    rng = np.random.default_rng(seed)
    U = rng.normal(size=E.shape)
    U -= np.einsum("ij,ij->i", U, E)[:, None] * E  # orthogonal to each row
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    return cos * E + math.sqrt(1 - cos**2) * U



def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


def semantic_stats(E: np.ndarray, problem: np.ndarray) -> dict[str, float]:
    """Per-trace semantic summaries of unit step embeddings ``E`` (n, d) and the problem's embedding.

    ``centroid`` (unit mean vector), ``relevance`` (mean cosine to the problem), ``coherence``
    (mean cosine of consecutive steps), ``excess`` (coherence minus the mean cosine over all step
    pairs: how much more alike neighbours are than any two steps), ``split_half`` (cosine of the
    centroids of the even and the odd steps).
    """
    n = E.shape[0]
    out = {"centroid": _unit(E.mean(axis=0)), "relevance": float((E @ problem).mean())}
    if n >= 2:
        G = E @ E.T
        coh = float(np.einsum("ij,ij->i", E[1:], E[:-1]).mean())
        allpairs = float((G.sum() - np.trace(G)) / (n * (n - 1)))
        out |= {"coherence": coh, "excess": coh - allpairs,
                "split_half": float(_unit(E[0::2].mean(axis=0)) @ _unit(E[1::2].mean(axis=0)))}
    else:
        out |= {"coherence": math.nan, "excess": math.nan, "split_half": math.nan}
    return out


def boot_mean(x: np.ndarray, rng: np.random.Generator, n_boot: int) -> tuple[float, float, float]:
    """Mean of per-trace values (NaNs left out) with a percentile bootstrap interval over traces."""
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return math.nan, math.nan, math.nan
    reps = x[rng.integers(x.size, size=(n_boot, x.size))].mean(axis=1)
    lo, hi = np.quantile(reps, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return float(x.mean()), float(lo), float(hi)


def semantic_shift(orig: list[dict], new: list[dict], *, n_boot: int, seed: int = SEED,
                   aligned: list[np.ndarray] | None = None) -> dict:
    """Content, relevance and order of transformed traces against their originals (paired per trace).

    ``aligned``: per trace, the cosine of each step to the step it replaced (only for
    transformations that keep every position, e.g. keyword replacement and swap).
    """
    rng = np.random.default_rng(seed)
    content = np.array([float(a["centroid"] @ b["centroid"]) for a, b in zip(orig, new)])
    d_rel = np.array([b["relevance"] - a["relevance"] for a, b in zip(orig, new)])
    d_coh = np.array([b["coherence"] - a["coherence"] for a, b in zip(orig, new)])
    row = {"sem_traces": len(orig)}
    for name, x in (("content_cos", content), ("d_relevance", d_rel), ("d_coherence", d_coh)):
        row[name], row[f"{name}_lo"], row[f"{name}_hi"] = boot_mean(x, rng, n_boot)
    ex_o = np.nanmean([a["excess"] for a in orig])
    ex_n = np.nanmean([b["excess"] for b in new])
    row["excess_kept"] = float(ex_n / ex_o) if ex_o > 0 else math.nan
    row["step_cos"] = float(np.mean(np.concatenate(aligned))) if aligned else math.nan
    return row


#: M5's statistics as reported per row: the levels the paper quotes (deep locality, reflection
#: re-attachment and return, exploration stride), M5's contrasts (own behaviour minus the other
#: steps) and the median MEB volume ratios after/before.
GEO_KEYS = ("locality_deep", "reattach_reflect", "return_reflect", "stride_explore", "locality_gap", "return_gap",
            "reattach_gap", "stride_gap", "vol_ratio_reflect", "vol_ratio_explore")


def geo_parts(coords: list[np.ndarray], behs: list[list[str]]) -> list[dict]:
    """Per-trace sufficient statistics of M5's pooled shares (so a bootstrap can re-pool them cheaply)."""
    parts = []
    for Y, bs in zip(coords, behs):
        tab, vols = trace_bonds(Y, bs, loc=geo.LOCALITY_THRESHOLD, clu=geo.CLUSTER_THRESHOLD, min_lag=1,
                                window=geo.WINDOW)
        tab = tab[tab["step"] > 0]  # as in summarise_bonds: step 0 has no jump
        p: dict = {"table": tab, "vols": vols}
        for col, b in (("local", "deep"), ("returned", "reflect"), ("reattached", "reflect"), ("jump", "explore")):
            own = tab["behaviour"] == b
            p[(col, b, True)] = (float(tab.loc[own, col].sum()), int(own.sum()))
            p[(col, b, False)] = (float(tab.loc[~own, col].sum()), int((~own).sum()))
        for b in ("reflect", "explore"):
            ev = vols[b]
            p[("ratio", b)] = ev[:, 2] / ev[:, 1] if ev.shape[0] else np.zeros(0)
        parts.append(p)
    return parts


def contrasts(parts: list[dict], idx: Sequence[int]) -> dict[str, float]:
    """M5's pooled levels and contrasts over the traces ``idx`` (with repeats, for a bootstrap)."""

    def share(col: str, b: str, own: bool) -> float:
        s = sum(parts[i][(col, b, own)][0] for i in idx)
        n = sum(parts[i][(col, b, own)][1] for i in idx)
        return s / n if n else math.nan

    out = {
        "locality_deep": share("local", "deep", True),
        "reattach_reflect": share("reattached", "reflect", True),
        "return_reflect": share("returned", "reflect", True),
        "stride_explore": share("jump", "explore", True),
        "locality_gap": share("local", "deep", True) - share("local", "deep", False),
        "return_gap": share("returned", "reflect", True) - share("returned", "reflect", False),
        "reattach_gap": share("reattached", "reflect", True) - share("reattached", "reflect", False),
        "stride_gap": share("jump", "explore", True) - share("jump", "explore", False),
    }
    for b in ("reflect", "explore"):
        r = np.concatenate([parts[i][("ratio", b)] for i in idx]) if len(idx) else np.zeros(0)
        out[f"vol_ratio_{b}"] = float(np.median(r)) if r.size else math.nan
    return out


def geometry_shift(orig: list[dict], new: list[dict], *, n_boot: int, seed: int = SEED) -> dict:
    """Transformed minus original of M5's statistics, with a paired trace-bootstrap interval."""
    n = len(orig)
    rng = np.random.default_rng(seed)
    a, b = contrasts(orig, range(n)), contrasts(new, range(n))
    reps = []
    for _ in range(n_boot):
        idx = rng.integers(n, size=n)
        ra, rb = contrasts(orig, idx), contrasts(new, idx)
        reps.append([rb[k] - ra[k] for k in GEO_KEYS])
    reps = np.array(reps)
    row: dict = {"geo_traces": n}
    for j, k in enumerate(GEO_KEYS):
        row[f"d_{k}"] = b[k] - a[k]
        col = reps[:, j]
        col = col[np.isfinite(col)]
        lo, hi = np.quantile(col, [(1 - LEVEL) / 2, (1 + LEVEL) / 2]) if col.size >= 10 else (math.nan, math.nan)
        row[f"d_{k}_lo"], row[f"d_{k}_hi"] = float(lo), float(hi)
        row[k] = b[k]
    # M5's direction checks on the transformed coordinates, from M5's own summary.
    row["m5_checks"] = checks_text(m5_summary(new))
    return row


def checks_text(s: dict) -> str:
    """M5's four direction checks as e.g. ``'a b c -'`` (letter: holds; '-': fails; '?': undefined)."""
    vals = [s["locality_deep"] - s["locality_other"], s["return_reflect"] - s["return_other"],
            s["stride_explore"] - s["stride_other"]]
    marks = ["?" if not np.isfinite(v) else (c if v > 0 else "-") for v, c in zip(vals, "abc")]
    vr, ve = s["vol_ratio_median_reflect"], s["vol_ratio_median_explore"]
    marks.append("?" if not (np.isfinite(vr) and np.isfinite(ve)) else ("d" if vr < 1 < ve else "-"))
    return " ".join(marks)


class Embeddings:
    """Step and problem embeddings through M5's cached MiniLM embedder (one batch per call)."""

    def __init__(self) -> None:
        self.embedder = geo.CachedEmbedder(geo.SentenceEmbedder(batch_size=64), default_cache_dir())

    def traces(self, traces: Sequence[Trace]) -> list[np.ndarray]:
        return embed_traces(list(traces), self.embedder)

    def texts(self, texts: Sequence[str]) -> np.ndarray:
        return geo.embed(list(texts), self.embedder)
