"""The sweep view (`?sweep=<names, versions or runs>`): which config wins, how sure, and which
parameters matter.

    picker + settings    entries, score, statistic, group-by keys, target: all in the URL
    headline             the best group with its interval; plain warnings (n < 3, overlap)
    group table          varying keys, n, value, CI; sortable; rows ticked -> "Compare these"
                         opens the compare view with ?groupby= (one band per group)
    parallel coordinates one line per group (seeds collapsed), an axis per varying key (log
                         for positive numbers spanning >= 10x, categories for text and
                         booleans) and one for the score. Brushing an axis filters the table:
                         plotly's brush stays in the browser, so a small bridge component
                         (`_BRUSH`) relays the axes' constraint ranges to Python.
    parameter effects    per key: each value's groups (points with CIs) and Spearman's rho
                         over group scores, or why nothing can be said
    rliable              performance profile, optimality gap against a target, probability
                         of improvement between the top groups

The table is drawn first, the charts after it: a new session's first run holds every chart
back (`FigureSettings.held`: their places kept), and the bridge, once the browser has painted
the table, asks for the run that draws them (`charts_painted`). Plotly's first chart costs the
browser its code, and the WebGL parallel coordinates, rendered in software on a machine
without a GPU, seconds of the thread that paints the page: the table does not wait for them.
And before the sweep is scored, a hidden empty grid (`preload_grid`) has the browser load the
grid's own code meanwhile, which the table would otherwise wait for once it comes.

All numbers come from `runlog.analysis.sweep` over the data provider's eval blocks (and the
train series for the final-train score). URL entries are untrusted: checked against the root.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard import figures, urlstate
from dashboard.charts import slug
from dashboard.compare_view import parse_stat, resolve_selection
from dashboard.context import AppContext
from dashboard.data import memo
from dashboard.text import TABLE_FLOAT_FORMAT, format_number, md_code, plot_text
from runlog.analysis.configs import MISSING, config_keys
from runlog.analysis.stats import Statistic
from runlog.analysis.sweep import (
    SCORE_LABELS,
    SCORES,
    GroupScore,
    SweepResult,
    group_runs,
    optimality_gap_ci,
    parameter_effects,
    performance_profile,
    probability_of_improvement_ci,
    score_groups,
    sweep_warnings,
)
from runlog.errors import OutsideRootError
from runlog.format.paths import resolve_inside
from runlog.format.rundirs import run_rel
from runlog.provider import RunProvider
from runlog.sweep_command import run_scores

SCORE = "score"
TARGET = "target"
DEFAULT_SCORE = "final-eval"
STAT_NAMES = {"iqm": "IQM", "mean": "mean"}
TOP_PAIRS = 4
"""Probability of improvement is shown between the best this many groups."""
LOG_RATIO = 10.0
"""A positive numeric key whose values span at least this ratio gets a log axis."""
PARCOORDS_META = "runlog-sweep-parcoords"
BRIDGE = "sweep.brush"
"""The key of the bridge component (`_BRUSH`): its state holds the brush and `painted`."""
HOLD_MS = 3000
"""The bridge says the table is painted after this long at most (a grid never painted)."""


def key_class(key: str) -> str:
    """The class Streamlit gives the element of a keyed widget or container: st-key-<key>,
    its dots made dashes."""
    return "st-key-" + key.replace(".", "-")


TABLE_KEY = "sweep.table"
TABLE_CLASS = key_class(TABLE_KEY)
PRELOAD_KEY = "sweep-grid-preload"

_BRUSH_JS = """
export default function ({ data, setStateValue }) {
  let hooked = null;
  const find = () => [...document.querySelectorAll('.js-plotly-plot')].find(
    (gd) => gd.layout && gd.layout.meta === data.meta && gd.on);
  const send = (gd) => {
    const dims = (gd.data[0].dimensions || []).map((d) => d.constraintrange ?? null);
    setStateValue('ranges', { meta: data.meta, dims });
  };
  const hook = () => {
    const gd = find();
    if (!gd || gd === hooked) return;
    hooked = gd;
    gd.on('plotly_restyle', () => send(gd));
  };
  hook();
  const timer = setInterval(hook, 250);
  // Charts held back (`data.held`): say once the table's grid is painted, or after HOLD_MS.
  let waiting = null;
  if (data.held) {
    const started = performance.now();
    const painted = () => {
      const canvas = document.querySelector(`.${data.table} [data-testid="stDataFrame"] canvas`);
      const box = canvas && canvas.getBoundingClientRect();
      return box && box.width > 0 && box.height > 0;
    };
    waiting = setInterval(() => {
      const seen = painted();
      if (!seen && performance.now() - started < data.hold_ms) return;
      clearInterval(waiting);
      // Why the charts were let go, on the page for whoever wonders (and the e2e test).
      document.documentElement.dataset.runlogCharts = seen ? 'table-painted' : 'timed-out';
      // After the next frame: the grid's first paint is on screen before plotly starts.
      requestAnimationFrame(() => setTimeout(() => setStateValue('painted', true), 0));
    }, 50);
  }
  return () => { clearInterval(timer); clearInterval(waiting); };
}
"""
_BRUSH = st.components.v2.component("runlog_sweep_brush", js=_BRUSH_JS)


# ----- settings in the URL ---------------------------------------------------------------------


def parse_score(raw: str | None) -> str:
    return raw if raw in SCORES else DEFAULT_SCORE


def parse_keys(raw: str | None) -> list[str]:
    """Config keys of `?groupby=` ("a,b"), as the tag filter reads its list."""
    return list(urlstate.split_tags(raw))


def parse_target(raw: str | None) -> float | None:
    try:
        value = float(raw) if raw else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


# ----- the selection ---------------------------------------------------------------------------


def expand_entries(
    provider: RunProvider, items: Sequence[str], known: Sequence[str]
) -> tuple[list[str], list[str]]:
    """(runs, problems) for sweep entries: a name (every run under it), a version or a run.
    Names become their versions; the rest is checked by the compare view's rules."""
    entries: list[str] = []
    problems: list[str] = []
    for item in items:
        try:
            rel = run_rel(provider.root, resolve_inside(provider.root, item))
        except OutsideRootError as exc:
            problems.append(f"{md_code(item)} was skipped: {md_code(str(exc))}.")
            continue
        if rel != "." and "/" not in rel:  # a name: all of its versions
            versions = sorted(
                {"/".join(r.split("/")[:2]) for r in known if r.startswith(rel + "/")}
            )
            if not versions:
                problems.append(f"{md_code(item)} was skipped: no runs under that name.")
            entries += versions
        else:
            entries.append(item)
    selection = resolve_selection(provider.root, entries, known)
    runs = list(dict.fromkeys(r for g in selection.groups for r in g.runs))
    return runs, problems + list(selection.problems)


