"""Labellers: give every step of a :class:`~metacot.traces.core.Trace` one of the four behaviours.

The four behaviours -- normal operation, deep reasoning, self-reflection, self-exploration -- are
those of Chen et al. (2026), *The Molecular Structure of Thought* (arXiv:2601.06002); see
:mod:`metacot.behaviours` for their definitions. The paper labels steps with an LLM classifier
whose prompt is not published, so any labeller here is a modelling choice, and the choice is
made visible:

* :class:`ReasoningFlowLabeller` translates the discourse labels of the ReasoningFlow annotation
  (node labels and the labels of a node's incoming edges, kept by
  :func:`metacot.traces.core.load_reasoningflow`) through an ordered, replaceable table of
  :class:`Rule` objects (:data:`DEFAULT_MAPPING`).
* :class:`KeywordLabeller` is a surface baseline: case-insensitive regular expressions on the
  step text (:data:`DEFAULT_PATTERNS`), usable on unlabelled traces from
  :func:`metacot.traces.core.load_raw`.

:func:`agreement` and :func:`confusion` compare two labellings of the same traces.

* :class:`LLMJudgeLabeller` asks a language model, through any
  :class:`metacot.llm.samplers.Sampler` (the embedded llama.cpp model or an OpenAI-compatible
  server), to classify each step against a rubric written for this package
  (:data:`JUDGE_RUBRIC`), showing it the problem and the preceding steps.

Examples
--------
>>> from metacot.traces.core import DATA_DIR, load_reasoningflow
>>> tr = load_reasoningflow(DATA_DIR / "reasoningflow" / "annotated" / "argkp_0_DeepSeek-R1.json")[0]
>>> a = ReasoningFlowLabeller().label(tr)
>>> b = KeywordLabeller().label(tr)
>>> all(s.behaviour is not None for s in a.steps + b.steps)
True
>>> sorted(agreement([a], [b]))
['agreement', 'expected', 'kappa', 'n']
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from metacot.behaviours import BEHAVIOURS, Behaviour
from metacot.errors import InvalidArgumentError
from metacot.traces.core import EDGE_LABELS, NODE_LABELS, Step, Trace

if TYPE_CHECKING:  # pandas is imported only when confusion() is called
    import pandas as pd

__all__ = [
    "DEFAULT_MAPPING",
    "DEFAULT_PATTERNS",
    "JUDGE_EXAMPLES",
    "JUDGE_RUBRIC",
    "KeywordLabeller",
    "LLMJudgeLabeller",
    "LabelMapping",
    "Labeller",
    "ReasoningFlowLabeller",
    "Rule",
    "agreement",
    "confusion",
    "label_traces",
]


@runtime_checkable
class Labeller(Protocol):
    """Anything that labels a trace: a ``name`` and a ``label`` method.

    ``label(trace)`` returns a new :class:`~metacot.traces.core.Trace` equal to the input except that
    every step's ``behaviour`` is set (never ``None``); the input is not changed (traces are
    frozen). Implementations here also record their ``name`` in ``metadata["labeller"]``.

    Examples
    --------
    >>> isinstance(KeywordLabeller(), Labeller)
    True
    """

    name: str

    def label(self, trace: Trace) -> Trace: ...


def label_traces(traces: Iterable[Trace], labeller: Labeller) -> list[Trace]:
    """Label many traces with one labeller.

    Parameters
    ----------
    traces : iterable of Trace
    labeller : Labeller

    Returns
    -------
    list of Trace
        The labelled traces, in input order.

    Examples
    --------
    >>> t = Trace("t", "q", (Step("Wait.", 0, 5),), "Wait.")
    >>> [s.behaviour.value for s in label_traces([t], KeywordLabeller())[0].steps]
    ['reflect']
    """
    return [labeller.label(t) for t in traces]


def _relabel(trace: Trace, behaviours: Sequence[Behaviour], name: str) -> Trace:
    steps = tuple(replace(s, behaviour=b) for s, b in zip(trace.steps, behaviours, strict=True))
    return replace(trace, steps=steps, metadata={**trace.metadata, "labeller": name})


# --------------------------------------------------------------------------------------------
# ReasoningFlow label mapping
# --------------------------------------------------------------------------------------------


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
        return _relabel(trace, out, self.name)

    @staticmethod
    def _labels(step: Step, i: int, trace_id: str) -> tuple[str | None, list[Mapping[str, Any]]]:
        sl = step.source_labels
        if "node_label" not in sl or "in_edges" not in sl:
            raise InvalidArgumentError(
                f"trace {trace_id!r}, step {i}: no ReasoningFlow source_labels "
                "(node_label, in_edges); use KeywordLabeller for unannotated traces"
            )
        return sl["node_label"], sl["in_edges"]


# --------------------------------------------------------------------------------------------
# keyword baseline
# --------------------------------------------------------------------------------------------

#: Keyword rules of :class:`KeywordLabeller`, in precedence order (first match wins), compiled
#: case-insensitively. Words are matched on word boundaries.
DEFAULT_PATTERNS: tuple[tuple[Behaviour, str], ...] = (
    # Exploration first: a branch is often announced with a reflective word ("Wait, what if ..."),
    # and the branching cue is the more specific one.
    (
        Behaviour.EXPLORE,
        r"\balternative(?:ly)?\b|\banother (?:approach|way|method|idea|possibility|strategy)\b"
        r"|\bwhat if\b|\bsuppose\b|\blet'?s try\b|\blet me try\b|\btry (?:a |an )?different\b"
        r"|\binstead\b|\bor maybe\b|\bmaybe (?:we|i) (?:can|could|should)\b|\bconsider the case\b",
    ),
    # The paper's reflection markers (its keyword appendix, as reported in our notes §1.3):
    # checking, doubt and correction of earlier work.
    (
        Behaviour.REFLECT,
        r"\bwait\b|\blet me (?:double[- ])?check\b|\bdouble[- ]check\b|\bre-?check\b|\bverif(?:y|ying|ied)\b"
        r"|\bhmm+\b|\bmistake\b|\bi(?:'m| am) not sure\b|\bi might be wrong\b|\breconsider\b"
        r"|\bthat(?:'s| is) (?:not right|wrong|correct)\b|\bconfirm(?:s|ed)?\b|\bmakes sense\b",
    ),
    # Deep reasoning: an explicit inference connective, or a derivation chaining two or more
    # (in)equalities or implications in one step; a single "a + b = c" stays normal (arithmetic).
    (
        Behaviour.DEEP,
        r"\btherefore\b|\bthus\b|\bhence\b|\bimplies\b|\bit follows\b|\bconsequently\b"
        r"|\\implies|⇒|=>|(?:[=≡<>≤≥][^=≡<>≤≥]+){2,}[=≡<>≤≥]",
    ),
)


_THINK_TAG = re.compile(r"</?think>", re.IGNORECASE)


class KeywordLabeller:
    """Keyword baseline: case-insensitive regular expressions on the raw step text.

    Patterns are tried in order and the first that finds a match anywhere in the step decides;
    a step nothing matches is normal operation. ``<think>`` and ``</think>`` tags are removed
    before matching. Defaults (:data:`DEFAULT_PATTERNS`):

    ==  ==========  ==========================================================================
    #   behaviour   cues
    ==  ==========  ==========================================================================
    1   explore     alternatively, another approach/way/method, what if, suppose, let's try,
                    instead, or maybe, maybe we could, consider the case
    2   reflect     wait, (let me) (double-)check, recheck, verify, hmm, mistake, not sure,
                    I might be wrong, reconsider, that's wrong/right, confirm, makes sense
    3   deep        therefore, thus, hence, implies, it follows, consequently, ⇒, ``\\implies``,
                    or three or more (in)equality signs in one step (a derivation chain)
    --  normal      everything else
    ==  ==========  ==========================================================================

    The cues paraphrase the behaviour definitions of Chen et al. (2026) and the reflection
    markers their keyword appendix lists; the real lists are not published, so this is a
    baseline to compare against, not a reproduction.

    Parameters
    ----------
    patterns : sequence of (Behaviour or str, str), default :data:`DEFAULT_PATTERNS`
        Ordered ``(behaviour, regex)`` pairs; compiled with ``re.IGNORECASE``.
    fallback : Behaviour or str, default ``"normal"``
    name : str, default ``"keyword"``

    Examples
    --------
    >>> kl = KeywordLabeller()
    >>> [kl.classify(x).value for x in ["WAIT, that is off.", "Alternatively, use mod 4.", "x = 2."]]
    ['reflect', 'explore', 'normal']
    """

    def __init__(
        self,
        patterns: Sequence[tuple[Behaviour | str, str]] = DEFAULT_PATTERNS,
        fallback: Behaviour | str = Behaviour.NORMAL,
        name: str = "keyword",
    ) -> None:
        compiled = []
        for i, pair in enumerate(patterns):
            try:
                b, rx = pair
                compiled.append((Behaviour(b), re.compile(rx, re.IGNORECASE)))
            except (ValueError, TypeError, re.error) as e:
                raise InvalidArgumentError(
                    f"pattern {i} ({pair!r}) is not a (behaviour, regex) pair: {e}"
                ) from None
        try:
            self.fallback = Behaviour(fallback)
        except ValueError:
            raise InvalidArgumentError(f"unknown fallback behaviour {fallback!r}") from None
        self.patterns = tuple(compiled)
        self.name = name

    def classify(self, text: str) -> Behaviour:
        """The behaviour of one piece of text (``<think>`` tags are ignored)."""
        # The tags' angle brackets would otherwise count as inequality signs in the deep rule.
        text = _THINK_TAG.sub(" ", text)
        for b, rx in self.patterns:
            if rx.search(text):
                return b
        return self.fallback

    def label(self, trace: Trace) -> Trace:
        """Return ``trace`` with every step's behaviour set from its text."""
        return _relabel(trace, [self.classify(s.text) for s in trace.steps], self.name)


