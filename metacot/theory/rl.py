r"""PPO-Clip fine-tuning of a softmax logit table with the search's intrinsic reward (Algorithm 3).

The paper (Kim, Wu, Lee, Suzuki, ICML 2025, Prop. 3.4) fine-tunes the pretrained model
:math:`\pi_W(y \mid x) = \mathrm{softmax}(W_{x,\cdot})_y` -- one logit per transition -- with
PPO-Clip, using the advantage :math:`\hat A(x, y) = \mathbf 1\{(x, y) \in \hat E\}` built from the
edges found by Sparse Edge Search (:mod:`metacot.theory.search`). The claim: the discovered
edges' probability rises to :math:`\varepsilon_{\max}`, the model barely changes elsewhere, and the
hitting time drops to :math:`\tilde\Theta(KM/\varepsilon_{\max})`.

Because :math:`\hat A \ge 0`, the clipped surrogate collapses to a sum over discovered edges:

.. math::

    L(W) = \mathbb E_{x \sim d,\ y \sim \pi_{W_{\rm old}}(\cdot\mid x)}
           \bigl[\min(r_W \hat A,\ \mathrm{clip}(r_W, 1-c, u)\,\hat A)\bigr]
         = \sum_x d(x) \sum_{y \in \hat E(x)} \min\bigl(\pi_W(y\mid x),\ u\,\pi_{W_{\rm old}}(y\mid x)\bigr),

with :math:`r_W = \pi_W/\pi_{W_{\rm old}}` and upper clip :math:`u = 1 + c`. Consequences used as
test oracles (project notes §4): rows without a discovered edge get zero gradient and stay
exactly unchanged; an edge's probability grows by at most a factor :math:`\approx 1 + c` per outer
iteration, so about :math:`\log(\varepsilon_{\max}/\varepsilon)/\log(1+c)` iterations are needed.

Reconstruction choices **[R]** (notes §10.4: the optimiser, the state law and the stopping
mechanism are not confirmed), all parameters:

* **optimizer** -- ``"sign"`` (default; one digest reports sign-gradient ascent):
  :math:`W \leftarrow W + \eta\,\mathrm{sign}\,\nabla L`; or ``"gd"``: :math:`W \leftarrow W + \eta \nabla L`.
  The surrogate is optimised exactly (full batch); each outer iteration runs inner steps until no
  discovered edge has an unclipped gradient (or ``max_inner`` steps).
* **weighting** -- the state law :math:`d`: ``"uniform"`` (:math:`1/n`), ``"occupancy"`` (the
  expected visits before the target under :math:`\pi_{W_{\rm old}}` from the start, normalised:
  "x ∼ CoT states"), or an explicit array. Sign-gradient ascent ignores :math:`d` except where it
  is 0, because a positive row weight does not change a sign.
* **stopping** -- stop when :math:`\min_{e \in \hat E} \pi_W(e) \ge \varepsilon_{\max}` (the notes'
  rule). With ``cap_at_eps_max=True`` the upper clip of an edge is
  :math:`u_e = \min(1+c,\ \varepsilon_{\max}/\pi_{W_{\rm old}}(e))`, so the last iteration lands on
  :math:`\varepsilon_{\max}` instead of overshooting it by up to a factor :math:`1+c`; an edge already
  at or above :math:`\varepsilon_{\max}` is held at its old value (:math:`u_e = 1`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from metacot._checks import readonly as _readonly
from metacot.errors import InvalidChainError
from metacot.markov.chain import Chain, entry_positions

__all__ = ["LogitTable", "PPOResult", "logits_from_chain", "ppo_clip", "predicted_iterations"]




@dataclass(frozen=True)
class LogitTable:
    r"""A softmax policy with one logit per allowed transition (the paper's linear softmax model).

    :math:`\pi_W(y \mid x) = e^{W_{xy}} / \sum_{z} e^{W_{xz}}`, the sum over the row's sparsity
    pattern; transitions outside the pattern have probability 0. The pattern is held explicitly
    (CSR ``indptr``/``indices``), so a logit of exactly 0 is still a transition.

    Attributes
    ----------
    indptr, indices : ndarray of int64
        CSR sparsity pattern, sorted column indices per row; every row non-empty.
    W : ndarray of float64
        The logits, aligned with ``indices``.

    Examples
    --------
    >>> import numpy as np
    >>> t = LogitTable(np.array([0, 2, 3]), np.array([0, 1, 1]), np.log([0.25, 0.75, 1.0]))
    >>> t.probabilities().round(6).tolist()
    [0.25, 0.75, 1.0]
    """

    indptr: np.ndarray
    indices: np.ndarray
    W: np.ndarray

    def __post_init__(self) -> None:
        indptr = np.asarray(self.indptr, dtype=np.int64)
        indices = np.asarray(self.indices, dtype=np.int64)
        W = np.asarray(self.W, dtype=np.float64)
        if indptr.ndim != 1 or indptr.size < 2 or indptr[0] != 0 or indptr[-1] != indices.size:
            raise InvalidChainError("indptr must start at 0 and end at len(indices)")
        if np.any(np.diff(indptr) <= 0):
            row = int(np.flatnonzero(np.diff(indptr) <= 0)[0])
            raise InvalidChainError(f"row {row} of the logit table has no transition")
        if W.shape != indices.shape:
            raise InvalidChainError(f"W has shape {W.shape}, the pattern has {indices.size} entries")
        if not np.all(np.isfinite(W)):
            raise InvalidChainError(f"logit {int(np.flatnonzero(~np.isfinite(W))[0])} is not finite")
        object.__setattr__(self, "indptr", _readonly(indptr))
        object.__setattr__(self, "indices", _readonly(indices))
        object.__setattr__(self, "W", _readonly(W.copy()))

    @property
    def n_states(self) -> int:
        """Number of states (rows)."""
        return self.indptr.size - 1

    @property
    def rows(self) -> np.ndarray:
        """Row index of every entry."""
        return np.repeat(np.arange(self.n_states), np.diff(self.indptr))

    def with_logits(self, W: np.ndarray) -> LogitTable:
        """The same pattern with new logits."""
        return LogitTable(self.indptr, self.indices, W)

    def probabilities(self, W: np.ndarray | None = None) -> np.ndarray:
        r"""Row-wise softmax of the logits (or of ``W`` on this pattern), aligned with ``indices``."""
        return _softmax(self.W if W is None else W, self.indptr)

    def to_matrix(self) -> sp.csr_array:
        """The policy as a CSR transition matrix."""
        n = self.n_states
        return sp.csr_array((self.probabilities(), self.indices, self.indptr), shape=(n, n))

    def to_chain(self, like: Chain | None = None) -> Chain:
        """The policy as a :class:`Chain`, copying clusters, start, target and labels from ``like``."""
        if like is None:
            return Chain(self.to_matrix())
        return Chain(self.to_matrix(), clusters=like.clusters, start=like.start, target=like.target,
                     labels=like.labels)

    def positions(self, edges: Any) -> np.ndarray:
        """Entry index of each ``(x, y)`` edge in the pattern; an edge outside the pattern is an error."""
        return entry_positions(self.indptr, self.indices, np.asarray(edges, dtype=np.int64), "the model")


def _softmax(W: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    """Stable row softmax on a CSR pattern with non-empty rows."""
    counts = np.diff(indptr)
    shifted = W - np.repeat(np.maximum.reduceat(W, indptr[:-1]), counts)
    e = np.exp(shifted)
    return e / np.repeat(np.add.reduceat(e, indptr[:-1]), counts)


def logits_from_chain(chain: Chain) -> LogitTable:
    r"""The logit table of a chain: :math:`W_{xy} = \log P_{xy}` on the chain's support.

    Then :math:`\mathrm{softmax}(W_{x,\cdot}) = P_{x,\cdot}` up to rounding (exact pretraining).

    Examples
    --------
    >>> from metacot.markov.families import line_of_cliques
    >>> chain = line_of_cliques(K=2, M=4, eps=0.1)
    >>> t = logits_from_chain(chain)
    >>> bool(abs(t.probabilities() - chain.P.data).max() < 1e-15)
    True
    """
    P = chain.P
    return LogitTable(P.indptr, P.indices, np.log(P.data))


def predicted_iterations(p0: Any, eps_max: float, clip: float) -> float:
    r"""Outer PPO-Clip iterations needed to raise every edge from :math:`p_0` to :math:`\varepsilon_{\max}`.

    With the ratio capped at :math:`1 + c` per iteration (notes §4),

    .. math:: n^\star = \frac{\log(\varepsilon_{\max} / \min_e p_0(e))}{\log(1 + c)}.

    Examples
    --------
    >>> round(predicted_iterations([1e-4], 1e-2, 0.1), 3)
    48.318
    """
    p = float(np.min(np.asarray(p0, dtype=float)))
    return max(0.0, math.log(eps_max / p) / math.log1p(clip))


@dataclass(frozen=True)
class PPOResult:
    r"""The outcome of :func:`ppo_clip`.

    Attributes
    ----------
    table : LogitTable
        The fine-tuned model.
    edges : ndarray of int64, shape (m, 2)
        The discovered edges (distinct, in pattern order).
    edge_probs : ndarray, shape (n_iter + 1, m)
        :math:`\pi_W(e)` before the first and after every outer iteration.
    ratios : ndarray, shape (n_iter, m)
        Per-iteration ratio :math:`\pi_{W}(e)/\pi_{W_{\rm old}}(e)` of every discovered edge.
    inner_steps : ndarray of int64, shape (n_iter,)
        Gradient steps taken in each outer iteration.
    iter_tv : ndarray, shape (n_iter,)
        Largest per-row total-variation change in each outer iteration.
    row_tv : ndarray, shape (n_states,)
        Total-variation distance of every row from the initial model,
        :math:`\tfrac12 \sum_y |\pi_W(y\mid x) - \pi_{W_0}(y\mid x)|`.
    converged : bool
        Whether every discovered edge reached :math:`\varepsilon_{\max}`.
    params : dict
        The settings of the run.
    """

    table: LogitTable
    edges: np.ndarray
    edge_probs: np.ndarray
    ratios: np.ndarray
    inner_steps: np.ndarray
    iter_tv: np.ndarray
    row_tv: np.ndarray
    converged: bool
    params: dict[str, Any]

    @property
    def n_iter(self) -> int:
        """Number of outer iterations run."""
        return int(self.inner_steps.size)

    @property
    def max_ratio(self) -> np.ndarray:
        """Largest edge ratio of each outer iteration."""
        return self.ratios.max(axis=1) if self.ratios.size else np.empty(0)


def _occupancy(table: LogitTable, p: np.ndarray, start: Any, target: Any) -> np.ndarray:
    r"""Expected visits before the target, :math:`v^\top = \mu^\top (I - Q)^{-1}`, normalised to sum 1."""
    n = table.n_states
    probe = Chain(sp.csr_array((p, table.indices, table.indptr), shape=(n, n)), start=start, target=target)
    mu = probe.start_distribution()
    keep = ~probe.target_mask()
    Q = sp.csc_array(probe.P[keep][:, keep])
    A = sp.eye_array(int(keep.sum()), format="csc") - Q
    v = np.zeros(n)
    v[keep] = spla.spsolve(A.T.tocsc(), mu[keep])
    if not np.all(np.isfinite(v)) or v.min() < -1e-9:
        raise InvalidChainError("the occupancy measure does not exist: the target is not reached surely")
    v = np.maximum(v, 0.0)
    return v / v.sum()


def _state_weights(weighting: Any, table: LogitTable, p: np.ndarray, start: Any, target: Any) -> np.ndarray:
    if isinstance(weighting, str):
        if weighting == "uniform":
            return np.full(table.n_states, 1.0 / table.n_states)
        if weighting == "occupancy":
            if start is None or target is None:
                raise InvalidChainError("weighting='occupancy' needs start= and target=")
            return _occupancy(table, p, start, target)
        raise InvalidChainError(f"weighting must be 'uniform', 'occupancy' or an array, got {weighting!r}")
    d = np.asarray(weighting, dtype=float)
    if d.shape != (table.n_states,) or not np.all(np.isfinite(d)) or d.min() < 0:
        raise InvalidChainError(f"state weights must be {table.n_states} finite non-negative numbers")
    return d


def _surrogate_gradient(p: np.ndarray, rows: np.ndarray, pos: np.ndarray, goal: np.ndarray,
                        d: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    r"""Value and gradient of :math:`\sum_e d(x_e)\min(\pi_W(e), g_e)`, with :math:`g_e = u_e\pi_{\rm old}(e)`.

    :math:`\partial \pi(e)/\partial W_{xz} = \pi(e)(\mathbf 1[z=e] - \pi(z))`; the clipped edges
    (:math:`\pi(e) \ge g_e`) contribute nothing. Returns the value, the gradient and the mask of
    unclipped edges.
    """
    pe = p[pos]
    active = pe < goal
    x_e = rows[pos]
    value = float(np.sum(d[x_e] * np.minimum(pe, goal)))
    mass = np.bincount(x_e[active], weights=pe[active], minlength=d.size)
    grad = -d[rows] * p * mass[rows]
    np.add.at(grad, pos[active], d[x_e[active]] * pe[active])
    return value, grad, active


def _row_tv(a: np.ndarray, b: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    return 0.5 * np.add.reduceat(np.abs(a - b), indptr[:-1])


def ppo_clip(
    logits: LogitTable,
    edges: Any,
    *,
    clip: float,
    lr: float,
    eps_max: float,
    optimizer: Literal["sign", "gd"] = "sign",
    weighting: Literal["uniform", "occupancy"] | np.ndarray = "uniform",
    start: Any = None,
    target: Any = None,
    cap_at_eps_max: bool = True,
    max_iter: int = 10_000,
    max_inner: int = 10_000,
) -> PPOResult:
    r"""PPO-Clip with the intrinsic advantage :math:`\hat A = \mathbf 1_{\hat E}` (Algorithm 3, reconstructed).

    Outer iteration :math:`k` freezes :math:`W_{\rm old} = W_k` and ascends the clipped surrogate

    .. math::

        L_k(W) = \sum_x d(x) \sum_{y \in \hat E(x)}
                 \min\bigl(\pi_W(y\mid x),\ u_e\, \pi_{W_k}(y\mid x)\bigr),
        \qquad u_e = 1 + c \ \ (\text{or } \min(1+c, \varepsilon_{\max}/\pi_{W_k}(e))),

    exactly (full batch), by inner steps :math:`W \leftarrow W + \eta\,\mathrm{sign}\,\nabla L_k`
    (or :math:`+\eta\nabla L_k`) until every discovered edge is clipped, then sets
    :math:`W_{k+1} = W`. It stops once :math:`\min_{e\in\hat E}\pi_W(e) \ge \varepsilon_{\max}`.
    Rows with no discovered edge have :math:`\nabla L = 0` and never change. See the module notes
    for the reconstruction choices.

    Parameters
    ----------
    logits : LogitTable
        The model to fine-tune (e.g. :func:`logits_from_chain`).
    edges : array_like of int, shape (m, 2)
        The discovered edges :math:`\hat E` (transitions of the model).
    clip : float
        The clip parameter :math:`c > 0`.
    lr : float
        Step size :math:`\eta`. With ``"sign"``, one step multiplies a small edge probability by
        about :math:`e^{2\eta}`, so the overshoot of the ratio past :math:`1+c` is at most that.
    eps_max : float
        Target probability of every discovered edge.
    optimizer : {"sign", "gd"}
    weighting : {"uniform", "occupancy"} or ndarray
        State law :math:`d`; ``"occupancy"`` is recomputed under :math:`\pi_{W_k}` every outer
        iteration and needs ``start`` and ``target``. A discovered edge in a row of weight 0 gets
        no gradient, so its outer iterations end at ``max_inner`` steps and it never converges.
    start, target
        Start (state or distribution) and target states, for ``weighting="occupancy"``.
    cap_at_eps_max : bool
        Lower the upper clip so that no edge is pushed past :math:`\varepsilon_{\max}`.
    max_iter, max_inner : int
        Limits on outer iterations and on inner steps per outer iteration.

    Returns
    -------
    PPOResult

    Examples
    --------
    >>> from metacot.markov.families import line_of_cliques
    >>> chain = line_of_cliques(K=3, M=8, eps=1e-3)
    >>> res = ppo_clip(logits_from_chain(chain), [[7, 8], [15, 16]], clip=0.2, lr=0.005, eps_max=1e-2)
    >>> res.converged, res.n_iter, bool(res.max_ratio.max() < 1.2 * 1.02)
    (True, 13, True)
    """
    if not (clip > 0 and lr > 0 and 0 < eps_max < 1):
        raise InvalidChainError(f"need clip > 0, lr > 0 and 0 < eps_max < 1; got {clip}, {lr}, {eps_max}")
    if optimizer not in ("sign", "gd"):
        raise InvalidChainError(f"optimizer must be 'sign' or 'gd', got {optimizer!r}")
    pos = np.unique(logits.positions(edges))
    rows = logits.rows
    edge_arr = np.column_stack([rows[pos], logits.indices[pos]])
    W = logits.W.copy()
    p = logits.probabilities(W)
    p_init = p.copy()
    history, ratios, inner_steps, iter_tv = [p[pos].copy()], [], [], []
    converged = bool(pos.size == 0 or p[pos].min() >= eps_max)
    while not converged and len(inner_steps) < max_iter:
        p_old = p.copy()
        d = _state_weights(weighting, logits, p_old, start, target)
        goal = (1.0 + clip) * p_old[pos]
        if cap_at_eps_max:
            # Each edge aims at eps_max at most; an edge already above it is held where it is.
            goal = np.where(p_old[pos] >= eps_max, p_old[pos], np.minimum(goal, eps_max))
        steps = 0
        while steps < max_inner:
            _, grad, active = _surrogate_gradient(p, rows, pos, goal, d)
            if not active.any():
                break
            W += lr * (np.sign(grad) if optimizer == "sign" else grad)
            p = logits.probabilities(W)
            steps += 1
        history.append(p[pos].copy())
        ratios.append(p[pos] / p_old[pos])
        inner_steps.append(steps)
        iter_tv.append(float(_row_tv(p, p_old, logits.indptr).max()))
        converged = bool(p[pos].min() >= eps_max)
    params = {"clip": clip, "lr": lr, "eps_max": eps_max, "optimizer": optimizer,
              "weighting": weighting if isinstance(weighting, str) else "array",
              "cap_at_eps_max": cap_at_eps_max, "max_iter": max_iter, "max_inner": max_inner}
    m = pos.size
    return PPOResult(
        table=logits.with_logits(W),
        edges=edge_arr,
        edge_probs=np.array(history).reshape(-1, m),
        ratios=np.array(ratios).reshape(-1, m),
        inner_steps=np.array(inner_steps, dtype=np.int64),
        iter_tv=np.array(iter_tv),
        row_tv=_row_tv(p, p_init, logits.indptr),
        converged=converged,
        params=params,
    )
