r"""Algorithm 1 of the metastable-dynamics paper: two-stage pretraining of a softmax logit table.

The paper (Kim, Wu, Lee, Suzuki, ICML 2025, §3, Thm 3.1; project notes
``papers/metastable_paper.md`` §1.4) models the pretrained "world model" as a linear softmax
model with one-hot inputs, that is a table of logits :math:`W \in \mathbb R^{n \times n}` with

.. math:: \hat p_W(y \mid x) = \operatorname{softmax}(W_x)_y
          = \frac{e^{W_{xy}}}{\sum_{y'} e^{W_{xy'}}},

trained by gradient descent on the next-state cross-entropy of chain-of-thought trajectories of
:math:`X^\varepsilon`. Algorithm 1 runs in two stages: stage 1 learns every edge; edges whose
learned probability falls below a threshold are pruned (this recovers the support of
:math:`p^\varepsilon`); stage 2 keeps optimising on the pruned support.

Working from counts
-------------------
For a trajectory :math:`X_0, \dots, X_T` the empirical cross-entropy is

.. math:: L(W) = -\frac1T \sum_{t<T} \log \hat p_W(X_{t+1} \mid X_t)
               = \sum_x \frac{n_x}{T}\, f_x(W_x), \qquad
          f_x(W_x) = -\sum_y \tilde p(y \mid x) \log \hat p_W(y \mid x),

with :math:`N_{xy}` the number of transitions :math:`x \to y`, :math:`n_x = \sum_y N_{xy}` and
:math:`\tilde p(y \mid x) = N_{xy}/n_x`. Both the loss and its gradient
:math:`\partial L / \partial W_{xy} = (n_x/T)\,(\hat p_W(y \mid x) - \tilde p(y \mid x))` depend on
the trajectory only through the counts :math:`N`, so the data are drawn as counts directly
(:func:`transition_counts`, a numba walk on the simulator's Philox stream and alias tables, in
:mod:`metacot.theory.counts` and re-exported here) and a trajectory is never stored: a length
of :math:`10^8` costs 8 bytes per *edge*, not per step.

The optimum of :math:`f_x` on a support containing every observed transition is the empirical
row :math:`\tilde p(\cdot \mid x)` (Gibbs' inequality). So with enough gradient steps stage 2
returns the empirical transition matrix restricted to the pruned support, and what the paper's
:math:`T_1 = \tilde\Theta(KM^2/\varepsilon^2)` governs is the *trajectory length* (the data) needed
for that matrix to be accurate, not the number of gradient steps.

Reconstruction choices [R] (the paper's constants were not available; every one is a parameter)
------------------------------------------------------------------------------------------------
- **Data.** One long trajectory from ``chain.start``. The families' target clusters are
  absorbing, so a single run would cross each sparse edge only once; by default the trajectory
  *restarts* at the start state whenever it enters a target state (a concatenation of CoT
  episodes X_in → X_out, the paper's "CoT trajectories"). The restart jump is not a transition and
  is not counted; the target rows are therefore never observed (``restart=False`` turns this off).
- **Step size.** The rows of :math:`W` decouple, so we run gradient descent on every row's
  conditional cross-entropy :math:`f_x` with its own step size, chosen by Armijo backtracking
  (halve until :math:`f_x` drops by at least :math:`\tfrac12 \eta \|\nabla f_x\|^2`, then try
  twice the step on the next iteration). This is plain GD on :math:`L` with a diagonal
  preconditioner: the minimiser is unchanged, but rows visited rarely (target clusters) and nearly
  deterministic rows do not stall. ``step="fixed"`` gives constant-step GD with ``lr``.
- **Initialisation.** :math:`W = 0`: every row starts uniform over the candidate support.
- **Threshold.** :math:`\tau_{thr} = \varepsilon/4` in the experiments (the notes' P1 setting); here
  it is a required argument.
- **Stopping.** Stage 1 stops when every gradient entry is below ``threshold / 10`` (then the
  probabilities of unseen edges are an order of magnitude under the threshold) or after
  ``max_iter1`` steps; stage 2 stops at ``tol2 = 1e-12`` or ``max_iter2``.
- **Unvisited rows** (no transition observed, e.g. target rows under restarts) get no gradient:
  they stay at the initialisation and are not thresholded.
- **Pruned observations.** A transition observed but pruned (its empirical frequency fell below
  the threshold) cannot be produced by the pruned model, so stage 2 drops it from the data; the
  number dropped is reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

from metacot.errors import InvalidChainError, MemoryBudgetError
from metacot.markov.chain import Chain
from metacot.theory.counts import TransitionCounts, transition_counts

__all__ = [
    "LogitFit",
    "PretrainResult",
    "TransitionCounts",
    "fit_logit_table",
    "pretrain",
    "softmax_rows",
    "sparse_edge_errors",
    "support_recovery",
    "transition_counts",
]

#: Largest per-row step size of the Armijo rule. Legitimate steps reach about
#: :math:`1/(2(1 - \max_y \hat p_y))`, i.e. :math:`10^6` for rows that stay put with probability
#: :math:`1 - 10^{-6}`; the cap only stops rows sitting at their optimum from overflowing.
_MAX_STEP = 1e15

#: Largest state count :func:`pretrain` accepts: the dense logit table and its half-dozen working
#: copies then take about 1 GiB (4096² float64 entries are 128 MiB each).
_MAX_DENSE_STATES = 4096


# =========================================================================== softmax GD
def softmax_rows(W: np.ndarray) -> np.ndarray:
    r"""Row-wise softmax :math:`\operatorname{softmax}(W_x)_y`, with :math:`-\infty` logits giving 0.

    Examples
    --------
    >>> softmax_rows(np.array([[0.0, np.log(3.0), -np.inf]])).tolist()
    [[0.25, 0.75, 0.0]]
    """
    W = np.asarray(W, dtype=np.float64)
    top = W.max(axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    E = np.exp(W - top)
    return E / E.sum(axis=1, keepdims=True)


def _expm1_minus_z(z: np.ndarray) -> np.ndarray:
    r""":math:`e^z - 1 - z`, accurate for tiny :math:`z` (a series avoids the cancellation)."""
    small = np.abs(z) < 1e-3
    series = z * z * (0.5 + z * (1.0 / 6.0 + z / 24.0))
    with np.errstate(over="ignore"):
        return np.where(small, series, np.expm1(z) - z)


def _log1p_minus_s(s: np.ndarray) -> np.ndarray:
    r""":math:`\log(1 + s) - s`, accurate for tiny :math:`s`."""
    small = np.abs(s) < 1e-3
    series = s * s * (-0.5 + s * (1.0 / 3.0 - s / 4.0))
    return np.where(small, series, np.log1p(np.maximum(s, -1.0 + 1e-300)) - s)


def _armijo_excess(p_hat: np.ndarray, grad: np.ndarray, eta: np.ndarray) -> np.ndarray:
    r"""The part :math:`r` of the loss change beyond first order, for the step :math:`-\eta g`.

    With :math:`\Delta W = -\eta g` and :math:`\sum_y \tilde p_y = 1`, the row loss changes by

    .. math:: \Delta f = \eta\, \tilde p \cdot g + \log \sum_y \hat p_y e^{-\eta g_y}
              = -\eta \|g\|^2 + r, \quad
              r = \bigl[\log(1+s) - s\bigr] + \sum_y \hat p_y \bigl(e^{-\eta g_y} - 1 + \eta g_y\bigr),

    with :math:`s = \sum_y \hat p_y (e^{-\eta g_y} - 1)`. Computing :math:`r` from these small
    pieces keeps full relative precision when :math:`\|g\|` is tiny, where differences of loss
    values would drown in rounding (and a line search on them would stall near :math:`10^{-8}`).
    """
    z = -eta[:, None] * grad
    with np.errstate(over="ignore", invalid="ignore"):
        s = (p_hat * np.expm1(z)).sum(axis=1)
        return _log1p_minus_s(s) + (p_hat * _expm1_minus_z(z)).sum(axis=1)


@dataclass(frozen=True)
class LogitFit:
    r"""A softmax logit table fitted by gradient descent on a cross-entropy.

    Attributes
    ----------
    W : ndarray, shape (n, m)
        Logits; :math:`-\infty` outside ``support``.
    support : ndarray of bool, shape (n, m)
        Entries the model may use.
    target : ndarray, shape (n, m)
        The empirical rows :math:`\tilde p(\cdot \mid x)` the fit aims at (zero rows: no data).
    n_iter : int
        Gradient steps taken.
    grad_max : float
        Final :math:`\max_{x,y} |\hat p_W(y \mid x) - \tilde p(y \mid x)|` over rows with data: the
        gradient of the row objectives, and the optimisation error of the probabilities.
    converged : bool
        Whether ``grad_max <= tol`` was reached.
    history : ndarray
        ``grad_max`` after every step (empty unless ``record=True``).
    """

    W: np.ndarray
    support: np.ndarray
    target: np.ndarray
    n_iter: int
    grad_max: float
    converged: bool
    history: np.ndarray

    @property
    def probs(self) -> np.ndarray:
        r"""The learned rows :math:`\hat p_W(\cdot \mid x)`."""
        return softmax_rows(self.W)


def _empirical_rows(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n_x = counts.sum(axis=1)
    has_data = n_x > 0
    target = np.zeros_like(counts)
    target[has_data] = counts[has_data] / n_x[has_data, None]
    return target, has_data


def fit_logit_table(
    counts: np.ndarray,
    support: np.ndarray | None = None,
    W0: np.ndarray | None = None,
    *,
    step: Literal["armijo", "fixed"] = "armijo",
    lr: float = 1.0,
    max_iter: int = 20_000,
    tol: float = 1e-12,
    record: bool = False,
) -> LogitFit:
    r"""Fit :math:`\hat p_W = \operatorname{softmax}(W_x)` to transition counts by gradient descent.

    Minimises every row's conditional cross-entropy

    .. math:: f_x(W_x) = -\sum_y \tilde p(y \mid x) \log \operatorname{softmax}(W_x)_y,
              \qquad \nabla f_x = \operatorname{softmax}(W_x) - \tilde p(\cdot \mid x),

    over the logits in ``support`` (the others are fixed at :math:`-\infty`). The joint empirical
    cross-entropy is :math:`\sum_x (n_x/T) f_x`, and its rows decouple, so per-row steps are plain
    gradient descent with a diagonal preconditioner and share its minimiser: the empirical rows
    :math:`\tilde p(\cdot \mid x)` when every observed transition lies in the support.

    Parameters
    ----------
    counts : array_like, shape (n, m)
        Non-negative transition counts (floats allowed, e.g. exact expected counts).
    support : array_like of bool, optional
        Trainable entries; default all. Every positive count must lie inside it.
    W0 : array_like, optional
        Initial logits; default 0 (uniform rows) [R].
    step : {"armijo", "fixed"}
        Per-row Armijo backtracking starting from ``lr`` (default), or a constant step ``lr``.
    lr : float
        Initial (or constant) step size.
    max_iter : int
        Largest number of gradient steps.
    tol : float
        Stop once :math:`\max |\hat p - \tilde p| \le` ``tol`` on the rows with data.
    record : bool
        Keep the gradient maximum of every step in ``history``.

    Returns
    -------
    LogitFit

    Raises
    ------
    InvalidChainError
        For negative or non-finite counts, a positive count outside ``support``, a row with an empty
        support, or mismatched shapes.

    Examples
    --------
    >>> fit = fit_logit_table(np.array([[3.0, 1.0], [0.0, 2.0]]))
    >>> fit.probs.round(10).tolist(), fit.converged
    ([[0.75, 0.25], [0.0, 1.0]], True)

    With a constant step the probability of an unseen transition only decays like :math:`1/t`:

    >>> slow = fit_logit_table(np.array([[3.0, 1.0], [0.0, 2.0]]), step="fixed", max_iter=1000)
    >>> float(slow.probs[1, 0].round(4)), slow.converged
    (0.0005, False)
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 2 or not np.all(np.isfinite(counts)) or np.any(counts < 0):
        raise InvalidChainError("counts must be a 2-D array of finite non-negative numbers")
    support = np.ones(counts.shape, dtype=bool) if support is None else np.asarray(support, dtype=bool)
    if support.shape != counts.shape:
        raise InvalidChainError(f"support has shape {support.shape}, counts {counts.shape}")
    empty = ~support.any(axis=1)
    if empty.any():
        raise InvalidChainError(f"row {int(np.flatnonzero(empty)[0])} has an empty support")
    outside = (counts > 0) & ~support
    if outside.any():
        x, y = map(int, np.argwhere(outside)[0])
        raise InvalidChainError(f"transition {x} -> {y} was observed but lies outside the support")
    if step not in ("armijo", "fixed"):
        raise InvalidChainError(f"step must be 'armijo' or 'fixed', got {step!r}")
    target, has_data = _empirical_rows(counts)
    W = np.zeros(counts.shape) if W0 is None else np.array(W0, dtype=np.float64)
    W = np.where(support, W, -np.inf)
    if np.any(support & ~np.isfinite(W)):
        raise InvalidChainError("W0 must be finite on the support")
    rows = np.flatnonzero(has_data)
    Wr, Tr, eta = W[rows], target[rows], np.full(rows.size, float(lr))
    history = []
    p_hat = softmax_rows(Wr)
    grad = np.where(support[rows], p_hat - Tr, 0.0)
    gmax = float(np.abs(grad).max(initial=0.0))
    it = 0
    while gmax > tol and it < max_iter:
        Wr, eta = _gd_step(Wr, p_hat, grad, eta, step == "armijo")
        p_hat = softmax_rows(Wr)
        grad = np.where(support[rows], p_hat - Tr, 0.0)
        gmax = float(np.abs(grad).max(initial=0.0))
        it += 1
        if record:
            history.append(gmax)
    W[rows] = Wr
    return LogitFit(
        W=W, support=support, target=target, n_iter=it, grad_max=gmax, converged=gmax <= tol,
        history=np.asarray(history),
    )


