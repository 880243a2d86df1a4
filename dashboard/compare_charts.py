"""Plotly figures of the compare view: runs and versions on shared axes. No I/O, no Streamlit.

    overlay_figure      every run's (smoothed, downsampled) curve, coloured by version
    aggregate_figure    per version: centre line (IQM or mean over runs) + 95% bootstrap band,
                        optionally over that version's runs drawn faintly
    padded_range        one axis range for several figures, so side-by-side panels line up

Data arrives already smoothed, aggregated (runlog.analysis.stats) and thinned
(runlog.analysis.curves); this module only draws. Traces are SVG `Scatter`, like dashboard.charts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import plotly.graph_objects as go

from dashboard.charts import CHART_HEIGHT, VERSION_COLORS, curve_layout
from dashboard.text import HOVER_FORMAT, plot_text
from runlog.analysis.stats import AggregateCurve

RUN_DASHES = ("solid", "dot", "dash", "dashdot", "longdash", "longdashdot")
RUN_OPACITY = 0.35
BAND_ALPHA = 0.22


def version_color(index: int) -> str:
    return VERSION_COLORS[index % len(VERSION_COLORS)]


def rgba(hex_color: str, alpha: float) -> str:
    value = hex_color.lstrip("#")
    r, g, b = (int(value[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


@dataclass(frozen=True, eq=False)
class RunLine:
    """One run's curve for drawing: already smoothed and downsampled."""

    run: str
    """The run's path under the root, "name/version/run_id"."""
    version: str
    """Its group label, "name/version": sets the colour and the legend group."""
    color: str
    x: npt.NDArray[Any]
    y: npt.NDArray[Any]
    dash: str = "solid"
    markers: bool = False


@dataclass(frozen=True, eq=False)
class VersionCurve:
    """One version's aggregate (runlog.analysis.stats.AggregateCurve) and how to draw it."""

    version: str
    color: str
    curve: AggregateCurve
    n_total: int
    """Runs selected in this version (some may have no data: `curve.n_runs` says how many do)."""


def _list(values: Iterable[Any]) -> list[Any]:
    """JSON-friendly list: NaN and inf become None (a gap in the line)."""
    array = np.asarray(list(values) if not isinstance(values, np.ndarray) else values)
    if array.dtype.kind == "f":
        return [float(v) if np.isfinite(v) else None for v in array]
    return array.tolist()  # type: ignore[no-any-return]


def n_label(n_runs: int, n_total: int | None = None) -> str:
    """ "n = 3 runs", "n = 1 run", "n = 2 of 3 runs" (when some runs have no data)."""
    noun = "run" if (n_total if n_total is not None else n_runs) == 1 else "runs"
    if n_total is not None and n_total != n_runs:
        return f"n = {n_runs} of {n_total} {noun}"
    return f"n = {n_runs} {noun}"


MAX_RUN_ENTRIES = 12
"""Runs an every-run chart names one by one in its legend; above, it names versions."""
LEGEND_ROW = 19
"""Pixels one legend entry takes below a compare chart."""
LEGEND_GROUP_GAP = 10
"""Pixels between two legend groups (plotly's default `tracegroupgap`)."""


def legend_height(fig: go.Figure) -> int:
    """Pixels a legend below `fig` takes at most: one row per entry and a gap between
    groups (a wide chart may fit several entries in a row and need less)."""
    shown = [t for t in fig.data if t.showlegend is not False]
    groups = {t.legendgroup for t in shown}
    return LEGEND_ROW * len(shown) + LEGEND_GROUP_GAP * max(len(groups) - 1, 0)


def _layout(
    fig: go.Figure,
    *,
    title: str,
    note: str,
    x_title: str,
    y_title: str,
    height: int,
    x_range: tuple[float, float] | None,
    y_range: tuple[float, float] | None,
) -> go.Figure:
    # The run view's curve layout, with room for a subtitle naming several versions and the
    # legend below the x-axis title (several versions' entries would crowd the title above).
    # The legend is placed from the figure's bottom edge (yref "container"), which makes
    # plotly reserve its room under the axis title, and the figure grows by that room: the
    # plot keeps its height and the legend never reaches the title, however many runs it names.
    layout = curve_layout(title, note, x_title, y_title, height + legend_height(fig))
    layout["margin"]["t"] = 72 if note else 48
    layout["legend"] = {
        "orientation": "h",
        "yref": "container",
        "yanchor": "bottom",
        "y": 0,
        "xanchor": "left",
        "x": 0,
    }
    if x_range is not None:
        del layout["xaxis"]["rangemode"]
        layout["xaxis"]["range"] = list(x_range)
    if y_range is not None:
        layout["yaxis"]["range"] = list(y_range)
    fig.update_layout(layout)
    return fig


