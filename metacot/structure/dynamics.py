r"""Entropy dynamics, one vocabulary for Markov chains and reasoning traces.

Two views of "entropy over time" meet here.

**Chains.** The state distribution :math:`\mu_t = \mu_0 P^t` of a chain spreads out and, with an
absorbing answer state, eventually concentrates again; :func:`state_entropy` gives
:math:`H(\mu_t)` exactly and :func:`empirical_state_entropy` estimates it from simulated paths
(or from the behaviour labels of many real traces, position by position).

**Single trajectories.** Chen et al. (2026), *The Molecular Structure of Thought*
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
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from metacot.errors import InvalidArgumentError

__all__ = [
    "EXPLORE",
    "EXPLORE_DELTA",
    "EXPLORE_SLOPE",
    "FLAT_DELTA",
    "FLAT_SLOPE",
    "LARGE_CHANGE",
    "OTHER",
    "TEMPERATURE",
    "UNDEFINED",
    "VALIDATE",
    "InformationSeries",
    "Oscillation",
    "classify_phases",
    "empirical_state_entropy",
    "entropy",
    "information_measures",
    "oscillation",
    "periodogram",
    "pooled_periodogram",
    "predictive_entropy",
    "semantic_entropy",
    "spectral_peak",
    "state_entropy",
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
#: The paper's "large change" cut: R1 has :math:`|\Delta I| >` 0.1 in 76.1% of steps, humans
#: :math:`\Delta I <` 0.1 in 81.3%.
LARGE_CHANGE = 0.1
#: Softmax temperature of :func:`semantic_entropy` on cosine similarities.
TEMPERATURE = 0.1

_ATOL = 1e-12


# --------------------------------------------------------------------------------------------
# entropy of distributions
# --------------------------------------------------------------------------------------------


def entropy(p: Any, base: float = math.e, axis: int = -1) -> np.ndarray | float:
    r"""Shannon entropy :math:`H(p) = -\sum_i p_i \log p_i` (with :math:`0 \log 0 = 0`).

    Parameters
    ----------
    p : array_like
        Probability vectors along ``axis``: non-negative, summing to 1 within ``1e-9``.
    base : float
        Logarithm base (:math:`e`: nats, 2: bits).
    axis : int

    Returns
    -------
    float or ndarray
        One entropy per vector.

    Examples
    --------
    >>> entropy([0.5, 0.5], base=2)
    1.0
    >>> entropy([[1.0, 0.0], [0.25, 0.75]]).round(4).tolist()
    [0.0, 0.5623]
    """
    arr = np.asarray(p, dtype=np.float64)
    if arr.ndim == 0:
        raise InvalidArgumentError("entropy needs a probability vector, got a scalar")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise InvalidArgumentError("probabilities must be finite and non-negative")
    s = arr.sum(axis=axis)
    if np.any(np.abs(s - 1) > 1e-9):
        bad = float(np.ravel(s)[np.argmax(np.abs(np.ravel(s) - 1))])
        raise InvalidArgumentError(f"probabilities must sum to 1 along axis {axis}; one sums to {bad!r}")
    if not base > 0 or base == 1:
        raise InvalidArgumentError(f"base must be positive and not 1, got {base!r}")
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(arr > 0, arr * np.log(np.where(arr > 0, arr, 1.0)), 0.0)
    h = -terms.sum(axis=axis) / math.log(base)
    h = np.maximum(h, 0.0)  # -0.0 and tiny negative rounding
    return float(h) if np.ndim(h) == 0 else h


def _matrix(P: Any) -> np.ndarray:
    if hasattr(P, "P") and not isinstance(P, np.ndarray):  # Chain or BehaviourGraph
        P = P.P
    if sp.issparse(P):
        P = P.toarray()
    M = np.asarray(P, dtype=np.float64)
    if M.ndim != 2 or M.shape[0] != M.shape[1] or M.shape[0] < 1:
        raise InvalidArgumentError(f"P must be a square matrix, got shape {M.shape}")
    if not np.all(np.isfinite(M)) or np.any(M < 0):
        raise InvalidArgumentError("P must be finite and non-negative")
    rows = np.abs(M.sum(axis=1) - 1) > 1e-9
    if rows.any():
        i = int(np.flatnonzero(rows)[0])
        raise InvalidArgumentError(f"row {i} of P sums to {float(M[i].sum())!r}, not 1")
    return M


def state_entropy(chain: Any, t_max: int, start: Any = None, base: float = math.e) -> np.ndarray:
    r"""Exact entropy of the state distribution over time, :math:`H(\mu_t)`, :math:`\mu_t = \mu_0 P^t`.

    Computed by :math:`t_{\max}` sparse vector-matrix products :math:`\mu_{t+1} = \mu_t P`.

    Parameters
    ----------
    chain : Chain
    t_max : int
        Last time, :math:`\ge 0`.
    start : int or array_like, optional
        :math:`\mu_0`; default ``chain.start``.
    base : float

    Returns
    -------
    ndarray, shape (t_max + 1,)

    Examples
    --------
    >>> import numpy as np, metacot as mc
    >>> c = mc.Chain(np.array([[0.5, 0.5], [0.5, 0.5]]), start=0)
    >>> state_entropy(c, 2, base=2).tolist()
    [0.0, 1.0, 1.0]
    """
    if isinstance(t_max, bool) or not isinstance(t_max, (int, np.integer)) or t_max < 0:
        raise InvalidArgumentError(f"t_max must be an int >= 0, got {t_max!r}")
    mu = np.array(chain.start_distribution(start), dtype=np.float64)
    PT = sp.csr_array(chain.P.T)
    out = np.empty(int(t_max) + 1)
    for t in range(int(t_max) + 1):
        # Renormalise against drift from rounding over long horizons.
        mu = np.clip(mu, 0.0, None)
        mu /= mu.sum()
        out[t] = entropy(mu, base)
        if t < t_max:
            mu = PT @ mu
    return out


def _forward_fill(paths: np.ndarray) -> np.ndarray:
    """Replace the -1 padding after a walker's hit by the state it stopped in."""
    out = paths.copy()
    for t in range(1, out.shape[1]):
        pad = out[:, t] < 0
        out[pad, t] = out[pad, t - 1]
    return out


