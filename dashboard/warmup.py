"""What a restarted dashboard does before a browser asks for its first page.

A Streamlit server runs the page script only when a session connects, so the first page used
to pay for importing its libraries (pandas, pyarrow, plotly, numpy and the views: 0.6-0.9 s
here) and for the runs root's first scan (the index's root file, a walk and a stat of every
run). The server (dashboard/app.py) calls `start` when it starts; the work runs in a thread
while the browser loads the page's own code, and the page calls `wait` first thing, so that
nothing is done twice and no module is imported by two threads at once.

Nothing here may stop the dashboard: a root that does not exist, bad settings or a failed
import leave the work to the page, which reports them as it always has. Under AppTest (no
server) `start` is never called and `wait` returns at once.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Mapping, Sequence

_LOGGER = logging.getLogger(__name__)
_lock = threading.Lock()
_thread: threading.Thread | None = None
_done = threading.Event()


def start(argv: Sequence[str], environ: Mapping[str, str]) -> None:
    """Start warming up for the page's arguments (`argv` as the page gets them, without the
    script); a second call does nothing."""
    global _thread
    with _lock:
        if _thread is not None:
            return
        _thread = threading.Thread(
            target=_run, args=(list(argv), dict(environ)), name="runlog-warm-up", daemon=True
        )
        _thread.start()


def wait() -> None:
    """Return once the warm-up is over (at once when none was started)."""
    with _lock:
        started = _thread is not None
    if started:
        _done.wait()


def _run(argv: list[str], environ: dict[str, str]) -> None:
    started = time.perf_counter()
    try:
        said = warm(argv, environ)
    except Exception:  # the page does the work itself and reports what is wrong
        _LOGGER.warning("runlog warm-up failed; the first page does its work", exc_info=True)
    else:
        print(f"  runlog: {said} ({time.perf_counter() - started:.1f} s)", file=sys.stderr)
    finally:
        _done.set()


def warm(argv: Sequence[str], environ: Mapping[str, str]) -> str:
    """Import what the pages draw with, start a remote root's sync, and list a local root;
    say what was done, in a few words."""
    import numpy  # noqa: F401
    import pandas.io.formats.style  # noqa: F401  (the tables' Styler, and jinja2)
    import pyarrow  # noqa: F401

    from dashboard import browser, compare_view, prune_view, run_view, sweep_view  # noqa: F401
    from dashboard.settings import parse_settings, root_problem

    _touch_plotly()

    ctx = parse_settings(argv, environ).context()  # a remote root starts syncing here
    if ctx.remote is not None:
        return f"syncing {ctx.remote.url}"
    if ctx.remote_problem is not None or root_problem(ctx.root) is not None:
        return "ready; the page says what is wrong with the runs root"
    provider = ctx.provider()
    provider.refresh()
    return f"ready, {len(provider.runs()):,} runs listed under {ctx.root}"


def _touch_plotly() -> None:
    """Build and serialise one figure with the kinds of traces and layout the views use:
    plotly imports each trace's and layout part's class on first use (29 modules, a few
    tenths of a second, measured on the sweep, run and compare views' first draw)."""
    import plotly.graph_objects as go

    figure = go.Figure(
        [
            go.Scatter(x=[0], y=[0], line={"width": 1}, error_y={"array": [0]}),
            go.Parcoords(dimensions=[{"values": [0]}], line={"color": [0]}),
        ]
    )
    figure.update_layout(
        title={"text": "", "subtitle": {"text": ""}, "font": {"size": 10}},
        xaxis={"title": {"text": ""}},
        yaxis={"title": {"text": ""}},
        legend={"x": 0},
        margin={"t": 0},
    )
    figure.to_json()
