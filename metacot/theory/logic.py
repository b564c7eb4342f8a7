r"""The group-action logical task of §5 of the metastable-dynamics paper, with :math:`G = \mathbb Z_2`.

The paper (Kim, Wu, Lee, Suzuki, ICML 2025, §5, Thm 5.3; project notes
``papers/metastable_paper.md`` §6 and experiment L1) attaches a group action to every reasoning
step: easy (intra-cluster) steps act trivially, hard (sparse, inter-cluster) steps act
non-trivially, and the answer is the composition of the actions along the CoT path. A learner that
sees only local information cannot tell a sparse edge from a *low-probability intra-cluster edge*,
so it does not know which steps matter; the statistical-query dimension of the resulting concept
class is exponential. The exact construction was not available; this module implements the notes'
concrete instance [R]:

- **Chain (family C).** :math:`K+1` lazy-cycle clusters of :math:`M` states on a line, joined by
  :math:`K` sparse edges of probability :math:`\varepsilon`
  (:func:`metacot.markov.families.random_clusters`), plus :math:`L-K` *decoy* intra-cluster edges, also
  of probability :math:`\varepsilon`, placed so that every low-probability step has the same local
  statistics (step probability, out-degree and self-loop of its source, in-degree of its
  destination). The states are randomly relabelled so indices carry no information.
- **Path and inputs.** The CoT path from :math:`X_{in}` to :math:`X_{out}` takes :math:`L`
  low-probability steps (the easy steps between them act trivially and are omitted). Each of them
  comes in two parallel variants, read as a sign :math:`\sigma_t \in \{\pm 1\}`, uniform and
  independent.
- **Answer.** With :math:`S` the positions of the :math:`K` sparse steps,

  .. math:: y = \chi_S(\sigma) = \prod_{t \in S} \sigma_t .

Because the parities :math:`\chi_S` are characters of :math:`\{\pm1\}^L`,
:math:`\mathbb E[\chi_S \chi_{S'}] = \mathbf 1[S = S']`: the :math:`\binom{L}{K}` hypotheses
consistent with local information are pairwise orthogonal, so the SQ dimension (the SDA at the
local access levels) is at least :math:`\binom{L}{K}`, exponential in :math:`K` when
:math:`L = \alpha K`; and every correlation of :math:`y` with fewer than :math:`K` of the
:math:`\sigma_t` is exactly zero. A learner with the clusters (global information) reads off
:math:`S` and needs only :math:`O(K)` samples (Gaussian elimination over GF(2)).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from metacot._checks import as_rng
from metacot.errors import InvalidChainError
from metacot.markov.chain import Chain
from metacot.markov.families import random_clusters

__all__ = [
    "CorrelationPredictor",
    "LogicTask",
    "ParityPredictor",
    "accuracy",
    "fit_correlational",
    "fit_global",
    "local_features",
    "log_num_hypotheses",
    "logic_task",
    "parity_gram",
    "sample",
    "sparse_positions",
    "target_correlations",
]


# =========================================================================== the task
@dataclass(frozen=True)
class LogicTask:
    r"""An instance of the :math:`\mathbb Z_2` logical task.

    Attributes
    ----------
    chain : Chain
        Family C: clusters, sparse edges and decoy edges (states randomly relabelled).
    steps : ndarray of int, shape (L, 2)
        The low-probability transitions :math:`(x_t, y_t)` of the CoT path, in path order.
    sparse : ndarray of bool, shape (L,)
        Ground truth: which steps cross clusters (the set :math:`S`).
    eps : float
        Probability of every sparse and decoy edge.
    """

    chain: Chain
    steps: np.ndarray
    sparse: np.ndarray
    eps: float

    @property
    def L(self) -> int:
        """Number of low-probability steps on the path."""
        return int(self.steps.shape[0])

    @property
    def K(self) -> int:
        """Number of sparse (non-trivially acting) steps."""
        return int(self.sparse.sum())

    @property
    def S(self) -> np.ndarray:
        """Positions of the sparse steps, :math:`S \\subset \\{0, \\dots, L-1\\}`."""
        return np.flatnonzero(self.sparse)


def _allocate_decoys(n_decoys: int, K: int, cap: int, rng: np.random.Generator) -> np.ndarray:
    """Spread the decoys uniformly over the K + 1 clusters, at most ``cap`` per cluster."""
    if n_decoys > cap * (K + 1):
        raise InvalidChainError(f"{n_decoys} decoys do not fit in {K + 1} clusters of capacity {cap}; raise M")
    per = np.zeros(K + 1, dtype=np.int64)
    for _ in range(n_decoys):
        free = np.flatnonzero(per < cap)
        per[rng.choice(free)] += 1
    return per


def _decoys_in_cluster(d: int, M: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """``d`` decoy edges (local indices) inside one lazy-cycle cluster of ``M`` states.

    Sources avoid the sparse source (state M-1) and destinations avoid the entry (state 0, the
    landing state of sparse edges) and the target (M-1 of the last cluster), so no state carries
    two low-probability edges; a destination is never the source or one of its cycle neighbours,
    where the lazy cycle already has an edge.
    """
    for _ in range(1000):
        sources = rng.choice(np.arange(0, M - 1), size=d, replace=False)
        dests = rng.choice(np.arange(1, M - 1), size=d, replace=False)
        if all((b - a) % M not in (0, 1, M - 1) for a, b in zip(sources, dests)):
            return list(zip(sources.tolist(), dests.tolist()))
    raise InvalidChainError(f"could not place {d} decoys in a cluster of {M} states; raise M")


def logic_task(K: int, L: int, M: int = 8, eps: float = 1e-2, seed: int | np.random.Generator = 0) -> LogicTask:
    r"""Build a :math:`\mathbb Z_2` logical task with :math:`K` sparse and :math:`L-K` decoy steps.

    The base chain is ``random_clusters(K + 1, M, eps, kind="lazy_cycle")`` (sparse edge of
    cluster :math:`k`: its last state to the entry of cluster :math:`k+1`, probability
    :math:`\varepsilon`). Each decoy :math:`a \to b` inside a cluster scales row :math:`a` by
    :math:`1-\varepsilon` and adds :math:`P_{ab} = \varepsilon`, exactly as a sparse edge does. The
    path visits the clusters in order: the decoys of cluster :math:`k` (in random order), then the
    sparse step to cluster :math:`k+1`.

    Parameters
    ----------
    K : int
        Number of sparse steps (hard steps; the path crosses :math:`K+1` clusters).
    L : int
        Number of low-probability steps on the path, :math:`L \ge K`.
    M : int
        Cluster size (:math:`\ge 5`); at most :math:`\lfloor (M-2)/2 \rfloor` decoys per cluster.
    eps : float
        Probability of every sparse and decoy edge.
    seed : int or numpy.random.Generator

    Returns
    -------
    LogicTask

    Examples
    --------
    >>> task = logic_task(K=3, L=6, seed=1)
    >>> task.L, task.K, task.chain.n_clusters
    (6, 3, 4)
    """
    K, L, M = int(K), int(L), int(M)
    if K < 1 or L < K or M < 5:
        raise InvalidChainError(f"need K >= 1, L >= K and M >= 5; got K={K}, L={L}, M={M}")
    rng = as_rng(seed)
    base = random_clusters(K + 1, M, eps, kind="lazy_cycle", seed=rng)
    P = base.P.toarray()
    per = _allocate_decoys(L - K, K, (M - 2) // 2, rng)
    steps, sparse = [], []
    for k in range(K + 1):
        for a, b in _decoys_in_cluster(int(per[k]), M, rng):
            a, b = k * M + a, k * M + b
            P[a] *= 1.0 - eps
            P[a, b] = eps
            steps.append((a, b))
            sparse.append(False)
        if k < K:
            steps.append((k * M + M - 1, (k + 1) * M))
            sparse.append(True)
    # Relabel the states at random: state i becomes perm[i].
    n = P.shape[0]
    perm = rng.permutation(n)
    Pp = np.empty_like(P)
    Pp[np.ix_(perm, perm)] = P
    clusters = np.empty(n, dtype=np.int64)
    clusters[perm] = base.clusters
    chain = Chain(Pp, clusters=clusters, start=int(perm[base.start]), target=perm[base.target])
    return LogicTask(chain=chain, steps=perm[np.asarray(steps)], sparse=np.asarray(sparse), eps=float(eps))


def local_features(task: LogicTask) -> np.ndarray:
    r"""What a local learner sees of each low-probability step :math:`x_t \to y_t`.

    Columns: the step probability :math:`P(x_t, y_t)`, the out-degree and self-loop probability of
    :math:`x_t`, and the in-degree of :math:`y_t`. By construction the rows are identical for
    sparse and decoy steps.

    Examples
    --------
    >>> feats = local_features(logic_task(K=3, L=6, seed=1))
    >>> bool(np.all(feats == feats[0]))
    True
    """
    P = task.chain.P.toarray()
    x, y = task.steps[:, 0], task.steps[:, 1]
    out_deg = (P > 0).sum(axis=1)
    in_deg = (P > 0).sum(axis=0)
    return np.column_stack([P[x, y], out_deg[x], P[x, x], in_deg[y]]).astype(np.float64)


def sparse_positions(task: LogicTask) -> np.ndarray:
    r"""The global learner's :math:`S`: steps whose endpoints lie in different clusters.

    Needs the clusters of the pretrained graph (global information).

    Examples
    --------
    >>> task = logic_task(K=3, L=6, seed=1)
    >>> bool(np.array_equal(sparse_positions(task), task.S))
    True
    """
    c = task.chain.clusters
    return np.flatnonzero(c[task.steps[:, 0]] != c[task.steps[:, 1]])


def sample(task: LogicTask | int, n: int, seed: int | np.random.Generator = 0,
           S: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    r"""Draw :math:`n` labelled examples :math:`(\sigma, y = \prod_{t \in S} \sigma_t)`, :math:`\sigma` uniform.

    Parameters
    ----------
    task : LogicTask or int
        The task, or just :math:`L` (then ``S`` is required).
    n : int
        Number of examples.
    seed : int or numpy.random.Generator
    S : array_like of int, optional
        Overrides ``task.S``.

    Returns
    -------
    sigma : ndarray of int8, shape (n, L)
        Entries :math:`\pm 1`.
    y : ndarray of int8, shape (n,)

    Examples
    --------
    >>> sigma, y = sample(4, 3, seed=0, S=[0, 2])
    >>> bool(np.all(y == sigma[:, 0] * sigma[:, 2]))
    True
    """
    if isinstance(task, LogicTask):
        L, S = task.L, task.S if S is None else np.asarray(S)
    else:
        L = int(task)
        if S is None:
            raise InvalidChainError("sample(L, n) needs S")
        S = np.asarray(S)
    rng = as_rng(seed)
    bits = rng.integers(0, 2, size=(int(n), L), dtype=np.int8)
    sigma = (1 - 2 * bits).astype(np.int8)
    y = (1 - 2 * (bits[:, S].sum(axis=1) % 2)).astype(np.int8)
    return sigma, y


# =========================================================================== learners
@dataclass(frozen=True)
class ParityPredictor:
    r"""Predicts :math:`\hat y = \prod_{t : c_t = 1} \sigma_t` for a coefficient vector :math:`c \in \{0,1\}^L`."""

    coef: np.ndarray

    def predict(self, sigma: np.ndarray) -> np.ndarray:
        """Predicted labels (int8, :math:`\\pm 1`)."""
        neg = (np.asarray(sigma)[:, self.coef] < 0).sum(axis=1) % 2
        return (1 - 2 * neg).astype(np.int8)


@dataclass(frozen=True)
class CorrelationPredictor:
    r"""Predicts :math:`\hat y = \operatorname{sign} \sum_m w_m \chi_{T_m}(\sigma)` (ties give :math:`+1`)."""

    monomials: tuple[tuple[int, ...], ...]
    weights: np.ndarray

    def predict(self, sigma: np.ndarray) -> np.ndarray:
        """Predicted labels (int8, :math:`\\pm 1`)."""
        score = _monomial_matrix(np.asarray(sigma), self.monomials) @ self.weights
        return np.where(score >= 0, 1, -1).astype(np.int8)


def _gf2_solve(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A solution of A w = b over GF(2) (free variables set to 0); raises if there is none."""
    A = A.astype(np.uint8).copy()
    b = b.astype(np.uint8).copy()
    rows, cols = A.shape
    pivots, r = [], 0
    for c in range(cols):
        hit = np.flatnonzero(A[r:, c]) + r if r < rows else np.array([], dtype=np.int64)
        if hit.size == 0:
            continue
        p = int(hit[0])
        A[[r, p]], b[[r, p]] = A[[p, r]], b[[p, r]]
        others = np.flatnonzero(A[:, c])
        others = others[others != r]
        A[others] ^= A[r]
        b[others] ^= b[r]
        pivots.append(c)
        r += 1
        if r == rows:
            break
    if np.any(b[r:]):
        raise InvalidChainError("the labels are not a parity of the candidate positions")
    w = np.zeros(cols, dtype=np.uint8)
    for i, c in enumerate(pivots):
        w[c] = b[i]
    return w