def _gd_step(W: np.ndarray, p_hat: np.ndarray, grad: np.ndarray, eta: np.ndarray, armijo: bool):
    r"""One gradient step per row.

    With ``armijo``, each row's step is halved until the Armijo condition
    :math:`\Delta f \le -\tfrac12 \eta \|g\|^2` holds, i.e. :math:`r \le \tfrac12 \eta \|g\|^2`
    (see :func:`_armijo_excess`); the accepted step is doubled for the next iteration, so the step
    tracks the local curvature, which for a nearly deterministic row is as small as
    :math:`2(1 - \max_y \hat p_y)`.
    """
    if not armijo:
        return W - eta[:, None] * grad, eta
    g2 = (grad * grad).sum(axis=1)
    eta = eta.copy()
    for _ in range(200):
        r = _armijo_excess(p_hat, grad, eta)
        bad = ~(r <= 0.5 * eta * g2)  # also catches NaN from an overflowing trial step
        if not bad.any():
            break
        eta[bad] *= 0.5
    # The cap keeps rows already at their optimum (g = 0) from doubling their step to infinity.
    return W - eta[:, None] * grad, np.minimum(eta * 2.0, _MAX_STEP)


# =========================================================================== Algorithm 1
@dataclass(frozen=True)
class PretrainResult:
    r"""The outcome of :func:`pretrain`.

    Attributes
    ----------
    chain : Chain
        The learned model :math:`\hat p` as a chain (clusters, start and target copied from the
        data's chain), so its hitting times are exact.
    support : ndarray of bool, shape (n, n)
        The support kept after thresholding.
    threshold : float
        :math:`\tau_{thr}`.
    stage1, stage2 : LogitFit
        The two gradient-descent runs.
    visited : ndarray of bool
        States with at least one observed transition (the rows the data determine).
    n_dropped : int
        Observed transitions that fell outside the pruned support (dropped in stage 2).
    """

    chain: Chain
    support: np.ndarray
    threshold: float
    stage1: LogitFit
    stage2: LogitFit
    visited: np.ndarray
    n_dropped: int

    @property
    def probs(self) -> np.ndarray:
        r"""The learned transition matrix :math:`\hat p` (dense)."""
        return self.stage2.probs


