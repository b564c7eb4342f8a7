r"""Bond statistics pooled over traces: what experiment M5 and the invariance table M9 report.

:func:`trace_bonds` measures one trace in trace units; :func:`summarise_bonds` pools many traces
into the locality, re-attachment, return, stride and volume statistics of the Molecular Structure
paper's geometry claims (Chen et al., 2026, §4.3).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import scipy.stats

from metacot.structure.bonds import CLUSTER_THRESHOLD, LOCALITY_THRESHOLD, WINDOW, step_table, window_volumes

__all__ = ["summarise_bonds", "trace_bonds"]


def trace_bonds(coords: np.ndarray, behaviours: list, *, loc: float = LOCALITY_THRESHOLD,
                clu: float = CLUSTER_THRESHOLD, min_lag: int = 1, window: int = WINDOW):
    """One trace's step table (:func:`~metacot.structure.bonds.step_table`) and its window volumes.

    Returns
    -------
    (pandas.DataFrame, dict)
        The step table, and for ``"reflect"`` and ``"explore"`` the
        :func:`~metacot.structure.bonds.window_volumes` array ``(step, volume before, volume after)``.
    """
    table = step_table(coords, behaviours, locality_threshold=loc, cluster_threshold=clu, min_lag=min_lag)
    vols = {b: window_volumes(coords, behaviours, b, window) for b in ("reflect", "explore")}
    return table, vols


def summarise_bonds(tables: list[pd.DataFrame], vols: list[dict]) -> dict[str, float]:
    r"""The bond statistics of many traces, pooled over their steps (Chen et al., 2026, §4.3).

    For a behaviour :math:`b` and a step-table column :math:`c`, the pair ``(c_b, c_other)`` is the
    mean of :math:`c` over the steps labelled :math:`b` and over all other steps: locality of
    deep steps, re-attachment and return of reflect steps, stride (the t-SNE jump) of explore
    steps, with the median stride beside the mean because t-SNE leaves a few far outliers. Step 0
    has no jump and is left out. For reflect and explore events the window volumes before and
    after are summarised by means, medians, the median ratio, and a Wilcoxon signed-rank p-value
    of the log ratio (NaN below 10 events).

    Parameters
    ----------
    tables : list of pandas.DataFrame
        Step tables, one per trace (:func:`trace_bonds`).
    vols : list of dict
        Window volumes, one dict per trace (:func:`trace_bonds`).

    Returns
    -------
    dict of str to float
    """
    t = pd.concat(tables, ignore_index=True)
    t = t[t["step"] > 0]

    def share(col: str, b: str) -> tuple[float, float]:
        own = t.loc[t["behaviour"] == b, col]
        rest = t.loc[t["behaviour"] != b, col]
        return float(own.mean()), float(rest.mean())

    out: dict[str, float] = {}
    out["locality_deep"], out["locality_other"] = share("local", "deep")
    out["reattach_reflect"], out["reattach_other"] = share("reattached", "reflect")
    out["return_reflect"], out["return_other"] = share("returned", "reflect")
    out["stride_explore"], out["stride_other"] = share("jump", "explore")
    # t-SNE leaves a few far outliers, so the median jump is reported beside the paper's mean.
    out["stride_median_explore"] = float(t.loc[t["behaviour"] == "explore", "jump"].median())
    out["stride_median_other"] = float(t.loc[t["behaviour"] != "explore", "jump"].median())
    for b in ("normal", "deep", "reflect", "explore"):
        out[f"locality_{b}"] = float(t.loc[t["behaviour"] == b, "local"].mean())
        out[f"jump_{b}"] = float(t.loc[t["behaviour"] == b, "jump"].mean())
        out[f"n_{b}"] = int((t["behaviour"] == b).sum())
    for b in ("reflect", "explore"):
        ev = np.concatenate([v[b] for v in vols]) if vols else np.zeros((0, 3))
        out[f"n_events_{b}"] = int(ev.shape[0])
        if ev.shape[0]:
            ratio = ev[:, 2] / ev[:, 1]
            out[f"vol_before_{b}"] = float(ev[:, 1].mean())
            out[f"vol_after_{b}"] = float(ev[:, 2].mean())
            out[f"vol_before_median_{b}"] = float(np.median(ev[:, 1]))
            out[f"vol_after_median_{b}"] = float(np.median(ev[:, 2]))
            out[f"vol_ratio_median_{b}"] = float(np.median(ratio))
            out[f"vol_wilcoxon_p_{b}"] = (
                float(scipy.stats.wilcoxon(np.log(ratio)).pvalue) if ev.shape[0] >= 10 else math.nan
            )
        else:
            for k in ("vol_before", "vol_after", "vol_before_median", "vol_after_median", "vol_ratio_median",
                      "vol_wilcoxon_p"):
                out[f"{k}_{b}"] = math.nan
    return out
