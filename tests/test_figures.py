"""Figures for papers (dashboard/figures.py, charts.apply_style, charts.chart_config): the
paper style and the export format kept in the URL and applied to every chart of the run,
compare and sweep views, and a run's curves downloaded as CSV at full resolution.

Headless with Streamlit's AppTest, on runs written by tests/test_app.py's writer and on a copy
of sample_runs/ (the compare and sweep views).
"""

from __future__ import annotations

import copy
import io
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest
from test_app import APP, BIG, GOOD, TIMEOUT, plotly_specs, write_run

from dashboard import charts, sweep_view
from runlog.analysis.curves import downsample_many, ema
from runlog.provider import forget_providers
from runlog.read.watch import stop_all_watchers

SAMPLES = Path(__file__).resolve().parent.parent / "sample_runs"
OKABE_ITO = {"#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000"}
VIEWS = {
    "run": {"run": "cartpole/v1/20260321_100007"},
    "compare": {"compare": "cartpole/v1,cartpole/v2"},
    "sweep": {"sweep": "cartpole/sweep"},
}


@pytest.fixture(autouse=True)
def _isolated(dashboard_process: None) -> None:
    """Each test starts the app afresh (tests/conftest.py)."""


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs = tmp_path_factory.mktemp("figures") / "runs"
    shutil.copytree(SAMPLES, runs, symlinks=True)
    return runs


def open_app(root: Path, monkeypatch: pytest.MonkeyPatch, **params: str) -> AppTest:
    monkeypatch.setenv("RUNLOG_ROOT", str(root))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    for key, value in params.items():
        at.query_params[key] = value
    # As after the sweep view's bridge said its table is painted: it draws its charts then.
    at.session_state[sweep_view.BRIDGE] = {"ranges": None, "painted": True}
    at.run()
    assert not at.exception
    return at


def charts_of(at: AppTest) -> list[tuple[str, dict[str, Any], dict[str, Any], str]]:
    """(key, figure spec, plotly config, theme) of every chart on the page."""
    elements = at.get("plotly_chart")
    return [
        (el.proto.id.rsplit("-", 1)[-1], spec, json.loads(el.proto.config), el.proto.theme)
        for el, spec in zip(elements, plotly_specs(at), strict=True)
    ]


def layout_font_sizes(layout: dict[str, Any]) -> list[float]:
    """Every font size a layout sets (font, tickfont, title and legend fonts, ...)."""
    sizes = []
    stack: list[tuple[str, Any]] = list(layout.items())
    while stack:
        key, value = stack.pop()
        if key.endswith("font") and isinstance(value, dict) and "size" in value:
            sizes.append(value["size"])
        if isinstance(value, dict):
            stack += list(value.items())
    return sizes


def trace_colors(trace: dict[str, Any]) -> list[str]:
    """The colours a trace is drawn in (lines, markers, fills), as #RRGGBB."""
    found = [trace.get("fillcolor")]
    for part in ("line", "marker"):
        if isinstance(trace.get(part), dict):
            found.append(trace[part].get("color"))
    out = []
    for color in found:
        if not isinstance(color, str):
            continue  # absent, or a colour scale's numbers (the sweep's parallel coordinates)
        if color.startswith("rgba("):
            r, g, b = (int(v) for v in color[5:-1].split(",")[:3])
            color = f"#{r:02X}{g:02X}{b:02X}"
        out.append(color.upper())
    return out


def assert_paper(key: str, spec: dict[str, Any], config: dict[str, Any], theme: str) -> None:
    layout = spec["layout"]
    assert theme == "", key  # drawn without Streamlit's theme, which would repaint it
    assert layout["plot_bgcolor"] == layout["paper_bgcolor"] == "#FFFFFF", key
    sizes = layout_font_sizes(layout)
    assert layout["font"]["size"] in sizes and all(8 <= s <= 10 for s in sizes), (key, sizes)
    legend = layout["legend"]
    assert 0 <= legend["x"] <= 1 and 0 <= legend["y"] <= 1, key  # inside the plot area
    assert set(layout["colorway"]) <= OKABE_ITO, key
    for trace in spec["data"]:
        assert set(trace_colors(trace)) <= OKABE_ITO, (key, trace.get("name"))
    image = config["toImageButtonOptions"]
    # 3.5 in wide at 300 dpi, laid out in points (fonts: as many pt as px).
    assert image["width"] == 252 and image["width"] * image["scale"] == pytest.approx(1050)


# ----- the style switch ------------------------------------------------------------------------


