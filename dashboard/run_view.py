"""One run: headline figures, reward / eval / extras / length charts, checkpoints, config.

    header            name / version / run_id, where it lives; Compare (and Prune, unless
                      read-only: then no write control is drawn)
    [fragment]        headline figures, polled every POLL_INTERVAL while the page is open,
                      finished runs too (they may resume); a poll without a change costs
                      one cheap check (provider.changed). When something outside the charts
                      changed (state, checkpoints, problems, tags), it reruns the whole app
                      (at most every CHART_REFRESH s); so does any change of a finished run
    view settings     x axis, smoothing, eval band: in the URL (?x=&smooth=&band=)
    [fragment]        the charts. While the run is live or stalled they redraw by themselves
                      every CHART_REFRESH s, reading only the new lines: a live run's update
                      costs the charts, not the whole page (sidebar, notes, config...)
    charts            every trace from the provider's `series`: smoothed over every episode,
                      thinned to <= MAX_POINTS, extended (not redone) as a live run grows;
                      PNG or SVG exports named "<name>-<version>-<run_id>-<chart>.png" in the
                      sidebar's figure style (dashboard.figures); under each curve a CSV of
                      every episode (raw and smoothed, not thinned), built only when clicked
    checkpoints, config, metadata

All data comes from the one data provider (runlog.provider). The URL's run path is
untrusted: it is checked against the root (provider.run_path) before anything is read.
Text from the URL or the disk reaches markdown only through dashboard.text.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import streamlit as st

from dashboard import charts, figures, notes_view, urlstate
from dashboard.context import CHART_REFRESH, POLL_INTERVAL, AppContext
from dashboard.data import (
    MAX_POINTS,
    bad_lines_message,
    curve_table,
    human_age,
    human_size,
    human_time,
    memo,
    status_counts,
    thin_blocks,
)
from dashboard.text import NO_VALUE, format_number, md_code, md_name
from runlog.analysis.configs import flatten_config
from runlog.analysis.evals import EvalBlock
from runlog.errors import OutsideRootError
from runlog.format.layout import EVAL_LOG, TRAIN_LOG
from runlog.format.rundirs import RUN_DEPTH, depth_of, run_rel
from runlog.provider import LogView, RunProvider
from runlog.read.activity import RunState
from runlog.read.catalog import RunSummary

_SEEN_KEY = "run.seen"
_RENDERED_KEY = "run.rendered"
_CHARTS_DRAWN_KEY = "run.charts.drawn"
CHARTS_FRAGMENT = "run.charts"
"""Key of the charts' fragment (benchmarks/bench_dashboard.py reruns it as a browser would)."""
_SPARK_POINTS = 120
_STATE_DELTA_COLORS: dict[RunState, Any] = {
    RunState.LIVE: "green",
    RunState.STALLED: "orange",
    RunState.FINISHED: "gray",
}


@dataclass(frozen=True)
class Headline:
    """A run's headline figures as of one read of its logs and summary."""

    rel: str
    written: float | None
    """Last write to the run's logs or metadata (epoch seconds)."""
    episodes: int
    steps: int
    last_reward: float | None
    best_reward: float | None
    spark: tuple[float, ...] | None
    """The last finite train rewards, for the sparkline (None: fewer than two)."""
    best: EvalBlock | None
    n_ckpt: int | None
    """Numbered checkpoints (None: the run is not in the catalog)."""


@dataclass(frozen=True)
class _Seen:
    """This session's latest read of the run, which the headline poll redraws without reading."""

    rel: str
    cursor: int
    """The watcher's sequence taken just before that read: later changes are after it."""
    stamp: tuple[object, ...]
    """(train version, eval version, summary): differs whenever the page would."""
    page: tuple[object, ...]
    """What the page draws outside its charts (`_page_stamp`): differs whenever that would."""
    headline: Headline


@dataclass(frozen=True)
class _Rendered:
    """What this session's last full run of the run view drew."""

    rel: str
    stamp: tuple[object, ...]
    page: tuple[object, ...]
    charts_follow: bool
    """The charts redraw by themselves (a live or stalled run): only `page` changes call for
    a full rerun."""
    at: float
    """time.monotonic() when it was drawn."""


