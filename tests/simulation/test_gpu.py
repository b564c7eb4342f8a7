"""The CUDA backend: bit-identical to the CPU kernels under numba's CUDA simulator; error paths; auto.

Machines without a GPU (CI, this one) check the kernels with ``NUMBA_ENABLE_CUDASIM=1``, which
numba reads once, at the first import of ``numba.cuda``. pytest-xdist may load this module into a
worker that has already imported numba.cuda without it, so the simulator tests (``test_sim_*``)
run in a child pytest started with the variable set (:func:`test_cuda_simulator_suite`); in the
parent they skip. Walker counts are small: the simulator runs every CUDA thread as a Python
thread, thousands of times slower than the CPU kernel.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import metacot as mc
from metacot.errors import BackendUnavailableError, MissingDependencyError
from metacot.simulation.kernels import gpu

HAS_NUMBA_CUDA = importlib.util.find_spec("numba_cuda") is not None
IN_SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")
FIELDS = ("hitting_times", "censored", "final_states", "paths", "visits", "never_hit")

sim_only = pytest.mark.skipif(not (IN_SIMULATOR and HAS_NUMBA_CUDA),
                              reason="runs in the CUDA-simulator child of test_cuda_simulator_suite")


# --------------------------------------------------------------------------- helpers
def random_chain(n, seed, density=0.5):
    rng = np.random.default_rng(seed)
    P = rng.random((n, n)) * (rng.random((n, n)) < density)
    P[np.arange(n), (np.arange(n) + 1) % n] += 0.2
    return P / P.sum(axis=1, keepdims=True)


def assert_same(a, b):
    for f in FIELDS:
        x, y = getattr(a, f), getattr(b, f)
        assert (x is None) == (y is None), f
        if x is not None:
            np.testing.assert_array_equal(x, y, err_msg=f)


def both(chain, n_walkers, max_steps, **kw):
    """The CUDA (simulated) and numba results of one request."""
    cuda = mc.simulate(chain, n_walkers, max_steps, backend="cuda", **kw)
    cpu = mc.simulate(chain, n_walkers, max_steps, backend="numba", **kw)
    assert cuda.backend == "cuda" and cpu.backend == "numba"
    return cuda, cpu


# --------------------------------------------------------------------------- parent process
@pytest.mark.skipif(not HAS_NUMBA_CUDA, reason="numba-cuda is not installed")
@pytest.mark.skipif(IN_SIMULATOR, reason="this is the child")
def test_cuda_simulator_suite():
    """Run the ``test_sim_*`` tests of this module in a child pytest with the simulator on."""
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", PYTHONWARNINGS="ignore")
    cmd = [sys.executable, "-m", "pytest", __file__, "-k", "test_sim_", "-q", "-p", "no:xdist",
           "-p", "no:cacheprovider", "-W", "ignore", "-o", "addopts=", "--no-header"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert " passed" in proc.stdout and "skipped" not in proc.stdout.split("\n")[-2], proc.stdout[-2000:]


@pytest.mark.skipif(IN_SIMULATOR, reason="the simulator counts as a device")
def test_cuda_backend_without_gpu_raises():
    if gpu.cuda_available():
        pytest.skip("a real GPU is present")
    chain = mc.Chain(random_chain(4, 1), start=0, target=3)
    with pytest.raises(BackendUnavailableError, match="cuda"):
        mc.simulate(chain, 10, 10, backend="cuda")
    with pytest.raises(BackendUnavailableError):
        mc.simulation.simulate_many([chain], 10, 10, backend="cuda")


def test_auto_is_numba_without_a_real_gpu():
    if gpu.cuda_available():
        pytest.skip("a real GPU is present: auto is cuda there")
    chain = mc.Chain(random_chain(4, 1), start=0, target=3)
    assert mc.simulate(chain, 10, 100, seed=1).backend == "numba"


def test_cuda_unavailable_error_is_both_kinds():
    err = gpu.CudaUnavailableError("x")
    assert isinstance(err, BackendUnavailableError) and isinstance(err, MissingDependencyError)
    assert isinstance(err, ImportError) and isinstance(err, RuntimeError)


def test_gpu_exact_error_path():
    if importlib.util.find_spec("cupy") is not None and gpu.cuda_available():
        pytest.skip("CuPy and a GPU are present")
    from metacot.markov.gpu_exact import hitting_times_cuda

    with pytest.raises(BackendUnavailableError, match="gpu"):
        hitting_times_cuda(mc.families.line_of_cliques(K=2, M=4, eps=0.5))


@pytest.mark.parametrize("kind", ["line_of_cliques", "trap"])
def test_gpu_exact_system_matches_cpu_solver(kind):
    """The reduced system the GPU solves gives exact.hitting_times when solved on the CPU."""
    from metacot.markov.gpu_exact import pinned_system

    if kind == "line_of_cliques":
        chain = mc.families.line_of_cliques(K=3, M=5, eps=0.1)
    else:  # state 1 is a trap: h = inf there and wherever it can be reached first
        P = np.array([[0.5, 0.25, 0.25, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.5, 0.5], [0.0, 0.0, 0.0, 1.0]])
        chain = mc.Chain(P, start=2, target=3)
    A, U, _, infinite = pinned_system(chain)
    h = np.zeros(chain.n_states)
    h[infinite] = np.inf
    h[U] = spla.spsolve(sp.csc_array(A), np.ones(U.size))
    np.testing.assert_allclose(h, mc.exact.hitting_times(chain), rtol=1e-10)


NVVM = Path(os.environ.get("CUDA_HOME", "/usr/local/cuda"))


@pytest.mark.skipif(not HAS_NUMBA_CUDA, reason="numba-cuda is not installed")
@pytest.mark.skipif(not list(NVVM.glob("**/libnvvm.so*")), reason="no CUDA toolkit (libNVVM) to compile with")
def test_kernels_compile_for_sm90():
    """The real CUDA compiler (not the simulator) types and lowers the kernel variants for sm_90.

    No driver is needed: the device query and NVRTC probe that numba-cuda makes before
    compiling are stubbed, in a child process.
    """
    script = """
