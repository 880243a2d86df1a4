"""Compare versions or runs: is v2 better than v1, and how sure are we?

    ?compare=cartpole/v1,cartpole/v2            whole versions (every run of name/version)
    ?compare=cartpole/v1/20260322_120000,...    single runs (grouped by their version)
        &stat=iqm|mean &smooth=0.6 &threshold=200 &keys=all      (view settings, in the URL)
        &curves=aggregated|side|runs                             (the tab of curves shown)

    picker          versions and runs; editing it rewrites `compare`
    headline        "v2 beats v1 in 78% of seed pairs (final eval); IQM 412 [380, 440] vs ..."
    curves (tabs, only the chosen one computed and drawn):
      aggregated    per version: centre line (IQM or mean over runs) + 95% bootstrap band,
                    train reward on a shared env-step grid, eval per eval step
      side by side  one column per version, same charts, same axis ranges
      every run     each run's smoothed curve, coloured by version
    summary         per version (statistic + CI per metric, P(A beats B)) and per run; CSV
    config diff     dotted keys that differ (toggle: all), missing keys marked
    [fragment]      polls every POLL_INTERVAL like the run view: when a compared run got
                    new data, reruns the app (at most every CHART_REFRESH s)

The URL's entries are untrusted: each goes through runlog.format.paths.resolve_inside, and an entry
that is refused or missing is reported while the rest still render; they, run names and
problems read from disk reach markdown only through dashboard.text. Every number comes from
runlog (stats, compare, configs); this module lays out widgets and figures only.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import compare_charts as cc
from dashboard import figures, urlstate
from dashboard.charts import slug
from dashboard.context import CHART_REFRESH, POLL_INTERVAL, AppContext
from dashboard.data import MAX_POINTS, bad_lines_message, memo
from dashboard.text import NO_VALUE, TABLE_FLOAT_FORMAT, TABLE_INT_FORMAT, md_code, md_name
from runlog.analysis.compare import (
    RunInputs,
    pairwise_improvement,
    run_summary,
    version_summary,
)
from runlog.analysis.configs import MISSING, diff_configs, differing_only
from runlog.analysis.stats import AggregateCurve, Statistic, aggregate_curves, aggregate_eval
from runlog.errors import OutsideRootError
from runlog.format.layout import EVAL_LOG, TRAIN_LOG, metadata_path
from runlog.format.paths import resolve_inside
from runlog.format.rundirs import RUN_DEPTH, VERSION_DEPTH, depth_of, run_rel
from runlog.provider import LogView, RunProvider
from runlog.read.activity import RunState

STAT = "stat"
THRESHOLD = "threshold"
CONFIG_KEYS = "keys"
STAT_CHOICES: tuple[Statistic, ...] = ("iqm", "mean")
DEFAULT_STAT: Statistic = "iqm"
STAT_NAMES = {"iqm": "IQM", "mean": "mean"}
ALL_KEYS = "all"

GRID_POINTS = 200
"""Env-step grid points the train curves are interpolated on before aggregating."""
N_BOOT = 2000
SEED = 0
"""Bootstrap resamples and seed: fixed, so the same runs always give the same bands."""
CONFIDENCE = 0.95
SIDE_BY_SIDE = 4
"""Versions per row in the side-by-side panels."""
HEADLINE_METRIC = "final_eval_mean"
FALLBACK_METRIC = "final_train_reward_smoothed"
METRIC_NAMES = {
    "final_train_reward_smoothed": "final train reward (smoothed)",
    "best_eval_mean": "best eval mean",
    "final_eval_mean": "final eval mean",
    "steps_to_threshold": "env steps to threshold",
    "eval_auc_normalized": "eval AUC (normalised)",
}
_FOLLOW_KEY = "compare.follow"
_PICK_KEY = "compare.pick"
_PICK_SEEN = "compare.pick.url"
CURVES = "curves"
CURVE_TABS = (
    ("aggregated", "Aggregated across seeds"),
    ("side", "Side by side"),
    ("runs", "Every run"),
)
"""`?curves=aggregated|side|runs`: the tab of curves shown (drawn only when chosen)."""
SHARE_KEY = "compare.share"
"""The Share popover: its content (a link in st.code) is drawn only while it is open."""


# ----- the selection (pure: paths in, groups and problems out) -------------------------------


@dataclass(frozen=True)
class VersionGroup:
    """Runs compared as one version: `label` is "name/version", `runs` root-relative paths."""

    label: str
    runs: tuple[str, ...]


@dataclass(frozen=True)
class Selection:
    items: tuple[str, ...]
    """The valid entries, as canonical root-relative paths, in URL order."""
    groups: tuple[VersionGroup, ...]
    """One group per version, in order of first mention; runs deduplicated."""
    problems: tuple[str, ...]
    """One markdown sentence per entry that was skipped, naming it (`md_code`) and why."""


def version_of(rel: str) -> str:
    """ "name/version" of a run path "name/version/run_id"."""
    return "/".join(rel.split("/")[:VERSION_DEPTH])


def resolve_selection(root: Path, items: Sequence[str], known_runs: Sequence[str]) -> Selection:
    """Check every entry against the root and expand versions into the runs listed under them.

    `known_runs` are the catalog's run paths ("name/version/run_id"). An entry is a run,
    a version (every known run under it) or a problem: outside the root, `..`, missing,
    a version with no runs, or neither shape.
    """
    known = set(known_runs)
    valid: dict[str, None] = {}
    members: dict[str, dict[str, None]] = {}
    problems: list[str] = []
    for item in items:
        try:
            resolved = resolve_inside(root, item)
            rel = run_rel(root, resolved)
        except OutsideRootError as exc:
            problems.append(f"{md_code(item)} was skipped: {md_code(str(exc))}.")
            continue
        depth = depth_of(rel)
        if rel in known:
            runs = [rel]
        elif depth == VERSION_DEPTH:
            runs = sorted(r for r in known if r.startswith(rel + "/"))
            if not runs:
                why = "has no runs" if resolved.is_dir() else "does not exist"
                problems.append(
                    f"{md_code(item)} was skipped: the version {why} under the runs root."
                )
                continue
        elif not resolved.exists():
            problems.append(
                f"{md_code(item)} was skipped: there is no such run or version under "
                "the runs root (moved or deleted?)."
            )
            continue
        elif depth == RUN_DEPTH and resolved.is_dir() and not metadata_path(resolved).exists():
            problems.append(
                f"{md_code(item)} was skipped: it has no metadata.json, so it is not a run."
            )
            continue
        else:
            problems.append(
                f"{md_code(item)} was skipped: compare takes versions (`name/version`) or runs "
                "(`name/version/run_id`)."
            )
            continue
        valid.setdefault(rel, None)
        for run in runs:
            members.setdefault(version_of(run), {}).setdefault(run, None)
    groups = tuple(VersionGroup(label, tuple(runs)) for label, runs in members.items())
    return Selection(tuple(valid), groups, tuple(problems))


def regroup_by_config(
    provider: RunProvider, selection: Selection, keys: Sequence[str]
) -> Selection:
    """The selection's runs grouped by the values of config `keys` (`?groupby=`, set by the
    sweep view's "Compare these") instead of by version: one band per config group."""
    from runlog.analysis.sweep import group_runs

    runs = [r for g in selection.groups for r in g.runs]
    grouping = group_runs({r: provider.config(r)[0] for r in runs}, keys)
    groups = tuple(VersionGroup(g.label, g.runs) for g in grouping.groups)
    return replace(selection, groups=groups)


