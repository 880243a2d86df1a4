"""Figures for papers in a real browser: a run drawn in the paper style, its reward chart saved
as SVG by plotly.js through the camera icon, and its every-episode CSV downloaded.

The server runs on a temp copy of sample_runs/ (fixtures in conftest.py); downloads are
checked against the run's own log. Waits carry hang guards only, no timings.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from test_dashboard_e2e import NO_EXCEPTION, wait_for_app

from runlog.analysis.curves import ema


def _run(root: Path) -> str:
    runs = sorted(p.parent for p in root.glob("cartpole/v1/*/metadata.json"))
    assert runs, f"no cartpole/v1 run under {root}"
    return runs[0].relative_to(root).as_posix()


def _download(page: Any, click: Any) -> tuple[str, bytes]:
    with page.expect_download() as info:
        click()
    download = info.value
    return download.suggested_filename, Path(download.path()).read_bytes()


def test_paper_style_run_exports_svg_and_a_full_csv(
    page: Any, runs_copy: Path, start_app: Any, artifacts_dir: Path
) -> None:
    rel = _run(runs_copy)
    stem = rel.replace("/", "-")
    server = start_app(runs_copy)
    page.set_viewport_size({"width": 1400, "height": 2200})
    wait_for_app(page, server, f"?run={rel}&style=paper&fig=svg")
    page.wait_for_selector(".js-plotly-plot .scatterlayer path", timeout=60_000)
    assert page.locator(NO_EXCEPTION).count() == 0
    assert page.get_by_role("switch", name="Paper style").is_checked()

    reward = page.locator(".stPlotlyChart").first
    # The paper style's white background, drawn by plotly (Streamlit's theme is off for it).
    background = reward.locator(".main-svg").first.evaluate(
        "svg => getComputedStyle(svg).backgroundColor"
    )
    assert background == "rgb(255, 255, 255)"
    title_size = reward.locator(".gtitle").evaluate("t => getComputedStyle(t).fontSize")
    assert title_size == "10px"  # the paper style's title (the default style's is 16 px)
    page.screenshot(path=str(artifacts_dir / "e2e_paper_run_view.png"))
    reward.screenshot(path=str(artifacts_dir / "e2e_paper_reward_chart.png"))

    # The camera icon (plotly's modebar, shown on hover) saves SVG, named as before.
    reward.hover()
    button = reward.locator('.modebar-btn[data-title="Download plot"]')
    name, body = _download(page, button.click)
    assert name == f"{stem}-reward.svg"
    text = body.decode("utf-8")
    assert text.startswith("<svg")
    (artifacts_dir / "e2e_paper_reward_chart.svg").write_text(text, encoding="utf-8")
    # 3.5 in at 300 dpi, laid out in points: a 252 x 180 viewBox drawn at 1050 x 750.
    assert 'viewBox="0 0 252 180"' in text
    assert 'width="1050"' in text

    # The reward CSV: every episode, raw as logged, smoothed as the chart's EMA.
    csv_button = page.locator('[data-testid="stDownloadButton"] button').first
    name, body = _download(page, csv_button.click)
    assert name == f"{stem}-reward.csv"
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8"))))
    log = (runs_copy / rel / "train_episodes.jsonl").read_text().splitlines()
    rewards = [float(json.loads(line)["total_reward"]) for line in log]
    assert len(rows) == len(rewards)
    assert [float(r["raw"]) for r in rows] == rewards
    smoothed = ema(rewards, 0.6)  # the run view's default smoothing
    assert max(abs(float(r["smoothed"]) - s) for r, s in zip(rows, smoothed, strict=True)) < 1e-9