def _back_button(key: str = "run.back") -> None:
    if st.button("All runs", icon=":material/arrow_back:", key=key, type="tertiary"):
        urlstate.navigate()


def render(ctx: AppContext, rel_from_url: str) -> None:
    """The run view for the URL's `run` param (anything; checked against the root here)."""
    provider = ctx.provider()
    try:
        run_dir = provider.run_path(rel_from_url)
    except OutsideRootError as exc:
        _back_button()
        st.error(
            f"Cannot open run {md_code(rel_from_url)}: it is not a path inside the runs root "
            f"{md_code(ctx.display_root)}. ({md_code(ctx.shown(str(exc)))})",
            icon=":material/block:",
        )
        return
    rel = run_rel(ctx.root, run_dir)
    if not run_dir.is_dir():
        _back_button()
        st.error(
            f"There is no run {md_code(rel_from_url)} under {md_code(ctx.display_root)} (it may "
            "have been moved or deleted). Pick one from the list of runs.",
            icon=":material/search_off:",
        )
        return
    if depth_of(rel) != RUN_DEPTH:
        _not_a_run(ctx, rel)
        return

    seen, summary, train, evals = _read(provider, rel)
    follow = summary is not None and summary.state is not RunState.FINISHED
    st.session_state[_SEEN_KEY] = seen
    st.session_state[_RENDERED_KEY] = _Rendered(
        rel, seen.stamp, seen.page, follow, time.monotonic()
    )

    st.set_page_config(page_title=f"{rel} · runlog")
    _header(ctx, rel, run_dir, summary)
    _headline_fragment(ctx, rel)
    notes_view.render(ctx, rel)
    _problems(ctx, summary, train, evals)
    view = _View(*_view_settings(), figures.settings())
    draw_charts = st.fragment(
        _live_charts, run_every=CHART_REFRESH if follow else None, key=CHARTS_FRAGMENT
    )
    draw_charts(ctx, rel, view, (train, evals, summary))
    _details(ctx, provider, run_dir, rel, summary)


@dataclass(frozen=True)
class _View:
    """How the charts are drawn: the page's settings (URL-bound widgets, drawn outside the
    charts' fragment)."""

    x: str
    smooth: float
    band: str
    figs: figures.FigureSettings


def _live_charts(
    ctx: AppContext,
    rel: str,
    view: _View,
    drawn: tuple[LogView, LogView, RunSummary | None],
) -> None:
    """The charts, as a fragment: in a full run they draw what `render` read (`drawn`); when
    they rerun by themselves (a live run), they read the logs' new lines first."""
    provider = ctx.provider()
    train, evals, summary = drawn
    if st.session_state.get(_CHARTS_DRAWN_KEY) is drawn:
        # The summary stays the page's: the charts use it only for its checkpoints, and a
        # change of those reruns the whole page (`_page_stamp`).
        train, evals = provider.log(rel, "train"), provider.log(rel, "eval")
    else:
        st.session_state[_CHARTS_DRAWN_KEY] = drawn
    _charts(provider, rel, train, evals, summary, view)


def _read(provider: RunProvider, rel: str) -> tuple[_Seen, RunSummary | None, LogView, LogView]:
    """Read the run now: its logs' new lines (shared by every session) and its summary."""
    cursor = provider.cursor()  # before reading: a write during the reads is seen later
    provider.refresh()
    train = provider.log(rel, "train")  # opens the run: its columns, its new lines
    evals = provider.log(rel, "eval")
    summary = provider.run(rel)
    headline = _headline_of(provider, rel, summary, train)
    page = _page_stamp(summary, headline.best, train, evals)
    return (
        _Seen(rel, cursor, (train.revision, evals.revision, summary), page, headline),
        summary,
        train,
        evals,
    )


