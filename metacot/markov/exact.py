r"""Exact quantities of a :class:`~metacot.markov.chain.Chain` by sparse linear algebra.

Everything here works on absorbing, reducible and non-reversible chains (the chain-of-thought
case) and on sparse chains with millions of states. The workhorse is one system

.. math:: (I - D_U P)\, x = b,

where :math:`D_U` is the diagonal indicator of the *unknown* states and every other row pins a
known value; one code path serves hitting times, committors and absorption probabilities. The
matrix :math:`I - D_U P` restricted to :math:`U` is a non-singular M-matrix whenever every state
of :math:`U` can leave :math:`U`. :mod:`metacot.markov.solvers` factorises it GTH-style (the
diagonal summed from the rates, no subtraction anywhere), so the answers keep their relative
accuracy for arbitrarily small sparse-edge probabilities :math:`\varepsilon`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from metacot._checks import positive_int
from metacot.errors import (
    ArgumentTypeError,
    InvalidArgumentError,
    InvalidChainError,
    SolverError,
    UnknownBackendError,
)
from metacot.markov.chain import Chain, as_state_set
from metacot.markov.reach import closed_classes, hitting_classes, reaches, target_states
from metacot.markov.solvers import MMatrixLU, leak_split, solve_pinned

__all__ = [
    "HittingTimeDistribution",
    "absorption_probabilities",
    "closed_classes",
    "committor",
    "entropy_rate",
    "hitting_classes",
    "hitting_time_distribution",
    "hitting_time_moments",
    "hitting_times",
    "mean_hitting_time",
    "meta_chain",
    "metastable_sets",
    "reaches",
    "spectrum",
    "stationary",
]


# --------------------------------------------------------------------------- hitting times
def hitting_times(chain: Chain, target: Any = None, backend: str = "cpu") -> np.ndarray:
    r"""Expected number of steps to reach the target, from every state.

    With :math:`T` the target set and :math:`\tau = \min\{t \ge 0 : X_t \in T\}`,
    :math:`h(x) = \mathbb{E}_x[\tau]` solves

    .. math:: h = 0 \text{ on } T, \qquad h(x) = 1 + \sum_y P_{xy} h(y) \text{ elsewhere}.

    :math:`h(x) = \infty` wherever :math:`\Pr_x(\tau = \infty) > 0`: from states that cannot reach
    :math:`T`, and from states that can reach such states without passing through :math:`T`.
    The finite part is one sparse LU solve on the remaining states.

    Parameters
    ----------
    chain : Chain
    target : int or iterable of int, optional
        Overrides ``chain.target``.
    backend : {"cpu", "cuda"}
        ``"cuda"`` solves the same system on the GPU with CuPy
        (:func:`metacot.markov.gpu_exact.hitting_times_cuda`: preconditioned GMRES, refined until
        the residual meets its tolerance, else an error); it needs the ``gpu`` extra and a GPU.

    Returns
    -------
    ndarray of float, shape (n_states,)
        :math:`\mathbb{E}_x[\tau]`, with ``np.inf`` where the target is not reached almost surely.

    Examples
    --------
    >>> from metacot.markov.families import line_of_cliques
    >>> c = line_of_cliques(K=4, M=16, eps=0.01)
    >>> round(float(hitting_times(c)[c.start]), 6)
    4819.0
    """
    if backend == "cuda":
        from metacot.markov.gpu_exact import hitting_times_cuda

        return hitting_times_cuda(chain, target)
    if backend != "cpu":
        raise UnknownBackendError(f"unknown backend {backend!r} for hitting_times; valid names are 'cpu', 'cuda'")
    is_target, infinite = hitting_classes(chain, target)
    unknown = ~(infinite | is_target)
    h = solve_pinned(chain.P, unknown, unknown.astype(float), "the expected hitting time")
    h[is_target] = 0.0
    h[infinite] = np.inf
    return h


def hitting_time_moments(chain: Chain, order: int = 2, target: Any = None) -> np.ndarray:
    r"""Raw moments :math:`\mathbb{E}_x[\tau^j]`, :math:`j = 1..\text{order}`, from every state.

    Conditioning on the first step, :math:`\tau = 1 + \tau'`, and expanding :math:`(1+\tau')^j`
    gives one linear system per moment with the same matrix:

    .. math:: (I - Q)\, m_j = \sum_{i=0}^{j-1} \binom{j}{i}\, P m_i, \qquad m_0 = \mathbf 1,

    on the states that hit the target almost surely (:math:`m_j = 0` on the target, ``np.inf``
    where :math:`\Pr(\tau = \infty) > 0`). One LU factorisation serves every order.

    Returns
    -------
    ndarray, shape (order, n_states)
        Row ``j - 1`` holds :math:`\mathbb{E}_x[\tau^j]`.

    Examples
    --------
    >>> from metacot.markov.families import line_of_cliques
    >>> m = hitting_time_moments(line_of_cliques(K=1, M=4, eps=0.1), order=2)
    >>> m[:, 0].round(9).tolist()  # geometric with p = 1/4: mean 4, second moment (2-p)/p^2 = 28
    [4.0, 28.0]
    """
    order = positive_int(order, "order")
    P = chain.P
    h = hitting_times(chain, target)
    finite = np.isfinite(h)
    unknown = finite & (h > 0)
    moments = [np.where(finite, 1.0, np.inf), np.where(finite, h, np.inf)]
    if order > 1 and unknown.any():
        # m_j = 0 on the target and unknown states never step to infinite ones, so the pinned
        # values add nothing to the right-hand side, which is >= 0: the solve keeps its accuracy.
        N, s, U = leak_split(P, unknown)
        lu = MMatrixLU(N, s)
    for j in range(2, order + 1):
        rhs = sum(math.comb(j, i) * (P @ np.where(finite, moments[i], 0.0)) for i in range(j))
        m = np.zeros(chain.n_states)
        if unknown.any():
            m[U] = lu.solve(rhs[U])
        if not np.all(np.isfinite(m)):
            raise SolverError(f"the hitting-time moment of order {j} overflows float64")
        moments.append(np.where(finite, m, np.inf))
    return np.array(moments[1:])


def mean_hitting_time(chain: Chain, start: Any = None, target: Any = None) -> float:
    r"""Expected hitting time :math:`\sum_x \mu(x)\, h(x)` from the start (``np.inf`` if any mass never hits).

    Examples
    --------
    >>> from metacot.markov.families import line_of_cliques
    >>> mean_hitting_time(line_of_cliques(K=5, M=10, eps=0.05))  # doctest: +ELLIPSIS
    814.0...
    """
    mu = chain.start_distribution(start)
    h = hitting_times(chain, target)
    support = mu > 0
    return float(mu[support] @ h[support])


@dataclass(frozen=True)
class HittingTimeDistribution:
    r"""The law of :math:`\tau` up to a horizon :math:`t_{\max}`.

    Attributes
    ----------
    pmf : ndarray, shape (t_max + 1,)
        :math:`\Pr(\tau = t)` for :math:`t = 0, \dots, t_{\max}` (an array: ``d.pmf.sum()``,
        ``d.pmf[t]``).
    tail : float
        :math:`\Pr(\tau > t_{\max})`, the mass not yet absorbed.
    remaining : ndarray, shape (n_states,)
        :math:`\Pr(X_{t_{\max}} = x,\ \tau > t_{\max})`: where the tail mass sits.

    Examples
    --------
    >>> from metacot.markov.families import line_of_cliques
    >>> d = hitting_time_distribution(line_of_cliques(K=1, M=2, eps=0.1), t_max=60)
    >>> d.cdf[:3].tolist(), d.quantile(0.5), round(d.mean(), 6)
    ([0.0, 0.5, 0.75], 1, 2.0)
    """

    pmf: np.ndarray
    tail: float
    remaining: np.ndarray

    @property
    def t_max(self) -> int:
        """The horizon."""
        return self.pmf.size - 1

    @property
    def cdf(self) -> np.ndarray:
        r""":math:`\Pr(\tau \le t)` for :math:`t = 0..t_{\max}`, an array like :attr:`pmf`."""
        return np.minimum(np.cumsum(self.pmf), 1.0)

    @property
    def sf(self) -> np.ndarray:
        r""":math:`\Pr(\tau > t)` for :math:`t = 0..t_{\max}`, without cancellation for tiny tails.

        Summed from the right, :math:`\Pr(\tau > t) = \text{tail} + \sum_{s > t} p_s`.
        """
        rev = np.cumsum(self.pmf[::-1])[::-1]
        return self.tail + np.append(rev[1:], 0.0)

    def mean(self, h: np.ndarray | None = None) -> float:
        r"""The mean of :math:`\tau`.

        Without ``h``, only when the tail is 0 up to rounding (below :math:`10^{-12}`). With the
        exact hitting times ``h`` (:func:`hitting_times`) the mean is exact for any horizon, by the
        Markov property at :math:`t_{\max}`:

        .. math:: \mathbb{E}[\tau] = \sum_{t \le t_{\max}} t\, p_t
                  + \sum_x \Pr(X_{t_{\max}} = x, \tau > t_{\max})\,\bigl(t_{\max} + h(x)\bigr).
        """
        t = np.arange(self.pmf.size)
        head = float(t @ self.pmf)
        if h is None:
            if self.tail > 1e-12:
                raise InvalidChainError(
                    f"the tail mass {self.tail:.3g} beyond t_max = {self.t_max} is not negligible; "
                    "pass the hitting times h (exact.hitting_times(chain)) to account for it, or a larger t_max"
                )
            return head
        occupied = self.remaining > 0
        return head + float(self.remaining[occupied] @ (self.pmf.size - 1 + np.asarray(h)[occupied]))

    def quantile(self, q: float | np.ndarray) -> int | np.ndarray:
        r"""The smallest :math:`t` with :math:`\Pr(\tau \le t) \ge q`, for :math:`q \in [0, 1]`.

        Raises
        ------
        InvalidChainError
            If :math:`q` exceeds :math:`\Pr(\tau \le t_{\max})`: the quantile lies beyond the
            horizon (or is infinite); recompute with a larger ``t_max``.
        """
        qa = np.asarray(q, dtype=np.float64)
        if np.any(~np.isfinite(qa) | (qa < 0) | (qa > 1)):
            raise InvalidArgumentError(f"q must lie in [0, 1], got {q!r}")
        cdf = self.cdf
        # A relative slack of 1e-12 keeps q = cdf[t] (up to rounding of the cumulative sum) at t.
        t = np.searchsorted(cdf, qa - 1e-12, side="left")
        if np.any(t > self.t_max):
            raise InvalidChainError(
                f"the {float(np.max(qa)):g}-quantile lies beyond t_max = {self.t_max} "
                f"(Pr(tau <= t_max) = {float(cdf[-1]):.6g}); use a larger t_max"
            )
        return int(t) if qa.ndim == 0 else t.astype(np.int64)


def hitting_time_distribution(
    chain: Chain, t_max: int, start: Any = None, target: Any = None
) -> HittingTimeDistribution:
    r"""The probability mass function of the hitting time, by sparse matrix-vector products.

    With :math:`v_0 = \mu` restricted to non-target states, :math:`r = P \mathbf 1_T` the one-step
    probability of entering the target, and :math:`Q` the matrix :math:`P` with target columns
    removed,

    .. math:: \Pr(\tau = 0) = \mu(T), \quad \Pr(\tau = t) = v_{t-1} \cdot r, \quad v_t = v_{t-1} Q.

    Cost: :math:`t_{\max}` products with a matrix of ``nnz`` entries.

    Parameters
    ----------
    chain : Chain
    t_max : int
        Horizon, :math:`\ge 0`.
    start, target : optional
        Override ``chain.start`` and ``chain.target``.

    Returns
    -------
    HittingTimeDistribution
        ``pmf.sum() + tail`` equals 1 up to rounding.

    Examples
    --------
    >>> from metacot.markov.families import line_of_cliques
    >>> d = hitting_time_distribution(line_of_cliques(K=1, M=4, eps=0.1), t_max=2)
    >>> d.pmf.round(4).tolist()
    [0.0, 0.25, 0.1875]
    """
    t_max = positive_int(t_max, "t_max", minimum=0)
    mu = chain.start_distribution(start)
    is_target = chain.target_mask(target_states(chain, target))
    P = chain.P
    r = P @ is_target.astype(float)
    QT = sp.csr_array((sp.diags_array((~is_target).astype(float)) @ P @ sp.diags_array((~is_target).astype(float))).T)
    pmf = np.empty(t_max + 1)
    pmf[0] = mu[is_target].sum()
    v = np.where(is_target, 0.0, mu)
    for t in range(1, t_max + 1):
        pmf[t] = v @ r
        v = QT @ v
    return HittingTimeDistribution(pmf=pmf, tail=float(v.sum()), remaining=v)


# --------------------------------------------------------------------------- committors, absorption
def committor(chain: Chain, A: Any, B: Any) -> np.ndarray:
    r"""The forward committor :math:`q(x) = \Pr_x(\tau_B < \tau_A)`.

    It solves :math:`q = 0` on :math:`A`, :math:`q = 1` on :math:`B` and
    :math:`q(x) = \sum_y P_{xy} q(y)` elsewhere. From states that can reach neither set the event
    never happens, so :math:`q = 0` there.

    Parameters
    ----------
    chain : Chain
    A, B : int or iterable of int
        Disjoint state sets.

    Examples
    --------
    >>> import numpy as np
    >>> walk = Chain(np.array([[1, 0, 0], [0.5, 0, 0.5], [0, 0, 1]]))
    >>> committor(walk, 0, 2).tolist()
    [0.0, 0.5, 1.0]
    """
    n = chain.n_states
    a = as_state_set(A, n, "committor set A")
    b = as_state_set(B, n, "committor set B")
    if np.intersect1d(a, b).size:
        raise InvalidChainError(f"A and B must be disjoint; both contain state {int(np.intersect1d(a, b)[0])}")
    in_a = np.zeros(n, dtype=bool)
    in_a[a] = True
    in_b = np.zeros(n, dtype=bool)
    in_b[b] = True
    # Unknown: states that can reach B without passing through A (others have q = 0).
    unknown = reaches(chain.P, b, blocked=in_a | in_b) & ~(in_a | in_b)
    q = solve_pinned(chain.P, unknown, in_b.astype(float), "the committor")
    q[in_a] = 0.0
    q[in_b] = 1.0
    return q


def absorption_probabilities(chain: Chain) -> tuple[np.ndarray, list[np.ndarray]]:
    r"""Probability of ending in each closed class, from every state.

    For closed classes :math:`C_1, \dots, C_c`, :math:`B_{xk} = \Pr_x(X_t \in C_k \text{ eventually})`
    solves :math:`B_{xk} = \mathbf 1[x \in C_k]` on recurrent states and
    :math:`B_{xk} = \sum_y P_{xy} B_{yk}` on transient ones; one LU factorisation serves all
    :math:`k`.

    Returns
    -------
    B : ndarray, shape (n_states, n_classes)
        Rows sum to 1.
    classes : list of ndarray
        The closed classes, as from :func:`closed_classes`.

    Examples
    --------
    >>> import numpy as np
    >>> B, classes = absorption_probabilities(Chain(np.array([[1, 0, 0], [0.25, 0.5, 0.25], [0, 0, 1]])))
    >>> B[1].tolist()
    [0.5, 0.5]
    """
    classes = closed_classes(chain)
    n = chain.n_states
    label = np.full(n, -1)
    for k, c in enumerate(classes):
        label[c] = k
    transient = label < 0
    rhs = np.zeros((n, len(classes)))
    rhs[~transient, label[~transient]] = 1.0
    if not transient.any():
        return rhs, classes
    return solve_pinned(chain.P, transient, rhs, "the absorption probability"), classes


# --------------------------------------------------------------------------- stationary laws
def _stationary_irreducible(P: sp.csr_array) -> np.ndarray:
    r"""Stationary law of an irreducible chain via a non-singular M-matrix system.

    Pin :math:`x_r = 1` for the state :math:`r` of largest degree and solve
    :math:`x_i = \sum_j P_{ji} x_j` on the others, i.e.
    :math:`(I - P_{RR})^\top x_R = P_{rR}^\top` (invertible because :math:`R` is transient once
    :math:`r` is removed), then normalise. :math:`I - P_{RR}` is factorised GTH-style (its row
    excess is :math:`P_{ir}`) and the transposed solve has a non-negative right-hand side, so
    unlike an eigen-solver this keeps every entry positive and relatively accurate for
    metastable chains.
    """
    n = P.shape[0]
    if n == 1:
        return np.ones(1)
    r = int(np.argmax(np.diff(P.indptr)))
    rest = np.ones(n, dtype=bool)
    rest[r] = False
    N, s, R = leak_split(P, rest)
    x = np.ones(n)
    x[R] = MMatrixLU(N, s).solve(P[[r]].toarray().ravel()[R], transpose=True)
    if not np.all(np.isfinite(x)):
        raise SolverError("the stationary law's weights span more than the float64 range")
    return x / x.sum()


def stationary(chain: Chain) -> np.ndarray:
    r"""The stationary distribution(s) :math:`\pi = \pi P`, one per closed class.

    Each closed class :math:`C` has one stationary law supported on :math:`C`; transient states
    get zero mass.

    Returns
    -------
    ndarray
        Shape ``(n_states,)`` when the chain has one closed class (the stationary law is then
        unique); shape ``(n_classes, n_states)``, one row per closed class in the order of
        :func:`closed_classes`, when it has several.

    Examples
    --------
    >>> import numpy as np
    >>> stationary(Chain(np.array([[0.5, 0.5], [0.25, 0.75]]))).round(6).tolist()
    [0.333333, 0.666667]
    """
    classes = closed_classes(chain)
    out = np.zeros((len(classes), chain.n_states))
    for k, c in enumerate(classes):
        out[k, c] = _stationary_irreducible(sp.csr_array(chain.P[c][:, c]))
    return out[0] if len(classes) == 1 else out


def entropy_rate(chain: Chain, base: float = np.e) -> float:
    r"""The entropy rate :math:`H = -\sum_x \pi(x) \sum_y P_{xy} \log P_{xy}`.

    For a reducible chain the long-run rate depends on where the walk is absorbed, so
    :math:`H = \sum_k \Pr_\mu(\text{absorbed in } C_k)\, H_k`; this needs ``chain.start``.

    Parameters
    ----------
    base : float
        Logarithm base (:math:`e` gives nats, 2 gives bits).

    Examples
    --------
    >>> import numpy as np
    >>> entropy_rate(Chain(np.full((4, 4), 0.25)), base=2)
    2.0
    """
    P = chain.P
    plogp = P.data * np.log(P.data)
    row_h = -np.add.reduceat(plogp, P.indptr[:-1]) / np.log(base)
    classes = closed_classes(chain)
    if len(classes) == 1:
        return float(stationary(chain) @ row_h)
    if chain.start is None:
        raise InvalidChainError(
            f"the chain has {len(classes)} closed classes, so its entropy rate depends on the start; set start"
        )
    B, classes = absorption_probabilities(chain)
    weights = chain.start_distribution() @ B
    pis = stationary(chain)
    return float(sum(w * (pi @ row_h) for w, pi in zip(weights, pis)))


# --------------------------------------------------------------------------- spectrum
def spectrum(chain: Chain, k: int = 6) -> np.ndarray:
    r"""The ``k`` eigenvalues of :math:`P` of largest modulus, in decreasing modulus.

    Dense LAPACK for up to 1000 states; ARPACK (implicitly restarted Arnoldi) above. For a
    metastable chain with :math:`K` clusters, :math:`K` eigenvalues satisfy
    :math:`1 - |\lambda| = O(\varepsilon / M)` and the rest are bounded away from 1.

    Examples
    --------
    >>> from metacot.markov.families import line_of_cliques
    >>> abs(spectrum(line_of_cliques(K=3, M=10, eps=1e-3), 4)).round(6).tolist()
    [1.0, 0.9999, 0.9999, 0.0]
    """
    n = chain.n_states
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
        raise ArgumentTypeError(f"k must be an int, got {k!r}")
    k = int(k)
    if not 1 <= k <= n:
        raise InvalidChainError(f"k must be in 1..{n}, got {k}")
    if n <= 1000 or k >= n - 1:
        import scipy.linalg

        vals = scipy.linalg.eigvals(chain.P.toarray())
    else:
        vals = spla.eigs(chain.P, k=k, which="LM", return_eigenvectors=False, ncv=min(n, max(2 * k + 1, 40)))
    order = np.lexsort((-vals.imag, -vals.real, -np.abs(vals)))
    return vals[order][:k]


# --------------------------------------------------------------------------- coarse graining
def meta_chain(chain: Chain, weights: Literal["within", "uniform"] = "within") -> Chain:
    r"""The coarse-grained chain on the clusters (the meta-chain).

    With :math:`\pi_i` a probability law on cluster :math:`C_i`,

    .. math:: q(i, j) = \sum_{x \in C_i} \pi_i(x)\, P(x, C_j),

    which for :math:`i \ne j` is the Betz–Le Roux escape rate of the metastability literature and
    for uniform :math:`\pi_i` equals :math:`(\varepsilon/|C_i|)\sum_{x \in C_i, y \in C_j} q(x,y)`
    (project notes, ``papers/notes/metastable_paper.md`` §1.3). Rows sum to 1, so the diagonal is the
    probability of staying.

    Parameters
    ----------
    weights : {"within", "uniform"}
        ``"within"``: :math:`\pi_i` is the stationary law of the within-cluster chain (the rows of
        :math:`P` restricted to :math:`C_i` and renormalised: the :math:`\varepsilon \to 0` limit
        :math:`p^0`). ``"uniform"``: :math:`\pi_i` uniform (the paper's Assumption 1).

    Returns
    -------
    Chain
        On the :math:`K` clusters; its start is the start's cluster law, its target the clusters
        holding target states. One meta-step stands for one step of the original chain.

    Examples
    --------
    >>> from metacot.markov.families import line_of_cliques
    >>> meta_chain(line_of_cliques(K=2, M=4, eps=0.1)).P.toarray().round(4).tolist()
    [[0.975, 0.025], [0.0, 1.0]]
    """
    if chain.clusters is None:
        raise InvalidChainError("meta_chain needs a chain with clusters")
    c = chain.clusters
    n, K = chain.n_states, chain.n_clusters
    Z = sp.csr_array((np.ones(n), (np.arange(n), c)), shape=(n, K))
    if weights == "uniform":
        w = 1.0 / chain.cluster_sizes()[c]
    elif weights == "within":
        w = np.empty(n)
        P = chain.P
        for k in range(K):
            members = np.flatnonzero(c == k)
            inner = sp.csr_array(P[members][:, members])
            mass = np.asarray(inner.sum(axis=1)).ravel()
            if np.any(mass <= 0):
                bad = int(members[np.flatnonzero(mass <= 0)[0]])
                raise InvalidChainError(f"state {bad} of cluster {k} has no transition inside its cluster")
            sub = Chain._trusted(sp.diags_array(1.0 / mass) @ inner)
            pis = stationary(sub)
            if pis.ndim != 1:
                raise InvalidChainError(f"cluster {k} is reducible inside: its within-cluster law is not unique")
            w[members] = pis
    else:
        raise InvalidChainError(f"weights must be 'within' or 'uniform', got {weights!r}")
    Q = Z.T @ sp.diags_array(w) @ chain.P @ Z
    start = None
    if chain.start is not None:
        start = int(c[chain.start]) if isinstance(chain.start, int) else Z.T @ chain.start_distribution()
    target = None if chain.target is None else np.unique(c[chain.target])
    return Chain._trusted(sp.csr_array(Q), start=start, target=target)


def metastable_sets(chain: Chain, k: int, **kwargs: Any):
    """Metastable sets by G-PCCA; see :func:`metacot.markov.pcca.metastable_sets`."""
    from metacot.markov.pcca import metastable_sets as _gpcca

    return _gpcca(chain, k, **kwargs)
