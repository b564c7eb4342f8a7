"""metacot.embed: the on-disk cache (atomic, ordinary file mode), splitting per trace, argument checks.

The real packaged model is tested in test_geometry.py (slow); here the embedders are the
deterministic HashingEmbedder and small callables whose output is known.
"""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from metacot import embed as em
from metacot.errors import ArgumentTypeError, InvalidArgumentError, MetacotError


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_cache_file_mode_follows_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        cached = em.CachedEmbedder(em.HashingEmbedder(4), tmp_path, key="k")
        cached(["a", "b"])
    finally:
        os.umask(old)
    path = tmp_path / "k.npz"
    # An ordinary open() would give 0o666 & ~umask; mkstemp would give 0o600 whatever the umask.
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    # Nothing but the cache file is left behind (the temporary file was renamed into place).
    assert [p.name for p in tmp_path.iterdir()] == ["k.npz"]


def test_cache_round_trips_through_the_file_and_embeds_only_new_texts(tmp_path):
    calls: list[list[str]] = []

    def spy(texts):
        calls.append(list(texts))
        return em.HashingEmbedder(8)(texts)

    first = em.CachedEmbedder(spy, tmp_path, key="spy")(["x y", "z"])
    second = em.CachedEmbedder(spy, tmp_path, key="spy")
    out = second(["z", "new text", "x y"])
    # One batch per call, only unseen texts; the second object read the first one's file.
    assert [sorted(c) for c in calls] == [["x y", "z"], ["new text"]]
    assert second.misses == 1
    assert np.array_equal(out[[2, 0]], first)
    # Served from float32 storage: equal to the embedder's vector to float32 precision.
    assert np.allclose(out[1], em.HashingEmbedder(8)(["new text"])[0], atol=1e-7)


def test_failed_write_leaves_the_old_cache_intact(tmp_path):
    cached = em.CachedEmbedder(em.HashingEmbedder(4), tmp_path, key="k")
    cached(["a"])
    before = (tmp_path / "k.npz").read_bytes()

    def broken(texts):
        return np.full((len(texts), 5), np.nan)  # wrong width and not finite: refused before writing

    with pytest.raises(InvalidArgumentError, match="non-finite"):
        em.CachedEmbedder(broken, tmp_path, key="k")(["b"])
    assert (tmp_path / "k.npz").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["k.npz"]


def test_embed_traces_splits_one_call_per_trace():
    class T(list):
        def texts(self):
            return list(self)

    traces = [T(["a b", "c"]), T(["d"]), T(["e", "f", "g"])]
    calls = []

    def spy(texts):
        calls.append(list(texts))
        return em.HashingEmbedder(6)(texts)

    parts = em.embed_traces(traces, spy)
    assert len(calls) == 1 and calls[0] == ["a b", "c", "d", "e", "f", "g"]
    assert [p.shape for p in parts] == [(2, 6), (1, 6), (3, 6)]
    whole = em.HashingEmbedder(6)(calls[0])
    assert np.array_equal(np.concatenate(parts), whole)


def test_default_cache_dir_honours_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(em.CACHE_ENV, str(tmp_path))
    assert em.default_cache_dir() == tmp_path / "embeddings"
    monkeypatch.delenv(em.CACHE_ENV)
    assert em.default_cache_dir() == em.Path.home() / ".cache" / "metacot" / "embeddings"


def test_bad_arguments_raise_metacot_errors(tmp_path):
    with pytest.raises(ArgumentTypeError, match="item 1 is a int"):
        em.embed(["a", 3], em.HashingEmbedder(4))
    with pytest.raises(ArgumentTypeError, match="one str"):
        em.embed("a sentence", em.HashingEmbedder(4))
    with pytest.raises(ArgumentTypeError, match="item 0"):
        em.CachedEmbedder(em.HashingEmbedder(4), tmp_path)([None])
    with pytest.raises(ArgumentTypeError, match="callable"):
        em.CachedEmbedder("not a model", tmp_path)
    with pytest.raises(InvalidArgumentError, match="dim"):
        em.HashingEmbedder(0)
    with pytest.raises(MetacotError, match="batch_size"):
        em.SentenceEmbedder(batch_size=2.5)


def test_geometry_reexports_the_same_objects():
    from metacot.structure import geometry as geo

    for name in ("SentenceEmbedder", "HashingEmbedder", "CachedEmbedder", "embed", "model_dir", "DEFAULT_MODEL_PACKAGE"):
        assert getattr(geo, name) is getattr(em, name)
