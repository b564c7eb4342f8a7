"""The t-SNE settings that M5 and the invariance table M9 share, so both map traces the same way."""

#: t-SNE perplexity and seed of the 3-D maps (:func:`metacot.structure.tsne.tsne_3d`).
PERPLEXITY = 30.0
SEED = 0
