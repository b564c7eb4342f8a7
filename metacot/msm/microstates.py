r"""Microstates of reasoning steps: MiniLM step embeddings, optional centring, PCA and k-means.

Every step of every trace is embedded with the packaged all-MiniLM-L6-v2 model, read to 128 word
pieces (:class:`metacot.graphs.step_features.StepEmbedder`, the embedder of the trained labeller,
wrapped in :class:`metacot.embed.CachedEmbedder` on :func:`metacot.embed.default_cache_dir`, so the
vectors already cached for the shipped traces are reused).

**Pooled, not per problem.** One k-means is fitted to the steps of all traces together, so a
microstate means the same thing in every trace and the count matrix pools every trace's
transitions. Per-problem clusterings would each see a handful of traces (the 231 shipped traces
cover 54 problems, about 4 traces and 600 steps per problem): with :math:`k` microstates a
per-problem count matrix has :math:`k^2` cells for a few hundred transitions, and microstates of
different problems could not be compared.

**Centring.** Pooled embeddings are dominated by the topic of the problem: steps about one essay
topic are close to each other whatever they do. Unchecked, k-means then cuts the steps mostly by
problem, the count graph falls apart into per-problem blocks and the slowest "timescale" measures
how long a trace stays on its own problem (forever). With ``center="problem"`` (the default)
the mean embedding of the steps of each problem is subtracted first, so microstates describe
what a step does relative to its problem. ``center="trace"`` subtracts each trace's own mean;
``center=None`` keeps the raw vectors.

**PCA.** k-means runs on the leading ``n_components`` principal axes (default 50 of 384) of the
pooled, centred vectors: faster, and it drops directions of noise.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from metacot._checks import as_rng, positive_int, readonly
from metacot.errors import InvalidArgumentError, MissingDependencyError
from metacot.traces.model import Trace

__all__ = ["Microstates", "default_embedder", "discretise", "fit_microstates", "step_embeddings"]

CENTERS = ("problem", "trace", None)


def default_embedder() -> Callable[[list[str]], np.ndarray]:
    """The cached 128-word-piece MiniLM step embedder shared with the trained labeller."""
    from metacot.embed import CachedEmbedder, default_cache_dir
    from metacot.graphs.step_features import StepEmbedder

    return CachedEmbedder(StepEmbedder(), default_cache_dir())


def step_embeddings(traces: Sequence[Trace], embedder: Callable[[list[str]], np.ndarray] | None = None,
                    *, center: str | None = "problem") -> list[np.ndarray]:
    r"""Step embeddings of every trace, ``(n_steps, d)`` each, from one call of ``embedder``.

    Parameters
    ----------
    traces : sequence of Trace
    embedder : callable, optional
        ``list[str] -> ndarray``; default :func:`default_embedder`.
    center : {"problem", "trace", None}
        Subtract the mean step vector of each problem (default), of each trace, or nothing.

    Raises
    ------
    InvalidArgumentError
        Not a Trace, a step with empty text, an unknown ``center``, or an embedder that returned
        the wrong shape.
    """
    if center not in CENTERS:
        raise InvalidArgumentError(f"center must be one of {CENTERS}, got {center!r}")
    traces = list(traces)
    texts = []
    for m, t in enumerate(traces):
        if not isinstance(t, Trace):
            raise InvalidArgumentError(f"item {m} is a {type(t).__name__}, not a metacot Trace")
        for i, s in enumerate(t.steps):
            if not s.text.strip():
                raise InvalidArgumentError(f"trace {t.trace_id!r}, step {i}: empty step text cannot be embedded")
            texts.append(s.text)
    if not texts:
        raise InvalidArgumentError("the traces hold no steps")
    V = np.asarray((embedder or default_embedder())(texts), dtype=np.float64)
    if V.ndim != 2 or V.shape[0] != len(texts) or not np.all(np.isfinite(V)):
        raise InvalidArgumentError(f"the embedder returned shape {V.shape} (or non-finite values) for {len(texts)} texts")
    bounds = np.cumsum([0] + [len(t) for t in traces])
    out = [V[a:b].copy() for a, b in itertools.pairwise(bounds)]
    if center == "trace":
        out = [E - E.mean(axis=0) if len(E) else E for E in out]
    elif center == "problem":
        groups: dict[str, list[int]] = {}
        for m, t in enumerate(traces):
            groups.setdefault(t.problem, []).append(m)
        for members in groups.values():
            rows = [out[m] for m in members if len(out[m])]
            if rows:
                mu = np.vstack(rows).mean(axis=0)
                for m in members:
                    out[m] = out[m] - mu
    return out


@dataclass(frozen=True, eq=False)
class Microstates:
    r"""A fitted discretisation: centre ``mean``, project on ``components``, nearest of ``centers``.

    Attributes
    ----------
    mean : ndarray, shape (d,)
        Mean of the fitted vectors (PCA centring).
    components : ndarray, shape (r, d)
        Principal axes (rows); the identity when no PCA was used.
    centers : ndarray, shape (k, r)
        k-means centres in the projected space.
    inertia : float
        k-means objective on the fitted vectors.
    """

    mean: np.ndarray
    components: np.ndarray
    centers: np.ndarray
    inertia: float

    @property
    def n_states(self) -> int:
        return self.centers.shape[0]

    def assign(self, X: Any) -> np.ndarray:
        """Index of the nearest centre of every row of ``X`` ``(n, d)``."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.mean.size:
            raise InvalidArgumentError(f"expected vectors of shape (n, {self.mean.size}), got {X.shape}")
        Y = (X - self.mean) @ self.components.T
        d2 = (Y * Y).sum(axis=1)[:, None] - 2 * Y @ self.centers.T + (self.centers * self.centers).sum(axis=1)[None]
        return np.argmin(d2, axis=1).astype(np.int64)