def empirical_state_entropy(paths: Any, n_states: int, base: float = math.e) -> np.ndarray:
    r"""Plug-in estimate of :math:`H(\mu_t)` from many paths: the entropy of the empirical law of
    :math:`X_t` across walkers, for every :math:`t`.

    ``-1`` entries (after a walker hit its target, as in :attr:`Simulation.paths`) are read as
    the walker staying where it stopped, which is what the absorbing chain does. The plug-in
    estimate is biased low by about :math:`(k - 1) / (2 n)` nats for :math:`n` walkers and
    :math:`k` occupied states.

    Parameters
    ----------
    paths : array_like of int, shape (n_walkers, T)
    n_states : int
    base : float

    Returns
    -------
    ndarray, shape (T,)

    Examples
    --------
    >>> empirical_state_entropy([[0, 1, -1], [0, 0, 1]], 2, base=2).tolist()
    [0.0, 1.0, 0.0]
    """
    X = np.asarray(paths)
    if X.ndim != 2 or X.shape[0] < 1:
        raise InvalidArgumentError(f"paths must be an (n_walkers, T) array, got shape {X.shape}")
    if not np.issubdtype(X.dtype, np.integer):
        raise InvalidArgumentError(f"paths must hold integer states, got dtype {X.dtype}")
    if X[:, 0].min() < 0:
        raise InvalidArgumentError("every path needs a state at time 0")
    if X.max() >= n_states:
        raise InvalidArgumentError(f"a path visits state {int(X.max())}, but n_states is {n_states}")
    X = _forward_fill(X.astype(np.int64))
    counts = np.zeros((X.shape[1], n_states))
    for t in range(X.shape[1]):
        counts[t] = np.bincount(X[:, t], minlength=n_states)
    return np.asarray(entropy(counts / X.shape[0], base))


