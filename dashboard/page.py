"""The page every browser session runs (dashboard/app.py is the server that serves it).

Routing lives in the URL (st.query_params) so a reload or a shared link shows the same view.
Every param (names in dashboard.urlstate; compare's own in dashboard.compare_view):

    run browser (no page param)
        q=<text>                    rows holding every word of the text
        name=<a>,<b>                only these names
        version=<name/v1>,<...>     only these name/version pairs
        tag=<a>,<b>                 only runs carrying every one of these tags (or repeated)
    one run: run=<name>/<version>/<run_id>
        x=steps|episodes            x axis of the charts (default steps)
        smooth=<0..0.999>           EMA weight of the smoothed curves (default 0.6; 0 = off)
        band=minmax|std             spread drawn around the eval mean (default minmax)
    versions or runs side by side: compare=<a>,<b>,...   (<name>/<version> or run paths)
        stat=iqm|mean               centre line over runs (default iqm)
        smooth=<0..0.999>           as for one run, applied before aggregating
        threshold=<reward>          for "env steps to threshold" (default none)
        keys=all                    config diff shows every key, not only those that differ
        curves=side|runs            the curves' tab: side by side, every run (default aggregated)
    a sweep (dashboard.sweep_view): sweep=<a>,<b>,...   (names, versions or runs)
        score=<final-eval|...>, stat=iqm|mean, groupby=<key>,<...>, target=<score>
    compare and sweep views:
        rliable=1                   the reliability panel is open (drawn only then)
    prune checkpoints: view=prune
        scope=<rel>                 a run, version or name directory ("" or none = whole root)
    every chart of the run, compare and sweep views (dashboard.figures):
        style=paper                 drawn for a paper (white, 8-10 pt, Okabe-Ito, legend inside)
        fig=svg                     the camera icon saves SVG (default PNG)

Page priority: view=prune, then sweep, then compare, then run, else the browser. Paths are
taken as typed and checked against the root by each view (runlog.format.paths.resolve_inside).
Settings left at their default are dropped from the URL to keep links short.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import streamlit as st

# `streamlit run dashboard/app.py` puts dashboard/ on sys.path, not the repo root.
_REPO_ROOT = Path(__file__).resolve().parent.parent
if str(_REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(_REPO_ROOT))

from dashboard import urlstate, warmup  # noqa: E402  (after the sys.path fix)
from dashboard.context import AppContext  # noqa: E402
from dashboard.settings import (  # noqa: E402
    READ_ONLY_ENV,
    ROOT_ENV,
    Settings,
    parse_settings,
    root_problem,
)
from dashboard.text import md_code  # noqa: E402
from runlog.remote.roots import DEFAULT_POLL_INTERVAL, RemoteRoot  # noqa: E402

# Less empty space above the page title. Headline cards (st.metric) cut a label or value that
# does not fit with "…" ("1,3…", "finish…"): here it wraps instead, so a figure is never
# shown cut short (the run view's cards are sized to fit on one line from 1280 px on).
_CSS = """<style>
[data-testid='stMainBlockContainer'] { padding-top: 2.5rem; }
[data-testid='stMetricLabel'], [data-testid='stMetricLabel'] *, [data-testid='stMetricValue'],
[data-testid='stMetricValue'] *, [data-testid='stMetricDelta'] * {
  text-overflow: clip; white-space: normal; overflow-wrap: anywhere;
}
</style>"""


def _sidebar(settings: Settings, ctx: AppContext, page: str) -> None:
    with st.sidebar:
        st.markdown("## :material/monitoring: runlog")
        st.caption("RL training runs on disk (ember-rl format)")
        # Read-only: the prune page only previews (it writes nothing), and says so here.
        nav: tuple[tuple[str, str, str, dict[str, str]], ...] = (
            ("browser", "Runs", ":material/table_rows:", {}),
            ("compare", "Compare", ":material/compare_arrows:", {urlstate.COMPARE: ""}),
            (
                "prune",
                "Prune preview" if ctx.read_only else "Prune checkpoints",
                ":material/content_cut:",
                {urlstate.VIEW: urlstate.PRUNE_VIEW, urlstate.SCOPE: ""},
            ),
        )
        for target, label, icon, params in nav:
            if st.button(
                label,
                icon=icon,
                key=f"nav.{target}",
                width="stretch",
                type="primary" if page == target else "secondary",
            ):
                urlstate.navigate(**params)

        st.divider()
        st.markdown("**Runs root**")
        st.text(ctx.display_root)
        st.caption(f"from {settings.root_source} · set with `--root PATH|URL` or `{ROOT_ENV}`")
        if ctx.remote is not None:
            _remote_status(ctx)
        if ctx.read_only:
            st.badge(
                "read-only",
                icon=":material/lock:",
                color="orange",
                help=f"Started with --read-only or {READ_ONLY_ENV}=1: nothing is written",
            )
        st.caption(
            f"live: written within {ctx.live_window:g} s · stalled: within {ctx.stall_window:g} s"
        )
        for warning in settings.warnings:
            st.warning(warning, icon=":material/settings:")
        if page in ("browser", "run", "compare") and root_problem(ctx.root) is None:
            provider = ctx.provider()
            mode = provider.watcher.mode if provider.watcher is not None else None
            if mode is not None and mode.polling and ctx.remote is None:
                st.caption(f":material/sync: {md_code(mode.reason)}")
            if provider.problem:
                st.warning(
                    f"Live updates fall back to timed rescans: {md_code(provider.problem)}",
                    icon=":material/sync_problem:",
                )
            if provider.cache_problem:
                st.caption(f":material/database: {md_code(provider.cache_problem)}")
        if ctx.no_cache:
            st.caption("Run index off (`--no-cache`): every start reads every log.")


def _remote_status(ctx: AppContext) -> None:
    remote = ctx.remote
    assert remote is not None
    last = remote.last
    listed = f"{last.objects:,} objects · " if last is not None else ""
    st.caption(
        f":material/cloud: {listed}listed every {ctx.poll_interval:g} s; only what changed is "
        "fetched (logs by ranged reads)"
    )
    if remote.problem:
        st.warning(
            f"The last listing failed; showing what was fetched before: {md_code(remote.problem)}",
            icon=":material/cloud_off:",
        )
    if last is not None and last.skipped:
        st.caption(f"{len(last.skipped)} objects not mirrored: " + md_code(last.skipped[0]))


def _missing_root(settings: Settings, problem: str) -> None:
    st.title("runlog")
    st.error(problem, icon=":material/folder_off:")
    st.markdown(
        f"Point the dashboard at a runs root (the directory holding "
        f"`<name>/<version>/<run_id>/`):\n\n"
        f"```\nstreamlit run dashboard/app.py -- --root PATH\n```\n"
        f"or set `{ROOT_ENV}=PATH`. This root came from {settings.root_source}. "
        "The page reloads by itself once the directory exists."
    )
    _wait_for_root(str(settings.root))


def _remote_opening(remote: RemoteRoot) -> None:
    """The first sync of a remote root runs in its thread: say how far it is, and show the
    runs once it is done (or why it failed, while it keeps trying)."""
    st.title("runlog")
    _opening_progress(remote)


@st.fragment(run_every=0.5)
def _opening_progress(remote: RemoteRoot) -> None:
    if remote.ready.is_set():
        st.rerun(scope="app")
        return
    if remote.problem:
        st.error(remote.problem, icon=":material/cloud_off:")
        st.caption(
            f"Trying again every {remote.interval or DEFAULT_POLL_INTERVAL:g} s. Credentials "
            "come from the environment (`AWS_PROFILE`, `AWS_ACCESS_KEY_ID`, "
            "`AWS_ENDPOINT_URL`) or `--storage-option KEY=VALUE`."
        )
        return
    progress = remote.mirror.progress
    share = progress.fetched / progress.to_fetch if progress.to_fetch else 0.0
    st.progress(share, text=f"Opening {md_code(str(remote.url))}: {progress.label()}")


def _remote_unavailable(settings: Settings, problem: str) -> None:
    st.title("runlog")
    st.error(problem, icon=":material/cloud_off:")
    st.markdown(
        "Point the dashboard at an object store root:\n\n"
        "```\nstreamlit run dashboard/app.py -- --root s3://BUCKET/PREFIX\n```\n"
        "Credentials come from the environment (`AWS_PROFILE`, `AWS_ACCESS_KEY_ID`, "
        "`AWS_ENDPOINT_URL` for S3-compatible stores) or `--storage-option KEY=VALUE`. "
        f"This root came from {settings.root_source}; restart the dashboard once it is fixed."
    )


@st.fragment(run_every=2.0)
def _wait_for_root(root: str) -> None:
    if root_problem(Path(root)) is None:
        st.rerun(scope="app")


def main() -> None:
    route = urlstate.current_route()
    page = route.page if route.page != "run" or route.run is not None else "browser"
    # The server's head start (imports, the root's first scan), if it has one: the run table
    # waits only for its own part of it (dashboard.warmup).
    warmup.wait(table_only=page == "browser")
    st.set_page_config(page_title="runlog", page_icon=warmup.PAGE_ICON, layout="wide")
    st.html(_CSS)
    settings = parse_settings(sys.argv[1:], os.environ)
    ctx = settings.context()
    _sidebar(settings, ctx, route.page)

    if ctx.remote_problem is not None:
        _remote_unavailable(settings, ctx.remote_problem)
        return
    if ctx.remote is not None and not ctx.remote.ready.is_set():
        _remote_opening(ctx.remote)
        return
    problem = root_problem(ctx.root)
    if problem is not None:
        _missing_root(settings, problem)
        return
    # Each view is imported when first shown. Under the server (dashboard/app.py) the warm-up
    # has imported them all already; where nothing warmed up (AppTest, a bare
    # `streamlit run dashboard/page.py`) the run table still needs neither plotly nor the
    # chart code, and shows sooner for that.
    if page == "run" and route.run is not None:
        from dashboard import run_view

        run_view.render(ctx, route.run)
    elif page == "compare":
        from dashboard import compare_view

        compare_view.render(ctx)
    elif page == "sweep":
        from dashboard import sweep_view

        sweep_view.render(ctx)
    elif page == "prune":
        from dashboard import prune_view

        prune_view.render(ctx)
    else:
        from dashboard import browser

        browser.render(ctx)
        warmup.table_drawn()


if __name__ == "__main__":  # `streamlit run` and AppTest run the script as __main__
    main()
