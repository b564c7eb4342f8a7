r"""Labels a trace already carries: keep them, or map another taxonomy onto the four behaviours.

Traces from elsewhere often come labelled, in the four behaviours of Chen et al. (2026) or in a
taxonomy of their own (``self_checking``, ``planning``, ``calculation``...). Two labellers take
them as they are, with nothing guessed and nothing dropped silently:

* :class:`KeepLabeller` keeps each step's ``behaviour``; a step without one is an error that
  names the trace and the steps.
* :class:`TagLabeller` reads a tag from each step's ``source_labels`` and maps it through a table
  (a dict, or a TOML file: :meth:`TagLabeller.from_toml`), with optional rules on numeric fields
  (a dependency distance, a number of premises) that take precedence over the table. A tag with
  no mapping is an error listing every unmapped tag with its count, unless a ``default``
  behaviour is given; then the counts are recorded in the trace's ``metadata["unmapped_tags"]``.

The TOML form::

    key = "tag"                 # the source_labels field holding the tag (default "tag")
    default = "normal"          # optional: behaviour for unmapped tags (counted, not silent)

    [map]
    self_checking = "reflect"
    planning = "explore"
    calculation = "deep"

    [[rules]]                   # optional, first match wins, before [map]
    tag = "inference"           # "*" matches any tag
    field = "premises"          # a numeric field of source_labels
    min = 2                     # inclusive bounds; either may be left out
    behaviour = "deep"

Examples
--------
>>> from metacot.traces.edits import make_trace
>>> t = make_trace(["Let x = 2.", "Check: 2 + 2 = 4."], source_labels=[{"tag": "calc"}, {"tag": "check"}])
>>> lab = TagLabeller({"calc": "deep", "check": "reflect"})
>>> [s.behaviour.value for s in lab.label(t).steps]
['deep', 'reflect']
>>> TagLabeller({"calc": "deep"}).label(t)
Traceback (most recent call last):
...
metacot.errors.InvalidArgumentError: trace 't': tags with no mapping: 'check' (1 step); map them, or give default=
"""

from __future__ import annotations

import math
import os
import tomllib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from metacot.behaviours import Behaviour
from metacot.errors import InvalidArgumentError, MissingInputError
from metacot.traces.model import Trace

__all__ = ["KeepLabeller", "TagLabeller", "TagRule"]


def _behaviour(value: Any, where: str) -> Behaviour:
    try:
        return Behaviour(value)
    except ValueError:
        known = ", ".join(b.value for b in Behaviour)
        raise InvalidArgumentError(f"{where}: unknown behaviour {value!r}; the behaviours are {known}") from None


def _mark(trace: Trace, behaviours: list[Behaviour], name: str, **meta: Any) -> Trace:
    steps = tuple(replace(s, behaviour=b) for s, b in zip(trace.steps, behaviours, strict=True))
    return replace(trace, steps=steps, metadata={**trace.metadata, "labeller": name, **meta})


class KeepLabeller:
    """Keep the behaviour every step already has.

    Examples
    --------
    >>> from metacot.traces.edits import make_trace
    >>> t = make_trace(["a", "b"], ["normal", "deep"])
    >>> KeepLabeller().label(t).metadata["labeller"]
    'keep'
    >>> KeepLabeller().label(make_trace(["a", "b"], ["normal", None], trace_id="x"))
    Traceback (most recent call last):
    ...
    metacot.errors.InvalidArgumentError: trace 'x': 1 of 2 steps have no behaviour (step 1); label them with another labeller (keyword, trained, map:FILE)
    """

    name = "keep"

    def label(self, trace: Trace) -> Trace:
        if not trace.steps:
            raise InvalidArgumentError(f"trace {trace.trace_id!r} has no steps")
        missing = [i for i, s in enumerate(trace.steps) if s.behaviour is None]
        if missing:
            shown = ", ".join(map(str, missing[:10])) + (", ..." if len(missing) > 10 else "")
            raise InvalidArgumentError(
                f"trace {trace.trace_id!r}: {len(missing)} of {len(trace.steps)} steps have no behaviour "
                f"(step{'s' if len(missing) > 1 else ''} {shown}); label them with another labeller "
                "(keyword, trained, map:FILE)"
            )
        return _mark(trace, [s.behaviour for s in trace.steps], self.name)


@dataclass(frozen=True)
class TagRule:
    """Map ``tag`` to ``behaviour`` when the numeric field ``field`` lies in ``[min, max]``.

    Examples
    --------
    >>> r = TagRule("inference", "deep", field="premises", min=2)
    >>> r.matches("inference", {"premises": 3}), r.matches("inference", {"premises": 1})
    (True, False)
    """

    tag: str
    behaviour: Behaviour
    field: str | None = None
    min: float | None = None
    max: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "behaviour", _behaviour(self.behaviour, f"rule for tag {self.tag!r}"))
        for bound in ("min", "max"):
            v = getattr(self, bound)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v)):
                raise InvalidArgumentError(f"rule for tag {self.tag!r}: {bound} must be a number, got {v!r}")
        if self.field is None and (self.min is not None or self.max is not None):
            raise InvalidArgumentError(f"rule for tag {self.tag!r}: min/max need a field")

    def matches(self, tag: str, labels: Mapping[str, Any]) -> bool:
        if self.tag not in ("*", tag):
            return False
        if self.field is None:
            return True
        v = labels.get(self.field)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return False
        return (self.min is None or v >= self.min) and (self.max is None or v <= self.max)


