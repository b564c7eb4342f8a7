r"""Oscillation of one trajectory between exploration and validation: phase shares, switches, spectra.

Strong reasoners, Chen et al. (2026) say, alternate between high-entropy exploration and
low-entropy validation ("metacognitive oscillation"; notes ``papers/notes/molecular_paper.md``
§4.11). Given the phases of :func:`metacot.structure.information.classify_phases`,
:func:`oscillation` counts the time in each phase and the switches between them, and
:func:`periodogram` / :func:`spectral_peak` / :func:`pooled_periodogram` look for a period.

Examples
--------
>>> spectral_peak([1, 1, -1, -1] * 10)
(0.25, 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from metacot.errors import InvalidArgumentError
from metacot.structure.information import (
    EXPLORE,
    OTHER,
    UNDEFINED,
    VALIDATE,
    InformationSeries,
    classify_phases,
)

__all__ = [
    "LARGE_CHANGE",
    "Oscillation",
    "oscillation",
    "periodogram",
    "pooled_periodogram",
    "spectral_peak",
]

#: The paper's "large change" cut: R1 has :math:`|\Delta I| >` 0.1 in 76.1% of steps, humans
#: :math:`\Delta I <` 0.1 in 81.3%.
LARGE_CHANGE = 0.1

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
    >>> from metacot.structure.information import information_measures
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
