r"""Monte Carlo simulation of a :class:`~metacot.markov.chain.Chain`: :func:`simulate` and :class:`Simulation`.

Many independent walkers :math:`X^{(w)}_0, X^{(w)}_1, \dots` follow the chain from a start state
(or a start distribution) until they reach the target set or run out of steps. The simulator is
built for throughput: one alias table per row of :math:`P` (:mod:`metacot.simulation.kernels.alias`) makes a
step :math:`O(1)` whatever the degree, a counter-based generator (:mod:`metacot.simulation.kernels.rng`) gives
every walker its own reproducible stream, and the numba kernels (:mod:`metacot.simulation.kernels.cpu`)
advance walkers in lockstep blocks on every core; the CUDA kernels (:mod:`metacot.simulation.kernels.gpu`) give
each GPU thread one walker at a time, taking the next when it finishes. Results depend only on the seed: not on the backend, the thread
count or the batch size. :func:`simulate_many` runs many chains at once on the GPU (a whole sweep
grid of small chains): one launch for the chains whose tables fit in shared memory, one more for
the rest.

The parts live in their own modules: :mod:`~metacot.simulation.result` (:class:`Simulation`,
:class:`Estimate`), :mod:`~metacot.simulation.request` (checking a request, the backend, memory,
the alias-table cache), :mod:`~metacot.simulation.run` (running the kernels in rounds, building
the result); this module holds the two entry points and re-exports the public names.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from metacot._checks import as_seed_int
from metacot.errors import InvalidArgumentError, MetacotError, UnknownBackendError
from metacot.simulation.request import (
    BACKENDS,
    MAX_STEPS,
    check_memory,
    prepare,
    resolve_backend,
    start_thresholds,
)
from metacot.simulation.result import Estimate, Simulation
from metacot.simulation.run import execute, run_cuda

__all__ = [
    "BACKENDS",
    "MAX_STEPS",
    "Estimate",
    "Simulation",
    "UnknownBackendError",
    "resolve_backend",
    "simulate",
    "simulate_many",
    "start_thresholds",
]


def simulate(chain, n_walkers, max_steps, start=None, target=None, seed=0, backend="auto",
             record_paths=False, count_visits=True, progress=False) -> Simulation:
    r"""Simulate independent walkers of a chain until they hit the target or run out of steps.

    Walker :math:`w` starts at :math:`X_0 \sim \mu` (a fixed state or the start distribution),
    moves by :math:`P` and stops at its hitting time
    :math:`\tau_w = \min\{t \ge 0 : X_t \in T\}` or after ``max_steps`` steps, whichever comes
    first; without a target every walker takes exactly ``max_steps`` steps.

    Parameters
    ----------
    chain : Chain
        The dynamics.
    n_walkers : int
        Number of independent walkers, at least 1.
    max_steps : int
        Step budget per walker, from 0 to ``2**63 - 2``. Walkers that have not hit after it are
        *censored*. Walkers that enter a state from which the target cannot be reached stop there
        at once and are reported in :attr:`Simulation.never_hit` (and counted as censored), so a
        huge budget costs nothing for them.
    start : int or array_like of float, optional
        Start state or distribution; overrides ``chain.start``. One of the two is required.
    target : int or iterable of int, optional
        Target states; overrides ``chain.target``. With neither, there is no target.
    seed : int or numpy.random.Generator
        A seed in :math:`[0, 2^{64})`, or a generator from which one ``uint64`` is drawn.
    backend : {"auto", "numba", "numpy", "cuda"}
        ``"numba"``: parallel CPU kernels. ``"numpy"``: the slow vectorised reference.
        ``"cuda"``: the GPU kernels of :mod:`metacot.simulation.kernels.gpu` (numba-cuda, CuPy arrays; needs
        the ``gpu`` extra and an NVIDIA GPU, or ``NUMBA_ENABLE_CUDASIM=1`` for the slow
        simulator). ``"auto"``: ``"cuda"`` when a real GPU is usable, else ``"numba"`` (never the
        simulator). All give identical results for a seed.
    record_paths : bool
        Keep every path, an ``(n_walkers, max_steps + 1)`` int32 array (mind the memory).
    count_visits : bool
        Count how often each state is occupied (slightly slower than hitting times alone).
    progress : bool
        Show a progress bar (tqdm), running the walkers in batches; results are unchanged.

    Returns
    -------
    Simulation

    Raises
    ------
    InvalidChainError
        No start, or a malformed start or target.
    UnreachableTargetError
        No start state has a path to the target.
    MemoryBudgetError
        The request needs more than 80% of the available memory; raised before allocating.
    UnknownBackendError
        ``backend`` is not one of the names above (a ``BackendUnavailableError`` and a
        ``ValueError``).
    BackendUnavailableError
        ``backend="cuda"`` without a usable GPU (and without the simulator); when numba-cuda is
        not installed, a :class:`~metacot.simulation.kernels.gpu.CudaUnavailableError`, which is also a
        ``MissingDependencyError`` naming the ``gpu`` extra.
    InvalidArgumentError
        ``n_walkers < 1``, ``max_steps`` outside :math:`[0, 2^{63}-2]` or a seed outside
        :math:`[0, 2^{64})` (also a ``ValueError``); an
        :class:`~metacot.errors.ArgumentTypeError` (also a ``TypeError``) for non-integer counts
        or seeds, or a ``chain`` that is not a :class:`~metacot.markov.chain.Chain`.

    Notes
    -----
    **Steps.** Every row :math:`x` of :math:`P` has an alias table with :math:`k_x` slots, each
    holding a 64-bit threshold :math:`\theta`, a column and an alias column. From state :math:`x`
    with a 64-bit random value :math:`u`, the 128-bit product :math:`u k_x = j\,2^{64} + r`
    (integer limb arithmetic) gives the slot :math:`j`, uniform on :math:`[0, k_x)`, and the coin
    :math:`r`; the walker moves to the slot's column if :math:`r < \theta_j`, else to its alias.
    Target rows are given degree 0, which is how the kernels recognise a hit.

    **Random stream** (a contract shared by all backends, present and future). With
    ``key = (seed & 0xffffffff, seed >> 32)``, draw :math:`d` of walker :math:`w` is
    Philox4x32-10 of counter ``(d & 0xffffffff, d >> 32, w & 0xffffffff, w >> 32)``; its words
    ``r0..r3`` form ``a = r0 | r1 << 32`` and ``b = r2 | r3 << 32``. Step :math:`s = 1, 2, \dots`
    uses draw :math:`(s-1) // 2`, value ``a`` if :math:`s-1` is even and ``b`` if odd. A start
    distribution is sampled from value ``a`` of draw :math:`2^{64}-1` by exact inverse CDF on
    ``uint64`` thresholds (:func:`start_thresholds`). Because each walker's stream is a function
    of ``(seed, w)`` only, results are identical for any thread count, batch size and backend.

    **Stopping.** Walker :math:`w` stops at :math:`\sigma_w = \min(\tau_w, \rho_w,
    \text{max\_steps})`, with :math:`\rho_w` its first entry into the states that cannot reach
    the target (found once by breadth-first search, :func:`metacot.markov.reach.reaches`).
    The rows of the target and of those states are emptied in the alias table, which is how the
    kernels recognise a stop.

    **Interruption.** The kernels run the budget in rounds of about :math:`2^{26}` lane-steps
    (:mod:`metacot.simulation.run`) and return to Python between rounds, so Ctrl-C interrupts a
    long simulation within about a second; the rounds do not change the results.

    **Cost.** Building the alias tables is :math:`O(\mathrm{nnz})`; each step is :math:`O(1)`.

    Examples
    --------
    >>> import numpy as np, metacot as mc
    >>> P = np.array([[0.9, 0.1, 0.0], [0.1, 0.8, 0.1], [0.0, 0.0, 1.0]])
    >>> chain = mc.Chain(P, start=0, target=2)
    >>> sim = mc.simulate(chain, n_walkers=1000, max_steps=10_000, seed=42)
    >>> sim.n_censored
    0
    >>> sim.hitting_times.shape, sim.visits.sum() == (sim.hitting_times + 1).sum()
    ((1000,), np.True_)
    """
    req = prepare(chain, n_walkers, max_steps, start, target, seed, backend, record_paths, count_visits)
    check_memory(req.memory())
    return execute(req, progress)


def _per_chain(value: Any, m: int, name: str) -> list:
    """A scalar broadcast to ``m`` chains, or a sequence of exactly ``m`` values."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        return [value] * m
    values = list(value)
    if len(values) != m:
        raise InvalidArgumentError(f"{name} has {len(values)} values for {m} chains; give one value or one per chain")
    return values


