r"""Features of a reasoning step in its context, for the trained step labeller.

ReasoningFlow's behaviour labels come from *edges to earlier steps*: a step is self-reflection
when it comments on or checks an earlier node, deep reasoning when it infers from two or more
earlier nodes, exploration when it branches off the current plan. So the features describe the
step itself and, above all, which earlier steps it resembles and how far back they are.

For a trace with unit step embeddings :math:`e_0, \dots, e_{n-1}` (all-MiniLM-L6-v2, see
:class:`StepEmbedder`) and problem embedding :math:`q`, let :math:`S_{ij} = e_i \cdot e_j` be the
cosine similarities. Step :math:`i` gets the blocks of :data:`BLOCKS`:

* ``self``: :math:`e_i` (or its coordinates on principal axes, see :func:`project_features`);
  ``prev`` / ``next``: :math:`e_{i-1}`, :math:`e_{i+1}` (zero past the ends);
  ``ref``: :math:`e_{j^*}` with :math:`j^* = \arg\max_{j<i} S_{ij}`, the earlier step it most
  resembles (zero for the first step);
* ``sim``: similarity statistics of the context (:data:`SIM_FEATURES`): :math:`S_{i,i-1}`,
  :math:`S_{i,i+1}`, :math:`e_i \cdot q`, :math:`S_{i0}`, :math:`\max_{j<i} S_{ij}`, the same
  maximum skipping the previous step, :math:`\log(1 + i - j^*)` and :math:`(i - j^*)/i`, the mean of
  the top two and three earlier similarities, counts of earlier steps above 0.6 and 0.8, the
  mean over the last five steps, and the same maximum and distance looking forward;
* ``pos``: relative position :math:`i/(n-1)`, :math:`\log(1+i)`, :math:`\log n`, first/last flags;
* ``text``: :math:`\log` characters and words, digit and maths-symbol fractions, a question mark,
  and the cue-word indicators of :data:`CUES`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from metacot.embed import DEFAULT_MODEL_PACKAGE, model_dir
from metacot.errors import InvalidArgumentError, MissingDependencyError

#: Characters of a step kept before tokenisation: longer steps are cut (99% of the annotated
#: steps are shorter than 250 characters), which bounds the tokeniser's work.
MAX_CHARS = 600
#: Word pieces the encoder reads per step (all-MiniLM-L6-v2 reads 256 by default).
MAX_SEQ_LENGTH = 128


def clean(text: str, max_chars: int = MAX_CHARS) -> str:
    """Whitespace collapsed to single spaces, cut to ``max_chars`` characters."""
    return " ".join(text.split())[:max_chars]


class StepEmbedder:
    """all-MiniLM-L6-v2 unit vectors of cleaned step texts, read to ``max_seq_length`` word pieces.

    Loaded on first use, offline, on the CPU. ``name`` records the sequence length so a cache of
    vectors made with another length is never reused.
    """

    def __init__(self, max_seq_length: int = MAX_SEQ_LENGTH, batch_size: int = 64, device: str = "cpu") -> None:
        for value, what in ((max_seq_length, "max_seq_length"), (batch_size, "batch_size")):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidArgumentError(f"{what} must be a positive int, got {value!r}")
        self.max_seq_length = max_seq_length
        self.batch_size = batch_size
        self.device = device
        self._model: Any = None

    @property
    def name(self) -> str:
        return f"st:{DEFAULT_MODEL_PACKAGE}/model:unit:L{self.max_seq_length}"

    def _load(self) -> Any:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as e:
                raise MissingDependencyError(
                    f"sentence-transformers is not available ({e}); pip install 'metacot[embed]'"
                ) from None
            self._model = SentenceTransformer(str(model_dir()), device=self.device)
            self._model.max_seq_length = self.max_seq_length
        return self._model

    def __call__(self, texts: list[str]) -> np.ndarray:
        out = self._load().encode(
            [clean(t) for t in texts], batch_size=self.batch_size, convert_to_numpy=True,
            normalize_embeddings=True, show_progress_bar=False,
        )
        return np.asarray(out, dtype=np.float64)


#: Feature blocks in the order they are concatenated.
BLOCKS = ("self", "prev", "next", "ref", "sim", "pos", "text")

SIM_FEATURES = (
    "sim_prev", "sim_next", "sim_problem", "sim_first", "max_back", "max_back_skip1",
    "log_dist_back", "rel_dist_back", "top2_back", "top3_back", "n_back_06", "n_back_08",
    "mean_last5", "max_fwd", "log_dist_fwd", "sim_prev2",
)
POS_FEATURES = ("rel_pos", "log_index", "log_len", "is_first", "is_last")

#: Cue words and phrases (case-insensitive regular expressions on the cleaned step text).
CUES: tuple[tuple[str, str], ...] = (
    ("wait", r"\bwait\b"), ("but", r"^but\b|\bbut\b"), ("however", r"\bhowever\b"),
    ("hmm", r"\bhmm+\b|\bhm\b"), ("actually", r"\bactually\b"), ("oh", r"\boh\b|\bah\b"),
    ("check", r"\b(?:check|verify|double-check|confirm|recheck|re-examine|make sure)\w*"),
    ("correct", r"\bcorrect\b|\bright\b|\bmakes sense\b|\bconsistent\b"),
    ("wrong", r"\bwrong\b|\bmistake\b|\berror\b|\bincorrect\b|\bcontradict"),
    ("alternative", r"\balternativ\w*|\banother (?:way|approach|method|idea)\b|\binstead\b"),
    ("maybe", r"\bmaybe\b|\bperhaps\b|\bpossibly\b|\bmight\b"),
    ("suppose", r"\bsuppose\b|\bassum\w*|\blet'?s say\b|\bwhat if\b|\bif we\b"),
    ("try", r"\btry\b|\btrying\b|\battempt"),
    ("so", r"^so\b|\bso\b"), ("therefore", r"\btherefore\b|\bthus\b|\bhence\b|\bconsequently\b"),
    ("because", r"\bbecause\b|\bsince\b|\bas a result\b|\bdue to\b"),
    ("implies", r"\bimpl(?:y|ies)\b|\bwhich means\b|\bmeans that\b|\bit follows\b|\bgives\b"),
    ("equals", r"="), ("sequence", r"\bfirst\b|\bsecond\b|\bnext\b|\bthen\b|\bfinally\b|\bstep\b"),
    ("yes", r"\byes\b|\bindeed\b|\bgood\b"), ("no", r"^no\b|\bnot\b"),
    ("i_think", r"\bi think\b|\bi believe\b|\bseems\b|\bprobably\b|\blikely\b"),
    ("answer", r"\banswer\b|\bfinal\b|\bin conclusion\b|\boverall\b|\bboxed\b"),
    ("case", r"\bcase\b|\bcases\b"), ("lets", r"\blet'?s\b|\blet me\b|\bi need\b|\bwe need\b"),
    ("consider", r"\bconsider\b|\bthink about\b|\blook at\b"),
    ("back", r"\bback to\b|\bearlier\b|\bbefore\b|\bprevious\w*|\babove\b|\bagain\b|\brecall\b"),
    ("hold_on", r"\bhold on\b|\bno,|\bnope\b"), ("question", r"\?"),
    ("think_tag", r"</?think>"), ("example", r"\bfor example\b|\be\.g\.|\bfor instance\b|\bsuch as\b"),
    ("argue", r"\bargu\w*|\bclaim\w*|\bpoint\b|\bstance\b|\bsupport\w*|\boppos\w*"),
)
_CUE_RX = tuple((name, re.compile(rx, re.IGNORECASE)) for name, rx in CUES)
TEXT_FEATURES = ("log_chars", "log_words", "frac_digits", "frac_math", *(f"cue_{n}" for n, _ in CUES))
_MATH = set("=+-*/^\\$<>()[]{}")


def feature_names(blocks: Sequence[str] = BLOCKS, dim: int = 384) -> tuple[str, ...]:
    """Column names of :func:`trace_features` for ``blocks``."""
    names: list[str] = []
    for b in blocks:
        if b in ("self", "prev", "next", "ref"):
            names += [f"{b}_{k}" for k in range(dim)]
        elif b == "sim":
            names += list(SIM_FEATURES)
        elif b == "pos":
            names += list(POS_FEATURES)
        elif b == "text":
            names += list(TEXT_FEATURES)
        else:
            raise InvalidArgumentError(f"unknown feature block {b!r}; known: {BLOCKS}")
    return tuple(names)


def _text_row(text: str) -> list[float]:
    t = clean(text)
    n = max(len(t), 1)
    row = [np.log1p(len(t)), np.log1p(len(t.split())), sum(c.isdigit() for c in t) / n,
           sum(c in _MATH for c in t) / n]
    row += [1.0 if rx.search(t) else 0.0 for _, rx in _CUE_RX]
    return row


def _sim_block(E: np.ndarray, q: np.ndarray) -> np.ndarray:
    n = E.shape[0]
    S = E @ E.T
    out = np.zeros((n, len(SIM_FEATURES)))
    idx = np.arange(n)
    out[1:, 0] = S[idx[1:], idx[1:] - 1]
    out[:-1, 1] = S[idx[:-1], idx[:-1] + 1]
    out[:, 2] = E @ q
    out[:, 3] = S[:, 0]
    out[2:, 15] = S[idx[2:], idx[2:] - 2]
    for i in range(1, n):
        back = S[i, :i]
        j = int(np.argmax(back))
        out[i, 4] = back[j]
        out[i, 5] = back[:-1].max() if i > 1 else 0.0
        out[i, 6] = np.log1p(i - j)
        out[i, 7] = (i - j) / i
        top = np.sort(back)[::-1]
        out[i, 8] = top[:2].mean()
        out[i, 9] = top[:3].mean()
        out[i, 10] = np.log1p((back > 0.6).sum())
        out[i, 11] = np.log1p((back > 0.8).sum())
        out[i, 12] = back[-5:].mean()
    for i in range(n - 1):
        fwd = S[i, i + 1:]
        j = int(np.argmax(fwd))
        out[i, 13] = fwd[j]
        out[i, 14] = np.log1p(j + 1)
    return out


def trace_features(E: np.ndarray, q: np.ndarray, texts: Sequence[str], blocks: Sequence[str] = BLOCKS,
                   projection: np.ndarray | None = None, center: np.ndarray | None = None) -> np.ndarray:
    """The feature matrix of one trace: one row per step, columns :func:`feature_names` (``blocks``).

    Parameters
    ----------
    E : ndarray, shape (n, d)
        Unit embeddings of the trace's steps, in order.
    q : ndarray, shape (d,)
        Unit embedding of the problem.
    texts : sequence of str
        The step texts (for the ``text`` block).
    blocks : sequence of str
        Which blocks of :data:`BLOCKS`, in the order given.
    projection, center : ndarray, optional
        Principal axes ``(d, r)`` and their centre ``(d,)``: the result goes through
        :func:`project_features`.

    Examples
    --------
    >>> E = np.eye(3, 4); q = np.ones(4) / 2
    >>> trace_features(E, q, ["a", "b", "c"], ("sim", "pos")).shape
    (3, 21)
    """
    E = np.asarray(E, dtype=np.float64)
    n, d = E.shape
    if len(texts) != n:
        raise InvalidArgumentError(f"{len(texts)} texts for {n} embeddings")
    if projection is not None:
        return project_features(trace_features(E, q, texts, blocks), blocks, projection, center)
    cols = []
    V = E
    zero = np.zeros((1, d))
    for b in blocks:
        if b == "self":
            cols.append(V)
        elif b == "prev":
            cols.append(np.vstack([zero, V[:-1]]))
        elif b == "next":
            cols.append(np.vstack([V[1:], zero]))
        elif b == "ref":
            ref = np.zeros_like(V)
            if n > 1:
                S = E @ E.T
                S[np.triu_indices(n)] = -np.inf
                ref[1:] = V[np.argmax(S[1:], axis=1)]
            cols.append(ref)
        elif b == "sim":
            cols.append(_sim_block(E, np.asarray(q, dtype=np.float64)))
        elif b == "pos":
            i = np.arange(n, dtype=np.float64)
            cols.append(np.column_stack([i / max(n - 1, 1), np.log1p(i), np.full(n, np.log(n)),
                                         i == 0, i == n - 1]).astype(np.float64))
        elif b == "text":
            cols.append(np.array([_text_row(t) for t in texts], dtype=np.float64).reshape(n, len(TEXT_FEATURES)))
        else:
            raise InvalidArgumentError(f"unknown feature block {b!r}; known: {BLOCKS}")
    return np.hstack(cols) if cols else np.zeros((n, 0))


VECTOR_BLOCKS = frozenset({"self", "prev", "next", "ref"})


def project_features(X: np.ndarray, blocks: Sequence[str], projection: np.ndarray,
                     center: np.ndarray | None = None) -> np.ndarray:
    r"""Replace each vector block of full features ``X`` by its coordinates on principal axes.

    A vector block :math:`e` (``self``, ``prev``, ``next``, ``ref``; ``d`` columns) becomes
    :math:`(e - c)^\top V` (``r`` columns); a padding row (all zero: before the first or after the
    last step) stays zero. Other blocks pass through. The similarities of the ``sim`` block were
    computed on the full vectors.

    Examples
    --------
    >>> X = np.array([[1.0, 0.0, 5.0], [0.0, 0.0, 6.0]])  # one 2-d vector block, then one scalar
    >>> V = np.array([[1.0], [0.0]])
    >>> project_features(X, ("self", "x"), V).tolist()
    [[1.0, 5.0], [0.0, 6.0]]
    """
    V = np.asarray(projection, dtype=np.float64)
    d = V.shape[0]
    c = np.zeros(d) if center is None else np.asarray(center, dtype=np.float64)
    cols, at = [], 0
    for b in blocks:
        if b in VECTOR_BLOCKS:
            block = np.asarray(X[:, at: at + d], dtype=np.float64)
            pad = ~block.any(axis=1, keepdims=True)
            cols.append(np.where(pad, 0.0, (block - c) @ V))
            at += d
        else:
            w = len(feature_names((b,))) if b in BLOCKS else X.shape[1] - at
            cols.append(np.asarray(X[:, at: at + w], dtype=np.float64))
            at += w
    return np.hstack(cols)


def principal_axes(E: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray]:
    """The mean ``(d,)`` and the leading ``r`` principal axes ``(d, r)`` of the rows of ``E``.

    Axes come from the SVD of the centred rows; each axis's sign is fixed so that its largest
    entry in absolute value is positive, which makes the result reproducible.
    """
    E = np.asarray(E, dtype=np.float64)
    c = E.mean(axis=0)
    _, _, Vt = np.linalg.svd(E - c, full_matrices=False)
    V = Vt[:r].T.copy()
    V *= np.sign(V[np.abs(V).argmax(axis=0), np.arange(V.shape[1])])
    return c, V
