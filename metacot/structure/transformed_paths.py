r"""Exact laws of transformed paths of a lifted chain: thinning, censoring, merging runs.

The transformations of :mod:`metacot.traces.transforms` that act on the behaviour sequence alone map
a lifted chain's path (:mod:`metacot.structure.lifted`) to a shorter one. For three of them the
transformed path is again the path of a lifted chain, in closed form:

* :func:`thinned` -- every step kept independently with probability :math:`q` (Bernoulli
  thinning; the model of random step dropping, :func:`metacot.traces.transforms.drop_random`);
* :func:`censored` -- the steps of some behaviours removed
  (:func:`metacot.traces.transforms.drop_behaviours`): the path watched on the others only;
* :func:`jump_chain` -- each run of equal behaviours merged into one step
  (:func:`metacot.traces.transforms.merge_runs`).

Each returns a :class:`~metacot.structure.lifted.PathLaw`.

Examples
--------
>>> from metacot.structure.lifted import lift
>>> c = lift([[0.5, 0.25], [0.0, 0.5]], [0.25, 0.5], [1.0, 0.0])
>>> jump_chain(c).Q.tolist()
[[0.0, 0.5], [0.0, 0.0]]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from metacot.behaviours import Behaviour
from metacot.errors import InvalidArgumentError
from metacot.markov.chain import Chain
from metacot.structure.lifted import PathLaw, lifted_parts, path_law

__all__ = ["censored", "jump_chain", "thinned"]


def thinned(chain: Chain, keep: float) -> PathLaw:
    r"""Law of the path with every step kept independently with probability :math:`q` = ``keep``.

    Write :math:`R = (I - (1-q) Q)^{-1} = \sum_{m \ge 0} ((1-q)Q)^m`: a stretch of :math:`m`
    consecutive dropped steps contributes :math:`((1-q)Q)^m`. Conditioning on the dropped
    stretches between kept steps,

    * **kernel** from a kept step to the next kept step: one original step, then :math:`m \ge 0`
      dropped ones, then a kept one,
      :math:`Q_q = \sum_m Q ((1-q) Q)^m q = q\, Q R` (:math:`Q` and :math:`R` commute);
    * **exit** from a kept step: the answer comes before the next kept step,
      :math:`a_q = \sum_m ((1-q) Q)^m a = R a`; indeed :math:`Q_q \mathbf 1 + a_q = \mathbf 1`
      because :math:`q Q \mathbf 1 + a = q \mathbf 1 + (1-q) a` and
      :math:`R (q\mathbf 1 + (1-q)a) = R (I - (1-q)Q) \mathbf 1 = \mathbf 1`;
    * **first kept step**: :math:`m \ge 0` dropped steps first, unnormalised law :math:`q\, \mu R`;
    * **empty path**: every step dropped,
      :math:`p_\emptyset = \mathbb E[(1-q)^n] = (1-q)\, \mu R a = 1 - q\, \mu R \mathbf 1`.

    Given it kept a step, the thinned path is again a lifted-chain path (the dropped stretches
    are independent given their end points), with start law :math:`q \mu R / (1 - p_\emptyset)`.
    The mean number of kept steps is :math:`q\,\mathbb E[n]`. Thinning composes:
    thinning by :math:`q_1` then :math:`q_2` is thinning by :math:`q_1 q_2`.

    :func:`metacot.traces.transforms.drop_random` drops an exact number of steps,
    :math:`\mathrm{round}(f n)`, not each step independently; its law differs from this one by
    terms of order :math:`1/n` per path and is never empty for :math:`f < 1`.

    Parameters
    ----------
    chain : Chain
        A lifted chain (see :func:`lifted_parts`).
    keep : float in (0, 1]
        :math:`q`, the probability that a step is kept (1 keeps the chain as it is).

    Returns
    -------
    PathLaw
        Every behaviour the original path can visit stays reachable; unreachable rows are
        transformed by the same formulas.

    Raises
    ------
    InvalidArgumentError
        If ``keep`` is not a number in (0, 1].
    InvalidChainError
        If ``chain`` is not a lifted chain.

    Examples
    --------
    >>> from metacot.structure.lifted import lift
    >>> c = lift([[0.0, 0.5], [0.5, 0.0]], [0.5, 0.5], [1.0, 0.0])
    >>> law = thinned(c, 0.5)
    >>> round(law.p_empty, 12), law.Q.round(4).tolist()
    (0.333333333333, [[0.0667, 0.2667], [0.2667, 0.0667]])
    """
    if isinstance(keep, (bool, np.bool_)) or not isinstance(keep, (int, float, np.integer, np.floating)):
        raise InvalidArgumentError(f"thinned: keep must be a number in (0, 1], got {keep!r}")
    q = float(keep)
    if not (0.0 < q <= 1.0):
        raise InvalidArgumentError(
            f"thinned: keep must lie in (0, 1] (the probability that a step survives), got {keep!r}"
        )
    p = lifted_parts(chain, where="thinned")
    A = np.eye(p.k) - (1.0 - q) * p.Q
    RQ = np.linalg.solve(A, p.Q)  # R Q = Q R
    Ra = np.linalg.solve(A, p.a)
    muR = np.linalg.solve(A.T, p.mu)  # mu R
    return path_law(q * RQ, Ra, q * muR, (1.0 - q) * float(muR @ p.a), p.labels, "thinned")


def _state_set(chain: Chain, states: Any, what: str, where: str) -> np.ndarray:
    """Behaviour indices from ints or labels (one label may be a plain str)."""
    k = chain.n_states - 1
    if isinstance(states, (str, Behaviour)) or isinstance(states, (int, np.integer)):
        states = [states]
    try:
        items = list(states)
    except TypeError:
        raise InvalidArgumentError(f"{where}: {what} must be behaviour indices or names, got {states!r}") from None
    out = []
    for s in items:
        if isinstance(s, (bool, np.bool_)):
            raise InvalidArgumentError(f"{where}: {what} holds {s!r}, not a behaviour index or name")
        if isinstance(s, (int, np.integer)):
            if not 0 <= int(s) < k:
                raise InvalidArgumentError(f"{where}: {what} index {int(s)} is not a behaviour state 0..{k - 1}")
            out.append(int(s))
            continue
        name = s.value if isinstance(s, Behaviour) else s
        if not isinstance(name, str):
            raise InvalidArgumentError(f"{where}: {what} holds {s!r}, not a behaviour index or name")
        labels = chain.labels[:k] if chain.labels is not None else ()
        if name not in labels:
            raise InvalidArgumentError(
                f"{where}: {what} names {name!r}, which is not a behaviour state of the chain {list(labels)}"
            )
        out.append(labels.index(name))
    return np.unique(np.asarray(out, dtype=np.int64))


def censored(chain: Chain, hidden: Any) -> PathLaw:
    r"""Law of the path with every step of the ``hidden`` behaviours removed.

    This is :func:`metacot.traces.transforms.drop_behaviours` on the behaviour sequence: the path
    watched only while it is in the visible set :math:`V` (the complement :math:`H` of
    ``hidden``). With :math:`N_H = (I - Q_{HH})^{-1}` (expected visits inside :math:`H` before
    leaving it), an excursion into :math:`H` from a visible step ends in :math:`V` or at the
    answer, so

    * **kernel** on :math:`V`: the stochastic complement
      :math:`Q_V = Q_{VV} + Q_{VH} N_H Q_{HV}`;
    * **exit**: :math:`a_V' = a_V + Q_{VH} N_H a_H = \mathbf 1 - Q_V \mathbf 1`;
    * **first visible step**: unnormalised :math:`\mu_V + \mu_H N_H Q_{HV}`;
    * **empty path** (the path never leaves :math:`H`): :math:`p_\emptyset = \mu_H N_H a_H`.

    Censoring :math:`H_1` and then :math:`H_2` gives the same law as censoring
    :math:`H_1 \cup H_2` (the quotient property of Schur complements). The expected number of
    visible steps is :math:`(\mu N)_V \mathbf 1 = (1 - p_\emptyset)\,\mathbb E[n']`.

    **Shape.** The chain keeps all :math:`k` behaviours (so matrices stay comparable with the
    original graph). A hidden behaviour :math:`h` is never visited; its row is the *entrance
    law* -- where a path standing in :math:`h` would next be seen: :math:`(N_H Q_{HV})_{h\cdot}`
    on :math:`V`, exit :math:`(N_H a_H)_h`, and 0 on every hidden column. Nothing enters a
    hidden state and the start law puts no mass there, so these rows change no path quantity;
    they make the result a valid chain and make repeated censoring compose exactly.

    Parameters
    ----------
    chain : Chain
        A lifted chain (see :func:`lifted_parts`).
    hidden : int, str, Behaviour or iterable of them
        The behaviours to remove, by index or by label; a non-empty proper subset of the
        behaviour states (duplicates are ignored).

    Returns
    -------
    PathLaw

    Raises
    ------
    InvalidArgumentError
        For an unknown behaviour, an empty ``hidden``, or one that hides every behaviour; or
        if the censored path is empty almost surely (the start law lives on hidden states from
        which no visible state is reachable).

    Examples
    --------
    >>> from metacot.structure.lifted import lift
    >>> c = lift([[0.0, 0.5], [0.5, 0.0]], [0.5, 0.5], [1.0, 0.0], ["x", "y", "answer"])
    >>> law = censored(c, "y")
    >>> law.Q.tolist(), law.a.tolist()
    ([[0.25, 0.0], [0.5, 0.0]], [0.75, 0.5])
    """
    where = "censored"
    p = lifted_parts(chain, where=where)
    H = _state_set(chain, hidden, "hidden", where)
    if H.size == 0:
        raise InvalidArgumentError(f"{where}: hidden is empty; nothing would be removed")
    if H.size == p.k:
        raise InvalidArgumentError(f"{where}: hidden lists every behaviour state; every path would be empty")
    V = np.setdiff1d(np.arange(p.k), H)
    Q, a, mu = p.Q, p.a, p.mu
    I_H = np.eye(H.size)
    # N_H [Q_HV | a_H]: where an excursion into H that starts in h comes out (visible state or answer).
    out = np.linalg.solve(I_H - Q[np.ix_(H, H)], np.column_stack([Q[np.ix_(H, V)], a[H]]))
    enter_V, enter_ans = out[:, :-1], out[:, -1]
    Qn = np.zeros((p.k, p.k))
    an = np.zeros(p.k)
    Qn[np.ix_(V, V)] = Q[np.ix_(V, V)] + Q[np.ix_(V, H)] @ enter_V
    an[V] = a[V] + Q[np.ix_(V, H)] @ enter_ans
    Qn[np.ix_(H, V)] = enter_V  # placeholder rows: the entrance law (see Shape above)
    an[H] = enter_ans
    start = np.zeros(p.k)
    start[V] = mu[V] + mu[H] @ enter_V
    return path_law(Qn, an, start, float(mu[H] @ enter_ans), p.labels, where)


def jump_chain(chain: Chain) -> PathLaw:
    r"""Law of the path with each run of equal behaviours merged into one step.

    This is :func:`metacot.traces.transforms.merge_runs` on the behaviour sequence. A run in :math:`i`
    lasts a geometric number of steps and then leaves :math:`i`; given that it leaves, it goes
    to :math:`j \ne i` or to the answer in proportion to :math:`Q_{ij}` and :math:`a_i`:

    .. math:: (Q_J)_{ij} = \frac{Q_{ij}}{1 - Q_{ii}} \ (j \ne i), \qquad (Q_J)_{ii} = 0, \qquad
              (a_J)_i = \frac{a_i}{1 - Q_{ii}},

    and the start law is unchanged (the first run starts at the first step). The mean number of
    runs is :math:`\sum_i (\mu N)_i (1 - Q_{ii})` (every run ends once, by a change or by the
    answer). A chain without self-loops is its own jump chain, and :func:`jump_chain` is
    idempotent. :math:`Q_{ii} < 1` always holds, because every behaviour is transient.

    Parameters
    ----------
    chain : Chain
        A lifted chain (see :func:`lifted_parts`).

    Returns
    -------
    PathLaw
        ``p_empty = 0``; reachability is that of the original chain.

    Examples
    --------
    >>> from metacot.structure.lifted import lift
    >>> c = lift([[0.5, 0.25], [0.0, 0.5]], [0.25, 0.5], [1.0, 0.0])
    >>> jump_chain(c).Q.tolist(), jump_chain(c).a.tolist()
    ([[0.0, 0.5], [0.0, 0.0]], [0.5, 1.0])
    """
    p = lifted_parts(chain, where="jump_chain")
    stay = np.diag(p.Q).copy()
    leave = 1.0 - stay
    Qn = p.Q / leave[:, None]
    np.fill_diagonal(Qn, 0.0)
    return path_law(Qn, p.a / leave, p.mu.copy(), 0.0, p.labels, "jump_chain")
