"""What a restarted dashboard does before a browser asks for its first page.

A Streamlit server runs the page script only when a session connects, so the first page used
to pay for importing its libraries (pandas, pyarrow, plotly, numpy and the views: 0.6-0.9 s
here) and for the runs root's first scan (the index's root file, a walk and a stat of every
run). The server (dashboard/app.py) calls `start` when it starts; the work runs in a thread
while the browser loads the page's own code, and the page calls `wait` first thing, so that
nothing is done twice and no module is imported by two threads at once.

The work comes in two parts. First what the run table needs (numpy, pyarrow, pandas, the
browser view, the root's listing): the page a restarted dashboard is most often opened on
waits only for that (`wait(table_only=True)`). Then the rest (plotly's figure classes, the
other views, pandas' Styler), at once, unless a run table is waiting by then: so that it
does not take the interpreter from that page, it starts once the table is drawn
(`table_drawn`), when another page asks for it (`wait()`), or `REST_AFTER` seconds after
the first part, whichever comes first.

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
_table = threading.Event()
"""The run table's part is over (done or failed)."""
_table_waiting = threading.Event()
"""A run table waits for the first part (the rest then waits for it to be drawn)."""
_rest = threading.Event()
"""The rest may start (the run table was drawn, or a page asked for it)."""
_done = threading.Event()
"""All of it is over."""

PAGE_ICON = "📈"
"""The page's icon (dashboard/page.py). An emoji: Streamlit draws it into a data: URL. A
material icon would be fetched from fonts.gstatic.com by every browser opening the page."""
REST_AFTER = 3.0
"""Seconds after the run table's part when the rest starts even if the waiting table was not
drawn (an error, a rerun) and no other page asked for it."""


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


def wait(*, table_only: bool = False) -> None:
    """Return once the warm-up is over, or with `table_only` once its run table's part is (at
    once when none was started)."""
    with _lock:
        started = _thread is not None
    if not started:
        return
    if table_only:
        _table_waiting.set()
        _table.wait()
        return
    _rest.set()
    _done.wait()


def table_drawn() -> None:
    """The run table was sent to the browser: the rest of the warm-up may start."""
    _rest.set()


def _run(argv: list[str], environ: dict[str, str]) -> None:
    started = time.perf_counter()
    try:
        try:
            said = warm_table(argv, environ)
        finally:
            _table.set()
        if _table_waiting.is_set():
            _rest.wait(REST_AFTER)
        warm_views()
    except Exception:  # the page does the work itself and reports what is wrong
        _LOGGER.warning("runlog warm-up failed; the first page does its work", exc_info=True)
    else:
        print(f"  runlog: {said} ({time.perf_counter() - started:.1f} s)", file=sys.stderr)
    finally:
        _done.set()


def warm_views() -> None:
    """Import what the other pages draw with: plotly's figure classes, the views, the
    tables' Styler (pandas' jinja2 part, used by the compare view)."""
    import pandas.io.formats.style  # noqa: F401

    from dashboard import compare_view, prune_view, run_view, sweep_view  # noqa: F401

    _touch_plotly()


def warm_table(argv: Sequence[str], environ: Mapping[str, str]) -> str:
    """Import what the run table draws with, start a remote root's sync, and list a local
    root; say what was done, in a few words."""
    # The page's own imports first: it makes them before it waits, and finds them done.
    from dashboard import urlstate  # noqa: F401
    from dashboard.settings import parse_settings, root_problem

    _touch_streamlit()
    import numpy  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401

    from dashboard import browser  # noqa: F401

    ctx = parse_settings(argv, environ).context()  # a remote root starts syncing here
    if ctx.remote is not None:
        return f"syncing {ctx.remote.url}"
    if ctx.remote_problem is not None or root_problem(ctx.root) is not None:
        return "ready; the page says what is wrong with the runs root"
    provider = ctx.provider()
    provider.refresh()
    return f"ready, {len(provider.runs()):,} runs listed under {ctx.root}"


def _touch_streamlit() -> None:
    """What Streamlit does once per process on the first page, done here or skipped:

    - the page icon is an emoji, and checking one imports and compiles Streamlit's table of
      every emoji (60-90 ms of the first page's script);
    - the first element checks whether the script runs outside `streamlit run` (to print a
      warning) with `inspect.stack()`, which resolves the real path of every loaded module's
      file: half the first page's script once pandas, pyarrow and plotly are loaded. This
      module runs only under the server (dashboard/app.py starts it), where that warning is
      never printed, so the check is marked done. The flag is Streamlit's own, private: if a
      release renames it, this does nothing and the check runs as before.

    Both measured with py-spy on a restarted server's first page."""
    import streamlit.delta_generator
    from streamlit.string_util import is_emoji

    is_emoji(PAGE_ICON)
    if hasattr(streamlit.delta_generator, "_use_warning_has_been_displayed"):
        streamlit.delta_generator._use_warning_has_been_displayed = True


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