# ----- computation (memoised on every input) ---------------------------------------------------


def run_stamp(provider: RunProvider, runs: Sequence[str]) -> tuple[object, ...]:
    """Names the state of `runs` (their summaries): a memo key part."""
    summaries = {s.rel: s for s in provider.runs()}
    return tuple(
        (r, s.log_bytes, s.train_episodes, s.eval_episodes, s.last_write)
        if (s := summaries.get(r)) is not None
        else (r,)
        for r in runs
    )


def run_configs(
    provider: RunProvider, runs: Sequence[str], stamp: tuple[object, ...]
) -> dict[str, object | None]:
    """{run: config.json} (None where absent or unreadable), read once per `stamp`."""
    return memo(("sweep.configs", stamp), lambda: {r: provider.config(r)[0] for r in runs})


def sweep_result(
    provider: RunProvider,
    runs: Sequence[str],
    score: str,
    stat: Statistic,
    keys: Sequence[str],
    stamp: tuple[object, ...],
) -> SweepResult:
    def build() -> SweepResult:
        grouping = group_runs(run_configs(provider, runs, stamp), keys or None)
        scores = run_scores(provider, runs, score)
        return score_groups(grouping, scores, stat, score=score)

    return memo(("sweep", stamp, score, stat, tuple(keys)), build)