class TagLabeller:
    """Map a tag of another taxonomy, stored in each step's ``source_labels[key]``, to a behaviour.

    Parameters
    ----------
    mapping : mapping of str to behaviour name
        Tag -> one of ``normal``, ``deep``, ``reflect``, ``explore``.
    key : str, default "tag"
        The ``source_labels`` field that holds the tag.
    rules : iterable of TagRule or dict, optional
        Tried in order before ``mapping``; the first that matches decides.
    default : behaviour name, optional
        Behaviour for tags with no mapping and steps with no tag. Without it, these are errors.
    name : str, default "map"

    Examples
    --------
    >>> from metacot.traces.edits import make_trace
    >>> t = make_trace(["a", "b"], source_labels=[{"tag": "x"}, {"tag": "y"}])
    >>> out = TagLabeller({"x": "deep"}, default="normal").label(t)
    >>> [s.behaviour.value for s in out.steps], out.metadata["unmapped_tags"]
    (['deep', 'normal'], {'y': 1})
    """

    def __init__(self, mapping: Mapping[str, Any], *, key: str = "tag", rules: Iterable[TagRule | Mapping] = (),
                 default: Any = None, name: str = "map") -> None:
        if not isinstance(mapping, Mapping):
            raise InvalidArgumentError(f"mapping must be a dict from tag to behaviour, got {type(mapping).__name__}")
        self.mapping = {str(tag): _behaviour(b, f"mapping of tag {tag!r}") for tag, b in mapping.items()}
        self.rules = tuple(r if isinstance(r, TagRule) else TagRule(**dict(r)) for r in rules)
        self.default = None if default is None else _behaviour(default, "default")
        if not isinstance(key, str) or not key:
            raise InvalidArgumentError(f"key must be a non-empty str, got {key!r}")
        self.key = key
        self.name = name

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> TagLabeller:
        """Read a mapping from a TOML file (format in the module docstring); errors name the file."""
        path = Path(path)
        try:
            doc = tomllib.loads(path.read_bytes().decode("utf-8"))
        except FileNotFoundError:
            raise MissingInputError(path, "mapping file") from None
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
            raise InvalidArgumentError(f"{path}: not a valid TOML mapping file ({err})") from None
        unknown = sorted(set(doc) - {"key", "default", "map", "rules"})
        if unknown:
            raise InvalidArgumentError(f"{path}: unknown top-level keys {unknown}; expected key, default, map, rules")
        if not isinstance(doc.get("map", {}), dict) or not isinstance(doc.get("rules", []), list):
            raise InvalidArgumentError(f"{path}: [map] must be a table and [[rules]] an array of tables")
        try:
            return cls(doc.get("map", {}), key=doc.get("key", "tag"), rules=doc.get("rules", []),
                       default=doc.get("default"), name=f"map:{path.name}")
        except InvalidArgumentError as err:
            raise InvalidArgumentError(f"{path}: {err}") from None
        except TypeError as err:  # a rule table with a field TagRule does not have
            raise InvalidArgumentError(f"{path}: bad rule ({err})") from None

    def behaviour_of(self, labels: Mapping[str, Any]) -> Behaviour | None:
        """The behaviour for one step's ``source_labels``, or ``None`` when nothing maps it."""
        tag = labels.get(self.key)
        if tag is None:
            return None
        tag = str(tag)
        for rule in self.rules:
            if rule.matches(tag, labels):
                return rule.behaviour
        return self.mapping.get(tag)

    def label(self, trace: Trace) -> Trace:
        if not trace.steps:
            raise InvalidArgumentError(f"trace {trace.trace_id!r} has no steps")
        found = [self.behaviour_of(s.source_labels) for s in trace.steps]
        unmapped = Counter(str(s.source_labels.get(self.key, f"<no {self.key}>"))
                           for s, b in zip(trace.steps, found, strict=True) if b is None)
        if unmapped and self.default is None:
            listed = ", ".join(f"{t!r} ({n} step{'s' if n > 1 else ''})" for t, n in unmapped.most_common())
            raise InvalidArgumentError(
                f"trace {trace.trace_id!r}: tags with no mapping: {listed}; map them, or give default="
            )
        behaviours = [self.default if b is None else b for b in found]
        meta = {"unmapped_tags": dict(unmapped)} if unmapped else {}
        return _mark(trace, behaviours, self.name, **meta)