def _page_stamp(
    summary: RunSummary | None, best: EvalBlock | None, train: LogView, evals: LogView
) -> tuple[object, ...]:
    """What the page draws outside its charts and headline, as far as a live run changes it:
    not the figures every episode moves (episodes, steps, rewards, bytes, metadata.json's
    counters and last_updated, rewritten after every episode), which the headline follows."""
    logs = (train.problem, evals.problem, train.bad_line_count, evals.bad_line_count)
    if summary is None:
        return (None, best, *logs)
    m = summary.metadata
    return (
        summary.state,
        summary.problem,
        summary.checkpoints,
        summary.tags,
        summary.note,
        None if m is None else (m.name, m.version, m.run_id, m.started_at),
        best,
        *logs,
    )


def _headline_of(
    provider: RunProvider, rel: str, summary: RunSummary | None, train: LogView
) -> Headline:
    stats = None if summary is None else summary.train
    spark = memo(("spark", rel, train.revision), lambda: provider.recent_rewards(rel))
    return Headline(
        rel=rel,
        written=None if summary is None else summary.last_write,
        episodes=train.rows,
        steps=0 if stats is None else stats.total_steps,
        last_reward=None if stats is None else stats.last_reward,
        best_reward=None if stats is None else stats.best_reward,
        spark=spark if len(spark) > 1 else None,
        best=provider.best_eval(rel),
        n_ckpt=len(summary.checkpoint_steps) if summary is not None else None,
    )


def _not_a_run(ctx: AppContext, rel: str) -> None:
    _back_button()
    where = "the runs root" if rel == "." else md_code(rel)
    st.warning(
        f"{where} is not a run directory (a run is `<name>/<version>/<run_id>`).",
        icon=":material/folder_open:",
    )
    prefix = "" if rel == "." else rel + "/"
    provider = ctx.provider()
    provider.refresh()
    inside = [s for s in provider.runs() if s.rel.startswith(prefix)]
    if inside:
        st.markdown("Runs under it:")
        for s in inside[:50]:
            if st.button(md_name(s.rel), key=f"run.pick.{s.rel}", type="tertiary"):
                urlstate.navigate(run=s.rel)


def _header(ctx: AppContext, rel: str, run_dir: Path, summary: RunSummary | None) -> None:
    name, version, run_id = rel.split("/")
    left, right = st.columns([3, 2], vertical_alignment="bottom")
    with left:
        _back_button()
        st.title(f"{md_name(name)} / {md_name(version)} · {md_name(run_id)}", anchor=False)
        started = summary.metadata.started_at if summary and summary.metadata else None
        where = md_code(ctx.shown(str(run_dir)))  # a remote run: its URL, not the mirror
        st.caption(where + (f" · started {md_code(started)}" if started else ""))
    # Buttons as wide as their labels, side by side while they fit ("Compa…" otherwise).
    buttons = right.container(horizontal=True, horizontal_alignment="right")
    with buttons:
        # Read-only: no write control at all (the prune page still previews from the sidebar).
        if st.button(
            "Compare version",
            icon=":material/compare_arrows:",
            key="run.compare",
            help=f"Compare every run of {md_name(f'{name}/{version}')}",
        ):
            urlstate.navigate(compare=f"{name}/{version}")
        if not ctx.read_only and st.button(
            "Prune",
            icon=":material/content_cut:",
            key="run.prune",
            help="Preview first; nothing is deleted without confirmation",
        ):
            urlstate.navigate(view=urlstate.PRUNE_VIEW, scope=rel)


@st.fragment(run_every=POLL_INTERVAL)
def _headline_fragment(ctx: AppContext, rel: str) -> None:
    """Headline figures, kept current; reruns the app when the rest of the page is out of date.

    A poll of a run that did not change (a finished one, say: it is still polled, since it
    may resume) costs one cheap check, `provider.changed` (a stat of the root and the
    watcher's in-memory counters), and redraws the figures this session already has. Only a change
    reads the run (its summary, and the new bytes of its logs).
    """
    provider = ctx.provider()
    seen: _Seen | None = st.session_state.get(_SEEN_KEY)
    cursor, changed = provider.changed(seen.cursor if seen else 0, (rel,))
    if seen is None or seen.rel != rel or changed:
        seen = _read(provider, rel)[0]
    else:
        seen = replace(seen, cursor=cursor)
    st.session_state[_SEEN_KEY] = seen
    _headline(ctx, seen.headline)

    rendered: _Rendered | None = st.session_state.get(_RENDERED_KEY)
    if (
        rendered is not None
        and rendered.rel == rel
        and (rendered.page != seen.page if rendered.charts_follow else rendered.stamp != seen.stamp)
        and time.monotonic() - rendered.at >= CHART_REFRESH
    ):
        st.rerun(scope="app")


