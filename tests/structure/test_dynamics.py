"""metacot.structure.dynamics: state entropy against closed forms, information measures and phase rules on
hand-computed sequences, oscillation statistics and spectral peaks."""

from __future__ import annotations

import math

import numpy as np
import pytest

import metacot as mc
from metacot.errors import InvalidArgumentError
from metacot.structure import dynamics as dyn


def h2(p: float) -> float:
    return 0.0 if p in (0.0, 1.0) else -(p * math.log(p) + (1 - p) * math.log(1 - p))


def test_state_entropy_two_state_chain_closed_form():
    # P = [[1-a, a], [b, 1-b]] from state 0: mu_t(0) = b/(a+b) + a/(a+b) (1-a-b)^t.
    a, b = 0.3, 0.1
    chain = mc.Chain(np.array([[1 - a, a], [b, 1 - b]]), start=0)
    H = dyn.state_entropy(chain, 40)
    t = np.arange(41)
    p0 = b / (a + b) + a / (a + b) * (1 - a - b) ** t
    assert H == pytest.approx([h2(p) for p in p0], abs=1e-12)
    assert dyn.state_entropy(chain, 3, start=[0.5, 0.5], base=2)[0] == pytest.approx(1.0)


def test_empirical_state_entropy_matches_exact_within_monte_carlo_error():
    chain = mc.graph.reference("qwq-32b").to_chain(answer_rate=0.1, start="normal")
    sim = mc.simulate(chain, n_walkers=20_000, max_steps=30, seed=5, record_paths=True)
    H_sim = dyn.empirical_state_entropy(sim.paths, chain.n_states)
    H = dyn.state_entropy(chain, 30)
    # Plug-in bias is about (k-1)/(2n) = 1e-4; the sampling error of H with n = 2e4 is below 0.02.
    assert np.max(np.abs(H_sim - H)) < 0.02


def test_empirical_state_entropy_validates():
    with pytest.raises(InvalidArgumentError, match="time 0"):
        dyn.empirical_state_entropy([[-1, 0]], 2)
    with pytest.raises(InvalidArgumentError, match="n_states"):
        dyn.empirical_state_entropy([[0, 3]], 2)


def test_entropy_basics_and_errors():
    assert dyn.entropy([0.25] * 4, base=2) == pytest.approx(2.0)
    assert dyn.entropy([1.0, 0.0]) == 0.0
    with pytest.raises(InvalidArgumentError, match="sum to 1"):
        dyn.entropy([0.5, 0.6])
    with pytest.raises(InvalidArgumentError, match="non-negative"):
        dyn.entropy([1.5, -0.5])


def test_information_measures_hand_computed():
    s = dyn.information_measures([0.2, 0.5, 0.6, 0.6, 0.3])
    assert s.dI[1:] == pytest.approx([0.3, 0.1, 0.0, -0.3])
    # m_2 = (0.1 - 0.3)/0.1 = -2; m_3: dI = 0 after 0.1 -> -inf; m_4 = (-0.3 - 0)/(-0.3) = 1.
    assert s.m[2] == pytest.approx(-2.0)
    assert s.m[3] == -np.inf
    assert s.m[4] == pytest.approx(1.0)
    assert np.isnan(s.m[:2]).all() and np.isnan(s.dI[0])
    flat = dyn.information_measures([0.4, 0.4, 0.4])
    assert flat.m[2] == 0.0


