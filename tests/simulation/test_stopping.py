"""Walkers that can never hit stop at once (Simulation.never_hit); rounds; the step-budget limit; Ctrl-C.

Oracles are closed forms on small chains. The spinning chain of issue 14 (walkers absorbed away
from the target) must finish on a budget of 10**11 steps with the right masks; no test measures
time. Monte Carlo checks use 4 standard errors and fixed seeds.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import metacot as mc
from metacot.errors import ArgumentTypeError, CensoredError, InvalidArgumentError, MetacotError
from metacot.simulation import run

FIELDS = ("hitting_times", "censored", "final_states", "paths", "visits", "never_hit")

#: From 0: to the absorbing trap 1 or to 2, then 2 -> 3 (the target). Half the walkers never hit.
SPIN = np.array([[0, 0.5, 0.5, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 1]], dtype=float)


def assert_same(a, b):
    for f in FIELDS:
        x, y = getattr(a, f), getattr(b, f)
        assert (x is None) == (y is None), f
        if x is not None:
            np.testing.assert_array_equal(x, y, err_msg=f)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_spinning_walkers_stop_on_a_huge_budget(backend):
    chain = mc.Chain(SPIN, start=0, target=3)
    sim = mc.simulate(chain, 4, 10**11, seed=1, backend=backend)
    trapped = sim.final_states == 1
    np.testing.assert_array_equal(sim.never_hit, trapped)
    np.testing.assert_array_equal(sim.censored, trapped)  # never-hitting walkers count as censored
    assert not sim.truncated.any()  # ... but none was cut at max_steps
    np.testing.assert_array_equal(sim.hitting_times, np.where(trapped, 10**11, 2))
    assert set(sim.final_states.tolist()) <= {1, 3}
    # a trapped walker is stopped on entering the trap: visited once, at t = 1
    assert sim.visits[1] == trapped.sum() and sim.visits[0] == 4


def test_never_hit_share_and_backends_agree():
    chain = mc.Chain(SPIN, start=0, target=3)
    sims = [mc.simulate(chain, 5000, 10**11, seed=7, backend=b, record_paths=False) for b in ("numba", "numpy")]
    assert_same(*sims)
    share = sims[0].n_never_hit / 5000  # exactly 1/2 in law
    assert abs(share - 0.5) < 4 * np.sqrt(0.25 / 5000)
    assert repr(sims[0]).endswith(f"n_never_hit={sims[0].n_never_hit})")


def test_mean_refuses_an_infinite_expectation_clearly():
    sim = mc.simulate(mc.Chain(SPIN, start=0, target=3), 64, 10**11, seed=3)
    assert 0 < sim.n_never_hit < 64
    with pytest.raises(CensoredError, match=r"never_hit.*E\[tau\] = inf.*restricted=True"):
        sim.mean()
    # E[min(tau, T)] = (T + 2) / 2 with T = 10**11, estimated without bias
    est = sim.mean(restricted=True)
    hit = ~sim.never_hit
    assert est.value == pytest.approx((2 * hit.sum() + 10**11 * (~hit).sum()) / 64)
    assert sim.survival(10**11) == sim.n_never_hit / 64


def test_truncated_and_never_hit_partition_the_censored():
    # from 0: stay (0.9), trap 1 (0.05) or target 2 (0.05); after T steps, by closed form,
    # P(never hit) = 0.5 (1 - 0.9^T) and P(truncated) = 0.9^T.
    P = np.array([[0.9, 0.05, 0.05], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    T, n = 9, 20_000
    sim = mc.simulate(mc.Chain(P, start=0, target=2), n, T, seed=11, record_paths=True)
    assert not (sim.never_hit & sim.truncated).any()
    np.testing.assert_array_equal(sim.never_hit | sim.truncated, sim.censored)
    np.testing.assert_array_equal(sim.final_states[sim.never_hit], 1)
    np.testing.assert_array_equal(sim.final_states[sim.truncated], 0)
    for got, p in ((sim.n_never_hit / n, 0.5 * (1 - 0.9**T)), (np.mean(sim.truncated), 0.9**T)):
        assert abs(got - p) < 4 * np.sqrt(p * (1 - p) / n)
    # a never-hitting walker's path ends (-1) right after it enters the trap
    w = np.flatnonzero(sim.never_hit)[0]
    entry = int(np.flatnonzero(sim.paths[w] == 1)[0])
    assert np.all(sim.paths[w, entry + 1 :] == -1) and np.all(sim.paths[w, :entry] == 0)
    assert sim.visits.sum() == (sim.paths >= 0).sum()


def test_no_never_hit_mask_without_a_target_and_all_false_when_every_state_reaches_it():
    ring = np.roll(np.eye(4), 1, axis=1)
    assert mc.simulate(mc.Chain(ring, start=0), 8, 20, seed=0).never_hit is None
    sim = mc.simulate(mc.Chain(ring, start=0, target=3), 8, 20, seed=0)
    assert sim.never_hit.dtype == bool and not sim.never_hit.any() and not sim.never_hit.flags.writeable


def test_rounds_do_not_change_results(monkeypatch):
    """Tiny rounds (many kernel calls, walkers paused and resumed) give the same bits as one call."""
    P = np.array([[0.6, 0.2, 0.1, 0.1, 0.0], [0.3, 0.4, 0.2, 0.0, 0.1], [0.1, 0.1, 0.7, 0.05, 0.05],
                  [0.0, 0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0, 1.0]])
    chain = mc.Chain(P, start=0, target=4)  # state 3 is a trap
    mu = np.array([0.5, 0.3, 0.2, 0.0, 0.0])
    kw = dict(seed=2**63 + 5, record_paths=True)
    ref = [mc.simulate(chain, 300, 41, backend=b, **kw) for b in ("numba", "numpy")]
    ref.append(mc.simulate(chain, 300, 41, backend="numba", start=mu, **kw))
    monkeypatch.setattr(run, "MIN_ROUND_STEPS", 2)
    monkeypatch.setattr(run, "ROUND_WORK", 3 * 300)  # width 300 walkers: rounds end at 4, 8, ..., 40, 41
    assert list(run.round_limits(41, 300))[:3] == [4, 8, 12] and list(run.round_limits(41, 300))[-1] == 41
    for count_visits in (True, False):
        got = mc.simulate(chain, 300, 41, backend="numba", count_visits=count_visits, **kw)
        for f in ("hitting_times", "censored", "final_states", "paths", "never_hit"):
            np.testing.assert_array_equal(getattr(got, f), getattr(ref[0], f), err_msg=f)
    assert_same(mc.simulate(chain, 300, 41, backend="numba", **kw), ref[1])
    assert_same(mc.simulate(chain, 300, 41, backend="numba", start=mu, **kw), ref[2])
    fast = mc.simulate(chain, 300, 41, backend="numba", seed=kw["seed"], count_visits=False)
    np.testing.assert_array_equal(fast.hitting_times, ref[0].hitting_times)


def test_step_budget_limit_is_a_clear_error():
    chain = mc.Chain(SPIN, start=0, target=3)
    sim = mc.simulate(chain, 4, mc.simulation.MAX_STEPS, seed=2)
    assert sim.max_steps == 2**63 - 2 and set(sim.hitting_times.tolist()) <= {2, 2**63 - 2}
    for bad in (2**63 - 1, 2**63, 10**30):
        with pytest.raises(InvalidArgumentError, match=r"max_steps must be at most 2\*\*63 - 2"):
            mc.simulate(chain, 4, bad)


@pytest.mark.parametrize(
    "kwargs,error",
    [
        (dict(n_walkers=2.5), ArgumentTypeError),
        (dict(max_steps="10"), ArgumentTypeError),
        (dict(seed=1.5), ArgumentTypeError),
        (dict(seed=2**64), InvalidArgumentError),
        (dict(n_walkers=0), InvalidArgumentError),
    ],
)
def test_bad_input_is_a_metacot_error(kwargs, error):
    chain = mc.Chain(SPIN, start=0, target=3)
    with pytest.raises(error) as info:
        mc.simulate(chain, **(dict(n_walkers=4, max_steps=10) | kwargs))
    assert isinstance(info.value, MetacotError)


def test_chain_of_the_wrong_type_and_simulate_many_errors():
    with pytest.raises(ArgumentTypeError, match=r"metacot\.Chain"):
        mc.simulate(SPIN, 4, 10)
    with pytest.raises(ArgumentTypeError, match=r"chains\[1\]: chain must be a metacot.Chain"):
        mc.simulation.simulate_many([mc.Chain(SPIN, start=0, target=3), SPIN], 4, 10)
    with pytest.raises(InvalidArgumentError, match=r"chains\[0\]: max_steps"):
        mc.simulation.simulate_many([mc.Chain(SPIN, start=0, target=3)], 4, 2**63)


def test_generator_seed_is_one_uint64_draw():
    """A Generator contributes one uint64 draw: the same key as passing that draw as an int."""
    chain = mc.Chain(SPIN, start=0, target=3)
    draw = int(np.random.default_rng(5).integers(0, 1 << 64, dtype=np.uint64))
    a = mc.simulate(chain, 50, 100, seed=np.random.default_rng(5))
    assert a.seed == draw
    assert_same(a, mc.simulate(chain, 50, 100, seed=draw))


def test_resolve_backend_is_public():
    assert mc.simulation.resolve_backend("numpy") == "numpy"
    assert mc.simulation.resolve_backend("auto") in ("numba", "cuda")


def test_ctrl_c_interrupts_a_long_simulation(tmp_path):
    """SIGINT during a simulation that would run for hours raises KeyboardInterrupt in the caller.

    The target is reachable (nobody is stopped as never-hitting) but takes about 10**12 steps, so
    the walkers legitimately run the whole budget; the kernels return to Python between rounds.
    """
    script = (
        "import signal, sys, numpy as np, metacot as mc\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, whatever our parent ignores\n"
        "P = np.array([[1 - 1e-12, 1e-12], [0.0, 1.0]])\n"
        "chain = mc.Chain(P, start=0, target=1)\n"
        "mc.simulate(chain, 4, 1000, seed=0)  # compile (or load) the kernel first\n"
        "try:\n"
        "    print('started', flush=True)\n"
        "    mc.simulate(chain, 4, 10**15, seed=0, count_visits=False)\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted', flush=True)\n"
        "    sys.exit(3)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    out = err = ""
    try:
        assert proc.stdout.readline().strip() == "started"
        time.sleep(1.0)  # let the kernel start (checking the request takes milliseconds)
        proc.send_signal(signal.SIGINT)
        # a hang guard, not a timing assertion: a round lasts about a second
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 3 and "interrupted" in out, err[-3000:]