def fit_global(task: LogicTask, sigma: np.ndarray, y: np.ndarray) -> ParityPredictor:
    r"""The global learner: restrict to the sparse positions given by the clusters, solve over GF(2).

    With :math:`S` from :func:`sparse_positions`, it finds :math:`w \in \{0,1\}^{|S|}` with
    :math:`\bigoplus_{t \in S} w_t b_t = b_y` for every example (bits :math:`b = (1-\sigma)/2`):
    which sparse steps act. The system is determined once :math:`K` of the examples are linearly
    independent, which takes :math:`K + O(1)` random examples.

    Examples
    --------
    >>> task = logic_task(K=4, L=8, seed=0)
    >>> model = fit_global(task, *sample(task, 40, seed=1))
    >>> accuracy(model, *sample(task, 1000, seed=2))
    1.0
    """
    S = sparse_positions(task)
    bits = (np.asarray(sigma)[:, S] < 0).astype(np.uint8)
    w = _gf2_solve(bits, (np.asarray(y) < 0).astype(np.uint8))
    coef = np.zeros(task.L, dtype=bool)
    coef[S[w.astype(bool)]] = True
    return ParityPredictor(coef)


def _monomials(L: int, order: int) -> tuple[tuple[int, ...], ...]:
    return tuple(m for d in range(1, order + 1) for m in itertools.combinations(range(L), d))


