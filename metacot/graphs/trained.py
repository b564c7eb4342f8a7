r"""A trained step labeller: logistic regression on MiniLM features of a step and its context.

:class:`TrainedLabeller` labels the steps of any :class:`~metacot.traces.core.Trace` offline, on
the CPU, with only numpy and the packaged all-MiniLM-L6-v2 encoder. It was trained on the
ReasoningFlow-mapped behaviours (:class:`~metacot.graphs.labellers.ReasoningFlowLabeller`) of the
231 annotated traces shipped in ``data/``; the model card (``metacot/graphs/models/MODEL_CARD.md``)
gives the data, the licence, the features and the held-out evaluation (experiment M11).

**Model.** With the feature vector :math:`x` of a step (:mod:`metacot.graphs.step_features`),
standardised as :math:`z = (x - \mu) / \sigma`, the class probabilities are the multinomial
logistic (softmax) model

.. math::

    p(b \mid x) = \frac{\exp(w_b^\top z + c_b)}{\sum_{b'} \exp(w_{b'}^\top z + c_{b'})},

fitted by L2-penalised maximum likelihood (scikit-learn's ``LogisticRegression``, lbfgs). A step
is labelled :math:`\arg\max_b p(b \mid x)`; :meth:`TrainedLabeller.proba` gives the probabilities,
and :func:`soft_transition_counts` turns them into expected transition counts.

**Weights.** ``models/trained_labeller.json`` holds :math:`\mu, \sigma, w, c`, the class order,
the feature blocks and names, the encoder settings and the training record, under
:data:`FORMAT_VERSION`; it is plain JSON (no pickle), read with :meth:`LabellerModel.load`.
``python -m metacot.graphs.trained --out DIR --seed 0`` (:func:`train_labeller`) rebuilds it
from ``data/``.

Examples
--------
>>> from metacot.traces.core import Step, Trace
>>> t = Trace("t", "What is 2+3?", (Step("2 + 3 = 5.", 0, 10), Step("Wait, let me check.", 10, 29)),
...           "2 + 3 = 5.Wait, let me check.")
>>> lab = TrainedLabeller()
>>> out = lab.label(t)  # doctest: +SKIP
>>> lab.proba(t).shape  # doctest: +SKIP
(2, 4)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from metacot._checks import as_seed_int
from metacot._io import atomic_write
from metacot.behaviours import BEHAVIOURS, Behaviour
from metacot.embed import DEFAULT_MODEL_PACKAGE
from metacot.errors import InvalidArgumentError, MetacotError
from metacot.graphs.step_features import (
    MAX_CHARS,
    MAX_SEQ_LENGTH,
    StepEmbedder,
    feature_names,
    principal_axes,
    project_features,
    trace_features,
)
from metacot.traces.core import Trace

__all__ = [
    "DEFAULT_BLOCKS",
    "DEFAULT_CLASS_WEIGHT",
    "FORMAT_VERSION",
    "HELD_OUT",
    "MODEL_PATH",
    "LabellerModel",
    "ModelFormatError",
    "TrainedLabeller",
    "embed_traces",
    "fit_model",
    "soft_transition_counts",
    "traces_features",
    "train_labeller",
]

#: Version of the model file layout; :meth:`LabellerModel.from_dict` refuses any other.
FORMAT_VERSION = 1
#: The shipped weights.
MODEL_PATH = Path(__file__).resolve().parent / "models" / "trained_labeller.json"
#: Feature blocks of the shipped model (see the ablation of experiment M11).
DEFAULT_BLOCKS: tuple[str, ...] = ("self", "prev", "sim", "pos", "text")
#: Principal axes kept for each vector block (128 beat 32, 64 and 256 on the M11 folds).
DEFAULT_RANK = 128
#: L2 penalty (inverse strength) of the shipped model.
DEFAULT_C = 0.05
#: Class weights of the shipped model. Unweighted: balanced weights raise the recall of the rare
#: behaviours but over-predict them, which bends the fitted graphs (M11: graph r 0.69-0.91 with
#: balanced weights, 0.95-0.98 without).
DEFAULT_CLASS_WEIGHT: str | None = None
#: Traces kept out of the shipped model's training, for the tests' held-out check: per (source
#: model, domain), the first annotated trace by id with 40 to 250 steps (966 steps in all; no
#: Qwen2.5-32B-Instruct argkp trace has that many).
HELD_OUT: tuple[str, ...] = (
    "aime2024_0_DeepSeek-R1", "aime2024_0_DeepSeek-V3", "aime2024_0_gpt-oss-120b",
    "aime2024_12_Qwen2.5-32B-Instruct", "aime2024_24_QwQ-32B", "argkp_0_DeepSeek-R1",
    "argkp_0_QwQ-32B", "argkp_0_gpt-oss-120b", "argkp_12_DeepSeek-V3",
)

Embedder = Callable[[list[str]], np.ndarray]


class ModelFormatError(MetacotError, ValueError):
    """A labeller model file that cannot be read: another format version, or missing fields."""


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    return z / z.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class LabellerModel:
    r"""The weights of a :class:`TrainedLabeller` and what they were made from.

    Attributes
    ----------
    classes : tuple of Behaviour
        Output order of :meth:`predict_proba`.
    blocks : tuple of str
        Feature blocks (:data:`metacot.graphs.step_features.BLOCKS`), in column order.
    center, projection : ndarray, shapes (d,) and (d, r)
        Principal axes of the step embeddings; each vector block enters as its ``r`` coordinates
        (:func:`~metacot.graphs.step_features.project_features`).
    mean, scale : ndarray, shape (p,)
        Standardisation :math:`\mu, \sigma`.
    coef : ndarray, shape (k, p)
    intercept : ndarray, shape (k,)
    encoder : dict
        ``package``, ``max_seq_length`` and ``max_chars`` of the step encoder the features need.
    training : dict
        How the weights were made (seed, data, penalty, library versions).
    """

    classes: tuple[Behaviour, ...]
    blocks: tuple[str, ...]
    center: np.ndarray
    projection: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    encoder: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        V = np.asarray(self.projection, dtype=np.float64)
        if V.ndim != 2:
            raise ModelFormatError(f"labeller model: projection has shape {V.shape}, expected (d, r)")
        d, r = V.shape
        k, p = len(self.classes), len(feature_names(self.blocks, r))
        for name, arr, shape in (("projection", V, (d, r)), ("center", self.center, (d,)), ("mean", self.mean, (p,)), ("scale", self.scale, (p,)),
                                 ("coef", self.coef, (k, p)), ("intercept", self.intercept, (k,))):
            a = np.asarray(arr, dtype=np.float64)
            if a.shape != shape:
                raise ModelFormatError(f"labeller model: {name} has shape {a.shape}, expected {shape}")
            if not np.all(np.isfinite(a)):
                raise ModelFormatError(f"labeller model: {name} has non-finite entries")
            object.__setattr__(self, name, a)
        if np.any(self.scale <= 0):
            raise ModelFormatError("labeller model: scale must be positive")

    @property
    def rank(self) -> int:
        return int(self.projection.shape[1])

    def features(self, E: np.ndarray, q: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        """The model's feature rows for one trace (step embeddings ``E``, problem embedding ``q``)."""
        return trace_features(E, q, texts, self.blocks, self.projection, self.center)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities ``(n, k)`` for (projected) feature rows ``X`` ``(n, p)``, in :attr:`classes` order."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.mean.size:
            raise InvalidArgumentError(f"features have shape {X.shape}; the model needs (n, {self.mean.size})")
        return _softmax(((X - self.mean) / self.scale) @ self.coef.T + self.intercept)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "metacot-trained-labeller",
            "format_version": FORMAT_VERSION,
            "classes": [c.value for c in self.classes],
            "blocks": list(self.blocks),
            "feature_names": list(feature_names(self.blocks, self.rank)),
            "encoder": self.encoder,
            "training": self.training,
            "center": self.center.tolist(),
            "projection": self.projection.tolist(),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept.tolist(),
        }

    @classmethod
    def from_dict(cls, d: Any, path: object = "<dict>") -> LabellerModel:
        """Read :meth:`to_dict`'s layout; another ``format_version`` is a :class:`ModelFormatError`."""
        if not isinstance(d, dict) or d.get("format") != "metacot-trained-labeller":
            raise ModelFormatError(f"{path}: not a metacot trained-labeller model file")
        version = d.get("format_version")
        if version != FORMAT_VERSION:
            raise ModelFormatError(
                f"{path}: model file format version {version!r}, but this metacot reads version "
                f"{FORMAT_VERSION}; retrain with `python -m metacot.graphs.trained` or use the matching metacot"
            )
        try:
            classes = tuple(Behaviour(c) for c in d["classes"])
            blocks = tuple(d["blocks"])
            projection = np.array(d["projection"], dtype=np.float64)
            if projection.ndim != 2 or tuple(d["feature_names"]) != feature_names(blocks, projection.shape[1]):
                raise ModelFormatError(f"{path}: the feature names do not match this metacot's feature blocks {blocks}")
            return cls(classes=classes, blocks=blocks, center=np.array(d["center"]), projection=projection,
                       mean=np.array(d["mean"]), scale=np.array(d["scale"]),
                       coef=np.array(d["coef"]), intercept=np.array(d["intercept"]),
                       encoder=dict(d.get("encoder", {})), training=dict(d.get("training", {})))
        except (KeyError, TypeError, ValueError) as e:
            if isinstance(e, ModelFormatError):
                raise
            raise ModelFormatError(f"{path}: malformed labeller model ({type(e).__name__}: {e})") from None

    def save(self, path: str | os.PathLike[str]) -> Path:
        path = Path(path)
        with atomic_write(path) as f:
            json.dump(self.to_dict(), f, indent=1)
            f.write("\n")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str] = MODEL_PATH) -> LabellerModel:
        path = Path(path)
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InvalidArgumentError(f"no labeller model file {str(path)!r}") from None
        except json.JSONDecodeError as e:
            raise ModelFormatError(f"{path}: line {e.lineno}: invalid JSON: {e.msg}") from None
        return cls.from_dict(d, path)


