"""The ReasoningFlow labeller: discourse labels mapped onto the four behaviours by an ordered rule table.

:class:`ReasoningFlowLabeller` translates the labels of the ReasoningFlow annotation (node labels
and the labels of a node's incoming edges, kept by :func:`metacot.traces.core.load_reasoningflow`)
through a replaceable :class:`LabelMapping` of :class:`Rule` objects (:data:`DEFAULT_MAPPING`).

Examples
--------
>>> DEFAULT_MAPPING.explain("assumption", [])
('assumption', <Behaviour.EXPLORE: 'explore'>)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from metacot.behaviours import Behaviour
from metacot.errors import InvalidArgumentError
from metacot.graphs.labelling import relabel
from metacot.traces.core import EDGE_LABELS, NODE_LABELS, Step, Trace

__all__ = ["DEFAULT_MAPPING", "LabelMapping", "ReasoningFlowLabeller", "Rule"]

@dataclass(frozen=True)
class Rule:
    """One row of a label mapping: a condition on a step's ReasoningFlow labels and a behaviour.

    A rule matches a step when both conditions hold:

    * ``node_labels`` is ``None`` (any node, including an unlabelled one), or the step's node
      label is in it;
    * ``edge_labels`` is ``None`` (no condition on edges), or at least ``min_sources`` *distinct*
      source nodes reach the step through incoming edges whose label is in ``edge_labels``.

    Parameters
    ----------
    name : str
        Short identifier, used in :meth:`LabelMapping.explain` and in tests.
    behaviour : Behaviour or str
    node_labels : iterable of str, optional
    edge_labels : iterable of str, optional
    min_sources : int, default 1
        Only used with ``edge_labels``.
    rationale : str
        Why the rule maps to this behaviour (cite the paper's definition).

    Examples
    --------
    >>> r = Rule("b", "explore", edge_labels={"plan:backtrack"})
    >>> r.matches("planning", [{"source": "resp1", "label": "plan:backtrack"}])
    True
    >>> r.matches("planning", [])
    False
    """

    name: str
    behaviour: Behaviour
    node_labels: frozenset[str] | None = None
    edge_labels: frozenset[str] | None = None
    min_sources: int = 1
    rationale: str = ""

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "behaviour", Behaviour(self.behaviour))
        except ValueError:
            raise InvalidArgumentError(f"rule {self.name!r}: unknown behaviour {self.behaviour!r}") from None
        # Misspelt labels would make a rule silently never fire, so they are refused here.
        if self.node_labels is not None:
            nl = frozenset(self.node_labels)
            if bad := sorted(nl - NODE_LABELS):
                raise InvalidArgumentError(f"rule {self.name!r}: unknown node labels {bad}")
            object.__setattr__(self, "node_labels", nl)
        if self.edge_labels is not None:
            el = frozenset(self.edge_labels)
            if bad := sorted(el - EDGE_LABELS):
                raise InvalidArgumentError(f"rule {self.name!r}: unknown edge labels {bad}")
            if not el:
                raise InvalidArgumentError(f"rule {self.name!r}: edge_labels is empty; use None")
            object.__setattr__(self, "edge_labels", el)
        if (
            isinstance(self.min_sources, bool)
            or not isinstance(self.min_sources, int)
            or self.min_sources < 1
        ):
            raise InvalidArgumentError(f"rule {self.name!r}: min_sources must be an int >= 1")

    def matches(self, node_label: str | None, in_edges: Sequence[Mapping[str, Any]]) -> bool:
        """Whether a step with this node label and these incoming edges meets the rule."""
        if self.node_labels is not None and node_label not in self.node_labels:
            return False
        if self.edge_labels is None:
            return True
        sources = {e["source"] for e in in_edges if e["label"] in self.edge_labels}
        return len(sources) >= self.min_sources


@dataclass(frozen=True)
class LabelMapping:
    """An ordered rule table plus a fallback: the first rule that matches decides.

    Parameters
    ----------
    rules : sequence of Rule
        Tried in order; precedence is the order.
    fallback : Behaviour or str, default ``"normal"``
        The behaviour of a step no rule matches: in the default table, a node whose label is
        missing (the data has one, ``aime2024_15_QwQ-32B``/``resp39``) or off-schema and whose
        incoming edges trigger no edge rule.

    Examples
    --------
    >>> DEFAULT_MAPPING.explain("reasoning", [{"source": "a", "label": "reason:infer"},
    ...                                       {"source": "b", "label": "reason:infer"}])
    ('multi-premise-inference', <Behaviour.DEEP: 'deep'>)
    >>> DEFAULT_MAPPING.explain(None, [])
    ('fallback', <Behaviour.NORMAL: 'normal'>)
    """

    rules: tuple[Rule, ...]
    fallback: Behaviour = Behaviour.NORMAL

    def __post_init__(self) -> None:
        rules = tuple(self.rules)
        if not all(isinstance(r, Rule) for r in rules):
            raise InvalidArgumentError("LabelMapping.rules must contain only Rule objects")
        names = [r.name for r in rules]
        if len(set(names)) != len(names):
            raise InvalidArgumentError(f"duplicate rule names in {names}")
        object.__setattr__(self, "rules", rules)
        try:
            object.__setattr__(self, "fallback", Behaviour(self.fallback))
        except ValueError:
            raise InvalidArgumentError(f"unknown fallback behaviour {self.fallback!r}") from None

    def explain(self, node_label: str | None, in_edges: Sequence[Mapping[str, Any]]) -> tuple[str, Behaviour]:
        """The name of the deciding rule (``"fallback"`` if none) and the behaviour it gives."""
        for r in self.rules:
            if r.matches(node_label, in_edges):
                return r.name, r.behaviour
        return "fallback", self.fallback

    def __call__(self, node_label: str | None, in_edges: Sequence[Mapping[str, Any]]) -> Behaviour:
        return self.explain(node_label, in_edges)[1]


_B = Behaviour
_REASONING_LIKE = frozenset({"reasoning", "conclusion", "fact"})

#: The default ReasoningFlow -> behaviour table; see :class:`ReasoningFlowLabeller` for the
#: rationale of each row. Build your own :class:`LabelMapping` to change it.
DEFAULT_MAPPING = LabelMapping(
    rules=(
        Rule(
            "reflect-edge",
            _B.REFLECT,
            edge_labels={"reflect:positive", "reflect:negative", "reflect:uncertain"},
            rationale="an opinion (confidence, doubt, error) on an earlier node: the paper's "
            "self-reflection comments on its own thought process and traces back to it",
        ),
        Rule(
            "verify-plan",
            _B.REFLECT,
            edge_labels={"plan:verify"},
            rationale="a plan to check an earlier result reconsiders earlier reasoning",
        ),
        Rule(
            "backtrack",
            _B.EXPLORE,
            edge_labels={"plan:backtrack"},
            rationale="an alternative plan branches away from the current line: exploration",
        ),
        Rule(
            "validate-edge",
            _B.REFLECT,
            edge_labels={"validate:support", "validate:attack"},
            rationale="the step is checked for consistency against an earlier node (confirming "
            "or contradicting it), a link back to a previous logical node",
        ),
        Rule(
            "reflection-node",
            _B.REFLECT,
            node_labels={"reflection"},
            edge_labels=EDGE_LABELS,
            rationale="a reflection attached to an earlier node by any edge still traces back",
        ),
        Rule(
            "reflection-filler",
            _B.NORMAL,
            node_labels={"reflection"},
            rationale="a reflection node with no incoming edge is filler ('Let's see', "
            "'<think>'): it traces back to nothing and adds no logical node",
        ),
        Rule(
            "assumption",
            _B.EXPLORE,
            node_labels={"assumption"},
            rationale="a premise stated as not necessarily true opens a hypothetical branch: "
            "the paper's exploration generates hypotheses",
        ),
        Rule(
            "multi-premise-inference",
            _B.DEEP,
            node_labels=_REASONING_LIKE,
            edge_labels={"reason:infer"},
            min_sources=2,
            rationale="a new proposition deduced from two or more earlier nodes is multi-step "
            "deduction that extends the chain: deep reasoning",
        ),
        Rule(
            "routine",
            _B.NORMAL,
            node_labels=NODE_LABELS - {"reflection", "assumption"},
            rationale="restating, recalling facts, examples, forward plans, executing a plan and "
            "single-premise steps are the paper's 'simple step-by-step logic' with no new node",
        ),
    ),
    fallback=Behaviour.NORMAL,
)


class ReasoningFlowLabeller:
    """Map ReasoningFlow node and edge labels onto the four behaviours through a rule table.

    Each step's ``source_labels`` (``node_label`` and ``in_edges``, as written by
    :func:`metacot.traces.core.load_reasoningflow`) go through the rules of ``mapping`` in order; the
    first matching rule gives the behaviour, and :attr:`LabelMapping.fallback` applies when none
    matches. The definitions cited are those of Chen et al. (2026), Appendix E (see
    :mod:`metacot.behaviours`).

    Default table (:data:`DEFAULT_MAPPING`), in precedence order:

    ==  =======================  ===========================================  ==========  ======================================================
    #   rule                     condition                                    behaviour   rationale
    ==  =======================  ===========================================  ==========  ======================================================
    1   reflect-edge             any ``reflect:*`` incoming edge              reflect     an opinion on an earlier node; the paper's
                                                                                          self-reflection comments on its own reasoning and
                                                                                          traces back to it
    2   verify-plan              ``plan:verify`` incoming edge                reflect     deciding to check an earlier result is reconsidering
                                                                                          earlier reasoning
    3   backtrack                ``plan:backtrack`` incoming edge             explore     an alternative plan branches off the current line
                                                                                          (the paper's "alternative paths")
    4   validate-edge            ``validate:support`` / ``validate:attack``   reflect     the step confirms or contradicts an earlier node, a
                                                                                          long-range link back (the hydrogen-bond "fold")
    5   reflection-node          ``reflection`` node with any incoming edge   reflect     a reflection still tied to a previous node
    6   reflection-filler        ``reflection`` node, no incoming edge        normal      filler ("Let's see", ``<think>``): traces back to
                                                                                          nothing, adds no logical node
    7   assumption               ``assumption`` node                          explore     a premise marked as possibly false opens a
                                                                                          hypothetical branch: "generating hypotheses"
    8   multi-premise-inference  ``reasoning``/``conclusion``/``fact`` with   deep        a new proposition deduced from several earlier nodes
                                 ``reason:infer`` from >= 2 distinct nodes                is multi-step deduction extending the chain
    9   routine                  any other schema node label                  normal      restatement, context, facts, examples, forward
                                                                                          plans, plan execution, single-premise steps: the
                                                                                          paper's "simple step-by-step logic"
    --  fallback                 unlabelled or off-schema node, no edge rule  normal      no evidence of a bond; the neutral state
    ==  =======================  ===========================================  ==========  ======================================================

    Why this order: the edge rules that record the reasoner's *intent* towards an earlier node
    (reflect, verify, backtrack) come first, because they say what the step does regardless of
    its node type; the consistency relation (validate) comes next; node-type rules come last, and
    deep reasoning is only granted to steps that no bond rule claimed. Known consequences: deep
    reasoning requires two premises, so a one-premise inference (``x = 3, so 2x = 6``) is normal
    (set ``min_sources=1`` in your own rule to change that); plans that proceed or decompose are
    normal, which makes exploration rarer than in the paper's Figure 5.

    Parameters
    ----------
    mapping : LabelMapping, default :data:`DEFAULT_MAPPING`
    name : str, default ``"reasoningflow"``

    Raises
    ------
    InvalidArgumentError
        From :meth:`label`, for a step without ReasoningFlow ``source_labels`` (for example a
        trace from :func:`metacot.traces.core.load_raw`): use :class:`KeywordLabeller` there.

    Examples
    --------
    >>> s = Step("Alternatively,", 0, 14, source_labels={"node_id": "resp3", "node_label": "planning",
    ...          "in_edges": [{"source": "resp1", "label": "plan:backtrack"}]})
    >>> t = Trace("t", "q", (s,), "Alternatively,")
    >>> ReasoningFlowLabeller().label(t).steps[0].behaviour
    <Behaviour.EXPLORE: 'explore'>
    """

    def __init__(self, mapping: LabelMapping = DEFAULT_MAPPING, name: str = "reasoningflow") -> None:
        if not isinstance(mapping, LabelMapping):
            raise InvalidArgumentError(f"mapping must be a LabelMapping, got {type(mapping).__name__}")
        self.mapping = mapping
        self.name = name

    def rule_for(self, step: Step) -> str:
        """The name of the rule that decides ``step`` (``"fallback"`` if none)."""
        return self.mapping.explain(*self._labels(step, 0, ""))[0]

    def label(self, trace: Trace) -> Trace:
        """Return ``trace`` with every step's behaviour set by the mapping."""
        out = [self.mapping(*self._labels(s, i, trace.trace_id)) for i, s in enumerate(trace.steps)]
        return relabel(trace, out, self.name)

    @staticmethod
    def _labels(step: Step, i: int, trace_id: str) -> tuple[str | None, list[Mapping[str, Any]]]:
        sl = step.source_labels
        if "node_label" not in sl or "in_edges" not in sl:
            raise InvalidArgumentError(
                f"trace {trace_id!r}, step {i}: no ReasoningFlow source_labels "
                "(node_label, in_edges); use KeywordLabeller for unannotated traces"
            )
        return sl["node_label"], sl["in_edges"]