def _run_trace(
    line: RunLine, *, name: str, width: float, marker_size: int, faint: bool = False
) -> go.Scatter:
    """One run's curve; `faint` draws it thin, translucent and out of the legend (under a band)."""
    return go.Scatter(
        x=_list(line.x),
        y=_list(line.y),
        mode="lines+markers" if line.markers else "lines",
        name=plot_text(name),
        legendgroup=line.version,
        showlegend=not faint,
        line={"color": line.color, "width": width, "dash": line.dash},
        marker={"size": marker_size},
        opacity=RUN_OPACITY if faint else None,
        hovertemplate=f"%{{y:{HOVER_FORMAT}}}<extra>{plot_text(line.run)}</extra>",
    )


def overlay_figure(
    lines: Sequence[RunLine],
    *,
    title: str,
    y_title: str,
    note: str = "",
    x_title: str = "env steps",
    height: int = CHART_HEIGHT,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
) -> go.Figure:
    """Every run's curve on one pair of axes; one legend entry per run, grouped by version,
    or above MAX_RUN_ENTRIES runs one per version (it toggles the version's runs; a run is
    named by its hover)."""
    fig = go.Figure()
    per_version = len(lines) > MAX_RUN_ENTRIES
    runs_of = Counter(line.version for line in lines)
    named: set[str] = set()
    for line in lines:
        if per_version:
            n = runs_of[line.version]
            name = f"{line.version} · {n} run{'s' if n != 1 else ''}"
        else:
            name = f"{line.version} · {line.run.rsplit('/', 1)[-1]}"
        trace = _run_trace(line, name=name, width=1.6, marker_size=5)
        if per_version:
            trace.showlegend = line.version not in named
            named.add(line.version)
        fig.add_trace(trace)
    return _layout(
        fig,
        title=title,
        note=note,
        x_title=x_title,
        y_title=y_title,
        height=height,
        x_range=x_range,
        y_range=y_range,
    )


def aggregate_figure(
    versions: Sequence[VersionCurve],
    *,
    title: str,
    y_title: str,
    note: str = "",
    runs: Sequence[RunLine] = (),
    x_title: str = "env steps",
    height: int = CHART_HEIGHT,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    markers: bool = False,
) -> go.Figure:
    """Per version: the band (low..high, `fill="tonexty"`) and the centre line on top.

    A version with one run (no interval) gets its line only, named "1 run: no band". `runs`
    are drawn first, faint and thin, so the band can be checked against the seeds it sums up.
    """
    fig = go.Figure()
    for line in runs:
        name = line.run.rsplit("/", 1)[-1]
        fig.add_trace(_run_trace(line, name=name, width=1, marker_size=4, faint=True))
    for item in versions:
        agg = item.curve
        if len(agg.x) == 0:
            continue
        stat = "IQM" if agg.statistic == "iqm" else "mean"
        version = plot_text(item.version)
        x = _list(agg.x)
        if agg.has_band and agg.low is not None and agg.high is not None:
            ci = f"{agg.confidence:.0%} CI"
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=_list(agg.low),
                    mode="lines",
                    line={"width": 0, "color": item.color},
                    legendgroup=item.version,
                    showlegend=False,
                    name=f"{version} {ci} low",
                    hovertemplate=f"{ci} low %{{y:{HOVER_FORMAT}}}<extra>{version}</extra>",
                )
            )
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=_list(agg.high),
                    mode="lines",
                    line={"width": 0, "color": item.color},
                    fill="tonexty",
                    fillcolor=rgba(item.color, BAND_ALPHA),
                    legendgroup=item.version,
                    name=f"{version} {ci}",
                    hovertemplate=f"{ci} high %{{y:{HOVER_FORMAT}}}<extra>{version}</extra>",
                )
            )
            label = f"{version} {stat} ({n_label(agg.n_runs, item.n_total)})"
        else:
            label = f"{version} ({n_label(agg.n_runs, item.n_total)}: no band)"
        fig.add_trace(
            go.Scatter(
                x=x,
                y=_list(agg.center),
                mode="lines+markers" if markers else "lines",
                name=label,
                legendgroup=item.version,
                line={"color": item.color, "width": 2.6},
                marker={"size": 6},
                hovertemplate=f"{stat} %{{y:{HOVER_FORMAT}}}<extra>{version}</extra>",
            )
        )
    return _layout(
        fig,
        title=title,
        note=note,
        x_title=x_title,
        y_title=y_title,
        height=height,
        x_range=x_range,
        y_range=y_range,
    )


def padded_range(
    arrays: Iterable[npt.ArrayLike | None], pad: float = 0.04, floor_zero: bool = False
) -> tuple[float, float] | None:
    """[min, max] of every finite value of `arrays`, widened by `pad` of the span each side.

    None when there is no finite value. `floor_zero` starts at 0 when all values are >= 0
    (env steps).
    """
    lo, hi = np.inf, -np.inf
    for values in arrays:
        if values is None:
            continue
        array = np.asarray(values, dtype=np.float64)
        finite = array[np.isfinite(array)]
        if len(finite):
            lo, hi = min(lo, float(finite.min())), max(hi, float(finite.max()))
    if not np.isfinite(lo) or not np.isfinite(hi):
        return None
    span = hi - lo if hi > lo else max(abs(hi), 1.0)
    low = 0.0 if floor_zero and lo >= 0 else lo - pad * span
    return (low, hi + pad * span)