# --------------------------------------------------------------------------------------------
# LLM judge
# --------------------------------------------------------------------------------------------

#: The judge's instructions: the four behaviours with the cues that tell them apart, in our own
#: words after the definitions of Chen et al. (2026, Appendix E; see :mod:`metacot.behaviours`).
JUDGE_RUBRIC = """Label one step of a worked solution with exactly one word.
normal: routine work that adds no new idea (restating, plain arithmetic, recalling a fact).
deep: derives something new from earlier steps (a deduction, a chain of equations, "therefore").
reflect: looks back to check, doubt or correct earlier work ("wait", "let me verify", "that is wrong").
explore: opens a new direction (another method, a new case or hypothesis, "alternatively", "what if").
Answer with one word: normal, deep, reflect or explore."""

#: Worked examples shown before every query (ours); small models follow a demonstrated reply
#: format far more reliably than an instruction alone.
JUDGE_EXAMPLES: tuple[tuple[str, Behaviour], ...] = (
    ("The question asks for the sum of the two roots.", Behaviour.NORMAL),
    ("Since 2x = 8 and x divides 12, it follows that x = 4, so the product is 48.", Behaviour.DEEP),
    ("Wait, let me double-check that sign; I think I dropped a minus earlier.", Behaviour.REFLECT),
    ("Alternatively, maybe we could count the complement instead.", Behaviour.EXPLORE),
)