def _headline(ctx: AppContext, h: Headline) -> None:
    """Seven cards in two rows (progress, then rewards), so that at 1280 px, sidebar open,
    each card is wide enough for its whole label and value (dashboard.page's CSS wraps rather
    than cuts anything that still does not fit)."""
    summary = ctx.provider().run(h.rel)
    state = summary.state if summary is not None else RunState.FINISHED
    best = h.best
    common: dict[str, Any] = {"border": True, "height": "stretch"}
    progress = st.columns(4)
    progress[0].metric(
        "State",
        state.value,
        delta=("wrote " + human_age(time.time() - h.written)) if h.written else "never written",
        delta_color=_STATE_DELTA_COLORS[state],
        delta_arrow="off",
        help=f"Live: wrote within {ctx.live_window:g} s; stalled: silent for longer but "
        f"within {ctx.stall_window:g} s; finished: silent for longer than that.",
        **common,
    )
    progress[1].metric(
        "Episodes", format_number(h.episodes), help="Training episodes logged", **common
    )
    progress[2].metric(
        "Env steps",
        format_number(h.steps),
        **common,
        help="The sum of episode lengths (the crate logs no step field)",
    )
    progress[3].metric(
        "Checkpoints",
        NO_VALUE if h.n_ckpt is None else format_number(h.n_ckpt),
        **common,
        help="Numbered step_<N>.mpk files (latest.mpk and best.mpk not counted)",
    )
    # The sparkline card spans two of the progress row's columns.
    rewards = st.columns([2, 1, 1])
    rewards[0].metric(
        "Last reward",
        format_number(h.last_reward),
        chart_data=list(h.spark) if h.spark else None,
        chart_type="line",
        help=f"Reward of the newest training episode (sparkline: the last {_SPARK_POINTS} "
        "episodes)",
        **common,
    )
    rewards[1].metric(
        "Best reward",
        format_number(h.best_reward),
        **common,
        help="Highest training episode reward",
    )
    rewards[2].metric(
        "Best eval",
        NO_VALUE if best is None else format_number(best.mean),
        delta=None if best is None else f"@ {format_number(best.step)} steps",
        delta_color="off",
        delta_arrow="off",
        help="Highest eval block mean, and the env step of that block: when best.mpk was "
        "written" + ("" if best is None else f" (n={best.n}, std {format_number(best.std)})"),
        **common,
    )


def _problems(
    ctx: AppContext, summary: RunSummary | None, train: LogView, evals: LogView
) -> None:
    if summary is not None and summary.problem:
        # Bad lines get their own, more precise message (with line numbers) below.
        parts = [ctx.shown(p) for p in summary.problem.split("; ") if "bad line" not in p]
        if parts:
            st.warning("; ".join(map(md_code, parts)), icon=":material/report:")
    if train.problem:
        st.info(md_code(ctx.shown(train.problem)), icon=":material/hourglass_empty:")
    if evals.problem:
        st.warning(md_code(ctx.shown(evals.problem)), icon=":material/report:")
    for kind, name, snap in (("train", TRAIN_LOG, train), ("eval", EVAL_LOG, evals)):
        message = bad_lines_message(kind, name, snap.bad_lines)
        if message:
            st.warning(message, icon=":material/warning:")


