"""The compare view (dashboard/compare_view.py), headless with Streamlit's AppTest, on a copy
of sample_runs/: cartpole and lunarlander, versions v1 and v2, three seeds each, where v2
changes lr, batch_size and target_update_freq (cartpole) or lr, batch_size and the hidden
sizes (lunarlander).
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import compare_view as cv
from dashboard.charts import CHART_HEIGHT, slug
from dashboard.compare_charts import (
    LEGEND_ROW,
    MAX_RUN_ENTRIES,
    RunLine,
    VersionCurve,
    aggregate_figure,
    overlay_figure,
    padded_range,
)
from runlog.analysis.configs import MISSING
from runlog.analysis.stats import AggregateCurve

REPO = Path(__file__).resolve().parent.parent
APP = REPO / "dashboard" / "page.py"
SAMPLES = REPO / "sample_runs"
TIMEOUT = 60  # seconds per script run; the machine is shared
CART_V1 = (
    "cartpole/v1/20260321_100007",
    "cartpole/v1/20260321_100624",
    "cartpole/v1/20260321_101241",
)
CART_V2 = (
    "cartpole/v2/20260322_140231",
    "cartpole/v2/20260322_140848",
    "cartpole/v2/20260322_141505",
)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of sample_runs/ plus a directory just outside it and a symlink leading there."""
    base = tmp_path_factory.mktemp("compare")
    runs = base / "runs"
    shutil.copytree(SAMPLES, runs, symlinks=True)
    (base / "secret" / "v1").mkdir(parents=True)
    (runs / "escape").symlink_to(base / "secret", target_is_directory=True)
    return runs


@pytest.fixture(autouse=True)
def _isolated(dashboard_process: None) -> None:
    """Each test starts the app afresh (tests/conftest.py)."""


