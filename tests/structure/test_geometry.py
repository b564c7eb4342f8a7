"""metacot.structure.geometry: Welzl's minimum enclosing ball against brute force, bond statistics on
hand-built coordinates, embedders and the cache, and the real packaged model (slow)."""

from __future__ import annotations

import importlib.util
import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from metacot.errors import InvalidArgumentError, MissingDependencyError
from metacot.structure import geometry as geo


# ------------------------------------------------------------------ minimum enclosing ball
def _circumball(S: np.ndarray) -> tuple[np.ndarray, float] | None:
    p0 = S[0]
    A = S[1:] - p0
    G = A @ A.T
    if abs(np.linalg.det(G)) < 1e-10 * max(1.0, np.abs(G).max()) ** len(G):
        return None
    lam = np.linalg.solve(G, 0.5 * np.einsum("ij,ij->i", A, A))
    c = p0 + A.T @ lam
    return c, float(np.linalg.norm(S[0] - c))


def brute_force_radius(P: np.ndarray) -> float:
    """Smallest circumball over all 2-, 3- and 4-point support sets that contains every point."""
    best = math.inf
    n, d = P.shape
    if n == 1:
        return 0.0
    for k in range(2, min(d + 1, n) + 1):
        for idx in itertools.combinations(range(n), k):
            ball = _circumball(P[list(idx)])
            if ball is None:
                continue
            c, r = ball
            if np.all(np.linalg.norm(P - c, axis=1) <= r * (1 + 1e-9) + 1e-9):
                best = min(best, r)
    return best


coords = st.floats(-10, 10, allow_nan=False, width=32)


@given(st.integers(2, 3).flatmap(lambda d: arrays(np.float64, st.tuples(st.integers(1, 8), st.just(d)), elements=coords)),
       st.integers(0, 3))
def test_meb_contains_every_point_and_is_no_larger_than_brute_force(P, seed):
    ball = geo.min_enclosing_ball(P, seed=seed)
    dist = np.linalg.norm(P - ball.center, axis=1)
    assert np.all(dist <= ball.radius * (1 + 1e-9) + 1e-9)
    bf = brute_force_radius(P)
    assert ball.radius <= bf * (1 + 1e-6) + 1e-6


def test_meb_known_cases_and_volume():
    square = np.array([[0.0, 0], [2, 0], [0, 2], [2, 2], [1, 1]])
    b = geo.min_enclosing_ball(square)
    assert np.allclose(b.center, [1, 1]) and b.radius == pytest.approx(math.sqrt(2))
    cube = np.array(list(itertools.product([0.0, 1.0], repeat=3)))
    b3 = geo.min_enclosing_ball(cube)
    assert b3.radius == pytest.approx(math.sqrt(3) / 2)
    assert b3.volume == pytest.approx(4 / 3 * math.pi * (math.sqrt(3) / 2) ** 3)
    assert geo.min_enclosing_ball(np.array([[3.0, 4.0]])).radius == 0.0
    assert geo.ball_volume(1.0, 1) == pytest.approx(2.0)


def test_meb_many_points_in_high_dimension_has_no_recursion_problem():
    rng = np.random.default_rng(0)
    P = rng.normal(size=(5000, 6))
    b = geo.min_enclosing_ball(P)
    assert np.max(np.linalg.norm(P - b.center, axis=1)) <= b.radius + 1e-9
    # The ball is minimal: no point set far from the centre can be dropped without change.
    assert b.radius < np.max(np.linalg.norm(P - P.mean(0), axis=1)) + 1e-9


def test_meb_refuses_bad_input():
    with pytest.raises(InvalidArgumentError):
        geo.min_enclosing_ball(np.zeros((0, 3)))
    with pytest.raises(InvalidArgumentError, match="point 1"):
        geo.min_enclosing_ball(np.array([[0.0, 0], [np.nan, 1]]))


# ------------------------------------------------------------------ bond statistics
# A trace on a line: cluster A near 0, cluster B near 10; steps are hand-placed.
Y = np.array([[0.0], [0.2], [0.4], [10.0], [10.3], [0.1], [10.1], [30.0]])
B = ["normal", "deep", "deep", "explore", "deep", "reflect", "reflect", "explore"]


def test_locality_exact_counts():
    # deep steps 1, 2, 4 jump 0.2, 0.2, 0.3: all below 0.5, two below 0.25.
    assert geo.locality(Y, B, threshold=0.5) == (3, 3)
    assert geo.locality(Y, B, threshold=0.25) == (2, 3)


def test_clusters_and_reattachment_exact():
    c = geo.cluster_steps(Y, threshold=2.0)
    assert c.tolist() == [0, 0, 0, 1, 1, 0, 1, 2]
    # reflection steps 5 (cluster 0, seen at 0) and 6 (cluster 1, seen at 3) both re-attach.
    assert geo.reattachment(c, B) == (2, 2)
    # explore steps 3 and 7 open new clusters.
    assert geo.reattachment(c, B, behaviour="explore") == (0, 2)
    # with min_lag 3 step 6 still qualifies (cluster 1 seen at 3 <= 6-3); step 5 too (0 <= 2).
    assert geo.reattachment(c, B, min_lag=3) == (2, 2)
    assert geo.reattachment(c, B, min_lag=4) == (1, 2)  # step 6: cluster 1 first seen at 3 > 6 - 4
    assert geo.reattachment(c, B, min_lag=6) == (0, 2)


def test_stride_exact():
    assert geo.stride(Y, B).tolist() == pytest.approx([9.6, 19.9])