# --------------------------------------------------------------------------------------------
# features of many traces
# --------------------------------------------------------------------------------------------


def _check_trace(t: Any, k: int) -> Trace:
    if not isinstance(t, Trace):
        raise InvalidArgumentError(f"item {k} is a {type(t).__name__}, not a metacot Trace")
    for i, s in enumerate(t.steps):
        if not s.text.strip():
            raise InvalidArgumentError(
                f"trace {t.trace_id!r}, step {i}: the step text is empty; the trained labeller reads "
                "step text, so drop or merge empty steps first"
            )
    return t


def embed_traces(traces: Sequence[Trace], embedder: Embedder) -> list[tuple[np.ndarray, np.ndarray]]:
    """Step and problem embeddings of every trace, from one call of ``embedder`` (one batch stream).

    Returns a list of ``(E, q)``: ``E`` ``(n_steps, d)`` and ``q`` ``(d,)`` (zero for an empty problem).
    """
    traces = [_check_trace(t, k) for k, t in enumerate(traces)]
    problems = sorted({t.problem for t in traces if t.problem.strip()})
    texts = problems + [s.text for t in traces for s in t.steps]
    if not texts:
        return [(np.zeros((0, 0)), np.zeros(0)) for _ in traces]
    V = np.asarray(embedder(texts), dtype=np.float64)
    if V.ndim != 2 or V.shape[0] != len(texts) or not np.all(np.isfinite(V)):
        raise InvalidArgumentError(f"the embedder returned shape {V.shape} (or non-finite values) for {len(texts)} texts")
    qv = dict(zip(problems, V[: len(problems)], strict=True))
    out, at = [], len(problems)
    for t in traces:
        E = V[at: at + len(t)]
        at += len(t)
        out.append((E, qv.get(t.problem, np.zeros(V.shape[1]))))
    return out