# --------------------------------------------------------------------------------------------
# per-step information of one trajectory
# --------------------------------------------------------------------------------------------


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
    E = np.asarray(embeddings, dtype=np.float64)
    if E.ndim != 2 or E.shape[0] < 1:
        raise InvalidArgumentError(f"embeddings must be an (n, d) array, got shape {E.shape}")
    if not np.all(np.isfinite(E)):
        raise InvalidArgumentError("embeddings have non-finite entries")
    norms = np.linalg.norm(E, axis=1)
    if np.any(norms == 0):
        raise InvalidArgumentError(f"step {int(np.flatnonzero(norms == 0)[0])} has a zero embedding")
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
    arr = np.asarray(I, dtype=np.float64)
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


# --------------------------------------------------------------------------------------------
# oscillation
# --------------------------------------------------------------------------------------------


def periodogram(x: Any) -> tuple[np.ndarray, np.ndarray]:
    r"""Normalised periodogram of a series: power share at each frequency (cycles per step).

    .. math::
        S(f_k) \propto \Big|\sum_{t=0}^{n-1} (x_t - \bar x)\, e^{-2\pi i f_k t}\Big|^2,
        \quad f_k = k/n,\ k = 1, \dots, \lfloor n/2 \rfloor,

    scaled to sum to 1 (the mean, :math:`k = 0`, is left out). NaN entries are dropped first.

    Returns
    -------
    (ndarray, ndarray)
        Frequencies and power shares; both empty when fewer than 4 values or a constant series.

    Examples
    --------
    >>> f, s = periodogram([1, 0] * 8)
    >>> float(f[np.argmax(s)]), float(s.max())
    (0.5, 1.0)
    """
    arr = np.asarray(x, dtype=np.float64).ravel()
    arr = arr[~np.isnan(arr)]
    if np.any(np.isinf(arr)):
        raise InvalidArgumentError("the series has infinite entries")
    n = arr.shape[0]
    if n < 4:
        return np.zeros(0), np.zeros(0)
    spec = np.abs(np.fft.rfft(arr - arr.mean())) ** 2
    f = np.fft.rfftfreq(n)
    f, spec = f[1:], spec[1:]
    total = spec.sum()
    if total <= 1e-300:
        return np.zeros(0), np.zeros(0)
    return f, spec / total


def spectral_peak(x: Any) -> tuple[float, float]:
    """Frequency (cycles per step) of the largest periodogram peak and its share of the power.

    ``(nan, nan)`` when :func:`periodogram` is empty. A pure period-:math:`T` sequence peaks at
    :math:`1/T`.

    Examples
    --------
    >>> spectral_peak([1, 1, -1, -1] * 10)
    (0.25, 1.0)
    """
    f, s = periodogram(x)
    if f.size == 0:
        return math.nan, math.nan
    k = int(np.argmax(s))
    return float(f[k]), float(s[k])


@dataclass(frozen=True)
class Oscillation:
    r"""Oscillation statistics of one trajectory (see :func:`oscillation`).

    Attributes
    ----------
    n : int
        Steps with a defined phase.
    explore, validate, other : float
        Share of those steps in each phase.
    switches : int
        Changes between exploration and validation, skipping "other" steps in between.
    alternation_rate : float
        ``switches / n``.
    large_change : float
        Share of steps with :math:`|\Delta I_t| >` :data:`LARGE_CHANGE`.
    peak_frequency, peak_share : float
        :func:`spectral_peak` of the chosen series.
    """

    n: int
    explore: float
    validate: float
    other: float
    switches: int
    alternation_rate: float
    large_change: float
    peak_frequency: float
    peak_share: float

    def as_dict(self) -> dict[str, float]:
        return dict(vars(self))