def test_step_table_agrees_with_the_functions():
    t = geo.step_table(Y, B, locality_threshold=0.5, cluster_threshold=2.0)
    deep = t[t["behaviour"] == "deep"]
    assert int(deep["local"].sum()) == 3
    assert t.loc[t["behaviour"] == "reflect", "returned"].tolist() == [True, True]
    assert t["returned"].sum() == 2 and not t.loc[0, "reattached"]


def test_window_volumes_exact_in_one_dimension():
    Z = np.array([[0.0], [1.0], [2.0], [10.0], [14.0], [18.0]])
    v = geo.window_volumes(Z, ["normal", "normal", "normal", "explore", "normal", "normal"], "explore", window=3)
    # before: [0, 2] -> radius 1, length 2; after: [10, 18] -> radius 4, length 8.
    assert v.tolist() == [pytest.approx([3.0, 2.0, 8.0])]
    assert geo.window_volumes(Z, ["explore"] * 6, "explore", window=3).shape == (1, 3)


def test_statistics_refuse_mismatched_input():
    with pytest.raises(InvalidArgumentError, match="behaviours for"):
        geo.locality(Y, B[:-1])
    with pytest.raises(InvalidArgumentError, match="unknown behaviour"):
        geo.stride(Y, ["bogus"] * len(Y))
    with pytest.raises(InvalidArgumentError, match="threshold"):
        geo.locality(Y, B, threshold=-1)
    with pytest.raises(InvalidArgumentError, match="window"):
        geo.window_volumes(Y, B, "explore", window=1)


def test_trace_units_scale_and_tsne_is_seeded():
    U = geo.to_trace_units(np.array([[0.0, 0], [3, 4], [6, 8]]))
    assert U[1].tolist() == pytest.approx([0.6, 0.8])
    pytest.importorskip("sklearn")
    E = geo.HashingEmbedder(16)([f"step {i} about {'ab'[i % 2]} and {i % 3}" for i in range(15)])
    a = geo.tsne_3d(E, perplexity=5, seed=1, max_iter=300)
    b = geo.tsne_3d(E, perplexity=5, seed=1, max_iter=300)
    assert a.shape == (15, 3) and np.array_equal(a, b)


# ------------------------------------------------------------------ embedders
def test_hashing_embedder_and_cache(tmp_path):
    calls = []

    def counting(texts):
        calls.append(list(texts))
        return geo.HashingEmbedder(8)(texts)

    cached = geo.CachedEmbedder(counting, tmp_path, key="counting")
    first = cached(["a b", "c", "a b"])
    again = geo.CachedEmbedder(counting, tmp_path, key="counting")(["c", "a b"])
    assert [sorted(c) for c in calls] == [["a b", "c"]]  # each distinct text embedded once, the second object read the file
    assert np.array_equal(first[[1, 0]], again)
    assert geo.embed([], cached).shape[0] == 0


def test_embed_validates_the_callable_output():
    with pytest.raises(InvalidArgumentError, match="shape"):
        geo.embed(["a", "b"], lambda texts: np.zeros((3, 4)))
    with pytest.raises(InvalidArgumentError, match="non-finite"):
        geo.embed(["a"], lambda texts: np.array([[np.nan]]))


def test_missing_model_package_names_the_extra():
    with pytest.raises(MissingDependencyError, match=r"metacot\[embed\]"):
        geo.model_dir("no_such_model_package_xyz")


@pytest.mark.slow
def test_real_model_embeds_offline():
    if importlib.util.find_spec("sentence_transformers") is None or importlib.util.find_spec(geo.DEFAULT_MODEL_PACKAGE) is None:
        pytest.skip("the embed extra is not installed")
    model = geo.SentenceEmbedder()
    E = model(["Let me compute 2 + 2.", "Wait, that is wrong.", "Alternatively, try induction."])
    assert E.shape == (3, 384)
    assert np.allclose(np.linalg.norm(E, axis=1), 1.0, atol=1e-5)
    # Two paraphrases are closer than an unrelated sentence.
    P = model(["The sum is four.", "Adding them gives four.", "The cat sat on the mat."])
    assert P[0] @ P[1] > P[0] @ P[2]


def test_summarise_bonds_against_a_hand_count():
    """Pooled shares of two tiny step tables, counted by hand (step 0 has no jump and is left out)."""
    import pandas as pd

    from metacot.structure.bond_summary import summarise_bonds

    t1 = pd.DataFrame({"step": [0, 1, 2], "behaviour": ["normal", "deep", "explore"],
                       "local": [False, True, False], "reattached": [False, False, False],
                       "returned": [False, False, False], "jump": [0.0, 0.1, 0.9]})
    t2 = pd.DataFrame({"step": [0, 1, 2], "behaviour": ["normal", "deep", "reflect"],
                       "local": [True, False, True], "reattached": [False, False, True],
                       "returned": [False, False, False], "jump": [0.0, 0.3, 0.2]})
    empty = {"reflect": np.zeros((0, 3)), "explore": np.zeros((0, 3))}
    s = summarise_bonds([t1, t2], [empty, empty])
    assert s["locality_deep"] == pytest.approx(0.5)          # deep steps: local True, False
    assert s["locality_other"] == pytest.approx(0.5)         # explore False, reflect True
    assert s["stride_explore"] == pytest.approx(0.9)
    assert s["stride_other"] == pytest.approx((0.1 + 0.3 + 0.2) / 3)
    assert s["reattach_reflect"] == pytest.approx(1.0) and s["reattach_other"] == pytest.approx(0.0)
    assert s["n_deep"] == 2 and s["n_normal"] == 0
    assert np.isnan(s["vol_ratio_median_reflect"]) and s["n_events_explore"] == 0