def traces_features(
    traces: Sequence[Trace], embedder: Embedder, blocks: Sequence[str] = DEFAULT_BLOCKS
) -> list[np.ndarray]:
    """One full (unprojected) feature matrix per trace (:func:`metacot.graphs.step_features.trace_features`)."""
    traces = list(traces)
    return [trace_features(E, q, [s.text for s in t.steps], blocks) if len(t) else np.zeros((0, len(feature_names(blocks))))
            for t, (E, q) in zip(traces, embed_traces(traces, embedder), strict=True)]


# --------------------------------------------------------------------------------------------
# the labeller
# --------------------------------------------------------------------------------------------

_DEFAULT_EMBEDDERS: dict[int, StepEmbedder] = {}


class TrainedLabeller:
    """Label steps with a trained model on MiniLM features of each step and its context.

    Satisfies the :class:`~metacot.graphs.labellers.Labeller` protocol. Every step of a labelled
    trace gets the most probable behaviour; :meth:`proba` gives the probabilities, and
    :meth:`label` also records them, rounded to 4 decimals, in ``metadata["behaviour_proba"]``
    (one ``[normal, deep, reflect, explore]`` row per step, in :attr:`LabellerModel.classes` order).

    Parameters
    ----------
    model : LabellerModel or path-like, optional
        Default: the shipped weights (:data:`MODEL_PATH`).
    embedder : callable, optional
        ``list[str] -> ndarray``; default the packaged MiniLM read to the model's
        ``max_seq_length`` (:class:`~metacot.graphs.step_features.StepEmbedder`). Wrap it in a
        :class:`~metacot.structure.geometry.CachedEmbedder` to reuse vectors across runs.
    name : str, default ``"trained"``

    Raises
    ------
    InvalidArgumentError
        From :meth:`label` / :meth:`proba`, for a step with empty text.
    ModelFormatError
        A model file of another format version (the message names both versions).
    """

    def __init__(self, model: LabellerModel | str | os.PathLike[str] | None = None,
                 embedder: Embedder | None = None, name: str = "trained") -> None:
        if model is None or isinstance(model, (str, os.PathLike)):
            model = LabellerModel.load(MODEL_PATH if model is None else model)
        if not isinstance(model, LabellerModel):
            raise InvalidArgumentError(f"model must be a LabellerModel or a path, got {type(model).__name__}")
        self.model = model
        if embedder is None:
            length = int(model.encoder.get("max_seq_length", MAX_SEQ_LENGTH))
            embedder = _DEFAULT_EMBEDDERS.setdefault(length, StepEmbedder(max_seq_length=length))
        self.embedder = embedder
        self.name = name

    def proba_many(self, traces: Iterable[Trace]) -> list[np.ndarray]:
        """Probabilities ``(n_steps, k)`` for each trace; all steps are embedded in one batch stream."""
        traces = list(traces)
        k = len(self.model.classes)
        return [self.model.predict_proba(self.model.features(E, q, [s.text for s in t.steps])) if len(t) else np.zeros((0, k))
                for t, (E, q) in zip(traces, embed_traces(traces, self.embedder), strict=True)]

    def proba(self, trace: Trace) -> np.ndarray:
        """Probabilities ``(n_steps, k)`` of the behaviours, columns in ``model.classes`` order."""
        return self.proba_many([trace])[0]

    def _apply(self, trace: Trace, P: np.ndarray) -> Trace:
        labels = [self.model.classes[int(j)] for j in np.argmax(P, axis=1)] if P.shape[0] else []
        steps = tuple(replace(s, behaviour=b) for s, b in zip(trace.steps, labels, strict=True))
        meta = {**trace.metadata, "labeller": self.name,
                "behaviour_proba": np.round(P, 4).tolist(), "behaviour_proba_classes": [c.value for c in self.model.classes]}
        return replace(trace, steps=steps, metadata=meta)

    def label(self, trace: Trace) -> Trace:
        """Return ``trace`` with every step labelled by its most probable behaviour."""
        return self._apply(trace, self.proba(trace))

    def label_many(self, traces: Iterable[Trace]) -> list[Trace]:
        """:meth:`label` for many traces, embedding all their steps in one batch stream (faster)."""
        traces = list(traces)
        return [self._apply(t, P) for t, P in zip(traces, self.proba_many(traces), strict=True)]


