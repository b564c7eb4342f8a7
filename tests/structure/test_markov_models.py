"""Held-out model comparison: normalised predictive laws, and the right model wins on simulated data (seeded)."""

from __future__ import annotations

import numpy as np
import pytest
from test_markov_tests import P1, order2_chain, simulate_order

from metacot.structure import markov_models as mm
from metacot.structure.markov_tests import encode_sequences


@pytest.mark.parametrize("model", [mm.MarkovModel(0), mm.MarkovModel(2), mm.SemiMarkovModel(max_age=3)])
def test_predictive_law_sums_to_one(model):
    seqs = simulate_order(P1, 3, 1, 20, 30, np.random.default_rng(0))
    model.fit(encode_sequences(seqs, alphabet=[0, 1, 2]))
    prefix = np.array([2, 2, 1, 1, 1, 1, 0])
    base = model.logprob(prefix)
    total = sum(np.exp(model.logprob(np.append(prefix, b)) - base) for b in range(3))
    assert total == pytest.approx(1.0, abs=1e-12)


def models():
    return {"order 0": mm.MarkovModel(0), "order 1": mm.MarkovModel(1), "order 2": mm.MarkovModel(2),
            "semi-Markov": mm.SemiMarkovModel()}


def test_order_two_data_prefer_order_two():
    seqs = simulate_order(order2_chain(), 3, 2, 60, (30, 60), np.random.default_rng(1))
    ll = mm.heldout_loglik(seqs, models(), folds=5, seed=0)
    c = mm.compare_heldout(ll, [len(s) for s in seqs], "order 2", "order 1", seed=0)
    assert c.low > 0
    assert max(ll, key=lambda k: ll[k].sum()) == "order 2"


def test_fixed_dwell_prefers_semi_markov():
    # Runs of exactly 3 steps (a deterministic dwell time) then a uniform jump: not geometric.
    rng = np.random.default_rng(2)
    seqs = []
    for _ in range(40):
        s = [int(rng.integers(3))]
        while len(s) < 60:
            s.extend([s[-1]] * 2 + [int((s[-1] + rng.integers(1, 3)) % 3)])
        seqs.append(s[:60])
    ll = mm.heldout_loglik(seqs, models(), folds=4, seed=0)
    c = mm.compare_heldout(ll, [60] * 40, "semi-Markov", "order 1", seed=0)
    assert c.low > 0


def test_first_order_data_gain_nothing_from_more():
    seqs = simulate_order(P1, 3, 1, 60, (30, 60), np.random.default_rng(3))
    ll = mm.heldout_loglik(seqs, models(), folds=5, seed=0)
    lengths = [len(s) for s in seqs]
    assert mm.compare_heldout(ll, lengths, "order 1", "order 0").low > 0
    for other in ("order 2", "semi-Markov"):
        assert mm.compare_heldout(ll, lengths, other, "order 1", seed=0).low < 0