def test_paper_style_round_trips_through_the_url_and_restyles_the_run_charts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "runs"
    write_run(root, GOOD, episodes=60, eval_every=10)
    at = open_app(root, monkeypatch, run=GOOD)
    assert at.toggle(key="url.style").value is False
    default = charts_of(at)
    for key, spec, config, theme in default:  # the default style is as it was
        assert theme == "streamlit", key
        assert "plot_bgcolor" not in spec["layout"], key
        assert config["toImageButtonOptions"] == {
            "format": "png",
            "scale": 2,
            "filename": config["toImageButtonOptions"]["filename"],
        }
    assert {c for _, spec, _, _ in default for t in spec["data"] for c in trace_colors(t)} >= {
        charts.TRAIN_COLOR,
        charts.EVAL_COLOR,
    }

    at.toggle(key="url.style").set_value(True).run()
    assert at.query_params["style"] == "paper"
    paper = charts_of(at)
    assert [key for key, *_ in paper] == [key for key, *_ in default]
    for chart in paper:
        assert_paper(*chart)
    reward = next(spec for key, spec, *_ in paper if key == "chart.reward")
    assert {t["line"]["color"] for t in reward["data"]} == {"#0072B2"}  # Okabe-Ito blue

    # A link with ?style=paper opens in the paper style; switching it off drops the param.
    stop_all_watchers()
    forget_providers()
    again = open_app(root, monkeypatch, run=GOOD, style="paper")
    assert again.toggle(key="url.style").value is True
    assert [spec for _, spec, *_ in charts_of(again)] == [spec for _, spec, *_ in paper]
    again.toggle(key="url.style").set_value(False).run()
    assert "style" not in again.query_params
    assert [spec for _, spec, *_ in charts_of(again)] == [spec for _, spec, *_ in default]


@pytest.mark.parametrize("view", ["compare", "sweep"])
def test_paper_style_restyles_every_chart_of_the_compare_and_sweep_views(
    samples: Path, monkeypatch: pytest.MonkeyPatch, view: str
) -> None:
    at = open_app(samples, monkeypatch, **VIEWS[view], style="paper")
    assert at.toggle(key="url.style").value is True
    found = charts_of(at)
    assert len(found) >= 2
    for chart in found:
        assert_paper(*chart)
    if view == "compare":  # each version keeps one colour, now an Okabe-Ito one
        agg = next(spec for key, spec, *_ in found if key == "compare.agg.train")
        centre = {t["line"]["color"] for t in agg["data"] if "IQM" in t["name"]}
        assert len(centre) == 2 and centre <= OKABE_ITO
        for tab in ("Side by side", "Every run"):  # the other tabs of curves
            at.session_state["url.curves"] = tab
            at.run()
            others = charts_of(at)
            assert len(others) >= 2 and {key for key, *_ in others}.isdisjoint(
                {key for key, *_ in found}
            )
            for chart in others:
                assert_paper(*chart)


def test_apply_style_leaves_the_default_alone_and_never_changes_its_input() -> None:
    x = np.arange(10)
    fig = charts.curve_figure(
        downsample_many(x, {"raw": x * 1.0, "smoothed": x * 0.5}, 2000),
        title="Training reward",
        x_title="env steps",
        y_title="reward",
        color=charts.TRAIN_COLOR,
    )
    before = copy.deepcopy(fig.to_dict())
    assert charts.apply_style(fig, charts.DEFAULT_STYLE) is fig
    paper = charts.apply_style(fig, charts.PAPER)
    assert fig.to_dict() == before  # pages memoise their figures: the paper copy is new
    assert paper.to_dict()["layout"]["plot_bgcolor"] == "#FFFFFF"


def test_charts_reach_the_page_as_the_same_json_through_orjson() -> None:
    """Plotly serialises figures with orjson when it is installed (a dependency for that: the
    figure JSON of a live page is rebuilt on every update). The page must get exactly what
    the standard json engine gives: NaN and inf as null, typed arrays, text, styles."""
    import plotly.io as pio

    assert pio.json.config.default_engine in ("auto", "orjson")
    x = np.arange(3000)
    y = np.sin(x / 50.0)
    y[[7, 900]] = np.nan
    y[1500] = np.inf
    curve = charts.curve_figure(
        downsample_many(x, {"raw": y, "smoothed": ema(y, 0.9)}, 500),
        title="Training <b>reward</b> é",
        x_title="env steps",
        y_title="reward",
        color=charts.TRAIN_COLOR,
    )
    blocks = pd.DataFrame(
        {
            "step": [1000, 2000, 3000],
            "n": [5, 5, 1],
            "mean": [1.0, np.nan, 3.5],
            "std": [0.5, np.nan, np.nan],
            "min": [0.1, np.nan, 3.5],
            "max": [2.0, np.nan, 3.5],
            "median": [1.0, np.nan, 3.5],
        }
    )
    evals = charts.eval_figure(blocks, best=None, band="std", total_blocks=3)
    status = charts.status_figure({"Terminated": 7, "Truncated": 2, "Continuing": 0})
    for fig in (curve, evals, status, charts.apply_style(curve, charts.PAPER)):
        fast = pio.to_json(fig, validate=False, engine="orjson")
        plain = pio.to_json(fig, validate=False, engine="json")
        assert json.loads(fast) == json.loads(plain)
    assert json.loads(pio.to_json(curve, validate=False))["data"][0]["y"]["dtype"] == "f8"


# ----- the export format -----------------------------------------------------------------------


