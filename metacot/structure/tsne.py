r"""Step embeddings to a low-dimensional map: seeded t-SNE, and the scale-free "trace units".

The second step of the geometry pipeline (:mod:`metacot.structure.geometry`): one t-SNE per trace
(:func:`tsne_3d`), then :func:`to_trace_units` divides by the median pairwise distance so that a
distance threshold means the same in every trace (t-SNE output has no absolute scale: it grows
with the number of points and depends on the perplexity).

Examples
--------
>>> import numpy as np
>>> to_trace_units(np.array([[0.0], [2.0], [4.0]])).ravel().tolist()
[0.0, 1.0, 2.0]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from metacot._checks import as_seed_int, positive_int
from metacot.embed import INSTALL_HINT
from metacot.errors import InvalidArgumentError, MissingDependencyError

__all__ = ["to_trace_units", "tsne_3d"]


def tsne_3d(
    X: Any,
    perplexity: float = 30.0,
    seed: Any = 0,
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
    seed : int or numpy.random.Generator
        scikit-learn wants an int ``random_state``: the key :func:`metacot._checks.as_seed_int`
        is passed as it is when below :math:`2^{32}` (so an int seed gives scikit-learn's own
        result for that int), and seeds a ``RandomState(MT19937(key))`` otherwise; a Generator
        contributes one draw.
    metric : str
        Input-space distance; ``"cosine"`` suits sentence embeddings.
    n_components : int
    max_iter : int

    Returns
    -------
    ndarray, shape (n, n_components)

    Examples
    --------
    >>> from metacot.embed import HashingEmbedder
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
    n_components = positive_int(n_components, "n_components")
    max_iter = positive_int(max_iter, "max_iter")
    key = as_seed_int(seed)
    # RandomState only takes seeds below 2**32; larger keys (and Generator draws) seed MT19937
    # through a SeedSequence, so distinct keys stay distinct streams.
    random_state: Any = key if key < 1 << 32 else np.random.RandomState(np.random.MT19937(key))
    try:
        from sklearn.manifold import TSNE
    except ImportError as e:
        raise MissingDependencyError(f"scikit-learn is not available ({e}); {INSTALL_HINT}") from None
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
        random_state=random_state,
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
