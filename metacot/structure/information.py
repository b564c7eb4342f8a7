r"""Per-step information of one trajectory, its changes, and the paper's exploration/validation phases.

Chen et al. (2026), *The Molecular Structure of Thought*
(arXiv:2601.06002, Figure 10 and Appendix D.3; our notes ``papers/notes/molecular_paper.md``
§4.11) follow the entropy :math:`I_t` of a per-step "semantic probability representation"
:math:`p_t` of the reasoning state, and read two phases off the phase plane
:math:`(I_t, \Delta I_t)`:

.. math::
    \Delta I_t = I_t - I_{t-1}, \qquad
    m_t = \frac{\Delta I_t - \Delta I_{t-1}}{I_t - I_{t-1}} ,

high-entropy **exploration** when :math:`m_t > 0.6` and :math:`\Delta I_t > 0.05`, low-entropy
**validation** when :math:`m_t \approx 0` and :math:`|\Delta I_t| < 0.05`; strong reasoners
alternate between them ("metacognitive oscillation").

Our formalisation, where the paper is vague
-------------------------------------------
* :math:`I_t` is the entropy of the reasoning state *after* step :math:`t` -- a distribution
  that conditions on everything up to :math:`t`, hence "cumulative" -- not a running sum of
  per-step entropies (a running sum of non-negative terms could not have the negative
  :math:`\Delta I_t` that the paper's :math:`|\Delta I_t|` allows). Entropies are normalised to
  :math:`[0, 1]` by the log of the support size, so the paper's absolute thresholds (0.05, 0.1)
  have one meaning for every state space.
* The paper gets :math:`p_t` from an LLM used as a probabilistic encoder (IF-Track); we have two
  model-free maps: :func:`predictive_entropy`, the entropy of the next-behaviour distribution
  :math:`P(\cdot \mid b_t)` of a behaviour graph (the same function for a real trace's labels and
  a simulated chain path, so chains and traces are measured alike), and
  :func:`semantic_entropy`, the entropy of a softmax attention of step :math:`t`'s embedding over
  the earlier steps (low when the step points back at a few specific earlier steps, high when it
  relates to none in particular).
* :math:`m_t` is :math:`\Delta^2 I_t / \Delta I_t`; where :math:`\Delta I_t = 0` it is 0 if
  :math:`\Delta I_{t-1} = 0` too (no change, no acceleration) and :math:`\pm\infty` otherwise.
* ":math:`m_t \approx 0`" is :math:`|m_t| \le 0.2` (:data:`FLAT_SLOPE`): this step's change is
  within 20% of the last one's, a steady drift; 0.2 is a third of the exploration slope 0.6.
* Steps that meet neither rule are "other" (transitions); steps where :math:`m_t` is undefined
  (the first two, or missing :math:`I_t`) are "undefined" and left out of every share.

Examples
--------
>>> import numpy as np
>>> info = information_measures([0.5, 0.5, 0.5, 0.7, 0.7, 0.7])
>>> info.dI.round(3).tolist(), info.m.tolist()
([nan, 0.0, 0.0, 0.2, 0.0, 0.0], [nan, nan, 0.0, 1.0, -inf, 0.0])
>>> classify_phases(info).tolist()
[-2, -2, -1, 1, 0, -1]

How often a trajectory alternates between the phases is measured in
:mod:`metacot.structure.oscillation`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from metacot.errors import ArgumentTypeError, InvalidArgumentError
from metacot.markov.entropy import entropy

__all__ = [
    "EXPLORE",
    "EXPLORE_DELTA",
    "EXPLORE_SLOPE",
    "FLAT_DELTA",
    "FLAT_SLOPE",
    "OTHER",
    "TEMPERATURE",
    "UNDEFINED",
    "VALIDATE",
    "InformationSeries",
    "classify_phases",
    "information_measures",
    "predictive_entropy",
    "semantic_entropy",
]

#: Phase codes returned by :func:`classify_phases`.
EXPLORE, VALIDATE, OTHER, UNDEFINED = 1, -1, 0, -2

#: The paper's thresholds (notes §4.11): exploration needs :math:`m_t >` 0.6 and
#: :math:`\Delta I_t >` 0.05; validation needs :math:`|\Delta I_t| <` 0.05 and :math:`m_t \approx 0`.
EXPLORE_SLOPE = 0.6
EXPLORE_DELTA = 0.05
FLAT_DELTA = 0.05
#: Our reading of ":math:`m_t \approx 0`": :math:`|m_t| \le` 0.2 (see the module notes).
FLAT_SLOPE = 0.2
#: Softmax temperature of :func:`semantic_entropy` on cosine similarities.
TEMPERATURE = 0.1

_ATOL = 1e-12


def _floats(x: Any, name: str) -> np.ndarray:
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"{name} must be an array of numbers, got {type(x).__name__}") from None


def _matrix(P: Any) -> np.ndarray:
    if hasattr(P, "P") and not isinstance(P, np.ndarray):  # Chain or BehaviourGraph
        P = P.P
    if sp.issparse(P):
        P = P.toarray()
    M = _floats(P, "P")
    if M.ndim != 2 or M.shape[0] != M.shape[1] or M.shape[0] < 1:
        raise InvalidArgumentError(f"P must be a square matrix, got shape {M.shape}")
    if not np.all(np.isfinite(M)) or np.any(M < 0):
        raise InvalidArgumentError("P must be finite and non-negative")
    rows = np.abs(M.sum(axis=1) - 1) > 1e-9
    if rows.any():
        i = int(np.flatnonzero(rows)[0])
        raise InvalidArgumentError(f"row {i} of P sums to {float(M[i].sum())!r}, not 1")
    return M


def predictive_entropy(states: Any, P: Any, normalise: bool = True) -> np.ndarray:
    r"""Per-step information of a behaviour sequence: the entropy of the next-step distribution.

    .. math:: I_t = H\big(P(\cdot \mid x_t)\big) \,/\, \log k \quad (\text{normalised}),

    with :math:`k` the number of columns of :math:`P`. The same function measures a simulated
    chain path and a real trace's behaviour labels (mapped to indices of the same graph), which
    is what lets the two be compared.

    Parameters
    ----------
    states : array_like of int
        State indices :math:`x_t`; trailing ``-1`` padding (a finished walker) is dropped.
    P : array_like, scipy.sparse, Chain or BehaviourGraph
        Row-stochastic matrix.
    normalise : bool
        Divide by :math:`\log k` so that :math:`I_t \in [0, 1]`; otherwise nats.

    Returns
    -------
    ndarray of float, one value per (unpadded) step

    Examples
    --------
    >>> P = np.array([[0.5, 0.5], [1.0, 0.0]])
    >>> predictive_entropy([0, 1, 0, -1], P).tolist()
    [1.0, 0.0, 1.0]
    """
    M = _matrix(P)
    x = np.asarray(states)
    if x.ndim != 1 or not np.issubdtype(x.dtype, np.integer):
        raise InvalidArgumentError("states must be a 1-D integer sequence")
    valid = x >= 0
    n = int(np.argmin(valid)) if not valid.all() else x.shape[0]
    if np.any(valid[n:]):
        raise InvalidArgumentError(f"state -1 at step {n} is followed by a real state; padding must be trailing")
    x = x[:n]
    if n and x.max() >= M.shape[0]:
        raise InvalidArgumentError(f"state {int(x.max())} is out of range for a {M.shape[0]}-state P")
    rows = np.asarray(entropy(M, math.e), dtype=np.float64)
    h = rows[x]
    if normalise and M.shape[1] > 1:
        h = h / math.log(M.shape[1])
    return h


def semantic_entropy(
    embeddings: Any, temperature: float = TEMPERATURE, context: int | None = None
) -> np.ndarray:
    r"""Per-step information of an embedded trace: entropy of its attention over earlier steps.

    With unit vectors :math:`e_t` and the :math:`n_t` earlier steps in the context window,

    .. math::
        p_t(j) = \frac{\exp(e_t \cdot e_j / \tau)}{\sum_{j'} \exp(e_t \cdot e_{j'} / \tau)},
        \qquad I_t = \frac{H(p_t)}{\log n_t} \in [0, 1] .

    :math:`I_t` is low when step :math:`t` points back at a few specific earlier steps
    (checking, re-using a result) and high when it is about equally (dis)similar to all of them
    (a new direction). Undefined (NaN) while fewer than two earlier steps exist. The default
    :math:`\tau = 0.1` (:data:`TEMPERATURE`) makes a cosine gap of 0.23 -- typical between a
    step's closest earlier step and the rest for MiniLM embeddings -- a 10-fold weight ratio.

    Parameters
    ----------
    embeddings : array_like, shape (n, d)
        Normalised to unit length here (zero rows are refused).
    temperature : float
        :math:`\tau > 0`.
    context : int, optional
        Use only the last ``context`` steps (``>= 2``); default all earlier steps.

    Returns
    -------
    ndarray, shape (n,)

    Examples
    --------
    >>> E = np.array([[1.0, 0], [0, 1], [1, 0], [0.6, 0.8]])
    >>> semantic_entropy(E).round(3).tolist()
    [nan, nan, 0.001, 0.606]
    """
    E = _floats(embeddings, "embeddings")
    if E.ndim != 2 or E.shape[0] < 1:
        raise InvalidArgumentError(f"embeddings must be an (n, d) array, got shape {E.shape}")
    if not np.all(np.isfinite(E)):
        raise InvalidArgumentError("embeddings have non-finite entries")
    norms = np.linalg.norm(E, axis=1)
    if np.any(norms == 0):
        raise InvalidArgumentError(f"step {int(np.flatnonzero(norms == 0)[0])} has a zero embedding")
    if isinstance(temperature, (bool, np.bool_)) or not isinstance(temperature, (int, float, np.integer, np.floating)):
        raise ArgumentTypeError(f"temperature must be a number, got {temperature!r}")
    if not temperature > 0:
        raise InvalidArgumentError(f"temperature must be positive, got {temperature!r}")
    if context is not None and (isinstance(context, bool) or not isinstance(context, int) or context < 2):
        raise InvalidArgumentError(f"context must be an int >= 2 or None, got {context!r}")
    E = E / norms[:, None]
    S = E @ E.T / temperature
    out = np.full(E.shape[0], np.nan)
    for t in range(2, E.shape[0]):
        lo = 0 if context is None else max(0, t - context)
        z = S[t, lo:t]
        w = np.exp(z - z.max())
        p = w / w.sum()
        out[t] = entropy(p) / math.log(t - lo)
    return out


@dataclass(frozen=True)
class InformationSeries:
    r"""The per-step information measures of one trajectory.

    Attributes
    ----------
    I : ndarray
        :math:`I_t`.
    dI : ndarray
        :math:`\Delta I_t = I_t - I_{t-1}` (NaN at :math:`t = 0`).
    m : ndarray
        Phase slope :math:`m_t = (\Delta I_t - \Delta I_{t-1}) / \Delta I_t` (NaN at
        :math:`t \le 1`; conventions at :math:`\Delta I_t = 0` in the module notes).
    """

    I: np.ndarray  # noqa: E741 - the paper's symbol
    dI: np.ndarray
    m: np.ndarray

    def __len__(self) -> int:
        return int(self.I.shape[0])


def information_measures(I: Any) -> InformationSeries:  # noqa: E741
    r""":math:`\Delta I_t` and the phase slope :math:`m_t` of an information series :math:`I_t`.

    .. math::
        \Delta I_t = I_t - I_{t-1}, \qquad
        m_t = \frac{\Delta I_t - \Delta I_{t-1}}{I_t - I_{t-1}}
            = \frac{\Delta I_t - \Delta I_{t-1}}{\Delta I_t},

    with :math:`m_t = 0` when both changes are 0 and :math:`m_t = \pm\infty` when only
    :math:`\Delta I_t` is 0 (|changes| below 1e-12 count as 0). NaN inputs give NaN outputs.

    Examples
    --------
    >>> s = information_measures([1.0, 0.8, 0.5, 0.45])
    >>> s.dI.round(3).tolist(), s.m.round(3).tolist()
    ([nan, -0.2, -0.3, -0.05], [nan, nan, 0.333, -5.0])
    """
    arr = _floats(I, "I")
    if arr.ndim != 1:
        raise InvalidArgumentError(f"I must be one value per step, got shape {arr.shape}")
    if np.any(np.isinf(arr)):
        raise InvalidArgumentError("I has infinite entries")
    dI = np.full(arr.shape, np.nan)
    dI[1:] = np.diff(arr)
    m = np.full(arr.shape, np.nan)
    if arr.shape[0] > 2:
        num = dI[2:] - dI[1:-1]
        den = dI[2:]
        with np.errstate(divide="ignore", invalid="ignore"):
            val = num / den
        zero_den = np.abs(den) <= _ATOL
        val = np.where(zero_den & (np.abs(num) <= _ATOL), 0.0, val)
        val = np.where(zero_den & (np.abs(num) > _ATOL), np.copysign(np.inf, num), val)
        val = np.where(np.isnan(num) | np.isnan(den), np.nan, val)
        m[2:] = val
    return InformationSeries(arr, dI, m)


def classify_phases(
    info: InformationSeries,
    explore_slope: float = EXPLORE_SLOPE,
    explore_delta: float = EXPLORE_DELTA,
    flat_slope: float = FLAT_SLOPE,
    flat_delta: float = FLAT_DELTA,
) -> np.ndarray:
    r"""Label every step exploration, validation, other or undefined (the paper's state rules).

    .. math::
        \text{explore} &: m_t > s_e \ \text{and}\ \Delta I_t > \delta_e, \\
        \text{validate} &: |m_t| \le s_f \ \text{and}\ |\Delta I_t| < \delta_f,

    other steps with a defined :math:`m_t` are "other", the rest "undefined".

    Parameters
    ----------
    info : InformationSeries
    explore_slope, explore_delta : float
        :math:`s_e = 0.6`, :math:`\delta_e = 0.05` (the paper's).
    flat_slope, flat_delta : float
        :math:`s_f = 0.2` (ours, for ":math:`\approx 0`"), :math:`\delta_f = 0.05` (the paper's).

    Returns
    -------
    ndarray of int8
        :data:`EXPLORE` (1), :data:`VALIDATE` (-1), :data:`OTHER` (0), :data:`UNDEFINED` (-2).

    Examples
    --------
    >>> classify_phases(information_measures([0.0, 0.0, 0.3, 0.3, 0.3])).tolist()
    [-2, -2, 1, 0, -1]
    """
    if not isinstance(info, InformationSeries):
        raise InvalidArgumentError("classify_phases needs an InformationSeries (see information_measures)")
    for name, v in (("explore_delta", explore_delta), ("flat_slope", flat_slope), ("flat_delta", flat_delta)):
        if not v >= 0:
            raise InvalidArgumentError(f"{name} must be >= 0, got {v!r}")
    m, dI = info.m, info.dI
    out = np.full(m.shape, UNDEFINED, dtype=np.int8)
    defined = ~np.isnan(m)
    out[defined] = OTHER
    with np.errstate(invalid="ignore"):
        out[defined & (m > explore_slope) & (dI > explore_delta)] = EXPLORE
        out[defined & (np.abs(m) <= flat_slope) & (np.abs(dI) < flat_delta)] = VALIDATE
    return out
