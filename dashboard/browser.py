"""The run browser: every run under the root in one sortable, filterable, live table.

    filters (name, version, tags, text)      full reruns; their values are read in the fragment
                                             (tags: runs carrying EVERY tag picked)
    [fragment, every POLL_INTERVAL]          refresh the provider's listing, redraw the table
        progress bar while a cold root is being indexed ("indexed 37 of 200 runs · ...")
        table (multi-row selection, "open" button per row)
        actions: open the selected run, compare the selected runs
    compare versions / open a run            fallbacks that need no table clicks

On a root nothing has indexed yet the table appears at once with what is cheap (name, state,
metadata, checkpoints, disk size); the columns read from the logs fill in as the provider's
background indexing reaches each run.

A new or vanished run, or a tag added or dropped anywhere, changes the filter options too, so
it reruns the whole app (fragment arguments and everything outside the fragment are frozen
until then).
"""

from __future__ import annotations

import hashlib
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import urlstate
from dashboard.context import POLL_INTERVAL, AppContext
from dashboard.data import (
    STATE_COLORS,
    STATE_LABELS,
    TABLE_COLUMNS,
    filter_runs,
    runs_frame,
    table_for,
)
from dashboard.text import (
    NO_VALUE,
    TABLE_FLOAT_FORMAT,
    TABLE_INT_FORMAT,
    md_code,
    md_name,
)
from runlog.provider import RunProvider
from runlog.read.activity import RunState
from runlog.read.catalog import RunSummary

_LISTING_KEY = "browser.listing"
_TAGS_KEY = "browser.tags"
_OPEN_CLICK_KEY = "browser.open_click"
OPEN_LABEL = "Open"


TABLE_FRAGMENT = "browser.table"
"""Key of the run table's fragment (benchmarks/bench_scale.py reruns it as a browser would)."""


def render(ctx: AppContext) -> None:
    provider = ctx.provider()
    provider.refresh()
    st.session_state[_LISTING_KEY] = provider.listing_revision
    summaries = provider.runs()

    n_broken = sum(1 for s in summaries if not s.ok)
    st.title("Runs")
    st.caption(
        f"{len(summaries)} run{'s' if len(summaries) != 1 else ''} under "
        f"{md_code(ctx.display_root)}"
        + (f" · {n_broken} with problems" if n_broken else "")
    )
    if not summaries:
        st.info(
            f"No runs under {md_code(ctx.display_root)} yet. A run is a directory "
            "`<name>/<version>/<run_id>/` holding metadata.json; it appears here as soon "
            "as it is created."
        )
        _empty_poller(ctx)
        return

    names = sorted({s.name for s in summaries})
    versions = sorted({f"{s.name}/{s.version}" for s in summaries})
    tags = _all_tags(summaries)
    st.session_state[_TAGS_KEY] = tags
    q_key, q_sync = urlstate.url_bound(urlstate.QUERY, lambda raw: raw or "", "")
    no_choice: list[str] = []
    n_key, n_sync = urlstate.url_bound(
        urlstate.NAME,
        lambda raw: [n for n in urlstate.split_list([raw or ""]) if n in names],
        no_choice,
        to_url=",".join,
    )
    v_key, v_sync = urlstate.url_bound(
        urlstate.VERSION,
        lambda raw: [v for v in urlstate.split_list([raw or ""]) if v in versions],
        no_choice,
        to_url=",".join,
    )
    t_key, t_sync = urlstate.url_bound(
        urlstate.TAG,
        lambda raw: [t for t in urlstate.split_tags(raw) if t in tags],
        no_choice,
        to_url=",".join,
        repeated=True,
    )
    # Options can shrink when runs vanish: drop stale choices before drawing the widgets.
    st.session_state[n_key] = [n for n in st.session_state.get(n_key, []) if n in names]
    st.session_state[v_key] = [v for v in st.session_state.get(v_key, []) if v in versions]
    st.session_state[t_key] = [t for t in st.session_state.get(t_key, []) if t in tags]
    col_name, col_version, col_tag, col_text = st.columns([1, 1, 1, 2])
    col_name.multiselect("Name", names, key=n_key, placeholder="all names")
    col_version.multiselect("Version", versions, key=v_key, placeholder="all versions")
    col_tag.multiselect(
        "Tags (all of them)",
        tags,
        key=t_key,
        placeholder="any tags" if tags else "no run has tags yet",
        disabled=not tags,
        help="Shows the runs carrying EVERY tag picked. Tag a run in its view "
        "(Notes & tags) or with `runlog tag RUN TAG`.",
    )
    col_text.text_input(
        "Filter",
        key=q_key,
        placeholder="any text: run id, state, problem…",
        help="Rows containing every word (any column, case-insensitive).",
    )
    n_sync()
    v_sync()
    t_sync()
    q_sync()

    _table_fragment(ctx)
    _fallbacks(summaries)