def _view_settings() -> tuple[str, float, str]:
    x_key, x_sync = urlstate.url_bound(urlstate.X_AXIS, urlstate.parse_x, urlstate.DEFAULT_X)
    s_key, s_sync = urlstate.url_bound(
        urlstate.SMOOTH, urlstate.parse_smooth, urlstate.DEFAULT_SMOOTH, urlstate.format_smooth
    )
    b_key, b_sync = urlstate.url_bound(urlstate.BAND, urlstate.parse_band, urlstate.DEFAULT_BAND)
    # Each segmented control gets room for both of its options at 1280 px.
    cols = st.columns([2, 3, 2, 1], vertical_alignment="bottom")
    cols[0].segmented_control(
        "X axis",
        urlstate.X_CHOICES,
        key=x_key,
        format_func=lambda v: {"steps": "env steps", "episodes": "episodes"}.get(v, str(v)),
    )
    cols[1].slider(
        "Smoothing (EMA weight)",
        0.0,
        urlstate.MAX_SMOOTH,
        step=0.01,
        key=s_key,
        help="TensorBoard-style debiased EMA over every episode; 0 = off. The raw curve "
        "stays visible, faded.",
    )
    cols[2].segmented_control(
        "Eval spread",
        urlstate.BAND_CHOICES,
        key=b_key,
        format_func=lambda v: {"minmax": "min to max", "std": "± std"}.get(v, str(v)),
    )
    return x_sync(), s_sync(), b_sync()


def _charts(
    provider: RunProvider,
    rel: str,
    train: LogView,
    evals: LogView,
    summary: RunSummary | None,
    view: _View,
) -> None:
    x, smooth, band, figs = view.x, view.smooth, view.band, view.figs
    x_title = charts.X_TITLES[x]
    tv = (rel, train.revision)

    left, right = st.columns(2)
    with left:
        if train.rows == 0:
            st.info("No training episode logged yet.", icon=":material/hourglass_empty:")
        else:
            reward = provider.series(
                rel, "reward", x=_x_axis(x), smooth=smooth, max_points=MAX_POINTS
            )
            fig = memo(
                ("fig", *tv, "reward", x, smooth),
                lambda: charts.curve_figure(
                    reward,
                    title="Training reward",
                    x_title=x_title,
                    y_title="episode reward",
                    color=charts.TRAIN_COLOR,
                ),
            )
            figures.plot(fig, "chart.reward", f"{rel}-reward", figs)
            _curve_download(provider, rel, "reward", smooth, f"{rel}-reward")
    with right:
        blocks = provider.eval_blocks(rel)
        best = provider.best_eval(rel)
        if blocks.empty:
            has_best = summary is not None and any(c.is_best for c in summary.checkpoints)
            st.info(
                "No eval yet (eval_episodes.jsonl is empty or absent)."
                + (" best.mpk exists, but no eval block explains it." if has_best else ""),
                icon=":material/hourglass_empty:",
            )
        else:
            background = max(smooth, 0.9)
            train_steps = (
                provider.series(
                    rel, "reward", x="steps", smooth=background, max_points=MAX_POINTS
                )
                if train.rows
                else None
            )
            fig = memo(
                ("fig.eval", rel, evals.revision, band, *tv, smooth),
                lambda: charts.eval_figure(
                    thin_blocks(blocks),
                    best=best,
                    band=band,
                    total_blocks=len(blocks),
                    train=train_steps,
                ),
            )
            figures.plot(fig, "chart.eval", f"{rel}-eval", figs)
            _eval_download(provider, rel, f"{rel}-eval")
            if best is not None:
                st.caption(
                    f"★ best.mpk: eval block at step {format_number(best.step)}, mean "
                    f"{format_number(best.mean)} "
                    f"(n={best.n}) — the first block with the highest mean."
                )

    if train.rows == 0:
        return
    st.subheader("Training statistics", anchor=False)
    extras = charts.order_extras([f"extras.{k}" for k in train.extras_keys])
    panels: list[tuple[str, str, str]] = [
        (key, charts.pretty_key(key), charts.extras_color(i)) for i, key in enumerate(extras)
    ]
    panels.append(("length", "episode length", charts.LENGTH_COLOR))
    panels.append(("status", "Episode endings", ""))
    per_row = 3
    for start in range(0, len(panels), per_row):
        row = panels[start : start + per_row]
        for col, (column, title, color) in zip(st.columns(per_row)[: len(row)], row, strict=True):
            with col:
                _panel(provider, rel, train, column, title, color, x, smooth, x_title, figs)


