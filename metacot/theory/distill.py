r"""Algorithm 4 of the metastable-dynamics paper: meta-chain distillation with time rescaling.

The paper (Kim, Wu, Lee, Suzuki, ICML 2025, §4, Thm 4.3; project notes
``papers/metastable_paper.md`` §5) compresses the base chain-of-thought dynamics into a small
model on the :math:`K` clusters:

1. **Labelling** :math:`\iota : S \to \{0, \dots, K-1\}`, each state to its cluster (here the
   chain's ``clusters``, or labels passed in, e.g. from sparse-edge search).
2. **Data**: cluster-level transitions :math:`(\iota(X_t), \iota(X_{t+1}))` of a base trajectory;
   their counts are :math:`C = Z_\iota^\top N Z_\iota` for the state-level counts :math:`N` and
   the :math:`n \times K` membership matrix :math:`Z_\iota`.
3. **Student**: a :math:`K \times K` softmax model :math:`\hat q_Z(j \mid i) = \operatorname{softmax}(Z_i)_j`
   trained by cross-entropy gradient descent on those counts (the same row-wise GD as
   :mod:`metacot.theory.pretrain`). It estimates the meta-chain

   .. math:: q^\varepsilon_\circ(i, j) = \sum_{x \in C_i} \pi_i(x)\, p^\varepsilon(x, C_j),

   whose off-diagonal entries are :math:`\Theta(\varepsilon/M)`: one student step is one base step.
4. **Time rescaling**: :math:`Z^+ = Z + \beta(\mathbf 1\mathbf 1^\top - I)` with
   :math:`\beta = \log(M/\varepsilon) + b`. Multiplying every off-diagonal weight of a row by the
   same :math:`e^\beta` leaves the jump chain (the escape probabilities
   :math:`q(i,j)/\sum_{j' \ne i} q(i,j')`) exactly unchanged and lifts the per-step leave
   probability from :math:`\Theta(\varepsilon/M)` to :math:`\Theta(1)`, so the distilled model
   :math:`\hat q_{Z^+}` reaches the target cluster in :math:`O(K)` steps, independently of
   :math:`\varepsilon`.

Reconstruction choices [R]
--------------------------
- The rescaling is additive :math:`\beta` on the off-diagonal logits (the notes' reading of the
  digests' "raise the off-diagonal weights"); ``beta`` is a parameter.
- **Student support.** By default the student trains on the *observed* support (cluster pairs
  with at least one transition); the other logits are :math:`-\infty`, which is where the
  cross-entropy optimum puts them. Training on all :math:`K^2` entries (``support="all"``) leaves
  unseen pairs at small but non-zero probabilities after finitely many steps, and the rescaling
  multiplies those by :math:`e^\beta = M e^b/\varepsilon`, creating spurious jumps; the observed
  support is the distillation analogue of Algorithm 1's pruning.
- Rows of clusters never left or never visited keep what the data say (a visited cluster never
  left stays put with probability 1); an unvisited cluster keeps a uniform row and is reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

from metacot.errors import InvalidChainError
from metacot.markov import exact
from metacot.markov.chain import Chain
from metacot.theory.counts import TransitionCounts
from metacot.theory.pretrain import LogitFit, fit_logit_table, softmax_rows

__all__ = [
    "Distillation",
    "cluster_counts",
    "distill",
    "distill_exact",
    "jump_chain",
    "jump_tv",
    "leave_probabilities",
    "meta_chain_errors",
    "rescale_logits",
    "time_rescaling",
]


# --------------------------------------------------------------------------- data
def cluster_counts(data: TransitionCounts | np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    r"""Cluster-level transition counts :math:`C_{ij} = \#\{t : \iota(X_t) = i,\ \iota(X_{t+1}) = j\}`.

    .. math:: C = Z_\iota^\top N Z_\iota, \qquad (Z_\iota)_{xk} = \mathbf 1[\iota(x) = k].

    Parameters
    ----------
    data : TransitionCounts or array_like, shape (n, n)
        State-level transition counts :math:`N`.
    labels : array_like of int, shape (n,), optional
        The labelling :math:`\iota`; default the clusters of ``data.chain``.

    Returns
    -------
    ndarray of float, shape (K, K)

    Examples
    --------
    >>> N = np.array([[5, 1, 0], [2, 3, 1], [0, 4, 4]])
    >>> cluster_counts(N, labels=np.array([0, 0, 1])).tolist()
    [[11.0, 1.0], [4.0, 4.0]]
    """
    if isinstance(data, TransitionCounts):
        N = data.counts
        labels = data.chain.clusters if labels is None else labels
    else:
        N = sp.csr_array(np.asarray(data, dtype=np.float64))
    if labels is None:
        raise InvalidChainError("cluster_counts needs labels (or a TransitionCounts of a chain with clusters)")
    labels = np.asarray(labels)
    n = N.shape[0]
    if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
        raise InvalidChainError(f"labels must be {n} non-negative integers")
    K = int(labels.max()) + 1
    Z = sp.csr_array((np.ones(n), (np.arange(n), labels)), shape=(n, K))
    return np.asarray((Z.T @ sp.csr_array(N, dtype=np.float64) @ Z).toarray())


# --------------------------------------------------------------------------- rescaling and jump chains
def time_rescaling(M: float, eps: float, b: float = 0.0) -> float:
    r"""The logit shift :math:`\beta = \log(M/\varepsilon) + b` of Algorithm 4 [R: the notes' reading].

    Examples
    --------
    >>> round(time_rescaling(16, 1e-2, b=2.0), 6)
    9.377759
    """
    if M <= 0 or eps <= 0:
        raise InvalidChainError(f"need M > 0 and eps > 0; got M={M!r}, eps={eps!r}")
    return float(np.log(M / eps) + b)


def rescale_logits(Z: np.ndarray, beta: float) -> np.ndarray:
    r"""Time rescaling :math:`Z^+ = Z + \beta(\mathbf 1 \mathbf 1^\top - I)`: add :math:`\beta` off the diagonal.

    Logits at :math:`-\infty` (pairs outside the student's support) stay there.

    Examples
    --------
    >>> rescale_logits(np.zeros((2, 2)), 1.5).tolist()
    [[0.0, 1.5], [1.5, 0.0]]
    """
    Z = np.asarray(Z, dtype=np.float64)
    if Z.ndim != 2 or Z.shape[0] != Z.shape[1]:
        raise InvalidChainError(f"Z must be a square logit table, got shape {Z.shape}")
    return Z + beta * (1.0 - np.eye(Z.shape[0]))


def _dense(Q: Chain | np.ndarray) -> np.ndarray:
    return Q.P.toarray() if isinstance(Q, Chain) else np.asarray(Q, dtype=np.float64)


def leave_probabilities(Q: Chain | np.ndarray) -> np.ndarray:
    r"""Per-step probability of leaving each state, :math:`1 - Q_{ii}`.

    Examples
    --------
    >>> leave_probabilities(np.array([[0.9, 0.1], [0.0, 1.0]])).round(12).tolist()
    [0.1, 0.0]
    """
    Q = _dense(Q)
    off = Q - np.diag(np.diag(Q))
    return off.sum(axis=1)  # summing the off-diagonal avoids the cancellation in 1 - Q_ii


def jump_chain(Q: Chain | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""The jump (embedded) chain: where the walk goes when it leaves, :math:`J_{ij} = Q_{ij} / \sum_{j' \ne i} Q_{ij'}`.

    Returns
    -------
    J : ndarray, shape (K, K)
        Zero diagonal; rows of states that are never left are all zero.
    leaves : ndarray of bool, shape (K,)
        Which states have positive escape mass.

    Examples
    --------
    >>> J, leaves = jump_chain(np.array([[0.7, 0.2, 0.1], [0, 1.0, 0], [0.5, 0, 0.5]]))
    >>> J.round(6).tolist(), leaves.tolist()
    ([[0.0, 0.666667, 0.333333], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]], [True, False, True])
    """
    Q = _dense(Q)
    off = Q - np.diag(np.diag(Q))
    mass = off.sum(axis=1)
    leaves = mass > 0
    J = np.zeros_like(off)
    J[leaves] = off[leaves] / mass[leaves, None]
    return J, leaves


def jump_tv(Q1: Chain | np.ndarray, Q2: Chain | np.ndarray) -> np.ndarray:
    r"""Total variation between the jump rows of two chains, :math:`\tfrac12 \sum_j |J^{(1)}_{ij} - J^{(2)}_{ij}|`.

    NaN for a row that one of the chains never leaves (no jump distribution to compare).

    Examples
    --------
    >>> Q = np.array([[0.9, 0.1], [0.0, 1.0]])
    >>> jump_tv(Q, np.array([[0.5, 0.5], [0.0, 1.0]])).tolist()
    [0.0, nan]
    """
    J1, a = jump_chain(Q1)
    J2, b = jump_chain(Q2)
    tv = 0.5 * np.abs(J1 - J2).sum(axis=1)
    return np.where(a & b, tv, np.nan)


# --------------------------------------------------------------------------- the distilled model
@dataclass(frozen=True)
class Distillation:
    r"""A distilled meta-chain model.

    Attributes
    ----------
    counts : ndarray, shape (K, K)
        Cluster-level training counts :math:`C`.
    fit : LogitFit
        The student's gradient-descent fit.
    Z : ndarray, shape (K, K)
        Student logits.
    beta : float
        Time-rescaling shift :math:`\beta`.
    student : Chain
        :math:`\hat q_Z` as a chain on the clusters (one step = one base step).
    distilled : Chain
        :math:`\hat q_{Z^+}`, the time-rescaled model (one step = :math:`\Theta(M/\varepsilon)` base steps).
    """

    counts: np.ndarray
    fit: LogitFit
    Z: np.ndarray
    beta: float
    student: Chain
    distilled: Chain

    @property
    def Z_plus(self) -> np.ndarray:
        r"""The rescaled logits :math:`Z^+`."""
        return rescale_logits(self.Z, self.beta)

    def rescaled(self, beta: float) -> Distillation:
        r"""The same student with another shift :math:`\beta` (the GD fit does not depend on it).

        Examples
        --------
        >>> from metacot.markov.families import line_of_cliques
        >>> model = distill_exact(line_of_cliques(K=6, M=10, eps=1e-3), time_rescaling(10, 1e-3))
        >>> round(model.hitting_time(), 2), round(model.rescaled(time_rescaling(10, 1e-3, b=2.0)).hitting_time(), 2)
        (10.0, 5.68)
        """
        return Distillation(
            counts=self.counts, fit=self.fit, Z=self.Z, beta=float(beta), student=self.student,
            distilled=_model_chain(rescale_logits(self.Z, beta), self.student.start, self.student.target),
        )

    def hitting_time(self) -> float:
        r""":math:`\mathbb E[\tau]` of the target cluster under :math:`\hat q_{Z^+}` (exact solve)."""
        return exact.mean_hitting_time(self.distilled)


def _model_chain(Z: np.ndarray, start, target) -> Chain:
    Q = softmax_rows(Z)
    Q /= Q.sum(axis=1, keepdims=True)
    return Chain(Q, start=start, target=target)


def _student(
    C: np.ndarray, support: Literal["observed", "all"] | np.ndarray, start, target, beta: float, **gd
) -> Distillation:
    if isinstance(support, str):
        if support not in ("observed", "all"):
            raise InvalidChainError(f"support must be 'observed', 'all' or a mask; got {support!r}")
        mask = C > 0 if support == "observed" else np.ones(C.shape, dtype=bool)
    else:
        mask = np.asarray(support, dtype=bool)
    # A cluster without data gets no gradient; give it a full row so its (untrained) softmax exists.
    mask = mask | (C.sum(axis=1) == 0)[:, None]
    fit = fit_logit_table(C, mask, **gd)
    Z = fit.W
    return Distillation(
        counts=C, fit=fit, Z=Z, beta=float(beta),
        student=_model_chain(Z, start, target),
        distilled=_model_chain(rescale_logits(Z, beta), start, target),
    )


def _cluster_start_target(chain: Chain, labels: np.ndarray) -> tuple:
    start = None
    if isinstance(chain.start, int):
        start = int(labels[chain.start])
    target = None if chain.target is None else np.unique(labels[chain.target])
    return start, target


def distill(
    data: TransitionCounts,
    beta: float,
    *,
    labels: np.ndarray | None = None,
    support: Literal["observed", "all"] | np.ndarray = "observed",
    max_iter: int = 50_000,
    tol: float = 1e-12,
    **gd,
) -> Distillation:
    r"""Algorithm 4, steps 1-4: cluster counts, student by CE gradient descent, time rescaling.

    The student minimises the cluster-level cross-entropy
    :math:`-\sum_{ij} C_{ij} \log \hat q_Z(j \mid i)` (row-wise GD as in
    :func:`~metacot.theory.pretrain.fit_logit_table`); its optimum on the observed support is the
    empirical cluster transition matrix :math:`C_{ij}/\sum_{j'} C_{ij'}`. The returned
    ``distilled`` chain is :math:`\hat q_{Z^+}` with :math:`Z^+ = Z + \beta(\mathbf 1 \mathbf 1^\top - I)`;
    its start and target are the clusters of the base chain's start and target.

    Parameters
    ----------
    data : TransitionCounts
        Base trajectory counts (:func:`metacot.theory.pretrain.transition_counts`).
    beta : float
        Time-rescaling shift, e.g. :func:`time_rescaling` ``(M, eps, b)``.
    labels : array_like of int, optional
        The labelling :math:`\iota` (default ``data.chain.clusters``).
    support : {"observed", "all"} or array_like of bool
        Student support (see the module notes).
    max_iter, tol, **gd
        Passed to :func:`~metacot.theory.pretrain.fit_logit_table`.

    Returns
    -------
    Distillation

    Examples
    --------
    >>> from metacot.markov.families import line_of_cliques
    >>> from metacot.theory.pretrain import transition_counts
    >>> chain = line_of_cliques(K=3, M=4, eps=0.05)
    >>> model = distill(transition_counts(chain, 200_000, seed=0), beta=time_rescaling(4, 0.05))
    >>> round(model.hitting_time(), 1)  # about 2 / 0.5 steps, against 167 base steps
    4.0
    """
    labels = data.chain.clusters if labels is None else np.asarray(labels)
    C = cluster_counts(data, labels)
    start, target = _cluster_start_target(data.chain, labels)
    return _student(C, support, start, target, beta, max_iter=max_iter, tol=tol, **gd)


def distill_exact(chain: Chain, beta: float, *, weights: Literal["within", "uniform"] = "within",
                  max_iter: int = 50_000, tol: float = 1e-13, **gd) -> Distillation:
    r"""Distillation with infinite data: the student trained on the exact meta-chain :math:`q^\varepsilon_\circ`.

    The cluster-level cross-entropy with :math:`C = q^\varepsilon_\circ` (rows weighted equally,
    which does not move the per-row optimum) is minimised by :math:`\hat q_Z = q^\varepsilon_\circ`,
    so this isolates the rescaling from estimation noise. :math:`q^\varepsilon_\circ` comes from
    :func:`metacot.markov.exact.meta_chain`.

    Examples
    --------
    >>> from metacot.markov.families import line_of_cliques
    >>> model = distill_exact(line_of_cliques(K=6, M=10, eps=1e-3), time_rescaling(10, 1e-3, b=2.0))
    >>> round(model.hitting_time(), 2)
    5.68
    """
    meta = exact.meta_chain(chain, weights=weights)
    return _student(meta.P.toarray(), "observed", meta.start, meta.target, beta,
                    max_iter=max_iter, tol=tol, **gd)


def meta_chain_errors(model: Distillation | Chain | np.ndarray, meta: Chain | np.ndarray) -> dict:
    r"""Errors of a student :math:`\hat q` against the meta-chain :math:`q^\varepsilon_\circ`, off the diagonal.

    Returns
    -------
    dict
        ``rel``: relative errors :math:`|\hat q_{ij} - q_{ij}|/q_{ij}` on the off-diagonal pairs with
        :math:`q_{ij} > 0` (row-major order); ``max_rel``; ``abs_zero``: the largest
        :math:`\hat q_{ij}` on off-diagonal pairs with :math:`q_{ij} = 0`.

    Examples
    --------
    >>> q = np.array([[0.9, 0.1], [0.0, 1.0]])
    >>> round(meta_chain_errors(np.array([[0.89, 0.11], [0.0, 1.0]]), q)["max_rel"], 12)
    0.1
    """
    Q_hat = _dense(model.student) if isinstance(model, Distillation) else _dense(model)
    Q = _dense(meta)
    off = ~np.eye(Q.shape[0], dtype=bool)
    edge = off & (Q > 0)
    rel = np.abs(Q_hat[edge] - Q[edge]) / Q[edge]
    zero = off & (Q == 0)
    return {"rel": rel, "max_rel": float(rel.max(initial=0.0)),
            "abs_zero": float(Q_hat[zero].max(initial=0.0))}