@st.fragment(run_every=POLL_INTERVAL, key=TABLE_FRAGMENT)
def _table_fragment(ctx: AppContext) -> None:
    provider = ctx.provider()
    provider.refresh()
    if provider.listing_revision != st.session_state.get(_LISTING_KEY):
        st.rerun(scope="app")  # runs appeared or vanished: filter options must change too
    revision = provider.revision  # before the summaries: a change after it is seen next poll
    summaries = provider.runs()
    if _all_tags(summaries) != st.session_state.get(_TAGS_KEY):
        st.rerun(scope="app")  # a tag appeared or vanished: so did a filter option

    _progress(provider)
    # Rebuilt when a summary changed or a run's state aged (live -> stalled -> finished).
    states = tuple(s.state for s in summaries)
    frame = table_for(provider, (revision, states), lambda: runs_frame(summaries))
    shown = filter_runs(
        frame,
        st.session_state.get(urlstate.widget_key(urlstate.NAME), []),
        st.session_state.get(urlstate.widget_key(urlstate.VERSION), []),
        st.session_state.get(urlstate.widget_key(urlstate.QUERY), ""),
        st.session_state.get(urlstate.widget_key(urlstate.TAG), []),
    ).reset_index(drop=True)
    shown = shown.assign(open=OPEN_LABEL)
    # A new key when the rows change meaning, so a selection never points at another run.
    identity = "|".join(shown["rel"]) + f"#{provider.listing_revision}"
    table_key = "runs_table:" + hashlib.sha1(identity.encode()).hexdigest()[:12]

    n_live = int((shown["state"] == STATE_LABELS[RunState.LIVE]).sum())
    st.caption(
        f"Showing {len(shown)} of {len(frame)} runs"
        + (f" · {n_live} live" if n_live else "")
        + " · click a row's **Open** to view it, tick rows to compare them"
    )
    # The state as a coloured pill (a one-item list in a multiselect column): no pandas Styler,
    # whose import (jinja2) alone costs a restarted server half a second before the table.
    shown = shown.assign(state=shown["state"].map(lambda label: [label]))
    event = st.dataframe(
        shown,
        key=table_key,
        on_select="rerun",
        selection_mode="multi-row",
        hide_index=True,
        width="stretch",
        height=min(38 + 35 * max(len(shown), 1), 560),
        placeholder=NO_VALUE,  # a figure not read yet, or none (no eval): never "None"
        # The path key "rel" stays hidden; the "Open" button column comes first.
        column_order=["open", *(c for c in TABLE_COLUMNS if c != "rel")],
        column_config=_column_config(),
    )
    click = st.session_state.get(_OPEN_CLICK_KEY)
    if click is not None and 0 <= int(click["row"]) < len(shown):
        urlstate.navigate(run=str(shown.iloc[int(click["row"])]["rel"]))

    rows = [r for r in event.selection.rows if 0 <= r < len(shown)]
    selected = [str(shown.iloc[r]["rel"]) for r in rows]
    col_open, col_compare, col_info = st.columns([1, 1, 3])
    if col_open.button(
        "Open selected run",
        disabled=len(selected) != 1,
        icon=":material/open_in_new:",
        width="stretch",
    ):
        urlstate.navigate(run=selected[0])
    if col_compare.button(
        f"Compare selected ({len(selected)})",
        disabled=len(selected) < 2,
        icon=":material/compare_arrows:",
        type="primary" if len(selected) >= 2 else "secondary",
        width="stretch",
    ):
        urlstate.navigate(compare=",".join(selected))
    problems = shown[shown["problem"] != ""]
    if not problems.empty:
        col_info.warning(
            f"{len(problems)} run{'s' if len(problems) != 1 else ''} with problems: "
            + "; ".join(
                f"**{md_name(str(r.rel))}**: {md_code(ctx.shown(str(r.problem)))}"
                for r in problems.itertuples()
            ),
            icon=":material/report:",
        )


def _all_tags(summaries: list[RunSummary]) -> list[str]:
    return sorted({tag for s in summaries for tag in s.tags})


