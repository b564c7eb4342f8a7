r"""Constructors of metastable chain families.

Every family follows the perturbed kernel of the metastable-dynamics paper (Kim, Wu, Lee, Suzuki,
ICML 2025, §2; see §1.2 of the project notes, ``papers/notes/metastable_paper.md``):

.. math::

    p^\varepsilon(x, y) = \bigl(1 - \varepsilon Q(x)\bigr)\, p^0(x, y) + \varepsilon\, q(x, y),
    \qquad Q(x) = \sum_y q(x, y),

where :math:`p^0` is block diagonal over the dense clusters :math:`C_1, \dots, C_K` and :math:`q`
lives on the sparse inter-cluster edges. Every within-cluster kernel built here is doubly
stochastic, so its stationary distribution is uniform on the cluster (the paper's Assumption 1).

State ``k*M + i`` (or the cumulative offset, for clusters of unequal sizes) is state ``i`` of
cluster ``k``; state ``i = 0`` of a cluster is its *entry*.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from metacot._checks import as_rng, probability
from metacot._checks import readonly as _readonly
from metacot.errors import ArgumentTypeError, InvalidChainError
from metacot.markov.chain import Chain

__all__ = ["from_networkx", "line_of_cliques", "random_clusters"]


def _int_arg(value: Any, name: str) -> int:
    """``value`` as an int; a float, bool or string is an :class:`ArgumentTypeError` (ranges are checked by the caller)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ArgumentTypeError(f"{name} must be an int, got {value!r}")
    return int(value)


def _real_arg(value: Any, name: str) -> float:
    """``value`` as a float; anything but a real number is an :class:`ArgumentTypeError`."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ArgumentTypeError(f"{name} must be a number, got {value!r}")
    return float(value)


def _check_eps(eps: float, q: float = 1.0) -> None:
    eps, q = _real_arg(eps, "eps"), _real_arg(q, "q")
    if not (np.isfinite(eps) and np.isfinite(q)) or eps <= 0 or q <= 0 or eps * q > 1:
        raise InvalidChainError(f"need 0 < eps*q <= 1 with eps, q > 0; got eps={eps!r}, q={q!r}")


def line_of_cliques(K: int, M: int, eps: float, q: float = 1.0) -> Chain:
    r"""Family A: a line of K complete clusters joined by one sparse edge each.

    Cluster :math:`k` is the complete graph on :math:`M` states with self-loops,
    :math:`p^0(x, y) = 1/M`. Its *exit* state (its last state) has one sparse edge, of probability
    :math:`\varepsilon q`, to the entry state of cluster :math:`k+1`; the exit state's other
    transitions are scaled by :math:`1 - \varepsilon q`. The walk starts at the entry of cluster 0
    and the target is the last state of cluster :math:`K-1` (a non-entry state). The mean hitting
    time is exactly

    .. math:: \mathbb{E}[\tau] = (K - 1)\Bigl(\frac{M}{\varepsilon q} + 1\Bigr) + M,

    because from the entry each cluster is left after :math:`1 + M/(\varepsilon q)` steps on
    average and the target is then found after :math:`M` steps (geometric with rate :math:`1/M`).

    Parameters
    ----------
    K : int
        Number of clusters, :math:`K \ge 1`.
    M : int
        States per cluster, :math:`M \ge 2` (so that entry, exit and target can differ).
    eps, q : float
        Sparse-edge probability is :math:`\varepsilon q \in (0, 1]`.

    Returns
    -------
    Chain
        :math:`KM` states, ``clusters`` set, ``start = 0``, ``target = KM - 1``.

    Notes
    -----
    The clusters are dense: the matrix has :math:`K M^2` non-zeros, so use
    :func:`random_clusters` for chains with millions of states.

    Examples
    --------
    >>> from metacot import exact
    >>> chain = line_of_cliques(K=2, M=8, eps=0.1)
    >>> round(float(exact.hitting_times(chain)[chain.start]), 9)
    89.0
    """
    K, M = _int_arg(K, "K"), _int_arg(M, "M")
    if K < 1 or M < 2:
        raise InvalidChainError(f"line_of_cliques needs K >= 1 and M >= 2; got K={K}, M={M}")
    _check_eps(eps, q)
    n = K * M
    # Dense block of every cluster: row x, columns of its own cluster, value 1/M.
    rows = np.repeat(np.arange(n), M)
    cols = (np.arange(n) // M * M).repeat(M) + np.tile(np.arange(M), n)
    vals = np.full(n * M, 1.0 / M)
    exits = np.arange(K - 1) * M + (M - 1)
    vals[np.isin(rows, exits)] *= 1.0 - eps * q
    P = sp.csr_array(
        (
            np.concatenate([vals, np.full(K - 1, eps * q)]),
            (np.concatenate([rows, exits]), np.concatenate([cols, (np.arange(K - 1) + 1) * M])),
        ),
        shape=(n, n),
    )
    return Chain._trusted(P, clusters=np.arange(n) // M, start=0, target=n - 1)


# --------------------------------------------------------------------------- random clusters
ClusterKind = Literal["er", "regular", "lazy_cycle", "complete"]
MetaGraph = Literal["line", "dag", "line_back"]


def _lazy_cycle(m: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stay with 1/2, move to each cycle neighbour with 1/4 (duplicates summed for m <= 2)."""
    i = np.arange(m)
    rows = np.concatenate([i, i, i])
    cols = np.concatenate([i, (i + 1) % m, (i - 1) % m])
    vals = np.concatenate([np.full(m, 0.5), np.full(2 * m, 0.25)])
    return rows, cols, vals