def open_app(root: Path, monkeypatch: pytest.MonkeyPatch, **params: str) -> AppTest:
    monkeypatch.setenv("RUNLOG_ROOT", str(root))
    monkeypatch.delenv("RUNLOG_READ_ONLY", raising=False)
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def markdown(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def captions(at: AppTest) -> str:
    return "\n".join(c.value for c in at.caption)


def warnings(at: AppTest) -> list[str]:
    return [w.value for w in at.warning]


def chart(at: AppTest, key: str, part: str = "spec") -> dict[str, Any]:
    """The plotly figure of chart `key` (part="config": its st.plotly_chart config)."""
    import json

    for element in at.get("plotly_chart"):
        if element.proto.id.endswith("-" + key):
            return json.loads(getattr(element.proto, part))  # type: ignore[no-any-return]
    raise AssertionError(f"no chart {key}")


def table(at: AppTest, predicate: Any) -> pd.DataFrame:
    for element in at.dataframe:
        if predicate(element.value):
            return element.value  # type: ignore[no-any-return]
    raise AssertionError("no such table")


def config_table(at: AppTest) -> pd.DataFrame:
    return table(at, lambda frame: frame.index.name == "key")


# ----- selection from the URL ------------------------------------------------------------------


def test_versions_from_the_url_fill_the_picker_and_the_headline(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_app(root, monkeypatch, compare="cartpole/v1,cartpole/v2")

    assert at.multiselect(key="compare.pick").value == ["cartpole/v1", "cartpole/v2"]
    text = markdown(at)
    # Final eval means (the 150,000-step block): v1 350.4, 179.6, 455.2; v2 464.6, 489.2,
    # 406.4. v2 wins 3 + 3 + 2 of the 9 pairs (406.4 < 455.2): 8/9 = 88.9% -> "89%".
    assert "**v2 beats v1 in 89% of seed pairs** (final eval mean); IQM " in text
    assert "n = 3 runs each." in text
    assert "95% intervals" in text
    assert not warnings(at)


def test_single_runs_are_grouped_by_version_and_one_run_draws_no_band(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_app(root, monkeypatch, compare=f"{CART_V1[0]},{CART_V1[1]},{CART_V2[2]}")

    assert at.multiselect(key="compare.pick").value == [CART_V1[0], CART_V1[1], CART_V2[2]]
    text = markdown(at)
    # v1's two runs end at 350.4 and 179.6: the IQM of two values is their mean, 265.0, and a
    # bootstrap resample of two runs has IQM 179.6, 265.0 or 350.4, so the 95% interval's
    # ends are the two runs themselves: [180, 350] at the headline's precision.
    assert "vs 265 [180, 350], n = 1 vs 2 runs." in text  # the winner (v2) first
    assert "cartpole/v2 (train): only 1 run has data, so no band is drawn." in captions(at)
    names = [trace.get("name") for trace in chart(at, "compare.agg.train")["data"]]
    assert "cartpole/v1 95% CI" in names
    assert "cartpole/v2 (n = 1 run: no band)" in names
    assert not any(str(n).startswith("cartpole/v2 95% CI") for n in names)
    at.session_state["url.curves"] = "Side by side"  # the user picks the tab
    at.run()
    assert at.query_params["curves"] == "side"
    assert "cartpole/v1** · n = 2 runs" in markdown(at)
    assert "cartpole/v2** · n = 1 run" in markdown(at)


def chart_keys(at: AppTest) -> set[str]:
    return {element.proto.id.rsplit("-", 1)[-1] for element in at.get("plotly_chart")}


def test_only_the_chosen_tab_of_curves_is_drawn(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_app(root, monkeypatch, compare="cartpole/v1,cartpole/v2")
    assert chart_keys(at) == {"compare.agg.train", "compare.agg.eval"}
    assert "curves" not in at.query_params  # the default stays out of the URL

    at = open_app(root, monkeypatch, compare="cartpole/v1,cartpole/v2", curves="runs")
    assert at.session_state["url.curves"] == "Every run"
    assert chart_keys(at) == {"compare.overlay.train", "compare.overlay.eval"}

    at = open_app(root, monkeypatch, compare="cartpole/v1,cartpole/v2", curves="side")
    side = {f"compare.side.{kind}.{i}" for kind in ("train", "eval") for i in (0, 1)}
    assert chart_keys(at) == side
    at.session_state["url.curves"] = "Aggregated across seeds"
    at.run()
    assert "curves" not in at.query_params
    assert chart_keys(at) == {"compare.agg.train", "compare.agg.eval"}
    # Nonsense in the URL: the first tab.
    at = open_app(root, monkeypatch, compare="cartpole/v1,cartpole/v2", curves="nope")
    assert chart_keys(at) == {"compare.agg.train", "compare.agg.eval"}


def test_each_version_gets_a_panel_with_shared_axes(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_app(root, monkeypatch, compare="lunarlander/v1,lunarlander/v2", curves="side")

    left = chart(at, "compare.side.train.0")
    right = chart(at, "compare.side.train.1")
    assert left["layout"]["xaxis"]["range"] == right["layout"]["xaxis"]["range"]
    assert left["layout"]["yaxis"]["range"] == right["layout"]["yaxis"]["range"]
    eval_left, eval_right = chart(at, "compare.side.eval.0"), chart(at, "compare.side.eval.1")
    assert eval_left["layout"]["yaxis"]["range"] == eval_right["layout"]["yaxis"]["range"]
    # Three thin seed lines under each version's band and centre line.
    run_traces = [t for t in left["data"] if t.get("opacity") == pytest.approx(0.35)]
    assert len(run_traces) == 3
    assert "lunarlander/v1** · n = 3 runs" in markdown(at)
    assert "lunarlander/v2** · n = 3 runs" in markdown(at)
    # The PNG export is named after the comparison and the chart.
    export = chart(at, "compare.side.train.0", "config")["toImageButtonOptions"]
    assert export["filename"] == "compare-lunarlander-v1_lunarlander-v2-lunarlander-v1-train"
    assert export["format"] == "png"


def _eval_means_by_hand(run_dir: Path) -> dict[int, float]:
    """An eval log's block means, straight from its lines: {total_steps_at_eval: mean}."""
    import json

    blocks: dict[int, list[float]] = {}
    for line in (run_dir / "eval_episodes.jsonl").read_text().splitlines():
        record = json.loads(line)
        blocks.setdefault(record["total_steps_at_eval"], []).append(record["total_reward"])
    return {step: sum(rewards) / len(rewards) for step, rewards in blocks.items()}


def test_aggregate_band_matches_the_library(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from runlog.analysis.stats import aggregate_eval

    at = open_app(root, monkeypatch, compare="cartpole/v1,cartpole/v2", stat="mean")

    spec = chart(at, "compare.agg.eval")
    by_name = {t["name"]: t for t in spec["data"]}
    center = by_name["cartpole/v2 mean (n = 3 runs)"]
    high = by_name["cartpole/v2 95% CI"]
    low = by_name["cartpole/v2 95% CI low"]
    assert high["fill"] == "tonexty"

    # The centre, by hand: at each step every v2 run evaluated at, the plain mean over runs
    # of each run's block mean.
    means = [_eval_means_by_hand(root / rel) for rel in CART_V2]
    steps = sorted(set.intersection(*(set(m) for m in means)))
    expected_center = [float(np.mean([m[step] for m in means])) for step in steps]
    np.testing.assert_allclose(center["x"], steps)
    np.testing.assert_allclose(center["y"], expected_center, rtol=1e-12)

    # The band: the library's bootstrap on the same block means, with the view's settings.
    frames = [
        pd.DataFrame({"step": list(m), "mean": list(m.values())}).sort_values("step") for m in means
    ]
    library = aggregate_eval(
        frames, "mean", confidence=cv.CONFIDENCE, n_boot=cv.N_BOOT, seed=cv.SEED
    )
    assert library.low is not None and library.high is not None
    np.testing.assert_allclose(library.center, expected_center, rtol=1e-12)
    np.testing.assert_allclose(low["x"], steps)
    np.testing.assert_allclose(low["y"], library.low, rtol=1e-12)
    np.testing.assert_allclose(high["y"], library.high, rtol=1e-12)
    assert (np.asarray(low["y"]) <= np.asarray(center["y"])).all()
    assert (np.asarray(center["y"]) <= np.asarray(high["y"])).all()
    assert (
        "cartpole/v1: n = 3 runs, 15 steps over 10,000 to 150,000"
        in (spec["layout"]["title"]["subtitle"]["text"])
    )


def test_invalid_entries_are_reported_and_the_rest_renders(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_app(
        root,
        monkeypatch,
        compare="../secret/v1,cartpole/v1,/etc,escape/v1,cartpole/v9,cartpole,"
        "cartpole/v2/19990101_000000,lunarlander/v2",
        curves="side",
    )

    problems = warnings(at)
    assert len(problems) == 6
    joined = "\n".join(problems)
    assert "`../secret/v1` was skipped" in joined and "'..' segment" in joined
    # A leading "/" is kept as typed (urlstate.url_path) and refused as absolute.
    assert "`/etc` was skipped" in joined and "it is absolute" in joined
    assert "`escape/v1` was skipped" in joined and "outside the runs root" in joined
    assert "`cartpole/v9` was skipped: the version does not exist" in joined
    assert "`cartpole` was skipped: compare takes versions" in joined
    assert "`cartpole/v2/19990101_000000` was skipped: there is no such run" in joined
    # The valid entries still render, and only they are in the picker.
    assert at.multiselect(key="compare.pick").value == ["cartpole/v1", "lunarlander/v2"]
    assert "cartpole/v1** · n = 3 runs" in markdown(at)
    assert "lunarlander/v2** · n = 3 runs" in markdown(at)


def test_nothing_selected_explains_what_to_do(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(root, monkeypatch, compare="")

    assert at.multiselect(key="compare.pick").value == []
    assert "Pick two or more versions" in at.info[0].value
    assert not at.get("plotly_chart")


def test_one_version_alone_asks_for_another(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(root, monkeypatch, compare="cartpole/v2", curves="side")

    assert "One version selected (cartpole/v2)" in markdown(at)
    assert "cartpole/v2** · n = 3 runs" in markdown(at)


# ----- editing the selection and the settings rewrites the URL ---------------------------------


def test_picker_rewrites_compare(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(root, monkeypatch, compare="cartpole/v1,cartpole/v2", curves="side")

    at.multiselect(key="compare.pick").unselect("cartpole/v1").select(CART_V1[2]).run()

    assert at.query_params["compare"] == f"cartpole/v2,{CART_V1[2]}"
    text = markdown(at)
    assert "cartpole/v2** · n = 3 runs" in text
    assert "cartpole/v1** · n = 1 run" in text


def test_settings_come_from_the_url_and_go_back_to_it(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_app(
        root,
        monkeypatch,
        compare="cartpole/v1,cartpole/v2",
        stat="mean",
        smooth="0.9",
        threshold="150",
        keys="all",
    )

    assert at.slider(key="url.smooth").value == pytest.approx(0.9)
    assert at.number_input(key="url.threshold").value == 150
    assert at.toggle(key="url.keys").value is True
    assert "; mean " in markdown(at)
    runs = table(at, lambda frame: "steps_to_threshold" in frame.columns)
    assert runs["steps_to_threshold"].notna().all()
    assert len(config_table(at)) == 14  # every key, the equal ones too

    at.number_input(key="url.threshold").set_value(None).run()
    at.toggle(key="url.keys").set_value(False).run()
    assert "threshold" not in at.query_params
    assert "keys" not in at.query_params
    assert at.query_params["stat"] == "mean"
    assert at.query_params["smooth"] == "0.9"
    runs = table(at, lambda frame: "steps_to_threshold" in frame.columns)
    assert runs["steps_to_threshold"].isna().all()


def test_share_draws_its_link_only_once_opened(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(root, monkeypatch, compare="cartpole/v1,cartpole/v2", stat="mean")
    assert [c.value for c in at.code] == []  # closed: no st.code, no highlighter in the browser

    at.session_state[cv.SHARE_KEY] = True  # the user opens it
    at.run()
    assert not at.exception
    # AppTest has no page address: the link is the query alone, every setting in it.
    assert [c.value for c in at.code] == ["?compare=cartpole/v1,cartpole/v2&stat=mean"]


def test_nonsense_settings_fall_back_to_defaults(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_app(
        root,
        monkeypatch,
        compare="cartpole/v1,cartpole/v2",
        stat="median",
        smooth="lots",
        threshold="nan",
    )

    assert "; IQM " in markdown(at)
    assert at.slider(key="url.smooth").value == pytest.approx(0.6)
    assert at.number_input(key="url.threshold").value is None


# ----- summary tables and config diff ------------------------------------------------------------


def test_summary_tables_per_version_and_per_run(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_app(root, monkeypatch, compare="cartpole/v1,cartpole/v2")

    versions = table(at, lambda frame: "runs" in frame.columns)
    assert list(versions["version"]) == ["v1", "v2"]
    assert list(versions["runs"]) == [3, 3]
    assert all("[" in cell for cell in versions["final eval mean"])
    pairs = table(at, lambda frame: frame.index.name == "P(row beats column)")
    assert pairs.loc["v2", "v1"] == "89%"
    assert pairs.loc["v1", "v2"] == "11%"
    runs = table(at, lambda frame: "run" in frame.columns)
    assert list(runs["run"]) == [*CART_V1, *CART_V2]
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == [
        "Run summary (CSV)",
        "Version summary (CSV)",
        "P(A beats B) (CSV)",
        "Aggregated curves (CSV)",
    ]


def test_config_diff_shows_the_keys_v2_changed(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(root, monkeypatch, compare="cartpole/v1,cartpole/v2")

    diff = config_table(at)
    assert set(diff.index) == {
        "config.lr",
        "config.batch_size",
        "config.target_update_freq",
        "config.seed",
    }
    v1, v2 = CART_V1[0].split("/", 1)[1], CART_V2[0].split("/", 1)[1]
    assert diff.loc["config.lr", v1] == "0.001"
    assert diff.loc["config.lr", v2] == "0.0005"
    assert diff.loc["config.batch_size", v1] == "64"
    assert diff.loc["config.batch_size", v2] == "128"
    assert "4 of 14 keys differ (showing those)" in captions(at)


def test_config_diff_marks_missing_keys_across_shapes(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_app(root, monkeypatch, compare="cartpole/v1,lunarlander/v1")

    diff = config_table(at)
    assert diff.loc["config.gamma", "cartpole/v1/20260321_100007"] == "0.99"
    assert diff.loc["config.gamma", "lunarlander/v1/20260327_091542"] == MISSING
    assert diff.loc["lr", "cartpole/v1/20260321_100007"] == MISSING
    assert "encoder.size" in diff.index and "mapper.num_actions" in diff.index


# ----- pure helpers ----------------------------------------------------------------------------


def test_resolve_selection_dedupes_and_groups(root: Path) -> None:
    known = [*CART_V1, *CART_V2]
    selection = cv.resolve_selection(
        root, ["cartpole/v1", CART_V1[0], "./cartpole/v2", CART_V2[1]], known
    )
    assert selection.items == ("cartpole/v1", CART_V1[0], "cartpole/v2", CART_V2[1])
    assert [g.label for g in selection.groups] == ["cartpole/v1", "cartpole/v2"]
    assert selection.groups[0].runs == CART_V1
    assert selection.groups[1].runs == CART_V2
    assert selection.problems == ()


def _versions(rows: list[tuple[str, float, float, float, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "version": v,
                "metric": "final_eval_mean",
                "statistic": "iqm",
                "n_runs": n,
                "n_total": n,
                "value": value,
                "ci_low": low,
                "ci_high": high,
            }
            for v, value, low, high, n in rows
        ]
    )


def _pairs(p: float) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "version_a": "x/v2",
                "version_b": "x/v1",
                "metric": "final_eval_mean",
                "n_a": 3,
                "n_b": 3,
                "p_a_beats_b": p,
            },
            {
                "version_a": "x/v1",
                "version_b": "x/v2",
                "metric": "final_eval_mean",
                "n_a": 3,
                "n_b": 3,
                "p_a_beats_b": 1 - p,
            },
        ]
    )


def test_headline_names_the_winner_first() -> None:
    versions = _versions([("x/v1", 301.0, 250.0, 350.0, 3), ("x/v2", 412.0, 380.0, 440.0, 3)])
    [line] = cv.headline(versions, _pairs(0.78), ["x/v1", "x/v2"], "iqm")
    assert line == (
        "**v2 beats v1 in 78% of seed pairs** (final eval mean); IQM 412 [380, 440] vs "
        "301 [250, 350], n = 3 runs each. The 95% intervals do not overlap."
    )
    close = _versions([("x/v1", 390.0, 350.0, 420.0, 3), ("x/v2", 412.0, 380.0, 440.0, 3)])
    [line] = cv.headline(close, _pairs(0.78), ["x/v1", "x/v2"], "iqm")
    assert line.endswith("The 95% intervals overlap: more seeds are needed to be sure.")
    [line] = cv.headline(versions, _pairs(0.22), ["x/v1", "x/v2"], "mean")
    assert line.startswith(
        "**v1 beats v2 in 78% of seed pairs** (final eval mean); "
        "mean 301 [250, 350] vs 412 [380, 440]"
    )
    [line] = cv.headline(versions, _pairs(0.5), ["x/v1", "x/v2"], "iqm")
    assert "are even" in line


def test_headline_without_intervals_says_so() -> None:
    nan = math.nan
    versions = _versions([("a/v1", 10.0, nan, nan, 1), ("b/v1", 20.0, nan, nan, 1)])
    pairs = pd.DataFrame(
        [
            {
                "version_a": "b/v1",
                "version_b": "a/v1",
                "metric": "m",
                "n_a": 1,
                "n_b": 1,
                "p_a_beats_b": 1.0,
            }
        ]
    )
    [line] = cv.headline(versions, pairs, ["a/v1", "b/v1"], "iqm")
    assert line.startswith("**b/v1 beats a/v1 in 100% of seed pairs**")
    assert "20 (1 run: no CI) vs 10 (1 run: no CI), n = 1 run each" in line
    assert line.endswith("treat this as anecdotal.")


def test_formatting_helpers() -> None:
    assert cv.fmt(412.345) == "412"
    assert cv.fmt(41923.4) == "41,923"
    assert cv.fmt(0.012345) == "0.0123"
    assert cv.fmt(math.nan) == "—"
    assert cv.parse_threshold("1e3") == 1000.0
    assert cv.parse_threshold("inf") is None
    assert cv.parse_stat("mean") == "mean" and cv.parse_stat(None) == "iqm"
    assert cv.short_labels(["a/v1", "a/v2"]) == {"a/v1": "v1", "a/v2": "v2"}
    assert cv.short_labels(["a/v1", "b/v1"]) == {"a/v1": "a/v1", "b/v1": "b/v1"}
    assert slug("cartpole/v1,cartpole/v2") == "cartpole-v1_cartpole-v2"
    assert padded_range([np.array([0.0, 100.0]), None], floor_zero=True) == (0.0, 104.0)
    assert padded_range([np.array([np.nan])]) is None


def test_curves_frame_has_one_row_per_point() -> None:
    x = np.array([1.0, 2.0])
    banded = AggregateCurve(
        x, np.array([1.0, 2.0]), np.array([0.5, 1.5]), np.array([1.5, 2.5]), 3, "iqm"
    )
    lone = AggregateCurve(x, np.array([3.0, 4.0]), None, None, 1, "iqm")
    frame = cv.curves_frame({"a/v1": banded}, {"a/v1": lone})
    assert list(frame.columns) == [
        "version",
        "curve",
        "statistic",
        "n_runs",
        "env_step",
        "center",
        "ci_low",
        "ci_high",
    ]
    assert len(frame) == 4
    assert frame["ci_low"].isna().tolist() == [False, False, True, True]
    fig = aggregate_figure([VersionCurve("a/v1", "#000000", lone, 2)], title="t", y_title="y")
    assert [t.name for t in fig.data] == ["a/v1 (n = 1 of 2 runs: no band)"]


def test_every_run_chart_grows_with_its_legend_and_keeps_the_legend_off_the_axis_title() -> None:
    def lines(n: int, versions: int) -> list[RunLine]:
        x = np.arange(5.0)
        return [
            RunLine(f"a/v{i % versions}/r{i}", f"a/v{i % versions}", "#000000", x, x)
            for i in range(n)
        ]

    heights = {}
    for n, versions in ((1, 1), (2, 1), (6, 1), (6, 2)):
        fig = overlay_figure(lines(n, versions), title="t", y_title="y")
        # Placed from the figure's bottom edge: plotly reserves its room under the axis title
        # (a legend at a fraction of the plot height below it crept into the title).
        assert fig.layout.legend.yref == "container"
        assert fig.layout.legend.yanchor == "bottom"
        heights[n, versions] = fig.layout.height
    assert heights[1, 1] == CHART_HEIGHT + LEGEND_ROW
    assert heights[6, 1] - heights[2, 1] == 4 * LEGEND_ROW
    assert heights[6, 2] > heights[6, 1]  # the gap between the two versions' entries
    # Past MAX_RUN_ENTRIES runs the legend names versions (hover names the run): 40 seeds
    # would otherwise push the chart 760 px down the page.
    many = overlay_figure(lines(MAX_RUN_ENTRIES + 8, 2), title="t", y_title="y")
    shown = [t for t in many.data if t.showlegend is not False]
    assert [t.name for t in shown] == ["a/v0 · 10 runs", "a/v1 · 10 runs"]
    assert {t.legendgroup for t in many.data} == {"a/v0", "a/v1"}  # a click toggles all 10
    assert all("a/v" in t.hovertemplate and "/r" in t.hovertemplate for t in many.data)
    assert many.layout.height == heights[6, 2] - 4 * LEGEND_ROW
    few = overlay_figure(lines(MAX_RUN_ENTRIES, 2), title="t", y_title="y")
    assert sum(t.showlegend is not False for t in few.data) == MAX_RUN_ENTRIES
    # Entries left out of the legend (the faint runs under a band) take no room.
    x = np.arange(5.0)
    agg = AggregateCurve(x, x, x - 1, x + 1, n_runs=2, statistic="iqm", confidence=0.95)
    faint = aggregate_figure(
        [VersionCurve("a/v1", "#000000", agg, 2)], title="t", y_title="y", runs=lines(2, 1)
    )
    bare = aggregate_figure([VersionCurve("a/v1", "#000000", agg, 2)], title="t", y_title="y")
    assert faint.layout.height == bare.layout.height == CHART_HEIGHT + 2 * LEGEND_ROW


def test_runs_without_eval_and_with_bad_lines_still_compare(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(SAMPLES / "cartpole", runs / "cartpole", symlinks=True)
    for rel in (*CART_V1, *CART_V2):
        (runs / rel / "eval_episodes.jsonl").unlink()
    with open(runs / CART_V1[0] / "train_episodes.jsonl", "a", encoding="utf-8") as log:
        log.write("{not json\n")

    at = open_app(runs, monkeypatch, compare="cartpole/v1,cartpole/v2", curves="runs")

    text = markdown(at)
    assert "of seed pairs** (final train reward (smoothed))" in text
    assert "No run has an eval block yet" in captions(at)
    assert "No eval yet in any selected run." in [i.value for i in at.info]
    notes = "\n".join(e.label for e in at.expander)
    assert "Data notes (1)" in notes
    assert "1 bad line in train_episodes.jsonl skipped" in text


def test_the_rliable_panel_compares_the_versions(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_app(root, monkeypatch, compare="cartpole/v1,cartpole/v2", target="500", rliable="1")
    assert not at.exception
    poi = next(df.value for df in at.dataframe if "P(X > Y)" in df.value.columns)
    # Final eval means (see the headline test): v2 wins 8 of the 9 seed pairs.
    assert (poi.iloc[0]["X"], poi.iloc[0]["Y"]) == ("cartpole/v2", "cartpole/v1")
    assert poi.iloc[0]["P(X > Y)"] == pytest.approx(8 / 9)
    gaps = next(df.value for df in at.dataframe if "optimality gap" in df.value.columns)
    gap = dict(zip(gaps["group"], gaps["optimality gap"], strict=True))
    # 500 - mean(min(score, 500)): v2 (464.6, 489.2, 406.4) -> 500 - 453.4 = 46.6.
    assert gap["cartpole/v2"] == pytest.approx(500 - (464.6 + 489.2 + 406.4) / 3)
    assert gap["cartpole/v1"] == pytest.approx(500 - (350.4 + 179.6 + 455.2) / 3)
    assert at.number_input(key="url.target").value == 500.0
