"""The graph file format: malformed files are refused with the file and field named; files get the ordinary mode."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metacot.errors import GraphFormatError, MetacotError
from metacot.graphs.behaviour_graph import BehaviourGraph
from metacot.graphs.reference_graphs import reference

VALID = reference("qwq-32b").to_dict()


def _load_error(tmp_path, content: bytes) -> GraphFormatError:
    p = tmp_path / "g.json"
    p.write_bytes(content)
    with pytest.raises(GraphFormatError) as ei:
        BehaviourGraph.load(p)
    assert str(p) in str(ei.value)
    return ei.value


def test_duplicate_states_name_the_file_and_the_field(tmp_path):
    d = json.loads(json.dumps(VALID))
    d["states"] = ["normal", "deep", "normal", "explore"]
    err = _load_error(tmp_path, json.dumps(d).encode())
    assert err.field == "states" and "'normal' twice" in err.reason


def test_empty_states_are_refused_as_a_format_error(tmp_path):
    d = json.loads(json.dumps(VALID)) | {"states": [], "P": []}
    assert _load_error(tmp_path, json.dumps(d).encode()).field == "states"


def test_non_utf8_file_names_the_file(tmp_path):
    err = _load_error(tmp_path, b'{"format": "metacot.behaviour_graph", "notes": "\xff\xfe"}')
    assert err.field == "<root>" and "not UTF-8" in err.reason and "byte 48" in err.reason


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ("[" * 100_000 + "]" * 100_000, "<root>"),  # deeper than the JSON parser recurses
        (json.dumps(VALID | {"version": True}), "version"),  # a bool is not the version number 1
        (json.dumps(VALID).replace('"P": [[', '"P": [["0.5", '), "P"),  # a number as a string
        (json.dumps(VALID | {"counts": [[10**400] * 4] * 4}), "counts"),  # overflows a float
        (json.dumps(VALID | {"marginal": [True, False, False, False]}), "marginal"),
    ],
)
def test_other_malformed_content_is_a_format_error(tmp_path, content, field):
    assert _load_error(tmp_path, content.encode()).field == field


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_saved_graph_gets_the_ordinary_mode(tmp_path, umask):
    old = os.umask(umask)
    try:
        p = reference("r1").save(tmp_path / f"g{umask:o}.json")
    finally:
        os.umask(old)
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask
    assert [x.name for x in tmp_path.iterdir()] == [p.name]  # no temporary file left behind
    assert BehaviourGraph.load(p) == reference("r1")


def _mutations() -> st.SearchStrategy[bytes]:
    """Documents near the valid one: one field replaced by any JSON value, then encoded (or cut)."""
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
        lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
        max_leaves=20,
    )
    fields = st.sampled_from([*VALID, "provenance.method", "provenance.sources", "provenance.extra", "P.0", "x"])

    @st.composite
    def mutated(draw) -> bytes:
        d = json.loads(json.dumps(VALID))
        field, value = draw(fields), draw(json_values)
        if field.startswith("provenance."):
            d["provenance"][field.split(".", 1)[1]] = value
        elif field == "P.0":
            d["P"][0] = value
        else:
            d[field] = value
        raw = json.dumps(d).encode()
        cut = draw(st.integers(0, len(raw)))
        return raw if draw(st.booleans()) else raw[:cut]

    return mutated()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.one_of(st.binary(max_size=300), _mutations()))
def test_fuzz_any_bytes_give_a_graph_or_an_error_naming_the_file(tmp_path, content):
    # For any bytes the reader returns a valid graph or raises a MetacotError naming the file;
    # never a bare ValueError, TypeError, UnicodeDecodeError, RecursionError or OverflowError.
    p = tmp_path / "fuzz.json"
    p.write_bytes(content)
    try:
        g = BehaviourGraph.load(p)
    except MetacotError as e:
        assert isinstance(e, GraphFormatError) and str(p) in str(e)
        return
    k = g.n_states
    assert g.P.shape == (k, k) and np.allclose(g.P.sum(axis=1), 1.0, atol=1e-9) and (g.P >= 0).all()
    assert BehaviourGraph.from_dict(g.to_dict()) == g
