"""The dashboard in a real browser: the table, a run's charts, live updates, safe defaults.

Each test starts its own server on a temp copy of sample_runs/ (fixtures in conftest.py).
Latencies are printed for the log, never asserted (speed lives in benchmarks/: bench_live.py
measures append-to-visible); waits carry generous hang guards only.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from pages import wait_for_app

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
LIVE_HANG_GUARD_MS = 15_000
"""A hang guard, not a speed promise: an appended episode that is not on the page by then
never will be."""
NO_EXCEPTION = '[data-testid="stException"]'
ROW_HEIGHT = 35
"""Pixels per row of st.dataframe (header included), at the default row height."""


def first_run(root: Path) -> str:
    runs = sorted(p.parent for p in root.glob("*/*/*/metadata.json"))
    assert runs, f"no runs under {root}"
    return runs[0].relative_to(root).as_posix()


def metric_value(page: Any, label: str) -> str:
    metric = page.locator('[data-testid="stMetric"]').filter(
        has=page.locator('[data-testid="stMetricLabel"]', has_text=re.compile(f"^{label}$"))
    )
    return str(metric.locator('[data-testid="stMetricValue"]').inner_text()).strip()


def append_episodes(run_dir: Path, n: int, reward: float = 123.0) -> None:
    """Append `n` episodes the way the crate does: one write per line."""
    with open(run_dir / "train_episodes.jsonl", "a", encoding="utf-8") as log:
        for _ in range(n):
            line = {"total_reward": reward, "length": 50, "status": "Terminated", "extras": {}}
            log.write(json.dumps(line, separators=(",", ":")) + "\n")
            log.flush()


REWARD_POINTS_JS = """(() => {
    const plot = document.querySelector('.js-plotly-plot');
    const trace = plot && plot._fullData && plot._fullData[0];
    return trace && trace.x ? trace.x.length : -1;
})()"""
"""Points of the run view's first chart (training reward, raw) as plotly.js drew them."""


def reward_points(page: Any) -> int:
    page.wait_for_selector(".js-plotly-plot .scatterlayer path")
    return int(page.evaluate(REWARD_POINTS_JS))


def test_table_and_run_charts_render(
    page: Any, runs_copy: Path, start_app: Any, artifacts_dir: Path
) -> None:
    server = start_app(runs_copy)
    # Nothing the dashboard shows is fetched from anywhere but its own server (an icon from a
    # CDN would be a request to a third party from every user's browser, and fail offline).
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    wait_for_app(page, server)
    page.wait_for_selector('[data-testid="stDataFrame"] canvas')
    n_runs = len(list(runs_copy.glob("*/*/*/metadata.json")))
    caption = page.get_by_text(re.compile(r"Showing \d+ of \d+ runs"))
    assert f"Showing {n_runs} of {n_runs} runs" in caption.inner_text()
    assert page.locator(NO_EXCEPTION).count() == 0
    assert str(runs_copy.resolve()) in page.get_by_test_id("stSidebar").inner_text()
    # The run table loads no code highlighter: Streamlit fetches its 1.5 MB chunk for any
    # st.code on the page (the runs root in the sidebar was one), and evaluating it held the
    # browser's main thread for ~0.5 s before the table was drawn (benchmarks/README.md).
    assert [u for u in requested if "SyntaxHighlighter" in u] == []
    page.screenshot(path=str(artifacts_dir / "e2e_browser.png"))

    # The "Open" button of the table's first row (the grid is a canvas: click by position).
    grid = page.locator('[data-testid="stDataFrame"]').first.bounding_box()
    page.mouse.click(grid["x"] + 65, grid["y"] + ROW_HEIGHT * 1.5)
    rel = first_run(runs_copy)
    name, version, run_id = rel.split("/")
    page.get_by_role("heading", name=f"{name} / {version} · {run_id}").wait_for()
    assert f"run={rel}" in page.evaluate("location.href").replace("%2F", "/")

    page.set_viewport_size({"width": 1600, "height": 2600})
    started = time.monotonic()
    wait_for_app(page, server, f"?run={rel}")
    page.wait_for_selector(".js-plotly-plot .scatterlayer path", timeout=60_000)
    print(f"\nrun view with charts drawn in {time.monotonic() - started:.2f} s")
    assert page.locator(".js-plotly-plot").count() >= 4
    assert page.locator(NO_EXCEPTION).count() == 0
    page.screenshot(path=str(artifacts_dir / "e2e_run_view.png"))
    local = (server.url, "data:", "blob:", "ws://127.0.0.1")
    assert [u for u in requested if not u.startswith(local)] == []
    # The server (dashboard/app.py) listed the root before the first page asked for it.
    assert f"runlog: ready, {n_runs:,} runs listed under {runs_copy.resolve()}" in server.log_text()
    assert "warm-up failed" not in server.log_text()


