"""How a chart reaches the page, in the run, compare and sweep views alike.

    settings()    the sidebar's "Figures" controls: paper style (?style=paper) and the camera
                  icon's export format (?fig=svg), seeded from and kept in the URL
    plot(...)     the one st.plotly_chart call of those views: the figure in the chosen style
                  (dashboard.charts.apply_style), its export named and sized by chart_config;
                  or, when the page holds its charts back (FigureSettings.held), their place

Exports are drawn by plotly.js in the browser (PNG or SVG), so the server needs nothing more.
A config can only carry JSON (no JavaScript button handlers), hence one format at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from dashboard import charts, urlstate

HELD_HEIGHT = 450
"""The place kept for a held chart that sets no height (plotly's default)."""


@dataclass(frozen=True)
class FigureSettings:
    """How this page draws and exports its charts."""

    style: str = charts.DEFAULT_STYLE
    """charts.DEFAULT_STYLE or charts.PAPER."""
    fmt: str = urlstate.DEFAULT_FIGURE_FORMAT
    """What the camera icon saves: "png" or "svg"."""
    held: bool = False
    """Charts are held back this run: `plot` keeps each one's place (its height, a note) and
    draws nothing (the sweep view: until the browser has painted its table)."""


def settings() -> FigureSettings:
    """Draw the sidebar's figure controls (from the URL, else this session's last choice) and
    return their values. Call once per page run, before the first `plot`."""
    s_key, s_sync = urlstate.url_bound(
        urlstate.STYLE, urlstate.parse_paper_style, False, urlstate.format_paper_style
    )
    f_key, f_sync = urlstate.url_bound(
        urlstate.FIGURE_FORMAT, urlstate.parse_figure_format, urlstate.DEFAULT_FIGURE_FORMAT
    )
    w, h = charts.PAPER_WIDTH_IN, charts.PAPER_HEIGHT_IN
    with st.sidebar:
        st.divider()
        st.markdown("**Figures**")
        st.toggle(
            "Paper style",
            key=s_key,
            help="White background, light grid, 8-10 pt type, colour-blind-safe colours "
            f"(Okabe-Ito), legend inside; the camera icon then saves a {w:g} x {h:g} in "
            f"figure at {charts.PAPER_DPI} dpi.",
        )
        st.segmented_control(
            "Export format",
            urlstate.FIGURE_FORMATS,
            key=f_key,
            format_func=lambda v: str(v).upper(),
            help="What each chart's camera icon (top right, on hover) downloads.",
        )
    paper = bool(s_sync())
    return FigureSettings(charts.PAPER if paper else charts.DEFAULT_STYLE, f_sync())


def plot(fig: Any, key: str, filename: str, figures: FigureSettings) -> None:
    """Draw `fig` in `figures.style`; its export is saved as `<slug(filename)>.<fmt>`."""
    if figures.held:
        height = fig.layout.height or HELD_HEIGHT
        st.container(height=height, border=False, key=f"held.{key}").caption("Drawing…")
        return
    paper = figures.style == charts.PAPER
    st.plotly_chart(
        charts.apply_style(fig, figures.style),
        key=key,
        config=charts.chart_config(filename, fmt=figures.fmt, style=figures.style),
        # Streamlit's theme would repaint the paper style (background, fonts, colours).
        theme=None if paper else "streamlit",
        width="stretch",
    )
