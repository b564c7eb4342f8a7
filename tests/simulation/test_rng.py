"""Philox4x32-10: Random123 known-answer vectors, and the numba and numpy versions agree."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from metacot.simulation.kernels.rng import (
    START_DRAW,
    philox4x32_10,
    philox4x32_10_np,
    philox_pair,
    philox_pair_np,
    seed_key,
)

# Random123's kat_vectors, "philox4x32 10" lines: counter (4 words), key (2 words), expected output.
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    (
        (0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF),
        (0xFFFFFFFF, 0xFFFFFFFF),
        (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD),
    ),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]


@njit
def _philox_jit(c0, c1, c2, c3, k0, k1):
    return philox4x32_10(c0, c1, c2, c3, k0, k1)


@njit
def _pairs_jit(d, w, k0, k1):
    a = np.empty(d.size, dtype=np.uint64)
    b = np.empty(d.size, dtype=np.uint64)
    for i in range(d.size):
        a[i], b[i] = philox_pair(d[i], w[i], k0, k1)
    return a, b


@pytest.mark.parametrize("ctr,key,expected", KAT)
def test_known_answers_numba(ctr, key, expected):
    out = _philox_jit(*(np.uint64(c) for c in ctr), *(np.uint64(k) for k in key))
    assert tuple(int(x) for x in out) == expected


@pytest.mark.parametrize("ctr,key,expected", KAT)
def test_known_answers_numpy(ctr, key, expected):
    out = philox4x32_10_np(*ctr, *key)
    assert tuple(int(x) for x in out) == expected


def test_numpy_kat_vectorised():
    # all three vectors in one call, to check broadcasting keeps the words apart
    out = philox4x32_10_np(*np.array([c for c, _, _ in KAT]).T, 0, 0)
    assert tuple(int(x[0]) for x in out) == KAT[0][2]


def test_numba_equals_numpy_on_many_counters():
    rng = np.random.default_rng(20240601)
    n = 20_000
    d = rng.integers(0, 2**64, n, dtype=np.uint64)
    d[:3] = [0, 2**64 - 1, 2**32]  # edges of the 32-bit split
    w = rng.integers(0, 2**64, n, dtype=np.uint64)
    for seed in (0, 1, 2**32 - 1, 2**32, 2**64 - 1, 0x0123456789ABCDEF):
        k0, k1 = seed_key(seed)
        a_nb, b_nb = _pairs_jit(d, w, k0, k1)
        a_np, b_np = philox_pair_np(d, w, k0, k1)
        np.testing.assert_array_equal(a_nb, a_np)
        np.testing.assert_array_equal(b_nb, b_np)


@settings(max_examples=200, deadline=None)
@given(
    d=st.integers(0, 2**64 - 1),
    w=st.integers(0, 2**64 - 1),
    seed=st.integers(0, 2**64 - 1),
)
def test_pair_layout(d, w, seed):
    """(a, b) are the words of Philox4x32-10 on counter (d lo, d hi, w lo, w hi) under the seed's key."""
    k0, k1 = seed_key(seed)
    assert (int(k0), int(k1)) == (seed & 0xFFFFFFFF, seed >> 32)
    r = philox4x32_10_np(d & 0xFFFFFFFF, d >> 32, w & 0xFFFFFFFF, w >> 32, k0, k1)
    a, b = philox_pair_np(np.uint64(d), np.uint64(w), k0, k1)
    assert int(a) == int(r[0]) | int(r[1]) << 32
    assert int(b) == int(r[2]) | int(r[3]) << 32
    a2, b2 = _pairs_jit(np.array([d], dtype=np.uint64), np.array([w], dtype=np.uint64), k0, k1)
    assert (int(a2[0]), int(b2[0])) == (int(a), int(b))


def test_start_draw_is_last_counter():
    assert START_DRAW == 2**64 - 1


@pytest.mark.parametrize("bad", [-1, 2**64])
def test_seed_key_range(bad):
    with pytest.raises(ValueError):
        seed_key(bad)


def test_output_is_uniform_enough():
    """Sanity check of the bit balance of 2^16 outputs (each bit 1 with frequency 1/2 +- 5 sigma)."""
    k0, k1 = seed_key(7)
    a, _ = philox_pair_np(np.arange(2**16, dtype=np.uint64), np.uint64(0), k0, k1)
    bits = (a[:, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)
    freq = bits.mean(axis=0)
    assert np.all(np.abs(freq - 0.5) < 5 * 0.5 / np.sqrt(2**16))