def test_appended_episodes_show_up_live(
    page: Any, runs_copy: Path, start_app: Any, artifacts_dir: Path
) -> None:
    old = 1_700_000_000  # before the samples' last_updated: their files are not a fresh copy
    for path in runs_copy.rglob("*"):
        os.utime(path, (old, old), follow_symlinks=False)
    server = start_app(runs_copy)
    rel = first_run(runs_copy)
    run_dir = runs_copy / rel
    wait_for_app(page, server, f"?run={rel}")
    page.wait_for_selector('[data-testid="stMetric"]')
    assert metric_value(page, "State") == "finished"
    before = int(metric_value(page, "Episodes").replace(",", ""))

    points = reward_points(page)
    assert points == before  # a short run: every episode is a point of the reward chart
    latencies: list[float] = []
    read_at: list[str] = []
    for round_ in range(3):
        expected = before + 5 * (round_ + 1)
        started = time.monotonic()
        append_episodes(run_dir, 5)
        page.wait_for_function(
            """([expected]) => [...document.querySelectorAll('[data-testid="stMetric"]')]
                 .some(m => m.innerText.startsWith('Episodes') &&
                            m.querySelector('[data-testid="stMetricValue"]').innerText
                              .replace(/,/g, '') === String(expected))""",
            arg=[expected],
            timeout=LIVE_HANG_GUARD_MS,
            polling=50,
        )
        latencies.append(time.monotonic() - started)
        # The charts follow too: the reward chart gets the new episodes as points.
        page.wait_for_function(
            f"([n]) => ({REWARD_POINTS_JS}) === n",
            arg=[expected],
            timeout=LIVE_HANG_GUARD_MS,
            polling=100,
        )
        read_at.append(page.get_by_text(re.compile(r"^As read at ")).inner_text())
    print(f"\nappend-to-visible latency: {', '.join(f'{t:.2f} s' for t in latencies)}")
    assert page.locator(NO_EXCEPTION).count() == 0
    assert metric_value(page, "State") == "live"
    # Once the run is live, its charts rerun by themselves (a fragment): the rest of the page
    # (here metadata.json's "As read at" time) is not drawn again for new episodes.
    assert read_at[1] == read_at[2], read_at
    page.screenshot(path=str(artifacts_dir / "e2e_live_run.png"))


def test_a_new_run_appears_without_reload(page: Any, runs_copy: Path, start_app: Any) -> None:
    from runlog.format.records import EpisodeRecord
    from runlog.format.run import TrainingRun

    server = start_app(runs_copy)
    wait_for_app(page, server)
    n_runs = len(list(runs_copy.glob("*/*/*/metadata.json")))
    page.get_by_text(f"Showing {n_runs} of {n_runs} runs").wait_for()

    started = time.monotonic()
    run = TrainingRun.create("acrobot", "v1", runs_copy, run_id="20260401_000000")
    run.log_train_episode(EpisodeRecord(-500.0, 500, "Truncated"))
    page.get_by_text(f"Showing {n_runs + 1} of {n_runs + 1} runs").wait_for(timeout=15_000)
    print(f"\nnew run listed after {time.monotonic() - started:.2f} s")
    assert page.locator(NO_EXCEPTION).count() == 0


def test_outside_root_url_is_refused_in_the_page(
    page: Any, runs_copy: Path, start_app: Any
) -> None:
    server = start_app(runs_copy)
    wait_for_app(page, server, "?run=../../../etc")
    page.get_by_text("not a path inside the runs root").wait_for()
    assert page.locator(NO_EXCEPTION).count() == 0