def _monomial_matrix(sigma: np.ndarray, monomials: tuple[tuple[int, ...], ...]) -> np.ndarray:
    r""":math:`\chi_T(\sigma) = \prod_{t \in T} \sigma_t` for every example and monomial (float64)."""
    X = np.empty((sigma.shape[0], len(monomials)))
    s = sigma.astype(np.float64)
    for j, m in enumerate(monomials):
        X[:, j] = np.prod(s[:, list(m)], axis=1)
    return X


def fit_correlational(sigma: np.ndarray, y: np.ndarray, order: int = 1) -> CorrelationPredictor:
    r"""A local (correlational) learner: weights are the empirical correlations of :math:`y` with low-order monomials.

    .. math:: w_T = \frac1n \sum_{i=1}^n \chi_T(\sigma^{(i)})\, y^{(i)}, \qquad 1 \le |T| \le \text{order},

    and :math:`\hat y = \operatorname{sign} \sum_T w_T \chi_T(\sigma)`. Such a learner uses only
    statistics of order :math:`\le` ``order``; when :math:`K >` ``order`` every such statistic of
    the true concept is exactly zero, so it predicts at chance however many samples it gets.

    Examples
    --------
    >>> sigma, y = sample(6, 2000, seed=0, S=[3])
    >>> accuracy(fit_correlational(sigma, y), *sample(6, 1000, seed=1, S=[3]))
    1.0
    """
    monomials = _monomials(np.asarray(sigma).shape[1], int(order))
    X = _monomial_matrix(np.asarray(sigma), monomials)
    w = X.T @ np.asarray(y, dtype=np.float64) / X.shape[0]
    return CorrelationPredictor(monomials, w)