# Reply words accepted for each behaviour; the earliest one in the reply decides.
_JUDGE_WORDS = re.compile(
    r"\b(normal|routine|deep|deduction|reflect\w*|explor\w*)\b", re.IGNORECASE
)
_JUDGE_MAP = {"normal": Behaviour.NORMAL, "routine": Behaviour.NORMAL, "deep": Behaviour.DEEP,
              "deduction": Behaviour.DEEP}


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class LLMJudgeLabeller:
    r"""Label each step by asking a language model to apply the behaviour rubric.

    For step :math:`t` of a trace the judge sends one chat request (:meth:`messages`): the rubric
    (:data:`JUDGE_RUBRIC`) as the system message, one worked example per behaviour
    (:data:`JUDGE_EXAMPLES`), and the query: the problem, the ``context_steps`` steps before
    :math:`t` and step :math:`t` itself, each clipped to ``max_chars`` characters. The steps of one trace go to the sampler as one batch
    (``complete_batch``), so an OpenAI-compatible server answers them concurrently. The reply is
    parsed by :meth:`parse`: the first of the words *normal, deep, reflect(ion), explore/exploration*
    (or *routine*, *deduction*) decides.

    **Unparseable replies are not lost.** With ``on_unparsed="fallback"`` (the default) such a step
    gets ``fallback`` and its index is recorded in ``metadata["judge_unparsed"]`` of the labelled
    trace, so the rate can be reported; with ``"raise"`` a :class:`~metacot.errors.InvalidArgumentError`
    names the trace, the step and the reply.

    The paper labels with an LLM whose prompt is not published; this rubric is ours, so agreement
    with the paper's labels is a question for measurement (:func:`agreement`), not an assumption.

    Parameters
    ----------
    sampler : metacot.llm.samplers.Sampler
        Anything with ``complete_batch(requests) -> list[str]`` and ``describe() -> dict``.
    context_steps : int, default 2
        Preceding steps shown to the judge.
    max_chars : int, default 300
        Characters kept of the problem and of each step (small models have small contexts).
    temperature : float, default 0.0
        Greedy decoding: a label should not depend on luck.
    max_tokens : int, default 6
    seed : int, default 0
        Passed to every request, for samplers that honour it.
    on_unparsed : {"fallback", "raise"}
    fallback : Behaviour or str, default ``"normal"``
    name : str, optional
        Defaults to ``"llm-judge:<model>"`` from the sampler's description.

    Examples
    --------
    >>> class Echo:  # a stand-in sampler that always answers "deep"
    ...     def complete_batch(self, requests): return ["Deep."] * len(requests)
    ...     def describe(self): return {"kind": "echo", "model": "echo"}
    >>> t = Trace("t", "q", (Step("So x = 2.", 0, 9), Step("Then y = 3.", 9, 20)), "So x = 2.Then y = 3.")
    >>> judge = LLMJudgeLabeller(Echo())
    >>> [s.behaviour.value for s in judge.label(t).steps], judge.name
    (['deep', 'deep'], 'llm-judge:echo')
    """

    def __init__(
        self,
        sampler: Any,
        *,
        context_steps: int = 2,
        max_chars: int = 300,
        temperature: float = 0.0,
        max_tokens: int = 6,
        seed: int = 0,
        on_unparsed: str = "fallback",
        fallback: Behaviour | str = Behaviour.NORMAL,
        name: str | None = None,
    ) -> None:
        if not callable(getattr(sampler, "complete_batch", None)):
            raise InvalidArgumentError(
                f"sampler must have a complete_batch(requests) method, got {type(sampler).__name__}"
            )
        if isinstance(context_steps, bool) or not isinstance(context_steps, int) or context_steps < 0:
            raise InvalidArgumentError(f"context_steps must be a non-negative int, got {context_steps!r}")
        if isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 2:
            raise InvalidArgumentError(f"max_chars must be an int >= 2, got {max_chars!r}")
        if on_unparsed not in ("fallback", "raise"):
            raise InvalidArgumentError(f"on_unparsed must be 'fallback' or 'raise', got {on_unparsed!r}")
        try:
            self.fallback = Behaviour(fallback)
        except ValueError:
            raise InvalidArgumentError(f"unknown fallback behaviour {fallback!r}") from None
        self.sampler = sampler
        self.context_steps = context_steps
        self.max_chars = int(max_chars)
        self.temperature = float(temperature)
        self.max_tokens = int(max_tokens)
        self.seed = seed
        self.on_unparsed = on_unparsed
        if name is None:
            describe = getattr(sampler, "describe", None)
            model = (describe() if callable(describe) else {}).get("model", type(sampler).__name__)
            name = f"llm-judge:{model}"
        self.name = name

    @staticmethod
    def parse(reply: str) -> Behaviour | None:
        """The behaviour a judge's reply names, or ``None`` if it names none.

        Examples
        --------
        >>> LLMJudgeLabeller.parse("Label: Self-Reflection"), LLMJudgeLabeller.parse("no idea")
        (<Behaviour.REFLECT: 'reflect'>, None)
        """
        m = _JUDGE_WORDS.search(reply)
        if m is None:
            return None
        word = m.group(1).lower()
        if word.startswith("reflect"):
            return Behaviour.REFLECT
        if word.startswith("explor"):
            return Behaviour.EXPLORE
        return _JUDGE_MAP[word]

    def messages(self, trace: Trace, i: int) -> tuple[dict[str, str], ...]:
        """The chat messages that ask for the label of step ``i`` of ``trace``.

        The rubric as the system message, :data:`JUDGE_EXAMPLES` as earlier user/assistant turns,
        then the query: the problem, the preceding ``context_steps`` steps and step ``i``.
        """
        msgs = [{"role": "system", "content": JUDGE_RUBRIC}]
        for text, b in JUDGE_EXAMPLES:
            msgs += [{"role": "user", "content": f"Step: {text}\nLabel:"}, {"role": "assistant", "content": b.value}]
        lo = max(0, i - self.context_steps)
        context = " ".join(_clip(s.text, self.max_chars) for s in trace.steps[lo:i])
        query = f"Problem: {_clip(trace.problem, self.max_chars)}\n"
        if context:
            query += f"Earlier: {context}\n"
        query += f"Step: {_clip(trace.steps[i].text, self.max_chars)}\nLabel:"
        msgs.append({"role": "user", "content": query})
        return tuple(msgs)

    def label(self, trace: Trace) -> Trace:
        """Return ``trace`` with every step's behaviour set by the judge."""
        from metacot.llm.samplers import ChatRequest

        requests = [
            ChatRequest(messages=self.messages(trace, i), temperature=self.temperature,
                        max_tokens=self.max_tokens, stop=("\n",), seed=self.seed)
            for i in range(len(trace.steps))
        ]
        replies = self.sampler.complete_batch(requests) if requests else []
        if len(replies) != len(requests):
            raise InvalidArgumentError(
                f"trace {trace.trace_id!r}: the sampler returned {len(replies)} replies for {len(requests)} steps"
            )
        labels, unparsed = [], []
        for i, reply in enumerate(replies):
            b = self.parse(reply)
            if b is None:
                if self.on_unparsed == "raise":
                    raise InvalidArgumentError(
                        f"trace {trace.trace_id!r}, step {i}: the judge's reply {reply!r} names no behaviour"
                    )
                b = self.fallback
                unparsed.append(i)
            labels.append(b)
        out = _relabel(trace, labels, self.name)
        return replace(out, metadata={**out.metadata, "judge_unparsed": unparsed})