def _listeners(port: int) -> list[str]:
    """Local addresses (hex, as in /proc/net/tcp*) listening on `port`."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if int(hex_port, 16) == port and fields[3] == "0A":  # 0A = LISTEN
                found.append(address)
    return found


def test_binds_loopback_only_from_another_directory(
    runs_copy: Path, start_app: Any, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    server = start_app(runs_copy, cwd=elsewhere)  # config.toml is found next to app.py
    listeners = _listeners(server.port)
    assert listeners, f"nothing listens on {server.port}"
    assert set(listeners) == {"0100007F"}, f"listening on {listeners}, want 127.0.0.1 only"
    assert "Network URL" not in server.log_text()


def test_script_level_config_turns_usage_statistics_off(tmp_path: Path) -> None:
    """dashboard/.streamlit/config.toml applies whatever the working directory."""
    probe = (
        "from streamlit import config\n"
        f"config._main_script_path = {str(APP)!r}\n"
        "config.get_config_options(force_reparse=True)\n"
        "print(config.get_option('browser.gatherUsageStats'), "
        "config.get_option('server.address'))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")}
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert out.stdout.split() == ["False", "127.0.0.1"]


@pytest.mark.parametrize("query", ["?compare=cartpole/v1", "?view=prune&scope="])
def test_other_views_route_without_exceptions(
    page: Any, runs_copy: Path, start_app: Any, query: str
) -> None:
    server = start_app(runs_copy, extra_args=("--read-only",))
    wait_for_app(page, server, query)
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"stMainBlockContainer\"]')"
        ".innerText.trim().length > 0"
    )
    errors = [e.inner_text() for e in page.locator(NO_EXCEPTION).all()]
    assert not errors, errors[0]


# Every element of a headline card holding its label, value or delta text that is cut
# (content wider than its box: scrollWidth > clientWidth, or an ellipsis set to cut it) or
# wrapped onto a second line (taller than 1.5 lines: the page's CSS wraps what does not fit).
_CUT_CARD_TEXT = """() => {
  const cut = [];
  for (const card of document.querySelectorAll('[data-testid="stMetric"]')) {
    const label = card.querySelector('[data-testid="stMetricLabel"]').innerText;
    for (const part of ['stMetricLabel', 'stMetricValue', 'stMetricDelta']) {
      const top = card.querySelector(`[data-testid="${part}"]`);
      if (!top) continue;
      for (const el of [top, ...top.querySelectorAll('*')]) {
        if (el.closest('[data-testid="stTooltipIcon"], svg')) continue;
        const style = getComputedStyle(el);
        const ellipsis = style.textOverflow === 'ellipsis';
        const line = parseFloat(style.lineHeight) || 1.2 * parseFloat(style.fontSize);
        const text = el.children.length === 0 && el.innerText.trim() !== '';
        const wrapped = text && el.getBoundingClientRect().height > 1.5 * line;
        if (el.scrollWidth > el.clientWidth || ellipsis || wrapped) {
          cut.push({card: label, part, tag: el.tagName, text: el.innerText, wrapped, ellipsis,
                    scrollWidth: el.scrollWidth, clientWidth: el.clientWidth});
        }
      }
    }
  }
  return cut;
}"""


@pytest.mark.parametrize("width", [1280, 1400])
def test_headline_cards_show_every_value_and_label_whole(
    page: Any, runs_copy: Path, start_app: Any, artifacts_dir: Path, width: int
) -> None:
    now = time.time()  # right after a clone: every file time is the checkout's
    for path in runs_copy.rglob("*"):
        os.utime(path, (now, now), follow_symlinks=False)
    server = start_app(runs_copy)
    page.set_viewport_size({"width": width, "height": 900})
    # The widest figures of the samples: a negative and a tiny last reward, the most episodes.
    for rel in (
        "lunarlander/v1/20260327_091542",
        "lunarlander/v1/20260327_092011",
        "lunarlander/v2/20260329_013301",
    ):
        wait_for_app(page, server, f"?run={rel}")
        page.wait_for_selector('[data-testid="stMetric"]')
        page.wait_for_function(
            "() => document.querySelectorAll('[data-testid=\"stMetricValue\"]').length >= 7"
        )
        labels = page.locator('[data-testid="stMetricLabel"]').all_inner_texts()
        values = page.locator('[data-testid="stMetricValue"]').all_inner_texts()
        print(f"\n{width} px {rel}: {dict(zip(labels, values, strict=True))}")
        assert metric_value(page, "State") == "finished"  # not "stalled" for ten minutes
        cut = page.evaluate(_CUT_CARD_TEXT)
        page.screenshot(path=str(artifacts_dir / f"e2e_headline_{width}_{rel.split('/')[-1]}.png"))
        assert cut == [], cut
        assert page.locator(NO_EXCEPTION).count() == 0


def test_the_tables_number_format_is_the_cards_rule_in_the_browser(page: Any) -> None:
    """The run table's float columns use TABLE_FLOAT_FORMAT ("%,.4g"), which Streamlit's
    sprintf writes as String(Number(x.toPrecision(4))) with "," inserted in the whole part:
    chromium's own rounding of that must give format_number's text for every float."""
    import numpy as np

    from dashboard.text import format_number

    rng = np.random.default_rng(7)
    values = [
        *(
            float(m * 10.0**e)
            for m, e in zip(rng.uniform(-10, 10, 2000), rng.integers(-9, 23, 2000), strict=True)
        ),
        *(0.020972, 76.4512, -181.63, 1234.5, -1234.5, 12345.6, 9.99996e-7, 1e-6, 1.5e21, 0.5),
        *(float(n) + 0.5 for n in range(0, 20000, 997)),  # ties, rounded away from zero
    ]
    shown = page.evaluate(
        """(values) => values.map((x) => {
             const text = String(Number(Math.abs(x).toPrecision(4)));
             const [whole, fraction] = text.split('.');
             const grouped = whole.replace(/\\B(?=(\\d{3})+(?!\\d))/g, ',');
             return (x < 0 ? '-' : '') + grouped + (fraction === undefined ? '' : '.' + fraction);
           })""",
        values,
    )
    mismatches = [
        (v, js, format_number(v))
        for v, js in zip(values, shown, strict=True)
        if js != format_number(v)
    ]
    assert mismatches == []
