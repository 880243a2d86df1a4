"""The sweep view (dashboard/sweep_view.py), headless with Streamlit's AppTest, on a copy of
sample_runs/ (its sweep: cartpole/sweep, lr {0.001, 0.0005} x batch_size {64, 128} x 3 seeds,
the seed in config.json), and its pure helpers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import sweep_view as sv
from dashboard import urlstate
from runlog.analysis.stats import iqm

REPO = Path(__file__).resolve().parent.parent
APP = REPO / "dashboard" / "page.py"
TIMEOUT = 60


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("sweep")
    runs = base / "runs"
    shutil.copytree(REPO / "sample_runs", runs, symlinks=True)
    (base / "secret").mkdir()
    (runs / "escape").symlink_to(base / "secret", target_is_directory=True)
    return runs


@pytest.fixture(autouse=True)
def _isolated(dashboard_process: None) -> None:
    """Each test starts the app afresh (tests/conftest.py)."""


def open_app(
    root: Path, monkeypatch: pytest.MonkeyPatch, *, painted: bool = True, **params: str
) -> AppTest:
    """The app on `params`; `painted`: as after the browser said the sweep's table is painted
    (its bridge's state), so the page draws its charts (see sweep_view's module doc)."""
    monkeypatch.setenv("RUNLOG_ROOT", str(root))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    for key, value in params.items():
        at.query_params[key] = value
    if painted:
        at.session_state[sv.BRIDGE] = {"ranges": None, "painted": True}
    return at.run()


def group_table(at: AppTest) -> Any:
    return next(df.value for df in at.dataframe if "ci low" in df.value.columns)


def final_eval_mean(root: Path, rel: str) -> float:
    records = [
        json.loads(line) for line in (root / rel / "eval_episodes.jsonl").read_text().splitlines()
    ]
    last = max(r["total_steps_at_eval"] for r in records)
    block = [r["total_reward"] for r in records if r["total_steps_at_eval"] == last]
    return sum(block) / len(block)


def sweep_runs(root: Path) -> dict[str, dict[str, Any]]:
    out = {}
    for run in sorted((root / "cartpole" / "sweep").iterdir()):
        config = json.loads((run / "config.json").read_text())[0]
        out[run.relative_to(root).as_posix()] = config
    return out


# ----- the page ----------------------------------------------------------------------------


def test_the_sample_sweep_groups_seeds_and_marks_the_winner(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_app(root, monkeypatch, sweep="cartpole/sweep")
    assert not at.exception
    table = group_table(at)
    assert list(table.columns) == [
        "best",
        "config.lr",
        "config.batch_size",
        "n",
        "value",
        "ci low",
        "ci high",
        "runs",
    ]
    assert table["n"].tolist() == [3, 3, 3, 3]
    assert table["value"].tolist() == sorted(table["value"].tolist(), reverse=True)
    assert table["best"].tolist() == ["★", "", "", ""]
    # The winner's value, from the eval logs by hand: the IQM of its three runs' final means.
    configs = sweep_runs(root)
    winner = [rel for rel, c in configs.items() if (c["lr"], c["batch_size"]) == (0.0005, 128)]
    expected = iqm([final_eval_mean(root, rel) for rel in winner])
    top = table.iloc[0]
    assert (top["config.lr"], top["config.batch_size"]) == ("0.0005", "128")
    assert top["value"] == pytest.approx(expected)
    text = "\n".join(m.value for m in at.markdown)
    assert "**12 runs in 4 groups**" in text and "ignored: `config.seed`" in text
    assert "Best: `config.lr=0.0005, config.batch_size=128`" in text
    # Three seeds a group and overlapping intervals: said plainly.
    assert any("intervals overlap" in w.value for w in at.warning)
    assert "Showing 4 of 4 groups" in "\n".join(c.value for c in at.caption)


def in_page_order(node: Any) -> list[Any]:
    """The elements under `node`, in the order the page shows them."""
    out = []
    for index in sorted(getattr(node, "children", None) or {}):
        child = node.children[index]
        out += [child, *in_page_order(child)]
    return out


def kinds_in_order(at: AppTest) -> list[str]:
    """The sweep page's hidden grid that loads the grid's code, headline, group table, charts
    (by plotly trace type) and held charts' places, in page order."""
    kinds = []
    for element in in_page_order(at.main):
        if element.type == "dataframe" and "ci low" in element.value.columns:
            kinds.append("table")
        elif element.type == "dataframe" and element.value.empty:
            kinds.append("preload")
        elif element.type == "plotly_chart":
            kinds.append(json.loads(element.proto.spec)["data"][0]["type"])
        elif element.type == "markdown" and "Best:" in element.value:
            kinds.append("headline")
        elif element.type == "caption" and element.value == "Drawing…":
            kinds.append("held")
    return kinds


