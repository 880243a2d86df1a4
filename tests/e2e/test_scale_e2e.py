"""A cold root in a real browser: the table at once, its figures filled in under a progress bar
as the background reader gets to each run, then every run opens with its figures.

The root is sized from how fast this machine parses (a few seconds of reading), so the bar is
on screen for a while wherever the test runs; nothing here asserts a time.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from typing import Any

from dashboard.text import format_number
from runlog.format.records import (
    EpisodeRecord,
    RunMetadata,
    encode_episode_line,
    encode_metadata,
)
from runlog.read.episodes import EpisodeLog

RUNS = 4
READ_SECONDS = 6.0
"""Seconds of reading the root should take here: long enough to be seen mid-way."""
NO_EXCEPTION = '[data-testid="stException"]'


def _block() -> bytes:
    return "".join(
        encode_episode_line(
            EpisodeRecord(float(i % 300), 10 + i % 90, "Terminated", {"epsilon": 1 / (1 + i)})
        )
        for i in range(2000)
    ).encode()


def _parse_rate(tmp: Path, block: bytes) -> float:
    """Bytes per second this machine reads episode logs at (summary mode)."""
    probe = tmp / "probe.jsonl"
    probe.write_bytes(block * max(1, (16 << 20) // len(block)))
    started = time.perf_counter()
    EpisodeLog(probe, columns=False).refresh()
    rate = probe.stat().st_size / max(time.perf_counter() - started, 1e-3)
    probe.unlink()
    return rate


def make_cold_root(tmp: Path) -> tuple[Path, int]:
    block = _block()
    per_run = int(min(max(_parse_rate(tmp, block) * READ_SECONDS / RUNS, 16 << 20), 400 << 20))
    copies = max(1, per_run // len(block))
    root = tmp / "runs"
    template = tmp / "template.jsonl"
    with template.open("wb") as fh:
        for _ in range(copies):
            fh.write(block)
    for k in range(RUNS):
        run = root / "atari" / "v1" / f"2026010{k}_000000"
        run.mkdir(parents=True)
        shutil.copyfile(template, run / "train_episodes.jsonl")
        meta = RunMetadata("atari", "v1", run.name, 1, 0, "2026-01-01T00:00:00+00:00", "x")
        (run / "metadata.json").write_text(encode_metadata(meta))
    template.unlink()
    return root, copies * 2000


def test_a_cold_root_fills_in_under_a_progress_bar(
    browser: Any, tmp_path: Path, start_app: Any
) -> None:
    root, episodes = make_cold_root(tmp_path)
    server = start_app(root)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(120_000)
    try:
        page = context.new_page()
        page.goto(server.url)
        page.get_by_text(f"Showing {RUNS} of {RUNS} runs").first.wait_for()
        bar = page.locator('[data-testid="stProgress"]')
        bar.wait_for()  # the table is there before its figures
        label = page.get_by_text(re.compile(r"indexed \d+ of 4 runs")).first.inner_text()
        done, total = map(int, re.search(r"indexed (\d+) of (\d+) runs", label).groups())
        assert total == RUNS and done < RUNS
        bar.wait_for(state="detached")  # every log read: the bar goes, no reload needed
        assert page.locator(NO_EXCEPTION).count() == 0
        rel = "atari/v1/20260103_000000"
        page.goto(f"{server.url}?run={rel}")
        metric = page.locator('[data-testid="stMetric"]').filter(has_text="Episodes").first
        metric.wait_for()
        shown = metric.locator('[data-testid="stMetricValue"]').inner_text().strip()
        assert shown == format_number(episodes)  # every episode of the log, counted
        page.locator('[data-testid="stPlotlyChart"]').first.wait_for()
        assert page.locator(NO_EXCEPTION).count() == 0
    finally:
        context.close()
