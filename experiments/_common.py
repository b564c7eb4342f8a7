"""What every experiment shares: the verdict record, result files, and log-log fits.

The experiments contract: ``python -m experiments <ID> [--quick]`` writes
``results/<ID>/verdict.json`` (``id``, ``claim``, ``prediction``, ``measured``, ``passed``), a PNG
figure and the data (CSV) beside it. ``--quick`` keeps an experiment under about a minute.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.stats

RESULTS = Path(__file__).resolve().parent.parent / "results"


@dataclass(frozen=True)
class Claim:
    """What an experiment checks, fixed before it runs (the ledger's left-hand columns)."""

    id: str
    paper: str  # ledger this row belongs to, e.g. "metastable-cot"
    claim: str  # the paper's claim, in our words, with its reference
    formalisation: str  # the exact chain family and parameters
    prediction: str  # what the claim predicts for the measured quantity
    rule: str  # the pass/fail rule, stated before running
    # Anything about the set-up or the rule decided after seeing a result (shown in the ledger).
    disclosure: str = ""


@dataclass
class Verdict:
    """An experiment's outcome: the contract's fields plus the details behind them."""

    id: str
    claim: str
    prediction: str
    measured: str
    passed: bool
    rule: str = ""
    formalisation: str = ""
    disclosure: str = ""
    paper: str = ""
    quick: bool = False
    seconds: float = 0.0
    figure: str = ""
    data: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Slope:
    """Least-squares slope of log y against log x with its confidence interval."""

    slope: float
    low: float
    high: float
    intercept: float
    level: float

    def __str__(self) -> str:
        return f"{self.slope:.4f} [{self.low:.4f}, {self.high:.4f}]"


def loglog_slope(x: np.ndarray, y: np.ndarray, level: float = 0.95) -> Slope:
    r"""Fit :math:`\log y = a + b \log x` by ordinary least squares.

    The interval is :math:`b \pm t_{n-2,(1+\text{level})/2}\,\mathrm{se}(b)`. With exact values
    the residuals come only from lower-order terms, so the interval says how straight the line is.
    """
    lx, ly = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
    fit = scipy.stats.linregress(lx, ly)
    if lx.size > 2:
        half = scipy.stats.t.ppf((1 + level) / 2, lx.size - 2) * fit.stderr
    else:
        half = math.nan
    return Slope(fit.slope, fit.slope - half, fit.slope + half, fit.intercept, level)


def output_dir(exp_id: str, results: Path | None = None) -> Path:
    out = (results or RESULTS) / exp_id
    out.mkdir(parents=True, exist_ok=True)
    return out


def write(verdict: Verdict, data: pd.DataFrame, figure, out: Path, started: float) -> Verdict:
    """Write data, figure and verdict into ``out``; the verdict file is written last.

    Writing the verdict last means a verdict on disk always has its data and figure beside it.
    """
    import matplotlib.pyplot as plt

    data.to_csv(out / "data.csv", index=False)
    figure.savefig(out / "figure.png", dpi=130, bbox_inches="tight")
    plt.close(figure)
    verdict.figure = "figure.png"
    verdict.data = "data.csv"
    verdict.seconds = round(time.perf_counter() - started, 2)
    tmp = out / "verdict.json.tmp"
    tmp.write_text(json.dumps(asdict(verdict), indent=2, default=_jsonable) + "\n")
    tmp.replace(out / "verdict.json")
    return verdict


def _jsonable(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"cannot write {type(x).__name__} to JSON")


def from_claim(claim: Claim, measured: str, passed: bool, quick: bool, **details: Any) -> Verdict:
    return Verdict(
        id=claim.id,
        claim=claim.claim,
        prediction=claim.prediction,
        measured=measured,
        passed=bool(passed),
        rule=claim.rule,
        formalisation=claim.formalisation,
        disclosure=claim.disclosure,
        paper=claim.paper,
        quick=quick,
        details=details,
    )