def is_log_axis(values: Sequence[object]) -> bool:
    numbers = [float(v) for v in values if _is_number(v)]  # type: ignore[arg-type]
    if len(numbers) != len(values) or not numbers or min(numbers) <= 0:
        return False
    return max(numbers) / min(numbers) >= LOG_RATIO


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def axis_values(values: Sequence[object]) -> tuple[list[float], dict[str, Any]]:
    """(coordinates, plotly dimension extras) of one parameter's group values: numbers as they
    are (log10 when log-spaced, ticks labelled with the values), anything else as categories."""
    if values and all(_is_number(v) for v in values):
        numbers = [float(v) for v in values]  # type: ignore[arg-type]
        if is_log_axis(values):
            ticks = sorted(set(numbers))
            return [math.log10(v) for v in numbers], {
                "tickvals": [math.log10(v) for v in ticks],
                "ticktext": [f"{v:g}" for v in ticks],
            }
        distinct = sorted(set(numbers))
        if len(distinct) <= 12:  # a grid: tick exactly the values tried
            return numbers, {"tickvals": distinct, "ticktext": [f"{v:g}" for v in distinct]}
        return numbers, {}
    labels = sorted({_label(v) for v in values})
    codes = {label: i for i, label in enumerate(labels)}
    return [float(codes[_label(v)]) for v in values], {
        "tickvals": list(range(len(labels))),
        "ticktext": [plot_text(label) for label in labels],
    }


def _label(value: object) -> str:
    if value == MISSING:
        return "(missing)"
    return str(value).lower() if isinstance(value, bool) else str(value)


def brushed(coordinates: Sequence[Sequence[float]], ranges: Sequence[Any]) -> list[bool]:
    """Which lines (groups) lie inside every brushed axis. `coordinates[axis][line]`;
    `ranges[axis]` is None, [lo, hi] or a list of [lo, hi] (plotly's constraintrange)."""
    n = len(coordinates[0]) if coordinates else 0
    keep = [True] * n
    for axis, span in enumerate(ranges):
        if not span or axis >= len(coordinates):
            continue
        spans = span if isinstance(span[0], list | tuple) else [span]
        for line in range(n):
            value = coordinates[axis][line]
            if not any(lo <= value <= hi for lo, hi in spans):
                keep[line] = False
    return keep


# ----- the page ----------------------------------------------------------------------------


def render(ctx: AppContext) -> None:
    provider = ctx.provider()
    provider.refresh()
    known = [s.rel for s in provider.runs()]
    route = urlstate.current_route()

    if st.button("All runs", icon=":material/arrow_back:", key="sweep.back", type="tertiary"):
        urlstate.navigate()
    st.title("Sweep", anchor=False)
    _picker(known, route.sweep)
    runs, problems = expand_entries(provider, route.sweep, known)
    for problem in problems:
        st.warning(ctx.shown(problem), icon=":material/block:")
    if not runs:
        st.info(
            "Pick the runs of a sweep above: a name, versions or runs. They are grouped by "
            "config with the seeds collapsed (keys named `seed`, `*_seed`, `seed_*`).",
            icon=":material/grid_view:",
        )
        return

    preload_grid()
    stamp = run_stamp(provider, runs)
    score, stat, keys, target = _settings(config_keys(run_configs(provider, runs, stamp).values()))
    figs = figures.settings()
    result = sweep_result(provider, runs, score, stat, keys, stamp)
    _headline(result, len(runs))
    if not result.groups:
        return
    scored = [g for g in result.groups if g.n > 0]
    coordinates, figure = parcoords_figure(result, scored)
    held = not charts_painted()
    ranges = _ranges(bridge_value("ranges"), len(coordinates))
    keep = brushed(coordinates, ranges) if any(ranges) else [True] * len(scored)
    shown = [g for g, k in zip(scored, keep, strict=True) if k]
    shown += [g for g in result.groups if g.n == 0]
    _group_table(result, shown)
    # The bridge after the table (its state, read above, is the browser's): nothing the
    # browser has to load comes between the page's top and the table.
    _BRUSH(
        key=BRIDGE,
        data={"meta": PARCOORDS_META, "held": held, "hold_ms": HOLD_MS, "table": TABLE_CLASS},
        default={"ranges": None, "painted": False},
        on_ranges_change=lambda: None,
        on_painted_change=lambda: None,
        height=0,
    )
    figs = dataclasses.replace(figs, held=held)
    st.subheader("Parallel coordinates", anchor=False)
    st.caption(
        "One line per group (seeds collapsed), coloured by its score. Drag along an axis to "
        "filter the table above; click the axis outside the brush to clear it."
    )
    figures.plot(figure, "sweep.parcoords", "sweep-parcoords", figs)
    _effects(result, figs)
    reliability_panel(result, target, figs)


