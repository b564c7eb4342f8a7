r"""The three behaviour graphs published in Figure 5 of Chen et al. (2026).

*The Molecular Structure of Thought* (arXiv:2601.06002) prints the transition matrices of
DeepSeek-R1-0528, gpt-oss-120b and QwQ-32B in percent; :func:`reference` returns each as a
:class:`~metacot.graphs.behaviour_graph.BehaviourGraph`, and :data:`REFERENCE_PERCENT` keeps the
printed values.

Examples
--------
>>> g = reference("deepseek-r1-0528")
>>> [s.value for s in g.states]
['normal', 'deep', 'reflect', 'explore']
>>> g.stationary().round(2).tolist()
[0.59, 0.12, 0.07, 0.22]
"""

from __future__ import annotations

import numpy as np

from metacot.behaviours import BEHAVIOURS
from metacot.errors import InvalidArgumentError
from metacot.graphs.behaviour_graph import BehaviourGraph
from metacot.graphs.provenance import Provenance, metacot_version

__all__ = ["REFERENCE_PERCENT", "reference"]

#: Figure 5 of Chen et al. (2026), in percent, rows = from, columns = to, order N, D, R, E, as
#: printed (rounded to two significant figures; rows sum to 99.6..101). Read from images of the
#: paper's figure (tag [P] in ``papers/notes/molecular_paper.md`` §2.2).
REFERENCE_PERCENT: dict[str, tuple[tuple[float, ...], ...]] = {
    "deepseek-r1-0528": (
        (74, 10, 4.7, 11),
        (52, 22, 10, 17),
        (35, 10, 17, 38),
        (31, 11, 9.6, 48),
    ),
    "gpt-oss-120b": (
        (75, 8.8, 4.5, 12),
        (44, 25, 6.5, 25),
        (34, 12, 17, 38),
        (32, 17, 7, 44),
    ),
    "qwq-32b": (
        (78, 5, 8.8, 8.4),
        (45, 18, 14, 23),
        (28, 6.8, 41, 24),
        (31, 6.7, 14, 48),
    ),
}

_REFERENCE_MODEL = {
    "deepseek-r1-0528": "DeepSeek-R1-0528",
    "gpt-oss-120b": "OpenAI gpt-oss-120b",
    "qwq-32b": "QwQ-32B",
}

_ALIASES = {
    "openai-oss-120b": "gpt-oss-120b",
    "r1": "deepseek-r1-0528",
    "deepseek-r1": "deepseek-r1-0528",
    "qwq": "qwq-32b",
}


def reference(name: str) -> BehaviourGraph:
    r"""One of the three behaviour transition graphs published in Figure 5 of Chen et al. (2026).

    The figure prints :math:`P` in percent rounded to two significant figures, so its rows sum to
    between 99.6 and 101; we divide each row by its sum, :math:`P_{ij} = v_{ij} / \sum_j v_{ij}`,
    which changes no entry by more than about 0.6 percentage points. The raw values are kept in
    :data:`REFERENCE_PERCENT`. The paper reports neither the counts nor the marginal
    :math:`\pi_C(b)` behind the figure (≥ 2,000 traces per teacher, labelled by an LLM whose prompt
    is not published), so ``counts``, ``marginal`` and ``posterior`` are ``None``.

    Parameters
    ----------
    name : {"deepseek-r1-0528", "gpt-oss-120b", "qwq-32b"}
        Case-insensitive; ``"openai-oss-120b"``, ``"r1"`` and ``"qwq"`` are accepted too.

    Returns
    -------
    BehaviourGraph
        ``provenance.method == "reference"``.

    Examples
    --------
    >>> g = reference("qwq-32b")
    >>> round(float(g.P[2, 2]), 2)
    0.41
    """
    key = str(name).lower().strip()
    key = _ALIASES.get(key, key)
    if key not in REFERENCE_PERCENT:
        raise InvalidArgumentError(
            f"no reference graph {name!r}; the paper's Figure 5 has {sorted(REFERENCE_PERCENT)}"
        )
    v = np.array(REFERENCE_PERCENT[key], dtype=np.float64)
    P = v / v.sum(axis=1, keepdims=True)
    prov = Provenance(
        method="reference",
        sources=(
            "Chen et al. (2026), The Molecular Structure of Thought, arXiv:2601.06002, Figure 5",
            _REFERENCE_MODEL[key],
        ),
        labeller="the paper's LLM labeller (prompt not published)",
        created="2026-01-09",
        metacot_version=metacot_version(),
        notes=(
            "Figure values in percent rounded to two significant figures (row sums 99.6-101), "
            "row-normalised here; counts and marginal not published."
        ),
        extra={"percent": v.tolist()},
    )
    return BehaviourGraph(P=P, states=BEHAVIOURS, provenance=prov)