# --------------------------------------------------------------------------------------------
# comparing two labellings
# --------------------------------------------------------------------------------------------


def _pairs(traces_a: Sequence[Trace], traces_b: Sequence[Trace]) -> list[tuple[Behaviour, Behaviour]]:
    traces_a, traces_b = list(traces_a), list(traces_b)
    if len(traces_a) != len(traces_b):
        raise InvalidArgumentError(
            f"{len(traces_a)} traces against {len(traces_b)}; expected the same traces"
        )
    pairs = []
    for k, (ta, tb) in enumerate(zip(traces_a, traces_b, strict=True)):
        if ta.trace_id != tb.trace_id or len(ta) != len(tb):
            raise InvalidArgumentError(
                f"trace {k}: {ta.trace_id!r} ({len(ta)} steps) against {tb.trace_id!r} ({len(tb)} steps)"
            )
        for i, (sa, sb) in enumerate(zip(ta.steps, tb.steps, strict=True)):
            if sa.behaviour is None or sb.behaviour is None:
                raise InvalidArgumentError(f"trace {ta.trace_id!r}, step {i}: unlabelled step")
            pairs.append((sa.behaviour, sb.behaviour))
    return pairs


def _table(pairs: list[tuple[Behaviour, Behaviour]]) -> list[list[int]]:
    idx = {b: i for i, b in enumerate(BEHAVIOURS)}
    m = [[0] * len(BEHAVIOURS) for _ in BEHAVIOURS]
    for a, b in pairs:
        m[idx[a]][idx[b]] += 1
    return m