def _picker(known: Sequence[str], items: Sequence[str]) -> None:
    names = sorted({r.split("/")[0] for r in known})
    versions = sorted({"/".join(r.split("/")[:2]) for r in known})
    options = [*names, *versions, *known]
    key = "sweep.pick"
    if st.session_state.get("sweep.pick.url") != tuple(items):
        st.session_state[key] = [i for i in items if i in set(options)]
        st.session_state["sweep.pick.url"] = tuple(items)

    def on_change() -> None:
        picked = tuple(st.session_state.get(key, []))
        st.query_params[urlstate.SWEEP] = ",".join(picked)
        st.session_state["sweep.pick.url"] = picked

    st.multiselect(
        "Runs of the sweep",
        options,
        key=key,
        on_change=on_change,
        placeholder="a name, name/version, or name/version/run_id",
        help="Every run of a name or version, or single runs. Kept in the URL (?sweep=...).",
    )


def _settings(keys_known: Sequence[str]) -> tuple[str, Statistic, list[str], float | None]:
    s_key, s_sync = urlstate.url_bound(SCORE, parse_score, DEFAULT_SCORE)
    t_key, t_sync = urlstate.url_bound("stat", parse_stat, "iqm")
    g_key, g_sync = urlstate.url_bound(
        urlstate.GROUP_BY, parse_keys, [], lambda keys: ",".join(keys)
    )
    o_key, o_sync = urlstate.url_bound(
        TARGET, parse_target, None, lambda v: "" if v is None else f"{v:g}"
    )
    cols = st.columns([1.4, 1, 2.4, 1], vertical_alignment="bottom")
    cols[0].selectbox(
        "Score", list(SCORES), key=s_key, format_func=lambda s: SCORE_LABELS.get(s, s)
    )
    cols[1].segmented_control(
        "Statistic",
        ["iqm", "mean"],
        key=t_key,
        format_func=lambda s: STAT_NAMES.get(s, s),
        help="IQM: the mean of the middle half of a group's runs (rliable's choice); mean: all.",
    )
    st.session_state[g_key] = [k for k in st.session_state.get(g_key, []) if k in keys_known]
    cols[2].multiselect(
        "Group by",
        keys_known,
        key=g_key,
        placeholder="every varying key but the seeds (default)",
        help="Group by these config keys instead (several at once); the rest is ignored.",
    )
    cols[3].number_input(
        "Target score",
        value=None,
        key=o_key,
        placeholder="none",
        step=10.0,
        help="For the optimality gap: how far below this score runs fall (e.g. 500 for CartPole).",
    )
    score, stat, keys, target = s_sync(), t_sync(), g_sync(), o_sync()
    return score, stat, list(keys), None if target is None else float(target)


def _ci(g: GroupScore) -> str:
    return "—" if g.ci is None else f"[{format_number(g.low)}, {format_number(g.high)}]"