def pretrain(
    data: TransitionCounts | np.ndarray,
    threshold: float,
    *,
    like: Chain | None = None,
    step: Literal["armijo", "fixed"] = "armijo",
    lr: float = 1.0,
    max_iter1: int = 20_000,
    max_iter2: int = 20_000,
    tol1: float | None = None,
    tol2: float = 1e-12,
) -> PretrainResult:
    r"""Two-stage pretraining (Algorithm 1): GD on all edges, threshold, GD on the pruned support.

    Stage 1 fits the full logit table (all :math:`n^2` edges) to the counts; the pruned support is

    .. math:: \hat E = \{(x, y) : \hat p_{W^{(1)}}(y \mid x) \ge \tau_{thr}\}

    on the rows with data (unvisited rows keep every edge); stage 2 continues from :math:`W^{(1)}`
    with the logits outside :math:`\hat E` set to :math:`-\infty`. Stage 2 converges linearly (the
    objective is strongly convex on the support, modulo the softmax shift) to the empirical rows
    restricted to :math:`\hat E` — our reading of the paper's "exponentially small" final error.
    Stage 1 has no finite minimiser: the logits of unseen edges drift to :math:`-\infty` (their
    probabilities decay like :math:`1/t` with a constant step; the Armijo step grows as they shrink,
    which makes the decay geometric), so it is stopped at a tolerance instead.

    Parameters
    ----------
    data : TransitionCounts or array_like, shape (n, n)
        Transition counts (from :func:`transition_counts`, or any count matrix with ``like``).
    threshold : float
        :math:`\tau_{thr}`; the notes use :math:`\varepsilon/4`.
    like : Chain, optional
        Provides clusters, start and target for the learned chain (default ``data.chain``).
    step, lr
        Step-size rule and initial step of both stages (see :func:`fit_logit_table`).
    max_iter1, max_iter2 : int
        Gradient-step budgets of the two stages.
    tol1 : float, optional
        Stage-1 stopping tolerance; default ``threshold / 10``.
    tol2 : float
        Stage-2 stopping tolerance.

    Returns
    -------
    PretrainResult

    Raises
    ------
    MemoryBudgetError
        For more than 4096 states (the table is dense, :math:`n^2` logits).
    InvalidChainError
        For a threshold outside (0, 1) or one that prunes every edge of a visited row.

    Examples
    --------
    >>> from metacot.markov.families import line_of_cliques
    >>> true = line_of_cliques(K=2, M=4, eps=0.1)
    >>> result = pretrain(transition_counts(true, 200_000, seed=0), threshold=0.1 / 4)
    >>> bool(np.array_equal(result.support[:-1], true.P.toarray()[:-1] > 0))
    True
    """
    n = data.chain.n_states if isinstance(data, TransitionCounts) else np.shape(data)[0]
    if n > _MAX_DENSE_STATES:
        raise MemoryBudgetError(
            f"the logit table of {n} states has {n * n:,} entries; pretrain keeps it dense and "
            f"accepts at most {_MAX_DENSE_STATES} states"
        )
    if isinstance(data, TransitionCounts):
        counts, like = data.dense(), like or data.chain
    else:
        counts = np.asarray(data, dtype=np.float64)
    if not 0 < threshold < 1:
        raise InvalidChainError(f"threshold must be in (0, 1), got {threshold!r}")
    tol1 = threshold / 10 if tol1 is None else tol1
    stage1 = fit_logit_table(counts, step=step, lr=lr, max_iter=max_iter1, tol=tol1)
    visited = counts.sum(axis=1) > 0
    support = (stage1.probs >= threshold) | ~visited[:, None]
    empty = visited & ~support.any(axis=1)
    if empty.any():
        raise InvalidChainError(
            f"thresholding at {threshold:g} pruned every edge of state {int(np.flatnonzero(empty)[0])}"
        )
    kept = np.where(support, counts, 0.0)
    n_dropped = round(float(counts.sum() - kept.sum()))
    stage2 = fit_logit_table(kept, support, stage1.W, step=step, lr=lr, max_iter=max_iter2, tol=tol2)
    P = np.where(support, stage2.probs, 0.0)
    P /= P.sum(axis=1, keepdims=True)  # exact zeros off the support; renormalise the rounding away
    fields = {}
    if like is not None:
        fields = {"clusters": like.clusters, "start": like.start, "target": like.target}
    chain = Chain(sp.csr_array(P), **fields)
    return PretrainResult(
        chain=chain, support=support, threshold=float(threshold), stage1=stage1, stage2=stage2,
        visited=visited, n_dropped=n_dropped,
    )