def test_phase_thresholds():
    def phases(series, **kw):
        return dyn.classify_phases(dyn.information_measures(series), **kw).tolist()

    # dI = 0 then 0.06: m = 1 > 0.6 and dI > 0.05 -> explore; with dI 0.04 -> other.
    assert phases([0.0, 0.0, 0.06]) == [-2, -2, 1]
    assert phases([0.0, 0.0, 0.04]) == [-2, -2, 0]
    # Steady drift 0.04, 0.04: m = 0, |dI| < 0.05 -> validate; drift 0.06 steady -> not validate.
    assert phases([0.0, 0.04, 0.08]) == [-2, -2, -1]
    assert phases([0.0, 0.06, 0.12]) == [-2, -2, 0]
    # m = (0.045 - 0.04)/0.045 = 0.111: validate with |m| <= 0.2, not with flat_slope = 0.1.
    assert phases([0.0, 0.04, 0.085]) == [-2, -2, -1]
    assert phases([0.0, 0.04, 0.085], flat_slope=0.1) == [-2, -2, 0]
    # m = (0.11 - 0.04)/0.11 = 0.636: exploration at the paper's 0.6, not at 0.65.
    assert phases([0.0, 0.04, 0.15]) == [-2, -2, 1]
    assert phases([0.0, 0.04, 0.15], explore_slope=0.65) == [-2, -2, 0]
    # The delta threshold is strict: a change of exactly explore_delta (a binary fraction) is not enough.
    assert phases([0.0, 0.0, 0.0625], explore_delta=0.0625) == [-2, -2, 0]


def test_predictive_entropy_and_padding():
    P = np.array([[0.5, 0.5, 0.0], [0.0, 1.0, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    h = dyn.predictive_entropy([0, 1, 2, -1, -1], P)
    assert h == pytest.approx([math.log(2) / math.log(3), 0.0, 1.0])
    assert dyn.predictive_entropy([2], P, normalise=False) == pytest.approx([math.log(3)])
    with pytest.raises(InvalidArgumentError, match="trailing"):
        dyn.predictive_entropy([0, -1, 1], P)
    with pytest.raises(InvalidArgumentError, match="row 0"):
        dyn.predictive_entropy([0], np.array([[0.5, 0.4], [0.5, 0.5]]))


def test_semantic_entropy_points_back_or_spreads():
    E = np.eye(4)[[0, 1, 2, 0, 3]]
    I = dyn.semantic_entropy(E, temperature=0.05)  # noqa: E741
    # step 3 repeats step 0 exactly: attention concentrates on it; step 4 is new: uniform.
    assert I[3] < 1e-5 and I[4] == pytest.approx(1.0)
    assert np.isnan(I[:2]).all()
    assert np.isnan(dyn.semantic_entropy(E, context=2)[:2]).all()
    with pytest.raises(InvalidArgumentError, match="zero embedding"):
        dyn.semantic_entropy(np.zeros((3, 2)))


def test_spectral_peak_of_periodic_phase_sequences():
    for period in (2, 4, 5, 8):
        x = np.array(([1] * (period // 2) + [-1] * (period - period // 2)) * (80 // period * 2))
        f, share = dyn.spectral_peak(x)
        assert f == pytest.approx(1 / period, abs=1e-12)
        assert share > 0.5
    assert all(math.isnan(v) for v in dyn.spectral_peak([1, 1, 1, 1, 1]))


def test_oscillation_statistics_of_a_hand_built_sequence():
    # I climbs in steps of 0.3 every third step: explore, other, validate, repeated.
    I = [0.0, 0.0] + [v for k in range(1, 7) for v in (0.3 * k,) * 3]  # noqa: E741
    info = dyn.information_measures(I)
    ph = dyn.classify_phases(info)
    assert ph[2:].tolist() == [1, 0, -1] * 6
    o = dyn.oscillation(info, ph)
    assert o.n == 18 and o.explore == pytest.approx(1 / 3) and o.validate == pytest.approx(1 / 3)
    assert o.switches == 11 and o.alternation_rate == pytest.approx(11 / 18)
    assert o.peak_frequency == pytest.approx(1 / 3)
    assert o.large_change == pytest.approx(6 / 18)
    f, s = dyn.pooled_periodogram([ph[2:], ph[2:]], n_freq=6)
    assert f[np.argmax(s)] == pytest.approx(1 / 3)


def test_oscillation_refuses_mismatched_phases():
    info = dyn.information_measures([0.1, 0.2, 0.3])
    with pytest.raises(InvalidArgumentError, match="phases"):
        dyn.oscillation(info, [0, 0])
    with pytest.raises(InvalidArgumentError):
        dyn.oscillation(info, spectrum_of="nope")
