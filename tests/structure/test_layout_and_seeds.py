"""The structure package after the split: old module paths keep every public name, lazy names
resolve to their defining modules, the low modules stay low; seeds are int or Generator everywhere,
and bad input raises MetacotError subclasses."""

from __future__ import annotations

import importlib
import subprocess
import sys

import numpy as np
import pytest

from metacot._checks import as_seed_int
from metacot.errors import ArgumentTypeError, InvalidArgumentError, MetacotError

# The public names of the three modules before the split (their __all__ at commit 7684682).
OLD_NAMES = {
    "metacot.structure.geometry": [
        "CLUSTER_THRESHOLD", "DEFAULT_MODEL_PACKAGE", "LOCALITY_THRESHOLD", "PAPER", "WINDOW", "Ball",
        "CachedEmbedder", "HashingEmbedder", "SentenceEmbedder", "ball_volume", "cluster_steps", "embed",
        "jumps", "locality", "min_enclosing_ball", "model_dir", "reattachment", "step_table", "stride",
        "to_trace_units", "tsne_3d", "window_volumes", "Embedder",
    ],
    "metacot.structure.dynamics": [
        "EXPLORE", "EXPLORE_DELTA", "EXPLORE_SLOPE", "FLAT_DELTA", "FLAT_SLOPE", "LARGE_CHANGE", "OTHER",
        "TEMPERATURE", "UNDEFINED", "VALIDATE", "InformationSeries", "Oscillation", "classify_phases",
        "empirical_state_entropy", "entropy", "information_measures", "oscillation", "periodogram",
        "pooled_periodogram", "predictive_entropy", "semantic_entropy", "spectral_peak", "state_entropy",
    ],
    "metacot.structure.path_laws": [
        "LiftedParts", "PathLaw", "censored", "jump_chain", "lift", "lift_from_paths", "lift_from_traces",
        "lifted_parts", "mean_length", "sample_paths", "thinned",
    ],
}


@pytest.mark.parametrize("module", sorted(OLD_NAMES))
def test_old_module_paths_keep_every_public_name(module):
    mod = importlib.import_module(module)
    for name in OLD_NAMES[module]:
        obj = getattr(mod, name)
        home = getattr(obj, "__module__", None)
        if home and home.startswith("metacot.") and callable(obj):
            # Re-exported, not copied: the very object of its defining module.
            assert getattr(importlib.import_module(home), name) is obj
    assert set(mod.__all__) >= set(OLD_NAMES[module]) - {"Embedder"}


def test_structure_package_lazy_names_resolve_to_their_modules():
    import metacot.structure as st

    for name, home in st._NAMES.items():
        assert getattr(st, name) is getattr(importlib.import_module(home), name)
    for name, path in st._MODULES.items():
        assert getattr(st, name) is importlib.import_module(path)