def oscillation(
    info: InformationSeries,
    phases: Any = None,
    spectrum_of: str = "phase",
    large_change: float = LARGE_CHANGE,
) -> Oscillation:
    r"""Time in each phase, the alternation rate and the spectral peak of one trajectory.

    With phases :math:`\phi_t \in \{+1, -1, 0\}` on the :math:`n` defined steps, the
    alternation rate is the number of :math:`\pm 1` switches in the subsequence of non-zero
    phases divided by :math:`n`: a trajectory that flips between exploration and validation at
    every step has rate close to 1, one that never leaves a phase has 0.

    Parameters
    ----------
    info : InformationSeries
    phases : array_like, optional
        From :func:`classify_phases`; computed with the default thresholds if omitted.
    spectrum_of : {"phase", "dI"}
        Series whose periodogram gives the peak: the phase indicator :math:`\phi_t` (defined
        steps) or :math:`\Delta I_t`.
    large_change : float
        Cut of the :math:`|\Delta I_t|` share.

    Examples
    --------
    >>> o = oscillation(information_measures([0, 0, 0.3, 0.3, 0.3, 0.6, 0.6, 0.6, 0.9, 0.9, 0.9]))
    >>> o.explore, o.validate, o.switches, o.peak_frequency
    (0.333..., 0.333..., 5, 0.333...)
    """
    if not isinstance(info, InformationSeries):
        raise InvalidArgumentError("oscillation needs an InformationSeries (see information_measures)")
    ph = classify_phases(info) if phases is None else np.asarray(phases)
    if ph.shape != info.I.shape:
        raise InvalidArgumentError(f"{ph.shape[0]} phases for {len(info)} steps")
    if spectrum_of not in ("phase", "dI"):
        raise InvalidArgumentError(f"spectrum_of must be 'phase' or 'dI', got {spectrum_of!r}")
    d = ph[ph != UNDEFINED]
    n = int(d.shape[0])
    if n == 0:
        nan = math.nan
        return Oscillation(0, nan, nan, nan, 0, nan, nan, nan, nan)
    nz = d[d != OTHER]
    switches = int(np.count_nonzero(nz[1:] != nz[:-1])) if nz.size > 1 else 0
    dI = info.dI[ph != UNDEFINED]
    dI = dI[~np.isnan(dI)]
    big = float(np.mean(np.abs(dI) > large_change)) if dI.size else math.nan
    series = d.astype(np.float64) if spectrum_of == "phase" else info.dI
    f, s = spectral_peak(series)
    return Oscillation(
        n=n,
        explore=float(np.mean(d == EXPLORE)),
        validate=float(np.mean(d == VALIDATE)),
        other=float(np.mean(d == OTHER)),
        switches=switches,
        alternation_rate=switches / n,
        large_change=big,
        peak_frequency=f,
        peak_share=s,
    )


def pooled_periodogram(series: Sequence[Any], n_freq: int = 50) -> tuple[np.ndarray, np.ndarray]:
    r"""Average the normalised periodograms of many series on a common frequency grid.

    Each series' periodogram (:func:`periodogram`) is linearly interpolated onto ``n_freq``
    frequencies evenly spaced on :math:`(0, 0.5]` and the results are averaged with weights equal
    to the series lengths (a long trace says more about its spectrum than a short one).

    Examples
    --------
    >>> f, s = pooled_periodogram([[1, -1] * 10, [1, 1, -1, -1] * 5], n_freq=4)
    >>> f.tolist(), int(np.argmax(s))
    ([0.125, 0.25, 0.375, 0.5], 1)
    """
    grid = np.linspace(0.5 / n_freq, 0.5, n_freq)
    acc = np.zeros(n_freq)
    total = 0.0
    for x in series:
        f, s = periodogram(x)
        if f.size < 2:
            continue
        w = float(np.count_nonzero(~np.isnan(np.asarray(x, dtype=np.float64))))
        interp = np.interp(grid, f, s, left=s[0], right=s[-1])
        acc += w * interp / interp.sum()
        total += w
    return grid, (acc / total if total > 0 else np.full(n_freq, np.nan))
