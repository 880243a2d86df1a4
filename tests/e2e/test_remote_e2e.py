"""The dashboard on an s3:// root in a real browser: a moto S3 server on 127.0.0.1 (in this
process), the real s3fs client in the Streamlit server, headless Chromium. The table, a run,
and a log rewritten in the bucket showing up through the poller."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from pages import wait_for_app
from s3fixtures import Bucket
from test_dashboard_e2e import NO_EXCEPTION, metric_value

POLL_INTERVAL = 1.0
HANG_GUARD_MS = 30_000
"""A hang guard, not a speed assertion (benchmarks/bench_remote.py measures the latency)."""


def test_a_bucket_root_shows_its_table_a_run_and_a_live_update(
    page: Any, s3: Bucket, runs_copy: Path, start_app: Any, artifacts_dir: Path
) -> None:
    s3.put_tree(runs_copy, "runs")
    rels = sorted(
        p.parent.relative_to(runs_copy).as_posix() for p in runs_copy.glob("*/*/*/metadata.json")
    )
    server = start_app(
        s3.url(),
        env=s3.env,
        app_args=("--poll-interval", str(POLL_INTERVAL)),
    )
    wait_for_app(page, server)
    page.get_by_text(f"Showing {len(rels)} of {len(rels)} runs").wait_for()
    page.get_by_text(s3.url(), exact=True).first.wait_for()
    assert page.locator(NO_EXCEPTION).count() == 0
    page.screenshot(path=str(artifacts_dir / "e2e_remote_table.png"))

    rel = rels[0]
    wait_for_app(page, server, f"?run={rel}")
    page.wait_for_selector('[data-testid="stMetric"]')
    before = int(metric_value(page, "Episodes").replace(",", ""))
    key = f"runs/{rel}/train_episodes.jsonl"
    line = {"total_reward": 321.0, "length": 50, "status": "Terminated", "extras": {}}
    started = time.monotonic()
    # A sync tool uploads the grown log as a new object.
    s3.put(key, s3.get(key) + (json.dumps(line, separators=(",", ":")) + "\n").encode() * 4)
    page.wait_for_function(
        """([expected]) => [...document.querySelectorAll('[data-testid="stMetric"]')]
             .some(m => m.innerText.startsWith('Episodes') &&
                        m.querySelector('[data-testid="stMetricValue"]').innerText
                          .replace(/,/g, '') === String(expected))""",
        arg=[before + 4],
        timeout=HANG_GUARD_MS,
        polling=100,
    )
    print(
        f"\nbucket update visible after {time.monotonic() - started:.2f} s "
        f"(poll interval {POLL_INTERVAL:g} s)"
    )
    assert page.locator(NO_EXCEPTION).count() == 0
    page.screenshot(path=str(artifacts_dir / "e2e_remote_run.png"))