def accuracy(model: ParityPredictor | CorrelationPredictor, sigma: np.ndarray, y: np.ndarray) -> float:
    """Fraction of examples whose label the model predicts correctly.

    Examples
    --------
    >>> accuracy(ParityPredictor(np.array([True, False])), np.array([[1, -1], [-1, 1]]), np.array([1, 1]))
    0.5
    """
    return float(np.mean(model.predict(sigma) == np.asarray(y)))


# =========================================================================== exact enumeration
def _all_inputs(L: int) -> np.ndarray:
    """All :math:`2^L` sign vectors as an int8 array (row :math:`i` holds the bits of :math:`i`)."""
    if L > 20:
        raise InvalidChainError(f"exact enumeration over 2**{L} inputs is too large (L <= 20)")
    i = np.arange(2**L)[:, None]
    return (1 - 2 * ((i >> np.arange(L)) & 1)).astype(np.int8)


def parity_gram(L: int, K: int) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    r"""Exact pairwise correlations :math:`\mathbb E_\sigma[\chi_S(\sigma)\chi_{S'}(\sigma)]` of all :math:`K`-parities.

    Enumerates all :math:`2^L` inputs: with :math:`H_{\sigma S} = \chi_S(\sigma)`,
    :math:`G = 2^{-L} H^\top H`. Entries of :math:`H^\top H` are integer sums below
    :math:`2^{53}`, so the float64 product is exact: :math:`G = I` to the last bit.

    Returns
    -------
    G : ndarray, shape (C(L, K), C(L, K))
    hypotheses : list of tuple
        The subsets :math:`S`, in the order of the rows of ``G``.

    Examples
    --------
    >>> G, hyps = parity_gram(4, 2)
    >>> len(hyps), bool(np.array_equal(G, np.eye(6)))
    (6, True)
    """
    hyps = list(itertools.combinations(range(int(L)), int(K)))
    H = _monomial_matrix(_all_inputs(int(L)), tuple(hyps))
    return H.T @ H / 2.0**L, hyps


def target_correlations(L: int, S, order: int = 1) -> tuple[np.ndarray, tuple[tuple[int, ...], ...]]:
    r"""Exact correlations :math:`\mathbb E_\sigma[\chi_T(\sigma)\, y]` of the label with every monomial of order :math:`\le` ``order``.

    By enumeration of all :math:`2^L` inputs; the value is :math:`\mathbf 1[T = S]`.

    Examples
    --------
    >>> corr, monomials = target_correlations(5, [0, 3], order=1)
    >>> corr.tolist()
    [0.0, 0.0, 0.0, 0.0, 0.0]
    """
    sigma = _all_inputs(int(L))
    y = np.prod(sigma[:, list(S)].astype(np.float64), axis=1)
    monomials = _monomials(int(L), int(order))
    return _monomial_matrix(sigma, monomials).T @ y / 2.0**L, monomials


def log_num_hypotheses(L: int, K: int) -> float:
    r""":math:`\log \binom{L}{K}`, the log of the SQ-dimension lower bound (natural log).

    Examples
    --------
    >>> round(log_num_hypotheses(8, 4), 6) == round(math.log(70), 6)
    True
    """
    return math.log(math.comb(int(L), int(K)))
