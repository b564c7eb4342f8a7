r"""Minimum enclosing balls (Welzl's algorithm, move-to-front) and the volume of a :math:`d`-ball.

The geometry pipeline (:mod:`metacot.structure.geometry`) measures how spread out a window of
steps is by the volume of the smallest ball that holds them (the paper's "MEB volume").

Examples
--------
>>> import numpy as np
>>> ball = min_enclosing_ball(np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 0.5]]))
>>> ball.center.round(6).tolist(), round(ball.radius, 6)
([1.0, 0.0], 1.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from metacot._checks import as_rng
from metacot.errors import InvalidArgumentError

__all__ = ["Ball", "ball_volume", "min_enclosing_ball"]


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


def min_enclosing_ball(points: Any, seed: Any = 0, rtol: float = 1e-10) -> Ball:
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
    seed : int or numpy.random.Generator
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
    order = as_rng(seed).permutation(P.shape[0])
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