def test_embed_and_chain_entropy_do_not_load_traces_graphs_or_synthesis():
    code = (
        "import sys, metacot.embed, metacot.markov.entropy\n"
        "bad = sorted(m for m in sys.modules if m.startswith(('metacot.graphs', 'metacot.synth', "
        "'metacot.traces', 'metacot.structure', 'sentence_transformers', 'torch', 'sklearn')))\n"
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------------ seeds
def test_meb_takes_a_generator_and_an_int_seed_alike():
    from metacot.structure.meb import min_enclosing_ball

    P = np.random.default_rng(3).normal(size=(200, 3))
    a = min_enclosing_ball(P, seed=7)
    b = min_enclosing_ball(P, seed=np.random.default_rng(7))
    assert b.radius == pytest.approx(a.radius, rel=1e-9)
    assert np.allclose(a.center, b.center, atol=1e-9)
    with pytest.raises(InvalidArgumentError, match="seed"):
        min_enclosing_ball(P, seed=-1)
    with pytest.raises(ArgumentTypeError, match="seed"):
        min_enclosing_ball(P, seed=1.5)


def test_tsne_int_seed_is_sklearns_random_state_and_generators_work():
    sklearn_manifold = pytest.importorskip("sklearn.manifold")
    from metacot.embed import HashingEmbedder
    from metacot.structure.tsne import tsne_3d

    X = HashingEmbedder(16)([f"step {i} about {'ab'[i % 2]} and {i % 3}" for i in range(12)])
    ours = tsne_3d(X, perplexity=3, seed=4, max_iter=250)
    # Independent computation: scikit-learn called directly with the documented settings.
    ref = sklearn_manifold.TSNE(n_components=3, perplexity=3, metric="cosine", init="pca", learning_rate="auto",
                                method="exact", random_state=4, max_iter=250).fit_transform(X)
    assert np.array_equal(ours, ref)
    g1 = tsne_3d(X, perplexity=3, seed=np.random.default_rng(9), max_iter=250)
    g2 = tsne_3d(X, perplexity=3, seed=np.random.default_rng(9), max_iter=250)
    assert np.array_equal(g1, g2)
    # A Generator stands for the 64-bit key it draws (above 2**32 here, so MT19937 seeded by that key).
    key = as_seed_int(np.random.default_rng(9))
    assert key >= 1 << 32
    assert np.array_equal(tsne_3d(X, perplexity=3, seed=key, max_iter=250), g1)
    with pytest.raises(ArgumentTypeError, match="seed"):
        tsne_3d(X, seed="0")
    with pytest.raises(MetacotError, match="max_iter"):
        tsne_3d(X, max_iter=0)


def test_sample_paths_generator_seed_is_the_key_it_draws():
    from metacot.structure.lifted import lift
    from metacot.structure.path_fit import sample_paths

    chain = lift([[0.5, 0.3], [0.2, 0.4]], [0.2, 0.4], [1.0, 0.0])
    a = sample_paths(chain, 20, seed=np.random.default_rng(1))
    b = sample_paths(chain, 20, seed=as_seed_int(np.random.default_rng(1)))
    assert len(a) == 20 and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    with pytest.raises(InvalidArgumentError, match="seed"):
        sample_paths(chain, 3, seed=-5)
    with pytest.raises(MetacotError, match="max_length"):
        sample_paths(chain, 3, seed=0, max_length=0)


# ------------------------------------------------------------------ errors
def test_bond_statistics_refuse_bad_input_with_metacot_errors():
    from metacot.structure import bonds

    Y = np.array([[0.0], [1.0], [2.0]])
    with pytest.raises(InvalidArgumentError, match="behaviour must be one of"):
        bonds.locality(Y, ["normal"] * 3, behaviour="nope")
    with pytest.raises(InvalidArgumentError, match="behaviour must be one of"):
        bonds.reattachment([0, 0, 1], ["normal"] * 3, behaviour="nope")
    with pytest.raises(ArgumentTypeError, match="coords"):
        bonds.jumps([["a"], ["b"]])
    with pytest.raises(ArgumentTypeError, match="min_lag"):
        bonds.step_table(Y, ["normal"] * 3, min_lag=1.0)


def test_information_measures_refuse_bad_input_with_metacot_errors():
    from metacot.structure import information as info

    with pytest.raises(ArgumentTypeError, match="temperature"):
        info.semantic_entropy(np.eye(3), temperature="hot")
    with pytest.raises(ArgumentTypeError, match="embeddings"):
        info.semantic_entropy([["x"]])
    with pytest.raises(ArgumentTypeError, match="P must be"):
        info.predictive_entropy([0], [["a"]])


def test_path_law_constructor_normalises_the_start_and_clips_rounding():
    from metacot.structure.lifted import path_law, reachable_behaviours

    law = path_law(np.array([[0.0, 0.5], [-1e-17, 0.0]]), np.array([0.5, 1.0]), np.array([0.3, 0.0]), 0.7)
    assert law.mu.tolist() == [1.0, 0.0] and law.p_empty == 0.7
    assert law.Q[1, 0] == 0.0
    assert law.reachable.tolist() == [True, True]
    # mean length from behaviour 0: 1 + 0.5 * 1 = 1.5
    assert law.mean_length == pytest.approx(1.5)
    assert reachable_behaviours(np.zeros((3, 3)), np.array([0.0, 1.0, 0.0])).tolist() == [False, True, False]
    with pytest.raises(InvalidArgumentError, match="empty with probability 1"):
        path_law(np.zeros((1, 1)), np.ones(1), np.zeros(1), 1.0)