def fit_microstates(X: Any, n_states: int = 100, seed: Any = 0, *, n_components: int | None = 50,
                    n_init: int = 3, max_iter: int = 100, n_threads: int | None = 1) -> Microstates:
    r"""k-means microstates of the rows of ``X`` (after PCA to ``n_components`` axes, if given).

    scikit-learn's :class:`~sklearn.cluster.KMeans` (Lloyd, k-means++ starts, ``n_init`` restarts)
    after :class:`~sklearn.decomposition.PCA`; both seeded from ``seed``.

    ``n_threads`` caps the BLAS and OpenMP threads of both (threadpoolctl; ``None`` leaves them
    alone). One thread is the default because on a shared 2-core machine it was the fastest:
    33,794 x 384 vectors, 100 microstates took 4.6 s on one thread against 14.8 s unlimited.

    Raises
    ------
    InvalidArgumentError
        Fewer rows than ``n_states``, non-finite values, or ``n_components`` above the dimension.
    MissingDependencyError
        scikit-learn is not installed.
    """
    X = np.asarray(X, dtype=np.float64)
    n_states = positive_int(n_states, "n_states", minimum=2)
    if X.ndim != 2 or not np.all(np.isfinite(X)):
        raise InvalidArgumentError(f"X must be a finite 2-D array, got shape {X.shape}")
    if X.shape[0] < n_states:
        raise InvalidArgumentError(f"{X.shape[0]} vectors cannot make {n_states} microstates")
    try:
        from sklearn.cluster import KMeans
        from sklearn.decomposition import PCA
    except ImportError as e:
        raise MissingDependencyError(f"scikit-learn is needed for microstates ({e}); pip install 'metacot[embed]'") from None
    rng = as_rng(seed)
    if n_threads is not None:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=positive_int(n_threads, "n_threads")):
            return _fit(X, n_states, rng, n_components, n_init, max_iter, PCA, KMeans)
    return _fit(X, n_states, rng, n_components, n_init, max_iter, PCA, KMeans)


def _fit(X: np.ndarray, n_states: int, rng: np.random.Generator, n_components: int | None, n_init: int,
         max_iter: int, PCA: Any, KMeans: Any) -> Microstates:
    mean = X.mean(axis=0)
    if n_components is None:
        components = np.eye(X.shape[1])
    else:
        n_components = positive_int(n_components, "n_components")
        if n_components > min(X.shape):
            raise InvalidArgumentError(f"n_components={n_components} exceeds the data's rank bound {min(X.shape)}")
        pca = PCA(n_components=n_components, svd_solver="randomized", random_state=int(rng.integers(2**31)))
        pca.fit(X)
        components = pca.components_
    Y = (X - mean) @ components.T
    km = KMeans(n_clusters=n_states, n_init=positive_int(n_init, "n_init"), max_iter=positive_int(max_iter, "max_iter"),
                random_state=int(rng.integers(2**31)))
    km.fit(Y)
    return Microstates(readonly(mean), readonly(np.array(components)), readonly(km.cluster_centers_.copy()),
                       float(km.inertia_))


def discretise(embeddings: Sequence[np.ndarray], microstates: Microstates) -> list[np.ndarray]:
    """Microstate path of every trace: :meth:`Microstates.assign` applied to each ``(n_steps, d)`` array."""
    if not isinstance(microstates, Microstates):
        raise InvalidArgumentError(f"microstates must be a Microstates, got {type(microstates).__name__}")
    sizes = [len(E) for E in embeddings]
    if not any(sizes):
        return [np.zeros(0, dtype=np.int64) for _ in sizes]
    labels = microstates.assign(np.vstack([E for E in embeddings if len(E)]))
    bounds = np.cumsum([0, *sizes])
    return [labels[a:b] for a, b in itertools.pairwise(bounds)]