def agreement(traces_a: Sequence[Trace], traces_b: Sequence[Trace]) -> dict[str, float]:
    r"""Step-level agreement and Cohen's kappa between two labellings of the same traces.

    With :math:`p_o` the fraction of steps given the same behaviour and :math:`p_e` the agreement
    expected by chance from the two marginal distributions :math:`a_k, b_k`,

    .. math::

        p_e = \sum_k a_k b_k, \qquad \kappa = \frac{p_o - p_e}{1 - p_e}.

    Parameters
    ----------
    traces_a, traces_b : sequence of Trace
        The same traces (same ``trace_id`` and step count, in the same order), every step labelled.

    Returns
    -------
    dict
        ``n`` (steps compared), ``agreement`` (:math:`p_o`), ``expected`` (:math:`p_e`) and
        ``kappa``; kappa is ``nan`` when :math:`p_e = 1` (both sides use one and the same label
        throughout, so chance explains everything) and when ``n == 0``.

    Raises
    ------
    InvalidArgumentError
        Traces that do not line up, or an unlabelled step.

    Examples
    --------
    >>> def tr(labels):
    ...     steps = tuple(Step("x", i, i + 1, b) for i, b in enumerate(labels))
    ...     return Trace("t", "q", steps, "x" * len(labels))
    >>> r = agreement([tr(["normal", "normal", "deep", "reflect"])], [tr(["normal", "deep", "deep", "reflect"])])
    >>> r["agreement"], round(r["kappa"], 4)
    (0.75, 0.6364)
    """
    pairs = _pairs(traces_a, traces_b)
    n = len(pairs)
    if n == 0:
        return {"n": 0, "agreement": float("nan"), "expected": float("nan"), "kappa": float("nan")}
    m = _table(pairs)
    po = sum(m[k][k] for k in range(len(m))) / n
    rows = [sum(r) / n for r in m]
    cols = [sum(m[i][k] for i in range(len(m))) / n for k in range(len(m))]
    pe = sum(r * c for r, c in zip(rows, cols, strict=True))
    kappa = float("nan") if pe >= 1.0 else (po - pe) / (1.0 - pe)
    return {"n": n, "agreement": po, "expected": pe, "kappa": kappa}


def confusion(
    traces_a: Sequence[Trace], traces_b: Sequence[Trace], names: tuple[str, str] = ("a", "b")
) -> pd.DataFrame:
    """4x4 table of step counts: rows are the first labelling's behaviour, columns the second's.

    Parameters
    ----------
    traces_a, traces_b : sequence of Trace
        As for :func:`agreement`.
    names : (str, str), default ``("a", "b")``
        Names of the row and column axes (for example the two labellers' names).

    Returns
    -------
    pandas.DataFrame
        Integer counts indexed by the behaviour short names in :data:`~metacot.behaviours.BEHAVIOURS`
        order; the total is the number of steps.

    Examples
    --------
    >>> t = Trace("t", "q", (Step("x", 0, 1, "deep"),), "x")
    >>> u = Trace("t", "q", (Step("x", 0, 1, "normal"),), "x")
    >>> int(confusion([t], [u]).loc["deep", "normal"])
    1
    """
    import pandas as pd

    m = _table(_pairs(traces_a, traces_b))
    labels = [b.value for b in BEHAVIOURS]
    return pd.DataFrame(
        m,
        index=pd.Index(labels, name=names[0]),
        columns=pd.Index(labels, name=names[1]),
        dtype="int64",
    )