# ----- view settings in the URL ----------------------------------------------------------------


def parse_stat(raw: str | None) -> Statistic:
    return "mean" if raw == "mean" else DEFAULT_STAT


def parse_threshold(raw: str | None) -> float | None:
    """A finite number, or None (no threshold) for anything else."""
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def format_threshold(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def parse_all_keys(raw: str | None) -> bool:
    return raw == ALL_KEYS


# ----- the headline (pure: tables in, sentences out) -------------------------------------------


def short_labels(labels: Sequence[str]) -> dict[str, str]:
    """ "cartpole/v1" -> "v1" when every label has the same name, else the labels unchanged."""
    names = {label.split("/", 1)[0] for label in labels}
    if len(names) == 1 and all("/" in label for label in labels):
        return {label: label.split("/", 1)[1] for label in labels}
    return {label: label for label in labels}


def fmt(value: float) -> str:
    """Three significant digits, whole numbers from 1,000 on: "412", "0.0123", "41,923"."""
    if not math.isfinite(value):
        return "—"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def fmt_estimate(row: pd.Series, with_n: bool = False) -> str:
    """ "412 [380, 440]", "412 (1 run: no CI)" or "—"; `with_n` adds "(n = 2 of 3)" when
    some runs have no value (e.g. never reached the threshold)."""
    value, low, high = float(row["value"]), float(row["ci_low"]), float(row["ci_high"])
    n, total = int(row["n_runs"]), int(row["n_total"])
    if not math.isfinite(value):
        return "—"
    if math.isfinite(low) and math.isfinite(high):
        text = f"{fmt(value)} [{fmt(low)}, {fmt(high)}]"
    else:
        text = f"{fmt(value)} ({n} run: no CI)"
    if with_n and n != total:
        text += f" (n = {n} of {total})"
    return text


def headline_metric(runs: pd.DataFrame) -> str:
    """Final eval mean when any run has an eval, else the final smoothed train reward."""
    finite = np.isfinite(runs[HEADLINE_METRIC].to_numpy(dtype=np.float64))
    return HEADLINE_METRIC if bool(finite.any()) else FALLBACK_METRIC


def headline(
    versions: pd.DataFrame, pairs: pd.DataFrame, order: Sequence[str], statistic: Statistic
) -> list[str]:
    """One markdown sentence per version against the first (the baseline).

    `versions` is `version_summary(..., metrics=[m])` and `pairs` `pairwise_improvement(...,
    metric=m)` of one metric m; the sentence names the winner of the seed pairs.
    """
    if len(order) < 2 or versions.empty:
        return []
    metric = str(versions["metric"].iloc[0])
    names = {label: md_name(short) for label, short in short_labels(order).items()}
    rows = {str(r["version"]): r for _, r in versions.iterrows()}
    stat = STAT_NAMES[statistic]
    base = order[0]
    lines = []
    for other in order[1:]:
        if other not in rows or base not in rows:
            continue
        pair = pairs[(pairs["version_a"] == other) & (pairs["version_b"] == base)]
        p = float(pair["p_a_beats_b"].iloc[0]) if len(pair) else float("nan")
        if not math.isfinite(p):
            lines.append(
                f"**{names[other]} vs {names[base]}: no {METRIC_NAMES[metric]} to compare** "
                f"(n = {int(rows[other]['n_runs'])} vs {int(rows[base]['n_runs'])} runs "
                "with a value)."
            )
            continue
        # Name the winner first, and give its numbers first.
        first, second, share = (other, base, p) if p >= 0.5 else (base, other, 1.0 - p)
        if p == 0.5:
            verdict = f"**{names[other]} and {names[base]} are even: 50% of seed pairs each**"
        else:
            verdict = f"**{names[first]} beats {names[second]} in {share:.0%} of seed pairs**"
        a, b = rows[first], rows[second]
        n_a, n_b = int(a["n_runs"]), int(b["n_runs"])
        noun = "run" if n_a == n_b == 1 else "runs"
        n_text = f"n = {n_a} {noun} each" if n_a == n_b else f"n = {n_a} vs {n_b} runs"
        lines.append(
            f"{verdict} ({METRIC_NAMES[metric]}); {stat} {fmt_estimate(a)} vs "
            f"{fmt_estimate(b)}, {n_text}. {certainty(a, b)}"
        )
    return lines


def certainty(a: pd.Series, b: pd.Series) -> str:
    """How sure: whether the two 95% intervals overlap."""
    bounds = [float(a["ci_low"]), float(a["ci_high"]), float(b["ci_low"]), float(b["ci_high"])]
    if not all(math.isfinite(v) for v in bounds):
        return "Too few runs for a confidence interval: treat this as anecdotal."
    a_low, a_high, b_low, b_high = bounds
    if a_low > b_high or b_low > a_high:
        return "The 95% intervals do not overlap."
    return "The 95% intervals overlap: more seeds are needed to be sure."


# ----- per-run data (shared with the run view's memo keys) -------------------------------------


@dataclass(frozen=True, eq=False)
class RunData:
    rel: str
    version: str
    color: str
    dash: str
    train: LogView
    evals: LogView
    blocks: pd.DataFrame

    @property
    def key(self) -> tuple[object, ...]:
        """Names everything drawn of this run: a memo key part."""
        return (self.rel, self.train.revision, self.evals.revision)


def _load_runs(provider: RunProvider, groups: Sequence[VersionGroup]) -> list[RunData]:
    out = []
    for g_index, group in enumerate(groups):
        color = cc.version_color(g_index)
        for r_index, rel in enumerate(group.runs):
            train = provider.log(rel, "train")
            evals = provider.log(rel, "eval")
            blocks = provider.eval_blocks(rel)
            dash = cc.RUN_DASHES[r_index % len(cc.RUN_DASHES)]
            out.append(RunData(rel, group.label, color, dash, train, evals, blocks))
    return out


def _train_line(provider: RunProvider, run: RunData, smooth: float) -> cc.RunLine:
    """The run's train reward, smoothed over every episode and thinned (the run view's curve)."""
    data = provider.series(run.rel, "reward", x="steps", smooth=smooth, max_points=MAX_POINTS)
    y = data.ys.get("smoothed", data.ys["raw"])
    return cc.RunLine(run.rel, run.version, run.color, data.x, y, run.dash)


def _eval_line(run: RunData) -> cc.RunLine:
    return cc.RunLine(
        run.rel,
        run.version,
        run.color,
        run.blocks["step"].to_numpy(),
        run.blocks["mean"].to_numpy(dtype=np.float64),
        run.dash,
        markers=len(run.blocks) <= 60,
    )


def _train_aggregate(
    provider: RunProvider, runs: Sequence[RunData], smooth: float, stat: Statistic
) -> AggregateCurve:
    key = ("cmp.agg.train", tuple(r.key for r in runs), smooth, stat)

    def build() -> AggregateCurve:
        curves = []
        for r in runs:
            if r.train.rows:
                steps, smoothed = provider.smoothed(r.rel, "reward", smooth)
                curves.append((steps.astype(np.float64), smoothed))
        return aggregate_curves(
            curves, stat, GRID_POINTS, confidence=CONFIDENCE, n_boot=N_BOOT, seed=SEED
        )

    return memo(key, build)


def _eval_aggregate(runs: Sequence[RunData], stat: Statistic) -> AggregateCurve:
    key = ("cmp.agg.eval", tuple(r.key for r in runs), stat)
    return memo(
        key,
        lambda: aggregate_eval(
            [r.blocks for r in runs], stat, confidence=CONFIDENCE, n_boot=N_BOOT, seed=SEED
        ),
    )


def _inputs_key(
    runs: Sequence[RunData], smooth: float, threshold: float | None
) -> tuple[object, ...]:
    """Names every input of the summary tables (memo keys)."""
    return (tuple((r.version, *r.key) for r in runs), smooth, threshold)


def _run_table(
    provider: RunProvider, runs: Sequence[RunData], smooth: float, threshold: float | None
) -> pd.DataFrame:
    """The per-run table, from the same smoothed series the curves are drawn from."""

    def build() -> pd.DataFrame:
        inputs = []
        for r in runs:
            steps, smoothed = provider.smoothed(r.rel, "reward", smooth)
            inputs.append(RunInputs(r.rel, r.version, steps, smoothed, r.blocks))
        return run_summary(inputs, threshold=threshold)

    return memo(("cmp.runs", *_inputs_key(runs, smooth, threshold)), build)


# ----- the page --------------------------------------------------------------------------------


def render(ctx: AppContext) -> None:
    """The compare view for the URL's `compare` entries (untrusted; checked here)."""
    provider = ctx.provider()
    cursor = provider.cursor()  # before reading: a write during the reads is seen later
    provider.refresh()
    known = [s.rel for s in provider.runs()]
    route = urlstate.current_route()
    selection = resolve_selection(ctx.root, route.compare, known)
    group_by = urlstate.split_tags(st.query_params.get(urlstate.GROUP_BY))
    if group_by and selection.groups:
        selection = regroup_by_config(provider, selection, group_by)

    top_left, top_right = st.columns([5, 1], vertical_alignment="bottom")
    with top_left:
        if st.button("All runs", icon=":material/arrow_back:", key="compare.back", type="tertiary"):
            urlstate.navigate()
        st.title("Compare", anchor=False)
    _picker(known, selection, route.compare)
    if group_by:
        st.caption(
            "Grouped by config "
            + ", ".join(md_code(k) for k in group_by)
            + " (from the sweep view): each group is one entry with its own band."
        )
    for problem in selection.problems:
        st.warning(ctx.shown(problem), icon=":material/block:")
    if not selection.groups:
        _follow(ctx, provider, cursor, ())  # runs appearing under the root still show up
        st.info(
            "Pick two or more versions (every run of `name/version`, aggregated over seeds) "
            "or single runs above, or tick runs in the run table and press **Compare**.",
            icon=":material/compare_arrows:",
        )
        return

    stat, smooth, threshold = _settings()
    figs = figures.settings()
    runs = _load_runs(provider, selection.groups)
    _follow(ctx, provider, cursor, runs)
    order = [g.label for g in selection.groups]
    table = _run_table(provider, runs, smooth, threshold)
    inputs = _inputs_key(runs, smooth, threshold)
    file_stem = "compare-" + slug(",".join(order), limit=60)
    with top_right:
        share = st.popover(
            "Share", icon=":material/link:", width="stretch", key=SHARE_KEY, on_change="rerun"
        )
    if share.open:  # its st.code costs the browser a 1.5 MB highlighter: only when asked
        with share:
            st.caption("This comparison with its settings; the address bar holds it too.")
            st.code(_share_link(), language=None, wrap_lines=True)

    _headline_section(table, inputs, order, stat, selection.groups)
    _data_notes(runs)
    train_aggs = {
        g.label: _train_aggregate(
            provider, [r for r in runs if r.version == g.label], smooth, stat
        )
        for g in selection.groups
    }
    eval_aggs = {
        g.label: _eval_aggregate([r for r in runs if r.version == g.label], stat)
        for g in selection.groups
    }
    # One view of the curves at a time (kept in the URL as ?curves=): only the chosen tab is
    # computed and drawn. Drawing all eight charts held the page's first render up (each
    # plotly figure ~0.5 s of the browser's main thread here; benchmarks/README.md).
    c_key, c_sync = urlstate.url_bound(CURVES, parse_curves, CURVE_TABS[0][1], curves_param)
    tabs = st.tabs([label for _, label in CURVE_TABS], key=c_key, on_change="rerun")
    shown = c_sync()
    for tab, (view, label) in zip(tabs, CURVE_TABS, strict=True):
        if label != shown:
            continue
        with tab:
            if view == "aggregated":
                _aggregate_section(
                    selection.groups, runs, train_aggs, eval_aggs, stat, smooth, file_stem, figs
                )
            elif view == "side":
                _side_by_side(
                    provider, selection.groups, runs, train_aggs, eval_aggs, smooth, file_stem, figs
                )
            else:
                _overlay_section(provider, runs, smooth, file_stem, figs)
    _summary_section(table, inputs, order, stat, threshold, train_aggs, eval_aggs, file_stem)
    _reliability(table, selection.groups, stat, figs)
    _config_section(provider, runs, ctx.shown)
    drawn: _Follow | None = st.session_state.get(_FOLLOW_KEY)
    if drawn is not None:  # the pause between two full draws counts from the end of this one
        st.session_state[_FOLLOW_KEY] = replace(drawn, drawn_at=time.monotonic())


def _reliability(
    table: pd.DataFrame,
    groups: Sequence[VersionGroup],
    stat: Statistic,
    figs: figures.FigureSettings,
) -> None:
    """The sweep view's rliable panel over the compared entries (versions or config groups),
    on each run's headline metric."""
    from dashboard.sweep_view import reliability_panel
    from runlog.analysis.sweep import Group, Grouping, score_groups

    metric = headline_metric(table)
    scores = dict(zip(table["run"], table[metric].astype(float), strict=True))
    entries = tuple(Group({"entry": g.label}, g.runs, name=g.label) for g in groups)
    score = "final-eval" if metric == HEADLINE_METRIC else "final-train"
    result = score_groups(Grouping(("entry",), entries, ()), scores, stat, score=score)
    reliability_panel(result, None, figs, "compare.rliable", target_input=True)


# ----- following live runs ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Follow:
    """What this session's page was drawn from, for the live poll (`_follow_fragment`)."""

    runs: tuple[str, ...]
    cursor: int
    """The watcher's sequence this session has seen (taken before the page read the logs)."""
    stamp: tuple[tuple[int, int], ...]
    """(train revision, eval revision) of each run, as drawn."""
    listing: int
    """The provider's listing revision as drawn: it bumps when runs appear or vanish."""
    drawn_at: float
    dirty: bool = False
    """A compared run changed since the page was drawn: redraw when CHART_REFRESH allows."""


def _stamp(provider: RunProvider, runs: Sequence[str]) -> tuple[tuple[int, int], ...]:
    return tuple(
        (provider.log(rel, "train").revision, provider.log(rel, "eval").revision) for rel in runs
    )


def _follow(
    ctx: AppContext, provider: RunProvider, cursor: int, runs: Sequence[RunData]
) -> None:
    """Remember what the page is drawn from, and start polling for changes to it."""
    st.session_state[_FOLLOW_KEY] = _Follow(
        runs=tuple(r.rel for r in runs),
        cursor=cursor,
        stamp=tuple((r.train.revision, r.evals.revision) for r in runs),
        listing=provider.listing_revision,
        drawn_at=time.monotonic(),
    )
    _follow_fragment(ctx)


@st.fragment(run_every=POLL_INTERVAL)
def _follow_fragment(ctx: AppContext) -> None:
    """Rerun the app when a compared run got new data (at most every CHART_REFRESH s).

    Like the run view's poll: a poll without a change costs one cheap check
    (`provider.changed`, with this session's cursor); only a change of a compared run (or of
    the set of runs) reads the logs' new lines, whose revisions tell whether they grew.
    """
    follow: _Follow | None = st.session_state.get(_FOLLOW_KEY)
    if follow is None:
        return
    provider = ctx.provider()
    cursor, changed = provider.changed(follow.cursor, follow.runs)
    dirty = follow.dirty
    if changed and not dirty:
        provider.refresh()
        dirty = (
            provider.listing_revision != follow.listing
            or _stamp(provider, follow.runs) != follow.stamp
        )
    follow = replace(follow, cursor=cursor, dirty=dirty)
    st.session_state[_FOLLOW_KEY] = follow
    if dirty and time.monotonic() - follow.drawn_at >= CHART_REFRESH:
        st.rerun(scope="app")
    n_live = sum(
        1
        for rel in follow.runs
        if (s := provider.run(rel)) is not None and s.state is RunState.LIVE
    )
    if n_live:
        st.caption(
            f":material/sync: {n_live} of {len(follow.runs)} compared runs are live: the "
            f"page follows their new data (redrawn at most every {CHART_REFRESH:g} s)."
        )


def _picker(known: Sequence[str], selection: Selection, url_items: Sequence[str]) -> None:
    versions: dict[str, int] = {}
    for rel in known:
        versions[version_of(rel)] = versions.get(version_of(rel), 0) + 1
    options = [*sorted(versions), *known]
    labels = {v: f"{v} · all {n} run{'s' if n != 1 else ''}" for v, n in versions.items()}
    # Reseed the widget whenever the URL changed under it (a link, the run table, back/forward).
    if st.session_state.get(_PICK_SEEN) != tuple(url_items):
        st.session_state[_PICK_KEY] = [i for i in selection.items if i in set(options)]
        st.session_state[_PICK_SEEN] = tuple(url_items)

    def on_change() -> None:
        picked = tuple(st.session_state.get(_PICK_KEY, []))
        st.query_params[urlstate.COMPARE] = ",".join(picked)
        st.session_state[_PICK_SEEN] = picked

    st.multiselect(
        "Versions or runs to compare",
        options,
        key=_PICK_KEY,
        format_func=lambda item: labels.get(item, item),
        on_change=on_change,
        placeholder="name/version (all its runs) or name/version/run_id",
        help="A version aggregates all its runs (seeds); single runs are grouped by their "
        "version. The choice is kept in the URL (?compare=...).",
    )


def _settings() -> tuple[Statistic, float, float | None]:
    s_key, s_sync = urlstate.url_bound(STAT, parse_stat, DEFAULT_STAT)
    m_key, m_sync = urlstate.url_bound(
        urlstate.SMOOTH, urlstate.parse_smooth, urlstate.DEFAULT_SMOOTH, urlstate.format_smooth
    )
    t_key, t_sync = urlstate.url_bound(THRESHOLD, parse_threshold, None, format_threshold)
    cols = st.columns([1, 2, 1.2], vertical_alignment="bottom")
    cols[0].segmented_control(
        "Centre line",
        STAT_CHOICES,
        key=s_key,
        format_func=lambda s: STAT_NAMES.get(s, str(s)),
        help="IQM: mean of the middle 50% of runs (robust to one odd seed); mean: all runs. "
        "Bands are 95% bootstrap confidence intervals over runs.",
    )
    cols[1].slider(
        "Smoothing (EMA weight)",
        0.0,
        urlstate.MAX_SMOOTH,
        step=0.01,
        key=m_key,
        help="The run view's smoothing: TensorBoard-style debiased EMA over every episode, "
        "applied before aggregating; 0 = off.",
    )
    cols[2].number_input(
        "Reward threshold",
        value=None,
        key=t_key,
        placeholder="none",
        step=10.0,
        help="Env steps until the smoothed train reward first reaches this value (summary table).",
    )
    stat, smooth, threshold = s_sync(), m_sync(), t_sync()
    return stat, float(smooth), None if threshold is None else float(threshold)


def parse_curves(raw: str | None) -> str:
    """The tab label of `?curves=` (a view name; anything else: the first tab)."""
    return dict(CURVE_TABS).get(raw or "", CURVE_TABS[0][1])


def curves_param(label: str) -> str:
    """The `?curves=` value of a tab label (the inverse of parse_curves)."""
    return next((view for view, name in CURVE_TABS if name == label), CURVE_TABS[0][0])


def _share_link() -> str:
    params = {key: st.query_params.get_all(key) for key in st.query_params}
    query = urlstate.link(**{key: values for key, values in params.items() if values})
    base = st.context.url or ""
    return base.split("?", 1)[0] + query


def _run_columns() -> dict[str, Any]:
    column = st.column_config
    steps = {"env_steps", "best_eval_step", "final_eval_step", "steps_to_threshold"}
    config: dict[str, Any] = {"run": column.TextColumn("run", pinned=True)}
    for name in ("episodes", "eval_blocks", *steps, *METRIC_NAMES):
        label = METRIC_NAMES.get(name, name.replace("_", " "))
        counts = name in steps or name in ("episodes", "eval_blocks")
        config[name] = column.NumberColumn(
            label, format=TABLE_INT_FORMAT if counts else TABLE_FLOAT_FORMAT
        )
    return config


def _headline_section(
    table: pd.DataFrame,
    inputs: tuple[object, ...],
    order: Sequence[str],
    stat: Statistic,
    groups: Sequence[VersionGroup],
) -> None:
    metric = headline_metric(table)
    versions = memo(
        ("cmp.headline", *inputs, metric, stat),
        lambda: version_summary(
            table, metrics=[metric], statistic=stat, confidence=CONFIDENCE, n_boot=N_BOOT, seed=SEED
        ),
    )
    pairs = pairwise_improvement(table, metric=metric)
    lines = headline(versions, pairs, order, stat)
    with st.container(border=True, key="compare-headline"):
        if lines:
            for line in lines:
                st.markdown(line)
        else:
            st.markdown(f"**One version selected ({md_name(order[0])})**: add another to compare.")
        names = {label: md_name(short) for label, short in short_labels(order).items()}
        cols = st.columns(min(len(order), 6))
        for i, group in enumerate(groups):
            rows = versions[versions["version"] == group.label]
            if rows.empty:
                continue
            row = rows.iloc[0]
            col = cols[i % len(cols)]
            col.metric(
                f"{names[group.label]} · {METRIC_NAMES[metric]}, {STAT_NAMES[stat]} over runs",
                fmt(float(row["value"])),
                border=False,
                help="Over runs; 95% percentile bootstrap CI resampling runs.",
            )
            low, high = float(row["ci_low"]), float(row["ci_high"])
            ci = f"95% CI [{fmt(low)}, {fmt(high)}]" if math.isfinite(low) else "no CI"
            col.caption(f"{ci} · {cc.n_label(int(row['n_runs']), len(group.runs))}")
        if metric == FALLBACK_METRIC:
            st.caption(
                "No run has an eval block yet: compared on the final smoothed train reward instead."
            )


def _data_notes(runs: Sequence[RunData]) -> None:
    notes = []
    for run in runs:
        where = md_code(run.rel)
        if run.train.problem:
            notes.append(f"{where}: {md_code(run.train.problem)}")
        elif run.train.rows == 0:
            notes.append(f"{where}: no training episode yet.")
        if run.evals.problem:
            notes.append(f"{where}: {md_code(run.evals.problem)}")
        for kind, log_name, snapshot in (
            ("train", TRAIN_LOG, run.train),
            ("eval", EVAL_LOG, run.evals),
        ):
            message = bad_lines_message(kind, log_name, snapshot.bad_lines)
            if message:
                notes.append(f"{where}: {message}")
    if notes:
        with st.expander(f"Data notes ({len(notes)})", icon=":material/info:"):
            for note in notes:
                st.markdown(f"- {note}")


def _grid_note(agg: AggregateCurve, n_total: int) -> str:
    if len(agg.x) == 0:
        return "no overlap" if agg.n_runs else "no data"
    span = f"{agg.x[0]:,.0f} to {agg.x[-1]:,.0f}" if len(agg.x) > 1 else f"{agg.x[0]:,.0f}"
    return f"{cc.n_label(agg.n_runs, n_total)}, {len(agg.x)} steps over {span}"


def _aggregate_section(
    groups: Sequence[VersionGroup],
    runs: Sequence[RunData],
    train_aggs: dict[str, AggregateCurve],
    eval_aggs: dict[str, AggregateCurve],
    stat: Statistic,
    smooth: float,
    file_stem: str,
    figs: figures.FigureSettings,
) -> None:
    name = STAT_NAMES[stat]
    st.caption(
        f"Centre line: {name} over runs; band: 95% bootstrap CI (runs resampled within each "
        f"version, {N_BOOT:,} resamples, fixed seed). Train reward (EMA {smooth:g}) is "
        f"interpolated on a {GRID_POINTS}-point env-step grid covering only the steps where "
        "every included run has data; eval means are taken at the eval steps every run has."
        + (
            " With 3 runs or fewer the IQM trims nothing: it equals the mean."
            if stat == "iqm" and max(len(g.runs) for g in groups) <= 3
            else ""
        )
    )
    sizes = {g.label: len(g.runs) for g in groups}
    left, right = st.columns(2)
    train_curves = [
        cc.VersionCurve(g.label, cc.version_color(i), train_aggs[g.label], sizes[g.label])
        for i, g in enumerate(groups)
    ]
    eval_curves = [
        cc.VersionCurve(g.label, cc.version_color(i), eval_aggs[g.label], sizes[g.label])
        for i, g in enumerate(groups)
    ]
    with left:
        note = " · ".join(
            f"{g.label}: {_grid_note(train_aggs[g.label], sizes[g.label])}" for g in groups
        )
        fig = cc.aggregate_figure(
            train_curves,
            title=f"Training reward, {name} over seeds",
            y_title="episode reward (smoothed)",
            note=note,
        )
        figures.plot(fig, "compare.agg.train", f"{file_stem}-train-aggregate", figs)
    with right:
        if any(len(a.x) for a in eval_aggs.values()):
            note = " · ".join(
                f"{g.label}: {_grid_note(eval_aggs[g.label], sizes[g.label])}" for g in groups
            )
            fig = cc.aggregate_figure(
                eval_curves,
                title=f"Eval reward, {name} over seeds",
                y_title="eval block mean",
                note=note,
                markers=True,
            )
            figures.plot(fig, "compare.agg.eval", f"{file_stem}-eval-aggregate", figs)
        else:
            st.info(
                "No eval step shared by the runs of a version (or no eval yet).",
                icon=":material/hourglass_empty:",
            )
    for g in groups:
        for label, agg in (("train", train_aggs[g.label]), ("eval", eval_aggs[g.label])):
            if agg.n_runs == 1:
                st.caption(
                    f"{md_name(g.label)} ({label}): only 1 run has data, so no band is drawn."
                )


def _side_by_side(
    provider: RunProvider,
    groups: Sequence[VersionGroup],
    runs: Sequence[RunData],
    train_aggs: dict[str, AggregateCurve],
    eval_aggs: dict[str, AggregateCurve],
    smooth: float,
    file_stem: str,
    figs: figures.FigureSettings,
) -> None:
    st.caption("One column per version, same axes: each version's runs (thin) under its aggregate.")
    train_lines = {r.rel: _train_line(provider, r, smooth) for r in runs}
    eval_lines = {r.rel: _eval_line(r) for r in runs}
    # One range for every panel, so shapes compare at a glance.
    x_train = cc.padded_range([line.x for line in train_lines.values()], floor_zero=True)
    y_train = cc.padded_range(
        [line.y for line in train_lines.values()]
        + [a.low for a in train_aggs.values()]
        + [a.high for a in train_aggs.values()]
    )
    x_eval = cc.padded_range([line.x for line in eval_lines.values()], floor_zero=True)
    y_eval = cc.padded_range(
        [line.y for line in eval_lines.values()]
        + [a.low for a in eval_aggs.values()]
        + [a.high for a in eval_aggs.values()]
    )
    for start in range(0, len(groups), SIDE_BY_SIDE):
        row = groups[start : start + SIDE_BY_SIDE]
        cols = st.columns(min(len(groups), SIDE_BY_SIDE))  # equal widths on every row
        for offset, (col, group) in enumerate(zip(cols, row, strict=False)):
            index = start + offset
            color = cc.version_color(index)
            mine = [r for r in runs if r.version == group.label]
            with col, st.container(border=True, key=f"compare-panel-{index}"):
                n = train_aggs[group.label].n_runs
                st.markdown(
                    f"**:material/label: {md_name(group.label)}** · "
                    f"{cc.n_label(n, len(group.runs))}"
                )
                stem = f"{file_stem}-{slug(group.label)}"
                fig = cc.aggregate_figure(
                    [cc.VersionCurve(group.label, color, train_aggs[group.label], len(group.runs))],
                    runs=[train_lines[r.rel] for r in mine],
                    title="Training reward",
                    y_title="reward (smoothed)",
                    x_range=x_train,
                    y_range=y_train,
                )
                figures.plot(fig, f"compare.side.train.{index}", f"{stem}-train", figs)
                if any(not r.blocks.empty for r in mine):
                    fig = cc.aggregate_figure(
                        [
                            cc.VersionCurve(
                                group.label, color, eval_aggs[group.label], len(group.runs)
                            )
                        ],
                        runs=[eval_lines[r.rel] for r in mine],
                        title="Eval reward",
                        y_title="eval block mean",
                        x_range=x_eval,
                        y_range=y_eval,
                        markers=True,
                    )
                    figures.plot(fig, f"compare.side.eval.{index}", f"{stem}-eval", figs)
                else:
                    st.caption("No eval yet.")


def _overlay_section(
    provider: RunProvider,
    runs: Sequence[RunData],
    smooth: float,
    file_stem: str,
    figs: figures.FigureSettings,
) -> None:
    lines = [_train_line(provider, r, smooth) for r in runs]
    shown = sum(len(line.x) for line in lines)
    total = sum(r.train.rows for r in runs)
    note = f"EMA {smooth:g}" if smooth > 0 else "raw (no smoothing)"
    if shown < total:
        note += f" · {shown:,} of {total:,} points"
    left, right = st.columns(2)
    with left:
        fig = cc.overlay_figure(
            lines, title="Training reward, every run", y_title="episode reward", note=note
        )
        figures.plot(fig, "compare.overlay.train", f"{file_stem}-train-runs", figs)
    with right:
        with_eval = [r for r in runs if not r.blocks.empty]
        if with_eval:
            fig = cc.overlay_figure(
                [_eval_line(r) for r in with_eval],
                title="Eval reward, every run",
                y_title="eval block mean",
                note="mean per eval block",
            )
            figures.plot(fig, "compare.overlay.eval", f"{file_stem}-eval-runs", figs)
        else:
            st.info("No eval yet in any selected run.", icon=":material/hourglass_empty:")


def version_table(versions: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """`version_summary` long rows -> one row per version, "value [low, high]" per metric."""
    rows = []
    for version, group in versions.groupby("version", sort=False):
        row: dict[str, object] = {
            "version": names.get(str(version), str(version)),
            "runs": int(group["n_total"].iloc[0]),
        }
        for _, item in group.iterrows():
            label = METRIC_NAMES.get(str(item["metric"]), str(item["metric"]))
            row[label] = fmt_estimate(item, with_n=True)
        rows.append(row)
    return pd.DataFrame(rows)


def pairs_matrix(pairs: pd.DataFrame, order: Sequence[str], names: dict[str, str]) -> pd.DataFrame:
    """P(row beats column) as a square table of percentages ("—" on the diagonal)."""
    labels = [names[v] for v in order]
    matrix = pd.DataFrame(
        "—", index=pd.Index(labels, name="P(row beats column)"), columns=labels, dtype="object"
    )
    for _, row in pairs.iterrows():
        a, b, p = str(row["version_a"]), str(row["version_b"]), float(row["p_a_beats_b"])
        if a in names and b in names and math.isfinite(p):
            matrix.loc[names[a], names[b]] = f"{p:.0%}"
    return matrix


def curves_frame(
    train_aggs: dict[str, AggregateCurve], eval_aggs: dict[str, AggregateCurve]
) -> pd.DataFrame:
    """The aggregated curves as one long table (the CSV export)."""
    parts = []
    for kind, aggs in (("train", train_aggs), ("eval", eval_aggs)):
        for version, agg in aggs.items():
            n = len(agg.x)
            nan = np.full(n, np.nan)
            parts.append(
                pd.DataFrame(
                    {
                        "version": [version] * n,
                        "curve": [kind] * n,
                        "statistic": [agg.statistic] * n,
                        "n_runs": [agg.n_runs] * n,
                        "env_step": agg.x,
                        "center": agg.center,
                        "ci_low": agg.low if agg.low is not None else nan,
                        "ci_high": agg.high if agg.high is not None else nan,
                    }
                )
            )
    columns = ["version", "curve", "statistic", "n_runs", "env_step", "center", "ci_low", "ci_high"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def _summary_section(
    table: pd.DataFrame,
    inputs: tuple[object, ...],
    order: Sequence[str],
    stat: Statistic,
    threshold: float | None,
    train_aggs: dict[str, AggregateCurve],
    eval_aggs: dict[str, AggregateCurve],
    file_stem: str,
) -> None:
    st.subheader("Summary", anchor=False)
    names = short_labels(order)
    versions = memo(
        ("cmp.versions", *inputs, stat),
        lambda: version_summary(
            table, statistic=stat, confidence=CONFIDENCE, n_boot=N_BOOT, seed=SEED
        ),
    )
    pairs = pairwise_improvement(table, metric=headline_metric(table))
    thr = "no threshold set" if threshold is None else f"threshold {threshold:g}"
    st.caption(
        f"Per version: {STAT_NAMES[stat]} of the per-run values [95% bootstrap CI]. "
        f"Env steps to threshold: first step where the smoothed train reward reaches it "
        f"({thr}). Eval AUC: area under the eval-mean curve / its step span = the average "
        "eval reward over training."
    )
    st.dataframe(
        version_table(versions, names),
        hide_index=True,
        width="stretch",
        key="compare.versions",
        placeholder=NO_VALUE,
    )
    if len(order) > 1:
        st.markdown(
            f"**P(row beats column)**, share of seed pairs, "
            f"{METRIC_NAMES[headline_metric(table)]} (ties count ½)"
        )
        st.dataframe(
            pairs_matrix(pairs, order, names),
            width="content",
            key="compare.pairs",
            placeholder=NO_VALUE,
        )
    st.markdown("**Per run**")
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        key="compare.runs",
        column_config=_run_columns(),
        placeholder=NO_VALUE,  # no eval yet, threshold never reached: never "None"
    )
    cols = st.columns(4)
    downloads = (
        ("Run summary (CSV)", table, "runs"),
        ("Version summary (CSV)", versions, "versions"),
        ("P(A beats B) (CSV)", pairs, "pairs"),
        ("Aggregated curves (CSV)", curves_frame(train_aggs, eval_aggs), "curves"),
    )
    for col, (label, frame, suffix) in zip(cols, downloads, strict=True):
        col.download_button(
            label,
            frame.to_csv(index=False).encode("utf-8"),
            file_name=f"{file_stem}-{suffix}.csv",
            mime="text/csv",
            icon=":material/download:",
            key=f"compare.download.{suffix}",
            on_click="ignore",
            width="stretch",
        )


def _cell(value: object) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _config_section(
    provider: RunProvider, runs: Sequence[RunData], shown: Callable[[str], str]
) -> None:
    st.subheader("Config diff", anchor=False)
    key, sync = urlstate.url_bound(
        CONFIG_KEYS, parse_all_keys, False, lambda on: ALL_KEYS if on else "differ"
    )
    st.toggle("Show all keys (not only those that differ)", key=key)
    show_all = bool(sync())
    configs: dict[str, object] = {}
    problems = []
    for run in runs:
        config, problem = provider.config(run.rel)
        configs[run.rel] = config
        if problem:
            problems.append(f"{md_code(run.rel)}: {md_code(shown(problem))}")
    diff = diff_configs(configs)
    listed = diff if show_all else differing_only(diff)
    n_diff = int(diff["differs"].sum())
    st.caption(
        f"{n_diff} of {len(diff)} keys differ"
        + ("" if show_all else " (showing those)")
        + f". `{MISSING}` = the key is absent from that run's config. The crate's "
        "`[algorithm, encoder, mapper]` array shows as `config.*`, `encoder.*`, `mapper.*`."
    )
    for problem in problems:
        st.caption(problem)
    if listed.empty:
        st.info(
            "Every key is the same in all compared runs."
            if len(diff)
            else "No config.json in any compared run.",
            icon=":material/check:",
        )
        return
    cells = listed.drop(columns="differs").map(_cell)
    # Same name everywhere: "v1/20260321_100007" says it all.
    names = short_labels(list(cells.columns))
    cells = cells.rename(columns=names)
    if show_all:
        cells.insert(0, "differs", listed["differs"].map(lambda d: "≠" if d else ""))
    styled = cells.style.map(lambda v: "color: #9CA3AF; font-style: italic" if v == MISSING else "")
    st.dataframe(
        styled,
        width="stretch",
        key="compare.config",
        height=min(38 + 35 * len(cells), 600),
        placeholder=NO_VALUE,
    )