@pytest.mark.parametrize("view", ["run", "compare", "sweep"])
def test_svg_export_keeps_each_charts_file_name(
    samples: Path, monkeypatch: pytest.MonkeyPatch, view: str
) -> None:
    at = open_app(samples, monkeypatch, **VIEWS[view])
    png = {key: config["toImageButtonOptions"] for key, _, config, _ in charts_of(at)}
    assert {image["format"] for image in png.values()} == {"png"}

    at.segmented_control(key="url.fig").set_value("svg").run()
    assert at.query_params["fig"] == "svg"
    svg = {key: config["toImageButtonOptions"] for key, _, config, _ in charts_of(at)}
    assert {image["format"] for image in svg.values()} == {"svg"}
    assert {k: i["filename"] for k, i in svg.items()} == {k: i["filename"] for k, i in png.items()}
    if view == "run":
        assert svg["chart.reward"]["filename"] == "cartpole-v1-20260321_100007-reward"

    at.segmented_control(key="url.fig").set_value("png").run()
    assert "fig" not in at.query_params


# ----- full-resolution CSV of a run's curves ---------------------------------------------------


@pytest.fixture
def deferred(monkeypatch: pytest.MonkeyPatch) -> dict[str, tuple[MediaFileManager, str]]:
    """Each lazy download the page registers with Streamlit, by file name: (manager, id).
    Streamlit runs its callable only when the browser asks for the file (a click)."""
    found: dict[str, tuple[MediaFileManager, str]] = {}
    register = MediaFileManager.add_deferred

    def spy(self: MediaFileManager, data_callable: Any, *args: Any, **kwargs: Any) -> str:
        file_id = register(self, data_callable, *args, **kwargs)
        name = kwargs.get("file_name", args[2] if len(args) > 2 else None)
        found[str(name)] = (self, file_id)
        return file_id

    monkeypatch.setattr(MediaFileManager, "add_deferred", spy)
    return found


def click_download(deferred: dict[str, tuple[MediaFileManager, str]], name: str) -> bytes:
    """What the browser gets for a lazy download: Streamlit runs the callable now."""
    manager, file_id = deferred[name]
    url = manager.execute_deferred(file_id)
    stored = manager.read_file(Path(url).stem)
    assert stored is not None and stored.filename == name and stored.mimetype == "text/csv"
    return stored.content


@pytest.mark.parametrize("smooth", ["0.6", "0.95"])
def test_csv_of_a_20000_episode_run_holds_every_episode_raw_and_smoothed(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    deferred: dict[str, tuple[MediaFileManager, str]],
    smooth: str,
) -> None:
    root = tmp_path / "runs"
    run = write_run(root, BIG, episodes=20_000)
    records = [json.loads(line) for line in (run / "train_episodes.jsonl").read_text().splitlines()]
    rewards = np.array([r["total_reward"] for r in records], dtype=np.float64)
    lengths = np.array([r["length"] for r in records])

    params = {"run": BIG} if smooth == "0.6" else {"run": BIG, "smooth": smooth}
    at = open_app(root, monkeypatch, **params)
    buttons = at.get("download_button")
    assert buttons and all(b.proto.label == "CSV" for b in buttons)
    # Lazy: no button carries its file; each names a callable Streamlit runs on a click.
    assert all(b.proto.url == "" and b.proto.deferred_file_id for b in buttons)
    stem = "cartpole-v2-20260324_080000"
    assert set(deferred) >= {f"{stem}-reward.csv", f"{stem}-length.csv", f"{stem}-loss_mean.csv"}

    table = pd.read_csv(io.BytesIO(click_download(deferred, f"{stem}-reward.csv")))
    assert list(table.columns) == ["episode", "env_step", "raw", "smoothed"]
    assert len(table) == 20_000  # every episode: the chart itself shows at most 2,000 points
    assert (table["episode"] == np.arange(20_000)).all()
    assert (table["env_step"] == np.cumsum(lengths)).all()
    assert (table["raw"].to_numpy() == rewards).all()
    np.testing.assert_allclose(table["smoothed"], ema(rewards, float(smooth)), rtol=1e-12)

    lengths_csv = pd.read_csv(io.BytesIO(click_download(deferred, f"{stem}-length.csv")))
    assert len(lengths_csv) == 20_000
    assert lengths_csv["raw"].dtype.kind == "i" and (lengths_csv["raw"] == lengths).all()


def test_eval_csv_holds_every_eval_block(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    deferred: dict[str, tuple[MediaFileManager, str]],
) -> None:
    root = tmp_path / "runs"
    write_run(root, GOOD, episodes=60, eval_every=10)
    open_app(root, monkeypatch, run=GOOD)
    blocks = pd.read_csv(
        io.BytesIO(click_download(deferred, "cartpole-v1-20260322_120000-eval.csv"))
    )
    assert list(blocks["step"]) == sorted(blocks["step"]) and len(blocks) == 6
    assert blocks["mean"].max() == 450.0 and (blocks["n"] == 3).all()