import numba.cuda.dispatcher as D, numba.cuda.cudadrv.nvrtc as N, numba.cuda.cuda_paths as CP
D.get_current_device = lambda: type("Dev", (), {"compute_capability": (9, 0)})()
N.get_supported_ccs = lambda: ((9, 0),)
CP._get_nvrtc_path = lambda: ("none", None)
from numba import cuda
import metacot.simulation.kernels.gpu as g
g.cuda = cuda
g.require_cuda = lambda: cuda
sig = ("void(uint64[::1], int64[:, ::1], uint64[:, ::1], int64[:, ::1], uint64[::1], int64[::1], "
       "int64[::1], boolean[::1], int64[::1], int32[::1])")
for flags in [(True, False, False), (False, False, False), (True, True, True), (False, True, True)]:
    ptx, _ = cuda.compile_ptx(g._kernel(*flags).py_func, sig, cc=(9, 0))
    assert ".target sm_90" in ptx and ".entry" in ptx, flags
print("compiled")
"""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    env["CUDA_HOME"] = str(NVVM)
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    if "compiled" not in proc.stdout and ("nvvm" in proc.stderr.lower() and "not found" in proc.stderr.lower()):
        pytest.skip("libNVVM could not be loaded")
    assert proc.returncode == 0 and "compiled" in proc.stdout, proc.stderr[-4000:]


# --------------------------------------------------------------------------- simulator (child)
@sim_only
def test_sim_auto_stays_on_numba():
    assert gpu.simulating() and not gpu.cuda_available()
    chain = mc.Chain(random_chain(4, 1), start=0, target=3)
    assert mc.simulate(chain, 8, 50, seed=1).backend == "numba"


@sim_only
@pytest.mark.parametrize("n,seed,target", [(6, 1, [5]), (11, 2, [9, 10]), (3, 3, [2])])
def test_sim_hitting_times_fixed_start(n, seed, target):
    chain = mc.Chain(random_chain(n, seed), start=0, target=target)
    cuda, cpu = both(chain, 128, 300, seed=seed * 7919, record_paths=True)
    assert_same(cuda, cpu)
    assert cuda.n_censored < 128


@sim_only
def test_sim_distributed_start():
    chain = mc.Chain(random_chain(9, 4), target=[7, 8])
    mu = np.random.default_rng(0).dirichlet(np.ones(9))
    mu[3] = 0
    mu /= mu.sum()
    cuda, cpu = both(chain, 200, 200, start=mu, seed=2**63 + 12345)
    assert_same(cuda, cpu)
    assert not np.any(cpu.final_states[cpu.hitting_times == 0] == 3)


@sim_only
def test_sim_censoring_and_odd_budget():
    P = np.array([[0.9, 0.05, 0.05], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    chain = mc.Chain(P, start=0, target=2)
    cuda, cpu = both(chain, 256, 31, seed=3, record_paths=True)  # odd: the last draw serves one step
    assert 0 < cpu.n_censored < 256
    assert_same(cuda, cpu)


@sim_only
def test_sim_no_target_start_in_target_zero_steps():
    chain = mc.Chain(random_chain(5, 7), start=1)
    assert_same(*both(chain, 64, 40, seed=9, record_paths=True))
    hit = mc.Chain(random_chain(5, 7), start=4, target=4)
    assert_same(*both(hit, 64, 40, seed=9, record_paths=True))
    assert_same(*both(hit, 64, 0, start=0, seed=9))


@sim_only
@pytest.mark.parametrize("family", ["line_of_cliques", "random_clusters"])
def test_sim_families(family):
    if family == "line_of_cliques":
        chain = mc.families.line_of_cliques(K=3, M=6, eps=0.2)
    else:
        chain = mc.families.random_clusters(K=3, M=5, eps=0.2, kind="regular", meta="line_back", back_rate=0.5,
                                            seed=4)
    cuda, cpu = both(chain, 96, 400, seed=21, count_visits=True)
    assert_same(cuda, cpu)


@sim_only
def test_sim_shared_and_global_memory_and_geometry_agree():
    """Tables in shared or global memory, any block size and grid size: the same bits."""
    from metacot.simulation.kernels.alias import build_alias_table
    from metacot.simulation.kernels.rng import seed_key

    P = random_chain(8, 5)
    table = build_alias_table(sp.csr_array(P)).with_empty_rows([7])
    job = gpu.Job(table, 8, 150, 1000, 120, seed_key(42), start=0)
    ref = None
    for kw in (dict(), dict(shared=False), dict(threads_per_block=8, max_threads=16),
               dict(threads_per_block=64, max_threads=64, shared=False)):
        out = gpu.run_jobs([job], count_visits=True, record_paths=True, **kw)[0]
        got = (out.states, out.tau, out.censored, out.visits, out.paths)
        if ref is None:
            ref = got
        for a, b in zip(ref, got):
            np.testing.assert_array_equal(a, b)
    # and the numba kernel with the same global walker offset (w0 = 1000)
    chain = mc.Chain(P, start=0, target=7)
    cpu = mc.simulate(chain, 1150, 120, seed=42, record_paths=True)
    np.testing.assert_array_equal(ref[1], cpu.hitting_times[1000:])
    np.testing.assert_array_equal(ref[4], cpu.paths[1000:])


@sim_only
def test_sim_progress_batches():
    chain = mc.Chain(random_chain(7, 6), start=0, target=6)
    one = mc.simulate(chain, 100, 150, seed=5, backend="cuda")
    batched = mc.simulate(chain, 100, 150, seed=5, backend="cuda", progress=True)
    assert_same(one, batched)


@sim_only
def test_sim_batched_launch_equals_each_chain_alone():
    """simulate_many on cuda: one launch over mixed chains equals simulate on each chain."""
    big = mc.Chain(np.full((60, 60), 1 / 60), start=0, target=[59])  # 58 KiB table: global memory
    assert big.nnz * 16 > gpu.SHARED_BYTES
    mu = np.full(9, 1 / 9)
    chains = [
        mc.families.line_of_cliques(K=2, M=4, eps=0.3),
        mc.Chain(random_chain(9, 11), start=mu, target=[8]),
        big,
        mc.Chain(random_chain(5, 2), start=3),  # no target
        mc.families.line_of_cliques(K=2, M=4, eps=0.3),  # same chain twice, another seed
    ]
    walkers = [64, 50, 40, 30, 64]
    steps = [500, 200, 90, 25, 499]
    seeds = [1, 2, 3, 4, 5]
    many = mc.simulation.simulate_many(chains, walkers, steps, seed=seeds, backend="cuda", record_paths=True)
    for c, w, s, sd, got in zip(chains, walkers, steps, seeds, many):
        assert_same(got, mc.simulate(c, w, s, seed=sd, backend="numba", record_paths=True))
    # the CPU route of simulate_many is a loop over simulate
    cpu_many = mc.simulation.simulate_many(chains, walkers, steps, seed=seeds, backend="numba", record_paths=True)
    for a, b in zip(many, cpu_many):
        assert_same(a, b)


@sim_only
def test_sim_never_hitting_walkers_stop_on_a_huge_budget():
    """Walkers absorbed away from the target stop at once on the GPU too, with the CPU's masks."""
    P = np.array([[0, 0.5, 0.5, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 1]], dtype=float)
    chain = mc.Chain(P, start=0, target=3)
    cuda, cpu = both(chain, 64, 10**11, seed=13)
    assert_same(cuda, cpu)
    assert 0 < cuda.n_never_hit < 64
    np.testing.assert_array_equal(cuda.never_hit, cuda.final_states == 1)
    np.testing.assert_array_equal(cuda.censored, cuda.never_hit)
    many = mc.simulation.simulate_many([chain, chain], 64, [10**11, 5], seed=[13, 14], backend="cuda")
    assert_same(many[0], cpu)
    assert_same(many[1], mc.simulate(chain, 64, 5, seed=14, backend="numba"))