def simulate_many(chains, n_walkers, max_steps, seed=0, backend="auto", *, record_paths=False,
                  count_visits=True, progress=False) -> list[Simulation]:
    r"""Simulate many chains at once: one kernel launch for all of them on the GPU.

    The result for chain :math:`i` is exactly ``simulate(chains[i], n_walkers[i], max_steps[i],
    seed=seed[i], backend=..., record_paths=..., count_visits=...)``, with each chain's own start
    and target. On the ``"cuda"`` backend every chain's alias table is concatenated into one
    device array with per-chain offsets, each CUDA block serves one chain (holding its table in
    shared memory when it fits in 48 KiB) and every thread knows its chain and walker, so a whole
    sweep grid of small chains costs one launch instead of one per chain. The CPU backends run
    the chains one after the other.

    Parameters
    ----------
    chains : sequence of Chain
        Each with a start (and usually a target).
    n_walkers, max_steps : int or sequence of int
        One value for every chain, or one per chain.
    seed : int, sequence of int or numpy.random.Generator
        One seed per chain; a single int is used for every chain (common random numbers, as a loop
        calling :func:`simulate` with that seed would do); a generator draws one seed per chain,
        in order.
    backend : {"auto", "numba", "numpy", "cuda"}
        As in :func:`simulate`.
    record_paths, count_visits : bool
        As in :func:`simulate`.
    progress : bool
        A progress bar over the chains (CPU backends; one launch on the GPU has no steps to show).

    Returns
    -------
    list of Simulation
        In the order of ``chains``.

    Raises
    ------
    InvalidArgumentError
        A per-chain sequence of the wrong length; and everything :func:`simulate` raises, with
        the message prefixed by ``chains[i]:`` to name the chain at fault.
    MemoryBudgetError
        All chains together need more than 80% of the available memory.

    Notes
    -----
    Each chain keeps its own stream: walker :math:`w` of chain :math:`i` draws Philox4x32-10 of
    counter ``(d, w)`` under the key of ``seed[i]``, exactly as in :func:`simulate`, which is why
    batching changes nothing.

    Examples
    --------
    >>> import metacot as mc
    >>> chains = [mc.families.line_of_cliques(K=2, M=4, eps=e) for e in (0.5, 0.25)]
    >>> sims = simulate_many(chains, n_walkers=100, max_steps=10_000, seed=[1, 2])
    >>> [s.n_walkers for s in sims]
    [100, 100]
    >>> bool((sims[1].hitting_times == mc.simulate(chains[1], 100, 10_000, seed=2).hitting_times).all())
    True
    """
    chains = list(chains)
    m = len(chains)
    name = resolve_backend(backend)
    walkers = _per_chain(n_walkers, m, "n_walkers")
    steps = _per_chain(max_steps, m, "max_steps")
    if isinstance(seed, np.random.Generator):
        seeds = [as_seed_int(seed) for _ in range(m)]
    else:
        seeds = _per_chain(seed, m, "seed")
    reqs = []
    for i, chain in enumerate(chains):
        try:
            reqs.append(prepare(chain, walkers[i], steps[i], None, None, seeds[i], name, record_paths,
                                count_visits))
        except MetacotError as err:
            raise _renamed(err, f"chains[{i}]: {err}") from err
    need: dict[str, int] = {}
    for r in reqs:
        for k, v in r.memory().items():
            need[k] = need.get(k, 0) + v
    check_memory(need)

    if name != "cuda":
        if not progress:
            return [execute(r, False) for r in reqs]
        from tqdm.auto import tqdm

        return [execute(r, False) for r in tqdm(reqs, unit="chain", desc="simulate_many")]
    return run_cuda(reqs, count_visits, record_paths)


def _renamed(err: MetacotError, message: str) -> MetacotError:
    """``err`` with another message, same class (some error classes take structured arguments)."""
    try:
        return type(err)(message)
    except TypeError:
        return InvalidArgumentError(message)