def _progress(provider: RunProvider) -> None:
    """While a cold root is being read: how far, in runs and bytes of logs."""
    progress = provider.progress()
    if progress.complete:
        return
    st.progress(
        progress.fraction,
        text=f":material/manage_search: {progress.label()} · the empty cells fill in as each "
        "run's logs are read; open any run to read it first",
    )


STATE_WIDTH = 104
"""Pixels of the state column: its widest pill ("○ finished") whole ("small" cut it)."""


def _column_config() -> dict[str, Any]:
    cc = st.column_config
    return {
        "open": cc.ButtonColumn(
            "",
            type="tertiary",
            key=_OPEN_CLICK_KEY,
            width="small",
            pinned=True,
            help="Open this run",
        ),
        "state": cc.MultiselectColumn(
            "state",
            options=list(STATE_COLORS),
            color=list(STATE_COLORS.values()),
            width=STATE_WIDTH,
            help="live: wrote within the live "
            "window; stalled: silent for longer; finished: silent for good",
        ),
        "name": cc.TextColumn("name"),
        "version": cc.TextColumn("version"),
        "run_id": cc.TextColumn("run_id"),
        "tags": cc.ListColumn("tags", help="Tags of the run (its runlog.json)"),
        # Numbers stay numbers (the columns sort), written as dashboard.text.format_number does.
        "episodes": cc.NumberColumn("episodes", format=TABLE_INT_FORMAT),
        "env steps": cc.NumberColumn(
            "env steps",
            format=TABLE_INT_FORMAT,
            help="Sum of episode lengths in train_episodes.jsonl",
        ),
        "last reward": cc.NumberColumn("last reward", format=TABLE_FLOAT_FORMAT),
        "best reward": cc.NumberColumn(
            "best reward", format=TABLE_FLOAT_FORMAT, help="Highest training episode reward"
        ),
        "best eval": cc.NumberColumn(
            "best eval",
            format=TABLE_FLOAT_FORMAT,
            help="Highest eval block mean (the block of best.mpk)",
        ),
        "checkpoints": cc.TextColumn("checkpoints", help="step_<N>.mpk files, + latest/best"),
        "disk": cc.NumberColumn("disk", format="bytes"),
        "last write": cc.DatetimeColumn("last write", format="distance"),
        "note": cc.TextColumn(
            "note", width="medium", help="The note's first line; the run view shows all of it"
        ),
        "problem": cc.TextColumn("problem", width="medium"),
    }


def _fallbacks(summaries: list[RunSummary]) -> None:
    """Controls that need no table clicks: compare versions, open a run by name."""
    versions = sorted({f"{s.name}/{s.version}" for s in summaries})
    runs = [s.rel for s in summaries]
    col_versions, col_open = st.columns(2)
    with col_versions.container(border=True):
        chosen = st.multiselect(
            "Compare versions",
            versions,
            key="browser.compare_versions",
            placeholder="pick one or more name/version",
            help="Aggregate every run of each version and compare them side by side.",
        )
        go_compare, go_sweep = st.columns(2)
        if go_compare.button(
            "Compare versions", disabled=len(chosen) < 1, key="browser.compare_go"
        ):
            urlstate.navigate(compare=",".join(chosen))
        if go_sweep.button(
            "Analyse as a sweep",
            disabled=len(chosen) < 1,
            key="browser.sweep_go",
            help="Group the runs by config with the seeds collapsed: which config wins, how "
            "sure, which parameters matter.",
        ):
            urlstate.navigate(sweep=",".join(chosen))
    with col_open.container(border=True):
        target = st.selectbox(
            "Open a run",
            runs,
            index=None,
            key="browser.open_run",
            placeholder="name/version/run_id",
        )
        if st.button("Open", disabled=target is None, key="browser.open_go") and target:
            urlstate.navigate(run=target)


@st.fragment(run_every=POLL_INTERVAL * 4)
def _empty_poller(ctx: AppContext) -> None:
    """With no runs listed, wait for the first one and then redraw the page."""
    provider = ctx.provider()
    provider.refresh()
    if provider.listing_revision != st.session_state.get(_LISTING_KEY):
        st.rerun(scope="app")


def runs_table(ctx: AppContext) -> pd.DataFrame:
    """The unfiltered runs table as shown (for tests and other views)."""
    provider = ctx.provider()
    provider.refresh()
    return runs_frame(provider.runs())