@sim_only
def test_sim_rounds_do_not_change_results():
    """Launches cut into rounds of 2 or 6 steps (walkers resumed across launches) give the same bits."""
    from metacot.simulation.kernels.alias import build_alias_table
    from metacot.simulation.kernels.rng import seed_key

    P = np.array([[0.6, 0.2, 0.1, 0.1, 0.0], [0.3, 0.4, 0.2, 0.0, 0.1], [0.1, 0.1, 0.7, 0.05, 0.05],
                  [0.0, 0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0, 1.0]])
    table = build_alias_table(sp.csr_array(P)).with_empty_rows([4])
    jobs = [gpu.Job(table, 5, 70, 0, 23, seed_key(8), start=0), gpu.Job(table, 5, 40, 7, 9, seed_key(9), start=1)]
    ref = gpu.run_jobs(jobs, count_visits=True, record_paths=True)
    for rounds in (2, 5):
        got = gpu.run_jobs(jobs, count_visits=True, record_paths=True, rounds=rounds)
        for a, b in zip(ref, got):
            for f in ("states", "tau", "censored", "visits", "paths"):
                np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f"{f}, rounds={rounds}")
    assert gpu.round_steps(10, 100) == gpu.MIN_ROUND_STEPS and gpu.round_steps(1, 2**36 + 1) % 2 == 0


@sim_only
def test_sim_gpu_exact_refuses_simulator():
    from metacot.markov.gpu_exact import hitting_times_cuda

    with pytest.raises(BackendUnavailableError, match="simulator"):
        hitting_times_cuda(mc.families.line_of_cliques(K=2, M=4, eps=0.5))