def _complete(m: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = np.repeat(np.arange(m), m)
    cols = np.tile(np.arange(m), m)
    return rows, cols, np.full(m * m, 1.0 / m)


def _regular(m: int, rng: np.random.Generator, degree: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Non-reversible doubly stochastic kernel :math:`w_0 I + \sum_j w_j \Pi_j`.

    The :math:`\Pi_j` are random permutations, the first a single random :math:`m`-cycle so the
    kernel is irreducible; :math:`w \sim` Dirichlet(1) with the self-loop weight :math:`w_0 > 0`
    making it aperiodic. A convex combination of permutation matrices is doubly stochastic
    (Birkhoff), so the cluster's stationary law is uniform, yet the kernel is not reversible.
    """
    w = rng.dirichlet(np.ones(degree + 1))
    order = rng.permutation(m)
    cycle = np.empty(m, dtype=np.int64)
    cycle[order] = np.roll(order, -1)
    perms = [np.arange(m), cycle] + [rng.permutation(m) for _ in range(degree - 1)]
    rows = np.tile(np.arange(m), degree + 1)
    cols = np.concatenate(perms)
    vals = np.repeat(w, m)
    return rows, cols, vals


@functools.lru_cache(maxsize=8)
def _upper_pairs(m: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of every pair i < j, cached: clusters of one size share them."""
    iu, ju = np.triu_indices(m, 1)
    return _readonly(iu), _readonly(ju)




def _erdos_renyi(m: int, rng: np.random.Generator, density: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Lazy random walk on a weighted Erdős–Rényi graph :math:`G(m, p)` plus a Hamiltonian cycle.

    With symmetric weights :math:`W` (uniform on [0.5, 1.5]) and degrees :math:`d = W\mathbf 1`,
    the kernel :math:`I - (D - W)/(2 d_{\max})` is symmetric, hence doubly stochastic (uniform
    stationary law) and reversible; every self-loop is at least 1/2. The random cycle added to the
    edge set keeps small clusters connected.
    """
    n_pairs = m * (m - 1) // 2
    picked = rng.choice(n_pairs, size=rng.binomial(n_pairs, density), replace=False)
    iu, ju = _upper_pairs(m)
    order = rng.permutation(m)
    ci, cj = order, np.roll(order, -1)
    a = np.concatenate([iu[picked], np.minimum(ci, cj)])
    b = np.concatenate([ju[picked], np.maximum(ci, cj)])
    # An undirected edge is kept once (m = 2 gives the same cycle edge twice).
    code = np.unique(a[a != b] * m + b[a != b])
    a, b = code // m, code % m
    w = rng.uniform(0.5, 1.5, code.size)
    d = np.bincount(a, weights=w, minlength=m) + np.bincount(b, weights=w, minlength=m)
    c = 2.0 * d.max()
    i = np.arange(m)
    rows = np.concatenate([a, b, i])
    cols = np.concatenate([b, a, i])
    vals = np.concatenate([w / c, w / c, 1.0 - d / c])
    return rows, cols, vals


def _sparse_edges(
    sizes: np.ndarray, meta: str, n_out: int, back_rate: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sparse edges as (source state, destination state, relative rate) arrays.

    Forward sources are the last ``n_out`` states of a cluster, backward sources its states
    ``1..n_out``; every edge lands on the entry (state 0) of its destination cluster.
    """
    K = sizes.size
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    src, dst, rate = [], [], []
    for k in range(K - 1):
        for s in range(n_out):
            to = k + 1 if meta != "dag" else int(rng.integers(k + 1, K))
            src.append(offsets[k + 1] - n_out + s)
            dst.append(offsets[to])
            rate.append(1.0)
    if meta == "line_back" and back_rate > 0:
        for k in range(1, K):
            for s in range(n_out):
                src.append(offsets[k] + 1 + s)
                dst.append(offsets[k - 1])
                rate.append(back_rate)
    return np.asarray(src, np.int64), np.asarray(dst, np.int64), np.asarray(rate, np.float64)


def random_clusters(
    K: int,
    M: int | Sequence[int],
    eps: float,
    kind: ClusterKind = "er",
    n_out: int = 1,
    meta: MetaGraph = "line",
    back_rate: float = 0.0,
    seed: int | np.random.Generator = 0,
    *,
    density: float = 0.5,
    degree: int = 4,
    q_range: tuple[float, float] = (1.0, 1.0),
) -> Chain:
    r"""Family B: random dense clusters joined by sparse edges along a meta-graph.

    Each cluster carries a doubly stochastic kernel :math:`p^0` (uniform stationary law):

    - ``"er"``: lazy walk on a weighted Erdős–Rényi :math:`G(M, \text{density})` (reversible);
    - ``"regular"``: a convex mixture of ``degree`` random permutations and the identity
      (non-reversible, about ``degree + 1`` non-zeros per row);
    - ``"lazy_cycle"``: stay 1/2, step to each cycle neighbour 1/4;
    - ``"complete"``: uniform 1/M, as in :func:`line_of_cliques`.

    The sparse edges follow the meta-graph on clusters: ``"line"`` (cluster k to k+1), ``"dag"``
    (cluster k to a uniformly chosen later cluster) or ``"line_back"`` (the line plus edges from
    cluster k to k-1 for k >= 1, at ``back_rate`` times the forward rate). Each cluster emits
    ``n_out`` forward edges, from its last ``n_out`` states, and with ``line_back`` ``n_out``
    backward edges, from its states ``1..n_out``; every edge lands on the entry (state 0) of its
    destination cluster. An edge has probability :math:`\varepsilon q_e`, with :math:`q_e` uniform
    on ``q_range``; the source's within-cluster row is scaled by
    :math:`1 - \varepsilon \sum_e q_e`. With one source per cluster this placement reproduces the
    reference values of the project notes (``papers/notes/metastable_paper.md`` §9): for example lazy cycles with
    :math:`(K, M, \varepsilon) = (4, 16, 10^{-3})` give :math:`\mathbb E[\tau] = 48\,075`, and
    complete clusters with :math:`(6, 10, 10^{-3})` and backward rate 1 give 150 085.

    The walk starts at the entry (state 0) of cluster 0; the target is the last state of cluster
    :math:`K-1`, the sink of every meta-graph here. Sparse-edge probabilities are
    :math:`\Theta(\varepsilon)` (Assumption 2) and every path from start to target crosses
    :math:`\ge K-1` of them on the line (Assumption 3).

    Parameters
    ----------
    K : int
        Number of clusters.
    M : int or sequence of int
        Cluster size, or one size per cluster (heterogeneous clusters).
    eps : float
        Sparse-edge scale :math:`\varepsilon`.
    kind, n_out, meta, back_rate
        See above.
    seed : int or numpy.random.Generator
        Randomness of the clusters, the sources and the landing states.
    density : float
        Edge probability of ``"er"`` clusters. The default 0.5 gives about :math:`M^2/2` non-zeros
        per cluster: lower it (for example ``10 / M``) for large clusters.
    degree : int
        Number of random permutations of ``"regular"`` clusters.
    q_range : (float, float)
        Range of the sparse-edge multipliers :math:`q_e`.

    Returns
    -------
    Chain
        With ``clusters``, ``start`` and ``target`` set.

    Examples
    --------
    >>> chain = random_clusters(K=1000, M=1000, eps=1e-3, kind="lazy_cycle")
    >>> chain.n_states, chain.n_clusters
    (1000000, 1000)
    """
    rng = as_rng(seed)
    K = _int_arg(K, "K")
    if np.isscalar(M):
        sizes = np.full(max(K, 0), _int_arg(M, "M"), dtype=np.int64)
    else:
        sizes = np.asarray(M)
        if sizes.size and not np.issubdtype(sizes.dtype, np.integer):
            raise ArgumentTypeError(f"M must be an int or a sequence of ints, got {M!r}")
        sizes = sizes.astype(np.int64)
    n_out = _int_arg(n_out, "n_out")
    eps = _real_arg(eps, "eps")
    back_rate = _real_arg(back_rate, "back_rate")
    if not (np.isfinite(eps) and eps > 0):
        raise InvalidChainError(f"eps must be a positive finite number, got {eps!r}")
    if K < 1 or sizes.shape != (K,):
        raise InvalidChainError(f"need K >= 1 and M an int or K sizes; got K={K}, M={M!r}")
    if sizes.min() < 2:
        raise InvalidChainError(f"every cluster needs at least 2 states; got sizes {sizes.tolist()}")
    need = 2 * n_out + 1 if meta == "line_back" else n_out + 1
    if n_out < 1 or sizes.min() < need:
        raise InvalidChainError(
            f"n_out={n_out} with meta={meta!r} needs clusters of at least {need} states "
            f"(entry + sources); the smallest has {sizes.min()}"
        )
    if meta not in ("line", "dag", "line_back"):
        raise InvalidChainError(f"meta must be 'line', 'dag' or 'line_back'; got {meta!r}")
    if back_rate < 0 or (back_rate > 0 and meta != "line_back"):
        raise InvalidChainError("back_rate must be >= 0 and is only used with meta='line_back'")
    q_lo, q_hi = (_real_arg(v, "q_range") for v in q_range)
    if not 0 < q_lo <= q_hi:
        raise InvalidChainError(f"q_range must satisfy 0 < low <= high; got {q_range!r}")
    density = probability(density, "density")
    degree = _int_arg(degree, "degree")
    builders = {
        "er": lambda m: _erdos_renyi(m, rng, density),
        "regular": lambda m: _regular(m, rng, degree),
        "lazy_cycle": lambda m: _lazy_cycle(m, rng),
        "complete": lambda m: _complete(m, rng),
    }
    if not isinstance(kind, str) or kind not in builders:
        raise InvalidChainError(f"kind must be one of {sorted(builders)}; got {kind!r}")
    if kind == "regular" and degree < 1:
        raise InvalidChainError(f"degree must be >= 1; got {degree}")

    offsets = np.concatenate([[0], np.cumsum(sizes)])
    n = int(offsets[-1])
    rows, cols, vals = [], [], []
    for k in range(K):
        r, c, v = builders[kind](int(sizes[k]))
        rows.append(r + offsets[k])
        cols.append(c + offsets[k])
        vals.append(v)
    rows, cols, vals = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)

    s_rows, s_cols, rate = _sparse_edges(sizes, meta, n_out, back_rate, rng)
    s_vals = eps * rate * rng.uniform(q_lo, q_hi, rate.size)
    out_mass = np.bincount(s_rows, weights=s_vals, minlength=n)
    if out_mass.max(initial=0.0) > 1:
        raise InvalidChainError(
            f"state {int(out_mass.argmax())} would have sparse-edge mass {out_mass.max():.3g} > 1; lower eps"
        )
    vals = vals * (1.0 - out_mass[rows])
    P = sp.csr_array(
        (
            np.concatenate([vals, s_vals]),
            (np.concatenate([rows, s_rows]), np.concatenate([cols, s_cols])),
        ),
        shape=(n, n),
    )
    clusters = np.repeat(np.arange(K), sizes)
    return Chain._trusted(P, clusters=clusters, start=0, target=n - 1)


# --------------------------------------------------------------------------- networkx
def from_networkx(
    G: Any,
    weight: str = "weight",
    *,
    cluster: str = "cluster",
    start: Any = None,
    target: Any = None,
    normalize: bool = False,
) -> Chain:
    r"""Build a :class:`Chain` from a weighted ``networkx`` (di)graph.

    Inverse of :meth:`Chain.to_networkx`: ``from_networkx(chain.to_networkx())`` reproduces the
    chain. States follow ``G``'s node order; nodes other than ``0..n-1`` become the chain's
    ``labels`` (as strings).

    Parameters
    ----------
    G : networkx.Graph or networkx.DiGraph
        Edge ``(u, v)`` carries :math:`P_{uv}` in attribute ``weight``. An undirected edge counts
        in both directions.
    weight : str
        Edge attribute holding the transition weight.
    cluster : str
        Node attribute holding the cluster label; used only when every node has it.
    start, target : node name, optional
        Override ``G.graph["start"]`` / ``G.graph["target"]`` (node names, or a list of names for
        the target, or a {name: probability} dict for the start).
    normalize : bool
        Divide each node's out-weights by their sum; otherwise they must already sum to 1.

    Raises
    ------
    InvalidChainError
        For a missing or invalid weight, a node with no out-edge, or (without ``normalize``) a
        node whose out-weights do not sum to 1; the message names the node.

    Examples
    --------
    >>> import networkx as nx
    >>> G = nx.DiGraph()
    >>> G.add_weighted_edges_from([("a", "a", 0.5), ("a", "b", 0.5), ("b", "b", 1.0)])
    >>> from_networkx(G, target="b").target.tolist()
    [1]
    """
    nodes = list(G.nodes)
    n = len(nodes)
    if n == 0:
        raise InvalidChainError("the graph has no nodes")
    index = {v: i for i, v in enumerate(nodes)}
    rows, cols, vals = [], [], []
    edges = G.edges(data=True)
    if not G.is_directed():
        edges = list(edges) + [(v, u, d) for u, v, d in edges if u != v]
    for u, v, d in edges:
        if weight not in d:
            raise InvalidChainError(f"edge ({u!r}, {v!r}) has no attribute {weight!r}")
        rows.append(index[u])
        cols.append(index[v])
        vals.append(float(d[weight]))
    P = sp.csr_array((vals, (rows, cols)), shape=(n, n))
    sums = np.asarray(P.sum(axis=1)).ravel()
    if normalize:
        if np.any(sums <= 0):
            raise InvalidChainError(f"node {nodes[int(np.flatnonzero(sums <= 0)[0])]!r} has no out-weight")
        P = sp.diags_array(1.0 / sums) @ P
    labels = None if nodes == list(range(n)) else [str(v) for v in nodes]
    clusters = None
    if n and all(cluster in G.nodes[v] for v in nodes):
        clusters = [G.nodes[v][cluster] for v in nodes]
    start = G.graph.get("start") if start is None else start
    target = G.graph.get("target") if target is None else target

    def node_index(name: Any) -> int:
        if name not in index:
            raise InvalidChainError(f"{name!r} is not a node of the graph")
        return index[name]

    if isinstance(start, dict):
        mu = np.zeros(n)
        for name, p in start.items():
            mu[node_index(name)] = p
        start = mu
    elif start is not None:
        start = node_index(start)
    if target is not None:
        names = list(target) if isinstance(target, (list, tuple, set, frozenset, np.ndarray)) else [target]
        target = [node_index(t) for t in names]
    try:
        return Chain(P, clusters=clusters, start=start, target=target, labels=labels)
    except InvalidChainError as err:
        msg = str(err)
        if msg.startswith("row "):
            row = int(msg.split()[1])
            msg = f"node {nodes[row]!r}: " + msg
        raise InvalidChainError(msg) from None
