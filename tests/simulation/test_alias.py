"""Alias tables represent every row's distribution exactly (up to float rounding of the input)."""

from fractions import Fraction

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from metacot.simulation.kernels.alias import build_alias_table, row_distribution

TWO64 = 1 << 64


def _exact_row(values):
    total = sum(Fraction(float(v)) for v in values)
    return [Fraction(float(v)) / total for v in values]


def _check_rows(P: sp.csr_array, tol: float = 1e-15):
    table = build_alias_table(P)
    for x in range(P.shape[0]):
        lo, hi = P.indptr[x], P.indptr[x + 1]
        cols = P.indices[lo:hi]
        exact = _exact_row(P.data[lo:hi])
        got = row_distribution(table, x)
        # the represented masses sum to exactly one
        assert sum(got.values()) == 1
        for c, p in zip(cols, exact):
            err = abs(got.get(int(c), Fraction(0)) - p)
            assert err <= tol, (x, int(c), float(err))
            # relative accuracy too, also for tiny entries: a few float ulps plus the integer
            # quantisation of one unit (2^-64 of a slot, i.e. 2^-64 / k in probability)
            if c != cols[np.argmax(P.data[lo:hi])]:
                assert err <= 8 * 2.0**-52 * p + Fraction(1, int(hi - lo) * TWO64)
        assert set(got) <= {int(c) for c in cols}
    return table


row_values = st.lists(
    st.one_of(
        st.floats(1e-6, 1.0),
        st.floats(1e-13, 1e-11),  # very skewed entries
        st.sampled_from([1.0, 0.5, 1e-12, 1 / 3]),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(row_values, min_size=1, max_size=6), data=st.data())
def test_rows_reproduced_exactly(rows, data):
    n = max(max(len(r) for r in rows), len(rows))
    indptr, indices, vals = [0], [], []
    for r in rows:
        cols = sorted(data.draw(st.lists(st.integers(0, n - 1), min_size=len(r), max_size=len(r), unique=True)))
        v = np.asarray(r) / np.sum(r)
        indices += cols
        vals += list(v)
        indptr.append(len(indices))
    # pad with self-loop rows so the matrix is square
    for x in range(len(rows), n):
        indices.append(x)
        vals.append(1.0)
        indptr.append(len(indices))
    P = sp.csr_array((np.array(vals), np.array(indices), np.array(indptr)), shape=(n, n))
    _check_rows(P)


def test_single_entry_row_is_probability_one_slot():
    P = sp.csr_array(np.array([[0.0, 1.0], [1.0, 0.0]]))
    t = build_alias_table(P)
    assert int(t.slots[0]) == TWO64 - 1
    word = int(t.slots[1])
    assert (word & 0xFFFFFFFF) >> 1 == 1 and word >> 33 == 1
    assert row_distribution(t, 0) == {1: Fraction(1)}


def test_skewed_dense_row():
    rng = np.random.default_rng(3)
    row = rng.random(500) * 1e-12
    row[17] = 1.0
    row /= row.sum()
    _check_rows(sp.csr_array(row[None, :].repeat(500, axis=0)))


def test_random_dense_matrix():
    rng = np.random.default_rng(11)
    P = rng.random((60, 60)) ** 4
    P /= P.sum(axis=1, keepdims=True)
    _check_rows(sp.csr_array(P))


def test_explicit_zero_gets_no_mass():
    P = sp.csr_array((np.array([0.0, 1.0, 1.0]), np.array([0, 1, 1]), np.array([0, 2, 3])), shape=(2, 2))
    t = build_alias_table(P)
    assert row_distribution(t, 0) == {1: Fraction(1)}


def test_layout_header_and_empty_rows():
    rng = np.random.default_rng(5)
    P = sp.random_array((30, 30), density=0.2, rng=rng, format="csr") + sp.eye_array(30, format="csr")
    P = sp.csr_array(P / P.sum(axis=1)[:, None])
    t = build_alias_table(P)
    n = 30
    np.testing.assert_array_equal(t.header[0::2], 2 * n + 2 * P.indptr[:-1])
    np.testing.assert_array_equal(t.degree(), np.diff(P.indptr))
    assert t.table.size == 2 * n + 2 * P.nnz + 2 and t.table[-2:].tolist() == [0, 0]
    emptied = t.with_empty_rows([3, 7])
    assert emptied[7] == 0 and emptied[15] == 0 and t.table[7] != 0
    # slot words hold header indices 2c of the columns
    cols = (t.slots[1::2] & np.uint64(0xFFFFFFFF)) >> np.uint64(1)
    assert np.all(np.isin(cols, np.arange(n)))


def test_rejects_negative():
    with pytest.raises(ValueError):
        build_alias_table(sp.csr_array(np.array([[1.5, -0.5], [0.0, 1.0]])))
