r"""Sparse Edge Search (the paper's Algorithm 2) and the PRM-guided chain built from its output.

The metastable-dynamics paper (Kim, Wu, Lee, Suzuki, ICML 2025, §3, Prop. 3.3) uses the
model's own rollouts as an *intrinsic* reward: a chain of thought that stays inside a small set
of states for a while has found a dense cluster, and the first step out of that set is a hard
(sparse) reasoning step. Collecting those steps gives the edge set :math:`\hat E`, used either
as a process reward model (PRM, :func:`prm_chain`) or as the advantage of PPO-Clip
(:mod:`metacot.theory.rl`).

Only the outline of Algorithm 2 is known (project notes ``metastable_paper.md`` §3: rounds,
:math:`N` parallel rollouts, a phase that identifies the cluster, a phase that waits for the
exit). Every detail below marked **[R]** is our reconstruction, kept as a parameter:

* **[R] advance** -- after a round that recorded an exit, the next round starts from the
  exit's landing state (``"continue"``, default: the search walks along the meta-chain) or from
  the start (``"restart"``: then only the start cluster's exits can ever be found).
* **[R] round_ends** -- ``"first"`` (default): the :math:`N` rollouts run in lockstep and the
  round ends at the earliest recorded exit, so one edge per round and about :math:`M/\varepsilon`
  steps per round in total, matching the cost :math:`R\,T_{\max} = \tilde\Theta(KM/\varepsilon)`
  of the notes. ``"each"``: every rollout runs to its own exit and all exits are recorded
  (:math:`N` times the cost, more edges per round when a cluster has several exits).
* **[R] min_support** -- an exit :math:`(x', y')` is recorded only when its source :math:`x'`
  was visited in phase 1 by at least ``min(min_support, N)`` rollouts (default 2). A rollout that
  left the cluster already during phase 1 has seen states of the next cluster that no other
  rollout has seen; without this rule its later steps there look like exits (false positives)
  whenever :math:`N T_0 \varepsilon / M` is not negligible. ``min_support=1`` is the plain rule.
* **[R] stop_at_target** -- a rollout that reaches the chain's target stops (the chain of
  thought is finished), and a round in which some rollout reaches the target during phase 1
  ends there (its :math:`\hat C` is incomplete, and the answer's cluster needs no exit). A round
  in which no rollout leaves :math:`\hat C` is followed by a restart from the start. With
  ``stop_at_target=False`` the target is an ordinary state (needed to find exits *out of* the
  target's cluster, on meta-graphs that have them).
* **[R] next state without a recorded exit** -- if a round has only unrecorded exits (sources of
  low support), the next round continues from the landing state of the earliest one; if it has
  no exit at all, it restarts from the start.

Rollout :math:`j` of round :math:`r` is walker :math:`rN + j` of the simulator's random stream
(Philox4x32-10 keyed by the seed, steps on the alias tables of :math:`P`; see
:mod:`metacot.theory.walk`): its path is that of walker :math:`rN + j` of
``metacot.simulate(chain, ..., start=x_r, seed=seed, record_paths=True)``, so the result for a
seed is the same on every machine and thread count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numba import njit

from metacot._checks import as_seed_int, positive_int
from metacot.errors import InvalidChainError
from metacot.markov.chain import Chain, entry_positions
from metacot.simulation.kernels.rng import philox_pair, seed_key
from metacot.theory.walk import alias_step, transition_table

__all__ = [
    "SearchResult",
    "precision_recall",
    "prm_chain",
    "search_parameters",
    "sparse_edge_search",
    "true_sparse_edges",
]

#: Outcome codes of a round (``SearchResult.rounds["outcome"]``).
OUTCOMES = ("recorded", "unrecorded_only", "at_target", "no_exit")


# --------------------------------------------------------------------------- parameters
def search_parameters(
    K: int, M: int, eps: float, *, t0_factor: float = 3.0, tmax_factor: float = 3.0
) -> dict[str, int]:
    r"""Default round count, rollouts and horizons of Sparse Edge Search, from :math:`(K, M, \varepsilon)`.

    .. math::

        R = \lceil 2K\ln K\rceil,\quad N = \lceil 2\ln K\rceil,\quad
        T_0 = \lceil c_0\, M \ln M\rceil,\quad
        T_{\max} = \lceil c_1 (M/\varepsilon) \ln K\rceil,

    with :math:`c_0 = c_1 = 3` (project notes §8, experiment S1). :math:`R` is a coupon-collector
    count over the clusters and :math:`N` makes every round succeed by a union bound (notes §3);
    :math:`T_0` exceeds the cover time :math:`M H_M \approx M\ln M` of a complete cluster and
    :math:`T_{\max}` gives each rollout probability :math:`1 - K^{-c_1}` of leaving a cluster whose
    exit takes about :math:`M/\varepsilon` steps. Logarithms are natural; :math:`R, N \ge 1` and
    :math:`T_{\max} > T_0`.

    Parameters
    ----------
    K, M : int
        Number of clusters and (largest) cluster size.
    eps : float
        Sparse-edge probability scale :math:`\varepsilon`.
    t0_factor, tmax_factor : float
        The constants :math:`c_0, c_1`.

    Returns
    -------
    dict
        ``{"R", "N", "T0", "T_max"}``, ready for ``sparse_edge_search(chain, **params)``.

    Examples
    --------
    >>> search_parameters(4, 16, 1e-3)
    {'R': 12, 'N': 3, 'T0': 134, 'T_max': 66543}
    """
    K, M = int(K), int(M)
    if K < 1 or M < 1 or not (0 < eps <= 1):
        raise InvalidChainError(f"need K >= 1, M >= 1 and 0 < eps <= 1; got K={K}, M={M}, eps={eps}")
    lk = math.log(K)
    T0 = max(1, math.ceil(t0_factor * M * math.log(M)))
    T_max = max(T0 + 1, math.ceil(tmax_factor * (M / eps) * lk))
    return {
        "R": max(1, math.ceil(2 * K * lk)),
        "N": max(1, math.ceil(2 * lk)),
        "T0": T0,
        "T_max": T_max,
    }


# --------------------------------------------------------------------------- the kernel
@njit(inline="always", cache=True)
def _mark(x, r, gid, stamp, seen_by, support):
    """Add ``x`` to the round-``r`` set Ĉ and count rollout ``gid`` once in its support.

    Returns 1 when ``x`` is new to Ĉ (so the caller can count |Ĉ|). Stamping by round number
    avoids clearing arrays of size n every round.
    """
    new = 0
    if stamp[x] != r:
        stamp[x] = r
        support[x] = 0
        new = 1
    if seen_by[x] != gid:
        seen_by[x] = gid
        support[x] += 1
    return new


@njit(cache=True)
def _phase1(table, is_target, x0, r, N, T0, k0, k1, stop_at_target,
            stamp, seen_by, support, pos, rng, done, stop_t):
    """Run the N rollouts of round r for T0 steps from x0; fill Ĉ (via stamp) and return |Ĉ|.

    Rollout j is walker ``gid = rN + j`` of the Philox stream; ``rng[j]`` keeps value ``b`` of
    its last draw, which serves step T0 + 1 when T0 is odd.
    """
    chat = 0
    for j in range(N):
        gid = r * N + j
        x = x0
        chat += _mark(x, r, gid, stamp, seen_by, support)
        hit = stop_at_target and is_target[x]
        t = 0
        b = np.uint64(0)
        while t < T0 and not hit:
            if t & 1 == 0:  # steps t + 1 and t + 2 share one draw
                u, b = philox_pair(np.uint64(t >> 1), np.uint64(gid), k0, k1)
            else:
                u = b
            x = alias_step(table, x, u)
            t += 1
            chat += _mark(x, r, gid, stamp, seen_by, support)
            hit = stop_at_target and is_target[x]
        pos[j] = x
        rng[j] = b
        done[j] = hit
        stop_t[j] = t
    return chat


@njit(cache=True)
def _phase2(table, is_target, r, N, T_max, k0, k1, each_mode, need, stop_at_target,
            stamp, support, pos, rng, done, stop_t, esc_t, esc_x, esc_y, esc_rec):
    """Advance the rollouts in lockstep until they leave Ĉ, reach the target or reach T_max.

    Lockstep (time-major) order simulates exactly the steps the parallel rollouts take: in
    ``"first"`` mode nothing is simulated past the earliest recorded exit, whose ties go to the
    lowest rollout index. Returns that rollout's index, or -1 when no exit was recorded.
    """
    active = np.zeros(N, np.bool_)
    n_active = 0
    t0 = 0
    for j in range(N):
        esc_t[j] = -1
        esc_rec[j] = False
        active[j] = not done[j]
        n_active += active[j]
        t0 = max(t0, stop_t[j])
    best_j = -1
    t = t0
    while n_active > 0 and t < T_max:
        t += 1
        for j in range(N):
            if not active[j]:
                continue
            if (t - 1) & 1 == 0:  # step t opens a fresh draw; its value b serves step t + 1
                u, b = philox_pair(np.uint64((t - 1) >> 1), np.uint64(r * N + j), k0, k1)
                rng[j] = b
            else:
                u = rng[j]
            x = pos[j]
            y = alias_step(table, x, u)
            stop_t[j] = t
            if stamp[y] != r:
                esc_t[j] = t
                esc_x[j] = x
                esc_y[j] = y
                esc_rec[j] = support[x] >= need
                active[j] = False
                n_active -= 1
                if esc_rec[j] and best_j < 0:
                    best_j = j
                    if not each_mode:
                        return best_j
                continue
            pos[j] = y
            if stop_at_target and is_target[y]:
                done[j] = True
                active[j] = False
                n_active -= 1
    return best_j


@njit(cache=True)
def _search_kernel(table, is_target, start, R, N, T0, T_max, k0, k1,
                   continue_mode, each_mode, need, stop_at_target,
                   edge_src, edge_dst, edge_round, r_start, r_chat, r_found, r_steps, r_end, r_outcome):
    """All R rounds of the search; writes per-round diagnostics and the recorded exits.

    Returns the number of recorded exits (with repeats) written to ``edge_*``.
    """
    n = is_target.size
    stamp = np.full(n, -1, np.int64)
    seen_by = np.full(n, -1, np.int64)
    support = np.zeros(n, np.int64)
    pos = np.empty(N, np.int64)
    rng = np.empty(N, np.uint64)
    done = np.empty(N, np.bool_)
    stop_t = np.empty(N, np.int64)
    esc_t = np.empty(N, np.int64)
    esc_x = np.empty(N, np.int64)
    esc_y = np.empty(N, np.int64)
    esc_rec = np.empty(N, np.bool_)
    x0 = start
    n_edges = 0
    for r in range(R):
        r_start[r] = x0
        r_chat[r] = _phase1(table, is_target, x0, r, N, T0, k0, k1, stop_at_target,
                            stamp, seen_by, support, pos, rng, done, stop_t)
        if done.any():
            # A rollout found the answer in phase 1: stopped rollouts left Ĉ incomplete, so the
            # round ends here instead of mistaking unvisited states of the answer's cluster for exits.
            esc_t[:] = -1
            esc_rec[:] = False
            best = -1
        else:
            best = _phase2(table, is_target, r, N, T_max, k0, k1, each_mode, need, stop_at_target,
                           stamp, support, pos, rng, done, stop_t, esc_t, esc_x, esc_y, esc_rec)
        t_end = stop_t.max()
        if best >= 0 and not each_mode:
            t_end = esc_t[best]
        steps = 0
        for j in range(N):
            steps += min(stop_t[j], t_end)
        found = 0
        for j in range(N):
            if esc_rec[j] and (each_mode or j == best):
                edge_src[n_edges] = esc_x[j]
                edge_dst[n_edges] = esc_y[j]
                edge_round[n_edges] = r
                n_edges += 1
                found += 1
        # The earliest unrecorded exit within the round, used when nothing was recorded.
        first_any = -1
        for j in range(N):
            if esc_t[j] >= 0 and esc_t[j] <= t_end and (first_any < 0 or esc_t[j] < esc_t[first_any]):
                first_any = j
        if best >= 0:
            outcome = 0
        elif first_any >= 0:
            outcome = 1
        elif done.any():
            outcome = 2
        else:
            outcome = 3
        r_found[r] = found
        r_steps[r] = steps
        r_end[r] = t_end
        r_outcome[r] = outcome
        if continue_mode and best >= 0:
            x0 = esc_y[best]
        elif continue_mode and first_any >= 0:
            x0 = esc_y[first_any]
        else:
            x0 = start
    return n_edges


# --------------------------------------------------------------------------- public API
@dataclass(frozen=True)
class SearchResult:
    r"""What :func:`sparse_edge_search` found and what it cost.

    Attributes
    ----------
    edges : ndarray of int64, shape (m, 2)
        The discovered edge set :math:`\hat E` as distinct ``(source, destination)`` rows, sorted.
    first_round : ndarray of int64, shape (m,)
        Round in which each edge was first recorded.
    steps : int
        Total chain-of-thought steps spent, summed over rounds and rollouts (the search cost).
    rounds : pandas.DataFrame
        One row per round: ``start`` (state the rollouts start from), ``c_hat`` (:math:`|\hat C|`),
        ``found`` (exits recorded), ``steps``, ``end_time`` (time step at which the round ended)
        and ``outcome`` (one of :data:`OUTCOMES`).
    params : dict
        The parameters the search ran with (``seed`` is the integer seed actually used, also when
        a ``Generator`` was passed).
    """

    edges: np.ndarray
    first_round: np.ndarray
    steps: int
    rounds: pd.DataFrame
    params: dict[str, Any]


def _start_state(chain: Chain, start: int | None) -> int:
    s = chain.start if start is None else start
    if s is None or not isinstance(s, (int, np.integer)):
        raise InvalidChainError(
            "sparse_edge_search needs a single start state: the chain has "
            f"{'no start' if s is None else 'a start distribution'}; pass start=<state>"
        )
    if not 0 <= int(s) < chain.n_states:
        raise InvalidChainError(f"start {int(s)} is not a state of a chain with {chain.n_states} states")
    return int(s)


def sparse_edge_search(
    chain: Chain,
    *,
    R: int,
    N: int,
    T0: int,
    T_max: int,
    seed: int | np.random.Generator = 0,
    start: int | None = None,
    advance: Literal["continue", "restart"] = "continue",
    round_ends: Literal["first", "each"] = "first",
    min_support: int = 2,
    stop_at_target: bool = True,
) -> SearchResult:
    r"""Sparse Edge Search (Algorithm 2 of the paper; reconstructed, see the module notes).

    Round :math:`r = 1, \dots, R` launches :math:`N` rollouts of the chain from the current state
    :math:`x_r`. Phase 1 (:math:`t \le T_0`) collects the visited set

    .. math:: \hat C_r = \{X^{(j)}_t : 1 \le j \le N,\ 0 \le t \le T_0\},

    the current dense cluster when :math:`T_0` exceeds its cover time and :math:`T_0 \ll M/\varepsilon`.
    Phase 2 (:math:`T_0 < t \le T_{\max}`) waits for the first transition
    :math:`(X_{t-1}, X_t) = (x', y')` with :math:`y' \notin \hat C_r`; it is recorded,
    :math:`\hat E \leftarrow \hat E \cup \{(x', y')\}`, when :math:`x'` was visited in phase 1 by
    at least ``min_support`` rollouts. With ``advance="continue"`` the next round starts from
    :math:`y'`. The paper's Prop. 3.3 says that with :math:`R = \Theta(K\log K)`,
    :math:`N = \Theta(\log K)` all sparse edges are found w.h.p. at a cost of
    :math:`\tilde\Theta(KM/\varepsilon)` steps.

    Parameters
    ----------
    chain : Chain
        The model to sample chains of thought from (the pretrained :math:`\hat p`).
    R, N : int
        Rounds and rollouts per round (:func:`search_parameters` gives the defaults of the notes).
    T0, T_max : int
        End of phase 1 and of phase 2, in steps from the start of the round; :math:`T_{\max} > T_0`.
    seed : int or numpy.random.Generator
        A seed in :math:`[0, 2^{64})`, or a generator from which one is drawn; the result is a
        deterministic function of the seed. Rollout :math:`j` of round :math:`r` walks as walker
        :math:`rN + j` of :func:`metacot.simulate` with this seed (module notes).
    start : int, optional
        Overrides ``chain.start`` (which must otherwise be a single state).
    advance, round_ends, min_support, stop_at_target
        Reconstruction choices [R], documented in the module notes.

    Returns
    -------
    SearchResult

    Examples
    --------
    >>> from metacot.markov.families import line_of_cliques
    >>> chain = line_of_cliques(K=4, M=8, eps=1e-3)
    >>> res = sparse_edge_search(chain, **search_parameters(4, 8, 1e-3), seed=1)
    >>> res.edges.tolist()
    [[7, 8], [15, 16], [23, 24]]
    """
    R, N, T0, T_max, min_support = (
        positive_int(v, name, minimum=0)
        for v, name in ((R, "R"), (N, "N"), (T0, "T0"), (T_max, "T_max"), (min_support, "min_support"))
    )
    if R < 1 or N < 1 or T0 < 0 or T_max <= T0 or min_support < 1:
        raise InvalidChainError(
            f"need R >= 1, N >= 1, 0 <= T0 < T_max and min_support >= 1; got R={R}, N={N}, "
            f"T0={T0}, T_max={T_max}, min_support={min_support}"
        )
    if advance not in ("continue", "restart"):
        raise InvalidChainError(f"advance must be 'continue' or 'restart', got {advance!r}")
    if round_ends not in ("first", "each"):
        raise InvalidChainError(f"round_ends must be 'first' or 'each', got {round_ends!r}")
    x0 = _start_state(chain, start)
    seed = as_seed_int(seed)
    k0, k1 = seed_key(seed)
    P = chain.P
    table = transition_table(P)
    is_target = np.zeros(chain.n_states, dtype=np.bool_)
    if chain.target is not None:
        is_target[chain.target] = True
    cap = R * N
    src, dst, rnd = (np.empty(cap, np.int64) for _ in range(3))
    r_cols = {k: np.empty(R, np.int64) for k in ("start", "c_hat", "found", "steps", "end_time", "outcome")}
    n_rec = _search_kernel(
        table, is_target, x0, R, N, T0, T_max, k0, k1, advance == "continue", round_ends == "each",
        min(min_support, N), bool(stop_at_target), src, dst, rnd, r_cols["start"], r_cols["c_hat"], r_cols["found"],
        r_cols["steps"], r_cols["end_time"], r_cols["outcome"],
    )
    code = src[:n_rec] * chain.n_states + dst[:n_rec]
    # np.unique's return_index gives the first occurrence, i.e. the round of first discovery.
    uniq, first = np.unique(code, return_index=True)
    edges = np.column_stack([uniq // chain.n_states, uniq % chain.n_states]).astype(np.int64)
    rounds = pd.DataFrame(r_cols)
    rounds["outcome"] = pd.Categorical.from_codes(rounds["outcome"], OUTCOMES)
    params = {"R": R, "N": N, "T0": T0, "T_max": T_max, "seed": seed,
              "start": x0, "advance": advance, "round_ends": round_ends, "min_support": min_support,
              "stop_at_target": bool(stop_at_target)}
    return SearchResult(edges, rnd[:n_rec][first], int(rounds["steps"].sum()), rounds, params)


def true_sparse_edges(chain: Chain) -> np.ndarray:
    r"""The chain's sparse edges: the transitions between different clusters.

    .. math:: E_s = \{(x, y) : P_{xy} > 0,\ \iota(x) \ne \iota(y)\}

    Parameters
    ----------
    chain : Chain
        With ``clusters`` set.

    Returns
    -------
    ndarray of int64, shape (m, 2)
        Sorted ``(source, destination)`` rows.

    Examples
    --------
    >>> from metacot.markov.families import line_of_cliques
    >>> true_sparse_edges(line_of_cliques(K=3, M=4, eps=0.1)).tolist()
    [[3, 4], [7, 8]]
    """
    if chain.clusters is None:
        raise InvalidChainError("true_sparse_edges needs a chain with clusters")
    coo = chain.P.tocoo()
    c = chain.clusters
    cross = c[coo.row] != c[coo.col]
    code = np.unique(coo.row[cross].astype(np.int64) * chain.n_states + coo.col[cross])
    return np.column_stack([code // chain.n_states, code % chain.n_states]).astype(np.int64)


def _edge_codes(edges: Any, what: str) -> np.ndarray:
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2) if len(edges) else np.empty((0, 2), np.int64)
    if e.size and e.min() < 0:
        raise InvalidChainError(f"{what} has a negative state index")
    # Pairs are compared as (x, y) tuples via a structured view, independent of the state count.
    return np.unique(e.view([("x", np.int64), ("y", np.int64)]).ravel())


def precision_recall(found: Any, true_edges: Any) -> tuple[float, float]:
    r"""Precision and recall of a discovered edge set against the true one.

    .. math::

        \text{precision} = \frac{|\hat E \cap E_s|}{|\hat E|}, \qquad
        \text{recall} = \frac{|\hat E \cap E_s|}{|E_s|},

    with the conventions precision = 1 for :math:`\hat E = \emptyset` (no false positive) and
    recall = 1 for :math:`E_s = \emptyset`.

    Parameters
    ----------
    found, true_edges : array_like of int, shape (m, 2)
        Edges as ``(source, destination)`` pairs; repeats are ignored.

    Returns
    -------
    (float, float)

    Examples
    --------
    >>> precision_recall([[3, 4], [1, 2]], [[3, 4], [7, 8]])
    (0.5, 0.5)
    """
    f, t = _edge_codes(found, "found"), _edge_codes(true_edges, "true_edges")
    hits = np.intersect1d(f, t).size
    precision = hits / f.size if f.size else 1.0
    recall = hits / t.size if t.size else 1.0
    return float(precision), float(recall)


def prm_chain(chain: Chain, edges: Any, eps_max: float) -> Chain:
    r"""The PRM-guided chain: discovered edges are taken with probability :math:`\varepsilon_{\max}`.

    For every source :math:`x` with discovered edges :math:`\hat E(x) = \{y : (x, y) \in \hat E\}`
    (project notes §3, PRM mode),

    .. math::

        p_{\mathrm{PRM}}(x, y) =
        \begin{cases}
            \varepsilon_{\max} & y \in \hat E(x), \\
            \dfrac{1 - \varepsilon_{\max}|\hat E(x)|}{\sum_{z \notin \hat E(x)} P_{xz}}\, P_{xy}
                & \text{otherwise,}
        \end{cases}

    and rows without a discovered edge are unchanged. For family A with :math:`\hat E = E_s` the
    result is ``line_of_cliques(K, M, eps_max)``, so
    :math:`\mathbb E[\tau_{\mathrm{PRM}}] = (K-1)(M/\varepsilon_{\max} + 1) + M`.

    Parameters
    ----------
    chain : Chain
    edges : array_like of int, shape (m, 2)
        Discovered edges; each must be a transition of ``chain`` (non-zero :math:`P_{xy}`).
    eps_max : float
        PRM probability, with :math:`\varepsilon_{\max}|\hat E(x)| \le 1` on every source.

    Returns
    -------
    Chain
        Same clusters, start, target and labels.

    Raises
    ------
    InvalidChainError
        If an edge is not a transition of the chain, or a row cannot hold its discovered edges.

    Examples
    --------
    >>> from metacot import exact
    >>> from metacot.markov.families import line_of_cliques
    >>> chain = line_of_cliques(K=4, M=16, eps=1e-3)
    >>> round(exact.mean_hitting_time(prm_chain(chain, true_sparse_edges(chain), 0.1)), 6)
    499.0
    """
    if not (np.isfinite(eps_max) and 0 < eps_max <= 1):
        raise InvalidChainError(f"eps_max must be in (0, 1], got {eps_max!r}")
    codes = _edge_codes(edges, "edges")
    P = chain.P
    data = P.data.copy()
    rows = np.repeat(np.arange(chain.n_states), np.diff(P.indptr))
    is_edge = np.zeros(data.size, dtype=bool)
    pairs = np.column_stack([codes["x"], codes["y"]]).astype(np.int64)
    is_edge[entry_positions(P.indptr, P.indices, pairs, "the chain")] = True
    n_edge = np.bincount(rows[is_edge], minlength=chain.n_states)
    rest = np.bincount(rows[~is_edge], weights=data[~is_edge], minlength=chain.n_states)
    sources = np.flatnonzero(n_edge)
    budget = 1.0 - eps_max * n_edge[sources]
    bad = (budget < -1e-15) | ((budget > 1e-15) & (rest[sources] <= 0))
    if bad.any():
        x = int(sources[np.flatnonzero(bad)[0]])
        raise InvalidChainError(
            f"row {x} cannot give probability {eps_max} to each of its {n_edge[x]} discovered edges"
        )
    scale = np.ones(chain.n_states)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale[sources] = np.where(rest[sources] > 0, np.maximum(budget, 0.0) / rest[sources], 0.0)
    data = np.where(is_edge, eps_max, data * scale[rows])
    new = sp.csr_array((data, P.indices, P.indptr), shape=P.shape)
    return Chain(new, clusters=chain.clusters, start=chain.start, target=chain.target, labels=chain.labels)