# =========================================================================== diagnostics
def support_recovery(result: PretrainResult, true: Chain) -> dict:
    r"""Compare the learned support with the true one on the rows the data can determine.

    The rows compared are the non-target states. Target rows are never observed under restarts
    (an episode ends there) and do not affect hitting times; a non-target row that was never
    visited counts as a failure (its support is the untrained initialisation).

    Returns
    -------
    dict
        ``exact`` (bool), ``missing`` (true edges pruned), ``spurious`` (kept non-edges),
        ``unvisited`` (non-target rows without data).

    Examples
    --------
    >>> from metacot.markov.families import line_of_cliques
    >>> true = line_of_cliques(K=2, M=4, eps=0.1)
    >>> support_recovery(pretrain(transition_counts(true, 200_000), 0.025), true)["exact"]
    True
    """
    rows = ~true.target_mask() if true.target is not None else np.ones(true.n_states, bool)
    truth = true.P.toarray() > 0
    missing = int((truth & ~result.support)[rows].sum())
    spurious = int((~truth & result.support)[rows].sum())
    unvisited = int((rows & ~result.visited).sum())
    return {"exact": missing == 0 and spurious == 0 and unvisited == 0, "missing": missing,
            "spurious": spurious, "unvisited": unvisited}


def sparse_edge_errors(learned: Chain | np.ndarray, true: Chain) -> np.ndarray:
    r"""Relative errors :math:`|\hat p(x,y) - p(x,y)| / p(x,y)` on the sparse (inter-cluster) edges.

    Parameters
    ----------
    learned : Chain or ndarray
        The learned transition matrix.
    true : Chain
        The true chain; needs ``clusters``. Edges out of target states are skipped.

    Returns
    -------
    ndarray
        One relative error per sparse edge, in CSR order of ``true.P``.

    Examples
    --------
    >>> from metacot.markov.families import line_of_cliques
    >>> true = line_of_cliques(K=3, M=4, eps=0.1)
    >>> sparse_edge_errors(true, true).tolist()
    [0.0, 0.0]
    """
    if true.clusters is None:
        raise InvalidChainError("sparse_edge_errors needs a true chain with clusters")
    coo = true.P.tocoo()
    c = true.clusters
    keep = c[coo.row] != c[coo.col]
    if true.target is not None:
        keep &= ~true.target_mask()[coo.row]
    P_hat = learned.P.toarray() if isinstance(learned, Chain) else np.asarray(learned)
    p = coo.data[keep]
    return np.abs(P_hat[coo.row[keep], coo.col[keep]] - p) / p
