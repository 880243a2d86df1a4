"""The sweep view in a real browser, on a temp copy of sample_runs/ (its cartpole/sweep grid):
brush the score axis of the parallel coordinates, see the table filter, tick two groups and
open them in the compare view, one band per group. Waits carry hang guards only."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pages import wait_settled

from runlog.analysis.stats import iqm

NO_EXCEPTION = '[data-testid="stException"]'
ROW_HEIGHT = 35
"""Pixels per row of st.dataframe (header included), at the default row height."""


def final_means(root: Path) -> dict[str, float]:
    """Each sweep run's final eval block mean, from its log: {"lr,batch": [...]}."""
    out: dict[str, float] = {}
    for run in sorted((root / "cartpole" / "sweep").iterdir()):
        records = [
            json.loads(line) for line in (run / "eval_episodes.jsonl").read_text().splitlines()
        ]
        last = max(r["total_steps_at_eval"] for r in records)
        block = [r["total_reward"] for r in records if r["total_steps_at_eval"] == last]
        out[run.name] = sum(block) / len(block)
    return out


def test_brush_an_axis_then_compare_two_groups(
    page: Any, runs_copy: Path, start_app: Any, artifacts_dir: Path
) -> None:
    # The groups' IQMs by hand (IQM of 3 runs: their mean).
    groups: dict[tuple[float, int], list[float]] = {}
    means = final_means(runs_copy)
    for run in (runs_copy / "cartpole" / "sweep").iterdir():
        config = json.loads((run / "config.json").read_text())[0]
        groups.setdefault((config["lr"], config["batch_size"]), []).append(means[run.name])
    values = sorted((iqm(v) for v in groups.values()), reverse=True)

    server = start_app(runs_copy)
    page.set_viewport_size({"width": 1400, "height": 1800})
    page.goto(server.url + "?sweep=cartpole/sweep")
    page.wait_for_selector(".js-plotly-plot .parcoords .axis-brush", timeout=60_000)
    wait_settled(page)
    page.get_by_text("Showing 4 of 4 groups").wait_for()
    # The charts were held until the table was painted, and let go for that reason (not by
    # the bridge's time-out).
    assert page.evaluate("document.documentElement.dataset.runlogCharts") == "table-painted"
    # The empty grid drawn before the table to load the grid's code is in the page, hidden:
    # the one grid on screen is the group table.
    preload = page.locator(".st-key-sweep-grid-preload [data-testid='stDataFrame']")
    assert preload.count() == 1 and not preload.is_visible()
    # and takes no room: neither it nor the wrapper around it adds a gap to the page.
    hidden = page.locator(".st-key-sweep-grid-preload").evaluate(
        "e => [e, e.parentElement].map(x => getComputedStyle(x).display)"
    )
    assert hidden == ["none", "none"]
    grids = page.locator("[data-testid='stDataFrame']")
    shown = [i for i in range(grids.count()) if grids.nth(i).is_visible()]
    assert len(shown) == 1
    assert grids.nth(shown[0]).evaluate("e => !!e.closest('.st-key-sweep-table')")

    # Brush the score axis (the last one) from near its top to below its middle.
    brush = page.locator(".parcoords .axis-brush .background").last.bounding_box()
    x = brush["x"] + brush["width"] / 2
    page.mouse.move(x, brush["y"] + 2)
    page.mouse.down()
    page.mouse.move(x, brush["y"] + brush["height"] * 0.3, steps=5)
    page.mouse.move(x, brush["y"] + brush["height"] * 0.6, steps=5)
    page.mouse.up()
    # The range plotly applied, read from the chart itself; the table must keep exactly the
    # groups whose hand-computed IQM lies inside it.
    span = page.wait_for_function(
        """() => { const gd = [...document.querySelectorAll('.js-plotly-plot')]
                     .find(g => g.layout && g.layout.meta === 'runlog-sweep-parcoords');
                   const dims = gd && gd.data[0].dimensions;
                   return dims && dims[dims.length - 1].constraintrange; }""",
        timeout=15_000,
    ).json_value()
    lo, hi = span if not isinstance(span[0], list) else span[0]
    kept = [v for v in values if lo <= v <= hi]
    assert 1 <= len(kept) < 4, (span, values)
    page.get_by_text(f"Showing {len(kept)} of 4 groups").wait_for(timeout=15_000)
    assert page.locator(NO_EXCEPTION).count() == 0
    page.screenshot(path=str(artifacts_dir / "e2e_sweep_brushed.png"), full_page=True)

    # The table above the chart kept its height: the axis did not move under the pointer.
    assert page.locator(".parcoords .axis-brush .background").last.bounding_box() == brush
    # Clear the brush (click the axis outside it), then tick the top two groups.
    page.mouse.click(x, brush["y"] + brush["height"] * 0.9)
    page.get_by_text("Showing 4 of 4 groups").wait_for(timeout=15_000)
    wait_settled(page)
    table = page.locator('.st-key-sweep-table [data-testid="stDataFrame"]')
    table.scroll_into_view_if_needed()
    box = table.bounding_box()
    for row in (1, 2):  # the row-selection checkboxes sit in the first column
        page.mouse.click(box["x"] + 12, box["y"] + ROW_HEIGHT * (row + 0.5))
        wait_settled(page)
    button = page.get_by_role("button", name=re.compile(r"Compare these \(2\)"))
    button.wait_for(timeout=15_000)
    button.click()

    page.get_by_role("heading", name="Compare").wait_for(timeout=60_000)
    wait_settled(page)
    url = page.evaluate("location.href").replace("%2C", ",").replace("%2F", "/")
    assert "groupby=config.lr,config.batch_size" in url
    assert url.count("cartpole/sweep/") == 6  # two groups of three seeds
    page.get_by_text(re.compile(r"config\.lr=0\.0005, config\.batch_size=128")).first.wait_for()
    assert page.locator(NO_EXCEPTION).count() == 0
    page.screenshot(path=str(artifacts_dir / "e2e_sweep_compare.png"), full_page=True)
