r"""Few-shot examples for MoLE-Syn: real teacher steps of each behaviour, retrieved by similarity.

A 135M instruction model does not act on a one-line definition of "self-reflection"; shown a few
real steps of that kind it has something to imitate. :class:`ExampleBank` holds a small set of
teacher steps per behaviour, taken from the ReasoningFlow traces shipped in ``data/`` (the AIME
2024 part: mathematics, like the problems MoLE-Syn is run on) and labelled with the rule mapping
:class:`~metacot.graphs.mapping.ReasoningFlowLabeller`. Each step is embedded once with the
packaged all-MiniLM-L6-v2 (:mod:`metacot.embed`, vectors cached on disk). For a request,
:meth:`ExampleBank.examples` returns the ``k`` examples of the wanted behaviour whose embedding
:math:`e_i` is closest in cosine to the embedding :math:`q` of the current problem and last step,

.. math:: \operatorname{top}_k \; e_i^\top q \quad (\lVert e_i \rVert = \lVert q \rVert = 1),

so a geometry problem tends to get geometry examples. Ties are broken by bank order, which is
fixed, so retrieval is deterministic.

The bank keeps, per behaviour, up to ``per_behaviour`` steps of ``min_chars``..``max_chars``
characters without a ``\boxed{}`` answer, picked at evenly spaced positions of the
(trace, step)-ordered candidates, so every teacher model contributes.

Examples
--------
>>> from metacot.embed import HashingEmbedder
>>> bank = ExampleBank.build(per_behaviour=4, embedder=HashingEmbedder(64))
>>> [len(bank.texts[b]) for b in bank.texts]
[4, 4, 4, 4]
>>> len(bank.examples("reflect", "Find x if 2x = 6.", k=2))
2
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from metacot._checks import positive_int
from metacot.behaviours import BEHAVIOURS, Behaviour
from metacot.embed import CachedEmbedder, Embedder, SentenceEmbedder, default_cache_dir
from metacot.errors import InvalidArgumentError

__all__ = ["SOURCE_PREFIX", "ExampleBank", "default_bank", "format_examples"]

#: The annotated ReasoningFlow traces used (mathematics only).
SOURCE_PREFIX = "aime2024"


@dataclass(frozen=True)
class ExampleBank:
    """Teacher steps per behaviour, with unit embeddings, for retrieval.

    Attributes
    ----------
    texts : dict of Behaviour -> tuple of str
    vectors : dict of Behaviour -> ndarray, shape (n_b, d)
    embedder : callable
        Embeds queries (the same model as the bank).
    """

    texts: dict[Behaviour, tuple[str, ...]]
    vectors: dict[Behaviour, np.ndarray]
    embedder: Any

    @classmethod
    def build(
        cls,
        per_behaviour: int = 32,
        *,
        min_chars: int = 60,
        max_chars: int = 280,
        embedder: Embedder | None = None,
    ) -> ExampleBank:
        """Build the bank from the shipped ReasoningFlow traces.

        Parameters
        ----------
        per_behaviour : int
            Most examples kept per behaviour.
        min_chars, max_chars : int
            Length window of a kept step (stripped); shorter steps are fillers ("Wait,"), longer
            ones would crowd a small model's context.
        embedder : callable, optional
            Default: all-MiniLM-L6-v2 (:class:`~metacot.embed.SentenceEmbedder`), bank vectors
            cached in :func:`~metacot.embed.default_cache_dir`.
        """
        from metacot.graphs.mapping import ReasoningFlowLabeller
        from metacot.traces.core import DATA_DIR
        from metacot.traces.reasoningflow import load_reasoningflow

        per_behaviour = positive_int(per_behaviour, "per_behaviour")
        traces = [t for t in load_reasoningflow(DATA_DIR / "reasoningflow" / "annotated")
                  if t.trace_id.startswith(SOURCE_PREFIX)]
        labeller = ReasoningFlowLabeller()
        pools: dict[Behaviour, list[str]] = {b: [] for b in BEHAVIOURS}
        for t in sorted(traces, key=lambda t: t.trace_id):
            for s in labeller.label(t).steps:
                text = " ".join(s.text.split())
                if min_chars <= len(text) <= max_chars and "\\boxed" not in text:
                    pools[s.behaviour].append(text)
        query_embedder = embedder if embedder is not None else SentenceEmbedder()
        bank_embedder = query_embedder if embedder is not None else CachedEmbedder(query_embedder, default_cache_dir())
        texts, vectors = {}, {}
        for b, pool in pools.items():
            pool = list(dict.fromkeys(pool))  # teacher traces repeat themselves too
            if not pool:
                raise InvalidArgumentError(f"no teacher step of behaviour {b.value!r} fits {min_chars}..{max_chars} chars")
            idx = np.unique(np.linspace(0, len(pool) - 1, min(per_behaviour, len(pool))).round().astype(int))
            texts[b] = tuple(pool[i] for i in idx)
            vectors[b] = _unit(np.asarray(bank_embedder(list(texts[b])), dtype=float))
        return cls(texts, vectors, query_embedder)

    def examples(self, behaviour: Behaviour | str, problem: str, last_step: str = "", k: int = 2) -> list[str]:
        """The ``k`` examples of ``behaviour`` closest to the problem and the last step, best first."""
        b = Behaviour(behaviour)
        k = positive_int(k, "k")
        q = _unit(np.asarray(self.embedder([f"{problem}\n{last_step}".strip()]), dtype=float))[0]
        sims = self.vectors[b] @ q
        order = np.argsort(-sims, kind="stable")[:k]
        return [self.texts[b][i] for i in order]


def _unit(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(n > 0, n, 1.0)


@lru_cache(maxsize=2)
def default_bank(per_behaviour: int = 32) -> ExampleBank:
    """The MiniLM bank, built once per process (its vectors are also cached on disk)."""
    return ExampleBank.build(per_behaviour)


def format_examples(title: str, examples: Sequence[str]) -> str:
    """The few-shot block appended to the system prompt.

    Examples
    --------
    >>> print(format_examples("Self-Reflection", ["Wait, check that.", "Is 3 right?"]))
    Examples of Self-Reflection steps from other solutions:
    - Wait, check that.
    - Is 3 right?
    """
    return f"Examples of {title} steps from other solutions:\n" + "\n".join(f"- {e}" for e in examples)