def test_the_table_is_drawn_first_and_the_charts_once_the_browser_painted_it(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A new session: the charts are held (their places kept), the headline and table drawn.
    at = open_app(root, monkeypatch, painted=False, sweep="cartpole/sweep")
    assert not at.exception
    # An empty grid first (hidden in the browser: see the e2e test), so the browser loads the
    # grid's code while the sweep is scored; then the parallel coordinates and one chart per
    # varying key (lr, batch_size).
    assert kinds_in_order(at) == ["preload", "headline", "table", "held", "held", "held"]
    assert at.get("plotly_chart") == []
    table = group_table(at)
    # The bridge says the table is painted (as its script does in the browser): the next run
    # draws the charts in those places, below the table.
    at.session_state[sv.BRIDGE] = {"ranges": None, "painted": True}
    at.run()
    assert not at.exception
    # The empty grid stays: gone, it would move the table and the charts up two places.
    assert kinds_in_order(at) == ["preload", "headline", "table", "parcoords", "scatter", "scatter"]
    assert group_table(at).equals(table)


def test_a_brush_relayed_by_the_bridge_filters_the_table(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_app(root, monkeypatch, sweep="cartpole/sweep")
    values = group_table(at)["value"].tolist()
    # The bridge's state as the browser sets it after a brush of the score axis (the last)
    # around the top two groups: the table keeps exactly those.
    low, high = values[1] - 0.01, values[0] + 1.0
    ranges = {"meta": sv.PARCOORDS_META, "dims": [None, None, [low, high]]}
    at.session_state[sv.BRIDGE] = {"ranges": ranges, "painted": True}
    at.run()
    assert not at.exception
    assert group_table(at)["value"].tolist() == values[:2]
    assert "Showing 2 of 4 groups" in "\n".join(c.value for c in at.caption)
    # A brush of another chart (another meta) filters nothing.
    other = {"meta": "other", "dims": [[0, 0]] * 3}
    at.session_state[sv.BRIDGE] = {"ranges": other, "painted": True}
    at.run()
    assert group_table(at)["value"].tolist() == values


def test_settings_round_trip_through_the_url(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(
        root,
        monkeypatch,
        sweep="cartpole/sweep",
        score="best-eval",
        stat="mean",
        groupby="config.lr",
        target="500",
        rliable="1",
    )
    assert not at.exception
    assert at.selectbox(key="url.score").value == "best-eval"
    assert at.multiselect(key="url.groupby").value == ["config.lr"]
    table = group_table(at)
    assert list(table.columns)[1:3] == ["config.lr", "n"]
    assert table["n"].tolist() == [6, 6]
    gaps = next(df.value for df in at.dataframe if "optimality gap" in df.value.columns)
    assert len(gaps) == 2
    # Changing a setting writes it back; the default drops out of the URL.
    at.selectbox(key="url.score").set_value("final-eval").run()
    assert "score" not in at.query_params
    at.multiselect(key="url.groupby").set_value(["config.batch_size", "config.lr"]).run()
    assert at.query_params["groupby"] == "config.batch_size,config.lr"
    assert len(group_table(at)) == 4


def plotly_titles(at: AppTest) -> list[str]:
    return [
        json.loads(chart.proto.spec).get("layout", {}).get("title", {}).get("text", "")
        for chart in at.get("plotly_chart")
    ]


def test_the_rliable_panel_is_computed_and_drawn_only_while_open(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_app(root, monkeypatch, sweep="cartpole/sweep", target="500")
    assert not at.exception
    label = "Reliability (rliable): performance profile, optimality gap, P(improvement)"
    assert label in [e.label for e in at.expander]
    closed = plotly_titles(at)
    assert not any(t.startswith("Performance profile") for t in closed)
    assert not any("P(X > Y)" in df.value.columns for df in at.dataframe)
    assert "rliable" not in at.query_params

    at.session_state[urlstate.widget_key(urlstate.RLIABLE)] = True  # the user opens it
    at.run()
    assert not at.exception
    assert at.query_params["rliable"] == "1"
    opened = plotly_titles(at)
    assert len(opened) == len(closed) + 1
    assert any(t.startswith("Performance profile") for t in opened)
    gaps = next(df.value for df in at.dataframe if "optimality gap" in df.value.columns)
    assert len(gaps) == 4
    assert any("P(X > Y)" in df.value.columns for df in at.dataframe)

    at.session_state[urlstate.widget_key(urlstate.RLIABLE)] = False
    at.run()
    assert "rliable" not in at.query_params
    assert plotly_titles(at) == closed


def test_a_name_expands_to_its_versions_and_bad_entries_are_named(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_app(root, monkeypatch, sweep="cartpole,../secret,escape,nope/v1")
    assert not at.exception
    warnings = "\n".join(w.value for w in at.warning)
    assert "`../secret` was skipped" in warnings
    assert "`escape` was skipped" in warnings
    assert "`nope/v1` was skipped" in warnings
    text = "\n".join(m.value for m in at.markdown)
    # cartpole: v1 (3), v2 (3) and the sweep (12); v1 and v2 differ in target_update_freq too.
    assert "**18 runs in " in text


def test_compare_these_opens_the_compare_view_with_one_band_per_group(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configs = sweep_runs(root)
    runs = [rel for rel, c in configs.items() if c["batch_size"] == 128]
    at = open_app(root, monkeypatch, compare=",".join(runs), groupby="config.lr,config.batch_size")
    assert not at.exception
    spec = next(
        json.loads(el.proto.spec)
        for el in at.get("plotly_chart")
        if "compare.agg.eval" in el.proto.id
    )
    names = [t.get("name") for t in spec["data"]]
    assert "config.lr=0.0005, config.batch_size=128 95% CI" in names
    assert "config.lr=0.001, config.batch_size=128 95% CI" in names


def test_an_empty_sweep_says_what_to_pick(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_app(root, monkeypatch, sweep="")
    assert not at.exception
    assert any("Pick the runs of a sweep" in i.value for i in at.info)


# ----- pure helpers -------------------------------------------------------------------------


def test_axes_log_for_spread_out_numbers_categories_for_the_rest() -> None:
    coords, extra = sv.axis_values([0.1, 0.001, 0.01])
    assert coords == pytest.approx([-1.0, -3.0, -2.0])
    assert extra["ticktext"] == ["0.001", "0.01", "0.1"]
    coords, extra = sv.axis_values([0.001, 0.0005])  # a 2x spread: linear, the grid ticked
    assert coords == [0.001, 0.0005] and extra["tickvals"] == [0.0005, 0.001]
    coords, extra = sv.axis_values([float(v) for v in range(20)])  # no grid: plotly's ticks
    assert extra == {}
    coords, extra = sv.axis_values(["adam", "sgd", "adam"])
    assert coords == [0.0, 1.0, 0.0] and extra["ticktext"] == ["adam", "sgd"]
    coords, extra = sv.axis_values([True, False])  # booleans are categories, not 1 and 0
    assert extra["ticktext"] == ["false", "true"] and coords == [1.0, 0.0]


def test_brushing_keeps_lines_inside_every_brushed_axis() -> None:
    coordinates = [[1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 40.0]]
    assert sv.brushed(coordinates, [None, None]) == [True] * 4
    assert sv.brushed(coordinates, [[1.5, 3.5], None]) == [False, True, True, False]
    assert sv.brushed(coordinates, [[1.5, 3.5], [25.0, 50.0]]) == [False, False, True, False]
    # Several ranges on one axis (plotly allows multi-brush): inside any of them.
    assert sv.brushed(coordinates, [[[0.0, 1.0], [3.5, 9.0]], None]) == [
        True,
        False,
        False,
        True,
    ]


def test_settings_parsers_refuse_junk() -> None:
    assert sv.parse_score("auc") == "auc" and sv.parse_score("rm -rf") == sv.DEFAULT_SCORE
    assert sv.parse_keys(" a , b,,") == ["a", "b"]
    assert sv.parse_target("500") == 500.0
    assert sv.parse_target("nan") is None and sv.parse_target("x") is None
    assert urlstate.route({"sweep": "a,b"}).sweep == ("a", "b")
    assert urlstate.route({"sweep": "a", "compare": "b"}).page == "sweep"
    assert sv.parse_target("inf") is None


def test_markup_in_config_keys_and_values_is_shown_as_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from markdown_spans import LINK_OR_IMAGE, outside_spans

    # Two groups whose key and values are hostile text (config.json is untrusted), 2 seeds
    # each so that the overlap and few-runs warnings name the groups.
    bait = "![i](https:127.0.0.1:9)<b>[l](https:127.0.0.1:9)"
    root = tmp_path / "runs"
    for k, value in enumerate([bait + "1", bait + "2", bait + "1", bait + "2"]):
        run = root / "x" / "v1" / f"20260101_00000{k}"
        run.mkdir(parents=True)
        shutil.copy(
            REPO / "sample_runs" / "cartpole" / "sweep" / "20260324_090000" / "eval_episodes.jsonl",
            run / "eval_episodes.jsonl",
        )
        (run / "train_episodes.jsonl").write_text("")
        (run / "config.json").write_text(json.dumps({bait: value, "seed": k}))
        (run / "metadata.json").write_text(
            (
                REPO / "sample_runs" / "cartpole" / "sweep" / "20260324_090000" / "metadata.json"
            ).read_text()
        )
    at = open_app(root, monkeypatch, sweep="x/v1")
    assert not at.exception, [e.value for e in at.exception]
    shown = [
        str(el.value)
        for kind in ("markdown", "caption", "warning", "info")
        for el in getattr(at, kind)
    ]
    assert any("intervals overlap" in text for text in shown)
    for text in shown:
        assert not LINK_OR_IMAGE.search(outside_spans(text)), text
    for el in at.get("plotly_chart"):
        spec = json.loads(el.proto.spec)
        labels = [spec["layout"].get("title", {}).get("text", "")]
        for trace in spec["data"]:
            labels.append(str(trace.get("name", "")))
            for dim in trace.get("dimensions", []):
                labels += [dim.get("label", ""), *map(str, dim.get("ticktext", []))]
            labels += [str(x) for x in trace.get("x", []) if isinstance(x, str)]
        for label in labels:
            assert "<b>" not in label and "<a" not in label, label