def _headline(result: SweepResult, n_runs: int) -> None:
    name = STAT_NAMES[result.statistic]
    what = SCORE_LABELS[result.score]
    best = result.best
    n_groups = len(result.groups)
    st.markdown(
        f"**{n_runs} runs in {n_groups} group{'s' if n_groups != 1 else ''}**, grouped by "
        + (", ".join(md_code(k) for k in result.varying) or "nothing (no key varies)")
        + (f"; ignored: {', '.join(md_code(k) for k in result.ignored)}" if result.ignored else "")
    )
    if best is not None:
        st.markdown(
            f":material/trophy: **Best: {md_code(best.group.label)}**: {name} {what} "
            f"**{format_number(best.value)}** {_ci(best)} (95% CI), n = {best.n}."
        )
    for warning in sweep_warnings(result, md_code):
        st.warning(warning, icon=":material/warning:")


def parcoords_figure(
    result: SweepResult, scored: Sequence[GroupScore]
) -> tuple[list[list[float]], go.Figure]:
    """(coordinates per axis, figure): one line per scored group, the score axis last."""
    dims: list[dict[str, Any]] = []
    coordinates: list[list[float]] = []
    for key in result.varying:
        values = [g.group.params[key] for g in scored]
        coords, extra = axis_values(values)
        coordinates.append(coords)
        label = plot_text(key) + (" (log)" if is_log_axis(values) else "")
        dims.append({"label": label, "values": coords, **extra})
    score_values = [g.value for g in scored]
    coordinates.append(score_values)
    name = STAT_NAMES[result.statistic]
    dims.append({"label": f"{name} {SCORE_LABELS[result.score]}", "values": score_values})
    line: dict[str, Any] = {"color": score_values, "colorscale": "Viridis", "showscale": True}
    figure = go.Figure(go.Parcoords(dimensions=dims, line=line))
    figure.update_layout(
        meta=PARCOORDS_META, height=360, margin={"l": 60, "r": 60, "t": 60, "b": 30}
    )
    return coordinates, figure


def bridge_value(name: str) -> Any:
    """The bridge's `name` ("ranges", "painted") as this session's browser last set it (None
    before it has): read before the bridge is drawn, which comes after the table."""
    state = st.session_state.get(BRIDGE)
    try:
        return state[name]
    except (KeyError, TypeError):
        return None


def charts_painted() -> bool:
    """Whether this session's browser has said the table is painted (the bridge's `painted`),
    so this run draws the charts. Until then they are held: plotly's first chart costs the
    browser its code (~0.6 s) and, without a GPU, the WebGL parallel coordinates seconds of
    software rendering, all on the one thread that would paint the table."""
    return bool(bridge_value("painted"))


def preload_grid() -> None:
    """An empty data grid, hidden, drawn before the sweep is computed: the browser loads and
    starts the grid's code (a chunk of its own, loaded when the first grid comes) while the
    server reads and scores the runs, so the group table is painted sooner once it comes
    (0.3 s on a floor page; on this view 0.91-0.98x the time, then 1.06x in a noisy run:
    benchmarks/README.md). Only a session's first run needs it, but it is drawn on every
    run: gone, it would move every element below it up two places, and the browser would
    draw the table and the charts anew."""
    # The container, and the wrapper Streamlit puts around it: left in the page's column, the
    # wrapper would add one gap (1rem) between the settings and the headline.
    hidden = f".{key_class(PRELOAD_KEY)}"
    st.html(
        f"<style>{hidden}, [data-testid='stLayoutWrapper']:has(> {hidden}) "
        "{display: none}</style>"
    )
    with st.container(key=PRELOAD_KEY):
        st.dataframe(pd.DataFrame({"group": []}), hide_index=True)


def _ranges(raw: Any, axes: int) -> list[Any]:
    """Each axis's brushed ranges (None: not brushed), from the bridge's `ranges`."""
    if not isinstance(raw, dict) or raw.get("meta") != PARCOORDS_META:
        return [None] * axes
    dims = raw.get("dims") or []
    return [dims[i] if i < len(dims) else None for i in range(axes)]


def group_frame(result: SweepResult, groups: Sequence[GroupScore]) -> pd.DataFrame:
    best = result.best
    rows = []
    for g in groups:
        row: dict[str, object] = {"best": "★" if g is best else ""}
        for key in result.varying:
            row[key] = _label(g.group.params[key])
        row |= {
            "n": g.n,
            "value": g.value if math.isfinite(g.value) else None,
            "ci low": None if g.ci is None else g.low,
            "ci high": None if g.ci is None else g.high,
            "runs": len(g.group.runs),
        }
        rows.append(row)
    return pd.DataFrame(rows)


