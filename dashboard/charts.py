"""Plotly figure builders: already-downsampled data in, figure out. No I/O, no Streamlit.

Every trace is plain SVG `Scatter` (not WebGL `Scattergl`): traces are capped at a few
thousand points server-side, and a page of WebGL charts would exhaust the browser's WebGL
contexts and render in software in headless browsers. Each figure says "n of m points"
in its subtitle when the data was thinned. Labels that may come from disk (extras keys,
statuses) go through dashboard.text.plot_text: plotly reads tags such as `<a href>` in them.

Every view's charts pass through the same two functions on their way to the page:
`apply_style(fig, style)` draws a figure in the "paper" style (white, light grid, 8-10 pt
type at 3.5 in wide, Okabe-Ito colours, legend inside) or leaves it as it is, and
`chart_config(filename, fmt=, style=)` sets the camera icon's export: PNG or SVG, named
"<slug(filename)>.png" / ".svg", sized 3.5 in at 300 dpi in the paper style.
"""

from __future__ import annotations

import base64
import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.text import HOVER_FORMAT, HOVER_INT_FORMAT, format_number, plot_text
from runlog.analysis.curves import DownsampledMany
from runlog.analysis.evals import EvalBlock

# One colour per meaning, everywhere on the page.
TRAIN_COLOR = "#2563EB"
EVAL_COLOR = "#D97706"
BEST_COLOR = "#DC2626"
LENGTH_COLOR = "#7C3AED"
EXTRAS_COLORS = (
    "#059669",
    "#DB2777",
    "#0891B2",
    "#4F46E5",
    "#65A30D",
    "#EA580C",
    "#0284C7",
    "#9333EA",
)
STATUS_COLORS = {"Terminated": "#059669", "Truncated": "#D97706", "Continuing": "#9CA3AF"}
# Tableau 10, the compare view's one colour per version (or config group): distinguishable,
# colour-blind friendlier than plotly's default cycle.
VERSION_COLORS = (
    "#4E79A7",
    "#F28E2B",
    "#59A14F",
    "#E15759",
    "#B07AA1",
    "#76B7B2",
    "#EDC948",
    "#FF9DA7",
    "#9C755F",
    "#BAB0AC",
)
RAW_OPACITY = 0.3
CHART_HEIGHT = 340
SMALL_CHART_HEIGHT = 260

X_TITLES = {"steps": "env steps", "episodes": "episode"}