def soft_transition_counts(probas: Iterable[np.ndarray]) -> np.ndarray:
    r"""Expected transition counts from per-step probabilities: :math:`N_{ab} = \sum_t p_t(a)\,p_{t+1}(b)`.

    Treating the labels of consecutive steps as independent draws from the labeller's
    probabilities, :math:`N` is the expected value of the hard count matrix
    (:func:`metacot.graphs.fit.transition_counts`); fit it with
    :func:`~metacot.graphs.fit.fit_mle` or :func:`~metacot.graphs.fit.fit_dirichlet`.

    Examples
    --------
    >>> P = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    >>> soft_transition_counts([P]).tolist()
    [[0.5, 1.0], [0.0, 0.5]]
    """
    total: np.ndarray | None = None
    for P in probas:
        P = np.asarray(P, dtype=np.float64)
        N = P[:-1].T @ P[1:]
        total = N if total is None else total + N
    if total is None:
        raise InvalidArgumentError("no probability matrices given")
    return total


# --------------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------------


def fit_model(X: np.ndarray, y: np.ndarray, *, blocks: Sequence[str] = DEFAULT_BLOCKS, rank: int = DEFAULT_RANK,
              C: float = DEFAULT_C, class_weight: str | None = DEFAULT_CLASS_WEIGHT, seed: Any = 0, max_iter: int = 2000,
              tol: float = 1e-6, encoder: dict[str, Any] | None = None,
              training: dict[str, Any] | None = None) -> LabellerModel:
    """Fit principal axes and the standardised multinomial logistic regression to full features ``X``.

    ``X`` holds the full (unprojected) features of ``blocks``
    (:func:`~metacot.graphs.step_features.trace_features`); the axes are those of the ``self``
    block's rows (the step embeddings), or of the first vector block. ``y`` holds indices into
    :data:`~metacot.behaviours.BEHAVIOURS`. Needs scikit-learn (the ``embed`` extra); the returned
    model needs only numpy.
    """
    from sklearn.linear_model import LogisticRegression

    from metacot.graphs.step_features import VECTOR_BLOCKS

    blocks = tuple(blocks)
    X = np.asarray(X, dtype=np.float64)
    vec = [b for b in blocks if b in VECTOR_BLOCKS]
    d = 384
    if vec:
        at = sum(len(feature_names((b,))) for b in blocks[: blocks.index("self" if "self" in vec else vec[0])])
        rows = X[:, at: at + d]
        center, V = principal_axes(rows[rows.any(axis=1)], rank)
        X = project_features(X, blocks, V, center)
    else:
        center, V = np.zeros(d), np.zeros((d, 0))
    y = np.asarray(y)
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    clf = LogisticRegression(C=C, class_weight=class_weight, max_iter=max_iter,
                             random_state=as_seed_int(seed) % 2**32, tol=tol)
    clf.fit((X - mean) / scale, y)
    k = len(BEHAVIOURS)
    coef = np.zeros((k, X.shape[1]))
    intercept = np.full(k, -1e3)  # a class absent from training is never predicted
    coef[clf.classes_] = clf.coef_
    intercept[clf.classes_] = clf.intercept_
    return LabellerModel(classes=BEHAVIOURS, blocks=blocks, center=center, projection=V, mean=mean, scale=scale, coef=coef,
                         intercept=intercept, encoder=encoder or {}, training=training or {})


