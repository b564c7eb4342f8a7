"""HittingTimeDistribution: cdf, sf, mean and quantiles against the geometric law in closed form."""

from __future__ import annotations

import numpy as np
import pytest

from metacot.errors import InvalidArgumentError, InvalidChainError
from metacot.markov import exact
from metacot.markov.families import line_of_cliques


def geometric(M=4, t_max=30):
    # One clique of M states with the target among them: tau ~ Geometric(1/M) on {1, 2, ...} from start.
    chain = line_of_cliques(K=1, M=M, eps=0.1)
    return chain, exact.hitting_time_distribution(chain, t_max=t_max)


def test_arrays_and_sums():
    _, d = geometric()
    p = 1 / 4
    t = np.arange(31)
    assert d.pmf.sum() + d.tail == pytest.approx(1.0, abs=1e-14)
    assert d.cdf == pytest.approx(np.where(t >= 1, 1 - (1 - p) ** t, 0.0), abs=1e-14)
    assert d.sf == pytest.approx(1 - d.cdf, abs=1e-14)
    assert d.t_max == 30


def test_quantiles():
    _, d = geometric()
    # F(t) = 1 - 0.75^t: the median is the smallest t with 0.75^t <= 0.5, t = 3 (0.4219).
    assert d.quantile(0.5) == 3
    assert d.quantile(0.25) == 1  # F(1) = 0.25 exactly: q on a step is attained there
    assert d.quantile([0.0, 0.9]).tolist() == [0, 9]
    with pytest.raises(InvalidChainError, match="beyond t_max"):
        d.quantile(0.9999)
    with pytest.raises(InvalidArgumentError):
        d.quantile(1.5)


def test_mean_needs_h_when_truncated():
    chain, d = geometric()
    with pytest.raises(InvalidChainError, match="pass the hitting times"):
        d.mean()
    assert d.mean(exact.hitting_times(chain)) == pytest.approx(4.0, rel=1e-12)
    _, long = geometric(t_max=400)
    assert long.mean() == pytest.approx(4.0, rel=1e-10)
