"""Provenance of a behaviour graph: how it was estimated, from what, by which labeller and version.

Examples
--------
>>> p = Provenance.now(method="dirichlet", sources=("QwQ-32B",))
>>> p.to_dict()["sources"]
['QwQ-32B']
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

from metacot.errors import InvalidArgumentError

__all__ = ["Provenance", "metacot_version"]


def metacot_version() -> str:
    """The running metacot version (stamped into every graph's provenance)."""
    from metacot._version import __version__

    return __version__


@dataclass(frozen=True)
class Provenance:
    """Where a graph came from.

    Attributes
    ----------
    method : str
        ``"mle"``, ``"dirichlet"``, ``"reference"``, ...
    sources : tuple of str
        Data sources (teacher models, files, or a citation for reference graphs).
    labeller : str or None
        Name of the labeller that assigned the behaviours, ``None`` if the traces came labelled.
    created : str
        ISO date (``YYYY-MM-DD``) the graph was made.
    metacot_version : str
        Version of metacot that made it.
    notes : str
        Free text (caveats, rounding, ...).
    extra : dict
        JSON-ready details: trace and step counts, skipped pairs, the prior, ...

    Examples
    --------
    >>> Provenance.now(method="mle", sources=("R1",)).method
    'mle'
    """

    method: str
    sources: tuple[str, ...] = ()
    labeller: str | None = None
    created: str = ""
    metacot_version: str = ""
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.method, str):
            raise InvalidArgumentError(f"Provenance.method must be a str, got {self.method!r}")
        if isinstance(self.sources, str):
            raise InvalidArgumentError("Provenance.sources must be a sequence of str, not one str")
        src = tuple(self.sources)
        if not all(isinstance(s, str) for s in src):
            raise InvalidArgumentError(f"Provenance.sources must hold str, got {src!r}")
        object.__setattr__(self, "sources", src)
        for name in ("created", "metacot_version", "notes"):
            if not isinstance(getattr(self, name), str):
                raise InvalidArgumentError(f"Provenance.{name} must be a str")
        if self.labeller is not None and not isinstance(self.labeller, str):
            raise InvalidArgumentError(f"Provenance.labeller must be a str or None, got {self.labeller!r}")
        if not isinstance(self.extra, dict):
            raise InvalidArgumentError("Provenance.extra must be a dict")

    @classmethod
    def now(cls, method: str, **kw: Any) -> Provenance:
        """A provenance stamped with today's UTC date and the running metacot version."""
        kw.setdefault("created", _dt.datetime.now(_dt.UTC).date().isoformat())
        kw.setdefault("metacot_version", metacot_version())
        return cls(method=method, **kw)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return {
            "method": self.method,
            "sources": list(self.sources),
            "labeller": self.labeller,
            "created": self.created,
            "metacot_version": self.metacot_version,
            "notes": self.notes,
            "extra": self.extra,
        }