def train_labeller(out: str | os.PathLike[str] | None = None, seed: Any = 0, *, embedder: Embedder | None = None,
                   exclude: Sequence[str] = (), C: float = DEFAULT_C, rank: int = DEFAULT_RANK,
                   blocks: Sequence[str] = DEFAULT_BLOCKS) -> LabellerModel:
    """Train the labeller on the ReasoningFlow-mapped labels of the annotated traces in ``data/``.

    Parameters
    ----------
    out : path-like, optional
        Folder to write ``trained_labeller.json`` into.
    seed : int
    embedder : callable, optional
        Default the packaged MiniLM (:class:`~metacot.graphs.step_features.StepEmbedder`); pass a
        :class:`~metacot.structure.geometry.CachedEmbedder` around it to reuse vectors.
    exclude : sequence of str
        Trace ids left out of training (the held-out check set of the tests).
    C : float
    blocks : sequence of str
    """
    import sklearn

    from metacot.graphs.labellers import ReasoningFlowLabeller
    from metacot.traces.core import DATA_DIR, load_reasoningflow

    traces = sorted(load_reasoningflow(DATA_DIR / "reasoningflow" / "annotated"), key=lambda t: t.trace_id)
    exclude = set(exclude)
    traces = [ReasoningFlowLabeller().label(t) for t in traces if t.trace_id not in exclude]
    embedder = embedder if embedder is not None else StepEmbedder()
    X = np.vstack(traces_features(traces, embedder, blocks))
    index = {b: i for i, b in enumerate(BEHAVIOURS)}
    y = np.array([index[s.behaviour] for t in traces for s in t.steps])
    model = fit_model(
        X, y, C=C, seed=seed, blocks=blocks, rank=rank,
        encoder={"package": DEFAULT_MODEL_PACKAGE, "max_seq_length": MAX_SEQ_LENGTH, "max_chars": MAX_CHARS},
        training={"data": "data/reasoningflow/annotated (ReasoningFlow, Apache-2.0), labels by ReasoningFlowLabeller",
                  "n_traces": len(traces), "n_steps": int(y.size), "excluded": sorted(exclude), "seed": as_seed_int(seed),
                  "C": C, "rank": rank, "class_weight": str(DEFAULT_CLASS_WEIGHT), "class_counts": np.bincount(y, minlength=len(BEHAVIOURS)).tolist(),
                  "sklearn": sklearn.__version__},
    )
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        model.save(Path(out) / MODEL_PATH.name)
    return model


def main(argv: list[str] | None = None) -> int:
    """``python -m metacot.graphs.trained --out DIR [--seed N] [--cache DIR]``: retrain the shipped weights."""
    from metacot.embed import CachedEmbedder

    p = argparse.ArgumentParser(prog="python -m metacot.graphs.trained", description=main.__doc__)
    p.add_argument("--out", type=Path, default=MODEL_PATH.parent, help="folder for trained_labeller.json")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache", type=Path, default=None, help="embedding cache folder (default none)")
    args = p.parse_args(argv)
    embedder: Embedder = StepEmbedder()
    if args.cache is not None:
        embedder = CachedEmbedder(embedder, args.cache)
    model = train_labeller(args.out, args.seed, embedder=embedder, exclude=HELD_OUT)
    print(f"wrote {args.out / MODEL_PATH.name}: {model.training['n_steps']} steps, "
          f"{len(model.mean)} features, C={model.training['C']}")
    return 0 if math.isfinite(float(model.coef.sum())) else 1


if __name__ == "__main__":
    sys.exit(main())