TABLE_ROW_PX = 35
"""Streamlit's data grid row height (its header row too), in pixels."""
TABLE_ROWS = 10
"""Rows the group table shows before it scrolls (as Streamlit's automatic height)."""


def table_height(groups: int) -> int:
    """The group table's height for a sweep of `groups` groups, all of them shown or not: a
    brush that hides rows does not shrink the table and move the chart below it under the
    pointer that drags the brush."""
    return (min(max(groups, 1), TABLE_ROWS) + 1) * TABLE_ROW_PX + 3


def _group_table(result: SweepResult, shown: Sequence[GroupScore]) -> None:
    name = STAT_NAMES[result.statistic]
    st.subheader("Groups", anchor=False)
    st.caption(
        f"Showing {len(shown)} of {len(result.groups)} groups, best first (click a header to "
        f"sort). value = {name} of the group's {SCORE_LABELS[result.score]}s, 95% bootstrap "
        "CI over its runs. Tick groups to compare their curves."
    )
    frame = group_frame(result, shown)
    column = st.column_config
    event = st.dataframe(
        frame,
        key=TABLE_KEY,
        height=table_height(len(result.groups)),
        hide_index=True,
        on_select="rerun",
        selection_mode="multi-row",
        column_config={
            "best": column.TextColumn("", width="small"),
            "value": column.NumberColumn(name, format=TABLE_FLOAT_FORMAT),
            "ci low": column.NumberColumn("95% CI low", format=TABLE_FLOAT_FORMAT),
            "ci high": column.NumberColumn("95% CI high", format=TABLE_FLOAT_FORMAT),
            "runs": column.NumberColumn("runs", help="Runs in the group, with or without a score"),
        },
    )
    rows = [r for r in event.selection.rows if 0 <= r < len(shown)]
    picked = [shown[r] for r in rows]
    if st.button(
        f"Compare these ({len(picked)})",
        disabled=len(picked) < 1,
        icon=":material/compare_arrows:",
        type="primary" if picked else "secondary",
        key="sweep.compare",
    ):
        runs = [r for g in picked for r in g.group.runs]
        urlstate.navigate(compare=",".join(runs), groupby=",".join(result.varying) or None)


def _effects(result: SweepResult, figs: figures.FigureSettings) -> None:
    effects = parameter_effects(result)
    if not effects:
        return
    st.subheader("Parameter effects", anchor=False)
    st.caption(
        "Each value's groups (points, 95% CIs); Spearman's rank correlation of the value with "
        "the group scores (groups, not runs: seeds are not independent evidence)."
    )
    cols = st.columns(min(3, len(effects)))
    for i, effect in enumerate(effects):
        with cols[i % len(cols)]:
            xs, ys, lo, hi = [], [], [], []
            for point in effect.points:
                for g in point.groups:
                    xs.append(plot_text(_label(point.value)))
                    ys.append(g.value)
                    lo.append(g.value - g.low if g.ci else 0.0)
                    hi.append(g.high - g.value if g.ci else 0.0)
            fig = go.Figure(
                go.Scatter(
                    x=xs,
                    y=ys,
                    mode="markers",
                    error_y={"type": "data", "array": hi, "arrayminus": lo},
                    hovertemplate="%{x}: %{y:.4g}<extra></extra>",
                )
            )
            fig.update_layout(
                title={"text": plot_text(effect.key), "x": 0.0, "font": {"size": 14}},
                height=260,
                margin={"l": 10, "r": 10, "t": 40, "b": 10},
                xaxis={"type": "category"},
            )
            figures.plot(fig, f"sweep.effect.{i}", f"sweep-effect-{slug(effect.key)}", figs)
            st.caption(f"{md_code(effect.key)}: {effect.note}")