def _rgba(hex_color: str, alpha: float) -> str:
    value = hex_color.lstrip("#")
    r, g, b = (int(value[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def points_note(shown: int, total: int) -> str:
    """The note "2,000 of 1,000,000 points" when thinned, "" when every point is drawn."""
    return f"{format_number(shown)} of {format_number(total)} points" if shown < total else ""


def curve_layout(title: str, note: str, x_title: str, y_title: str, height: int) -> dict[str, Any]:
    """The layout of a curve chart, for `go.Figure(layout=...)`: validated once there, where
    `update_layout` + `update_xaxes` + `update_yaxes` cost several times as much."""
    # Titles may hold extras keys read from the logs: shown verbatim (plot_text).
    title_spec: dict[str, Any] = {"text": plot_text(title), "x": 0.0, "xanchor": "left"}
    if note:
        title_spec["subtitle"] = {"text": plot_text(note)}
    return {
        "title": title_spec,
        "height": height,
        "margin": {"l": 10, "r": 10, "t": 64 if note else 44, "b": 10},
        "hovermode": "x unified",
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1.0},
        "uirevision": "keep",  # live refreshes keep the user's zoom and hidden traces
        "xaxis": {
            "title": {"text": plot_text(x_title)},
            "showgrid": True,
            "rangemode": "tozero",
            "hoverformat": HOVER_INT_FORMAT,  # env steps and episodes are whole numbers
        },
        "yaxis": {"title": {"text": plot_text(y_title)}, "showgrid": True},
    }


_INT32 = np.iinfo(np.int32)


def _array(values: Any) -> dict[str, str]:
    """A trace's values as plotly.js's base64 typed array (`{"dtype": "f8", "bdata": ...}`),
    made once here: a Python list would be checked and copied element by element, and a raw
    numpy array would be converted again each time Streamlit serialises the figure (every
    rerun of a live page). Non-finite floats become NaN, which plotly.js draws as a gap (as
    it does null); integers (env steps) go as int32 when they fit, float64 otherwise, as
    plotly.js has no 64-bit integers."""
    array = np.asarray(values)
    if array.dtype.kind == "f":
        array = np.where(np.isfinite(array), array, np.nan).astype("<f8")
    elif array.dtype.kind in "iub":
        fits = len(array) == 0 or (
            int(array.min()) >= _INT32.min and int(array.max()) <= _INT32.max
        )
        array = array.astype("<i4" if fits else "<f8")
    else:
        array = array.astype("<f8")
    return {"dtype": array.dtype.str[1:], "bdata": base64.b64encode(array.tobytes()).decode()}


def _list(values: Any) -> list[Any]:
    """JSON-friendly list (for customdata, read per point in hover text): NaN becomes None."""
    array = np.asarray(values)
    if array.dtype.kind == "f":
        cells = array.astype(object)
        cells[~np.isfinite(array)] = None
        return cells.tolist()  # type: ignore[no-any-return]
    return array.tolist()  # type: ignore[no-any-return]


class ChartFigure(go.Figure):  # type: ignore[misc]
    """A chart as the plain figure dict this module builds (`to_dict()`), in a plotly Figure
    for `st.plotly_chart`, which asks a Figure for its dict on every rerun of a live page.

    Plotly would check every property of every trace as it is set and deep-copy the figure
    with its default template (~7 KB a chart, which Streamlit's theme replaces in the browser
    anyway) each time it is asked: a few ms a chart, on a page of ten charts that reruns as a
    run trains. These traces are plain dicts of known-good values whose arrays are already
    plotly.js typed arrays, so the dict is handed out as built. The Figure part is never
    initialised: use the chart through `to_dict()` only."""

    def __init__(self, data: Sequence[dict[str, Any]], layout: dict[str, Any]) -> None:
        # Not even an empty plotly Figure is initialised (~0.5 ms a chart, each time a live
        # page's charts are rebuilt): a Figure is what st.plotly_chart wants, and all it asks
        # of one is `to_dict()`.
        self._plain = {"data": list(data), "layout": dict(layout)}

    def to_dict(self) -> dict[str, Any]:
        return self._plain


def _scatter(**props: Any) -> dict[str, Any]:
    return {"type": "scatter", **props}


def curve_figure(
    data: DownsampledMany,
    *,
    title: str,
    x_title: str,
    y_title: str,
    color: str,
    raw: str = "raw",
    smoothed: str | None = "smoothed",
    height: int = CHART_HEIGHT,
    raw_whole: bool = False,
) -> go.Figure:
    """Raw series (faded) and, when `smoothed` names a series of `data`, its smoothed twin.
    `raw_whole`: the raw series counts something (episode length), so its hover shows it
    whole, like every int (dashboard.text.format_number)."""
    note = points_note(data.shown, data.total)
    has_smooth = smoothed is not None and smoothed in data.ys
    mode = "lines" if data.shown > 1 else "markers"
    x = _array(data.x)
    traces = [
        _scatter(
            x=x,
            y=_array(data.ys[raw]),
            mode=mode,
            name=raw,
            line={"color": color, "width": 1},
            opacity=RAW_OPACITY if has_smooth else 1.0,
            hovertemplate=f"%{{y:{HOVER_INT_FORMAT if raw_whole else HOVER_FORMAT}}}",
        )
    ]
    if has_smooth and smoothed is not None:
        traces.append(
            _scatter(
                x=x,
                y=_array(data.ys[smoothed]),
                mode=mode,
                name=smoothed,
                line={"color": color, "width": 2.2},
                hovertemplate=f"%{{y:{HOVER_FORMAT}}}",
            )
        )
    return ChartFigure(traces, curve_layout(title, note, x_title, y_title, height))


def eval_figure(
    blocks: pd.DataFrame,
    *,
    best: EvalBlock | None,
    band: str,
    total_blocks: int,
    train: DownsampledMany | None = None,
    train_series: str = "smoothed",
    height: int = CHART_HEIGHT,
) -> go.Figure:
    """Eval mean per block with its spread ("minmax" or "std" band) and best.mpk marked.

    `blocks` has columns step, n, mean, std, min, max, median (maybe already thinned;
    `total_blocks` is the count before thinning). `train`, when given, draws the smoothed
    training reward faintly behind for context.
    """
    note = points_note(len(blocks), total_blocks)
    steps = _array(blocks["step"])
    if band == "std":
        upper = blocks["mean"] + blocks["std"].fillna(0.0)
        lower = blocks["mean"] - blocks["std"].fillna(0.0)
        band_name = "mean ± std"
    else:
        upper, lower = blocks["max"], blocks["min"]
        band_name = "min-max"
    traces: list[dict[str, Any]] = []
    if train is not None and train_series in train.ys:
        traces.append(
            _scatter(
                x=_array(train.x),
                y=_array(train.ys[train_series]),
                mode="lines",
                name="train (smoothed)",
                line={"color": TRAIN_COLOR, "width": 1.2, "dash": "dot"},
                opacity=0.45,
                hoverinfo="skip",
            )
        )
    traces.append(
        _scatter(
            x=steps,
            y=_array(upper),
            mode="lines",
            line={"width": 0, "color": EVAL_COLOR},
            showlegend=False,
            hoverinfo="skip",
            name=f"{band_name} upper",
        )
    )
    traces.append(
        _scatter(
            x=steps,
            y=_array(lower),
            mode="lines",
            line={"width": 0, "color": EVAL_COLOR},
            fill="tonexty",
            fillcolor=_rgba(EVAL_COLOR, 0.18),
            name=band_name,
            hoverinfo="skip",
        )
    )
    custom = np.column_stack(
        [
            blocks["n"].to_numpy(),
            blocks["std"].to_numpy(dtype=float),
            blocks["min"].to_numpy(dtype=float),
            blocks["max"].to_numpy(dtype=float),
            blocks["median"].to_numpy(dtype=float),
        ]
    )
    traces.append(
        _scatter(
            x=steps,
            y=_array(blocks["mean"]),
            mode="lines+markers" if len(blocks) <= 200 else "lines",
            name="eval mean",
            line={"color": EVAL_COLOR, "width": 2.2},
            marker={"size": 6},
            customdata=_list(custom),
            hovertemplate=(
                f"mean %{{y:{HOVER_FORMAT}}} (n=%{{customdata[0]}})"
                f"<br>std %{{customdata[1]:{HOVER_FORMAT}}}"
                f" · min %{{customdata[2]:{HOVER_FORMAT}}} · max %{{customdata[3]:{HOVER_FORMAT}}}"
                f" · median %{{customdata[4]:{HOVER_FORMAT}}}<extra>eval</extra>"
            ),
        )
    )
    if best is not None:
        traces.append(
            _scatter(
                x=[best.step],
                y=[best.mean],
                mode="markers",
                name="best.mpk",
                marker={
                    "symbol": "star",
                    "size": 18,
                    "color": BEST_COLOR,
                    "line": {"color": "white", "width": 1},
                },
                hovertemplate=(
                    f"best.mpk written here<br>step {format_number(best.step)}"
                    f"<br>mean {format_number(best.mean)} (n={best.n})<extra></extra>"
                ),
            )
        )
    layout = curve_layout("Eval reward per block", note, "env steps", "reward", height)
    return ChartFigure(traces, layout)


def status_figure(counts: Mapping[str, int], *, height: int = SMALL_CHART_HEIGHT) -> go.Figure:
    """Share of Terminated / Truncated / Continuing episodes as one 100% bar."""
    total = sum(counts.values()) or 1
    traces = []
    for status, count in counts.items():
        label = plot_text(status)  # any status string the log holds
        traces.append(
            {
                "type": "bar",
                "y": ["episodes"],
                "x": [100.0 * count / total],
                "orientation": "h",
                "name": f"{label} ({format_number(count)})",
                "marker": {"color": STATUS_COLORS.get(status, "#6B7280")},
                "text": [f"{100.0 * count / total:.1f}%"],
                "textposition": "inside",
                "hovertemplate": (
                    f"{label}: {format_number(count)} episodes (%{{x:.1f}}%)<extra></extra>"
                ),
            }
        )
    layout = {
        "barmode": "stack",
        "title": {"text": "Episode endings", "x": 0.0, "xanchor": "left"},
        "height": height,
        "margin": {"l": 10, "r": 10, "t": 44, "b": 10},
        "legend": {
            "orientation": "h",
            "yanchor": "top",
            "y": -0.3,
            "x": 0.0,
            "traceorder": "normal",
        },
        "xaxis": {"range": [0, 100], "ticksuffix": "%", "showgrid": False},
        "yaxis": {"showticklabels": False},
    }
    return ChartFigure(traces, layout)


def extras_color(index: int) -> str:
    return EXTRAS_COLORS[index % len(EXTRAS_COLORS)]


def pretty_key(key: str) -> str:
    """`extras.loss_mean` -> `loss_mean`."""
    return key.split(".", 1)[1] if key.startswith("extras.") else key


def slug(text: str, limit: int = 80) -> str:
    """A safe file-name stem: "cartpole/v1,cartpole/v2" -> "cartpole-v1_cartpole-v2"."""
    clean = re.sub(r"[^A-Za-z0-9._-]+", "-", text.replace(",", "_")).strip("-_.")
    return (clean or "runlog")[:limit].rstrip("-_.")


def chart_config(
    filename: str | None = None, *, fmt: str = "png", style: str = "default"
) -> dict[str, Any]:
    """Plotly config for st.plotly_chart: no logo; the camera icon saves the chart as `fmt`
    ("png" or "svg", drawn in the browser by plotly.js), as `<slug(filename)>.<fmt>` (e.g.
    "cartpole-v1-20260321_100007-reward.svg") when given. The default style exports what
    is on screen at 2x; the paper style a PAPER_WIDTH_IN x PAPER_HEIGHT_IN figure at
    PAPER_DPI, laid out in points (PAPER_EXPORT), so its 8-10 px type prints at 8-10 pt."""
    image: dict[str, Any] = {"format": fmt if fmt in FORMATS else "png"}
    image |= PAPER_EXPORT if style == PAPER else {"scale": 2}
    if filename is not None:
        image["filename"] = slug(filename, limit=120)
    return {"displaylogo": False, "toImageButtonOptions": image}


# ----- the paper style ------------------------------------------------------------------------

DEFAULT_STYLE = "default"
PAPER = "paper"
FORMATS = ("png", "svg")
"""What plotly.js exports in the browser and the camera icon may save here."""

OKABE_ITO = (
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#009E73",  # bluish green
    "#F0E442",  # yellow
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#000000",  # black
)
"""Okabe & Ito's colour-blind-safe palette (https://jfly.uni-koeln.de/color/)."""
PAPER_CYCLE = tuple(OKABE_ITO[i] for i in (4, 0, 2, 5, 6, 1, 7, 3))
"""Okabe-Ito in the order runs and versions take it: yellow, faint on white, comes last."""
PAPER_COLORS: dict[str, str] = {
    TRAIN_COLOR: "#0072B2",
    EVAL_COLOR: "#E69F00",
    BEST_COLOR: "#D55E00",
    LENGTH_COLOR: "#CC79A7",
    **{color: PAPER_CYCLE[i % len(PAPER_CYCLE)] for i, color in enumerate(EXTRAS_COLORS)},
    STATUS_COLORS["Terminated"]: "#009E73",
    STATUS_COLORS["Truncated"]: "#E69F00",
    STATUS_COLORS["Continuing"]: "#56B4E9",
    **{color: PAPER_CYCLE[i % len(PAPER_CYCLE)] for i, color in enumerate(VERSION_COLORS)},
}
"""Each colour the default style gives a meaning (a series, a version) -> its Okabe-Ito twin."""

PAPER_WIDTH_IN, PAPER_HEIGHT_IN, PAPER_DPI = 3.5, 2.5, 300
_PT_PER_IN = 72
PAPER_EXPORT: dict[str, Any] = {
    "width": round(PAPER_WIDTH_IN * _PT_PER_IN),
    "height": round(PAPER_HEIGHT_IN * _PT_PER_IN),
    "scale": PAPER_DPI / _PT_PER_IN,
}
"""The paper export in plotly's layout pixels, one per point: 252 x 180 at 300/72 x gives a
1050 x 750 PNG (3.5 x 2.5 in at 300 dpi), and an SVG whose fonts are as many pt as px."""
PAPER_FONT = {"family": "Arial, Helvetica, sans-serif", "size": 9, "color": "#000000"}
PAPER_TITLE_SIZE = 10
PAPER_SMALL_SIZE = 8
"""Type in the paper style, in px = pt at 3.5 in wide: 9 for labels, 10 for titles, 8 for
tick labels, subtitles and legends."""
PAPER_LINE_SCALE = 0.6
"""Line widths and marker sizes in the paper style, against the screen's: a 2.2 px smoothed
line prints at 1.3 pt."""
PAPER_GRID = "#E5E5E5"
_PAPER_AXIS: dict[str, Any] = {
    "automargin": True,  # room for tick labels and titles (Streamlit's theme sets it too)
    "showgrid": True,
    "gridcolor": PAPER_GRID,
    "gridwidth": 0.5,
    "zeroline": False,
    "showline": True,
    "linecolor": "#000000",
    "linewidth": 0.8,
    "ticks": "outside",
    "ticklen": 3,
    "tickcolor": "#000000",
    "tickfont": {"size": PAPER_SMALL_SIZE},
}
_PAPER_LEGEND: dict[str, Any] = {
    # Inside the plot area, top left: where learning curves (reward, length, eval, their
    # aggregates), which start low, leave room.
    "orientation": "v",
    "x": 0.01,
    "y": 0.99,
    "xanchor": "left",
    "yanchor": "top",
    "bgcolor": "rgba(255,255,255,0.85)",
    "bordercolor": "#BBBBBB",
    "borderwidth": 0.5,
    "tracegroupgap": 0,
    "font": {"size": PAPER_SMALL_SIZE},
}
_RGBA = re.compile(r"rgba\((\d+),\s*(\d+),\s*(\d+),\s*([0-9.]+)\)")


def apply_style(fig: go.Figure, style: str) -> go.Figure:
    """`fig` drawn in `style`: the default style returns it as it is; the paper style returns
    a new figure (`fig` is left alone: pages memoise theirs) with a white background, a light
    grid, 8-10 pt type at 3.5 in wide, each colour of PAPER_COLORS replaced by its Okabe-Ito
    twin, traces without a colour in PAPER_CYCLE's order, and the legend inside the plot.

    Draw it with `st.plotly_chart(..., theme=None)`: Streamlit's theme would restyle it."""
    if style != PAPER:
        return fig
    spec = fig.to_dict()
    data = [_paper_trace(trace, PAPER_COLORS) for trace in spec.get("data", [])]
    return ChartFigure(data, _paper_layout(spec.get("layout", {})))


def _paper_color(value: Any, colors: Mapping[str, str]) -> Any:
    if not isinstance(value, str):
        return value
    if value.upper() in colors:
        return colors[value.upper()]
    match = _RGBA.fullmatch(value.replace(" ", ""))
    if match:  # a band's translucent fill: the same alpha over the twin colour
        r, g, b, alpha = match.groups()
        twin = colors.get(f"#{int(r):02X}{int(g):02X}{int(b):02X}")
        if twin is not None:
            return _rgba(twin, float(alpha))
    return value


def _paper_trace(trace: dict[str, Any], colors: Mapping[str, str]) -> dict[str, Any]:
    out = dict(trace)
    for part, size in (("line", "width"), ("marker", "size")):
        if not isinstance(out.get(part), dict):
            continue
        out[part] = dict(out[part])
        if "color" in out[part]:
            out[part]["color"] = _paper_color(out[part]["color"], colors)
        if isinstance(out[part].get(size), int | float):
            out[part][size] = round(out[part][size] * PAPER_LINE_SCALE, 2)
    if "fillcolor" in out:
        out["fillcolor"] = _paper_color(out["fillcolor"], colors)
    return out


def _paper_layout(layout: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(layout)
    out["template"] = {}  # nothing of Streamlit's or plotly's default look carries over
    out |= {
        "paper_bgcolor": "#FFFFFF",
        "plot_bgcolor": "#FFFFFF",
        "font": dict(PAPER_FONT),
        "colorway": list(PAPER_CYCLE),
        "legend": dict(_PAPER_LEGEND),
    }
    title = out.get("title")
    if isinstance(title, dict):
        title["font"] = {"size": PAPER_TITLE_SIZE}
        if isinstance(title.get("subtitle"), dict):
            title["subtitle"]["font"] = {"size": PAPER_SMALL_SIZE}
    if isinstance(title, dict) and title.get("text"):  # room for the smaller title only
        top = 40 if isinstance(title.get("subtitle"), dict) else 28
        out["margin"] = {**out.get("margin", {}), "t": top}
    for name in ("xaxis", "yaxis"):
        axis = out.get(name)
        axis = dict(axis) if isinstance(axis, dict) else {}
        axis_title = axis.get("title")
        if isinstance(axis_title, str):
            axis_title = {"text": axis_title}
        styled = {**_PAPER_AXIS, **axis}  # what a chart sets (range, grid or not) stays
        if axis.get("showticklabels") is False:
            styled["ticks"] = ""
        styled["tickfont"] = {"size": PAPER_SMALL_SIZE}
        if isinstance(axis_title, dict):
            styled["title"] = {**axis_title, "font": {"size": PAPER_FONT["size"]}}
        out[name] = styled
    return out


def order_extras(keys: Sequence[str]) -> list[str]:
    """Extras keys in a stable order: the usual RL statistics first, then alphabetical."""
    known = (
        "epsilon",
        "loss_mean",
        "loss_std",
        "loss_max",
        "policy_loss",
        "value_loss",
        "entropy",
        "approx_kl",
    )
    rank = {name: i for i, name in enumerate(known)}
    return sorted(keys, key=lambda k: (rank.get(pretty_key(k), len(known)), pretty_key(k)))