def _panel(
    provider: RunProvider,
    rel: str,
    train: LogView,
    column: str,
    title: str,
    color: str,
    x: str,
    smooth: float,
    x_title: str,
    figs: figures.FigureSettings,
) -> None:
    """One small chart of the statistics grid: an extras key, episode length or endings."""
    height = charts.SMALL_CHART_HEIGHT + 20
    tv = (rel, train.revision)
    if column == "status":
        fig = memo(
            ("fig", *tv, "status"),
            lambda: charts.status_figure(status_counts(train.status_counts), height=height),
        )
    else:
        data = provider.series(rel, column, x=_x_axis(x), smooth=smooth, max_points=MAX_POINTS)
        fig = memo(
            ("fig", *tv, column, x, smooth),
            lambda: charts.curve_figure(
                data,
                title=title,
                x_title=x_title,
                y_title=title,
                color=color,
                height=height,
                raw_whole=column == "length",
            ),
        )
    stem = f"{rel}-{charts.pretty_key(column)}"
    figures.plot(fig, f"chart.{column}", stem, figs)
    if column != "status":
        _curve_download(provider, rel, column, smooth, stem)


def _x_axis(x: str) -> Any:
    return "episodes" if x == "episodes" else "steps"


def _curve_download(
    provider: RunProvider, rel: str, column: str, smooth: float, stem: str
) -> None:
    """A button saving `column` at full resolution as `<slug(stem)>.csv`: every episode's
    index, env steps, raw and smoothed value. The CSV is built when the button is clicked
    (Streamlit runs the callable then), so a long run's page does not pay for it each rerun."""

    def build() -> bytes:
        steps, raw = provider.smoothed(rel, column, 0.0)
        smoothed = provider.smoothed(rel, column, smooth)[1] if smooth > 0 else raw
        table = curve_table(steps, raw, smoothed, whole=column == "length")
        return table.to_csv(index=False).encode("utf-8")

    what = "no smoothing" if smooth == 0 else f"EMA weight {format_number(smooth)}"
    _download(
        f"run.csv.{column}",
        build,
        stem,
        "Every episode, not thinned: episode (from 0), env_step, raw and smoothed value "
        f"({what}, as drawn).",
    )


def _eval_download(provider: RunProvider, rel: str, stem: str) -> None:
    """A button saving every eval block (step, n, mean, std, min, max, median) as CSV."""
    _download(
        "run.csv.eval",
        lambda: provider.eval_blocks(rel).to_csv(index=False).encode("utf-8"),
        stem,
        "Every eval block, not thinned: env step, episodes, mean, std, min, max, median.",
    )


def _download(key: str, build: Callable[[], bytes], stem: str, what: str) -> None:
    st.download_button(
        "CSV",
        build,
        file_name=f"{charts.slug(stem, limit=120)}.csv",
        mime="text/csv",
        key=key,
        help=what,
        icon=":material/download:",
        type="tertiary",
        on_click="ignore",
    )


def _details(
    ctx: AppContext, provider: RunProvider, run_dir: Path, rel: str, summary: RunSummary | None
) -> None:
    st.subheader("Checkpoints", anchor=False)
    _checkpoints(summary, provider.best_eval(rel))
    st.subheader("Config and metadata", anchor=False)
    c_left, c_right = st.columns([3, 2])
    with c_left:
        _config(provider, rel, ctx.shown)
    with c_right:
        _metadata(summary, ctx.shown)


