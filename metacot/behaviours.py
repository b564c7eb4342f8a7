"""The four reasoning behaviours of *The Molecular Structure of Thought*.

Chen et al. (2026), *The Molecular Structure of Thought: Mapping the Topology of Long
Chain-of-Thought Reasoning* (arXiv:2601.06002), describe every step of a long chain of thought
as one of four behaviours. Three of them are the "bonds" of their chemical analogy; the fourth is
the neutral background. The definitions below are our paraphrase of the paper's rubric (its
Appendix E prompts); see ``papers/molecular_paper.md`` §1 for the sources and how sure each one is.

Labels from other annotation schemes (ReasoningFlow's node and edge labels, keyword baselines,
LLM judges) are mapped onto these four states elsewhere (``metacot.graphs.labellers``); that mapping is a
modelling choice, not part of this module.

Examples
--------
>>> from metacot.behaviours import Behaviour
>>> Behaviour("reflect") is Behaviour.REFLECT
True
>>> [b.value for b in Behaviour]
['normal', 'deep', 'reflect', 'explore']
>>> Behaviour.DEEP.title
'Deep Reasoning'
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["BEHAVIOURS", "DEFINITIONS", "Behaviour"]


class Behaviour(StrEnum):
    """One of the four behaviours; the value is the short name used in files and graphs.

    Being a ``StrEnum``, a member compares equal to its short name, so JSON written with plain
    strings reads back without a lookup table.
    """

    NORMAL = "normal"
    DEEP = "deep"
    REFLECT = "reflect"
    EXPLORE = "explore"

    @property
    def title(self) -> str:
        """The name the paper's figures use, e.g. ``"Self-Reflection"``."""
        return _TITLES[self]

    @property
    def symbol(self) -> str:
        """One-letter symbol (N, D, R, E) as in the paper's tables."""
        return _SYMBOLS[self]

    @property
    def definition(self) -> str:
        """A short definition in our own words."""
        return DEFINITIONS[self]


_TITLES = {
    Behaviour.NORMAL: "Normal Operation",
    Behaviour.DEEP: "Deep Reasoning",
    Behaviour.REFLECT: "Self-Reflection",
    Behaviour.EXPLORE: "Self-Exploration",
}

_SYMBOLS = {Behaviour.NORMAL: "N", Behaviour.DEEP: "D", Behaviour.REFLECT: "R", Behaviour.EXPLORE: "E"}

#: Paraphrased definitions (Chen et al., 2026, Appendix E rubric).
DEFINITIONS: dict[Behaviour, str] = {
    Behaviour.NORMAL: (
        "Routine work that adds no new logical node: plain arithmetic, recalling a fact, restating "
        "the problem, or an obvious next step."
    ),
    Behaviour.DEEP: (
        "A step that lengthens the chain of argument: it derives something new by multi-step "
        "deduction, causal or analogical reasoning, or by making a hidden assumption explicit. "
        "The paper likens it to a covalent bond, the backbone of the trace."
    ),
    Behaviour.REFLECT: (
        "The reasoner looks back at its own earlier work: it checks, doubts, corrects or "
        "reconsiders a previous step, linking a later step to an earlier one (the paper's "
        "hydrogen-bond-like fold)."
    ),
    Behaviour.EXPLORE: (
        "The reasoner opens a new possibility: a fresh hypothesis, an alternative method or a "
        "question, branching away instead of continuing one line (the paper's weak, "
        "van-der-Waals-like bridge between distant parts of the trace)."
    ),
}

#: The four behaviours in the paper's order; the state order of fitted behaviour graphs.
BEHAVIOURS: tuple[Behaviour, ...] = tuple(Behaviour)