def reliability_panel(
    result: SweepResult,
    target: float | None,
    figs: figures.FigureSettings,
    prefix: str = "sweep",
    *,
    target_input: bool = False,
) -> None:
    """rliable's reporting for groups (sweep groups or compared entries), in an expander:
    performance profiles with bootstrap bands, the optimality gap against `target`, and the
    probability of improvement between the best TOP_PAIRS groups. With `target_input`, the
    target is asked for inside the panel (kept in the URL as ?target=)."""
    scored = [g for g in result.groups if g.n > 0]
    if not scored:
        return
    top = scored[: max(2, TOP_PAIRS)]
    # Drawn only while open (kept in the URL as ?rliable=1): a closed panel costs no bootstrap
    # on the server and no chart in the browser, where each plotly figure holds the page's
    # first render up (benchmarks/README.md, the sweep view).
    p_key, p_sync = urlstate.url_bound(
        urlstate.RLIABLE, urlstate.parse_flag, False, urlstate.format_flag
    )
    panel = st.expander(
        "Reliability (rliable): performance profile, optimality gap, P(improvement)",
        key=p_key,
        on_change="rerun",
    )
    if not p_sync():
        return
    with panel:
        if target_input:
            o_key, o_sync = urlstate.url_bound(
                TARGET, parse_target, None, lambda v: "" if v is None else f"{v:g}"
            )
            st.number_input(
                "Target score",
                value=None,
                key=o_key,
                placeholder="none",
                step=10.0,
                help="For the optimality gap, e.g. 500 for CartPole.",
            )
            chosen = o_sync()
            target = None if chosen is None else float(chosen)
        every = np.array([s for g in scored for s in g.scores])
        taus = np.linspace(float(every.min()), float(every.max()), 60)
        fig = go.Figure()
        for g in top:
            fraction, low, high = performance_profile(g.scores, taus)
            fig.add_trace(
                go.Scatter(x=taus, y=fraction, name=plot_text(g.group.label), mode="lines")
            )
            if not np.isnan(low).all():
                fig.add_trace(
                    go.Scatter(
                        x=np.concatenate([taus, taus[::-1]]),
                        y=np.concatenate([high, low[::-1]]),
                        fill="toself",
                        opacity=0.15,
                        line={"width": 0},
                        showlegend=False,
                        hoverinfo="skip",
                    )
                )
        fig.update_layout(
            title={"text": "Performance profile: fraction of runs scoring above τ", "x": 0.0},
            height=320,
            xaxis_title="τ",
            yaxis={"range": [0, 1.02], "title": "fraction of runs > τ"},
            margin={"l": 10, "r": 10, "t": 40, "b": 10},
        )
        figures.plot(fig, f"{prefix}.profile", f"{prefix}-profile", figs)
        if target is None:
            st.caption("Set a target score to see each group's optimality gap.")
        else:
            gaps = []
            for g in scored:
                gap, lo, hi = optimality_gap_ci(g.scores, target)
                gaps.append(
                    {
                        "group": g.group.label,
                        "n": g.n,
                        "optimality gap": gap,
                        "95% CI": _span(lo, hi),
                    }
                )
            shown = format_number(target)
            st.caption(
                f"Optimality gap: {shown} - mean(min(score, {shown})); 0 = every run reaches it."
            )
            st.dataframe(pd.DataFrame(gaps), hide_index=True, key=f"{prefix}.gaps")
        pairs = []
        for i, a in enumerate(top):
            for b in top[i + 1 :]:
                p, lo, hi = probability_of_improvement_ci(a.scores, b.scores)
                pairs.append(
                    {"X": a.group.label, "Y": b.group.label, "P(X > Y)": p, "95% CI": _span(lo, hi)}
                )
        if pairs:
            st.caption(
                "Probability of improvement: the share of run pairs where X's run beats Y's."
            )
            st.dataframe(pd.DataFrame(pairs), hide_index=True, key=f"{prefix}.poi")


def _span(lo: float, hi: float) -> str:
    return "—" if math.isnan(lo) else f"[{format_number(lo)}, {format_number(hi)}]"