def _checkpoints(summary: RunSummary | None, best: EvalBlock | None) -> None:
    if summary is None or not summary.checkpoints:
        st.caption("No checkpoints yet (checkpoints/ is empty or absent).")
        return
    now = time.time()
    rows: list[dict[str, Any]] = []
    # best and latest first (what people load), then the numbered ones, newest first.
    for c in sorted(
        summary.checkpoints,
        key=lambda c: (not c.is_best, not c.is_latest, c.step is None, -(c.step or 0), c.name),
    ):
        badges = []
        note = ""
        if c.is_latest:
            badges.append("latest")
        if c.is_best:
            badges.append("★ best")
            note = (
                f"eval block @ step {format_number(best.step)}, mean "
                f"{format_number(best.mean)} (n={best.n})"
                if best is not None
                else "no eval block explains it"
            )
        elif best is not None and c.step == best.step:
            note = "same step as the best eval block"
        rows.append(
            {
                "file": c.name,
                "step": "" if c.step is None else format_number(c.step),
                "size": human_size(c.size),
                "modified": f"{human_time(c.mtime)} ({human_age(now - c.mtime)})",
                "badges": " · ".join(badges),
                "note": note,
            }
        )
    # An Arrow table goes to the page as it is; a DataFrame would be converted on every rerun
    # of a live run's page (a few ms, for a table that rarely changes).
    table = pa.Table.from_pylist(rows)
    cc = st.column_config
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        key="run.checkpoints",
        height=min(38 + 35 * len(table), 400),
        placeholder=NO_VALUE,
        column_config={
            "file": cc.TextColumn("file", width="medium"),
            "step": cc.TextColumn("step", width="small"),
            "size": cc.TextColumn("size", width="small"),
            "modified": cc.TextColumn("modified", width="medium"),
            "badges": cc.TextColumn("badges", width="small"),
            "note": cc.TextColumn("note", width="large"),
        },
    )
    total = sum(c.size for c in summary.checkpoints)
    st.caption(
        f"{len(summary.checkpoints)} files, {human_size(total)} · run on disk: "
        f"{human_size(summary.disk_bytes)}"
    )


def _config(provider: RunProvider, rel: str, shown: Callable[[str], str]) -> None:
    config, problem = provider.config(rel)
    st.markdown("**config.json**")
    if config is None:
        st.caption(md_code(shown(problem)) if problem else "no config")
        return
    if isinstance(config, list) and len(config) == 3:
        # The crate's examples write [algorithm_config, observation_encoder, action_mapper].
        cols = st.columns(3)
        labels = ("algorithm config", "observation encoder", "action mapper")
        for col, label, part in zip(cols, labels, config, strict=True):
            col.caption(label)
            col.json(part, expanded=2)
    else:
        st.json(config, expanded=2)
    with st.expander("Flattened keys"):
        flat = flatten_config(config)
        st.dataframe(
            pd.DataFrame(
                {
                    "key": list(flat),
                    "value": [
                        json.dumps(v) if not isinstance(v, str) else v for v in flat.values()
                    ],
                }
            ),
            hide_index=True,
            width="stretch",
            placeholder=NO_VALUE,
        )


def _metadata(summary: RunSummary | None, shown: Callable[[str], str]) -> None:
    st.markdown("**metadata.json**")
    if summary is None or summary.metadata is None:
        st.caption(
            md_code(shown(summary.problem))
            if summary and summary.problem
            else "metadata unavailable"
        )
        return
    m = summary.metadata
    st.json(
        {
            "name": m.name,
            "version": m.version,
            "run_id": m.run_id,
            "total_steps": m.total_steps,
            "total_episodes": m.total_episodes,
            "started_at": m.started_at,
            "last_updated": m.last_updated,
        }
    )
    live = summary.state is not RunState.FINISHED
    if live:
        # The crate rewrites metadata.json after every episode; the page is not redrawn for it.
        st.caption(
            f"As read at {time.strftime('%H:%M:%S')}; the cards at the top follow the live run."
        )
    if m.total_episodes == 0 and summary.train_episodes > 0:
        # A live run's count would be stale here (this panel is not redrawn for new episodes).
        held = (
            "the Episodes card counts the log"
            if live
            else f"the log holds {format_number(summary.train_episodes)} episodes"
        )
        st.caption(
            "total_episodes is 0 in metadata.json (a known quirk of the crate's training "
            f"loop); {held}."
        )
