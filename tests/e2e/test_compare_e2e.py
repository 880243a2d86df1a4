"""The compare view in a real browser: aggregated band, tabs and panels, CSV export, links."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from playwright.sync_api import expect

from runlog.analysis.compare import RUN_COLUMNS

COMPARE = "?compare=cartpole/v1,cartpole/v2"
RENDER_TIMEOUT = 60_000
NO_EXCEPTION = '[data-testid="stException"]'


def _open(page: Any, url: str) -> None:
    page.goto(url)
    page.get_by_text("of seed pairs").first.wait_for(timeout=RENDER_TIMEOUT)


def _read_download(page: Any, label: str) -> tuple[str, list[list[str]]]:
    with page.expect_download() as info:
        page.get_by_role("button", name=label).click()
    download = info.value
    text = Path(download.path()).read_text(encoding="utf-8")
    return download.suggested_filename, list(csv.reader(io.StringIO(text)))


def test_versions_side_by_side_with_band_and_csv(
    page: Any, runs_copy: Path, start_app: Any, artifacts_dir: Path
) -> None:
    app = start_app(runs_copy)
    _open(page, app.url + COMPARE)

    headline = page.locator(".st-key-compare-headline")
    assert "v2 beats v1 in" in headline.inner_text()
    assert "n = 3 runs each" in headline.inner_text()

    # The aggregated chart draws one filled 95% band per version (plotly `fill: tonexty`).
    charts = page.locator("[data-testid='stPlotlyChart']")
    charts.first.locator(".js-fill").first.wait_for(state="attached", timeout=RENDER_TIMEOUT)
    aggregate = charts.first
    fills = aggregate.locator(".js-fill").evaluate_all(
        "paths => paths.map(p => p.getAttribute('d') || '').filter(d => d.length > 20).length"
    )
    assert fills == 2
    assert "95% CI" in aggregate.inner_text()
    # The other views of the curves are tabs, drawn when picked; the pick goes into the URL.
    assert page.locator(".st-key-compare-panel-0").count() == 0
    page.get_by_role("tab", name="Side by side").click()
    for index, label in enumerate(("cartpole/v1", "cartpole/v2")):
        panel = page.locator(f".st-key-compare-panel-{index}")
        panel.wait_for(timeout=RENDER_TIMEOUT)
        assert label in panel.inner_text()
        assert "n = 3 runs" in panel.inner_text()
    page.wait_for_function("() => window.location.search.includes('curves=side')")
    # Every run: a legend entry per run (six) below each chart, clear of the axis title.
    page.get_by_role("tab", name="Every run").click()
    overlays = page.locator("[data-testid='stPlotlyChart']")
    overlays.first.get_by_text("env steps").wait_for(timeout=RENDER_TIMEOUT)
    page.wait_for_function("() => window.location.search.includes('curves=runs')")
    assert overlays.count() == 2
    for index in range(2):
        chart = overlays.nth(index)
        chart.locator(".legend .traces").nth(5).wait_for(timeout=RENDER_TIMEOUT)
        title = chart.locator(".xtitle").bounding_box()
        legend = chart.locator(".legend").bounding_box()
        plot = chart.locator(".nsewdrag").first.bounding_box()
        assert title is not None and legend is not None and plot is not None
        assert legend["y"] >= title["y"] + title["height"], (index, legend, title)
        assert plot["height"] >= 200, plot  # the legend's room was added, not taken from the plot
    # Streamlit scrolls inside its own container: a tall viewport shows the whole page.
    page.set_viewport_size({"width": 1600, "height": 3600})
    page.locator("[data-testid='stDataFrame']").last.wait_for()
    page.wait_for_timeout(1500)
    page.screenshot(path=str(artifacts_dir / "compare.png"))
    page.set_viewport_size({"width": 1600, "height": 1000})

    name, rows = _read_download(page, "Run summary (CSV)")
    assert name == "compare-cartpole-v1_cartpole-v2-runs.csv"
    assert rows[0] == list(RUN_COLUMNS)
    assert len(rows) == 1 + 6
    assert sorted({row[1] for row in rows[1:]}) == ["cartpole/v1", "cartpole/v2"]

    name, rows = _read_download(page, "Aggregated curves (CSV)")
    assert name.endswith("-curves.csv")
    header = rows[0]
    assert header == [
        "version",
        "curve",
        "statistic",
        "n_runs",
        "env_step",
        "center",
        "ci_low",
        "ci_high",
    ]
    train_rows = [row for row in rows[1:] if row[1] == "train"]
    assert len(train_rows) == 2 * 200  # the shared 200-point env-step grid, per version
    assert {row[3] for row in rows[1:]} == {"3"}
    assert any(row[1] == "eval" for row in rows[1:])


def test_invalid_entries_are_reported_and_the_rest_renders(
    page: Any, runs_copy: Path, start_app: Any
) -> None:
    app = start_app(runs_copy)
    page.goto(app.url + "?compare=cartpole/v1,../../etc,lunarlander/v7,cartpole/v2&curves=side")
    page.get_by_text("of seed pairs").first.wait_for(timeout=RENDER_TIMEOUT)
    alerts = page.locator("[data-testid='stAlert']").all_inner_texts()
    text = "\n".join(alerts)
    assert "`../../etc` was skipped" in text or "../../etc was skipped" in text
    assert "lunarlander/v7" in text
    page.locator(".st-key-compare-panel-1").wait_for()


def test_settings_travel_in_the_url(page: Any, runs_copy: Path, start_app: Any) -> None:
    app = start_app(runs_copy)
    _open(page, app.url + COMPARE + "&stat=mean&smooth=0.9&threshold=150&keys=all")
    headline = page.locator(".st-key-compare-headline").inner_text()
    assert "; mean " in headline
    assert "keys differ." in page.get_by_text("keys differ").first.inner_text()
    # A hang guard, not a speed assertion: on a loaded CI machine the widget may still be
    # mid-render after the headline (CI saw "" at playwright's default 5 s once).
    expect(page.get_by_label("Reward threshold", exact=True)).to_have_value(
        "150.00", timeout=RENDER_TIMEOUT
    )

    # Changing a setting rewrites the URL, so the address bar is always a shareable link.
    page.get_by_role("radio", name="IQM").click()
    page.wait_for_function("() => !window.location.search.includes('stat=mean')")
    params = parse_qs(urlparse(page.url).query)
    assert params["compare"] == ["cartpole/v1,cartpole/v2"]
    assert params["smooth"] == ["0.9"]
    assert params["threshold"] == ["150"]
    assert params["keys"] == ["all"]
    assert "stat" not in params


def test_the_page_follows_new_data_of_compared_runs(
    page: Any, runs_copy: Path, start_app: Any
) -> None:
    """Like the run view, the compare page polls: new data of a compared run is drawn."""
    old = 1_700_000_000
    for path in runs_copy.rglob("*"):
        os.utime(path, (old, old), follow_symlinks=False)  # every run finished
    app = start_app(runs_copy)
    _open(page, app.url + COMPARE)
    expect(page.get_by_text("Data notes")).to_have_count(0)
    expect(page.get_by_text("compared runs are live")).to_have_count(0)

    run = sorted(runs_copy.glob("cartpole/v1/*/train_episodes.jsonl"))[0]
    with open(run, "a", encoding="utf-8") as log:
        log.write('{"total_reward":1.0,"length":10,"status":"Terminated","extras":{}}\n')
        log.write("{not json\n")  # shows up as a data note once the page is redrawn
    expect(page.get_by_text("1 of 6 compared runs are live")).to_be_visible(timeout=15_000)
    expect(page.get_by_text("Data notes (1)")).to_be_visible(timeout=15_000)
    assert page.locator(NO_EXCEPTION).count() == 0
