"""Chain validation and structure: every invalid input is refused with a message that says where."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from metacot import Chain
from metacot.errors import InvalidChainError, MetacotError
from metacot.markov.chain import ROW_SUM_TOL

GOOD = np.array([[0.5, 0.5, 0.0], [0.0, 0.2, 0.8], [0.0, 0.0, 1.0]])


def test_dense_and_sparse_inputs_give_the_same_chain():
    for P in (GOOD, sp.csr_matrix(GOOD), sp.coo_array(GOOD), GOOD.tolist()):
        c = Chain(P)
        assert sp.issparse(c.P) and c.P.format == "csr"
        np.testing.assert_array_equal(c.P.toarray(), GOOD)
        assert c.n_states == 3 and c.nnz == 5


def test_chain_is_immutable():
    c = Chain(GOOD, clusters=[0, 0, 1], start=0, target=[2])
    with pytest.raises(ValueError):
        c.P.data[0] = 0.3
    with pytest.raises(ValueError):
        c.clusters[0] = 1
    with pytest.raises(AttributeError):
        c.start = 1
    with pytest.raises(ValueError):
        c.target[0] = 0


def test_structure_properties():
    c = Chain(GOOD, clusters=[0, 0, 1], start=[0.5, 0.5, 0.0], target={2, 1})
    assert c.n_clusters == 2
    assert c.target.tolist() == [1, 2]
    np.testing.assert_array_equal(c.start_distribution(), [0.5, 0.5, 0.0])
    np.testing.assert_array_equal(c.target_mask(), [False, True, True])
    np.testing.assert_array_equal(c.cluster_sizes(), [2, 1])
    d = c.replace(start=2, target=None)
    assert d.start == 2 and d.target is None and d.P is c.P
    assert Chain(GOOD).n_clusters == 1


@pytest.mark.parametrize(
    ("P", "match"),
    [
        (np.ones((2, 3)) / 3, r"square; got shape \(2, 3\)"),
        (np.ones((2, 2, 2)), "2-D"),
        (np.zeros((0, 0)), "no states"),
        (np.array([[0.5, 0.5], [np.nan, 1.0]]), r"P\[1, 0\] = nan is not finite .*row 1"),
        (np.array([[0.5, 0.5], [np.inf, 1.0]]), r"not finite .*row 1"),
        (np.array([[1.0, 0.0], [-0.1, 1.1]]), r"P\[1, 0\] = -0.1 is negative .*row 1"),
        (np.array([[0.5, 0.5], [0.3, 0.3], [0.1, 0.1]]), "square"),
        (np.array([[0.5, 0.5, 0], [0.2, 0.3, 0.3], [0, 0, 0]]), "row 1 of P sums to 0.8.*2 row"),
        (np.array([[1.0, 0.0], [0.0, 0.0]]), "row 1 of P sums to 0.0"),
        (np.array([[1 + 1j, 0], [0, 1]]), "complex"),
        (np.array([["a", "b"], ["c", "d"]]), "numeric"),
    ],
)
def test_invalid_matrices_are_refused(P, match):
    with pytest.raises(InvalidChainError, match=match) as info:
        Chain(P)
    assert isinstance(info.value, MetacotError) and isinstance(info.value, ValueError)


def test_row_sum_tolerance_is_the_documented_one():
    P = np.array([[0.5, 0.5], [0.25, 0.75]])
    Chain(P + np.array([[ROW_SUM_TOL / 2, 0], [0, 0]]))
    with pytest.raises(InvalidChainError, match="row 0"):
        Chain(P + np.array([[3 * ROW_SUM_TOL, 0], [0, 0]]))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"clusters": [0, 1]}, "one label per state"),
        ({"clusters": [0, 2, 2]}, "label 1 is unused"),
        ({"clusters": [0, -1, 1]}, "negative"),
        ({"clusters": [0.0, 1.0, 1.0]}, "integers"),
        ({"start": 3}, "start 3 is not a state"),
        ({"start": True}, "int state index"),
        ({"start": [0.5, 0.6, -0.1]}, "invalid entry -0.1 at state 2"),
        ({"start": [0.5, 0.4, 0.0]}, "sums to"),
        ({"start": [1.0, 0.0]}, "shape"),
        ({"target": 7}, "target 7 is not a state"),
        ({"target": []}, "empty"),
        ({"target": [0, "x"]}, "int state index"),
        ({"labels": ["a", "b"]}, "each of the 3"),
        ({"labels": ["a", "a", "b"]}, "distinct"),
    ],
)
def test_invalid_structure_is_refused(kwargs, match):
    with pytest.raises(InvalidChainError, match=match):
        Chain(GOOD, **kwargs)


def test_missing_start_or_target_is_a_clear_error():
    c = Chain(GOOD)
    with pytest.raises(InvalidChainError, match="no start"):
        c.start_distribution()
    with pytest.raises(InvalidChainError, match="no target"):
        c.target_mask()
    with pytest.raises(TypeError, match="unknown fields"):
        c.replace(P=GOOD)


def test_values_are_stored_as_given():
    # No renormalisation: a row off by less than the tolerance keeps its value.
    P = np.array([[0.5 + 4e-10, 0.5], [0.0, 1.0]])
    assert Chain(P).P[0, 0] == 0.5 + 4e-10


# --------------------------------------------------------------------------- issue 14, items 6 and 7
@pytest.mark.parametrize("fmt", ["coo", "csr", "csc", "dok"])
def test_huge_declared_shape_with_few_entries_is_refused_without_allocating(fmt):
    # 10^9 states and 2 entries: row 2 is the first empty one, found in O(nnz) memory (numpy's
    # MemoryError of 7.45 GiB before). Built from COO so that no format allocates O(n) here.
    n = 10**9
    P = sp.coo_array((np.ones(2), ([0, 1], [1, 0])), shape=(n, n))
    if fmt != "coo":
        if fmt in ("csr", "csc"):  # their index pointer is O(n): use a size that fits in a test
            n = 10**7
            P = sp.coo_array((np.ones(2), ([0, 1], [1, 0])), shape=(n, n))
        P = P.asformat(fmt)
    with pytest.raises(InvalidChainError, match=rf"row 2 of P sums to 0\.0, not 1: it has no entries .*{n - 2} rows are empty"):
        Chain(P)


def test_empty_middle_row_of_a_full_matrix_is_named():
    # nnz >= n, so the pigeonhole shortcut does not apply: the scan of the CSR copy finds it.
    P = np.array([[0.5, 0.5, 0, 0], [0, 0, 0, 0], [0, 0, 1.0, 0], [0, 0, 0, 1.0]])
    for M in (P, sp.csr_array(P)):
        with pytest.raises(InvalidChainError, match=r"row 1 of P sums to 0.0, not 1: it has no entries; 1 row\(s\) are off"):
            Chain(M)


def test_request_beyond_the_machine_memory_is_a_memory_budget_error():
    # 10^10 states and 10^10 stored entries (views of one element, so this test allocates
    # nothing): the canonical CSR copy would need about 500 GiB.
    from metacot.errors import MemoryBudgetError

    n = 10**10
    zeros = np.broadcast_to(np.int64(0), (n,))
    P = sp.coo_array((np.broadcast_to(1.0, (n,)), (zeros, zeros)), shape=(n, n))
    with pytest.raises(MemoryBudgetError, match=r"a chain with 10000000000 states .* GiB available") as info:
        Chain(P)
    assert isinstance(info.value, MetacotError) and isinstance(info.value, MemoryError)


@pytest.mark.parametrize("target", [True, 1.5, "2", object()])
def test_target_of_the_wrong_type_is_a_metacot_error(target):
    from metacot.errors import ArgumentTypeError

    with pytest.raises((ArgumentTypeError, InvalidChainError), match="target") as info:
        Chain(GOOD, target=target)
    assert isinstance(info.value, MetacotError)


def test_target_true_names_the_rule():
    from metacot.errors import ArgumentTypeError

    with pytest.raises(ArgumentTypeError, match=r"target must be a state index \(int\) or an iterable of state indices, got True"):
        Chain(GOOD, target=True)


@pytest.mark.parametrize("start", [1.0, np.float64(0.0), "0", [0.5, 0.5], [[1, 0, 0]], object()])
def test_start_of_the_wrong_kind_says_what_a_start_is(start):
    with pytest.raises(InvalidChainError, match=r"start must be an int state index or a distribution of shape \(3,\)"):
        Chain(GOOD, start=start)


def test_ragged_matrix_is_an_invalid_chain():
    with pytest.raises(InvalidChainError, match="2-D numeric matrix"):
        Chain([[1.0], [0.5, 0.5]])
