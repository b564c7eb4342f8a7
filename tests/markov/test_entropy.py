"""metacot.markov.entropy: H(mu_t) against closed forms and a theorem, argument checks.

(Lives beside the structure tests because this helper owns the module; it mirrors
metacot/markov/entropy.py and can move to tests/markov/ unchanged.)
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metacot.errors import ArgumentTypeError, InvalidArgumentError
from metacot.markov import entropy as ent
from metacot.markov import exact
from metacot.markov.chain import Chain


def test_cycle_keeps_entropy_and_uniform_mixing_reaches_log_n():
    # A deterministic cycle permutes mu_t: H stays H(mu_0). Uniform rows give the uniform law at t = 1.
    n = 5
    cycle = Chain(np.roll(np.eye(n), 1, axis=1), start=[0.5, 0.25, 0.25, 0.0, 0.0])
    assert ent.state_entropy(cycle, 7, base=2) == pytest.approx([1.5] * 8, abs=1e-12)
    uniform = Chain(np.full((n, n), 1 / n), start=2)
    assert ent.state_entropy(uniform, 3).tolist() == pytest.approx([0.0] + [math.log(n)] * 3, abs=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 6), st.integers(0, 2**32 - 1))
def test_entropy_never_decreases_under_a_doubly_stochastic_chain(n, seed):
    # Theorem (Cover & Thomas, Thm 4.4.1 / 2.8): mu P is majorised by mu when P is doubly stochastic,
    # so H(mu_t) is non-decreasing. A Birkhoff mixture of permutations is doubly stochastic.
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(np.ones(4))
    P = sum(wk * np.eye(n)[rng.permutation(n)] for wk in w)
    mu0 = rng.dirichlet(np.ones(n) * 0.3)
    H = ent.state_entropy(Chain(P, start=mu0 / mu0.sum()), 25)
    assert np.all(np.diff(H) >= -1e-12)
    assert H[-1] <= math.log(n) + 1e-12


def test_entropy_rate_is_the_exact_one():
    assert ent.entropy_rate is exact.entropy_rate
    P = np.array([[0.9, 0.1], [0.4, 0.6]])
    pi = np.array([0.8, 0.2])  # pi P = pi
    h = -(pi[:, None] * P * np.log(P)).sum()
    assert ent.entropy_rate(Chain(P)) == pytest.approx(h, rel=1e-12)


def test_bad_arguments_raise_metacot_errors():
    with pytest.raises(ArgumentTypeError, match="needs a metacot Chain"):
        ent.state_entropy(np.eye(2), 3)
    with pytest.raises(InvalidArgumentError, match="t_max"):
        ent.state_entropy(Chain(np.eye(2), start=0), -1)
    with pytest.raises(ArgumentTypeError, match="t_max"):
        ent.state_entropy(Chain(np.eye(2), start=0), 2.5)
    with pytest.raises(InvalidArgumentError, match="axis"):
        ent.entropy([0.5, 0.5], axis=1)
    with pytest.raises(ArgumentTypeError, match="array of probabilities"):
        ent.entropy(["a", "b"])
    with pytest.raises(ArgumentTypeError, match="base"):
        ent.entropy([1.0], base="2")
    with pytest.raises(InvalidArgumentError, match="base"):
        ent.entropy([1.0], base=1)
    with pytest.raises(InvalidArgumentError, match="n_states"):
        ent.empirical_state_entropy([[0, 1]], 0)


def test_dynamics_reexports_the_chain_entropies():
    from metacot.structure import dynamics as dyn

    for name in ("entropy", "state_entropy", "empirical_state_entropy"):
        assert getattr(dyn, name) is getattr(ent, name)
