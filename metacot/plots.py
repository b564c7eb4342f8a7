"""Standard figures (matplotlib + seaborn), used by the experiments and the command line.

Every function returns a ``matplotlib.figure.Figure`` and draws nothing on screen; the
non-interactive Agg backend is selected on first use unless another one is already active.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def pyplot():
    """matplotlib's pyplot on a non-interactive backend, with the project's seaborn theme."""
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    return plt


def scaling(
    data: pd.DataFrame,
    x: str,
    y: str,
    hue: str,
    *,
    mc: str | None = None,
    mc_err: str | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    title: str | None = None,
    slopes: dict[str, float] | None = None,
    ax_extra: Sequence[str] = (),
):
    r"""A log-log scaling plot: exact curves per ``hue``, optional Monte Carlo points with error bars.

    Parameters
    ----------
    data : DataFrame
        One row per (hue, x) point.
    x, y, hue : str
        Columns for the abscissa, the exact value and the series.
    mc, mc_err : str, optional
        Columns with a Monte Carlo estimate and its standard error (drawn as ±2 SE).
    slopes : dict, optional
        Fitted slope per series, shown in the legend.
    """
    plt = pyplot()
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    palette = dict(zip(data[hue].unique(), sns.color_palette("colorblind", data[hue].nunique())))
    for name, part in data.groupby(hue, sort=False):
        part = part.sort_values(x)
        label = f"{name} (slope {slopes[name]:.3f})" if slopes and name in slopes else str(name)
        ax.plot(part[x], part[y], "-", color=palette[name], label=label, lw=1.4)
        if mc is not None and part[mc].notna().any():
            ok = part[mc].notna()
            err = 2 * part.loc[ok, mc_err] if mc_err else None
            ax.errorbar(part.loc[ok, x], part.loc[ok, mc], yerr=err, fmt="o", ms=3.5,
                        color=palette[name], mfc="white", capsize=2, lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or y)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=7, frameon=True)
    fig.tight_layout()
    return fig


def heatmap(data: pd.DataFrame, index: str, columns: str, values: str, *, log: bool = True, title: str | None = None):
    """A heat map of ``values`` over two sweep parameters (log10 colour scale by default)."""
    plt = pyplot()
    import seaborn as sns

    table = data.pivot_table(index=index, columns=columns, values=values)
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    sns.heatmap(np.log10(table) if log else table, ax=ax, cmap="viridis", annot=table.size <= 64, fmt=".2f",
                cbar_kws={"label": f"log10 {values}" if log else values})
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def transition_heatmap(P: np.ndarray, states: Sequence[str], *, title: str | None = None, ax=None):
    """A transition matrix as an annotated heat map (rows: from, columns: to).

    Draws into ``ax`` when given (returning its figure), else into a new figure.
    """
    plt = pyplot()
    import seaborn as sns

    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(4.4, 3.6))
    else:
        fig = ax.figure
    sns.heatmap(pd.DataFrame(np.asarray(P), index=list(states), columns=list(states)), ax=ax, annot=True,
                fmt=".2f", cmap="rocket_r", vmin=0, vmax=1, cbar_kws={"label": "P(to | from)"})
    ax.set_xlabel("to")
    ax.set_ylabel("from")
    if title:
        ax.set_title(title)
    if own:
        fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- sweep tables
def _ok_rows(table: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The rows of a sweep table that succeeded and have every column needed."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        from metacot.errors import InvalidArgumentError

        raise InvalidArgumentError(f"the sweep table has no column {missing[0]!r}; columns: {', '.join(table.columns)}")
    rows = table if "error" not in table.columns else table[table["error"].isna()]
    return rows.dropna(subset=list(columns))


def sweep_scaling(table: pd.DataFrame, x: str, y: str, hue: str | None = None, *, logx: bool = True,
                  logy: bool = True, title: str | None = None):
    r"""A scaling curve from a sweep table: the mean of ``y`` over replicates against ``x``, one line per ``hue``.

    Rows are grouped by (``hue``, ``x``); the line is the mean of ``y`` and the band its 95%
    confidence interval across replicates (:func:`seaborn.lineplot`). Rows with an ``error`` are
    left out. On log-log axes a power law :math:`y \propto x^{a}` is a straight line of slope
    :math:`a` (for example :math:`\mathbb E[\tau] \propto \varepsilon^{-1}`).

    Parameters
    ----------
    table : DataFrame
        A table from :func:`metacot.sweep.run_sweep`.
    x, y : str
        Columns of the abscissa (a parameter) and of the value (a metric).
    hue : str, optional
        Column whose values get one line each.
    logx, logy : bool
        Logarithmic axes (default both).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"eps": [0.1, 0.01, 0.1, 0.01], "K": [2, 2, 3, 3], "exact_mean": [88.0, 808.0, 176.0, 1616.0]})
    >>> fig = sweep_scaling(t, "eps", "exact_mean", hue="K")
    >>> len(fig.axes[0].lines) >= 2
    True
    """
    plt = pyplot()
    import seaborn as sns

    cols = [x, y] + ([hue] if hue else [])
    data = _ok_rows(table, cols)
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    palette = "colorblind" if hue else None
    sns.lineplot(data=data, x=x, y=y, hue=hue, marker="o", errorbar=("ci", 95), palette=palette, ax=ax,
                 legend="full" if hue else False)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def sweep_heatmap(table: pd.DataFrame, x: str, y: str, value: str, *, log: bool = True, agg: str = "mean",
                  title: str | None = None):
    r"""A heat map of a metric over two sweep parameters (aggregated over replicates).

    Cell :math:`(i, j)` shows :math:`\operatorname{agg}\{v : x = x_j, y = y_i\}`, in
    :math:`\log_{10}` when ``log`` (values must then be positive). Rows with an ``error`` are
    left out.

    Parameters
    ----------
    table : DataFrame
        A table from :func:`metacot.sweep.run_sweep`.
    x, y : str
        Parameters on the horizontal and vertical axes.
    value : str
        The metric.
    log : bool
        Colour by :math:`\log_{10}` of the value (default).
    agg : str
        Aggregation over replicates (any pandas aggregation name).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"eps": [0.1, 0.01, 0.1, 0.01], "K": [2, 2, 3, 3], "exact_mean": [88.0, 808.0, 176.0, 1616.0]})
    >>> sweep_heatmap(t, "eps", "K", "exact_mean").axes[0].get_xlabel()
    'eps'
    """
    plt = pyplot()
    import seaborn as sns

    data = _ok_rows(table, [x, y, value])
    grid = data.pivot_table(index=y, columns=x, values=value, aggfunc=agg)
    shown = np.log10(grid) if log else grid
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    sns.heatmap(shown, ax=ax, cmap="viridis", annot=grid.size <= 64, fmt=".2f",
                cbar_kws={"label": f"log10 {value}" if log else value})
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
